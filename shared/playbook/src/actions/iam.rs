//! IAM: describe a user or role, set a key's status, put and remove deny policies.

use std::collections::{BTreeMap, BTreeSet};

use aws_sdk_iam::Client;
use aws_sdk_iam::primitives::DateTimeFormat;
use aws_sdk_iam::types::{AccessKeyMetadata, AttachedPolicy, StatusType, Tag};

use percent_encoding::percent_decode_str;

use super::{AwsError, Done, noted, request_id, sdk, tolerate};
use crate::observation::{AccessKeyState, Observation, PrincipalKind, PrincipalState};
use crate::plan::{
    INSTANCES_POLICY, Reach, deny_document, instances_document, is_temporary_key, listed_instances, policy_name,
};

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
        Err(err) => return err.unavailable(),
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
            && !is_temporary_key(key)
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
        Err(err) => return err.unavailable(),
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

/// Sets exactly this key to `status` (Inactive to contain, Active when a release asks); the
/// user's other keys are not touched.
pub async fn set_key_status(
    iam: &Client,
    user_name: &str,
    access_key_id: &str,
    status: StatusType,
) -> Result<Done, AwsError> {
    let output = iam
        .update_access_key()
        .user_name(user_name)
        .access_key_id(access_key_id)
        .status(status.clone())
        .send()
        .await
        .map_err(sdk("UpdateAccessKey"))?;
    Ok(Done::new(
        [request_id(&output)],
        serde_json::json!({"user": user_name, "access_key_id": access_key_id, "status": status.as_str()}),
    ))
}

/// Puts the user's inline deny for `reach` (idempotent: same name, same document).
pub async fn deny_user(iam: &Client, user_name: &str, reach: &Reach) -> Result<Done, AwsError> {
    let name = policy_name(reach);
    let output = iam
        .put_user_policy()
        .user_name(user_name)
        .policy_name(&name)
        .policy_document(deny_document(reach))
        .send()
        .await
        .map_err(sdk("PutUserPolicy"))?;
    Ok(Done::new(
        [request_id(&output)],
        serde_json::json!({"user": user_name, "policy": name, "reach": reach}),
    ))
}

/// Denies the credentials EC2 issued to one instance, on every role of its instance profile:
/// the instance joins the list of the role's one Tourniquet instance policy
/// ([`INSTANCES_POLICY`]: its session by `aws:userid` = `<role id>:<instance id>`, and
/// `ec2:SourceInstanceARN` beside it), so other instances with the same role keep working.
pub async fn deny_instance_role(iam: &Client, instance_profile: &str, instance_id: &str) -> Result<Done, AwsError> {
    let (roles, profile_request) = profile_role_ids(iam, instance_profile).await?;
    let mut request_ids = vec![profile_request];
    for (role, role_id) in &roles {
        request_ids.extend(
            change_listed_instances(iam, role, role_id, |listed| {
                listed.insert(instance_id.to_owned());
            })
            .await?,
        );
    }
    let roles: Vec<&String> = roles.iter().map(|(role, _)| role).collect();
    Ok(Done::new(
        request_ids,
        serde_json::json!({"instance_profile": instance_profile, "roles": roles, "policy": INSTANCES_POLICY, "instance": instance_id}),
    ))
}

/// Lifts the deny on one instance's credentials on every role of its instance profile: the
/// instance leaves the list; the policy goes with the last one.
pub async fn lift_instance_deny(iam: &Client, instance_profile: &str, instance_id: &str) -> Result<Done, AwsError> {
    let (roles, profile_request) = profile_role_ids(iam, instance_profile).await?;
    let mut request_ids = vec![profile_request];
    for (role, role_id) in &roles {
        request_ids.extend(
            change_listed_instances(iam, role, role_id, |listed| {
                listed.remove(instance_id);
            })
            .await?,
        );
    }
    let roles: Vec<&String> = roles.iter().map(|(role, _)| role).collect();
    Ok(Done::new(
        request_ids,
        serde_json::json!({"instance_profile": instance_profile, "roles": roles, "policy": INSTANCES_POLICY, "instance": instance_id}),
    ))
}

/// The instances the role's [`INSTANCES_POLICY`] lists; empty when it has none.
pub async fn listed_on_role(iam: &Client, role: &str) -> Result<BTreeSet<String>, AwsError> {
    let found = iam
        .get_role_policy()
        .role_name(role)
        .policy_name(INSTANCES_POLICY)
        .send()
        .await
        .map_err(sdk("GetRolePolicy"));
    Ok(tolerate(found, "NoSuchEntity")?
        .map(|out| listed_instances(&percent_decode_str(out.policy_document()).decode_utf8_lossy()))
        .unwrap_or_default())
}

