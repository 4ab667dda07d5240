//! The pure planner: `(Incident, Observation, Policy, now) -> Plan`, with every guard decided here.

use std::collections::BTreeMap;
use std::ops::Range;
use std::time::SystemTime;

use aws_sdk_s3::primitives::{DateTime, DateTimeFormat};
use serde::{Deserialize, Serialize};

use crate::config_history::ConfigResource;
use crate::config_rules::{self, Forbidden};
use crate::incident::Incident;
use crate::names;
use crate::observation::{
    AddressState, BucketState, ConfigRuleState, GroupRule, InstanceState, Observation, PrincipalKind, PrincipalState,
    QuarantineGroups, SecurityGroupState,
};
use crate::policy::{Playbook, Policy};
use crate::target::{Look, Place, Target};

mod account_block;
mod lambda;
mod rds;
mod release;
mod sequence;
mod timeline;

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

/// A step and the reason it was chosen.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PlannedStep {
    pub step: Step,
    pub reason: String,
    /// Where the step acts when not where the plan does: a member of an attack sequence in
    /// another account or region.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub place: Option<Place>,
}

/// Everything the executor knows how to do.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "action", rename_all = "kebab-case")]
pub enum Step {
    /// Write the raw event and the pre-containment state to the evidence bucket.
    RecordEvidence,
    /// Termination protection on, shutdown behaviour `stop`.
    ProtectInstance { instance_id: String },
    /// `DeleteOnTermination` off on these devices' volumes (on again at release).
    KeepVolumes { instance_id: String, devices: Vec<String> },
    /// Deny the credentials EC2 issued to the instance, on its instance profile's roles.
    DenyInstanceCredentials {
        instance_id: String,
        instance_profile: String,
        instance_arn: String,
    },
    /// Detach from the Auto Scaling group without lowering desired capacity.
    DetachFromAutoScaling { instance_id: String, group: String },
    /// Move every interface to the conversion group, then to the isolation group, per VPC.
    IsolateInterfaces {
        instance_id: String,
        vpcs: Vec<VpcIsolation>,
    },
    /// Disassociate the instance's Elastic IPs (kept in evidence for release).
    DisassociateAddresses {
        instance_id: String,
        addresses: Vec<AddressState>,
    },
    /// One crash-consistent `CreateSnapshots` over every attached volume.
    SnapshotVolumes {
        instance_id: String,
        volume_ids: Vec<String>,
        tags: BTreeMap<String, String>,
    },
    /// Mark the instance as quarantined.
    TagInstance {
        instance_id: String,
        tags: BTreeMap<String, String>,
    },
    /// Describe the interfaces again: each must carry exactly its VPC's isolation group.
    VerifyIsolation {
        instance_id: String,
        interfaces: Vec<String>,
    },
    /// Set the leaked key to Inactive (never delete it: it is evidence).
    DeactivateAccessKey { user_name: String, access_key_id: String },
    /// Inline deny policy on the user: everything (console sessions and every other key stop
    /// too), or only the temporary credentials issued before the response.
    DenyAllUser { user_name: String, reach: Reach },
    /// Inline deny policy on the role, reaching exactly the credentials the finding names.
    RevokeRoleSessions { role_name: String, reach: Reach },
    /// Revoke exactly these rules (kept in the plan, so a person can restore them).
    RevokeGroupRules {
        group_id: String,
        ingress: Vec<GroupRule>,
        egress: Vec<GroupRule>,
    },
    /// Public access block with all four settings on.
    BlockPublicAccess { bucket: String },
    /// Default encryption: SSE-KMS with the key, or SSE-S3.
    SetDefaultEncryption { bucket: String, kms_key_id: Option<String> },
    /// Put each interface's original groups back.
    RestoreInterfaces {
        instance_id: String,
        interfaces: Vec<InterfaceGroups>,
    },
    /// Associate the instance's Elastic IPs again, each with its interface and address.
    RestoreAddresses {
        instance_id: String,
        addresses: Vec<AddressState>,
    },
    /// `DeleteOnTermination` back on for the volumes that had it.
    RestoreVolumes { instance_id: String, devices: Vec<String> },
    /// Termination protection and shutdown behaviour as they were.
    RestoreProtection {
        instance_id: String,
        termination_protection: Option<bool>,
        shutdown_behavior: Option<String>,
    },
    /// Tag the instance as released; it no longer counts as quarantined.
    MarkReleased { instance_id: String, released_at: String },
    /// Delete the per-instance deny from the roles of the instance's profile.
    RemoveInstanceDeny {
        instance_id: String,
        instance_profile: String,
        policy: String,
    },
    /// Delete Tourniquet's inline deny policy from a user or role.
    RemoveDeny {
        kind: PrincipalKind,
        name: String,
        policy: String,
    },
    /// Set a deactivated key Active again (only when a release asks for it).
    ReactivateAccessKey { user_name: String, access_key_id: String },
    /// Tell a person what happened.
    Page,
    /// When a retry completes steps that the page (sent by an earlier run) reported as
    /// failed: one update saying so. Not needed otherwise.
    PageUpdate,
    /// Publish a version of exactly the observed code (`CodeSha256`): the code that ran,
    /// kept immutable.
    PublishFunctionVersion {
        function_name: String,
        code_sha256: Option<String>,
    },
    /// Reserved concurrency 0: no new invocation of the function runs.
    ThrottleFunction { function_name: String },
    /// Reserved concurrency as recorded before the throttle; `None`: the setting removed.
    RestoreFunctionConcurrency {
        function_name: String,
        reserved: Option<i32>,
    },
    /// A manual snapshot of the DB instance (of its cluster, on Aurora), tagged with the
    /// incident; the database itself is left as it is.
    SnapshotDatabase {
        db_instance_id: String,
        cluster_id: Option<String>,
        snapshot_id: String,
        tags: BTreeMap<String, String>,
    },
    /// Write the response back to its Security Hub finding: a note (what was done, the
    /// incident, the evidence) and the workflow status, RESOLVED when `resolve` (a posture
    /// fix) and every step that changed something succeeded, NOTIFIED otherwise.
    UpdateFinding {
        finding: crate::securityhub::Finding,
        resolve: bool,
    },
    /// After containment: what the identity did, read from CloudTrail's event history from
    /// `start` to now, at most `max_events` events, into `timeline.json`.
    Timeline {
        lookups: Vec<crate::timeline::Lookup>,
        start: String,
        max_events: usize,
    },
    /// What the timeline shows the attacker created is contained, what it changed is listed.
    SweepPersistence { guards: crate::timeline::SweepGuards },
    /// The account-level S3 public access block, all four settings on; `previous` is what it
    /// was (`None`: no block), for the page and for a person who must put it back.
    RestoreAccountBlock {
        account_id: String,
        previous: Option<[bool; 4]>,
    },
    /// After containment: what AWS Config recorded of `resource` from `start` to now, into
    /// `config-history/<resource-id>.json`.
    ConfigHistory {
        resource: crate::config_history::ConfigResource,
        start: String,
    },
}

