//! Console links for a page: partition- and region-correct URLs, pure functions of ids.
//!
//! The commercial, China and GovCloud partitions have consoles of their own; the ISO
//! partitions have no public console, so they get no links at all.

use serde::{Deserialize, Serialize};

/// An AWS partition, read from a region name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Partition {
    Aws,
    AwsCn,
    AwsUsGov,
    /// `us-iso-*`, `us-isob-*` and the like: no console reachable from outside.
    Isolated,
}

impl Partition {
    /// The partition a region belongs to (`cn-north-1` is `aws-cn`, `us-gov-west-1` is
    /// `aws-us-gov`).
    #[must_use]
    pub fn of_region(region: &str) -> Self {
        if region.starts_with("cn-") {
            Partition::AwsCn
        } else if region.starts_with("us-gov-") {
            Partition::AwsUsGov
        } else if region.starts_with("us-iso") || region.starts_with("eu-isoe-") {
            Partition::Isolated
        } else {
            Partition::Aws
        }
    }

    /// The ARN partition name.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Partition::Aws => "aws",
            Partition::AwsCn => "aws-cn",
            Partition::AwsUsGov => "aws-us-gov",
            Partition::Isolated => "aws-iso",
        }
    }

    /// The console's origin, if the partition has a public one.
    #[must_use]
    pub fn console(self) -> Option<&'static str> {
        match self {
            Partition::Aws => Some("https://console.aws.amazon.com"),
            Partition::AwsCn => Some("https://console.amazonaws.cn"),
            Partition::AwsUsGov => Some("https://console.amazonaws-us-gov.com"),
            Partition::Isolated => None,
        }
    }
}

/// One link in a page: what it opens (`rel`, a fixed vocabulary), a label and the URL.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Link {
    /// `instance`, `user`, `role`, `bucket`, `security-group`, `guardduty-finding`,
    /// `securityhub-finding`, `config-rule`, `alarm`, `evidence`, `report` or `snapshot`.
    pub rel: String,
    pub label: String,
    pub url: String,
}

/// Builds console URLs in one region of one partition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Console<'a> {
    origin: &'static str,
    region: &'a str,
}

impl<'a> Console<'a> {
    /// The console for `region`; `None` where the partition has no public console.
    #[must_use]
    pub fn for_region(region: &'a str) -> Option<Self> {
        Partition::of_region(region)
            .console()
            .map(|origin| Console { origin, region })
    }

    fn link(rel: &str, label: String, url: String) -> Link {
        Link {
            rel: rel.to_owned(),
            label,
            url,
        }
    }

    /// An EC2 instance's details.
    #[must_use]
    pub fn instance(self, instance_id: &str) -> Link {
        Self::link(
            "instance",
            format!("Instance {instance_id}"),
            format!(
                "{}/ec2/home?region={}#InstanceDetails:instanceId={}",
                self.origin,
                self.region,
                encode(instance_id)
            ),
        )
    }

    /// A security group's details.
    #[must_use]
    pub fn security_group(self, group_id: &str) -> Link {
        Self::link(
            "security-group",
            format!("Security group {group_id}"),
            format!(
                "{}/ec2/home?region={}#SecurityGroup:groupId={}",
                self.origin,
                self.region,
                encode(group_id)
            ),
        )
    }

    /// One EBS snapshot's details.
    #[must_use]
    pub fn snapshot(self, snapshot_id: &str) -> Link {
        Self::link(
            "snapshot",
            format!("Snapshot {snapshot_id}"),
            format!(
                "{}/ec2/home?region={}#SnapshotDetails:snapshotId={}",
                self.origin,
                self.region,
                encode(snapshot_id)
            ),
        )
    }

    /// An IAM user (IAM is global: the region only picks the partition).
    #[must_use]
    pub fn user(self, user_name: &str) -> Link {
        Self::link(
            "user",
            format!("IAM user {user_name}"),
            format!("{}/iam/home#/users/details/{}", self.origin, encode(user_name)),
        )
    }

    /// An IAM role.
    #[must_use]
    pub fn role(self, role_name: &str) -> Link {
        Self::link(
            "role",
            format!("IAM role {role_name}"),
            format!("{}/iam/home#/roles/details/{}", self.origin, encode(role_name)),
        )
    }

