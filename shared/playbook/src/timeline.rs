//! The breach timeline: what a compromised identity did, read from CloudTrail's event history
//! after containment; its summary, the telling writes, and the footholds it left.
//!
//! Pure: the reading is in [`crate::actions::cloudtrail`], the sweep of the footholds in
//! [`crate::actions::persistence`].

use std::collections::{BTreeMap, BTreeSet};

use aws_sdk_s3::primitives::{DateTime, DateTimeFormat};
use serde::{Deserialize, Serialize};

use crate::incident::Incident;
use crate::policy::Policy;

/// Why a missing `GetObject` proves nothing: said in every timeline and page.
pub const DATA_EVENTS_CAVEAT: &str = "CloudTrail event history holds management events only: S3 object reads and \
     writes, Lambda invocations, SNS publishes and SQS messages are data events and never appear here, so no \
     GetObject in this timeline does not mean no data was read (a trail logging data events, or S3 server access \
     logs, answer that)";

/// The hours read before the finding's first sighting.
pub const HOURS_BEFORE: u64 = 24;

/// How the page's write calls are chosen: at most this many.
pub const TELLING_WRITES: usize = 10;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Lookup {
    pub key: LookupKey,
    pub value: String,
}

/// The attributes the timeline reads by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum LookupKey {
    AccessKeyId,
    Username,
}

impl Lookup {
    #[must_use]
    pub fn access_key(value: &str) -> Self {
        Lookup {
            key: LookupKey::AccessKeyId,
            value: value.to_owned(),
        }
    }

    #[must_use]
    pub fn username(value: &str) -> Self {
        Lookup {
            key: LookupKey::Username,
            value: value.to_owned(),
        }
    }

    /// `AccessKeyId=AKIA...`, for pages.
    #[must_use]
    pub fn label(&self) -> String {
        format!("{:?}={}", self.key, self.value)
    }
}

/// One management event, as the timeline keeps it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    pub event_id: String,
    /// RFC 3339.
    pub time: String,
    pub name: String,
    pub source: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_ip: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_agent: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub access_key_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    /// `<type> <name>` of each resource the event names.
    #[serde(default)]
    pub resources: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_code: Option<String>,
    pub read_only: bool,
    #[serde(default)]
    pub request_parameters: serde_json::Value,
    #[serde(default)]
    pub response_elements: serde_json::Value,
}

impl Event {
    /// The service, from the event source (`iam.amazonaws.com` -> `iam`).
    #[must_use]
    pub fn service(&self) -> &str {
        self.source.split('.').next().unwrap_or(&self.source)
    }

    /// Whether AWS refused the call.
    #[must_use]
    pub fn denied(&self) -> bool {
        self.error_code.as_deref().is_some_and(|code| {
            code.contains("AccessDenied") || code.contains("UnauthorizedOperation") || code == "Forbidden"
        })
    }

    /// A request parameter, as a string.
    fn param(&self, name: &str) -> Option<&str> {
        self.request_parameters.get(name).and_then(serde_json::Value::as_str)
    }

    /// The keys of the tags the call set (`requestParameters.tags`, as CloudTrail logs
    /// `CreateUser`, `CreateRole`, `TagUser` and `TagRole`).
    fn tag_keys(&self) -> Vec<String> {
        self.request_parameters["tags"]
            .as_array()
            .map(|tags| {
                tags.iter()
                    .filter_map(|t| t["key"].as_str().or_else(|| t["Key"].as_str()))
                    .map(ToOwned::to_owned)
                    .collect()
            })
            .unwrap_or_default()
    }

    /// `CreateUser backup-admin (iam, 2024-06-11T03:20:00Z)`, for pages.
    #[must_use]
    pub fn line(&self) -> String {
        let on = self.resources.first().map(|r| format!(" {r}")).unwrap_or_default();
        let error = self.error_code.as_deref().map(|e| format!(", {e}")).unwrap_or_default();
        format!("{} {}{on}{error}", self.time, self.name)
    }
}

/// The timeline's counts.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Summary {
    pub calls: usize,
    pub writes: usize,
    pub denied: usize,
    pub services: BTreeSet<String>,
    pub resources: BTreeSet<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last: Option<String>,
}

