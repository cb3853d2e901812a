//! The human form of a plan, read like a good `terraform plan`: what event
//! was understood, what will happen to which stage and why, every step in
//! order with the exact command, and the comment the PR would get.

use std::fmt::Write as _;

use crate::apps::spec::AppName;
use crate::config::EnvValue;
use crate::plan::{Action, Plan, Step, StepKind};
use crate::stage::Stage;

pub mod apps;

pub fn plan(p: &Plan) -> String {
    let mut out = event_lines(p);
    out.push('\n');
    out.push_str(&decision_lines(p));
    out.push_str(&detail_lines(p));
    out
}

/// A stage as its steps name it: `pr-7`, or `pr-7@api` for an app's
/// stage (where it is stored and locked).
fn shown(stage: &Stage, app: Option<&AppName>) -> String {
    match app {
        Some(a) => format!("{stage}@{a}"),
        None => stage.to_string(),
    }
}

/// What event was understood: its name and repository, and the PR.
fn event_lines(p: &Plan) -> String {
    let mut out = String::new();
    let repo = p
        .repository
        .as_deref()
        .map(|r| format!(" in {}", term(r)))
        .unwrap_or_default();
    let _ = writeln!(
        out,
        "Event    {} ({}){repo}",
        term_clipped(&p.event, SHOWN_CHARS),
        p.event_source
    );
    if let Some(c) = &p.command {
        let permission = c.permission.map_or_else(
            || "permission not checked".to_owned(),
            |l| format!("{l} permission"),
        );
        let asked = c.command.unwrap_or("no command understood");
        let _ = writeln!(
            out,
            "Comment  {} on #{} by {} ({permission}): {asked}",
            c.comment_id,
            p.pr.map(|n| n.to_string()).unwrap_or_default(),
            term(c.by.as_str())
        );
    }
    let Some(pr) = &p.pull_request else {
        return out;
    };
    let title = pr
        .title
        .as_deref()
        // Quoted, escaped once: `{:?}` on top of `term` showed `\n` as `\\n`.
        .map(|t| format!(" \"{}\"", term_clipped(t, SHOWN_CHARS)))
        .unwrap_or_default();
    let flags: Vec<&str> = [
        (pr.draft, "draft"),
        (pr.merged, "merged"),
        (pr.from_fork, "from a fork"),
    ]
    .into_iter()
    .filter_map(|(on, name)| on.then_some(name))
    .collect();
    let flags = if flags.is_empty() {
        String::new()
    } else {
        format!(" [{}]", flags.join(", "))
    };
    let _ = writeln!(
        out,
        "PR       #{}{title}, action {}{flags}",
        pr.number,
        term(pr.action.as_str())
    );
    let _ = writeln!(
        out,
        "Head     {} @ {} → {}",
        term_clipped(&pr.head_ref, SHOWN_CHARS),
        pr.head_sha.short(),
        term_clipped(&pr.base_ref, SHOWN_CHARS)
    );
    out
}

/// What will happen to which stage, and why.
fn decision_lines(p: &Plan) -> String {
    let verb = p.action.as_str().to_uppercase();
    let app = p.app.as_ref();
    let head = match (&p.stage, p.action) {
        (Some(stage), Action::Skip) => format!("→ SKIP (stage {})", shown(stage, app)),
        (Some(stage), _) => format!("→ {verb} stage {}", shown(stage, app)),
        (None, _) => format!("→ {verb}"),
    };
    format!(
        "{head}\n  because {}\n",
        term_clipped(&p.reason, 4 * SHOWN_CHARS)
    )
}

