//! GuardDuty findings, in their EventBridge envelope or bare, read field by field.

use serde_json::Value;
use sha2::{Digest, Sha256};

use super::fields::{number, object, required_text, text, text_in};
use super::{Intake, IntakeError};
use crate::incident::{Attacker, Incident, Resource, Source, UserType};

mod evasion;
mod objects;
mod scan_result;
mod sequence;
mod workloads;

pub use workloads::EFFECTIVE_PERMISSION;

/// An EventBridge "GuardDuty Finding" event, or a Malware Protection for S3 scan result.
pub(super) fn from_envelope(event: &Value) -> Result<Intake, IntakeError> {
    if text(event, "detail-type")?.as_deref() == Some(scan_result::DETAIL_TYPE) {
        return scan_result::from_envelope(event);
    }
    let detail = object(event, "", "detail")?.ok_or_else(|| IntakeError::Missing {
        path: "detail".to_owned(),
    })?;
    let envelope = Envelope {
        account: text(event, "account")?,
        region: text(event, "region")?,
    };
    from_finding_with(detail, &envelope, "detail", event)
}

/// A bare finding (the `detail` alone, as used in manual drills).
pub(super) fn from_finding(finding: &Value) -> Result<Intake, IntakeError> {
    let envelope = Envelope {
        account: None,
        region: None,
    };
    from_finding_with(finding, &envelope, "", finding)
}

struct Envelope {
    account: Option<String>,
    region: Option<String>,
}

fn from_finding_with(finding: &Value, envelope: &Envelope, base: &str, raw: &Value) -> Result<Intake, IntakeError> {
    let finding_type = required_text(finding, base, "type")?;
    let resource_value = object(finding, base, "resource")?.ok_or_else(|| IntakeError::Missing {
        path: super::fields::join(base, "resource"),
    })?;
    let resource_base = super::fields::join(base, "resource");
    let resource_type = required_text(resource_value, &resource_base, "resourceType")?;
    let workload = match sequence::resource(finding, &finding_type)
        .or_else(|| evasion::resource(finding, resource_value, &finding_type))
        .or_else(|| objects::resource(finding, resource_value, &resource_type, &finding_type))
    {
        Some(read) => Some(read),
        None => workloads::resource(finding, resource_value, &resource_base, &resource_type, &finding_type)?,
    };
    let (resource, details) = match workload {
        Some(read) => read,
        None => (
            resource(resource_value, &resource_base)?,
            std::collections::BTreeMap::new(),
        ),
    };
    let severity = number(finding, base, "severity")?.ok_or_else(|| IntakeError::Missing {
        path: super::fields::join(base, "severity"),
    })?;
    if !(0.0..=10.0).contains(&severity) {
        return Err(IntakeError::Invalid {
            path: super::fields::join(base, "severity"),
            reason: format!("{severity} is outside 0 to 10"),
        });
    }
    let account = text_in(finding, base, "accountId")?.or_else(|| envelope.account.clone());
    let region = text_in(finding, base, "region")?.or_else(|| envelope.region.clone());
    // A finding without an id still needs a stable identity: hash its canonical JSON
    // (serde_json sorts object keys), so a redelivery of the same bytes maps to the same incident.
    let finding_id = text_in(finding, base, "id")?.unwrap_or_else(|| {
        let canonical = serde_json::to_vec(finding).unwrap_or_default();
        format!("sha256:{}", hex::encode(Sha256::digest(canonical)))
    });
    let title = text_in(finding, base, "title")?;
    let label = resource.label();
    let summary = match title {
        Some(title) if title.contains(&label) => title,
        Some(title) => format!("{title} ({label})"),
        None => format!("{finding_type} on {label}"),
    };
    Ok(Incident {
        id: Incident::id_for(Source::GuardDuty, account.as_deref(), region.as_deref(), &finding_id),
        source: Source::GuardDuty,
        finding_id,
        finding_type,
        severity,
        account,
        region,
        resource,
        summary,
        details,
        rule_parameters: std::collections::BTreeMap::new(),
        finding_arn: lenient_text(finding, "arn"),
        attacker: attacker(finding),
        raw: raw.clone(),
        security_hub: None,
    }
    .into())
}

