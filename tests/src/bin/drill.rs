//! `make drill`: seeds a small account in the local emulator, runs each responder on every
//! sample event through the Lambda Runtime API, and shows what changed.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use anyhow::Result;
use tourniquet_tests::account::Account;
use tourniquet_tests::events;
use tourniquet_tests::runtime::LambdaRuntime;
use tourniquet_tests::world::World;

/// What a person looks at on the web host and the bastion.
struct Snapshot {
    groups: BTreeMap<String, Vec<String>>,
    protection: BTreeMap<String, bool>,
    elastic_ip_associated: bool,
}

async fn look(world: &World) -> Result<Snapshot> {
    let mut interfaces = world.web.interfaces.clone();
    interfaces.extend(world.bastion.interfaces.iter().cloned());
    let mut protection = BTreeMap::new();
    for host in [&world.web, &world.bastion] {
        protection.insert(host.instance_id.clone(), world.termination_protection(&host.instance_id).await?);
    }
    Ok(Snapshot {
        groups: world.interface_groups(&interfaces).await?,
        protection,
        elastic_ip_associated: world.elastic_ip_associated().await?,
    })
}

fn group_name(world: &World, quarantine: &BTreeMap<String, String>, id: &str) -> String {
    let name = if id == world.web_group {
        "web (open to the world)"
    } else if id == world.app_group {
        "app (internal)"
    } else if let Some(role) = quarantine.get(id) {
        role.as_str()
    } else {
        "?"
    };
    format!("{id} {name}")
}

#[tokio::main]
async fn main() -> Result<()> {
    println!("Tourniquet drill: a local AWS account, every sample event, what the responders did.\n");
    let world = World::seed(Account::new().await?).await?;
    println!("Account {} (region {})", world.account.id, tourniquet_tests::account::REGION);
    println!(
        "  web-1   {}  interfaces {}  volumes {}  Elastic IP {}",
        world.web.instance_id,
        world.web.interfaces.join(", "),
        world.web.volumes.join(", "),
        world.elastic_ip
    );
    println!(
        "  bastion {}  tagged tourniquet:protected (never touched)",
        world.bastion.instance_id
    );
    println!("  pages   {} -> queue on-call-pages", world.topic_arn);
    println!("  evidence s3://{}/\n", world.bucket);
    let before = look(&world).await?;

    let mut env = world.account.env().await?;
    env.extend(world.env_settings());
    let runtime = LambdaRuntime::start("guardduty-responder", &env)?;
    println!("guardduty-responder, through the Lambda Runtime API (cargo lambda):");
    for path in events::list("guardduty")? {
        let event = events::for_world(&path, &world)?;
        let name = path.trim_start_matches("guardduty/");
        let result = tokio::task::block_in_place(|| runtime.invoke(&event))?;
        match result {
            Ok(report) => {
                let steps = report["steps"].as_array().map_or(0, Vec::len);
                let failed = report["steps"]
                    .as_array()
                    .map_or(0, |s| s.iter().filter(|s| s["outcome"] == "failed").count());
                println!(
                    "  {name}\n      {} {} -> {} ({steps} steps, {failed} failed): {}",
                    report["finding_type"].as_str().unwrap_or(""),
                    report["severity"],
                    report["playbook"].as_str().unwrap_or(""),
                    report["reason"].as_str().unwrap_or("")
                );
            }
            Err(error) => println!("  {name}\n      refused: {}", error.lines().next().unwrap_or("")),
        }
    }
    drop(runtime);

    let after = look(&world).await?;
    let mut quarantine = BTreeMap::new();
    for role in ["conversion", "isolation"] {
        if let Some(group) = world.quarantine_group(role).await? {
            quarantine.insert(group.id, format!("tourniquet-{role} ({} in, {} out rules)", group.ingress, group.egress));
        }
    }
    let mut out = String::new();
    writeln!(out, "\nInterfaces, before -> after:")?;
    for (eni, groups) in &before.groups {
        let show = |groups: &Vec<String>| {
            groups.iter().map(|g| group_name(&world, &quarantine, g)).collect::<Vec<_>>().join(", ")
        };
        let now = after.groups.get(eni).map(&show).unwrap_or_default();
        writeln!(out, "  {eni}: {} -> {now}", show(groups))?;
    }
    writeln!(out, "Termination protection, before -> after:")?;
    for (id, was) in &before.protection {
        writeln!(out, "  {id}: {was} -> {}", after.protection.get(id).copied().unwrap_or_default())?;
    }
    writeln!(
        out,
        "Elastic IP {} associated: {} -> {}",
        world.elastic_ip, before.elastic_ip_associated, after.elastic_ip_associated
    )?;
    writeln!(out, "Snapshots of web-1:")?;
    for (snapshot, volume, tags) in world.snapshots(&world.web.instance_id).await? {
        writeln!(
            out,
            "  {snapshot} of {volume}  incident {}  finding {}",
            tags.get("tourniquet:incident-id").map_or("", String::as_str),
            tags.get("tourniquet:finding-type").map_or("", String::as_str)
        )?;
    }
    writeln!(out, "Tags on web-1:")?;
    for (key, value) in world.instance_tags(&world.web.instance_id).await? {
        writeln!(out, "  {key} = {value}")?;
    }
    let pages = world.pages().await?;
    writeln!(out, "Pages received ({}):", pages.len())?;
    for page in &pages {
        writeln!(out, "  {}", page.subject)?;
    }
    if let Some(page) = pages.iter().find(|p| p.subject.ends_with("isolated")) {
        writeln!(out, "\nThe containment page, in full:")?;
        for line in page.message.lines() {
            writeln!(out, "  | {line}")?;
        }
    }
    let keys = world.evidence_keys().await?;
    let incidents: std::collections::BTreeSet<&str> =
        keys.iter().filter_map(|k| k.split('/').nth(1)).collect();
    writeln!(out, "\nEvidence: {} objects for {} incidents in s3://{}/", keys.len(), incidents.len(), world.bucket)?;
    if let Some(page) = pages.iter().find(|p| p.subject.ends_with("isolated")) {
        if let Some(id) = page.attributes["incident_id"]["Value"].as_str() {
            for key in keys.iter().filter(|k| k.contains(id)) {
                writeln!(out, "  {key}")?;
            }
        }
    }
    print!("{out}");
    Ok(())
}
