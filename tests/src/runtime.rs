//! The Lambda Runtime API, emulated by cargo-lambda, with a real function binary behind it.

use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

/// `cargo-lambda` from the project's virtualenv (or `TOURNIQUET_CARGO_LAMBDA`).
#[must_use]
pub fn cargo_lambda() -> PathBuf {
    std::env::var_os("TOURNIQUET_CARGO_LAMBDA")
        .map_or_else(|| crate::workspace_root().join(".venv/bin/cargo-lambda"), PathBuf::from)
}

/// A built function binary: `TOURNIQUET_BIN_DIR/<name>`, else beside (or above) this executable.
pub fn function_binary(name: &str) -> Result<PathBuf> {
    if let Some(dir) = std::env::var_os("TOURNIQUET_BIN_DIR") {
        return Ok(PathBuf::from(dir).join(name));
    }
    let exe = std::env::current_exe()?;
    exe.ancestors()
        .skip(1)
        .take(3)
        .map(|dir| dir.join(name))
        .find(|candidate| candidate.is_file())
        .with_context(|| {
            format!(
                "no built `{name}` near {}; run `cargo build --workspace` first",
                exe.display()
            )
        })
}

fn free_port() -> Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// cargo-lambda's Runtime API server with one function process attached.
pub struct LambdaRuntime {
    pub port: u16,
    pub function: String,
    server: Child,
    function_process: Child,
}

impl LambdaRuntime {
    /// Starts `cargo lambda watch --only-lambda-apis` and the function binary `name` against
    /// it, with `env` added to the function's environment. It answers invocations of `_`.
    pub fn start(name: &str, env: &[(String, String)]) -> Result<Self> {
        Self::serving(name, env, "/.rt")
    }

    /// The same, answering invocations of the function by its binary's name (`Invoke` of
    /// `quarantine-release`), as a stack's outputs name it.
    pub fn start_named(name: &str, env: &[(String, String)]) -> Result<Self> {
        Self::serving(name, env, &format!("/.rt/{name}"))
    }

    fn serving(name: &str, env: &[(String, String)], runtime_path: &str) -> Result<Self> {
        let port = free_port()?;
        let server = Command::new(cargo_lambda())
            .args([
                "lambda",
                "watch",
                "--only-lambda-apis",
                "--invoke-address",
                "127.0.0.1",
                "--invoke-port",
            ])
            .arg(port.to_string())
            .current_dir(crate::workspace_root())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .context("start cargo lambda watch")?;
        let started = Instant::now();
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            if started.elapsed() > Duration::from_mins(1) {
                bail!("the Lambda runtime emulator did not listen on {port}");
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let function_process = Command::new(function_binary(name)?)
            .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .env(
                "AWS_LAMBDA_RUNTIME_API",
                format!("http://127.0.0.1:{port}{runtime_path}"),
            )
            .env("AWS_LAMBDA_FUNCTION_NAME", name)
            .env("AWS_LAMBDA_FUNCTION_VERSION", "1")
            .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "256")
            .env(
                "RUST_LOG",
                std::env::var("RUST_LOG").unwrap_or_else(|_| "warn".to_owned()),
            )
            .stdin(Stdio::null())
            // Its JSON logs and metric lines: shown only when asked for (RUST_LOG).
            .stdout(if std::env::var_os("RUST_LOG").is_some() {
                Stdio::inherit()
            } else {
                Stdio::null()
            })
            .stderr(Stdio::inherit())
            .spawn()
            .with_context(|| format!("start {name}"))?;
        Ok(LambdaRuntime {
            port,
            function: name.to_owned(),
            server,
            function_process,
        })
    }

    /// Invokes the function with `payload` through `cargo lambda invoke`; the function's
    /// JSON response, or its error as the runtime reported it.
    pub fn invoke(&self, payload: &serde_json::Value) -> Result<Result<serde_json::Value, String>> {
        let output = Command::new(cargo_lambda())
            .args(["lambda", "invoke", "--invoke-address", "127.0.0.1", "--invoke-port"])
            .arg(self.port.to_string())
            .arg("--data-ascii")
            .arg(payload.to_string())
            // With --only-lambda-apis the emulator serves one function, named `_`.
            .arg("_")
            .current_dir(crate::workspace_root())
            .stdin(Stdio::null())
            .output()
            .context("cargo lambda invoke")?;
        let stdout = String::from_utf8_lossy(&output.stdout).trim().to_owned();
        if output.status.success() {
            Ok(Ok(
                serde_json::from_str(&stdout).with_context(|| format!("response is not JSON: {stdout}"))?
            ))
        } else {
            let stderr = String::from_utf8_lossy(&output.stderr);
            Ok(Err(format!("{stdout}{stderr}").trim().to_owned()))
        }
    }
}

impl Drop for LambdaRuntime {
    fn drop(&mut self) {
        let _ = self.function_process.kill();
        let _ = self.server.kill();
        let _ = self.function_process.wait();
        let _ = self.server.wait();
    }
}
