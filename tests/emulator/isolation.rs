//! Isolation's hard cases: refused, across VPCs, half-built or raced groups, resumed twice at once.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use anyhow::{Context, Result};
use aws_sdk_ec2::types::{ResourceType, Tag, TagSpecification};
use playbook::report::StepReport;
use playbook::{Error, Outcome, Report, Responder};
use serde_json::{Value, json};
use tourniquet_tests::emulator::{Served, emulator};
use tourniquet_tests::events;
use tourniquet_tests::world::World;

use crate::world;

const SSH_BRUTE_FORCE: &str = "guardduty/ec2-ssh-brute-force-web-server.json";
const CONVERSION_GROUP: &str = "tourniquet-conversion";
const ISOLATION_GROUP: &str = "tourniquet-isolation";

/// The GuardDuty responder reaching the world through the fault injector.
async fn faulty_responder(world: &World) -> Result<Responder> {
    world.faulty_responder_as("guardduty-responder", world.settings()).await
}

fn incomplete(result: Result<playbook::Response, Error>) -> Report {
    match result {
        Err(Error::Incomplete(report)) => *report,
        other => panic!("expected an incomplete response (Lambda retries), got {other:?}"),
    }
}

fn step<'a>(report: &'a Report, action: &str) -> &'a playbook::report::StepReport {
    report
        .steps
        .iter()
        .find(|s| s.action == action)
        .unwrap_or_else(|| panic!("no {action} step: {report:#?}"))
}

/// The SSH brute-force finding, on `instance_id`, as finding `finding_id` (its own incident).
fn finding_on(world: &World, instance_id: &str, finding_id: &str) -> Result<Value> {
    let text = events::read(SSH_BRUTE_FORCE)?.replace(events::WEB_PLACEHOLDER, instance_id);
    let mut event = events::for_world_text(&text, world)?;
    event["detail"]["id"] = json!(finding_id);
    Ok(event)
}

#[tokio::test]
async fn isolation_refused_fails_verification_pages_it_and_errors() -> Result<()> {
    let world = world().await?;
    let before = world.interface_groups(&world.web.interfaces).await?;
    // The role lost ec2:ModifyNetworkInterfaceAttribute: no interface can be moved.
    emulator().deny(
        &world.account.id,
        "ec2",
        "ModifyNetworkInterfaceAttribute",
        403,
        "UnauthorizedOperation",
    )?;
    let responder = faulty_responder(&world).await?;
    let result = responder.handle(events::for_world(SSH_BRUTE_FORCE, &world)?).await;
    emulator().clear(&world.account.id)?;

    // The invocation fails, retryably, naming the failed verification.
    let err = result.as_ref().err().map(ToString::to_string).unwrap_or_default();
    assert!(err.contains("verify-isolation (IsolationIncomplete)"), "{err}");
    assert!(
        result.as_ref().is_err_and(Error::is_retryable),
        "Lambda must retry: {err}"
    );
    let report = incomplete(result);
    let verify = step(&report, "verify-isolation");
    assert_eq!(verify.outcome, Outcome::Failed, "{verify:#?}");
    assert_eq!(verify.error_code.as_deref(), Some("IsolationIncomplete"), "{verify:#?}");
    assert_eq!(step(&report, "isolate-interfaces").outcome, Outcome::Failed);

    // The report kept in the evidence bucket says the same.
    let kept = world
        .evidence(&format!("incidents/{}/report.json", report.incident_id))
        .await?;
    let kept_verify = kept["steps"]
        .as_array()
        .and_then(|steps| steps.iter().find(|s| s["action"] == "verify-isolation"))
        .context("verify-isolation in report.json")?;
    assert_eq!(kept_verify["outcome"], "failed", "{kept_verify:#}");
    assert_eq!(kept_verify["error_code"], "IsolationIncomplete", "{kept_verify:#}");

    // Nothing moved: in particular no interface was left on the all-open conversion group.
    assert_eq!(world.interface_groups(&world.web.interfaces).await?, before);
    // Nor is it marked quarantined: a later finding on it must not take it for isolated, and
    // it must not count against the blast-radius limit.
    let tags = world.instance_tags(&world.web.instance_id).await?;
    assert!(!tags.contains_key("tourniquet:quarantined-at"), "{tags:?}");
    assert_eq!(step(&report, "tag-instance").error_code.as_deref(), Some("NotIsolated"));

    // One page, which says isolation failed and could not be verified.
    let pages = world.pages().await?;
    assert_eq!(pages.len(), 1, "{pages:#?}");
    assert!(pages[0].subject.contains("FAILED"), "{}", pages[0].subject);
    assert!(!pages[0].subject.contains("isolated"), "{}", pages[0].subject);
    let line = |action: &str| {
        pages[0]
            .message
            .lines()
            .find(|l| l.contains(&format!(" {action} ")))
            .unwrap_or_default()
            .to_owned()
    };
    assert!(
        line("verify-isolation").contains("FAILED IsolationIncomplete"),
        "{}",
        pages[0].message
    );
    assert!(
        line("isolate-interfaces").contains("FAILED UnauthorizedOperation"),
        "{}",
        pages[0].message
    );
    Ok(())
}

