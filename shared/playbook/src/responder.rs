//! The responder: one event in, one report out, through intake, observe, plan and execute.

use std::time::SystemTime;

use serde_json::Value;
use tracing::Instrument;

use crate::actions::{AwsError, ec2, iam};
use crate::clients::Clients;
use crate::error::Error;
use crate::execute::Run;
use crate::incident::{Incident, Resource};
use crate::intake;
use crate::ledger::{Created, Ledger};
use crate::observation::Observation;
use crate::plan::{Plan, plan};
use crate::policy::{Playbook, Policy, Routing};
use crate::report::Report;
use crate::settings::Settings;

/// Built once per cold start; handles every event of the process's life.
#[derive(Debug, Clone)]
pub struct Responder {
    clients: Clients,
    settings: Settings,
    policy: Policy,
}

impl Responder {
    /// Checks the policy and learns the responder's own identity (never acted on); fails the
    /// cold start, by name, if either cannot be had.
    pub async fn new(clients: Clients, settings: Settings) -> Result<Self, Error> {
        let identity = clients
            .sts
            .get_caller_identity()
            .send()
            .await
            .map_err(|e| Error::Identity(AwsError::from_sdk("GetCallerIdentity", &e)))?;
        let policy = Policy::new(&settings)?.with_own_arn(identity.arn().map(ToOwned::to_owned));
        Ok(Responder {
            clients,
            settings,
            policy,
        })
    }

    /// Settings from the environment and clients from the default AWS configuration.
    pub async fn from_env() -> Result<Self, Error> {
        let settings = Settings::from_env()?;
        Self::new(Clients::from_env().await, settings).await
    }

    #[must_use]
    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// Handles one event. Errors are returned to Lambda: a bad event is not retried with
    /// hope; an incomplete response is retried and resumes where it stopped.
    pub async fn handle(&self, event: Value) -> Result<Report, Error> {
        let incident = intake::parse(&event).inspect_err(|err| tracing::error!(error = %err, "event refused"))?;
        let span = tracing::info_span!(
            "incident",
            incident_id = incident.id,
            finding_type = incident.finding_type,
            severity = incident.severity
        );
        self.respond(&incident).instrument(span).await
    }

    async fn respond(&self, incident: &Incident) -> Result<Report, Error> {
        let ledger = Ledger::new(self.clients.s3.clone(), &self.settings.evidence_bucket, &incident.id);
        let history = ledger.history().await.map_err(Error::Ledger)?;
        let plan = match &history.plan {
            Some(plan) => {
                tracing::info!(steps_done = history.steps.len(), "resuming the recorded plan");
                plan.clone()
            }
            None => self.new_plan(incident, &ledger).await?,
        };
        tracing::info!(
            playbook = plan.playbook.as_str(),
            dry_run = plan.dry_run,
            reason = plan.reason,
            "plan"
        );
        let run = Run {
            clients: &self.clients,
            topic_arn: &self.settings.topic_arn,
            ledger: &ledger,
            incident,
            plan: &plan,
        };
        let report = run.execute(history).await;
        let body = serde_json::to_vec_pretty(&report).unwrap_or_default();
        let mut report = report;
        match ledger.overwrite("report.json", body).await {
            Ok(object) => report.objects.push(object),
            Err(err) => report.ledger_errors.push(err),
        }
        if report.is_complete() {
            tracing::info!(steps = report.steps.len(), "incident handled");
            Ok(report)
        } else {
            let err = Error::Incomplete(Box::new(report));
            tracing::error!(error = %err, "incident incomplete");
            Err(err)
        }
    }

    /// Observes, plans, and records the plan; if another invocation recorded one first,
    /// follows theirs, so every delivery of an incident runs the same plan.
    async fn new_plan(&self, incident: &Incident, ledger: &Ledger) -> Result<Plan, Error> {
        let observation = self.observe(incident).await;
        let plan = plan(incident, &observation, &self.policy, SystemTime::now());
        let body = serde_json::to_vec_pretty(&plan).unwrap_or_default();
        match ledger.create("plan.json", body).await.map_err(Error::Ledger)? {
            Created::Written(_) => Ok(plan),
            Created::Exists => {
                let bytes = ledger
                    .read("plan.json")
                    .await
                    .map_err(Error::Ledger)?
                    .unwrap_or_default();
                serde_json::from_slice(&bytes).map_err(|e| {
                    Error::Ledger(AwsError::check(
                        "GetObject",
                        "CorruptLedgerRecord",
                        format!("plan.json: {e}"),
                    ))
                })
            }
        }
    }

    /// Reads what the plan needs to know about the resource, only when a playbook will act.
    async fn observe(&self, incident: &Incident) -> Observation {
        let Routing::Act { playbook, .. } = self.policy.route(incident) else {
            return Observation::NotNeeded;
        };
        match (playbook, &incident.resource) {
            (Playbook::Ec2Compromise, Resource::Instance { instance_id }) => {
                ec2::observe_instance(&self.clients.ec2, instance_id).await
            }
            (
                Playbook::CredentialCompromise,
                Resource::AccessKey {
                    user_type: Some(user_type),
                    user_name: Some(name),
                    access_key_id,
                    ..
                },
            ) => match user_type.as_str() {
                "IAMUser" => iam::observe_user(&self.clients.iam, name, access_key_id.as_deref()).await,
                "AssumedRole" => iam::observe_role(&self.clients.iam, name).await,
                _ => Observation::NotNeeded,
            },
            _ => Observation::NotNeeded,
        }
    }
}
