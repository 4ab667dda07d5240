//! The one routing decision: page only and why, or which playbook acts and what it must look at.
//!
//! Pure, like the planner. The responder observes exactly what the target names and nothing
//! when it pages only; the planner consumes the target and the observation.

use std::borrow::Cow;

use serde::{Deserialize, Serialize};

use crate::incident::{Incident, Resource, Source, UserType};
use crate::place::Place;
use crate::policy::{Playbook, Policy, Routing};
use crate::securityhub::CustomAction;
use crate::settings::Scope;

mod buckets;
mod logging;
mod sequence;

pub use logging::LoggingLook;
pub use sequence::MemberLook;

/// What to do about an incident, before anything is looked at.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "target", rename_all = "kebab-case")]
pub enum Target {
    /// Page only, for this reason; `critical` pages as critical whatever the finding's
    /// severity (root credentials).
    PageOnly { reason: String, critical: bool },
    /// `playbook` acts in `place` once `look` has been observed there.
    Act {
        playbook: Playbook,
        look: Look,
        place: Place,
    },
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
    /// A Lambda function, its concurrency and tags, and its execution role's id.
    Function { function_name: String },
    /// An RDS DB instance and its tags.
    Database { db_instance_id: String },
    /// A bucket GuardDuty saw exposed: as [`Look::Bucket`], and its policy and ACL for the
    /// evidence.
    ExposedBucket { name: String },
    /// The account's S3 public access block (S3 Control).
    AccountBlock { account_id: String },
    /// Stopped audit logging, and the caller who stopped it (a [`Look::User`] or
    /// [`Look::Role`]) or why nobody is contained.
    Logging {
        logging: LoggingLook,
        actor: Option<Box<Look>>,
        unanswered: Option<String>,
    },
    /// Every member of an attack sequence a playbook answers, each with its own look; the
    /// other members, each with the reason the page alone names it.
    Sequence {
        members: Vec<MemberLook>,
        unanswered: Vec<String>,
    },
}

impl Target {
    fn page(reason: String) -> Self {
        Target::PageOnly {
            reason,
            critical: false,
        }
    }

    /// Where the playbook acts, if one does.
    #[must_use]
    pub fn place(&self) -> Option<&Place> {
        match self {
            Target::Act { place, .. } => Some(place),
            Target::PageOnly { .. } => None,
        }
    }

