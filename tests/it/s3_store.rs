//! The S3 store against a real S3-compatible server on loopback (moto, see
//! `s3_server`): first that the server really refuses stale conditional
//! writes, then the whole store contract, then what only an object store
//! can get wrong: crashes between the file writes and the commit, racing
//! writers, tombstones, listing cost, credentials and reachability.

use std::collections::BTreeSet;
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use alchemy_ci::record::RecordStatus;
use alchemy_ci::state::lease::{self, Holder, LeaseOptions};
use alchemy_ci::state::s3::S3Store;
use alchemy_ci::state::{StateStore, StoreError, Version};
use futures::StreamExt;
use object_store::path::Path as Key;
use object_store::{ObjectStore, ObjectStoreExt, PutMode, PutOptions, PutPayload, UpdateVersion};

use crate::s3_server::{S3Server, BUCKET};
use crate::store_contract::{self as contract, snapshot, stage, Backend};
use crate::support::Dir;

struct S3Backend {
    prefix: String,
}

impl Backend for S3Backend {
    fn store(&self) -> Box<dyn StateStore> {
        Box::new(S3Server::shared().store(&self.prefix))
    }
}

fn backend(prefix: &str) -> S3Backend {
    S3Backend {
        prefix: prefix.into(),
    }
}

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
}

/// Every object key under `prefix`.
fn keys_under(prefix: &str) -> BTreeSet<String> {
    let raw = S3Server::shared().raw();
    rt().block_on(async {
        raw.list(Some(&Key::from(prefix)))
            .map(|m| m.expect("list").location.to_string())
            .collect()
            .await
    })
}

fn put_raw(key: &str, body: &[u8]) {
    let raw = S3Server::shared().raw();
    rt().block_on(raw.put(&Key::from(key), PutPayload::from(body.to_vec())))
        .expect("raw put");
}

/// The server's requests since `from` whose path or query mentions `tag`.
fn requests_about(from: usize, tag: &str) -> Vec<crate::s3_server::Request> {
    S3Server::shared()
        .requests()
        .into_iter()
        .skip(from)
        .filter(|r| r.path.contains(tag) || r.query.contains(tag))
        .collect()
}

// --- The server itself -------------------------------------------------------

#[test]
fn the_server_refuses_stale_if_match_and_if_none_match_with_412() {
    let s = S3Server::shared();
    let raw = s.raw();
    let key = Key::from("server-check/object");
    rt().block_on(async {
        let first = raw
            .put(&key, PutPayload::from_static(b"one"))
            .await
            .expect("put");
        let second = raw
            .put_opts(
                &key,
                PutPayload::from_static(b"two"),
                PutOptions::from(PutMode::Update(UpdateVersion::from(first.clone()))),
            )
            .await
            .expect("If-Match on the current ETag is accepted");
        assert_ne!(first.e_tag, second.e_tag);

        let stale = raw
            .put_opts(
                &key,
                PutPayload::from_static(b"stale"),
                PutOptions::from(PutMode::Update(UpdateVersion::from(first))),
            )
            .await;
        match stale {
            Err(e @ object_store::Error::Precondition { .. }) => {
                assert!(e.to_string().contains("412"), "{e}")
            }
            other => panic!("a stale If-Match was not refused: {other:?}"),
        }
        let create = raw
            .put_opts(
                &key,
                PutPayload::from_static(b"create"),
                PutOptions::from(PutMode::Create),
            )
            .await;
        match create {
            Err(e @ object_store::Error::AlreadyExists { .. }) => {
                assert!(format!("{e:?}").contains("412"), "{e:?}")
            }
            other => panic!("If-None-Match: * on an existing key was not refused: {other:?}"),
        }
        let body = raw
            .get(&key)
            .await
            .expect("get")
            .bytes()
            .await
            .expect("body");
        assert_eq!(&body[..], b"two", "a refused write changed the object");
    });
}

