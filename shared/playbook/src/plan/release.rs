//! Release plans: what undoes an instance's quarantine, a function's throttle, or a user's or
//! role's containment.

use std::time::SystemTime;

use super::{InterfaceGroups, Plan, PlannedStep, Step, timestamp};
use crate::intake::release::Subject;
use crate::observation::{FunctionState, InstanceState, PrincipalKind};
use crate::place::Place;
use crate::policy::Playbook;

fn step(step: Step, reason: &str) -> PlannedStep {
    PlannedStep {
        place: None,
        step,
        reason: reason.to_owned(),
    }
}

/// The pages that close every release: one page, and one update if a retry completed a step
/// the page reported failed.
fn pages(steps: &mut Vec<PlannedStep>) {
    steps.push(step(Step::Page, "tell the people who were paged for the containment"));
    steps.push(step(
        Step::PageUpdate,
        "if the page reported a failed step that a retry then completed, say so",
    ));
}

fn release(contained: &Plan, reason: String, released_at: String, steps: Vec<PlannedStep>) -> Plan {
    Plan {
        incident_id: contained.incident_id.clone(),
        playbook: Playbook::Release,
        dry_run: false,
        reason,
        planned_at: released_at,
        observation: contained.observation.clone(),
        critical: false,
        hold: None,
        place: contained.place.clone(),
        steps,
    }
}

/// Plans the release of a quarantined instance from its incident's plan: every interface gets
/// its groups back, the Elastic IPs their associations, protection its recorded values, and
/// the instance's own credentials work again. Pure, like [`super::plan`]. Evidence and
/// snapshots are never touched.
#[must_use]
pub fn plan_release(contained: &Plan, before: &InstanceState, now: SystemTime) -> Plan {
    let released_at = timestamp(now);
    let id = &before.instance_id;
    let mut steps = vec![step(
        Step::RestoreInterfaces {
            instance_id: id.clone(),
            interfaces: before
                .interfaces
                .iter()
                .map(|i| InterfaceGroups {
                    interface_id: i.id.clone(),
                    groups: i.groups.iter().map(|g| g.id.clone()).collect(),
                })
                .collect(),
        },
        "every interface goes back to the groups it had before the quarantine",
    )];
    if !before.addresses.is_empty() {
        steps.push(step(
            Step::RestoreAddresses {
                instance_id: id.clone(),
                addresses: before.addresses.clone(),
            },
            "the Elastic IPs go back to their interfaces",
        ));
    }
    let devices: Vec<String> = before
        .volumes
        .iter()
        .filter(|v| v.delete_on_termination == Some(true))
        .filter_map(|v| v.device.clone())
        .collect();
    if !devices.is_empty() {
        steps.push(step(
            Step::RestoreVolumes {
                instance_id: id.clone(),
                devices,
            },
            "the volumes that went with the instance on termination do so again",
        ));
    }
    // This instance's deny only: an attack sequence's plan holds every member's.
    steps.extend(contained.steps.iter().filter_map(|planned| match &planned.step {
        Step::DenyInstanceCredentials {
            instance_id,
            instance_profile,
            ..
        } if instance_id == id => Some(step(
            Step::RemoveInstanceDeny {
                instance_id: instance_id.clone(),
                instance_profile: instance_profile.clone(),
                policy: super::INSTANCES_POLICY.to_owned(),
            },
            "the credentials EC2 issues to the instance work again; the role's other holders never lost theirs",
        )),
        _ => None,
    }));
    steps.push(step(
        Step::RestoreProtection {
            instance_id: id.clone(),
            termination_protection: before.termination_protection,
            shutdown_behavior: before.shutdown_behavior.clone(),
        },
        "termination protection and shutdown behaviour as they were",
    ));
    steps.push(step(
        Step::MarkReleased {
            instance_id: id.clone(),
            released_at: released_at.clone(),
        },
        "the instance no longer counts as quarantined; its incident tag stays for the record",
    ));
    pages(&mut steps);
    let reason = format!("release {id} from the quarantine of incident {}", contained.incident_id);
    release(contained, reason, released_at, steps)
}

