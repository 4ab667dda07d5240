//! The restore-logging plan: restart the stopped logging as it was, contain its caller through the credential playbook, state the gap.

use super::{Plan, PlannedStep, Planner, Step, steps};
use crate::incident::{Incident, Resource};
use crate::observation::Observation;
use crate::observation::logging::{LoggingState, RecorderState, TrailState, Unrecorded};
use crate::policy::Playbook;
use crate::target::{Look, Target};

impl Planner<'_> {
    /// One plan: the restart, the caller's containment (with every guard of the credential
    /// playbook: protected tags and principals, the responder's own roles, root), one page
    /// that states the window nothing was recorded in.
    pub(super) fn restore_logging(&self, look: &Look, logging: &LoggingState, actor: Option<&Observation>) -> Plan {
        let (
            Look::Logging {
                actor: actor_look,
                unanswered,
                ..
            },
            Resource::Logging(evasion),
            Some(place),
        ) = (look, &self.incident.resource, self.place)
        else {
            return self.page_only(format!(
                "{} was not described; paging only",
                self.incident.resource.label()
            ));
        };
        let mut middle: Vec<PlannedStep> = Vec::new();
        let mut lines: Vec<String> = Vec::new();
        let region = place.region.as_str();
        let restarts = restarts(logging, region, evasion.stopped_at.as_deref(), &self.planned_at);
        for (step, line) in restarts {
            middle.extend(step);
            lines.push(line);
        }
        match (actor_look, actor, &evasion.actor) {
            (Some(actor_look), Some(observed), Some(actor)) => {
                let incident = Incident {
                    resource: actor.resource(),
                    // The write-back is this plan's own, once.
                    security_hub: None,
                    ..self.incident.clone()
                };
                let target = Target::Act {
                    playbook: Playbook::CredentialCompromise,
                    look: (**actor_look).clone(),
                    place: place.clone(),
                };
                let plan = super::plan(&incident, &target, observed, self.policy, self.now);
                let contained = plan.steps.iter().any(|s| s.step.mutates());
                lines.push(format!(
                    "the caller {}: {}{}",
                    incident.resource.label(),
                    plan.reason,
                    if contained { "" } else { " (listed only)" }
                ));
                middle.extend(plan.steps.into_iter().filter(|s| {
                    !matches!(
                        s.step,
                        Step::RecordEvidence | Step::Page | Step::PageUpdate | Step::UpdateFinding { .. }
                    )
                }));
            }
            _ => lines.extend(unanswered.iter().cloned()),
        }
        let who = evasion.actor.as_ref().map(|a| a.resource().label());
        let how = match (who, &evasion.call) {
            (Some(who), Some(call)) => format!(" (stopped by {who} calling {call})"),
            (Some(who), None) => format!(" (stopped by {who})"),
            (None, Some(call)) => format!(" (stopped by {call})"),
            (None, None) => String::new(),
        };
        let mut reason = format!(
            "severity {:.1} {}: restore {}{how}",
            self.incident.severity,
            self.incident.finding_type,
            evasion.stopped.label(),
        );
        for line in lines {
            reason.push_str("\n- ");
            reason.push_str(&line);
        }
        if !middle.iter().any(|s| s.step.mutates()) {
            return self.page_only(format!("{reason}\nnothing to restart or contain; paging only"));
        }
        self.plan(Playbook::RestoreLogging, reason, steps(middle))
    }
}

/// Each restart the observed logging needs, with its line; logging that is gone pages with the
/// command that makes it again.
fn restarts(
    logging: &LoggingState,
    region: &str,
    reported_stop: Option<&str>,
    planned_at: &str,
) -> Vec<(Option<PlannedStep>, String)> {
    match logging {
        LoggingState::Trail(trail) => vec![restart_trail(
            trail,
            Some(region).filter(|r| !r.is_empty()),
            reported_stop,
            planned_at,
        )],
        LoggingState::Trails { trails } if trails.is_empty() => vec![(
            None,
            format!(
                "no trail has its home in {region}: nothing records this region's management events unless a \
                 multi-region trail elsewhere does; create one: aws cloudtrail create-trail --name <name> \
                 --s3-bucket-name <bucket> --is-multi-region-trail --enable-log-file-validation && aws cloudtrail \
                 start-logging --name <name>"
            ),
        )],
        LoggingState::Trails { trails } => trails
            .iter()
            .map(|t| restart_trail(t, Some(region).filter(|r| !r.is_empty()), reported_stop, planned_at))
            .collect(),
        LoggingState::Recorders { recorders } if recorders.is_empty() => vec![(
            None,
            format!(
                "no AWS Config recorder in {region} (deleted, or never made): AWS Config records nothing here; \
                 re-create it from its last settings: aws configservice put-configuration-recorder \
                 --configuration-recorder name=default,roleARN=<its role> --recording-group allSupported=true \
                 && aws configservice start-configuration-recorder --configuration-recorder-name default"
            ),
        )],
        LoggingState::Recorders { recorders } => recorders
            .iter()
            .map(|r| restart_recorder(r, region, reported_stop, planned_at))
            .collect(),
    }
}

