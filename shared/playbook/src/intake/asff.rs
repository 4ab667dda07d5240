//! One finding in the AWS Security Finding Format (ASFF), read field by field.

use std::collections::BTreeMap;

use serde_json::Value;

use super::IntakeError;
use super::fields::{at, join, object, required_text, text_in, type_name};
use super::securityhub::{Read, ResourceRead, first_resource, label_severity, texts};

/// Reads what Tourniquet needs of an ASFF finding at `base` (`detail.findings.0`).
///
/// Type and severity come from `FindingProviderFields`, which only the producer writes:
/// `BatchUpdateFindings` lets any user of the account change the top-level `Types` and
/// `Severity` (`Label`, `Normalized`, `Product`), so those never decide a response.
pub(super) fn read(finding: &Value, base: &str) -> Result<Read, IntakeError> {
    let id = required_text(finding, base, "Id")?;
    let (severity, product_severity) = severity(finding, base)?;
    let types = texts(at(finding, "FindingProviderFields.Types"));
    let resource = first_resource(finding, base, "Resources", resource)?;
    let lenient = |path: &str| text_in(finding, base, path).ok().flatten();
    Ok(Read {
        finding_id: id.clone(),
        id,
        short_id: None,
        product_arn: text_in(finding, base, "ProductArn")?,
        product_name: lenient("ProductName"),
        account: text_in(finding, base, "AwsAccountId")?,
        region: text_in(finding, base, "Region")?,
        title: lenient("Title"),
        types,
        severity,
        product_severity,
        record_state: text_in(finding, base, "RecordState")?,
        workflow: text_in(finding, base, "Workflow.Status")?.or(text_in(finding, base, "WorkflowState")?),
        compliance: text_in(finding, base, "Compliance.Status")?,
        control: text_in(finding, base, "Compliance.SecurityControlId")?,
        control_parameters: control_parameters(finding),
        updated: lenient("UpdatedAt"),
        resource,
    })
}

/// The producer's severity on a 0-10 scale and, where it is a 0-10 number (GuardDuty's),
/// the producer's own. Read from `FindingProviderFields.Severity` (`Label`, else `Original`
/// as a label) or the top-level `Severity.Original`: the fields `BatchUpdateFindings` cannot change.
fn severity(finding: &Value, base: &str) -> Result<(f64, Option<f64>), IntakeError> {
    const LABEL: &str = "FindingProviderFields.Severity.Label";
    let original = text_in(finding, base, "FindingProviderFields.Severity.Original")?.or(text_in(
        finding,
        base,
        "Severity.Original",
    )?);
    let severity = match text_in(finding, base, LABEL)? {
        Some(label) => label_severity(&label).ok_or_else(|| IntakeError::Invalid {
            path: join(base, LABEL),
            reason: format!("{label:?} is not a severity label"),
        })?,
        None => match original.as_deref().and_then(label_severity) {
            Some(severity) => severity,
            None => {
                return Err(IntakeError::Missing {
                    path: join(base, LABEL),
                });
            }
        },
    };
    let product = original
        .as_deref()
        .and_then(|o| o.trim().parse::<f64>().ok())
        .filter(|s| (0.0..=10.0).contains(s));
    Ok((severity, product))
}

fn resource(value: &Value, base: &str) -> Result<ResourceRead, IntakeError> {
    if !value.is_object() {
        return Err(IntakeError::WrongType {
            path: base.to_owned(),
            expected: "an object",
            found: type_name(value),
        });
    }
    let kind = required_text(value, base, "Type")?;
    let details = object(value, base, "Details")
        .ok()
        .flatten()
        .and_then(|d| d.get(&kind))
        .cloned()
        .unwrap_or(Value::Null);
    Ok(ResourceRead {
        id: required_text(value, base, "Id")?,
        region: text_in(value, base, "Region")?,
        details,
        kind,
    })
}

/// `Compliance.SecurityControlParameters`: `[{"Name": "authorizedTcpPorts", "Value": ["80", "443"]}]`,
/// each value list joined with commas, as Config's parameters are written. Unreadable ones are skipped.
fn control_parameters(finding: &Value) -> BTreeMap<String, String> {
    let Some(Value::Array(parameters)) = at(finding, "Compliance.SecurityControlParameters") else {
        return BTreeMap::new();
    };
    parameters
        .iter()
        .filter_map(|p| {
            let name = p.get("Name")?.as_str()?;
            let values: Vec<String> = match p.get("Value")? {
                Value::Array(items) => items.iter().filter_map(scalar).collect(),
                other => vec![scalar(other)?],
            };
            (!values.is_empty()).then(|| (name.to_owned(), values.join(",")))
        })
        .collect()
}

fn scalar(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}
