//! `run`, and the hand-run `deploy`, `destroy` and `read`, in a repository
//! with `apps:`: the event's decision (the same as a single app's), what
//! each app's stage holds and which files changed, the apps' plan, the
//! apps run in dependency order side by side (each exactly as a single
//! stage runs: lease, decision made again under its lock, one final write
//! before any call to GitHub), then one comment, job summary and set of
//! outputs for them all.

mod checks;
mod facts;
mod report;
mod work;

use std::collections::BTreeMap;
use std::time::Instant;

use super::session::{say, Session};
use super::{cleanup, status, CommandError};
use crate::apps::comment::marker;
use crate::apps::order::Final;
use crate::apps::plan::{self as apps_plan, AppFacts, AppsPlan};
use crate::apps::spec::AppName;
use crate::event::Event;
use crate::execute::{Outcome, Report};
use crate::plan::{Action, Facts, Plan};
use crate::render;
use crate::time::Clock as _;

pub use report::AppsReport;
use work::{AppResult, Work};

/// Decides, prints the plan, runs the apps and reports. `note` is printed
/// before the plan (a hand run's stage and where it came from).
pub fn carry_out(
    session: &Session,
    event: &Event,
    facts: Facts,
    note: Option<&str>,
) -> Result<u8, CommandError> {
    let base = apps_plan::event_decision(event, &session.config, &facts)?;
    match base.action {
        Action::Deploy | Action::Destroy | Action::Read => {
            run_apps(session, event, facts, base, note)
        }
        _ => no_app_runs(session, event, facts, base, note),
    }
}

/// An event that runs no app: a skip, the sweep, the status, or a
/// comment's answer.
fn no_app_runs(
    session: &Session,
    event: &Event,
    facts: Facts,
    base: Plan,
    note: Option<&str>,
) -> Result<u8, CommandError> {
    match base.action {
        Action::Cleanup => cleanup::sweep(session, &base, &cleanup::SweepOptions::default()),
        Action::Status => status::show(session, false),
        // A comment's answer, or its approval for a second step: no
        // stage is touched.
        Action::Reply | Action::Approve => {
            super::run::carry_out_single(session, event, facts, note)
        }
        Action::Redeploy | Action::Keep | Action::Unlock | Action::Warn => {
            let reason = format!(
                "{} acts on one stage, and with apps every app has its own: use a workflow_dispatch with the app input instead",
                base.action.as_str()
            );
            let skipped = Plan {
                action: Action::Skip,
                reason,
                steps: Vec::new(),
                ..base
            };
            Ok(skip(session, &skipped, note))
        }
        _ => {
            // A pull request that needs no preview: every app says so.
            let rows: Vec<apps_plan::RowData> = session
                .config
                .apps
                .iter()
                .flatten()
                .map(|a| apps_plan::RowData {
                    why: Some(base.reason.clone()),
                    ..apps_plan::RowData::new(&a.name, crate::apps::comment::AppStatus::NotAffected)
                })
                .collect();
            checks::post(session, &base, &rows, checks::When::End);
            Ok(skip(session, &base, note))
        }
    }
}

/// A deploy, destroy or read of the apps: their facts and plan, checked
/// before anything is written, then the apps in order, then the report.
fn run_apps(
    session: &Session,
    event: &Event,
    facts: Facts,
    base: Plan,
    note: Option<&str>,
) -> Result<u8, CommandError> {
    let config = &session.config;
    let apps = config.apps.as_ref().ok_or(crate::plan::PlanError::NoApps)?;
    let dirs = facts::app_dirs(apps)?;
    let app_facts = facts::gather(session, event, &base, &dirs)?;
    let plan = apps_plan::decide_apps(event, config, &facts, base, &app_facts)?;
    for p in &plan.apps {
        if let Some(dir) = p.app.as_ref().and_then(|a| dirs.get(a)) {
            session.preflight_in(p, dir)?;
        }
    }
    if let Some(n) = note {
        session.say(n);
    }
    session.say(&render::apps::plan(&plan));
    if plan.apps.is_empty() {
        // A stage deployed before apps were configured may still be there.
        return Ok(match legacy_destroy(session, event, &plan, &facts)? {
            Some(r) => legacy_only(session, &plan, &r),
            None => nothing_to_run(session, &plan, &app_facts),
        });
    }
    post_comment(session, &plan, plan.comment_preview.as_deref());
    let starting = crate::apps::comment::AppStatus::Deploying;
    let start_rows = apps_plan::start_rows(&plan, &app_facts, &starting);
    checks::post(session, &plan.event, &start_rows, checks::When::Start);
    let started = Instant::now();
    let work = Work::new(session, event, &facts, &app_facts, &plan, &dirs)
        .ok_or(crate::plan::PlanError::NoApps)?;
    let finals = work.run();
    let results = work.results.into_inner().unwrap_or_default();
    let redeployed = work.redeployed.into_inner().unwrap_or_default();
    let legacy = legacy_destroy(session, event, &plan, &facts)?;
    Ok(finish(
        session,
        &plan,
        &app_facts,
        Finished {
            finals: &finals,
            results: &results,
            redeployed: &redeployed,
            legacy: legacy.as_ref(),
            took: started.elapsed(),
        },
    ))
}

