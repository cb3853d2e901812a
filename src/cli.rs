//! The command line: clap types that only collect what was typed, and the
//! requests they turn into. `main` parses, calls [`run`], and exits with the
//! code it returns.

use std::collections::BTreeMap;
use std::io::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::config::{self, FlagValues};
use crate::{commands, event, plan, render};

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
    /// Do what the event asks: print the plan, then execute it (the action's
    /// entrypoint).
    Run(RunArgs),
    /// Destroy every preview stage that should no longer exist: PR stages
    /// whose PR is not open, stages whose destroy failed, stages past ttl.
    Cleanup(CleanupArgs),
    /// List every stage in the state store with its status and URLs.
    Status(StatusArgs),
    /// Inspect and repair the state store by hand.
    State(StateArgs),
    /// Deploy a stage by hand (stage: --stage, $STAGE, dev_$USER).
    Deploy(LocalArgs),
    /// Destroy a stage by hand, verified like any destroy.
    Destroy(LocalArgs),
    /// Run a stage in Alchemy's read phase and refresh its URLs; changes nothing.
    Read(LocalArgs),
}

#[derive(Debug, Args)]
pub struct LocalArgs {
    /// Print the result as JSON on stdout (everything else goes to stderr).
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub config: ConfigArgs,
}

#[derive(Debug, Args)]
pub struct StateArgs {
    #[command(subcommand)]
    pub command: StateCmd,
    #[command(flatten)]
    pub config: ConfigArgs,
}

#[derive(Debug, Subcommand)]
pub enum StateCmd {
    /// Every stage with its status.
    List,
    /// One stage's record and state files.
    Show { stage: String },
    /// Remove a stage from the store; refused while it records resources.
    Rm {
        stage: String,
        /// Remove it even though resources or a lock are recorded.
        #[arg(long)]
        force: bool,
    },
    /// Remove a stage's lock, and nothing else; refused while its holder
    /// looks alive.
    Unlock {
        stage: String,
        /// Unlock it even though the holder's lease is live.
        #[arg(long)]
        force: bool,
    },
}

#[derive(Debug, Args)]
pub struct CleanupArgs {
    /// List each candidate with its reason and change nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Print the stages to destroy as a GitHub Actions matrix and stop.
    #[arg(long)]
    pub matrix: bool,
    /// Also sweep this stage, though it is not a PR stage (repeatable).
    #[arg(long = "include", value_name = "STAGE")]
    pub include: Vec<String>,
    #[command(flatten)]
    pub config: ConfigArgs,
}

#[derive(Debug, Args)]
pub struct StatusArgs {
    /// Print one JSON array.
    #[arg(long)]
    pub json: bool,
    /// First run every deployed stage in Alchemy's read phase to refresh its URLs.
    #[arg(long)]
    pub refresh: bool,
    #[command(flatten)]
    pub config: ConfigArgs,
}

/// The event a command acts on.
#[derive(Debug, Args)]
pub struct EventArgs {
    /// The event payload (defaults to $GITHUB_EVENT_PATH).
    #[arg(long, value_name = "FILE")]
    pub event: Option<PathBuf>,
    /// The event name (defaults to $GITHUB_EVENT_NAME, else inferred from the payload).
    #[arg(long, value_name = "NAME")]
    pub event_name: Option<String>,
}

#[derive(Debug, Args)]
pub struct RunArgs {
    #[command(flatten)]
    pub event: EventArgs,
    #[command(flatten)]
    pub config: ConfigArgs,
}

