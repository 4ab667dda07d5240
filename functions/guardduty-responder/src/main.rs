//! guardduty-responder: contains the resource a GuardDuty finding names, keeps evidence, pages.

use lambda_runtime::{Error, LambdaEvent, run, service_fn};
use playbook::{Budget, Response, Source, Starting};
use serde_json::Value;

#[tokio::main]
async fn main() -> Result<(), Error> {
    playbook::telemetry::init();
    let starting = Starting::from_env(&[Source::GuardDuty])?;
    run(service_fn(|event: LambdaEvent<Value>| handler(&starting, event))).await
}

async fn handler(starting: &Starting, event: LambdaEvent<Value>) -> Result<Response, playbook::Error> {
    let budget = Budget::lambda_deadline(event.context.deadline);
    starting.responder().await?.handle_within(event.payload, budget).await
}
