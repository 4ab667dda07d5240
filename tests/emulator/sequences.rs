//! GuardDuty attack sequences: every actor and resource answered as one incident, a group over the limit held whole.

use anyhow::Result;
use playbook::{Budget, Outcome, Playbook, Settings, report::StepReport};
use serde_json::json;
use tourniquet_tests::events;
use tourniquet_tests::world::World;

use crate::world;

const CREDENTIALS: &str = "guardduty/attack-sequence-iam-compromised-credentials.json";
const GROUP: &str = "guardduty/attack-sequence-ec2-compromised-instance-group.json";
/// The second user's key in the credentials sample (AWS's other documentation example key).
const SECOND_KEY: &str = "AKIAI44QH8DHBEXAMPLE";

/// A second user with an access key, as the sample's `build-bot`; its key id.
async fn build_bot(world: &World) -> Result<String> {
    let iam = &world.account.clients.iam;
    iam.create_user().user_name("build-bot").send().await?;
    let key = iam.create_access_key().user_name("build-bot").send().await?;
    Ok(key
        .access_key()
        .map(|k| k.access_key_id().to_owned())
        .unwrap_or_default())
}

async fn key_status(world: &World, user: &str) -> Result<Vec<String>> {
    let out = world
        .account
        .clients
        .iam
        .list_access_keys()
        .user_name(user)
        .send()
        .await?;
    Ok(out
        .access_key_metadata()
        .iter()
        .map(|k| k.status().map(|s| s.as_str().to_owned()).unwrap_or_default())
        .collect())
}

/// The instance group sample naming `instances` in place of its seven sample ids.
fn group_event(world: &World, instances: &[String]) -> Result<serde_json::Value> {
    let mut text = events::read(GROUP)?;
    for (n, instance) in instances.iter().enumerate() {
        text = text.replace(&format!("i-0a1b2c3d4e5f6070{}", n + 1), instance);
    }
    events::for_world_text(&text, world)
}

async fn isolated(world: &World, instance: &str) -> Result<bool> {
    let Some(isolation) = world.quarantine_group("isolation").await? else {
        return Ok(false);
    };
    let host = world.host(instance).await?;
    let groups = world.interface_groups(&host.interfaces).await?;
    Ok(groups.values().all(|g| g == &vec![isolation.id.clone()]))
}

#[tokio::test]
async fn two_users_keys_are_both_contained_in_one_incident() -> Result<()> {
    let world = world().await?;
    let second = build_bot(&world).await?;
    let text = events::read(CREDENTIALS)?.replace(SECOND_KEY, &second);
    let report = world.respond(events::for_world_text(&text, &world)?).await?;
    assert_eq!(report.playbook, Playbook::AttackSequence, "{}", report.reason);
    assert!(report.steps.iter().all(StepReport::done_now), "{report:#?}");
    // Both keys the sequence names are inactive (the deployer's other key untouched), both
    // users denied.
    assert_eq!(world.deployer_key_status().await?, ["Inactive", "Active"]);
    assert_eq!(key_status(&world, "build-bot").await?, ["Inactive"]);
    for user in [world.deployer.as_str(), "build-bot"] {
        assert!(
            world.user_policy(user, "tourniquet-deny-all").await?.is_some(),
            "{user} denied"
        );
    }
    // The bucket, not shown public, is left as it is.
    assert_eq!(world.public_access_block(&world.assets_bucket).await?, None);
    // One evidence folder, one page, naming the signals.
    let folders: std::collections::BTreeSet<String> = world
        .evidence_keys()
        .await?
        .iter()
        .filter_map(|k| k.strip_prefix("incidents/")?.split('/').next().map(ToOwned::to_owned))
        .collect();
    assert_eq!(folders.into_iter().collect::<Vec<_>>(), [report.incident_id.as_str()]);
    let pre = world
        .evidence(&format!("incidents/{}/pre-state.json", report.incident_id))
        .await?;
    assert_eq!(pre["observed"], "sequence");
    let pages = world.pages().await?;
    assert_eq!(pages.len(), 1);
    for signal in [
        "Discovery:IAMUser/AnomalousBehavior",
        "PrivilegeEscalation:IAMUser/AnomalousBehavior",
        "Exfiltration:S3/AnomalousBehavior",
    ] {
        assert!(pages[0].message.contains(signal), "{signal}: {}", pages[0].message);
    }
    Ok(())
}

