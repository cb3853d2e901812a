//! Every input alchemy-ci takes, defined once: its name (the same as a
//! flag, an `INPUT_*` variable and a config file key), the kind of value,
//! the default, what `--help` and the docs say, where it may be set, which
//! commands read it, and how its value is parsed into [`Config`].
//!
//! Everything else is made from this table: the clap arguments of each
//! subcommand (`cli::inputs`), resolution with its precedence
//! ([`super::resolve`]), which config file keys exist and which are
//! refused, and the generated `inputs:` of `action.yml` and the README's
//! input table ([`super::docs`]). A new input is one row.

use std::path::PathBuf;
use std::time::Duration;

use super::value::Value;
use super::{stage_env, Command, Config, StateStoreSpec};
use crate::alchemy::AlchemyCommand;
use crate::apps::spec::{AppName, Apps};
use crate::env::Env;
use crate::stage::{Stage, StagePrefix};

/// One input.
#[derive(Debug)]
pub struct Input {
    pub name: &'static str,
    /// The placeholder in `--help` (`--stage <STAGE>`).
    pub value_name: &'static str,
    pub kind: Kind,
    pub default: InputDefault,
    /// What the action declares as `default:` in `action.yml`, when it
    /// declares one (see [`Input::action_default`]).
    pub action_default: Option<&'static str>,
    /// One line for `--help`, without the default.
    pub help: &'static str,
    /// The full description, Markdown, for `action.yml` and the README.
    pub doc: &'static str,
    pub set_by: SetBy,
    /// A value it accepts on its own, for tests and examples (empty for
    /// the file-only mappings, which have no one-line form, and for `app`,
    /// which is valid only beside `apps`).
    pub example: &'static str,
    /// The subcommands that read it; only they accept it as a flag.
    pub used_by: &'static [Sub],
    /// Masked in logs and never shown (`--help` shows no value either).
    pub secret: bool,
    /// Parses a value into the configuration. Inputs are applied in table
    /// order, so one may rely on those above it (stages need the prefix).
    pub apply: Apply,
}

/// What an input's parser gets: the value, and the environment for values
/// that refer to it (`dir:~`).
pub type Apply = fn(&mut Config, Value<'_>, &Ctx<'_>) -> Result<(), String>;

/// What parsing may look at besides the value.
pub struct Ctx<'a> {
    pub env: &'a Env,
}

/// The kind of value an input takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// `true` or `false`; a bare flag means `true`.
    Bool,
    /// One of a few words.
    Choice(&'static [&'static str]),
    /// Text with a grammar of its own (a stage, a number, a URL); anything
    /// else is refused.
    Strict,
    /// Free text (a path, a label, a token).
    Text,
    /// A list: a YAML sequence, or text separated by commas or newlines.
    List,
    /// `key:value` pairs: a YAML mapping, or text like a list.
    Pairs,
    /// A command: a JSON array of strings, or words.
    Words,
    /// A mapping keyed by stage patterns, only in the config file.
    StageMap,
}

impl Kind {
    /// Whether a value outside the input's grammar is refused (rather
    /// than taken as text).
    pub fn is_strict(self) -> bool {
        matches!(self, Self::Bool | Self::Choice(_) | Self::Strict)
    }
}

/// What an input is when nothing sets it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InputDefault {
    /// Unset.
    None,
    /// This text, parsed like any value, so the documented default is the
    /// one in force.
    Value(&'static str),
    /// Taken from this environment variable when it is set and not blank.
    Env(&'static str),
    /// Worked out where it is used, as described here (Markdown).
    Described(&'static str),
}

/// Where an input may be set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SetBy {
    /// A flag, an action input or the config file.
    Anywhere,
    /// A flag or an action input only: it guards what untrusted code may
    /// do, and a pull request can change the config file.
    Trusted,
    /// A flag or an action input only: it names the config file itself.
    NotInFile,
    /// The config file only: a mapping keyed by stage patterns.
    FileOnly,
}

impl SetBy {
    pub fn flag(self) -> bool {
        self != Self::FileOnly
    }

    /// An action input (`INPUT_<NAME>`), declared in `action.yml`.
    pub fn input(self) -> bool {
        self != Self::FileOnly
    }

    pub fn file(self) -> bool {
        matches!(self, Self::Anywhere | Self::FileOnly)
    }
}

/// The subcommands that read inputs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Sub {
    Run,
    Simulate,
    Cleanup,
    Status,
    State,
    Deploy,
    Destroy,
    Read,
}

impl Sub {
    pub const ALL: &'static [Sub] = &[
        Sub::Run,
        Sub::Simulate,
        Sub::Cleanup,
        Sub::Status,
        Sub::State,
        Sub::Deploy,
        Sub::Destroy,
        Sub::Read,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Simulate => "simulate",
            Self::Run => "run",
            Self::Cleanup => "cleanup",
            Self::Status => "status",
            Self::State => "state",
            Self::Deploy => "deploy",
            Self::Destroy => "destroy",
            Self::Read => "read",
        }
    }
}

