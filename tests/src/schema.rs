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

/// `cli/schema/<name>.schema.json`: what `tourniquet ... --json` prints, compiled once, its
/// references to `docs/page.schema.json` and to one another resolved here (nothing is fetched).
///
/// # Panics
/// If a schema file is missing or not a valid schema, or `name` is not one of them.
#[must_use]
pub fn cli(name: &str) -> &'static Validator {
    static SCHEMAS: OnceLock<std::collections::BTreeMap<String, Validator>> = OnceLock::new();
    let schemas = SCHEMAS.get_or_init(|| cli_schemas().unwrap_or_else(|e| panic!("{e:#}")));
    schemas
        .get(name)
        .unwrap_or_else(|| panic!("no cli/schema/{name}.schema.json"))
}

fn read(path: &std::path::Path) -> Result<Value> {
    let text = std::fs::read_to_string(path).with_context(|| path.display().to_string())?;
    serde_json::from_str(&text).with_context(|| path.display().to_string())
}

fn cli_schemas() -> Result<std::collections::BTreeMap<String, Validator>> {
    let root = crate::workspace_root();
    let mut documents = vec![read(&root.join("docs/page.schema.json"))?];
    let mut names = Vec::new();
    for entry in std::fs::read_dir(root.join("cli/schema"))? {
        let path = entry?.path();
        let Some(name) = path
            .file_name()
            .and_then(|n| n.to_str())
            .and_then(|n| n.strip_suffix(".schema.json"))
        else {
            continue;
        };
        names.push(name.to_owned());
        documents.push(read(&path)?);
    }
    let mut registry = jsonschema::Registry::new();
    for document in &documents {
        let id = document["$id"].as_str().context("every schema has an $id")?.to_owned();
        registry = registry.add(id, document.clone()).map_err(|e| anyhow::anyhow!("{e}"))?;
    }
    let registry: &'static jsonschema::Registry<'static> =
        Box::leak(Box::new(registry.prepare().map_err(|e| anyhow::anyhow!("{e}"))?));
    names
        .into_iter()
        .zip(documents.iter().skip(1))
        .map(|(name, schema)| {
            let validator = jsonschema::options()
                .with_registry(registry)
                .should_validate_formats(true)
                .build(schema)
                .map_err(|e| anyhow::anyhow!("cli/schema/{name}.schema.json is not a valid schema: {e}"))?;
            Ok((name, validator))
        })
        .collect()
}
