//! Configuration from four layers with one precedence order:
//! CLI flags > action inputs (`INPUT_<NAME>`) > config file > defaults.
//!
//! Every input is one row of [`defs::INPUTS`], with the same name in all
//! three places (`stage-prefix` is `--stage-prefix`, `INPUT_STAGE-PREFIX`
//! and the `stage-prefix:` key). Resolution is one loop over that table:
//! for each input the winning layer's raw value is parsed by the row's own
//! parser (the default too, so the documented default is the one in force),
//! and an error names the layer it came from.

pub mod defs;
pub mod docs;
mod file;
pub mod stage_env;
pub mod value;

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::alchemy::AlchemyCommand;
use crate::apps::spec::{AppName, Apps};
use crate::env::Env;
use crate::stage::{Stage, StagePrefix};
pub use defs::{Input, InputDefault, Kind, SetBy, Sub, INPUTS};
pub use file::{file_keys, CONFIG_FILES, MAX_COLUMNS, MAX_CONFIG_BYTES, MAX_NESTING};
pub use stage_env::{resolve_env, stage_matches, EnvValue, StageEnv, RESERVED_ENV};
use value::{Raw, Value};

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{}: cannot read the config file: {source}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{}: {source}", path.display())]
    File {
        path: PathBuf,
        #[source]
        source: crate::input_file::ReadError,
    },
    #[error("{}: the config file is not UTF-8 text", path.display())]
    NotUtf8 { path: PathBuf },
    #[error("{}: nested deeper than {MAX_NESTING} brackets or indented more than {MAX_COLUMNS} columns; a config file needs a few levels", path.display())]
    TooDeep { path: PathBuf },
    #[error("{}: `{key}` guards what untrusted code may do and is taken only from a flag or an action input, never from the config file, which a pull request can change", path.display())]
    TrustedKey { path: PathBuf, key: String },
    #[error("{}: `{key}` names the config file and cannot be set inside one; pass it as a flag or an action input", path.display())]
    NotInFile { path: PathBuf, key: String },
    #[error("{}: not valid YAML: {message}", path.display())]
    Yaml { path: PathBuf, message: String },
    #[error("{}: expected a mapping of input names to values at the top level", path.display())]
    NotMapping { path: PathBuf },
    #[error("{}: unknown key `{key}` (known keys: {known})", path.display())]
    UnknownKey {
        path: PathBuf,
        key: String,
        known: String,
    },
    #[error("two config files found, {} and {}; keep one", first.display(), second.display())]
    TwoFiles { first: PathBuf, second: PathBuf },
    #[error("{source_name}: {message}")]
    Value {
        source_name: String,
        message: String,
    },
}

