//! The EC2 playbook: isolate every interface, keep the volumes and snapshot them, deny the instance's own credentials.

use std::collections::BTreeMap;

use super::{Plan, PlannedStep, Planner, Step, VpcIsolation, steps, timeline};
use crate::config_history::ConfigResource;
use crate::incident::Incident;
use crate::names;
use crate::observation::InstanceState;
use crate::policy::Playbook;

impl Planner<'_> {
    pub(super) fn instance(&self, state: &InstanceState) -> Plan {
        let id = &state.instance_id;
        if let Some(value) = state.tags.get(&self.policy.protected_tag) {
            return self.page_only(format!(
                "instance {id} carries the protected tag {}={value:?}; paging only",
                self.policy.protected_tag
            ));
        }
        // Anyone who may tag the instance can set the quarantine tags: they count only with
        // Tourniquet's own record of that quarantine (the ledger of the incident they name
        // shows this instance tagged) and every interface reading back isolated (Tourniquet's
        // own isolation group, alone).
        if let Some(at) = state.tags.get(names::QUARANTINED_AT_TAG)
            && let Some(by) = &state.recorded_quarantine
            && isolated(state)
        {
            return self.page_only(format!(
                "instance {id} is already quarantined (since {at}, by {by}, as its ledger records): every \
                 interface reads back isolated; paging only"
            ));
        }
        if let Some(s @ ("shutting-down" | "terminated")) = state.state.as_deref() {
            return self.page_only(format!("instance {id} is {s}; nothing to contain, paging only"));
        }
        let reason = format!(
            "severity {:.1} {} on instance {id}: contain it",
            self.incident.severity, self.incident.finding_type
        );
        let max = self.policy.max_quarantined;
        let hold = match state.quarantined_elsewhere {
            Some(count) if count >= max as usize => Some(format!(
                "{count} instances are already in quarantine in account {}, the limit is {max}: isolating one more \
                 waits for a person",
                self.place.map_or("unknown", |p| p.account.as_str())
            )),
            Some(_) => None,
            None => Some("the instances in quarantine could not be counted, so the limit cannot be checked".to_owned()),
        };
        let steps = timeline::after_containment(
            ec2_compromise(self.incident, state, &self.planned_at),
            timeline::instance_lookups(state),
            Some(ConfigResource::instance(id)),
            self.incident,
            self.policy,
            &self.planned_at,
        );
        Plan {
            hold,
            ..self.plan(Playbook::Ec2Compromise, reason, steps)
        }
    }
}

/// `i-` and 8 or 17 hexadecimal digits: an EC2 instance id (instance credentials' session name).
pub(super) fn is_instance_id(text: &str) -> bool {
    text.strip_prefix("i-")
        .is_some_and(|hex| matches!(hex.len(), 8 | 17) && hex.bytes().all(|b| b.is_ascii_hexdigit()))
}

