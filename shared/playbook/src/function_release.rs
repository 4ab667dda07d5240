//! Release of a throttled Lambda function, invoked by hand: the request, its incident, and drift.

use serde_json::Value;

use crate::error::Error;
use crate::intake::IntakeError;
use crate::ledger::Stored;
use crate::observation::{FunctionState, Observation};
use crate::policy::Playbook;

/// `{"function_name": "...", "incident_id": "...", "force": true}`: the incident is required
/// (a function carries no incident tag), `force` releases a function that changed since.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FunctionReleaseRequest {
    pub function_name: String,
    pub incident_id: String,
    pub force: bool,
}

impl FunctionReleaseRequest {
    /// Reads a function release request; a malformed one names the field.
    pub fn parse(request: &Value) -> Result<Self, IntakeError> {
        let text = |key: &str| match request.get(key) {
            None | Some(Value::Null) => Err(IntakeError::Missing { path: key.to_owned() }),
            Some(Value::String(s)) if !s.trim().is_empty() => Ok(s.trim().to_owned()),
            Some(_) => Err(IntakeError::Invalid {
                path: key.to_owned(),
                reason: "expected a non-empty string".to_owned(),
            }),
        };
        let function_name = text("function_name")?;
        // A name (1 to 64 characters, letters, digits, - and _) or an ARN: Lambda takes both.
        let valid = |c: char| c.is_ascii_alphanumeric() || "-_:.$".contains(c);
        if function_name.len() > 170 || !function_name.chars().all(valid) {
            return Err(IntakeError::Invalid {
                path: "function_name".to_owned(),
                reason: format!("{function_name:?} is not a function name"),
            });
        }
        let force = match request.get("force") {
            None | Some(Value::Null) => false,
            Some(Value::Bool(force)) => *force,
            Some(_) => {
                return Err(IntakeError::Invalid {
                    path: "force".to_owned(),
                    reason: "expected true or false".to_owned(),
                });
            }
        };
        Ok(FunctionReleaseRequest {
            function_name,
            incident_id: text("incident_id")?,
            force,
        })
    }

    /// The refusal of this request, for `reason`.
    #[must_use]
    pub fn refuse(&self, reason: &str) -> Error {
        Error::NotQuarantined {
            instance_id: format!("function {}", self.function_name),
            reason: reason.to_owned(),
        }
    }
}

/// The incident's record and the function as it was before the throttle, if the incident
/// throttled exactly this function.
pub fn throttled(stored: Option<Stored>, request: &FunctionReleaseRequest) -> Result<(Stored, FunctionState), Error> {
    let incident_id = &request.incident_id;
    let stored = stored
        .ok_or_else(|| request.refuse(&format!("incident {incident_id} has no record in the evidence bucket")))?;
    let Observation::Function(before) = &stored.plan.observation else {
        return Err(request.refuse(&format!("incident {incident_id} recorded no function")));
    };
    let named = before.name == request.function_name || before.arn.as_deref() == Some(request.function_name.as_str());
    if stored.plan.playbook != Playbook::LambdaCompromise || !named {
        return Err(request.refuse(&format!(
            "incident {incident_id} did not throttle {}",
            request.function_name
        )));
    }
    let before = (**before).clone();
    Ok((stored, before))
}

/// What changed on a throttled function since the throttle left it, as found `now`: its
/// reserved concurrency is no longer 0, or its code changed. Empty when nothing did.
#[must_use]
pub fn drift(before: &FunctionState, now: &Observation) -> Vec<String> {
    let now = match now {
        Observation::Function(now) => now,
        Observation::Unavailable { code, message } => {
            return vec![format!("the function could not be described ({code}: {message})")];
        }
        _ => return vec!["the function was not described".to_owned()],
    };
    let mut changes = Vec::new();
    if now.reserved_concurrency != Some(0) {
        changes.push(match now.reserved_concurrency {
            Some(n) => format!("its reserved concurrency is {n}, not 0"),
            None => "its reserved concurrency was removed".to_owned(),
        });
    }
    if now.code_sha256 != before.code_sha256 {
        changes.push(format!(
            "its code changed (SHA-256 {} then, {} now)",
            before.code_sha256.as_deref().unwrap_or("?"),
            now.code_sha256.as_deref().unwrap_or("?")
        ));
    }
    changes
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn function_release_requests() {
        assert_eq!(
            FunctionReleaseRequest::parse(&json!({"function_name": "resizer", "incident_id": "guardduty-1"})),
            Ok(FunctionReleaseRequest {
                function_name: "resizer".into(),
                incident_id: "guardduty-1".into(),
                force: false
            })
        );
        for (bad, field) in [
            (json!({"function_name": "resizer"}), "incident_id"),
            (json!({"function_name": 3, "incident_id": "g"}), "function_name"),
            (json!({"function_name": "a b", "incident_id": "g"}), "function_name"),
            (
                json!({"function_name": "resizer", "incident_id": "g", "force": "yes"}),
                "force",
            ),
        ] {
            let err = FunctionReleaseRequest::parse(&bad).unwrap_err().to_string();
            assert!(err.contains(field), "{bad}: {err}");
        }
    }

    #[test]
    fn drift_names_a_lifted_throttle_and_new_code() {
        let before = FunctionState {
            name: "resizer".into(),
            code_sha256: Some("old".into()),
            ..FunctionState::default()
        };
        let throttled = FunctionState {
            reserved_concurrency: Some(0),
            ..before.clone()
        };
        let now = |state: &FunctionState| Observation::Function(Box::new(state.clone()));
        assert!(drift(&before, &now(&throttled)).is_empty());
        let changed = FunctionState {
            reserved_concurrency: None,
            code_sha256: Some("new".into()),
            ..before.clone()
        };
        assert_eq!(
            drift(&before, &now(&changed)),
            [
                "its reserved concurrency was removed",
                "its code changed (SHA-256 old then, new now)"
            ]
        );
    }
}
