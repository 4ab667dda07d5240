//! What a page says, once for every channel: the document of `docs/PAGE.md`, built from the incident, its plan and its steps.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::next_steps::{links, next_steps, request};
use super::{SCHEMA, SUBJECT_MAX};
use crate::incident::{Attacker, Incident, Resource};
use crate::links::Link;
use crate::plan::{Plan, Step};
use crate::policy::Playbook;
use crate::report::{Outcome, StepReport};
use crate::settings::PageFormat;

/// What the page needs beyond the incident: the deployment's choices and the account's alias.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Context {
    pub format: PageFormat,
    /// The incident account's alias (`ListAccountAliases`), when it has one and it was read.
    pub account_alias: Option<String>,
    /// The region the functions and the evidence bucket are in.
    pub home_region: Option<String>,
    /// This function's name, for the approve command (`AWS_LAMBDA_FUNCTION_NAME`).
    pub function: Option<String>,
    /// The quarantine-release function's name, for the release command.
    pub release_function: String,
}

/// What a page says happened, in one word subscription filter policies can match. Decided
/// here only ([`Verdict::of`]), in this order:
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Verdict {
    /// At least one step failed (whatever else is true): a person must look.
    Failed,
    /// Dry run of a playbook that would act: nothing was changed.
    DryRun,
    /// Containment waits for a person's approval (the blast-radius limit).
    Held,
    /// No playbook acts on this incident: the page is the whole response.
    PageOnly,
    /// A quarantine was undone (quarantine-release).
    Released,
    /// A playbook acted and every step is in place.
    Contained,
}

impl Verdict {
    /// The verdict of a plan whose steps ended as `steps`.
    #[must_use]
    pub fn of(plan: &Plan, steps: &[StepReport], approved: bool) -> Self {
        if steps.iter().any(|s| s.outcome == Outcome::Failed) {
            Verdict::Failed
        } else if plan.playbook == Playbook::PageOnly {
            Verdict::PageOnly
        } else if plan.dry_run {
            Verdict::DryRun
        } else if plan.hold.is_some() && !approved {
            Verdict::Held
        } else if plan.playbook == Playbook::Release {
            Verdict::Released
        } else {
            Verdict::Contained
        }
    }

    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Failed => "failed",
            Verdict::DryRun => "dry-run",
            Verdict::Held => "held",
            Verdict::PageOnly => "page-only",
            Verdict::Released => "released",
            Verdict::Contained => "contained",
        }
    }
}

/// A first page, or the update a retry owes when it completed what the page said failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Kind {
    Page,
    Update,
}

/// The account, by id and alias.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Account {
    pub id: Option<String>,
    pub alias: Option<String>,
}

impl Account {
    /// `prod-payments (111122223333)`, the id alone without an alias.
    #[must_use]
    pub fn label(&self) -> Option<String> {
        match (&self.alias, &self.id) {
            (Some(alias), Some(id)) => Some(format!("{alias} ({id})")),
            (None, Some(id)) => Some(id.clone()),
            (Some(alias), None) => Some(alias.clone()),
            (None, None) => None,
        }
    }
}

/// The finding behind the incident.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Finding {
    #[serde(rename = "type")]
    pub finding_type: String,
    pub id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub arn: Option<String>,
    pub summary: String,
    pub severity: f64,
    /// `LOW`, `MEDIUM`, `HIGH` or `CRITICAL` (critical also when the plan says so).
    pub severity_label: String,
}

/// The resource, as the routing table names its kind.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResourceRef {
    /// `instance`, `access-key`, `bucket`, `security-group`, `user` or `other`.
    pub kind: String,
    /// The id a person searches for (instance id, key id, bucket name, group id, user id).
    pub id: String,
    /// A longer label (`AKIA... (alice)`).
    pub label: String,
}

/// One step and how it ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StepLine {
    /// 1-based, in plan order.
    pub number: usize,
    pub action: String,
    pub target: String,
    pub outcome: Outcome,
    /// The outcome as a person reads it (`done`, `FAILED UnauthorizedOperation: ...`).
    pub text: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_code: Option<String>,
}

/// Where the evidence is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Evidence {
    /// `s3://bucket/incidents/<id>/`.
    pub uri: String,
    pub bucket: String,
    pub prefix: String,
}

impl Evidence {
    fn parse(uri: &str) -> Self {
        let rest = uri.strip_prefix("s3://").unwrap_or(uri);
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        Evidence {
            uri: uri.to_owned(),
            bucket: bucket.to_owned(),
            prefix: prefix.to_owned(),
        }
    }
}

