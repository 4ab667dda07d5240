//! GuardDuty's public buckets: any S3 finding whose bucket is effectively public blocks it.

use crate::incident::{Incident, Resource, Source};
use crate::intake::EFFECTIVE_PERMISSION;
use crate::policy::{Playbook, Policy, Routing};

/// The routing table's answer, or, for a GuardDuty finding no route names whose bucket
/// GuardDuty reports effectively public, the public access block. Like the table's bucket
/// routes, it acts at any severity: the block is narrow and reversible.
#[must_use]
pub fn route(incident: &Incident, policy: &Policy) -> Routing {
    let routing = policy.route(incident);
    let public = incident.source == Source::GuardDuty
        && matches!(incident.resource, Resource::Bucket { .. })
        && incident.details.get(EFFECTIVE_PERMISSION).map(String::as_str) == Some("PUBLIC");
    if routing == Routing::Unrouted && public {
        return Routing::Act {
            playbook: Playbook::BlockPublicBucket,
            floor: 0.0,
        };
    }
    routing
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> Policy {
        Policy::minimal()
    }

    fn finding(finding_type: &str, permission: &str, severity: f64) -> Incident {
        let event = serde_json::json!({"id": "s", "type": finding_type, "severity": severity, "resource": {
            "resourceType": "S3Bucket",
            "s3BucketDetails": [{"name": "b1", "publicAccess": {"effectivePermission": permission}}]}});
        crate::intake::parse(&event).unwrap().incident().unwrap()
    }

    #[test]
    fn public_buckets_are_blocked_whatever_the_finding() {
        let policy = policy();
        let block = Routing::Act {
            playbook: Playbook::BlockPublicBucket,
            floor: 0.0,
        };
        for (finding_type, permission, severity, expected) in [
            ("Policy:S3/BucketBlockPublicAccessDisabled", "NOT_PUBLIC", 2.0, block),
            ("Policy:S3/BucketAnonymousAccessGranted", "NOT_PUBLIC", 8.0, block),
            ("Policy:S3/BucketPublicAccessGranted", "NOT_PUBLIC", 8.0, block),
            ("Stealth:S3/ServerAccessLoggingDisabled", "PUBLIC", 2.0, block),
            (
                "Stealth:S3/ServerAccessLoggingDisabled",
                "NOT_PUBLIC",
                8.0,
                Routing::Unrouted,
            ),
        ] {
            assert_eq!(
                route(&finding(finding_type, permission, severity), &policy),
                expected,
                "{finding_type} {permission}"
            );
        }
    }
}
