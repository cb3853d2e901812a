//! The sweep's destroys of apps' stages: the apps of one stage destroyed
//! in reverse dependency order (an app after every app that depends on
//! it; when one fails, those it depends on wait for the next sweep), each
//! in its own folder with its own configuration, through the same path as
//! a close. Under its lock an app is also kept while an app that depends
//! on it still has a stage: destroys started elsewhere (a matrix job per
//! app) then still happen in order, one sweep after another.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Mutex;

use super::super::session::{say, Session};
use super::super::CommandError;
use super::Work;
use crate::apps::order::{self, Direction, Done, Final, Outcome as AppOutcome, Scheduler};
use crate::apps::plan as apps_plan;
use crate::apps::spec::AppName;
use crate::cleanup::{self, Candidate, Policy};
use crate::execute::{Outcome, Report};
use crate::github::comment::NamedUrl;
use crate::plan::{self, Action, Plan, PlanError};
use crate::state::{Snapshot, StateKey};
use crate::time::Clock as _;

/// One lock per app folder: two runs in one folder would share its
/// `.alchemy/`.
pub fn folders(session: &Session) -> BTreeMap<PathBuf, Mutex<()>> {
    session
        .config
        .apps
        .iter()
        .flatten()
        .filter_map(|a| std::path::absolute(&a.working_directory).ok())
        .map(|d| (d, Mutex::new(())))
        .collect()
}

type Done1 = (StateKey, Result<Report, CommandError>);

/// Destroys the apps of one stage, dependants first.
pub(super) fn destroy_stage(work: &Work<'_>, candidates: &[&Candidate]) -> Vec<Done1> {
    let Some(apps) = work.session.config.apps.as_ref() else {
        return Vec::new();
    };
    let names: Vec<AppName> = candidates.iter().filter_map(|c| c.app.clone()).collect();
    let results: Mutex<Vec<Done1>> = Mutex::new(Vec::new());
    let finals = match Scheduler::new(apps, &names, Direction::Destroy, 1) {
        Ok(s) => order::run(s, |app| {
            let Some(c) = candidates.iter().find(|c| c.app.as_ref() == Some(app)) else {
                return AppOutcome::Failed.into();
            };
            let report = destroy_app(work, c);
            let ok = report.as_ref().is_ok_and(|r| r.result != Outcome::Failure);
            if let Ok(mut r) = results.lock() {
                r.push((c.key(), report));
            }
            Done::from(if ok {
                AppOutcome::Succeeded
            } else {
                AppOutcome::Failed
            })
        }),
        Err(e) => {
            tracing::error!("cannot order the apps of {}: {e}", candidates[0].stage);
            Vec::new()
        }
    };
    let mut out = results.into_inner().unwrap_or_default();
    for (app, fin) in finals {
        if let Final::Skipped { failed } = fin {
            let c = candidates.iter().find(|c| c.app.as_ref() == Some(&app));
            if let Some(c) = c {
                out.push((c.key(), Ok(kept(c, &failed))));
            }
        }
    }
    out
}

/// The report of an app left for the next sweep: an app that depends on
/// it could not be destroyed.
fn kept(c: &Candidate, failed: &AppName) -> Report {
    Report {
        action: Action::Destroy,
        stage: Some(c.stage.clone()),
        app: c.app.clone(),
        result: Outcome::Skipped,
        message: format!(
            "kept: {failed}, which depends on it, could not be destroyed; the next sweep retries both"
        ),
        urls: Vec::new(),
        remaining: Vec::new(),
        kept_locally: None,
        log_tail: None,
        warnings: Vec::new(),
        notes: Vec::new(),
        verification: None,
        changes: None,
    }
}

/// The URLs of `dep`'s stage of `stage`, from the sweep's listing.
fn recorded_urls(
    work: &Work<'_>,
    stage: &crate::stage::Stage,
    dep: &AppName,
) -> Option<Vec<NamedUrl>> {
    let key = StateKey::app(stage.clone(), dep.clone());
    work.records
        .iter()
        .find(|(k, _)| *k == key)
        .and_then(|(_, r)| {
            r.as_ref()
                .ok()
                .and_then(|r| r.as_ref())
                .map(|r| r.urls.clone())
        })
}

/// One app's stage, destroyed as a close would, judged again under its lock.
fn destroy_app(work: &Work<'_>, c: &Candidate) -> Result<Report, CommandError> {
    let session = work.session;
    let (Some(apps), Some(name)) = (session.config.apps.as_ref(), c.app.as_ref()) else {
        return Err(CommandError::Failed("no apps are configured".into()));
    };
    let spec = apps
        .get(name)
        .ok_or_else(|| CommandError::Failed(format!("there is no app named {name}")))?;
    let env = apps_plan::resolve_app_env(spec, &|dep| recorded_urls(work, &c.stage, dep), true)
        .map_err(CommandError::Failed)?;
    let app_config = apps_plan::app_config(&session.config, spec, &env);
    let dir = std::path::absolute(&spec.working_directory)
        .map_err(|e| CommandError::Failed(format!("app {name}: {e}")))?;
    let detected = crate::alchemy::detect(&app_config.alchemy_command, &dir);
    let mut facts = session.facts();
    facts.alchemy = detected.clone();
    let found = plan::SweepFinding {
        reason: c.reason.clone(),
        expired: None,
    };
    let mut plan = plan::sweep_destroy(work.sweep, &app_config, &facts, &c.stage, c.pr, &found);
    plan.app = c.app.clone();
    say(&format!(
        "\n→ DESTROY stage {} because {}\n",
        c.key(),
        c.reason
    ));
    let recheck = |replaced: &Snapshot| -> Result<Plan, PlanError> {
        let mut facts = session.facts();
        facts.alchemy = detected.clone();
        facts.live_pr = c.pr.and_then(|n| session.live_pr(n));
        let now = Policy {
            now: session.clock.now(),
            ..work.policy.clone()
        };
        let p = cleanup::recheck(work.sweep, &app_config, &facts, c, replaced, &now);
        Ok(
            match super::super::apps::dependant_with_stage(session, &spec.name, &c.stage) {
                Some(d) if p.action == Action::Destroy => {
                    let mut keep = plan::skip(
                    work.sweep,
                    &c.stage,
                    c.pr,
                    format!("kept: {d}, which depends on it, still has a stage; it is destroyed once {d} is gone"),
                );
                    keep.app = c.app.clone();
                    keep
                }
                _ => p,
            },
        )
    };
    session.preflight_in(&plan, &dir)?;
    let _folder = work.folders.get(&dir).map(|m| m.lock());
    let started = std::time::Instant::now();
    let report = session.execute_in(&plan, dir, detected.flavor.clone(), Some(&recheck));
    let line = match &report {
        Ok(r) => super::super::run::result_line(r, started.elapsed()),
        Err(e) => format!("✘ {}: {}", c.key(), crate::render::term(&e.to_string())),
    };
    say(&format!("{line}\n"));
    report
}
