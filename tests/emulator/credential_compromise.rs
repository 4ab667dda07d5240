//! The credential compromise playbook: exactly the leaked key, role sessions, and the guards.

use anyhow::Result;
use playbook::{Outcome, Playbook, Settings, report::StepReport};
use tourniquet_tests::events;
use tourniquet_tests::world::World;

use crate::world;

const USER_FINDING: &str = "guardduty/iam-user-malicious-ip-caller.json";
const ROLE_FINDING: &str = "guardduty/iam-instance-credential-exfiltration-outside-aws.json";

/// What a person checks on the deployer: its keys' status and whether it is denied.
async fn deployer_state(world: &World) -> Result<(Vec<String>, bool)> {
    Ok((
        world.deployer_key_status().await?,
        world
            .user_policy(&world.deployer, "tourniquet-deny-all")
            .await?
            .is_some(),
    ))
}

#[tokio::test]
async fn leaked_user_key_is_deactivated_and_the_user_denied() -> Result<()> {
    let world = world().await?;
    let responder = world.responder_as("guardduty-responder", world.settings()).await?;
    let event = events::for_world(USER_FINDING, &world)?;
    let report = responder.handle(event.clone()).await?.report().expect("an incident");
    assert_eq!(report.playbook, Playbook::CredentialCompromise);
    assert!(report.steps.iter().all(StepReport::done_now), "{report:#?}");

    assert_eq!(
        world.deployer_key_status().await?,
        ["Inactive", "Active"],
        "only the named key"
    );
    let policy = world
        .user_policy(&world.deployer, "tourniquet-deny-all")
        .await?
        .expect("deny-all attached");
    assert_eq!(policy["Statement"][0]["Effect"], "Deny");
    assert_eq!(policy["Statement"][0]["Action"], "*");
    let pages = world.pages().await?;
    assert_eq!(pages.len(), 1);
    assert!(
        pages[0].subject.ends_with("credentials revoked"),
        "{}",
        pages[0].subject
    );
    assert!(
        pages[0].subject.contains(&world.deployer_keys[0]),
        "{}",
        pages[0].subject
    );

    // The key's previous status and the user's policies are in the evidence.
    let pre = world
        .evidence(&format!("incidents/{}/pre-state.json", report.incident_id))
        .await?;
    assert_eq!(pre["access_keys"][0]["status"], "Active");
    assert_eq!(pre["observed"], "principal");
    assert_eq!(pre["kind"], "user");

    // Redelivery: nothing more, no second page.
    let again = responder.handle(event).await?.report().expect("an incident");
    assert!(
        again
            .steps
            .iter()
            .all(|s| matches!(s.outcome, Outcome::AlreadyDone | Outcome::NotNeeded))
    );
    assert!(world.pages().await?.is_empty());
    Ok(())
}

/// The role finding with its session (`principalId`'s part after the colon) replaced.
fn role_finding(world: &World, session: Option<&str>) -> Result<serde_json::Value> {
    let text = events::read(ROLE_FINDING)?;
    let text = match session {
        Some(session) => text.replace(
            &format!("AROAJQABLZS4A3QDU576Q:{}", events::WEB_PLACEHOLDER),
            &format!("AROAJQABLZS4A3QDU576Q:{session}"),
        ),
        None => text.replace(
            &format!("\"AROAJQABLZS4A3QDU576Q:{}\"", events::WEB_PLACEHOLDER),
            "null",
        ),
    };
    events::for_world_text(&text, world)
}

#[tokio::test]
async fn an_instances_stolen_credentials_are_denied_for_that_instance_only() -> Result<()> {
    let world = world().await?;
    // A second instance of the same tier (the fleet sharing the role) must keep working.
    let worker = world.host(&world.launch_worker().await?).await?;
    let worker_groups = world.interface_groups(&worker.interfaces).await?;
    let report = world.respond(events::for_world(ROLE_FINDING, &world)?).await?;
    assert_eq!(report.playbook, Playbook::CredentialCompromise);
    let instance_arn = format!(
        "arn:aws:ec2:us-east-1:{}:instance/{}",
        world.account.id, world.web.instance_id
    );
    let name = format!("tourniquet-deny-instance-{}", world.web.instance_id);
    let policy = world
        .role_policy(&world.web_role, &name)
        .await?
        .expect("the per-instance deny");
    assert_eq!(
        policy,
        serde_json::json!({"Version": "2012-10-17", "Statement": [{
            "Sid": "TourniquetDenyInstanceCredentials", "Effect": "Deny", "Action": "*", "Resource": "*",
            "Condition": {"StringEquals": {"ec2:SourceInstanceARN": instance_arn}}
        }]})
    );
    // No role-wide deny: every other holder of the role keeps its credentials, and nothing
    // else about the other instance changed.
    assert_eq!(world.role_policy_names(&world.web_role).await?, [name]);
    assert_eq!(world.interface_groups(&worker.interfaces).await?, worker_groups);
    let pages = world.pages().await?;
    assert_eq!(pages.len(), 1);
    assert!(
        pages[0].message.contains("ec2:SourceInstanceARN"),
        "{}",
        pages[0].message
    );
    Ok(())
}

