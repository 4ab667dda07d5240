//! The incident report a person looks at: `report.html`, one self-contained page (no external
//! assets, no script) built from the page document, the run's report, the pre-state and the
//! breach timeline, with the attacker's calls and Tourniquet's steps on one time axis.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use super::document::{Document, Verdict};
use crate::report::{Outcome, Report};
use crate::timeline::Timeline;

/// The chart's size in SVG units.
const WIDTH: f64 = 960.0;
const LEFT: f64 = 150.0;
const RIGHT: f64 = 30.0;
const TICKS: i64 = 6;

/// What a report page is built from.
#[derive(Debug, Clone, Copy)]
pub struct Sheet<'a> {
    /// The page document: verdict, resource, steps as text, next steps, links.
    pub document: &'a Document,
    /// The run's report: outcomes, request ids, evidence objects and their SHA-256.
    pub report: &'a Report,
    /// The resource before the response (the plan's observation, `pre-state.json`).
    pub before: &'a serde_json::Value,
    /// The breach timeline, when one was read.
    pub timeline: Option<&'a Timeline>,
    /// When the plan was made (RFC 3339).
    pub planned_at: &'a str,
    /// When each step was recorded (RFC 3339), by step index; a step without one is drawn at
    /// the plan's time.
    pub step_times: &'a BTreeMap<usize, String>,
}

/// The page, as HTML.
#[must_use]
pub fn html(sheet: &Sheet<'_>) -> String {
    let doc = sheet.document;
    let mut out = String::with_capacity(32 * 1024);
    let title = format!("{} - Tourniquet", doc.subject);
    let _ = write!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{}</title><style>{STYLE}</style></head><body>",
        esc(&title)
    );
    header(&mut out, doc);
    let _ = write!(out, "<section><h2>Timeline</h2>{}</section>", chart(sheet));
    if let Some(timeline) = sheet.timeline {
        timeline_summary(&mut out, timeline);
    }
    steps(&mut out, sheet);
    before_after(&mut out, sheet);
    list_section(&mut out, "Next steps", "next-steps", &doc.next_steps);
    if !doc.snapshots.is_empty() {
        list_section(&mut out, "Snapshots", "snapshots", &doc.snapshots);
    }
    links(&mut out, doc);
    evidence(&mut out, sheet);
    let _ = writeln!(
        out,
        "<footer>Tourniquet report for incident <code>{}</code>, plan made {}.</footer></body></html>",
        esc(&doc.incident_id),
        esc(sheet.planned_at)
    );
    out
}

/// Escapes text for HTML content and attribute values.
#[must_use]
pub fn esc(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out
}

fn verdict_class(verdict: Verdict) -> &'static str {
    match verdict {
        Verdict::Failed => "bad",
        Verdict::Held | Verdict::DryRun => "warn",
        Verdict::PageOnly => "info",
        Verdict::Released | Verdict::Contained => "good",
    }
}

fn header(out: &mut String, doc: &Document) {
    let _ = write!(
        out,
        "<header><p class=\"verdict {}\" id=\"verdict\">{}</p><h1>{}</h1><p class=\"outcome\">{}</p><dl>",
        verdict_class(doc.verdict),
        esc(doc.verdict.as_str()),
        esc(&doc.resource.label),
        esc(&doc.outcome)
    );
    let mut row = |name: &str, value: &str| {
        let _ = write!(out, "<dt>{}</dt><dd>{}</dd>", esc(name), esc(value));
    };
    row("Incident", &doc.incident_id);
    row(
        "Finding",
        &format!(
            "{} {} {:.1}: {}",
            doc.finding.finding_type, doc.finding.severity_label, doc.finding.severity, doc.finding.summary
        ),
    );
    if let Some(account) = doc.account.label() {
        row("Account", &account);
    }
    if let Some(region) = &doc.region {
        row("Region", region);
    }
    row("Resource", &format!("{} {}", doc.resource.kind, doc.resource.id));
    row("Playbook", &format!("{}: {}", doc.playbook, doc.reason));
    if let Some(hold) = &doc.hold {
        row("Held", hold);
    }
    if doc.dry_run {
        row("Dry run", "nothing was changed");
    }
    out.push_str("</dl></header>");
}

