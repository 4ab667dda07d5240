//! The AWS SDK clients, built once per cold start from one shared configuration.

use aws_config::retry::RetryConfig;
use aws_config::{BehaviorVersion, SdkConfig};

use crate::telemetry::CallLog;

/// Attempts per AWS call (first try included), with the SDK's standard backoff.
pub const MAX_ATTEMPTS: u32 = 5;

/// One client per service the playbooks call. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Clients {
    pub autoscaling: aws_sdk_autoscaling::Client,
    pub config: aws_sdk_config::Client,
    pub ec2: aws_sdk_ec2::Client,
    pub iam: aws_sdk_iam::Client,
    pub s3: aws_sdk_s3::Client,
    pub sns: aws_sdk_sns::Client,
    pub sts: aws_sdk_sts::Client,
}

/// Standard retry mode (exponential backoff with jitter, throttling and 5xx retried) with
/// [`MAX_ATTEMPTS`]: throttled calls during an incident are normal, not failures.
#[must_use]
pub fn retry_config() -> RetryConfig {
    RetryConfig::standard().with_max_attempts(MAX_ATTEMPTS)
}

impl Clients {
    /// Loads the default configuration chain (environment, Lambda role) with explicit retries.
    pub async fn from_env() -> Self {
        let config = aws_config::defaults(BehaviorVersion::latest())
            .retry_config(retry_config())
            .load()
            .await;
        Self::new(&config)
    }

    /// Builds every client from `config`. With a custom endpoint (`AWS_ENDPOINT_URL`, as when
    /// drilling against a local emulator), S3 uses path-style addressing.
    #[must_use]
    /// Every client logs each call through [`CallLog`].
    pub fn new(config: &SdkConfig) -> Self {
        let s3 = aws_sdk_s3::config::Builder::from(config)
            .force_path_style(config.endpoint_url().is_some())
            .interceptor(CallLog)
            .build();
        Clients {
            autoscaling: aws_sdk_autoscaling::Client::from_conf(
                aws_sdk_autoscaling::config::Builder::from(config)
                    .interceptor(CallLog)
                    .build(),
            ),
            config: aws_sdk_config::Client::from_conf(
                aws_sdk_config::config::Builder::from(config)
                    .interceptor(CallLog)
                    .build(),
            ),
            ec2: aws_sdk_ec2::Client::from_conf(
                aws_sdk_ec2::config::Builder::from(config).interceptor(CallLog).build(),
            ),
            iam: aws_sdk_iam::Client::from_conf(
                aws_sdk_iam::config::Builder::from(config).interceptor(CallLog).build(),
            ),
            s3: aws_sdk_s3::Client::from_conf(s3),
            sns: aws_sdk_sns::Client::from_conf(
                aws_sdk_sns::config::Builder::from(config).interceptor(CallLog).build(),
            ),
            sts: aws_sdk_sts::Client::from_conf(
                aws_sdk_sts::config::Builder::from(config).interceptor(CallLog).build(),
            ),
        }
    }
}