impl Input {
    pub fn used_by(&self, sub: Sub) -> bool {
        self.used_by.contains(&sub)
    }

    /// The `INPUT_*` variable the runner sets for it.
    pub fn env_var(&self) -> String {
        format!("INPUT_{}", self.name.to_ascii_uppercase())
    }

    /// The default as `--help` shows it: `[default: …]`, always present.
    pub fn help_default(&self) -> String {
        let shown = match self.default {
            InputDefault::None => "none".to_owned(),
            InputDefault::Value(v) => v.to_owned(),
            InputDefault::Env(var) => format!("${var}"),
            InputDefault::Described(d) => d.replace('`', ""),
        };
        format!("[default: {shown}]")
    }

    /// The default as the docs show it, Markdown.
    pub fn doc_default(&self) -> String {
        let shown = match self.default {
            InputDefault::None => "none".to_owned(),
            InputDefault::Value(v) => format!("`{v}`"),
            InputDefault::Env(var) => format!("`${var}`"),
            InputDefault::Described(d) => d.to_owned(),
        };
        match self.action_default {
            Some(a) => format!("`{a}` in the action, else {shown}"),
            None => shown,
        }
    }
}

/// Every subcommand that reads inputs.
const ALL: &[Sub] = Sub::ALL;
/// `run` takes every input (an event may ask for any action) and
/// `simulate` takes what `run` takes, so a run can be simulated as typed.
const EVENT: &[Sub] = &[Sub::Run, Sub::Simulate];
/// What runs Alchemy: `status` too, for `--refresh`.
const RUNS_ALCHEMY: &[Sub] = &[
    Sub::Run,
    Sub::Simulate,
    Sub::Cleanup,
    Sub::Status,
    Sub::Deploy,
    Sub::Destroy,
    Sub::Read,
];
/// What opens the state store.
const OPENS_STORE: &[Sub] = ALL;
/// What may destroy a stage.
const DESTROYS: &[Sub] = &[Sub::Run, Sub::Simulate, Sub::Cleanup, Sub::Destroy];
/// What posts to a pull request.
const POSTS: &[Sub] = &[Sub::Run, Sub::Simulate, Sub::Cleanup];
/// What refreshes URLs from the app's own outputs file.
const READS_URLS: &[Sub] = &[Sub::Run, Sub::Simulate, Sub::Status, Sub::Deploy, Sub::Read];
/// What acts on one stage named by hand.
const ONE_STAGE: &[Sub] = &[
    Sub::Run,
    Sub::Simulate,
    Sub::Deploy,
    Sub::Destroy,
    Sub::Read,
];
/// The sweep.
const SWEEP: &[Sub] = &[Sub::Run, Sub::Simulate, Sub::Cleanup];

/// The values of `command`.
pub const COMMANDS: &[&str] = &[
    "auto", "deploy", "destroy", "read", "cleanup", "status", "comment",
];

