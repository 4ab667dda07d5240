//! The account-level S3 public access block, turned off: on again, all four settings, with
//! what it was in the evidence and the page.

use super::{Plan, PlannedStep, Planner, Step, steps};
use crate::observation::AccountBlockState;
use crate::policy::Playbook;

/// `blockPublicAcls=true, ...`: the four settings as the page and the runbook name them;
/// "none" without a block.
#[must_use]
pub fn describe(block: Option<[bool; 4]>) -> String {
    const NAMES: [&str; 4] = [
        "blockPublicAcls",
        "ignorePublicAcls",
        "blockPublicPolicy",
        "restrictPublicBuckets",
    ];
    block.map_or_else(
        || "none (no account-level block)".to_owned(),
        |settings| {
            NAMES
                .iter()
                .zip(settings)
                .map(|(name, on)| format!("{name}={on}"))
                .collect::<Vec<_>>()
                .join(", ")
        },
    )
}

impl Planner<'_> {
    /// Above the threshold (the route decided): the block on again. The setting it had is
    /// read first; when it cannot be, nothing changes, since a person must be able to put
    /// it back (a website may rely on it).
    pub(super) fn account_block(&self, state: &AccountBlockState) -> Plan {
        let account = &state.account_id;
        if let Some(error) = &state.error {
            return self.page_only(format!(
                "the account-level public access block of {account} could not be read ({error}), so its setting \
                 could not be kept for a person to restore; paging only"
            ));
        }
        if state.block == Some([true; 4]) {
            return self.page_only(format!(
                "the account-level public access block of {account} is already on (all four settings); paging only"
            ));
        }
        let previous = describe(state.block);
        let step = PlannedStep {
            place: None,
            step: Step::RestoreAccountBlock {
                account_id: account.clone(),
                previous: state.block,
            },
            reason: format!(
                "every bucket of the account may become public: block public access for the account (it was: \
                 {previous}; the evidence keeps it)"
            ),
        };
        let reason = format!(
            "severity {:.1} {}: the account-level public access block of {account} was {previous}; restore all four \
             settings",
            self.incident.severity, self.incident.finding_type
        );
        self.plan(Playbook::RestoreAccountBlock, reason, steps(vec![step]))
    }
}

#[cfg(test)]
mod tests {
    use std::time::SystemTime;

    use super::*;
    use crate::observation::Observation;
    use crate::{Policy, intake, plan::plan, target::target};

    fn policy() -> Policy {
        Policy::minimal().with_own_arn(Some(
            "arn:aws:sts::123456789012:assumed-role/tourniquet/responder".into(),
        ))
    }

    fn planned(severity: f64, state: AccountBlockState) -> crate::plan::Plan {
        let event = serde_json::json!({"id": "a", "type": "Policy:S3/AccountBlockPublicAccessDisabled",
            "severity": severity, "accountId": "123456789012", "region": "us-east-1", "resource": {
            "resourceType": "S3Bucket", "s3BucketDetails": [{"name": "b1"}]}});
        let incident = intake::parse(&event).unwrap().incident().unwrap();
        let policy = policy();
        let target = target(&incident, &policy);
        plan(
            &incident,
            &target,
            &Observation::AccountBlock(Box::new(state)),
            &policy,
            SystemTime::UNIX_EPOCH,
        )
    }

    fn state(block: Option<[bool; 4]>, error: Option<&str>) -> AccountBlockState {
        AccountBlockState {
            account_id: "123456789012".into(),
            block,
            error: error.map(ToOwned::to_owned),
        }
    }

    #[test]
    fn above_the_threshold_the_block_is_restored_and_its_old_setting_kept() {
        let plan = planned(8.0, state(Some([false, true, false, true]), None));
        assert_eq!(plan.playbook, Playbook::RestoreAccountBlock, "{}", plan.reason);
        let Some(Step::RestoreAccountBlock { account_id, previous }) = plan
            .steps
            .iter()
            .map(|s| &s.step)
            .find(|s| matches!(s, Step::RestoreAccountBlock { .. }))
        else {
            panic!("no restore step: {plan:#?}")
        };
        assert_eq!(account_id, "123456789012");
        assert_eq!(previous, &Some([false, true, false, true]));
        assert!(
            plan.reason.contains(
                "was blockPublicAcls=false, ignorePublicAcls=true, blockPublicPolicy=false, restrictPublicBuckets=true"
            ),
            "{}",
            plan.reason
        );
    }

    #[test]
    fn below_the_threshold_already_on_or_unreadable_it_pages_only() {
        let low = planned(2.0, state(None, None));
        assert_eq!(low.playbook, Playbook::PageOnly);
        assert!(
            low.reason.contains("below the restore-account-block floor"),
            "{}",
            low.reason
        );
        let on = planned(8.0, state(Some([true; 4]), None));
        assert_eq!(on.playbook, Playbook::PageOnly);
        assert!(on.reason.contains("already on"), "{}", on.reason);
        let unreadable = planned(8.0, state(None, Some("AccessDenied")));
        assert_eq!(unreadable.playbook, Playbook::PageOnly);
        assert!(
            unreadable.reason.contains("could not be read (AccessDenied)"),
            "{}",
            unreadable.reason
        );
        assert_eq!(describe(None), "none (no account-level block)");
    }
}
