//! Test harness: a local AWS emulator, seeded accounts, pages read back, the Lambda runtime.
//!
//! Used by the emulator suite (`tests/emulator`) and by `make drill` (`src/bin/drill.rs`).

pub mod account;
pub mod attacker;
pub mod calls;
pub mod databases;
pub mod emulator;
pub mod events;
pub mod functions;
pub mod org;
pub mod runtime;
pub mod schema;
pub mod securityhub;
pub mod world;

/// The workspace root (the folder holding `events/` and `.venv/`).
#[must_use]
pub fn workspace_root() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(std::path::Path::to_path_buf)
        .unwrap_or_default()
}
