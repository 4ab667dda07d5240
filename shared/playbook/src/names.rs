//! The names Tourniquet writes into an account: tag keys, group names, evidence keys.

/// Tag on quarantine security groups: `conversion` or `isolation`.
pub const ROLE_TAG: &str = "tourniquet:role";
pub const CONVERSION_ROLE: &str = "conversion";
pub const ISOLATION_ROLE: &str = "isolation";
/// Security group names, `tourniquet-<role>` (unique per VPC, so concurrent creation cannot
/// duplicate them).
pub const CONVERSION_GROUP_NAME: &str = "tourniquet-conversion";
pub const ISOLATION_GROUP_NAME: &str = "tourniquet-isolation";
/// Set on a quarantine group once its rules are in place.
pub const READY_TAG: &str = "tourniquet:state";
pub const READY: &str = "ready";

/// Tags on quarantined instances and evidence snapshots.
pub const INCIDENT_TAG: &str = "tourniquet:incident-id";
pub const FINDING_ID_TAG: &str = "tourniquet:finding-id";
pub const FINDING_TYPE_TAG: &str = "tourniquet:finding-type";
pub const INSTANCE_TAG: &str = "tourniquet:instance-id";
/// Present on every instance in quarantine; its value is the time of quarantine.
pub const QUARANTINED_AT_TAG: &str = "tourniquet:quarantined-at";

/// Set when an instance leaves quarantine; its value is the time of release.
pub const RELEASED_AT_TAG: &str = "tourniquet:released-at";

/// EC2 tag values are at most 256 characters.
#[must_use]
pub fn tag_value(value: &str) -> String {
    value.chars().take(256).collect()
}

/// Where an incident's evidence and ledger live in the evidence bucket.
#[must_use]
pub fn incident_prefix(incident_id: &str) -> String {
    format!("incidents/{incident_id}/")
}
