//! The AWS side: clients from the user's own credentials, and the requests the functions take,
//! sent synchronously with a read timeout longer than any function's run.

use std::io::Write as _;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use aws_sdk_lambda::primitives::Blob;
use serde_json::{Value, json};

use crate::error::CliError;
use crate::stack::{self, Outputs};
use crate::{Global, Release};

/// Longer than the functions' timeout (a run near its deadline answers then).
const READ_TIMEOUT: Duration = Duration::from_secs(15 * 60);

/// The clients of one deployment, and what the options say of it; the stack's outputs fill in
/// what they do not (read once, when first needed).
pub struct Aws {
    pub s3: aws_sdk_s3::Client,
    pub lambda: aws_sdk_lambda::Client,
    cloudformation: aws_sdk_cloudformation::Client,
    stack: String,
    bucket: Option<String>,
    outputs: tokio::sync::OnceCell<Outputs>,
}

impl Aws {
    pub async fn new(global: &Global) -> Self {
        let mut loader = aws_config::from_env();
        if let Some(profile) = &global.profile {
            loader = loader.profile_name(profile);
        }
        if let Some(region) = &global.region {
            loader = loader.region(aws_config::Region::new(region.clone()));
        }
        let timeouts = aws_config::timeout::TimeoutConfig::builder()
            .read_timeout(READ_TIMEOUT)
            .operation_attempt_timeout(READ_TIMEOUT)
            .build();
        let config = loader.timeout_config(timeouts).load().await;
        // An endpoint override (an emulator) addresses buckets by path.
        let s3 = aws_sdk_s3::config::Builder::from(&config)
            .force_path_style(config.endpoint_url().is_some())
            .build();
        Aws {
            s3: aws_sdk_s3::Client::from_conf(s3),
            lambda: aws_sdk_lambda::Client::new(&config),
            cloudformation: aws_sdk_cloudformation::Client::new(&config),
            stack: global.stack.clone(),
            bucket: global.bucket.clone(),
            outputs: tokio::sync::OnceCell::new(),
        }
    }

    /// The stack's outputs, read on first use.
    pub async fn outputs(&self) -> Result<&Outputs, CliError> {
        self.outputs
            .get_or_try_init(|| async {
                let progress = Progress::start(&format!("reading stack {}", self.stack));
                let outputs = stack::read(&self.cloudformation, &self.stack).await;
                drop(progress);
                outputs
            })
            .await
    }

    /// What the stack says, when an option does not: its outputs, or why they were needed.
    async fn needed(&self, needed: &'static str, option: &'static str) -> Result<&Outputs, CliError> {
        self.outputs().await.map_err(|err| CliError::Stack {
            stack: self.stack.clone(),
            needed,
            option,
            source: Box::new(err),
        })
    }

    /// The evidence bucket: `--bucket` (or `TOURNIQUET_EVIDENCE_BUCKET`), else the stack's
    /// `EvidenceBucketName` output.
    pub async fn bucket(&self) -> Result<String, CliError> {
        const OPTION: &str = "--bucket NAME (or TOURNIQUET_EVIDENCE_BUCKET)";
        if let Some(bucket) = &self.bucket {
            return Ok(bucket.clone());
        }
        let outputs = self.needed("the evidence bucket", OPTION).await?;
        Ok(outputs.get(stack::EVIDENCE_BUCKET, OPTION)?.to_owned())
    }

    /// A function: `--function NAME`, else the stack's `output`.
    pub async fn function(&self, option: Option<String>, output: &'static str) -> Result<String, CliError> {
        if let Some(function) = option {
            return Ok(function);
        }
        let outputs = self.needed("the function's name", "--function NAME").await?;
        Ok(outputs.get(output, "--function NAME")?.to_owned())
    }

    /// The functions a page names in its commands, from the stack's outputs when they can be
    /// read (an incident read with `--bucket` alone still shows, with the usual names).
    pub async fn page_names(&self, source: &str) -> PageNames {
        let outputs = self.outputs().await.ok();
        let output = |key: &str| outputs.and_then(|o| o.get(key, "").ok()).map(ToOwned::to_owned);
        PageNames {
            responder: output(stack::responder_output(source)),
            release: output(stack::QUARANTINE_RELEASE).unwrap_or_else(|| format!("{}-quarantine-release", self.stack)),
        }
    }
}

/// The functions a page names in its commands.
#[derive(Debug, Clone, Default)]
pub struct PageNames {
    /// The incident's responder, when the stack says (else the page names its binary).
    pub responder: Option<String>,
    /// quarantine-release (template.yaml names it `<stack>-quarantine-release`).
    pub release: String,
}

