//! How long one run's state traffic takes with the git store as the number
//! of stages grows, next to the alternative design (every stage in one
//! branch), all against `git daemon` on loopback.
//!
//! For 10, 1,000 and 10,000 stages it builds two repositories with
//! `git fast-import` (one process per repository, not one per ref):
//!
//! - one ref per stage, `refs/alchemy-ci/stages/pr-<n>`, each holding a
//!   `record.json` and 5 small Alchemy resource files, with 1,000 commits
//!   of history on the stage being measured (`pr-1`);
//! - one branch, `alchemy-state`, whose tree holds the same files under
//!   `stages/<stage>/`, with 1,000 commits of history spread across stages.
//!
//! Then, once every repository is built, in interleaved rounds (each size
//! in turn, so that a busy moment of a shared machine slows every size
//! alike), medians over the rounds:
//!
//! - a run with the git store, each time a fresh `GitStore` with an empty
//!   work folder (a fresh CI job): `load` (restore), `put` (take the lock),
//!   `put` (final write), on `pr-1` (the worst case: history, and a name
//!   that begins many others) and on the newest stage; and each size's run
//!   divided by the smallest size's run of the same round;
//! - `list` and `records` (what `cleanup`/`status` use);
//! - the single branch: a depth-1, no-checkout clone of its tip (the least
//!   a run would fetch in that design) and a plain `git clone` of it.
//!
//! Run: `cargo bench --bench git_store`. `BENCH_SIZES=10,1000` and
//! `BENCH_RUNS=7` change what is measured. With `--features
//! bench-libgit2` it also times the same run done with libgit2 (git2),
//! the transport this store does not use. Numbers and the machine go in
//! docs/BENCHMARKS.md.

#[path = "../tests/it/git_server.rs"]
mod git_server;

#[cfg(feature = "bench-libgit2")]
#[path = "support/libgit2_cycle.rs"]
mod libgit2_cycle;

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use alchemy_ci::record::{Record, RecordStatus};
use alchemy_ci::stage::Stage;
use alchemy_ci::state::git::{GitStore, GitStoreOptions, DEFAULT_REF_PREFIX};
use alchemy_ci::state::{Snapshot, StateStore};
use alchemy_ci::time::Timestamp;
use git_server::{git, git_with_input, GitDaemon};

const FILES_PER_STAGE: usize = 5;
const HISTORY: usize = 1_000;

fn median(mut xs: Vec<Duration>) -> Duration {
    xs.sort();
    xs[xs.len() / 2]
}

fn ms(d: Duration) -> String {
    let ms = d.as_secs_f64() * 1000.0;
    if ms >= 10_000.0 {
        format!("{:.1} s", ms / 1000.0)
    } else {
        format!("{ms:.0} ms")
    }
}

fn stage(n: usize) -> Stage {
    Stage::parse_stored(&format!("pr-{n}")).expect("valid stage")
}

/// One Alchemy resource file, ~350 bytes, different for every stage,
/// resource and version (so nothing dedupes that would not in real life).
fn resource(n: usize, k: usize, version: usize) -> Vec<u8> {
    format!(
        r#"{{"kind":"cloudflare::Worker","id":"res-{k}","fqn":"my-app/pr-{n}/res-{k}","seq":{k},"data":{{}},"status":"created","output":{{"name":"my-app-pr-{n}-res-{k}","url":"https://my-app-pr-{n}-res-{k}.example.workers.dev","version":{version},"createdAt":{}}},"props":{{"name":"my-app-pr-{n}-res-{k}","entrypoint":"src/worker.ts","compatibilityDate":"2026-11-01"}}}}
"#,
        1_800_000_000 + version
    )
    .into_bytes()
}

fn record(n: usize) -> Vec<u8> {
    let mut r = Record::new(
        stage(n),
        RecordStatus::Deployed,
        Timestamp::from_unix(1_800_000_000),
    );
    r.files = (0..FILES_PER_STAGE)
        .map(|k| format!("my-app/pr-{n}/res-{k}.json"))
        .collect();
    r.to_json()
}

fn data(s: &mut Vec<u8>, bytes: &[u8]) {
    s.extend_from_slice(format!("data {}\n", bytes.len()).as_bytes());
    s.extend_from_slice(bytes);
    s.push(b'\n');
}

