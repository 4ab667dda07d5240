//! config-responder: fixes the posture an AWS Config rule flags, keeps evidence, pages.

use lambda_runtime::{Error, LambdaEvent, run, service_fn};
use playbook::{Budget, Response, Source, Starting};
use serde_json::Value;

#[tokio::main]
async fn main() -> Result<(), Error> {
    playbook::telemetry::init();
    let starting = Starting::from_env(&[Source::Config])?;
    run(service_fn(|event: LambdaEvent<Value>| handler(&starting, event))).await
}

async fn handler(starting: &Starting, event: LambdaEvent<Value>) -> Result<Response, playbook::Error> {
    let budget = Budget::lambda_deadline(event.context.deadline);
    starting.responder().await?.handle_within(event.payload, budget).await
}
