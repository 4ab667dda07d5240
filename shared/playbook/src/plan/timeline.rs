//! Planning what is read after containment, before the page: the breach timeline and the
//! persistence sweep, and the contained resource's configuration history.

use super::{PlannedStep, Step};
use crate::config_history::ConfigResource;
use crate::incident::{Incident, Resource};
use crate::observation::{InstanceState, PrincipalKind, PrincipalState};
use crate::policy::Policy;
use crate::timeline::{Lookup, SweepGuards, window_start};

/// How the identity's calls are found: a user's key by its id, then the user by name; a role
/// session by its key and by its session name (an instance's session is named after the
/// instance). Nothing when the finding names neither key nor session (reading every holder of
/// a role would be a guess).
pub(super) fn principal_lookups(
    incident: &Incident,
    principal: &PrincipalState,
    access_key_id: Option<&str>,
) -> Vec<Lookup> {
    let (key, principal_id) = match &incident.resource {
        Resource::AccessKey {
            access_key_id,
            principal_id,
            ..
        } => (access_key_id.as_deref(), principal_id.as_deref()),
        _ => (None, None),
    };
    let key = access_key_id.or(key).filter(|k| !k.is_empty());
    let mut lookups: Vec<Lookup> = key.map(Lookup::access_key).into_iter().collect();
    match principal.kind {
        PrincipalKind::User => lookups.push(Lookup::username(&principal.name)),
        PrincipalKind::Role => {
            let session = principal_id
                .and_then(|id| id.split_once(':'))
                .map(|(_, session)| session)
                .filter(|s| !s.is_empty());
            lookups.extend(session.map(Lookup::username));
        }
    }
    lookups
}

/// How a compromised instance's calls are found: its role credentials, whose session EC2
/// names after the instance. None without an instance profile (the instance holds no
/// credentials).
pub(super) fn instance_lookups(state: &InstanceState) -> Vec<Lookup> {
    if state.instance_profile.is_none() {
        return Vec::new();
    }
    vec![Lookup::username(&state.instance_id)]
}

/// `steps` with what is read after containment: the timeline and the sweep before the page
/// when there are `lookups` (the page gives their summary), then, beside the page, the
/// configuration history of the contained `resource` (into the evidence, never holding up the
/// page). They run once every containment step is finished (`Step::waits_for`), so none
/// delays containment.
pub(super) fn after_containment(
    mut steps: Vec<PlannedStep>,
    lookups: Vec<Lookup>,
    resource: Option<ConfigResource>,
    incident: &Incident,
    policy: &Policy,
    planned_at: &str,
) -> Vec<PlannedStep> {
    let start = window_start(incident, planned_at);
    let page = |steps: &[PlannedStep]| steps.iter().position(|s| matches!(s.step, Step::Page));
    if !lookups.is_empty() {
        let at = page(&steps).unwrap_or(steps.len());
        steps.splice(at..at, timeline(lookups, &start, policy));
    }
    if let Some(resource) = resource {
        let at = page(&steps).map_or(steps.len(), |p| p + 1);
        steps.insert(
            at,
            PlannedStep {
                reason: format!(
                    "once contained: how {} was configured, from AWS Config, from {start} (a day before the \
                     finding's first sighting) to now, into the evidence",
                    resource.label()
                ),
                step: Step::ConfigHistory { resource, start },
                place: None,
            },
        );
    }
    steps
}

/// The timeline of `lookups` from `start`, and the sweep of what it shows.
fn timeline(lookups: Vec<Lookup>, start: &str, policy: &Policy) -> [PlannedStep; 2] {
    let guards = SweepGuards::of(policy);
    let sweep_reason = if guards.contain {
        "contain what the attacker created (its keys deactivated, its users and roles denied everything); list \
         what it changed on existing principals, for a person to revert"
    } else {
        "TOURNIQUET_CONTAIN_PERSISTENCE=false: list what the attacker created or changed, touch nothing"
    };
    [
        PlannedStep {
            place: None,
            reason: format!(
                "once contained: what {} did, from CloudTrail's event history, from {start} (a day before the \
                     finding's first sighting) to now",
                lookups.iter().map(Lookup::label).collect::<Vec<_>>().join(" then ")
            ),
            step: Step::Timeline {
                lookups,
                start: start.to_owned(),
                max_events: policy.timeline.max_events,
            },
        },
        PlannedStep {
            place: None,
            step: Step::SweepPersistence { guards },
            reason: sweep_reason.to_owned(),
        },
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn incident(user_type: &str, name: &str, key: &str, principal_id: &str) -> Incident {
        let event = serde_json::json!({
            "id": "f", "type": "UnauthorizedAccess:IAMUser/MaliciousIPCaller", "severity": 8,
            "resource": {"resourceType": "AccessKey", "accessKeyDetails": {
                "accessKeyId": key, "userName": name, "userType": user_type, "principalId": principal_id}}
        });
        crate::intake::parse(&event).unwrap().incident().unwrap()
    }

    fn principal(kind: PrincipalKind, name: &str) -> PrincipalState {
        PrincipalState {
            kind,
            name: name.to_owned(),
            ..PrincipalState::default()
        }
    }

    #[test]
    fn a_user_key_by_id_then_the_user_and_a_session_by_key_then_name() {
        let user = incident("IAMUser", "alice", "AKIA1", "AIDA1");
        assert_eq!(
            principal_lookups(&user, &principal(PrincipalKind::User, "alice"), Some("AKIA1")),
            [Lookup::access_key("AKIA1"), Lookup::username("alice")]
        );
        let role = incident("AssumedRole", "web", "ASIA1", "AROA1:i-0abc");
        assert_eq!(
            principal_lookups(&role, &principal(PrincipalKind::Role, "web"), None),
            [Lookup::access_key("ASIA1"), Lookup::username("i-0abc")]
        );
        let bare = incident("AssumedRole", "web", "", "AROA1");
        assert!(principal_lookups(&bare, &principal(PrincipalKind::Role, "web"), None).is_empty());
    }
}