/// The event leads nowhere: its reason, exit 0.
fn skip(session: &Session, base: &Plan, note: Option<&str>) -> u8 {
    if let Some(n) = note {
        session.say(n);
    }
    session.say(&render::plan(base));
    let report = Report::skipped(base);
    session.say(&super::run::summary(&report, std::time::Duration::ZERO));
    if session.json {
        say(&format!("{}\n", render::json(&report)));
    }
    let outputs = [
        (
            "stage",
            base.stage
                .as_ref()
                .map(ToString::to_string)
                .unwrap_or_default(),
        ),
        ("action", base.action.as_str().to_owned()),
        ("result", "skipped".to_owned()),
        ("url", String::new()),
        ("urls", "{}".to_owned()),
        ("verified", String::new()),
    ];
    if let Err(e) = session.actions.set_outputs(&outputs) {
        tracing::warn!("could not write the step outputs: {e}");
    }
    let summary = format!(
        "### alchemy-ci: skipped\n\n{}\n",
        crate::github::markdown::text(&base.reason)
    );
    if let Err(e) = session.actions.summary(&summary) {
        tracing::warn!("could not write the job summary: {e}");
    }
    if matches!(&base_event_fork(base), Some(true)) {
        session.actions.notice(&base.reason);
    }
    0
}

fn base_event_fork(base: &Plan) -> Option<bool> {
    base.pull_request.as_ref().map(|p| p.from_fork)
}

/// No app to act on (none touched, none with a stage to destroy): the
/// comment still says where every app stands.
fn nothing_to_run(session: &Session, plan: &AppsPlan, app_facts: &AppFacts) -> u8 {
    let rows = apps_plan::start_rows(plan, app_facts, &crate::apps::comment::AppStatus::Deploying);
    let message = format!(
        "no app to {} for stage {}",
        plan.event.action.as_str(),
        plan.event
            .stage
            .as_ref()
            .map(ToString::to_string)
            .unwrap_or_default()
    );
    session.say(&format!("\n– {}\n", render::term(&message)));
    let touched = plan.event.action == Action::Deploy;
    if touched {
        let body = report::render(plan, &rows, &session.run, false);
        post_comment(session, plan, body.as_deref());
        checks::post(session, &plan.event, &rows, checks::When::End);
    }
    publish(session, plan, &rows, &[], "skipped");
    if session.json {
        let r = AppsReport {
            action: plan.event.action,
            stage: plan.event.stage.clone(),
            result: Outcome::Skipped,
            message,
            apps: Vec::new(),
            skipped: BTreeMap::new(),
            not_started: BTreeMap::new(),
        };
        say(&format!("{}\n", render::json(&r)));
    }
    0
}

/// No app had a stage, but the stage deployed before apps were
/// configured did: its own run reported on its own comment; the outputs
/// and the exit code are its.
fn legacy_only(session: &Session, plan: &AppsPlan, r: &Report) -> u8 {
    let result = match r.result {
        Outcome::Success => "success",
        Outcome::Failure => "failure",
        Outcome::Skipped => "skipped",
    };
    publish(session, plan, &[], &[r], result);
    if session.json {
        say(&format!("{}\n", render::json(r)));
    }
    r.exit_code()
}

/// Posts (or updates) the PR's apps comment; GitHub never fails a run.
fn post_comment(session: &Session, plan: &AppsPlan, body: Option<&str>) {
    if !session.config.comment {
        return;
    }
    let (Some(body), Some(pr), Some(forge)) =
        (body, apps_plan::comment_pr(plan), session.forge_in_time())
    else {
        return;
    };
    if let Err(e) = forge.upsert_marked_comment(pr, &marker(pr), body) {
        let msg = format!("could not update the PR comment: {e}");
        tracing::warn!("{msg}");
        session.actions.warning(&msg);
    }
}

