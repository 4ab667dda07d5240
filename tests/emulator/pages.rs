//! Pages as people and programs get them: one publish with a message per protocol, a JSON
//! document valid against `docs/page.schema.json` for every drill scenario, filter policies
//! on the message attributes, the Chatbot form, and SNS's 256 KiB limit.

use std::collections::{BTreeMap, BTreeSet};
use std::time::SystemTime;

use anyhow::{Context, Result};
use playbook::observation::{ConfigRuleState, GroupRule, Observation, SecurityGroupState};
use playbook::page::{self, Document, MESSAGE_BUDGET, Verdict};
use playbook::report::StepReport;
use playbook::settings::{PageFormat, PageSettings};
use playbook::{Budget, Policy, Responder, Settings};
use serde_json::Value;
use tourniquet_tests::emulator::emulator;
use tourniquet_tests::{events, schema};

use crate::world;

const SSH_BRUTE_FORCE: &str = "guardduty/ec2-ssh-brute-force-web-server.json";
const KIB_256: usize = 256 * 1024;

fn page_schema() -> &'static jsonschema::Validator {
    schema::page()
}

fn chatbot_schema() -> &'static jsonschema::Validator {
    schema::chatbot()
}

fn valid(validator: &jsonschema::Validator, value: &Value) -> Result<()> {
    schema::check(validator, value)
}

async fn world_with_raw_queue() -> Result<(tourniquet_tests::world::World, String)> {
    let world = world().await?;
    let raw = world.subscribe_queue("raw-pages", true, None).await?;
    Ok((world, raw))
}

/// Every sample the drill runs, through the responders it runs them with, then the drill's
/// release of the web host: each page a raw-delivery subscription gets is a valid document,
/// and its attributes say what the document says.
#[tokio::test]
async fn every_drill_scenario_pages_a_document_valid_against_the_schema() -> Result<()> {
    let world = world().await?;
    let raw = world.subscribe_queue("raw-pages", true, None).await?;
    for (folder, function) in [
        ("guardduty", "guardduty-responder"),
        ("config", "config-responder"),
        ("cloudwatch", "alarm-responder"),
    ] {
        // As the function the drill runs the folder's samples with.
        let responder = world.responder_as(function, world.settings()).await?;
        for path in events::list(folder)? {
            // Refused, ignored or incomplete: what matters here is every page that went out.
            drop(responder.handle(events::for_world(&path, &world)?).await);
        }
    }
    world
        .responder_as("quarantine-release", world.settings())
        .await?
        .release(&events::for_world("manual/release.json", &world)?, Budget::default())
        .await?;
    let mut messages = world.drain(&raw).await?;
    let enveloped = world.pages().await?;
    assert_eq!(
        messages.len(),
        enveloped.len(),
        "raw and enveloped subscriptions get the same pages"
    );

    // In the drill the leaked key of the stale-key sample is already deactivated by then
    // (credential compromise goes first): that playbook acts in an account of its own.
    let fresh = world_with_raw_queue().await?;
    fresh
        .0
        .respond(events::for_world(
            "config/access-keys-rotated-noncompliant.json",
            &fresh.0,
        )?)
        .await?;
    messages.extend(fresh.0.drain(&fresh.1).await?);

    let mut playbooks = BTreeSet::new();
    let mut verdicts = BTreeSet::new();
    for message in &messages {
        let json: Value = serde_json::from_str(&message.body).context("a JSON message")?;
        valid(page_schema(), &json)?;
        let doc: Document = serde_json::from_value(json)?;
        let attribute = |name: &str| message.attributes.get(name).map(String::as_str);
        assert_eq!(attribute("verdict"), Some(doc.verdict.as_str()), "{doc:#?}");
        assert_eq!(attribute("playbook"), Some(doc.playbook.as_str()));
        assert_eq!(attribute("severity_label"), Some(doc.finding.severity_label.as_str()));
        assert_eq!(attribute("source"), Some(doc.source.as_str()));
        assert!(
            attribute("account").is_some_and(|a| a.len() == 12),
            "{:?}",
            attribute("account")
        );
        assert_eq!(attribute("incident_id"), Some(doc.incident_id.as_str()));
        assert!(
            message.body.len() < KIB_256 && doc.subject.len() < 100,
            "{}",
            doc.subject
        );
        playbooks.insert(doc.playbook);
        verdicts.insert(doc.verdict.as_str());
    }
    let every_playbook: BTreeSet<String> = [
        "ec2-compromise",
        "credential-compromise",
        "close-open-ports",
        "block-public-bucket",
        "encrypt-bucket",
        "deactivate-stale-keys",
        "page-only",
        "release",
        "attack-sequence",
        "restore-logging",
    ]
    .map(ToOwned::to_owned)
    .into();
    assert_eq!(playbooks, every_playbook, "verdicts seen: {verdicts:?}");
    Ok(())
}

