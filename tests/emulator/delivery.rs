//! Safe to leave running: redelivery, crash and resume, permanent failure, throttling, deadline.

use std::time::{Duration, SystemTime};

use anyhow::Result;
use playbook::{Budget, Error, Outcome, Report, Responder, report::StepReport};
use tourniquet_tests::emulator::emulator;
use tourniquet_tests::events;
use tourniquet_tests::world::World;

use crate::world;

const SSH_BRUTE_FORCE: &str = "guardduty/ec2-ssh-brute-force-web-server.json";

async fn contained(world: &World) -> Result<bool> {
    let Some(isolation) = world.quarantine_group("isolation").await? else {
        return Ok(false);
    };
    let groups = world.interface_groups(&world.web.interfaces).await?;
    Ok(groups.values().all(|g| g == &vec![isolation.id.clone()]))
}

fn incomplete(result: Result<playbook::Response, Error>) -> Report {
    match result {
        Err(Error::Incomplete(report)) => *report,
        other => panic!("expected an incomplete response, got {other:?}"),
    }
}

fn outcome_of(report: &Report, action: &str) -> Option<Outcome> {
    report.steps.iter().find(|s| s.action == action).map(|s| s.outcome)
}

/// The GuardDuty responder reaching the world through the fault injector.
async fn faulty_responder(world: &World) -> Result<Responder> {
    world.faulty_responder_as("guardduty-responder", world.settings()).await
}

#[tokio::test]
async fn five_concurrent_deliveries_act_once() -> Result<()> {
    let world = world().await?;
    let event = events::for_world(SSH_BRUTE_FORCE, &world)?;
    let mut responders = Vec::new();
    for _ in 0..5 {
        responders.push(world.responder_as("guardduty-responder", world.settings()).await?);
    }
    let results = futures_util::future::join_all(responders.iter().map(|r| r.handle(event.clone()))).await;
    let reports: Vec<Report> = results
        .into_iter()
        .map(|r| r.map(|r| r.report().expect("an incident")))
        .collect::<Result<_, _>>()?;
    assert_eq!(reports.len(), 5);
    for step in 0..reports[0].steps.len() {
        if reports.iter().all(|r| r.steps[step].outcome == Outcome::NotNeeded) {
            continue; // the update page: nothing failed, nothing to update
        }
        let done = reports
            .iter()
            .filter(|r| r.steps[step].outcome == Outcome::Done)
            .count();
        let action = &reports[0].steps[step].action;
        // The others waited for the first run's report instead of racing it.
        assert_eq!(done, 1, "{action} done by exactly one invocation");
        assert!(reports.iter().all(|r| r.steps[step].succeeded()), "{action}");
    }
    assert!(contained(&world).await?);
    assert_eq!(
        world.snapshots(&world.web.instance_id).await?.len(),
        2,
        "one snapshot set"
    );
    assert_eq!(world.pages().await?.len(), 1, "one page");
    Ok(())
}

/// A describe refused past the SDK's retries (an SCP in one region, a 5xx) decides nothing:
/// one page says so, no plan is recorded for the incident, and the retry, once EC2 answers,
/// contains the instance.
#[tokio::test]
async fn a_failed_describe_is_retried_not_recorded_as_page_only() -> Result<()> {
    let world = world().await?;
    let event = events::for_world(SSH_BRUTE_FORCE, &world)?;
    emulator().deny(
        &world.account.id,
        "ec2",
        "DescribeInstances",
        403,
        "UnauthorizedOperation",
    )?;
    let responder = faulty_responder(&world).await?;
    let err = responder.handle(event.clone()).await.expect_err("a retry is asked for");
    assert!(matches!(err, Error::Unobserved { .. }), "{err}");
    assert!(err.is_retryable());
    let pages = world.pages().await?;
    assert_eq!(pages.len(), 1);
    assert!(
        pages[0].message.contains("UnauthorizedOperation"),
        "{}",
        pages[0].message
    );
    // Failing the same way again pages nobody twice.
    assert!(matches!(
        responder.handle(event.clone()).await,
        Err(Error::Unobserved { .. })
    ));
    assert!(world.pages().await?.is_empty());
    assert!(
        !world
            .evidence_keys()
            .await?
            .iter()
            .any(|k| k.ends_with(&format!("{}/plan.json", incident_id(&event)))),
        "no plan recorded for the incident itself"
    );
    emulator().clear(&world.account.id)?;
    let report = responder.handle(event).await?.report().expect("an incident");
    assert_eq!(report.playbook, playbook::Playbook::Ec2Compromise, "{report:#?}");
    assert!(contained(&world).await?);
    Ok(())
}

