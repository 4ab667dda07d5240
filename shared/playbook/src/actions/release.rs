//! Release: an instance's groups, Elastic IPs, protection and tags back as the evidence says,
//! and Tourniquet's deny policies off a user, a role or an instance's own credentials.

use aws_sdk_ec2::Client;
use aws_sdk_ec2::types::{AttributeBooleanValue, AttributeValue, Tag};

use super::{AwsError, Done, iam, request_id, sdk, tolerate};
use crate::names;
use crate::observation::{AddressState, PrincipalKind};
use crate::plan::{INSTANCES_POLICY, InterfaceGroups};

/// Puts each interface's original groups back (one call per interface, in parallel).
pub async fn restore_interfaces(ec2: &Client, interfaces: &[InterfaceGroups], dry_run: bool) -> Result<Done, AwsError> {
    let results = futures_util::future::join_all(interfaces.iter().map(|i| {
        ec2.modify_network_interface_attribute()
            .dry_run(dry_run)
            .network_interface_id(&i.interface_id)
            .set_groups(Some(i.groups.clone()))
            .send()
    }))
    .await;
    let mut request_ids = Vec::new();
    for result in results {
        request_ids.push(request_id(&result.map_err(sdk("ModifyNetworkInterfaceAttribute"))?));
    }
    Ok(Done::new(request_ids, serde_json::json!({ "interfaces": interfaces })))
}

/// Associates each Elastic IP with the interface and private address it had. An address
/// already on that interface (a retry after the record was lost) counts as done; one taken
/// by anything else is an error, never moved.
pub async fn restore_addresses(ec2: &Client, addresses: &[AddressState], dry_run: bool) -> Result<Done, AwsError> {
    let mut request_ids = Vec::new();
    for address in addresses {
        let Some(allocation) = &address.allocation_id else {
            continue;
        };
        let result = ec2
            .associate_address()
            .dry_run(dry_run)
            .allocation_id(allocation)
            .set_network_interface_id(address.network_interface_id.clone())
            .set_private_ip_address(address.private_ip.clone())
            .allow_reassociation(false)
            .send()
            .await
            .map_err(sdk("AssociateAddress"));
        match result {
            Ok(output) => request_ids.push(request_id(&output)),
            Err(err) if err.code == "Resource.AlreadyAssociated" => {
                let found = ec2
                    .describe_addresses()
                    .allocation_ids(allocation)
                    .send()
                    .await
                    .map_err(sdk("DescribeAddresses"))?;
                let ours = found
                    .addresses()
                    .iter()
                    .any(|a| a.network_interface_id() == address.network_interface_id.as_deref());
                if !ours {
                    return Err(err);
                }
            }
            Err(err) => return Err(err),
        }
    }
    Ok(Done::new(request_ids, serde_json::json!({ "addresses": addresses })))
}

/// Termination protection and shutdown behaviour back to their recorded values (an unknown
/// value is left as it is).
pub async fn restore_protection(
    ec2: &Client,
    instance_id: &str,
    termination_protection: Option<bool>,
    shutdown_behavior: Option<&str>,
    dry_run: bool,
) -> Result<Done, AwsError> {
    let mut request_ids = Vec::new();
    if let Some(value) = termination_protection {
        let output = ec2
            .modify_instance_attribute()
            .dry_run(dry_run)
            .instance_id(instance_id)
            .disable_api_termination(AttributeBooleanValue::builder().value(value).build())
            .send()
            .await
            .map_err(sdk("ModifyInstanceAttribute"))?;
        request_ids.push(request_id(&output));
    }
    if let Some(value) = shutdown_behavior {
        let output = ec2
            .modify_instance_attribute()
            .dry_run(dry_run)
            .instance_id(instance_id)
            .instance_initiated_shutdown_behavior(AttributeValue::builder().value(value).build())
            .send()
            .await
            .map_err(sdk("ModifyInstanceAttribute"))?;
        request_ids.push(request_id(&output));
    }
    Ok(Done::new(
        request_ids,
        serde_json::json!({
            "disable_api_termination": termination_protection,
            "instance_initiated_shutdown_behavior": shutdown_behavior,
        }),
    ))
}

