//! The blast-radius hold and its approval; dry run with permission probes; release round trip.

use anyhow::Result;
use playbook::{Budget, Outcome, Playbook, Settings, report::StepReport};
use serde_json::json;
use tourniquet_tests::emulator::emulator;
use tourniquet_tests::events;
use tourniquet_tests::world::World;

use crate::world;

const SSH_BRUTE_FORCE: &str = "guardduty/ec2-ssh-brute-force-web-server.json";

async fn isolated(world: &World) -> Result<bool> {
    let Some(isolation) = world.quarantine_group("isolation").await? else {
        return Ok(false);
    };
    let groups = world.interface_groups(&world.web.interfaces).await?;
    Ok(groups.values().all(|g| g == &vec![isolation.id.clone()]))
}

#[tokio::test]
async fn over_the_limit_isolation_waits_for_approval_then_runs_once() -> Result<()> {
    let world = world().await?;
    let settings = Settings {
        max_quarantined: 1,
        ..world.settings()
    };
    // An approval goes to the responder of the incident's source (`tourniquet approve`).
    let responder = world.responder_as("guardduty-responder", settings).await?;
    // One instance already in quarantine: the limit is reached.
    let worker = world.launch_worker().await?;
    let first = events::read("guardduty/ec2-backdoor-cc-activity.json")?.replace(events::WEB_PLACEHOLDER, &worker);
    responder.handle(events::for_world_text(&first, &world)?).await?;
    world.pages().await?;

    let report = responder
        .handle(events::for_world(SSH_BRUTE_FORCE, &world)?)
        .await?
        .report()
        .expect("an incident");
    assert_eq!(report.playbook, Playbook::Ec2Compromise);
    assert!(report.steps.iter().any(|s| s.outcome == Outcome::Held));
    assert!(!isolated(&world).await?, "held, not isolated");
    assert!(!world.termination_protection(&world.web.instance_id).await?);
    let pages = world.pages().await?;
    assert_eq!(pages.len(), 1);
    assert!(pages[0].subject.ends_with("HELD for approval"), "{}", pages[0].subject);
    let how = format!("{{\"approve\": \"{}\"}}", report.incident_id);
    assert!(pages[0].message.contains(&how), "{}", pages[0].message);

    // A person approves: the held plan runs, once.
    let approval = json!({ "approve": report.incident_id });
    let approved = responder.handle(approval.clone()).await?.report().expect("an incident");
    assert!(approved.steps.iter().all(StepReport::done_now), "{approved:#?}");
    assert!(isolated(&world).await?);
    assert_eq!(world.snapshots(&world.web.instance_id).await?.len(), 2);
    let pages = world.pages().await?;
    assert_eq!(pages.len(), 1);
    assert!(pages[0].subject.ends_with("isolated"), "{}", pages[0].subject);

    let again = responder.handle(approval).await?.report().expect("an incident");
    assert!(
        again
            .steps
            .iter()
            .all(|s| matches!(s.outcome, Outcome::AlreadyDone | Outcome::NotNeeded))
    );
    assert!(world.pages().await?.is_empty());
    assert_eq!(world.snapshots(&world.web.instance_id).await?.len(), 2);

    // Approving what was never held is refused.
    let err = responder
        .handle(json!({"approve": "guardduty-000000000000000000000000"}))
        .await
        .expect_err("refused");
    assert!(err.to_string().contains("no such incident"), "{err}");
    Ok(())
}

