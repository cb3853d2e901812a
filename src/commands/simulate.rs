//! `alchemy-ci simulate`: the plan for an event, and nothing else. No
//! network, no writes, no child processes: facts a run would look up come
//! from flags or stay unknown, and the plan says which.

use std::io::Write as _;

use super::{load_inputs, run_context, Env};
use crate::cli::{CliError, PrState, RecordArg, SimulateArgs};
use crate::event::{CommitSha, Payload};
use crate::plan::{self, Facts, LivePr, RecordFacts};
use crate::record::RecordStatus;
use crate::{alchemy, render};

pub fn simulate(args: &SimulateArgs, env: &Env) -> Result<(), CliError> {
    let (event, config) = load_inputs(&args.event, &args.config, env)?;
    let head = match &event.payload {
        Payload::PullRequest(pr) => Some(pr.head_sha.clone()),
        _ => None,
    };
    let live_pr = match args.pr_state {
        None => None,
        Some(state) => {
            let head_sha = match &args.pr_head {
                Some(s) => CommitSha::parse(s).ok_or_else(|| {
                    CliError::Usage(format!("--pr-head: {s:?} is not a commit SHA"))
                })?,
                None => head.ok_or_else(|| {
                    CliError::Usage(
                        "--pr-state needs --pr-head for an event without a pull request".into(),
                    )
                })?,
            };
            Some(LivePr {
                open: matches!(state, PrState::Open),
                head_sha,
            })
        }
    };
    let facts = Facts {
        alchemy: alchemy::detect(&config.alchemy_command, &config.working_directory),
        can_post: !args.no_token,
        live_pr,
        record: args.record.map(record_facts),
        run: run_context(env, &event),
    };
    let plan = plan::decide(&event, &config, &facts)?;

    let text = if args.json {
        let mut s = render::json(&plan);
        s.push('\n');
        s
    } else {
        let mut s = render::plan(&plan);
        s.push('\n');
        if !args.no_token {
            s.push_str("Assumed: a GitHub token, as in Actions (github-token defaults to the workflow's token); --no-token plans without one.\n");
        }
        s.push_str("Simulation only: nothing was run, written or posted.\n");
        s
    };
    // A closed pipe (`| head`) is not an error worth a message.
    let _ = std::io::stdout().write_all(text.as_bytes());
    Ok(())
}

fn record_facts(r: RecordArg) -> RecordFacts {
    let status = match r {
        RecordArg::Missing => return RecordFacts::Missing,
        RecordArg::Deploying => RecordStatus::Deploying,
        RecordArg::Deployed => RecordStatus::Deployed,
        RecordArg::Failed => RecordStatus::Failed,
        RecordArg::Destroying => RecordStatus::Destroying,
        RecordArg::Destroyed => RecordStatus::Destroyed,
        RecordArg::DestroyFailed => RecordStatus::DestroyFailed,
    };
    // A record left by a PR close is the case the flag exists to show.
    let tombstone = status == RecordStatus::Destroyed;
    RecordFacts::Present { status, tombstone }
}
