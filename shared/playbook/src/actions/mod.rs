//! The AWS side of each step: thin adapters over the SDK that return plain data or `AwsError`.

pub mod account;
pub mod autoscaling;
pub mod ec2;
pub mod iam;
pub mod notify;
pub mod posture;
pub mod release;

use std::error::Error as StdError;

use aws_sdk_ec2::config::http::HttpResponse;
use aws_sdk_ec2::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_ec2::operation::RequestId;
use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::report::StepOutput;

/// What an AWS step did: request ids, what it is worth recording, and what later steps read.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Done {
    pub request_ids: Vec<String>,
    pub detail: serde_json::Value,
    pub output: Option<StepOutput>,
}

impl Done {
    pub(crate) fn new(request_ids: impl IntoIterator<Item = Option<String>>, detail: serde_json::Value) -> Self {
        Done {
            request_ids: request_ids.into_iter().flatten().collect(),
            detail,
            output: None,
        }
    }

    /// The same, with an output the steps after it read.
    #[must_use]
    pub(crate) fn with_output(self, output: StepOutput) -> Self {
        Done {
            output: Some(output),
            ..self
        }
    }
}

/// A converging change: the error code `benign` (the rule is already there, the association
/// already gone) means the state is as wanted. `Ok(None)` then; the value otherwise.
pub(crate) fn tolerate<T>(result: Result<T, AwsError>, benign: &str) -> Result<Option<T>, AwsError> {
    match result {
        Ok(value) => Ok(Some(value)),
        Err(err) if err.code == benign => Ok(None),
        Err(err) => Err(err),
    }
}

/// A secondary look-up's value, or `None` with its failure noted: the response goes on.
pub(crate) fn noted<T>(result: Result<T, AwsError>, notes: &mut Vec<String>) -> Option<T> {
    result.map_err(|err| notes.push(err.to_string())).ok()
}

/// What a mutating EC2 call made with `DryRun` says about the deployed role: EC2 answers
/// `DryRunOperation` when the call would have been allowed, and checks nothing else.
#[must_use]
pub fn dry_run_verdict<T>(result: &Result<T, AwsError>) -> String {
    match result {
        Err(err) if err.code == "DryRunOperation" => "the deployed role is allowed".to_owned(),
        Err(err) if err.code == "UnauthorizedOperation" || err.code == "AccessDenied" => {
            format!("the deployed role would be denied: {}", err.code)
        }
        Err(err) => format!("probe failed: {}", err.code),
        Ok(_) => "not probed: nothing to change".to_owned(),
    }
}

/// A failed AWS call, with AWS's error code and request id kept for the report.
#[derive(Debug, Clone, Error, PartialEq, Serialize, Deserialize)]
#[error("{operation}: {code}: {message}")]
pub struct AwsError {
    pub operation: String,
    /// AWS's error code (`UnauthorizedOperation`), or the SDK's failure kind when the
    /// service was not reached (`DispatchFailure`, `TimeoutError`).
    pub code: String,
    pub message: String,
    pub request_id: Option<String>,
}

impl AwsError {
    /// Keeps the code, message and request id of an SDK error.
    pub fn from_sdk<E>(operation: &str, err: &SdkError<E, HttpResponse>) -> Self
    where
        E: ProvideErrorMetadata + StdError + Send + Sync + 'static,
    {
        let code = err.code().map_or_else(
            || {
                match err {
                    SdkError::ConstructionFailure(_) => "ConstructionFailure",
                    SdkError::TimeoutError(_) => "TimeoutError",
                    SdkError::DispatchFailure(_) => "DispatchFailure",
                    SdkError::ResponseError(_) => "ResponseError",
                    _ => "ServiceError",
                }
                .to_owned()
            },
            ToOwned::to_owned,
        );
        let message = err
            .message()
            .map_or_else(|| DisplayErrorContext(err).to_string(), ToOwned::to_owned);
        AwsError {
            operation: operation.to_owned(),
            code,
            message,
            request_id: err.request_id().map(ToOwned::to_owned),
        }
    }

    /// An error the responder found itself (a check that failed), in the same shape.
    #[must_use]
    pub fn check(operation: &str, code: &str, message: String) -> Self {
        AwsError {
            operation: operation.to_owned(),
            code: code.to_owned(),
            message,
            request_id: None,
        }
    }
}

/// Builds an `AwsError` from an SDK result's error, naming the operation.
pub(crate) fn sdk<E>(operation: &'static str) -> impl Fn(SdkError<E, HttpResponse>) -> AwsError
where
    E: ProvideErrorMetadata + StdError + Send + Sync + 'static,
{
    move |err| AwsError::from_sdk(operation, &err)
}

/// The request id of a successful SDK output, if the service sent one.
pub(crate) fn request_id(output: &impl RequestId) -> Option<String> {
    output.request_id().map(ToOwned::to_owned)
}
