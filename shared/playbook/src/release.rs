//! Release from quarantine, invoked by hand: the request, whether its incident contained the
//! instance or principal, and what changed since. The responder runs the release plan like
//! any other.

use serde_json::Value;

use crate::error::Error;
use crate::intake::IntakeError;
use crate::ledger::Stored;
use std::collections::BTreeSet;

use crate::actions::iam;
use crate::names;
use crate::observation::{FunctionState, InstanceState, Observation, PrincipalKind};
use crate::plan::{Plan, Step};
use crate::policy::Playbook;
use crate::target::Place;

/// What a release undoes: an instance's quarantine, or the deny policies (and, if asked,
/// the deactivated keys) of a user or role.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Subject {
    Instance(String),
    User(String),
    Role(String),
    /// A Lambda function, by name or ARN.
    Function(String),
}

impl Subject {
    /// `i-0abc`, `user alice`, `role web`: for refusals and logs.
    #[must_use]
    pub fn label(&self) -> String {
        match self {
            Subject::Instance(id) => id.clone(),
            Subject::User(name) => format!("user {name}"),
            Subject::Role(name) => format!("role {name}"),
            Subject::Function(name) => format!("function {name}"),
        }
    }
}

/// `{"instance_id": "i-..."}`, `{"user_name": "..."}`, `{"role_name": "..."}` or
/// `{"function_name": "..."}`, with `"incident_id"`, `"account"`, `"region"` and
/// `"force": true` optional, and for a user `"reactivate_keys": true`. Only an instance
/// carries a quarantine tag, so any other release names the incident (its page gives the
/// request). `force` releases what changed since its
/// containment (recorded).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReleaseRequest {
    pub subject: Subject,
    pub incident_id: Option<String>,
    pub account: Option<String>,
    pub region: Option<String>,
    pub force: bool,
    /// Set the keys the incident deactivated Active again (users only; AWS advises against it).
    pub reactivate_keys: bool,
}

impl ReleaseRequest {
    /// Reads a release request; a malformed one names the field.
    pub fn parse(request: &Value) -> Result<Self, IntakeError> {
        let invalid = |path: &str, reason: String| IntakeError::Invalid {
            path: path.to_owned(),
            reason,
        };
        let text = |key: &str| match request.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) if !s.trim().is_empty() => Ok(Some(s.trim().to_owned())),
            Some(_) => Err(invalid(key, "expected a non-empty string".to_owned())),
        };
        let flag = |key: &str| match request.get(key) {
            None | Some(Value::Null) => Ok(false),
            Some(Value::Bool(set)) => Ok(*set),
            Some(_) => Err(invalid(key, "expected true or false".to_owned())),
        };
        if !request.is_object() {
            return Err(invalid(
                "",
                "a release request is an object: {\"instance_id\": \"i-...\"}, {\"user_name\": ...} or \
                 {\"role_name\": ...}"
                    .to_owned(),
            ));
        }
        let named = [
            ("instance_id", text("instance_id")?),
            ("user_name", text("user_name")?),
            ("role_name", text("role_name")?),
            ("function_name", text("function_name")?),
        ];
        let mut given = named.into_iter().filter_map(|(key, value)| Some((key, value?)));
        let subject = match (given.next(), given.next()) {
            (None, _) => {
                return Err(IntakeError::Missing {
                    path: "instance_id".to_owned(),
                });
            }
            (Some((key, _)), Some(_)) => {
                return Err(invalid(
                    key,
                    "name one of instance_id, user_name, role_name and function_name".to_owned(),
                ));
            }
            (Some(("instance_id", id)), None) => {
                if !id.starts_with("i-") || !id[2..].bytes().all(|b| b.is_ascii_alphanumeric()) {
                    return Err(invalid("instance_id", format!("{id:?} is not an instance id")));
                }
                Subject::Instance(id)
            }
            (Some(("user_name", name)), None) => Subject::User(checked_name("user_name", name, 128, "_+=,.@-")?),
            (Some(("role_name", name)), None) => Subject::Role(checked_name("role_name", name, 128, "_+=,.@-")?),
            // A name (letters, digits, - and _) or an ARN: Lambda takes both.
            (Some((_, name)), None) => Subject::Function(checked_name("function_name", name, 170, "-_:.$")?),
        };
        let account = text("account")?;
        if let Some(account) = &account
            && !(account.len() == 12 && account.bytes().all(|b| b.is_ascii_digit()))
        {
            return Err(invalid("account", format!("{account:?} is not a 12-digit account id")));
        }
        let incident_id = text("incident_id")?;
        if incident_id.is_none() && !matches!(subject, Subject::Instance(_)) {
            return Err(invalid(
                "incident_id",
                "only an instance carries a quarantine tag: name the incident whose containment to undo (its \
                 page gives the request)"
                    .to_owned(),
            ));
        }
        let reactivate_keys = flag("reactivate_keys")?;
        if reactivate_keys && !matches!(subject, Subject::User(_)) {
            return Err(invalid(
                "reactivate_keys",
                "only a user's release reactivates keys".to_owned(),
            ));
        }
        Ok(ReleaseRequest {
            subject,
            incident_id,
            account,
            region: text("region")?,
            force: flag("force")?,
            reactivate_keys,
        })
    }

    /// The refusal of this request, for `reason`.
    #[must_use]
    pub fn refuse(&self, reason: &str) -> Error {
        Error::NotQuarantined {
            subject: self.subject.label(),
            reason: reason.to_owned(),
        }
    }

    /// The instance the request names, if it names one.
    #[must_use]
    pub fn instance_id(&self) -> Option<&str> {
        match &self.subject {
            Subject::Instance(id) => Some(id),
            Subject::User(_) | Subject::Role(_) | Subject::Function(_) => None,
        }
    }
}

