//! The port through which a run starts Alchemy. The real one spawns the
//! program ([`process::run`]); the lifecycle's property test stands a
//! model of Alchemy's effects here, because hundreds of interleaved runs
//! cannot each start the real program.

use crate::alchemy::process::{self, Finished, Invocation, RunError};
use crate::cancel::Cancel;

pub trait Runner: Send + Sync {
    /// Runs the command to its end; see [`process::run`].
    fn run(&self, inv: &Invocation, cancel: &Cancel) -> Result<Finished, RunError>;
}

/// Alchemy as a child process: its own process group, a timeout, and a
/// cancel that stops the whole group.
#[derive(Debug, Default)]
pub struct ProcessRunner;

impl Runner for ProcessRunner {
    fn run(&self, inv: &Invocation, cancel: &Cancel) -> Result<Finished, RunError> {
        process::run(inv, cancel)
    }
}