#[test]
fn the_server_decides_racing_conditional_writes_atomically() {
    // Sixteen writers with the same ETag at once, twenty times: each time
    // exactly one may win, or a lost-update test against it proves nothing.
    let s = S3Server::shared();
    let key = Key::from("server-check/race");
    for round in 0..20 {
        let base = rt()
            .block_on(
                s.raw()
                    .put(&key, PutPayload::from(format!("base {round}").into_bytes())),
            )
            .expect("put");
        let barrier = Arc::new(Barrier::new(16));
        let handles: Vec<_> = (0..16)
            .map(|i| {
                let (barrier, base, key) = (barrier.clone(), base.clone(), key.clone());
                std::thread::spawn(move || {
                    let raw = S3Server::shared().raw();
                    let rt = rt();
                    barrier.wait();
                    rt.block_on(raw.put_opts(
                        &key,
                        PutPayload::from(format!("writer {i}").into_bytes()),
                        PutOptions::from(PutMode::Update(UpdateVersion::from(base))),
                    ))
                    .is_ok()
                })
            })
            .collect();
        let wins = handles
            .into_iter()
            .map(|h| h.join().expect("thread"))
            .filter(|w| *w)
            .count();
        assert_eq!(wins, 1, "round {round}: {wins} writers won one ETag");
    }
}

// --- The contract ------------------------------------------------------------

/// `@` in a key travels through the S3 client's URLs and the server's
/// listing unchanged: the stage object is `<prefix>/stages/pr-7@web/record.json`.
#[test]
fn s3_app_keys_live_beside_stages() {
    contract::app_keys_live_beside_stages(&backend("contract-apps"));
    let keys = keys_under("contract-apps/stages/pr-7@web");
    assert!(
        keys.contains("contract-apps/stages/pr-7@web/record.json"),
        "{keys:?}"
    );
}

#[test]
fn s3_round_trip() {
    contract::round_trip(&backend("contract-round-trip"));
}

#[test]
fn s3_stale_writes_conflict() {
    contract::stale_writes_conflict_and_change_nothing(&backend("contract-stale"));
}

#[test]
fn s3_many_stages_at_once() {
    contract::many_stages_at_once_lose_nothing(&backend("contract-many"));
}

#[test]
fn s3_lock_waits_then_fails_clearly() {
    contract::a_held_lock_makes_others_wait_then_fail_clearly(&backend("contract-lock"));
}

#[test]
fn s3_expired_lock_is_taken_over() {
    contract::an_expired_lock_is_taken_over_and_the_old_holder_cannot_write(&backend(
        "contract-expired",
    ));
}

// --- Layout and crashes ------------------------------------------------------

/// The objects the stage object names, as keys, for comparing with the bucket.
fn named_keys(prefix: &str, stage_name: &str) -> BTreeSet<String> {
    let raw = S3Server::shared().raw();
    let key = format!("{prefix}/stages/{stage_name}/record.json");
    let body = rt()
        .block_on(async { raw.get(&Key::from(key.as_str())).await?.bytes().await })
        .expect("stage object");
    let v: serde_json::Value = serde_json::from_slice(&body).expect("json");
    let mut out: BTreeSet<String> = v["s3"]["objects"]
        .as_object()
        .expect("objects")
        .iter()
        .map(|(rel, g)| {
            format!(
                "{prefix}/stages/{stage_name}/alchemy/{}/{rel}",
                g.as_str().expect("generation")
            )
        })
        .collect();
    out.insert(key);
    out
}

#[test]
fn layout_is_one_key_space_per_stage_with_the_record_readable_as_format_1() {
    let p = "layout";
    let store = S3Server::shared().store(p);
    let s = stage("pr-1");
    store
        .put(&s, &snapshot("pr-1", "v1"), &Version::ABSENT, "put")
        .expect("put");
    let keys = keys_under(p);
    assert_eq!(keys, named_keys(p, "pr-1"));
    assert!(keys.iter().all(|k| k.starts_with("layout/stages/pr-1/")));
    assert_eq!(
        keys.iter().filter(|k| k.contains("/alchemy/")).count(),
        2,
        "{keys:?}"
    );
    let raw = S3Server::shared().raw();
    let body = rt()
        .block_on(async {
            raw.get(&Key::from("layout/stages/pr-1/record.json"))
                .await?
                .bytes()
                .await
        })
        .expect("get");
    let record = alchemy_ci::record::Record::from_json(&body).expect("a format-1 record");
    assert_eq!(record.status, RecordStatus::Deployed);
}

