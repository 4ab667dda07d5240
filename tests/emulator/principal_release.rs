//! Releasing a contained user or role, and the deny on an instance's own credentials: only
//! Tourniquet's policies go, keys come back only when asked, and drift is refused unless forced.

use anyhow::Result;
use playbook::report::StepReport;
use playbook::{Budget, Playbook};
use serde_json::json;
use tourniquet_tests::events;
use tourniquet_tests::world::World;

use crate::world;

const USER_FINDING: &str = "guardduty/iam-user-malicious-ip-caller.json";
const ROLE_FINDING: &str = "guardduty/iam-instance-credential-exfiltration-outside-aws.json";
const SSH_BRUTE_FORCE: &str = "guardduty/ec2-ssh-brute-force-web-server.json";

/// Contains the deployer's leaked key; the incident id. The page is drained.
async fn contain_user(world: &World) -> Result<String> {
    let report = world.respond(events::for_world(USER_FINDING, world)?).await?;
    assert_eq!(report.playbook, Playbook::CredentialCompromise);
    assert_eq!(world.deployer_key_status().await?, ["Inactive", "Active"]);
    world.pages().await?;
    Ok(report.incident_id)
}

#[tokio::test]
async fn a_users_release_removes_the_deny_and_keeps_the_key_inactive() -> Result<()> {
    let world = world().await?;
    let incident_id = contain_user(&world).await?;
    let responder = world.responder_as("quarantine-release", world.settings()).await?;
    let request = json!({"user_name": world.deployer, "incident_id": incident_id});
    let released = responder.release(&request, Budget::default()).await?;
    assert_eq!(released.playbook, Playbook::Release);
    assert!(released.steps.iter().all(StepReport::done_now), "{released:#?}");

    assert_eq!(world.user_policy(&world.deployer, "tourniquet-deny-all").await?, None);
    assert_eq!(
        world.deployer_key_status().await?,
        ["Inactive", "Active"],
        "the leaked key stays off"
    );
    let pages = world.pages().await?;
    assert_eq!(pages.len(), 1);
    assert!(
        pages[0]
            .message
            .contains("AWS advises against reactivating a leaked key"),
        "{}",
        pages[0].message
    );
    // Recorded: the release plan and report are kept beside the incident's evidence.
    let kept = world
        .evidence(&format!("incidents/{incident_id}/release/plan.json"))
        .await?;
    assert_eq!(kept["steps"][0]["step"]["action"], "remove-deny");

    // A second request follows the recorded release: nothing more, nobody paged again.
    responder.release(&request, Budget::default()).await?;
    assert!(world.pages().await?.is_empty());
    Ok(())
}

#[tokio::test]
async fn reactivate_keys_brings_the_key_back_and_the_page_warns() -> Result<()> {
    let world = world().await?;
    let incident_id = contain_user(&world).await?;
    let responder = world.responder_as("quarantine-release", world.settings()).await?;
    let request = json!({"user_name": world.deployer, "incident_id": incident_id, "reactivate_keys": true});
    let released = responder.release(&request, Budget::default()).await?;
    assert!(released.steps.iter().all(StepReport::done_now), "{released:#?}");
    assert_eq!(world.user_policy(&world.deployer, "tourniquet-deny-all").await?, None);
    assert_eq!(world.deployer_key_status().await?, ["Active", "Active"]);
    let pages = world.pages().await?;
    assert!(pages[0].message.contains("rotate it now"), "{}", pages[0].message);
    Ok(())
}

