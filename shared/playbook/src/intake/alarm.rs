//! CloudWatch alarms: state changes in their EventBridge envelope, or an alarm action's payload.

use std::collections::BTreeMap;

use serde_json::Value;

use super::fields::{object, required_text, text, text_in};
use super::{Intake, IntakeError};
use crate::incident::evasion::{Evasion, Stopped};
use crate::incident::{Incident, Resource, Source};

/// Severity of an alarm on one instance's metric, of a CloudTrail security alarm, of others.
pub const INSTANCE_ALARM_SEVERITY: f64 = 7.0;
pub const SECURITY_ALARM_SEVERITY: f64 = 8.0;
pub const ALARM_SEVERITY: f64 = 5.0;

/// An EventBridge "CloudWatch Alarm State Change".
pub(super) fn from_envelope(event: &Value, detail_type: &str) -> Result<Intake, IntakeError> {
    if detail_type != "CloudWatch Alarm State Change" {
        return Ok(Intake::ignored(
            Source::CloudWatch,
            format!("{detail_type:?} is not an alarm state change; nothing to do"),
        ));
    }
    let detail = object(event, "", "detail")?.ok_or_else(|| IntakeError::Missing {
        path: "detail".to_owned(),
    })?;
    let arn = event.get("resources").and_then(|r| r.get(0)).and_then(Value::as_str);
    from_alarm(
        detail,
        "detail",
        text(event, "account")?,
        text(event, "region")?,
        arn,
        event,
    )
}

/// The payload CloudWatch sends when a Lambda function is the alarm's own action.
pub(super) fn from_action_payload(event: &Value) -> Result<Intake, IntakeError> {
    let alarm = object(event, "", "alarmData")?.ok_or_else(|| IntakeError::Missing {
        path: "alarmData".to_owned(),
    })?;
    let arn = text(event, "alarmArn")?;
    let (account, region) = (text(event, "accountId")?, text(event, "region")?);
    from_alarm(alarm, "alarmData", account, region, arn.as_deref(), event)
}

/// What the alarm watches.
enum Watched {
    /// One metric.
    Metric {
        namespace: String,
        name: String,
        dimensions: BTreeMap<String, String>,
    },
    /// A metric-math expression over several metrics.
    MetricMath,
    /// Other alarms (`alarmRule`).
    Composite,
}

