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

/// Evidence and ledger objects, relative to an incident's folder.
pub mod evidence {
    /// The event as it arrived.
    pub const EVENT: &str = "event.json";
    /// What the resource looked like before the response.
    pub const PRE_STATE: &str = "pre-state.json";
    /// The plan, written once before anything changes: whoever writes it owns the first run.
    pub const PLAN: &str = "plan.json";
    /// A person's approval of a held plan.
    pub const APPROVAL: &str = "approval.json";
    /// The release plan, written once like the plan.
    pub const RELEASE_PLAN: &str = "release/plan.json";
    /// Where each run keeps its step records and report: the first run, the approved run, the
    /// release.
    pub const STEPS: &str = "steps/";
    pub const APPROVED_STEPS: &str = "approved/steps/";
    pub const RELEASE_STEPS: &str = "release/steps/";
    /// A run's report, beside its steps' folder.
    pub const REPORT: &str = "report.json";
    /// A run's HTML report, beside its `report.json`: the first run's, the approved run's, the
    /// release's. The ledger writes it and the page links it, both by [`report_page`].
    pub const REPORT_PAGE: &str = "report.html";
    pub const APPROVED_REPORT_PAGE: &str = "approved/report.html";
    pub const RELEASE_REPORT_PAGE: &str = "release/report.html";
    /// The breach timeline, read after containment.
    pub const TIMELINE: &str = "timeline.json";
    /// Each later read of it (`{"timeline": "<incident-id>"}`), one object a read.
    pub const TIMELINE_REREADS: &str = "timeline/";
    /// The contained resource's configuration history from AWS Config, one object a
    /// resource (`config-history/<resource-id>.json`).
    pub const CONFIG_HISTORY: &str = "config-history/";
    /// Suffix of a claim on a step that must run once.
    pub const CLAIM_SUFFIX: &str = ".claim";

    /// The HTML report of a run: the release's, else the approved run's, else the first run's.
    #[must_use]
    pub fn report_page(release: bool, approved: bool) -> &'static str {
        if release {
            RELEASE_REPORT_PAGE
        } else if approved {
            APPROVED_REPORT_PAGE
        } else {
            REPORT_PAGE
        }
    }
}

/// Where an incident's evidence and ledger live in the evidence bucket.
#[must_use]
pub fn incident_prefix(incident_id: &str) -> String {
    format!("incidents/{incident_id}/")
}
