//! The page as email text: the document, read top to bottom.

use super::document::{Document, Kind};
use crate::incident::Attacker;

/// The email: the page as text a person reads on a phone, from the document alone (so what a
/// program received can be shown as the email showed it).
#[must_use]
pub fn email_text(doc: &Document) -> String {
    let mut body = String::new();
    let mut line = |text: String| {
        body.push_str(&text);
        body.push('\n');
    };
    if doc.kind == Kind::Update {
        line(format!(
            "UPDATE: an earlier page for this incident reported failed steps ({}); a retry has now completed every step.",
            doc.earlier_failed.join(", ")
        ));
        line(String::new());
    }
    let place = match (doc.account.label(), &doc.region) {
        (Some(account), Some(region)) => format!(" in {account}, {region}"),
        (Some(account), None) => format!(" in {account}"),
        (None, Some(region)) => format!(" in {region}"),
        (None, None) => String::new(),
    };
    line(format!(
        "Tourniquet responded to a {} severity finding ({:.1}){place}: {} ({}).",
        doc.finding.severity_label,
        doc.finding.severity,
        doc.outcome,
        doc.verdict.as_str()
    ));
    if doc.dry_run {
        line("DRY RUN: nothing in the account was changed; the steps below are what would be done.".to_owned());
    }
    if let Some(reason) = &doc.hold {
        if doc.dry_run {
            line(format!(
                "Outside dry run this would be held for a person's approval: {reason}."
            ));
        } else if doc.approved {
            line(format!("Approved by a person after it was held: {reason}."));
        } else {
            line(format!("HELD: {reason}. Nothing was changed."));
        }
    }
    line(String::new());
    line(format!("Finding:  {}", doc.finding.finding_type));
    line(format!("Summary:  {}", doc.finding.summary));
    line(format!(
        "Where:    account {}, region {}",
        doc.account.label().unwrap_or_else(|| "unknown".to_owned()),
        doc.region.as_deref().unwrap_or("unknown")
    ));
    line(format!("Resource: {}", doc.resource.label));
    if let Some(attacker) = doc.attacker.as_ref().map(Attacker::describe).filter(|a| !a.is_empty()) {
        line(format!("Attacker: {attacker}"));
    }
    line(format!("Incident: {} (finding {})", doc.incident_id, doc.finding.id));
    line(format!("Playbook: {}: {}", doc.playbook, doc.reason));
    if !doc.details.is_empty() {
        line(String::new());
        line("Details:".to_owned());
        for (key, value) in &doc.details {
            line(format!("  {key}: {value}"));
        }
    }
    line(String::new());
    line("Steps:".to_owned());
    for step in &doc.steps {
        line(format!(
            "  {}. {} {}: {}",
            step.number, step.action, step.target, step.text
        ));
    }
    line(String::new());
    line(format!("Evidence: {}", doc.evidence.uri));
    if !doc.snapshots.is_empty() {
        line(format!("Snapshots: {}", doc.snapshots.join(", ")));
    }
    if !doc.next_steps.is_empty() {
        line(String::new());
        line("Next steps:".to_owned());
        for step in &doc.next_steps {
            line(format!("  - {step}"));
        }
    }
    if !doc.links.is_empty() {
        line(String::new());
        line("Links:".to_owned());
        for link in &doc.links {
            line(format!("  {}: {}", link.label, link.url));
        }
    }
    if let Some(truncated) = &doc.truncated {
        line(String::new());
        line(truncated.note.clone());
    }
    body
}
