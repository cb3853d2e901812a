//! The behaviour every state store must have, as one suite run against each
//! backend: round trips, compare-and-swap, many stages at once, locks that
//! wait, expire and are never written over.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use alchemy_ci::record::{Record, RecordStatus};
use alchemy_ci::stage::{Stage, StagePrefix};
use alchemy_ci::state::dir::DirStore;
use alchemy_ci::state::lease::{self, Acquire, Acquired, Holder, Intent, LeaseError, LeaseOptions};
use alchemy_ci::state::{Loaded, Snapshot, StateStore, StoreError, Version};
use alchemy_ci::time::{SystemClock, Timestamp};

pub fn stage(s: &str) -> Stage {
    Stage::parse(s, &StagePrefix::default()).expect("valid stage")
}

pub fn snapshot(stage_name: &str, body: &str) -> Snapshot {
    let mut record = Record::new(
        stage(stage_name),
        RecordStatus::Deployed,
        Timestamp::from_unix(1_800_000_000),
    );
    record.files = vec![format!("app/{stage_name}/site.json")];
    Snapshot {
        record: Some(record),
        files: BTreeMap::from([
            (
                format!("app/{stage_name}/site.json"),
                body.as_bytes().to_vec(),
            ),
            (
                format!("app/{stage_name}/nested/res:with:colon.json"),
                b"{}".to_vec(),
            ),
        ]),
    }
}

fn holder(id: &str) -> Holder {
    Holder {
        id: id.into(),
        run_url: Some(format!("https://github.com/o/r/actions/runs/{id}")),
        run: None,
    }
}

pub fn quick(wait_ms: u64) -> LeaseOptions {
    LeaseOptions {
        ttl: Duration::from_secs(600),
        wait: Duration::from_millis(wait_ms),
        poll: Duration::from_millis(20),
        max_conflicts: 50,
        ..LeaseOptions::default()
    }
}

/// Takes the stage's lease for a deploy-like write with the real clock,
/// creating the stage if need be; returns what the store holds then.
pub fn take(
    store: &dyn StateStore,
    stage: &Stage,
    holder: &Holder,
    opts: &LeaseOptions,
    status: RecordStatus,
) -> Result<Loaded, LeaseError> {
    let clock = SystemClock::default();
    let acquire = Acquire {
        store,
        stage,
        holder,
        opts,
        clock: &clock,
        stop: &|| false,
        gone: &|_| None,
    };
    let intent = Intent {
        action: "deploy",
        status: Some(status),
        pr: None,
        create: true,
    };
    match lease::acquire(&acquire, &intent)? {
        Acquired::Held(h) => Ok(h.current.clone()),
        Acquired::Absent => panic!("a creating lease found no stage"),
    }
}

/// A store and a second handle on the same storage, as a later run in a
/// fresh checkout would have.
pub trait Backend {
    fn store(&self) -> Box<dyn StateStore>;
}

pub fn round_trip(b: &dyn Backend) {
    let s = stage("pr-1");
    let first = b.store();
    let loaded = first.load(&s).expect("load");
    assert!(loaded.snapshot.is_empty());
    assert_eq!(loaded.version, Version::ABSENT);
    let snap = snapshot("pr-1", "v1");
    first
        .put(&s, &snap, &Version::ABSENT, "deploy pr-1")
        .expect("put");

    let fresh = b.store();
    let again = fresh.load(&s).expect("load again");
    assert_eq!(again.snapshot, snap);
    assert_ne!(again.version, Version::ABSENT);
    assert_eq!(fresh.list().expect("list"), vec![s.clone()]);
    let records = fresh.records().expect("records");
    assert_eq!(records.len(), 1);
    assert!(matches!(&records[0].1, Ok(Some(r)) if r.status == RecordStatus::Deployed));
}

pub fn stale_writes_conflict_and_change_nothing(b: &dyn Backend) {
    let s = stage("pr-2");
    let store = b.store();
    let v1 = store
        .put(&s, &snapshot("pr-2", "one"), &Version::ABSENT, "first")
        .expect("put");
    let v2 = store
        .put(&s, &snapshot("pr-2", "two"), &v1, "second")
        .expect("put on v1");
    let stale = store.put(&s, &snapshot("pr-2", "stale"), &v1, "stale");
    assert!(
        matches!(stale, Err(StoreError::Conflict { .. })),
        "{stale:?}"
    );
    let create_again = store.put(&s, &snapshot("pr-2", "again"), &Version::ABSENT, "again");
    assert!(
        matches!(create_again, Err(StoreError::Conflict { .. })),
        "{create_again:?}"
    );
    let now = b.store().load(&s).expect("load");
    assert_eq!(now.version, v2);
    assert_eq!(now.snapshot, snapshot("pr-2", "two"));

    let removed_stale = store.remove(&s, &v1);
    assert!(matches!(removed_stale, Err(StoreError::Conflict { .. })));
    store.remove(&s, &v2).expect("remove");
    assert!(b.store().load(&s).expect("load").snapshot.is_empty());
    assert!(b.store().list().expect("list").is_empty());
}

