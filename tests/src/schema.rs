//! The JSON Schemas of `docs/`: the page document and AWS Chatbot's custom notification.

use std::sync::OnceLock;

use anyhow::{Context, Result, ensure};
use jsonschema::Validator;
use serde_json::Value;

fn compile(file: &str) -> Result<Validator> {
    let path = crate::workspace_root().join("docs").join(file);
    let text = std::fs::read_to_string(&path).with_context(|| path.display().to_string())?;
    let schema: Value = serde_json::from_str(&text).with_context(|| file.to_owned())?;
    jsonschema::validator_for(&schema).map_err(|e| anyhow::anyhow!("{file} is not a valid schema: {e}"))
}

fn cached(cell: &'static OnceLock<Validator>, file: &str) -> &'static Validator {
    cell.get_or_init(|| compile(file).unwrap_or_else(|e| panic!("{e:#}")))
}

/// `docs/page.schema.json`, compiled once.
///
/// # Panics
/// If the schema file is missing or not a valid schema.
#[must_use]
pub fn page() -> &'static Validator {
    static SCHEMA: OnceLock<Validator> = OnceLock::new();
    cached(&SCHEMA, "page.schema.json")
}

/// `docs/chatbot.schema.json` (AWS's documented custom-notification format), compiled once.
///
/// # Panics
/// If the schema file is missing or not a valid schema.
#[must_use]
pub fn chatbot() -> &'static Validator {
    static SCHEMA: OnceLock<Validator> = OnceLock::new();
    cached(&SCHEMA, "chatbot.schema.json")
}

/// Every way `value` breaks `schema`, or nothing.
pub fn check(schema: &Validator, value: &Value) -> Result<()> {
    let errors: Vec<String> = schema.iter_errors(value).map(|e| e.to_string()).collect();
    ensure!(errors.is_empty(), "{errors:#?} in {value:#}");
    Ok(())
}
