//! Which files under an app's `.alchemy/` belong to one stage, and putting
//! them back. Only one stage's files are ever in the working tree during a
//! run: Alchemy v1's `finalize()` deletes the resources of any other stage
//! whose `<stage>.json` it finds there.

use std::collections::BTreeMap;
use std::path::{Component, Path, PathBuf};

use crate::alchemy::Flavor;
use crate::stage::Stage;

use super::StoreError;

/// Alchemy's state layouts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    /// `.alchemy/<app>/<stage>/…` plus `.alchemy/<app>/<stage>.json`.
    V1,
    /// `.alchemy/state/<stack>/<stage>/…`.
    V2,
    /// A custom command may use either.
    Both,
}

impl Layout {
    pub fn of(flavor: &Flavor) -> Self {
        match flavor {
            Flavor::V1 | Flavor::V1Script(_) => Self::V1,
            Flavor::V2 => Self::V2,
            Flavor::Custom(_) => Self::Both,
        }
    }
}

/// Checks a path read from a store before it is written to disk: relative,
/// `/`-separated, no `.` or `..`, no empty parts. A store is only as
/// trusted as whoever can write to it, and a path like `../../.bashrc` must
/// not leave `.alchemy/`.
pub fn check_rel_path(p: &str) -> Result<&Path, String> {
    if p.is_empty() || p.len() > 1024 || p.contains(['\0', '\\']) {
        return Err(format!("{p:?} is not a state file path"));
    }
    let path = Path::new(p);
    let normal = path.components().all(|c| matches!(c, Component::Normal(_)));
    if !normal
        || p.split('/')
            .any(|part| part.is_empty() || part == "." || part == "..")
    {
        return Err(format!("{p:?} is not a plain relative path"));
    }
    Ok(path)
}

/// Checks every file path of a snapshot before a store writes it.
pub fn check_paths(
    stage: &super::StateKey,
    files: &BTreeMap<String, Vec<u8>>,
) -> Result<(), StoreError> {
    for rel in files.keys() {
        check_rel_path(rel).map_err(|message| StoreError::Corrupt {
            location: format!("state file of {stage}"),
            message,
        })?;
    }
    Ok(())
}

/// Reads the files of `stage` under `alchemy_dir` (the app's `.alchemy/`).
/// Empty folders are not files: Alchemy leaves some behind.
pub fn collect(
    alchemy_dir: &Path,
    stage: &Stage,
    layout: Layout,
) -> Result<BTreeMap<String, Vec<u8>>, StoreError> {
    let mut out = BTreeMap::new();
    if !alchemy_dir.is_dir() {
        return Ok(out);
    }
    let s = stage.as_str();
    if matches!(layout, Layout::V1 | Layout::Both) {
        for app in subdirs(alchemy_dir)? {
            if layout == Layout::Both && app == "state" {
                continue;
            }
            let app_dir = alchemy_dir.join(&app);
            let scope_record = app_dir.join(format!("{s}.json"));
            if scope_record.is_file() {
                out.insert(format!("{app}/{s}.json"), read(&scope_record)?);
            }
            read_tree(&app_dir.join(s), &format!("{app}/{s}"), &mut out)?;
        }
    }
    if matches!(layout, Layout::V2 | Layout::Both) {
        let state = alchemy_dir.join("state");
        if state.is_dir() {
            for stack in subdirs(&state)? {
                read_tree(
                    &state.join(&stack).join(s),
                    &format!("state/{stack}/{s}"),
                    &mut out,
                )?;
            }
        }
    }
    Ok(out)
}

/// Writes `files` under `alchemy_dir`, refusing any path that would leave it.
pub fn restore(alchemy_dir: &Path, files: &BTreeMap<String, Vec<u8>>) -> Result<(), StoreError> {
    for (rel, bytes) in files {
        let rel_path = check_rel_path(rel).map_err(|message| StoreError::Corrupt {
            location: "state file list".into(),
            message,
        })?;
        let dest = alchemy_dir.join(rel_path);
        if let Some(parent) = dest.parent() {
            std::fs::create_dir_all(parent)
                .map_err(|e| StoreError::io(format!("creating {}", parent.display()), e))?;
        }
        std::fs::write(&dest, bytes)
            .map_err(|e| StoreError::io(format!("writing {}", dest.display()), e))?;
    }
    Ok(())
}