/// A name of at most `max` letters, digits and `others`, or the field's error.
fn checked_name(path: &str, name: String, max: usize, others: &str) -> Result<String, IntakeError> {
    if name.len() <= max && name.chars().all(|c| c.is_ascii_alphanumeric() || others.contains(c)) {
        Ok(name)
    } else {
        Err(IntakeError::Invalid {
            path: path.to_owned(),
            reason: format!("{name:?} is not a valid {}", path.replace('_', " ")),
        })
    }
}

/// What the incident left that a release undoes, as it was before the containment.
#[derive(Debug, Clone, PartialEq)]
pub enum Contained {
    /// The quarantined instance as it was before.
    Instance(Box<InstanceState>),
    /// The throttled function as it was before.
    Function(Box<FunctionState>),
    /// A user or role; the plan names its deny policies and keys.
    Principal,
}

impl Contained {
    /// The containment steps of which at least one must be done for there to be anything to
    /// undo: a held or dry-run plan changed nothing.
    #[must_use]
    pub fn done_by(&self) -> &'static [&'static str] {
        match self {
            Contained::Instance(_) => &[crate::plan::ISOLATE_ACTION],
            Contained::Function(_) => &["throttle-function"],
            Contained::Principal => &["deny-all-user", "revoke-role-sessions", "deactivate-access-key"],
        }
    }
}

