//! The one routing decision: page only and why, or which playbook acts and what it must look at.
//!
//! Pure, like the planner. The responder observes exactly what the target names and nothing
//! when it pages only; the planner consumes the target and the observation.

use serde::{Deserialize, Serialize};

use crate::incident::{Incident, Resource, UserType};
use crate::policy::{Playbook, Policy, Routing};

/// What to do about an incident, before anything is looked at.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "target", rename_all = "kebab-case")]
pub enum Target {
    /// Page only, for this reason; `critical` pages as critical whatever the finding's
    /// severity (root credentials).
    PageOnly { reason: String, critical: bool },
    /// `playbook` acts once `look` has been observed.
    Act { playbook: Playbook, look: Look },
}

/// The one resource a playbook must observe (read-only) before it can plan.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "look", rename_all = "kebab-case")]
pub enum Look {
    /// An instance and everything containment touches.
    Instance { instance_id: String },
    /// An IAM user, and whether it holds the key the finding names.
    User {
        user_name: String,
        access_key_id: Option<String>,
    },
    /// An IAM role.
    Role { role_name: String },
    /// A security group and the Config rule that judged it.
    SecurityGroup { group_id: String, rule: String },
    /// A bucket's tags, public access block and encryption.
    Bucket { name: String },
    /// The IAM user behind a user id, and the Config rule that judged it.
    UserById { user_id: String, rule: String },
}

impl Target {
    fn page(reason: String) -> Self {
        Target::PageOnly {
            reason,
            critical: false,
        }
    }

    /// The playbook that acts, if one does.
    #[must_use]
    pub fn playbook(&self) -> Option<Playbook> {
        match self {
            Target::Act { playbook, .. } => Some(*playbook),
            Target::PageOnly { .. } => None,
        }
    }
}

/// Routes `incident` through the policy and says what to observe. Every reason to page
/// without looking is decided here, once.
#[must_use]
pub fn target(incident: &Incident, policy: &Policy) -> Target {
    let label = incident.resource.label();
    let playbook = match policy.route(incident) {
        Routing::Unrouted => {
            return Target::page(format!(
                "no playbook for {} findings on {label}; paging only",
                incident.finding_type
            ));
        }
        Routing::BelowFloor { playbook, floor } => {
            return Target::page(format!(
                "severity {:.1} is below the {} floor of {floor:.1}; paging only",
                incident.severity,
                playbook.as_str()
            ));
        }
        Routing::Act { playbook, .. } => playbook,
    };
    if let Some(reason) = policy.foreign_account(incident) {
        return Target::page(reason);
    }
    let look = match (playbook, &incident.resource) {
        (Playbook::Ec2Compromise, Resource::Instance { instance_id }) => Look::Instance {
            instance_id: instance_id.clone(),
        },
        (
            Playbook::CredentialCompromise,
            Resource::AccessKey {
                user_type,
                user_name,
                access_key_id,
                ..
            },
        ) => match credentials(
            &label,
            user_type.as_ref(),
            user_name.as_deref(),
            access_key_id.as_deref(),
        ) {
            Ok(look) => look,
            Err(target) => return target,
        },
        (Playbook::CloseOpenPorts, Resource::SecurityGroup { group_id }) => Look::SecurityGroup {
            group_id: group_id.clone(),
            rule: incident.finding_type.clone(),
        },
        (Playbook::BlockPublicBucket | Playbook::EncryptBucket, Resource::Bucket { name }) => {
            Look::Bucket { name: name.clone() }
        }
        (Playbook::DeactivateStaleKeys, Resource::User { user_id }) => Look::UserById {
            user_id: user_id.clone(),
            rule: incident.finding_type.clone(),
        },
        (Playbook::PageOnly, _) => return Target::page("the policy routes this finding to a page".to_owned()),
        (playbook, resource) => {
            return Target::page(format!(
                "the {} playbook does not act on {} ({label}); paging only",
                playbook.as_str(),
                resource.kind().as_str()
            ));
        }
    };
    Target::Act { playbook, look }
}

