//! Carrying out a [`Plan`]: the same value `simulate` prints, step by step.
//!
//! After the first failure only `always` steps run, so a failed or
//! cancelled deploy still saves its state, writes its record and gives its
//! lock back. The working tree's `.alchemy/` holds only this stage's files
//! while Alchemy runs; whatever was there before is set aside and put back.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Serialize;

use crate::actions::Actions;
use crate::alchemy::process::{self, Finished, Invocation};
use crate::alchemy::{urls, Flavor, Phase};
use crate::cancel::{signal_name, Cancel};
use crate::github::client::ForgeError;
use crate::github::comment::{self, CommentInput, CommentStatus, NamedUrl};
use crate::github::forge::{DeploymentStatus, Forge};
use crate::plan::{Action, Plan, StepKind};
use crate::record::RecordStatus;
use crate::stage::Stage;
use crate::state::files::{self, Layout};
use crate::state::lease::{self, Holder, LeaseOptions};
use crate::state::{Loaded, Snapshot, StateStore};
use crate::time::Timestamp;

/// What a run needs from the world.
pub struct Runtime<'a> {
    pub store: &'a dyn StateStore,
    pub holder: Holder,
    pub lease: LeaseOptions,
    /// The app's folder, absolute.
    pub app_dir: PathBuf,
    pub flavor: Flavor,
    pub timeout: Duration,
    /// Between SIGTERM and SIGKILL when a run is stopped.
    pub grace: Duration,
    pub cancel: &'a Cancel,
    /// The Actions runtime; inactive outside Actions.
    pub actions: &'a Actions,
    pub outputs_file: Option<PathBuf>,
    pub run_url: Option<String>,
    /// `<server>/<owner>/<repo>`, for commit links.
    pub repo_url: Option<String>,
    /// GitHub, when a token is at hand.
    pub forge: Option<&'a dyn Forge>,
    /// Send Alchemy's stdout to stderr (when stdout carries JSON).
    pub stdout_to_stderr: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Success,
    Failure,
    Skipped,
}

#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub action: Action,
    pub stage: Option<Stage>,
    pub result: Outcome,
    /// One line: what happened.
    pub message: String,
    pub urls: Vec<NamedUrl>,
    /// Resources a failed destroy left behind.
    pub remaining: Vec<String>,
    /// Where the stage's state was left on disk because it could not be saved.
    pub kept_locally: Option<PathBuf>,
    /// The last lines of Alchemy's output, when it failed.
    pub log_tail: Option<String>,
    /// Problems that did not change the result (a comment that could not
    /// be posted, say).
    pub warnings: Vec<String>,
}

impl Report {
    /// A plan that leads nowhere: exit 0 with its reason.
    pub fn skipped(plan: &Plan) -> Self {
        Self {
            action: plan.action,
            stage: plan.stage.clone(),
            result: Outcome::Skipped,
            message: plan.reason.clone(),
            urls: Vec::new(),
            remaining: Vec::new(),
            kept_locally: None,
            log_tail: None,
            warnings: Vec::new(),
        }
    }

    pub fn exit_code(&self) -> u8 {
        match self.result {
            Outcome::Success | Outcome::Skipped => 0,
            Outcome::Failure => 1,
        }
    }
}

/// Executes a deploy or destroy plan. Other actions are reported as not
/// handled here.
pub fn execute(plan: &Plan, rt: &Runtime<'_>) -> Report {
    let Some(stage) = plan
        .stage
        .clone()
        .filter(|_| matches!(plan.action, Action::Deploy | Action::Destroy | Action::Read))
    else {
        return Report::skipped(plan);
    };
    let mut run = StageRun {
        rt,
        plan,
        alchemy_dir: rt.app_dir.join(".alchemy"),
        stage,
        held: None,
        aside: None,
        restored: false,
        finished: None,
        collected: None,
        collect_failed: false,
        urls: Vec::new(),
        remaining: Vec::new(),
        failure: None,
        saved: false,
        deployment: None,
        forge_off: false,
        warnings: Vec::new(),
        removed: Vec::new(),
    };
    run.steps();
    run.finish()
}

