//! What to do about one `issue_comment` event, in two pure steps around
//! the one thing that needs GitHub, the commenter's permission:
//!
//! 1. [`decide_comment`]: ignore it (edited, deleted, not on a pull
//!    request, no command line: no reaction, nothing written), refuse a
//!    bot (👎 and nothing else), or ask for the author's permission.
//! 2. [`authorize`], given that permission: refuse (👎 and nothing else),
//!    answer with the help (a malformed command, or `help`), or run a
//!    command checked against the configuration.
//!
//! The permission is checked before even a malformed command gets an
//! answer, so a stranger's comments never make alchemy-ci write anything
//! but a 👎.

use std::time::Duration;

use serde::Serialize;

use super::parse::{parse, AppName, Command, CommandPrefix, KeepArg, ParseError, Parsed};
use super::permission::Permission;
use super::Reaction;
use crate::event::{CommentAction, IssueComment, Login};

/// The configuration a comment is judged against.
#[derive(Debug, Clone)]
pub struct CommandPolicy<'a> {
    pub prefix: &'a CommandPrefix,
    /// The lowest permission obeyed (`command-permission`).
    pub required: Permission,
    /// The configured apps' names; empty when the repository has one app.
    pub apps: &'a [String],
    /// The sweep's ttl, which a bare `keep` extends by.
    pub ttl: Option<Duration>,
}

/// Step one's answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "decision", rename_all = "snake_case")]
pub enum CommentDecision {
    /// Not for alchemy-ci: no reaction, nothing written.
    Ignore { reason: String },
    /// 👎 and nothing else.
    Refuse { reason: String },
    /// Look up `login`'s permission, then call [`authorize`].
    CheckPermission {
        login: Login,
        request: Result<Command, ParseError>,
    },
}

/// Step two's answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "decision", rename_all = "snake_case")]
pub enum Authorized {
    /// 👎 and nothing else.
    Refuse {
        reason: String,
    },
    /// Put the help in the sticky comment, with the reason a command was
    /// refused if there was one.
    Help {
        reason: Option<String>,
    },
    Run {
        action: Action,
    },
}

/// Which apps a command is for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "apps", content = "app", rename_all = "snake_case")]
pub enum Apps {
    /// Every app (or the only one).
    All,
    One(AppName),
}

/// How long `keep` keeps, resolved against the ttl.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum KeepFor {
    /// Keep until this long from the run's now.
    #[serde(serialize_with = "secs")]
    For(Duration),
    /// End an earlier keep.
    Off,
}

fn secs<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_u64(d.as_secs())
}

/// A command that may run, checked against the configuration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum Action {
    /// Deploy the pull request's current head (for a fork, the approval of
    /// that head).
    Deploy {
        apps: Apps,
    },
    Destroy {
        apps: Apps,
    },
    /// Destroy, then deploy from scratch.
    Redeploy {
        apps: Apps,
    },
    Keep {
        keep: KeepFor,
    },
    /// Refresh the sticky comment from the record.
    Status,
    /// Remove the stage's lock, never its state.
    Unlock {
        apps: Apps,
    },
}

impl CommentDecision {
    /// The reaction to put on the comment now: 👎 for a refused bot,
    /// nothing when the comment is ignored or the permission is not known
    /// yet.
    pub fn reaction(&self) -> Option<Reaction> {
        match self {
            Self::Refuse { .. } => Some(Reaction::MinusOne),
            Self::Ignore { .. } | Self::CheckPermission { .. } => None,
        }
    }
}

impl Authorized {
    /// The reaction on the comment when the run starts: 👎 for a refusal
    /// (and nothing after it), 👀 otherwise.
    pub fn first_reaction(&self) -> Reaction {
        match self {
            Self::Refuse { .. } => Reaction::MinusOne,
            Self::Help { .. } | Self::Run { .. } => Reaction::Eyes,
        }
    }