fn resource(value: &Value, base: &str) -> Result<Resource, IntakeError> {
    let resource_type = required_text(value, base, "resourceType")?;
    Ok(match resource_type.as_str() {
        "Instance" => Resource::Instance {
            instance_id: required_text(value, base, "instanceDetails.instanceId")?,
        },
        "AccessKey" => Resource::AccessKey {
            access_key_id: text_in(value, base, "accessKeyDetails.accessKeyId")?,
            principal_id: text_in(value, base, "accessKeyDetails.principalId")?,
            user_name: text_in(value, base, "accessKeyDetails.userName")?,
            user_type: text_in(value, base, "accessKeyDetails.userType")?.map(|t| UserType::parse(&t)),
        },
        "S3Bucket" => match first_bucket(value, base)? {
            Some(name) => Resource::Bucket { name },
            None => Resource::Other {
                resource_type,
                name: None,
            },
        },
        _ => {
            let name = other_name(value, base, &resource_type);
            Resource::Other { resource_type, name }
        }
    })
}

/// A text field read for the page only: a value of the wrong type is dropped, never an error.
fn lenient_text(value: &Value, path: &str) -> Option<String> {
    text_in(value, "", path).ok().flatten()
}

/// The attacker's side of the finding from `service.action`, for whichever action type it
/// has. Read for the page only: anything missing or of the wrong type is left out.
fn attacker(finding: &Value) -> Option<Attacker> {
    let action = super::fields::at(finding, "service.action")?;
    let kinds = [
        "networkConnectionAction",
        "awsApiCallAction",
        "dnsRequestAction",
        "kubernetesApiCallAction",
        "rdsLoginAttemptAction",
    ];
    let detail = kinds.iter().find_map(|k| action.get(*k).filter(|v| v.is_object()));
    // A port probe lists its probes: the first one speaks for them.
    let probe = super::fields::at(action, "portProbeAction.portProbeDetails")
        .and_then(Value::as_array)
        .and_then(|probes| probes.first());
    let detail = detail.or(probe)?;
    let remote = detail.get("remoteIpDetails");
    let remote_text = |path: &str| remote.and_then(|r| lenient_text(r, path));
    let port = super::fields::at(detail, "localPortDetails.port").and_then(|p| match p {
        Value::Number(n) => n.as_u64().and_then(|n| u32::try_from(n).ok()),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    });
    let api = lenient_text(detail, "api").map(|api| match lenient_text(detail, "serviceName") {
        Some(service) => format!("{service}:{api}"),
        None => api,
    });
    let api = api.or_else(|| {
        let verb = lenient_text(detail, "verb")?;
        Some(match lenient_text(detail, "requestUri") {
            Some(uri) => format!("{verb} {uri}"),
            None => verb,
        })
    });
    let attacker = Attacker {
        action_type: lenient_text(action, "actionType"),
        remote_ip: remote_text("ipAddressV4").or_else(|| remote_text("ipAddressV6")),
        country: remote_text("country.countryName"),
        city: remote_text("city.cityName"),
        organization: remote_text("organization.org")
            .or_else(|| remote_text("organization.asnOrg"))
            .or_else(|| remote_text("organization.isp")),
        asn: remote_text("organization.asn"),
        port,
        port_name: lenient_text(detail, "localPortDetails.portName"),
        protocol: lenient_text(detail, "protocol"),
        direction: lenient_text(detail, "connectionDirection"),
        api,
        domain: lenient_text(detail, "domain").or_else(|| lenient_text(detail, "domainDetails.domain")),
    };
    (!attacker.is_empty()).then_some(attacker)
}

/// The first bucket of `s3BucketDetails`, which GuardDuty sends as a list.
fn first_bucket(value: &Value, base: &str) -> Result<Option<String>, IntakeError> {
    match value.get("s3BucketDetails") {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Array(buckets)) => match buckets.first() {
            Some(bucket) => text_in(bucket, &format!("{base}.s3BucketDetails.0"), "name"),
            None => Ok(None),
        },
        Some(other) => Err(IntakeError::WrongType {
            path: format!("{base}.s3BucketDetails"),
            expected: "an array",
            found: super::fields::type_name(other),
        }),
    }
}

