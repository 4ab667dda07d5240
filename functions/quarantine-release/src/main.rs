//! quarantine-release: invoked by hand with `{"instance_id": "i-..."}`, undoes a quarantine.

use lambda_runtime::{Error, LambdaEvent, run, service_fn};
use playbook::{Budget, Report, Responder};
use serde_json::Value;

#[tokio::main]
async fn main() -> Result<(), Error> {
    playbook::telemetry::init();
    let responder = Responder::from_env(&[]).await?;
    run(service_fn(|event: LambdaEvent<Value>| handler(&responder, event))).await
}

async fn handler(responder: &Responder, event: LambdaEvent<Value>) -> Result<Report, playbook::Error> {
    let budget = Budget::lambda_deadline(event.context.deadline);
    responder.release(&event.payload, budget).await
}
