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
    match result {
        Ok(output) => Ok(Done {
            request_ids: request_id(&output).into_iter().collect(),
            detail: serde_json::json!({"group": group, "should_decrement_desired_capacity": false}),
        }),
        Err(err) => {
            let err = sdk("DetachInstances")(err);
            // AWS answers ValidationError when the instance is no longer in the group.
            if err.code == "ValidationError" && err.message.contains("not part of Auto Scaling group") {
                Ok(Done {
                    request_ids: err.request_id.into_iter().collect(),
                    detail: serde_json::json!({"group": group, "already_detached": true}),
                })
            } else {
                Err(err)
            }
        }
    }
}
