//! Security Hub: which findings are trusted, what a console custom action asks, and what is written back.
//!
//! Intake reads both formats (ASFF and OCSF) into an `Incident` carrying a [`Finding`]; the
//! trust verdict is made here once ([`trust`]) and the target pages only an untrusted finding.
//! A custom action changes the policy a person's decision runs under ([`policy_for`]). The
//! write-back step ([`write_back`]) says what was done, in the finding itself.

use std::borrow::Cow;

use serde::{Deserialize, Serialize};

use crate::incident::Incident;
use crate::plan::Plan;
use crate::policy::{Playbook, Policy};
use crate::report::StepReport;

/// The two finding formats Security Hub sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Format {
    /// The AWS Security Finding Format (Security Hub CSPM), written back by `BatchUpdateFindings`.
    Asff,
    /// OCSF (the current Security Hub), written back by `BatchUpdateFindingsV2`.
    Ocsf,
}

/// A console custom action: a person chose the finding and the action.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum CustomAction {
    /// "Tourniquet contain": act even below the severity threshold; every other guard holds.
    Contain,
    /// "Tourniquet plan": plan, probe and page; change nothing.
    Plan,
}

impl CustomAction {
    /// The custom action's id in the template (`AWS::SecurityHub::ActionTarget` `Id`).
    #[must_use]
    pub fn id(self) -> &'static str {
        match self {
            CustomAction::Contain => "TourniquetContain",
            CustomAction::Plan => "TourniquetPlan",
        }
    }

    /// The action named by a custom action ARN (`arn:...:action/custom/<id>`), if it is ours.
    #[must_use]
    pub fn from_arn(arn: &str) -> Option<Self> {
        let id = arn.rsplit_once("action/custom/")?.1;
        [CustomAction::Contain, CustomAction::Plan]
            .into_iter()
            .find(|action| action.id().eq_ignore_ascii_case(id))
    }
}

/// The Security Hub side of an incident: how the finding is known to Security Hub (to write
/// back to it), who produced it and whether it is trusted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Finding {
    pub format: Format,
    /// The identity `BatchUpdateFindings` takes: the ASFF `Id`, or the OCSF `metadata.uid`.
    pub id: String,
    /// The ASFF `ProductArn`, or the OCSF `metadata.product.uid`.
    pub product_arn: String,
    /// Why the finding is not trusted, if it is not: it pages only, whatever it says.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub untrusted: Option<String>,
    /// The console custom action that sent it, if a person did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub action: Option<CustomAction>,
}

/// The AWS service that produced a finding, from its product ARN, or why the finding is not
/// trusted. Only AWS's own products are: ASFF `arn:<partition>:securityhub:<region>::product/aws/<service>`,
/// OCSF `arn:<partition>:securityhub:<region>::productv2/aws/<service>`. A finding imported with
/// `BatchImportFindings` under an account's own product ARN (`product/<account>/default`) or a
/// partner's is not: it can never make Tourniquet act.
pub fn trust(product_arn: Option<&str>) -> Result<String, String> {
    let Some(arn) = product_arn else {
        return Err("the finding names no product ARN, so who produced it is unknown".to_owned());
    };
    let parts: Vec<&str> = arn.splitn(6, ':').collect();
    let trusted = match parts.as_slice() {
        ["arn", partition, "securityhub", region, "", resource] if !partition.is_empty() && !region.is_empty() => {
            resource
                .strip_prefix("product/aws/")
                .or_else(|| resource.strip_prefix("productv2/aws/"))
                .filter(|service| {
                    !service.is_empty()
                        && service
                            .bytes()
                            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
                })
        }
        _ => None,
    };
    trusted.map(ToOwned::to_owned).ok_or_else(|| {
        format!(
            "the finding's product {arn:?} is not an AWS service (arn:<partition>:securityhub:<region>::product/aws/<service>): \
             anyone can import such a finding, so it is not trusted to act on"
        )
    })
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

/// The workflow status written back to a finding.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Workflow {
    /// A person was told and must still look (a contained compromise, a page, a failure).
    Notified,
    /// The posture fix is complete.
    Resolved,
}

impl Workflow {
    /// ASFF's spelling.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Workflow::Notified => "NOTIFIED",
            Workflow::Resolved => "RESOLVED",
        }
    }

    /// OCSF's `status_id`: 2 (In Progress) or 4 (Resolved).
    #[must_use]
    pub fn ocsf_status_id(self) -> i32 {
        match self {
            Workflow::Notified => 2,
            Workflow::Resolved => 4,
        }
    }
}

/// Whether a playbook's completed run resolves the finding (a posture fix) or leaves it for a
/// person (a contained compromise, a page).
#[must_use]
pub fn resolves(playbook: Playbook) -> bool {
    matches!(
        playbook,
        Playbook::CloseOpenPorts
            | Playbook::BlockPublicBucket
            | Playbook::EncryptBucket
            | Playbook::DeactivateStaleKeys
    )
}

