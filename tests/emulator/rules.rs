//! Every sample event through template.yaml's own EventBridge rules: each reaches the function
//! of its source, once, or no function, and then `events/README.md` says why.

use anyhow::Result;
use tourniquet_tests::account::Account;
use tourniquet_tests::emulator::emulator;
use tourniquet_tests::events;

/// Each folder of samples and the one function its rules deliver to.
const FOLDERS: [(&str, &str); 5] = [
    ("guardduty", "guardduty-responder"),
    ("config", "config-responder"),
    ("cloudwatch", "alarm-responder"),
    ("securityhub", "securityhub-responder"),
    ("manual", "quarantine-release"),
];

#[tokio::test]
async fn every_sample_reaches_its_function_through_the_templates_rules_or_the_readme_says_why() -> Result<()> {
    let account = Account::new().await?;
    let mut wrong = Vec::new();
    let (mut delivered, mut undelivered) = (0, 0);
    for (folder, function) in FOLDERS {
        for path in events::list(folder)? {
            let text = events::read(&path)?.replace(events::ACCOUNT_PLACEHOLDER, &account.id);
            let event: serde_json::Value = serde_json::from_str(&text)?;
            let region = event["region"].as_str().unwrap_or(tourniquet_tests::account::REGION);
            let to: Vec<String> = emulator()
                .deliver(&account.id, region, &event)?
                .into_iter()
                .map(|(to, delivered)| {
                    // What the function gets is the event as sent: the detail is intact.
                    assert_eq!(
                        delivered["detail"], event["detail"],
                        "{path}: detail changed on the way"
                    );
                    to
                })
                .collect();
            let explained = events::undelivered_on_purpose(&path)?;
            match (to.as_slice(), explained) {
                ([to], false) if to == function => delivered += 1,
                ([], true) => undelivered += 1,
                ([], false) => wrong.push(format!(
                    "{path}: no rule of template.yaml delivers it, and events/README.md does not say why"
                )),
                (_, true) => wrong.push(format!(
                    "{path}: events/README.md says no rule delivers it, but it reaches {to:?}"
                )),
                (_, false) => wrong.push(format!("{path}: reaches {to:?}, not {function} once")),
            }
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
    // The folders hold samples of both kinds: neither count is vacuous.
    assert!(
        delivered >= 40 && undelivered >= 10,
        "{delivered} delivered, {undelivered} not"
    );
    Ok(())
}
