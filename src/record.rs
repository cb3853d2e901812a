//! The stage record: what alchemy-ci knows about one stage, kept in the
//! state store beside the stage's Alchemy state.

use std::fmt;

use serde::{Deserialize, Serialize};

/// Where a stage is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RecordStatus {
    Deploying,
    Deployed,
    Failed,
    Destroying,
    Destroyed,
    DestroyFailed,
}

impl RecordStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Deploying => "deploying",
            Self::Deployed => "deployed",
            Self::Failed => "failed",
            Self::Destroying => "destroying",
            Self::Destroyed => "destroyed",
            Self::DestroyFailed => "destroy-failed",
        }
    }
}

impl fmt::Display for RecordStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