    /// The reaction when the run ends: 🚀 when it did what was asked, 😕
    /// when it failed or the command was refused with the help; `None`
    /// after a 👎.
    pub fn last_reaction(&self, succeeded: bool) -> Option<Reaction> {
        match self {
            Self::Refuse { .. } => None,
            Self::Help { reason: Some(_) } => Some(Reaction::Confused),
            Self::Help { reason: None } | Self::Run { .. } if succeeded => Some(Reaction::Rocket),
            Self::Help { .. } | Self::Run { .. } => Some(Reaction::Confused),
        }
    }
}

/// Step one. Reads nothing but its arguments.
pub fn decide_comment(comment: &IssueComment, policy: &CommandPolicy<'_>) -> CommentDecision {
    let ignore = |reason: String| CommentDecision::Ignore { reason };
    match &comment.action {
        CommentAction::Created => {}
        CommentAction::Edited => {
            // Acting on edits would let a comment's command change after
            // people read it, and run twice.
            return ignore("an edited comment: only new comments give commands".into());
        }
        other => {
            return ignore(format!(
                "a comment was {other}: only new comments give commands"
            ))
        }
    }
    if !comment.on_pull_request {
        return ignore(format!(
            "#{} is an issue, not a pull request",
            comment.number
        ));
    }
    let request = match parse(&comment.body, policy.prefix) {
        Parsed::NoCommand => {
            return ignore(format!("no line starts with {}", policy.prefix));
        }
        Parsed::Command { command } => Ok(command),
        Parsed::Invalid { error } => Err(error),
    };
    if comment.author.is_bot() {
        return CommentDecision::Refuse {
            reason: format!(
                "{} is a bot; commands are taken from people only",
                comment.author.login
            ),
        };
    }
    CommentDecision::CheckPermission {
        login: comment.author.login.clone(),
        request,
    }
}

/// Step two: `permission` is what GitHub reported for the author.
pub fn authorize(
    login: &Login,
    permission: Permission,
    request: &Result<Command, ParseError>,
    policy: &CommandPolicy<'_>,
) -> Authorized {
    if permission < policy.required {
        return Authorized::Refuse {
            reason: format!(
                "{login} has {permission} permission on the repository; commands need {} or more",
                policy.required
            ),
        };
    }
    let command = match request {
        Err(e) => {
            return Authorized::Help {
                reason: Some(e.to_string()),
            }
        }
        Ok(c) => c,
    };
    match action(command, policy) {
        Ok(Some(action)) => Authorized::Run { action },
        Ok(None) => Authorized::Help { reason: None },
        Err(reason) => Authorized::Help {
            reason: Some(reason),
        },
    }
}

/// The command checked against the configuration; `None` for `help`.
fn action(command: &Command, policy: &CommandPolicy<'_>) -> Result<Option<Action>, String> {
    let apps = |app: &Option<AppName>| resolve_apps(app.as_ref(), policy.apps);
    Ok(Some(match command {
        Command::Help => return Ok(None),
        Command::Deploy { app } => Action::Deploy { apps: apps(app)? },
        Command::Destroy { app } => Action::Destroy { apps: apps(app)? },
        Command::Redeploy { app } => Action::Redeploy { apps: apps(app)? },
        Command::Unlock { app } => Action::Unlock { apps: apps(app)? },
        Command::Status => Action::Status,
        Command::Keep { keep } => Action::Keep {
            keep: match (keep, policy.ttl) {
                (KeepArg::For(d), _) => KeepFor::For(*d),
                (KeepArg::Off, _) => KeepFor::Off,
                (KeepArg::Default, Some(ttl)) => KeepFor::For(ttl),
                (KeepArg::Default, None) => {
                    return Err(format!(
                        "`keep` needs a duration here, since no ttl is configured: for example {} keep 7d",
                        policy.prefix
                    ))
                }
            },
        },
    }))
}

