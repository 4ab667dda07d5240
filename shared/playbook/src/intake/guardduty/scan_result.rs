//! A Malware Protection for S3 scan result (no finding, no `type`): the scan's verdict on one object, answered as the finding for it is.
//!
//! GuardDuty sends it to the bucket owner's default bus for every scanned object, with a
//! detector or without one (without one, no finding is made: this event is the only word).

use serde_json::Value;

use super::objects;
use crate::incident::{Incident, Source};
use crate::intake::fields::{object, text, text_in};
use crate::intake::{Intake, IntakeError};

/// The event's `detail-type`.
pub(in crate::intake) const DETAIL_TYPE: &str = "GuardDuty Malware Protection Object Scan Result";

/// The finding type a malicious object's scan result is answered as (the route of
/// Malware Protection for S3's own finding).
const FINDING_TYPE: &str = "Execution:S3/MaliciousFile";

/// GuardDuty rates a malicious object high.
const SEVERITY: f64 = 8.0;

/// THREATS_FOUND: an incident paged as the finding is; NO_THREATS_FOUND: nothing to do; any
/// other result (the scan skipped, failed, denied, or a result not known here): answered
/// with what the scan said, nothing to contain.
pub(in crate::intake) fn from_envelope(event: &Value) -> Result<Intake, IntakeError> {
    let detail = object(event, "", "detail")?.ok_or_else(|| IntakeError::Missing {
        path: "detail".to_owned(),
    })?;
    let details = detail.get("s3ObjectDetails");
    let field = |name: &str| details.and_then(|d| objects::text(d, name));
    let (bucket, key) = (field("bucketName"), field("objectKey"));
    let label = format!(
        "s3://{}/{}",
        bucket.as_deref().unwrap_or("<bucket>"),
        key.as_deref().unwrap_or("<key>")
    );
    let result = text_in(detail, "detail", "scanResultDetails.scanResultStatus")?;
    match result.as_deref() {
        Some("THREATS_FOUND") => {}
        Some("NO_THREATS_FOUND") => {
            return Ok(Intake::ignored(
                Source::GuardDuty,
                format!("Malware Protection found no threat in {label}; nothing to do"),
            ));
        }
        other => {
            let status = text_in(detail, "detail", "scanStatus")?;
            return Ok(Intake::ignored(
                Source::GuardDuty,
                format!(
                    "Malware Protection gave no verdict on {label} (scan status {}, result {}): no threat was \
                     reported, so there is nothing to contain; an object it cannot scan (unsupported, access \
                     denied, failed) is worth a look in the protection plan's console",
                    status.as_deref().unwrap_or("missing"),
                    other.unwrap_or("missing")
                ),
            ));
        }
    }
    let threats: Vec<String> = detail
        .pointer("/scanResultDetails/threats")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|t| objects::text(t, "name"))
        .collect();
    let version = field("versionId");
    let etag = field("eTag");
    let (resource, details) = objects::object(
        [
            ("bucket", bucket.clone()),
            ("key", key.clone()),
            ("version", version.clone()),
            ("hash", None),
            ("etag", etag.clone()),
            ("object", None),
        ],
        &threats,
    );
    let account = text(event, "account")?;
    let region = text(event, "region")?;
    // The object's own identity: a redelivery, or the same verdict sent again, is one incident.
    let finding_id = format!(
        "malware-scan:{label}@{}",
        version.or(etag).unwrap_or_else(|| "latest".to_owned())
    );
    let threat = if threats.is_empty() {
        String::new()
    } else {
        format!(": {}", threats.join(", "))
    };
    Ok(Incident {
        id: Incident::id_for(Source::GuardDuty, account.as_deref(), region.as_deref(), &finding_id),
        source: Source::GuardDuty,
        finding_id,
        finding_type: FINDING_TYPE.to_owned(),
        severity: SEVERITY,
        account,
        region,
        summary: format!("Malware Protection found a threat in {label}{threat}"),
        resource,
        details,
        rule_parameters: std::collections::BTreeMap::new(),
        finding_arn: None,
        attacker: None,
        raw: event.clone(),
        security_hub: None,
    }
    .into())
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use crate::incident::Resource;
    use crate::intake::{Intake, parse};

    const SAMPLE: &str = include_str!("../../../../../events/malware-protection/s3-object-scan-threats-found.json");

    fn with_result(result: Option<&str>) -> Value {
        let mut event: Value = serde_json::from_str(SAMPLE).unwrap();
        match result {
            Some(result) => event["detail"]["scanResultDetails"]["scanResultStatus"] = json!(result),
            None => drop(event["detail"].as_object_mut().unwrap().remove("scanResultDetails")),
        }
        event
    }

    #[test]
    fn threats_found_is_an_incident_paged_as_the_finding_is() {
        let incident = parse(&with_result(Some("THREATS_FOUND"))).unwrap().incident().unwrap();
        assert_eq!(
            incident.resource,
            Resource::Other {
                resource_type: "S3Object".into(),
                name: Some("s3://tourniquet-drill-public-assets/uploads/invoice-2024-11.pdf.exe".into())
            }
        );
        assert_eq!(incident.finding_type, "Execution:S3/MaliciousFile");
        assert_eq!(incident.details["version"], "3HL4kqtJvjVBH40Nrjfkd");
        assert_eq!(incident.details["threats"], "EICAR-Test-File (not a virus)");
        assert!(incident.details["runbook"].contains("left as it is"));
        // A redelivery is the same incident.
        let again = parse(&with_result(Some("THREATS_FOUND"))).unwrap().incident().unwrap();
        assert_eq!(again.id, incident.id);
    }

    #[test]
    fn no_threat_and_other_results_are_answered_without_an_incident() {
        let Ok(Intake::Ignored(clean)) = parse(&with_result(Some("NO_THREATS_FOUND"))) else {
            panic!("ignored");
        };
        assert!(clean.ignored.contains("no threat"), "{}", clean.ignored);
        for other in [
            Some("UNSUPPORTED"),
            Some("ACCESS_DENIED"),
            Some("FAILED"),
            Some("SOMETHING_NEW"),
            None,
        ] {
            let Ok(Intake::Ignored(answer)) = parse(&with_result(other)) else {
                panic!("{other:?}: ignored");
            };
            assert!(
                answer.ignored.contains(other.unwrap_or("missing"))
                    && answer.ignored.contains("uploads/invoice-2024-11.pdf.exe"),
                "{}",
                answer.ignored
            );
        }
    }
}
