//! Security Hub events: each finding in `detail.findings` (ASFF or OCSF) is its own incident.
//!
//! The formats are read by `asff.rs` and `ocsf.rs` into one [`Read`]; everything after that
//! (eligibility, trust, GuardDuty's own identity, controls, resources) is decided here once.

use std::collections::BTreeMap;

use serde_json::Value;

use super::fields::{self, join, text, text_in, type_name};
use super::{Intake, IntakeError, asff, ocsf};
use crate::incident::evasion::{Evasion, Stopped};
use crate::incident::{Incident, Resource, Source, UserType};
use crate::securityhub::{CustomAction, Finding, Format};

/// A finding as either format says it, before anything is decided about it.
#[derive(Debug, Default)]
pub(super) struct Read {
    /// The identity Security Hub updates it by (ASFF `Id`, OCSF `metadata.uid`).
    pub id: String,
    /// The producer's own id for the finding (ASFF `Id`, OCSF `finding_info.uid`).
    pub finding_id: String,
    /// GuardDuty's short finding id, where the format gives it apart (OCSF `uid_alt`).
    pub short_id: Option<String>,
    pub product_arn: Option<String>,
    pub product_name: Option<String>,
    pub account: Option<String>,
    pub region: Option<String>,
    pub title: Option<String>,
    pub types: Vec<String>,
    pub severity: f64,
    /// The producer's own severity, where it differs from Security Hub's scale (GuardDuty's 0-10).
    pub product_severity: Option<f64>,
    /// `ACTIVE` or `ARCHIVED`.
    pub record_state: Option<String>,
    /// `NEW`, `NOTIFIED`, `RESOLVED` or `SUPPRESSED` (OCSF's status read as these).
    pub workflow: Option<String>,
    /// `PASSED`, `FAILED`, `WARNING`, `NOT_AVAILABLE` (OCSF's read as these).
    pub compliance: Option<String>,
    pub control: Option<String>,
    pub control_parameters: BTreeMap<String, String>,
    /// When the producer last changed the finding: a write-back leaves it as it was.
    pub updated: Option<String>,
    pub resource: Option<ResourceRead>,
}

/// The first resource of a finding.
#[derive(Debug, Default)]
pub(super) struct ResourceRead {
    /// As written: `AwsEc2Instance` (ASFF) or `AWS::EC2::Instance` (OCSF).
    pub kind: String,
    pub id: String,
    pub region: Option<String>,
    /// The type's details (ASFF `Details.<Type>`, OCSF the resource itself), for ids the `Id` lacks.
    pub details: Value,
}

impl ResourceRead {
    /// The type without separators, lower case: both formats' names compare equal.
    fn key(&self) -> String {
        self.kind
            .chars()
            .filter(char::is_ascii_alphanumeric)
            .map(|c| c.to_ascii_lowercase())
            .collect()
    }

    fn detail(&self, names: &[&str]) -> Option<String> {
        names
            .iter()
            .find_map(|name| text_in(&self.details, "", name).ok().flatten())
    }
}

/// The EventBridge envelope around the findings.
struct Envelope {
    account: Option<String>,
    region: Option<String>,
    /// The event's id: a custom action is a person's decision each time it is chosen.
    event_id: Option<String>,
    action: Option<CustomAction>,
}