fn timeline_summary(out: &mut String, timeline: &Timeline) {
    let _ = write!(
        out,
        "<section id=\"breach-timeline\"><h2>What the identity did</h2><p>{}, from {} to {}.</p>",
        esc(&timeline.summary.line()),
        esc(&timeline.start),
        esc(&timeline.end)
    );
    let writes = timeline.telling_writes(10);
    if !writes.is_empty() {
        out.push_str("<ol class=\"calls\">");
        for event in writes {
            let _ = write!(out, "<li><code>{}</code></li>", esc(&event.line()));
        }
        out.push_str("</ol>");
    }
    for caveat in [
        timeline.cut.as_deref(),
        Some(&timeline.lag),
        Some(&timeline.data_events),
    ]
    .into_iter()
    .flatten()
    {
        let _ = write!(out, "<p class=\"note\">{}</p>", esc(caveat));
    }
    out.push_str("</section>");
}

fn outcome_class(outcome: Outcome) -> &'static str {
    match outcome {
        Outcome::Done | Outcome::AlreadyDone | Outcome::NotNeeded => "good",
        Outcome::DryRun | Outcome::Held => "warn",
        Outcome::Failed => "bad",
    }
}

fn steps(out: &mut String, sheet: &Sheet<'_>) {
    out.push_str(
        "<section id=\"steps\"><h2>Steps</h2><table><thead><tr><th>#</th><th>Step</th><th>Target</th>\
         <th>Outcome</th><th>Recorded</th></tr></thead><tbody>",
    );
    for step in &sheet.report.steps {
        let at = sheet.step_times.get(&step.index).map_or("", String::as_str);
        let _ = write!(
            out,
            "<tr><td>{}</td><td><code>{}</code></td><td>{}</td><td class=\"{}\">{}</td><td>{}</td></tr>",
            step.index + 1,
            esc(&step.action),
            esc(&step.target),
            outcome_class(step.outcome),
            esc(&step.outcome_text()),
            esc(at)
        );
    }
    out.push_str("</tbody></table></section>");
}

fn pretty(value: &serde_json::Value) -> String {
    serde_json::to_string_pretty(value).unwrap_or_default()
}

fn before_after(out: &mut String, sheet: &Sheet<'_>) {
    out.push_str("<section id=\"before-after\"><h2>Before and after</h2><div class=\"pair\"><div><h3>Before</h3>");
    let _ = write!(
        out,
        "<p class=\"note\">As observed before the response (pre-state.json).</p><pre>{}</pre></div>",
        esc(&pretty(sheet.before))
    );
    out.push_str("<div><h3>After</h3><p class=\"note\">What each step changed, as recorded.</p>");
    for step in &sheet.report.steps {
        let _ = write!(
            out,
            "<h4><code>{}</code> {} <span class=\"{}\">{}</span></h4>",
            esc(&step.action),
            esc(&step.target),
            outcome_class(step.outcome),
            esc(&step.outcome_text())
        );
        if !step.detail.is_null() {
            let _ = write!(out, "<pre>{}</pre>", esc(&pretty(&step.detail)));
        }
    }
    out.push_str("</div></div></section>");
}

fn list_section(out: &mut String, title: &str, id: &str, lines: &[String]) {
    let _ = write!(out, "<section id=\"{id}\"><h2>{}</h2><ul>", esc(title));
    for line in lines {
        let _ = write!(out, "<li>{}</li>", esc(line));
    }
    out.push_str("</ul></section>");
}

fn links(out: &mut String, doc: &Document) {
    if doc.links.is_empty() {
        return;
    }
    out.push_str("<section id=\"links\"><h2>Links</h2><ul>");
    for link in &doc.links {
        let _ = write!(out, "<li><a href=\"{}\">{}</a></li>", esc(&link.url), esc(&link.label));
    }
    out.push_str("</ul></section>");
}

