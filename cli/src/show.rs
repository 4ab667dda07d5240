//! What the command prints: an incident line, an incident as a person reads it, the commands
//! to type next, a function's answer, a timeline.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::PathBuf;
use std::time::SystemTime;

use playbook::ledger::index::Entry;
use playbook::page::Document;
use playbook::page::html::{Sheet, html};
use playbook::timeline::Timeline;
use serde_json::{Value, json};

use crate::error::CliError;
use crate::evidence::Recorded;
use crate::invoke::PageNames;

/// `2024-06-11T03:20:00Z  contained  111122223333 us-east-1  i-0c4f...  ec2-compromise  isolated  <id>`.
#[must_use]
pub fn line(entry: &Entry) -> String {
    format!(
        "{}  {:<9}  {:<12} {:<14} {:<28} {:<22} {}  {}",
        entry.time,
        entry.verdict,
        entry.account.as_deref().unwrap_or("-"),
        entry.region.as_deref().unwrap_or("-"),
        entry.resource,
        entry.playbook,
        entry.outcome,
        entry.incident_id
    )
}

/// The `tourniquet` commands a person types next, from the page's request and verdict.
#[must_use]
pub fn next_commands(doc: &Document, released: bool) -> Vec<String> {
    let id = &doc.incident_id;
    let mut commands = Vec::new();
    if let Some(request) = &doc.request {
        let field = |name: &str| request.payload.get(name).and_then(Value::as_str);
        match request.kind.as_str() {
            "approve" => commands.push(format!("tourniquet approve {id}")),
            "release" if !released => {
                if let Some(instance) = field("instance_id") {
                    commands.push(format!("tourniquet release {id} --instance {instance}"));
                } else if let Some(user) = field("user_name") {
                    commands.push(format!("tourniquet release {id} --user {user}"));
                } else if let Some(role) = field("role_name") {
                    commands.push(format!("tourniquet release {id} --role {role}"));
                }
            }
            _ => {}
        }
    }
    if matches!(
        doc.playbook.as_str(),
        "credential-compromise" | "ec2-compromise" | "attack-sequence"
    ) {
        commands.push(format!("tourniquet timeline {id}"));
    }
    commands.push(format!("tourniquet show {id} --open"));
    commands
}

fn released(incident: &Recorded) -> bool {
    incident.reports.iter().any(|(run, _)| *run == "release")
}

/// The incident as text.
#[must_use]
pub fn text(incident: &Recorded, names: &PageNames) -> String {
    let page = incident.page(names);
    let doc = &page.document;
    let mut out = String::new();
    let state = if released(incident) {
        "released"
    } else {
        doc.verdict.as_str()
    };
    let _ = writeln!(out, "{}  [{}]", doc.subject, state.to_uppercase());
    let _ = writeln!(out);
    let _ = writeln!(out, "Incident:  {}", doc.incident_id);
    let _ = writeln!(
        out,
        "Finding:   {} ({} {:.1})",
        doc.finding.finding_type, doc.finding.severity_label, doc.finding.severity
    );
    let _ = writeln!(out, "Summary:   {}", doc.finding.summary);
    if let Some(account) = doc.account.label() {
        let _ = writeln!(out, "Where:     {account}, {}", doc.region.as_deref().unwrap_or("-"));
    }
    let _ = writeln!(out, "Resource:  {} {}", doc.resource.kind, doc.resource.label);
    let _ = writeln!(out, "Playbook:  {}: {}", doc.playbook, doc.reason);
    let _ = writeln!(out, "Planned:   {}", incident.plan.planned_at);
    if let Some(hold) = &doc.hold {
        let _ = writeln!(out, "Held:      {hold}");
    }
    let _ = writeln!(out, "\nBefore (pre-state.json):");
    let before = serde_json::to_value(&incident.plan.observation).unwrap_or_default();
    for line in summary_lines(&before) {
        let _ = writeln!(out, "  {line}");
    }
    for (run, report) in &incident.reports {
        let _ = writeln!(out, "\nSteps ({run} run):");
        for step in &report.steps {
            let _ = writeln!(
                out,
                "  {:>2}. {} {}: {}",
                step.index + 1,
                step.action,
                step.target,
                step.outcome_text()
            );
        }
    }
    if incident.reports.is_empty() {
        let _ = writeln!(out, "\nNo run has reported yet: it may still be running.");
    }
    if let Some(timeline) = &incident.timeline {
        let _ = writeln!(out, "\nTimeline:  {}", timeline.summary.line());
        for event in timeline.telling_writes(5) {
            let _ = writeln!(out, "  {}", event.line());
        }
    }
    if !doc.snapshots.is_empty() {
        let _ = writeln!(out, "\nSnapshots: {}", doc.snapshots.join(", "));
    }
    let _ = writeln!(out, "\nEvidence:  {}", doc.evidence.uri);
    if !doc.links.is_empty() {
        let _ = writeln!(out, "\nLinks:");
        for link in &doc.links {
            let _ = writeln!(out, "  {}: {}", link.label, link.url);
        }
    }
    let _ = writeln!(out, "\nNext steps:");
    for step in &doc.next_steps {
        let _ = writeln!(out, "  - {step}");
    }
    let _ = writeln!(out, "\nNext commands:");
    for command in next_commands(doc, released(incident)) {
        let _ = writeln!(out, "  {command}");
    }
    out
}