/// A control, the managed rule it means, its parameters by default.
type Control = (&'static str, &'static str, &'static [(&'static str, &'static str)]);

/// Security Hub controls Tourniquet has a playbook for: the control, the Config managed rule
/// whose meaning it has (the planner reads what is forbidden from it), and the parameters the
/// control uses when the finding carries none.
#[rustfmt::skip] // a table: one control a line
const CONTROLS: &[Control] = &[
    ("EC2.2", "vpc-default-security-group-closed", &[]),
    ("EC2.13", "restricted-ssh", &[]),
    ("EC2.14", "restricted-rdp", &[]),
    ("EC2.18", "vpc-sg-open-only-to-authorized-ports", &[]),
    ("EC2.19", "restricted-high-risk-ports", &[]),
    ("S3.1", "s3-account-level-public-access-blocks", &[]),
    ("S3.2", "s3-bucket-public-read-prohibited", &[]),
    ("S3.3", "s3-bucket-public-write-prohibited", &[]),
    ("S3.8", "s3-bucket-level-public-access-prohibited", &[]),
    ("IAM.3", "access-keys-rotated", &[("maxAccessKeyAge", "90")]),
    ("IAM.22", "iam-user-unused-credentials-check", &[("maxCredentialUsageAge", "45")]),
    ("CloudTrail.1", "multi-region-cloudtrail-enabled", &[]),
    ("CloudTrail.4", "cloud-trail-log-file-validation-enabled", &[]),
    ("Config.1", "config-enabled", &[]),
];

/// The logging a control finds off: the region's trails (CloudTrail.1), one trail
/// (CloudTrail.4, its `AwsCloudTrailTrail` resource), the region's Config recorders
/// (Config.1); `None` for other controls.
fn logging_control(control: Option<&str>, resource: &Resource) -> Option<Stopped> {
    match (control?, resource) {
        ("CloudTrail.1", _) => Some(Stopped::Trails),
        (
            "CloudTrail.4",
            Resource::Other {
                resource_type,
                name: Some(trail),
            },
        ) if resource_type.eq_ignore_ascii_case("AwsCloudTrailTrail") => Some(Stopped::Trail { trail: trail.clone() }),
        ("Config.1", _) => Some(Stopped::Recorders),
        _ => None,
    }
}

/// The finding type of a control finding: `EC2.19/restricted-high-risk-ports`, routed by the
/// control id and read by the planner through the managed rule; the id alone for others.
fn control_type(control: &str) -> (String, BTreeMap<String, String>) {
    match CONTROLS.iter().find(|(id, ..)| *id == control) {
        Some((id, rule, defaults)) => (
            format!("{id}/{rule}"),
            defaults
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
        ),
        None => (control.to_owned(), BTreeMap::new()),
    }
}

/// An EventBridge event from `aws.securityhub`.
pub(super) fn from_envelope(event: &Value, detail_type: &str) -> Result<Intake, IntakeError> {
    let format = match detail_type {
        "Security Hub Findings - Imported" | "Security Hub Findings - Custom Action" => Format::Asff,
        "Findings Imported V2" => Format::Ocsf,
        other => {
            return Ok(Intake::ignored(
                Source::SecurityHub,
                format!("{other:?} carries no findings to respond to; nothing to do"),
            ));
        }
    };
    let action = if detail_type == "Security Hub Findings - Custom Action" {
        let arns: Vec<String> = match event.get("resources") {
            Some(Value::Array(items)) => items.iter().filter_map(|v| v.as_str().map(ToOwned::to_owned)).collect(),
            _ => Vec::new(),
        };
        let Some(action) = arns.iter().find_map(|arn| CustomAction::from_arn(arn)) else {
            let name = text(event, "detail.actionName").ok().flatten().unwrap_or_default();
            return Ok(Intake::ignored(
                Source::SecurityHub,
                format!(
                    "custom action {name:?} ({}) is not one of Tourniquet's ({}, {}); nothing to do",
                    arns.join(", "),
                    CustomAction::Contain.id(),
                    CustomAction::Plan.id()
                ),
            ));
        };
        Some(action)
    } else {
        None
    };
    let detail = fields::object(event, "", "detail")?.ok_or_else(|| IntakeError::Missing {
        path: "detail".to_owned(),
    })?;
    let findings = match detail.get("findings") {
        Some(Value::Array(findings)) if !findings.is_empty() => findings,
        None | Some(Value::Null | Value::Array(_)) => {
            return Err(IntakeError::Missing {
                path: "detail.findings".to_owned(),
            });
        }
        Some(other) => {
            return Err(IntakeError::WrongType {
                path: "detail.findings".to_owned(),
                expected: "an array",
                found: fields::type_name(other),
            });
        }
    };
    let envelope = Envelope {
        account: text(event, "account")?,
        region: text(event, "region")?,
        event_id: text(event, "id").ok().flatten(),
        action,
    };
    let read = findings
        .iter()
        .enumerate()
        .map(|(index, finding)| {
            let base = format!("detail.findings.{index}");
            let read = match finding {
                Value::Object(_) => match format {
                    Format::Asff => asff::read(finding, &base),
                    Format::Ocsf => ocsf::read(finding, &base),
                },
                other => Err(IntakeError::WrongType {
                    path: base.clone(),
                    expected: "an object",
                    found: fields::type_name(other),
                }),
            }?;
            Ok(incident(read, format, &envelope, one_finding(event, finding)))
        })
        .collect();
    Ok(Intake::Findings(read))
}

/// The event as it would have been with `finding` alone: what an incident keeps as its event,
/// so that reading it again (approval, release, re-read) gives that incident and no other.
fn one_finding(event: &Value, finding: &Value) -> Value {
    let mut one = event.clone();
    if let Some(detail) = one.get_mut("detail").and_then(Value::as_object_mut) {
        detail.insert("findings".to_owned(), Value::Array(vec![finding.clone()]));
    }
    one
}

/// Whether a finding is one to respond to: active, new or notified, and failed if it is a
/// control's. `Err` says why not.
fn eligible(read: &Read) -> Result<(), String> {
    let what = read.title.as_deref().unwrap_or(&read.finding_id);
    if let Some(state) = read.record_state.as_deref().filter(|s| *s != "ACTIVE") {
        return Err(format!("finding {what:?} is {state}; nothing to do"));
    }
    if let Some(status) = read.workflow.as_deref().filter(|s| !matches!(*s, "NEW" | "NOTIFIED")) {
        return Err(format!(
            "finding {what:?} has workflow status {status}: a person has taken it; nothing to do"
        ));
    }
    if let (Some(control), Some(status)) = (read.control.as_deref(), read.compliance.as_deref())
        && status != "FAILED"
    {
        return Err(format!("control {control} is {status} for {what:?}; nothing to fix"));
    }
    Ok(())
}

// One finding's every decision in order (eligibility, trust, identity, type, resource):
// split, each part would need the others' values.
#[allow(clippy::too_many_lines)]
fn incident(read: Read, format: Format, envelope: &Envelope, raw: Value) -> Intake {
    if let Err(reason) = eligible(&read) {
        return Intake::ignored(Source::SecurityHub, reason);
    }
    let trusted = trust(read.product_arn.as_deref());
    let account = read.account.clone().or_else(|| envelope.account.clone());
    let region = read
        .resource
        .as_ref()
        .and_then(|r| r.region.clone())
        .or_else(|| read.region.clone())
        .or_else(|| envelope.region.clone());
    // A person's decision is its own incident each time it is taken (the event's id): the
    // finding's automatic response may already have paged only.
    let decided = envelope
        .action
        .map(|action| format!("/{}/{}", action.id(), envelope.event_id.as_deref().unwrap_or("")));
    let guardduty = trusted.as_deref().is_ok_and(|service| service == "guardduty");
    let mut resource = resource(read.resource.as_ref());
    if !guardduty && let Some(stopped) = logging_control(read.control.as_deref(), &resource) {
        resource = Resource::Logging(Box::new(Evasion {
            stopped,
            call: None,
            stopped_at: None,
            actor: None,
        }));
    }
    let mut details = BTreeMap::new();
    if let Some(product) = read.product_name.as_deref().or(trusted.as_deref().ok()) {
        details.insert("product".to_owned(), product.to_owned());
    }
    if let Some(action) = envelope.action {
        details.insert(
            "custom action".to_owned(),
            format!("{} (chosen by a person in the Security Hub console)", action.id()),
        );
    }
    let (source, finding_type, finding_id, key, rule_parameters) = if guardduty {
        // The direct GuardDuty event's identity: both paths are one incident.
        let short = read.short_id.clone().unwrap_or_else(|| {
            read.finding_id
                .rsplit_once("/finding/")
                .map_or(read.finding_id.clone(), |(_, id)| id.to_owned())
        });
        let finding_type = read
            .types
            .iter()
            .find_map(|t| guardduty_type(t))
            .unwrap_or_else(|| "unknown".to_owned());
        let key = format!("{short}{}", decided.as_deref().unwrap_or(""));
        (Source::GuardDuty, finding_type, short, key, BTreeMap::new())
    } else {
        let (finding_type, mut parameters) = match &read.control {
            Some(control) => {
                details.insert("control".to_owned(), control.clone());
                control_type(control)
            }
            None => (
                read.types
                    .first()
                    .cloned()
                    .or_else(|| read.product_name.clone())
                    .unwrap_or_else(|| "SecurityHubFinding".to_owned()),
                BTreeMap::new(),
            ),
        };
        parameters.extend(read.control_parameters.clone());
        // The producer's finding as of its last change: a write-back changes no such time, so
        // the Imported event it causes is the same incident; a new evaluation is a new one.
        let key = format!(
            "{}\u{0}{}\u{0}{}{}",
            read.product_arn.as_deref().unwrap_or(""),
            read.finding_id,
            read.updated.as_deref().unwrap_or(""),
            decided.as_deref().unwrap_or("")
        );
        (
            Source::SecurityHub,
            finding_type,
            read.finding_id.clone(),
            key,
            parameters,
        )
    };
    let severity = if guardduty {
        read.product_severity.unwrap_or(read.severity)
    } else {
        read.severity
    };
    let label = resource.label();
    let summary = match &read.title {
        Some(title) if title.contains(&label) => title.clone(),
        Some(title) => format!("{title} ({label})"),
        None => format!("{finding_type} on {label}"),
    };
    let finding = Finding {
        format,
        id: read.id.clone(),
        product_arn: read.product_arn.clone().unwrap_or_default(),
        untrusted: trusted.err(),
        action: envelope.action,
    };
    Incident {
        id: Incident::id_for(source, account.as_deref(), region.as_deref(), &key),
        source,
        finding_id,
        finding_type,
        severity,
        account,
        region,
        resource,
        summary,
        details,
        rule_parameters,
        finding_arn: Some(read.finding_id),
        attacker: None,
        raw,
        security_hub: Some(finding),
    }
    .into()
}

/// GuardDuty's finding type from a Security Hub type: ASFF writes it as the last part of a
/// taxonomy path with its `/` as `-` or `.` (`TTPs/Initial Access/UnauthorizedAccess:EC2-SSHBruteForce`),
/// OCSF as GuardDuty does (`Stealth:IAMUser/CloudTrailLoggingDisabled`).
fn guardduty_type(text: &str) -> Option<String> {
    let parts: Vec<&str> = text.split('/').collect();
    let at = parts.iter().position(|p| p.contains(':'))?;
    let found = parts[at..].join("/");
    if parts.len() > at + 1 {
        return Some(found);
    }
    let (purpose, rest) = found.split_once(':')?;
    let split = rest.find(|c: char| !c.is_ascii_alphanumeric())?;
    let (resource, name) = rest.split_at(split);
    let name = name.get(1..).filter(|n| !n.is_empty())?;
    Some(format!("{purpose}:{resource}/{name}"))
}

/// The part of `id` after `marker` (an ARN's resource), or `id` itself when it is already bare.
fn after(id: &str, marker: &str) -> String {
    id.rsplit_once(marker).map_or(id, |(_, rest)| rest).to_owned()
}

/// The finding's first resource as Tourniquet knows resources, whichever format named it.
fn resource(read: Option<&ResourceRead>) -> Resource {
    let Some(read) = read else {
        return Resource::Other {
            resource_type: "unknown".to_owned(),
            name: None,
        };
    };
    let id = read.id.clone();
    match read.key().as_str() {
        "awsec2instance" if after(&id, "instance/").starts_with("i-") => Resource::Instance {
            instance_id: after(&id, "instance/"),
        },
        "awsec2securitygroup" if after(&id, "security-group/").starts_with("sg-") => Resource::SecurityGroup {
            group_id: after(&id, "security-group/"),
        },
        "awss3bucket" if !after(&id, ":::").is_empty() => Resource::Bucket {
            name: after(&id, ":::"),
        },
        "awsiamuser" => match read.detail(&["UserId", "data.user_id"]) {
            Some(user_id) => Resource::User { user_id },
            None => Resource::Other {
                resource_type: read.kind.clone(),
                name: Some(id),
            },
        },
        "awsiamaccesskey" => {
            let key = read
                .detail(&["AccessKeyId", "data.access_key_id"])
                .or_else(|| Some(after(&id, "AccessKey:")).filter(|k| k.starts_with('A') && !k.contains(':')));
            Resource::AccessKey {
                access_key_id: key,
                principal_id: read.detail(&["PrincipalId", "data.principal_id"]),
                user_name: read.detail(&["PrincipalName", "UserName", "data.user_name", "user.name"]),
                user_type: read
                    .detail(&["PrincipalType", "data.user_type", "user.type"])
                    .map(|t| UserType::parse(&t)),
            }
        }
        _ => Resource::Other {
            resource_type: read.kind.clone(),
            name: Some(id).filter(|n| !n.is_empty()),
        },
    }
}

/// The text entries of a list (a finding's types), none when it is absent or not a list.
pub(super) fn texts(list: Option<&Value>) -> Vec<String> {
    match list {
        Some(Value::Array(items)) => items.iter().filter_map(|t| t.as_str().map(ToOwned::to_owned)).collect(),
        _ => Vec::new(),
    }
}

/// The first of the finding's resources (the list at `key`), as `read` reads it; none when
/// the list is absent or empty, an error naming the field when it is not a list.
pub(super) fn first_resource(
    finding: &Value,
    base: &str,
    key: &str,
    read: fn(&Value, &str) -> Result<ResourceRead, IntakeError>,
) -> Result<Option<ResourceRead>, IntakeError> {
    match finding.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Array(resources)) => resources
            .first()
            .map(|first| read(first, &join(base, &format!("{key}.0"))))
            .transpose(),
        Some(other) => Err(IntakeError::WrongType {
            path: join(base, key),
            expected: "an array",
            found: type_name(other),
        }),
    }
}