fn ec2_compromise(incident: &Incident, state: &InstanceState, planned_at: &str) -> Vec<PlannedStep> {
    let instance_id = state.instance_id.clone();
    let step = |step, reason: &str| PlannedStep {
        place: None,
        step,
        reason: reason.to_owned(),
    };
    let mut middle = vec![step(
        Step::ProtectInstance {
            instance_id: instance_id.clone(),
        },
        "keep the instance and its disks from being terminated while it is evidence",
    )];
    middle.extend(keep_volumes(state));
    middle.extend(deny_instance_credentials(incident, state));
    if let Some(group) = &state.auto_scaling_group {
        middle.push(step(
            Step::DetachFromAutoScaling {
                instance_id: instance_id.clone(),
                group: group.clone(),
            },
            "an Auto Scaling group would replace and terminate the isolated instance; detach it first",
        ));
    }
    let mut vpcs: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    for interface in &state.interfaces {
        vpcs.entry(interface.vpc_id.as_str())
            .or_default()
            .push(interface.id.clone());
    }
    let interfaces: Vec<String> = state.interfaces.iter().map(|i| i.id.clone()).collect();
    middle.push(step(
        Step::IsolateInterfaces {
            instance_id: instance_id.clone(),
            vpcs: vpcs
                .into_iter()
                .map(|(vpc_id, interfaces)| VpcIsolation {
                    groups: state.quarantine_groups.get(vpc_id).cloned().unwrap_or_default(),
                    vpc_id: vpc_id.to_owned(),
                    interfaces,
                })
                .collect(),
        },
        "cut every network flow: all-open conversion group first so live connections become untracked, then the empty isolation group",
    ));
    if !state.addresses.is_empty() {
        middle.push(step(
            Step::DisassociateAddresses {
                instance_id: instance_id.clone(),
                addresses: state.addresses.clone(),
            },
            "take the instance off its public Elastic IPs",
        ));
    }
    if !state.volumes.is_empty() {
        let tags = BTreeMap::from([
            (names::INCIDENT_TAG.to_owned(), incident.id.clone()),
            (names::FINDING_ID_TAG.to_owned(), names::tag_value(&incident.finding_id)),
            (
                names::FINDING_TYPE_TAG.to_owned(),
                names::tag_value(&incident.finding_type),
            ),
            (names::INSTANCE_TAG.to_owned(), instance_id.clone()),
        ]);
        middle.push(step(
            Step::SnapshotVolumes {
                instance_id: instance_id.clone(),
                volume_ids: state.volumes.iter().map(|v| v.volume_id.clone()).collect(),
                tags,
            },
            "preserve the disks, crash-consistent across volumes, for forensics",
        ));
    }
    middle.push(step(
        Step::TagInstance {
            instance_id: instance_id.clone(),
            tags: BTreeMap::from([
                (names::INCIDENT_TAG.to_owned(), incident.id.clone()),
                (names::QUARANTINED_AT_TAG.to_owned(), planned_at.to_owned()),
                (
                    names::FINDING_TYPE_TAG.to_owned(),
                    names::tag_value(&incident.finding_type),
                ),
            ]),
        },
        "mark the instance as quarantined, for people and for the blast-radius count",
    ));
    middle.push(step(
        Step::VerifyIsolation {
            instance_id,
            interfaces,
        },
        "trust, but verify: read the interfaces back",
    ));
    steps(middle)
}

/// `DeleteOnTermination` off for every volume that has it (or does not say), so the disks
/// outlive a termination that gets past termination protection.
fn keep_volumes(state: &InstanceState) -> Option<PlannedStep> {
    let devices: Vec<String> = state
        .volumes
        .iter()
        .filter(|v| v.delete_on_termination != Some(false))
        .filter_map(|v| v.device.clone())
        .collect();
    (!devices.is_empty()).then(|| PlannedStep {
        place: None,
        step: Step::KeepVolumes {
            instance_id: state.instance_id.clone(),
            devices,
        },
        reason: "keep the disks if a termination gets past termination protection (recorded for release)".to_owned(),
    })
}

/// The deny on the instance's own role credentials, which an attacker on the host may have
/// copied and which isolation does not stop: conditioned on the instance's ARN, so every
/// other instance with the role keeps working. None without an instance profile, or without
/// the region and account that make up the instance's ARN.
fn deny_instance_credentials(incident: &Incident, state: &InstanceState) -> Option<PlannedStep> {
    let profile = state.instance_profile.as_deref()?;
    let mut arn = profile.split(':');
    let partition = arn.nth(1).filter(|p| !p.is_empty())?;
    let account = arn.nth(2).filter(|a| !a.is_empty()).or(incident.account.as_deref())?;
    let region = incident.region.as_deref()?;
    Some(PlannedStep {
        place: None,
        step: Step::DenyInstanceCredentials {
            instance_id: state.instance_id.clone(),
            instance_profile: profile.to_owned(),
            instance_arn: format!("arn:{partition}:ec2:{region}:{account}:instance/{}", state.instance_id),
        },
        reason: "deny the credentials EC2 issued to this instance (ec2:SourceInstanceARN), wherever they are \
                 used from; other instances with its role keep working"
            .to_owned(),
    })
}

