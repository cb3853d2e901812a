//! `alchemy-ci run` with the default git store, against a real git server
//! on loopback: each run in its own fresh workspace, as in CI.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use alchemy_ci::record::{Lease, Record, RecordStatus};
use alchemy_ci::stage::{Stage, StagePrefix};
use alchemy_ci::state::git::{GitStore, GitStoreOptions};
use alchemy_ci::state::{Snapshot, StateStore};
use alchemy_ci::time::Timestamp;

use crate::alchemy_e2e::App;
use crate::git_server::{git, GitDaemon, HttpGit};
use crate::support::BIN;

const SHA: &str = "4444444444444444444444444444444444444444";

fn stage(s: &str) -> Stage {
    Stage::parse(s, &StagePrefix::default()).expect("stage")
}

fn store(url: &str) -> GitStore {
    GitStore::new(GitStoreOptions::new(url)).expect("git store")
}

fn new_repo(daemon: &GitDaemon, name: &str) -> String {
    daemon.repo(name);
    daemon.url(name)
}

#[test]
fn a_lifecycle_through_the_git_store_in_fresh_workspaces() {
    let daemon = GitDaemon::start();
    let url = new_repo(&daemon, "app.git");
    let first = App::with_git(&url);
    first
        .run(&first.event("o", "opened", 41, SHA), &[], &[])
        .ok();
    let loaded = store(&url).load(&stage("pr-41")).expect("load");
    assert_eq!(
        loaded.snapshot.record.as_ref().map(|r| r.status),
        Some(RecordStatus::Deployed)
    );
    assert!(loaded.snapshot.files.contains_key("e2e-app/pr-41/web.json"));
    // Each write is a commit on the stage's own ref, saying what happened.
    let log = git(
        &daemon.base.path().join("app.git"),
        &["log", "--format=%s", "refs/alchemy-ci/stages/pr-41"],
    );
    assert!(
        log.lines()
            .next()
            .is_some_and(|l| l.starts_with("deploy pr-41 @ 4444444")),
        "{log}"
    );

    // A different job, a different workspace: the destroy finds everything.
    let second = App::with_git(&url);
    let out = second.run(&second.event("c", "closed", 41, SHA), &[], &[]);
    out.ok();
    let after = store(&url).load(&stage("pr-41")).expect("load").snapshot;
    assert!(after.files.is_empty(), "{:?}", after.files.keys());
    assert_eq!(
        after.record.map(|r| r.status),
        Some(RecordStatus::Destroyed)
    );
    // The destroy ran Alchemy in the second workspace, against the state the first left.
    assert!(
        out.stdout.contains("[deleted]") || out.stdout.contains("Deleted"),
        "{}",
        out.context()
    );

    // A late synchronize is stopped by the tombstone.
    let late = second.run(&second.event("s", "synchronize", 41, SHA), &[], &[]);
    late.ok();
    assert!(
        late.stdout.contains("only reopening the PR"),
        "{}",
        late.context()
    );
}

/// A run that does nothing but hold the stage for a moment: the locking and
/// the state traffic are real, Alchemy is not needed.
const HOLD: &str = r#"["sh", "-c", "sleep 1", "{phase}"]"#;

