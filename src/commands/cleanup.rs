//! `alchemy-ci cleanup` and the `schedule` event: find every preview stage
//! that should no longer exist and destroy it the way a close event would.
//! The listing only nominates stages: each destroy takes the stage's lock
//! and judges the stage again from its record and its PR as they are then.
//! The stages of apps (`<stage>@<app>`) are swept the same way, the apps
//! of one stage in reverse dependency order (`apps.rs`).

mod apps;

use std::collections::{BTreeSet, VecDeque};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use serde_json::json;

use super::session::{say, Session};
use super::CommandError;
use crate::cleanup::{self, Candidate, OpenPulls, Policy, Verdict};
use crate::config::FlagValues;
use crate::execute::{Outcome, Report};
use crate::plan::{self, Plan, PlanError};
use crate::record::{Record, RecordStatus};
use crate::stage::Stage;
use crate::state::{Snapshot, StateKey};
use crate::time::Clock as _;

/// Where the sweep's extra workers run, inside the app's folder so that
/// state a worker could not save stays in the workspace for later steps.
pub const WORKERS_DIR: &str = ".alchemy-ci-workers";

#[derive(Debug, Default, Clone)]
pub struct SweepOptions {
    /// List what would happen; change nothing.
    pub dry_run: bool,
    /// Print the stages to destroy as a GitHub Actions matrix and stop.
    pub matrix: bool,
    /// Non-PR stages the user names for sweeping.
    pub include: BTreeSet<Stage>,
}

#[derive(Default)]
struct Outcomes {
    destroyed: Vec<StateKey>,
    /// Warned, on the PR, that their previews expire.
    warned: Vec<StateKey>,
    failed: Vec<(StateKey, String)>,
    forgotten: Vec<StateKey>,
    /// Judged again under the stage's lock and kept, with why.
    kept: Vec<(StateKey, String)>,
}

/// `alchemy-ci cleanup`.
#[derive(Debug, Clone, Default)]
pub struct CleanupArgs {
    /// List each candidate with its reason and change nothing.
    pub dry_run: bool,
    /// Print the stages to destroy as a matrix and stop.
    pub matrix: bool,
    /// Non-PR stages to sweep too.
    pub include: Vec<String>,
    pub flags: FlagValues,
}

/// `alchemy-ci cleanup`, run by hand or from a workflow.
pub fn command(args: &CleanupArgs, env: &super::Env) -> Result<u8, CommandError> {
    let mut config = super::load_config(&args.flags, env)?;
    let include = args
        .include
        .iter()
        .map(|s| {
            Stage::parse(s, &config.stage_prefix)
                .map_err(|e| CommandError::Usage(format!("--include: {e}")))
        })
        .collect::<Result<_, _>>()?;
    config.command = crate::config::Command::Cleanup;
    let event = super::manual_event("cleanup", env);
    // With --matrix, stdout is the matrix alone: a workflow captures it.
    let session = Session::open_with(config, env, &event, args.matrix)?;
    let plan = plan::decide(&event, &session.config, &session.facts())?;
    let opts = SweepOptions {
        dry_run: args.dry_run,
        matrix: args.matrix,
        include,
    };
    sweep(&session, &plan, &opts)
}

pub fn sweep(session: &Session, plan: &Plan, opts: &SweepOptions) -> Result<u8, CommandError> {
    let (records, open) = gather(session)?;
    let config = &session.config;
    let policy = Policy {
        prefix: &config.stage_prefix,
        protected: &config.protected_stages,
        named: &opts.include,
        ttl: config.ttl,
        warning: config.ttl_warning,
        keep_label: config.keep_label.as_deref(),
        tombstone_retention: config.tombstone_retention,
        now: session.clock.now(),
    };
    let candidates = cleanup::select_keys(&records, &open, &policy, config.apps.as_ref());
    if opts.matrix {
        // The fan-out's jobs only destroy: the warnings are posted here, or
        // a preview would wait for its warning forever.
        let mut outcomes = Outcomes::default();
        warn_all(session, plan, &policy, &candidates, &mut outcomes);
        return Ok(print_matrix(session, &candidates));
    }
    say(&candidates_table(&candidates, records.len(), open.len()));
    if opts.dry_run {
        say("Dry run: nothing was destroyed, written or posted.\n");
        return Ok(0);
    }
    let outcomes = remove(session, plan, &policy, &candidates, &records);
    Ok(publish(session, &candidates, &outcomes))
}

type Records = Vec<(StateKey, Result<Option<Record>, String>)>;

