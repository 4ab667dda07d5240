//! GuardDuty's S3 findings: exposed buckets blocked with their old policy kept, actors contained.

use anyhow::Result;
use playbook::{Outcome, Playbook, Settings, report::StepReport};
use tourniquet_tests::events;
use tourniquet_tests::world::World;

use crate::world;

const BLOCK_DISABLED: &str = "guardduty/s3-bucket-block-public-access-disabled.json";
const PUBLIC_GRANTED: &str = "guardduty/s3-bucket-public-access-granted.json";
const EXFILTRATION: &str = "guardduty/s3-exfiltration-anomalous-behavior.json";

/// A public-read policy on the assets bucket, as a person who opened it would have put it.
async fn open_bucket(world: &World) -> Result<String> {
    let policy = serde_json::json!({"Version": "2012-10-17", "Statement": [{
        "Sid": "PublicRead", "Effect": "Allow", "Principal": "*", "Action": "s3:GetObject",
        "Resource": format!("arn:aws:s3:::{}/*", world.assets_bucket)}]})
    .to_string();
    world
        .account
        .clients
        .s3
        .put_bucket_policy()
        .bucket(&world.assets_bucket)
        .policy(&policy)
        .send()
        .await?;
    Ok(policy)
}

async fn bucket_policy(world: &World) -> Result<Option<String>> {
    let out = world
        .account
        .clients
        .s3
        .get_bucket_policy()
        .bucket(&world.assets_bucket)
        .send()
        .await?;
    Ok(out.policy().map(ToOwned::to_owned))
}

#[tokio::test]
async fn a_bucket_whose_block_was_disabled_is_blocked_and_its_policy_kept() -> Result<()> {
    let world = world().await?;
    let policy = open_bucket(&world).await?;
    assert_eq!(world.public_access_block(&world.assets_bucket).await?, None);
    // GuardDuty rates this finding low (2.5): the block is narrow and reversible, it goes on.
    let report = world.respond(events::for_world(BLOCK_DISABLED, &world)?).await?;
    assert_eq!(report.playbook, Playbook::BlockPublicBucket, "{}", report.reason);
    assert!(report.steps.iter().all(StepReport::done_now), "{report:#?}");
    assert_eq!(world.public_access_block(&world.assets_bucket).await?, Some([true; 4]));
    // The policy itself stays (the block makes it ineffective), and the evidence keeps it,
    // the ACL and the previous block (none).
    assert_eq!(bucket_policy(&world).await?.as_deref(), Some(policy.as_str()));
    let pre = world
        .evidence(&format!("incidents/{}/pre-state.json", report.incident_id))
        .await?;
    assert_eq!(pre["observed"], "bucket");
    let kept: serde_json::Value = serde_json::from_str(pre["policy"].as_str().expect("the policy"))?;
    assert_eq!(kept["Statement"][0]["Sid"], "PublicRead");
    assert_eq!(pre["public_access_block"], serde_json::Value::Null);
    assert!(
        pre["acl"].as_array().is_some_and(|grants| grants
            .iter()
            .any(|g| g.as_str().is_some_and(|g| g.ends_with("FULL_CONTROL")))),
        "{pre}"
    );
    let pages = world.pages().await?;
    assert_eq!(pages.len(), 1);
    assert!(
        pages[0].subject.ends_with("public access blocked"),
        "{}",
        pages[0].subject
    );
    Ok(())
}

#[tokio::test]
async fn a_public_bucket_is_blocked() -> Result<()> {
    let world = world().await?;
    open_bucket(&world).await?;
    let report = world.respond(events::for_world(PUBLIC_GRANTED, &world)?).await?;
    assert_eq!(report.playbook, Playbook::BlockPublicBucket, "{}", report.reason);
    assert_eq!(world.public_access_block(&world.assets_bucket).await?, Some([true; 4]));

    Ok(())
}

/// Only the exposure findings block a bucket. Any other S3 finding on a public bucket
/// contains its IAM actor and leaves the bucket as it was, and one that names no actor pages.
#[tokio::test]
async fn any_other_s3_finding_on_a_public_bucket_contains_the_actor_or_pages() -> Result<()> {
    let public = events::read(EXFILTRATION)?.replace("\"NOT_PUBLIC\"", "\"PUBLIC\"");
    let stealth = public.replace(
        "Exfiltration:S3/AnomalousBehavior",
        "Stealth:S3/ServerAccessLoggingDisabled",
    );
    for text in [&public, &stealth] {
        let world = super::world().await?;
        let policy = open_bucket(&world).await?;
        let report = world.respond(events::for_world_text(text, &world)?).await?;
        assert_eq!(report.playbook, Playbook::CredentialCompromise, "{}", report.reason);
        assert_eq!(world.deployer_key_status().await?, ["Inactive", "Active"]);
        assert_eq!(world.public_access_block(&world.assets_bucket).await?, None);
        assert_eq!(bucket_policy(&world).await?.as_deref(), Some(policy.as_str()));
    }
    // No actor named: a page, nothing changed.
    let world = super::world().await?;
    open_bucket(&world).await?;
    let mut event = events::for_world_text(&stealth, &world)?;
    event["detail"]["resource"]
        .as_object_mut()
        .map(|r| r.remove("accessKeyDetails"));
    let report = world.respond(event).await?;
    assert_eq!(report.playbook, Playbook::PageOnly, "{}", report.reason);
    assert_eq!(world.public_access_block(&world.assets_bucket).await?, None);
    assert_eq!(world.deployer_key_status().await?, ["Active", "Active"]);
    assert_eq!(world.pages().await?.len(), 1);
    Ok(())
}

