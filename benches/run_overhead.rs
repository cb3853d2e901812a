//! What alchemy-ci adds to an Alchemy deploy: the wall time of
//! `alchemy-ci run` (lock, restore, deploy, save, unlock) divided by that of
//! the bare `alchemy deploy` it wraps, for the bundled example app, all
//! re-deploying an up-to-date stage, with each state store:
//!
//! - `dir:` (a folder);
//! - `git` against `git daemon` on loopback (`git://`);
//! - `git` against smart HTTP on loopback (lighttpd + `git http-backend`
//!   behind basic auth, the transport GitHub uses; lighttpd and htpasswd
//!   come with `scripts/test`), unless `BENCH_HTTP=0`.
//!
//! Rounds are paired: every round runs each variant once, in an order that
//! rotates between rounds, so a slow moment of the shared machine hits all
//! of them alike. Medians over `BENCH_RUNS` rounds (default 15).
//!
//! It also times the store calls of one run in process (a fresh store:
//! `load`, `put` lock, `put` final) and a second `load` of the same stage
//! on that store, so that a run with one `load` (the restore done inside
//! the lock) can be told apart from today's `run`, which loads twice.
//!
//! Run: `scripts/bench run_overhead` (it sets `ALCHEMY_CI_TEST_NODE_MODULES`).
//! `BENCH_RUNS`, `BENCH_HTTP=0` and `BENCH_BASELINE_BIN` (see below) change
//! what is measured; benches/support/nodelay.c explains a diagnostic run
//! under `LD_PRELOAD`. Numbers go in docs/BENCHMARKS.md.

#[path = "../tests/it/git_server.rs"]
mod git_server;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use alchemy_ci::stage::Stage;
use alchemy_ci::state::dir::DirStore;
use alchemy_ci::state::git::{GitStore, GitStoreOptions};
use alchemy_ci::state::{StateStore, Version};
use git_server::{git, GitDaemon, HttpGit};
use secrecy::SecretString;

const TOKEN: &str = "bench-token-5e1f";
const STAGE: &str = "pr-2";

fn copy_app(to: &Path, node_modules: &Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/app");
    for f in ["alchemy.run.ts", "package.json"] {
        std::fs::copy(src.join(f), to.join(f)).expect("copy app");
    }
    std::os::unix::fs::symlink(node_modules, to.join("node_modules")).expect("link");
}

