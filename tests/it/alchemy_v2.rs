//! `alchemy-ci run` against the real Alchemy v2 (npm `alchemy@2.0.0-beta.*`,
//! the Effect API, run with bun), on a stack whose resources are all local,
//! with the folder store and the fake GitHub.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use alchemy_ci::record::{RecordStatus, StateKeeping};
use serde_json::Value;

use crate::action_contract::parse_outputs;
use crate::alchemy_e2e::App;
use crate::fake_github::{Comment, FakeGitHub, PullState, TokenKind, ACTIONS_BOT};
use crate::support::{node_modules, Output};

/// A v2 stack: a random secret (Alchemy's own local provider) and a site
/// that writes `out/<stage>/index.html` and whose URL is the stack's
/// output. `STICKY=1` makes the site's delete fail; `EXIT_ZERO=1` makes the
/// process exit 0 whatever happened, as a runner that swallows a failed
/// destroy's exit status would (v2 itself exits 1). `STATE=memory` keeps
/// the state in Alchemy's in-memory provider instead of `.alchemy/`.
const APP_V2: &str = r#"
import * as Alchemy from "alchemy";
import * as Provider from "alchemy/Provider";
import * as Effect from "effect/Effect";
import * as Layer from "effect/Layer";
import * as fs from "node:fs";

type Site = Alchemy.Resource<"Test.Site", { stage: string; content: string }, { url: string; path: string }>;
const Site = Alchemy.Resource<Site>("Test.Site");

const SiteProvider = () =>
  Provider.succeed(Site, {
    reconcile: ({ news }) =>
      Effect.sync(() => {
        const path = `out/${news.stage}/index.html`;
        fs.mkdirSync(`out/${news.stage}`, { recursive: true });
        fs.writeFileSync(path, news.content);
        return { url: `https://${news.stage}.site.example.test/`, path };
      }),
    delete: ({ output }) =>
      process.env.STICKY === "1"
        ? Effect.fail(new Error(`cannot delete ${output.path}`))
        : Effect.sync(() => fs.rmSync(output.path, { force: true })),
    read: ({ output }) => Effect.succeed(output),
  });

if (process.env.EXIT_ZERO === "1") {
  process.on("exit", () => {
    process.exitCode = 0;
  });
}

export default Alchemy.Stack(
  "v2-app",
  {
    providers: Layer.mergeAll(Alchemy.RandomProvider(), SiteProvider()),
    state: process.env.STATE === "memory" ? Alchemy.inMemoryState() : Alchemy.localState(),
  },
  Effect.gen(function* () {
    const stage = yield* Alchemy.Stage;
    yield* Alchemy.Random("secret");
    const site = yield* Site("site", { stage, content: process.env.CONTENT ?? "v1" });
    return { url: site.url, stage };
  }),
);
"#;

/// The pinned Alchemy v2 that scripts/test installs.
pub fn node_modules_v2() -> PathBuf {
    let p = std::env::var_os("ALCHEMY_CI_TEST_NODE_MODULES_V2")
        .map(PathBuf::from)
        .unwrap_or_default();
    assert!(
        p.join(".bin/alchemy").exists(),
        "ALCHEMY_CI_TEST_NODE_MODULES_V2 must point at node_modules with alchemy v2: run the tests with scripts/test"
    );
    p
}

/// Turns the test app into the v2 stack: v2's node_modules, its program,
/// and the pinned bun (from the v1 install) on PATH.
pub fn make_v2(app: &mut App) {
    let dir = app.app_path();
    std::fs::remove_file(dir.join("node_modules")).expect("unlink node_modules");
    std::os::unix::fs::symlink(node_modules_v2(), dir.join("node_modules"))
        .expect("link node_modules");
    std::fs::remove_file(dir.join("alchemy.run.ts")).expect("remove the v1 program");
    app.dir.write("app/alchemy.run.ts", APP_V2);
    app.dir.write(
        "app/package.json",
        r#"{"name":"v2-app","private":true,"type":"module","dependencies":{"alchemy":"2.0.0-beta.79"}}"#,
    );
    let bin = app.dir.path().join("bin");
    std::fs::create_dir_all(&bin).expect("mkdir bin");
    std::os::unix::fs::symlink(node_modules().join(".bin/bun"), bin.join("bun")).expect("link bun");
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    app.dir.env("PATH", &path);
}

