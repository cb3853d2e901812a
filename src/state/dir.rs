//! `state-store: dir:<path>`: every stage's state in a plain folder, for
//! local use and tests, with the same compare-and-swap semantics as the git
//! and object stores.
//!
//! Layout: `<root>/stages/<stage>/current` names the live generation `G`,
//! whose files are `<root>/stages/<stage>/v<G>/record.json` and
//! `…/v<G>/alchemy/…`. A write builds a new generation completely, flushes
//! it to disk, then renames a new `current` over the old one and flushes the
//! folder, so a crash at any point leaves a complete generation in force and
//! a write reported done survives a power cut. Writers of one stage
//! serialise on an exclusive lock of `<root>/stages/<stage>.lock`. An
//! app's stage is the folder `<root>/stages/<stage>@<app>`.
//!
//! A generation id is the time in milliseconds and 64 random bits, so a
//! version never comes back, not even after the stage is removed and made
//! again: a writer holding a version from before can never match a newer
//! generation (the ABA problem of a counter that restarts).

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::io::Write as _;
use std::path::{Path, PathBuf};

use super::files::{check_rel_path, read_tree};
use super::{AsKey, Loaded, Snapshot, StateKey, StateStore, StoreError, Version};
use crate::record::Record;
use crate::stage::Stage;

pub struct DirStore {
    root: PathBuf,
}

impl DirStore {
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into() }
    }

    fn stages(&self) -> PathBuf {
        self.root.join("stages")
    }

    fn stage_dir(&self, stage: &StateKey) -> PathBuf {
        self.stages().join(stage.to_string())
    }

    fn lock_path(&self, stage: &StateKey) -> PathBuf {
        self.stages().join(format!("{stage}.lock"))
    }

    /// Holds the stage's lock file exclusively until dropped.
    fn lock(&self, stage: &StateKey) -> Result<File, StoreError> {
        let stages = self.stages();
        fs::create_dir_all(&stages)
            .map_err(|e| StoreError::io(format!("creating {}", stages.display()), e))?;
        let path = self.lock_path(stage);
        let file = File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(|e| StoreError::io(format!("opening {}", path.display()), e))?;
        file.lock()
            .map_err(|e| StoreError::io(format!("locking {}", path.display()), e))?;
        Ok(file)
    }

    /// The live generation's id. Older versions of this store wrote
    /// counters (`1`, `2`, …); they read as ids like any other.
    fn current(&self, stage: &StateKey) -> Result<Option<String>, StoreError> {
        let path = self.stage_dir(stage).join("current");
        match fs::read_to_string(&path) {
            Ok(text) => {
                let id = text.trim();
                let valid = !id.is_empty()
                    && id.len() <= 64
                    && id.bytes().all(|b| b.is_ascii_hexdigit() || b == b'-');
                if valid {
                    Ok(Some(id.to_owned()))
                } else {
                    Err(StoreError::Corrupt {
                        location: path.display().to_string(),
                        message: format!("expected a generation id, found {id:?}"),
                    })
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(StoreError::io(format!("reading {}", path.display()), e)),
        }
    }

    fn read_generation(&self, stage: &StateKey, generation: &str) -> Result<Snapshot, StoreError> {
        let gen_dir = self.stage_dir(stage).join(format!("v{generation}"));
        let record_path = gen_dir.join("record.json");
        let record = match fs::read(&record_path) {
            Ok(bytes) => {
                Some(
                    Record::from_json(&bytes).map_err(|message| StoreError::Corrupt {
                        location: record_path.display().to_string(),
                        message,
                    })?,
                )
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => {
                return Err(StoreError::io(
                    format!("reading {}", record_path.display()),
                    e,
                ))
            }
        };
        let mut files = BTreeMap::new();
        read_tree(&gen_dir.join("alchemy"), "", &mut files)?;
        Ok(Snapshot { record, files })
    }

    fn check(&self, stage: &StateKey, expected: &Version) -> Result<Option<String>, StoreError> {
        let now = self.current(stage)?;
        if Version(now.clone()) != *expected {
            return Err(StoreError::Conflict { key: stage.clone() });
        }
        Ok(now)
    }
}

impl StateStore for DirStore {
    fn describe(&self) -> String {
        format!("folder {}", self.root.display())
    }

    fn load(&self, key: &dyn AsKey) -> Result<Loaded, StoreError> {
        let stage = &key.as_key();
        let absent = Loaded {
            snapshot: Snapshot::default(),
            version: Version::ABSENT,
        };
        // Every write takes the lock file first, so without one the stage
        // was never written; reading it creates nothing.
        if !self.lock_path(stage).exists() {
            return Ok(absent);
        }
        let _guard = self.lock(stage)?;
        match self.current(stage)? {
            None => Ok(absent),
            Some(g) => Ok(Loaded {
                snapshot: self.read_generation(stage, &g)?,
                version: Version(Some(g)),
            }),
        }
    }

    fn put(
        &self,
        key: &dyn AsKey,
        snapshot: &Snapshot,
        expected: &Version,
        _message: &str,
    ) -> Result<Version, StoreError> {
        let stage = &key.as_key();
        let _guard = self.lock(stage)?;
        let old = self.check(stage, expected)?;
        let next = generation_id();
        let dir = self.stage_dir(stage);
        let new_stage = !dir.exists();
        let gen_dir = dir.join(format!("v{next}"));
        fs::create_dir_all(&gen_dir)
            .map_err(|e| StoreError::io(format!("creating {}", gen_dir.display()), e))?;
        if let Some(record) = &snapshot.record {
            write_file(&gen_dir.join("record.json"), &record.to_json())?;
        }
        for (rel, bytes) in &snapshot.files {
            let rel = check_rel_path(rel).map_err(|message| StoreError::Corrupt {
                location: format!("state file of {stage}"),
                message,
            })?;
            write_file(&gen_dir.join("alchemy").join(rel), bytes)?;
        }
        // The files' folder entries must be on disk before `current` names them.
        sync_dirs(&gen_dir)?;
        let tmp = dir.join("current.tmp");
        write_file(&tmp, next.as_bytes())?;
        let current = dir.join("current");
        fs::rename(&tmp, &current)
            .map_err(|e| StoreError::io(format!("replacing {}", current.display()), e))?;
        sync_dir(&dir)?;
        if new_stage {
            sync_dir(&self.stages())?;
        }
        if let Some(g) = old {
            let old_dir = dir.join(format!("v{g}"));
            // The new generation is already in force; a leftover is harmless.
            let _ = fs::remove_dir_all(old_dir);
        }
        Ok(Version(Some(next)))
    }

    fn remove(&self, key: &dyn AsKey, expected: &Version) -> Result<(), StoreError> {
        let stage = &key.as_key();
        let _guard = self.lock(stage)?;
        self.check(stage, expected)?;
        let dir = self.stage_dir(stage);
        match fs::remove_dir_all(&dir) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(StoreError::io(format!("removing {}", dir.display()), e)),
        }
    }

    fn list(&self) -> Result<Vec<Stage>, StoreError> {
        Ok(super::single_stages(self.keys()?))
    }

    fn keys(&self) -> Result<Vec<StateKey>, StoreError> {
        let stages = self.stages();
        let entries = match fs::read_dir(&stages) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(StoreError::io(format!("reading {}", stages.display()), e)),
        };
        let mut out = Vec::new();
        for e in entries {
            let e = e.map_err(|e| StoreError::io(format!("reading {}", stages.display()), e))?;
            let Ok(name) = e.file_name().into_string() else {
                continue;
            };
            if let Some(key) = StateKey::parse(&name) {
                if e.path().join("current").is_file() {
                    out.push(key);
                }
            }
        }
        out.sort();
        Ok(out)
    }
}

