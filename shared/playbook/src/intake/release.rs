//! A release request, invoked by hand: what to release (an instance, user, role or function), where, and how; a malformed one names the field.

use serde_json::Value;

use super::IntakeError;

/// What a release undoes: an instance's quarantine, or the deny policies (and, if asked,
/// the deactivated keys) of a user or role.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Subject {
    Instance(String),
    User(String),
    Role(String),
    /// A Lambda function, by name or ARN.
    Function(String),
}

impl Subject {
    /// `i-0abc`, `user alice`, `role web`: for refusals and logs.
    #[must_use]
    pub fn label(&self) -> String {
        match self {
            Subject::Instance(id) => id.clone(),
            Subject::User(name) => format!("user {name}"),
            Subject::Role(name) => format!("role {name}"),
            Subject::Function(name) => format!("function {name}"),
        }
    }
}

/// `{"instance_id": "i-..."}`, `{"user_name": "..."}`, `{"role_name": "..."}` or
/// `{"function_name": "..."}`, with `"incident_id"`, `"account"`, `"region"` and
/// `"force": true` optional, and for a user `"reactivate_keys": true`. Only an instance
/// carries a quarantine tag, so any other release names the incident (its page gives the
/// request). `force` releases what changed since its
/// containment (recorded).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReleaseRequest {
    pub subject: Subject,
    pub incident_id: Option<String>,
    pub account: Option<String>,
    pub region: Option<String>,
    pub force: bool,
    /// Set the keys the incident deactivated Active again (users only; AWS advises against it).
    pub reactivate_keys: bool,
}

impl ReleaseRequest {
    /// Reads a release request; a malformed one names the field.
    pub fn parse(request: &Value) -> Result<Self, IntakeError> {
        let invalid = |path: &str, reason: String| IntakeError::Invalid {
            path: path.to_owned(),
            reason,
        };
        let text = |key: &str| match request.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) if !s.trim().is_empty() => Ok(Some(s.trim().to_owned())),
            Some(_) => Err(invalid(key, "expected a non-empty string".to_owned())),
        };
        let flag = |key: &str| match request.get(key) {
            None | Some(Value::Null) => Ok(false),
            Some(Value::Bool(set)) => Ok(*set),
            Some(_) => Err(invalid(key, "expected true or false".to_owned())),
        };
        if !request.is_object() {
            return Err(invalid(
                "",
                "a release request is an object: {\"instance_id\": \"i-...\"}, {\"user_name\": ...} or \
                 {\"role_name\": ...}"
                    .to_owned(),
            ));
        }
        let named = [
            ("instance_id", text("instance_id")?),
            ("user_name", text("user_name")?),
            ("role_name", text("role_name")?),
            ("function_name", text("function_name")?),
        ];
        let mut given = named.into_iter().filter_map(|(key, value)| Some((key, value?)));
        let subject = match (given.next(), given.next()) {
            (None, _) => {
                return Err(IntakeError::Missing {
                    path: "instance_id".to_owned(),
                });
            }
            (Some((key, _)), Some(_)) => {
                return Err(invalid(
                    key,
                    "name one of instance_id, user_name, role_name and function_name".to_owned(),
                ));
            }
            (Some(("instance_id", id)), None) => {
                if !id.starts_with("i-") || !id[2..].bytes().all(|b| b.is_ascii_alphanumeric()) {
                    return Err(invalid("instance_id", format!("{id:?} is not an instance id")));
                }
                Subject::Instance(id)
            }
            (Some(("user_name", name)), None) => Subject::User(checked_name("user_name", name, 128, "_+=,.@-")?),
            (Some(("role_name", name)), None) => Subject::Role(checked_name("role_name", name, 128, "_+=,.@-")?),
            // A name (letters, digits, - and _) or an ARN: Lambda takes both.
            (Some((_, name)), None) => Subject::Function(checked_name("function_name", name, 170, "-_:.$")?),
        };
        let account = text("account")?;
        if let Some(account) = &account
            && !(account.len() == 12 && account.bytes().all(|b| b.is_ascii_digit()))
        {
            return Err(invalid("account", format!("{account:?} is not a 12-digit account id")));
        }
        let incident_id = text("incident_id")?;
        if incident_id.is_none() && !matches!(subject, Subject::Instance(_)) {
            return Err(invalid(
                "incident_id",
                "only an instance carries a quarantine tag: name the incident whose containment to undo (its \
                 page gives the request)"
                    .to_owned(),
            ));
        }
        let reactivate_keys = flag("reactivate_keys")?;
        if reactivate_keys && !matches!(subject, Subject::User(_)) {
            return Err(invalid(
                "reactivate_keys",
                "only a user's release reactivates keys".to_owned(),
            ));
        }
        Ok(ReleaseRequest {
            subject,
            incident_id,
            account,
            region: text("region")?,
            force: flag("force")?,
            reactivate_keys,
        })
    }

    /// The instance the request names, if it names one.
    #[must_use]
    pub fn instance_id(&self) -> Option<&str> {
        match &self.subject {
            Subject::Instance(id) => Some(id),
            Subject::User(_) | Subject::Role(_) | Subject::Function(_) => None,
        }
    }
}