fn evidence(out: &mut String, sheet: &Sheet<'_>) {
    let _ = write!(
        out,
        "<section id=\"evidence\"><h2>Evidence</h2><p><code>{}</code></p><table><thead><tr><th>Object</th>\
         <th>SHA-256</th></tr></thead><tbody>",
        esc(&sheet.document.evidence.uri)
    );
    for object in &sheet.report.objects {
        let _ = write!(
            out,
            "<tr><td><code>{}</code></td><td><code class=\"hash\">{}</code></td></tr>",
            esc(&object.key),
            esc(&object.sha256)
        );
    }
    out.push_str("</tbody></table></section>");
}

/// Seconds since the epoch of an RFC 3339 time (`2024-06-11T03:20:00Z`, fractions and an
/// offset allowed), or `None` if it does not read as one.
#[must_use]
pub fn epoch_seconds(time: &str) -> Option<i64> {
    let bytes = time.as_bytes();
    if bytes.len() < 19 || bytes[4] != b'-' || bytes[7] != b'-' || !matches!(bytes[10], b'T' | b't' | b' ') {
        return None;
    }
    let number = |range: std::ops::Range<usize>| time.get(range)?.parse::<i64>().ok();
    let (year, month, day) = (number(0..4)?, number(5..7)?, number(8..10)?);
    let (hour, minute, second) = (number(11..13)?, number(14..16)?, number(17..19)?);
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) || hour > 23 || minute > 59 || second > 60 {
        return None;
    }
    // The offset, after any fraction: `Z`, `+hh:mm` or `-hh:mm`.
    let rest = time[19..].trim_start_matches(|c: char| c == '.' || c.is_ascii_digit());
    let offset = match rest.as_bytes().first() {
        None | Some(b'Z' | b'z') => 0,
        Some(sign @ (b'+' | b'-')) => {
            let hours = rest.get(1..3)?.parse::<i64>().ok()?;
            let minutes = rest.get(4..6)?.parse::<i64>().ok()?;
            let seconds = hours * 3600 + minutes * 60;
            if *sign == b'+' { seconds } else { -seconds }
        }
        Some(_) => return None,
    };
    // Days from the civil date (Howard Hinnant's algorithm).
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some(days * 86_400 + hour * 3600 + minute * 60 + second - offset)
}

/// `hh:mm` (UTC) of a time in epoch seconds.
fn clock(seconds: i64) -> String {
    let of_day = seconds.rem_euclid(86_400);
    format!("{:02}:{:02}", of_day / 3600, (of_day % 3600) / 60)
}

/// A tick's label: `hh:mm`, with seconds when the axis spans under an hour (ticks minutes
/// apart would otherwise read the same).
fn tick_label(seconds: i64, span: i64) -> String {
    if span < 3600 {
        format!("{}:{:02}", clock(seconds), seconds.rem_euclid(60))
    } else {
        clock(seconds)
    }
}

/// One mark on the chart: when, which lane, its class and its hover text.
struct Mark {
    at: i64,
    lane: usize,
    class: &'static str,
    text: String,
}

/// The marks to draw: each call of the breach timeline and each step.
fn marks(sheet: &Sheet<'_>, planned: Option<i64>) -> Vec<Mark> {
    let mut marks: Vec<Mark> = Vec::new();
    if let Some(timeline) = sheet.timeline {
        for event in &timeline.events {
            let Some(at) = epoch_seconds(&event.time) else { continue };
            let class = if event.denied() {
                "denied"
            } else if event.read_only {
                "read"
            } else {
                "write"
            };
            marks.push(Mark {
                at,
                lane: 0,
                class,
                text: event.line(),
            });
        }
    }
    for step in &sheet.report.steps {
        let at = sheet
            .step_times
            .get(&step.index)
            .and_then(|t| epoch_seconds(t))
            .or(planned);
        let Some(at) = at else { continue };
        marks.push(Mark {
            at,
            lane: 1,
            class: outcome_class(step.outcome),
            text: format!("{} {}: {}", step.action, step.target, step.outcome_text()),
        });
    }
    marks
}