/// Where a value came from, for messages.
#[derive(Debug, Clone)]
enum Origin {
    Flag,
    Input,
    File(PathBuf),
    Env(&'static str),
    Default,
}

impl Origin {
    fn name(&self, key: &str) -> String {
        match self {
            Self::Flag => format!("--{key}"),
            Self::Input => format!("INPUT_{}", key.to_ascii_uppercase()),
            Self::File(p) => format!("{}: {key}", p.display()),
            Self::Env(var) => format!("{var} (the default of {key})"),
            Self::Default => format!("the default of {key}"),
        }
    }
}

/// Raw values given on the command line, keyed by input name. Built by the
/// CLI layer, which only collects what was typed.
#[derive(Debug, Default, Clone)]
pub struct FlagValues(pub BTreeMap<&'static str, String>);

/// What the user asked for, one value per input, after precedence.
#[derive(Debug, Clone, Serialize)]
pub struct Config {
    pub command: Command,
    pub stage: Option<Stage>,
    pub stage_prefix: StagePrefix,
    pub deploy_drafts: bool,
    pub label: Option<String>,
    pub allow_forks: bool,
    pub branches: BTreeMap<String, Stage>,
    pub protected_stages: BTreeSet<Stage>,
    pub allow_protected: bool,
    pub working_directory: PathBuf,
    pub alchemy_command: AlchemyCommand,
    /// The apps of a monorepo; `None` is one app in `working_directory`.
    pub apps: Option<Apps>,
    /// The one app an explicit command acts on.
    pub app: Option<AppName>,
    /// The user's check that a destroyed stage left nothing behind: an
    /// argument vector with `{stage}`; never from the config file.
    pub verify_command: Option<Vec<String>>,
    pub state_store: StateStoreSpec,
    /// The S3-compatible endpoint of an `s3://` store (R2, MinIO); AWS when unset.
    pub s3_endpoint: Option<String>,
    /// The region of an `s3://` store's bucket (`auto` for R2).
    pub s3_region: Option<String>,
    /// How long one Alchemy run may take before it is stopped.
    pub timeout: std::time::Duration,
    /// A JSON file the app writes with its URLs, relative to the app.
    pub outputs_file: Option<PathBuf>,
    /// The token for comments, deployments and PR lookups.
    #[serde(skip)]
    pub github_token: Option<secrecy::SecretString>,
    /// Keep one sticky comment per stage on the PR.
    pub comment: bool,
    /// The login the token's comments are written as, when GitHub cannot
    /// be asked.
    pub comment_author: Option<String>,
    /// Create GitHub deployments for deployed stages.
    pub deployments: bool,
    /// Environment variables whose values are masked in the logs.
    pub mask_env: Vec<String>,
    /// The sweep destroys PR stages last deployed longer ago than this.
    pub ttl: Option<std::time::Duration>,
    /// How many destroys the sweep runs at once.
    pub max_parallel: usize,
    /// How long a closed PR's tombstone is kept.
    pub tombstone_retention: std::time::Duration,
    /// The Alchemy profile for every stage, when set.
    pub profile: Option<String>,
    /// The repository holding git state, when not this one: `OWNER/REPO` or
    /// a URL.
    pub state_repo: Option<String>,
    /// The token for `state-repo` (else `github-token`).
    #[serde(skip)]
    pub state_token: Option<secrecy::SecretString>,
    /// Where stage refs live in the git store.
    pub state_ref_prefix: String,
    /// Per-stage profiles from the config file, in file order.
    pub profiles: Vec<(String, String)>,
    /// Per-stage environment from the config file, in file order.
    pub stage_env: Vec<StageEnv>,
    /// The word PR comment command lines start with.
    pub command_prefix: crate::pr_command::parse::CommandPrefix,
    /// The lowest repository permission whose comment commands are obeyed.
    pub command_permission: crate::pr_command::permission::Permission,
    /// The commit a comment's run approved: the deploy refuses any other
    /// checked-out `HEAD`.
    pub approved_sha: Option<crate::event::CommitSha>,
    /// Whether deploys post the `alchemy-ci/preview` commit status.
    pub status_check: StatusCheck,
    /// The GitHub environment deployments go to.
    pub deployment_environment: crate::github::environment::EnvironmentRule,
    /// How long before a ttl expiry the sweep warns; `None` removes
    /// without a warning.
    pub ttl_warning: Option<std::time::Duration>,
    /// A label that keeps a pull request's preview past the ttl.
    pub keep_label: Option<String>,
    /// The config file that was read, if any.
    pub file: Option<PathBuf>,
}

/// The `status-check` setting.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum StatusCheck {
    /// Post it; a token that may not write statuses is said once, quietly.
    Auto,
    /// Post it; a refusal is a warning.
    On,
    Off,
}

impl StatusCheck {
    pub fn posts(self) -> bool {
        self != Self::Off
    }
}

impl Config {
    /// Before any input is applied. Every field with a default gets it from
    /// the table; these values are only what the loop starts from, and a
    /// test checks that none of them survives resolution.
    fn unset() -> Self {
        Self {
            command: Command::Auto,
            stage: None,
            stage_prefix: StagePrefix::default(),
            deploy_drafts: false,
            label: None,
            allow_forks: false,
            branches: BTreeMap::new(),
            protected_stages: BTreeSet::new(),
            allow_protected: false,
            working_directory: PathBuf::new(),
            alchemy_command: AlchemyCommand::Auto,
            apps: None,
            app: None,
            verify_command: None,
            state_store: StateStoreSpec::Git,
            s3_endpoint: None,
            s3_region: None,
            timeout: std::time::Duration::ZERO,
            outputs_file: None,
            github_token: None,
            comment: false,
            comment_author: None,
            deployments: false,
            mask_env: Vec::new(),
            ttl: None,
            max_parallel: 0,
            tombstone_retention: std::time::Duration::ZERO,
            profile: None,
            state_repo: None,
            state_token: None,
            state_ref_prefix: String::new(),
            profiles: Vec::new(),
            stage_env: Vec::new(),
            command_prefix: crate::pr_command::parse::CommandPrefix::default(),
            command_permission: crate::pr_command::permission::Permission::Admin,
            approved_sha: None,
            status_check: StatusCheck::Off,
            deployment_environment: crate::github::environment::EnvironmentRule::PerStage(
                String::new(),
            ),
            ttl_warning: None,
            keep_label: None,
            file: None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Command {
    /// Decide from the event.
    Auto,
    Deploy,
    Destroy,
    /// Alchemy's read phase: refresh a stage's URLs, change nothing.
    Read,
    Cleanup,
    Status,
    /// The first step of a comment's run: answer the comment, and for a
    /// command that runs Alchemy, output the commit to check out and stop.
    Comment,
}

impl Command {
    pub const ALL: &'static [Command] = &[
        Self::Auto,
        Self::Deploy,
        Self::Destroy,
        Self::Read,
        Self::Cleanup,
        Self::Status,
        Self::Comment,
    ];

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.iter().copied().find(|c| c.as_str() == s)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Auto => "auto",
            Self::Deploy => "deploy",
            Self::Destroy => "destroy",
            Self::Read => "read",
            Self::Cleanup => "cleanup",
            Self::Status => "status",
            Self::Comment => "comment",
        }
    }

