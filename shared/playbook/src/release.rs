//! Release from quarantine, invoked by hand: the request, and whether its incident quarantined
//! the instance. The responder runs the release plan like any other.

use serde_json::Value;

use crate::error::Error;
use crate::intake::IntakeError;
use crate::ledger::Stored;
use std::collections::BTreeSet;

use crate::names;
use crate::observation::{InstanceState, Observation};
use crate::policy::Playbook;
use crate::target::Place;

/// `{"instance_id": "i-...", "incident_id": "...", "account": "...", "region": "...",
/// "force": true}`; all but the instance optional: the incident's record names its account and
/// region, and `force` releases an instance that changed since its quarantine (recorded).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReleaseRequest {
    pub instance_id: String,
    pub incident_id: Option<String>,
    pub account: Option<String>,
    pub region: Option<String>,
    pub force: bool,
}

impl ReleaseRequest {
    /// Reads a release request; a malformed one names the field.
    pub fn parse(request: &Value) -> Result<Self, IntakeError> {
        let text = |key: &str| match request.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) if !s.trim().is_empty() => Ok(Some(s.trim().to_owned())),
            Some(_) => Err(IntakeError::Invalid {
                path: key.to_owned(),
                reason: "expected a non-empty string".to_owned(),
            }),
        };
        if !request.is_object() {
            return Err(IntakeError::Invalid {
                path: String::new(),
                reason: "a release request is an object: {\"instance_id\": \"i-...\"}".to_owned(),
            });
        }
        let instance_id = text("instance_id")?.ok_or_else(|| IntakeError::Missing {
            path: "instance_id".to_owned(),
        })?;
        if !instance_id.starts_with("i-") || !instance_id[2..].bytes().all(|b| b.is_ascii_alphanumeric()) {
            return Err(IntakeError::Invalid {
                path: "instance_id".to_owned(),
                reason: format!("{instance_id:?} is not an instance id"),
            });
        }
        let account = text("account")?;
        if let Some(account) = &account
            && !(account.len() == 12 && account.bytes().all(|b| b.is_ascii_digit()))
        {
            return Err(IntakeError::Invalid {
                path: "account".to_owned(),
                reason: format!("{account:?} is not a 12-digit account id"),
            });
        }
        let force = match request.get("force") {
            None | Some(Value::Null) => false,
            Some(Value::Bool(force)) => *force,
            Some(_) => {
                return Err(IntakeError::Invalid {
                    path: "force".to_owned(),
                    reason: "expected true or false".to_owned(),
                });
            }
        };
        Ok(ReleaseRequest {
            instance_id,
            incident_id: text("incident_id")?,
            account,
            region: text("region")?,
            force,
        })
    }

    /// The refusal of this request, for `reason`.
    #[must_use]
    pub fn refuse(&self, reason: &str) -> Error {
        Error::NotQuarantined {
            instance_id: self.instance_id.clone(),
            reason: reason.to_owned(),
        }
    }
}

/// The incident's record and the instance as it was before the quarantine, if incident
/// `incident_id` (as the ledger holds it) quarantined the requested instance.
pub fn quarantined(
    stored: Option<Stored>,
    incident_id: &str,
    request: &ReleaseRequest,
) -> Result<(Stored, InstanceState), Error> {
    let instance_id = &request.instance_id;
    let stored = stored
        .ok_or_else(|| request.refuse(&format!("incident {incident_id} has no record in the evidence bucket")))?;
    let Observation::Instance(before) = &stored.plan.observation else {
        return Err(request.refuse(&format!("incident {incident_id} recorded no instance")));
    };
    if stored.plan.playbook != Playbook::Ec2Compromise || &before.instance_id != instance_id {
        return Err(request.refuse(&format!("incident {incident_id} did not quarantine {instance_id}")));
    }
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
    if !named(request.account.as_ref(), &place.account) || !named(request.region.as_ref(), &place.region) {
        return Err(request.refuse(&format!(
            "incident {incident_id} quarantined it in {}, not where the request says",
            place.label()
        )));
    }
    let before = (**before).clone();
    Ok((stored, before))
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

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn release_requests() {
        assert_eq!(
            ReleaseRequest::parse(&json!({"instance_id": "i-0abc"})),
            Ok(ReleaseRequest {
                instance_id: "i-0abc".into(),
                incident_id: None,
                account: None,
                region: None,
                force: false,
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
        for bad in [
            json!({}),
            json!({"instance_id": 7}),
            json!({"instance_id": "vol-1"}),
            json!({"instance_id": "i-0abc", "force": "yes"}),
            json!([]),
            json!({"instance_id": "i-0abc", "account": "2222"}),
        ] {
            assert!(ReleaseRequest::parse(&bad).is_err(), "{bad}");
        }
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
}
