//! EC2: describe an instance, then protect, isolate, snapshot, tag and verify it.

use std::collections::BTreeMap;

use aws_sdk_ec2::Client;
use aws_sdk_ec2::config::http::HttpResponse;
use aws_sdk_ec2::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_ec2::types::{
    AttributeBooleanValue, AttributeValue, Filter, Instance, InstanceAttributeName, InstanceNetworkInterfaceAttachment,
    InstanceSpecification, IpPermission, IpRange, Ipv6Range, ResourceType, SecurityGroup, Tag, TagSpecification,
};
use futures_util::future::join_all;
use serde::{Deserialize, Serialize};

use super::{AwsError, Done, request_id, sdk};
use crate::names;
use crate::observation::{
    AddressState, GroupRef, InstanceState, InterfaceState, Observation, QuarantineGroups, VolumeState,
};
use crate::plan::VpcIsolation;

fn filter(name: &str, values: &[&str]) -> Filter {
    Filter::builder()
        .name(name)
        .set_values(Some(values.iter().map(|v| (*v).to_owned()).collect()))
        .build()
}

fn tags(pairs: &BTreeMap<String, String>) -> Vec<Tag> {
    pairs
        .iter()
        .map(|(k, v)| Tag::builder().key(k).value(v).build())
        .collect()
}

/// Describes the instance and what containment will touch, in one round of parallel calls:
/// the instance, existing quarantine groups, Elastic IPs, and the two attributes protection
/// changes. Only the instance itself is essential; the rest is best effort, noted when missing.
pub async fn observe_instance(ec2: &Client, instance_id: &str) -> Observation {
    let (instance, groups, addresses, termination, shutdown, quarantined) = tokio::join!(
        ec2.describe_instances().instance_ids(instance_id).send(),
        ec2.describe_security_groups()
            .filters(filter(
                &format!("tag:{}", names::ROLE_TAG),
                &[names::CONVERSION_ROLE, names::ISOLATION_ROLE]
            ))
            .send(),
        ec2.describe_addresses()
            .filters(filter("instance-id", &[instance_id]))
            .send(),
        ec2.describe_instance_attribute()
            .instance_id(instance_id)
            .attribute(InstanceAttributeName::DisableApiTermination)
            .send(),
        ec2.describe_instance_attribute()
            .instance_id(instance_id)
            .attribute(InstanceAttributeName::InstanceInitiatedShutdownBehavior)
            .send(),
        // The blast-radius count: instances already in quarantine, in the same round trip.
        ec2.describe_instances()
            .filters(filter("tag-key", &[names::QUARANTINED_AT_TAG]))
            .filters(filter(
                "instance-state-name",
                &["pending", "running", "stopping", "stopped"]
            ))
            .send(),
    );
    let instance = match instance {
        Err(err) => {
            let err = AwsError::from_sdk("DescribeInstances", &err);
            return Observation::Unavailable {
                code: err.code,
                message: err.message,
            };
        }
        Ok(output) => {
            let found = output
                .reservations()
                .iter()
                .flat_map(aws_sdk_ec2::types::Reservation::instances)
                .find(|i| i.instance_id() == Some(instance_id))
                .cloned();
            let Some(found) = found else {
                return Observation::Unavailable {
                    code: "InvalidInstanceID.NotFound".to_owned(),
                    message: format!("no instance {instance_id} in this account and region"),
                };
            };
            found
        }
    };

    let mut state = instance_state(instance_id, &instance);
    let mut notes = Vec::new();
    if let Some(output) = best_effort(quarantined, "DescribeInstances", &mut notes) {
        let instances = output
            .reservations()
            .iter()
            .flat_map(aws_sdk_ec2::types::Reservation::instances);
        state.quarantined_elsewhere = Some(instances.filter(|i| i.instance_id() != Some(instance_id)).count());
    }
    if let Some(output) = best_effort(groups, "DescribeSecurityGroups", &mut notes) {
        state.quarantine_groups = quarantine_groups(output.security_groups());
    }
    if let Some(output) = best_effort(addresses, "DescribeAddresses", &mut notes) {
        state.addresses = output.addresses().iter().map(address_state).collect();
    }
    if let Some(output) = best_effort(termination, "DescribeInstanceAttribute", &mut notes) {
        state.termination_protection = output.disable_api_termination().and_then(AttributeBooleanValue::value);
    }
    if let Some(output) = best_effort(shutdown, "DescribeInstanceAttribute", &mut notes) {
        let behavior = output
            .instance_initiated_shutdown_behavior()
            .and_then(AttributeValue::value);
        state.shutdown_behavior = behavior.map(ToOwned::to_owned);
    }
    state.notes = notes;
    Observation::Instance(Box::new(state))
}

