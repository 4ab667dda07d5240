//! The evidence bucket as a ledger: write-once objects under `incidents/<id>/` record what is done.

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_sdk_s3::Client;
use aws_sdk_s3::primitives::{ByteStream, ByteStreamError, DateTime, DateTimeFormat};
use futures_util::future::try_join_all;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use thiserror::Error;

use crate::actions::{AwsError, sdk};
use crate::incident::Incident;
use crate::intake::{self, IntakeError};
use crate::names::{self, evidence};
use crate::plan::Plan;
use crate::report::{EvidenceObject, StepReport};
#[cfg(test)]
use crate::telemetry::chain;

pub mod index;

/// A claim older than this belongs to an invocation that is gone (the function timeout is
/// shorter), and may be taken over; the lease of a claim or plan whose owner knew no deadline
/// (outside Lambda), or of a record written before owners recorded their deadline.
pub const CLAIM_LEASE: Duration = Duration::from_secs(150);

/// How long past its owner's deadline a claim still holds: the owner's clock and S3's may
/// differ by this much.
pub const CLAIM_MARGIN: Duration = Duration::from_secs(30);

/// The S3 user metadata on `plan.json` saying until when (epoch seconds) the invocation that
/// wrote it may still be running it: its Lambda deadline and [`CLAIM_MARGIN`].
const OWNED_UNTIL: &str = "owned-until";

/// How many times, half a second apart, to look for another invocation's record.
pub const WAIT_ATTEMPTS: u32 = 20;

