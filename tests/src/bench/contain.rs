//! Time to contain per playbook, in process against the emulator, with every AWS call counted.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, ensure};
use playbook::settings::Scope;
use playbook::{Outcome, Report, Responder, Settings};
use serde_json::Value;
use tourniquet_tests::account::Account;
use tourniquet_tests::calls::{Call, Recorder, depths, recorded, recorded_clients};
use tourniquet_tests::emulator::emulator;
use tourniquet_tests::events;
use tourniquet_tests::org::create_member_role;
use tourniquet_tests::world::World;

use super::{Row, as_new_finding, millis, progress};

/// The first EC2 finding (creates the quarantine groups) and the measured one.
const EC2_FIRST: &str = "guardduty/ec2-ssh-brute-force-web-server.json";
const EC2_MEASURED: &str = "guardduty/ec2-backdoor-cc-activity.json";
const CREDENTIALS: &str = "guardduty/iam-user-malicious-ip-caller.json";
const POSTURE: &str = "config/restricted-ssh-noncompliant.json";
const ISOLATION_ACTION: &str = "ModifyNetworkInterfaceAttribute";
const VERIFY_ACTION: &str = "DescribeNetworkInterfaces";
/// Contained instances measured, each after the first.
const EC2_RUNS: usize = 5;
/// Above the instances contained here, so none is held for approval.
const MAX_QUARANTINED: u32 = 10;
const ROUND_TRIP_TARGET: &str = "≤ 4";
const MAX_ROUND_TRIPS: usize = 4;
const PAGE_TRIPS_TARGET: &str = "≤ 2 after isolation";
const MAX_PAGE_TRIPS_AFTER: usize = 2;
const PAGE_ACTION: &str = "Publish";
/// Held on every call of the round-trip run: about a round trip to a far AWS region.
const FAR_LATENCY_MS: u64 = 50;

/// One incident's handling: its report, how long it took, and its calls.
struct Measured {
    report: Report,
    started: Instant,
    elapsed: Duration,
    calls: Vec<Call>,
}

impl Measured {
    /// The sequential round trips among `calls[..=last]`.
    fn round_trips(&self, last: usize) -> usize {
        depths(&self.calls)[..=last].iter().max().copied().unwrap_or(0)
    }

    /// A one-line summary of the whole response: time, calls, round trips.
    fn whole(&self) -> String {
        format!(
            "{} to completion, {} AWS calls, {} round trips",
            millis(self.elapsed),
            self.calls.len(),
            self.round_trips(self.calls.len().saturating_sub(1))
        )
    }
}

/// Handles `event` with `responder`, recording its calls; every step must be done.
async fn measure(responder: &Responder, recorder: &Recorder, event: Value) -> Result<Measured> {
    recorder.take();
    let started = Instant::now();
    let response = responder.handle(event).await?;
    let elapsed = started.elapsed();
    let calls = recorder.take();
    let report = response.report().context("the event was ignored")?;
    let failed: Vec<String> = report
        .steps
        .iter()
        .filter(|s| !matches!(s.outcome, Outcome::Done | Outcome::NotNeeded))
        .map(|s| format!("{} ({})", s.action, s.outcome_text()))
        .collect();
    ensure!(
        failed.is_empty(),
        "{} steps not done: {}",
        report.playbook.as_str(),
        failed.join(", ")
    );
    Ok(Measured {
        report,
        started,
        elapsed,
        calls,
    })
}

