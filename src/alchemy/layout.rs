//! Where a stage's local state is after a run, and what a deploy that left
//! none of it means.
//!
//! alchemy-ci only knows a stage's files by the layout of its Alchemy
//! flavour. A deploy that succeeded with no file there is either an app
//! that keeps its state in its own store (Cloudflare, S3, a v2 state
//! provider: nothing to keep, and said so), or local state in a layout
//! alchemy-ci does not know, which it cannot save and whose destroy it
//! cannot check (said loudly). Reads folders; runs nothing.

use std::collections::BTreeMap;
use std::path::Path;

use crate::record::StateKeeping;
use crate::stage::Stage;
use crate::state::files::{self, Layout};
use crate::state::StoreError;

/// Top-level folders of `.alchemy/` that Alchemy fills with logs, process
/// ids and local emulator data, never with a stage's state.
const NOT_STATE: &[&str] = &["log", "logs", "pids", "miniflare"];

/// How many files a scan for stray state reads before it gives up: enough
/// for any app's state, bounded for a checkout that commits a huge tree.
const SCAN_LIMIT: usize = 5_000;

/// How many stray paths a warning names.
const SHOWN: usize = 5;

/// The stage's files in a run's `.alchemy/`: those in the flavour's layout,
/// and every file the run restored that is still there. The second part
/// matters when the flavour changed since the state was saved (a v1 app
/// moved to v2, a wrong `alchemy-command`): the restored files are outside
/// the layout looked at, and neither a save nor a destroy check may act as
/// if they were gone.
pub fn stage_files(
    alchemy_dir: &Path,
    stage: &Stage,
    layout: Layout,
    restored: &BTreeMap<String, Vec<u8>>,
) -> Result<BTreeMap<String, Vec<u8>>, StoreError> {
    let mut out = files::collect(alchemy_dir, stage, layout)?;
    for rel in restored.keys() {
        if out.contains_key(rel) {
            continue;
        }
        let Ok(path) = files::check_rel_path(rel) else {
            continue;
        };
        let p = alchemy_dir.join(path);
        if std::fs::symlink_metadata(&p).is_ok_and(|m| m.is_file()) {
            let bytes = std::fs::read(&p)
                .map_err(|e| StoreError::io(format!("reading {}", p.display()), e))?;
            out.insert(rel.clone(), bytes);
        }
    }
    Ok(out)
}

/// Where the stage's state was found to live after a deploy, and what to
/// tell the user about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    pub keeping: StateKeeping,
    /// A notice (app-managed) or a warning (not found); none for local state.
    pub message: Option<String>,
}

impl Finding {
    /// Whether the message is a warning rather than a notice.
    pub fn is_warning(&self) -> bool {
        self.keeping == StateKeeping::NotFound
    }
}

/// Classifies a deploy's outcome. `files` are the stage's files after the
/// run, `run_dir` the run's `.alchemy/`, `checkout_dir` the `.alchemy/` the
/// checkout had, set aside during the run. A failed deploy that wrote
/// nothing says nothing about where the app keeps its state: `None`.
pub fn after_deploy(
    files: &BTreeMap<String, Vec<u8>>,
    succeeded: bool,
    layout: Layout,
    stage: &Stage,
    run_dir: &Path,
    checkout_dir: Option<&Path>,
) -> Option<Finding> {
    if !files.is_empty() {
        return Some(Finding {
            keeping: StateKeeping::Local,
            message: None,
        });
    }
    if !succeeded {
        return None;
    }
    let looked = looked_at(layout, stage).join(", ");
    let mut stray = local_store_signs(run_dir, layout);
    if let Some(dir) = checkout_dir {
        stray.extend(
            local_store_signs(dir, layout)
                .into_iter()
                .map(|p| format!("{p} (in the checkout)")),
        );
    }
    if stray.is_empty() {
        return Some(Finding {
            keeping: StateKeeping::AppManaged,
            message: Some(format!(
                "stage {stage} was deployed and has no state file where alchemy-ci looks ({looked}): \
                 this app keeps its state in its own store (a Cloudflare or S3 state store, a v2 state provider), \
                 so alchemy-ci keeps none of it, which is fine. A destroy of {stage} will be reported as not \
                 verified, since alchemy-ci cannot look into that store, unless verify-command is set"
            )),
        });
    }
    let more = stray.len().saturating_sub(SHOWN);
    let mut shown: Vec<String> = stray.into_iter().take(SHOWN).collect();
    if more > 0 {
        shown.push(format!("and {more} more"));
    }
    Some(Finding {
        keeping: StateKeeping::NotFound,
        message: Some(format!(
            "stage {stage}'s state could not be found: no state file of it where alchemy-ci looks ({looked}), \
             yet this app uses a local state store ({}). alchemy-ci could not save {stage}'s state (it leaves \
             .alchemy/ on disk as the run left it), and the destroy of {stage} will NOT be verifiable. Check alchemy-command (the app's Alchemy flavour and \
             how it is run) and where the app keeps its state",
            shown.join(", ")
        )),
    })
}

/// The places a flavour keeps a stage's files, as a message shows them.
pub fn looked_at(layout: Layout, stage: &Stage) -> Vec<String> {
    let v1 = [
        format!(".alchemy/*/{stage}/"),
        format!(".alchemy/*/{stage}.json"),
    ];
    let v2 = [format!(".alchemy/state/*/{stage}/")];
    match layout {
        Layout::V1 => v1.to_vec(),
        Layout::V2 => v2.to_vec(),
        Layout::Both => v1.into_iter().chain(v2).collect(),
    }
}