/// Creates a VPC with one subnet in the web host's zone and a group of its own, and attaches an
/// interface from it to the web host (AWS allows multi-VPC attachments); (VPC, interface).
async fn attach_interface_from_another_vpc(world: &World) -> Result<(String, String)> {
    let ec2 = &world.account.clients.ec2;
    let vpc_id = ec2
        .create_vpc()
        .cidr_block("10.30.0.0/16")
        .send()
        .await?
        .vpc()
        .and_then(|v| v.vpc_id())
        .context("vpc id")?
        .to_owned();
    let subnet_id = ec2
        .create_subnet()
        .vpc_id(&vpc_id)
        .cidr_block("10.30.1.0/24")
        .availability_zone("us-east-1a")
        .send()
        .await?
        .subnet()
        .and_then(|s| s.subnet_id())
        .context("subnet id")?
        .to_owned();
    let data_group = ec2
        .create_security_group()
        .group_name("data")
        .description("data tier")
        .vpc_id(&vpc_id)
        .send()
        .await?
        .group_id()
        .context("group id")?
        .to_owned();
    let eni = ec2
        .create_network_interface()
        .subnet_id(&subnet_id)
        .groups(&data_group)
        .description("web-1 data interface")
        .send()
        .await?
        .network_interface()
        .and_then(|n| n.network_interface_id())
        .context("eni id")?
        .to_owned();
    ec2.attach_network_interface()
        .network_interface_id(&eni)
        .instance_id(&world.web.instance_id)
        .device_index(2)
        .send()
        .await?;
    Ok((vpc_id, eni))
}

#[tokio::test]
async fn interfaces_in_two_vpcs_each_get_their_own_vpcs_isolation_group() -> Result<()> {
    let world = world().await?;
    let (other_vpc, other_eni) = attach_interface_from_another_vpc(&world).await?;
    let host = world.host(&world.web.instance_id).await?;
    assert_eq!(host.interfaces.len(), 3, "the emulator attached it: {host:?}");

    let report = world.respond(events::for_world(SSH_BRUTE_FORCE, &world)?).await?;
    assert!(report.steps.iter().all(StepReport::done_now), "{report:#?}");

    let groups = world.interface_groups(&host.interfaces).await?;
    let mut pairs = Vec::new();
    for (vpc, interfaces) in [
        (world.vpc_id.clone(), world.web.interfaces.clone()),
        (other_vpc.clone(), vec![other_eni.clone()]),
    ] {
        // Exactly one of each per VPC (`quarantine_group_in` refuses more than one).
        let isolation = world
            .quarantine_group_in(&vpc, "isolation")
            .await?
            .with_context(|| format!("an isolation group in {vpc}"))?;
        let conversion = world
            .quarantine_group_in(&vpc, "conversion")
            .await?
            .with_context(|| format!("a conversion group in {vpc}"))?;
        assert_eq!((isolation.ingress, isolation.egress), (0, 0), "{vpc}: {isolation:?}");
        assert!(
            conversion.allows_all_in && conversion.allows_all_out,
            "{vpc}: {conversion:?}"
        );
        for eni in &interfaces {
            assert_eq!(
                groups.get(eni),
                Some(&vec![isolation.id.clone()]),
                "{eni} in {vpc} carries exactly its VPC's isolation group: {groups:?}"
            );
        }
        pairs.push((conversion.id, isolation.id));
    }
    assert_ne!(pairs[0].0, pairs[1].0, "a conversion group per VPC");
    assert_ne!(pairs[0].1, pairs[1].1, "an isolation group per VPC");
    Ok(())
}

