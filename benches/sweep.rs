//! A dry-run sweep of 1,000 stage records with 150 open pull requests, as a
//! whole `alchemy-ci cleanup --dry-run` process against the fake GitHub on
//! loopback: the folder store, and the git store behind `git daemon`.
//!
//! Run: `cargo bench --bench sweep`. Numbers go in docs/BENCHMARKS.md.

// The same real servers the tests use; both allow their own dead code.
#[path = "../tests/it/fake_github/mod.rs"]
mod fake_github;
#[path = "../tests/it/git_server.rs"]
mod git_server;

use std::collections::BTreeMap;
use std::process::Command;
use std::time::{Duration, Instant};

use alchemy_ci::record::{Record, RecordStatus};
use alchemy_ci::stage::{Stage, StagePrefix};
use alchemy_ci::state::dir::DirStore;
use alchemy_ci::state::git::{GitStore, GitStoreOptions};
use alchemy_ci::state::{Snapshot, StateStore, Version};
use alchemy_ci::time::Timestamp;
use fake_github::{FakeGitHub, PullState, TokenKind, ACTIONS_BOT};

const STAGES: u64 = 1_000;
const OPEN: u64 = 150;

fn seed(store: &dyn StateStore) {
    let now = Timestamp::now();
    let prefix = StagePrefix::default();
    for n in 1..=STAGES {
        let stage = Stage::parse(&format!("pr-{n}"), &prefix).expect("stage");
        let mut r = Record::new(stage.clone(), RecordStatus::Deployed, now);
        r.files = vec![format!("app/pr-{n}/site.json")];
        let snap = Snapshot {
            record: Some(r),
            files: BTreeMap::from([(format!("app/pr-{n}/site.json"), b"{}".to_vec())]),
        };
        store
            .put(&stage, &snap, &Version::ABSENT, "seed")
            .expect("seed");
    }
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn sweep(
    fake: &FakeGitHub,
    cwd: &std::path::Path,
    store_flag: &[&str],
    runs: usize,
) -> (Duration, usize) {
    let mut times = Vec::new();
    let mut lists = 0;
    for _ in 0..runs {
        fake.clear_requests();
        let t = Instant::now();
        let out = Command::new(env!("CARGO_BIN_EXE_alchemy-ci"))
            .arg("cleanup")
            .arg("--dry-run")
            .args(store_flag)
            .current_dir(cwd)
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("HOME", cwd)
            .env("GITHUB_API_URL", fake.url())
            .env("GITHUB_REPOSITORY", "o/r")
            .env("INPUT_GITHUB-TOKEN", "ghs_bench")
            .output()
            .expect("run");
        times.push(t.elapsed());
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        lists = fake.count_requests("GET", "/repos/o/r/pulls");
    }
    (median(times), lists)
}

fn main() {
    let fake = FakeGitHub::start();
    fake.add_token("ghs_bench", ACTIONS_BOT, TokenKind::Installation);
    fake.add_repo("o", "r");
    for n in 1..=OPEN {
        fake.set_pull("o", "r", n, PullState::Open, &FakeGitHub::sha("x"));
    }
    let tmp = tempfile::tempdir().expect("tmp");

    let dir = tmp.path().join("dir-store");
    seed(&DirStore::new(&dir));
    let flag = format!("dir:{}", dir.display());
    let (t, lists) = sweep(&fake, tmp.path(), &["--state-store", &flag], 9);
    println!("folder store: {STAGES} records, {OPEN} open PRs: median {t:?} over 9 runs, {lists} pull-list requests");

    let daemon = git_server::GitDaemon::start();
    daemon.repo("state.git");
    let url = daemon.url("state.git");
    seed(&GitStore::new(GitStoreOptions::new(url.as_str())).expect("git store"));
    let (t, lists) = sweep(&fake, tmp.path(), &["--state-repo", &url], 5);
    println!("git store (git daemon): {STAGES} records, {OPEN} open PRs: median {t:?} over 5 runs, {lists} pull-list requests");
}
