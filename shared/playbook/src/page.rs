//! The page a person on call receives: one document, written once per channel.
//!
//! [`compose`] turns the incident, its plan and the steps into a [`Document`] (the versioned
//! JSON of `docs/PAGE.md`), and renders it as the email text, the JSON for programs (or an
//! AWS Chatbot custom notification) and the message attributes subscription filter policies
//! read. One SNS publish carries them all (`MessageStructure: json`), within SNS's limits.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::actions::iam;
use crate::incident::{Attacker, Incident, Resource, Source, UserType};
use crate::links::{Console, Link};
use crate::names;
use crate::plan::{Plan, Step};
use crate::policy::Playbook;
use crate::report::{Outcome, StepReport};
use crate::settings::PageFormat;

/// The page document's version: a consumer checks it before reading further.
pub const SCHEMA: &str = "tourniquet.page/1";

/// SNS subjects must be ASCII, on one line, under 100 characters.
const SUBJECT_MAX: usize = 99;

/// SNS takes at most 256 KiB per publish, message attributes and subject included: the
/// structured message (every protocol's message, JSON-encoded together) stays within this,
/// leaving 8 KiB for the attributes and the subject.
pub const MESSAGE_BUDGET: usize = 256 * 1024 - 8 * 1024;

/// Chat clients show a few thousand characters well; the Chatbot description stays short.
const CHATBOT_DESCRIPTION_MAX: usize = 3_500;

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

/// One message attribute, for subscription filter policies.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attribute {
    pub name: &'static str,
    /// `String` or `Number`.
    pub data_type: &'static str,
    pub value: String,
}

/// A composed page: the document and each form it is sent in.
#[derive(Debug, Clone, PartialEq)]
pub struct Page {
    pub subject: String,
    pub document: Document,
    /// The `email` message.
    pub email: String,
    /// The `default` message (every protocol without its own: sqs, lambda, https, firehose,
    /// email-json): the document, or the Chatbot notification.
    pub json: String,
    pub attributes: Vec<Attribute>,
    /// The steps the page reports as failed (kept in its record: a retry that completes them
    /// sends one update).
    pub failed: Vec<String>,
}

impl Page {
    /// The `Message` of a `MessageStructure: json` publish: a message per protocol.
    #[must_use]
    pub fn message(&self) -> String {
        json!({ "default": self.json, "email": self.email, "sms": self.subject }).to_string()
    }
}

/// Composes the page from the incident, its plan and the steps before the page.
#[must_use]
pub fn compose(
    incident: &Incident,
    plan: &Plan,
    steps: &[StepReport],
    evidence: &str,
    approved: bool,
    context: &Context,
) -> Page {
    compose_follow_up(incident, plan, steps, evidence, approved, &[], context)
}

/// The update to a page that reported `earlier_failed`, now that a retry has completed every
/// step: the same page, saying so first. With nothing failed earlier, the page itself.
#[must_use]
pub fn compose_follow_up(
    incident: &Incident,
    plan: &Plan,
    steps: &[StepReport],
    evidence: &str,
    approved: bool,
    earlier_failed: &[String],
    context: &Context,
) -> Page {
    let full = document(incident, plan, steps, evidence, approved, earlier_failed, context);
    // Shorten only when the whole message would not fit, each time from the full document.
    let mut page = render(full.clone(), context.format);
    for (steps, characters) in [(200, 4_000), (50, 1_000), (10, 300)] {
        if page.message().len() <= MESSAGE_BUDGET {
            break;
        }
        page = render(shorten(&full, steps, characters), context.format);
    }
    page
}

fn render(document: Document, format: PageFormat) -> Page {
    let email = email_text(&document);
    let json = match format {
        PageFormat::Tourniquet => serde_json::to_string(&document).unwrap_or_default(),
        PageFormat::Chatbot => chatbot(&document).to_string(),
    };
    Page {
        subject: document.subject.clone(),
        attributes: attributes(&document),
        failed: document.failed.clone(),
        email,
        json,
        document,
    }
}

// One field a line: the document is long because it says everything, not because it decides much.
#[allow(clippy::too_many_lines)]
fn document(
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
    document.details.extend(crate::execute::timeline::page_lines(steps));
    document.request = request(incident, plan, &document, context);
    document.links = links(incident, &document, context);
    document.next_steps = next_steps(incident, plan, &document);
    document
}