/// A stage deployed before `apps:` was set keeps its own key (`pr-7`):
/// when the stage goes away, so does it, exactly as a single app's stage
/// is destroyed (with its own comment). Only when the store holds it.
fn legacy_destroy(
    session: &Session,
    event: &Event,
    plan: &AppsPlan,
    facts: &Facts,
) -> Result<Option<Report>, CommandError> {
    let Some(stage) = &plan.event.stage else {
        return Ok(None);
    };
    let one_app = matches!(plan.force, Some(crate::apps::affected::Force::App(_)));
    let wanted = plan.event.action == Action::Destroy && !one_app;
    if !wanted || session.store.load(stage)?.snapshot.is_empty() {
        return Ok(None);
    }
    let single = crate::plan::decide(event, &session.config, facts)?;
    session.say(&format!(
        "\n→ DESTROY stage {stage}, deployed before apps were configured (working-directory {})\n",
        session.config.working_directory.display()
    ));
    if let Err(e) = session.preflight(&single) {
        return Ok(Some(Report {
            result: Outcome::Failure,
            message: format!("stage {stage} (deployed before apps were configured): {e}"),
            ..Report::skipped(&single)
        }));
    }
    let recheck = session.decide_again(event, single.pr, facts);
    let started = Instant::now();
    let report = session.execute_with(&single, session.app_dir.clone(), Some(&recheck))?;
    session.say(&format!(
        "{}\n",
        super::run::result_line(&report, started.elapsed())
    ));
    Ok(Some(report))
}

/// What the apps' runs left, for the end of the run.
struct Finished<'a> {
    finals: &'a [(AppName, Final)],
    results: &'a BTreeMap<AppName, AppResult>,
    redeployed: &'a BTreeMap<AppName, AppName>,
    legacy: Option<&'a Report>,
    took: std::time::Duration,
}

/// The comment, summary, outputs and exit code once every app ended.
fn finish(session: &Session, plan: &AppsPlan, app_facts: &AppFacts, f: Finished<'_>) -> u8 {
    let now = session.clock.now().human();
    let rows = report::final_rows(plan, app_facts, f.results, f.finals, f.redeployed, &now);
    let failed: Vec<&AppName> = f
        .finals
        .iter()
        .filter(|(_, fin)| !matches!(fin, Final::Succeeded))
        .map(|(a, _)| a)
        .collect();
    let legacy_failed = f.legacy.is_some_and(|r| r.result == Outcome::Failure);
    let ok = failed.is_empty() && !legacy_failed;
    let message = outcome_message(plan, f.finals, &failed, f.took);
    session.say(&format!("\n{}\n", render::term(&message)));
    let body = report::render(plan, &rows, &session.run, false);
    post_comment(session, plan, body.as_deref());
    checks::post(session, &plan.event, &rows, checks::When::End);
    let mut reports: Vec<&Report> = f
        .results
        .values()
        .filter_map(|r| match r {
            AppResult::Ran(r) => Some(r.as_ref()),
            AppResult::NotStarted(_) => None,
        })
        .collect();
    reports.extend(f.legacy);
    publish(
        session,
        plan,
        &rows,
        &reports,
        if ok { "success" } else { "failure" },
    );
    if !ok {
        session.actions.error(&message);
    }
    if session.json {
        say(&format!(
            "{}\n",
            render::json(&apps_report(plan, &f, ok, message))
        ));
    }
    u8::from(!ok)
}

fn outcome_message(
    plan: &AppsPlan,
    finals: &[(AppName, Final)],
    failed: &[&AppName],
    took: std::time::Duration,
) -> String {
    let stage = plan
        .event
        .stage
        .as_ref()
        .map(ToString::to_string)
        .unwrap_or_default();
    let verb = match plan.event.action {
        Action::Destroy => "destroyed",
        Action::Read => "read",
        _ => "deployed",
    };
    let took = render::took(took);
    if failed.is_empty() {
        return format!("✔ {verb} {} app(s) of {stage} in {took}", finals.len());
    }
    let names: Vec<&str> = failed.iter().map(|a| a.as_str()).collect();
    format!(
        "✘ {} of {} app(s) of {stage} failed or were skipped: {} (after {took})",
        failed.len(),
        finals.len(),
        names.join(", ")
    )
}

fn apps_report(plan: &AppsPlan, f: &Finished<'_>, ok: bool, message: String) -> AppsReport {
    let mut apps = Vec::new();
    let mut not_started = BTreeMap::new();
    for (app, _) in f.finals {
        match f.results.get(app) {
            Some(AppResult::Ran(r)) => apps.push(r.as_ref().clone()),
            Some(AppResult::NotStarted(why)) => {
                not_started.insert(app.clone(), why.clone());
            }
            None => {}
        }
    }
    apps.extend(f.legacy.cloned());
    AppsReport {
        action: plan.event.action,
        stage: plan.event.stage.clone(),
        result: if ok {
            Outcome::Success
        } else {
            Outcome::Failure
        },
        message,
        apps,
        skipped: f
            .finals
            .iter()
            .filter_map(|(a, fin)| match fin {
                Final::Skipped { failed } => Some((a.clone(), failed.clone())),
                _ => None,
            })
            .collect(),
        not_started,
    }
}

