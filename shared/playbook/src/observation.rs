//! What the responder saw of a resource before acting: the pre-containment state, as plain data.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// The result of looking at an incident's resource, read-only.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "observed", rename_all = "kebab-case")]
pub enum Observation {
    /// The route pages only: nothing needed looking up.
    NotNeeded,
    /// An EC2 instance and everything containment touches.
    Instance(Box<InstanceState>),
    /// An IAM user or role and its credentials.
    Principal(Box<PrincipalState>),
    /// The resource could not be described; `code` is AWS's error code.
    Unavailable { code: String, message: String },
}

/// An instance as `DescribeInstances` and friends showed it.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct InstanceState {
    pub instance_id: String,
    pub state: Option<String>,
    pub instance_type: Option<String>,
    pub interfaces: Vec<InterfaceState>,
    pub volumes: Vec<VolumeState>,
    pub tags: BTreeMap<String, String>,
    pub addresses: Vec<AddressState>,
    pub auto_scaling_group: Option<String>,
    pub instance_profile: Option<String>,
    /// `DisableApiTermination` before the response; `None` if it could not be read.
    pub termination_protection: Option<bool>,
    /// `InstanceInitiatedShutdownBehavior` before the response.
    pub shutdown_behavior: Option<String>,
    /// Quarantine groups that already exist, by VPC id.
    pub quarantine_groups: BTreeMap<String, QuarantineGroups>,
    /// Secondary look-ups that failed (the response goes on without them).
    pub notes: Vec<String>,
}

/// One network interface and the groups it carried.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct InterfaceState {
    pub id: String,
    pub vpc_id: String,
    pub subnet_id: Option<String>,
    pub device_index: Option<i32>,
    pub groups: Vec<GroupRef>,
    pub private_ip: Option<String>,
    pub public_ip: Option<String>,
}

/// A security group, by id and name.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct GroupRef {
    pub id: String,
    pub name: Option<String>,
}

/// An attached EBS volume.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct VolumeState {
    pub volume_id: String,
    pub device: Option<String>,
}

/// An Elastic IP associated with the instance.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct AddressState {
    pub public_ip: Option<String>,
    pub allocation_id: Option<String>,
    pub association_id: Option<String>,
    pub network_interface_id: Option<String>,
    pub private_ip: Option<String>,
}

/// The per-VPC pair of groups isolation uses.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct QuarantineGroups {
    /// Allows all traffic in and out: turns tracked connections into untracked ones.
    pub conversion: Option<String>,
    /// No rules at all: cuts every flow once connections are untracked.
    pub isolation: Option<String>,
}

/// Whether a principal is an IAM user or a role.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum PrincipalKind {
    #[default]
    User,
    Role,
}

/// An IAM user or role as IAM showed it.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct PrincipalState {
    pub kind: PrincipalKind,
    pub name: String,
    pub arn: Option<String>,
    /// `None` when the tags could not be read: the protection guard then fails closed.
    pub tags: Option<BTreeMap<String, String>>,
    /// Why the tags could not be read (AWS error code).
    pub tags_error: Option<String>,
    /// The user's access keys and their status before the response.
    pub access_keys: Vec<AccessKeyState>,
    pub inline_policies: Vec<String>,
    pub attached_policies: Vec<String>,
    /// Secondary look-ups that failed.
    pub notes: Vec<String>,
}

/// One access key of a user.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct AccessKeyState {
    pub access_key_id: String,
    pub status: Option<String>,
    pub created: Option<String>,
}