/// A bucket that serves a website pages instead of being blocked (the block would take the
/// site down), with the command that blocks it.
#[tokio::test]
async fn a_website_bucket_pages_with_the_command() -> Result<()> {
    let world = world().await?;
    open_bucket(&world).await?;
    world
        .account
        .clients
        .s3
        .put_bucket_website()
        .bucket(&world.assets_bucket)
        .website_configuration(
            aws_sdk_s3::types::WebsiteConfiguration::builder()
                .index_document(
                    aws_sdk_s3::types::IndexDocument::builder()
                        .suffix("index.html")
                        .build()?,
                )
                .build(),
        )
        .send()
        .await?;
    let report = world.respond(events::for_world(PUBLIC_GRANTED, &world)?).await?;
    assert_eq!(report.playbook, Playbook::PageOnly, "{}", report.reason);
    assert!(report.reason.contains("website"), "{}", report.reason);
    assert_eq!(world.public_access_block(&world.assets_bucket).await?, None);
    let pages = world.pages().await?;
    assert_eq!(pages.len(), 1);
    let command = format!("aws s3api put-public-access-block --bucket {}", world.assets_bucket);
    assert!(pages[0].message.contains(&command), "{}", pages[0].message);
    Ok(())
}

#[tokio::test]
async fn an_exfiltrating_user_is_contained_and_the_bucket_left_as_it_was() -> Result<()> {
    let world = world().await?;
    let policy = open_bucket(&world).await?;
    let report = world.respond(events::for_world(EXFILTRATION, &world)?).await?;
    assert_eq!(report.playbook, Playbook::CredentialCompromise, "{}", report.reason);
    assert!(report.steps.iter().all(StepReport::done_now), "{report:#?}");
    assert_eq!(
        world.deployer_key_status().await?,
        ["Inactive", "Active"],
        "the key the finding names"
    );
    assert!(
        world
            .user_policy(&world.deployer, "tourniquet-deny-all")
            .await?
            .is_some()
    );
    // The bucket is the victim: no block, its policy as it was.
    assert_eq!(world.public_access_block(&world.assets_bucket).await?, None);
    assert_eq!(bucket_policy(&world).await?.as_deref(), Some(policy.as_str()));
    let pages = world.pages().await?;
    assert_eq!(pages.len(), 1);
    assert!(
        pages[0].message.contains(&world.assets_bucket),
        "the page names the bucket: {}",
        pages[0].message
    );
    Ok(())
}

#[tokio::test]
async fn a_protected_bucket_pages_only() -> Result<()> {
    let world = world().await?;
    world
        .account
        .clients
        .s3
        .put_bucket_tagging()
        .bucket(&world.assets_bucket)
        .tagging(
            aws_sdk_s3::types::Tagging::builder()
                .tag_set(
                    aws_sdk_s3::types::Tag::builder()
                        .key("tourniquet:protected")
                        .value("public website")
                        .build()?,
                )
                .build()?,
        )
        .send()
        .await?;
    let report = world.respond(events::for_world(PUBLIC_GRANTED, &world)?).await?;
    assert_eq!(report.playbook, Playbook::PageOnly);
    assert!(report.reason.contains("protected tag"), "{}", report.reason);
    assert_eq!(world.public_access_block(&world.assets_bucket).await?, None);
    assert_eq!(world.pages().await?.len(), 1);
    Ok(())
}

