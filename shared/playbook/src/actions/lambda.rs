//! Lambda functions: what a compromised function was, a version that keeps its code, throttling.

use std::collections::BTreeMap;

use super::{AwsError, Done, request_id, sdk};
use crate::observation::{FunctionState, Observation};

/// Describes a function (configuration, code SHA-256, reserved concurrency, tags) and its
/// execution role's unique id: the deny names the function's sessions by it. A secondary
/// look-up that fails is noted; tags that cannot be read leave `tags` empty (`None`), and the
/// protection guard then fails closed.
pub async fn observe_function(lambda: &aws_sdk_lambda::Client, iam: &aws_sdk_iam::Client, name: &str) -> Observation {
    let (function, concurrency) = tokio::join!(
        lambda.get_function().function_name(name).send(),
        lambda.get_function_concurrency().function_name(name).send(),
    );
    let function = match function.map_err(sdk("GetFunction")) {
        Ok(function) => function,
        Err(err) => return err.unavailable(),
    };
    let Some(configuration) = function.configuration() else {
        return Observation::Unavailable {
            code: "ResourceNotFoundException".to_owned(),
            message: format!("GetFunction named no configuration for {name}"),
        };
    };
    let mut state = FunctionState {
        name: configuration.function_name().unwrap_or(name).to_owned(),
        arn: configuration.function_arn().map(ToOwned::to_owned),
        code_sha256: configuration.code_sha256().map(ToOwned::to_owned),
        version: configuration.version().map(ToOwned::to_owned),
        role_arn: configuration.role().map(ToOwned::to_owned),
        configuration: describe(configuration),
        ..FunctionState::default()
    };
    match concurrency.map_err(sdk("GetFunctionConcurrency")) {
        Ok(output) => state.reserved_concurrency = output.reserved_concurrent_executions(),
        Err(err) => {
            state.concurrency_error = Some(err.code.clone());
            state.notes.push(err.to_string());
        }
    }
    if let Some(arn) = &state.arn {
        match lambda.list_tags().resource(arn).send().await.map_err(sdk("ListTags")) {
            Ok(output) => {
                state.tags = Some(
                    output
                        .tags()
                        .map(|t| t.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
                        .unwrap_or_default(),
                );
            }
            Err(err) => state.tags_error = Some(err.code),
        }
    }
    if let Some(role_name) = state.role_arn.as_deref().and_then(role_name) {
        state.role_name = Some(role_name.to_owned());
        match iam.get_role().role_name(role_name).send().await.map_err(sdk("GetRole")) {
            Ok(output) => state.role_id = output.role().map(|r| r.role_id().to_owned()),
            Err(err) => state.notes.push(err.to_string()),
        }
    }
    Observation::Function(Box::new(state))
}

/// The configuration a person needs to see what ran (never the environment's values: they
/// may be secrets; their names only).
fn describe(configuration: &aws_sdk_lambda::types::FunctionConfiguration) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let mut put = |key: &str, value: Option<String>| {
        if let Some(value) = value {
            out.insert(key.to_owned(), value);
        }
    };
    put("runtime", configuration.runtime().map(|r| r.as_str().to_owned()));
    put("handler", configuration.handler().map(ToOwned::to_owned));
    put("role", configuration.role().map(ToOwned::to_owned));
    put("last_modified", configuration.last_modified().map(ToOwned::to_owned));
    put("code_size", Some(configuration.code_size().to_string()));
    put("timeout", configuration.timeout().as_ref().map(ToString::to_string));
    put(
        "memory_size",
        configuration.memory_size().as_ref().map(ToString::to_string),
    );
    put(
        "package_type",
        configuration.package_type().map(|p| p.as_str().to_owned()),
    );
    put("description", configuration.description().map(ToOwned::to_owned));
    put(
        "environment_names",
        configuration.environment().and_then(|e| e.variables()).map(|v| {
            let mut names: Vec<&str> = v.keys().map(String::as_str).collect();
            names.sort_unstable();
            names.join(",")
        }),
    );
    put(
        "layers",
        Some(
            configuration
                .layers()
                .iter()
                .filter_map(|l| l.arn())
                .collect::<Vec<_>>()
                .join(","),
        )
        .filter(|l| !l.is_empty()),
    );
    out
}

/// The role name in a role ARN (`arn:aws:iam::1:role/path/name`).
fn role_name(arn: &str) -> Option<&str> {
    arn.split_once(":role/")?.1.rsplit('/').next().filter(|n| !n.is_empty())
}

/// Publishes a version of exactly the code observed (`CodeSha256` pins it: Lambda refuses if
/// the code changed since). Converges: with nothing changed since the last version, Lambda
/// returns that version instead of a new one.
pub async fn publish_version(
    lambda: &aws_sdk_lambda::Client,
    function_name: &str,
    code_sha256: Option<&str>,
    incident_id: &str,
) -> Result<Done, AwsError> {
    let output = lambda
        .publish_version()
        .function_name(function_name)
        .set_code_sha256(code_sha256.map(ToOwned::to_owned))
        .description(format!("Tourniquet evidence for {incident_id}: the code that ran"))
        .send()
        .await
        .map_err(sdk("PublishVersion"))?;
    Ok(Done::new(
        [request_id(&output)],
        serde_json::json!({
            "function": function_name,
            "version": output.version(),
            "code_sha256": output.code_sha256(),
            "function_arn": output.function_arn(),
        }),
    ))
}

/// Reserved concurrency 0: no new invocation runs; the function and its code stay as they are.
pub async fn throttle(lambda: &aws_sdk_lambda::Client, function_name: &str) -> Result<Done, AwsError> {
    let output = lambda
        .put_function_concurrency()
        .function_name(function_name)
        .reserved_concurrent_executions(0)
        .send()
        .await
        .map_err(sdk("PutFunctionConcurrency"))?;
    Ok(Done::new(
        [request_id(&output)],
        serde_json::json!({"function": function_name, "reserved_concurrency": 0}),
    ))
}

/// Puts back the reserved concurrency recorded before the throttle, or removes the setting
/// when there was none.
pub async fn restore_concurrency(
    lambda: &aws_sdk_lambda::Client,
    function_name: &str,
    reserved: Option<i32>,
) -> Result<Done, AwsError> {
    let request_id = match reserved {
        Some(reserved) => lambda
            .put_function_concurrency()
            .function_name(function_name)
            .reserved_concurrent_executions(reserved)
            .send()
            .await
            .map(|o| request_id(&o))
            .map_err(sdk("PutFunctionConcurrency"))?,
        None => lambda
            .delete_function_concurrency()
            .function_name(function_name)
            .send()
            .await
            .map(|o| request_id(&o))
            .map_err(sdk("DeleteFunctionConcurrency"))?,
    };
    Ok(Done::new(
        [request_id],
        serde_json::json!({"function": function_name, "reserved_concurrency": reserved}),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn role_names_from_arns() {
        assert_eq!(role_name("arn:aws:iam::123456789012:role/fn-role"), Some("fn-role"));
        assert_eq!(
            role_name("arn:aws:iam::123456789012:role/service-role/fn-role"),
            Some("fn-role")
        );
        assert_eq!(role_name("arn:aws:iam::123456789012:user/alice"), None);
        assert_eq!(role_name("arn:aws:iam::123456789012:role/"), None);
    }
}