/// Why the ledger could not be read or written.
#[derive(Debug, Error)]
pub enum LedgerError {
    #[error(transparent)]
    Aws(#[from] AwsError),
    #[error("{name} does not read as a ledger record")]
    Corrupt {
        name: String,
        #[source]
        source: serde_json::Error,
    },
    #[error("{name} could not be serialized")]
    Serialize {
        name: String,
        #[source]
        source: serde_json::Error,
    },
    #[error("reading {name} failed midway")]
    Body {
        name: String,
        #[source]
        source: ByteStreamError,
    },
    #[error("the write of {name} was lost")]
    Lost {
        name: String,
        #[source]
        source: tokio::task::JoinError,
    },
    #[error("{name} is missing")]
    Missing { name: String },
    #[error("{name} does not read as an event")]
    Event {
        name: String,
        #[source]
        source: IntakeError,
    },
}

impl LedgerError {
    /// The AWS error code, or a name for the ledger's own failure: for step reports.
    #[must_use]
    pub fn code(&self) -> &str {
        match self {
            LedgerError::Aws(err) => &err.code,
            LedgerError::Corrupt { .. } | LedgerError::Event { .. } => "CorruptLedgerRecord",
            LedgerError::Serialize { .. } => "UnserializableRecord",
            LedgerError::Body { .. } => "ReadFailed",
            LedgerError::Lost { .. } => "RecordNotWritten",
            LedgerError::Missing { .. } => "MissingLedgerRecord",
        }
    }
}

/// A record as JSON, or why it cannot be: never an empty object written once for good.
pub fn json(name: &str, value: &impl Serialize) -> Result<Vec<u8>, LedgerError> {
    serde_json::to_vec_pretty(value).map_err(|source| LedgerError::Serialize {
        name: name.to_owned(),
        source,
    })
}

fn parse<T: for<'de> Deserialize<'de>>(name: &str, bytes: &[u8]) -> Result<T, LedgerError> {
    serde_json::from_slice(bytes).map_err(|source| LedgerError::Corrupt {
        name: name.to_owned(),
        source,
    })
}

/// What a write-once put found.
#[derive(Debug, Clone, PartialEq)]
pub enum Created {
    /// The object is new, written by this call.
    Written(EvidenceObject),
    /// The object was already there; nothing was written.
    Exists,
}

/// What the ledger holds for one run of an incident when an invocation starts.
#[derive(Debug, Clone, Default)]
pub struct History {
    /// The run's plan (`plan.json`, or `release/plan.json` for a release).
    pub plan: Option<Plan>,
    /// Completed steps by index.
    pub steps: BTreeMap<usize, StepReport>,
    /// Objects read, with their SHA-256.
    pub objects: Vec<EvidenceObject>,
    /// Whether a run of this plan has written its report (finished, complete or not).
    pub reported: bool,
    /// Until when (epoch seconds) the invocation that wrote the plan may still run it, as it
    /// recorded with the plan; `None` for a plan recorded without it.
    pub owned_until: Option<u64>,
}

impl History {
    /// Whether another invocation may be running the plan right now: no run of it has reported
    /// yet and its writer's deadline (and a margin) has not passed. A plan recorded without
    /// its writer's deadline is owned a [`CLAIM_LEASE`] after it was made.
    #[must_use]
    pub fn maybe_running(&self, now: SystemTime) -> bool {
        let Some(plan) = &self.plan else { return false };
        let until = self.owned_until.or_else(|| {
            DateTime::from_str(&plan.planned_at, DateTimeFormat::DateTime)
                .ok()
                .and_then(|t| SystemTime::try_from(t).ok())
                .map(|t| seconds(t) + CLAIM_LEASE.as_secs())
        });
        !self.reported && until.is_some_and(|until| seconds(now) < until)
    }
}

/// An incident as recorded: its plan and the incident read again from its event. Approval and
/// release start from it.
#[derive(Debug, Clone)]
pub struct Stored {
    pub plan: Plan,
    pub incident: Incident,
}

/// An object as read: its bytes, its ETag (for a conditional replace), and the owner's
/// deadline recorded with it ([`OWNED_UNTIL`]).
struct ObjectRead {
    bytes: Vec<u8>,
    etag: Option<String>,
    owned_until: Option<u64>,
}

#[derive(Debug, Serialize, Deserialize)]
struct ClaimRecord {
    claimed_at: u64,
    /// When the claim lapses: its owner's Lambda deadline and a margin, so the lease follows
    /// the function's timeout whatever it is set to. Records without it lapse a
    /// [`CLAIM_LEASE`] after they were made.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    expires_at: Option<u64>,
}

/// Until when (epoch seconds) an invocation with `deadline`, starting to own something at
/// `from`, may still be running: its deadline and [`CLAIM_MARGIN`], or a [`CLAIM_LEASE`] from
/// `from` when it knows no deadline.
fn owned_until(from: u64, deadline: Option<SystemTime>) -> u64 {
    deadline.map_or(from + CLAIM_LEASE.as_secs(), |d| seconds(d) + CLAIM_MARGIN.as_secs())
}

impl ClaimRecord {
    /// A claim made now by an invocation whose deadline is `deadline`.
    fn now(deadline: Option<SystemTime>) -> Self {
        let claimed_at = epoch_seconds();
        ClaimRecord {
            claimed_at,
            expires_at: Some(owned_until(claimed_at, deadline)),
        }
    }

    fn lapsed(&self, now: u64) -> bool {
        now > self.expires_at.unwrap_or(self.claimed_at + CLAIM_LEASE.as_secs())
    }
}

/// A person's approval as recorded (`approval.json`): the first one owns the approved run
/// until its deadline (and a margin).
#[derive(Debug, Serialize, Deserialize)]
pub struct Approval {
    pub incident_id: String,
    pub approved_at: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<u64>,
}

impl Approval {
    /// An approval made now by an invocation whose deadline is `deadline`.
    #[must_use]
    pub fn now(incident_id: &str, deadline: Option<SystemTime>) -> Self {
        let claim = ClaimRecord::now(deadline);
        Approval {
            incident_id: incident_id.to_owned(),
            approved_at: claim.claimed_at,
            expires_at: claim.expires_at,
        }
    }

