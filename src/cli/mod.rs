//! The command line: clap types that only collect what was typed, each
//! turned into the request its command takes, and the dispatch. Inputs are
//! not written out here: each subcommand gets the flags of the inputs it
//! reads from the input table ([`inputs`]).

pub mod inputs;
mod usage;

use std::ffi::OsString;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::commands::{self, CommandError, EventArgs};
use crate::config::Command;
use crate::record::RecordStatus;
use inputs::{ForCleanup, ForDeploy, ForDestroy, ForRead, ForRun, ForSimulate, ForState};
use inputs::{ForStatus, Inputs, Reads};

#[derive(Debug, Parser)]
#[command(
    name = "alchemy-ci",
    version,
    about = "Preview environments for Alchemy apps on GitHub: one stage per pull request",
    long_about = None,
    arg_required_else_help = true
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
    Deploy(LocalArgs<ForDeploy>),
    /// Destroy a stage by hand, verified like any destroy.
    Destroy(LocalArgs<ForDestroy>),
    /// Run a stage in Alchemy's read phase and refresh its URLs; changes nothing.
    Read(LocalArgs<ForRead>),
    /// Print documentation made from alchemy-ci's own definitions.
    Docs(DocsArgs),
}

#[derive(Debug, Args)]
pub struct LocalArgs<R: Reads> {
    /// Print the result as one JSON document on stdout (everything else goes to stderr).
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub inputs: Inputs<R>,
}

#[derive(Debug, Args)]
#[command(arg_required_else_help = true)]
pub struct StateArgs {
    #[command(subcommand)]
    pub command: StateCmd,
    #[command(flatten)]
    pub inputs: Inputs<ForState>,
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
    pub inputs: Inputs<ForCleanup>,
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
    pub inputs: Inputs<ForStatus>,
}

/// The event a command acts on.
#[derive(Debug, Args)]
pub struct EventFlags {
    /// The event payload, `-` for standard input [default: $GITHUB_EVENT_PATH].
    #[arg(long, value_name = "FILE")]
    pub event: Option<PathBuf>,
    /// The event name [default: $GITHUB_EVENT_NAME, else inferred from the payload].
    #[arg(long, value_name = "NAME")]
    pub event_name: Option<String>,
}

impl EventFlags {
    fn request(&self) -> EventArgs {
        EventArgs {
            event: self.event.clone(),
            event_name: self.event_name.clone(),
        }
    }
}

#[derive(Debug, Args)]
pub struct RunArgs {
    #[command(flatten)]
    pub event: EventFlags,
    #[command(flatten)]
    pub inputs: Inputs<ForRun>,
}

