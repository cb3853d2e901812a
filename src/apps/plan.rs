//! The plan of a run in a repository with `apps:`, made from the same
//! policy as a single app's: the event's decision is [`plan::decide`]'s,
//! and so is each app's, made with the app's own configuration
//! ([`app_config`]) and carried out (and made again under the app's lock)
//! by the same executor. What this adds: which apps the run acts on and
//! why ([`super::affected`]), in which order ([`super::order`]), and the
//! comment that lists them all. Pure: the facts come in, the plan comes
//! out.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::Serialize;

use super::affected::{self, Affected, ChangedFiles, Force, Presence, Verdict};
use super::comment::{self, AppRow, AppStatus, PrComment};
use super::order::{Direction, Scheduler};
use super::spec::{App, AppEnv, AppName, Apps};
use crate::alchemy::Detected;
use crate::config::{Command, Config, EnvValue};
use crate::event::{CommitSha, Event, Payload};
use crate::github::comment::NamedUrl;
use crate::plan::{self, Action, Facts, Plan, PlanError, RecordFacts, StepKind};
use crate::record::{Record, RecordStatus};
use crate::stage::PrNumber;

/// What the run knows of the apps besides the event and the configuration.
#[derive(Debug, Clone, Default)]
pub struct AppFacts {
    /// The files the pull request (or push) changes; read for deploys.
    pub changed: Option<ChangedFiles>,
    /// For each commit a deployed app's preview was made from: the files
    /// changed between it and the commit this event deploys, when they
    /// could be read.
    pub since: BTreeMap<CommitSha, ChangedFiles>,
    /// The record of each app's stage, as read before any lock; `None`
    /// when the store was not read (simulate).
    pub records: Option<BTreeMap<AppName, Record>>,
    /// Each app's Alchemy, as found in its folder.
    pub alchemy: BTreeMap<AppName, Detected>,
    /// The records are what the user said (simulate's `--deployed`), not
    /// what a store holds: they carry no commit or time worth showing.
    pub assumed: bool,
}

/// Why an app is, or is not, part of the run: the `affected` verdict of
/// a deploy, or what a destroy or read found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Selection {
    /// The run acts on it.
    Acts { why: String },
    /// Left as it is: its row shows its last status.
    Kept { why: String },
    /// Never deployed for this stage and untouched.
    NotAffected,
}

/// A run over the apps.
#[derive(Debug, Clone, Serialize)]
pub struct AppsPlan {
    /// The event's decision, the same as a single app's: action, stage,
    /// reason, pull request, warnings. Its own steps are the apps'.
    pub event: Plan,
    pub direction: Direction,
    /// A request for one app or every app, whatever the changed files.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub force: Option<Force>,
    /// The affected-apps decision of a deploy.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub affected: Option<Affected>,
    /// Every app, in list order, and what the run does with it.
    #[serde(serialize_with = "selection_objects")]
    pub selection: Vec<(AppName, Selection)>,
    /// The apps the run acts on, level by level as they start (an app
    /// starts once everything it waits on is done).
    pub order: Vec<Vec<AppName>>,
    /// The plan of each app the run acts on, in start order.
    pub apps: Vec<Plan>,
    /// What the reader must know about how the apps were chosen.
    pub notes: Vec<String>,
    /// The comment the PR gets when the run starts.
    pub comment_preview: Option<String>,
}

fn selection_objects<S: serde::Serializer>(
    v: &[(AppName, Selection)],
    s: S,
) -> Result<S::Ok, S::Error> {
    #[derive(Serialize)]
    struct Row<'a> {
        app: &'a AppName,
        #[serde(flatten)]
        selection: &'a Selection,
    }
    s.collect_seq(v.iter().map(|(app, selection)| Row { app, selection }))
}

impl AppsPlan {
    /// The apps the run acts on, in list order.
    pub fn selected(&self) -> Vec<AppName> {
        self.selection
            .iter()
            .filter(|(_, s)| matches!(s, Selection::Acts { .. }))
            .map(|(a, _)| a.clone())
            .collect()
    }

