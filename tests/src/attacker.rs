//! An attacker holding stolen credentials: its calls reach the emulator like anyone's, which
//! records them as CloudTrail's event history would, so a timeline reads them back.

use anyhow::{Context, Result};
use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_sts::config::Credentials;
use playbook::Clients;

use crate::account::{Account, REGION};
use crate::emulator::emulator;

/// Clients signing with the stolen credentials.
#[derive(Debug, Clone)]
pub struct Attacker {
    pub clients: Clients,
    /// The key the attacker signs with (what `LookupEvents` finds it by).
    pub access_key_id: String,
}

/// What [`Attacker::persist`] left behind.
#[derive(Debug, Clone)]
pub struct Foothold {
    pub user: String,
    pub access_key_id: String,
}

pub const ADMINISTRATOR_ACCESS: &str = "arn:aws:iam::aws:policy/AdministratorAccess";

async fn config(account: &Account, credentials: Credentials) -> SdkConfig {
    aws_config::defaults(BehaviorVersion::latest())
        .retry_config(playbook::clients::retry_config())
        .endpoint_url(account.config.endpoint_url().unwrap_or_default())
        .region(Region::new(REGION))
        .credentials_provider(credentials)
        .load()
        .await
}

impl Attacker {
    /// The attacker with a user's access key, leaked.
    pub async fn with_key(account: &Account, access_key_id: &str) -> Result<Self> {
        let secret = emulator().leak_secret(&account.id, access_key_id)?;
        let credentials = Credentials::new(access_key_id, secret, None, None, "leaked");
        Ok(Attacker {
            clients: Clients::new(&config(account, credentials).await),
            access_key_id: access_key_id.to_owned(),
        })
    }

    /// The attacker with a role session's credentials (an instance's, taken from its metadata
    /// service: the session is named after the instance id).
    pub async fn with_session(account: &Account, role: &str, session: &str) -> Result<Self> {
        let out = account
            .clients
            .sts
            .assume_role()
            .role_arn(format!("arn:aws:iam::{}:role/{role}", account.id))
            .role_session_name(session)
            .send()
            .await?;
        let c = out.credentials().context("credentials")?;
        let credentials = Credentials::new(
            c.access_key_id(),
            c.secret_access_key(),
            Some(c.session_token().to_owned()),
            None,
            "stolen",
        );
        Ok(Attacker {
            clients: Clients::new(&config(account, credentials).await),
            access_key_id: c.access_key_id().to_owned(),
        })
    }

    /// The same attacker, calling from `region` (IAM is global: CloudTrail records its calls
    /// in us-east-1 whatever the region).
    #[must_use]
    pub fn in_region(&self, region: &str) -> Self {
        let config = self
            .clients
            .sdk_config
            .to_builder()
            .region(Region::new(region.to_owned()))
            .build();
        Attacker {
            clients: Clients::new(&config),
            access_key_id: self.access_key_id.clone(),
        }
    }

    /// Looks around: lists the buckets and reads an object (a data event) of `bucket`.
    pub async fn look_around(&self, bucket: &str, key: &str) -> Result<()> {
        self.clients.s3.list_buckets().send().await?;
        self.clients.s3.get_object().bucket(bucket).key(key).send().await?;
        Ok(())
    }

    /// Creates `user` with an access key and attaches AdministratorAccess to it.
    pub async fn persist(&self, user: &str) -> Result<Foothold> {
        let iam = &self.clients.iam;
        iam.create_user().user_name(user).send().await?;
        let key = iam.create_access_key().user_name(user).send().await?;
        let access_key_id = key.access_key().context("key")?.access_key_id().to_owned();
        iam.attach_user_policy()
            .user_name(user)
            .policy_arn(ADMINISTRATOR_ACCESS)
            .send()
            .await?;
        Ok(Foothold {
            user: user.to_owned(),
            access_key_id,
        })
    }
}