/// The request quarantine-release takes, from the command's options.
pub fn release_payload(release: &Release) -> Result<Value, CliError> {
    let mut payload = serde_json::Map::new();
    let needs_incident = match (&release.instance, &release.user, &release.role) {
        (Some(instance), None, None) => {
            payload.insert("instance_id".into(), json!(instance));
            false
        }
        (None, Some(user), None) => {
            payload.insert("user_name".into(), json!(user));
            true
        }
        (None, None, Some(role)) => {
            payload.insert("role_name".into(), json!(role));
            true
        }
        _ => {
            return Err(CliError::Usage(
                "what to release? --instance i-..., --user NAME or --role NAME (with the incident id)".to_owned(),
            ));
        }
    };
    match &release.id {
        Some(id) => {
            payload.insert("incident_id".into(), json!(id));
        }
        None if needs_incident => {
            return Err(CliError::Usage(
                "a user or role release names its incident: tourniquet release INCIDENT-ID --user NAME".to_owned(),
            ));
        }
        None => {}
    }
    if release.reactivate_keys {
        payload.insert("reactivate_keys".into(), json!(true));
    }
    if release.force {
        payload.insert("force".into(), json!(true));
    }
    Ok(Value::Object(payload))
}

/// `instance i-1 (incident guardduty-1)`, for the prompt.
#[must_use]
pub fn describe_release(payload: &Value) -> String {
    let field = |name: &str| payload.get(name).and_then(Value::as_str);
    let what = field("instance_id")
        .map(|i| format!("instance {i}"))
        .or_else(|| field("user_name").map(|u| format!("user {u}")))
        .or_else(|| field("role_name").map(|r| format!("role {r}")))
        .unwrap_or_default();
    let mut text = match field("incident_id") {
        Some(id) => format!("{what} (incident {id})"),
        None => what,
    };
    if payload.get("reactivate_keys") == Some(&json!(true)) {
        text.push_str(", reactivating its keys");
    }
    if payload.get("force") == Some(&json!(true)) {
        text.push_str(", even what changed since (forced)");
    }
    text
}

/// Asks before a change, unless `--yes`; refuses without a person to ask.
pub fn confirm(global: &Global, what: &str) -> Result<(), CliError> {
    if global.yes {
        return Ok(());
    }
    if !crate::interactive() {
        return Err(CliError::Declined(format!(
            "{what}: not confirmed (no terminal to ask at)"
        )));
    }
    eprint!("{what}? [y/N] ");
    let _ = std::io::stderr().flush();
    let mut answer = String::new();
    let _ = std::io::stdin().read_line(&mut answer);
    if matches!(answer.trim(), "y" | "Y" | "yes") {
        Ok(())
    } else {
        Err(CliError::Declined(format!("{what}: not confirmed")))
    }
}

/// Shows `what` with the seconds spent once it takes over a second, until dropped.
pub struct Progress {
    task: Option<tokio::task::JoinHandle<()>>,
}

impl Progress {
    #[must_use]
    pub fn start(what: &str) -> Self {
        let what = what.to_owned();
        let interactive = crate::interactive();
        let task = tokio::spawn(async move {
            let started = Instant::now();
            tokio::time::sleep(Duration::from_secs(1)).await;
            if !interactive {
                eprintln!("{what}...");
                return;
            }
            loop {
                eprint!("\r{what}... {}s", started.elapsed().as_secs());
                let _ = std::io::stderr().flush();
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        });
        Progress { task: Some(task) }
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
            if crate::interactive() {
                eprint!("\r\x1b[K");
            }
        }
    }
}

/// Invokes `function` with `payload` and renders its answer.
pub async fn send(
    aws: &Aws,
    global: &Global,
    function: &str,
    payload: &Value,
    doing: &str,
) -> Result<ExitCode, CliError> {
    let progress = Progress::start(&format!("{doing} ({function})"));
    let output = aws
        .lambda
        .invoke()
        .function_name(function)
        .payload(Blob::new(payload.to_string()))
        .send()
        .await
        .map_err(|e| CliError::aws("Invoke", &e))?;
    drop(progress);
    let body = output.payload().map(|b| b.as_ref().to_vec()).unwrap_or_default();
    let answer: Value = serde_json::from_slice(&body).unwrap_or_else(|_| json!(String::from_utf8_lossy(&body)));
    if let Some(kind) = output.function_error() {
        let message = answer
            .get("errorMessage")
            .and_then(Value::as_str)
            .map_or_else(|| answer.to_string(), ToOwned::to_owned);
        let error_type = answer.get("errorType").and_then(Value::as_str).unwrap_or(kind);
        // Printed by main, with --json as one JSON document like any error.
        return Err(CliError::Function {
            function: function.to_owned(),
            kind: error_type.to_owned(),
            message,
        });
    }
    if global.json {
        println!("{}", serde_json::to_string_pretty(&answer).unwrap_or_default());
    } else {
        print!("{}", crate::show::answer_text(&answer));
    }
    Ok(ExitCode::SUCCESS)
}
