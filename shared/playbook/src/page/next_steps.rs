//! What a person does next: the exact commands (approve, release, re-read) and the console links.

use serde_json::json;

use super::document::{Context, Document, Request, Verdict};
use crate::incident::{Incident, Resource, Source, UserType};
use crate::links::{Console, Link};
use crate::names;
use crate::plan::{Plan, Step};
use crate::policy::Playbook;

/// The AWS CLI's read timeout in the commands a page gives, in seconds: Lambda's longest
/// function timeout. The CLI's own default (60 s) is shorter than a long approval takes, and
/// on it the CLI invokes the function again.
pub const CLI_READ_TIMEOUT: u32 = 900;

/// `aws lambda invoke` of `function` with a payload of `pairs`, in `region`: the spaced form
/// a person types (`{"approve": "<id>"}`), keys in the order given.
pub(super) fn invoke(function: &str, region: Option<&str>, pairs: &[(&str, &str)], out: &str) -> String {
    let pairs: Vec<String> = pairs
        .iter()
        .map(|(k, v)| format!("{}: {}", json!(k), json!(v)))
        .collect();
    let region = region.map(|r| format!(" --region {r}")).unwrap_or_default();
    format!(
        "aws lambda invoke{region} --cli-read-timeout {CLI_READ_TIMEOUT} --function-name {function} --cli-binary-format raw-in-base64-out --payload '{{{}}}' {out}",
        pairs.join(", ")
    )
}

pub(super) fn request(incident: &Incident, plan: &Plan, document: &Document, context: &Context) -> Option<Request> {
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

pub(super) fn links(incident: &Incident, document: &Document, context: &Context) -> Vec<Link> {
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
        let evidence = &document.evidence;
        links.push(console.folder("evidence", &evidence.bucket, &evidence.prefix));
        // The run's report.html, written when the run ends (the page goes out before).
        let release = document.playbook == Playbook::Release.as_str();
        let page = names::evidence::report_page(release, document.approved);
        links.push(console.object(
            "report",
            format!("Report s3://{}/{}{page}", evidence.bucket, evidence.prefix),
            &evidence.bucket,
            &format!("{}{page}", evidence.prefix),
        ));
    }
    links
}

// A few lines per playbook: what a person does now, with the exact commands.
#[allow(clippy::too_many_lines)]
pub(super) fn next_steps(incident: &Incident, plan: &Plan, document: &Document) -> Vec<String> {
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
                    && access_key_id
                        .as_deref()
                        .is_some_and(|k| !crate::plan::is_temporary_key(k))
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
                    crate::plan::policy_name(reach),
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
        "Everything Tourniquet saw and did is in {evidence} (event.json, plan.json, steps/, report.json; report.html to look at)."
    ));
    next
}