#[tokio::test]
async fn a_group_of_seven_over_a_limit_of_five_is_held_then_isolated_whole() -> Result<()> {
    let world = world().await?;
    let settings = Settings {
        max_quarantined: 5,
        ..world.settings()
    };
    let responder = world.responder_as("guardduty-responder", settings).await?;
    let mut instances = Vec::new();
    for _ in 0..7 {
        instances.push(world.launch_worker().await?);
    }
    let report = responder
        .handle(group_event(&world, &instances)?)
        .await?
        .report()
        .expect("an incident");
    assert_eq!(report.playbook, Playbook::AttackSequence, "{}", report.reason);
    assert!(report.steps.iter().any(|s| s.outcome == Outcome::Held), "{report:#?}");
    for instance in &instances {
        assert!(!isolated(&world, instance).await?, "{instance}: none touched");
        assert!(!world.termination_protection(instance).await?, "{instance}");
    }
    let pages = world.pages().await?;
    assert_eq!(pages.len(), 1);
    assert!(pages[0].subject.ends_with("HELD for approval"), "{}", pages[0].subject);
    for instance in &instances {
        assert!(
            pages[0].message.contains(instance.as_str()),
            "{instance}: {}",
            pages[0].message
        );
    }

    let approved = responder
        .handle(json!({ "approve": report.incident_id }))
        .await?
        .report()
        .expect("an incident");
    assert!(approved.steps.iter().all(StepReport::done_now), "{approved:#?}");
    for instance in &instances {
        assert!(isolated(&world, instance).await?, "{instance} isolated");
        assert!(world.termination_protection(instance).await?, "{instance}");
    }

    // Each member is released on its own, from the sequence's record; the others stay.
    let groups = world
        .interface_groups(&world.host(&instances[1]).await?.interfaces)
        .await?;
    let released = world
        .responder_as("quarantine-release", world.settings())
        .await?
        .release(&json!({ "instance_id": instances[0] }), Budget::default())
        .await?;
    assert_eq!(released.playbook, Playbook::Release, "{}", released.reason);
    assert!(released.steps.iter().all(StepReport::done_now), "{released:#?}");
    assert!(!isolated(&world, &instances[0]).await?);
    assert!(!world.termination_protection(&instances[0]).await?);
    assert!(isolated(&world, &instances[1]).await?);
    assert_eq!(
        world
            .interface_groups(&world.host(&instances[1]).await?.interfaces)
            .await?,
        groups
    );
    Ok(())
}

#[tokio::test]
async fn in_dry_run_a_sequence_changes_nothing() -> Result<()> {
    let world = world().await?;
    let second = build_bot(&world).await?;
    let settings = Settings {
        dry_run: true,
        ..world.settings()
    };
    let responder = world.responder_as("guardduty-responder", settings).await?;
    let text = events::read(CREDENTIALS)?.replace(SECOND_KEY, &second);
    let report = responder
        .handle(events::for_world_text(&text, &world)?)
        .await?
        .report()
        .expect("an incident");
    assert!(report.dry_run);
    assert_eq!(report.playbook, Playbook::AttackSequence, "{}", report.reason);
    assert!(
        report
            .steps
            .iter()
            .filter(|s| s.outcome == Outcome::DryRun)
            .all(|s| s.detail["probe"] == "not probed: the service has no DryRun"),
        "{report:#?}"
    );
    assert_eq!(world.deployer_key_status().await?, ["Active", "Active"]);
    assert_eq!(key_status(&world, "build-bot").await?, ["Active"]);
    let worker = world.launch_worker().await?;
    let report = responder
        .handle(group_event(&world, std::slice::from_ref(&worker))?)
        .await?
        .report()
        .expect("an incident");
    assert!(
        report.dry_run && report.playbook == Playbook::AttackSequence,
        "{}",
        report.reason
    );
    assert!(!isolated(&world, &worker).await?);
    Ok(())
}
