//! Organization-wide response: a home (security) account contains incidents in member accounts.

use anyhow::{Context, Result};
use aws_config::Region;
use aws_sdk_ec2::types::{Filter, InstanceType};
use playbook::{Budget, Error, Outcome, Playbook, Report, Responder, Settings};
use serde_json::{Value, json};
use tourniquet_tests::emulator::emulator;
use tourniquet_tests::events;
use tourniquet_tests::org::{MEMBER_ROLE, Org};
use tourniquet_tests::world::World;

const SSH_BRUTE_FORCE: &str = "guardduty/ec2-ssh-brute-force-web-server.json";
const KEY_FINDING: &str = "guardduty/iam-user-malicious-ip-caller.json";

async fn respond(responder: &Responder, event: Value) -> Result<Report> {
    responder.handle(event).await?.report().context("an incident")
}

async fn isolated(world: &World) -> Result<bool> {
    let Some(isolation) = world.quarantine_group("isolation").await? else {
        return Ok(false);
    };
    let groups = world.interface_groups(&world.web.interfaces).await?;
    Ok(groups.values().all(|g| g == &vec![isolation.id.clone()]))
}

/// Nothing of the playbooks happened in `world`: no quarantine group, no snapshot, no tag.
async fn untouched(world: &World) -> Result<()> {
    assert!(world.quarantine_group("isolation").await?.is_none());
    assert!(world.quarantine_group("conversion").await?.is_none());
    assert!(world.snapshots(&world.web.instance_id).await?.is_empty());
    assert!(!world.termination_protection(&world.web.instance_id).await?);
    let tags = world.instance_tags(&world.web.instance_id).await?;
    assert!(!tags.contains_key("tourniquet:incident-id"), "{tags:?}");
    assert_eq!(world.deployer_key_status().await?, ["Active", "Active"]);
    Ok(())
}

#[tokio::test]
async fn an_ec2_finding_from_a_member_is_contained_in_the_member() -> Result<()> {
    let org = Org::seed().await?;
    let responder = org
        .home
        .responder_as("guardduty-responder", org.settings(&[&org.a, &org.b], &[]))
        .await?;
    // The member account has an alias: the page names it, read through the member role.
    org.a
        .account
        .clients
        .iam
        .create_account_alias()
        .account_alias("member-a-prod")
        .send()
        .await?;
    let report = respond(&responder, events::for_world(SSH_BRUTE_FORCE, &org.a)?).await?;
    assert!(report.is_complete(), "{report:#?}");
    assert_eq!(report.playbook, Playbook::Ec2Compromise);
    let place = report.place.clone().context("a place")?;
    assert_eq!((place.account.as_str(), place.home), (org.a.account.id.as_str(), false));
    let acted_as = report.acted_as.clone().unwrap_or_default();
    assert!(
        acted_as.starts_with(&format!(
            "arn:aws:sts::{}:assumed-role/{MEMBER_ROLE}/",
            org.a.account.id
        )),
        "{acted_as}"
    );

    assert!(isolated(&org.a).await?, "A's instance isolated in A");
    assert_eq!(org.a.snapshots(&org.a.web.instance_id).await?.len(), 2);
    let tags = org.a.instance_tags(&org.a.web.instance_id).await?;
    assert_eq!(tags.get("tourniquet:incident-id"), Some(&report.incident_id));
    untouched(&org.home).await?;
    untouched(&org.b).await?;

    // Evidence and the page stay in home, and name A.
    let keys = org.home.evidence_keys().await?;
    assert!(keys.iter().any(|k| k.contains(&report.incident_id)), "{keys:?}");
    let plan = org
        .home
        .evidence(&format!("incidents/{}/plan.json", report.incident_id))
        .await?;
    assert_eq!(plan["place"]["account"], json!(org.a.account.id));
    let pages = org.home.pages().await?;
    assert_eq!(pages.len(), 1);
    assert!(pages[0].message.contains(&org.a.account.id), "{}", pages[0].message);
    assert!(
        pages[0].subject.contains("member-a-prod")
            || pages[0]
                .message
                .contains(&format!("member-a-prod ({})", org.a.account.id)),
        "the member's alias: {} / {}",
        pages[0].subject,
        pages[0].message
    );
    assert!(org.a.pages().await?.is_empty(), "no page from the member");
    Ok(())
}

