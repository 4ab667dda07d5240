//! The emulator suite: responders against moto in server mode, asserting the account's state.

mod alarms;
mod approval_release;
mod buckets;
mod cli;
mod config_history;
mod containers;
mod credential_compromise;
mod delivery;
mod ec2_compromise;
mod fidelity;
mod isolation;
mod lambda;
mod lambda_runtime;
mod logging;
mod lost_answers;
mod malware;
mod org;
mod pages;
mod posture;
mod principal_release;
mod rds;
mod report_page;
mod round_trips;
mod rules;
mod securityhub;
mod sequences;
mod timeline;

use anyhow::Result;
use tourniquet_tests::account::Account;
use tourniquet_tests::world::World;

/// A freshly seeded account of its own.
async fn world() -> Result<World> {
    World::seed(Account::new().await?).await
}
