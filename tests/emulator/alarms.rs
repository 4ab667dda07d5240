//! alarm-responder: isolate alarms contain their instance; other alarms page; OK pages nobody.

use anyhow::Result;
use playbook::{Playbook, Response, Source};
use tourniquet_tests::events;
use tourniquet_tests::world::World;

use crate::world;

async fn respond(world: &World, sample: &str) -> Result<Response> {
    let responder = world
        .responder_as("alarm-responder", world.settings())
        .await?
        .accepting(&[Source::CloudWatch]);
    Ok(responder.handle(events::for_world(sample, world)?).await?)
}

async fn assert_isolated(world: &World) -> Result<()> {
    let isolation = world.quarantine_group("isolation").await?.expect("isolation group");
    for (eni, groups) in world.interface_groups(&world.web.interfaces).await? {
        assert_eq!(groups, vec![isolation.id.clone()], "{eni}");
    }
    Ok(())
}

#[tokio::test]
async fn an_isolate_alarm_contains_its_instance() -> Result<()> {
    for sample in [
        "cloudwatch/isolate-instance-alarm.json",
        "cloudwatch/isolate-instance-alarm-direct-payload.json",
    ] {
        let world = world().await?;
        let report = respond(&world, sample).await?.report().expect("an incident");
        assert_eq!(report.playbook, Playbook::Ec2Compromise, "{sample}");
        assert_isolated(&world).await?;
        assert!(world.termination_protection(&world.web.instance_id).await?);
        let pages = world.pages().await?;
        assert_eq!(pages.len(), 1, "{sample}");
        assert!(pages[0].subject.ends_with("isolated"), "{}", pages[0].subject);
    }
    Ok(())
}

#[tokio::test]
async fn a_plain_alarm_pages_once_with_what_it_watches() -> Result<()> {
    let world = world().await?;
    let before = world.interface_groups(&world.web.interfaces).await?;
    let report = respond(&world, "cloudwatch/plain-alarm.json")
        .await?
        .report()
        .expect("an incident");
    assert_eq!(report.playbook, Playbook::PageOnly);
    assert_eq!(world.interface_groups(&world.web.interfaces).await?, before);
    let pages = world.pages().await?;
    assert_eq!(pages.len(), 1);
    let body = &pages[0].message;
    for needle in [
        "api-5xx-errors-high",
        "AWS/ApplicationELB HTTPCode_ELB_5XX_Count",
        "LoadBalancer=",
        "reason:",
    ] {
        assert!(body.contains(needle), "{needle} missing from {body}");
    }
    Ok(())
}

#[tokio::test]
async fn cloudtrail_alarms_page_high_with_a_runbook() -> Result<()> {
    let world = world().await?;
    respond(&world, "cloudwatch/cloudtrail-root-login-alarm.json").await?;
    let pages = world.pages().await?;
    assert_eq!(pages.len(), 1);
    assert!(pages[0].subject.starts_with("[HIGH 8.0]"), "{}", pages[0].subject);
    assert!(
        pages[0].message.contains("runbook: root was used"),
        "{}",
        pages[0].message
    );
    Ok(())
}

#[tokio::test]
async fn composite_metric_math_and_malformed_alarms_page_only() -> Result<()> {
    let world = world().await?;
    for sample in [
        "cloudwatch/composite-alarm.json",
        "cloudwatch/metric-math-alarm.json",
        "cloudwatch/malformed-reason-data-alarm.json",
    ] {
        let report = respond(&world, sample).await?.report().expect("an incident");
        assert_eq!(report.playbook, Playbook::PageOnly, "{sample}");
    }
    assert_eq!(world.pages().await?.len(), 3);
    Ok(())
}

#[tokio::test]
async fn ok_and_insufficient_data_page_nobody() -> Result<()> {
    let world = world().await?;
    for sample in [
        "cloudwatch/ok-transition.json",
        "cloudwatch/insufficient-data-transition.json",
    ] {
        assert!(
            matches!(respond(&world, sample).await?, Response::Ignored(_)),
            "{sample}"
        );
    }
    assert!(world.pages().await?.is_empty());
    assert!(world.evidence_keys().await?.is_empty());
    Ok(())
}
