//! An attack sequence finding (`AttackSequence:*`): its `service.detection.sequence` read into one resource.
//!
//! Lenient like the rest of intake: an actor or resource that cannot be read is listed as
//! what it is, never a reason to refuse the finding; members named twice are kept once.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::incident::Resource;
use crate::incident::sequence::{Member, MemberKind, Sequence, Signal};

/// The sequence a finding carries, and the facts for the page; `None` when the finding is
/// not an attack sequence or carries no sequence (it then pages as any other finding).
pub(super) fn resource(finding: &Value, finding_type: &str) -> Option<(Resource, BTreeMap<String, String>)> {
    if !finding_type.starts_with("AttackSequence:") {
        return None;
    }
    let value = super::super::fields::at(finding, "service.detection.sequence").filter(|v| v.is_object())?;
    let mut members: Vec<Member> = Vec::new();
    for actor in list(value, "actors") {
        if let Some(member) = actor_member(actor) {
            add(&mut members, member);
        }
    }
    for resource in list(value, "resources") {
        if let Some(member) = resource_member(resource) {
            add(&mut members, member);
        }
    }
    let signals: Vec<Signal> = list(value, "signals")
        .filter_map(|s| {
            Some(Signal {
                name: text(s, "name").or_else(|| text(s, "uid"))?,
                kind: text(s, "type"),
                uid: text(s, "uid"),
            })
        })
        .collect();
    let sequence = Sequence {
        uid: text(value, "uid").unwrap_or_else(|| "unknown".to_owned()),
        description: text(value, "description"),
        members,
        signals,
    };
    Some((Resource::AttackSequence(Box::new(sequence.clone())), details(&sequence)))
}

/// The page's facts: the members, the signal findings, and a runbook for each cluster.
fn details(sequence: &Sequence) -> BTreeMap<String, String> {
    let mut details = BTreeMap::new();
    if let Some(description) = &sequence.description {
        details.insert("sequence".to_owned(), description.clone());
    }
    let members: Vec<String> = sequence.members.iter().map(Member::label).collect();
    if !members.is_empty() {
        details.insert("members".to_owned(), members.join("; "));
    }
    let signals: Vec<String> = sequence
        .signals
        .iter()
        .map(|s| match &s.uid {
            Some(uid) if *uid != s.name => format!("{} ({uid})", s.name),
            _ => s.name.clone(),
        })
        .collect();
    if !signals.is_empty() {
        details.insert("signals".to_owned(), signals.join("; "));
    }
    let runbooks: Vec<String> = sequence
        .members
        .iter()
        .filter_map(|m| match &m.kind {
            MemberKind::Cluster { name } => Some(format!(
                "cluster {name}: Tourniquet does not act inside a cluster. `aws eks update-kubeconfig --name {name}`; \
                 `kubectl get pods -A -o wide` to find the workloads the signals name; `kubectl cordon <node>` for \
                 their nodes; a deny-all NetworkPolicy on their namespace; review `kubectl get clusterrolebindings` \
                 for bindings the actors added"
            )),
            _ => None,
        })
        .collect();
    if !runbooks.is_empty() {
        details.insert("runbook".to_owned(), runbooks.join("\n"));
    }
    details
}

/// Adds `member` unless it is there already (as an actor and as a resource, say): the
/// mention that names more (the key used, the region) is kept.
fn add(members: &mut Vec<Member>, member: Member) {
    let compatible = |a: &Option<String>, b: &Option<String>| a.is_none() || b.is_none() || a == b;
    let same = |known: &Member| {
        let kinds = match (&known.kind, &member.kind) {
            (
                MemberKind::User {
                    user_name: a,
                    access_key_id: ka,
                },
                MemberKind::User {
                    user_name: b,
                    access_key_id: kb,
                },
            ) => a == b && compatible(ka, kb),
            (a, b) => a == b,
        };
        kinds && compatible(&known.account, &member.account) && compatible(&known.region, &member.region)
    };
    let Some(known) = members.iter_mut().find(|m| same(m)) else {
        members.push(member);
        return;
    };
    if let (
        MemberKind::User {
            access_key_id: known_key @ None,
            ..
        },
        MemberKind::User {
            access_key_id: Some(key),
            ..
        },
    ) = (&mut known.kind, &member.kind)
    {
        *known_key = Some(key.clone());
    }
    known.account = known.account.take().or(member.account);
    known.region = known.region.take().or(member.region);
}

