//! The evidence bucket as a ledger: write-once objects under `incidents/<id>/` record what is done.

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_sdk_s3::Client;
use aws_sdk_s3::primitives::{ByteStream, DateTime, DateTimeFormat};
use futures_util::future::try_join_all;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::actions::{AwsError, sdk};
use crate::names;
use crate::plan::Plan;
use crate::report::{EvidenceObject, StepReport};

/// A claim older than this belongs to an invocation that is gone (the function timeout is
/// shorter), and may be taken over.
pub const CLAIM_LEASE: Duration = Duration::from_secs(150);

/// How many times, half a second apart, to look for another invocation's record.
pub const WAIT_ATTEMPTS: u32 = 20;

/// What a write-once put found.
#[derive(Debug, Clone, PartialEq)]
pub enum Created {
    /// The object is new, written by this call.
    Written(EvidenceObject),
    /// The object was already there; nothing was written.
    Exists,
}

/// What the ledger holds for an incident when an invocation starts.
#[derive(Debug, Clone, Default)]
pub struct History {
    pub plan: Option<Plan>,
    /// The release plan (`release/plan.json`), once one is made.
    pub release_plan: Option<Plan>,
    /// Completed steps by index.
    pub steps: BTreeMap<usize, StepReport>,
    /// Objects read, with their SHA-256.
    pub objects: Vec<EvidenceObject>,
    /// Whether a run of this plan has written its report (finished, complete or not).
    pub reported: bool,
}

impl History {
    /// Whether another invocation may be running the plan right now: it was made less than a
    /// claim lease ago and no run of it has reported yet.
    #[must_use]
    pub fn maybe_running(&self, now: SystemTime) -> bool {
        let Some(plan) = &self.plan else { return false };
        let planned = DateTime::from_str(&plan.planned_at, DateTimeFormat::DateTime)
            .ok()
            .and_then(|t| SystemTime::try_from(t).ok());
        !self.reported && planned.is_some_and(|t| now.duration_since(t).unwrap_or_default() < CLAIM_LEASE)
    }
}

