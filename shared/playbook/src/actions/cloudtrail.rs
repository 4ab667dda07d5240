//! CloudTrail: a compromised identity's management events, read from the event history
//! (`LookupEvents`) within CloudTrail's limits (about 2 calls a second per account and
//! region, 50 events a page), a cap on events, and the Lambda deadline.

use std::collections::BTreeSet;
use std::time::{Duration, SystemTime};

use aws_sdk_cloudtrail::Client;
use aws_sdk_cloudtrail::primitives::{DateTime, DateTimeFormat};
use aws_sdk_cloudtrail::types::{LookupAttribute, LookupAttributeKey};

use super::{AwsError, sdk};
use crate::timeline::{Event, Lookup, LookupKey};

/// The pause between two `LookupEvents` calls: CloudTrail allows about 2 a second per
/// account and region.
pub const CALL_INTERVAL: Duration = Duration::from_millis(500);

/// Events a page (CloudTrail's most).
pub const PAGE_SIZE: i32 = 50;

/// What one read found, and why it stopped early, if it did.
#[derive(Debug, Clone, Default)]
pub struct Read {
    /// Newest first within each lookup; each event once.
    pub events: Vec<Event>,
    pub cut: Option<String>,
    pub calls: usize,
}

impl Read {
    /// Adds what a read of the global region found (each event once); a refusal there cuts
    /// the timeline and says so.
    pub fn merge(&mut self, other: Result<Read, AwsError>) {
        match other {
            Ok(other) => {
                let seen: BTreeSet<String> = self.events.iter().map(|e| e.event_id.clone()).collect();
                self.events
                    .extend(other.events.into_iter().filter(|e| !seen.contains(&e.event_id)));
                self.calls += other.calls;
                self.cut = self.cut.take().or(other.cut);
            }
            Err(err) => {
                self.cut.get_or_insert(format!(
                    "stopped: LookupEvents answered {} in the global region (IAM, STS, Organizations)",
                    err.code
                ));
            }
        }
    }
}

/// The region where CloudTrail records the global services' events (IAM, STS,
/// Organizations) for the partition of `region`, when it is not `region` itself.
#[must_use]
pub fn global_region(region: &str) -> Option<&'static str> {
    let global = if region.starts_with("cn-") {
        "cn-north-1"
    } else if region.starts_with("us-gov-") {
        "us-gov-west-1"
    } else {
        "us-east-1"
    };
    (region != global).then_some(global)
}

/// A CloudTrail client acting where `config` acts: throttling is retried a few times by
/// the SDK, then said in the timeline (the pace below keeps it rare).
#[must_use]
pub fn client(config: &aws_config::SdkConfig) -> Client {
    Client::from_conf(
        aws_sdk_cloudtrail::config::Builder::from(config)
            .retry_config(aws_config::retry::RetryConfig::standard().with_max_attempts(3))
            .interceptor(crate::telemetry::CallLog)
            .build(),
    )
}

/// Reads each lookup's events from `start` to `end`, in order, each event once, stopping at
/// `max_events` events or when `stop_by` (the deadline, less its margin) comes. A refusal
/// before anything was read is the step's failure (Lambda retries it); after, it cuts the
/// timeline and says where.
pub async fn read(
    client: &Client,
    lookups: &[Lookup],
    start: DateTime,
    end: DateTime,
    max_events: usize,
    stop_by: Option<SystemTime>,
) -> Result<Read, AwsError> {
    let mut read = Read::default();
    let mut seen = BTreeSet::new();
    let mut last_call: Option<tokio::time::Instant> = None;
    'lookups: for lookup in lookups {
        let attribute = LookupAttribute::builder()
            .attribute_key(match lookup.key {
                LookupKey::AccessKeyId => LookupAttributeKey::AccessKeyId,
                LookupKey::Username => LookupAttributeKey::Username,
            })
            .attribute_value(&lookup.value)
            .build()
            .map_err(|err| AwsError::check("LookupEvents", "InvalidLookup", err.to_string()))?;
        let mut token: Option<String> = None;
        loop {
            if read.events.len() >= max_events {
                read.cut = Some(format!(
                    "stopped at the cap of {max_events} events (TOURNIQUET_TIMELINE_MAX_EVENTS), reading {}; older \
                     events of the window are not in it",
                    lookup.label()
                ));
                break 'lookups;
            }
            if let Some(at) = last_call {
                tokio::time::sleep_until(at + CALL_INTERVAL).await;
            }
            if stop_by.is_some_and(|stop| SystemTime::now() > stop) {
                read.cut = Some(format!(
                    "stopped before the Lambda deadline, reading {}, after {} event(s){}",
                    lookup.label(),
                    read.events.len(),
                    oldest(&read.events)
                ));
                break 'lookups;
            }
            last_call = Some(tokio::time::Instant::now());
            read.calls += 1;
            let answer = client
                .lookup_events()
                .lookup_attributes(attribute.clone())
                .start_time(start)
                .end_time(end)
                .max_results(PAGE_SIZE)
                .set_next_token(token.clone())
                .send()
                .await
                .map_err(sdk("LookupEvents"));
            let page = match answer {
                Ok(page) => page,
                Err(err) if read.events.is_empty() => return Err(err),
                Err(err) => {
                    read.cut = Some(format!(
                        "stopped: LookupEvents answered {} reading {}, after {} event(s){}",
                        err.code,
                        lookup.label(),
                        read.events.len(),
                        oldest(&read.events)
                    ));
                    break 'lookups;
                }
            };
            for found in page.events() {
                let event = event(found);
                if read.events.len() < max_events && seen.insert(event.event_id.clone()) {
                    read.events.push(event);
                }
            }
            token = page.next_token().map(ToOwned::to_owned);
            if token.is_none() {
                break;
            }
        }
    }
    Ok(read)
}