/// Every time-to-contain row, in a freshly seeded account.
pub async fn rows() -> Vec<Row> {
    let setup = async {
        let world = World::seed(Account::new().await?).await?;
        let recorder = Recorder::default();
        let mut settings = world.settings();
        settings.max_quarantined = MAX_QUARANTINED;
        let responder = Responder::new(recorded_clients(&world.account, &recorder), settings.clone())?;
        let far = world.account.through_faults().await?;
        let far = Responder::new(recorded_clients(&far, &recorder), settings)?;
        // A warm process knows its identity; the cold start's lookup is measured apart.
        far.learn_identity().await?;
        anyhow::Ok((world, recorder, responder, far))
    };
    let (world, recorder, responder, far) = match setup.await {
        Ok(setup) => setup,
        Err(err) => return vec![Row::failed("time to contain", ROUND_TRIP_TARGET, &err)],
    };
    let mut rows = ec2(&world, &responder, &recorder).await;
    rows.extend(ec2_far(&world, &far, &recorder).await);
    let credentials = async { measure(&responder, &recorder, events::for_world(CREDENTIALS, &world)?).await };
    rows.push(completion("credential compromise (IAM user key)", credentials.await));
    let posture = async { measure(&responder, &recorder, events::for_world(POSTURE, &world)?).await };
    rows.push(completion("Config posture (restricted-ssh)", posture.await));
    rows.extend(member(&world).await);
    rows
}

const MEMBER_WARM: &str = "EC2 compromise, member account: round trips before isolation, warm process";
const MEMBER_COLD: &str = "EC2 compromise, member account: round trips before isolation, cold process";
const MEMBER_WARM_TARGET: &str = "≤ 4 (as at home)";
const MEMBER_COLD_TARGET: &str = "≤ 6 (at home, cold: ≤ 5)";

/// Containment in a member account from `home`, every call held `FAR_LATENCY_MS`: on a cold
/// process (its identity and the member's credentials are learnt by the measured incident:
/// `GetCallerIdentity`, then `AssumeRole`, both counted) and on a warm one (both kept).
async fn member(home: &World) -> Vec<Row> {
    let run = async {
        let member = World::seed(Account::new().await?).await?;
        create_member_role(&member, &home.account.id).await?;
        let recorder = Recorder::default();
        let far = home.account.through_faults().await?;
        // The emulator is plain HTTP on loopback.
        let http = far
            .config
            .http_client()
            .unwrap_or_else(|| aws_smithy_http_client::Builder::new().build_http());
        let config = far
            .config
            .to_builder()
            .http_client(recorder.assume_role_calls(http))
            .build();
        let settings = Settings {
            accounts: Scope::Listed([member.account.id.clone()].into()),
            max_quarantined: MAX_QUARANTINED,
            ..home.settings()
        };
        let responder = || {
            let places = recorder.clone();
            anyhow::Ok(
                Responder::new(recorded(&config, &recorder), settings.clone())?
                    .building_places_with(Arc::new(move |config| recorded(config, &places))),
            )
        };
        // The quarantine groups exist in the member, as in the home rows' steady state.
        responder()?.handle(events::for_world(EC2_FIRST, &member)?).await?;
        let finding = |run: &str| {
            let member = &member;
            let run = run.to_owned();
            async move {
                let worker = member.launch_worker().await?;
                let text = events::read(EC2_MEASURED)?.replace(events::WEB_PLACEHOLDER, &worker);
                anyhow::Ok(as_new_finding(events::for_world_text(&text, member)?, &run))
            }
        };
        let (cold_event, warm_event) = (finding("bench-member-cold").await?, finding("bench-member-warm").await?);
        for account in [&home.account.id, &member.account.id] {
            emulator().latency(account, FAR_LATENCY_MS)?;
        }
        let responder = responder()?;
        let cold = measure(&responder, &recorder, cold_event).await;
        let warm = match &cold {
            Ok(_) => measure(&responder, &recorder, warm_event).await,
            Err(_) => Err(anyhow::anyhow!("the cold run failed")),
        };
        for account in [&home.account.id, &member.account.id] {
            emulator().clear(account)?;
        }
        anyhow::Ok((cold?, warm?))
    };
    match run.await {
        Ok((cold, warm)) => {
            trace(&cold);
            vec![
                member_row(MEMBER_WARM, MEMBER_WARM_TARGET, &warm, MAX_ROUND_TRIPS),
                member_row(MEMBER_COLD, MEMBER_COLD_TARGET, &cold, MAX_ROUND_TRIPS + 2),
            ]
        }
        Err(err) => vec![
            Row::failed(MEMBER_WARM, MEMBER_WARM_TARGET, &err),
            Row::failed(MEMBER_COLD, MEMBER_COLD_TARGET, &err),
        ],
    }
}

