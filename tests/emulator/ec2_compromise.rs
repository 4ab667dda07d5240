//! The EC2 compromise playbook end to end: containment, evidence, one page, and its guards.

use anyhow::Result;
use playbook::{Outcome, Playbook, Settings, report::StepReport};
use serde_json::json;
use tourniquet_tests::calls::{Recorder, recorded_clients};
use tourniquet_tests::events;
use tourniquet_tests::world::World;

use crate::world;

const SSH_BRUTE_FORCE: &str = "guardduty/ec2-ssh-brute-force-web-server.json";

/// Everything a person would check about the web host, to compare before and after.
#[derive(Debug, PartialEq)]
struct HostState {
    groups: std::collections::BTreeMap<String, Vec<String>>,
    termination_protection: bool,
    snapshots: usize,
    tags: std::collections::BTreeMap<String, String>,
    elastic_ip_associated: bool,
}

async fn web_state(world: &World) -> Result<HostState> {
    Ok(HostState {
        groups: world.interface_groups(&world.web.interfaces).await?,
        termination_protection: world.termination_protection(&world.web.instance_id).await?,
        snapshots: world.snapshots(&world.web.instance_id).await?.len(),
        tags: world.instance_tags(&world.web.instance_id).await?,
        elastic_ip_associated: world.elastic_ip_associated().await?,
    })
}

#[tokio::test]
async fn high_severity_finding_contains_the_instance() -> Result<()> {
    let world = world().await?;
    let event = events::for_world(SSH_BRUTE_FORCE, &world)?;
    let responder = world.responder_as("guardduty-responder", world.settings()).await?;

    let report = responder.handle(event.clone()).await?.report().expect("an incident");
    assert_eq!(report.playbook, Playbook::Ec2Compromise);
    assert!(report.steps.iter().all(StepReport::done_now), "{report:#?}");

    // Both interfaces carry only the isolation group, which has no rules at all.
    let isolation = world.quarantine_group("isolation").await?.expect("isolation group");
    assert_eq!(
        (isolation.ingress, isolation.egress),
        (0, 0),
        "isolation group has no rules"
    );
    let groups = world.interface_groups(&world.web.interfaces).await?;
    assert_eq!(groups.len(), 2);
    for (eni, groups) in &groups {
        assert_eq!(groups, &vec![isolation.id.clone()], "{eni}");
    }
    // The conversion group allows all traffic in and out, IPv4 and IPv6.
    let conversion = world.quarantine_group("conversion").await?.expect("conversion group");
    assert!(conversion.allows_all_in && conversion.allows_all_out, "{conversion:?}");

    assert!(world.termination_protection(&world.web.instance_id).await?);
    assert!(!world.elastic_ip_associated().await?, "Elastic IP disassociated");

    // One snapshot per volume, tagged with the incident.
    let snapshots = world.snapshots(&world.web.instance_id).await?;
    let mut volumes: Vec<&str> = snapshots.iter().map(|(_, v, _)| v.as_str()).collect();
    volumes.sort_unstable();
    let mut expected: Vec<&str> = world.web.volumes.iter().map(String::as_str).collect();
    expected.sort_unstable();
    assert_eq!(volumes, expected);
    for (_, _, tags) in &snapshots {
        assert_eq!(tags["tourniquet:incident-id"], report.incident_id);
        assert_eq!(tags["tourniquet:finding-type"], "UnauthorizedAccess:EC2/SSHBruteForce");
        assert_eq!(tags["tourniquet:instance-id"], world.web.instance_id);
        assert_eq!(tags["tourniquet:finding-id"], report.finding_id);
    }

    let tags = world.instance_tags(&world.web.instance_id).await?;
    assert_eq!(tags["tourniquet:incident-id"], report.incident_id);
    assert!(tags.contains_key("tourniquet:quarantined-at"));

    // Exactly one page, with a subject a person can triage from.
    let pages = world.pages().await?;
    assert_eq!(pages.len(), 1, "{pages:#?}");
    assert_eq!(
        pages[0].subject,
        format!(
            "[HIGH 8.0] {} UnauthorizedAccess:EC2/SSHBruteForce: {} isolated",
            world.account.id, world.web.instance_id
        )
    );
    assert!(pages[0].message.contains("isolate-interfaces"));
    assert!(
        pages[0]
            .message
            .contains(&format!("s3://{}/incidents/{}/", world.bucket, report.incident_id))
    );
    assert_eq!(pages[0].attributes["incident_id"]["Value"], json!(report.incident_id));

    // Evidence: the raw event, the plan with the pre-containment state, each step.
    let prefix = format!("incidents/{}/", report.incident_id);
    let keys = world.evidence_keys().await?;
    let history = format!("config-history/{}.json", world.web.instance_id);
    for name in [
        "event.json",
        "plan.json",
        "pre-state.json",
        "report.json",
        "steps/01-record-evidence.json",
        "steps/08-page.json",
        "steps/09-config-history.json",
        history.as_str(),
    ] {
        assert!(
            keys.contains(&format!("{prefix}{name}")),
            "{name} missing from {keys:?}"
        );
    }
    assert_eq!(world.evidence(&format!("{prefix}event.json")).await?, event);
    let plan = world.evidence(&format!("{prefix}plan.json")).await?;
    assert_eq!(plan["playbook"], "ec2-compromise");
    let before = &plan["observation"]["interfaces"];
    assert_eq!(
        before[0]["groups"][0]["id"],
        json!(world.web_group),
        "pre-containment groups recorded"
    );
    assert_eq!(before[1]["groups"][0]["id"], json!(world.app_group));

    // A second delivery changes nothing and pages nobody.
    let after_first = web_state(&world).await?;
    let again = responder.handle(event).await?.report().expect("an incident");
    assert!(
        again
            .steps
            .iter()
            .all(|s| matches!(s.outcome, Outcome::AlreadyDone | Outcome::NotNeeded)),
        "{again:#?}"
    );
    assert_eq!(web_state(&world).await?, after_first);
    assert!(world.pages().await?.is_empty(), "no second page");
    Ok(())
}