/// Whether every interface of the instance carries its VPC's isolation group and nothing else.
fn isolated(state: &InstanceState) -> bool {
    !state.interfaces.is_empty()
        && state.interfaces.iter().all(|interface| {
            let isolation = state
                .quarantine_groups
                .get(&interface.vpc_id)
                .and_then(|groups| groups.isolation.as_deref());
            matches!((isolation, interface.groups.as_slice()), (Some(isolation), [only]) if only.id == isolation)
        })
}

#[cfg(test)]
mod tests {
    use std::time::SystemTime;

    use super::*;
    use crate::observation::*;
    use crate::plan::fixtures::{actions, incident, instance, planned, policy};
    use crate::plan::{Step, plan_release};
    use crate::policy::Playbook;

    #[test]
    fn high_severity_instance_is_contained_in_order() {
        let plan = planned(
            &incident(8.0),
            &Observation::Instance(Box::new(instance())),
            &policy(false),
            SystemTime::UNIX_EPOCH,
        );
        assert_eq!(plan.playbook, Playbook::Ec2Compromise);
        assert_eq!(
            actions(&plan),
            [
                "record-evidence",
                "protect-instance",
                "keep-volumes",
                "isolate-interfaces",
                "snapshot-volumes",
                "tag-instance",
                "verify-isolation",
                "page",
                "config-history",
                "page-update"
            ]
        );
        let Step::ConfigHistory { resource, start } = &plan.steps[8].step else {
            panic!("not config-history")
        };
        assert_eq!(resource, &ConfigResource::instance("i-1"));
        assert_eq!(
            start, "1969-12-31T00:00:00Z",
            "a day before the plan, the finding giving no time"
        );

        // An instance with a role: its session (named after the instance) is traced and what
        // it created swept, once it is contained.
        let mut with_role = instance();
        with_role.instance_profile = Some("arn:aws:iam::123456789012:instance-profile/web".into());
        let plan = planned(
            &incident(8.0),
            &Observation::Instance(Box::new(with_role)),
            &policy(false),
            SystemTime::UNIX_EPOCH,
        );
        let actions = actions(&plan);
        assert_eq!(
            actions[actions.len() - 5..],
            ["timeline", "sweep-persistence", "page", "config-history", "page-update"]
        );
        let Some(Step::Timeline { lookups, .. }) = plan
            .steps
            .iter()
            .map(|s| &s.step)
            .find(|s| matches!(s, Step::Timeline { .. }))
        else {
            panic!("no timeline")
        };
        assert_eq!(lookups, &[crate::timeline::Lookup::username("i-1")]);
        let plan = planned(
            &incident(8.0),
            &Observation::Instance(Box::new(instance())),
            &policy(false),
            SystemTime::UNIX_EPOCH,
        );
        // Only the volume that would go with the instance is kept.
        let Step::KeepVolumes { devices, .. } = &plan.steps[2].step else {
            panic!("not keep-volumes")
        };
        assert_eq!(devices, &["/dev/xvda"]);
        let Step::IsolateInterfaces { vpcs, .. } = &plan.steps[3].step else {
            panic!("not isolation")
        };
        assert_eq!(vpcs.len(), 1);
        assert_eq!(vpcs[0].interfaces, ["eni-1", "eni-2"]);
        let Step::SnapshotVolumes { volume_ids, tags, .. } = &plan.steps[4].step else {
            panic!("not snapshot")
        };
        assert_eq!(volume_ids, &["vol-1", "vol-2"]);
        assert_eq!(tags[names::INCIDENT_TAG], plan.incident_id);
        assert_eq!(plan.planned_at, "1970-01-01T00:00:00Z");
    }