fn commit_header(s: &mut Vec<u8>, refname: &str, message: &str, time: usize) {
    s.extend_from_slice(
        format!(
            "commit {refname}\ncommitter bench <bench@example.com> {} +0000\n",
            1_800_000_000 + time
        )
        .as_bytes(),
    );
    data(s, message.as_bytes());
}

/// Files of stage `n` at `version`, under `dir` in the tree.
fn stage_files(s: &mut Vec<u8>, dir: &str, n: usize, version: usize) {
    s.extend_from_slice(format!("M 100644 inline {dir}record.json\n").as_bytes());
    data(s, &record(n));
    for k in 0..FILES_PER_STAGE {
        s.extend_from_slice(
            format!("M 100644 inline {dir}alchemy/my-app/pr-{n}/res-{k}.json\n").as_bytes(),
        );
        data(s, &resource(n, k, version));
    }
}

fn fast_import(repo: &Path, stream: &[u8]) {
    git_with_input(repo, &["fast-import", "--quiet", "--force"], Some(stream));
    // What a hosting server does in the background: refs packed, objects
    // in one well-deltified pack, a commit-graph. Then no maintenance on
    // the push path, so one run's background gc does not slow the next.
    git(repo, &["gc", "--quiet"]);
    for (k, v) in [
        ("gc.auto", "0"),
        ("maintenance.auto", "false"),
        ("receive.autogc", "false"),
    ] {
        git(repo, &["config", k, v]);
    }
}

/// One ref per stage; `pr-1` carries `HISTORY` commits.
fn build_stage_refs(repo: &Path, stages: usize) {
    let mut s = Vec::new();
    let pr1 = format!("{DEFAULT_REF_PREFIX}pr-1");
    for v in 0..HISTORY {
        commit_header(&mut s, &pr1, &format!("deploy pr-1 #{v}"), v);
        if v == 0 {
            stage_files(&mut s, "", 1, v);
        } else {
            let k = v % FILES_PER_STAGE;
            s.extend_from_slice(
                format!("M 100644 inline alchemy/my-app/pr-1/res-{k}.json\n").as_bytes(),
            );
            data(&mut s, &resource(1, k, v));
        }
    }
    for n in 2..=stages {
        commit_header(
            &mut s,
            &format!("{DEFAULT_REF_PREFIX}pr-{n}"),
            &format!("deploy pr-{n}"),
            n,
        );
        stage_files(&mut s, "", n, 0);
    }
    fast_import(repo, &s);
}

/// Every stage in one branch; `HISTORY` commits, each changing one stage.
fn build_branch(repo: &Path, stages: usize) {
    let mut s = Vec::new();
    let branch = "refs/heads/alchemy-state";
    commit_header(&mut s, branch, "all stages", 0);
    for n in 1..=stages {
        stage_files(&mut s, &format!("stages/pr-{n}/"), n, 0);
    }
    for v in 1..HISTORY {
        commit_header(&mut s, branch, &format!("deploy #{v}"), v);
        let n = 1 + v % stages;
        let k = v % FILES_PER_STAGE;
        s.extend_from_slice(
            format!("M 100644 inline stages/pr-{n}/alchemy/my-app/pr-{n}/res-{k}.json\n")
                .as_bytes(),
        );
        data(&mut s, &resource(n, k, v));
    }
    fast_import(repo, &s);
}

/// What one run writes: the loaded state with one resource changed.
fn next_snapshot(loaded: &Snapshot, n: usize, v: usize) -> Snapshot {
    let mut snap = loaded.clone();
    snap.files.insert(
        format!("my-app/pr-{n}/res-0.json"),
        resource(n, 0, 1_000_000 + v),
    );
    snap
}

#[derive(Clone, Copy)]
struct Cycle {
    load: Duration,
    lock: Duration,
    save: Duration,
    total: Duration,
}

