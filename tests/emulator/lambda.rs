//! The Lambda compromise playbook: code kept in a version, throttled to 0, its sessions denied; released.

use anyhow::Result;
use playbook::{Budget, Outcome, Playbook, Settings, report::StepReport};
use serde_json::json;
use tourniquet_tests::events;
use tourniquet_tests::functions;

use crate::world;

const BACKDOOR: &str = "guardduty/lambda-backdoor-cc-activity.json";
const FUNCTION: &str = "drill-image-resizer";

#[tokio::test]
async fn a_backdoored_function_is_kept_throttled_and_denied_and_release_puts_it_back() -> Result<()> {
    let world = world().await?;
    let function = functions::create(&world, FUNCTION, Some(5), &[("team", "media")]).await?;
    let responder = world.responder_as("guardduty-responder", world.settings()).await?;
    let quarantine_release = world.responder_as("quarantine-release", world.settings()).await?;
    let report = responder
        .handle(events::for_world(BACKDOOR, &world)?)
        .await?
        .report()
        .expect("an incident");
    assert_eq!(report.playbook, Playbook::LambdaCompromise, "{}", report.reason);
    assert!(report.steps.iter().all(StepReport::done_now), "{report:#?}");

    // No new invocation runs.
    assert_eq!(functions::reserved_concurrency(&world, FUNCTION).await?, Some(0));
    // The code that ran is recorded, and a version keeps exactly it.
    let pre = world
        .evidence(&format!("incidents/{}/pre-state.json", report.incident_id))
        .await?;
    assert_eq!(pre["observed"], "function");
    assert_eq!(pre["code_sha256"], function.code_sha256.as_str());
    assert_eq!(pre["reserved_concurrency"], 5);
    assert_eq!(pre["configuration"]["environment_names"], "API_TOKEN,BUCKET");
    assert!(
        !pre.to_string().contains("secret-value-never-recorded"),
        "environment values stay out of the evidence"
    );
    let versions = functions::versions(&world, FUNCTION).await?;
    assert_eq!(versions.len(), 1, "{versions:?}");
    assert_eq!(versions[0].1, function.code_sha256);
    // The role denies this function's sessions, and nothing else.
    let names = world.role_policy_names(&function.role_name).await?;
    assert_eq!(names.len(), 1, "{names:?}");
    assert_eq!(
        world.role_policy(&function.role_name, &names[0]).await?,
        Some(json!({"Version": "2012-10-17", "Statement": [{
            "Sid": "TourniquetDenySession", "Effect": "Deny", "Action": "*", "Resource": "*",
            "Condition": {"StringEquals": {"aws:userid": format!("{}:{FUNCTION}", function.role_id)}}
        }]}))
    );
    let pages = world.pages().await?;
    assert_eq!(pages.len(), 1);
    assert!(pages[0].subject.ends_with("function throttled"), "{}", pages[0].subject);

    // Release: the concurrency it had, the deny gone; the version stays as evidence.
    let request = json!({"function_name": FUNCTION, "incident_id": report.incident_id});
    let released = quarantine_release.release(&request, Budget::default()).await?;
    assert_eq!(released.playbook, Playbook::Release);
    assert!(released.steps.iter().all(StepReport::done_now), "{released:#?}");
    assert_eq!(functions::reserved_concurrency(&world, FUNCTION).await?, Some(5));
    assert!(world.role_policy_names(&function.role_name).await?.is_empty());
    assert_eq!(functions::versions(&world, FUNCTION).await?, versions);
    assert_eq!(world.pages().await?.len(), 1, "the release pages");
    // Released twice: the recorded release, nothing more.
    let again = quarantine_release.release(&request, Budget::default()).await?;
    assert!(
        again
            .steps
            .iter()
            .all(|s| matches!(s.outcome, Outcome::AlreadyDone | Outcome::NotNeeded)),
        "{again:#?}"
    );
    Ok(())
}

