//! config-responder: exactly the offending rules, bucket protection, stale keys, and the guards.

use anyhow::Result;
use playbook::{Playbook, Response, Settings, Source, report::StepReport};
use tourniquet_tests::events;
use tourniquet_tests::world::{World, put_config_rule};

use crate::world;

async fn config_responder(world: &World, settings: Settings) -> Result<playbook::Responder> {
    Ok(world
        .responder_as("config-responder", settings)
        .await?
        .accepting(&[Source::Config]))
}

async fn respond(world: &World, sample: &str) -> Result<playbook::Report> {
    let response = config_responder(world, world.settings())
        .await?
        .handle(events::for_world(sample, world)?)
        .await?;
    response.report().ok_or_else(|| anyhow::anyhow!("{sample} was ignored"))
}

#[tokio::test]
async fn world_open_ssh_is_revoked_and_every_other_rule_stays() -> Result<()> {
    let world = world().await?;
    let (before, egress_before) = world.group_rules(&world.web_group).await?;
    assert!(before.contains(&"tcp 22 from 0.0.0.0/0".to_owned()), "{before:?}");
    let report = respond(&world, "config/restricted-ssh-noncompliant.json").await?;
    assert_eq!(report.playbook, Playbook::CloseOpenPorts);
    assert!(report.steps.iter().all(StepReport::done_now), "{report:#?}");

    let (after, egress_after) = world.group_rules(&world.web_group).await?;
    let expected: Vec<String> = before
        .iter()
        .filter(|r| *r != "tcp 22 from 0.0.0.0/0")
        .cloned()
        .collect();
    assert_eq!(after, expected, "only the world-open SSH rule is gone");
    assert!(
        after.contains(&"tcp 443 from 10.20.0.0/16".to_owned()),
        "the internal 443 rule stays"
    );
    assert_eq!(egress_after, egress_before);

    // The removed rule is in the evidence, so a person can restore it.
    let plan = world
        .evidence(&format!("incidents/{}/plan.json", report.incident_id))
        .await?;
    let revoked = &plan["steps"][1]["step"]["ingress"];
    assert_eq!(revoked[0]["cidr_ipv4"], "0.0.0.0/0");
    assert_eq!(revoked[0]["from_port"], 22);
    let pages = world.pages().await?;
    assert_eq!(pages.len(), 1);
    assert!(pages[0].subject.ends_with("open rules revoked"), "{}", pages[0].subject);
    Ok(())
}

#[tokio::test]
async fn common_ports_and_authorized_ports_rules() -> Result<()> {
    let world = world().await?;
    // Open 3389 to the world as well: restricted-common-ports takes it, and leaves 22/80/443.
    world
        .account
        .clients
        .ec2
        .authorize_security_group_ingress()
        .group_id(&world.web_group)
        .ip_protocol("tcp")
        .from_port(3389)
        .to_port(3389)
        .cidr_ip("0.0.0.0/0")
        .send()
        .await?;
    respond(&world, "config/restricted-common-ports-noncompliant.json").await?;
    let (after, _) = world.group_rules(&world.web_group).await?;
    assert!(!after.contains(&"tcp 3389 from 0.0.0.0/0".to_owned()), "{after:?}");
    assert!(after.contains(&"tcp 22 from 0.0.0.0/0".to_owned()), "{after:?}");

    // Only 443 may be open to the world: 22 and 80 go, 443 and the internal rule stay.
    respond(&world, "config/vpc-sg-open-only-to-authorized-ports-noncompliant.json").await?;
    let (after, _) = world.group_rules(&world.web_group).await?;
    assert_eq!(after, ["tcp 443 from 0.0.0.0/0", "tcp 443 from 10.20.0.0/16"]);
    Ok(())
}