/// Warnings, what could not be checked, how Alchemy runs, the steps and
/// the comment the PR would get.
fn detail_lines(p: &Plan) -> String {
    let mut out = String::new();
    if !p.warnings.is_empty() {
        out.push_str("\nWarnings\n");
        for w in &p.warnings {
            let _ = writeln!(out, "  ! {}", term_clipped(w, 4 * SHOWN_CHARS));
        }
    }
    if !p.unchecked.is_empty() {
        out.push_str("\nNot checked here\n");
        for u in &p.unchecked {
            let _ = writeln!(out, "  ? {}", term(u));
        }
    }
    if let Some(a) = &p.alchemy {
        let _ = writeln!(out, "\nAlchemy  {} ({})", a.flavor, term(&a.why));
    }
    out.push_str(&steps_lines(p, ""));
    if let Some(body) = &p.comment_preview {
        out.push_str("\nComment preview (posted on the PR when the run starts)\n");
        for line in body.lines() {
            let _ = writeln!(out, "  │ {}", term(line));
        }
    } else if !p.sections.is_empty() {
        out.push_str("\nThe PR comment says, below the stage's status\n");
        for s in &p.sections {
            for line in s.markdown.lines() {
                let _ = writeln!(out, "  │ {}", term(line));
            }
        }
    }
    out
}

/// The numbered steps, each line after `indent`.
fn steps_lines(p: &Plan, indent: &str) -> String {
    let mut out = String::new();
    if !p.steps.is_empty() {
        let _ = writeln!(out, "\n{indent}Steps");
        for (i, s) in p.steps.iter().enumerate() {
            let step = describe(s, p.app.as_ref()).replace("\n", &format!("\n{indent}"));
            let _ = writeln!(out, "{indent}  {:>2}. {step}", i + 1);
        }
    }
    out
}

fn describe(s: &Step, app: Option<&AppName>) -> String {
    let text = step_text(&s.kind, app);
    if s.always {
        format!("{text} (always, even after a failure)")
    } else {
        text
    }
}

fn step_text(kind: &StepKind, app: Option<&AppName>) -> String {
    let key = |stage: &Stage| shown(stage, app);
    match kind {
        StepKind::AcquireLock { stage } => format!(
            "lock stage {}, then decide again from its record and the PR's live state",
            key(stage)
        ),
        StepKind::RestoreState { stage, store } => format!(
            "restore only stage {}'s state into .alchemy/ from {store}",
            key(stage)
        ),
        StepKind::Comment { status } => {
            format!("post or update the PR comment: {}", status.as_str())
        }
        StepKind::CommentResult {
            on_success,
            on_failure,
        } => format!(
            "update the PR comment: {} or {}",
            on_success.as_str(),
            on_failure.as_str()
        ),
        StepKind::CreateDeployment { environment } => format!(
            "create the stage's GitHub deployment in environment {} (in progress)",
            term(environment)
        ),
        StepKind::DeploymentResult { environment } => format!(
            "mark the deployment in environment {} success (with its URL; the stage's older ones inactive) or failure",
            term(environment)
        ),
        StepKind::DeactivateDeployments { environment } => format!(
            "mark the stage's deployments in environment {} inactive",
            term(environment)
        ),
        StepKind::RunAlchemy {
            phase,
            argv,
            cwd,
            env,
        } => run_alchemy_text(*phase, argv, cwd, env),
        StepKind::VerifyDestroyed { stage, check } => verify_text(&key(stage), check.as_deref()),
        StepKind::CollectUrls { stage } => {
            format!("collect stage {}'s URLs from its state", key(stage))
        }
        StepKind::SaveState { stage, store } => {
            format!("save stage {}'s state to {store}", key(stage))
        }
        StepKind::WriteRecord {
            stage,
            on_success,
            on_failure,
            tombstone,
        } => format!(
            "write stage {}'s record: {on_success}{} or {on_failure}",
            key(stage),
            if *tombstone {
                " (kept as a tombstone of the closed PR)"
            } else {
                ""
            }
        ),
        StepKind::ReleaseLock { stage } => format!("unlock stage {}", key(stage)),
        StepKind::RefreshRecord { stage } => format!(
            "refresh stage {}'s record with its URLs (its state files are written back unchanged)",
            key(stage)
        ),
        StepKind::ListStages { .. }
        | StepKind::ListOpenPullRequests
        | StepKind::SelectOrphans { .. }
        | StepKind::DestroyOrphans
        | StepKind::ShowStatus => sweep_step_text(kind),
        _ => reply_step_text(kind),
    }
}

