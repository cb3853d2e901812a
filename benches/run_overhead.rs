//! What alchemy-ci adds to an Alchemy deploy: the wall time of
//! `alchemy-ci run` (lock, restore, deploy, save, unlock, with the folder
//! store) divided by that of the bare `alchemy deploy` it wraps, for the
//! bundled example app, both re-deploying an up-to-date stage.
//!
//! Run: `ALCHEMY_CI_TEST_NODE_MODULES=… cargo bench --bench run_overhead`
//! (scripts/bench sets it up). Numbers go in docs/BENCHMARKS.md.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

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

fn main() {
    let node_modules = PathBuf::from(
        std::env::var_os("ALCHEMY_CI_TEST_NODE_MODULES")
            .expect("set ALCHEMY_CI_TEST_NODE_MODULES (see scripts/bench)"),
    );
    let tmp = tempfile::tempdir().expect("tmp");
    let home = tmp.path().join("home");
    std::fs::create_dir_all(home.join(".alchemy")).expect("home");
    // A known id keeps Alchemy's first-run telemetry notice out of the timing.
    std::fs::write(home.join(".alchemy/id"), "bench").expect("id");
    let bare_app = tmp.path().join("bare");
    let ci_root = tmp.path().join("ci");
    copy_app(&bare_app, &node_modules);
    copy_app(&ci_root.join("app"), &node_modules);
    let event = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/events/pr_opened.json");
    let bin = env!("CARGO_BIN_EXE_alchemy-ci");

    let env = |c: &mut Command| {
        c.env_clear()
            .env(
                "PATH",
                format!(
                    "{}:{}",
                    node_modules.join(".bin").display(),
                    std::env::var("PATH").unwrap_or_default()
                ),
            )
            .env("HOME", &home)
            .env("CI", "true")
            .env("DO_NOT_TRACK", "1");
    };
    let bare = || {
        let mut c = Command::new(node_modules.join(".bin/bun"));
        env(&mut c);
        c.args(["node_modules/.bin/alchemy", "deploy", "--stage", "pr-2"])
            .current_dir(&bare_app)
            .env("ALCHEMY_CI_STATE_STORE_CHECK", "false");
        c
    };
    let wrapped = || {
        let mut c = Command::new(bin);
        c.arg("run")
            .arg("--event")
            .arg(&event)
            .args(["--working-directory", "app", "--state-store", "dir:store"])
            .current_dir(&ci_root);
        env(&mut c);
        c
    };

    // First deploys, so both measure an up-to-date re-deploy.
    timed(&mut bare());
    timed(&mut wrapped());
    let (mut b, mut w) = (Vec::new(), Vec::new());
    for _ in 0..15 {
        b.push(timed(&mut bare()));
        w.push(timed(&mut wrapped()));
    }
    let (mb, mw) = (median(b), median(w));
    println!("bare `alchemy deploy` (up to date): median {mb:?} over 15 runs");
    println!("`alchemy-ci run` (dir store, up to date): median {mw:?} over 15 runs");
    println!("ratio: {:.3}", mw.as_secs_f64() / mb.as_secs_f64());
}