fn incident_id(event: &serde_json::Value) -> String {
    playbook::intake::parse(event)
        .ok()
        .and_then(playbook::intake::Intake::incident)
        .map(|i| i.id)
        .unwrap_or_default()
}

#[tokio::test]
async fn a_run_cut_short_resumes_where_it_stopped() -> Result<()> {
    let world = world().await?;
    let responder = world.responder_as("guardduty-responder", world.settings()).await?;
    let event = events::for_world(SSH_BRUTE_FORCE, &world)?;
    // Dies after step 3 (evidence, protection, isolation), before the snapshot and the page.
    let cut = Budget {
        max_steps: Some(3),
        ..Budget::default()
    };
    let report = incomplete(responder.handle_within(event.clone(), cut).await);
    assert_eq!(report.steps.len(), 3);
    assert!(
        report
            .interrupted
            .as_deref()
            .is_some_and(|r| r.contains("before step 4")),
        "{report:#?}"
    );
    assert!(contained(&world).await?);
    assert!(world.snapshots(&world.web.instance_id).await?.is_empty());
    assert!(world.pages().await?.is_empty(), "no page yet");

    let report = responder.handle(event).await?.report().expect("an incident");
    let outcomes: Vec<Outcome> = report.steps.iter().map(|s| s.outcome).collect();
    assert_eq!(&outcomes[..3], [Outcome::AlreadyDone; 3]);
    assert!(
        outcomes[3..]
            .iter()
            .all(|o| matches!(o, Outcome::Done | Outcome::NotNeeded)),
        "{outcomes:?}"
    );
    assert_eq!(world.snapshots(&world.web.instance_id).await?.len(), 2);
    let pages = world.pages().await?;
    assert_eq!(pages.len(), 1);
    assert!(
        pages[0].message.contains("isolate-interfaces"),
        "the page covers every step"
    );
    assert!(pages[0].message.contains("done (earlier)"), "{}", pages[0].message);
    Ok(())
}

#[tokio::test]
async fn a_step_that_fails_for_good_does_not_stop_the_rest() -> Result<()> {
    let world = world().await?;
    emulator().deny(
        &world.account.id,
        "ec2",
        "CreateSnapshots",
        403,
        "UnauthorizedOperation",
    )?;
    let responder = faulty_responder(&world).await?;
    let event = events::for_world(SSH_BRUTE_FORCE, &world)?;
    let result = responder.handle(event.clone()).await;
    let err = result.as_ref().err().map(ToString::to_string).unwrap_or_default();
    assert!(err.contains("snapshot-volumes (UnauthorizedOperation)"), "{err}");
    let report = incomplete(result);
    let failed: Vec<&str> = report.failures().map(|s| s.action.as_str()).collect();
    assert_eq!(failed, ["snapshot-volumes"]);
    assert!(contained(&world).await?, "isolation is independent of the snapshot");
    assert!(
        world
            .instance_tags(&world.web.instance_id)
            .await?
            .contains_key("tourniquet:quarantined-at")
    );
    let pages = world.pages().await?;
    assert_eq!(pages.len(), 1);
    assert!(
        pages[0].message.contains("FAILED UnauthorizedOperation"),
        "{}",
        pages[0].message
    );
    assert!(pages[0].subject.ends_with("1 step(s) FAILED"), "{}", pages[0].subject);

    // Lambda retries after the permission is fixed: only the failed step runs.
    emulator().clear(&world.account.id)?;
    let report = responder.handle(event).await?.report().expect("an incident");
    let done: Vec<&str> = report
        .steps
        .iter()
        .filter(|s| s.outcome == Outcome::Done)
        .map(|s| s.action.as_str())
        .collect();
    assert_eq!(done, ["snapshot-volumes", "page-update"]);
    assert_eq!(world.snapshots(&world.web.instance_id).await?.len(), 2);
    // The person paged about the failure hears, once, that the retry completed the response.
    let pages = world.pages().await?;
    assert_eq!(pages.len(), 1, "one update");
    assert!(
        pages[0].subject.ends_with("isolated, done on retry"),
        "{}",
        pages[0].subject
    );
    assert!(
        pages[0]
            .message
            .starts_with("UPDATE: an earlier page for this incident reported failed steps (snapshot-volumes)"),
        "{}",
        pages[0].message
    );
    assert_eq!(outcome_of(&report, "page-update"), Some(Outcome::Done));

    // A later delivery sends nothing more.
    let report = responder
        .handle(events::for_world(SSH_BRUTE_FORCE, &world)?)
        .await?
        .report()
        .expect("an incident");
    assert_eq!(outcome_of(&report, "page-update"), Some(Outcome::AlreadyDone));
    assert!(world.pages().await?.is_empty(), "no third page");
    Ok(())
}

