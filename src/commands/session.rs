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
use crate::execute::{self, Report, Runtime};
use crate::github::client::{Client, RetryPolicy};
use crate::github::forge::{Forge, GitHub};
use crate::plan::{Facts, Plan, RecordFacts, RunContext, StepKind};
use crate::record::RecordStatus;
use crate::state::dir::DirStore;
use crate::state::git::{GitStore, GitStoreOptions};
use crate::state::lease::{Holder, LeaseOptions};
use crate::state::{Snapshot, StateStore};

/// Between SIGTERM and SIGKILL when Alchemy is stopped.
pub const GRACE: Duration = Duration::from_secs(10);

/// The same under Actions, where a cancelled job gets SIGINT, then SIGTERM
/// some 7.5 s later, then is killed: Alchemy must stop early enough to leave
/// time for saving the state.
pub const ACTIONS_GRACE: Duration = Duration::from_secs(4);

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
        }
    }

    pub fn forge(&self) -> Option<&dyn Forge> {
        self.forge.as_ref().map(|f| f as &dyn Forge)
    }

    /// What can be checked before a stage is locked; see [`preflight`].
    pub fn preflight(&self, plan: &Plan) -> Result<(), CommandError> {
        preflight(plan, &self.app_dir, &self.env, &self.actions)
    }

    /// Executes a deploy, destroy or read plan in `app_dir`; call
    /// [`Session::preflight`] on the plan first.
    pub fn execute(&self, plan: &Plan, app_dir: PathBuf) -> Result<Report, CommandError> {
        let run_url = self.run.run_url();
        let holder = Holder::for_this_process(
            var(&self.env, "GITHUB_RUN_ID").as_deref(),
            var(&self.env, "GITHUB_RUN_ATTEMPT").as_deref(),
            run_url.clone(),
        );
        let rt = Runtime {
            store: self.store.as_ref(),
            holder,
            lease: LeaseOptions {
                // The lease must outlive the longest run it protects.
                ttl: self.config.timeout + GRACE + Duration::from_secs(10 * 60),
                ..LeaseOptions::default()
            },
            app_dir,
            flavor: self.alchemy.flavor.clone(),
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
        };
        Ok(execute::execute(plan, &rt))
    }
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

/// What the store says about a stage, as the decision needs it.
pub fn record_facts(s: &Snapshot) -> RecordFacts {
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
            let resolved =
                crate::config::resolve_env(vars, &|k| var(env, k)).map_err(CommandError::Usage)?;
            for (k, v) in vars {
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