/// The attacker, on the instance, tags it `tourniquet:quarantined-at` (any credential that may
/// tag it can): Tourniquet's own tag is trusted only when every interface reads back
/// isolated, so the instance is contained all the same.
#[tokio::test]
async fn a_quarantine_tag_the_attacker_set_does_not_stop_containment() -> Result<()> {
    let world = world().await?;
    world
        .account
        .clients
        .ec2
        .create_tags()
        .resources(&world.web.instance_id)
        .tags(
            aws_sdk_ec2::types::Tag::builder()
                .key("tourniquet:quarantined-at")
                .value("2026-01-01T00:00:00Z")
                .build(),
        )
        .send()
        .await?;
    let report = world.respond(events::for_world(SSH_BRUTE_FORCE, &world)?).await?;
    assert_eq!(report.playbook, Playbook::Ec2Compromise, "{}", report.reason);
    let isolation = world.quarantine_group("isolation").await?.expect("isolation group");
    for (eni, groups) in world.interface_groups(&world.web.interfaces).await? {
        assert_eq!(groups, vec![isolation.id.clone()], "{eni}");
    }
    Ok(())
}

/// The finding of `SSH_BRUTE_FORCE` about `instance_id`, as a finding of its own (`finding_id`).
fn finding_about(world: &World, instance_id: &str, finding_id: &str) -> Result<serde_json::Value> {
    let text = events::read(SSH_BRUTE_FORCE)?.replace(events::WEB_PLACEHOLDER, instance_id);
    let mut event = events::for_world_text(&text, world)?;
    event["detail"]["id"] = json!(finding_id);
    Ok(event)
}

