//! One finding in OCSF, as the current Security Hub sends it (`Findings Imported V2`), read field by field.

use std::collections::BTreeMap;

use serde_json::Value;

use super::IntakeError;
use super::fields::{at, join, number, required_text, text_in, type_name};
use super::securityhub::{Read, ResourceRead, first_resource, label_severity, texts};

/// Reads what Tourniquet needs of an OCSF finding at `base` (`detail.findings.0`).
pub(super) fn read(finding: &Value, base: &str) -> Result<Read, IntakeError> {
    let finding_id = required_text(finding, base, "finding_info.uid")?;
    let status = status(finding, base)?;
    let types = texts(at(finding, "finding_info.types"));
    let resource = first_resource(finding, base, "resources", resource)?;
    let lenient = |path: &str| text_in(finding, base, path).ok().flatten();
    Ok(Read {
        id: text_in(finding, base, "metadata.uid")?.unwrap_or_else(|| finding_id.clone()),
        finding_id,
        short_id: lenient("finding_info.uid_alt"),
        product_arn: text_in(finding, base, "metadata.product.uid")?,
        product_name: lenient("metadata.product.name"),
        account: text_in(finding, base, "cloud.account.uid")?,
        region: text_in(finding, base, "cloud.region")?,
        title: lenient("finding_info.title"),
        types,
        severity: severity(finding, base)?,
        product_severity: None,
        record_state: Some(if status == Some(5) { "ARCHIVED" } else { "ACTIVE" }.to_owned()),
        workflow: status.and_then(|id| {
            Some(
                match id {
                    1 => "NEW",
                    2 => "NOTIFIED",
                    3 => "SUPPRESSED",
                    4 => "RESOLVED",
                    5 => return None,
                    6 => "DELETED",
                    _ => "OTHER",
                }
                .to_owned(),
            )
        }),
        compliance: compliance(finding, base)?,
        control: text_in(finding, base, "compliance.control")?,
        control_parameters: control_parameters(finding),
        updated: lenient("finding_info.modified_time_dt").or_else(|| lenient("finding_info.modified_time")),
        resource,
    })
}

/// OCSF's `status_id` (1 New, 2 In Progress, 3 Suppressed, 4 Resolved, 5 Archived), or its
/// `status` caption when the id is missing.
fn status(finding: &Value, base: &str) -> Result<Option<u8>, IntakeError> {
    if let Some(id) = number(finding, base, "status_id")? {
        return Ok(Some(whole(id).filter(|id| (1..=6).contains(id)).unwrap_or(99)));
    }
    Ok(
        text_in(finding, base, "status")?.map(|caption| match caption.to_ascii_lowercase().as_str() {
            "new" => 1,
            "in progress" | "in_progress" => 2,
            "suppressed" => 3,
            "resolved" => 4,
            "archived" => 5,
            "deleted" => 6,
            _ => 99,
        }),
    )
}

/// A small whole number (an OCSF enum id), if `n` is one.
fn whole(n: f64) -> Option<u8> {
    (0.0..=255.0)
        .contains(&n)
        .then_some(n)
        .filter(|n| n.fract() == 0.0)
        .and_then(|n| format!("{n:.0}").parse().ok())
}

/// The producer's severity: `BatchUpdateFindingsV2` lets any user change `severity_id` (and
/// with it the `severity` caption), and Security Hub then keeps the producer's own in
/// `vendor_attributes` (OCSF: "to distinguish between the vendor-provided values and
/// consumer-updated values"). So `vendor_attributes.severity_id` (or its caption) where it
/// is, the finding's `severity_id` (or caption) only where no one has changed it.
fn severity(finding: &Value, base: &str) -> Result<f64, IntakeError> {
    if let Some(vendor) = severity_at(finding, base, "vendor_attributes.")? {
        return Ok(vendor);
    }
    severity_at(finding, base, "")?.ok_or_else(|| IntakeError::Missing {
        path: join(base, "severity_id"),
    })
}

/// `<prefix>severity_id` (1 Informational to 5 Critical, 6 Fatal) or the `<prefix>severity` caption.
fn severity_at(finding: &Value, base: &str, prefix: &str) -> Result<Option<f64>, IntakeError> {
    if let Some(id) = number(finding, base, &format!("{prefix}severity_id"))? {
        let caption = match whole(id) {
            Some(0) => "UNKNOWN",
            Some(1) => "INFORMATIONAL",
            Some(2) => "LOW",
            Some(3) => "MEDIUM",
            Some(4) => "HIGH",
            Some(5) => "CRITICAL",
            Some(6) => "FATAL",
            _ => "",
        };
        if let Some(severity) = label_severity(caption) {
            return Ok(Some(severity));
        }
    }
    let path = format!("{prefix}severity");
    match text_in(finding, base, &path)? {
        Some(caption) => label_severity(&caption).map(Some).ok_or_else(|| IntakeError::Invalid {
            path: join(base, &path),
            reason: format!("{caption:?} is not a severity"),
        }),
        None => Ok(None),
    }
}

/// `compliance.status_id` (1 Pass, 2 Warning, 3 Fail) or `compliance.status`, as ASFF names them.
fn compliance(finding: &Value, base: &str) -> Result<Option<String>, IntakeError> {
    let by_id = number(finding, base, "compliance.status_id")?.map(|id| match whole(id) {
        Some(1) => "PASSED",
        Some(2) => "WARNING",
        Some(3) => "FAILED",
        _ => "NOT_AVAILABLE",
    });
    if let Some(status) = by_id {
        return Ok(Some(status.to_owned()));
    }
    Ok(text_in(finding, base, "compliance.status")?.map(|caption| {
        match caption.to_ascii_lowercase().as_str() {
            "pass" | "passed" => "PASSED",
            "warning" => "WARNING",
            "fail" | "failed" => "FAILED",
            _ => "NOT_AVAILABLE",
        }
        .to_owned()
    }))
}

fn resource(value: &Value, base: &str) -> Result<ResourceRead, IntakeError> {
    if !value.is_object() {
        return Err(IntakeError::WrongType {
            path: base.to_owned(),
            expected: "an object",
            found: type_name(value),
        });
    }
    Ok(ResourceRead {
        kind: required_text(value, base, "type")?,
        id: required_text(value, base, "uid")?,
        region: text_in(value, base, "region")?,
        details: value.clone(),
    })
}

/// `compliance.control_parameters`: `[{"name": "authorizedTcpPorts", "value": ["80", "443"]}]`
/// (a list or one value), joined with commas as Config's parameters are written.
fn control_parameters(finding: &Value) -> BTreeMap<String, String> {
    let Some(Value::Array(parameters)) = at(finding, "compliance.control_parameters") else {
        return BTreeMap::new();
    };
    let scalar = |v: &Value| match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    };
    parameters
        .iter()
        .filter_map(|p| {
            let name = p.get("name")?.as_str()?;
            let values: Vec<String> = match p.get("value").or_else(|| p.get("values"))? {
                Value::Array(items) => items.iter().filter_map(scalar).collect(),
                other => vec![scalar(other)?],
            };
            (!values.is_empty()).then(|| (name.to_owned(), values.join(",")))
        })
        .collect()
}
