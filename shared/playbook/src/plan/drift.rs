//! What changed on a contained instance, principal or function since its containment: a release refuses over any of it unless forced.

use std::collections::BTreeSet;

use super::release::{deactivated, undo};
use crate::intake::release::Subject;
use crate::names;
use crate::observation::{FunctionState, InstanceState, Observation};
use crate::plan::Plan;

/// What changed on a contained user or role since the containment, as found `now`: each deny
/// policy the incident put is still there; for a user, each key it deactivated is still
/// inactive and no key was created since. Empty when nothing did.
#[must_use]
pub fn principal_drift(contained: &Plan, subject: &Subject, now: &Observation) -> Vec<String> {
    let now = match now {
        Observation::Principal(now) => now,
        Observation::Unavailable { code, message } => {
            return vec![format!("it could not be described ({code}: {message})")];
        }
        _ => return vec!["it was not described".to_owned()],
    };
    let mut changes: Vec<String> = undo(contained, subject)
        .into_iter()
        .filter(|(_, _, policy)| !now.inline_policies.contains(policy))
        .map(|(_, _, policy)| format!("its deny policy {policy} is gone"))
        .collect();
    for key in deactivated(contained, subject) {
        match now.access_keys.iter().find(|k| k.access_key_id == key) {
            Some(found) if found.status.as_deref() == Some("Inactive") => {}
            Some(found) => changes.push(format!(
                "key {key} is {} again",
                found.status.as_deref().unwrap_or("of unknown status")
            )),
            None => changes.push(format!("key {key} was deleted")),
        }
    }
    if let Observation::Principal(before) = &contained.observation {
        changes.extend(
            now.access_keys
                .iter()
                .filter(|k| !before.access_keys.iter().any(|b| b.access_key_id == k.access_key_id))
                .map(|k| format!("key {} was created since the containment", k.access_key_id)),
        );
    }
    changes
}

/// What changed on a quarantined instance since the quarantine left it, as found `now`:
/// every interface on its VPC's isolation group alone, the same interfaces, no Elastic IP,
/// the quarantine tag. Empty when nothing did. A release over such a change would undo a
/// person's (or an attacker's) later work without anyone noticing.
#[must_use]
pub fn drift(before: &InstanceState, now: &Observation) -> Vec<String> {
    let now = match now {
        Observation::Instance(now) => now,
        Observation::Unavailable { code, message } => {
            return vec![format!("the instance could not be described ({code}: {message})")];
        }
        _ => return vec!["the instance was not described".to_owned()],
    };
    let mut changes = Vec::new();
    for interface in &now.interfaces {
        let isolation = now
            .quarantine_groups
            .get(&interface.vpc_id)
            .and_then(|g| g.isolation.as_deref());
        let groups: Vec<&str> = interface.groups.iter().map(|g| g.id.as_str()).collect();
        if isolation.is_none_or(|isolation| groups != [isolation]) {
            changes.push(format!(
                "{} carries {groups:?}, not the isolation group alone",
                interface.id
            ));
        }
    }
    let ids = |state: &InstanceState| state.interfaces.iter().map(|i| i.id.clone()).collect::<BTreeSet<_>>();
    let (then, current) = (ids(before), ids(now));
    changes.extend(current.difference(&then).map(|id| format!("{id} was attached since")));
    changes.extend(then.difference(&current).map(|id| format!("{id} was detached since")));
    changes.extend(now.addresses.iter().map(|a| {
        format!(
            "Elastic IP {} is associated again",
            a.public_ip.as_deref().unwrap_or("?")
        )
    }));
    if !now.tags.contains_key(names::QUARANTINED_AT_TAG) {
        changes.push(format!("its {} tag is gone", names::QUARANTINED_AT_TAG));
    }
    changes
}