    #[test]
    fn the_instances_own_credentials_are_denied_for_it_alone_and_volumes_restored_at_release() {
        let mut state = instance();
        state.instance_profile = Some("arn:aws-us-gov:iam::123456789012:instance-profile/web".into());
        let mut finding = incident(8.0);
        finding.region = Some("us-gov-west-1".into());
        let plan = planned(
            &finding,
            &Observation::Instance(Box::new(state.clone())),
            &policy(false),
            SystemTime::UNIX_EPOCH,
        );
        let deny = plan
            .steps
            .iter()
            .find_map(|s| match &s.step {
                Step::DenyInstanceCredentials {
                    instance_profile,
                    instance_arn,
                    ..
                } => Some((instance_profile.as_str(), instance_arn.as_str())),
                _ => None,
            })
            .expect("a deny on the instance's credentials");
        assert_eq!(
            deny,
            (
                "arn:aws-us-gov:iam::123456789012:instance-profile/web",
                "arn:aws-us-gov:ec2:us-gov-west-1:123456789012:instance/i-1"
            )
        );
        // Without a region there is no instance ARN to name: no deny rather than a wrong one.
        let no_region = planned(
            &incident(8.0),
            &Observation::Instance(Box::new(state.clone())),
            &policy(false),
            SystemTime::UNIX_EPOCH,
        );
        assert!(!actions(&no_region).contains(&"deny-instance-credentials"));

        let release = plan_release(&plan, &state, SystemTime::UNIX_EPOCH);
        let restored = release.steps.iter().find_map(|s| match &s.step {
            Step::RestoreVolumes { devices, .. } => Some(devices.clone()),
            _ => None,
        });
        assert_eq!(restored, Some(vec!["/dev/xvda".to_owned()]));
    }
    #[test]
    fn containment_runs_together_and_verification_waits_for_it() {
        let plan = planned(
            &incident(8.0),
            &Observation::Instance(Box::new(instance())),
            &policy(false),
            SystemTime::UNIX_EPOCH,
        );
        // Evidence, protection, volumes, isolation and snapshot together; then the tag and the
        // verification; then the page, the configuration history beside it; then the update
        // page a retry may owe.
        assert_eq!(plan.stages(), [0..5, 5..7, 7..9, 9..10]);

        let mut member = instance();
        member.auto_scaling_group = Some("web-asg".into());
        let plan = planned(
            &incident(8.0),
            &Observation::Instance(Box::new(member)),
            &policy(false),
            SystemTime::UNIX_EPOCH,
        );
        let stages = plan.stages();
        let stage_of = |action: &str| {
            let index = plan.steps.iter().position(|s| s.step.action() == action).unwrap();
            stages.iter().position(|r| r.contains(&index)).unwrap()
        };
        assert!(stage_of("detach-from-auto-scaling") < stage_of("isolate-interfaces"));
        assert_eq!(stage_of("protect-instance"), stage_of("detach-from-auto-scaling"));
        assert_eq!(stage_of("snapshot-volumes"), stage_of("isolate-interfaces"));
        assert!(stage_of("isolate-interfaces") < stage_of("verify-isolation"));
        assert!(stage_of("verify-isolation") < stage_of("page"));
    }

    #[test]
    fn auto_scaling_and_addresses_add_steps() {
        let mut state = instance();
        state.auto_scaling_group = Some("web-asg".into());
        state.addresses = vec![AddressState {
            allocation_id: Some("eipalloc-1".into()),
            ..AddressState::default()
        }];
        let plan = planned(
            &incident(8.0),
            &Observation::Instance(Box::new(state)),
            &policy(false),
            SystemTime::UNIX_EPOCH,
        );
        let actions = actions(&plan);
        let at = |a| actions.iter().position(|x| *x == a).unwrap();
        assert!(at("detach-from-auto-scaling") < at("isolate-interfaces"));
        assert!(at("disassociate-addresses") > at("isolate-interfaces"));
    }

