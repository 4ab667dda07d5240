//! `make bench`: measures the release functions against the local emulator and prints one
//! markdown table (with the date and machine above it) for the README.
//!
//! Intake + plan throughput comes from criterion (`cargo bench -p playbook --bench
//! intake_plan`, run first); cold start and peak memory drive the release
//! `guardduty-responder` through a minimal Lambda Runtime API; time to contain runs the
//! playbook in process with every AWS call recorded (`bench contain`: those rows alone). A
//! missed target is reported, not fatal.

#[path = "../bench/mod.rs"]
mod bench;

use anyhow::Result;
use bench::{Row, contain, machine, process, progress, sizes, throughput};
use tourniquet_tests::account::Account;
use tourniquet_tests::world::World;

#[tokio::main]
async fn main() -> Result<()> {
    // `bench contain`: the time-to-contain rows alone, on any build (no release binaries).
    if std::env::args().nth(1).as_deref() == Some("contain") {
        print!("{}", bench::table(&contain::rows().await));
        return Ok(());
    }
    let mut rows = vec![throughput::row()];
    progress("cold start and a burst of findings through the release guardduty-responder");
    rows.extend(through_runtime_api().await);
    progress("time to contain, in process");
    rows.extend(contain::rows().await);
    rows.extend(sizes::rows());
    println!("{}\n", machine::header());
    print!("{}", bench::table(&rows));
    Ok(())
}

/// The rows measured on the function process, in an account of their own.
async fn through_runtime_api() -> Vec<Row> {
    let prepared = async {
        let world = World::seed(Account::new().await?).await?;
        let env = process::environment(&world).await?;
        anyhow::Ok((world, env))
    };
    let (world, env) = match prepared.await {
        Ok(prepared) => prepared,
        Err(err) => return vec![Row::failed("cold start and peak memory", "", &err)],
    };
    let mut rows = tokio::task::block_in_place(|| process::cold_start(&world, &env));
    rows.push(process::burst(&world, &env).await);
    rows
}
