//! A malicious S3 object (Malware Protection for S3): the object named with its bucket, key, version and hash, for a page.
//!
//! Tourniquet leaves the object alone: GuardDuty's own scan tag marks it, and a bucket
//! policy on that tag is what quarantines it.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::incident::Resource;

/// The object a Malware Protection for S3 finding names (`resource.resourceType`
/// `S3Object`, or any `*:S3/MaliciousFile` finding), and the facts for the page; `None` for
/// other findings.
pub(super) fn resource(
    finding: &Value,
    value: &Value,
    resource_type: &str,
    finding_type: &str,
) -> Option<(Resource, BTreeMap<String, String>)> {
    if resource_type != "S3Object" && !finding_type.ends_with(":S3/MaliciousFile") {
        return None;
    }
    let bucket = value
        .get("s3BucketDetails")
        .and_then(Value::as_array)
        .and_then(|b| b.first());
    let object_details = bucket
        .and_then(|b| b.get("s3ObjectDetails"))
        .and_then(Value::as_array)
        .and_then(|o| o.first());
    let field = |from: Option<&Value>, name: &str| from.and_then(|v| text(v, name));
    let threats: Vec<String> = super::super::fields::at(finding, "service.malwareScanDetails.threats")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|t| text(t, "name"))
        .collect();
    Some(object(
        [
            ("bucket", field(bucket, "name")),
            ("key", field(object_details, "key")),
            ("version", field(object_details, "versionId")),
            ("hash", field(object_details, "hash")),
            ("etag", field(object_details, "eTag")),
            ("object", field(object_details, "objectArn")),
        ],
        &threats,
    ))
}

/// The object as the page names it, from its facts (`bucket`, `key`, `version`, `hash`,
/// `etag`, `object`, each if known) and the threats found in it; with the runbook.
pub(super) fn object(facts: [(&str, Option<String>); 6], threats: &[String]) -> (Resource, BTreeMap<String, String>) {
    let mut details = BTreeMap::new();
    for (label, text) in facts {
        if let Some(text) = text {
            details.insert(label.to_owned(), text);
        }
    }
    let name = details.get("bucket").cloned();
    let key = details.get("key").cloned();
    if !threats.is_empty() {
        details.insert("threats".to_owned(), threats.join(", "));
    }
    let (bucket_name, key_name) = (
        name.clone().unwrap_or_else(|| "<bucket>".to_owned()),
        key.clone().unwrap_or_else(|| "<key>".to_owned()),
    );
    let version = details
        .get("version")
        .map(|v| format!(" --version-id {v}"))
        .unwrap_or_default();
    details.insert(
        "runbook".to_owned(),
        format!(
            "the object is left as it is: GuardDuty tags it GuardDutyMalwareScanStatus=THREATS_FOUND, and a bucket \
             policy denying s3:GetObject on that tag keeps it from being read. Check: aws s3api get-object-tagging \
             --bucket {bucket_name} --key {key_name}{version}; find who uploaded it in CloudTrail data events; once \
             confirmed, delete that version: aws s3api delete-object --bucket {bucket_name} --key {key_name}{version}"
        ),
    );
    let name = match (name, key) {
        (Some(bucket), Some(key)) => Some(format!("s3://{bucket}/{key}")),
        (bucket, _) => bucket,
    };
    (
        Resource::Other {
            resource_type: "S3Object".to_owned(),
            name,
        },
        details,
    )
}

pub(super) fn text(value: &Value, field: &str) -> Option<String> {
    value
        .get(field)
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .map(ToOwned::to_owned)
}

#[cfg(test)]
mod tests {
    use crate::incident::Resource;
    use crate::policy::{Playbook, Policy};
    use crate::settings::Settings;
    use crate::target::{Target, target};

    const SAMPLE: &str = include_str!("../../../../../events/guardduty/s3-malicious-file.json");

    #[test]
    fn a_malicious_object_pages_with_bucket_key_version_and_hash_and_nothing_acts() {
        let event: serde_json::Value = serde_json::from_str(SAMPLE).unwrap();
        let incident = crate::intake::parse(&event).unwrap().incident().unwrap();
        assert_eq!(
            incident.resource,
            Resource::Other {
                resource_type: "S3Object".into(),
                name: Some("s3://tourniquet-drill-public-assets/uploads/invoice-2024-11.pdf.exe".into())
            }
        );
        let details = &incident.details;
        assert_eq!(details["bucket"], "tourniquet-drill-public-assets");
        assert_eq!(details["key"], "uploads/invoice-2024-11.pdf.exe");
        assert_eq!(details["version"], "3HL4kqtJvjVBH40Nrjfkd");
        assert_eq!(
            details["hash"],
            "275a021bbfb6489e54d471899f7db9d1663fc695ec2fe2a2c4538aabf651fd0f"
        );
        assert!(details["runbook"].contains("left as it is"), "{details:?}");
        let settings = Settings::from_lookup(|var| match var {
            "TOURNIQUET_TOPIC_ARN" => Some("arn:aws:sns:us-east-1:123456789012:pages".into()),
            "TOURNIQUET_EVIDENCE_BUCKET" => Some("evidence".into()),
            _ => None,
        })
        .unwrap();
        let policy = Policy::new(&settings).unwrap();
        // Even with the bucket public, the object's finding never blocks the bucket.
        let mut public = event.clone();
        public["detail"]["resource"]["s3BucketDetails"][0]["publicAccess"] =
            serde_json::json!({"effectivePermission": "PUBLIC"});
        for event in [&event, &public] {
            let incident = crate::intake::parse(event).unwrap().incident().unwrap();
            let target = target(&incident, &policy);
            assert!(matches!(target, Target::PageOnly { .. }), "{target:?}");
            let plan = crate::plan::plan(
                &incident,
                &target,
                &crate::observation::Observation::NotNeeded,
                &policy,
                std::time::SystemTime::UNIX_EPOCH,
            );
            assert_eq!(plan.playbook, Playbook::PageOnly);
            assert!(plan.steps.iter().all(|s| !s.step.mutates()), "{plan:?}");
        }
    }
}
