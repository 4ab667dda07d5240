//! The AWS side of each step: thin adapters over the SDK that return plain data or `AwsError`.

pub mod account;
pub mod account_block;
pub mod autoscaling;
pub mod buckets;
pub mod cloudtrail;
pub mod config_history;
pub mod creating;
pub mod ec2;
pub mod iam;
pub mod lambda;
pub mod notify;
pub mod persistence;
pub mod posture;
pub mod rds;
pub mod recorder;
pub mod release;
pub mod securityhub;
pub mod trail;

use std::error::Error as StdError;

use aws_sdk_ec2::config::http::HttpResponse;
use aws_sdk_ec2::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_ec2::operation::RequestId;
use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::observation::Observation;
use crate::report::StepOutput;

/// Attempts per AWS call (first try included), with the SDK's standard backoff; the creating
/// calls, whose SDK retries are off, count theirs the same (`creating`).
pub const MAX_ATTEMPTS: u32 = 5;

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
    /// The resource could not be described: the observation carries AWS's code and message.
    #[must_use]
    pub fn unavailable(&self) -> Observation {
        Observation::Unavailable {
            code: self.code.clone(),
            message: self.message.clone(),
        }
    }

    /// Keeps the code, message and request id of an SDK error.
    pub fn from_sdk<E>(operation: &str, err: &SdkError<E, HttpResponse>) -> Self
    where
        E: ProvideErrorMetadata + StdError + Send + Sync + 'static,
    {
        // No credentials, no request: the SDK reports a dispatch (or construction) failure
        // whose source is the credentials provider's error. Said as what it is.
        if matches!(err, SdkError::DispatchFailure(_) | SdkError::ConstructionFailure(_))
            && let Some(refused) = credentials_failure(err)
        {
            return AwsError {
                operation: operation.to_owned(),
                message: format!("no credentials: {}: {}", refused.code, refused.message),
                ..refused
            };
        }
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

/// The credentials failure under `err`, if credentials are what failed: STS's answer to the
/// `AssumeRole` behind it (code `AccessDenied`, ...) when STS answered, else the failure's
/// kind. Found by type in the error's sources, never by its text.
#[must_use]
pub fn credentials_failure(err: &(dyn StdError + 'static)) -> Option<AwsError> {
    use aws_credential_types::provider::error::CredentialsError;
    use aws_sdk_sts::operation::assume_role::AssumeRoleError;

    let mut source = Some(err);
    let mut credentials = None;
    while let Some(cause) = source {
        if let Some(sts @ SdkError::ServiceError(_)) = cause.downcast_ref::<SdkError<AssumeRoleError, HttpResponse>>() {
            return Some(AwsError::from_sdk("AssumeRole", sts));
        }
        if credentials.is_none() {
            credentials = cause.downcast_ref::<CredentialsError>();
        }
        source = cause.source();
    }
    let kind = match credentials? {
        CredentialsError::CredentialsNotLoaded(_) => "CredentialsNotLoaded",
        CredentialsError::ProviderTimedOut(_) => "ProviderTimedOut",
        CredentialsError::InvalidConfiguration(_) => "InvalidConfiguration",
        CredentialsError::ProviderError(_) => "ProviderError",
        _ => "CredentialsError",
    };
    Some(AwsError::check("AssumeRole", kind, crate::telemetry::chain(err)))
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

#[cfg(test)]
mod credential_tests {
    use super::*;
    use aws_credential_types::provider::error::CredentialsError;
    use aws_sdk_s3::primitives::SdkBody;
    use aws_sdk_sts::error::ErrorMetadata;
    use aws_sdk_sts::operation::assume_role::AssumeRoleError;
    use aws_smithy_runtime_api::client::result::ConnectorError;
    use aws_smithy_runtime_api::http::StatusCode;

    /// What a client whose member role is refused gets: no service error, a dispatch failure
    /// whose source is the provider's error, which holds STS's answer.
    fn refused_call() -> SdkError<aws_sdk_ec2::operation::describe_instances::DescribeInstancesError, HttpResponse> {
        let sts = SdkError::service_error(
            AssumeRoleError::generic(
                ErrorMetadata::builder()
                    .code("AccessDenied")
                    .message("not trusted")
                    .build(),
            ),
            HttpResponse::new(StatusCode::try_from(403).unwrap(), SdkBody::empty()),
        );
        let credentials = CredentialsError::provider_error(sts);
        SdkError::dispatch_failure(ConnectorError::other(Box::new(credentials), None))
    }

    #[test]
    fn a_refused_member_role_is_recognised_by_type() {
        let err = AwsError::from_sdk("DescribeInstances", &refused_call());
        assert_eq!(err.operation, "DescribeInstances");
        assert_eq!(err.code, "AccessDenied");
        assert!(
            err.message.contains("no credentials") && err.message.contains("not trusted"),
            "{err}"
        );
        let timed_out = SdkError::<AssumeRoleError, HttpResponse>::dispatch_failure(ConnectorError::other(
            Box::new(CredentialsError::provider_timed_out(std::time::Duration::from_secs(5))),
            None,
        ));
        assert_eq!(
            AwsError::from_sdk("DescribeInstances", &timed_out).code,
            "ProviderTimedOut"
        );
        // A plain network failure is not a credentials failure.
        let io = SdkError::<AssumeRoleError, HttpResponse>::dispatch_failure(ConnectorError::io(Box::new(
            std::io::Error::other("connection reset"),
        )));
        assert_eq!(AwsError::from_sdk("DescribeInstances", &io).code, "DispatchFailure");
    }
}
