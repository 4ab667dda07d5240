//! Posture fixes from AWS Config and Security Hub controls: open ports revoked exactly, stale keys deactivated.

use std::collections::BTreeMap;
use std::time::SystemTime;

use aws_sdk_s3::primitives::{DateTime, DateTimeFormat};

use super::credentials::principal_guard;
use super::{Plan, PlannedStep, Planner, Step, steps};
use crate::config_history::ConfigResource;
use crate::config_rules::{self, Forbidden};
use crate::names;
use crate::observation::{ConfigRuleState, GroupRule, PrincipalState, SecurityGroupState};
use crate::policy::Playbook;

impl Planner<'_> {
    /// The Config rule's parameters: as the rule is configured (`DescribeConfigRules`), else
    /// as the event carried them. An error says why neither is there, for a rule whose
    /// response depends on them; a rule without parameters that matter goes on with none.
    fn rule_parameters(&self, rule: Option<&ConfigRuleState>) -> Result<BTreeMap<String, String>, String> {
        if let Some(rule) = rule
            && rule.error.is_none()
        {
            return Ok(rule.parameters.clone());
        }
        let carried = self.incident.rule_parameters.clone();
        let name = &self.incident.finding_type;
        if !carried.is_empty() || !config_rules::is_tunable(name) {
            return Ok(carried);
        }
        let why = rule
            .and_then(|r| r.error.clone())
            .unwrap_or_else(|| "it was not looked up".to_owned());
        Err(format!(
            "the parameters of Config rule {name} could not be read ({why}) and the event carries none: \
             acting on defaults could revoke what the rule allows; paging only"
        ))
    }

    pub(super) fn close_open_ports(&self, group: &SecurityGroupState) -> Plan {
        let id = &group.group_id;
        if let Some(plan) = self.protected_by_tag(&format!("security group {id}"), Some(&group.tags), None) {
            return plan;
        }
        if let Some(role) = group.tags.get(names::ROLE_TAG) {
            return self.page_only(format!(
                "security group {id} is Tourniquet's {role} group: open to the world by design (conversion) \
                 or empty (isolation); paging only"
            ));
        }
        let parameters = match self.rule_parameters(group.rule.as_ref()) {
            Ok(parameters) => parameters,
            Err(reason) => return self.page_only(reason),
        };
        let forbidden = Forbidden::for_rule(&self.incident.finding_type, &parameters);
        let ingress: Vec<GroupRule> = group.ingress.iter().filter(|r| forbidden.forbids(r)).cloned().collect();
        let egress: Vec<GroupRule> = if forbidden.closes_egress() {
            group.egress.clone()
        } else {
            Vec::new()
        };
        if ingress.is_empty() && egress.is_empty() {
            return self.page_only(format!(
                "security group {id} has no rule that {} forbids any more; paging only",
                self.incident.finding_type
            ));
        }
        let removed: Vec<String> = ingress.iter().chain(&egress).map(GroupRule::describe).collect();
        let reason = format!("{} on {id}: revoke {}", self.incident.finding_type, removed.join("; "));
        let step = PlannedStep {
            place: None,
            step: Step::RevokeGroupRules {
                group_id: id.clone(),
                ingress,
                egress,
            },
            reason: "revoke exactly the offending rules; every other rule stays, and these are in the evidence"
                .to_owned(),
        };
        let steps = self.with_history(steps(vec![step]), ConfigResource::security_group(id));
        self.plan(Playbook::CloseOpenPorts, reason, steps)
    }

    pub(super) fn stale_keys(&self, user: &PrincipalState, now: SystemTime) -> Plan {
        let name = &user.name;
        if let Some(reason) = principal_guard(user, self.policy) {
            return self.page_only(format!("{reason}; paging only"));
        }
        let days = match self.rule_parameters(user.rule.as_ref()) {
            Ok(parameters) => config_rules::max_key_age_days(&parameters),
            Err(reason) => return self.page_only(reason),
        };
        let now = DateTime::from(now).secs();
        let limit = i64::try_from(days.saturating_mul(86_400)).unwrap_or(i64::MAX);
        let stale: Vec<&str> = user
            .access_keys
            .iter()
            .filter(|k| k.status.as_deref() == Some("Active"))
            .filter(|k| {
                k.created
                    .as_deref()
                    .and_then(|c| DateTime::from_str(c, DateTimeFormat::DateTime).ok())
                    .is_some_and(|c| now.saturating_sub(c.secs()) > limit)
            })
            .map(|k| k.access_key_id.as_str())
            .collect();
        if stale.is_empty() {
            return self.page_only(format!("{name} has no active key older than {days} days; paging only"));
        }
        let middle: Vec<PlannedStep> = stale
            .iter()
            .map(|key| PlannedStep {
                place: None,
                step: Step::DeactivateAccessKey {
                    user_name: name.clone(),
                    access_key_id: (*key).to_owned(),
                },
                reason: format!("older than {days} days"),
            })
            .collect();
        let reason = format!(
            "{name} has {} active key(s) older than {days} days: deactivate them",
            stale.len()
        );
        self.plan(Playbook::DeactivateStaleKeys, reason, steps(middle))
    }
}

