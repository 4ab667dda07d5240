//! GuardDuty attack sequences: every actor and resource answered as one incident, a group over the limit held whole.

use anyhow::Result;
use playbook::{Budget, Outcome, Playbook, Settings, report::StepReport};
use serde_json::json;
use tourniquet_tests::emulator::emulator;
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

const API_TYPES: &str = "guardduty/attack-sequence-api-resource-types.json";

/// The instances a sequence's credential denies name: every Tourniquet policy on the web role,
/// as text, tested for each instance id.
async fn denied_on_web_role(world: &World, instances: &[String]) -> Result<Vec<bool>> {
    let mut text = String::new();
    for name in world.role_policy_names(&world.web_role).await? {
        if name.starts_with("tourniquet") {
            text.push_str(
                &world
                    .role_policy(&world.web_role, &name)
                    .await?
                    .unwrap_or_default()
                    .to_string(),
            );
        }
    }
    Ok(instances.iter().map(|i| text.contains(i.as_str())).collect())
}

/// Two members of a sequence sharing the web role: releasing one lifts its own credential
/// deny, never the other's.
#[tokio::test]
async fn releasing_one_member_lifts_only_its_own_credential_deny() -> Result<()> {
    let world = world().await?;
    let instances = vec![world.launch_worker().await?, world.launch_worker().await?];
    world
        .give_web_role(&instances.iter().map(String::as_str).collect::<Vec<_>>())
        .await?;
    let responder = world.responder_as("guardduty-responder", world.settings()).await?;
    let report = responder
        .handle(group_event(&world, &instances)?)
        .await?
        .report()
        .expect("an incident");
    assert!(report.steps.iter().all(StepReport::done_now), "{report:#?}");
    assert_eq!(denied_on_web_role(&world, &instances).await?, [true, true]);

    let released = world
        .responder_as("quarantine-release", world.settings())
        .await?
        .release(&json!({ "instance_id": instances[0] }), Budget::default())
        .await?;
    assert!(released.steps.iter().all(StepReport::done_now), "{released:#?}");
    assert_eq!(
        denied_on_web_role(&world, &instances).await?,
        [false, true],
        "only the released instance's credentials work again"
    );
    assert!(isolated(&world, &instances[1]).await?);
    Ok(())
}

/// An instance in a VPC of its own (no quarantine groups there yet); its id.
async fn launch_in_new_vpc(world: &World) -> Result<String> {
    use anyhow::Context;

    let ec2 = &world.account.clients.ec2;
    let vpc = ec2.create_vpc().cidr_block("10.40.0.0/16").send().await?;
    let vpc_id = vpc.vpc().and_then(|v| v.vpc_id()).context("vpc id")?;
    let subnet = ec2
        .create_subnet()
        .vpc_id(vpc_id)
        .cidr_block("10.40.1.0/24")
        .availability_zone("us-east-1a")
        .send()
        .await?;
    let subnet_id = subnet.subnet().and_then(|s| s.subnet_id()).context("subnet id")?;
    let out = ec2
        .run_instances()
        .image_id(&world.image_id)
        .instance_type(aws_sdk_ec2::types::InstanceType::T3Micro)
        .min_count(1)
        .max_count(1)
        .subnet_id(subnet_id)
        .send()
        .await?;
    Ok(out
        .instances()
        .first()
        .and_then(|i| i.instance_id())
        .context("instance id")?
        .to_owned())
}

/// A sequence of two instances: one in the VPC whose quarantine groups an earlier response
/// made, one in a VPC where they cannot be created now (the role lost
/// ec2:CreateSecurityGroup), so its isolation fails while the other's succeeds: only the
/// isolated one is tagged quarantined, and the response fails so Lambda retries.
#[tokio::test]
async fn only_a_member_whose_own_isolation_succeeded_is_tagged_quarantined() -> Result<()> {
    let world = world().await?;
    world
        .respond(events::for_world(
            "guardduty/ec2-ssh-brute-force-web-server.json",
            &world,
        )?)
        .await?;
    let instances = vec![world.launch_worker().await?, launch_in_new_vpc(&world).await?];
    emulator().deny(
        &world.account.id,
        "ec2",
        "CreateSecurityGroup",
        403,
        "UnauthorizedOperation",
    )?;
    let responder = world
        .faulty_responder_as("guardduty-responder", world.settings())
        .await?;
    let report = match responder.handle(group_event(&world, &instances)?).await {
        Err(playbook::Error::Incomplete(report)) => *report,
        other => anyhow::bail!("expected an incomplete response, got {other:?}"),
    };
    emulator().clear(&world.account.id)?;
    assert!(isolated(&world, &instances[0]).await?);
    let tags = world.instance_tags(&instances[0]).await?;
    assert!(tags.contains_key("tourniquet:quarantined-at"), "{tags:?}");
    let tags = world.instance_tags(&instances[1]).await?;
    assert!(!tags.contains_key("tourniquet:quarantined-at"), "{tags:?}: {report:#?}");
    let tag_steps: Vec<(&str, Outcome)> = report
        .steps
        .iter()
        .filter(|s| s.action == "tag-instance")
        .map(|s| (s.target.as_str(), s.outcome))
        .collect();
    assert_eq!(
        tag_steps,
        [
            (instances[0].as_str(), Outcome::Done),
            (instances[1].as_str(), Outcome::Failed)
        ],
        "{report:#?}"
    );
    Ok(())
}

/// A sequence whose resources are typed as the GuardDuty API reference types them
/// (`EC2_INSTANCE`, `ACCESS_KEY`, ...): its instances are isolated and its key contained, as
/// with the `AWS::` types.
#[tokio::test]
async fn a_sequence_typed_as_the_api_reference_types_it_is_contained() -> Result<()> {
    let world = world().await?;
    let second = build_bot(&world).await?;
    let instances = [world.launch_worker().await?, world.launch_worker().await?];
    let text = events::read(API_TYPES)?
        .replace("i-0a1b2c3d4e5f60711", &instances[0])
        .replace("i-0a1b2c3d4e5f60712", &instances[1])
        .replace(SECOND_KEY, &second);
    let report = world.respond(events::for_world_text(&text, &world)?).await?;
    assert_eq!(report.playbook, Playbook::AttackSequence, "{}", report.reason);
    assert!(report.steps.iter().all(StepReport::done_now), "{report:#?}");
    for instance in &instances {
        assert!(isolated(&world, instance).await?, "{instance} isolated");
    }
    assert_eq!(key_status(&world, "build-bot").await?, ["Inactive"]);
    assert!(world.user_policy("build-bot", "tourniquet-deny-all").await?.is_some());
    let message = &world.pages().await?[0].message;
    for named in ["kubectl", "ECS_CLUSTER", "AUTOSCALING_AUTO_SCALING_GROUP"] {
        assert!(message.contains(named), "{named} not in {message}");
    }
    Ok(())
}
