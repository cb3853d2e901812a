//! The git store against real git servers on loopback: the whole store
//! contract over `git daemon`, then what only git can get wrong: pushes the
//! server rejects, tampered refs, tokens over smart HTTP, history.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use alchemy_ci::state::git::{GitConfigError, GitStore, GitStoreOptions, DEFAULT_REF_PREFIX};
use alchemy_ci::state::{Snapshot, StateStore, StoreError, Version};
use secrecy::SecretString;

use crate::git_server::{git, git_with_input, GitDaemon, HttpGit};
use crate::store_contract::{self, snapshot, stage, Backend};

/// A `git daemon` with one empty bare repository; every `store()` is a
/// fresh `GitStore` with its own empty work folder, as a new CI job has.
struct Daemon {
    server: GitDaemon,
    repo: std::path::PathBuf,
    prefix: String,
}

impl Daemon {
    fn new() -> Self {
        Self::with_prefix(DEFAULT_REF_PREFIX)
    }

    fn with_prefix(prefix: &str) -> Self {
        let server = GitDaemon::start();
        let repo = server.repo("state.git");
        Self {
            server,
            repo,
            prefix: prefix.to_owned(),
        }
    }

    fn git_store(&self) -> GitStore {
        GitStore::new(GitStoreOptions {
            ref_prefix: self.prefix.clone(),
            ..GitStoreOptions::new(self.server.url("state.git"))
        })
        .expect("valid options")
    }

    /// The stage ref's tip in the server's repository, if any.
    fn server_tip(&self, stage_name: &str) -> Option<String> {
        let refname = format!("{}{stage_name}", self.prefix);
        let out = git(
            &self.repo,
            &["for-each-ref", "--format=%(objectname)", &refname],
        );
        let tip = out.trim();
        (!tip.is_empty()).then(|| tip.to_owned())
    }
}

impl Backend for Daemon {
    fn store(&self) -> Box<dyn StateStore> {
        Box::new(self.git_store())
    }
}

#[test]
fn git_app_keys_live_beside_stages() {
    let d = Daemon::new();
    store_contract::app_keys_live_beside_stages(&d);
    assert!(d.server_tip("pr-7@web").is_some());
    assert!(d.server_tip("pr-7").is_some());
}

#[test]
fn git_round_trip() {
    store_contract::round_trip(&Daemon::new());
}

#[test]
fn git_stale_writes_conflict() {
    store_contract::stale_writes_conflict_and_change_nothing(&Daemon::new());
}

#[test]
fn git_many_stages_at_once() {
    store_contract::many_stages_at_once_lose_nothing(&Daemon::new());
}

#[test]
fn git_lock_waits_then_fails_clearly() {
    store_contract::a_held_lock_makes_others_wait_then_fail_clearly(&Daemon::new());
}

#[test]
fn git_expired_lock_is_taken_over() {
    store_contract::an_expired_lock_is_taken_over_and_the_old_holder_cannot_write(&Daemon::new());
}

#[test]
fn git_contract_holds_under_a_branch_prefix() {
    let prefix = "refs/heads/alchemy-state/";
    let d = Daemon::with_prefix(prefix);
    store_contract::round_trip(&d);
    assert!(d.server_tip("pr-1").is_some());
    assert!(git(&d.repo, &["branch", "--list"]).contains("alchemy-state/pr-1"));
    store_contract::stale_writes_conflict_and_change_nothing(&Daemon::with_prefix(prefix));
}

