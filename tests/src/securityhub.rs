//! Security Hub in the emulator: findings imported as their producer would, read back as a person would.

use anyhow::{Context, Result};
use aws_sdk_securityhub::types::{
    AwsSecurityFinding, Compliance, ComplianceStatus, FindingProviderFields, FindingProviderSeverity, RecordState,
    Resource, Severity, SeverityLabel, Workflow, WorkflowStatus,
};
use serde_json::Value;

use crate::account::Account;

/// Turns Security Hub on in the account (its clients' region), as an account whose findings
/// it keeps has it; on already is fine.
pub async fn enable(account: &Account) -> Result<()> {
    use aws_sdk_securityhub::error::ProvideErrorMetadata;
    match account
        .clients
        .securityhub
        .enable_security_hub()
        .enable_default_standards(false)
        .send()
        .await
    {
        Ok(_) => Ok(()),
        Err(err) if err.code() == Some("ResourceConflictException") => Ok(()),
        Err(err) => Err(err).context("EnableSecurityHub"),
    }
}

/// Imports the first finding of a Security Hub event (ASFF) into the account's Security Hub,
/// as its producer does before Security Hub sends the event: the fields a write-back and a
/// person read (ids, times, severity, resource, workflow, record state, compliance, and the
/// producer's own `FindingProviderFields`).
pub async fn import(account: &Account, event: &Value) -> Result<()> {
    let f = &event["detail"]["findings"][0];
    let text = |pointer: &str| f.pointer(pointer).and_then(Value::as_str).map(ToOwned::to_owned);
    let resource = Resource::builder()
        .set_type(text("/Resources/0/Type"))
        .set_id(text("/Resources/0/Id"))
        .set_region(text("/Resources/0/Region"))
        .set_partition(text("/Resources/0/Partition").map(|p| p.as_str().into()))
        .build();
    let mut finding = AwsSecurityFinding::builder()
        .schema_version("2018-10-08")
        .set_id(text("/Id"))
        .set_product_arn(text("/ProductArn"))
        .set_product_name(text("/ProductName"))
        .set_generator_id(text("/GeneratorId"))
        .set_aws_account_id(text("/AwsAccountId"))
        .set_region(text("/Region"))
        .set_created_at(text("/CreatedAt"))
        .set_updated_at(text("/UpdatedAt"))
        .set_title(text("/Title"))
        .set_description(text("/Description"))
        .severity(
            Severity::builder()
                .label(SeverityLabel::from(
                    text("/Severity/Label").unwrap_or_default().as_str(),
                ))
                .set_normalized(
                    f.pointer("/Severity/Normalized")
                        .and_then(Value::as_i64)
                        .and_then(|n| i32::try_from(n).ok()),
                )
                .set_original(text("/Severity/Original"))
                .build(),
        )
        .finding_provider_fields(
            FindingProviderFields::builder()
                .severity(
                    FindingProviderSeverity::builder()
                        .set_label(
                            text("/FindingProviderFields/Severity/Label").map(|l| SeverityLabel::from(l.as_str())),
                        )
                        .set_original(text("/FindingProviderFields/Severity/Original"))
                        .build(),
                )
                .set_types(
                    f.pointer("/FindingProviderFields/Types")
                        .and_then(Value::as_array)
                        .map(|types| types.iter().filter_map(Value::as_str).map(ToOwned::to_owned).collect()),
                )
                .build(),
        )
        .resources(resource)
        .workflow(
            Workflow::builder()
                .status(WorkflowStatus::from(
                    text("/Workflow/Status").unwrap_or_else(|| "NEW".into()).as_str(),
                ))
                .build(),
        )
        .record_state(RecordState::from(
            text("/RecordState").unwrap_or_else(|| "ACTIVE".into()).as_str(),
        ));
    for t in f["Types"].as_array().into_iter().flatten().filter_map(Value::as_str) {
        finding = finding.types(t);
    }
    if let Some(status) = text("/Compliance/Status") {
        finding = finding.compliance(
            Compliance::builder()
                .status(ComplianceStatus::from(status.as_str()))
                .set_security_control_id(text("/Compliance/SecurityControlId"))
                .build(),
        );
    }
    // Boxed: an SDK call's future is large, and tests call this deep in their own.
    Box::pin(enable(account)).await?;
    let out = account
        .clients
        .securityhub
        .batch_import_findings()
        .findings(finding.build())
        .send()
        .await
        .context("BatchImportFindings")?;
    anyhow::ensure!(
        out.failed_count() == Some(0),
        "import failed: {:?}",
        out.failed_findings()
    );
    Ok(())
}

/// The finding with ASFF `id`, as `GetFindings` shows it.
pub async fn finding(account: &Account, id: &str) -> Result<Option<AwsSecurityFinding>> {
    let out = account.clients.securityhub.get_findings().send().await?;
    Ok(out.findings().iter().find(|f| f.id() == Some(id)).cloned())
}

/// The Imported event Security Hub sends after someone changed a finding's `Types` and
/// `Severity` with `BatchUpdateFindings`: the finding with the values it now holds.
#[must_use]
pub fn as_updated(event: &Value, stored: &AwsSecurityFinding) -> Value {
    let mut event = event.clone();
    event["id"] = Value::String(format!("{}-after-update", event["id"].as_str().unwrap_or("event")));
    let finding = &mut event["detail"]["findings"][0];
    finding["Types"] = serde_json::json!(stored.types());
    if let Some(severity) = stored.severity() {
        finding["Severity"] = serde_json::json!({
            "Label": severity.label().map(SeverityLabel::as_str),
            "Normalized": severity.normalized(),
            "Product": severity.product(),
            "Original": severity.original(),
        });
    }
    event
}

/// The Imported event Security Hub sends after a write-back: the same finding, with the
/// workflow status and note it now has (its producer's fields, `UpdatedAt` among them, as
/// they were).
#[must_use]
pub fn after_write_back(event: &Value, stored: &AwsSecurityFinding) -> Value {
    let mut event = event.clone();
    event["id"] = Value::String(format!("{}-after-write-back", event["id"].as_str().unwrap_or("event")));
    // Whatever delivered the finding first (a custom action too), the update comes back as
    // an Imported event naming the finding.
    event["detail-type"] = Value::String("Security Hub Findings - Imported".to_owned());
    event["resources"] = serde_json::json!([stored.id()]);
    if let Some(detail) = event["detail"].as_object_mut() {
        detail.retain(|key, _| key == "findings");
    }
    let finding = &mut event["detail"]["findings"][0];
    if let Some(status) = stored.workflow().and_then(|w| w.status()) {
        finding["Workflow"] = serde_json::json!({ "Status": status.as_str() });
    }
    if let Some(note) = stored.note() {
        finding["Note"] = serde_json::json!({
            "Text": note.text(), "UpdatedBy": note.updated_by(), "UpdatedAt": note.updated_at(),
        });
    }
    if let Some(updated) = stored.updated_at() {
        finding["UpdatedAt"] = Value::String(updated.to_owned());
    }
    event
}