/// The attacker copies Tourniquet's quarantine onto another instance: its interfaces into the
/// isolation group an earlier response made, and the quarantine tags naming that earlier
/// (real) incident. Only Tourniquet's own ledger can say the instance was quarantined, and it
/// records the other instance: this one is contained. A later finding about the instance
/// Tourniquet did quarantine pages only.
#[tokio::test]
async fn quarantine_tags_count_only_with_the_ledgers_record_of_that_instance() -> Result<()> {
    let world = world().await?;
    let worker = world.launch_worker().await?;
    let first = world.respond(events::for_world(SSH_BRUTE_FORCE, &world)?).await?;
    assert_eq!(first.playbook, Playbook::Ec2Compromise);
    let isolation = world.quarantine_group("isolation").await?.expect("isolation group");
    let ec2 = &world.account.clients.ec2;
    let host = world.host(&worker).await?;
    for eni in &host.interfaces {
        ec2.modify_network_interface_attribute()
            .network_interface_id(eni)
            .groups(&isolation.id)
            .send()
            .await?;
    }
    let tag = |key: &str, value: &str| aws_sdk_ec2::types::Tag::builder().key(key).value(value).build();
    ec2.create_tags()
        .resources(&worker)
        .tags(tag("tourniquet:quarantined-at", "2026-01-01T00:00:00Z"))
        .tags(tag("tourniquet:incident-id", &first.incident_id))
        .send()
        .await?;
    world.pages().await?;

    let report = world.respond(finding_about(&world, &worker, "f-worker")?).await?;
    assert_eq!(report.playbook, Playbook::Ec2Compromise, "{}", report.reason);
    assert!(report.steps.iter().all(StepReport::done_now), "{report:#?}");
    let tags = world.instance_tags(&worker).await?;
    assert_eq!(
        tags["tourniquet:incident-id"], report.incident_id,
        "tagged by its own incident"
    );
    assert_eq!(world.snapshots(&worker).await?.len(), host.volumes.len());

    // A new finding about the instance Tourniquet quarantined: its ledger says so.
    let again = world
        .respond(finding_about(&world, &world.web.instance_id, "f-web-later")?)
        .await?;
    assert_eq!(again.playbook, Playbook::PageOnly, "{}", again.reason);
    assert!(
        again.reason.contains("already quarantined") && again.reason.contains(&first.incident_id),
        "{}",
        again.reason
    );
    // And the worker, now quarantined by its own incident, pages only too.
    let worker_again = world.respond(finding_about(&world, &worker, "f-worker-later")?).await?;
    assert_eq!(worker_again.playbook, Playbook::PageOnly, "{}", worker_again.reason);
    assert!(
        worker_again.reason.contains(&report.incident_id),
        "{}",
        worker_again.reason
    );
    Ok(())
}

#[tokio::test]
async fn protected_instance_is_left_alone() -> Result<()> {
    let world = world().await?;
    let before = world.interface_groups(&world.bastion.interfaces).await?;
    let event = events::for_world("guardduty/ec2-ssh-brute-force-protected-bastion.json", &world)?;
    let report = world.respond(event).await?;
    assert_eq!(report.playbook, Playbook::PageOnly);
    assert_eq!(world.interface_groups(&world.bastion.interfaces).await?, before);
    assert!(!world.termination_protection(&world.bastion.instance_id).await?);
    assert!(world.snapshots(&world.bastion.instance_id).await?.is_empty());
    let pages = world.pages().await?;
    assert_eq!(pages.len(), 1);
    assert!(pages[0].subject.ends_with("no action"), "{}", pages[0].subject);
    assert!(
        pages[0].message.contains("protected tag tourniquet:protected"),
        "{}",
        pages[0].message
    );
    Ok(())
}

#[tokio::test]
async fn dry_run_changes_nothing_and_pages_the_plan() -> Result<()> {
    let world = world().await?;
    let before = web_state(&world).await?;
    let settings = Settings {
        dry_run: true,
        ..world.settings()
    };
    let event = events::for_world(SSH_BRUTE_FORCE, &world)?;
    let report = world
        .responder_as("guardduty-responder", settings)
        .await?
        .handle(event)
        .await?
        .report()
        .expect("an incident");
    assert!(report.dry_run);
    assert_eq!(report.playbook, Playbook::Ec2Compromise);
    assert!(report.steps.iter().any(|s| s.outcome == Outcome::DryRun));
    assert_eq!(web_state(&world).await?, before);
    assert!(world.quarantine_group("isolation").await?.is_none(), "no group created");
    let pages = world.pages().await?;
    assert_eq!(pages.len(), 1);
    assert!(
        pages[0].subject.ends_with("dry run, nothing changed"),
        "{}",
        pages[0].subject
    );
    assert!(
        pages[0].message.contains("isolate-interfaces"),
        "the page carries the full plan"
    );
    Ok(())
}

