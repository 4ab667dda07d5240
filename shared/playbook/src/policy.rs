//! The policy: a declarative routing table from finding to playbook, plus the guard settings.

use std::borrow::Cow;
use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::incident::{Incident, ResourceKind, Source};
use crate::settings::{Scope, Settings};

/// The playbooks Tourniquet can run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Playbook {
    /// Isolate an EC2 instance, snapshot its volumes, page.
    Ec2Compromise,
    /// Deactivate a leaked key and deny its user, or revoke a role's sessions; page.
    CredentialCompromise,
    /// Revoke a security group's ingress rules that are open to the world on disallowed ports.
    CloseOpenPorts,
    /// Put a public access block with all four settings on a bucket.
    BlockPublicBucket,
    /// Turn on a bucket's default encryption.
    EncryptBucket,
    /// Deactivate a user's access keys older than the rule allows.
    DeactivateStaleKeys,
    /// Record and page; change nothing.
    PageOnly,
    /// Undo an EC2 quarantine from its evidence (invoked by hand).
    Release,
    /// Keep a Lambda function's code in a version, throttle it to 0, deny its sessions.
    LambdaCompromise,
    /// Snapshot a database a suspicious login reached, and page; no isolation.
    RdsCompromise,
    /// An attack sequence: each actor's credentials, instance and public bucket it names,
    /// contained as one response.
    AttackSequence,
    /// Turn the account-level S3 public access block back on (all four settings).
    RestoreAccountBlock,
    /// Restart the audit logging an attacker stopped, contain who stopped it, state the gap.
    RestoreLogging,
}

impl Playbook {
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Playbook::Ec2Compromise => "ec2-compromise",
            Playbook::CredentialCompromise => "credential-compromise",
            Playbook::CloseOpenPorts => "close-open-ports",
            Playbook::BlockPublicBucket => "block-public-bucket",
            Playbook::EncryptBucket => "encrypt-bucket",
            Playbook::DeactivateStaleKeys => "deactivate-stale-keys",
            Playbook::PageOnly => "page-only",
            Playbook::Release => "release",
            Playbook::LambdaCompromise => "lambda-compromise",
            Playbook::RdsCompromise => "rds-compromise",
            Playbook::AttackSequence => "attack-sequence",
            Playbook::RestoreAccountBlock => "restore-account-block",
            Playbook::RestoreLogging => "restore-logging",
        }
    }
}

/// The lowest severity at which a route acts.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Floor {
    /// The deployment's `TOURNIQUET_SEVERITY_THRESHOLD`.
    Threshold,
    /// A fixed floor for this route.
    At(f64),
}

/// One row of the routing table.
#[derive(Debug, Clone, PartialEq)]
pub struct Route {
    pub source: Source,
    pub resource: ResourceKind,
    /// Finding type pattern (for Config, the rule name; for alarms, `CloudWatchAlarm/<name>`);
    /// `*` matches any run of characters.
    pub finding: Cow<'static, str>,
    pub floor: Floor,
    pub playbook: Playbook,
}

const fn guardduty(resource: ResourceKind, finding: &'static str, playbook: Playbook) -> Route {
    Route {
        source: Source::GuardDuty,
        resource,
        finding: Cow::Borrowed(finding),
        floor: Floor::Threshold,
        playbook,
    }
}

/// A GuardDuty route with a floor of its own.
const fn guardduty_at(resource: ResourceKind, finding: &'static str, floor: f64, playbook: Playbook) -> Route {
    Route {
        source: Source::GuardDuty,
        resource,
        finding: Cow::Borrowed(finding),
        floor: Floor::At(floor),
        playbook,
    }
}

/// Config routes match the managed rule's identifier anywhere in the rule name, since
/// conformance packs and Security Hub add prefixes and suffixes. Posture fixes are narrow and
/// reversible, so they act at any severity.
const fn config(resource: ResourceKind, finding: &'static str, playbook: Playbook) -> Route {
    Route {
        source: Source::Config,
        resource,
        finding: Cow::Borrowed(finding),
        floor: Floor::At(0.0),
        playbook,
    }
}