/// The id a person searches for.
fn resource_id(resource: &Resource) -> String {
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
    }
}

/// The snapshot ids the snapshot step reported.
fn snapshots(steps: &[StepReport]) -> Vec<String> {
    steps
        .iter()
        .filter(|s| s.action == "snapshot-volumes")
        .flat_map(|s| s.detail["snapshots"].as_array().cloned().unwrap_or_default())
        .filter_map(|s| s["snapshot_id"].as_str().map(ToOwned::to_owned))
        .collect()
}

/// `aws lambda invoke` of `function` with a payload of `pairs`, in `region`: the spaced form
/// a person types (`{"approve": "<id>"}`), keys in the order given.
fn invoke(function: &str, region: Option<&str>, pairs: &[(&str, &str)], out: &str) -> String {
    let pairs: Vec<String> = pairs
        .iter()
        .map(|(k, v)| format!("{}: {}", json!(k), json!(v)))
        .collect();
    let region = region.map(|r| format!(" --region {r}")).unwrap_or_default();
    format!(
        "aws lambda invoke{region} --function-name {function} --cli-binary-format raw-in-base64-out --payload '{{{}}}' {out}",
        pairs.join(", ")
    )
}

fn request(incident: &Incident, plan: &Plan, document: &Document, context: &Context) -> Option<Request> {
    let region = context.home_region.as_deref().or(incident.region.as_deref());
    match document.verdict {
        Verdict::Held => {
            let function = context
                .function
                .clone()
                .unwrap_or_else(|| incident.source.function().to_owned());
            Some(Request {
                kind: "approve".to_owned(),
                command: invoke(&function, region, &[("approve", &incident.id)], "approve.json"),
                function,
                payload: json!({ "approve": incident.id }),
            })
        }
        Verdict::Contained | Verdict::Failed if !plan.dry_run => {
            let subject = plan.steps.iter().find_map(|s| match &s.step {
                Step::IsolateInterfaces { instance_id, .. } => Some(("instance_id", instance_id.as_str())),
                Step::DenyAllUser { user_name, .. } => Some(("user_name", user_name.as_str())),
                Step::RevokeRoleSessions { role_name, .. } => Some(("role_name", role_name.as_str())),
                _ => None,
            })?;
            let function = context.release_function.clone();
            let pairs = [subject, ("incident_id", incident.id.as_str())];
            Some(Request {
                kind: "release".to_owned(),
                command: invoke(&function, region, &pairs, "release.json"),
                function,
                payload: json!({ subject.0: subject.1, "incident_id": incident.id }),
            })
        }
        _ => None,
    }
}

fn links(incident: &Incident, document: &Document, context: &Context) -> Vec<Link> {
    let mut links = Vec::new();
    if let Some(console) = incident.region.as_deref().and_then(Console::for_region) {
        match &incident.resource {
            Resource::Instance { instance_id } => links.push(console.instance(instance_id)),
            Resource::AccessKey {
                user_name: Some(name),
                user_type,
                ..
            } => match user_type {
                Some(UserType::AssumedRole) => links.push(console.role(name)),
                Some(UserType::Root) => {}
                _ => links.push(console.user(name)),
            },
            Resource::Bucket { name } => links.push(console.bucket(name)),
            Resource::SecurityGroup { group_id } => links.push(console.security_group(group_id)),
            _ => {}
        }
        match incident.source {
            Source::GuardDuty => {
                links.push(console.guardduty_finding(&incident.finding_id));
                // Security Hub knows a GuardDuty finding by its ARN.
                if let Some(arn) = &incident.finding_arn {
                    links.push(console.securityhub_finding(arn));
                }
            }
            Source::Config => links.push(console.config_rule(&incident.finding_type)),
            Source::CloudWatch => {
                if let Some(alarm) = incident.finding_type.strip_prefix("CloudWatchAlarm/") {
                    links.push(console.alarm(alarm));
                }
            }
            Source::SecurityHub => {
                if let Some(arn) = &incident.finding_arn {
                    links.push(console.securityhub_finding(arn));
                }
            }
        }
        links.extend(document.snapshots.iter().map(|s| console.snapshot(s)));
    }
    let home = context.home_region.as_deref().or(incident.region.as_deref());
    if let Some(console) = home.and_then(Console::for_region) {
        links.push(console.folder("evidence", &document.evidence.bucket, &document.evidence.prefix));
    }
    links
}

