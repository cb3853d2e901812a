//! `alchemy-ci run`: the action's entrypoint. Prints the same plan
//! `simulate` prints, with the facts a run can look up before touching the
//! store filled in, then executes it; the executor decides again, with the
//! same policy, once the stage is locked.

use super::cleanup::{self, SweepOptions};
use super::session::{say, Session};
use super::{load_inputs, status, CommandError, Env, EventArgs};
use crate::actions::Actions;
use crate::config::FlagValues;
use crate::event::{Event, Payload};
use crate::execute::{Outcome, Report};
use crate::github::comment::{self, CommentInput, CommentStatus};
use crate::plan::{self, Action, Facts, Plan};
use crate::render;

/// `alchemy-ci run`: the event and the input flags.
#[derive(Debug, Clone, Default)]
pub struct RunArgs {
    pub event: EventArgs,
    pub flags: FlagValues,
}

pub fn run(args: &RunArgs, env: &Env) -> Result<u8, CommandError> {
    let result = run_inner(args, env);
    if let Err(e) = &result {
        // The workflow reads `result` whatever happened; an empty output
        // would read as neither success nor failure.
        let actions = Actions::from_env(env);
        let outputs = [
            ("result", "failure".to_owned()),
            ("url", String::new()),
            ("urls", "[]".to_owned()),
        ];
        let _ = actions.set_outputs(&outputs);
        let _ = actions.summary(&format!(
            "### alchemy-ci: the run did not start\n\n{}\n",
            crate::github::markdown::text(&e.to_string())
        ));
    }
    result
}

fn run_inner(args: &RunArgs, env: &Env) -> Result<u8, CommandError> {
    let (event, config) = load_inputs(&args.event, &args.flags, env)?;
    let session = Session::open(config, env, &event)?;
    let mut facts = session.facts();
    // A stale or closed PR's event is skipped here without touching the
    // store; the decision that counts is made again under the lock.
    match &event.payload {
        Payload::PullRequest(pr) => facts.live_pr = session.live_pr(pr.number),
        Payload::IssueComment(c) => comment_facts(&session, c, &mut facts)?,
        _ => {}
    }

    carry_out(&session, &event, facts, None)
}

/// What a comment's decision needs from GitHub: its author's permission,
/// asked only of a comment that gives a command and is not a bot's, and
/// then the PR's head. A failure to ask fails the run: a command is never
/// obeyed, or refused, on a guess.
fn comment_facts(
    session: &Session,
    c: &crate::event::IssueComment,
    facts: &mut Facts,
) -> Result<(), CommandError> {
    use crate::pr_command::decide::{decide_comment, CommandPolicy, CommentDecision};
    let config = &session.config;
    let policy = CommandPolicy {
        prefix: &config.command_prefix,
        required: config.command_permission,
        apps: &[],
        ttl: config.ttl,
    };
    let (CommentDecision::CheckPermission { login, .. }, Some(forge)) =
        (decide_comment(c, &policy), session.forge())
    else {
        return Ok(());
    };
    let permission = forge
        .permission(&login)
        .map_err(|e| CommandError::Failed(format!("could not check {login}'s permission: {e}")))?;
    facts.commenter_permission = Some(permission);
    if permission < config.command_permission {
        return Ok(());
    }
    let head = forge
        .pull_head(c.number)
        .map_err(|e| CommandError::Failed(format!("could not look up PR #{}: {e}", c.number)))?;
    facts.live_pr = Some(plan::LivePr {
        open: head.open,
        head_sha: head.sha.clone(),
    });
    facts.pull_head = Some(head);
    Ok(())
}

/// Decides with what is known before the store is read, prints that plan,
/// executes it (deciding again under the stage's lock) and reports. Shared
/// by `run` and the hand-run `deploy`, `destroy`, `read`.
pub fn carry_out(
    session: &Session,
    event: &Event,
    facts: Facts,
    note: Option<&str>,
) -> Result<u8, CommandError> {
    if session.config.apps.is_some() {
        return super::apps::carry_out(session, event, facts, note);
    }
    carry_out_single(session, event, facts, note)
}

/// [`carry_out`] for one app: the repository's only one, or a comment's
/// reply, which no app's stage is part of.
pub fn carry_out_single(
    session: &Session,
    event: &Event,
    mut facts: Facts,
    note: Option<&str>,
) -> Result<u8, CommandError> {
    let mut plan = plan::decide(event, &session.config, &facts)?;
    // Reading a stage the store does not hold is bad input, refused before
    // anything is printed; a read is worth the extra look.
    if let (Action::Read, Some(stage)) = (plan.action, &plan.stage) {
        facts.record = Some(plan::RecordFacts::of(&session.store.load(stage)?.snapshot));
        plan = plan::decide(event, &session.config, &facts)?;
    }
    // Bad input or a missing program stops the run before anything is
    // printed or written.
    session.preflight(&plan)?;
    if let Some(n) = note {
        session.say(n);
    }
    session.say(&render::plan(&plan));

    let started = std::time::Instant::now();
    let report = match plan.action {
        Action::Cleanup => return cleanup::sweep(session, &plan, &SweepOptions::default()),
        Action::Status => return status::show(session, false),
        Action::Skip if plan.steps.is_empty() => Report::skipped(&plan),
        _ => {
            let recheck = session.decide_again(event, plan.pr, &facts);
            session.execute_with(&plan, session.app_dir.clone(), Some(&recheck))?
        }
    };
    session.say(&summary(&report, started.elapsed()));
    if session.json {
        say(&format!("{}\n", render::json(&report)));
    }
    publish(session, &plan, &report, &facts, event);
    Ok(report.exit_code())
}

