//! The commit statuses of a run over the apps: `alchemy-ci/preview/<app>`
//! for each app and `alchemy-ci/preview` for all of them together
//! ([`crate::status_check::statuses`]), posted by the run, not by each
//! app's own run (apps posting the one aggregate in turn would overwrite
//! each other). When the run starts, the apps it deploys say pending, and
//! so does the aggregate; when it ends, every app says where it is: an
//! app the change does not touch is "no preview needed", so requiring
//! its check never blocks a pull request. A refusal (no `statuses:
//! write`) is said once and never fails the run.

use super::super::session::Session;
use crate::apps::comment::AppStatus;
use crate::apps::plan::RowData;
use crate::config::StatusCheck;
use crate::github::commands_api::StatusWrite;
use crate::plan::{Action, Plan, StepKind};
use crate::record::RecordStatus;
use crate::status_check::{self, AppPhase, Phase};

/// When in the run the statuses are posted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum When {
    /// Before any app runs: only the apps that deploy, and the aggregate.
    Start,
    /// Once every app ended: every app, and the aggregate.
    End,
}

/// Posts the statuses `rows` come to on the deployed commit, for a deploy
/// (or a pull request that needs no preview) with a commit, a token and
/// `status-check` on.
pub fn post(session: &Session, event: &Plan, rows: &[RowData], when: When) {
    let (Some(sha), Some(forge), Some(stage)) =
        (event.commit.as_ref(), session.forge(), event.stage.as_ref())
    else {
        return;
    };
    let not_needed = event
        .steps
        .iter()
        .any(|s| matches!(s.kind, StepKind::CommitStatus { .. }));
    let deploys = event.action == Action::Deploy || not_needed;
    if !deploys {
        return;
    }
    let phases: Vec<AppPhase<'_>> = rows
        .iter()
        .map(|r| AppPhase {
            app: Some(r.app.as_str()),
            phase: phase(r),
        })
        .collect();
    let run_url = session.run.run_url();
    let mut all = status_check::statuses(stage, run_url.as_deref(), &phases);
    if when == When::Start {
        let deploying: Vec<String> = phases
            .iter()
            .filter(|p| p.phase == Phase::Deploying)
            .map(|p| status_check::context(p.app))
            .collect();
        all.retain(|s| s.context == status_check::CONTEXT || deploying.contains(&s.context));
    }
    for s in &all {
        let refused = match forge.set_status(sha, s) {
            Ok(StatusWrite::Written) => continue,
            Ok(StatusWrite::Forbidden { message }) => format!(
                "could not post the {} commit status: GitHub refused ({message}); give the job `statuses: write` for a check branch protection can require",
                s.context
            ),
            Err(e) => format!("could not post the {} commit status: {e}", s.context),
        };
        tracing::warn!("{refused}");
        // The default says it in the log only, as for a single app.
        if session.config.status_check == StatusCheck::On {
            session.actions.warning(&refused);
        }
        return;
    }
}

/// Where a row's app is, as a status says it.
fn phase(r: &RowData) -> Phase {
    let url = || r.urls.first().map(|u| u.url.clone());
    match &r.status {
        AppStatus::Deploying => Phase::Deploying,
        AppStatus::Deployed
        | AppStatus::Unchanged {
            last: RecordStatus::Deployed,
        } => Phase::Deployed { url: url() },
        AppStatus::NotAffected => Phase::NotNeeded {
            reason: r.why.clone().unwrap_or_else(|| "not affected".into()),
        },
        AppStatus::Skipped { failed } => Phase::Failed {
            error: Some(format!("not deployed: {failed} failed")),
        },
        AppStatus::Destroying | AppStatus::Destroyed => Phase::Destroyed,
        AppStatus::Failed | AppStatus::DestroyFailed | AppStatus::Unchanged { .. } => {
            Phase::Failed {
                error: r.why.clone(),
            }
        }
    }
}
