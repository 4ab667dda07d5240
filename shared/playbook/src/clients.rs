//! The AWS SDK clients: the home account's, built once per cold start, and each place's
//! (account, region), built on first use and kept for the process.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use aws_config::identity::IdentityCache;
use aws_config::retry::RetryConfig;
use aws_config::sts::AssumeRoleProvider;
use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_credential_types::provider::error::CredentialsError;
use aws_credential_types::provider::{ProvideCredentials, SharedCredentialsProvider, future};
use aws_smithy_runtime_api::client::identity::SharedIdentityCache;

use crate::actions::AwsError;
use crate::place::Place;
use crate::telemetry::CallLog;
use crate::telemetry::chain;

pub use crate::actions::MAX_ATTEMPTS;

/// One client per service the playbooks call. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Clients {
    pub autoscaling: aws_sdk_autoscaling::Client,
    pub config: aws_sdk_config::Client,
    pub ec2: aws_sdk_ec2::Client,
    pub iam: aws_sdk_iam::Client,
    pub s3: aws_sdk_s3::Client,
    /// Write-backs to Security Hub findings (home account, where the findings are aggregated).
    pub securityhub: aws_sdk_securityhub::Client,
    pub sns: aws_sdk_sns::Client,
    pub sts: aws_sdk_sts::Client,
    pub lambda: aws_sdk_lambda::Client,
    pub rds: aws_sdk_rds::Client,
    /// The configuration they were built from: the clients of other places derive from it.
    pub sdk_config: SdkConfig,
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
            securityhub: aws_sdk_securityhub::Client::from_conf(
                aws_sdk_securityhub::config::Builder::from(config)
                    .interceptor(CallLog)
                    .build(),
            ),
            sns: aws_sdk_sns::Client::from_conf(
                aws_sdk_sns::config::Builder::from(config).interceptor(CallLog).build(),
            ),
            sts: aws_sdk_sts::Client::from_conf(
                aws_sdk_sts::config::Builder::from(config).interceptor(CallLog).build(),
            ),
            lambda: aws_sdk_lambda::Client::from_conf(
                aws_sdk_lambda::config::Builder::from(config)
                    .interceptor(CallLog)
                    .build(),
            ),
            rds: aws_sdk_rds::Client::from_conf(
                aws_sdk_rds::config::Builder::from(config).interceptor(CallLog).build(),
            ),
            sdk_config: config.clone(),
        }
    }
}

/// Builds a place's clients from its configuration: [`Clients::new`], or a caller's own
/// (tests record every call with an interceptor of theirs).
pub type Build = Arc<dyn Fn(&SdkConfig) -> Clients + Send + Sync>;

/// The clients that observe and change one place, and who they act as.
#[derive(Debug, Clone)]
pub struct Acting {
    pub clients: Clients,
    /// The member role session the clients act as; `None` at home (the function's own role).
    pub session: Option<String>,
    refused: Option<Refusal>,
}

impl Acting {
    /// Why the member role could not be assumed, if the last attempt failed.
    #[must_use]
    pub fn refused(&self) -> Option<AwsError> {
        self.refused.as_ref().and_then(Refusal::get)
    }
}

/// The last refusal of a member role, kept by its credentials provider.
#[derive(Debug, Clone, Default)]
struct Refusal(Arc<Mutex<Option<AwsError>>>);

impl Refusal {
    fn get(&self) -> Option<AwsError> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner).clone()
    }

    fn set(&self, value: Option<AwsError>) {
        *self.0.lock().unwrap_or_else(PoisonError::into_inner) = value;
    }
}

/// The SDK's assume-role provider for a member role, noting whether its last attempt was
/// refused. It sits behind the SDK's identity cache, which calls it only when it holds no
/// credentials or they are about to expire.
#[derive(Debug)]
struct MemberCredentials {
    provider: AssumeRoleProvider,
    refusal: Refusal,
}

impl ProvideCredentials for MemberCredentials {
    fn provide_credentials<'a>(&'a self) -> future::ProvideCredentials<'a>
    where
        Self: 'a,
    {
        future::ProvideCredentials::new(async move {
            let result = self.provider.provide_credentials().await;
            self.refusal.set(result.as_ref().err().map(refusal));
            result
        })
    }
}

/// Why the provider could not have credentials, typed (see `actions::credentials_failure`).
fn refusal(err: &CredentialsError) -> AwsError {
    crate::actions::credentials_failure(err)
        .unwrap_or_else(|| AwsError::check("AssumeRole", "CredentialsError", chain(err)))
}

/// A member account's credentials: one provider and one identity cache for every region.
#[derive(Debug, Clone)]
struct Member {
    credentials: SharedCredentialsProvider,
    cache: SharedIdentityCache,
    refusal: Refusal,
}