/// Security Hub's severity labels on Tourniquet's 0-10 scale, at the foot of each band.
pub(super) fn label_severity(label: &str) -> Option<f64> {
    Some(match label.trim().to_ascii_uppercase().as_str() {
        "INFORMATIONAL" | "UNKNOWN" => 0.0,
        "LOW" => 1.0,
        "MEDIUM" => 4.0,
        "HIGH" => 7.0,
        "CRITICAL" => 9.0,
        "FATAL" => 10.0,
        _ => return None,
    })
}

/// The AWS service that produced a finding, from its product ARN, or why the finding is not
/// trusted. Only AWS's own products are: ASFF `arn:<partition>:securityhub:<region>::product/aws/<service>`,
/// OCSF `arn:<partition>:securityhub:<region>::productv2/aws/<service>`. A finding imported with
/// `BatchImportFindings` under an account's own product ARN (`product/<account>/default`) or a
/// partner's is not: it can never make Tourniquet act.
pub fn trust(product_arn: Option<&str>) -> Result<String, String> {
    let Some(arn) = product_arn else {
        return Err("the finding names no product ARN, so who produced it is unknown".to_owned());
    };
    let parts: Vec<&str> = arn.splitn(6, ':').collect();
    let trusted = match parts.as_slice() {
        ["arn", partition, "securityhub", region, "", resource] if !partition.is_empty() && !region.is_empty() => {
            resource
                .strip_prefix("product/aws/")
                .or_else(|| resource.strip_prefix("productv2/aws/"))
                .filter(|service| {
                    !service.is_empty()
                        && service
                            .bytes()
                            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
                })
        }
        _ => None,
    };
    trusted.map(ToOwned::to_owned).ok_or_else(|| {
        format!(
            "the finding's product {arn:?} is not an AWS service (arn:<partition>:securityhub:<region>::product/aws/<service>): \
             anyone can import such a finding, so it is not trusted to act on"
        )
    })
}

