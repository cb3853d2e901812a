//! `state-store: dir:<path>`: every stage's state in a plain folder, for
//! local use and tests, with the same compare-and-swap semantics as the git
//! and object stores.
//!
//! Layout: `<root>/stages/<stage>/current` names the live generation `N`,
//! whose files are `<root>/stages/<stage>/v<N>/record.json` and
//! `…/v<N>/alchemy/…`. A write builds generation `N+1` completely, then
//! renames a new `current` over the old one, so a crash at any point leaves
//! a complete generation in force. Writers of one stage serialise on an
//! exclusive lock of `<root>/stages/<stage>.lock`.

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::path::{Path, PathBuf};

use super::files::{check_rel_path, read_tree};
use super::{Loaded, Snapshot, StateStore, StoreError, Version};
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

    fn stage_dir(&self, stage: &Stage) -> PathBuf {
        self.stages().join(stage.as_str())
    }

    /// Holds the stage's lock file exclusively until dropped.
    fn lock(&self, stage: &Stage) -> Result<File, StoreError> {
        let stages = self.stages();
        fs::create_dir_all(&stages)
            .map_err(|e| StoreError::io(format!("creating {}", stages.display()), e))?;
        let path = stages.join(format!("{stage}.lock"));
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

    fn current(&self, stage: &Stage) -> Result<Option<u64>, StoreError> {
        let path = self.stage_dir(stage).join("current");
        match fs::read_to_string(&path) {
            Ok(text) => text
                .trim()
                .parse()
                .map(Some)
                .map_err(|_| StoreError::Corrupt {
                    location: path.display().to_string(),
                    message: format!("expected a generation number, found {:?}", text.trim()),
                }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(StoreError::io(format!("reading {}", path.display()), e)),
        }
    }

    fn read_generation(&self, stage: &Stage, generation: u64) -> Result<Snapshot, StoreError> {
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

    fn check(&self, stage: &Stage, expected: &Version) -> Result<Option<u64>, StoreError> {
        let now = self.current(stage)?;
        if Version(now.map(|n| n.to_string())) != *expected {
            return Err(StoreError::Conflict {
                stage: stage.clone(),
            });
        }
        Ok(now)
    }
}

impl StateStore for DirStore {
    fn describe(&self) -> String {
        format!("folder {}", self.root.display())
    }

    fn load(&self, stage: &Stage) -> Result<Loaded, StoreError> {
        // Reading a stage that was never written creates nothing (no lock
        // file, no folder): as if read just before a concurrent first write.
        if self.current(stage)?.is_none() {
            return Ok(Loaded {
                snapshot: Snapshot::default(),
                version: Version::ABSENT,
            });
        }
        let _guard = self.lock(stage)?;
        match self.current(stage)? {
            None => Ok(Loaded {
                snapshot: Snapshot::default(),
                version: Version::ABSENT,
            }),
            Some(n) => Ok(Loaded {
                snapshot: self.read_generation(stage, n)?,
                version: Version(Some(n.to_string())),
            }),
        }
    }

    fn put(
        &self,
        stage: &Stage,
        snapshot: &Snapshot,
        expected: &Version,
        _message: &str,
    ) -> Result<Version, StoreError> {
        let _guard = self.lock(stage)?;
        let old = self.check(stage, expected)?;
        let next = old.map_or(1, |n| n + 1);
        let dir = self.stage_dir(stage);
        let gen_dir = dir.join(format!("v{next}"));
        // A crash may have left a half-written generation with this number.
        if gen_dir.exists() {
            fs::remove_dir_all(&gen_dir)
                .map_err(|e| StoreError::io(format!("clearing {}", gen_dir.display()), e))?;
        }
        if let Some(record) = &snapshot.record {
            write_file(&gen_dir.join("record.json"), &record.to_json())?;
        }
        fs::create_dir_all(&gen_dir)
            .map_err(|e| StoreError::io(format!("creating {}", gen_dir.display()), e))?;
        for (rel, bytes) in &snapshot.files {
            let rel = check_rel_path(rel).map_err(|message| StoreError::Corrupt {
                location: format!("state file of {stage}"),
                message,
            })?;
            write_file(&gen_dir.join("alchemy").join(rel), bytes)?;
        }
        let tmp = dir.join("current.tmp");
        write_file(&tmp, next.to_string().as_bytes())?;
        let current = dir.join("current");
        fs::rename(&tmp, &current)
            .map_err(|e| StoreError::io(format!("replacing {}", current.display()), e))?;
        if let Some(n) = old {
            let old_dir = dir.join(format!("v{n}"));
            // The new generation is already in force; a leftover is harmless.
            let _ = fs::remove_dir_all(old_dir);
        }
        Ok(Version(Some(next.to_string())))
    }

    fn remove(&self, stage: &Stage, expected: &Version) -> Result<(), StoreError> {
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
            if let Ok(stage) = Stage::parse_stored(&name) {
                if e.path().join("current").is_file() {
                    out.push(stage);
                }
            }
        }
        out.sort();
        Ok(out)
    }
}

fn write_file(path: &Path, bytes: &[u8]) -> Result<(), StoreError> {
    if let Some(parent) = path.parent() {
        fs::create_dir_all(parent)
            .map_err(|e| StoreError::io(format!("creating {}", parent.display()), e))?;
    }
    fs::write(path, bytes).map_err(|e| StoreError::io(format!("writing {}", path.display()), e))
}
