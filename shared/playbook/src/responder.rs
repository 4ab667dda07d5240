//! The responder: one event in, one report out, through intake, target, observe, plan and execute.

use std::collections::HashMap;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Instant, SystemTime};

use serde::Serialize;
use serde_json::Value;
use tokio::sync::OnceCell;
use tracing::Instrument;

use crate::actions::{AwsError, account, account_block, buckets, ec2, iam, lambda, posture, rds};
use crate::clients::{Acting, Build, Clients, Places};
use crate::error::Error;
use crate::execute::{Budget, Run};
use crate::incident::{Incident, Source};
use crate::intake::{self, Ignored, Intake, IntakeError};
use crate::ledger::{Created, History, Ledger, RunKind, Stored};
use crate::names::evidence;
use crate::observation::{InstanceState, Observation};
use crate::plan::{self, Plan, Reach, Step};
use crate::policy::Policy;
use crate::release::{self, Contained, ReleaseRequest, Subject};
use crate::report::Report;
use crate::settings::Scope;
use crate::settings::Settings;
use crate::target::{Look, Place, Target, target};

mod timeline;

/// What an invocation answers: the report of an incident, or why the event needed nothing.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum Response {
    Report(Box<Report>),
    Ignored(Ignored),
    /// A Security Hub event: one answer per finding, in the event's order.
    Findings(Findings),
}

/// The answers to a Security Hub event's findings: each its own incident.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Findings {
    pub findings: Vec<Answer>,
}

/// What became of one finding of a Security Hub event.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum Answer {
    Report(Box<Report>),
    Ignored(Ignored),
    /// Not handled: the error, whether a retry may help, and the report of what was done.
    Failed {
        error: String,
        retryable: bool,
        #[serde(skip_serializing_if = "Option::is_none")]
        report: Option<Box<Report>>,
    },
}

impl Answer {
    fn from_result(result: Result<Response, Error>) -> Self {
        match result {
            Ok(Response::Report(report)) => Answer::Report(report),
            Ok(Response::Ignored(ignored)) => Answer::Ignored(ignored),
            Ok(Response::Findings(_)) => Answer::Failed {
                error: "a finding held findings".to_owned(),
                retryable: false,
                report: None,
            },
            Err(err) => Answer::Failed {
                error: crate::error::chain(&err),
                retryable: err.is_retryable(),
                report: match err {
                    Error::Incomplete(report) | Error::RoleRefused { report, .. } => Some(report),
                    _ => None,
                },
            },
        }
    }
}

impl Findings {
    /// The reports of the findings that were incidents (handled or not), in order.
    pub fn reports(&self) -> impl Iterator<Item = &Report> {
        self.findings.iter().filter_map(|a| match a {
            Answer::Report(report) => Some(&**report),
            Answer::Failed { report, .. } => report.as_deref(),
            Answer::Ignored(_) => None,
        })
    }

    fn failed(&self) -> impl Iterator<Item = (usize, &str, bool)> {
        self.findings.iter().enumerate().filter_map(|(i, a)| match a {
            Answer::Failed { error, retryable, .. } => Some((i, error.as_str(), *retryable)),
            _ => None,
        })
    }

    /// Whether a retry may handle what was not.
    #[must_use]
    pub fn retryable(&self) -> bool {
        self.failed().any(|(_, _, retryable)| retryable)
    }

    /// `2 of 3 findings not handled: finding 0: ...; finding 2: ...`.
    #[must_use]
    pub fn summary(&self) -> String {
        let failed: Vec<String> = self.failed().map(|(i, e, _)| format!("finding {i}: {e}")).collect();
        format!(
            "{} of {} findings not handled: {}",
            failed.len(),
            self.findings.len(),
            failed.join("; ")
        )
    }
}

