//! The `tourniquet` command as a person types it: list, show, approve a held plan, release an
//! instance and a user, against the emulator and the real function binaries, the deployment
//! found by its stack's outputs; every `--json` answer checked against `cli/schema/`.

use std::process::{Command, Output, Stdio};

use anyhow::{Context, Result};
use aws_sdk_cloudformation::types::StackStatus;
use playbook::Settings;
use serde_json::{Value, json};
use tourniquet_tests::runtime::{LambdaRuntime, function_binary};
use tourniquet_tests::world::{QuarantineGroup, World};
use tourniquet_tests::{events, schema};

use crate::world;

const SSH_BRUTE_FORCE: &str = "guardduty/ec2-ssh-brute-force-web-server.json";
const USER_FINDING: &str = "guardduty/iam-user-malicious-ip-caller.json";

/// The stack name the command assumes when none is given.
const STACK: &str = "tourniquet";

/// The outputs of template.yaml the command reads, as a deployment in the world has them: the
/// world's evidence bucket, and the functions by the names the Lambda emulator serves them
/// under (their binaries').
fn outputs(world: &World) -> Vec<(&'static str, String)> {
    vec![
        ("EvidenceBucketName", world.bucket.clone()),
        ("GuardDutyResponderName", "guardduty-responder".to_owned()),
        ("ConfigResponderName", "config-responder".to_owned()),
        ("AlarmResponderName", "alarm-responder".to_owned()),
        ("SecurityHubResponderName", "securityhub-responder".to_owned()),
        ("QuarantineReleaseName", "quarantine-release".to_owned()),
        ("PageTopicArn", world.settings().topic_arn),
    ]
}

/// Creates stack `name` with `outputs` in the world's account. Not from template.yaml: the
/// emulator cannot deploy the SAM application itself (the transform, the functions' code), so
/// the stack is one placeholder resource (a parameter) and template.yaml's output keys.
async fn deploy(world: &World, name: &str, outputs: &[(&str, String)]) -> Result<()> {
    let outputs: serde_json::Map<String, Value> = outputs
        .iter()
        .map(|(key, value)| ((*key).to_owned(), json!({ "Value": value })))
        .collect();
    let template = json!({
        "AWSTemplateFormatVersion": "2010-09-09",
        "Resources": {
            "Placeholder": {
                "Type": "AWS::SSM::Parameter",
                "Properties": {
                    "Name": format!("/{name}/placeholder"),
                    "Type": "String",
                    "Value": "a stack with template.yaml's outputs",
                },
            },
        },
        "Outputs": outputs,
    });
    let cloudformation = aws_sdk_cloudformation::Client::new(&world.account.config);
    cloudformation
        .create_stack()
        .stack_name(name)
        .template_body(template.to_string())
        .send()
        .await?;
    let described = cloudformation.describe_stacks().stack_name(name).send().await?;
    let stack = described.stacks().first().context("the stack")?;
    assert_eq!(stack.stack_status(), Some(&StackStatus::CreateComplete));
    assert_eq!(stack.outputs().len(), outputs.len());
    Ok(())
}

