//! What each subcommand does, between the parsed command line and the core.
//! Each command takes a plain request (its `*Args`), built by `cli` from
//! what was typed, and returns an exit code or a [`CommandError`].

pub mod apps;
pub mod cleanup;
pub mod docs;
mod error;
pub mod local;
pub mod run;
pub mod session;
pub mod simulate;
pub mod state;
pub mod status;

use std::io::Read as _;
use std::path::{Path, PathBuf};

use crate::config::{self, Config, FlagValues, Sources};
pub use crate::env::{var, Env};
use crate::event::{self, Event, EventError, NameHint};
use crate::plan::RunContext;
pub use error::{print_error, CommandError};

/// The event a command acts on, as given.
#[derive(Debug, Clone, Default)]
pub struct EventArgs {
    /// The payload's path, `-` for standard input; else `$GITHUB_EVENT_PATH`.
    pub event: Option<PathBuf>,
    /// The event name; else `$GITHUB_EVENT_NAME`, else the payload's shape.
    pub event_name: Option<String>,
}

/// Reads the event and resolves the configuration: everything a command
/// needs from its user, checked before anything happens.
pub fn load_inputs(
    ev: &EventArgs,
    flags: &FlagValues,
    env: &Env,
) -> Result<(Event, Config), CommandError> {
    let event_path = ev
        .event
        .clone()
        .or_else(|| var(env, "GITHUB_EVENT_PATH").map(PathBuf::from))
        .ok_or_else(|| {
            CommandError::Usage("no event: pass --event FILE or set GITHUB_EVENT_PATH".into())
        })?;
    let hint = NameHint {
        flag: ev.event_name.clone(),
        env: var(env, "GITHUB_EVENT_NAME"),
    };
    let event = if event_path == Path::new("-") {
        let bytes = read_stdin()?;
        event::parse(Path::new(STDIN), &bytes, &hint)?
    } else {
        event::load(&event_path, &hint)?
    };
    Ok((event, load_config(flags, env)?))
}

/// How standard input is named in messages.
const STDIN: &str = "standard input";

/// The event payload piped in, within the same bound as a file.
fn read_stdin() -> Result<Vec<u8>, EventError> {
    let mut bytes = Vec::new();
    std::io::stdin()
        .lock()
        .take(event::MAX_EVENT_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|source| EventError::Read {
            path: STDIN.into(),
            source,
        })?;
    if bytes.len() as u64 > event::MAX_EVENT_BYTES {
        return Err(EventError::TooLarge { path: STDIN.into() });
    }
    Ok(bytes)
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
pub fn load_config(flags: &FlagValues, env: &Env) -> Result<Config, CommandError> {
    let config = config::resolve(&Sources {
        flags,
        env,
        // Relative paths stay as the user wrote them in messages and the plan.
        root: Path::new(""),
    })?;
    if let (Some(app), None) = (&config.app, &config.apps) {
        return Err(CommandError::Usage(format!(
            "app {app}: no apps are configured (set the apps input or the apps: key of alchemy-ci.yml)"
        )));
    }
    Ok(config)
}

/// A command that only reads the store refuses a folder store that is not
/// there: listing a mistyped path as empty would say "no stages" when it
/// should say "no such store".
pub fn existing_store(config: &Config) -> Result<(), CommandError> {
    match &config.state_store {
        config::StateStoreSpec::Dir(p) if !p.exists() => Err(CommandError::Usage(format!(
            "state-store dir:{}: no such folder (a store that was never written to has nothing to show)",
            p.display()
        ))),
        _ => Ok(()),
    }
}

/// The process environment as text, checked before anything reads it:
/// alchemy-ci's own inputs (`INPUT_*`) and the runner's `GITHUB_*`
/// variables must be UTF-8 (one that is not is refused, never dropped in
/// favour of a default), and the runner variables that end up in links and
/// requests must have GitHub's shape. Other variables that are not UTF-8
/// belong to the app: they are left out here and still reach Alchemy.
pub fn read_env(
    vars: impl Iterator<Item = (std::ffi::OsString, std::ffi::OsString)>,
) -> Result<Env, CommandError> {
    use std::os::unix::ffi::OsStrExt as _;
    let ours = |k: &[u8]| k.starts_with(b"INPUT_") || k.starts_with(b"GITHUB_");
    let mut env = Env::new();
    for (k, v) in vars {
        match (k.to_str(), v.to_str()) {
            (Some(k), Some(v)) => {
                env.insert(k.to_owned(), v.to_owned());
            }
            _ if ours(k.as_bytes()) => {
                return Err(CommandError::Usage(format!(
                    "{}: the value is not valid UTF-8",
                    String::from_utf8_lossy(k.as_bytes())
                )));
            }
            _ => {}
        }
    }
    check_runner_vars(&env)?;
    Ok(env)
}

fn check_runner_vars(env: &Env) -> Result<(), CommandError> {
    let set = |k: &str| env.get(k).map(String::as_str).filter(|v| !v.is_empty());
    for name in ["GITHUB_SERVER_URL", "GITHUB_API_URL"] {
        if let Some(v) = set(name) {
            crate::github::names::server_url(v)
                .map_err(|m| CommandError::Usage(format!("{name}: {m}")))?;
        }
    }
    if let Some(v) = set("GITHUB_REPOSITORY") {
        crate::github::names::RepoName::parse(v)
            .map_err(|m| CommandError::Usage(format!("GITHUB_REPOSITORY: {m}")))?;
    }
    for name in ["GITHUB_RUN_ID", "GITHUB_RUN_ATTEMPT"] {
        if let Some(v) = set(name) {
            if v.len() > 20 || !v.bytes().all(|b| b.is_ascii_digit()) {
                return Err(CommandError::Usage(format!(
                    "{name}: expected a number, got {v:?}"
                )));
            }
        }
    }
    Ok(())
}