/// The incident's record and what it contained, if incident `incident_id` (as the ledger holds
/// it) contained what the request names: quarantined the instance, throttled the function, or
/// put a deny policy on the user or role (or deactivated one of its keys).
pub fn contained(
    stored: Option<Stored>,
    incident_id: &str,
    request: &ReleaseRequest,
) -> Result<(Stored, Contained), Error> {
    let stored = recorded(stored, incident_id, request)?;
    let refused = |what: &str| request.refuse(&format!("incident {incident_id} {what}"));
    let contained = match (&request.subject, &stored.plan.observation) {
        (Subject::Instance(id), Observation::Instance(before))
            if stored.plan.playbook == Playbook::Ec2Compromise && &before.instance_id == id =>
        {
            Contained::Instance(before.clone())
        }
        // An attack sequence's instances, each quarantined by the one plan of the sequence.
        (Subject::Instance(id), Observation::Sequence { members })
            if stored.plan.playbook == Playbook::AttackSequence =>
        {
            match members.iter().find_map(|m| match m {
                Observation::Instance(before) if &before.instance_id == id => Some(before),
                _ => None,
            }) {
                Some(before) => Contained::Instance(before.clone()),
                None => return Err(refused(&format!("did not quarantine {id}"))),
            }
        }
        (Subject::Instance(id), _) => return Err(refused(&format!("did not quarantine {id}"))),
        (Subject::Function(name), Observation::Function(before))
            if stored.plan.playbook == Playbook::LambdaCompromise
                && (&before.name == name || before.arn.as_ref() == Some(name)) =>
        {
            Contained::Function(before.clone())
        }
        (Subject::Function(name), _) => return Err(refused(&format!("did not throttle {name}"))),
        (Subject::User(_) | Subject::Role(_), _)
            if !undo(&stored.plan, &request.subject).is_empty()
                || !deactivated(&stored.plan, &request.subject).is_empty() =>
        {
            Contained::Principal
        }
        (Subject::User(_) | Subject::Role(_), _) => {
            return Err(refused("put no deny policy on it and deactivated none of its keys"));
        }
    };
    Ok((stored, contained))
}

/// The record of incident `incident_id`, refused when there is none or it happened elsewhere
/// than the request says.
fn recorded(stored: Option<Stored>, incident_id: &str, request: &ReleaseRequest) -> Result<Stored, Error> {
    let stored = stored
        .ok_or_else(|| request.refuse(&format!("incident {incident_id} has no record in the evidence bucket")))?;
    // The request may name the account and region; the record says where the incident was.
    let home = Place {
        account: String::new(),
        region: String::new(),
        home: true,
        role_arn: None,
        dry_run: false,
    };
    let place = stored.plan.place.as_ref().unwrap_or(&home);
    let named = |asked: Option<&String>, recorded: &str| asked.is_none_or(|a| recorded.is_empty() || a == recorded);
    let there = |place: &Place| {
        named(request.account.as_ref(), &place.account) && named(request.region.as_ref(), &place.region)
    };
    // An attack sequence's members may be elsewhere: each step says where it acted.
    if !there(place) && !stored.plan.steps.iter().filter_map(|s| s.place.as_ref()).any(there) {
        return Err(request.refuse(&format!(
            "incident {incident_id} contained it in {}, not where the request says",
            place.label()
        )));
    }
    Ok(stored)
}

/// Where `contained` contained `subject`, when not where the plan acts: a member of an attack
/// sequence in another account or region. A release acts there.
#[must_use]
pub fn where_contained(contained: &Plan, subject: &Subject) -> Option<Place> {
    contained.steps.iter().find_map(|planned| {
        let named = match (&planned.step, subject) {
            (Step::IsolateInterfaces { instance_id, .. }, Subject::Instance(id)) => instance_id == id,
            (
                Step::DenyAllUser { user_name, .. } | Step::DeactivateAccessKey { user_name, .. },
                Subject::User(name),
            ) => user_name == name,
            (Step::RevokeRoleSessions { role_name, .. }, Subject::Role(name)) => role_name == name,
            _ => false,
        };
        planned.place.clone().filter(|_| named)
    })
}

/// The deny policies `contained` put on `subject` (a user or role): kind, name, policy name.
#[must_use]
pub fn undo(contained: &Plan, subject: &Subject) -> Vec<(PrincipalKind, String, String)> {
    contained
        .steps
        .iter()
        .filter_map(|planned| match (&planned.step, subject) {
            (Step::DenyAllUser { user_name, reach }, Subject::User(name)) if user_name == name => {
                Some((PrincipalKind::User, name.clone(), iam::policy_name(reach)))
            }
            (Step::RevokeRoleSessions { role_name, reach }, Subject::Role(name)) if role_name == name => {
                Some((PrincipalKind::Role, name.clone(), iam::policy_name(reach)))
            }
            _ => None,
        })
        .collect()
}

