//! The responder: one event in, one report out, through intake, target, observe, plan and execute.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use serde_json::Value;
use tokio::sync::OnceCell;
use tracing::Instrument;

use crate::actions::AwsError;
use crate::clients::{Acting, Build, Clients, Places};
use crate::error::Error;
use crate::execute::{Budget, Run};
use crate::incident::{Incident, Source};
use crate::intake::{self, Intake, IntakeError};
use crate::ledger::{History, Ledger};
use crate::plan::Plan;
use crate::policy::Policy;
use crate::report::Report;
use crate::response::Response;
use crate::settings::Settings;

mod approval;
mod event;
mod findings;
mod observe;
mod release;
mod report_page;
mod timeline;

/// Built once per cold start; handles every event of the process's life.
#[derive(Debug, Clone)]
pub struct Responder {
    /// The home clients, and each place's, built on first use and kept.
    places: Arc<Places>,
    settings: Settings,
    /// The checked policy, before the responder knows its own identity.
    policy: Policy,
    /// The policy with the responder's own identity (never acted on), learnt from STS on the
    /// first event that needs it rather than before the first poll: a cold start waits for
    /// no network call.
    known: OnceCell<Policy>,
    /// The event sources this function answers; others are refused.
    sources: Vec<Source>,
    /// The function's name (`AWS_LAMBDA_FUNCTION_NAME`); metrics are printed only in Lambda.
    function: Option<String>,
    /// Account aliases for pages, by account id, read once per process (`None`: no alias).
    aliases: Arc<Mutex<HashMap<String, Option<String>>>>,
}

impl Responder {
    /// Checks the policy; fails the cold start, by name, if it is bad.
    pub fn new(clients: Clients, settings: Settings) -> Result<Self, Error> {
        let function = std::env::var("AWS_LAMBDA_FUNCTION_NAME").ok();
        let places = Places::new(clients, function.as_deref());
        let policy = Policy::new(&settings)?.with_home_region(places.home_region());
        Ok(Responder {
            places: Arc::new(places),
            settings,
            policy,
            known: OnceCell::new(),
            sources: vec![Source::GuardDuty, Source::Config, Source::CloudWatch],
            function,
            aliases: Arc::default(),
        })
    }

