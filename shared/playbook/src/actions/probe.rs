//! Dry-run probes: would the deployed role be allowed to make a step's EC2 call? (`DryRun`)

use aws_sdk_ec2::Client;
use aws_sdk_ec2::types::{AttributeBooleanValue, InstanceSpecification, ResourceType, Tag, TagSpecification};

use super::posture::permission;
use super::{AwsError, sdk};
use crate::names;
use crate::observation::GroupRule;
use crate::plan::{Step, VpcIsolation};

fn tag_specification(kind: ResourceType, tags: impl IntoIterator<Item = (String, String)>) -> TagSpecification {
    let tags = tags.into_iter().map(|(k, v)| Tag::builder().key(k).value(v).build());
    TagSpecification::builder()
        .resource_type(kind)
        .set_tags(Some(tags.collect()))
        .build()
}

/// Makes the step's first EC2 call with `DryRun`, which changes nothing, and says what EC2
/// answered. The probe carries what the real call carries (tags included), since the deployed
/// policy looks at them. Steps on services without `DryRun` (IAM, S3, Auto Scaling) are not
/// probed.
pub async fn probe(ec2: &Client, step: &Step) -> String {
    let result = match step {
        Step::ProtectInstance { instance_id } => ec2
            .modify_instance_attribute()
            .dry_run(true)
            .instance_id(instance_id)
            .disable_api_termination(AttributeBooleanValue::builder().value(true).build())
            .send()
            .await
            .map(drop)
            .map_err(sdk("ModifyInstanceAttribute")),
        Step::IsolateInterfaces { vpcs, .. } => match vpcs.first() {
            Some(vpc) => isolate(ec2, vpc).await,
            None => return "not probed: no interface".to_owned(),
        },
        Step::DisassociateAddresses { addresses, .. } => {
            let Some(association) = addresses.iter().find_map(|a| a.association_id.as_deref()) else {
                return "not probed: no association".to_owned();
            };
            ec2.disassociate_address()
                .dry_run(true)
                .association_id(association)
                .send()
                .await
                .map(drop)
                .map_err(sdk("DisassociateAddress"))
        }
        Step::SnapshotVolumes { instance_id, tags, .. } => ec2
            .create_snapshots()
            .dry_run(true)
            .instance_specification(InstanceSpecification::builder().instance_id(instance_id).build())
            .tag_specifications(tag_specification(ResourceType::Snapshot, tags.clone()))
            .send()
            .await
            .map(drop)
            .map_err(sdk("CreateSnapshots")),
        Step::TagInstance { instance_id, tags } => ec2
            .create_tags()
            .dry_run(true)
            .resources(instance_id)
            .set_tags(Some(
                tags.iter()
                    .map(|(k, v)| Tag::builder().key(k).value(v).build())
                    .collect(),
            ))
            .send()
            .await
            .map(drop)
            .map_err(sdk("CreateTags")),
        Step::RevokeGroupRules {
            group_id,
            ingress,
            egress,
        } => match revoke(ec2, group_id, ingress, egress).await {
            Some(result) => result,
            None => return "not probed: no rule".to_owned(),
        },
        _ => return "not probed: the service has no DryRun".to_owned(),
    };
    verdict(result)
}

/// Moving an interface to the isolation group, or creating the group when there is none yet.
async fn isolate(ec2: &Client, vpc: &VpcIsolation) -> Result<(), AwsError> {
    if let (Some(group), Some(eni)) = (&vpc.groups.isolation, vpc.interfaces.first()) {
        ec2.modify_network_interface_attribute()
            .dry_run(true)
            .network_interface_id(eni)
            .groups(group)
            .send()
            .await
            .map(drop)
            .map_err(sdk("ModifyNetworkInterfaceAttribute"))
    } else {
        let tags = [
            (names::ROLE_TAG.to_owned(), names::ISOLATION_ROLE.to_owned()),
            ("Name".to_owned(), names::ISOLATION_GROUP_NAME.to_owned()),
        ];
        ec2.create_security_group()
            .dry_run(true)
            .group_name(names::ISOLATION_GROUP_NAME)
            .description("Tourniquet quarantine (isolation); do not attach by hand")
            .vpc_id(&vpc.vpc_id)
            .tag_specifications(tag_specification(ResourceType::SecurityGroup, tags))
            .send()
            .await
            .map(drop)
            .map_err(sdk("CreateSecurityGroup"))
    }
}

/// Revoking the first rule; `None` when there is none.
async fn revoke(
    ec2: &Client,
    group_id: &str,
    ingress: &[GroupRule],
    egress: &[GroupRule],
) -> Option<Result<(), AwsError>> {
    if let Some(rule) = ingress.first() {
        let request = ec2.revoke_security_group_ingress().dry_run(true).group_id(group_id);
        let result = request.ip_permissions(permission(rule)).send().await;
        return Some(result.map(drop).map_err(sdk("RevokeSecurityGroupIngress")));
    }
    let rule = egress.first()?;
    let request = ec2.revoke_security_group_egress().dry_run(true).group_id(group_id);
    let result = request.ip_permissions(permission(rule)).send().await;
    Some(result.map(drop).map_err(sdk("RevokeSecurityGroupEgress")))
}

fn verdict(result: Result<(), AwsError>) -> String {
    match result {
        Err(err) if err.code == "DryRunOperation" => "the deployed role is allowed".to_owned(),
        Err(err) if err.code == "UnauthorizedOperation" || err.code == "AccessDenied" => {
            format!("the deployed role would be denied: {}", err.code)
        }
        Err(err) => format!("probe failed: {}", err.code),
        Ok(()) => "probe accepted without DryRun".to_owned(),
    }
}
