//! What the responder saw of a resource before acting: the pre-containment state, as plain data.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

pub mod logging;

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
    /// A security group and its rules.
    SecurityGroup(Box<SecurityGroupState>),
    /// A bucket's tags, public access block and default encryption.
    Bucket(Box<BucketState>),
    /// A Lambda function, its code's hash and concurrency, and its execution role.
    Function(Box<FunctionState>),
    /// An RDS DB instance, its cluster and tags.
    Database(Box<DatabaseState>),
    /// The account-level S3 public access block.
    AccountBlock(Box<AccountBlockState>),
    /// Stopped audit logging as its service shows it now, and the caller who stopped it (as
    /// the credential playbook observes a principal) when the target names one.
    Logging {
        logging: logging::LoggingState,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        actor: Option<Box<Observation>>,
    },
    /// Each answered member of an attack sequence, in the order of the target's looks.
    Sequence { members: Vec<Observation> },
    /// The resource could not be described; `code` is AWS's error code.
    Unavailable { code: String, message: String },
    /// The member role of the incident's account could not be assumed (STS refused it, or
    /// its credentials could not be had): nothing there can be seen or changed.
    RoleRefused {
        role_arn: String,
        account: String,
        code: String,
        message: String,
    },
}

impl Observation {
    /// The error of a describe that failed for a reason a retry may clear (throttling past the
    /// SDK's retries, a 5xx, a denial), as code and message; `None` for an observation, and
    /// for an answer that the resource is not there (a page-only plan is then the answer).
    #[must_use]
    /// A sequence is unobserved when any of its members is: its plan must not leave one out.
    pub fn unobserved(&self) -> Option<(&str, &str)> {
        match self {
            Observation::Unavailable { code, message } if !is_gone(code) => Some((code, message)),
            Observation::Sequence { members } => members.iter().find_map(Observation::unobserved),
            // The caller could not be described: retry rather than restart without containing.
            Observation::Logging { actor: Some(actor), .. } => actor.unobserved(),
            _ => None,
        }
    }

    /// The refusal of a member role that kept this observation from being complete: the
    /// observation itself, or that of a sequence's member (whose plan must not leave it out).
    #[must_use]
    pub fn role_refused(&self) -> Option<&Observation> {
        match self {
            Observation::RoleRefused { .. } => Some(self),
            Observation::Sequence { members } => members.iter().find_map(Observation::role_refused),
            Observation::Logging { actor: Some(actor), .. } => actor.role_refused(),
            _ => None,
        }
    }

    /// The same observation, with the Config rule that judged its resource.
    #[must_use]
    pub fn with_rule(mut self, rule: ConfigRuleState) -> Self {
        match &mut self {
            Observation::SecurityGroup(group) => group.rule = Some(rule),
            Observation::Principal(principal) => principal.rule = Some(rule),
            _ => {}
        }
        self
    }
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
    /// Other instances in the account already in quarantine (the blast-radius count);
    /// `None` if they could not be counted.
    pub quarantined_elsewhere: Option<usize>,
    /// The incident whose ledger records this instance tagged quarantined (a `tag-instance`
    /// step that succeeded on it), when its quarantine tags name one: Tourniquet's own record,
    /// which no tag anybody may set can stand in for. `None` when there is no such record.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recorded_quarantine: Option<String>,
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
    /// Whether the volume goes with the instance when it terminates; `None` if not reported.
    #[serde(default)]
    pub delete_on_termination: Option<bool>,
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
    /// The Config rule that judged the user, for a Config incident.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rule: Option<ConfigRuleState>,
}

/// One access key of a user.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct AccessKeyState {
    pub access_key_id: String,
    pub status: Option<String>,
    pub created: Option<String>,
}

