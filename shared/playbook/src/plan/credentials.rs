//! The credential playbook: deactivate exactly the leaked key, deny exactly the stolen session.

use super::ec2::is_instance_id;
use super::{Plan, PlannedStep, Planner, Reach, Step, steps, timeline};
use crate::incident::Incident;
use crate::observation::{PrincipalKind, PrincipalState};
use crate::policy::{Playbook, Policy};

impl Planner<'_> {
    pub(super) fn credentials(&self, principal: &PrincipalState, access_key_id: Option<&str>) -> Plan {
        if let Some(reason) = principal_guard(principal, self.policy) {
            return self.page_only(format!("{reason}; paging only"));
        }
        let steps = credential_compromise(self.incident, principal, access_key_id, &self.planned_at);
        let steps = timeline::after_containment(
            steps,
            timeline::principal_lookups(self.incident, principal, access_key_id),
            None,
            self.incident,
            self.policy,
            &self.planned_at,
        );
        // Which credentials the deny reaches, and why: the page says so.
        let how = steps.iter().find_map(|s| match &s.step {
            Step::DenyAllUser { reach, .. } | Step::RevokeRoleSessions { reach, .. } => {
                Some(format!("{} ({})", reach.describe(), s.reason))
            }
            _ => None,
        });
        let reason = format!(
            "severity {:.1} {} on {}: revoke the credentials; {}",
            self.incident.severity,
            self.incident.finding_type,
            self.incident.resource.label(),
            how.unwrap_or_default()
        );
        self.plan(Playbook::CredentialCompromise, reason, steps)
    }
}

/// Why a principal must not be touched, if it must not. Tags that could not be read count as
/// protected: fail closed.
pub(super) fn principal_guard(principal: &PrincipalState, policy: &Policy) -> Option<String> {
    let Some(tags) = &principal.tags else {
        return Some(format!(
            "the tags of {} could not be read ({}), so it may be protected",
            principal.name,
            principal.tags_error.as_deref().unwrap_or("unknown error")
        ));
    };
    if let Some(value) = tags.get(&policy.protected_tag) {
        return Some(format!(
            "{} carries the protected tag {}={value:?}",
            principal.name, policy.protected_tag
        ));
    }
    policy.principal_guard(&principal.name, principal.arn.as_deref())
}

fn credential_compromise(
    incident: &Incident,
    principal: &PrincipalState,
    access_key_id: Option<&str>,
    planned_at: &str,
) -> Vec<PlannedStep> {
    let step = |step, reason: String| PlannedStep {
        step,
        reason,
        place: None,
    };
    let user_name = principal.name.clone();
    let middle = match (principal.kind, access_key_id) {
        (PrincipalKind::User, Some(key)) if crate::plan::is_temporary_key(key) => vec![step(
            Step::DenyAllUser {
                user_name,
                reach: Reach::IssuedBefore {
                    time: planned_at.to_owned(),
                },
            },
            format!(
                "{key} is a temporary key (from GetSessionToken), which IAM cannot deactivate: deny every session \
                 token the user was issued before now; its long-term keys and console sign-in keep working"
            ),
        )],
        (PrincipalKind::User, key) => {
            let deactivate = key.map(|key| {
                step(
                    Step::DeactivateAccessKey {
                        user_name: user_name.clone(),
                        access_key_id: key.to_owned(),
                    },
                    "the finding names this key: make it unusable, keep it for the investigation".to_owned(),
                )
            });
            let deny = step(
                Step::DenyAllUser {
                    user_name,
                    reach: Reach::Everything,
                },
                "deny everything to the user, so console sessions and any other key stop as well".to_owned(),
            );
            deactivate.into_iter().chain([deny]).collect()
        }
        (PrincipalKind::Role, _) => {
            let (reach, why) = role_reach(incident, principal, planned_at);
            vec![step(
                Step::RevokeRoleSessions {
                    role_name: user_name,
                    reach,
                },
                why,
            )]
        }
    };
    steps(middle)
}