#[tokio::test]
async fn two_approvals_at_once_act_once() -> Result<()> {
    let world = world().await?;
    let settings = Settings {
        max_quarantined: 1,
        ..world.settings()
    };
    let responder = world.responder_as("guardduty-responder", settings.clone()).await?;
    let worker = world.launch_worker().await?;
    let first = events::read("guardduty/ec2-backdoor-cc-activity.json")?.replace(events::WEB_PLACEHOLDER, &worker);
    responder.handle(events::for_world_text(&first, &world)?).await?;
    let held = responder
        .handle(events::for_world(SSH_BRUTE_FORCE, &world)?)
        .await?
        .report()
        .expect("an incident");
    assert!(held.steps.iter().any(|s| s.outcome == Outcome::Held));
    world.pages().await?;

    // The stack was put in dry run since: the approval changes nothing and says why.
    let dry = world
        .responder_as(
            "guardduty-responder",
            Settings {
                dry_run: true,
                ..settings.clone()
            },
        )
        .await?;
    let err = dry
        .handle(json!({ "approve": held.incident_id }))
        .await
        .expect_err("refused under today's settings");
    assert!(err.to_string().contains("dry run now"), "{err}");
    assert!(!isolated(&world).await?);
    assert!(world.pages().await?.is_empty());

    // A person presses twice (or the CLI invokes again on its read timeout): two approvals
    // at once, every call recorded as the emulator applies it.
    emulator().record(&world.account.id)?;
    let approval = json!({ "approve": held.incident_id });
    let through_faults = || world.faulty_responder_as("guardduty-responder", settings.clone());
    let (a, b) = (through_faults().await?, through_faults().await?);
    let (one, other) = tokio::join!(a.handle(approval.clone()), b.handle(approval.clone()));
    let served = emulator().served(&world.account.id)?;
    emulator().clear(&world.account.id)?;
    // One ran the plan; the other followed its report, or was told to retry later.
    let ran = [&one, &other].iter().filter(|r| r.is_ok()).count();
    assert!(ran >= 1, "{one:?} / {other:?}");
    for result in [&one, &other] {
        if let Err(err) = result {
            assert!(matches!(err, playbook::Error::InProgress { .. }), "{err}");
        }
    }
    assert!(isolated(&world).await?);
    assert_eq!(
        world.snapshots(&world.web.instance_id).await?.len(),
        2,
        "one snapshot set"
    );
    let pages = world.pages().await?;
    let subjects: Vec<&str> = pages.iter().map(|p| p.subject.as_str()).collect();
    assert_eq!(pages.len(), 1, "one page: {subjects:?}\n{one:?}\n{other:?}");
    let isolation = world.quarantine_group("isolation").await?.expect("isolation group").id;
    let conversion = world
        .quarantine_group("conversion")
        .await?
        .expect("conversion group")
        .id;
    let (reopened, isolated_now) = crate::isolation::reopenings(&served, &conversion, &isolation);
    assert!(
        reopened.is_empty(),
        "an isolated interface went back to the conversion group: {reopened:?}"
    );
    assert_eq!(isolated_now.len(), world.web.interfaces.len());
    Ok(())
}

/// A held attack sequence over seven instances, approved twice at once (a person presses
/// twice, or the CLI invokes again while the first approval still runs): one snapshot set per
/// instance, one page, and no interface ever put back on the all-open conversion group once
/// isolated (every call recorded in the order the emulator applied it).
#[tokio::test]
async fn two_approvals_of_a_held_seven_instance_sequence_act_once() -> Result<()> {
    let world = world().await?;
    let settings = Settings {
        max_quarantined: 5,
        ..world.settings()
    };
    let mut instances = Vec::new();
    for _ in 0..7 {
        instances.push(world.launch_worker().await?);
    }
    let mut text = events::read("guardduty/attack-sequence-ec2-compromised-instance-group.json")?;
    for (n, instance) in instances.iter().enumerate() {
        text = text.replace(&format!("i-0a1b2c3d4e5f6070{}", n + 1), instance);
    }
    let held = world
        .responder_as("guardduty-responder", settings.clone())
        .await?
        .handle(events::for_world_text(&text, &world)?)
        .await?
        .report()
        .expect("an incident");
    assert!(held.steps.iter().any(|s| s.outcome == Outcome::Held), "{held:#?}");
    world.pages().await?;

    emulator().record(&world.account.id)?;
    emulator().latency(&world.account.id, 20)?;
    let approval = json!({ "approve": held.incident_id });
    let through_faults = || world.faulty_responder_as("guardduty-responder", settings.clone());
    let (a, b) = (through_faults().await?, through_faults().await?);
    let (one, other) = tokio::join!(a.handle(approval.clone()), async {
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        b.handle(approval.clone()).await
    });
    let served = emulator().served(&world.account.id)?;
    emulator().clear(&world.account.id)?;
    assert!(one.is_ok() || other.is_ok(), "{one:?} / {other:?}");
    for result in [&one, &other] {
        if let Err(err) = result {
            assert!(matches!(err, playbook::Error::InProgress { .. }), "{err}");
        }
    }

    let isolation = world.quarantine_group("isolation").await?.expect("isolation group").id;
    let conversion = world
        .quarantine_group("conversion")
        .await?
        .expect("conversion group")
        .id;
    let mut interfaces = Vec::new();
    for instance in &instances {
        let host = world.host(instance).await?;
        assert_eq!(
            world.snapshots(instance).await?.len(),
            host.volumes.len(),
            "{instance}: one snapshot set"
        );
        for (eni, groups) in world.interface_groups(&host.interfaces).await? {
            assert_eq!(groups, vec![isolation.clone()], "{instance} {eni}");
        }
        interfaces.extend(host.interfaces);
    }
    let pages = world.pages().await?;
    let subjects: Vec<&str> = pages.iter().map(|p| p.subject.as_str()).collect();
    assert_eq!(pages.len(), 1, "one page: {subjects:?}");
    let (reopened, isolated_now) = crate::isolation::reopenings(&served, &conversion, &isolation);
    assert!(
        reopened.is_empty(),
        "an isolated interface went back to the conversion group: {reopened:?}"
    );
    for eni in &interfaces {
        assert!(isolated_now.contains(eni), "{eni} isolated");
    }
    Ok(())
}

