//! What a step of a run can fail with, typed: the stage held by another
//! run, the store, its credentials, Alchemy, the working tree, GitHub. The
//! first failure is the run's; GitHub's never is (it is a warning).

use crate::alchemy::process::RunError;
use crate::github::client::ForgeError;
use crate::stage::Stage;
use crate::state::lease::LeaseError;
use crate::state::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum StepError {
    /// Another run holds the stage, or took it over, or kept changing it.
    #[error(transparent)]
    Busy(LeaseError),
    /// The store failed.
    #[error("{context}: {source}")]
    Store {
        context: String,
        #[source]
        source: StoreError,
    },
    /// The store refused alchemy-ci's credentials.
    #[error("{context}: {source}")]
    Auth {
        context: String,
        #[source]
        source: StoreError,
    },
    /// Alchemy ran and failed, timed out or was stopped.
    #[error("Alchemy {phase} of {stage} {what}")]
    AlchemyFailed {
        phase: &'static str,
        stage: Stage,
        what: String,
    },
    /// Alchemy could not be started.
    #[error(transparent)]
    AlchemyStart(#[from] RunError),
    /// A destroy that Alchemy called a success left state behind.
    #[error("destroy of {stage} left {} resource(s) in its state: {}", remaining.len(), remaining.join(", "))]
    NotDestroyed {
        stage: Stage,
        remaining: Vec<String>,
    },
    /// The user's verify-command did not confirm the destroy.
    #[error("{0}")]
    Verify(String),
    /// The app's folder: `.alchemy/` could not be set aside, restored or read.
    #[error("{0}")]
    WorkingTree(String),
    /// A variable the config file takes from the environment is not set.
    #[error("{0}")]
    Env(String),
    /// A cancel, or the lease lost while running.
    #[error("{0}")]
    Stopped(String),
    /// GitHub failed; never a run's failure.
    #[error("could not {what}: {source}")]
    Forge {
        what: &'static str,
        #[source]
        source: ForgeError,
    },
    /// A step out of place: a plan the executor does not run.
    #[error("{0}")]
    Internal(&'static str),
}

impl StepError {
    /// A lease operation's failure on `stage`, sorted: someone else's hold
    /// on the stage, the store's refusal of our credentials, or the store.
    /// `doing` says what for ("could not save stage pr-1's state"); the
    /// store is named unless the store's own message already names it.
    pub fn from_lease(e: LeaseError, doing: &str, store: &str) -> Self {
        match e {
            LeaseError::Store(source) => Self::from_store(source, doing, store),
            other => Self::Busy(other),
        }
    }

    pub fn from_store(source: StoreError, doing: &str, store: &str) -> Self {
        // Every other kind of store error names its store, path or URL.
        let context = match source {
            StoreError::Conflict { .. } => format!("{doing} to {store}"),
            _ => doing.to_owned(),
        };
        match source {
            StoreError::Auth { .. } => Self::Auth { context, source },
            _ => Self::Store { context, source },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Scenario: a git store's failed push printed its location twice
    /// ("… to git refs X of Y: git refs X of Y: …").
    #[test]
    fn a_store_failure_names_the_store_once() {
        let store = "git refs refs/alchemy-ci/stages/ of https://example.test/o/r.git";
        let e = StepError::from_store(
            StoreError::Unavailable {
                store: store.into(),
                message: "push failed".into(),
            },
            "could not save stage pr-1's state",
            store,
        );
        let text = e.to_string();
        assert_eq!(text.matches(store).count(), 1, "{text}");
        let stage = Stage::parse("pr-1", &crate::stage::StagePrefix::default()).expect("stage");
        let conflict = StepError::from_store(
            StoreError::Conflict {
                key: crate::state::StateKey::single(stage),
            },
            "could not save stage pr-1's state",
            store,
        );
        assert!(conflict.to_string().contains(store), "{conflict}");
        let auth = StepError::from_store(
            StoreError::Auth {
                store: store.into(),
                message: "denied".into(),
            },
            "x",
            store,
        );
        assert!(matches!(auth, StepError::Auth { .. }));
    }
}