/// Tags the instance released and removes the quarantine tag.
pub async fn mark_released(
    ec2: &Client,
    instance_id: &str,
    released_at: &str,
    dry_run: bool,
) -> Result<Done, AwsError> {
    let tagged = ec2
        .create_tags()
        .dry_run(dry_run)
        .resources(instance_id)
        .tags(Tag::builder().key(names::RELEASED_AT_TAG).value(released_at).build())
        .send()
        .await
        .map_err(sdk("CreateTags"))?;
    let untagged = ec2
        .delete_tags()
        .dry_run(dry_run)
        .resources(instance_id)
        .tags(Tag::builder().key(names::QUARANTINED_AT_TAG).build())
        .send()
        .await
        .map_err(sdk("DeleteTags"))?;
    Ok(Done::new(
        [request_id(&tagged), request_id(&untagged)],
        serde_json::json!({ "released_at": released_at }),
    ))
}

/// The incident id a quarantined instance is tagged with, if it has one.
pub async fn incident_of(ec2: &Client, instance_id: &str) -> Result<Option<String>, AwsError> {
    let output = ec2
        .describe_instances()
        .instance_ids(instance_id)
        .send()
        .await
        .map_err(sdk("DescribeInstances"))?;
    Ok(output
        .reservations()
        .iter()
        .flat_map(aws_sdk_ec2::types::Reservation::instances)
        .flat_map(aws_sdk_ec2::types::Instance::tags)
        .find(|t| t.key() == Some(names::INCIDENT_TAG))
        .and_then(|t| t.value().map(ToOwned::to_owned)))
}
/// The roles of `instance_profile` that no longer deny `instance_id`'s credentials through
/// `policy`: the list of [`INSTANCES_POLICY`] without the instance, or (a record made before
/// that policy) the per-instance policy gone. What a release's drift check reports.
pub async fn roles_without(
    iam: &aws_sdk_iam::Client,
    instance_profile: &str,
    instance_id: &str,
    policy: &str,
) -> Result<Vec<String>, AwsError> {
    let (roles, _) = iam::profile_roles(iam, instance_profile).await?;
    let mut missing = Vec::new();
    for role in roles {
        if policy == INSTANCES_POLICY {
            if !iam::listed_on_role(iam, &role).await?.contains(instance_id) {
                missing.push(role);
            }
            continue;
        }
        let carried = iam
            .list_role_policies()
            .role_name(&role)
            .send()
            .await
            .map_err(sdk("ListRolePolicies"))?;
        if !carried.policy_names().iter().any(|p| p == policy) {
            missing.push(role);
        }
    }
    Ok(missing)
}

/// Deletes Tourniquet's inline policy `policy` from a user or role; one already gone counts
/// as done.
pub async fn remove_deny(
    iam: &aws_sdk_iam::Client,
    kind: PrincipalKind,
    name: &str,
    policy: &str,
) -> Result<Done, AwsError> {
    let request = match kind {
        PrincipalKind::User => tolerate(
            iam.delete_user_policy()
                .user_name(name)
                .policy_name(policy)
                .send()
                .await
                .map_err(sdk("DeleteUserPolicy"))
                .map(|o| request_id(&o)),
            "NoSuchEntity",
        )?,
        PrincipalKind::Role => tolerate(
            iam.delete_role_policy()
                .role_name(name)
                .policy_name(policy)
                .send()
                .await
                .map_err(sdk("DeleteRolePolicy"))
                .map(|o| request_id(&o)),
            "NoSuchEntity",
        )?,
    };
    let removed = request.is_some();
    Ok(Done::new(
        [request.flatten()],
        serde_json::json!({"principal": name, "policy": policy, "removed": removed}),
    ))
}

/// Lifts the deny on the instance's own credentials from every role of its profile: the
/// instance leaves the list of [`INSTANCES_POLICY`] (the policy goes with the last one); a
/// record made before that policy names the per-instance `policy`, which is deleted.
pub async fn remove_instance_deny(
    iam: &aws_sdk_iam::Client,
    instance_profile: &str,
    instance_id: &str,
    policy: &str,
) -> Result<Done, AwsError> {
    if policy == INSTANCES_POLICY {
        return iam::lift_instance_deny(iam, instance_profile, instance_id).await;
    }
    let (roles, profile_request) = iam::profile_roles(iam, instance_profile).await?;
    let mut request_ids = vec![profile_request];
    for role in &roles {
        let done = remove_deny(iam, PrincipalKind::Role, role, policy).await?;
        request_ids.extend(done.request_ids.into_iter().map(Some));
    }
    Ok(Done::new(
        request_ids,
        serde_json::json!({"instance_profile": instance_profile, "roles": roles, "policy": policy}),
    ))
}