// A few lines per playbook: what a person does now, with the exact commands.
#[allow(clippy::too_many_lines)]
fn next_steps(incident: &Incident, plan: &Plan, document: &Document) -> Vec<String> {
    let region = incident.region.as_deref().unwrap_or("<region>");
    let evidence = &document.evidence.uri;
    let mut next = Vec::new();
    if !document.failed.is_empty() {
        next.push(format!(
            "Lambda retries the failed step(s) ({}); finished steps are not redone. If they keep failing \
             (see each error code), do them by hand.",
            document.failed.join(", ")
        ));
    }
    match document.verdict {
        Verdict::DryRun => next.push(
            "Nothing was changed (dry run). Check the plan above; set DryRun to false once the pages look right."
                .to_owned(),
        ),
        Verdict::Held => {
            if let Some(request) = &document.request {
                next.push(format!(
                    "To approve, invoke {} with {{\"approve\": \"{}\"}}; the held plan then runs, once: {}",
                    request.function, incident.id, request.command
                ));
            }
        }
        Verdict::PageOnly => {
            next.push("Tourniquet changed nothing: review the finding (links below) and decide.".to_owned());
        }
        Verdict::Released
            if plan
                .steps
                .iter()
                .any(|s| matches!(s.step, Step::RestoreInterfaces { .. })) =>
        {
            next.push(format!(
                "The instance has its groups, Elastic IPs, protection and credentials back; the evidence in \
                 {evidence} and the snapshots are kept."
            ));
        }
        Verdict::Released => {
            next.push(format!(
                "Tourniquet's deny policies are removed; the evidence in {evidence} is kept."
            ));
            if plan
                .steps
                .iter()
                .any(|s| matches!(s.step, Step::ReactivateAccessKey { .. }))
            {
                next.push(
                    "The deactivated keys are Active again, as the request asked. AWS advises against \
                     reactivating a leaked key: rotate it now."
                        .to_owned(),
                );
            } else {
                next.push(
                    "Deactivated keys stay inactive: AWS advises against reactivating a leaked key; create a new \
                     one and delete the old."
                        .to_owned(),
                );
            }
        }
        Verdict::Contained | Verdict::Failed => {}
    }
    let acted = matches!(document.verdict, Verdict::Contained | Verdict::Failed);
    match plan.playbook {
        Playbook::Ec2Compromise if acted => {
            let instance = document.resource.id.as_str();
            next.push(format!(
                "Take a memory image of {instance} before stopping, rebooting or releasing it: memory is lost on \
                 stop (AVML or LiME, from a forensic host you let in)."
            ));
            if !document.snapshots.is_empty() {
                next.push(format!(
                    "Snapshots {} are tagged {}={}: aws ec2 describe-snapshots --region {region} --filters \
                     Name=tag:{},Values={}",
                    document.snapshots.join(", "),
                    names::INCIDENT_TAG,
                    incident.id,
                    names::INCIDENT_TAG,
                    incident.id
                ));
                next.push(
                    "Inspect them from a forensic instance in an isolated VPC: create a volume from each snapshot \
                     in its zone, attach it there and mount it read-only; never boot from it."
                        .to_owned(),
                );
            }
            if let Some(request) = document.request.as_ref().filter(|r| r.kind == "release") {
                next.push(format!(
                    "Once the instance is cleared (or rebuilt), release the quarantine: {}",
                    request.command
                ));
            }
        }
        Playbook::CredentialCompromise if acted => {
            if let Resource::AccessKey {
                access_key_id,
                user_name,
                user_type,
                ..
            } = &incident.resource
            {
                if let Some(key) = access_key_id {
                    next.push(format!(
                        "See what the key did: aws cloudtrail lookup-events --region {region} --lookup-attributes \
                         AttributeKey=AccessKeyId,AttributeValue={key}"
                    ));
                }
                let who = user_name.as_deref().unwrap_or("the principal");
                if user_type != &Some(UserType::AssumedRole)
                    && access_key_id.as_deref().is_some_and(|k| !iam::is_temporary_key(k))
                {
                    next.push(format!(
                        "The key is Inactive, not deleted: give {who}'s workload a new key, then delete the old one."
                    ));
                }
            }
            for planned in &plan.steps {
                let (who, reach) = match &planned.step {
                    Step::DenyAllUser { user_name, reach } => (format!("User {user_name}"), reach),
                    Step::RevokeRoleSessions { role_name, reach } => (format!("Role {role_name}"), reach),
                    _ => continue,
                };
                next.push(format!(
                    "{who} carries the inline policy {}: {}.",
                    iam::policy_name(reach),
                    reach.describe()
                ));
            }
            if let Some(request) = document.request.as_ref().filter(|r| r.kind == "release") {
                next.push(format!(
                    "Once it is cleared, remove Tourniquet's deny policies: {} (keys stay inactive; add \
                     \"reactivate_keys\": true only if you must: AWS advises against reactivating a leaked key)",
                    request.command
                ));
            }
        }
        Playbook::CloseOpenPorts if acted => next.push(format!(
            "The revoked rules are in {evidence}plan.json; if one was needed, authorize it again with a narrower \
             source (aws ec2 authorize-security-group-ingress --region {region} --group-id {})",
            document.resource.id
        )),
        Playbook::BlockPublicBucket if acted => next.push(format!(
            "Bucket {} blocks public access now: find who needed it public (CloudFront with origin access \
             control serves public content without it).",
            document.resource.id
        )),
        Playbook::EncryptBucket if acted => next.push(format!(
            "New objects in {} are encrypted; objects already there keep their encryption until rewritten.",
            document.resource.id
        )),
        Playbook::DeactivateStaleKeys if acted => {
            next.push(
                "Give the user's workloads new keys; delete the deactivated ones once nothing breaks.".to_owned(),
            );
        }
        _ => {}
    }
    if plan.critical {
        next.push(format!(
            "Critical: {}. Act now; Tourniquet cannot do this for you.",
            plan.reason.trim_end_matches('.')
        ));
    }
    if let Some(runbook) = incident.details.get("runbook") {
        next.push(format!("Runbook: {runbook}"));
    }
    next.push(format!(
        "Everything Tourniquet saw and did is in {evidence} (event.json, plan.json, steps/, report.json)."
    ));
    next
}

