//! One emulated AWS account per test, reached through STS `AssumeRole` as in real life.

use std::sync::atomic::{AtomicU64, Ordering};

use anyhow::{Context, Result};
use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_sts::config::Credentials;
use playbook::Clients;

use crate::emulator::emulator;

pub const REGION: &str = "us-east-1";

/// An account of its own, so tests running in parallel never see each other's resources.
#[derive(Debug, Clone)]
pub struct Account {
    pub id: String,
    pub config: SdkConfig,
    pub clients: Clients,
    pub sqs: aws_sdk_sqs::Client,
}

static NEXT: AtomicU64 = AtomicU64::new(0);

async fn config(endpoint: &str, credentials: Credentials) -> SdkConfig {
    aws_config::defaults(BehaviorVersion::latest())
        .retry_config(playbook::clients::retry_config())
        .endpoint_url(endpoint)
        .region(Region::new(REGION))
        .credentials_provider(credentials)
        .load()
        .await
}

impl Account {
    /// A fresh account in the process's emulator.
    pub async fn new() -> Result<Self> {
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let id = format!(
            "{:012}",
            200_000_000_000 + u64::from(std::process::id() % 100_000) * 1_000 + n
        );
        Self::with_id(&emulator().endpoint, &id).await
    }

    /// The account `id` in the emulator at `endpoint`.
    pub async fn with_id(endpoint: &str, id: &str) -> Result<Self> {
        let base = config(endpoint, Credentials::new("harness", "harness", None, None, "harness")).await;
        let assumed = aws_sdk_sts::Client::new(&base)
            .assume_role()
            .role_arn(format!("arn:aws:iam::{id}:role/tourniquet-harness"))
            .role_session_name("harness")
            .send()
            .await
            .context("assume a role in the test account")?;
        let c = assumed.credentials().context("credentials")?;
        let credentials = Credentials::new(
            c.access_key_id(),
            c.secret_access_key(),
            Some(c.session_token().to_owned()),
            None,
            "assumed",
        );
        let config = config(endpoint, credentials).await;
        Ok(Account {
            id: id.to_owned(),
            clients: Clients::new(&config),
            sqs: aws_sdk_sqs::Client::new(&config),
            config,
        })
    }

    /// The same account as `function` (`guardduty-responder`, ...): a session of its role as
    /// template.yaml deploys it, created on first use, so every call is judged as that role's.
    pub async fn as_function(&self, function: &str) -> Result<Self> {
        emulator().deploy_roles(&self.id)?;
        let endpoint = self.config.endpoint_url().unwrap_or_default().to_owned();
        let assumed = aws_sdk_sts::Client::new(&self.config)
            .assume_role()
            .role_arn(format!(
                "arn:aws:iam::{}:role/tourniquet/tourniquet-{function}",
                self.id
            ))
            .role_session_name(function)
            .send()
            .await
            .with_context(|| format!("assume {function}'s role"))?;
        let c = assumed.credentials().context("credentials")?;
        let credentials = Credentials::new(
            c.access_key_id(),
            c.secret_access_key(),
            Some(c.session_token().to_owned()),
            None,
            "function",
        );
        let config = config(&endpoint, credentials).await;
        Ok(Account {
            id: self.id.clone(),
            clients: Clients::new(&config),
            sqs: aws_sdk_sqs::Client::new(&config),
            config,
        })
    }

    /// The same account reached through the emulator's fault injector.
    pub async fn through_faults(&self) -> Result<Self> {
        use aws_sdk_sts::config::ProvideCredentials;
        let provider = self.config.credentials_provider().context("credentials provider")?;
        let credentials = provider.provide_credentials().await?;
        let config = config(&emulator().faulty_endpoint, credentials).await;
        Ok(Account {
            id: self.id.clone(),
            clients: Clients::new(&config),
            sqs: aws_sdk_sqs::Client::new(&config),
            config,
        })
    }

    /// Environment for a process (the Lambda binary) acting in this account.
    pub async fn env(&self) -> Result<Vec<(String, String)>> {
        use aws_sdk_sts::config::ProvideCredentials;
        let provider = self.config.credentials_provider().context("credentials provider")?;
        let c = provider.provide_credentials().await?;
        let mut env = vec![
            ("AWS_ACCESS_KEY_ID".to_owned(), c.access_key_id().to_owned()),
            ("AWS_SECRET_ACCESS_KEY".to_owned(), c.secret_access_key().to_owned()),
            ("AWS_REGION".to_owned(), REGION.to_owned()),
            (
                "AWS_ENDPOINT_URL".to_owned(),
                self.config.endpoint_url().unwrap_or_default().to_owned(),
            ),
        ];
        if let Some(token) = c.session_token() {
            env.push(("AWS_SESSION_TOKEN".to_owned(), token.to_owned()));
        }
        Ok(env)
    }
}