/// Security Hub control findings, by `SecurityControlId` (the finding type is
/// `<control>/<managed rule>`, see `intake/securityhub.rs`). Posture fixes, like Config's: any severity.
const fn control(resource: ResourceKind, finding: &'static str, playbook: Playbook) -> Route {
    Route {
        source: Source::SecurityHub,
        resource,
        finding: Cow::Borrowed(finding),
        floor: Floor::At(0.0),
        playbook,
    }
}

/// Which playbook answers which finding. First match wins; no match pages only. The alarm
/// route, whose pattern is a setting, is added by [`Policy::new`].
#[rustfmt::skip] // a table: one route a line
pub const ROUTES: &[Route] = &[
    // Any finding about an EC2 instance (backdoor, crypto mining, brute force, exfiltration...)
    // at or above the threshold: contain the instance.
    guardduty(ResourceKind::Instance, "*", Playbook::Ec2Compromise),
    // Findings about an access key, by GuardDuty's IAM finding families: revoke the credentials.
    guardduty(ResourceKind::AccessKey, "UnauthorizedAccess:IAMUser/*", Playbook::CredentialCompromise),
    guardduty(ResourceKind::AccessKey, "CredentialAccess:IAMUser/*", Playbook::CredentialCompromise),
    guardduty(ResourceKind::AccessKey, "Discovery:IAMUser/*", Playbook::CredentialCompromise),
    guardduty(ResourceKind::AccessKey, "Exfiltration:IAMUser/*", Playbook::CredentialCompromise),
    guardduty(ResourceKind::AccessKey, "Impact:IAMUser/*", Playbook::CredentialCompromise),
    guardduty(ResourceKind::AccessKey, "InitialAccess:IAMUser/*", Playbook::CredentialCompromise),
    guardduty(ResourceKind::AccessKey, "Persistence:IAMUser/*", Playbook::CredentialCompromise),
    guardduty(ResourceKind::AccessKey, "PrivilegeEscalation:IAMUser/*", Playbook::CredentialCompromise),
    guardduty(ResourceKind::AccessKey, "Stealth:IAMUser/*", Playbook::CredentialCompromise),
    guardduty(ResourceKind::AccessKey, "PenTest:IAMUser/*", Playbook::CredentialCompromise),
    guardduty(ResourceKind::AccessKey, "Policy:IAMUser/RootCredentialUsage", Playbook::CredentialCompromise),
    // A bucket GuardDuty says is or may become public: block public access (all four settings).
    // Narrow and reversible, like the posture fixes: at any severity; only these exposure
    // types block a bucket (a website bucket pages instead: plan::buckets).
    guardduty_at(ResourceKind::Bucket, "Policy:S3/BucketBlockPublicAccessDisabled", 0.0, Playbook::BlockPublicBucket),
    guardduty_at(ResourceKind::Bucket, "Policy:S3/BucketAnonymousAccessGranted", 0.0, Playbook::BlockPublicBucket),
    guardduty_at(ResourceKind::Bucket, "Policy:S3/BucketPublicAccessGranted", 0.0, Playbook::BlockPublicBucket),
    // The account-level block turned off: every bucket of the account may become public, and a
    // website may rely on it. At or above the threshold only; below, a page with the previous
    // setting (intake reads it) and the command that restores it.
    guardduty(ResourceKind::Bucket, "Policy:S3/AccountBlockPublicAccessDisabled", Playbook::RestoreAccountBlock),
    // Audit logging stopped (defense evasion): restart it as it was and contain who stopped it.
    // GuardDuty rates these low because a person may stop a trail on purpose; restarting is
    // narrow and safe, so at any severity. Those who manage trails belong on the protected
    // list: their containment is then listed, never done. Intake names the stopped trail; a
    // finding that names none is a key finding (the Stealth:IAMUser route below).
    guardduty_at(ResourceKind::Logging, "Stealth:IAMUser/CloudTrailLoggingDisabled", 0.0, Playbook::RestoreLogging),
    // The CIS alarms on CloudTrail and AWS Config changes (intake says which logging): every
    // trail or recorder of the region that was stopped records again.
    Route {
        source: Source::CloudWatch,
        resource: ResourceKind::Logging,
        finding: Cow::Borrowed("CloudWatchAlarm/*"),
        floor: Floor::At(0.0),
        playbook: Playbook::RestoreLogging,
    },
    // S3 findings whose IAM actor is at fault (intake names the actor): contain the actor; the
    // bucket is the victim and stays as it is.
    guardduty(ResourceKind::AccessKey, "Exfiltration:S3/*", Playbook::CredentialCompromise),
    guardduty(ResourceKind::AccessKey, "Impact:S3/*", Playbook::CredentialCompromise),
    guardduty(ResourceKind::AccessKey, "UnauthorizedAccess:S3/*", Playbook::CredentialCompromise),
    guardduty(ResourceKind::AccessKey, "Discovery:S3/*", Playbook::CredentialCompromise),
    guardduty(ResourceKind::AccessKey, "Stealth:S3/*", Playbook::CredentialCompromise),
    guardduty(ResourceKind::AccessKey, "PenTest:S3/*", Playbook::CredentialCompromise),
    // A compromised Lambda function (GuardDuty Lambda Protection): keep its code, throttle it,
    // deny its own sessions. Intake names the function as an Other resource of type Lambda.
    guardduty(ResourceKind::Other, "Backdoor:Lambda/*", Playbook::LambdaCompromise),
    guardduty(ResourceKind::Other, "CryptoCurrency:Lambda/*", Playbook::LambdaCompromise),
    guardduty(ResourceKind::Other, "Trojan:Lambda/*", Playbook::LambdaCompromise),
    guardduty(ResourceKind::Other, "UnauthorizedAccess:Lambda/*", Playbook::LambdaCompromise),
    // A suspicious login to a database (RDS Protection): snapshot it, tagged with the incident,
    // and page with the runbook; a database is never isolated automatically.
    guardduty(ResourceKind::Other, "CredentialAccess:RDS/*", Playbook::RdsCompromise),
    guardduty(ResourceKind::Other, "Discovery:RDS/*", Playbook::RdsCompromise),
    // An attack sequence (Extended Threat Detection): one response for every actor and
    // resource it names (target::sequence says which playbook answers each).
    guardduty(ResourceKind::AttackSequence, "AttackSequence:*", Playbook::AttackSequence),
    // A malicious S3 object (Malware Protection for S3): a page with bucket, key, version and
    // hash; the object is left alone (GuardDuty's scan tag marks it for the bucket's policy).
    guardduty_at(ResourceKind::Other, "Execution:S3/MaliciousFile", 0.0, Playbook::PageOnly),
    // AWS Config rules, by managed rule identifier.
    config(ResourceKind::SecurityGroup, "*restricted-ssh*", Playbook::CloseOpenPorts),
    config(ResourceKind::SecurityGroup, "*restricted-common-ports*", Playbook::CloseOpenPorts),
    config(ResourceKind::SecurityGroup, "*vpc-sg-open-only-to-authorized-ports*", Playbook::CloseOpenPorts),
    config(ResourceKind::SecurityGroup, "*vpc-default-security-group-closed*", Playbook::CloseOpenPorts),
    config(ResourceKind::Bucket, "*s3-bucket-public-read-prohibited*", Playbook::BlockPublicBucket),
    config(ResourceKind::Bucket, "*s3-bucket-public-write-prohibited*", Playbook::BlockPublicBucket),
    config(ResourceKind::Bucket, "*s3-bucket-level-public-access-prohibited*", Playbook::BlockPublicBucket),
    config(ResourceKind::Bucket, "*s3-bucket-server-side-encryption-enabled*", Playbook::EncryptBucket),
    config(ResourceKind::Bucket, "*s3-default-encryption-kms*", Playbook::EncryptBucket),
    // CloudTrail rules (intake reads the trails they judge): stopped trails log again, settings
    // that cannot be restored page with the command.
    config(ResourceKind::Logging, "*cloudtrail-enabled*", Playbook::RestoreLogging),
    config(ResourceKind::Logging, "*cloud-trail-log-file-validation-enabled*", Playbook::RestoreLogging),
    config(ResourceKind::User, "*access-keys-rotated*", Playbook::DeactivateStaleKeys),
    config(ResourceKind::User, "*iam-user-unused-credentials-check*", Playbook::DeactivateStaleKeys),
    // Security Hub controls (GuardDuty's findings through Security Hub use the routes above).
    control(ResourceKind::SecurityGroup, "EC2.2/*", Playbook::CloseOpenPorts),
    control(ResourceKind::SecurityGroup, "EC2.13/*", Playbook::CloseOpenPorts),
    control(ResourceKind::SecurityGroup, "EC2.14/*", Playbook::CloseOpenPorts),
    control(ResourceKind::SecurityGroup, "EC2.18/*", Playbook::CloseOpenPorts),
    control(ResourceKind::SecurityGroup, "EC2.19/*", Playbook::CloseOpenPorts),
    control(ResourceKind::Bucket, "S3.1/*", Playbook::BlockPublicBucket),
    control(ResourceKind::Bucket, "S3.2/*", Playbook::BlockPublicBucket),
    control(ResourceKind::Bucket, "S3.3/*", Playbook::BlockPublicBucket),
    control(ResourceKind::Bucket, "S3.8/*", Playbook::BlockPublicBucket),
    control(ResourceKind::User, "IAM.3/*", Playbook::DeactivateStaleKeys),
    control(ResourceKind::User, "IAM.22/*", Playbook::DeactivateStaleKeys),
    control(ResourceKind::Logging, "CloudTrail.1/*", Playbook::RestoreLogging),
    control(ResourceKind::Logging, "CloudTrail.4/*", Playbook::RestoreLogging),
    control(ResourceKind::Logging, "Config.1/*", Playbook::RestoreLogging),
];

