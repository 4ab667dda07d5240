//! Auto Scaling: take a quarantined instance out of its group without shrinking the group.

use aws_sdk_autoscaling::Client;

use super::{AwsError, Done, request_id, sdk};

/// Detaches the instance and keeps desired capacity, so the group starts a replacement and
/// never terminates the evidence. An instance already out of the group counts as done.
pub async fn detach(autoscaling: &Client, instance_id: &str, group: &str) -> Result<Done, AwsError> {
    let result = autoscaling
        .detach_instances()
        .auto_scaling_group_name(group)
        .instance_ids(instance_id)
        .should_decrement_desired_capacity(false)
        .send()
        .await;
    let err = match result {
        Ok(output) => {
            return Ok(Done::new(
                [request_id(&output)],
                serde_json::json!({"group": group, "should_decrement_desired_capacity": false}),
            ));
        }
        Err(err) => sdk("DetachInstances")(err),
    };
    // AWS answers a plain ValidationError when the instance is no longer in the group; its
    // model has no error type for it, so ask the group instead of reading the message.
    if err.code != "ValidationError" {
        return Err(err);
    }
    let membership = autoscaling
        .describe_auto_scaling_instances()
        .instance_ids(instance_id)
        .send()
        .await
        .map_err(sdk("DescribeAutoScalingInstances"))?;
    let still_member = membership
        .auto_scaling_instances()
        .iter()
        .any(|i| i.auto_scaling_group_name() == Some(group));
    if still_member {
        return Err(err);
    }
    Ok(Done::new(
        [request_id(&membership)],
        serde_json::json!({"group": group, "already_detached": true}),
    ))
}