#[tokio::test]
async fn a_key_finding_from_a_member_touches_only_the_members_namesake() -> Result<()> {
    let org = Org::seed().await?;
    let mut keys = Vec::new();
    for world in [&org.home, &org.b] {
        let iam = &world.account.clients.iam;
        iam.create_user().user_name("alice").send().await?;
        let key = iam.create_access_key().user_name("alice").send().await?;
        keys.push(key.access_key().context("a key")?.access_key_id().to_owned());
    }
    let responder = org
        .home
        .responder_as("guardduty-responder", org.settings(&[&org.a, &org.b], &[]))
        .await?;
    let mut event = events::for_world(KEY_FINDING, &org.b)?;
    event["detail"]["resource"]["accessKeyDetails"]["userName"] = json!("alice");
    event["detail"]["resource"]["accessKeyDetails"]["accessKeyId"] = json!(keys[1]);
    let report = respond(&responder, event).await?;
    assert!(report.is_complete(), "{report:#?}");
    assert_eq!(report.playbook, Playbook::CredentialCompromise);

    let status = |world: &World| {
        let iam = world.account.clients.iam.clone();
        async move {
            let keys = iam.list_access_keys().user_name("alice").send().await?;
            anyhow::Ok(
                keys.access_key_metadata()
                    .iter()
                    .map(|k| k.status().map(|s| s.as_str().to_owned()).unwrap_or_default())
                    .collect::<Vec<_>>(),
            )
        }
    };
    assert_eq!(status(&org.b).await?, ["Inactive"], "B's alice is cut off");
    assert_eq!(status(&org.home).await?, ["Active"], "home's alice is not");
    assert!(org.home.user_policy("alice", "tourniquet-deny-all").await?.is_none());
    Ok(())
}

#[tokio::test]
async fn an_account_out_of_scope_pages_only() -> Result<()> {
    let org = Org::seed().await?;
    let responder = org
        .home
        .responder_as("guardduty-responder", org.settings(&[&org.a], &[]))
        .await?;
    let report = respond(&responder, events::for_world(SSH_BRUTE_FORCE, &org.b)?).await?;
    assert_eq!(report.playbook, Playbook::PageOnly);
    assert!(
        report.reason.contains("not in TOURNIQUET_ACCOUNTS"),
        "{}",
        report.reason
    );
    for world in [&org.home, &org.a, &org.b] {
        untouched(world).await?;
    }
    let pages = org.home.pages().await?;
    assert_eq!(pages.len(), 1);
    assert!(pages[0].message.contains(&org.b.account.id), "{}", pages[0].message);
    Ok(())
}

#[tokio::test]
async fn a_dry_run_account_is_probed_and_paged_not_changed() -> Result<()> {
    let org = Org::seed().await?;
    let responder = org
        .home
        .responder_as("guardduty-responder", org.settings(&[&org.a, &org.b], &[&org.a]))
        .await?;
    let report = respond(&responder, events::for_world(SSH_BRUTE_FORCE, &org.a)?).await?;
    assert!(report.dry_run, "{report:#?}");
    assert!(
        report.reason.contains("TOURNIQUET_DRY_RUN_ACCOUNTS"),
        "{}",
        report.reason
    );
    let probes: Vec<&Value> = report
        .steps
        .iter()
        .filter(|s| s.outcome == Outcome::DryRun)
        .filter_map(|s| s.detail.get("probe"))
        .collect();
    assert!(
        probes
            .iter()
            .any(|p| p.as_str() == Some("the deployed role is allowed")),
        "{probes:?}"
    );
    untouched(&org.a).await?;
    let pages = org.home.pages().await?;
    assert_eq!(pages.len(), 1);
    assert!(pages[0].message.contains("DRY RUN"), "{}", pages[0].message);
    // The same finding from B, not in dry run, acts.
    let acted = respond(&responder, events::for_world(SSH_BRUTE_FORCE, &org.b)?).await?;
    assert!(!acted.dry_run && acted.is_complete(), "{acted:#?}");
    assert!(isolated(&org.b).await?);
    Ok(())
}

