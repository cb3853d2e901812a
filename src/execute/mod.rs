//! Carrying out a [`Plan`]: the same value `simulate` prints, step by step.
//!
//! The run takes the stage's lease first and decides again from what the
//! lock write replaced and the PR's state read after it (`lock.rs`); it may
//! then find there is nothing to do, and leaves the stage as it was. After
//! the first failure only `always` steps run, so a failed or cancelled
//! deploy still saves its state, writes its record and gives its lock back,
//! all in one store write made before any call to GitHub (`github.rs`).
//! The working tree's `.alchemy/` holds only this stage's files while
//! Alchemy runs; whatever was there before is set aside and put back
//! (`workdir.rs`).

mod answer;
mod changes;
mod error;
mod github;
mod lock;
pub mod runner;
mod status;
mod verify;
mod workdir;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::thread::Scope;
use std::time::Duration;

use serde::Serialize;

use crate::actions::Actions;
use crate::alchemy::layout::Finding;
use crate::alchemy::process::{Finished, Head, Invocation};
use crate::alchemy::verify::{self as verification, Verification};
use crate::alchemy::{urls, Flavor, Phase};
use crate::apps::changes::Changes;
use crate::apps::spec::AppName;
use crate::cancel::{signal_name, Cancel, LEASE_LOST};
use crate::config::Config;
use crate::github::comment::NamedUrl;
use crate::github::forge::Forge;
use crate::plan::{Action, Plan, PlanError, StepKind};
use crate::record::{Lease, Record};
use crate::stage::Stage;
use crate::state::lease::{Holder, Keeper, LeaseOptions};
use crate::state::{Loaded, Snapshot, StateKey, StateStore};
use crate::time::Clock;

pub use error::StepError;
pub use runner::{ProcessRunner, Runner};

/// Makes the decision again from the stage as the lock write found it.
pub type Recheck<'a> = &'a (dyn Fn(&Snapshot) -> Result<Plan, PlanError> + Sync);

/// What a run needs from the world.
pub struct Runtime<'a> {
    pub store: &'a dyn StateStore,
    pub holder: Holder,
    pub lease: LeaseOptions,
    pub clock: &'a dyn Clock,
    /// The app's folder, absolute.
    pub app_dir: PathBuf,
    pub flavor: Flavor,
    pub timeout: Duration,
    /// Between SIGTERM and SIGKILL when a run is stopped.
    pub grace: Duration,
    pub cancel: &'a Cancel,
    /// From the first stop request until the job is killed: GitHub calls
    /// that would not finish within it are skipped.
    pub stop_budget: Duration,
    pub runner: &'a dyn Runner,
    /// The decision made again under the lock; `None` carries out the plan
    /// as given.
    pub recheck: Option<Recheck<'a>>,
    /// Whether another lease holder is known to be gone (GitHub says its
    /// workflow run is over), and why.
    pub holder_gone: &'a (dyn Fn(&Lease) -> Option<String> + Sync),
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
    /// What the reporting to GitHub reads: the status check's mode, the
    /// deployment environment, the command prefix and ttl for texts.
    pub config: &'a Config,
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
    /// The app whose stage this is, in a repository with `apps:`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub app: Option<AppName>,
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
    /// Things the user should know that are not problems (an app that
    /// keeps its own state).
    pub notes: Vec<String>,
    /// How a destroy that succeeded was checked.
    pub verification: Option<Verification>,
    /// What an app's deploy changed (or, for Alchemy v2, said it would).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub changes: Option<Changes>,
}

