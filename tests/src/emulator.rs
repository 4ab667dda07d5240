//! The emulator: moto in server mode on a free loopback port, started once per process.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Mutex, OnceLock};

use anyhow::{Context, Result, bail};

/// A running emulator. It exits when this process does: it watches the pipe on its stdin.
pub struct Emulator {
    pub endpoint: String,
    _child: Mutex<Child>,
}

static EMULATOR: OnceLock<Emulator> = OnceLock::new();

/// The project's Python: `TOURNIQUET_PYTHON`, else the Makefile's `.venv`.
#[must_use]
pub fn python() -> PathBuf {
    std::env::var_os("TOURNIQUET_PYTHON")
        .map_or_else(|| crate::workspace_root().join(".venv/bin/python"), PathBuf::from)
}

/// The process-wide emulator, started on first use.
///
/// # Panics
/// If the emulator cannot start: every test needs it, and the message says why.
pub fn emulator() -> &'static Emulator {
    EMULATOR.get_or_init(|| start().expect("start the AWS emulator (run `make test`, which installs it)"))
}

fn start() -> Result<Emulator> {
    let launcher = crate::workspace_root().join("tests/moto/launcher.py");
    let mut child = Command::new(python())
        .arg(&launcher)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .with_context(|| format!("spawn {} {}", python().display(), launcher.display()))?;
    let stdout = child.stdout.take().context("emulator stdout")?;
    let mut line = String::new();
    BufReader::new(stdout).read_line(&mut line)?;
    let Some(port) = line.trim().strip_prefix("READY ") else {
        bail!("emulator did not start: {line:?}");
    };
    Ok(Emulator {
        endpoint: format!("http://127.0.0.1:{port}"),
        _child: Mutex::new(child),
    })
}
