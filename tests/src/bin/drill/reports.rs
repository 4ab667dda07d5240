//! The operator's side of the drill: the incident list as `tourniquet` prints it, the reports
//! of one contained instance, one credential incident and one attack sequence kept in
//! `target/drill/`, and the commands a person types next.

use std::path::PathBuf;
use std::process::{Command, Stdio};

use anyhow::{Context, Result};
use serde_json::Value;
use tourniquet_tests::runtime::function_binary;
use tourniquet_tests::world::World;

/// The reports kept, by the playbook whose incident they show.
const KEPT: [(&str, &str); 3] = [
    ("ec2-compromise", "contained-instance"),
    ("credential-compromise", "credential-incident"),
    ("attack-sequence", "attack-sequence"),
];

/// Where the drill leaves the reports.
#[must_use]
pub fn folder() -> PathBuf {
    tourniquet_tests::workspace_root().join("target/drill")
}

async fn tourniquet(world: &World, args: &[&str]) -> Result<String> {
    let mut command = Command::new(function_binary("tourniquet")?);
    command
        .envs(world.account.env().await?)
        .env("TOURNIQUET_EVIDENCE_BUCKET", &world.bucket)
        .args(args)
        .stdin(Stdio::null());
    let output = tokio::task::spawn_blocking(move || command.output()).await??;
    anyhow::ensure!(
        output.status.success(),
        "tourniquet {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&output.stderr)
    );
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}

/// Lists the incidents, keeps three reports, and prints what a person types next.
pub async fn drill(world: &World) -> Result<Vec<PathBuf>> {
    println!(
        "\nThe operator's side (export TOURNIQUET_EVIDENCE_BUCKET={}):",
        world.bucket
    );
    println!("$ tourniquet incidents --limit 8");
    for line in tourniquet(world, &["incidents", "--limit", "8"]).await?.lines() {
        println!("  {line}");
    }
    let listed: Value = serde_json::from_str(&tourniquet(world, &["incidents", "--json"]).await?)?;
    let entries = listed.as_array().context("the index lists incidents")?;
    let dir = folder();
    std::fs::create_dir_all(&dir)?;
    let mut kept = Vec::new();
    for (playbook, name) in KEPT {
        let Some(entry) = entries
            .iter()
            .find(|e| e["playbook"] == playbook && e["verdict"] != "dry-run" && e["verdict"] != "page-only")
        else {
            println!("  no {playbook} incident to keep a report of");
            continue;
        };
        let id = entry["incident_id"].as_str().unwrap_or_default();
        let key = entry["report"].as_str().unwrap_or_default();
        let out = world
            .account
            .clients
            .s3
            .get_object()
            .bucket(&world.bucket)
            .key(key)
            .send()
            .await?;
        let path = dir.join(format!("{name}.html"));
        std::fs::write(&path, out.body.collect().await?.to_vec())?;
        let shown: Value = serde_json::from_str(&tourniquet(world, &["show", id, "--json"]).await?)?;
        println!(
            "\n{} ({}): {}",
            id,
            entry["verdict"].as_str().unwrap_or(""),
            path.display()
        );
        println!("  next, a person types:");
        for command in shown["next_commands"].as_array().into_iter().flatten() {
            println!("    {}", command.as_str().unwrap_or_default());
        }
        kept.push(path);
    }
    Ok(kept)
}
