//! Creating calls, never retried blind: the SDK's retries are off for them, and before each
//! retry the adapter looks for what the attempt before may have made.

use std::error::Error as StdError;
use std::future::Future;
use std::time::Duration;

use aws_runtime::retries::classifiers::THROTTLING_ERRORS;
use aws_sdk_ec2::config::http::HttpResponse;
use aws_sdk_ec2::error::{ProvideErrorMetadata, SdkError};

use super::{AwsError, MAX_ATTEMPTS, credentials_failure};

/// What a failed creating call says about what AWS did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Failure {
    /// AWS refused it for its rate: nothing was made; it may be tried again as it is.
    Throttled,
    /// AWS answered that it failed (a server error with AWS's own error code, such as
    /// `InternalError`): AWS asks for a retry. What it may have made all the same is looked
    /// for first where it can be; a message is sent again (a second page beats none).
    Failed,
    /// No answer from AWS (a timeout, a dropped connection, a server error without AWS's
    /// error code, as a gateway answers): AWS may have acted and its answer was lost. Look
    /// before trying again; what cannot be looked for is not sent again.
    Unknown,
    /// A refusal a retry does not change (bad request, access denied, no credentials).
    Final,
}

/// Classifies a failed call by what AWS answered (or did not).
pub(crate) fn failure<E>(err: &SdkError<E, HttpResponse>) -> Failure
where
    E: ProvideErrorMetadata + StdError + Send + Sync + 'static,
{
    if err.code().is_some_and(|code| THROTTLING_ERRORS.contains(&code)) {
        return Failure::Throttled;
    }
    match err {
        SdkError::DispatchFailure(_) if credentials_failure(err).is_some() => Failure::Final,
        SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) | SdkError::ResponseError(_) => Failure::Unknown,
        SdkError::ServiceError(context) if context.raw().status().is_server_error() => {
            if err.code().is_some() {
                Failure::Failed
            } else {
                Failure::Unknown
            }
        }
        _ => Failure::Final,
    }
}

/// The pause before attempt `attempt` (the second is 1): exponential, as the SDK's standard
/// mode, without its jitter (one invocation retries alone).
fn backoff(attempt: u32) -> Duration {
    Duration::from_millis(200 * 2u64.pow(attempt.saturating_sub(1).min(4)))
}

/// Makes something once, up to [`MAX_ATTEMPTS`] attempts: after an attempt whose answer may
/// have been lost, `find` looks for what it made, and what it finds is the result; only when
/// it finds nothing is the call made again. `Ok((value, found))`: `found` says the value was
/// found, not answered.
pub(crate) async fn create_or_find<T, E, C, CF, F, FF>(
    operation: &'static str,
    mut create: C,
    mut find: F,
) -> Result<(T, bool), AwsError>
where
    E: ProvideErrorMetadata + StdError + Send + Sync + 'static,
    C: FnMut() -> CF,
    CF: Future<Output = Result<T, SdkError<E, HttpResponse>>>,
    F: FnMut() -> FF,
    FF: Future<Output = Result<Option<T>, AwsError>>,
{
    let mut attempt = 1;
    loop {
        let err = match create().await {
            Ok(value) => return Ok((value, false)),
            Err(err) => err,
        };
        let kind = failure(&err);
        if kind == Failure::Final || attempt >= MAX_ATTEMPTS {
            return Err(AwsError::from_sdk(operation, &err));
        }
        tracing::warn!(operation, ?kind, error = %AwsError::from_sdk(operation, &err), attempt, "creating call failed; looking before trying again");
        tokio::time::sleep(backoff(attempt)).await;
        attempt += 1;
        if kind != Failure::Throttled
            && let Some(found) = find().await?
        {
            return Ok((found, true));
        }
    }
}

