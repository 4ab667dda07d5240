//! The executor: runs a plan's steps stage by stage, once each, and reports every outcome.

use std::time::{Duration, Instant, SystemTime};

use aws_sdk_iam::types::StatusType;
use futures_util::future::join_all;
use tokio::task::JoinHandle;
use tracing::Instrument;

use crate::actions::{
    AwsError, Done, account_block, autoscaling, cloudtrail, dry_run_verdict, ec2, iam, lambda, notify, posture, rds,
    recorder, release, securityhub, trail,
};
use crate::clients::{Clients, Places};
use crate::incident::Incident;
use crate::ledger::{Claimed, Created, History, Ledger, LedgerError};
use crate::names::evidence;
use crate::page;
use crate::plan::{Plan, Step};
use crate::report::{EvidenceObject, Outcome, Report, StepOutput, StepReport};
use crate::telemetry::chain;

pub mod timeline;

/// Time kept back before the Lambda deadline: no step starts inside it.
pub const DEADLINE_MARGIN: Duration = Duration::from_secs(15);

/// When a run stops starting new steps.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Budget {
    /// The invocation's deadline (Lambda's, from the invocation context).
    pub deadline: Option<SystemTime>,
    /// Start at most this many steps (drills and tests: stop at a chosen point, as a crash would).
    pub max_steps: Option<usize>,
}

impl Budget {
    /// The budget of a Lambda invocation: its deadline, in milliseconds since the epoch, as the
    /// invocation context gives it. A value too small to be a time since the epoch (local
    /// runtime emulators, cargo-lambda's among them, send the timeout itself) is read as a
    /// duration from now.
    #[must_use]
    pub fn lambda_deadline(millis: u64) -> Self {
        const YEAR_2001_MILLIS: u64 = 978_307_200_000;
        let deadline = if millis < YEAR_2001_MILLIS {
            SystemTime::now() + Duration::from_millis(millis)
        } else {
            SystemTime::UNIX_EPOCH + Duration::from_millis(millis)
        };
        Budget {
            deadline: Some(deadline),
            max_steps: None,
        }
    }

    /// Why no further step may start, if none may. Every invocation starts at least one step
    /// whatever the deadline says, so a function with a short timeout still makes progress.
    fn spent(&self, started: usize) -> Option<String> {
        if self.max_steps.is_some_and(|max| started >= max) {
            return Some(format!("stopped after {started} step(s), as asked"));
        }
        if started == 0 {
            return None;
        }
        let deadline = self.deadline?;
        (SystemTime::now() + DEADLINE_MARGIN > deadline).then(|| {
            format!(
                "stopped: less than {}s left before the Lambda deadline",
                DEADLINE_MARGIN.as_secs()
            )
        })
    }
}

/// Everything a run needs, borrowed.
pub struct Run<'a> {
    /// The clients that change the incident's place (its account and region).
    pub clients: &'a Clients,
    /// Every place's clients: a member of an attack sequence in another account or region is
    /// changed through its own.
    pub places: &'a Places,
    /// The home account's clients: pages go out from there, whatever the place.
    pub home: &'a Clients,
    /// The member role session the place's clients act as, for the report.
    pub acted_as: Option<&'a str>,
    pub topic_arn: &'a str,
    pub ledger: &'a Ledger,
    pub incident: &'a Incident,
    pub plan: &'a Plan,
    pub budget: Budget,
    /// A person approved a held plan: run all of it.
    pub approved: bool,
    /// This invocation recorded the plan just now, so it owns the run: concurrent deliveries
    /// wait for its report instead of running beside it, and the steps that must happen
    /// once need no claim of their own. A run that follows a recorded plan (a retry, a
    /// redelivery) claims them, and looks for what a run before it may have left undone.
    pub owner: bool,
    /// When the event arrived, for the time to contain.
    pub received: Instant,
    /// What the page needs beyond the incident (format, account alias, function names).
    pub page: page::Context,
}

