//! The app's working tree during a run: only this stage's files in
//! `.alchemy/` while Alchemy runs, what was there before set aside and put
//! back, and the state left on disk (and its path said) whenever it could
//! not be saved.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::{StageRun, StepError};
use crate::alchemy::layout::{self, Finding};
use crate::alchemy::Flavor;
use crate::stage::Stage;
use crate::state::files::{self, Layout};
use crate::state::lease::FileSource;

impl StageRun<'_, '_> {
    pub(super) fn restore(&mut self) -> Result<(), StepError> {
        let held = self
            .held
            .as_ref()
            .ok_or(StepError::Internal("no lock held"))?;
        if self.alchemy_dir.exists() {
            let aside = self.rt.app_dir.join(format!(
                ".alchemy.set-aside-by-alchemy-ci-{:08x}",
                fastrand::u32(..)
            ));
            std::fs::rename(&self.alchemy_dir, &aside).map_err(|e| {
                StepError::WorkingTree(format!(
                    "cannot set {} aside: {e}",
                    self.alchemy_dir.display()
                ))
            })?;
            tracing::info!(
                "set the existing .alchemy/ aside at {} for this run",
                aside.display()
            );
            self.aside = Some(aside);
        }
        self.restored = true;
        files::restore(&self.alchemy_dir, &held.snapshot.files)
            .map_err(|e| StepError::WorkingTree(e.to_string()))
    }

    /// Reads the stage's files from the working tree, once they may have changed.
    pub(super) fn collect(&mut self) -> Result<BTreeMap<String, Vec<u8>>, StepError> {
        // Every restored file still on disk is the stage's, whatever layout
        // the flavour expects: a destroy in another layout must not count
        // as verified, nor may the save drop those files.
        let restored = self.held.as_ref().map(|h| &h.snapshot.files);
        match layout::stage_files(
            &self.alchemy_dir,
            &self.stage,
            Layout::of(&self.rt.flavor),
            restored.unwrap_or(&BTreeMap::new()),
        ) {
            Ok(f) => {
                self.collected = Some(f.clone());
                Ok(f)
            }
            Err(e) => {
                self.collect_failed = true;
                Err(StepError::WorkingTree(format!(
                    "cannot read stage {}'s state after the run: {e}",
                    self.stage
                )))
            }
        }
    }

    /// What the store should hold after this run: the files as Alchemy left
    /// them, or, when they could not be read, what the store already had.
    pub(super) fn final_files(&self) -> BTreeMap<String, Vec<u8>> {
        match (&self.collected, &self.held) {
            (Some(c), _) => c.clone(),
            (None, Some(h)) => h.snapshot.files.clone(),
            (None, None) => BTreeMap::new(),
        }
    }

    /// Removes this run's `.alchemy/` once the store holds what it held, and
    /// puts back what was set aside. When the state could not be saved it
    /// stays on disk and its path is returned, so nothing is lost.
    pub(super) fn settle_working_tree(&mut self) -> Option<PathBuf> {
        if !self.restored {
            return None;
        }
        // State written where alchemy-ci does not look was not saved either.
        let stray = self.finding.as_ref().is_some_and(Finding::is_warning);
        let safe_to_remove = self.saved && !self.collect_failed && !stray;
        if !safe_to_remove {
            let why = self
                .lost
                .as_deref()
                .map(|l| format!(" ({l})"))
                .unwrap_or_default();
            tracing::error!(
                "stage {}'s state was NOT saved{why}; it is left in {}{}",
                self.key,
                self.alchemy_dir.display(),
                self.aside
                    .as_ref()
                    .map(|a| format!(
                        " (the .alchemy/ that was there before is at {})",
                        a.display()
                    ))
                    .unwrap_or_default()
            );
            return Some(self.alchemy_dir.clone());
        }
        if let Err(e) = remove_dir_if_exists(&self.alchemy_dir) {
            tracing::warn!("could not remove {}: {e}", self.alchemy_dir.display());
            return None;
        }
        if let Some(aside) = self.aside.take() {
            if let Err(e) = std::fs::rename(&aside, &self.alchemy_dir) {
                tracing::warn!(
                    "could not put the earlier .alchemy/ back from {}: {e}",
                    aside.display()
                );
            }
        }
        None
    }
}

/// The stage's files as they are in the working tree right now, for a
/// lease renewal. Alchemy may be half-way through writing one; a file that
/// is not whole JSON skips the files of that renewal. Restored files still
/// on disk count, as in the final save.
pub(super) fn file_source(
    alchemy_dir: &Path,
    stage: &Stage,
    flavor: &Flavor,
    restored: BTreeMap<String, Vec<u8>>,
) -> FileSource {
    let (dir, stage, layout) = (alchemy_dir.to_path_buf(), stage.clone(), Layout::of(flavor));
    Arc::new(move || {
        let files = layout::stage_files(&dir, &stage, layout, &restored).ok()?;
        files
            .values()
            .all(|b| serde_json::from_slice::<serde::de::IgnoredAny>(b).is_ok())
            .then_some(files)
    })
}

fn remove_dir_if_exists(p: &Path) -> std::io::Result<()> {
    match std::fs::remove_dir_all(p) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

/// The resources named in a stage's files, for "what is left" messages.
/// v2's stack outputs file is not a resource.
pub(super) fn resource_names(files: &BTreeMap<String, Vec<u8>>) -> Vec<String> {
    files
        .iter()
        .filter(|(path, _)| !path.ends_with("/__stack_output__.json"))
        .map(|(path, bytes)| {
            serde_json::from_slice::<serde_json::Value>(bytes)
                .ok()
                .and_then(|v| {
                    v.get("fqn")
                        .or_else(|| v.get("id"))
                        .and_then(|x| x.as_str())
                        .map(str::to_owned)
                })
                .unwrap_or_else(|| path.clone())
        })
        .collect()
}

pub(super) fn read_outputs(p: &Path) -> Option<Vec<u8>> {
    match std::fs::read(p) {
        Ok(b) => Some(b),
        Err(e) => {
            tracing::warn!("outputs file {} could not be read: {e}", p.display());
            None
        }
    }
}
