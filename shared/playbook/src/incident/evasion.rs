//! Defense evasion: the audit logging an attacker stopped, the call that stopped it and who made it, as plain data.

use serde::{Deserialize, Serialize};

use crate::incident::{Resource, UserType};

/// What a defense-evasion report names: the logging that was stopped, and, where the source
/// says, the call and the principal that made it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Evasion {
    pub stopped: Stopped,
    /// The call that stopped it, as `service:Operation` (`cloudtrail.amazonaws.com:StopLogging`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub call: Option<String>,
    /// When the call was made (RFC 3339), as the source reports it: the start of the window
    /// nothing was recorded in, unless the service itself says when logging stopped.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stopped_at: Option<String>,
    /// Who made the call, as a key finding names a principal.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub actor: Option<Actor>,
}

/// The logging that was stopped.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "logging", rename_all = "kebab-case")]
pub enum Stopped {
    /// A CloudTrail trail, by name or ARN.
    Trail { trail: String },
    /// The trails of the account and region (a report that names none: the CIS "CloudTrail
    /// configuration changes" alarm).
    Trails,
    /// The AWS Config recorders of the account and region (the CIS "AWS Config changes" alarm).
    Recorders,
}

impl Stopped {
    /// A short human name: `trail management-events`.
    #[must_use]
    pub fn label(&self) -> String {
        match self {
            Stopped::Trail { trail } => format!("trail {}", trail.rsplit('/').next().unwrap_or(trail)),
            Stopped::Trails => "the region's trails".to_owned(),
            Stopped::Recorders => "the region's AWS Config recorders".to_owned(),
        }
    }
}

/// The principal behind the stopping call: the fields of GuardDuty's `accessKeyDetails`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Actor {
    pub access_key_id: Option<String>,
    pub principal_id: Option<String>,
    pub user_name: Option<String>,
    pub user_type: Option<UserType>,
}

impl Actor {
    /// The actor as the credential playbook knows a principal: an access key resource.
    #[must_use]
    pub fn resource(&self) -> Resource {
        Resource::AccessKey {
            access_key_id: self.access_key_id.clone(),
            principal_id: self.principal_id.clone(),
            user_name: self.user_name.clone(),
            user_type: self.user_type.clone(),
        }
    }
}

impl Evasion {
    /// `trail management-events (stopped by ci-deployer)`.
    #[must_use]
    pub fn label(&self) -> String {
        match self.actor.as_ref().and_then(|a| a.user_name.as_deref()) {
            Some(name) => format!("{} (stopped by {name})", self.stopped.label()),
            None => self.stopped.label(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_name_the_trail_without_its_arn() {
        let evasion = Evasion {
            stopped: Stopped::Trail {
                trail: "arn:aws:cloudtrail:us-east-1:123456789012:trail/audit".into(),
            },
            call: None,
            stopped_at: None,
            actor: Some(Actor {
                user_name: Some("mallory".into()),
                ..Actor::default()
            }),
        };
        assert_eq!(evasion.label(), "trail audit (stopped by mallory)");
        assert_eq!(
            evasion.actor.unwrap().resource().label(),
            "mallory",
            "the actor as the credential playbook names it"
        );
    }
}