/// Milliseconds since 1970 and 64 random bits, in hex: ordered by time,
/// never the same twice.
fn generation_id() -> String {
    let millis = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis());
    format!("{millis:011x}-{:016x}", fastrand::u64(..))
}

/// Writes a file and flushes it to disk.
fn write_file(path: &Path, bytes: &[u8]) -> Result<(), StoreError> {
    if let Some(parent) = path.parent() {
        fs::create_dir_all(parent)
            .map_err(|e| StoreError::io(format!("creating {}", parent.display()), e))?;
    }
    let err = |e| StoreError::io(format!("writing {}", path.display()), e);
    let mut f = File::create(path).map_err(err)?;
    f.write_all(bytes).map_err(err)?;
    f.sync_all().map_err(err)
}

/// Flushes a folder's entries (names created or renamed in it) to disk.
fn sync_dir(dir: &Path) -> Result<(), StoreError> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| StoreError::io(format!("flushing {}", dir.display()), e))
}

/// [`sync_dir`] for a folder and every folder below it.
fn sync_dirs(dir: &Path) -> Result<(), StoreError> {
    let entries =
        fs::read_dir(dir).map_err(|e| StoreError::io(format!("reading {}", dir.display()), e))?;
    for e in entries {
        let e = e.map_err(|e| StoreError::io(format!("reading {}", dir.display()), e))?;
        if e.file_type().is_ok_and(|t| t.is_dir()) {
            sync_dirs(&e.path())?;
        }
    }
    sync_dir(dir)
}