#[test]
fn a_crash_between_the_file_writes_and_the_commit_leaves_the_last_state_whole() {
    let p = "crash";
    let s = stage("pr-5");
    let store = S3Server::shared().store(p);
    let v1 = store
        .put(&s, &snapshot("pr-5", "v1"), &Version::ABSENT, "first")
        .expect("put");
    let before = keys_under(p);

    // The next write uploads every file, changed and new, then dies.
    let mut next = snapshot("pr-5", "v2");
    next.files
        .insert("app/pr-5/new.json".into(), b"{\"new\":true}".to_vec());
    store.simulate_crash_before_commit(true);
    let crashed = store.put(&s, &next, &v1, "crashing");
    assert!(crashed.is_err(), "{crashed:?}");
    let garbage: BTreeSet<String> = keys_under(p).difference(&before).cloned().collect();
    assert_eq!(
        garbage.len(),
        2,
        "the changed and the new file: {garbage:?}"
    );

    // A later run sees the last committed state, every file of it.
    let fresh = S3Server::shared().store(p);
    let loaded = fresh.load(&s).expect("load");
    assert_eq!(loaded.version, v1);
    assert_eq!(loaded.snapshot, snapshot("pr-5", "v1"));
    // And writes on top of it as usual.
    let v3 = fresh.put(&s, &next, &v1, "after the crash").expect("put");
    assert_eq!(fresh.load(&s).expect("load").snapshot, next);
    assert_ne!(v3, v1);
    // The crashed write's objects are not state: nothing names them.
    let named = named_keys(p, "pr-5");
    assert!(garbage.is_disjoint(&named));
}

#[test]
fn a_first_write_that_crashed_leaves_no_stage() {
    let p = "crash-first";
    let s = stage("pr-6");
    let store = S3Server::shared().store(p);
    store.simulate_crash_before_commit(true);
    assert!(store
        .put(&s, &snapshot("pr-6", "x"), &Version::ABSENT, "crash")
        .is_err());
    store.simulate_crash_before_commit(false);
    let loaded = store.load(&s).expect("load");
    assert!(loaded.snapshot.is_empty());
    assert_eq!(loaded.version, Version::ABSENT);
    // Its uploads make the stage's folder show up in a listing, but not
    // in the records cleanup and status read.
    assert!(store.records().expect("records").is_empty());
    store
        .put(&s, &snapshot("pr-6", "y"), &Version::ABSENT, "retry")
        .expect("the stage can be created");
}

#[test]
fn a_stage_with_files_and_no_record_loads_its_files() {
    let p = "no-record";
    let s = stage("pr-7");
    let store = S3Server::shared().store(p);
    let mut snap = snapshot("pr-7", "orphan state");
    snap.record = None;
    store
        .put(&s, &snap, &Version::ABSENT, "state only")
        .expect("put");
    let fresh = S3Server::shared().store(p);
    let loaded = fresh.load(&s).expect("load");
    assert_eq!(loaded.snapshot, snap);
    assert_eq!(fresh.list().expect("list"), vec![s.clone()]);
    let records = fresh.records().expect("records");
    assert!(
        matches!(records.as_slice(), [(st, Ok(None))] if *st == s),
        "{records:?}"
    );
}

#[test]
fn the_loser_of_a_race_leaves_the_winners_files_and_nothing_of_its_own() {
    let p = "race";
    let s = stage("pr-8");
    let setup = S3Server::shared().store(p);
    let v1 = setup
        .put(&s, &snapshot("pr-8", "v1"), &Version::ABSENT, "first")
        .expect("put");
    let a = S3Server::shared().store(p);
    let b = S3Server::shared().store(p);
    assert_eq!(a.load(&s).expect("load").version, v1);
    assert_eq!(b.load(&s).expect("load").version, v1);
    a.put(&s, &snapshot("pr-8", "winner"), &v1, "a")
        .expect("a wins");
    let lost = b.put(&s, &snapshot("pr-8", "loser"), &v1, "b");
    assert!(matches!(lost, Err(StoreError::Conflict { .. })), "{lost:?}");
    let now = S3Server::shared().store(p).load(&s).expect("load");
    assert_eq!(now.snapshot, snapshot("pr-8", "winner"));
    // Exactly the winner's objects: v1's replaced file went after the
    // commit, the loser's upload went when it lost.
    assert_eq!(keys_under(p), named_keys(p, "pr-8"));
}