    /// The same responder, building the clients of other places (member accounts, other
    /// regions) with `build`: tests record those calls too.
    #[must_use]
    pub fn building_places_with(mut self, build: Build) -> Self {
        let places = Places::new(self.places.home().clone(), self.function.as_deref()).building_with(build);
        self.places = Arc::new(places);
        self
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

    /// The policy, knowing the responder's own identity: learnt once per process. If it
    /// cannot be had, nothing is planned (the invocation fails and Lambda retries).
    async fn policy(&self) -> Result<&Policy, Error> {
        self.known
            .get_or_try_init(|| async {
                let identity = self
                    .places
                    .home()
                    .sts
                    .get_caller_identity()
                    .send()
                    .await
                    .map_err(|e| Error::Identity(AwsError::from_sdk("GetCallerIdentity", &e)))?;
                // Without its own ARN it knows neither its account nor its partition: it could
                // not tell home from member, so it plans nothing.
                let arn = identity.arn().ok_or_else(|| {
                    Error::Identity(AwsError::check(
                        "GetCallerIdentity",
                        "NoArn",
                        "STS named no ARN".to_owned(),
                    ))
                })?;
                Ok(self.policy.clone().with_own_arn(Some(arn.to_owned())))
            })
            .await
    }

    /// Learns the responder's own identity now, as the first incident otherwise does: for a
    /// caller that measures warm responses apart from the cold start.
    pub async fn learn_identity(&self) -> Result<(), Error> {
        self.policy().await.map(drop)
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
        let report = match intake {
            Intake::Ignored(ignored) => {
                self.check_source(ignored.source)?;
                tracing::info!(
                    source = ignored.source.as_str(),
                    reason = ignored.ignored,
                    "event ignored"
                );
                return Ok(Response::Ignored(ignored));
            }
            Intake::Incident(incident) => {
                self.check_source(incident.source)?;
                let span = incident_span(&incident, false);
                // Boxed: a response's future is large (every adapter's), and callers that run
                // several deliveries side by side (tests, benches) would hold them on one stack.
                Box::pin(self.respond(&incident, budget, received).instrument(span)).await?
            }
            Intake::Approve { incident_id } => Box::pin(self.approve(&incident_id, budget, received)).await?,
            Intake::Findings(findings) => return Box::pin(self.findings(findings, budget, received)).await,
            Intake::Timeline { incident_id } => Box::pin(self.reread(&incident_id, budget, received)).await?,
        };
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

    fn ledger(&self, folder: &str) -> Ledger {
        Ledger::new(self.places.home().s3.clone(), &self.settings.evidence_bucket, folder)
    }

    /// Why the settings of now forbid a recorded plan to change its place, if they do: the
    /// stack or the plan's account in dry run now, or the account taken out of scope since
    /// the incident. Approval, release and re-read follow a record made under older
    /// settings: they check these first, and change nothing when they forbid it.
    pub(super) async fn forbidden_now(&self, plan: &Plan) -> Result<Option<String>, Error> {
        let policy = self.policy().await?;
        if policy.dry_run {
            return Ok(Some(
                "the stack is in dry run now (TOURNIQUET_DRY_RUN): nothing is changed; turn dry run off to go on"
                    .to_owned(),
            ));
        }
        let Some(recorded) = &plan.place else { return Ok(None) };
        Ok(
            match crate::target::place(Some(&recorded.account), Some(&recorded.region), policy) {
                Err(reason) => Some(format!(
                    "the settings changed since the incident: {}",
                    reason.trim_end_matches("; paging only")
                )),
                Ok(now) if now.dry_run => Some(format!(
                    "the settings changed since the incident: account {} is in TOURNIQUET_DRY_RUN_ACCOUNTS now, so \
                     nothing is changed there",
                    recorded.account
                )),
                Ok(_) => None,
            },
        )
    }

    /// A run of `plan` as most runs are: not the owner's, not approved.
    fn run<'a>(
        &'a self,
        ledger: &'a Ledger,
        incident: &'a Incident,
        plan: &'a Plan,
        acting: &'a Acting,
        (budget, received): (Budget, Instant),
        account_alias: Option<String>,
    ) -> Run<'a> {
        Run {
            page: crate::page::Context {
                format: self.settings.pages.format,
                account_alias,
                home_region: self.places.home().sns.config().region().map(ToString::to_string),
                function: self.function.clone(),
                release_function: self.settings.pages.release_function.clone(),
            },
            clients: &acting.clients,
            places: &self.places,
            home: self.places.home(),
            acted_as: acting.session.as_deref(),
            topic_arn: &self.settings.topic_arn,
            ledger,
            incident,
            plan,
            budget,
            approved: false,
            owner: false,
            received,
        }
    }

    /// Runs what is left of the plan, keeps the report in the evidence bucket, and answers:
    /// the report, or the error that makes Lambda retry.
    async fn execute(&self, run: Run<'_>, history: History) -> Result<Report, Error> {
        if !history.steps.is_empty() {
            tracing::info!(steps_done = history.steps.len(), "resuming the recorded plan");
        }
        tracing::info!(
            playbook = run.plan.playbook.as_str(),
            dry_run = run.plan.dry_run,
            owner = run.owner,
            reason = run.plan.reason,
            "plan"
        );
        let mut report = run.execute(history).await;
        report_page::keep(&run, &mut report).await;
        match run.ledger.overwrite_json(&run.ledger.report_name(), &report).await {
            Ok(object) => report.objects.push(object),
            Err(err) => report.ledger_errors.push(crate::telemetry::chain(&err)),
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
}

fn incident_span(incident: &Incident, approved: bool) -> tracing::Span {
    tracing::info_span!(
        "incident",
        incident_id = incident.id,
        finding_type = incident.finding_type,
        severity = incident.severity,
        approved
    )
}