/// One run on stage `pr-<n>`: a fresh store (as a new CI job has), load,
/// put (lock), put (final write).
fn store_cycle(url: &str, n: usize, run: usize) -> Cycle {
    let s = stage(n);
    let t0 = Instant::now();
    let store = GitStore::new(GitStoreOptions::new(url)).expect("valid options");
    let loaded = store.load(&s).expect("load");
    assert_eq!(loaded.snapshot.files.len(), FILES_PER_STAGE);
    let t1 = Instant::now();
    let v = store
        .put(
            &s,
            &next_snapshot(&loaded.snapshot, n, 2 * run),
            &loaded.version,
            &format!("lock pr-{n} (deploying) by bench"),
        )
        .expect("put (lock)");
    let t2 = Instant::now();
    store
        .put(
            &s,
            &next_snapshot(&loaded.snapshot, n, 2 * run + 1),
            &v,
            &format!("deploy pr-{n} @ bench (run {run})"),
        )
        .expect("put (final)");
    let t3 = Instant::now();
    drop(store);
    Cycle {
        load: t1 - t0,
        lock: t2 - t1,
        save: t3 - t2,
        total: t3 - t0,
    }
}

/// The median of each part over `all`.
fn medians(all: &[Cycle]) -> Cycle {
    let pick = |f: fn(&Cycle) -> Duration| median(all.iter().map(f).collect());
    Cycle {
        load: pick(|c| c.load),
        lock: pick(|c| c.lock),
        save: pick(|c| c.save),
        total: pick(|c| c.total),
    }
}

/// Runs on every size in interleaved rounds (after one discarded warm-up
/// each), so that a busy moment of a shared machine slows every size
/// alike and the ratios between sizes hold. For each size, `pr-1` (the
/// worst case: 1,000 commits of history, and a name that begins 1,111
/// others at 10,000 stages, since git asks the server for refs by prefix)
/// and `pr-<n>`, the newest pull request, the usual one.
fn interleaved_runs(urls: &[(usize, String)], runs: usize) -> Vec<(usize, usize, Vec<Cycle>)> {
    let mut all: Vec<(usize, usize, Vec<Cycle>)> = urls
        .iter()
        .flat_map(|(n, _)| [(*n, 1, Vec::new()), (*n, *n, Vec::new())])
        .collect();
    for round in 0..=runs {
        for (n, m, samples) in &mut all {
            let url = &urls.iter().find(|(k, _)| k == n).expect("built").1;
            let c = store_cycle(url, *m, round);
            if round > 0 {
                samples.push(c);
            }
        }
        eprintln!("round {round} of {runs} done");
    }
    all
}

/// Per round, the whole run at each size divided by the same stage's run
/// at the smallest size; the median of those.
fn paired_ratios(all: &[(usize, usize, Vec<Cycle>)]) -> Vec<(usize, &'static str, f64)> {
    let smallest = all.iter().map(|(n, _, _)| *n).min().unwrap_or(0);
    let base = |newest: bool| {
        all.iter()
            .find(|(n, m, _)| *n == smallest && (*m == *n) == newest)
            .map(|(_, _, s)| s)
    };
    let mut out = Vec::new();
    for (n, m, samples) in all.iter().filter(|(n, _, _)| *n != smallest) {
        let newest = m == n;
        let Some(b) = base(newest) else { continue };
        let mut ratios: Vec<f64> = samples
            .iter()
            .zip(b)
            .map(|(x, y)| x.total.as_secs_f64() / y.total.as_secs_f64())
            .collect();
        ratios.sort_by(f64::total_cmp);
        let label = if newest { "newest PR" } else { "pr-1" };
        out.push((*n, label, ratios[ratios.len() / 2]));
    }
    out
}

fn time_cmd(args: &[&str]) -> Duration {
    let t = Instant::now();
    let out = Command::new("git")
        .args(args)
        .env("GIT_TERMINAL_PROMPT", "0")
        .output()
        .expect("spawn git");
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    t.elapsed()
}

fn env_list(name: &str, default: &[usize]) -> Vec<usize> {
    std::env::var(name)
        .ok()
        .map(|v| v.split(',').filter_map(|x| x.trim().parse().ok()).collect())
        .unwrap_or_else(|| default.to_vec())
}

fn env_on(name: &str) -> bool {
    std::env::var(name).map_or(true, |v| v != "0")
}