#[cfg(test)]
mod tests {
    use super::super::parse;
    use super::super::tests::{arbitrary_json, intake_and_plan, samples_in};
    use super::*;
    use crate::policy::{Playbook, Policy};
    use crate::target::{Target, target};
    use proptest::prelude::*;
    use serde_json::json;

    fn sample(name: &str) -> Value {
        samples_in("securityhub")
            .into_iter()
            .find(|(n, _)| n == name)
            .unwrap_or_else(|| panic!("no sample {name}"))
            .1
    }

    /// The answers to one event, which must be read.
    fn answers(event: &Value) -> Vec<Result<Intake, IntakeError>> {
        match parse(event).expect("the event is read") {
            Intake::Findings(findings) => findings,
            other => panic!("not findings: {other:?}"),
        }
    }

    /// The one incident of a one-finding event.
    fn incident(event: &Value) -> Incident {
        let mut answers = answers(event);
        assert_eq!(answers.len(), 1);
        match answers.remove(0) {
            Ok(Intake::Incident(incident)) => *incident,
            other => panic!("not an incident: {other:?}"),
        }
    }

    fn ignored(event: &Value) -> String {
        match answers(event).remove(0) {
            Ok(Intake::Ignored(ignored)) => ignored.ignored,
            other => panic!("not ignored: {other:?}"),
        }
    }

    fn policy() -> Policy {
        Policy::minimal()
    }

    fn first(event: &mut Value) -> &mut Value {
        &mut event["detail"]["findings"][0]
    }

    #[test]
    fn every_sample_reads() {
        let samples = samples_in("securityhub");
        assert!(samples.len() >= 6, "{}", samples.len());
        for (name, event) in &samples {
            for answer in answers(event) {
                match answer {
                    Ok(Intake::Incident(incident)) => {
                        assert!((0.0..=10.0).contains(&incident.severity), "{name}");
                        assert!(incident.security_hub.is_some(), "{name}");
                    }
                    Ok(Intake::Ignored(ignored)) => assert!(name.contains("passed"), "{name}: {}", ignored.ignored),
                    other => panic!("{name}: {other:?}"),
                }
            }
        }
    }