pub fn many_stages_at_once_lose_nothing(b: &dyn Backend) {
    let stores: Vec<Arc<dyn StateStore>> = (0..20).map(|_| Arc::from(b.store())).collect();
    let handles: Vec<_> = stores
        .into_iter()
        .enumerate()
        .map(|(i, store)| {
            std::thread::spawn(move || {
                let name = format!("pr-{}", i + 1);
                let s = stage(&name);
                let h = holder(&format!("run-{i}"));
                let held = take(
                    store.as_ref(),
                    &s,
                    &h,
                    &quick(30_000),
                    RecordStatus::Deploying,
                )
                .expect("acquire");
                let mut snap = snapshot(&name, &name);
                if let Some(r) = snap.record.as_mut() {
                    r.lock = held.snapshot.record.and_then(|r| r.lock);
                }
                lease::finish(store.as_ref(), &s, &h, snap, held.version, "deploy", 50)
                    .expect("finish");
            })
        })
        .collect();
    for h in handles {
        h.join().expect("thread");
    }
    let store = b.store();
    let mut names: Vec<String> = store
        .list()
        .expect("list")
        .iter()
        .map(|s| s.to_string())
        .collect();
    names.sort_by_key(|n| n[3..].parse::<u32>().unwrap_or(0));
    let want: Vec<String> = (1..=20).map(|i| format!("pr-{i}")).collect();
    assert_eq!(names, want);
    for n in want {
        let got = store.load(&stage(&n)).expect("load").snapshot;
        let mut expected = snapshot(&n, &n);
        if let Some(r) = expected.record.as_mut() {
            r.lock = None;
        }
        assert_eq!(got.files, expected.files, "{n}");
        assert!(
            got.record.is_some_and(|r| r.lock.is_none()),
            "{n} still locked"
        );
    }
}

pub fn a_held_lock_makes_others_wait_then_fail_clearly(b: &dyn Backend) {
    let s = stage("pr-3");
    let store = b.store();
    let first = take(
        store.as_ref(),
        &s,
        &holder("first"),
        &quick(0),
        RecordStatus::Deploying,
    )
    .expect("first takes it");
    let other = b.store();
    let second = take(
        other.as_ref(),
        &s,
        &holder("second"),
        &quick(200),
        RecordStatus::Deploying,
    );
    match second {
        Err(LeaseError::Busy { lease, .. }) => {
            assert_eq!(lease.holder, "first");
            assert!(lease.run_url.is_some_and(|u| u.ends_with("/first")));
        }
        other => panic!("expected Busy, got {other:?}"),
    }
    // Released, the stage is free for the next run.
    lease::finish(
        store.as_ref(),
        &s,
        &holder("first"),
        first.snapshot,
        first.version,
        "done",
        5,
    )
    .expect("finish");
    take(
        other.as_ref(),
        &s,
        &holder("second"),
        &quick(0),
        RecordStatus::Destroying,
    )
    .expect("second takes it after release");
}

pub fn an_expired_lock_is_taken_over_and_the_old_holder_cannot_write(b: &dyn Backend) {
    let s = stage("pr-4");
    let store = b.store();
    let short = LeaseOptions {
        ttl: Duration::from_secs(0),
        ..quick(0)
    };
    let dead = take(
        store.as_ref(),
        &s,
        &holder("killed-run"),
        &short,
        RecordStatus::Deploying,
    )
    .expect("first takes it");
    std::thread::sleep(Duration::from_millis(1_100));
    let other = b.store();
    let taken = take(
        other.as_ref(),
        &s,
        &holder("next-run"),
        &quick(0),
        RecordStatus::Deploying,
    )
    .expect("expired lease is taken over");
    assert_eq!(
        taken
            .snapshot
            .record
            .as_ref()
            .and_then(|r| r.lock.as_ref())
            .map(|l| l.holder.as_str()),
        Some("next-run")
    );
    // The run that lost its lease comes back and must not write over the new holder.
    let late = lease::finish(
        store.as_ref(),
        &s,
        &holder("killed-run"),
        snapshot("pr-4", "late"),
        dead.version,
        "late",
        5,
    );
    assert!(
        matches!(late, Err(LeaseError::Lost { ref holder, .. }) if holder == "next-run"),
        "{late:?}"
    );
    let now = b.store().load(&s).expect("load").snapshot;
    assert!(!now.files.values().any(|v| v == b"late"));
}

struct Dir(tempfile::TempDir);

impl Backend for Dir {
    fn store(&self) -> Box<dyn StateStore> {
        Box::new(DirStore::new(self.0.path()))
    }
}

fn dir() -> Dir {
    Dir(tempfile::tempdir().expect("temp dir"))
}

#[test]
fn dir_round_trip() {
    round_trip(&dir());
}