#[tokio::test]
async fn dry_run_probes_each_ec2_call_without_making_it() -> Result<()> {
    let world = world().await?;
    let settings = Settings {
        dry_run: true,
        ..world.settings()
    };
    let report = world
        .responder_as("guardduty-responder", settings)
        .await?
        .handle(events::for_world(SSH_BRUTE_FORCE, &world)?)
        .await?
        .report()
        .expect("an incident");
    let probes: Vec<(String, String)> = report
        .steps
        .iter()
        .filter(|s| s.outcome == Outcome::DryRun)
        .filter_map(|s| Some((s.action.clone(), s.detail.get("probe")?.as_str()?.to_owned())))
        .collect();
    for action in [
        "protect-instance",
        "isolate-interfaces",
        "snapshot-volumes",
        "tag-instance",
    ] {
        let probe = probes.iter().find(|(a, _)| a == action).map(|(_, p)| p.as_str());
        assert_eq!(probe, Some("the deployed role is allowed"), "{action}: {probes:?}");
    }
    assert!(!isolated(&world).await?);
    assert!(world.snapshots(&world.web.instance_id).await?.is_empty());
    assert!(
        world
            .instance_tags(&world.web.instance_id)
            .await?
            .keys()
            .all(|k| !k.starts_with("tourniquet:"))
    );
    let pages = world.pages().await?;
    assert!(
        pages[0]
            .message
            .contains("dry run: not done (the deployed role is allowed)"),
        "{}",
        pages[0].message
    );

    // Dry run off, the same event again: it acts for real.
    let live = world.respond(events::for_world(SSH_BRUTE_FORCE, &world)?).await?;
    assert!(live.steps.iter().all(StepReport::done_now), "{live:#?}");
    assert!(isolated(&world).await?);
    Ok(())
}