#[tokio::test]
async fn a_user_changed_since_is_refused_with_the_differences_unless_forced() -> Result<()> {
    let world = world().await?;
    let incident_id = contain_user(&world).await?;
    let iam = &world.account.clients.iam;
    // Someone removes the deny by hand and swaps the other key for a new one while the
    // incident is open.
    iam.delete_user_policy()
        .user_name(&world.deployer)
        .policy_name("tourniquet-deny-all")
        .send()
        .await?;
    iam.delete_access_key()
        .user_name(&world.deployer)
        .access_key_id(&world.deployer_keys[1])
        .send()
        .await?;
    let created = iam.create_access_key().user_name(&world.deployer).send().await?;
    let created = created
        .access_key()
        .map(|k| k.access_key_id().to_owned())
        .unwrap_or_default();

    let responder = world.responder_as("quarantine-release", world.settings()).await?;
    let request = json!({"user_name": world.deployer, "incident_id": incident_id});
    let err = responder
        .release(&request, Budget::default())
        .await
        .expect_err("a changed user is not released");
    let text = playbook::telemetry::chain(&err);
    assert!(text.contains("its deny policy tourniquet-deny-all is gone"), "{text}");
    assert!(
        text.contains(&format!("key {created} was created since the containment")),
        "{text}"
    );
    assert!(text.contains("\"force\": true"), "{text}");
    assert!(!err.is_retryable());
    assert!(world.pages().await?.is_empty(), "nothing released, nobody paged");

    let forced = json!({"user_name": world.deployer, "incident_id": incident_id, "force": true});
    let released = responder.release(&forced, Budget::default()).await?;
    assert!(released.reason.contains("FORCED"), "{}", released.reason);
    assert!(released.steps.iter().all(StepReport::done_now), "{released:#?}");
    let kept = world
        .evidence(&format!("incidents/{incident_id}/release/plan.json"))
        .await?;
    assert!(
        kept["reason"]
            .as_str()
            .is_some_and(|r| r.contains("FORCED") && r.contains(&created)),
        "{kept:#}"
    );
    Ok(())
}

#[tokio::test]
async fn a_role_sessions_release_removes_exactly_that_deny() -> Result<()> {
    let world = world().await?;
    let text = events::read(ROLE_FINDING)?.replace(
        &format!("AROAJQABLZS4A3QDU576Q:{}", events::WEB_PLACEHOLDER),
        "AROAJQABLZS4A3QDU576Q:alice@example.com",
    );
    let report = world.respond(events::for_world_text(&text, &world)?).await?;
    let names = world.role_policy_names(&world.web_role).await?;
    assert!(
        names.len() == 1 && names[0].starts_with("tourniquet-deny-session-"),
        "{names:?}"
    );
    world.pages().await?;

    let responder = world.responder_as("quarantine-release", world.settings()).await?;
    // A user's release of a role's incident is refused: the incident never touched a user.
    let wrong = json!({"user_name": world.web_role, "incident_id": report.incident_id});
    assert!(responder.release(&wrong, Budget::default()).await.is_err());
    let request = json!({"role_name": world.web_role, "incident_id": report.incident_id});
    let released = responder.release(&request, Budget::default()).await?;
    assert!(released.steps.iter().all(StepReport::done_now), "{released:#?}");
    assert!(world.role_policy_names(&world.web_role).await?.is_empty());
    assert_eq!(world.pages().await?.len(), 1);
    Ok(())
}

#[tokio::test]
async fn an_instances_release_lifts_the_deny_on_its_own_credentials_and_checks_it_first() -> Result<()> {
    let world = world().await?;
    world.give_web_role(&[&world.web.instance_id]).await?;
    let report = world.respond(events::for_world(SSH_BRUTE_FORCE, &world)?).await?;
    let name = "tourniquet-deny-instances".to_owned();
    assert_eq!(
        world.role_policy_names(&world.web_role).await?,
        std::slice::from_ref(&name)
    );
    let as_left = world.role_policy(&world.web_role, &name).await?.expect("the deny");
    world.pages().await?;

    // Someone lifts the deny by hand: the release sees it and refuses.
    world
        .account
        .clients
        .iam
        .delete_role_policy()
        .role_name(&world.web_role)
        .policy_name(&name)
        .send()
        .await?;
    let responder = world.responder_as("quarantine-release", world.settings()).await?;
    let request = json!({"instance_id": world.web.instance_id, "incident_id": report.incident_id});
    let err = responder
        .release(&request, Budget::default())
        .await
        .expect_err("the deny was changed");
    let text = playbook::telemetry::chain(&err);
    assert!(
        text.contains(&format!(
            "role {} no longer carries the deny policy {name}",
            world.web_role
        )),
        "{text}"
    );

    // Put back as the quarantine left it: released, and the role carries no deny of ours.
    world
        .account
        .clients
        .iam
        .put_role_policy()
        .role_name(&world.web_role)
        .policy_name(&name)
        .policy_document(as_left.to_string())
        .send()
        .await?;
    let released = responder.release(&request, Budget::default()).await?;
    assert!(released.steps.iter().all(StepReport::done_now), "{released:#?}");
    assert!(world.role_policy_names(&world.web_role).await?.is_empty());
    Ok(())
}