    /// GuardDuty's finding through Security Hub is the direct event's incident: same id,
    /// type, severity, account, region and resource, so the second path finds the first's.
    #[test]
    fn guardduty_through_security_hub_is_the_direct_events_incident() {
        let direct: Value = serde_json::from_str(include_str!(
            "../../../../events/guardduty/ec2-ssh-brute-force-web-server.json"
        ))
        .unwrap();
        let direct = parse(&direct).unwrap().incident().unwrap();
        let through = incident(&sample("guardduty-ec2-ssh-brute-force-asff.json"));
        assert_eq!(through.id, direct.id);
        assert_eq!(through.source, Source::GuardDuty);
        assert_eq!(through.finding_id, direct.finding_id);
        assert_eq!(through.finding_type, direct.finding_type);
        assert_eq!(through.resource, direct.resource);
        assert_eq!(
            (through.account.as_deref(), through.region.as_deref()),
            (Some("123456789012"), Some("us-east-1"))
        );
        assert!((through.severity - direct.severity).abs() < f64::EPSILON);
        assert_eq!(through.finding_arn, direct.finding_arn);
        let finding = through.security_hub.clone().unwrap();
        assert_eq!(
            (finding.format, finding.untrusted, finding.action),
            (Format::Asff, None, None)
        );
        assert_eq!(target(&through, &policy()).playbook(), Some(Playbook::Ec2Compromise));

        // The OCSF finding of GuardDuty is GuardDuty's too, with its own type as written.
        let ocsf = incident(&sample("ocsf-guardduty-access-key.json"));
        assert_eq!(ocsf.source, Source::GuardDuty);
        assert_eq!(
            ocsf.id,
            Incident::id_for(
                Source::GuardDuty,
                Some("123456789012"),
                Some("us-east-1"),
                "06c95f0cfdfd3b579b977e20e9da1aa4"
            )
        );
        assert_eq!(
            ocsf.finding_type,
            "UnauthorizedAccess:IAMUser/InstanceCredentialExfiltration.InsideAWS"
        );
        assert_eq!(
            ocsf.resource,
            Resource::AccessKey {
                access_key_id: Some("ASIAIOSFODNN7EXAMPLE".into()),
                principal_id: Some("AROAJQABLZS4A3QDU576Q:i-99999999".into()),
                user_name: Some("drill-app-role".into()),
                user_type: Some(UserType::AssumedRole),
            }
        );
        let finding = ocsf.security_hub.clone().unwrap();
        assert_eq!(finding.format, Format::Ocsf);
        assert_eq!(
            finding.id,
            "1d24e91799652d9e17025b61d94f436b20b515b6f3cd9bda788f48c1db9cf244"
        );
        assert_eq!(
            target(&ocsf, &policy()).playbook(),
            Some(Playbook::CredentialCompromise)
        );
    }

    /// A finding anyone imported, claiming to be GuardDuty's, pages only, says why, and is
    /// never GuardDuty's incident (it cannot take a real finding's id and stop its response).
    #[test]
    fn an_imported_finding_pages_only_and_says_it_was_not_trusted() {
        let imported = incident(&sample("third-party-imported-finding.json"));
        assert_eq!(imported.source, Source::SecurityHub);
        assert!(imported.id.starts_with("securityhub-"));
        match target(&imported, &policy()) {
            Target::PageOnly { reason, .. } => assert!(reason.contains("not trusted"), "{reason}"),
            other @ Target::Act { .. } => panic!("{other:?}"),
        }
        // Even as a person's "contain": the trust rule holds.
        let mut contain = sample("third-party-imported-finding.json");
        contain["detail-type"] = json!("Security Hub Findings - Custom Action");
        contain["resources"] = json!(["arn:aws:securityhub:us-east-1:123456789012:action/custom/TourniquetContain"]);
        let contain = incident(&contain);
        let policy = policy();
        let policy = crate::target::policy_for(&contain, &policy);
        assert!(matches!(target(&contain, &policy), Target::PageOnly { .. }));
    }

    #[test]
    fn controls_route_by_their_id_and_pages_name_the_rest() {
        let control = incident(&sample("cspm-ec2-19-high-risk-ports-failed.json"));
        assert_eq!(control.source, Source::SecurityHub);
        assert_eq!(control.finding_type, "EC2.19/restricted-high-risk-ports");
        assert_eq!(
            control.resource,
            Resource::SecurityGroup {
                group_id: "sg-0123456789abcdef0".into()
            }
        );
        assert_eq!(control.details.get("control").map(String::as_str), Some("EC2.19"));
        assert_eq!(target(&control, &policy()).playbook(), Some(Playbook::CloseOpenPorts));

        // The finding's own parameters win over the control's defaults.
        let mut stale = sample("cspm-ec2-19-high-risk-ports-failed.json");
        first(&mut stale)["Compliance"]["SecurityControlId"] = json!("IAM.22");
        first(&mut stale)["Compliance"]["SecurityControlParameters"] =
            json!([{"Name": "maxCredentialUsageAge", "Value": ["30"]}]);
        first(&mut stale)["Resources"] = json!([{"Type": "AwsIamUser", "Id": "arn:aws:iam::123456789012:user/alice",
            "Details": {"AwsIamUser": {"UserId": "AIDACKCEVSQ6C2EXAMPLE", "UserName": "alice"}}}]);
        let stale = incident(&stale);
        assert_eq!(stale.finding_type, "IAM.22/iam-user-unused-credentials-check");
        assert_eq!(
            stale.rule_parameters.get("maxCredentialUsageAge").map(String::as_str),
            Some("30")
        );
        assert_eq!(
            target(&stale, &policy()).playbook(),
            Some(Playbook::DeactivateStaleKeys)
        );

        // An Inspector finding: no playbook, a page with its title and resource.
        let inspector = incident(&sample("inspector-package-vulnerability.json"));
        assert_eq!(inspector.source, Source::SecurityHub);
        assert!(inspector.summary.contains("CVE-2023-38545") && inspector.summary.contains("i-99999999"));
        assert!(
            matches!(target(&inspector, &policy()), Target::PageOnly { reason, .. } if reason.contains("no playbook"))
        );
        // The logging controls: the region's trails, one trail, the region's recorders.
        for (control, kind, id, stopped) in [
            (
                "CloudTrail.1",
                "AwsAccount",
                "AWS::::Account:123456789012",
                Stopped::Trails,
            ),
            (
                "CloudTrail.4",
                "AwsCloudTrailTrail",
                "arn:aws:cloudtrail:us-east-1:123456789012:trail/management-events",
                Stopped::Trail {
                    trail: "arn:aws:cloudtrail:us-east-1:123456789012:trail/management-events".into(),
                },
            ),
            (
                "Config.1",
                "AwsAccount",
                "AWS::::Account:123456789012",
                Stopped::Recorders,
            ),
        ] {
            let mut off = sample("cspm-ec2-19-high-risk-ports-failed.json");
            first(&mut off)["Compliance"]["SecurityControlId"] = json!(control);
            first(&mut off)["Resources"] = json!([{"Type": kind, "Id": id}]);
            let off = incident(&off);
            assert!(
                matches!(&off.resource, Resource::Logging(evasion) if evasion.stopped == stopped),
                "{control}: {:?}",
                off.resource
            );
            assert_eq!(
                target(&off, &policy()).playbook(),
                Some(Playbook::RestoreLogging),
                "{control}"
            );
        }
        // A control without a playbook pages too.
        let mut other = sample("cspm-ec2-19-high-risk-ports-failed.json");
        first(&mut other)["Compliance"]["SecurityControlId"] = json!("EC2.8");
        assert!(matches!(target(&incident(&other), &policy()), Target::PageOnly { .. }));
    }