fn oldest(events: &[Event]) -> String {
    events
        .iter()
        .map(|e| e.time.as_str())
        .min()
        .map(|t| format!(" (read back to {t})"))
        .unwrap_or_default()
}

/// Whole seconds, RFC 3339.
#[must_use]
pub fn rfc3339(time: &DateTime) -> Option<String> {
    DateTime::from_secs(time.secs()).fmt(DateTimeFormat::DateTime).ok()
}

/// The timeline's event from CloudTrail's, with the fields of its `CloudTrailEvent` record.
fn event(found: &aws_sdk_cloudtrail::types::Event) -> Event {
    let record: serde_json::Value = found
        .cloud_trail_event()
        .and_then(|text| serde_json::from_str(text).ok())
        .unwrap_or_default();
    let text = |field: &str| record[field].as_str().map(ToOwned::to_owned);
    Event {
        event_id: found.event_id().unwrap_or_default().to_owned(),
        time: found
            .event_time()
            .and_then(rfc3339)
            .or_else(|| text("eventTime"))
            .unwrap_or_default(),
        name: found.event_name().unwrap_or_default().to_owned(),
        source: found
            .event_source()
            .map(ToOwned::to_owned)
            .or_else(|| text("eventSource"))
            .unwrap_or_default(),
        source_ip: text("sourceIPAddress"),
        user_agent: text("userAgent"),
        access_key_id: found.access_key_id().map(ToOwned::to_owned),
        username: found.username().map(ToOwned::to_owned),
        resources: found
            .resources()
            .iter()
            .map(|r| {
                format!(
                    "{} {}",
                    r.resource_type().unwrap_or("resource"),
                    r.resource_name().unwrap_or_default()
                )
            })
            .collect(),
        error_code: text("errorCode"),
        read_only: found.read_only() == Some("true") || record["readOnly"] == serde_json::Value::Bool(true),
        request_parameters: scrubbed(record["requestParameters"].clone()),
        response_elements: scrubbed(record["responseElements"].clone()),
    }
}

/// `value` without secrets, wherever they are (CloudTrail leaves them out; kept so anyway).
fn scrubbed(value: serde_json::Value) -> serde_json::Value {
    const SECRET: [&str; 4] = ["secretAccessKey", "sessionToken", "password", "newPassword"];
    match value {
        serde_json::Value::Object(map) => map
            .into_iter()
            .filter(|(k, _)| !SECRET.contains(&k.as_str()))
            .map(|(k, v)| (k, scrubbed(v)))
            .collect(),
        serde_json::Value::Array(items) => items.into_iter().map(scrubbed).collect(),
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn global_services_are_read_in_the_partitions_global_region() {
        assert_eq!(global_region("us-west-2"), Some("us-east-1"));
        assert_eq!(global_region("us-east-1"), None);
        assert_eq!(global_region("cn-northwest-1"), Some("cn-north-1"));
        assert_eq!(global_region("us-gov-east-1"), Some("us-gov-west-1"));
    }

    #[test]
    fn secrets_never_reach_the_timeline() {
        let value = serde_json::json!({"credentials": {"accessKeyId": "ASIA1", "sessionToken": "t", "secretAccessKey": "s"}, "password": "p", "userName": "u"});
        assert_eq!(
            scrubbed(value),
            serde_json::json!({"credentials": {"accessKeyId": "ASIA1"}, "userName": "u"})
        );
    }
}
