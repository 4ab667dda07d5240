//! One finding in the AWS Security Finding Format (ASFF), read field by field.

use std::collections::BTreeMap;

use serde_json::Value;

use super::IntakeError;
use super::fields::{at, join, number, object, required_text, text_in, type_name};
use super::securityhub::{Read, ResourceRead, first_resource, label_severity, texts};

/// Reads what Tourniquet needs of an ASFF finding at `base` (`detail.findings.0`).
pub(super) fn read(finding: &Value, base: &str) -> Result<Read, IntakeError> {
    let id = required_text(finding, base, "Id")?;
    let (severity, product_severity) = severity(finding, base)?;
    let types = texts(at(finding, "Types").or_else(|| at(finding, "FindingProviderFields.Types")));
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

/// Security Hub's severity on a 0-10 scale (`Normalized` / 10, else the label) and the
/// producer's own where it is a 0-10 number (GuardDuty's `Product`, or `Original`).
fn severity(finding: &Value, base: &str) -> Result<(f64, Option<f64>), IntakeError> {
    let normalized = number(finding, base, "Severity.Normalized")?;
    let label =
        text_in(finding, base, "Severity.Label")?.or(text_in(finding, base, "FindingProviderFields.Severity.Label")?);
    let severity = match (normalized, label.as_deref().and_then(label_severity)) {
        (Some(n), _) if (0.0..=100.0).contains(&n) => n / 10.0,
        (Some(n), _) => {
            return Err(IntakeError::Invalid {
                path: join(base, "Severity.Normalized"),
                reason: format!("{n} is outside 0 to 100"),
            });
        }
        (None, Some(label)) => label,
        (None, None) if label.is_some() => {
            return Err(IntakeError::Invalid {
                path: join(base, "Severity.Label"),
                reason: format!("{:?} is not a severity label", label.unwrap_or_default()),
            });
        }
        (None, None) => {
            return Err(IntakeError::Missing {
                path: join(base, "Severity.Label"),
            });
        }
    };
    let product = number(finding, base, "Severity.Product")
        .ok()
        .flatten()
        .or_else(|| {
            number(finding, base, "FindingProviderFields.Severity.Original")
                .ok()
                .flatten()
        })
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