/// Changes the list of the role's [`INSTANCES_POLICY`] with `change`, read, changed and written
/// again until a read shows the change in place: another invocation writing the same policy
/// at the same moment (another instance of the fleet contained) may replace this write, and
/// the next read sees it and writes again. Its request ids.
async fn change_listed_instances(
    iam: &Client,
    role: &str,
    role_id: &str,
    change: impl Fn(&mut BTreeSet<String>),
) -> Result<Vec<Option<String>>, AwsError> {
    let mut request_ids = Vec::new();
    for _ in 0..WRITE_ATTEMPTS {
        let listed = listed_on_role(iam, role).await?;
        let mut wanted = listed.clone();
        change(&mut wanted);
        if wanted == listed {
            return Ok(request_ids);
        }
        let written = match instances_document(role_id, &wanted) {
            Some(document) => iam
                .put_role_policy()
                .role_name(role)
                .policy_name(INSTANCES_POLICY)
                .policy_document(document)
                .send()
                .await
                .map_err(sdk("PutRolePolicy"))
                .map(|out| request_id(&out)),
            None => tolerate(
                iam.delete_role_policy()
                    .role_name(role)
                    .policy_name(INSTANCES_POLICY)
                    .send()
                    .await
                    .map_err(sdk("DeleteRolePolicy"))
                    .map(|out| request_id(&out)),
                "NoSuchEntity",
            )
            .map(Option::flatten),
        };
        request_ids.push(written?);
    }
    Err(AwsError::check(
        "PutRolePolicy",
        "Contended",
        format!(
            "the list of {INSTANCES_POLICY} on role {role} kept changing under this write; a retry writes it again"
        ),
    ))
}

/// How many times the list is read and written before the step fails (and Lambda retries).
const WRITE_ATTEMPTS: usize = 5;

/// The roles of an instance profile (by ARN or name), each with its role id (`AROA...`).
pub(crate) async fn profile_role_ids(
    iam: &Client,
    instance_profile: &str,
) -> Result<(Vec<(String, String)>, Option<String>), AwsError> {
    let name = instance_profile.rsplit('/').next().unwrap_or(instance_profile);
    let profile = iam
        .get_instance_profile()
        .instance_profile_name(name)
        .send()
        .await
        .map_err(sdk("GetInstanceProfile"))?;
    let roles = profile
        .instance_profile()
        .map(aws_sdk_iam::types::InstanceProfile::roles)
        .unwrap_or_default()
        .iter()
        .map(|r| (r.role_name().to_owned(), r.role_id().to_owned()))
        .collect();
    Ok((roles, request_id(&profile)))
}

/// Puts the role's inline deny for `reach` (idempotent: same name, same document).
pub async fn deny_role(iam: &Client, role_name: &str, reach: &Reach) -> Result<Done, AwsError> {
    let name = policy_name(reach);
    let output = iam
        .put_role_policy()
        .role_name(role_name)
        .policy_name(&name)
        .policy_document(deny_document(reach))
        .send()
        .await
        .map_err(sdk("PutRolePolicy"))?;
    Ok(Done::new(
        [request_id(&output)],
        serde_json::json!({"role": role_name, "policy": name, "reach": reach}),
    ))
}

/// The roles of an instance profile (by ARN or name).
pub(crate) async fn profile_roles(
    iam: &Client,
    instance_profile: &str,
) -> Result<(Vec<String>, Option<String>), AwsError> {
    let (roles, request) = profile_role_ids(iam, instance_profile).await?;
    Ok((roles.into_iter().map(|(name, _)| name).collect(), request))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn statement(reach: &Reach) -> serde_json::Value {
        let document: serde_json::Value = serde_json::from_str(&deny_document(reach)).unwrap();
        assert_eq!(document["Version"], "2012-10-17");
        assert_eq!(document["Statement"].as_array().map(Vec::len), Some(1));
        document["Statement"][0].clone()
    }

    #[test]
    fn each_reach_denies_exactly_its_credentials() {
        let cases = [
            (Reach::Everything, serde_json::Value::Null, "tourniquet-deny-all"),
            (
                Reach::IssuedBefore {
                    time: "2026-11-29T06:00:00Z".into(),
                },
                serde_json::json!({"DateLessThan": {"aws:TokenIssueTime": "2026-11-29T06:00:00Z"}}),
                "tourniquet-revoke-sessions",
            ),
            (
                Reach::Instance {
                    instance_arn: "arn:aws:ec2:us-east-1:123456789012:instance/i-0abc".into(),
                },
                serde_json::json!({"StringEquals": {"ec2:SourceInstanceARN": "arn:aws:ec2:us-east-1:123456789012:instance/i-0abc"}}),
                "tourniquet-deny-instance-i-0abc",
            ),
            (
                Reach::Session {
                    user_id: "AROAEXAMPLE:alice@example.com".into(),
                },
                serde_json::json!({"StringEquals": {"aws:userid": "AROAEXAMPLE:alice@example.com"}}),
                "tourniquet-deny-session-",
            ),
        ];
        for (reach, condition, name) in cases {
            let statement = statement(&reach);
            assert_eq!(statement["Effect"], "Deny", "{reach:?}");
            assert_eq!(statement["Action"], "*", "{reach:?}");
            assert_eq!(statement["Resource"], "*", "{reach:?}");
            assert_eq!(statement["Condition"], condition, "{reach:?}");
            let policy = policy_name(&reach);
            assert!(policy.starts_with(name), "{policy}");
            assert!(
                policy.len() <= 128
                    && policy
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || "+=,.@_-".contains(c))
            );
        }
        // Two sessions of one role get two policies: one never replaces the other.
        let alice = policy_name(&Reach::Session {
            user_id: "AROA1:alice".into(),
        });
        let bob = policy_name(&Reach::Session {
            user_id: "AROA1:bob".into(),
        });
        assert_ne!(alice, bob);
    }
}
