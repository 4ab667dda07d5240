//! Sample events from `events/`, with their placeholder ids pointed at a seeded world.

use anyhow::{Context, Result};

use crate::world::World;

/// The web server in sample findings (GuardDuty's own sample id).
pub const WEB_PLACEHOLDER: &str = "i-99999999";
/// The protected bastion in sample findings.
pub const BASTION_PLACEHOLDER: &str = "i-11111111";
/// The leaked access key in sample IAM findings (AWS's documentation example key).
pub const KEY_PLACEHOLDER: &str = "AKIAIOSFODNN7EXAMPLE";
/// The world-open web group in sample Config events.
pub const GROUP_PLACEHOLDER: &str = "sg-0123456789abcdef0";
/// The VPC's default group in sample Config events.
pub const DEFAULT_GROUP_PLACEHOLDER: &str = "sg-0defa017000000000";
/// The bucket in sample Config events.
pub const BUCKET_PLACEHOLDER: &str = "tourniquet-drill-public-assets";
/// The IAM user id in sample Config events (the deployer).
pub const USER_ID_PLACEHOLDER: &str = "AIDACKCEVSQ6C2EXAMPLE";
/// The incident a sample manual request names (`events/manual/`).
pub const INCIDENT_PLACEHOLDER: &str = "guardduty-000000000000000000000000";
/// The account in sample findings.
pub const ACCOUNT_PLACEHOLDER: &str = "123456789012";

/// `events/<path>` as text.
pub fn read(path: &str) -> Result<String> {
    let file = crate::workspace_root().join("events").join(path);
    std::fs::read_to_string(&file).with_context(|| format!("read {}", file.display()))
}

/// `events/<path>` with its placeholders replaced by the world's instance and account ids.
pub fn for_world(path: &str, world: &World) -> Result<serde_json::Value> {
    for_world_text(&read(path)?, world)
}

/// A sample's text with its placeholders replaced by the world's ids, as an event.
pub fn for_world_text(text: &str, world: &World) -> Result<serde_json::Value> {
    let text = text
        .replace(WEB_PLACEHOLDER, &world.web.instance_id)
        .replace(BASTION_PLACEHOLDER, &world.bastion.instance_id)
        .replace(KEY_PLACEHOLDER, &world.deployer_keys[0])
        .replace(GROUP_PLACEHOLDER, &world.web_group)
        .replace(DEFAULT_GROUP_PLACEHOLDER, &world.default_group)
        .replace(BUCKET_PLACEHOLDER, &world.assets_bucket)
        .replace(USER_ID_PLACEHOLDER, &world.deployer_id)
        .replace(ACCOUNT_PLACEHOLDER, &world.account.id);
    Ok(serde_json::from_str(&text)?)
}

/// Every sample file under `events/<dir>`, sorted.
pub fn list(dir: &str) -> Result<Vec<String>> {
    let mut files: Vec<String> = std::fs::read_dir(crate::workspace_root().join("events").join(dir))?
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|name| std::path::Path::new(name).extension().is_some_and(|e| e == "json"))
        .map(|name| format!("{dir}/{name}"))
        .collect();
    files.sort();
    Ok(files)
}

/// What template.yaml's rules deliver of `event` in the world's account, in the event's region:
/// each (function, event as delivered).
pub fn delivered(event: &serde_json::Value, world: &World) -> Result<Vec<(String, serde_json::Value)>> {
    let region = event["region"].as_str().unwrap_or(crate::account::REGION);
    crate::emulator::emulator().deliver(&world.account.id, region, event)
}

/// Whether `events/README.md` says why no rule delivers the sample `path` (`folder/name.json`).
pub fn undelivered_on_purpose(path: &str) -> Result<bool> {
    Ok(read("README.md")?.contains(&format!("`{path}`")))
}