/// Makes a commit in the server's repository by hand (as another clone
/// would push it) and points `refname` at it. `files` are `(path, bytes)`
/// at the top of the tree, nested paths allowed.
fn commit_by_hand(
    repo: &Path,
    refname: &str,
    parent: Option<&str>,
    files: &[(&str, &[u8])],
) -> String {
    let mut s = Vec::new();
    s.extend_from_slice(b"commit refs/hand/tmp\nmark :1\ncommitter someone <s@example.com> 1800000000 +0000\ndata 7\nby hand\n");
    if let Some(p) = parent {
        s.extend_from_slice(format!("from {p}\n").as_bytes());
    }
    s.extend_from_slice(b"deleteall\n");
    for (path, bytes) in files {
        s.extend_from_slice(format!("M 100644 inline {path}\ndata {}\n", bytes.len()).as_bytes());
        s.extend_from_slice(bytes);
        s.push(b'\n');
    }
    s.extend_from_slice(b"\nget-mark :1\n");
    let oid = git_with_input(repo, &["fast-import", "--quiet", "--force"], Some(&s))
        .trim()
        .to_owned();
    git(repo, &["update-ref", refname, &oid]);
    git(repo, &["update-ref", "-d", "refs/hand/tmp"]);
    oid
}

#[test]
fn a_push_the_server_rejects_is_a_conflict_not_a_success() {
    let d = Daemon::new();
    let s = stage("pr-5");
    let store = d.git_store();
    let v1 = store
        .put(&s, &snapshot("pr-5", "one"), &Version::ABSENT, "first")
        .expect("put");
    let read = store.load(&s).expect("load");
    assert_eq!(read.version, v1);

    // Another clone moves the ref meanwhile: fetch, commit on top, push.
    let other = tempfile::tempdir().expect("temp dir");
    let refname = format!("{DEFAULT_REF_PREFIX}pr-5");
    git(other.path(), &["init", "--quiet", "--bare"]);
    git(
        other.path(),
        &["fetch", "--quiet", &d.server.url("state.git"), &refname],
    );
    let tip = git(other.path(), &["rev-parse", "FETCH_HEAD"])
        .trim()
        .to_owned();
    let theirs = commit_by_hand(
        other.path(),
        "refs/heads/theirs",
        Some(&tip),
        &[("record.json", &snapshot_record("pr-5"))],
    );
    git(
        other.path(),
        &[
            "push",
            "--quiet",
            &d.server.url("state.git"),
            &format!("{theirs}:{refname}"),
        ],
    );

    let ours = store.put(&s, &snapshot("pr-5", "ours"), &read.version, "ours");
    assert!(matches!(ours, Err(StoreError::Conflict { .. })), "{ours:?}");
    assert_eq!(d.server_tip("pr-5").as_deref(), Some(theirs.as_str()));
    // A fresh read sees their commit, and building on it succeeds.
    let now = d.git_store().load(&s).expect("load");
    assert_eq!(now.version, Version(Some(theirs.clone())));
    let v3 = store
        .put(&s, &snapshot("pr-5", "retried"), &now.version, "retried")
        .expect("put on the new tip");
    let parent = git(
        &d.repo,
        &[
            "rev-parse",
            &format!("{}^", v3.0.as_deref().unwrap_or_default()),
        ],
    );
    assert_eq!(parent.trim(), theirs);
}

fn snapshot_record(stage_name: &str) -> Vec<u8> {
    snapshot(stage_name, "x")
        .record
        .map(|r| r.to_json())
        .unwrap_or_default()
}

#[test]
fn twenty_stores_on_twenty_stages_at_once_all_land() {
    let d = Arc::new(Daemon::new());
    let handles: Vec<_> = (1..=20)
        .map(|i| {
            let d = Arc::clone(&d);
            std::thread::spawn(move || {
                let name = format!("pr-{i}");
                let s = stage(&name);
                let store = d.git_store();
                let loaded = store.load(&s).expect("load");
                let v = store
                    .put(
                        &s,
                        &snapshot(&name, "lock"),
                        &loaded.version,
                        &format!("lock {name}"),
                    )
                    .expect("lock");
                store
                    .put(&s, &snapshot(&name, &name), &v, &format!("deploy {name}"))
                    .expect("deploy");
            })
        })
        .collect();
    for h in handles {
        h.join().expect("thread");
    }
    let refs = git(
        &d.repo,
        &["for-each-ref", "--format=%(refname)", DEFAULT_REF_PREFIX],
    );
    assert_eq!(refs.lines().count(), 20, "{refs}");
    let store = d.git_store();
    for i in 1..=20 {
        let name = format!("pr-{i}");
        let got = store.load(&stage(&name)).expect("load");
        assert_eq!(got.snapshot, snapshot(&name, &name), "{name}");
    }
    let records = store.records().expect("records");
    assert_eq!(records.len(), 20);
    assert!(records.iter().all(|(_, r)| matches!(r, Ok(Some(_)))));
}

