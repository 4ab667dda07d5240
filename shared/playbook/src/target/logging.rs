//! What to look at for stopped audit logging: the logging itself, and the caller who stopped it when the report names one.

use serde::{Deserialize, Serialize};

use super::{Look, Target, credentials};
use crate::incident::evasion::{Evasion, Stopped};

/// The logging a restore reads before it plans.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "logging", rename_all = "kebab-case")]
pub enum LoggingLook {
    /// A trail's status, settings and event selectors, by name or ARN.
    Trail { trail: String },
    /// Every trail whose home is the place's region, each as [`LoggingLook::Trail`].
    Trails,
    /// The place's Config recorders and their status.
    Recorders,
}

/// The logging to read, and the caller's look as the credential playbook takes it; a caller
/// it cannot take (root, a federated user, a service, none named) is named with the reason.
pub(super) fn look(evasion: &Evasion) -> Look {
    let logging = match &evasion.stopped {
        Stopped::Trail { trail } => LoggingLook::Trail { trail: trail.clone() },
        Stopped::Trails => LoggingLook::Trails,
        Stopped::Recorders => LoggingLook::Recorders,
    };
    let (actor, unanswered) = match &evasion.actor {
        None => (None, Some("the report names no caller: nobody to contain".to_owned())),
        Some(actor) => {
            let label = actor.resource().label();
            match credentials(
                &label,
                actor.user_type.as_ref(),
                actor.user_name.as_deref(),
                actor.access_key_id.as_deref(),
            ) {
                Ok(look) => (Some(Box::new(look)), None),
                Err(Target::PageOnly { reason, .. }) => (None, Some(format!("the caller is not contained: {reason}"))),
                Err(Target::Act { .. }) => (None, None),
            }
        }
    };
    Look::Logging {
        logging,
        actor,
        unanswered,
    }
}
