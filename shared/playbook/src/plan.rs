//! The pure planner: `(Incident, Observation, Policy, now) -> Plan`, with every guard decided here.

use std::collections::BTreeMap;
use std::ops::Range;
use std::time::SystemTime;

use aws_sdk_s3::primitives::{DateTime, DateTimeFormat};
use serde::{Deserialize, Serialize};

use crate::config_history::ConfigResource;
use crate::incident::Incident;
use crate::observation::Observation;
use crate::place::Place;
use crate::policy::{Playbook, Policy};
use crate::target::{Look, Target};

mod account_block;
mod buckets;
mod credentials;
mod drift;
mod ec2;
#[cfg(test)]
mod fixtures;
mod instance_deny;
mod lambda;
mod logging;
mod posture;
mod rds;
mod reach;
mod release;
mod sequence;
mod step;
mod timeline;

pub use drift::{drift, function_drift, principal_drift};
pub use instance_deny::{INSTANCES_POLICY, instances_document, listed_instances};
pub use reach::{
    DENY_ALL_POLICY, REVOKE_SESSIONS_POLICY, Reach, deny_document, function_reach, is_temporary_key, policy_name,
};
pub use release::{Contained, deactivated, undo, where_contained};
pub use release::{plan_function_release, plan_release, plan_release_principal};

/// The response to one incident: ordered steps that leave the executor no choices.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Plan {
    pub incident_id: String,
    pub playbook: Playbook,
    pub dry_run: bool,
    /// Why this playbook (or why only a page).
    pub reason: String,
    /// RFC 3339; also the quarantine time written on the instance.
    pub planned_at: String,
    /// The state the plan was made from: the pre-containment evidence.
    pub observation: Observation,
    /// Page as critical whatever the finding's severity (root credentials).
    #[serde(default)]
    pub critical: bool,
    /// Why containment waits for a person's approval (the blast-radius limit), if it does.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hold: Option<String>,
    /// Where the steps observe and act (the target's place); `None`: the home account and
    /// region (a page-only plan, or a record made before places were recorded).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub place: Option<Place>,
    pub steps: Vec<PlannedStep>,
}

pub use step::{ISOLATE_ACTION, InterfaceGroups, PlannedStep, Step, TIMELINE_ACTION, VpcIsolation};

impl Plan {
    /// The steps in stages: each stage starts once the ones before it are finished, and the
    /// steps within a stage run together, none waiting for another (`Step::waits_for`).
    #[must_use]
    pub fn stages(&self) -> Vec<Range<usize>> {
        let mut stages: Vec<Range<usize>> = Vec::new();
        for (index, planned) in self.steps.iter().enumerate() {
            match stages.last_mut() {
                Some(stage)
                    if !self.steps[stage.clone()]
                        .iter()
                        .any(|e| planned.step.waits_for(&e.step)) =>
                {
                    stage.end = index + 1;
                }
                _ => stages.push(index..index + 1),
            }
        }
        stages
    }
}

/// Plans the response to `incident` from its target (the routing decision) and what was
/// observed of the resource the target named. Pure: no I/O, no clock. A finding that came
/// through Security Hub is written back to, after the response and before the page.
#[must_use]
pub fn plan(incident: &Incident, target: &Target, observation: &Observation, policy: &Policy, now: SystemTime) -> Plan {
    let mut plan = plan_target(incident, target, observation, policy, now);
    if let Some(finding) = &incident.security_hub {
        let at = plan
            .steps
            .iter()
            .position(|s| matches!(s.step, Step::Page))
            .unwrap_or(plan.steps.len());
        let resolve = resolves(plan.playbook);
        plan.steps.insert(
            at,
            PlannedStep {
                place: None,
                step: Step::UpdateFinding {
                    finding: finding.clone(),
                    resolve,
                },
                reason: if resolve {
                    "tell Security Hub: RESOLVED once the fix is done, NOTIFIED if any of it failed".to_owned()
                } else {
                    "tell Security Hub what was done: NOTIFIED, a person must still look".to_owned()
                },
            },
        );
    }
    plan
}

/// Whether a playbook's completed run resolves the finding (a posture fix) or leaves it for a
/// person (a contained compromise, a page).
#[must_use]
pub fn resolves(playbook: Playbook) -> bool {
    matches!(
        playbook,
        Playbook::CloseOpenPorts
            | Playbook::BlockPublicBucket
            | Playbook::EncryptBucket
            | Playbook::DeactivateStaleKeys
    )
}

