//! IAM: describe a user or role, deactivate a key, deny a user, revoke a role's sessions.

use std::collections::BTreeMap;

use aws_sdk_iam::Client;
use aws_sdk_iam::primitives::DateTimeFormat;
use aws_sdk_iam::types::{AccessKeyMetadata, AttachedPolicy, StatusType, Tag};

use super::{AwsError, Done, noted, request_id, sdk};
use crate::observation::{AccessKeyState, Observation, PrincipalKind, PrincipalState};

/// Inline policy that denies the user everything.
pub const DENY_ALL_POLICY: &str = "tourniquet-deny-all";
/// Inline policy that denies sessions issued before the response.
pub const REVOKE_SESSIONS_POLICY: &str = "tourniquet-revoke-sessions";

/// Describes a user: ARN, tags, access keys, policies, in one round of parallel calls.
/// A user that does not exist, or does not hold `access_key_id`, is `Unavailable`.
pub async fn observe_user(iam: &Client, user_name: &str, access_key_id: Option<&str>) -> Observation {
    let (user, tags, keys, inline, attached) = tokio::join!(
        iam.get_user().user_name(user_name).send(),
        iam.list_user_tags().user_name(user_name).send(),
        iam.list_access_keys().user_name(user_name).send(),
        iam.list_user_policies().user_name(user_name).send(),
        iam.list_attached_user_policies().user_name(user_name).send(),
    );
    let user = match user.map_err(sdk("GetUser")) {
        Ok(output) => output,
        Err(err) => return Observation::unavailable(&err),
    };
    let mut state = PrincipalState {
        kind: PrincipalKind::User,
        name: user_name.to_owned(),
        arn: user.user().map(|u| u.arn().to_owned()),
        ..PrincipalState::default()
    };
    match tags.map_err(sdk("ListUserTags")) {
        Ok(output) => state.tags = Some(tag_map(output.tags())),
        Err(err) => state.tags_error = Some(err.code),
    }
    let mut notes = Vec::new();
    if let Some(output) = noted(keys.map_err(sdk("ListAccessKeys")), &mut notes) {
        state.access_keys = output.access_key_metadata().iter().filter_map(key_state).collect();
        if let Some(key) = access_key_id
            && !state.access_keys.iter().any(|k| k.access_key_id == key)
        {
            return Observation::Unavailable {
                code: "NoSuchEntity".to_owned(),
                message: format!("user {user_name} holds no access key {key}"),
            };
        }
    }
    if let Some(output) = noted(inline.map_err(sdk("ListUserPolicies")), &mut notes) {
        state.inline_policies = output.policy_names().to_vec();
    }
    if let Some(output) = noted(attached.map_err(sdk("ListAttachedUserPolicies")), &mut notes) {
        state.attached_policies = policy_arns(output.attached_policies());
    }
    state.notes = notes;
    Observation::Principal(Box::new(state))
}

/// Describes a role: ARN, tags, policies.
pub async fn observe_role(iam: &Client, role_name: &str) -> Observation {
    let (role, tags, inline, attached) = tokio::join!(
        iam.get_role().role_name(role_name).send(),
        iam.list_role_tags().role_name(role_name).send(),
        iam.list_role_policies().role_name(role_name).send(),
        iam.list_attached_role_policies().role_name(role_name).send(),
    );
    let role = match role.map_err(sdk("GetRole")) {
        Ok(output) => output,
        Err(err) => return Observation::unavailable(&err),
    };
    let mut state = PrincipalState {
        kind: PrincipalKind::Role,
        name: role_name.to_owned(),
        arn: role.role().map(|r| r.arn().to_owned()),
        ..PrincipalState::default()
    };
    match tags.map_err(sdk("ListRoleTags")) {
        Ok(output) => state.tags = Some(tag_map(output.tags())),
        Err(err) => state.tags_error = Some(err.code),
    }
    let mut notes = Vec::new();
    if let Some(output) = noted(inline.map_err(sdk("ListRolePolicies")), &mut notes) {
        state.inline_policies = output.policy_names().to_vec();
    }
    if let Some(output) = noted(attached.map_err(sdk("ListAttachedRolePolicies")), &mut notes) {
        state.attached_policies = policy_arns(output.attached_policies());
    }
    state.notes = notes;
    Observation::Principal(Box::new(state))
}