#[derive(Debug, Serialize, Deserialize)]
struct ClaimRecord {
    claimed_at: u64,
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

/// One incident's folder in the evidence bucket.
#[derive(Debug, Clone)]
pub struct Ledger {
    s3: Client,
    bucket: String,
    prefix: String,
    /// Where step records go: `steps/`, or `approved/steps/` for the run a person approved.
    steps_dir: &'static str,
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
            steps_dir: "steps/",
        }
    }

    /// The same incident's ledger for the run a person approved: its steps are recorded apart
    /// from the held run's, so each runs (and pages) once.
    #[must_use]
    pub fn approved(&self) -> Self {
        Ledger {
            steps_dir: "approved/steps/",
            ..self.clone()
        }
    }

    /// The same incident's ledger for its release from quarantine.
    #[must_use]
    pub fn releasing(&self) -> Self {
        Ledger {
            steps_dir: "release/steps/",
            ..self.clone()
        }
    }

    /// Whether step `action` is recorded as done, in the main run or the approved one.
    pub async fn done(&self, action: &str) -> Result<bool, AwsError> {
        for dir in ["steps/", "approved/steps/"] {
            let mut pages = self
                .s3
                .list_objects_v2()
                .bucket(&self.bucket)
                .prefix(format!("{}{dir}", self.prefix))
                .into_paginator()
                .send();
            while let Some(page) = pages.next().await {
                let page = page.map_err(sdk("ListObjectsV2"))?;
                let suffix = format!("-{action}.json");
                if page
                    .contents()
                    .iter()
                    .any(|o| o.key().is_some_and(|k| k.ends_with(&suffix)))
                {
                    return Ok(true);
                }
            }
        }
        Ok(false)
    }

    /// `s3://bucket/incidents/<id>/`.
    #[must_use]
    pub fn uri(&self) -> String {
        format!("s3://{}/{}", self.bucket, self.prefix)
    }

    /// Where a run writes its report when it ends: `report.json`, beside its steps' folder.
    #[must_use]
    pub fn report_name(&self) -> String {
        format!("{}report.json", self.steps_dir.trim_end_matches("steps/"))
    }

    /// Where the update page is recorded, beside the report (outside the steps' folder: it is
    /// not a planned step).
    #[must_use]
    pub fn follow_up_name(&self) -> String {
        format!("{}follow-up.json", self.steps_dir.trim_end_matches("steps/"))
    }

    /// The ledger key of step `index`.
    #[must_use]
    pub fn step_name(&self, index: usize, action: &str) -> String {
        format!("{}{:02}-{action}.json", self.steps_dir, index + 1)
    }

    fn key(&self, name: &str) -> String {
        format!("{}{name}", self.prefix)
    }

    /// Reads the plan and every completed step record.
    pub async fn history(&self) -> Result<History, AwsError> {
        let mut names = Vec::new();
        let mut pages = self
            .s3
            .list_objects_v2()
            .bucket(&self.bucket)
            .prefix(&self.prefix)
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            let page = page.map_err(sdk("ListObjectsV2"))?;
            for object in page.contents() {
                if let Some(name) = object.key().and_then(|k| k.strip_prefix(&self.prefix)) {
                    names.push(name.to_owned());
                }
            }
        }
        let reported = names.contains(&self.report_name());
        names.retain(|name| {
            let is_step =
                name.starts_with(self.steps_dir) && name.rsplit_once('.').is_some_and(|(_, ext)| ext == "json");
            name == "plan.json" || name == "release/plan.json" || is_step
        });
        // All read at once: a resumed run waits one round trip for them, not one per step.
        let read = try_join_all(names.iter().map(|name| self.read(name))).await?;
        let mut history = History {
            reported,
            ..History::default()
        };
        for (name, bytes) in names.into_iter().zip(read) {
            let Some(bytes) = bytes else { continue };
            history.objects.push(EvidenceObject {
                key: self.key(&name),
                sha256: sha256(&bytes),
            });
            if name == "plan.json" {
                history.plan = Some(serde_json::from_slice(&bytes).map_err(|e| corrupt(&name, &e))?);
            } else if name == "release/plan.json" {
                history.release_plan = Some(serde_json::from_slice(&bytes).map_err(|e| corrupt(&name, &e))?);
            } else {
                let step: StepReport = serde_json::from_slice(&bytes).map_err(|e| corrupt(&name, &e))?;
                history.steps.insert(step.index, step);
            }
        }
        Ok(history)
    }

    /// An object's bytes, or `None` if it does not exist.
    pub async fn read(&self, name: &str) -> Result<Option<Vec<u8>>, AwsError> {
        match self
            .s3
            .get_object()
            .bucket(&self.bucket)
            .key(self.key(name))
            .send()
            .await
        {
            Ok(output) => {
                let bytes = output
                    .body
                    .collect()
                    .await
                    .map_err(|e| AwsError::check("GetObject", "ReadFailed", e.to_string()))?;
                Ok(Some(bytes.to_vec()))
            }
            Err(err) => {
                let err = AwsError::from_sdk("GetObject", &err);
                if err.code == "NoSuchKey" { Ok(None) } else { Err(err) }
            }
        }
    }

    /// Writes `name` only if it does not exist yet (`If-None-Match: *`).
    pub async fn create(&self, name: &str, body: Vec<u8>) -> Result<Created, AwsError> {
        let object = EvidenceObject {
            key: self.key(name),
            sha256: sha256(&body),
        };
        let result = self
            .s3
            .put_object()
            .bucket(&self.bucket)
            .key(&object.key)
            .content_type("application/json")
            .if_none_match("*")
            .body(ByteStream::from(body))
            .send()
            .await;
        match result {
            Ok(_) => Ok(Created::Written(object)),
            Err(err) => {
                let err = AwsError::from_sdk("PutObject", &err);
                // 412: it exists. 409: a concurrent conditional write to the same key won.
                if err.code == "PreconditionFailed" || err.code == "ConditionalRequestConflict" {
                    Ok(Created::Exists)
                } else {
                    Err(err)
                }
            }
        }
    }

    /// Writes `name`, replacing any earlier version (the bucket keeps versions).
    pub async fn overwrite(&self, name: &str, body: Vec<u8>) -> Result<EvidenceObject, AwsError> {
        let object = EvidenceObject {
            key: self.key(name),
            sha256: sha256(&body),
        };
        self.s3
            .put_object()
            .bucket(&self.bucket)
            .key(&object.key)
            .content_type("application/json")
            .body(ByteStream::from(body))
            .send()
            .await
            .map_err(sdk("PutObject"))?;
        Ok(object)
    }

    /// Claims a step that must not run twice (a snapshot set, a page): this invocation owns
    /// it if the claim was free or its owner's lease ran out.
    pub async fn claim(&self, step_name: &str) -> Result<Claimed, AwsError> {
        let name = format!("{step_name}.claim");
        let body = serde_json::to_vec(&ClaimRecord {
            claimed_at: epoch_seconds(),
        })
        .unwrap_or_default();
        if let Created::Written(_) = self.create(&name, body.clone()).await? {
            return Ok(Claimed::Fresh);
        }
        let stale = match self.read(&name).await? {
            None => true,
            Some(bytes) => serde_json::from_slice::<ClaimRecord>(&bytes).map_or(true, |c| {
                epoch_seconds().saturating_sub(c.claimed_at) > CLAIM_LEASE.as_secs()
            }),
        };
        if !stale {
            return Ok(Claimed::Elsewhere);
        }
        self.overwrite(&name, body).await?;
        Ok(Claimed::TakenOver)
    }

    /// Gives up a claim whose step failed, so that a retry can claim it at once.
    pub async fn unclaim(&self, step_name: &str) -> Result<(), AwsError> {
        self.s3
            .delete_object()
            .bucket(&self.bucket)
            .key(self.key(&format!("{step_name}.claim")))
            .send()
            .await
            .map_err(sdk("DeleteObject"))?;
        Ok(())
    }

    /// Waits briefly for another invocation's record of step `name`.
    pub async fn wait_for(&self, name: &str) -> Result<Option<StepReport>, AwsError> {
        match self.wait_for_object(name).await? {
            Some(bytes) => serde_json::from_slice(&bytes).map(Some).map_err(|e| corrupt(name, &e)),
            None => Ok(None),
        }
    }

    /// Waits briefly for another invocation's run to write its report; true if it did.
    pub async fn wait_for_report(&self) -> Result<bool, AwsError> {
        Ok(self.wait_for_object(&self.report_name()).await?.is_some())
    }

    async fn wait_for_object(&self, name: &str) -> Result<Option<Vec<u8>>, AwsError> {
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

fn corrupt(name: &str, err: &serde_json::Error) -> AwsError {
    AwsError::check("GetObject", "CorruptLedgerRecord", format!("{name}: {err}"))
}

fn epoch_seconds() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
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
                steps: Vec::new(),
            }),
            ..History::default()
        }
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
}
