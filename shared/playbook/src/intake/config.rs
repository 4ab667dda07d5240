//! AWS Config events: NON_COMPLIANT evaluations become incidents; everything else is answered.

use std::collections::BTreeMap;

use serde_json::Value;

use super::fields::{object, required_text, text, text_in};
use super::{Intake, IntakeError};
use crate::incident::evasion::{Evasion, Stopped};
use crate::incident::{Incident, Resource, Source};

/// Config has no severity of its own; a posture finding pages as medium.
pub const CONFIG_SEVERITY: f64 = 5.0;

/// An EventBridge event from `aws.config`.
pub(super) fn from_envelope(event: &Value, detail_type: &str) -> Result<Intake, IntakeError> {
    if detail_type != "Config Rules Compliance Change" {
        return Ok(Intake::ignored(
            Source::Config,
            format!("{detail_type:?} is not a compliance change; nothing to do"),
        ));
    }
    let detail = object(event, "", "detail")?.ok_or_else(|| IntakeError::Missing {
        path: "detail".to_owned(),
    })?;
    if let Some(kind) = text_in(detail, "detail", "messageType")?
        && kind != "ComplianceChangeNotification"
    {
        return Ok(Intake::ignored(
            Source::Config,
            format!("{kind} is not a compliance change; nothing to do"),
        ));
    }
    let rule = required_text(detail, "detail", "configRuleName")?;
    let compliance = required_text(detail, "detail", "newEvaluationResult.complianceType")?;
    if compliance != "NON_COMPLIANT" {
        return Ok(Intake::ignored(
            Source::Config,
            format!("{rule} is now {compliance}; nothing to fix"),
        ));
    }
    let qualifier = "newEvaluationResult.evaluationResultIdentifier.evaluationResultQualifier";
    let resource_type = match text_in(detail, "detail", "resourceType")? {
        Some(t) => t,
        None => required_text(detail, "detail", &format!("{qualifier}.resourceType"))?,
    };
    let resource_id = match text_in(detail, "detail", "resourceId")? {
        Some(id) => id,
        None => required_text(detail, "detail", &format!("{qualifier}.resourceId"))?,
    };
    let account = text_in(detail, "detail", "awsAccountId")?.or(text(event, "account")?);
    let region = text_in(detail, "detail", "awsRegion")?.or(text(event, "region")?);
    // The same evaluation redelivered is the same incident; a later one is a new incident.
    let recorded = text_in(detail, "detail", "newEvaluationResult.resultRecordedTime")?
        .or(text_in(
            detail,
            "detail",
            "newEvaluationResult.evaluationResultIdentifier.orderingTimestamp",
        )?)
        .or(text_in(detail, "detail", "notificationCreationTime")?)
        .unwrap_or_default();
    let finding_id = format!("{rule}/{resource_type}/{resource_id}/{recorded}");
    let logging = logging_rule(&rule, &resource_type, &resource_id);
    let resource = match resource_type.as_str() {
        _ if let Some(stopped) = logging => Resource::Logging(Box::new(Evasion {
            stopped,
            call: None,
            stopped_at: None,
            actor: None,
        })),
        "AWS::EC2::SecurityGroup" => Resource::SecurityGroup {
            group_id: resource_id.clone(),
        },
        "AWS::S3::Bucket" => Resource::Bucket {
            name: resource_id.clone(),
        },
        "AWS::IAM::User" => Resource::User {
            user_id: resource_id.clone(),
        },
        _ => Resource::Other {
            resource_type: resource_type.clone(),
            name: Some(resource_id.clone()),
        },
    };
    let mut details = BTreeMap::from([("rule".to_owned(), rule.clone())]);
    let annotation = text_in(detail, "detail", "newEvaluationResult.annotation").unwrap_or(None);
    if let Some(annotation) = &annotation {
        details.insert("annotation".to_owned(), annotation.clone());
    }
    let summary = match annotation {
        Some(annotation) => format!("{resource_type} {resource_id} is NON_COMPLIANT with {rule}: {annotation}"),
        None => format!("{resource_type} {resource_id} is NON_COMPLIANT with {rule}"),
    };
    Ok(Incident {
        id: Incident::id_for(Source::Config, account.as_deref(), region.as_deref(), &finding_id),
        source: Source::Config,
        finding_id,
        finding_type: rule,
        severity: CONFIG_SEVERITY,
        account,
        region,
        resource,
        summary,
        details,
        rule_parameters: rule_parameters(detail),
        finding_arn: None,
        attacker: None,
        raw: event.clone(),
        security_hub: None,
    }
    .into())
}