#[derive(Debug, Args)]
pub struct SimulateArgs {
    #[command(flatten)]
    pub event: EventArgs,
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
    /// A command with {stage} that exits 0 when nothing of a destroyed stage is left [default: none].
    #[arg(long, value_name = "COMMAND")]
    pub verify_command: Option<String>,
    /// git (default), dir:<path> or s3://bucket/prefix.
    #[arg(long, value_name = "STORE")]
    pub state_store: Option<String>,
    /// Endpoint of an s3:// state store that is not AWS (R2, MinIO) [default: none].
    #[arg(long, value_name = "URL")]
    pub s3_endpoint: Option<String>,
    /// Region of an s3:// state store's bucket, `auto` for R2 [default: none].
    #[arg(long, value_name = "REGION")]
    pub s3_region: Option<String>,
    /// Stop an Alchemy run after this many minutes [default: 60].
    #[arg(long, value_name = "MINUTES")]
    pub timeout_minutes: Option<String>,
    /// A JSON file of URLs the app writes, relative to the app [default: none].
    #[arg(long, value_name = "FILE")]
    pub outputs_file: Option<String>,
    /// Token for PR comments, deployments and lookups (prefer INPUT_GITHUB-TOKEN or GITHUB_TOKEN).
    #[arg(long, value_name = "TOKEN", hide_env_values = true)]
    pub github_token: Option<String>,
    /// Keep one sticky comment per stage on the PR [default: true].
    #[arg(long, value_name = "BOOL", num_args = 0..=1, default_missing_value = "true")]
    pub comment: Option<String>,
    /// The login the token's comments are written as (e.g. my-app[bot]), where GitHub cannot say [default: none].
    #[arg(long, value_name = "LOGIN")]
    pub comment_author: Option<String>,
    /// Create GitHub deployments for deployed stages [default: true].
    #[arg(long, value_name = "BOOL", num_args = 0..=1, default_missing_value = "true")]
    pub deployments: Option<String>,
    /// Names of environment variables whose values are masked in logs.
    #[arg(long, value_name = "NAMES")]
    pub mask_env: Option<String>,
    /// The sweep destroys PR stages last deployed longer ago, e.g. 14d [default: none].
    #[arg(long, value_name = "DURATION")]
    pub ttl: Option<String>,
    /// How many destroys the sweep runs at once [default: 2].
    #[arg(long, value_name = "N")]
    pub max_parallel: Option<String>,
    /// Days a closed PR's tombstone is kept [default: 30].
    #[arg(long, value_name = "DAYS")]
    pub tombstone_days: Option<String>,
    /// The Alchemy profile (credentials), independent of the stage [default: none].
    #[arg(long, value_name = "PROFILE")]
    pub profile: Option<String>,
    /// Keep git state in this repository (OWNER/REPO or a URL) [default: none].
    #[arg(long, value_name = "REPO")]
    pub state_repo: Option<String>,
    /// Token for state-repo (prefer INPUT_STATE-TOKEN) [default: none].
    #[arg(long, value_name = "TOKEN")]
    pub state_token: Option<String>,
    /// Where stage refs live in the git store [default: refs/alchemy-ci/stages/].
    #[arg(long, value_name = "PREFIX")]
    pub state_ref_prefix: Option<String>,
    /// The config file [default: alchemy-ci.yml or .github/alchemy-ci.yml].
    #[arg(long, value_name = "FILE")]
    pub config: Option<String>,
}

