//! The database plan: a snapshot tagged with the incident, a page with the runbook, no isolation.

use std::collections::BTreeMap;

use super::{Plan, PlannedStep, Planner, Step, steps};
use crate::names;
use crate::observation::DatabaseState;
use crate::policy::Playbook;

/// The snapshot's name: one per incident, so a retry finds the one it took.
#[must_use]
pub fn snapshot_id(incident_id: &str) -> String {
    let safe: String = incident_id
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect();
    format!("tourniquet-{}", safe.trim_matches('-'))
        .chars()
        .take(255)
        .collect()
}

impl Planner<'_> {
    /// A database a suspicious login reached: its state kept in a manual snapshot (the
    /// cluster's, on Aurora), tagged with the incident. The database is not touched: the
    /// runbook in the page says what a person does.
    pub(super) fn database(&self, state: &DatabaseState) -> Plan {
        let id = &state.db_instance_id;
        if let Some(plan) = self.protected_by_tag(&format!("database {id}"), Some(&state.tags), None) {
            return plan;
        }
        let tags: BTreeMap<String, String> = [
            (names::INCIDENT_TAG, self.incident.id.clone()),
            (names::FINDING_ID_TAG, names::tag_value(&self.incident.finding_id)),
            (names::FINDING_TYPE_TAG, names::tag_value(&self.incident.finding_type)),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect();
        let what = state
            .cluster_id
            .as_deref()
            .map_or_else(|| format!("instance {id}"), |c| format!("Aurora cluster {c}"));
        let step = PlannedStep {
            place: None,
            step: Step::SnapshotDatabase {
                db_instance_id: id.clone(),
                cluster_id: state.cluster_id.clone(),
                snapshot_id: snapshot_id(&self.incident.id),
                tags,
            },
            reason: format!("a manual snapshot of the {what}, tagged with the incident: its state, kept"),
        };
        let reason = format!(
            "severity {:.1} {} on database {id}: snapshot the {what}; no isolation (the runbook says what to do)",
            self.incident.severity, self.incident.finding_type
        );
        self.plan(Playbook::RdsCompromise, reason, steps(vec![step]))
    }
}

#[cfg(test)]
mod tests {
    use std::time::SystemTime;

    use super::*;
    use crate::observation::Observation;
    use crate::settings::Settings;

    fn planned(state: DatabaseState) -> Plan {
        let settings = Settings::from_lookup(|var| match var {
            "TOURNIQUET_TOPIC_ARN" => Some("arn:aws:sns:us-east-1:123456789012:pages".into()),
            "TOURNIQUET_EVIDENCE_BUCKET" => Some("evidence".into()),
            _ => None,
        })
        .unwrap();
        let policy = crate::policy::Policy::new(&settings).unwrap();
        let event = serde_json::json!({"id": "r1", "type": "CredentialAccess:RDS/AnomalousBehavior.SuccessfulLogin",
            "severity": 8, "resource": {"resourceType": "RDSDBInstance",
            "rdsDbInstanceDetails": {"dbInstanceIdentifier": "db-1"}}});
        let incident = crate::intake::parse(&event).unwrap().incident().unwrap();
        let target = crate::target::target(&incident, &policy);
        crate::plan::plan(
            &incident,
            &target,
            &Observation::Database(Box::new(state)),
            &policy,
            SystemTime::UNIX_EPOCH,
        )
    }

    #[test]
    fn a_database_is_snapshotted_never_isolated() {
        let plan = planned(DatabaseState {
            db_instance_id: "db-1".into(),
            ..DatabaseState::default()
        });
        assert_eq!(plan.playbook, Playbook::RdsCompromise, "{}", plan.reason);
        let actions: Vec<_> = plan.steps.iter().map(|s| s.step.action()).collect();
        assert_eq!(actions, ["record-evidence", "snapshot-database", "page", "page-update"]);
        let Step::SnapshotDatabase {
            cluster_id,
            snapshot_id,
            tags,
            ..
        } = &plan.steps[1].step
        else {
            panic!("{:?}", plan.steps[1]);
        };
        assert_eq!(cluster_id, &None);
        assert_eq!(snapshot_id, &format!("tourniquet-{}", plan.incident_id));
        assert_eq!(tags[names::INCIDENT_TAG], plan.incident_id);

        let aurora = planned(DatabaseState {
            db_instance_id: "db-1".into(),
            cluster_id: Some("orders".into()),
            ..DatabaseState::default()
        });
        assert!(aurora.reason.contains("Aurora cluster orders"), "{}", aurora.reason);

        let protected = planned(DatabaseState {
            db_instance_id: "db-1".into(),
            tags: [("tourniquet:protected".to_owned(), String::new())].into(),
            ..DatabaseState::default()
        });
        assert_eq!(protected.playbook, Playbook::PageOnly);
    }

    #[test]
    fn snapshot_ids_are_valid_rds_names() {
        assert_eq!(snapshot_id("guardduty-0a1b"), "tourniquet-guardduty-0a1b");
        assert_eq!(snapshot_id("x_y-"), "tourniquet-x-y");
    }
}
