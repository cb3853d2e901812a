//! `alchemy-ci state list|show|rm|unlock`: inspecting and repairing the
//! store by hand. A stage is named as the store keeps it: `pr-7`, or
//! `pr-7@api` for an app's stage.

use std::fmt::Write as _;

use super::session::{say, Session};
use super::{status, var, CommandError};
use crate::apps::spec::AppName;
use crate::config::FlagValues;
use crate::record::Lease;
use crate::stage::{Stage, StagePrefix};
use crate::state::lease::{self, Acquire, Holder, LeaseError, Unlocked};
use crate::state::StateKey;

/// `alchemy-ci state …`.
#[derive(Debug, Clone)]
pub struct StateArgs {
    pub action: StateAction,
    pub flags: FlagValues,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StateAction {
    List,
    Show { stage: String },
    Rm { stage: String, force: bool },
    Unlock { stage: String, force: bool },
}

pub fn command(args: &StateArgs, env: &super::Env) -> Result<u8, CommandError> {
    let config = super::load_config(&args.flags, env)?;
    super::existing_store(&config)?;
    let stage_of = |s: &str| key_of(s, &config.stage_prefix);
    let target = match &args.action {
        StateAction::List => None,
        StateAction::Show { stage }
        | StateAction::Rm { stage, .. }
        | StateAction::Unlock { stage, .. } => Some(stage_of(stage)?),
    };
    let event = super::manual_event("state", env);
    let session = Session::open(config, env, &event)?;
    match (&args.action, target) {
        (StateAction::Show { .. }, Some(stage)) => show(&session, &stage),
        (StateAction::Rm { force, .. }, Some(stage)) => rm(&session, &stage, *force),
        (StateAction::Unlock { force, .. }, Some(stage)) => unlock(&session, &stage, *force),
        _ => status::show(&session, false),
    }
}

/// A stage as typed: `pr-7`, or `pr-7@api`.
fn key_of(s: &str, prefix: &StagePrefix) -> Result<StateKey, CommandError> {
    let bad = |e: String| CommandError::Usage(e);
    match s.split_once(crate::apps::key::SEPARATOR) {
        None => Stage::parse(s, prefix)
            .map(StateKey::single)
            .map_err(|e| bad(e.to_string())),
        Some((stage, app)) => Ok(StateKey::app(
            Stage::parse(stage, prefix).map_err(|e| bad(e.to_string()))?,
            AppName::parse(app).map_err(bad)?,
        )),
    }
}

fn show(session: &Session, stage: &StateKey) -> Result<u8, CommandError> {
    let loaded = session.store.load(stage)?;
    if loaded.snapshot.is_empty() {
        return Err(CommandError::Usage(format!(
            "stage {stage} is not in {}",
            session.store.describe()
        )));
    }
    let mut out = String::new();
    match &loaded.snapshot.record {
        Some(r) => {
            let _ = writeln!(out, "{}", String::from_utf8_lossy(&r.to_json()).trim_end());
        }
        None => out.push_str("(no record)\n"),
    }
    let _ = writeln!(out, "\n{} state file(s):", loaded.snapshot.files.len());
    for (path, bytes) in &loaded.snapshot.files {
        let _ = writeln!(out, "  {path} ({} bytes)", bytes.len());
    }
    say(&out);
    Ok(0)
}

/// Removing a stage whose state still lists resources would orphan them:
/// refused unless forced.
fn rm(session: &Session, stage: &StateKey, force: bool) -> Result<u8, CommandError> {
    let loaded = session.store.load(stage)?;
    if loaded.snapshot.is_empty() {
        return Err(CommandError::Usage(format!(
            "stage {stage} is not in {}",
            session.store.describe()
        )));
    }
    if !loaded.snapshot.files.is_empty() && !force {
        return Err(CommandError::Usage(format!(
            "stage {stage} still records {} state file(s) of live resources; destroy it first, or pass --force to forget them (the resources stay and are no longer tracked)",
            loaded.snapshot.files.len()
        )));
    }
    if let Some(lock) = loaded
        .snapshot
        .record
        .as_ref()
        .and_then(|r| r.lock.as_ref())
    {
        if !force {
            return Err(CommandError::Usage(format!(
                "stage {stage} is locked by {} until {}; pass --force to remove it anyway",
                lock.holder, lock.expires_at
            )));
        }
    }
    session.store.remove(stage, &loaded.version)?;
    say(&format!(
        "removed stage {stage} from {}\n",
        session.store.describe()
    ));
    Ok(0)
}

/// Removes only the stage's lock: its state files and the rest of its
/// record stay, and the record notes who unlocked it. A holder that looks
/// alive is refused unless `force`.
fn unlock(session: &Session, stage: &StateKey, force: bool) -> Result<u8, CommandError> {
    if session.store.load(stage)?.snapshot.is_empty() {
        return Err(CommandError::Usage(format!(
            "stage {stage} is not in {}",
            session.store.describe()
        )));
    }
    let by = Holder {
        id: format!("{} (alchemy-ci state unlock)", who(session)),
        run_url: session.run.run_url(),
        run: None,
    };
    let gone = |l: &Lease| session.holder_gone(l);
    let never = || false;
    let a = Acquire {
        store: session.store.as_ref(),
        stage,
        holder: &by,
        opts: &session.lease,
        clock: &session.clock,
        stop: &never,
        gone: &gone,
    };
    match lease::unlock(&a, force) {
        Ok(Unlocked::Removed(l)) => {
            say(&format!(
                "unlocked stage {stage}: removed the lock of {}; its state and record are unchanged\n",
                lease::describe(&l)
            ));
            Ok(0)
        }
        Ok(Unlocked::NotLocked) => {
            say(&format!("stage {stage} is not locked\n"));
            Ok(0)
        }
        Err(e @ LeaseError::Alive { .. }) => Err(CommandError::Usage(e.to_string())),
        Err(LeaseError::Store(e)) => Err(CommandError::Store(e)),
        Err(e) => Err(CommandError::Failed(e.to_string())),
    }
}

/// Who is unlocking: the workflow run and actor under Actions, else the
/// user and host.
fn who(session: &Session) -> String {
    let env = &session.env;
    match (var(env, "GITHUB_ACTOR"), var(env, "GITHUB_RUN_ID")) {
        (Some(actor), Some(run)) => format!("{actor} in run {run}"),
        (Some(actor), None) => actor,
        _ => format!(
            "{} on {}",
            var(env, "USER").unwrap_or_else(|| "someone".into()),
            lease::host_name()
        ),
    }
}
