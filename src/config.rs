//! Configuration from four layers with one precedence order:
//! CLI flags > action inputs (`INPUT_<NAME>`) > config file > defaults.
//!
//! Every input has the same name in all three places (`stage-prefix` is
//! `--stage-prefix`, `INPUT_STAGE-PREFIX` and the `stage-prefix:` key), so the
//! layers are plain maps from input name to raw value and one function picks
//! the winner; parsing happens once, on the winner, and an error names the
//! layer it came from.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::alchemy::AlchemyCommand;
use crate::stage::{Stage, StageError, StagePrefix};

/// Every input alchemy-ci takes, in the order the docs list them.
pub const INPUTS: &[&str] = &[
    "command",
    "stage",
    "stage-prefix",
    "deploy-drafts",
    "label",
    "allow-forks",
    "branches",
    "protected-stages",
    "allow-protected",
    "working-directory",
    "alchemy-command",
    "verify-command",
    "state-store",
    "s3-endpoint",
    "s3-region",
    "timeout-minutes",
    "outputs-file",
    "github-token",
    "comment",
    "comment-author",
    "deployments",
    "mask-env",
    "ttl",
    "max-parallel",
    "tombstone-days",
    "profile",
    "state-repo",
    "state-token",
    "state-ref-prefix",
    "config",
];

/// Keys only the config file has: maps keyed by stage patterns.
pub const FILE_ONLY: &[&str] = &["profiles", "env"];

/// Inputs that guard trust: who may deploy (forks), what may be destroyed,
/// where state and tokens go, whose comments are edited. The config file is
/// read from the working tree, which under `pull_request_target` with the
/// PR's head checked out is the PR author's file, so these come only from
/// flags and action inputs (the workflow file, which a PR cannot change
/// for the run it triggers).
pub const TRUSTED: &[&str] = &[
    "allow-forks",
    "allow-protected",
    "protected-stages",
    "state-repo",
    "state-token",
    "github-token",
    "s3-endpoint",
    "verify-command",
    "comment-author",
];

/// Inputs that make no sense inside the config file itself: where the file
/// is, and the trust-guarding ones.
const NOT_IN_FILE: &[&str] = &["config"];

/// A config file is a few hundred bytes; this leaves room and stops
/// `/dev/zero`-like inputs early.
pub const MAX_CONFIG_BYTES: u64 = 1024 * 1024;

/// The most flow collections (`[…]`, `{…}`) a config file may nest (its
/// own format needs 2).
pub const MAX_NESTING: usize = 64;

/// The widest indentation a config file may have. Block nesting costs at
/// least a column per level, and within the size cap a file can only nest
/// so deep by indentation alone, except on one line (`- - - - x`).
pub const MAX_COLUMNS: usize = 512;

/// Config file locations, relative to the repository root, tried in order.
pub const CONFIG_FILES: &[&str] = &["alchemy-ci.yml", ".github/alchemy-ci.yml"];

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

/// One raw value and the layer it came from.
#[derive(Debug, Clone)]
enum Raw {
    Text(String),
    Yaml(serde_norway::Value),
}

#[derive(Debug, Clone)]
enum Origin {
    Flag,
    Input,
    File(PathBuf),
}

#[derive(Debug, Clone)]
struct Sourced {
    origin: Origin,
    raw: Raw,
}

impl Sourced {
    fn name(&self, key: &str) -> String {
        match &self.origin {
            Origin::Flag => format!("--{key}"),
            Origin::Input => format!("INPUT_{}", key.to_ascii_uppercase()),
            Origin::File(p) => format!("{}: {key}", p.display()),
        }
    }

    fn err(&self, key: &str, message: impl Into<String>) -> ConfigError {
        ConfigError::Value {
            source_name: self.name(key),
            message: message.into(),
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
    /// The config file that was read, if any.
    pub file: Option<PathBuf>,
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
}

impl Command {
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "auto" => Self::Auto,
            "deploy" => Self::Deploy,
            "destroy" => Self::Destroy,
            "read" => Self::Read,
            "cleanup" => Self::Cleanup,
            "status" => Self::Status,
            _ => return None,
        })
    }
}

