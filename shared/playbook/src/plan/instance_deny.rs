//! The one deny policy per role that holds every contained instance's credentials: its name, its document, and the instances it names.
//!
//! An instance's credentials are a session of its role named after the instance
//! (`aws:userid` = `<role id>:<instance id>`), and EC2 stamps every request signed with them
//! with `ec2:SourceInstanceARN`: the policy denies both, for the instances it lists, so the
//! role's other holders keep working. One policy per role, not one per instance: a role's
//! inline policies hold 10,240 characters in all, and a fleet role may have a hundred of its
//! instances contained at once (about 90 characters each).

use std::collections::BTreeSet;

/// The role's inline policy that lists its contained instances.
pub const INSTANCES_POLICY: &str = "tourniquet-deny-instances";

/// The instances `document` (a policy [`instances_document`] wrote) denies, by id.
#[must_use]
pub fn listed_instances(document: &str) -> BTreeSet<String> {
    let Ok(document) = serde_json::from_str::<serde_json::Value>(document) else {
        return BTreeSet::new();
    };
    let statements = document["Statement"].as_array().cloned().unwrap_or_default();
    let mut instances = BTreeSet::new();
    for statement in &statements {
        for (operator, key) in [("StringEquals", "aws:userid"), ("StringLike", "ec2:SourceInstanceARN")] {
            let values = &statement["Condition"][operator][key];
            let values: Vec<&str> = match values {
                serde_json::Value::String(one) => vec![one.as_str()],
                serde_json::Value::Array(many) => many.iter().filter_map(serde_json::Value::as_str).collect(),
                _ => Vec::new(),
            };
            instances.extend(
                values
                    .into_iter()
                    .filter_map(|v| v.rsplit([':', '/']).next())
                    .filter(|id| id.starts_with("i-"))
                    .map(ToOwned::to_owned),
            );
        }
    }
    instances
}

/// The deny for `instances` of the role whose id is `role_id`: their sessions by `aws:userid`,
/// and, beside it, requests EC2 stamps with their ARN (any region, account or partition: an
/// instance id is unique). `None` when the list is empty (the policy then goes).
#[must_use]
pub fn instances_document(role_id: &str, instances: &BTreeSet<String>) -> Option<String> {
    if instances.is_empty() {
        return None;
    }
    let sessions: Vec<String> = instances.iter().map(|id| format!("{role_id}:{id}")).collect();
    let arns: Vec<String> = instances
        .iter()
        .map(|id| format!("arn:*:ec2:*:*:instance/{id}"))
        .collect();
    Some(
        serde_json::json!({"Version": "2012-10-17", "Statement": [
            {"Sid": "TourniquetDenyInstanceSessions", "Effect": "Deny", "Action": "*", "Resource": "*",
             "Condition": {"StringEquals": {"aws:userid": sessions}}},
            {"Sid": "TourniquetDenyInstanceCredentials", "Effect": "Deny", "Action": "*", "Resource": "*",
             "Condition": {"StringLike": {"ec2:SourceInstanceARN": arns}}}
        ]})
        .to_string(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(n: usize) -> BTreeSet<String> {
        (0..n).map(|i| format!("i-{i:017x}")).collect()
    }

    #[test]
    fn the_document_denies_each_instances_session_and_arn() {
        let document = instances_document("AROAEXAMPLEROLEID1234", &ids(2)).unwrap();
        let value: serde_json::Value = serde_json::from_str(&document).unwrap();
        assert_eq!(
            value["Statement"][0]["Condition"],
            serde_json::json!({"StringEquals": {"aws:userid": [
                "AROAEXAMPLEROLEID1234:i-00000000000000000", "AROAEXAMPLEROLEID1234:i-00000000000000001"]}})
        );
        assert_eq!(
            value["Statement"][1]["Condition"],
            serde_json::json!({"StringLike": {"ec2:SourceInstanceARN": [
                "arn:*:ec2:*:*:instance/i-00000000000000000", "arn:*:ec2:*:*:instance/i-00000000000000001"]}})
        );
        for statement in value["Statement"].as_array().unwrap() {
            assert_eq!(
                (&statement["Effect"], &statement["Action"], &statement["Resource"]),
                (&"Deny".into(), &"*".into(), &"*".into())
            );
        }
        assert_eq!(listed_instances(&document), ids(2));
        assert_eq!(instances_document("AROA1", &BTreeSet::new()), None);
        assert!(listed_instances("not json").is_empty());
    }

    /// A hundred instances of one fleet role fit in the 10,240 characters a role's inline
    /// policies hold in all, with room for the role's own.
    #[test]
    fn a_hundred_instances_fit_a_roles_inline_quota() {
        let document = instances_document("AROAEXAMPLEROLEID1234", &ids(100)).unwrap();
        let counted = document.chars().filter(|c| !c.is_whitespace()).count();
        assert!(counted < 9_500, "{counted}");
        assert_eq!(listed_instances(&document).len(), 100);
    }
}