fn timed(cmd: &mut Command) -> Duration {
    let t = Instant::now();
    let out = cmd.output().expect("spawn");
    let took = t.elapsed();
    assert!(
        out.status.success(),
        "{:?} failed:\n{}\n{}",
        cmd,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    took
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn median_f(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn ms(d: Duration) -> String {
    format!("{:.0} ms", d.as_secs_f64() * 1000.0)
}

/// A server repository for the git store that, like a hosting server,
/// does no maintenance on the push path (one run's background gc would
/// slow the next).
fn server_repo(path: &Path) {
    for (k, v) in [
        ("gc.auto", "0"),
        ("maintenance.auto", "false"),
        ("receive.autogc", "false"),
        ("http.receivepack", "true"),
    ] {
        git(path, &["config", k, v]);
    }
}

/// One way of running the deploy: a name and how to build its command.
struct Variant {
    name: String,
    command: Box<dyn Fn() -> Command>,
    times: Vec<Duration>,
}

/// The store calls of one run, in process: a fresh store, `load`, `put`
/// (lock), `put` (final write); then a second `load` on the same store,
/// what today's `run` does once more before taking the lock.
struct StoreCycle {
    cycle: Duration,
    second_load: Duration,
}

fn store_cycle(store: &dyn StateStore, run: usize) -> StoreCycle {
    let stage = Stage::parse_stored(STAGE).expect("stage");
    let t = Instant::now();
    let loaded = store.load(&stage).expect("load");
    let mut snap = loaded.snapshot.clone();
    if let Some(r) = snap.record.as_mut() {
        r.run_url = Some(format!("bench lock {run}"));
    }
    let v = store
        .put(&stage, &snap, &loaded.version, "lock (bench)")
        .expect("put (lock)");
    if let Some(r) = snap.record.as_mut() {
        r.run_url = Some(format!("bench final {run}"));
    }
    let v: Version = store
        .put(&stage, &snap, &v, "final (bench)")
        .expect("put (final)");
    let cycle = t.elapsed();
    let t = Instant::now();
    let again = store.load(&stage).expect("second load");
    let second_load = t.elapsed();
    assert_eq!(again.version, v, "the second load sees the final write");
    StoreCycle { cycle, second_load }
}

fn main() {
    let node_modules = PathBuf::from(
        std::env::var_os("ALCHEMY_CI_TEST_NODE_MODULES")
            .expect("set ALCHEMY_CI_TEST_NODE_MODULES (see scripts/bench)"),
    );
    let runs: usize = std::env::var("BENCH_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(15)
        .max(1);
    let with_http = std::env::var("BENCH_HTTP").map_or(true, |v| v != "0");
    let tmp = tempfile::tempdir().expect("tmp");
    let home = tmp.path().join("home");
    std::fs::create_dir_all(home.join(".alchemy")).expect("home");
    // A known id keeps Alchemy's first-run telemetry notice out of the timing.
    std::fs::write(home.join(".alchemy/id"), "bench").expect("id");
    let event = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/events/pr_opened.json");
    let bin = env!("CARGO_BIN_EXE_alchemy-ci");

    let daemon = GitDaemon::start();
    server_repo(&daemon.repo("state.git"));
    let daemon_url = daemon.url("state.git");
    let http = with_http.then(|| HttpGit::start(TOKEN));
    if let Some(h) = &http {
        server_repo(&h.repo("state.git"));
    }

    let path = format!(
        "{}:{}",
        node_modules.join(".bin").display(),
        std::env::var("PATH").unwrap_or_default()
    );
    // Kept for the diagnostic in benches/support/nodelay.c.
    let preload = std::env::var_os("LD_PRELOAD");
    let env = move |c: &mut Command, home: &Path| {
        c.env_clear()
            .env("PATH", &path)
            .env("HOME", home)
            .env("CI", "true")
            .env("DO_NOT_TRACK", "1");
        if let Some(p) = &preload {
            c.env("LD_PRELOAD", p);
        }
    };
    let mut variants = Vec::new();
    {
        let app = tmp.path().join("bare");
        copy_app(&app, &node_modules);
        let (env, home, bun) = (env.clone(), home.clone(), node_modules.join(".bin/bun"));
        variants.push(Variant {
            name: "bare `alchemy deploy`".into(),
            command: Box::new(move || {
                let mut c = Command::new(&bun);
                env(&mut c, &home);
                c.args(["node_modules/.bin/alchemy", "deploy", "--stage", STAGE])
                    .current_dir(&app)
                    .env("ALCHEMY_CI_STATE_STORE_CHECK", "false");
                c
            }),
            times: Vec::new(),
        });
    }
    let mut wrapped = |name: String, dir: &str, bin: PathBuf, store: Vec<String>, token: bool| {
        let root = tmp.path().join(dir);
        copy_app(&root.join("app"), &node_modules);
        let (env, home, event) = (env.clone(), home.clone(), event.clone());
        variants.push(Variant {
            name,
            command: Box::new(move || {
                let mut c = Command::new(&bin);
                env(&mut c, &home);
                c.arg("run")
                    .arg("--event")
                    .arg(&event)
                    .args(["--working-directory", "app"])
                    .args(&store)
                    .current_dir(&root);
                if token {
                    c.env("INPUT_STATE-TOKEN", TOKEN);
                }
                c
            }),
            times: Vec::new(),
        });
    };
    let git_store = |url: &str| {
        vec![
            "--state-store".to_owned(),
            "git".to_owned(),
            "--state-repo".to_owned(),
            url.to_owned(),
        ]
    };
    // `BENCH_BASELINE_BIN=<an older alchemy-ci>` adds its git runs to the
    // same rounds, for a before/after comparison on equal terms.
    let baseline = std::env::var_os("BENCH_BASELINE_BIN").map(PathBuf::from);
    let mut bins = vec![("", PathBuf::from(bin))];
    if let Some(b) = baseline {
        bins.push((" (baseline binary)", b));
    }
    wrapped(
        "`alchemy-ci run`, dir: store".into(),
        "ci-dir",
        PathBuf::from(bin),
        vec!["--state-store".into(), "dir:store".into()],
        false,
    );
    for (k, (label, b)) in bins.iter().enumerate() {
        // Each binary has its own stage ref: pr-2 under its own prefix.
        let mut store = git_store(&daemon_url);
        store.extend([
            "--state-ref-prefix".into(),
            format!("refs/bench{k}/stages/"),
        ]);
        wrapped(
            format!("`alchemy-ci run`, git store, git daemon{label}"),
            &format!("ci-git{k}"),
            b.clone(),
            store,
            false,
        );
        if let Some(h) = &http {
            let mut store = git_store(&h.url("state.git"));
            store.extend([
                "--state-ref-prefix".into(),
                format!("refs/bench{k}/stages/"),
            ]);
            wrapped(
                format!("`alchemy-ci run`, git store, smart HTTP{label}"),
                &format!("ci-http{k}"),
                b.clone(),
                store,
                true,
            );
        }
    }

    // First deploys, so every variant measures an up-to-date re-deploy.
    for v in &variants {
        timed(&mut (v.command)());
    }
    let mut stores = vec!["dir:", "git daemon"];
    if http.is_some() {
        stores.push("smart HTTP");
    }
    let mut cycles: Vec<Vec<StoreCycle>> = stores.iter().map(|_| Vec::new()).collect();
    for round in 0..runs {
        let n = variants.len();
        for i in 0..n {
            let v = &mut variants[(round + i) % n];
            let t = timed(&mut (v.command)());
            v.times.push(t);
        }
        for (k, name) in stores.iter().enumerate() {
            // A fresh store each time, as a new CI job has.
            let c = match *name {
                "dir:" => store_cycle(&DirStore::new(tmp.path().join("ci-dir/store")), round),
                "git daemon" => store_cycle(&fresh_git(&daemon_url, None), round),
                _ => {
                    let url = http.as_ref().expect("http").url("state.git");
                    store_cycle(&fresh_git(&url, Some(TOKEN)), round)
                }
            };
            cycles[k].push(c);
        }
        eprintln!(
            "round {}: {}",
            round + 1,
            variants
                .iter()
                .map(|v| ms(*v.times.last().expect("timed")))
                .collect::<Vec<_>>()
                .join(" / ")
        );
    }
    report(&variants, &stores, cycles, runs);
}

/// A store on the stage the current binary's runs deploy (its content is
/// a real run's record and state).
fn fresh_git(url: &str, token: Option<&str>) -> GitStore {
    GitStore::new(GitStoreOptions {
        token: token.map(|t| SecretString::from(t.to_owned())),
        ref_prefix: "refs/bench0/stages/".into(),
        ..GitStoreOptions::new(url)
    })
    .expect("valid options")
}

fn report(variants: &[Variant], stores: &[&str], cycles: Vec<Vec<StoreCycle>>, runs: usize) {
    let bare = &variants[0].times;
    let mb = median(bare.clone());
    println!("\nWhole processes, median of {runs} paired rounds:\n");
    println!("| what | median | ratio of medians | median of paired ratios |");
    println!("|---|---:|---:|---:|");
    for v in variants {
        let m = median(v.times.clone());
        let paired = median_f(
            v.times
                .iter()
                .zip(bare)
                .map(|(w, b)| w.as_secs_f64() / b.as_secs_f64())
                .collect(),
        );
        println!(
            "| {} | {} | {:.2} | {:.2} |",
            v.name,
            ms(m),
            m.as_secs_f64() / mb.as_secs_f64(),
            paired
        );
    }
    println!(
        "\nStore calls of one run in process (fresh store: load, put, put), median of {runs}:\n"
    );
    println!("| store | load + lock + final write | a second load of the same stage |");
    println!("|---|---:|---:|");
    let mut medians = Vec::new();
    for (name, c) in stores.iter().zip(cycles) {
        let cycle = median(c.iter().map(|c| c.cycle).collect());
        let second = median(c.iter().map(|c| c.second_load).collect());
        println!("| {name} | {} | {} |", ms(cycle), ms(second));
        medians.push((cycle, second));
    }
    // A run that loads once: today's run minus its second load's cost.
    println!("\nA run with one load, estimated: today's `run` minus the median second load:\n");
    println!("| what | estimate | ratio to bare |");
    println!("|---|---:|---:|");
    // The second load is the same git work in the baseline binary (a
    // depth-1 fetch, ls-tree, cat-file), so the same figure applies.
    for v in variants {
        let k = match stores.iter().position(|s| v.name.contains(s)) {
            Some(k) if k > 0 => k,
            _ => continue,
        };
        let est = median(v.times.clone()).saturating_sub(medians[k].1);
        println!(
            "| {} | {} | {:.2} |",
            v.name,
            ms(est),
            est.as_secs_f64() / mb.as_secs_f64()
        );
    }
}