/// Plans the release of a user or role that `contained` denied: Tourniquet's deny policies on
/// it go; the keys it deactivated stay inactive unless `reactivate_keys` (AWS advises against
/// reactivating a leaked key). Pure. Evidence is never touched.
#[must_use]
pub fn plan_release_principal(contained: &Plan, subject: &Subject, reactivate_keys: bool, now: SystemTime) -> Plan {
    let released_at = timestamp(now);
    let mut steps: Vec<PlannedStep> = undo(contained, subject)
        .into_iter()
        .map(|(kind, name, policy)| {
            step(
                Step::RemoveDeny { kind, name, policy },
                "the deny policy Tourniquet put goes; nothing else on the principal changes",
            )
        })
        .collect();
    let keys = deactivated(contained, subject);
    if let Subject::User(user_name) = subject
        && reactivate_keys
    {
        steps.extend(keys.iter().map(|key| {
            step(
                Step::ReactivateAccessKey {
                    user_name: user_name.clone(),
                    access_key_id: key.clone(),
                },
                "the request asked for the key back; AWS advises a new key instead of reactivating a leaked one",
            )
        }));
    }
    pages(&mut steps);
    let kept = if keys.is_empty() || reactivate_keys {
        String::new()
    } else {
        format!(
            "; key(s) {} stay inactive (AWS advises against reactivating a leaked key: create a new one)",
            keys.join(", ")
        )
    };
    let reason = format!(
        "release {} from the containment of incident {}{kept}",
        subject.label(),
        contained.incident_id
    );
    release(contained, reason, released_at, steps)
}

/// Plans the release of a throttled function from its incident's plan: the reserved
/// concurrency recorded before (or none), and the role's deny removed. Pure. The published
/// version and the evidence stay.
#[must_use]
pub fn plan_function_release(contained: &Plan, before: &FunctionState, now: SystemTime) -> Plan {
    let released_at = timestamp(now);
    let name = &before.name;
    let mut steps = vec![step(
        Step::RestoreFunctionConcurrency {
            function_name: name.clone(),
            reserved: before.reserved_concurrency,
        },
        match before.reserved_concurrency {
            Some(_) => "the reserved concurrency it had before the throttle",
            None => "it had no reserved concurrency before the throttle: the setting goes",
        },
    )];
    steps.extend(contained.steps.iter().filter_map(|planned| match &planned.step {
        Step::RevokeRoleSessions { role_name, reach } => Some(step(
            Step::RemoveDeny {
                kind: PrincipalKind::Role,
                name: role_name.clone(),
                policy: crate::plan::policy_name(reach),
            },
            "the function's sessions are no longer denied",
        )),
        _ => None,
    }));
    pages(&mut steps);
    let reason = format!(
        "release function {name} from the throttle of incident {}",
        contained.incident_id
    );
    release(contained, reason, released_at, steps)
}

/// What the incident left that a release undoes, as it was before the containment.
#[derive(Debug, Clone, PartialEq)]
pub enum Contained {
    /// The quarantined instance as it was before.
    Instance(Box<InstanceState>),
    /// The throttled function as it was before.
    Function(Box<FunctionState>),
    /// A user or role; the plan names its deny policies and keys.
    Principal,
}

impl Contained {
    /// The containment steps of which at least one must be done for there to be anything to
    /// undo: a held or dry-run plan changed nothing.
    #[must_use]
    pub fn done_by(&self) -> &'static [&'static str] {
        match self {
            Contained::Instance(_) => &[crate::plan::ISOLATE_ACTION],
            Contained::Function(_) => &["throttle-function"],
            Contained::Principal => &["deny-all-user", "revoke-role-sessions", "deactivate-access-key"],
        }
    }
}

/// Where `contained` contained `subject`, when not where the plan acts: a member of an attack
/// sequence in another account or region. A release acts there.
#[must_use]
pub fn where_contained(contained: &Plan, subject: &Subject) -> Option<Place> {
    contained.steps.iter().find_map(|planned| {
        let named = match (&planned.step, subject) {
            (Step::IsolateInterfaces { instance_id, .. }, Subject::Instance(id)) => instance_id == id,
            (
                Step::DenyAllUser { user_name, .. } | Step::DeactivateAccessKey { user_name, .. },
                Subject::User(name),
            ) => user_name == name,
            (Step::RevokeRoleSessions { role_name, .. }, Subject::Role(name)) => role_name == name,
            _ => false,
        };
        planned.place.clone().filter(|_| named)
    })
}

/// The deny policies `contained` put on `subject` (a user or role): kind, name, policy name.
#[must_use]
pub fn undo(contained: &Plan, subject: &Subject) -> Vec<(PrincipalKind, String, String)> {
    contained
        .steps
        .iter()
        .filter_map(|planned| match (&planned.step, subject) {
            (Step::DenyAllUser { user_name, reach }, Subject::User(name)) if user_name == name => {
                Some((PrincipalKind::User, name.clone(), crate::plan::policy_name(reach)))
            }
            (Step::RevokeRoleSessions { role_name, reach }, Subject::Role(name)) if role_name == name => {
                Some((PrincipalKind::Role, name.clone(), crate::plan::policy_name(reach)))
            }
            _ => None,
        })
        .collect()
}

