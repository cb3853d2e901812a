//! The `issue_comment` payload: a comment on an issue or a pull request,
//! typed down to what comment commands decide on.
//!
//! Everything here is untrusted: the body is anyone's text, the login is
//! only an account's name, and `author_association` says how the author
//! relates to the repository, not what they may do (a permission comes from
//! the collaborators API). Nothing read here reaches a shell.

use std::fmt;
use std::path::Path;

use serde::de::IgnoredAny;
use serde::{Deserialize, Serialize};

use super::{EventError, RawRepo, Typed};
use crate::stage::PrNumber;

/// GitHub refuses comment bodies longer than this many characters, so a
/// longer one in a payload was not written through GitHub; it is cut here.
pub const MAX_COMMENT_BODY_CHARS: usize = 65_536;

/// Longest login accepted, `[bot]` suffix included. GitHub's user logins
/// stop at 39 characters; App slugs and managed users' `_shortcode` suffix
/// make some longer.
pub const MAX_LOGIN_CHARS: usize = 100;

/// What happened to the comment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CommentAction {
    Created,
    Edited,
    Deleted,
    Other(String),
}

impl CommentAction {
    fn from_name(s: &str) -> Self {
        match s {
            "created" => Self::Created,
            "edited" => Self::Edited,
            "deleted" => Self::Deleted,
            other => Self::Other(other.to_owned()),
        }
    }

    pub fn as_str(&self) -> &str {
        match self {
            Self::Created => "created",
            Self::Edited => "edited",
            Self::Deleted => "deleted",
            Self::Other(s) => s,
        }
    }
}

impl fmt::Display for CommentAction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A GitHub login: letters, digits, `-` and `_`, starting with a letter or
/// digit, optionally ending in `[bot]`. It goes into API paths
/// (`collaborators/{login}/permission`), so nothing else gets through.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct Login(String);

