//! What every command that touches the world shares: the resolved
//! configuration, the Actions runtime, signal handling, the state store,
//! GitHub, and how one stage's plan is executed.

use std::io::Write as _;
use std::path::PathBuf;
use std::time::Duration;

use secrecy::ExposeSecret;

use super::{run_context, var, CommandError, Env};
use crate::actions::Actions;
use crate::alchemy::{self, Detected};
use crate::cancel::Cancel;
use crate::config::{Config, StateStoreSpec};
use crate::event::Event;
use crate::execute::{self, ProcessRunner, Recheck, Report, Runtime};
use crate::github::client::{Client, RetryPolicy};
use crate::github::commands_api::PullHead;
use crate::github::forge::{Forge, GitHub};
use crate::plan::{self, Facts, Plan, PlanError, RecordFacts, RunContext, StepKind};
use crate::record::{Lease, RunRef};
use crate::stage::PrNumber;
use crate::state::dir::DirStore;
use crate::state::git::{GitStore, GitStoreOptions};
use crate::state::lease::{Holder, LeaseOptions};
use crate::state::{Snapshot, StateStore};
use crate::time::{SystemClock, Timestamp};

/// Between SIGTERM and SIGKILL when Alchemy is stopped.
pub const GRACE: Duration = Duration::from_secs(10);

/// The same under Actions, where a cancelled job gets SIGINT, then SIGTERM
/// some 7.5 s later, then is killed: Alchemy must stop early enough to leave
/// time for saving the state.
pub const ACTIONS_GRACE: Duration = Duration::from_secs(4);

/// From the first stop request to the kill of a cancelled job (about 10 s
/// under Actions), less a margin: GitHub calls that would end later are
/// skipped; the state is saved before any of them.
pub const STOP_BUDGET: Duration = Duration::from_secs(9);

/// A testing hook, not an input: shortens the lease's times so tests of
/// crashed and paused runs take seconds, e.g.
/// `ttl=6,renew=2,wait=30,poll=0.2,report=1` (seconds). See docs/state.md.
pub const LEASE_TEST_HOOK: &str = "ALCHEMY_CI_TEST_LEASE";

/// A testing hook, not an input: the time the run's clock reads when it
/// starts (`2026-11-23T13:22:25Z`), so tests of the ttl move days without
/// waiting. See docs/state.md.
pub const NOW_TEST_HOOK: &str = "ALCHEMY_CI_TEST_NOW";

pub struct Session {
    pub config: Config,
    pub env: Env,
    pub actions: Actions,
    pub cancel: Cancel,
    pub app_dir: PathBuf,
    pub store: Box<dyn StateStore>,
    pub forge: Option<GitHub>,
    pub run: RunContext,
    pub alchemy: Detected,
    /// stdout is for one JSON document: everything else goes to stderr.
    pub json: bool,
    pub lease: LeaseOptions,
    pub clock: SystemClock,
}

impl Session {
    /// Sets up everything a run needs, checking the configuration first.
    /// Secrets are masked before anything is printed.
    pub fn open(config: Config, env: &Env, event: &Event) -> Result<Self, CommandError> {
        Self::open_with(config, env, event, false)
    }

    /// [`Session::open`] for a command whose stdout is one JSON document
    /// when `json`: from the first mask on, nothing else is written there.
    pub fn open_with(
        config: Config,
        env: &Env,
        event: &Event,
        json: bool,
    ) -> Result<Self, CommandError> {
        // Caught from here on: a cancelled job must still save its state.
        let cancel = Cancel::install()
            .map_err(|e| CommandError::Failed(format!("cannot watch for signals: {e}")))?;
        let mut actions = Actions::from_env(env);
        if json {
            actions.commands_on_stderr();
        }
        for t in [&config.github_token, &config.state_token]
            .into_iter()
            .flatten()
        {
            actions.mask(t.expose_secret());
        }
        for name in &config.mask_env {
            if let Some(v) = var(env, name) {
                actions.mask(&v);
            }
        }
        let lease = lease_options(env)?;
        let clock = clock(env)?;
        let app_dir = app_dir(&config)?;
        let store = open_store(&config, env)?;
        let run = run_context(env, event);
        let forge = open_forge(&config, env, &run.repository)?;
        let alchemy = alchemy::detect(&config.alchemy_command, &app_dir);
        Ok(Self {
            config,
            env: env.clone(),
            actions,
            cancel,
            app_dir,
            store,
            forge,
            run,
            alchemy,
            json,
            lease,
            clock,
        })
    }