/// Sends something that cannot be looked for afterwards (an SNS message): retried when AWS
/// says it was not taken (throttled) or failed (a server error it answered: AWS asks for a
/// retry, and a page sent twice beats a page lost). `Ok(None)` when no answer came: it may
/// have gone, and is not sent again. The error when it surely was not taken.
pub(crate) async fn send_once<T, E, C, CF>(operation: &'static str, mut send: C) -> Result<Option<T>, AwsError>
where
    E: ProvideErrorMetadata + StdError + Send + Sync + 'static,
    C: FnMut() -> CF,
    CF: Future<Output = Result<T, SdkError<E, HttpResponse>>>,
{
    let mut attempt = 1;
    loop {
        let err = match send().await {
            Ok(value) => return Ok(Some(value)),
            Err(err) => err,
        };
        match failure(&err) {
            Failure::Throttled | Failure::Failed if attempt < MAX_ATTEMPTS => {
                tokio::time::sleep(backoff(attempt)).await;
                attempt += 1;
            }
            Failure::Unknown => {
                tracing::error!(operation, error = %AwsError::from_sdk(operation, &err), "the answer was lost: it may have been sent, and is not sent again");
                return Ok(None);
            }
            _ => return Err(AwsError::from_sdk(operation, &err)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_ec2::error::ErrorMetadata;
    use aws_sdk_ec2::operation::create_snapshots::CreateSnapshotsError;
    use aws_sdk_s3::primitives::SdkBody;
    use aws_smithy_runtime_api::client::result::ConnectorError;
    use aws_smithy_runtime_api::http::StatusCode;

    fn answered(status: u16, code: &str) -> SdkError<CreateSnapshotsError, HttpResponse> {
        SdkError::service_error(
            CreateSnapshotsError::generic(ErrorMetadata::builder().code(code).build()),
            HttpResponse::new(StatusCode::try_from(status).unwrap(), SdkBody::empty()),
        )
    }

    /// A gateway's answer in AWS's place: a server error without AWS's error code.
    fn lost() -> SdkError<CreateSnapshotsError, HttpResponse> {
        SdkError::service_error(
            CreateSnapshotsError::generic(ErrorMetadata::builder().build()),
            HttpResponse::new(StatusCode::try_from(504).unwrap(), SdkBody::empty()),
        )
    }

    #[test]
    fn failures_say_whether_aws_may_have_acted() {
        assert_eq!(failure(&answered(503, "RequestLimitExceeded")), Failure::Throttled);
        assert_eq!(failure(&answered(400, "Throttling")), Failure::Throttled);
        assert_eq!(failure(&answered(500, "InternalError")), Failure::Failed);
        assert_eq!(failure(&answered(503, "Unavailable")), Failure::Failed);
        assert_eq!(failure(&lost()), Failure::Unknown);
        assert_eq!(failure(&answered(400, "InvalidParameterValue")), Failure::Final);
        assert_eq!(failure(&answered(403, "UnauthorizedOperation")), Failure::Final);
        let io = SdkError::<CreateSnapshotsError, HttpResponse>::dispatch_failure(ConnectorError::io(Box::new(
            std::io::Error::other("connection reset"),
        )));
        assert_eq!(failure(&io), Failure::Unknown);
    }

    #[tokio::test]
    async fn a_lost_answer_is_looked_for_before_another_attempt() {
        let made = std::cell::Cell::new(0);
        let result = create_or_find(
            "CreateSnapshots",
            || {
                made.set(made.get() + 1);
                async { Err::<u32, _>(lost()) }
            },
            || async { Ok(Some(7)) },
        )
        .await;
        assert_eq!(result, Ok((7, true)));
        assert_eq!(made.get(), 1, "found, not made again");
    }

    #[tokio::test]
    async fn nothing_found_is_made_again_and_throttling_is_not_looked_for() {
        let calls = std::cell::Cell::new(0);
        let looks = std::cell::Cell::new(0);
        let result = create_or_find(
            "CreateSnapshots",
            || {
                calls.set(calls.get() + 1);
                let n = calls.get();
                async move {
                    match n {
                        1 => Err(answered(503, "RequestLimitExceeded")),
                        2 => Err(answered(500, "InternalError")),
                        _ => Ok(n),
                    }
                }
            },
            || {
                looks.set(looks.get() + 1);
                async { Ok(None) }
            },
        )
        .await;
        assert_eq!(result, Ok((3, false)));
        assert_eq!(looks.get(), 1, "looked only after the lost answer");
        let denied = create_or_find(
            "CreateSnapshots",
            || async { Err::<u32, _>(answered(403, "UnauthorizedOperation")) },
            || async { Ok(None) },
        )
        .await;
        assert_eq!(denied.map_err(|e| e.code), Err("UnauthorizedOperation".to_owned()));
    }

    #[tokio::test]
    async fn a_lost_send_is_not_sent_again() {
        let calls = std::cell::Cell::new(0);
        let sent = send_once("Publish", || {
            calls.set(calls.get() + 1);
            async { Err::<u32, _>(lost()) }
        })
        .await;
        assert_eq!(sent, Ok(None));
        assert_eq!(calls.get(), 1);
        // AWS answered that it failed: sent again.
        let calls = std::cell::Cell::new(0);
        let failed = send_once("Publish", || {
            calls.set(calls.get() + 1);
            let n = calls.get();
            async move {
                if n < 2 {
                    Err(answered(500, "InternalError"))
                } else {
                    Ok(n)
                }
            }
        })
        .await;
        assert_eq!(failed, Ok(Some(2)));
        let calls = std::cell::Cell::new(0);
        let throttled = send_once("Publish", || {
            calls.set(calls.get() + 1);
            let n = calls.get();
            async move { if n < 3 { Err(answered(400, "Throttling")) } else { Ok(n) } }
        })
        .await;
        assert_eq!(throttled, Ok(Some(3)));
    }
}