#[tokio::test]
async fn low_severity_pages_only() -> Result<()> {
    let world = world().await?;
    let before = web_state(&world).await?;
    let event = events::for_world("guardduty/ec2-recon-port-probe-unprotected-port.json", &world)?;
    let report = world.respond(event).await?;
    assert_eq!(report.playbook, Playbook::PageOnly);
    assert_eq!(web_state(&world).await?, before);
    let pages = world.pages().await?;
    assert_eq!(pages.len(), 1);
    assert!(
        pages[0].subject.starts_with(&format!(
            "[LOW 2.0] {} Recon:EC2/PortProbeUnprotectedPort",
            world.account.id
        )),
        "{}",
        pages[0].subject
    );
    Ok(())
}

#[tokio::test]
async fn malformed_events_change_nothing_and_page_nobody() -> Result<()> {
    let world = world().await?;
    let before = web_state(&world).await?;
    let responder = world.responder_as("guardduty-responder", world.settings()).await?;
    let mut no_type = events::for_world(SSH_BRUTE_FORCE, &world)?;
    no_type["detail"].as_object_mut().expect("detail").remove("type");
    let mut wrong_resource = events::for_world(SSH_BRUTE_FORCE, &world)?;
    wrong_resource["detail"]["resource"] = json!([1, 2]);
    for (event, field) in [
        (json!([1, 2, 3]), "not a JSON object"),
        (
            json!({"source": "aws.guardduty", "detail-type": "GuardDuty Finding"}),
            "`detail`",
        ),
        (no_type, "`detail.type`"),
        (wrong_resource, "`detail.resource`"),
    ] {
        let err = responder.handle(event).await.expect_err("refused");
        assert!(!err.is_retryable());
        let err = playbook::telemetry::chain(&err);
        assert!(err.contains(field), "{err} should name {field}");
    }
    assert_eq!(web_state(&world).await?, before);
    assert!(world.pages().await?.is_empty());
    assert!(world.evidence_keys().await?.is_empty());
    Ok(())
}

#[tokio::test]
async fn missing_instance_pages_with_the_aws_error_code() -> Result<()> {
    let world = world().await?;
    let text = events::read(SSH_BRUTE_FORCE)?.replace(events::WEB_PLACEHOLDER, "i-0123456789abcdef0");
    let report = world.respond(events::for_world_text(&text, &world)?).await?;
    assert_eq!(report.playbook, Playbook::PageOnly);
    assert!(
        report.reason.contains("InvalidInstanceID.NotFound"),
        "{}",
        report.reason
    );
    let pages = world.pages().await?;
    assert_eq!(pages.len(), 1);
    assert!(pages[0].message.contains("InvalidInstanceID.NotFound"));
    Ok(())
}

