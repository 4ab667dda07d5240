//! Intake: turns a raw event into an `Incident`, tolerant of real-world variation, never panicking.

mod alarm;
mod asff;
mod config;
mod fields;
mod guardduty;
mod ocsf;
pub mod release;
mod securityhub;

pub use guardduty::EFFECTIVE_PERMISSION;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use thiserror::Error;

use crate::incident::{Incident, Source};

/// What an event turned out to be.
#[derive(Debug, Clone, PartialEq)]
pub enum Intake {
    /// Something to respond to.
    Incident(Box<Incident>),
    /// A well-formed event that needs nothing (a COMPLIANT evaluation, an alarm back to OK,
    /// a configuration item change): logged and answered, no page.
    Ignored(Ignored),
    /// A person approves a held plan: `{"approve": "<incident-id>"}`.
    Approve { incident_id: String },
    /// A Security Hub event: each of its findings, in order, as an incident, a finding that
    /// needs nothing, or why it could not be read (the others are answered all the same).
    Findings(Vec<Result<Intake, IntakeError>>),
    /// A person asks for the incident's timeline again (CloudTrail lags), and a new sweep:
    /// `{"timeline": "<incident-id>"}`.
    Timeline { incident_id: String },
}

/// Why an event needs no response.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Ignored {
    pub source: Source,
    pub ignored: String,
}

impl Intake {
    fn ignored(source: Source, reason: String) -> Self {
        Intake::Ignored(Ignored {
            source,
            ignored: reason,
        })
    }

    /// The incident, if the event is one.
    #[must_use]
    pub fn incident(self) -> Option<Incident> {
        match self {
            Intake::Incident(incident) => Some(*incident),
            Intake::Ignored(_) | Intake::Approve { .. } | Intake::Findings(_) | Intake::Timeline { .. } => None,
        }
    }

    /// The one incident of an event read again from the evidence: an incident's own event,
    /// or a Security Hub event holding its one finding (as an incident keeps it).
    #[must_use]
    pub fn stored_incident(self) -> Option<Incident> {
        match self {
            Intake::Findings(mut findings) if findings.len() == 1 => findings.pop()?.ok()?.incident(),
            other => other.incident(),
        }
    }
}

impl From<Incident> for Intake {
    fn from(incident: Incident) -> Self {
        Intake::Incident(Box::new(incident))
    }
}

