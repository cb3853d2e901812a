//! Running the apps: the scheduler starts each app when what it waits on
//! is done, at most `max-parallel` at once, and each app's run is a single
//! stage's run: its plan made with its own configuration, carried out by
//! the executor (lease, decision made again under the lock, one final
//! write before any call to GitHub) in its own folder.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::Instant;

use super::super::run::result_line;
use super::super::session::Session;
use crate::apps::affected;
use crate::apps::order::{self, Direction, Done, Final, Outcome as AppOutcome, Scheduler};
use crate::apps::plan::{self as apps_plan, AppFacts, AppsPlan};
use crate::apps::spec::{AppName, Apps};
use crate::event::Event;
use crate::execute::{Outcome, Report};
use crate::github::comment::NamedUrl;
use crate::plan::{Action, Facts, Plan, PlanError, RecordFacts};
use crate::state::Snapshot;

/// How one app's run ended.
#[derive(Debug, Clone)]
pub enum AppResult {
    /// The executor ran its plan (which may have decided, under the lock,
    /// to do nothing).
    Ran(Box<Report>),
    /// It could not start: bad configuration found late, a program
    /// missing, the run cancelled.
    NotStarted(String),
}

impl AppResult {
    pub fn succeeded(&self) -> bool {
        matches!(self, Self::Ran(r) if r.result != Outcome::Failure)
    }
}

/// Everything the apps' runs share.
pub struct Work<'a> {
    pub session: &'a Session,
    pub event: &'a Event,
    pub facts: &'a Facts,
    pub app_facts: &'a AppFacts,
    pub plan: &'a AppsPlan,
    pub apps: &'a Apps,
    pub dirs: &'a BTreeMap<AppName, PathBuf>,
    pub results: Mutex<BTreeMap<AppName, AppResult>>,
    /// Kept apps redeployed because an app they read changed its URL, and
    /// that app.
    pub redeployed: Mutex<BTreeMap<AppName, AppName>>,
    /// One lock per folder: two apps in one folder would share `.alchemy/`.
    folders: BTreeMap<PathBuf, Mutex<()>>,
}

impl<'a> Work<'a> {
    pub fn new(
        session: &'a Session,
        event: &'a Event,
        facts: &'a Facts,
        app_facts: &'a AppFacts,
        plan: &'a AppsPlan,
        dirs: &'a BTreeMap<AppName, PathBuf>,
    ) -> Option<Self> {
        let apps = session.config.apps.as_ref()?;
        Some(Self {
            session,
            event,
            facts,
            app_facts,
            plan,
            apps,
            dirs,
            results: Mutex::new(BTreeMap::new()),
            redeployed: Mutex::new(BTreeMap::new()),
            folders: dirs.values().map(|d| (d.clone(), Mutex::new(()))).collect(),
        })
    }

    /// Runs the selected apps in order; how each ended.
    pub fn run(&self) -> Vec<(AppName, Final)> {
        let selected = self.plan.selected();
        let max = self.session.config.max_parallel;
        match Scheduler::new(self.apps, &selected, self.plan.direction, max) {
            Ok(s) => order::run(s, |app| self.one(app)),
            Err(e) => {
                tracing::error!("cannot schedule the apps: {e}");
                Vec::new()
            }
        }
    }

    /// One app: its run, and the kept apps that must now run after it.
    fn one(&self, app: &AppName) -> Done {
        let started = Instant::now();
        let result = self.run_app(app);
        let line = match &result {
            AppResult::Ran(r) => result_line(r, started.elapsed()),
            AppResult::NotStarted(why) => format!("✘ app {app}: {}", crate::render::term(why)),
        };
        self.session.say(&format!("{line}\n"));
        let outcome = if result.succeeded() {
            AppOutcome::Succeeded
        } else {
            AppOutcome::Failed
        };
        let also_run = match (&result, outcome) {
            (AppResult::Ran(r), AppOutcome::Succeeded) => self.also_run(app, &r.urls),
            _ => Vec::new(),
        };
        if let Ok(mut m) = self.results.lock() {
            m.insert(app.clone(), result);
        }
        Done { outcome, also_run }
    }

    /// The kept apps whose `from-app` value `app`'s deploy changed.
    fn also_run(&self, app: &AppName, after: &[NamedUrl]) -> Vec<AppName> {
        let Some(affected) = &self.plan.affected else {
            return Vec::new();
        };
        let before = self.recorded_urls(app).unwrap_or_default();
        let again = affected::redeploy_for_outputs(self.apps, affected, app, &before, after);
        if let Ok(mut m) = self.redeployed.lock() {
            for a in &again {
                m.insert(a.clone(), app.clone());
            }
        }
        again
    }

