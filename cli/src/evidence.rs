//! Reading the evidence bucket: the incident index a page at a time, and one incident's folder.

use std::collections::BTreeMap;
use std::time::{SystemTime, UNIX_EPOCH};

use futures_util::{StreamExt as _, TryStreamExt as _};
use playbook::ledger::index::{Entry, PREFIX};
use playbook::names::{evidence, incident_prefix};
use playbook::page::{Context, Page, compose};
use playbook::timeline::Timeline;
use playbook::{Incident, Plan, Report};

use crate::error::CliError;
use crate::invoke::{Aws, PageNames};

/// `30m`, `24h`, `7d` back from now, in epoch seconds.
pub fn parse_since(text: &str) -> Result<i64, CliError> {
    let bad = || {
        CliError::Usage(format!(
            "--since {text}: give minutes, hours or days, as 30m, 24h or 7d"
        ))
    };
    let (number, unit) = text.split_at(text.len().saturating_sub(1));
    let number: i64 = number.parse().map_err(|_| bad())?;
    let seconds = match unit {
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        _ => return Err(bad()),
    };
    Ok(now() - number * seconds)
}

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

/// `2024-06-11 03:20 UTC`.
#[must_use]
pub fn clock(epoch: i64) -> String {
    let days = epoch.div_euclid(86_400);
    let of_day = epoch.rem_euclid(86_400);
    // Civil date from days (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02} UTC",
        of_day / 3600,
        (of_day % 3600) / 60
    )
}

/// The incidents indexed since `since`, newest first, each in its latest state, at most
/// `limit` of those `keep` accepts. Reads the index a page at a time and stops at the first
/// entry older than `since`: the rest of the bucket is never listed.
pub async fn incidents(
    aws: &Aws,
    since: i64,
    limit: usize,
    keep: impl Fn(&Entry) -> bool,
) -> Result<Vec<Entry>, CliError> {
    let bucket = aws.bucket().await?;
    let bucket = bucket.as_str();
    let progress = crate::invoke::Progress::start("reading the incident index");
    let mut latest: BTreeMap<String, Entry> = BTreeMap::new();
    let mut order: Vec<String> = Vec::new();
    let mut pages = aws
        .s3
        .list_objects_v2()
        .bucket(bucket)
        .prefix(PREFIX)
        .max_keys(200)
        .into_paginator()
        .send();
    'pages: while let Some(page) = pages.next().await {
        let page = page.map_err(|e| CliError::aws("ListObjectsV2", &e))?;
        let mut keys = Vec::new();
        let mut done = false;
        for object in page.contents() {
            let Some(key) = object.key() else { continue };
            if Entry::time_of_key(key).is_some_and(|t| t < since) {
                done = true;
                break;
            }
            keys.push(key.to_owned());
        }
        let entries: Vec<Entry> = futures_util::stream::iter(keys)
            .map(|key| read_json::<Entry>(aws, bucket, key))
            .buffered(16)
            .try_collect::<Vec<_>>()
            .await?
            .into_iter()
            .flatten()
            .collect();
        for entry in entries {
            match latest.get(&entry.incident_id) {
                Some(known) if later(known, &entry) => {}
                Some(_) => {
                    latest.insert(entry.incident_id.clone(), entry);
                }
                None => {
                    order.push(entry.incident_id.clone());
                    latest.insert(entry.incident_id.clone(), entry);
                }
            }
        }
        let kept = order.iter().filter(|id| latest.get(*id).is_some_and(&keep)).count();
        if done || kept >= limit {
            break 'pages;
        }
    }
    drop(progress);
    Ok(order
        .into_iter()
        .filter_map(|id| latest.remove(&id))
        .filter(|e| keep(e))
        .take(limit)
        .collect())
}

/// Whether `known` says more than `other` about the incident: a later run, or the same run
/// written later.
fn later(known: &Entry, other: &Entry) -> bool {
    let rank = |run: &str| match run {
        "release" => 2,
        "approved" => 1,
        _ => 0,
    };
    (rank(&known.run), &known.written_at) >= (rank(&other.run), &other.written_at)
}

async fn read_bytes(aws: &Aws, bucket: &str, key: &str) -> Result<Option<Vec<u8>>, CliError> {
    match aws.s3.get_object().bucket(bucket).key(key).send().await {
        Ok(output) => {
            let bytes = output
                .body
                .collect()
                .await
                .map_err(|e| CliError::aws("GetObject", &e))?;
            Ok(Some(bytes.to_vec()))
        }
        Err(err)
            if err
                .as_service_error()
                .is_some_and(aws_sdk_s3::operation::get_object::GetObjectError::is_no_such_key) =>
        {
            Ok(None)
        }
        Err(err) => Err(CliError::aws("GetObject", &err)),
    }
}