/// A name of at most `max` letters, digits and `others`, or the field's error.
fn checked_name(path: &str, name: String, max: usize, others: &str) -> Result<String, IntakeError> {
    if name.len() <= max && name.chars().all(|c| c.is_ascii_alphanumeric() || others.contains(c)) {
        Ok(name)
    } else {
        Err(IntakeError::Invalid {
            path: path.to_owned(),
            reason: format!("{name:?} is not a valid {}", path.replace('_', " ")),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn release_requests() {
        assert_eq!(
            ReleaseRequest::parse(&json!({"instance_id": "i-0abc"})),
            Ok(ReleaseRequest {
                subject: Subject::Instance("i-0abc".into()),
                incident_id: None,
                account: None,
                region: None,
                force: false,
                reactivate_keys: false,
            })
        );
        let member =
            ReleaseRequest::parse(&json!({"instance_id": "i-0abc", "account": "222222222222", "region": "eu-west-1"}))
                .unwrap();
        assert_eq!(member.account.as_deref(), Some("222222222222"));
        assert_eq!(member.region.as_deref(), Some("eu-west-1"));
        assert_eq!(
            ReleaseRequest::parse(&json!({"instance_id": "i-0abc", "incident_id": "guardduty-1"}))
                .map(|r| r.incident_id),
            Ok(Some("guardduty-1".into()))
        );
        let user = ReleaseRequest::parse(
            &json!({"user_name": "alice", "incident_id": "guardduty-1", "reactivate_keys": true, "force": true}),
        )
        .unwrap();
        assert_eq!(
            (user.subject, user.reactivate_keys, user.force),
            (Subject::User("alice".into()), true, true)
        );
        assert_eq!(
            ReleaseRequest::parse(&json!({"role_name": "web-tier", "incident_id": "guardduty-1"})).map(|r| r.subject),
            Ok(Subject::Role("web-tier".into()))
        );
        assert_eq!(
            ReleaseRequest::parse(&json!({"function_name": "resizer", "incident_id": "guardduty-1"}))
                .map(|r| r.subject),
            Ok(Subject::Function("resizer".into()))
        );
        for (bad, field) in [
            (json!({}), "instance_id"),
            (json!({"instance_id": 7}), "instance_id"),
            (json!({"instance_id": "vol-1"}), "instance_id"),
            (json!({"instance_id": "i-0abc", "force": "yes"}), "force"),
            (json!([]), ""),
            (json!({"instance_id": "i-0abc", "account": "2222"}), "account"),
            // A principal carries no quarantine tag to find its incident by.
            (json!({"user_name": "alice"}), "incident_id"),
            (
                json!({"user_name": "alice", "role_name": "web", "incident_id": "x"}),
                "user_name",
            ),
            (json!({"user_name": "a b", "incident_id": "x"}), "user_name"),
            (
                json!({"role_name": "web", "incident_id": "x", "reactivate_keys": true}),
                "reactivate_keys",
            ),
            (
                json!({"user_name": "alice", "incident_id": "x", "reactivate_keys": 1}),
                "reactivate_keys",
            ),
        ] {
            let err = ReleaseRequest::parse(&bad).unwrap_err();
            let path = match &err {
                IntakeError::Invalid { path, .. } | IntakeError::Missing { path } => path.clone(),
                other => panic!("{bad}: {other:?}"),
            };
            assert_eq!(path, field, "{bad}: {err}");
        }
    }
}
