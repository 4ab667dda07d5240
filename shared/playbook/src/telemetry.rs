//! Telemetry: JSON logs in Lambda, one log line per AWS call, CloudWatch metrics (EMF).

use std::time::{SystemTime, UNIX_EPOCH};

use aws_sdk_ec2::config::interceptors::FinalizerInterceptorContextRef;
use aws_sdk_ec2::config::{ConfigBag, Intercept, RuntimeComponents};
use aws_sdk_ec2::error::BoxError;
use aws_smithy_runtime_api::client::orchestrator::Metadata;
use tracing_subscriber::EnvFilter;

use crate::report::{Outcome, Report};

/// The CloudWatch namespace of Tourniquet's metrics.
pub const NAMESPACE: &str = "Tourniquet";

/// Installs the global subscriber once; later calls do nothing. `RUST_LOG` overrides the
/// default level (info). Span fields (incident id, finding type, step) go on every line.
pub fn init() {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let in_lambda = std::env::var_os("AWS_LAMBDA_FUNCTION_NAME").is_some();
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_target(false);
    let _already = if in_lambda {
        builder
            .json()
            .flatten_event(true)
            // Every span, outermost first: the incident (id, finding type), then the step.
            .with_current_span(false)
            .with_span_list(true)
            .without_time()
            .try_init()
    } else {
        builder.compact().with_writer(std::io::stderr).try_init()
    };
}

/// Logs every AWS call attempt (service, operation, HTTP status, request id) as one line, in
/// the current span, so each carries the incident id, finding type and step.
#[derive(Debug, Clone, Copy, Default)]
pub struct CallLog;

impl Intercept for CallLog {
    fn name(&self) -> &'static str {
        "tourniquet call log"
    }

    fn read_after_attempt(
        &self,
        context: &FinalizerInterceptorContextRef<'_>,
        _: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let (service, operation) = cfg
            .load::<Metadata>()
            .map_or(("unknown", "unknown"), |m| (m.service(), m.name()));
        let response = context.response();
        let status = response.map(|r| r.status().as_u16());
        let request_id = response.and_then(|r| {
            let headers = r.headers();
            headers
                .get("x-amzn-requestid")
                .or_else(|| headers.get("x-amz-request-id"))
        });
        tracing::info!(
            aws_service = service,
            aws_operation = operation,
            status,
            request_id,
            "aws call"
        );
        Ok(())
    }
}

/// One CloudWatch Embedded Metric Format line for an incident, by function and playbook:
/// incidents handled, steps failed, time to contain (ms), held for approval. Lambda sends it to
/// CloudWatch Logs, which extracts the metrics; no extra permission is needed.
#[must_use]
pub fn metrics_line(function: &str, report: &Report) -> String {
    let timestamp = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis());
    let failed = report.steps.iter().filter(|s| s.outcome == Outcome::Failed).count();
    let held = report.steps.iter().any(|s| s.outcome == Outcome::Held);
    let mut metrics = vec![
        serde_json::json!({"Name": "IncidentsHandled", "Unit": "Count"}),
        serde_json::json!({"Name": "StepsFailed", "Unit": "Count"}),
        serde_json::json!({"Name": "HeldForApproval", "Unit": "Count"}),
    ];
    let mut line = serde_json::json!({
        "_aws": {
            "Timestamp": timestamp,
            "CloudWatchMetrics": [{
                "Namespace": NAMESPACE,
                "Dimensions": [["Function", "Playbook"]],
                "Metrics": [],
            }],
        },
        "Function": function,
        "Playbook": report.playbook.as_str(),
        "IncidentsHandled": 1,
        "StepsFailed": failed,
        "HeldForApproval": u8::from(held),
        "incident_id": report.incident_id,
        "finding_type": report.finding_type,
        "outcome": if report.is_complete() { "complete" } else { "incomplete" },
    });
    if let Some(ms) = report.contained_after_ms {
        metrics.push(serde_json::json!({"Name": "TimeToContain", "Unit": "Milliseconds"}));
        line["TimeToContain"] = serde_json::json!(ms);
    }
    line["_aws"]["CloudWatchMetrics"][0]["Metrics"] = serde_json::Value::Array(metrics);
    line.to_string()
}

/// An error and every cause under it, as one line: each error's own message says only what
/// it adds, so none is printed twice.
#[must_use]
pub fn chain(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::incident::Source;
    use crate::policy::Playbook;

    #[test]
    fn metrics_lines_are_embedded_metric_format() {
        let report = Report {
            incident_id: "guardduty-1".into(),
            source: Source::GuardDuty,
            finding_id: "f".into(),
            finding_type: "Backdoor:EC2/C&CActivity.B".into(),
            severity: 8.0,
            resource: "i-1".into(),
            summary: String::new(),
            playbook: Playbook::Ec2Compromise,
            dry_run: false,
            reason: String::new(),
            evidence: String::new(),
            place: None,
            acted_as: None,
            steps: Vec::new(),
            objects: Vec::new(),
            ledger_errors: Vec::new(),
            interrupted: None,
            contained_after_ms: Some(840),
        };
        let line: serde_json::Value = serde_json::from_str(&metrics_line("guardduty-responder", &report)).unwrap();
        let declared = &line["_aws"]["CloudWatchMetrics"][0];
        assert_eq!(declared["Namespace"], NAMESPACE);
        assert_eq!(declared["Dimensions"][0], serde_json::json!(["Function", "Playbook"]));
        for metric in declared["Metrics"].as_array().unwrap() {
            let name = metric["Name"].as_str().unwrap();
            assert!(line[name].is_number(), "{name} has no value");
        }
        assert_eq!(line["TimeToContain"], 840);
        assert_eq!(line["Playbook"], "ec2-compromise");
    }
}
