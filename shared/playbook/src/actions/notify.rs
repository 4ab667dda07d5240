//! SNS: publish one page, a message per protocol, with attributes subscribers can filter on.

use aws_sdk_sns::Client;
use aws_sdk_sns::config::Config;
use aws_sdk_sns::config::retry::RetryConfig;
use aws_sdk_sns::types::MessageAttributeValue;

use super::{AwsError, Done, creating, request_id};
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
/// text and every other protocol the JSON. A standard topic keeps no message to look for and
/// has no deduplication, so a publish is never retried blind: the SDK's retries are off, a
/// throttled publish (surely not taken) is sent again, and one whose answer was lost counts as
/// sent (said in the record: a second page would be a duplicate more often than not).
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
    let send = || {
        publish
            .clone()
            .customize()
            .config_override(Config::builder().retry_config(RetryConfig::disabled()))
            .send()
    };
    let output = creating::send_once("Publish", send).await?;
    let mut detail = serde_json::json!({
        "message_id": output.as_ref().and_then(|o| o.message_id()),
        "subject": page.subject,
        "verdict": page.document.verdict,
    });
    if output.is_none() {
        detail["unconfirmed"] = "SNS's answer was lost: the page may have gone out, so it was not sent again".into();
    }
    Ok(
        Done::new([output.as_ref().and_then(request_id)], detail).with_output(StepOutput::PageSent {
            failed: page.failed.clone(),
        }),
    )
}