/// Clients per place (account, region), built on first use and kept for the life of the
/// process, like the home clients. A `std` mutex guards the map: it is held only to look up
/// or insert, never across an await, and a map of a few accounts needs no more.
pub struct Places {
    home: Clients,
    build: Build,
    /// The member role session name: per function, not per incident, so that one
    /// `AssumeRole` serves every incident of the process (see `docs/DEPLOY.md`).
    session_name: String,
    kept: Mutex<HashMap<(String, String), Acting>>,
    members: Mutex<HashMap<String, Member>>,
}

impl std::fmt::Debug for Places {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Places")
            .field("home_region", &self.home_region())
            .field("session_name", &self.session_name)
            .finish_non_exhaustive()
    }
}

impl Places {
    /// The places of a responder whose own clients are `home`; `function` names the member
    /// role session (`tourniquet-<function>`).
    #[must_use]
    pub fn new(home: Clients, function: Option<&str>) -> Self {
        Places {
            home,
            build: Arc::new(Clients::new),
            session_name: session_name(function),
            kept: Mutex::default(),
            members: Mutex::default(),
        }
    }

    /// The same places, building other places' clients with `build`.
    #[must_use]
    pub fn building_with(mut self, build: Build) -> Self {
        self.build = build;
        self
    }

    /// The home account's clients in the home region: ledger, evidence and pages.
    #[must_use]
    pub fn home(&self) -> &Clients {
        &self.home
    }

    /// The home clients, acting as the function's own role.
    #[must_use]
    pub fn at_home(&self) -> Acting {
        Acting {
            clients: self.home.clone(),
            session: None,
            refused: None,
        }
    }

    /// The region the home clients call.
    #[must_use]
    pub fn home_region(&self) -> Option<String> {
        self.home.sdk_config.region().map(ToString::to_string)
    }

    /// The member role session name.
    #[must_use]
    pub fn session_name(&self) -> &str {
        &self.session_name
    }

    /// The clients that observe and act in `place`: the home clients at home in the home
    /// region; the home credentials in another region; a member account's through its
    /// member role. Built on first use, then kept.
    pub async fn at(&self, place: &Place) -> Acting {
        if place.home && (place.region.is_empty() || Some(&place.region) == self.home_region().as_ref()) {
            return self.at_home();
        }
        let key = (place.account.clone(), place.region.clone());
        if let Some(acting) = lock(&self.kept).get(&key) {
            return acting.clone();
        }
        let region = Region::new(place.region.clone());
        let acting = match (&place.role_arn, place.home) {
            (Some(role_arn), false) => {
                // Boxed: built once per account, and the provider's builder is a large future.
                let member = Box::pin(self.member(&place.account, role_arn)).await;
                let config = self
                    .home
                    .sdk_config
                    .to_builder()
                    .region(region)
                    .credentials_provider(member.credentials.clone())
                    .identity_cache(member.cache.clone())
                    .build();
                Acting {
                    clients: (self.build)(&config),
                    session: Some(session_arn(role_arn, &self.session_name)),
                    refused: Some(member.refusal),
                }
            }
            _ => Acting {
                clients: (self.build)(&self.home.sdk_config.to_builder().region(region).build()),
                session: None,
                refused: None,
            },
        };
        lock(&self.kept).entry(key).or_insert(acting).clone()
    }

    async fn member(&self, account: &str, role_arn: &str) -> Member {
        if let Some(member) = lock(&self.members).get(account) {
            return member.clone();
        }
        let provider = AssumeRoleProvider::builder(role_arn)
            .session_name(&self.session_name)
            .configure(&self.home.sdk_config)
            .build()
            .await;
        let refusal = Refusal::default();
        let member = Member {
            credentials: SharedCredentialsProvider::new(MemberCredentials {
                provider,
                refusal: refusal.clone(),
            }),
            cache: IdentityCache::lazy().build(),
            refusal,
        };
        lock(&self.members).entry(account.to_owned()).or_insert(member).clone()
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// `tourniquet-<function>` (or `tourniquet-responder`), cut to STS's 64 characters of
/// `[\w+=,.@-]`.
fn session_name(function: Option<&str>) -> String {
    let name = format!("tourniquet-{}", function.unwrap_or("responder"));
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "_+=,.@-".contains(c) {
                c
            } else {
                '-'
            }
        })
        .take(64)
        .collect()
}

/// The assumed-role ARN a member role session acts as (what the member's CloudTrail shows).
fn session_arn(role_arn: &str, session_name: &str) -> String {
    let assumed = role_arn
        .replacen(":iam::", ":sts::", 1)
        .replacen(":role/", ":assumed-role/", 1);
    format!("{assumed}/{session_name}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn session_names_fit_sts() {
        assert_eq!(session_name(None), "tourniquet-responder");
        assert_eq!(
            session_name(Some("stack-Guard Duty/x")),
            "tourniquet-stack-Guard-Duty-x"
        );
        assert_eq!(session_name(Some(&"f".repeat(100))).len(), 64);
        assert_eq!(
            session_arn(
                "arn:aws:iam::222222222222:role/tourniquet-member",
                "tourniquet-responder"
            ),
            "arn:aws:sts::222222222222:assumed-role/tourniquet-member/tourniquet-responder"
        );
    }
}