/// A copy of `full` with at most `max_steps` steps (every failed one first), snapshots and
/// links, and no text longer than `max_chars`; it says what was left out.
fn shorten(full: &Document, max_steps: usize, max_chars: usize) -> Document {
    let mut doc = full.clone();
    let mut cut = 0usize;
    let mut clip = |text: &mut String| {
        let count = text.chars().count();
        if count > max_chars {
            cut += count - max_chars;
            let kept: String = text.chars().take(max_chars).collect();
            *text = format!("{kept}... ({} characters left out)", count - max_chars);
        }
    };
    clip(&mut doc.reason);
    clip(&mut doc.finding.summary);
    if let Some(hold) = &mut doc.hold {
        clip(hold);
    }
    for value in doc.details.values_mut() {
        clip(value);
    }
    for step in &mut doc.steps {
        clip(&mut step.target);
        clip(&mut step.text);
    }
    for line in &mut doc.next_steps {
        clip(line);
    }
    // Failed steps first, then the rest in plan order, up to the limit; shown in plan order.
    let total = doc.steps.len();
    if total > max_steps {
        let mut keep: Vec<usize> = (0..total)
            .filter(|&i| doc.steps[i].outcome == Outcome::Failed)
            .take(max_steps)
            .collect();
        for i in 0..total {
            if keep.len() >= max_steps {
                break;
            }
            if !keep.contains(&i) {
                keep.push(i);
            }
        }
        keep.sort_unstable();
        doc.steps = keep.into_iter().map(|i| doc.steps[i].clone()).collect();
    }
    let failed_total = doc.failed.len();
    doc.failed.truncate(max_steps);
    doc.snapshots.truncate(max_steps);
    // Links to the resource, the finding and the evidence come first and last: keep both ends.
    if doc.links.len() > max_steps {
        let evidence = doc.links.pop();
        doc.links.truncate(max_steps.saturating_sub(1));
        doc.links.extend(evidence);
    }
    let steps_left_out = total - doc.steps.len();
    let mut note = format!(
        "Shortened to fit SNS's 256 KiB limit: {steps_left_out} of {total} steps and {cut} characters left out"
    );
    if failed_total > doc.failed.len() {
        let _ = write!(note, " ({failed_total} steps failed in all)");
    }
    let _ = write!(note, "; everything is in {}report.json.", doc.evidence.uri);
    doc.truncated = Some(Truncated {
        steps_left_out,
        characters_left_out: cut,
        note,
    });
    doc
}