    fn recorded_urls(&self, app: &AppName) -> Option<Vec<NamedUrl>> {
        self.app_facts
            .records
            .as_ref()?
            .get(app)
            .map(|r| r.urls.clone())
    }

    /// The URLs an app's `from-app` reads of `dep`: what this run deployed,
    /// else what its record says.
    fn urls_of(&self, dep: &AppName) -> Option<Vec<NamedUrl>> {
        let ran = self.results.lock().ok().and_then(|m| match m.get(dep) {
            Some(AppResult::Ran(r))
                if r.action == Action::Deploy && r.result == Outcome::Success =>
            {
                Some(r.urls.clone())
            }
            _ => None,
        });
        ran.or_else(|| self.recorded_urls(dep))
    }

    fn run_app(&self, app: &AppName) -> AppResult {
        if let Some(sig) = self.session.cancel.received() {
            return AppResult::NotStarted(format!(
                "not started: the run was stopped by {}",
                crate::cancel::signal_name(sig)
            ));
        }
        let (Some(spec), Some(dir)) = (self.apps.get(app), self.dirs.get(app)) else {
            return AppResult::NotStarted(format!("there is no app named {app}"));
        };
        let env = match apps_plan::resolve_app_env(spec, &|dep| self.urls_of(dep), true) {
            Ok(env) => env,
            Err(why) => return AppResult::NotStarted(why),
        };
        let config = &self.session.config;
        let plan =
            match apps_plan::app_plan(self.event, config, self.facts, self.app_facts, spec, &env) {
                Ok(p) => p,
                Err(e) => return AppResult::NotStarted(e.to_string()),
            };
        if let Err(e) = self.session.preflight_in(&plan, dir) {
            return AppResult::NotStarted(e.to_string());
        }
        let app_config = apps_plan::app_config(config, spec, &env);
        let _folder = self.folders.get(dir).map(|m| m.lock());
        self.execute(app, &plan, &app_config, dir.clone())
    }

    /// A destroy of an app waits while an app that depends on it still
    /// has a stage (destroyed elsewhere out of order, or failed to go).
    fn not_before_dependants(&self, p: Plan, app: &AppName) -> Plan {
        let (Action::Destroy, Some(stage)) = (p.action, p.stage.clone()) else {
            return p;
        };
        let Some(d) = super::dependant_with_stage(self.session, app, &stage) else {
            return p;
        };
        let mut keep = crate::plan::skip(
            &p,
            &stage,
            p.pr,
            format!("kept: {d}, which depends on it, still has a stage; destroy {d} first (the sweep does it in order)"),
        );
        keep.app = Some(app.clone());
        keep
    }

    fn execute(
        &self,
        app: &AppName,
        plan: &Plan,
        app_config: &crate::config::Config,
        dir: PathBuf,
    ) -> AppResult {
        let detected = self
            .app_facts
            .alchemy
            .get(app)
            .cloned()
            .unwrap_or_else(|| self.session.alchemy.clone());
        let pr = plan.pr;
        let recheck = |replaced: &Snapshot| -> Result<Plan, PlanError> {
            let mut facts = self.session.facts();
            facts.alchemy = detected.clone();
            facts.record = Some(RecordFacts::of(replaced));
            facts.live_pr = pr.and_then(|n| self.session.live_pr(n));
            let p = apps_plan::decide_app(self.event, app_config, &facts, app)?;
            Ok(self.not_before_dependants(p, app))
        };
        let verb = match (plan.action, self.plan.direction) {
            (Action::Skip, _) => "SKIP",
            (_, Direction::Destroy) => "DESTROY",
            (Action::Read, _) => "READ",
            _ => "DEPLOY",
        };
        let key = plan
            .stage
            .as_ref()
            .map(|s| format!(" (stage {s}@{app})"))
            .unwrap_or_default();
        self.session.say(&format!("\n→ {verb} app {app}{key}\n"));
        match self
            .session
            .execute_in(plan, dir, detected.flavor.clone(), Some(&recheck))
        {
            Ok(r) => AppResult::Ran(Box::new(r)),
            Err(e) => AppResult::NotStarted(e.to_string()),
        }
    }
}
