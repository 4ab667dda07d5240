//! AWS Config recorders: each recorder of a region and its status read, a stopped one started again.

use aws_sdk_config::Client;

use super::{AwsError, Done, cloudtrail::rfc3339, request_id, sdk};
use crate::observation::Observation;
use crate::observation::logging::{LoggingState, RecorderState, Unrecorded};

/// The region's recorders as they are now (none: deleted or never made); `Unavailable` when
/// they could not be read (a retry looks again).
pub async fn observe(client: &Client) -> Result<LoggingState, Observation> {
    let (recorders, statuses) = tokio::join!(
        client.describe_configuration_recorders().send(),
        client.describe_configuration_recorder_status().send(),
    );
    let recorders = recorders
        .map_err(sdk("DescribeConfigurationRecorders"))
        .map_err(|e| e.unavailable())?;
    let statuses = statuses
        .map_err(sdk("DescribeConfigurationRecorderStatus"))
        .map_err(|e| e.unavailable())?;
    let states = recorders
        .configuration_recorders()
        .iter()
        .map(|recorder| {
            let name = recorder.name().unwrap_or_default().to_owned();
            let status = statuses
                .configuration_recorders_status()
                .iter()
                .find(|s| s.name() == Some(name.as_str()));
            RecorderState {
                recording: status.map(aws_sdk_config::types::ConfigurationRecorderStatus::recording),
                stopped_at: status.and_then(|s| s.last_stop_time()).and_then(rfc3339),
                started_at: status.and_then(|s| s.last_start_time()).and_then(rfc3339),
                role_arn: recorder.role_arn().map(ToOwned::to_owned),
                recording_group: recorder.recording_group().map(|g| {
                    serde_json::json!({
                        "allSupported": g.all_supported(),
                        "includeGlobalResourceTypes": g.include_global_resource_types(),
                        "resourceTypes": g.resource_types().iter().map(aws_sdk_config::types::ResourceType::as_str).collect::<Vec<_>>(),
                    })
                }),
                name,
            }
        })
        .collect();
    Ok(LoggingState::Recorders { recorders: states })
}

/// `StartConfigurationRecorder`; the window it closes is recorded with the restart's time.
pub async fn start(client: &Client, name: &str, unrecorded: &Unrecorded) -> Result<Done, AwsError> {
    let output = client
        .start_configuration_recorder()
        .configuration_recorder_name(name)
        .send()
        .await
        .map_err(sdk("StartConfigurationRecorder"))?;
    let restarted =
        rfc3339(&aws_sdk_config::primitives::DateTime::from(std::time::SystemTime::now())).unwrap_or_default();
    let closed = Unrecorded {
        until: Some(restarted.clone()),
        ..unrecorded.clone()
    };
    Ok(Done::new(
        [request_id(&output)],
        serde_json::json!({
            "recorder": name,
            "recording": true,
            "restarted_at": restarted,
            "unrecorded": closed,
            "regions": closed.regions(),
        }),
    ))
}
