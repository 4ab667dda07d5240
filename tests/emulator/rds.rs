//! RDS findings: a snapshot tagged with the incident, the database itself untouched, one page.

use anyhow::{Context, Result};
use playbook::{Playbook, Settings, report::StepReport};
use tourniquet_tests::databases::{self, CLUSTER, INSTANCE};
use tourniquet_tests::events;
use tourniquet_tests::world::World;

use crate::world;

const LOGIN: &str = "guardduty/rds-anomalous-successful-login.json";

/// The instance as a person checks it: status, class, groups, public accessibility.
async fn database(world: &World) -> Result<String> {
    let out = world
        .account
        .clients
        .rds
        .describe_db_instances()
        .db_instance_identifier(INSTANCE)
        .send()
        .await?;
    let db = out.db_instances().first().context("the instance")?;
    Ok(format!(
        "{:?} {:?} {:?} {:?}",
        db.db_instance_status(),
        db.db_instance_class(),
        db.vpc_security_groups(),
        db.publicly_accessible()
    ))
}

async fn create_instance(world: &World, cluster: Option<&str>) -> Result<()> {
    databases::create(world, cluster).await
}

#[tokio::test]
async fn an_anomalous_login_snapshots_the_aurora_cluster_and_leaves_the_database() -> Result<()> {
    let world = world().await?;
    create_instance(&world, Some(CLUSTER)).await?;
    let before = database(&world).await?;
    let report = world.respond(events::for_world(LOGIN, &world)?).await?;
    assert_eq!(report.playbook, Playbook::RdsCompromise, "{}", report.reason);
    assert!(report.steps.iter().all(StepReport::done_now), "{report:#?}");
    let snapshot_id = format!("tourniquet-{}", report.incident_id);
    // The emulator keeps an automated snapshot of its own: the incident's is the manual one.
    let out = world
        .account
        .clients
        .rds
        .describe_db_cluster_snapshots()
        .db_cluster_snapshot_identifier(&snapshot_id)
        .send()
        .await?;
    let snapshot = out.db_cluster_snapshots().first().context("the incident's snapshot")?;
    assert_eq!(snapshot.db_cluster_identifier(), Some(CLUSTER));
    let tags = world
        .account
        .clients
        .rds
        .list_tags_for_resource()
        .resource_name(snapshot.db_cluster_snapshot_arn().context("an ARN")?)
        .send()
        .await?;
    assert!(
        tags.tag_list()
            .iter()
            .any(|t| t.key() == Some("tourniquet:incident-id") && t.value() == Some(report.incident_id.as_str())),
        "{tags:?}"
    );
    assert_eq!(database(&world).await?, before, "the database is unchanged");
    let pages = world.pages().await?;
    assert_eq!(pages.len(), 1);
    for fact in ["app_admin", "192.0.2.200", "pg_terminate_backend"] {
        assert!(pages[0].message.contains(fact), "{fact}: {}", pages[0].message);
    }
    Ok(())
}

#[tokio::test]
async fn a_plain_instance_gets_a_db_snapshot_and_a_protected_one_pages_only() -> Result<()> {
    let world = world().await?;
    create_instance(&world, None).await?;
    let report = world.respond(events::for_world(LOGIN, &world)?).await?;
    assert_eq!(report.playbook, Playbook::RdsCompromise, "{}", report.reason);
    let out = world
        .account
        .clients
        .rds
        .describe_db_snapshots()
        .db_snapshot_identifier(format!("tourniquet-{}", report.incident_id))
        .send()
        .await?;
    assert_eq!(
        out.db_snapshots().first().and_then(|s| s.db_instance_identifier()),
        Some(INSTANCE)
    );

    // Protected: page only, no snapshot; in dry run, nothing either.
    for protected in [true, false] {
        let world = super::world().await?;
        create_instance(&world, None).await?;
        let rds = &world.account.clients.rds;
        let settings = if protected {
            let arn = rds
                .describe_db_instances()
                .db_instance_identifier(INSTANCE)
                .send()
                .await?
                .db_instances()
                .first()
                .and_then(|d| d.db_instance_arn().map(ToOwned::to_owned))
                .context("an ARN")?;
            rds.add_tags_to_resource()
                .resource_name(arn)
                .tags(
                    aws_sdk_rds::types::Tag::builder()
                        .key("tourniquet:protected")
                        .value("orders")
                        .build(),
                )
                .send()
                .await?;
            world.settings()
        } else {
            Settings {
                dry_run: true,
                ..world.settings()
            }
        };
        let report = world
            .responder_as("guardduty-responder", settings)
            .await?
            .handle(events::for_world(LOGIN, &world)?)
            .await?
            .report()
            .context("an incident")?;
        if protected {
            assert_eq!(report.playbook, Playbook::PageOnly, "{}", report.reason);
        } else {
            assert!(report.dry_run);
            let step = report
                .steps
                .iter()
                .find(|s| s.action == "snapshot-database")
                .context("the snapshot step")?;
            assert_eq!(step.detail["probe"], "not probed: the service has no DryRun");
        }
        let manual = rds.describe_db_snapshots().snapshot_type("manual").send().await?;
        assert!(manual.db_snapshots().is_empty(), "{manual:?}");
    }
    Ok(())
}