/// A value's top-level fields, one line each, nested values as compact JSON (clipped).
fn summary_lines(value: &Value) -> Vec<String> {
    let Some(map) = value.as_object() else {
        return vec![value.to_string()];
    };
    // An observation is `{"<kind>": {...}}`: show the inner fields.
    let (kind, fields) = match map.iter().next() {
        Some((kind, Value::Object(inner))) if map.len() == 1 => (Some(kind.as_str()), inner),
        _ => (None, map),
    };
    let mut lines: Vec<String> = kind.map(|k| vec![format!("({k})")]).unwrap_or_default();
    for (name, value) in fields {
        let mut text = match value {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        if text.chars().count() > 140 {
            text = format!("{}...", text.chars().take(140).collect::<String>());
        }
        lines.push(format!("{name}: {text}"));
    }
    lines
}

/// The incident for programs: the page document, each run's report, the next commands.
#[must_use]
pub fn json(incident: &Recorded, names: &PageNames) -> Value {
    let page = incident.page(names);
    let released = released(incident);
    json!({
        "incident_id": incident.id,
        "state": if released { "released" } else { page.document.verdict.as_str() },
        "page": page.document,
        "release": incident.release_page(names).map(|p| p.document),
        "plan": incident.plan,
        "reports": incident.reports.iter().map(|(run, r)| json!({"run": run, "report": r})).collect::<Vec<_>>(),
        "timeline_summary": incident.timeline.as_ref().map(|t| &t.summary),
        "next_commands": next_commands(&page.document, released),
    })
}

/// Writes the incident's report.html (rendered here, as the responder does) and says where.
pub fn write_page(incident: &Recorded, names: &PageNames, out: Option<PathBuf>) -> Result<PathBuf, CliError> {
    let page = incident.page(names);
    let empty = playbook::Report {
        incident_id: incident.id.clone(),
        source: incident.incident.source,
        finding_id: incident.incident.finding_id.clone(),
        finding_type: incident.incident.finding_type.clone(),
        severity: incident.incident.severity,
        resource: incident.incident.resource.short_label(),
        summary: incident.incident.summary.clone(),
        playbook: incident.plan.playbook,
        dry_run: incident.plan.dry_run,
        reason: incident.plan.reason.clone(),
        evidence: incident.uri(),
        place: None,
        acted_as: None,
        steps: Vec::new(),
        objects: Vec::new(),
        ledger_errors: Vec::new(),
        contained_after_ms: None,
        interrupted: None,
    };
    let report = incident.response().map_or(&empty, |(_, r)| r);
    let before = serde_json::to_value(&incident.plan.observation).unwrap_or_default();
    let body = html(&Sheet {
        document: &page.document,
        report,
        before: &before,
        timeline: incident.timeline.as_ref(),
        planned_at: &incident.plan.planned_at,
        step_times: &BTreeMap::new(),
    });
    let dir = out.unwrap_or_else(|| std::env::temp_dir().join("tourniquet").join(&incident.id));
    std::fs::create_dir_all(&dir).map_err(|source| CliError::Write {
        path: dir.display().to_string(),
        source,
    })?;
    let path = dir.join("report.html");
    std::fs::write(&path, body).map_err(|source| CliError::Write {
        path: path.display().to_string(),
        source,
    })?;
    Ok(path)
}

/// Opens `path` in the desktop's browser, if there is one; the path is printed either way.
pub fn open(path: &std::path::Path) {
    let opener = if cfg!(target_os = "macos") { "open" } else { "xdg-open" };
    if crate::interactive() {
        let _ = std::process::Command::new(opener)
            .arg(path)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn();
    }
}

/// A timeline as text.
#[must_use]
pub fn timeline_text(timeline: &Timeline) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{} ({} to {})",
        timeline.summary.line(),
        timeline.start,
        timeline.end
    );
    for event in &timeline.events {
        let _ = writeln!(out, "  {}{}", if event.read_only { "  " } else { "W " }, event.line());
    }
    if let Some(cut) = &timeline.cut {
        let _ = writeln!(out, "Cut: {cut}");
    }
    let _ = writeln!(out, "{}", timeline.lag);
    let _ = writeln!(out, "{}", timeline.data_events);
    out
}

