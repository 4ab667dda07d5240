//! `make drill`: seeds a small account in the local emulator, runs each responder on every
//! sample event through the Lambda Runtime API, and shows what changed.

#[path = "drill/logging.rs"]
mod logging;
#[path = "drill/reports.rs"]
mod reports;
#[path = "drill/securityhub.rs"]
mod securityhub;

use std::collections::BTreeMap;
use std::fmt::Write as _;

use anyhow::Result;
use tourniquet_tests::account::Account;
use tourniquet_tests::events;
use tourniquet_tests::org::{MEMBER_ROLE, create_member_role};
use tourniquet_tests::runtime::LambdaRuntime;
use tourniquet_tests::world::World;
use tourniquet_tests::{databases, functions};

/// What a person looks at on the web host and the bastion.
struct Snapshot {
    groups: BTreeMap<String, Vec<String>>,
    protection: BTreeMap<String, bool>,
    elastic_ip_associated: bool,
    keys: Vec<String>,
    user_denied: bool,
    role_revoked: bool,
}

async fn look(world: &World) -> Result<Snapshot> {
    let mut interfaces = world.web.interfaces.clone();
    interfaces.extend(world.bastion.interfaces.iter().cloned());
    let mut protection = BTreeMap::new();
    for host in [&world.web, &world.bastion] {
        protection.insert(
            host.instance_id.clone(),
            world.termination_protection(&host.instance_id).await?,
        );
    }
    Ok(Snapshot {
        groups: world.interface_groups(&interfaces).await?,
        protection,
        elastic_ip_associated: world.elastic_ip_associated().await?,
        keys: world.deployer_key_status().await?,
        user_denied: world
            .user_policy(&world.deployer, "tourniquet-deny-all")
            .await?
            .is_some(),
        role_revoked: world
            .role_policy_names(&world.web_role)
            .await?
            .iter()
            .any(|name| name.starts_with("tourniquet-")),
    })
}

fn group_name(world: &World, quarantine: &BTreeMap<String, String>, id: &str) -> String {
    let name = if id == world.web_group {
        "web (open to the world)"
    } else if id == world.app_group {
        "app (internal)"
    } else if let Some(role) = quarantine.get(id) {
        role.as_str()
    } else {
        "?"
    };
    format!("{id} {name}")
}

/// Where the attacker of the leaked key acts, and GuardDuty finds it: the credential finding
/// (`CREDENTIAL_FINDING`) is delivered there.
const ATTACK_REGION: &str = "us-west-2";
const CREDENTIAL_FINDING: &str = "guardduty/iam-user-malicious-ip-caller.json";

/// The credential finding as GuardDuty reports it in `ATTACK_REGION`.
fn credential_finding(world: &World) -> Result<serde_json::Value> {
    let mut finding = events::for_world(CREDENTIAL_FINDING, world)?;
    finding["region"] = ATTACK_REGION.into();
    finding["detail"]["region"] = ATTACK_REGION.into();
    Ok(finding)
}

/// Each function and the folder of sample events it answers.
const FUNCTIONS: &[(&str, &str)] = &[
    ("guardduty-responder", "guardduty"),
    ("config-responder", "config"),
    ("alarm-responder", "cloudwatch"),
];

#[tokio::main]
async fn main() -> Result<()> {
    println!("Tourniquet drill: a local AWS account, every sample event, what the responders did.\n");
    let world = World::seed(Account::new().await?).await?;
    describe(&world);
    let function = functions::create(&world, "drill-image-resizer", Some(5), &[]).await?;
    databases::create(&world, Some(databases::CLUSTER)).await?;
    println!(
        "  lambda   {} (reserved concurrency 5, role {}); Aurora cluster {} with {}\n",
        function.name,
        function.role_name,
        databases::CLUSTER,
        databases::INSTANCE
    );
    let before = look(&world).await?;
    let foothold = attack(&world).await?;
    for (function, folder) in FUNCTIONS {
        run(function, folder, &world, &world.function_env(function).await?)?;
    }
    print!("{}", changes(&world, &before).await?);
    print!("{}", beyond_instances(&world, &function).await?);
    breach(&world, &foothold).await?;
    configuration_histories(&world).await?;
    reports::drill(&world).await?;
    release(&world).await?;
    release_user(&world).await?;
    fleet().await?;
    instance_group().await?;
    logging::drill().await?;
    organization(&world).await?;
    securityhub::drill().await
}