/// Runs `tourniquet ARGS` with the world's credentials, as a person would (no terminal, no
/// bucket or stack in the environment), its Lambda calls going to `lambda` when given.
async fn tourniquet(world: &World, lambda: Option<&LambdaRuntime>, args: &[&str]) -> Result<Output> {
    let mut command = Command::new(function_binary("tourniquet")?);
    command
        .envs(world.account.env().await?)
        .env_remove("AWS_PROFILE")
        .env_remove("TOURNIQUET_EVIDENCE_BUCKET")
        .env_remove("TOURNIQUET_STACK")
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

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// The command's `--json` answer, valid against `cli/schema/<schema>.schema.json`.
fn json_of(output: &Output, schema: &str) -> Result<Value> {
    let value: Value = serde_json::from_slice(&output.stdout)
        .with_context(|| format!("not JSON: {}\n{}", stdout(output), stderr(output)))?;
    schema::check(schema::cli(schema), &value).with_context(|| format!("against cli/schema/{schema}.schema.json"))?;
    Ok(value)
}

/// A failure with exit `code`, its `--json` answer valid against the error schema.
fn failed_with(output: &Output, code: i32) -> Result<Value> {
    assert_eq!(
        output.status.code(),
        Some(code),
        "{}\n{}",
        stdout(output),
        stderr(output)
    );
    let error = json_of(output, "error")?;
    assert_eq!(error["exit"], code);
    Ok(error)
}

fn succeeded(output: &Output) -> Result<()> {
    anyhow::ensure!(
        output.status.success(),
        "exit {:?}\n{}\n{}",
        output.status.code(),
        stdout(output),
        stderr(output)
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
/// Every interface of the web host is still in the isolation group alone; that group.
async fn still_isolated(world: &World) -> Result<QuarantineGroup> {
    let isolation = world.quarantine_group("isolation").await?.context("isolation group")?;
    let groups = world.interface_groups(&world.web.interfaces).await?;
    assert!(
        groups.values().all(|g| g == &vec![isolation.id.clone()]),
        "still isolated: {groups:?}"
    );
    Ok(isolation)
}

async fn function_env(world: &World, function: &str, extra: &[(&str, &str)]) -> Result<Vec<(String, String)>> {
    let mut env = world.function_env(function).await?;
    env.extend(extra.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())));
    Ok(env)
}

/// `tourniquet show ID` of a contained instance: the commands name the stack's functions, the
/// page links report.html; an unknown incident is not found.
async fn shows_the_contained_instance(world: &World, id: &str) -> Result<()> {
    let web = world.web.instance_id.as_str();
    // `tourniquet show ID`: the commands name the stack's functions, the page links report.html.
    let shown = tourniquet(world, None, &["show", id]).await?;
    succeeded(&shown)?;
    let text = stdout(&shown);
    let release = format!("tourniquet release {id} --instance {web}");
    let report_link = format!(
        "https://console.aws.amazon.com/s3/object/{}?region=us-east-1&prefix=incidents%2F{id}%2Freport.html",
        world.bucket
    );
    for expected in [
        "[CONTAINED]",
        "Before (pre-state.json)",
        "isolate-interfaces",
        "Snapshots:",
        "--function-name quarantine-release ",
        &report_link,
        &release,
    ] {
        assert!(text.contains(expected), "{expected} missing from:\n{text}");
    }
    let shown = json_of(&tourniquet(world, None, &["show", id, "--json"]).await?, "show")?;
    assert_eq!(shown["state"], "contained");
    assert_eq!(shown["page"]["request"]["function"], "quarantine-release");
    assert_eq!(shown["release"], Value::Null);
    assert!(
        shown["next_commands"]
            .as_array()
            .is_some_and(|c| c.contains(&Value::from(release.clone())))
    );

    // The responder left report.html beside report.json, and indexed the incident.
    let page = evidence_text(world, &format!("incidents/{id}/report.html")).await?;
    assert!(page.contains("<svg id=\"timeline-chart\"") && page.contains(web));

    let missing = tourniquet(world, None, &["show", "guardduty-nothing"]).await?;
    assert_eq!(missing.status.code(), Some(3), "not found");
    assert!(stderr(&missing).contains("tourniquet incidents"));
    let missing = failed_with(
        &tourniquet(world, None, &["show", "guardduty-nothing", "--json"]).await?,
        3,
    )?;
    assert!(
        missing["hint"]
            .as_str()
            .is_some_and(|h| h.contains("tourniquet incidents"))
    );
    Ok(())
}

#[tokio::test]
async fn lists_shows_and_releases_a_contained_instance() -> Result<()> {
    let world = world().await?;
    deploy(&world, STACK, &outputs(&world)).await?;
    let report = world.respond(events::for_world(SSH_BRUTE_FORCE, &world)?).await?;
    let id = report.incident_id.clone();
    let web = world.web.instance_id.clone();
    world.pages().await?;

    // `tourniquet incidents`: the bucket is the stack's output.
    let listed = json_of(&tourniquet(&world, None, &["incidents", "--json"]).await?, "incidents")?;
    let entries = listed.as_array().context("a list")?;
    assert_eq!(entries.len(), 1, "{listed:#}");
    assert_eq!(entries[0]["incident_id"], id.as_str());
    assert_eq!(entries[0]["verdict"], "contained");
    assert_eq!(entries[0]["resource"], web.as_str());
    let text = tourniquet(&world, None, &["incidents", "--since", "1h"]).await?;
    succeeded(&text)?;
    assert!(
        stdout(&text).contains(&id) && stdout(&text).contains("isolated"),
        "{}",
        stdout(&text)
    );
    let none = tourniquet(&world, None, &["incidents", "--held", "--json"]).await?;
    assert_eq!(json_of(&none, "incidents")?, json!([]));

    shows_the_contained_instance(&world, &id).await?;

    // Without --yes and nobody at a terminal, nothing is sent.
    let runtime = LambdaRuntime::start_named(
        "quarantine-release",
        &function_env(&world, "quarantine-release", &[]).await?,
    )?;
    let unconfirmed = tourniquet(&world, Some(&runtime), &["release", &id, "--instance", &web, "--json"]).await?;
    failed_with(&unconfirmed, 6)?;
    let isolation = still_isolated(&world).await?;

    let released = tourniquet(
        &world,
        Some(&runtime),
        &["release", &id, "--instance", &web, "--yes", "--json"],
    )
    .await?;
    succeeded(&released)?;
    let released = json_of(&released, "report")?;
    assert_eq!(released["playbook"], "release");
    assert_eq!(released["incident_id"], id.as_str());
    let groups = world.interface_groups(&world.web.interfaces).await?;
    assert!(
        groups.values().all(|g| !g.contains(&isolation.id)),
        "released: {groups:?}"
    );
    let shown = json_of(&tourniquet(&world, None, &["show", &id, "--json"]).await?, "show")?;
    assert_eq!(shown["state"], "released");
    assert_eq!(shown["release"]["verdict"], "released");
    assert!(
        shown["release"]["links"]
            .as_array()
            .is_some_and(|l| l.iter().any(|l| l["rel"] == "report"
                && l["url"]
                    .as_str()
                    .is_some_and(|u| u.ends_with("%2Frelease%2Freport.html")))),
        "{:#}",
        shown["release"]["links"]
    );
    let listed = json_of(&tourniquet(&world, None, &["incidents", "--json"]).await?, "incidents")?;
    assert_eq!(listed[0]["run"], "release", "{listed:#}");
    assert_eq!(listed[0]["verdict"], "released");
    Ok(())
}

#[tokio::test]
async fn approves_a_held_plan() -> Result<()> {
    let world = world().await?;
    deploy(&world, STACK, &outputs(&world)).await?;
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

    let listed = json_of(
        &tourniquet(&world, None, &["incidents", "--held", "--json"]).await?,
        "incidents",
    )?;
    assert_eq!(listed.as_array().map(Vec::len), Some(1), "{listed:#}");
    assert_eq!(listed[0]["incident_id"], held.incident_id.as_str());
    let shown = tourniquet(&world, None, &["show", &held.incident_id]).await?;
    succeeded(&shown)?;
    let shown = stdout(&shown);
    for expected in [
        format!("tourniquet approve {}", held.incident_id),
        "[HELD]".to_owned(),
        "--function-name guardduty-responder ".to_owned(),
    ] {
        assert!(shown.contains(&expected), "{expected} missing from:\n{shown}");
    }
    let shown = json_of(
        &tourniquet(&world, None, &["show", &held.incident_id, "--json"]).await?,
        "show",
    )?;
    assert_eq!(shown["state"], "held");

    // `tourniquet approve ID --yes`: the stack names the GuardDuty responder.
    let runtime = LambdaRuntime::start_named(
        "guardduty-responder",
        &function_env(&world, "guardduty-responder", &[("TOURNIQUET_MAX_QUARANTINED", "1")]).await?,
    )?;
    let approved = tourniquet(
        &world,
        Some(&runtime),
        &["approve", &held.incident_id, "--yes", "--json"],
    )
    .await?;
    succeeded(&approved)?;
    let approved = json_of(&approved, "report")?;
    let isolate = approved["steps"]
        .as_array()
        .and_then(|s| s.iter().find(|s| s["action"] == "isolate-interfaces"))
        .context("an isolation step")?;
    assert_eq!(isolate["outcome"], "done", "{approved:#}");
    let isolation = world.quarantine_group("isolation").await?.context("isolation group")?;
    let groups = world.interface_groups(&world.web.interfaces).await?;
    assert!(groups.values().all(|g| g == &vec![isolation.id.clone()]), "{groups:?}");
    let listed = json_of(&tourniquet(&world, None, &["incidents", "--json"]).await?, "incidents")?;
    let entry = listed
        .as_array()
        .and_then(|l| l.iter().find(|e| e["incident_id"] == held.incident_id.as_str()))
        .context("listed")?;
    assert_eq!(entry["verdict"], "contained", "{entry:#}");
    assert_eq!(entry["run"], "approved");
    assert_eq!(
        entry["report"],
        format!("incidents/{}/approved/report.html", held.incident_id)
    );
    Ok(())
}

/// A user's leaked key: its timeline read, then released by name with the incident, the key
/// staying off.
#[tokio::test]
async fn reads_the_timeline_and_releases_a_user() -> Result<()> {
    let world = world().await?;
    deploy(&world, STACK, &outputs(&world)).await?;
    let user = world.respond(events::for_world(USER_FINDING, &world)?).await?;
    world.pages().await?;
    // `tourniquet timeline ID`: what the key did, as the responder read it after containment.
    let timeline = json_of(
        &tourniquet(&world, None, &["timeline", &user.incident_id, "--json"]).await?,
        "timeline",
    )?;
    assert_eq!(timeline["incident_id"], user.incident_id.as_str());
    assert!(
        timeline["lookups"]
            .as_array()
            .is_some_and(|l| l.iter().any(|l| l["key"] == "AccessKeyId")),
        "{timeline:#}"
    );
    let text = tourniquet(&world, None, &["timeline", &user.incident_id]).await?;
    succeeded(&text)?;
    let calls = timeline["summary"]["calls"].as_u64().context("a count of calls")?;
    assert!(stdout(&text).contains(&format!("{calls} call(s)")), "{}", stdout(&text));
    let runtime = LambdaRuntime::start_named(
        "quarantine-release",
        &function_env(&world, "quarantine-release", &[]).await?,
    )?;
    let usage = tourniquet(
        &world,
        Some(&runtime),
        &["release", "--user", &world.deployer, "--yes", "--json"],
    )
    .await?;
    let usage = failed_with(&usage, 2)?;
    assert!(
        usage["error"]
            .as_str()
            .is_some_and(|e| e.contains("names its incident")),
        "{usage:#}"
    );
    let released = tourniquet(
        &world,
        Some(&runtime),
        &["release", &user.incident_id, "--user", &world.deployer, "--yes"],
    )
    .await?;
    succeeded(&released)?;
    let text = stdout(&released);
    assert!(
        text.contains(&user.incident_id) && text.contains("release") && text.contains("Evidence: s3://"),
        "{text}"
    );
    assert_eq!(world.user_policy(&world.deployer, "tourniquet-deny-all").await?, None);
    assert_eq!(world.deployer_key_status().await?, ["Inactive", "Active"]);
    let shown = json_of(
        &tourniquet(&world, None, &["show", &user.incident_id, "--json"]).await?,
        "show",
    )?;
    assert_eq!(shown["state"], "released");
    Ok(())
}

/// `--stack NAME` (or `TOURNIQUET_STACK`) finds the evidence bucket in the stack's outputs;
/// `--bucket` overrides it; without a stack, the error says to give it.
#[tokio::test]
async fn the_stack_names_the_bucket_and_bucket_overrides_it() -> Result<()> {
    let world = world().await?;
    deploy(&world, "tq-prod", &outputs(&world)).await?;
    let report = world.respond(events::for_world(SSH_BRUTE_FORCE, &world)?).await?;
    let id = report.incident_id.as_str();

    let listed = json_of(
        &tourniquet(&world, None, &["--stack", "tq-prod", "incidents", "--json"]).await?,
        "incidents",
    )?;
    assert_eq!(listed[0]["incident_id"], id, "{listed:#}");
    // TOURNIQUET_STACK says the same.
    let mut command = Command::new(function_binary("tourniquet")?);
    command
        .envs(world.account.env().await?)
        .env_remove("TOURNIQUET_EVIDENCE_BUCKET")
        .env("TOURNIQUET_STACK", "tq-prod")
        .args(["incidents", "--json"])
        .stdin(Stdio::null());
    let by_env = tokio::task::spawn_blocking(move || command.output()).await??;
    assert_eq!(json_of(&by_env, "incidents")?, listed);

    // No stack of the default name, no --bucket: the error says what to give.
    let nowhere = tourniquet(&world, None, &["incidents"]).await?;
    assert_eq!(nowhere.status.code(), Some(4), "{}", stderr(&nowhere));
    let said = stderr(&nowhere);
    assert!(
        said.contains("the evidence bucket: stack tourniquet could not be read: DescribeStacks failed")
            && said.contains("--bucket NAME"),
        "{said}"
    );
    failed_with(&tourniquet(&world, None, &["incidents", "--json"]).await?, 4)?;
    // Without a stack, --bucket alone lists and shows.
    let by_bucket = tourniquet(&world, None, &["--bucket", &world.bucket, "show", id, "--json"]).await?;
    assert_eq!(json_of(&by_bucket, "show")?["incident_id"], id);

    // --bucket overrides the output.
    let elsewhere = tourniquet(
        &world,
        None,
        &["--stack", "tq-prod", "--bucket", "no-such-evidence", "incidents"],
    )
    .await?;
    assert_eq!(elsewhere.status.code(), Some(4), "{}", stderr(&elsewhere));
    assert!(stderr(&elsewhere).contains("NoSuchBucket"), "{}", stderr(&elsewhere));

    Ok(())
}

/// The functions are the stack's outputs; `--function` overrides them; a stack without the
/// output says to give it.
#[tokio::test]
async fn the_stack_names_the_functions_and_function_overrides_it() -> Result<()> {
    let world = world().await?;
    deploy(&world, "tq-prod", &outputs(&world)).await?;
    let bucket_only = [("EvidenceBucketName", world.bucket.clone())];
    deploy(&world, "tq-partial", &bucket_only).await?;
    let report = world.respond(events::for_world(SSH_BRUTE_FORCE, &world)?).await?;
    let id = report.incident_id.as_str();
    let web = world.web.instance_id.as_str();

    // A stack without the function's output: a usage error naming --function.
    let runtime = LambdaRuntime::start_named(
        "quarantine-release",
        &function_env(&world, "quarantine-release", &[]).await?,
    )?;
    let partial = tourniquet(
        &world,
        Some(&runtime),
        &[
            "--stack",
            "tq-partial",
            "release",
            id,
            "--instance",
            web,
            "--yes",
            "--json",
        ],
    )
    .await?;
    let partial = failed_with(&partial, 2)?;
    assert_eq!(
        partial["error"],
        "stack tq-partial has no QuarantineReleaseName output: give --function NAME, or --stack NAME of a Tourniquet stack"
    );
    // --function overrides the output: a function that is not there is asked, and nothing changes.
    let other = tourniquet(
        &world,
        Some(&runtime),
        &[
            "--stack",
            "tq-prod",
            "release",
            id,
            "--instance",
            web,
            "--function",
            "no-such-function",
            "--yes",
        ],
    )
    .await?;
    assert_eq!(other.status.code(), Some(4), "{}", stderr(&other));
    let isolation = still_isolated(&world).await?;
    // The stack's own name for it releases.
    let released = tourniquet(
        &world,
        Some(&runtime),
        &[
            "--stack",
            "tq-prod",
            "release",
            id,
            "--instance",
            web,
            "--yes",
            "--json",
        ],
    )
    .await?;
    assert_eq!(json_of(&released, "report")?["playbook"], "release");
    let groups = world.interface_groups(&world.web.interfaces).await?;
    assert!(
        groups.values().all(|g| !g.contains(&isolation.id)),
        "released: {groups:?}"
    );
    Ok(())
}

/// `tourniquet drill EVENT.json --json`: the plan made here, nothing sent, no stack needed.
#[tokio::test]
async fn a_drill_plans_here_and_sends_nothing() -> Result<()> {
    let world = world().await?;
    let event = tourniquet_tests::workspace_root().join("events").join(SSH_BRUTE_FORCE);
    let event = event.to_str().context("a path")?;
    let planned = json_of(&tourniquet(&world, None, &["drill", event, "--json"]).await?, "drill")?;
    assert_eq!(planned["resource"], "i-99999999", "{planned:#}");
    assert_eq!(planned["finding_type"], "UnauthorizedAccess:EC2/SSHBruteForce");
    assert!(
        planned["steps"].as_array().is_some_and(|s| !s.is_empty()),
        "{planned:#}"
    );
    let text = tourniquet(&world, None, &["drill", event]).await?;
    succeeded(&text)?;
    assert!(
        stdout(&text).contains(&format!("tourniquet drill {event} --send")),
        "{}",
        stdout(&text)
    );
    let refused = tourniquet(&world, None, &["drill", "no-such-event.json", "--json"]).await?;
    failed_with(&refused, 2)?;
    Ok(())
}
