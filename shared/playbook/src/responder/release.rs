//! A release, invoked by hand: whether its incident contained what it names, what changed since, and the undo.

use std::time::{Instant, SystemTime};

use serde_json::Value;
use tracing::Instrument;

use super::Responder;
use crate::actions::{ec2, iam, lambda};
use crate::clients::Acting;
use crate::error::Error;
use crate::execute::{Budget, Run};
use crate::intake::release::{ReleaseRequest, Subject};
use crate::ledger::{RunKind, Stored};
use crate::observation::{InstanceState, Observation};
use crate::place::Place;
use crate::plan::Contained;
use crate::plan::{self, Plan, Step};
use crate::plan::{deactivated, undo};
use crate::policy::Playbook;
use crate::report::Report;
use crate::settings::Scope;

impl Responder {
    /// Releases an instance from quarantine (each interface's groups, the Elastic IPs,
    /// protection and its own credentials back as the evidence says; tagged released), a
    /// throttled function (its concurrency as recorded, its role's deny removed; the version
    /// kept as evidence stays), or a user or role from its containment (Tourniquet's deny
    /// policies removed; keys back only when asked). Refuses what no incident contained, and what changed since unless forced.
    /// Recorded and paged. Never deletes evidence or snapshots.
    pub async fn release(&self, request: &Value, budget: Budget) -> Result<Report, Error> {
        let request = ReleaseRequest::parse(request)?;
        let span = tracing::info_span!("release", subject = request.subject.label());
        // Boxed: a release nests every check of the record and the resource; rare, and deep.
        Box::pin(self.release_subject(&request, budget)).instrument(span).await
    }

    pub(super) async fn release_subject(&self, request: &ReleaseRequest, budget: Budget) -> Result<Report, Error> {
        let incident_id = match &request.incident_id {
            Some(id) => id.clone(),
            // Boxed: the look-up's future nests deep (every place's clients) and is rare.
            None => Box::pin(self.incident_of(request)).await?,
        };
        let ledger = self.ledger(&incident_id);
        let (Stored { mut plan, incident }, contained) = contained(ledger.load().await?, &incident_id, request)?;
        // A member of an attack sequence elsewhere is released where it was contained.
        if let Some(there) = crate::plan::where_contained(&plan, &request.subject) {
            plan.place = Some(there);
        }
        if let Some(reason) = Box::pin(self.forbidden_now(&plan)).await? {
            return Err(refuse(request, &reason));
        }
        let acting = self.acting_for(&plan).await;
        let (done, alias) = tokio::join!(
            futures_util::future::try_join_all(contained.done_by().iter().map(|action| ledger.done(action))),
            self.alias(&incident, &acting)
        );
        if !done?.contains(&true) {
            return Err(refuse(request, &format!("incident {incident_id} never contained it")));
        }
        let ledger = ledger.for_run(RunKind::Release);
        let mut history = ledger.history().await?;
        // A second release while the first runs waits for the first's report and follows it,
        // or fails so that it is retried once the first has ended: never beside it.
        if history.maybe_running(SystemTime::now()) {
            tracing::info!(
                incident_id,
                "another invocation is running this release; waiting for its report"
            );
            if !ledger.wait_for_report().await? {
                return Err(Error::InProgress { incident_id });
            }
            history = ledger.history().await?;
        }
        // The release plan is made once and kept, like any plan: a retry resumes it.
        let (release, owner) = if let Some(kept) = history.plan.clone() {
            (kept, false)
        } else {
            let now = SystemTime::now();
            let (mut release, changes) = match &contained {
                Contained::Instance(before) => (
                    plan::plan_release(&plan, before, now),
                    self.instance_drift(&plan, before, &acting).await,
                ),
                Contained::Function(before) => {
                    // What it had before is unknown: removing the setting, or guessing one, is
                    // not putting it back.
                    if let Some(code) = &before.concurrency_error {
                        return Err(refuse(
                            request,
                            &format!(
                                "its reserved concurrency before the throttle was never read ({code}), so a release \
                                 cannot put it back as it was; set it by hand (aws lambda put-function-concurrency \
                                 --function-name {name} --reserved-concurrent-executions N, or \
                                 delete-function-concurrency if it had none), and remove the deny on its role",
                                name = before.name
                            ),
                        ));
                    }
                    let clients = &acting.clients;
                    let found = lambda::observe_function(&clients.lambda, &clients.iam, &before.name).await;
                    (
                        plan::plan_function_release(&plan, before, now),
                        crate::plan::function_drift(before, &found),
                    )
                }
                Contained::Principal => (
                    plan::plan_release_principal(&plan, &request.subject, request.reactivate_keys, now),
                    self.principal_drift(&plan, request, &acting).await,
                ),
            };
            if !changes.is_empty() {
                if !request.force {
                    return Err(refuse(
                        request,
                        &format!(
                            "it changed since the containment: {}; check these, then release with \"force\": true",
                            changes.join("; ")
                        ),
                    ));
                }
                release.reason = format!(
                    "{}; FORCED by the request despite changes since the containment: {}",
                    release.reason,
                    changes.join("; ")
                );
            }
            ledger.plan_once(release, budget.deadline).await?
        };
        let acting = self.acting_for(&release).await;
        let run = Run {
            owner,
            ..self.run(&ledger, &incident, &release, &acting, (budget, Instant::now()), alias)
        };
        self.execute(run, history).await
    }

