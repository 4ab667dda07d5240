//! What the executor can do: each step of a plan, its name, whether it changes the account, whether EC2 can probe it, and what it waits for.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::Reach;
use crate::observation::{AddressState, GroupRule, PrincipalKind, QuarantineGroups};
use crate::place::Place;

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
    /// `StartLogging` on the trail (name or ARN), in its home region; `unrecorded` is the
    /// window it recorded nothing in, which the restart closes.
    StartLogging {
        trail: String,
        unrecorded: crate::observation::logging::Unrecorded,
    },
    /// `StartConfigurationRecorder` on the recorder; `unrecorded` as for [`Step::StartLogging`].
    StartRecorder {
        name: String,
        unrecorded: crate::observation::logging::Unrecorded,
    },
    /// After containment: what AWS Config recorded of `resource` from `start` to now, into
    /// `config-history/<resource-id>.json`.
    ConfigHistory {
        resource: crate::config_history::ConfigResource,
        start: String,
    },
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
            Step::StartLogging { .. } => "start-logging",
            Step::StartRecorder { .. } => "start-recorder",
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
            | Step::StartLogging { .. }
            | Step::StartRecorder { .. }
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
            | Step::StartLogging { .. }
            | Step::StartRecorder { .. }
            | Step::SetDefaultEncryption { .. }
            | Step::PublishFunctionVersion { .. }
            | Step::ThrottleFunction { .. }
            | Step::SnapshotDatabase { .. } => false,
        }
    }
}
