//! Deployment settings read from the environment at cold start; a bad one fails loudly, by name.

use thiserror::Error;

/// Why the settings could not be read.
#[derive(Debug, Error, PartialEq)]
pub enum SettingsError {
    #[error("missing setting {var}")]
    Missing { var: &'static str },
    #[error("invalid setting {var}={value:?}: expected {expected}")]
    Invalid {
        var: &'static str,
        value: String,
        expected: &'static str,
    },
}

/// Everything a deployment configures. Defaults are the safe, useful choice.
#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    /// SNS topic that receives pages (`TOURNIQUET_TOPIC_ARN`, required).
    pub topic_arn: String,
    /// Bucket for evidence and the ledger (`TOURNIQUET_EVIDENCE_BUCKET`, required).
    pub evidence_bucket: String,
    /// Report and page the plan, change nothing (`TOURNIQUET_DRY_RUN`, default false).
    pub dry_run: bool,
    /// Resources carrying this tag key are never changed (`TOURNIQUET_PROTECTED_TAG`).
    pub protected_tag: String,
    /// Findings below this severity page only (`TOURNIQUET_SEVERITY_THRESHOLD`, default 7.0).
    pub severity_threshold: f64,
    /// Most instances held in quarantine at once (`TOURNIQUET_MAX_QUARANTINED`, default 5).
    pub max_quarantined: u32,
    /// Principals never acted on: names or ARNs, `*` wildcards
    /// (`TOURNIQUET_PROTECTED_PRINCIPALS`, comma-separated).
    pub protected_principals: Vec<String>,
    /// KMS key for default bucket encryption (`TOURNIQUET_KMS_KEY_ID`); SSE-S3 when unset.
    pub kms_key_id: Option<String>,
    /// Alarms whose name starts with this isolate their instance
    /// (`TOURNIQUET_ISOLATE_ALARM_PREFIX`, default `tourniquet-isolate-`).
    pub isolate_alarm_prefix: String,
    /// How pages are written (`TOURNIQUET_PAGE_FORMAT`, `TOURNIQUET_RELEASE_FUNCTION`).
    pub pages: PageSettings,
}

/// The JSON a page carries for every protocol but email: the Tourniquet page document, or an
/// AWS Chatbot (Amazon Q Developer in chat applications) custom notification.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum PageFormat {
    #[default]
    Tourniquet,
    Chatbot,
}

/// Page settings, read apart from the rest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageSettings {
    /// `TOURNIQUET_PAGE_FORMAT`: `tourniquet` (default) or `chatbot`.
    pub format: PageFormat,
    /// The quarantine-release function's name, for the release command in a page
    /// (`TOURNIQUET_RELEASE_FUNCTION`, default `quarantine-release`).
    pub release_function: String,
}

impl Default for PageSettings {
    fn default() -> Self {
        PageSettings {
            format: PageFormat::Tourniquet,
            release_function: DEFAULT_RELEASE_FUNCTION.to_owned(),
        }
    }
}

pub const DEFAULT_RELEASE_FUNCTION: &str = "quarantine-release";

impl PageSettings {
    /// Reads the page settings through `get` (trimmed, blanks as unset).
    fn from_get(get: impl Fn(&'static str) -> Option<String>) -> Result<Self, SettingsError> {
        let format = match get("TOURNIQUET_PAGE_FORMAT") {
            None => PageFormat::Tourniquet,
            Some(value) => match value.to_ascii_lowercase().as_str() {
                "tourniquet" => PageFormat::Tourniquet,
                "chatbot" => PageFormat::Chatbot,
                _ => {
                    return Err(SettingsError::Invalid {
                        var: "TOURNIQUET_PAGE_FORMAT",
                        value,
                        expected: "tourniquet or chatbot",
                    });
                }
            },
        };
        let release_function =
            get("TOURNIQUET_RELEASE_FUNCTION").unwrap_or_else(|| DEFAULT_RELEASE_FUNCTION.to_owned());
        Ok(PageSettings {
            format,
            release_function,
        })
    }
}

pub const DEFAULT_ISOLATE_ALARM_PREFIX: &str = "tourniquet-isolate-";

pub const DEFAULT_PROTECTED_TAG: &str = "tourniquet:protected";

impl Settings {
    /// Reads the process environment.
    pub fn from_env() -> Result<Self, SettingsError> {
        Self::from_lookup(|var| std::env::var(var).ok())
    }

