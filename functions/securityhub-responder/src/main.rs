//! securityhub-responder: answers Security Hub findings (both formats) and custom actions, writes the response back.

use lambda_runtime::{Error, LambdaEvent, run, service_fn};
use playbook::{Budget, Responder, Response, Source};
use serde_json::Value;

#[tokio::main]
async fn main() -> Result<(), Error> {
    playbook::telemetry::init();
    // GuardDuty's findings keep their own source through Security Hub: one incident either way.
    let responder = Responder::from_env(&[Source::SecurityHub, Source::GuardDuty]).await?;
    run(service_fn(|event: LambdaEvent<Value>| handler(&responder, event))).await
}

async fn handler(responder: &Responder, event: LambdaEvent<Value>) -> Result<Response, playbook::Error> {
    let budget = Budget::lambda_deadline(event.context.deadline);
    responder.handle_within(event.payload, budget).await
}
