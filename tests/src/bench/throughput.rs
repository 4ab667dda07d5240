//! Intake + plan throughput, as criterion measured it (`cargo bench -p playbook --bench intake_plan`).

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use serde_json::Value;

use super::Row;

const METRIC: &str = "intake + plan throughput, all of events/ (one core)";
const TARGET: &str = "> 20,000 events/s";
const TARGET_PER_SECOND: f64 = 20_000.0;

/// The target folder cargo and criterion write to.
#[must_use]
pub fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map_or_else(|| tourniquet_tests::workspace_root().join("target"), PathBuf::from)
}

/// The throughput row, from criterion's last run of `intake_plan/all_events`.
#[must_use]
pub fn row() -> Row {
    let dir = target_dir().join("criterion/intake_plan/all_events/new");
    match measured(&dir) {
        Ok((events, nanos)) => {
            let per_second = events * 1e9 / nanos;
            Row::checked(
                METRIC,
                format!(
                    "{} events/s ({events} events in {:.1} µs per pass)",
                    thousands(&format!("{per_second:.0}")),
                    nanos / 1e3
                ),
                TARGET,
                per_second > TARGET_PER_SECOND,
            )
        }
        Err(err) => Row::failed(
            METRIC,
            TARGET,
            &err.context("run `cargo bench -p playbook --bench intake_plan` first"),
        ),
    }
}

/// Events per iteration and the mean time of one iteration in nanoseconds.
fn measured(dir: &Path) -> Result<(f64, f64)> {
    let read = |name: &str| -> Result<Value> {
        let text = std::fs::read_to_string(dir.join(name)).with_context(|| format!("no criterion {name}"))?;
        Ok(serde_json::from_str(&text)?)
    };
    let nanos = read("estimates.json")?["mean"]["point_estimate"]
        .as_f64()
        .context("estimates.json has no mean.point_estimate")?;
    #[allow(clippy::cast_precision_loss, reason = "a count of sample files")]
    let events = read("benchmark.json")?["throughput"]["Elements"]
        .as_u64()
        .context("benchmark.json has no throughput.Elements")? as f64;
    Ok((events, nanos))
}

/// Digits grouped by thousands: `"123457"` as `123,457`.
#[must_use]
pub fn thousands(digits: &str) -> String {
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}