fn from_alarm(
    alarm: &Value,
    base: &str,
    account: Option<String>,
    region: Option<String>,
    arn: Option<&str>,
    raw: &Value,
) -> Result<Intake, IntakeError> {
    let name = required_text(alarm, base, "alarmName")?;
    let state = required_text(alarm, base, "state.value")?;
    if state != "ALARM" {
        return Ok(Intake::ignored(
            Source::CloudWatch,
            format!("alarm {name} is {state}; nothing to do"),
        ));
    }
    // Timestamps arrive in odd shapes (`2023-08-04T12: 36: 15.490+0000`): kept as text, never parsed.
    let timestamp = text_in(alarm, base, "state.timestamp")
        .unwrap_or(None)
        .unwrap_or_default();
    let reason = text_in(alarm, base, "state.reason").unwrap_or(None);
    let mut details = BTreeMap::from([("alarm".to_owned(), name.clone())]);
    if let Some(reason) = &reason {
        details.insert("reason".to_owned(), reason.clone());
    }
    if let Some(data) = text_in(alarm, base, "state.reasonData").unwrap_or(None) {
        details.insert("reason data".to_owned(), reason_data(&data));
    }
    let watched = watched(alarm);
    let (resource, severity) = match &watched {
        Watched::Metric {
            namespace,
            name: metric,
            dimensions,
        } => {
            details.insert("metric".to_owned(), format!("{namespace} {metric}"));
            if !dimensions.is_empty() {
                let list: Vec<String> = dimensions.iter().map(|(k, v)| format!("{k}={v}")).collect();
                details.insert("dimensions".to_owned(), list.join(", "));
            }
            if let Some(hint) = security_runbook(namespace, metric) {
                details.insert("runbook".to_owned(), hint.to_owned());
                let resource = stopped_logging(metric).map_or_else(
                    || alarm_resource(&name),
                    |stopped| {
                        Resource::Logging(Box::new(Evasion {
                            stopped,
                            call: None,
                            stopped_at: None,
                            actor: None,
                        }))
                    },
                );
                (resource, SECURITY_ALARM_SEVERITY)
            } else if let Some(instance_id) = dimensions.get("InstanceId") {
                (
                    Resource::Instance {
                        instance_id: instance_id.clone(),
                    },
                    INSTANCE_ALARM_SEVERITY,
                )
            } else {
                (alarm_resource(&name), ALARM_SEVERITY)
            }
        }
        Watched::MetricMath => {
            details.insert("metric".to_owned(), "metric math over several metrics".to_owned());
            (alarm_resource(&name), ALARM_SEVERITY)
        }
        Watched::Composite => {
            details.insert(
                "metric".to_owned(),
                "composite alarm (a rule over other alarms)".to_owned(),
            );
            (alarm_resource(&name), ALARM_SEVERITY)
        }
    };
    let key = format!("{}/{timestamp}", arn.unwrap_or(&name));
    let summary = match reason {
        Some(reason) => format!("alarm {name} is in ALARM: {reason}"),
        None => format!("alarm {name} is in ALARM"),
    };
    Ok(Incident {
        id: Incident::id_for(Source::CloudWatch, account.as_deref(), region.as_deref(), &key),
        source: Source::CloudWatch,
        finding_id: key,
        finding_type: format!("CloudWatchAlarm/{name}"),
        severity,
        account,
        region,
        resource,
        summary,
        details,
        rule_parameters: BTreeMap::new(),
        finding_arn: None,
        attacker: None,
        raw: raw.clone(),
        security_hub: None,
    }
    .into())
}

fn alarm_resource(name: &str) -> Resource {
    Resource::Other {
        resource_type: "CloudWatchAlarm".to_owned(),
        name: Some(name.to_owned()),
    }
}

/// One metric, metric math, or composite, from `configuration`.
fn watched(alarm: &Value) -> Watched {
    let configuration = alarm.get("configuration");
    if configuration.and_then(|c| c.get("alarmRule")).is_some() {
        return Watched::Composite;
    }
    let metrics = configuration
        .and_then(|c| c.get("metrics"))
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default();
    match metrics {
        [] => Watched::Composite,
        [only] if only.get("expression").is_none() => {
            let metric = only.pointer("/metricStat/metric");
            let field = |key: &str| {
                metric
                    .and_then(|m| m.get(key))
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_owned()
            };
            let dimensions = metric
                .and_then(|m| m.get("dimensions"))
                .and_then(Value::as_object)
                .into_iter()
                .flatten()
                .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_owned())))
                .collect();
            Watched::Metric {
                namespace: field("namespace"),
                name: field("name"),
                dimensions,
            }
        }
        _ => Watched::MetricMath,
    }
}

/// `reasonData` is a JSON document in a string, sometimes malformed: the threshold and the
/// recent datapoints when it reads, the text (cut short) when it does not.
fn reason_data(data: &str) -> String {
    match serde_json::from_str::<Value>(data) {
        Ok(value) => {
            let threshold = value.get("threshold").map(ToString::to_string);
            let recent = value.get("recentDatapoints").map(ToString::to_string);
            match (threshold, recent) {
                (Some(t), Some(r)) => format!("threshold {t}, recent datapoints {r}"),
                _ => value.to_string().chars().take(300).collect(),
            }
        }
        Err(_) => format!("(unreadable) {}", data.chars().take(200).collect::<String>()),
    }
}

/// The logging a CIS alarm says may have been stopped: the region's trails ("CloudTrail
/// configuration changes", CIS 3.5 / CloudWatch.5) or its Config recorders ("AWS Config
/// changes", CIS 3.9 / CloudWatch.9); `None` for the other alarms. The alarm names no trail or
/// recorder: the restore reads them all.
fn stopped_logging(metric: &str) -> Option<Stopped> {
    let metric = metric.to_ascii_lowercase();
    if metric.contains("cloudtrail") {
        Some(Stopped::Trails)
    } else if metric.contains("config") {
        Some(Stopped::Recorders)
    } else {
        None
    }
}