/// The attacker's calls (lane 0) and Tourniquet's steps (lane 1) on one time axis, as inline SVG.
#[allow(clippy::cast_precision_loss)]
fn chart(sheet: &Sheet<'_>) -> String {
    let planned = epoch_seconds(sheet.planned_at);
    let marks = marks(sheet, planned);
    let lanes = ["attacker's calls", "Tourniquet's steps"];
    let lane_y = |lane: usize| 40.0 + 50.0 * lane as f64;
    let height = 150.0;
    let mut svg = format!(
        "<svg id=\"timeline-chart\" xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 {WIDTH} {height}\" \
         role=\"img\" aria-label=\"Timeline: the attacker's calls and Tourniquet's steps\">"
    );
    for (lane, name) in lanes.iter().enumerate() {
        let y = lane_y(lane);
        let _ = write!(
            svg,
            "<text x=\"8\" y=\"{}\" class=\"lane\">{}</text><line x1=\"{LEFT}\" y1=\"{y}\" x2=\"{}\" y2=\"{y}\" class=\"lane-line\"/>",
            y + 4.0,
            esc(name),
            WIDTH - RIGHT
        );
    }
    let (Some(min), Some(max)) = (marks.iter().map(|m| m.at).min(), marks.iter().map(|m| m.at).max()) else {
        svg.push_str("<text x=\"150\" y=\"135\" class=\"axis\">no times recorded</text></svg>");
        return svg;
    };
    // A minute either side, so marks at the ends are not cut.
    let (min, max) = (min - 60, max + 60);
    let span = (max - min).max(1) as f64;
    let x = |at: i64| LEFT + (WIDTH - LEFT - RIGHT) * ((at - min) as f64 / span);
    for tick in 0..=TICKS {
        let at = min + (max - min) * tick / TICKS;
        let tx = x(at);
        let _ = write!(
            svg,
            "<line x1=\"{tx:.1}\" y1=\"20\" x2=\"{tx:.1}\" y2=\"110\" class=\"tick\"/>\
             <text x=\"{tx:.1}\" y=\"130\" class=\"axis\" text-anchor=\"middle\">{}</text>",
            tick_label(at, max - min)
        );
    }
    if let Some(planned) = planned.filter(|p| (min..=max).contains(p)) {
        let px = x(planned);
        let _ = write!(
            svg,
            "<line x1=\"{px:.1}\" y1=\"15\" x2=\"{px:.1}\" y2=\"115\" class=\"planned\"><title>plan made {}</title></line>",
            esc(sheet.planned_at)
        );
    }
    for mark in &marks {
        let (mx, my) = (x(mark.at), lane_y(mark.lane));
        let title = esc(&mark.text);
        if mark.lane == 0 {
            let _ = write!(
                svg,
                "<circle cx=\"{mx:.1}\" cy=\"{my}\" r=\"5\" class=\"call {}\"><title>{title}</title></circle>",
                mark.class
            );
        } else {
            let _ = write!(
                svg,
                "<rect x=\"{:.1}\" y=\"{}\" width=\"10\" height=\"10\" class=\"step {}\"><title>{title}</title></rect>",
                mx - 5.0,
                my - 5.0,
                mark.class
            );
        }
    }
    let _ = write!(
        svg,
        "<text x=\"{}\" y=\"146\" class=\"axis\" text-anchor=\"end\">UTC, {} calls, {} steps</text></svg>",
        WIDTH - RIGHT,
        marks.iter().filter(|m| m.lane == 0).count(),
        marks.iter().filter(|m| m.lane == 1).count()
    );
    svg
}