/// Signs that an app keeps local state in `dir` (an `.alchemy/`): the v2
/// layout's root for a v2 app, and any JSON file inside a folder other
/// than Alchemy's logs and process ids, as every local state store writes.
fn local_store_signs(dir: &Path, layout: Layout) -> Vec<String> {
    let mut out = Vec::new();
    let v2_root = dir.join("state");
    if layout != Layout::V1 && v2_root.is_dir() {
        out.push(".alchemy/state/".to_owned());
    }
    let mut budget = SCAN_LIMIT;
    let Ok(entries) = std::fs::read_dir(dir) else {
        return out;
    };
    let mut top: Vec<String> = entries
        .flatten()
        .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
        .filter_map(|e| e.file_name().into_string().ok())
        .filter(|name| !NOT_STATE.contains(&name.as_str()))
        .collect();
    top.sort();
    for name in top {
        json_files(
            &dir.join(&name),
            &format!(".alchemy/{name}"),
            &mut budget,
            &mut out,
        );
    }
    out
}

fn json_files(dir: &Path, shown: &str, budget: &mut usize, out: &mut Vec<String>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let mut entries: Vec<_> = entries.flatten().collect();
    entries.sort_by_key(std::fs::DirEntry::file_name);
    for e in entries {
        if *budget == 0 {
            return;
        }
        *budget -= 1;
        let Ok(name) = e.file_name().into_string() else {
            continue;
        };
        let Ok(kind) = e.file_type() else {
            continue;
        };
        let path = format!("{shown}/{name}");
        if kind.is_dir() {
            json_files(&e.path(), &path, budget, out);
        } else if kind.is_file() && name.ends_with(".json") {
            out.push(path);
        }
    }
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
            std::fs::write(p, b"{}").expect("write");
        }
        d
    }

    fn classify(run: &[&str], checkout: Option<&[&str]>, layout: Layout) -> Option<Finding> {
        let run = tree(run);
        let checkout = checkout.map(tree);
        after_deploy(
            &BTreeMap::new(),
            true,
            layout,
            &stage("pr-5"),
            run.path(),
            checkout.as_ref().map(tempfile::TempDir::path),
        )
    }

    #[test]
    fn no_state_anywhere_is_app_managed() {
        let f =
            classify(&["log/out.json", "version-check.json"], None, Layout::V2).expect("a finding");
        assert_eq!(f.keeping, StateKeeping::AppManaged);
        assert!(!f.is_warning());
        let m = f.message.expect("a notice");
        assert!(m.contains(".alchemy/state/*/pr-5/"), "{m}");
    }

    #[test]
    fn state_in_an_unknown_layout_is_not_found_and_named() {
        let f = classify(&["elsewhere/app/pr-5/page.json"], None, Layout::Both).expect("a finding");
        assert_eq!(f.keeping, StateKeeping::NotFound);
        let m = f.message.expect("a warning");
        assert!(m.contains(".alchemy/elsewhere/app/pr-5/page.json"), "{m}");
        assert!(m.contains(".alchemy/*/pr-5/"), "{m}");
    }

    #[test]
    fn other_stages_in_the_checkout_or_a_v2_layout_root_count() {
        let f = classify(&[], Some(&["app/dev/site.json"]), Layout::V1).expect("a finding");
        assert_eq!(f.keeping, StateKeeping::NotFound);
        assert!(f
            .message
            .is_some_and(|m| m.contains(".alchemy/app/dev/site.json (in the checkout)")));
        let run = tempfile::tempdir().expect("tmp");
        std::fs::create_dir_all(run.path().join("state")).expect("mkdir");
        let f = after_deploy(
            &BTreeMap::new(),
            true,
            Layout::V2,
            &stage("pr-5"),
            run.path(),
            None,
        )
        .expect("a finding");
        assert_eq!(f.keeping, StateKeeping::NotFound);
    }

    #[test]
    fn a_failed_deploy_that_wrote_nothing_is_not_app_managed() {
        let run = tempfile::tempdir().expect("tmp");
        let f = after_deploy(
            &BTreeMap::new(),
            false,
            Layout::V1,
            &stage("pr-5"),
            run.path(),
            None,
        );
        assert_eq!(f, None);
        let files = BTreeMap::from([("app/pr-5/a.json".to_owned(), b"{}".to_vec())]);
        let f = after_deploy(&files, false, Layout::V1, &stage("pr-5"), run.path(), None);
        assert_eq!(f.map(|f| f.keeping), Some(StateKeeping::Local));
    }

    #[test]
    fn restored_files_outside_the_layout_still_count() {
        let d = tree(&["app/pr-5/a.json", "app/pr-6/b.json"]);
        let restored = BTreeMap::from([("app/pr-5/a.json".to_owned(), Vec::new())]);
        let got = stage_files(d.path(), &stage("pr-5"), Layout::V2, &restored).expect("read");
        assert_eq!(got.keys().collect::<Vec<_>>(), ["app/pr-5/a.json"]);
        std::fs::remove_file(d.path().join("app/pr-5/a.json")).expect("rm");
        let got = stage_files(d.path(), &stage("pr-5"), Layout::V2, &restored).expect("read");
        assert!(got.is_empty());
    }
}