#[tokio::test]
async fn a_member_role_that_cannot_be_assumed_pages_and_changes_nothing() -> Result<()> {
    let org = Org::seed().await?;
    let role_arn = Org::role_arn(&org.b);
    emulator().refuse_role(&role_arn)?;
    let responder = org
        .home
        .responder_as("guardduty-responder", org.settings(&[&org.a, &org.b], &[]))
        .await?;
    let event = events::for_world(SSH_BRUTE_FORCE, &org.b)?;
    for attempt in 0..2 {
        let err = responder
            .handle(event.clone())
            .await
            .expect_err("the invocation errors");
        let Error::RoleRefused { account, report, .. } = &err else {
            panic!("attempt {attempt}: {err:?}");
        };
        assert!(err.is_retryable());
        assert_eq!(account, &org.b.account.id);
        assert_eq!(report.playbook, Playbook::PageOnly);
        assert!(report.reason.contains("AccessDenied"), "{}", report.reason);
    }
    for world in [&org.home, &org.b] {
        untouched(world).await?;
    }
    let pages = org.home.pages().await?;
    assert_eq!(pages.len(), 1, "one page, not one per retry");
    let message = &pages[0].message;
    assert!(
        message.contains(&role_arn) && message.contains("member.yaml"),
        "{message}"
    );
    Ok(())
}

#[tokio::test]
async fn a_finding_in_another_region_is_acted_on_there() -> Result<()> {
    const REGION: &str = "eu-west-1";
    let org = Org::seed().await?;
    let config = org.a.account.config.to_builder().region(Region::new(REGION)).build();
    let ec2 = aws_sdk_ec2::Client::new(&config);
    let image = ec2.describe_images().owners("amazon").send().await?;
    let image_id = image.images().first().and_then(|i| i.image_id()).context("an image")?;
    let launched = ec2
        .run_instances()
        .image_id(image_id)
        .instance_type(InstanceType::T3Micro)
        .min_count(1)
        .max_count(1)
        .send()
        .await?;
    let instance = launched.instances().first().context("an instance")?;
    let instance_id = instance.instance_id().context("an id")?;
    let vpc_id = instance.vpc_id().context("a VPC")?;

    let responder = org
        .home
        .responder_as("guardduty-responder", org.settings(&[&org.a], &[]))
        .await?;
    let mut event = events::for_world(SSH_BRUTE_FORCE, &org.a)?;
    event["region"] = json!(REGION);
    event["detail"]["region"] = json!(REGION);
    event["detail"]["resource"]["instanceDetails"]["instanceId"] = json!(instance_id);
    let report = respond(&responder, event).await?;
    assert!(report.is_complete(), "{report:#?}");
    assert_eq!(report.place.as_ref().map(|p| p.region.as_str()), Some(REGION));

    let isolation = ec2
        .describe_security_groups()
        .filters(Filter::builder().name("vpc-id").values(vpc_id).build())
        .filters(
            Filter::builder()
                .name("tag:tourniquet:role")
                .values("isolation")
                .build(),
        )
        .send()
        .await?;
    let group = isolation
        .security_groups()
        .first()
        .context("an isolation group in eu-west-1")?;
    let interfaces = ec2
        .describe_network_interfaces()
        .filters(
            Filter::builder()
                .name("attachment.instance-id")
                .values(instance_id)
                .build(),
        )
        .send()
        .await?;
    for interface in interfaces.network_interfaces() {
        let groups: Vec<_> = interface.groups().iter().filter_map(|g| g.group_id()).collect();
        assert_eq!(groups, [group.group_id().unwrap_or_default()]);
    }
    untouched(&org.a).await?;
    Ok(())
}

