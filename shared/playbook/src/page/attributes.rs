//! The SNS message attributes a subscription filter policy matches on.

use super::document::{Document, Kind};

/// One message attribute, for subscription filter policies.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attribute {
    pub name: &'static str,
    /// `String` or `Number`.
    pub data_type: &'static str,
    pub value: String,
}

/// The message attributes subscription filter policies match on.
pub(super) fn attributes(doc: &Document) -> Vec<Attribute> {
    let text = |name, value: &str| Attribute {
        name,
        data_type: "String",
        value: value.to_owned(),
    };
    vec![
        Attribute {
            name: "severity",
            data_type: "Number",
            value: format!("{:.1}", doc.finding.severity),
        },
        text("severity_label", &doc.finding.severity_label),
        text("playbook", &doc.playbook),
        text("verdict", doc.verdict.as_str()),
        text("account", doc.account.id.as_deref().unwrap_or("unknown")),
        text("source", &doc.source),
        text("incident_id", &doc.incident_id),
        text("finding_type", &doc.finding.finding_type),
        text(
            "kind",
            match doc.kind {
                Kind::Page => "page",
                Kind::Update => "update",
            },
        ),
    ]
}