/// The keys `contained` deactivated, if `subject` is their user.
#[must_use]
pub fn deactivated(contained: &Plan, subject: &Subject) -> Vec<String> {
    contained
        .steps
        .iter()
        .filter_map(|planned| match (&planned.step, subject) {
            (
                Step::DeactivateAccessKey {
                    user_name,
                    access_key_id,
                },
                Subject::User(name),
            ) if user_name == name => Some(access_key_id.clone()),
            _ => None,
        })
        .collect()
}

/// What changed on a contained user or role since the containment, as found `now`: each deny
/// policy the incident put is still there; for a user, each key it deactivated is still
/// inactive and no key was created since. Empty when nothing did.
#[must_use]
pub fn principal_drift(contained: &Plan, subject: &Subject, now: &Observation) -> Vec<String> {
    let now = match now {
        Observation::Principal(now) => now,
        Observation::Unavailable { code, message } => {
            return vec![format!("it could not be described ({code}: {message})")];
        }
        _ => return vec!["it was not described".to_owned()],
    };
    let mut changes: Vec<String> = undo(contained, subject)
        .into_iter()
        .filter(|(_, _, policy)| !now.inline_policies.contains(policy))
        .map(|(_, _, policy)| format!("its deny policy {policy} is gone"))
        .collect();
    for key in deactivated(contained, subject) {
        match now.access_keys.iter().find(|k| k.access_key_id == key) {
            Some(found) if found.status.as_deref() == Some("Inactive") => {}
            Some(found) => changes.push(format!(
                "key {key} is {} again",
                found.status.as_deref().unwrap_or("of unknown status")
            )),
            None => changes.push(format!("key {key} was deleted")),
        }
    }
    if let Observation::Principal(before) = &contained.observation {
        changes.extend(
            now.access_keys
                .iter()
                .filter(|k| !before.access_keys.iter().any(|b| b.access_key_id == k.access_key_id))
                .map(|k| format!("key {} was created since the containment", k.access_key_id)),
        );
    }
    changes
}

/// What changed on a quarantined instance since the quarantine left it, as found `now`:
/// every interface on its VPC's isolation group alone, the same interfaces, no Elastic IP,
/// the quarantine tag. Empty when nothing did. A release over such a change would undo a
/// person's (or an attacker's) later work without anyone noticing.
#[must_use]
pub fn drift(before: &InstanceState, now: &Observation) -> Vec<String> {
    let now = match now {
        Observation::Instance(now) => now,
        Observation::Unavailable { code, message } => {
            return vec![format!("the instance could not be described ({code}: {message})")];
        }
        _ => return vec!["the instance was not described".to_owned()],
    };
    let mut changes = Vec::new();
    for interface in &now.interfaces {
        let isolation = now
            .quarantine_groups
            .get(&interface.vpc_id)
            .and_then(|g| g.isolation.as_deref());
        let groups: Vec<&str> = interface.groups.iter().map(|g| g.id.as_str()).collect();
        if isolation.is_none_or(|isolation| groups != [isolation]) {
            changes.push(format!(
                "{} carries {groups:?}, not the isolation group alone",
                interface.id
            ));
        }
    }
    let ids = |state: &InstanceState| state.interfaces.iter().map(|i| i.id.clone()).collect::<BTreeSet<_>>();
    let (then, current) = (ids(before), ids(now));
    changes.extend(current.difference(&then).map(|id| format!("{id} was attached since")));
    changes.extend(then.difference(&current).map(|id| format!("{id} was detached since")));
    changes.extend(now.addresses.iter().map(|a| {
        format!(
            "Elastic IP {} is associated again",
            a.public_ip.as_deref().unwrap_or("?")
        )
    }));
    if !now.tags.contains_key(names::QUARANTINED_AT_TAG) {
        changes.push(format!("its {} tag is gone", names::QUARANTINED_AT_TAG));
    }
    changes
}