/// A best-effort name for resources without a playbook, for the page.
fn other_name(value: &Value, base: &str, resource_type: &str) -> Option<String> {
    let path = match resource_type {
        "EKSCluster" => "eksClusterDetails.name",
        "RDSDBInstance" => "rdsDbInstanceDetails.dbInstanceIdentifier",
        "Lambda" => "lambdaDetails.functionName",
        "ECSCluster" => "ecsClusterDetails.name",
        "Container" => "containerDetails.name",
        _ => return None,
    };
    // A name of the wrong type is not worth refusing the event over: the page still goes out.
    text_in(value, base, path).unwrap_or(None)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(event: &Value) -> Result<Incident, IntakeError> {
        super::super::parse(event).map(|i| i.incident().expect("an incident"))
    }
    use serde_json::json;

    fn finding() -> Value {
        json!({
            "source": "aws.guardduty",
            "detail-type": "GuardDuty Finding",
            "account": "123456789012",
            "region": "us-east-1",
            "detail": {
                "id": "abc",
                "type": "UnauthorizedAccess:EC2/SSHBruteForce",
                "severity": 8,
                "title": "SSH brute force",
                "resource": {"resourceType": "Instance", "instanceDetails": {"instanceId": "i-1"}}
            }
        })
    }

    #[test]
    fn reads_an_instance_finding() {
        let incident = parse(&finding()).unwrap();
        assert_eq!(incident.finding_type, "UnauthorizedAccess:EC2/SSHBruteForce");
        assert!((incident.severity - 8.0).abs() < f64::EPSILON);
        assert_eq!(incident.account.as_deref(), Some("123456789012"));
        assert_eq!(
            incident.resource,
            Resource::Instance {
                instance_id: "i-1".into()
            }
        );
        assert_eq!(incident.summary, "SSH brute force (i-1)");
    }

    #[test]
    fn reads_the_attackers_side_leniently() {
        let event: Value = serde_json::from_str(include_str!(
            "../../../../events/guardduty/ec2-ssh-brute-force-web-server.json"
        ))
        .unwrap();
        let incident = parse(&event).unwrap();
        let attacker = incident.attacker.clone().expect("an attacker");
        assert_eq!(attacker.remote_ip.as_deref(), Some("198.51.100.23"));
        assert_eq!(attacker.country.as_deref(), Some("China"));
        assert_eq!(attacker.organization.as_deref(), Some("China Telecom"));
        assert_eq!(attacker.port, Some(22));
        assert!(
            attacker.describe().contains("port 22 (SSH) TCP INBOUND"),
            "{}",
            attacker.describe()
        );
        assert!(
            incident
                .finding_arn
                .as_deref()
                .is_some_and(|a| a.starts_with("arn:aws:guardduty:"))
        );

        let mut api = finding();
        api["detail"]["service"] = json!({"action": {"actionType": "AWS_API_CALL", "awsApiCallAction": {
            "api": "ListUsers", "serviceName": "iam.amazonaws.com",
            "remoteIpDetails": {"ipAddressV4": "203.0.113.9", "country": {"countryName": "Nowhere"}}}}});
        let attacker = parse(&api).unwrap().attacker.unwrap();
        assert_eq!(attacker.api.as_deref(), Some("iam.amazonaws.com:ListUsers"));
        assert_eq!(
            attacker.describe(),
            "203.0.113.9 (Nowhere), API iam.amazonaws.com:ListUsers"
        );

        // Wrong types, odd shapes: the event is still an incident, the fields are left out.
        for service in [
            json!("x"),
            json!({"action": []}),
            json!({"action": {"networkConnectionAction": {"remoteIpDetails": {"ipAddressV4": ["x"]},
                "localPortDetails": {"port": "twenty"}}}}),
            json!({"action": {"portProbeAction": {"portProbeDetails": {}}}}),
        ] {
            let mut odd = finding();
            odd["detail"]["service"] = service.clone();
            let incident = parse(&odd).unwrap_or_else(|e| panic!("{service}: {e}"));
            assert_eq!(incident.attacker, None, "{service}");
        }
        let mut probe = finding();
        probe["detail"]["service"] = json!({"action": {"portProbeAction": {"portProbeDetails": [
            {"localPortDetails": {"port": "3389", "portName": "RDP"}, "remoteIpDetails": {"ipAddressV4": "192.0.2.1"}}]}}});
        let attacker = parse(&probe).unwrap().attacker.unwrap();
        assert_eq!(
            (attacker.port, attacker.remote_ip.as_deref()),
            (Some(3389), Some("192.0.2.1"))
        );
    }

    #[test]
    fn bare_finding_gets_the_same_incident_id_when_fields_match() {
        let mut event = finding();
        event["detail"]["accountId"] = json!("123456789012");
        event["detail"]["region"] = json!("us-east-1");
        let wrapped = parse(&event).unwrap();
        let bare = parse(&event["detail"]).unwrap();
        assert_eq!(wrapped.id, bare.id);
    }

    #[test]
    fn errors_name_the_field() {
        let cases = [
            ("/detail/type", json!(null), "missing field `detail.type`"),
            (
                "/detail/type",
                json!(["x"]),
                "field `detail.type` should be a string, found an array",
            ),
            (
                "/detail/resource",
                json!("i-1"),
                "field `detail.resource` should be an object, found a string",
            ),
            (
                "/detail/resource/resourceType",
                json!(null),
                "missing field `detail.resource.resourceType`",
            ),
            (
                "/detail/resource/instanceDetails",
                json!({}),
                "missing field `detail.resource.instanceDetails.instanceId`",
            ),
            (
                "/detail/severity",
                json!("high"),
                "field `detail.severity` should be a number, found a string that is not a number",
            ),
            (
                "/detail/severity",
                json!(11),
                "field `detail.severity` has an invalid value: 11 is outside 0 to 10",
            ),
            (
                "/detail",
                json!([]),
                "field `detail` should be an object, found an array",
            ),
        ];
        for (pointer, value, message) in cases {
            let mut event = finding();
            *event.pointer_mut(pointer).unwrap() = value;
            assert_eq!(parse(&event).unwrap_err().to_string(), message, "{pointer}");
        }
        let mut event = finding();
        event["detail"].as_object_mut().unwrap().remove("resource");
        assert_eq!(
            parse(&event).unwrap_err().to_string(),
            "missing field `detail.resource`"
        );
    }

    /// A finding without an id is known by a hash of its JSON: the same finding serialized
    /// with its keys in another order is the same incident, another finding another one.
    #[test]
    fn finding_without_id_is_known_by_its_content_not_its_key_order() {
        let mut event = finding();
        event["detail"].as_object_mut().unwrap().remove("id");
        let incident = parse(&event).unwrap();
        assert!(incident.finding_id.starts_with("sha256:"), "{}", incident.finding_id);

        let text = super::super::tests::reordered(&event);
        assert_ne!(text, event.to_string(), "the bytes differ");
        let redelivered: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(parse(&redelivered).unwrap().id, incident.id);

        let mut other = event.clone();
        other["detail"]["resource"]["instanceDetails"]["instanceId"] = json!("i-2");
        assert_ne!(parse(&other).unwrap().id, incident.id, "another finding");
    }

    /// With an id, the incident is the finding's: severity as a string (`"8.0"`, as some
    /// forwarders send it) and any key order give the same incident; another id another one.
    #[test]
    fn incident_id_is_the_findings_whatever_its_serialization() {
        let event = finding();
        let incident = parse(&event).unwrap();
        let mut variant = event.clone();
        variant["detail"]["severity"] = json!("8.0");
        let redelivered: Value = serde_json::from_str(&super::super::tests::reordered(&variant)).unwrap();
        let again = parse(&redelivered).unwrap();
        assert!((again.severity - 8.0).abs() < f64::EPSILON);
        assert_eq!(again.id, incident.id);

        let mut other = event.clone();
        other["detail"]["id"] = json!("abd");
        assert_ne!(parse(&other).unwrap().id, incident.id, "another finding");
    }
}