/// The restart of a Config recorder that is not recording, and its line; one recording
/// again has no step.
fn restart_recorder(
    recorder: &RecorderState,
    region: &str,
    reported_stop: Option<&str>,
    planned_at: &str,
) -> (Option<PlannedStep>, String) {
    let name = &recorder.name;
    let unrecorded = Unrecorded {
        logging: format!("AWS Config recorder {name}"),
        from: recorder
            .stopped_at
            .clone()
            .or_else(|| reported_stop.map(ToOwned::to_owned)),
        until: None,
        region: Some(region.to_owned()).filter(|r| !r.is_empty()),
    };
    if recorder.recording == Some(true) {
        let gap = Unrecorded {
            until: recorder.started_at.clone(),
            ..unrecorded
        };
        return (
            None,
            format!(
                "AWS Config recorder {name} is recording already; {}",
                gap.describe("it was started again")
            ),
        );
    }
    let line = format!(
        "AWS Config recorder {name}: start recording again (StartConfigurationRecorder); {}",
        unrecorded.describe(&format!("the restart (planned at {planned_at})"))
    );
    let step = PlannedStep {
        step: Step::StartRecorder {
            name: name.clone(),
            unrecorded,
        },
        reason: "the recorder was stopped: record configuration changes again, as it was configured".to_owned(),
        place: None,
    };
    (Some(step), line)
}