/// What running one step gave, before it is recorded.
enum StepResult {
    Done(Done),
    /// Not done; what the dry-run probe said, if the service has one.
    DryRun(Option<String>),
    Held,
    /// A conditional step whose condition does not hold.
    NotNeeded,
    /// Not done, for a reason no retry changes (Security Hub is not enabled): said in the
    /// page, not a failure of the response.
    Declined(String),
    /// Another invocation did it; its record.
    Recorded(StepReport),
    Failed(AwsError),
}

impl StepResult {
    /// The step's report, and whether it is to be recorded in the ledger (a failure, a held
    /// or unneeded step, another invocation's record are not).
    fn into_report(self, mut report: StepReport) -> (StepReport, bool) {
        match self {
            StepResult::Done(done) => {
                report.request_ids = done.request_ids;
                report.detail = done.detail;
                report.output = done.output;
                (report, true)
            }
            StepResult::DryRun(probe) => {
                report.outcome = Outcome::DryRun;
                if let Some(probe) = probe {
                    report.detail = serde_json::json!({ "probe": probe });
                }
                (report, true)
            }
            StepResult::Held => {
                report.outcome = Outcome::Held;
                (report, false)
            }
            StepResult::NotNeeded => {
                report.outcome = Outcome::NotNeeded;
                (report, false)
            }
            StepResult::Declined(reason) => {
                tracing::warn!(step = report.action, reason, "step declined");
                report.outcome = Outcome::NotNeeded;
                report.message = Some(reason);
                (report, false)
            }
            StepResult::Recorded(mut record) => {
                record.outcome = Outcome::AlreadyDone;
                (record, false)
            }
            StepResult::Failed(err) => {
                tracing::warn!(step = report.action, error_code = err.code, error = %err, request_id = ?err.request_id, "step failed");
                report.outcome = Outcome::Failed;
                report.error_code = Some(err.code);
                report.message = Some(err.message);
                report.request_ids = err.request_id.into_iter().collect();
                (report, false)
            }
        }
    }
}

impl From<Result<Done, AwsError>> for StepResult {
    fn from(result: Result<Done, AwsError>) -> Self {
        match result {
            Ok(done) => StepResult::Done(done),
            Err(err) => StepResult::Failed(err),
        }
    }
}

/// A ledger failure inside a step, in the shape of a step failure: the AWS error as it came,
/// or the ledger's own failure named by its code.
fn ledger_failure(err: LedgerError) -> AwsError {
    match err {
        LedgerError::Aws(err) => err,
        other => AwsError::check("Ledger", other.code(), chain(&other)),
    }
}

/// Where one step acts: the clients there, whether that place only plans (dry run), and the
/// step's index in the plan.
struct At<'c> {
    index: usize,
    clients: &'c Clients,
    dry_run: bool,
}

/// One step run, its record on the way.
struct Finished {
    report: StepReport,
    /// Evidence objects the step wrote.
    objects: Vec<EvidenceObject>,
    /// When a containment step was done, counted from the event's arrival.
    contained_after_ms: Option<u64>,
    /// The write of the step's record, running beside the next stages (they read the reports
    /// in memory, not the ledger); the run waits for it before it reports.
    record: Option<JoinHandle<Result<Created, LedgerError>>>,
}