    /// `BatchUpdateFindings(V2)` lets any user of the account change a finding's `Types` and
    /// `Severity` (ASFF) or `severity_id` (OCSF): a low port probe raised to a critical
    /// backdoor that way is still the producer's low port probe, and pages only.
    #[test]
    fn fields_anyone_may_edit_do_not_decide_the_response() {
        let mut probe = sample("guardduty-ec2-ssh-brute-force-asff.json");
        let producers = json!({
            "Severity": {"Label": "LOW", "Original": "2"},
            "Types": ["TTPs/Discovery/Recon:EC2-PortProbeUnprotectedPort"]
        });
        first(&mut probe)["FindingProviderFields"] = producers;
        first(&mut probe)["Severity"] = json!({"Label": "LOW", "Normalized": 20, "Product": 2, "Original": "2"});
        first(&mut probe)["Types"] = json!(["TTPs/Discovery/Recon:EC2-PortProbeUnprotectedPort"]);
        let honest = incident(&probe);
        // What a user holding only securityhub:BatchUpdateFindings can make of it.
        first(&mut probe)["Severity"] = json!({"Label": "CRITICAL", "Normalized": 100, "Product": 10, "Original": "2"});
        first(&mut probe)["Types"] = json!(["TTPs/Command and Control/Backdoor:EC2-C&CActivity.B"]);
        let edited = incident(&probe);
        for incident in [&honest, &edited] {
            assert_eq!(incident.finding_type, "Recon:EC2/PortProbeUnprotectedPort");
            assert!((incident.severity - 2.0).abs() < f64::EPSILON, "{}", incident.severity);
            assert!(matches!(target(incident, &policy()), Target::PageOnly { .. }));
        }
        assert_eq!(edited.id, honest.id);

        // A control finding: the label the user raised is not the producer's.
        let mut control = sample("cspm-ec2-19-high-risk-ports-failed.json");
        first(&mut control)["FindingProviderFields"]["Severity"] = json!({"Label": "LOW", "Original": "LOW"});
        first(&mut control)["Severity"] = json!({"Label": "CRITICAL", "Normalized": 90, "Original": "LOW"});
        assert!((incident(&control).severity - 1.0).abs() < f64::EPSILON);

        // OCSF: BatchUpdateFindingsV2 changes `severity_id`; the producer's stays in
        // `vendor_attributes`, and that one counts.
        let mut ocsf = sample("ocsf-guardduty-access-key.json");
        first(&mut ocsf)["severity_id"] = json!(5);
        first(&mut ocsf)["severity"] = json!("Critical");
        first(&mut ocsf)["vendor_attributes"] = json!({"severity_id": 2, "severity": "Low"});
        assert!((incident(&ocsf).severity - 1.0).abs() < f64::EPSILON);
        first(&mut ocsf)["vendor_attributes"] = json!({"severity": "Low"});
        assert!((incident(&ocsf).severity - 1.0).abs() < f64::EPSILON);
        // Untouched (no vendor_attributes): the finding's own severity is the producer's.
        assert!((incident(&sample("ocsf-guardduty-access-key.json")).severity - 7.0).abs() < f64::EPSILON);
    }

    #[test]
    fn only_active_new_or_notified_and_failed_findings_are_incidents() {
        assert!(ignored(&sample("cspm-s3-8-passed.json")).contains("RESOLVED"));
        let cases = [
            ("/RecordState", json!("ARCHIVED"), "ARCHIVED"),
            ("/Workflow/Status", json!("SUPPRESSED"), "SUPPRESSED"),
            ("/Workflow/Status", json!("RESOLVED"), "RESOLVED"),
            ("/Compliance/Status", json!("PASSED"), "PASSED"),
            ("/Compliance/Status", json!("NOT_AVAILABLE"), "NOT_AVAILABLE"),
        ];
        for (pointer, value, why) in cases {
            let mut event = sample("cspm-ec2-19-high-risk-ports-failed.json");
            *first(&mut event).pointer_mut(pointer).unwrap() = value;
            assert!(ignored(&event).contains(why), "{pointer}");
        }
        let mut archived = sample("ocsf-guardduty-access-key.json");
        first(&mut archived)["status_id"] = json!(5);
        assert!(ignored(&archived).contains("ARCHIVED"));
    }

    /// A write-back makes Security Hub send the finding again, NOTIFIED and with a note: it is
    /// the same incident (which finds its ledger and does nothing), in either format. A new
    /// evaluation of a control (a new `UpdatedAt`) is a new incident.
    #[test]
    fn the_finding_after_a_write_back_is_the_same_incident() {
        for name in [
            "guardduty-ec2-ssh-brute-force-asff.json",
            "cspm-ec2-19-high-risk-ports-failed.json",
            "inspector-package-vulnerability.json",
        ] {
            let before = incident(&sample(name));
            let mut after = sample(name);
            first(&mut after)["Workflow"] = json!({"Status": "NOTIFIED"});
            first(&mut after)["Note"] =
                json!({"Text": "Tourniquet ...", "UpdatedBy": "tourniquet", "UpdatedAt": "2024-06-03T18:00:00Z"});
            first(&mut after)["ProcessedAt"] = json!("2024-06-03T18:00:01Z");
            after["id"] = json!("another-event");
            assert_eq!(incident(&after).id, before.id, "{name}");
        }
        let before = incident(&sample("ocsf-guardduty-access-key.json"));
        let mut after = sample("ocsf-guardduty-access-key.json");
        first(&mut after)["status_id"] = json!(2);
        first(&mut after)["status"] = json!("In Progress");
        first(&mut after)["comment"] = json!("Tourniquet ...");
        assert_eq!(incident(&after).id, before.id);

        let control = incident(&sample("cspm-ec2-19-high-risk-ports-failed.json"));
        let mut again = sample("cspm-ec2-19-high-risk-ports-failed.json");
        first(&mut again)["UpdatedAt"] = json!("2024-06-04T15:01:40.512Z");
        assert_ne!(incident(&again).id, control.id);
    }

