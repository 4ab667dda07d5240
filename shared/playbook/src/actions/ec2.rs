//! EC2: describe an instance, then protect, isolate, snapshot, tag and verify it.

use std::collections::BTreeMap;

use aws_sdk_ec2::Client;
use aws_sdk_ec2::config::Config;
use aws_sdk_ec2::config::retry::RetryConfig;
use aws_sdk_ec2::types::{
    AttributeBooleanValue, AttributeValue, EbsInstanceBlockDeviceSpecification, Filter, Instance,
    InstanceAttributeName, InstanceBlockDeviceMappingSpecification, InstanceNetworkInterfaceAttachment,
    InstanceSpecification, IpPermission, IpRange, Ipv6Range, NetworkInterface, ResourceType, SecurityGroup, Tag,
    TagSpecification,
};
use futures_util::future::join_all;

use super::{AwsError, Done, creating, noted, request_id, sdk, tolerate};
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
        Err(err) => return AwsError::from_sdk("DescribeInstances", &err).unavailable(),
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
    if let Some(output) = noted(quarantined.map_err(sdk("DescribeInstances")), &mut notes) {
        let instances = output
            .reservations()
            .iter()
            .flat_map(aws_sdk_ec2::types::Reservation::instances);
        state.quarantined_elsewhere = Some(instances.filter(|i| i.instance_id() != Some(instance_id)).count());
    }
    if let Some(output) = noted(groups.map_err(sdk("DescribeSecurityGroups")), &mut notes) {
        state.quarantine_groups = quarantine_groups(output.security_groups());
    }
    if let Some(output) = noted(addresses.map_err(sdk("DescribeAddresses")), &mut notes) {
        state.addresses = output.addresses().iter().map(address_state).collect();
    }
    if let Some(output) = noted(termination.map_err(sdk("DescribeInstanceAttribute")), &mut notes) {
        state.termination_protection = output.disable_api_termination().and_then(AttributeBooleanValue::value);
    }
    if let Some(output) = noted(shutdown.map_err(sdk("DescribeInstanceAttribute")), &mut notes) {
        let behavior = output
            .instance_initiated_shutdown_behavior()
            .and_then(AttributeValue::value);
        state.shutdown_behavior = behavior.map(ToOwned::to_owned);
    }
    state.notes = notes;
    Observation::Instance(Box::new(state))
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
                delete_on_termination: m.ebs()?.delete_on_termination(),
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
pub async fn protect_instance(ec2: &Client, instance_id: &str, dry_run: bool) -> Result<Done, AwsError> {
    let (termination, shutdown) = tokio::join!(
        ec2.modify_instance_attribute()
            .dry_run(dry_run)
            .instance_id(instance_id)
            .disable_api_termination(AttributeBooleanValue::builder().value(true).build())
            .send(),
        ec2.modify_instance_attribute()
            .dry_run(dry_run)
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

/// Sets `DeleteOnTermination` on the given devices' volumes, in one call: off, so the disks
/// outlive a termination that gets past termination protection; back on, at release.
pub async fn set_delete_on_termination(
    ec2: &Client,
    instance_id: &str,
    devices: &[String],
    delete: bool,
    dry_run: bool,
) -> Result<Done, AwsError> {
    let mappings = devices.iter().map(|device| {
        InstanceBlockDeviceMappingSpecification::builder()
            .device_name(device)
            .ebs(
                EbsInstanceBlockDeviceSpecification::builder()
                    .delete_on_termination(delete)
                    .build(),
            )
            .build()
    });
    let output = ec2
        .modify_instance_attribute()
        .dry_run(dry_run)
        .instance_id(instance_id)
        .set_block_device_mappings(Some(mappings.collect()))
        .send()
        .await
        .map_err(sdk("ModifyInstanceAttribute"))?;
    Ok(Done::new(
        [request_id(&output)],
        serde_json::json!({ "devices": devices, "delete_on_termination": delete }),
    ))
}

/// Isolates every interface: per VPC, all interfaces to the conversion group, then all to
/// the isolation group. The two waves are sequential; the interfaces in a wave are parallel.
///
/// With `resume` (an earlier run may have isolated some interfaces before it stopped), the
/// interfaces are read first and one that already carries only the isolation group is not
/// converted again: the conversion group allows everything, and moving an isolated interface
/// back to it would open a compromised instance for a moment.
pub async fn isolate(ec2: &Client, vpcs: &[VpcIsolation], resume: bool, dry_run: bool) -> Result<Done, AwsError> {
    let mut request_ids = Vec::new();
    let mut groups = BTreeMap::new();
    for vpc in vpcs {
        let (ensured, current) = tokio::join!(ensure_groups(ec2, &vpc.vpc_id, &vpc.groups, dry_run), async {
            if resume {
                interface_groups(ec2, &vpc.interfaces).await.map(Some)
            } else {
                Ok(None)
            }
        });
        let (conversion, isolation, ids) = ensured?;
        request_ids.extend(ids);
        let already: Vec<&String> = match current? {
            Some(current) => vpc
                .interfaces
                .iter()
                .filter(|eni| current.get(*eni).is_some_and(|g| g == std::slice::from_ref(&isolation)))
                .collect(),
            None => Vec::new(),
        };
        let to_convert = vpc.interfaces.iter().filter(|eni| !already.contains(eni));
        for (group, interfaces) in [
            (&conversion, to_convert.collect::<Vec<_>>()),
            (&isolation, vpc.interfaces.iter().collect()),
        ] {
            let results = join_all(interfaces.into_iter().map(|eni| {
                ec2.modify_network_interface_attribute()
                    .dry_run(dry_run)
                    .network_interface_id(eni)
                    .groups(group.as_str())
                    .send()
            }))
            .await;
            for result in results {
                request_ids.push(request_id(&result.map_err(sdk("ModifyNetworkInterfaceAttribute"))?));
            }
        }
        groups.insert(
            vpc.vpc_id.clone(),
            serde_json::json!({"conversion": conversion, "isolation": isolation, "already_isolated": already}),
        );
    }
    Ok(Done::new(request_ids, serde_json::json!({ "groups": groups })))
}

/// Each interface's groups as EC2 reports them now.
async fn interface_groups(ec2: &Client, interfaces: &[String]) -> Result<BTreeMap<String, Vec<String>>, AwsError> {
    let output = ec2
        .describe_network_interfaces()
        .set_network_interface_ids(Some(interfaces.to_vec()))
        .send()
        .await
        .map_err(sdk("DescribeNetworkInterfaces"))?;
    Ok(output
        .network_interfaces()
        .iter()
        .filter_map(|nic| Some((nic.network_interface_id()?.to_owned(), group_ids(nic))))
        .collect())
}

fn group_ids(nic: &NetworkInterface) -> Vec<String> {
    nic.groups()
        .iter()
        .filter_map(|g| g.group_id())
        .map(ToOwned::to_owned)
        .collect()
}

/// The VPC's conversion and isolation groups, created when missing, and the request ids of
/// the calls that took.
///
/// A group is complete once it carries the ready tag, which goes on only after its rules are
/// set; a run that died half-way leaves a group without it, which the next run finds by name
/// and finishes.
async fn ensure_groups(
    ec2: &Client,
    vpc_id: &str,
    known: &QuarantineGroups,
    dry_run: bool,
) -> Result<(String, String, Vec<Option<String>>), AwsError> {
    let mut request_ids = Vec::new();
    if let (Some(conversion), Some(isolation)) = (&known.conversion, &known.isolation) {
        return Ok((conversion.clone(), isolation.clone(), request_ids));
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
    let mut ensured = Vec::new();
    for (role, complete) in [
        (names::CONVERSION_ROLE, complete.conversion),
        (names::ISOLATION_ROLE, complete.isolation),
    ] {
        if let Some(id) = complete {
            ensured.push(id);
            continue;
        }
        let name = format!("tourniquet-{role}");
        let existing = found
            .security_groups()
            .iter()
            .find(|g| g.group_name() == Some(name.as_str()))
            .and_then(|g| g.group_id())
            .map(ToOwned::to_owned);
        let id = match existing {
            Some(id) => id,
            None => create_group(ec2, vpc_id, role, dry_run, &mut request_ids).await?,
        };
        if role == names::CONVERSION_ROLE {
            open_conversion_group(ec2, &id, dry_run, &mut request_ids).await?;
        } else {
            close_isolation_group(ec2, &id, dry_run, &mut request_ids).await?;
        }
        mark_ready(ec2, &id, dry_run, &mut request_ids).await?;
        ensured.push(id);
    }
    let [conversion, isolation] = <[String; 2]>::try_from(ensured).map_err(|_| {
        AwsError::check(
            "EnsureGroups",
            "QuarantineGroupsIncomplete",
            format!("VPC {vpc_id}: not both quarantine groups could be had"),
        )
    })?;
    Ok((conversion, isolation, request_ids))
}

/// Creates the group for `role`, tagged with its role at creation (the deployed policy only
/// lets the responder create and change groups that carry it).
async fn create_group(
    ec2: &Client,
    vpc_id: &str,
    role: &str,
    dry_run: bool,
    request_ids: &mut Vec<Option<String>>,
) -> Result<String, AwsError> {
    let name = format!("tourniquet-{role}");
    let description = format!("Tourniquet quarantine ({role}); do not attach by hand");
    let tags = TagSpecification::builder()
        .resource_type(ResourceType::SecurityGroup)
        .tags(Tag::builder().key(names::ROLE_TAG).value(role).build())
        .tags(Tag::builder().key("Name").value(&name).build())
        .build();
    let created = ec2
        .create_security_group()
        .dry_run(dry_run)
        .group_name(&name)
        .description(description)
        .vpc_id(vpc_id)
        .tag_specifications(tags)
        .send()
        .await
        .map_err(sdk("CreateSecurityGroup"));
    if let Some(output) = tolerate(created, "InvalidGroup.Duplicate")? {
        request_ids.push(request_id(&output));
        return output
            .group_id()
            .map(ToOwned::to_owned)
            .ok_or_else(|| AwsError::check("CreateSecurityGroup", "MissingGroupId", "no group id returned".into()));
    }
    // Another invocation created it a moment ago: use theirs.
    let found = ec2
        .describe_security_groups()
        .filters(filter("vpc-id", &[vpc_id]))
        .filters(filter("group-name", &[name.as_str()]))
        .send()
        .await
        .map_err(sdk("DescribeSecurityGroups"))?;
    request_ids.push(request_id(&found));
    found
        .security_groups()
        .first()
        .and_then(|g| g.group_id())
        .map(ToOwned::to_owned)
        .ok_or_else(|| {
            AwsError::check(
                "DescribeSecurityGroups",
                "InvalidGroup.NotFound",
                format!("{name} was reported as a duplicate in {vpc_id} but cannot be found"),
            )
        })
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

async fn open_conversion_group(
    ec2: &Client,
    id: &str,
    dry_run: bool,
    request_ids: &mut Vec<Option<String>>,
) -> Result<(), AwsError> {
    let ingress = ec2
        .authorize_security_group_ingress()
        .dry_run(dry_run)
        .group_id(id)
        .ip_permissions(all_traffic(true, true))
        .send()
        .await
        .map(|o| request_id(&o))
        .map_err(sdk("AuthorizeSecurityGroupIngress"));
    // A new VPC group already allows all IPv4 egress; add IPv6.
    let egress = ec2
        .authorize_security_group_egress()
        .dry_run(dry_run)
        .group_id(id)
        .ip_permissions(all_traffic(false, true))
        .send()
        .await
        .map(|o| request_id(&o))
        .map_err(sdk("AuthorizeSecurityGroupEgress"));
    request_ids.extend(tolerate(ingress, "InvalidPermission.Duplicate")?);
    request_ids.extend(tolerate(egress, "InvalidPermission.Duplicate")?);
    Ok(())
}

/// Takes away the egress a new group starts with, IPv4 and (in a dual-stack VPC) IPv6: the
/// isolation group has no rules at all.
async fn close_isolation_group(
    ec2: &Client,
    id: &str,
    dry_run: bool,
    request_ids: &mut Vec<Option<String>>,
) -> Result<(), AwsError> {
    for (v4, v6) in [(true, false), (false, true)] {
        let revoked = ec2
            .revoke_security_group_egress()
            .dry_run(dry_run)
            .group_id(id)
            .ip_permissions(all_traffic(v4, v6))
            .send()
            .await
            .map(|o| request_id(&o))
            .map_err(sdk("RevokeSecurityGroupEgress"));
        request_ids.extend(tolerate(revoked, "InvalidPermission.NotFound")?);
    }
    Ok(())
}

/// Marks a group's rules as set: from now on it is used as found.
async fn mark_ready(
    ec2: &Client,
    id: &str,
    dry_run: bool,
    request_ids: &mut Vec<Option<String>>,
) -> Result<(), AwsError> {
    let output = ec2
        .create_tags()
        .dry_run(dry_run)
        .resources(id)
        .tags(Tag::builder().key(names::READY_TAG).value(names::READY).build())
        .send()
        .await
        .map_err(sdk("CreateTags"))?;
    request_ids.push(request_id(&output));
    Ok(())
}

/// Disassociates each Elastic IP; one already gone counts as done.
pub async fn disassociate_addresses(ec2: &Client, addresses: &[AddressState], dry_run: bool) -> Result<Done, AwsError> {
    let mut request_ids = Vec::new();
    for address in addresses {
        let Some(association) = &address.association_id else {
            continue;
        };
        let result = ec2
            .disassociate_address()
            .dry_run(dry_run)
            .association_id(association)
            .send()
            .await
            .map(|o| request_id(&o))
            .map_err(sdk("DisassociateAddress"));
        request_ids.extend(tolerate(result, "InvalidAssociationID.NotFound")?);
    }
    Ok(Done::new(request_ids, serde_json::json!({ "addresses": addresses })))
}

/// One crash-consistent snapshot set over every attached volume, tagged at creation. With
/// `look_first`, a set already tagged with the incident and instance is taken as the one.
/// `CreateSnapshots` has no idempotency token: it is never retried blind (the SDK's retries
/// are off for it), and after an attempt whose answer was lost, the tagged set is looked for
/// before another.
pub async fn snapshot_volumes(
    ec2: &Client,
    instance_id: &str,
    incident_id: &str,
    tag_pairs: &BTreeMap<String, String>,
    look_first: bool,
    dry_run: bool,
) -> Result<Done, AwsError> {
    let find = || find_snapshot_set(ec2, instance_id, incident_id);
    if look_first
        && !dry_run
        && let Some(found) = find().await?
    {
        return Ok(found);
    }
    let spec = InstanceSpecification::builder()
        .instance_id(instance_id)
        .exclude_boot_volume(false)
        .build();
    let create = || {
        let sent = ec2
            .create_snapshots()
            .dry_run(dry_run)
            .instance_specification(spec.clone())
            .description(format!("Tourniquet evidence for {incident_id}"))
            .tag_specifications(
                TagSpecification::builder()
                    .resource_type(ResourceType::Snapshot)
                    .set_tags(Some(tags(tag_pairs)))
                    .build(),
            )
            .customize()
            .config_override(Config::builder().retry_config(RetryConfig::disabled()))
            .send();
        async move {
            sent.await.map(|output| {
                Done::new(
                    [request_id(&output)],
                    serde_json::json!({ "snapshots": output
                        .snapshots()
                        .iter()
                        .map(|s| serde_json::json!({"snapshot_id": s.snapshot_id(), "volume_id": s.volume_id()}))
                        .collect::<Vec<_>>() }),
                )
            })
        }
    };
    let (done, _) = creating::create_or_find("CreateSnapshots", create, find).await?;
    Ok(done)
}

/// The snapshot set tagged with the incident and the instance, if one was taken.
async fn find_snapshot_set(ec2: &Client, instance_id: &str, incident_id: &str) -> Result<Option<Done>, AwsError> {
    let found = ec2
        .describe_snapshots()
        .owner_ids("self")
        .filters(filter(&format!("tag:{}", names::INCIDENT_TAG), &[incident_id]))
        .filters(filter(&format!("tag:{}", names::INSTANCE_TAG), &[instance_id]))
        .send()
        .await
        .map_err(sdk("DescribeSnapshots"))?;
    Ok((!found.snapshots().is_empty()).then(|| {
        Done::new(
            [request_id(&found)],
            serde_json::json!({
                "snapshots": snapshot_list(found.snapshots()),
                "adopted": "taken by an attempt whose answer was lost, or an earlier invocation that stopped before recording it",
            }),
        )
    }))
}

fn snapshot_list(snapshots: &[aws_sdk_ec2::types::Snapshot]) -> Vec<serde_json::Value> {
    snapshots
        .iter()
        .map(|s| serde_json::json!({"snapshot_id": s.snapshot_id(), "volume_id": s.volume_id()}))
        .collect()
}

/// Tags the instance.
pub async fn tag_instance(
    ec2: &Client,
    instance_id: &str,
    tag_pairs: &BTreeMap<String, String>,
    dry_run: bool,
) -> Result<Done, AwsError> {
    let output = ec2
        .create_tags()
        .dry_run(dry_run)
        .resources(instance_id)
        .set_tags(Some(tags(tag_pairs)))
        .send()
        .await
        .map_err(sdk("CreateTags"))?;
    Ok(Done::new(
        [request_id(&output)],
        serde_json::json!({ "tags": tag_pairs }),
    ))
}

/// Reads the interfaces and the quarantine groups back, together: each interface must carry
/// exactly its VPC's isolation group, and that group must have no rules at all (a rule
/// someone added to the shared group would open every instance isolated with it).
pub async fn verify_isolation(ec2: &Client, interfaces: &[String]) -> Result<Done, AwsError> {
    let (nics, groups) = tokio::join!(
        ec2.describe_network_interfaces()
            .set_network_interface_ids(Some(interfaces.to_vec()))
            .send(),
        ec2.describe_security_groups()
            .filters(filter(&format!("tag:{}", names::ROLE_TAG), &[names::ISOLATION_ROLE]))
            .send(),
    );
    let nics = nics.map_err(sdk("DescribeNetworkInterfaces"))?;
    let groups = groups.map_err(sdk("DescribeSecurityGroups"))?;
    let isolation = quarantine_groups(groups.security_groups());
    let mut seen = BTreeMap::new();
    let mut wrong = Vec::new();
    for nic in nics.network_interfaces() {
        let id = nic.network_interface_id().unwrap_or_default().to_owned();
        let carried = group_ids(nic);
        let expected = nic
            .vpc_id()
            .and_then(|vpc| isolation.get(vpc))
            .and_then(|g| g.isolation.clone());
        match expected {
            Some(expected) if carried == std::slice::from_ref(&expected) => {}
            Some(expected) => wrong.push(format!("{id} carries {carried:?}, expected only {expected}")),
            None => wrong.push(format!("{id} is in a VPC without a ready isolation group")),
        }
        seen.insert(id, carried);
    }
    for id in interfaces {
        if !seen.contains_key(id) {
            wrong.push(format!("{id} was not returned"));
        }
    }
    for group in groups.security_groups() {
        let rules: Vec<String> = super::posture::rules(group.ip_permissions())
            .iter()
            .map(|r| format!("ingress {}", r.describe()))
            .chain(
                super::posture::rules(group.ip_permissions_egress())
                    .iter()
                    .map(|r| format!("egress {}", r.describe())),
            )
            .collect();
        let used = seen
            .values()
            .any(|carried| carried.iter().any(|g| Some(g.as_str()) == group.group_id()));
        if used && !rules.is_empty() {
            wrong.push(format!(
                "isolation group {} has rules it must not have: {}",
                group.group_id().unwrap_or_default(),
                rules.join("; ")
            ));
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
        [request_id(&nics), request_id(&groups)],
        serde_json::json!({ "interfaces": seen }),
    ))
}