impl Run<'_> {
    /// Runs every step not yet recorded in `history`, stage by stage (`Plan::stages`): the
    /// steps of a stage together, and a stage only once the one before it is finished. Each
    /// step's record is written as soon as it is done, beside the next stages; the run waits
    /// for every record before it reports. A failed step does not stop the others: each is
    /// independent or checks its own precondition (verification).
    pub async fn execute(&self, history: History) -> Report {
        let mut steps: Vec<StepReport> = Vec::with_capacity(self.plan.steps.len());
        let mut objects = history.objects;
        let mut ledger_errors = Vec::new();
        let mut records = Vec::new();
        let mut started = 0;
        let mut interrupted = None;
        let mut contained_after_ms = None;
        for stage in self.plan.stages() {
            let mut batch = Vec::new();
            for index in stage {
                let planned = &self.plan.steps[index];
                if let Some(record) = history.steps.get(&index) {
                    let mut record = record.clone();
                    if record.outcome == Outcome::Done {
                        record.outcome = Outcome::AlreadyDone;
                    }
                    tracing::info!(step = record.action, "step already done");
                    steps.push(record);
                    continue;
                }
                if let Some(reason) = self.budget.spent(started) {
                    tracing::warn!(
                        next_step = planned.step.action(),
                        reason,
                        "stopping; a retry resumes here"
                    );
                    interrupted = Some(format!(
                        "{reason}, before step {} ({})",
                        index + 1,
                        planned.step.action()
                    ));
                    break;
                }
                started += 1;
                batch.push(index);
            }
            let finished = join_all(batch.into_iter().map(|index| self.step(index, &steps))).await;
            for done in finished {
                objects.extend(done.objects);
                contained_after_ms = contained_after_ms.max(done.contained_after_ms);
                records.extend(done.record.map(|record| (done.report.index, record)));
                steps.push(done.report);
            }
            // In plan order, for the page and the report, whoever finished first.
            steps.sort_by_key(|s| s.index);
            if interrupted.is_some() {
                break;
            }
        }
        for (index, record) in records {
            let name = self.ledger.step_name(index, self.plan.steps[index].step.action());
            match record.await.map_err(|source| LedgerError::Lost { name, source }) {
                Ok(Ok(Created::Written(object))) => objects.push(object),
                // A concurrent invocation recorded the same converging step first.
                Ok(Ok(Created::Exists)) => {
                    if let Some(report) = steps.iter_mut().find(|s| s.index == index) {
                        report.outcome = Outcome::AlreadyDone;
                    }
                }
                Ok(Err(err)) | Err(err) => ledger_errors.push(chain(&err)),
            }
        }
        Report {
            incident_id: self.incident.id.clone(),
            source: self.incident.source,
            finding_id: self.incident.finding_id.clone(),
            finding_type: self.incident.finding_type.clone(),
            severity: self.incident.severity,
            resource: self.incident.resource.label(),
            summary: self.incident.summary.clone(),
            playbook: self.plan.playbook,
            dry_run: self.plan.dry_run,
            reason: self.plan.reason.clone(),
            evidence: self.ledger.uri(),
            place: self.plan.place.clone(),
            acted_as: self.acted_as.map(ToOwned::to_owned),
            steps,
            objects,
            ledger_errors,
            interrupted,
            contained_after_ms,
        }
    }

    /// Runs step `index` and starts writing its record; `before` holds the reports of the
    /// earlier stages.
    async fn step(&self, index: usize, before: &[StepReport]) -> Finished {
        let planned = &self.plan.steps[index];
        let action = planned.step.action();
        let name = self.ledger.step_name(index, action);
        let span = tracing::info_span!("step", step = action, index);
        async {
            let mut objects = Vec::new();
            // A member of an attack sequence elsewhere: that place's clients and dry run.
            // Boxed: building a member role's clients is a large future, rarely needed.
            let elsewhere = match &planned.place {
                Some(place) => Some(Box::pin(self.places.at(place)).await),
                None => None,
            };
            let at = At {
                index,
                clients: elsewhere.as_ref().map_or(self.clients, |acting| &acting.clients),
                dry_run: self.plan.dry_run || planned.place.as_ref().is_some_and(|p| p.dry_run),
            };
            // Boxed: one arm per step makes the step's future large, and a stage runs several.
            let result = Box::pin(self.run(&planned.step, &at, &name, before, &mut objects)).await;
            let mut target = self.target(&planned.step);
            if let Some(place) = &planned.place {
                target = format!("{target} ({})", place.label());
            }
            let (report, record) = result.into_report(StepReport::new(index, action, target));
            let contained_after_ms = (report.outcome == Outcome::Done && planned.step.mutates())
                .then(|| u64::try_from(self.received.elapsed().as_millis()).ok())
                .flatten();
            let record = record.then(|| {
                tracing::info!(step = action, outcome = ?report.outcome, request_ids = ?report.request_ids, "step finished");
                let (ledger, report) = (self.ledger.clone(), report.clone());
                tokio::spawn(async move { ledger.create_json(&name, &report).await }.in_current_span())
            });
            Finished {
                report,
                objects,
                contained_after_ms,
                record,
            }
        }
        .instrument(span)
        .await
    }

    fn target(&self, step: &Step) -> String {
        match step {
            Step::RecordEvidence => self.ledger.uri(),
            Step::DenyInstanceCredentials { instance_profile, .. }
            | Step::RemoveInstanceDeny { instance_profile, .. } => instance_profile.clone(),
            Step::ProtectInstance { instance_id }
            | Step::KeepVolumes { instance_id, .. }
            | Step::RestoreVolumes { instance_id, .. }
            | Step::DetachFromAutoScaling { instance_id, .. }
            | Step::SnapshotVolumes { instance_id, .. }
            | Step::TagInstance { instance_id, .. }
            | Step::RestoreProtection { instance_id, .. }
            | Step::MarkReleased { instance_id, .. } => instance_id.clone(),
            Step::IsolateInterfaces { vpcs, .. } => vpcs
                .iter()
                .flat_map(|v| v.interfaces.iter().map(String::as_str))
                .collect::<Vec<_>>()
                .join(", "),
            Step::DisassociateAddresses { addresses, .. } => addresses
                .iter()
                .filter_map(|a| a.public_ip.as_deref())
                .collect::<Vec<_>>()
                .join(", "),
            Step::VerifyIsolation { interfaces, .. } => interfaces.join(", "),
            Step::DeactivateAccessKey {
                user_name,
                access_key_id,
            }
            | Step::ReactivateAccessKey {
                user_name,
                access_key_id,
            } => format!("{access_key_id} of {user_name}"),
            Step::DenyAllUser { user_name, .. } => user_name.clone(),
            Step::RevokeRoleSessions { role_name, .. } => role_name.clone(),
            Step::RemoveDeny { name, .. } => name.clone(),
            Step::RevokeGroupRules { group_id, .. } => group_id.clone(),
            Step::BlockPublicAccess { bucket } | Step::SetDefaultEncryption { bucket, .. } => bucket.clone(),
            Step::RestoreInterfaces { interfaces, .. } => interfaces
                .iter()
                .map(|i| i.interface_id.as_str())
                .collect::<Vec<_>>()
                .join(", "),
            Step::RestoreAddresses { addresses, .. } => addresses
                .iter()
                .filter_map(|a| a.public_ip.as_deref())
                .collect::<Vec<_>>()
                .join(", "),
            Step::Page | Step::PageUpdate => self.topic_arn.to_owned(),
            Step::PublishFunctionVersion { function_name, .. }
            | Step::ThrottleFunction { function_name }
            | Step::RestoreFunctionConcurrency { function_name, .. } => function_name.clone(),
            Step::SnapshotDatabase {
                db_instance_id,
                cluster_id,
                ..
            } => cluster_id.clone().unwrap_or_else(|| db_instance_id.clone()),
            Step::UpdateFinding { finding, .. } => finding.id.clone(),
            Step::Timeline { lookups, .. } => lookups
                .iter()
                .map(crate::timeline::Lookup::label)
                .collect::<Vec<_>>()
                .join(", "),
            Step::SweepPersistence { .. } => "persistence".to_owned(),
            Step::ConfigHistory { resource, .. } => resource.label(),
            Step::RestoreAccountBlock { account_id, .. } => format!("account {account_id}"),
            Step::StartLogging { trail, .. } => trail.clone(),
            Step::StartRecorder { name, .. } => format!("AWS Config recorder {name}"),
        }
    }

    // One exhaustive match, an arm per step: splitting it would hide a step's handling.
    #[allow(clippy::too_many_lines)]
    async fn run(
        &self,
        step: &Step,
        at: &At<'_>,
        name: &str,
        before: &[StepReport],
        objects: &mut Vec<EvidenceObject>,
    ) -> StepResult {
        let clients = at.clients;
        let ec2 = &clients.ec2;
        // A dry run changes nothing, held or not: each EC2 call is made with `DryRun`, which
        // says whether the deployed role would be allowed it; other services cannot say.
        let dry = at.dry_run && step.mutates();
        if dry && !step.probes() {
            return StepResult::DryRun(Some("not probed: the service has no DryRun".to_owned()));
        }
        if !dry && self.plan.hold.is_some() && !self.approved && step.mutates() {
            return StepResult::Held;
        }
        let result = match step {
            Step::RecordEvidence => self.record_evidence(objects).await,
            Step::ProtectInstance { instance_id } => ec2::protect_instance(ec2, instance_id, dry).await,
            Step::KeepVolumes { instance_id, devices } => {
                ec2::set_delete_on_termination(ec2, instance_id, devices, false, dry).await
            }
            Step::RestoreVolumes { instance_id, devices } => {
                ec2::set_delete_on_termination(ec2, instance_id, devices, true, dry).await
            }
            Step::DenyInstanceCredentials {
                instance_profile,
                instance_id,
                ..
            } => iam::deny_instance_role(&clients.iam, instance_profile, instance_id).await,
            Step::DetachFromAutoScaling { instance_id, group } => {
                autoscaling::detach(&clients.autoscaling, instance_id, group).await
            }
            Step::IsolateInterfaces { vpcs, .. } if dry => ec2::isolate(ec2, vpcs, false, true).await,
            Step::IsolateInterfaces { vpcs, .. } => {
                // Once, and an isolated interface never goes back to the open conversion group.
                return self
                    .once(name, |claimed| {
                        let resume = !self.owner || claimed == Claimed::TakenOver;
                        ec2::isolate(ec2, vpcs, resume, false)
                    })
                    .await;
            }
            Step::DisassociateAddresses { addresses, .. } => ec2::disassociate_addresses(ec2, addresses, dry).await,
            Step::SnapshotVolumes { instance_id, tags, .. } if dry => {
                ec2::snapshot_volumes(ec2, instance_id, &self.incident.id, tags, false, true).await
            }
            Step::SnapshotVolumes { instance_id, tags, .. } => {
                return self
                    .once(name, |claimed| {
                        // A run before this one may have taken the set and stopped unrecorded.
                        let look_first = !self.owner || claimed == Claimed::TakenOver;
                        ec2::snapshot_volumes(ec2, instance_id, &self.incident.id, tags, look_first, false)
                    })
                    .await;
            }
            Step::TagInstance { instance_id, tags } => {
                if !dry && !isolated(self.plan, before, instance_id) {
                    return StepResult::Failed(AwsError::check(
                        "TagInstance",
                        "NotIsolated",
                        format!(
                            "{instance_id} is not isolated, so it is not marked quarantined; a retry tags it once it is"
                        ),
                    ));
                }
                ec2::tag_instance(ec2, instance_id, tags, dry).await
            }
            Step::DeactivateAccessKey {
                user_name,
                access_key_id,
            } => iam::set_key_status(&clients.iam, user_name, access_key_id, StatusType::Inactive).await,
            Step::DenyAllUser { user_name, reach } => iam::deny_user(&clients.iam, user_name, reach).await,
            Step::RevokeRoleSessions { role_name, reach } => iam::deny_role(&clients.iam, role_name, reach).await,
            Step::RevokeGroupRules {
                group_id,
                ingress,
                egress,
            } => posture::revoke_rules(ec2, group_id, ingress, egress, dry).await,
            Step::BlockPublicAccess { bucket } => posture::block_public_access(&clients.s3, bucket).await,
            Step::RestoreAccountBlock { account_id, .. } => {
                account_block::restore(&account_block::client(&clients.sdk_config), account_id).await
            }
            Step::StartLogging { trail, unrecorded } => {
                trail::start_logging(&cloudtrail::client(&clients.sdk_config), trail, unrecorded).await
            }
            Step::StartRecorder { name, unrecorded } => recorder::start(&clients.config, name, unrecorded).await,
            Step::SetDefaultEncryption { bucket, kms_key_id } => {
                posture::set_default_encryption(&clients.s3, bucket, kms_key_id.as_deref()).await
            }
            Step::RestoreInterfaces { interfaces, .. } => release::restore_interfaces(ec2, interfaces, dry).await,
            Step::RestoreAddresses { addresses, .. } => release::restore_addresses(ec2, addresses, dry).await,
            Step::RestoreProtection {
                instance_id,
                termination_protection,
                shutdown_behavior,
            } => {
                release::restore_protection(
                    ec2,
                    instance_id,
                    *termination_protection,
                    shutdown_behavior.as_deref(),
                    dry,
                )
                .await
            }
            Step::MarkReleased {
                instance_id,
                released_at,
            } => release::mark_released(ec2, instance_id, released_at, dry).await,
            Step::RemoveInstanceDeny {
                instance_profile,
                instance_id,
                policy,
            } => release::remove_instance_deny(&clients.iam, instance_profile, instance_id, policy).await,
            Step::RemoveDeny { kind, name, policy } => release::remove_deny(&clients.iam, *kind, name, policy).await,
            Step::ReactivateAccessKey {
                user_name,
                access_key_id,
            } => iam::set_key_status(&clients.iam, user_name, access_key_id, StatusType::Active).await,
            Step::PublishFunctionVersion {
                function_name,
                code_sha256,
            } => {
                lambda::publish_version(
                    &clients.lambda,
                    function_name,
                    code_sha256.as_deref(),
                    &self.incident.id,
                )
                .await
            }
            Step::ThrottleFunction { function_name } => lambda::throttle(&clients.lambda, function_name).await,
            Step::RestoreFunctionConcurrency {
                function_name,
                reserved,
            } => lambda::restore_concurrency(&clients.lambda, function_name, *reserved).await,
            Step::SnapshotDatabase {
                db_instance_id,
                cluster_id,
                snapshot_id,
                tags,
            } => rds::snapshot_database(&clients.rds, db_instance_id, cluster_id.as_deref(), snapshot_id, tags).await,
            Step::VerifyIsolation { interfaces, .. } => {
                if at.dry_run {
                    return StepResult::DryRun(None);
                }
                if self.plan.hold.is_some() && !self.approved {
                    return StepResult::Held;
                }
                ec2::verify_isolation(ec2, interfaces).await
            }
            Step::Page => {
                let page = page::compose(
                    self.incident,
                    self.plan,
                    before,
                    &self.ledger.uri(),
                    self.approved,
                    &self.page,
                );
                return self
                    .once(name, |_| notify::publish(&self.home.sns, self.topic_arn, &page))
                    .await;
            }
            Step::UpdateFinding { finding, resolve } => {
                if self.plan.dry_run {
                    return StepResult::DryRun(Some("not written back: a dry run changes nothing".to_owned()));
                }
                let (status, note) =
                    crate::page::write_back::write_back(self.incident, self.plan, before, &self.ledger.uri(), *resolve);
                return match self
                    .once(name, |_| {
                        securityhub::update_finding(&self.home.securityhub, finding, status, &note)
                    })
                    .await
                {
                    // Security Hub is off where the finding is kept: no retry turns it on, and
                    // the response stands.
                    StepResult::Failed(err) if securityhub::hub_off(&err) => StepResult::Declined(format!(
                        "Security Hub refused the write-back: it is not enabled in this account and region \
                         ({}); the response stands, and the finding keeps its status",
                        err.code
                    )),
                    other => other,
                };
            }
            Step::Timeline {
                lookups,
                start,
                max_events,
            } => {
                self.timeline(
                    clients,
                    lookups,
                    start,
                    *max_events,
                    &self.timeline_name(lookups),
                    objects,
                )
                .await
            }
            Step::SweepPersistence { guards } => self.sweep(clients, at.index, guards, before).await,
            Step::ConfigHistory { resource, start } => self.config_history(clients, resource, start, objects).await,
            Step::PageUpdate => {
                let Some(earlier) = owed_update(self.plan, before) else {
                    return StepResult::NotNeeded;
                };
                let page = page::compose_follow_up(
                    self.incident,
                    self.plan,
                    before,
                    &self.ledger.uri(),
                    self.approved,
                    &earlier,
                    &self.page,
                );
                return self
                    .once(name, |_| notify::publish(&self.home.sns, self.topic_arn, &page))
                    .await;
            }
        };
        if dry {
            return StepResult::DryRun(Some(dry_run_verdict(&result)));
        }
        result.into()
    }

    /// Runs a step that must happen once per incident (an isolation, a snapshot set, a page).
    /// The run's owner just does it: concurrent deliveries wait for its report. Any other run
    /// claims it in the ledger first; if another invocation holds the claim, it waits for
    /// that one's record, and if none comes, fails so that Lambda retries once the claim has
    /// lapsed.
    async fn once<F>(&self, name: &str, action: impl FnOnce(Claimed) -> F) -> StepResult
    where
        F: Future<Output = Result<Done, AwsError>>,
    {
        if self.owner {
            return action(Claimed::Fresh).await.into();
        }
        match self.ledger.claim(name, self.budget.deadline).await {
            Err(err) => StepResult::Failed(ledger_failure(err)),
            Ok(claimed @ (Claimed::Fresh | Claimed::TakenOver)) => match action(claimed).await {
                Ok(done) => StepResult::Done(done),
                Err(err) => {
                    // Nothing was done: free the claim so that the retry may act at once.
                    if let Err(release) = self.ledger.unclaim(name).await {
                        tracing::warn!(error = %chain(&release), "could not release the claim; it lapses on its own");
                    }
                    StepResult::Failed(err)
                }
            },
            Ok(Claimed::Elsewhere) => match self.ledger.wait_for(name).await {
                Ok(Some(record)) => StepResult::Recorded(record),
                Ok(None) => StepResult::Failed(AwsError::check(
                    "Claim",
                    "InProgressElsewhere",
                    "another invocation is running this step".to_owned(),
                )),
                Err(err) => StepResult::Failed(ledger_failure(err)),
            },
        }
    }

    /// Writes the raw event and the pre-containment state, once each, together.
    async fn record_evidence(&self, objects: &mut Vec<EvidenceObject>) -> Result<Done, AwsError> {
        let (event, state) = tokio::join!(
            self.ledger.create_json(evidence::EVENT, &self.incident.raw),
            self.ledger.create_json(evidence::PRE_STATE, &self.plan.observation)
        );
        let mut written = Vec::new();
        for created in [event, state] {
            match created.map_err(ledger_failure)? {
                Created::Written(object) => {
                    written.push(object.clone());
                    objects.push(object);
                }
                Created::Exists => {}
            }
        }
        Ok(Done::new([], serde_json::json!({ "objects": written })))
    }
}

