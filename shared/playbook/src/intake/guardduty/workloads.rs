//! GuardDuty findings beyond instances and keys: S3 buckets and their actors, container workloads.
//!
//! These findings name more than one thing (a bucket and the IAM actor that reached it, a
//! container and the instance that hosts it). Intake says which one is the resource at fault,
//! by the finding's own fields, and keeps the others as details for the page; routing then
//! works on that resource as on any other.

use std::collections::BTreeMap;

use serde_json::Value;

use super::super::IntakeError;
use super::super::fields::{at, required_text, text_in};
use super::lenient_text;
use crate::incident::{Resource, UserType};

/// The detail key that holds a bucket's effective permission (`PUBLIC`, `NOT_PUBLIC`).
pub const EFFECTIVE_PERMISSION: &str = "effective_permission";

/// The S3 findings about a bucket's own exposure (the public-access types): the bucket is the
/// resource, whoever changed it. Every other S3 finding is about what an actor did, and its
/// IAM actor, where it names one, is the resource: the bucket is the victim and stays untouched.
const EXPOSURE: &str = "Policy:S3/Bucket";

/// A finding's resource, and facts for the page (`Incident::details`).
type Read = (Resource, BTreeMap<String, String>);

/// The resource of an S3, container or database finding, and the facts the page needs about
/// the rest; `None` for other resource types (read as before).
pub(super) fn resource(
    finding: &Value,
    value: &Value,
    base: &str,
    resource_type: &str,
    finding_type: &str,
) -> Result<Option<Read>, IntakeError> {
    match resource_type {
        "S3Bucket" => bucket(value, base, finding_type).map(Some),
        "ECSCluster" | "Container" | "EKSCluster" => {
            container(finding, value, base, resource_type, finding_type).map(Some)
        }
        "RDSDBInstance" => Ok(Some(database(finding, value))),
        _ => Ok(None),
    }
}

/// An S3 finding: the bucket when the finding is about its exposure (`Policy:S3/Bucket*`) or
/// the account's block; else the IAM actor (`accessKeyDetails`) when it names one, whether or
/// not the bucket is public; else the bucket (which then pages: no playbook acts on it).
fn bucket(value: &Value, base: &str, finding_type: &str) -> Result<Read, IntakeError> {
    let mut details = BTreeMap::new();
    let name = super::first_bucket(value, base)?;
    let first = value
        .get("s3BucketDetails")
        .and_then(Value::as_array)
        .and_then(|b| b.first());
    let permission = first.and_then(|b| lenient_text(b, "publicAccess.effectivePermission"));
    if let Some(name) = &name {
        details.insert("bucket".to_owned(), name.clone());
    }
    if let Some(permission) = &permission {
        details.insert(EFFECTIVE_PERMISSION.to_owned(), permission.clone());
    }
    if finding_type == "Policy:S3/AccountBlockPublicAccessDisabled" {
        let block = first
            .and_then(|b| {
                at(
                    b,
                    "publicAccess.permissionConfiguration.accountLevelPermissions.blockPublicAccess",
                )
            })
            .map_or_else(|| "not in the finding".to_owned(), describe_block);
        details.insert("previous_account_block".to_owned(), block);
        details.insert(
            "runbook".to_owned(),
            "restore the account-level block once the change is confirmed unwanted: aws s3control \
             put-public-access-block --account-id <account> --public-access-block-configuration \
             BlockPublicAcls=true,IgnorePublicAcls=true,BlockPublicPolicy=true,RestrictPublicBuckets=true"
                .to_owned(),
        );
    }
    let about_the_bucket = finding_type.starts_with(EXPOSURE) || finding_type.starts_with("Policy:S3/Account");
    let actor = value.get("accessKeyDetails").filter(|a| a.is_object());
    if !about_the_bucket && let Some(actor) = actor {
        let base = super::super::fields::join(base, "accessKeyDetails");
        let resource = Resource::AccessKey {
            access_key_id: text_in(actor, &base, "accessKeyId")?,
            principal_id: text_in(actor, &base, "principalId")?,
            user_name: text_in(actor, &base, "userName")?,
            user_type: text_in(actor, &base, "userType")?.map(|t| UserType::parse(&t)),
        };
        return Ok((resource, details));
    }
    let resource = match name {
        Some(name) => Resource::Bucket { name },
        None => Resource::Other {
            resource_type: "S3Bucket".to_owned(),
            name: None,
        },
    };
    Ok((resource, details))
}

