//! S3 Control: the account-level public access block, read and turned back on.

use aws_config::SdkConfig;
use aws_sdk_s3control::Client;
use aws_sdk_s3control::config::endpoint::{Endpoint, EndpointFuture, Params, ResolveEndpoint};
use aws_sdk_s3control::operation::get_public_access_block::GetPublicAccessBlockError;
use aws_sdk_s3control::types::PublicAccessBlockConfiguration;

use super::{AwsError, Done, request_id, sdk};
use crate::observation::{AccountBlockState, Observation};
use crate::telemetry::CallLog;

/// An endpoint override (a local emulator, a proxy) taken as given: S3 Control's own rules
/// would put the account id in front of its host name.
#[derive(Debug)]
struct AsGiven(String);

impl ResolveEndpoint for AsGiven {
    fn resolve_endpoint<'a>(&'a self, _: &'a Params) -> EndpointFuture<'a> {
        EndpointFuture::ready(Ok(Endpoint::builder().url(self.0.clone()).build()))
    }
}

/// An S3 Control client acting where `config` acts; built when a playbook needs it (rare),
/// not at every cold start.
#[must_use]
pub fn client(config: &SdkConfig) -> Client {
    let mut builder = aws_sdk_s3control::config::Builder::from(config).interceptor(CallLog);
    if let Some(url) = config.endpoint_url() {
        builder = builder.endpoint_resolver(AsGiven(url.to_owned()));
    }
    Client::from_conf(builder.build())
}

/// The account's block as it is: the four settings, none, or why it could not be read.
pub async fn observe(client: &Client, account_id: &str) -> Observation {
    let mut state = AccountBlockState {
        account_id: account_id.to_owned(),
        ..AccountBlockState::default()
    };
    let result = client.get_public_access_block().account_id(account_id).send().await;
    match result {
        Ok(output) => {
            state.block = output.public_access_block_configuration().map(|c| {
                [
                    c.block_public_acls().unwrap_or(false),
                    c.ignore_public_acls().unwrap_or(false),
                    c.block_public_policy().unwrap_or(false),
                    c.restrict_public_buckets().unwrap_or(false),
                ]
            });
        }
        Err(err)
            if err
                .as_service_error()
                .is_some_and(GetPublicAccessBlockError::is_no_such_public_access_block_configuration) => {}
        Err(err) => state.error = Some(AwsError::from_sdk("GetPublicAccessBlock", &err).code),
    }
    Observation::AccountBlock(Box::new(state))
}

/// All four settings on, for the whole account.
pub async fn restore(client: &Client, account_id: &str) -> Result<Done, AwsError> {
    let output = client
        .put_public_access_block()
        .account_id(account_id)
        .public_access_block_configuration(
            PublicAccessBlockConfiguration::builder()
                .block_public_acls(true)
                .ignore_public_acls(true)
                .block_public_policy(true)
                .restrict_public_buckets(true)
                .build(),
        )
        .send()
        .await
        .map_err(sdk("PutPublicAccessBlock"))?;
    Ok(Done::new(
        [request_id(&output)],
        serde_json::json!({"account_id": account_id, "public_access_block": [true, true, true, true]}),
    ))
}
