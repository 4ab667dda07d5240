//! What an invocation answers: an incident's report, why the event needed nothing, or one answer per Security Hub finding.

use serde::Serialize;

use crate::intake::Ignored;
use crate::report::Report;

/// What an invocation answers: the report of an incident, or why the event needed nothing.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum Response {
    Report(Box<Report>),
    Ignored(Ignored),
    /// A Security Hub event: one answer per finding, in the event's order.
    Findings(Findings),
}

/// The answers to a Security Hub event's findings: each its own incident.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Findings {
    pub findings: Vec<Answer>,
}

/// What became of one finding of a Security Hub event.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum Answer {
    Report(Box<Report>),
    Ignored(Ignored),
    /// Not handled: the error, whether a retry may help, and the report of what was done.
    Failed {
        error: String,
        retryable: bool,
        #[serde(skip_serializing_if = "Option::is_none")]
        report: Option<Box<Report>>,
    },
}

impl Findings {
    /// The reports of the findings that were incidents (handled or not), in order.
    pub fn reports(&self) -> impl Iterator<Item = &Report> {
        self.findings.iter().filter_map(|a| match a {
            Answer::Report(report) => Some(&**report),
            Answer::Failed { report, .. } => report.as_deref(),
            Answer::Ignored(_) => None,
        })
    }

    pub(crate) fn failed(&self) -> impl Iterator<Item = (usize, &str, bool)> {
        self.findings.iter().enumerate().filter_map(|(i, a)| match a {
            Answer::Failed { error, retryable, .. } => Some((i, error.as_str(), *retryable)),
            _ => None,
        })
    }

    /// Whether a retry may handle what was not.
    #[must_use]
    pub fn retryable(&self) -> bool {
        self.failed().any(|(_, _, retryable)| retryable)
    }

    /// `2 of 3 findings not handled: finding 0: ...; finding 2: ...`.
    #[must_use]
    pub fn summary(&self) -> String {
        let failed: Vec<String> = self.failed().map(|(i, e, _)| format!("finding {i}: {e}")).collect();
        format!(
            "{} of {} findings not handled: {}",
            failed.len(),
            self.findings.len(),
            failed.join("; ")
        )
    }
}

impl Response {
    /// The report, if the event was an incident.
    #[must_use]
    pub fn report(self) -> Option<Report> {
        match self {
            Response::Report(report) => Some(*report),
            Response::Ignored(_) | Response::Findings(_) => None,
        }
    }
}
