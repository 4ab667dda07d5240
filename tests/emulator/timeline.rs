//! The breach timeline and the persistence sweep: an attacker's calls, made through the
//! emulator with the stolen credentials, read back from CloudTrail's event history after
//! containment, kept as evidence, and what they created contained.

use anyhow::{Context, Result};
use playbook::{Outcome, Settings, report::StepReport};
use tourniquet_tests::attacker::{ADMINISTRATOR_ACCESS, Attacker};
use tourniquet_tests::emulator::emulator;
use tourniquet_tests::events;
use tourniquet_tests::world::World;

use crate::world;

const USER_FINDING: &str = "guardduty/iam-user-malicious-ip-caller.json";
const ROLE_FINDING: &str = "guardduty/iam-instance-credential-exfiltration-outside-aws.json";
const OBJECT: &str = "patients.csv";

/// The attacker with the deployer's leaked key: looks around, reads an object, and leaves
/// `backup-admin` with a key and AdministratorAccess.
async fn attack(world: &World) -> Result<(Attacker, tourniquet_tests::attacker::Foothold)> {
    world
        .account
        .clients
        .s3
        .put_object()
        .bucket(&world.assets_bucket)
        .key(OBJECT)
        .body(b"name,diagnosis".to_vec().into())
        .send()
        .await?;
    let attacker = Attacker::with_key(&world.account, &world.deployer_keys[0]).await?;
    attacker.look_around(&world.assets_bucket, OBJECT).await?;
    let foothold = attacker.persist("backup-admin").await?;
    Ok((attacker, foothold))
}

/// A user's key statuses, by key id.
async fn key_status(world: &World, user: &str) -> Result<Vec<(String, String)>> {
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
        .filter_map(|k| Some((k.access_key_id()?.to_owned(), k.status()?.as_str().to_owned())))
        .collect())
}

fn step<'a>(report: &'a playbook::Report, action: &str) -> &'a StepReport {
    report
        .steps
        .iter()
        .find(|s| s.action == action)
        .unwrap_or_else(|| panic!("no {action} step: {report:#?}"))
}

async fn timeline(world: &World, incident_id: &str) -> Result<serde_json::Value> {
    world.evidence(&format!("incidents/{incident_id}/timeline.json")).await
}

