//! Posture fixes for AWS Config: security group rules, bucket public access and encryption,
//! the user behind an IAM user id, and the rule that judged them.

use aws_sdk_ec2::types::{IpPermission, IpRange, Ipv6Range, PrefixListId, UserIdGroupPair};
use aws_sdk_s3::types::{
    PublicAccessBlockConfiguration, ServerSideEncryption, ServerSideEncryptionByDefault,
    ServerSideEncryptionConfiguration, ServerSideEncryptionRule,
};

use super::{AwsError, Done, iam, request_id, sdk, tolerate};
use crate::observation::{BucketState, ConfigRuleState, GroupRule, Observation, SecurityGroupState};

/// Flattens a permission into one rule per source.
pub(crate) fn rules(permissions: &[IpPermission]) -> Vec<GroupRule> {
    let mut out = Vec::new();
    for p in permissions {
        let base = GroupRule {
            protocol: p.ip_protocol().unwrap_or("-1").to_owned(),
            from_port: p.from_port(),
            to_port: p.to_port(),
            ..GroupRule::default()
        };
        for r in p.ip_ranges() {
            out.push(GroupRule {
                cidr_ipv4: r.cidr_ip().map(ToOwned::to_owned),
                description: r.description().map(ToOwned::to_owned),
                ..base.clone()
            });
        }
        for r in p.ipv6_ranges() {
            out.push(GroupRule {
                cidr_ipv6: r.cidr_ipv6().map(ToOwned::to_owned),
                description: r.description().map(ToOwned::to_owned),
                ..base.clone()
            });
        }
        for g in p.user_id_group_pairs() {
            out.push(GroupRule {
                source_group: g.group_id().map(ToOwned::to_owned),
                description: g.description().map(ToOwned::to_owned),
                ..base.clone()
            });
        }
        for l in p.prefix_list_ids() {
            out.push(GroupRule {
                prefix_list: l.prefix_list_id().map(ToOwned::to_owned),
                description: l.description().map(ToOwned::to_owned),
                ..base.clone()
            });
        }
    }
    out
}

/// A rule back into the one-source permission that revokes exactly it.
pub(crate) fn permission(rule: &GroupRule) -> IpPermission {
    let mut p = IpPermission::builder()
        .ip_protocol(&rule.protocol)
        .set_from_port(rule.from_port)
        .set_to_port(rule.to_port);
    if let Some(cidr) = &rule.cidr_ipv4 {
        p = p.ip_ranges(IpRange::builder().cidr_ip(cidr).build());
    }
    if let Some(cidr) = &rule.cidr_ipv6 {
        p = p.ipv6_ranges(Ipv6Range::builder().cidr_ipv6(cidr).build());
    }
    if let Some(group) = &rule.source_group {
        p = p.user_id_group_pairs(UserIdGroupPair::builder().group_id(group).build());
    }
    if let Some(list) = &rule.prefix_list {
        p = p.prefix_list_ids(PrefixListId::builder().prefix_list_id(list).build());
    }
    p.build()
}

/// Describes a security group: tags and every rule.
pub async fn observe_security_group(ec2: &aws_sdk_ec2::Client, group_id: &str) -> Observation {
    let output = match ec2.describe_security_groups().group_ids(group_id).send().await {
        Ok(output) => output,
        Err(err) => return AwsError::from_sdk("DescribeSecurityGroups", &err).unavailable(),
    };
    let Some(group) = output.security_groups().first() else {
        return Observation::Unavailable {
            code: "InvalidGroup.NotFound".to_owned(),
            message: format!("no security group {group_id}"),
        };
    };
    Observation::SecurityGroup(Box::new(SecurityGroupState {
        group_id: group_id.to_owned(),
        group_name: group.group_name().map(ToOwned::to_owned),
        vpc_id: group.vpc_id().map(ToOwned::to_owned),
        tags: group
            .tags()
            .iter()
            .filter_map(|t| Some((t.key()?.to_owned(), t.value().unwrap_or_default().to_owned())))
            .collect(),
        ingress: rules(group.ip_permissions()),
        egress: rules(group.ip_permissions_egress()),
        rule: None,
    }))
}

