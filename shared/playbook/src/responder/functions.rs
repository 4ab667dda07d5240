//! The release of a throttled Lambda function: checked against its incident and drift, planned once.

use std::time::{Instant, SystemTime};

use serde_json::Value;
use tracing::Instrument;

use super::Responder;
use crate::actions::lambda;
use crate::error::Error;
use crate::execute::Budget;
use crate::function_release::{self, FunctionReleaseRequest};
use crate::ledger::{RunKind, Stored};
use crate::plan;
use crate::report::Report;

impl Responder {
    /// Releases a function Tourniquet throttled: its reserved concurrency as recorded (or
    /// none), the role's deny removed; records it and pages. Refuses a function its incident
    /// did not throttle, or one that changed since (unless forced). Never deletes the version
    /// kept as evidence.
    pub(super) async fn release_function(&self, request: &Value, budget: Budget) -> Result<Report, Error> {
        let request = FunctionReleaseRequest::parse(request)?;
        let span = tracing::info_span!("release", function_name = request.function_name);
        self.release_throttled(&request, budget).instrument(span).await
    }

    async fn release_throttled(&self, request: &FunctionReleaseRequest, budget: Budget) -> Result<Report, Error> {
        let ledger = self.ledger(&request.incident_id);
        let (Stored { plan, incident }, before) = function_release::throttled(ledger.load().await?, request)?;
        let acting = self.acting_for(&plan).await;
        let (throttled, alias) = tokio::join!(ledger.done("throttle-function"), self.alias(&incident, &acting));
        if !throttled? {
            return Err(request.refuse(&format!("incident {} never throttled it", request.incident_id)));
        }
        let ledger = ledger.for_run(RunKind::Release);
        let history = ledger.history().await?;
        let (release, owner) = if let Some(kept) = history.plan.clone() {
            (kept, false)
        } else {
            let now =
                lambda::observe_function(&acting.clients.lambda, &acting.clients.iam, &request.function_name).await;
            let changes = function_release::drift(&before, &now);
            if !changes.is_empty() && !request.force {
                return Err(request.refuse(&format!(
                    "it changed since the throttle: {}; check these, then release with \"force\": true",
                    changes.join("; ")
                )));
            }
            let mut release = plan::plan_function_release(&plan, &before, SystemTime::now());
            if !changes.is_empty() {
                release.reason = format!(
                    "{}; FORCED by the request despite changes since the throttle: {}",
                    release.reason,
                    changes.join("; ")
                );
            }
            ledger.plan_once(release).await?
        };
        let run = crate::execute::Run {
            owner,
            ..self.run(&ledger, &incident, &release, &acting, (budget, Instant::now()), alias)
        };
        self.execute(run, history).await
    }
}
