//! `alchemy-ci deploy|destroy|read`, run by hand with no event: the stage
//! is resolved as Alchemy resolves it, and everything else (state isolation,
//! destroy verification, the stage-name guard) applies as in CI.

use super::run::carry_out;
use super::session::Session;
use super::{load_config, manual_event, var, Env};
use crate::cli::{CliError, LocalArgs};
use crate::config::Command;
use crate::stage;

pub fn command(command: Command, args: &LocalArgs, env: &Env) -> Result<u8, CliError> {
    let mut config = load_config(&args.config, env)?;
    let flag = config.stage.as_ref().map(|s| s.to_string());
    let (stage, from) = stage::resolve_local(
        flag.as_deref(),
        var(env, "STAGE").as_deref(),
        var(env, "USER").as_deref(),
        var(env, "USERNAME").as_deref(),
        &config.stage_prefix,
    )
    .map_err(|e| CliError::Usage(e.to_string()))?;
    config.command = command;
    config.stage = Some(stage.clone());
    let event = manual_event(&command.to_string(), env);
    let mut session = Session::open(config, env, &event)?;
    session.json = args.json;
    let facts = session.facts();
    carry_out(
        &session,
        &event,
        facts,
        Some(&format!("Stage    {stage} ({from})\n")),
    )
}