    /// A bucket's objects.
    #[must_use]
    pub fn bucket(self, bucket: &str) -> Link {
        Self::link(
            "bucket",
            format!("Bucket {bucket}"),
            format!("{}/s3/buckets/{}?region={}", self.origin, encode(bucket), self.region),
        )
    }

    /// A folder of a bucket (the evidence of one incident).
    #[must_use]
    pub fn folder(self, rel: &str, bucket: &str, prefix: &str) -> Link {
        Self::link(
            rel,
            format!("s3://{bucket}/{prefix}"),
            format!(
                "{}/s3/buckets/{}?region={}&prefix={}&showversions=false",
                self.origin,
                encode(bucket),
                self.region,
                encode(prefix)
            ),
        )
    }

    /// One object of a bucket (an incident's `report.html`): its page, where Open shows it.
    #[must_use]
    pub fn object(self, rel: &str, label: String, bucket: &str, key: &str) -> Link {
        Self::link(
            rel,
            label,
            format!(
                "{}/s3/object/{}?region={}&prefix={}",
                self.origin,
                encode(bucket),
                self.region,
                encode(key)
            ),
        )
    }

    /// A GuardDuty finding, by its id.
    #[must_use]
    pub fn guardduty_finding(self, finding_id: &str) -> Link {
        Self::link(
            "guardduty-finding",
            "GuardDuty finding".to_owned(),
            format!(
                "{}/guardduty/home?region={}#/findings?macros=current&fId={}",
                self.origin,
                self.region,
                encode(finding_id)
            ),
        )
    }

    /// Security Hub's findings searched by `Id` (for a GuardDuty finding, Security Hub's id
    /// is the GuardDuty finding's ARN). The search value is encoded twice, as the console does.
    #[must_use]
    pub fn securityhub_finding(self, id: &str) -> Link {
        let filter = format!("\\operator\\:EQUALS\\:{id}");
        let search = format!("Id={}", encode(&filter));
        Self::link(
            "securityhub-finding",
            "Security Hub finding".to_owned(),
            format!(
                "{}/securityhub/home?region={}#/findings?search={}",
                self.origin,
                self.region,
                encode(&search)
            ),
        )
    }

    /// An AWS Config rule.
    #[must_use]
    pub fn config_rule(self, rule: &str) -> Link {
        Self::link(
            "config-rule",
            format!("Config rule {rule}"),
            format!(
                "{}/config/home?region={}#/rules/details?configRuleName={}",
                self.origin,
                self.region,
                encode(rule)
            ),
        )
    }

    /// A CloudWatch alarm.
    #[must_use]
    pub fn alarm(self, name: &str) -> Link {
        Self::link(
            "alarm",
            format!("Alarm {name}"),
            format!(
                "{}/cloudwatch/home?region={}#alarmsV2:alarm/{}",
                self.origin,
                self.region,
                encode(name)
            ),
        )
    }
}

