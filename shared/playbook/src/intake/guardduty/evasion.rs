//! GuardDuty's defense-evasion findings: the trail a call stopped, when, and who made the call.

use std::collections::BTreeMap;

use serde_json::Value;

use super::lenient_text;
use crate::incident::evasion::{Actor, Evasion, Stopped};
use crate::incident::{Resource, UserType};

/// The finding types whose call stopped a trail.
const TRAIL_STOPPED: &[&str] = &["Stealth:IAMUser/CloudTrailLoggingDisabled"];

/// The trail a `Stealth:IAMUser/CloudTrailLoggingDisabled` finding names
/// (`service.action.awsApiCallAction.affectedResources["AWS::CloudTrail::Trail"]`), with the
/// call, its first sighting and the caller; `None` for other findings, and for one that names
/// no trail (its actor is then contained as any key finding's is).
pub(super) fn resource(
    finding: &Value,
    value: &Value,
    finding_type: &str,
) -> Option<(Resource, BTreeMap<String, String>)> {
    if !TRAIL_STOPPED.contains(&finding_type) {
        return None;
    }
    let call = super::super::fields::at(finding, "service.action.awsApiCallAction")?;
    let trail = call
        .get("affectedResources")
        .and_then(|r| r.get("AWS::CloudTrail::Trail"))
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|t| !t.is_empty())?;
    let api = lenient_text(call, "api");
    let service = lenient_text(call, "serviceName");
    let actor = value.get("accessKeyDetails").filter(|d| d.is_object()).map(|d| Actor {
        access_key_id: lenient_text(d, "accessKeyId"),
        principal_id: lenient_text(d, "principalId"),
        user_name: lenient_text(d, "userName"),
        user_type: lenient_text(d, "userType").map(|t| UserType::parse(&t)),
    });
    let evasion = Evasion {
        stopped: Stopped::Trail {
            trail: trail.to_owned(),
        },
        call: api.map(|api| match service {
            Some(service) => format!("{service}:{api}"),
            None => api,
        }),
        stopped_at: lenient_text(finding, "service.eventFirstSeen"),
        actor,
    };
    let mut details = BTreeMap::new();
    details.insert("trail".to_owned(), trail.to_owned());
    if let Some(call) = &evasion.call {
        details.insert("stopping call".to_owned(), call.clone());
    }
    Some((Resource::Logging(Box::new(evasion)), details))
}

#[cfg(test)]
mod tests {
    use crate::incident::Resource;
    use crate::incident::evasion::Stopped;

    const SAMPLE: &str = include_str!("../../../../../events/guardduty/cloudtrail-logging-disabled.json");

    #[test]
    fn the_trail_the_call_and_the_caller_are_read() {
        let event: serde_json::Value = serde_json::from_str(SAMPLE).unwrap();
        let incident = crate::intake::parse(&event).unwrap().incident().unwrap();
        let Resource::Logging(evasion) = &incident.resource else {
            panic!("{:?}", incident.resource)
        };
        assert_eq!(
            evasion.stopped,
            Stopped::Trail {
                trail: "arn:aws:cloudtrail:us-east-1:123456789012:trail/management-events".into()
            }
        );
        assert_eq!(evasion.call.as_deref(), Some("cloudtrail.amazonaws.com:StopLogging"));
        assert_eq!(evasion.stopped_at.as_deref(), Some("2024-06-11T03:14:55.000Z"));
        let actor = evasion.actor.as_ref().unwrap();
        assert_eq!(actor.user_name.as_deref(), Some("ci-deployer"));
        assert_eq!(actor.access_key_id.as_deref(), Some("AKIAIOSFODNN7EXAMPLE"));
        assert_eq!(
            incident.details["trail"],
            "arn:aws:cloudtrail:us-east-1:123456789012:trail/management-events"
        );
    }

    #[test]
    fn a_finding_naming_no_trail_is_a_key_finding() {
        let mut event: serde_json::Value = serde_json::from_str(SAMPLE).unwrap();
        for trail in [serde_json::Value::Null, 7.into(), "".into()] {
            event["detail"]["service"]["action"]["awsApiCallAction"]["affectedResources"]["AWS::CloudTrail::Trail"] =
                trail.clone();
            let incident = crate::intake::parse(&event).unwrap().incident().unwrap();
            assert!(
                matches!(incident.resource, Resource::AccessKey { .. }),
                "{trail}: {:?}",
                incident.resource
            );
        }
    }
}
