//! `alchemy-ci docs`: documentation made from alchemy-ci's own
//! definitions, printed for the files that keep it (`action.yml`, the
//! README).

use std::io::Write as _;

use super::CommandError;
use crate::config::docs;

/// What to print the inputs as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// `action.yml`'s `inputs:` mapping.
    ActionYml,
    /// The README's table.
    Markdown,
}

/// `alchemy-ci docs inputs --format …`.
pub fn inputs(format: Format) -> Result<u8, CommandError> {
    let text = match format {
        Format::ActionYml => docs::action_yml(),
        Format::Markdown => docs::markdown(),
    };
    // A closed pipe (`| head`) is not an error worth a message.
    let _ = std::io::stdout().write_all(text.as_bytes());
    Ok(0)
}
