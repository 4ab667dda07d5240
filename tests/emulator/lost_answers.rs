//! An answer lost after AWS acted: each creating call leaves one result, never a second made
//! by a blind retry (the fault `lose`: the emulator carries the call out, then answers as a
//! gateway does when AWS's answer never came: 504, no AWS error code).

use anyhow::Result;
use playbook::{Outcome, Report, Responder, report::StepReport};
use tourniquet_tests::databases::{self, INSTANCE};
use tourniquet_tests::emulator::emulator;
use tourniquet_tests::events;
use tourniquet_tests::functions;
use tourniquet_tests::world::World;

use crate::world;

const SSH_BRUTE_FORCE: &str = "guardduty/ec2-ssh-brute-force-web-server.json";

async fn faulty_responder(world: &World) -> Result<Responder> {
    world.faulty_responder_as("guardduty-responder", world.settings()).await
}

/// Handles `event` with `action`'s answers lost `count` times; the report, and how many
/// answers were lost.
async fn with_answers_lost(world: &World, action: &str, count: u32, event: serde_json::Value) -> Result<(Report, u64)> {
    emulator().lose(&world.account.id, action, count)?;
    let responder = faulty_responder(world).await?;
    let result = responder.handle(event).await;
    let lost = emulator().clear(&world.account.id)?;
    Ok((result?.report().expect("an incident"), lost))
}

fn step<'r>(report: &'r Report, action: &str) -> &'r StepReport {
    report
        .steps
        .iter()
        .find(|s| s.action == action)
        .unwrap_or_else(|| panic!("no {action} step in {report:#?}"))
}

#[tokio::test]
async fn a_lost_create_snapshots_answer_leaves_one_snapshot_set() -> Result<()> {
    let world = world().await?;
    let event = events::for_world(SSH_BRUTE_FORCE, &world)?;
    let (report, lost) = with_answers_lost(&world, "CreateSnapshots", 1, event).await?;
    assert_eq!(lost, 1);
    assert!(report.steps.iter().all(StepReport::succeeded), "{report:#?}");
    let snapshots = world.snapshots(&world.web.instance_id).await?;
    assert_eq!(snapshots.len(), 2, "one set over the two volumes: {snapshots:?}");
    let recorded = &step(&report, "snapshot-volumes").detail["snapshots"];
    assert_eq!(recorded.as_array().map(Vec::len), Some(2), "{recorded}");
    assert_eq!(world.pages().await?.len(), 1);
    Ok(())
}

#[tokio::test]
async fn lost_create_security_group_answers_leave_one_group_each() -> Result<()> {
    let world = world().await?;
    let event = events::for_world(SSH_BRUTE_FORCE, &world)?;
    let (report, lost) = with_answers_lost(&world, "CreateSecurityGroup", 2, event).await?;
    assert_eq!(lost, 2);
    assert!(report.steps.iter().all(StepReport::succeeded), "{report:#?}");
    assert_eq!(step(&report, "verify-isolation").outcome, Outcome::Done);
    for name in ["tourniquet-conversion", "tourniquet-isolation"] {
        let named = world.groups_named(&world.vpc_id, name).await?;
        assert_eq!(named.len(), 1, "one {name}: {named:?}");
    }
    Ok(())
}

#[tokio::test]
async fn a_lost_publish_answer_leaves_one_page() -> Result<()> {
    let world = world().await?;
    let event = events::for_world(SSH_BRUTE_FORCE, &world)?;
    let (report, lost) = with_answers_lost(&world, "Publish", 1, event.clone()).await?;
    assert_eq!(lost, 1);
    let page = step(&report, "page");
    assert_eq!(page.outcome, Outcome::Done, "{report:#?}");
    assert!(page.detail["unconfirmed"].is_string(), "{}", page.detail);
    assert_eq!(world.pages().await?.len(), 1, "one page");
    // A redelivery follows the record: no second page.
    let again = faulty_responder(&world).await?.handle(event).await?;
    assert_eq!(
        step(&again.report().expect("an incident"), "page").outcome,
        Outcome::AlreadyDone
    );
    assert!(world.pages().await?.is_empty());
    Ok(())
}

#[tokio::test]
async fn a_lost_publish_version_answer_leaves_one_version() -> Result<()> {
    let world = world().await?;
    let function = functions::create(&world, "drill-image-resizer", None, &[]).await?;
    let event = events::for_world("guardduty/lambda-backdoor-cc-activity.json", &world)?;
    let (report, lost) = with_answers_lost(&world, "PublishVersion", 1, event).await?;
    assert_eq!(lost, 1);
    assert!(report.steps.iter().all(StepReport::succeeded), "{report:#?}");
    let versions = functions::versions(&world, "drill-image-resizer").await?;
    assert_eq!(versions.len(), 1, "{versions:?}");
    assert_eq!(versions[0].1, function.code_sha256);
    Ok(())
}

#[tokio::test]
async fn a_lost_create_db_snapshot_answer_leaves_one_snapshot() -> Result<()> {
    let world = world().await?;
    databases::create(&world, None).await?;
    let event = events::for_world("guardduty/rds-anomalous-successful-login.json", &world)?;
    let (report, lost) = with_answers_lost(&world, "CreateDBSnapshot", 1, event).await?;
    assert_eq!(lost, 1);
    assert!(report.steps.iter().all(StepReport::succeeded), "{report:#?}");
    let out = world
        .account
        .clients
        .rds
        .describe_db_snapshots()
        .db_instance_identifier(INSTANCE)
        .snapshot_type("manual")
        .send()
        .await?;
    let ids: Vec<_> = out
        .db_snapshots()
        .iter()
        .filter_map(|s| s.db_snapshot_identifier())
        .collect();
    assert_eq!(ids, vec![format!("tourniquet-{}", report.incident_id)]);
    Ok(())
}
