//! The crate's one error type, and how Lambda sees it.

use lambda_runtime::Diagnostic;
use thiserror::Error;

use crate::telemetry::chain;

use crate::actions::AwsError;
use crate::intake::IntakeError;
use crate::ledger::LedgerError;
use crate::policy::PolicyError;
use crate::report::Report;
use crate::settings::SettingsError;

/// Why an invocation did not complete.
#[derive(Debug, Error)]
pub enum Error {
    /// The event is not one Tourniquet can read. Retrying will not help; the event goes to
    /// the dead-letter queue for a person.
    #[error("bad event")]
    Intake(#[from] IntakeError),
    #[error("bad configuration")]
    Settings(#[from] SettingsError),
    #[error("bad policy")]
    Policy(#[from] PolicyError),
    /// The responder could not learn its own identity, so it could not protect itself.
    #[error("own identity unknown")]
    Identity(#[source] AwsError),
    /// An approval names an incident that cannot be approved.
    #[error("cannot approve incident {incident_id}: {reason}")]
    NotApprovable { incident_id: String, reason: String },
    /// A timeline request names an incident without a timeline to read again.
    #[error("cannot read the timeline of incident {incident_id} again: {reason}")]
    NoTimeline { incident_id: String, reason: String },
    /// A release names an instance or principal Tourniquet did not contain, or one that
    /// changed since.
    #[error("cannot release {subject}: {reason}")]
    NotQuarantined { subject: String, reason: String },
    /// A release could not look at the instance or principal.
    #[error("release could not read what it would release")]
    Release(#[source] AwsError),
    /// The evidence bucket could not be read or written; nothing was changed.
    #[error("evidence ledger unavailable")]
    Ledger(#[from] LedgerError),
    /// Another invocation is running this incident's plan and has not reported yet; a retry
    /// follows its record.
    #[error("incident {incident_id} is being handled by another invocation; retry later")]
    InProgress { incident_id: String },
    /// The member role of the incident's account could not be assumed: a page says so and
    /// nothing was changed; a retry acts once the role can be assumed.
    #[error("the member role {role_arn} could not be assumed in account {account}; nothing was changed")]
    RoleRefused {
        account: String,
        role_arn: String,
        report: Box<Report>,
    },
    /// The resource could not be described (throttled past the SDK's retries, a 5xx, a
    /// denial in one region): a page says so, nothing is decided or changed, and the retry
    /// looks again and plans from what it sees.
    #[error("{resource} could not be described ({code}: {message}); nothing was decided, a retry looks again")]
    Unobserved {
        resource: String,
        code: String,
        message: String,
        report: Box<Report>,
    },
    /// Some steps failed (or could not be recorded); the rest ran. A retry resumes.
    #[error("incident {}: {}", .0.incident_id, incomplete_summary(.0))]
    Incomplete(Box<Report>),
    /// Some findings of a Security Hub event were not handled (each answer says why); the
    /// others were. A retry finds the handled ones done and changes nothing there.
    #[error("{}", .0.summary())]
    Findings(Box<crate::response::Findings>),
}

fn incomplete_summary(report: &Report) -> String {
    let failed: Vec<String> = report
        .failures()
        .map(|s| format!("{} ({})", s.action, s.error_code.as_deref().unwrap_or("Unknown")))
        .collect();
    let mut parts = Vec::new();
    if !failed.is_empty() {
        parts.push(format!(
            "{} of {} steps failed: {}",
            failed.len(),
            report.steps.len(),
            failed.join(", ")
        ));
    }
    if !report.ledger_errors.is_empty() {
        parts.push(format!("{} ledger write(s) failed", report.ledger_errors.len()));
    }
    if let Some(reason) = &report.interrupted {
        parts.push(format!("{reason}; a retry resumes there"));
    }
    parts.join("; ")
}

impl Error {
    /// Whether a retry of the same event can succeed.
    #[must_use]
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            Error::Ledger(_)
                | Error::Incomplete(_)
                | Error::Identity(_)
                | Error::Release(_)
                | Error::InProgress { .. }
                | Error::RoleRefused { .. }
                | Error::Unobserved { .. }
        ) || matches!(self, Error::Findings(findings) if findings.retryable())
    }

    fn kind(&self) -> &'static str {
        match self {
            Error::Intake(_) => "BadEvent",
            Error::Settings(_) => "BadConfiguration",
            Error::Policy(_) => "BadPolicy",
            Error::Identity(_) => "IdentityUnknown",
            Error::NotApprovable { .. } => "NotApprovable",
            Error::NotQuarantined { .. } => "NotQuarantined",
            Error::NoTimeline { .. } => "NoTimeline",
            Error::Release(_) => "ReleaseFailed",
            Error::Ledger(_) => "LedgerUnavailable",
            Error::InProgress { .. } => "InProgress",
            Error::Incomplete(_) => "Incomplete",
            Error::RoleRefused { .. } => "MemberRoleRefused",
            Error::Unobserved { .. } => "Unobserved",
            Error::Findings(_) => "FindingsIncomplete",
        }
    }
}

impl From<Error> for Diagnostic {
    fn from(err: Error) -> Self {
        let retry = if err.is_retryable() {
            "Retryable"
        } else {
            "NotRetryable"
        };
        Diagnostic {
            error_type: format!("Tourniquet.{}.{retry}", err.kind()),
            error_message: chain(&err),
        }
    }
}