/// The longest note Security Hub takes (ASFF `Note.Text`).
pub const NOTE_LIMIT: usize = 512;

/// What to write back once the steps before the write-back ran: RESOLVED only for a posture
/// fix whose every step succeeded, NOTIFIED otherwise; the note says what was done, the
/// incident and where the evidence is.
#[must_use]
pub fn write_back(
    incident: &Incident,
    plan: &Plan,
    before: &[StepReport],
    evidence: &str,
    resolve: bool,
) -> (Workflow, String) {
    let acted: Vec<&StepReport> = before
        .iter()
        .filter(|s| plan.steps.get(s.index).is_some_and(|p| p.step.mutates()))
        .collect();
    let failed: Vec<&str> = acted
        .iter()
        .filter(|s| !s.succeeded())
        .map(|s| s.action.as_str())
        .collect();
    let status = if resolve && failed.is_empty() && !acted.is_empty() {
        Workflow::Resolved
    } else {
        Workflow::Notified
    };
    let done: Vec<&str> = acted
        .iter()
        .filter(|s| s.succeeded())
        .map(|s| s.action.as_str())
        .collect();
    let what = if plan.playbook == Playbook::PageOnly {
        "paged a person, changed nothing".to_owned()
    } else if plan.hold.is_some() && done.is_empty() {
        format!("{}: held for a person's approval", plan.playbook.as_str())
    } else if failed.is_empty() {
        format!("{}: {}", plan.playbook.as_str(), done.join(", "))
    } else {
        format!(
            "{}: done {}; FAILED {}",
            plan.playbook.as_str(),
            if done.is_empty() {
                "nothing".to_owned()
            } else {
                done.join(", ")
            },
            failed.join(", ")
        )
    };
    let note = format!("Tourniquet {}: {what}. Evidence: {evidence}", incident.id);
    (status, truncate(&note, NOTE_LIMIT))
}

/// `text` cut to at most `limit` bytes on a character boundary, ending with `...` when cut.
fn truncate(text: &str, limit: usize) -> String {
    if text.len() <= limit {
        return text.to_owned();
    }
    let mut end = limit.saturating_sub(3);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}...", &text[..end])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_aws_products_are_trusted() {
        for (arn, service) in [
            ("arn:aws:securityhub:us-east-1::product/aws/guardduty", "guardduty"),
            (
                "arn:aws-cn:securityhub:cn-north-1::product/aws/securityhub",
                "securityhub",
            ),
            ("arn:aws:securityhub:eu-west-1::productv2/aws/inspector", "inspector"),
            (
                "arn:aws-us-gov:securityhub:us-gov-west-1::product/aws/access-analyzer",
                "access-analyzer",
            ),
        ] {
            assert_eq!(trust(Some(arn)), Ok(service.to_owned()), "{arn}");
        }
        for arn in [
            "arn:aws:securityhub:us-east-1:123456789012:product/123456789012/default",
            "arn:aws:securityhub:us-east-1::product/crowdstrike/crowdstrike-falcon",
            "arn:aws:securityhub:us-east-1:123456789012:product/aws/guardduty",
            "arn:aws:securityhub:us-east-1::product/aws/",
            "arn:aws:securityhub:us-east-1::product/aws/guardduty/extra",
            "arn:aws:securityhub:us-east-1::product/aws/GuardDuty",
            "arn:aws:guardduty:us-east-1::product/aws/guardduty",
            "arn::securityhub:us-east-1::product/aws/guardduty",
            "arn:aws:securityhub:::product/aws/guardduty",
            "product/aws/guardduty",
            "",
        ] {
            let refused = trust(Some(arn)).unwrap_err();
            assert!(refused.contains("not trusted"), "{arn}: {refused}");
        }
        assert!(trust(None).unwrap_err().contains("no product ARN"));
    }

    #[test]
    fn custom_actions_by_arn() {
        assert_eq!(
            CustomAction::from_arn("arn:aws:securityhub:us-east-1:123456789012:action/custom/TourniquetContain"),
            Some(CustomAction::Contain)
        );
        assert_eq!(
            CustomAction::from_arn("arn:aws:securityhub:us-east-1:123456789012:action/custom/tourniquetplan"),
            Some(CustomAction::Plan)
        );
        assert_eq!(
            CustomAction::from_arn("arn:aws:securityhub:us-east-1:123456789012:action/custom/SendToJira"),
            None
        );
        assert_eq!(CustomAction::from_arn("TourniquetContain"), None);
    }

    #[test]
    fn notes_are_cut_on_a_character_boundary() {
        let long = "é".repeat(400);
        let cut = truncate(&long, NOTE_LIMIT);
        assert!(cut.len() <= NOTE_LIMIT && cut.ends_with("..."), "{}", cut.len());
        assert_eq!(truncate("short", NOTE_LIMIT), "short");
    }
}