#[tokio::test]
async fn a_members_instance_is_approved_then_released() -> Result<()> {
    let org = Org::seed().await?;
    let settings = Settings {
        max_quarantined: 0,
        ..org.settings(&[&org.a, &org.b], &[])
    };
    let responder = org.home.responder_as("guardduty-responder", settings.clone()).await?;
    let quarantine_release = org.home.responder_as("quarantine-release", settings).await?;
    let held = respond(&responder, events::for_world(SSH_BRUTE_FORCE, &org.a)?).await?;
    assert!(held.steps.iter().any(|s| s.outcome == Outcome::Held), "{held:#?}");
    let pages = org.home.pages().await?;
    let limit = format!("in quarantine in account {}", org.a.account.id);
    assert!(
        pages[0].message.contains(&limit),
        "the blast radius is A's: {}",
        pages[0].message
    );
    assert!(!isolated(&org.a).await?);

    let approved = respond(&responder, json!({ "approve": held.incident_id })).await?;
    assert!(approved.is_complete(), "{approved:#?}");
    assert!(isolated(&org.a).await?, "approved: isolated in A");
    untouched(&org.home).await?;

    // An instance id alone is found in A, the only account with it quarantined.
    let release = json!({ "instance_id": org.a.web.instance_id });
    let released = quarantine_release.release(&release, Budget::default()).await?;
    assert!(released.is_complete(), "{released:#?}");
    let groups = org.a.interface_groups(&org.a.web.interfaces).await?;
    assert_eq!(groups[&org.a.web.interfaces[0]], vec![org.a.web_group.clone()]);
    let tags = org.a.instance_tags(&org.a.web.instance_id).await?;
    assert!(tags.contains_key("tourniquet:released-at"), "{tags:?}");
    // Naming another account is refused.
    let wrong = json!({ "instance_id": org.a.web.instance_id, "account": org.b.account.id });
    assert!(matches!(
        quarantine_release.release(&wrong, Budget::default()).await,
        Err(Error::NotQuarantined { .. })
    ));
    Ok(())
}

#[tokio::test]
async fn five_concurrent_deliveries_of_a_members_finding_act_once() -> Result<()> {
    let org = Org::seed().await?;
    let responder = org
        .home
        .responder_as("guardduty-responder", org.settings(&[&org.a, &org.b], &[]))
        .await?;
    let event = events::for_world(SSH_BRUTE_FORCE, &org.a)?;
    let deliveries = (0..5).map(|_| responder.handle(event.clone()));
    let results = futures_util::future::join_all(deliveries).await;
    assert!(results.iter().any(Result::is_ok), "{results:?}");
    assert!(isolated(&org.a).await?);
    assert_eq!(
        org.a.snapshots(&org.a.web.instance_id).await?.len(),
        2,
        "one snapshot set"
    );
    assert_eq!(org.home.pages().await?.len(), 1, "one page");
    untouched(&org.home).await?;
    Ok(())
}

/// The sample attack sequence (credentials stolen in home) with `member`'s web host among its
/// resources.
fn sequence_with_host_of(org: &Org, member: &World) -> Result<Value> {
    let mut event = events::for_world("guardduty/attack-sequence-iam-compromised-credentials.json", &org.home)?;
    let (account, instance) = (&member.account.id, &member.web.instance_id);
    event
        .pointer_mut("/detail/service/detection/sequence/resources")
        .and_then(Value::as_array_mut)
        .context("the sequence's resources")?
        .push(json!({
            "uid": format!("arn:aws:ec2:us-east-1:{account}:instance/{instance}"), "name": instance,
            "accountId": account, "region": "us-east-1", "resourceType": "AWS::EC2::Instance", "service": "EC2"
        }));
    Ok(event)
}