/// Percent-encodes everything but RFC 3986's unreserved characters.
#[must_use]
pub fn encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || b"-_.~".contains(&byte) {
            out.push(char::from(byte));
        } else {
            out.push('%');
            out.push(char::from(b"0123456789ABCDEF"[usize::from(byte >> 4)]));
            out.push(char::from(b"0123456789ABCDEF"[usize::from(byte & 15)]));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partitions_from_regions() {
        assert_eq!(Partition::of_region("us-east-1"), Partition::Aws);
        assert_eq!(Partition::of_region("eu-west-3"), Partition::Aws);
        assert_eq!(Partition::of_region("cn-northwest-1"), Partition::AwsCn);
        assert_eq!(Partition::of_region("us-gov-west-1"), Partition::AwsUsGov);
        assert_eq!(Partition::of_region("us-iso-east-1"), Partition::Isolated);
        assert_eq!(Partition::of_region("us-isob-east-1"), Partition::Isolated);
        assert!(Console::for_region("us-iso-east-1").is_none());
    }

    #[test]
    fn commercial_links() {
        let c = Console::for_region("eu-west-1").unwrap();
        assert_eq!(
            c.instance("i-0abc").url,
            "https://console.aws.amazon.com/ec2/home?region=eu-west-1#InstanceDetails:instanceId=i-0abc"
        );
        assert_eq!(
            c.security_group("sg-1").url,
            "https://console.aws.amazon.com/ec2/home?region=eu-west-1#SecurityGroup:groupId=sg-1"
        );
        assert_eq!(
            c.snapshot("snap-1").url,
            "https://console.aws.amazon.com/ec2/home?region=eu-west-1#SnapshotDetails:snapshotId=snap-1"
        );
        assert_eq!(
            c.user("ci deployer").url,
            "https://console.aws.amazon.com/iam/home#/users/details/ci%20deployer"
        );
        assert_eq!(
            c.role("web").url,
            "https://console.aws.amazon.com/iam/home#/roles/details/web"
        );
        assert_eq!(
            c.bucket("assets").url,
            "https://console.aws.amazon.com/s3/buckets/assets?region=eu-west-1"
        );
        assert_eq!(
            c.folder("evidence", "ev", "incidents/guardduty-1/").url,
            "https://console.aws.amazon.com/s3/buckets/ev?region=eu-west-1&prefix=incidents%2Fguardduty-1%2F&showversions=false"
        );
        assert_eq!(
            c.object("report", "Report".into(), "ev", "incidents/guardduty-1/report.html")
                .url,
            "https://console.aws.amazon.com/s3/object/ev?region=eu-west-1&prefix=incidents%2Fguardduty-1%2Freport.html"
        );
        assert_eq!(
            c.guardduty_finding("f118").url,
            "https://console.aws.amazon.com/guardduty/home?region=eu-west-1#/findings?macros=current&fId=f118"
        );
        assert_eq!(
            c.config_rule("restricted-ssh").url,
            "https://console.aws.amazon.com/config/home?region=eu-west-1#/rules/details?configRuleName=restricted-ssh"
        );
        assert_eq!(
            c.alarm("api 5xx").url,
            "https://console.aws.amazon.com/cloudwatch/home?region=eu-west-1#alarmsV2:alarm/api%205xx"
        );
    }

    #[test]
    fn security_hub_searches_are_encoded_twice() {
        let c = Console::for_region("us-east-1").unwrap();
        let arn = "arn:aws:guardduty:us-east-1:123456789012:detector/d1/finding/f1";
        assert_eq!(
            c.securityhub_finding(arn).url,
            "https://console.aws.amazon.com/securityhub/home?region=us-east-1#/findings?search=\
             Id%3D%255Coperator%255C%253AEQUALS%255C%253Aarn%253Aaws%253Aguardduty%253Aus-east-1%253A\
             123456789012%253Adetector%252Fd1%252Ffinding%252Ff1"
        );
    }

    #[test]
    fn china_and_govcloud_have_consoles_of_their_own() {
        let cn = Console::for_region("cn-north-1").unwrap();
        assert_eq!(
            cn.instance("i-1").url,
            "https://console.amazonaws.cn/ec2/home?region=cn-north-1#InstanceDetails:instanceId=i-1"
        );
        assert_eq!(
            cn.user("u").url,
            "https://console.amazonaws.cn/iam/home#/users/details/u"
        );
        assert_eq!(
            cn.bucket("b").url,
            "https://console.amazonaws.cn/s3/buckets/b?region=cn-north-1"
        );
        assert_eq!(
            cn.guardduty_finding("f").url,
            "https://console.amazonaws.cn/guardduty/home?region=cn-north-1#/findings?macros=current&fId=f"
        );
        let gov = Console::for_region("us-gov-west-1").unwrap();
        assert_eq!(
            gov.security_group("sg-1").url,
            "https://console.amazonaws-us-gov.com/ec2/home?region=us-gov-west-1#SecurityGroup:groupId=sg-1"
        );
        assert_eq!(
            gov.role("r").url,
            "https://console.amazonaws-us-gov.com/iam/home#/roles/details/r"
        );
        assert!(
            gov.securityhub_finding("x")
                .url
                .starts_with("https://console.amazonaws-us-gov.com/securityhub/home?region=us-gov-west-1#")
        );
        assert_eq!(
            cn.object("report", "Report".into(), "b", "incidents/x/report.html").url,
            "https://console.amazonaws.cn/s3/object/b?region=cn-north-1&prefix=incidents%2Fx%2Freport.html"
        );
        assert!(
            gov.folder("evidence", "b", "incidents/x/")
                .url
                .starts_with("https://console.amazonaws-us-gov.com/s3/buckets/b?region=us-gov-west-1")
        );
    }
}
