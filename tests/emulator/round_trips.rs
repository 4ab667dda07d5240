//! Time to contain, counted: sequential EC2 round trips before every interface is isolated.

use std::sync::{Arc, Mutex};
use std::time::Instant;

use anyhow::Result;
use aws_sdk_ec2::config::interceptors::{BeforeTransmitInterceptorContextRef, FinalizerInterceptorContextRef};
use aws_sdk_ec2::config::{ConfigBag, Intercept, RuntimeComponents};
use aws_sdk_ec2::error::BoxError;
use playbook::{Clients, Outcome};
use tourniquet_tests::events;

use crate::world;

/// One EC2 call: its action and when it was on the wire.
#[derive(Debug, Clone)]
struct Call {
    action: String,
    sent: Instant,
    done: Option<Instant>,
}

/// Records every EC2 request (action from the Query body) with send and finish times.
#[derive(Debug, Clone, Default)]
struct Recorder(Arc<Mutex<Vec<Call>>>);

impl Intercept for Recorder {
    fn name(&self) -> &'static str {
        "round-trip recorder"
    }

    fn read_before_transmit(
        &self,
        context: &BeforeTransmitInterceptorContextRef<'_>,
        _: &RuntimeComponents,
        _: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let body = context.request().body().bytes().unwrap_or_default();
        let action = String::from_utf8_lossy(body)
            .split('&')
            .find_map(|kv| kv.strip_prefix("Action=").map(ToOwned::to_owned))
            .unwrap_or_default();
        self.0.lock().expect("recorder").push(Call {
            action,
            sent: Instant::now(),
            done: None,
        });
        Ok(())
    }

    fn read_after_execution(
        &self,
        _: &FinalizerInterceptorContextRef<'_>,
        _: &RuntimeComponents,
        _: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        // Calls finish in any order; close the earliest still-open call. The depth count only
        // needs each call's finish to be no earlier than its real finish.
        let mut calls = self.0.lock().expect("recorder");
        if let Some(call) = calls.iter_mut().find(|c| c.done.is_none()) {
            call.done = Some(Instant::now());
        }
        Ok(())
    }
}

/// The round-trip depth of each call: 1 + the deepest call that finished before it was sent.
fn depths(calls: &[Call]) -> Vec<usize> {
    let mut depth = vec![0; calls.len()];
    for i in 0..calls.len() {
        depth[i] = 1
            + (0..i)
                .filter(|&j| calls[j].done.is_some_and(|d| d <= calls[i].sent))
                .map(|j| depth[j])
                .max()
                .unwrap_or(0);
    }
    depth
}

#[tokio::test]
async fn steady_state_isolation_takes_at_most_four_round_trips() -> Result<()> {
    let world = world().await?;
    // The first incident creates the quarantine groups; the steady state is every one after.
    let first = events::for_world("guardduty/ec2-ssh-brute-force-web-server.json", &world)?;
    world
        .responder(world.settings())
        .await?
        .handle(first)
        .await?
        .report()
        .expect("an incident");
    let second_host = world.launch_worker().await?;

    let recorder = Recorder::default();
    let ec2 = aws_sdk_ec2::config::Builder::from(&world.account.config)
        .interceptor(recorder.clone())
        .build();
    let clients = Clients {
        ec2: aws_sdk_ec2::Client::from_conf(ec2),
        ..world.account.clients.clone()
    };
    let text = events::read("guardduty/ec2-backdoor-cc-activity.json")?.replace(events::WEB_PLACEHOLDER, &second_host);
    let responder = playbook::Responder::new(clients, world.settings()).await?;
    let report = responder
        .handle(serde_json::from_str(&text)?)
        .await?
        .report()
        .expect("an incident");
    assert!(report.steps.iter().all(|s| s.outcome == Outcome::Done), "{report:#?}");

    let calls = recorder.0.lock().expect("recorder").clone();
    let depths = depths(&calls);
    let last_isolation = calls
        .iter()
        .rposition(|c| c.action == "ModifyNetworkInterfaceAttribute")
        .expect("isolation calls");
    let trips = depths[..=last_isolation].iter().max().copied().unwrap_or(0);
    let actions: Vec<(usize, &str)> = calls
        .iter()
        .zip(&depths)
        .map(|(c, d)| (*d, c.action.as_str()))
        .collect();
    assert!(
        trips <= 4,
        "{trips} sequential EC2 round trips before isolation: {actions:?}"
    );
    Ok(())
}