/// A secondary look-up's output, or `None` with the failure noted: the response goes on.
fn best_effort<T, E>(
    result: Result<T, SdkError<E, HttpResponse>>,
    operation: &str,
    notes: &mut Vec<String>,
) -> Option<T>
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    result
        .map_err(|err| notes.push(AwsError::from_sdk(operation, &err).to_string()))
        .ok()
}

fn address_state(address: &aws_sdk_ec2::types::Address) -> AddressState {
    AddressState {
        public_ip: address.public_ip().map(ToOwned::to_owned),
        allocation_id: address.allocation_id().map(ToOwned::to_owned),
        association_id: address.association_id().map(ToOwned::to_owned),
        network_interface_id: address.network_interface_id().map(ToOwned::to_owned),
        private_ip: address.private_ip_address().map(ToOwned::to_owned),
    }
}

/// The instance's own part of the observation, from `DescribeInstances`.
fn instance_state(instance_id: &str, instance: &Instance) -> InstanceState {
    let mut state = InstanceState {
        instance_id: instance_id.to_owned(),
        state: instance.state().and_then(|s| s.name()).map(|n| n.as_str().to_owned()),
        instance_type: instance.instance_type().map(|t| t.as_str().to_owned()),
        tags: instance
            .tags()
            .iter()
            .filter_map(|t| Some((t.key()?.to_owned(), t.value().unwrap_or_default().to_owned())))
            .collect(),
        instance_profile: instance
            .iam_instance_profile()
            .and_then(|p| p.arn())
            .map(ToOwned::to_owned),
        ..InstanceState::default()
    };
    state.auto_scaling_group = state.tags.get("aws:autoscaling:groupName").cloned();
    let mut interfaces: Vec<InterfaceState> = instance
        .network_interfaces()
        .iter()
        .filter_map(|nic| {
            Some(InterfaceState {
                id: nic.network_interface_id()?.to_owned(),
                vpc_id: nic.vpc_id().or(instance.vpc_id())?.to_owned(),
                subnet_id: nic.subnet_id().map(ToOwned::to_owned),
                device_index: nic
                    .attachment()
                    .and_then(InstanceNetworkInterfaceAttachment::device_index),
                groups: nic
                    .groups()
                    .iter()
                    .filter_map(|g| {
                        Some(GroupRef {
                            id: g.group_id()?.to_owned(),
                            name: g.group_name().map(ToOwned::to_owned),
                        })
                    })
                    .collect(),
                private_ip: nic.private_ip_address().map(ToOwned::to_owned),
                public_ip: nic.association().and_then(|a| a.public_ip()).map(ToOwned::to_owned),
            })
        })
        .collect();
    interfaces.sort_by_key(|i| i.device_index.unwrap_or(i32::MAX));
    state.interfaces = interfaces;
    state.volumes = instance
        .block_device_mappings()
        .iter()
        .filter_map(|m| {
            Some(VolumeState {
                volume_id: m.ebs()?.volume_id()?.to_owned(),
                device: m.device_name().map(ToOwned::to_owned),
            })
        })
        .collect();

    state
}

/// Complete quarantine groups by VPC: those carrying the role tag and the ready tag.
fn quarantine_groups(groups: &[SecurityGroup]) -> BTreeMap<String, QuarantineGroups> {
    let mut by_vpc: BTreeMap<String, QuarantineGroups> = BTreeMap::new();
    for group in groups {
        let (Some(vpc), Some(id)) = (group.vpc_id(), group.group_id()) else {
            continue;
        };
        let tag = |key: &str| group.tags().iter().find(|t| t.key() == Some(key)).and_then(Tag::value);
        if tag(names::READY_TAG) != Some(names::READY) {
            continue;
        }
        let role = tag(names::ROLE_TAG);
        let entry = by_vpc.entry(vpc.to_owned()).or_default();
        match role {
            Some(names::CONVERSION_ROLE) => entry.conversion = Some(id.to_owned()),
            Some(names::ISOLATION_ROLE) => entry.isolation = Some(id.to_owned()),
            _ => {}
        }
    }
    by_vpc
}

