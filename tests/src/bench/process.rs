//! The release `guardduty-responder` as Lambda runs it: cold start, and peak memory over a burst.

use std::fs::File;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use playbook::policy::Routing;
use playbook::{Policy, intake};
use serde_json::Value;
use tourniquet_tests::events;
use tourniquet_tests::world::World;

use super::runtime_api::{RuntimeApi, Seen};
use super::throughput::thousands;
use super::{Row, as_new_finding, median, millis, progress};

const FUNCTION: &str = "guardduty-responder";
/// A finding that pages and changes nothing: a cheap first response.
const PAGE_ONLY: &str = "guardduty/ec2-recon-port-probe-unprotected-port.json";
/// A finding that contains its instance.
const CONTAINMENT: &str = "guardduty/ec2-backdoor-cc-activity.json";
const COLD_STARTS: usize = 7;
const BURST: usize = 1_000;
/// Instances contained during the burst (under the default quarantine limit of 5).
const BURST_CONTAINMENTS: usize = 4;
/// Longest wait for any one Runtime API request.
const PATIENCE: Duration = Duration::from_secs(60);

const COLD_START_TARGET: &str = "≤ 6 ms";
const COLD_START_LIMIT: Duration = Duration::from_millis(6);
const MEMORY_TARGET: &str = "< 32 MiB";
const MEMORY_LIMIT_KIB: u64 = 32 * 1024;

/// The function process, started the way Lambda starts a `bootstrap`, killed when dropped.
struct Function {
    child: Child,
    log: PathBuf,
}

impl Function {
    /// Starts the release binary against `api` with `env` (account and settings) only; the
    /// instant just before the spawn.
    fn start(api: &RuntimeApi, env: &[(String, String)]) -> Result<(Self, Instant)> {
        let binary = tourniquet_tests::runtime::function_binary(FUNCTION)?;
        let log = std::env::temp_dir().join(format!("tourniquet-bench-{FUNCTION}.log"));
        let out = File::create(&log).with_context(|| format!("create {}", log.display()))?;
        let mut command = Command::new(&binary);
        command
            .env_clear()
            .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .env("AWS_LAMBDA_RUNTIME_API", format!("127.0.0.1:{}", api.port))
            .env("AWS_LAMBDA_FUNCTION_NAME", FUNCTION)
            .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
            .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "256")
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(out.try_clone()?)
            .stderr(out);
        let started = Instant::now();
        let child = command.spawn().with_context(|| format!("start {}", binary.display()))?;
        Ok((Function { child, log }, started))
    }

    /// What the function did next; fails, with the end of its log, if it exited instead.
    fn seen(&mut self, api: &RuntimeApi) -> Result<Seen> {
        match api.seen(PATIENCE) {
            Ok(Seen::InitError(body)) => bail!("{FUNCTION} failed to start: {body}"),
            Ok(seen) => Ok(seen),
            Err(err) => match self.child.try_wait()? {
                Some(status) => bail!("{FUNCTION} exited ({status}): {}", self.log_tail()),
                None => Err(err),
            },
        }
    }

    /// Peak resident memory so far (`VmHWM`), in KiB.
    fn peak_kib(&self) -> Result<u64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))?;
        status
            .lines()
            .find_map(|line| line.strip_prefix("VmHWM:"))
            .and_then(|v| v.split_whitespace().next()?.parse().ok())
            .context("no VmHWM in /proc/<pid>/status")
    }

    fn log_tail(&self) -> String {
        let log = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = log.lines().collect();
        lines[lines.len().saturating_sub(5)..].join("\n")
    }
}