fn spawn_run(app: &App, event: &Path, url: &str) -> std::process::Child {
    Command::new(BIN)
        .args(["run", "--event"])
        .arg(event)
        .args([
            "--working-directory",
            "app",
            "--state-repo",
            url,
            "--alchemy-command",
            HOLD,
        ])
        .current_dir(app.dir.path())
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("HOME", app.dir.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn")
}

#[test]
fn twenty_runs_on_twenty_stages_at_once_lose_nothing() {
    let daemon = GitDaemon::start();
    let url = new_repo(&daemon, "many.git");
    let apps: Vec<App> = (0..20).map(|_| App::new()).collect();
    let children: Vec<_> = apps
        .iter()
        .enumerate()
        .map(|(i, app)| {
            let ev = app.event("o", "opened", 100 + i as u64, SHA);
            spawn_run(app, &ev, &url)
        })
        .collect();
    for c in children {
        let out = c.wait_with_output().expect("wait");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let s = store(&url);
    let stages = s.list().expect("list");
    assert_eq!(stages.len(), 20, "{stages:?}");
    for (st, rec) in s.records().expect("records") {
        let rec = rec.expect("readable").expect("a record");
        assert_eq!(rec.status, RecordStatus::Deployed, "{st}");
        assert!(rec.lock.is_none(), "{st} still locked");
    }
}

#[test]
fn two_runs_on_one_stage_take_turns() {
    let daemon = GitDaemon::start();
    let url = new_repo(&daemon, "same.git");
    let (a, b) = (App::new(), App::new());
    let ca = spawn_run(&a, &a.event("o", "opened", 7, SHA), &url);
    let cb = spawn_run(&b, &b.event("o", "opened", 7, SHA), &url);
    let (oa, ob) = (
        ca.wait_with_output().expect("a"),
        cb.wait_with_output().expect("b"),
    );
    let (ea, eb) = (
        String::from_utf8_lossy(&oa.stderr),
        String::from_utf8_lossy(&ob.stderr),
    );
    assert!(
        oa.status.success() && ob.status.success(),
        "{ea}\n---\n{eb}"
    );
    assert!(
        ea.contains("is locked by") || eb.contains("is locked by"),
        "neither run waited for the other:\n{ea}\n---\n{eb}"
    );
    let s = store(&url);
    let snap = s.load(&stage("pr-7")).expect("load").snapshot;
    let rec = snap.record.expect("record");
    assert_eq!(rec.status, RecordStatus::Deployed);
    assert!(rec.lock.is_none());
    let log = git(
        &daemon.base.path().join("same.git"),
        &["log", "--format=%s", "refs/alchemy-ci/stages/pr-7"],
    );
    assert_eq!(
        log.lines().filter(|l| l.starts_with("lock pr-7")).count(),
        2,
        "{log}"
    );
}

#[test]
fn a_lock_left_by_a_killed_run_expires_and_is_taken_over() {
    let daemon = GitDaemon::start();
    let url = new_repo(&daemon, "expired.git");
    let s = store(&url);
    let past = Timestamp::from_unix(Timestamp::now().unix() - 3_600);
    let mut rec = Record::new(stage("pr-8"), RecordStatus::Deploying, past);
    rec.lock = Some(Lease {
        holder: "run 1 attempt 1 (killed)".into(),
        run_url: None,
        acquired_at: past,
        expires_at: past.plus(Duration::from_secs(60)),
        renewed_at: None,
        run: None,
        action: None,
    });
    let snap = Snapshot {
        record: Some(rec),
        files: Default::default(),
    };
    s.put(
        &stage("pr-8"),
        &snap,
        &alchemy_ci::state::Version::ABSENT,
        "a run that was killed",
    )
    .expect("seed");

    let app = App::with_git(&url);
    let out = app.run(&app.event("o", "opened", 8, SHA), &[], &[]);
    out.ok();
    assert!(
        out.stderr.contains("taking over") && out.stderr.contains("killed"),
        "{}",
        out.context()
    );
    let rec = store(&url)
        .load(&stage("pr-8"))
        .expect("load")
        .snapshot
        .record
        .expect("record");
    assert_eq!(rec.status, RecordStatus::Deployed);
    assert!(rec.lock.is_none());
}

#[test]
fn a_wrong_token_fails_naming_authentication_and_changes_nothing() {
    let server = HttpGit::start("right-token");
    server.repo("private.git");
    let url = server.url("private.git");
    let app = App::with_git(&url);
    let out = app.run(
        &app.event("o", "opened", 9, SHA),
        &["--state-token", "wrong-token"],
        &[],
    );
    assert_eq!(out.code, 1, "{}", out.context());
    assert!(
        out.stderr.to_lowercase().contains("authentication"),
        "{}",
        out.context()
    );
    assert!(
        !out.stderr.contains("wrong-token") && !out.stdout.contains("wrong-token"),
        "the token leaked"
    );
    assert!(
        !app.app_path().join("out/pr-9/index.html").exists(),
        "Alchemy ran without a store"
    );

    // The right token, given as the action input, works end to end.
    let out = app.run(
        &app.event("o", "opened", 9, SHA),
        &[],
        &[("INPUT_STATE-TOKEN", "right-token")],
    );
    out.ok();
}

#[test]
fn a_corrupted_record_is_a_clear_error_naming_the_file() {
    let daemon = GitDaemon::start();
    let url = new_repo(&daemon, "corrupt.git");
    let app = App::with_git(&url);
    app.run(&app.event("o", "opened", 10, SHA), &[], &[]).ok();
    // Someone with push access writes garbage over the record.
    let work = app.dir.path().join("vandal");
    git(
        app.dir.path(),
        &["clone", "-q", &url, work.to_str().expect("utf-8")],
    );
    git(
        &work,
        &[
            "fetch",
            "-q",
            "origin",
            "refs/alchemy-ci/stages/pr-10:refs/heads/state",
        ],
    );
    git(&work, &["checkout", "-q", "state"]);
    std::fs::write(work.join("record.json"), "{ not json").expect("write");
    git(
        &work,
        &[
            "-c",
            "user.name=v",
            "-c",
            "user.email=v@x",
            "commit",
            "-qam",
            "vandalism",
        ],
    );
    git(
        &work,
        &["push", "-q", "origin", "state:refs/alchemy-ci/stages/pr-10"],
    );

    let out = app.run(&app.event("c", "closed", 10, SHA), &[], &[]);
    assert_eq!(out.code, 1, "{}", out.context());
    assert!(out.stderr.contains("record.json"), "{}", out.context());
    assert!(!out.stderr.contains("panicked"));
    assert!(
        app.app_path().join("out/pr-10/index.html").exists(),
        "a destroy ran on a corrupt record"
    );
}

#[test]
fn when_the_store_goes_away_mid_run_the_state_stays_on_disk_with_its_path_printed() {
    let daemon = GitDaemon::start();
    let url = new_repo(&daemon, "vanishing.git");
    let app = App::with_git(&url);
    let ev = app.event("o", "opened", 11, SHA);
    let child = Command::new(BIN)
        .args(["run", "--event"])
        .arg(&ev)
        .args(["--working-directory", "app", "--state-repo", &url])
        .current_dir(app.dir.path())
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("HOME", app.dir.path())
        .env("CI", "true")
        .env("SLEEP", "3000")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    // Once Alchemy is inside the slow resource, the server goes away.
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while !app
        .app_path()
        .join(".alchemy/e2e-app/pr-11/slow.json")
        .exists()
    {
        assert!(
            std::time::Instant::now() < deadline,
            "the deploy never reached the slow resource"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    drop(daemon);
    let out = child.wait_with_output().expect("wait");
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert_eq!(out.status.code(), Some(1), "{stdout}\n{stderr}");
    let kept = app.app_path().join(".alchemy");
    assert!(
        stdout.contains(&kept.display().to_string())
            || stderr.contains(&kept.display().to_string()),
        "the path of the kept state is not printed\n{stdout}\n{stderr}"
    );
    // Everything Alchemy made is still described on disk.
    for id in ["page", "web", "slow"] {
        assert!(
            kept.join(format!("e2e-app/pr-11/{id}.json")).is_file(),
            "{id} lost\n{stderr}"
        );
    }
}