/// Step outputs and the job summary.
fn publish(
    session: &Session,
    plan: &AppsPlan,
    rows: &[apps_plan::RowData],
    reports: &[&Report],
    result: &str,
) {
    let outputs = report::outputs(plan, rows, reports, result);
    if let Err(e) = session.actions.set_outputs(&outputs) {
        tracing::warn!("could not write the step outputs: {e}");
    }
    if let Some(summary) = report::render(plan, rows, &session.run, true) {
        if let Err(e) = session.actions.summary(&summary) {
            tracing::warn!("could not write the job summary: {e}");
        }
    }
}

/// `status --refresh` for an app's stage: its read phase, run in the
/// app's folder with its configuration, the URLs of its record refreshed.
/// Says how it went on one line; false when it could not be read.
pub fn read_app(session: &Session, env: &super::Env, key: &crate::state::StateKey) -> bool {
    let result = read_app_inner(session, env, key);
    let line = match &result {
        Ok((r, took)) => super::run::result_line(r, *took),
        Err(e) => format!(
            "✘ could not read stage {key}: {}",
            render::term(&e.to_string())
        ),
    };
    session.say(&format!("{line}\n"));
    result.is_ok_and(|(r, _)| r.result == Outcome::Success)
}

fn read_app_inner(
    session: &Session,
    env: &super::Env,
    key: &crate::state::StateKey,
) -> Result<(Report, std::time::Duration), CommandError> {
    let name = key
        .app
        .as_ref()
        .ok_or_else(|| CommandError::Usage(format!("{key} is not an app's stage")))?;
    let spec = session
        .config
        .apps
        .as_ref()
        .and_then(|a| a.get(name))
        .ok_or_else(|| CommandError::Usage(format!("app {name} is not in apps:")))?;
    session.say(&format!("\n→ READ stage {key}\n"));
    let mut config = session.config.clone();
    config.command = crate::config::Command::Read;
    config.stage = Some(key.stage.clone());
    let recorded = session.store.load(key)?.snapshot.record;
    let urls = |dep: &AppName| {
        let k = crate::state::StateKey::app(key.stage.clone(), dep.clone());
        session.store.load(&k).ok()?.snapshot.record.map(|r| r.urls)
    };
    let vars = apps_plan::resolve_app_env(spec, &urls, true).map_err(CommandError::Failed)?;
    let app_config = apps_plan::app_config(&config, spec, &vars);
    let dir = std::path::absolute(&spec.working_directory)
        .map_err(|e| CommandError::Usage(format!("app {name}: {e}")))?;
    let mut facts = session.facts();
    facts.alchemy = crate::alchemy::detect(&app_config.alchemy_command, &dir);
    facts.record = Some(match &recorded {
        Some(r) => crate::plan::RecordFacts::Present {
            status: r.status,
            tombstone: r.is_tombstone(),
        },
        None => crate::plan::RecordFacts::Missing,
    });
    let event = super::manual_event("read", env);
    let plan = apps_plan::decide_app(&event, &app_config, &facts, name)?;
    session.preflight_in(&plan, &dir)?;
    let started = Instant::now();
    let report = session.execute_in(&plan, dir, facts.alchemy.flavor.clone(), None)?;
    Ok((report, started.elapsed()))
}

/// An app that depends on `app` and still has a stage of `stage`: `app`
/// is not destroyed before it, which would leave it unable to read
/// `app`'s URL for its own destroy. An unreadable stage counts as there.
pub fn dependant_with_stage(
    session: &Session,
    app: &AppName,
    stage: &crate::stage::Stage,
) -> Option<AppName> {
    let apps = session.config.apps.as_ref()?;
    apps.iter()
        .filter(|a| apps.dependencies(a).contains(app))
        .find(|a| {
            let key = crate::state::StateKey::app(stage.clone(), a.name.clone());
            match session.store.load(&key) {
                Ok(l) => {
                    !l.snapshot.files.is_empty()
                        || l.snapshot
                            .record
                            .as_ref()
                            .is_some_and(|r| r.status != crate::record::RecordStatus::Destroyed)
                }
                Err(_) => true,
            }
        })
        .map(|a| a.name.clone())
}
