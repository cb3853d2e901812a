//! `alchemy-ci run`: the action's entrypoint. Prints the same plan
//! `simulate` prints, with the facts a run can look up filled in, then
//! executes it.

use std::io::Write as _;
use std::path::PathBuf;
use std::time::Duration;

use secrecy::ExposeSecret;

use super::{load_inputs, run_context, var, Env};
use crate::actions::Actions;
use crate::cancel::Cancel;
use crate::cli::{CliError, RunArgs};
use crate::config::{Config, StateStoreSpec};
use crate::event::{Event, Payload};
use crate::execute::{self, Outcome, Report, Runtime};
use crate::github::client::{Client, RetryPolicy};
use crate::github::comment::{self, CommentInput, CommentStatus};
use crate::github::forge::{Forge, GitHub};
use crate::plan::{self, Action, Facts, Plan, RecordFacts, StepKind};
use crate::record::RecordStatus;
use crate::state::dir::DirStore;
use crate::state::lease::{Holder, LeaseOptions};
use crate::state::{Snapshot, StateStore};
use crate::{alchemy, render};

/// Between SIGTERM and SIGKILL when Alchemy is stopped.
const GRACE: Duration = Duration::from_secs(10);

pub fn run(args: &RunArgs, env: &Env) -> Result<u8, CliError> {
    // Caught from here on: a cancelled job must still save its state.
    let cancel = Cancel::install()
        .map_err(|e| CliError::Failed(format!("cannot watch for signals: {e}")))?;
    let (event, config) = load_inputs(&args.event, &args.config, env)?;
    let actions = Actions::from_env(env);
    // Before anything is printed.
    if let Some(t) = &config.github_token {
        actions.mask(t.expose_secret());
    }
    for name in &config.mask_env {
        if let Some(v) = var(env, name) {
            actions.mask(&v);
        }
    }
    let app_dir = app_dir(&config)?;
    let store = open_store(&config)?;
    let run = run_context(env, &event);
    let forge = open_forge(&config, env, &run.repository)?;
    let mut facts = Facts {
        alchemy: alchemy::detect(&config.alchemy_command, &app_dir),
        can_post: forge.is_some(),
        live_pr: None,
        record: None,
        run,
    };
    if let (Some(f), Payload::PullRequest(pr)) = (&forge, &event.payload) {
        match f.pull(pr.number) {
            Ok(live) => facts.live_pr = Some(live),
            Err(e) => {
                let msg = format!("could not look up PR #{}: {e}", pr.number);
                tracing::warn!("{msg}");
                actions.warning(&msg);
            }
        }
    }

    // The stage is only known once decided; its record then refines the decision.
    let first = plan::decide(&event, &config, &facts)?;
    if let (Some(stage), Action::Deploy | Action::Destroy) = (&first.stage, first.action) {
        let loaded = store.load(stage)?;
        facts.record = Some(record_facts(&loaded.snapshot));
    }
    let plan = plan::decide(&event, &config, &facts)?;
    say(&render::plan(&plan));

    let report = match plan.action {
        Action::Deploy | Action::Destroy => {
            preflight(&plan, &app_dir)?;
            let run_url = facts.run.run_url();
            let holder = Holder::for_this_process(
                var(env, "GITHUB_RUN_ID").as_deref(),
                var(env, "GITHUB_RUN_ATTEMPT").as_deref(),
                run_url.clone(),
            );
            let rt = Runtime {
                store: store.as_ref(),
                holder,
                lease: LeaseOptions {
                    // The lease must outlive the longest run it protects.
                    ttl: config.timeout + GRACE + Duration::from_secs(10 * 60),
                    ..LeaseOptions::default()
                },
                app_dir,
                flavor: facts.alchemy.flavor.clone(),
                timeout: config.timeout,
                grace: GRACE,
                cancel: &cancel,
                actions: &actions,
                outputs_file: config.outputs_file.clone(),
                run_url,
                repo_url: facts.run.repo_url(),
                forge: forge.as_ref().map(|f| f as &dyn Forge),
            };
            execute::execute(&plan, &rt)
        }
        Action::Skip => Report::skipped(&plan),
        Action::Cleanup | Action::Status => {
            return Err(CliError::Failed(format!(
                "{} is not available in this version of alchemy-ci",
                plan.action.as_str()
            )))
        }
    };
    say(&summary(&report));
    publish(&actions, &plan, &report, &facts, &event);
    Ok(report.exit_code())
}

