//! `make bench`: each measurement as rows of one markdown table.

pub mod contain;
pub mod machine;
pub mod process;
pub mod runtime_api;
pub mod sizes;
pub mod throughput;

use std::fmt::Write as _;
use std::time::Duration;

use serde_json::Value;

/// One line of the table.
#[derive(Debug, Clone)]
pub struct Row {
    pub metric: String,
    pub value: String,
    /// What the issue asks for; empty when nothing is asked.
    pub target: String,
    /// Whether the target is met; `None` without a target or a measurement.
    pub met: Option<bool>,
}

impl Row {
    /// A row with no target.
    pub fn info(metric: impl Into<String>, value: impl Into<String>) -> Self {
        Row {
            metric: metric.into(),
            value: value.into(),
            target: String::new(),
            met: None,
        }
    }

    /// A row checked against `target`.
    pub fn checked(metric: impl Into<String>, value: impl Into<String>, target: &str, met: bool) -> Self {
        Row {
            metric: metric.into(),
            value: value.into(),
            target: target.to_owned(),
            met: Some(met),
        }
    }

    /// A measurement that could not be made: the target, if any, counts as not met.
    pub fn failed(metric: impl Into<String>, target: &str, err: &anyhow::Error) -> Self {
        Row {
            metric: metric.into(),
            value: format!("not measured: {}", format!("{err:#}").replace('|', "/")),
            target: target.to_owned(),
            met: (!target.is_empty()).then_some(false),
        }
    }
}

/// The table, markdown.
#[must_use]
pub fn table(rows: &[Row]) -> String {
    let mut out = String::from("| metric | value | target | met? |\n|---|---|---|---|\n");
    for row in rows {
        let target = if row.target.is_empty() { "—" } else { &row.target };
        let met = match row.met {
            Some(true) => "yes",
            Some(false) => "no",
            None => "—",
        };
        let _ = writeln!(out, "| {} | {} | {target} | {met} |", row.metric, row.value);
    }
    out
}

/// Milliseconds with one decimal.
#[must_use]
pub fn millis(duration: Duration) -> String {
    format!("{:.1} ms", duration.as_secs_f64() * 1e3)
}

/// The median of `values` (the upper one of an even count); zero when empty.
#[must_use]
pub fn median(mut values: Vec<Duration>) -> Duration {
    values.sort();
    values.get(values.len() / 2).copied().unwrap_or_default()
}

/// `event` as a new finding: its GuardDuty finding id made `id`, so it is a new incident.
pub fn as_new_finding(mut event: Value, id: &str) -> Value {
    let enveloped = event.get("detail").is_some_and(Value::is_object);
    let finding = if enveloped { &mut event["detail"] } else { &mut event };
    if let Some(finding) = finding.as_object_mut() {
        finding.insert("id".to_owned(), Value::String(id.to_owned()));
    }
    event
}

/// Progress for the person waiting, on stderr (stdout holds only the table).
pub fn progress(message: &str) {
    eprintln!("bench: {message}");
}
