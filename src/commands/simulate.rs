//! `alchemy-ci simulate`: the plan for an event, and nothing else. No
//! network, no writes, no child processes: facts a run would look up come
//! from flags or stay unknown, and the plan says which.

use std::io::Write as _;

use super::{load_inputs, run_context, CommandError, Env, EventArgs};
use crate::config::FlagValues;
use crate::event::{CommitSha, Payload};
use crate::github::commands_api::PullHead;
use crate::plan::{self, Facts, LivePr, RecordFacts};
use crate::pr_command::permission::Permission;
use crate::record::RecordStatus;
use crate::{alchemy, render};

/// `alchemy-ci simulate`: the event, the input flags, and the facts a run
/// would look up, as far as they are given.
#[derive(Debug, Clone, Default)]
pub struct SimulateArgs {
    pub event: EventArgs,
    /// The plan as one JSON object.
    pub json: bool,
    /// Plan as if no token were at hand.
    pub no_token: bool,
    /// The PR's live state: open (`true`) or closed.
    pub pr_open: Option<bool>,
    /// The PR's live head, when not the event's.
    pub pr_head: Option<String>,
    /// The stage's stored record: its status, or `None` for no record.
    pub record: Option<Option<RecordStatus>>,
    /// A comment command's author's permission, as GitHub would report it.
    pub commenter_permission: Option<Permission>,
    /// The PR's head lives in a fork (with `pr_open`).
    pub pr_fork: bool,
    /// With apps: the files the pull request changes, when given.
    pub changed: Vec<String>,
    /// With apps: the apps already deployed for the stage.
    pub deployed: Vec<String>,
    pub flags: FlagValues,
}

pub fn simulate(args: &SimulateArgs, env: &Env) -> Result<(), CommandError> {
    let (event, config) = load_inputs(&args.event, &args.flags, env)?;
    let head = match &event.payload {
        Payload::PullRequest(pr) => Some(pr.head_sha.clone()),
        _ => None,
    };
    let live_pr = match args.pr_open {
        None => None,
        Some(open) => {
            let head_sha = match &args.pr_head {
                Some(s) => CommitSha::parse(s).ok_or_else(|| {
                    CommandError::Usage(format!("--pr-head: {s:?} is not a commit SHA"))
                })?,
                None => head.ok_or_else(|| {
                    CommandError::Usage(
                        "--pr-state needs --pr-head for an event without a pull request".into(),
                    )
                })?,
            };
            Some(LivePr { open, head_sha })
        }
    };
    // A comment's payload has no head: what a run reads from GitHub.
    let pull_head = match (&event.payload, &live_pr) {
        (Payload::IssueComment(_), Some(live)) => Some(PullHead {
            sha: live.head_sha.clone(),
            open: live.open,
            draft: false,
            from_fork: args.pr_fork,
            labels: Vec::new(),
        }),
        _ => None,
    };
    let facts = Facts {
        alchemy: alchemy::detect(&config.alchemy_command, &config.working_directory),
        can_post: !args.no_token,
        live_pr,
        record: args.record.map(record_facts),
        run: run_context(env, &event),
        commenter_permission: args.commenter_permission,
        pull_head,
    };
    if config.apps.is_some() {
        return simulate_apps(args, &event, &config, &facts);
    }
    if !args.changed.is_empty() || !args.deployed.is_empty() {
        return Err(CommandError::Usage(
            "--changed and --deployed are for apps, and no apps are configured".into(),
        ));
    }
    let plan = plan::decide(&event, &config, &facts)?;

    let text = if args.json {
        let mut s = render::json(&plan);
        s.push('\n');
        s
    } else {
        render::plan(&plan)
    };
    print(args, text);
    Ok(())
}

/// Prints the plan and what simulate assumed.
fn print(args: &SimulateArgs, mut text: String) {
    if !args.json {
        text.push('\n');
        if !args.no_token {
            text.push_str("Assumed: a GitHub token, as in Actions (github-token defaults to the workflow's token); --no-token plans without one.\n");
        }
        text.push_str("Simulation only: nothing was run, written or posted.\n");
    }
    // A closed pipe (`| head`) is not an error worth a message.
    let _ = std::io::stdout().write_all(text.as_bytes());
}

/// The plan of a run over the apps: which are affected by the changed
/// files given (`--changed`), which are deployed already (`--deployed`).
fn simulate_apps(
    args: &SimulateArgs,
    event: &crate::event::Event,
    config: &crate::config::Config,
    facts: &Facts,
) -> Result<(), CommandError> {
    use crate::apps::affected::ChangedFiles;
    use crate::apps::plan::{self as apps_plan, AppFacts};
    use crate::apps::spec::AppName;
    let apps = config.apps.as_ref().ok_or(plan::PlanError::NoApps)?;
    let changed = if args.changed.is_empty() {
        ChangedFiles::Unknown {
            why: "simulate does not look them up; pass --changed PATH for each".into(),
        }
    } else {
        ChangedFiles::Known {
            files: args.changed.clone(),
        }
    };
    let mut records = std::collections::BTreeMap::new();
    for name in &args.deployed {
        let app = AppName::parse(name)
            .ok()
            .filter(|a| apps.get(a).is_some())
            .ok_or_else(|| {
                CommandError::Usage(format!("--deployed: there is no app named {name:?}"))
            })?;
        let stage = event_stage(event, config)
            .ok_or_else(|| CommandError::Usage("--deployed needs an event with a stage".into()))?;
        let mut r = crate::record::Record::new(
            stage,
            RecordStatus::Deployed,
            crate::time::Timestamp::now(),
        );
        r.app = Some(app.clone());
        records.insert(app, r);
    }
    let app_facts = AppFacts {
        changed: Some(changed),
        since: Default::default(),
        records: (!args.deployed.is_empty()).then_some(records),
        assumed: true,
        alchemy: apps
            .iter()
            .map(|a| {
                let cmd = a
                    .alchemy_command
                    .as_ref()
                    .unwrap_or(&config.alchemy_command);
                let dir = std::path::Path::new(&a.working_directory);
                (a.name.clone(), alchemy::detect(cmd, dir))
            })
            .collect(),
    };
    let plan = apps_plan::decide(event, config, facts, &app_facts)?;
    let text = if args.json {
        render::json(&plan) + "\n"
    } else {
        render::apps::plan(&plan)
    };
    print(args, text);
    Ok(())
}

/// The stage an event's deploy acts on, for `--deployed`.
fn event_stage(
    event: &crate::event::Event,
    config: &crate::config::Config,
) -> Option<crate::stage::Stage> {
    match &event.payload {
        Payload::PullRequest(pr) => {
            Some(crate::stage::Stage::for_pr(&config.stage_prefix, pr.number))
        }
        _ => config.stage.clone(),
    }
}

fn record_facts(r: Option<RecordStatus>) -> RecordFacts {
    let Some(status) = r else {
        return RecordFacts::Missing;
    };
    // A record left by a PR close is the case the flag exists to show.
    let tombstone = status == RecordStatus::Destroyed;
    RecordFacts::Present { status, tombstone }
}