#[tokio::test]
async fn an_auto_scaling_instance_leaves_its_group_before_isolation() -> Result<()> {
    use aws_sdk_autoscaling::types::LaunchTemplateSpecification;
    use aws_sdk_ec2::types::RequestLaunchTemplateData;

    let world = world().await?;
    let (ec2, autoscaling) = (&world.account.clients.ec2, &world.account.clients.autoscaling);
    ec2.create_launch_template()
        .launch_template_name("web")
        .launch_template_data(
            RequestLaunchTemplateData::builder()
                .image_id(&world.image_id)
                .instance_type(aws_sdk_ec2::types::InstanceType::T3Micro)
                .security_group_ids(&world.web_group)
                .build(),
        )
        .send()
        .await?;
    autoscaling
        .create_auto_scaling_group()
        .auto_scaling_group_name("web-asg")
        .launch_template(
            LaunchTemplateSpecification::builder()
                .launch_template_name("web")
                .version("$Latest")
                .build(),
        )
        .min_size(1)
        .max_size(3)
        .desired_capacity(1)
        .vpc_zone_identifier(&world.subnet_id)
        .send()
        .await?;
    let members =
        |out: aws_sdk_autoscaling::operation::describe_auto_scaling_groups::DescribeAutoScalingGroupsOutput| {
            let group = out.auto_scaling_groups().first().cloned();
            let ids: Vec<String> = group
                .iter()
                .flat_map(aws_sdk_autoscaling::types::AutoScalingGroup::instances)
                .filter_map(|i| i.instance_id().map(ToOwned::to_owned))
                .collect();
            (group.and_then(|g| g.desired_capacity()), ids)
        };
    let (_, before) = members(
        autoscaling
            .describe_auto_scaling_groups()
            .auto_scaling_group_names("web-asg")
            .send()
            .await?,
    );
    let instance = before.first().expect("an instance in the group").clone();

    let text = events::read("guardduty/ec2-backdoor-cc-activity.json")?.replace(events::WEB_PLACEHOLDER, &instance);
    let recorder = Recorder::default();
    let account = world.account.as_function("guardduty-responder").await?;
    let responder = playbook::Responder::new(recorded_clients(&account, &recorder), world.settings())?;
    let report = responder
        .handle(events::for_world_text(&text, &world)?)
        .await?
        .report()
        .expect("an incident");
    assert!(report.steps.iter().all(StepReport::done_now), "{report:#?}");
    // The group let go of the instance before any interface was moved: AWS answered the
    // detach before the first isolation call went out.
    let calls = recorder.take();
    let detached = calls
        .iter()
        .filter(|c| c.action == "DetachInstances")
        .map(|c| c.done.expect("DetachInstances answered"))
        .max()
        .expect("DetachInstances called");
    let first_move = calls
        .iter()
        .filter(|c| c.action == "ModifyNetworkInterfaceAttribute")
        .map(|c| c.sent)
        .min()
        .expect("ModifyNetworkInterfaceAttribute called");
    let order: Vec<&str> = calls.iter().map(|c| c.action.as_str()).collect();
    assert!(
        detached <= first_move,
        "an interface was moved before the instance left its group: {order:?}"
    );

    let (desired, after) = members(
        autoscaling
            .describe_auto_scaling_groups()
            .auto_scaling_group_names("web-asg")
            .send()
            .await?,
    );
    assert_eq!(desired, Some(1), "desired capacity kept");
    assert!(!after.contains(&instance), "the instance left the group");
    assert_eq!(after.len(), 1, "the group launched a replacement");
    let tags = world.instance_tags(&instance).await?;
    assert!(tags.contains_key("tourniquet:quarantined-at"));
    assert!(!tags.contains_key("aws:autoscaling:groupName"));
    Ok(())
}

#[tokio::test]
async fn the_instances_own_credentials_are_denied_and_its_disks_kept() -> Result<()> {
    let world = world().await?;
    world.give_web_role(&[&world.web.instance_id]).await?;
    // The root volume goes with the instance, as EC2 launches it by default.
    let root = world
        .delete_on_termination(&world.web.instance_id)
        .await?
        .into_keys()
        .next()
        .expect("a volume");
    world
        .account
        .clients
        .ec2
        .modify_instance_attribute()
        .instance_id(&world.web.instance_id)
        .block_device_mappings(
            aws_sdk_ec2::types::InstanceBlockDeviceMappingSpecification::builder()
                .device_name(&root)
                .ebs(
                    aws_sdk_ec2::types::EbsInstanceBlockDeviceSpecification::builder()
                        .delete_on_termination(true)
                        .build(),
                )
                .build(),
        )
        .send()
        .await?;
    let before = world.delete_on_termination(&world.web.instance_id).await?;
    assert_eq!(before.get(&root), Some(&true), "{before:?}");

    let report = world.respond(events::for_world(SSH_BRUTE_FORCE, &world)?).await?;
    assert!(report.steps.iter().all(StepReport::done_now), "{report:#?}");

    // The role carries Tourniquet's one instance policy, naming only this instance: its
    // session by aws:userid (<role id>:<instance id>), its ARN beside it; nothing role-wide.
    let name = "tourniquet-deny-instances".to_owned();
    let policy = world
        .role_policy(&world.web_role, &name)
        .await?
        .expect("the instance deny on the instance's role");
    let role = world
        .account
        .clients
        .iam
        .get_role()
        .role_name(&world.web_role)
        .send()
        .await?;
    let role_id = role.role().map(|r| r.role_id().to_owned()).unwrap_or_default();
    assert_eq!(
        policy,
        json!({"Version": "2012-10-17", "Statement": [
            {"Sid": "TourniquetDenyInstanceSessions", "Effect": "Deny", "Action": "*", "Resource": "*",
             "Condition": {"StringEquals": {"aws:userid": [format!("{role_id}:{}", world.web.instance_id)]}}},
            {"Sid": "TourniquetDenyInstanceCredentials", "Effect": "Deny", "Action": "*", "Resource": "*",
             "Condition": {"StringLike": {"ec2:SourceInstanceARN": [format!("arn:*:ec2:*:*:instance/{}", world.web.instance_id)]}}}
        ]})
    );
    assert_eq!(world.role_policy_names(&world.web_role).await?, [name]);
    // Every disk now outlives a termination; the pre-state keeps what they were, and the
    // instance profile.
    let after = world.delete_on_termination(&world.web.instance_id).await?;
    assert!(after.values().all(|d| !*d), "{after:?}");
    let state = world
        .evidence(&format!("incidents/{}/pre-state.json", report.incident_id))
        .await?;
    assert!(
        state["instance_profile"]
            .as_str()
            .is_some_and(|p| p.ends_with("instance-profile/web-profile")),
        "{state:#}"
    );
    assert!(
        state["volumes"]
            .as_array()
            .is_some_and(|v| v.iter().any(|v| v["delete_on_termination"] == true)),
        "{state:#}"
    );
    Ok(())
}