    /// The message for a value that is not a command.
    pub fn expected(got: &str) -> String {
        let names: Vec<&str> = Self::ALL.iter().map(|c| c.as_str()).collect();
        format!("expected one of {}; got {got:?}", names.join(", "))
    }
}

impl fmt::Display for Command {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where stage state is kept between runs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", content = "path", rename_all = "snake_case")]
pub enum StateStoreSpec {
    /// Refs of the repository itself, one per stage.
    Git,
    /// A plain folder holding every stage's saved state.
    Dir(PathBuf),
    /// An S3-compatible bucket (AWS S3, Cloudflare R2, MinIO) under a key prefix.
    S3 { bucket: String, prefix: String },
}

impl StateStoreSpec {
    /// `git`, `dir:<path>` (a leading `~` is `$HOME`, as a shell would
    /// have it) or `s3://bucket/prefix`.
    pub fn parse(s: &str, env: &Env) -> Result<Self, String> {
        let expected = |why: String| {
            format!("expected `git`, `dir:<path>` or `s3://bucket/prefix`, got {s:?}{why}")
        };
        if s == "git" {
            return Ok(Self::Git);
        }
        if s.starts_with("s3://") {
            return crate::state::s3::S3Location::parse(s)
                .map(|l| Self::S3 {
                    bucket: l.bucket,
                    prefix: l.prefix,
                })
                .map_err(|e| expected(format!(": {e}")));
        }
        let path = s
            .strip_prefix("dir:")
            .filter(|p| !p.is_empty())
            .ok_or_else(|| expected(String::new()))?;
        let path = home_relative(path, env)?;
        dir_store_path_ok(&path)?;
        Ok(Self::Dir(path))
    }
}

/// `~` and `~/…` under `$HOME`; anything else as written (`~user` is
/// not expanded: no shell would have seen it either).
fn home_relative(path: &str, env: &Env) -> Result<PathBuf, String> {
    let rest = match path.strip_prefix('~') {
        Some("") => "",
        Some(r) if r.starts_with('/') => r.trim_start_matches('/'),
        _ => return Ok(PathBuf::from(path)),
    };
    let home = crate::env::var(env, "HOME")
        .ok_or_else(|| format!("dir:{path}: `~` stands for $HOME, which is not set"))?;
    Ok(Path::new(&home).join(rest))
}

/// A folder store's path must be a folder, or not exist yet (the first
/// write creates it). `/dev/null` or a regular file would otherwise fail
/// only at the first write, after the stage was locked and Alchemy ran.
fn dir_store_path_ok(p: &Path) -> Result<(), String> {
    match std::fs::metadata(p) {
        Ok(m) if m.is_dir() => Ok(()),
        Ok(_) => Err(format!("dir:{} is not a folder", p.display())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(format!("dir:{}: {e}", p.display())),
    }
}

impl fmt::Display for StateStoreSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Git => f.write_str("git refs of the repository"),
            Self::Dir(p) => write!(f, "folder {}", p.display()),
            Self::S3 { bucket, prefix } if prefix.is_empty() => {
                write!(f, "S3 bucket s3://{bucket}")
            }
            Self::S3 { bucket, prefix } => write!(f, "S3 bucket s3://{bucket}/{prefix}"),
        }
    }
}

