//! What a run over the apps reads before it decides: each app's record
//! (one store read per app, before any lock: the decision that counts is
//! made again under each app's own lock), the files the pull request or
//! push changes, and each app's Alchemy.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use super::super::session::Session;
use super::super::CommandError;
use crate::alchemy;
use crate::apps::affected::ChangedFiles;
use crate::apps::plan::AppFacts;
use crate::apps::spec::{App, AppName, Apps};
use crate::event::{CommitSha, Event, Payload};
use crate::plan::{Action, Plan};
use crate::record::{Record, RecordStatus};
use crate::stage::Stage;
use crate::state::StateKey;

/// Every app's folder, absolute; a missing one is bad input, found before
/// anything is read or written.
pub fn app_dirs(apps: &Apps) -> Result<BTreeMap<AppName, PathBuf>, CommandError> {
    apps.iter()
        .map(|a| {
            let dir = std::path::absolute(Path::new(&a.working_directory)).map_err(|e| {
                CommandError::Usage(format!(
                    "app {}: working-directory {}: {e}",
                    a.name, a.working_directory
                ))
            })?;
            if !dir.is_dir() {
                return Err(CommandError::Usage(format!(
                    "app {}: working-directory {} is not a folder",
                    a.name, a.working_directory
                )));
            }
            Ok((a.name.clone(), dir))
        })
        .collect()
}

/// The facts of every app for the event's decision `base`.
pub fn gather(
    session: &Session,
    event: &Event,
    base: &Plan,
    dirs: &BTreeMap<AppName, PathBuf>,
) -> Result<AppFacts, CommandError> {
    let config = &session.config;
    let apps = config.apps.as_ref().ok_or(crate::plan::PlanError::NoApps)?;
    let acts = matches!(base.action, Action::Deploy | Action::Destroy | Action::Read);
    let records = match (&base.stage, acts) {
        (Some(stage), true) => Some(records(session, apps, stage)?),
        _ => None,
    };
    let forced = crate::apps::plan::force(event, config, apps)?.is_some();
    let looks = base.action == Action::Deploy && !forced;
    let changed = looks.then(|| changed_files(session, event));
    let since = match (looks, base.commit.as_ref()) {
        (true, Some(head)) => since_deployed(session, head, records.as_ref()),
        _ => BTreeMap::new(),
    };
    Ok(AppFacts {
        changed,
        since,
        records,
        alchemy: apps
            .iter()
            .map(|a| (a.name.clone(), detect(config, a, dirs)))
            .collect(),
        assumed: false,
    })
}

fn detect(
    config: &crate::config::Config,
    app: &App,
    dirs: &BTreeMap<AppName, PathBuf>,
) -> alchemy::Detected {
    let cmd = app
        .alchemy_command
        .as_ref()
        .unwrap_or(&config.alchemy_command);
    let dir = dirs
        .get(&app.name)
        .cloned()
        .unwrap_or_else(|| PathBuf::from(&app.working_directory));
    alchemy::detect(cmd, &dir)
}

/// The record of each app's stage of `stage`, for the apps that have one.
/// State without a record (a run that never finished) counts as failed.
pub fn records(
    session: &Session,
    apps: &Apps,
    stage: &Stage,
) -> Result<BTreeMap<AppName, Record>, CommandError> {
    let mut out = BTreeMap::new();
    for app in apps {
        let key = StateKey::app(stage.clone(), app.name.clone());
        let snapshot = session.store.load(&key)?.snapshot;
        let record = match snapshot.record {
            Some(r) => r,
            None if snapshot.files.is_empty() => continue,
            None => {
                let now = crate::time::Clock::now(&session.clock);
                let mut r = Record::new(stage.clone(), RecordStatus::Failed, now);
                r.app = Some(app.name.clone());
                r.files = snapshot.files.keys().cloned().collect();
                r
            }
        };
        out.insert(app.name.clone(), record);
    }
    Ok(out)
}

/// For each commit a deployed app's preview was made from, the files
/// changed between it and `head`: GitHub's comparison with a token, else
/// the checkout's history. Unknown (a force push, no history) is left out
/// and the pull request's files decide.
fn since_deployed(
    session: &Session,
    head: &CommitSha,
    records: Option<&BTreeMap<AppName, Record>>,
) -> BTreeMap<CommitSha, ChangedFiles> {
    let commits: BTreeSet<&CommitSha> = records
        .into_iter()
        .flatten()
        .filter(|(_, r)| r.status == RecordStatus::Deployed)
        .filter_map(|(_, r)| r.head_sha.as_ref())
        .collect();
    let here = std::path::absolute(".").unwrap_or_else(|_| PathBuf::from("."));
    let mut out = BTreeMap::new();
    for from in commits {
        if from == head {
            out.insert(from.clone(), ChangedFiles::Known { files: Vec::new() });
            continue;
        }
        let by_api = session
            .forge()
            .and_then(|f| match f.compare_files(from, head) {
                Ok(c) => Some(c),
                Err(e) => {
                    tracing::warn!(
                        "could not compare {} with {}: {e}; trying the checkout's history",
                        from.short(),
                        head.short()
                    );
                    None
                }
            });
        let files = by_api.or_else(|| {
            crate::apps::git_diff::push_files(&here, from, head)
                .map_err(|e| tracing::warn!("{e}"))
                .ok()
        });
        if let Some(f @ ChangedFiles::Known { .. }) = files {
            out.insert(from.clone(), f);
        }
    }
    out
}

/// The files the event changes: GitHub's list for a pull request when
/// there is a token, else the checkout's history. What cannot be known
/// makes every app affected, and the plan says why.
fn changed_files(session: &Session, event: &Event) -> ChangedFiles {
    let (base, head) = match &event.payload {
        Payload::PullRequest(pr) => {
            if let Some(forge) = session.forge() {
                match forge.changed_files(pr.number) {
                    Ok(c) => return c,
                    Err(e) => {
                        let msg = format!(
                            "could not list the changed files of PR #{}: {e}; trying the checkout's history",
                            pr.number
                        );
                        tracing::warn!("{msg}");
                        session.actions.warning(&msg);
                    }
                }
            }
            (Some(pr.base_sha.clone()), pr.head_sha.clone())
        }
        Payload::Push(push) => (push.before.clone(), push.after.clone()),
        _ => {
            return ChangedFiles::Unknown {
                why: "this event has no changed files".into(),
            }
        }
    };
    let Some(base) = base else {
        return ChangedFiles::Unknown {
            why: "the push created the branch, so there is nothing to compare with".into(),
        };
    };
    let here = std::path::absolute(".").unwrap_or_else(|_| PathBuf::from("."));
    match crate::apps::git_diff::changed_files(&here, &base, &head) {
        Ok(c) => c,
        Err(e) => {
            let msg = e.to_string();
            tracing::warn!("{msg}");
            session.actions.warning(&msg);
            ChangedFiles::Unknown { why: msg }
        }
    }
}
