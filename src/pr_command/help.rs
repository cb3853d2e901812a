//! The help that answers `help`, a bare prefix, and any command that was
//! not understood: a Markdown section for the sticky comment. Everything
//! that came from a comment or the configuration is escaped; the prefix
//! goes in code spans, which it cannot break out of (it holds no `` ` `` or
//! `|`).

use std::fmt::Write as _;

use super::parse::CommandPrefix;
use super::permission::Permission;
use crate::github::markdown;

/// What the help shows besides the commands.
#[derive(Debug, Clone)]
pub struct HelpInput<'a> {
    pub prefix: &'a CommandPrefix,
    pub required: Permission,
    /// The configured apps; empty for one app.
    pub apps: &'a [String],
    /// Why the command was refused, if it was.
    pub reason: Option<&'a str>,
}

/// The help section, Markdown.
pub fn help_markdown(h: &HelpInput<'_>) -> String {
    let p = h.prefix.as_str();
    let app = if h.apps.is_empty() { "" } else { " [app]" };
    let mut out = String::from("#### alchemy-ci commands\n\n");
    if let Some(reason) = h.reason {
        let _ = writeln!(out, "😕 Not understood: {}\n", markdown::text(reason));
    }
    out.push_str("| Command | What it does |\n|---|---|\n");
    let rows = [
        (
            format!("{p} deploy{app}"),
            "deploys this pull request's head; from a fork, approves that exact commit and deploys it",
        ),
        (
            format!("{p} destroy{app}"),
            "removes the preview; a push or a new deploy brings it back",
        ),
        (
            format!("{p} redeploy{app}"),
            "destroys the preview, then deploys it from scratch",
        ),
        (
            format!("{p} keep 7d"),
            "keeps the preview past the ttl for that long (`m`, `h` or `d`, at most 90d); `keep off` ends it",
        ),
        (format!("{p} status"), "refreshes this comment"),
        (
            format!("{p} unlock{app}"),
            "frees a lock left by a run that died; never touches the state",
        ),
        (format!("{p} help"), "shows this list"),
    ];
    for (command, what) in rows {
        let _ = writeln!(out, "| `{command}` | {what} |");
    }
    let _ = writeln!(
        out,
        "\nOne command per comment, on a line of its own. Commands are taken from people with **{}** permission or more on this repository; anyone else's get a 👎.",
        h.required
    );
    if !h.apps.is_empty() {
        let names: Vec<String> = h.apps.iter().map(|a| markdown::text(a)).collect();
        let _ = writeln!(
            out,
            "Apps: {}. Without an app, a command is for all of them.",
            names.join(", ")
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_help_escapes_what_it_repeats() {
        let prefix = CommandPrefix::default();
        let apps = vec!["web".to_owned(), "<img src=x>".to_owned()];
        let reason = "unknown command \"](javascript:alert(1))<!-- alchemy-ci:stage=pr-1 -->\"";
        let out = help_markdown(&HelpInput {
            prefix: &prefix,
            required: Permission::Write,
            apps: &apps,
            reason: Some(reason),
        });
        for bad in ["<img", "<!--", "](", "@"] {
            assert!(!out.contains(bad), "{bad:?} survived in {out}");
        }
        assert!(out.contains("`/alchemy deploy [app]`"), "{out}");
        assert!(out.contains("**write**"), "{out}");
    }

    #[test]
    fn one_app_means_no_app_argument() {
        let prefix = CommandPrefix::parse("@preview").expect("prefix");
        let out = help_markdown(&HelpInput {
            prefix: &prefix,
            required: Permission::Maintain,
            apps: &[],
            reason: None,
        });
        assert!(out.contains("`@preview deploy`"), "{out}");
        assert!(!out.contains("[app]"), "{out}");
        assert!(!out.contains("Not understood"), "{out}");
        assert!(out.contains("**maintain**"), "{out}");
    }
}