/// Why an event could not become an incident. Each names the field at fault.
#[derive(Debug, Clone, Error, PartialEq)]
pub enum IntakeError {
    #[error("event is not a JSON object (found {found})")]
    NotAnObject { found: &'static str },
    #[error("missing field `{path}`")]
    Missing { path: String },
    #[error("field `{path}` should be {expected}, found {found}")]
    WrongType {
        path: String,
        expected: &'static str,
        found: &'static str,
    },
    #[error("field `{path}` has an invalid value: {reason}")]
    Invalid { path: String, reason: String },
    #[error("unsupported event source `{event_source}` (detail-type `{detail_type}`)")]
    UnsupportedSource { event_source: String, detail_type: String },
    #[error("this function does not answer {} events (it answers {}): check the EventBridge rule", event_source.as_str(), accepted.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(", "))]
    WrongFunction {
        event_source: Source,
        accepted: Vec<Source>,
    },
}

/// Parses any event Tourniquet understands.
///
/// Accepted: a GuardDuty finding in its EventBridge envelope, or the bare finding (its `detail`
/// alone, as used in manual drills); an AWS Config event; a CloudWatch alarm state change, in
/// its EventBridge envelope or as the payload of an alarm's own Lambda action.
pub fn parse(event: &Value) -> Result<Intake, IntakeError> {
    let Some(root) = event.as_object() else {
        return Err(IntakeError::NotAnObject {
            found: fields::type_name(event),
        });
    };
    for request in ["approve", "timeline"] {
        let Some(value) = root.get(request) else {
            continue;
        };
        let incident_id = fields::required_text(event, "", request)?;
        let valid = incident_id.len() <= 64
            && incident_id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
            && value.is_string();
        if !valid {
            return Err(IntakeError::Invalid {
                path: request.to_owned(),
                reason: format!("{incident_id:?} is not an incident id"),
            });
        }
        return Ok(if request == "approve" {
            Intake::Approve { incident_id }
        } else {
            Intake::Timeline { incident_id }
        });
    }
    if root.contains_key("alarmData") {
        return alarm::from_action_payload(event);
    }
    if root.contains_key("detail-type") || root.contains_key("source") {
        let source = fields::text(event, "source")?.unwrap_or_default();
        let detail_type = fields::text(event, "detail-type")?.unwrap_or_default();
        return match source.as_str() {
            "aws.guardduty" => guardduty::from_envelope(event),
            "aws.config" => config::from_envelope(event, &detail_type),
            "aws.cloudwatch" => alarm::from_envelope(event, &detail_type),
            "aws.securityhub" => securityhub::from_envelope(event, &detail_type),
            _ => Err(IntakeError::UnsupportedSource {
                event_source: source,
                detail_type,
            }),
        };
    }
    if root.contains_key("detail") {
        return guardduty::from_envelope(event);
    }
    if root.contains_key("type") || root.contains_key("resource") || root.contains_key("schemaVersion") {
        return guardduty::from_finding(event);
    }
    Err(IntakeError::Missing {
        path: "detail".to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::incident::Resource;
    use proptest::prelude::*;
    use serde_json::json;

    fn parse(event: &Value) -> Result<Incident, IntakeError> {
        super::parse(event).map(|i| i.incident().expect("an incident"))
    }

    /// Every sample in `events/<folder>/`, by file name.
    pub(super) fn samples_in(folder: &str) -> Vec<(String, Value)> {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../events")
            .join(folder);
        let mut files: Vec<_> = std::fs::read_dir(&dir)
            .expect("events/guardduty")
            .map(|e| e.expect("entry").path())
            .filter(|p| p.extension().is_some_and(|e| e == "json"))
            .collect();
        files.sort();
        files
            .into_iter()
            .map(|p| {
                let text = std::fs::read_to_string(&p).expect("read sample");
                let name = p.file_name().unwrap_or_default().to_string_lossy().into_owned();
                (name, serde_json::from_str(&text).expect("sample is JSON"))
            })
            .collect()
    }

    fn samples() -> Vec<(String, Value)> {
        samples_in("guardduty")
    }

    #[test]
    fn every_guardduty_sample_parses() {
        let samples = samples();
        assert!(samples.len() >= 10, "at least 10 samples, found {}", samples.len());
        let mut kinds = std::collections::BTreeSet::new();
        for (name, event) in &samples {
            let incident = parse(event).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert!((0.0..=10.0).contains(&incident.severity), "{name}");
            assert!(!incident.finding_type.is_empty(), "{name}");
            kinds.insert(match &incident.resource {
                Resource::Other { resource_type, .. } => resource_type.clone(),
                other => format!("{:?}", other.kind()),
            });
        }
        for kind in [
            "Instance",
            "AccessKey",
            "Bucket",
            "EKSCluster",
            "RDSDBInstance",
            "Container",
            "Lambda",
            "ECSCluster",
        ] {
            assert!(kinds.contains(kind), "no sample with a {kind} resource: {kinds:?}");
        }
    }

    /// `value` as JSON text with every object's keys in reverse order, as another serializer
    /// (a forwarder, a queue, a person's editor) may send the same event.
    pub(super) fn reordered(value: &Value) -> String {
        match value {
            Value::Object(map) => {
                let mut keys: Vec<&String> = map.keys().collect();
                keys.sort_unstable();
                let fields: Vec<String> = keys
                    .iter()
                    .rev()
                    .map(|k| format!("{}: {}", Value::String((*k).clone()), reordered(&map[k.as_str()])))
                    .collect();
                format!("{{ {} }}", fields.join(", "))
            }
            Value::Array(items) => format!("[{}]", items.iter().map(reordered).collect::<Vec<_>>().join(", ")),
            other => other.to_string(),
        }
    }

    /// The finding inside an event: its `detail`, or the event itself when bare.
    fn finding_mut(event: &mut Value) -> &mut Value {
        if event.get("detail").is_some_and(Value::is_object) {
            &mut event["detail"]
        } else {
            event
        }
    }

    /// A redelivery of a sample, re-serialized with its keys in another order and its severity
    /// written the other way intake accepts (a number as a string, a string as a number), is
    /// the same incident; the same sample with another finding id is another incident.
    #[test]
    fn incident_ids_follow_the_finding_not_its_serialization() {
        let samples = samples();
        for (name, event) in &samples {
            let id = parse(event).unwrap_or_else(|e| panic!("{name}: {e}")).id;

            let mut variant = event.clone();
            let finding = finding_mut(&mut variant);
            let severity = &mut finding["severity"];
            *severity = match &*severity {
                Value::Number(n) => json!(format!("{:.1}", n.as_f64().expect("a severity"))),
                Value::String(s) => json!(s.trim().parse::<f64>().expect("a numeric severity")),
                other => panic!("{name}: severity {other}"),
            };
            let text = reordered(&variant);
            assert_ne!(text, event.to_string(), "{name}: the bytes differ");
            let redelivered: Value = serde_json::from_str(&text).expect("reordered JSON");
            assert_eq!(
                parse(&redelivered).map(|i| i.id),
                Ok(id.clone()),
                "{name}: the same finding, serialized differently"
            );

            let mut other = event.clone();
            let finding = finding_mut(&mut other);
            let finding_id = finding["id"].as_str().expect("samples carry a finding id").to_owned();
            finding["id"] = json!(format!("{finding_id}0"));
            let other_id = parse(&other).unwrap_or_else(|e| panic!("{name}: {e}")).id;
            assert_ne!(other_id, id, "{name}: another finding is another incident");
        }
    }

    /// Why intake reads JSON paths instead of aws_lambda_events' typed EventBridge envelope:
    /// the typed one refuses real variations (here the account as a number) that intake reads.
    #[test]
    fn typed_envelopes_refuse_what_intake_reads() {
        let samples: std::collections::BTreeMap<String, Value> = samples().into_iter().collect();
        let event = &samples["ec2-tor-client.json"];
        assert!(event["account"].is_number());
        let typed = serde_json::from_value::<aws_lambda_events::event::eventbridge::EventBridgeEvent>(event.clone());
        assert!(typed.is_err(), "the typed envelope took a numeric account");
        assert!(parse(event).is_ok());
    }

    #[test]
    fn sample_variations_read_the_same() {
        let samples: std::collections::BTreeMap<String, Value> = samples().into_iter().collect();
        let get = |name: &str| parse(&samples[name]).unwrap_or_else(|e| panic!("{name}: {e}"));
        // Severity as a string, account as a number.
        assert!((get("eks-exec-in-kube-system-pod.json").severity - 5.0).abs() < f64::EPSILON);
        assert_eq!(get("ec2-tor-client.json").account.as_deref(), Some("123456789012"));
        // A bare finding and its enveloped twin are the same incident.
        assert_eq!(
            get("bare-finding-ec2-ssh-brute-force.json").resource,
            Resource::Instance {
                instance_id: "i-99999999".into()
            }
        );
    }

    pub(super) fn arbitrary_json() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<f64>().prop_map(|f| serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)),
            any::<i64>().prop_map(|n| json!(n)),
            "[a-zA-Z0-9:/._ -]{0,12}".prop_map(Value::String),
            prop_oneof![
                Just("aws.guardduty"),
                Just("GuardDuty Finding"),
                Just("Instance"),
                Just("AccessKey"),
                Just("S3Bucket"),
                Just("5.0"),
                Just("i-1"),
                Just("aws.securityhub"),
                Just("Security Hub Findings - Imported"),
                Just("Findings Imported V2"),
                Just("arn:aws:securityhub:us-east-1::product/aws/guardduty"),
                Just("AwsEc2Instance"),
                Just("HIGH"),
            ]
            .prop_map(|s| Value::String(s.to_owned())),
        ];
        let keys = prop_oneof![
            Just("source"),
            Just("detail-type"),
            Just("detail"),
            Just("type"),
            Just("resource"),
            Just("resourceType"),
            Just("instanceDetails"),
            Just("instanceId"),
            Just("severity"),
            Just("id"),
            Just("accountId"),
            Just("account"),
            Just("region"),
            Just("accessKeyDetails"),
            Just("s3BucketDetails"),
            Just("name"),
            Just("title"),
            Just("findings"),
            Just("Id"),
            Just("ProductArn"),
            Just("Resources"),
            Just("Type"),
            Just("Severity"),
            Just("Label"),
            Just("Types"),
            Just("finding_info"),
            Just("uid"),
            Just("x"),
        ];
        leaf.prop_recursive(6, 64, 8, move |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
                prop::collection::btree_map(keys.clone().prop_map(str::to_owned), inner, 0..6)
                    .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    /// Every sample under `events/`, and every JSON pointer into it (read once).
    fn all_samples_with_paths() -> &'static [(Value, Vec<String>)] {
        static SAMPLES: std::sync::OnceLock<Vec<(Value, Vec<String>)>> = std::sync::OnceLock::new();
        SAMPLES.get_or_init(read_samples_with_paths)
    }

    fn read_samples_with_paths() -> Vec<(Value, Vec<String>)> {
        fn paths(value: &Value, here: &str, out: &mut Vec<String>) {
            out.push(here.to_owned());
            match value {
                Value::Object(map) => map.iter().for_each(|(k, v)| paths(v, &format!("{here}/{k}"), out)),
                Value::Array(items) => items
                    .iter()
                    .enumerate()
                    .for_each(|(i, v)| paths(v, &format!("{here}/{i}"), out)),
                _ => {}
            }
        }
        ["guardduty", "config", "cloudwatch", "securityhub"]
            .iter()
            .flat_map(|folder| samples_in(folder))
            .map(|(_, event)| {
                let mut out = Vec::new();
                paths(&event, "", &mut out);
                (event, out)
            })
            .collect()
    }

    /// Intake then plan, as the responder runs them: never a panic, a reason when refused.
    pub(super) fn intake_and_plan(event: &Value) -> Result<(), TestCaseError> {
        match super::parse(event) {
            // A refusal, an ignored event or an approval changes nothing: not panicking is the
            // property (their messages are fixed text, never empty).
            Err(_) | Ok(Intake::Ignored(_) | Intake::Approve { .. } | Intake::Timeline { .. }) => {}
            Ok(Intake::Findings(findings)) => {
                for finding in findings {
                    intake_and_plan_read(finding)?;
                }
            }
            Ok(Intake::Incident(incident)) => plan_incident(&incident)?,
        }
        Ok(())
    }

    fn intake_and_plan_read(read: Result<Intake, IntakeError>) -> Result<(), TestCaseError> {
        match read {
            Err(_) | Ok(Intake::Ignored(_) | Intake::Approve { .. } | Intake::Timeline { .. }) => {}
            Ok(Intake::Findings(_)) => prop_assert!(false, "findings inside findings"),
            Ok(Intake::Incident(incident)) => plan_incident(&incident)?,
        }
        Ok(())
    }

    /// Target and plan of one incident, with nothing observed: never a panic, never an action.
    fn plan_incident(incident: &Incident) -> Result<(), TestCaseError> {
        let settings = crate::settings::Settings::from_lookup(|var| match var {
            "TOURNIQUET_TOPIC_ARN" => Some("arn:aws:sns:us-east-1:1:p".into()),
            "TOURNIQUET_EVIDENCE_BUCKET" => Some("evidence".into()),
            _ => None,
        })
        .expect("settings");
        let policy = crate::policy::Policy::new(&settings).expect("policy");
        // As the responder plans it: a custom action's policy for a person's decision.
        let policy = crate::target::policy_for(incident, &policy);
        let observation = crate::observation::Observation::NotNeeded;
        let target = crate::target::target(incident, &policy);
        let plan = crate::plan::plan(
            incident,
            &target,
            &observation,
            &policy,
            std::time::SystemTime::UNIX_EPOCH,
        );
        prop_assert!(!plan.steps.is_empty());
        prop_assert!(
            plan.steps.iter().all(|s| !s.step.mutates()),
            "no action without an observation"
        );
        Ok(())
    }

    // Case counts come from PROPTEST_CASES: `make test` runs a short pass, `make fuzz` 100,000.
    proptest! {
        /// Arbitrary JSON never panics intake or plan.
        #[test]
        fn arbitrary_json_never_panics(event in arbitrary_json()) {
            intake_and_plan(&event)?;
        }

        /// Real samples with any one field replaced by arbitrary JSON never panic either.
        #[test]
        fn mutated_samples_never_panic(
            sample in any::<prop::sample::Index>(),
            path in any::<prop::sample::Index>(),
            replacement in arbitrary_json(),
        ) {
            let samples = all_samples_with_paths();
            let (event, paths) = sample.get(samples);
            let mut event = event.clone();
            let pointer = path.get(paths);
            if let Some(slot) = event.pointer_mut(pointer) {
                *slot = replacement;
            }
            intake_and_plan(&event)?;
        }
    }

    #[test]
    fn rejects_non_objects() {
        for (event, found) in [
            (json!([]), "an array"),
            (json!("x"), "a string"),
            (json!(null), "null"),
            (json!(1), "a number"),
        ] {
            assert_eq!(parse(&event), Err(IntakeError::NotAnObject { found }));
        }
    }

    #[test]
    fn names_missing_detail() {
        let err = parse(&json!({"version": "0"})).unwrap_err();
        assert_eq!(err.to_string(), "missing field `detail`");
        let err = parse(&json!({"source": "aws.guardduty", "detail-type": "GuardDuty Finding"})).unwrap_err();
        assert_eq!(err.to_string(), "missing field `detail`");
    }

    #[test]
    fn refuses_other_sources() {
        let err =
            parse(&json!({"source": "aws.ec2", "detail-type": "EC2 Instance State-change Notification", "detail": {}}))
                .unwrap_err();
        assert!(matches!(err, IntakeError::UnsupportedSource { .. }), "{err}");
    }

    #[test]
    fn a_timeline_request_names_its_incident() {
        assert_eq!(
            super::parse(&json!({"timeline": "guardduty-abc-1"})),
            Ok(Intake::Timeline {
                incident_id: "guardduty-abc-1".to_owned()
            })
        );
        for bad in [json!({"timeline": "../x"}), json!({"timeline": 7})] {
            let err = super::parse(&bad).unwrap_err();
            assert!(err.to_string().contains("timeline"), "{err}");
        }
    }
}
