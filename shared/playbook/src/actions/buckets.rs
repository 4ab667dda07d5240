//! GuardDuty's exposed buckets: what the bucket allowed before the block, kept as evidence.

use aws_sdk_s3::types::{Grant, Type};

use super::{posture, sdk};
use crate::observation::{Observation, Website};

/// Describes a bucket as the posture fix does (tags, public access block, encryption), and
/// adds its policy and ACL: what made it public is in the evidence, to be put back by a
/// person if the exposure was meant. A policy or ACL that cannot be read is noted; the block
/// still goes on. Its website configuration too (in the same round): a website pages instead.
pub async fn observe_exposed_bucket(s3: &aws_sdk_s3::Client, bucket: &str) -> Observation {
    let (observation, policy, acl, website) = tokio::join!(
        posture::observe_bucket(s3, bucket),
        s3.get_bucket_policy().bucket(bucket).send(),
        s3.get_bucket_acl().bucket(bucket).send(),
        s3.get_bucket_website().bucket(bucket).send(),
    );
    let Observation::Bucket(mut state) = observation else {
        return observation;
    };
    match policy.map_err(sdk("GetBucketPolicy")) {
        Ok(output) => state.policy = output.policy().map(ToOwned::to_owned),
        Err(err) if err.code == "NoSuchBucketPolicy" => {}
        Err(err) => state.notes.push(err.to_string()),
    }
    match acl.map_err(sdk("GetBucketAcl")) {
        Ok(output) => state.acl = output.grants().iter().map(grant).collect(),
        Err(err) => state.notes.push(err.to_string()),
    }
    state.website = Some(match website.map_err(sdk("GetBucketWebsite")) {
        Ok(output) => {
            let serves = output
                .redirect_all_requests_to()
                .map(|r| format!("a redirect of every request to {}", r.host_name()))
                .or_else(|| {
                    output
                        .index_document()
                        .map(|i| format!("index document {}", i.suffix()))
                })
                .unwrap_or_else(|| "a website configuration".to_owned());
            Website::Hosted { serves }
        }
        Err(err) if err.code == "NoSuchWebsiteConfiguration" => Website::None,
        Err(err) => Website::Unknown { error: err.to_string() },
    });
    Observation::Bucket(state)
}

/// One grant as a person reads it: `AllUsers: READ`, `id 79a5...: FULL_CONTROL`.
fn grant(grant: &Grant) -> String {
    let permission = grant.permission().map_or("?", |p| p.as_str());
    let grantee = grant.grantee().map_or_else(
        || "?".to_owned(),
        |g| match g.r#type() {
            Type::Group => g
                .uri()
                .map_or("a group", |uri| uri.rsplit('/').next().unwrap_or(uri))
                .to_owned(),
            Type::AmazonCustomerByEmail => format!("email {}", g.email_address().unwrap_or("?")),
            _ => format!("id {}", g.id().unwrap_or("?")),
        },
    );
    format!("{grantee}: {permission}")
}