/// Every input, in the order the docs list them. `stage-prefix` comes
/// before every input that holds a stage: they are parsed with it.
pub static INPUTS: &[Input] = &[
    Input {
        name: "command",
        example: "deploy",
        value_name: "COMMAND",
        kind: Kind::Choice(COMMANDS),
        default: InputDefault::Value("auto"),
        action_default: None,
        help: "What to do: auto follows the event; deploy, destroy, read, cleanup and status act explicitly; comment answers a PR comment and outputs the commit to check out",
        doc: "What to do: `auto` follows the event; `deploy`, `destroy`, `read` (refresh a stage's URLs, change nothing), `cleanup` and `status` act explicitly; `comment` is the first step of a comment command's run (docs/comment-commands.md): it answers the comment, and for a command that runs Alchemy outputs the commit to check out (`sha`) and `run: true` instead of running it.",
        set_by: SetBy::Anywhere,
        used_by: EVENT,
        secret: false,
        apply: |c, v, _| {
            let t = v.text()?;
            c.command = Command::parse(&t).ok_or_else(|| Command::expected(&t))?;
            Ok(())
        },
    },
    Input {
        name: "stage-prefix",
        example: "preview-",
        value_name: "PREFIX",
        kind: Kind::Strict,
        default: InputDefault::Value("pr-"),
        action_default: None,
        help: "Prefix of pull request stages",
        doc: "Prefix of pull request stages: PR 7's stage is `<prefix>7`.",
        set_by: SetBy::Anywhere,
        used_by: ALL,
        secret: false,
        apply: |c, v, _| {
            c.stage_prefix = StagePrefix::parse(&v.text()?).map_err(|e| e.to_string())?;
            Ok(())
        },
    },
    Input {
        name: "stage",
        example: "prod",
        value_name: "STAGE",
        kind: Kind::Strict,
        default: InputDefault::None,
        action_default: None,
        help: "The stage for deploy, destroy or read (by hand: else $STAGE, then dev_$USER)",
        doc: "The stage for an explicit `deploy`, `destroy` or `read`. Run by hand, those commands fall back to `$STAGE`, then `dev_$USER`, as Alchemy does.",
        set_by: SetBy::Anywhere,
        used_by: ONE_STAGE,
        secret: false,
        apply: |c, v, _| {
            c.stage = Some(stage(c, &v.text()?)?);
            Ok(())
        },
    },
    Input {
        name: "deploy-drafts",
        example: "false",
        value_name: "BOOL",
        kind: Kind::Bool,
        default: InputDefault::Value("true"),
        action_default: None,
        help: "Deploy draft pull requests",
        doc: "Deploy draft pull requests.",
        set_by: SetBy::Anywhere,
        used_by: EVENT,
        secret: false,
        apply: |c, v, _| {
            c.deploy_drafts = v.boolean()?;
            Ok(())
        },
    },
    Input {
        name: "label",
        example: "preview",
        value_name: "LABEL",
        kind: Kind::Text,
        default: InputDefault::None,
        action_default: None,
        help: "Only pull requests with this label get a preview",
        doc: "Only pull requests carrying this label get a preview; adding it deploys, removing it destroys.",
        set_by: SetBy::Anywhere,
        used_by: EVENT,
        secret: false,
        apply: |c, v, _| {
            c.label = Some(v.text()?).filter(|l| !l.is_empty());
            Ok(())
        },
    },
    Input {
        name: "allow-forks",
        example: "true",
        value_name: "BOOL",
        kind: Kind::Bool,
        default: InputDefault::Value("false"),
        action_default: None,
        help: "Deploy pull requests from forks (their code is untrusted)",
        doc: "Deploy pull requests from forks. Their code is untrusted; under `pull_request_target` it would run with your secrets.",
        set_by: SetBy::Trusted,
        used_by: EVENT,
        secret: false,
        apply: |c, v, _| {
            c.allow_forks = v.boolean()?;
            Ok(())
        },
    },
    Input {
        name: "branches",
        example: "main:prod",
        value_name: "PAIRS",
        kind: Kind::Pairs,
        default: InputDefault::None,
        action_default: None,
        help: "Branch-to-stage map for pushes, as branch:stage pairs",
        doc: "`branch:stage` pairs for `push` events, comma- or newline-separated (a mapping in the file), e.g. `main:prod, develop:staging`.",
        set_by: SetBy::Anywhere,
        used_by: EVENT,
        secret: false,
        apply: |c, v, _| {
            c.branches = v
                .pairs()?
                .into_iter()
                .map(|(branch, s)| Ok((branch, stage(c, &s)?)))
                .collect::<Result<_, String>>()?;
            Ok(())
        },
    },
    Input {
        name: "protected-stages",
        example: "prod, staging",
        value_name: "STAGES",
        kind: Kind::List,
        default: InputDefault::Value("prod, production, staging"),
        action_default: None,
        help: "Stages automation never destroys",
        doc: "Stages automation never destroys, comma- or newline-separated.",
        set_by: SetBy::Trusted,
        used_by: DESTROYS,
        secret: false,
        apply: |c, v, _| {
            c.protected_stages = v
                .list()?
                .iter()
                .map(|s| stage(c, s))
                .collect::<Result<_, _>>()?;
            Ok(())
        },
    },
    Input {
        name: "allow-protected",
        example: "true",
        value_name: "BOOL",
        kind: Kind::Bool,
        default: InputDefault::Value("false"),
        action_default: None,
        help: "Let an explicit destroy remove a protected stage",
        doc: "Let an explicit `destroy` remove a protected stage.",
        set_by: SetBy::Trusted,
        used_by: &[Sub::Run, Sub::Simulate, Sub::Destroy],
        secret: false,
        apply: |c, v, _| {
            c.allow_protected = v.boolean()?;
            Ok(())
        },
    },
    Input {
        name: "working-directory",
        example: ".",
        value_name: "DIR",
        kind: Kind::Text,
        default: InputDefault::Value("."),
        action_default: None,
        help: "Where the Alchemy app lives (with apps: each app has its own)",
        doc: "Where the Alchemy app lives, relative to the workspace. With `apps`, each app has its own `working-directory`; this one is then only used for the stages deployed before `apps` was set.",
        set_by: SetBy::Anywhere,
        used_by: RUNS_ALCHEMY,
        secret: false,
        apply: |c, v, _| {
            c.working_directory = PathBuf::from(v.text()?);
            Ok(())
        },
    },
    Input {
        name: "alchemy-command",
        example: "v1",
        value_name: "COMMAND",
        kind: Kind::Words,
        default: InputDefault::Value("auto"),
        action_default: None,
        help: "auto, v1, v1-script [ENTRY], v2, or a command with {stage} and {phase}",
        doc: "How Alchemy is run: `auto` (from the app's installed `alchemy`), `v1`, `v1-script [ENTRY]`, `v2`, or your own command with `{stage}` and `{phase}` (a JSON array, or words).",
        set_by: SetBy::Anywhere,
        used_by: RUNS_ALCHEMY,
        secret: false,
        apply: |c, v, _| {
            let words = match v.yaml() {
                Some(serde_norway::Value::Sequence(_)) => v.list()?,
                _ => AlchemyCommand::split_words(&v.text()?)?,
            };
            c.alchemy_command = AlchemyCommand::from_words(&words)?;
            Ok(())
        },
    },
    Input {
        name: "apps",
        example: "[{name: api, working-directory: apps/api}, {name: web, working-directory: apps/web, depends-on: api}]",
        value_name: "YAML",
        kind: Kind::Text,
        default: InputDefault::None,
        action_default: None,
        help: "The apps of a monorepo, as YAML: each a name, working-directory, and optional paths, alchemy-command, profile, env and depends-on",
        doc: "The apps of a monorepo, as a YAML list (a list in the config file): each with `name`, `working-directory` (relative to the repository root) and optionally `paths`, `alchemy-command`, `profile`, `env` and `depends-on`. Each pull request then deploys only the apps its changed files touch, in dependency order, with one comment for all; see [docs/monorepo.md](docs/monorepo.md). Unset, there is one app, in `working-directory`.",
        set_by: SetBy::Anywhere,
        used_by: ALL,
        secret: false,
        apply: |c, v, _| {
            let apps = match v.yaml() {
                Some(serde_norway::Value::String(t)) => Apps::from_text(t),
                Some(y) => Apps::from_value(y),
                None => Apps::from_text(&v.text()?),
            };
            c.apps = Some(apps.map_err(|e| e.to_string())?);
            Ok(())
        },
    },
    Input {
        name: "app",
        example: "",
        value_name: "APP",
        kind: Kind::Strict,
        default: InputDefault::None,
        action_default: None,
        help: "With apps: deploy, destroy or read only this app (a deploy brings the apps it needs), whatever the changed files",
        doc: "With `apps`: deploy, destroy or read only this app, whatever the pull request's changed files (a deploy also deploys the apps it needs that are not deployed). A `workflow_dispatch` may pass it as its `app` input. Unset, an explicit command acts on every app.",
        set_by: SetBy::Anywhere,
        used_by: ONE_STAGE,
        secret: false,
        // Checked against `apps` once every input is read (`resolve`).
        apply: |c, v, _| {
            c.app = Some(AppName::parse(&v.text()?)?);
            Ok(())
        },
    },
    Input {
        name: "verify-command",
        example: "true",
        value_name: "COMMAND",
        kind: Kind::Words,
        default: InputDefault::None,
        action_default: None,
        help: "A command with {stage} that exits 0 when nothing of a destroyed stage is left",
        doc: "Your own check, run after a destroy that Alchemy reported as a success, that nothing of the stage is left: a command with `{stage}` (a JSON array, or words) that exits 0 when the stage is gone; any other exit fails the destroy, and the sweep retries it. Needed to verify destroys of apps that keep their state in their own store.",
        set_by: SetBy::Trusted,
        used_by: DESTROYS,
        secret: false,
        apply: |c, v, _| {
            let words = AlchemyCommand::split_words(&v.text()?)?;
            if words.is_empty() {
                return Err("is empty".into());
            }
            c.verify_command = Some(words);
            Ok(())
        },
    },
    Input {
        name: "state-store",
        example: "dir:state",
        value_name: "STORE",
        kind: Kind::Strict,
        default: InputDefault::Value("git"),
        action_default: None,
        help: "Where stage state is kept: git, dir:<path> or s3://bucket/prefix",
        doc: "Where stage state is kept: `git` (refs of this repository), `dir:<path>` (`~` is the home folder), or `s3://bucket/prefix` (AWS S3, Cloudflare R2, MinIO; credentials only from `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY` and `AWS_SESSION_TOKEN` in the environment; see docs/record.md).",
        set_by: SetBy::Anywhere,
        used_by: OPENS_STORE,
        secret: false,
        apply: |c, v, ctx| {
            c.state_store = StateStoreSpec::parse(&v.text()?, ctx.env)?;
            Ok(())
        },
    },
    Input {
        name: "s3-endpoint",
        example: "https://minio.example",
        value_name: "URL",
        kind: Kind::Strict,
        default: InputDefault::None,
        action_default: None,
        help: "Endpoint of an s3:// state store that is not AWS (R2, MinIO)",
        doc: "The endpoint of an `s3://` state store that is not AWS, e.g. `https://<account>.r2.cloudflarestorage.com`; when unset, AWS.",
        set_by: SetBy::Trusted,
        used_by: OPENS_STORE,
        secret: false,
        apply: |c, v, _| {
            let t = v.text()?;
            let host = t
                .strip_prefix("https://")
                .or_else(|| t.strip_prefix("http://"))
                .unwrap_or_default();
            if host.is_empty() || host.contains(char::is_whitespace) {
                return Err(format!("expected an https:// (or http://) URL, got {t:?}"));
            }
            c.s3_endpoint = Some(t);
            Ok(())
        },
    },
    Input {
        name: "s3-region",
        example: "auto",
        value_name: "REGION",
        kind: Kind::Strict,
        default: InputDefault::None,
        action_default: None,
        help: "Region of an s3:// state store's bucket (auto for R2); else $AWS_REGION, $AWS_DEFAULT_REGION, us-east-1",
        doc: "The region of an `s3://` state store's bucket (`auto` for R2); when unset, `AWS_REGION`, `AWS_DEFAULT_REGION`, then `us-east-1`.",
        set_by: SetBy::Anywhere,
        used_by: OPENS_STORE,
        secret: false,
        apply: |c, v, _| {
            let t = v.text()?;
            let ok = !t.is_empty()
                && t.len() <= 64
                && t.chars().all(|c| c.is_ascii_alphanumeric() || c == '-');
            if !ok {
                return Err(format!(
                    "expected a region like us-east-1 (or auto for R2), got {t:?}"
                ));
            }
            c.s3_region = Some(t);
            Ok(())
        },
    },
    Input {
        name: "timeout-minutes",
        example: "1.5",
        value_name: "MINUTES",
        kind: Kind::Strict,
        default: InputDefault::Value("60"),
        action_default: None,
        help: "Stop an Alchemy run after this many minutes (fractions allowed)",
        doc: "Stop an Alchemy run after this many minutes (fractions allowed).",
        set_by: SetBy::Anywhere,
        used_by: RUNS_ALCHEMY,
        secret: false,
        apply: |c, v, _| {
            let t = v.text()?;
            // Fractions are allowed, as in a workflow's own timeout-minutes.
            match t.parse::<f64>() {
                Ok(m) if m > 0.0 && m <= 1440.0 => {
                    c.timeout = Duration::from_secs_f64(m * 60.0);
                    Ok(())
                }
                _ => Err(format!(
                    "expected minutes greater than 0 and at most 1440, got {t:?}"
                )),
            }
        },
    },
    Input {
        name: "outputs-file",
        example: "urls.json",
        value_name: "FILE",
        kind: Kind::Text,
        default: InputDefault::None,
        action_default: None,
        help: "A JSON file of URLs the app writes, relative to the app",
        doc: "A JSON file of URLs the app writes, relative to the app.",
        set_by: SetBy::Anywhere,
        used_by: READS_URLS,
        secret: false,
        apply: |c, v, _| {
            c.outputs_file = Some(v.text()?).filter(|p| !p.is_empty()).map(PathBuf::from);
            Ok(())
        },
    },
    Input {
        name: "github-token",
        example: "ghs_example",
        value_name: "TOKEN",
        kind: Kind::Text,
        default: InputDefault::Env("GITHUB_TOKEN"),
        action_default: Some("${{ github.token }}"),
        help: "Token for PR comments, deployments, lookups and the git store (safer in the environment than as a flag)",
        doc: "Token for the PR comment, deployments and PR lookups, and for the git store. When empty, the `GITHUB_TOKEN` environment variable if set, else nothing is posted.",
        set_by: SetBy::Trusted,
        used_by: ALL,
        secret: true,
        apply: |c, v, _| {
            c.github_token = Some(secrecy::SecretString::from(v.text()?.trim().to_owned()));
            Ok(())
        },
    },
    Input {
        name: "comment",
        example: "false",
        value_name: "BOOL",
        kind: Kind::Bool,
        default: InputDefault::Value("true"),
        action_default: None,
        help: "Keep one sticky comment per stage on the PR",
        doc: "Keep one sticky comment per stage on the PR.",
        set_by: SetBy::Anywhere,
        used_by: POSTS,
        secret: false,
        apply: |c, v, _| {
            c.comment = v.boolean()?;
            Ok(())
        },
    },
    Input {
        name: "comment-author",
        example: "my-app[bot]",
        value_name: "LOGIN",
        kind: Kind::Strict,
        default: InputDefault::None,
        action_default: None,
        help: "The login the token's comments are written as (e.g. my-app[bot]), where GitHub cannot say",
        doc: "The login the token's comments are written as, e.g. `my-app[bot]`, for hosts where GitHub can say neither through GraphQL nor `/user` (otherwise asked of GitHub).",
        set_by: SetBy::Trusted,
        used_by: POSTS,
        secret: false,
        apply: |c, v, _| {
            let t = v.text()?;
            if !login_ok(&t) {
                return Err(format!(
                    "expected a GitHub login such as my-app[bot], got {t:?}"
                ));
            }
            c.comment_author = Some(t);
            Ok(())
        },
    },
    Input {
        name: "deployments",
        example: "false",
        value_name: "BOOL",
        kind: Kind::Bool,
        default: InputDefault::Value("true"),
        action_default: None,
        help: "Create GitHub deployments for deployed stages",
        doc: "Create GitHub deployments for deployed stages.",
        set_by: SetBy::Anywhere,
        used_by: POSTS,
        secret: false,
        apply: |c, v, _| {
            c.deployments = v.boolean()?;
            Ok(())
        },
    },
    Input {
        name: "command-prefix",
        example: "/preview",
        value_name: "WORD",
        kind: Kind::Strict,
        default: InputDefault::Value(crate::pr_command::parse::DEFAULT_PREFIX),
        action_default: None,
        help: "The word PR comment command lines start with",
        doc: "The word PR comment command lines start with (1 to 32 characters, no spaces, `` ` `` or `|`); see docs/comment-commands.md.",
        set_by: SetBy::Anywhere,
        used_by: EVENT,
        secret: false,
        apply: |c, v, _| {
            c.command_prefix = crate::pr_command::parse::CommandPrefix::parse(&v.text()?)?;
            Ok(())
        },
    },
    Input {
        name: "command-permission",
        example: "maintain",
        value_name: "LEVEL",
        // Not a choice: `read` gets the reason it is refused, not a list.
        kind: Kind::Strict,
        default: InputDefault::Value("write"),
        action_default: None,
        help: "The lowest repository permission whose PR comment commands are obeyed",
        doc: "The lowest repository permission whose PR comment commands are obeyed: `triage`, `write`, `maintain` or `admin` (`read` and `none` are refused: commands run with the workflow's secrets).",
        set_by: SetBy::Trusted,
        used_by: EVENT,
        secret: false,
        apply: |c, v, _| {
            c.command_permission =
                crate::pr_command::permission::Permission::parse_required(&v.text()?)?;
            Ok(())
        },
    },
    Input {
        name: "approved-sha",
        example: "0123456789abcdef0123456789abcdef01234567",
        value_name: "SHA",
        kind: Kind::Strict,
        default: InputDefault::None,
        action_default: None,
        help: "The commit a comment's run approved (its sha output); the deploy refuses any other checked-out HEAD",
        doc: "The commit a comment command's first step approved (its `sha` output): the deploy refuses to run unless the checked-out `HEAD` is exactly this commit.",
        set_by: SetBy::Trusted,
        used_by: EVENT,
        secret: false,
        apply: |c, v, _| {
            let t = v.text()?;
            c.approved_sha = Some(crate::event::CommitSha::parse(&t).ok_or_else(|| {
                format!("expected a commit SHA of 40 or 64 lowercase hex digits, got {t:?}")
            })?);
            Ok(())
        },
    },
    Input {
        name: "status-check",
        example: "false",
        value_name: "WHEN",
        kind: Kind::Choice(&["auto", "true", "false"]),
        default: InputDefault::Value("auto"),
        action_default: None,
        help: "Post the alchemy-ci/preview commit status: auto (a refusal is a log line), true (an annotation), false",
        doc: "Post the `alchemy-ci/preview` commit status on the deployed commit (`pending`, then `success` or `failure`; `success` \"no preview needed\" for a PR that needs none), for branch protection to require. `auto` posts it and, when the token may not (no `statuses: write`), says so once in the log; `true` also makes that an annotation; `false` posts nothing. A refusal never fails the run.",
        set_by: SetBy::Anywhere,
        used_by: EVENT,
        secret: false,
        apply: |c, v, _| {
            c.status_check = match v.text()?.as_str() {
                "auto" => super::StatusCheck::Auto,
                "true" => super::StatusCheck::On,
                "false" => super::StatusCheck::Off,
                other => return Err(format!("expected auto, true or false, got {other:?}")),
            };
            Ok(())
        },
    },
    Input {
        name: "deployment-environment",
        example: "preview-{stage}",
        value_name: "NAME",
        kind: Kind::Strict,
        default: InputDefault::Value(crate::github::environment::DEFAULT_ENVIRONMENT),
        action_default: None,
        help: "The GitHub environment of deployments: one shared name, or a template with {stage}",
        doc: "The GitHub environment deployments go to: one shared environment (the stage is in each deployment's payload, description and task), or a template with `{stage}` for one environment per stage, e.g. `{stage}` or `preview-{stage}`.",
        set_by: SetBy::Trusted,
        used_by: POSTS,
        secret: false,
        apply: |c, v, _| {
            c.deployment_environment =
                crate::github::environment::EnvironmentRule::parse(&v.text()?)?;
            Ok(())
        },
    },
    Input {
        name: "mask-env",
        example: "API_KEY",
        value_name: "NAMES",
        kind: Kind::List,
        default: InputDefault::None,
        action_default: None,
        help: "Names of environment variables whose values are masked in logs",
        doc: "Names of environment variables whose values are masked in the logs, comma- or newline-separated.",
        set_by: SetBy::Anywhere,
        used_by: RUNS_ALCHEMY,
        secret: false,
        apply: |c, v, _| {
            c.mask_env = v.list()?;
            Ok(())
        },
    },
    Input {
        name: "ttl",
        example: "14d",
        value_name: "DURATION",
        kind: Kind::Strict,
        default: InputDefault::None,
        action_default: None,
        help: "The sweep destroys PR stages last deployed longer ago, e.g. 14d",
        doc: "The sweep destroys PR stages last deployed longer ago than this, e.g. `14d`, `36h` or `90m`.",
        set_by: SetBy::Anywhere,
        used_by: SWEEP,
        secret: false,
        apply: |c, v, _| {
            let t = v.text()?;
            c.ttl = Some(crate::cleanup::parse_ttl(&t).ok_or_else(|| {
                format!("expected a duration like 14d, 36h or 90m, got {t:?}")
            })?);
            Ok(())
        },
    },
    Input {
        name: "ttl-warning",
        example: "48h",
        value_name: "DURATION",
        kind: Kind::Strict,
        default: InputDefault::Value("24h"),
        action_default: None,
        help: "How long before a ttl expiry the sweep warns on the PR; off removes without warning",
        doc: "How long before a `ttl` expiry the sweep warns in the PR's comment, once; the preview is then removed no sooner than this long after the warning. `off` removes without a warning.",
        set_by: SetBy::Anywhere,
        used_by: SWEEP,
        secret: false,
        apply: |c, v, _| {
            c.ttl_warning = crate::ttl::parse_warning(&v.text()?)?;
            Ok(())
        },
    },
    Input {
        name: "keep-label",
        example: "keep-preview",
        value_name: "LABEL",
        kind: Kind::Text,
        default: InputDefault::None,
        action_default: None,
        help: "A label that keeps a PR's preview past the ttl",
        doc: "A label that keeps a pull request's preview past the `ttl` while the pull request carries it.",
        set_by: SetBy::Anywhere,
        used_by: SWEEP,
        secret: false,
        apply: |c, v, _| {
            c.keep_label = Some(v.text()?.trim().to_owned()).filter(|l| !l.is_empty());
            Ok(())
        },
    },
    Input {
        name: "max-parallel",
        example: "4",
        value_name: "N",
        kind: Kind::Strict,
        default: InputDefault::Value("2"),
        action_default: None,
        help: "How many destroys the sweep runs at once, and how many apps deploy side by side",
        doc: "How many destroys the sweep runs at once, and with `apps`, how many independent apps deploy or destroy side by side (1 to 32).",
        set_by: SetBy::Anywhere,
        used_by: SWEEP,
        secret: false,
        apply: |c, v, _| {
            let t = v.text()?;
            c.max_parallel = t
                .parse::<usize>()
                .ok()
                .filter(|n| (1..=32).contains(n))
                .ok_or_else(|| format!("expected a whole number from 1 to 32, got {t:?}"))?;
            Ok(())
        },
    },
    Input {
        name: "tombstone-days",
        example: "7",
        value_name: "DAYS",
        kind: Kind::Strict,
        default: InputDefault::Value("30"),
        action_default: None,
        help: "Days a closed PR's tombstone is kept",
        doc: "Days a closed PR's tombstone record is kept before the sweep removes it (1 to 3650).",
        set_by: SetBy::Anywhere,
        used_by: SWEEP,
        secret: false,
        apply: |c, v, _| {
            let t = v.text()?;
            let days = t
                .parse::<u64>()
                .ok()
                .filter(|n| (1..=3650).contains(n))
                .ok_or_else(|| format!("expected whole days from 1 to 3650, got {t:?}"))?;
            c.tombstone_retention = Duration::from_secs(days * 86_400);
            Ok(())
        },
    },
    Input {
        name: "profile",
        example: "ci",
        value_name: "PROFILE",
        kind: Kind::Strict,
        default: InputDefault::None,
        action_default: None,
        help: "The Alchemy profile (credentials) to run with, independent of the stage",
        doc: "The Alchemy profile (credentials) to run with, independent of the stage; passed as `--profile`. Overrides `profiles`.",
        set_by: SetBy::Anywhere,
        used_by: RUNS_ALCHEMY,
        secret: false,
        apply: |c, v, _| {
            c.profile = Some(stage_env::profile_name(v.text()?)?);
            Ok(())
        },
    },
    Input {
        name: "state-repo",
        example: "octo-org/state",
        value_name: "REPO",
        kind: Kind::Strict,
        default: InputDefault::None,
        action_default: None,
        help: "Keep git state in this repository (OWNER/REPO or a URL)",
        doc: "Keep the git state in this repository instead (`OWNER/REPO` or a URL), e.g. a private one when this repository is public.",
        set_by: SetBy::Trusted,
        used_by: OPENS_STORE,
        secret: false,
        apply: |c, v, _| {
            let r = v.text()?;
            if r.is_empty() {
                return Ok(());
            }
            let plain = crate::github::names::RepoName::parse(&r).is_ok();
            if !plain && !git_url(&r) {
                return Err(format!("expected OWNER/REPO or a URL, got {r:?}"));
            }
            c.state_repo = Some(r);
            Ok(())
        },
    },
    Input {
        name: "state-token",
        example: "ghs_state",
        value_name: "TOKEN",
        kind: Kind::Text,
        default: InputDefault::None,
        action_default: None,
        help: "Token for state-repo, else github-token (safer as INPUT_STATE-TOKEN than as a flag)",
        doc: "Token for `state-repo` (needs `contents: write` there); when unset, `github-token`.",
        set_by: SetBy::Trusted,
        used_by: OPENS_STORE,
        secret: true,
        apply: |c, v, _| {
            c.state_token = Some(secrecy::SecretString::from(v.text()?));
            Ok(())
        },
    },
    Input {
        name: "state-ref-prefix",
        example: "refs/heads/alchemy-state/",
        value_name: "PREFIX",
        kind: Kind::Text,
        default: InputDefault::Value(crate::state::git::DEFAULT_REF_PREFIX),
        action_default: None,
        help: "Where stage refs live in the git store",
        doc: "Where stage refs live in the git store; `refs/heads/alchemy-state/` for hosts that only accept branches.",
        set_by: SetBy::Anywhere,
        used_by: OPENS_STORE,
        secret: false,
        apply: |c, v, _| {
            c.state_ref_prefix = v.text()?;
            Ok(())
        },
    },
    Input {
        name: "config",
        example: "alchemy-ci.yml",
        value_name: "FILE",
        kind: Kind::Text,
        default: InputDefault::Described("`alchemy-ci.yml` or `.github/alchemy-ci.yml`"),
        action_default: None,
        help: "The config file to read",
        doc: "The config file to read; when unset, whichever of the two exists (both is an error).",
        set_by: SetBy::NotInFile,
        used_by: ALL,
        secret: false,
        // Read before every other input, by `resolve`: it says where the
        // file layer comes from.
        apply: |_, _, _| Ok(()),
    },
    Input {
        name: "profiles",
        example: "",
        value_name: "MAP",
        kind: Kind::StageMap,
        default: InputDefault::None,
        action_default: None,
        help: "Stage pattern to Alchemy profile",
        doc: "A mapping of stage patterns (`*` matches any run of characters) to Alchemy profiles; exact names win over patterns, and `profile` over both.",
        set_by: SetBy::FileOnly,
        used_by: RUNS_ALCHEMY,
        secret: false,
        apply: |c, v, _| {
            c.profiles = stage_env::profiles(v)?;
            Ok(())
        },
    },
    Input {
        name: "env",
        example: "",
        value_name: "MAP",
        kind: Kind::StageMap,
        default: InputDefault::None,
        action_default: None,
        help: "Stage pattern to environment variables for Alchemy",
        doc: "A mapping of stage patterns to variables for Alchemy: a literal, or `{from: VARIABLE, secret: true}` to take the value from alchemy-ci's own environment at run time (secret values are masked and shown as `***`). Every matching pattern applies, later ones winning.",
        set_by: SetBy::FileOnly,
        used_by: RUNS_ALCHEMY,
        secret: false,
        apply: |c, v, _| {
            c.stage_env = stage_env::stage_env(v)?;
            Ok(())
        },
    },
];