fn role_tags(role: &str) -> TagSpecification {
    TagSpecification::builder()
        .resource_type(ResourceType::SecurityGroup)
        .tags(Tag::builder().key("tourniquet:role").value(role).build())
        .tags(Tag::builder().key("Name").value(format!("tourniquet-{role}")).build())
        .build()
}

#[tokio::test]
async fn a_half_built_quarantine_group_is_finished_not_duplicated() -> Result<()> {
    let world = world().await?;
    let ec2 = &world.account.clients.ec2;
    // As a run that died right after creating it leaves it: the role tag, no ready tag, and
    // the allow-all IPv4 egress rule every new VPC group starts with.
    let half_built = ec2
        .create_security_group()
        .group_name(ISOLATION_GROUP)
        .description("Tourniquet quarantine (isolation); do not attach by hand")
        .vpc_id(&world.vpc_id)
        .tag_specifications(role_tags("isolation"))
        .send()
        .await?
        .group_id()
        .context("group id")?
        .to_owned();
    assert_eq!(
        world.group_rules(&half_built).await?,
        (vec![], vec!["all from 0.0.0.0/0".to_owned()]),
        "a new group allows all egress"
    );

    let report = world.respond(events::for_world(SSH_BRUTE_FORCE, &world)?).await?;
    assert!(report.steps.iter().all(StepReport::done_now), "{report:#?}");

    let named = world.groups_named(&world.vpc_id, ISOLATION_GROUP).await?;
    assert_eq!(named.len(), 1, "no second isolation group: {named:?}");
    let (id, tags) = &named[0];
    assert_eq!(id, &half_built, "the half-built group is the one used");
    assert_eq!(
        tags.get("tourniquet:state").map(String::as_str),
        Some("ready"),
        "{tags:?}"
    );
    assert_eq!(
        world.group_rules(&half_built).await?,
        (vec![], vec![]),
        "the isolation group has no rules at all"
    );
    for (eni, groups) in world.interface_groups(&world.web.interfaces).await? {
        assert_eq!(groups, vec![half_built.clone()], "{eni}");
    }
    Ok(())
}

#[tokio::test]
async fn a_group_created_concurrently_is_used_not_duplicated() -> Result<()> {
    let world = world().await?;
    // Another invocation creates each group between this one's look-up and its
    // CreateSecurityGroup, which then gets InvalidGroup.Duplicate.
    for name in [CONVERSION_GROUP, ISOLATION_GROUP] {
        emulator().race_create(&world.account.id, name)?;
    }
    let responder = faulty_responder(&world).await?;
    let result = responder.handle(events::for_world(SSH_BRUTE_FORCE, &world)?).await;
    let raced = emulator().clear(&world.account.id)?;
    let report = result?.report().expect("an incident");
    assert_eq!(raced, 2, "both creations met a group created a moment earlier");
    assert!(report.steps.iter().all(StepReport::done_now), "{report:#?}");
    assert_eq!(step(&report, "verify-isolation").outcome, Outcome::Done);

    let mut ids = BTreeMap::new();
    for name in [CONVERSION_GROUP, ISOLATION_GROUP] {
        let named = world.groups_named(&world.vpc_id, name).await?;
        assert_eq!(named.len(), 1, "one {name} in the VPC: {named:?}");
        assert_eq!(
            named[0].1.get("tourniquet:state").map(String::as_str),
            Some("ready"),
            "{name}: {named:?}"
        );
        ids.insert(name, named[0].0.clone());
    }
    let isolation = &ids[ISOLATION_GROUP];
    assert_eq!(world.group_rules(isolation).await?, (vec![], vec![]), "no rules at all");
    let conversion = world.quarantine_group("conversion").await?.expect("conversion group");
    assert_eq!(&conversion.id, &ids[CONVERSION_GROUP]);
    assert!(conversion.allows_all_in && conversion.allows_all_out, "{conversion:?}");
    for (eni, groups) in world.interface_groups(&world.web.interfaces).await? {
        assert_eq!(&groups, &vec![isolation.clone()], "{eni}");
    }
    Ok(())
}