async fn read_json<T: serde::de::DeserializeOwned>(
    aws: &Aws,
    bucket: &str,
    key: String,
) -> Result<Option<T>, CliError> {
    let Some(bytes) = read_bytes(aws, bucket, &key).await? else {
        return Ok(None);
    };
    serde_json::from_slice(&bytes).map(Some).map_err(|e| CliError::Aws {
        operation: "GetObject",
        message: format!("{key} does not read as expected: {e}"),
    })
}

/// One incident's folder, as far as a person reads it.
pub struct Recorded {
    pub id: String,
    pub bucket: String,
    pub incident: Incident,
    pub plan: Plan,
    /// Each run's report: the first run, the approved run, the release, as far as they ran.
    pub reports: Vec<(&'static str, Report)>,
    pub release_plan: Option<Plan>,
    pub timeline: Option<Timeline>,
}

impl Recorded {
    pub async fn read(aws: &Aws, id: &str) -> Result<Self, CliError> {
        let bucket = aws.bucket().await?;
        let progress = crate::invoke::Progress::start(&format!("reading {id}"));
        let prefix = incident_prefix(id);
        let key = |name: &str| format!("{prefix}{name}");
        let (plan, event, first, approved, release, release_plan, timeline) = tokio::join!(
            read_json::<Plan>(aws, &bucket, key(evidence::PLAN)),
            read_json::<serde_json::Value>(aws, &bucket, key(evidence::EVENT)),
            read_json::<Report>(aws, &bucket, key(evidence::REPORT)),
            read_json::<Report>(aws, &bucket, key("approved/report.json")),
            read_json::<Report>(aws, &bucket, key("release/report.json")),
            read_json::<Plan>(aws, &bucket, key(evidence::RELEASE_PLAN)),
            read_json::<Timeline>(aws, &bucket, key(evidence::TIMELINE)),
        );
        drop(progress);
        let Some(plan) = plan? else {
            return Err(CliError::NotFound(format!("no incident {id} in s3://{bucket}/")));
        };
        let event = event?.ok_or_else(|| CliError::NotFound(format!("{id} has a plan but no event.json yet")))?;
        let incident = playbook::intake::parse(&event)
            .ok()
            .and_then(playbook::intake::Intake::incident)
            .ok_or_else(|| CliError::NotFound(format!("{id}'s event.json does not read as an incident")))?;
        let reports = [("first", first?), ("approved", approved?), ("release", release?)]
            .into_iter()
            .filter_map(|(run, report)| report.map(|r| (run, r)))
            .collect();
        Ok(Recorded {
            id: id.to_owned(),
            bucket,
            incident,
            plan,
            reports,
            release_plan: release_plan?,
            timeline: timeline?,
        })
    }

    #[must_use]
    pub fn source(&self) -> &'static str {
        self.incident.source.as_str()
    }

    /// `s3://bucket/incidents/<id>/`.
    #[must_use]
    pub fn uri(&self) -> String {
        format!("s3://{}/{}", self.bucket, incident_prefix(&self.id))
    }

    /// The latest response run (approved if it ran, else the first), for the page.
    #[must_use]
    pub fn response(&self) -> Option<(&'static str, &Report)> {
        self.reports
            .iter()
            .rev()
            .find(|(run, _)| *run != "release")
            .map(|(run, report)| (*run, report))
    }

    /// The page as it reads now, for the response's latest run, with the stack's function names.
    #[must_use]
    pub fn page(&self, names: &PageNames) -> Page {
        let (run, steps) = self
            .response()
            .map_or(("first", &[][..]), |(run, report)| (run, &report.steps[..]));
        let context = Context {
            release_function: names.release.clone(),
            function: names.responder.clone(),
            ..Context::default()
        };
        compose(
            &self.incident,
            &self.plan,
            steps,
            &self.uri(),
            run == "approved",
            &context,
        )
    }

    /// The release's page, once a release ran.
    #[must_use]
    pub fn release_page(&self, names: &PageNames) -> Option<Page> {
        let plan = self.release_plan.as_ref()?;
        let report = self.reports.iter().find(|(run, _)| *run == "release").map(|(_, r)| r)?;
        let context = Context {
            release_function: names.release.clone(),
            ..Context::default()
        };
        Some(compose(
            &self.incident,
            plan,
            &report.steps,
            &self.uri(),
            false,
            &context,
        ))
    }

    #[must_use]
    pub fn subject(&self) -> String {
        format!(
            "{} on {}",
            self.incident.finding_type,
            self.incident.resource.short_label()
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn since_reads_minutes_hours_and_days() {
        let now = now();
        assert!((parse_since("24h").unwrap() - (now - 86_400)).abs() < 5);
        assert!((parse_since("30m").unwrap() - (now - 1_800)).abs() < 5);
        assert!((parse_since("7d").unwrap() - (now - 7 * 86_400)).abs() < 5);
        assert!(parse_since("soon").is_err());
        assert!(parse_since("").is_err());
    }

    #[test]
    fn clock_reads_as_a_date() {
        assert_eq!(clock(1_718_076_000), "2024-06-11 03:20 UTC");
        assert_eq!(clock(0), "1970-01-01 00:00 UTC");
    }
}
