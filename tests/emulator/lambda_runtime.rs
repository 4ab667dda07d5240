//! The real `guardduty-responder` binary, driven through the Lambda Runtime API.

use anyhow::Result;
use serde_json::json;
use tourniquet_tests::events;
use tourniquet_tests::runtime::LambdaRuntime;

use crate::world;

#[tokio::test]
async fn the_binary_contains_an_instance_through_the_runtime_api() -> Result<()> {
    let world = world().await?;
    let env = world.function_env("guardduty-responder").await?;
    let runtime = LambdaRuntime::start("guardduty-responder", &env)?;

    let event = events::for_world("guardduty/ec2-ssh-brute-force-web-server.json", &world)?;
    let bad = json!({"detail": {"resource": {}}});
    let (contained, refused) =
        tokio::task::spawn_blocking(move || (runtime.invoke(&event), runtime.invoke(&bad))).await?;
    let report = contained?.map_err(anyhow::Error::msg)?;
    assert_eq!(report["playbook"], "ec2-compromise");
    assert!(
        report["steps"]
            .as_array()
            .is_some_and(|s| s.iter().all(|s| s["outcome"] == "done" || s["outcome"] == "not-needed")),
        "{report:#}"
    );

    let isolation = world.quarantine_group("isolation").await?.expect("isolation group");
    for groups in world.interface_groups(&world.web.interfaces).await?.values() {
        assert_eq!(groups, &vec![isolation.id.clone()]);
    }
    assert_eq!(world.pages().await?.len(), 1);

    match refused? {
        Ok(value) => anyhow::bail!("a bad event was accepted: {value}"),
        Err(message) => assert!(message.contains("missing field `detail.type`"), "{message}"),
    }
    assert!(world.pages().await?.is_empty(), "a bad event pages nobody");
    Ok(())
}
