//! Deployment settings read from the environment at cold start; a bad one fails loudly, by name.

use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;

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
    /// The role assumed in a member account (`TOURNIQUET_MEMBER_ROLE`, default
    /// `tourniquet-member`), as `arn:<partition>:iam::<account>:role/<name>`.
    pub member_role: String,
    /// The accounts it may act in (`TOURNIQUET_ACCOUNTS`); default: its own account only.
    pub accounts: Scope,
    /// Accounts where it plans, probes and pages but changes nothing
    /// (`TOURNIQUET_DRY_RUN_ACCOUNTS`, comma-separated ids).
    pub dry_run_accounts: BTreeSet<String>,
    /// How pages are written (`TOURNIQUET_PAGE_FORMAT`, `TOURNIQUET_RELEASE_FUNCTION`).
    pub pages: PageSettings,
    /// The breach timeline and persistence sweep (`TOURNIQUET_TIMELINE_MAX_EVENTS`,
    /// `TOURNIQUET_CONTAIN_PERSISTENCE`, `TOURNIQUET_MAX_SWEPT_PRINCIPALS`).
    pub timeline: TimelineSettings,
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

/// The accounts Tourniquet may act in, besides its own.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Scope {
    /// Its own (home) account only.
    #[default]
    Home,
    /// These accounts (the home account is always in scope).
    Listed(BTreeSet<String>),
    /// Any account whose member role lets it in (`*`).
    Any,
}

impl Scope {
    /// Whether `account`, not the home account, is in scope.
    #[must_use]
    pub fn admits(&self, account: &str) -> bool {
        match self {
            Scope::Home => false,
            Scope::Listed(accounts) => accounts.contains(account),
            Scope::Any => true,
        }
    }
}

pub const DEFAULT_MEMBER_ROLE: &str = "tourniquet-member";

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
        let (member_role, accounts, dry_run_accounts) = organization(&get)?;
        Ok(Settings {
            pages: PageSettings::from_get(get)?,
            timeline: TimelineSettings::from_get(get)?,
            topic_arn,
            evidence_bucket,
            dry_run,
            protected_tag,
            severity_threshold,
            max_quarantined,
            protected_principals,
            kms_key_id: get("TOURNIQUET_KMS_KEY_ID"),
            isolate_alarm_prefix,
            member_role,
            accounts,
            dry_run_accounts,
        })
    }
}

/// The organization settings: the member role's name, the accounts in scope, the dry-run ones.
fn organization(
    get: &impl Fn(&'static str) -> Option<String>,
) -> Result<(String, Scope, BTreeSet<String>), SettingsError> {
    let member_role = get("TOURNIQUET_MEMBER_ROLE").unwrap_or_else(|| DEFAULT_MEMBER_ROLE.to_owned());
    let role_ok = (1..=64).contains(&member_role.len())
        && member_role
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"+=,.@_-".contains(&b));
    if !role_ok {
        return Err(SettingsError::Invalid {
            var: "TOURNIQUET_MEMBER_ROLE",
            value: member_role,
            expected: "an IAM role name (no path, up to 64 of A-Z a-z 0-9 +=,.@_-)",
        });
    }
    let accounts = match get("TOURNIQUET_ACCOUNTS") {
        None => Scope::Home,
        Some(value) if value == "*" => Scope::Any,
        Some(value) => Scope::Listed(account_list("TOURNIQUET_ACCOUNTS", &value)?),
    };
    let dry_run_accounts = match get("TOURNIQUET_DRY_RUN_ACCOUNTS") {
        None => BTreeSet::new(),
        Some(value) => account_list("TOURNIQUET_DRY_RUN_ACCOUNTS", &value)?,
    };
    Ok((member_role, accounts, dry_run_accounts))
}

/// A comma-separated list of 12-digit account ids; blanks between commas are ignored.
fn account_list(var: &'static str, value: &str) -> Result<BTreeSet<String>, SettingsError> {
    let ids: BTreeSet<String> = value
        .split(',')
        .map(str::trim)
        .filter(|id| !id.is_empty())
        .map(ToOwned::to_owned)
        .collect();
    if ids.is_empty()
        || !ids
            .iter()
            .all(|id| id.len() == 12 && id.bytes().all(|b| b.is_ascii_digit()))
    {
        return Err(SettingsError::Invalid {
            var,
            value: value.to_owned(),
            expected: "comma-separated 12-digit account ids",
        });
    }
    Ok(ids)
}