impl Summary {
    #[must_use]
    pub fn of(events: &[Event]) -> Self {
        Summary {
            calls: events.len(),
            writes: events.iter().filter(|e| !e.read_only).count(),
            denied: events.iter().filter(|e| e.denied()).count(),
            services: events.iter().map(|e| e.service().to_owned()).collect(),
            resources: events.iter().flat_map(|e| e.resources.iter().cloned()).collect(),
            first: events.iter().map(|e| e.time.clone()).min(),
            last: events.iter().map(|e| e.time.clone()).max(),
        }
    }

    /// `12 calls (4 writes, 1 denied) to iam, s3`, for pages.
    #[must_use]
    pub fn line(&self) -> String {
        format!(
            "{} call(s) ({} write(s), {} denied) to {}",
            self.calls,
            self.writes,
            self.denied,
            if self.services.is_empty() {
                "nothing".to_owned()
            } else {
                self.services.iter().map(String::as_str).collect::<Vec<_>>().join(", ")
            }
        )
    }
}

/// What one read of the event history found: `timeline.json` (and each re-read's object).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Timeline {
    pub incident_id: String,
    /// The lookups read, in order; events found by more than one are kept once.
    pub lookups: Vec<Lookup>,
    /// The window: from `start` (24 hours before the finding's first sighting) to `end`.
    pub start: String,
    pub end: String,
    pub summary: Summary,
    /// Why the reading stopped before the whole window was read, if it did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cut: Option<String>,
    pub data_events: String,
    /// CloudTrail delivers events minutes after the calls: what that means for this read.
    pub lag: String,
    /// Newest first, as CloudTrail returns them.
    pub events: Vec<Event>,
}

impl Timeline {
    /// A timeline of `events` (newest first), with its summary and caveats.
    #[must_use]
    pub fn new(
        incident_id: &str,
        lookups: Vec<Lookup>,
        start: &str,
        end: &str,
        events: Vec<Event>,
        cut: Option<String>,
    ) -> Self {
        Timeline {
            incident_id: incident_id.to_owned(),
            lookups,
            start: start.to_owned(),
            end: end.to_owned(),
            summary: Summary::of(&events),
            cut,
            data_events: DATA_EVENTS_CAVEAT.to_owned(),
            lag: format!(
                "the timeline ends at {end}; CloudTrail shows calls a few minutes after they are made, so the last \
                 minutes may be missing: invoke the function with {{\"timeline\": \"{incident_id}\"}} to read again"
            ),
            events,
        }
    }

    /// The most telling write calls, most telling first, then newest first.
    #[must_use]
    pub fn telling_writes(&self, max: usize) -> Vec<&Event> {
        let mut writes: Vec<(usize, &Event)> = self.events.iter().filter(|e| !e.read_only).enumerate().collect();
        writes.sort_by_key(|(order, e)| (telling_rank(e), *order));
        writes.into_iter().take(max).map(|(_, e)| e).collect()
    }

    /// The footholds the events created or changed, oldest first.
    #[must_use]
    pub fn footholds(&self) -> Vec<Foothold> {
        footholds(&self.events)
    }

    /// What the page says of this timeline: one line a field.
    #[must_use]
    pub fn page_lines(&self) -> BTreeMap<String, String> {
        let mut lines = BTreeMap::new();
        let cut = self.cut.as_deref().map(|c| format!("; CUT: {c}")).unwrap_or_default();
        lines.insert(
            "timeline".to_owned(),
            format!(
                "{} from {} to {} (by {}){cut}",
                self.summary.line(),
                self.start,
                self.end,
                self.lookups.iter().map(Lookup::label).collect::<Vec<_>>().join(", ")
            ),
        );
        let writes: Vec<String> = self.telling_writes(TELLING_WRITES).iter().map(|e| e.line()).collect();
        if !writes.is_empty() {
            lines.insert("timeline-writes".to_owned(), writes.join("; "));
        }
        lines.insert("timeline-data-events".to_owned(), DATA_EVENTS_CAVEAT.to_owned());
        lines.insert("timeline-ends".to_owned(), self.lag.clone());
        lines
    }
}