/// Every stage's record (apps' stages too) and the open pull requests: one
/// listing of each for the whole sweep, however many stages.
fn gather(session: &Session) -> Result<(Records, OpenPulls), CommandError> {
    let forge = session.forge().ok_or_else(|| {
        CommandError::Usage(
            "cleanup needs a GitHub token (github-token) to list the open pull requests".into(),
        )
    })?;
    let records = session
        .store
        .key_records()?
        .into_iter()
        .map(|(s, r)| (s, r.map_err(|e| e.to_string())))
        .collect();
    let open = forge
        .open_pulls()
        .map_err(|e| CommandError::Failed(e.to_string()))?
        .into_iter()
        .map(|p| (p.number, p.labels))
        .collect();
    Ok((records, open))
}

/// The stages to destroy as a GitHub Actions matrix, on stdout and as the
/// `matrix` output: `{stage}` for a stage, `{app, stage}` for an app's.
fn print_matrix(session: &Session, candidates: &[Candidate]) -> u8 {
    let include: Vec<_> = candidates
        .iter()
        .filter(|c| c.verdict == Verdict::Destroy)
        .map(|c| match &c.app {
            None => json!({ "stage": c.stage }),
            Some(app) => json!({ "app": app, "stage": c.stage }),
        })
        .collect();
    let matrix = json!({ "include": include }).to_string();
    if let Err(e) = session.actions.set_outputs(&[("matrix", matrix.clone())]) {
        tracing::warn!("could not write the matrix output: {e}");
    }
    say(&format!("{matrix}\n"));
    0
}

/// Forgets expired tombstones and destroys the stages to destroy.
fn remove(
    session: &Session,
    plan: &Plan,
    policy: &Policy<'_>,
    candidates: &[Candidate],
    records: &Records,
) -> Outcomes {
    let mut outcomes = Outcomes::default();
    for c in candidates.iter().filter(|c| c.verdict == Verdict::Forget) {
        match forget(session, &c.key()) {
            Ok(true) => outcomes.forgotten.push(c.key()),
            Ok(false) => {}
            Err(e) => outcomes.failed.push((c.key(), e)),
        }
    }
    warn_all(session, plan, policy, candidates, &mut outcomes);
    let to_destroy: Vec<&Candidate> = candidates
        .iter()
        .filter(|c| c.verdict == Verdict::Destroy)
        .collect();
    for (stage, report) in destroy_all(session, plan, policy, &to_destroy, records) {
        match report {
            Ok(r) if r.result == Outcome::Success => outcomes.destroyed.push(stage),
            Ok(r) if r.result == Outcome::Skipped => outcomes.kept.push((stage, r.message)),
            Ok(r) => {
                let kept = r
                    .kept_locally
                    .map(|p| {
                        format!(
                            " (its state could not be saved and is left in {})",
                            p.display()
                        )
                    })
                    .unwrap_or_default();
                outcomes
                    .failed
                    .push((stage, format!("{}{kept}", r.message)));
            }
            Err(e) => outcomes.failed.push((stage, e.to_string())),
        }
    }
    outcomes
}

/// Posts the sweep's warnings of expiries, one stage at a time.
fn warn_all(
    session: &Session,
    plan: &Plan,
    policy: &Policy<'_>,
    candidates: &[Candidate],
    outcomes: &mut Outcomes,
) {
    for c in candidates.iter().filter(|c| c.verdict == Verdict::Warn) {
        let stage = c.key();
        match warn_one(session, plan, policy, c) {
            Ok(r) if r.result == Outcome::Success && r.action == crate::plan::Action::Warn => {
                outcomes.warned.push(stage);
            }
            Ok(r) if r.result == Outcome::Success => outcomes.destroyed.push(stage),
            Ok(r) if r.result == Outcome::Skipped => outcomes.kept.push((stage, r.message)),
            Ok(r) => outcomes.failed.push((stage, r.message)),
            Err(e) => outcomes.failed.push((stage, e.to_string())),
        }
    }
}

/// The sweep's summary, step outputs and exit code.
fn publish(session: &Session, candidates: &[Candidate], outcomes: &Outcomes) -> u8 {
    let summary = results_markdown(candidates, outcomes);
    say(&format!("\n{summary}"));
    if let Err(e) = session.actions.summary(&summary) {
        tracing::warn!("could not write the job summary: {e}");
    }
    let result = if outcomes.failed.is_empty() {
        "success"
    } else {
        "failure"
    };
    let outputs = [
        ("stage", String::new()),
        ("action", "cleanup".to_owned()),
        ("result", result.to_owned()),
        ("url", String::new()),
        ("urls", "[]".to_owned()),
    ];
    if let Err(e) = session.actions.set_outputs(&outputs) {
        tracing::warn!("could not write the step outputs: {e}");
    }
    if outcomes.failed.is_empty() {
        return 0;
    }
    let msg = format!(
        "the sweep could not remove {} stage(s)",
        outcomes.failed.len()
    );
    session.actions.error(&msg);
    super::print_error(&msg);
    1
}

