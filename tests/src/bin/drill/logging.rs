//! Defense evasion in the drill: an attacker with the leaked key stops the trail and the Config recorder; the responders start both again, contain the key and state the gap.

use anyhow::{Context, Result};
use tourniquet_tests::account::Account;
use tourniquet_tests::attacker::Attacker;
use tourniquet_tests::events;
use tourniquet_tests::runtime::LambdaRuntime;
use tourniquet_tests::world::World;

/// The trail the GuardDuty sample names.
const TRAIL: &str = "management-events";

async fn trail_logging(world: &World) -> Result<bool> {
    let client = aws_sdk_cloudtrail::Client::new(&world.account.config);
    Ok(client.get_trail_status().name(TRAIL).send().await?.is_logging() == Some(true))
}

async fn recording(world: &World) -> Result<bool> {
    let status = world
        .account
        .clients
        .config
        .describe_configuration_recorder_status()
        .send()
        .await?;
    Ok(status
        .configuration_recorders_status()
        .iter()
        .any(aws_sdk_config::types::ConfigurationRecorderStatus::recording))
}

/// Delivers `sample` to `function` through the Lambda Runtime API; the page's lines that state
/// the unrecorded window.
fn deliver(function: &str, sample: &serde_json::Value, env: &[(String, String)]) -> Result<String> {
    let runtime = LambdaRuntime::start(function, env)?;
    let answer = tokio::task::block_in_place(|| runtime.invoke(sample))?;
    let report = answer.map_err(|e| anyhow::anyhow!("{function}: {e}"))?;
    Ok(format!(
        "{function} -> {}",
        report["playbook"].as_str().unwrap_or("(no playbook)")
    ))
}

pub async fn drill() -> Result<()> {
    let world = World::seed(Account::new().await?).await?;
    let bucket = format!("audit-logs-{}", world.account.id);
    world.account.clients.s3.create_bucket().bucket(&bucket).send().await?;
    let trails = aws_sdk_cloudtrail::Client::new(&world.account.config);
    trails
        .create_trail()
        .name(TRAIL)
        .s3_bucket_name(&bucket)
        .is_multi_region_trail(true)
        .send()
        .await?;
    trails.start_logging().name(TRAIL).send().await?;
    println!(
        "\nAudit logging (account {}): trail {TRAIL} (multi-region) logging {}, Config recorder recording {}",
        world.account.id,
        trail_logging(&world).await?,
        recording(&world).await?
    );
    let attacker = Attacker::with_key(&world.account, &world.deployer_keys[0]).await?;
    aws_sdk_cloudtrail::Client::new(&attacker.clients.sdk_config)
        .stop_logging()
        .name(TRAIL)
        .send()
        .await?;
    attacker
        .clients
        .config
        .stop_configuration_recorder()
        .configuration_recorder_name("default")
        .send()
        .await?;
    println!(
        "  the attacker, with the leaked key {}, stopped the trail and the recorder: logging {}, recording {}",
        world.deployer_keys[0],
        trail_logging(&world).await?,
        recording(&world).await?
    );
    let finding = events::for_world("guardduty/cloudtrail-logging-disabled.json", &world)?;
    println!(
        "  GuardDuty Stealth:IAMUser/CloudTrailLoggingDisabled: {}",
        deliver(
            "guardduty-responder",
            &finding,
            &world.function_env("guardduty-responder").await?
        )?
    );
    let alarm = events::for_world("cloudwatch/config-changes-alarm.json", &world)?;
    println!(
        "  CIS alarm cis-aws-config-changes: {}",
        deliver("alarm-responder", &alarm, &world.function_env("alarm-responder").await?)?
    );
    println!(
        "  now: trail logging {}, recorder recording {}; the leaked key {}",
        trail_logging(&world).await?,
        recording(&world).await?,
        world
            .deployer_key_status()
            .await?
            .first()
            .context("the deployer's key")?
    );
    for page in world.pages().await? {
        println!("  page: {}", page.subject);
        for line in page.message.lines().filter(|l| l.contains("recorded nothing")) {
            println!("    {}", line.trim());
        }
    }
    Ok(())
}