/// The one incident whose tag the requested instance carries among the places looked in
/// (`candidates`: place and incident id); refused when none or several do, naming them.
pub fn one_incident(
    request: &ReleaseRequest,
    searched: &[Place],
    candidates: &[(Place, String)],
) -> Result<String, Error> {
    match candidates {
        [] => Err(request.refuse(&format!(
            "it carries no tourniquet:incident-id tag in {} (or is not there); name the incident, or \
             the account and region",
            searched.iter().map(Place::label).collect::<Vec<_>>().join("; ")
        ))),
        [(_, incident_id)] => Ok(incident_id.clone()),
        several => Err(request.refuse(&format!(
            "the instance id is ambiguous; name the account (or the incident) of one of: {}",
            several
                .iter()
                .map(|(place, incident)| format!("{} (incident {incident})", place.label()))
                .collect::<Vec<_>>()
                .join("; ")
        ))),
    }
}

/// What changed on a throttled function since the throttle left it, as found `now`: its
/// reserved concurrency is no longer 0, or its code changed. Empty when nothing did.
#[must_use]
pub fn function_drift(before: &FunctionState, now: &Observation) -> Vec<String> {
    let now = match now {
        Observation::Function(now) => now,
        Observation::Unavailable { code, message } => {
            return vec![format!("the function could not be described ({code}: {message})")];
        }
        _ => return vec!["the function was not described".to_owned()],
    };
    let mut changes = Vec::new();
    if now.reserved_concurrency != Some(0) {
        changes.push(match now.reserved_concurrency {
            Some(n) => format!("its reserved concurrency is {n}, not 0"),
            None => "its reserved concurrency was removed".to_owned(),
        });
    }
    if now.code_sha256 != before.code_sha256 {
        changes.push(format!(
            "its code changed (SHA-256 {} then, {} now)",
            before.code_sha256.as_deref().unwrap_or("?"),
            now.code_sha256.as_deref().unwrap_or("?")
        ));
    }
    changes
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::observation::PrincipalState;
    use serde_json::json;

    #[test]
    fn release_requests() {
        assert_eq!(
            ReleaseRequest::parse(&json!({"instance_id": "i-0abc"})),
            Ok(ReleaseRequest {
                subject: Subject::Instance("i-0abc".into()),
                incident_id: None,
                account: None,
                region: None,
                force: false,
                reactivate_keys: false,
            })
        );
        let member =
            ReleaseRequest::parse(&json!({"instance_id": "i-0abc", "account": "222222222222", "region": "eu-west-1"}))
                .unwrap();
        assert_eq!(member.account.as_deref(), Some("222222222222"));
        assert_eq!(member.region.as_deref(), Some("eu-west-1"));
        assert_eq!(
            ReleaseRequest::parse(&json!({"instance_id": "i-0abc", "incident_id": "guardduty-1"}))
                .map(|r| r.incident_id),
            Ok(Some("guardduty-1".into()))
        );
        let user = ReleaseRequest::parse(
            &json!({"user_name": "alice", "incident_id": "guardduty-1", "reactivate_keys": true, "force": true}),
        )
        .unwrap();
        assert_eq!(
            (user.subject, user.reactivate_keys, user.force),
            (Subject::User("alice".into()), true, true)
        );
        assert_eq!(
            ReleaseRequest::parse(&json!({"role_name": "web-tier", "incident_id": "guardduty-1"})).map(|r| r.subject),
            Ok(Subject::Role("web-tier".into()))
        );
        assert_eq!(
            ReleaseRequest::parse(&json!({"function_name": "resizer", "incident_id": "guardduty-1"}))
                .map(|r| r.subject),
            Ok(Subject::Function("resizer".into()))
        );
        for (bad, field) in [
            (json!({}), "instance_id"),
            (json!({"instance_id": 7}), "instance_id"),
            (json!({"instance_id": "vol-1"}), "instance_id"),
            (json!({"instance_id": "i-0abc", "force": "yes"}), "force"),
            (json!([]), ""),
            (json!({"instance_id": "i-0abc", "account": "2222"}), "account"),
            // A principal carries no quarantine tag to find its incident by.
            (json!({"user_name": "alice"}), "incident_id"),
            (
                json!({"user_name": "alice", "role_name": "web", "incident_id": "x"}),
                "user_name",
            ),
            (json!({"user_name": "a b", "incident_id": "x"}), "user_name"),
            (
                json!({"role_name": "web", "incident_id": "x", "reactivate_keys": true}),
                "reactivate_keys",
            ),
            (
                json!({"user_name": "alice", "incident_id": "x", "reactivate_keys": 1}),
                "reactivate_keys",
            ),
        ] {
            let err = ReleaseRequest::parse(&bad).unwrap_err();
            let path = match &err {
                IntakeError::Invalid { path, .. } | IntakeError::Missing { path } => path.clone(),
                other => panic!("{bad}: {other:?}"),
            };
            assert_eq!(path, field, "{bad}: {err}");
        }
    }

    fn credential_plan(before: PrincipalState) -> Plan {
        let step = |step| crate::plan::PlannedStep {
            place: None,
            step,
            reason: String::new(),
        };
        Plan {
            incident_id: "guardduty-1".into(),
            playbook: Playbook::CredentialCompromise,
            dry_run: false,
            reason: String::new(),
            planned_at: String::new(),
            observation: Observation::Principal(Box::new(before)),
            critical: false,
            hold: None,
            place: None,
            steps: vec![
                step(Step::DeactivateAccessKey {
                    user_name: "alice".into(),
                    access_key_id: "AKIA1".into(),
                }),
                step(Step::DenyAllUser {
                    user_name: "alice".into(),
                    reach: crate::plan::Reach::Everything,
                }),
                step(Step::Page),
            ],
        }
    }

    #[test]
    fn principal_drift_names_every_change_since_the_containment() {
        use crate::observation::AccessKeyState;
        let key = |id: &str, status: &str| AccessKeyState {
            access_key_id: id.into(),
            status: Some(status.into()),
            created: None,
        };
        let before = PrincipalState {
            name: "alice".into(),
            access_keys: vec![key("AKIA1", "Active"), key("AKIA2", "Active")],
            ..PrincipalState::default()
        };
        let contained = credential_plan(before.clone());
        let alice = Subject::User("alice".into());
        assert_eq!(
            undo(&contained, &alice),
            [(
                PrincipalKind::User,
                "alice".to_owned(),
                "tourniquet-deny-all".to_owned()
            )]
        );
        assert!(undo(&contained, &Subject::User("bob".into())).is_empty());
        assert!(undo(&contained, &Subject::Role("alice".into())).is_empty());
        assert_eq!(deactivated(&contained, &alice), ["AKIA1"]);

        let mut now = PrincipalState {
            access_keys: vec![key("AKIA1", "Inactive"), key("AKIA2", "Active")],
            inline_policies: vec!["tourniquet-deny-all".into()],
            ..before
        };
        let observed = |state: &PrincipalState| Observation::Principal(Box::new(state.clone()));
        assert!(principal_drift(&contained, &alice, &observed(&now)).is_empty());

        now.inline_policies.clear();
        now.access_keys = vec![key("AKIA1", "Active"), key("AKIA3", "Active")];
        assert_eq!(
            principal_drift(&contained, &alice, &observed(&now)),
            [
                "its deny policy tourniquet-deny-all is gone",
                "key AKIA1 is Active again",
                "key AKIA3 was created since the containment",
            ]
        );
        let gone = Observation::Unavailable {
            code: "NoSuchEntity".into(),
            message: "gone".into(),
        };
        assert!(principal_drift(&contained, &alice, &gone)[0].contains("NoSuchEntity"));
    }

    #[test]
    fn drift_names_every_change_since_the_quarantine() {
        use crate::observation::{AddressState, GroupRef, InterfaceState, QuarantineGroups};
        let interface = |id: &str, group: &str| InterfaceState {
            id: id.into(),
            vpc_id: "vpc-1".into(),
            groups: vec![GroupRef {
                id: group.into(),
                name: None,
            }],
            ..InterfaceState::default()
        };
        let before = InstanceState {
            instance_id: "i-1".into(),
            interfaces: vec![interface("eni-1", "sg-web"), interface("eni-2", "sg-app")],
            ..InstanceState::default()
        };
        let mut quarantined = InstanceState {
            interfaces: vec![interface("eni-1", "sg-iso"), interface("eni-2", "sg-iso")],
            quarantine_groups: [(
                "vpc-1".to_owned(),
                QuarantineGroups {
                    conversion: Some("sg-conv".into()),
                    isolation: Some("sg-iso".into()),
                },
            )]
            .into(),
            tags: [(names::QUARANTINED_AT_TAG.to_owned(), "2026-11-29T00:00:00Z".to_owned())].into(),
            ..before.clone()
        };
        let now = |state: &InstanceState| Observation::Instance(Box::new(state.clone()));
        assert!(drift(&before, &now(&quarantined)).is_empty());

        quarantined.interfaces[1] = interface("eni-2", "sg-web");
        quarantined.interfaces.push(interface("eni-3", "sg-iso"));
        quarantined.addresses.push(AddressState {
            public_ip: Some("203.0.113.7".into()),
            ..AddressState::default()
        });
        quarantined.tags.clear();
        let changes = drift(&before, &now(&quarantined));
        assert_eq!(
            changes,
            [
                "eni-2 carries [\"sg-web\"], not the isolation group alone",
                "eni-3 was attached since",
                "Elastic IP 203.0.113.7 is associated again",
                "its tourniquet:quarantined-at tag is gone",
            ]
        );
        let gone = Observation::Unavailable {
            code: "InvalidInstanceID.NotFound".into(),
            message: "gone".into(),
        };
        assert!(drift(&before, &gone)[0].contains("InvalidInstanceID.NotFound"));
    }

    #[test]
    fn an_ambiguous_instance_id_is_refused_with_the_candidates() {
        let request = ReleaseRequest::parse(&json!({"instance_id": "i-0abc"})).unwrap();
        let place = |account: &str| Place {
            account: account.to_owned(),
            region: "us-east-1".to_owned(),
            home: false,
            role_arn: None,
            dry_run: false,
        };
        let searched = [place("111111111111"), place("222222222222")];
        assert_eq!(
            one_incident(&request, &searched, &[(place("222222222222"), "guardduty-2".into())]).unwrap(),
            "guardduty-2"
        );
        let err = one_incident(
            &request,
            &searched,
            &[
                (place("111111111111"), "guardduty-1".into()),
                (place("222222222222"), "guardduty-2".into()),
            ],
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("ambiguous")
                && err.contains("account 111111111111, region us-east-1 (incident guardduty-1)")
                && err.contains("guardduty-2"),
            "{err}"
        );
        let none = one_incident(&request, &searched, &[]).unwrap_err().to_string();
        assert!(none.contains("111111111111") && none.contains("222222222222"), "{none}");
    }

    #[test]
    fn drift_names_a_lifted_throttle_and_new_code() {
        let before = FunctionState {
            name: "resizer".into(),
            code_sha256: Some("old".into()),
            ..FunctionState::default()
        };
        let throttled = FunctionState {
            reserved_concurrency: Some(0),
            ..before.clone()
        };
        let now = |state: &FunctionState| Observation::Function(Box::new(state.clone()));
        assert!(function_drift(&before, &now(&throttled)).is_empty());
        let changed = FunctionState {
            reserved_concurrency: None,
            code_sha256: Some("new".into()),
            ..before.clone()
        };
        assert_eq!(
            function_drift(&before, &now(&changed)),
            [
                "its reserved concurrency was removed",
                "its code changed (SHA-256 old then, new now)"
            ]
        );
    }
}
