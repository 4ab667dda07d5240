//! What an AWS Config managed rule forbids, read from the rule's parameters as configured.

use std::collections::BTreeMap;

use crate::observation::GroupRule;

/// `restricted-common-ports`: each blocked-port parameter and the port it blocks when unset.
const BLOCKED_PORT_DEFAULTS: [(&str, i32); 5] = [
    ("blockedPort1", 20),
    ("blockedPort2", 21),
    ("blockedPort3", 3389),
    ("blockedPort4", 3306),
    ("blockedPort5", 4333),
];

/// What `vpc-sg-open-only-to-authorized-ports` leaves open when the rule names no port. AWS
/// sets no default (every world-open port is then non-compliant); Tourniquet keeps HTTPS open
/// rather than take a site down on a rule left unconfigured.
const AUTHORIZED_WHEN_UNSET: PortRange = PortRange { from: 443, to: 443 };

/// Security Hub's EC2.19: the high-risk ports no security group may open to the world.
const HIGH_RISK_PORTS: [i32; 24] = [
    20, 21, 22, 23, 25, 110, 135, 143, 445, 1433, 1434, 3000, 3306, 3389, 4333, 5000, 5432, 5500, 5601, 8080, 8088,
    8888, 9200, 9300,
];

/// The key age `access-keys-rotated` and `iam-user-unused-credentials-check` allow by
/// default, in days.
pub const MAX_KEY_AGE_DAYS: u64 = 90;

/// Whether the response to `rule` depends on its parameters: acting on defaults the rule
/// does not use could revoke what it allows.
#[must_use]
pub fn is_tunable(rule: &str) -> bool {
    [
        "restricted-common-ports",
        "vpc-sg-open-only-to-authorized-ports",
        "access-keys-rotated",
        "iam-user-unused-credentials-check",
    ]
    .iter()
    .any(|managed| rule.contains(managed))
}

/// The key age a rule allows, in days (`maxAccessKeyAge` or `maxCredentialUsageAge`).
#[must_use]
pub fn max_key_age_days(parameters: &BTreeMap<String, String>) -> u64 {
    ["maxAccessKeyAge", "maxCredentialUsageAge"]
        .iter()
        .find_map(|name| parameters.get(*name)?.trim().parse().ok())
        .unwrap_or(MAX_KEY_AGE_DAYS)
}

/// Ports from `from` to `to`, both included.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PortRange {
    pub from: i32,
    pub to: i32,
}

/// A parameter's ports: `"443"`, `"80,443"`, `"443,1020-1025"`. Unreadable items are skipped.
fn port_ranges(value: &str) -> Vec<PortRange> {
    value
        .split(',')
        .filter_map(|item| {
            let item = item.trim();
            let (from, to) = item.split_once('-').unwrap_or((item, item));
            let range = PortRange {
                from: from.trim().parse().ok()?,
                to: to.trim().parse().ok()?,
            };
            (range.from <= range.to).then_some(range)
        })
        .collect()
}

/// The rule's protocol as Config's parameters name it.
fn protocol(rule: &GroupRule) -> &str {
    match rule.protocol.as_str() {
        "6" => "tcp",
        "17" => "udp",
        other => other,
    }
}

/// Whether `rule` lets TCP traffic reach any port of `range`.
fn reaches_tcp(rule: &GroupRule, range: PortRange) -> bool {
    match (protocol(rule), rule.from_port, rule.to_port) {
        ("-1", _, _) | ("tcp", None, _) | ("tcp", _, None) => true,
        ("tcp", Some(from), Some(to)) => from <= range.to && range.from <= to,
        _ => false,
    }
}

/// Whether every port `rule` opens lies inside one of `ranges`, for `wanted` (tcp or udp).
fn within(rule: &GroupRule, wanted: &str, ranges: &[PortRange]) -> bool {
    match (rule.from_port, rule.to_port) {
        (Some(from), Some(to)) if protocol(rule) == wanted => ranges.iter().any(|r| r.from <= from && to <= r.to),
        _ => false,
    }
}

/// Which rules of a security group a Config rule forbids.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Forbidden {
    /// World-open rules reaching any of these TCP ports.
    Ports(Vec<PortRange>),
    /// World-open rules reaching anything outside these TCP and UDP ports.
    OutsidePorts { tcp: Vec<PortRange>, udp: Vec<PortRange> },
    /// Every rule, in and out, whatever its source (the default group must be closed).
    Everything,
}

impl Forbidden {
    /// What `rule` (the rule's name, which holds the managed rule's) forbids with `parameters`.
    #[must_use]
    pub fn for_rule(rule: &str, parameters: &BTreeMap<String, String>) -> Self {
        let ranges = |name: &str| parameters.get(name).map(|v| port_ranges(v)).unwrap_or_default();
        if rule.contains("vpc-default-security-group-closed") {
            Forbidden::Everything
        } else if rule.contains("vpc-sg-open-only-to-authorized-ports") {
            let (tcp, udp) = (ranges("authorizedTcpPorts"), ranges("authorizedUdpPorts"));
            if tcp.is_empty() && udp.is_empty() {
                Forbidden::OutsidePorts {
                    tcp: vec![AUTHORIZED_WHEN_UNSET],
                    udp,
                }
            } else {
                Forbidden::OutsidePorts { tcp, udp }
            }
        } else if rule.contains("restricted-rdp") {
            // Security Hub's EC2.14: RDP only.
            Forbidden::Ports(vec![PortRange { from: 3389, to: 3389 }])
        } else if rule.contains("restricted-high-risk-ports") {
            // Security Hub's EC2.19.
            Forbidden::Ports(HIGH_RISK_PORTS.iter().map(|&p| PortRange { from: p, to: p }).collect())
        } else if rule.contains("restricted-common-ports") {
            let mut blocked: Vec<PortRange> = BLOCKED_PORT_DEFAULTS
                .iter()
                .flat_map(|(name, port)| {
                    parameters.get(*name).map_or_else(
                        || vec![PortRange { from: *port, to: *port }],
                        |value| port_ranges(value),
                    )
                })
                .collect();
            blocked.extend(ranges("blockedPorts"));
            Forbidden::Ports(blocked)
        } else {
            Forbidden::Ports(vec![PortRange { from: 22, to: 22 }])
        }
    }

