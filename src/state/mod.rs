//! Where each stage's state lives between runs.
//!
//! A store keeps, per stage, a [`Snapshot`]: the stage's record and its
//! Alchemy state files. Every write is a compare-and-swap against the
//! [`Version`] that was read, so two runs can never silently overwrite each
//! other; locks, retries and lifecycles are built on that one primitive
//! (see [`lease`]), the same for every store.

pub mod dir;
pub mod files;
pub mod git;
pub mod lease;
pub mod s3;

use std::collections::BTreeMap;

use crate::record::Record;
use crate::stage::Stage;

/// A stage's saved state. `files` are keyed by their path relative to the
/// app's `.alchemy/` folder, `/`-separated.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Snapshot {
    pub record: Option<Record>,
    pub files: BTreeMap<String, Vec<u8>>,
}

impl Snapshot {
    /// True when the stage has neither a record nor state.
    pub fn is_empty(&self) -> bool {
        self.record.is_none() && self.files.is_empty()
    }
}

/// What a store read, for a later compare-and-swap. `None` means the stage
/// did not exist.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Version(pub Option<String>);

impl Version {
    pub const ABSENT: Self = Self(None);
}

#[derive(Debug, Clone)]
pub struct Loaded {
    pub snapshot: Snapshot,
    pub version: Version,
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// Someone else changed the stage since it was read.
    #[error("stage {stage} was changed by another run since it was read")]
    Conflict { stage: Stage },
    #[error("authentication to {store} failed: {message}")]
    Auth { store: String, message: String },
    #[error("{location}: {message}")]
    Corrupt { location: String, message: String },
    #[error("{store}: {message}")]
    Unavailable { store: String, message: String },
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
}

impl StoreError {
    pub fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        Self::Io {
            context: context.into(),
            source,
        }
    }
}

/// A stage and its record, or why the record could not be read.
pub type StageRecord = (Stage, Result<Option<Record>, StoreError>);

/// One implementation per backend (a folder, git refs, an object store).
/// Implementations are blocking; a run makes a handful of calls.
pub trait StateStore: Send + Sync {
    /// A short description for logs and plans.
    fn describe(&self) -> String;

    /// Reads one stage. A stage that was never written loads as an empty
    /// snapshot at [`Version::ABSENT`].
    fn load(&self, stage: &Stage) -> Result<Loaded, StoreError>;

    /// Writes one stage if it is still at `expected`, else
    /// [`StoreError::Conflict`] and nothing is written. `message` says what
    /// happened (stores with history keep it).
    fn put(
        &self,
        stage: &Stage,
        snapshot: &Snapshot,
        expected: &Version,
        message: &str,
    ) -> Result<Version, StoreError>;

    /// Removes a stage entirely if it is still at `expected`.
    fn remove(&self, stage: &Stage, expected: &Version) -> Result<(), StoreError>;

    /// Every stage the store holds.
    fn list(&self) -> Result<Vec<Stage>, StoreError>;

    /// Every stage with its record, reading no state files where the
    /// backend allows it. A record that cannot be read is reported per stage
    /// so one bad record does not hide the rest.
    fn records(&self) -> Result<Vec<StageRecord>, StoreError> {
        Ok(self
            .list()?
            .into_iter()
            .map(|s| {
                let r = self.load(&s).map(|l| l.snapshot.record);
                (s, r)
            })
            .collect())
    }
}