/// Why the policy was refused at cold start.
#[derive(Debug, Error, PartialEq)]
pub enum PolicyError {
    #[error("route {index}: finding pattern {pattern:?} is empty or has characters outside finding types")]
    BadPattern { index: usize, pattern: String },
    #[error("route {index}: severity floor {floor} is outside 0 to 10")]
    BadFloor { index: usize, floor: f64 },
}

/// What the routing table says about one incident.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Routing {
    /// A route matched and the severity reaches its floor.
    Act { playbook: Playbook, floor: f64 },
    /// A route matched but the severity is below its floor.
    BelowFloor { playbook: Playbook, floor: f64 },
    /// No route names this finding.
    Unrouted,
}

/// The checked routing table and guard settings the planner reads.
#[derive(Debug, Clone, PartialEq)]
pub struct Policy {
    pub routes: Vec<Route>,
    pub dry_run: bool,
    pub severity_threshold: f64,
    pub protected_tag: String,
    pub max_quarantined: u32,
    pub kms_key_id: Option<String>,
    /// Names or ARNs (with `*`) of principals never acted on.
    pub protected_principals: Vec<String>,
    /// The responder's own identity (STS `GetCallerIdentity`), never acted on.
    pub own_arn: Option<String>,
    /// The region the responder's own clients call; an incident naming no region is there.
    pub home_region: Option<String>,
    /// The role assumed in member accounts (a name), never acted on.
    pub member_role: String,
    /// The accounts it may act in besides its own.
    pub accounts: Scope,
    /// Accounts where every plan is a dry run.
    pub dry_run_accounts: BTreeSet<String>,
    /// The breach timeline and persistence sweep.
    pub timeline: crate::settings::TimelineSettings,
}