/// Which credentials a deny policy reaches: exactly the attacker's where the finding says
/// which, so healthy holders of the same role keep working.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "reach", rename_all = "kebab-case")]
pub enum Reach {
    /// Every request.
    Everything,
    /// Temporary credentials issued before `time` (`aws:TokenIssueTime`).
    IssuedBefore { time: String },
    /// The credentials EC2 issued to one instance (`ec2:SourceInstanceARN`), wherever they
    /// are used from.
    Instance { instance_arn: String },
    /// One assumed-role session (`aws:userid`, `<role id>:<session name>`).
    Session { user_id: String },
}

impl Reach {
    /// What the deny does, for the page.
    #[must_use]
    pub fn describe(&self) -> String {
        match self {
            Reach::Everything => "deny everything".to_owned(),
            Reach::IssuedBefore { time } => format!("deny every session issued before {time} (aws:TokenIssueTime)"),
            Reach::Instance { instance_arn } => {
                format!("deny the credentials EC2 issued to {instance_arn} (ec2:SourceInstanceARN)")
            }
            Reach::Session { user_id } => format!("deny exactly the session {user_id} (aws:userid)"),
        }
    }
}

/// One interface and the groups it goes back to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InterfaceGroups {
    pub interface_id: String,
    pub groups: Vec<String>,
}

/// The interfaces of one VPC and the quarantine groups known when planning.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VpcIsolation {
    pub vpc_id: String,
    pub interfaces: Vec<String>,
    /// Groups found by tag when planning; missing ones are created by the executor.
    pub groups: QuarantineGroups,
}

/// The timeline step's action name: the sweep and the page read its record.
pub const TIMELINE_ACTION: &str = "timeline";

/// The isolation step's action name: a release asks the ledger whether it was done.
pub const ISOLATE_ACTION: &str = "isolate-interfaces";

