//! An approval: a person runs the plan the blast-radius limit held, once.

use std::time::Instant;

use tracing::Instrument;

use super::{Responder, incident_span};
use crate::error::Error;
use crate::execute::{Budget, Run};
use crate::ledger::{Approval, Created, RunKind, Stored};
use crate::names::evidence;
use crate::report::Report;

impl Responder {
    /// A person's approval of a held incident: checks it was held, records the approval
    /// (once: the first approval owns the approved run, a second one resumes it), and runs
    /// the recorded plan in full.
    pub(super) async fn approve(&self, incident_id: &str, budget: Budget, received: Instant) -> Result<Report, Error> {
        let refuse = |reason: &str| Error::NotApprovable {
            incident_id: incident_id.to_owned(),
            reason: reason.to_owned(),
        };
        let ledger = self.ledger(incident_id);
        let Stored { plan, incident } = ledger
            .load()
            .await?
            .ok_or_else(|| refuse("no such incident in the evidence bucket"))?;
        if plan.hold.is_none() {
            return Err(refuse("it was not held; there is nothing to approve"));
        }
        self.check_source(incident.source)?;
        if let Some(reason) = Box::pin(self.forbidden_now(&plan)).await? {
            return Err(refuse(&reason));
        }
        let approval = Approval::now(incident_id, budget.deadline);
        let acting = self.acting_for(&plan).await;
        let (created, alias) = tokio::join!(
            ledger.create_json(evidence::APPROVAL, &approval),
            self.alias(&incident, &acting)
        );
        let owner = matches!(created?, Created::Written(_));
        tracing::info!(incident_id, first = owner, "approval recorded");
        let approved = ledger.for_run(RunKind::Approved);
        let mut history = approved.history().await?;
        // A second approval (a person pressing twice, the CLI invoking again on a read
        // timeout) never runs beside the first: it waits for the first's report and follows
        // it, or fails so that it is retried once the first has ended.
        if !owner && !history.reported && ledger.approval().await?.is_none_or(|a| a.may_be_running()) {
            tracing::info!(
                incident_id,
                "another invocation is running the approved plan; waiting for its report"
            );
            if !approved.wait_for_report().await? {
                return Err(Error::InProgress {
                    incident_id: incident_id.to_owned(),
                });
            }
            history = approved.history().await?;
        }
        let ledger = approved;
        let run = Run {
            owner,
            approved: true,
            ..self.run(&ledger, &incident, &plan, &acting, (budget, received), alias)
        };
        self.execute(run, history)
            .instrument(incident_span(&incident, true))
            .await
    }
}
