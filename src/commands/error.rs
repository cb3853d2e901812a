//! The errors a command ends with, each with its exit code, and the one
//! line a person sees for them.

use std::io::Write as _;

use crate::{config, event, plan, render};

/// Errors that end a command, each with its exit code.
#[derive(Debug, thiserror::Error)]
pub enum CommandError {
    #[error(transparent)]
    Event(#[from] event::EventError),
    #[error(transparent)]
    Config(#[from] config::ConfigError),
    #[error(transparent)]
    Plan(#[from] plan::PlanError),
    #[error("{0}")]
    Usage(String),
    #[error(transparent)]
    Store(#[from] crate::state::StoreError),
    /// Something outside alchemy-ci failed before anything changed.
    #[error("{0}")]
    Failed(String),
}

impl CommandError {
    /// 2 for bad input or configuration: nothing ran and nothing changed.
    /// 1 when the world failed us (a store, a missing program).
    pub fn exit_code(&self) -> u8 {
        match self {
            Self::Event(_) | Self::Config(_) | Self::Plan(_) | Self::Usage(_) => 2,
            Self::Store(_) | Self::Failed(_) => 1,
        }
    }
}

/// One line on stderr, whatever the message holds.
pub fn print_error(msg: &str) {
    let one_line = render::term(msg);
    let _ = writeln!(std::io::stderr(), "alchemy-ci: error: {one_line}");
}