    /// What changed on a quarantined instance since its quarantine, described where it was
    /// quarantined: its interfaces, addresses and tag, and the deny on its own credentials.
    pub(super) async fn instance_drift(
        &self,
        contained: &Plan,
        before: &InstanceState,
        acting: &Acting,
    ) -> Vec<String> {
        let now = ec2::observe_instance(&acting.clients.ec2, &before.instance_id).await;
        let mut changes = crate::plan::drift(before, &now);
        for planned in &contained.steps {
            if let Step::DenyInstanceCredentials {
                instance_profile,
                instance_id,
                ..
            } = &planned.step
                && *instance_id == before.instance_id
            {
                let policy = crate::plan::INSTANCES_POLICY;
                match crate::actions::release::roles_without(&acting.clients.iam, instance_profile, instance_id, policy)
                    .await
                {
                    Ok(roles) => changes.extend(
                        roles
                            .into_iter()
                            .map(|role| format!("role {role} no longer carries the deny policy {policy}")),
                    ),
                    Err(err) => changes.push(format!("the deny on its credentials could not be checked ({err})")),
                }
            }
        }
        changes
    }

    /// What changed on a contained user or role since its containment.
    pub(super) async fn principal_drift(
        &self,
        contained: &Plan,
        request: &ReleaseRequest,
        acting: &Acting,
    ) -> Vec<String> {
        let iam = &acting.clients.iam;
        let now = match &request.subject {
            Subject::User(name) => iam::observe_user(iam, name, None).await,
            Subject::Role(name) => iam::observe_role(iam, name).await,
            Subject::Instance(_) | Subject::Function(_) => Observation::NotNeeded,
        };
        crate::plan::principal_drift(contained, &request.subject, &now)
    }

    /// The incident that quarantined the requested instance, from its `tourniquet:incident-id`
    /// tag, looked up where the request says, else in every account in scope (listed ones;
    /// with `*`, the home account only) in the request's region or the home region.
    /// Refused when no account or several hold such an instance.
    pub(super) async fn incident_of(&self, request: &ReleaseRequest) -> Result<String, Error> {
        // Intake asks a user's or role's release for its incident: only instances carry a tag.
        let Some(instance_id) = request.instance_id() else {
            return Err(refuse(request, "name the incident whose containment to undo"));
        };
        let policy = self.policy().await?;
        let region = request.region.as_deref();
        let accounts: Vec<Option<&str>> = match (&request.account, &policy.accounts) {
            (Some(account), _) => vec![Some(account.as_str())],
            (None, Scope::Listed(listed)) => std::iter::once(None)
                .chain(listed.iter().map(|a| Some(a.as_str())))
                .collect(),
            (None, Scope::Home | Scope::Any) => vec![None],
        };
        let mut places = Vec::new();
        for account in accounts {
            let place = crate::target::place(account, region, policy).map_err(|reason| refuse(request, &reason))?;
            if !places.contains(&place) {
                places.push(place);
            }
        }
        let lookups = places.iter().map(|place| async move {
            let acting = self.places.at(place).await;
            let found = crate::actions::release::incident_of(&acting.clients.ec2, instance_id).await;
            (place, found)
        });
        let mut candidates = Vec::new();
        for (place, found) in futures_util::future::join_all(lookups).await {
            match found {
                Ok(Some(incident_id)) => candidates.push((place.clone(), incident_id)),
                Ok(None) => {}
                // Not in that account and region: another may hold it.
                Err(err) if err.code == "InvalidInstanceID.NotFound" => {}
                Err(err) => return Err(Error::Release(err)),
            }
        }
        one_incident(request, &places, &candidates)
    }
}

/// The refusal of `request`, for `reason`.
fn refuse(request: &ReleaseRequest, reason: &str) -> Error {
    Error::NotQuarantined {
        subject: request.subject.label(),
        reason: reason.to_owned(),
    }
}

