//! SNS: publish one page, with attributes subscribers can filter on.

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

/// Publishes `page` to `topic_arn`.
pub async fn publish(sns: &Client, topic_arn: &str, page: &Page) -> Result<Done, AwsError> {
    let output = sns
        .publish()
        .topic_arn(topic_arn)
        .subject(&page.subject)
        .message(&page.body)
        .message_attributes("severity", attribute("Number", &format!("{:.1}", page.severity))?)
        .message_attributes("incident_id", attribute("String", &page.incident_id)?)
        .message_attributes("finding_type", attribute("String", &page.finding_type)?)
        .send()
        .await
        .map_err(sdk("Publish"))?;
    let detail = serde_json::json!({ "message_id": output.message_id(), "subject": page.subject });
    Ok(
        Done::new([request_id(&output)], detail).with_output(StepOutput::PageSent {
            failed: page.failed.clone(),
        }),
    )
}
