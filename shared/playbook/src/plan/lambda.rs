//! The Lambda compromise plan: keep the code, throttle, deny the function's sessions.

use super::{Plan, PlannedStep, Planner, Step, steps};
use crate::observation::FunctionState;
use crate::plan::function_reach;
use crate::policy::Playbook;

impl Planner<'_> {
    /// A compromised function: a version of the code that ran, reserved concurrency 0, and a
    /// deny on its role that reaches this function's sessions only. Its tags and its role's
    /// protection are the guards.
    pub(super) fn function(&self, state: &FunctionState) -> Plan {
        let name = &state.name;
        if let Some(plan) = self.protected_by_tag(
            &format!("function {name}"),
            state.tags.as_ref(),
            state.tags_error.as_deref(),
        ) {
            return plan;
        }
        if let Some(role) = &state.role_name
            && let Some(reason) = self.policy.principal_guard(role, state.role_arn.as_deref())
        {
            return self.page_only(format!("function {name} runs as {reason}; paging only"));
        }
        let step = |step, reason: &str| PlannedStep {
            place: None,
            step,
            reason: reason.to_owned(),
        };
        let mut middle = vec![
            step(
                Step::PublishFunctionVersion {
                    function_name: name.clone(),
                    code_sha256: state.code_sha256.clone(),
                },
                "a version pinned to the code SHA-256 observed: the code that ran, kept immutable",
            ),
            step(
                Step::ThrottleFunction {
                    function_name: name.clone(),
                },
                "reserved concurrency 0: no new invocation runs; the previous setting is in the evidence",
            ),
        ];
        let deny = match (&state.role_name, &state.role_id) {
            (Some(role_name), Some(role_id)) => {
                let reach = function_reach(role_id, name);
                let how = reach.describe();
                middle.push(step(
                    Step::RevokeRoleSessions {
                        role_name: role_name.clone(),
                        reach,
                    },
                    "the function's credentials may have left it: deny its sessions, and no other holder of the role",
                ));
                format!("; {how}")
            }
            _ => format!(
                "; its role's sessions are NOT denied: the role {} could not be read, deny its sessions by hand",
                state.role_arn.as_deref().unwrap_or("(none named)")
            ),
        };
        let reason = format!(
            "severity {:.1} {} on function {name}: keep its code, throttle it to 0{deny}",
            self.incident.severity, self.incident.finding_type
        );
        self.plan(Playbook::LambdaCompromise, reason, steps(middle))
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::time::SystemTime;

    use super::*;
    use crate::observation::{Observation, PrincipalKind};
    use crate::plan::policy_name;
    use crate::plan::{Reach, plan_function_release};
    use crate::settings::Settings;

    fn policy() -> crate::policy::Policy {
        let settings = Settings::from_lookup(|var| match var {
            "TOURNIQUET_TOPIC_ARN" => Some("arn:aws:sns:us-east-1:123456789012:pages".into()),
            "TOURNIQUET_EVIDENCE_BUCKET" => Some("evidence".into()),
            _ => None,
        })
        .unwrap();
        crate::policy::Policy::new(&settings).unwrap()
    }

    fn incident(severity: f64) -> crate::incident::Incident {
        let event = serde_json::json!({"id": "l1", "type": "Backdoor:Lambda/C&CActivity.B", "severity": severity,
            "resource": {"resourceType": "Lambda", "lambdaDetails": {"functionName": "resizer"}}});
        crate::intake::parse(&event).unwrap().incident().unwrap()
    }

    fn function() -> FunctionState {
        FunctionState {
            name: "resizer".into(),
            code_sha256: Some("c29tZSBjb2Rl".into()),
            reserved_concurrency: Some(7),
            role_arn: Some("arn:aws:iam::123456789012:role/resizer-role".into()),
            role_name: Some("resizer-role".into()),
            role_id: Some("AROAROLEID".into()),
            tags: Some(BTreeMap::new()),
            ..FunctionState::default()
        }
    }

    fn planned(state: FunctionState, severity: f64) -> Plan {
        let incident = incident(severity);
        let policy = policy();
        let target = crate::target::target(&incident, &policy);
        let observation = Observation::Function(Box::new(state));
        crate::plan::plan(&incident, &target, &observation, &policy, SystemTime::UNIX_EPOCH)
    }

    fn actions(plan: &Plan) -> Vec<&'static str> {
        plan.steps.iter().map(|s| s.step.action()).collect()
    }

    #[test]
    fn a_compromised_function_is_kept_throttled_and_its_sessions_denied() {
        let plan = planned(function(), 8.0);
        assert_eq!(plan.playbook, Playbook::LambdaCompromise, "{}", plan.reason);
        assert_eq!(
            actions(&plan),
            [
                "record-evidence",
                "publish-function-version",
                "throttle-function",
                "revoke-role-sessions",
                "page",
                "page-update"
            ]
        );
        assert_eq!(
            plan.steps[3].step,
            Step::RevokeRoleSessions {
                role_name: "resizer-role".into(),
                reach: Reach::Session {
                    user_id: "AROAROLEID:resizer".into()
                }
            }
        );
        assert_eq!(
            plan.steps[1].step,
            Step::PublishFunctionVersion {
                function_name: "resizer".into(),
                code_sha256: Some("c29tZSBjb2Rl".into())
            }
        );
        assert!(plan.reason.contains("aws:userid"), "{}", plan.reason);
    }

    #[test]
    fn guards_page_only() {
        let mut protected = function();
        protected.tags = Some([("tourniquet:protected".to_owned(), String::new())].into());
        let mut unreadable = function();
        unreadable.tags = None;
        unreadable.tags_error = Some("AccessDeniedException".into());
        for (state, why) in [
            (protected, "protected tag"),
            (unreadable, "could not be read (AccessDeniedException)"),
        ] {
            let plan = planned(state, 8.0);
            assert_eq!(plan.playbook, Playbook::PageOnly, "{why}");
            assert!(plan.reason.contains(why), "{}", plan.reason);
        }
        let low = planned(function(), 5.0);
        assert_eq!(low.playbook, Playbook::PageOnly);
        assert!(
            low.reason.contains("below the lambda-compromise floor"),
            "{}",
            low.reason
        );
    }

    #[test]
    fn without_the_role_id_the_function_is_still_throttled_and_the_page_says_so() {
        let mut state = function();
        state.role_id = None;
        let plan = planned(state, 8.0);
        assert!(!actions(&plan).contains(&"revoke-role-sessions"));
        assert!(actions(&plan).contains(&"throttle-function"));
        assert!(plan.reason.contains("NOT denied"), "{}", plan.reason);
    }

    #[test]
    fn release_restores_the_recorded_concurrency_or_removes_it() {
        let contained = planned(function(), 8.0);
        let release = plan_function_release(&contained, &function(), SystemTime::UNIX_EPOCH);
        assert_eq!(release.playbook, Playbook::Release);
        assert_eq!(
            release.steps[0].step,
            Step::RestoreFunctionConcurrency {
                function_name: "resizer".into(),
                reserved: Some(7)
            }
        );
        assert_eq!(
            release.steps[1].step,
            Step::RemoveDeny {
                kind: PrincipalKind::Role,
                name: "resizer-role".into(),
                policy: policy_name(&Reach::Session {
                    user_id: "AROAROLEID:resizer".into()
                })
            }
        );
        let mut unset = function();
        unset.reserved_concurrency = None;
        let release = plan_function_release(&contained, &unset, SystemTime::UNIX_EPOCH);
        assert_eq!(
            release.steps[0].step,
            Step::RestoreFunctionConcurrency {
                function_name: "resizer".into(),
                reserved: None
            }
        );
    }
}