    /// Whether the invocation that made it may still be running.
    #[must_use]
    pub fn may_be_running(&self) -> bool {
        !ClaimRecord {
            claimed_at: self.approved_at,
            expires_at: self.expires_at,
        }
        .lapsed(epoch_seconds())
    }
}

/// What claiming a step gave.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Claimed {
    /// The step was free: this invocation owns it.
    Fresh,
    /// The owner's lease ran out: this invocation owns it, and the owner may have done the
    /// step before it died without recording it.
    TakenOver,
    /// Another invocation holds it.
    Elsewhere,
}

/// Which run of an incident a ledger records.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunKind {
    /// The response to the incident.
    First,
    /// The run a person approved after the first was held: its own steps, so each runs (and
    /// pages) once.
    Approved,
    /// The release from quarantine.
    Release,
}

impl RunKind {
    fn steps_dir(self) -> &'static str {
        match self {
            RunKind::First => evidence::STEPS,
            RunKind::Approved => evidence::APPROVED_STEPS,
            RunKind::Release => evidence::RELEASE_STEPS,
        }
    }

    /// The plan this run follows.
    #[must_use]
    pub fn plan_name(self) -> &'static str {
        match self {
            RunKind::First | RunKind::Approved => evidence::PLAN,
            RunKind::Release => evidence::RELEASE_PLAN,
        }
    }
}

/// One incident's folder in the evidence bucket, for one run.
#[derive(Debug, Clone)]
pub struct Ledger {
    s3: Client,
    bucket: String,
    prefix: String,
    run: RunKind,
}

