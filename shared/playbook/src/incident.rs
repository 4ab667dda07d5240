//! The normalized `Incident`: what every intake produces and every plan starts from.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};

/// Where an incident came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Source {
    GuardDuty,
    /// AWS Config compliance changes.
    Config,
    /// CloudWatch alarm state changes.
    CloudWatch,
}

impl Source {
    /// The function that answers this source's events (and takes approvals for them).
    #[must_use]
    pub fn function(self) -> &'static str {
        match self {
            Source::GuardDuty => "guardduty-responder",
            Source::Config => "config-responder",
            Source::CloudWatch => "alarm-responder",
        }
    }

    /// Short name used in incident ids and logs.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Source::GuardDuty => "guardduty",
            Source::Config => "config",
            Source::CloudWatch => "cloudwatch",
        }
    }
}

/// The kind of principal an access key finding names (GuardDuty's `userType`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum UserType {
    IamUser,
    AssumedRole,
    Root,
    FederatedUser,
    AwsService,
    /// Any other value, kept as GuardDuty wrote it.
    Other(String),
}

impl UserType {
    /// Reads GuardDuty's spelling (`IAMUser`, `AssumedRole`, `Root`, ...).
    #[must_use]
    pub fn parse(text: &str) -> Self {
        match text {
            "IAMUser" => UserType::IamUser,
            "AssumedRole" => UserType::AssumedRole,
            "Root" => UserType::Root,
            "FederatedUser" => UserType::FederatedUser,
            "AWSService" => UserType::AwsService,
            other => UserType::Other(other.to_owned()),
        }
    }

    /// GuardDuty's spelling, for people.
    #[must_use]
    pub fn as_str(&self) -> &str {
        match self {
            UserType::IamUser => "IAMUser",
            UserType::AssumedRole => "AssumedRole",
            UserType::Root => "Root",
            UserType::FederatedUser => "FederatedUser",
            UserType::AwsService => "AWSService",
            UserType::Other(other) => other,
        }
    }
}

/// The resource an incident is about.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Resource {
    /// An EC2 instance.
    Instance { instance_id: String },
    /// An IAM access key and the principal that holds it.
    AccessKey {
        access_key_id: Option<String>,
        principal_id: Option<String>,
        user_name: Option<String>,
        user_type: Option<UserType>,
    },
    /// An S3 bucket.
    Bucket { name: String },
    /// A VPC security group.
    SecurityGroup { group_id: String },
    /// An IAM user named by its id (`AIDA...`), as AWS Config names them.
    User { user_id: String },
    /// Anything Tourniquet has no playbook for (EKS, RDS, Lambda, containers, ...).
    Other {
        resource_type: String,
        name: Option<String>,
    },
}

impl Resource {
    /// The routing key of this resource, as written in the policy table.
    #[must_use]
    pub fn kind(&self) -> ResourceKind {
        match self {
            Resource::Instance { .. } => ResourceKind::Instance,
            Resource::AccessKey { .. } => ResourceKind::AccessKey,
            Resource::Bucket { .. } => ResourceKind::Bucket,
            Resource::SecurityGroup { .. } => ResourceKind::SecurityGroup,
            Resource::User { .. } => ResourceKind::User,
            Resource::Other { .. } => ResourceKind::Other,
        }
    }

    /// The shortest name a person recognises: the key id alone for access keys.
    #[must_use]
    pub fn short_label(&self) -> String {
        match self {
            Resource::AccessKey {
                access_key_id: Some(key),
                ..
            } => key.clone(),
            other => other.label(),
        }
    }

    /// A short human name: the instance id, key id, bucket name.
    #[must_use]
    pub fn label(&self) -> String {
        match self {
            Resource::Instance { instance_id } => instance_id.clone(),
            Resource::AccessKey {
                access_key_id,
                user_name,
                ..
            } => match (access_key_id, user_name) {
                (Some(key), Some(user)) => format!("{key} ({user})"),
                (Some(key), None) => key.clone(),
                (None, Some(user)) => user.clone(),
                (None, None) => "unknown access key".to_owned(),
            },
            Resource::Bucket { name } => name.clone(),
            Resource::SecurityGroup { group_id } => group_id.clone(),
            Resource::User { user_id } => format!("IAM user {user_id}"),
            Resource::Other { resource_type, name } => match name {
                Some(name) => format!("{resource_type} {name}"),
                None => resource_type.clone(),
            },
        }
    }
}

