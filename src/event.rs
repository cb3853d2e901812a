//! GitHub event payloads, read into the few typed facts alchemy-ci decides on.
//!
//! A payload carries no event name (GitHub passes it as `GITHUB_EVENT_NAME`),
//! so the name comes from a flag, the environment, or the payload's shape, in
//! that order, and the plan says which. Everything read here is untrusted:
//! branch names and titles are only ever displayed, never run.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use serde::de::{DeserializeOwned, IgnoredAny};
use serde::{Deserialize, Serialize};

use crate::github::names::RepoName;
use crate::stage::PrNumber;

mod comment;

pub use comment::{
    parse_comment, CommentAction, CommentAuthor, IssueComment, Login, MAX_COMMENT_BODY_CHARS,
};

/// GitHub caps webhook payloads at 25 MB; anything far larger is not an event.
pub const MAX_EVENT_BYTES: u64 = 64 * 1024 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum EventError {
    #[error("{}: cannot read the event file: {source}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{}: is a directory, not an event file", path.display())]
    IsDir { path: PathBuf },
    #[error("{}: is a {kind}, not an event file", path.display())]
    NotRegular { path: PathBuf, kind: &'static str },
    #[error("{}: the event file is empty", path.display())]
    Empty { path: PathBuf },
    #[error("{}: the event file is larger than {MAX_EVENT_BYTES} bytes", path.display())]
    TooLarge { path: PathBuf },
    #[error("{}: not valid JSON: {message}", path.display())]
    Syntax { path: PathBuf, message: String },
    #[error("{}: the JSON ends early (truncated file?): {message}", path.display())]
    Truncated { path: PathBuf, message: String },
    #[error("{}: expected a JSON object at the top level", path.display())]
    NotObject { path: PathBuf },
    #[error("{}: not a valid {event} payload: {message}", path.display())]
    Shape {
        path: PathBuf,
        event: String,
        message: String,
    },
}

/// Where the event name came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum NameSource {
    Flag,
    Env,
    Inferred,
}

impl fmt::Display for NameSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Flag => "from --event-name",
            Self::Env => "from GITHUB_EVENT_NAME",
            Self::Inferred => "inferred from the payload",
        })
    }
}

/// The event name as given: an explicit flag wins over the environment.
#[derive(Debug, Default, Clone)]
pub struct NameHint {
    pub flag: Option<String>,
    pub env: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Event {
    /// The event name as GitHub spells it (`pull_request`, `push`, …), or
    /// whatever unknown name was given.
    pub name: String,
    pub name_source: NameSource,
    pub repository: Option<String>,
    #[serde(flatten)]
    pub payload: Payload,
}

// One event is read per run: a pull request's size costs nothing worth a box.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Payload {
    /// `pull_request` and `pull_request_target` share one payload shape.
    PullRequest(PullRequest),
    Push(Push),
    Schedule {
        cron: Option<String>,
    },
    WorkflowDispatch(Dispatch),
    IssueComment(IssueComment),
    /// An event name alchemy-ci does not act on, or a payload whose kind
    /// could not be inferred; its contents are not read.
    Unknown,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PrAction {
    Opened,
    Reopened,
    Synchronize,
    Closed,
    ReadyForReview,
    ConvertedToDraft,
    Labeled,
    Unlabeled,
    Other(String),
}

impl PrAction {
    fn from_name(s: &str) -> Self {
        match s {
            "opened" => Self::Opened,
            "reopened" => Self::Reopened,
            "synchronize" => Self::Synchronize,
            "closed" => Self::Closed,
            "ready_for_review" => Self::ReadyForReview,
            "converted_to_draft" => Self::ConvertedToDraft,
            "labeled" => Self::Labeled,
            "unlabeled" => Self::Unlabeled,
            other => Self::Other(other.to_owned()),
        }
    }

    pub fn as_str(&self) -> &str {
        match self {
            Self::Opened => "opened",
            Self::Reopened => "reopened",
            Self::Synchronize => "synchronize",
            Self::Closed => "closed",
            Self::ReadyForReview => "ready_for_review",
            Self::ConvertedToDraft => "converted_to_draft",
            Self::Labeled => "labeled",
            Self::Unlabeled => "unlabeled",
            Self::Other(s) => s,
        }
    }
}

impl fmt::Display for PrAction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A commit SHA as GitHub sends it: 40 (SHA-1) or 64 (SHA-256) hex digits.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(transparent)]
pub struct CommitSha(String);