impl fmt::Display for Command {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Auto => "auto",
            Self::Deploy => "deploy",
            Self::Destroy => "destroy",
            Self::Read => "read",
            Self::Cleanup => "cleanup",
            Self::Status => "status",
        })
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
    fn parse(s: &str) -> Option<Self> {
        match s {
            "git" => Some(Self::Git),
            _ if s.starts_with("s3://") => {
                crate::state::s3::S3Location::parse(s)
                    .ok()
                    .map(|l| Self::S3 {
                        bucket: l.bucket,
                        prefix: l.prefix,
                    })
            }
            _ => s
                .strip_prefix("dir:")
                .filter(|p| !p.is_empty())
                .map(|p| Self::Dir(PathBuf::from(p))),
        }
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

/// Resolves the configuration. Reads at most one config file; writes nothing.
pub fn resolve(src: &Sources<'_>) -> Result<Config, ConfigError> {
    let mut layers: BTreeMap<&'static str, Sourced> = BTreeMap::new();

    // Lowest precedence first; later layers overwrite.
    let explicit_file = pick(src, "config")
        .map(|s| match &s.raw {
            Raw::Text(t) => Ok(PathBuf::from(t)),
            Raw::Yaml(_) => Err(s.err("config", "expected a path")),
        })
        .transpose()?;
    let file = match explicit_file {
        Some(p) => Some(src.root.join(p)),
        None => find_config_file(src.root)?,
    };
    if let Some(path) = &file {
        for (key, value) in read_config_file(path)? {
            layers.insert(
                key,
                Sourced {
                    origin: Origin::File(path.clone()),
                    raw: Raw::Yaml(value),
                },
            );
        }
    }
    for key in INPUTS {
        if let Some(s) = pick(src, key) {
            layers.insert(key, s);
        }
    }

    let get = |key: &str| layers.get(key);
    let stage_prefix = match get("stage-prefix") {
        Some(s) => {
            let text = text(s, "stage-prefix")?;
            StagePrefix::parse(&text).map_err(|e| s.err("stage-prefix", e.to_string()))?
        }
        None => StagePrefix::default(),
    };
    let stage_of = |s: &Sourced, key: &str, v: &str| {
        Stage::parse(v, &stage_prefix).map_err(|e: StageError| s.err(key, e.to_string()))
    };

    let command = match get("command") {
        Some(s) => {
            let t = text(s, "command")?;
            Command::parse(&t).ok_or_else(|| {
                s.err(
                    "command",
                    format!(
                        "expected one of auto, deploy, destroy, read, cleanup, status; got {t:?}"
                    ),
                )
            })?
        }
        None => Command::Auto,
    };
    let stage = get("stage")
        .map(|s| text(s, "stage").and_then(|t| stage_of(s, "stage", &t)))
        .transpose()?;
    let branches = match get("branches") {
        Some(s) => string_map(s, "branches")?
            .into_iter()
            .map(|(branch, stage)| Ok((branch, stage_of(s, "branches", &stage)?)))
            .collect::<Result<_, ConfigError>>()?,
        None => BTreeMap::new(),
    };
    let protected_stages = match get("protected-stages") {
        Some(s) => string_list(s, "protected-stages")?
            .iter()
            .map(|v| stage_of(s, "protected-stages", v))
            .collect::<Result<_, _>>()?,
        None => ["prod", "production", "staging"]
            .iter()
            .map(|v| Stage::parse(v, &stage_prefix))
            .collect::<Result<_, _>>()
            .map_err(|e| ConfigError::Value {
                source_name: "protected-stages".into(),
                message: e.to_string(),
            })?,
    };
    let alchemy_command = match get("alchemy-command") {
        Some(s) => {
            let words = match &s.raw {
                Raw::Yaml(serde_norway::Value::Sequence(_)) => string_list(s, "alchemy-command")?,
                _ => {
                    let t = text(s, "alchemy-command")?;
                    AlchemyCommand::split_words(&t).map_err(|m| s.err("alchemy-command", m))?
                }
            };
            AlchemyCommand::from_words(&words).map_err(|m| s.err("alchemy-command", m))?
        }
        None => AlchemyCommand::Auto,
    };
    let verify_command = get("verify-command")
        .map(|s| {
            let t = text(s, "verify-command")?;
            let words = AlchemyCommand::split_words(&t).map_err(|m| s.err("verify-command", m))?;
            if words.is_empty() {
                return Err(s.err("verify-command", "is empty"));
            }
            Ok(words)
        })
        .transpose()?;
    let state_store = match get("state-store") {
        Some(s) => {
            let t = text(s, "state-store")?;
            StateStoreSpec::parse(&t).ok_or_else(|| {
                let why = match crate::state::s3::S3Location::parse(&t) {
                    Err(e) if t.starts_with("s3://") => format!(": {e}"),
                    _ => String::new(),
                };
                s.err(
                    "state-store",
                    format!("expected `git`, `dir:<path>` or `s3://bucket/prefix`, got {t:?}{why}"),
                )
            })?
        }
        None => StateStoreSpec::Git,
    };
    if let (StateStoreSpec::Dir(p), Some(s)) = (&state_store, get("state-store")) {
        dir_store_path_ok(p).map_err(|m| s.err("state-store", m))?;
    }
    let s3_endpoint = get("s3-endpoint")
        .map(|s| {
            let t = text(s, "s3-endpoint")?;
            let host = t
                .strip_prefix("https://")
                .or_else(|| t.strip_prefix("http://"))
                .unwrap_or_default();
            if host.is_empty() || host.contains(char::is_whitespace) {
                return Err(s.err(
                    "s3-endpoint",
                    format!("expected an https:// (or http://) URL, got {t:?}"),
                ));
            }
            Ok(t)
        })
        .transpose()?;
    let s3_region = get("s3-region")
        .map(|s| {
            let t = text(s, "s3-region")?;
            let ok = !t.is_empty()
                && t.len() <= 64
                && t.chars().all(|c| c.is_ascii_alphanumeric() || c == '-');
            if ok {
                Ok(t)
            } else {
                Err(s.err(
                    "s3-region",
                    format!("expected a region like us-east-1 (or auto for R2), got {t:?}"),
                ))
            }
        })
        .transpose()?;

    let timeout = match get("timeout-minutes") {
        Some(s) => {
            let t = text(s, "timeout-minutes")?;
            // Fractions are allowed, as in a workflow's own timeout-minutes.
            match t.parse::<f64>() {
                Ok(m) if m > 0.0 && m <= 1440.0 => std::time::Duration::from_secs_f64(m * 60.0),
                _ => {
                    return Err(s.err(
                        "timeout-minutes",
                        format!("expected minutes greater than 0 and at most 1440, got {t:?}"),
                    ))
                }
            }
        }
        None => std::time::Duration::from_secs(60 * 60),
    };

    let ttl = get("ttl")
        .map(|s| {
            let t = text(s, "ttl")?;
            crate::cleanup::parse_ttl(&t).ok_or_else(|| {
                s.err(
                    "ttl",
                    format!("expected a duration like 14d, 36h or 90m, got {t:?}"),
                )
            })
        })
        .transpose()?;
    let max_parallel = match get("max-parallel") {
        Some(s) => {
            let t = text(s, "max-parallel")?;
            t.parse::<usize>()
                .ok()
                .filter(|n| (1..=32).contains(n))
                .ok_or_else(|| {
                    s.err(
                        "max-parallel",
                        format!("expected a whole number from 1 to 32, got {t:?}"),
                    )
                })?
        }
        None => 2,
    };
    let tombstone_retention = match get("tombstone-days") {
        Some(s) => {
            let t = text(s, "tombstone-days")?;
            let days = t
                .parse::<u64>()
                .ok()
                .filter(|n| (1..=3650).contains(n))
                .ok_or_else(|| {
                    s.err(
                        "tombstone-days",
                        format!("expected whole days from 1 to 3650, got {t:?}"),
                    )
                })?;
            std::time::Duration::from_secs(days * 86_400)
        }
        None => std::time::Duration::from_secs(30 * 86_400),
    };

    let profile_of = |s: &Sourced, key: &str, v: String| {
        let ok = v.chars().next().is_some_and(|c| c.is_ascii_alphanumeric())
            && v.chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
        if ok {
            Ok(v)
        } else {
            Err(s.err(
                key,
                format!("{v:?} is not a profile name (letters, digits, '.', '_', '-')"),
            ))
        }
    };
    let profile = get("profile")
        .map(|s| text(s, "profile").and_then(|v| profile_of(s, "profile", v)))
        .transpose()?;
    let profiles = match get("profiles") {
        Some(s) => string_map_ordered(s, "profiles")?
            .into_iter()
            .map(|(pattern, p)| Ok((pattern, profile_of(s, "profiles", p)?)))
            .collect::<Result<_, ConfigError>>()?,
        None => Vec::new(),
    };
    let stage_env = match get("env") {
        Some(s) => stage_env(s)?,
        None => Vec::new(),
    };

    let state_repo = get("state-repo")
        .map(|s| text(s, "state-repo"))
        .transpose()?
        .filter(|r| !r.is_empty());
    if let (Some(r), Some(s)) = (&state_repo, get("state-repo")) {
        let plain = crate::github::names::RepoName::parse(r).is_ok();
        let unsafe_url = r.contains(char::is_whitespace) || crate::text::has_unsafe(r);
        if (!plain && !r.contains("://")) || unsafe_url {
            return Err(s.err(
                "state-repo",
                format!("expected OWNER/REPO or a URL, got {r:?}"),
            ));
        }
    }

    Ok(Config {
        command,
        timeout,
        profile,
        state_repo,
        state_token: get("state-token")
            .map(|s| text(s, "state-token"))
            .transpose()?
            .map(secrecy::SecretString::from),
        state_ref_prefix: get("state-ref-prefix")
            .map(|s| text(s, "state-ref-prefix"))
            .transpose()?
            .unwrap_or_else(|| crate::state::git::DEFAULT_REF_PREFIX.to_owned()),
        profiles,
        stage_env,
        ttl,
        max_parallel,
        tombstone_retention,
        github_token: get("github-token")
            .map(|s| text(s, "github-token"))
            .transpose()?
            .or_else(|| {
                src.env
                    .get("GITHUB_TOKEN")
                    .filter(|t| !t.trim().is_empty())
                    .cloned()
            })
            .map(|t| secrecy::SecretString::from(t.trim().to_owned())),
        comment: get("comment")
            .map(|s| boolean(s, "comment"))
            .transpose()?
            .unwrap_or(true),
        comment_author: get("comment-author")
            .map(|s| {
                let t = text(s, "comment-author")?;
                login_ok(&t).then_some(t.clone()).ok_or_else(|| {
                    s.err(
                        "comment-author",
                        format!("expected a GitHub login such as my-app[bot], got {t:?}"),
                    )
                })
            })
            .transpose()?,
        deployments: get("deployments")
            .map(|s| boolean(s, "deployments"))
            .transpose()?
            .unwrap_or(true),
        mask_env: get("mask-env")
            .map(|s| string_list(s, "mask-env"))
            .transpose()?
            .unwrap_or_default(),
        outputs_file: get("outputs-file")
            .map(|s| text(s, "outputs-file"))
            .transpose()?
            .filter(|p| !p.is_empty())
            .map(PathBuf::from),
        stage,
        deploy_drafts: get("deploy-drafts")
            .map(|s| boolean(s, "deploy-drafts"))
            .transpose()?
            .unwrap_or(true),
        label: get("label")
            .map(|s| text(s, "label"))
            .transpose()?
            .filter(|l| !l.is_empty()),
        allow_forks: get("allow-forks")
            .map(|s| boolean(s, "allow-forks"))
            .transpose()?
            .unwrap_or(false),
        branches,
        protected_stages,
        allow_protected: get("allow-protected")
            .map(|s| boolean(s, "allow-protected"))
            .transpose()?
            .unwrap_or(false),
        working_directory: get("working-directory")
            .map(|s| text(s, "working-directory"))
            .transpose()?
            .map_or_else(|| PathBuf::from("."), PathBuf::from),
        alchemy_command,
        verify_command,
        state_store,
        s3_endpoint,
        s3_region,
        stage_prefix,
        file,
    })
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

/// The winner between the flag and the input for one key. Action inputs that
/// the workflow did not set arrive as empty strings, so empty means unset.
fn pick(src: &Sources<'_>, key: &str) -> Option<Sourced> {
    if let Some(v) = src.flags.0.get(key) {
        return Some(Sourced {
            origin: Origin::Flag,
            raw: Raw::Text(v.clone()),
        });
    }
    let var = format!("INPUT_{}", key.to_ascii_uppercase());
    src.env
        .get(&var)
        .filter(|v| !v.trim().is_empty())
        .map(|v| Sourced {
            origin: Origin::Input,
            raw: Raw::Text(v.trim().to_owned()),
        })
}

fn find_config_file(root: &Path) -> Result<Option<PathBuf>, ConfigError> {
    // Anything at the path counts, so a FIFO or a folder of that name is
    // refused when read rather than silently skipped.
    let found: Vec<PathBuf> = CONFIG_FILES
        .iter()
        .map(|f| root.join(f))
        .filter(|p| std::fs::symlink_metadata(p).is_ok())
        .collect();
    match found.as_slice() {
        [] => Ok(None),
        [one] => Ok(Some(one.clone())),
        [first, second, ..] => Err(ConfigError::TwoFiles {
            first: first.clone(),
            second: second.clone(),
        }),
    }
}

fn read_config_file(path: &Path) -> Result<Vec<(&'static str, serde_norway::Value)>, ConfigError> {
    use crate::input_file::ReadError;
    let bytes = match crate::input_file::read(path, MAX_CONFIG_BYTES) {
        Ok(b) => b,
        Err(ReadError::Io(source)) => {
            return Err(ConfigError::Read {
                path: path.into(),
                source,
            })
        }
        Err(source) => {
            return Err(ConfigError::File {
                path: path.into(),
                source,
            })
        }
    };
    let text = String::from_utf8(bytes).map_err(|_| ConfigError::NotUtf8 { path: path.into() })?;
    // The YAML parser takes time quadratic in the nesting depth (a
    // 100,000-level file took 34 s): bound it before parsing.
    let n = nesting(&text);
    if n.flow > MAX_NESTING || n.columns > MAX_COLUMNS {
        return Err(ConfigError::TooDeep { path: path.into() });
    }
    let value: serde_norway::Value =
        serde_norway::from_str(&text).map_err(|e| ConfigError::Yaml {
            path: path.into(),
            message: e.to_string(),
        })?;
    let map = match value {
        serde_norway::Value::Null => return Ok(Vec::new()),
        serde_norway::Value::Mapping(m) => m,
        _ => return Err(ConfigError::NotMapping { path: path.into() }),
    };
    let known: Vec<&'static str> = INPUTS
        .iter()
        .copied()
        .filter(|k| !NOT_IN_FILE.contains(k) && !TRUSTED.contains(k))
        .chain(FILE_ONLY.iter().copied())
        .collect();
    let mut out = Vec::new();
    for (k, v) in map {
        let key_text = match &k {
            serde_norway::Value::String(s) => s.clone(),
            other => serde_norway::to_string(other)
                .unwrap_or_default()
                .trim()
                .to_owned(),
        };
        if let Some(key) = TRUSTED.iter().find(|name| **name == key_text) {
            return Err(ConfigError::TrustedKey {
                path: path.into(),
                key: (*key).to_owned(),
            });
        }
        let Some(key) = known.iter().copied().find(|name| *name == key_text) else {
            return Err(ConfigError::UnknownKey {
                path: path.into(),
                key: key_text,
                known: known.join(", "),
            });
        };
        out.push((key, v));
    }
    Ok(out)
}

/// How deeply a YAML text nests, in one pass and without parsing: the
/// most flow collections open at once (`[`, `{` where a value starts,
/// outside quotes and comments), and the widest indentation of a line,
/// compact `- ` / `? ` indicators included (every block level takes at
/// least a column). A bound for refusing absurd files, not a syntax check.
fn nesting(text: &str) -> Nesting {
    let mut n = Nesting::default();
    let mut flow = 0usize;
    let mut quote: Option<char> = None;
    for line in text.lines() {
        if flow == 0 && quote.is_none() {
            n.columns = n.columns.max(block_column(line));
        }
        // What came before, for telling a flow opener or a quote from a
        // character inside a plain scalar.
        let mut prev = ' ';
        let mut value_start = true;
        let mut chars = line.chars().peekable();
        while let Some(c) = chars.next() {
            match quote {
                Some('"') if c == '\\' => {
                    chars.next();
                }
                Some(q) if c == q => {
                    // `''` inside single quotes is an escaped quote.
                    if q == '\'' && chars.peek() == Some(&'\'') {
                        chars.next();
                    } else {
                        quote = None;
                    }
                }
                Some(_) => {}
                None => match c {
                    '#' if prev == ' ' || prev == '\t' => break,
                    '\'' | '"' if value_start => quote = Some(c),
                    '[' | '{' if value_start || flow > 0 => {
                        flow += 1;
                        n.flow = n.flow.max(flow);
                    }
                    ']' | '}' if flow > 0 => flow -= 1,
                    _ => {}
                },
            }
            if quote.is_none() && !c.is_whitespace() {
                value_start = matches!(c, ':' | '-' | '?' | '[' | '{' | ',');
            }
            prev = c;
        }
    }
    n
}

#[derive(Debug, Default, PartialEq, Eq)]
struct Nesting {
    flow: usize,
    columns: usize,
}

/// The column where a line's content starts, after its indentation and any
/// compact `- ` / `? ` indicators.
fn block_column(line: &str) -> usize {
    let mut col = 0;
    let mut rest = line;
    loop {
        let trimmed = rest.trim_start_matches(' ');
        col += rest.len() - trimmed.len();
        match trimmed
            .strip_prefix("- ")
            .or_else(|| trimmed.strip_prefix("? "))
        {
            Some(r) => {
                col += 2;
                rest = r;
            }
            None => return col,
        }
    }
}

fn text(s: &Sourced, key: &str) -> Result<String, ConfigError> {
    match &s.raw {
        Raw::Text(t) => Ok(t.clone()),
        Raw::Yaml(serde_norway::Value::String(t)) => Ok(t.trim().to_owned()),
        Raw::Yaml(serde_norway::Value::Number(n)) => Ok(n.to_string()),
        Raw::Yaml(serde_norway::Value::Bool(b)) => Ok(b.to_string()),
        Raw::Yaml(_) => Err(s.err(key, "expected a single value")),
    }
}

/// Booleans as `@actions/core`'s `getBooleanInput` takes them (YAML 1.2 core).
fn boolean(s: &Sourced, key: &str) -> Result<bool, ConfigError> {
    if let Raw::Yaml(serde_norway::Value::Bool(b)) = &s.raw {
        return Ok(*b);
    }
    match text(s, key)?.as_str() {
        "true" | "True" | "TRUE" => Ok(true),
        "false" | "False" | "FALSE" => Ok(false),
        other => Err(s.err(key, format!("expected true or false, got {other:?}"))),
    }
}

/// A list: a YAML sequence, or text separated by commas or newlines.
fn string_list(s: &Sourced, key: &str) -> Result<Vec<String>, ConfigError> {
    match &s.raw {
        Raw::Yaml(serde_norway::Value::Sequence(items)) => items
            .iter()
            .map(|item| {
                text(
                    &Sourced {
                        origin: s.origin.clone(),
                        raw: Raw::Yaml(item.clone()),
                    },
                    key,
                )
            })
            .collect(),
        _ => Ok(text(s, key)?
            .split([',', '\n'])
            .map(str::trim)
            .filter(|v| !v.is_empty())
            .map(str::to_owned)
            .collect()),
    }
}

/// A variable for Alchemy: a literal, or a value taken from alchemy-ci's own
/// environment at run time (so secrets never sit in the file or the plan).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum EnvValue {
    Plain(String),
    FromEnv { from: String, secret: bool },
}

/// Turns a plan's variables into values, taking `from` variables out of
/// `lookup` (alchemy-ci's own environment). A missing one is an error that
/// names it.
pub fn resolve_env(
    env: &BTreeMap<String, EnvValue>,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<BTreeMap<String, String>, String> {
    env.iter()
        .map(|(k, v)| match v {
            EnvValue::Plain(p) => Ok((k.clone(), p.clone())),
            EnvValue::FromEnv { from, .. } => {
                lookup(from).map(|val| (k.clone(), val)).ok_or_else(|| {
                    format!("{k} is to come from the environment variable {from}, which is not set")
                })
            }
        })
        .collect()
}

/// One `env:` entry: a stage pattern and its variables.
pub type StageEnv = (String, BTreeMap<String, EnvValue>);

/// Variables alchemy-ci sets itself; a config file may not override them.
pub const RESERVED_ENV: &[&str] = &[
    "STAGE",
    "ALCHEMY_STAGE",
    "PULL_REQUEST",
    "ALCHEMY_CI_STATE_STORE_CHECK",
    "PATH",
];

fn env_name_ok(k: &str) -> bool {
    k.chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// `env:` — stage pattern → { NAME: value | {from: VAR, secret: bool} }.
fn stage_env(s: &Sourced) -> Result<Vec<StageEnv>, ConfigError> {
    let Raw::Yaml(serde_norway::Value::Mapping(patterns)) = &s.raw else {
        return Err(s.err("env", "expected a mapping of stage patterns to variables"));
    };
    let mut out = Vec::new();
    for (pattern, vars) in patterns {
        let pattern =
            yaml_scalar(pattern).ok_or_else(|| s.err("env", "stage patterns must be strings"))?;
        let serde_norway::Value::Mapping(vars) = vars else {
            return Err(s.err(
                "env",
                format!("{pattern}: expected a mapping of variable names to values"),
            ));
        };
        let mut map = BTreeMap::new();
        for (k, v) in vars {
            let name = yaml_scalar(k).unwrap_or_default();
            if !env_name_ok(&name) {
                return Err(s.err("env", format!("{pattern}: {name:?} is not a variable name")));
            }
            if RESERVED_ENV.contains(&name.as_str()) {
                return Err(s.err(
                    "env",
                    format!("{pattern}: {name} is set by alchemy-ci itself"),
                ));
            }
            let value = match v {
                serde_norway::Value::Mapping(m) => {
                    let get = |k: &str| m.get(serde_norway::Value::String(k.to_owned()));
                    let from = get("from").and_then(yaml_scalar).filter(|f| env_name_ok(f)).ok_or_else(|| {
                        s.err("env", format!("{pattern}: {name}: expected {{from: VARIABLE, secret: true|false}}"))
                    })?;
                    let secret = match get("secret") {
                        None => false,
                        Some(serde_norway::Value::Bool(b)) => *b,
                        Some(_) => {
                            return Err(s.err(
                                "env",
                                format!("{pattern}: {name}: secret must be true or false"),
                            ))
                        }
                    };
                    if m.len() > usize::from(get("secret").is_some()) + 1 {
                        return Err(s.err(
                            "env",
                            format!("{pattern}: {name}: only `from` and `secret` are allowed"),
                        ));
                    }
                    EnvValue::FromEnv { from, secret }
                }
                other => EnvValue::Plain(yaml_scalar(other).ok_or_else(|| {
                    s.err("env", format!("{pattern}: {name}: expected a single value"))
                })?),
            };
            map.insert(name, value);
        }
        out.push((pattern, map));
    }
    Ok(out)
}

fn yaml_scalar(v: &serde_norway::Value) -> Option<String> {
    match v {
        serde_norway::Value::String(t) => Some(t.clone()),
        serde_norway::Value::Number(n) => Some(n.to_string()),
        serde_norway::Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// A mapping with its order kept (the first matching pattern wins).
fn string_map_ordered(s: &Sourced, key: &str) -> Result<Vec<(String, String)>, ConfigError> {
    let Raw::Yaml(serde_norway::Value::Mapping(m)) = &s.raw else {
        return Err(s.err(key, "expected a mapping of stage patterns to values"));
    };
    m.iter()
        .map(|(k, v)| match (yaml_scalar(k), yaml_scalar(v)) {
            (Some(k), Some(v)) => Ok((k, v)),
            _ => Err(s.err(key, "expected stage pattern: value pairs")),
        })
        .collect()
}

/// Whether a stage matches a pattern where `*` stands for any run of
/// characters.
pub fn stage_matches(pattern: &str, stage: &str) -> bool {
    let parts: Vec<&str> = pattern.split('*').collect();
    let [first, middle @ .., last] = parts.as_slice() else {
        return pattern == stage;
    };
    let Some(mut rest) = stage.strip_prefix(first) else {
        return false;
    };
    for part in middle {
        match rest.find(part) {
            Some(i) => rest = &rest[i + part.len()..],
            None => return false,
        }
    }
    rest.len() >= last.len() && rest.ends_with(last)
}

impl Config {
    /// The profile for a stage: the `profile` input, else the first
    /// matching `profiles` entry (exact names before patterns).
    pub fn profile_for(&self, stage: &str) -> Option<&str> {
        if let Some(p) = &self.profile {
            return Some(p);
        }
        self.profiles
            .iter()
            .find(|(pat, _)| pat == stage)
            .or_else(|| {
                self.profiles
                    .iter()
                    .find(|(pat, _)| stage_matches(pat, stage))
            })
            .map(|(_, p)| p.as_str())
    }

    /// The extra environment for a stage: every matching `env` entry, in
    /// file order, later entries overriding earlier ones.
    pub fn env_for(&self, stage: &str) -> BTreeMap<String, EnvValue> {
        let mut out = BTreeMap::new();
        for (pat, vars) in &self.stage_env {
            if stage_matches(pat, stage) {
                out.extend(vars.clone());
            }
        }
        out
    }
}

/// A map: a YAML mapping, or text of `key:value` pairs separated by commas
/// or newlines. A colon cannot appear in a git branch name, so the split is
/// unambiguous.
fn string_map(s: &Sourced, key: &str) -> Result<BTreeMap<String, String>, ConfigError> {
    if let Raw::Yaml(serde_norway::Value::Mapping(m)) = &s.raw {
        return m
            .iter()
            .map(|(k, v)| {
                let one = |raw| Sourced {
                    origin: s.origin.clone(),
                    raw: Raw::Yaml(raw),
                };
                Ok((text(&one(k.clone()), key)?, text(&one(v.clone()), key)?))
            })
            .collect();
    }
    string_list(s, key)?
        .into_iter()
        .map(|pair| match pair.split_once(':') {
            Some((k, v)) if !k.trim().is_empty() && !v.trim().is_empty() => {
                Ok((k.trim().to_owned(), v.trim().to_owned()))
            }
            _ => Err(s.err(key, format!("expected `branch:stage` pairs, got {pair:?}"))),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nesting_is_bounded_without_parsing() {
        let n = nesting("a: [1, {b: [2]}]\nc:\n  - - d\n# [[[[\nlabel: 'it''s [x' \"[[\" a[b\n");
        assert_eq!(
            n,
            Nesting {
                flow: 3,
                columns: 6
            }
        );
        let deep = format!("k: {}{}\n", "[".repeat(100_000), "]".repeat(100_000));
        assert_eq!(nesting(&deep).flow, 100_000);
        let compact = format!("{}x\n", "- ".repeat(1000));
        assert_eq!(nesting(&compact).columns, 2000);
    }
}