    /// Prints for people: stdout, or stderr when stdout is for JSON.
    pub fn say(&self, s: &str) {
        if self.json {
            let _ = std::io::stderr().write_all(s.as_bytes());
        } else {
            say(s);
        }
    }

    pub fn facts(&self) -> Facts {
        Facts {
            alchemy: self.alchemy.clone(),
            can_post: self.forge.is_some(),
            live_pr: None,
            record: None,
            run: self.run.clone(),
            commenter_permission: None,
            pull_head: None,
        }
    }

    pub fn forge(&self) -> Option<&dyn Forge> {
        self.forge.as_ref().map(|f| f as &dyn Forge)
    }

    /// GitHub for a call made after the stages were saved: none once a
    /// stop request leaves too little time before the job is killed, and
    /// calls that end by then otherwise.
    pub fn forge_in_time(&self) -> Option<&dyn Forge> {
        let forge = self.forge()?;
        if let Some(at) = self.cancel.received_at() {
            let deadline = at + STOP_BUDGET;
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            if left < Duration::from_secs(1) {
                tracing::warn!("skipping the remaining GitHub updates: the job is about to be stopped (the state was saved first)");
                return None;
            }
            forge.set_deadline(deadline);
        }
        Some(forge)
    }

    /// What can be checked before a stage is locked; see [`preflight`].
    pub fn preflight(&self, plan: &Plan) -> Result<(), CommandError> {
        preflight(plan, &self.app_dir, &self.env, &self.actions)
    }

    /// [`Session::preflight`] for a plan that runs in `app_dir` (an app's).
    pub fn preflight_in(&self, plan: &Plan, app_dir: &std::path::Path) -> Result<(), CommandError> {
        preflight(plan, app_dir, &self.env, &self.actions)
    }

    /// Executes a deploy, destroy or read plan in `app_dir` as planned;
    /// call [`Session::preflight`] on the plan first.
    pub fn execute(&self, plan: &Plan, app_dir: PathBuf) -> Result<Report, CommandError> {
        self.execute_with(plan, app_dir, None)
    }

    /// The decision made again under the stage's lock, from the record the
    /// lock write replaced and PR `pr`'s state read then.
    /// A comment's facts from before the lock are carried: the
    /// commenter's permission, and the head it approved.
    pub fn decide_again<'a>(
        &'a self,
        event: &'a Event,
        pr: Option<PrNumber>,
        before: &'a Facts,
    ) -> impl Fn(&Snapshot) -> Result<Plan, PlanError> + Sync + 'a {
        move |replaced: &Snapshot| {
            let mut facts = self.facts();
            facts.record = Some(RecordFacts::of(replaced));
            facts.live_pr = pr.and_then(|n| self.live_pr(n));
            facts.commenter_permission = before.commenter_permission;
            facts.pull_head.clone_from(&before.pull_head);
            plan::decide(event, &self.config, &facts)
        }
    }

    /// The PR's state as GitHub reports it now, or `None` (said in the log)
    /// when it cannot be read.
    pub fn live_pr(&self, n: PrNumber) -> Option<plan::LivePr> {
        match self.forge()?.pull(n) {
            Ok(live) => Some(live),
            Err(e) => {
                let msg = format!("could not look up PR #{n}: {e}");
                tracing::warn!("{msg}");
                self.actions.warning(&msg);
                None
            }
        }
    }

    /// The PR's head, state, fork-ness and labels as GitHub reports them
    /// now, or `None` (said in the log) when they cannot be read.
    pub fn pull_head(&self, n: PrNumber) -> Option<PullHead> {
        match self.forge()?.pull_head(n) {
            Ok(head) => Some(head),
            Err(e) => {
                let msg = format!("could not look up PR #{n}: {e}");
                tracing::warn!("{msg}");
                self.actions.warning(&msg);
                None
            }
        }
    }

    /// Whether GitHub says a lease holder's workflow run is over.
    pub fn holder_gone(&self, lease: &Lease) -> Option<String> {
        let run = lease.run.as_ref()?;
        if self.run.repository.as_deref() != Some(run.repository.as_str()) {
            return None;
        }
        match self.forge()?.workflow_run(run.id) {
            Ok(w) if w.status == "completed" => Some(format!(
                "GitHub says its workflow run {} is completed ({})",
                run.id,
                w.conclusion.as_deref().unwrap_or("no conclusion")
            )),
            Ok(w) if w.run_attempt.is_some_and(|a| a > run.attempt) => Some(format!(
                "GitHub says workflow run {} is on attempt {}, so attempt {} has ended",
                run.id,
                w.run_attempt.unwrap_or_default(),
                run.attempt
            )),
            Ok(_) => None,
            Err(e) => {
                tracing::warn!("could not ask GitHub about workflow run {}: {e}", run.id);
                None
            }
        }
    }

    /// This process as a lease holder: its workflow run when under Actions.
    pub fn holder(&self) -> Holder {
        let run = match (&self.run.repository, var(&self.env, "GITHUB_RUN_ID")) {
            (Some(repository), Some(id)) => id.parse().ok().map(|id| RunRef {
                repository: repository.clone(),
                id,
                attempt: var(&self.env, "GITHUB_RUN_ATTEMPT")
                    .and_then(|a| a.parse().ok())
                    .unwrap_or(1),
            }),
            _ => None,
        };
        Holder::for_this_process(run, self.run.run_url())
    }

    /// [`Session::execute`], deciding again under the lock with `recheck`.
    pub fn execute_with(
        &self,
        plan: &Plan,
        app_dir: PathBuf,
        recheck: Option<Recheck<'_>>,
    ) -> Result<Report, CommandError> {
        self.execute_in(plan, app_dir, self.alchemy.flavor.clone(), recheck)
    }

    /// [`Session::execute_with`] for an app of its own flavour of Alchemy.
    pub fn execute_in(
        &self,
        plan: &Plan,
        app_dir: PathBuf,
        flavor: alchemy::Flavor,
        recheck: Option<Recheck<'_>>,
    ) -> Result<Report, CommandError> {
        let run_url = self.run.run_url();
        let gone = |l: &Lease| self.holder_gone(l);
        let rt = Runtime {
            store: self.store.as_ref(),
            holder: self.holder(),
            lease: self.lease.clone(),
            clock: &self.clock,
            stop_budget: STOP_BUDGET,
            runner: &ProcessRunner,
            recheck,
            holder_gone: &gone,
            app_dir,
            flavor,
            timeout: self.config.timeout,
            grace: if self.actions.active {
                ACTIONS_GRACE
            } else {
                GRACE
            },
            cancel: &self.cancel,
            actions: &self.actions,
            outputs_file: self.config.outputs_file.clone(),
            run_url,
            repo_url: self.run.repo_url(),
            forge: self.forge(),
            stdout_to_stderr: self.json,
            config: &self.config,
        };
        Ok(execute::execute(plan, &rt)?)
    }
}

