//! Time to contain, counted: sequential AWS round trips (every service) before every interface
//! is isolated, and then to the page. Every call is held the same time, as against a far
//! endpoint, so the count is the response's critical path and not an accident of the
//! emulator's speed.

use anyhow::Result;
use playbook::report::StepReport;
use tourniquet_tests::calls::{Recorder, depths, recorded_clients};
use tourniquet_tests::emulator::emulator;
use tourniquet_tests::events;

use crate::world;

/// Held on every call: far above the emulator's own time per call, even with the rest of the
/// suite running beside it, so no call can overtake one sent a round trip earlier.
const LATENCY_MS: u64 = 250;

#[tokio::test]
async fn steady_state_isolation_takes_four_round_trips_and_the_page_two_more() -> Result<()> {
    let world = world().await?;
    let far = world.faulty_as("guardduty-responder").await?;
    let recorder = Recorder::default();
    let responder = playbook::Responder::new(recorded_clients(&far, &recorder), world.settings())?;
    // The first incident creates the quarantine groups and lets the process learn its own
    // identity; the steady state is every one after.
    let first = events::for_world("guardduty/ec2-ssh-brute-force-web-server.json", &world)?;
    responder.handle(first).await?;
    let second_host = world.launch_worker().await?;
    drop(recorder.take());
    emulator().latency(&world.account.id, LATENCY_MS)?;
    let text = events::read("guardduty/ec2-backdoor-cc-activity.json")?.replace(events::WEB_PLACEHOLDER, &second_host);
    let response = responder.handle(events::for_world_text(&text, &world)?).await;
    emulator().clear(&world.account.id)?;
    let report = response?.report().expect("an incident");
    assert!(report.steps.iter().all(StepReport::done_now), "{report:#?}");

    // Every call counts: the ledger's reads and writes as much as EC2's.
    let calls = recorder.take();
    let last_isolation = calls
        .iter()
        .rposition(|c| c.action == "ModifyNetworkInterfaceAttribute")
        .expect("isolation calls");
    let depths = depths(&calls);
    let trips = depths[..=last_isolation].iter().max().copied().unwrap_or(0);
    let actions: Vec<(usize, &str, &str)> = calls
        .iter()
        .zip(&depths)
        .map(|(c, d)| (*d, c.service, c.action.as_str()))
        .collect();
    assert!(
        trips <= 4,
        "{trips} sequential round trips before isolation: {actions:?}"
    );
    // Then verification and the page (the configuration history beside it): the step records
    // are written beside the next stages, and the run that wrote the plan owns the page (no
    // claim of its own).
    let page = calls.iter().position(|c| c.action == "Publish").expect("a page");
    assert!(
        depths[page] <= trips + 2,
        "the page went out {} round trips after isolation: {actions:?}",
        depths[page] - trips
    );
    Ok(())
}
