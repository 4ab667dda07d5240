//! `{"timeline": "<incident-id>"}`: a person asks for the timeline again (CloudTrail and AWS
//! Config show changes minutes late). The incident's timeline, sweep and configuration
//! history run again as a run of their own,
//! in a new folder of the incident's evidence (`timeline/<seconds>/`): a new object, never
//! an overwrite; then a page says what the read found.

use std::time::{Instant, SystemTime};

use tracing::Instrument;

use super::{Responder, incident_span};
use crate::error::Error;
use crate::execute::Budget;
use crate::ledger::{History, Stored};
use crate::names::evidence;
use crate::plan::{Plan, PlannedStep, Step};
use crate::report::Report;

impl Responder {
    /// Reads the incident's timeline (and configuration history) again and sweeps again, with
    /// the guards of its plan.
    pub(super) async fn reread(&self, incident_id: &str, budget: Budget, received: Instant) -> Result<Report, Error> {
        let refuse = |reason: &str| Error::NoTimeline {
            incident_id: incident_id.to_owned(),
            reason: reason.to_owned(),
        };
        let Stored { plan, incident } = self
            .ledger(incident_id)
            .load()
            .await?
            .ok_or_else(|| refuse("no such incident in the evidence bucket"))?;
        self.check_source(incident.source)?;
        if let Some(reason) = Box::pin(self.forbidden_now(&plan)).await? {
            return Err(refuse(&reason));
        }
        let plan = reread_plan(&plan)
            .ok_or_else(|| refuse("its plan reads neither a timeline nor a configuration history"))?;
        let stamp = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let folder = format!("{incident_id}/{}{stamp}", evidence::TIMELINE_REREADS);
        let ledger = self.ledger(&folder);
        let acting = self.acting_for(&plan).await;
        let alias = self.alias(&incident, &acting).await;
        let run = crate::execute::Run {
            // A fresh folder: this invocation owns its run.
            owner: true,
            ..self.run(&ledger, &incident, &plan, &acting, (budget, received), alias)
        };
        self.execute(run, History::default())
            .instrument(incident_span(&incident, false))
            .await
    }
}

/// The recorded plan's timeline, sweep and configuration history, then a page; `None` when it
/// reads neither timeline nor history.
fn reread_plan(plan: &Plan) -> Option<Plan> {
    let mut steps: Vec<PlannedStep> = plan
        .steps
        .iter()
        .filter(|s| {
            matches!(
                s.step,
                Step::Timeline { .. } | Step::SweepPersistence { .. } | Step::ConfigHistory { .. }
            )
        })
        .cloned()
        .collect();
    if steps.is_empty() {
        return None;
    }
    steps.push(PlannedStep {
        place: None,
        step: Step::Page,
        reason: "say what the new read of the timeline found".to_owned(),
    });
    Some(Plan {
        steps,
        reason: format!("timeline read again on request; {}", plan.reason),
        ..plan.clone()
    })
}