/// The GitHub client, when there is a token. Without one, runs still work
/// and the plan says once that nothing will be posted.
fn open_forge(
    config: &Config,
    env: &Env,
    repository: &Option<String>,
) -> Result<Option<GitHub>, CliError> {
    let Some(token) = &config.github_token else {
        return Ok(None);
    };
    let Some(repo) = repository else {
        tracing::warn!(
            "no GITHUB_REPOSITORY and no repository in the event: nothing will be posted"
        );
        return Ok(None);
    };
    let api = var(env, "GITHUB_API_URL").unwrap_or_else(|| "https://api.github.com".into());
    let client = Client::new(&api, token.clone(), RetryPolicy::default())
        .map_err(|e| CliError::Usage(e.to_string()))?;
    GitHub::new(client, repo)
        .map(Some)
        .map_err(|e| CliError::Usage(e.to_string()))
}

/// Step outputs, the job summary and annotations, under Actions.
fn publish(actions: &Actions, plan: &Plan, report: &Report, facts: &Facts, event: &Event) {
    let result = match report.result {
        Outcome::Success => "success",
        Outcome::Failure => "failure",
        Outcome::Skipped => "skipped",
    };
    let urls: Vec<&str> = report.urls.iter().map(|u| u.url.as_str()).collect();
    let outputs = [
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
    ];
    if let Err(e) = actions.set_outputs(&outputs) {
        tracing::warn!("could not write the step outputs: {e}");
    }
    if let Err(e) = actions.summary(&summary_markdown(plan, report, facts)) {
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
fn summary_markdown(plan: &Plan, report: &Report, facts: &Facts) -> String {
    let Some(stage) = &report.stage else {
        return format!(
            "### alchemy-ci: {}\n\n{}\n",
            plan.action.as_str(),
            comment_text(&report.message)
        );
    };
    if report.result == Outcome::Skipped {
        return format!(
            "### alchemy-ci: skipped `{stage}`\n\n{}\n",
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
    });
    // The marker only identifies PR comments.
    body.lines().skip(1).collect::<Vec<_>>().join("\n") + "\n"
}

fn comment_text(s: &str) -> String {
    crate::github::markdown::text(s)
}

/// The app's folder, which must exist: a typo here would otherwise show up
/// as a confusing Alchemy error after the stage was locked.
fn app_dir(config: &Config) -> Result<PathBuf, CliError> {
    let wd = &config.working_directory;
    let abs = std::path::absolute(wd)
        .map_err(|e| CliError::Usage(format!("working-directory {}: {e}", wd.display())))?;
    if !abs.is_dir() {
        return Err(CliError::Usage(format!(
            "working-directory {} is not a folder",
            wd.display()
        )));
    }
    Ok(abs)
}

fn open_store(config: &Config) -> Result<Box<dyn StateStore>, CliError> {
    match &config.state_store {
        StateStoreSpec::Dir(p) => Ok(Box::new(DirStore::new(p))),
        StateStoreSpec::Git => Err(CliError::Usage(
            "state-store git is not available in this version; use state-store dir:<path>".into(),
        )),
    }
}

fn record_facts(s: &Snapshot) -> RecordFacts {
    match &s.record {
        None if s.files.is_empty() => RecordFacts::Missing,
        // State with no record: treat it as live, so a destroy still runs.
        None => RecordFacts::Present {
            status: RecordStatus::Failed,
            tombstone: false,
        },
        Some(r) => RecordFacts::Present {
            status: r.status,
            tombstone: r.status == RecordStatus::Destroyed && r.closed_at.is_some(),
        },
    }
}

/// Checks what can be checked before the stage is locked: the program exists.
fn preflight(plan: &Plan, app_dir: &std::path::Path) -> Result<(), CliError> {
    for step in &plan.steps {
        if let StepKind::RunAlchemy { argv, env, .. } = &step.kind {
            let inv = alchemy::process::Invocation {
                argv: argv.clone(),
                cwd: app_dir.to_path_buf(),
                env: env.clone(),
                timeout: GRACE,
                grace: GRACE,
                actions_group: None,
            };
            alchemy::process::resolve_program(&inv).map_err(|e| CliError::Failed(e.to_string()))?;
        }
    }
    Ok(())
}

fn summary(r: &Report) -> String {
    let mut out = String::from("\n");
    let mark = match r.result {
        Outcome::Success => "✔",
        Outcome::Failure => "✘",
        Outcome::Skipped => "–",
    };
    out.push_str(&format!("{mark} {}\n", render::term(&r.message)));
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

fn say(s: &str) {
    let mut o = std::io::stdout().lock();
    let _ = o.write_all(s.as_bytes());
    let _ = o.flush();
}
