//! Security Hub's side of an incident: the finding's format and identity, who produced it, and a person's custom action.

use serde::{Deserialize, Serialize};

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

#[cfg(test)]
mod tests {
    use super::*;

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
}