/// Revokes exactly the given rules. A rule already gone counts as done.
pub async fn revoke_rules(
    ec2: &aws_sdk_ec2::Client,
    group_id: &str,
    ingress: &[GroupRule],
    egress: &[GroupRule],
    dry_run: bool,
) -> Result<Done, AwsError> {
    let mut request_ids = Vec::new();
    for rule in ingress {
        let result = ec2
            .revoke_security_group_ingress()
            .dry_run(dry_run)
            .group_id(group_id)
            .ip_permissions(permission(rule))
            .send()
            .await
            .map(|o| request_id(&o))
            .map_err(sdk("RevokeSecurityGroupIngress"));
        request_ids.extend(tolerate(result, "InvalidPermission.NotFound")?);
    }
    for rule in egress {
        let result = ec2
            .revoke_security_group_egress()
            .dry_run(dry_run)
            .group_id(group_id)
            .ip_permissions(permission(rule))
            .send()
            .await
            .map(|o| request_id(&o))
            .map_err(sdk("RevokeSecurityGroupEgress"));
        request_ids.extend(tolerate(result, "InvalidPermission.NotFound")?);
    }
    let removed: Vec<String> = ingress.iter().chain(egress).map(GroupRule::describe).collect();
    Ok(Done::new(
        request_ids,
        serde_json::json!({"group": group_id, "revoked": removed, "ingress": ingress, "egress": egress}),
    ))
}

/// Describes a bucket: tags, public access block, default encryption, in parallel.
pub async fn observe_bucket(s3: &aws_sdk_s3::Client, bucket: &str) -> Observation {
    let (tags, block, encryption) = tokio::join!(
        s3.get_bucket_tagging().bucket(bucket).send(),
        s3.get_public_access_block().bucket(bucket).send(),
        s3.get_bucket_encryption().bucket(bucket).send(),
    );
    let mut state = BucketState {
        name: bucket.to_owned(),
        ..BucketState::default()
    };
    match tags.map_err(sdk("GetBucketTagging")) {
        Ok(output) => {
            state.tags = Some(
                output
                    .tag_set()
                    .iter()
                    .map(|t| (t.key().to_owned(), t.value().to_owned()))
                    .collect(),
            );
        }
        Err(err) if err.code == "NoSuchTagSet" => state.tags = Some(std::collections::BTreeMap::new()),
        Err(err) if err.code == "NoSuchBucket" => return err.unavailable(),
        Err(err) => state.tags_error = Some(err.code),
    }
    match block.map_err(sdk("GetPublicAccessBlock")) {
        Ok(output) => {
            state.public_access_block = output.public_access_block_configuration().map(|c| {
                [
                    c.block_public_acls().unwrap_or(false),
                    c.ignore_public_acls().unwrap_or(false),
                    c.block_public_policy().unwrap_or(false),
                    c.restrict_public_buckets().unwrap_or(false),
                ]
            });
        }
        Err(err) if err.code == "NoSuchPublicAccessBlockConfiguration" => {}
        Err(err) => state.notes.push(err.to_string()),
    }
    match encryption.map_err(sdk("GetBucketEncryption")) {
        Ok(output) => {
            state.encryption = output
                .server_side_encryption_configuration()
                .and_then(|c| c.rules().first())
                .and_then(|r| r.apply_server_side_encryption_by_default())
                .map(|d| d.sse_algorithm().as_str().to_owned());
        }
        Err(err) if err.code == "ServerSideEncryptionConfigurationNotFoundError" => {}
        Err(err) => state.notes.push(err.to_string()),
    }
    Observation::Bucket(Box::new(state))
}

/// Public access block with all four settings on.
pub async fn block_public_access(s3: &aws_sdk_s3::Client, bucket: &str) -> Result<Done, AwsError> {
    let output = s3
        .put_public_access_block()
        .bucket(bucket)
        .public_access_block_configuration(
            PublicAccessBlockConfiguration::builder()
                .block_public_acls(true)
                .ignore_public_acls(true)
                .block_public_policy(true)
                .restrict_public_buckets(true)
                .build(),
        )
        .send()
        .await
        .map_err(sdk("PutPublicAccessBlock"))?;
    Ok(Done::new(
        [request_id(&output)],
        serde_json::json!({"bucket": bucket, "public_access_block": [true, true, true, true]}),
    ))
}

