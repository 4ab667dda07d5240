//! The `tourniquet` command as a person types it: list, show, approve a held plan, release an
//! instance and a user, against the emulator and the real function binaries.

use std::process::{Command, Output, Stdio};

use anyhow::{Context, Result};
use playbook::Settings;
use serde_json::Value;
use tourniquet_tests::events;
use tourniquet_tests::runtime::{LambdaRuntime, function_binary};
use tourniquet_tests::world::World;

use crate::world;

const SSH_BRUTE_FORCE: &str = "guardduty/ec2-ssh-brute-force-web-server.json";
const USER_FINDING: &str = "guardduty/iam-user-malicious-ip-caller.json";

/// Runs `tourniquet ARGS` with the world's credentials and bucket, as a person would (no
/// terminal), its Lambda calls going to `lambda` when given.
async fn tourniquet(world: &World, lambda: Option<&LambdaRuntime>, args: &[&str]) -> Result<Output> {
    let mut command = Command::new(function_binary("tourniquet")?);
    command
        .envs(world.account.env().await?)
        .env("TOURNIQUET_EVIDENCE_BUCKET", &world.bucket)
        .env_remove("AWS_PROFILE")
        .args(args)
        .stdin(Stdio::null());
    if let Some(runtime) = lambda {
        command.env("AWS_ENDPOINT_URL_LAMBDA", format!("http://127.0.0.1:{}", runtime.port));
    }
    let output = tokio::task::spawn_blocking(move || command.output()).await??;
    Ok(output)
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn json_of(output: &Output) -> Result<Value> {
    serde_json::from_slice(&output.stdout).with_context(|| {
        format!(
            "not JSON: {}\n{}",
            stdout(output),
            String::from_utf8_lossy(&output.stderr)
        )
    })
}

fn succeeded(output: &Output) -> Result<()> {
    anyhow::ensure!(
        output.status.success(),
        "exit {:?}\n{}\n{}",
        output.status.code(),
        stdout(output),
        String::from_utf8_lossy(&output.stderr)
    );
    Ok(())
}

/// An evidence object as text.
async fn evidence_text(world: &World, key: &str) -> Result<String> {
    let out = world
        .account
        .clients
        .s3
        .get_object()
        .bucket(&world.bucket)
        .key(key)
        .send()
        .await?;
    assert_eq!(out.content_type(), Some("text/html; charset=utf-8"), "{key}");
    Ok(String::from_utf8(out.body.collect().await?.to_vec())?)
}

/// `function`'s environment in the world (its role's credentials), with `extra` settings.
async fn function_env(world: &World, function: &str, extra: &[(&str, &str)]) -> Result<Vec<(String, String)>> {
    let mut env = world.function_env(function).await?;
    env.extend(extra.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())));
    Ok(env)
}

#[tokio::test]
async fn lists_shows_and_releases_a_contained_instance() -> Result<()> {
    let world = world().await?;
    let report = world.respond(events::for_world(SSH_BRUTE_FORCE, &world)?).await?;
    let id = report.incident_id.clone();
    world.pages().await?;

    let listed = tourniquet(&world, None, &["incidents", "--json"]).await?;
    succeeded(&listed)?;
    let listed = json_of(&listed)?;
    let entries = listed.as_array().context("a list")?;
    assert_eq!(entries.len(), 1, "{listed:#}");
    assert_eq!(entries[0]["incident_id"], id.as_str());
    assert_eq!(entries[0]["verdict"], "contained");
    assert_eq!(entries[0]["resource"], world.web.instance_id.as_str());
    let text = tourniquet(&world, None, &["incidents", "--since", "1h"]).await?;
    succeeded(&text)?;
    assert!(
        stdout(&text).contains(&id) && stdout(&text).contains("isolated"),
        "{}",
        stdout(&text)
    );
    let none = tourniquet(&world, None, &["incidents", "--held", "--json"]).await?;
    assert_eq!(json_of(&none)?, serde_json::json!([]));

    let shown = tourniquet(&world, None, &["show", &id]).await?;
    succeeded(&shown)?;
    let text = stdout(&shown);
    let release = format!("tourniquet release {id} --instance {}", world.web.instance_id);
    for expected in [
        "[CONTAINED]",
        "Before (pre-state.json)",
        "isolate-interfaces",
        "Snapshots:",
        &release,
    ] {
        assert!(text.contains(expected), "{expected} missing from:\n{text}");
    }
    let shown = json_of(&tourniquet(&world, None, &["show", &id, "--json"]).await?)?;
    assert_eq!(shown["state"], "contained");
    assert_eq!(shown["page"]["schema"], "tourniquet.page/1");
    assert!(
        shown["next_commands"]
            .as_array()
            .is_some_and(|c| c.contains(&Value::from(release.clone())))
    );

    // The responder left report.html beside report.json, and indexed the incident.
    let page = evidence_text(&world, &format!("incidents/{id}/report.html")).await?;
    assert!(page.contains("<svg id=\"timeline-chart\"") && page.contains(&world.web.instance_id));

    let missing = tourniquet(&world, None, &["show", "guardduty-nothing"]).await?;
    assert_eq!(missing.status.code(), Some(3), "not found");
    assert!(String::from_utf8_lossy(&missing.stderr).contains("tourniquet incidents"));

    // Without --yes and nobody at a terminal, nothing is sent.
    let runtime = LambdaRuntime::start(
        "quarantine-release",
        &function_env(&world, "quarantine-release", &[]).await?,
    )?;
    let unconfirmed = tourniquet(
        &world,
        Some(&runtime),
        &["release", &id, "--instance", &world.web.instance_id, "--function", "_"],
    )
    .await?;
    assert_eq!(unconfirmed.status.code(), Some(6));
    let released = tourniquet(
        &world,
        Some(&runtime),
        &[
            "release",
            &id,
            "--instance",
            &world.web.instance_id,
            "--function",
            "_",
            "--yes",
            "--json",
        ],
    )
    .await?;
    succeeded(&released)?;
    assert_eq!(json_of(&released)?["playbook"], "release");
    assert!(world.quarantine_group("isolation").await?.is_some());
    let groups = world.interface_groups(&world.web.interfaces).await?;
    let isolation = world.quarantine_group("isolation").await?.context("isolation group")?;
    assert!(
        groups.values().all(|g| !g.contains(&isolation.id)),
        "released: {groups:?}"
    );
    let shown = json_of(&tourniquet(&world, None, &["show", &id, "--json"]).await?)?;
    assert_eq!(shown["state"], "released");
    Ok(())
}

