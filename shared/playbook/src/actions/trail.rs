//! CloudTrail trails: a trail's status, settings and event selectors read, and its logging started again.

use aws_sdk_cloudtrail::Client;

use super::{AwsError, Done, cloudtrail::rfc3339, request_id, sdk};
use crate::observation::Observation;
use crate::observation::logging::{LoggingState, TrailState};

/// The trail named `trail` (name or ARN) as it is now: missing when CloudTrail no longer
/// knows it; `Unavailable` when it could not be read (a retry looks again).
pub async fn observe(client: &Client, trail: &str) -> Result<LoggingState, Observation> {
    let mut state = TrailState {
        trail: trail.to_owned(),
        ..TrailState::default()
    };
    let (found, status, selectors) = tokio::join!(
        client.get_trail().name(trail).send(),
        client.get_trail_status().name(trail).send(),
        client.get_event_selectors().trail_name(trail).send(),
    );
    match found.map_err(sdk("GetTrail")) {
        Ok(output) => {
            if let Some(found) = output.trail() {
                state.arn = found.trail_arn().map(ToOwned::to_owned);
                state.name = found.name().map(ToOwned::to_owned);
                state.home_region = found.home_region().map(ToOwned::to_owned);
                state.multi_region = found.is_multi_region_trail();
                state.include_global_service_events = found.include_global_service_events();
                state.log_file_validation = found.log_file_validation_enabled();
                state.s3_bucket = found.s3_bucket_name().map(ToOwned::to_owned);
                state.s3_key_prefix = found.s3_key_prefix().map(ToOwned::to_owned);
                state.kms_key_id = found.kms_key_id().map(ToOwned::to_owned);
            } else {
                state.missing = true;
            }
        }
        Err(err) if is_missing(&err) => state.missing = true,
        Err(err) => return Err(err.unavailable()),
    }
    if state.missing {
        return Ok(LoggingState::Trail(Box::new(state)));
    }
    match status.map_err(sdk("GetTrailStatus")) {
        Ok(output) => {
            state.logging = output.is_logging();
            state.stopped_at = output.stop_logging_time().and_then(rfc3339);
            state.started_at = output.start_logging_time().and_then(rfc3339);
        }
        // Whether it logs decides the restart: not knowing is a reason to look again.
        Err(err) => return Err(err.unavailable()),
    }
    match selectors.map_err(sdk("GetEventSelectors")) {
        Ok(output) => {
            let basic: Vec<serde_json::Value> = output
                .event_selectors()
                .iter()
                .map(|s| {
                    serde_json::json!({
                        "ReadWriteType": s.read_write_type().map(|t| t.as_str().to_owned()),
                        "IncludeManagementEvents": s.include_management_events(),
                        "ExcludeManagementEventSources": s.exclude_management_event_sources(),
                        "DataResources": s.data_resources().iter().map(|d| serde_json::json!({
                            "Type": d.r#type(), "Values": d.values()})).collect::<Vec<_>>(),
                    })
                })
                .collect();
            let advanced: Vec<serde_json::Value> = output
                .advanced_event_selectors()
                .iter()
                .map(|s| {
                    serde_json::json!({
                        "Name": s.name(),
                        "FieldSelectors": s.field_selectors().iter().map(|f| serde_json::json!({
                            "Field": f.field(), "Equals": f.equals(), "NotEquals": f.not_equals(),
                            "StartsWith": f.starts_with(), "NotStartsWith": f.not_starts_with(),
                            "EndsWith": f.ends_with(), "NotEndsWith": f.not_ends_with()})).collect::<Vec<_>>(),
                    })
                })
                .collect();
            state.event_selectors =
                Some(serde_json::json!({"EventSelectors": basic, "AdvancedEventSelectors": advanced}));
        }
        Err(err) => state.notes.push(err.to_string()),
    }
    Ok(LoggingState::Trail(Box::new(state)))
}

/// Every trail whose home is the client's region, each as [`observe`] reads it.
pub async fn observe_all(client: &Client) -> Result<LoggingState, Observation> {
    let listed = client
        .describe_trails()
        .include_shadow_trails(false)
        .send()
        .await
        .map_err(sdk("DescribeTrails"))
        .map_err(|e| e.unavailable())?;
    let mut trails = Vec::new();
    for found in listed.trail_list() {
        let Some(arn) = found.trail_arn().or(found.name()) else {
            continue;
        };
        if let LoggingState::Trail(trail) = observe(client, arn).await? {
            trails.push(*trail);
        }
    }
    Ok(LoggingState::Trails { trails })
}

fn is_missing(err: &AwsError) -> bool {
    err.code == "TrailNotFoundException"
}

/// `StartLogging` on the trail; the window it closes is recorded with the restart's time.
pub async fn start_logging(
    client: &Client,
    trail: &str,
    unrecorded: &crate::observation::logging::Unrecorded,
) -> Result<Done, AwsError> {
    let output = client
        .start_logging()
        .name(trail)
        .send()
        .await
        .map_err(sdk("StartLogging"))?;
    let restarted = rfc3339(&aws_sdk_cloudtrail::primitives::DateTime::from(
        std::time::SystemTime::now(),
    ))
    .unwrap_or_default();
    let closed = crate::observation::logging::Unrecorded {
        until: Some(restarted.clone()),
        ..unrecorded.clone()
    };
    Ok(Done::new(
        [request_id(&output)],
        serde_json::json!({
            "trail": trail,
            "logging": true,
            "restarted_at": restarted,
            "unrecorded": closed,
            "regions": closed.regions(),
        }),
    ))
}
