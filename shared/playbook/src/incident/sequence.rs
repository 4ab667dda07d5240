//! A GuardDuty attack sequence (Extended Threat Detection): its actors, resources and signals, as plain data.

use serde::{Deserialize, Serialize};

use crate::incident::{Resource, UserType};

/// What `service.detection.sequence` names: answered as one incident.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Sequence {
    /// GuardDuty's id of the sequence.
    pub uid: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// The actors' credentials and the resources, each once, in the finding's order.
    pub members: Vec<Member>,
    /// The findings and events the sequence was built from.
    pub signals: Vec<Signal>,
}

/// One actor or resource of a sequence, and where it lives.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Member {
    pub kind: MemberKind,
    /// The account and region GuardDuty names for it; `None`: the finding's own.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
}

/// What a member is.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "member", rename_all = "kebab-case")]
pub enum MemberKind {
    /// An IAM user's credentials (a long-term key, or a session of the user).
    User {
        user_name: String,
        access_key_id: Option<String>,
    },
    /// A role session: `principal_id` is `<role id>:<session name>` where GuardDuty says.
    Role {
        role_name: String,
        principal_id: Option<String>,
        access_key_id: Option<String>,
    },
    /// Credentials Tourniquet cannot contain through IAM (root, federated, a service).
    Principal {
        name: String,
        user_type: String,
    },
    Instance {
        instance_id: String,
    },
    /// A bucket; `public` when the sequence shows it effectively public.
    Bucket {
        name: String,
        public: bool,
    },
    /// An EKS cluster (or another cluster): a runbook, no action.
    Cluster {
        name: String,
    },
    /// Anything else the sequence names (objects, interfaces, workloads): listed only.
    Other {
        resource_type: String,
        uid: String,
    },
}

/// One signal of a sequence: a finding (its type and ARN) or an API activity.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Signal {
    /// The finding type or event name (`Discovery:IAMUser/AnomalousBehavior`).
    pub name: String,
    /// `FINDING`, `CLOUD_TRAIL`, `S3_DATA_EVENTS`, ...
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// The finding's ARN, for a signal that is a finding.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uid: Option<String>,
}

impl Member {
    /// The member as a resource of its own incident: what the one-resource playbooks plan for.
    #[must_use]
    pub fn resource(&self) -> Resource {
        match &self.kind {
            MemberKind::User {
                user_name,
                access_key_id,
            } => Resource::AccessKey {
                access_key_id: access_key_id.clone(),
                principal_id: None,
                user_name: Some(user_name.clone()),
                user_type: Some(UserType::IamUser),
            },
            MemberKind::Role {
                role_name,
                principal_id,
                access_key_id,
            } => Resource::AccessKey {
                access_key_id: access_key_id.clone(),
                principal_id: principal_id.clone(),
                user_name: Some(role_name.clone()),
                user_type: Some(UserType::AssumedRole),
            },
            MemberKind::Principal { name, user_type } => Resource::AccessKey {
                access_key_id: None,
                principal_id: None,
                user_name: Some(name.clone()),
                user_type: Some(UserType::parse(user_type)),
            },
            MemberKind::Instance { instance_id } => Resource::Instance {
                instance_id: instance_id.clone(),
            },
            MemberKind::Bucket { name, .. } => Resource::Bucket { name: name.clone() },
            MemberKind::Cluster { name } => Resource::Other {
                resource_type: "EKSCluster".to_owned(),
                name: Some(name.clone()),
            },
            MemberKind::Other { resource_type, uid } => Resource::Other {
                resource_type: resource_type.clone(),
                name: Some(uid.clone()),
            },
        }
    }

    /// The member for people: `IAM user alice (AKIA...)`, `instance i-1`.
    #[must_use]
    pub fn label(&self) -> String {
        match &self.kind {
            MemberKind::User {
                user_name,
                access_key_id,
            } => match access_key_id {
                Some(key) => format!("IAM user {user_name} ({key})"),
                None => format!("IAM user {user_name}"),
            },
            MemberKind::Role {
                role_name,
                principal_id,
                ..
            } => match principal_id {
                Some(id) => format!("role {role_name} (session {id})"),
                None => format!("role {role_name}"),
            },
            MemberKind::Principal { name, user_type } => format!("{user_type} {name}"),
            MemberKind::Instance { instance_id } => format!("instance {instance_id}"),
            MemberKind::Bucket { name, public: true } => format!("bucket {name} (public)"),
            MemberKind::Bucket { name, public: false } => format!("bucket {name}"),
            MemberKind::Cluster { name } => format!("cluster {name}"),
            MemberKind::Other { resource_type, uid } => format!("{resource_type} {uid}"),
        }
    }
}

impl Sequence {
    /// `attack sequence <id> (N members)`, for labels and page subjects: the id is the last
    /// part of the sequence's ARN.
    #[must_use]
    pub fn label(&self) -> String {
        let id = self.uid.rsplit('/').next().unwrap_or(&self.uid);
        format!("attack sequence {id} ({} members)", self.members.len())
    }
}
