//! The page a person on call receives: one document, written once per channel.
//!
//! [`compose`] turns the incident, its plan and the steps into a [`Document`] (the versioned
//! JSON of `docs/PAGE.md`), and renders it as the email text, the JSON for programs (or an
//! AWS Chatbot custom notification) and the message attributes subscription filter policies
//! read. One SNS publish carries them all (`MessageStructure: json`), within SNS's limits.

use std::fmt::Write as _;

use serde_json::json;

use crate::incident::Incident;
use crate::plan::Plan;
use crate::report::{Outcome, StepReport};
use crate::settings::PageFormat;

mod attributes;
mod chatbot;
mod document;
mod email;
pub mod html;
mod next_steps;
pub mod write_back;

pub use attributes::Attribute;
pub use chatbot::chatbot;
pub use document::{
    Account, Context, Document, Evidence, Finding, Kind, Request, ResourceRef, StepLine, Truncated, Verdict,
};
pub use email::email_text;

/// The page document's version: a consumer checks it before reading further.
pub const SCHEMA: &str = "tourniquet.page/1";

/// SNS subjects must be ASCII, on one line, under 100 characters.
const SUBJECT_MAX: usize = 99;

/// SNS takes at most 256 KiB per publish, message attributes and subject included: the
/// structured message (every protocol's message, JSON-encoded together) stays within this,
/// leaving 8 KiB for the attributes and the subject.
pub const MESSAGE_BUDGET: usize = 256 * 1024 - 8 * 1024;

/// A composed page: the document and each form it is sent in.
#[derive(Debug, Clone, PartialEq)]
pub struct Page {
    pub subject: String,
    pub document: Document,
    /// The `email` message.
    pub email: String,
    /// The `default` message (every protocol without its own: sqs, lambda, https, firehose,
    /// email-json): the document, or the Chatbot notification.
    pub json: String,
    pub attributes: Vec<Attribute>,
    /// The steps the page reports as failed (kept in its record: a retry that completes them
    /// sends one update).
    pub failed: Vec<String>,
}

impl Page {
    /// The `Message` of a `MessageStructure: json` publish: a message per protocol.
    #[must_use]
    pub fn message(&self) -> String {
        json!({ "default": self.json, "email": self.email, "sms": self.subject }).to_string()
    }
}

/// Composes the page from the incident, its plan and the steps before the page.
#[must_use]
pub fn compose(
    incident: &Incident,
    plan: &Plan,
    steps: &[StepReport],
    evidence: &str,
    approved: bool,
    context: &Context,
) -> Page {
    compose_follow_up(incident, plan, steps, evidence, approved, &[], context)
}

/// The update to a page that reported `earlier_failed`, now that a retry has completed every
/// step: the same page, saying so first. With nothing failed earlier, the page itself.
#[must_use]
pub fn compose_follow_up(
    incident: &Incident,
    plan: &Plan,
    steps: &[StepReport],
    evidence: &str,
    approved: bool,
    earlier_failed: &[String],
    context: &Context,
) -> Page {
    let full = document::document(incident, plan, steps, evidence, approved, earlier_failed, context);
    // Shorten only when the whole message would not fit, each time from the full document.
    let mut page = render(full.clone(), context.format);
    for (steps, characters) in [(200, 4_000), (50, 1_000), (10, 300)] {
        if page.message().len() <= MESSAGE_BUDGET {
            break;
        }
        page = render(shorten(&full, steps, characters), context.format);
    }
    page
}

fn render(document: Document, format: PageFormat) -> Page {
    let email = email_text(&document);
    let json = match format {
        PageFormat::Tourniquet => serde_json::to_string(&document).unwrap_or_default(),
        PageFormat::Chatbot => chatbot(&document).to_string(),
    };
    Page {
        subject: document.subject.clone(),
        attributes: attributes::attributes(&document),
        failed: document.failed.clone(),
        email,
        json,
        document,
    }
}