const STYLE: &str = "body{font:15px/1.45 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:0 auto;\
max-width:1000px;padding:24px;color:#1d2433;background:#fff}h1{margin:.2em 0;font-size:1.7em}\
h2{border-bottom:1px solid #d8dde6;padding-bottom:4px;margin-top:1.6em}h4{margin:.8em 0 .2em;font-weight:500}\
dl{display:grid;grid-template-columns:max-content 1fr;gap:2px 16px}dt{color:#5b6475}dd{margin:0}\
.verdict{display:inline-block;padding:3px 12px;border-radius:12px;font-weight:700;text-transform:uppercase;\
letter-spacing:.05em;margin:0}.outcome{font-size:1.15em;margin:.2em 0 .8em}\
.good{color:#0b6b2f}.verdict.good{background:#dcf3e4}.bad{color:#b3141b}.verdict.bad{background:#fbe0e1}\
.warn{color:#8a5a00}.verdict.warn{background:#fff0cc}.info{color:#24508f}.verdict.info{background:#e0ebfb}\
table{border-collapse:collapse;width:100%}th,td{text-align:left;padding:4px 8px;border-bottom:1px solid #eef0f4;\
vertical-align:top}pre{background:#f5f7fa;padding:8px;overflow:auto;max-height:320px;font-size:12px}\
.pair{display:grid;grid-template-columns:1fr 1fr;gap:16px}.note{color:#5b6475;font-size:.9em}\
.hash{font-size:11px;word-break:break-all}svg{width:100%;height:auto;background:#fafbfc;border:1px solid #e3e7ee}\
svg .lane{font-size:12px;fill:#1d2433}svg .axis{font-size:11px;fill:#5b6475}svg .lane-line{stroke:#c9d0db}\
svg .tick{stroke:#eef0f4}svg .planned{stroke:#24508f;stroke-dasharray:4 3}\
svg .call.write{fill:#d1495b}svg .call.read{fill:#9aa3b2}svg .call.denied{fill:#fff;stroke:#d1495b;stroke-width:2}\
svg .step.good{fill:#1f9d55}svg .step.warn{fill:#e0a100}svg .step.bad{fill:#b3141b}\
footer{margin-top:2em;color:#5b6475;font-size:.85em}";

#[cfg(test)]
mod tests {
    use super::*;
    use crate::page::{Context, compose};
    use crate::plan::{Plan, PlannedStep, Step};
    use crate::policy::Playbook;
    use crate::report::{EvidenceObject, StepReport};
    use crate::timeline::{Event, Timeline};

    fn incident() -> crate::incident::Incident {
        let event: serde_json::Value = serde_json::from_str(include_str!(
            "../../../../events/guardduty/ec2-ssh-brute-force-web-server.json"
        ))
        .unwrap();
        crate::intake::parse(&event).unwrap().incident().unwrap()
    }

    fn plan() -> Plan {
        Plan {
            place: None,
            incident_id: incident().id,
            playbook: Playbook::Ec2Compromise,
            dry_run: false,
            reason: "contain it <now>".into(),
            planned_at: "2024-06-11T03:30:00Z".into(),
            observation: crate::observation::Observation::NotNeeded,
            critical: false,
            hold: None,
            steps: [Step::RecordEvidence]
                .into_iter()
                .map(|step| PlannedStep {
                    place: None,
                    step,
                    reason: String::new(),
                })
                .collect(),
        }
    }

    fn report(steps: Vec<StepReport>) -> Report {
        let incident = incident();
        Report {
            incident_id: incident.id.clone(),
            source: incident.source,
            finding_id: "f".into(),
            finding_type: incident.finding_type.clone(),
            severity: 8.0,
            resource: "i-99999999".into(),
            summary: String::new(),
            playbook: Playbook::Ec2Compromise,
            dry_run: false,
            reason: String::new(),
            evidence: "s3://evidence/incidents/x/".into(),
            place: None,
            acted_as: None,
            steps,
            objects: vec![EvidenceObject {
                key: "incidents/x/plan.json".into(),
                sha256: "ab".repeat(32),
            }],
            ledger_errors: Vec::new(),
            contained_after_ms: None,
            interrupted: None,
        }
    }

    fn event(time: &str, name: &str, read_only: bool, error: Option<&str>) -> Event {
        Event {
            event_id: name.into(),
            time: time.into(),
            name: name.into(),
            source: "iam.amazonaws.com".into(),
            source_ip: None,
            user_agent: None,
            access_key_id: None,
            username: None,
            resources: vec!["AWS::IAM::User <backdoor>".into()],
            error_code: error.map(Into::into),
            read_only,
            request_parameters: serde_json::Value::Null,
            response_elements: serde_json::Value::Null,
        }
    }

    fn render(steps: Vec<StepReport>, timeline: Option<&Timeline>) -> String {
        let plan = plan();
        let report = report(steps);
        let page = compose(
            &incident(),
            &plan,
            &report.steps,
            "s3://evidence/incidents/x/",
            false,
            &Context::default(),
        );
        let before = serde_json::json!({"groups": ["sg-1"], "note": "<script>alert(1)</script>"});
        let times = BTreeMap::from([(0, "2024-06-11T03:31:00Z".to_owned())]);
        html(&Sheet {
            document: &page.document,
            report: &report,
            before: &before,
            timeline,
            planned_at: &plan.planned_at,
            step_times: &times,
        })
    }