/// The message attributes subscription filter policies match on.
fn attributes(doc: &Document) -> Vec<Attribute> {
    let text = |name, value: &str| Attribute {
        name,
        data_type: "String",
        value: value.to_owned(),
    };
    vec![
        Attribute {
            name: "severity",
            data_type: "Number",
            value: format!("{:.1}", doc.finding.severity),
        },
        text("severity_label", &doc.finding.severity_label),
        text("playbook", &doc.playbook),
        text("verdict", doc.verdict.as_str()),
        text("account", doc.account.id.as_deref().unwrap_or("unknown")),
        text("source", &doc.source),
        text("incident_id", &doc.incident_id),
        text("finding_type", &doc.finding.finding_type),
        text(
            "kind",
            match doc.kind {
                Kind::Page => "page",
                Kind::Update => "update",
            },
        ),
    ]
}

/// The email: the page as text a person reads on a phone, from the document alone (so what a
/// program received can be shown as the email showed it).
#[must_use]
pub fn email_text(doc: &Document) -> String {
    let mut body = String::new();
    let mut line = |text: String| {
        body.push_str(&text);
        body.push('\n');
    };
    if doc.kind == Kind::Update {
        line(format!(
            "UPDATE: an earlier page for this incident reported failed steps ({}); a retry has now completed every step.",
            doc.earlier_failed.join(", ")
        ));
        line(String::new());
    }
    let place = match (doc.account.label(), &doc.region) {
        (Some(account), Some(region)) => format!(" in {account}, {region}"),
        (Some(account), None) => format!(" in {account}"),
        (None, Some(region)) => format!(" in {region}"),
        (None, None) => String::new(),
    };
    line(format!(
        "Tourniquet responded to a {} severity finding ({:.1}){place}: {} ({}).",
        doc.finding.severity_label,
        doc.finding.severity,
        doc.outcome,
        doc.verdict.as_str()
    ));
    if doc.dry_run {
        line("DRY RUN: nothing in the account was changed; the steps below are what would be done.".to_owned());
    }
    if let Some(reason) = &doc.hold {
        if doc.dry_run {
            line(format!(
                "Outside dry run this would be held for a person's approval: {reason}."
            ));
        } else if doc.approved {
            line(format!("Approved by a person after it was held: {reason}."));
        } else {
            line(format!("HELD: {reason}. Nothing was changed."));
        }
    }
    line(String::new());
    line(format!("Finding:  {}", doc.finding.finding_type));
    line(format!("Summary:  {}", doc.finding.summary));
    line(format!(
        "Where:    account {}, region {}",
        doc.account.label().unwrap_or_else(|| "unknown".to_owned()),
        doc.region.as_deref().unwrap_or("unknown")
    ));
    line(format!("Resource: {}", doc.resource.label));
    if let Some(attacker) = doc.attacker.as_ref().map(Attacker::describe).filter(|a| !a.is_empty()) {
        line(format!("Attacker: {attacker}"));
    }
    line(format!("Incident: {} (finding {})", doc.incident_id, doc.finding.id));
    line(format!("Playbook: {}: {}", doc.playbook, doc.reason));
    if !doc.details.is_empty() {
        line(String::new());
        line("Details:".to_owned());
        for (key, value) in &doc.details {
            line(format!("  {key}: {value}"));
        }
    }
    line(String::new());
    line("Steps:".to_owned());
    for step in &doc.steps {
        line(format!(
            "  {}. {} {}: {}",
            step.number, step.action, step.target, step.text
        ));
    }
    line(String::new());
    line(format!("Evidence: {}", doc.evidence.uri));
    if !doc.snapshots.is_empty() {
        line(format!("Snapshots: {}", doc.snapshots.join(", ")));
    }
    if !doc.next_steps.is_empty() {
        line(String::new());
        line("Next steps:".to_owned());
        for step in &doc.next_steps {
            line(format!("  - {step}"));
        }
    }
    if !doc.links.is_empty() {
        line(String::new());
        line("Links:".to_owned());
        for link in &doc.links {
            line(format!("  {}: {}", link.label, link.url));
        }
    }
    if let Some(truncated) = &doc.truncated {
        line(String::new());
        line(truncated.note.clone());
    }
    body
}

