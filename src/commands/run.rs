//! `alchemy-ci run`: the action's entrypoint. Prints the same plan
//! `simulate` prints, with the facts a run can look up filled in, then
//! executes it.

use std::io::Write as _;
use std::path::PathBuf;
use std::time::Duration;

use super::{load_inputs, run_context, var, Env};
use crate::cancel::Cancel;
use crate::cli::{CliError, RunArgs};
use crate::config::{Config, StateStoreSpec};
use crate::execute::{self, Outcome, Report, Runtime};
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
    let app_dir = app_dir(&config)?;
    let store = open_store(&config)?;
    let run = run_context(env, &event);
    let mut facts = Facts {
        alchemy: alchemy::detect(&config.alchemy_command, &app_dir),
        // Comments and deployments come with the GitHub client.
        can_post: false,
        live_pr: None,
        record: None,
        run,
    };

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
                actions: var(env, "GITHUB_ACTIONS").as_deref() == Some("true"),
                outputs_file: config.outputs_file.clone(),
                run_url,
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
    Ok(report.exit_code())
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