pub fn v2_app() -> App {
    let mut app = App::new();
    make_v2(&mut app);
    app
}

pub const OWNER: &str = "Codertocat";
pub const REPO: &str = "Hello-World";
const TOKEN: &str = "ghs_v2_token";

/// The fake GitHub and the Actions environment of one job step.
pub struct Actions {
    pub fake: FakeGitHub,
}

impl Actions {
    pub fn new() -> Self {
        let fake = FakeGitHub::start();
        fake.add_token(TOKEN, ACTIONS_BOT, TokenKind::Installation);
        fake.add_repo(OWNER, REPO);
        Self { fake }
    }

    pub fn env(&self, app: &App) -> Vec<(String, String)> {
        let file = |n: &str| app.dir.path().join(n).display().to_string();
        vec![
            ("GITHUB_ACTIONS".into(), "true".into()),
            ("GITHUB_API_URL".into(), self.fake.url().to_owned()),
            ("GITHUB_SERVER_URL".into(), "https://github.com".into()),
            ("GITHUB_REPOSITORY".into(), format!("{OWNER}/{REPO}")),
            ("GITHUB_RUN_ID".into(), "5150".into()),
            ("GITHUB_OUTPUT".into(), file("github_output")),
            ("GITHUB_STEP_SUMMARY".into(), file("step_summary")),
            ("INPUT_GITHUB-TOKEN".into(), TOKEN.into()),
        ]
    }

    /// `alchemy-ci SUB…` as a fresh job step: new output and summary files.
    pub fn step(&self, app: &App, sub: &[&str], flags: &[&str], extra: &[(&str, &str)]) -> Output {
        let env = self.env(app);
        let mut all: Vec<(&str, &str)> =
            env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        all.extend_from_slice(extra);
        let _ = std::fs::remove_file(app.dir.path().join("github_output"));
        let _ = std::fs::remove_file(app.dir.path().join("step_summary"));
        app.command(sub, flags, &all)
    }

    /// `alchemy-ci run` for a pull request event, the PR's live state set
    /// to match it.
    pub fn pr(
        &self,
        app: &App,
        action: &str,
        n: u64,
        sha: &str,
        flags: &[&str],
        extra: &[(&str, &str)],
    ) -> Output {
        let state = if action == "closed" {
            PullState::Closed
        } else {
            PullState::Open
        };
        self.fake.set_pull(OWNER, REPO, n, state, sha);
        let event = app.event(&format!("{action}-{n}-{}", &sha[..7]), action, n, sha);
        let ev = event.display().to_string();
        self.step(app, &["run", "--event", ev.as_str()], flags, extra)
    }

    pub fn comment(&self, n: u64) -> Comment {
        let mut all = self.fake.comments(OWNER, REPO, n);
        assert_eq!(all.len(), 1, "one sticky comment: {all:?}");
        all.remove(0)
    }
}

pub fn outputs(app: &App) -> BTreeMap<String, String> {
    parse_outputs(
        &std::fs::read_to_string(app.dir.path().join("github_output")).unwrap_or_default(),
    )
}

pub fn summary(app: &App) -> String {
    std::fs::read_to_string(app.dir.path().join("step_summary")).unwrap_or_default()
}

fn read(p: &Path) -> Option<String> {
    std::fs::read_to_string(p).ok()
}

fn sha(seed: &str) -> String {
    FakeGitHub::sha(seed)
}