/// An actor's credentials (`user.type`, `user.name`, `user.credentialUid`).
fn actor_member(actor: &Value) -> Option<Member> {
    let user = actor.get("user")?;
    let name = text(user, "name")?;
    let kind = principal(
        text(user, "type").as_deref(),
        name,
        text(user, "uid"),
        text(user, "credentialUid"),
    );
    Some(Member {
        kind,
        account: text(user, "account.uid"),
        region: None,
    })
}

fn principal(user_type: Option<&str>, name: String, uid: Option<String>, key: Option<String>) -> MemberKind {
    match user_type {
        Some("IAMUser") => MemberKind::User {
            user_name: name,
            access_key_id: key,
        },
        Some("AssumedRole") => MemberKind::Role {
            // GuardDuty names an assumed role `role/session` in places; the role is the first part.
            role_name: name.split('/').next().unwrap_or_default().to_owned(),
            principal_id: uid.filter(|u| u.contains(':')),
            access_key_id: key,
        },
        other => MemberKind::Principal {
            name,
            user_type: other.unwrap_or("unknown").to_owned(),
        },
    }
}

/// What a `resourceType` names, in either form GuardDuty writes it: the API reference's
/// (`EC2_INSTANCE`, `S3_BUCKET`, `ACCESS_KEY`, ...) or CloudFormation's (`AWS::EC2::Instance`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Instance,
    Bucket,
    AccessKey,
    EksCluster,
    /// Known, and answered by no playbook here (an ECS cluster or task, an Auto Scaling
    /// group, an instance profile, a launch template, a VPC, an image, ...): named in the page.
    Other,
}

fn kind(resource_type: &str) -> Kind {
    match resource_type {
        "EC2_INSTANCE" | "AWS::EC2::Instance" => Kind::Instance,
        "S3_BUCKET" | "AWS::S3::Bucket" => Kind::Bucket,
        "ACCESS_KEY" | "AWS::IAM::AccessKey" => Kind::AccessKey,
        "EKS_CLUSTER" | "AWS::EKS::Cluster" => Kind::EksCluster,
        _ => Kind::Other,
    }
}

/// A `resourceV2` entry, by its `resourceType`.
fn resource_member(resource: &Value) -> Option<Member> {
    let resource_type = text(resource, "resourceType")?;
    let uid = text(resource, "uid").unwrap_or_default();
    let name = text(resource, "name");
    let last = |separator: char| uid.rsplit(separator).next().unwrap_or_default().to_owned();
    let kind = match kind(&resource_type) {
        Kind::Instance => MemberKind::Instance {
            instance_id: name.filter(|n| n.starts_with("i-")).unwrap_or_else(|| last('/')),
        },
        Kind::Bucket => {
            let permission = |field: &str| text(resource, &format!("data.s3Bucket.{field}"));
            let public = permission("effectivePermission").as_deref() == Some("PUBLIC")
                || permission("publicReadAccess").as_deref() == Some("ALLOWED")
                || permission("publicWriteAccess").as_deref() == Some("ALLOWED");
            MemberKind::Bucket {
                name: name.unwrap_or_else(|| last(':')),
                public,
            }
        }
        Kind::AccessKey => {
            let key = resource.get("data").and_then(|d| d.get("accessKey"));
            let user_name = key.and_then(|k| text(k, "userName"))?;
            principal(
                key.and_then(|k| text(k, "userType")).as_deref(),
                user_name,
                key.and_then(|k| text(k, "principalId")),
                name.or_else(|| (!uid.is_empty()).then(|| uid.clone())),
            )
        }
        Kind::EksCluster => MemberKind::Cluster {
            name: name.unwrap_or_else(|| last('/')),
        },
        Kind::Other => MemberKind::Other {
            resource_type: resource_type.clone(),
            uid: name.unwrap_or(uid),
        },
    };
    Some(Member {
        kind,
        account: text(resource, "accountId"),
        region: text(resource, "region"),
    })
}

fn list<'a>(value: &'a Value, field: &str) -> impl Iterator<Item = &'a Value> {
    value.get(field).and_then(Value::as_array).into_iter().flatten()
}

/// A non-empty text field at a dotted path; numbers are read as text (account ids).
fn text(value: &Value, path: &str) -> Option<String> {
    let found = super::super::fields::at(value, path)?;
    let text = match found {
        Value::String(s) => s.trim().to_owned(),
        Value::Number(n) => n.to_string(),
        _ => return None,
    };
    (!text.is_empty()).then_some(text)
}
