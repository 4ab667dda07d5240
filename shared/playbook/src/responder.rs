//! The responder: one event in, one report out, through intake, observe, plan and execute.

use std::time::{Instant, SystemTime};

use serde::Serialize;
use serde_json::Value;
use tracing::Instrument;

use crate::actions::{AwsError, ec2, iam, posture};
use crate::clients::Clients;
use crate::error::Error;
use crate::execute::{Budget, Run};
use crate::incident::{Incident, Resource, Source};
use crate::intake::{self, Ignored, Intake, IntakeError};
use crate::ledger::{Created, History, Ledger};
use crate::observation::Observation;
use crate::plan::{Plan, plan};
use crate::policy::{Playbook, Policy, Routing};
use crate::report::Report;
use crate::settings::Settings;

/// What an invocation answers: the report of an incident, or why the event needed nothing.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum Response {
    Report(Box<Report>),
    Ignored(Ignored),
}

impl Response {
    /// The report, if the event was an incident.
    #[must_use]
    pub fn report(self) -> Option<Report> {
        match self {
            Response::Report(report) => Some(*report),
            Response::Ignored(_) => None,
        }
    }
}

/// Built once per cold start; handles every event of the process's life.
#[derive(Debug, Clone)]
pub struct Responder {
    pub(crate) clients: Clients,
    pub(crate) settings: Settings,
    policy: Policy,
    /// The event sources this function answers; others are refused.
    sources: Vec<Source>,
    /// The function's name (`AWS_LAMBDA_FUNCTION_NAME`); metrics are printed only in Lambda.
    function: Option<String>,
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
            sources: vec![Source::GuardDuty, Source::Config, Source::CloudWatch],
            function: std::env::var("AWS_LAMBDA_FUNCTION_NAME").ok(),
        })
    }

    /// Settings from the environment and clients from the default AWS configuration, for a
    /// function that answers events from `sources`.
    pub async fn from_env(sources: &[Source]) -> Result<Self, Error> {
        let settings = Settings::from_env()?;
        Ok(Self::new(Clients::from_env().await, settings).await?.accepting(sources))
    }

    /// The same responder, answering only events from `sources`.
    #[must_use]
    pub fn accepting(mut self, sources: &[Source]) -> Self {
        self.sources = sources.to_vec();
        self
    }

    #[must_use]
    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// Handles one event. Errors are returned to Lambda: a bad event is not retried with
    /// hope; an incomplete response is retried and resumes where it stopped.
    pub async fn handle(&self, event: Value) -> Result<Response, Error> {
        self.handle_within(event, Budget::default()).await
    }

    /// Handles one event, starting no step once `budget` is spent (Lambda's deadline near):
    /// what is done is recorded and the error makes Lambda retry, which resumes there.
    pub async fn handle_within(&self, event: Value, budget: Budget) -> Result<Response, Error> {
        let received = Instant::now();
        let intake = intake::parse(&event).inspect_err(|err| tracing::error!(error = %err, "event refused"))?;
        let (incident, approved) = match intake {
            Intake::Ignored(ignored) => {
                self.check_source(ignored.source)?;
                tracing::info!(
                    source = ignored.source.as_str(),
                    reason = ignored.ignored,
                    "event ignored"
                );
                return Ok(Response::Ignored(ignored));
            }
            Intake::Incident(incident) => (*incident, false),
            Intake::Approve { incident_id } => (self.approve(&incident_id).await?, true),
        };
        self.check_source(incident.source)?;
        let span = tracing::info_span!(
            "incident",
            incident_id = incident.id,
            finding_type = incident.finding_type,
            severity = incident.severity,
            approved
        );
        let report = self
            .respond(&incident, budget, approved, received)
            .instrument(span)
            .await?;
        Ok(Response::Report(Box::new(report)))
    }

    fn check_source(&self, source: Source) -> Result<(), Error> {
        if self.sources.contains(&source) {
            return Ok(());
        }
        let err = IntakeError::WrongFunction {
            event_source: source,
            accepted: self.sources.clone(),
        };
        tracing::error!(error = %err, "event refused");
        Err(err.into())
    }

    /// A person's approval of a held incident: checks it was held, records the approval
    /// (once; a second approval resumes the same run), and gives back the incident from the
    /// event kept in evidence.
    async fn approve(&self, incident_id: &str) -> Result<Incident, Error> {
        let refuse = |reason: &str| Error::NotApprovable {
            incident_id: incident_id.to_owned(),
            reason: reason.to_owned(),
        };
        let ledger = Ledger::new(self.clients.s3.clone(), &self.settings.evidence_bucket, incident_id);
        let plan = ledger.read("plan.json").await.map_err(Error::Ledger)?;
        let plan: Plan =
            serde_json::from_slice(&plan.ok_or_else(|| refuse("no such incident in the evidence bucket"))?)
                .map_err(|_| refuse("its plan.json does not read"))?;
        if plan.hold.is_none() {
            return Err(refuse("it was not held; there is nothing to approve"));
        }
        let event = ledger.read("event.json").await.map_err(Error::Ledger)?;
        let event: Value = serde_json::from_slice(&event.ok_or_else(|| refuse("its event.json is missing"))?)
            .map_err(|_| refuse("its event.json does not read"))?;
        let incident = intake::parse(&event)?
            .incident()
            .ok_or_else(|| refuse("its event is not an incident"))?;
        let approval = serde_json::json!({ "incident_id": incident_id, "approved_at": SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH).map_or(0, |d| d.as_secs()) });
        let created = ledger
            .create(
                "approval.json",
                serde_json::to_vec_pretty(&approval).unwrap_or_default(),
            )
            .await
            .map_err(Error::Ledger)?;
        tracing::info!(
            incident_id,
            first = matches!(created, Created::Written(_)),
            "approval recorded"
        );
        Ok(incident)
    }

    async fn respond(
        &self,
        incident: &Incident,
        budget: Budget,
        approved: bool,
        received: Instant,
    ) -> Result<Report, Error> {
        // A dry run keeps its own record, so the same event acts for real once dry run is off.
        let folder = if self.policy.dry_run {
            format!("{}-dry-run", incident.id)
        } else {
            incident.id.clone()
        };
        let ledger = Ledger::new(self.clients.s3.clone(), &self.settings.evidence_bucket, &folder);
        let ledger = if approved { ledger.approved() } else { ledger };
        // The ledger is read while the resource is described: one round trip, not two. A
        // redelivery, which finds its plan in the ledger, leaves the observation unused; an
        // approval always finds it, so it describes nothing.
        let observing = async {
            if approved {
                Observation::NotNeeded
            } else {
                self.observe(incident).await
            }
        };
        let (history, observation) = tokio::join!(ledger.history(), observing);
        let history = history.map_err(Error::Ledger)?;
        let history = match &history.plan {
            // A person's approval is deliberate and comes long after the held run ended.
            Some(_) if !approved && history.maybe_running(SystemTime::now()) => self.after_other_run(&ledger).await?,
            Some(_) => history,
            None => match self.new_plan(incident, &observation, &ledger).await? {
                Some(plan) => History {
                    plan: Some(plan),
                    ..history
                },
                None => self.after_other_run(&ledger).await?,
            },
        };
        let Some(plan) = history.plan.clone() else {
            return Err(Error::Ledger(AwsError::check(
                "GetObject",
                "CorruptLedgerRecord",
                "plan.json vanished".to_owned(),
            )));
        };
        if !history.steps.is_empty() {
            tracing::info!(steps_done = history.steps.len(), "resuming the recorded plan");
        }
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
            budget,
            approved,
            received,
        };
        let report = run.execute(history).await;
        self.finish(&ledger, report).await
    }

    /// Another invocation is handling the same incident right now (EventBridge delivers at
    /// least once): waits briefly for its report, then reads what it did, so that this run
    /// does only what is left instead of racing it (a second conversion wave after the first
    /// run's isolation would open the instance again for a moment).
    async fn after_other_run(&self, ledger: &Ledger) -> Result<History, Error> {
        tracing::info!("another invocation is handling this incident; waiting for its report");
        if !ledger.wait_for_report().await.map_err(Error::Ledger)? {
            tracing::warn!("no report came; resuming its plan");
        }
        ledger.history().await.map_err(Error::Ledger)
    }

    /// Keeps the report in the evidence bucket and answers: the report, or the error that
    /// makes Lambda retry.
    pub(crate) async fn finish(&self, ledger: &Ledger, mut report: Report) -> Result<Report, Error> {
        let body = serde_json::to_vec_pretty(&report).unwrap_or_default();
        match ledger.overwrite(&ledger.report_name(), body).await {
            Ok(object) => report.objects.push(object),
            Err(err) => report.ledger_errors.push(err),
        }
        // Metrics go to stdout, where Lambda's log agent reads the embedded metric format.
        if let Some(function) = &self.function {
            println!("{}", crate::telemetry::metrics_line(function, &report));
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

    /// Plans from `observation` and records the plan before anything changes. `None` if
    /// another invocation recorded one first: every delivery of an incident runs that one.
    async fn new_plan(
        &self,
        incident: &Incident,
        observation: &Observation,
        ledger: &Ledger,
    ) -> Result<Option<Plan>, Error> {
        let plan = plan(incident, observation, &self.policy, SystemTime::now());
        let body = serde_json::to_vec_pretty(&plan).unwrap_or_default();
        match ledger.create("plan.json", body).await.map_err(Error::Ledger)? {
            Created::Written(_) => Ok(Some(plan)),
            Created::Exists => Ok(None),
        }
    }

    /// Reads what the plan needs to know about the resource, only when a playbook will act.
    async fn observe(&self, incident: &Incident) -> Observation {
        let Routing::Act { playbook, .. } = self.policy.route(incident) else {
            return Observation::NotNeeded;
        };
        if self.policy.foreign_account(incident).is_some() {
            return Observation::NotNeeded;
        }
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
            (Playbook::CloseOpenPorts, Resource::SecurityGroup { group_id }) => {
                let (group, rule) = tokio::join!(
                    posture::observe_security_group(&self.clients.ec2, group_id),
                    posture::observe_rule(&self.clients.config, &incident.finding_type),
                );
                group.with_rule(rule)
            }
            (Playbook::BlockPublicBucket | Playbook::EncryptBucket, Resource::Bucket { name }) => {
                posture::observe_bucket(&self.clients.s3, name).await
            }
            (Playbook::DeactivateStaleKeys, Resource::User { user_id }) => {
                let (user, rule) = tokio::join!(
                    posture::observe_user_by_id(&self.clients.iam, user_id),
                    posture::observe_rule(&self.clients.config, &incident.finding_type),
                );
                user.with_rule(rule)
            }
            _ => Observation::NotNeeded,
        }
    }
}