#[test]
fn writers_racing_for_one_stage_through_the_lease_lose_nothing() {
    let p = "contended";
    let s = stage("pr-9");
    let threads = 6;
    let barrier = Arc::new(Barrier::new(threads));
    let handles: Vec<_> = (0..threads)
        .map(|i| {
            let (barrier, s) = (barrier.clone(), s.clone());
            std::thread::spawn(move || {
                let store = S3Server::shared().store(p);
                let holder = Holder {
                    id: format!("writer-{i}"),
                    run_url: None,
                    run: None,
                };
                let opts = LeaseOptions {
                    ttl: Duration::from_secs(600),
                    wait: Duration::from_secs(120),
                    poll: Duration::from_millis(20),
                    max_conflicts: 200,
                    ..LeaseOptions::default()
                };
                barrier.wait();
                let held = contract::take(&store, &s, &holder, &opts, RecordStatus::Deploying)
                    .expect("acquire");
                // Each holder adds its own file to what it found.
                let mut snap = held.snapshot.clone();
                snap.files
                    .insert(format!("app/pr-9/writer-{i}.json"), vec![b'x'; 100 + i]);
                lease::finish(&store, &s, &holder, snap, held.version, "done", 200)
                    .expect("finish");
            })
        })
        .collect();
    for h in handles {
        h.join().expect("thread");
    }
    let loaded = S3Server::shared().store(p).load(&s).expect("load");
    let files: Vec<&String> = loaded.snapshot.files.keys().collect();
    assert_eq!(
        files.len(),
        threads,
        "every holder's file survived: {files:?}"
    );
    assert!(loaded.snapshot.record.is_some_and(|r| r.lock.is_none()));
    assert_eq!(keys_under(p), named_keys(p, "pr-9"));
}

#[test]
fn unchanged_files_are_not_uploaded_again() {
    let p = "reuse";
    let s = stage("pr-10");
    let store = S3Server::shared().store(p);
    let v1 = store
        .put(&s, &snapshot("pr-10", "v1"), &Version::ABSENT, "first")
        .expect("put");
    let fresh = S3Server::shared().store(p);
    let loaded = fresh.load(&s).expect("load");
    let from = S3Server::shared().requests().len();
    // The lock write: same files, new record.
    let mut snap = loaded.snapshot.clone();
    if let Some(r) = snap.record.as_mut() {
        r.status = RecordStatus::Deploying;
    }
    let v2 = fresh.put(&s, &snap, &v1, "lock").expect("lock");
    let reqs = requests_about(from, "reuse/stages/pr-10");
    assert_eq!(reqs.len(), 1, "only the stage object: {reqs:?}");
    assert!(reqs[0].path.ends_with("/record.json"));
    // The final write: one changed file, one upload, one delete.
    let from = S3Server::shared().requests().len();
    fresh
        .put(&s, &snapshot("pr-10", "v2"), &v2, "final")
        .expect("final");
    let reqs = requests_about(from, "reuse");
    let puts = reqs.iter().filter(|r| r.method == "PUT").count();
    assert_eq!(puts, 2, "{reqs:?}");
    assert_eq!(keys_under(p), named_keys(p, "pr-10"));
}

// --- Removal and tombstones --------------------------------------------------

#[test]
fn removing_a_stage_deletes_every_object_it_named() {
    let p = "remove";
    let s = stage("pr-11");
    let store = S3Server::shared().store(p);
    let v1 = store
        .put(&s, &snapshot("pr-11", "v1"), &Version::ABSENT, "put")
        .expect("put");
    let other = stage("pr-12");
    store
        .put(&other, &snapshot("pr-12", "v1"), &Version::ABSENT, "put")
        .expect("put");
    store.remove(&s, &v1).expect("remove");
    assert!(keys_under(p)
        .iter()
        .all(|k| k.starts_with("remove/stages/pr-12/")));
    assert_eq!(store.list().expect("list"), vec![other]);
    // Removing an absent stage at ABSENT is fine; re-creating it too.
    store.remove(&s, &Version::ABSENT).expect("remove absent");
    store
        .put(&s, &snapshot("pr-11", "again"), &Version::ABSENT, "again")
        .expect("re-create");
}