fn member_row(metric: &str, target: &str, measured: &Measured, max: usize) -> Row {
    let Ok(isolation) = isolation(measured) else {
        return Row::failed(metric, target, &anyhow::anyhow!("no isolation"));
    };
    let trips = measured.round_trips(isolation.last);
    let setup: Vec<&str> = measured.calls[..=isolation.last]
        .iter()
        .filter(|c| matches!(c.action.as_str(), "GetCallerIdentity" | "AssumeRole"))
        .map(|c| c.action.as_str())
        .collect();
    let setup = if setup.is_empty() {
        "identity and credentials kept".to_owned()
    } else {
        format!("with {}", setup.join(" and "))
    };
    Row::checked(
        metric,
        format!(
            "{trips} round trips, {} AWS calls, {setup}; {} to verified isolation",
            isolation.last + 1,
            millis(isolation.verified - measured.started)
        ),
        target,
        trips <= max,
    )
}

fn completion(playbook: &str, measured: Result<Measured>) -> Row {
    let metric = format!("{playbook}: event to completion");
    match measured {
        Ok(measured) => Row::info(metric, measured.whole()),
        Err(err) => Row::failed(metric, "", &err),
    }
}

/// The EC2 playbook in the steady state: the quarantine groups exist (a first instance was
/// contained), then fresh instances are contained one by one; the median run is reported.
async fn ec2(world: &World, responder: &Responder, recorder: &Recorder) -> Vec<Row> {
    let time = format!("EC2 compromise: event to verified isolation (steady state, median of {EC2_RUNS})");
    match ec2_runs(world, responder, recorder).await.and_then(median_run) {
        Ok((measured, isolation)) => vec![Row::info(
            time,
            format!(
                "{} ({})",
                millis(isolation.verified - measured.started),
                measured.whole()
            ),
        )],
        Err(err) => vec![Row::failed(time, "", &err)],
    }
}

/// One more instance contained with every call held `FAR_LATENCY_MS`, as against AWS: no call
/// can overtake one sent a round trip earlier, so the round trips counted are the critical
/// path, and the time shows what they cost.
async fn ec2_far(world: &World, far: &Responder, recorder: &Recorder) -> Vec<Row> {
    let time = format!("EC2 compromise: event to verified isolation, every call held {FAR_LATENCY_MS} ms");
    let trips = "EC2 compromise: sequential AWS round trips before isolation";
    let run = async {
        let worker = world.launch_worker().await?;
        let text = events::read(EC2_MEASURED)?.replace(events::WEB_PLACEHOLDER, &worker);
        let event = as_new_finding(events::for_world_text(&text, world)?, "bench-contain-far");
        emulator().latency(&world.account.id, FAR_LATENCY_MS)?;
        let measured = measure(far, recorder, event).await;
        emulator().clear(&world.account.id)?;
        let measured = measured?;
        let isolation = isolation(&measured)?;
        anyhow::Ok((measured, isolation))
    };
    match run.await {
        Ok((measured, isolation)) => {
            trace(&measured);
            isolation_rows(&time, trips, &measured, &isolation)
        }
        Err(err) => vec![
            Row::failed(time, "", &err),
            Row::failed(trips, ROUND_TRIP_TARGET, &err),
            Row::failed(PAGE_TRIPS, PAGE_TRIPS_TARGET, &err),
        ],
    }
}