/// Step outputs, the job summary and annotations, under Actions.
fn publish(session: &Session, plan: &Plan, report: &Report, facts: &Facts, event: &Event) {
    let (actions, config) = (&session.actions, &session.config);
    let result = match report.result {
        Outcome::Success => "success",
        Outcome::Failure => "failure",
        Outcome::Skipped => "skipped",
    };
    let urls: Vec<&str> = report.urls.iter().map(|u| u.url.as_str()).collect();
    let mut outputs = vec![
        (
            "stage",
            report
                .stage
                .as_ref()
                .map(ToString::to_string)
                .unwrap_or_default(),
        ),
        ("action", plan.action.as_str().to_owned()),
        ("result", result.to_owned()),
        (
            "url",
            urls.first().map(|u| (*u).to_owned()).unwrap_or_default(),
        ),
        (
            "urls",
            serde_json::to_string(&urls).unwrap_or_else(|_| "[]".into()),
        ),
        (
            "verified",
            report
                .verification
                .as_ref()
                .map(|v| v.verified().to_string())
                .unwrap_or_default(),
        ),
    ];
    // A comment's first step hands the approved commit to the next.
    let handed = plan.action == Action::Approve && report.result == Outcome::Success;
    let sha = plan.commit.as_ref().filter(|_| handed);
    outputs.push(("run", handed.to_string()));
    outputs.push((
        "sha",
        sha.map(|s| s.as_str().to_owned()).unwrap_or_default(),
    ));
    if let Err(e) = actions.set_outputs(&outputs) {
        tracing::warn!("could not write the step outputs: {e}");
    }
    if let Err(e) = actions.summary(&summary_markdown(plan, report, facts, event, config)) {
        tracing::warn!("could not write the job summary: {e}");
    }
    match report.result {
        Outcome::Failure => actions.error(&report.message),
        Outcome::Skipped if matches!(&event.payload, Payload::PullRequest(p) if p.from_fork()) => {
            actions.notice(&report.message);
        }
        _ => {}
    }
}

/// The same facts as the PR comment, or the reason for a skip.
fn summary_markdown(
    plan: &Plan,
    report: &Report,
    facts: &Facts,
    event: &Event,
    config: &crate::config::Config,
) -> String {
    let Some(stage) = &report.stage else {
        return format!(
            "### alchemy-ci: {}\n\n{}\n",
            plan.action.as_str(),
            comment_text(&report.message)
        );
    };
    if report.result == Outcome::Skipped {
        let mut out = format!(
            "### alchemy-ci: skipped `{stage}`\n\n{}\n",
            comment_text(&report.message)
        );
        // A fork's own run cannot comment: its summary says how a
        // maintainer approves a preview.
        if let Payload::PullRequest(p) = &event.payload {
            if p.from_fork() {
                out.push('\n');
                out.push_str(&crate::pr_command::approval::fork_notice(
                    &config.command_prefix,
                    config.command_permission,
                    &p.head_sha,
                ));
            }
        }
        return out;
    }
    if !matches!(
        plan.action,
        Action::Deploy | Action::Destroy | Action::Redeploy | Action::Read
    ) {
        return format!(
            "### alchemy-ci: {} `{stage}`\n\n{}\n",
            plan.action.as_str(),
            comment_text(&report.message)
        );
    }
    let ok = report.result == Outcome::Success;
    let status = match (plan.action, ok) {
        (Action::Destroy, true) => CommentStatus::Destroyed,
        (Action::Destroy, false) => CommentStatus::DestroyFailed,
        (_, true) => CommentStatus::Deployed,
        (_, false) => CommentStatus::Failed,
    };
    let run_url = facts.run.run_url();
    let now = crate::time::Timestamp::now().human();
    let log = report
        .log_tail
        .clone()
        .or_else(|| (!ok).then(|| report.message.clone()));
    let body = comment::render(&CommentInput {
        stage,
        status,
        repo_url: facts.run.repo_url(),
        sha: plan.commit.as_ref(),
        urls: &report.urls,
        run_url: run_url.as_deref(),
        updated_at: Some(&now),
        log_tail: log.as_deref(),
        removed: &report.remaining,
        merged_into: None,
        unverified: report.verification.as_ref().and_then(|v| v.reason()),
        note: None,
        sections: &[],
    });
    // The marker only identifies PR comments.
    body.lines().skip(1).collect::<Vec<_>>().join("\n") + "\n"
}

fn comment_text(s: &str) -> String {
    crate::github::markdown::text(s)
}

/// The one line that says how a stage's run ended and how long it took:
/// `✔ deployed pr-9 in 41 s`.
pub fn result_line(r: &Report, took: std::time::Duration) -> String {
    let message = render::term(&r.message);
    let took = render::took(took);
    match r.result {
        Outcome::Success => format!("✔ {message} in {took}"),
        Outcome::Failure => format!("✘ {message} (after {took})"),
        Outcome::Skipped => format!("– {message}"),
    }
}

/// What a person reads after a run: the result line, then its notes, URLs
/// and whatever was left behind.
pub fn summary(r: &Report, took: std::time::Duration) -> String {
    let mut out = format!("\n{}\n", result_line(r, took));
    for n in &r.notes {
        out.push_str(&format!("  note: {}\n", render::term(n)));
    }
    for u in &r.urls {
        out.push_str(&format!(
            "  {}  ({})\n",
            render::term(&u.url),
            render::term(&u.resource)
        ));
    }
    if !r.remaining.is_empty() {
        out.push_str(&format!(
            "  still in the state: {}\n",
            render::term(&r.remaining.join(", "))
        ));
    }
    if let Some(p) = &r.kept_locally {
        out.push_str(&format!(
            "  the stage's state could not be saved and is left in {}\n",
            p.display()
        ));
    }
    out
}