/// The document as an AWS Chatbot (Amazon Q Developer in chat applications) custom
/// notification: version 1.0, source custom, a markdown description, next steps, keywords.
#[must_use]
pub fn chatbot(doc: &Document) -> serde_json::Value {
    let mut description = String::new();
    let mut line = |text: String| {
        description.push_str(&text);
        description.push('\n');
    };
    if doc.kind == Kind::Update {
        line(format!(
            "UPDATE: a retry completed the steps an earlier page reported failed ({}).",
            doc.earlier_failed.join(", ")
        ));
    }
    line(format!("*{}* ({})", doc.outcome, doc.verdict.as_str()));
    line(format!("`{}`: {}", doc.finding.finding_type, doc.finding.summary));
    line(format!(
        "Account {}, region {}",
        doc.account.label().unwrap_or_else(|| "unknown".to_owned()),
        doc.region.as_deref().unwrap_or("unknown")
    ));
    line(format!("Resource `{}`", doc.resource.label));
    if let Some(attacker) = doc.attacker.as_ref().map(Attacker::describe).filter(|a| !a.is_empty()) {
        line(format!("Attacker: {attacker}"));
    }
    if let Some(hold) = &doc.hold {
        line(format!("Held: {hold}"));
    }
    let done = doc.steps.iter().filter(|s| s.outcome != Outcome::Failed).count();
    line(format!("Steps: {done} of {} without failure", doc.steps.len()));
    for step in doc.steps.iter().filter(|s| s.outcome == Outcome::Failed) {
        line(format!("FAILED `{}` {}: {}", step.action, step.target, step.text));
    }
    line(format!("Evidence: {}", doc.evidence.uri));
    for link in &doc.links {
        line(format!("{}: {}", link.label, link.url));
    }
    if let Some(truncated) = &doc.truncated {
        line(truncated.note.clone());
    }
    let description = clip_chars(&description, CHATBOT_DESCRIPTION_MAX);
    let mut related = vec![doc.resource.id.clone()];
    related.extend(doc.finding.arn.clone());
    json!({
        "version": "1.0",
        "source": "custom",
        "id": format!("{}-{}", doc.incident_id, match doc.kind { Kind::Page => "page", Kind::Update => "update" }),
        "content": {
            "textType": "client-markdown",
            "title": doc.subject,
            "description": description,
            "nextSteps": doc.next_steps,
            "keywords": [
                doc.finding.severity_label,
                doc.verdict.as_str(),
                doc.playbook,
                doc.account.label().unwrap_or_else(|| "unknown account".to_owned()),
                doc.source,
            ],
        },
        "metadata": {
            "threadId": doc.incident_id,
            "summary": doc.subject,
            "eventType": format!("tourniquet-{}", doc.verdict.as_str()),
            "relatedResources": related,
            "additionalContext": {
                "incident_id": doc.incident_id,
                "verdict": doc.verdict.as_str(),
                "severity": format!("{:.1}", doc.finding.severity),
                "account": doc.account.id.clone().unwrap_or_default(),
                "region": doc.region.clone().unwrap_or_default(),
            },
        },
    })
}

fn clip_chars(text: &str, max: usize) -> String {
    let count = text.chars().count();
    if count <= max {
        return text.to_owned();
    }
    let kept: String = text.chars().take(max).collect();
    format!("{kept}... ({} characters left out)", count - max)
}