/// Hex SHA-256 of `bytes`.
#[must_use]
pub fn sha256(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

impl Ledger {
    #[must_use]
    pub fn new(s3: Client, bucket: &str, incident_id: &str) -> Self {
        Ledger {
            s3,
            bucket: bucket.to_owned(),
            prefix: names::incident_prefix(incident_id),
            run: RunKind::First,
        }
    }

    /// The same incident's ledger for another run.
    #[must_use]
    pub fn for_run(&self, run: RunKind) -> Self {
        Ledger { run, ..self.clone() }
    }

    #[must_use]
    pub fn run(&self) -> RunKind {
        self.run
    }

    /// Whether step `action` is recorded as done, in the first run or the approved one.
    pub async fn done(&self, action: &str) -> Result<bool, LedgerError> {
        let suffix = format!("-{action}.json");
        for dir in [evidence::STEPS, evidence::APPROVED_STEPS] {
            let names = self.list(dir).await?;
            if names.iter().any(|name| name.ends_with(&suffix)) {
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// `s3://bucket/incidents/<id>/`.
    #[must_use]
    pub fn uri(&self) -> String {
        format!("s3://{}/{}", self.bucket, self.prefix)
    }

    /// Where this run writes its report when it ends: `report.json`, beside its steps' folder.
    #[must_use]
    pub fn report_name(&self) -> String {
        format!(
            "{}{}",
            self.run.steps_dir().trim_end_matches(evidence::STEPS),
            evidence::REPORT
        )
    }

    /// The ledger key of step `index`.
    #[must_use]
    pub fn step_name(&self, index: usize, action: &str) -> String {
        format!("{}{:02}-{action}.json", self.run.steps_dir(), index + 1)
    }

    /// The bucket key of an object of the incident's folder.
    #[must_use]
    pub fn key(&self, name: &str) -> String {
        format!("{}{name}", self.prefix)
    }

    /// The names of the objects under `dir` of the incident's folder, relative to the folder.
    async fn list(&self, dir: &str) -> Result<Vec<String>, LedgerError> {
        Ok(self.listing(dir).await?.into_iter().map(|(name, _)| name).collect())
    }

    /// The objects under `dir` of the incident's folder, relative to the folder, each with
    /// when it was last written.
    async fn listing(&self, dir: &str) -> Result<Vec<(String, Option<DateTime>)>, LedgerError> {
        let mut objects = Vec::new();
        let mut pages = self
            .s3
            .list_objects_v2()
            .bucket(&self.bucket)
            .prefix(format!("{}{dir}", self.prefix))
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            let page = page.map_err(sdk("ListObjectsV2"))?;
            objects.extend(page.contents().iter().filter_map(|o| {
                let name = o.key()?.strip_prefix(&self.prefix)?;
                Some((name.to_owned(), o.last_modified().copied()))
            }));
        }
        Ok(objects)
    }

    /// Reads this run's plan and every completed step record.
    pub async fn history(&self) -> Result<History, LedgerError> {
        let mut names = self.list("").await?;
        let reported = names.contains(&self.report_name());
        let plan_name = self.run.plan_name();
        let steps_dir = self.run.steps_dir();
        names.retain(|name| {
            let is_step = name.starts_with(steps_dir) && name.rsplit_once('.').is_some_and(|(_, ext)| ext == "json");
            name == plan_name || is_step
        });
        // All read at once: a resumed run waits one round trip for them, not one per step.
        let read = try_join_all(names.iter().map(|name| self.read_tagged(name))).await?;
        let mut history = History {
            reported,
            ..History::default()
        };
        for (name, object) in names.into_iter().zip(read) {
            let Some(ObjectRead { bytes, owned_until, .. }) = object else {
                continue;
            };
            history.objects.push(EvidenceObject {
                key: self.key(&name),
                sha256: sha256(&bytes),
            });
            if name == plan_name {
                history.plan = Some(parse(&name, &bytes)?);
                history.owned_until = owned_until;
            } else {
                let step: StepReport = parse(&name, &bytes)?;
                history.steps.insert(step.index, step);
            }
        }
        Ok(history)
    }

    /// The incident's plan and its event read again as an incident; `None` if the folder
    /// holds no plan.
    pub async fn load(&self) -> Result<Option<Stored>, LedgerError> {
        let (plan, event) = tokio::join!(self.read(evidence::PLAN), self.read(evidence::EVENT));
        let Some(plan) = plan? else { return Ok(None) };
        let plan: Plan = parse(evidence::PLAN, &plan)?;
        let event: serde_json::Value = parse(
            evidence::EVENT,
            &event?.ok_or_else(|| LedgerError::Missing {
                name: evidence::EVENT.to_owned(),
            })?,
        )?;
        let read_back = |source| LedgerError::Event {
            name: evidence::EVENT.to_owned(),
            source,
        };
        let incident = intake::parse(&event)
            .map_err(read_back)?
            .stored_incident()
            .ok_or_else(|| {
                read_back(IntakeError::Invalid {
                    path: String::new(),
                    reason: "it is not an incident".to_owned(),
                })
            })?;
        Ok(Some(Stored { plan, incident }))
    }

    /// The approval recorded for this incident, if any.
    pub async fn approval(&self) -> Result<Option<Approval>, LedgerError> {
        match self.read(evidence::APPROVAL).await? {
            Some(bytes) => parse(evidence::APPROVAL, &bytes).map(Some),
            None => Ok(None),
        }
    }

    /// Records `plan` as this run's plan unless one is recorded already. The plan to follow,
    /// and whether this invocation wrote it: the writer owns the run while it lasts, and the
    /// steps that must happen once need no claim of their own in it. The writer's `deadline`
    /// goes with the plan ([`History::maybe_running`]).
    pub async fn plan_once(&self, plan: Plan, deadline: Option<SystemTime>) -> Result<(Plan, bool), LedgerError> {
        let name = self.run.plan_name();
        let until = owned_until(epoch_seconds(), deadline);
        match self
            .put_key_conditionally(self.key(name), json(name, &plan)?, None, Some(until))
            .await?
        {
            Created::Written(_) => Ok((plan, true)),
            Created::Exists => match self.read(name).await? {
                Some(bytes) => Ok((parse(name, &bytes)?, false)),
                None => Err(LedgerError::Missing { name: name.to_owned() }),
            },
        }
    }

    /// An object's bytes, or `None` if it does not exist.
    pub async fn read(&self, name: &str) -> Result<Option<Vec<u8>>, LedgerError> {
        Ok(self.read_tagged(name).await?.map(|object| object.bytes))
    }

    /// An object's bytes, ETag and owner's deadline, or `None` if it does not exist.
    async fn read_tagged(&self, name: &str) -> Result<Option<ObjectRead>, LedgerError> {
        let result = self
            .s3
            .get_object()
            .bucket(&self.bucket)
            .key(self.key(name))
            .send()
            .await;
        let output = match result {
            Ok(output) => output,
            Err(err)
                if err
                    .as_service_error()
                    .is_some_and(aws_sdk_s3::operation::get_object::GetObjectError::is_no_such_key) =>
            {
                return Ok(None);
            }
            Err(err) => return Err(AwsError::from_sdk("GetObject", &err).into()),
        };
        let etag = output.e_tag().map(ToOwned::to_owned);
        let owned_until = output
            .metadata()
            .and_then(|meta| meta.get(OWNED_UNTIL))
            .and_then(|until| until.parse().ok());
        let bytes = output.body.collect().await.map_err(|source| LedgerError::Body {
            name: name.to_owned(),
            source,
        })?;
        Ok(Some(ObjectRead {
            bytes: bytes.to_vec(),
            etag,
            owned_until,
        }))
    }

    /// Writes `value` as `name` only if it does not exist yet (`If-None-Match: *`).
    pub async fn create_json(&self, name: &str, value: &impl Serialize) -> Result<Created, LedgerError> {
        self.create(name, json(name, value)?).await
    }

    /// Writes `name` only if it does not exist yet (`If-None-Match: *`).
    pub async fn create(&self, name: &str, body: Vec<u8>) -> Result<Created, LedgerError> {
        self.put_conditionally(name, body, None).await
    }

    /// Replaces `name` only if it is still the version whose ETag was read (`If-Match`);
    /// `Exists` when another write came first.
    async fn replace(&self, name: &str, body: Vec<u8>, etag: Option<&str>) -> Result<Created, LedgerError> {
        self.put_conditionally(name, body, Some(etag.unwrap_or("\"unknown\"")))
            .await
    }

    /// A conditional put: `If-Match: etag` when given, `If-None-Match: *` otherwise.
    async fn put_conditionally(&self, name: &str, body: Vec<u8>, etag: Option<&str>) -> Result<Created, LedgerError> {
        self.put_key_conditionally(self.key(name), body, etag, None).await
    }

    /// [`Ledger::put_conditionally`] of any key of the bucket (the index lives outside the
    /// incident's folder).
    async fn put_key_conditionally(
        &self,
        key: String,
        body: Vec<u8>,
        etag: Option<&str>,
        owned_until: Option<u64>,
    ) -> Result<Created, LedgerError> {
        let object = EvidenceObject {
            sha256: sha256(&body),
            key,
        };
        let put = self
            .s3
            .put_object()
            .bucket(&self.bucket)
            .key(&object.key)
            .content_type("application/json")
            .set_metadata(owned_until.map(|until| [(OWNED_UNTIL.to_owned(), until.to_string())].into()));
        let put = match etag {
            Some(etag) => put.if_match(etag),
            None => put.if_none_match("*"),
        };
        match put.body(ByteStream::from(body)).send().await {
            Ok(_) => Ok(Created::Written(object)),
            Err(err) => {
                // 412: it exists (or changed since it was read). 409: a concurrent
                // conditional write to the same key won. S3's model has no error types for
                // either, only these codes.
                let err = AwsError::from_sdk("PutObject", &err);
                if err.code == "PreconditionFailed" || err.code == "ConditionalRequestConflict" {
                    Ok(Created::Exists)
                } else {
                    Err(err.into())
                }
            }
        }
    }

    /// Writes `value` as `name`, replacing any earlier version (the bucket keeps versions).
    pub async fn overwrite_json(&self, name: &str, value: &impl Serialize) -> Result<EvidenceObject, LedgerError> {
        self.overwrite(name, json(name, value)?, "application/json").await
    }

    /// Writes `body` as `name`, replacing any earlier version (the bucket keeps versions).
    async fn overwrite(&self, name: &str, body: Vec<u8>, content_type: &str) -> Result<EvidenceObject, LedgerError> {
        let object = EvidenceObject {
            key: self.key(name),
            sha256: sha256(&body),
        };
        self.s3
            .put_object()
            .bucket(&self.bucket)
            .key(&object.key)
            .content_type(content_type)
            .body(ByteStream::from(body))
            .send()
            .await
            .map_err(sdk("PutObject"))?;
        Ok(object)
    }

    /// Claims a step that must not run twice (a snapshot set, an isolation, a page): this
    /// invocation owns it if the claim was free or its owner's lease ran out. The lease ends
    /// at the owner's `deadline` (and a margin). Two invocations that find the same lapsed
    /// claim both try to replace it, each on the ETag it read (`If-Match`): one wins.
    pub async fn claim(&self, step_name: &str, deadline: Option<SystemTime>) -> Result<Claimed, LedgerError> {
        let name = format!("{step_name}{}", evidence::CLAIM_SUFFIX);
        let record = ClaimRecord::now(deadline);
        if let Created::Written(_) = self.create_json(&name, &record).await? {
            return Ok(Claimed::Fresh);
        }
        let Some(ObjectRead { bytes, etag, .. }) = self.read_tagged(&name).await? else {
            // Released since: claim it afresh (a concurrent claimer may win that race).
            return Ok(match self.create_json(&name, &record).await? {
                Created::Written(_) => Claimed::Fresh,
                Created::Exists => Claimed::Elsewhere,
            });
        };
        let lapsed = parse::<ClaimRecord>(&name, &bytes).map_or(true, |c| c.lapsed(epoch_seconds()));
        if !lapsed {
            return Ok(Claimed::Elsewhere);
        }
        Ok(
            match self.replace(&name, json(&name, &record)?, etag.as_deref()).await? {
                Created::Written(_) => Claimed::TakenOver,
                Created::Exists => Claimed::Elsewhere,
            },
        )
    }

    /// Gives up a claim whose step failed, so that a retry can claim it at once.
    pub async fn unclaim(&self, step_name: &str) -> Result<(), LedgerError> {
        self.s3
            .delete_object()
            .bucket(&self.bucket)
            .key(self.key(&format!("{step_name}{}", evidence::CLAIM_SUFFIX)))
            .send()
            .await
            .map_err(sdk("DeleteObject"))?;
        Ok(())
    }

    /// Waits briefly for another invocation's record of step `name`.
    pub async fn wait_for(&self, name: &str) -> Result<Option<StepReport>, LedgerError> {
        match self.wait_for_object(name).await? {
            Some(bytes) => parse(name, &bytes).map(Some),
            None => Ok(None),
        }
    }

    /// Waits briefly for another invocation's run to write its report; true if it did.
    pub async fn wait_for_report(&self) -> Result<bool, LedgerError> {
        Ok(self.wait_for_object(&self.report_name()).await?.is_some())
    }

    async fn wait_for_object(&self, name: &str) -> Result<Option<Vec<u8>>, LedgerError> {
        for attempt in 0..WAIT_ATTEMPTS {
            if let Some(bytes) = self.read(name).await? {
                return Ok(Some(bytes));
            }
            if attempt + 1 < WAIT_ATTEMPTS {
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
        }
        Ok(None)
    }
}

fn seconds(time: SystemTime) -> u64 {
    time.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

fn epoch_seconds() -> u64 {
    seconds(SystemTime::now())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::observation::Observation;
    use crate::policy::Playbook;

    fn planned_at(at: SystemTime) -> History {
        let planned_at = DateTime::from(at).fmt(DateTimeFormat::DateTime).unwrap();
        History {
            plan: Some(Plan {
                incident_id: "guardduty-1".into(),
                playbook: Playbook::PageOnly,
                dry_run: false,
                reason: String::new(),
                planned_at,
                observation: Observation::NotNeeded,
                critical: false,
                hold: None,
                place: None,
                steps: Vec::new(),
            }),
            ..History::default()
        }
    }

    #[test]
    fn a_claim_lapses_after_its_owners_deadline_not_a_fixed_lease() {
        let now = SystemTime::now();
        // A function given 14 minutes: its claim holds for all of them.
        let long = ClaimRecord::now(Some(now + Duration::from_secs(840)));
        assert!(!long.lapsed(seconds(now + Duration::from_secs(600))));
        assert!(long.lapsed(seconds(now + Duration::from_secs(840) + CLAIM_MARGIN) + 1));
        // A record of an older version: the fixed lease.
        let old = ClaimRecord {
            claimed_at: seconds(now),
            expires_at: None,
        };
        assert!(!old.lapsed(seconds(now + CLAIM_LEASE)));
        assert!(old.lapsed(seconds(now + CLAIM_LEASE) + 1));
    }

    #[test]
    fn a_fresh_plan_without_a_report_may_be_running_elsewhere() {
        let now = SystemTime::now();
        assert!(planned_at(now).maybe_running(now));
        let reported = History {
            reported: true,
            ..planned_at(now)
        };
        assert!(!reported.maybe_running(now), "its run has ended");
        let lapsed = planned_at(now - CLAIM_LEASE - Duration::from_secs(1));
        assert!(!lapsed.maybe_running(now), "its invocation is gone");
        assert!(!History::default().maybe_running(now), "no plan yet");
    }

    #[test]
    fn a_plan_is_owned_until_its_writers_deadline_not_a_fixed_lease() {
        let now = SystemTime::now();
        // Written by a function given 14 minutes, 10 minutes ago: still its writer's.
        let written = now - Duration::from_secs(600);
        let long = History {
            owned_until: Some(owned_until(seconds(written), Some(written + Duration::from_secs(840)))),
            ..planned_at(written)
        };
        assert!(long.maybe_running(now));
        assert!(!long.maybe_running(now + Duration::from_secs(240) + CLAIM_MARGIN + Duration::from_secs(1)));
        // Written by a function given 10 seconds, a minute ago: gone, within the fixed lease.
        let written = now - Duration::from_secs(60);
        let short = History {
            owned_until: Some(owned_until(seconds(written), Some(written + Duration::from_secs(10)))),
            ..planned_at(written)
        };
        assert!(!short.maybe_running(now));
    }

    #[test]
    fn each_run_keeps_its_own_steps_and_report() {
        let config = aws_sdk_s3::Config::builder()
            .behavior_version(aws_sdk_s3::config::BehaviorVersion::latest())
            .build();
        let first = Ledger::new(Client::from_conf(config), "evidence", "guardduty-1");
        assert_eq!(first.step_name(0, "page"), "steps/01-page.json");
        assert_eq!(first.report_name(), "report.json");
        let approved = first.for_run(RunKind::Approved);
        assert_eq!(approved.step_name(2, "page"), "approved/steps/03-page.json");
        assert_eq!(approved.report_name(), "approved/report.json");
        let release = first.for_run(RunKind::Release);
        assert_eq!(release.report_name(), "release/report.json");
        assert_eq!(release.run().plan_name(), "release/plan.json");
        assert_eq!(first.uri(), "s3://evidence/incidents/guardduty-1/");
    }

    #[test]
    fn errors_keep_their_causes_once() {
        let source = serde_json::from_str::<Plan>("{").unwrap_err();
        let err = LedgerError::Corrupt {
            name: "plan.json".into(),
            source,
        };
        let text = chain(&err);
        assert!(
            text.starts_with("plan.json does not read as a ledger record: EOF"),
            "{text}"
        );
        assert_eq!(err.code(), "CorruptLedgerRecord");
    }
}
