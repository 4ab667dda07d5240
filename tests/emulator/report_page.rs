//! The report.html the responder writes, looked at: it names the resource and the verdict, draws
//! the chart, and headless Chromium renders it (skipped, saying so, where Chromium is missing).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{Context, Result};
use tourniquet_tests::events;
use tourniquet_tests::world::World;

use crate::world;

/// Chromium on the PATH (Debian's `chromium` package), if there is one.
fn chromium() -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .flat_map(|dir| ["chromium", "chromium-browser"].map(|name| dir.join(name)))
        .find(|candidate| candidate.is_file())
}

/// Renders `html` to `png` with headless Chromium, in a profile of its own.
pub fn screenshot(chromium: &Path, html: &Path, png: &Path) -> Result<()> {
    let profile = std::env::temp_dir().join(format!(
        "tourniquet-chromium-{}-{}",
        std::process::id(),
        png.display().to_string().len()
    ));
    let status = Command::new(chromium)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--hide-scrollbars",
            "--window-size=1100,1400",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .arg(format!("--screenshot={}", png.display()))
        .arg(format!("file://{}", html.display()))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .context("run chromium")?;
    let _ = std::fs::remove_dir_all(&profile);
    anyhow::ensure!(status.success(), "chromium failed: {status}");
    Ok(())
}

async fn report_page(world: &World, incident_id: &str) -> Result<String> {
    let key = format!("incidents/{incident_id}/report.html");
    let out = world
        .account
        .clients
        .s3
        .get_object()
        .bucket(&world.bucket)
        .key(&key)
        .send()
        .await?;
    Ok(String::from_utf8(out.body.collect().await?.to_vec())?)
}

#[tokio::test]
async fn reports_name_the_resource_and_verdict_draw_the_chart_and_render() -> Result<()> {
    let world = world().await?;
    let instance = world
        .respond(events::for_world(
            "guardduty/ec2-ssh-brute-force-web-server.json",
            &world,
        )?)
        .await?;
    let user = world
        .respond(events::for_world(
            "guardduty/iam-user-malicious-ip-caller.json",
            &world,
        )?)
        .await?;
    let dir = std::env::temp_dir().join(format!("tourniquet-report-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let browser = chromium();
    if browser.is_none() {
        eprintln!("report_page: chromium is not installed (apt-get install chromium): the screenshots are skipped");
    }
    for (report, resource) in [
        (&instance, world.web.instance_id.as_str()),
        (&user, world.deployer.as_str()),
    ] {
        let html = report_page(&world, &report.incident_id).await?;
        assert!(html.contains(resource), "{resource} missing from the report");
        assert!(html.contains("id=\"verdict\">contained<"), "the verdict");
        assert!(html.contains("<svg id=\"timeline-chart\""), "the chart");
        assert!(html.contains("class=\"step good\""), "the steps are on the chart");
        let Some(chromium) = &browser else { continue };
        let page = dir.join(format!("{}.html", report.incident_id));
        let png = dir.join(format!("{}.png", report.incident_id));
        std::fs::write(&page, &html)?;
        screenshot(chromium, &page, &png)?;
        let image = std::fs::read(&png).context("the screenshot")?;
        assert!(image.starts_with(b"\x89PNG"), "a PNG");
        assert!(image.len() > 20_000, "a page, not a blank: {} bytes", image.len());
    }
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}