impl Response {
    /// The report, if the event was an incident.
    #[must_use]
    pub fn report(self) -> Option<Report> {
        match self {
            Response::Report(report) => Some(*report),
            Response::Ignored(_) | Response::Findings(_) => None,
        }
    }
}

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

    /// A Security Hub event's findings, one after the other, each its own incident: a
    /// finding that cannot be read or handled does not stop the others. The invocation
    /// errors if any was not handled, so that Lambda retries (the handled ones are done).
    async fn findings(
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

    /// Routes, observes and plans a new incident, or follows the plan already recorded for it.
    async fn respond(&self, incident: &Incident, budget: Budget, received: Instant) -> Result<Report, Error> {
        let policy = self.policy().await?;
        // A Security Hub custom action is a person's decision: its own policy.
        let policy = &*crate::securityhub::policy_for(incident, policy);
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
        if history.plan.is_none()
            && let Observation::RoleRefused { account, role_arn, .. } = &observation
        {
            // Boxed, as rare: the common path's future stays small.
            return Box::pin(self.refused(incident, &target, &observation, &folder, (budget, received)))
                .await
                .and_then(|report| {
                    Err(Error::RoleRefused {
                        account: account.clone(),
                        role_arn: role_arn.clone(),
                        report: Box::new(report),
                    })
                });
        }
        let (plan, owner, history) = match history.plan.clone() {
            Some(_) if history.maybe_running(SystemTime::now()) => self.after_owner(&ledger, &incident.id).await?,
            Some(plan) => (plan, false, history),
            None => {
                let fresh = plan::plan(incident, &target, &observation, policy, SystemTime::now());
                match ledger.plan_once(fresh).await? {
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

    /// A member role that cannot be assumed: one page naming the role, the account and the
    /// fix, recorded apart from the incident's own run (its folder's `-role-refused` twin),
    /// so that the retry, once the role can be assumed, plans and acts afresh; a retry
    /// that is refused again finds the page sent and sends no other.
    async fn refused(
        &self,
        incident: &Incident,
        target: &Target,
        observation: &Observation,
        folder: &str,
        (budget, received): (Budget, Instant),
    ) -> Result<Report, Error> {
        let policy = self.policy().await?;
        let ledger = self.ledger(&format!("{folder}-role-refused"));
        let history = ledger.history().await?;
        let (plan, owner, history) = if let Some(plan) = history.plan.clone() {
            (plan, false, history)
        } else {
            let fresh = plan::plan(incident, target, observation, policy, SystemTime::now());
            match ledger.plan_once(fresh).await? {
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
    async fn acting_for(&self, plan: &Plan) -> Acting {
        match &plan.place {
            Some(place) => self.places.at(place).await,
            None => self.places.at_home(),
        }
    }

    /// The alias of the incident's account, for the page: read once per process and account,
    /// through the clients that act there (the member role in a member account). `None` when
    /// there is none or it cannot be read: the page then names the account by its id.
    async fn alias(&self, incident: &Incident, acting: &Acting) -> Option<String> {
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
    async fn after_owner(&self, ledger: &Ledger, incident_id: &str) -> Result<(Plan, bool, History), Error> {
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

    /// A person's approval of a held incident: checks it was held, records the approval
    /// (once: the first approval owns the approved run, a second one resumes it), and runs
    /// the recorded plan in full.
    async fn approve(&self, incident_id: &str, budget: Budget, received: Instant) -> Result<Report, Error> {
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
        let approval = serde_json::json!({ "incident_id": incident_id, "approved_at": SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH).map_or(0, |d| d.as_secs()) });
        let acting = self.acting_for(&plan).await;
        let (created, alias) = tokio::join!(
            ledger.create_json(evidence::APPROVAL, &approval),
            self.alias(&incident, &acting)
        );
        let owner = matches!(created?, Created::Written(_));
        tracing::info!(incident_id, first = owner, "approval recorded");
        let ledger = ledger.for_run(RunKind::Approved);
        let history = ledger.history().await?;
        let run = Run {
            owner,
            approved: true,
            ..self.run(&ledger, &incident, &plan, &acting, (budget, received), alias)
        };
        self.execute(run, history)
            .instrument(incident_span(&incident, true))
            .await
    }

    /// Releases an instance from quarantine (each interface's groups, the Elastic IPs,
    /// protection and its own credentials back as the evidence says; tagged released), a
    /// throttled function (its concurrency as recorded, its role's deny removed; the version
    /// kept as evidence stays), or a user or role from its containment (Tourniquet's deny
    /// policies removed; keys back only when asked). Refuses what no incident contained, and what changed since unless forced.
    /// Recorded and paged. Never deletes evidence or snapshots.
    pub async fn release(&self, request: &Value, budget: Budget) -> Result<Report, Error> {
        let request = ReleaseRequest::parse(request)?;
        let span = tracing::info_span!("release", subject = request.subject.label());
        self.release_subject(&request, budget).instrument(span).await
    }

    async fn release_subject(&self, request: &ReleaseRequest, budget: Budget) -> Result<Report, Error> {
        let incident_id = match &request.incident_id {
            Some(id) => id.clone(),
            // Boxed: the look-up's future nests deep (every place's clients) and is rare.
            None => Box::pin(self.incident_of(request)).await?,
        };
        let ledger = self.ledger(&incident_id);
        let (Stored { mut plan, incident }, contained) =
            release::contained(ledger.load().await?, &incident_id, request)?;
        // A member of an attack sequence elsewhere is released where it was contained.
        if let Some(there) = release::where_contained(&plan, &request.subject) {
            plan.place = Some(there);
        }
        let acting = self.acting_for(&plan).await;
        let (done, alias) = tokio::join!(
            futures_util::future::try_join_all(contained.done_by().iter().map(|action| ledger.done(action))),
            self.alias(&incident, &acting)
        );
        if !done?.contains(&true) {
            return Err(request.refuse(&format!("incident {incident_id} never contained it")));
        }
        let ledger = ledger.for_run(RunKind::Release);
        let history = ledger.history().await?;
        // The release plan is made once and kept, like any plan: a retry resumes it.
        let (release, owner) = if let Some(kept) = history.plan.clone() {
            (kept, false)
        } else {
            let now = SystemTime::now();
            let (mut release, changes) = match &contained {
                Contained::Instance(before) => (
                    plan::plan_release(&plan, before, now),
                    self.instance_drift(&plan, before, &acting).await,
                ),
                Contained::Function(before) => {
                    let clients = &acting.clients;
                    let found = lambda::observe_function(&clients.lambda, &clients.iam, &before.name).await;
                    (
                        plan::plan_function_release(&plan, before, now),
                        release::function_drift(before, &found),
                    )
                }
                Contained::Principal => (
                    plan::plan_release_principal(&plan, &request.subject, request.reactivate_keys, now),
                    self.principal_drift(&plan, request, &acting).await,
                ),
            };
            if !changes.is_empty() {
                if !request.force {
                    return Err(request.refuse(&format!(
                        "it changed since the containment: {}; check these, then release with \"force\": true",
                        changes.join("; ")
                    )));
                }
                release.reason = format!(
                    "{}; FORCED by the request despite changes since the containment: {}",
                    release.reason,
                    changes.join("; ")
                );
            }
            ledger.plan_once(release).await?
        };
        let acting = self.acting_for(&release).await;
        let run = Run {
            owner,
            ..self.run(&ledger, &incident, &release, &acting, (budget, Instant::now()), alias)
        };
        self.execute(run, history).await
    }

    /// What changed on a quarantined instance since its quarantine, described where it was
    /// quarantined: its interfaces, addresses and tag, and the deny on its own credentials.
    async fn instance_drift(&self, contained: &Plan, before: &InstanceState, acting: &Acting) -> Vec<String> {
        let now = ec2::observe_instance(&acting.clients.ec2, &before.instance_id).await;
        let mut changes = release::drift(before, &now);
        for planned in &contained.steps {
            if let Step::DenyInstanceCredentials {
                instance_profile,
                instance_arn,
                ..
            } = &planned.step
            {
                let policy = iam::policy_name(&Reach::Instance {
                    instance_arn: instance_arn.clone(),
                });
                match crate::actions::release::roles_without(&acting.clients.iam, instance_profile, &policy).await {
                    Ok(roles) => changes.extend(
                        roles
                            .into_iter()
                            .map(|role| format!("role {role} no longer carries the deny policy {policy}")),
                    ),
                    Err(err) => changes.push(format!("the deny on its credentials could not be checked ({err})")),
                }
            }
        }
        changes
    }

    /// What changed on a contained user or role since its containment.
    async fn principal_drift(&self, contained: &Plan, request: &ReleaseRequest, acting: &Acting) -> Vec<String> {
        let iam = &acting.clients.iam;
        let now = match &request.subject {
            Subject::User(name) => iam::observe_user(iam, name, None).await,
            Subject::Role(name) => iam::observe_role(iam, name).await,
            Subject::Instance(_) | Subject::Function(_) => Observation::NotNeeded,
        };
        release::principal_drift(contained, &request.subject, &now)
    }

    /// The incident that quarantined the requested instance, from its `tourniquet:incident-id`
    /// tag, looked up where the request says, else in every account in scope (listed ones;
    /// with `*`, the home account only) in the request's region or the home region.
    /// Refused when no account or several hold such an instance.
    async fn incident_of(&self, request: &ReleaseRequest) -> Result<String, Error> {
        // Intake asks a user's or role's release for its incident: only instances carry a tag.
        let Some(instance_id) = request.instance_id() else {
            return Err(request.refuse("name the incident whose containment to undo"));
        };
        let policy = self.policy().await?;
        let region = request.region.as_deref();
        let accounts: Vec<Option<&str>> = match (&request.account, &policy.accounts) {
            (Some(account), _) => vec![Some(account.as_str())],
            (None, Scope::Listed(listed)) => std::iter::once(None)
                .chain(listed.iter().map(|a| Some(a.as_str())))
                .collect(),
            (None, Scope::Home | Scope::Any) => vec![None],
        };
        let mut places = Vec::new();
        for account in accounts {
            let place = crate::target::place(account, region, policy).map_err(|reason| request.refuse(&reason))?;
            if !places.contains(&place) {
                places.push(place);
            }
        }
        let lookups = places.iter().map(|place| async move {
            let acting = self.places.at(place).await;
            let found = crate::actions::release::incident_of(&acting.clients.ec2, instance_id).await;
            (place, found)
        });
        let mut candidates = Vec::new();
        for (place, found) in futures_util::future::join_all(lookups).await {
            match found {
                Ok(Some(incident_id)) => candidates.push((place.clone(), incident_id)),
                Ok(None) => {}
                // Not in that account and region: another may hold it.
                Err(err) if err.code == "InvalidInstanceID.NotFound" => {}
                Err(err) => return Err(Error::Release(err)),
            }
        }
        release::one_incident(request, &places, &candidates)
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
        match run.ledger.overwrite_json(&run.ledger.report_name(), &report).await {
            Ok(object) => report.objects.push(object),
            Err(err) => report.ledger_errors.push(crate::error::chain(&err)),
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

    /// Reads what the target names, read-only, in its place; nothing when the target pages
    /// only. When the place's member role was refused, that is what was seen.
    async fn observe(&self, target: &Target, acting: &Acting) -> Observation {
        let Target::Act { look, place, .. } = target else {
            return Observation::NotNeeded;
        };
        let observation = self.look(look, &acting.clients).await;
        seen_through(observation, acting, place)
    }

    /// What `look` names in `place`, through that place's own clients (a member of an attack
    /// sequence in another account or region).
    fn observe_elsewhere<'a>(&'a self, look: &'a Look, place: &'a Place) -> Observing<'a> {
        Box::pin(async move {
            let acting = Box::pin(self.places.at(place)).await;
            let observation = self.look(look, &acting.clients).await;
            seen_through(observation, &acting, place)
        })
    }

    /// The future that reads what `look` names through `clients`. Each arm's future is boxed
    /// on its own: the describes are large futures, and a sequence nests looks.
    fn look<'a>(&'a self, look: &'a Look, clients: &'a Clients) -> Observing<'a> {
        match look {
            Look::Instance { instance_id } => Box::pin(ec2::observe_instance(&clients.ec2, instance_id)),
            Look::User {
                user_name,
                access_key_id,
            } => Box::pin(iam::observe_user(&clients.iam, user_name, access_key_id.as_deref())),
            Look::Role { role_name } => Box::pin(iam::observe_role(&clients.iam, role_name)),
            Look::SecurityGroup { group_id, rule } => Box::pin(async move {
                let (group, rule) = tokio::join!(
                    posture::observe_security_group(&clients.ec2, group_id),
                    posture::observe_rule(&clients.config, rule),
                );
                group.with_rule(rule)
            }),
            Look::Bucket { name } => Box::pin(posture::observe_bucket(&clients.s3, name)),
            Look::ExposedBucket { name } => Box::pin(buckets::observe_exposed_bucket(&clients.s3, name)),
            Look::Function { function_name } => {
                Box::pin(lambda::observe_function(&clients.lambda, &clients.iam, function_name))
            }
            Look::Database { db_instance_id } => Box::pin(rds::observe_database(&clients.rds, db_instance_id)),
            Look::AccountBlock { account_id } => Box::pin(async move {
                account_block::observe(&account_block::client(&clients.sdk_config), account_id).await
            }),
            // The members are described together, each where it is.
            Look::Sequence { members, .. } => Box::pin(async move {
                Observation::Sequence {
                    members: futures_util::future::join_all(members.iter().map(|m| match &m.place {
                        Some(place) => self.observe_elsewhere(&m.look, place),
                        None => self.look(&m.look, clients),
                    }))
                    .await,
                }
            }),
            Look::UserById { user_id, rule } => Box::pin(async move {
                let (user, rule) = tokio::join!(
                    posture::observe_user_by_id(&clients.iam, user_id),
                    posture::observe_rule(&clients.config, rule),
                );
                user.with_rule(rule)
            }),
        }
    }
}

/// What [`Responder::look`] returns.
type Observing<'a> = Pin<Box<dyn Future<Output = Observation> + Send + 'a>>;

/// `observation`, or, when `place`'s member role was refused, that refusal: nothing there
/// could be seen.
fn seen_through(observation: Observation, acting: &Acting, place: &Place) -> Observation {
    match (acting.refused(), &place.role_arn) {
        (Some(err), Some(role_arn)) => Observation::RoleRefused {
            role_arn: role_arn.clone(),
            account: place.account.clone(),
            code: err.code,
            message: err.message,
        },
        _ => observation,
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
