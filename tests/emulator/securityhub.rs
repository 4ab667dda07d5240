//! securityhub-responder: findings in Security Hub's formats, custom actions, and the write-back.

use anyhow::{Context, Result};
use aws_sdk_securityhub::types::WorkflowStatus;
use playbook::response::{Answer, Findings};
use playbook::{Error, Outcome, Playbook, Report, Response, Source};
use serde_json::Value;
use tourniquet_tests::securityhub::{after_write_back, as_updated, finding, import};
use tourniquet_tests::world::World;
use tourniquet_tests::{events, securityhub};

use crate::world;

/// The Security Hub responder, as its own role (its function takes GuardDuty's findings
/// through Security Hub too).
async fn responder(world: &World) -> Result<playbook::Responder> {
    Ok(world
        .responder_as("securityhub-responder", world.settings())
        .await?
        .accepting(&[Source::SecurityHub, Source::GuardDuty]))
}

/// The reports of an event the responder handled in full.
async fn handle(world: &World, event: Value) -> Result<Vec<Report>> {
    // Boxed: a response's future is large, and a test holds several in a row on its stack.
    match Box::pin(responder(world).await?.handle(event)).await? {
        Response::Findings(Findings { findings }) => findings
            .into_iter()
            .map(|answer| match answer {
                Answer::Report(report) => Ok(*report),
                other => anyhow::bail!("not a report: {other:?}"),
            })
            .collect(),
        other => anyhow::bail!("not findings: {other:?}"),
    }
}

/// The one report of a one-finding event.
async fn report(world: &World, event: Value) -> Result<Report> {
    let mut reports = handle(world, event).await?;
    anyhow::ensure!(reports.len() == 1, "{} reports", reports.len());
    Ok(reports.remove(0))
}

