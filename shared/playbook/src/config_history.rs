//! Configuration history: what AWS Config recorded of the contained resource (instance,
//! security group, bucket) over the breach window, kept as evidence beside the timeline.
//!
//! Pure: the reading is in [`crate::actions::config_history`].

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::names::evidence;

/// A resource as AWS Config names it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConfigResource {
    /// `AWS::EC2::Instance`, `AWS::EC2::SecurityGroup`, `AWS::S3::Bucket`.
    pub resource_type: String,
    pub resource_id: String,
}

impl ConfigResource {
    #[must_use]
    pub fn instance(instance_id: &str) -> Self {
        Self::of("AWS::EC2::Instance", instance_id)
    }

    #[must_use]
    pub fn security_group(group_id: &str) -> Self {
        Self::of("AWS::EC2::SecurityGroup", group_id)
    }

    #[must_use]
    pub fn bucket(name: &str) -> Self {
        Self::of("AWS::S3::Bucket", name)
    }

    fn of(resource_type: &str, resource_id: &str) -> Self {
        ConfigResource {
            resource_type: resource_type.to_owned(),
            resource_id: resource_id.to_owned(),
        }
    }

    /// `AWS::EC2::Instance i-0abc`, for pages.
    #[must_use]
    pub fn label(&self) -> String {
        format!("{} {}", self.resource_type, self.resource_id)
    }

    /// The evidence object it is kept in, relative to the incident's folder.
    #[must_use]
    pub fn object_name(&self) -> String {
        format!("{}{}.json", evidence::CONFIG_HISTORY, self.resource_id)
    }
}

/// One configuration item, as the evidence keeps it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Item {
    /// When AWS Config captured it, RFC 3339.
    pub captured: String,
    /// `OK`, `ResourceDiscovered`, `ResourceDeleted`, ...
    pub status: Option<String>,
    pub state_id: Option<String>,
    /// The resource's configuration (parsed where AWS Config gave JSON text).
    pub configuration: serde_json::Value,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub supplementary: BTreeMap<String, serde_json::Value>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub tags: BTreeMap<String, String>,
}

/// `text` as JSON where it is JSON; as a string otherwise.
#[must_use]
pub fn json_or_text(text: &str) -> serde_json::Value {
    serde_json::from_str(text).unwrap_or_else(|_| serde_json::Value::String(text.to_owned()))
}

/// What one read of a resource's configuration history found.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConfigHistory {
    pub incident_id: String,
    pub resource: ConfigResource,
    /// The window, as the timeline's: from `start` (24 hours before the finding's first
    /// sighting) to `end`.
    pub start: String,
    pub end: String,
    /// Why AWS Config has no history of it here (no recorder in the account and region, or
    /// the resource type not recorded), if it has none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub not_recorded: Option<String>,
    /// The configuration in effect when the window opened: the last item captured before it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub before_window: Option<Item>,
    /// The items captured in the window, oldest first.
    pub items: Vec<Item>,
    /// Why the reading stopped before the end of the window, if it did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cut: Option<String>,
    /// AWS Config records a change minutes after it is made.
    pub lag: String,
}

/// What AWS Config said of one resource: the history, or why there is none.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Read {
    pub not_recorded: Option<String>,
    pub before_window: Option<Item>,
    pub items: Vec<Item>,
    pub cut: Option<String>,
    pub calls: usize,
}

impl ConfigHistory {
    #[must_use]
    pub fn new(incident_id: &str, resource: ConfigResource, start: &str, end: &str, read: Read) -> Self {
        ConfigHistory {
            incident_id: incident_id.to_owned(),
            resource,
            start: start.to_owned(),
            end: end.to_owned(),
            not_recorded: read.not_recorded,
            before_window: read.before_window,
            items: read.items,
            cut: read.cut,
            lag: format!(
                "AWS Config records a change a few minutes after it is made: the containment's own changes may come \
                 after {end}"
            ),
        }
    }

    /// What was read, in a line, for the report and the drill.
    #[must_use]
    pub fn summary(&self) -> String {
        let label = self.resource.label();
        if let Some(why) = &self.not_recorded {
            return format!("{label}: no configuration history ({why})");
        }
        let before = if self.before_window.is_some() {
            ", and the configuration in effect before it"
        } else {
            ""
        };
        let cut = self.cut.as_deref().map(|c| format!("; CUT: {c}")).unwrap_or_default();
        format!(
            "{label}: {} configuration item(s) recorded by AWS Config from {} to {}{before} ({}){cut}",
            self.items.len(),
            self.start,
            self.end,
            self.resource.object_name()
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(captured: &str) -> Item {
        Item {
            captured: captured.to_owned(),
            status: Some("OK".to_owned()),
            state_id: None,
            configuration: json_or_text(r#"{"groupId": "sg-1"}"#),
            supplementary: BTreeMap::new(),
            tags: BTreeMap::new(),
        }
    }

    #[test]
    fn the_page_counts_the_items_and_says_why_there_are_none() {
        let group = ConfigResource::security_group("sg-1");
        assert_eq!(group.object_name(), "config-history/sg-1.json");
        let read = Read {
            before_window: Some(item("2026-11-28T00:00:00Z")),
            items: vec![item("2026-11-29T00:00:00Z"), item("2026-11-29T00:05:00Z")],
            ..Read::default()
        };
        let history = ConfigHistory::new(
            "inc",
            group.clone(),
            "2026-11-28T10:00:00Z",
            "2026-11-29T10:00:00Z",
            read,
        );
        assert_eq!(
            history.summary(),
            "AWS::EC2::SecurityGroup sg-1: 2 configuration item(s) recorded by AWS Config from 2026-11-28T10:00:00Z \
             to 2026-11-29T10:00:00Z, and the configuration in effect before it (config-history/sg-1.json)"
        );
        assert_eq!(history.items[0].configuration["groupId"], "sg-1");
        let none = Read {
            not_recorded: Some("NoAvailableConfigurationRecorderException".to_owned()),
            ..Read::default()
        };
        let history = ConfigHistory::new("inc", group, "s", "e", none);
        assert_eq!(
            history.summary(),
            "AWS::EC2::SecurityGroup sg-1: no configuration history (NoAvailableConfigurationRecorderException)"
        );
        assert_eq!(json_or_text("not json"), serde_json::json!("not json"));
    }
}
