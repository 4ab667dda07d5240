//! `tourniquet`: the operator's side of Tourniquet. Lists incidents from the evidence bucket's
//! index, shows one as a person reads it, and sends the deployed functions the requests they
//! take (approve a held plan, release a quarantine, read a timeline again), with the user's own
//! AWS credentials.

use std::io::IsTerminal as _;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};

mod error;
mod evidence;
mod invoke;
mod show;
mod stack;

use error::CliError;

/// Answer Tourniquet's pages from a terminal.
#[derive(Debug, Parser)]
#[command(name = "tourniquet", version, about, long_about = None)]
struct Cli {
    #[command(flatten)]
    global: Global,
    #[command(subcommand)]
    command: Command,
}

/// Where Tourniquet is deployed, and how to answer.
#[derive(Debug, Args)]
struct Global {
    /// AWS profile (default: the SDK's usual chain, `AWS_PROFILE` included).
    #[arg(long, global = true)]
    profile: Option<String>,
    /// Region of the stack (the evidence bucket and the functions).
    #[arg(long, global = true)]
    region: Option<String>,
    /// Stack name: its outputs name the evidence bucket and the functions (options override them).
    #[arg(long, global = true, env = "TOURNIQUET_STACK", default_value = "tourniquet")]
    stack: String,
    /// Evidence bucket (default: the stack's `EvidenceBucketName` output).
    #[arg(long, global = true, env = "TOURNIQUET_EVIDENCE_BUCKET")]
    bucket: Option<String>,
    /// Print JSON for programs instead of text.
    #[arg(long, global = true)]
    json: bool,
    /// Do not ask before sending a request that changes the account.
    #[arg(long, short = 'y', global = true)]
    yes: bool,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// One line per incident, newest first.
    Incidents {
        /// How far back: `30m`, `24h`, `7d`.
        #[arg(long, default_value = "24h")]
        since: String,
        /// Only incidents held for approval.
        #[arg(long)]
        held: bool,
        /// Only incidents of this account.
        #[arg(long)]
        account: Option<String>,
        /// At most this many incidents.
        #[arg(long, default_value_t = 50)]
        limit: usize,
    },
    /// An incident as a person reads it: before and after, steps, timeline, next commands.
    Show {
        id: String,
        /// Write report.html locally and open it.
        #[arg(long)]
        open: bool,
        /// Where `--open` writes the report (default: a temporary folder).
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Runs a plan held for approval (the blast-radius limit), once.
    Approve {
        id: String,
        /// The function that handled the incident (default: by the incident's source).
        #[arg(long)]
        function: Option<String>,
    },
    /// Undoes a quarantine or a credential containment from its evidence.
    Release(Release),
    /// The breach timeline of an incident; `--reread` reads CloudTrail again.
    Timeline {
        id: String,
        #[arg(long)]
        reread: bool,
        #[arg(long)]
        function: Option<String>,
    },
    /// What a responder would do with EVENT.json: planned here, nothing sent (dry run), unless
    /// `--send` hands it to the deployed function.
    Drill {
        event: PathBuf,
        /// Send the event to this function (default: by the event's source).
        #[arg(long)]
        function: Option<String>,
        /// Invoke the deployed function with the event (it acts unless deployed with DryRun).
        #[arg(long)]
        send: bool,
    },
}

/// What to release: the incident, and the resource or principal it contained.
#[derive(Debug, Args)]
pub struct Release {
    /// The incident whose containment to undo.
    id: Option<String>,
    #[arg(long, conflicts_with_all = ["user", "role"])]
    instance: Option<String>,
    #[arg(long, conflicts_with = "role")]
    user: Option<String>,
    #[arg(long)]
    role: Option<String>,
    /// Reactivate the access keys the incident deactivated (AWS advises against it).
    #[arg(long)]
    reactivate_keys: bool,
    /// Release even what changed since the containment (recorded).
    #[arg(long)]
    force: bool,
    #[arg(long)]
    function: Option<String>,
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let json = cli.global.json;
    match run(cli).await {
        Ok(code) => code,
        Err(err) => {
            let message = chain(&err);
            if json {
                let mut answer = serde_json::json!({"error": message, "exit": err.exit()});
                if let Some(hint) = err.hint() {
                    answer["hint"] = hint.into();
                }
                if let CliError::Function { function, kind, .. } = &err {
                    answer["function"] = function.as_str().into();
                    answer["kind"] = kind.as_str().into();
                }
                print_json(&answer);
            } else {
                eprintln!("tourniquet: {message}");
                if let Some(hint) = err.hint() {
                    eprintln!("  {hint}");
                }
            }
            ExitCode::from(err.exit())
        }
    }
}

async fn run(cli: Cli) -> Result<ExitCode, CliError> {
    let aws = invoke::Aws::new(&cli.global).await;
    let g = &cli.global;
    match cli.command {
        Command::Incidents {
            since,
            held,
            account,
            limit,
        } => {
            let since = evidence::parse_since(&since)?;
            let entries = evidence::incidents(&aws, since, limit, |e| {
                (!held || e.verdict == "held")
                    && account
                        .as_ref()
                        .is_none_or(|a| e.account.as_deref() == Some(a.as_str()))
            })
            .await?;
            if g.json {
                print_json(&entries);
            } else if entries.is_empty() {
                println!("No incidents in the index since {}.", evidence::clock(since));
            } else {
                for entry in &entries {
                    println!("{}", show::line(entry));
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Show { id, open, out } => {
            let incident = evidence::Recorded::read(&aws, &id).await?;
            let names = aws.page_names(incident.source()).await;
            if open {
                let path = show::write_page(&incident, &names, out)?;
                show::open(&path);
                if !g.json {
                    println!("{}", path.display());
                }
            }
            if g.json {
                print_json(&show::json(&incident, &names));
            } else {
                print!("{}", show::text(&incident, &names));
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Approve { id, function } => {
            let incident = evidence::Recorded::read(&aws, &id).await?;
            let function = aws
                .function(function, stack::responder_output(incident.source()))
                .await?;
            let payload = serde_json::json!({ "approve": id });
            invoke::confirm(g, &format!("Run the held plan of {id} ({})", incident.subject()))?;
            invoke::send(&aws, g, &function, &payload, "approving").await
        }
        Command::Release(release) => {
            let payload = invoke::release_payload(&release)?;
            let function = aws
                .function(release.function.clone(), stack::QUARANTINE_RELEASE)
                .await?;
            invoke::confirm(g, &format!("Release {}", invoke::describe_release(&payload)))?;
            invoke::send(&aws, g, &function, &payload, "releasing").await
        }
        Command::Timeline { id, reread, function } => {
            if reread {
                let incident = evidence::Recorded::read(&aws, &id).await?;
                let function = aws
                    .function(function, stack::responder_output(incident.source()))
                    .await?;
                return invoke::send(
                    &aws,
                    g,
                    &function,
                    &serde_json::json!({ "timeline": id }),
                    "reading CloudTrail",
                )
                .await;
            }
            let incident = evidence::Recorded::read(&aws, &id).await?;
            let Some(timeline) = &incident.timeline else {
                return Err(CliError::NotFound(format!(
                    "no timeline for {id}: it is read after a credential or instance containment; \
                     `tourniquet timeline {id} --reread` reads one now"
                )));
            };
            if g.json {
                print_json(timeline);
            } else {
                print!("{}", show::timeline_text(timeline));
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Drill { event, function, send } => drill(&aws, g, &event, function, send).await,
    }
}

/// `tourniquet drill`: the plan made here (dry run), or the event sent to the function.
async fn drill(
    aws: &invoke::Aws,
    g: &Global,
    event: &std::path::Path,
    function: Option<String>,
    send: bool,
) -> Result<ExitCode, CliError> {
    let text =
        std::fs::read_to_string(event).map_err(|e| CliError::Usage(format!("cannot read {}: {e}", event.display())))?;
    let value: serde_json::Value =
        serde_json::from_str(&text).map_err(|e| CliError::Usage(format!("{} is not JSON: {e}", event.display())))?;
    if send {
        let function = aws
            .function(function, stack::responder_output(stack::source_of_event(&value)))
            .await?;
        invoke::confirm(g, &format!("Send {} to {function}", event.display()))?;
        return invoke::send(aws, g, &function, &value, "responding").await;
    }
    let planned = show::drill(&value)?;
    if g.json {
        print_json(&planned);
    } else {
        println!("Dry run, planned here with the default policy; nothing was sent.");
        println!("{}", serde_json::to_string_pretty(&planned).unwrap_or_default());
        println!(
            "To send it to the deployed function: tourniquet drill {} --send",
            event.display()
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// The error and each of its causes, on one line.
fn chain(err: &CliError) -> String {
    let mut message = err.to_string();
    let mut source = std::error::Error::source(err);
    while let Some(cause) = source {
        message.push_str(": ");
        message.push_str(&cause.to_string());
        source = cause.source();
    }
    message
}

fn print_json(value: &impl serde::Serialize) {
    println!("{}", serde_json::to_string_pretty(value).unwrap_or_default());
}

/// Whether a person is at the terminal (prompts and progress are for them only).
fn interactive() -> bool {
    std::io::stdin().is_terminal() && std::io::stderr().is_terminal()
}