fn resolve_apps(app: Option<&AppName>, configured: &[String]) -> Result<Apps, String> {
    let Some(app) = app else {
        return Ok(Apps::All);
    };
    if configured.is_empty() {
        return Err(format!(
            "this repository deploys one app, so commands take no app name; got \"{app}\""
        ));
    }
    if configured.iter().any(|a| a == app.as_str()) {
        Ok(Apps::One(app.clone()))
    } else {
        Err(format!(
            "no app is named \"{app}\"; the apps are {}",
            configured.join(", ")
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::{CommentAuthor, IssueComment};
    use crate::stage::PrNumber;

    fn comment(
        action: CommentAction,
        on_pr: bool,
        login: &str,
        kind: &str,
        body: &str,
    ) -> IssueComment {
        IssueComment {
            action,
            number: PrNumber::new(7).expect("pr"),
            on_pull_request: on_pr,
            issue_open: true,
            comment_id: 1,
            body: body.into(),
            body_truncated: false,
            author: CommentAuthor {
                login: Login::parse(login).expect("login"),
                account_type: Some(kind.into()),
            },
            author_association: Some("MEMBER".into()),
            repository: Some("acme/app".into()),
        }
    }

    fn policy<'a>(prefix: &'a CommandPrefix, apps: &'a [String]) -> CommandPolicy<'a> {
        CommandPolicy {
            prefix,
            required: Permission::Write,
            apps,
            ttl: Some(Duration::from_secs(14 * 86_400)),
        }
    }

    fn kind(d: &CommentDecision) -> &'static str {
        match d {
            CommentDecision::Ignore { .. } => "ignore",
            CommentDecision::Refuse { .. } => "refuse",
            CommentDecision::CheckPermission { .. } => "check",
        }
    }

    /// (what, comment, step one)
    #[test]
    fn step_one_table() {
        use CommentAction::*;
        let prefix = CommandPrefix::default();
        let p = policy(&prefix, &[]);
        let table = [
            (
                "a command",
                comment(Created, true, "octocat", "User", "/alchemy deploy"),
                "check",
            ),
            (
                "a bad command still needs the permission first",
                comment(Created, true, "octocat", "User", "/alchemy deploi"),
                "check",
            ),
            (
                "edited",
                comment(Edited, true, "octocat", "User", "/alchemy deploy"),
                "ignore",
            ),
            (
                "deleted",
                comment(Deleted, true, "octocat", "User", "/alchemy deploy"),
                "ignore",
            ),
            (
                "pinned",
                comment(
                    Other("pinned".into()),
                    true,
                    "octocat",
                    "User",
                    "/alchemy deploy",
                ),
                "ignore",
            ),
            (
                "an issue",
                comment(Created, false, "octocat", "User", "/alchemy deploy"),
                "ignore",
            ),
            (
                "no command",
                comment(Created, true, "octocat", "User", "LGTM"),
                "ignore",
            ),
            (
                "a bot by type",
                comment(Created, true, "octocat", "Bot", "/alchemy destroy"),
                "refuse",
            ),
            (
                "a bot by login",
                comment(Created, true, "renovate[bot]", "User", "/alchemy destroy"),
                "refuse",
            ),
            (
                "a bot saying nothing is ignored",
                comment(
                    Created,
                    true,
                    "github-actions[bot]",
                    "Bot",
                    "Preview deployed",
                ),
                "ignore",
            ),
        ];
        for (what, c, want) in table {
            let d = decide_comment(&c, &p);
            assert_eq!(kind(&d), want, "{what}: {d:?}");
            let reaction = d.reaction();
            assert_eq!(reaction.is_some(), want == "refuse", "{what}");
        }
    }

    fn run(
        login_perm: Permission,
        body: &str,
        apps: &[String],
        ttl: Option<Duration>,
    ) -> Authorized {
        let prefix = CommandPrefix::default();
        let mut p = policy(&prefix, apps);
        p.ttl = ttl;
        let c = comment(CommentAction::Created, true, "octocat", "User", body);
        match decide_comment(&c, &p) {
            CommentDecision::CheckPermission { login, request } => {
                authorize(&login, login_perm, &request, &p)
            }
            other => panic!("{body}: {other:?}"),
        }
    }

    #[test]
    fn every_permission_level() {
        use Permission::*;
        let ttl = Some(Duration::from_secs(86_400));
        for (level, obeyed) in [
            (Admin, true),
            (Maintain, true),
            (Write, true),
            (Triage, false),
            (Read, false),
            (None, false),
        ] {
            for body in ["/alchemy deploy", "/alchemy help", "/alchemy deploi"] {
                let a = run(level, body, &[], ttl);
                assert_eq!(
                    !matches!(a, Authorized::Refuse { .. }),
                    obeyed,
                    "{level} {body}: {a:?}"
                );
                if !obeyed {
                    assert_eq!(a.first_reaction(), Reaction::MinusOne);
                    assert_eq!(a.last_reaction(true), Option::None);
                }
            }
        }
        let refused = run(Read, "/alchemy deploy", &[], ttl);
        assert_eq!(
            refused,
            Authorized::Refuse {
                reason:
                    "octocat has read permission on the repository; commands need write or more"
                        .into()
            }
        );
    }

    #[test]
    fn commands_checked_against_the_configuration() {
        let ttl = Some(Duration::from_secs(14 * 86_400));
        let apps = ["web".to_owned(), "api".to_owned()];
        let one = |app: &str| Apps::One(AppName::parse(app).expect("app"));
        let table: Vec<(&str, &[String], Option<Duration>, Authorized)> = vec![
            ("/alchemy deploy", &[], ttl, Authorized::Run { action: Action::Deploy { apps: Apps::All } }),
            ("/alchemy deploy web", &apps, ttl, Authorized::Run { action: Action::Deploy { apps: one("web") } }),
            ("/alchemy destroy", &apps, ttl, Authorized::Run { action: Action::Destroy { apps: Apps::All } }),
            ("/alchemy redeploy api", &apps, ttl, Authorized::Run { action: Action::Redeploy { apps: one("api") } }),
            ("/alchemy unlock", &[], ttl, Authorized::Run { action: Action::Unlock { apps: Apps::All } }),
            ("/alchemy status", &[], ttl, Authorized::Run { action: Action::Status }),
            ("/alchemy keep 7d", &[], None, Authorized::Run { action: Action::Keep { keep: KeepFor::For(Duration::from_secs(7 * 86_400)) } }),
            ("/alchemy keep", &[], ttl, Authorized::Run { action: Action::Keep { keep: KeepFor::For(Duration::from_secs(14 * 86_400)) } }),
            ("/alchemy keep off", &[], ttl, Authorized::Run { action: Action::Keep { keep: KeepFor::Off } }),
            ("/alchemy help", &[], ttl, Authorized::Help { reason: Option::None }),
            ("/alchemy", &[], ttl, Authorized::Help { reason: Option::None }),
            (
                "/alchemy deploy web",
                &[],
                ttl,
                Authorized::Help { reason: Some("this repository deploys one app, so commands take no app name; got \"web\"".into()) },
            ),
            (
                "/alchemy deploy docs",
                &apps,
                ttl,
                Authorized::Help { reason: Some("no app is named \"docs\"; the apps are web, api".into()) },
            ),
            (
                "/alchemy keep",
                &[],
                Option::None,
                Authorized::Help { reason: Some("`keep` needs a duration here, since no ttl is configured: for example /alchemy keep 7d".into()) },
            ),
            (
                "/alchemy deploi",
                &[],
                ttl,
                Authorized::Help { reason: Some("unknown command \"deploi\"".into()) },
            ),
        ];
        for (body, apps, ttl, want) in table {
            assert_eq!(run(Permission::Admin, body, apps, ttl), want, "{body}");
        }
    }

    #[test]
    fn reactions_through_a_run() {
        let run_cmd = Authorized::Run {
            action: Action::Status,
        };
        assert_eq!(run_cmd.first_reaction(), Reaction::Eyes);
        assert_eq!(run_cmd.last_reaction(true), Some(Reaction::Rocket));
        assert_eq!(run_cmd.last_reaction(false), Some(Reaction::Confused));
        let help = Authorized::Help {
            reason: Option::None,
        };
        assert_eq!(help.last_reaction(true), Some(Reaction::Rocket));
        let bad = Authorized::Help {
            reason: Some("x".into()),
        };
        assert_eq!(bad.first_reaction(), Reaction::Eyes);
        assert_eq!(bad.last_reaction(true), Some(Reaction::Confused));
    }
}