/// Termination protection on and shutdown behaviour `stop`, in parallel.
pub async fn protect_instance(ec2: &Client, instance_id: &str) -> Result<Done, AwsError> {
    let (termination, shutdown) = tokio::join!(
        ec2.modify_instance_attribute()
            .instance_id(instance_id)
            .disable_api_termination(AttributeBooleanValue::builder().value(true).build())
            .send(),
        ec2.modify_instance_attribute()
            .instance_id(instance_id)
            .instance_initiated_shutdown_behavior(AttributeValue::builder().value("stop").build())
            .send(),
    );
    let termination = termination.map_err(sdk("ModifyInstanceAttribute"))?;
    let shutdown = shutdown.map_err(sdk("ModifyInstanceAttribute"))?;
    Ok(Done::new(
        [request_id(&termination), request_id(&shutdown)],
        serde_json::json!({"disable_api_termination": true, "instance_initiated_shutdown_behavior": "stop"}),
    ))
}

/// The groups isolation used in each VPC, as recorded in the isolation step's detail.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct IsolationDetail {
    /// VPC id to (conversion group, isolation group).
    pub groups: BTreeMap<String, QuarantineGroups>,
}

/// Isolates every interface: per VPC, all interfaces to the conversion group, then all to
/// the isolation group. The two waves are sequential; the interfaces in a wave are parallel.
pub async fn isolate(ec2: &Client, vpcs: &[VpcIsolation]) -> Result<Done, AwsError> {
    let mut request_ids = Vec::new();
    let mut detail = IsolationDetail::default();
    for vpc in vpcs {
        let (conversion, isolation) = ensure_groups(ec2, &vpc.vpc_id, &vpc.groups, &mut request_ids).await?;
        for group in [&conversion, &isolation] {
            let results = join_all(vpc.interfaces.iter().map(|eni| {
                ec2.modify_network_interface_attribute()
                    .network_interface_id(eni)
                    .groups(group.as_str())
                    .send()
            }))
            .await;
            for result in results {
                let output = result.map_err(sdk("ModifyNetworkInterfaceAttribute"))?;
                request_ids.push(request_id(&output));
            }
        }
        detail.groups.insert(
            vpc.vpc_id.clone(),
            QuarantineGroups {
                conversion: Some(conversion),
                isolation: Some(isolation),
            },
        );
    }
    Ok(Done::new(request_ids, serde_json::to_value(detail).unwrap_or_default()))
}

/// The VPC's conversion and isolation groups, created when missing.
///
/// A group is complete once it carries the ready tag, which goes on only after its rules are
/// set; a run that died half-way leaves a group without it, which the next run finds by name
/// and finishes.
async fn ensure_groups(
    ec2: &Client,
    vpc_id: &str,
    known: &QuarantineGroups,
    request_ids: &mut Vec<Option<String>>,
) -> Result<(String, String), AwsError> {
    if let (Some(conversion), Some(isolation)) = (&known.conversion, &known.isolation) {
        return Ok((conversion.clone(), isolation.clone()));
    }
    let found = ec2
        .describe_security_groups()
        .filters(filter("vpc-id", &[vpc_id]))
        .filters(filter(
            "group-name",
            &[names::CONVERSION_GROUP_NAME, names::ISOLATION_GROUP_NAME],
        ))
        .send()
        .await
        .map_err(sdk("DescribeSecurityGroups"))?;
    request_ids.push(request_id(&found));
    let complete = quarantine_groups(found.security_groups())
        .remove(vpc_id)
        .unwrap_or_default();
    let by_name = |name: &str| {
        found
            .security_groups()
            .iter()
            .find(|g| g.group_name() == Some(name))
            .and_then(|g| g.group_id())
            .map(ToOwned::to_owned)
    };
    let conversion = if let Some(id) = complete.conversion {
        id
    } else {
        let id = match by_name(names::CONVERSION_GROUP_NAME) {
            Some(id) => id,
            None => create_group(ec2, vpc_id, names::CONVERSION_ROLE, request_ids).await?,
        };
        open_conversion_group(ec2, &id, request_ids).await?;
        mark_ready(ec2, &id, request_ids).await?;
        id
    };
    let isolation = if let Some(id) = complete.isolation {
        id
    } else {
        let id = match by_name(names::ISOLATION_GROUP_NAME) {
            Some(id) => id,
            None => create_group(ec2, vpc_id, names::ISOLATION_ROLE, request_ids).await?,
        };
        close_isolation_group(ec2, &id, request_ids).await?;
        mark_ready(ec2, &id, request_ids).await?;
        id
    };
    Ok((conversion, isolation))
}