/// Lower is more telling: IAM, S3 policy or ACL changes, KMS, security groups, instance
/// launches, then every other write.
fn telling_rank(event: &Event) -> u8 {
    let name = event.name.as_str();
    match event.service() {
        "iam" | "sts" if !name.starts_with("Get") => 0,
        "s3" if name.contains("Policy") || name.contains("Acl") || name.contains("PublicAccessBlock") => 1,
        "kms" => 2,
        "ec2" if name.contains("SecurityGroup") => 3,
        "ec2" if name == "RunInstances" => 4,
        _ => 5,
    }
}

/// The kind of principal a foothold is on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum PrincipalType {
    User,
    Role,
    Group,
}

impl PrincipalType {
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            PrincipalType::User => "user",
            PrincipalType::Role => "role",
            PrincipalType::Group => "group",
        }
    }
}

/// What the attacker left: created (contained by the sweep) or changed (listed for a person).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "foothold", rename_all = "kebab-case")]
pub enum Foothold {
    /// `CreateAccessKey`, for any user: the key is deactivated.
    CreatedKey {
        user: String,
        access_key_id: String,
        time: String,
    },
    /// `CreateUser`: the user gets the deny-all. `tags`: the keys of the tags it was created
    /// with (a protected tag among them protects nothing).
    CreatedUser {
        user: String,
        time: String,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        tags: Vec<String>,
    },
    /// `CreateRole`: the role gets the deny-all; `tags` as for a user.
    CreatedRole {
        role: String,
        time: String,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        tags: Vec<String>,
    },
    /// `TagUser` or `TagRole`: the keys of the tags the identity set on a principal. Listed;
    /// a protected tag it set protects nothing.
    Tagged {
        principal: PrincipalType,
        name: String,
        event: String,
        keys: Vec<String>,
        time: String,
    },
    /// A change to a principal (a policy attached, a trust policy rewritten, a password set):
    /// listed with its before state, for a person to revert.
    Changed {
        principal: PrincipalType,
        name: String,
        event: String,
        change: String,
        before: String,
        time: String,
    },
}

impl Foothold {
    /// One line for the page.
    #[must_use]
    pub fn line(&self) -> String {
        match self {
            Foothold::CreatedKey {
                user, access_key_id, ..
            } => format!("created access key {access_key_id} of user {user}"),
            Foothold::CreatedUser { user, .. } => format!("created user {user}"),
            Foothold::CreatedRole { role, .. } => format!("created role {role}"),
            Foothold::Tagged {
                principal,
                name,
                event,
                keys,
                ..
            } => format!("{event} on {} {name}: tags {} set", principal.as_str(), keys.join(", ")),
            Foothold::Changed {
                principal,
                name,
                event,
                change,
                before,
                ..
            } => format!("{event} on {} {name}: {change} (before: {before})", principal.as_str()),
        }
    }
}

/// What the persistence sweep must not touch, carried in its step: it decides on principals
/// found only when it runs, with the planner's guards.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SweepGuards {
    pub protected_tag: String,
    pub protected_principals: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub own_arn: Option<String>,
    pub member_role: String,
    /// Contain (true) or only list (`TOURNIQUET_CONTAIN_PERSISTENCE=false`).
    pub contain: bool,
    /// The blast-radius limit: at most this many principals acted on.
    pub max_principals: usize,
}

impl SweepGuards {
    #[must_use]
    pub fn of(policy: &Policy) -> Self {
        SweepGuards {
            protected_tag: policy.protected_tag.clone(),
            protected_principals: policy.protected_principals.clone(),
            own_arn: policy.own_arn.clone(),
            member_role: policy.member_role.clone(),
            contain: policy.timeline.contain_persistence,
            max_principals: policy.timeline.max_swept_principals,
        }
    }

    /// Why the principal named must not be touched, if it must not (the tag is read apart).
    #[must_use]
    pub fn guard(&self, name: &str) -> Option<String> {
        crate::policy::principal_guard(
            self.own_arn.as_deref(),
            &self.member_role,
            &self.protected_principals,
            name,
            None,
        )
    }
}