/// A security group as `DescribeSecurityGroups` showed it, one entry per rule and source.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct SecurityGroupState {
    pub group_id: String,
    pub group_name: Option<String>,
    pub vpc_id: Option<String>,
    pub tags: BTreeMap<String, String>,
    pub ingress: Vec<GroupRule>,
    pub egress: Vec<GroupRule>,
    /// The Config rule that judged the group.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rule: Option<ConfigRuleState>,
}

/// A Config rule as `DescribeConfigRules` showed it: its parameters are not in the
/// compliance-change event, and the response must follow the rule as configured.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct ConfigRuleState {
    pub name: String,
    /// `InputParameters`, each value as text; empty when the rule sets none.
    pub parameters: BTreeMap<String, String>,
    /// Why the rule could not be read (AWS error code and message), if it could not.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// One rule of a security group, for one source (a CIDR, a group, a prefix list).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct GroupRule {
    /// `tcp`, `udp`, `icmp`, a protocol number, or `-1` for all.
    pub protocol: String,
    pub from_port: Option<i32>,
    pub to_port: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cidr_ipv4: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cidr_ipv6: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_group: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prefix_list: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

impl GroupRule {
    /// Open to every address, IPv4 or IPv6.
    #[must_use]
    pub fn open_to_world(&self) -> bool {
        self.cidr_ipv4.as_deref() == Some("0.0.0.0/0") || self.cidr_ipv6.as_deref() == Some("::/0")
    }

    /// The rule for people: `tcp 22 from 0.0.0.0/0`.
    #[must_use]
    pub fn describe(&self) -> String {
        let ports = match (self.protocol.as_str(), self.from_port, self.to_port) {
            ("-1", _, _) => "all traffic".to_owned(),
            (p, Some(from), Some(to)) if from == to => format!("{p} {from}"),
            (p, Some(from), Some(to)) => format!("{p} {from}-{to}"),
            (p, _, _) => p.to_owned(),
        };
        let source = self
            .cidr_ipv4
            .as_deref()
            .or(self.cidr_ipv6.as_deref())
            .or(self.source_group.as_deref())
            .or(self.prefix_list.as_deref())
            .unwrap_or("?");
        format!("{ports} from {source}")
    }
}

/// A bucket's protection as S3 showed it.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct BucketState {
    pub name: String,
    /// `None` when the tags could not be read: the protection guard then fails closed.
    pub tags: Option<BTreeMap<String, String>>,
    pub tags_error: Option<String>,
    /// The four settings (block public ACLs, ignore public ACLs, block public policy,
    /// restrict public buckets), if a block is configured.
    pub public_access_block: Option<[bool; 4]>,
    /// Default encryption algorithm (`AES256`, `aws:kms`), if set.
    pub encryption: Option<String>,
    pub notes: Vec<String>,
    /// The bucket policy as S3 returned it (read for GuardDuty's exposed buckets), if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy: Option<String>,
    /// The ACL's grants, `<grantee>: <permission>` (read for GuardDuty's exposed buckets).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub acl: Vec<String>,
    /// Whether the bucket serves a static website (read for GuardDuty's exposed buckets;
    /// `None`: not read).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub website: Option<Website>,
}

/// A bucket's static website configuration, as `GetBucketWebsite` showed it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "website")]
pub enum Website {
    /// No website configuration.
    None,
    /// A website: its index document or where it redirects.
    Hosted { serves: String },
    /// It could not be read: the bucket may be a website.
    Unknown { error: String },
}