/// The keys `contained` deactivated, if `subject` is their user.
#[must_use]
pub fn deactivated(contained: &Plan, subject: &Subject) -> Vec<String> {
    contained
        .steps
        .iter()
        .filter_map(|planned| match (&planned.step, subject) {
            (
                Step::DeactivateAccessKey {
                    user_name,
                    access_key_id,
                },
                Subject::User(name),
            ) if user_name == name => Some(access_key_id.clone()),
            _ => None,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::observation::{Observation, PrincipalKind};
    use crate::plan::Reach;

    fn contained(steps: Vec<Step>) -> Plan {
        Plan {
            incident_id: "guardduty-1".into(),
            playbook: Playbook::CredentialCompromise,
            dry_run: false,
            reason: String::new(),
            planned_at: String::new(),
            observation: Observation::NotNeeded,
            critical: false,
            hold: None,
            place: None,
            steps: steps.into_iter().map(|s| step(s, "")).collect(),
        }
    }

    fn actions(plan: &Plan) -> Vec<&str> {
        plan.steps.iter().map(|s| s.step.action()).collect()
    }

    #[test]
    fn a_users_release_removes_its_denies_and_keeps_keys_inactive_unless_asked() {
        let plan = contained(vec![
            Step::DeactivateAccessKey {
                user_name: "alice".into(),
                access_key_id: "AKIA1".into(),
            },
            Step::DenyAllUser {
                user_name: "alice".into(),
                reach: Reach::Everything,
            },
            Step::Page,
        ]);
        let alice = Subject::User("alice".into());
        let kept = plan_release_principal(&plan, &alice, false, SystemTime::UNIX_EPOCH);
        assert_eq!(actions(&kept), ["remove-deny", "page", "page-update"]);
        assert_eq!(
            kept.steps[0].step,
            Step::RemoveDeny {
                kind: PrincipalKind::User,
                name: "alice".into(),
                policy: "tourniquet-deny-all".into(),
            }
        );
        assert!(kept.reason.contains("AKIA1 stay inactive"), "{}", kept.reason);
        assert_eq!(kept.playbook, Playbook::Release);

        let back = plan_release_principal(&plan, &alice, true, SystemTime::UNIX_EPOCH);
        assert_eq!(
            actions(&back),
            ["remove-deny", "reactivate-access-key", "page", "page-update"]
        );
        assert!(!back.reason.contains("stay inactive"), "{}", back.reason);
    }

    #[test]
    fn a_roles_release_removes_exactly_the_session_denies_it_carries() {
        let session = Reach::Session {
            user_id: "AROA1:alice".into(),
        };
        let plan = contained(vec![
            Step::RevokeRoleSessions {
                role_name: "web".into(),
                reach: session.clone(),
            },
            Step::RevokeRoleSessions {
                role_name: "other".into(),
                reach: Reach::Everything,
            },
            Step::Page,
        ]);
        let release = plan_release_principal(&plan, &Subject::Role("web".into()), false, SystemTime::UNIX_EPOCH);
        assert_eq!(
            release.steps[0].step,
            Step::RemoveDeny {
                kind: PrincipalKind::Role,
                name: "web".into(),
                policy: crate::plan::policy_name(&session),
            }
        );
        assert_eq!(actions(&release), ["remove-deny", "page", "page-update"]);
    }

    #[test]
    fn an_instances_release_lifts_the_deny_on_its_own_credentials() {
        let deny = |id: &str| Step::DenyInstanceCredentials {
            instance_id: id.into(),
            instance_profile: "arn:aws:iam::123456789012:instance-profile/web".into(),
            instance_arn: format!("arn:aws:ec2:us-east-1:123456789012:instance/{id}"),
        };
        // An attack sequence's plan denies every member's: the release lifts only its own.
        let plan = contained(vec![deny("i-1"), deny("i-2")]);
        let before = InstanceState {
            instance_id: "i-1".into(),
            ..InstanceState::default()
        };
        let release = plan_release(&plan, &before, SystemTime::UNIX_EPOCH);
        let lifts: Vec<(String, String)> = release
            .steps
            .iter()
            .filter_map(|s| match &s.step {
                Step::RemoveInstanceDeny {
                    instance_id, policy, ..
                } => Some((instance_id.clone(), policy.clone())),
                _ => None,
            })
            .collect();
        assert_eq!(lifts, [("i-1".to_owned(), "tourniquet-deny-instances".to_owned())]);
    }
}