/// Whether `footholds` show the identity setting tag `key` on the principal `name` of `kind`
/// (creating it with the tag, or tagging it): a tag it set protects nothing.
#[must_use]
pub fn tag_set_by(footholds: &[Foothold], kind: PrincipalType, name: &str, key: &str) -> Option<String> {
    footholds.iter().find_map(|f| match f {
        Foothold::CreatedUser { user, tags, time } if kind == PrincipalType::User && user == name => {
            tags.iter().any(|t| t == key).then(|| format!("CreateUser at {time}"))
        }
        Foothold::CreatedRole { role, tags, time } if kind == PrincipalType::Role && role == name => {
            tags.iter().any(|t| t == key).then(|| format!("CreateRole at {time}"))
        }
        Foothold::Tagged {
            principal,
            name: tagged,
            event,
            keys,
            time,
        } if *principal == kind && tagged == name => {
            keys.iter().any(|t| t == key).then(|| format!("{event} at {time}"))
        }
        _ => None,
    })
}

/// The footholds in `events` (any order), oldest first. Refused calls created nothing.
// One arm per event that leaves a foothold: splitting it would hide the list.
#[allow(clippy::too_many_lines)]
#[must_use]
pub fn footholds(events: &[Event]) -> Vec<Foothold> {
    let mut events: Vec<&Event> = events.iter().filter(|e| e.error_code.is_none()).collect();
    events.sort_by(|a, b| a.time.cmp(&b.time));
    let mut found = Vec::new();
    for event in events {
        let time = event.time.clone();
        let user = event.param("userName").map(ToOwned::to_owned);
        let role = event.param("roleName").map(ToOwned::to_owned);
        let group = event.param("groupName").map(ToOwned::to_owned);
        let policy = event
            .param("policyArn")
            .or_else(|| event.param("policyName"))
            .unwrap_or("a policy")
            .to_owned();
        let changed = |principal, name: Option<String>, change: String, before: String| {
            name.map(|name| Foothold::Changed {
                principal,
                name,
                event: event.name.clone(),
                change,
                before,
                time: time.clone(),
            })
        };
        let foothold = match event.name.as_str() {
            "CreateAccessKey" => {
                let key = event.response_elements["accessKey"]["accessKeyId"].as_str();
                let owner = event.response_elements["accessKey"]["userName"]
                    .as_str()
                    .map(ToOwned::to_owned)
                    .or(user)
                    .or_else(|| event.username.clone());
                match (key, owner) {
                    (Some(key), Some(owner)) => Some(Foothold::CreatedKey {
                        user: owner,
                        access_key_id: key.to_owned(),
                        time,
                    }),
                    _ => None,
                }
            }
            "CreateUser" => user.map(|user| Foothold::CreatedUser {
                user,
                time,
                tags: event.tag_keys(),
            }),
            "CreateRole" => role.map(|role| Foothold::CreatedRole {
                role,
                time,
                tags: event.tag_keys(),
            }),
            "TagUser" => user.map(|name| Foothold::Tagged {
                principal: PrincipalType::User,
                name,
                event: event.name.clone(),
                keys: event.tag_keys(),
                time,
            }),
            "TagRole" => role.map(|name| Foothold::Tagged {
                principal: PrincipalType::Role,
                name,
                event: event.name.clone(),
                keys: event.tag_keys(),
                time,
            }),
            "CreateLoginProfile" => changed(
                PrincipalType::User,
                user,
                "console password set".to_owned(),
                "no console password".to_owned(),
            ),
            "UpdateLoginProfile" => changed(
                PrincipalType::User,
                user,
                "console password changed".to_owned(),
                "the earlier password (not recoverable: reset it)".to_owned(),
            ),
            "UpdateAssumeRolePolicy" => changed(
                PrincipalType::Role,
                role,
                format!(
                    "trust policy set to {}",
                    event.param("policyDocument").unwrap_or("a new document")
                ),
                "the earlier trust policy (in the AWS Config history of the role, if recorded)".to_owned(),
            ),
            "AttachUserPolicy" | "PutUserPolicy" => changed(
                PrincipalType::User,
                user,
                format!("{policy} attached"),
                format!("{policy} not attached"),
            ),
            "AttachRolePolicy" | "PutRolePolicy" => changed(
                PrincipalType::Role,
                role,
                format!("{policy} attached"),
                format!("{policy} not attached"),
            ),
            "AttachGroupPolicy" | "PutGroupPolicy" => changed(
                PrincipalType::Group,
                group,
                format!("{policy} attached"),
                format!("{policy} not attached"),
            ),
            "AddUserToGroup" => changed(
                PrincipalType::User,
                user,
                format!("added to group {}", group.as_deref().unwrap_or("?")),
                "not in the group".to_owned(),
            ),
            "CreateVirtualMFADevice" => changed(
                PrincipalType::User,
                event.username.clone(),
                format!(
                    "virtual MFA device {} created",
                    event.param("virtualMFADeviceName").unwrap_or("?")
                ),
                "no such device".to_owned(),
            ),
            _ => None,
        };
        found.extend(foothold);
    }
    found
}