struct StageRun<'a> {
    rt: &'a Runtime<'a>,
    plan: &'a Plan,
    stage: Stage,
    alchemy_dir: PathBuf,
    /// The lease snapshot and version from taking the lock.
    held: Option<Loaded>,
    /// Where a pre-existing `.alchemy/` was set aside.
    aside: Option<PathBuf>,
    restored: bool,
    finished: Option<Finished>,
    /// The stage's files after the run.
    collected: Option<BTreeMap<String, Vec<u8>>>,
    collect_failed: bool,
    urls: Vec<NamedUrl>,
    remaining: Vec<String>,
    failure: Option<String>,
    saved: bool,
    /// The GitHub deployment this run created.
    deployment: Option<u64>,
    /// Set after GitHub refused a write, so one refusal is one warning.
    forge_off: bool,
    warnings: Vec<String>,
    /// The resources a destroy started with.
    removed: Vec<String>,
}

impl StageRun<'_> {
    fn steps(&mut self) {
        for step in &self.plan.steps {
            if self.failure.is_none() {
                if let Some(sig) = self.rt.cancel.received() {
                    self.failure = Some(format!("cancelled by {}", signal_name(sig)));
                }
            }
            if self.failure.is_some() && !step.always {
                continue;
            }
            if let Err(e) = self.step(&step.kind) {
                tracing::error!("{e}");
                if self.failure.is_none() {
                    self.failure = Some(e);
                }
            }
        }
    }

    fn step(&mut self, kind: &StepKind) -> Result<(), String> {
        let stage = self.stage.clone();
        match kind {
            StepKind::AcquireLock { .. } => {
                let status = self.started_status();
                let (pr, commit, run_url) = (
                    self.plan.pr,
                    self.plan.commit.clone(),
                    self.rt.run_url.clone(),
                );
                let deploying = self.plan.action == Action::Deploy;
                let cancel = self.rt.cancel.clone();
                let held = lease::acquire(
                    self.rt.store,
                    &stage,
                    &self.rt.holder,
                    &self.rt.lease,
                    status,
                    &move || cancel.received().is_some(),
                    |r| {
                        if pr.is_some() {
                            r.pr = pr;
                        }
                        if deploying {
                            r.head_sha.clone_from(&commit);
                            // A reopened PR's stage is live again.
                            r.closed_at = None;
                        }
                        r.run_url.clone_from(&run_url);
                    },
                )
                .map_err(|e| e.to_string())?;
                self.held = Some(held);
                Ok(())
            }
            StepKind::RestoreState { .. } => {
                let held = self.held.as_ref().ok_or("no lock held")?;
                if self.alchemy_dir.exists() {
                    let aside = self.rt.app_dir.join(format!(
                        ".alchemy.set-aside-by-alchemy-ci-{:08x}",
                        fastrand::u32(..)
                    ));
                    std::fs::rename(&self.alchemy_dir, &aside).map_err(|e| {
                        format!("cannot set {} aside: {e}", self.alchemy_dir.display())
                    })?;
                    tracing::info!(
                        "set the existing .alchemy/ aside at {} for this run",
                        aside.display()
                    );
                    self.aside = Some(aside);
                }
                self.restored = true;
                self.removed = resource_names(&held.snapshot.files);
                files::restore(&self.alchemy_dir, &held.snapshot.files).map_err(|e| e.to_string())
            }
            StepKind::RunAlchemy {
                phase, argv, env, ..
            } => {
                let env = crate::config::resolve_env(env, &|k| std::env::var(k).ok())?;
                let inv = Invocation {
                    argv: argv.clone(),
                    cwd: self.rt.app_dir.clone(),
                    env,
                    timeout: self.rt.timeout,
                    grace: self.rt.grace,
                    stdout_to_stderr: self.rt.stdout_to_stderr,
                    actions_group: self
                        .rt
                        .actions
                        .active
                        .then(|| format!("Alchemy {phase} {stage}")),
                };
                let finished = process::run(&inv, self.rt.cancel).map_err(|e| e.to_string())?;
                let ok = finished.succeeded();
                let what = finished.describe();
                self.finished = Some(finished);
                if ok {
                    Ok(())
                } else {
                    Err(format!("Alchemy {} of {stage} {what}", phase_noun(*phase)))
                }
            }
            StepKind::VerifyDestroyed { .. } => {
                let left = self.collect()?;
                if left.is_empty() {
                    return Ok(());
                }
                self.remaining = resource_names(&left);
                Err(format!(
                    "destroy of {stage} left {} resource(s) in its state: {}",
                    self.remaining.len(),
                    self.remaining.join(", ")
                ))
            }
            StepKind::SaveState { .. } => {
                // Only a run that started can have changed the state. When
                // it never started (a restore that broke half-way, a program
                // that would not spawn), the working tree may hold a partial
                // copy, and the stored files stay the truth.
                if self.finished.is_some() {
                    self.collect()?;
                }
                Ok(())
            }
            StepKind::CollectUrls { .. } => {
                let outputs = match &self.rt.outputs_file {
                    Some(p) => read_outputs(&self.rt.app_dir.join(p)),
                    None => None,
                };
                let files = self.final_files();
                self.urls = urls::collect(&files, outputs.as_deref());
                Ok(())
            }
            StepKind::RefreshRecord { .. } => {
                let urls = self.urls.clone();
                let held = self.held.as_mut().ok_or("no lock held")?;
                if let Some(r) = held.snapshot.record.as_mut() {
                    r.urls = urls;
                    r.updated_at = Timestamp::now();
                }
                Ok(())
            }
            StepKind::WriteRecord {
                on_success,
                on_failure,
                tombstone,
                ..
            } => {
                let failed = self.failure.is_some();
                let files = self.final_files();
                let now = Timestamp::now();
                let urls = self.urls.clone();
                let error = self.failure.clone();
                let remaining = self.remaining.clone();
                let deploy = self.plan.action == Action::Deploy;
                let held = self.held.as_mut().ok_or("no lock held")?;
                let Some(r) = held.snapshot.record.as_mut() else {
                    return Err("no record to write".into());
                };
                r.status = if failed { *on_failure } else { *on_success };
                r.updated_at = now;
                r.files = files.keys().cloned().collect();
                r.error = error;
                r.remaining = remaining;
                if deploy {
                    r.urls = urls;
                    if !failed {
                        r.deployed_at = Some(now);
                    }
                } else if !failed {
                    r.urls.clear();
                    if *tombstone {
                        r.closed_at = Some(now);
                    }
                }
                Ok(())
            }
            StepKind::ReleaseLock { .. } => {
                // Before the lease is taken out of `self`: without a run's own
                // files, the final files are the ones the lease read.
                let files = self.final_files();
                let Some(held) = self.held.take() else {
                    return Ok(());
                };
                let snapshot = Snapshot {
                    files,
                    record: held.snapshot.record.clone(),
                };
                let message = self.commit_message(&snapshot);
                let result = lease::finish(
                    self.rt.store,
                    &stage,
                    &self.rt.holder,
                    snapshot,
                    held.version.clone(),
                    &message,
                    self.rt.lease.max_conflicts,
                );
                self.held = Some(held);
                match result {
                    Ok(_) => {
                        self.saved = true;
                        Ok(())
                    }
                    Err(e) => Err(format!(
                        "could not save stage {stage}'s state to {}: {e}",
                        self.rt.store.describe()
                    )),
                }
            }
            StepKind::Comment { status } => {
                self.post_comment(*status);
                Ok(())
            }
            StepKind::CommentResult {
                on_success,
                on_failure,
            } => {
                let status = if self.failure.is_none() {
                    *on_success
                } else {
                    *on_failure
                };
                self.post_comment(status);
                Ok(())
            }
            StepKind::CreateDeployment { environment } => {
                let (Some(forge), Some(sha)) = (self.forge(), self.plan.commit.clone()) else {
                    return Ok(());
                };
                let description = match self.plan.pr {
                    Some(pr) => format!("Preview of PR #{pr} by alchemy-ci"),
                    None => format!("{environment} by alchemy-ci"),
                };
                let created = forge
                    .create_deployment(environment, &sha, &description)
                    .and_then(|id| {
                        forge
                            .deployment_status(
                                id,
                                &DeploymentStatus {
                                    state: "in_progress",
                                    environment_url: None,
                                    log_url: self.rt.run_url.clone(),
                                    description: format!("Deploying {environment}"),
                                },
                            )
                            .map(|()| id)
                    });
                match created {
                    Ok(id) => self.deployment = Some(id),
                    Err(e) => self.forge_warning("create the deployment", &e),
                }
                Ok(())
            }
            StepKind::DeploymentResult { environment } => {
                let (Some(forge), Some(id)) = (self.forge(), self.deployment) else {
                    return Ok(());
                };
                let ok = self.failure.is_none();
                let status = DeploymentStatus {
                    state: if ok { "success" } else { "failure" },
                    environment_url: if ok {
                        self.urls.first().map(|u| u.url.clone())
                    } else {
                        None
                    },
                    log_url: self.rt.run_url.clone(),
                    description: if ok {
                        format!("{environment} is deployed")
                    } else {
                        format!("Deploy of {environment} failed")
                    },
                };
                if let Err(e) = forge.deployment_status(id, &status) {
                    self.forge_warning("update the deployment", &e);
                }
                Ok(())
            }
            StepKind::DeactivateDeployments { environment } => {
                if let Some(forge) = self.forge() {
                    if let Err(e) = forge.deactivate_deployments(environment) {
                        self.forge_warning("mark the deployments inactive", &e);
                    }
                }
                Ok(())
            }
            StepKind::ListStages { .. }
            | StepKind::ListOpenPullRequests
            | StepKind::SelectOrphans { .. }
            | StepKind::DestroyOrphans
            | StepKind::ShowStatus => Err("not a stage step".into()),
        }
    }

    fn forge(&self) -> Option<&dyn Forge> {
        if self.forge_off {
            None
        } else {
            self.rt.forge
        }
    }

    /// A GitHub failure never fails the run: it is a warning. A token that
    /// may not write (a fork's read-only token) is told once, then left alone.
    fn forge_warning(&mut self, what: &str, e: &ForgeError) {
        let msg = if matches!(e, ForgeError::Forbidden { .. }) {
            self.forge_off = true;
            format!("could not {what}: {e}; nothing more will be posted in this run (a read-only token, as forks get?)")
        } else {
            format!("could not {what}: {e}")
        };
        tracing::warn!("{msg}");
        self.rt.actions.warning(&msg);
        self.warnings.push(msg);
    }

    fn post_comment(&mut self, status: CommentStatus) {
        let (Some(forge), Some(number)) = (self.forge(), self.plan.pr) else {
            return;
        };
        let finished = matches!(status, CommentStatus::Deployed | CommentStatus::Destroyed);
        let urls: Vec<NamedUrl> = match status {
            CommentStatus::Deployed | CommentStatus::Failed => self.urls.clone(),
            // While deploying, the previous URLs still serve.
            CommentStatus::Deploying => self
                .held
                .as_ref()
                .and_then(|h| h.snapshot.record.as_ref())
                .map(|r| r.urls.clone())
                .unwrap_or_default(),
            _ => Vec::new(),
        };
        let tail = self
            .finished
            .as_ref()
            .filter(|f| !f.succeeded() && !finished)
            .map(|f| f.tail.clone());
        let log_tail = match (&tail, &self.failure) {
            (Some(t), _) => Some(t.clone()),
            (None, Some(f)) if !finished => Some(f.clone()),
            _ => None,
        };
        let removed: Vec<String> = match status {
            CommentStatus::Destroyed => self.removed.clone(),
            CommentStatus::DestroyFailed => self.remaining.clone(),
            _ => Vec::new(),
        };
        let now = Timestamp::now().human();
        let run_url = self.rt.run_url.clone();
        // The branch stage a merge deploys to, when this store holds it.
        let merged = self
            .plan
            .merged_into
            .as_ref()
            .filter(|_| status == CommentStatus::Destroyed)
            .map(|s| {
                let url = self
                    .rt
                    .store
                    .load(s)
                    .ok()
                    .and_then(|l| l.snapshot.record)
                    .and_then(|r| r.urls.first().map(|u| u.url.clone()));
                (s, url)
            });
        let body = comment::render(&CommentInput {
            stage: &self.stage,
            status,
            repo_url: self.rt.repo_url.clone(),
            sha: self.plan.commit.as_ref(),
            urls: &urls,
            run_url: run_url.as_deref(),
            updated_at: Some(&now),
            log_tail: log_tail.as_deref(),
            removed: &removed,
            merged_into: merged.as_ref().map(|(s, u)| (*s, u.as_deref())),
        });
        if let Err(e) = forge.upsert_comment(number, &self.stage, &body) {
            self.forge_warning("update the PR comment", &e);
        }
    }

    fn started_status(&self) -> Option<RecordStatus> {
        match self.plan.action {
            Action::Destroy => Some(RecordStatus::Destroying),
            Action::Deploy => Some(RecordStatus::Deploying),
            _ => None,
        }
    }

    /// Reads the stage's files from the working tree, once they may have changed.
    fn collect(&mut self) -> Result<BTreeMap<String, Vec<u8>>, String> {
        match files::collect(&self.alchemy_dir, &self.stage, Layout::of(&self.rt.flavor)) {
            Ok(f) => {
                self.collected = Some(f.clone());
                Ok(f)
            }
            Err(e) => {
                self.collect_failed = true;
                Err(format!(
                    "cannot read stage {}'s state after the run: {e}",
                    self.stage
                ))
            }
        }
    }

    /// What the store should hold after this run: the files as Alchemy left
    /// them, or, when they could not be read, what the store already had.
    fn final_files(&self) -> BTreeMap<String, Vec<u8>> {
        match (&self.collected, &self.held) {
            (Some(c), _) => c.clone(),
            (None, Some(h)) => h.snapshot.files.clone(),
            (None, None) => BTreeMap::new(),
        }
    }

    fn commit_message(&self, snapshot: &Snapshot) -> String {
        let status = snapshot
            .record
            .as_ref()
            .map_or_else(|| "unknown".to_owned(), |r| r.status.to_string());
        let sha = self
            .plan
            .commit
            .as_ref()
            .map(|c| format!(" @ {}", c.short()))
            .unwrap_or_default();
        let run = self
            .rt
            .run_url
            .as_deref()
            .and_then(|u| u.rsplit('/').next())
            .map(|id| format!(" (run {id})"))
            .unwrap_or_default();
        format!(
            "{} {}{sha}{run}: {status}",
            self.plan.action.as_str(),
            self.stage
        )
    }

    fn finish(mut self) -> Report {
        let kept_locally = self.settle_working_tree();
        let log_tail = self
            .finished
            .as_ref()
            .filter(|f| !f.succeeded())
            .map(|f| f.tail.clone());
        let stage = self.stage.clone();
        let (result, message) = match &self.failure {
            None => (
                Outcome::Success,
                match self.plan.action {
                    Action::Destroy => format!("destroyed {stage}"),
                    Action::Read => format!("read {stage}"),
                    _ => format!("deployed {stage}"),
                },
            ),
            Some(f) => (Outcome::Failure, f.clone()),
        };
        Report {
            action: self.plan.action,
            stage: Some(stage),
            result,
            message,
            urls: std::mem::take(&mut self.urls),
            remaining: std::mem::take(&mut self.remaining),
            kept_locally,
            log_tail,
            warnings: std::mem::take(&mut self.warnings),
        }
    }

    /// Removes this run's `.alchemy/` once the store holds what it held, and
    /// puts back what was set aside. When the state could not be saved it
    /// stays on disk and its path is returned, so nothing is lost.
    fn settle_working_tree(&mut self) -> Option<PathBuf> {
        if !self.restored {
            return None;
        }
        let safe_to_remove = self.saved && !self.collect_failed;
        if !safe_to_remove {
            tracing::error!(
                "stage {}'s state was NOT saved; it is left in {}{}",
                self.stage,
                self.alchemy_dir.display(),
                self.aside
                    .as_ref()
                    .map(|a| format!(
                        " (the .alchemy/ that was there before is at {})",
                        a.display()
                    ))
                    .unwrap_or_default()
            );
            return Some(self.alchemy_dir.clone());
        }
        if let Err(e) = remove_dir_if_exists(&self.alchemy_dir) {
            tracing::warn!("could not remove {}: {e}", self.alchemy_dir.display());
            return None;
        }
        if let Some(aside) = self.aside.take() {
            if let Err(e) = std::fs::rename(&aside, &self.alchemy_dir) {
                tracing::warn!(
                    "could not put the earlier .alchemy/ back from {}: {e}",
                    aside.display()
                );
            }
        }
        None
    }
}

fn phase_noun(p: Phase) -> &'static str {
    match p {
        Phase::Deploy => "deploy",
        Phase::Destroy => "destroy",
        Phase::Read => "read",
    }
}

fn remove_dir_if_exists(p: &Path) -> std::io::Result<()> {
    match std::fs::remove_dir_all(p) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

/// The resources named in a stage's files, for "what is left" messages.
fn resource_names(files: &BTreeMap<String, Vec<u8>>) -> Vec<String> {
    files
        .iter()
        .map(|(path, bytes)| {
            serde_json::from_slice::<serde_json::Value>(bytes)
                .ok()
                .and_then(|v| {
                    v.get("fqn")
                        .or_else(|| v.get("id"))
                        .and_then(|x| x.as_str())
                        .map(str::to_owned)
                })
                .unwrap_or_else(|| path.clone())
        })
        .collect()
}

fn read_outputs(p: &Path) -> Option<Vec<u8>> {
    match std::fs::read(p) {
        Ok(b) => Some(b),
        Err(e) => {
            tracing::warn!("outputs file {} could not be read: {e}", p.display());
            None
        }
    }
}
