//! What Security Hub is told once the response ran: the workflow status and a note with what was done.

use serde::{Deserialize, Serialize};

use crate::incident::Incident;
use crate::plan::Plan;
use crate::policy::Playbook;
use crate::report::StepReport;

/// The workflow status written back to a finding.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Workflow {
    /// A person was told and must still look (a contained compromise, a page, a failure).
    Notified,
    /// The posture fix is complete.
    Resolved,
}

impl Workflow {
    /// ASFF's spelling.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Workflow::Notified => "NOTIFIED",
            Workflow::Resolved => "RESOLVED",
        }
    }

    /// OCSF's `status_id`: 2 (In Progress) or 4 (Resolved).
    #[must_use]
    pub fn ocsf_status_id(self) -> i32 {
        match self {
            Workflow::Notified => 2,
            Workflow::Resolved => 4,
        }
    }
}

/// The longest note Security Hub takes (ASFF `Note.Text`).
pub const NOTE_LIMIT: usize = 512;

/// What to write back once the steps before the write-back ran: RESOLVED only for a posture
/// fix whose every step succeeded, NOTIFIED otherwise; the note says what was done, the
/// incident and where the evidence is.
#[must_use]
pub fn write_back(
    incident: &Incident,
    plan: &Plan,
    before: &[StepReport],
    evidence: &str,
    resolve: bool,
) -> (Workflow, String) {
    let acted: Vec<&StepReport> = before
        .iter()
        .filter(|s| plan.steps.get(s.index).is_some_and(|p| p.step.mutates()))
        .collect();
    let failed: Vec<&str> = acted
        .iter()
        .filter(|s| !s.succeeded())
        .map(|s| s.action.as_str())
        .collect();
    let status = if resolve && failed.is_empty() && !acted.is_empty() {
        Workflow::Resolved
    } else {
        Workflow::Notified
    };
    let done: Vec<&str> = acted
        .iter()
        .filter(|s| s.succeeded())
        .map(|s| s.action.as_str())
        .collect();
    let what = if plan.playbook == Playbook::PageOnly {
        "paged a person, changed nothing".to_owned()
    } else if plan.hold.is_some() && done.is_empty() {
        format!("{}: held for a person's approval", plan.playbook.as_str())
    } else if failed.is_empty() {
        format!("{}: {}", plan.playbook.as_str(), done.join(", "))
    } else {
        format!(
            "{}: done {}; FAILED {}",
            plan.playbook.as_str(),
            if done.is_empty() {
                "nothing".to_owned()
            } else {
                done.join(", ")
            },
            failed.join(", ")
        )
    };
    let note = format!("Tourniquet {}: {what}. Evidence: {evidence}", incident.id);
    (status, truncate(&note, NOTE_LIMIT))
}

/// `text` cut to at most `limit` bytes on a character boundary, ending with `...` when cut.
fn truncate(text: &str, limit: usize) -> String {
    if text.len() <= limit {
        return text.to_owned();
    }
    let mut end = limit.saturating_sub(3);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}...", &text[..end])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notes_are_cut_on_a_character_boundary() {
        let long = "é".repeat(400);
        let cut = truncate(&long, NOTE_LIMIT);
        assert!(cut.len() <= NOTE_LIMIT && cut.ends_with("..."), "{}", cut.len());
        assert_eq!(truncate("short", NOTE_LIMIT), "short");
    }
}