fn plan_target(
    incident: &Incident,
    target: &Target,
    observation: &Observation,
    policy: &Policy,
    now: SystemTime,
) -> Plan {
    let mut planner = Planner {
        incident,
        observation,
        policy,
        planned_at: timestamp(now),
        now,
        place: None,
    };
    let (playbook, look, place) = match target {
        Target::PageOnly { reason, critical } => {
            return Plan {
                critical: *critical,
                ..planner.page_only(reason.clone())
            };
        }
        Target::Act { playbook, look, place } => (*playbook, look, place),
    };
    planner.place = Some(place);
    let mut plan = planner.acting(playbook, look);
    plan.place = Some(place.clone());
    if place.dry_run && !plan.dry_run {
        plan.dry_run = true;
        plan.reason = format!(
            "{} (dry run: account {} is in TOURNIQUET_DRY_RUN_ACCOUNTS)",
            plan.reason, place.account
        );
    }
    plan
}

impl Planner<'_> {
    /// The plan of a playbook that acts, from what was observed in its place.
    fn acting(&self, playbook: Playbook, look: &Look) -> Plan {
        let planner = self;
        let incident = self.incident;
        let observation = self.observation;
        let label = incident.resource.label();
        match (playbook, observation) {
            (
                _,
                Observation::RoleRefused {
                    role_arn,
                    account,
                    code,
                    message,
                },
            ) => planner.page_only(format!(
                "the member role {role_arn} could not be assumed in account {account} ({code}: {message}); \
             nothing was changed and nothing will be in the home account instead. Fix: deploy member.yaml in \
             account {account} (the StackSet), and check that the role's trust policy lets this deployment's \
             function roles assume it; the retry acts once it can"
            )),
            (_, Observation::Unavailable { code, message }) => planner.page_only(format!(
                "{label} could not be described ({code}: {message}); paging only"
            )),
            (Playbook::Ec2Compromise, Observation::Instance(state)) => planner.instance(state),
            (Playbook::CredentialCompromise, Observation::Principal(principal)) => {
                let access_key_id = match look {
                    Look::User { access_key_id, .. } => access_key_id.as_deref(),
                    _ => None,
                };
                planner.credentials(principal, access_key_id)
            }
            (Playbook::CloseOpenPorts, Observation::SecurityGroup(group)) => planner.close_open_ports(group),
            (Playbook::BlockPublicBucket | Playbook::EncryptBucket, Observation::Bucket(bucket)) => {
                planner.bucket(playbook, bucket)
            }
            (Playbook::DeactivateStaleKeys, Observation::Principal(user)) => planner.stale_keys(user, self.now),
            (Playbook::LambdaCompromise, Observation::Function(function)) => planner.function(function),
            (Playbook::RdsCompromise, Observation::Database(database)) => planner.database(database),
            (Playbook::AttackSequence, Observation::Sequence { members: observed }) => planner.sequence(look, observed),
            (Playbook::RestoreAccountBlock, Observation::AccountBlock(state)) => planner.account_block(state),
            (Playbook::RestoreLogging, Observation::Logging { logging, actor }) => {
                planner.restore_logging(look, logging, actor.as_deref())
            }
            _ => planner.page_only(format!("{label} was not described; paging only")),
        }
    }
}

/// Whole seconds, RFC 3339: the time also goes into IAM conditions (`aws:TokenIssueTime`).
fn timestamp(now: SystemTime) -> String {
    DateTime::from_secs(DateTime::from(now).secs())
        .fmt(DateTimeFormat::DateTime)
        .unwrap_or_else(|_| "1970-01-01T00:00:00Z".to_owned())
}

/// The inputs of one plan, and the shapes a plan can take.
struct Planner<'a> {
    incident: &'a Incident,
    observation: &'a Observation,
    policy: &'a Policy,
    planned_at: String,
    now: SystemTime,
    /// Where the playbook acts, once the target names it.
    place: Option<&'a Place>,
}

