//! `alchemy-ci deploy|destroy|read`, run by hand with no event: the stage
//! is resolved as Alchemy resolves it, and everything else (state isolation,
//! destroy verification, the stage-name guard) applies as in CI.

use super::run::carry_out;
use super::session::Session;
use super::{load_config, manual_event, var, CommandError, Env};
use crate::config::{Command, FlagValues};
use crate::stage;

/// `alchemy-ci deploy|destroy|read`.
#[derive(Debug, Clone)]
pub struct LocalArgs {
    pub command: Command,
    /// One JSON document on stdout; everything else on stderr.
    pub json: bool,
    pub flags: FlagValues,
}

pub fn command(args: &LocalArgs, env: &Env) -> Result<u8, CommandError> {
    let command = args.command;
    let mut config = load_config(&args.flags, env)?;
    let flag = config.stage.as_ref().map(|s| s.to_string());
    let (stage, from) = stage::resolve_local(
        flag.as_deref(),
        var(env, "STAGE").as_deref(),
        var(env, "USER").as_deref(),
        var(env, "USERNAME").as_deref(),
        &config.stage_prefix,
    )
    .map_err(|e| CommandError::Usage(e.to_string()))?;
    config.command = command;
    config.stage = Some(stage.clone());
    let event = manual_event(&command.to_string(), env);
    let session = Session::open_with(config, env, &event, args.json)?;
    let facts = session.facts();
    carry_out(
        &session,
        &event,
        facts,
        Some(&format!("Stage    {stage} ({from})\n")),
    )
}
