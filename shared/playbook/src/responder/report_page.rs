//! The run's report as a person looks at it: `report.html` beside `report.json`, and the
//! run's entry in the incident index, written when the run ends.

use std::time::SystemTime;

use aws_sdk_s3::primitives::{DateTime, DateTimeFormat};

use crate::execute::Run;
use crate::ledger::index::{Entry, run_name};
use crate::names::evidence;
use crate::page::html::{Sheet, html};
use crate::report::Report;
use crate::timeline::Timeline;

/// Renders and writes the run's `report.html` (its object joins the report's, so
/// `report.json` keeps its SHA-256) and indexes the run. Neither decides anything: a
/// failure is logged, and the run's outcome stands.
pub(super) async fn keep(run: &Run<'_>, report: &mut Report) {
    let page = crate::page::compose(
        run.incident,
        run.plan,
        &report.steps,
        &run.ledger.uri(),
        run.approved,
        &run.page,
    );
    let (timeline, times) = tokio::join!(run.ledger.read(evidence::TIMELINE), run.ledger.step_times());
    let timeline: Option<Timeline> = timeline
        .ok()
        .flatten()
        .and_then(|bytes| serde_json::from_slice(&bytes).ok());
    let times = times.unwrap_or_else(|err| {
        tracing::warn!(error = %crate::telemetry::chain(&err), "step times not read; the chart draws steps at the plan's time");
        std::collections::BTreeMap::new()
    });
    let before = serde_json::to_value(&run.plan.observation).unwrap_or_default();
    let body = html(&Sheet {
        document: &page.document,
        report,
        before: &before,
        timeline: timeline.as_ref(),
        planned_at: &run.plan.planned_at,
        step_times: &times,
    });
    match run.ledger.put_report_page(body).await {
        Ok(object) => report.objects.push(object),
        Err(err) => tracing::warn!(error = %crate::telemetry::chain(&err), "report.html not written"),
    }
    let doc = &page.document;
    let entry = Entry {
        incident_id: run.ledger.folder().to_owned(),
        run: run_name(run.ledger.run()).to_owned(),
        time: run.plan.planned_at.clone(),
        written_at: DateTime::from(SystemTime::now())
            .fmt(DateTimeFormat::DateTime)
            .unwrap_or_default(),
        account: doc.account.id.clone(),
        region: doc.region.clone(),
        resource: doc.resource.label.clone(),
        resource_kind: doc.resource.kind.clone(),
        playbook: doc.playbook.clone(),
        finding_type: doc.finding.finding_type.clone(),
        severity: doc.finding.severity,
        verdict: doc.verdict.as_str().to_owned(),
        outcome: doc.outcome.clone(),
        report: run.ledger.key(&run.ledger.report_page_name()),
    };
    if let Err(err) = run.ledger.index_once(&entry).await {
        tracing::warn!(error = %crate::telemetry::chain(&err), "incident not indexed");
    }
}
