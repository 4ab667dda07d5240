//! Where a playbook observes and acts: an account and region, reached at home or through the member role.

use serde::{Deserialize, Serialize};

/// Where a playbook observes and acts: the incident's account and region. Ledger, evidence
/// and pages stay in the home account whatever the place.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Place {
    pub account: String,
    pub region: String,
    /// The responder's own account, reached with its own credentials; otherwise a member
    /// account, reached through the member role.
    pub home: bool,
    /// The member role assumed there (`None` at home).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role_arn: Option<String>,
    /// The account is in `TOURNIQUET_DRY_RUN_ACCOUNTS`: plan, probe and page, change nothing.
    #[serde(default)]
    pub dry_run: bool,
}

impl Place {
    /// `account 111122223333, region eu-west-1`, for reasons and pages.
    #[must_use]
    pub fn label(&self) -> String {
        format!("account {}, region {}", self.account, self.region)
    }
}