    #[test]
    fn custom_actions_are_a_persons_decision() {
        let contain = incident(&sample("custom-action-contain.json"));
        assert_eq!(
            contain.security_hub.as_ref().unwrap().action,
            Some(CustomAction::Contain)
        );
        assert!((contain.severity - 5.0).abs() < f64::EPSILON);
        // Below the threshold the automatic path pages; the person's "contain" acts.
        let policy = policy();
        assert!(matches!(target(&contain, &policy), Target::PageOnly { .. }));
        let chosen = crate::target::policy_for(&contain, &policy);
        assert_eq!(target(&contain, &chosen).playbook(), Some(Playbook::Ec2Compromise));
        assert!(!chosen.dry_run);
        // Its own incident: the automatic path may have paged only.
        let mut automatic = sample("custom-action-contain.json");
        automatic["detail-type"] = json!("Security Hub Findings - Imported");
        assert_ne!(incident(&automatic).id, contain.id);
        assert!(incident(&automatic).security_hub.unwrap().action.is_none());

        let plan = incident(&sample("custom-action-plan.json"));
        assert_eq!(plan.security_hub.as_ref().unwrap().action, Some(CustomAction::Plan));
        assert!(crate::target::policy_for(&plan, &policy).dry_run);
        assert_ne!(plan.id, contain.id);

        let mut foreign = sample("custom-action-contain.json");
        foreign["resources"] = json!(["arn:aws:securityhub:us-east-1:123456789012:action/custom/SendToJira"]);
        let Ok(Intake::Ignored(ignored)) = parse(&foreign) else {
            panic!("another tool's custom action");
        };
        assert!(ignored.ignored.contains("SendToJira"), "{}", ignored.ignored);
    }

    #[test]
    fn plans_write_back_before_the_page() {
        let incident = incident(&sample("inspector-package-vulnerability.json"));
        let policy = policy();
        let plan = crate::plan::plan(
            &incident,
            &target(&incident, &policy),
            &crate::observation::Observation::NotNeeded,
            &policy,
            std::time::SystemTime::UNIX_EPOCH,
        );
        let actions: Vec<&str> = plan.steps.iter().map(|s| s.step.action()).collect();
        assert_eq!(actions, ["record-evidence", "update-finding", "page"]);
        assert_eq!(plan.stages(), [0..1, 1..2, 2..3]);
    }

    /// Each finding is read alone: a bad one is refused by its field, the others are answered.
    #[test]
    fn a_bad_finding_is_refused_by_its_field_and_the_others_are_read() {
        let mut event = sample("guardduty-ec2-ssh-brute-force-asff.json");
        let good = event["detail"]["findings"][0].clone();
        let findings = event["detail"]["findings"].as_array_mut().unwrap();
        for (pointer, value) in [
            ("/Id", json!(null)),
            ("/Resources", json!("i-1")),
            ("/FindingProviderFields/Severity", json!({"Label": "SEVERE"})),
            ("/FindingProviderFields/Severity", json!({"Normalized": 90})),
            ("/Resources/0", json!([])),
        ] {
            let mut bad = good.clone();
            *bad.pointer_mut(pointer).unwrap() = value;
            findings.push(bad);
        }
        findings.push(json!("not a finding"));
        let answers = answers(&event);
        assert!(matches!(answers[0], Ok(Intake::Incident(_))));
        let errors: Vec<String> = answers[1..]
            .iter()
            .map(|a| a.as_ref().unwrap_err().to_string())
            .collect();
        assert_eq!(
            errors,
            [
                "missing field `detail.findings.1.Id`",
                "field `detail.findings.2.Resources` should be an array, found a string",
                "field `detail.findings.3.FindingProviderFields.Severity.Label` has an invalid value: \"SEVERE\" is not a severity label",
                "missing field `detail.findings.4.FindingProviderFields.Severity.Label`",
                "field `detail.findings.5.Resources.0` should be an object, found an array",
                "field `detail.findings.6` should be an object, found a string",
            ]
            .map(ToOwned::to_owned)
        );
        for (event, message) in [
            (
                json!({"source": "aws.securityhub", "detail-type": "Findings Imported V2", "detail": {}}),
                "missing field `detail.findings`",
            ),
            (
                json!({"source": "aws.securityhub", "detail-type": "Findings Imported V2", "detail": {"findings": {}}}),
                "field `detail.findings` should be an array, found an object",
            ),
        ] {
            assert_eq!(parse(&event).unwrap_err().to_string(), message);
        }
        let insight = json!({"source": "aws.securityhub", "detail-type": "Security Hub Insight Results", "detail": {}});
        assert!(matches!(parse(&insight), Ok(Intake::Ignored(_))));
    }

    /// A Security Hub envelope in each format around arbitrary findings, and arbitrary
    /// fields in the samples' findings: intake and plan never panic, never act unobserved.
    fn envelope() -> impl Strategy<Value = Value> {
        let detail_type = prop_oneof![
            Just("Security Hub Findings - Imported"),
            Just("Security Hub Findings - Custom Action"),
            Just("Findings Imported V2"),
        ];
        (detail_type, prop::collection::vec(arbitrary_json(), 0..3)).prop_map(|(detail_type, findings)| {
            json!({"source": "aws.securityhub", "detail-type": detail_type,
                "resources": ["arn:aws:securityhub:us-east-1:1:action/custom/TourniquetContain"],
                "detail": {"findings": findings}})
        })
    }