/// The four block settings as a person reads them.
fn describe_block(block: &Value) -> String {
    [
        "blockPublicAcls",
        "ignorePublicAcls",
        "blockPublicPolicy",
        "restrictPublicBuckets",
    ]
    .iter()
    .map(|key| {
        let value = match block.get(*key) {
            Some(Value::Bool(b)) => b.to_string(),
            _ => "unknown".to_owned(),
        };
        format!("{key}={value}")
    })
    .collect::<Vec<_>>()
    .join(", ")
}

/// A container workload finding (Runtime Monitoring, EKS audit logs): the host instance when
/// the finding names one (`instanceDetails`), for the EC2 playbook; else the workload, with a
/// runbook, for a page. Tourniquet does not act inside a cluster.
fn container(
    finding: &Value,
    value: &Value,
    base: &str,
    resource_type: &str,
    finding_type: &str,
) -> Result<Read, IntakeError> {
    let mut details = BTreeMap::new();
    let mut put = |key: &str, text: Option<String>| {
        if let Some(text) = text {
            details.insert(key.to_owned(), text);
        }
    };
    let ecs_name = lenient_text(value, "ecsClusterDetails.name");
    let kubernetes_name = lenient_text(value, "eksClusterDetails.name");
    let task = lenient_text(value, "ecsClusterDetails.taskDetails.arn");
    let launch_type = lenient_text(value, "ecsClusterDetails.taskDetails.launchType");
    let service = lenient_text(value, "ecsClusterDetails.taskDetails.group")
        .and_then(|g| g.strip_prefix("service:").map(ToOwned::to_owned));
    let workload = at(value, "kubernetesDetails.kubernetesWorkloadDetails");
    let namespace = workload.and_then(|w| lenient_text(w, "namespace"));
    let pod = workload.and_then(|w| lenient_text(w, "name"));
    let image = lenient_text(value, "containerDetails.image")
        .or_else(|| first_image(at(value, "ecsClusterDetails.taskDetails.containers")))
        .or_else(|| first_image(workload.and_then(|w| w.get("containers"))));
    let process = at(finding, "service.runtimeDetails.process").map(|p| {
        let mut text = lenient_text(p, "executablePath")
            .or_else(|| lenient_text(p, "name"))
            .unwrap_or_else(|| "unknown".to_owned());
        if let Some(sha) = lenient_text(p, "executableSha256") {
            text = format!("{text} (sha256 {sha})");
        }
        text
    });
    let cluster = ecs_name.clone().or_else(|| kubernetes_name.clone());
    put("cluster", cluster);
    put("task", task.clone());
    put("launch_type", launch_type);
    put("service", service.clone());
    put(
        "pod",
        match (&namespace, &pod) {
            (Some(ns), Some(pod)) => Some(format!("{ns}/{pod}")),
            (None, Some(pod)) => Some(pod.clone()),
            _ => None,
        },
    );
    put("image", image);
    put("process", process);
    put("container", lenient_text(value, "containerDetails.name"));
    if value.get("instanceDetails").is_some_and(|d| !d.is_null()) {
        let instance_id = required_text(value, base, "instanceDetails.instanceId")?;
        details.insert("host".to_owned(), instance_id.clone());
        return Ok((Resource::Instance { instance_id }, details));
    }
    let runbook = match (&ecs_name, &task, &kubernetes_name, &pod) {
        (Some(cluster), Some(task), _, _) => {
            let mut text = format!(
                "Tourniquet does not act inside a cluster. Keep the task for forensics, then stop it: aws ecs \
                 describe-tasks --cluster {cluster} --tasks {task}; aws ecs stop-task --cluster {cluster} --task \
                 {task} --reason \"GuardDuty {finding_type}\""
            );
            if let Some(service) = &service {
                text = format!(
                    "{text}. The service starts a fresh task from the same image: stop it from doing so first with aws \
                     ecs update-service --cluster {cluster} --service {service} --desired-count 0, and rebuild \
                     the image"
                );
            }
            text
        }
        (_, _, Some(cluster), Some(pod)) => {
            let ns = namespace.as_deref().unwrap_or("default");
            format!(
                "Tourniquet does not act inside a cluster. On cluster {cluster}: isolate the pod with a label and a \
                 deny-all network policy: kubectl -n {ns} label pod {pod} tourniquet/quarantine=true; kubectl -n \
                 {ns} apply -f a NetworkPolicy selecting tourniquet/quarantine=true with policyTypes Ingress and \
                 Egress and no rules; cordon its node: kubectl cordon $(kubectl -n {ns} get pod {pod} -o \
                 jsonpath='{{.spec.nodeName}}'); stop it once its state is kept: kubectl -n {ns} delete pod {pod}"
            )
        }
        _ => "Tourniquet does not act inside a cluster, and the finding names no host: find the workload by its \
              image and process, isolate it (a deny-all network policy, or stop the task), and rebuild its image"
            .to_owned(),
    };
    details.insert("runbook".to_owned(), runbook);
    let name = ecs_name
        .or(kubernetes_name)
        .or_else(|| lenient_text(value, "containerDetails.name"));
    Ok((
        Resource::Other {
            resource_type: resource_type.to_owned(),
            name,
        },
        details,
    ))
}

