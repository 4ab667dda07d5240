//! A public or unencrypted bucket: a full public access block, or default encryption.

use super::{Plan, PlannedStep, Planner, Step, steps};
use crate::config_history::ConfigResource;
use crate::observation::BucketState;
use crate::policy::Playbook;

impl Planner<'_> {
    pub(super) fn bucket(&self, playbook: Playbook, bucket: &BucketState) -> Plan {
        let name = &bucket.name;
        if let Some(plan) = self.protected_by_tag(
            &format!("bucket {name}"),
            bucket.tags.as_ref(),
            bucket.tags_error.as_deref(),
        ) {
            return plan;
        }
        let (step, reason) = if playbook == Playbook::EncryptBucket {
            let kms_key_id = self.policy.kms_key_id.clone();
            let how = kms_key_id
                .as_deref()
                .map_or("SSE-S3".to_owned(), |k| format!("SSE-KMS with {k}"));
            (
                Step::SetDefaultEncryption {
                    bucket: name.clone(),
                    kms_key_id,
                },
                format!("bucket {name} has no default encryption: turn on {how}"),
            )
        } else {
            (
                Step::BlockPublicAccess { bucket: name.clone() },
                format!("bucket {name} may be public: block public access (all four settings)"),
            )
        };
        let step = PlannedStep {
            place: None,
            step,
            reason: "the previous configuration is in the evidence".to_owned(),
        };
        let steps = steps(vec![step]);
        let steps = if playbook == Playbook::EncryptBucket {
            steps
        } else {
            self.with_history(steps, ConfigResource::bucket(name))
        };
        self.plan(playbook, reason, steps)
    }
}
