//! Running what is read after containment: CloudTrail's timeline into a write-once evidence
//! object, then the footholds it shows swept; AWS Config's history of the contained resource.

use std::time::SystemTime;

use aws_sdk_cloudtrail::primitives::{DateTime, DateTimeFormat};

use super::{DEADLINE_MARGIN, Run, ledger_failure};
use crate::actions::{AwsError, Done, cloudtrail, config_history, persistence};
use crate::clients::Clients;
use crate::config_history::{ConfigHistory, ConfigResource};
use crate::ledger::Created;
use crate::names::evidence;
use crate::plan::{Step, TIMELINE_ACTION};
use crate::report::{EvidenceObject, StepReport};
use crate::timeline::{Foothold, Lookup, SweepGuards, Timeline};

impl Run<'_> {
    /// Reads the identity's events from `start` to now into the evidence object `name`
    /// (write-once: an object already there is kept, never replaced).
    pub(super) async fn timeline(
        &self,
        clients: &Clients,
        lookups: &[Lookup],
        start: &str,
        max_events: usize,
        name: &str,
        objects: &mut Vec<EvidenceObject>,
    ) -> Result<Done, AwsError> {
        let (from, end, stop_by) = self.window("Timeline", start)?;
        let client = cloudtrail::client(&clients.sdk_config);
        let mut read = cloudtrail::read(&client, lookups, from, end, max_events, stop_by).await?;
        // The identity's IAM, STS and Organizations calls are in the global region's history.
        let region = clients.sdk_config.region().map(ToString::to_string).unwrap_or_default();
        if let Some(global) = cloudtrail::global_region(&region) {
            let config = clients
                .sdk_config
                .to_builder()
                .region(aws_config::Region::new(global))
                .build();
            let room = max_events.saturating_sub(read.events.len());
            read.merge(cloudtrail::read(&cloudtrail::client(&config), lookups, from, end, room, stop_by).await);
        }
        let end = cloudtrail::rfc3339(&end).unwrap_or_default();
        let timeline = Timeline::new(&self.incident.id, lookups.to_vec(), start, &end, read.events, read.cut);
        let object = self.keep(name, &timeline, objects).await?;
        Ok(Done::new(
            [],
            serde_json::json!({
                "object": object,
                "calls": read.calls,
                "summary": timeline.summary,
                "cut": timeline.cut,
                "end": end,
                "footholds": timeline.footholds(),
                "page": timeline.page_lines(),
            }),
        ))
    }

    /// Reads what AWS Config recorded of `resource` from `start` to now into its evidence
    /// object (write-once, as the timeline). Nothing recorded is an answer, said in the page;
    /// a refusal is the step's failure (Lambda retries it).
    pub(super) async fn config_history(
        &self,
        clients: &Clients,
        resource: &ConfigResource,
        start: &str,
        objects: &mut Vec<EvidenceObject>,
    ) -> Result<Done, AwsError> {
        let (from, end, stop_by) = self.window("ConfigHistory", start)?;
        let read = config_history::read(&clients.config, resource, from, end, stop_by).await?;
        let calls = read.calls;
        let end = cloudtrail::rfc3339(&end).unwrap_or_default();
        let history = ConfigHistory::new(&self.incident.id, resource.clone(), start, &end, read);
        let object = self.keep(&resource.object_name(), &history, objects).await?;
        Ok(Done::new(
            [],
            serde_json::json!({
                "object": object,
                "calls": calls,
                "items": history.items.len(),
                "not_recorded": history.not_recorded,
                "cut": history.cut,
                "summary": history.summary(),
            }),
        ))
    }

    /// The window from `start` (RFC 3339) to now, in whole seconds rounded up (a call made in
    /// this second is in it), and when the reading must stop for the Lambda deadline.
    fn window(&self, operation: &str, start: &str) -> Result<(DateTime, DateTime, Option<SystemTime>), AwsError> {
        let from = DateTime::from_str(start, DateTimeFormat::DateTime)
            .map_err(|err| AwsError::check(operation, "InvalidStart", format!("{start}: {err}")))?;
        let end = DateTime::from_secs(DateTime::from(SystemTime::now()).secs() + 1);
        let stop_by = self.budget.deadline.and_then(|d| d.checked_sub(DEADLINE_MARGIN));
        Ok((from, end, stop_by))
    }

    /// Keeps `value` as the evidence object `name`, write-once: an object already there (an
    /// earlier run wrote it and stopped before its record) is kept, never replaced.
    async fn keep(
        &self,
        name: &str,
        value: &impl serde::Serialize,
        objects: &mut Vec<EvidenceObject>,
    ) -> Result<Option<EvidenceObject>, AwsError> {
        Ok(
            match self.ledger.create_json(name, value).await.map_err(ledger_failure)? {
                Created::Written(object) => {
                    objects.push(object.clone());
                    Some(object)
                }
                Created::Exists => None,
            },
        )
    }

    /// The evidence object a timeline step writes: `timeline.json`, or, when the plan reads
    /// several (an attack sequence's actors), one named after each one's first lookup.
    pub(super) fn timeline_name(&self, lookups: &[Lookup]) -> String {
        let timelines = self
            .plan
            .steps
            .iter()
            .filter(|s| matches!(s.step, Step::Timeline { .. }))
            .count();
        match lookups.first() {
            Some(first) if timelines > 1 => format!("timeline-{}.json", first.value),
            _ => evidence::TIMELINE.to_owned(),
        }
    }

    /// Sweeps the footholds the timeline before it (the nearest one before step `index`) found.
    pub(super) async fn sweep(
        &self,
        clients: &Clients,
        index: usize,
        guards: &SweepGuards,
        before: &[StepReport],
    ) -> Result<Done, AwsError> {
        let Some(footholds) = footholds(self.plan, index, before) else {
            return Err(AwsError::check(
                "SweepPersistence",
                "NoTimeline",
                "the timeline was not read, so its footholds are unknown; a retry reads it first".to_owned(),
            ));
        };
        persistence::sweep(&clients.iam, &footholds, guards).await
    }
}

/// The footholds of the timeline step nearest before step `index`, once it succeeded.
fn footholds(plan: &crate::plan::Plan, index: usize, before: &[StepReport]) -> Option<Vec<Foothold>> {
    let timeline = (0..index)
        .rev()
        .find(|i| matches!(plan.steps.get(*i).map(|p| &p.step), Some(Step::Timeline { .. })))?;
    let report = before
        .iter()
        .find(|s| s.index == timeline && s.succeeded() && s.action == TIMELINE_ACTION)?;
    serde_json::from_value(report.detail["footholds"].clone()).ok()
}
