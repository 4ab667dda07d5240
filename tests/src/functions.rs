//! Lambda functions in a seeded account: a role, a small deployment package, reserved concurrency.

use anyhow::{Context, Result};

use crate::world::World;

/// A deployment package: a zip holding `index.py` (a handler that returns its event). The
/// emulator keeps it without running it.
const PACKAGE_HEX: &str = "504b03041400000000000000c158b40870692e0000002e00000008000000696e6465782e70796465662068616e646c6572286576656e742c20636f6e74657874293a0a2020202072657475726e206576656e740a504b010214031400000000000000c158b40870692e0000002e000000080000000000000000000000800100000000696e6465782e7079504b0506000000000100010036000000540000000000";

/// What `create` built.
#[derive(Debug, Clone)]
pub struct Function {
    pub name: String,
    pub arn: String,
    pub role_name: String,
    pub role_id: String,
    /// `CodeSha256` as Lambda reports it.
    pub code_sha256: String,
}

fn package() -> Vec<u8> {
    (0..PACKAGE_HEX.len())
        .step_by(2)
        .filter_map(|i| u8::from_str_radix(&PACKAGE_HEX[i..i + 2], 16).ok())
        .collect()
}

/// Creates function `name` with an execution role of its own (`<name>-role`), `reserved`
/// concurrency if given, and `tags`.
pub async fn create(world: &World, name: &str, reserved: Option<i32>, tags: &[(&str, &str)]) -> Result<Function> {
    let clients = &world.account.clients;
    let role_name = format!("{name}-role");
    let trust = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"lambda.amazonaws.com"},"Action":"sts:AssumeRole"}]}"#;
    let role = clients
        .iam
        .create_role()
        .role_name(&role_name)
        .assume_role_policy_document(trust)
        .send()
        .await?;
    let role = role.role().context("a role")?;
    let mut create = clients
        .lambda
        .create_function()
        .function_name(name)
        .runtime(aws_sdk_lambda::types::Runtime::Python312)
        .handler("index.handler")
        .role(role.arn())
        .description("Resizes uploaded images")
        .environment(
            aws_sdk_lambda::types::Environment::builder()
                .variables("BUCKET", "uploads")
                .variables("API_TOKEN", "secret-value-never-recorded")
                .build(),
        )
        .code(
            aws_sdk_lambda::types::FunctionCode::builder()
                .zip_file(aws_sdk_lambda::primitives::Blob::new(package()))
                .build(),
        );
    for (key, value) in tags {
        create = create.tags(*key, *value);
    }
    let created = create.send().await?;
    if let Some(reserved) = reserved {
        clients
            .lambda
            .put_function_concurrency()
            .function_name(name)
            .reserved_concurrent_executions(reserved)
            .send()
            .await?;
    }
    Ok(Function {
        name: name.to_owned(),
        arn: created.function_arn().context("an ARN")?.to_owned(),
        role_name,
        role_id: role.role_id().to_owned(),
        code_sha256: created.code_sha256().context("a code SHA-256")?.to_owned(),
    })
}

/// The function's reserved concurrency, if set.
pub async fn reserved_concurrency(world: &World, name: &str) -> Result<Option<i32>> {
    let out = world
        .account
        .clients
        .lambda
        .get_function_concurrency()
        .function_name(name)
        .send()
        .await?;
    Ok(out.reserved_concurrent_executions())
}

/// The function's published versions (not `$LATEST`), with their code SHA-256.
pub async fn versions(world: &World, name: &str) -> Result<Vec<(String, String)>> {
    let out = world
        .account
        .clients
        .lambda
        .list_versions_by_function()
        .function_name(name)
        .send()
        .await?;
    Ok(out
        .versions()
        .iter()
        .filter(|v| v.version() != Some("$LATEST"))
        .map(|v| {
            (
                v.version().unwrap_or_default().to_owned(),
                v.code_sha256().unwrap_or_default().to_owned(),
            )
        })
        .collect())
}