impl Report {
    /// A plan that leads nowhere: exit 0 with its reason.
    pub fn skipped(plan: &Plan) -> Self {
        Self {
            action: plan.action,
            stage: plan.stage.clone(),
            app: plan.app.clone(),
            result: Outcome::Skipped,
            message: plan.reason.clone(),
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

    pub fn exit_code(&self) -> u8 {
        match self.result {
            Outcome::Success | Outcome::Skipped => 0,
            Outcome::Failure => 1,
        }
    }
}

/// Executes a plan: a stage's under its lock (deploy, destroy, redeploy,
/// read, keep, the sweep's warning), or one that only answers on GitHub
/// (a comment's reply, an unlock, a skip's status). A comment's first
/// reaction and the checkout check come before anything else, its last
/// reaction after. An error is bad input found only under the lock (a
/// read of a stage the store does not hold); nothing was written then.
pub fn execute(plan: &Plan, rt: &Runtime<'_>) -> Result<Report, PlanError> {
    let mut replies = answer::Reactions::new(plan, rt);
    let mut report = match replies.before() {
        Err(refused) => *refused,
        Ok(()) => match plan.stage.clone().filter(|_| runs_stage(plan)) {
            Some(stage) => std::thread::scope(|scope| {
                let mut run = StageRun::new(rt, scope, plan.clone(), stage);
                if let Some(report) = run.steps()? {
                    return Ok(report);
                }
                Ok(run.finish())
            })?,
            None => answer::run(plan, rt),
        },
    };
    replies.after(&mut report);
    Ok(report)
}

fn runs_stage(plan: &Plan) -> bool {
    plan.action.locks_stage()
}

struct StageRun<'e, 's> {
    rt: &'e Runtime<'e>,
    scope: &'s Scope<'s, 'e>,
    plan: Plan,
    /// The stage Alchemy deploys.
    stage: Stage,
    /// Where the stage is stored and locked: the stage itself, or
    /// `<stage>@<app>` for an app's stage.
    key: StateKey,
    alchemy_dir: PathBuf,
    /// Fires with the process's own cancel, or when the lease is lost.
    cancel: Cancel,
    /// Renews the lease while the run works on the stage.
    keeper: Option<Keeper<'s>>,
    /// What the lock write left in the store.
    held: Option<Loaded>,
    /// The record as this run will leave it.
    record: Option<Record>,
    /// Where a pre-existing `.alchemy/` was set aside.
    aside: Option<PathBuf>,
    restored: bool,
    /// The stage's files as the lock found them, for what a deploy changed.
    before: BTreeMap<String, Vec<u8>>,
    /// The first lines of Alchemy's output, for v2's plan.
    head: Option<Head>,
    finished: Option<Finished>,
    /// The stage's files after the run.
    collected: Option<BTreeMap<String, Vec<u8>>>,
    collect_failed: bool,
    urls: Vec<NamedUrl>,
    remaining: Vec<String>,
    /// The run's first failure; only `always` steps run after it.
    failure: Option<StepError>,
    saved: bool,
    /// Why the run's state was not written: its lease was lost.
    lost: Option<String>,
    /// The GitHub deployment this run created.
    deployment: Option<u64>,
    /// Set after GitHub refused a write, or time ran out, so one refusal is
    /// one warning.
    forge_off: bool,
    warnings: Vec<String>,
    /// The resources a destroy started with.
    removed: Vec<String>,
    /// Set after GitHub refused a commit status, so one refusal is one
    /// message.
    statuses_off: bool,
    /// What the sticky comment says beyond the plan's sections (a keep's
    /// end).
    extra_sections: Vec<String>,
    /// Where a deploy found the stage's state.
    finding: Option<Finding>,
    verification: Option<Verification>,
    notes: Vec<String>,
}

impl<'e, 's> StageRun<'e, 's> {
    fn new(rt: &'e Runtime<'e>, scope: &'s Scope<'s, 'e>, plan: Plan, stage: Stage) -> Self {
        let key = StateKey {
            stage: stage.clone(),
            app: plan.app.clone(),
        };
        Self {
            rt,
            scope,
            plan,
            alchemy_dir: rt.app_dir.join(".alchemy"),
            stage,
            key,
            cancel: rt.cancel.child(),
            keeper: None,
            held: None,
            record: None,
            aside: None,
            restored: false,
            before: BTreeMap::new(),
            head: None,
            finished: None,
            collected: None,
            collect_failed: false,
            urls: Vec::new(),
            remaining: Vec::new(),
            failure: None,
            saved: false,
            lost: None,
            deployment: None,
            forge_off: false,
            warnings: Vec::new(),
            removed: Vec::new(),
            statuses_off: false,
            extra_sections: Vec::new(),
            finding: None,
            verification: None,
            notes: Vec::new(),
        }
    }

    /// Runs the steps; returns a report of its own when the decision under
    /// the lock was to do nothing.
    fn steps(&mut self) -> Result<Option<Report>, PlanError> {
        let mut i = 0;
        while let Some(step) = self.plan.steps.get(i).cloned() {
            i += 1;
            if self.failure.is_none() {
                if let Some(sig) = self.cancel.received() {
                    self.failure = Some(StepError::Stopped(self.stopped_by(sig)));
                }
            }
            if let (Some(_), StepKind::AcquireLock { .. }) = (&self.failure, &step.kind) {
                // Stopped before the stage was locked: nothing was touched.
                return Ok(None);
            }
            if self.failure.is_some() && !step.always {
                continue;
            }
            if let StepKind::AcquireLock { .. } = step.kind {
                match self.lock()? {
                    lock::Locked::Proceed => i = self.after_lock_step(i),
                    lock::Locked::Done(report) => return Ok(Some(*report)),
                    lock::Locked::Failed(e) => {
                        // Without the lock the run never held the stage:
                        // nothing to save, and the stage's comment is the
                        // holder's to write.
                        tracing::error!("{e}");
                        self.failure = Some(e);
                        return Ok(None);
                    }
                }
                continue;
            }
            match self.step(&step.kind) {
                Ok(()) => {}
                // GitHub never fails a run.
                Err(StepError::Forge { what, source }) => self.forge_warning(what, &source),
                Err(e) => {
                    tracing::error!("{e}");
                    if self.failure.is_none() {
                        self.failure = Some(e);
                    }
                }
            }
        }
        Ok(None)
    }

    /// Where to go on after the lock: the plan made under the lock may
    /// differ, so after its own lock step.
    fn after_lock_step(&self, next: usize) -> usize {
        self.plan
            .steps
            .iter()
            .position(|s| matches!(s.kind, StepKind::AcquireLock { .. }))
            .map_or(next, |p| p + 1)
    }

    fn stopped_by(&self, sig: i32) -> String {
        if sig == LEASE_LOST {
            let why = self
                .keeper
                .as_ref()
                .and_then(Keeper::lost)
                .unwrap_or_else(|| "the stage's lease was lost".into());
            format!("stopped: {why}")
        } else {
            format!("cancelled by {}", signal_name(sig))
        }
    }

    /// One step: each kind is a function of its own.
    fn step(&mut self, kind: &StepKind) -> Result<(), StepError> {
        match kind {
            StepKind::RestoreState { .. } => self.restore(),
            StepKind::RunAlchemy {
                phase, argv, env, ..
            } => self.run_alchemy(*phase, argv, env),
            StepKind::VerifyDestroyed { check, .. } => self.verify_destroyed(check.as_deref()),
            StepKind::SaveState { .. } => self.collect_state(),
            StepKind::CollectUrls { .. } => {
                self.collect_urls();
                Ok(())
            }
            StepKind::RefreshRecord { .. } => {
                self.refresh_record();
                Ok(())
            }
            StepKind::WriteRecord {
                on_success,
                on_failure,
                tombstone,
                ..
            } => self.write_record(*on_success, *on_failure, *tombstone),
            StepKind::ReleaseLock { .. } => self.save(),
            StepKind::Comment { status } => self.post_comment(*status),
            StepKind::CommentResult {
                on_success,
                on_failure,
            } => self.post_comment(if self.failure.is_none() {
                *on_success
            } else {
                *on_failure
            }),
            StepKind::CreateDeployment { environment } => self.create_deployment(environment),
            StepKind::DeploymentResult { environment } => self.deployment_result(environment),
            StepKind::DeactivateDeployments { environment } => {
                self.deactivate_deployments(environment)
            }
            StepKind::CommitStatus { phase } => self.commit_status(phase),
            StepKind::CommitStatusResult => self.commit_status_result(),
            StepKind::KeepPreview { keep } => {
                self.keep_preview(*keep);
                Ok(())
            }
            StepKind::MarkWarned { .. } => {
                self.mark_warned();
                Ok(())
            }
            StepKind::RefreshComment => self.refresh_comment(),
            // Before and after the stage's run, in `execute`; nothing to
            // do with the stage.
            StepKind::React { .. }
            | StepKind::ReactResult { .. }
            | StepKind::CheckCheckout { .. }
            | StepKind::HandOff { .. }
            | StepKind::Unlock { .. } => Ok(()),
            StepKind::AcquireLock { .. } => Err(StepError::Internal("the lock is taken once")),
            StepKind::ListStages { .. }
            | StepKind::ListOpenPullRequests
            | StepKind::SelectOrphans { .. }
            | StepKind::DestroyOrphans
            | StepKind::ShowStatus => Err(StepError::Internal("not a stage step")),
        }
    }

    /// The stage's files after Alchemy, for the save. Only a run that
    /// started can have changed the state: when it never started (a
    /// restore that broke half-way, a program that would not spawn), the
    /// working tree may hold a partial copy, and the stored files stay the
    /// truth.
    fn collect_state(&mut self) -> Result<(), StepError> {
        let Some(ok) = self.finished.as_ref().map(Finished::succeeded) else {
            return Ok(());
        };
        let ok = ok && self.failure.is_none();
        let files = self.collect()?;
        if self.plan.action.deploys() {
            self.found_state(&files, ok);
        }
        Ok(())
    }

    /// The stage's URLs: from its state, and the app's own outputs file.
    fn collect_urls(&mut self) {
        let outputs = self
            .rt
            .outputs_file
            .as_ref()
            .and_then(|p| workdir::read_outputs(&self.rt.app_dir.join(p)));
        self.urls = urls::collect(&self.final_files(), outputs.as_deref());
    }

    /// A read's record update: its URLs and time, nothing else.
    fn refresh_record(&mut self) {
        let (urls, now) = (self.urls.clone(), self.rt.clock.now());
        if let Some(r) = self.record.as_mut() {
            r.urls = urls;
            r.updated_at = now;
        }
    }

    /// A destroy counts only when no state is left: Alchemy exits 0 even
    /// when a delete fails.
    fn verify_destroyed(&mut self, check: Option<&[String]>) -> Result<(), StepError> {
        let left = self.collect()?;
        if left.is_empty() {
            return self.confirm_destroyed(check);
        }
        self.remaining = workdir::resource_names(&left);
        Err(StepError::NotDestroyed {
            stage: self.stage.clone(),
            remaining: self.remaining.clone(),
        })
    }

    fn run_alchemy(
        &mut self,
        phase: Phase,
        argv: &[String],
        env: &BTreeMap<String, crate::config::EnvValue>,
    ) -> Result<(), StepError> {
        let stage = self.stage.clone();
        let env =
            crate::config::resolve_env(env, &|k| std::env::var(k).ok()).map_err(StepError::Env)?;
        if self.wants_changes() {
            self.head = Some(Head::default());
        }
        let key = self.key.clone();
        let inv = Invocation {
            argv: argv.to_vec(),
            cwd: self.rt.app_dir.clone(),
            env,
            timeout: self.rt.timeout,
            grace: self.rt.grace,
            stdout_to_stderr: self.rt.stdout_to_stderr,
            actions_group: self
                .rt
                .actions
                .active
                .then(|| format!("Alchemy {phase} {key}")),
            head: self.head.clone(),
        };
        // A read changes no state; a deploy's or destroy's renewals save
        // the state as it stands, so a run killed outright loses little.
        if phase != Phase::Read {
            if let Some(k) = &self.keeper {
                let restored = self
                    .held
                    .as_ref()
                    .map(|h| h.snapshot.files.clone())
                    .unwrap_or_default();
                k.save_files_from(Some(workdir::file_source(
                    &self.alchemy_dir,
                    &stage,
                    &self.rt.flavor,
                    restored,
                )));
            }
        }
        let result = self.rt.runner.run(&inv, &self.cancel);
        if let Some(k) = &self.keeper {
            k.save_files_from(None);
        }
        let finished = result?;
        let ok = finished.succeeded();
        let what = finished.describe();
        self.finished = Some(finished);
        if ok {
            Ok(())
        } else {
            Err(StepError::AlchemyFailed {
                phase: phase_noun(phase),
                stage,
                what,
            })
        }
    }

    fn write_record(
        &mut self,
        on_success: crate::record::RecordStatus,
        on_failure: crate::record::RecordStatus,
        tombstone: bool,
    ) -> Result<(), StepError> {
        let failed = self.failure.is_some();
        let files = self.final_files();
        let now = self.rt.clock.now();
        let deploy = self.plan.action.deploys();
        let approval = self.plan.command.as_ref().and_then(|c| c.approval.clone());
        let (pr, commit, run_url) = (
            self.plan.pr,
            self.plan.commit.clone(),
            self.rt.run_url.clone(),
        );
        let (urls, error, remaining) = (
            self.urls.clone(),
            self.failure.as_ref().map(ToString::to_string),
            self.remaining.clone(),
        );
        let Some(r) = self.record.as_mut() else {
            return Err(StepError::Internal("no record to write"));
        };
        r.status = if failed { on_failure } else { on_success };
        r.updated_at = now;
        r.files = files.keys().cloned().collect();
        r.error = error;
        r.remaining = remaining;
        r.run_url = run_url;
        verification::update_record(
            r,
            self.finding.as_ref(),
            self.verification.as_ref(),
            self.plan.action == Action::Destroy && !failed,
        );
        if pr.is_some() {
            r.pr = pr;
        }
        if deploy {
            r.urls = urls;
            if commit.is_some() {
                r.head_sha = commit;
            }
            // Who approved this commit of a fork's, or nobody.
            r.approved = approval;
            // Resources may exist again: not a tombstone any more.
            r.closed_at = None;
            if !failed {
                r.deployed_at = Some(now);
            }
        } else if !failed {
            r.urls.clear();
            r.closed_at = tombstone.then_some(now);
        }
        Ok(())
    }

    fn finish(mut self) -> Report {
        let kept_locally = self.settle_working_tree();
        let log_tail = self
            .finished
            .as_ref()
            .filter(|f| !f.succeeded())
            .map(|f| f.tail.clone());
        let stage = self.stage.clone();
        let key = self.key.clone();
        let (result, message) = match &self.failure {
            None => (
                Outcome::Success,
                match self.plan.action {
                    Action::Destroy => self
                        .verification
                        .as_ref()
                        .map_or_else(|| format!("destroyed {key}"), |v| v.message(&key)),
                    Action::Read => format!("read {key}"),
                    Action::Redeploy => format!("redeployed {key} from scratch"),
                    Action::Keep => self.kept_message(),
                    Action::Warn => format!("warned on the PR that {stage}'s preview expires"),
                    _ => format!("deployed {key}"),
                },
            ),
            Some(f) => (Outcome::Failure, f.to_string()),
        };
        let changes = self.changes();
        Report {
            action: self.plan.action,
            stage: Some(stage),
            app: self.key.app.clone(),
            result,
            message,
            urls: std::mem::take(&mut self.urls),
            remaining: std::mem::take(&mut self.remaining),
            kept_locally,
            log_tail,
            warnings: std::mem::take(&mut self.warnings),
            notes: std::mem::take(&mut self.notes),
            verification: self.verification.take(),
            changes,
        }
    }
}

fn phase_noun(p: Phase) -> &'static str {
    match p {
        Phase::Deploy => "deploy",
        Phase::Destroy => "destroy",
        Phase::Read => "read",
    }
}