#[tokio::test]
async fn a_snapshot_set_taken_before_a_crash_is_not_taken_again() -> Result<()> {
    let world = world().await?;
    let responder = world.responder_as("guardduty-responder", world.settings()).await?;
    let event = events::for_world(SSH_BRUTE_FORCE, &world)?;
    let report = responder.handle(event.clone()).await?.report().expect("an incident");
    assert_eq!(world.snapshots(&world.web.instance_id).await?.len(), 2);
    drop(world.pages().await?);

    // As if the invocation had died right after CreateSnapshots: no record, and a claim
    // whose lease has long run out.
    let s3 = &world.account.clients.s3;
    let listed = s3
        .list_objects_v2()
        .bucket(&world.bucket)
        .prefix(format!("incidents/{}/steps/", report.incident_id))
        .send()
        .await?;
    let record = listed
        .contents()
        .iter()
        .filter_map(|o| o.key())
        .find(|k| k.ends_with("-snapshot-volumes.json"))
        .expect("a snapshot record")
        .to_owned();
    s3.delete_object().bucket(&world.bucket).key(&record).send().await?;
    s3.put_object()
        .bucket(&world.bucket)
        .key(format!("{record}.claim"))
        .body(br#"{"claimed_at": 0}"#.to_vec().into())
        .send()
        .await?;

    let report = responder.handle(event).await?.report().expect("an incident");
    let snapshot = report
        .steps
        .iter()
        .find(|s| s.action == "snapshot-volumes")
        .expect("the snapshot step");
    assert_eq!(snapshot.outcome, Outcome::Done);
    assert!(snapshot.detail["adopted"].is_string(), "{snapshot:#?}");
    assert_eq!(
        world.snapshots(&world.web.instance_id).await?.len(),
        2,
        "the set already taken, not a second one"
    );
    assert!(world.pages().await?.is_empty(), "the page was recorded: no second page");
    Ok(())
}

#[tokio::test]
async fn thirty_percent_faults_every_incident_completes_nothing_twice() -> Result<()> {
    let world = world().await?;
    let worker = world.launch_worker().await?;
    let incidents = [
        events::for_world(SSH_BRUTE_FORCE, &world)?,
        events::for_world_text(
            &events::read("guardduty/ec2-backdoor-cc-activity.json")?.replace(events::WEB_PLACEHOLDER, &worker),
            &world,
        )?,
        events::for_world("guardduty/iam-user-malicious-ip-caller.json", &world)?,
    ];
    emulator().faults(&world.account.id, 0.3, 7)?;
    let responder = faulty_responder(&world).await?;
    for event in incidents {
        // Lambda retries an invocation that returns an error; a few deliveries at most.
        let mut attempts = 0;
        loop {
            attempts += 1;
            match responder.handle(event.clone()).await {
                Ok(_) => break,
                Err(err) if err.is_retryable() && attempts < 6 => {}
                Err(err) => panic!("incident did not complete in {attempts} deliveries: {err}"),
            }
        }
    }
    let injected = emulator().clear(&world.account.id)?;
    assert!(injected > 10, "only {injected} faults injected");

    assert!(contained(&world).await?);
    assert_eq!(
        world.snapshots(&world.web.instance_id).await?.len(),
        2,
        "web: one snapshot set"
    );
    assert_eq!(world.snapshots(&worker).await?.len(), 1, "worker: one snapshot set");
    assert_eq!(world.deployer_key_status().await?, ["Inactive", "Active"]);
    // One page per incident, and one update for an incident whose page reported a failure
    // that a retry then fixed.
    let pages = world.pages().await?;
    let (updates, first): (Vec<_>, Vec<_>) = pages.iter().partition(|p| p.subject.ends_with("done on retry"));
    assert_eq!(first.len(), 3, "one page per incident: {pages:#?}");
    let failed = first.iter().filter(|p| p.subject.ends_with("FAILED")).count();
    assert_eq!(updates.len(), failed, "one update per page that reported a failure");
    Ok(())
}

#[tokio::test]
async fn near_the_deadline_no_new_step_starts_and_a_retry_resumes() -> Result<()> {
    let world = world().await?;
    let responder = world.responder_as("guardduty-responder", world.settings()).await?;
    let event = events::for_world(SSH_BRUTE_FORCE, &world)?;
    let late = Budget {
        deadline: Some(SystemTime::now() + Duration::from_secs(5)),
        ..Budget::default()
    };
    // One step always runs (progress), then none starts inside the margin.
    let report = incomplete(responder.handle_within(event.clone(), late).await);
    assert_eq!(report.steps.len(), 1);
    assert!(
        report.interrupted.as_deref().is_some_and(|r| r.contains("deadline")),
        "{report:#?}"
    );
    assert!(!contained(&world).await?);
    assert!(world.pages().await?.is_empty());

    let report = responder.handle(event).await?.report().expect("an incident");
    assert_eq!(report.steps[0].outcome, Outcome::AlreadyDone);
    assert!(report.steps[1..].iter().all(StepReport::done_now));
    assert!(contained(&world).await?);
    assert_eq!(world.pages().await?.len(), 1);
    Ok(())
}

#[tokio::test]
async fn the_plan_carries_its_writers_deadline_so_a_long_run_is_not_taken_over() -> Result<()> {
    let world = world().await?;
    let responder = world.responder_as("guardduty-responder", world.settings()).await?;
    let event = events::for_world(SSH_BRUTE_FORCE, &world)?;
    // A function given 14 minutes: its plan is its own for all of them (and the margin), not
    // for a fixed lease that a longer timeout would outlive.
    let deadline = SystemTime::now() + Duration::from_secs(840);
    let long = Budget {
        deadline: Some(deadline),
        ..Budget::default()
    };
    responder.handle_within(event.clone(), long).await?;
    let key = world
        .evidence_keys()
        .await?
        .into_iter()
        .find(|k| k.ends_with("/plan.json") && !k.contains("/release/") && !k.contains("/approved/"))
        .expect("plan.json");
    let head = world
        .account
        .clients
        .s3
        .head_object()
        .bucket(&world.bucket)
        .key(&key)
        .send()
        .await?;
    let until: u64 = head
        .metadata()
        .and_then(|m| m.get("owned-until"))
        .expect("the writer's deadline on plan.json")
        .parse()?;
    let deadline = deadline.duration_since(SystemTime::UNIX_EPOCH)?.as_secs();
    assert_eq!(until, deadline + playbook::ledger::CLAIM_MARGIN.as_secs());
    Ok(())
}

#[tokio::test]
async fn without_its_ledger_the_responder_changes_nothing() -> Result<()> {
    let world = world().await?;
    emulator().deny(&world.account.id, "s3", "GETBucket", 503, "SlowDown")?;
    let responder = faulty_responder(&world).await?;
    let err = responder
        .handle(events::for_world(SSH_BRUTE_FORCE, &world)?)
        .await
        .expect_err("no ledger, no response");
    emulator().clear(&world.account.id)?;
    assert!(matches!(err, Error::Ledger(_)), "{err}");
    assert!(err.is_retryable());
    assert!(!contained(&world).await?);
    assert!(world.pages().await?.is_empty());
    Ok(())
}