    #[test]
    fn reads_rfc3339_times() {
        assert_eq!(epoch_seconds("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(epoch_seconds("2024-06-11T03:20:00Z"), Some(1_718_076_000));
        assert_eq!(epoch_seconds("2024-06-11T03:20:00.123Z"), Some(1_718_076_000));
        assert_eq!(epoch_seconds("2024-06-11T05:20:00+02:00"), Some(1_718_076_000));
        assert_eq!(epoch_seconds("2000-02-29T00:00:00Z"), Some(951_782_400));
        assert_eq!(epoch_seconds("yesterday"), None);
        assert_eq!(epoch_seconds("2024-13-11T03:20:00Z"), None);
        assert_eq!(clock(1_718_076_000), "03:20");
        assert_eq!(tick_label(1_718_076_005, 600), "03:20:05");
        assert_eq!(tick_label(1_718_076_005, 7200), "03:20");
    }

    #[test]
    fn the_page_names_the_resource_and_verdict_and_draws_both_lanes() {
        let mut done = StepReport::new(0, "record-evidence", "s3://evidence/incidents/x/".into());
        done.detail = serde_json::json!({"after": "isolated"});
        let events = vec![
            event("2024-06-11T03:25:00Z", "CreateUser", false, None),
            event("2024-06-11T03:20:00Z", "ListUsers", true, None),
            event("2024-06-11T03:21:00Z", "CreateAccessKey", false, Some("AccessDenied")),
        ];
        let timeline = Timeline::new(
            "x",
            Vec::new(),
            "2024-06-10T03:20:00Z",
            "2024-06-11T03:40:00Z",
            events,
            None,
        );
        let html = render(vec![done], Some(&timeline));
        assert!(html.starts_with("<!DOCTYPE html>"));
        assert!(html.contains("<svg id=\"timeline-chart\""), "the chart is inline");
        assert_eq!(html.matches("<circle").count(), 3, "one mark a call");
        assert_eq!(html.matches("class=\"call write\"").count(), 1);
        assert_eq!(html.matches("class=\"call denied\"").count(), 1);
        assert_eq!(html.matches("<rect").count(), 1, "one mark a step");
        assert!(html.contains("i-99999999"), "the resource");
        assert!(html.contains("id=\"verdict\">contained<"), "the verdict");
        assert!(html.contains(&"ab".repeat(32)), "evidence hashes");
        assert!(html.contains("3 call(s) (2 write(s), 1 denied) to iam"));
        assert!(
            html.contains("&quot;after&quot;: &quot;isolated&quot;"),
            "after, from the step's detail"
        );
        assert!(
            html.contains("03:20") && html.contains("03:31"),
            "ticks span calls and steps"
        );
        assert!(html.contains("id=\"next-steps\""));
    }

    #[test]
    fn is_self_contained_and_escapes_what_it_quotes() {
        let html = render(vec![StepReport::new(0, "record-evidence", "<b>".into())], None);
        assert!(!html.contains("<script"), "nothing quoted is markup");
        assert!(html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
        assert!(html.contains("contain it &lt;now&gt;"));
        for external in ["src=", "<link", "@import", "url("] {
            assert!(!html.contains(external), "no external asset: {external}");
        }
        assert!(html.contains("<rect"), "a step without a timeline still has its mark");
        assert!(!html.contains("<circle"), "no timeline, no calls");
    }

    #[test]
    fn a_page_without_any_time_says_so() {
        let mut plan_time = plan();
        plan_time.planned_at = "unknown".into();
        let report = report(Vec::new());
        let page = compose(&incident(), &plan_time, &[], "s3://e/x/", false, &Context::default());
        let html = html(&Sheet {
            document: &page.document,
            report: &report,
            before: &serde_json::Value::Null,
            timeline: None,
            planned_at: "unknown",
            step_times: &BTreeMap::new(),
        });
        assert!(html.contains("no times recorded"));
    }
}