/// A copy of `full` with at most `max_steps` steps (every failed one first), snapshots and
/// links, and no text longer than `max_chars`; it says what was left out.
fn shorten(full: &Document, max_steps: usize, max_chars: usize) -> Document {
    let mut doc = full.clone();
    let mut cut = 0usize;
    let mut clip = |text: &mut String| {
        let count = text.chars().count();
        if count > max_chars {
            cut += count - max_chars;
            let kept: String = text.chars().take(max_chars).collect();
            *text = format!("{kept}... ({} characters left out)", count - max_chars);
        }
    };
    clip(&mut doc.reason);
    clip(&mut doc.finding.summary);
    if let Some(hold) = &mut doc.hold {
        clip(hold);
    }
    for value in doc.details.values_mut() {
        clip(value);
    }
    for step in &mut doc.steps {
        clip(&mut step.target);
        clip(&mut step.text);
    }
    for line in &mut doc.next_steps {
        clip(line);
    }
    // Failed steps first, then the rest in plan order, up to the limit; shown in plan order.
    let total = doc.steps.len();
    if total > max_steps {
        let mut keep: Vec<usize> = (0..total)
            .filter(|&i| doc.steps[i].outcome == Outcome::Failed)
            .take(max_steps)
            .collect();
        for i in 0..total {
            if keep.len() >= max_steps {
                break;
            }
            if !keep.contains(&i) {
                keep.push(i);
            }
        }
        keep.sort_unstable();
        doc.steps = keep.into_iter().map(|i| doc.steps[i].clone()).collect();
    }
    let failed_total = doc.failed.len();
    doc.failed.truncate(max_steps);
    doc.snapshots.truncate(max_steps);
    // Links to the resource and the finding come first, the evidence and the report last:
    // keep both ends.
    if doc.links.len() > max_steps {
        let last = doc.links.split_off(doc.links.len().saturating_sub(2));
        doc.links.truncate(max_steps.saturating_sub(last.len()));
        doc.links.extend(last);
    }
    let steps_left_out = total - doc.steps.len();
    let mut note = format!(
        "Shortened to fit SNS's 256 KiB limit: {steps_left_out} of {total} steps and {cut} characters left out"
    );
    if failed_total > doc.failed.len() {
        let _ = write!(note, " ({failed_total} steps failed in all)");
    }
    let _ = write!(note, "; everything is in {}report.json.", doc.evidence.uri);
    doc.truncated = Some(Truncated {
        steps_left_out,
        characters_left_out: cut,
        note,
    });
    doc
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::document::subject;
    use super::*;
    use crate::plan::PlannedStep;
    use crate::plan::Step;
    use crate::policy::Playbook;

    fn incident() -> Incident {
        let event: serde_json::Value = serde_json::from_str(include_str!(
            "../../../events/guardduty/ec2-ssh-brute-force-web-server.json"
        ))
        .unwrap();
        crate::intake::parse(&event).unwrap().incident().unwrap()
    }

    fn plan(playbook: Playbook, steps: Vec<Step>) -> Plan {
        Plan {
            place: None,
            incident_id: incident().id,
            playbook,
            dry_run: false,
            reason: "because".into(),
            planned_at: "1970-01-01T00:00:00Z".into(),
            observation: crate::observation::Observation::NotNeeded,
            critical: false,
            hold: None,
            steps: steps
                .into_iter()
                .map(|step| PlannedStep {
                    place: None,
                    step,
                    reason: String::new(),
                })
                .collect(),
        }
    }

    fn isolation() -> Plan {
        let instance_id = "i-99999999".to_owned();
        plan(
            Playbook::Ec2Compromise,
            vec![
                Step::RecordEvidence,
                Step::IsolateInterfaces {
                    instance_id: instance_id.clone(),
                    vpcs: Vec::new(),
                },
                Step::SnapshotVolumes {
                    instance_id,
                    volume_ids: vec!["vol-1".into()],
                    tags: BTreeMap::new(),
                },
                Step::Page,
            ],
        )
    }

    fn reports(plan: &Plan, failed: &[usize]) -> Vec<StepReport> {
        plan.steps
            .iter()
            .enumerate()
            .filter(|(_, s)| !matches!(s.step, Step::Page | Step::PageUpdate))
            .map(|(i, s)| {
                let mut report = StepReport::new(i, s.step.action(), "t".into());
                if failed.contains(&i) {
                    report.outcome = Outcome::Failed;
                    report.error_code = Some("UnauthorizedOperation".into());
                }
                if s.step.action() == "snapshot-volumes" {
                    report.detail = json!({"snapshots": [{"snapshot_id": "snap-1", "volume_id": "vol-1"}]});
                }
                report
            })
            .collect()
    }

    fn context() -> Context {
        Context {
            account_alias: Some("prod-payments".into()),
            home_region: Some("us-east-1".into()),
            function: Some("tourniquet-GuardDutyResponder-1A2B".into()),
            release_function: "tourniquet-quarantine-release".into(),
            ..Context::default()
        }
    }

    const EVIDENCE: &str = "s3://evidence/incidents/guardduty-1/";

    #[test]
    fn verdicts_are_decided_in_one_order() {
        let contained = isolation();
        assert_eq!(
            Verdict::of(&contained, &reports(&contained, &[]), false),
            Verdict::Contained
        );
        assert_eq!(
            Verdict::of(&contained, &reports(&contained, &[1]), false),
            Verdict::Failed
        );
        let held = Plan {
            hold: Some("limit".into()),
            ..isolation()
        };
        assert_eq!(Verdict::of(&held, &[], false), Verdict::Held);
        assert_eq!(Verdict::of(&held, &[], true), Verdict::Contained);
        let dry = Plan {
            dry_run: true,
            ..held.clone()
        };
        assert_eq!(Verdict::of(&dry, &[], false), Verdict::DryRun);
        let only = plan(Playbook::PageOnly, vec![Step::RecordEvidence, Step::Page]);
        assert_eq!(Verdict::of(&only, &[], false), Verdict::PageOnly);
        let released = plan(Playbook::Release, vec![Step::Page]);
        assert_eq!(Verdict::of(&released, &[], false), Verdict::Released);
    }

    #[test]
    fn a_containment_page_in_every_form() {
        let plan = isolation();
        let page = compose(&incident(), &plan, &reports(&plan, &[]), EVIDENCE, false, &context());
        let account = "prod-payments (123456789012)";
        assert!(
            page.subject.starts_with(&format!("[HIGH 8.0] {account} ")),
            "{}",
            page.subject
        );
        assert!(page.subject.ends_with("i-99999999 isolated"), "{}", page.subject);
        for needle in [
            "account prod-payments (123456789012), region us-east-1",
            "Attacker: 198.51.100.23",
            "Take a memory image of i-99999999",
            "Snapshots snap-1 are tagged tourniquet:incident-id=",
            "aws lambda invoke --region us-east-1 --cli-read-timeout 900 --function-name tourniquet-quarantine-release",
            "#InstanceDetails:instanceId=i-99999999",
            "#SnapshotDetails:snapshotId=snap-1",
            "Evidence: s3://evidence/incidents/guardduty-1/",
        ] {
            assert!(page.email.contains(needle), "{needle} missing from\n{}", page.email);
        }
        // The JSON is the document, and the email text is the document's.
        let doc: Document = serde_json::from_str(&page.json).unwrap();
        assert_eq!(doc, page.document);
        assert_eq!(email_text(&doc), page.email);
        let names: Vec<&str> = page.attributes.iter().map(|a| a.name).collect();
        assert_eq!(
            names,
            [
                "severity",
                "severity_label",
                "playbook",
                "verdict",
                "account",
                "source",
                "incident_id",
                "finding_type",
                "kind"
            ]
        );
        let message: BTreeMap<String, String> = serde_json::from_str(&page.message()).unwrap();
        assert_eq!(message["default"], page.json);
        assert_eq!(message["email"], page.email);

        let chat = compose(
            &incident(),
            &plan,
            &reports(&plan, &[]),
            EVIDENCE,
            false,
            &Context {
                format: PageFormat::Chatbot,
                ..context()
            },
        );
        let json: serde_json::Value = serde_json::from_str(&chat.json).unwrap();
        assert_eq!(
            (json["version"].as_str(), json["source"].as_str()),
            (Some("1.0"), Some("custom"))
        );
        assert_eq!(json["content"]["title"], chat.subject);
        assert_eq!(chat.email, page.email, "email is the same in either format");
    }

    /// Each run's page links its own report.html, in the evidence bucket's home region, last.
    #[test]
    fn each_page_links_its_runs_report_page() {
        let report = |page: &Page| {
            let last = page.document.links.last().cloned().unwrap();
            assert_eq!(last.rel, "report");
            assert!(page.email.contains(&last.url), "{}", page.email);
            last
        };
        let isolating = isolation();
        let first = report(&compose(
            &incident(),
            &isolating,
            &reports(&isolating, &[]),
            EVIDENCE,
            false,
            &context(),
        ));
        assert_eq!(
            first.url,
            "https://console.aws.amazon.com/s3/object/evidence?region=us-east-1&prefix=incidents%2Fguardduty-1%2Freport.html"
        );
        assert_eq!(first.label, "Report s3://evidence/incidents/guardduty-1/report.html");
        let held = Plan {
            hold: Some("limit".into()),
            ..isolation()
        };
        let approved = report(&compose(
            &incident(),
            &held,
            &reports(&held, &[]),
            EVIDENCE,
            true,
            &context(),
        ));
        assert!(
            approved
                .url
                .ends_with("prefix=incidents%2Fguardduty-1%2Fapproved%2Freport.html"),
            "{}",
            approved.url
        );
        let still_held = report(&compose(&incident(), &held, &[], EVIDENCE, false, &context()));
        assert!(
            still_held.url.ends_with("%2Fguardduty-1%2Freport.html"),
            "{}",
            still_held.url
        );
        let release = plan(Playbook::Release, vec![Step::Page]);
        let released = report(&compose(&incident(), &release, &[], EVIDENCE, false, &context()));
        assert!(
            released
                .url
                .ends_with("prefix=incidents%2Fguardduty-1%2Frelease%2Freport.html"),
            "{}",
            released.url
        );
        // The evidence bucket's region, not the incident's (a member account's elsewhere).
        let away = Context {
            home_region: Some("eu-west-1".into()),
            ..context()
        };
        let away = report(&compose(&incident(), &isolating, &[], EVIDENCE, false, &away));
        assert!(away.url.contains("?region=eu-west-1&"), "{}", away.url);
    }

    #[test]
    fn a_held_page_carries_the_exact_approve_command() {
        let held = Plan {
            hold: Some("5 instances are already in quarantine".into()),
            ..isolation()
        };
        let page = compose(&incident(), &held, &[], EVIDENCE, false, &context());
        let request = page.document.request.clone().unwrap();
        assert_eq!(request.kind, "approve");
        let id = incident().id;
        assert_eq!(
            request.command,
            format!(
                "aws lambda invoke --region us-east-1 --cli-read-timeout 900 --function-name tourniquet-GuardDutyResponder-1A2B \
                 --cli-binary-format raw-in-base64-out --payload '{{\"approve\": \"{id}\"}}' approve.json"
            )
        );
        assert!(page.email.contains(&request.command));
        assert_eq!(page.document.verdict, Verdict::Held);
    }

    #[test]
    fn without_an_alias_the_account_is_its_id_and_updates_say_so_first() {
        let plan = isolation();
        let context = Context {
            account_alias: None,
            ..context()
        };
        let update = compose_follow_up(
            &incident(),
            &plan,
            &reports(&plan, &[]),
            EVIDENCE,
            false,
            &["isolate-interfaces".to_owned()],
            &context,
        );
        assert!(
            update.subject.starts_with("[HIGH 8.0] 123456789012 "),
            "{}",
            update.subject
        );
        assert!(
            update.subject.ends_with("isolated, done on retry"),
            "{}",
            update.subject
        );
        assert_eq!(update.document.kind, Kind::Update);
        assert!(update.email.starts_with("UPDATE: an earlier page"), "{}", update.email);
    }

    #[test]
    fn thousands_of_steps_keep_the_failures_and_say_what_was_left_out() {
        let keys: Vec<Step> = (0..5_000)
            .map(|i| Step::DeactivateAccessKey {
                user_name: format!("user-{i}"),
                access_key_id: format!("AKIA{i:016}"),
            })
            .collect();
        let mut steps = vec![Step::RecordEvidence];
        steps.extend(keys);
        steps.push(Step::Page);
        let plan = Plan {
            reason: "stale ".repeat(20_000),
            ..plan(Playbook::DeactivateStaleKeys, steps)
        };
        let failed = [17, 2_500, 4_999];
        let page = compose(
            &incident(),
            &plan,
            &reports(&plan, &failed),
            EVIDENCE,
            false,
            &context(),
        );
        assert!(page.message().len() <= MESSAGE_BUDGET, "{}", page.message().len());
        let doc = &page.document;
        assert_eq!(doc.verdict, Verdict::Failed);
        let kept: Vec<usize> = doc
            .steps
            .iter()
            .filter(|s| s.outcome == Outcome::Failed)
            .map(|s| s.number - 1)
            .collect();
        assert_eq!(kept, failed, "every failure is kept");
        let truncated = doc.truncated.as_ref().unwrap();
        assert_eq!(truncated.steps_left_out, 5_001 - doc.steps.len());
        assert!(truncated.note.contains("report.json"), "{}", truncated.note);
        assert!(page.email.contains(&truncated.note));
        assert!(doc.links.iter().any(|l| l.rel == "evidence"));
        assert!(doc.links.iter().any(|l| l.rel == "report"));
        assert_eq!(doc.failed.len(), 3);
    }

    #[test]
    fn subjects_are_short_ascii_lines() {
        assert_eq!(
            subject("[HIGH 8.0] ", "a\nb é", ": i-1 isolated"),
            "[HIGH 8.0] a?b ?: i-1 isolated"
        );
        let long = "x".repeat(300);
        let line = subject("[HIGH 8.0] ", &long, ": AKIA123 credentials revoked");
        assert_eq!(line.len(), SUBJECT_MAX);
        assert!(line.ends_with("...: AKIA123 credentials revoked"), "{line}");
        assert_eq!(subject("", "", &long).len(), SUBJECT_MAX);
    }
}
