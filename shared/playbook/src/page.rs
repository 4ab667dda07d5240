//! The page a person on call receives: a short subject and a plain body they can act on.

use crate::incident::{Incident, Resource};
use crate::plan::Plan;
use crate::policy::Playbook;
use crate::report::{Outcome, StepReport};

/// SNS subjects must be ASCII, on one line, under 100 characters.
const SUBJECT_MAX: usize = 99;

/// A composed page.
#[derive(Debug, Clone, PartialEq)]
pub struct Page {
    pub subject: String,
    pub body: String,
    pub severity: f64,
    pub incident_id: String,
    pub finding_type: String,
    /// The steps the page reports as failed (kept in its record: a retry that completes them
    /// sends one update).
    pub failed: Vec<String>,
}

/// Composes the page from the incident, its plan and the steps before the page.
#[must_use]
pub fn compose(incident: &Incident, plan: &Plan, steps: &[StepReport], evidence: &str, approved: bool) -> Page {
    compose_follow_up(incident, plan, steps, evidence, approved, &[])
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
) -> Page {
    let failed: Vec<String> = steps
        .iter()
        .filter(|s| s.outcome == Outcome::Failed)
        .map(|s| s.action.clone())
        .collect();
    let held = plan.hold.is_some() && !approved && !plan.dry_run;
    let verdict = if !failed.is_empty() {
        format!("{} step(s) FAILED", failed.len())
    } else if plan.dry_run && plan.playbook != Playbook::PageOnly {
        "dry run, nothing changed".to_owned()
    } else if held {
        "HELD for approval".to_owned()
    } else {
        match plan.playbook {
            Playbook::Ec2Compromise => "isolated".to_owned(),
            Playbook::CredentialCompromise => "credentials revoked".to_owned(),
            Playbook::CloseOpenPorts => "open rules revoked".to_owned(),
            Playbook::BlockPublicBucket => "public access blocked".to_owned(),
            Playbook::EncryptBucket => "encryption on".to_owned(),
            Playbook::DeactivateStaleKeys => "stale keys deactivated".to_owned(),
            Playbook::Release => "released from quarantine".to_owned(),
            Playbook::PageOnly if plan.critical => "ACT NOW".to_owned(),
            Playbook::PageOnly => "no action".to_owned(),
        }
    };
    let verdict = if earlier_failed.is_empty() {
        verdict
    } else {
        format!("{verdict}, done on retry")
    };
    let label = if plan.critical {
        "CRITICAL"
    } else {
        incident.severity_label()
    };
    // An alarm's name is already in its finding type: do not say it twice.
    let resource = incident.resource.short_label();
    let named_already = matches!(&incident.resource, Resource::Other { name: Some(name), .. } if incident.finding_type.contains(name.as_str()));
    let tail = if named_already {
        format!(": {verdict}")
    } else {
        format!(": {resource} {verdict}")
    };
    let subject = subject(
        &format!("[{label} {:.1}] ", incident.severity),
        &incident.finding_type,
        &tail,
    );

    let mut body = body(incident, plan, steps, evidence, approved, failed.len());
    if !earlier_failed.is_empty() {
        body.insert_str(
            0,
            &format!(
                "UPDATE: an earlier page for this incident reported failed steps ({}); a retry has now \
                 completed every step.\n\n",
                earlier_failed.join(", ")
            ),
        );
    }
    Page {
        subject,
        body,
        severity: incident.severity,
        incident_id: incident.id.clone(),
        finding_type: incident.finding_type.clone(),
        failed,
    }
}

/// The page's text: what was found, where, each step and its outcome, the evidence, what next.
fn body(
    incident: &Incident,
    plan: &Plan,
    steps: &[StepReport],
    evidence: &str,
    approved: bool,
    failed: usize,
) -> String {
    let held = plan.hold.is_some() && !approved && !plan.dry_run;
    let label = if plan.critical {
        "CRITICAL"
    } else {
        incident.severity_label()
    };
    let mut body = String::new();
    let mut line = |text: String| {
        body.push_str(&text);
        body.push('\n');
    };
    line(format!(
        "Tourniquet responded to a {label} severity finding ({:.1}).",
        incident.severity
    ));
    if plan.dry_run {
        line("DRY RUN: nothing in the account was changed; the steps below are what would be done.".to_owned());
    }
    if let Some(reason) = &plan.hold {
        if plan.dry_run {
            line(format!(
                "Outside dry run this would be held for a person's approval: {reason}."
            ));
        } else if approved {
            line(format!("Approved by a person after it was held: {reason}."));
        } else {
            line(format!("HELD: {reason}. Nothing was changed."));
            line(format!(
                "To approve, invoke {} with {{\"approve\": \"{}\"}}; the held plan then runs, once.",
                incident.source.function(),
                incident.id
            ));
        }
    }
    line(String::new());
    line(format!("Finding:  {}", incident.finding_type));
    line(format!("Summary:  {}", incident.summary));
    line(format!(
        "Where:    account {}, region {}",
        incident.account.as_deref().unwrap_or("unknown"),
        incident.region.as_deref().unwrap_or("unknown")
    ));
    line(format!("Resource: {}", incident.resource.label()));
    line(format!("Incident: {} (finding {})", incident.id, incident.finding_id));
    line(format!("Playbook: {}: {}", plan.playbook.as_str(), plan.reason));
    if !incident.details.is_empty() {
        line(String::new());
        line("Details:".to_owned());
        for (key, value) in &incident.details {
            line(format!("  {key}: {value}"));
        }
    }
    line(String::new());
    line("Steps:".to_owned());
    for step in steps {
        line(format!(
            "  {}. {} {}: {}",
            step.index + 1,
            step.action,
            step.target,
            step.outcome_text()
        ));
    }
    line(String::new());
    line(format!("Evidence: {evidence}"));
    if plan.playbook == Playbook::Ec2Compromise && !plan.dry_run && !held {
        line(format!(
            "Release:  the groups each interface had, its Elastic IPs and termination protection are in {evidence}plan.json (observation); restore them once the instance is cleared."
        ));
    }
    if failed > 0 {
        line(
            "The invocation returns an error, so Lambda retries the failed steps; finished steps are not redone."
                .to_owned(),
        );
    }
    body
}

/// One ASCII line within SNS's limit: the finding type is shortened first, so the resource
/// and what was done always show.
fn subject(head: &str, finding_type: &str, tail: &str) -> String {
    let ascii = |text: &str| -> String {
        text.chars()
            .map(|c| if c.is_ascii() && !c.is_ascii_control() { c } else { '?' })
            .collect()
    };
    let (head, mut middle, tail) = (ascii(head), ascii(finding_type), ascii(tail));
    let room = SUBJECT_MAX.saturating_sub(head.len() + tail.len());
    if middle.len() > room {
        middle.truncate(room.saturating_sub(3));
        middle.push_str("...");
    }
    let mut line = format!("{head}{middle}{tail}");
    line.truncate(SUBJECT_MAX);
    line
}

#[cfg(test)]
mod tests {
    use super::*;

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
