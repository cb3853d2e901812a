//! `alchemy-ci run` against the real Alchemy (npm `alchemy`, run with bun),
//! on apps whose resources are all local, with the folder store.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use alchemy_ci::record::{Record, RecordStatus};
use alchemy_ci::stage::{Stage, StagePrefix};
use alchemy_ci::state::dir::DirStore;
use alchemy_ci::state::git::{GitStore, GitStoreOptions};
use alchemy_ci::state::{Snapshot, StateStore};
use serde_json::{json, Value};

use crate::support::{fixture, node_modules, Dir, Output};

/// The app every test deploys. Its resources are driven by environment
/// variables so one program covers success, failure, slowness, replacement
/// and deletes that fail.
const APP: &str = r#"
import alchemy, { Resource } from "alchemy";
import { File } from "alchemy/fs";

export const Site = Resource(
  "test::Site",
  async function (this: any, id: string, props: { stage: string; gen: number; sticky: boolean; fail: boolean; sleep: number }) {
    if (this.phase === "delete") {
      if (process.env.BREAK_STORE) {
        // Makes the folder store's next write of this stage fail: its
        // current pointer cannot be written over a folder.
        const fs = await import("node:fs");
        fs.mkdirSync(`${process.env.BREAK_STORE}/stages/${process.env.STAGE}/current.tmp`, { recursive: true });
      }
      if (this.output?.sticky && process.env.DELETE_OK !== "1") {
        throw new Error(`cannot delete ${id}`);
      }
      return this.destroy();
    }
    if (props.sleep) {
      await new Promise((r) => setTimeout(r, props.sleep));
    }
    if (props.fail) {
      throw new Error(process.env.FAIL_MESSAGE ?? `boom: ${id} failed on ${this.phase}`);
    }
    if (this.phase === "update" && this.output.gen !== props.gen) {
      return this.replace();
    }
    return { url: `https://${props.stage}.${id}.example.test/`, sticky: props.sticky, gen: props.gen };
  },
);

const app = await alchemy("e2e-app");
const env = process.env;

await File("page", { path: `out/${app.stage}/index.html`, content: env.CONTENT ?? "v1" });
await Site("web", { stage: app.stage, gen: Number(env.GEN ?? 1), sticky: env.STICKY === "1", fail: false, sleep: 0 });
if (env.EXTRA_ID) {
  await Site(env.EXTRA_ID, { stage: app.stage, gen: 1, sticky: false, fail: false, sleep: 0 });
}
if (env.FAIL === "1") {
  await Site("broken", { stage: app.stage, gen: 1, sticky: false, fail: true, sleep: 0 });
}
if (env.SLEEP) {
  await Site("slow", { stage: app.stage, gen: 1, sticky: false, fail: false, sleep: Number(env.SLEEP) });
}

await app.finalize();
"#;

pub struct App {
    pub dir: Dir,
    /// The git remote holding the state, when not the folder store.
    pub git: Option<String>,
}

