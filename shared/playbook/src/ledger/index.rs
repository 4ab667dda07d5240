//! The incident index: one small write-once object per run and verdict under `index/`, keyed
//! newest first, so a person lists incidents a page at a time without reading their folders;
//! and the run's `report.html`, written beside its `report.json`.

use std::collections::BTreeMap;

use aws_sdk_s3::primitives::DateTimeFormat;
use serde::{Deserialize, Serialize};

use super::{Created, Ledger, LedgerError, RunKind, json};
use crate::report::EvidenceObject;

/// The index's folder in the evidence bucket.
pub const PREFIX: &str = "index/";

/// The largest time the key's countdown holds (the year 2286): keys sort newest first.
const COUNTDOWN_FROM: i64 = 9_999_999_999;

/// One run of one incident, as the index lists it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Entry {
    /// The incident's folder: its id, with `-dry-run` for a dry run's record.
    pub incident_id: String,
    /// `first`, `approved` or `release`.
    pub run: String,
    /// When the run's plan was made (RFC 3339).
    pub time: String,
    /// When this entry was written (RFC 3339): of one run's entries, the latest is its state.
    pub written_at: String,
    pub account: Option<String>,
    pub region: Option<String>,
    /// The resource as a person searches for it (`i-...`, `AKIA... (alice)`).
    pub resource: String,
    /// The resource's kind (`instance`, `access-key`, ...).
    pub resource_kind: String,
    pub playbook: String,
    pub finding_type: String,
    pub severity: f64,
    /// The page's verdict: `contained`, `held`, `dry-run`, `failed`, `page-only`, `released`.
    pub verdict: String,
    /// What was done, in a few words (the page's outcome).
    pub outcome: String,
    /// The run's report (`incidents/<id>/report.html`).
    pub report: String,
}

impl Entry {
    /// The entry's key: `index/<countdown>-<incident>-<run>-<verdict>.json`, the countdown
    /// being seconds to the year 2286 from the plan's time, so a listing starts with the newest.
    #[must_use]
    pub fn key(&self) -> String {
        let at = crate::page::html::epoch_seconds(&self.time).unwrap_or(0);
        format!(
            "{PREFIX}{:010}-{}-{}-{}.json",
            (COUNTDOWN_FROM - at).clamp(0, COUNTDOWN_FROM),
            self.incident_id,
            self.run,
            self.verdict
        )
    }

    /// The plan's time, in epoch seconds, read back from a key (for `--since` without reading
    /// the object).
    #[must_use]
    pub fn time_of_key(key: &str) -> Option<i64> {
        let countdown: i64 = key.strip_prefix(PREFIX)?.get(..10)?.parse().ok()?;
        Some(COUNTDOWN_FROM - countdown)
    }
}

/// The name of a run's run in the index.
#[must_use]
pub fn run_name(run: RunKind) -> &'static str {
    match run {
        RunKind::First => "first",
        RunKind::Approved => "approved",
        RunKind::Release => "release",
    }
}

impl Ledger {
    /// Where this run writes its HTML report: `report.html` beside its `report.json`.
    #[must_use]
    pub fn report_page_name(&self) -> String {
        let run = self.run();
        crate::names::evidence::report_page(run == RunKind::Release, run == RunKind::Approved).to_owned()
    }

    /// The incident's folder name (its id, or its dry run's `<id>-dry-run`).
    #[must_use]
    pub fn folder(&self) -> &str {
        let prefix = self.prefix.strip_prefix("incidents/").unwrap_or(&self.prefix);
        prefix.trim_end_matches('/')
    }

    /// When each of this run's steps was recorded (the record's last modification, RFC 3339),
    /// by step index.
    pub async fn step_times(&self) -> Result<BTreeMap<usize, String>, LedgerError> {
        let dir = self.run.steps_dir();
        Ok(self
            .listing(dir)
            .await?
            .into_iter()
            .filter_map(|(name, written)| {
                let number = name
                    .strip_prefix(dir)
                    .filter(|n| std::path::Path::new(n).extension().is_some_and(|e| e == "json"))?
                    .split('-')
                    .next()?
                    .parse::<usize>()
                    .ok()?;
                Some((number.saturating_sub(1), written?.fmt(DateTimeFormat::DateTime).ok()?))
            })
            .collect())
    }

    /// Writes this run's HTML report, replacing an earlier one (the bucket keeps versions),
    /// as `text/html` so the console opens it as a page.
    pub async fn put_report_page(&self, html: String) -> Result<EvidenceObject, LedgerError> {
        self.overwrite(&self.report_page_name(), html.into_bytes(), "text/html; charset=utf-8")
            .await
    }

    /// Adds `entry` to the index unless it is there already (`If-None-Match: *`).
    pub async fn index_once(&self, entry: &Entry) -> Result<Created, LedgerError> {
        let key = entry.key();
        let body = json(&key, entry)?;
        self.put_key_conditionally(key, body, None, None).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(time: &str) -> Entry {
        Entry {
            incident_id: "guardduty-1".into(),
            run: "first".into(),
            time: time.into(),
            written_at: time.into(),
            account: Some("111122223333".into()),
            region: Some("us-east-1".into()),
            resource: "i-1".into(),
            resource_kind: "instance".into(),
            playbook: "ec2-compromise".into(),
            finding_type: "UnauthorizedAccess:EC2/SSHBruteForce".into(),
            severity: 8.0,
            verdict: "contained".into(),
            outcome: "isolated".into(),
            report: "incidents/guardduty-1/report.html".into(),
        }
    }

    #[test]
    fn keys_list_the_newest_first_and_carry_their_time() {
        let older = entry("2024-06-11T03:20:00Z").key();
        let newer = entry("2024-06-12T03:20:00Z").key();
        assert!(newer < older, "{newer} sorts before {older}");
        assert_eq!(older, "index/8281923999-guardduty-1-first-contained.json");
        assert_eq!(Entry::time_of_key(&older), Some(1_718_076_000));
        assert_eq!(Entry::time_of_key("index/x"), None);
    }

    #[test]
    fn each_run_has_its_report_page_beside_its_report() {
        let config = aws_sdk_s3::Config::builder()
            .behavior_version(aws_sdk_s3::config::BehaviorVersion::latest())
            .build();
        let first = Ledger::new(aws_sdk_s3::Client::from_conf(config), "evidence", "guardduty-1");
        assert_eq!(first.report_page_name(), "report.html");
        assert_eq!(
            first.for_run(RunKind::Approved).report_page_name(),
            "approved/report.html"
        );
        assert_eq!(
            first.for_run(RunKind::Release).report_page_name(),
            "release/report.html"
        );
        for run in [RunKind::First, RunKind::Approved, RunKind::Release] {
            let ledger = first.for_run(run);
            assert_eq!(
                ledger.report_page_name().trim_end_matches(".html"),
                ledger.report_name().trim_end_matches(".json"),
                "beside its report.json"
            );
        }
        assert_eq!(first.key("report.html"), "incidents/guardduty-1/report.html");
        assert_eq!(run_name(RunKind::Approved), "approved");
    }
}