    pub fn plan_of(&self, app: &AppName) -> Option<&Plan> {
        self.apps.iter().find(|p| p.app.as_ref() == Some(app))
    }
}

/// Decides the run: the event's decision, then which apps it acts on,
/// their order and each app's plan. Errors are bad input (exit 2).
pub fn decide(
    event: &Event,
    config: &Config,
    facts: &Facts,
    app_facts: &AppFacts,
) -> Result<AppsPlan, PlanError> {
    let base = event_decision(event, config, facts)?;
    decide_apps(event, config, facts, base, app_facts)
}

/// The event's decision: [`plan::decide`] about the stage as a whole
/// (each app's record is judged by that app's own plan, and again under
/// its lock), without a single app's steps.
pub fn event_decision(event: &Event, config: &Config, facts: &Facts) -> Result<Plan, PlanError> {
    let event_facts = Facts {
        record: Some(RecordFacts::Present {
            status: RecordStatus::Deployed,
            tombstone: false,
        }),
        ..facts.clone()
    };
    let mut base = plan::decide(event, config, &event_facts)?;
    // A skip keeps its steps: a pull request that needs no preview still
    // gets its commit status.
    if base.action != Action::Skip {
        base.steps.clear();
    }
    base.comment_preview = None;
    base.alchemy = None;
    Ok(base)
}

/// The apps the event's decision `base` acts on, their order and plans.
pub fn decide_apps(
    event: &Event,
    config: &Config,
    facts: &Facts,
    base: Plan,
    app_facts: &AppFacts,
) -> Result<AppsPlan, PlanError> {
    let apps = config.apps.as_ref().ok_or(PlanError::NoApps)?;
    let force = force(event, config, apps)?;
    let (direction, affected, selection, mut notes) = match base.action {
        Action::Deploy => deploy_selection(apps, app_facts, force.as_ref())?,
        Action::Destroy => gone_selection(apps, app_facts, force.as_ref(), Action::Destroy),
        Action::Read => gone_selection(apps, app_facts, force.as_ref(), Action::Read),
        _ => (Direction::Deploy, None, Vec::new(), Vec::new()),
    };
    if app_facts.records.is_none() && !selection.is_empty() {
        notes.push(
            "which apps already have a stage was not read from the store here: a run reads it"
                .into(),
        );
    }
    let acting: Vec<AppName> = selection
        .iter()
        .filter(|(_, s)| matches!(s, Selection::Acts { .. }))
        .map(|(a, _)| a.clone())
        .collect();
    let order = start_order(apps, &acting, direction);
    let mut plans = Vec::new();
    for app in order.iter().flatten() {
        let Some(spec) = apps.get(app) else { continue };
        let env = env_before_run(apps, spec, app_facts.records.as_ref());
        let mut p = app_plan(event, config, facts, app_facts, spec, &env)?;
        // Said once for the run, not once per app.
        p.unchecked.retain(|u| !base.unchecked.contains(u));
        plans.push(p);
    }
    let mut out = AppsPlan {
        event: base,
        direction,
        force,
        affected,
        selection,
        order,
        apps: plans,
        notes,
        comment_preview: None,
    };
    out.comment_preview = comment_preview(&out, config, facts, app_facts);
    Ok(out)
}

/// A request for one app (the `app` input, or a `workflow_dispatch`'s
/// `app` input) or, for an explicit command, every app.
pub fn force(event: &Event, config: &Config, apps: &Apps) -> Result<Option<Force>, PlanError> {
    if let Some(app) = &config.app {
        return Ok(Some(Force::App(app.clone())));
    }
    let mut requested = config.command != Command::Auto;
    if let Payload::WorkflowDispatch(d) = &event.payload {
        requested = requested
            || d.inputs
                .get("command")
                .is_some_and(|c| !c.trim().is_empty());
        if let Some(name) = d
            .inputs
            .get("app")
            .map(|a| a.trim())
            .filter(|a| !a.is_empty())
        {
            let bad = |message: String| PlanError::DispatchInput {
                input: "app",
                message,
            };
            let app = AppName::parse(name).map_err(bad)?;
            if apps.get(&app).is_none() {
                return Err(bad(format!(
                    "there is no app named {app} (apps: {})",
                    names(apps)
                )));
            }
            return Ok(Some(Force::App(app)));
        }
    }
    Ok(requested.then_some(Force::All))
}