#[tokio::test]
async fn a_persons_session_is_denied_by_its_user_id() -> Result<()> {
    let world = world().await?;
    let report = world.respond(role_finding(&world, Some("alice@example.com"))?).await?;
    assert_eq!(report.playbook, Playbook::CredentialCompromise);
    let names = world.role_policy_names(&world.web_role).await?;
    assert_eq!(names.len(), 1, "{names:?}");
    assert!(names[0].starts_with("tourniquet-deny-session-"), "{names:?}");
    let policy = world
        .role_policy(&world.web_role, &names[0])
        .await?
        .expect("the session deny");
    assert_eq!(
        policy["Statement"][0]["Condition"],
        serde_json::json!({"StringEquals": {"aws:userid": "AROAJQABLZS4A3QDU576Q:alice@example.com"}})
    );
    let pages = world.pages().await?;
    assert!(pages[0].message.contains("aws:userid"), "{}", pages[0].message);
    Ok(())
}

#[tokio::test]
async fn a_role_finding_without_a_session_revokes_older_sessions_and_says_so() -> Result<()> {
    let world = world().await?;
    let report = world.respond(role_finding(&world, None)?).await?;
    assert_eq!(report.playbook, Playbook::CredentialCompromise);
    let policy = world
        .role_policy(&world.web_role, "tourniquet-revoke-sessions")
        .await?
        .expect("revoke policy on the role");
    let statement = &policy["Statement"][0];
    assert_eq!(statement["Effect"], "Deny");
    let issued_before = statement["Condition"]["DateLessThan"]["aws:TokenIssueTime"]
        .as_str()
        .expect("a TokenIssueTime condition");
    assert!(
        issued_before.ends_with('Z') && issued_before.len() == "2026-01-01T00:00:00Z".len(),
        "{issued_before}"
    );
    let pages = world.pages().await?;
    assert_eq!(pages.len(), 1);
    assert!(
        pages[0].message.contains("names no session") && pages[0].message.contains("healthy holders"),
        "{}",
        pages[0].message
    );
    Ok(())
}

#[tokio::test]
async fn a_users_temporary_key_is_denied_by_issue_time_and_no_key_is_deactivated() -> Result<()> {
    let world = world().await?;
    let text = events::read(USER_FINDING)?.replace(events::KEY_PLACEHOLDER, "ASIATEMPORARYEXAMPLE");
    let report = world.respond(events::for_world_text(&text, &world)?).await?;
    assert_eq!(report.playbook, Playbook::CredentialCompromise, "{report:#?}");
    assert_eq!(world.deployer_key_status().await?, ["Active", "Active"]);
    let policy = world
        .user_policy(&world.deployer, "tourniquet-revoke-sessions")
        .await?
        .expect("the deny on the user's older session tokens");
    assert!(
        policy["Statement"][0]["Condition"]["DateLessThan"]["aws:TokenIssueTime"].is_string(),
        "{policy:#}"
    );
    assert!(
        world
            .user_policy(&world.deployer, "tourniquet-deny-all")
            .await?
            .is_none()
    );
    let pages = world.pages().await?;
    assert!(pages[0].message.contains("temporary key"), "{}", pages[0].message);
    Ok(())
}

#[tokio::test]
async fn a_member_accounts_finding_never_touches_a_namesake_here() -> Result<()> {
    let world = world().await?;
    // The same finding, forwarded from a member account whose role has the same name.
    let text = events::read(ROLE_FINDING)?.replace(events::ACCOUNT_PLACEHOLDER, "210987654321");
    let event = events::for_world_text(&text, &world)?;
    let report = world.respond(event).await?;
    assert_eq!(report.playbook, Playbook::PageOnly);
    assert!(report.reason.contains("from account 210987654321"), "{}", report.reason);
    assert!(
        world.role_policy_names(&world.web_role).await?.is_empty(),
        "this account's role of the same name is untouched"
    );
    assert_eq!(world.pages().await?.len(), 1);
    Ok(())
}