/// Removes an expired tombstone, if it is still one when looked at under
/// compare-and-swap: a stage redeployed meanwhile is left alone.
fn forget(session: &Session, stage: &StateKey) -> Result<bool, String> {
    let loaded = session.store.load(stage).map_err(|e| e.to_string())?;
    let still_tombstone = loaded.snapshot.files.is_empty()
        && loaded
            .snapshot
            .record
            .as_ref()
            .is_some_and(|r| r.status == RecordStatus::Destroyed && r.lock.is_none());
    if !still_tombstone {
        return Ok(false);
    }
    session
        .store
        .remove(stage, &loaded.version)
        .map(|()| true)
        .map_err(|e| e.to_string())
}

/// Destroys each stage through the same path as a close event, at most
/// `max-parallel` at once. Each extra worker runs a single app's stages in
/// its own shadow of the app folder, because a run owns the app's
/// `.alchemy/` while it runs; the apps of one stage are one job, destroyed
/// in reverse dependency order, each app in its own folder, never two
/// runs in one folder at once.
fn destroy_all(
    session: &Session,
    sweep: &Plan,
    policy: &Policy<'_>,
    stages: &[&Candidate],
    records: &Records,
) -> Vec<(StateKey, Result<Report, CommandError>)> {
    let jobs = jobs(stages);
    let work = Work {
        session,
        sweep,
        policy,
        records,
        folders: apps::folders(session),
        queue: Mutex::new(jobs.into_iter().collect()),
        results: Mutex::new(Vec::new()),
    };
    let workers = session.config.max_parallel.min(stages.len()).max(1);
    std::thread::scope(|scope| {
        for worker in 0..workers {
            let work = &work;
            scope.spawn(move || work.run(worker));
        }
    });
    let mut out = work.results.into_inner().unwrap_or_default();
    out.sort_by(|a, b| a.0.cmp(&b.0));
    // A cancelled sweep reports what it did not get to.
    if let Ok(rest) = work.queue.into_inner() {
        for c in rest.iter().flat_map(Job::candidates) {
            out.push((
                c.key(),
                Err(CommandError::Failed(
                    "not attempted: the sweep was cancelled".into(),
                )),
            ));
        }
    }
    out
}

/// What one worker takes at a time: a stage, or every app's stage of one
/// stage (destroyed in order).
enum Job<'a> {
    Stage(&'a Candidate),
    Apps(Vec<&'a Candidate>),
}

impl<'a> Job<'a> {
    fn candidates(&self) -> Vec<&'a Candidate> {
        match self {
            Self::Stage(c) => vec![*c],
            Self::Apps(cs) => cs.clone(),
        }
    }
}

/// The candidates as jobs: each stage alone, the apps of a stage together.
fn jobs<'a>(stages: &[&'a Candidate]) -> Vec<Job<'a>> {
    let mut out: Vec<Job<'a>> = Vec::new();
    for c in stages {
        if c.app.is_none() {
            out.push(Job::Stage(c));
            continue;
        }
        let same = out.iter_mut().find_map(|j| match j {
            Job::Apps(cs) if cs.first().is_some_and(|f| f.stage == c.stage) => Some(cs),
            _ => None,
        });
        match same {
            Some(cs) => cs.push(c),
            None => out.push(Job::Apps(vec![c])),
        }
    }
    out
}

/// What the sweep's workers share: the jobs left, and what became of
/// those done.
struct Work<'a> {
    session: &'a Session,
    sweep: &'a Plan,
    policy: &'a Policy<'a>,
    /// Every stored key's record, from the listing: an app's `from-app`
    /// values come from its dependencies' records.
    records: &'a Records,
    /// One lock per app folder, shared by the workers.
    folders: std::collections::BTreeMap<PathBuf, Mutex<()>>,
    queue: Mutex<VecDeque<Job<'a>>>,
    results: Mutex<Vec<(StateKey, Result<Report, CommandError>)>>,
}