/// An attack sequence whose member in account B cannot be reached (B's member role refused):
/// not a plan without that member. The invocation fails so that Lambda retries, one page
/// says why, nothing of the sequence is changed anywhere, and no plan is recorded for the
/// incident (the retry plans the whole sequence once the role can be assumed).
#[tokio::test]
async fn a_sequence_member_whose_role_is_refused_is_retried_not_left_out() -> Result<()> {
    let org = Org::seed().await?;
    let role_arn = Org::role_arn(&org.b);
    emulator().refuse_role(&role_arn)?;
    let responder = org
        .home
        .responder_as("guardduty-responder", org.settings(&[&org.a, &org.b], &[]))
        .await?;
    let event = sequence_with_host_of(&org, &org.b)?;
    let b = org.b.account.id.clone();
    for attempt in 0..2 {
        let err = responder
            .handle(event.clone())
            .await
            .expect_err("the invocation errors");
        let Error::RoleRefused { account, report, .. } = &err else {
            panic!("attempt {attempt}: {err:?}");
        };
        assert!(err.is_retryable());
        assert_eq!(account, &b);
        assert_eq!(report.playbook, Playbook::PageOnly, "{report:#?}");
    }
    for world in [&org.home, &org.b] {
        untouched(world).await?;
    }
    let pages = org.home.pages().await?;
    assert_eq!(pages.len(), 1, "one page, not one per retry");
    assert!(pages[0].message.contains(&role_arn), "{}", pages[0].message);
    let plans: Vec<String> = org
        .home
        .evidence_keys()
        .await?
        .into_iter()
        .filter(|k| k.ends_with("/plan.json") && !k.contains("-role-refused/"))
        .collect();
    assert!(plans.is_empty(), "no plan recorded for the incident: {plans:?}");
    Ok(())
}

/// An attack sequence in the home account whose members include an instance in member A: one
/// incident, one plan, one page and one evidence folder in home; the home user's key
/// contained in home and A's instance isolated in A, through A's member role; then released
/// there on its own.
#[tokio::test]
async fn an_attack_sequence_across_accounts_acts_on_each_member_where_it_is() -> Result<()> {
    let org = Org::seed().await?;
    let responder = org
        .home
        .responder_as("guardduty-responder", org.settings(&[&org.a, &org.b], &[]))
        .await?;
    let event = sequence_with_host_of(&org, &org.a)?;
    let (a, instance) = (org.a.account.id.clone(), org.a.web.instance_id.clone());
    let report = respond(&responder, event).await?;
    assert_eq!(report.playbook, Playbook::AttackSequence, "{}", report.reason);
    assert!(isolated(&org.a).await?, "A's instance isolated in A: {report:#?}");
    assert!(org.a.termination_protection(&instance).await?);
    assert_eq!(org.home.deployer_key_status().await?, ["Inactive", "Active"]);
    assert!(!isolated(&org.home).await?, "home's own web host is not the sequence's");
    untouched(&org.b).await?;
    let isolation = report
        .steps
        .iter()
        .find(|s| s.action == "isolate-interfaces")
        .context("an isolation step")?;
    assert_eq!(isolation.outcome, Outcome::Done, "{report:#?}");
    assert!(isolation.target.contains(&a), "{}", isolation.target);
    // One page and one evidence folder, in home; none in A.
    let pages = org.home.pages().await?;
    assert_eq!(pages.len(), 1);
    assert!(
        pages[0].message.contains(&instance) && pages[0].message.contains(&a),
        "{}",
        pages[0].message
    );
    assert!(org.a.pages().await?.is_empty());
    let folders: std::collections::BTreeSet<String> = org
        .home
        .evidence_keys()
        .await?
        .iter()
        .filter_map(|k| k.strip_prefix("incidents/")?.split('/').next().map(ToOwned::to_owned))
        .collect();
    assert_eq!(folders.into_iter().collect::<Vec<_>>(), [report.incident_id.as_str()]);

    // The member is released on its own, in A.
    let release = json!({ "instance_id": instance, "account": a });
    let released = org
        .home
        .responder_as("quarantine-release", org.settings(&[&org.a, &org.b], &[]))
        .await?
        .release(&release, Budget::default())
        .await?;
    assert!(released.is_complete(), "{released:#?}");
    assert!(!isolated(&org.a).await?, "released in A");
    assert_eq!(
        org.home.deployer_key_status().await?,
        ["Inactive", "Active"],
        "the key stays off"
    );
    Ok(())
}
