//! A Security Hub event: each finding its own incident, one answer each.

use std::time::Instant;

use tracing::Instrument;

use super::{Responder, incident_span};
use crate::error::Error;
use crate::execute::Budget;
use crate::intake::{Intake, IntakeError};
use crate::response::{Answer, Findings, Response};

impl Responder {
    /// A Security Hub event's findings, one after the other, each its own incident: a
    /// finding that cannot be read or handled does not stop the others. The invocation
    /// errors if any was not handled, so that Lambda retries (the handled ones are done).
    pub(super) async fn findings(
        &self,
        findings: Vec<Result<Intake, IntakeError>>,
        budget: Budget,
        received: Instant,
    ) -> Result<Response, Error> {
        let mut answers = Vec::with_capacity(findings.len());
        for finding in findings {
            let answer = match finding {
                Err(err) => {
                    tracing::error!(error = %err, "finding refused");
                    Err(err.into())
                }
                Ok(Intake::Ignored(ignored)) => self.check_source(ignored.source).map(|()| {
                    tracing::info!(reason = ignored.ignored, "finding ignored");
                    Response::Ignored(ignored)
                }),
                Ok(Intake::Incident(incident)) => {
                    if let Err(err) = self.check_source(incident.source) {
                        Err(err)
                    } else {
                        let span = incident_span(&incident, false);
                        Box::pin(self.respond(&incident, budget, received).instrument(span))
                            .await
                            .map(|report| Response::Report(Box::new(report)))
                    }
                }
                Ok(Intake::Approve { .. } | Intake::Findings(_) | Intake::Timeline { .. }) => {
                    Err(IntakeError::Invalid {
                        path: "detail.findings".to_owned(),
                        reason: "a finding is neither an approval nor a list of findings".to_owned(),
                    }
                    .into())
                }
            };
            answers.push(Answer::from_result(answer));
        }
        let findings = Findings { findings: answers };
        if findings.failed().next().is_some() {
            let err = Error::Findings(Box::new(findings));
            tracing::error!(error = %err, "findings incomplete");
            return Err(err);
        }
        Ok(Response::Findings(findings))
    }
}

impl Answer {
    pub(super) fn from_result(result: Result<Response, Error>) -> Self {
        match result {
            Ok(Response::Report(report)) => Answer::Report(report),
            Ok(Response::Ignored(ignored)) => Answer::Ignored(ignored),
            Ok(Response::Findings(_)) => Answer::Failed {
                error: "a finding held findings".to_owned(),
                retryable: false,
                report: None,
            },
            Err(err) => Answer::Failed {
                error: crate::telemetry::chain(&err),
                retryable: err.is_retryable(),
                report: match err {
                    Error::Incomplete(report)
                    | Error::RoleRefused { report, .. }
                    | Error::Unobserved { report, .. } => Some(report),
                    _ => None,
                },
            },
        }
    }
}