/// One ASCII line within SNS's limit: the finding type is shortened first, so the resource
/// and what was done always show.
fn subject(head: &str, finding_type: &str, tail: &str) -> String {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::PlannedStep;

    fn incident() -> Incident {
        let event: serde_json::Value = serde_json::from_str(include_str!(
            "../../../events/guardduty/ec2-ssh-brute-force-web-server.json"
        ))
        .unwrap();
        crate::intake::parse(&event).unwrap().incident().unwrap()
    }

    fn plan(playbook: Playbook, steps: Vec<Step>) -> Plan {
        Plan {
            place: None,
            incident_id: incident().id,
            playbook,
            dry_run: false,
            reason: "because".into(),
            planned_at: "1970-01-01T00:00:00Z".into(),
            observation: crate::observation::Observation::NotNeeded,
            critical: false,
            hold: None,
            steps: steps
                .into_iter()
                .map(|step| PlannedStep {
                    place: None,
                    step,
                    reason: String::new(),
                })
                .collect(),
        }
    }

    fn isolation() -> Plan {
        let instance_id = "i-99999999".to_owned();
        plan(
            Playbook::Ec2Compromise,
            vec![
                Step::RecordEvidence,
                Step::IsolateInterfaces {
                    instance_id: instance_id.clone(),
                    vpcs: Vec::new(),
                },
                Step::SnapshotVolumes {
                    instance_id,
                    volume_ids: vec!["vol-1".into()],
                    tags: BTreeMap::new(),
                },
                Step::Page,
            ],
        )
    }

    fn reports(plan: &Plan, failed: &[usize]) -> Vec<StepReport> {
        plan.steps
            .iter()
            .enumerate()
            .filter(|(_, s)| !matches!(s.step, Step::Page | Step::PageUpdate))
            .map(|(i, s)| {
                let mut report = StepReport::new(i, s.step.action(), "t".into());
                if failed.contains(&i) {
                    report.outcome = Outcome::Failed;
                    report.error_code = Some("UnauthorizedOperation".into());
                }
                if s.step.action() == "snapshot-volumes" {
                    report.detail = json!({"snapshots": [{"snapshot_id": "snap-1", "volume_id": "vol-1"}]});
                }
                report
            })
            .collect()
    }

    fn context() -> Context {
        Context {
            account_alias: Some("prod-payments".into()),
            home_region: Some("us-east-1".into()),
            function: Some("tourniquet-GuardDutyResponder-1A2B".into()),
            release_function: "tourniquet-quarantine-release".into(),
            ..Context::default()
        }
    }

    const EVIDENCE: &str = "s3://evidence/incidents/guardduty-1/";

    #[test]
    fn verdicts_are_decided_in_one_order() {
        let contained = isolation();
        assert_eq!(
            Verdict::of(&contained, &reports(&contained, &[]), false),
            Verdict::Contained
        );
        assert_eq!(
            Verdict::of(&contained, &reports(&contained, &[1]), false),
            Verdict::Failed
        );
        let held = Plan {
            hold: Some("limit".into()),
            ..isolation()
        };
        assert_eq!(Verdict::of(&held, &[], false), Verdict::Held);
        assert_eq!(Verdict::of(&held, &[], true), Verdict::Contained);
        let dry = Plan {
            dry_run: true,
            ..held.clone()
        };
        assert_eq!(Verdict::of(&dry, &[], false), Verdict::DryRun);
        let only = plan(Playbook::PageOnly, vec![Step::RecordEvidence, Step::Page]);
        assert_eq!(Verdict::of(&only, &[], false), Verdict::PageOnly);
        let released = plan(Playbook::Release, vec![Step::Page]);
        assert_eq!(Verdict::of(&released, &[], false), Verdict::Released);
    }

    #[test]
    fn a_containment_page_in_every_form() {
        let plan = isolation();
        let page = compose(&incident(), &plan, &reports(&plan, &[]), EVIDENCE, false, &context());
        let account = "prod-payments (123456789012)";
        assert!(
            page.subject.starts_with(&format!("[HIGH 8.0] {account} ")),
            "{}",
            page.subject
        );
        assert!(page.subject.ends_with("i-99999999 isolated"), "{}", page.subject);
        for needle in [
            "account prod-payments (123456789012), region us-east-1",
            "Attacker: 198.51.100.23",
            "Take a memory image of i-99999999",
            "Snapshots snap-1 are tagged tourniquet:incident-id=",
            "aws lambda invoke --region us-east-1 --function-name tourniquet-quarantine-release",
            "#InstanceDetails:instanceId=i-99999999",
            "#SnapshotDetails:snapshotId=snap-1",
            "Evidence: s3://evidence/incidents/guardduty-1/",
        ] {
            assert!(page.email.contains(needle), "{needle} missing from\n{}", page.email);
        }
        // The JSON is the document, and the email text is the document's.
        let doc: Document = serde_json::from_str(&page.json).unwrap();
        assert_eq!(doc, page.document);
        assert_eq!(email_text(&doc), page.email);
        let names: Vec<&str> = page.attributes.iter().map(|a| a.name).collect();
        assert_eq!(
            names,
            [
                "severity",
                "severity_label",
                "playbook",
                "verdict",
                "account",
                "source",
                "incident_id",
                "finding_type",
                "kind"
            ]
        );
        let message: BTreeMap<String, String> = serde_json::from_str(&page.message()).unwrap();
        assert_eq!(message["default"], page.json);
        assert_eq!(message["email"], page.email);

        let chat = compose(
            &incident(),
            &plan,
            &reports(&plan, &[]),
            EVIDENCE,
            false,
            &Context {
                format: PageFormat::Chatbot,
                ..context()
            },
        );
        let json: serde_json::Value = serde_json::from_str(&chat.json).unwrap();
        assert_eq!(
            (json["version"].as_str(), json["source"].as_str()),
            (Some("1.0"), Some("custom"))
        );
        assert_eq!(json["content"]["title"], chat.subject);
        assert_eq!(chat.email, page.email, "email is the same in either format");
    }

    #[test]
    fn a_held_page_carries_the_exact_approve_command() {
        let held = Plan {
            hold: Some("5 instances are already in quarantine".into()),
            ..isolation()
        };
        let page = compose(&incident(), &held, &[], EVIDENCE, false, &context());
        let request = page.document.request.clone().unwrap();
        assert_eq!(request.kind, "approve");
        let id = incident().id;
        assert_eq!(
            request.command,
            format!(
                "aws lambda invoke --region us-east-1 --function-name tourniquet-GuardDutyResponder-1A2B \
                 --cli-binary-format raw-in-base64-out --payload '{{\"approve\": \"{id}\"}}' approve.json"
            )
        );
        assert!(page.email.contains(&request.command));
        assert_eq!(page.document.verdict, Verdict::Held);
    }

    #[test]
    fn without_an_alias_the_account_is_its_id_and_updates_say_so_first() {
        let plan = isolation();
        let context = Context {
            account_alias: None,
            ..context()
        };
        let update = compose_follow_up(
            &incident(),
            &plan,
            &reports(&plan, &[]),
            EVIDENCE,
            false,
            &["isolate-interfaces".to_owned()],
            &context,
        );
        assert!(
            update.subject.starts_with("[HIGH 8.0] 123456789012 "),
            "{}",
            update.subject
        );
        assert!(
            update.subject.ends_with("isolated, done on retry"),
            "{}",
            update.subject
        );
        assert_eq!(update.document.kind, Kind::Update);
        assert!(update.email.starts_with("UPDATE: an earlier page"), "{}", update.email);
    }

    #[test]
    fn thousands_of_steps_keep_the_failures_and_say_what_was_left_out() {
        let keys: Vec<Step> = (0..5_000)
            .map(|i| Step::DeactivateAccessKey {
                user_name: format!("user-{i}"),
                access_key_id: format!("AKIA{i:016}"),
            })
            .collect();
        let mut steps = vec![Step::RecordEvidence];
        steps.extend(keys);
        steps.push(Step::Page);
        let plan = Plan {
            reason: "stale ".repeat(20_000),
            ..plan(Playbook::DeactivateStaleKeys, steps)
        };
        let failed = [17, 2_500, 4_999];
        let page = compose(
            &incident(),
            &plan,
            &reports(&plan, &failed),
            EVIDENCE,
            false,
            &context(),
        );
        assert!(page.message().len() <= MESSAGE_BUDGET, "{}", page.message().len());
        let doc = &page.document;
        assert_eq!(doc.verdict, Verdict::Failed);
        let kept: Vec<usize> = doc
            .steps
            .iter()
            .filter(|s| s.outcome == Outcome::Failed)
            .map(|s| s.number - 1)
            .collect();
        assert_eq!(kept, failed, "every failure is kept");
        let truncated = doc.truncated.as_ref().unwrap();
        assert_eq!(truncated.steps_left_out, 5_001 - doc.steps.len());
        assert!(truncated.note.contains("report.json"), "{}", truncated.note);
        assert!(page.email.contains(&truncated.note));
        assert!(doc.links.iter().any(|l| l.rel == "evidence"));
        assert_eq!(doc.failed.len(), 3);
    }

    #[test]
    fn subjects_are_short_ascii_lines() {
        assert_eq!(
            subject("[HIGH 8.0] ", "a\nb é", ": i-1 isolated"),
            "[HIGH 8.0] a?b ?: i-1 isolated"
        );
        let long = "x".repeat(300);
        let line = subject("[HIGH 8.0] ", &long, ": AKIA123 credentials revoked");
        assert_eq!(line.len(), SUBJECT_MAX);
        assert!(line.ends_with("...: AKIA123 credentials revoked"), "{line}");
        assert_eq!(subject("", "", &long).len(), SUBJECT_MAX);
    }
}
