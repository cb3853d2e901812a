//! The stage lifecycle when time and concurrency meet: one regression test
//! per way it was found to break, each naming its scenario. End to end with
//! the real Alchemy, the folder store and the fake GitHub where a run is
//! involved.

use alchemy_ci::state::dir::DirStore;
use alchemy_ci::state::{StateStore, StoreError, Version};

use crate::store_contract::{snapshot, stage};

/// Scenario: a stage is removed (`state rm`, the sweep forgetting a
/// tombstone) and made again while a slow writer still holds the version
/// it read before the removal. The folder store's versions were counters
/// that restarted at 1, so the stale writer's "1" matched the new stage's
/// first version and its write went through (ABA). Versions must never
/// repeat for a stage.
#[test]
fn a_folder_store_version_never_comes_back_after_the_stage_is_removed() {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = DirStore::new(dir.path());
    let s = stage("pr-1");
    let stale = store
        .put(&s, &snapshot("pr-1", "first"), &Version::ABSENT, "first")
        .expect("first write");
    store.remove(&s, &stale).expect("remove");
    let fresh = store
        .put(&s, &snapshot("pr-1", "again"), &Version::ABSENT, "again")
        .expect("made again");
    assert_ne!(stale, fresh, "a version came back");
    let late = store.put(&s, &snapshot("pr-1", "late"), &stale, "late");
    assert!(
        matches!(late, Err(StoreError::Conflict { .. })),
        "the stale writer won: {late:?}"
    );
    let now = store.load(&s).expect("load").snapshot;
    assert!(now.files.values().any(|v| v == b"again"));
    assert!(!now.files.values().any(|v| v == b"late"));
}

/// Scenario: `status`, a read or a destroy looks up a stage that was never
/// written. Reading must leave nothing behind in the folder store (it used
/// to create the stage's lock file).
#[test]
fn reading_a_missing_stage_from_a_folder_store_creates_nothing() {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = DirStore::new(dir.path().join("store"));
    let loaded = store.load(&stage("pr-404")).expect("load");
    assert!(loaded.snapshot.is_empty());
    assert_eq!(loaded.version, Version::ABSENT);
    assert!(
        !dir.path().join("store").exists(),
        "a read created {:?}",
        std::fs::read_dir(dir.path().join("store"))
            .map(|d| d.flatten().map(|e| e.file_name()).collect::<Vec<_>>())
    );
}