fn tag_map(tags: &[Tag]) -> BTreeMap<String, String> {
    tags.iter()
        .map(|t| (t.key().to_owned(), t.value().to_owned()))
        .collect()
}

fn policy_arns(policies: &[AttachedPolicy]) -> Vec<String> {
    policies
        .iter()
        .filter_map(|p| p.policy_arn().map(ToOwned::to_owned))
        .collect()
}

fn key_state(key: &AccessKeyMetadata) -> Option<AccessKeyState> {
    Some(AccessKeyState {
        access_key_id: key.access_key_id()?.to_owned(),
        status: key.status().map(|s| s.as_str().to_owned()),
        created: key.create_date().and_then(|d| d.fmt(DateTimeFormat::DateTime).ok()),
    })
}

/// Sets exactly this key to Inactive; the user's other keys are not touched.
pub async fn deactivate_key(iam: &Client, user_name: &str, access_key_id: &str) -> Result<Done, AwsError> {
    let output = iam
        .update_access_key()
        .user_name(user_name)
        .access_key_id(access_key_id)
        .status(StatusType::Inactive)
        .send()
        .await
        .map_err(sdk("UpdateAccessKey"))?;
    Ok(Done::new(
        [request_id(&output)],
        serde_json::json!({"user": user_name, "access_key_id": access_key_id, "status": "Inactive"}),
    ))
}

/// The deny-all policy document.
#[must_use]
pub fn deny_all_document() -> String {
    serde_json::json!({
        "Version": "2012-10-17",
        "Statement": [{"Sid": "TourniquetDenyAll", "Effect": "Deny", "Action": "*", "Resource": "*"}]
    })
    .to_string()
}

/// The document denying sessions issued before `issued_before` (RFC 3339).
#[must_use]
pub fn revoke_sessions_document(issued_before: &str) -> String {
    serde_json::json!({
        "Version": "2012-10-17",
        "Statement": [{
            "Sid": "TourniquetRevokeOlderSessions",
            "Effect": "Deny",
            "Action": "*",
            "Resource": "*",
            "Condition": {"DateLessThan": {"aws:TokenIssueTime": issued_before}}
        }]
    })
    .to_string()
}

/// Attaches the inline deny-all policy to the user (idempotent: same name, same document).
pub async fn deny_all_user(iam: &Client, user_name: &str) -> Result<Done, AwsError> {
    let output = iam
        .put_user_policy()
        .user_name(user_name)
        .policy_name(DENY_ALL_POLICY)
        .policy_document(deny_all_document())
        .send()
        .await
        .map_err(sdk("PutUserPolicy"))?;
    Ok(Done::new(
        [request_id(&output)],
        serde_json::json!({"user": user_name, "policy": DENY_ALL_POLICY}),
    ))
}

/// Puts the inline revoke-sessions policy on the role (idempotent for the same time).
pub async fn revoke_role_sessions(iam: &Client, role_name: &str, issued_before: &str) -> Result<Done, AwsError> {
    let output = iam
        .put_role_policy()
        .role_name(role_name)
        .policy_name(REVOKE_SESSIONS_POLICY)
        .policy_document(revoke_sessions_document(issued_before))
        .send()
        .await
        .map_err(sdk("PutRolePolicy"))?;
    Ok(Done::new(
        [request_id(&output)],
        serde_json::json!({"role": role_name, "policy": REVOKE_SESSIONS_POLICY, "issued_before": issued_before}),
    ))
}