/// The steps of comment commands, commit statuses and the sweep's warnings.
fn reply_step_text(kind: &StepKind) -> String {
    use crate::plan::StatusPhase;
    match kind {
        StepKind::React { reaction } => {
            format!("react {} to the comment", reaction_word(*reaction))
        }
        StepKind::ReactResult {
            on_success,
            on_failure,
        } => format!(
            "react {} when done, {} when not",
            reaction_word(*on_success),
            reaction_word(*on_failure)
        ),
        StepKind::CheckCheckout { approved } => format!(
            "refuse unless the checked-out HEAD is {}, the approved commit",
            approved.short()
        ),
        StepKind::CommitStatus {
            phase: StatusPhase::Deploying,
        } => "post the commit status alchemy-ci/preview: pending (deploying)".into(),
        StepKind::CommitStatus {
            phase: StatusPhase::NotNeeded { reason },
        } => format!(
            "post the commit status alchemy-ci/preview: success, no preview needed ({})",
            term(reason)
        ),
        StepKind::CommitStatusResult => {
            "post the commit status alchemy-ci/preview: success (with the URL) or failure".into()
        }
        StepKind::KeepPreview {
            keep: crate::pr_command::decide::KeepFor::For(d),
        } => format!(
            "record that the preview is kept past the ttl for {}h from now",
            d.as_secs() / 3_600
        ),
        StepKind::KeepPreview { .. } => "record that the keep ends now".into(),
        StepKind::MarkWarned { removes_at } => format!(
            "record the warning: the preview is removed after {}",
            removes_at.human()
        ),
        StepKind::Unlock { stage, by } => format!(
            "remove stage {stage}'s lock if its holder is gone (never its state), noting {}",
            term(by)
        ),
        StepKind::RefreshComment => {
            "write the PR comment from the stage's record, with the answer".into()
        }
        StepKind::HandOff { sha } => format!(
            "output sha={} and run=true: the next step checks out that commit and runs the command",
            sha.as_str()
        ),
        _ => String::new(),
    }
}

fn reaction_word(r: crate::pr_command::Reaction) -> &'static str {
    use crate::pr_command::Reaction;
    match r {
        Reaction::MinusOne => "👎",
        Reaction::Eyes => "👀",
        Reaction::Rocket => "🚀",
        Reaction::Confused => "😕",
    }
}

/// The exact command line and the variables Alchemy gets (secret ones
/// masked).
fn run_alchemy_text(
    phase: crate::alchemy::Phase,
    argv: &[String],
    cwd: &std::path::Path,
    env: &std::collections::BTreeMap<String, EnvValue>,
) -> String {
    let cmd: Vec<String> = argv.iter().map(|a| shell_quote(a)).collect();
    let vars: Vec<String> = env
        .iter()
        .map(|(k, v)| match v {
            EnvValue::Plain(p) => format!("{k}={}", shell_quote(p)),
            EnvValue::FromEnv { from, secret: true } => format!("{k}=*** (from ${from})"),
            EnvValue::FromEnv {
                from,
                secret: false,
            } => format!("{k}=${from}"),
            EnvValue::FromApp { app, output } => format!("{k}=<{output} of app {app}>"),
        })
        .collect();
    format!(
        "run Alchemy ({phase}) in {}:\n        {}\n        with {}",
        term(&cwd.display().to_string()),
        cmd.join(" "),
        vars.join(" ")
    )
}

fn verify_text(stage: &str, check: Option<&[String]>) -> String {
    let text = format!(
        "verify that stage {stage} has no state left (Alchemy exits 0 even when a destroy fails)"
    );
    match check {
        Some(argv) => {
            let cmd: Vec<String> = argv.iter().map(|a| shell_quote(a)).collect();
            format!(
                "{text}, then that the verify-command exits 0:\n        {}",
                cmd.join(" ")
            )
        }
        None => text,
    }
}

/// The sweep's and `status`'s steps.
fn sweep_step_text(kind: &StepKind) -> String {
    match kind {
        StepKind::ListStages { store } => format!("list stage records in {store}"),
        StepKind::ListOpenPullRequests => "list open pull requests (all pages, once)".into(),
        StepKind::SelectOrphans { protected } => {
            let names: Vec<&str> = protected.iter().map(|s| s.as_str()).collect();
            format!(
                "select orphans: PR stages whose PR is not open or whose destroy failed; never {}, nor stages that are not PR stages",
                names.join(", ")
            )
        }
        StepKind::DestroyOrphans => {
            "destroy each orphan the way a closed PR's stage is destroyed".into()
        }
        StepKind::ShowStatus => "show each stage's status, commit, age and URLs".into(),
        // The stage steps are described by `step_text`.
        other => format!("{other:?}"),
    }
}