/// The restart of a trail that is not logging, and the line that says what it does and what
/// went unrecorded; a trail logging again or deleted has no step, only its line.
fn restart_trail(
    trail: &TrailState,
    region: Option<&str>,
    reported_stop: Option<&str>,
    planned_at: &str,
) -> (Option<PlannedStep>, String) {
    let name = trail
        .name
        .clone()
        .unwrap_or_else(|| trail.trail.rsplit('/').next().unwrap_or(&trail.trail).to_owned());
    if trail.missing {
        return (
            None,
            format!(
                "trail {name} no longer exists (deleted): nothing was recorded by it since; re-create it from its \
                 last configuration and start it: aws cloudtrail create-trail --name {name} --s3-bucket-name <its \
                 bucket> --is-multi-region-trail --enable-log-file-validation && aws cloudtrail start-logging --name \
                 {name}"
            ),
        );
    }
    // Settings a restart does not bring back: named, with the command (their previous values
    // are in the evidence's pre-state).
    let mut weakened = Vec::new();
    if trail.multi_region == Some(false) {
        weakened.push(("records one region only", "--is-multi-region-trail"));
    }
    if trail.log_file_validation == Some(false) {
        weakened.push(("log file validation is off", "--enable-log-file-validation"));
    }
    if trail.include_global_service_events == Some(false) {
        weakened.push((
            "global service events (IAM, STS) are excluded",
            "--include-global-service-events",
        ));
    }
    let settings = (!weakened.is_empty()).then(|| {
        format!(
            "; trail {name} {}: if that is not on purpose, aws cloudtrail update-trail --name {name} {}",
            weakened.iter().map(|(what, _)| *what).collect::<Vec<_>>().join(", "),
            weakened.iter().map(|(_, flag)| *flag).collect::<Vec<_>>().join(" ")
        )
    });
    let settings = settings.unwrap_or_default();
    let unrecorded = Unrecorded {
        logging: format!("trail {name}"),
        // The service's own stop time, else the report's sighting of the call.
        from: trail
            .stopped_at
            .clone()
            .or_else(|| reported_stop.map(ToOwned::to_owned)),
        until: None,
        region: match trail.multi_region {
            Some(true) => None,
            _ => trail.home_region.clone().or_else(|| region.map(ToOwned::to_owned)),
        },
    };
    if trail.logging == Some(true) {
        let gap = Unrecorded {
            until: trail.started_at.clone(),
            ..unrecorded
        };
        return (
            None,
            format!(
                "trail {name} is logging again already; {}{settings}",
                gap.describe("it was started again")
            ),
        );
    }
    let line = format!(
        "trail {name}: start logging again (StartLogging, in its home region {}); {}{settings}",
        trail
            .home_region
            .as_deref()
            .or(region)
            .unwrap_or("the incident's region"),
        unrecorded.describe(&format!("the restart (planned at {planned_at})"))
    );
    let step = PlannedStep {
        step: Step::StartLogging {
            trail: trail.arn.clone().unwrap_or_else(|| trail.trail.clone()),
            unrecorded,
        },
        reason: "the trail was stopped: record again, as it was configured".to_owned(),
        place: None,
    };
    (Some(step), line)
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::time::SystemTime;

    use serde_json::Value;

    use super::*;
    use crate::observation::{PrincipalKind, PrincipalState};
    use crate::policy::Policy;
    use crate::settings::Settings;

    const SAMPLE: &str = include_str!("../../../../events/guardduty/cloudtrail-logging-disabled.json");

    fn policy(protected: Option<&str>) -> Policy {
        let protected = protected.map(ToOwned::to_owned);
        let settings = Settings::from_lookup(|var| match var {
            "TOURNIQUET_TOPIC_ARN" => Some("arn:aws:sns:us-east-1:123456789012:pages".into()),
            "TOURNIQUET_EVIDENCE_BUCKET" => Some("evidence".into()),
            "TOURNIQUET_PROTECTED_PRINCIPALS" => protected.clone(),
            _ => None,
        })
        .unwrap();
        Policy::new(&settings).unwrap().with_own_arn(Some(
            "arn:aws:sts::123456789012:assumed-role/tourniquet/responder".into(),
        ))
    }

    fn stopped_trail() -> TrailState {
        TrailState {
            trail: "arn:aws:cloudtrail:us-east-1:123456789012:trail/management-events".into(),
            arn: Some("arn:aws:cloudtrail:us-east-1:123456789012:trail/management-events".into()),
            name: Some("management-events".into()),
            home_region: Some("us-east-1".into()),
            logging: Some(false),
            stopped_at: Some("2024-06-11T03:14:56Z".into()),
            multi_region: Some(true),
            ..TrailState::default()
        }
    }

    fn respond(event: &Value, policy: &Policy, trail: TrailState) -> Plan {
        let incident = crate::intake::parse(event).unwrap().incident().unwrap();
        let target = crate::target::target(&incident, policy);
        let observation = match &target {
            Target::Act {
                look: Look::Logging { actor, .. },
                ..
            } => Observation::Logging {
                logging: LoggingState::Trail(Box::new(trail)),
                actor: actor.as_ref().map(|look| {
                    let name = match &**look {
                        Look::User { user_name, .. } | Look::Role { role_name: user_name } => user_name.clone(),
                        _ => String::new(),
                    };
                    Box::new(Observation::Principal(Box::new(PrincipalState {
                        kind: if matches!(**look, Look::User { .. }) {
                            PrincipalKind::User
                        } else {
                            PrincipalKind::Role
                        },
                        name,
                        tags: Some(BTreeMap::new()),
                        ..PrincipalState::default()
                    })))
                }),
            },
            _ => Observation::NotNeeded,
        };
        super::super::plan(&incident, &target, &observation, policy, SystemTime::UNIX_EPOCH)
    }

    fn actions(plan: &Plan) -> Vec<&'static str> {
        plan.steps.iter().map(|s| s.step.action()).collect()
    }

    #[test]
    fn a_stopped_trail_is_restarted_its_caller_contained_and_the_gap_stated() {
        let event: Value = serde_json::from_str(SAMPLE).unwrap();
        let plan = respond(&event, &policy(None), stopped_trail());
        assert_eq!(plan.playbook, Playbook::RestoreLogging, "{}", plan.reason);
        let actions = actions(&plan);
        for action in ["start-logging", "deactivate-access-key", "deny-all-user", "page"] {
            assert!(actions.contains(&action), "{action}: {actions:?}");
        }
        assert_eq!(actions.iter().filter(|a| **a == "page").count(), 1);
        let Some(Step::StartLogging { trail, unrecorded }) = plan
            .steps
            .iter()
            .map(|s| &s.step)
            .find(|s| matches!(s, Step::StartLogging { .. }))
        else {
            panic!("{actions:?}")
        };
        assert_eq!(
            trail,
            "arn:aws:cloudtrail:us-east-1:123456789012:trail/management-events"
        );
        // The service's stop time wins over the report's sighting; every region for a multi-region trail.
        assert_eq!(unrecorded.from.as_deref(), Some("2024-06-11T03:14:56Z"));
        assert_eq!(unrecorded.region, None);
        assert!(
            plan.reason
                .contains("recorded nothing in every region (a multi-region trail) from 2024-06-11T03:14:56Z"),
            "{}",
            plan.reason
        );
        assert!(
            plan.reason.contains("the caller AKIAIOSFODNN7EXAMPLE (ci-deployer): "),
            "{}",
            plan.reason
        );
        assert!(
            plan.reason.contains(
                "(stopped by AKIAIOSFODNN7EXAMPLE (ci-deployer) calling cloudtrail.amazonaws.com:StopLogging)"
            ),
            "{}",
            plan.reason
        );
    }

    #[test]
    fn a_protected_caller_is_listed_only_and_the_trail_still_restarted() {
        let event: Value = serde_json::from_str(SAMPLE).unwrap();
        let plan = respond(
            &event,
            &policy(Some("ci-*")),
            TrailState {
                multi_region: Some(false),
                stopped_at: None,
                ..stopped_trail()
            },
        );
        assert_eq!(plan.playbook, Playbook::RestoreLogging, "{}", plan.reason);
        assert_eq!(
            plan.steps
                .iter()
                .filter(|s| s.step.mutates())
                .map(|s| s.step.action())
                .collect::<Vec<_>>(),
            ["start-logging"]
        );
        assert!(
            plan.reason.contains("protected principal") && plan.reason.contains("(listed only)"),
            "{}",
            plan.reason
        );
        // A single-region trail's gap is its region; without the service's stop time, the report's.
        assert!(
            plan.reason.contains("in us-east-1 from 2024-06-11T03:14:55.000Z"),
            "{}",
            plan.reason
        );
    }

    #[test]
    fn a_trail_logging_again_or_deleted_has_no_restart() {
        let event: Value = serde_json::from_str(SAMPLE).unwrap();
        let running = respond(
            &event,
            &policy(None),
            TrailState {
                logging: Some(true),
                started_at: Some("2024-06-11T03:20:00Z".into()),
                ..stopped_trail()
            },
        );
        assert!(!actions(&running).contains(&"start-logging"));
        assert!(running.reason.contains("logging again already"), "{}", running.reason);
        assert!(
            running.reason.contains("until 2024-06-11T03:20:00Z"),
            "{}",
            running.reason
        );
        assert!(
            actions(&running).contains(&"deny-all-user"),
            "the caller is still contained"
        );
        let deleted = respond(
            &event,
            &policy(Some("ci-deployer")),
            TrailState {
                missing: true,
                trail: "arn:aws:cloudtrail:us-east-1:123456789012:trail/management-events".into(),
                ..TrailState::default()
            },
        );
        assert_eq!(deleted.playbook, Playbook::PageOnly, "{}", deleted.reason);
        assert!(
            deleted
                .reason
                .contains("aws cloudtrail create-trail --name management-events"),
            "{}",
            deleted.reason
        );
    }

    #[test]
    fn a_root_caller_is_named_and_the_trail_restarted() {
        let mut event: Value = serde_json::from_str(SAMPLE).unwrap();
        event["detail"]["resource"]["accessKeyDetails"]["userType"] = "Root".into();
        let plan = respond(&event, &policy(None), stopped_trail());
        assert_eq!(plan.playbook, Playbook::RestoreLogging, "{}", plan.reason);
        assert!(plan.reason.contains("root credentials in use"), "{}", plan.reason);
        assert_eq!(
            plan.steps.iter().filter(|s| s.step.mutates()).count(),
            1,
            "{:?}",
            actions(&plan)
        );
    }

    #[test]
    fn dry_run_keeps_the_whole_plan() {
        let event: Value = serde_json::from_str(SAMPLE).unwrap();
        let mut dry = policy(None);
        dry.dry_run = true;
        let wet = respond(&event, &policy(None), stopped_trail());
        let planned = respond(&event, &dry, stopped_trail());
        assert!(planned.dry_run);
        assert_eq!(planned.steps, wet.steps);
    }

    const CONFIG_ALARM: &str = include_str!("../../../../events/cloudwatch/config-changes-alarm.json");
    const TRAIL_ALARM: &str = include_str!("../../../../events/cloudwatch/cloudtrail-configuration-changes-alarm.json");

    fn alarm_plan(sample: &str, logging: LoggingState) -> Plan {
        let event: Value = serde_json::from_str(sample).unwrap();
        let incident = crate::intake::parse(&event).unwrap().incident().unwrap();
        let policy = policy(None);
        let target = crate::target::target(&incident, &policy);
        let observation = Observation::Logging { logging, actor: None };
        super::super::plan(&incident, &target, &observation, &policy, SystemTime::UNIX_EPOCH)
    }

    #[test]
    fn the_config_alarm_starts_each_stopped_recorder_of_the_region() {
        let recorder = |name: &str, recording| RecorderState {
            name: name.into(),
            recording: Some(recording),
            stopped_at: Some("2024-06-03T13:41:00Z".into()),
            ..RecorderState::default()
        };
        let plan = alarm_plan(
            CONFIG_ALARM,
            LoggingState::Recorders {
                recorders: vec![recorder("default", false), recorder("other", true)],
            },
        );
        assert_eq!(plan.playbook, Playbook::RestoreLogging, "{}", plan.reason);
        let started: Vec<&str> = plan
            .steps
            .iter()
            .filter_map(|s| match &s.step {
                Step::StartRecorder { name, .. } => Some(name.as_str()),
                _ => None,
            })
            .collect();
        assert_eq!(started, ["default"]);
        assert!(
            plan.reason
                .contains("AWS Config recorder default recorded nothing in us-east-1 from 2024-06-03T13:41:00Z"),
            "{}",
            plan.reason
        );
        assert!(
            plan.reason.contains("recorder other is recording already"),
            "{}",
            plan.reason
        );
        assert!(plan.reason.contains("the report names no caller"), "{}", plan.reason);
        // No recorder left: a page with the command that makes one again.
        let none = alarm_plan(CONFIG_ALARM, LoggingState::Recorders { recorders: vec![] });
        assert_eq!(none.playbook, Playbook::PageOnly, "{}", none.reason);
        assert!(none.reason.contains("put-configuration-recorder"), "{}", none.reason);
    }

    #[test]
    fn the_trail_alarm_starts_each_stopped_trail_of_the_region() {
        let plan = alarm_plan(
            TRAIL_ALARM,
            LoggingState::Trails {
                trails: vec![
                    stopped_trail(),
                    TrailState {
                        logging: Some(true),
                        name: Some("other".into()),
                        ..stopped_trail()
                    },
                ],
            },
        );
        assert_eq!(plan.playbook, Playbook::RestoreLogging, "{}", plan.reason);
        assert_eq!(
            plan.steps.iter().filter(|s| s.step.action() == "start-logging").count(),
            1
        );
        let none = alarm_plan(TRAIL_ALARM, LoggingState::Trails { trails: vec![] });
        assert_eq!(none.playbook, Playbook::PageOnly, "{}", none.reason);
        assert!(none.reason.contains("no trail has its home in"), "{}", none.reason);
    }

    const VALIDATION_RULE: &str =
        include_str!("../../../../events/config/cloud-trail-log-file-validation-enabled-noncompliant.json");

    #[test]
    fn a_trail_whose_settings_were_weakened_pages_the_command_that_restores_them() {
        let event: Value = serde_json::from_str(VALIDATION_RULE).unwrap();
        let incident = crate::intake::parse(&event).unwrap().incident().unwrap();
        let policy = policy(None);
        let target = crate::target::target(&incident, &policy);
        assert!(
            matches!(&target, Target::Act { look: Look::Logging { logging: crate::target::LoggingLook::Trail { trail }, .. }, .. } if trail == "management-events"),
            "{target:?}"
        );
        let observation = Observation::Logging {
            logging: LoggingState::Trail(Box::new(TrailState {
                logging: Some(true),
                multi_region: Some(false),
                log_file_validation: Some(false),
                ..stopped_trail()
            })),
            actor: None,
        };
        let plan = super::super::plan(&incident, &target, &observation, &policy, SystemTime::UNIX_EPOCH);
        assert_eq!(plan.playbook, Playbook::PageOnly, "{}", plan.reason);
        assert!(
            plan.reason.contains(
                "records one region only, log file validation is off: if that is not on purpose, aws cloudtrail \
                 update-trail --name management-events --is-multi-region-trail --enable-log-file-validation"
            ),
            "{}",
            plan.reason
        );
    }
}