/// The lease's times: the defaults, or what the testing hook
/// [`LEASE_TEST_HOOK`] sets.
fn lease_options(env: &Env) -> Result<LeaseOptions, CommandError> {
    let mut o = LeaseOptions::default();
    let Some(hook) = var(env, LEASE_TEST_HOOK) else {
        return Ok(o);
    };
    let bad = |m: String| CommandError::Usage(format!("{LEASE_TEST_HOOK}: {m}"));
    for pair in hook.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (k, v) = pair
            .split_once('=')
            .ok_or_else(|| bad(format!("expected name=seconds, got {pair:?}")))?;
        let secs: f64 = v
            .trim()
            .parse()
            .ok()
            .filter(|s: &f64| s.is_finite() && *s > 0.0 && *s < 1e6)
            .ok_or_else(|| bad(format!("{k}: {v:?} is not a number of seconds")))?;
        let d = Duration::from_secs_f64(secs);
        match k.trim() {
            "ttl" => o.ttl = d,
            "renew" => o.renew_every = d,
            "wait" => o.wait = d,
            "poll" => o.poll = d,
            "report" => o.report_every = d,
            other => return Err(bad(format!("unknown setting {other:?}"))),
        }
    }
    Ok(o)
}

/// The machine's clock, or the time the testing hook [`NOW_TEST_HOOK`]
/// sets.
fn clock(env: &Env) -> Result<SystemClock, CommandError> {
    let Some(at) = var(env, NOW_TEST_HOOK) else {
        return Ok(SystemClock::default());
    };
    let start = Timestamp::parse(at.trim()).ok_or_else(|| {
        CommandError::Usage(format!(
            "{NOW_TEST_HOOK}: {at:?} is not a UTC time like 2026-11-23T13:22:25Z"
        ))
    })?;
    Ok(SystemClock::starting_at(start))
}

/// The GitHub client, when there is a token. Without one, runs still work
/// and the plan says once that nothing will be posted.
fn open_forge(
    config: &Config,
    env: &Env,
    repository: &Option<String>,
) -> Result<Option<GitHub>, CommandError> {
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
        .map_err(|e| CommandError::Usage(e.to_string()))?;
    GitHub::new(client, repo)
        .map(|g| Some(g.with_comment_author(config.comment_author.clone())))
        .map_err(|e| CommandError::Usage(e.to_string()))
}