impl Login {
    pub fn parse(s: &str) -> Option<Self> {
        let name = s.strip_suffix("[bot]").unwrap_or(s);
        let ok = s.len() <= MAX_LOGIN_CHARS
            && name.starts_with(|c: char| c.is_ascii_alphanumeric())
            && name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        ok.then(|| Self(s.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Login {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for Login {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Self::parse(&s).ok_or_else(|| {
            serde::de::Error::invalid_value(
                serde::de::Unexpected::Str(&s),
                &"a GitHub login (letters, digits, '-' and '_', optionally ending in [bot])",
            )
        })
    }
}

/// The account that wrote the comment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CommentAuthor {
    pub login: Login,
    /// The account's `type`: `User`, `Bot`, `Organization`, …
    pub account_type: Option<String>,
}

impl CommentAuthor {
    /// GitHub Apps, the Actions token included, write as `type: Bot` with a
    /// login ending in `[bot]`; either one is enough.
    pub fn is_bot(&self) -> bool {
        self.account_type
            .as_deref()
            .is_some_and(|t| t.eq_ignore_ascii_case("bot"))
            || self.login.as_str().to_ascii_lowercase().ends_with("[bot]")
    }
}

/// One `issue_comment` event.
#[derive(Debug, Clone, Serialize)]
pub struct IssueComment {
    pub action: CommentAction,
    /// The issue or pull request commented on.
    pub number: PrNumber,
    /// Whether that is a pull request (the payload's `issue.pull_request`).
    pub on_pull_request: bool,
    /// Whether the issue was open when the comment was made.
    pub issue_open: bool,
    pub comment_id: u64,
    /// The comment's text, at most [`MAX_COMMENT_BODY_CHARS`] characters.
    pub body: String,
    /// Whether the body was longer and has been cut.
    pub body_truncated: bool,
    pub author: CommentAuthor,
    /// `OWNER`, `MEMBER`, `COLLABORATOR`, `CONTRIBUTOR`, `NONE`, …: shown,
    /// never trusted for permission.
    pub author_association: Option<String>,
    pub repository: Option<String>,
}

/// Types an `issue_comment` payload already in memory; `path` only names it
/// in errors, which carry the path of the offending field.
pub fn parse_comment(path: &Path, bytes: &[u8]) -> Result<IssueComment, EventError> {
    read(&Typed {
        path,
        bytes,
        event: "issue_comment",
    })
}

pub(super) fn read(typed: &Typed<'_>) -> Result<IssueComment, EventError> {
    let raw: RawIssueComment = typed.read()?;
    let (body, body_truncated) = cap(raw.comment.body.unwrap_or_default());
    Ok(IssueComment {
        action: CommentAction::from_name(&raw.action),
        number: raw.issue.number,
        on_pull_request: raw.issue.pull_request.is_some(),
        issue_open: raw.issue.state.as_deref() != Some("closed"),
        comment_id: raw.comment.id,
        body,
        body_truncated,
        author: CommentAuthor {
            login: raw.comment.user.login,
            account_type: raw.comment.user.account_type,
        },
        author_association: raw.comment.author_association,
        repository: raw.repository.map(|r| r.full_name.to_string()),
    })
}

fn cap(body: String) -> (String, bool) {
    match body.char_indices().nth(MAX_COMMENT_BODY_CHARS) {
        Some((at, _)) => (body[..at].to_owned(), true),
        None => (body, false),
    }
}

#[derive(Deserialize)]
struct RawUser {
    login: Login,
    #[serde(rename = "type")]
    account_type: Option<String>,
}

#[derive(Deserialize)]
struct RawComment {
    id: u64,
    body: Option<String>,
    user: RawUser,
    author_association: Option<String>,
}

#[derive(Deserialize)]
struct RawIssue {
    number: PrNumber,
    state: Option<String>,
    pull_request: Option<IgnoredAny>,
}

#[derive(Deserialize)]
struct RawIssueComment {
    action: String,
    issue: RawIssue,
    comment: RawComment,
    repository: Option<RawRepo>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn payload(body: &str, login: &str, kind: &str) -> Vec<u8> {
        serde_json::to_vec(&serde_json::json!({
            "action": "created",
            "issue": {"number": 7, "state": "open", "pull_request": {"url": "x"}},
            "comment": {"id": 11, "body": body, "user": {"login": login, "type": kind},
                        "author_association": "MEMBER"},
            "repository": {"full_name": "acme/app"}
        }))
        .expect("json")
    }

    #[test]
    fn logins_follow_githubs_grammar() {
        for ok in ["octocat", "a", "x-y", "dependabot[bot]", "user_emu", "0day"] {
            assert!(Login::parse(ok).is_some(), "{ok}");
        }
        for bad in [
            "",
            "-x",
            "_x",
            "a/b",
            "../x",
            "a b",
            "x[bot][bot]",
            "[bot]",
            "a?b",
            "é",
        ] {
            assert!(Login::parse(bad).is_none(), "{bad}");
        }
        assert!(Login::parse(&"a".repeat(MAX_LOGIN_CHARS + 1)).is_none());
    }

    #[test]
    fn bots_by_type_or_by_login() {
        let c = parse_comment(Path::new("e"), &payload("x", "octocat", "User")).expect("ok");
        assert!(!c.author.is_bot());
        let c = parse_comment(Path::new("e"), &payload("x", "octocat", "Bot")).expect("ok");
        assert!(c.author.is_bot());
        let c = parse_comment(Path::new("e"), &payload("x", "renovate[bot]", "User")).expect("ok");
        assert!(c.author.is_bot());
    }

    #[test]
    fn a_body_longer_than_github_allows_is_cut_at_a_character() {
        let long = "é".repeat(MAX_COMMENT_BODY_CHARS + 5);
        let c = parse_comment(Path::new("e"), &payload(&long, "octocat", "User")).expect("ok");
        assert!(c.body_truncated);
        assert_eq!(c.body.chars().count(), MAX_COMMENT_BODY_CHARS);
        let c = parse_comment(Path::new("e"), &payload("short", "octocat", "User")).expect("ok");
        assert!(!c.body_truncated);
    }

    #[test]
    fn a_hostile_login_is_refused_with_the_field_named() {
        let err = parse_comment(Path::new("e.json"), &payload("x", "../../admin", "User"))
            .expect_err("refused");
        let msg = err.to_string();
        assert!(msg.contains("comment.user.login"), "{msg}");
    }
}