/// The publish itself, read where the emulator received it: `MessageStructure: json`, a
/// message for email (the text, with links and next steps), one for SMS (the subject) and
/// the default (the document) for every other protocol. The account's alias is in both.
#[tokio::test]
async fn one_publish_carries_the_email_text_with_links_and_next_steps() -> Result<()> {
    let world = world().await?;
    world
        .account
        .clients
        .iam
        .create_account_alias()
        .account_alias("prod-payments")
        .send()
        .await?;
    let far = world.faulty_as("guardduty-responder").await?;
    let responder = Responder::new(far.clients, world.settings())?;
    emulator().record(&world.account.id)?;
    let response = responder.handle(events::for_world(SSH_BRUTE_FORCE, &world)?).await;
    let served = emulator().served(&world.account.id)?;
    emulator().clear(&world.account.id)?;
    let report = response?.report().context("an incident")?;

    let publishes: Vec<_> = served.iter().filter(|s| s.action == "Publish").collect();
    assert_eq!(publishes.len(), 1, "one publish");
    let params = &publishes[0].params;
    assert_eq!(params.get("MessageStructure").map(String::as_str), Some("json"));
    let account = format!("prod-payments ({})", world.account.id);
    let subject = params.get("Subject").context("a subject")?;
    assert!(subject.contains(&account) && subject.len() < 100, "{subject}");
    let message: BTreeMap<String, String> = serde_json::from_str(params.get("Message").context("a message")?)?;
    assert_eq!(
        message.keys().map(String::as_str).collect::<Vec<_>>(),
        ["default", "email", "sms"]
    );
    assert_eq!(&message["sms"], subject);
    let document: Value = serde_json::from_str(&message["default"])?;
    valid(page_schema(), &document)?;
    assert_eq!(document["account"]["alias"], "prod-payments");

    let email = &message["email"];
    let web = &world.web.instance_id;
    let snapshots: Vec<String> = world.snapshots(web).await?.into_iter().map(|s| s.0).collect();
    assert_eq!(snapshots.len(), 2);
    let release = format!(
        "aws lambda invoke --region us-east-1 --cli-read-timeout 900 --function-name quarantine-release --cli-binary-format \
         raw-in-base64-out --payload '{{\"instance_id\": \"{web}\", \"incident_id\": \"{}\"}}' release.json",
        report.incident_id
    );
    for needle in [
        format!("account {account}, region us-east-1"),
        format!("https://console.aws.amazon.com/ec2/home?region=us-east-1#InstanceDetails:instanceId={web}"),
        "https://console.aws.amazon.com/guardduty/home?region=us-east-1#/findings?macros=current&fId=".to_owned(),
        "https://console.aws.amazon.com/securityhub/home?region=us-east-1#/findings?search=Id%3D".to_owned(),
        format!(
            "https://console.aws.amazon.com/s3/buckets/{}?region=us-east-1&prefix=incidents%2F{}%2F",
            world.bucket, report.incident_id
        ),
        format!(
            "https://console.aws.amazon.com/ec2/home?region=us-east-1#SnapshotDetails:snapshotId={}",
            snapshots[0]
        ),
        format!(
            "https://console.aws.amazon.com/s3/object/{}?region=us-east-1&prefix=incidents%2F{}%2Freport.html",
            world.bucket, report.incident_id
        ),
        "Next steps:".to_owned(),
        "Take a memory image".to_owned(),
        format!("Snapshots {}", snapshots.join(", ")),
        "Attacker: 198.51.100.23 (China, Shanghai; China Telecom, AS4134), port 22 (SSH) TCP INBOUND".to_owned(),
        release,
    ] {
        assert!(email.contains(&needle), "{needle}\nmissing from\n{email}");
    }
    // The report link opens an object that is there once the run has ended: the HTML report.
    let links = document["links"].as_array().context("links")?;
    let linked = links.iter().find(|l| l["rel"] == "report").context("a report link")?;
    let key = linked["url"]
        .as_str()
        .and_then(|u| u.split_once("&prefix="))
        .map(|(_, k)| k.replace("%2F", "/"))
        .context("the object's key")?;
    let object = world
        .account
        .clients
        .s3
        .get_object()
        .bucket(&world.bucket)
        .key(&key)
        .send()
        .await?;
    assert_eq!(object.content_type(), Some("text/html; charset=utf-8"), "{key}");
    Ok(())
}