#[test]
fn history_keeps_every_put_with_its_message_and_no_force() {
    let d = Daemon::new();
    let s = stage("pr-7");
    let store = d.git_store();
    let mut version = Version::ABSENT;
    let messages = [
        "lock pr-7 (deploying) by run 1",
        "deploy pr-7 @ abc1234 (run 987)",
        "deploy pr-7 @ def5678 (run 988)",
    ];
    let mut written = Vec::new();
    for (i, m) in messages.iter().enumerate() {
        // A fresh store each time, as separate runs would be.
        let store = if i == 0 { &store } else { &d.git_store() };
        let loaded = store.load(&s).expect("load");
        assert_eq!(loaded.version, version);
        version = store
            .put(&s, &snapshot("pr-7", &format!("v{i}")), &loaded.version, m)
            .expect("put");
        written.push(version.0.clone().unwrap_or_default());
    }
    let refname = format!("{DEFAULT_REF_PREFIX}pr-7");
    let log = git(
        &d.repo,
        &[
            "log",
            "--format=%H%x09%P%x09%an <%ae>%x09%cn <%ce>%x09%s",
            &refname,
        ],
    );
    let lines: Vec<Vec<&str>> = log.lines().rev().map(|l| l.split('\t').collect()).collect();
    assert_eq!(lines.len(), 3, "{log}");
    for (i, line) in lines.iter().enumerate() {
        assert_eq!(line[0], written[i]);
        let want_parent = if i == 0 { "" } else { written[i - 1].as_str() };
        assert_eq!(
            line[1], want_parent,
            "commit {i} is not on top of the previous tip"
        );
        assert_eq!(line[2], "alchemy-ci <alchemy-ci@users.noreply.github.com>");
        assert_eq!(line[3], line[2]);
        assert_eq!(line[4], messages[i]);
    }
    // The server's reflog-free history is linear: nothing was overwritten.
    let tree = git(&d.repo, &["ls-tree", "-r", "--name-only", &refname]);
    assert_eq!(
        tree.lines().collect::<Vec<_>>(),
        [
            "alchemy/app/pr-7/nested/res:with:colon.json",
            "alchemy/app/pr-7/site.json",
            "record.json"
        ]
    );
}

/// A store that writes many stages in one process (a sweep destroying
/// stage after stage): every write lands, reads back byte for byte from a
/// fresh store, and sits on the tip before it, however the store keeps its
/// own commits (packs for the first 16 writes, loose objects after: 18
/// writes here).
#[test]
fn one_store_writing_many_stages_keeps_every_write() {
    let d = Daemon::new();
    let store = d.git_store();
    let mut tips = Vec::new();
    for n in 1..=9 {
        let s = stage(&format!("pr-{n}"));
        let loaded = store.load(&s).expect("load");
        let lock = store
            .put(
                &s,
                &snapshot(&format!("pr-{n}"), "locked"),
                &loaded.version,
                "lock",
            )
            .expect("put (lock)");
        let last = store
            .put(
                &s,
                &snapshot(&format!("pr-{n}"), &format!("v{n}")),
                &lock,
                "final",
            )
            .expect("put (final)");
        tips.push((n, lock, last));
    }
    let fresh = d.git_store();
    for (n, lock, last) in tips {
        let name = format!("pr-{n}");
        let loaded = fresh.load(&stage(&name)).expect("load");
        assert_eq!(loaded.version, last, "{name}");
        assert_eq!(loaded.snapshot, snapshot(&name, &format!("v{n}")), "{name}");
        let refname = format!("{DEFAULT_REF_PREFIX}{name}");
        let parent = git(&d.repo, &["rev-parse", &format!("{refname}^")]);
        assert_eq!(Some(parent.trim().to_owned()), lock.0, "{name}");
    }
}

