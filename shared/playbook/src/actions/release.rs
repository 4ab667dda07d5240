//! Release from quarantine: groups, Elastic IPs, protection and tags back as the evidence says.

use aws_sdk_ec2::Client;
use aws_sdk_ec2::types::{AttributeBooleanValue, AttributeValue, Tag};

use super::{AwsError, Done, request_id, sdk};
use crate::names;
use crate::observation::AddressState;
use crate::plan::InterfaceGroups;

/// Puts each interface's original groups back (one call per interface, in parallel).
pub async fn restore_interfaces(ec2: &Client, interfaces: &[InterfaceGroups]) -> Result<Done, AwsError> {
    let results = futures_util::future::join_all(interfaces.iter().map(|i| {
        ec2.modify_network_interface_attribute()
            .network_interface_id(&i.interface_id)
            .set_groups(Some(i.groups.clone()))
            .send()
    }))
    .await;
    let mut request_ids = Vec::new();
    for result in results {
        request_ids.extend(request_id(&result.map_err(sdk("ModifyNetworkInterfaceAttribute"))?));
    }
    Ok(Done {
        request_ids,
        detail: serde_json::to_value(interfaces).unwrap_or_default(),
    })
}

/// Associates each Elastic IP with the interface and private address it had. An address
/// already on that interface (a retry after the record was lost) counts as done; one taken
/// by anything else is an error, never moved.
pub async fn restore_addresses(ec2: &Client, addresses: &[AddressState]) -> Result<Done, AwsError> {
    let mut request_ids = Vec::new();
    for address in addresses {
        let Some(allocation) = &address.allocation_id else {
            continue;
        };
        let result = ec2
            .associate_address()
            .allocation_id(allocation)
            .set_network_interface_id(address.network_interface_id.clone())
            .set_private_ip_address(address.private_ip.clone())
            .allow_reassociation(false)
            .send()
            .await
            .map_err(sdk("AssociateAddress"));
        match result {
            Ok(output) => request_ids.extend(request_id(&output)),
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
    Ok(Done {
        request_ids,
        detail: serde_json::to_value(addresses).unwrap_or_default(),
    })
}

/// Termination protection and shutdown behaviour back to their recorded values (an unknown
/// value is left as it is).
pub async fn restore_protection(
    ec2: &Client,
    instance_id: &str,
    termination_protection: Option<bool>,
    shutdown_behavior: Option<&str>,
) -> Result<Done, AwsError> {
    let mut request_ids = Vec::new();
    if let Some(value) = termination_protection {
        let output = ec2
            .modify_instance_attribute()
            .instance_id(instance_id)
            .disable_api_termination(AttributeBooleanValue::builder().value(value).build())
            .send()
            .await
            .map_err(sdk("ModifyInstanceAttribute"))?;
        request_ids.extend(request_id(&output));
    }
    if let Some(value) = shutdown_behavior {
        let output = ec2
            .modify_instance_attribute()
            .instance_id(instance_id)
            .instance_initiated_shutdown_behavior(AttributeValue::builder().value(value).build())
            .send()
            .await
            .map_err(sdk("ModifyInstanceAttribute"))?;
        request_ids.extend(request_id(&output));
    }
    Ok(Done {
        request_ids,
        detail: serde_json::json!({
            "disable_api_termination": termination_protection,
            "instance_initiated_shutdown_behavior": shutdown_behavior,
        }),
    })
}

/// Tags the instance released and removes the quarantine tag.
pub async fn mark_released(ec2: &Client, instance_id: &str, released_at: &str) -> Result<Done, AwsError> {
    let tagged = ec2
        .create_tags()
        .resources(instance_id)
        .tags(Tag::builder().key(names::RELEASED_AT_TAG).value(released_at).build())
        .send()
        .await
        .map_err(sdk("CreateTags"))?;
    let untagged = ec2
        .delete_tags()
        .resources(instance_id)
        .tags(Tag::builder().key(names::QUARANTINED_AT_TAG).build())
        .send()
        .await
        .map_err(sdk("DeleteTags"))?;
    Ok(Done {
        request_ids: [request_id(&tagged), request_id(&untagged)]
            .into_iter()
            .flatten()
            .collect(),
        detail: serde_json::json!({ "released_at": released_at }),
    })
}
