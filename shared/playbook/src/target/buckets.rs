//! GuardDuty's S3 findings: only an exposure finding blocks a bucket; the rest contain the actor or page.

use crate::incident::Incident;
use crate::policy::{Policy, Routing};

/// The routing table's answer, and nothing more: a bucket is blocked only for the findings
/// about its public exposure (`Policy:S3/Bucket*`, which the table routes at any severity).
/// Any other S3 finding names its IAM actor (intake), which the table contains, or the bucket,
/// which no route acts on: a page. A public bucket is not a reason of its own: an
/// exfiltration through it is the actor's doing, and the bucket may be a website.
#[must_use]
pub fn route(incident: &Incident, policy: &Policy) -> Routing {
    policy.route(incident)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::Playbook;

    fn policy() -> Policy {
        Policy::minimal()
    }

    fn finding(finding_type: &str, permission: &str, actor: bool, severity: f64) -> Incident {
        let mut event = serde_json::json!({"id": "s", "type": finding_type, "severity": severity, "resource": {
            "resourceType": "S3Bucket",
            "s3BucketDetails": [{"name": "b1", "publicAccess": {"effectivePermission": permission}}]}});
        if actor {
            event["resource"]["accessKeyDetails"] =
                serde_json::json!({"accessKeyId": "AKIA1", "userName": "alice", "userType": "IAMUser"});
        }
        crate::intake::parse(&event).unwrap().incident().unwrap()
    }

    #[test]
    fn only_exposure_findings_block_a_bucket() {
        let policy = policy();
        let block = Routing::Act {
            playbook: Playbook::BlockPublicBucket,
            floor: 0.0,
        };
        let contain = Some(Playbook::CredentialCompromise);
        for (finding_type, permission, actor, severity, expected) in [
            (
                "Policy:S3/BucketBlockPublicAccessDisabled",
                "NOT_PUBLIC",
                true,
                2.0,
                Some(Playbook::BlockPublicBucket),
            ),
            (
                "Policy:S3/BucketAnonymousAccessGranted",
                "NOT_PUBLIC",
                false,
                8.0,
                Some(Playbook::BlockPublicBucket),
            ),
            (
                "Policy:S3/BucketPublicAccessGranted",
                "PUBLIC",
                true,
                8.0,
                Some(Playbook::BlockPublicBucket),
            ),
            // A public bucket is no reason of its own: the actor, or a page.
            ("Stealth:S3/ServerAccessLoggingDisabled", "PUBLIC", true, 8.0, contain),
            ("Stealth:S3/ServerAccessLoggingDisabled", "PUBLIC", false, 8.0, None),
            ("Exfiltration:S3/AnomalousBehavior", "PUBLIC", true, 8.0, contain),
            ("Exfiltration:S3/AnomalousBehavior", "PUBLIC", false, 8.0, None),
            ("PenTest:S3/KaliLinux", "NOT_PUBLIC", true, 8.0, contain),
        ] {
            let routing = route(&finding(finding_type, permission, actor, severity), &policy);
            match expected {
                Some(Playbook::BlockPublicBucket) => assert_eq!(routing, block, "{finding_type}"),
                Some(playbook) => assert!(
                    matches!(routing, Routing::Act { playbook: p, .. } if p == playbook),
                    "{finding_type} {permission} {actor}: {routing:?}"
                ),
                None => assert_eq!(routing, Routing::Unrouted, "{finding_type} {permission} {actor}"),
            }
        }
    }
}