fn subdirs(dir: &Path) -> Result<Vec<String>, StoreError> {
    let mut names = Vec::new();
    let entries = std::fs::read_dir(dir)
        .map_err(|e| StoreError::io(format!("reading {}", dir.display()), e))?;
    for e in entries {
        let e = e.map_err(|e| StoreError::io(format!("reading {}", dir.display()), e))?;
        let is_dir = e.file_type().is_ok_and(|t| t.is_dir());
        if let (true, Ok(name)) = (is_dir, e.file_name().into_string()) {
            names.push(name);
        }
    }
    names.sort();
    Ok(names)
}

/// Reads every file below `dir` into `out`, keyed `prefix/relative/path`
/// (no prefix when `prefix` is empty). A missing folder has no files.
pub fn read_tree(
    dir: &Path,
    prefix: &str,
    out: &mut BTreeMap<String, Vec<u8>>,
) -> Result<(), StoreError> {
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e)
            if matches!(
                e.kind(),
                std::io::ErrorKind::NotFound | std::io::ErrorKind::NotADirectory
            ) =>
        {
            return Ok(())
        }
        Err(e) => return Err(StoreError::io(format!("reading {}", dir.display()), e)),
    };
    for e in entries {
        let e = e.map_err(|e| StoreError::io(format!("reading {}", dir.display()), e))?;
        let Ok(name) = e.file_name().into_string() else {
            continue;
        };
        let path: PathBuf = e.path();
        let rel = if prefix.is_empty() {
            name
        } else {
            format!("{prefix}/{name}")
        };
        let kind = e
            .file_type()
            .map_err(|err| StoreError::io(format!("reading {}", path.display()), err))?;
        if kind.is_dir() {
            read_tree(&path, &rel, out)?;
        } else if kind.is_file() {
            out.insert(rel, read(&path)?);
        }
    }
    Ok(())
}

fn read(p: &Path) -> Result<Vec<u8>, StoreError> {
    std::fs::read(p).map_err(|e| StoreError::io(format!("reading {}", p.display()), e))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stage::StagePrefix;

    fn stage(s: &str) -> Stage {
        Stage::parse(s, &StagePrefix::default()).expect("valid")
    }

    fn tree(files: &[&str]) -> tempfile::TempDir {
        let d = tempfile::tempdir().expect("tmp");
        for f in files {
            let p = d.path().join(f);
            std::fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
            std::fs::write(p, f.as_bytes()).expect("write");
        }
        d
    }

    #[test]
    fn v1_collects_only_the_stage_and_its_scope_record() {
        let d = tree(&[
            "app/pr-1/a.json",
            "app/pr-1/scope/b.json",
            "app/pr-1.json",
            "app/pr-10/a.json",
            "app/pr-2.json",
            "other/pr-1/c.json",
        ]);
        std::fs::create_dir_all(d.path().join("app/pr-1/empty")).expect("mkdir");
        let got: Vec<String> = collect(d.path(), &stage("pr-1"), Layout::V1)
            .expect("collect")
            .into_keys()
            .collect();
        assert_eq!(
            got,
            [
                "app/pr-1.json",
                "app/pr-1/a.json",
                "app/pr-1/scope/b.json",
                "other/pr-1/c.json"
            ]
        );
    }

    #[test]
    fn v2_collects_its_stack_folders() {
        let d = tree(&[
            "state/stack/pr-1/x.json",
            "state/stack/pr-1/__stack_output__.json",
            "state/stack/pr-2/y.json",
        ]);
        let got: Vec<String> = collect(d.path(), &stage("pr-1"), Layout::V2)
            .expect("collect")
            .into_keys()
            .collect();
        assert_eq!(
            got,
            [
                "state/stack/pr-1/__stack_output__.json",
                "state/stack/pr-1/x.json"
            ]
        );
    }

    #[test]
    fn restore_refuses_paths_that_escape() {
        let d = tempfile::tempdir().expect("tmp");
        for bad in ["../x", "/etc/x", "a/../../x", "a//b", "./a", "a\\b", ""] {
            let files = BTreeMap::from([(bad.to_owned(), b"x".to_vec())]);
            assert!(restore(d.path(), &files).is_err(), "{bad:?} accepted");
        }
        let files = BTreeMap::from([("app/pr-1/res:with:colons.json".to_owned(), b"{}".to_vec())]);
        restore(d.path(), &files).expect("restores");
        assert!(d.path().join("app/pr-1/res:with:colons.json").is_file());
    }
}