impl Step {
    /// The action's name as it appears in reports and ledger keys.
    #[must_use]
    pub fn action(&self) -> &'static str {
        match self {
            Step::RecordEvidence => "record-evidence",
            Step::ProtectInstance { .. } => "protect-instance",
            Step::KeepVolumes { .. } => "keep-volumes",
            Step::DenyInstanceCredentials { .. } => "deny-instance-credentials",
            Step::RestoreVolumes { .. } => "restore-volumes",
            Step::DetachFromAutoScaling { .. } => "detach-from-auto-scaling",
            Step::IsolateInterfaces { .. } => ISOLATE_ACTION,
            Step::DisassociateAddresses { .. } => "disassociate-addresses",
            Step::SnapshotVolumes { .. } => "snapshot-volumes",
            Step::TagInstance { .. } => "tag-instance",
            Step::VerifyIsolation { .. } => "verify-isolation",
            Step::DeactivateAccessKey { .. } => "deactivate-access-key",
            Step::DenyAllUser { .. } => "deny-all-user",
            Step::RevokeRoleSessions { .. } => "revoke-role-sessions",
            Step::RevokeGroupRules { .. } => "revoke-group-rules",
            Step::BlockPublicAccess { .. } => "block-public-access",
            Step::SetDefaultEncryption { .. } => "set-default-encryption",
            Step::RestoreInterfaces { .. } => "restore-interfaces",
            Step::RestoreAddresses { .. } => "restore-addresses",
            Step::RestoreProtection { .. } => "restore-protection",
            Step::MarkReleased { .. } => "mark-released",
            Step::RemoveInstanceDeny { .. } => "remove-instance-deny",
            Step::RemoveDeny { .. } => "remove-deny",
            Step::ReactivateAccessKey { .. } => "reactivate-access-key",
            Step::Page => "page",
            Step::PageUpdate => "page-update",
            Step::PublishFunctionVersion { .. } => "publish-function-version",
            Step::ThrottleFunction { .. } => "throttle-function",
            Step::RestoreFunctionConcurrency { .. } => "restore-function-concurrency",
            Step::SnapshotDatabase { .. } => "snapshot-database",
            Step::UpdateFinding { .. } => "update-finding",
            Step::Timeline { .. } => TIMELINE_ACTION,
            Step::SweepPersistence { .. } => "sweep-persistence",
            Step::ConfigHistory { .. } => "config-history",
            Step::RestoreAccountBlock { .. } => "restore-account-block",
        }
    }

    /// Whether the step changes the account (and so is only reported under dry run).
    #[must_use]
    pub fn mutates(&self) -> bool {
        match self {
            Step::SweepPersistence { guards } => guards.contain,
            _ => !matches!(
                self,
                Step::RecordEvidence
                    | Step::VerifyIsolation { .. }
                    | Step::Page
                    | Step::PageUpdate
                    | Step::UpdateFinding { .. }
                    | Step::Timeline { .. }
                    | Step::ConfigHistory { .. }
            ),
        }
    }

    /// Whether the step's service can say, without acting, if the deployed role may take it
    /// (EC2's `DryRun`). IAM, S3 and Auto Scaling cannot: a dry run reports those unprobed.
    #[must_use]
    pub fn probes(&self) -> bool {
        match self {
            Step::ProtectInstance { .. }
            | Step::KeepVolumes { .. }
            | Step::RestoreVolumes { .. }
            | Step::IsolateInterfaces { .. }
            | Step::DisassociateAddresses { .. }
            | Step::SnapshotVolumes { .. }
            | Step::TagInstance { .. }
            | Step::RevokeGroupRules { .. }
            | Step::RestoreInterfaces { .. }
            | Step::RestoreAddresses { .. }
            | Step::RestoreProtection { .. }
            | Step::MarkReleased { .. } => true,
            Step::RecordEvidence
            | Step::DetachFromAutoScaling { .. }
            | Step::DenyInstanceCredentials { .. }
            | Step::VerifyIsolation { .. }
            | Step::DeactivateAccessKey { .. }
            | Step::DenyAllUser { .. }
            | Step::RevokeRoleSessions { .. }
            | Step::BlockPublicAccess { .. }
            | Step::RestoreAccountBlock { .. }
            | Step::SetDefaultEncryption { .. }
            | Step::RemoveInstanceDeny { .. }
            | Step::RemoveDeny { .. }
            | Step::ReactivateAccessKey { .. }
            | Step::Page
            | Step::PageUpdate
            | Step::PublishFunctionVersion { .. }
            | Step::ThrottleFunction { .. }
            | Step::RestoreFunctionConcurrency { .. }
            | Step::SnapshotDatabase { .. }
            | Step::UpdateFinding { .. }
            | Step::Timeline { .. }
            | Step::SweepPersistence { .. }
            | Step::ConfigHistory { .. } => false,
        }
    }

    /// Whether the step must wait for `earlier`, planned before it, to finish: it reads what
    /// `earlier` did, or the order is the point. Steps that need not wait run together.
    #[must_use]
    pub fn waits_for(&self, earlier: &Step) -> bool {
        match self {
            // An Auto Scaling group would replace the isolated instance while it is a member.
            Step::IsolateInterfaces { .. } => matches!(earlier, Step::DetachFromAutoScaling { .. }),
            // The quarantine tag says the instance is isolated (later findings and the
            // blast-radius count read it): it goes on once isolation is done.
            Step::TagInstance { .. } => matches!(earlier, Step::IsolateInterfaces { .. }),
            // Verification reads what isolation did, and runs beside the tag.
            Step::VerifyIsolation { .. } => !matches!(earlier, Step::TagInstance { .. }),
            // The configuration history is read once every change it could show is made; it
            // is planned after the page and runs beside it, so the page never waits for it.
            Step::ConfigHistory { .. } => earlier.mutates(),
            // The pages read the results of the steps before them; a release is rare and
            // deliberate, one step at a time in the planned order.
            // The timeline reads what the identity did once it is contained: containment is
            // never delayed by it; the sweep reads the timeline.
            Step::Page
            | Step::PageUpdate
            | Step::UpdateFinding { .. }
            | Step::Timeline { .. }
            | Step::SweepPersistence { .. }
            | Step::RestoreInterfaces { .. }
            | Step::RestoreAddresses { .. }
            | Step::RestoreVolumes { .. }
            | Step::RestoreProtection { .. }
            | Step::MarkReleased { .. }
            | Step::RemoveInstanceDeny { .. }
            | Step::RemoveDeny { .. }
            | Step::ReactivateAccessKey { .. }
            | Step::RestoreFunctionConcurrency { .. } => true,
            // Independent of one another: each changes its own resource or writes its own
            // record, and reads nothing another step did.
            Step::RecordEvidence
            | Step::ProtectInstance { .. }
            | Step::KeepVolumes { .. }
            | Step::DenyInstanceCredentials { .. }
            | Step::DetachFromAutoScaling { .. }
            | Step::DisassociateAddresses { .. }
            | Step::SnapshotVolumes { .. }
            | Step::DeactivateAccessKey { .. }
            | Step::DenyAllUser { .. }
            | Step::RevokeRoleSessions { .. }
            | Step::RevokeGroupRules { .. }
            | Step::BlockPublicAccess { .. }
            | Step::RestoreAccountBlock { .. }
            | Step::SetDefaultEncryption { .. }
            | Step::PublishFunctionVersion { .. }
            | Step::ThrottleFunction { .. }
            | Step::SnapshotDatabase { .. } => false,
        }
    }
}

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
        let resolve = crate::securityhub::resolves(plan.playbook);
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

    fn instance(&self, state: &InstanceState) -> Plan {
        let id = &state.instance_id;
        if let Some(value) = state.tags.get(&self.policy.protected_tag) {
            return self.page_only(format!(
                "instance {id} carries the protected tag {}={value:?}; paging only",
                self.policy.protected_tag
            ));
        }
        if let Some(at) = state.tags.get(names::QUARANTINED_AT_TAG) {
            let by = state
                .tags
                .get(names::INCIDENT_TAG)
                .map_or("an earlier incident", String::as_str);
            return self.page_only(format!(
                "instance {id} is already quarantined (since {at}, by {by}); paging only"
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

    fn credentials(&self, principal: &PrincipalState, access_key_id: Option<&str>) -> Plan {
        if let Some(reason) = principal_guard(principal, self.policy) {
            return self.page_only(format!("{reason}; paging only"));
        }
        let steps = credential_compromise(self.incident, principal, access_key_id, &self.planned_at);
        let steps = timeline::after_containment(
            steps,
            timeline::principal_lookups(self.incident, principal, access_key_id),
            None,
            self.incident,
            self.policy,
            &self.planned_at,
        );
        // Which credentials the deny reaches, and why: the page says so.
        let how = steps.iter().find_map(|s| match &s.step {
            Step::DenyAllUser { reach, .. } | Step::RevokeRoleSessions { reach, .. } => {
                Some(format!("{} ({})", reach.describe(), s.reason))
            }
            _ => None,
        });
        let reason = format!(
            "severity {:.1} {} on {}: revoke the credentials; {}",
            self.incident.severity,
            self.incident.finding_type,
            self.incident.resource.label(),
            how.unwrap_or_default()
        );
        self.plan(Playbook::CredentialCompromise, reason, steps)
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

    /// The Config rule's parameters: as the rule is configured (`DescribeConfigRules`), else
    /// as the event carried them. An error says why neither is there, for a rule whose
    /// response depends on them; a rule without parameters that matter goes on with none.
    fn rule_parameters(&self, rule: Option<&ConfigRuleState>) -> Result<BTreeMap<String, String>, String> {
        if let Some(rule) = rule
            && rule.error.is_none()
        {
            return Ok(rule.parameters.clone());
        }
        let carried = self.incident.rule_parameters.clone();
        let name = &self.incident.finding_type;
        if !carried.is_empty() || !config_rules::is_tunable(name) {
            return Ok(carried);
        }
        let why = rule
            .and_then(|r| r.error.clone())
            .unwrap_or_else(|| "it was not looked up".to_owned());
        Err(format!(
            "the parameters of Config rule {name} could not be read ({why}) and the event carries none: \
             acting on defaults could revoke what the rule allows; paging only"
        ))
    }

    fn close_open_ports(&self, group: &SecurityGroupState) -> Plan {
        let id = &group.group_id;
        if let Some(plan) = self.protected_by_tag(&format!("security group {id}"), Some(&group.tags), None) {
            return plan;
        }
        if let Some(role) = group.tags.get(names::ROLE_TAG) {
            return self.page_only(format!(
                "security group {id} is Tourniquet's {role} group: open to the world by design (conversion) \
                 or empty (isolation); paging only"
            ));
        }
        let parameters = match self.rule_parameters(group.rule.as_ref()) {
            Ok(parameters) => parameters,
            Err(reason) => return self.page_only(reason),
        };
        let forbidden = Forbidden::for_rule(&self.incident.finding_type, &parameters);
        let ingress: Vec<GroupRule> = group.ingress.iter().filter(|r| forbidden.forbids(r)).cloned().collect();
        let egress: Vec<GroupRule> = if forbidden.closes_egress() {
            group.egress.clone()
        } else {
            Vec::new()
        };
        if ingress.is_empty() && egress.is_empty() {
            return self.page_only(format!(
                "security group {id} has no rule that {} forbids any more; paging only",
                self.incident.finding_type
            ));
        }
        let removed: Vec<String> = ingress.iter().chain(&egress).map(GroupRule::describe).collect();
        let reason = format!("{} on {id}: revoke {}", self.incident.finding_type, removed.join("; "));
        let step = PlannedStep {
            place: None,
            step: Step::RevokeGroupRules {
                group_id: id.clone(),
                ingress,
                egress,
            },
            reason: "revoke exactly the offending rules; every other rule stays, and these are in the evidence"
                .to_owned(),
        };
        let steps = self.with_history(steps(vec![step]), ConfigResource::security_group(id));
        self.plan(Playbook::CloseOpenPorts, reason, steps)
    }

    fn bucket(&self, playbook: Playbook, bucket: &BucketState) -> Plan {
        let name = &bucket.name;
        if let Some(plan) = self.protected_by_tag(
            &format!("bucket {name}"),
            bucket.tags.as_ref(),
            bucket.tags_error.as_deref(),
        ) {
            return plan;
        }
        let (step, reason) = if playbook == Playbook::EncryptBucket {
            let kms_key_id = self.policy.kms_key_id.clone();
            let how = kms_key_id
                .as_deref()
                .map_or("SSE-S3".to_owned(), |k| format!("SSE-KMS with {k}"));
            (
                Step::SetDefaultEncryption {
                    bucket: name.clone(),
                    kms_key_id,
                },
                format!("bucket {name} has no default encryption: turn on {how}"),
            )
        } else {
            (
                Step::BlockPublicAccess { bucket: name.clone() },
                format!("bucket {name} may be public: block public access (all four settings)"),
            )
        };
        let step = PlannedStep {
            place: None,
            step,
            reason: "the previous configuration is in the evidence".to_owned(),
        };
        let steps = steps(vec![step]);
        let steps = if playbook == Playbook::EncryptBucket {
            steps
        } else {
            self.with_history(steps, ConfigResource::bucket(name))
        };
        self.plan(playbook, reason, steps)
    }

    fn stale_keys(&self, user: &PrincipalState, now: SystemTime) -> Plan {
        let name = &user.name;
        if let Some(reason) = principal_guard(user, self.policy) {
            return self.page_only(format!("{reason}; paging only"));
        }
        let days = match self.rule_parameters(user.rule.as_ref()) {
            Ok(parameters) => config_rules::max_key_age_days(&parameters),
            Err(reason) => return self.page_only(reason),
        };
        let now = DateTime::from(now).secs();
        let limit = i64::try_from(days.saturating_mul(86_400)).unwrap_or(i64::MAX);
        let stale: Vec<&str> = user
            .access_keys
            .iter()
            .filter(|k| k.status.as_deref() == Some("Active"))
            .filter(|k| {
                k.created
                    .as_deref()
                    .and_then(|c| DateTime::from_str(c, DateTimeFormat::DateTime).ok())
                    .is_some_and(|c| now.saturating_sub(c.secs()) > limit)
            })
            .map(|k| k.access_key_id.as_str())
            .collect();
        if stale.is_empty() {
            return self.page_only(format!("{name} has no active key older than {days} days; paging only"));
        }
        let middle: Vec<PlannedStep> = stale
            .iter()
            .map(|key| PlannedStep {
                place: None,
                step: Step::DeactivateAccessKey {
                    user_name: name.clone(),
                    access_key_id: (*key).to_owned(),
                },
                reason: format!("older than {days} days"),
            })
            .collect();
        let reason = format!(
            "{name} has {} active key(s) older than {days} days: deactivate them",
            stale.len()
        );
        self.plan(Playbook::DeactivateStaleKeys, reason, steps(middle))
    }
}

/// Why a principal must not be touched, if it must not. Tags that could not be read count as
/// protected: fail closed.
fn principal_guard(principal: &PrincipalState, policy: &Policy) -> Option<String> {
    let Some(tags) = &principal.tags else {
        return Some(format!(
            "the tags of {} could not be read ({}), so it may be protected",
            principal.name,
            principal.tags_error.as_deref().unwrap_or("unknown error")
        ));
    };
    if let Some(value) = tags.get(&policy.protected_tag) {
        return Some(format!(
            "{} carries the protected tag {}={value:?}",
            principal.name, policy.protected_tag
        ));
    }
    policy.principal_guard(&principal.name, principal.arn.as_deref())
}

fn credential_compromise(
    incident: &Incident,
    principal: &PrincipalState,
    access_key_id: Option<&str>,
    planned_at: &str,
) -> Vec<PlannedStep> {
    let step = |step, reason: String| PlannedStep {
        step,
        reason,
        place: None,
    };
    let user_name = principal.name.clone();
    let middle = match (principal.kind, access_key_id) {
        (PrincipalKind::User, Some(key)) if crate::actions::iam::is_temporary_key(key) => vec![step(
            Step::DenyAllUser {
                user_name,
                reach: Reach::IssuedBefore {
                    time: planned_at.to_owned(),
                },
            },
            format!(
                "{key} is a temporary key (from GetSessionToken), which IAM cannot deactivate: deny every session \
                 token the user was issued before now; its long-term keys and console sign-in keep working"
            ),
        )],
        (PrincipalKind::User, key) => {
            let deactivate = key.map(|key| {
                step(
                    Step::DeactivateAccessKey {
                        user_name: user_name.clone(),
                        access_key_id: key.to_owned(),
                    },
                    "the finding names this key: make it unusable, keep it for the investigation".to_owned(),
                )
            });
            let deny = step(
                Step::DenyAllUser {
                    user_name,
                    reach: Reach::Everything,
                },
                "deny everything to the user, so console sessions and any other key stop as well".to_owned(),
            );
            deactivate.into_iter().chain([deny]).collect()
        }
        (PrincipalKind::Role, _) => {
            let (reach, why) = role_reach(incident, principal, planned_at);
            vec![step(
                Step::RevokeRoleSessions {
                    role_name: user_name,
                    reach,
                },
                why,
            )]
        }
    };
    steps(middle)
}

/// The narrowest deny that stops the role credentials a finding names, and why: the
/// instance's own credentials when the session is an EC2 instance's, else that one session,
/// and every session issued before now only when the finding names none (which also cuts off
/// every healthy holder of the role until it takes new credentials).
fn role_reach(incident: &Incident, principal: &PrincipalState, planned_at: &str) -> (Reach, String) {
    let principal_id = match &incident.resource {
        crate::incident::Resource::AccessKey { principal_id, .. } => principal_id.as_deref(),
        _ => None,
    };
    let session = principal_id
        .and_then(|id| id.split_once(':'))
        .filter(|(_, s)| !s.is_empty());
    let Some((_, session_name)) = session else {
        return (
            Reach::IssuedBefore {
                time: planned_at.to_owned(),
            },
            "the finding names no session: deny every session of the role issued before now; its healthy \
             holders must take new credentials (EC2 and Lambda do so on their own)"
                .to_owned(),
        );
    };
    let user_id = principal_id.unwrap_or_default().to_owned();
    let partition = principal
        .arn
        .as_deref()
        .and_then(|arn| arn.split(':').nth(1))
        .filter(|p| !p.is_empty());
    if is_instance_id(session_name)
        && let (Some(partition), Some(region), Some(account)) =
            (partition, incident.region.as_deref(), incident.account.as_deref())
    {
        let instance_arn = format!("arn:{partition}:ec2:{region}:{account}:instance/{session_name}");
        return (
            Reach::Instance { instance_arn },
            format!(
                "the session is EC2 instance {session_name}'s: deny the credentials EC2 issued to that instance, \
                 wherever they are used; other instances with the role keep working"
            ),
        );
    }
    (
        Reach::Session { user_id },
        format!("deny exactly the session {session_name}; every other session of the role keeps working"),
    )
}

/// `i-` and 8 or 17 hexadecimal digits: an EC2 instance id (instance credentials' session name).
fn is_instance_id(text: &str) -> bool {
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
    use super::*;
    use crate::observation::{GroupRef, InterfaceState, VolumeState};
    use crate::settings::Settings;

    fn policy(dry_run: bool) -> Policy {
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
            timeline: crate::timeline::TimelineSettings::default(),
        };
        Policy::new(&settings).unwrap()
    }

    fn incident(severity: f64) -> Incident {
        let event = serde_json::json!({
            "id": "f1", "type": "Backdoor:EC2/C&CActivity.B", "severity": severity,
            "resource": {"resourceType": "Instance", "instanceDetails": {"instanceId": "i-1"}}
        });
        crate::intake::parse(&event).unwrap().incident().unwrap()
    }

    fn instance() -> InstanceState {
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
    fn planned(incident: &Incident, observation: &Observation, policy: &Policy, now: SystemTime) -> Plan {
        plan(
            incident,
            &crate::target::target(incident, policy),
            observation,
            policy,
            now,
        )
    }

    fn actions(plan: &Plan) -> Vec<&'static str> {
        plan.steps.iter().map(|s| s.step.action()).collect()
    }

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
                "already quarantined (since 2026-01-01T00:00:00Z, by guardduty-earlier)",
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
    fn credential_plans_round_trip_through_json() {
        let event = serde_json::json!({
            "id": "f2", "type": "UnauthorizedAccess:IAMUser/MaliciousIPCaller", "severity": 8,
            "resource": {"resourceType": "AccessKey", "accessKeyDetails": {
                "accessKeyId": "AKIA1", "userName": "alice", "userType": "IAMUser"}}
        });
        let incident = crate::intake::parse(&event).unwrap().incident().unwrap();
        let principal = PrincipalState {
            name: "alice".into(),
            tags: Some(BTreeMap::new()),
            ..PrincipalState::default()
        };
        let plan = planned(
            &incident,
            &Observation::Principal(Box::new(principal)),
            &policy(false),
            SystemTime::UNIX_EPOCH,
        );
        assert_eq!(
            actions(&plan),
            [
                "record-evidence",
                "deactivate-access-key",
                "deny-all-user",
                "timeline",
                "sweep-persistence",
                "page",
                "page-update"
            ]
        );
        // Containment first; the timeline, the sweep and the pages each once the one before is done.
        assert_eq!(plan.stages(), [0..3, 3..4, 4..5, 5..6, 6..7]);
        let json = serde_json::to_string(&plan).unwrap();
        assert_eq!(serde_json::from_str::<Plan>(&json).unwrap(), plan);
    }

    fn key_finding(user_type: &str, name: &str, key: &str, principal_id: Option<&str>) -> Incident {
        let event = serde_json::json!({
            "id": "f4", "type": "UnauthorizedAccess:IAMUser/InstanceCredentialExfiltration.OutsideAWS",
            "severity": 8, "accountId": "123456789012", "region": "eu-west-1",
            "resource": {"resourceType": "AccessKey", "accessKeyDetails": {
                "accessKeyId": key, "userName": name, "userType": user_type, "principalId": principal_id}}
        });
        crate::intake::parse(&event).unwrap().incident().unwrap()
    }

    fn denied(incident: &Incident, kind: PrincipalKind) -> (Vec<&'static str>, Option<Reach>, String) {
        let principal = PrincipalState {
            kind,
            name: "web-role".into(),
            arn: Some("arn:aws-cn:iam::123456789012:role/web-role".into()),
            tags: Some(BTreeMap::new()),
            ..PrincipalState::default()
        };
        let plan = planned(
            incident,
            &Observation::Principal(Box::new(principal)),
            &policy(false),
            SystemTime::UNIX_EPOCH,
        );
        let reach = plan.steps.iter().find_map(|s| match &s.step {
            Step::DenyAllUser { reach, .. } | Step::RevokeRoleSessions { reach, .. } => Some(reach.clone()),
            _ => None,
        });
        (actions(&plan), reach, plan.reason)
    }

    #[test]
    fn a_role_deny_reaches_exactly_the_credentials_the_finding_names() {
        // An instance's credentials: that instance only, in the finding's partition, region
        // and account.
        let (_, reach, why) = denied(
            &key_finding("AssumedRole", "web-role", "ASIA1", Some("AROA1:i-0123456789abcdef0")),
            PrincipalKind::Role,
        );
        assert_eq!(
            reach,
            Some(Reach::Instance {
                instance_arn: "arn:aws-cn:ec2:eu-west-1:123456789012:instance/i-0123456789abcdef0".into()
            })
        );
        assert!(why.contains("ec2:SourceInstanceARN"), "{why}");
        // A person's session: exactly that session.
        let (_, reach, why) = denied(
            &key_finding("AssumedRole", "web-role", "ASIA1", Some("AROA1:alice@example.com")),
            PrincipalKind::Role,
        );
        assert_eq!(
            reach,
            Some(Reach::Session {
                user_id: "AROA1:alice@example.com".into()
            })
        );
        assert!(why.contains("aws:userid"), "{why}");
        // No session named: every session issued before now, and the page says what that costs.
        for principal_id in [None, Some("AROA1"), Some("AROA1:")] {
            let (_, reach, why) = denied(
                &key_finding("AssumedRole", "web-role", "ASIA1", principal_id),
                PrincipalKind::Role,
            );
            assert_eq!(
                reach,
                Some(Reach::IssuedBefore {
                    time: "1970-01-01T00:00:00Z".into()
                }),
                "{principal_id:?}"
            );
            assert!(
                why.contains("names no session") && why.contains("healthy holders"),
                "{why}"
            );
        }
    }

    #[test]
    fn a_users_temporary_key_is_denied_by_issue_time_not_deactivated() {
        let (actions, reach, why) = denied(&key_finding("IAMUser", "alice", "ASIATEMP1", None), PrincipalKind::User);
        assert_eq!(
            actions,
            [
                "record-evidence",
                "deny-all-user",
                "timeline",
                "sweep-persistence",
                "page",
                "page-update"
            ]
        );
        assert_eq!(
            reach,
            Some(Reach::IssuedBefore {
                time: "1970-01-01T00:00:00Z".into()
            })
        );
        assert!(why.contains("temporary key"), "{why}");
        let (actions, reach, _) = denied(&key_finding("IAMUser", "alice", "AKIALONG1", None), PrincipalKind::User);
        assert_eq!(
            actions,
            [
                "record-evidence",
                "deactivate-access-key",
                "deny-all-user",
                "timeline",
                "sweep-persistence",
                "page",
                "page-update"
            ]
        );
        assert_eq!(reach, Some(Reach::Everything));
    }

    #[test]
    fn unreadable_tags_fail_closed() {
        let event = serde_json::json!({
            "id": "f3", "type": "UnauthorizedAccess:IAMUser/MaliciousIPCaller", "severity": 8,
            "resource": {"resourceType": "AccessKey", "accessKeyDetails": {"userName": "r", "userType": "AssumedRole"}}
        });
        let incident = crate::intake::parse(&event).unwrap().incident().unwrap();
        let principal = PrincipalState {
            kind: PrincipalKind::Role,
            name: "r".into(),
            tags_error: Some("AccessDenied".into()),
            ..PrincipalState::default()
        };
        let plan = planned(
            &incident,
            &Observation::Principal(Box::new(principal)),
            &policy(false),
            SystemTime::UNIX_EPOCH,
        );
        assert_eq!(plan.playbook, Playbook::PageOnly);
        assert!(
            plan.reason.contains("could not be read (AccessDenied)"),
            "{}",
            plan.reason
        );
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

    fn open_group(rule: Option<ConfigRuleState>) -> Observation {
        let world = |port| GroupRule {
            protocol: "tcp".into(),
            from_port: Some(port),
            to_port: Some(port),
            cidr_ipv4: Some("0.0.0.0/0".into()),
            ..GroupRule::default()
        };
        Observation::SecurityGroup(Box::new(SecurityGroupState {
            group_id: "sg-1".into(),
            ingress: vec![world(22), world(80), world(443)],
            rule,
            ..SecurityGroupState::default()
        }))
    }

    fn revoked(plan: &Plan) -> Vec<Option<i32>> {
        plan.steps
            .iter()
            .filter_map(|s| match &s.step {
                Step::RevokeGroupRules { ingress, .. } => Some(ingress.iter().map(|r| r.from_port).collect::<Vec<_>>()),
                _ => None,
            })
            .flatten()
            .collect()
    }

    #[test]
    fn config_rules_act_on_their_parameters_as_configured() {
        let event: serde_json::Value = serde_json::from_str(include_str!(
            "../../../events/config/vpc-sg-open-only-to-authorized-ports-noncompliant.json"
        ))
        .unwrap();
        let incident = crate::intake::parse(&event).unwrap().incident().unwrap();
        let rule = |parameters: &[(&str, &str)], error: Option<&str>| ConfigRuleState {
            name: incident.finding_type.clone(),
            parameters: parameters.iter().map(|(k, v)| ((*k).into(), (*v).into())).collect(),
            error: error.map(Into::into),
        };
        let at = |observation: &Observation| planned(&incident, observation, &policy(false), SystemTime::UNIX_EPOCH);

        // The rule authorizes 80 and 443: only 22 goes.
        let configured = at(&open_group(Some(rule(&[("authorizedTcpPorts", "80,443")], None))));
        assert_eq!(revoked(&configured), [Some(22)]);
        // A rule that sets nothing: HTTPS stays open.
        let unset = at(&open_group(Some(rule(&[], None))));
        assert_eq!(revoked(&unset), [Some(22), Some(80)]);
        // Unreadable, and the event carries no parameters: acting on defaults could revoke
        // port 80 that the rule allows.
        let unreadable = at(&open_group(Some(rule(&[], Some("AccessDeniedException: no")))));
        assert_eq!(unreadable.playbook, Playbook::PageOnly);
        assert!(
            unreadable.reason.contains("AccessDeniedException"),
            "{}",
            unreadable.reason
        );
        assert!(revoked(&unreadable).is_empty());
        assert_eq!(at(&open_group(None)).playbook, Playbook::PageOnly);

        // restricted-ssh has no parameters: an unreadable rule does not stop it.
        let mut ssh = incident.clone();
        ssh.finding_type = "securityhub-restricted-ssh-a1b2c3".into();
        let plan = planned(
            &ssh,
            &open_group(Some(rule(&[], Some("NoSuchConfigRuleException: gone")))),
            &policy(false),
            SystemTime::UNIX_EPOCH,
        );
        assert_eq!(revoked(&plan), [Some(22)]);
    }
}