/// The instances the web role's Tourniquet instance policy denies (its `aws:userid` list).
async fn denied_instances(world: &World) -> Result<Vec<String>> {
    let policy = world.role_policy(&world.web_role, "tourniquet-deny-instances").await?;
    Ok(policy
        .and_then(|p| {
            p["Statement"][0]["Condition"]["StringEquals"]["aws:userid"]
                .as_array()
                .cloned()
        })
        .unwrap_or_default()
        .iter()
        .filter_map(|v| v.as_str()?.rsplit(':').next().map(ToOwned::to_owned))
        .collect())
}

/// A hundred contained instances of one fleet role: their credential denies fit the 10,240
/// characters a role's inline policies hold in all (the emulator refuses more, as IAM does).
/// Ninety-nine go in through the EC2 playbook's own action, as ninety-nine responses would
/// put them; the web host's through a full response; its release lifts it alone.
#[tokio::test]
async fn a_hundred_contained_instances_of_one_fleet_role_fit_its_inline_quota() -> Result<()> {
    let world = world().await?;
    world.give_web_role(&[&world.web.instance_id]).await?;
    let fleet = world
        .account
        .clients
        .ec2
        .run_instances()
        .image_id(&world.image_id)
        .instance_type(aws_sdk_ec2::types::InstanceType::T3Micro)
        .min_count(99)
        .max_count(99)
        .subnet_id(&world.subnet_id)
        .send()
        .await?;
    let others: Vec<String> = fleet
        .instances()
        .iter()
        .filter_map(|i| i.instance_id().map(ToOwned::to_owned))
        .collect();
    assert_eq!(others.len(), 99);
    for instance in &others {
        playbook::actions::iam::deny_instance_role(&world.account.clients.iam, "web-profile", instance).await?;
    }
    assert_eq!(denied_instances(&world).await?.len(), 99);

    let report = world.respond(events::for_world(SSH_BRUTE_FORCE, &world)?).await?;
    assert!(report.steps.iter().all(StepReport::done_now), "{report:#?}");
    let denied = denied_instances(&world).await?;
    assert_eq!(denied.len(), 100);
    assert!(denied.contains(&world.web.instance_id));
    assert_eq!(
        world.role_policy_names(&world.web_role).await?,
        ["tourniquet-deny-instances"]
    );

    let released = world
        .responder_as("quarantine-release", world.settings())
        .await?
        .release(
            &json!({ "instance_id": world.web.instance_id }),
            playbook::Budget::default(),
        )
        .await?;
    assert!(released.steps.iter().all(StepReport::done_now), "{released:#?}");
    let denied = denied_instances(&world).await?;
    assert_eq!(denied.len(), 99);
    assert!(!denied.contains(&world.web.instance_id));
    Ok(())
}