/// Held on every call while the redeliveries run, so their waves interleave by round trips
/// rather than by the emulator's speed.
const LATENCY_MS: u64 = 100;

/// The interfaces that a served `ModifyNetworkInterfaceAttribute` put back on `conversion`
/// after they had carried `isolation`, each with the groups it was given in order; and every
/// interface that got `isolation`.
pub(crate) fn reopenings(
    served: &[Served],
    conversion: &str,
    isolation: &str,
) -> (Vec<(String, String)>, BTreeSet<String>) {
    let mut isolated = BTreeSet::new();
    let mut reopened = BTreeSet::new();
    let mut history: BTreeMap<String, Vec<&str>> = BTreeMap::new();
    let moves = served
        .iter()
        .filter(|c| c.action == "ModifyNetworkInterfaceAttribute" && c.status == 200);
    for call in moves {
        let eni = call.params.get("NetworkInterfaceId").cloned().unwrap_or_default();
        let groups = call.list("SecurityGroupId");
        history.entry(eni.clone()).or_default().push(match groups.as_slice() {
            [g] if *g == isolation => "isolation",
            [g] if *g == conversion => "conversion",
            _ => "other",
        });
        if isolated.contains(&eni) && groups.contains(&conversion) {
            reopened.insert(eni.clone());
        }
        if groups.contains(&isolation) {
            isolated.insert(eni);
        }
    }
    let reopened = reopened
        .into_iter()
        .map(|eni| {
            let seen = history[&eni].join(" -> ");
            (eni, seen)
        })
        .collect();
    (reopened, isolated)
}