impl Drop for Function {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The environment a deployed function has: the account's credentials and endpoint, settings.
pub async fn environment(world: &World) -> Result<Vec<(String, String)>> {
    let mut env = world.account.env().await?;
    env.extend(world.env_settings());
    Ok(env)
}

fn function_arn(world: &World) -> String {
    format!(
        "arn:aws:lambda:{}:{}:function:{FUNCTION}",
        tourniquet_tests::account::REGION,
        world.account.id
    )
}

/// Cold start to the first Runtime API request, and to the first response, median of runs.
pub fn cold_start(world: &World, env: &[(String, String)]) -> Vec<Row> {
    let first_request = format!("cold start: spawn to first Runtime API request (median of {COLD_STARTS})");
    let first_response = format!("cold start: spawn to first response, page-only finding (median of {COLD_STARTS})");
    let mut requests = Vec::new();
    let mut responses = Vec::new();
    for run in 0..COLD_STARTS {
        match cold_start_once(world, env, run) {
            Ok((request, response)) => {
                requests.push(request);
                responses.push(response);
            }
            Err(err) => {
                return vec![
                    Row::failed(first_request, COLD_START_TARGET, &err),
                    Row::failed(first_response, "", &err),
                ];
            }
        }
    }
    let request = median(requests.clone());
    let spread = |values: &[Duration]| {
        let (min, max) = (values.iter().min(), values.iter().max());
        format!(
            "(runs {} to {})",
            millis(min.copied().unwrap_or_default()),
            millis(max.copied().unwrap_or_default())
        )
    };
    vec![
        Row::checked(
            first_request,
            format!("{} {}", millis(request), spread(&requests)),
            COLD_START_TARGET,
            request <= COLD_START_LIMIT,
        ),
        Row::info(
            first_response,
            format!("{} {}", millis(median(responses.clone())), spread(&responses)),
        ),
    ]
}

/// One cold start: from spawn to the first `next`, and to the response.
fn cold_start_once(world: &World, env: &[(String, String)], run: usize) -> Result<(Duration, Duration)> {
    let event = as_new_finding(events::for_world(PAGE_ONLY, world)?, &format!("bench-cold-start-{run}"));
    let api = RuntimeApi::start(&function_arn(world), vec![event.to_string()])?;
    let (mut function, started) = Function::start(&api, env)?;
    let Seen::Next(asked) = function.seen(&api)? else {
        bail!("{FUNCTION} answered before asking for an event");
    };
    match function.seen(&api)? {
        Seen::Answer { at, ok: true, .. } => Ok((asked - started, at - started)),
        Seen::Answer { body, .. } => bail!("{FUNCTION} failed the event: {body}"),
        other => bail!("expected a response, saw {other:?}"),
    }
}

/// Peak resident memory over a burst of findings through one process.
pub async fn burst(world: &World, env: &[(String, String)]) -> Row {
    let metric = format!(
        "peak resident memory (VmHWM), {} findings through one process",
        thousands(&BURST.to_string())
    );
    let outcome = async {
        let events = burst_events(world).await?;
        tokio::task::block_in_place(|| run_burst(world, env, events))
    };
    match outcome.await {
        Ok(burst) => Row::checked(
            metric,
            format!(
                "{:.1} MiB ({} paged only, {} contained, {} not as expected; {:.0} s)",
                kib_to_mib(burst.peak_kib),
                burst.paged,
                burst.contained,
                burst.failed,
                burst.elapsed.as_secs_f64()
            ),
            MEMORY_TARGET,
            burst.peak_kib < MEMORY_LIMIT_KIB,
        ),
        Err(err) => Row::failed(metric, MEMORY_TARGET, &err),
    }
}

#[allow(clippy::cast_precision_loss, reason = "KiB of one process, shown to 0.1 MiB")]
fn kib_to_mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

/// What the burst did.
struct Burst {
    peak_kib: u64,
    paged: usize,
    contained: usize,
    failed: usize,
    elapsed: Duration,
}

/// `BURST` findings, each a new incident: page-only samples in turn, and a containment of a
/// fresh instance every `BURST / BURST_CONTAINMENTS` findings.
async fn burst_events(world: &World) -> Result<Vec<String>> {
    let page_only = page_only_samples(world)?;
    let mut workers = Vec::new();
    for _ in 0..BURST_CONTAINMENTS {
        workers.push(world.launch_worker().await?);
    }
    let every = BURST / BURST_CONTAINMENTS;
    let mut burst = Vec::with_capacity(BURST);
    for i in 0..BURST {
        let event = if i % every == every / 2 {
            let text = events::read(CONTAINMENT)?
                .replace(events::WEB_PLACEHOLDER, &workers[i / every])
                .replace(events::ACCOUNT_PLACEHOLDER, &world.account.id);
            serde_json::from_str(&text)?
        } else {
            page_only[i % page_only.len()].clone()
        };
        burst.push(as_new_finding(event, &format!("bench-burst-{i}")).to_string());
    }
    Ok(burst)
}

/// The GuardDuty samples the policy only pages for (no route, or below its floor).
fn page_only_samples(world: &World) -> Result<Vec<Value>> {
    let policy = Policy::new(&world.settings())?;
    let mut samples = Vec::new();
    for path in events::list("guardduty")? {
        let event = events::for_world(&path, world)?;
        let Ok(Some(incident)) = intake::parse(&event).map(intake::Intake::incident) else {
            continue;
        };
        if !matches!(policy.route(&incident), Routing::Act { .. }) {
            samples.push(event);
        }
    }
    anyhow::ensure!(!samples.is_empty(), "no page-only GuardDuty sample in events/");
    Ok(samples)
}

/// Whether every step of a report is done, or was not needed (the update page a retry may
/// owe, when nothing failed).
fn all_done(report: &Value) -> bool {
    report["steps"].as_array().is_some_and(|steps| {
        steps
            .iter()
            .all(|s| s["outcome"] == "done" || s["outcome"] == "not-needed")
    })
}

fn run_burst(world: &World, env: &[(String, String)], events: Vec<String>) -> Result<Burst> {
    let total = events.len();
    let api = RuntimeApi::start(&function_arn(world), events)?;
    let (mut function, started) = Function::start(&api, env)?;
    let (mut paged, mut contained, mut failed) = (0, 0, 0);
    while paged + contained + failed < total {
        let Seen::Answer { ok, body, .. } = function.seen(&api)? else {
            continue;
        };
        match serde_json::from_str::<Value>(&body) {
            Ok(report) if ok && report["playbook"] == "ec2-compromise" && all_done(&report) => contained += 1,
            Ok(report) if ok && report["playbook"] == "page-only" && all_done(&report) => paged += 1,
            _ => failed += 1,
        }
        let done = paged + contained + failed;
        if done.is_multiple_of(250) {
            progress(&format!("burst: {done} of {total} findings answered"));
        }
    }
    // The function now waits for its next event: still alive, its peak final.
    let peak_kib = function.peak_kib()?;
    Ok(Burst {
        peak_kib,
        paged,
        contained,
        failed,
        elapsed: started.elapsed(),
    })
}