fn tombstone(removed_at: u64) -> Vec<u8> {
    serde_json::to_vec(&serde_json::json!({
        "s3": {
            "generation": format!("{:011x}-00000000000000aa", removed_at * 1000),
            "objects": {},
            "removed_at": alchemy_ci::time::Timestamp::from_unix(removed_at),
        }
    }))
    .expect("json")
}

#[test]
fn a_fresh_tombstone_blocks_creation_and_a_leftover_one_is_taken_over() {
    let p = "tombstones";
    let store = S3Server::shared().store(p);
    let now = alchemy_ci::time::Timestamp::now().unix();

    // A removal in progress: the stage reads as absent, but a create waits.
    put_raw("tombstones/stages/pr-13/record.json", &tombstone(now));
    let s = stage("pr-13");
    let loaded = store.load(&s).expect("load");
    assert!(loaded.snapshot.is_empty());
    assert_eq!(loaded.version, Version::ABSENT);
    let blocked = store.put(&s, &snapshot("pr-13", "x"), &Version::ABSENT, "create");
    assert!(
        matches!(blocked, Err(StoreError::Conflict { .. })),
        "{blocked:?}"
    );
    assert!(store.records().expect("records").is_empty());

    // One an interrupted removal left an hour ago is written over.
    put_raw(
        "tombstones/stages/pr-14/record.json",
        &tombstone(now - 3600),
    );
    let s = stage("pr-14");
    store
        .put(&s, &snapshot("pr-14", "x"), &Version::ABSENT, "create")
        .expect("takes the old tombstone over");
    assert_eq!(
        S3Server::shared().store(p).load(&s).expect("load").snapshot,
        snapshot("pr-14", "x")
    );
}

// --- Listing -----------------------------------------------------------------

#[test]
fn listing_a_thousand_stages_reads_only_their_records() {
    let p = "listing-1000";
    let n = 1000;
    let names: Vec<String> = (1..=n).map(|i| format!("pr-{i}")).collect();
    // Seed from a few threads; the server handles one request at a time.
    let chunks: Vec<Vec<String>> = names.chunks(n / 4).map(<[String]>::to_vec).collect();
    let handles: Vec<_> = chunks
        .into_iter()
        .map(|chunk| {
            std::thread::spawn(move || {
                let store = S3Server::shared().store(p);
                for name in chunk {
                    store
                        .put(
                            &stage(&name),
                            &snapshot(&name, "x"),
                            &Version::ABSENT,
                            "seed",
                        )
                        .expect("seed");
                }
            })
        })
        .collect();
    for h in handles {
        h.join().expect("seed thread");
    }

    let store = S3Server::shared().store(p);
    let from = S3Server::shared().requests().len();
    let t = Instant::now();
    let listed = store.list().expect("list");
    let list_took = t.elapsed();
    assert_eq!(listed.len(), n);
    let reqs = requests_about(from, p);
    assert!(
        !reqs.is_empty() && reqs.iter().all(|r| r.is_list()),
        "{reqs:?}"
    );
    assert!(reqs.len() <= 2, "one paginated LIST: {} pages", reqs.len());

    let from = S3Server::shared().requests().len();
    let t = Instant::now();
    let records = store.records().expect("records");
    let records_took = t.elapsed();
    assert_eq!(records.len(), n);
    assert!(records.iter().all(|(_, r)| matches!(r, Ok(Some(_)))));
    let reqs = requests_about(from, p);
    let lists = reqs.iter().filter(|r| r.is_list()).count();
    let gets: Vec<_> = reqs.iter().filter(|r| !r.is_list()).collect();
    assert!(lists <= 2);
    assert_eq!(gets.len(), n, "one GET per record");
    assert!(
        gets.iter()
            .all(|r| r.method == "GET" && r.path.ends_with("/record.json")),
        "only records are read"
    );
    eprintln!("list of {n} stages: {list_took:?}; records: {records_took:?}");
}

