//! Which credentials a deny reaches, and the inline policy that says so: its name and document.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// Which credentials a deny policy reaches: exactly the attacker's where the finding says
/// which, so healthy holders of the same role keep working.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "reach", rename_all = "kebab-case")]
pub enum Reach {
    /// Every request.
    Everything,
    /// Temporary credentials issued before `time` (`aws:TokenIssueTime`).
    IssuedBefore { time: String },
    /// The credentials EC2 issued to one instance (`ec2:SourceInstanceARN`), wherever they
    /// are used from.
    Instance { instance_arn: String },
    /// One assumed-role session (`aws:userid`, `<role id>:<session name>`).
    Session { user_id: String },
}

impl Reach {
    /// What the deny does, for the page.
    #[must_use]
    pub fn describe(&self) -> String {
        match self {
            Reach::Everything => "deny everything".to_owned(),
            Reach::IssuedBefore { time } => format!("deny every session issued before {time} (aws:TokenIssueTime)"),
            Reach::Instance { instance_arn } => {
                format!("deny the credentials EC2 issued to {instance_arn} (ec2:SourceInstanceARN)")
            }
            Reach::Session { user_id } => format!("deny exactly the session {user_id} (aws:userid)"),
        }
    }
}

/// Inline policy that denies the user everything.
pub const DENY_ALL_POLICY: &str = "tourniquet-deny-all";
/// Inline policy that denies sessions issued before the response.
pub const REVOKE_SESSIONS_POLICY: &str = "tourniquet-revoke-sessions";

/// Whether an access key id is a temporary one (`ASIA...`, from STS), which IAM cannot
/// deactivate and `ListAccessKeys` never lists.
#[must_use]
pub fn is_temporary_key(access_key_id: &str) -> bool {
    access_key_id.starts_with("ASIA")
}

/// The inline policy Tourniquet puts for `reach`: one name per reach, so a deny for one
/// session never replaces another's, and a retry puts the same document again.
#[must_use]
pub fn policy_name(reach: &Reach) -> String {
    match reach {
        Reach::Everything => DENY_ALL_POLICY.to_owned(),
        Reach::IssuedBefore { .. } => REVOKE_SESSIONS_POLICY.to_owned(),
        Reach::Instance { instance_arn } => {
            let id = instance_arn.rsplit('/').next().unwrap_or(instance_arn);
            format!("tourniquet-deny-instance-{}", policy_safe(id))
        }
        // Session names may hold characters policy names may not: name it by a hash.
        Reach::Session { user_id } => format!(
            "tourniquet-deny-session-{}",
            &hex::encode(Sha256::digest(user_id.as_bytes()))[..16]
        ),
    }
}

/// Only the characters IAM allows in a policy name.
fn policy_safe(text: &str) -> String {
    text.chars()
        .filter(|c| c.is_ascii_alphanumeric() || "+=,.@_-".contains(*c))
        .take(64)
        .collect()
}

/// The deny-everything document for `reach`: every request, or only those signed with the
/// credentials it names.
#[must_use]
pub fn deny_document(reach: &Reach) -> String {
    let (sid, condition) = match reach {
        Reach::Everything => ("TourniquetDenyAll", None),
        Reach::IssuedBefore { time } => (
            "TourniquetRevokeOlderSessions",
            Some(serde_json::json!({"DateLessThan": {"aws:TokenIssueTime": time}})),
        ),
        Reach::Instance { instance_arn } => (
            "TourniquetDenyInstanceCredentials",
            Some(serde_json::json!({"StringEquals": {"ec2:SourceInstanceARN": instance_arn}})),
        ),
        Reach::Session { user_id } => (
            "TourniquetDenySession",
            Some(serde_json::json!({"StringEquals": {"aws:userid": user_id}})),
        ),
    };
    let mut statement = serde_json::json!({"Sid": sid, "Effect": "Deny", "Action": "*", "Resource": "*"});
    if let Some(condition) = condition {
        statement["Condition"] = condition;
    }
    serde_json::json!({"Version": "2012-10-17", "Statement": [statement]}).to_string()
}

/// Which sessions the deny reaches: the function's own, and no other holder of its role. Lambda
/// names the execution role's session after the function, so `aws:userid` is
/// `<role id>:<function name>`.
#[must_use]
pub fn function_reach(role_id: &str, function_name: &str) -> Reach {
    Reach::Session {
        user_id: format!("{role_id}:{function_name}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_deny_reaches_the_functions_sessions_only() {
        let reach = function_reach("AROAEXAMPLEROLEID", "image-resizer");
        let document: serde_json::Value = serde_json::from_str(&deny_document(&reach)).unwrap();
        assert_eq!(
            document,
            serde_json::json!({"Version": "2012-10-17", "Statement": [{
                "Sid": "TourniquetDenySession", "Effect": "Deny", "Action": "*", "Resource": "*",
                "Condition": {"StringEquals": {"aws:userid": "AROAEXAMPLEROLEID:image-resizer"}}
            }]})
        );
        // Another function of the same role gets a deny of its own, under another name.
        let other = function_reach("AROAEXAMPLEROLEID", "thumbnailer");
        assert_ne!(policy_name(&reach), policy_name(&other));
    }
}