/// Where the window starts: 24 hours before the finding's first sighting (GuardDuty's
/// `eventFirstSeen`), or before `planned_at` when the finding gives none. RFC 3339.
#[must_use]
pub fn window_start(incident: &Incident, planned_at: &str) -> String {
    let raw = &incident.raw;
    let first_seen = [
        &raw["detail"]["service"]["eventFirstSeen"],
        &raw["service"]["eventFirstSeen"],
        &raw["detail"]["createdAt"],
        &raw["createdAt"],
    ]
    .into_iter()
    .find_map(|v| v.as_str())
    .and_then(|text| DateTime::from_str(text, DateTimeFormat::DateTime).ok())
    .or_else(|| DateTime::from_str(planned_at, DateTimeFormat::DateTime).ok());
    let hours = i64::try_from(HOURS_BEFORE * 3600).unwrap_or(86_400);
    first_seen
        .map(|t| DateTime::from_secs(t.secs() - hours))
        .and_then(|t| t.fmt(DateTimeFormat::DateTime).ok())
        .unwrap_or_else(|| planned_at.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(name: &str, source: &str, read_only: bool, params: serde_json::Value) -> Event {
        Event {
            event_id: name.to_owned(),
            time: "2024-06-11T03:20:00Z".to_owned(),
            name: name.to_owned(),
            source: format!("{source}.amazonaws.com"),
            source_ip: None,
            user_agent: None,
            access_key_id: Some("AKIA1".to_owned()),
            username: Some("ci-deployer".to_owned()),
            resources: Vec::new(),
            error_code: None,
            read_only,
            request_parameters: params,
            response_elements: serde_json::Value::Null,
        }
    }

    fn attacker_events() -> Vec<Event> {
        let mut key = event(
            "CreateAccessKey",
            "iam",
            false,
            serde_json::json!({"userName": "backup-admin"}),
        );
        key.response_elements =
            serde_json::json!({"accessKey": {"accessKeyId": "AKIANEW", "userName": "backup-admin"}});
        key.time = "2024-06-11T03:21:00Z".to_owned();
        let mut attach = event(
            "AttachUserPolicy",
            "iam",
            false,
            serde_json::json!({"userName": "backup-admin", "policyArn": "arn:aws:iam::aws:policy/AdministratorAccess"}),
        );
        attach.time = "2024-06-11T03:22:00Z".to_owned();
        let mut denied = event("CreateRole", "iam", false, serde_json::json!({"roleName": "x"}));
        denied.error_code = Some("AccessDenied".to_owned());
        // Newest first, as CloudTrail returns them.
        vec![
            attach,
            key,
            denied,
            event(
                "CreateUser",
                "iam",
                false,
                serde_json::json!({"userName": "backup-admin"}),
            ),
            event("RunInstances", "ec2", false, serde_json::json!({})),
            event("ListBuckets", "s3", true, serde_json::json!({})),
        ]
    }

    #[test]
    fn the_summary_counts_calls_writes_and_refusals() {
        let summary = Summary::of(&attacker_events());
        assert_eq!((summary.calls, summary.writes, summary.denied), (6, 5, 1));
        assert_eq!(
            summary.services.iter().map(String::as_str).collect::<Vec<_>>(),
            ["ec2", "iam", "s3"]
        );
        assert_eq!(summary.last.as_deref(), Some("2024-06-11T03:22:00Z"));
    }

    #[test]
    fn footholds_are_what_succeeded_oldest_first() {
        let found = footholds(&attacker_events());
        assert_eq!(found.len(), 3, "{found:?}");
        assert!(matches!(&found[0], Foothold::CreatedUser { user, .. } if user == "backup-admin"));
        assert!(
            matches!(&found[1], Foothold::CreatedKey { user, access_key_id, .. } if user == "backup-admin" && access_key_id == "AKIANEW")
        );
        match &found[2] {
            Foothold::Changed {
                principal,
                name,
                change,
                before,
                ..
            } => {
                assert_eq!((*principal, name.as_str()), (PrincipalType::User, "backup-admin"));
                assert!(change.contains("AdministratorAccess") && before.contains("not attached"));
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_tag_the_identity_set_is_known_by_principal_and_key() {
        let created = event(
            "CreateUser",
            "iam",
            false,
            serde_json::json!({"userName": "u", "tags": [{"key": "tourniquet:protected", "value": "1"}]}),
        );
        let tagged = event(
            "TagRole",
            "iam",
            false,
            serde_json::json!({"roleName": "r", "tags": [{"key": "team", "value": "x"}, {"key": "tourniquet:protected", "value": ""}]}),
        );
        let found = footholds(&[created, tagged]);
        let set = |kind, name| tag_set_by(&found, kind, name, "tourniquet:protected");
        assert!(set(PrincipalType::User, "u").is_some_and(|s| s.starts_with("CreateUser at")));
        assert!(set(PrincipalType::Role, "r").is_some_and(|s| s.starts_with("TagRole at")));
        assert_eq!(set(PrincipalType::Role, "u"), None);
        assert_eq!(set(PrincipalType::User, "other"), None);
        assert_eq!(tag_set_by(&found, PrincipalType::User, "u", "team"), None);
        assert!(
            found[1].line().contains("tags team, tourniquet:protected set"),
            "{found:?}"
        );
    }

    #[test]
    fn iam_writes_are_the_most_telling() {
        let timeline = Timeline::new(
            "i",
            vec![Lookup::access_key("AKIA1")],
            "a",
            "b",
            attacker_events(),
            None,
        );
        let names: Vec<&str> = timeline.telling_writes(3).iter().map(|e| e.name.as_str()).collect();
        assert_eq!(names, ["AttachUserPolicy", "CreateAccessKey", "CreateRole"]);
        let lines = timeline.page_lines();
        assert!(
            lines["timeline"].contains("6 call(s) (5 write(s), 1 denied)"),
            "{lines:?}"
        );
        assert!(lines["timeline-data-events"].contains("data events"));
        assert!(lines["timeline-ends"].contains("\"timeline\": \"i\""));
        let cut = Timeline::new("i", vec![], "a", "b", vec![], Some("1000 events read".into()));
        assert!(cut.page_lines()["timeline"].contains("CUT: 1000 events read"));
    }

    #[test]
    fn the_window_opens_a_day_before_the_first_sighting() {
        let event = serde_json::json!({
            "id": "f", "type": "UnauthorizedAccess:IAMUser/MaliciousIPCaller", "severity": 8,
            "service": {"eventFirstSeen": "2024-06-11T03:14:55.000Z"},
            "resource": {"resourceType": "AccessKey", "accessKeyDetails": {"accessKeyId": "AKIA1", "userName": "u", "userType": "IAMUser"}}
        });
        let incident = crate::intake::parse(&event).unwrap().incident().unwrap();
        assert_eq!(window_start(&incident, "2024-06-12T00:00:00Z"), "2024-06-10T03:14:55Z");
        let mut bare = incident.clone();
        bare.raw = serde_json::json!({});
        assert_eq!(window_start(&bare, "2024-06-12T00:00:00Z"), "2024-06-11T00:00:00Z");
    }
}