/// Two subscriptions with the README's filter policies: the on-call pager gets only CRITICAL
/// and HIGH containments, holds and failures; the chat channel gets everything.
#[tokio::test]
async fn filter_policies_on_severity_and_verdict_get_only_what_they_ask_for() -> Result<()> {
    let world = world().await?;
    let pager = world
        .subscribe_queue(
            "pager",
            true,
            Some(r#"{"severity_label": ["CRITICAL", "HIGH"], "verdict": ["contained", "held", "failed"]}"#),
        )
        .await?;
    let chat = world.subscribe_queue("chat", true, None).await?;

    // HIGH, contained: paged.
    world.respond(events::for_world(SSH_BRUTE_FORCE, &world)?).await?;
    // LOW, page only: not paged.
    world
        .respond(events::for_world(
            "guardduty/ec2-recon-port-probe-unprotected-port.json",
            &world,
        )?)
        .await?;
    // HIGH, but the bastion is protected: page only, not paged.
    world
        .respond(events::for_world(
            "guardduty/ec2-ssh-brute-force-protected-bastion.json",
            &world,
        )?)
        .await?;
    // HIGH, dry run: not paged.
    let dry = Settings {
        dry_run: true,
        ..world.settings()
    };
    let worker = world.launch_worker().await?;
    let text = events::read("guardduty/ec2-backdoor-cc-activity.json")?.replace(events::WEB_PLACEHOLDER, &worker);
    world
        .responder_as("guardduty-responder", dry)
        .await?
        .handle(events::for_world_text(&text, &world)?)
        .await?;
    // HIGH, isolation refused: failed, paged.
    emulator().deny(
        &world.account.id,
        "ec2",
        "ModifyNetworkInterfaceAttribute",
        403,
        "UnauthorizedOperation",
    )?;
    let far = world.faulty_as("guardduty-responder").await?;
    let failed = Responder::new(far.clients, world.settings())?
        .handle(events::for_world_text(&text, &world)?)
        .await;
    emulator().clear(&world.account.id)?;
    assert!(failed.is_err(), "isolation was refused");

    let verdicts = |messages: Vec<tourniquet_tests::world::RawMessage>| -> Vec<String> {
        messages
            .iter()
            .map(|m| m.attributes.get("verdict").cloned().unwrap_or_default())
            .collect()
    };
    assert_eq!(verdicts(world.drain(&pager).await?), ["contained", "failed"]);
    let everything = world.drain(&chat).await?;
    for message in &everything {
        valid(page_schema(), &serde_json::from_str(&message.body)?)?;
    }
    assert_eq!(
        verdicts(everything),
        ["contained", "page-only", "page-only", "dry-run", "failed"],
        "the chat channel gets every page"
    );
    Ok(())
}

/// `TOURNIQUET_PAGE_FORMAT=chatbot`: the JSON is a custom notification in the documented
/// format, with the page's subject, next steps and keywords; email keeps its text.
#[tokio::test]
async fn the_chatbot_format_is_a_documented_custom_notification() -> Result<()> {
    let world = world().await?;
    let raw = world.subscribe_queue("chatbot", true, None).await?;
    let settings = Settings {
        pages: PageSettings {
            format: PageFormat::Chatbot,
            ..PageSettings::default()
        },
        ..world.settings()
    };
    let responder = world.responder_as("guardduty-responder", settings).await?;
    responder.handle(events::for_world(SSH_BRUTE_FORCE, &world)?).await?;
    responder
        .handle(events::for_world(
            "guardduty/iam-user-malicious-ip-caller.json",
            &world,
        )?)
        .await?;
    let messages = world.drain(&raw).await?;
    assert_eq!(messages.len(), 2);
    for message in &messages {
        let json: Value = serde_json::from_str(&message.body)?;
        valid(chatbot_schema(), &json)?;
        assert!(page_schema().iter_errors(&json).next().is_some(), "not a page document");
        assert_eq!(json["version"], "1.0");
        assert_eq!(json["source"], "custom");
        assert_eq!(json["content"]["textType"], "client-markdown");
        let keywords = json["content"]["keywords"].to_string();
        assert!(
            keywords.contains("HIGH") && keywords.contains("contained"),
            "{keywords}"
        );
        assert!(json["content"]["nextSteps"].as_array().is_some_and(|n| !n.is_empty()));
    }
    let first = &messages[0];
    let json: Value = serde_json::from_str(&first.body)?;
    assert!(
        json["content"]["nextSteps"]
            .to_string()
            .contains("--function-name quarantine-release"),
        "{json:#}"
    );
    assert!(
        json["content"]["description"]
            .as_str()
            .is_some_and(|d| d.contains("https://console.aws.amazon.com/ec2/home")),
        "{json:#}"
    );
    Ok(())
}

/// A security group with 5,000 rules open to the world: the plan's reason names each one.
/// The page keeps the verdict, the links and the evidence, says what it left out, and SNS
/// takes it: every protocol's message and the whole publish under 256 KiB.
#[tokio::test]
async fn a_five_thousand_rule_plan_pages_under_256_kib() -> Result<()> {
    let world = world().await?;
    let raw = world.subscribe_queue("big-pages", true, None).await?;
    let settings = world.settings();
    let policy = Policy::new(&settings)?;
    let incident = playbook::intake::parse(&events::for_world(
        "config/vpc-sg-open-only-to-authorized-ports-noncompliant.json",
        &world,
    )?)?
    .incident()
    .context("an incident")?;
    // Pairs of high ports, as a hand-managed group of game servers might have.
    let rules: Vec<GroupRule> = (0..5_000)
        .map(|n| GroupRule {
            protocol: "tcp".into(),
            from_port: Some(20_000 + 2 * n),
            to_port: Some(20_001 + 2 * n),
            cidr_ipv4: Some("0.0.0.0/0".into()),
            ..GroupRule::default()
        })
        .collect();
    let observation = Observation::SecurityGroup(Box::new(SecurityGroupState {
        group_id: world.web_group.clone(),
        ingress: rules,
        rule: Some(ConfigRuleState {
            name: incident.finding_type.clone(),
            parameters: [("authorizedTcpPorts".to_owned(), "443".to_owned())].into(),
            error: None,
        }),
        ..SecurityGroupState::default()
    }));
    let target = playbook::target::target(&incident, &policy);
    let plan = playbook::plan::plan(&incident, &target, &observation, &policy, SystemTime::now());
    // In the email and in the JSON, the reason alone would not fit.
    assert!(
        2 * plan.reason.len() > MESSAGE_BUDGET,
        "the reason is {} bytes",
        plan.reason.len()
    );
    let steps: Vec<StepReport> = plan
        .steps
        .iter()
        .enumerate()
        .filter(|(_, s)| !matches!(s.step, playbook::plan::Step::Page | playbook::plan::Step::PageUpdate))
        .map(|(i, s)| StepReport::new(i, s.step.action(), world.web_group.clone()))
        .collect();
    let evidence = format!("s3://{}/incidents/{}/", world.bucket, incident.id);
    let context = page::Context {
        home_region: Some("us-east-1".into()),
        release_function: "quarantine-release".into(),
        ..page::Context::default()
    };
    let page = page::compose(&incident, &plan, &steps, &evidence, false, &context);
    assert!(page.message().len() <= MESSAGE_BUDGET, "{}", page.message().len());
    let doc = &page.document;
    assert_eq!(doc.verdict, Verdict::Contained);
    let truncated = doc.truncated.as_ref().context("it says it was shortened")?;
    assert!(truncated.characters_left_out > 100_000, "{truncated:?}");
    assert!(page.email.contains(&truncated.note) && page.email.contains(&evidence));
    assert!(doc.links.iter().any(|l| l.rel == "security-group") && doc.links.iter().any(|l| l.rel == "evidence"));

    playbook::actions::notify::publish(&world.account.clients.sns, &world.topic_arn, &page).await?;
    let messages = world.drain(&raw).await?;
    assert_eq!(messages.len(), 1);
    assert!(messages[0].body.len() < KIB_256);
    valid(page_schema(), &serde_json::from_str(&messages[0].body)?)?;
    Ok(())
}
