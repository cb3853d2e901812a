//! What each subcommand does, between the parsed command line and the core.

pub mod cleanup;
pub mod local;
pub mod run;
pub mod session;
pub mod simulate;
pub mod state;
pub mod status;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::cli::{CliError, ConfigArgs, EventArgs};
use crate::config::{self, Config, Sources};
use crate::event::{self, Event, NameHint};
use crate::plan::RunContext;

/// The process environment, as text.
pub type Env = BTreeMap<String, String>;

/// A variable's value, when set and not empty.
pub fn var(env: &Env, k: &str) -> Option<String> {
    env.get(k).filter(|v| !v.is_empty()).cloned()
}

/// Reads the event and resolves the configuration: everything a command
/// needs from its user, checked before anything happens.
pub fn load_inputs(
    ev: &EventArgs,
    flags: &ConfigArgs,
    env: &Env,
) -> Result<(Event, Config), CliError> {
    let event_path = ev
        .event
        .clone()
        .or_else(|| var(env, "GITHUB_EVENT_PATH").map(PathBuf::from))
        .ok_or_else(|| {
            CliError::Usage("no event: pass --event FILE or set GITHUB_EVENT_PATH".into())
        })?;
    let hint = NameHint {
        flag: ev.event_name.clone(),
        env: var(env, "GITHUB_EVENT_NAME"),
    };
    let event = event::load(&event_path, &hint)?;
    let flags = flags.flag_values();
    let config = config::resolve(&Sources {
        flags: &flags,
        env,
        // Relative paths stay as the user wrote them in messages and the plan.
        root: Path::new(""),
    })?;
    Ok((event, config))
}

/// Where this run lives on GitHub, from the runner's variables.
pub fn run_context(env: &Env, event: &Event) -> RunContext {
    RunContext {
        server_url: Some(
            var(env, "GITHUB_SERVER_URL").unwrap_or_else(|| "https://github.com".into()),
        ),
        repository: var(env, "GITHUB_REPOSITORY").or_else(|| event.repository.clone()),
        run_id: var(env, "GITHUB_RUN_ID"),
    }
}

/// The event of a command started by hand: no payload, only a name.
pub fn manual_event(name: &str, env: &Env) -> Event {
    Event {
        name: name.to_owned(),
        name_source: event::NameSource::Flag,
        repository: var(env, "GITHUB_REPOSITORY"),
        payload: event::Payload::Unknown,
    }
}

/// Resolves the configuration alone, for commands without an event.
pub fn load_config(flags: &ConfigArgs, env: &Env) -> Result<Config, CliError> {
    let flags = flags.flag_values();
    Ok(config::resolve(&Sources {
        flags: &flags,
        env,
        root: Path::new(""),
    })?)
}
