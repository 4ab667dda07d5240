//! The drill's Security Hub section: every sample in events/securityhub through the
//! securityhub-responder, what became of each finding, and what was written back to it.

use anyhow::Result;
use serde_json::Value;
use tourniquet_tests::account::Account;
use tourniquet_tests::events;
use tourniquet_tests::runtime::LambdaRuntime;
use tourniquet_tests::securityhub::{after_write_back, finding, import};
use tourniquet_tests::world::World;

/// A fresh account of its own (the first section's web host is in quarantine): its Security
/// Hub holds each sample's finding, as its producer put it there, before the event arrives.
pub async fn drill() -> Result<()> {
    let world = World::seed(Account::new().await?).await?;
    let env = world.function_env("securityhub-responder").await?;
    println!(
        "\nSecurity Hub: account {}, web-1 {}, web-sg {}",
        world.account.id, world.web.instance_id, world.web_group
    );
    let runtime = LambdaRuntime::start("securityhub-responder", &env)?;
    let (before, _) = world.group_rules(&world.web_group).await?;
    for path in events::list("securityhub")? {
        let event = events::for_world(&path, &world)?;
        let name = path.trim_start_matches("securityhub/");
        let asff = event["detail-type"] != "Findings Imported V2";
        if asff {
            import(&world.account, &event).await?;
        } else {
            // The current Security Hub holds OCSF findings its AWS producers delivered.
            for finding in event["detail"]["findings"].as_array().into_iter().flatten() {
                tourniquet_tests::emulator::emulator().deliver_ocsf(&world.account.id, finding)?;
            }
        }
        println!("  {name}");
        // Through template.yaml's rules, as Security Hub's events reach the function.
        let delivered = events::delivered(&event, &world)?;
        if delivered.is_empty() {
            anyhow::ensure!(
                events::undelivered_on_purpose(&path)?,
                "{path}: no rule of template.yaml delivers it, and events/README.md does not say why"
            );
            println!("      no rule delivers it (events/README.md says why)");
            continue;
        }
        for (to, delivered) in delivered {
            anyhow::ensure!(to == "securityhub-responder", "{path}: delivered to {to}");
            match &tokio::task::block_in_place(|| runtime.invoke(&delivered))? {
                Ok(response) => show(response),
                Err(error) => println!("      refused: {}", error.lines().next().unwrap_or("")),
            }
        }
        if !asff {
            let uid = event["detail"]["findings"][0]["metadata"]["uid"]
                .as_str()
                .unwrap_or_default();
            if let Some(kept) = tourniquet_tests::emulator::emulator().ocsf_finding(&world.account.id, uid)? {
                println!(
                    "      written back (BatchUpdateFindingsV2): status_id {}, comment {}",
                    kept["status_id"], kept["comment"]
                );
            }
            continue;
        }
        let id = event["detail"]["findings"][0]["Id"].as_str().unwrap_or_default();
        if id.is_empty() {
            continue;
        }
        let Some(stored) = finding(&world.account, id).await? else {
            continue;
        };
        let status = stored.workflow().and_then(|w| w.status()).map_or("-", |s| s.as_str());
        match stored.note().and_then(|n| n.text()) {
            Some(note) => println!("      written back: {status}, note {note:?}"),
            None => println!("      written back: nothing (workflow {status})"),
        }
        if stored.note().is_some() {
            // Security Hub sends the finding again after a write-back: it must change nothing.
            let again = tokio::task::block_in_place(|| runtime.invoke(&after_write_back(&event, &stored)))?;
            let quiet = again.as_ref().is_ok_and(|r| {
                r["findings"].as_array().into_iter().flatten().all(|f| {
                    f["steps"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .all(|s| s["outcome"] != "done")
                })
            });
            println!("      the Imported event the write-back caused: nothing done again: {quiet}");
        }
    }
    let (after, _) = world.group_rules(&world.web_group).await?;
    let revoked: Vec<&String> = before.iter().filter(|r| !after.contains(r)).collect();
    println!("  web-sg rules revoked: {revoked:?}");
    println!("  pages: {}", world.pages().await?.len());
    Ok(())
}

/// One line per finding of a response: the playbook and why, or why it needed nothing.
fn show(response: &Value) {
    for answer in response["findings"].as_array().into_iter().flatten() {
        if let Some(ignored) = answer["ignored"].as_str() {
            println!("      ignored: {ignored}");
        } else if let Some(error) = answer["error"].as_str() {
            println!("      not handled: {error}");
        } else {
            let steps = answer["steps"].as_array().map_or(0, Vec::len);
            println!(
                "      {} {} -> {} ({steps} steps): {}",
                answer["finding_type"].as_str().unwrap_or(""),
                answer["severity"],
                answer["playbook"].as_str().unwrap_or(""),
                answer["reason"].as_str().unwrap_or("")
            );
        }
    }
}
