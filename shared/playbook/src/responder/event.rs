//! A new event's incident: route it, observe exactly what the target names, plan, and run; or follow the plan already recorded for it.

use std::sync::PoisonError;
use std::time::{Instant, SystemTime};

use super::Responder;
use crate::actions::account;
use crate::clients::Acting;
use crate::error::Error;
use crate::execute::{Budget, Run};
use crate::incident::Incident;
use crate::ledger::{History, Ledger};
use crate::names::evidence;
use crate::observation::Observation;
use crate::plan::{self, Plan};
use crate::report::Report;
use crate::target::{Target, target};

impl Responder {
    /// Routes, observes and plans a new incident, or follows the plan already recorded for it.
    pub(super) async fn respond(
        &self,
        incident: &Incident,
        budget: Budget,
        received: Instant,
    ) -> Result<Report, Error> {
        let policy = self.policy().await?;
        // A Security Hub custom action is a person's decision: its own policy.
        let policy = &*crate::target::policy_for(incident, policy);
        let target = target(incident, policy);
        // A dry run keeps its own record, so the same event acts for real once dry run is off.
        let folder = if policy.dry_run || target.dry_run_account() {
            format!("{}-dry-run", incident.id)
        } else {
            incident.id.clone()
        };
        let ledger = self.ledger(&folder);
        let acting = match target.place() {
            Some(place) => self.places.at(place).await,
            None => self.places.at_home(),
        };
        // The ledger is read while the resource is described: one round trip, not two. A
        // redelivery, which finds its plan in the ledger, leaves the observation unused.
        // The account's alias for the page is read in the same round trip (once per process).
        let (history, observation, alias) = tokio::join!(
            ledger.history(),
            self.observe(&target, &acting),
            self.alias(incident, &acting)
        );
        let history = history?;
        // A refusal or a failed describe, of the resource or of one member of a sequence: not
        // a decision. Paged once (recorded apart, from the refusal alone: nothing acts), and
        // retried; the plan is made only from a complete observation.
        if history.plan.is_none()
            && let Some(refusal @ Observation::RoleRefused { account, role_arn, .. }) = observation.role_refused()
        {
            // Boxed, as rare: the common path's future stays small.
            return Box::pin(self.refused(
                incident,
                &target,
                refusal,
                &format!("{folder}-role-refused"),
                (budget, received),
            ))
            .await
            .and_then(|report| {
                Err(Error::RoleRefused {
                    account: account.clone(),
                    role_arn: role_arn.clone(),
                    report: Box::new(report),
                })
            });
        }
        if history.plan.is_none()
            && let Some((code, message)) = observation.unobserved()
        {
            let (code, message) = (code.to_owned(), message.to_owned());
            let unavailable = Observation::Unavailable {
                code: code.clone(),
                message: message.clone(),
            };
            return Box::pin(self.refused(
                incident,
                &target,
                &unavailable,
                &format!("{folder}-unobserved"),
                (budget, received),
            ))
            .await
            .and_then(|report| {
                Err(Error::Unobserved {
                    resource: incident.resource.label(),
                    code,
                    message,
                    report: Box::new(report),
                })
            });
        }
        let (plan, owner, history) = match history.plan.clone() {
            Some(_) if history.maybe_running(SystemTime::now()) => self.after_owner(&ledger, &incident.id).await?,
            Some(plan) => (plan, false, history),
            None => {
                let fresh = plan::plan(incident, &target, &observation, policy, SystemTime::now());
                match ledger.plan_once(fresh, budget.deadline).await? {
                    (plan, true) => (plan, true, history),
                    (_, false) => self.after_owner(&ledger, &incident.id).await?,
                }
            }
        };
        let acting = self.acting_for(&plan).await;
        let run = Run {
            owner,
            ..self.run(&ledger, incident, &plan, &acting, (budget, received), alias)
        };
        self.execute(run, history).await
    }

    /// A member role that cannot be assumed, or a resource that could not be described: one
    /// page saying why, recorded apart from the incident's own run (in `twin`, the folder's
    /// `-role-refused` or `-unobserved` twin), so that the retry, once it can look, plans and
    /// acts afresh; a retry that fails the same way finds the page sent and sends no other.
    pub(super) async fn refused(
        &self,
        incident: &Incident,
        target: &Target,
        observation: &Observation,
        twin: &str,
        (budget, received): (Budget, Instant),
    ) -> Result<Report, Error> {
        let policy = self.policy().await?;
        let ledger = self.ledger(twin);
        let history = ledger.history().await?;
        let (plan, owner, history) = if let Some(plan) = history.plan.clone() {
            (plan, false, history)
        } else {
            let fresh = plan::plan(incident, target, observation, policy, SystemTime::now());
            match ledger.plan_once(fresh, budget.deadline).await? {
                (plan, true) => (plan, true, history),
                (_, false) => self.after_owner(&ledger, &incident.id).await?,
            }
        };
        // Nothing acts: a page-only plan runs on the home clients alone.
        let home = self.places.at_home();
        let run = Run {
            owner,
            ..self.run(&ledger, incident, &plan, &home, (budget, received), None)
        };
        self.execute(run, history).await
    }

    /// The clients a recorded plan acts through: its place's (home for a plan that names none).
    pub(super) async fn acting_for(&self, plan: &Plan) -> Acting {
        match &plan.place {
            Some(place) => self.places.at(place).await,
            None => self.places.at_home(),
        }
    }

    /// The alias of the incident's account, for the page: read once per process and account,
    /// through the clients that act there (the member role in a member account). `None` when
    /// there is none or it cannot be read: the page then names the account by its id.
    pub(super) async fn alias(&self, incident: &Incident, acting: &Acting) -> Option<String> {
        let account = incident.account.as_deref()?;
        if let Some(known) = self.aliases.lock().unwrap_or_else(PoisonError::into_inner).get(account) {
            return known.clone();
        }
        // Boxed: an SDK call's future is tens of KiB, and this one sits beside the describes.
        match Box::pin(account::alias(&acting.clients.iam)).await {
            Ok(alias) => {
                self.aliases
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .insert(account.to_owned(), alias.clone());
                alias
            }
            Err(err) => {
                tracing::warn!(error = %err, "account alias not read; the page names the account by its id");
                None
            }
        }
    }

    /// Another invocation owns the run of this incident right now (EventBridge delivers at
    /// least once): waits briefly for its report, then follows the plan for what is left.
    /// If no report comes, the owner may still be running: this delivery fails, so Lambda
    /// retries it later, rather than running beside the owner (a second conversion wave
    /// after the owner's isolation would open the instance again for a moment).
    pub(super) async fn after_owner(&self, ledger: &Ledger, incident_id: &str) -> Result<(Plan, bool, History), Error> {
        tracing::info!("another invocation is handling this incident; waiting for its report");
        if !ledger.wait_for_report().await? {
            return Err(Error::InProgress {
                incident_id: incident_id.to_owned(),
            });
        }
        let history = ledger.history().await?;
        let plan = history
            .plan
            .clone()
            .ok_or_else(|| crate::ledger::LedgerError::Missing {
                name: evidence::PLAN.to_owned(),
            })?;
        Ok((plan, false, history))
    }
}