// --- Errors ------------------------------------------------------------------

#[test]
fn bad_credentials_are_an_authentication_error_without_the_secret() {
    let s = S3Server::shared();
    let st = stage("pr-1");
    let wrong_secret = "wrong-secret-do-not-print";
    for (key_id, secret) in [
        (s.access_key_id.as_str(), wrong_secret),
        ("AKIAUNKNOWNKEY000000", wrong_secret),
    ] {
        let store = s.store_as("auth", key_id, secret).expect("open");
        for result in [
            store.load(&st).map(|_| ()),
            store.list().map(|_| ()),
            store
                .put(&st, &snapshot("pr-1", "x"), &Version::ABSENT, "put")
                .map(|_| ()),
        ] {
            match result {
                Err(e @ StoreError::Auth { .. }) => {
                    let msg = e.to_string();
                    assert!(msg.contains("authentication"), "{msg}");
                    assert!(msg.contains("AWS_SECRET_ACCESS_KEY"), "{msg}");
                    assert!(!msg.contains(wrong_secret), "{msg}");
                    assert!(!msg.contains(&s.secret_access_key), "{msg}");
                }
                other => panic!("expected an authentication error, got {other:?}"),
            }
        }
    }
}

#[test]
fn an_unreachable_endpoint_is_unavailable() {
    // A port nothing listens on.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port();
    let store = S3Store::open(alchemy_ci::state::s3::S3Options {
        location: S3Server::shared().location("x"),
        endpoint: Some(format!("http://127.0.0.1:{port}")),
        region: "us-east-1".into(),
        credentials: alchemy_ci::state::s3::Credentials {
            access_key_id: "AKIAEXAMPLE".into(),
            secret_access_key: "secret".to_owned().into(),
            session_token: None,
        },
    })
    .expect("open");
    let t = Instant::now();
    match store.load(&stage("pr-1")) {
        Err(e @ StoreError::Unavailable { .. }) => {
            assert!(e.to_string().contains(&format!("127.0.0.1:{port}")), "{e}")
        }
        other => panic!("expected Unavailable, got {other:?}"),
    }
    assert!(t.elapsed() < Duration::from_secs(20), "{:?}", t.elapsed());
}

#[test]
fn a_missing_bucket_is_named() {
    let s = S3Server::shared();
    let store = S3Store::open(alchemy_ci::state::s3::S3Options {
        location: alchemy_ci::state::s3::S3Location {
            bucket: "no-such-bucket".into(),
            prefix: String::new(),
        },
        endpoint: Some(s.endpoint()),
        region: "us-east-1".into(),
        credentials: alchemy_ci::state::s3::Credentials {
            access_key_id: s.access_key_id.clone(),
            secret_access_key: s.secret_access_key.clone().into(),
            session_token: None,
        },
    })
    .expect("open");
    for result in [
        store.load(&stage("pr-1")).map(|_| ()),
        store
            .put(
                &stage("pr-1"),
                &snapshot("pr-1", "x"),
                &Version::ABSENT,
                "put",
            )
            .map(|_| ()),
        store.list().map(|_| ()),
    ] {
        match result {
            Err(e @ StoreError::Unavailable { .. }) => {
                assert!(e.to_string().contains("no-such-bucket"), "{e}")
            }
            other => panic!("expected Unavailable, got {other:?}"),
        }
    }
}