    proptest! {
        #[test]
        fn arbitrary_findings_never_panic(event in envelope()) {
            intake_and_plan(&event)?;
        }

        #[test]
        fn mutated_findings_never_panic(
            sample in any::<prop::sample::Index>(),
            field in any::<prop::sample::Index>(),
            replacement in arbitrary_json(),
        ) {
            let samples = samples_in("securityhub");
            let (_, event) = sample.get(&samples);
            let mut event = event.clone();
            let finding = &mut event["detail"]["findings"][0];
            if let Value::Object(map) = finding {
                let keys: Vec<String> = map.keys().cloned().collect();
                let key = field.get(&keys).clone();
                map.insert(key, replacement);
            }
            intake_and_plan(&event)?;
        }
    }

    #[test]
    fn guardduty_types_from_either_format() {
        for (text, expected) in [
            (
                "TTPs/Initial Access/UnauthorizedAccess:EC2-SSHBruteForce",
                Some("UnauthorizedAccess:EC2/SSHBruteForce"),
            ),
            (
                "TTPs/Command and Control/Backdoor:EC2-C&CActivity.B!DNS",
                Some("Backdoor:EC2/C&CActivity.B!DNS"),
            ),
            (
                "Software and Configuration Checks/Policy:S3.BucketBlockPublicAccessDisabled",
                Some("Policy:S3/BucketBlockPublicAccessDisabled"),
            ),
            (
                "Unusual Behaviors/User/UnauthorizedAccess:IAMUser-ConsoleLogin",
                Some("UnauthorizedAccess:IAMUser/ConsoleLogin"),
            ),
            (
                "Stealth:IAMUser/CloudTrailLoggingDisabled",
                Some("Stealth:IAMUser/CloudTrailLoggingDisabled"),
            ),
            ("Effects/Data Exposure", None),
            ("x:", None),
            ("x:EC2-", None),
            ("", None),
        ] {
            assert_eq!(guardduty_type(text).as_deref(), expected, "{text}");
        }
    }

    #[test]
    fn resources_by_either_formats_type() {
        let read = |kind: &str, id: &str, details: Value| ResourceRead {
            kind: kind.into(),
            id: id.into(),
            region: None,
            details,
        };
        assert_eq!(
            resource(Some(&read(
                "AwsEc2Instance",
                "arn:aws:ec2:us-east-1:1:instance/i-1",
                Value::Null
            ))),
            Resource::Instance {
                instance_id: "i-1".into()
            }
        );
        assert_eq!(
            resource(Some(&read("AWS::EC2::Instance", "i-2", Value::Null))),
            Resource::Instance {
                instance_id: "i-2".into()
            }
        );
        assert_eq!(
            resource(Some(&read(
                "AwsEc2SecurityGroup",
                "arn:aws:ec2:us-east-1:1:security-group/sg-1",
                Value::Null
            ))),
            Resource::SecurityGroup {
                group_id: "sg-1".into()
            }
        );
        assert_eq!(
            resource(Some(&read("AwsS3Bucket", "arn:aws:s3:::logs", Value::Null))),
            Resource::Bucket { name: "logs".into() }
        );
        assert_eq!(
            resource(Some(&read(
                "AWS::IAM::AccessKey",
                "AKIAEXAMPLE",
                serde_json::json!({"data": {"user_name": "alice", "user_type": "IAMUser"}})
            ))),
            Resource::AccessKey {
                access_key_id: Some("AKIAEXAMPLE".into()),
                principal_id: None,
                user_name: Some("alice".into()),
                user_type: Some(UserType::IamUser)
            }
        );
        // Not what the type says: a page, never a guess.
        assert!(matches!(
            resource(Some(&read(
                "AwsEc2Instance",
                "arn:aws:ec2:us-east-1:1:volume/vol-1",
                Value::Null
            ))),
            Resource::Other { .. }
        ));
        assert!(matches!(resource(None), Resource::Other { .. }));
    }

    #[test]
    fn only_aws_products_are_trusted() {
        for (arn, service) in [
            ("arn:aws:securityhub:us-east-1::product/aws/guardduty", "guardduty"),
            (
                "arn:aws-cn:securityhub:cn-north-1::product/aws/securityhub",
                "securityhub",
            ),
            ("arn:aws:securityhub:eu-west-1::productv2/aws/inspector", "inspector"),
            (
                "arn:aws-us-gov:securityhub:us-gov-west-1::product/aws/access-analyzer",
                "access-analyzer",
            ),
        ] {
            assert_eq!(trust(Some(arn)), Ok(service.to_owned()), "{arn}");
        }
        for arn in [
            "arn:aws:securityhub:us-east-1:123456789012:product/123456789012/default",
            "arn:aws:securityhub:us-east-1::product/crowdstrike/crowdstrike-falcon",
            "arn:aws:securityhub:us-east-1:123456789012:product/aws/guardduty",
            "arn:aws:securityhub:us-east-1::product/aws/",
            "arn:aws:securityhub:us-east-1::product/aws/guardduty/extra",
            "arn:aws:securityhub:us-east-1::product/aws/GuardDuty",
            "arn:aws:guardduty:us-east-1::product/aws/guardduty",
            "arn::securityhub:us-east-1::product/aws/guardduty",
            "arn:aws:securityhub:::product/aws/guardduty",
            "product/aws/guardduty",
            "",
        ] {
            let refused = trust(Some(arn)).unwrap_err();
            assert!(refused.contains("not trusted"), "{arn}: {refused}");
        }
        assert!(trust(None).unwrap_err().contains("no product ARN"));
    }
}
