//! Security Hub: write the response back to its finding (note and workflow status), in either format.

use aws_sdk_securityhub::Client;
use aws_sdk_securityhub::types::{AwsSecurityFindingIdentifier, NoteUpdate, WorkflowStatus, WorkflowUpdate};

use super::{AwsError, Done, request_id, sdk};
use crate::page::write_back::Workflow;
use crate::securityhub::{Finding, Format};

/// Who the note says wrote it.
pub const UPDATED_BY: &str = "tourniquet";

/// Whether Security Hub refused a write-back because it is not enabled in the account and
/// region (`InvalidAccessException`): no retry changes that.
#[must_use]
pub fn hub_off(err: &AwsError) -> bool {
    err.code == "InvalidAccessException"
}

/// Writes `note` and `status` to `finding`: `BatchUpdateFindings` for an ASFF finding,
/// `BatchUpdateFindingsV2` for an OCSF one. A finding Security Hub did not process is a
/// failure with its error code, as a refused call is.
pub async fn update_finding(
    client: &Client,
    finding: &Finding,
    status: Workflow,
    note: &str,
) -> Result<Done, AwsError> {
    let detail = serde_json::json!({
        "finding": finding.id,
        "workflow": status.as_str(),
        "note": note,
    });
    match finding.format {
        Format::Asff => {
            let output = client
                .batch_update_findings()
                .finding_identifiers(
                    AwsSecurityFindingIdentifier::builder()
                        .id(&finding.id)
                        .product_arn(&finding.product_arn)
                        .build(),
                )
                .note(NoteUpdate::builder().text(note).updated_by(UPDATED_BY).build())
                .workflow(
                    WorkflowUpdate::builder()
                        .status(match status {
                            Workflow::Notified => WorkflowStatus::Notified,
                            Workflow::Resolved => WorkflowStatus::Resolved,
                        })
                        .build(),
                )
                .send()
                .await
                .map_err(sdk("BatchUpdateFindings"))?;
            if let Some(refused) = output.unprocessed_findings().first() {
                return Err(AwsError {
                    request_id: request_id(&output),
                    ..AwsError::check(
                        "BatchUpdateFindings",
                        refused.error_code().unwrap_or("UnprocessedFinding"),
                        refused
                            .error_message()
                            .unwrap_or("Security Hub did not process the finding")
                            .to_owned(),
                    )
                });
            }
            Ok(Done::new([request_id(&output)], detail))
        }
        Format::Ocsf => {
            let output = client
                .batch_update_findings_v2()
                .metadata_uids(&finding.id)
                .comment(note)
                .status_id(status.ocsf_status_id())
                .send()
                .await
                .map_err(sdk("BatchUpdateFindingsV2"))?;
            if let Some(refused) = output.unprocessed_findings().first() {
                return Err(AwsError {
                    request_id: request_id(&output),
                    ..AwsError::check(
                        "BatchUpdateFindingsV2",
                        refused.error_code().map_or("UnprocessedFinding", |c| c.as_str()),
                        refused
                            .error_message()
                            .unwrap_or("Security Hub did not process the finding")
                            .to_owned(),
                    )
                });
            }
            Ok(Done::new([request_id(&output)], detail))
        }
    }
}
