//! Container workloads: a finding that names its host contains the host; a Fargate task pages.

use anyhow::Result;
use playbook::{Playbook, report::StepReport};
use tourniquet_tests::events;

use crate::world;

#[tokio::test]
async fn an_ecs_finding_with_a_named_host_isolates_the_host() -> Result<()> {
    let world = world().await?;
    let event = events::for_world("guardduty/ecs-runtime-ec2-host-reverse-shell.json", &world)?;
    let report = world.respond(event).await?;
    assert_eq!(report.playbook, Playbook::Ec2Compromise, "{}", report.reason);
    assert!(report.steps.iter().all(StepReport::done_now), "{report:#?}");
    let isolation = world.quarantine_group("isolation").await?.expect("isolation group");
    for (eni, groups) in world.interface_groups(&world.web.interfaces).await? {
        assert_eq!(groups, vec![isolation.id.clone()], "{eni}");
    }
    let pages = world.pages().await?;
    assert_eq!(pages.len(), 1);
    // The page says which workload on the host was seen.
    for fact in ["drill-ecs-ec2", "/usr/bin/bash", "drill-api:2.0.7"] {
        assert!(pages[0].message.contains(fact), "{fact}: {}", pages[0].message);
    }
    Ok(())
}

#[tokio::test]
async fn a_fargate_task_pages_with_a_runbook_and_nothing_changes() -> Result<()> {
    let world = world().await?;
    let before = world.interface_groups(&world.web.interfaces).await?;
    let event = events::for_world("guardduty/ecs-runtime-cryptocurrency-bitcointool.json", &world)?;
    let report = world.respond(event).await?;
    assert_eq!(report.playbook, Playbook::PageOnly);
    assert_eq!(
        report.steps.iter().map(|s| s.action.as_str()).collect::<Vec<_>>(),
        ["record-evidence", "page"]
    );
    assert_eq!(world.interface_groups(&world.web.interfaces).await?, before);
    assert!(world.quarantine_group("isolation").await?.is_none());
    let pages = world.pages().await?;
    assert_eq!(pages.len(), 1);
    for fact in [
        "drill-ecs",
        "/opt/.cache/xmrig",
        "drill-api:2.0.7",
        "aws ecs stop-task --cluster drill-ecs",
    ] {
        assert!(pages[0].message.contains(fact), "{fact}: {}", pages[0].message);
    }
    Ok(())
}