/// A database finding (RDS Protection): the instance, and who logged in from where, with the
/// runbook. Tourniquet does not isolate a database: it snapshots it and pages.
fn database(finding: &Value, value: &Value) -> Read {
    let mut details = BTreeMap::new();
    let instance = lenient_text(value, "rdsDbInstanceDetails.dbInstanceIdentifier");
    let cluster = lenient_text(value, "rdsDbInstanceDetails.dbClusterIdentifier");
    let user = lenient_text(value, "rdsDbUserDetails.user").or_else(|| {
        at(finding, "service.action.rdsLoginAttemptAction.LoginAttributes")
            .and_then(Value::as_array)
            .and_then(|a| a.first())
            .and_then(|a| lenient_text(a, "user"))
    });
    for (key, text) in [
        ("db_cluster", cluster),
        ("engine", lenient_text(value, "rdsDbInstanceDetails.engine")),
        ("login_user", user.clone()),
        ("login_application", lenient_text(value, "rdsDbUserDetails.application")),
        ("login_database", lenient_text(value, "rdsDbUserDetails.database")),
        ("login_auth_method", lenient_text(value, "rdsDbUserDetails.authMethod")),
    ] {
        if let Some(text) = text {
            details.insert(key.to_owned(), text);
        }
    }
    let user = user.as_deref().unwrap_or("<user>");
    details.insert(
        "runbook".to_owned(),
        format!(
            "Tourniquet does not isolate a database; a snapshot keeps its state. Change the password of {user} \
             (or revoke its login), end its sessions (PostgreSQL: SELECT pg_terminate_backend(pid) FROM \
             pg_stat_activity WHERE usename = '{user}'; MySQL: KILL each of its PROCESSLIST ids), review what it \
             read or changed in the database's logs, and narrow the security group to the application's sources"
        ),
    );
    (
        Resource::Other {
            resource_type: "RDSDBInstance".to_owned(),
            name: instance,
        },
        details,
    )
}