fn names(timeline: &serde_json::Value) -> Vec<String> {
    timeline["events"]
        .as_array()
        .map(|events| {
            events
                .iter()
                .filter_map(|e| e["name"].as_str().map(ToOwned::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

#[tokio::test]
async fn the_attackers_calls_are_traced_and_its_foothold_contained() -> Result<()> {
    let world = world().await?;
    let (_, foothold) = attack(&world).await?;
    let report = world.respond(events::for_world(USER_FINDING, &world)?).await?;
    assert!(report.steps.iter().all(StepReport::done_now), "{report:#?}");

    // Containment, then the sweep.
    assert_eq!(world.deployer_key_status().await?, ["Inactive", "Active"]);
    assert_eq!(
        key_status(&world, "backup-admin").await?,
        [(foothold.access_key_id.clone(), "Inactive".to_owned())]
    );
    let deny = world
        .user_policy("backup-admin", "tourniquet-deny-all")
        .await?
        .expect("backup-admin denied everything");
    assert_eq!(deny["Statement"][0]["Effect"], "Deny");
    // The attached policy is listed for a person, not removed.
    let attached = world
        .account
        .clients
        .iam
        .list_attached_user_policies()
        .user_name("backup-admin")
        .send()
        .await?;
    assert_eq!(attached.attached_policies().len(), 1);

    // The timeline: the management calls, newest first; the object read is a data event.
    let timeline = timeline(&world, &report.incident_id).await?;
    assert_eq!(
        names(&timeline),
        ["AttachUserPolicy", "CreateAccessKey", "CreateUser", "ListBuckets"]
    );
    let summary = &timeline["summary"];
    assert_eq!(summary["calls"], 4);
    assert_eq!(summary["writes"], 3);
    assert_eq!(summary["denied"], 0);
    assert_eq!(summary["services"], serde_json::json!(["iam", "s3"]));
    assert!(
        timeline["data_events"]
            .as_str()
            .unwrap_or_default()
            .contains("GetObject")
    );
    assert!(timeline["cut"].is_null());
    let create_key = &timeline["events"][1];
    assert_eq!(create_key["access_key_id"], world.deployer_keys[0].as_str());
    assert_eq!(create_key["source_ip"], "127.0.0.1");
    assert!(create_key["user_agent"].as_str().is_some_and(|ua| !ua.is_empty()));
    assert_eq!(create_key["read_only"], false);
    // Its SHA-256 is in the report.
    let key = format!("incidents/{}/timeline.json", report.incident_id);
    let object = report
        .objects
        .iter()
        .find(|o| o.key == key)
        .context("timeline in the report")?;
    assert_eq!(object.sha256.len(), 64);

    let pages = world.pages().await?;
    assert_eq!(pages.len(), 1);
    let message = &pages[0].message;
    for needle in [
        "backup-admin",
        ADMINISTRATOR_ACCESS,
        "4 call(s) (3 write(s), 0 denied)",
        "data events",
        "the timeline ends at",
        "key set Inactive",
    ] {
        assert!(message.contains(needle), "{needle} not in {message}");
    }
    Ok(())
}

/// The attacker acts from us-west-2 and GuardDuty reports it there; IAM is global, so its
/// user, key and policy are in us-east-1's event history: the timeline reads both regions and
/// the sweep contains the user it created.
#[tokio::test]
async fn a_foothold_made_from_us_west_2_is_traced_in_the_global_region_and_swept() -> Result<()> {
    const REGION: &str = "us-west-2";
    let world = world().await?;
    let attacker = Attacker::with_key(&world.account, &world.deployer_keys[0])
        .await?
        .in_region(REGION);
    let foothold = attacker.persist("backup-admin").await?;
    let mut finding = events::for_world(USER_FINDING, &world)?;
    finding["region"] = REGION.into();
    finding["detail"]["region"] = REGION.into();
    let report = world.respond(finding).await?;
    assert!(report.steps.iter().all(StepReport::done_now), "{report:#?}");

    assert_eq!(
        key_status(&world, "backup-admin").await?,
        [(foothold.access_key_id.clone(), "Inactive".to_owned())]
    );
    assert!(
        world
            .user_policy("backup-admin", "tourniquet-deny-all")
            .await?
            .is_some(),
        "backup-admin denied everything"
    );
    let names = names(&timeline(&world, &report.incident_id).await?);
    for name in ["AttachUserPolicy", "CreateAccessKey", "CreateUser"] {
        assert!(names.iter().any(|n| n == name), "{name} not in {names:?}");
    }
    Ok(())
}

#[tokio::test]
async fn with_containment_of_persistence_off_the_foothold_is_listed_untouched() -> Result<()> {
    let world = world().await?;
    let (_, foothold) = attack(&world).await?;
    let mut settings = world.settings();
    settings.timeline.contain_persistence = false;
    let report = world
        .responder_as("guardduty-responder", settings)
        .await?
        .handle(events::for_world(USER_FINDING, &world)?)
        .await?
        .report()
        .context("an incident")?;
    assert_eq!(step(&report, "sweep-persistence").outcome, Outcome::Done);
    assert_eq!(world.deployer_key_status().await?, ["Inactive", "Active"]);
    assert_eq!(
        key_status(&world, "backup-admin").await?,
        [(foothold.access_key_id, "Active".to_owned())]
    );
    assert!(
        world
            .user_policy("backup-admin", "tourniquet-deny-all")
            .await?
            .is_none()
    );
    let message = &world.pages().await?[0].message;
    assert!(
        message.contains("backup-admin") && message.contains("TOURNIQUET_CONTAIN_PERSISTENCE=false"),
        "{message}"
    );
    Ok(())
}

/// The protected tag protects what a person tagged, never what the stolen credential tagged
/// itself: `backup-admin`, which the attacker tagged protected (TagUser), and `tagged-admin`,
/// which it created with the tag, are contained; `vetted`, which it created but the account's
/// own administrator tagged protected, and `break-glass`, a protected principal by name, are
/// listed untouched.
#[tokio::test]
async fn a_protected_tag_the_attacker_set_protects_nothing() -> Result<()> {
    use aws_sdk_iam::types::Tag;

    let world = world().await?;
    let (attacker, foothold) = attack(&world).await?;
    let protected = || Tag::builder().key("tourniquet:protected").value("true").build();
    attacker
        .clients
        .iam
        .tag_user()
        .user_name("backup-admin")
        .tags(protected()?)
        .send()
        .await?;
    attacker
        .clients
        .iam
        .create_user()
        .user_name("tagged-admin")
        .tags(protected()?)
        .send()
        .await?;
    let vetted = attacker.persist("vetted").await?;
    world
        .account
        .clients
        .iam
        .tag_user()
        .user_name("vetted")
        .tags(protected()?)
        .send()
        .await?;
    let settings = Settings {
        protected_principals: vec!["break-glass".into()],
        ..world.settings()
    };
    let other = attacker.persist("break-glass").await?;
    let report = world
        .responder_as("guardduty-responder", settings)
        .await?
        .handle(events::for_world(USER_FINDING, &world)?)
        .await?
        .report()
        .context("an incident")?;
    assert_eq!(step(&report, "sweep-persistence").outcome, Outcome::Done, "{report:#?}");
    assert_eq!(
        key_status(&world, "backup-admin").await?,
        [(foothold.access_key_id, "Inactive".to_owned())]
    );
    for user in ["backup-admin", "tagged-admin"] {
        assert!(
            world.user_policy(user, "tourniquet-deny-all").await?.is_some(),
            "{user}"
        );
    }
    for (user, key) in [("vetted", vetted.access_key_id), ("break-glass", other.access_key_id)] {
        assert_eq!(key_status(&world, user).await?, [(key, "Active".to_owned())], "{user}");
        assert!(
            world.user_policy(user, "tourniquet-deny-all").await?.is_none(),
            "{user}"
        );
    }
    let message = &world.pages().await?[0].message;
    for needle in [
        "vetted carries the protected tag",
        "break-glass matches protected principal",
        "was set by the compromised identity itself, TagUser at",
        "was set by the compromised identity itself, CreateUser at",
    ] {
        assert!(message.contains(needle), "{needle} not in {message}");
    }
    Ok(())
}

#[tokio::test]
async fn an_instances_stolen_session_is_traced_by_its_session_name() -> Result<()> {
    let world = world().await?;
    let attacker = Attacker::with_session(&world.account, &world.web_role, &world.web.instance_id).await?;
    attacker.clients.s3.list_buckets().send().await?;
    attacker
        .clients
        .iam
        .create_user()
        .user_name("ec2-backdoor")
        .send()
        .await?;
    let report = world.respond(events::for_world(ROLE_FINDING, &world)?).await?;
    assert_eq!(step(&report, "timeline").outcome, Outcome::Done, "{report:#?}");
    let timeline = timeline(&world, &report.incident_id).await?;
    assert_eq!(names(&timeline), ["CreateUser", "ListBuckets"]);
    assert!(
        timeline["events"]
            .as_array()
            .is_some_and(|e| e.iter().all(|e| e["username"] == world.web.instance_id.as_str())),
        "{timeline:#}"
    );
    assert!(
        world
            .user_policy("ec2-backdoor", "tourniquet-deny-all")
            .await?
            .is_some(),
        "the user it created is denied"
    );
    Ok(())
}

#[tokio::test]
async fn throttled_lookups_never_hold_up_containment() -> Result<()> {
    let world = world().await?;
    attack(&world).await?;
    // Two throttled answers: the SDK's retries absorb them, the timeline completes.
    emulator().lookup_throttle(&world.account.id, 2)?;
    let report = world.respond(events::for_world(USER_FINDING, &world)?).await?;
    assert_eq!(step(&report, "timeline").outcome, Outcome::Done, "{report:#?}");
    assert_eq!(names(&timeline(&world, &report.incident_id).await?).len(), 4);

    // Throttled for good: containment is done all the same, the timeline fails (Lambda
    // retries), and the retry, unthrottled, reads it and sweeps.
    let world = crate::world().await?;
    let (_, foothold_b) = attack(&world).await?;
    emulator().lookup_throttle(&world.account.id, -1)?;
    let event = events::for_world(USER_FINDING, &world)?;
    let responder = world.responder_as("guardduty-responder", world.settings()).await?;
    let first = match responder.handle(event.clone()).await {
        // Lambda retries an incomplete response.
        Err(playbook::Error::Incomplete(report)) => *report,
        Ok(_) => anyhow::bail!("complete despite the throttling"),
        Err(err) => return Err(err.into()),
    };
    assert_eq!(world.deployer_key_status().await?, ["Inactive", "Active"]);
    let failed = step(&first, "timeline");
    assert_eq!(failed.outcome, Outcome::Failed);
    assert_eq!(failed.error_code.as_deref(), Some("ThrottlingException"));
    assert_eq!(step(&first, "sweep-persistence").outcome, Outcome::Failed);
    assert_eq!(step(&first, "page").outcome, Outcome::Done, "a person hears at once");
    emulator().lookup_throttle(&world.account.id, 0)?;
    let retry = responder.handle(event).await?.report().context("an incident")?;
    assert_eq!(step(&retry, "timeline").outcome, Outcome::Done, "{retry:#?}");
    assert_eq!(
        key_status(&world, "backup-admin").await?,
        [(foothold_b.access_key_id, "Inactive".to_owned())]
    );
    Ok(())
}

#[tokio::test]
async fn a_timeline_request_reads_again_into_a_new_object_and_sweeps_again() -> Result<()> {
    let world = world().await?;
    let (attacker, _) = attack(&world).await?;
    let responder = world.responder_as("guardduty-responder", world.settings()).await?;
    let report = responder
        .handle(events::for_world(USER_FINDING, &world)?)
        .await?
        .report()
        .context("an incident")?;
    let first = timeline(&world, &report.incident_id).await?;
    world.pages().await?;
    // A call CloudTrail had not shown yet at the first read (it lags by minutes).
    attacker
        .clients
        .iam
        .create_user()
        .user_name("late-admin")
        .send()
        .await?;

    let again = responder
        .handle(serde_json::json!({ "timeline": report.incident_id }))
        .await?
        .report()
        .context("a report")?;
    assert_eq!(step(&again, "timeline").outcome, Outcome::Done, "{again:#?}");
    let prefix = format!("incidents/{}/timeline/", report.incident_id);
    let reread: Vec<String> = world
        .evidence_keys()
        .await?
        .into_iter()
        .filter(|k| k.starts_with(&prefix) && k.ends_with("/timeline.json"))
        .collect();
    assert_eq!(reread.len(), 1, "{reread:?}");
    let second = world.evidence(&reread[0]).await?;
    assert_eq!(names(&second)[0], "CreateUser");
    assert_eq!(second["events"][0]["request_parameters"]["userName"], "late-admin");
    assert_eq!(
        timeline(&world, &report.incident_id).await?,
        first,
        "the first read is kept as it was"
    );
    assert!(world.user_policy("late-admin", "tourniquet-deny-all").await?.is_some());
    let pages = world.pages().await?;
    assert_eq!(pages.len(), 1);
    assert!(pages[0].message.contains("late-admin"), "{}", pages[0].message);

    // An incident that is not there: refused, saying why.
    let err = responder
        .handle(serde_json::json!({ "timeline": "no-such-incident" }))
        .await
        .expect_err("refused");
    assert!(err.to_string().contains("no-such-incident"), "{err}");
    Ok(())
}