/// The whole life of a v2 preview: deploy with the URL from the stack's
/// `__stack_output__.json`, a read that changes no byte of the state, an
/// update, a destroy that fails while the process exits 0 (caught: the
/// state stays), and the destroy that works (verified).
#[test]
fn a_v2_stack_is_deployed_read_updated_and_destroyed_with_every_failure_caught() {
    let gh = Actions::new();
    let app = v2_app();
    let (one, two) = (sha("v2-one"), sha("v2-two"));
    let profile = ["--profile", "ci"];

    let out = gh.pr(&app, "opened", 31, &one, &profile, &[]);
    out.ok();
    assert!(
        out.stdout
            .contains("bun node_modules/.bin/alchemy deploy --stage pr-31 --yes --profile ci"),
        "{}",
        out.context()
    );
    assert!(
        out.stdout.contains("ALCHEMY_STAGE=pr-31"),
        "{}",
        out.context()
    );
    let url = "https://pr-31.site.example.test/";
    let snap = app.snapshot("pr-31");
    let files: Vec<&str> = snap.files.keys().map(String::as_str).collect();
    assert_eq!(
        files,
        [
            "state/v2-app/pr-31/__stack_output__.json",
            "state/v2-app/pr-31/secret.json",
            "state/v2-app/pr-31/site.json"
        ]
    );
    let rec = snap.record.clone().expect("record");
    assert_eq!(rec.status, RecordStatus::Deployed);
    assert_eq!(rec.state, Some(StateKeeping::Local));
    assert_eq!(rec.urls.first().map(|u| u.url.as_str()), Some(url));
    assert_eq!(outputs(&app).get("url").map(String::as_str), Some(url));
    let c = gh.comment(31);
    assert!(
        c.body.contains("Deployed") && c.body.contains(&format!("]({url})")),
        "{}",
        c.body
    );
    assert_eq!(
        read(&app.app_path().join("out/pr-31/index.html")).as_deref(),
        Some("v1")
    );
    assert!(
        !app.app_path().join(".alchemy").exists(),
        "the run's .alchemy/ is cleaned up"
    );

    // The read phase is `plan`: the state comes back byte for byte, even
    // with a change pending.
    let read_out = app.command(
        &["read"],
        &["--stage", "pr-31", "--profile", "ci"],
        &[("CONTENT", "v2")],
    );
    read_out.ok();
    assert!(
        read_out
            .stdout
            .contains("alchemy plan --stage pr-31 --profile ci"),
        "{}",
        read_out.context()
    );
    assert_eq!(
        app.snapshot("pr-31").files,
        snap.files,
        "read changed the state"
    );

    gh.pr(
        &app,
        "synchronize",
        31,
        &two,
        &profile,
        &[("CONTENT", "v2")],
    )
    .ok();
    let rec = app.record("pr-31");
    assert_eq!(
        rec.head_sha.as_ref().map(|s| s.as_str()),
        Some(two.as_str())
    );
    assert_eq!(
        read(&app.app_path().join("out/pr-31/index.html")).as_deref(),
        Some("v2")
    );
    let site: Value =
        serde_json::from_slice(&app.snapshot("pr-31").files["state/v2-app/pr-31/site.json"])
            .expect("site state");
    assert_eq!(site["props"]["content"], "v2");

    // Alchemy v2 exits 1 when a delete fails; behind a runner that swallows
    // that, only the state left behind tells.
    let before = app.snapshot("pr-31").files;
    let failed = gh.pr(
        &app,
        "closed",
        31,
        &two,
        &profile,
        &[("STICKY", "1"), ("EXIT_ZERO", "1")],
    );
    assert_eq!(failed.code, 1, "{}", failed.context());
    assert!(
        failed.stdout.contains("--yes --profile ci"),
        "{}",
        failed.context()
    );
    let snap = app.snapshot("pr-31");
    let rec = snap.record.clone().expect("record");
    assert_eq!(rec.status, RecordStatus::DestroyFailed);
    assert_eq!(rec.remaining, ["site"], "{rec:?}");
    assert!(rec.closed_at.is_none());
    assert_eq!(rec.verified, None);
    assert_eq!(
        snap.files.keys().collect::<Vec<_>>(),
        vec![
            "state/v2-app/pr-31/__stack_output__.json",
            "state/v2-app/pr-31/site.json"
        ]
    );
    assert_ne!(
        snap.files, before,
        "the secret's delete went through and is saved"
    );
    assert!(app.app_path().join("out/pr-31/index.html").exists());
    assert!(gh.comment(31).body.contains("Destroy failed"));
    assert_eq!(
        outputs(&app).get("result").map(String::as_str),
        Some("failure")
    );

    let closed = gh.pr(&app, "closed", 31, &two, &profile, &[]);
    closed.ok();
    let snap = app.snapshot("pr-31");
    assert!(snap.files.is_empty(), "{:?}", snap.files.keys());
    let rec = snap.record.expect("tombstone");
    assert_eq!(rec.status, RecordStatus::Destroyed);
    assert_eq!(rec.verified, Some(true));
    assert!(rec.closed_at.is_some());
    assert!(!app.app_path().join("out/pr-31/index.html").exists());
    let o = outputs(&app);
    assert_eq!(o.get("result").map(String::as_str), Some("success"));
    assert_eq!(o.get("verified").map(String::as_str), Some("true"));
    let body = gh.comment(31).body;
    assert!(
        body.contains("Destroyed") && !body.contains("not verified"),
        "{body}"
    );
    assert!(
        closed.stdout.contains("destroyed pr-31 (verified"),
        "{}",
        closed.context()
    );
}