#[tokio::test]
async fn release_restores_what_the_evidence_recorded() -> Result<()> {
    let world = world().await?;
    let groups_before = world.interface_groups(&world.web.interfaces).await?;
    let disks_before = world.delete_on_termination(&world.web.instance_id).await?;
    let responder = world.responder_as("guardduty-responder", world.settings()).await?;
    let quarantine_release = world.responder_as("quarantine-release", world.settings()).await?;
    let report = responder
        .handle(events::for_world(SSH_BRUTE_FORCE, &world)?)
        .await?
        .report()
        .expect("an incident");
    assert!(isolated(&world).await?);
    world.pages().await?;

    let request = json!({ "instance_id": world.web.instance_id });
    let released = quarantine_release.release(&request, Budget::default()).await?;
    assert_eq!(released.playbook, Playbook::Release);
    assert!(released.steps.iter().all(StepReport::done_now), "{released:#?}");
    assert_eq!(
        world.interface_groups(&world.web.interfaces).await?,
        groups_before,
        "groups identical to before"
    );
    assert!(world.elastic_ip_associated().await?, "Elastic IP back");
    assert!(
        !world.termination_protection(&world.web.instance_id).await?,
        "as recorded: off"
    );
    assert_eq!(
        world.delete_on_termination(&world.web.instance_id).await?,
        disks_before,
        "each volume goes with the instance again as it did"
    );
    let tags = world.instance_tags(&world.web.instance_id).await?;
    assert!(tags.contains_key("tourniquet:released-at"));
    assert!(!tags.contains_key("tourniquet:quarantined-at"));
    let pages = world.pages().await?;
    assert_eq!(pages.len(), 1);
    assert!(
        pages[0].subject.ends_with("released from quarantine"),
        "{}",
        pages[0].subject
    );

    // Nothing is deleted: snapshots and evidence stay.
    assert_eq!(world.snapshots(&world.web.instance_id).await?.len(), 2);
    let keys = world.evidence_keys().await?;
    assert!(
        keys.iter()
            .any(|k| k.ends_with(&format!("{}/event.json", report.incident_id)))
    );
    assert!(keys.iter().any(|k| k.contains("/release/steps/")));

    // A record lost after its step succeeded: the retry finds the address already back on its
    // interface and counts it done, rather than failing or moving it.
    world
        .account
        .clients
        .s3
        .delete_object()
        .bucket(&world.bucket)
        .key(format!(
            "incidents/{}/release/steps/02-restore-addresses.json",
            report.incident_id
        ))
        .send()
        .await?;
    let retried = quarantine_release.release(&request, Budget::default()).await?;
    let restore = retried
        .steps
        .iter()
        .find(|s| s.action == "restore-addresses")
        .expect("the step");
    assert_eq!(restore.outcome, Outcome::Done, "{restore:#?}");
    assert!(world.elastic_ip_associated().await?);
    assert!(world.pages().await?.is_empty());

    // Again: nothing more happens, nobody is paged.
    let again = quarantine_release.release(&request, Budget::default()).await?;
    assert!(
        again
            .steps
            .iter()
            .all(|s| matches!(s.outcome, Outcome::AlreadyDone | Outcome::NotNeeded))
    );
    assert!(world.pages().await?.is_empty());

    // An instance that was never quarantined is refused, clearly.
    let err = quarantine_release
        .release(&json!({ "instance_id": world.bastion.instance_id }), Budget::default())
        .await
        .expect_err("refused");
    assert!(err.to_string().contains("no tourniquet:incident-id tag"), "{err}");
    Ok(())
}

#[tokio::test]
async fn a_release_refuses_an_instance_changed_since_unless_forced() -> Result<()> {
    let world = world().await?;
    let responder = world.responder_as("guardduty-responder", world.settings()).await?;
    let quarantine_release = world.responder_as("quarantine-release", world.settings()).await?;
    responder
        .handle(events::for_world(SSH_BRUTE_FORCE, &world)?)
        .await?
        .report()
        .expect("an incident");
    assert!(isolated(&world).await?);
    world.pages().await?;

    // Someone moves an interface to another group while the instance is in quarantine.
    let moved = world.web.interfaces[1].clone();
    world
        .account
        .clients
        .ec2
        .modify_network_interface_attribute()
        .network_interface_id(&moved)
        .groups(&world.web_group)
        .send()
        .await?;
    let request = json!({ "instance_id": world.web.instance_id });
    let err = quarantine_release
        .release(&request, Budget::default())
        .await
        .expect_err("a changed instance is not released");
    let text = playbook::telemetry::chain(&err);
    assert!(text.contains(&format!("{moved} carries")), "{text}");
    assert!(text.contains("\"force\": true"), "{text}");
    assert!(!err.is_retryable());
    assert!(world.pages().await?.is_empty(), "nothing released, nobody paged");
    let groups = world.interface_groups(std::slice::from_ref(&moved)).await?;
    assert_eq!(groups[&moved], [world.web_group.as_str()], "left as the person set it");

    // Forced: released, and the force is in the release plan kept as evidence.
    let forced = json!({ "instance_id": world.web.instance_id, "force": true });
    let released = quarantine_release.release(&forced, Budget::default()).await?;
    assert!(released.steps.iter().all(StepReport::done_now), "{released:#?}");
    assert!(released.reason.contains("FORCED"), "{}", released.reason);
    let kept = world
        .evidence(&format!("incidents/{}/release/plan.json", released.incident_id))
        .await?;
    assert!(
        kept["reason"]
            .as_str()
            .is_some_and(|r| r.contains(&format!("{moved} carries"))),
        "{kept:#}"
    );
    Ok(())
}