/// The incident's record and what it contained, if incident `incident_id` (as the ledger holds
/// it) contained what the request names: quarantined the instance, throttled the function, or
/// put a deny policy on the user or role (or deactivated one of its keys).
pub fn contained(
    stored: Option<Stored>,
    incident_id: &str,
    request: &ReleaseRequest,
) -> Result<(Stored, Contained), Error> {
    let stored = recorded(stored, incident_id, request)?;
    let refused = |what: &str| refuse(request, &format!("incident {incident_id} {what}"));
    let contained = match (&request.subject, &stored.plan.observation) {
        (Subject::Instance(id), Observation::Instance(before))
            if stored.plan.playbook == Playbook::Ec2Compromise && &before.instance_id == id =>
        {
            Contained::Instance(before.clone())
        }
        // An attack sequence's instances, each quarantined by the one plan of the sequence.
        (Subject::Instance(id), Observation::Sequence { members })
            if stored.plan.playbook == Playbook::AttackSequence =>
        {
            match members.iter().find_map(|m| match m {
                Observation::Instance(before) if &before.instance_id == id => Some(before),
                _ => None,
            }) {
                Some(before) => Contained::Instance(before.clone()),
                None => return Err(refused(&format!("did not quarantine {id}"))),
            }
        }
        (Subject::Instance(id), _) => return Err(refused(&format!("did not quarantine {id}"))),
        (Subject::Function(name), Observation::Function(before))
            if stored.plan.playbook == Playbook::LambdaCompromise
                && (&before.name == name || before.arn.as_ref() == Some(name)) =>
        {
            Contained::Function(before.clone())
        }
        (Subject::Function(name), _) => return Err(refused(&format!("did not throttle {name}"))),
        (Subject::User(_) | Subject::Role(_), _)
            if !undo(&stored.plan, &request.subject).is_empty()
                || !deactivated(&stored.plan, &request.subject).is_empty() =>
        {
            Contained::Principal
        }
        (Subject::User(_) | Subject::Role(_), _) => {
            return Err(refused("put no deny policy on it and deactivated none of its keys"));
        }
    };
    Ok((stored, contained))
}

/// The record of incident `incident_id`, refused when there is none or it happened elsewhere
/// than the request says.
fn recorded(stored: Option<Stored>, incident_id: &str, request: &ReleaseRequest) -> Result<Stored, Error> {
    let stored = stored.ok_or_else(|| {
        refuse(
            request,
            &format!("incident {incident_id} has no record in the evidence bucket"),
        )
    })?;
    // The request may name the account and region; the record says where the incident was.
    let home = Place {
        account: String::new(),
        region: String::new(),
        home: true,
        role_arn: None,
        dry_run: false,
    };
    let place = stored.plan.place.as_ref().unwrap_or(&home);
    let named = |asked: Option<&String>, recorded: &str| asked.is_none_or(|a| recorded.is_empty() || a == recorded);
    let there = |place: &Place| {
        named(request.account.as_ref(), &place.account) && named(request.region.as_ref(), &place.region)
    };
    // An attack sequence's members may be elsewhere: each step says where it acted.
    if !there(place) && !stored.plan.steps.iter().filter_map(|s| s.place.as_ref()).any(there) {
        return Err(refuse(
            request,
            &format!(
                "incident {incident_id} contained it in {}, not where the request says",
                place.label()
            ),
        ));
    }
    Ok(stored)
}

/// The one incident whose tag the requested instance carries among the places looked in
/// (`candidates`: place and incident id); refused when none or several do, naming them.
pub fn one_incident(
    request: &ReleaseRequest,
    searched: &[Place],
    candidates: &[(Place, String)],
) -> Result<String, Error> {
    match candidates {
        [] => Err(refuse(
            request,
            &format!(
                "it carries no tourniquet:incident-id tag in {} (or is not there); name the incident, or \
             the account and region",
                searched.iter().map(Place::label).collect::<Vec<_>>().join("; ")
            ),
        )),
        [(_, incident_id)] => Ok(incident_id.clone()),
        several => Err(refuse(
            request,
            &format!(
                "the instance id is ambiguous; name the account (or the incident) of one of: {}",
                several
                    .iter()
                    .map(|(place, incident)| format!("{} (incident {incident})", place.label()))
                    .collect::<Vec<_>>()
                    .join("; ")
            ),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    pub(super) fn an_ambiguous_instance_id_is_refused_with_the_candidates() {
        let request = ReleaseRequest::parse(&json!({"instance_id": "i-0abc"})).unwrap();
        let place = |account: &str| Place {
            account: account.to_owned(),
            region: "us-east-1".to_owned(),
            home: false,
            role_arn: None,
            dry_run: false,
        };
        let searched = [place("111111111111"), place("222222222222")];
        assert_eq!(
            one_incident(&request, &searched, &[(place("222222222222"), "guardduty-2".into())]).unwrap(),
            "guardduty-2"
        );
        let err = one_incident(
            &request,
            &searched,
            &[
                (place("111111111111"), "guardduty-1".into()),
                (place("222222222222"), "guardduty-2".into()),
            ],
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("ambiguous")
                && err.contains("account 111111111111, region us-east-1 (incident guardduty-1)")
                && err.contains("guardduty-2"),
            "{err}"
        );
        let none = one_incident(&request, &searched, &[]).unwrap_err().to_string();
        assert!(none.contains("111111111111") && none.contains("222222222222"), "{none}");
    }
}