impl<'a> Work<'a> {
    /// One worker: takes jobs off the queue until it is empty or the
    /// sweep is cancelled. Worker 0 works in the app itself; the others in
    /// shadows of it, made when they first need one.
    fn run(&self, worker: usize) {
        let app = &self.session.app_dir;
        let mut dir: Option<PathBuf> = (worker == 0).then(|| app.clone());
        let stages = self
            .queue
            .lock()
            .is_ok_and(|q| q.iter().any(|j| matches!(j, Job::Stage(_))));
        if dir.is_none() && stages {
            dir = self.fresh_dir(worker);
            if dir.is_none() {
                return;
            }
        }
        loop {
            if self.session.cancel.received().is_some() {
                break;
            }
            let next = self.queue.lock().ok().and_then(|mut q| q.pop_front());
            let c = match next {
                None => break,
                Some(Job::Apps(cs)) => {
                    let done = apps::destroy_stage(self, &cs);
                    if let Ok(mut r) = self.results.lock() {
                        r.extend(done);
                    }
                    continue;
                }
                Some(Job::Stage(c)) => c,
            };
            if dir.is_none() {
                dir = self.fresh_dir(worker);
            }
            let Some(d) = dir.clone() else {
                self.push_back(Job::Stage(c));
                return;
            };
            let report = destroy_one(self.session, self.sweep, self.policy, c, &d);
            let kept = report.as_ref().is_ok_and(|r| r.kept_locally.is_some());
            if let Ok(mut r) = self.results.lock() {
                r.push((c.key(), report));
            }
            if kept {
                // That folder holds state that could not be saved: it stays
                // as it is, where the report says, and the worker goes on
                // in a fresh one.
                if d != *app {
                    tracing::error!(
                        "the sweep worker's folder {} is kept: it holds state that could not be saved",
                        d.display()
                    );
                }
                dir = self.fresh_dir(worker);
                if dir.is_none() {
                    return;
                }
            }
        }
        if let Some(d) = dir.filter(|d| d != app) {
            remove_shadow(app, &d);
        }
    }

    /// A job this worker cannot do goes back for another.
    fn push_back(&self, job: Job<'a>) {
        if let Ok(mut q) = self.queue.lock() {
            q.push_front(job);
        }
    }

    fn fresh_dir(&self, worker: usize) -> Option<PathBuf> {
        shadow_app(&self.session.app_dir, worker)
            .map_err(|e| {
                tracing::warn!("worker {worker}: cannot make a copy of the app folder: {e}")
            })
            .ok()
    }
}

/// One stage's destroy, judged again under its lock: the listing is
/// minutes old by now, and the PR may have been reopened or pushed to.
fn destroy_one(
    session: &Session,
    sweep: &Plan,
    policy: &Policy<'_>,
    c: &Candidate,
    dir: &Path,
) -> Result<Report, CommandError> {
    let config = &session.config;
    let found = plan::SweepFinding {
        reason: c.reason.clone(),
        expired: None,
    };
    let plan = plan::sweep_destroy(sweep, config, &session.facts(), &c.stage, c.pr, &found);
    say(&format!(
        "\n→ DESTROY stage {} because {}\n",
        c.stage, c.reason
    ));
    let recheck = |replaced: &Snapshot| judge_again(session, sweep, policy, c, replaced);
    session.preflight(&plan)?;
    let started = std::time::Instant::now();
    let report = session.execute_with(&plan, dir.to_path_buf(), Some(&recheck));
    // One line per stage as it ends: a sweep of many stages shows progress.
    let line = match &report {
        Ok(r) => super::run::result_line(r, started.elapsed()),
        Err(e) => format!("✘ {}: {}", c.key(), crate::render::term(&e.to_string())),
    };
    say(&format!("{line}\n"));
    report
}

/// The sweep's verdict on one stage made again under its lock, from its
/// record and its PR (state and labels) read then.
fn judge_again(
    session: &Session,
    sweep: &Plan,
    policy: &Policy<'_>,
    c: &Candidate,
    replaced: &Snapshot,
) -> Result<Plan, PlanError> {
    let mut facts = session.facts();
    if let Some(n) = c.pr {
        facts.pull_head = session.pull_head(n);
        facts.live_pr = facts.pull_head.as_ref().map(|h| plan::LivePr {
            open: h.open,
            head_sha: h.sha.clone(),
        });
    }
    let now = Policy {
        now: session.clock.now(),
        ..policy.clone()
    };
    Ok(cleanup::recheck(
        sweep,
        &session.config,
        &facts,
        c,
        replaced,
        &now,
    ))
}

