//! A public or unencrypted bucket: a full public access block, or default encryption.

use super::{Plan, PlannedStep, Planner, Step, steps};
use crate::config_history::ConfigResource;
use crate::observation::{BucketState, Website};
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
        if playbook == Playbook::BlockPublicBucket
            && let Some(reason) = website(bucket)
        {
            return self.page_only(reason);
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

/// Why a bucket's block waits for a person: it serves a website (blocking public access takes
/// the site down), or whether it does could not be read. With the command that blocks it.
fn website(bucket: &BucketState) -> Option<String> {
    let name = &bucket.name;
    let why = match bucket.website.as_ref()? {
        Website::None => return None,
        Website::Hosted { serves } => format!("bucket {name} is configured as a website ({serves})"),
        Website::Unknown { error } => {
            format!("whether bucket {name} is configured as a website could not be read ({error})")
        }
    };
    Some(format!(
        "{why}: a public access block would take the site down; paging only. If the exposure is not \
         meant, block it: aws s3api put-public-access-block --bucket {name} --public-access-block-configuration \
         BlockPublicAcls=true,IgnorePublicAcls=true,BlockPublicPolicy=true,RestrictPublicBuckets=true"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_website_bucket_pages_with_the_command() {
        let mut bucket = BucketState {
            name: "site".into(),
            ..BucketState::default()
        };
        assert_eq!(website(&bucket), None, "not read: as before");
        bucket.website = Some(Website::None);
        assert_eq!(website(&bucket), None);
        bucket.website = Some(Website::Hosted {
            serves: "index document index.html".into(),
        });
        let reason = website(&bucket).unwrap();
        assert!(
            reason.contains("website") && reason.contains("put-public-access-block --bucket site"),
            "{reason}"
        );
        bucket.website = Some(Website::Unknown {
            error: "AccessDenied".into(),
        });
        assert!(website(&bucket).unwrap().contains("could not be read (AccessDenied)"));
    }
}