/// A function's answer as text: a report's steps, or the answer as it came.
#[must_use]
pub fn answer_text(answer: &Value) -> String {
    let Some(steps) = answer.get("steps").and_then(Value::as_array) else {
        return format!("{}\n", serde_json::to_string_pretty(answer).unwrap_or_default());
    };
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{} {}: {}",
        answer.get("incident_id").and_then(Value::as_str).unwrap_or("-"),
        answer.get("playbook").and_then(Value::as_str).unwrap_or("-"),
        answer.get("resource").and_then(Value::as_str).unwrap_or("-"),
    );
    for step in steps {
        let text = |name: &str| step.get(name).and_then(Value::as_str).unwrap_or("");
        let _ = writeln!(out, "  {} {}: {}", text("action"), text("target"), text("outcome"));
    }
    if let Some(evidence) = answer.get("evidence").and_then(Value::as_str) {
        let _ = writeln!(out, "Evidence: {evidence}");
    }
    out
}

/// The plan a responder would make for `event` with the default policy, observed nothing:
/// the drill's dry run, sent nowhere.
pub fn drill(event: &Value) -> Result<Value, CliError> {
    let intake = playbook::intake::parse(event).map_err(|e| CliError::Usage(format!("the event is refused: {e}")))?;
    let Some(incident) = intake.incident() else {
        return Ok(json!({"incident": null, "note": "not an incident: a request or an ignored event"}));
    };
    let settings = playbook::Settings::from_lookup(|var| match var {
        "TOURNIQUET_TOPIC_ARN" => Some("arn:aws:sns:us-east-1:000000000000:drill".to_owned()),
        "TOURNIQUET_EVIDENCE_BUCKET" => Some("drill".to_owned()),
        _ => None,
    })
    .map_err(|e| CliError::Usage(e.to_string()))?;
    let policy = playbook::Policy::new(&settings).map_err(|e| CliError::Usage(e.to_string()))?;
    let target = playbook::target::target(&incident, &policy);
    let plan = playbook::plan::plan(
        &incident,
        &target,
        &playbook::Observation::NotNeeded,
        &policy,
        SystemTime::now(),
    );
    Ok(json!({
        "incident_id": incident.id,
        "finding_type": incident.finding_type,
        "resource": incident.resource.short_label(),
        "playbook": plan.playbook,
        "reason": plan.reason,
        "steps": plan.steps.iter().map(|s| &s.step).collect::<Vec<_>>(),
    }))
}