impl Policy {
    /// The compiled-in routing table with the deployment's settings, checked.
    pub fn new(settings: &Settings) -> Result<Self, PolicyError> {
        let mut routes = ROUTES.to_vec();
        // Alarms named with the isolate prefix, on one instance's metric: contain the instance.
        routes.push(Route {
            source: Source::CloudWatch,
            resource: ResourceKind::Instance,
            finding: Cow::Owned(format!("CloudWatchAlarm/{}*", settings.isolate_alarm_prefix)),
            floor: Floor::At(0.0),
            playbook: Playbook::Ec2Compromise,
        });
        Self::with_routes(routes, settings)
    }

    /// A policy over another table (tests, future overrides), checked the same way.
    pub fn with_routes(routes: Vec<Route>, settings: &Settings) -> Result<Self, PolicyError> {
        for (index, route) in routes.iter().enumerate() {
            let allowed = |c: char| c.is_ascii_alphanumeric() || ":/._!&*-+=@".contains(c);
            if route.finding.is_empty() || !route.finding.chars().all(allowed) {
                return Err(PolicyError::BadPattern {
                    index,
                    pattern: route.finding.to_string(),
                });
            }
            if let Floor::At(floor) = route.floor
                && !(0.0..=10.0).contains(&floor)
            {
                return Err(PolicyError::BadFloor { index, floor });
            }
        }
        Ok(Policy {
            routes,
            dry_run: settings.dry_run,
            severity_threshold: settings.severity_threshold,
            protected_tag: settings.protected_tag.clone(),
            max_quarantined: settings.max_quarantined,
            kms_key_id: settings.kms_key_id.clone(),
            protected_principals: settings.protected_principals.clone(),
            own_arn: None,
            home_region: None,
            member_role: settings.member_role.clone(),
            accounts: settings.accounts.clone(),
            dry_run_accounts: settings.dry_run_accounts.clone(),
            timeline: settings.timeline,
        })
    }