/// Default encryption: SSE-KMS with `kms_key_id` (and a bucket key), else SSE-S3.
pub async fn set_default_encryption(
    s3: &aws_sdk_s3::Client,
    bucket: &str,
    kms_key_id: Option<&str>,
) -> Result<Done, AwsError> {
    let by_default = match kms_key_id {
        Some(key) => ServerSideEncryptionByDefault::builder()
            .sse_algorithm(ServerSideEncryption::AwsKms)
            .kms_master_key_id(key),
        None => ServerSideEncryptionByDefault::builder().sse_algorithm(ServerSideEncryption::Aes256),
    }
    .build()
    .map_err(|e| AwsError::check("PutBucketEncryption", "InvalidRequest", e.to_string()))?;
    let configuration = ServerSideEncryptionConfiguration::builder()
        .rules(
            ServerSideEncryptionRule::builder()
                .apply_server_side_encryption_by_default(by_default)
                .bucket_key_enabled(kms_key_id.is_some())
                .build(),
        )
        .build()
        .map_err(|e| AwsError::check("PutBucketEncryption", "InvalidRequest", e.to_string()))?;
    let output = s3
        .put_bucket_encryption()
        .bucket(bucket)
        .server_side_encryption_configuration(configuration)
        .send()
        .await
        .map_err(sdk("PutBucketEncryption"))?;
    let algorithm = if kms_key_id.is_some() { "aws:kms" } else { "AES256" };
    Ok(Done::new(
        [request_id(&output)],
        serde_json::json!({"bucket": bucket, "algorithm": algorithm, "kms_key_id": kms_key_id}),
    ))
}

/// The user whose id (`AIDA...`) Config names, described like any other user.
pub async fn observe_user_by_id(client: &aws_sdk_iam::Client, user_id: &str) -> Observation {
    let mut pages = client.list_users().into_paginator().send();
    while let Some(page) = pages.next().await {
        match page.map_err(sdk("ListUsers")) {
            Ok(page) => {
                if let Some(user) = page.users().iter().find(|u| u.user_id() == user_id) {
                    return iam::observe_user(client, user.user_name(), None).await;
                }
            }
            Err(err) => return err.unavailable(),
        }
    }
    Observation::Unavailable {
        code: "NoSuchEntity".to_owned(),
        message: format!("no IAM user with id {user_id}"),
    }
}

/// The Config rule `name` as configured: its parameters (a JSON document of strings, numbers
/// accepted) or why they could not be read.
pub async fn observe_rule(config: &aws_sdk_config::Client, name: &str) -> ConfigRuleState {
    let mut state = ConfigRuleState {
        name: name.to_owned(),
        ..ConfigRuleState::default()
    };
    let output = match config.describe_config_rules().config_rule_names(name).send().await {
        Ok(output) => output,
        Err(err) => {
            let err = AwsError::from_sdk("DescribeConfigRules", &err);
            state.error = Some(format!("{}: {}", err.code, err.message));
            return state;
        }
    };
    let Some(rule) = output
        .config_rules()
        .iter()
        .find(|r| r.config_rule_name() == Some(name))
    else {
        state.error = Some(format!("NoSuchConfigRuleException: no Config rule named {name}"));
        return state;
    };
    let parameters = rule.input_parameters().unwrap_or("{}");
    match serde_json::from_str::<serde_json::Map<String, serde_json::Value>>(parameters) {
        Ok(map) => {
            state.parameters = map
                .into_iter()
                .filter_map(|(key, value)| match value {
                    serde_json::Value::String(text) => Some((key, text)),
                    serde_json::Value::Number(number) => Some((key, number.to_string())),
                    _ => None,
                })
                .collect();
        }
        Err(err) => state.error = Some(format!("UnreadableInputParameters: {err}")),
    }
    state
}