/// The principal behind a key finding, or why it pages only.
fn credentials(
    label: &str,
    user_type: Option<&UserType>,
    user_name: Option<&str>,
    access_key_id: Option<&str>,
) -> Result<Look, Target> {
    match (user_type, user_name) {
        (Some(UserType::Root), _) => Err(Target::PageOnly {
            reason: format!(
                "root credentials in use ({label}): IAM cannot revoke root keys or sessions. A person must: \
                 sign in as root with MFA and change the password; delete the root access keys under \
                 Security credentials; review CloudTrail for everything this key did; check for new IAM \
                 users, roles, keys and policies; confirm MFA on the root user"
            ),
            critical: true,
        }),
        (Some(UserType::IamUser), Some(name)) => Ok(Look::User {
            user_name: name.to_owned(),
            access_key_id: access_key_id.map(ToOwned::to_owned),
        }),
        (Some(UserType::AssumedRole), Some(name)) => Ok(Look::Role {
            role_name: name.to_owned(),
        }),
        (Some(UserType::IamUser | UserType::AssumedRole), None) => Err(Target::page(format!(
            "{label}: the finding names no user or role to act on; paging only"
        ))),
        (Some(other @ (UserType::FederatedUser | UserType::AwsService)), _) => Err(Target::page(format!(
            "{label} is a {} principal: its credentials cannot be revoked through IAM; paging only",
            other.as_str()
        ))),
        (other, _) => Err(Target::page(format!(
            "{label} has principal type {}: no credential playbook for it; paging only",
            other.map_or("unknown", UserType::as_str)
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::settings::Settings;

    fn policy() -> Policy {
        let settings = Settings::from_lookup(|var| match var {
            "TOURNIQUET_TOPIC_ARN" => Some("arn:aws:sns:us-east-1:123456789012:pages".into()),
            "TOURNIQUET_EVIDENCE_BUCKET" => Some("evidence".into()),
            _ => None,
        })
        .unwrap();
        Policy::new(&settings).unwrap()
    }

    fn key_finding(user_type: &str, user_name: Option<&str>) -> Incident {
        let event = serde_json::json!({
            "id": "f", "type": "UnauthorizedAccess:IAMUser/MaliciousIPCaller", "severity": 8,
            "resource": {"resourceType": "AccessKey", "accessKeyDetails": {
                "accessKeyId": "AKIA1", "userName": user_name, "userType": user_type}}
        });
        crate::intake::parse(&event).unwrap().incident().unwrap()
    }

    #[test]
    fn key_findings_look_at_exactly_their_principal() {
        let policy = policy();
        assert_eq!(
            target(&key_finding("IAMUser", Some("alice")), &policy),
            Target::Act {
                playbook: Playbook::CredentialCompromise,
                look: Look::User {
                    user_name: "alice".into(),
                    access_key_id: Some("AKIA1".into())
                }
            }
        );
        assert_eq!(
            target(&key_finding("AssumedRole", Some("Admin")), &policy),
            Target::Act {
                playbook: Playbook::CredentialCompromise,
                look: Look::Role {
                    role_name: "Admin".into()
                }
            }
        );
        let cases = [
            ("Root", Some("root"), "root credentials in use", true),
            ("IAMUser", None, "names no user or role", false),
            ("FederatedUser", Some("f"), "FederatedUser principal", false),
            ("AWSService", Some("s"), "AWSService principal", false),
            ("Alien", Some("a"), "principal type Alien", false),
        ];
        for (user_type, name, why, critical_expected) in cases {
            match target(&key_finding(user_type, name), &policy) {
                Target::PageOnly { reason, critical } => {
                    assert!(reason.contains(why), "{reason} lacks {why}");
                    assert_eq!(critical, critical_expected, "{user_type}");
                }
                other @ Target::Act { .. } => panic!("{user_type}: {other:?}"),
            }
        }
    }

    #[test]
    fn below_the_floor_and_unrouted_findings_look_at_nothing() {
        let policy = policy();
        let finding = |kind: &str, severity: f64| {
            let event = serde_json::json!({
                "id": "f", "type": kind, "severity": severity,
                "resource": {"resourceType": "Instance", "instanceDetails": {"instanceId": "i-1"}}
            });
            crate::intake::parse(&event).unwrap().incident().unwrap()
        };
        let low = target(&finding("Recon:EC2/PortProbeUnprotectedPort", 2.0), &policy);
        assert!(matches!(&low, Target::PageOnly { reason, .. } if reason.contains("below the ec2-compromise floor")));
        assert_eq!(
            target(&finding("Backdoor:EC2/C&CActivity.B", 8.0), &policy).playbook(),
            Some(Playbook::Ec2Compromise)
        );
    }
}