fn first_image(containers: Option<&Value>) -> Option<String> {
    containers
        .and_then(Value::as_array)
        .and_then(|c| c.first())
        .and_then(|c| lenient_text(c, "image"))
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use crate::incident::{Incident, Resource, UserType};

    fn parse(event: &Value) -> Incident {
        crate::intake::parse(event).unwrap().incident().unwrap()
    }

    fn sample(name: &str) -> Value {
        let path = format!("{}/../../events/guardduty/{name}", env!("CARGO_MANIFEST_DIR"));
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
    }

    fn s3_finding(finding_type: &str, permission: &str) -> Value {
        json!({"id": "s", "type": finding_type, "severity": 8, "resource": {
            "resourceType": "S3Bucket",
            "accessKeyDetails": {"accessKeyId": "AKIA1", "userName": "alice", "userType": "IAMUser", "principalId": "AIDA1"},
            "s3BucketDetails": [{"name": "b1", "publicAccess": {"effectivePermission": permission}}]}})
    }

    #[test]
    fn s3_findings_name_the_bucket_or_the_actor() {
        let actor = parse(&s3_finding("Exfiltration:S3/AnomalousBehavior", "NOT_PUBLIC"));
        assert_eq!(
            actor.resource,
            Resource::AccessKey {
                access_key_id: Some("AKIA1".into()),
                principal_id: Some("AIDA1".into()),
                user_name: Some("alice".into()),
                user_type: Some(UserType::IamUser)
            }
        );
        assert_eq!(actor.details["bucket"], "b1");
        // Public or not, the actor is at fault: the bucket's exposure is another finding's.
        let public = parse(&s3_finding("Exfiltration:S3/AnomalousBehavior", "PUBLIC"));
        assert_eq!(public.resource, actor.resource);
        assert_eq!(public.details[super::EFFECTIVE_PERMISSION], "PUBLIC");
        // An exposure finding is about the bucket, whoever changed it.
        let policy = parse(&s3_finding("Policy:S3/BucketBlockPublicAccessDisabled", "NOT_PUBLIC"));
        assert_eq!(policy.resource, Resource::Bucket { name: "b1".into() });
        // Any other family with an actor: the actor.
        let stealth = parse(&s3_finding("Stealth:S3/ServerAccessLoggingDisabled", "PUBLIC"));
        assert_eq!(stealth.resource, actor.resource);
        // No actor: the bucket (no playbook acts on it: a page).
        let mut anonymous = s3_finding("Stealth:S3/ServerAccessLoggingDisabled", "PUBLIC");
        anonymous["resource"]
            .as_object_mut()
            .unwrap()
            .remove("accessKeyDetails");
        assert_eq!(parse(&anonymous).resource, Resource::Bucket { name: "b1".into() });
    }

    #[test]
    fn account_block_findings_carry_the_previous_setting() {
        let mut event = s3_finding("Policy:S3/AccountBlockPublicAccessDisabled", "NOT_PUBLIC");
        event["resource"]["s3BucketDetails"][0]["publicAccess"]["permissionConfiguration"] = json!({
            "accountLevelPermissions": {"blockPublicAccess": {"blockPublicAcls": false, "ignorePublicAcls": true}}});
        let incident = parse(&event);
        assert_eq!(
            incident.details["previous_account_block"],
            "blockPublicAcls=false, ignorePublicAcls=true, blockPublicPolicy=unknown, restrictPublicBuckets=unknown"
        );
        assert!(incident.details["runbook"].contains("s3control put-public-access-block"));
    }

    #[test]
    fn containers_on_a_named_host_are_the_host() {
        let incident = parse(&sample("ecs-runtime-ec2-host-reverse-shell.json"));
        assert_eq!(
            incident.resource,
            Resource::Instance {
                instance_id: "i-99999999".into()
            }
        );
        assert_eq!(incident.details["cluster"], "drill-ecs-ec2");
        assert!(incident.details["process"].contains("sha256"), "{:?}", incident.details);
    }

    #[test]
    fn fargate_tasks_and_pods_page_with_a_runbook() {
        let fargate = parse(&sample("ecs-runtime-cryptocurrency-bitcointool.json"));
        assert!(matches!(fargate.resource, Resource::Other { .. }));
        let runbook = &fargate.details["runbook"];
        assert!(
            runbook.contains("aws ecs stop-task --cluster drill-ecs --task arn:aws:ecs:"),
            "{runbook}"
        );
        assert!(runbook.contains("--service drill-api --desired-count 0"), "{runbook}");
        assert_eq!(
            fargate.details["image"],
            "123456789012.dkr.ecr.us-east-1.amazonaws.com/drill-api:2.0.7"
        );
        assert!(fargate.details["process"].starts_with("/opt/.cache/xmrig"));

        let pod = parse(&sample("eks-exec-in-kube-system-pod.json"));
        assert_eq!(pod.details["pod"], "kube-system/aws-node-7xk2p");
        assert!(
            pod.details["runbook"].contains("kubectl cordon"),
            "{}",
            pod.details["runbook"]
        );

        let bare = parse(&sample("container-runtime-new-binary-executed.json"));
        assert!(bare.details["runbook"].contains("names no host"));
    }

    #[test]
    fn database_findings_carry_the_login_and_a_runbook() {
        let incident = parse(&sample("rds-anomalous-successful-login.json"));
        assert_eq!(
            incident.resource,
            Resource::Other {
                resource_type: "RDSDBInstance".into(),
                name: Some("drill-db-instance-1".into())
            }
        );
        assert_eq!(incident.details["login_user"], "app_admin");
        assert_eq!(incident.details["db_cluster"], "drill-db-cluster");
        assert!(incident.details["runbook"].contains("usename = 'app_admin'"));
    }

    #[test]
    fn a_host_of_the_wrong_type_is_refused_by_name() {
        let mut event = sample("ecs-runtime-ec2-host-reverse-shell.json");
        event["detail"]["resource"]["instanceDetails"]["instanceId"] = json!(["i-1"]);
        let err = crate::intake::parse(&event).unwrap_err().to_string();
        assert!(err.contains("detail.resource.instanceDetails.instanceId"), "{err}");
    }
}
