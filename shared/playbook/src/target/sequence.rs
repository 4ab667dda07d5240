//! Which playbook answers each member of an attack sequence, and which members only the page names.

use serde::{Deserialize, Serialize};

use super::{Look, Target, credentials};
use crate::incident::UserType;
use crate::incident::sequence::{MemberKind, Sequence};
use crate::place::Place;
use crate::policy::{Playbook, Policy};

/// One member of a sequence that a playbook answers, and what to look at for it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MemberLook {
    /// The member's index in the sequence (`Sequence::members`).
    pub member: usize,
    pub playbook: Playbook,
    pub look: Look,
    /// Where the member is, when not where the sequence's finding is: another account of the
    /// organization (through its member role) or another region.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub place: Option<Place>,
}

/// The looks of every member a playbook answers, in `place` or in the member's own account
/// and region when in scope (`TOURNIQUET_ACCOUNTS`); every other member with the reason it is
/// only paged.
pub(super) fn look(sequence: &Sequence, place: &Place, policy: &Policy) -> Look {
    let mut members = Vec::new();
    let mut unanswered = Vec::new();
    for (index, member) in sequence.members.iter().enumerate() {
        let label = member.label();
        let elsewhere = |ours: &str, theirs: Option<&String>| theirs.is_some_and(|t| !ours.is_empty() && t != ours);
        let member_place =
            if elsewhere(&place.account, member.account.as_ref()) || elsewhere(&place.region, member.region.as_ref()) {
                let account = member.account.as_deref().unwrap_or(&place.account);
                let region = member.region.as_deref().unwrap_or(&place.region);
                match super::place(Some(account), Some(region), policy) {
                    Ok(there) => Some(there),
                    Err(reason) => {
                        unanswered.push(format!("{label} (account {account}, region {region}): {reason}"));
                        continue;
                    }
                }
            } else {
                None
            };
        let answered = match &member.kind {
            MemberKind::User {
                user_name,
                access_key_id,
            } => credentials(
                &label,
                Some(&UserType::IamUser),
                Some(user_name),
                access_key_id.as_deref(),
            )
            .map(|look| (Playbook::CredentialCompromise, look)),
            MemberKind::Role { role_name, .. } => Ok((
                Playbook::CredentialCompromise,
                Look::Role {
                    role_name: role_name.clone(),
                },
            )),
            MemberKind::Principal { name, user_type } => {
                credentials(&label, Some(&UserType::parse(user_type)), Some(name), None)
                    .map(|look| (Playbook::CredentialCompromise, look))
            }
            MemberKind::Instance { instance_id } => Ok((
                Playbook::Ec2Compromise,
                Look::Instance {
                    instance_id: instance_id.clone(),
                },
            )),
            MemberKind::Bucket { name, public: true } => {
                Ok((Playbook::BlockPublicBucket, Look::ExposedBucket { name: name.clone() }))
            }
            MemberKind::Bucket { public: false, .. } => Err(Target::page(format!(
                "{label}: the sequence does not show it public; it is left as it is"
            ))),
            MemberKind::Cluster { .. } => Err(Target::page(format!(
                "{label}: Tourniquet does not act inside a cluster; the runbook is below"
            ))),
            MemberKind::Other { .. } => Err(Target::page(format!("{label}: no playbook for it; listed only"))),
        };
        match answered {
            Ok((playbook, look)) => members.push(MemberLook {
                member: index,
                playbook,
                look,
                place: member_place,
            }),
            Err(Target::PageOnly { reason, .. }) => unanswered.push(reason),
            Err(Target::Act { .. }) => {}
        }
    }
    Look::Sequence { members, unanswered }
}
