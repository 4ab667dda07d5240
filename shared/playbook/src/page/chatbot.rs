//! The page as an AWS Chatbot custom notification.

use serde_json::json;

use super::document::{Document, Kind};
use crate::incident::Attacker;
use crate::report::Outcome;

/// Chat clients show a few thousand characters well; the Chatbot description stays short.
pub(super) const CHATBOT_DESCRIPTION_MAX: usize = 3_500;

/// The document as an AWS Chatbot (Amazon Q Developer in chat applications) custom
/// notification: version 1.0, source custom, a markdown description, next steps, keywords.
#[must_use]
pub fn chatbot(doc: &Document) -> serde_json::Value {
    let mut description = String::new();
    let mut line = |text: String| {
        description.push_str(&text);
        description.push('\n');
    };
    if doc.kind == Kind::Update {
        line(format!(
            "UPDATE: a retry completed the steps an earlier page reported failed ({}).",
            doc.earlier_failed.join(", ")
        ));
    }
    line(format!("*{}* ({})", doc.outcome, doc.verdict.as_str()));
    line(format!("`{}`: {}", doc.finding.finding_type, doc.finding.summary));
    line(format!(
        "Account {}, region {}",
        doc.account.label().unwrap_or_else(|| "unknown".to_owned()),
        doc.region.as_deref().unwrap_or("unknown")
    ));
    line(format!("Resource `{}`", doc.resource.label));
    if let Some(attacker) = doc.attacker.as_ref().map(Attacker::describe).filter(|a| !a.is_empty()) {
        line(format!("Attacker: {attacker}"));
    }
    if let Some(hold) = &doc.hold {
        line(format!("Held: {hold}"));
    }
    let done = doc.steps.iter().filter(|s| s.outcome != Outcome::Failed).count();
    line(format!("Steps: {done} of {} without failure", doc.steps.len()));
    for step in doc.steps.iter().filter(|s| s.outcome == Outcome::Failed) {
        line(format!("FAILED `{}` {}: {}", step.action, step.target, step.text));
    }
    line(format!("Evidence: {}", doc.evidence.uri));
    for link in &doc.links {
        line(format!("{}: {}", link.label, link.url));
    }
    if let Some(truncated) = &doc.truncated {
        line(truncated.note.clone());
    }
    let description = clip_chars(&description, CHATBOT_DESCRIPTION_MAX);
    let mut related = vec![doc.resource.id.clone()];
    related.extend(doc.finding.arn.clone());
    json!({
        "version": "1.0",
        "source": "custom",
        "id": format!("{}-{}", doc.incident_id, match doc.kind { Kind::Page => "page", Kind::Update => "update" }),
        "content": {
            "textType": "client-markdown",
            "title": doc.subject,
            "description": description,
            "nextSteps": doc.next_steps,
            "keywords": [
                doc.finding.severity_label,
                doc.verdict.as_str(),
                doc.playbook,
                doc.account.label().unwrap_or_else(|| "unknown account".to_owned()),
                doc.source,
            ],
        },
        "metadata": {
            "threadId": doc.incident_id,
            "summary": doc.subject,
            "eventType": format!("tourniquet-{}", doc.verdict.as_str()),
            "relatedResources": related,
            "additionalContext": {
                "incident_id": doc.incident_id,
                "verdict": doc.verdict.as_str(),
                "severity": format!("{:.1}", doc.finding.severity),
                "account": doc.account.id.clone().unwrap_or_default(),
                "region": doc.region.clone().unwrap_or_default(),
            },
        },
    })
}

pub(super) fn clip_chars(text: &str, max: usize) -> String {
    let count = text.chars().count();
    if count <= max {
        return text.to_owned();
    }
    let kept: String = text.chars().take(max).collect();
    format!("{kept}... ({} characters left out)", count - max)
}