#[test]
fn a_corrupt_stage_object_names_its_key_and_hides_no_other_stage() {
    let p = "corrupt";
    let store = S3Server::shared().store(p);
    store
        .put(
            &stage("pr-2"),
            &snapshot("pr-2", "x"),
            &Version::ABSENT,
            "put",
        )
        .expect("put");
    store
        .put(
            &stage("pr-3"),
            &snapshot("pr-3", "x"),
            &Version::ABSENT,
            "put",
        )
        .expect("put");
    put_raw("corrupt/stages/pr-2/record.json", b"{not json");
    match S3Server::shared().store(p).load(&stage("pr-2")) {
        Err(StoreError::Corrupt { location, .. }) => assert_eq!(
            location,
            format!("s3://{BUCKET}/corrupt/stages/pr-2/record.json")
        ),
        other => panic!("expected Corrupt, got {other:?}"),
    }
    let records = S3Server::shared().store(p).records().expect("records");
    assert_eq!(records.len(), 2);
    assert!(matches!(records[0].1, Err(StoreError::Corrupt { .. })));
    assert!(matches!(records[1].1, Ok(Some(_))));

    // A manifest that names a path outside .alchemy/ is refused on read.
    let evil = serde_json::json!({
        "s3": {"generation": "01-02", "objects": {"../../.bashrc": "01-02"}}
    });
    put_raw(
        "corrupt/stages/pr-3/record.json",
        &serde_json::to_vec(&evil).expect("json"),
    );
    assert!(matches!(
        S3Server::shared().store(p).load(&stage("pr-3")),
        Err(StoreError::Corrupt { .. })
    ));
}

// --- Through the binary ------------------------------------------------------

#[test]
fn the_cli_reads_an_s3_store_with_credentials_from_the_environment_only() {
    let s = S3Server::shared();
    s.store("cli")
        .put(
            &stage("pr-21"),
            &snapshot("pr-21", "x"),
            &Version::ABSENT,
            "seed",
        )
        .expect("seed");
    let dir = Dir::new();
    let store_url = format!("s3://{BUCKET}/cli");
    let endpoint = s.endpoint();
    let args = [
        "status",
        "--state-store",
        store_url.as_str(),
        "--s3-endpoint",
        endpoint.as_str(),
        "--s3-region",
        "us-east-1",
    ];
    let env = s.env();
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let out = dir.run_env(&args, &env);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(out.stdout.contains("pr-21"), "{}", out.stdout);

    // The same through INPUT_* variables, as the action passes them.
    let inputs = [
        ("INPUT_STATE-STORE", store_url.as_str()),
        ("INPUT_S3-ENDPOINT", endpoint.as_str()),
        ("INPUT_S3-REGION", "us-east-1"),
    ];
    let all: Vec<(&str, &str)> = env.iter().copied().chain(inputs).collect();
    let out = dir.run_env(&["status"], &all);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(out.stdout.contains("pr-21"), "{}", out.stdout);

    // Without credentials in the environment: a clear refusal.
    let out = dir.run(&args);
    assert_ne!(out.code, 0);
    assert!(out.stderr.contains("AWS_ACCESS_KEY_ID"), "{}", out.stderr);

    // With a wrong secret: authentication, and the secret is not printed.
    let out = dir.run_env(
        &args,
        &[
            ("AWS_ACCESS_KEY_ID", s.access_key_id.as_str()),
            ("AWS_SECRET_ACCESS_KEY", "not-the-secret-1234"),
        ],
    );
    assert_ne!(out.code, 0);
    assert!(out.stderr.contains("authentication"), "{}", out.stderr);
    assert!(!out.stderr.contains("not-the-secret-1234"));
    assert!(!out.stdout.contains("not-the-secret-1234"));
}

#[test]
fn bad_s3_inputs_are_refused_before_anything_runs() {
    let dir = Dir::new();
    let event = dir.write_json(
        "event.json",
        &crate::support::fixture("pull_request.closed.json"),
    );
    let ev = event.display().to_string();
    for (flags, needles) in [
        (
            vec!["--state-store", "s3://Not_A_Bucket/x"],
            vec!["--state-store", "not a bucket name"],
        ),
        (
            vec!["--state-store", "s3://bucket/../x"],
            vec!["--state-store", "not a key prefix"],
        ),
        (
            vec!["--s3-endpoint", "ftp://minio.example"],
            vec!["--s3-endpoint", "https://"],
        ),
        (
            vec!["--s3-region", "us east 1"],
            vec!["--s3-region", "us east 1"],
        ),
    ] {
        let mut args = vec!["simulate", "--event", ev.as_str()];
        args.extend_from_slice(&flags);
        dir.run(&args).bad_input(&needles);
    }
}