    /// The policy of a deployment given only the two required settings (a page topic and an
    /// evidence bucket), for tests.
    #[cfg(test)]
    #[must_use]
    pub(crate) fn minimal() -> Self {
        let settings = Settings::from_lookup(|var| match var {
            "TOURNIQUET_TOPIC_ARN" => Some("arn:aws:sns:us-east-1:123456789012:pages".into()),
            "TOURNIQUET_EVIDENCE_BUCKET" => Some("evidence".into()),
            _ => None,
        })
        .expect("the two required settings");
        Policy::new(&settings).expect("the default policy")
    }

    /// The same policy, knowing the responder's own identity.
    #[must_use]
    pub fn with_own_arn(mut self, arn: Option<String>) -> Self {
        self.own_arn = arn;
        self
    }

    /// The responder's own account, from its identity's ARN.
    #[must_use]
    pub fn own_account(&self) -> Option<&str> {
        self.own_arn.as_deref()?.split(':').nth(4).filter(|a| !a.is_empty())
    }

    /// The responder's partition (`aws`, `aws-cn`, `aws-us-gov`), from its identity's ARN.
    #[must_use]
    pub fn partition(&self) -> &str {
        self.own_arn
            .as_deref()
            .and_then(|arn| arn.split(':').nth(1))
            .filter(|p| !p.is_empty())
            .unwrap_or("aws")
    }

    /// The same policy, knowing the region its own clients call (the home region).
    #[must_use]
    pub fn with_home_region(mut self, region: Option<String>) -> Self {
        self.home_region = region;
        self
    }

    /// The member role's ARN in `account`.
    #[must_use]
    pub fn member_role_arn(&self, account: &str) -> String {
        format!("arn:{}:iam::{account}:role/{}", self.partition(), self.member_role)
    }

    /// Why a principal must not be touched, if it must not: the responder itself, or a
    /// name or ARN on the protected list.
    #[must_use]
    pub fn principal_guard(&self, name: &str, arn: Option<&str>) -> Option<String> {
        principal_guard(
            self.own_arn.as_deref(),
            &self.member_role,
            &self.protected_principals,
            name,
            arn,
        )
    }
}

/// [`Policy::principal_guard`] from its parts, for a step that carries them (the persistence
/// sweep decides on principals found only when it runs).
#[must_use]
pub fn principal_guard(
    own_arn: Option<&str>,
    member_role: &str,
    protected_principals: &[String],
    name: &str,
    arn: Option<&str>,
) -> Option<String> {
    if let Some(own) = own_arn {
        let own_role = own_role_name(own);
        if arn == Some(own) || own_role == Some(name) {
            return Some(format!("{name} is the responder's own identity"));
        }
    }
    let is_role = arn.is_none_or(|arn| arn.contains(":role/"));
    if name == member_role && is_role {
        return Some(format!(
            "{name} is the member role through which Tourniquet acts in {}",
            arn.and_then(|arn| arn.split(':').nth(4))
                .unwrap_or("each member account")
        ));
    }
    protected_principals
        .iter()
        .find(|pattern| glob(pattern, name) || arn.is_some_and(|arn| glob(pattern, arn)))
        .map(|pattern| format!("{name} matches protected principal {pattern:?}"))
}

