//! The plan of an attack sequence: each answered member planned by its own playbook, merged into one response.

use std::collections::BTreeMap;

use super::{Plan, PlannedStep, Planner, Step, steps};
use crate::incident::{Incident, Resource};
use crate::observation::Observation;
use crate::policy::Playbook;
use crate::target::{Look, Target};

impl Planner<'_> {
    /// One plan for the whole sequence: every member's steps (with its own guards: protected
    /// tags, the responder's own roles, root), one evidence record and one page. The
    /// instances are held together when, with those already in quarantine, they exceed the
    /// blast-radius limit: never some isolated and some not.
    pub(super) fn sequence(&self, look: &Look, observed: &[Observation]) -> Plan {
        let (Look::Sequence { members, unanswered }, Resource::AttackSequence(sequence), Some(place)) =
            (look, &self.incident.resource, self.place)
        else {
            return self.page_only(format!(
                "{} was not described; paging only",
                self.incident.resource.label()
            ));
        };
        let mut middle: Vec<PlannedStep> = Vec::new();
        let mut lines = Vec::new();
        // By account: the sequence's instances there, and those already in quarantine there
        // (`None`: not counted).
        let mut accounts: BTreeMap<&str, (Vec<String>, Option<usize>)> = BTreeMap::new();
        for (member_look, observation) in members.iter().zip(observed) {
            let Some(member) = sequence.members.get(member_look.member) else {
                continue;
            };
            let there = member_look.place.as_ref().unwrap_or(place);
            let incident = Incident {
                resource: member.resource(),
                account: Some(there.account.clone()).filter(|a| !a.is_empty()),
                region: Some(there.region.clone()).filter(|r| !r.is_empty()),
                ..self.incident.clone()
            };
            let target = Target::Act {
                playbook: member_look.playbook,
                look: member_look.look.clone(),
                place: there.clone(),
            };
            let plan = super::plan(&incident, &target, observation, self.policy, self.now);
            if plan.playbook == Playbook::Ec2Compromise {
                let counted = match observation {
                    Observation::Instance(state) => state.quarantined_elsewhere,
                    _ => None,
                };
                let (instances, count) = accounts.entry(there.account.as_str()).or_insert((Vec::new(), Some(0)));
                instances.push(match &member_look.look {
                    Look::Instance { instance_id } => instance_id.clone(),
                    _ => member.label(),
                });
                *count = count.zip(counted).map(|(a, b)| a.max(b));
            }
            let whereabouts = member_look
                .place
                .as_ref()
                .map(|p| format!(" ({})", p.label()))
                .unwrap_or_default();
            lines.push(format!("{}{whereabouts}: {}", member.label(), plan.reason));
            middle.extend(
                plan.steps
                    .into_iter()
                    .filter(|s| !matches!(s.step, Step::RecordEvidence | Step::Page | Step::PageUpdate))
                    .map(|s| PlannedStep {
                        place: member_look.place.clone(),
                        ..s
                    }),
            );
        }
        let max = self.policy.max_quarantined as usize;
        let holds: Vec<String> = accounts
            .iter()
            .filter_map(|(account, (instances, count))| {
                let group = instances.join(", ");
                match count {
                    Some(count) if count + instances.len() <= max => None,
                    Some(count) => Some(format!(
                        "the sequence names {} instance(s) in account {account} ({group}); with {count} already in \
                         quarantine there that exceeds the limit of {max}",
                        instances.len()
                    )),
                    None => Some(format!(
                        "the instances in quarantine in account {account} could not be counted, so the limit cannot \
                         be checked for the sequence's instances there ({group})"
                    )),
                }
            })
            .collect();
        let hold = (!holds.is_empty()).then(|| {
            format!(
                "{}: the whole response waits for a person, and no instance is isolated before then",
                holds.join("; ")
            )
        });
        let mut reason = format!(
            "severity {:.1} {}: one response to {}",
            self.incident.severity,
            self.incident.finding_type,
            sequence.label()
        );
        for line in lines.iter().chain(unanswered) {
            reason.push_str("\n- ");
            reason.push_str(line);
        }
        if middle.is_empty() {
            return self.page_only(format!("{reason}\nnothing to contain; paging only"));
        }
        Plan {
            hold,
            ..self.plan(Playbook::AttackSequence, reason, steps(middle))
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::time::SystemTime;

    use proptest::prelude::*;
    use serde_json::Value;

    use super::*;
    use crate::observation::{InstanceState, InterfaceState, PrincipalKind, PrincipalState};
    use crate::policy::Policy;
    use crate::settings::Settings;

    const CREDENTIALS: &str =
        include_str!("../../../../events/guardduty/attack-sequence-iam-compromised-credentials.json");
    const GROUP: &str =
        include_str!("../../../../events/guardduty/attack-sequence-ec2-compromised-instance-group.json");
    const API_TYPES: &str = include_str!("../../../../events/guardduty/attack-sequence-api-resource-types.json");

    fn policy(max_quarantined: &str) -> Policy {
        in_scope(max_quarantined, None)
    }

    /// The responder in 123456789012, acting in `accounts` too (`TOURNIQUET_ACCOUNTS`).
    fn in_scope(max_quarantined: &str, accounts: Option<&str>) -> Policy {
        let max = max_quarantined.to_owned();
        let accounts = accounts.map(ToOwned::to_owned);
        let settings = Settings::from_lookup(|var| match var {
            "TOURNIQUET_TOPIC_ARN" => Some("arn:aws:sns:us-east-1:123456789012:pages".into()),
            "TOURNIQUET_EVIDENCE_BUCKET" => Some("evidence".into()),
            "TOURNIQUET_MAX_QUARANTINED" => Some(max.clone()),
            "TOURNIQUET_ACCOUNTS" => accounts.clone(),
            _ => None,
        })
        .unwrap();
        Policy::new(&settings).unwrap().with_own_arn(Some(
            "arn:aws:sts::123456789012:assumed-role/tourniquet/responder".into(),
        ))
    }

    /// What the responder would see of each look: users and roles untagged, instances with
    /// one interface and `quarantined` others already in quarantine.
    fn observed(look: &Look, quarantined: Option<usize>) -> Observation {
        let Look::Sequence { members, .. } = look else {
            return Observation::NotNeeded;
        };
        Observation::Sequence {
            members: members
                .iter()
                .map(|m| match &m.look {
                    Look::Instance { instance_id } => Observation::Instance(Box::new(InstanceState {
                        instance_id: instance_id.clone(),
                        interfaces: vec![InterfaceState {
                            id: format!("eni-{instance_id}"),
                            vpc_id: "vpc-1".into(),
                            ..InterfaceState::default()
                        }],
                        quarantined_elsewhere: quarantined,
                        ..InstanceState::default()
                    })),
                    Look::User { user_name, .. } | Look::Role { role_name: user_name } => {
                        Observation::Principal(Box::new(PrincipalState {
                            kind: if matches!(m.look, Look::User { .. }) {
                                PrincipalKind::User
                            } else {
                                PrincipalKind::Role
                            },
                            name: user_name.clone(),
                            tags: Some(BTreeMap::new()),
                            ..PrincipalState::default()
                        }))
                    }
                    _ => Observation::NotNeeded,
                })
                .collect(),
        }
    }

    fn respond(event: &Value, policy: &Policy, quarantined: Option<usize>) -> Plan {
        let incident = crate::intake::parse(event).unwrap().incident().unwrap();
        let target = crate::target::target(&incident, policy);
        let observation = match &target {
            Target::Act { look, .. } => observed(look, quarantined),
            Target::PageOnly { .. } => Observation::NotNeeded,
        };
        super::super::plan(&incident, &target, &observation, policy, SystemTime::UNIX_EPOCH)
    }

    fn actions(plan: &Plan, action: &str) -> Vec<String> {
        plan.steps
            .iter()
            .filter(|s| s.step.action() == action)
            .map(|s| match &s.step {
                Step::DeactivateAccessKey { access_key_id, .. } => access_key_id.clone(),
                Step::DenyAllUser { user_name, .. } => user_name.clone(),
                Step::IsolateInterfaces { instance_id, .. } => instance_id.clone(),
                other => other.action().to_owned(),
            })
            .collect()
    }

    #[test]
    fn two_users_keys_are_one_response_each_key_off_and_each_user_denied() {
        let event: Value = serde_json::from_str(CREDENTIALS).unwrap();
        let plan = respond(&event, &policy("5"), Some(0));
        assert_eq!(plan.playbook, Playbook::AttackSequence, "{}", plan.reason);
        assert_eq!(plan.hold, None);
        assert_eq!(
            actions(&plan, "deactivate-access-key"),
            ["AKIAIOSFODNN7EXAMPLE", "AKIAI44QH8DHBEXAMPLE"]
        );
        assert_eq!(actions(&plan, "deny-all-user"), ["ci-deployer", "build-bot"]);
        // One evidence record, one page; the bucket, not public, is the victim and is left.
        assert_eq!(actions(&plan, "record-evidence").len(), 1);
        assert_eq!(actions(&plan, "page").len(), 1);
        assert!(actions(&plan, "block-public-access").is_empty());
        assert!(plan.reason.contains("does not show it public"), "{}", plan.reason);
    }

    #[test]
    fn a_group_over_the_limit_is_held_whole_and_named_member_by_member() {
        let event: Value = serde_json::from_str(GROUP).unwrap();
        let held = respond(&event, &policy("5"), Some(0));
        assert_eq!(held.playbook, Playbook::AttackSequence, "{}", held.reason);
        assert_eq!(actions(&held, "isolate-interfaces").len(), 7);
        let why = held.hold.as_deref().expect("held");
        for n in 1..=7 {
            assert!(why.contains(&format!("i-0a1b2c3d4e5f6070{n}")), "{why}");
        }
        assert!(why.contains("limit of 5"), "{why}");
        // Within the limit: no hold. Counting what is already in quarantine: held again.
        assert_eq!(respond(&event, &policy("7"), Some(0)).hold, None);
        assert!(respond(&event, &policy("7"), Some(1)).hold.is_some());
        assert!(respond(&event, &policy("7"), None).hold.is_some(), "fail closed");
    }

    /// `resourceType` as the API reference gives it (`EC2_INSTANCE`, `ACCESS_KEY`, ...) reads as
    /// its `AWS::` form does: the instances isolated, the key contained, the EKS cluster's
    /// runbook, and every other type named.
    #[test]
    fn resource_types_in_the_api_references_form_are_read() {
        let event: Value = serde_json::from_str(API_TYPES).unwrap();
        let plan = respond(&event, &policy("5"), Some(0));
        assert_eq!(plan.playbook, Playbook::AttackSequence, "{}", plan.reason);
        assert_eq!(
            actions(&plan, "isolate-interfaces"),
            ["i-0a1b2c3d4e5f60711", "i-0a1b2c3d4e5f60712"]
        );
        assert_eq!(actions(&plan, "deactivate-access-key"), ["AKIAI44QH8DHBEXAMPLE"]);
        assert_eq!(actions(&plan, "deny-all-user"), ["build-bot"]);
        assert!(plan.reason.contains("does not show it public"), "{}", plan.reason);
        let incident = crate::intake::parse(&event).unwrap().incident().unwrap();
        assert!(incident.details["runbook"].contains("cluster prod"));
        for named in [
            "AUTOSCALING_AUTO_SCALING_GROUP",
            "IAM_INSTANCE_PROFILE",
            "EC2_LAUNCH_TEMPLATE",
            "EC2_VPC",
            "EC2_IMAGE",
            "ECS_CLUSTER",
            "ECS_TASK",
        ] {
            assert!(
                incident.details["members"].contains(named),
                "{named}: {}",
                incident.details["members"]
            );
        }
    }

    #[test]
    fn members_elsewhere_and_clusters_are_paged_not_touched() {
        let mut event: Value = serde_json::from_str(GROUP).unwrap();
        let resources = event
            .pointer_mut("/detail/service/detection/sequence/resources")
            .and_then(Value::as_array_mut)
            .unwrap();
        resources[0]["accountId"] = "210987654321".into();
        resources.push(
            serde_json::json!({"uid": "arn:aws:eks:us-east-1:123456789012:cluster/prod",
            "name": "prod", "resourceType": "AWS::EKS::Cluster", "accountId": "123456789012", "region": "us-east-1"}),
        );
        let plan = respond(&event, &policy("10"), Some(0));
        assert_eq!(actions(&plan, "isolate-interfaces").len(), 6);
        assert!(
            plan.reason
                .contains("account 210987654321, which is not in TOURNIQUET_ACCOUNTS"),
            "{}",
            plan.reason
        );
        assert!(plan.reason.contains("cluster prod"), "{}", plan.reason);
        // With that account in scope, its instance is isolated there, through its member role.
        let plan = respond(&event, &in_scope("10", Some("210987654321")), Some(0));
        assert_eq!(actions(&plan, "isolate-interfaces").len(), 7);
        let there: Vec<&PlannedStep> = plan.steps.iter().filter(|s| s.place.is_some()).collect();
        assert!(there.iter().any(|s| matches!(s.step, Step::IsolateInterfaces { .. })));
        for step in there {
            let place = step.place.as_ref().unwrap();
            assert_eq!(place.account, "210987654321");
            assert_eq!(
                place.role_arn.as_deref(),
                Some("arn:aws:iam::210987654321:role/tourniquet-member")
            );
        }
        assert!(plan.place.as_ref().is_some_and(|p| p.account == "123456789012"));
        let incident = crate::intake::parse(&event).unwrap().incident().unwrap();
        assert!(incident.details["runbook"].contains("kubectl cordon"));
        assert!(incident.details["signals"].contains("Backdoor:EC2/C&CActivity.B"));
    }

    #[test]
    fn a_protected_member_is_left_and_the_others_contained() {
        let event: Value = serde_json::from_str(CREDENTIALS).unwrap();
        let policy = policy("5");
        let incident = crate::intake::parse(&event).unwrap().incident().unwrap();
        let target = crate::target::target(&incident, &policy);
        let Target::Act { look, .. } = &target else {
            panic!("{target:?}")
        };
        let mut observation = observed(look, Some(0));
        if let Observation::Sequence { members } = &mut observation
            && let Some(Observation::Principal(first)) = members.first_mut()
        {
            first.tags = Some(BTreeMap::from([("tourniquet:protected".into(), "break-glass".into())]));
        }
        let plan = super::super::plan(&incident, &target, &observation, &policy, SystemTime::UNIX_EPOCH);
        assert_eq!(actions(&plan, "deactivate-access-key"), ["AKIAI44QH8DHBEXAMPLE"]);
        assert_eq!(actions(&plan, "deny-all-user"), ["build-bot"]);
        assert!(plan.reason.contains("protected tag"), "{}", plan.reason);
    }

    #[test]
    fn a_role_session_actor_is_denied_exactly_that_session() {
        let mut event: Value = serde_json::from_str(CREDENTIALS).unwrap();
        let actors = event
            .pointer_mut("/detail/service/detection/sequence/actors")
            .and_then(Value::as_array_mut)
            .unwrap();
        actors.push(
            serde_json::json!({"id": "deploy", "user": {"name": "deploy-role", "type": "AssumedRole",
            "uid": "AROAEXAMPLEROLEID:attacker", "credentialUid": "ASIAEXAMPLETEMPKEY"}}),
        );
        let plan = respond(&event, &policy("5"), Some(0));
        let reach = plan.steps.iter().find_map(|s| match &s.step {
            Step::RevokeRoleSessions { role_name, reach } if role_name == "deploy-role" => Some(reach.clone()),
            _ => None,
        });
        assert_eq!(
            reach,
            Some(crate::plan::Reach::Session {
                user_id: "AROAEXAMPLEROLEID:attacker".into()
            }),
            "{}",
            plan.reason
        );
    }

    /// A sample sequence with one field under `service.detection.sequence` replaced.
    fn mutated() -> impl Strategy<Value = Value> {
        let replacement = prop_oneof![
            Just(Value::Null),
            any::<i64>().prop_map(Value::from),
            ".{0,12}".prop_map(Value::from),
            Just(serde_json::json!([])),
            Just(serde_json::json!({})),
            Just(serde_json::json!(["i-1", {"name": null}])),
        ];
        (any::<bool>(), any::<prop::sample::Index>(), replacement).prop_map(|(first, index, replacement)| {
            let mut event: Value = serde_json::from_str(if first { CREDENTIALS } else { GROUP }).unwrap();
            let mut paths = Vec::new();
            collect(&event["detail"]["service"]["detection"]["sequence"], "", &mut paths);
            let path = format!("/detail/service/detection/sequence{}", index.get(&paths));
            if let Some(slot) = event.pointer_mut(&path) {
                *slot = replacement;
            }
            event
        })
    }

    fn collect(value: &Value, here: &str, out: &mut Vec<String>) {
        out.push(here.to_owned());
        match value {
            Value::Object(map) => map.iter().for_each(|(k, v)| collect(v, &format!("{here}/{k}"), out)),
            Value::Array(items) => items
                .iter()
                .enumerate()
                .for_each(|(i, v)| collect(v, &format!("{here}/{i}"), out)),
            _ => {}
        }
    }

    proptest! {
        /// Mutated sequences never panic intake, target or plan, and a group over the limit
        /// is never planned without its hold.
        #[test]
        fn mutated_sequences_never_panic(event in mutated(), quarantined in prop::option::of(0_usize..8)) {
            let policy = policy("5");
            if let Ok(crate::intake::Intake::Incident(incident)) = crate::intake::parse(&event) {
                let target = crate::target::target(&incident, &policy);
                let observation = match &target {
                    Target::Act { look, .. } => observed(look, quarantined),
                    Target::PageOnly { .. } => Observation::NotNeeded,
                };
                let plan = super::super::plan(&incident, &target, &observation, &policy, SystemTime::UNIX_EPOCH);
                prop_assert!(!plan.steps.is_empty());
                let isolating = actions(&plan, "isolate-interfaces").len();
                if isolating > 0 && quarantined.is_none_or(|q| q + isolating > 5) {
                    prop_assert!(plan.hold.is_some(), "{}", plan.reason);
                }
            }
        }
    }
}
