//! The persistence sweep: what the attacker created is contained (its keys deactivated, its
//! users and roles denied everything); what it changed on existing principals is listed with
//! the before state, for a person to revert (denying a production role on a guess would be
//! an outage).

use std::collections::BTreeMap;

use aws_sdk_iam::Client;
use aws_sdk_iam::types::StatusType;

use super::{AwsError, Done, iam, sdk};
use crate::plan::Reach;
use crate::timeline::{Foothold, PrincipalType, SweepGuards, tag_set_by};

/// What the sweep decided for one principal the attacker created.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Verdict {
    Contain,
    /// Listed only, for this reason.
    List(String),
}

/// The principals the attacker created or made keys for: what the sweep would act on.
fn targets(footholds: &[Foothold]) -> BTreeMap<(PrincipalType, String), Verdict> {
    footholds
        .iter()
        .filter_map(|f| match f {
            Foothold::CreatedKey { user, .. } | Foothold::CreatedUser { user, .. } => {
                Some((PrincipalType::User, user.clone()))
            }
            Foothold::CreatedRole { role, .. } => Some((PrincipalType::Role, role.clone())),
            Foothold::Changed { .. } | Foothold::Tagged { .. } => None,
        })
        .map(|target| (target, Verdict::Contain))
        .collect()
}

/// Why a principal must not be touched, from its protected tag: `None` when it may be. A
/// protected tag the identity itself set (the `footholds` show it) protects nothing.
async fn tag_guard(iam: &Client, kind: PrincipalType, name: &str, tag: &str, footholds: &[Foothold]) -> Option<String> {
    let tags = match kind {
        PrincipalType::User => iam
            .list_user_tags()
            .user_name(name)
            .send()
            .await
            .map(|o| o.tags().iter().map(|t| t.key().to_owned()).collect::<Vec<_>>())
            .map_err(sdk("ListUserTags")),
        PrincipalType::Role => iam
            .list_role_tags()
            .role_name(name)
            .send()
            .await
            .map(|o| o.tags().iter().map(|t| t.key().to_owned()).collect::<Vec<_>>())
            .map_err(sdk("ListRoleTags")),
        PrincipalType::Group => return Some("groups are not swept".to_owned()),
    };
    match tags {
        Ok(keys) if keys.iter().any(|k| k == tag) => match tag_set_by(footholds, kind, name, tag) {
            Some(set) => {
                tracing::warn!(
                    principal = name,
                    set,
                    "a protected tag the compromised identity set: not protecting"
                );
                None
            }
            None => Some(format!("{name} carries the protected tag {tag}")),
        },
        Ok(_) => None,
        Err(err) if err.code == "NoSuchEntity" => Some(format!("{name} no longer exists")),
        Err(err) => Some(format!(
            "the tags of {name} could not be read ({}), so it may be protected",
            err.code
        )),
    }
}