impl Policy {
    /// Looks the incident up in the routing table.
    #[must_use]
    pub fn route(&self, incident: &Incident) -> Routing {
        let Some(route) = self.routes.iter().find(|route| {
            route.source == incident.source
                && route.resource == incident.resource.kind()
                && glob(&route.finding, &incident.finding_type)
        }) else {
            return Routing::Unrouted;
        };
        let floor = match route.floor {
            Floor::Threshold => self.severity_threshold,
            Floor::At(floor) => floor,
        };
        if incident.severity >= floor {
            Routing::Act {
                playbook: route.playbook,
                floor,
            }
        } else {
            Routing::BelowFloor {
                playbook: route.playbook,
                floor,
            }
        }
    }
}

/// The role name in an assumed-role ARN (`arn:aws:sts::1:assumed-role/Name/session`) or a role
/// ARN (`arn:aws:iam::1:role/path/Name`).
fn own_role_name(arn: &str) -> Option<&str> {
    let (_, resource) = arn.split_once(":assumed-role/").or_else(|| arn.split_once(":role/"))?;
    if arn.contains(":assumed-role/") {
        resource.split('/').next()
    } else {
        resource.rsplit('/').next()
    }
}

/// `*`-only glob match, whole string.
pub(crate) fn glob(pattern: &str, text: &str) -> bool {
    let mut parts = pattern.split('*');
    let first = parts.next().unwrap_or("");
    let Some(mut rest) = text.strip_prefix(first) else {
        return false;
    };
    let parts: Vec<&str> = parts.collect();
    let Some((last, middle)) = parts.split_last() else {
        return rest.is_empty();
    };
    for part in middle {
        match rest.find(part) {
            Some(at) => rest = &rest[at + part.len()..],
            None => return false,
        }
    }
    rest.len() >= last.len() && rest.ends_with(last)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::incident::Resource;

    pub(crate) fn settings() -> Settings {
        Settings {
            topic_arn: "arn:aws:sns:us-east-1:123456789012:pages".into(),
            evidence_bucket: "evidence".into(),
            dry_run: false,
            protected_tag: "tourniquet:protected".into(),
            severity_threshold: 7.0,
            max_quarantined: 5,
            protected_principals: vec![],
            kms_key_id: None,
            isolate_alarm_prefix: "tourniquet-isolate-".into(),
            member_role: "tourniquet-member".into(),
            accounts: crate::settings::Scope::Home,
            dry_run_accounts: std::collections::BTreeSet::new(),
            pages: crate::settings::PageSettings::default(),
            timeline: crate::settings::TimelineSettings::default(),
        }
    }

    fn incident(resource: Resource, finding_type: &str, severity: f64) -> Incident {
        Incident {
            id: "guardduty-x".into(),
            source: Source::GuardDuty,
            finding_id: "x".into(),
            finding_type: finding_type.into(),
            severity,
            account: None,
            region: None,
            resource,
            summary: String::new(),
            details: std::collections::BTreeMap::new(),
            rule_parameters: std::collections::BTreeMap::new(),
            finding_arn: None,
            attacker: None,
            raw: serde_json::Value::Null,
            security_hub: None,
        }
    }

    #[test]
    fn glob_matches_whole_types() {
        assert!(glob("*", "anything"));
        assert!(glob(
            "UnauthorizedAccess:IAMUser/*",
            "UnauthorizedAccess:IAMUser/ConsoleLogin"
        ));
        assert!(!glob(
            "UnauthorizedAccess:IAMUser/*",
            "UnauthorizedAccess:EC2/SSHBruteForce"
        ));
        assert!(glob("*:IAMUser/*", "Discovery:IAMUser/AnomalousBehavior"));
        assert!(glob("Backdoor:EC2/C&CActivity.B", "Backdoor:EC2/C&CActivity.B"));
        assert!(!glob("Backdoor:EC2/C&CActivity.B", "Backdoor:EC2/C&CActivity.B!DNS"));
        assert!(!glob("a*a", "a"));
    }

    #[test]
    fn instances_route_by_threshold() {
        let policy = Policy::new(&settings()).unwrap();
        let instance = || Resource::Instance {
            instance_id: "i-1".into(),
        };
        assert_eq!(
            policy.route(&incident(instance(), "Backdoor:EC2/C&CActivity.B", 8.0)),
            Routing::Act {
                playbook: Playbook::Ec2Compromise,
                floor: 7.0
            }
        );
        assert_eq!(
            policy.route(&incident(instance(), "Recon:EC2/PortProbeUnprotectedPort", 2.0)),
            Routing::BelowFloor {
                playbook: Playbook::Ec2Compromise,
                floor: 7.0
            }
        );
        let bucket = Resource::Bucket { name: "b".into() };
        assert_eq!(
            policy.route(&incident(bucket, "Policy:S3/BucketBlockPublicAccessDisabled", 2.0)),
            Routing::Act {
                playbook: Playbook::BlockPublicBucket,
                floor: 0.0
            }
        );
    }

    #[test]
    fn principal_guards() {
        let mut settings = settings();
        settings.protected_principals = vec!["break-glass".into(), "arn:aws:iam::*:role/Admin*".into()];
        let policy = Policy::new(&settings)
            .unwrap()
            .with_own_arn(Some("arn:aws:sts::1:assumed-role/tourniquet-responder/fn".into()));
        assert!(
            policy
                .principal_guard("tourniquet-responder", None)
                .unwrap()
                .contains("own identity")
        );
        assert!(policy.principal_guard("break-glass", None).is_some());
        assert!(
            policy
                .principal_guard("AdminOps", Some("arn:aws:iam::1:role/AdminOps"))
                .is_some()
        );
        assert_eq!(policy.principal_guard("alice", Some("arn:aws:iam::1:user/alice")), None);
        let member = policy
            .principal_guard(
                "tourniquet-member",
                Some("arn:aws:iam::222222222222:role/tourniquet-member"),
            )
            .unwrap();
        assert!(
            member.contains("member role") && member.contains("222222222222"),
            "{member}"
        );
        assert_eq!(
            policy.principal_guard("tourniquet-member", Some("arn:aws:iam::2:user/tourniquet-member")),
            None
        );
        assert_eq!(policy.partition(), "aws");
        // An account-qualified ARN protects that account's principal, not its namesakes.
        settings.protected_principals = vec!["arn:aws:iam::222222222222:role/deploy".into()];
        let qualified = Policy::new(&settings).unwrap();
        assert!(
            qualified
                .principal_guard("deploy", Some("arn:aws:iam::222222222222:role/deploy"))
                .is_some()
        );
        assert_eq!(
            qualified.principal_guard("deploy", Some("arn:aws:iam::333333333333:role/deploy")),
            None
        );
        assert_eq!(
            policy.member_role_arn("222222222222"),
            "arn:aws:iam::222222222222:role/tourniquet-member"
        );
        assert_eq!(own_role_name("arn:aws:iam::1:role/path/Name"), Some("Name"));
    }

    #[test]
    fn iam_families_route_to_credentials() {
        let policy = Policy::new(&settings()).unwrap();
        let key = || Resource::AccessKey {
            access_key_id: None,
            principal_id: None,
            user_name: None,
            user_type: None,
        };
        for finding in [
            "UnauthorizedAccess:IAMUser/MaliciousIPCaller.Custom",
            "Stealth:IAMUser/CloudTrailLoggingDisabled",
        ] {
            assert!(matches!(
                policy.route(&incident(key(), finding, 8.0)),
                Routing::Act {
                    playbook: Playbook::CredentialCompromise,
                    ..
                }
            ));
        }
        assert_eq!(
            policy.route(&incident(key(), "Recon:IAMUser/TorIPCaller", 8.0)),
            Routing::Unrouted
        );
    }

    #[test]
    fn bad_tables_fail_at_start() {
        let route = |finding: &'static str, floor| Route {
            source: Source::GuardDuty,
            resource: ResourceKind::Instance,
            finding: Cow::Borrowed(finding),
            floor,
            playbook: Playbook::Ec2Compromise,
        };
        assert_eq!(
            Policy::with_routes(vec![route("", Floor::Threshold)], &settings()),
            Err(PolicyError::BadPattern {
                index: 0,
                pattern: String::new()
            })
        );
        assert_eq!(
            Policy::with_routes(
                vec![route("*", Floor::Threshold), route("x y", Floor::Threshold)],
                &settings()
            ),
            Err(PolicyError::BadPattern {
                index: 1,
                pattern: "x y".into()
            })
        );
        assert_eq!(
            Policy::with_routes(vec![route("*", Floor::At(12.0))], &settings()),
            Err(PolicyError::BadFloor { index: 0, floor: 12.0 })
        );
        assert!(Policy::new(&settings()).is_ok());
    }
}