impl Planner<'_> {
    fn plan(&self, playbook: Playbook, reason: String, steps: Vec<PlannedStep>) -> Plan {
        Plan {
            incident_id: self.incident.id.clone(),
            playbook,
            dry_run: self.policy.dry_run,
            reason,
            planned_at: self.planned_at.clone(),
            observation: self.observation.clone(),
            critical: false,
            hold: None,
            place: None,
            steps,
        }
    }

    fn page_only(&self, reason: String) -> Plan {
        self.plan(Playbook::PageOnly, reason, steps(Vec::new()))
    }

    /// `steps` with the configuration history of the contained `resource` read after them.
    fn with_history(&self, steps: Vec<PlannedStep>, resource: ConfigResource) -> Vec<PlannedStep> {
        timeline::after_containment(
            steps,
            Vec::new(),
            Some(resource),
            self.incident,
            self.policy,
            &self.planned_at,
        )
    }
}

impl Planner<'_> {
    fn protected_by_tag(
        &self,
        what: &str,
        tags: Option<&BTreeMap<String, String>>,
        error: Option<&str>,
    ) -> Option<Plan> {
        let Some(tags) = tags else {
            return Some(self.page_only(format!(
                "the tags of {what} could not be read ({}), so it may be protected; paging only",
                error.unwrap_or("unknown error")
            )));
        };
        let value = tags.get(&self.policy.protected_tag)?;
        Some(self.page_only(format!(
            "{what} carries the protected tag {}={value:?}; paging only",
            self.policy.protected_tag
        )))
    }
}

/// Every response's steps: the evidence first, `middle`, then the page, and when anything
/// can fail, the update page a retry may owe.
fn steps(middle: Vec<PlannedStep>) -> Vec<PlannedStep> {
    let can_fail = middle.iter().any(|s| s.step.mutates());
    let mut steps = vec![PlannedStep {
        place: None,
        step: Step::RecordEvidence,
        reason: "keep the raw event and the state (fixed in plan.json before anything changes)".to_owned(),
    }];
    steps.extend(middle);
    steps.push(PlannedStep {
        place: None,
        step: Step::Page,
        reason: "a person takes it from here".to_owned(),
    });
    if can_fail {
        steps.push(PlannedStep {
            place: None,
            step: Step::PageUpdate,
            reason: "if this page reports a failed step that a retry then completes, say so".to_owned(),
        });
    }
    steps
}

#[cfg(test)]
mod tests {
    use std::time::SystemTime;

    use crate::observation::*;
    use crate::plan::Plan;
    use crate::plan::fixtures::{incident, instance, planned, policy};
    use crate::policy::Playbook;

    #[test]
    fn a_finding_from_another_account_pages_only() {
        let policy = policy(false).with_own_arn(Some(
            "arn:aws:sts::123456789012:assumed-role/tourniquet-guardduty/fn".into(),
        ));
        let observed = Observation::Instance(Box::new(instance()));
        let mut theirs = incident(8.0);
        theirs.account = Some("210987654321".into());
        let plan = planned(&theirs, &observed, &policy, SystemTime::UNIX_EPOCH);
        assert_eq!(plan.playbook, Playbook::PageOnly);
        assert!(plan.reason.contains("from account 210987654321"), "{}", plan.reason);

        let mut ours = incident(8.0);
        ours.account = Some("123456789012".into());
        let plan = planned(&ours, &observed, &policy, SystemTime::UNIX_EPOCH);
        assert_eq!(plan.playbook, Playbook::Ec2Compromise);
        // An incident that names no account is taken as this one's.
        let plan = planned(&incident(8.0), &observed, &policy, SystemTime::UNIX_EPOCH);
        assert_eq!(plan.playbook, Playbook::Ec2Compromise);
    }

    #[test]
    fn dry_run_keeps_the_full_plan() {
        let wet = planned(
            &incident(8.0),
            &Observation::Instance(Box::new(instance())),
            &policy(false),
            SystemTime::UNIX_EPOCH,
        );
        let dry = planned(
            &incident(8.0),
            &Observation::Instance(Box::new(instance())),
            &policy(true),
            SystemTime::UNIX_EPOCH,
        );
        assert!(dry.dry_run);
        assert_eq!(wet.steps, dry.steps);
    }

    #[test]
    fn plans_round_trip_through_json() {
        let plan = planned(
            &incident(8.0),
            &Observation::Instance(Box::new(instance())),
            &policy(false),
            SystemTime::UNIX_EPOCH,
        );
        let json = serde_json::to_string(&plan).unwrap();
        assert!(json.contains(r#""action":"isolate-interfaces""#));
        assert_eq!(serde_json::from_str::<Plan>(&json).unwrap(), plan);
    }
}