#[cfg(test)]
mod tests {
    use std::time::SystemTime;

    use crate::observation::*;
    use crate::plan::fixtures::{planned, policy};
    use crate::plan::{Plan, Step};
    use crate::policy::Playbook;

    fn open_group(rule: Option<ConfigRuleState>) -> Observation {
        let world = |port| GroupRule {
            protocol: "tcp".into(),
            from_port: Some(port),
            to_port: Some(port),
            cidr_ipv4: Some("0.0.0.0/0".into()),
            ..GroupRule::default()
        };
        Observation::SecurityGroup(Box::new(SecurityGroupState {
            group_id: "sg-1".into(),
            ingress: vec![world(22), world(80), world(443)],
            rule,
            ..SecurityGroupState::default()
        }))
    }

    fn revoked(plan: &Plan) -> Vec<Option<i32>> {
        plan.steps
            .iter()
            .filter_map(|s| match &s.step {
                Step::RevokeGroupRules { ingress, .. } => Some(ingress.iter().map(|r| r.from_port).collect::<Vec<_>>()),
                _ => None,
            })
            .flatten()
            .collect()
    }

    #[test]
    fn config_rules_act_on_their_parameters_as_configured() {
        let event: serde_json::Value = serde_json::from_str(include_str!(
            "../../../../events/config/vpc-sg-open-only-to-authorized-ports-noncompliant.json"
        ))
        .unwrap();
        let incident = crate::intake::parse(&event).unwrap().incident().unwrap();
        let rule = |parameters: &[(&str, &str)], error: Option<&str>| ConfigRuleState {
            name: incident.finding_type.clone(),
            parameters: parameters.iter().map(|(k, v)| ((*k).into(), (*v).into())).collect(),
            error: error.map(Into::into),
        };
        let at = |observation: &Observation| planned(&incident, observation, &policy(false), SystemTime::UNIX_EPOCH);

        // The rule authorizes 80 and 443: only 22 goes.
        let configured = at(&open_group(Some(rule(&[("authorizedTcpPorts", "80,443")], None))));
        assert_eq!(revoked(&configured), [Some(22)]);
        // A rule that sets nothing: HTTPS stays open.
        let unset = at(&open_group(Some(rule(&[], None))));
        assert_eq!(revoked(&unset), [Some(22), Some(80)]);
        // Unreadable, and the event carries no parameters: acting on defaults could revoke
        // port 80 that the rule allows.
        let unreadable = at(&open_group(Some(rule(&[], Some("AccessDeniedException: no")))));
        assert_eq!(unreadable.playbook, Playbook::PageOnly);
        assert!(
            unreadable.reason.contains("AccessDeniedException"),
            "{}",
            unreadable.reason
        );
        assert!(revoked(&unreadable).is_empty());
        assert_eq!(at(&open_group(None)).playbook, Playbook::PageOnly);

        // restricted-ssh has no parameters: an unreadable rule does not stop it.
        let mut ssh = incident.clone();
        ssh.finding_type = "securityhub-restricted-ssh-a1b2c3".into();
        let plan = planned(
            &ssh,
            &open_group(Some(rule(&[], Some("NoSuchConfigRuleException: gone")))),
            &policy(false),
            SystemTime::UNIX_EPOCH,
        );
        assert_eq!(revoked(&plan), [Some(22)]);
    }
}