#[tokio::test]
async fn in_dry_run_nothing_changes_and_the_block_is_reported_unprobed() -> Result<()> {
    let world = world().await?;
    let settings = Settings {
        dry_run: true,
        ..world.settings()
    };
    let responder = world.responder_as("guardduty-responder", settings).await?;
    for sample in [BLOCK_DISABLED, PUBLIC_GRANTED, EXFILTRATION] {
        let report = responder
            .handle(events::for_world(sample, &world)?)
            .await?
            .report()
            .expect("an incident");
        assert!(report.dry_run, "{sample}");
        assert_ne!(report.playbook, Playbook::PageOnly, "{sample}: {}", report.reason);
        // S3 and IAM have no DryRun: the report says the step was not probed.
        let mutating: Vec<_> = report
            .steps
            .iter()
            .filter(|s| s.outcome == Outcome::DryRun && s.action != "verify-isolation")
            .collect();
        assert!(!mutating.is_empty(), "{sample}: {report:#?}");
        for step in mutating {
            assert_eq!(
                step.detail["probe"], "not probed: the service has no DryRun",
                "{sample}: {}",
                step.action
            );
        }
    }
    assert_eq!(world.public_access_block(&world.assets_bucket).await?, None);
    assert_eq!(world.deployer_key_status().await?, ["Active", "Active"]);
    Ok(())
}

const ACCOUNT_BLOCK_DISABLED: &str = "guardduty/s3-account-block-public-access-disabled.json";

/// The account-level block (S3 Control), as the account shows it: `None` without one.
async fn account_block(world: &World) -> Result<Option<[bool; 4]>> {
    let client = playbook::actions::account_block::client(&world.account.config);
    match playbook::actions::account_block::observe(&client, &world.account.id).await {
        playbook::Observation::AccountBlock(state) if state.error.is_none() => Ok(state.block),
        other => anyhow::bail!("the account block could not be read: {other:?}"),
    }
}

/// The sample at `severity`.
fn account_finding(world: &World, severity: f64) -> Result<serde_json::Value> {
    let mut event = events::for_world(ACCOUNT_BLOCK_DISABLED, world)?;
    event["detail"]["severity"] = severity.into();
    Ok(event)
}

#[tokio::test]
async fn the_account_block_is_restored_above_the_threshold_and_its_old_setting_paged() -> Result<()> {
    let world = world().await?;
    assert_eq!(account_block(&world).await?, None);
    let report = world.respond(account_finding(&world, 8.0)?).await?;
    assert_eq!(report.playbook, Playbook::RestoreAccountBlock, "{}", report.reason);
    assert!(report.steps.iter().all(StepReport::done_now), "{report:#?}");
    assert_eq!(account_block(&world).await?, Some([true; 4]));
    // The bucket the finding names is not this playbook's: left as it was.
    assert_eq!(world.public_access_block(&world.assets_bucket).await?, None);
    let pre = world
        .evidence(&format!("incidents/{}/pre-state.json", report.incident_id))
        .await?;
    assert_eq!(pre["observed"], "account-block", "{pre}");
    assert_eq!(pre["block"], serde_json::Value::Null, "no block before: {pre}");
    let pages = world.pages().await?;
    assert_eq!(pages.len(), 1);
    assert!(
        pages[0].subject.ends_with("account public access block restored"),
        "{}",
        pages[0].subject
    );
    assert!(
        pages[0].message.contains("none (no account-level block)"),
        "the previous setting: {}",
        pages[0].message
    );
    tourniquet_tests::schema::check(tourniquet_tests::schema::page(), &pages[0].json)?;
    Ok(())
}

#[tokio::test]
async fn below_the_threshold_or_in_dry_run_the_account_block_is_paged_and_left() -> Result<()> {
    let world = world().await?;
    // As GuardDuty rates it (low): a page with the setting the finding saw, and the command.
    let report = world
        .respond(events::for_world(ACCOUNT_BLOCK_DISABLED, &world)?)
        .await?;
    assert_eq!(report.playbook, Playbook::PageOnly, "{}", report.reason);
    assert!(
        report.reason.contains("below the restore-account-block floor"),
        "{}",
        report.reason
    );
    let pages = world.pages().await?;
    assert_eq!(pages.len(), 1);
    assert!(
        pages[0]
            .message
            .contains("blockPublicAcls=false, ignorePublicAcls=false")
            && pages[0].message.contains("s3control put-public-access-block"),
        "{}",
        pages[0].message
    );
    // High, in dry run: planned, reported unprobed (S3 Control has no DryRun), not done.
    let responder = world
        .responder_as(
            "guardduty-responder",
            Settings {
                dry_run: true,
                ..world.settings()
            },
        )
        .await?;
    let report = responder
        .handle(account_finding(&world, 8.0)?)
        .await?
        .report()
        .expect("an incident");
    assert_eq!(report.playbook, Playbook::RestoreAccountBlock, "{}", report.reason);
    let restore = report
        .steps
        .iter()
        .find(|s| s.action == "restore-account-block")
        .expect("the restore step");
    assert_eq!(restore.outcome, Outcome::DryRun);
    assert_eq!(restore.detail["probe"], "not probed: the service has no DryRun");
    assert_eq!(account_block(&world).await?, None);
    Ok(())
}