    /// Reads settings through `lookup`, so tests need not touch the process environment.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, SettingsError> {
        let get = |var: &'static str| lookup(var).map(|v| v.trim().to_owned()).filter(|v| !v.is_empty());
        let required = |var: &'static str| get(var).ok_or(SettingsError::Missing { var });

        let topic_arn = required("TOURNIQUET_TOPIC_ARN")?;
        if !(topic_arn.starts_with("arn:") && topic_arn.contains(":sns:")) {
            return Err(SettingsError::Invalid {
                var: "TOURNIQUET_TOPIC_ARN",
                value: topic_arn,
                expected: "an SNS topic ARN",
            });
        }
        let evidence_bucket = required("TOURNIQUET_EVIDENCE_BUCKET")?;
        let bucket_ok = (3..=63).contains(&evidence_bucket.len())
            && evidence_bucket
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.');
        if !bucket_ok {
            return Err(SettingsError::Invalid {
                var: "TOURNIQUET_EVIDENCE_BUCKET",
                value: evidence_bucket,
                expected: "an S3 bucket name",
            });
        }
        let dry_run = match get("TOURNIQUET_DRY_RUN") {
            None => false,
            Some(value) => match value.to_ascii_lowercase().as_str() {
                "true" => true,
                "false" => false,
                _ => {
                    return Err(SettingsError::Invalid {
                        var: "TOURNIQUET_DRY_RUN",
                        value,
                        expected: "true or false",
                    });
                }
            },
        };
        let protected_tag = get("TOURNIQUET_PROTECTED_TAG").unwrap_or_else(|| DEFAULT_PROTECTED_TAG.to_owned());
        let severity_threshold = match get("TOURNIQUET_SEVERITY_THRESHOLD") {
            None => 7.0,
            Some(value) => match value.parse::<f64>() {
                Ok(n) if (0.0..=10.0).contains(&n) => n,
                _ => {
                    return Err(SettingsError::Invalid {
                        var: "TOURNIQUET_SEVERITY_THRESHOLD",
                        value,
                        expected: "a number from 0 to 10",
                    });
                }
            },
        };
        let max_quarantined = match get("TOURNIQUET_MAX_QUARANTINED") {
            None => 5,
            Some(value) => value.parse::<u32>().map_err(|_| SettingsError::Invalid {
                var: "TOURNIQUET_MAX_QUARANTINED",
                value,
                expected: "a whole number",
            })?,
        };
        let protected_principals = get("TOURNIQUET_PROTECTED_PRINCIPALS")
            .map(|list| {
                list.split(',')
                    .map(str::trim)
                    .filter(|p| !p.is_empty())
                    .map(ToOwned::to_owned)
                    .collect()
            })
            .unwrap_or_default();
        let isolate_alarm_prefix =
            get("TOURNIQUET_ISOLATE_ALARM_PREFIX").unwrap_or_else(|| DEFAULT_ISOLATE_ALARM_PREFIX.to_owned());
        if isolate_alarm_prefix.contains('*') {
            return Err(SettingsError::Invalid {
                var: "TOURNIQUET_ISOLATE_ALARM_PREFIX",
                value: isolate_alarm_prefix,
                expected: "an alarm name prefix without wildcards",
            });
        }
        Ok(Settings {
            pages: PageSettings::from_get(get)?,
            topic_arn,
            evidence_bucket,
            dry_run,
            protected_tag,
            severity_threshold,
            max_quarantined,
            protected_principals,
            kms_key_id: get("TOURNIQUET_KMS_KEY_ID"),
            isolate_alarm_prefix,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TOPIC: &str = "arn:aws:sns:us-east-1:123456789012:pages";

    fn with(pairs: &[(&str, &str)]) -> Result<Settings, SettingsError> {
        let pairs: Vec<(String, String)> = pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
        Settings::from_lookup(|var| pairs.iter().find(|(k, _)| k == var).map(|(_, v)| v.clone()))
    }

    #[test]
    fn defaults_are_safe() {
        let s = with(&[
            ("TOURNIQUET_TOPIC_ARN", TOPIC),
            ("TOURNIQUET_EVIDENCE_BUCKET", "evidence"),
        ])
        .unwrap();
        assert!(!s.dry_run);
        assert_eq!(s.protected_tag, DEFAULT_PROTECTED_TAG);
        assert!((s.severity_threshold - 7.0).abs() < f64::EPSILON);
        assert_eq!(s.max_quarantined, 5);
        assert!(s.protected_principals.is_empty());
        assert_eq!(s.pages, PageSettings::default());
    }

    #[test]
    fn page_format_and_release_function() {
        let s = with(&[
            ("TOURNIQUET_TOPIC_ARN", TOPIC),
            ("TOURNIQUET_EVIDENCE_BUCKET", "evidence"),
            ("TOURNIQUET_PAGE_FORMAT", " Chatbot "),
            ("TOURNIQUET_RELEASE_FUNCTION", "prod-quarantine-release"),
        ])
        .unwrap();
        assert_eq!(s.pages.format, PageFormat::Chatbot);
        assert_eq!(s.pages.release_function, "prod-quarantine-release");
    }

    #[test]
    fn protected_principals_are_a_list() {
        let s = with(&[
            ("TOURNIQUET_TOPIC_ARN", TOPIC),
            ("TOURNIQUET_EVIDENCE_BUCKET", "evidence"),
            (
                "TOURNIQUET_PROTECTED_PRINCIPALS",
                " break-glass , arn:aws:iam::*:role/Admin*,, ",
            ),
        ])
        .unwrap();
        assert_eq!(s.protected_principals, ["break-glass", "arn:aws:iam::*:role/Admin*"]);
    }

    #[test]
    fn missing_and_invalid_settings_are_named() {
        assert_eq!(
            with(&[("TOURNIQUET_EVIDENCE_BUCKET", "evidence")])
                .unwrap_err()
                .to_string(),
            "missing setting TOURNIQUET_TOPIC_ARN"
        );
        assert_eq!(
            with(&[("TOURNIQUET_TOPIC_ARN", TOPIC)]).unwrap_err().to_string(),
            "missing setting TOURNIQUET_EVIDENCE_BUCKET"
        );
        let base = [
            ("TOURNIQUET_TOPIC_ARN", TOPIC),
            ("TOURNIQUET_EVIDENCE_BUCKET", "evidence"),
        ];
        for (var, value) in [
            ("TOURNIQUET_DRY_RUN", "yes"),
            ("TOURNIQUET_SEVERITY_THRESHOLD", "11"),
            ("TOURNIQUET_SEVERITY_THRESHOLD", "high"),
            ("TOURNIQUET_MAX_QUARANTINED", "-1"),
            ("TOURNIQUET_TOPIC_ARN", "pages"),
            ("TOURNIQUET_EVIDENCE_BUCKET", "Evidence_Bucket"),
            ("TOURNIQUET_PAGE_FORMAT", "slack"),
        ] {
            let mut pairs = base.to_vec();
            pairs.retain(|(k, _)| *k != var);
            pairs.push((var, value));
            let err = with(&pairs).unwrap_err();
            assert!(
                matches!(err, SettingsError::Invalid { var: v, .. } if v == var),
                "{var}: {err}"
            );
        }
    }

    #[test]
    fn dry_run_and_threshold_overrides() {
        let s = with(&[
            ("TOURNIQUET_TOPIC_ARN", TOPIC),
            ("TOURNIQUET_EVIDENCE_BUCKET", "evidence"),
            ("TOURNIQUET_DRY_RUN", "TRUE"),
            ("TOURNIQUET_SEVERITY_THRESHOLD", "4.5"),
        ])
        .unwrap();
        assert!(s.dry_run);
        assert!((s.severity_threshold - 4.5).abs() < f64::EPSILON);
    }
}