/// A first delivery stops before isolation is done (the role lacked the permission for a
/// moment); Lambda's retry and EventBridge's redelivery of the same event then arrive
/// together, each in its own invocation. At no moment may an interface that carried the
/// isolation group be put back on the all-open conversion group: that reopens the instance,
/// and every connection the attacker makes then is untracked. The emulator records the
/// calls in the order it applied them, and every interface's history is walked.
///
/// Redeliveries arrive at any offset: one pair here at the same instant, the others one,
/// one and a half, and three round trips apart.
#[tokio::test]
async fn a_resumed_isolation_never_reopens_an_instance() -> Result<()> {
    let world = world().await?;
    let offsets_ms = [0, LATENCY_MS, LATENCY_MS * 3 / 2, LATENCY_MS * 3];
    let mut hosts = vec![world.web.clone()];
    for _ in 1..offsets_ms.len() {
        let instance = world.launch_worker().await?;
        hosts.push(world.host(&instance).await?);
    }
    let all_interfaces: Vec<String> = hosts.iter().flat_map(|h| h.interfaces.clone()).collect();
    let before = world.interface_groups(&all_interfaces).await?;
    let events: Vec<Value> = hosts
        .iter()
        .enumerate()
        .map(|(n, host)| finding_on(&world, &host.instance_id, &format!("resumed-isolation-{n}")))
        .collect::<Result<_>>()?;

    // First delivery of each: isolation refused, the response incomplete.
    emulator().deny(
        &world.account.id,
        "ec2",
        "ModifyNetworkInterfaceAttribute",
        403,
        "UnauthorizedOperation",
    )?;
    let first = faulty_responder(&world).await?;
    for event in &events {
        let report = incomplete(first.handle(event.clone()).await);
        assert_eq!(step(&report, "isolate-interfaces").outcome, Outcome::Failed);
    }
    emulator().clear(&world.account.id)?;
    assert_eq!(
        world.interface_groups(&all_interfaces).await?,
        before,
        "isolation was not done"
    );
    drop(world.pages().await?);

    // Then two deliveries of each at once, every call recorded as the emulator applies it.
    emulator().record(&world.account.id)?;
    emulator().latency(&world.account.id, LATENCY_MS)?;
    let mut outcomes = Vec::new();
    for (event, offset) in events.iter().zip(offsets_ms) {
        let (a, b) = (faulty_responder(&world).await?, faulty_responder(&world).await?);
        let (one, other) = tokio::join!(a.handle(event.clone()), async {
            tokio::time::sleep(Duration::from_millis(offset)).await;
            b.handle(event.clone()).await
        });
        outcomes.push(format!(
            "{offset} ms apart: {} / {}",
            one.map_or_else(|e| e.to_string(), |_| "ok".to_owned()),
            other.map_or_else(|e| e.to_string(), |_| "ok".to_owned())
        ));
    }
    let served = emulator().served(&world.account.id)?;
    emulator().clear(&world.account.id)?;

    let isolation = world.quarantine_group("isolation").await?.expect("isolation group").id;
    let conversion = world
        .quarantine_group("conversion")
        .await?
        .expect("conversion group")
        .id;
    let (reopened, isolated) = reopenings(&served, &conversion, &isolation);
    let offset_of = |eni: &str| {
        hosts
            .iter()
            .zip(offsets_ms)
            .find(|(h, _)| h.interfaces.iter().any(|i| i == eni))
            .map_or(0, |(_, offset)| offset)
    };
    let reopened: Vec<String> = reopened
        .iter()
        .map(|(eni, seen)| format!("{eni} (deliveries {} ms apart): {seen}", offset_of(eni)))
        .collect();
    assert!(
        reopened.is_empty(),
        "an isolated interface was put back on the all-open conversion group:\n{}\nresponses: {outcomes:#?}",
        reopened.join("\n")
    );
    for eni in &all_interfaces {
        assert!(isolated.contains(eni), "{eni} was never isolated: {outcomes:#?}");
    }
    for (eni, groups) in world.interface_groups(&all_interfaces).await? {
        assert_eq!(groups, vec![isolation.clone()], "{eni}: {outcomes:#?}");
    }
    Ok(())
}

#[tokio::test]
async fn a_rule_added_to_the_shared_isolation_group_fails_the_next_verification() -> Result<()> {
    let world = world().await?;
    // The first incident creates the quarantine groups.
    world.respond(events::for_world(SSH_BRUTE_FORCE, &world)?).await?;
    let isolation = world.quarantine_group("isolation").await?.context("isolation group")?;
    // Someone opens the shared isolation group "for a moment".
    world
        .account
        .clients
        .ec2
        .authorize_security_group_ingress()
        .group_id(&isolation.id)
        .ip_permissions(
            aws_sdk_ec2::types::IpPermission::builder()
                .ip_protocol("tcp")
                .from_port(22)
                .to_port(22)
                .ip_ranges(aws_sdk_ec2::types::IpRange::builder().cidr_ip("0.0.0.0/0").build())
                .build(),
        )
        .send()
        .await?;
    world.pages().await?;

    let worker = world.launch_worker().await?;
    let text = events::read("guardduty/ec2-backdoor-cc-activity.json")?.replace(events::WEB_PLACEHOLDER, &worker);
    let result = world
        .responder_as("guardduty-responder", world.settings())
        .await?
        .handle(events::for_world_text(&text, &world)?)
        .await;
    let report = incomplete(result);
    let verify = step(&report, "verify-isolation");
    assert_eq!(verify.error_code.as_deref(), Some("IsolationIncomplete"), "{verify:#?}");
    let message = verify.message.as_deref().unwrap_or_default();
    assert!(
        message.contains(&isolation.id) && message.contains("ingress tcp 22 from 0.0.0.0/0"),
        "the rule is named: {message}"
    );
    let pages = world.pages().await?;
    assert!(
        pages[0].message.contains("ingress tcp 22 from 0.0.0.0/0"),
        "{}",
        pages[0].message
    );
    Ok(())
}