/// Creates the group for `role`, tagged with its role at creation (the deployed policy only
/// lets the responder create and change groups that carry it).
async fn create_group(
    ec2: &Client,
    vpc_id: &str,
    role: &str,
    request_ids: &mut Vec<Option<String>>,
) -> Result<String, AwsError> {
    let name = format!("tourniquet-{role}");
    let description = format!("Tourniquet quarantine ({role}); do not attach by hand");
    let tags = TagSpecification::builder()
        .resource_type(ResourceType::SecurityGroup)
        .tags(Tag::builder().key(names::ROLE_TAG).value(role).build())
        .tags(Tag::builder().key("Name").value(&name).build())
        .build();
    match ec2
        .create_security_group()
        .group_name(&name)
        .description(description)
        .vpc_id(vpc_id)
        .tag_specifications(tags)
        .send()
        .await
    {
        Ok(output) => {
            request_ids.push(request_id(&output));
            output
                .group_id()
                .map(ToOwned::to_owned)
                .ok_or_else(|| AwsError::check("CreateSecurityGroup", "MissingGroupId", "no group id returned".into()))
        }
        Err(err) => {
            let err = AwsError::from_sdk("CreateSecurityGroup", &err);
            if err.code != "InvalidGroup.Duplicate" {
                return Err(err);
            }
            // Another invocation created it a moment ago: use theirs.
            let found = ec2
                .describe_security_groups()
                .filters(filter("vpc-id", &[vpc_id]))
                .filters(filter("group-name", &[name.as_str()]))
                .send()
                .await
                .map_err(sdk("DescribeSecurityGroups"))?;
            found
                .security_groups()
                .first()
                .and_then(|g| g.group_id())
                .map(ToOwned::to_owned)
                .ok_or(err)
        }
    }
}

fn all_traffic(v4: bool, v6: bool) -> IpPermission {
    let mut permission = IpPermission::builder().ip_protocol("-1");
    if v4 {
        permission = permission.ip_ranges(IpRange::builder().cidr_ip("0.0.0.0/0").build());
    }
    if v6 {
        permission = permission.ipv6_ranges(Ipv6Range::builder().cidr_ipv6("::/0").build());
    }
    permission.build()
}

/// Converging rule changes: a rule that is already there (or already gone) is success.
fn tolerate(err: AwsError, benign: &str) -> Result<Option<String>, AwsError> {
    if err.code == benign { Ok(None) } else { Err(err) }
}

async fn open_conversion_group(ec2: &Client, id: &str, request_ids: &mut Vec<Option<String>>) -> Result<(), AwsError> {
    let ingress = ec2
        .authorize_security_group_ingress()
        .group_id(id)
        .ip_permissions(all_traffic(true, true))
        .send()
        .await
        .map(|o| request_id(&o))
        .or_else(|e| {
            tolerate(
                AwsError::from_sdk("AuthorizeSecurityGroupIngress", &e),
                "InvalidPermission.Duplicate",
            )
        })?;
    // A new VPC group already allows all IPv4 egress; add IPv6.
    let egress = ec2
        .authorize_security_group_egress()
        .group_id(id)
        .ip_permissions(all_traffic(false, true))
        .send()
        .await
        .map(|o| request_id(&o))
        .or_else(|e| {
            tolerate(
                AwsError::from_sdk("AuthorizeSecurityGroupEgress", &e),
                "InvalidPermission.Duplicate",
            )
        })?;
    request_ids.extend([ingress, egress]);
    Ok(())
}

async fn close_isolation_group(ec2: &Client, id: &str, request_ids: &mut Vec<Option<String>>) -> Result<(), AwsError> {
    let revoked = ec2
        .revoke_security_group_egress()
        .group_id(id)
        .ip_permissions(all_traffic(true, false))
        .send()
        .await
        .map(|o| request_id(&o))
        .or_else(|e| {
            tolerate(
                AwsError::from_sdk("RevokeSecurityGroupEgress", &e),
                "InvalidPermission.NotFound",
            )
        })?;
    request_ids.push(revoked);
    Ok(())
}

/// Marks a group's rules as set: from now on it is used as found.
async fn mark_ready(ec2: &Client, id: &str, request_ids: &mut Vec<Option<String>>) -> Result<(), AwsError> {
    let output = ec2
        .create_tags()
        .resources(id)
        .tags(Tag::builder().key(names::READY_TAG).value(names::READY).build())
        .send()
        .await
        .map_err(sdk("CreateTags"))?;
    request_ids.push(request_id(&output));
    Ok(())
}

/// Disassociates each Elastic IP; one already gone counts as done.
pub async fn disassociate_addresses(ec2: &Client, addresses: &[AddressState]) -> Result<Done, AwsError> {
    let mut request_ids = Vec::new();
    for address in addresses {
        let Some(association) = &address.association_id else {
            continue;
        };
        let id = ec2
            .disassociate_address()
            .association_id(association)
            .send()
            .await
            .map(|o| request_id(&o))
            .or_else(|e| {
                tolerate(
                    AwsError::from_sdk("DisassociateAddress", &e),
                    "InvalidAssociationID.NotFound",
                )
            })?;
        request_ids.push(id);
    }
    Ok(Done::new(
        request_ids,
        serde_json::to_value(addresses).unwrap_or_default(),
    ))
}