/// The account-level S3 public access block, as S3 Control's `GetPublicAccessBlock` showed it.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct AccountBlockState {
    pub account_id: String,
    /// The four settings (block public ACLs, ignore public ACLs, block public policy,
    /// restrict public buckets); `None`: no block is configured.
    pub block: Option<[bool; 4]>,
    /// Why it could not be read, if it could not: the playbook then pages only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// A Lambda function as `GetFunction` and friends showed it.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct FunctionState {
    pub name: String,
    pub arn: Option<String>,
    /// `CodeSha256` (base64 of the deployment package's SHA-256): the code that ran.
    pub code_sha256: Option<String>,
    /// The version GetFunction described (`$LATEST`).
    pub version: Option<String>,
    /// Runtime, handler, role, sizes, the environment's variable names (never their values).
    pub configuration: BTreeMap<String, String>,
    /// Reserved concurrency before the response; `None` when none was set.
    pub reserved_concurrency: Option<i32>,
    /// Why the reserved concurrency could not be read: a release could not restore it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub concurrency_error: Option<String>,
    pub role_arn: Option<String>,
    pub role_name: Option<String>,
    /// The role's unique id (`AROA...`): the function's sessions are `<role id>:<function>`.
    pub role_id: Option<String>,
    /// `None` when the tags could not be read: the protection guard then fails closed.
    pub tags: Option<BTreeMap<String, String>>,
    pub tags_error: Option<String>,
    pub notes: Vec<String>,
}

/// An RDS DB instance as `DescribeDBInstances` showed it.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct DatabaseState {
    pub db_instance_id: String,
    pub arn: Option<String>,
    pub engine: Option<String>,
    pub status: Option<String>,
    /// The Aurora cluster the instance belongs to: the snapshot is the cluster's.
    pub cluster_id: Option<String>,
    pub tags: BTreeMap<String, String>,
}

/// Whether an AWS error code says the resource is not there (or cannot be named so): an
/// answer, where any other error is a failure to look.
fn is_gone(code: &str) -> bool {
    code.ends_with("NotFound")
        || code.ends_with("NotFoundFault")
        || code.ends_with("NotFoundException")
        || code.ends_with(".Malformed")
        || code.starts_with("NoSuch")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sequence_is_incomplete_when_one_member_is() {
        let refused = Observation::RoleRefused {
            role_arn: "arn:aws:iam::222222222222:role/tourniquet-member".into(),
            account: "222222222222".into(),
            code: "AccessDenied".into(),
            message: "m".into(),
        };
        let seen = Observation::Instance(Box::default());
        let failed = Observation::Unavailable {
            code: "Throttling".into(),
            message: "m".into(),
        };
        let gone = Observation::Unavailable {
            code: "InvalidInstanceID.NotFound".into(),
            message: "m".into(),
        };
        let sequence = |members: Vec<Observation>| Observation::Sequence { members };
        assert_eq!(
            sequence(vec![seen.clone(), refused.clone()]).role_refused(),
            Some(&refused)
        );
        assert_eq!(refused.role_refused(), Some(&refused));
        assert_eq!(
            sequence(vec![failed.clone(), seen.clone()]).unobserved(),
            Some(("Throttling", "m"))
        );
        let complete = sequence(vec![seen.clone(), gone]);
        assert_eq!(complete.role_refused(), None);
        assert_eq!(complete.unobserved(), None, "a member that is gone is an answer");
        assert_eq!(seen.role_refused(), None);
    }

    #[test]
    fn a_missing_resource_is_an_answer_any_other_error_a_failure_to_look() {
        let unavailable = |code: &str| Observation::Unavailable {
            code: code.into(),
            message: "m".into(),
        };
        for gone in [
            "InvalidInstanceID.NotFound",
            "NoSuchEntity",
            "NoSuchBucket",
            "ResourceNotFoundException",
            "DBInstanceNotFound",
            "DBInstanceNotFoundFault",
            "InvalidGroupId.Malformed",
        ] {
            assert_eq!(unavailable(gone).unobserved(), None, "{gone}");
        }
        for failed in [
            "Throttling",
            "RequestLimitExceeded",
            "ServiceUnavailable",
            "InternalError",
            "DispatchFailure",
            "AccessDenied",
            "UnauthorizedOperation",
        ] {
            assert_eq!(unavailable(failed).unobserved(), Some((failed, "m")), "{failed}");
        }
        assert_eq!(Observation::NotNeeded.unobserved(), None);
    }
}