/// The app's folder, which must exist: a typo here would otherwise show up
/// as a confusing Alchemy error after the stage was locked.
fn app_dir(config: &Config) -> Result<PathBuf, CommandError> {
    let wd = &config.working_directory;
    let abs = std::path::absolute(wd)
        .map_err(|e| CommandError::Usage(format!("working-directory {}: {e}", wd.display())))?;
    if !abs.is_dir() {
        return Err(CommandError::Usage(format!(
            "working-directory {} is not a folder",
            wd.display()
        )));
    }
    Ok(abs)
}

fn open_store(config: &Config, env: &Env) -> Result<Box<dyn StateStore>, CommandError> {
    match &config.state_store {
        StateStoreSpec::Dir(p) => Ok(Box::new(DirStore::new(p))),
        StateStoreSpec::S3 { bucket, prefix } => {
            use crate::state::s3::{Credentials, S3Location, S3Options, S3Store};
            let location = S3Location {
                bucket: bucket.clone(),
                prefix: prefix.clone(),
            };
            let credentials = Credentials::from_env(|k| var(env, k)).map_err(|message| {
                crate::state::StoreError::Auth {
                    store: location.to_string(),
                    message,
                }
            })?;
            // The input, else what aws-actions/configure-aws-credentials exports.
            let region = config
                .s3_region
                .clone()
                .or_else(|| var(env, "AWS_REGION"))
                .or_else(|| var(env, "AWS_DEFAULT_REGION"))
                .unwrap_or_else(|| "us-east-1".into());
            let store = S3Store::open(S3Options {
                location,
                endpoint: config.s3_endpoint.clone(),
                region,
                credentials,
            })?;
            Ok(Box::new(store))
        }
        StateStoreSpec::Git => {
            let server =
                var(env, "GITHUB_SERVER_URL").unwrap_or_else(|| "https://github.com".into());
            let url = match (&config.state_repo, var(env, "GITHUB_REPOSITORY")) {
                (Some(r), _) if r.contains("://") => r.clone(),
                (Some(r), _) => format!("{}/{r}.git", server.trim_end_matches('/')),
                (None, Some(r)) => format!("{}/{r}.git", server.trim_end_matches('/')),
                (None, None) => {
                    return Err(CommandError::Usage(
                        "state-store git needs a repository: set GITHUB_REPOSITORY or the state-repo input".into(),
                    ))
                }
            };
            let token = config
                .state_token
                .clone()
                .or_else(|| config.github_token.clone());
            let store = GitStore::new(GitStoreOptions {
                url,
                token,
                ref_prefix: config.state_ref_prefix.clone(),
            })
            .map_err(|e| CommandError::Usage(e.to_string()))?;
            Ok(Box::new(store))
        }
    }
}

/// Checks what can be checked before the stage is locked: the program
/// exists and every variable the config file takes from the environment is
/// set. Secret ones are masked before Alchemy can print them.
fn preflight(
    plan: &Plan,
    app_dir: &std::path::Path,
    env: &Env,
    actions: &Actions,
) -> Result<(), CommandError> {
    for step in &plan.steps {
        if let StepKind::RunAlchemy {
            argv, env: vars, ..
        } = &step.kind
        {
            // Another app's URL is known only once that app is deployed.
            let vars: std::collections::BTreeMap<_, _> = vars
                .iter()
                .filter(|(_, v)| !matches!(v, crate::config::EnvValue::FromApp { .. }))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect();
            let resolved =
                crate::config::resolve_env(&vars, &|k| var(env, k)).map_err(CommandError::Usage)?;
            for (k, v) in &vars {
                if let (crate::config::EnvValue::FromEnv { secret: true, .. }, Some(value)) =
                    (v, resolved.get(k))
                {
                    actions.mask(value);
                }
            }
            let inv = alchemy::process::Invocation {
                argv: argv.clone(),
                cwd: app_dir.to_path_buf(),
                env: resolved,
                timeout: GRACE,
                grace: GRACE,
                actions_group: None,
                stdout_to_stderr: false,
                head: None,
            };
            alchemy::process::resolve_program(&inv)
                .map_err(|e| CommandError::Failed(e.to_string()))?;
        }
    }
    Ok(())
}

pub fn say(s: &str) {
    let mut o = std::io::stdout().lock();
    let _ = o.write_all(s.as_bytes());
    let _ = o.flush();
}