    #[test]
    fn guards_page_only() {
        let mut protected = instance();
        protected.tags.insert("tourniquet:protected".into(), String::new());
        let mut gone = instance();
        gone.state = Some("terminated".into());
        let mut quarantined = instance();
        quarantined
            .tags
            .insert(names::QUARANTINED_AT_TAG.into(), "2026-01-01T00:00:00Z".into());
        quarantined
            .tags
            .insert(names::INCIDENT_TAG.into(), "guardduty-earlier".into());
        quarantined.recorded_quarantine = Some("guardduty-earlier".into());
        isolate(&mut quarantined);
        let unavailable = Observation::Unavailable {
            code: "InvalidInstanceID.NotFound".into(),
            message: "gone".into(),
        };
        let cases = [
            (
                incident(8.0),
                Observation::Instance(Box::new(protected)),
                "protected tag",
            ),
            (incident(8.0), Observation::Instance(Box::new(gone)), "is terminated"),
            (
                incident(8.0),
                Observation::Instance(Box::new(quarantined)),
                "already quarantined (since 2026-01-01T00:00:00Z, by guardduty-earlier, as its ledger records)",
            ),
            (incident(8.0), unavailable, "InvalidInstanceID.NotFound"),
            (
                incident(5.0),
                Observation::NotNeeded,
                "below the ec2-compromise floor of 7.0",
            ),
        ];
        for (incident, observation, why) in cases {
            let plan = planned(&incident, &observation, &policy(false), SystemTime::UNIX_EPOCH);
            assert_eq!(plan.playbook, Playbook::PageOnly, "{why}");
            assert_eq!(actions(&plan), ["record-evidence", "page"], "{why}");
            assert!(plan.reason.contains(why), "{} lacks {why}", plan.reason);
        }
    }

    /// Every interface of `state` reads back with only its VPC's isolation group.
    fn isolate(state: &mut InstanceState) {
        state.quarantine_groups.insert(
            "vpc-1".into(),
            crate::observation::QuarantineGroups {
                conversion: Some("sg-conversion".into()),
                isolation: Some("sg-isolation".into()),
            },
        );
        for interface in &mut state.interfaces {
            interface.groups = vec![crate::observation::GroupRef {
                id: "sg-isolation".into(),
                name: None,
            }];
        }
    }

    /// The quarantine tag alone (which anyone who may tag the instance can set) is not a
    /// quarantine: an instance whose interfaces do not all read back isolated, or whose
    /// quarantine no ledger records, is contained.
    #[test]
    fn a_quarantine_tag_counts_only_with_its_record_and_interfaces_isolated() {
        let mut tagged = instance();
        tagged
            .tags
            .insert(names::QUARANTINED_AT_TAG.into(), "2026-01-01T00:00:00Z".into());
        tagged.recorded_quarantine = Some("guardduty-earlier".into());
        let contain = |state: &InstanceState| {
            planned(
                &incident(8.0),
                &Observation::Instance(Box::new(state.clone())),
                &policy(false),
                SystemTime::UNIX_EPOCH,
            )
        };
        assert_eq!(contain(&tagged).playbook, Playbook::Ec2Compromise);
        // One interface isolated, the other not: contained all the same.
        isolate(&mut tagged);
        tagged.interfaces[1].groups.push(crate::observation::GroupRef {
            id: "sg-web".into(),
            name: None,
        });
        assert_eq!(contain(&tagged).playbook, Playbook::Ec2Compromise);
        tagged.interfaces[1].groups.pop();
        assert_eq!(contain(&tagged).playbook, Playbook::PageOnly);
        // Isolated and tagged, but no ledger records the quarantine: contained.
        tagged.recorded_quarantine = None;
        assert_eq!(contain(&tagged).playbook, Playbook::Ec2Compromise);
    }

    #[test]
    fn the_blast_radius_limit_holds_isolation() {
        let mut busy = instance();
        busy.quarantined_elsewhere = Some(5);
        let held = planned(
            &incident(8.0),
            &Observation::Instance(Box::new(busy)),
            &policy(false),
            SystemTime::UNIX_EPOCH,
        );
        assert_eq!(held.playbook, Playbook::Ec2Compromise);
        assert!(
            held.hold.as_deref().is_some_and(|h| h.contains("limit is 5")),
            "{:?}",
            held.hold
        );
        let mut unknown = instance();
        unknown.quarantined_elsewhere = None;
        let unknown = planned(
            &incident(8.0),
            &Observation::Instance(Box::new(unknown)),
            &policy(false),
            SystemTime::UNIX_EPOCH,
        );
        assert!(unknown.hold.is_some(), "fail closed");
    }
}
