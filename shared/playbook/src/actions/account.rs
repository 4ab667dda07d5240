//! IAM: the account's alias, for the page ("prod-payments (111122223333)").

use aws_sdk_iam::Client;

use super::{AwsError, sdk};

/// The account's alias, if it has one (an account has at most one).
pub async fn alias(iam: &Client) -> Result<Option<String>, AwsError> {
    let output = iam
        .list_account_aliases()
        .send()
        .await
        .map_err(sdk("ListAccountAliases"))?;
    Ok(output.account_aliases().first().cloned())
}
