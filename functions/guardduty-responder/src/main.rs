//! guardduty-responder: contains the resource a GuardDuty finding names, keeps evidence, pages.

use lambda_runtime::{Error, LambdaEvent, run, service_fn};
use playbook::{Report, Responder};
use serde_json::Value;

#[tokio::main]
async fn main() -> Result<(), Error> {
    playbook::telemetry::init();
    let responder = Responder::from_env().await?;
    run(service_fn(|event: LambdaEvent<Value>| handler(&responder, event))).await
}

async fn handler(responder: &Responder, event: LambdaEvent<Value>) -> Result<Report, playbook::Error> {
    responder.handle(event.payload).await
}