/// The kinds of resource the routing table can name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ResourceKind {
    Instance,
    AccessKey,
    Bucket,
    SecurityGroup,
    User,
    Other,
}

impl ResourceKind {
    /// The kind for people and logs.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            ResourceKind::Instance => "an instance",
            ResourceKind::AccessKey => "an access key",
            ResourceKind::Bucket => "a bucket",
            ResourceKind::SecurityGroup => "a security group",
            ResourceKind::User => "an IAM user",
            ResourceKind::Other => "this kind of resource",
        }
    }
}

/// One security event, normalized.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Incident {
    /// Deterministic from the event: a redelivery maps to the same id.
    pub id: String,
    pub source: Source,
    /// The finding's own id (GuardDuty finding id).
    pub finding_id: String,
    pub finding_type: String,
    /// 0.0 to 10.0.
    pub severity: f64,
    pub account: Option<String>,
    pub region: Option<String>,
    pub resource: Resource,
    /// One line a person can read.
    pub summary: String,
    /// Facts worth a line each in the page (alarm reason, metric, runbook).
    #[serde(default)]
    pub details: std::collections::BTreeMap<String, String>,
    /// A Config rule's parameters as the event carried them (most events carry none: the rule
    /// as configured is read when the response needs it).
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub rule_parameters: std::collections::BTreeMap<String, String>,
    /// The event exactly as it arrived, kept for the evidence record.
    #[serde(skip)]
    pub raw: Value,
}

impl Incident {
    /// The incident id for a finding: source, a short hash of where it was raised and its id.
    ///
    /// Hashing keeps the id a safe S3 key whatever the finding id holds, and including the
    /// account and region keeps findings from different accounts apart.
    #[must_use]
    pub fn id_for(source: Source, account: Option<&str>, region: Option<&str>, key: &str) -> String {
        let mut hash = Sha256::new();
        for part in [source.as_str(), account.unwrap_or(""), region.unwrap_or(""), key] {
            hash.update(part.as_bytes());
            hash.update([0]);
        }
        let digest = hex::encode(hash.finalize());
        format!("{}-{}", source.as_str(), &digest[..24])
    }

    /// GuardDuty's severity band for this incident's severity.
    #[must_use]
    pub fn severity_label(&self) -> &'static str {
        severity_label(self.severity)
    }
}

/// GuardDuty's severity bands: low below 4, medium below 7, high below 9, critical from 9.
#[must_use]
pub fn severity_label(severity: f64) -> &'static str {
    if severity >= 9.0 {
        "CRITICAL"
    } else if severity >= 7.0 {
        "HIGH"
    } else if severity >= 4.0 {
        "MEDIUM"
    } else {
        "LOW"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_deterministic_and_distinct() {
        let a = Incident::id_for(Source::GuardDuty, Some("1"), Some("us-east-1"), "abc");
        let b = Incident::id_for(Source::GuardDuty, Some("1"), Some("us-east-1"), "abc");
        let c = Incident::id_for(Source::GuardDuty, Some("2"), Some("us-east-1"), "abc");
        assert_eq!(a, b);
        assert_ne!(a, c);
        assert!(a.starts_with("guardduty-"));
        assert_eq!(a.len(), "guardduty-".len() + 24);
    }

    #[test]
    fn severity_bands() {
        assert_eq!(severity_label(2.0), "LOW");
        assert_eq!(severity_label(5.0), "MEDIUM");
        assert_eq!(severity_label(7.0), "HIGH");
        assert_eq!(severity_label(8.9), "HIGH");
        assert_eq!(severity_label(9.0), "CRITICAL");
    }
}