#[derive(Debug, Args)]
pub struct SimulateArgs {
    #[command(flatten)]
    pub event: EventFlags,
    /// Print the plan as one JSON object.
    #[arg(long)]
    pub json: bool,
    /// Plan as if no GitHub token were available (nothing posted).
    #[arg(long)]
    pub no_token: bool,
    /// The PR's live state, as the API would report it.
    #[arg(long, value_enum, value_name = "STATE")]
    pub pr_state: Option<PrState>,
    /// The PR's live head commit [default: the event's head, when --pr-state is given].
    #[arg(long, value_name = "SHA", requires = "pr_state")]
    pub pr_head: Option<String>,
    /// The stage's stored record status, or `missing`.
    #[arg(long, value_enum, value_name = "STATUS")]
    pub record: Option<RecordArg>,
    /// The PR's head lives in a fork (for a comment's payload, which does not say).
    #[arg(long, requires = "pr_state")]
    pub pr_fork: bool,
    /// A comment command's author's repository permission, as GitHub would report it.
    #[arg(long, value_enum, value_name = "LEVEL")]
    pub commenter_permission: Option<PermissionArg>,
    /// With apps: a file the pull request changes (repeatable) [default: every app affected].
    #[arg(long, value_name = "PATH")]
    pub changed: Vec<String>,
    /// With apps: an app already deployed for the stage (repeatable).
    #[arg(long, value_name = "APP")]
    pub deployed: Vec<String>,
    #[command(flatten)]
    pub inputs: Inputs<ForSimulate>,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum PermissionArg {
    Admin,
    Maintain,
    Write,
    Triage,
    Read,
    None,
}

impl PermissionArg {
    fn level(self) -> crate::pr_command::permission::Permission {
        use crate::pr_command::permission::Permission;
        match self {
            Self::Admin => Permission::Admin,
            Self::Maintain => Permission::Maintain,
            Self::Write => Permission::Write,
            Self::Triage => Permission::Triage,
            Self::Read => Permission::Read,
            Self::None => Permission::None,
        }
    }
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

impl RecordArg {
    fn status(self) -> Option<RecordStatus> {
        Some(match self {
            Self::Missing => return None,
            Self::Deploying => RecordStatus::Deploying,
            Self::Deployed => RecordStatus::Deployed,
            Self::Failed => RecordStatus::Failed,
            Self::Destroying => RecordStatus::Destroying,
            Self::Destroyed => RecordStatus::Destroyed,
            Self::DestroyFailed => RecordStatus::DestroyFailed,
        })
    }
}

#[derive(Debug, Args)]
#[command(arg_required_else_help = true)]
pub struct DocsArgs {
    #[command(subcommand)]
    pub what: DocsCmd,
}

#[derive(Debug, Subcommand)]
pub enum DocsCmd {
    /// The inputs: action.yml's `inputs:` or the README's table.
    Inputs {
        #[arg(long, value_enum)]
        format: DocsFormat,
    },
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum DocsFormat {
    /// action.yml's `inputs:` mapping.
    ActionYml,
    /// The README's table of inputs.
    Markdown,
}

/// Parses `args` (the program name first) and runs the command.
pub fn main(args: impl IntoIterator<Item = OsString>) -> ExitCode {
    let args: Vec<OsString> = args.into_iter().collect();
    match Cli::try_parse_from(&args) {
        Ok(cli) => run(cli),
        Err(e) => usage::report(&e, &args),
    }
}

/// Runs a parsed command line against the process environment.
pub fn run(cli: Cli) -> ExitCode {
    let env = match commands::read_env(std::env::vars_os()) {
        Ok(env) => env,
        Err(e) => return fail(&e),
    };
    match dispatch(cli.command, &env) {
        Ok(code) => ExitCode::from(code),
        Err(e) => fail(&e),
    }
}

fn fail(e: &CommandError) -> ExitCode {
    commands::print_error(&e.to_string());
    ExitCode::from(e.exit_code())
}

fn dispatch(cmd: Cmd, env: &crate::env::Env) -> Result<u8, CommandError> {
    use commands::{cleanup, docs, local, run, simulate, state, status};
    match cmd {
        Cmd::Simulate(a) => simulate::simulate(&simulate_request(a), env).map(|()| 0),
        Cmd::Run(a) => run::run(
            &run::RunArgs {
                event: a.event.request(),
                flags: a.inputs.values,
            },
            env,
        ),
        Cmd::Cleanup(a) => cleanup::command(
            &cleanup::CleanupArgs {
                dry_run: a.dry_run,
                matrix: a.matrix,
                include: a.include,
                flags: a.inputs.values,
            },
            env,
        ),
        Cmd::Status(a) => status::command(
            &status::StatusArgs {
                json: a.json,
                refresh: a.refresh,
                flags: a.inputs.values,
            },
            env,
        ),
        Cmd::State(a) => state::command(&state_request(a), env),
        Cmd::Deploy(a) => local::command(&local_request(Command::Deploy, a), env),
        Cmd::Destroy(a) => local::command(&local_request(Command::Destroy, a), env),
        Cmd::Read(a) => local::command(&local_request(Command::Read, a), env),
        Cmd::Docs(DocsArgs {
            what: DocsCmd::Inputs { format },
        }) => docs::inputs(match format {
            DocsFormat::ActionYml => docs::Format::ActionYml,
            DocsFormat::Markdown => docs::Format::Markdown,
        }),
    }
}

fn simulate_request(a: SimulateArgs) -> commands::simulate::SimulateArgs {
    commands::simulate::SimulateArgs {
        event: a.event.request(),
        json: a.json,
        no_token: a.no_token,
        pr_open: a.pr_state.map(|s| matches!(s, PrState::Open)),
        pr_head: a.pr_head,
        record: a.record.map(RecordArg::status),
        commenter_permission: a.commenter_permission.map(PermissionArg::level),
        pr_fork: a.pr_fork,
        changed: a.changed,
        deployed: a.deployed,
        flags: a.inputs.values,
    }
}

fn state_request(a: StateArgs) -> commands::state::StateArgs {
    use commands::state::{StateAction, StateArgs};
    StateArgs {
        action: match a.command {
            StateCmd::List => StateAction::List,
            StateCmd::Show { stage } => StateAction::Show { stage },
            StateCmd::Rm { stage, force } => StateAction::Rm { stage, force },
            StateCmd::Unlock { stage, force } => StateAction::Unlock { stage, force },
        },
        flags: a.inputs.values,
    }
}

fn local_request<R: Reads>(command: Command, a: LocalArgs<R>) -> commands::local::LocalArgs {
    commands::local::LocalArgs {
        command,
        json: a.json,
        flags: a.inputs.values,
    }
}
