//! The emulator: moto in server mode on a free loopback port, started once per process.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::sync::{Mutex, OnceLock};

use anyhow::{Context, Result, bail};

/// A running emulator. It exits when this process does: it watches the pipe on its stdin.
pub struct Emulator {
    pub endpoint: String,
    /// The same accounts behind the fault injector (see `faults`, `deny`).
    pub faulty_endpoint: String,
    control: Mutex<Control>,
}

struct Control {
    _child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
}

impl Emulator {
    /// Sends one command to the launcher; the number after `DONE`, if any.
    fn command(&self, line: &str) -> Result<u64> {
        Ok(self.answer(line)?.parse().unwrap_or(0))
    }

    /// Sends one command to the launcher; the text after `DONE`.
    fn answer(&self, line: &str) -> Result<String> {
        let mut control = self
            .control
            .lock()
            .map_err(|_| anyhow::anyhow!("emulator control poisoned"))?;
        writeln!(control.stdin, "{line}")?;
        let mut answer = String::new();
        control.stdout.read_line(&mut answer)?;
        match answer.trim().strip_prefix("DONE") {
            Some(rest) => Ok(rest.trim().to_owned()),
            None => bail!("emulator: {answer}"),
        }
    }

    /// Makes an access key `days` old, as an account that had it that long would show.
    pub fn age_access_key(&self, account: &str, key_id: &str, days: u32) -> Result<()> {
        self.command(&format!("age-access-key {account} {key_id} {days}"))
            .map(drop)
    }

    /// Through the faulty endpoint, answers `rate` of the account's requests with throttling or
    /// a 5xx (repeatably, from `seed`).
    pub fn faults(&self, account: &str, rate: f64, seed: u64) -> Result<()> {
        self.command(&format!("faults {account} {rate} {seed}")).map(drop)
    }

    /// Through the faulty endpoint, refuses every `service` `action` of the account for good.
    pub fn deny(&self, account: &str, service: &str, action: &str, status: u16, code: &str) -> Result<()> {
        self.command(&format!("deny {account} {service} {action} {status} {code}"))
            .map(drop)
    }

    /// Through the faulty endpoint, holds each of the account's requests `millis` before
    /// serving it: every call then takes about the same time, as against a far endpoint.
    pub fn latency(&self, account: &str, millis: u64) -> Result<()> {
        self.command(&format!("latency {account} {millis}")).map(drop)
    }

    /// Through the faulty endpoint, on the account's next `CreateSecurityGroup` of `group_name`,
    /// first creates the same group (VPC, description, tags) in the emulator, as a concurrent
    /// invocation would a moment earlier: the request gets `InvalidGroup.Duplicate`. Counts as
    /// an injected fault in `clear`.
    pub fn race_create(&self, account: &str, group_name: &str) -> Result<()> {
        self.command(&format!("race-create {account} {group_name}")).map(drop)
    }

    /// Through the faulty endpoint, the account's next `count` requests of `action` are carried
    /// out by the emulator and answered 500 `InternalError`, as when AWS acted and its answer
    /// was lost. Each counts as an injected fault in `clear`.
    pub fn lose(&self, account: &str, action: &str, count: u32) -> Result<()> {
        self.command(&format!("lose {account} {action} {count}")).map(drop)
    }

    /// Through the faulty endpoint, records every request of the account that reaches the
    /// emulator, with its parameters, in the order the emulator applies them (the account's
    /// requests are then served one at a time); read them with `served`.
    pub fn record(&self, account: &str) -> Result<()> {
        self.command(&format!("record {account}")).map(drop)
    }

    /// The account's requests served since `record` or the last `served`, in serving order.
    pub fn served(&self, account: &str) -> Result<Vec<Served>> {
        let text = self.answer(&format!("served {account}"))?;
        serde_json::from_str(&text).with_context(|| format!("served: {text}"))
    }

    /// On both endpoints, refuses `AssumeRole` of `role_arn` with 403 AccessDenied, as AWS
    /// refuses a role that does not exist or does not trust the caller.
    pub fn refuse_role(&self, role_arn: &str) -> Result<()> {
        self.command(&format!("refuse-role {role_arn}")).map(drop)
    }

    /// The secret of an access key, as an attacker who stole the key has it (no AWS API
    /// returns a secret after `CreateAccessKey`).
    pub fn leak_secret(&self, account: &str, key_id: &str) -> Result<String> {
        self.answer(&format!("leak-secret {account} {key_id}"))
    }