/// Quotes an argument for display so it can be pasted into a POSIX shell.
/// Display only: alchemy-ci itself never runs a shell.
pub fn shell_quote(s: &str) -> String {
    let plain = !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_./=:,+@%".contains(&b));
    if plain {
        s.to_owned()
    } else {
        format!("'{}'", term(s).replace('\'', r"'\''"))
    }
}

/// Makes untrusted text safe for a terminal and for the runner, which reads
/// workflow commands from every line of output: control characters (which
/// could end the line, move the cursor or rewrite earlier lines) and
/// invisible or reordering Unicode characters are shown escaped, so the
/// text stays on its line and reads as its bytes.
pub fn term(s: &str) -> String {
    if !crate::text::has_unsafe(s) {
        return s.to_owned();
    }
    s.chars()
        .map(|c| {
            if crate::text::is_unsafe(c) {
                crate::text::shown(c)
            } else {
                c.to_string()
            }
        })
        .collect()
}

/// [`term`], cut to `max` characters: for values from an event, which the
/// plan shows but which could be megabytes long.
pub fn term_clipped(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return term(s);
    }
    let head: String = s.chars().take(max).collect();
    format!("{}… ({} characters)", term(&head), s.chars().count())
}

/// Pretty JSON for stdout, with every unsafe character written as a `\u`
/// escape. serde_json escapes only C0 controls; DEL, C1 controls and
/// Unicode format characters (bidi overrides) would otherwise reach the
/// terminal raw. Outside strings JSON is ASCII, so this changes nothing
/// but string contents, and the result parses to the same value.
/// How long something took, as a person says it: `3.2 s`, `41 s`,
/// `2 min 5 s`, `1 h 2 min`.
pub fn took(d: std::time::Duration) -> String {
    let secs = d.as_secs();
    match secs {
        0..=9 => format!("{:.1} s", d.as_secs_f64()),
        10..=59 => format!("{secs} s"),
        60..=3599 => format!("{} min {} s", secs / 60, secs % 60),
        _ => format!("{} h {} min", secs / 3600, secs % 3600 / 60),
    }
}

pub fn json<T: serde::Serialize + ?Sized>(value: &T) -> String {
    let text = serde_json::to_string_pretty(value).unwrap_or_default();
    if !text.chars().any(|c| crate::text::is_unsafe(c) && c != '\n') {
        return text;
    }
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if c != '\n' && crate::text::is_unsafe(c) {
            let mut units = [0u16; 2];
            for u in c.encode_utf16(&mut units) {
                out.push_str(&format!("\\u{u:04x}"));
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// The longest event value (title, branch, label) the plan shows in full.
const SHOWN_CHARS: usize = 300;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_as_people_say_them() {
        use std::time::Duration;
        assert_eq!(took(Duration::from_millis(3240)), "3.2 s");
        assert_eq!(took(Duration::from_secs(41)), "41 s");
        assert_eq!(took(Duration::from_secs(125)), "2 min 5 s");
        assert_eq!(took(Duration::from_secs(3720)), "1 h 2 min");
    }

    #[test]
    fn quoting_is_for_pasting() {
        assert_eq!(shell_quote("pr-1"), "pr-1");
        assert_eq!(shell_quote("a b"), "'a b'");
        assert_eq!(shell_quote("it's"), r"'it'\''s'");
        assert_eq!(shell_quote(""), "''");
    }

    #[test]
    fn json_escapes_bidi_and_c1_and_still_parses() {
        let v = serde_json::json!({"a": "x\u{202e}y\u{85}\u{7f}\u{e0041}\n"});
        let text = json(&v);
        assert!(text.is_ascii(), "{text}");
        assert_eq!(
            serde_json::from_str::<serde_json::Value>(&text).expect("parses"),
            v
        );
    }

    #[test]
    fn terminal_escapes_are_neutralised() {
        assert_eq!(term("a\u{1b}[2Jb\n"), "a\\u{1b}[2Jb\\n");
    }
}
