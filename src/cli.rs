//! The command line: clap types that only collect what was typed, and the
//! requests they turn into. `main` parses, calls [`run`], and exits with the
//! code it returns.

use std::collections::BTreeMap;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::config::{self, FlagValues, Sources};
use crate::event::{self, CommitSha, NameHint};
use crate::plan::{self, Facts, LivePr, RecordFacts, RunContext};
use crate::record::RecordStatus;
use crate::{alchemy, render};

#[derive(Debug, Parser)]
#[command(
    name = "alchemy-ci",
    version,
    about = "Preview environments for Alchemy apps on GitHub: one stage per pull request",
    long_about = None
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Cmd,
}

#[derive(Debug, Subcommand)]
pub enum Cmd {
    /// Show what a run would do for an event, touching nothing: no network,
    /// no writes, no child processes.
    Simulate(SimulateArgs),
}

#[derive(Debug, Args)]
pub struct SimulateArgs {
    /// The event payload (defaults to $GITHUB_EVENT_PATH).
    #[arg(long, value_name = "FILE")]
    pub event: Option<PathBuf>,
    /// The event name (defaults to $GITHUB_EVENT_NAME, else inferred from the payload).
    #[arg(long, value_name = "NAME")]
    pub event_name: Option<String>,
    /// Print the plan as one JSON object.
    #[arg(long)]
    pub json: bool,
    /// Plan as if no GitHub token were available (nothing posted).
    #[arg(long)]
    pub no_token: bool,
    /// The PR's live state, as the API would report it.
    #[arg(long, value_enum, value_name = "STATE")]
    pub pr_state: Option<PrState>,
    /// The PR's live head commit (defaults to the event's head when --pr-state is given).
    #[arg(long, value_name = "SHA", requires = "pr_state")]
    pub pr_head: Option<String>,
    /// The stage's stored record status, or `missing`.
    #[arg(long, value_enum, value_name = "STATUS")]
    pub record: Option<RecordArg>,
    #[command(flatten)]
    pub config: ConfigArgs,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum PrState {
    Open,
    Closed,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum RecordArg {
    Missing,
    Deploying,
    Deployed,
    Failed,
    Destroying,
    Destroyed,
    DestroyFailed,
}

/// One flag per action input, same name. Values are collected as typed and
/// parsed by [`config::resolve`], so a flag, an `INPUT_*` variable and a
/// config file key go through the same parser.
#[derive(Debug, Default, Args)]
#[command(next_help_heading = "Inputs (also INPUT_<NAME> and alchemy-ci.yml keys)")]
pub struct ConfigArgs {
    /// auto (follow the event), deploy, destroy, cleanup or status.
    #[arg(long, value_name = "COMMAND")]
    pub command: Option<String>,
    /// The stage for an explicit deploy or destroy.
    #[arg(long, value_name = "STAGE")]
    pub stage: Option<String>,
    /// Prefix of pull request stages [default: pr-].
    #[arg(long, value_name = "PREFIX")]
    pub stage_prefix: Option<String>,
    /// Deploy draft pull requests [default: true].
    #[arg(long, value_name = "BOOL", num_args = 0..=1, default_missing_value = "true")]
    pub deploy_drafts: Option<String>,
    /// Only pull requests with this label get a preview.
    #[arg(long, value_name = "LABEL")]
    pub label: Option<String>,
    /// Deploy pull requests from forks [default: false].
    #[arg(long, value_name = "BOOL", num_args = 0..=1, default_missing_value = "true")]
    pub allow_forks: Option<String>,
    /// Branch-to-stage map for pushes, as `branch:stage` pairs.
    #[arg(long, value_name = "PAIRS")]
    pub branches: Option<String>,
    /// Stages automation never destroys [default: prod, production, staging].
    #[arg(long, value_name = "STAGES")]
    pub protected_stages: Option<String>,
    /// Let an explicit destroy remove a protected stage [default: false].
    #[arg(long, value_name = "BOOL", num_args = 0..=1, default_missing_value = "true")]
    pub allow_protected: Option<String>,
    /// Where the Alchemy app lives [default: .].
    #[arg(long, value_name = "DIR")]
    pub working_directory: Option<String>,
    /// auto, v1, v1-script [ENTRY], v2, or a command with {stage} and {phase}.
    #[arg(long, value_name = "COMMAND")]
    pub alchemy_command: Option<String>,
    /// git (default) or dir:<path>.
    #[arg(long, value_name = "STORE")]
    pub state_store: Option<String>,
    /// The config file [default: alchemy-ci.yml or .github/alchemy-ci.yml].
    #[arg(long, value_name = "FILE")]
    pub config: Option<String>,
}

impl ConfigArgs {
    pub fn flag_values(&self) -> FlagValues {
        let pairs: [(&'static str, &Option<String>); 13] = [
            ("command", &self.command),
            ("stage", &self.stage),
            ("stage-prefix", &self.stage_prefix),
            ("deploy-drafts", &self.deploy_drafts),
            ("label", &self.label),
            ("allow-forks", &self.allow_forks),
            ("branches", &self.branches),
            ("protected-stages", &self.protected_stages),
            ("allow-protected", &self.allow_protected),
            ("working-directory", &self.working_directory),
            ("alchemy-command", &self.alchemy_command),
            ("state-store", &self.state_store),
            ("config", &self.config),
        ];
        FlagValues(
            pairs
                .into_iter()
                .filter_map(|(k, v)| v.clone().map(|v| (k, v)))
                .collect(),
        )
    }
}

/// Errors that end a command, each with its exit code.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    #[error(transparent)]
    Event(#[from] event::EventError),
    #[error(transparent)]
    Config(#[from] config::ConfigError),
    #[error(transparent)]
    Plan(#[from] plan::PlanError),
    #[error("{0}")]
    Usage(String),
}

impl CliError {
    /// 2 for bad input or configuration: nothing ran and nothing changed.
    pub fn exit_code(&self) -> u8 {
        match self {
            Self::Event(_) | Self::Config(_) | Self::Plan(_) | Self::Usage(_) => 2,
        }
    }
}

/// Runs a parsed command line against the process environment.
pub fn run(cli: Cli) -> ExitCode {
    let env: BTreeMap<String, String> = std::env::vars_os()
        .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)))
        .collect();
    let result = match cli.command {
        Cmd::Simulate(args) => simulate(&args, &env),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            print_error(&e.to_string());
            ExitCode::from(e.exit_code())
        }
    }
}

/// One line on stderr, whatever the message holds.
pub fn print_error(msg: &str) {
    let one_line = render::term(msg);
    let _ = writeln!(std::io::stderr(), "alchemy-ci: error: {one_line}");
}

fn simulate(args: &SimulateArgs, env: &BTreeMap<String, String>) -> Result<(), CliError> {
    let non_empty = |k: &str| env.get(k).filter(|v| !v.is_empty()).cloned();
    let event_path = args
        .event
        .clone()
        .or_else(|| non_empty("GITHUB_EVENT_PATH").map(PathBuf::from))
        .ok_or_else(|| {
            CliError::Usage("no event: pass --event FILE or set GITHUB_EVENT_PATH".into())
        })?;
    let hint = NameHint {
        flag: args.event_name.clone(),
        env: non_empty("GITHUB_EVENT_NAME"),
    };
    let event = event::load(&event_path, &hint)?;

    let flags = args.config.flag_values();
    // Relative paths stay as the user wrote them in messages and the plan.
    let root = Path::new("");
    let config = config::resolve(&Sources {
        flags: &flags,
        env,
        root,
    })?;

    let head = match &event.payload {
        event::Payload::PullRequest(pr) => Some(pr.head_sha.clone()),
        _ => None,
    };
    let live_pr = match args.pr_state {
        None => None,
        Some(state) => {
            let head_sha = match &args.pr_head {
                Some(s) => CommitSha::parse(s).ok_or_else(|| {
                    CliError::Usage(format!("--pr-head: {s:?} is not a commit SHA"))
                })?,
                None => head.ok_or_else(|| {
                    CliError::Usage(
                        "--pr-state needs --pr-head for an event without a pull request".into(),
                    )
                })?,
            };
            Some(LivePr {
                open: matches!(state, PrState::Open),
                head_sha,
            })
        }
    };
    let facts = Facts {
        alchemy: alchemy::detect(
            &config.alchemy_command,
            &root.join(&config.working_directory),
        ),
        can_post: !args.no_token,
        live_pr,
        record: args.record.map(record_facts),
        run: RunContext {
            server_url: Some(
                non_empty("GITHUB_SERVER_URL").unwrap_or_else(|| "https://github.com".into()),
            ),
            repository: non_empty("GITHUB_REPOSITORY").or_else(|| event.repository.clone()),
            run_id: non_empty("GITHUB_RUN_ID"),
        },
    };
    let plan = plan::decide(&event, &config, &facts)?;

    let text = if args.json {
        let mut s = serde_json::to_string_pretty(&plan).unwrap_or_default();
        s.push('\n');
        s
    } else {
        let mut s = render::plan(&plan);
        s.push('\n');
        if !args.no_token {
            s.push_str("Assumed: a GitHub token, as in Actions (github-token defaults to the workflow's token); --no-token plans without one.\n");
        }
        s.push_str("Simulation only: nothing was run, written or posted.\n");
        s
    };
    // A closed pipe (`| head`) is not an error worth a message.
    let _ = std::io::stdout().write_all(text.as_bytes());
    Ok(())
}

fn record_facts(r: RecordArg) -> RecordFacts {
    let status = match r {
        RecordArg::Missing => return RecordFacts::Missing,
        RecordArg::Deploying => RecordStatus::Deploying,
        RecordArg::Deployed => RecordStatus::Deployed,
        RecordArg::Failed => RecordStatus::Failed,
        RecordArg::Destroying => RecordStatus::Destroying,
        RecordArg::Destroyed => RecordStatus::Destroyed,
        RecordArg::DestroyFailed => RecordStatus::DestroyFailed,
    };
    RecordFacts::Present { status }
}