/// One crash-consistent snapshot set over every attached volume, tagged at creation. With
/// `look_first`, a set already tagged with the incident and instance is taken as the one.
pub async fn snapshot_volumes(
    ec2: &Client,
    instance_id: &str,
    incident_id: &str,
    tag_pairs: &BTreeMap<String, String>,
    look_first: bool,
) -> Result<Done, AwsError> {
    if look_first {
        let found = ec2
            .describe_snapshots()
            .owner_ids("self")
            .filters(filter(&format!("tag:{}", names::INCIDENT_TAG), &[incident_id]))
            .filters(filter(&format!("tag:{}", names::INSTANCE_TAG), &[instance_id]))
            .send()
            .await
            .map_err(sdk("DescribeSnapshots"))?;
        if !found.snapshots().is_empty() {
            let snapshots: Vec<serde_json::Value> = found
                .snapshots()
                .iter()
                .map(|s| serde_json::json!({"snapshot_id": s.snapshot_id(), "volume_id": s.volume_id()}))
                .collect();
            return Ok(Done::new(
                [request_id(&found)],
                serde_json::json!({
                    "snapshots": snapshots,
                    "adopted": "taken by an earlier invocation that stopped before recording it",
                }),
            ));
        }
    }
    let spec = InstanceSpecification::builder()
        .instance_id(instance_id)
        .exclude_boot_volume(false)
        .build();
    let output = ec2
        .create_snapshots()
        .instance_specification(spec)
        .description(format!("Tourniquet evidence for {incident_id}"))
        .tag_specifications(
            TagSpecification::builder()
                .resource_type(ResourceType::Snapshot)
                .set_tags(Some(tags(tag_pairs)))
                .build(),
        )
        .send()
        .await
        .map_err(sdk("CreateSnapshots"))?;
    let snapshots: Vec<serde_json::Value> = output
        .snapshots()
        .iter()
        .map(|s| serde_json::json!({"snapshot_id": s.snapshot_id(), "volume_id": s.volume_id()}))
        .collect();
    Ok(Done::new(
        [request_id(&output)],
        serde_json::json!({ "snapshots": snapshots }),
    ))
}

/// Tags the instance.
pub async fn tag_instance(
    ec2: &Client,
    instance_id: &str,
    tag_pairs: &BTreeMap<String, String>,
) -> Result<Done, AwsError> {
    let output = ec2
        .create_tags()
        .resources(instance_id)
        .set_tags(Some(tags(tag_pairs)))
        .send()
        .await
        .map_err(sdk("CreateTags"))?;
    Ok(Done::new(
        [request_id(&output)],
        serde_json::to_value(tag_pairs).unwrap_or_default(),
    ))
}

/// Reads the interfaces back: each must carry exactly its VPC's isolation group.
pub async fn verify_isolation(
    ec2: &Client,
    interfaces: &[String],
    isolation: &BTreeMap<String, QuarantineGroups>,
) -> Result<Done, AwsError> {
    let output = ec2
        .describe_network_interfaces()
        .set_network_interface_ids(Some(interfaces.to_vec()))
        .send()
        .await
        .map_err(sdk("DescribeNetworkInterfaces"))?;
    let mut seen = BTreeMap::new();
    let mut wrong = Vec::new();
    for nic in output.network_interfaces() {
        let id = nic.network_interface_id().unwrap_or_default().to_owned();
        let groups: Vec<String> = nic
            .groups()
            .iter()
            .filter_map(|g| g.group_id())
            .map(ToOwned::to_owned)
            .collect();
        let expected = nic
            .vpc_id()
            .and_then(|vpc| isolation.get(vpc))
            .and_then(|g| g.isolation.clone());
        match expected {
            Some(expected) if groups == [expected.clone()] => {}
            Some(expected) => wrong.push(format!("{id} carries {groups:?}, expected only {expected}")),
            None => wrong.push(format!("{id} is in a VPC without an isolation group")),
        }
        seen.insert(id, groups);
    }
    for id in interfaces {
        if !seen.contains_key(id) {
            wrong.push(format!("{id} was not returned"));
        }
    }
    if !wrong.is_empty() {
        return Err(AwsError::check(
            "VerifyIsolation",
            "IsolationIncomplete",
            wrong.join("; "),
        ));
    }
    Ok(Done::new(
        [request_id(&output)],
        serde_json::json!({ "interfaces": seen }),
    ))
}