#[tokio::test]
async fn root_pages_critical_and_changes_nothing() -> Result<()> {
    let world = world().await?;
    let before = deployer_state(&world).await?;
    let report = world
        .respond(events::for_world(
            "guardduty/iam-root-credential-exfiltration.json",
            &world,
        )?)
        .await?;
    assert_eq!(report.playbook, Playbook::PageOnly);
    assert_eq!(deployer_state(&world).await?, before);
    let pages = world.pages().await?;
    assert_eq!(pages.len(), 1);
    assert!(pages[0].subject.starts_with("[CRITICAL"), "{}", pages[0].subject);
    assert!(
        pages[0].message.contains("delete the root access keys"),
        "{}",
        pages[0].message
    );
    Ok(())
}

#[tokio::test]
async fn protected_users_are_never_touched() -> Result<()> {
    // By tag.
    let world = world().await?;
    world
        .account
        .clients
        .iam
        .tag_user()
        .user_name(&world.deployer)
        .tags(
            aws_sdk_iam::types::Tag::builder()
                .key("tourniquet:protected")
                .value("break-glass")
                .build()?,
        )
        .send()
        .await?;
    let before = deployer_state(&world).await?;
    let report = world.respond(events::for_world(USER_FINDING, &world)?).await?;
    assert_eq!(report.playbook, Playbook::PageOnly);
    assert!(report.reason.contains("protected tag"), "{}", report.reason);
    assert_eq!(deployer_state(&world).await?, before);
    assert_eq!(world.pages().await?.len(), 1);

    // By the configured list.
    let world = super::world().await?;
    let before = deployer_state(&world).await?;
    let settings = Settings {
        protected_principals: vec!["ci-*".to_owned()],
        ..world.settings()
    };
    let report = world
        .responder_as("guardduty-responder", settings)
        .await?
        .handle(events::for_world(USER_FINDING, &world)?)
        .await?
        .report()
        .expect("an incident");
    assert_eq!(report.playbook, Playbook::PageOnly);
    assert!(
        report.reason.contains("matches protected principal \"ci-*\""),
        "{}",
        report.reason
    );
    assert_eq!(deployer_state(&world).await?, before);
    assert_eq!(world.pages().await?.len(), 1);
    Ok(())
}

#[tokio::test]
async fn the_responder_never_revokes_its_own_role() -> Result<()> {
    let world = world().await?;
    // The GuardDuty responder acts through its own role, as template.yaml deploys it.
    let own = "tourniquet-guardduty-responder";
    let text = events::read(ROLE_FINDING)?.replace("drill-web-role", own);
    let report = world.respond(events::for_world_text(&text, &world)?).await?;
    assert_eq!(report.playbook, Playbook::PageOnly);
    assert!(report.reason.contains("own identity"), "{}", report.reason);
    // Its own policies only: no deny of Tourniquet's.
    let names = world.role_policy_names(own).await?;
    assert!(
        !names.is_empty() && names.iter().all(|n| !n.starts_with("tourniquet-")),
        "{names:?}"
    );
    Ok(())
}

#[tokio::test]
async fn a_user_that_no_longer_exists_pages_once_and_succeeds() -> Result<()> {
    let world = world().await?;
    let text = events::read(USER_FINDING)?.replace("ci-deployer", "departed-contractor");
    let report = world.respond(events::for_world_text(&text, &world)?).await?;
    assert_eq!(report.playbook, Playbook::PageOnly);
    assert!(report.reason.contains("NoSuchEntity"), "{}", report.reason);
    let pages = world.pages().await?;
    assert_eq!(pages.len(), 1);
    assert!(pages[0].message.contains("NoSuchEntity"));
    Ok(())
}

#[tokio::test]
async fn a_key_the_user_does_not_hold_deactivates_none_of_their_keys() -> Result<()> {
    let world = world().await?;
    // The finding names the deployer, and a key that is not one of the deployer's.
    let unknown = "AKIAZ7QXW3EXAMPLE000";
    assert!(!world.deployer_keys.iter().any(|k| k == unknown));
    let text = events::read(USER_FINDING)?.replace(events::KEY_PLACEHOLDER, unknown);
    let report = world.respond(events::for_world_text(&text, &world)?).await?;

    // The user's real keys stay as they were: deactivating a key the finding does not name
    // would cut off a healthy deployment on a guess. (Denying the user is acceptable.)
    assert_eq!(world.deployer_key_status().await?, ["Active", "Active"], "{report:#?}");
    let pages = world.pages().await?;
    assert_eq!(pages.len(), 1, "{pages:#?}");
    let message = &pages[0].message;
    assert!(message.contains(unknown), "the page names the key: {message}");
    assert!(
        ["no access key", "not found", "NoSuchEntity"]
            .iter()
            .any(|says| message.contains(says)),
        "the page says the named key was not found: {message}"
    );
    Ok(())
}
