//! The deployment the command talks to: the CloudFormation stack's outputs (the evidence
//! bucket, the functions' names), read once and only when an option does not already say.

use std::collections::BTreeMap;

use crate::error::CliError;

/// The output naming the evidence bucket.
pub const EVIDENCE_BUCKET: &str = "EvidenceBucketName";
/// The output naming the quarantine-release function.
pub const QUARANTINE_RELEASE: &str = "QuarantineReleaseName";

/// The output naming the responder of incidents from `source` (`guardduty`, `config`, ...).
#[must_use]
pub fn responder_output(source: &str) -> &'static str {
    match source {
        "config" => "ConfigResponderName",
        "cloudwatch" => "AlarmResponderName",
        "securityhub" => "SecurityHubResponderName",
        _ => "GuardDutyResponderName",
    }
}

/// The source whose responder an event goes to, by the event's `source`.
#[must_use]
pub fn source_of_event(event: &serde_json::Value) -> &'static str {
    match event.get("source").and_then(serde_json::Value::as_str) {
        Some("aws.config") => "config",
        Some("aws.cloudwatch") => "cloudwatch",
        Some("aws.securityhub") => "securityhub",
        _ => "guardduty",
    }
}

/// A stack's outputs, by key.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Outputs {
    pub stack: String,
    values: BTreeMap<String, String>,
}

impl Outputs {
    #[must_use]
    pub fn new(stack: &str, values: BTreeMap<String, String>) -> Self {
        Outputs {
            stack: stack.to_owned(),
            values,
        }
    }

    /// The output `key`, or an error saying which option gives it instead.
    pub fn get(&self, key: &str, option: &str) -> Result<&str, CliError> {
        self.values.get(key).map(String::as_str).ok_or_else(|| {
            CliError::Usage(format!(
                "stack {} has no {key} output: give {option}, or --stack NAME of a Tourniquet stack",
                self.stack
            ))
        })
    }
}

/// Reads the outputs of `stack` (`DescribeStacks`).
pub async fn read(client: &aws_sdk_cloudformation::Client, stack: &str) -> Result<Outputs, CliError> {
    let described = client
        .describe_stacks()
        .stack_name(stack)
        .send()
        .await
        .map_err(|e| CliError::aws("DescribeStacks", &e))?;
    let Some(found) = described.stacks().first() else {
        return Err(CliError::NotFound(format!("no stack {stack}")));
    };
    let values = found
        .outputs()
        .iter()
        .filter_map(|o| Some((o.output_key()?.to_owned(), o.output_value()?.to_owned())))
        .collect();
    Ok(Outputs::new(stack, values))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_source_has_its_responders_output() {
        assert_eq!(responder_output("guardduty"), "GuardDutyResponderName");
        assert_eq!(responder_output("config"), "ConfigResponderName");
        assert_eq!(responder_output("cloudwatch"), "AlarmResponderName");
        assert_eq!(responder_output("securityhub"), "SecurityHubResponderName");
        let event = |source: &str| serde_json::json!({ "source": source });
        assert_eq!(source_of_event(&event("aws.config")), "config");
        assert_eq!(source_of_event(&event("aws.guardduty")), "guardduty");
        assert_eq!(source_of_event(&serde_json::json!({})), "guardduty");
    }

    /// The outputs the command reads are the ones template.yaml declares.
    #[test]
    fn the_template_declares_every_output_read() {
        let template = include_str!("../../template.yaml");
        let outputs = &template[template.find("\nOutputs:").expect("an Outputs section")..];
        for key in [
            EVIDENCE_BUCKET,
            QUARANTINE_RELEASE,
            responder_output("guardduty"),
            responder_output("config"),
            responder_output("cloudwatch"),
            responder_output("securityhub"),
        ] {
            assert!(outputs.contains(&format!("\n  {key}:\n")), "{key} is not an output");
        }
    }

    #[test]
    fn a_missing_output_names_the_option() {
        let outputs = Outputs::new("tq", BTreeMap::from([(EVIDENCE_BUCKET.to_owned(), "ev".to_owned())]));
        assert_eq!(outputs.get(EVIDENCE_BUCKET, "--bucket").unwrap(), "ev");
        let err = outputs.get(QUARANTINE_RELEASE, "--function NAME").unwrap_err();
        assert_eq!(
            err.to_string(),
            "stack tq has no QuarantineReleaseName output: give --function NAME, or --stack NAME of a Tourniquet stack"
        );
        assert_eq!(err.exit(), 2);
    }
}
