//! What was seen of stopped audit logging (a trail's status and settings), and the window nothing was recorded in.

use serde::{Deserialize, Serialize};

/// The logging a defense-evasion report names, as its service shows it now.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum LoggingState {
    Trail(Box<TrailState>),
    /// Every trail whose home is the region.
    Trails {
        trails: Vec<TrailState>,
    },
    /// The region's Config recorders.
    Recorders {
        recorders: Vec<RecorderState>,
    },
}

/// A Config recorder as `DescribeConfigurationRecorders` and its status show it.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct RecorderState {
    pub name: String,
    /// `recording`; `None` when its status was not reported.
    pub recording: Option<bool>,
    /// `lastStopTime` (RFC 3339).
    pub stopped_at: Option<String>,
    /// `lastStartTime` (RFC 3339).
    pub started_at: Option<String>,
    pub role_arn: Option<String>,
    /// The recording group as configured (evidence).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recording_group: Option<serde_json::Value>,
}

/// A CloudTrail trail as `GetTrail`, `GetTrailStatus` and `GetEventSelectors` show it.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct TrailState {
    /// The trail as the report named it (name or ARN).
    pub trail: String,
    /// `TrailNotFoundException`: the trail was deleted.
    pub missing: bool,
    pub arn: Option<String>,
    pub name: Option<String>,
    pub home_region: Option<String>,
    /// `IsLogging`.
    pub logging: Option<bool>,
    /// `StopLoggingTime` (RFC 3339): when logging last stopped.
    pub stopped_at: Option<String>,
    /// `StartLoggingTime` (RFC 3339): when logging last started.
    pub started_at: Option<String>,
    pub multi_region: Option<bool>,
    pub include_global_service_events: Option<bool>,
    pub log_file_validation: Option<bool>,
    pub s3_bucket: Option<String>,
    pub s3_key_prefix: Option<String>,
    pub kms_key_id: Option<String>,
    /// The trail's event selectors as `GetEventSelectors` returned them (evidence).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event_selectors: Option<serde_json::Value>,
    /// Secondary reads that failed (the response goes on without them).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
}

/// The window in which a trail recorded nothing: from when it stopped to its restart.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Unrecorded {
    /// What recorded nothing: `trail management-events`, `Config recorder default`.
    pub logging: String,
    /// When logging stopped; `None`: not known (the page says so).
    pub from: Option<String>,
    /// When logging started again; `None`: at the restart this response makes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub until: Option<String>,
    /// The regions the trail records: `None` for every region (a multi-region trail).
    pub region: Option<String>,
}

impl Unrecorded {
    /// Where nothing was recorded: `every region` or `us-east-1`.
    #[must_use]
    pub fn regions(&self) -> String {
        match &self.region {
            None => "every region (a multi-region trail)".to_owned(),
            Some(region) => region.clone(),
        }
    }

    /// One line for the page, with `until` the restart's time when this response restarts it.
    #[must_use]
    pub fn describe(&self, restart: &str) -> String {
        format!(
            "unrecorded: {} recorded nothing in {} from {} until {}; what was done in that window is missing from \
             it, look at other sources (VPC flow logs, S3 access logs, service logs)",
            self.logging,
            self.regions(),
            self.from
                .as_deref()
                .unwrap_or("an unknown time (the stop time could not be read)"),
            self.until.as_deref().unwrap_or(restart),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_window_names_its_regions_and_ends() {
        let gap = Unrecorded {
            logging: "trail audit".into(),
            from: Some("2024-06-11T03:14:55Z".into()),
            until: None,
            region: None,
        };
        let line = gap.describe("the restart at 2024-06-11T04:02:00Z");
        assert!(line.contains("every region"), "{line}");
        assert!(
            line.contains("from 2024-06-11T03:14:55Z until the restart at 2024-06-11T04:02:00Z"),
            "{line}"
        );
        let single = Unrecorded {
            region: Some("eu-west-1".into()),
            from: None,
            until: Some("2024-06-11T03:20:00Z".into()),
            ..gap
        };
        let line = single.describe("unused");
        assert!(line.contains("in eu-west-1 from an unknown time"), "{line}");
        assert!(line.contains("until 2024-06-11T03:20:00Z"), "{line}");
    }
}
