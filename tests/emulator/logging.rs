//! The restore-logging playbook: a stopped trail logs again, its caller is contained, the gap is stated.

use anyhow::{Context, Result};
use playbook::{Outcome, Playbook, Settings, report::StepReport};
use tourniquet_tests::events;
use tourniquet_tests::world::World;

use crate::world;

const TRAIL_STOPPED: &str = "guardduty/cloudtrail-logging-disabled.json";
/// The trail the sample names.
const TRAIL: &str = "management-events";

fn cloudtrail(world: &World) -> aws_sdk_cloudtrail::Client {
    aws_sdk_cloudtrail::Client::new(&world.account.config)
}

/// The account's multi-region trail, logging to a bucket of its own, then stopped as the
/// attacker stops it.
async fn stopped_trail(world: &World) -> Result<()> {
    let bucket = format!("audit-logs-{}", world.account.id);
    world.account.clients.s3.create_bucket().bucket(&bucket).send().await?;
    let client = cloudtrail(world);
    client
        .create_trail()
        .name(TRAIL)
        .s3_bucket_name(&bucket)
        .is_multi_region_trail(true)
        .enable_log_file_validation(true)
        .send()
        .await?;
    client.start_logging().name(TRAIL).send().await?;
    client.stop_logging().name(TRAIL).send().await?;
    assert_eq!(logging(world).await?, Some(false));
    Ok(())
}

/// What `GetTrailStatus` says of the trail: whether it logs.
async fn logging(world: &World) -> Result<Option<bool>> {
    Ok(cloudtrail(world)
        .get_trail_status()
        .name(TRAIL)
        .send()
        .await?
        .is_logging())
}

fn finding(world: &World) -> Result<serde_json::Value> {
    events::for_world(TRAIL_STOPPED, world)
}

#[tokio::test]
async fn a_stopped_trail_logs_again_and_its_caller_is_contained() -> Result<()> {
    let world = world().await?;
    stopped_trail(&world).await?;
    // GuardDuty rates it low (2): template.yaml's rules still deliver it.
    let delivered = events::delivered(&finding(&world)?, &world)?;
    assert_eq!(
        delivered.iter().map(|(to, _)| to.as_str()).collect::<Vec<_>>(),
        ["guardduty-responder"]
    );
    let report = world.respond(finding(&world)?).await?;
    assert_eq!(report.playbook, Playbook::RestoreLogging, "{}", report.reason);
    assert!(report.steps.iter().all(StepReport::done_now), "{report:#?}");
    assert_eq!(logging(&world).await?, Some(true), "the trail records again");
    // The caller: exactly the key that stopped it off, the user denied.
    assert_eq!(world.deployer_key_status().await?, ["Inactive", "Active"]);
    assert!(
        world
            .user_policy(&world.deployer, "tourniquet-deny-all")
            .await?
            .is_some()
    );
    // The gap, in the step's record: from the stop to the restart, in every region.
    let restart = report
        .steps
        .iter()
        .find(|s| s.action == "start-logging")
        .context("the restart step")?;
    let gap = &restart.detail["unrecorded"];
    assert!(gap["from"].as_str().is_some_and(|f| !f.is_empty()), "{gap}");
    assert_eq!(gap["until"], restart.detail["restarted_at"], "{gap}");
    assert_eq!(gap["region"], serde_json::Value::Null, "a multi-region trail: {gap}");
    // The evidence keeps the trail as it was found: stopped, its settings.
    let pre = world
        .evidence(&format!("incidents/{}/pre-state.json", report.incident_id))
        .await?;
    assert_eq!(pre["observed"], "logging", "{pre}");
    assert_eq!(pre["logging"]["logging"], false, "{pre}");
    assert_eq!(pre["logging"]["multi_region"], true, "{pre}");
    assert_eq!(pre["logging"]["log_file_validation"], true, "{pre}");
    assert_eq!(pre["logging"]["home_region"], "us-east-1", "{pre}");
    let pages = world.pages().await?;
    assert_eq!(pages.len(), 1);
    assert!(pages[0].subject.ends_with("logging restored"), "{}", pages[0].subject);
    assert!(
        pages[0]
            .message
            .contains("recorded nothing in every region (a multi-region trail) from"),
        "{}",
        pages[0].message
    );
    assert!(pages[0].message.contains(&world.deployer), "{}", pages[0].message);
    tourniquet_tests::schema::check(tourniquet_tests::schema::page(), &pages[0].json)?;
    Ok(())
}

#[tokio::test]
async fn a_protected_caller_is_listed_and_the_trail_restarted() -> Result<()> {
    let world = world().await?;
    stopped_trail(&world).await?;
    let responder = world
        .responder_as(
            "guardduty-responder",
            Settings {
                protected_principals: vec![world.deployer.clone()],
                ..world.settings()
            },
        )
        .await?;
    let report = responder
        .handle(finding(&world)?)
        .await?
        .report()
        .context("an incident")?;
    assert_eq!(report.playbook, Playbook::RestoreLogging, "{}", report.reason);
    assert_eq!(logging(&world).await?, Some(true));
    assert_eq!(
        world.deployer_key_status().await?,
        ["Active", "Active"],
        "never touched"
    );
    assert!(
        world
            .user_policy(&world.deployer, "tourniquet-deny-all")
            .await?
            .is_none()
    );
    let pages = world.pages().await?;
    assert_eq!(pages.len(), 1);
    assert!(
        pages[0].message.contains("protected principal") && pages[0].message.contains("(listed only)"),
        "{}",
        pages[0].message
    );
    Ok(())
}