#[test]
fn dir_stale_writes_conflict() {
    stale_writes_conflict_and_change_nothing(&dir());
}

#[test]
fn dir_many_stages_at_once() {
    many_stages_at_once_lose_nothing(&dir());
}

#[test]
fn dir_lock_waits_then_fails_clearly() {
    a_held_lock_makes_others_wait_then_fail_clearly(&dir());
}

#[test]
fn dir_expired_lock_is_taken_over() {
    an_expired_lock_is_taken_over_and_the_old_holder_cannot_write(&dir());
}

#[test]
fn dir_corrupt_record_names_the_file() {
    let d = dir();
    let s = stage("pr-9");
    d.store()
        .put(&s, &snapshot("pr-9", "x"), &Version::ABSENT, "put")
        .expect("put");
    let current = std::fs::read_to_string(d.0.path().join("stages/pr-9/current")).expect("current");
    let record =
        d.0.path()
            .join(format!("stages/pr-9/v{}/record.json", current.trim()));
    std::fs::write(&record, "{not json").expect("corrupt");
    match d.store().load(&s) {
        Err(StoreError::Corrupt { location, .. }) => {
            assert!(location.ends_with("record.json"), "{location}")
        }
        other => panic!("expected Corrupt, got {other:?}"),
    }
}

/// An app's stage is stored under `<stage>@<app>` beside the single-app
/// stage of the same name: each its own snapshot, version and lock;
/// `list` and `records` show only stages, as versions before apps did,
/// and `keys` and `key_records` show both.
pub fn app_keys_live_beside_stages(b: &dyn Backend) {
    use alchemy_ci::apps::spec::AppName;
    use alchemy_ci::state::StateKey;
    let app_key = |app: &str| StateKey::app(stage("pr-7"), AppName::parse(app).expect("app"));
    let (api, web, single) = (app_key("api"), app_key("web"), stage("pr-7"));
    let store = b.store();
    let with_app = |body: &str, app: &str| {
        let mut s = snapshot("pr-7", body);
        if let Some(r) = s.record.as_mut() {
            r.app = Some(AppName::parse(app).expect("app"));
        }
        s
    };
    store
        .put(&single, &snapshot("pr-7", "single"), &Version::ABSENT, "s")
        .expect("put the stage");
    let v_api = store
        .put(&api, &with_app("api", "api"), &Version::ABSENT, "api")
        .expect("put pr-7@api");
    // A lock on one app's stage does not touch the others.
    let clock = SystemClock::default();
    let acquire = Acquire {
        store: store.as_ref(),
        stage: &web,
        holder: &holder("web-run"),
        opts: &quick(0),
        clock: &clock,
        stop: &|| false,
        gone: &|_| None,
    };
    let intent = Intent {
        action: "deploy",
        status: Some(RecordStatus::Deploying),
        pr: None,
        create: true,
    };
    let Ok(Acquired::Held(held)) = lease::acquire(&acquire, &intent) else {
        panic!("could not lock pr-7@web");
    };
    let held = held.current;
    let other = b.store();
    take(
        other.as_ref(),
        &single,
        &holder("other"),
        &quick(0),
        RecordStatus::Deploying,
    )
    .expect("the stage itself is free");
    let got = other.load(&api).expect("load pr-7@api");
    assert_eq!(got.snapshot, with_app("api", "api"));
    assert_eq!(got.version, v_api);
    let web_record = held.snapshot.record.expect("the lock made a record");
    assert_eq!(web_record.app.as_ref().map(AppName::as_str), Some("web"));
    assert_eq!(web_record.stage, single);

    assert_eq!(other.list().expect("list"), vec![single.clone()]);
    assert_eq!(
        other.keys().expect("keys"),
        vec![StateKey::single(single.clone()), api.clone(), web.clone()]
    );
    assert_eq!(other.records().expect("records").len(), 1);
    let all: Vec<(String, Option<String>)> = other
        .key_records()
        .expect("key records")
        .into_iter()
        .map(|(k, r)| {
            let app = r
                .expect("readable")
                .and_then(|r| r.app)
                .map(|a| a.to_string());
            (k.to_string(), app)
        })
        .collect();
    assert_eq!(
        all,
        [
            ("pr-7".to_owned(), None),
            ("pr-7@api".to_owned(), Some("api".to_owned())),
            ("pr-7@web".to_owned(), Some("web".to_owned())),
        ]
    );
    other.remove(&api, &v_api).expect("remove pr-7@api");
    assert!(b.store().load(&api).expect("load").snapshot.is_empty());
    assert!(!b.store().load(&single).expect("load").snapshot.is_empty());
    assert_eq!(b.store().keys().expect("keys").len(), 2);
}

#[test]
fn dir_app_keys_live_beside_stages() {
    let d = dir();
    app_keys_live_beside_stages(&d);
    assert!(d.0.path().join("stages/pr-7@web/current").is_file());
    assert!(d.0.path().join("stages/pr-7@web.lock").is_file());
}