/// The narrowest deny that stops the role credentials a finding names, and why: the
/// instance's own credentials when the session is an EC2 instance's, else that one session,
/// and every session issued before now only when the finding names none (which also cuts off
/// every healthy holder of the role until it takes new credentials).
fn role_reach(incident: &Incident, principal: &PrincipalState, planned_at: &str) -> (Reach, String) {
    let principal_id = match &incident.resource {
        crate::incident::Resource::AccessKey { principal_id, .. } => principal_id.as_deref(),
        _ => None,
    };
    let session = principal_id
        .and_then(|id| id.split_once(':'))
        .filter(|(_, s)| !s.is_empty());
    let Some((_, session_name)) = session else {
        return (
            Reach::IssuedBefore {
                time: planned_at.to_owned(),
            },
            "the finding names no session: deny every session of the role issued before now; its healthy \
             holders must take new credentials (EC2 and Lambda do so on their own)"
                .to_owned(),
        );
    };
    let user_id = principal_id.unwrap_or_default().to_owned();
    let partition = principal
        .arn
        .as_deref()
        .and_then(|arn| arn.split(':').nth(1))
        .filter(|p| !p.is_empty());
    if is_instance_id(session_name)
        && let (Some(partition), Some(region), Some(account)) =
            (partition, incident.region.as_deref(), incident.account.as_deref())
    {
        let instance_arn = format!("arn:{partition}:ec2:{region}:{account}:instance/{session_name}");
        return (
            Reach::Instance { instance_arn },
            format!(
                "the session is EC2 instance {session_name}'s: deny the credentials EC2 issued to that instance, \
                 wherever they are used; other instances with the role keep working"
            ),
        );
    }
    (
        Reach::Session { user_id },
        format!("deny exactly the session {session_name}; every other session of the role keeps working"),
    )
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::time::SystemTime;

    use super::*;
    use crate::observation::*;
    use crate::plan::fixtures::{actions, planned, policy};
    use crate::plan::{Plan, Reach, Step};
    use crate::policy::Playbook;

    #[test]
    fn credential_plans_round_trip_through_json() {
        let event = serde_json::json!({
            "id": "f2", "type": "UnauthorizedAccess:IAMUser/MaliciousIPCaller", "severity": 8,
            "resource": {"resourceType": "AccessKey", "accessKeyDetails": {
                "accessKeyId": "AKIA1", "userName": "alice", "userType": "IAMUser"}}
        });
        let incident = crate::intake::parse(&event).unwrap().incident().unwrap();
        let principal = PrincipalState {
            name: "alice".into(),
            tags: Some(BTreeMap::new()),
            ..PrincipalState::default()
        };
        let plan = planned(
            &incident,
            &Observation::Principal(Box::new(principal)),
            &policy(false),
            SystemTime::UNIX_EPOCH,
        );
        assert_eq!(
            actions(&plan),
            [
                "record-evidence",
                "deactivate-access-key",
                "deny-all-user",
                "timeline",
                "sweep-persistence",
                "page",
                "page-update"
            ]
        );
        // Containment first; the timeline, the sweep and the pages each once the one before is done.
        assert_eq!(plan.stages(), [0..3, 3..4, 4..5, 5..6, 6..7]);
        let json = serde_json::to_string(&plan).unwrap();
        assert_eq!(serde_json::from_str::<Plan>(&json).unwrap(), plan);
    }

    fn key_finding(user_type: &str, name: &str, key: &str, principal_id: Option<&str>) -> Incident {
        let event = serde_json::json!({
            "id": "f4", "type": "UnauthorizedAccess:IAMUser/InstanceCredentialExfiltration.OutsideAWS",
            "severity": 8, "accountId": "123456789012", "region": "eu-west-1",
            "resource": {"resourceType": "AccessKey", "accessKeyDetails": {
                "accessKeyId": key, "userName": name, "userType": user_type, "principalId": principal_id}}
        });
        crate::intake::parse(&event).unwrap().incident().unwrap()
    }

    fn denied(incident: &Incident, kind: PrincipalKind) -> (Vec<&'static str>, Option<Reach>, String) {
        let principal = PrincipalState {
            kind,
            name: "web-role".into(),
            arn: Some("arn:aws-cn:iam::123456789012:role/web-role".into()),
            tags: Some(BTreeMap::new()),
            ..PrincipalState::default()
        };
        let plan = planned(
            incident,
            &Observation::Principal(Box::new(principal)),
            &policy(false),
            SystemTime::UNIX_EPOCH,
        );
        let reach = plan.steps.iter().find_map(|s| match &s.step {
            Step::DenyAllUser { reach, .. } | Step::RevokeRoleSessions { reach, .. } => Some(reach.clone()),
            _ => None,
        });
        (actions(&plan), reach, plan.reason)
    }

    #[test]
    fn a_role_deny_reaches_exactly_the_credentials_the_finding_names() {
        // An instance's credentials: that instance only, in the finding's partition, region
        // and account.
        let (_, reach, why) = denied(
            &key_finding("AssumedRole", "web-role", "ASIA1", Some("AROA1:i-0123456789abcdef0")),
            PrincipalKind::Role,
        );
        assert_eq!(
            reach,
            Some(Reach::Instance {
                instance_arn: "arn:aws-cn:ec2:eu-west-1:123456789012:instance/i-0123456789abcdef0".into()
            })
        );
        assert!(why.contains("ec2:SourceInstanceARN"), "{why}");
        // A person's session: exactly that session.
        let (_, reach, why) = denied(
            &key_finding("AssumedRole", "web-role", "ASIA1", Some("AROA1:alice@example.com")),
            PrincipalKind::Role,
        );
        assert_eq!(
            reach,
            Some(Reach::Session {
                user_id: "AROA1:alice@example.com".into()
            })
        );
        assert!(why.contains("aws:userid"), "{why}");
        // No session named: every session issued before now, and the page says what that costs.
        for principal_id in [None, Some("AROA1"), Some("AROA1:")] {
            let (_, reach, why) = denied(
                &key_finding("AssumedRole", "web-role", "ASIA1", principal_id),
                PrincipalKind::Role,
            );
            assert_eq!(
                reach,
                Some(Reach::IssuedBefore {
                    time: "1970-01-01T00:00:00Z".into()
                }),
                "{principal_id:?}"
            );
            assert!(
                why.contains("names no session") && why.contains("healthy holders"),
                "{why}"
            );
        }
    }

    #[test]
    fn a_users_temporary_key_is_denied_by_issue_time_not_deactivated() {
        let (actions, reach, why) = denied(&key_finding("IAMUser", "alice", "ASIATEMP1", None), PrincipalKind::User);
        assert_eq!(
            actions,
            [
                "record-evidence",
                "deny-all-user",
                "timeline",
                "sweep-persistence",
                "page",
                "page-update"
            ]
        );
        assert_eq!(
            reach,
            Some(Reach::IssuedBefore {
                time: "1970-01-01T00:00:00Z".into()
            })
        );
        assert!(why.contains("temporary key"), "{why}");
        let (actions, reach, _) = denied(&key_finding("IAMUser", "alice", "AKIALONG1", None), PrincipalKind::User);
        assert_eq!(
            actions,
            [
                "record-evidence",
                "deactivate-access-key",
                "deny-all-user",
                "timeline",
                "sweep-persistence",
                "page",
                "page-update"
            ]
        );
        assert_eq!(reach, Some(Reach::Everything));
    }

    #[test]
    fn unreadable_tags_fail_closed() {
        let event = serde_json::json!({
            "id": "f3", "type": "UnauthorizedAccess:IAMUser/MaliciousIPCaller", "severity": 8,
            "resource": {"resourceType": "AccessKey", "accessKeyDetails": {"userName": "r", "userType": "AssumedRole"}}
        });
        let incident = crate::intake::parse(&event).unwrap().incident().unwrap();
        let principal = PrincipalState {
            kind: PrincipalKind::Role,
            name: "r".into(),
            tags_error: Some("AccessDenied".into()),
            ..PrincipalState::default()
        };
        let plan = planned(
            &incident,
            &Observation::Principal(Box::new(principal)),
            &policy(false),
            SystemTime::UNIX_EPOCH,
        );
        assert_eq!(plan.playbook, Playbook::PageOnly);
        assert!(
            plan.reason.contains("could not be read (AccessDenied)"),
            "{}",
            plan.reason
        );
    }
}