    /// Whether a playbook acts in a dry-run account (`TOURNIQUET_DRY_RUN_ACCOUNTS`).
    #[must_use]
    pub fn dry_run_account(&self) -> bool {
        self.place().is_some_and(|p| p.dry_run)
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
    // A Security Hub finding not produced by AWS itself can never make Tourniquet act.
    if let Some(reason) = incident.security_hub.as_ref().and_then(|f| f.untrusted.as_ref()) {
        return Target::page(format!("{reason}; paging only"));
    }
    let playbook = match buckets::route(incident, policy) {
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
    let place = match place(incident.account.as_deref(), incident.region.as_deref(), policy) {
        Ok(place) => place,
        Err(reason) => return Target::page(reason),
    };
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
        (Playbook::BlockPublicBucket, Resource::Bucket { name }) if incident.source == Source::GuardDuty => {
            Look::ExposedBucket { name: name.clone() }
        }
        (Playbook::BlockPublicBucket | Playbook::EncryptBucket, Resource::Bucket { name }) => {
            Look::Bucket { name: name.clone() }
        }
        (Playbook::DeactivateStaleKeys, Resource::User { user_id }) => Look::UserById {
            user_id: user_id.clone(),
            rule: incident.finding_type.clone(),
        },
        (
            Playbook::LambdaCompromise,
            Resource::Other {
                resource_type,
                name: Some(name),
            },
        ) if resource_type == "Lambda" => Look::Function {
            function_name: name.clone(),
        },
        (
            Playbook::RdsCompromise,
            Resource::Other {
                resource_type,
                name: Some(name),
            },
        ) if resource_type == "RDSDBInstance" => Look::Database {
            db_instance_id: name.clone(),
        },
        (Playbook::AttackSequence, Resource::AttackSequence(sequence)) => sequence::look(sequence, &place, policy),
        (Playbook::RestoreAccountBlock, Resource::Bucket { .. }) if !place.account.is_empty() => Look::AccountBlock {
            account_id: place.account.clone(),
        },
        (Playbook::RestoreLogging, Resource::Logging(evasion)) => logging::look(evasion),
        (Playbook::PageOnly, _) => return Target::page("the policy routes this finding to a page".to_owned()),
        (playbook, resource) => {
            return Target::page(format!(
                "the {} playbook does not act on {} ({label}); paging only",
                playbook.as_str(),
                resource.kind().as_str()
            ));
        }
    };
    Target::Act { playbook, look, place }
}

/// Where an incident is acted on, or why it is not: its account (none named: the home
/// account) when in scope (`TOURNIQUET_ACCOUNTS`), and its region (none named: the home
/// region). Scope fails closed: an account not listed pages only, and nothing falls back to
/// the home account. A policy that does not know its own identity (a pure caller; the
/// responder always learns it first) plans as a single-account deployment: all is home.
pub fn place(account: Option<&str>, region: Option<&str>, policy: &Policy) -> Result<Place, String> {
    let home = policy.own_account();
    let account = account.or(home).unwrap_or_default();
    let at_home = home.is_none_or(|home| home == account);
    if !(account.is_empty() && at_home || account.len() == 12 && account.bytes().all(|b| b.is_ascii_digit())) {
        return Err(format!(
            "the finding names account {account:?}, which is not an account id; paging only"
        ));
    }
    if !at_home && !policy.accounts.admits(account) {
        return Err(format!(
            "the finding is from account {account}, which is not in TOURNIQUET_ACCOUNTS (this deployment acts in \
             its own account {}{}); add it there, with the member role deployed, to act on it; paging only",
            home.unwrap_or_default(),
            match &policy.accounts {
                Scope::Listed(accounts) => format!(
                    " and {}",
                    accounts.iter().map(String::as_str).collect::<Vec<_>>().join(", ")
                ),
                Scope::Home | Scope::Any => String::new(),
            }
        ));
    }
    let region = region
        .map(ToOwned::to_owned)
        .or_else(|| policy.home_region.clone())
        .unwrap_or_default();
    // No region named and none known (a pure caller): the home clients' own.
    let region_ok = region.is_empty() && at_home
        || (1..=32).contains(&region.len())
            && region
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    if !region_ok {
        return Err(format!(
            "the finding names region {region:?}, which is not a region name; paging only"
        ));
    }
    Ok(Place {
        account: account.to_owned(),
        region,
        home: at_home,
        role_arn: (!at_home).then(|| policy.member_role_arn(account)),
        dry_run: policy.dry_run_accounts.contains(account),
    })
}

/// The principal behind a key finding, or why it pages only.
// The error is the page-only target itself, made once per incident: boxing it buys nothing.
#[allow(clippy::result_large_err)]
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

/// The policy a finding is answered under: a person's "contain" acts at any severity (the
/// other guards stay), a person's "plan" changes nothing; any other finding the policy itself.
#[must_use]
pub fn policy_for<'a>(incident: &Incident, policy: &'a Policy) -> Cow<'a, Policy> {
    match incident.security_hub.as_ref().and_then(|f| f.action) {
        Some(CustomAction::Contain) => Cow::Owned(Policy {
            severity_threshold: 0.0,
            ..policy.clone()
        }),
        Some(CustomAction::Plan) => Cow::Owned(Policy {
            dry_run: true,
            ..policy.clone()
        }),
        None => Cow::Borrowed(policy),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::settings::Settings;

    fn policy() -> Policy {
        Policy::minimal()
    }

    fn key_finding(user_type: &str, user_name: Option<&str>) -> Incident {
        let event = serde_json::json!({
            "id": "f", "type": "UnauthorizedAccess:IAMUser/MaliciousIPCaller", "severity": 8,
            "resource": {"resourceType": "AccessKey", "accessKeyDetails": {
                "accessKeyId": "AKIA1", "userName": user_name, "userType": user_type}}
        });
        crate::intake::parse(&event).unwrap().incident().unwrap()
    }

    fn home() -> Place {
        Place {
            account: String::new(),
            region: String::new(),
            home: true,
            role_arn: None,
            dry_run: false,
        }
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
                },
                place: home(),
            }
        );
        assert_eq!(
            target(&key_finding("AssumedRole", Some("Admin")), &policy),
            Target::Act {
                playbook: Playbook::CredentialCompromise,
                look: Look::Role {
                    role_name: "Admin".into()
                },
                place: home(),
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

    fn organization(accounts: &str, dry_run_accounts: &str) -> Policy {
        let settings = Settings::from_lookup(|var| match var {
            "TOURNIQUET_TOPIC_ARN" => Some("arn:aws:sns:us-east-1:111111111111:pages".into()),
            "TOURNIQUET_EVIDENCE_BUCKET" => Some("evidence".into()),
            "TOURNIQUET_ACCOUNTS" => Some(accounts.into()),
            "TOURNIQUET_DRY_RUN_ACCOUNTS" => Some(dry_run_accounts.into()),
            _ => None,
        })
        .unwrap();
        Policy::new(&settings)
            .unwrap()
            .with_own_arn(Some(
                "arn:aws-cn:sts::111111111111:assumed-role/tourniquet-gd/fn".into(),
            ))
            .with_home_region(Some("cn-north-1".into()))
    }

    fn from(account: Option<&str>, region: Option<&str>) -> Incident {
        let mut incident = key_finding("IAMUser", Some("alice"));
        incident.account = account.map(ToOwned::to_owned);
        incident.region = region.map(ToOwned::to_owned);
        incident
    }

    #[test]
    fn the_place_is_the_incidents_account_and_region_in_scope() {
        let policy = organization("222222222222", "");
        let place = |incident: &Incident| target(incident, &policy).place().cloned();
        let home = place(&from(None, None)).unwrap();
        assert_eq!(
            (home.account.as_str(), home.region.as_str(), home.home, home.role_arn),
            ("111111111111", "cn-north-1", true, None)
        );
        let member = place(&from(Some("222222222222"), Some("cn-northwest-1"))).unwrap();
        assert_eq!(
            (member.account.as_str(), member.region.as_str(), member.home),
            ("222222222222", "cn-northwest-1", false)
        );
        assert_eq!(
            member.role_arn.as_deref(),
            Some("arn:aws-cn:iam::222222222222:role/tourniquet-member"),
            "the partition is the responder's own"
        );
        assert!(!member.dry_run);
        // Out of scope: page only, saying why; nothing falls back to home.
        match target(&from(Some("333333333333"), None), &policy) {
            Target::PageOnly { reason, .. } => {
                assert!(
                    reason.contains("333333333333") && reason.contains("not in TOURNIQUET_ACCOUNTS"),
                    "{reason}"
                );
            }
            other @ Target::Act { .. } => panic!("{other:?}"),
        }
        for (account, region) in [(Some("22222222222x"), None), (None, Some("../evil"))] {
            assert!(
                target(&from(account, region), &policy).place().is_none(),
                "{account:?} {region:?}"
            );
        }
    }

    #[test]
    fn scope_defaults_to_home_and_star_admits_any_account() {
        let home_only = policy().with_own_arn(Some("arn:aws:sts::111111111111:assumed-role/r/fn".into()));
        assert!(target(&from(Some("222222222222"), None), &home_only).place().is_none());
        assert!(target(&from(Some("111111111111"), None), &home_only).place().is_some());
        let any = organization("*", "444444444444");
        let member = target(&from(Some("444444444444"), None), &any);
        assert!(member.dry_run_account(), "{member:?}");
        assert!(!target(&from(Some("555555555555"), None), &any).dry_run_account());
    }
}
