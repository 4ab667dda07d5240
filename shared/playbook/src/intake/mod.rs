//! Intake: turns a raw event into an `Incident`, tolerant of real-world variation, never panicking.

mod fields;
mod guardduty;

use serde_json::Value;
use thiserror::Error;

use crate::incident::Incident;

/// Why an event could not become an incident. Each names the field at fault.
#[derive(Debug, Error, PartialEq)]
pub enum IntakeError {
    #[error("event is not a JSON object (found {found})")]
    NotAnObject { found: &'static str },
    #[error("missing field `{path}`")]
    Missing { path: String },
    #[error("field `{path}` should be {expected}, found {found}")]
    WrongType {
        path: String,
        expected: &'static str,
        found: &'static str,
    },
    #[error("field `{path}` has an invalid value: {reason}")]
    Invalid { path: String, reason: String },
    #[error("unsupported event source `{event_source}` (detail-type `{detail_type}`)")]
    UnsupportedSource { event_source: String, detail_type: String },
}

/// Parses any event Tourniquet understands.
///
/// Accepted: a GuardDuty finding in its EventBridge envelope, or the bare finding (its `detail`
/// alone, as used in manual drills).
pub fn parse(event: &Value) -> Result<Incident, IntakeError> {
    let Some(root) = event.as_object() else {
        return Err(IntakeError::NotAnObject {
            found: fields::type_name(event),
        });
    };
    if root.contains_key("detail-type") || root.contains_key("source") {
        let source = fields::text(event, "source")?.unwrap_or_default();
        let detail_type = fields::text(event, "detail-type")?.unwrap_or_default();
        return match source.as_str() {
            "aws.guardduty" => guardduty::from_envelope(event),
            _ => Err(IntakeError::UnsupportedSource {
                event_source: source,
                detail_type,
            }),
        };
    }
    if root.contains_key("detail") {
        return guardduty::from_envelope(event);
    }
    if root.contains_key("type") || root.contains_key("resource") || root.contains_key("schemaVersion") {
        return guardduty::from_finding(event);
    }
    Err(IntakeError::Missing {
        path: "detail".to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn rejects_non_objects() {
        for (event, found) in [
            (json!([]), "an array"),
            (json!("x"), "a string"),
            (json!(null), "null"),
            (json!(1), "a number"),
        ] {
            assert_eq!(parse(&event), Err(IntakeError::NotAnObject { found }));
        }
    }

    #[test]
    fn names_missing_detail() {
        let err = parse(&json!({"version": "0"})).unwrap_err();
        assert_eq!(err.to_string(), "missing field `detail`");
        let err = parse(&json!({"source": "aws.guardduty", "detail-type": "GuardDuty Finding"})).unwrap_err();
        assert_eq!(err.to_string(), "missing field `detail`");
    }

    #[test]
    fn refuses_other_sources() {
        let err =
            parse(&json!({"source": "aws.ec2", "detail-type": "EC2 Instance State-change Notification", "detail": {}}))
                .unwrap_err();
        assert!(matches!(err, IntakeError::UnsupportedSource { .. }), "{err}");
    }
}
