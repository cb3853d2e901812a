//! The input flags of each subcommand, made from the input table: a
//! subcommand gets a flag for every input it reads and no other, so a flag
//! it would ignore is refused by the parser. Values are collected as typed
//! and parsed by [`crate::config::resolve`], so a flag, an `INPUT_*`
//! variable and a config file key go through the same parser.

use std::marker::PhantomData;

use clap::{Arg, ArgAction, ArgMatches, Args, FromArgMatches};

use crate::config::{defs, FlagValues, Input, Kind, SetBy, Sub};

/// The heading input flags are listed under in `--help`.
pub const HEADING: &str =
    "Inputs (each also INPUT_<NAME> and an alchemy-ci.yml key, except where marked)";

/// Which subcommand a set of input flags is for.
pub trait Reads: std::fmt::Debug {
    const SUB: Sub;
}

macro_rules! reads {
    ($($marker:ident => $sub:ident),* $(,)?) => {$(
        #[derive(Debug)]
        pub struct $marker;
        impl Reads for $marker {
            const SUB: Sub = Sub::$sub;
        }
    )*};
}

reads! {
    ForSimulate => Simulate,
    ForRun => Run,
    ForCleanup => Cleanup,
    ForStatus => Status,
    ForState => State,
    ForDeploy => Deploy,
    ForDestroy => Destroy,
    ForRead => Read,
}

/// The input flags given to one subcommand, by input name.
#[derive(Debug)]
pub struct Inputs<R: Reads> {
    pub values: FlagValues,
    _for: PhantomData<R>,
}

/// The inputs that are flags of a subcommand, in table order.
pub fn flags_of(sub: Sub) -> impl Iterator<Item = &'static Input> {
    defs::used_by(sub).filter(|i| i.set_by.flag())
}

impl<R: Reads> FromArgMatches for Inputs<R> {
    fn from_arg_matches(m: &ArgMatches) -> Result<Self, clap::Error> {
        let values = flags_of(R::SUB)
            .filter_map(|i| {
                let v = m.try_get_one::<String>(i.name).ok().flatten()?;
                Some((i.name, v.clone()))
            })
            .collect();
        Ok(Self {
            values: FlagValues(values),
            _for: PhantomData,
        })
    }

    fn update_from_arg_matches(&mut self, m: &ArgMatches) -> Result<(), clap::Error> {
        *self = Self::from_arg_matches(m)?;
        Ok(())
    }
}

impl<R: Reads> Args for Inputs<R> {
    fn augment_args(cmd: clap::Command) -> clap::Command {
        // A command with subcommands of its own (`state`) takes its inputs
        // after them too: `state show pr-1 --state-store dir:x`.
        let global = R::SUB == Sub::State;
        cmd.next_help_heading(HEADING)
            .args(flags_of(R::SUB).map(|i| arg(i, global)))
    }

    fn augment_args_for_update(cmd: clap::Command) -> clap::Command {
        Self::augment_args(cmd)
    }
}

/// One input as a flag. No clap default: a default here would beat the
/// action inputs and the config file.
fn arg(i: &'static Input, global: bool) -> Arg {
    let mut help = i.help.to_owned();
    match i.set_by {
        SetBy::Trusted | SetBy::NotInFile => help.push_str(" [not in alchemy-ci.yml]"),
        SetBy::Anywhere | SetBy::FileOnly => {}
    }
    help.push(' ');
    help.push_str(&i.help_default());
    let arg = Arg::new(i.name)
        .long(i.name)
        .value_name(i.value_name)
        .help(help)
        .action(ArgAction::Set)
        .global(global);
    match i.kind {
        // `--allow-forks` alone means true, as a switch would.
        Kind::Bool => arg.num_args(0..=1).default_missing_value("true"),
        _ => arg,
    }
}