#[tokio::test]
async fn approves_a_held_plan_and_releases_a_user() -> Result<()> {
    let world = world().await?;
    let settings = Settings {
        max_quarantined: 1,
        ..world.settings()
    };
    let responder = world.responder_as("guardduty-responder", settings).await?;
    let worker = world.launch_worker().await?;
    let first = events::read("guardduty/ec2-backdoor-cc-activity.json")?.replace(events::WEB_PLACEHOLDER, &worker);
    responder.handle(events::for_world_text(&first, &world)?).await?;
    let held = responder
        .handle(events::for_world(SSH_BRUTE_FORCE, &world)?)
        .await?
        .report()
        .context("an incident")?;
    world.pages().await?;

    let listed = json_of(&tourniquet(&world, None, &["incidents", "--held", "--json"]).await?)?;
    assert_eq!(listed.as_array().map(Vec::len), Some(1), "{listed:#}");
    assert_eq!(listed[0]["incident_id"], held.incident_id.as_str());
    let shown = stdout(&tourniquet(&world, None, &["show", &held.incident_id]).await?);
    assert!(
        shown.contains(&format!("tourniquet approve {}", held.incident_id)),
        "{shown}"
    );

    let runtime = LambdaRuntime::start(
        "guardduty-responder",
        &function_env(&world, "guardduty-responder", &[("TOURNIQUET_MAX_QUARANTINED", "1")]).await?,
    )?;
    let approved = tourniquet(
        &world,
        Some(&runtime),
        &["approve", &held.incident_id, "--function", "_", "--yes"],
    )
    .await?;
    succeeded(&approved)?;
    assert!(
        stdout(&approved).contains("isolate-interfaces"),
        "{}",
        stdout(&approved)
    );
    let isolation = world.quarantine_group("isolation").await?.context("isolation group")?;
    let groups = world.interface_groups(&world.web.interfaces).await?;
    assert!(groups.values().all(|g| g == &vec![isolation.id.clone()]), "{groups:?}");
    let listed = json_of(&tourniquet(&world, None, &["incidents", "--json"]).await?)?;
    let entry = listed
        .as_array()
        .and_then(|l| l.iter().find(|e| e["incident_id"] == held.incident_id.as_str()))
        .context("listed")?;
    assert_eq!(entry["verdict"], "contained", "{entry:#}");
    assert_eq!(entry["run"], "approved");
    drop(runtime);

    // A user's leaked key: released by name with the incident, the key staying off.
    let user = world.respond(events::for_world(USER_FINDING, &world)?).await?;
    world.pages().await?;
    let runtime = LambdaRuntime::start(
        "quarantine-release",
        &function_env(&world, "quarantine-release", &[]).await?,
    )?;
    let usage = tourniquet(&world, Some(&runtime), &["release", "--user", &world.deployer, "--yes"]).await?;
    assert_eq!(usage.status.code(), Some(2), "a user's release names its incident");
    let released = tourniquet(
        &world,
        Some(&runtime),
        &[
            "release",
            &user.incident_id,
            "--user",
            &world.deployer,
            "--function",
            "_",
            "--yes",
            "--json",
        ],
    )
    .await?;
    succeeded(&released)?;
    assert_eq!(json_of(&released)?["playbook"], "release");
    assert_eq!(world.user_policy(&world.deployer, "tourniquet-deny-all").await?, None);
    assert_eq!(world.deployer_key_status().await?, ["Inactive", "Active"]);
    Ok(())
}
