//! Reading a comment's text as a command: which lines count, the grammar of
//! each command and its argument, and the reasons a line is refused.
//!
//! The rules, and why:
//! - A command line starts with the prefix (`/alchemy` by default, case
//!   ignored), after at most three spaces, followed by a space, a tab or the
//!   end of the line. Four spaces or a tab make a Markdown code block, and
//!   lines inside ``` or ~~~ fences are code too: both show a command
//!   rather than give one, as in a comment explaining how to use it. A
//!   quoted line (`> /alchemy destroy`, what "Quote reply" produces) does
//!   not start with the prefix, so quoting a command never repeats it.
//! - Every other line is ignored, so a command can come with an
//!   explanation around it.
//! - One command per comment. A run does one thing under one lock and
//!   answers with one reaction; two command lines are refused with the help
//!   rather than guessing which one was meant.
//! - Command names and `off` ignore case; app names are kept as typed.

use std::fmt;
use std::time::Duration;

use serde::{Serialize, Serializer};

use crate::text::is_unsafe;

/// The prefix when none is configured.
pub const DEFAULT_PREFIX: &str = "/alchemy";

/// Longest prefix accepted.
pub const MAX_PREFIX_CHARS: usize = 32;

/// Longest `keep`: a typo like `700d` for `7d` should not pin a preview for
/// two years; a longer keep is one more comment away.
pub const MAX_KEEP: Duration = Duration::from_secs(90 * 86_400);

/// How much of a word from the comment an error message repeats.
const SHOWN_WORD_CHARS: usize = 40;

/// The word that starts a command line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct CommandPrefix(String);

impl CommandPrefix {
    /// 1 to [`MAX_PREFIX_CHARS`] characters, no whitespace, nothing unsafe,
    /// not starting with `>` (a quote), `#`, `-`, `*`, `+` or `~` (Markdown
    /// that would make the line something else), and no `` ` `` or `|`
    /// anywhere, so the help can show it in a code span inside a table.
    pub fn parse(s: &str) -> Result<Self, String> {
        let ok = !s.is_empty()
            && s.chars().count() <= MAX_PREFIX_CHARS
            && !s
                .chars()
                .any(|c| c.is_whitespace() || is_unsafe(c) || c == '`' || c == '|')
            && !s.starts_with(['>', '#', '-', '*', '+', '~']);
        if ok {
            Ok(Self(s.to_owned()))
        } else {
            Err(format!(
                "command prefix {s:?} must be 1 to {MAX_PREFIX_CHARS} characters without spaces, ` or |, not starting with > # - * + ~; e.g. {DEFAULT_PREFIX}"
            ))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl Default for CommandPrefix {
    fn default() -> Self {
        Self(DEFAULT_PREFIX.to_owned())
    }
}

impl fmt::Display for CommandPrefix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// An app named in a command: 1 to 63 letters, digits, `.`, `_` and `-`,
/// starting with a letter or digit. Whether such an app is configured is
/// decided later, against the configuration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct AppName(String);

impl AppName {
    pub fn parse(s: &str) -> Option<Self> {
        let ok = (1..=63).contains(&s.len())
            && s.starts_with(|c: char| c.is_ascii_alphanumeric())
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
        ok.then(|| Self(s.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for AppName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// What `keep` was given.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum KeepArg {
    /// `keep 7d`: keep the preview this long from now.
    #[serde(serialize_with = "secs")]
    For(Duration),
    /// `keep` alone: one more ttl from now.
    Default,
    /// `keep off`: end an earlier keep.
    Off,
}

fn secs<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_u64(d.as_secs())
}

/// One command, as typed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "command", rename_all = "snake_case")]
pub enum Command {
    Deploy { app: Option<AppName> },
    Destroy { app: Option<AppName> },
    Redeploy { app: Option<AppName> },
    Keep { keep: KeepArg },
    Status,
    Help,
    Unlock { app: Option<AppName> },
}

impl Command {
    pub fn name(&self) -> &'static str {
        match self {
            Self::Deploy { .. } => "deploy",
            Self::Destroy { .. } => "destroy",
            Self::Redeploy { .. } => "redeploy",
            Self::Keep { .. } => "keep",
            Self::Status => "status",
            Self::Help => "help",
            Self::Unlock { .. } => "unlock",
        }
    }
}

/// Why a command line was refused. The words quoted come from the
/// comment: [`fmt::Display`] clips them, and whoever shows the message
/// escapes it for where it goes (`github::markdown::text`, `render::term`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, thiserror::Error)]
#[serde(tag = "error", rename_all = "snake_case")]
pub enum ParseError {
    #[error("unknown command \"{}\"", clip(word))]
    Unknown { word: String },
    #[error("`{command}` takes no argument; got \"{}\"", clip(word))]
    NoArgument { command: &'static str, word: String },
    #[error(
        "`{command}` takes at most one argument; got \"{}\" after it",
        clip(word)
    )]
    TooMany { command: &'static str, word: String },
    #[error(
        "\"{}\" is not an app name (letters, digits, '.', '_' and '-')",
        clip(word)
    )]
    BadApp { word: String },
    #[error(
        "`keep` takes a duration like 7d, 36h or 90m, or off; got \"{}\"",
        clip(word)
    )]
    BadDuration { word: String },
    #[error("`keep` is at most {}d at a time; got \"{}\"", MAX_KEEP.as_secs() / 86_400, clip(word))]
    KeepTooLong { word: String },
    #[error("one command per comment; this comment has {count} lines starting with the prefix")]
    Several { count: usize },
}

