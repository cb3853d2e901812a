//! What a command line that does not parse gets: `--help` and `--version`
//! on stdout with exit 0; nothing at all (or a command group alone) prints
//! the help on stderr with exit 2, as git and cargo do; anything else is
//! one whole line on stderr naming the problem, exit 2.

use std::ffi::OsString;
use std::io::Write as _;
use std::process::ExitCode;

use clap::error::{ContextKind, ContextValue, ErrorKind};
use clap::CommandFactory as _;

use super::Cli;
use crate::config::{defs, Sub};

/// Reports a command line that did not parse; `args` is what was typed,
/// the program name first.
pub fn report(e: &clap::Error, args: &[OsString]) -> ExitCode {
    match e.kind() {
        ErrorKind::DisplayHelp | ErrorKind::DisplayVersion => {
            let _ = e.print();
            ExitCode::SUCCESS
        }
        ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => {
            let _ = write!(std::io::stderr(), "{}", e.render());
            ExitCode::from(2)
        }
        _ => {
            crate::commands::print_error(&one_line(e, &command_path(args)));
            ExitCode::from(2)
        }
    }
}

/// clap's message in one line: every line before the usage, joined, then
/// where to read more (`alchemy-ci state show --help`).
fn one_line(e: &clap::Error, path: &[String]) -> String {
    let rendered = e.render().to_string();
    if let Some(msg) = ignored_input(e, path) {
        return msg;
    }
    let mut msg = String::new();
    for line in rendered.lines() {
        let t = line.trim();
        if t.starts_with("Usage:") || t.starts_with("For more information") {
            break;
        }
        let t = t.strip_prefix("error: ").unwrap_or(t);
        if t.is_empty() {
            continue;
        }
        if !msg.is_empty() {
            msg.push_str(if t.starts_with("tip:") { "; " } else { " " });
        }
        msg.push_str(t);
    }
    if msg.is_empty() {
        msg.push_str("invalid arguments");
    }
    format!("{msg} (see {} --help)", path.join(" "))
}

/// The subcommands typed, from the program down: `alchemy-ci state show`.
fn command_path(args: &[OsString]) -> Vec<String> {
    let mut cmd = Cli::command();
    let mut path = vec![cmd.get_name().to_owned()];
    for arg in args.iter().skip(1).filter_map(|a| a.to_str()) {
        let Some(sub) = cmd.find_subcommand(arg).cloned() else {
            continue;
        };
        path.push(sub.get_name().to_owned());
        cmd = sub;
    }
    path
}

/// An input given to a subcommand that does not read it gets a message
/// that says so, and which commands do read it.
fn ignored_input(e: &clap::Error, path: &[String]) -> Option<String> {
    if e.kind() != ErrorKind::UnknownArgument {
        return None;
    }
    let Some(ContextValue::String(arg)) = e.get(ContextKind::InvalidArg) else {
        return None;
    };
    let name = arg.strip_prefix("--")?.split('=').next()?;
    let input = defs::input(name).filter(|i| i.set_by.flag())?;
    let sub = path
        .iter()
        .find_map(|w| Sub::ALL.iter().find(|s| s.as_str() == w))?;
    if input.used_by(*sub) {
        return None;
    }
    let readers: Vec<&str> = input.used_by.iter().map(|s| s.as_str()).collect();
    Some(format!(
        "{} does not read --{name}; it is an input of {} (see {} --help)",
        path.join(" "),
        readers.join(", "),
        path.join(" ")
    ))
}
