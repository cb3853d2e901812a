//! Where each stage's state lives between runs.
//!
//! A store keeps, per stage, a [`Snapshot`]: the stage's record and its
//! Alchemy state files. Every write is a compare-and-swap against the
//! [`Version`] that was read, so two runs can never silently overwrite each
//! other; locks, retries and lifecycles are built on that one primitive
//! (see [`lease`]), the same for every store.
//!
//! A snapshot is kept under a key: a stage's name for a repository
//! without `apps:` (exactly as before apps existed), or `<stage>@<app>`
//! for an app's stage ([`StateKey`]). The calls take either ([`AsKey`]).

pub mod dir;
pub mod files;
pub mod git;
pub mod lease;
pub mod s3;

use std::collections::BTreeMap;

pub use crate::apps::key::StateKey;
use crate::record::Record;
use crate::stage::Stage;

/// What a snapshot is kept under: a [`Stage`] (its own name, the key of a
/// repository without `apps:`) or a [`StateKey`]. Every store call takes
/// `&dyn AsKey`, so a stage is passed as it always was.
pub trait AsKey: Sync {
    fn as_key(&self) -> StateKey;
}

impl AsKey for Stage {
    fn as_key(&self) -> StateKey {
        StateKey::single(self.clone())
    }
}

impl AsKey for StateKey {
    fn as_key(&self) -> StateKey {
        self.clone()
    }
}

/// The stages among `keys`: what [`StateStore::list`] returns, leaving
/// apps' stages out as versions before apps did.
pub fn single_stages(keys: Vec<StateKey>) -> Vec<Stage> {
    keys.into_iter()
        .filter(|k| k.app.is_none())
        .map(|k| k.stage)
        .collect()
}

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
    #[error("stage {key} was changed by another run since it was read")]
    Conflict { key: StateKey },
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

/// A key (a stage, or an app's stage) and its record, or why the record
/// could not be read.
pub type KeyRecord = (StateKey, Result<Option<Record>, StoreError>);

/// One implementation per backend (a folder, git refs, an object store).
/// Implementations are blocking; a run makes a handful of calls.
pub trait StateStore: Send + Sync {
    /// A short description for logs and plans.
    fn describe(&self) -> String;

    /// Reads one stage. A stage that was never written loads as an empty
    /// snapshot at [`Version::ABSENT`].
    fn load(&self, key: &dyn AsKey) -> Result<Loaded, StoreError>;

    /// Writes one stage if it is still at `expected`, else
    /// [`StoreError::Conflict`] and nothing is written. `message` says what
    /// happened (stores with history keep it).
    fn put(
        &self,
        key: &dyn AsKey,
        snapshot: &Snapshot,
        expected: &Version,
        message: &str,
    ) -> Result<Version, StoreError>;

    /// Removes a stage entirely if it is still at `expected`.
    fn remove(&self, key: &dyn AsKey, expected: &Version) -> Result<(), StoreError>;

    /// Every stage the store holds, without apps' stages (which versions
    /// before apps never saw either).
    fn list(&self) -> Result<Vec<Stage>, StoreError>;

    /// Every key the store holds: stages and apps' stages, sorted.
    fn keys(&self) -> Result<Vec<StateKey>, StoreError> {
        Ok(self.list()?.into_iter().map(StateKey::single).collect())
    }

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

    /// [`StateStore::records`] for every key, apps' stages included.
    fn key_records(&self) -> Result<Vec<KeyRecord>, StoreError> {
        Ok(self
            .keys()?
            .into_iter()
            .map(|k| {
                let r = self.load(&k).map(|l| l.snapshot.record);
                (k, r)
            })
            .collect())
    }
}

/// The stages' records among `all`, for a store whose
/// [`StateStore::key_records`] is its efficient listing.
pub fn single_records(all: Vec<KeyRecord>) -> Vec<StageRecord> {
    all.into_iter()
        .filter(|(k, _)| k.app.is_none())
        .map(|(k, r)| (k.stage, r))
        .collect()
}
