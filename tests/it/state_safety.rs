//! The rule that matters most: a run never writes less state than the
//! store held, whatever breaks. Some breakages cannot be produced by a real
//! store, so this test stands a store in front of a real folder store that
//! hands out a snapshot the working tree cannot hold.

use std::collections::BTreeMap;

use alchemy_ci::actions::Actions;
use alchemy_ci::alchemy::Flavor;
use alchemy_ci::cancel::Cancel;
use alchemy_ci::execute::{self, Outcome, Runtime};
use alchemy_ci::record::{Record, RecordStatus};
use alchemy_ci::stage::{Stage, StagePrefix};
use alchemy_ci::state::dir::DirStore;
use alchemy_ci::state::lease::{Holder, LeaseOptions};
use alchemy_ci::state::{AsKey, Loaded, Snapshot, StageRecord, StateStore, StoreError, Version};
use alchemy_ci::time::Timestamp;

use crate::support::{fixture, Dir};

/// A folder store whose loads add one file that collides with another
/// (`x.json` and `x.json/y`), so restoring into `.alchemy/` breaks half-way.
struct Colliding {
    inner: DirStore,
}

impl StateStore for Colliding {
    fn describe(&self) -> String {
        "colliding store".into()
    }
    fn load(&self, stage: &dyn AsKey) -> Result<Loaded, StoreError> {
        let mut l = self.inner.load(stage)?;
        l.snapshot
            .files
            .insert("app/pr-5/x.json/y".into(), b"{}".to_vec());
        Ok(l)
    }
    fn put(
        &self,
        stage: &dyn AsKey,
        s: &Snapshot,
        v: &Version,
        m: &str,
    ) -> Result<Version, StoreError> {
        let mut clean = s.clone();
        clean.files.remove("app/pr-5/x.json/y");
        self.inner.put(stage, &clean, v, m)
    }
    fn remove(&self, stage: &dyn AsKey, v: &Version) -> Result<(), StoreError> {
        self.inner.remove(stage, v)
    }
    fn list(&self) -> Result<Vec<Stage>, StoreError> {
        self.inner.list()
    }
    fn records(&self) -> Result<Vec<StageRecord>, StoreError> {
        self.inner.records()
    }
}

#[test]
fn a_restore_that_breaks_half_way_never_shrinks_the_stored_state() {
    let dir = Dir::new();
    let stage = Stage::parse("pr-5", &StagePrefix::default()).expect("stage");
    let stored: BTreeMap<String, Vec<u8>> = [
        ("app/pr-5/a.json", "a"),
        ("app/pr-5/x.json", "x"),
        ("app/pr-5/z.json", "z"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.as_bytes().to_vec()))
    .collect();
    let inner = DirStore::new(dir.path().join("store"));
    let mut rec = Record::new(stage.clone(), RecordStatus::Deployed, Timestamp::now());
    rec.files = stored.keys().cloned().collect();
    inner
        .put(
            &stage,
            &Snapshot {
                record: Some(rec),
                files: stored.clone(),
            },
            &Version::ABSENT,
            "seed",
        )
        .expect("seed");
    let store = Colliding { inner };

    // The plan simulate would print for a synchronize of PR #5.
    let mut ev = fixture("pull_request.synchronize.json");
    ev["number"] = serde_json::json!(5);
    ev["pull_request"]["number"] = serde_json::json!(5);
    let event = alchemy_ci::event::parse(
        std::path::Path::new("ev.json"),
        &serde_json::to_vec(&ev).expect("json"),
        &alchemy_ci::event::NameHint::default(),
    )
    .expect("event");
    let config = alchemy_ci::config::resolve(&alchemy_ci::config::Sources {
        flags: &alchemy_ci::config::FlagValues::default(),
        env: &BTreeMap::new(),
        root: dir.path(),
    })
    .expect("config");
    let facts = alchemy_ci::plan::Facts {
        alchemy: alchemy_ci::alchemy::Detected {
            flavor: Flavor::V1,
            why: "test".into(),
        },
        can_post: false,
        live_pr: None,
        record: None,
        run: Default::default(),
        commenter_permission: None,
        pull_head: None,
    };
    let plan = alchemy_ci::plan::decide(&event, &config, &facts).expect("plan");
    std::fs::create_dir_all(dir.path().join("app")).expect("app");
    let cancel = Cancel::manual();
    let actions = Actions::default();
    let clock = alchemy_ci::time::SystemClock::default();
    let runner = alchemy_ci::execute::ProcessRunner;
    let rt = Runtime {
        store: &store,
        holder: Holder {
            id: "test".into(),
            run_url: None,
            run: None,
        },
        lease: LeaseOptions::default(),
        clock: &clock,
        stop_budget: std::time::Duration::from_secs(9),
        runner: &runner,
        recheck: None,
        holder_gone: &|_| None,
        app_dir: dir.path().join("app"),
        flavor: Flavor::V1,
        timeout: std::time::Duration::from_secs(60),
        grace: std::time::Duration::from_secs(1),
        cancel: &cancel,
        actions: &actions,
        outputs_file: None,
        run_url: None,
        repo_url: None,
        forge: None,
        stdout_to_stderr: false,
        config: &config,
    };
    let report = execute::execute(&plan, &rt).expect("no bad input");
    assert_eq!(report.result, Outcome::Failure, "{report:?}");

    let after = store.inner.load(&stage).expect("load").snapshot;
    assert_eq!(after.files, stored, "the stored state shrank");
    let rec = after.record.expect("record");
    assert_eq!(rec.status, RecordStatus::Failed);
    assert!(rec.lock.is_none(), "the lock was not released");
    assert!(report.kept_locally.is_none());
}
