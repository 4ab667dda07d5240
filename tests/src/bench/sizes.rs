//! The size of each arm64 `bootstrap` that `make package` built (never built here).

use super::Row;
use super::throughput::target_dir;

/// Every function under `functions/`, sorted.
fn functions() -> Vec<String> {
    let dir = tourniquet_tests::workspace_root().join("functions");
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .filter_map(|entry| {
            let entry = entry.ok()?;
            entry
                .path()
                .join("Cargo.toml")
                .is_file()
                .then(|| entry.file_name().into_string().ok())?
        })
        .collect();
    names.sort();
    names
}

/// One row per function: its bootstrap's size, or how to build it.
#[must_use]
pub fn rows() -> Vec<Row> {
    functions()
        .into_iter()
        .map(|name| {
            let bootstrap = target_dir().join("lambda").join(&name).join("bootstrap");
            let value = match std::fs::metadata(&bootstrap) {
                #[allow(clippy::cast_precision_loss, reason = "a file size, shown to 0.1 MiB")]
                Ok(meta) => format!("{:.1} MiB ({} bytes)", meta.len() as f64 / 1_048_576.0, meta.len()),
                Err(_) => "not built (run make package)".to_owned(),
            };
            Row::info(format!("arm64 bootstrap size: {name}"), value)
        })
        .collect()
}