/// A repository whose app moved from Alchemy v1 to v2 while a preview was
/// up: the stage's saved state is in v1's layout, and v2's destroy of a
/// stage it has no state of exits 0. That must not pass for a verified
/// destroy: the v1 files are still there, so the destroy fails and keeps them.
#[test]
fn a_v2_destroy_of_a_stage_whose_state_is_elsewhere_is_not_a_verified_destroy() {
    let mut app = App::new();
    let head = sha("moved");
    app.run(&app.event("o", "opened", 32, &head), &[], &[]).ok();
    let before = app.snapshot("pr-32").files;
    assert!(
        before.keys().any(|k| k.starts_with("e2e-app/pr-32/")),
        "{:?}",
        before.keys()
    );

    make_v2(&mut app);
    let out = app.run(&app.event("c", "closed", 32, &head), &[], &[]);
    assert_eq!(out.code, 1, "{}", out.context());
    assert!(out.stdout.contains("Alchemy v2 CLI"), "{}", out.context());
    let snap = app.snapshot("pr-32");
    assert_eq!(snap.files, before, "the v1 state is kept");
    let rec = snap.record.expect("record");
    assert_eq!(rec.status, RecordStatus::DestroyFailed);
    assert!(
        rec.remaining.iter().any(|r| r == "e2e-app/pr-32/web"),
        "{:?}",
        rec.remaining
    );
    assert!(app.app_path().join("out/pr-32/index.html").exists());
}

/// A v2 stack whose state provider is not the local one keeps nothing in
/// `.alchemy/`: the deploy says so and records it, and the destroy is
/// reported as not verified rather than as a clean one.
#[test]
fn a_v2_stack_with_its_own_state_provider_is_app_managed_and_its_destroy_unverified() {
    let gh = Actions::new();
    let app = v2_app();
    let head = sha("memory");
    let memory = [("STATE", "memory")];
    let out = gh.pr(&app, "opened", 33, &head, &[], &memory);
    out.ok();
    assert!(
        out.stdout.contains("keeps its state in its own store"),
        "{}",
        out.context()
    );
    assert!(
        out.stdout
            .contains("::notice title=alchemy-ci::stage pr-33 was deployed"),
        "{}",
        out.context()
    );
    let rec = app.record("pr-33");
    assert_eq!(rec.state, Some(StateKeeping::AppManaged));
    assert!(rec.note.is_some());
    assert!(app.snapshot("pr-33").files.is_empty());

    let out = gh.pr(&app, "closed", 33, &head, &[], &memory);
    out.ok();
    let rec = app.record("pr-33");
    assert_eq!(rec.status, RecordStatus::Destroyed);
    assert_eq!(rec.verified, Some(false));
    assert_eq!(
        outputs(&app).get("verified").map(String::as_str),
        Some("false")
    );
    assert!(gh.comment(33).body.contains("Destroyed, not verified"));
}