fn names(apps: &Apps) -> String {
    apps.iter()
        .map(|a| a.name.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

type Selected = (
    Direction,
    Option<Affected>,
    Vec<(AppName, Selection)>,
    Vec<String>,
);

/// A deploy: the apps the changed files (or a force) touch, and those
/// they need; the others kept or not affected. A deployed app whose files
/// did not change since its preview was made is kept, even when the pull
/// request touches it (a later push touched only other apps).
fn deploy_selection(
    apps: &Apps,
    app_facts: &AppFacts,
    force: Option<&Force>,
) -> Result<Selected, PlanError> {
    let unknown = ChangedFiles::Unknown {
        why: "they were not looked up".into(),
    };
    let changed = app_facts.changed.as_ref().unwrap_or(&unknown);
    let deployed: BTreeMap<AppName, Presence> = app_facts
        .records
        .iter()
        .flatten()
        .filter_map(|(app, r)| presence(r).map(|p| (app.clone(), p)))
        .collect();
    let since: BTreeMap<AppName, ChangedFiles> = app_facts
        .records
        .iter()
        .flatten()
        .filter(|(_, r)| r.status == RecordStatus::Deployed)
        .filter_map(|(a, r)| {
            let files = app_facts.since.get(r.head_sha.as_ref()?)?;
            Some((a.clone(), files.clone()))
        })
        .collect();
    let decided = affected::decide_push(
        &affected::Inputs {
            apps,
            changed,
            deployed: &deployed,
            force,
        },
        Some(&affected::Since { files: &since }),
    )
    .map_err(|e| PlanError::Apps(e.to_string()))?;
    let selection = decided
        .apps
        .iter()
        .map(|(app, v)| {
            let pr_touches = match changed {
                ChangedFiles::Known { files } => apps
                    .get(app)
                    .is_some_and(|a| files.iter().any(|f| a.paths.is_match(f))),
                _ => false,
            };
            let deployed_at = app_facts
                .records
                .as_ref()
                .and_then(|r| r.get(app))
                .and_then(|r| r.head_sha.as_ref());
            let s = match (v, deployed_at) {
                (Verdict::Keep { .. }, Some(at)) if pr_touches => Selection::Kept {
                    why: format!(
                        "untouched since its preview was deployed from {}",
                        at.short()
                    ),
                },
                _ => verdict_selection(v),
            };
            (app.clone(), s)
        })
        .collect();
    let notes = decided.notes.clone();
    Ok((Direction::Deploy, Some(decided), selection, notes))
}

/// Whether an app's stage is there for the affected-apps decision: live
/// (deployed), or holding what a failed or interrupted run left.
pub fn presence(r: &Record) -> Option<Presence> {
    match r.status {
        RecordStatus::Deployed => Some(Presence::Deployed),
        RecordStatus::Destroyed => None,
        RecordStatus::Deploying
        | RecordStatus::Failed
        | RecordStatus::Destroying
        | RecordStatus::DestroyFailed => Some(Presence::Failed),
    }
}

fn verdict_selection(v: &Verdict) -> Selection {
    match v {
        Verdict::Deploy { because } => Selection::Acts {
            why: because_text(because),
        },
        Verdict::Forced => Selection::Acts {
            why: "deployed on request".into(),
        },
        Verdict::Keep { last } => Selection::Kept {
            why: match last {
                Presence::Deployed => "untouched by this change".into(),
                Presence::Failed => "untouched by this change (its last deploy failed)".into(),
            },
        },
        Verdict::NotAffected => Selection::NotAffected,
    }
}

/// Why an app deploys, in a few words.
pub fn because_text(b: &affected::Because) -> String {
    use affected::Because;
    match b {
        Because::Path { file, pattern } => format!("{file} matched {pattern}"),
        Because::TooManyFiles => "more changed files than GitHub lists".into(),
        Because::FilesUnknown => "the changed files are not known".into(),
        Because::NeededBy { app } => format!("needed by {app}"),
    }
}

/// A destroy or a read: every app whose stage holds something (or the one
/// requested); without the records, every app.
fn gone_selection(
    apps: &Apps,
    app_facts: &AppFacts,
    force: Option<&Force>,
    action: Action,
) -> Selected {
    let direction = match action {
        Action::Destroy => Direction::Destroy,
        _ => Direction::Deploy,
    };
    let selection = apps
        .iter()
        .map(|app| {
            let wanted = match force {
                Some(Force::App(one)) => one == &app.name,
                _ => true,
            };
            let record = app_facts.records.as_ref().map(|r| r.get(&app.name));
            let s = match (wanted, record) {
                (false, Some(Some(_))) => Selection::Kept {
                    why: "not requested".into(),
                },
                (false, _) => Selection::NotAffected,
                (true, None) => Selection::Acts {
                    why: acts_why(action, force),
                },
                (true, Some(None)) => Selection::NotAffected,
                (true, Some(Some(r))) => gone_record(r, action, force),
            };
            (app.name.clone(), s)
        })
        .collect();
    (direction, None, selection, Vec::new())
}

fn acts_why(action: Action, force: Option<&Force>) -> String {
    match (action, force) {
        (Action::Destroy, Some(Force::App(_))) => "destroyed on request".into(),
        (Action::Destroy, _) => "it has a stage here".into(),
        _ => "read on request".into(),
    }
}

/// What a destroy or read does with an app that has a record.
fn gone_record(r: &Record, action: Action, force: Option<&Force>) -> Selection {
    let done = r.status == RecordStatus::Destroyed && r.files.is_empty();
    match action {
        Action::Destroy if done => Selection::Kept {
            why: "already destroyed".into(),
        },
        Action::Read if r.status != RecordStatus::Deployed => Selection::Kept {
            why: format!("not deployed ({})", r.status),
        },
        _ => Selection::Acts {
            why: acts_why(action, force),
        },
    }
}

/// The apps of `acting` level by level, as the scheduler would start them
/// with no bound on parallelism.
pub fn start_order(apps: &Apps, acting: &[AppName], direction: Direction) -> Vec<Vec<AppName>> {
    let Ok(mut s) = Scheduler::new(apps, acting, direction, usize::MAX) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    loop {
        let level = s.start();
        if level.is_empty() {
            break;
        }
        for app in &level {
            let _ = s.finish(app, super::order::Outcome::Succeeded);
        }
        out.push(level);
    }
    out
}

/// An app's variables before the run: `from-app` values of apps kept as
/// they are come from their records; the others wait for the run.
pub fn env_before_run(
    apps: &Apps,
    app: &App,
    records: Option<&BTreeMap<AppName, Record>>,
) -> BTreeMap<String, EnvValue> {
    let known = |dep: &AppName| -> Option<Vec<NamedUrl>> {
        let _ = apps.get(dep)?;
        records?.get(dep).map(|r| r.urls.clone())
    };
    resolve_app_env(app, &|dep| known(dep), false).unwrap_or_default()
}

/// An app's `env` as variables: `from-app` values looked up with `urls`
/// (the dependency's URLs, when known). With `strict`, a URL that cannot
/// be found is an error naming the variable; otherwise it stays a
/// [`EnvValue::FromApp`] placeholder.
pub fn resolve_app_env(
    app: &App,
    urls: &dyn Fn(&AppName) -> Option<Vec<NamedUrl>>,
    strict: bool,
) -> Result<BTreeMap<String, EnvValue>, String> {
    let mut out = BTreeMap::new();
    for (name, value) in &app.env {
        let v = match value {
            AppEnv::Value(v) => v.clone(),
            AppEnv::FromApp { app: dep, output } => {
                let found = urls(dep);
                match found
                    .as_deref()
                    .and_then(|u| super::spec::output_url(output, u))
                {
                    Some(url) => EnvValue::Plain(url.to_owned()),
                    None if strict => {
                        return Err(missing_url(name, dep, output, found.as_deref()));
                    }
                    None => EnvValue::FromApp {
                        app: dep.to_string(),
                        output: output.clone(),
                    },
                }
            }
        };
        out.insert(name.clone(), v);
    }
    Ok(out)
}

fn missing_url(name: &str, dep: &AppName, output: &str, urls: Option<&[NamedUrl]>) -> String {
    match urls {
        None => format!("{name}: app {dep} has no deployed stage to read its {output} from"),
        Some([]) => format!("{name}: app {dep} has no URL to read its {output} from"),
        Some(u) => {
            let names: Vec<&str> = u.iter().map(|n| n.resource.as_str()).collect();
            format!(
                "{name}: app {dep} has no URL named {output:?} (its URLs: url, {})",
                names.join(", ")
            )
        }
    }
}

/// The configuration one app runs with: its folder, Alchemy command and
/// profile, its variables on top of the stage's, no comment of its own
/// (the run's comment lists every app), and no commit status of its own:
/// `alchemy-ci/preview` is one status per commit, which apps posting in
/// turn would overwrite.
pub fn app_config(config: &Config, app: &App, env: &BTreeMap<String, EnvValue>) -> Config {
    let mut c = config.clone();
    c.working_directory = PathBuf::from(&app.working_directory);
    if let Some(cmd) = &app.alchemy_command {
        c.alchemy_command = cmd.clone();
    }
    if let Some(p) = &app.profile {
        c.profile = Some(p.clone());
    }
    if !env.is_empty() {
        // `*` matches every stage, and the last entry wins.
        c.stage_env.push(("*".into(), env.clone()));
    }
    c.comment = false;
    c.status_check = crate::config::StatusCheck::Off;
    c.app = None;
    c
}

/// One app's plan: [`plan::decide`] with the app's configuration and the
/// app's own facts, under its key `<stage>@<app>`.
pub fn app_plan(
    event: &Event,
    config: &Config,
    facts: &Facts,
    app_facts: &AppFacts,
    app: &App,
    env: &BTreeMap<String, EnvValue>,
) -> Result<Plan, PlanError> {
    let c = app_config(config, app, env);
    let mut f = facts.clone();
    if let Some(d) = app_facts.alchemy.get(&app.name) {
        f.alchemy = d.clone();
    }
    if let Some(records) = &app_facts.records {
        f.record = Some(match records.get(&app.name) {
            Some(r) => RecordFacts::Present {
                status: r.status,
                tombstone: r.is_tombstone(),
            },
            None => RecordFacts::Missing,
        });
    }
    decide_app(event, &c, &f, &app.name)
}

/// [`plan::decide`] for one app, with its configuration and facts: what
/// the run makes again under the app's lock.
pub fn decide_app(
    event: &Event,
    app_config: &Config,
    facts: &Facts,
    app: &AppName,
) -> Result<Plan, PlanError> {
    let mut p = plan::decide(event, app_config, facts)?;
    p.app = Some(app.clone());
    // Its deployments go where an app's stage's go (`pr-7@api` in a
    // template with `{stage}`).
    if let Some(stage) = &p.stage {
        let key = crate::state::StateKey::app(stage.clone(), app.clone());
        let env = app_config.deployment_environment.environment(&key);
        for s in &mut p.steps {
            if let StepKind::CreateDeployment { environment }
            | StepKind::DeploymentResult { environment }
            | StepKind::DeactivateDeployments { environment } = &mut s.kind
            {
                environment.clone_from(&env);
            }
        }
    }
    Ok(p)
}

/// The comment the PR gets when the run starts, when one is posted.
fn comment_preview(
    p: &AppsPlan,
    config: &Config,
    facts: &Facts,
    app_facts: &AppFacts,
) -> Option<String> {
    let pr = comment_pr(p).filter(|_| facts.can_post && config.comment)?;
    if p.apps.is_empty() {
        return None;
    }
    let starting = match p.direction {
        Direction::Deploy if p.event.action == Action::Read => AppStatus::Deployed,
        Direction::Deploy => AppStatus::Deploying,
        Direction::Destroy => AppStatus::Destroying,
    };
    let stage = p.event.stage.as_ref()?;
    let mut rows = start_rows(p, app_facts, &starting);
    if app_facts.assumed {
        for r in &mut rows {
            r.updated_at = None;
        }
    }
    let repo_url = facts.run.repo_url();
    let run_url = facts.run.run_url();
    let sha = p.event.commit.as_ref();
    let view: Vec<AppRow<'_>> = rows.iter().map(|r| r.view(sha)).collect();
    Some(comment::render(&PrComment {
        pr: Some(pr),
        stage,
        repo_url: repo_url.as_deref(),
        run_url: run_url.as_deref(),
        notes: &p.notes,
        rows: &view,
    }))
}

/// One app's row, owning what it shows.
#[derive(Debug, Clone)]
pub struct RowData {
    pub app: AppName,
    pub status: AppStatus,
    pub why: Option<String>,
    pub urls: Vec<NamedUrl>,
    /// The commit the row shows; `None` takes the run's.
    pub sha: Option<crate::event::CommitSha>,
    pub updated_at: Option<String>,
    pub changes: Option<super::changes::Changes>,
    pub log_tail: Option<String>,
}

impl RowData {
    pub fn new(app: &AppName, status: AppStatus) -> Self {
        Self {
            app: app.clone(),
            status,
            why: None,
            urls: Vec::new(),
            sha: None,
            updated_at: None,
            changes: None,
            log_tail: None,
        }
    }

    /// The row of an app left as it is, from its record.
    pub fn kept(app: &AppName, r: &Record, why: Option<String>) -> Self {
        Self {
            why,
            urls: r.urls.clone(),
            sha: r.head_sha.clone(),
            updated_at: Some(r.updated_at.human()),
            ..Self::new(app, AppStatus::Unchanged { last: r.status })
        }
    }

    /// The borrowed form the comment renders; `run_sha` for a row that
    /// shows this run's commit.
    pub fn view<'a>(&'a self, run_sha: Option<&'a crate::event::CommitSha>) -> AppRow<'a> {
        let own_sha = matches!(
            self.status,
            AppStatus::Unchanged { .. } | AppStatus::NotAffected
        );
        AppRow {
            app: &self.app,
            status: self.status.clone(),
            why: self.why.as_deref(),
            urls: &self.urls,
            sha: if own_sha {
                self.sha.as_ref()
            } else {
                self.sha.as_ref().or(run_sha)
            },
            updated_at: self.updated_at.as_deref(),
            changes: self.changes.as_ref(),
            log_tail: self.log_tail.as_deref(),
        }
    }
}

/// The rows when the run starts: the apps it acts on `starting`, the
/// others as they are.
pub fn start_rows(p: &AppsPlan, app_facts: &AppFacts, starting: &AppStatus) -> Vec<RowData> {
    p.selection
        .iter()
        .map(|(app, s)| {
            let record = app_facts.records.as_ref().and_then(|r| r.get(app));
            match (s, record) {
                (Selection::Acts { why }, r) => RowData {
                    why: Some(why.clone()),
                    // While it deploys, the previous URLs still serve.
                    urls: r.map(|r| r.urls.clone()).unwrap_or_default(),
                    ..RowData::new(app, starting.clone())
                },
                (Selection::Kept { why }, Some(r)) => RowData::kept(app, r, Some(why.clone())),
                (Selection::Kept { why }, None) => RowData {
                    why: Some(why.clone()),
                    ..RowData::new(app, AppStatus::NotAffected)
                },
                (Selection::NotAffected, _) => RowData::new(app, AppStatus::NotAffected),
            }
        })
        .collect()
}

/// The PR whose comment lists the apps: the event's, or the one a PR
/// stage named by a command belongs to.
pub fn comment_pr(p: &AppsPlan) -> Option<PrNumber> {
    p.event.pr
}
