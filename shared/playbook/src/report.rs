//! The `Report`: what was done for one incident, step by step; returned, logged and kept.

use serde::{Deserialize, Serialize};

use crate::incident::Source;
use crate::policy::Playbook;

/// How one step ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Outcome {
    /// Done by this invocation.
    Done,
    /// Done earlier (a redelivery, or another invocation); the ledger says so.
    AlreadyDone,
    /// Dry run: reported, not done.
    DryRun,
    /// Waiting for a person's approval (the blast-radius limit).
    Held,
    /// Failed; `error_code` says why.
    Failed,
    /// A conditional step whose condition did not hold (an update page with nothing to
    /// update); not recorded, so a later run decides again.
    NotNeeded,
}

/// What a step leaves for the steps after it, typed, and kept in its record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "output", rename_all = "kebab-case")]
pub enum StepOutput {
    /// A page went out reporting these steps as failed.
    PageSent { failed: Vec<String> },
}

/// One step's result.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StepReport {
    pub index: usize,
    pub action: String,
    pub target: String,
    pub outcome: Outcome,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_code: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    #[serde(default)]
    pub request_ids: Vec<String>,
    #[serde(default)]
    pub detail: serde_json::Value,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output: Option<StepOutput>,
}

impl StepReport {
    /// A step's report before its result is known: done, with nothing more to say.
    #[must_use]
    pub fn new(index: usize, action: &str, target: String) -> Self {
        StepReport {
            index,
            action: action.to_owned(),
            target,
            outcome: Outcome::Done,
            error_code: None,
            message: None,
            request_ids: Vec::new(),
            detail: serde_json::Value::Null,
            output: None,
        }
    }

    /// Whether the step's effect is in place (done now or before, or not needed).
    #[must_use]
    pub fn succeeded(&self) -> bool {
        matches!(self.outcome, Outcome::Done | Outcome::AlreadyDone | Outcome::NotNeeded)
    }

    /// Whether this run put the step's effect in place, or found it not needed: a run that
    /// had nothing left from an earlier one answers true for every step.
    #[must_use]
    pub fn done_now(&self) -> bool {
        matches!(self.outcome, Outcome::Done | Outcome::NotNeeded)
    }

    /// The outcome as a person reads it in a page.
    #[must_use]
    pub fn outcome_text(&self) -> String {
        match self.outcome {
            Outcome::Done => "done".to_owned(),
            Outcome::AlreadyDone => "done (earlier)".to_owned(),
            Outcome::DryRun => match self.detail.get("probe").and_then(|p| p.as_str()) {
                Some(probe) => format!("dry run: not done ({probe})"),
                None => "dry run: not done".to_owned(),
            },
            Outcome::Held => "held for approval".to_owned(),
            Outcome::NotNeeded => match &self.message {
                Some(reason) => format!("not done: {reason}"),
                None => "not needed".to_owned(),
            },
            Outcome::Failed => format!(
                "FAILED {}: {}",
                self.error_code.as_deref().unwrap_or("Unknown"),
                self.message.as_deref().unwrap_or("")
            ),
        }
    }
}

/// An object written to the evidence bucket, with its SHA-256.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EvidenceObject {
    pub key: String,
    pub sha256: String,
}

/// The whole response to one incident.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Report {
    pub incident_id: String,
    pub source: Source,
    pub finding_id: String,
    pub finding_type: String,
    pub severity: f64,
    pub resource: String,
    pub summary: String,
    pub playbook: Playbook,
    pub dry_run: bool,
    pub reason: String,
    /// `s3://bucket/incidents/<id>/`.
    pub evidence: String,
    /// Where the steps observed and acted (account, region, member role); `None`: the home
    /// account and region.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub place: Option<crate::place::Place>,
    /// The member role session that acted (`arn:...:assumed-role/<role>/<session>`, as the
    /// member account's CloudTrail shows it); `None`: the function's own role.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub acted_as: Option<String>,
    pub steps: Vec<StepReport>,
    /// Evidence objects known for this incident and their SHA-256.
    pub objects: Vec<EvidenceObject>,
    /// Ledger writes that failed after their step succeeded (the step may run again), each
    /// with its causes.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ledger_errors: Vec<String>,
    /// Milliseconds from the event's arrival to the end of the last step that changed the
    /// account (containment done), when this invocation changed it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub contained_after_ms: Option<u64>,
    /// Why the run stopped before the last step (the deadline was near), if it did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interrupted: Option<String>,
}

impl Report {
    /// The steps that failed.
    pub fn failures(&self) -> impl Iterator<Item = &StepReport> {
        self.steps.iter().filter(|s| s.outcome == Outcome::Failed)
    }

    /// Everything planned is in place (or reported, under dry run) and recorded.
    #[must_use]
    pub fn is_complete(&self) -> bool {
        self.failures().next().is_none() && self.ledger_errors.is_empty() && self.interrupted.is_none()
    }
}
