//! An organization in one emulator: a security (home) account and two member accounts, each
//! seeded like a `World`, the member role existing in each member.

use anyhow::Result;
use playbook::Settings;
use playbook::settings::Scope;

use crate::account::Account;
use crate::world::World;

/// The member role's name, as `member.yaml` creates it.
pub const MEMBER_ROLE: &str = "tourniquet-member";

/// A home account and members A and B.
pub struct Org {
    pub home: World,
    pub a: World,
    pub b: World,
}

impl Org {
    /// Three freshly seeded accounts; the member role in A and B.
    pub async fn seed() -> Result<Self> {
        let (home, a, b) = tokio::try_join!(
            async { World::seed(Account::new().await?).await },
            async { World::seed(Account::new().await?).await },
            async { World::seed(Account::new().await?).await },
        )?;
        for member in [&a, &b] {
            create_member_role(member, &home.account.id).await?;
        }
        Ok(Org { home, a, b })
    }

    /// The member role's ARN in `member`.
    #[must_use]
    pub fn role_arn(member: &World) -> String {
        format!("arn:aws:iam::{}:role/{MEMBER_ROLE}", member.account.id)
    }

    /// The home deployment's settings, acting in `accounts` (and home), dry run in `dry_run`.
    #[must_use]
    pub fn settings(&self, accounts: &[&World], dry_run: &[&World]) -> Settings {
        let ids = |worlds: &[&World]| worlds.iter().map(|w| w.account.id.clone()).collect();
        Settings {
            accounts: Scope::Listed(ids(accounts)),
            dry_run_accounts: ids(dry_run),
            ..self.home.settings()
        }
    }

    /// The function's environment, as template.yaml sets it, acting in both members.
    #[must_use]
    pub fn env_settings(&self) -> Vec<(String, String)> {
        let mut env = self.home.env_settings();
        env.push((
            "TOURNIQUET_ACCOUNTS".to_owned(),
            format!("{},{}", self.a.account.id, self.b.account.id),
        ));
        env
    }
}

/// Creates the member role in `member`, trusting the `home` account, as `member.yaml` does.
pub async fn create_member_role(member: &World, home: &str) -> Result<()> {
    member
        .account
        .clients
        .iam
        .create_role()
        .role_name(MEMBER_ROLE)
        .assume_role_policy_document(trust(home))
        .send()
        .await?;
    Ok(())
}

/// The member role's trust policy: the home account's principals (member.yaml narrows it to
/// the function roles; moto does not evaluate it).
fn trust(home: &str) -> String {
    serde_json::json!({
        "Version": "2012-10-17",
        "Statement": [{
            "Effect": "Allow",
            "Principal": {"AWS": format!("arn:aws:iam::{home}:root")},
            "Action": "sts:AssumeRole"
        }]
    })
    .to_string()
}