#[tokio::test]
async fn the_rule_as_configured_decides_what_goes() -> Result<()> {
    let world = world().await?;
    // The rule authorizes 80 as well: the event does not say so, DescribeConfigRules does.
    put_config_rule(
        &world.account,
        "vpc-sg-open-only-to-authorized-ports",
        "VPC_SG_OPEN_ONLY_TO_AUTHORIZED_PORTS",
        r#"{"authorizedTcpPorts":"80,443"}"#,
    )
    .await?;
    let report = respond(&world, "config/vpc-sg-open-only-to-authorized-ports-noncompliant.json").await?;
    let (after, _) = world.group_rules(&world.web_group).await?;
    assert_eq!(
        after,
        [
            "tcp 443 from 0.0.0.0/0",
            "tcp 443 from 10.20.0.0/16",
            "tcp 80 from 0.0.0.0/0"
        ]
    );
    let pre = world
        .evidence(&format!("incidents/{}/pre-state.json", report.incident_id))
        .await?;
    assert_eq!(pre["rule"]["parameters"]["authorizedTcpPorts"], "80,443");

    // The rule allows keys a year old; the event's own (non-AWS) parameter says 90 days.
    put_config_rule(
        &world.account,
        "access-keys-rotated",
        "ACCESS_KEYS_ROTATED",
        r#"{"maxAccessKeyAge":"365"}"#,
    )
    .await?;
    let report = respond(&world, "config/access-keys-rotated-noncompliant.json").await?;
    assert_eq!(report.playbook, Playbook::PageOnly);
    assert!(report.reason.contains("older than 365 days"), "{}", report.reason);
    assert_eq!(world.deployer_key_status().await?, ["Active", "Active"]);
    Ok(())
}

#[tokio::test]
async fn a_rule_that_cannot_be_read_pages_and_changes_nothing() -> Result<()> {
    let world = world().await?;
    world
        .account
        .clients
        .config
        .delete_config_rule()
        .config_rule_name("vpc-sg-open-only-to-authorized-ports")
        .send()
        .await?;
    let before = world.group_rules(&world.web_group).await?;
    let report = respond(&world, "config/vpc-sg-open-only-to-authorized-ports-noncompliant.json").await?;
    assert_eq!(report.playbook, Playbook::PageOnly);
    assert!(report.reason.contains("could not be read"), "{}", report.reason);
    assert_eq!(world.group_rules(&world.web_group).await?, before);
    assert_eq!(world.pages().await?.len(), 1);

    // restricted-ssh has no parameters: it acts whether or not its rule reads.
    world
        .account
        .clients
        .config
        .delete_config_rule()
        .config_rule_name("securityhub-restricted-ssh-a1b2c3")
        .send()
        .await?;
    let report = respond(&world, "config/restricted-ssh-noncompliant.json").await?;
    assert_eq!(report.playbook, Playbook::CloseOpenPorts);
    Ok(())
}

#[tokio::test]
async fn the_default_group_is_closed_entirely() -> Result<()> {
    let world = world().await?;
    let (ingress, egress) = world.group_rules(&world.default_group).await?;
    assert!(
        !ingress.is_empty() || !egress.is_empty(),
        "the default group starts with rules"
    );
    respond(&world, "config/vpc-default-security-group-closed-noncompliant.json").await?;
    assert_eq!(world.group_rules(&world.default_group).await?, (vec![], vec![]));
    Ok(())
}

#[tokio::test]
async fn public_bucket_gets_a_full_public_access_block() -> Result<()> {
    let world = world().await?;
    assert_eq!(world.public_access_block(&world.assets_bucket).await?, None);
    let report = respond(&world, "config/s3-bucket-public-read-prohibited-noncompliant.json").await?;
    assert_eq!(report.playbook, Playbook::BlockPublicBucket);
    assert_eq!(world.public_access_block(&world.assets_bucket).await?, Some([true; 4]));
    let pre = world
        .evidence(&format!("incidents/{}/pre-state.json", report.incident_id))
        .await?;
    assert_eq!(
        pre["public_access_block"],
        serde_json::Value::Null,
        "the previous configuration is kept"
    );
    assert_eq!(world.pages().await?.len(), 1);
    Ok(())
}