impl CommitSha {
    pub fn parse(s: &str) -> Option<Self> {
        let hex = s
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
        (hex && (s.len() == 40 || s.len() == 64)).then(|| Self(s.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn short(&self) -> &str {
        &self.0[..7]
    }
}

impl<'de> Deserialize<'de> for CommitSha {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Self::parse(&s).ok_or_else(|| {
            serde::de::Error::invalid_value(
                serde::de::Unexpected::Str(&s),
                &"a commit SHA of 40 or 64 lowercase hex digits",
            )
        })
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct PullRequest {
    pub action: PrAction,
    pub number: PrNumber,
    pub title: Option<String>,
    pub html_url: Option<String>,
    pub draft: bool,
    pub merged: bool,
    pub head_ref: String,
    pub head_sha: CommitSha,
    pub base_ref: String,
    /// The base branch's commit when the event was sent: what the changed
    /// files are compared against when they come from the checkout.
    pub base_sha: CommitSha,
    /// `None` when GitHub no longer knows the head repository (a deleted fork).
    pub head_repo: Option<String>,
    pub base_repo: Option<String>,
    pub labels: Vec<String>,
    /// The label added or removed by a `labeled`/`unlabeled` action.
    pub label: Option<String>,
}

impl PullRequest {
    /// Whether the head branch lives outside the base repository. A PR between
    /// two branches of one repository is not from a fork even when that
    /// repository is itself a fork of another (then `head.repo.fork` is true
    /// for every PR, and skipping them all would be wrong).
    pub fn from_fork(&self) -> bool {
        match (&self.head_repo, &self.base_repo) {
            (Some(head), Some(base)) => !head.eq_ignore_ascii_case(base),
            _ => true,
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Push {
    /// The full ref, e.g. `refs/heads/main` or `refs/tags/v1`.
    pub git_ref: String,
    /// The branch's commit before the push; `None` for a new branch.
    pub before: Option<CommitSha>,
    pub after: CommitSha,
    pub deleted: bool,
}

impl Push {
    pub fn branch(&self) -> Option<&str> {
        self.git_ref.strip_prefix("refs/heads/")
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Dispatch {
    pub git_ref: Option<String>,
    /// The dispatch inputs, each turned into the string a workflow sees.
    pub inputs: BTreeMap<String, String>,
}

/// Reads and types one event file. Nothing else is read or written.
pub fn load(path: &Path, hint: &NameHint) -> Result<Event, EventError> {
    let bytes = read_capped(path)?;
    parse(path, &bytes, hint)
}

/// Types a payload already in memory; `path` only names it in errors.
pub fn parse(path: &Path, bytes: &[u8], hint: &NameHint) -> Result<Event, EventError> {
    check_object(path, bytes)?;
    let (name, source) = event_name(path, bytes, hint)?;
    let typed = Typed {
        path,
        bytes,
        event: &name,
    };
    let (repository, payload) = typed_payload(&typed)?;
    Ok(Event {
        name,
        name_source: source,
        repository,
        payload,
    })
}

/// A payload is a JSON object; anything else is told apart (empty, not
/// JSON, JSON of the wrong kind) before it is typed.
fn check_object(path: &Path, bytes: &[u8]) -> Result<(), EventError> {
    match bytes.iter().find(|b| !b.is_ascii_whitespace()) {
        None => Err(EventError::Empty { path: path.into() }),
        Some(b'{') => Ok(()),
        Some(_) => Err(match serde_json::from_slice::<IgnoredAny>(bytes) {
            Ok(_) => EventError::NotObject { path: path.into() },
            Err(e) => json_error(path, &e),
        }),
    }
}

/// The event's name: the flag, else the runner's variable, else the
/// payload's shape.
fn event_name(
    path: &Path,
    bytes: &[u8],
    hint: &NameHint,
) -> Result<(String, NameSource), EventError> {
    let given = non_empty(hint.flag.as_deref())
        .map(|n| (n, NameSource::Flag))
        .or_else(|| non_empty(hint.env.as_deref()).map(|n| (n, NameSource::Env)));
    if let Some((n, s)) = given {
        return Ok((n.to_owned(), s));
    }
    let shape: Shape = serde_json::from_slice(bytes).map_err(|e| json_error(path, &e))?;
    Ok((
        shape.infer().unwrap_or("unknown").to_owned(),
        NameSource::Inferred,
    ))
}

/// The payload typed as its event says, with the repository it names.
fn typed_payload(typed: &Typed<'_>) -> Result<(Option<String>, Payload), EventError> {
    let full_name = |r: Option<RawRepo>| r.map(|r| r.full_name.to_string());
    Ok(match typed.event {
        "pull_request" | "pull_request_target" => {
            let raw: RawPrEvent = typed.read()?;
            let pr = raw
                .into_pull_request()
                .map_err(|message| EventError::Shape {
                    path: typed.path.into(),
                    event: typed.event.to_owned(),
                    message,
                })?;
            (pr.base_repo.clone(), Payload::PullRequest(pr))
        }
        "push" => {
            let raw: RawPush = typed.read()?;
            let push = Push {
                git_ref: raw.git_ref,
                // All zeros: the branch is new, there is nothing before.
                before: raw
                    .before
                    .as_deref()
                    .and_then(CommitSha::parse)
                    .filter(|c| c.as_str().bytes().any(|b| b != b'0')),
                after: raw.after,
                deleted: raw.deleted.unwrap_or(false),
            };
            (full_name(raw.repository), Payload::Push(push))
        }
        "schedule" => {
            let raw: RawSchedule = typed.read()?;
            let cron = raw.schedule;
            (full_name(raw.repository), Payload::Schedule { cron })
        }
        "workflow_dispatch" => {
            let raw: RawDispatch = typed.read()?;
            let inputs = raw
                .inputs
                .unwrap_or_default()
                .into_iter()
                .filter_map(|(k, v)| input_string(v).map(|v| (k, v)))
                .collect();
            let dispatch = Dispatch {
                git_ref: raw.git_ref,
                inputs,
            };
            (
                full_name(raw.repository),
                Payload::WorkflowDispatch(dispatch),
            )
        }
        "issue_comment" => {
            // The whole comment is typed (and refused when malformed) here.
            let c = comment::read(typed)?;
            (c.repository.clone(), Payload::IssueComment(c))
        }
        _ => (None, Payload::Unknown),
    })
}

fn read_capped(path: &Path) -> Result<Vec<u8>, EventError> {
    use crate::input_file::{read, ReadError};
    match read(path, MAX_EVENT_BYTES) {
        Ok(bytes) => Ok(bytes),
        Err(ReadError::NotRegular("directory")) => Err(EventError::IsDir { path: path.into() }),
        Err(ReadError::NotRegular(kind)) => Err(EventError::NotRegular {
            path: path.into(),
            kind,
        }),
        Err(ReadError::TooLarge(_)) => Err(EventError::TooLarge { path: path.into() }),
        Err(ReadError::Io(source)) => Err(EventError::Read {
            path: path.into(),
            source,
        }),
    }
}

fn non_empty(s: Option<&str>) -> Option<&str> {
    s.map(str::trim).filter(|s| !s.is_empty())
}

fn json_error(path: &Path, e: &serde_json::Error) -> EventError {
    let message = e.to_string();
    match e.classify() {
        serde_json::error::Category::Eof => EventError::Truncated {
            path: path.into(),
            message,
        },
        _ => EventError::Syntax {
            path: path.into(),
            message,
        },
    }
}

struct Typed<'a> {
    path: &'a Path,
    bytes: &'a [u8],
    event: &'a str,
}

impl Typed<'_> {
    /// Deserializes with the path of the offending field in the error, so a
    /// user reads `pull_request.number: invalid type…` rather than a column.
    fn read<T: DeserializeOwned>(&self) -> Result<T, EventError> {
        let mut de = serde_json::Deserializer::from_slice(self.bytes);
        serde_path_to_error::deserialize(&mut de).map_err(|e| {
            let inner = e.inner();
            if inner.is_syntax() || inner.is_eof() || inner.is_io() {
                return json_error(self.path, inner);
            }
            let field = e.path().to_string();
            let message = if field == "." {
                strip_position(&inner.to_string())
            } else {
                format!("{field}: {}", strip_position(&inner.to_string()))
            };
            EventError::Shape {
                path: self.path.into(),
                event: self.event.to_owned(),
                message,
            }
        })
    }
}

/// serde_json appends "at line L column C" to data errors; with the field
/// path in front it only adds noise.
fn strip_position(msg: &str) -> String {
    match msg.rfind(" at line ") {
        Some(i) => msg[..i].to_owned(),
        None => msg.to_owned(),
    }
}

fn input_string(v: serde_json::Value) -> Option<String> {
    match v {
        serde_json::Value::String(s) => Some(s),
        serde_json::Value::Bool(b) => Some(b.to_string()),
        serde_json::Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// Just enough of a payload to tell which event it is.
#[derive(Deserialize)]
struct Shape {
    action: Option<IgnoredAny>,
    pull_request: Option<IgnoredAny>,
    schedule: Option<IgnoredAny>,
    #[serde(rename = "ref")]
    git_ref: Option<IgnoredAny>,
    before: Option<IgnoredAny>,
    after: Option<IgnoredAny>,
    inputs: Option<IgnoredAny>,
    workflow: Option<IgnoredAny>,
    issue: Option<IgnoredAny>,
    comment: Option<IgnoredAny>,
}

impl Shape {
    fn infer(&self) -> Option<&'static str> {
        if self.pull_request.is_some() && self.action.is_some() && self.comment.is_none() {
            Some("pull_request")
        } else if self.schedule.is_some() {
            Some("schedule")
        } else if self.git_ref.is_some() && self.before.is_some() && self.after.is_some() {
            Some("push")
        } else if self.inputs.is_some() && self.workflow.is_some() {
            Some("workflow_dispatch")
        } else if self.issue.is_some() && self.comment.is_some() {
            Some("issue_comment")
        } else {
            None
        }
    }
}

#[derive(Deserialize)]
struct RawRepo {
    /// Checked against GitHub's grammar: it ends up in links.
    full_name: RepoName,
}

#[derive(Deserialize)]
struct RawLabel {
    name: String,
}

#[derive(Deserialize)]
struct RawBranch {
    #[serde(rename = "ref")]
    git_ref: String,
    sha: CommitSha,
    repo: Option<RawRepo>,
}

#[derive(Deserialize)]
struct RawPr {
    number: PrNumber,
    title: Option<String>,
    html_url: Option<String>,
    draft: Option<bool>,
    merged: Option<bool>,
    head: RawBranch,
    base: RawBranch,
    #[serde(default)]
    labels: Vec<RawLabel>,
}

#[derive(Deserialize)]
struct RawPrEvent {
    action: String,
    number: Option<PrNumber>,
    pull_request: RawPr,
    label: Option<RawLabel>,
}

impl RawPrEvent {
    fn into_pull_request(self) -> Result<PullRequest, String> {
        let pr = self.pull_request;
        if let Some(top) = self.number {
            if top != pr.number {
                return Err(format!(
                    "number ({top}) and pull_request.number ({}) disagree",
                    pr.number
                ));
            }
        }
        Ok(PullRequest {
            action: PrAction::from_name(&self.action),
            number: pr.number,
            title: pr.title,
            html_url: pr.html_url,
            draft: pr.draft.unwrap_or(false),
            merged: pr.merged.unwrap_or(false),
            head_ref: pr.head.git_ref,
            head_sha: pr.head.sha,
            base_ref: pr.base.git_ref,
            base_sha: pr.base.sha,
            head_repo: pr.head.repo.map(|r| r.full_name.to_string()),
            base_repo: pr.base.repo.map(|r| r.full_name.to_string()),
            labels: pr.labels.into_iter().map(|l| l.name).collect(),
            label: self.label.map(|l| l.name),
        })
    }
}

#[derive(Deserialize)]
struct RawPush {
    #[serde(rename = "ref")]
    git_ref: String,
    before: Option<String>,
    after: CommitSha,
    deleted: Option<bool>,
    repository: Option<RawRepo>,
}

#[derive(Deserialize)]
struct RawSchedule {
    schedule: Option<String>,
    repository: Option<RawRepo>,
}

#[derive(Deserialize)]
struct RawDispatch {
    #[serde(rename = "ref")]
    git_ref: Option<String>,
    inputs: Option<BTreeMap<String, serde_json::Value>>,
    repository: Option<RawRepo>,
}
