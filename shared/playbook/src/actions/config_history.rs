//! AWS Config: a resource's configuration history over the breach window
//! (`GetResourceConfigHistory`), oldest first, and the configuration in effect when the window
//! opened; where AWS Config records nothing of it, why.

use std::collections::BTreeMap;
use std::time::SystemTime;

use aws_sdk_config::Client;
use aws_sdk_config::operation::get_resource_config_history::GetResourceConfigHistoryError;
use aws_sdk_config::primitives::DateTime;
use aws_sdk_config::types::{ChronologicalOrder, ConfigurationItem, ResourceType};

use super::{AwsError, cloudtrail::rfc3339};
use crate::config_history::{ConfigResource, Item, Read, json_or_text};

/// Items a page (AWS Config's most).
pub const PAGE_SIZE: i32 = 100;

/// Pages read at most: a resource changed more often than this in the window is cut, and
/// the evidence says so.
pub const MAX_PAGES: usize = 10;

/// What one call found: its items and the next page's token, or that AWS Config records
/// nothing of the resource here, and why.
enum Answer {
    Page(Vec<ConfigurationItem>, Option<String>),
    NotRecorded(String),
}

/// One `GetResourceConfigHistory` call.
async fn call(
    client: &Client,
    resource: &ConfigResource,
    window: (Option<DateTime>, DateTime),
    order: ChronologicalOrder,
    limit: i32,
    token: Option<String>,
) -> Result<Answer, AwsError> {
    let result = client
        .get_resource_config_history()
        .resource_type(ResourceType::from(resource.resource_type.as_str()))
        .resource_id(&resource.resource_id)
        .set_earlier_time(window.0)
        .later_time(window.1)
        .chronological_order(order)
        .limit(limit)
        .set_next_token(token)
        .send()
        .await;
    match result {
        Ok(out) => Ok(Answer::Page(
            out.configuration_items().to_vec(),
            out.next_token().map(ToOwned::to_owned),
        )),
        Err(err) => {
            let refused = AwsError::from_sdk("GetResourceConfigHistory", &err);
            let not_recorded = err.as_service_error().is_some_and(|e: &GetResourceConfigHistoryError| {
                e.is_no_available_configuration_recorder_exception() || e.is_resource_not_discovered_exception()
            });
            if not_recorded {
                Ok(Answer::NotRecorded(format!("{}: {}", refused.code, refused.message)))
            } else {
                Err(refused)
            }
        }
    }
}

/// Reads `resource`'s items captured from `start` to `end`, oldest first, at most
/// [`MAX_PAGES`] pages and never past `stop_by`; beside the first page, the last item
/// captured before `start` (the configuration in effect when the window opened).
pub async fn read(
    client: &Client,
    resource: &ConfigResource,
    start: DateTime,
    end: DateTime,
    stop_by: Option<SystemTime>,
) -> Result<Read, AwsError> {
    let mut read = Read::default();
    // Newest first, one item: the one in effect at `start`. Asked beside the first page, so
    // the read takes one round trip more only when the window holds more than a page.
    let (before, first) = tokio::join!(
        call(client, resource, (None, start), ChronologicalOrder::Reverse, 1, None),
        call(
            client,
            resource,
            (Some(start), end),
            ChronologicalOrder::Forward,
            PAGE_SIZE,
            None
        ),
    );
    read.calls = 2;
    let mut page = first?;
    if let Answer::Page(items, _) = before? {
        read.before_window = items.first().map(item);
    }
    loop {
        let token = match page {
            Answer::NotRecorded(why) => {
                read.not_recorded = Some(why);
                read.before_window = None;
                return Ok(read);
            }
            Answer::Page(items, token) => {
                read.items.extend(items.iter().map(item));
                token
            }
        };
        let Some(token) = token else { break };
        if read.calls > MAX_PAGES {
            read.cut = Some(format!("stopped after {MAX_PAGES} pages of {PAGE_SIZE} items"));
            break;
        }
        if stop_by.is_some_and(|stop| SystemTime::now() > stop) {
            read.cut = Some(format!(
                "stopped before the Lambda deadline, after {} item(s)",
                read.items.len()
            ));
            break;
        }
        read.calls += 1;
        page = call(
            client,
            resource,
            (Some(start), end),
            ChronologicalOrder::Forward,
            PAGE_SIZE,
            Some(token),
        )
        .await?;
    }
    Ok(read)
}

fn item(found: &ConfigurationItem) -> Item {
    let texts = |map: Option<&std::collections::HashMap<String, String>>| -> BTreeMap<String, String> {
        map.map(|m| m.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
            .unwrap_or_default()
    };
    Item {
        captured: found
            .configuration_item_capture_time()
            .and_then(rfc3339)
            .unwrap_or_default(),
        status: found.configuration_item_status().map(|s| s.as_str().to_owned()),
        state_id: found.configuration_state_id().map(ToOwned::to_owned),
        configuration: found.configuration().map(json_or_text).unwrap_or_default(),
        supplementary: texts(found.supplementary_configuration())
            .into_iter()
            .map(|(k, v)| (k, json_or_text(&v)))
            .collect(),
        tags: texts(found.tags()),
    }
}