#[tokio::test]
async fn unencrypted_bucket_gets_default_encryption() -> Result<()> {
    let world = world().await?;
    respond(
        &world,
        "config/s3-bucket-server-side-encryption-enabled-noncompliant.json",
    )
    .await?;
    assert_eq!(
        world.bucket_encryption(&world.assets_bucket).await?.as_deref(),
        Some("AES256")
    );

    // With a KMS key configured: SSE-KMS.
    let world = super::world().await?;
    let settings = Settings {
        kms_key_id: Some("alias/tourniquet".to_owned()),
        ..world.settings()
    };
    let event = events::for_world(
        "config/s3-bucket-server-side-encryption-enabled-noncompliant.json",
        &world,
    )?;
    config_responder(&world, settings).await?.handle(event).await?;
    assert_eq!(
        world.bucket_encryption(&world.assets_bucket).await?.as_deref(),
        Some("aws:kms")
    );
    Ok(())
}

#[tokio::test]
async fn stale_keys_are_deactivated_and_fresh_ones_kept() -> Result<()> {
    let world = world().await?;
    assert_eq!(world.deployer_key_status().await?, ["Active", "Active"]);
    let report = respond(&world, "config/access-keys-rotated-noncompliant.json").await?;
    assert_eq!(report.playbook, Playbook::DeactivateStaleKeys);
    assert_eq!(
        world.deployer_key_status().await?,
        ["Inactive", "Active"],
        "the 200-day key only"
    );
    assert!(report.reason.contains("older than 90 days"), "{}", report.reason);
    assert_eq!(world.pages().await?.len(), 1);
    Ok(())
}

#[tokio::test]
async fn protected_group_is_left_alone() -> Result<()> {
    let world = world().await?;
    world
        .account
        .clients
        .ec2
        .create_tags()
        .resources(&world.web_group)
        .tags(
            aws_sdk_ec2::types::Tag::builder()
                .key("tourniquet:protected")
                .value("")
                .build(),
        )
        .send()
        .await?;
    let before = world.group_rules(&world.web_group).await?;
    let report = respond(&world, "config/restricted-ssh-noncompliant.json").await?;
    assert_eq!(report.playbook, Playbook::PageOnly);
    assert_eq!(world.group_rules(&world.web_group).await?, before);
    assert_eq!(world.pages().await?.len(), 1);
    Ok(())
}

#[tokio::test]
async fn compliant_and_non_compliance_events_page_nobody() -> Result<()> {
    let world = world().await?;
    let before = world.group_rules(&world.web_group).await?;
    let responder = config_responder(&world, world.settings()).await?;
    for sample in [
        "config/restricted-ssh-compliant.json",
        "config/configuration-item-change.json",
        "config/oversized-configuration-item-change.json",
    ] {
        let response = responder.handle(events::for_world(sample, &world)?).await?;
        assert!(matches!(response, Response::Ignored(_)), "{sample}: {response:?}");
    }
    assert_eq!(world.group_rules(&world.web_group).await?, before);
    assert!(world.pages().await?.is_empty());
    assert!(world.evidence_keys().await?.is_empty());

    // A rule without a playbook pages, once.
    let report = respond(&world, "config/unrouted-rule-noncompliant.json").await?;
    assert_eq!(report.playbook, Playbook::PageOnly);
    assert_eq!(world.pages().await?.len(), 1);
    Ok(())
}

#[tokio::test]
async fn a_function_refuses_another_functions_events() -> Result<()> {
    let world = world().await?;
    let responder = config_responder(&world, world.settings()).await?;
    let event = events::for_world("guardduty/ec2-ssh-brute-force-web-server.json", &world)?;
    let err = responder.handle(event).await.expect_err("refused");
    let err = playbook::telemetry::chain(&err);
    assert!(err.contains("does not answer guardduty events"), "{err}");
    assert!(world.pages().await?.is_empty());
    Ok(())
}