/// What a comment says.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Parsed {
    /// No line starts with the prefix: the comment is not for alchemy-ci.
    NoCommand,
    Command {
        command: Command,
    },
    Invalid {
        error: ParseError,
    },
}

/// Reads a comment body. See the module documentation for the rules.
pub fn parse(body: &str, prefix: &CommandPrefix) -> Parsed {
    let lines = command_lines(body, prefix);
    match lines.as_slice() {
        [] => Parsed::NoCommand,
        [words] => match command(words) {
            Ok(command) => Parsed::Command { command },
            Err(error) => Parsed::Invalid { error },
        },
        more => Parsed::Invalid {
            error: ParseError::Several { count: more.len() },
        },
    }
}

/// The words after the prefix of every command line, outside code.
fn command_lines<'a>(body: &'a str, prefix: &CommandPrefix) -> Vec<Vec<&'a str>> {
    let mut fence: Option<(char, usize)> = None;
    let mut out = Vec::new();
    for line in body.lines() {
        let Some(text) = markdown_indent(line) else {
            continue;
        };
        if let Some(f) = fence {
            if closes_fence(text, f) {
                fence = None;
            }
            continue;
        }
        if let Some(f) = opens_fence(text) {
            fence = Some(f);
            continue;
        }
        if let Some(rest) = after_prefix(text, prefix.as_str()) {
            out.push(rest.split_whitespace().collect());
        }
    }
    out
}

/// The line without its indentation, or `None` when the indentation makes
/// it an indented code block (four spaces, or a tab).
fn markdown_indent(line: &str) -> Option<&str> {
    let spaces = line.bytes().take_while(|b| *b == b' ').count();
    let rest = &line[spaces..];
    (spaces <= 3 && !rest.starts_with('\t')).then_some(rest)
}

fn opens_fence(text: &str) -> Option<(char, usize)> {
    let c = text.chars().next().filter(|c| matches!(c, '`' | '~'))?;
    let n = text.chars().take_while(|x| *x == c).count();
    (n >= 3).then_some((c, n))
}

fn closes_fence(text: &str, (c, n): (char, usize)) -> bool {
    let run = text.chars().take_while(|x| *x == c).count();
    run >= n && text[run * c.len_utf8()..].trim().is_empty()
}

/// The rest of the line after the prefix, if the line starts with it and
/// the prefix is a word of its own.
fn after_prefix<'a>(text: &'a str, prefix: &str) -> Option<&'a str> {
    let head = text.get(..prefix.len())?;
    if !head.eq_ignore_ascii_case(prefix) {
        return None;
    }
    let rest = &text[prefix.len()..];
    match rest.chars().next() {
        None => Some(rest),
        Some(c) if c == ' ' || c == '\t' => Some(rest),
        Some(_) => None,
    }
}

fn command(words: &[&str]) -> Result<Command, ParseError> {
    let Some((name, args)) = words.split_first() else {
        return Ok(Command::Help);
    };
    let lower = name.to_ascii_lowercase();
    Ok(match lower.as_str() {
        "deploy" => Command::Deploy {
            app: app("deploy", args)?,
        },
        "destroy" => Command::Destroy {
            app: app("destroy", args)?,
        },
        "redeploy" => Command::Redeploy {
            app: app("redeploy", args)?,
        },
        "unlock" => Command::Unlock {
            app: app("unlock", args)?,
        },
        "keep" => Command::Keep { keep: keep(args)? },
        "status" => no_argument(Command::Status, args)?,
        "help" | "-h" | "--help" => no_argument(Command::Help, args)?,
        _ => {
            return Err(ParseError::Unknown {
                word: (*name).to_owned(),
            })
        }
    })
}