#[tokio::test]
async fn a_function_without_reserved_concurrency_gets_none_back_and_drift_is_refused() -> Result<()> {
    let world = world().await?;
    functions::create(&world, FUNCTION, None, &[]).await?;
    let quarantine_release = world.responder_as("quarantine-release", world.settings()).await?;
    let report = world.respond(events::for_world(BACKDOOR, &world)?).await?;
    assert_eq!(functions::reserved_concurrency(&world, FUNCTION).await?, Some(0));

    // Someone lifted the throttle since: the release refuses, naming it.
    world
        .account
        .clients
        .lambda
        .put_function_concurrency()
        .function_name(FUNCTION)
        .reserved_concurrent_executions(3)
        .send()
        .await?;
    let request = json!({"function_name": FUNCTION, "incident_id": report.incident_id});
    let err = quarantine_release
        .release(&request, Budget::default())
        .await
        .expect_err("refused");
    let err = playbook::telemetry::chain(&err);
    assert!(err.contains("reserved concurrency is 3, not 0"), "{err}");
    // Forced: the setting goes, as before the incident.
    let forced = json!({"function_name": FUNCTION, "incident_id": report.incident_id, "force": true});
    quarantine_release.release(&forced, Budget::default()).await?;
    assert_eq!(functions::reserved_concurrency(&world, FUNCTION).await?, None);
    // Another function's name with this incident: refused.
    let other = json!({"function_name": "another", "incident_id": report.incident_id});
    let err = playbook::telemetry::chain(
        &quarantine_release
            .release(&other, Budget::default())
            .await
            .expect_err("refused"),
    );
    assert!(err.contains("did not throttle another"), "{err}");
    Ok(())
}

#[tokio::test]
async fn a_protected_function_pages_only_and_dry_run_changes_nothing() -> Result<()> {
    let world = world().await?;
    functions::create(&world, FUNCTION, Some(5), &[("tourniquet:protected", "payments")]).await?;
    let report = world.respond(events::for_world(BACKDOOR, &world)?).await?;
    assert_eq!(report.playbook, Playbook::PageOnly);
    assert!(report.reason.contains("protected tag"), "{}", report.reason);
    assert_eq!(functions::reserved_concurrency(&world, FUNCTION).await?, Some(5));
    assert!(functions::versions(&world, FUNCTION).await?.is_empty());

    let world = super::world().await?;
    let function = functions::create(&world, FUNCTION, Some(5), &[]).await?;
    let settings = Settings {
        dry_run: true,
        ..world.settings()
    };
    let report = world
        .responder_as("guardduty-responder", settings)
        .await?
        .handle(events::for_world(BACKDOOR, &world)?)
        .await?
        .report()
        .expect("an incident");
    assert!(report.dry_run);
    assert_eq!(report.playbook, Playbook::LambdaCompromise);
    // Lambda has no DryRun: the report says each change was not probed.
    for step in report.steps.iter().filter(|s| s.outcome == Outcome::DryRun) {
        assert_eq!(
            step.detail["probe"], "not probed: the service has no DryRun",
            "{}",
            step.action
        );
    }
    assert_eq!(functions::reserved_concurrency(&world, FUNCTION).await?, Some(5));
    assert!(functions::versions(&world, FUNCTION).await?.is_empty());
    assert!(world.role_policy_names(&function.role_name).await?.is_empty());
    Ok(())
}

/// The reserved concurrency could not be read when the function was throttled: the release
/// refuses, saying why, rather than removing the setting (which would let it run unbounded)
/// or guessing one; the throttle stays.
#[tokio::test]
async fn a_release_refuses_when_the_concurrency_before_was_never_read() -> Result<()> {
    use tourniquet_tests::emulator::emulator;

    let world = world().await?;
    functions::create(&world, FUNCTION, Some(5), &[]).await?;
    emulator().deny(
        &world.account.id,
        "lambda",
        "GetFunctionConcurrency",
        403,
        "AccessDeniedException",
    )?;
    let faulty = world
        .faulty_responder_as("guardduty-responder", world.settings())
        .await?;
    let report = faulty
        .handle(events::for_world(BACKDOOR, &world)?)
        .await?
        .report()
        .expect("an incident");
    emulator().clear(&world.account.id)?;
    assert_eq!(report.playbook, Playbook::LambdaCompromise, "{}", report.reason);
    assert_eq!(functions::reserved_concurrency(&world, FUNCTION).await?, Some(0));

    let responder = world.responder_as("guardduty-responder", world.settings()).await?;
    let request = json!({"function_name": FUNCTION, "incident_id": report.incident_id});
    let err = playbook::telemetry::chain(
        &responder
            .release(&request, Budget::default())
            .await
            .expect_err("refused"),
    );
    assert!(
        err.contains("was never read (") && err.contains("put-function-concurrency"),
        "{err}"
    );
    assert_eq!(
        functions::reserved_concurrency(&world, FUNCTION).await?,
        Some(0),
        "the throttle stays"
    );
    Ok(())
}