/// Sweeps `footholds` under `guards`: each created principal is checked (protected list, the
/// responder's own roles, the protected tag), then, unless containment is off or more
/// principals than the limit would be touched, its keys are deactivated and it is denied
/// everything. Converging and idempotent: a retry does the same again.
pub async fn sweep(iam_client: &Client, footholds: &[Foothold], guards: &SweepGuards) -> Result<Done, AwsError> {
    let mut verdicts = targets(footholds);
    for ((kind, name), verdict) in &mut verdicts {
        let reason = match guards.guard(name) {
            Some(reason) => Some(reason),
            None => tag_guard(iam_client, *kind, name, &guards.protected_tag, footholds).await,
        };
        if let Some(reason) = reason {
            *verdict = Verdict::List(reason);
        }
    }
    let acting = verdicts.values().filter(|v| **v == Verdict::Contain).count();
    let blanket = if !guards.contain {
        Some("TOURNIQUET_CONTAIN_PERSISTENCE=false: listed only".to_owned())
    } else if acting > guards.max_principals {
        Some(format!(
            "{acting} principals would be touched, above the limit of {} (TOURNIQUET_MAX_SWEPT_PRINCIPALS): a \
             person decides",
            guards.max_principals
        ))
    } else {
        None
    };
    if let Some(reason) = &blanket {
        for verdict in verdicts.values_mut().filter(|v| **v == Verdict::Contain) {
            *verdict = Verdict::List(reason.clone());
        }
    }
    let mut request_ids = Vec::new();
    let mut contained = Vec::new();
    let mut listed = Vec::new();
    let mut changed = Vec::new();
    for foothold in footholds {
        let target = match foothold {
            Foothold::CreatedKey { user, .. } | Foothold::CreatedUser { user, .. } => (PrincipalType::User, user),
            Foothold::CreatedRole { role, .. } => (PrincipalType::Role, role),
            Foothold::Changed { name, principal, .. } | Foothold::Tagged { name, principal, .. } => {
                let created = verdicts.contains_key(&(*principal, name.clone()));
                let note = if created {
                    " (a principal the attacker created)"
                } else {
                    ""
                };
                changed.push(format!("{}{note}", foothold.line()));
                continue;
            }
        };
        let verdict = verdicts
            .get(&(target.0, target.1.clone()))
            .cloned()
            .unwrap_or_else(|| Verdict::List("not a principal".to_owned()));
        let done = match (&verdict, foothold) {
            (Verdict::List(reason), _) => {
                listed.push(format!("{}: {reason}", foothold.line()));
                continue;
            }
            (
                Verdict::Contain,
                Foothold::CreatedKey {
                    user, access_key_id, ..
                },
            ) => iam::set_key_status(iam_client, user, access_key_id, StatusType::Inactive).await,
            (Verdict::Contain, Foothold::CreatedUser { user, .. }) => {
                iam::deny_user(iam_client, user, &Reach::Everything).await
            }
            (Verdict::Contain, Foothold::CreatedRole { role, .. }) => {
                iam::deny_role(iam_client, role, &Reach::Everything).await
            }
            (Verdict::Contain, Foothold::Changed { .. } | Foothold::Tagged { .. }) => continue,
        };
        match done {
            Ok(done) => {
                request_ids.extend(done.request_ids.into_iter().map(Some));
                let unprotected = tag_set_by(footholds, target.0, target.1, &guards.protected_tag)
                    .map(|set| {
                        format!(
                            " (its protected tag {} was set by the compromised identity itself, {set}: it protects \
                             nothing)",
                            guards.protected_tag
                        )
                    })
                    .unwrap_or_default();
                contained.push(format!("{}: {}{unprotected}", foothold.line(), contained_how(foothold)));
            }
            // Deleted since: nothing left to contain.
            Err(err) if err.code == "NoSuchEntity" => listed.push(format!("{}: gone", foothold.line())),
            Err(err) => return Err(err),
        }
    }
    let page = page_lines(&contained, &listed, &changed);
    Ok(Done::new(
        request_ids,
        serde_json::json!({
            "contained": contained,
            "listed": listed,
            "changed": changed,
            "page": page,
        }),
    ))
}

/// What the page says of the sweep.
fn page_lines(contained: &[String], listed: &[String], changed: &[String]) -> BTreeMap<String, String> {
    let mut page = BTreeMap::new();
    if !contained.is_empty() || !listed.is_empty() {
        let mut parts = Vec::new();
        if !contained.is_empty() {
            parts.push(format!("contained: {}", contained.join("; ")));
        }
        if !listed.is_empty() {
            parts.push(format!("NOT contained, for a person: {}", listed.join("; ")));
        }
        page.insert("persistence".to_owned(), parts.join(". "));
    }
    if !changed.is_empty() {
        page.insert(
            "persistence-changed".to_owned(),
            format!("revert by hand if not wanted: {}", changed.join("; ")),
        );
    }
    page
}

fn contained_how(foothold: &Foothold) -> &'static str {
    match foothold {
        Foothold::CreatedKey { .. } => "key set Inactive",
        Foothold::CreatedUser { .. } | Foothold::CreatedRole { .. } => {
            "denied everything (inline policy tourniquet-deny-all)"
        }
        Foothold::Changed { .. } | Foothold::Tagged { .. } => "listed",
    }
}