/// A request a person sends to a function: approve a held plan, or release a quarantine.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Request {
    /// `approve` or `release`.
    pub kind: String,
    pub function: String,
    pub payload: serde_json::Value,
    /// The exact AWS CLI command.
    pub command: String,
}

/// What was left out to keep the page within SNS's limit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Truncated {
    pub steps_left_out: usize,
    pub characters_left_out: usize,
    pub note: String,
}

/// The page, as data: the `default` message of every page (`docs/PAGE.md`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Document {
    /// [`SCHEMA`].
    pub schema: String,
    pub kind: Kind,
    pub subject: String,
    pub incident_id: String,
    /// `guardduty`, `config` or `cloudwatch`.
    pub source: String,
    pub account: Account,
    pub region: Option<String>,
    pub finding: Finding,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attacker: Option<Attacker>,
    pub resource: ResourceRef,
    pub playbook: String,
    pub verdict: Verdict,
    /// What was done, in a few words (`isolated`, `credentials revoked`, `2 step(s) FAILED`).
    pub outcome: String,
    /// Why this playbook, or why only a page.
    pub reason: String,
    pub dry_run: bool,
    /// Why containment waits for a person, when it does (or would, outside dry run).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hold: Option<String>,
    /// The plan was held, and a person approved it.
    #[serde(default)]
    pub approved: bool,
    pub steps: Vec<StepLine>,
    /// The actions of the failed steps.
    pub failed: Vec<String>,
    pub evidence: Evidence,
    pub snapshots: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request: Option<Request>,
    pub next_steps: Vec<String>,
    pub links: Vec<Link>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub details: BTreeMap<String, String>,
    /// For an update: the steps the first page reported as failed, now done.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub earlier_failed: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub truncated: Option<Truncated>,
}

// One field a line: the document is long because it says everything, not because it decides much.
#[allow(clippy::too_many_lines)]
pub(super) fn document(
    incident: &Incident,
    plan: &Plan,
    steps: &[StepReport],
    evidence: &str,
    approved: bool,
    earlier_failed: &[String],
    context: &Context,
) -> Document {
    let failed: Vec<String> = steps
        .iter()
        .filter(|s| s.outcome == Outcome::Failed)
        .map(|s| s.action.clone())
        .collect();
    let verdict = Verdict::of(plan, steps, approved);
    let outcome = match verdict {
        Verdict::Failed => format!("{} step(s) FAILED", failed.len()),
        Verdict::DryRun => "dry run, nothing changed".to_owned(),
        Verdict::Held => "HELD for approval".to_owned(),
        Verdict::PageOnly if plan.critical => "ACT NOW".to_owned(),
        Verdict::PageOnly => "no action".to_owned(),
        Verdict::Released | Verdict::Contained => match plan.playbook {
            Playbook::Ec2Compromise => "isolated",
            Playbook::CredentialCompromise => "credentials revoked",
            Playbook::CloseOpenPorts => "open rules revoked",
            Playbook::BlockPublicBucket => "public access blocked",
            Playbook::EncryptBucket => "encryption on",
            Playbook::DeactivateStaleKeys => "stale keys deactivated",
            Playbook::Release if plan.steps.iter().any(|s| matches!(s.step, Step::RemoveDeny { .. })) => {
                "released: deny policies removed"
            }
            Playbook::Release => "released from quarantine",
            Playbook::PageOnly => "no action",
            Playbook::LambdaCompromise => "function throttled",
            Playbook::RdsCompromise => "database snapshot taken",
            Playbook::AttackSequence => "sequence contained",
            Playbook::RestoreAccountBlock => "account public access block restored",
            Playbook::RestoreLogging => "logging restored",
        }
        .to_owned(),
    };
    let outcome = if earlier_failed.is_empty() {
        outcome
    } else {
        format!("{outcome}, done on retry")
    };
    let label = if plan.critical {
        "CRITICAL"
    } else {
        incident.severity_label()
    };
    let account = Account {
        id: incident.account.clone(),
        alias: context.account_alias.clone(),
    };
    // An alarm's name is already in its finding type: do not say it twice.
    let resource_label = incident.resource.short_label();
    let named_already = matches!(&incident.resource, Resource::Other { name: Some(name), .. } if incident.finding_type.contains(name.as_str()));
    let tail = if named_already {
        format!(": {outcome}")
    } else {
        format!(": {resource_label} {outcome}")
    };
    let head = match account.label() {
        Some(account) => format!("[{label} {:.1}] {account} ", incident.severity),
        None => format!("[{label} {:.1}] ", incident.severity),
    };
    let evidence = Evidence::parse(evidence);
    let snapshots = snapshots(steps);
    let mut document = Document {
        schema: SCHEMA.to_owned(),
        kind: if earlier_failed.is_empty() {
            Kind::Page
        } else {
            Kind::Update
        },
        subject: subject(&head, &incident.finding_type, &tail),
        incident_id: incident.id.clone(),
        source: incident.source.as_str().to_owned(),
        account,
        region: incident.region.clone(),
        finding: Finding {
            finding_type: incident.finding_type.clone(),
            id: incident.finding_id.clone(),
            arn: incident.finding_arn.clone(),
            summary: incident.summary.clone(),
            severity: incident.severity,
            severity_label: label.to_owned(),
        },
        attacker: incident.attacker.clone(),
        resource: ResourceRef {
            kind: serde_json::to_value(incident.resource.kind())
                .ok()
                .and_then(|v| v.as_str().map(ToOwned::to_owned))
                .unwrap_or_default(),
            id: resource_id(&incident.resource),
            label: incident.resource.label(),
        },
        playbook: plan.playbook.as_str().to_owned(),
        verdict,
        outcome,
        reason: plan.reason.clone(),
        dry_run: plan.dry_run,
        hold: plan.hold.clone(),
        approved: approved && plan.hold.is_some(),
        steps: steps
            .iter()
            .map(|s| StepLine {
                number: s.index + 1,
                action: s.action.clone(),
                target: s.target.clone(),
                outcome: s.outcome,
                text: s.outcome_text(),
                error_code: s.error_code.clone(),
            })
            .collect(),
        failed,
        snapshots,
        request: None,
        next_steps: Vec::new(),
        links: Vec::new(),
        details: incident.details.clone(),
        earlier_failed: earlier_failed.to_vec(),
        evidence,
        truncated: None,
    };
    document.details.extend(timeline_lines(steps));
    document.request = request(incident, plan, &document, context);
    document.links = links(incident, &document, context);
    document.next_steps = next_steps(incident, plan, &document);
    document
}