/// The sources to resolve: flags, the process environment, and the folder
/// where config files are looked for.
pub struct Sources<'a> {
    pub flags: &'a FlagValues,
    pub env: &'a BTreeMap<String, String>,
    pub root: &'a Path,
}

/// Resolves the configuration: each input of the table, in order, from the
/// first layer that sets it. Reads at most one config file; writes nothing.
pub fn resolve(src: &Sources<'_>) -> Result<Config, ConfigError> {
    let path = config_file(src)?;
    let from_file = match &path {
        Some(p) => file::read(p)?,
        None => Vec::new(),
    };
    let file = path.as_deref().map(|p| (p, from_file.as_slice()));
    let ctx = defs::Ctx { env: src.env };
    let mut config = Config::unset();
    for input in INPUTS {
        let Some((origin, raw)) = winner(input, src, file) else {
            continue;
        };
        (input.apply)(&mut config, Value(&raw), &ctx).map_err(|message| ConfigError::Value {
            source_name: origin.name(input.name),
            message,
        })?;
    }
    config.file = path;
    check_app(&config)?;
    Ok(config)
}

/// `app` must name one of `apps`, wherever each was set. (An `app`
/// without any `apps` is refused by the commands that act on it: alone,
/// it is a valid name.)
fn check_app(config: &Config) -> Result<(), ConfigError> {
    let (Some(name), Some(apps)) = (&config.app, &config.apps) else {
        return Ok(());
    };
    if apps.get(name).is_some() {
        return Ok(());
    }
    let known: Vec<&str> = apps.iter().map(|a| a.name.as_str()).collect();
    Err(ConfigError::Value {
        source_name: "app".into(),
        message: format!("there is no app named {name} (apps: {})", known.join(", ")),
    })
}

/// The file named by `config`, else whichever of the two places holds one.
fn config_file(src: &Sources<'_>) -> Result<Option<PathBuf>, ConfigError> {
    let Some(input) = defs::input("config") else {
        return file::find(src.root);
    };
    match winner(input, src, None) {
        Some((_, Raw::Text(t))) => Ok(Some(src.root.join(t))),
        _ => file::find(src.root),
    }
}