/// The sweep's warning of an expiry: recorded under the stage's lock,
/// judged again there (a push or a keep since the listing cancels it, an
/// expiry already due removes the preview), then written into the PR's
/// comment.
fn warn_one(
    session: &Session,
    sweep: &Plan,
    policy: &Policy<'_>,
    c: &Candidate,
) -> Result<Report, CommandError> {
    let config = &session.config;
    let (Some(at), Some(texts)) = (c.removes_at, cleanup::ttl_texts(config)) else {
        return Ok(Report::skipped(&plan::skip(
            sweep,
            &c.stage,
            c.pr,
            "nothing to warn of".into(),
        )));
    };
    let warning = crate::ttl::warning_markdown(&texts, at);
    let plan = plan::sweep_warn(sweep, config, &c.stage, c.pr, at, warning);
    // Through the session: with --matrix, stdout is the matrix alone.
    session.say(&format!(
        "\n→ WARN stage {} because it {}\n",
        c.stage, c.reason
    ));
    let recheck = |replaced: &Snapshot| judge_again(session, sweep, policy, c, replaced);
    session.preflight(&plan)?;
    let started = std::time::Instant::now();
    let report = session.execute_with(&plan, session.app_dir.clone(), Some(&recheck));
    let line = match &report {
        Ok(r) => super::run::result_line(r, started.elapsed()),
        Err(e) => format!("✘ {}: {}", c.stage, crate::render::term(&e.to_string())),
    };
    session.say(&format!("{line}\n"));
    report
}

/// A folder that looks like the app (every entry linked) but has its own
/// `.alchemy/`: `<app>/.alchemy-ci-workers/worker-<n>-<random>`.
fn shadow_app(app: &Path, worker: usize) -> std::io::Result<PathBuf> {
    let dir = app
        .join(WORKERS_DIR)
        .join(format!("worker-{worker}-{:08x}", fastrand::u32(..)));
    std::fs::create_dir_all(&dir)?;
    for entry in std::fs::read_dir(app)? {
        let entry = entry?;
        let name = entry.file_name();
        let skip = name.to_str().is_some_and(|n| {
            n == ".alchemy" || n == WORKERS_DIR || n.starts_with(".alchemy.set-aside")
        });
        if !skip {
            std::os::unix::fs::symlink(entry.path(), dir.join(&name))?;
        }
    }
    Ok(dir)
}

/// Removes a worker's folder that holds nothing worth keeping.
fn remove_shadow(app: &Path, dir: &Path) {
    if let Err(e) = std::fs::remove_dir_all(dir) {
        tracing::warn!("could not remove {}: {e}", dir.display());
    }
    // Only when no other worker's folder is left in it.
    let _ = std::fs::remove_dir(app.join(WORKERS_DIR));
}

fn candidates_table(candidates: &[Candidate], stages: usize, open: usize) -> String {
    let mut out = format!("Sweep of {stages} stage(s); {open} pull request(s) are open\n");
    for c in candidates {
        let verdict = match c.verdict {
            Verdict::Destroy => "destroy",
            Verdict::Forget => "forget",
            Verdict::Warn => "warn",
            Verdict::Keep => "keep",
        };
        let _ = writeln!(
            out,
            "  {:<24} {verdict:<8} {}",
            c.key().to_string(),
            crate::render::term(&c.reason)
        );
    }
    out
}

fn results_markdown(candidates: &[Candidate], o: &Outcomes) -> String {
    let mut out =
        String::from("### alchemy-ci sweep\n\n| Stage | Found | Result |\n|---|---|---|\n");
    for c in candidates {
        let key = c.key();
        let result = if o.destroyed.contains(&key) {
            "✅ destroyed".to_owned()
        } else if o.warned.contains(&key) {
            "⏳ warned on the pull request".to_owned()
        } else if o.forgotten.contains(&key) {
            "🗑️ tombstone removed".to_owned()
        } else if let Some((_, why)) = o.failed.iter().find(|(s, _)| *s == key) {
            format!("❌ failed: {}", crate::github::markdown::text(why))
        } else if let Some((_, why)) = o.kept.iter().find(|(s, _)| *s == key) {
            crate::github::markdown::text(why)
        } else {
            "kept".to_owned()
        };
        let _ = writeln!(
            out,
            "| `{key}` | {} | {result} |",
            crate::github::markdown::text(&c.reason)
        );
    }
    let _ = writeln!(
        out,
        "\n{} found · {} destroyed · {} warned · {} failed · {} kept\n",
        candidates.len(),
        o.destroyed.len(),
        o.warned.len(),
        o.failed.len(),
        candidates.len() - o.destroyed.len() - o.failed.len() - o.forgotten.len() - o.warned.len()
    );
    out
}
