//! What is read after containment beside the timeline: AWS Config's history of the contained
//! instance, security group or bucket, and the compromised instance's own session traced and
//! its footholds swept.

use anyhow::Result;
use playbook::{Outcome, Source, report::StepReport};
use tourniquet_tests::attacker::Attacker;
use tourniquet_tests::events;
use tourniquet_tests::world::World;

use crate::world;

const EC2_FINDING: &str = "guardduty/ec2-backdoor-cc-activity.json";

fn step<'a>(report: &'a playbook::Report, action: &str) -> &'a StepReport {
    report
        .steps
        .iter()
        .find(|s| s.action == action)
        .unwrap_or_else(|| panic!("no {action} step: {report:#?}"))
}

async fn read_history(world: &World, report: &playbook::Report, resource_id: &str) -> Result<serde_json::Value> {
    world
        .evidence(&format!(
            "incidents/{}/config-history/{resource_id}.json",
            report.incident_id
        ))
        .await
}

/// Each recorded item's configuration, oldest first (the one in effect before the window, then
/// those in it).
fn configurations(history: &serde_json::Value) -> Vec<serde_json::Value> {
    let before = history.get("before_window").filter(|b| !b.is_null()).cloned();
    let items = history["items"].as_array().cloned().unwrap_or_default();
    before
        .into_iter()
        .chain(items)
        .map(|i| i["configuration"].clone())
        .collect()
}

/// The groups on each of an instance configuration's interfaces.
fn interface_groups(configuration: &serde_json::Value) -> Vec<Vec<String>> {
    configuration["networkInterfaces"]
        .as_array()
        .map(|nics| {
            nics.iter()
                .map(|nic| {
                    nic["groups"]
                        .as_array()
                        .map(|g| {
                            g.iter()
                                .filter_map(|g| g["groupId"].as_str().map(ToOwned::to_owned))
                                .collect()
                        })
                        .unwrap_or_default()
                })
                .collect()
        })
        .unwrap_or_default()
}

async fn respond_config(world: &World, sample: &str) -> Result<playbook::Report> {
    let response = world
        .responder_as("config-responder", world.settings())
        .await?
        .accepting(&[Source::Config])
        .handle(events::for_world(sample, world)?)
        .await?;
    response.report().ok_or_else(|| anyhow::anyhow!("{sample} was ignored"))
}

#[tokio::test]
async fn a_contained_instance_keeps_its_configuration_history_and_its_session_is_traced() -> Result<()> {
    let world = world().await?;
    world.give_web_role(&[&world.web.instance_id]).await?;
    // The attacker on the host uses the instance's role credentials, and leaves a user behind.
    let attacker = Attacker::with_session(&world.account, &world.web_role, &world.web.instance_id).await?;
    attacker.clients.s3.list_buckets().send().await?;
    attacker
        .clients
        .iam
        .create_user()
        .user_name("host-backdoor")
        .send()
        .await?;

    let report = world.respond(events::for_world(EC2_FINDING, &world)?).await?;
    for action in ["timeline", "sweep-persistence", "config-history"] {
        assert_eq!(step(&report, action).outcome, Outcome::Done, "{action}: {report:#?}");
    }
    let timeline = world
        .evidence(&format!("incidents/{}/timeline.json", report.incident_id))
        .await?;
    let names: Vec<&str> = timeline["events"]
        .as_array()
        .map(|e| e.iter().filter_map(|e| e["name"].as_str()).collect())
        .unwrap_or_default();
    assert_eq!(names, ["CreateUser", "ListBuckets"], "{timeline:#}");
    assert!(
        world
            .user_policy("host-backdoor", "tourniquet-deny-all")
            .await?
            .is_some(),
        "the user the instance's session created is denied"
    );

    // The instance as AWS Config recorded it: serving with the web and app groups, and last
    // isolated (read after containment; the emulator records at once, AWS Config minutes
    // later).
    let history = read_history(&world, &report, &world.web.instance_id).await?;
    assert_eq!(history["resource"]["resource_type"], "AWS::EC2::Instance");
    assert_eq!(history["not_recorded"], serde_json::Value::Null, "{history:#}");
    let configurations = configurations(&history);
    let isolation = world.quarantine_group("isolation").await?.expect("isolation group").id;
    let serving = [vec![world.web_group.clone()], vec![world.app_group.clone()]];
    assert!(
        configurations.iter().any(|c| interface_groups(c) == serving),
        "{history:#}"
    );
    let last = interface_groups(configurations.last().expect("an item"));
    assert_eq!(last, [vec![isolation.clone()], vec![isolation]]);

    // The report says what was read; the page, one, did not wait for it.
    let read = step(&report, "config-history");
    assert!(read.detail["items"].as_u64().is_some_and(|n| n >= 2), "{read:#?}");
    assert_eq!(world.pages().await?.len(), 1);
    Ok(())
}

#[tokio::test]
async fn an_open_group_and_a_public_bucket_keep_their_configuration_history() -> Result<()> {
    let world = world().await?;
    let report = respond_config(&world, "config/restricted-ssh-noncompliant.json").await?;
    assert_eq!(step(&report, "config-history").outcome, Outcome::Done, "{report:#?}");
    let history = read_history(&world, &report, &world.web_group).await?;
    let open_ssh = |configuration: &serde_json::Value| {
        configuration["ipPermissions"].as_array().is_some_and(|rules| {
            rules.iter().any(|r| {
                r["fromPort"] == 22
                    && r["ipv4Ranges"]
                        .as_array()
                        .is_some_and(|c| c.iter().any(|c| c["cidrIp"] == "0.0.0.0/0"))
            })
        })
    };
    // Open to the world on 22 in the window, closed at its end.
    let configurations = configurations(&history);
    assert!(configurations.iter().any(open_ssh), "{history:#}");
    assert!(configurations.last().is_some_and(|c| !open_ssh(c)), "{history:#}");

    let report = respond_config(&world, "config/s3-bucket-public-read-prohibited-noncompliant.json").await?;
    assert_eq!(step(&report, "config-history").outcome, Outcome::Done, "{report:#?}");
    let history = read_history(&world, &report, &world.assets_bucket).await?;
    let items = history["items"].as_array().cloned().unwrap_or_default();
    let blocked = |item: &serde_json::Value| !item["supplementary"]["PublicAccessBlockConfiguration"].is_null();
    assert!(items.iter().any(|i| !blocked(i)), "{history:#}");
    assert!(items.last().is_some_and(blocked), "{history:#}");
    Ok(())
}

#[tokio::test]
async fn without_a_recorder_the_report_says_there_is_no_history_and_containment_stands() -> Result<()> {
    let world = world().await?;
    world
        .account
        .clients
        .config
        .delete_configuration_recorder()
        .configuration_recorder_name("default")
        .send()
        .await?;
    let report = world
        .responder_as("guardduty-responder", world.settings())
        .await?
        .handle(events::for_world(EC2_FINDING, &world)?)
        .await?
        .report()
        .expect("an incident");
    assert!(report.steps.iter().all(StepReport::done_now), "{report:#?}");
    let history = read_history(&world, &report, &world.web.instance_id).await?;
    assert!(
        history["not_recorded"]
            .as_str()
            .is_some_and(|why| why.starts_with("NoAvailableConfigurationRecorderException")),
        "{history:#}"
    );
    assert_eq!(history["items"], serde_json::json!([]));
    let said = &step(&report, "config-history").detail["summary"];
    assert!(
        said.as_str()
            .is_some_and(|line| line.contains("no configuration history (NoAvailableConfigurationRecorderException")),
        "{report:#?}"
    );
    Ok(())
}
