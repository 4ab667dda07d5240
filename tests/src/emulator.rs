//! The emulator: moto in server mode on a free loopback port, started once per process.

use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::sync::{Mutex, OnceLock};

use anyhow::{Context, Result, bail};

/// A running emulator. It exits when this process does: it watches the pipe on its stdin.
pub struct Emulator {
    pub endpoint: String,
    control: Mutex<Control>,
}

struct Control {
    _child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
}

impl Emulator {
    /// Makes an access key `days` old, as an account that had it that long would show.
    pub fn age_access_key(&self, account: &str, key_id: &str, days: u32) -> Result<()> {
        let mut control = self
            .control
            .lock()
            .map_err(|_| anyhow::anyhow!("emulator control poisoned"))?;
        writeln!(control.stdin, "age-access-key {account} {key_id} {days}")?;
        let mut answer = String::new();
        control.stdout.read_line(&mut answer)?;
        match answer.trim() {
            "DONE" => Ok(()),
            other => bail!("emulator: {other}"),
        }
    }
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
    let mut stdout = BufReader::new(child.stdout.take().context("emulator stdout")?);
    let stdin = child.stdin.take().context("emulator stdin")?;
    let mut line = String::new();
    stdout.read_line(&mut line)?;
    let Some(port) = line.trim().strip_prefix("READY ") else {
        bail!("emulator did not start: {line:?}");
    };
    Ok(Emulator {
        endpoint: format!("http://127.0.0.1:{port}"),
        control: Mutex::new(Control {
            _child: child,
            stdin,
            stdout,
        }),
    })
}