fn no_argument(c: Command, args: &[&str]) -> Result<Command, ParseError> {
    match args.first() {
        None => Ok(c),
        Some(word) => Err(ParseError::NoArgument {
            command: c.name(),
            word: (*word).to_owned(),
        }),
    }
}

fn one<'a>(command: &'static str, args: &[&'a str]) -> Result<Option<&'a str>, ParseError> {
    match args {
        [] => Ok(None),
        [one] => Ok(Some(one)),
        [_, extra, ..] => Err(ParseError::TooMany {
            command,
            word: (*extra).to_owned(),
        }),
    }
}

fn app(command: &'static str, args: &[&str]) -> Result<Option<AppName>, ParseError> {
    one(command, args)?
        .map(|w| AppName::parse(w).ok_or_else(|| ParseError::BadApp { word: w.to_owned() }))
        .transpose()
}

fn keep(args: &[&str]) -> Result<KeepArg, ParseError> {
    let Some(word) = one("keep", args)? else {
        return Ok(KeepArg::Default);
    };
    let lower = word.to_ascii_lowercase();
    if lower == "off" {
        return Ok(KeepArg::Off);
    }
    let d = crate::cleanup::parse_ttl(&lower).ok_or_else(|| ParseError::BadDuration {
        word: word.to_owned(),
    })?;
    if d > MAX_KEEP {
        return Err(ParseError::KeepTooLong {
            word: word.to_owned(),
        });
    }
    Ok(KeepArg::For(d))
}

/// A word from the comment, cut to a length a message can repeat.
fn clip(word: &str) -> String {
    if word.chars().count() <= SHOWN_WORD_CHARS {
        word.to_owned()
    } else {
        let mut s: String = word.chars().take(SHOWN_WORD_CHARS - 1).collect();
        s.push('…');
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(body: &str) -> Parsed {
        parse(body, &CommandPrefix::default())
    }

    fn cmd(body: &str) -> Command {
        match p(body) {
            Parsed::Command { command } => command,
            other => panic!("{body:?}: expected a command, got {other:?}"),
        }
    }

    fn err(body: &str) -> ParseError {
        match p(body) {
            Parsed::Invalid { error } => error,
            other => panic!("{body:?}: expected an error, got {other:?}"),
        }
    }

    fn app(s: &str) -> Option<AppName> {
        AppName::parse(s)
    }

    #[test]
    fn commands_and_their_arguments() {
        let d = |s| Duration::from_secs(s);
        let table: &[(&str, Command)] = &[
            ("/alchemy deploy", Command::Deploy { app: None }),
            ("/alchemy deploy web", Command::Deploy { app: app("web") }),
            ("/alchemy destroy", Command::Destroy { app: None }),
            (
                "/alchemy destroy api.v2",
                Command::Destroy { app: app("api.v2") },
            ),
            ("/alchemy redeploy", Command::Redeploy { app: None }),
            (
                "/alchemy redeploy web",
                Command::Redeploy { app: app("web") },
            ),
            ("/alchemy unlock", Command::Unlock { app: None }),
            ("/alchemy unlock web", Command::Unlock { app: app("web") }),
            (
                "/alchemy keep 7d",
                Command::Keep {
                    keep: KeepArg::For(d(7 * 86_400)),
                },
            ),
            (
                "/alchemy keep 36h",
                Command::Keep {
                    keep: KeepArg::For(d(36 * 3_600)),
                },
            ),
            (
                "/alchemy keep 90m",
                Command::Keep {
                    keep: KeepArg::For(d(90 * 60)),
                },
            ),
            (
                "/alchemy keep 90d",
                Command::Keep {
                    keep: KeepArg::For(MAX_KEEP),
                },
            ),
            (
                "/alchemy keep 7D",
                Command::Keep {
                    keep: KeepArg::For(d(7 * 86_400)),
                },
            ),
            ("/alchemy keep off", Command::Keep { keep: KeepArg::Off }),
            ("/alchemy keep OFF", Command::Keep { keep: KeepArg::Off }),
            (
                "/alchemy keep",
                Command::Keep {
                    keep: KeepArg::Default,
                },
            ),
            ("/alchemy status", Command::Status),
            ("/alchemy help", Command::Help),
            ("/alchemy --help", Command::Help),
            ("/alchemy", Command::Help),
            ("/alchemy   ", Command::Help),
            // Case, spacing and line endings people actually type.
            ("/Alchemy DEPLOY", Command::Deploy { app: None }),
            ("/alchemy\tdeploy\tWeb", Command::Deploy { app: app("Web") }),
            ("   /alchemy deploy", Command::Deploy { app: None }),
            ("/alchemy deploy\r\n", Command::Deploy { app: None }),
            (
                "/alchemy  deploy   web  ",
                Command::Deploy { app: app("web") },
            ),
        ];
        for (body, want) in table {
            assert_eq!(&cmd(body), want, "{body:?}");
        }
    }

    #[test]
    fn only_lines_that_start_with_the_prefix_count() {
        let body =
            "Looks good to me!\n\n/alchemy deploy\n\nThanks, and see /alchemy destroy in the docs.";
        assert_eq!(cmd(body), Command::Deploy { app: None });
        for ignored in [
            "",
            "LGTM",
            "please run /alchemy deploy",
            "> /alchemy destroy",
            ">/alchemy destroy",
            "- /alchemy destroy",
            "`/alchemy destroy`",
            "/alchemyx deploy",
            "/alchemy-ci deploy",
            "/alchemy\u{200b}deploy",
            "alchemy deploy",
            "    /alchemy destroy",
            "\t/alchemy destroy",
            "```\n/alchemy destroy\n```",
            "~~~md\n/alchemy destroy\n~~~",
            "````\n```\n/alchemy destroy\n````",
            "```\nunclosed fence\n/alchemy destroy",
        ] {
            assert_eq!(p(ignored), Parsed::NoCommand, "{ignored:?}");
        }
        // After a fence closes, lines count again.
        assert_eq!(
            cmd("```\n/alchemy destroy\n```\n/alchemy status"),
            Command::Status
        );
    }

    #[test]
    fn refusals_say_why() {
        let table: &[(&str, ParseError)] = &[
            (
                "/alchemy deploi",
                ParseError::Unknown {
                    word: "deploi".into(),
                },
            ),
            (
                "/alchemy status now",
                ParseError::NoArgument {
                    command: "status",
                    word: "now".into(),
                },
            ),
            (
                "/alchemy help me",
                ParseError::NoArgument {
                    command: "help",
                    word: "me".into(),
                },
            ),
            (
                "/alchemy destroy web api",
                ParseError::TooMany {
                    command: "destroy",
                    word: "api".into(),
                },
            ),
            (
                "/alchemy deploy ../etc",
                ParseError::BadApp {
                    word: "../etc".into(),
                },
            ),
            (
                "/alchemy deploy $(id)",
                ParseError::BadApp {
                    word: "$(id)".into(),
                },
            ),
            (
                "/alchemy keep forever",
                ParseError::BadDuration {
                    word: "forever".into(),
                },
            ),
            (
                "/alchemy keep 0d",
                ParseError::BadDuration { word: "0d".into() },
            ),
            (
                "/alchemy keep 1w",
                ParseError::BadDuration { word: "1w".into() },
            ),
            (
                "/alchemy keep 91d",
                ParseError::KeepTooLong { word: "91d".into() },
            ),
            (
                "/alchemy keep 7d 8d",
                ParseError::TooMany {
                    command: "keep",
                    word: "8d".into(),
                },
            ),
            (
                "/alchemy deploy\n/alchemy destroy",
                ParseError::Several { count: 2 },
            ),
            (
                "/alchemy deploy\nok\n/alchemy deploy",
                ParseError::Several { count: 2 },
            ),
        ];
        for (body, want) in table {
            assert_eq!(&err(body), want, "{body:?}");
        }
    }

    #[test]
    fn messages_clip_what_they_repeat() {
        let long = "x".repeat(5_000);
        let msg = err(&format!("/alchemy {long}")).to_string();
        assert!(msg.len() < 200, "{msg}");
        assert!(msg.contains('…'));
    }

    #[test]
    fn a_custom_prefix() {
        let prefix = CommandPrefix::parse("@preview-bot").expect("valid");
        assert_eq!(
            parse("@Preview-Bot destroy", &prefix),
            Parsed::Command {
                command: Command::Destroy { app: None }
            }
        );
        assert_eq!(parse("/alchemy destroy", &prefix), Parsed::NoCommand);
        for bad in [
            "",
            "a b",
            ">x",
            "#x",
            "-x",
            "x\u{202e}",
            "a`b",
            "a|b",
            &"x".repeat(33),
        ] {
            assert!(CommandPrefix::parse(bad).is_err(), "{bad:?}");
        }
        assert_eq!(CommandPrefix::default().as_str(), "/alchemy");
    }

    #[test]
    fn app_names() {
        for ok in ["web", "api.v2", "a_b-c", "0"] {
            assert!(AppName::parse(ok).is_some(), "{ok}");
        }
        for bad in ["", ".x", "-x", "a/b", "a b", "é", &"a".repeat(64)] {
            assert!(AppName::parse(bad).is_none(), "{bad:?}");
        }
    }
}