/// A one-line runbook for the CIS CloudTrail metric-filter alarms; `None` for other alarms.
fn security_runbook(namespace: &str, metric: &str) -> Option<&'static str> {
    let metric = metric.to_ascii_lowercase();
    let cloudtrail = namespace.eq_ignore_ascii_case("CloudTrailMetrics") || namespace.contains("CISBenchmark");
    let hint = if metric.contains("root") {
        "root was used: confirm who signed in, rotate root credentials, check for new IAM users and keys"
    } else if metric.contains("unauthorized") {
        "unauthorized API calls: find the principal in CloudTrail (errorCode AccessDenied) and check its keys"
    } else if metric.contains("iampolicy") || metric.contains("iam") && metric.contains("polic") {
        "IAM policies changed: review the change in CloudTrail and revert what nobody asked for"
    } else if metric.contains("cloudtrail") {
        "CloudTrail configuration changed: make sure logging is on and the trail unchanged"
    } else if metric.contains("config") {
        "AWS Config changed: make sure the recorder records and its delivery channel is in place"
    } else if metric.contains("consolesigninfailure") || metric.contains("signin") {
        "console sign-in failures: look for password spraying against one user or many"
    } else if cloudtrail {
        "a CloudTrail metric filter matched: read the matching events in CloudTrail"
    } else {
        return None;
    };
    Some(hint)
}

#[cfg(test)]
mod tests {
    use super::super::tests::samples_in;
    use super::super::{Intake, parse};
    use super::*;

    #[test]
    fn every_cloudwatch_sample_parses() {
        let samples = samples_in("cloudwatch");
        assert!(samples.len() >= 8, "{}", samples.len());
        for (name, event) in &samples {
            let intake = parse(event).unwrap_or_else(|e| panic!("{name}: {e}"));
            let transition = name.contains("ok-transition") || name.contains("insufficient-data");
            assert_eq!(matches!(intake, Intake::Ignored(_)), transition, "{name}");
        }
    }

    #[test]
    fn isolate_alarms_name_their_instance() {
        let samples: BTreeMap<_, _> = samples_in("cloudwatch").into_iter().collect();
        for name in [
            "isolate-instance-alarm.json",
            "isolate-instance-alarm-direct-payload.json",
        ] {
            let incident = parse(&samples[name]).unwrap().incident().unwrap();
            assert_eq!(
                incident.resource,
                Resource::Instance {
                    instance_id: "i-99999999".into()
                },
                "{name}"
            );
            assert!(
                incident.finding_type.starts_with("CloudWatchAlarm/tourniquet-isolate-"),
                "{name}"
            );
        }
        let root = parse(&samples["cloudtrail-root-login-alarm.json"])
            .unwrap()
            .incident()
            .unwrap();
        assert!((root.severity - SECURITY_ALARM_SEVERITY).abs() < f64::EPSILON);
        assert!(root.details.contains_key("runbook"));
        for name in ["composite-alarm.json", "metric-math-alarm.json"] {
            let incident = parse(&samples[name]).unwrap().incident().unwrap();
            assert!(matches!(incident.resource, Resource::Other { .. }), "{name}");
        }
        let malformed = parse(&samples["malformed-reason-data-alarm.json"])
            .unwrap()
            .incident()
            .unwrap();
        assert!(malformed.details["reason data"].starts_with("(unreadable)"));
    }

    #[test]
    fn reason_data_reads_or_is_kept() {
        assert_eq!(
            reason_data(r#"{"threshold":80.0,"recentDatapoints":[95.5]}"#),
            "threshold 80.0, recent datapoints [95.5]"
        );
        assert!(reason_data(r#"{"threshold":8"#).starts_with("(unreadable)"));
    }
}