impl ConfigArgs {
    pub fn flag_values(&self) -> FlagValues {
        let pairs: [(&'static str, &Option<String>); 30] = [
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
            ("verify-command", &self.verify_command),
            ("state-store", &self.state_store),
            ("s3-endpoint", &self.s3_endpoint),
            ("s3-region", &self.s3_region),
            ("timeout-minutes", &self.timeout_minutes),
            ("outputs-file", &self.outputs_file),
            ("github-token", &self.github_token),
            ("comment", &self.comment),
            ("comment-author", &self.comment_author),
            ("deployments", &self.deployments),
            ("mask-env", &self.mask_env),
            ("ttl", &self.ttl),
            ("max-parallel", &self.max_parallel),
            ("tombstone-days", &self.tombstone_days),
            ("profile", &self.profile),
            ("state-repo", &self.state_repo),
            ("state-token", &self.state_token),
            ("state-ref-prefix", &self.state_ref_prefix),
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
    #[error(transparent)]
    Store(#[from] crate::state::StoreError),
    /// Something outside alchemy-ci failed before anything changed.
    #[error("{0}")]
    Failed(String),
}

impl CliError {
    /// 2 for bad input or configuration: nothing ran and nothing changed.
    /// 1 when the world failed us (a store, a missing program).
    pub fn exit_code(&self) -> u8 {
        match self {
            Self::Event(_) | Self::Config(_) | Self::Plan(_) | Self::Usage(_) => 2,
            Self::Store(_) | Self::Failed(_) => 1,
        }
    }
}

/// Runs a parsed command line against the process environment.
pub fn run(cli: Cli) -> ExitCode {
    let env = match read_env(std::env::vars_os()) {
        Ok(env) => env,
        Err(e) => {
            print_error(&e.to_string());
            return ExitCode::from(e.exit_code());
        }
    };
    let result = match cli.command {
        Cmd::Simulate(args) => commands::simulate::simulate(&args, &env).map(|()| 0),
        Cmd::Run(args) => commands::run::run(&args, &env),
        Cmd::Cleanup(args) => commands::cleanup::command(&args, &env),
        Cmd::Status(args) => commands::status::command(&args, &env),
        Cmd::State(args) => commands::state::command(&args, &env),
        Cmd::Deploy(args) => commands::local::command(config::Command::Deploy, &args, &env),
        Cmd::Destroy(args) => commands::local::command(config::Command::Destroy, &args, &env),
        Cmd::Read(args) => commands::local::command(config::Command::Read, &args, &env),
    };
    match result {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            print_error(&e.to_string());
            ExitCode::from(e.exit_code())
        }
    }
}

/// The process environment as text, checked before anything reads it:
/// alchemy-ci's own inputs (`INPUT_*`) and the runner's `GITHUB_*`
/// variables must be UTF-8 (one that is not is refused, never dropped in
/// favour of a default), and the runner variables that end up in links and
/// requests must have GitHub's shape. Other variables that are not UTF-8
/// belong to the app: they are left out here and still reach Alchemy.
pub fn read_env(
    vars: impl Iterator<Item = (std::ffi::OsString, std::ffi::OsString)>,
) -> Result<BTreeMap<String, String>, CliError> {
    use std::os::unix::ffi::OsStrExt as _;
    let ours = |k: &[u8]| k.starts_with(b"INPUT_") || k.starts_with(b"GITHUB_");
    let mut env = BTreeMap::new();
    for (k, v) in vars {
        match (k.to_str(), v.to_str()) {
            (Some(k), Some(v)) => {
                env.insert(k.to_owned(), v.to_owned());
            }
            _ if ours(k.as_bytes()) => {
                return Err(CliError::Usage(format!(
                    "{}: the value is not valid UTF-8",
                    String::from_utf8_lossy(k.as_bytes())
                )));
            }
            _ => {}
        }
    }
    let set = |k: &str| env.get(k).map(String::as_str).filter(|v| !v.is_empty());
    for name in ["GITHUB_SERVER_URL", "GITHUB_API_URL"] {
        if let Some(v) = set(name) {
            crate::github::names::server_url(v)
                .map_err(|m| CliError::Usage(format!("{name}: {m}")))?;
        }
    }
    if let Some(v) = set("GITHUB_REPOSITORY") {
        crate::github::names::RepoName::parse(v)
            .map_err(|m| CliError::Usage(format!("GITHUB_REPOSITORY: {m}")))?;
    }
    for name in ["GITHUB_RUN_ID", "GITHUB_RUN_ATTEMPT"] {
        if let Some(v) = set(name) {
            if v.len() > 20 || !v.bytes().all(|b| b.is_ascii_digit()) {
                return Err(CliError::Usage(format!(
                    "{name}: expected a number, got {v:?}"
                )));
            }
        }
    }
    Ok(env)
}

/// One line on stderr, whatever the message holds.
pub fn print_error(msg: &str) {
    let one_line = render::term(msg);
    let _ = writeln!(std::io::stderr(), "alchemy-ci: error: {one_line}");
}
