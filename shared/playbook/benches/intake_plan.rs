//! Intake + plan throughput: every sample under `events/` parsed and planned, on one core.

use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use playbook::{Observation, Policy, Settings, intake, plan::plan, target::target};
use serde_json::Value;

/// Every `.json` file under `dir`, recursively, sorted.
fn json_files(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    let entries = std::fs::read_dir(dir).unwrap_or_else(|e| panic!("read {}: {e}", dir.display()));
    for path in entries.filter_map(|e| Some(e.ok()?.path())) {
        if path.is_dir() {
            files.extend(json_files(&path));
        } else if path.extension().is_some_and(|e| e == "json") {
            files.push(path);
        }
    }
    files.sort();
    files
}

/// The sample events, each read and parsed as JSON once.
fn samples() -> Vec<Value> {
    let events = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../events");
    json_files(&events)
        .iter()
        .map(|path| {
            let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
            serde_json::from_str(&text).unwrap_or_else(|e| panic!("{} is not JSON: {e}", path.display()))
        })
        .collect()
}

/// The compiled-in policy with the settings every deployment must give.
fn policy() -> Policy {
    let settings = Settings::from_lookup(|var| match var {
        "TOURNIQUET_TOPIC_ARN" => Some("arn:aws:sns:us-east-1:123456789012:pages".to_owned()),
        "TOURNIQUET_EVIDENCE_BUCKET" => Some("evidence".to_owned()),
        _ => None,
    })
    .expect("bench settings are valid");
    Policy::new(&settings).expect("the compiled-in policy is valid")
}

/// Intake and plan for one event; how many steps were planned (0 for a refused or ignored one).
fn intake_and_plan(event: &Value, policy: &Policy) -> usize {
    match intake::parse(event).map(intake::Intake::incident) {
        Ok(Some(incident)) => {
            let target = target(&incident, policy);
            plan(
                &incident,
                &target,
                &Observation::NotNeeded,
                policy,
                SystemTime::UNIX_EPOCH,
            )
            .steps
            .len()
        }
        Ok(None) | Err(_) => 0,
    }
}

fn intake_plan(c: &mut Criterion) {
    let samples = samples();
    let policy = policy();
    let mut group = c.benchmark_group("intake_plan");
    group.throughput(Throughput::Elements(samples.len() as u64));
    group.measurement_time(Duration::from_secs(5));
    group.bench_function("all_events", |b| {
        b.iter(|| {
            samples
                .iter()
                .map(|event| intake_and_plan(black_box(event), &policy))
                .sum::<usize>()
        });
    });
    group.finish();
}

criterion_group!(benches, intake_plan);
criterion_main!(benches);
