//! What the responder looks at before it plans: exactly the resource the target names, read-only, where it is.

use std::pin::Pin;

use super::Responder;
use crate::actions::{account_block, buckets, cloudtrail, ec2, iam, lambda, posture, rds, recorder, trail};
use crate::clients::{Acting, Clients};
use crate::ledger::{History, LedgerError, RunKind};
use crate::names;
use crate::observation::Observation;
use crate::place::Place;
use crate::plan::Step;
use crate::target::{LoggingLook, Look, Target};

impl Responder {
    /// Reads what the target names, read-only, in its place; nothing when the target pages
    /// only. When the place's member role was refused, that is what was seen.
    pub(super) async fn observe(&self, target: &Target, acting: &Acting) -> Observation {
        let Target::Act { look, place, .. } = target else {
            return Observation::NotNeeded;
        };
        let observation = self.look(look, &acting.clients).await;
        seen_through(observation, acting, place)
    }

    /// What `look` names in `place`, through that place's own clients (a member of an attack
    /// sequence in another account or region).
    pub(super) fn observe_elsewhere<'a>(&'a self, look: &'a Look, place: &'a Place) -> Observing<'a> {
        Box::pin(async move {
            let acting = Box::pin(self.places.at(place)).await;
            let observation = self.look(look, &acting.clients).await;
            seen_through(observation, &acting, place)
        })
    }

    /// The future that reads what `look` names through `clients`. Each arm's future is boxed
    /// on its own: the describes are large futures, and a sequence nests looks.
    pub(super) fn look<'a>(&'a self, look: &'a Look, clients: &'a Clients) -> Observing<'a> {
        match look {
            Look::Instance { instance_id } => Box::pin(async move {
                let observation = ec2::observe_instance(&clients.ec2, instance_id).await;
                self.with_quarantine_record(observation).await
            }),
            Look::User {
                user_name,
                access_key_id,
            } => Box::pin(iam::observe_user(&clients.iam, user_name, access_key_id.as_deref())),
            Look::Role { role_name } => Box::pin(iam::observe_role(&clients.iam, role_name)),
            Look::SecurityGroup { group_id, rule } => Box::pin(async move {
                let (group, rule) = tokio::join!(
                    posture::observe_security_group(&clients.ec2, group_id),
                    posture::observe_rule(&clients.config, rule),
                );
                group.with_rule(rule)
            }),
            Look::Bucket { name } => Box::pin(posture::observe_bucket(&clients.s3, name)),
            Look::ExposedBucket { name } => Box::pin(buckets::observe_exposed_bucket(&clients.s3, name)),
            Look::Function { function_name } => {
                Box::pin(lambda::observe_function(&clients.lambda, &clients.iam, function_name))
            }
            Look::Database { db_instance_id } => Box::pin(rds::observe_database(&clients.rds, db_instance_id)),
            Look::AccountBlock { account_id } => Box::pin(async move {
                account_block::observe(&account_block::client(&clients.sdk_config), account_id).await
            }),
            // The logging and its caller are read together; logging that cannot be read is
            // what was seen (a retry looks again).
            Look::Logging { logging, actor, .. } => Box::pin(async move {
                let read = async {
                    match logging {
                        LoggingLook::Trail { trail } => {
                            trail::observe(&cloudtrail::client(&clients.sdk_config), trail).await
                        }
                        LoggingLook::Trails => trail::observe_all(&cloudtrail::client(&clients.sdk_config)).await,
                        LoggingLook::Recorders => recorder::observe(&clients.config).await,
                    }
                };
                let caller = async {
                    match actor {
                        Some(look) => Some(Box::new(self.look(look, clients).await)),
                        None => None,
                    }
                };
                let (logging, actor) = tokio::join!(read, caller);
                match logging {
                    Ok(logging) => Observation::Logging { logging, actor },
                    Err(unavailable) => unavailable,
                }
            }),
            // The members are described together, each where it is.
            Look::Sequence { members, .. } => Box::pin(async move {
                Observation::Sequence {
                    members: futures_util::future::join_all(members.iter().map(|m| match &m.place {
                        Some(place) => self.observe_elsewhere(&m.look, place),
                        None => self.look(&m.look, clients),
                    }))
                    .await,
                }
            }),
            Look::UserById { user_id, rule } => Box::pin(async move {
                let (user, rule) = tokio::join!(
                    posture::observe_user_by_id(&clients.iam, user_id),
                    posture::observe_rule(&clients.config, rule),
                );
                user.with_rule(rule)
            }),
        }
    }
}
impl Responder {
    /// `observation`, with Tourniquet's own record of the quarantine an instance's tags claim:
    /// the ledger (in home) of the incident its incident tag names shows a `tag-instance` step
    /// that succeeded on this very instance, and no release of it since. Tags anybody who may
    /// tag the instance can set; the ledger only Tourniquet writes. A ledger that cannot be
    /// read records nothing (the instance is contained), and the observation says so.
    async fn with_quarantine_record(&self, mut observation: Observation) -> Observation {
        let Observation::Instance(state) = &mut observation else {
            return observation;
        };
        if !state.tags.contains_key(names::QUARANTINED_AT_TAG) {
            return observation;
        }
        let Some(incident_id) = state.tags.get(names::INCIDENT_TAG).cloned() else {
            return observation;
        };
        // An incident id is one folder of the ledger: a tag naming anything else records nothing.
        if incident_id.is_empty() || incident_id.contains('/') {
            return observation;
        }
        let ledger = self.ledger(&incident_id);
        let (approved, release) = (ledger.for_run(RunKind::Approved), ledger.for_run(RunKind::Release));
        let (first, approved, release) = tokio::join!(ledger.history(), approved.history(), release.history());
        match recorded(&state.instance_id, first, approved, release) {
            Ok(true) => state.recorded_quarantine = Some(incident_id),
            Ok(false) => {}
            Err(err) => state.notes.push(format!(
                "the ledger of incident {incident_id}, which its quarantine tags name, could not be read ({}): \
                 the quarantine is not taken as recorded",
                err.code()
            )),
        }
        observation
    }
}