#[test]
fn a_corrupt_record_names_the_ref_and_file() {
    let d = Daemon::new();
    let refname = format!("{DEFAULT_REF_PREFIX}pr-9");
    commit_by_hand(&d.repo, &refname, None, &[("record.json", b"{not json")]);
    match d.git_store().load(&stage("pr-9")) {
        Err(StoreError::Corrupt { location, message }) => {
            assert!(location.ends_with("record.json"), "{location}");
            assert!(location.contains(&refname), "{location}");
            assert!(!message.is_empty());
        }
        other => panic!("expected Corrupt, got {other:?}"),
    }
    // records() reports it for that stage and still reads the others.
    d.git_store()
        .put(
            &stage("pr-8"),
            &snapshot("pr-8", "ok"),
            &Version::ABSENT,
            "ok",
        )
        .expect("put");
    let records = d.git_store().records().expect("records");
    let by_name: BTreeMap<String, _> = records
        .into_iter()
        .map(|(s, r)| (s.to_string(), r))
        .collect();
    assert!(matches!(by_name.get("pr-8"), Some(Ok(Some(_)))));
    assert!(
        matches!(by_name.get("pr-9"), Some(Err(StoreError::Corrupt { location, .. })) if location.ends_with("record.json"))
    );
}

#[test]
fn a_path_that_escapes_alchemy_is_refused_on_load() {
    let d = Daemon::new();
    // Build `alchemy/../../x` with mktree: git's own commands would not.
    let blob = git_with_input(&d.repo, &["hash-object", "-w", "--stdin"], Some(b"owned\n"));
    let blob = blob.trim();
    let mk = |entries: String| {
        git_with_input(&d.repo, &["mktree", "--missing"], Some(entries.as_bytes()))
            .trim()
            .to_owned()
    };
    let inner = mk(format!("100644 blob {blob}\tx\n"));
    let up1 = mk(format!("040000 tree {inner}\t..\n"));
    let up2 = mk(format!("040000 tree {up1}\t..\n"));
    let root = mk(format!("040000 tree {up2}\talchemy\n"));
    let commit = git(&d.repo, &["commit-tree", &root, "-m", "tampered"]);
    let refname = format!("{DEFAULT_REF_PREFIX}pr-6");
    git(&d.repo, &["update-ref", &refname, commit.trim()]);
    match d.git_store().load(&stage("pr-6")) {
        Err(StoreError::Corrupt { location, message }) => {
            assert!(location.contains("alchemy/../../x"), "{location}");
            assert!(message.contains("../../x"), "{message}");
        }
        other => panic!("expected Corrupt, got {other:?}"),
    }
}

#[test]
fn names_that_are_not_stages_are_ignored_by_list() {
    let d = Daemon::new();
    let store = d.git_store();
    store
        .put(
            &stage("pr-1"),
            &snapshot("pr-1", "x"),
            &Version::ABSENT,
            "put",
        )
        .expect("put");
    commit_by_hand(
        &d.repo,
        &format!("{DEFAULT_REF_PREFIX}Not_A_Stage"),
        None,
        &[],
    );
    commit_by_hand(
        &d.repo,
        &format!("{DEFAULT_REF_PREFIX}nested/pr-2"),
        None,
        &[],
    );
    commit_by_hand(&d.repo, "refs/heads/main", None, &[]);
    let names: Vec<String> = d
        .git_store()
        .list()
        .expect("list")
        .iter()
        .map(ToString::to_string)
        .collect();
    assert_eq!(names, ["pr-1"]);
    let records = d.git_store().records().expect("records");
    assert_eq!(records.len(), 1);
}