/// The id a person searches for.
pub(super) fn resource_id(resource: &Resource) -> String {
    match resource {
        Resource::Instance { instance_id } => instance_id.clone(),
        Resource::AccessKey {
            access_key_id,
            user_name,
            ..
        } => access_key_id
            .clone()
            .or_else(|| user_name.clone())
            .unwrap_or_else(|| "unknown".to_owned()),
        Resource::Bucket { name } => name.clone(),
        Resource::SecurityGroup { group_id } => group_id.clone(),
        Resource::User { user_id } => user_id.clone(),
        Resource::Other { resource_type, name } => name.clone().unwrap_or_else(|| resource_type.clone()),
        Resource::AttackSequence(sequence) => sequence.uid.clone(),
        Resource::Logging(evasion) => match &evasion.stopped {
            crate::incident::evasion::Stopped::Trail { trail } => trail.clone(),
            crate::incident::evasion::Stopped::Trails | crate::incident::evasion::Stopped::Recorders => {
                evasion.stopped.label()
            }
        },
    }
}

/// The snapshot ids the snapshot step reported.
pub(super) fn snapshots(steps: &[StepReport]) -> Vec<String> {
    steps
        .iter()
        .filter(|s| s.action == "snapshot-volumes")
        .flat_map(|s| s.detail["snapshots"].as_array().cloned().unwrap_or_default())
        .filter_map(|s| s["snapshot_id"].as_str().map(ToOwned::to_owned))
        .collect()
}

/// One ASCII line within SNS's limit: the finding type is shortened first, so the resource
/// and what was done always show.
pub(super) fn subject(head: &str, finding_type: &str, tail: &str) -> String {
    let ascii = |text: &str| -> String {
        text.chars()
            .map(|c| if c.is_ascii() && !c.is_ascii_control() { c } else { '?' })
            .collect()
    };
    let (head, mut middle, tail) = (ascii(head), ascii(finding_type), ascii(tail));
    let room = SUBJECT_MAX.saturating_sub(head.len() + tail.len());
    if middle.len() > room {
        middle.truncate(room.saturating_sub(3));
        middle.push_str("...");
    }
    let mut line = format!("{head}{middle}{tail}");
    line.truncate(SUBJECT_MAX);
    line
}

/// What the page says of the timeline and the sweep: their `page` lines, in plan order.
pub(super) fn timeline_lines(steps: &[StepReport]) -> Vec<(String, String)> {
    steps
        .iter()
        .filter_map(|s| s.detail.get("page")?.as_object())
        .flat_map(|page| {
            page.iter()
                .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_owned())))
        })
        .collect()
}