fn finding_id(event: &Value) -> String {
    event["detail"]["findings"][0]["Id"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

/// Every interface of the web host carries only the isolation group.
async fn isolated(world: &World) -> Result<bool> {
    let Some(isolation) = world.quarantine_group("isolation").await? else {
        return Ok(false);
    };
    let groups = world.interface_groups(&world.web.interfaces).await?;
    Ok(groups.values().all(|g| g == &vec![isolation.id.clone()]))
}

/// GuardDuty's finding through Security Hub isolates the instance and writes the response
/// back; the same finding then arriving from GuardDuty directly, and the Imported event the
/// write-back causes, change nothing and page nobody.
#[test]
fn guardduty_through_security_hub_contains_and_writes_back_once() -> Result<()> {
    on_a_large_stack(contains_and_writes_back_once())
}

/// Runs `test` on a thread of its own with 16 MiB of stack: several whole responses in a row,
/// debug-built, need more than a test thread's 2 MiB.
fn on_a_large_stack(test: impl Future<Output = Result<()>> + Send + 'static) -> Result<()> {
    std::thread::Builder::new()
        .stack_size(16 << 20)
        .spawn(|| {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?
                .block_on(test)
        })?
        .join()
        .map_err(|_| anyhow::anyhow!("the test panicked"))?
}

async fn contains_and_writes_back_once() -> Result<()> {
    let world = world().await?;
    let event = events::for_world("securityhub/guardduty-ec2-ssh-brute-force-asff.json", &world)?;
    import(&world.account, &event).await?;
    let id = finding_id(&event);
    let updated_before = finding(&world.account, &id)
        .await?
        .context("imported")?
        .updated_at()
        .map(ToOwned::to_owned);

    let contained = report(&world, event.clone()).await?;
    assert_eq!(contained.playbook, Playbook::Ec2Compromise);
    assert!(contained.is_complete(), "{contained:#?}");
    assert!(isolated(&world).await?, "the web host is isolated");
    let pages = world.pages().await?;
    assert_eq!(pages.len(), 1, "one page");
    tourniquet_tests::schema::check(tourniquet_tests::schema::page(), &pages[0].json)?;

    // The note says what was done, the incident and where the evidence is; the status is
    // NOTIFIED (a contained compromise: a person must still look); the producer's time stays.
    let stored = finding(&world.account, &id).await?.context("the finding")?;
    assert_eq!(
        stored.workflow().and_then(|w| w.status()),
        Some(&WorkflowStatus::Notified)
    );
    let note = stored.note().and_then(|n| n.text()).unwrap_or_default().to_owned();
    assert!(note.contains(&contained.incident_id), "{note}");
    assert!(note.contains("isolate-interfaces"), "{note}");
    assert!(note.contains(&contained.evidence), "{note}");
    assert_eq!(stored.note().and_then(|n| n.updated_by()), Some("tourniquet"));
    assert_eq!(stored.updated_at().map(ToOwned::to_owned), updated_before);
    let noted_at = stored.note().and_then(|n| n.updated_at()).map(ToOwned::to_owned);

    // GuardDuty's own event for the same finding: the same incident, nothing new.
    let direct = events::for_world("guardduty/ec2-ssh-brute-force-web-server.json", &world)?;
    let direct_responder = world
        .responder_as("guardduty-responder", world.settings())
        .await?
        .accepting(&[Source::GuardDuty]);
    let again = Box::pin(direct_responder.handle(direct))
        .await?
        .report()
        .context("an incident")?;
    assert_eq!(again.incident_id, contained.incident_id);
    assert!(
        again
            .steps
            .iter()
            .all(|s| s.outcome == Outcome::AlreadyDone || s.outcome == Outcome::NotNeeded),
        "{again:#?}"
    );
    assert!(world.pages().await?.is_empty(), "nobody paged twice");

    // The Imported event the write-back caused (NOTIFIED, with the note): the same
    // incident again, no page, no step, no second write-back.
    let follow_up = after_write_back(&event, &stored);
    let third = report(&world, follow_up).await?;
    assert_eq!(third.incident_id, contained.incident_id);
    assert!(
        third
            .steps
            .iter()
            .all(|s| !s.done_now() || s.outcome == Outcome::NotNeeded),
        "{third:#?}"
    );
    assert!(world.pages().await?.is_empty(), "the write-back does not page");
    let stored = finding(&world.account, &id).await?.context("the finding")?;
    assert_eq!(
        stored.note().and_then(|n| n.updated_at()).map(ToOwned::to_owned),
        noted_at,
        "no second write-back"
    );

    // The incident, read again from its evidence, is this one finding: its timeline is read
    // again and the instance released, as for any source.
    let reread = Box::pin(
        responder(&world)
            .await?
            .handle(serde_json::json!({"timeline": contained.incident_id})),
    )
    .await?
    .report()
    .context("a re-read")?;
    assert_eq!(reread.incident_id, contained.incident_id);
    world.pages().await?;
    let request = serde_json::json!({"instance_id": world.web.instance_id, "incident_id": contained.incident_id});
    let released = Box::pin(
        world
            .responder_as("quarantine-release", world.settings())
            .await?
            .release(&request, playbook::Budget::default()),
    )
    .await?;
    assert!(released.is_complete(), "{released:#?}");
    assert!(!isolated(&world).await?, "released");
    Ok(())
}

/// An OCSF finding (the current Security Hub) of GuardDuty's, for a role's stolen session:
/// the session is denied, and the response is written back with BatchUpdateFindingsV2
/// (status In Progress, a comment naming the incident).
#[tokio::test]
async fn an_ocsf_finding_contains_and_is_written_back_with_v2() -> Result<()> {
    let world = world().await?;
    let text = events::read("securityhub/ocsf-guardduty-access-key.json")?.replace("drill-app-role", &world.web_role);
    let event = events::for_world_text(&text, &world)?;
    let finding = &event["detail"]["findings"][0];
    let uid = finding["metadata"]["uid"].as_str().context("metadata.uid")?;
    let emulator = tourniquet_tests::emulator::emulator();
    emulator.deliver_ocsf(&world.account.id, finding)?;
    let report = report(&world, event.clone()).await?;
    assert_eq!(report.playbook, Playbook::CredentialCompromise, "{report:#?}");
    assert!(
        report.steps.iter().all(playbook::report::StepReport::done_now),
        "{report:#?}"
    );
    let denies = world.role_policy_names(&world.web_role).await?;
    assert!(denies.iter().any(|p| p.starts_with("tourniquet-")), "{denies:?}");
    let kept = emulator.ocsf_finding(&world.account.id, uid)?.context("the finding")?;
    assert_eq!(kept["status_id"], 2, "{kept:#}");
    assert!(
        kept["comment"]
            .as_str()
            .is_some_and(|c| c.contains(&report.incident_id)),
        "{kept:#}"
    );

    // Released from its evidence like any incident: the incident read again is this finding.
    let request = serde_json::json!({"role_name": world.web_role, "incident_id": report.incident_id});
    let released = Box::pin(
        world
            .responder_as("quarantine-release", world.settings())
            .await?
            .release(&request, playbook::Budget::default()),
    )
    .await?;
    assert!(released.is_complete(), "{released:#?}");
    let denies = world.role_policy_names(&world.web_role).await?;
    assert!(!denies.iter().any(|p| p.starts_with("tourniquet-")), "{denies:?}");
    Ok(())
}

/// A finding anyone could have imported (here claiming to be GuardDuty's, critical) pages
/// only, says why, and leaves the instance as it was.
#[tokio::test]
async fn a_third_party_finding_pages_only() -> Result<()> {
    let world = world().await?;
    let before = world.interface_groups(&world.web.interfaces).await?;
    let event = events::for_world("securityhub/third-party-imported-finding.json", &world)?;
    import(&world.account, &event).await?;
    let refused = report(&world, event).await?;
    assert_eq!(refused.playbook, Playbook::PageOnly);
    assert!(refused.reason.contains("not trusted"), "{}", refused.reason);
    assert_eq!(
        world.interface_groups(&world.web.interfaces).await?,
        before,
        "nothing changed"
    );
    let pages = world.pages().await?;
    assert_eq!(pages.len(), 1);
    assert!(pages[0].message.contains("not trusted"), "{}", pages[0].message);
    Ok(())
}

/// A low GuardDuty port probe that a user holding only `securityhub:BatchUpdateFindings`
/// raised to a critical backdoor (`Types`, `Severity.Label/Normalized/Product`) is still the
/// producer's port probe: it pages only, rated as GuardDuty rated it, and the instance keeps
/// its groups.
#[tokio::test]
async fn fields_a_user_edited_do_not_decide_the_response() -> Result<()> {
    let world = world().await?;
    let mut event = events::for_world("securityhub/guardduty-ec2-ssh-brute-force-asff.json", &world)?;
    let probe = "TTPs/Discovery/Recon:EC2-PortProbeUnprotectedPort";
    let f = &mut event["detail"]["findings"][0];
    f["Types"] = serde_json::json!([probe]);
    f["Severity"] = serde_json::json!({"Label": "LOW", "Normalized": 20, "Product": 2, "Original": "2"});
    f["FindingProviderFields"] = serde_json::json!({"Types": [probe], "Severity": {"Label": "LOW", "Original": "2"}});
    import(&world.account, &event).await?;
    let before = world.interface_groups(&world.web.interfaces).await?;
    let id = finding_id(&event);
    let product_arn = event["detail"]["findings"][0]["ProductArn"]
        .as_str()
        .context("ProductArn")?;
    let out = world
        .account
        .clients
        .securityhub
        .batch_update_findings()
        .finding_identifiers(
            aws_sdk_securityhub::types::AwsSecurityFindingIdentifier::builder()
                .id(&id)
                .product_arn(product_arn)
                .build(),
        )
        .types("TTPs/Command and Control/Backdoor:EC2-C&CActivity.B")
        .severity(
            aws_sdk_securityhub::types::SeverityUpdate::builder()
                .label(aws_sdk_securityhub::types::SeverityLabel::Critical)
                .normalized(100)
                .product(10.0)
                .build(),
        )
        .send()
        .await?;
    anyhow::ensure!(out.unprocessed_findings().is_empty(), "{out:?}");
    let stored = finding(&world.account, &id).await?.context("the finding")?;
    let raised = as_updated(&event, &stored);
    assert_eq!(
        raised["detail"]["findings"][0]["Severity"]["Label"], "CRITICAL",
        "{raised:#}"
    );

    let paged = report(&world, raised).await?;
    assert_eq!(paged.playbook, Playbook::PageOnly, "{paged:#?}");
    assert!((paged.severity - 2.0).abs() < f64::EPSILON, "{}", paged.severity);
    assert_eq!(
        world.interface_groups(&world.web.interfaces).await?,
        before,
        "nothing changed"
    );
    assert_eq!(world.pages().await?.len(), 1);
    Ok(())
}

/// A person's "contain" on a severity-5 finding acts: the automatic path would only page.
#[test]
fn the_contain_action_acts_below_the_threshold() -> Result<()> {
    on_a_large_stack(contain_acts_below_the_threshold())
}

async fn contain_acts_below_the_threshold() -> Result<()> {
    let world = world().await?;
    let event = events::for_world("securityhub/custom-action-contain.json", &world)?;
    import(&world.account, &event).await?;
    let contained = report(&world, event.clone()).await?;
    assert_eq!(contained.playbook, Playbook::Ec2Compromise, "{}", contained.reason);
    assert!((contained.severity - 5.0).abs() < f64::EPSILON);
    assert!(isolated(&world).await?);
    let stored = finding(&world.account, &finding_id(&event))
        .await?
        .context("the finding")?;
    assert_eq!(
        stored.workflow().and_then(|w| w.status()),
        Some(&WorkflowStatus::Notified)
    );

    // The same finding arriving on its own (not chosen by a person) would only page.
    let other = crate::world().await?;
    let mut automatic = events::for_world("securityhub/custom-action-contain.json", &other)?;
    automatic["detail-type"] = "Security Hub Findings - Imported".into();
    import(&other.account, &automatic).await?;
    let paged = report(&other, automatic).await?;
    assert_eq!(paged.playbook, Playbook::PageOnly);
    assert!(
        paged.reason.contains("below the ec2-compromise floor"),
        "{}",
        paged.reason
    );
    assert!(!isolated(&other).await?);
    Ok(())
}

/// A failing EC2.19 control: exactly the world-open high-risk rule (SSH) goes, HTTP and
/// HTTPS stay, and the finding is RESOLVED.
#[tokio::test]
async fn a_failing_ec2_19_control_closes_the_open_rule() -> Result<()> {
    let world = world().await?;
    let (before, _) = world.group_rules(&world.web_group).await?;
    assert!(before.contains(&"tcp 22 from 0.0.0.0/0".to_owned()), "{before:?}");
    let event = events::for_world("securityhub/cspm-ec2-19-high-risk-ports-failed.json", &world)?;
    import(&world.account, &event).await?;
    let report = report(&world, event.clone()).await?;
    assert_eq!(report.playbook, Playbook::CloseOpenPorts, "{}", report.reason);
    let (after, _) = world.group_rules(&world.web_group).await?;
    let expected: Vec<String> = before
        .iter()
        .filter(|r| *r != "tcp 22 from 0.0.0.0/0")
        .cloned()
        .collect();
    assert_eq!(after, expected);
    let stored = finding(&world.account, &finding_id(&event))
        .await?
        .context("the finding")?;
    assert_eq!(
        stored.workflow().and_then(|w| w.status()),
        Some(&WorkflowStatus::Resolved)
    );
    let pages = world.pages().await?;
    assert_eq!(pages.len(), 1);
    // A control's page names Security Hub as its source, as the page schema allows.
    assert_eq!(pages[0].json["source"], "securityhub");
    tourniquet_tests::schema::check(tourniquet_tests::schema::page(), &pages[0].json)?;
    Ok(())
}

/// Security Hub refuses the write-back (it does not know the finding): the instance is
/// contained all the same, the page names the failure, and the invocation errors so that
/// Lambda retries the write-back alone.
#[tokio::test]
async fn a_refused_write_back_leaves_the_containment_and_the_page_says_so() -> Result<()> {
    let world = world().await?;
    let event = events::for_world("securityhub/guardduty-ec2-ssh-brute-force-asff.json", &world)?;
    // On, but the finding not imported: Security Hub answers FindingNotFound.
    securityhub::enable(&world.account).await?;
    let err = Box::pin(responder(&world).await?.handle(event.clone()))
        .await
        .expect_err("the write-back failed");
    let Error::Findings(findings) = &err else {
        anyhow::bail!("{err:?}");
    };
    assert!(findings.retryable(), "{}", findings.summary());
    let report = findings.reports().next().context("a report")?;
    let failed: Vec<&str> = report.failures().map(|s| s.action.as_str()).collect();
    assert_eq!(failed, ["update-finding"]);
    assert_eq!(
        report.failures().next().and_then(|s| s.error_code.as_deref()),
        Some("FindingNotFound")
    );
    assert!(isolated(&world).await?, "contained whatever Security Hub says");
    let pages = world.pages().await?;
    assert_eq!(pages.len(), 1);
    assert!(
        pages[0].message.contains("update-finding") && pages[0].message.contains("FindingNotFound"),
        "{}",
        pages[0].message
    );

    // The retry, once Security Hub has the finding, writes back only: no second page set of
    // steps, the containment not redone.
    import(&world.account, &event).await?;
    let retry = report_of(Box::pin(responder(&world).await?.handle(event.clone())).await?)?;
    let redone: Vec<&str> = retry
        .steps
        .iter()
        .filter(|s| s.outcome == Outcome::Done)
        .map(|s| s.action.as_str())
        .collect();
    assert_eq!(redone, ["update-finding", "page-update"], "{retry:#?}");
    let stored = securityhub::finding(&world.account, &finding_id(&event))
        .await?
        .context("the finding")?;
    assert_eq!(
        stored.workflow().and_then(|w| w.status()),
        Some(&WorkflowStatus::Notified)
    );
    Ok(())
}

/// Security Hub is not enabled where the finding is kept (`InvalidAccessException` on the
/// write-back): no retry helps, so the invocation answers without error, the instance stays
/// contained, and the page says the write-back was refused because Security Hub is off.
#[tokio::test]
async fn a_write_back_refused_because_security_hub_is_off_answers_without_error() -> Result<()> {
    let world = world().await?;
    let event = events::for_world("securityhub/guardduty-ec2-ssh-brute-force-asff.json", &world)?;
    let asff = report(&world, event.clone()).await?;
    assert!(asff.is_complete(), "{asff:#?}");
    let write_back = asff
        .steps
        .iter()
        .find(|s| s.action == "update-finding")
        .context("a write-back step")?;
    assert_eq!(write_back.outcome, Outcome::NotNeeded, "{asff:#?}");
    assert!(isolated(&world).await?, "contained whatever Security Hub says");
    let pages = world.pages().await?;
    assert_eq!(pages.len(), 1);
    assert!(
        pages[0].message.contains("Security Hub refused the write-back")
            && pages[0].message.contains("not enabled")
            && pages[0].message.contains("InvalidAccessException"),
        "{}",
        pages[0].message
    );
    // The OCSF write-back (BatchUpdateFindingsV2) is refused the same way where the hub is off.
    let other = super::world().await?;
    let text = events::read("securityhub/ocsf-guardduty-access-key.json")?.replace("drill-app-role", &other.web_role);
    let ocsf = events::for_world_text(&text, &other)?;
    let v2 = report(&other, ocsf).await?;
    let write_back = v2
        .steps
        .iter()
        .find(|s| s.action == "update-finding")
        .context("a write-back step")?;
    assert_eq!(write_back.outcome, Outcome::NotNeeded, "{v2:#?}");
    assert!(v2.is_complete(), "{v2:#?}");
    Ok(())
}

fn report_of(response: Response) -> Result<Report> {
    match response {
        Response::Findings(Findings { mut findings }) if findings.len() == 1 => match findings.remove(0) {
            Answer::Report(report) => Ok(*report),
            other => anyhow::bail!("{other:?}"),
        },
        other => anyhow::bail!("{other:?}"),
    }
}
