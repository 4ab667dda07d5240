//! Release from quarantine, invoked by hand: find the record, plan the restore, run it, page.

use std::time::SystemTime;

use serde_json::Value;
use tracing::Instrument;

use crate::error::Error;
use crate::execute::{Budget, Run};
use crate::intake::{self, IntakeError};
use crate::ledger::{Created, Ledger};
use crate::names;
use crate::observation::Observation;
use crate::plan::{Plan, plan_release};
use crate::policy::Playbook;
use crate::report::Report;
use crate::responder::Responder;

/// `{"instance_id": "i-...", "incident_id": "..."}`; the incident is optional.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReleaseRequest {
    pub instance_id: String,
    pub incident_id: Option<String>,
}

impl ReleaseRequest {
    /// Reads a release request; a malformed one names the field.
    pub fn parse(request: &Value) -> Result<Self, IntakeError> {
        let text = |key: &str| match request.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) if !s.trim().is_empty() => Ok(Some(s.trim().to_owned())),
            Some(_) => Err(IntakeError::Invalid {
                path: key.to_owned(),
                reason: "expected a non-empty string".to_owned(),
            }),
        };
        if !request.is_object() {
            return Err(IntakeError::Invalid {
                path: String::new(),
                reason: "a release request is an object: {\"instance_id\": \"i-...\"}".to_owned(),
            });
        }
        let instance_id = text("instance_id")?.ok_or_else(|| IntakeError::Missing {
            path: "instance_id".to_owned(),
        })?;
        if !instance_id.starts_with("i-") || !instance_id[2..].bytes().all(|b| b.is_ascii_alphanumeric()) {
            return Err(IntakeError::Invalid {
                path: "instance_id".to_owned(),
                reason: format!("{instance_id:?} is not an instance id"),
            });
        }
        Ok(ReleaseRequest {
            instance_id,
            incident_id: text("incident_id")?,
        })
    }
}

impl Responder {
    /// Releases an instance from quarantine: restores each interface's groups, the Elastic IPs
    /// and termination protection from the evidence, tags it released, records it, pages.
    /// Refuses an instance without a quarantine record. Never deletes evidence or snapshots.
    pub async fn release(&self, request: &Value, budget: Budget) -> Result<Report, Error> {
        let request = ReleaseRequest::parse(request)?;
        let span = tracing::info_span!("release", instance_id = request.instance_id);
        self.release_instance(&request, budget).instrument(span).await
    }

    async fn release_instance(&self, request: &ReleaseRequest, budget: Budget) -> Result<Report, Error> {
        let instance_id = &request.instance_id;
        let refuse = |reason: String| Error::NotQuarantined {
            instance_id: instance_id.clone(),
            reason,
        };
        let incident_id = match &request.incident_id {
            Some(id) => id.clone(),
            None => self
                .quarantine_tag(instance_id)
                .await?
                .ok_or_else(|| refuse("it carries no tourniquet:incident-id tag; name the incident".to_owned()))?,
        };
        let ledger = Ledger::new(self.clients.s3.clone(), &self.settings.evidence_bucket, &incident_id);
        let plan: Plan = match ledger.read("plan.json").await.map_err(Error::Ledger)? {
            Some(bytes) => {
                serde_json::from_slice(&bytes).map_err(|e| refuse(format!("plan.json does not read: {e}")))?
            }
            None => {
                return Err(refuse(format!(
                    "incident {incident_id} has no record in the evidence bucket"
                )));
            }
        };
        let Observation::Instance(before) = &plan.observation else {
            return Err(refuse(format!("incident {incident_id} recorded no instance")));
        };
        if plan.playbook != Playbook::Ec2Compromise || &before.instance_id != instance_id {
            return Err(refuse(format!(
                "incident {incident_id} did not quarantine {instance_id}"
            )));
        }
        if !ledger.done("isolate-interfaces").await.map_err(Error::Ledger)? {
            return Err(refuse(format!("incident {incident_id} never isolated it")));
        }
        let event: Value = match ledger.read("event.json").await.map_err(Error::Ledger)? {
            Some(bytes) => {
                serde_json::from_slice(&bytes).map_err(|e| refuse(format!("event.json does not read: {e}")))?
            }
            None => return Err(refuse("event.json is missing".to_owned())),
        };
        let incident = intake::parse(&event)?
            .incident()
            .ok_or_else(|| refuse("its event is not an incident".to_owned()))?;

        let ledger = ledger.releasing();
        let history = ledger.history().await.map_err(Error::Ledger)?;
        // The release plan is made once and kept, like any plan: a retry resumes it.
        let release = if let Some(kept) = history.release_plan.clone() {
            kept
        } else {
            let release = plan_release(&plan, before, SystemTime::now());
            let body = serde_json::to_vec_pretty(&release).unwrap_or_default();
            match ledger.create("release/plan.json", body).await.map_err(Error::Ledger)? {
                Created::Written(_) => release,
                // Another invocation made one first: follow theirs.
                Created::Exists => match ledger.read("release/plan.json").await.map_err(Error::Ledger)? {
                    Some(bytes) => serde_json::from_slice(&bytes).map_err(|e| refuse(format!("release plan: {e}")))?,
                    None => release,
                },
            }
        };
        let run = Run {
            clients: &self.clients,
            topic_arn: &self.settings.topic_arn,
            ledger: &ledger,
            incident: &incident,
            plan: &release,
            budget,
            approved: false,
            received: std::time::Instant::now(),
        };
        let report = run.execute(history).await;
        self.finish(&ledger, report).await
    }

    /// The incident id on a quarantined instance, if it has one.
    async fn quarantine_tag(&self, instance_id: &str) -> Result<Option<String>, Error> {
        let output = self
            .clients
            .ec2
            .describe_instances()
            .instance_ids(instance_id)
            .send()
            .await
            .map_err(|e| Error::Release(crate::actions::AwsError::from_sdk("DescribeInstances", &e)))?;
        Ok(output
            .reservations()
            .iter()
            .flat_map(aws_sdk_ec2::types::Reservation::instances)
            .flat_map(aws_sdk_ec2::types::Instance::tags)
            .find(|t| t.key() == Some(names::INCIDENT_TAG))
            .and_then(|t| t.value().map(ToOwned::to_owned)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn release_requests() {
        assert_eq!(
            ReleaseRequest::parse(&json!({"instance_id": "i-0abc"})),
            Ok(ReleaseRequest {
                instance_id: "i-0abc".into(),
                incident_id: None
            })
        );
        assert_eq!(
            ReleaseRequest::parse(&json!({"instance_id": "i-0abc", "incident_id": "guardduty-1"}))
                .map(|r| r.incident_id),
            Ok(Some("guardduty-1".into()))
        );
        for bad in [
            json!({}),
            json!({"instance_id": 7}),
            json!({"instance_id": "vol-1"}),
            json!([]),
        ] {
            assert!(ReleaseRequest::parse(&bad).is_err(), "{bad}");
        }
    }
}
