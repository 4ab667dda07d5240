//! The normalized `Incident`: what every intake produces and every plan starts from.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};

pub mod evasion;
pub mod sequence;

/// Where an incident came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Source {
    GuardDuty,
    /// AWS Config compliance changes.
    Config,
    /// CloudWatch alarm state changes.
    CloudWatch,
    /// Security Hub findings other than GuardDuty's (GuardDuty's keep their own source and id).
    SecurityHub,
}

impl Source {
    /// The function that answers this source's events (and takes approvals for them).
    #[must_use]
    pub fn function(self) -> &'static str {
        match self {
            Source::GuardDuty => "guardduty-responder",
            Source::Config => "config-responder",
            Source::CloudWatch => "alarm-responder",
            Source::SecurityHub => "securityhub-responder",
        }
    }

    /// Short name used in incident ids and logs.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Source::GuardDuty => "guardduty",
            Source::Config => "config",
            Source::CloudWatch => "cloudwatch",
            Source::SecurityHub => "securityhub",
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
    /// A GuardDuty attack sequence: several actors and resources, answered as one incident.
    AttackSequence(Box<crate::incident::sequence::Sequence>),
    /// Audit logging an attacker stopped (a trail), and who stopped it.
    Logging(Box<crate::incident::evasion::Evasion>),
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
            Resource::AttackSequence(_) => ResourceKind::AttackSequence,
            Resource::Logging(_) => ResourceKind::Logging,
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
            Resource::AttackSequence(sequence) => sequence.label(),
            Resource::Logging(evasion) => evasion.label(),
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
    AttackSequence,
    Logging,
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
            ResourceKind::AttackSequence => "an attack sequence",
            ResourceKind::Logging => "stopped logging",
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
    /// The finding's ARN, when the source gives one (GuardDuty's `arn`): Security Hub knows
    /// the finding by it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finding_arn: Option<String>,
    /// The other side of the finding (remote address, port, API called), where the source
    /// says; never a reason to refuse an event.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attacker: Option<Attacker>,
    /// The event exactly as it arrived, kept for the evidence record.
    #[serde(skip)]
    pub raw: Value,
    /// How Security Hub knows the finding, who produced it and whether it is trusted, when
    /// it came through Security Hub (GuardDuty's findings too).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub security_hub: Option<crate::securityhub::Finding>,
}

/// The attacker's side of a finding, as GuardDuty's `service.action` describes it. Every
/// field is optional: findings carry what their action type has.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Attacker {
    /// GuardDuty's `actionType` (`NETWORK_CONNECTION`, `AWS_API_CALL`, `PORT_PROBE`, ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub action_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remote_ip: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub country: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub city: Option<String>,
    /// The network's organization (`org`, else `asnOrg`, else `isp`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub organization: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub asn: Option<String>,
    /// The port on our side that was reached or probed, and its name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub protocol: Option<String>,
    /// `INBOUND` or `OUTBOUND`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub direction: Option<String>,
    /// The API called, as `service:Operation` (`iam.amazonaws.com:ListUsers`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api: Option<String>,
    /// The domain asked for (DNS findings).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub domain: Option<String>,
}

impl Attacker {
    /// Whether anything is known about the other side.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.describe().is_empty()
    }

    /// One line a person reads: `198.51.100.23 (China, Shanghai; China Telecom, AS4134) ->
    /// port 22 (SSH), TCP INBOUND; API iam.amazonaws.com:ListUsers`.
    #[must_use]
    pub fn describe(&self) -> String {
        let mut parts = Vec::new();
        if let Some(ip) = &self.remote_ip {
            let place: Vec<&str> = [self.country.as_deref(), self.city.as_deref()]
                .into_iter()
                .flatten()
                .collect();
            let mut network: Vec<String> = self.organization.iter().cloned().collect();
            network.extend(self.asn.iter().map(|asn| format!("AS{asn}")));
            let mut about = Vec::new();
            if !place.is_empty() {
                about.push(place.join(", "));
            }
            if !network.is_empty() {
                about.push(network.join(", "));
            }
            if about.is_empty() {
                parts.push(ip.clone());
            } else {
                parts.push(format!("{ip} ({})", about.join("; ")));
            }
        }
        if let Some(port) = self.port {
            let name = self.port_name.as_deref().filter(|n| *n != "Unknown");
            let mut text = match name {
                Some(name) => format!("port {port} ({name})"),
                None => format!("port {port}"),
            };
            for extra in [&self.protocol, &self.direction].into_iter().flatten() {
                text.push(' ');
                text.push_str(extra);
            }
            parts.push(text);
        }
        if let Some(api) = &self.api {
            parts.push(format!("API {api}"));
        }
        if let Some(domain) = &self.domain {
            parts.push(format!("domain {domain}"));
        }
        parts.join(", ")
    }
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