fn timed<T>(times: usize, mut f: impl FnMut() -> T) -> Duration {
    median(
        (0..times)
            .map(|_| {
                let t = Instant::now();
                f();
                t.elapsed()
            })
            .collect(),
    )
}

fn main() {
    let sizes = env_list("BENCH_SIZES", &[10, 1_000, 10_000]);
    let runs = env_list("BENCH_RUNS", &[7])[0].max(1);
    let alternatives = env_on("BENCH_ALTERNATIVES");
    let daemon = GitDaemon::start();
    let mut urls = Vec::new();
    for &n in &sizes {
        let t = Instant::now();
        let stages_repo = daemon.repo(&format!("stages-{n}.git"));
        build_stage_refs(&stages_repo, n);
        if alternatives {
            let branch_repo = daemon.repo(&format!("branch-{n}.git"));
            build_branch(&branch_repo, n);
        }
        eprintln!("{n} stages: repositories built in {:?}", t.elapsed());
        urls.push((n, daemon.url(&format!("stages-{n}.git"))));
    }
    let runs_table = interleaved_runs(&urls, runs);
    let mut other_table = Vec::new();
    for (n, url) in &urls {
        let n = *n;
        let mut row = vec![n.to_string()];
        let fresh = || GitStore::new(GitStoreOptions::new(url)).expect("valid");
        row.push(ms(timed(3, || {
            assert_eq!(fresh().list().expect("list").len(), n)
        })));
        row.push(ms(timed(3, || {
            assert_eq!(fresh().records().expect("records").len(), n)
        })));
        if alternatives {
            let branch_url = daemon.url(&format!("branch-{n}.git"));
            let clone = |shallow: bool| {
                let dir = tempfile::tempdir().expect("temp dir");
                let dest = dir.path().join("c");
                let dest = dest.to_str().expect("utf-8 path");
                let mut args = vec![
                    "clone",
                    "--quiet",
                    "--single-branch",
                    "--branch",
                    "alchemy-state",
                    "--no-tags",
                ];
                if shallow {
                    args.extend(["--depth=1", "--no-checkout"]);
                }
                args.extend([branch_url.as_str(), dest]);
                time_cmd(&args)
            };
            row.push(ms(median((0..runs).map(|_| clone(true)).collect())));
            row.push(ms(median((0..runs.min(3)).map(|_| clone(false)).collect())));
        }
        #[cfg(feature = "bench-libgit2")]
        for m in [1, n] {
            libgit2_cycle::cycle(url, m, 0);
            let t = median(
                (1..=runs)
                    .map(|r| libgit2_cycle::cycle(url, m, r))
                    .collect(),
            );
            eprintln!("{n} stages, pr-{m}: libgit2 run {t:?}");
            row.push(ms(t));
        }
        eprintln!("{n} stages: {row:?}");
        other_table.push(row);
    }

    println!("\nOne run with the git store (median of {runs} interleaved rounds; a fresh store each run):\n");
    println!("| stages | stage | load (restore) | put (lock) | put (final) | whole run |");
    println!("|---:|---|---:|---:|---:|---:|");
    for (n, m, samples) in &runs_table {
        let c = medians(samples);
        println!(
            "| {n} | pr-{m} | {} | {} | {} | {} |",
            ms(c.load),
            ms(c.lock),
            ms(c.save),
            ms(c.total)
        );
    }
    println!("\nWhole run against the smallest size, median of the per-round ratios:\n");
    println!("| stages | stage | ratio |");
    println!("|---:|---|---:|");
    for (n, label, r) in paired_ratios(&runs_table) {
        println!("| {n} | {label} | {r:.2}× |");
    }
    let mut header = String::from("| stages | `list` | `records` |");
    if alternatives {
        header.push_str(" one branch: depth-1 fetch | one branch: plain clone |");
    }
    if cfg!(feature = "bench-libgit2") {
        header.push_str(" libgit2 run, pr-1 | libgit2 run, newest |");
    }
    println!("\nThe rest (median of 3 for `list`, `records` and the plain clone):\n");
    println!("{header}");
    println!("{}", "|---:".repeat(header.matches('|').count() - 1) + "|");
    for row in &other_table {
        println!("| {} |", row.join(" | "));
    }
}
