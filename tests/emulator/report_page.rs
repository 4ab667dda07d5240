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
            // The first screen: the verdict, the resource and the chart are at the top.
            "--window-size=1100,900",
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

/// What the screenshot must show, each by a CSS selector of the report.
const SHOWN: [(&str, &str); 4] = [
    ("the resource", "header h1"),
    ("the verdict", "#verdict"),
    ("the chart", "#timeline-chart"),
    ("the steps on the chart", "#timeline-chart .step"),
];

/// Chromium's screenshot of `html`, once two in a row agree: on a busy machine headless
/// Chromium may capture the page before every tile is drawn, and such a picture is not kept.
fn settled(chromium: &Path, dir: &Path, name: &str, html: &str) -> Result<Vec<u8>> {
    let page = dir.join(format!("{name}.html"));
    let png = dir.join(format!("{name}.png"));
    std::fs::write(&page, html)?;
    let mut last: Option<Vec<u8>> = None;
    for _ in 0..5 {
        screenshot(chromium, &page, &png)?;
        let shot = std::fs::read(&png).context("the screenshot")?;
        if last.as_ref() == Some(&shot) {
            return Ok(shot);
        }
        last = Some(shot);
    }
    anyhow::bail!("{name}: five screenshots of one page, no two in a row alike")
}

/// Screenshots `html` whole and with each of [`SHOWN`] hidden (`visibility: hidden`, the
/// layout kept): each must change the picture, so each is drawn, visibly, in the first screen.
fn looked_at(chromium: &Path, dir: &Path, name: &str, html: &str) -> Result<()> {
    let whole = settled(chromium, dir, &format!("{name}-whole"), html)?;
    assert!(whole.starts_with(b"\x89PNG"), "{name}: a PNG");
    assert!(
        whole.len() > 20_000,
        "{name}: a page, not a blank: {} bytes",
        whole.len()
    );
    for (what, selector) in SHOWN {
        let hidden = html.replacen(
            "</head>",
            &format!("<style>{selector} {{ visibility: hidden }}</style></head>"),
            1,
        );
        assert_ne!(hidden, html, "{name}: the report has a head");
        let variant = format!("{name}-without-{}", what.replace(' ', "-"));
        assert!(
            settled(chromium, dir, &variant, &hidden)? != whole,
            "{name}: the screenshot does not show {what} ({selector})"
        );
    }
    Ok(())
}

/// The three reports the drill keeps (one contained instance, one credential incident, one
/// attack sequence), each naming its resource and verdict and drawing its chart, in the HTML
/// and in Chromium's screenshot.
#[tokio::test]
async fn reports_name_the_resource_and_verdict_draw_the_chart_and_render() -> Result<()> {
    let world = world().await?;
    let mut reports = Vec::new();
    for (name, event) in [
        ("contained-instance", "guardduty/ec2-ssh-brute-force-web-server.json"),
        ("credential-incident", "guardduty/iam-user-malicious-ip-caller.json"),
        (
            "attack-sequence",
            "guardduty/attack-sequence-iam-compromised-credentials.json",
        ),
    ] {
        let report = world.respond(events::for_world(event, &world)?).await?;
        reports.push((name, report));
    }
    let playbooks: Vec<&str> = reports.iter().map(|(_, r)| r.playbook.as_str()).collect();
    assert_eq!(
        playbooks,
        ["ec2-compromise", "credential-compromise", "attack-sequence"]
    );
    let dir = std::env::temp_dir().join(format!("tourniquet-report-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let browser = chromium();
    if browser.is_none() {
        eprintln!(
            "report_page: SKIPPED the screenshots: chromium is not installed (apt-get install chromium); \
             the HTML is still checked"
        );
    }
    for (name, report) in &reports {
        let resource = match *name {
            "contained-instance" => world.web.instance_id.clone(),
            "credential-incident" => world.deployer.clone(),
            _ => report.resource.clone(),
        };
        let html = report_page(&world, &report.incident_id).await?;
        assert!(html.contains(&resource), "{name}: {resource} missing from the report");
        assert!(html.contains("id=\"verdict\">contained<"), "{name}: the verdict");
        assert!(html.contains("<svg id=\"timeline-chart\""), "{name}: the chart");
        assert!(
            html.contains("class=\"step good\""),
            "{name}: the steps are on the chart"
        );
        if let Some(chromium) = &browser {
            looked_at(chromium, &dir, name, &html)?;
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}