    /// Whether the rule forbids `rule`.
    #[must_use]
    pub fn forbids(&self, rule: &GroupRule) -> bool {
        match self {
            Forbidden::Everything => true,
            Forbidden::Ports(ports) => rule.open_to_world() && ports.iter().any(|p| reaches_tcp(rule, *p)),
            Forbidden::OutsidePorts { tcp, udp } => {
                rule.open_to_world() && !within(rule, "tcp", tcp) && !within(rule, "udp", udp)
            }
        }
    }

    /// Whether outbound rules are forbidden too.
    #[must_use]
    pub fn closes_egress(&self) -> bool {
        matches!(self, Forbidden::Everything)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn world(protocol: &str, from: i32, to: i32) -> GroupRule {
        GroupRule {
            protocol: protocol.into(),
            from_port: Some(from),
            to_port: Some(to),
            cidr_ipv4: Some("0.0.0.0/0".into()),
            ..GroupRule::default()
        }
    }

    fn parameters(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
    }

    /// Security Hub's controls with no Config rule of their own: EC2.14 forbids RDP alone,
    /// EC2.19 the high-risk ports.
    #[test]
    fn security_hub_controls_forbid_their_ports() {
        let rdp = Forbidden::for_rule("EC2.14/restricted-rdp", &parameters(&[]));
        assert!(rdp.forbids(&world("tcp", 3389, 3389)));
        assert!(!rdp.forbids(&world("tcp", 22, 22)));
        let risky = Forbidden::for_rule("EC2.19/restricted-high-risk-ports", &parameters(&[]));
        for port in [22, 3306, 9300] {
            assert!(risky.forbids(&world("tcp", port, port)), "{port}");
        }
        assert!(risky.forbids(&world("tcp", 0, 65535)));
        assert!(!risky.forbids(&world("tcp", 443, 443)));
    }

    #[test]
    fn authorized_ports_take_lists_ranges_and_udp() {
        let rule = "vpc-sg-open-only-to-authorized-ports";
        let custom = Forbidden::for_rule(
            rule,
            &parameters(&[
                ("authorizedTcpPorts", "80, 443,1020-1025"),
                ("authorizedUdpPorts", "53"),
            ]),
        );
        assert!(!custom.forbids(&world("tcp", 80, 80)));
        assert!(!custom.forbids(&world("6", 1021, 1024)), "inside the range");
        assert!(custom.forbids(&world("tcp", 1024, 1030)), "reaches past the range");
        assert!(!custom.forbids(&world("udp", 53, 53)));
        assert!(custom.forbids(&world("tcp", 53, 53)), "53 is authorized for UDP only");
        assert!(custom.forbids(&world("-1", 0, 0)));
        let internal = GroupRule {
            cidr_ipv4: Some("10.0.0.0/8".into()),
            ..world("tcp", 22, 22)
        };
        assert!(!custom.forbids(&internal), "only world-open rules");

        let unset = Forbidden::for_rule(rule, &BTreeMap::new());
        assert!(!unset.forbids(&world("tcp", 443, 443)));
        assert!(unset.forbids(&world("tcp", 80, 80)));
    }

    #[test]
    fn blocked_ports_keep_the_defaults_of_unset_parameters() {
        let rule = "restricted-common-ports-conformance-pack-xyz12345";
        let defaults = Forbidden::for_rule(rule, &BTreeMap::new());
        assert!(defaults.forbids(&world("tcp", 3389, 3389)));
        assert!(!defaults.forbids(&world("tcp", 22, 22)));
        assert!(defaults.forbids(&world("tcp", 0, 65535)), "a range over a blocked port");

        let custom = Forbidden::for_rule(
            rule,
            &parameters(&[("blockedPort1", "8080"), ("blockedPorts", "9000-9100")]),
        );
        assert!(custom.forbids(&world("tcp", 8080, 8080)));
        assert!(!custom.forbids(&world("tcp", 20, 20)), "blockedPort1 now names 8080");
        assert!(custom.forbids(&world("tcp", 21, 21)), "blockedPort2 keeps its default");
        assert!(custom.forbids(&world("tcp", 9050, 9050)));
        assert!(!custom.forbids(&world("udp", 3389, 3389)), "TCP only");
    }

    #[test]
    fn port_lists_skip_what_does_not_read() {
        assert_eq!(
            port_ranges("22, x, 30-20, 1000-1002"),
            [PortRange { from: 22, to: 22 }, PortRange { from: 1000, to: 1002 }]
        );
    }

    #[test]
    fn tunable_rules_and_key_ages() {
        assert!(is_tunable("securityhub-access-keys-rotated-1a2b"));
        assert!(!is_tunable("securityhub-restricted-ssh-a1b2c3"));
        assert!(!is_tunable("vpc-default-security-group-closed"));
        assert_eq!(max_key_age_days(&BTreeMap::new()), MAX_KEY_AGE_DAYS);
        assert_eq!(max_key_age_days(&parameters(&[("maxAccessKeyAge", " 30 ")])), 30);
        assert_eq!(max_key_age_days(&parameters(&[("maxCredentialUsageAge", "45")])), 45);
    }
}