impl App {
    pub fn new() -> Self {
        let mut dir = Dir::new();
        dir.write("app/alchemy.run.ts", APP);
        dir.write("app/package.json", r#"{"name":"e2e-app","private":true,"type":"module","dependencies":{"alchemy":"0.94.0"}}"#);
        std::os::unix::fs::symlink(node_modules(), dir.path().join("app/node_modules"))
            .expect("link node_modules");
        dir.env("CI", "true").env("DO_NOT_TRACK", "1");
        Self { dir, git: None }
    }

    /// The same app keeping its state in the refs of a git remote.
    pub fn with_git(url: &str) -> Self {
        Self {
            git: Some(url.to_owned()),
            ..Self::new()
        }
    }

    /// The flags that point a command at this app's store.
    pub fn store_flags(&self) -> Vec<String> {
        match &self.git {
            Some(url) => vec!["--state-repo".into(), url.clone()],
            None => vec![
                "--state-store".into(),
                format!("dir:{}", self.store_path().display()),
            ],
        }
    }

    pub fn store(&self) -> Box<dyn StateStore> {
        match &self.git {
            Some(url) => {
                Box::new(GitStore::new(GitStoreOptions::new(url.as_str())).expect("git store"))
            }
            None => Box::new(DirStore::new(self.store_path())),
        }
    }

    pub fn store_path(&self) -> PathBuf {
        self.dir.path().join("store")
    }

    pub fn app_path(&self) -> PathBuf {
        self.dir.path().join("app")
    }

    pub fn event(&self, name: &str, action: &str, number: u64, sha: &str) -> PathBuf {
        let mut v = fixture(if action == "closed" {
            "pull_request.closed.json"
        } else {
            "pull_request.synchronize.json"
        });
        v["action"] = json!(action);
        v["number"] = json!(number);
        v["pull_request"]["number"] = json!(number);
        v["pull_request"]["head"]["sha"] = json!(sha);
        self.dir.write_json(&format!("events/{name}.json"), &v)
    }

    /// `alchemy-ci run` for an event, with extra flags and environment.
    pub fn run(&self, event: &Path, flags: &[&str], env: &[(&str, &str)]) -> Output {
        let ev = event.display().to_string();
        self.command(&["run", "--event", ev.as_str()], flags, env)
    }

    /// `alchemy-ci SUBCOMMAND…` for this app and its store.
    pub fn command(&self, sub: &[&str], flags: &[&str], env: &[(&str, &str)]) -> Output {
        let store = self.store_flags();
        let mut args: Vec<&str> = sub.to_vec();
        // Only commands that run the app take its folder.
        let reads = |s: &&alchemy_ci::config::Sub| Some(s.as_str()) == sub.first().copied();
        let takes_app = alchemy_ci::config::Sub::ALL
            .iter()
            .find(reads)
            .is_some_and(|s| {
                alchemy_ci::config::defs::input("working-directory").is_some_and(|i| i.used_by(*s))
            });
        if takes_app {
            args.extend(["--working-directory", "app"]);
        }
        args.extend(store.iter().map(String::as_str));
        args.extend_from_slice(flags);
        self.dir.run_env(&args, env)
    }

    pub fn snapshot(&self, stage: &str) -> Snapshot {
        self.store()
            .load(&Stage::parse(stage, &StagePrefix::default()).expect("stage"))
            .expect("load")
            .snapshot
    }

    pub fn record(&self, stage: &str) -> Record {
        self.snapshot(stage).record.expect("a record")
    }
}

pub fn resource(snapshot: &Snapshot, id: &str) -> Option<Value> {
    snapshot
        .files
        .iter()
        .find(|(p, _)| p.ends_with(&format!("/{id}.json")))
        .and_then(|(_, b)| serde_json::from_slice(b).ok())
}

const SHA1: &str = "1111111111111111111111111111111111111111";
const SHA2: &str = "2222222222222222222222222222222222222222";

#[test]
fn a_pull_request_lifecycle_deploys_updates_and_destroys() {
    let app = App::new();
    let opened = app.event("opened", "opened", 7, SHA1);
    app.run(&opened, &[], &[]).ok();
    let rec = app.record("pr-7");
    assert_eq!(rec.status, RecordStatus::Deployed);
    assert_eq!(rec.pr.map(|p| p.get()), Some(7));
    assert_eq!(rec.head_sha.as_ref().map(|s| s.as_str()), Some(SHA1));
    assert_eq!(
        rec.urls.first().map(|u| u.url.as_str()),
        Some("https://pr-7.web.example.test/")
    );
    assert!(rec.lock.is_none(), "lock released");
    assert!(rec.deployed_at.is_some());
    assert_eq!(
        std::fs::read_to_string(app.app_path().join("out/pr-7/index.html"))
            .ok()
            .as_deref(),
        Some("v1")
    );
    // Only the store keeps the state; the working tree is left as it was.
    assert!(!app.app_path().join(".alchemy").exists());

    let sync = app.event("sync", "synchronize", 7, SHA2);
    app.run(&sync, &[], &[("CONTENT", "v2")]).ok();
    let snap = app.snapshot("pr-7");
    assert_eq!(
        resource(&snap, "page").map(|r| r["status"].clone()),
        Some(json!("updated"))
    );
    assert_eq!(
        snap.record
            .as_ref()
            .and_then(|r| r.head_sha.as_ref())
            .map(|s| s.as_str()),
        Some(SHA2)
    );

    let closed = app.event("closed", "closed", 7, SHA2);
    let out = app.run(&closed, &[], &[]);
    out.ok();
    let snap = app.snapshot("pr-7");
    assert!(
        snap.files.is_empty(),
        "state left after destroy: {:?}",
        snap.files.keys()
    );
    let rec = snap.record.expect("tombstone record");
    assert_eq!(rec.status, RecordStatus::Destroyed);
    assert!(rec.closed_at.is_some(), "tombstone");
    assert!(rec.urls.is_empty());
    assert!(
        !app.app_path().join("out/pr-7/index.html").exists(),
        "resource not destroyed"
    );

    // A late synchronize for the closed PR does not bring the stage back.
    let late = app.run(&sync, &[], &[]);
    late.ok();
    assert!(
        late.stdout.contains("only reopening the PR"),
        "{}",
        late.context()
    );
    assert!(!app.app_path().join("out/pr-7/index.html").exists());
}

#[test]
fn a_deploy_that_fails_half_way_saves_what_it_made_and_a_destroy_removes_it() {
    let app = App::new();
    let opened = app.event("opened", "opened", 3, SHA1);
    let out = app.run(&opened, &[], &[("FAIL", "1")]);
    assert_eq!(out.code, 1, "{}", out.context());
    assert!(
        out.stdout.contains("failed") || out.stderr.contains("failed"),
        "{}",
        out.context()
    );
    let snap = app.snapshot("pr-3");
    let rec = snap.record.clone().expect("record");
    assert_eq!(rec.status, RecordStatus::Failed);
    assert!(rec.lock.is_none(), "lock released after a failure");
    assert!(
        rec.error
            .as_deref()
            .is_some_and(|e| e.contains("exited with code 1")),
        "{:?}",
        rec.error
    );
    assert_eq!(
        resource(&snap, "web").map(|r| r["status"].clone()),
        Some(json!("created"))
    );
    assert_eq!(
        resource(&snap, "broken").map(|r| r["status"].clone()),
        Some(json!("creating"))
    );

    let closed = app.event("closed", "closed", 3, SHA1);
    app.run(&closed, &[], &[]).ok();
    let snap = app.snapshot("pr-3");
    assert!(snap.files.is_empty(), "{:?}", snap.files.keys());
    assert!(!app.app_path().join("out/pr-3/index.html").exists());
}

#[test]
fn a_destroy_alchemy_calls_a_success_but_that_leaves_state_fails_and_keeps_it() {
    let app = App::new();
    app.run(
        &app.event("opened", "opened", 4, SHA1),
        &[],
        &[("STICKY", "1")],
    )
    .ok();
    let closed = app.event("closed", "closed", 4, SHA1);
    let out = app.run(&closed, &[], &[]);
    assert_eq!(out.code, 1, "{}", out.context());
    assert!(
        out.stdout.contains("e2e-app/pr-4/web"),
        "remaining resource named\n{}",
        out.context()
    );
    let snap = app.snapshot("pr-4");
    assert_eq!(
        snap.record.as_ref().map(|r| r.status),
        Some(RecordStatus::DestroyFailed)
    );
    assert!(
        resource(&snap, "web").is_some(),
        "the resource that is still there keeps its state"
    );
    assert!(
        snap.record.as_ref().is_some_and(|r| r.closed_at.is_none()),
        "no tombstone for a failed destroy"
    );

    // Once the resource can be deleted, the next destroy finishes the job.
    app.run(&closed, &[], &[("DELETE_OK", "1")]).ok();
    assert!(app.snapshot("pr-4").files.is_empty());
}

#[test]
fn a_replacement_in_one_stage_never_touches_another() {
    let app = App::new();
    let a = app.event("a", "opened", 1, SHA1);
    let b = app.event("b", "opened", 2, SHA1);
    app.run(&a, &[], &[]).ok();
    app.run(&b, &[], &[]).ok();
    // A replacement makes Alchemy v1 write .alchemy/<app>/pr-1.json, which a
    // shared .alchemy/ would let the next deploy of pr-2 treat as an orphan.
    app.run(
        &app.event("a2", "synchronize", 1, SHA2),
        &[],
        &[("GEN", "2")],
    )
    .ok();
    let a_before = app.snapshot("pr-1");
    assert!(
        a_before.files.contains_key("e2e-app/pr-1.json"),
        "{:?}",
        a_before.files.keys()
    );

    app.run(&app.event("b2", "synchronize", 2, SHA2), &[], &[])
        .ok();
    let a_after = app.snapshot("pr-1");
    assert_eq!(a_before.files, a_after.files, "stage pr-1's state changed");
    assert!(
        app.app_path().join("out/pr-1/index.html").exists(),
        "pr-1's resource was deleted"
    );
}

#[test]
fn the_script_style_runs_the_same_lifecycle() {
    let app = App::new();
    let opened = app.event("opened", "opened", 5, SHA1);
    let out = app.run(&opened, &["--alchemy-command", "v1-script"], &[]);
    out.ok();
    assert!(
        out.stdout.contains("bun alchemy.run.ts --stage pr-5"),
        "{}",
        out.context()
    );
    assert_eq!(
        app.record("pr-5").urls.first().map(|u| u.url.as_str()),
        Some("https://pr-5.web.example.test/")
    );
    app.run(
        &app.event("closed", "closed", 5, SHA1),
        &["--alchemy-command", "v1-script"],
        &[],
    )
    .ok();
    assert!(app.snapshot("pr-5").files.is_empty());
}

#[test]
fn a_timeout_stops_alchemy_and_still_saves_the_state() {
    let app = App::new();
    let opened = app.event("opened", "opened", 8, SHA1);
    let started = Instant::now();
    // Long enough for the quick resources even when every core is busy,
    // far shorter than the slow resource's 10 minutes.
    let out = app.run(
        &opened,
        &["--timeout-minutes", "0.5"],
        &[("SLEEP", "600000")],
    );
    assert_eq!(out.code, 1, "{}", out.context());
    assert!(
        started.elapsed() < Duration::from_secs(90),
        "took {:?}",
        started.elapsed()
    );
    let snap = app.snapshot("pr-8");
    let rec = snap.record.clone().expect("record");
    assert_eq!(rec.status, RecordStatus::Failed);
    assert!(
        rec.error
            .as_deref()
            .is_some_and(|e| e.contains("timed out")),
        "{:?}",
        rec.error
    );
    assert!(rec.lock.is_none());
    assert_eq!(
        resource(&snap, "web").map(|r| r["status"].clone()),
        Some(json!("created"))
    );
}

#[test]
fn sigterm_during_a_deploy_saves_the_state_and_exits_non_zero() {
    let app = App::new();
    let opened = app.event("opened", "opened", 9, SHA1);
    let store = format!("dir:{}", app.store_path().display());
    let child = std::process::Command::new(crate::support::BIN)
        .args(["run", "--event"])
        .arg(&opened)
        .args(["--working-directory", "app", "--state-store", &store])
        .current_dir(app.dir.path())
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("HOME", app.dir.path())
        .env("CI", "true")
        .env("DO_NOT_TRACK", "1")
        .env("SLEEP", "60000")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn");
    // Wait until Alchemy sits in the slow resource: its state file appears
    // in the run's working .alchemy/ when its creation starts.
    let deadline = Instant::now() + Duration::from_secs(60);
    while !app
        .app_path()
        .join(".alchemy/e2e-app/pr-9/slow.json")
        .exists()
    {
        assert!(
            Instant::now() < deadline,
            "the deploy never reached the slow resource"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    std::thread::sleep(Duration::from_millis(300));
    let pid = nix::unistd::Pid::from_raw(i32::try_from(child.id()).expect("pid"));
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM).expect("signal");
    let out = child.wait_with_output().expect("wait");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    let snap = app.snapshot("pr-9");
    let rec = snap.record.clone().expect("record");
    assert_eq!(rec.status, RecordStatus::Failed);
    assert!(
        rec.error.as_deref().is_some_and(|e| e.contains("SIGTERM")),
        "{:?}",
        rec.error
    );
    assert!(rec.lock.is_none());
    assert_eq!(
        resource(&snap, "page").map(|r| r["status"].clone()),
        Some(json!("created"))
    );
    assert!(
        resource(&snap, "slow").is_some(),
        "the interrupted resource is in the state"
    );
}

#[test]
fn status_and_state_commands_inspect_and_repair_the_store() {
    let app = App::new();
    app.run(&app.event("opened", "opened", 11, SHA1), &[], &[])
        .ok();

    let status = app.command(&["status", "--json"], &[], &[]);
    status.ok();
    let rows: Value = serde_json::from_str(&status.stdout).expect("json");
    assert_eq!(rows[0]["stage"], "pr-11");
    assert_eq!(rows[0]["status"], "deployed");
    assert_eq!(rows[0]["urls"][0]["url"], "https://pr-11.web.example.test/");

    let show = app.command(&["state"], &["show", "pr-11"], &[]);
    show.ok();
    assert!(
        show.stdout.contains("\"status\": \"deployed\"")
            && show.stdout.contains("e2e-app/pr-11/web.json"),
        "{}",
        show.context()
    );

    // Forgetting a stage whose resources are live would orphan them.
    let before = app.snapshot("pr-11");
    app.command(&["state"], &["rm", "pr-11"], &[])
        .bad_input(&["pr-11", "--force"]);
    assert_eq!(app.snapshot("pr-11"), before);
    app.command(&["state"], &["rm", "pr-11", "--force"], &[])
        .ok();
    assert!(app.snapshot("pr-11").is_empty());
}