#[test]
fn a_version_read_elsewhere_is_fetched_before_building_on_it() {
    let d = Daemon::new();
    let s = stage("pr-3");
    let v1 = d
        .git_store()
        .put(&s, &snapshot("pr-3", "one"), &Version::ABSENT, "one")
        .expect("put");
    // A store that never read the stage writes on the version it was given.
    let v2 = d
        .git_store()
        .put(&s, &snapshot("pr-3", "two"), &v1, "two")
        .expect("put on a version read by another store");
    assert_eq!(d.server_tip("pr-3"), v2.0);
    // The same on a tip with history, which this store fetches shallow and
    // must graft before its push can build on it.
    let v3 = d
        .git_store()
        .put(&s, &snapshot("pr-3", "two and a half"), &v2, "2.5")
        .expect("put on a tip with history read by another store");
    assert_eq!(d.server_tip("pr-3"), v3.0);
    let stale = d
        .git_store()
        .put(&s, &snapshot("pr-3", "three"), &v1, "three");
    assert!(
        matches!(stale, Err(StoreError::Conflict { .. })),
        "{stale:?}"
    );
    let bogus = d.git_store().put(
        &s,
        &snapshot("pr-3", "x"),
        &Version(Some("not-a-sha\nfrom x".into())),
        "x",
    );
    assert!(
        matches!(bogus, Err(StoreError::Conflict { .. })),
        "{bogus:?}"
    );
}

#[test]
fn state_file_names_round_trip_byte_for_byte() {
    let d = Daemon::new();
    let s = stage("pr-4");
    let snap = Snapshot {
        record: None,
        files: BTreeMap::from([
            ("app/pr-4/with space.json".to_owned(), b"{}".to_vec()),
            (
                "app/pr-4/quote\"d.json".to_owned(),
                b"\x00\xffbinary".to_vec(),
            ),
            ("app/pr-4/new\nline.json".to_owned(), Vec::new()),
            ("app/pr-4/\u{e9}t\u{e9}.json".to_owned(), b"[]".to_vec()),
        ]),
    };
    d.git_store()
        .put(&s, &snap, &Version::ABSENT, "odd names")
        .expect("put");
    assert_eq!(d.git_store().load(&s).expect("load").snapshot, snap);
}

#[test]
fn an_unreachable_server_is_unavailable() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("port");
    let store = GitStore::new(GitStoreOptions::new(format!(
        "git://127.0.0.1:{port}/state.git"
    )))
    .expect("valid");
    match store.load(&stage("pr-1")) {
        Err(StoreError::Unavailable { message, .. }) => {
            assert!(message.contains("git fetch"), "{message}");
            assert!(message.contains("127.0.0.1"), "{message}");
        }
        other => panic!("expected Unavailable, got {other:?}"),
    }
}

#[test]
fn bad_ref_prefixes_are_refused_clearly() {
    let err = GitStore::new(GitStoreOptions {
        ref_prefix: "alchemy/stages".into(),
        ..GitStoreOptions::new("git://127.0.0.1/state.git")
    })
    .expect_err("refused");
    assert!(matches!(err, GitConfigError::BadRefPrefix { .. }));
    assert!(err.to_string().contains("refs/"), "{err}");
}