#[tokio::test]
async fn in_dry_run_nothing_changes_and_the_plan_is_paged() -> Result<()> {
    let world = world().await?;
    stopped_trail(&world).await?;
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
        .handle(finding(&world)?)
        .await?
        .report()
        .context("an incident")?;
    assert_eq!(report.playbook, Playbook::RestoreLogging, "{}", report.reason);
    for action in ["start-logging", "deactivate-access-key", "deny-all-user"] {
        let step = report
            .steps
            .iter()
            .find(|s| s.action == action)
            .with_context(|| format!("{action} planned"))?;
        assert_eq!(step.outcome, Outcome::DryRun, "{action}");
    }
    assert_eq!(logging(&world).await?, Some(false), "still stopped");
    assert_eq!(world.deployer_key_status().await?, ["Active", "Active"]);
    let pages = world.pages().await?;
    assert_eq!(pages.len(), 1);
    assert!(pages[0].subject.contains("dry run"), "{}", pages[0].subject);
    assert!(
        pages[0].message.contains("start logging again") && pages[0].message.contains("recorded nothing"),
        "{}",
        pages[0].message
    );
    Ok(())
}

const TRAIL_ALARM: &str = "cloudwatch/cloudtrail-configuration-changes-alarm.json";
const CONFIG_ALARM: &str = "cloudwatch/config-changes-alarm.json";

#[tokio::test]
async fn the_cis_cloudtrail_alarm_starts_the_stopped_trail() -> Result<()> {
    let world = world().await?;
    stopped_trail(&world).await?;
    let report = world.respond(events::for_world(TRAIL_ALARM, &world)?).await?;
    assert_eq!(report.playbook, Playbook::RestoreLogging, "{}", report.reason);
    assert!(report.steps.iter().all(StepReport::done_now), "{report:#?}");
    assert_eq!(logging(&world).await?, Some(true));
    // The alarm names nobody: nobody is contained.
    assert_eq!(world.deployer_key_status().await?, ["Active", "Active"]);
    let pages = world.pages().await?;
    assert_eq!(pages.len(), 1);
    assert!(
        pages[0].message.contains("recorded nothing in every region"),
        "{}",
        pages[0].message
    );
    Ok(())
}

/// Whether the account's recorder records.
async fn recording(world: &World) -> Result<Option<bool>> {
    let status = world
        .account
        .clients
        .config
        .describe_configuration_recorder_status()
        .send()
        .await?;
    Ok(status
        .configuration_recorders_status()
        .first()
        .map(aws_sdk_config::types::ConfigurationRecorderStatus::recording))
}

#[tokio::test]
async fn the_cis_config_alarm_starts_the_stopped_recorder() -> Result<()> {
    let world = world().await?;
    // The world records configuration (World::seed); the attacker stops it.
    world
        .account
        .clients
        .config
        .stop_configuration_recorder()
        .configuration_recorder_name("default")
        .send()
        .await?;
    assert_eq!(recording(&world).await?, Some(false));
    let report = world.respond(events::for_world(CONFIG_ALARM, &world)?).await?;
    assert_eq!(report.playbook, Playbook::RestoreLogging, "{}", report.reason);
    assert!(report.steps.iter().all(StepReport::done_now), "{report:#?}");
    assert_eq!(recording(&world).await?, Some(true), "recording again");
    let restart = report
        .steps
        .iter()
        .find(|s| s.action == "start-recorder")
        .context("the restart step")?;
    assert_eq!(
        restart.detail["unrecorded"]["region"], "us-east-1",
        "{}",
        restart.detail
    );
    assert!(
        restart.detail["unrecorded"]["from"].as_str().is_some(),
        "{}",
        restart.detail
    );
    let pages = world.pages().await?;
    assert_eq!(pages.len(), 1);
    assert!(
        pages[0]
            .message
            .contains("AWS Config recorder default recorded nothing in us-east-1 from"),
        "{}",
        pages[0].message
    );
    // Again, with the recorder running: nothing to restart, one page saying so.
    let second = events::for_world(CONFIG_ALARM, &world)?
        .to_string()
        .replace("13:45:07.418", "13:55:07.418");
    let report = world.respond(serde_json::from_str(&second)?).await?;
    assert_eq!(report.playbook, Playbook::PageOnly, "{}", report.reason);
    assert!(report.reason.contains("is recording already"), "{}", report.reason);
    Ok(())
}

#[tokio::test]
async fn the_multi_region_cloudtrail_rule_starts_the_stopped_trail() -> Result<()> {
    let world = world().await?;
    stopped_trail(&world).await?;
    let rule = events::for_world("config/multi-region-cloudtrail-enabled-noncompliant.json", &world)?;
    // Delivered as template.yaml's rules deliver it.
    let delivered = events::delivered(&rule, &world)?;
    assert_eq!(
        delivered.iter().map(|(to, _)| to.as_str()).collect::<Vec<_>>(),
        ["config-responder"]
    );
    let report = world.respond(rule).await?;
    assert_eq!(report.playbook, Playbook::RestoreLogging, "{}", report.reason);
    assert!(report.steps.iter().all(StepReport::done_now), "{report:#?}");
    assert_eq!(logging(&world).await?, Some(true));
    Ok(())
}