/// What changed on a throttled function since the throttle left it, as found `now`: its
/// reserved concurrency is no longer 0, or its code changed. Empty when nothing did.
#[must_use]
pub fn function_drift(before: &FunctionState, now: &Observation) -> Vec<String> {
    let now = match now {
        Observation::Function(now) => now,
        Observation::Unavailable { code, message } => {
            return vec![format!("the function could not be described ({code}: {message})")];
        }
        _ => return vec!["the function was not described".to_owned()],
    };
    let mut changes = Vec::new();
    if now.reserved_concurrency != Some(0) {
        changes.push(match now.reserved_concurrency {
            Some(n) => format!("its reserved concurrency is {n}, not 0"),
            None => "its reserved concurrency was removed".to_owned(),
        });
    }
    if now.code_sha256 != before.code_sha256 {
        changes.push(format!(
            "its code changed (SHA-256 {} then, {} now)",
            before.code_sha256.as_deref().unwrap_or("?"),
            now.code_sha256.as_deref().unwrap_or("?")
        ));
    }
    changes
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::observation::PrincipalKind;
    use crate::observation::PrincipalState;
    use crate::plan::Step;
    use crate::policy::Playbook;

    fn credential_plan(before: PrincipalState) -> Plan {
        let step = |step| crate::plan::PlannedStep {
            place: None,
            step,
            reason: String::new(),
        };
        Plan {
            incident_id: "guardduty-1".into(),
            playbook: Playbook::CredentialCompromise,
            dry_run: false,
            reason: String::new(),
            planned_at: String::new(),
            observation: Observation::Principal(Box::new(before)),
            critical: false,
            hold: None,
            place: None,
            steps: vec![
                step(Step::DeactivateAccessKey {
                    user_name: "alice".into(),
                    access_key_id: "AKIA1".into(),
                }),
                step(Step::DenyAllUser {
                    user_name: "alice".into(),
                    reach: crate::plan::Reach::Everything,
                }),
                step(Step::Page),
            ],
        }
    }

    #[test]
    fn principal_drift_names_every_change_since_the_containment() {
        use crate::observation::AccessKeyState;
        let key = |id: &str, status: &str| AccessKeyState {
            access_key_id: id.into(),
            status: Some(status.into()),
            created: None,
        };
        let before = PrincipalState {
            name: "alice".into(),
            access_keys: vec![key("AKIA1", "Active"), key("AKIA2", "Active")],
            ..PrincipalState::default()
        };
        let contained = credential_plan(before.clone());
        let alice = Subject::User("alice".into());
        assert_eq!(
            undo(&contained, &alice),
            [(
                PrincipalKind::User,
                "alice".to_owned(),
                "tourniquet-deny-all".to_owned()
            )]
        );
        assert!(undo(&contained, &Subject::User("bob".into())).is_empty());
        assert!(undo(&contained, &Subject::Role("alice".into())).is_empty());
        assert_eq!(deactivated(&contained, &alice), ["AKIA1"]);

        let mut now = PrincipalState {
            access_keys: vec![key("AKIA1", "Inactive"), key("AKIA2", "Active")],
            inline_policies: vec!["tourniquet-deny-all".into()],
            ..before
        };
        let observed = |state: &PrincipalState| Observation::Principal(Box::new(state.clone()));
        assert!(principal_drift(&contained, &alice, &observed(&now)).is_empty());

        now.inline_policies.clear();
        now.access_keys = vec![key("AKIA1", "Active"), key("AKIA3", "Active")];
        assert_eq!(
            principal_drift(&contained, &alice, &observed(&now)),
            [
                "its deny policy tourniquet-deny-all is gone",
                "key AKIA1 is Active again",
                "key AKIA3 was created since the containment",
            ]
        );
        let gone = Observation::Unavailable {
            code: "NoSuchEntity".into(),
            message: "gone".into(),
        };
        assert!(principal_drift(&contained, &alice, &gone)[0].contains("NoSuchEntity"));
    }

    #[test]
    fn drift_names_every_change_since_the_quarantine() {
        use crate::observation::{AddressState, GroupRef, InterfaceState, QuarantineGroups};
        let interface = |id: &str, group: &str| InterfaceState {
            id: id.into(),
            vpc_id: "vpc-1".into(),
            groups: vec![GroupRef {
                id: group.into(),
                name: None,
            }],
            ..InterfaceState::default()
        };
        let before = InstanceState {
            instance_id: "i-1".into(),
            interfaces: vec![interface("eni-1", "sg-web"), interface("eni-2", "sg-app")],
            ..InstanceState::default()
        };
        let mut quarantined = InstanceState {
            interfaces: vec![interface("eni-1", "sg-iso"), interface("eni-2", "sg-iso")],
            quarantine_groups: [(
                "vpc-1".to_owned(),
                QuarantineGroups {
                    conversion: Some("sg-conv".into()),
                    isolation: Some("sg-iso".into()),
                },
            )]
            .into(),
            tags: [(names::QUARANTINED_AT_TAG.to_owned(), "2026-11-29T00:00:00Z".to_owned())].into(),
            ..before.clone()
        };
        let now = |state: &InstanceState| Observation::Instance(Box::new(state.clone()));
        assert!(drift(&before, &now(&quarantined)).is_empty());

        quarantined.interfaces[1] = interface("eni-2", "sg-web");
        quarantined.interfaces.push(interface("eni-3", "sg-iso"));
        quarantined.addresses.push(AddressState {
            public_ip: Some("203.0.113.7".into()),
            ..AddressState::default()
        });
        quarantined.tags.clear();
        let changes = drift(&before, &now(&quarantined));
        assert_eq!(
            changes,
            [
                "eni-2 carries [\"sg-web\"], not the isolation group alone",
                "eni-3 was attached since",
                "Elastic IP 203.0.113.7 is associated again",
                "its tourniquet:quarantined-at tag is gone",
            ]
        );
        let gone = Observation::Unavailable {
            code: "InvalidInstanceID.NotFound".into(),
            message: "gone".into(),
        };
        assert!(drift(&before, &gone)[0].contains("InvalidInstanceID.NotFound"));
    }

    #[test]
    fn drift_names_a_lifted_throttle_and_new_code() {
        let before = FunctionState {
            name: "resizer".into(),
            code_sha256: Some("old".into()),
            ..FunctionState::default()
        };
        let throttled = FunctionState {
            reserved_concurrency: Some(0),
            ..before.clone()
        };
        let now = |state: &FunctionState| Observation::Function(Box::new(state.clone()));
        assert!(function_drift(&before, &now(&throttled)).is_empty());
        let changed = FunctionState {
            reserved_concurrency: None,
            code_sha256: Some("new".into()),
            ..before.clone()
        };
        assert_eq!(
            function_drift(&before, &now(&changed)),
            [
                "its reserved concurrency was removed",
                "its code changed (SHA-256 old then, new now)"
            ]
        );
    }
}