    /// Answers the account's next `count` CloudTrail `LookupEvents` calls with
    /// `ThrottlingException` (`-1`: every one, `0`: none again), on both endpoints.
    pub fn lookup_throttle(&self, account: &str, count: i64) -> Result<()> {
        self.command(&format!("lookup-throttle {account} {count}")).map(drop)
    }

    /// Delivers an OCSF finding to the account's Security Hub, as the AWS service that
    /// produced it would (the current Security Hub has no import API).
    pub fn deliver_ocsf(&self, account: &str, finding: &serde_json::Value) -> Result<()> {
        self.command(&format!("ocsf-finding {account} {finding}")).map(drop)
    }

    /// The account's OCSF finding `uid` (`metadata.uid`) as Security Hub keeps it, if it has it.
    pub fn ocsf_finding(&self, account: &str, uid: &str) -> Result<Option<serde_json::Value>> {
        Ok(serde_json::from_str(
            &self.answer(&format!("ocsf-get {account} {uid}"))?,
        )?)
    }

    /// Puts `event` on the account's default bus in `region`, whose rules are template.yaml's:
    /// each (function, event as delivered) a rule delivers it to.
    pub fn deliver(
        &self,
        account: &str,
        region: &str,
        event: &serde_json::Value,
    ) -> Result<Vec<(String, serde_json::Value)>> {
        let text = self.answer(&format!("deliver {account} {region} {event}"))?;
        serde_json::from_str(&text).with_context(|| format!("deliver: {text}"))
    }

    /// Creates each function's role in the account as template.yaml deploys it (once per
    /// account): a session of one is that function, whose calls `make iam` judges.
    pub fn deploy_roles(&self, account: &str) -> Result<()> {
        self.command(&format!("deploy-roles {account}")).map(drop)
    }

    /// No more faults for the account; how many were injected.
    pub fn clear(&self, account: &str) -> Result<u64> {
        self.command(&format!("clear {account}"))
    }
}

/// One request the emulator served for a recorded account (see `Emulator::record`).
#[derive(Debug, Clone, serde::Deserialize)]
pub struct Served {
    pub service: String,
    pub action: String,
    /// The Query protocol's parameters (`NetworkInterfaceId`, `SecurityGroupId.1`, ...); empty
    /// for S3 and JSON protocols.
    pub params: BTreeMap<String, String>,
    /// The HTTP status the emulator answered.
    pub status: u16,
}

impl Served {
    /// The values of a Query list parameter (`SecurityGroupId.1`, `SecurityGroupId.2`, ...).
    #[must_use]
    pub fn list(&self, name: &str) -> Vec<&str> {
        (1..)
            .map_while(|n| self.params.get(&format!("{name}.{n}")).map(String::as_str))
            .collect()
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

/// Where the functions' calls go (`make iam` judges them): `suite.jsonl` for the emulator
/// suite, `<program>.jsonl` for the drill or the bench, in `TOURNIQUET_CALLS_DIR` (else
/// `target/iam`).
fn calls_file() -> PathBuf {
    let dir = std::env::var_os("TOURNIQUET_CALLS_DIR")
        .map_or_else(|| crate::workspace_root().join("target/iam"), PathBuf::from);
    let program = std::env::current_exe()
        .ok()
        .and_then(|exe| exe.file_stem().map(|s| s.to_string_lossy().into_owned()))
        .unwrap_or_default();
    let name = if program == "drill" || program == "bench" {
        program.as_str()
    } else {
        "suite"
    };
    dir.join(format!("{name}.jsonl"))
}

fn start() -> Result<Emulator> {
    let launcher = crate::workspace_root().join("tests/moto/launcher.py");
    let mut child = Command::new(python())
        .arg(&launcher)
        .env("TOURNIQUET_CALLS", calls_file())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .with_context(|| format!("spawn {} {}", python().display(), launcher.display()))?;
    let mut stdout = BufReader::new(child.stdout.take().context("emulator stdout")?);
    let stdin = child.stdin.take().context("emulator stdin")?;
    let mut line = String::new();
    stdout.read_line(&mut line)?;
    let ports: Vec<&str> = line.split_whitespace().collect();
    let ["READY", port, faulty] = ports.as_slice() else {
        bail!("emulator did not start: {line:?}");
    };
    Ok(Emulator {
        endpoint: format!("http://127.0.0.1:{port}"),
        faulty_endpoint: format!("http://127.0.0.1:{faulty}"),
        control: Mutex::new(Control {
            _child: child,
            stdin,
            stdout,
        }),
    })
}
