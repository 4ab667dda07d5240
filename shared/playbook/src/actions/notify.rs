//! SNS: publish one page, a message per protocol, with attributes subscribers can filter on.

use aws_sdk_sns::Client;
use aws_sdk_sns::types::MessageAttributeValue;

use super::{AwsError, Done, request_id, sdk};
use crate::page::Page;
use crate::report::StepOutput;

fn attribute(data_type: &str, value: &str) -> Result<MessageAttributeValue, AwsError> {
    MessageAttributeValue::builder()
        .data_type(data_type)
        .string_value(value)
        .build()
        .map_err(|e| AwsError::check("Publish", "InvalidMessageAttribute", e.to_string()))
}

/// Publishes `page` to `topic_arn`: one publish, `MessageStructure: json`, so email gets the
/// text and every other protocol the JSON.
pub async fn publish(sns: &Client, topic_arn: &str, page: &Page) -> Result<Done, AwsError> {
    let mut publish = sns
        .publish()
        .topic_arn(topic_arn)
        .subject(&page.subject)
        .message_structure("json")
        .message(page.message());
    for a in &page.attributes {
        publish = publish.message_attributes(a.name, attribute(a.data_type, &a.value)?);
    }
    let output = publish.send().await.map_err(sdk("Publish"))?;
    let detail = serde_json::json!({
        "message_id": output.message_id(),
        "subject": page.subject,
        "verdict": page.document.verdict,
    });
    Ok(
        Done::new([request_id(&output)], detail).with_output(StepOutput::PageSent {
            failed: page.failed.clone(),
        }),
    )
}