async fn ec2_runs(world: &World, responder: &Responder, recorder: &Recorder) -> Result<Vec<(Measured, Isolation)>> {
    responder
        .handle(events::for_world(EC2_FIRST, world)?)
        .await?
        .report()
        .context("the first EC2 finding was ignored")?;
    let mut runs = Vec::new();
    for run in 1..=EC2_RUNS {
        let worker = world.launch_worker().await?;
        let text = events::read(EC2_MEASURED)?.replace(events::WEB_PLACEHOLDER, &worker);
        let event = as_new_finding(events::for_world_text(&text, world)?, &format!("bench-contain-{run}"));
        let measured = measure(responder, recorder, event)
            .await
            .with_context(|| format!("EC2 run {run}"))?;
        let isolation = isolation(&measured)?;
        runs.push((measured, isolation));
    }
    Ok(runs)
}

/// The run with the median time to verified isolation.
fn median_run(mut runs: Vec<(Measured, Isolation)>) -> Result<(Measured, Isolation)> {
    runs.sort_by_key(|(measured, isolation)| isolation.verified - measured.started);
    let middle = runs.len() / 2;
    runs.into_iter().nth(middle).context("no EC2 run")
}

/// Where isolation happened in a containment's calls.
struct Isolation {
    /// Index of the last isolating call.
    last: usize,
    /// When the read-back that verified it finished.
    verified: Instant,
}

fn isolation(measured: &Measured) -> Result<Isolation> {
    let calls = &measured.calls;
    let last = calls
        .iter()
        .rposition(|c| c.action == ISOLATION_ACTION)
        .context("no isolating call")?;
    let isolated = calls[last].done.context("the last isolating call never finished")?;
    let verified = calls[last..]
        .iter()
        .find(|c| c.action == VERIFY_ACTION && c.sent >= isolated)
        .and_then(|c| c.done)
        .context("isolation was not read back")?;
    Ok(Isolation { last, verified })
}

const PAGE_TRIPS: &str = "EC2 compromise: sequential AWS round trips from event to page";

fn isolation_rows(time: &str, trips: &str, measured: &Measured, isolation: &Isolation) -> Vec<Row> {
    let round_trips = measured.round_trips(isolation.last);
    let page = measured
        .calls
        .iter()
        .position(|c| c.action == PAGE_ACTION)
        .map(|page| measured.round_trips(page));
    let page_row = match page {
        Some(page) => Row::checked(
            PAGE_TRIPS,
            format!(
                "{page} round trips ({} after isolation)",
                page.saturating_sub(round_trips)
            ),
            PAGE_TRIPS_TARGET,
            page.saturating_sub(round_trips) <= MAX_PAGE_TRIPS_AFTER,
        ),
        None => Row::failed(PAGE_TRIPS, PAGE_TRIPS_TARGET, &anyhow::anyhow!("no page was sent")),
    };
    let ec2_only: Vec<Call> = measured.calls[..=isolation.last]
        .iter()
        .filter(|c| c.service == "ec2")
        .cloned()
        .collect();
    let ec2_trips = depths(&ec2_only).into_iter().max().unwrap_or(0);
    vec![
        Row::info(
            time,
            format!(
                "{} ({})",
                millis(isolation.verified - measured.started),
                measured.whole()
            ),
        ),
        Row::checked(
            trips,
            format!(
                "{round_trips} round trips, {} AWS calls ({ec2_trips} round trips counting EC2 calls alone)",
                isolation.last + 1
            ),
            ROUND_TRIP_TARGET,
            round_trips <= MAX_ROUND_TRIPS,
        ),
        page_row,
    ]
}

/// The calls of a response, one per line with their round-trip depth and send time, on
/// stderr: for a person reading why the count is what it is.
fn trace(measured: &Measured) {
    let lines: Vec<String> = measured
        .calls
        .iter()
        .zip(depths(&measured.calls))
        .map(|(call, depth)| {
            format!(
                "  depth {depth:>2} at {:>7} {} {}",
                millis(call.sent - measured.started),
                call.service,
                call.action
            )
        })
        .collect();
    progress(&format!(
        "{} calls:\n{}",
        measured.report.playbook.as_str(),
        lines.join("\n")
    ));
}