/// The timeline's settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct TimelineSettings {
    /// Stop reading after this many events (`TOURNIQUET_TIMELINE_MAX_EVENTS`, default 1,000).
    pub max_events: usize,
    /// Contain the footholds found (`TOURNIQUET_CONTAIN_PERSISTENCE`, default true); false:
    /// list them in the page only.
    pub contain_persistence: bool,
    /// The sweep acts on at most this many principals; more, and a person decides
    /// (`TOURNIQUET_MAX_SWEPT_PRINCIPALS`, default 5).
    pub max_swept_principals: usize,
}

impl Default for TimelineSettings {
    fn default() -> Self {
        TimelineSettings {
            max_events: 1_000,
            contain_persistence: true,
            max_swept_principals: 5,
        }
    }
}

impl TimelineSettings {
    /// Reads the timeline settings through `get` (trimmed, blanks as unset).
    pub(crate) fn from_get(get: impl Fn(&'static str) -> Option<String>) -> Result<Self, SettingsError> {
        let defaults = TimelineSettings::default();
        let count = |var: &'static str, default: usize| match get(var) {
            None => Ok(default),
            Some(value) => match value.parse::<usize>() {
                Ok(n) if n > 0 => Ok(n),
                _ => Err(SettingsError::Invalid {
                    var,
                    value,
                    expected: "a whole number above 0",
                }),
            },
        };
        let contain_persistence = match get("TOURNIQUET_CONTAIN_PERSISTENCE") {
            None => defaults.contain_persistence,
            Some(value) => match value.to_ascii_lowercase().as_str() {
                "true" => true,
                "false" => false,
                _ => {
                    return Err(SettingsError::Invalid {
                        var: "TOURNIQUET_CONTAIN_PERSISTENCE",
                        value,
                        expected: "true or false",
                    });
                }
            },
        };
        Ok(TimelineSettings {
            max_events: count("TOURNIQUET_TIMELINE_MAX_EVENTS", defaults.max_events)?,
            contain_persistence,
            max_swept_principals: count("TOURNIQUET_MAX_SWEPT_PRINCIPALS", defaults.max_swept_principals)?,
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
        assert_eq!(s.member_role, DEFAULT_MEMBER_ROLE);
        assert_eq!(s.accounts, Scope::Home);
        assert!(s.dry_run_accounts.is_empty());
        assert_eq!(s.pages, PageSettings::default());
    }

    #[test]
    fn organization_scope() {
        let base = [
            ("TOURNIQUET_TOPIC_ARN", TOPIC),
            ("TOURNIQUET_EVIDENCE_BUCKET", "evidence"),
        ];
        let with_more = |more: &[(&str, &str)]| {
            let mut pairs = base.to_vec();
            pairs.extend_from_slice(more);
            with(&pairs)
        };
        let s = with_more(&[
            ("TOURNIQUET_ACCOUNTS", " 111111111111, 222222222222 ,"),
            ("TOURNIQUET_DRY_RUN_ACCOUNTS", "222222222222"),
            ("TOURNIQUET_MEMBER_ROLE", "ir-member"),
        ])
        .unwrap();
        assert!(s.accounts.admits("111111111111") && s.accounts.admits("222222222222"));
        assert!(!s.accounts.admits("333333333333"));
        assert_eq!(s.dry_run_accounts.iter().collect::<Vec<_>>(), ["222222222222"]);
        assert_eq!(s.member_role, "ir-member");
        let any = with_more(&[("TOURNIQUET_ACCOUNTS", "*")]).unwrap();
        assert!(any.accounts.admits("333333333333"));
        assert!(!Scope::Home.admits("111111111111"));
        for (var, value) in [
            ("TOURNIQUET_ACCOUNTS", "12345"),
            ("TOURNIQUET_ACCOUNTS", "111111111111,*"),
            ("TOURNIQUET_ACCOUNTS", ","),
            ("TOURNIQUET_DRY_RUN_ACCOUNTS", "*"),
            ("TOURNIQUET_DRY_RUN_ACCOUNTS", "11111111111a"),
            ("TOURNIQUET_MEMBER_ROLE", "path/role"),
            ("TOURNIQUET_MEMBER_ROLE", "arn:aws:iam::111111111111:role/x"),
        ] {
            let err = with_more(&[(var, value)]).unwrap_err();
            assert!(
                matches!(err, SettingsError::Invalid { var: v, .. } if v == var),
                "{var}={value}: {err}"
            );
        }
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