/// Whether the plan isolated `instance_id` (its own isolation step done, by this run or an
/// earlier one): in an attack sequence, another member's isolation says nothing of this one.
fn isolated(plan: &Plan, before: &[StepReport], instance_id: &str) -> bool {
    before.iter().any(|s| {
        s.succeeded()
            && matches!(
                plan.steps.get(s.index).map(|p| &p.step),
                Some(Step::IsolateInterfaces { instance_id: isolated, .. }) if isolated == instance_id
            )
    })
}

/// The steps a page sent by an earlier run reported as failed, when every one of them has
/// now succeeded: the person paged must not be left believing the response failed. `None`
/// when no update is owed (the page went out in this run, reported nothing failed, or some
/// step still fails: a later retry decides again).
fn owed_update(plan: &Plan, before: &[StepReport]) -> Option<Vec<String>> {
    let page = before
        .iter()
        .find(|s| matches!(plan.steps.get(s.index).map(|p| &p.step), Some(Step::Page)))?;
    let Some(StepOutput::PageSent { failed }) = &page.output else {
        return None;
    };
    let owed = page.outcome == Outcome::AlreadyDone && !failed.is_empty() && before.iter().all(StepReport::succeeded);
    owed.then(|| failed.clone())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lambda_deadlines_as_epoch_or_duration() {
        let epoch = Budget::lambda_deadline(1_800_000_000_000);
        assert_eq!(
            epoch.deadline,
            Some(SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000))
        );
        let relative = Budget::lambda_deadline(600_000).deadline.unwrap();
        let left = relative.duration_since(SystemTime::now()).unwrap_or_default();
        assert!(
            left > Duration::from_secs(590) && left <= Duration::from_secs(600),
            "{left:?}"
        );
    }

    fn ec2_plan() -> Plan {
        let event = serde_json::json!({
            "id": "f1", "type": "Backdoor:EC2/C&CActivity.B", "severity": 8,
            "resource": {"resourceType": "Instance", "instanceDetails": {"instanceId": "i-1"}}
        });
        let incident = crate::intake::parse(&event).unwrap().incident().unwrap();
        let settings = crate::settings::Settings::from_lookup(|var| match var {
            "TOURNIQUET_TOPIC_ARN" => Some("arn:aws:sns:us-east-1:123456789012:pages".into()),
            "TOURNIQUET_EVIDENCE_BUCKET" => Some("evidence".into()),
            _ => None,
        })
        .unwrap();
        let policy = crate::policy::Policy::new(&settings).unwrap();
        let state = crate::observation::InstanceState {
            instance_id: "i-1".into(),
            quarantined_elsewhere: Some(0),
            interfaces: vec![crate::observation::InterfaceState {
                id: "eni-1".into(),
                vpc_id: "vpc-1".into(),
                ..Default::default()
            }],
            ..Default::default()
        };
        let target = crate::target::target(&incident, &policy);
        let observation = crate::observation::Observation::Instance(Box::new(state));
        crate::plan::plan(&incident, &target, &observation, &policy, SystemTime::UNIX_EPOCH)
    }

    fn report(plan: &Plan, action: &str, outcome: Outcome, output: Option<StepOutput>) -> StepReport {
        let index = plan.steps.iter().position(|s| s.step.action() == action).unwrap();
        StepReport {
            outcome,
            output,
            ..StepReport::new(index, action, String::new())
        }
    }

    #[test]
    fn an_update_is_owed_only_for_an_earlier_page_that_reported_failures_now_mended() {
        let plan = ec2_plan();
        let sent = |outcome, failed: &[&str]| {
            let failed = failed.iter().map(|f| (*f).to_owned()).collect();
            report(&plan, "page", outcome, Some(StepOutput::PageSent { failed }))
        };
        let mended = report(&plan, "protect-instance", Outcome::Done, None);
        let owed = owed_update(
            &plan,
            &[mended.clone(), sent(Outcome::AlreadyDone, &["protect-instance"])],
        );
        assert_eq!(owed, Some(vec!["protect-instance".to_owned()]));
        // The page went out in this run: it already says what happened.
        assert_eq!(
            owed_update(&plan, &[mended.clone(), sent(Outcome::Done, &["protect-instance"])]),
            None
        );
        // The earlier page reported nothing failed.
        assert_eq!(owed_update(&plan, &[mended, sent(Outcome::AlreadyDone, &[])]), None);
        // Still failing: a later retry decides again.
        let failing = report(&plan, "protect-instance", Outcome::Failed, None);
        assert_eq!(
            owed_update(&plan, &[failing, sent(Outcome::AlreadyDone, &["protect-instance"])]),
            None
        );
    }

    #[test]
    fn the_quarantine_tag_waits_for_its_own_instances_done_isolation() {
        let plan = ec2_plan();
        let id = "i-1";
        let isolation = |outcome| report(&plan, "isolate-interfaces", outcome, None);
        assert!(isolated(&plan, &[isolation(Outcome::Done)], id));
        assert!(isolated(&plan, &[isolation(Outcome::AlreadyDone)], id));
        assert!(!isolated(&plan, &[isolation(Outcome::Failed)], id));
        assert!(!isolated(
            &plan,
            &[report(&plan, "protect-instance", Outcome::Done, None)],
            id
        ));
        // Another instance's isolation (an attack sequence's other member) says nothing.
        assert!(!isolated(&plan, &[isolation(Outcome::Done)], "i-0other"));
    }

    #[test]
    fn a_budget_always_allows_the_first_step() {
        let past = Budget {
            deadline: Some(SystemTime::UNIX_EPOCH),
            max_steps: None,
        };
        assert_eq!(past.spent(0), None);
        assert!(past.spent(1).is_some_and(|r| r.contains("deadline")));
        let two = Budget {
            deadline: None,
            max_steps: Some(2),
        };
        assert_eq!(two.spent(1), None);
        assert!(two.spent(2).is_some());
    }
}