#[test]
fn the_token_path_over_smart_http() {
    let token = "ghs_s3cr3tT0kenValue42";
    let server = HttpGit::start(token);
    let repo = server.repo("state.git");
    let url = server.url("state.git");
    let with = |t: Option<&str>| {
        GitStore::new(GitStoreOptions {
            token: t.map(|t| SecretString::from(t.to_owned())),
            ..GitStoreOptions::new(url.clone())
        })
        .expect("valid")
    };
    let s = stage("pr-12");

    let good = with(Some(token));
    let v = good
        .put(
            &s,
            &snapshot("pr-12", "over http"),
            &Version::ABSENT,
            "deploy pr-12",
        )
        .expect("put with the right token");
    let loaded = with(Some(token))
        .load(&s)
        .expect("load with the right token");
    assert_eq!(loaded.version, v);
    assert_eq!(loaded.snapshot, snapshot("pr-12", "over http"));
    assert_eq!(with(Some(token)).list().expect("list"), vec![s.clone()]);
    assert_eq!(with(Some(token)).records().expect("records").len(), 1);
    let tip = git(&repo, &["rev-parse", "refs/alchemy-ci/stages/pr-12"]);
    assert_eq!(Some(tip.trim()), v.0.as_deref());

    for (label, store) in [
        ("wrong token", with(Some("ghs_wrongWrongWrong99"))),
        ("no token", with(None)),
    ] {
        let results = [
            store.load(&s).map(|_| ()),
            store.put(&s, &snapshot("pr-12", "x"), &v, "x").map(|_| ()),
            store.list().map(|_| ()),
        ];
        for r in results {
            match r {
                Err(e @ StoreError::Auth { .. }) => {
                    let text = e.to_string();
                    assert!(text.contains("authentication"), "{label}: {text}");
                    assert!(text.contains(&url), "{label}: {text}");
                    assert!(!text.contains(token), "{label}: token leaked: {text}");
                    assert!(!text.contains("ghs_wrong"), "{label}: token leaked: {text}");
                    assert!(!format!("{e:?}").contains(token), "{label}: token leaked");
                }
                other => panic!("{label}: expected Auth, got {other:?}"),
            }
        }
    }
    // Nothing was written by the refused stores.
    let after = git(&repo, &["rev-parse", "refs/alchemy-ci/stages/pr-12"]);
    assert_eq!(after, tip);
}

#[test]
fn removing_an_absent_stage_conflicts_only_if_it_exists() {
    let d = Daemon::new();
    let s = stage("pr-2");
    d.git_store()
        .remove(&s, &Version::ABSENT)
        .expect("nothing to remove");
    let v = d
        .git_store()
        .put(&s, &snapshot("pr-2", "x"), &Version::ABSENT, "put")
        .expect("put");
    let stale = d.git_store().remove(&s, &Version::ABSENT);
    assert!(
        matches!(stale, Err(StoreError::Conflict { .. })),
        "{stale:?}"
    );
    assert_eq!(d.server_tip("pr-2"), v.0);
}

#[test]
fn a_stage_removed_after_it_was_read_is_recreated_by_the_write() {
    // Deliberate (docs/state.md): a plain push cannot refuse to create a
    // ref, and the run's state describes resources that exist.
    let d = Daemon::new();
    let s = stage("pr-3");
    let v1 = d
        .git_store()
        .put(&s, &snapshot("pr-3", "one"), &Version::ABSENT, "one")
        .expect("put");
    let run = d.git_store();
    let read = run.load(&s).expect("load");
    assert_eq!(read.version, v1);
    d.git_store().remove(&s, &v1).expect("remove");
    assert_eq!(d.server_tip("pr-3"), None);
    let v2 = run
        .put(&s, &snapshot("pr-3", "late"), &read.version, "late")
        .expect("put after removal");
    assert_eq!(d.server_tip("pr-3"), v2.0);
    let parent = git(
        &d.repo,
        &[
            "rev-parse",
            &format!("{}^", v2.0.as_deref().unwrap_or_default()),
        ],
    );
    assert_eq!(Some(parent.trim()), v1.0.as_deref());
}

#[test]
fn failures_name_the_command_and_the_directory() {
    let d = Daemon::new();
    // A repository the daemon does not serve.
    let store = GitStore::new(GitStoreOptions::new(d.server.url("missing.git"))).expect("valid");
    match store.list() {
        Err(StoreError::Unavailable { store, message }) => {
            assert!(store.contains("missing.git"), "{store}");
            assert!(message.contains("`git ls-remote"), "{message}");
            assert!(message.contains("alchemy-ci-git-"), "{message}");
            assert!(message.contains("exited with"), "{message}");
        }
        other => panic!("expected Unavailable, got {other:?}"),
    }
}