/// Whether the histories of an incident's runs record `instance_id` tagged quarantined (by the
/// first run or the approved one) and not released since.
fn recorded(
    instance_id: &str,
    first: Result<History, LedgerError>,
    approved: Result<History, LedgerError>,
    release: Result<History, LedgerError>,
) -> Result<bool, LedgerError> {
    let did = |history: &History, what: &dyn Fn(&Step) -> bool| {
        history.plan.as_ref().is_some_and(|plan| {
            history.steps.values().any(|report| {
                report.succeeded() && plan.steps.get(report.index).is_some_and(|planned| what(&planned.step))
            })
        })
    };
    let tagged = |step: &Step| matches!(step, Step::TagInstance { instance_id: id, .. } if id == instance_id);
    let released = |step: &Step| matches!(step, Step::MarkReleased { instance_id: id, .. } if id == instance_id);
    let (first, approved, release) = (first?, approved?, release?);
    Ok((did(&first, &tagged) || did(&approved, &tagged)) && !did(&release, &released))
}

/// What [`Responder::look`] returns.
pub(super) type Observing<'a> = Pin<Box<dyn Future<Output = Observation> + Send + 'a>>;

/// `observation`, or, when `place`'s member role was refused, that refusal: nothing there
/// could be seen.
pub(super) fn seen_through(observation: Observation, acting: &Acting, place: &Place) -> Observation {
    match (acting.refused(), &place.role_arn) {
        (Some(err), Some(role_arn)) => Observation::RoleRefused {
            role_arn: role_arn.clone(),
            account: place.account.clone(),
            code: err.code,
            message: err.message,
        },
        _ => observation,
    }
}