/// The raw value of the layer that wins for one input. Action inputs that
/// the workflow did not set arrive as empty strings, so empty means unset.
fn winner(
    input: &Input,
    src: &Sources<'_>,
    file: Option<(&Path, &[(&'static Input, serde_norway::Value)])>,
) -> Option<(Origin, Raw)> {
    if input.set_by.flag() {
        if let Some(v) = src.flags.0.get(input.name) {
            return Some((Origin::Flag, Raw::Text(v.clone())));
        }
    }
    let set = |k: &str| src.env.get(k).map(|v| v.trim()).filter(|v| !v.is_empty());
    if input.set_by.input() {
        if let Some(v) = set(&input.env_var()) {
            return Some((Origin::Input, Raw::Text(v.to_owned())));
        }
    }
    if let Some((path, values)) = file {
        if let Some((_, v)) = values.iter().find(|(i, _)| i.name == input.name) {
            return Some((Origin::File(path.to_path_buf()), Raw::Yaml(v.clone())));
        }
    }
    match input.default {
        InputDefault::Value(v) => Some((Origin::Default, Raw::Text(v.to_owned()))),
        InputDefault::Env(var) => set(var).map(|v| (Origin::Env(var), Raw::Text(v.to_owned()))),
        InputDefault::None | InputDefault::Described(_) => None,
    }
}

/// The inputs that guard trust: never read from the config file.
pub fn trusted() -> impl Iterator<Item = &'static str> {
    INPUTS
        .iter()
        .filter(|i| i.set_by == SetBy::Trusted)
        .map(|i| i.name)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resolve_with(flags: &[(&'static str, &str)], env: &[(&str, &str)]) -> Config {
        let dir = tempfile::tempdir().expect("tmp");
        let flags = FlagValues(flags.iter().map(|(k, v)| (*k, (*v).to_owned())).collect());
        let env: Env = env
            .iter()
            .map(|(k, v)| ((*k).into(), (*v).into()))
            .collect();
        resolve(&Sources {
            flags: &flags,
            env: &env,
            root: dir.path(),
        })
        .expect("config")
    }

    /// Scenario: nothing is set anywhere. Every input with a default in the
    /// table has it, parsed by the input's own parser.
    #[test]
    fn defaults_come_from_the_table() {
        let c = resolve_with(&[], &[]);
        assert_eq!(c.command, Command::Auto);
        assert_eq!(c.stage_prefix.as_str(), "pr-");
        assert!(c.deploy_drafts && c.comment && c.deployments);
        assert!(!c.allow_forks && !c.allow_protected);
        let protected: Vec<&str> = c.protected_stages.iter().map(Stage::as_str).collect();
        assert_eq!(protected, ["prod", "production", "staging"]);
        assert_eq!(c.working_directory, Path::new("."));
        assert_eq!(c.state_store, StateStoreSpec::Git);
        assert_eq!(c.timeout, std::time::Duration::from_secs(3600));
        assert_eq!(c.max_parallel, 2);
        assert_eq!(c.tombstone_retention.as_secs(), 30 * 86_400);
        assert_eq!(c.state_ref_prefix, crate::state::git::DEFAULT_REF_PREFIX);
        assert!(c.github_token.is_none());
    }

    #[test]
    fn flags_beat_inputs_beat_defaults_and_the_token_falls_back_to_its_variable() {
        use secrecy::ExposeSecret as _;
        let c = resolve_with(
            &[("stage-prefix", "preview-")],
            &[
                ("INPUT_STAGE-PREFIX", "input-"),
                ("INPUT_MAX-PARALLEL", " 4 "),
                ("GITHUB_TOKEN", "ghs_env"),
            ],
        );
        assert_eq!(c.stage_prefix.as_str(), "preview-");
        assert_eq!(c.max_parallel, 4);
        let token = c
            .github_token
            .as_ref()
            .map(|t| t.expose_secret().to_owned());
        assert_eq!(token.as_deref(), Some("ghs_env"));
    }

    #[test]
    fn dir_stores_expand_a_leading_tilde_only() {
        let env: Env = [("HOME".to_owned(), "/home/sam".to_owned())].into();
        let dir = |s: &str| StateStoreSpec::parse(s, &env);
        assert_eq!(
            dir("dir:~/state"),
            Ok(StateStoreSpec::Dir("/home/sam/state".into()))
        );
        assert_eq!(dir("dir:~"), Ok(StateStoreSpec::Dir("/home/sam".into())));
        assert_eq!(dir("dir:~sam/x"), Ok(StateStoreSpec::Dir("~sam/x".into())));
        assert_eq!(dir("dir:a/~"), Ok(StateStoreSpec::Dir("a/~".into())));
        let no_home = StateStoreSpec::parse("dir:~/x", &Env::new());
        assert!(no_home.is_err_and(|e| e.contains("HOME")));
    }

    /// Every input's example resolves from a flag, and (where the table
    /// allows it) from an action input.
    #[test]
    fn every_example_is_a_valid_value() {
        for i in INPUTS.iter().filter(|i| !i.example.is_empty()) {
            let dir = tempfile::tempdir().expect("tmp");
            std::fs::write(dir.path().join("alchemy-ci.yml"), "").expect("file");
            let flags = FlagValues([(i.name, i.example.to_owned())].into());
            let env = Env::new();
            let got = resolve(&Sources {
                flags: &flags,
                env: &env,
                root: dir.path(),
            });
            assert!(got.is_ok(), "{}: {:?}", i.name, got.err());
        }
    }

    #[test]
    fn state_repo_urls_need_a_scheme_git_speaks() {
        assert!(defs::git_url("https://git.example/o/r.git"));
        assert!(defs::git_url("git://127.0.0.1:9418/r"));
        assert!(!defs::git_url("[x](https://evil.test)"));
        assert!(!defs::git_url("https://a b"));
        assert!(!defs::git_url("javascript://x"));
    }

    #[test]
    fn command_values_are_the_table_choices() {
        let names: Vec<&str> = Command::ALL.iter().map(|c| c.as_str()).collect();
        assert_eq!(names, defs::COMMANDS);
        assert!(Command::expected("x").contains("read"));
    }
}
