//! What the planner's tests share: a policy, a finding on an instance, the instance, and the planner as the responder runs it.

use std::time::SystemTime;

use crate::incident::Incident;
use crate::observation::{GroupRef, InstanceState, InterfaceState, Observation, VolumeState};
use crate::plan::{Plan, plan};
use crate::policy::Policy;
use crate::settings::Settings;

pub(crate) fn policy(dry_run: bool) -> Policy {
    let settings = Settings {
        topic_arn: "arn:aws:sns:us-east-1:123456789012:pages".into(),
        evidence_bucket: "evidence".into(),
        dry_run,
        protected_tag: "tourniquet:protected".into(),
        severity_threshold: 7.0,
        max_quarantined: 5,
        protected_principals: vec![],
        kms_key_id: None,
        isolate_alarm_prefix: "tourniquet-isolate-".into(),
        member_role: "tourniquet-member".into(),
        accounts: crate::settings::Scope::Home,
        dry_run_accounts: std::collections::BTreeSet::new(),
        pages: crate::settings::PageSettings::default(),
        timeline: crate::settings::TimelineSettings::default(),
    };
    Policy::new(&settings).unwrap()
}

pub(crate) fn incident(severity: f64) -> Incident {
    let event = serde_json::json!({
        "id": "f1", "type": "Backdoor:EC2/C&CActivity.B", "severity": severity,
        "resource": {"resourceType": "Instance", "instanceDetails": {"instanceId": "i-1"}}
    });
    crate::intake::parse(&event).unwrap().incident().unwrap()
}

pub(crate) fn instance() -> InstanceState {
    let interface = |id: &str| InterfaceState {
        id: id.into(),
        vpc_id: "vpc-1".into(),
        groups: vec![GroupRef {
            id: "sg-web".into(),
            name: Some("web".into()),
        }],
        ..InterfaceState::default()
    };
    InstanceState {
        instance_id: "i-1".into(),
        state: Some("running".into()),
        quarantined_elsewhere: Some(0),
        interfaces: vec![interface("eni-1"), interface("eni-2")],
        volumes: vec![
            VolumeState {
                volume_id: "vol-1".into(),
                device: Some("/dev/xvda".into()),
                delete_on_termination: Some(true),
            },
            VolumeState {
                volume_id: "vol-2".into(),
                device: Some("/dev/xvdb".into()),
                delete_on_termination: Some(false),
            },
        ],
        ..InstanceState::default()
    }
}

/// The planner as the responder runs it: routed first.
pub(crate) fn planned(incident: &Incident, observation: &Observation, policy: &Policy, now: SystemTime) -> Plan {
    plan(
        incident,
        &crate::target::target(incident, policy),
        observation,
        policy,
        now,
    )
}

pub(crate) fn actions(plan: &Plan) -> Vec<&'static str> {
    plan.steps.iter().map(|s| s.step.action()).collect()
}
