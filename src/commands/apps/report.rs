//! What a run over the apps says when it ends: a row per app (the one
//! sticky comment of the pull request, the job summary), the step
//! outputs (`urls` a JSON object keyed by app), and the exit code.

use std::collections::BTreeMap;

use serde::Serialize;

use super::work::AppResult;
use crate::apps::comment::{self, AppRow, AppStatus, PrComment};
use crate::apps::order::{Direction, Final};
use crate::apps::plan::{self as apps_plan, AppFacts, AppsPlan, RowData, Selection};
use crate::apps::spec::AppName;
use crate::execute::{Outcome, Report};
use crate::plan::{Action, RunContext};

/// How the whole run ended, for `--json`.
#[derive(Debug, Serialize)]
pub struct AppsReport {
    pub action: Action,
    pub stage: Option<crate::stage::Stage>,
    pub result: Outcome,
    pub message: String,
    /// Each app that ran, in the order they ended.
    pub apps: Vec<Report>,
    /// Apps not run because an app they wait on failed.
    pub skipped: BTreeMap<AppName, AppName>,
    /// Apps that could not start, and why.
    pub not_started: BTreeMap<AppName, String>,
}

/// Every app's row after the run, in list order.
pub fn final_rows(
    plan: &AppsPlan,
    app_facts: &AppFacts,
    results: &BTreeMap<AppName, AppResult>,
    finals: &[(AppName, Final)],
    redeployed: &BTreeMap<AppName, AppName>,
    now: &str,
) -> Vec<RowData> {
    let starting = AppStatus::Deploying;
    let before = apps_plan::start_rows(plan, app_facts, &starting);
    before
        .into_iter()
        .map(|row| {
            let app = row.app.clone();
            if let Some(r) = results.get(&app) {
                let record = app_facts.records.as_ref().and_then(|m| m.get(&app));
                let mut out = ran_row(plan, &app, r, record, now);
                if let Some(by) = redeployed.get(&app) {
                    out.why = Some(format!("redeployed: {by}'s URL changed"));
                }
                return out;
            }
            if let Some((_, Final::Skipped { failed })) = finals.iter().find(|(a, _)| *a == app) {
                return RowData {
                    why: Some(format!("waits on {failed}, which failed")),
                    ..RowData::new(
                        &app,
                        AppStatus::Skipped {
                            failed: failed.clone(),
                        },
                    )
                };
            }
            row
        })
        .collect()
}

/// The row of an app that ran (or could not start).
fn ran_row(
    plan: &AppsPlan,
    app: &AppName,
    result: &AppResult,
    record: Option<&crate::record::Record>,
    now: &str,
) -> RowData {
    let destroy = plan.direction == Direction::Destroy;
    let r = match result {
        AppResult::NotStarted(why) => {
            let status = if destroy {
                AppStatus::DestroyFailed
            } else {
                AppStatus::Failed
            };
            return RowData {
                why: Some(why.clone()),
                log_tail: Some(why.clone()),
                updated_at: Some(now.to_owned()),
                ..RowData::new(app, status)
            };
        }
        AppResult::Ran(r) => r,
    };
    if r.result == Outcome::Skipped {
        // Decided again under its lock: nothing to do after all.
        return match record {
            Some(rec) => RowData::kept(app, rec, Some(r.message.clone())),
            None => RowData {
                why: Some(r.message.clone()),
                ..RowData::new(app, AppStatus::NotAffected)
            },
        };
    }
    let ok = r.result == Outcome::Success;
    let status = match (r.action, ok) {
        (Action::Destroy, true) => AppStatus::Destroyed,
        (Action::Destroy, false) => AppStatus::DestroyFailed,
        (_, true) => AppStatus::Deployed,
        (_, false) => AppStatus::Failed,
    };
    let why = match plan.selection.iter().find(|(a, _)| a == app) {
        _ if !ok => Some(r.message.clone()),
        Some((_, Selection::Acts { why })) => Some(why.clone()),
        _ => None,
    };
    RowData {
        why,
        urls: r.urls.clone(),
        updated_at: Some(now.to_owned()),
        changes: r.changes.clone(),
        log_tail: r
            .log_tail
            .clone()
            .or_else(|| (!ok).then(|| r.message.clone())),
        ..RowData::new(app, status)
    }
}

/// The comment (or job summary) of the rows.
pub fn render(
    plan: &AppsPlan,
    rows: &[RowData],
    run: &RunContext,
    summary: bool,
) -> Option<String> {
    let stage = plan.event.stage.as_ref()?;
    let sha = plan.event.commit.as_ref();
    let view: Vec<AppRow<'_>> = rows.iter().map(|r| r.view(sha)).collect();
    let repo_url = run.repo_url();
    let run_url = run.run_url();
    let c = PrComment {
        pr: apps_plan::comment_pr(plan),
        stage,
        repo_url: repo_url.as_deref(),
        run_url: run_url.as_deref(),
        notes: &plan.notes,
        rows: &view,
    };
    Some(if summary {
        comment::render_summary(&c)
    } else {
        comment::render(&c)
    })
}

/// The step outputs: `urls` keyed by app, `url` the first app's primary URL.
pub fn outputs(
    plan: &AppsPlan,
    rows: &[RowData],
    reports: &[&Report],
    result: &str,
) -> Vec<(&'static str, String)> {
    let sha = plan.event.commit.as_ref();
    let view: Vec<AppRow<'_>> = rows.iter().map(|r| r.view(sha)).collect();
    let url = rows
        .iter()
        .find_map(|r| r.urls.first())
        .map(|u| u.url.clone())
        .unwrap_or_default();
    let verified = match plan.direction {
        Direction::Destroy if !reports.is_empty() => reports
            .iter()
            .all(|r| r.verification.as_ref().is_some_and(|v| v.verified()))
            .to_string(),
        _ => String::new(),
    };
    vec![
        (
            "stage",
            plan.event
                .stage
                .as_ref()
                .map(ToString::to_string)
                .unwrap_or_default(),
        ),
        ("action", plan.event.action.as_str().to_owned()),
        ("result", result.to_owned()),
        ("url", url),
        ("urls", comment::urls_output(&view)),
        ("verified", verified),
    ]
}