/// quarantine-release on the deployer, whose leaked key the credential finding contained.
async fn release_user(world: &World) -> Result<()> {
    // Redelivered, the finding changes nothing and names its incident.
    let finding = credential_finding(world)?;
    let responder = LambdaRuntime::start("guardduty-responder", &world.function_env("guardduty-responder").await?)?;
    let Ok(report) = tokio::task::block_in_place(|| responder.invoke(&finding))? else {
        println!("\nthe credential finding was refused; no user to release");
        return Ok(());
    };
    let incident = report["incident_id"].as_str().unwrap_or_default();
    let text = events::read("manual/release-user.json")?.replace(events::INCIDENT_PLACEHOLDER, incident);
    let request = events::for_world_text(&text, world)?;
    let runtime = LambdaRuntime::start("quarantine-release", &world.function_env("quarantine-release").await?)?;
    println!("\nquarantine-release {request}:");
    match tokio::task::block_in_place(|| runtime.invoke(&request))? {
        Ok(report) => println!("  {}", report["reason"].as_str().unwrap_or("")),
        Err(error) => println!("  refused: {}", error.lines().next().unwrap_or("")),
    }
    let after = look(world).await?;
    println!(
        "  {}: deny-all {}; keys {}",
        world.deployer,
        yes(after.user_denied),
        world
            .deployer_keys
            .iter()
            .zip(&after.keys)
            .map(|(key, status)| format!("{key} {status}"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    if let Some(page) = world.pages().await?.first() {
        println!("  page: {}", page.subject);
    }
    Ok(())
}

/// Two instances share one role and one is compromised: only its own credentials are denied,
/// the other instance keeps its network and its AWS access.
async fn fleet() -> Result<()> {
    let world = World::seed(Account::new().await?).await?;
    let worker = world.host(&world.launch_worker().await?).await?;
    world
        .give_web_role(&[&world.web.instance_id, &worker.instance_id])
        .await?;
    println!(
        "\nFleet: web-1 {} and web-2 {} share instance role {} (account {})",
        world.web.instance_id, worker.instance_id, world.web_role, world.account.id
    );
    let mut both = world.web.interfaces.clone();
    both.extend(worker.interfaces.iter().cloned());
    let before = world.interface_groups(&both).await?;
    let env = world.function_env("guardduty-responder").await?;
    let runtime = LambdaRuntime::start("guardduty-responder", &env)?;
    let event = events::for_world("guardduty/ec2-ssh-brute-force-web-server.json", &world)?;
    if let Ok(report) = tokio::task::block_in_place(|| runtime.invoke(&event))? {
        println!(
            "guardduty-responder on web-1's finding -> {}",
            report["playbook"].as_str().unwrap_or("")
        );
    }
    let after = world.interface_groups(&both).await?;
    for (eni, groups) in &before {
        let host = if world.web.interfaces.contains(eni) {
            "web-1"
        } else {
            "web-2"
        };
        let now = after.get(eni).cloned().unwrap_or_default();
        let changed = if &now == groups { "unchanged" } else { "isolated" };
        println!("  {host} {eni}: {changed}");
    }
    for name in world.role_policy_names(&world.web_role).await? {
        let document = world.role_policy(&world.web_role, &name).await?.unwrap_or_default();
        println!(
            "  role {} policy {name}: {} {}",
            world.web_role,
            document["Statement"][0]["Effect"].as_str().unwrap_or("?"),
            document["Statement"][0]["Condition"]
        );
    }
    Ok(())
}

/// GuardDuty's attack sequence over a group of seven instances, with the quarantine limit at
/// its default of five: held whole, none touched, one page naming every member; after a
/// person's approval, all seven isolated.
async fn instance_group() -> Result<()> {
    let world = World::seed(Account::new().await?).await?;
    let mut instances = Vec::new();
    for _ in 0..7 {
        instances.push(world.launch_worker().await?);
    }
    let mut text = events::read("guardduty/attack-sequence-ec2-compromised-instance-group.json")?;
    for (n, instance) in instances.iter().enumerate() {
        text = text.replace(&format!("i-0a1b2c3d4e5f6070{}", n + 1), instance);
    }
    let event = events::for_world_text(&text, &world)?;
    let env = world.function_env("guardduty-responder").await?;
    let runtime = LambdaRuntime::start("guardduty-responder", &env)?;
    println!(
        "
Attack sequence: a compromised group of {} instances (account {}), quarantine limit 5",
        instances.len(),
        world.account.id
    );
    let isolated = |world: &World, instances: &[String]| {
        let (world, instances) = (world.clone(), instances.to_vec());
        async move {
            let Some(isolation) = world.quarantine_group("isolation").await? else {
                return anyhow::Ok(0);
            };
            let mut count = 0;
            for instance in &instances {
                let host = world.host(instance).await?;
                let groups = world.interface_groups(&host.interfaces).await?;
                count += usize::from(groups.values().all(|g| g == &vec![isolation.id.clone()]));
            }
            anyhow::Ok(count)
        }
    };
    let Ok(report) = tokio::task::block_in_place(|| runtime.invoke(&event))? else {
        anyhow::bail!("the instance group sample was refused");
    };
    let incident = report["incident_id"].as_str().unwrap_or_default().to_owned();
    println!(
        "  guardduty-responder -> {}: {}",
        report["playbook"].as_str().unwrap_or(""),
        report["reason"].as_str().unwrap_or("")
    );
    println!(
        "  isolated before approval: {} of {}",
        isolated(&world, &instances).await?,
        instances.len()
    );
    for page in world.pages().await? {
        let named = instances.iter().filter(|i| page.message.contains(i.as_str())).count();
        println!(
            "  page: {} (names {named} of the {} members)",
            page.subject,
            instances.len()
        );
    }
    let approve = serde_json::json!({ "approve": incident });
    if let Ok(approved) = tokio::task::block_in_place(|| runtime.invoke(&approve))? {
        println!("  approved -> {}", approved["reason"].as_str().unwrap_or(""));
    }
    println!(
        "  isolated after approval: {} of {}",
        isolated(&world, &instances).await?,
        instances.len()
    );
    Ok(())
}

/// The same home account as the organization's security account: a member account's finding
/// contained in the member, through the member role, paged and recorded in home.
async fn organization(home: &World) -> Result<()> {
    let member = World::seed(Account::new().await?).await?;
    create_member_role(&member, &home.account.id).await?;
    println!(
        "\nOrganization: security account {} (the account above) and member account {}",
        home.account.id, member.account.id
    );
    println!(
        "  member web-1 {}  interfaces {}; role {MEMBER_ROLE} trusting the security account",
        member.web.instance_id,
        member.web.interfaces.join(", ")
    );
    let before = member.interface_groups(&member.web.interfaces).await?;
    let mut env = home.function_env("guardduty-responder").await?;
    env.push(("TOURNIQUET_ACCOUNTS".to_owned(), member.account.id.clone()));
    let runtime = LambdaRuntime::start("guardduty-responder", &env)?;
    let event = events::for_world("guardduty/ec2-ssh-brute-force-web-server.json", &member)?;
    println!(
        "guardduty-responder in the security account (TOURNIQUET_ACCOUNTS={}), on the member's finding:",
        member.account.id
    );
    match tokio::task::block_in_place(|| runtime.invoke(&event))? {
        Ok(report) => {
            let failed = report["steps"]
                .as_array()
                .map_or(0, |s| s.iter().filter(|s| s["outcome"] == "failed").count());
            println!(
                "  -> {} in account {}, region {} ({failed} failed steps), acting as {}",
                report["playbook"].as_str().unwrap_or(""),
                report["place"]["account"].as_str().unwrap_or("?"),
                report["place"]["region"].as_str().unwrap_or("?"),
                report["acted_as"].as_str().unwrap_or("the function's own role")
            );
            println!(
                "  evidence (security account): {}",
                report["evidence"].as_str().unwrap_or("")
            );
        }
        Err(error) => println!("  refused: {}", error.lines().next().unwrap_or("")),
    }
    let quarantine: BTreeMap<String, String> = [("isolation", member.quarantine_group("isolation").await?)]
        .into_iter()
        .filter_map(|(role, group)| Some((group?.id, format!("tourniquet-{role}"))))
        .collect();
    let after = member.interface_groups(&member.web.interfaces).await?;
    println!("Member's web-1 interfaces, before -> after:");
    for (eni, groups) in &before {
        let show = |groups: &Vec<String>| {
            groups
                .iter()
                .map(|g| group_name(&member, &quarantine, g))
                .collect::<Vec<_>>()
                .join(", ")
        };
        println!(
            "  {eni}: {} -> {}",
            show(groups),
            after.get(eni).map(show).unwrap_or_default()
        );
    }
    println!(
        "  snapshots in the member: {}; pages from the member's own topic: {}",
        member.snapshots(&member.web.instance_id).await?.len(),
        member.pages().await?.len()
    );
    for page in home.pages().await? {
        let names = page.message.contains(&member.account.id);
        println!(
            "  page (security account): {}  [names the member: {names}]",
            page.subject
        );
    }
    Ok(())
}

/// quarantine-release on the web host, and its interfaces afterwards.
async fn release(world: &World) -> Result<()> {
    let runtime = LambdaRuntime::start("quarantine-release", &world.function_env("quarantine-release").await?)?;
    let request = events::for_world("manual/release.json", world)?;
    println!("\nquarantine-release {request}, through the Lambda Runtime API:");
    match tokio::task::block_in_place(|| runtime.invoke(&request))? {
        Ok(report) => {
            for step in report["steps"].as_array().into_iter().flatten() {
                println!(
                    "  {} {}: {}",
                    step["action"].as_str().unwrap_or(""),
                    step["target"].as_str().unwrap_or(""),
                    step["outcome"].as_str().unwrap_or("")
                );
            }
        }
        Err(error) => println!("  refused: {}", error.lines().next().unwrap_or("")),
    }
    let after = look(world).await?;
    println!("After the release:");
    for (eni, groups) in after
        .groups
        .iter()
        .filter(|(eni, _)| world.web.interfaces.contains(eni))
    {
        let names: Vec<String> = groups.iter().map(|g| group_name(world, &BTreeMap::new(), g)).collect();
        println!("  {eni}: {}", names.join(", "));
    }
    println!(
        "  Elastic IP {} associated: {}",
        world.elastic_ip, after.elastic_ip_associated
    );
    println!(
        "  termination protection: {}",
        after
            .protection
            .get(&world.web.instance_id)
            .copied()
            .unwrap_or_default()
    );
    if let Some(page) = world.pages().await?.first() {
        println!("  page: {}", page.subject);
    }
    println!(
        "  snapshots kept: {}",
        world.snapshots(&world.web.instance_id).await?.len()
    );
    Ok(())
}

fn describe(world: &World) {
    println!(
        "Account {} (region {})",
        world.account.id,
        tourniquet_tests::account::REGION
    );
    println!(
        "  web-1    {}  interfaces {}  volumes {}  Elastic IP {}",
        world.web.instance_id,
        world.web.interfaces.join(", "),
        world.web.volumes.join(", "),
        world.elastic_ip
    );
    println!(
        "  bastion  {}  tagged tourniquet:protected (never touched)",
        world.bastion.instance_id
    );
    println!(
        "  IAM      user {} with keys {}; role {}",
        world.deployer,
        world.deployer_keys.join(", "),
        world.web_role
    );
    println!("  pages    {} -> queue on-call-pages", world.topic_arn);
    println!("  evidence s3://{}/\n", world.bucket);
}

/// Delivers every sample in `events/<folder>` through template.yaml's rules, and invokes
/// `function` through the Lambda Runtime API with what they deliver to it. A sample no rule
/// delivers is shown as such, and fails the drill unless `events/README.md` says why.
fn run(function: &str, folder: &str, world: &World, env: &[(String, String)]) -> Result<()> {
    let runtime = LambdaRuntime::start(function, env)?;
    println!("{function}, through template.yaml's rules and the Lambda Runtime API (cargo lambda):");
    for path in events::list(folder)? {
        let sample = if path == CREDENTIAL_FINDING {
            credential_finding(world)?
        } else {
            events::for_world(&path, world)?
        };
        let name = path.trim_start_matches(folder).trim_start_matches('/');
        let delivered = events::delivered(&sample, world)?;
        if delivered.is_empty() && sample.get("alarmData").is_some() {
            // An alarm's Lambda action invokes the function itself, with this payload.
            print_answer(name, tokio::task::block_in_place(|| runtime.invoke(&sample))?);
            continue;
        }
        if delivered.is_empty() {
            anyhow::ensure!(
                events::undelivered_on_purpose(&path)?,
                "{path}: no rule of template.yaml delivers it, and events/README.md does not say why"
            );
            println!("  {name}\n      no rule delivers it (events/README.md says why)");
            continue;
        }
        for (to, event) in delivered {
            anyhow::ensure!(to == function, "{path}: delivered to {to}, not {function}");
            print_answer(name, tokio::task::block_in_place(|| runtime.invoke(&event))?);
        }
    }
    println!();
    Ok(())
}

/// One invocation's answer, as the drill shows it.
fn print_answer(name: &str, answer: std::result::Result<serde_json::Value, String>) {
    match answer {
        Ok(ignored) if ignored.get("ignored").is_some() => {
            println!("  {name}\n      ignored: {}", ignored["ignored"].as_str().unwrap_or(""));
        }
        Ok(report) => {
            let steps = report["steps"].as_array().map_or(0, Vec::len);
            let failed = report["steps"]
                .as_array()
                .map_or(0, |s| s.iter().filter(|s| s["outcome"] == "failed").count());
            println!(
                "  {name}\n      {} {} -> {} ({steps} steps, {failed} failed): {}",
                report["finding_type"].as_str().unwrap_or(""),
                report["severity"],
                report["playbook"].as_str().unwrap_or(""),
                report["reason"].as_str().unwrap_or("")
            );
        }
        Err(error) => println!("  {name}\n      refused: {}", error.lines().next().unwrap_or("")),
    }
}

/// Before and after, pages received, evidence written.
async fn changes(world: &World, before: &Snapshot) -> Result<String> {
    let after = look(world).await?;
    let mut quarantine = BTreeMap::new();
    for role in ["conversion", "isolation"] {
        if let Some(group) = world.quarantine_group(role).await? {
            quarantine.insert(
                group.id,
                format!("tourniquet-{role} ({} in, {} out rules)", group.ingress, group.egress),
            );
        }
    }
    let mut out = String::new();
    writeln!(out, "Interfaces, before -> after:")?;
    let show = |groups: &Vec<String>| {
        groups
            .iter()
            .map(|g| group_name(world, &quarantine, g))
            .collect::<Vec<_>>()
            .join(", ")
    };
    for (eni, groups) in &before.groups {
        writeln!(
            out,
            "  {eni}: {} -> {}",
            show(groups),
            after.groups.get(eni).map(&show).unwrap_or_default()
        )?;
    }
    writeln!(out, "Termination protection, before -> after:")?;
    for (id, was) in &before.protection {
        writeln!(
            out,
            "  {id}: {was} -> {}",
            after.protection.get(id).copied().unwrap_or_default()
        )?;
    }
    writeln!(
        out,
        "Elastic IP {} associated: {} -> {}",
        world.elastic_ip, before.elastic_ip_associated, after.elastic_ip_associated
    )?;
    writeln!(out, "Access keys of {}, before -> after:", world.deployer)?;
    for (key, (was, now)) in world.deployer_keys.iter().zip(before.keys.iter().zip(&after.keys)) {
        writeln!(out, "  {key}: {was} -> {now}")?;
    }
    writeln!(
        out,
        "Inline deny policies: user {} {}, role {} {}",
        world.deployer,
        yes(after.user_denied),
        world.web_role,
        yes(after.role_revoked)
    )?;
    writeln!(out, "Snapshots of web-1:")?;
    for (snapshot, volume, tags) in world.snapshots(&world.web.instance_id).await? {
        let tag = |k: &str| tags.get(k).cloned().unwrap_or_default();
        writeln!(
            out,
            "  {snapshot} of {volume}  incident {}  finding {}",
            tag("tourniquet:incident-id"),
            tag("tourniquet:finding-type")
        )?;
    }
    writeln!(out, "Tags on web-1:")?;
    for (key, value) in world.instance_tags(&world.web.instance_id).await? {
        writeln!(out, "  {key} = {value}")?;
    }
    let pages = world.pages().await?;
    writeln!(out, "Pages received ({}):", pages.len())?;
    for page in &pages {
        writeln!(out, "  {}", page.subject)?;
    }
    let isolated = pages.iter().find(|p| p.subject.ends_with("isolated"));
    if let Some(page) = isolated {
        show_page(&mut out, page)?;
    }
    let keys = world.evidence_keys().await?;
    let incidents: std::collections::BTreeSet<&str> = keys.iter().filter_map(|k| k.split('/').nth(1)).collect();
    writeln!(
        out,
        "\nEvidence: {} objects for {} incidents in s3://{}/",
        keys.len(),
        incidents.len(),
        world.bucket
    )?;
    if let Some(id) = isolated.and_then(|p| p.attributes["incident_id"]["Value"].as_str()) {
        for key in keys.iter().filter(|k| k.contains(id)) {
            writeln!(out, "  {key}")?;
        }
    }
    Ok(out)
}

/// One page in each form it is sent in: the email text, the JSON document (every other
/// protocol), and the AWS Chatbot custom notification it becomes with
/// `TOURNIQUET_PAGE_FORMAT=chatbot`; each JSON checked against its schema in `docs/`.
fn show_page(out: &mut String, page: &tourniquet_tests::world::Page) -> Result<()> {
    writeln!(out, "\nThe containment page, as email (subject: {}):", page.subject)?;
    for line in page.message.lines() {
        writeln!(out, "  | {line}")?;
    }
    let verdict = |schema, value: &serde_json::Value| match tourniquet_tests::schema::check(schema, value) {
        Ok(()) => "valid".to_owned(),
        Err(err) => format!("INVALID: {err:#}"),
    };
    writeln!(
        out,
        "\nThe same page as JSON, for sqs, lambda, https and firehose (docs/page.schema.json: {}):",
        verdict(tourniquet_tests::schema::page(), &page.json)
    )?;
    for line in serde_json::to_string_pretty(&page.json)?.lines() {
        writeln!(out, "  | {line}")?;
    }
    if let Some(document) = page.document() {
        let chatbot = playbook::page::chatbot(&document);
        writeln!(
            out,
            "\nThe same page as an AWS Chatbot custom notification, with TOURNIQUET_PAGE_FORMAT=chatbot \
             (docs/chatbot.schema.json: {}):",
            verdict(tourniquet_tests::schema::chatbot(), &chatbot)
        )?;
        for line in serde_json::to_string_pretty(&chatbot)?.lines() {
            writeln!(out, "  | {line}")?;
        }
    }
    Ok(())
}

fn yes(on: bool) -> &'static str {
    if on { "attached" } else { "absent" }
}

/// What the GuardDuty responder did beyond instances and keys: the exposed bucket, the
/// compromised function, the database a suspicious login reached.
async fn beyond_instances(world: &World, function: &functions::Function) -> Result<String> {
    let mut out = String::new();
    writeln!(out, "Beyond instances and keys:")?;
    writeln!(
        out,
        "  bucket {}: public access block {:?}",
        world.assets_bucket,
        world.public_access_block(&world.assets_bucket).await?
    )?;
    writeln!(
        out,
        "  function {}: reserved concurrency 5 -> {:?}; versions kept {:?}; role policies {:?}",
        function.name,
        functions::reserved_concurrency(world, &function.name).await?,
        functions::versions(world, &function.name).await?,
        world.role_policy_names(&function.role_name).await?
    )?;
    let snapshots = world
        .account
        .clients
        .rds
        .describe_db_cluster_snapshots()
        .db_cluster_identifier(databases::CLUSTER)
        .snapshot_type("manual")
        .send()
        .await?;
    let names: Vec<&str> = snapshots
        .db_cluster_snapshots()
        .iter()
        .filter_map(|s| s.db_cluster_snapshot_identifier())
        .collect();
    writeln!(
        out,
        "  Aurora cluster {}: manual snapshots {names:?}",
        databases::CLUSTER
    )?;
    Ok(out)
}

/// Before the findings: an attacker with the deployer's leaked key looks around, reads an
/// object, and leaves a user with a key and AdministratorAccess.
async fn attack(world: &World) -> Result<tourniquet_tests::attacker::Foothold> {
    use tourniquet_tests::attacker::Attacker;
    world
        .account
        .clients
        .s3
        .put_object()
        .bucket(&world.assets_bucket)
        .key("patients.csv")
        .body(b"name,diagnosis".to_vec().into())
        .send()
        .await?;
    let attacker = Attacker::with_key(&world.account, &world.deployer_keys[0])
        .await?
        .in_region(ATTACK_REGION);
    attacker.look_around(&world.assets_bucket, "patients.csv").await?;
    let foothold = attacker.persist("backup-admin").await?;
    println!(
        "An attacker with the leaked key {}, from {ATTACK_REGION}, listed the buckets, read patients.csv, and \
         created user {} with key {} and AdministratorAccess (IAM: recorded in us-east-1).\n",
        world.deployer_keys[0], foothold.user, foothold.access_key_id
    );
    Ok(foothold)
}

/// What AWS Config recorded of each contained instance, group and bucket, read after
/// containment into the evidence: one line an item, oldest first.
async fn configuration_histories(world: &World) -> Result<()> {
    println!("Configuration history (AWS Config, read after containment):");
    for key in world.evidence_keys().await? {
        if !key.contains("/config-history/") {
            continue;
        }
        let history = world.evidence(&key).await?;
        println!("  {key}");
        if let Some(why) = history["not_recorded"].as_str() {
            println!("      not recorded: {why}");
            continue;
        }
        let before = history.get("before_window").filter(|b| !b.is_null());
        for item in before
            .into_iter()
            .chain(history["items"].as_array().into_iter().flatten())
        {
            let c = &item["configuration"];
            let what = if let Some(nics) = c["networkInterfaces"].as_array() {
                let groups: Vec<String> = nics
                    .iter()
                    .map(|n| {
                        let ids: Vec<&str> = n["groups"]
                            .as_array()
                            .into_iter()
                            .flatten()
                            .filter_map(|g| g["groupName"].as_str())
                            .collect();
                        format!("{}: {}", n["networkInterfaceId"].as_str().unwrap_or("?"), ids.join("+"))
                    })
                    .collect();
                groups.join(", ")
            } else if let Some(rules) = c["ipPermissions"].as_array() {
                let open: Vec<String> = rules
                    .iter()
                    .flat_map(|r| {
                        r["ipv4Ranges"].as_array().into_iter().flatten().map(move |range| {
                            format!(
                                "{} {} from {}",
                                r["ipProtocol"].as_str().unwrap_or("?"),
                                r["fromPort"],
                                range["cidrIp"].as_str().unwrap_or("?")
                            )
                        })
                    })
                    .collect();
                format!("ingress [{}]", open.join(", "))
            } else {
                let block = &item["supplementary"]["PublicAccessBlockConfiguration"];
                format!(
                    "public access block: {}",
                    if block.is_null() {
                        "none".to_owned()
                    } else {
                        block.to_string()
                    }
                )
            };
            println!(
                "      {} {:<18} {what}",
                item["captured"].as_str().unwrap_or(""),
                item["status"].as_str().unwrap_or("")
            );
        }
    }
    println!();
    Ok(())
}

/// What the timeline of the leaked key shows, and what became of the attacker's foothold.
async fn breach(world: &World, foothold: &tourniquet_tests::attacker::Foothold) -> Result<()> {
    println!("The breach timeline (CloudTrail event history, read after containment):");
    for key in world.evidence_keys().await? {
        if !key.ends_with("/timeline.json") {
            continue;
        }
        let timeline = world.evidence(&key).await?;
        let summary = &timeline["summary"];
        println!(
            "  {key}\n      {} call(s), {} write(s), {} denied, services {}; by {}",
            summary["calls"], summary["writes"], summary["denied"], summary["services"], timeline["lookups"]
        );
        for event in timeline["events"].as_array().into_iter().flatten().take(10) {
            println!(
                "        {} {} {}",
                event["time"].as_str().unwrap_or(""),
                event["name"].as_str().unwrap_or(""),
                event["resources"]
                    .as_array()
                    .and_then(|r| r.first())
                    .and_then(serde_json::Value::as_str)
                    .unwrap_or("")
            );
        }
    }
    let keys = world
        .account
        .clients
        .iam
        .list_access_keys()
        .user_name(&foothold.user)
        .send()
        .await?;
    let status: Vec<String> = keys
        .access_key_metadata()
        .iter()
        .map(|k| {
            format!(
                "{} {}",
                k.access_key_id().unwrap_or(""),
                k.status().map_or("", |s| s.as_str())
            )
        })
        .collect();
    let denied = world
        .user_policy(&foothold.user, "tourniquet-deny-all")
        .await?
        .is_some();
    println!(
        "  Persistence swept: {}'s keys: {}; denied everything: {}",
        foothold.user,
        status.join(", "),
        yes(denied)
    );
    // The attacker acted from ATTACK_REGION; its user is IAM's, recorded in us-east-1: the
    // credential contained there sweeps it, or the drill fails.
    anyhow::ensure!(
        denied
            && keys
                .access_key_metadata()
                .iter()
                .all(|k| k.status().is_some_and(|s| s.as_str() == "Inactive")),
        "the user {} the attacker created from {ATTACK_REGION} was not swept: keys {}, denied everything: {}",
        foothold.user,
        status.join(", "),
        yes(denied)
    );
    println!("  ({})\n", playbook::timeline::DATA_EVENTS_CAVEAT);
    Ok(())
}