/// The input of this name.
pub fn input(name: &str) -> Option<&'static Input> {
    INPUTS.iter().find(|i| i.name == name)
}

/// The inputs a subcommand reads, in table order.
pub fn used_by(sub: Sub) -> impl Iterator<Item = &'static Input> {
    INPUTS.iter().filter(move |i| i.used_by(sub))
}

/// A stage name, read with the prefix resolved above it.
fn stage(c: &Config, s: &str) -> Result<Stage, String> {
    Stage::parse(s, &c.stage_prefix).map_err(|e| e.to_string())
}

/// A remote git can reach: `scheme://rest` with a scheme git speaks, and
/// no space or unsafe character anywhere.
pub(super) fn git_url(s: &str) -> bool {
    let Some((scheme, rest)) = s.split_once("://") else {
        return false;
    };
    matches!(scheme, "https" | "http" | "ssh" | "git" | "file")
        && !rest.is_empty()
        && !s.contains(char::is_whitespace)
        && !crate::text::has_unsafe(s)
}

/// A GitHub login: a user's (letters, digits, `-`, `_`, up to 39) or an
/// app's bot (`<slug>[bot]`).
fn login_ok(s: &str) -> bool {
    let name = s.strip_suffix("[bot]").unwrap_or(s);
    (1..=39).contains(&name.len())
        && name.starts_with(|c: char| c.is_ascii_alphanumeric())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_lowercase_words() {
        let mut seen = std::collections::BTreeSet::new();
        for i in INPUTS {
            assert!(seen.insert(i.name), "{} twice", i.name);
            assert!(
                i.name
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-'),
                "{}",
                i.name
            );
            assert!(!i.help.ends_with('.'), "{}: help is a phrase", i.name);
            assert!(i.doc.ends_with('.'), "{}: doc is sentences", i.name);
            assert!(!i.used_by.is_empty(), "{} is read by nothing", i.name);
        }
    }

    /// `run` takes whatever an event may need, and `simulate` is `run`
    /// without side effects: both read every input.
    #[test]
    fn run_and_simulate_read_every_input() {
        for i in INPUTS {
            assert!(
                i.used_by(Sub::Run) && i.used_by(Sub::Simulate),
                "{}",
                i.name
            );
        }
    }

    #[test]
    fn stage_prefix_comes_before_every_input_holding_a_stage() {
        let at = |n: &str| INPUTS.iter().position(|i| i.name == n).expect(n);
        for n in ["stage", "branches", "protected-stages"] {
            assert!(at("stage-prefix") < at(n), "{n}");
        }
    }

    #[test]
    fn secrets_have_no_shown_value() {
        for i in INPUTS.iter().filter(|i| i.secret) {
            assert!(
                !matches!(i.default, InputDefault::Value(_)),
                "{} shows a secret default",
                i.name
            );
        }
    }
}