/// The rule's parameters, when the event carries them (`ruleParameters`, an object or a JSON
/// document in a string). Unreadable parameters are skipped: the
/// playbooks have defaults.
fn rule_parameters(detail: &Value) -> BTreeMap<String, String> {
    let parsed;
    let parameters = match detail.get("ruleParameters") {
        Some(Value::String(text)) => {
            parsed = serde_json::from_str::<Value>(text).unwrap_or(Value::Null);
            &parsed
        }
        Some(value) => value,
        None => return BTreeMap::new(),
    };
    parameters
        .as_object()
        .into_iter()
        .flatten()
        .filter_map(|(name, value)| {
            let value = match value {
                Value::String(s) => s.clone(),
                Value::Number(n) => n.to_string(),
                _ => return None,
            };
            Some((name.clone(), value))
        })
        .collect()
}

/// The trail logging a CloudTrail rule found off: `cloudtrail-enabled` and
/// `multi-region-cloudtrail-enabled` judge the account (its region's trails are read), and
/// `cloud-trail-log-file-validation-enabled` one trail; `None` for any other rule.
fn logging_rule(rule: &str, resource_type: &str, resource_id: &str) -> Option<Stopped> {
    let rule = rule.to_ascii_lowercase();
    if !(rule.contains("cloudtrail-enabled") || rule.contains("cloud-trail-log-file-validation-enabled")) {
        return None;
    }
    Some(match resource_type {
        "AWS::CloudTrail::Trail" => Stopped::Trail {
            trail: resource_id.to_owned(),
        },
        _ => Stopped::Trails,
    })
}

#[cfg(test)]
mod tests {
    use super::super::tests::samples_in;
    use super::super::{Intake, parse};
    use crate::incident::Resource;

    #[test]
    fn every_config_sample_parses() {
        let samples = samples_in("config");
        assert!(samples.len() >= 10, "{}", samples.len());
        for (name, event) in &samples {
            match parse(event).unwrap_or_else(|e| panic!("{name}: {e}")) {
                Intake::Incident(incident) => {
                    assert!(name.contains("noncompliant"), "{name} became an incident");
                    assert!(!incident.finding_type.is_empty());
                }
                Intake::Ignored(ignored) => {
                    assert!(!name.contains("noncompliant"), "{name} ignored: {}", ignored.ignored);
                }
                Intake::Approve { .. } | Intake::Findings(_) | Intake::Timeline { .. } => {
                    panic!("{name} is not a Config event")
                }
            }
        }
    }

    #[test]
    fn rule_parameters_and_resources() {
        let samples: std::collections::BTreeMap<_, _> = samples_in("config").into_iter().collect();
        let incident = parse(&samples["access-keys-rotated-noncompliant.json"])
            .unwrap()
            .incident()
            .unwrap();
        assert_eq!(
            incident.resource,
            Resource::User {
                user_id: "AIDACKCEVSQ6C2EXAMPLE".into()
            }
        );
        assert_eq!(
            incident.rule_parameters.get("maxAccessKeyAge").map(String::as_str),
            Some("90")
        );
        let incident = parse(&samples["restricted-ssh-noncompliant.json"])
            .unwrap()
            .incident()
            .unwrap();
        assert_eq!(
            incident.resource,
            Resource::SecurityGroup {
                group_id: "sg-0123456789abcdef0".into()
            }
        );
        assert_eq!(incident.finding_type, "securityhub-restricted-ssh-a1b2c3");
    }
}
