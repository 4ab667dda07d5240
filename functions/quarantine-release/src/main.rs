//! quarantine-release: invoked by hand with `{"instance_id": "i-..."}`, undoes a quarantine.

use lambda_runtime::{Error, LambdaEvent, run, service_fn};
use playbook::{Budget, Report, Starting};
use serde_json::Value;

#[tokio::main]
async fn main() -> Result<(), Error> {
    playbook::telemetry::init();
    let starting = Starting::from_env(&[])?;
    run(service_fn(|event: LambdaEvent<Value>| handler(&starting, event))).await
}

async fn handler(starting: &Starting, event: LambdaEvent<Value>) -> Result<Report, playbook::Error> {
    let budget = Budget::lambda_deadline(event.context.deadline);
    starting.responder().await?.release(&event.payload, budget).await
}
