//! Monorepo previews end to end: `alchemy-ci run` on the two v1 apps of
//! `examples/monorepo` (`web` reads `api`'s URL through `from-app`) with
//! the real Alchemy, the folder store and the fake GitHub: which apps a
//! pull request deploys, what a push leaves alone, a failure that stops
//! only what depends on it, the order of destroys, the one comment.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use alchemy_ci::apps::spec::AppName;
use alchemy_ci::record::{Record, RecordStatus};
use alchemy_ci::stage::Stage;
use alchemy_ci::state::dir::DirStore;
use alchemy_ci::state::{StateKey, StateStore};
use serde_json::{json, Value};

use crate::fake_github::{FakeGitHub, PullFile, PullState, TokenKind, ACTIONS_BOT};
use crate::support::{fixture, node_modules, Dir, Output};

const OWNER: &str = "Codertocat";
const REPO: &str = "Hello-World";
const TOKEN: &str = "ghs_monorepo_token";

pub const SHA1: &str = "1111111111111111111111111111111111111111";
pub const SHA2: &str = "2222222222222222222222222222222222222222";
pub const SHA3: &str = "3333333333333333333333333333333333333333";
const BASE: &str = "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";

/// `web` with a bug: a new resource that fails to create. It still
/// defines every resource kind its stage holds, so a destroy can remove
/// them (Alchemy's destroy silently skips a kind the program no longer
/// defines, which alchemy-ci would report as a destroy that left state).
const BROKEN_WEB: &str = r#"
import alchemy, { Resource } from "alchemy";
import { File } from "alchemy/fs";

export const Site = Resource(
  "example::Site",
  async function (this: any, id: string, props: { stage: string; api: string }) {
    if (this.phase === "delete") {
      return this.destroy();
    }
    return { url: `https://${props.stage}.web.example.test/`, api: props.api };
  },
);

export const Broken = Resource(
  "example::Broken",
  async function (this: any, id: string, props: {}) {
    if (this.phase === "delete") {
      return this.destroy();
    }
    throw new Error("web is broken: cannot build the site");
  },
);

const apiUrl = process.env.API_URL;
if (!apiUrl) {
  throw new Error("API_URL is not set");
}
const app = await alchemy("monorepo-web");
await File("config", {
  path: `out/${app.stage}/config.json`,
  content: JSON.stringify({ api: apiUrl }),
});
await Site("site", { stage: app.stage, api: apiUrl });
await Broken("broken", {});
await app.finalize();
"#;

/// The example monorepo in a test's folder, its apps' `node_modules`
/// linked to the pinned Alchemy, a folder store and the fake GitHub.
pub struct Mono {
    pub dir: Dir,
    pub fake: FakeGitHub,
}

impl Mono {
    pub fn new() -> Self {
        let mut dir = Dir::new();
        let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/monorepo");
        copy_tree(&example, dir.path());
        for app in ["api", "web"] {
            std::os::unix::fs::symlink(
                node_modules(),
                dir.path().join(format!("apps/{app}/node_modules")),
            )
            .expect("link node_modules");
        }
        dir.env("CI", "true").env("DO_NOT_TRACK", "1");
        let fake = FakeGitHub::start();
        fake.add_token(TOKEN, ACTIONS_BOT, TokenKind::Installation);
        fake.add_repo(OWNER, REPO);
        Self { dir, fake }
    }

    pub fn store(&self) -> DirStore {
        DirStore::new(self.dir.path().join("store"))
    }

    pub fn record(&self, stage: &str, app: &str) -> Option<Record> {
        let key = StateKey::app(
            Stage::parse_stored(stage).expect("stage"),
            AppName::parse(app).expect("app"),
        );
        self.store().load(&key).expect("load").snapshot.record
    }

    /// A pull request event for PR `n` at `head`, `before` the head before
    /// a push.
    pub fn event(&self, action: &str, n: u64, head: &str, before: Option<&str>) -> PathBuf {
        let mut v = fixture(if action == "closed" {
            "pull_request.closed.json"
        } else {
            "pull_request.synchronize.json"
        });
        v["action"] = json!(action);
        v["number"] = json!(n);
        v["pull_request"]["number"] = json!(n);
        v["pull_request"]["head"]["sha"] = json!(head);
        v["pull_request"]["base"]["sha"] = json!(BASE);
        match before {
            Some(b) => v["before"] = json!(b),
            None => {
                if let Some(o) = v.as_object_mut() {
                    o.remove("before");
                    o.remove("after");
                }
            }
        }
        self.dir
            .write_json(&format!("events/{action}-{head}.json"), &v)
    }

    /// The pull request as GitHub will report it, with its files.
    pub fn pull(&self, n: u64, head: &str, files: &[&str]) {
        self.fake.set_pull(OWNER, REPO, n, PullState::Open, head);
        self.fake.set_pull_files(
            OWNER,
            REPO,
            n,
            files.iter().map(|f| PullFile::modified(f)).collect(),
        );
    }

    /// What changed from `before` to `after`, as GitHub compares them.
    pub fn push(&self, before: &str, after: &str, files: &[&str]) {
        self.fake.set_compare(
            OWNER,
            REPO,
            before,
            after,
            "ahead",
            files.iter().map(|f| PullFile::modified(f)).collect(),
        );
    }

    pub fn env(&self) -> Vec<(String, String)> {
        vec![
            ("GITHUB_ACTIONS".into(), "true".into()),
            ("GITHUB_API_URL".into(), self.fake.url().to_owned()),
            ("GITHUB_SERVER_URL".into(), "https://github.com".into()),
            ("GITHUB_REPOSITORY".into(), format!("{OWNER}/{REPO}")),
            ("GITHUB_RUN_ID".into(), "4242".into()),
            (
                "GITHUB_OUTPUT".into(),
                self.dir.path().join("github_output").display().to_string(),
            ),
            (
                "GITHUB_STEP_SUMMARY".into(),
                self.dir.path().join("step_summary").display().to_string(),
            ),
            ("INPUT_GITHUB-TOKEN".into(), TOKEN.into()),
        ]
    }

    /// `alchemy-ci run` for `event`, as one step of an Actions job.
    pub fn run(&self, event: &Path, flags: &[&str]) -> Output {
        let _ = std::fs::remove_file(self.dir.path().join("github_output"));
        let _ = std::fs::remove_file(self.dir.path().join("step_summary"));
        let env = self.env();
        let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        let ev = event.display().to_string();
        let store = format!("dir:{}", self.dir.path().join("store").display());
        let mut args = vec![
            "run",
            "--event",
            ev.as_str(),
            "--state-store",
            store.as_str(),
        ];
        args.extend_from_slice(flags);
        self.dir.run_env(&args, &env)
    }

    /// The one comment of PR `n` that lists the apps.
    pub fn comment(&self, n: u64) -> String {
        let marker = format!("<!-- alchemy-ci:pr={n} -->");
        let ours: Vec<String> = self
            .fake
            .comments(OWNER, REPO, n)
            .into_iter()
            .filter(|c| c.body.contains(&marker))
            .map(|c| c.body)
            .collect();
        assert_eq!(ours.len(), 1, "one apps comment on #{n}: {ours:#?}");
        ours.into_iter().next().unwrap_or_default()
    }

    pub fn outputs(&self) -> BTreeMap<String, String> {
        let text =
            std::fs::read_to_string(self.dir.path().join("github_output")).unwrap_or_default();
        let mut out = BTreeMap::new();
        let mut lines = text.lines();
        while let Some(line) = lines.next() {
            let Some((name, delim)) = line.split_once("<<") else {
                continue;
            };
            let value: Vec<&str> = lines.by_ref().take_while(|l| *l != delim).collect();
            out.insert(name.to_owned(), value.join("\n"));
        }
        out
    }
}

fn copy_tree(from: &Path, to: &Path) {
    for entry in std::fs::read_dir(from).expect("read example") {
        let entry = entry.expect("entry");
        let name = entry.file_name();
        if name == "node_modules" || name == ".alchemy" || name == "out" {
            continue;
        }
        let target = to.join(&name);
        if entry.path().is_dir() {
            std::fs::create_dir_all(&target).expect("mkdir");
            copy_tree(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).expect("copy");
        }
    }
}

/// The row of `app` in a comment's table.
fn row<'a>(comment: &'a str, app: &str) -> &'a str {
    comment
        .lines()
        .find(|l| l.starts_with(&format!("| `{app}` |")))
        .unwrap_or_else(|| panic!("no row for {app} in:\n{comment}"))
}

fn urls(out: &BTreeMap<String, String>) -> Value {
    serde_json::from_str(out.get("urls").map_or("null", String::as_str)).expect("urls is JSON")
}

/// The whole life of a pull request in a monorepo:
/// 1. it touches only `api`: `api` deploys, `web` is listed as not
///    affected;
/// 2. a push touches only `web`: `web` deploys with `api`'s URL, and
///    `api`, none of whose files changed since its preview was made, is
///    left exactly as it was;
/// 3. a push breaks `web`: `web` fails, `api` stays deployed, and the
///    comment, the outputs and the exit code say so;
/// 4. the close destroys `web`, then `api` (it depends on nothing that is
///    left), each verified.
#[test]
fn a_monorepo_pull_request_from_first_push_to_close() {
    let m = Mono::new();
    let api_file = "apps/api/alchemy.run.ts";
    let web_file = "apps/web/alchemy.run.ts";

    m.pull(7, SHA1, &[api_file]);
    let out = m.run(&m.event("opened", 7, SHA1, None), &[]);
    out.ok();
    let api = m.record("pr-7", "api").expect("api deployed");
    assert_eq!(api.status, RecordStatus::Deployed);
    assert_eq!(api.head_sha.as_ref().map(|s| s.as_str()), Some(SHA1));
    assert!(m.record("pr-7", "web").is_none(), "web is not affected");
    let c = m.comment(7);
    assert!(c.contains("1 deployed, 1 not affected"), "{c}");
    assert!(row(&c, "api").contains("✅ Deployed"), "{c}");
    assert!(row(&c, "api").contains("pr-7.api.example.test"), "{c}");
    assert!(row(&c, "web").contains("➖ Not affected"), "{c}");
    assert_eq!(
        urls(&m.outputs()),
        json!({"api": ["https://pr-7.api.example.test/"], "web": []})
    );
    // The checks branch protection can require: each app's and all of
    // them together; an app the change does not touch needs no preview.
    let statuses: BTreeMap<String, (String, String)> = m
        .fake
        .commit_statuses(OWNER, REPO, SHA1)
        .into_iter()
        .map(|s| (s.context, (s.state, s.description.unwrap_or_default())))
        .collect();
    assert_eq!(
        statuses["alchemy-ci/preview/api"].0, "success",
        "{statuses:?}"
    );
    assert_eq!(
        statuses["alchemy-ci/preview/web"],
        ("success".into(), "No preview needed: not affected".into())
    );
    assert_eq!(statuses["alchemy-ci/preview"].0, "success", "{statuses:?}");

    // 2. A push that touches web only.
    m.pull(7, SHA2, &[api_file, web_file]);
    m.push(SHA1, SHA2, &[web_file]);
    m.run(&m.event("synchronize", 7, SHA2, Some(SHA1)), &[])
        .ok();
    assert_eq!(m.record("pr-7", "api"), Some(api.clone()), "api untouched");
    let web = m.record("pr-7", "web").expect("web deployed");
    assert_eq!(web.status, RecordStatus::Deployed);
    let config = std::fs::read_to_string(m.dir.path().join("apps/web/out/pr-7/config.json"))
        .expect("web built its config");
    assert_eq!(
        serde_json::from_str::<Value>(&config).expect("json"),
        json!({"api": "https://pr-7.api.example.test/"})
    );
    let c = m.comment(7);
    assert!(c.contains("2 deployed"), "{c}");
    assert!(row(&c, "api").contains("unchanged"), "{c}");
    assert!(
        row(&c, "api").contains("untouched since its preview was deployed from 1111111"),
        "{c}"
    );
    assert!(row(&c, "web").contains("+2 ~0 -0 (changed)"), "{c}");
    assert!(row(&c, "web").contains("✅ Deployed"), "{c}");
    let out = m.outputs();
    assert_eq!(
        urls(&out),
        json!({
            "api": ["https://pr-7.api.example.test/"],
            "web": ["https://pr-7.web.example.test/"],
        })
    );

    // 3. A push that breaks web.
    m.dir.write(web_file, BROKEN_WEB);
    m.pull(7, SHA3, &[api_file, web_file]);
    m.push(SHA1, SHA3, &[web_file]);
    m.push(SHA2, SHA3, &[web_file]);
    let out = m.run(&m.event("synchronize", 7, SHA3, Some(SHA2)), &[]);
    assert_eq!(out.code, 1, "{}", out.context());
    assert_eq!(m.record("pr-7", "api"), Some(api), "api stays as it was");
    assert_eq!(
        m.record("pr-7", "web").map(|r| r.status),
        Some(RecordStatus::Failed)
    );
    let c = m.comment(7);
    assert!(c.contains("1 deployed, 1 failed"), "{c}");
    assert!(row(&c, "api").contains("✅ Deployed"), "{c}");
    assert!(row(&c, "web").contains("❌ Deploy failed"), "{c}");
    assert!(c.contains("web is broken: cannot build the site"), "{c}");
    assert_eq!(
        m.outputs().get("result").map(String::as_str),
        Some("failure")
    );

    // 4. The close.
    m.fake.set_pull(OWNER, REPO, 7, PullState::Closed, SHA3);
    let out = m.run(&m.event("closed", 7, SHA3, None), &[]);
    out.ok();
    let at = |needle: &str| {
        out.stdout
            .find(needle)
            .unwrap_or_else(|| panic!("{needle:?} not in the output\n{}", out.context()))
    };
    assert!(
        at("✔ destroyed pr-7@web") < at("✔ destroyed pr-7@api"),
        "web goes before the api it reads\n{}",
        out.context()
    );
    for app in ["api", "web"] {
        let r = m.record("pr-7", app).expect("a tombstone");
        assert_eq!(r.status, RecordStatus::Destroyed, "{app}");
        assert_eq!(r.verified, Some(true), "{app}");
        assert!(r.closed_at.is_some() && r.files.is_empty(), "{app}");
    }
    let c = m.comment(7);
    assert!(c.contains("2 destroyed"), "{c}");
    assert_eq!(
        m.outputs().get("verified").map(String::as_str),
        Some("true")
    );
    // Each app's deployments are its own in the shared environment, and
    // all of them are inactive once the stage is gone.
    let deployments = m.fake.deployments(OWNER, REPO);
    for app in ["api", "web"] {
        let own: Vec<_> = deployments
            .iter()
            .filter(|d| d.task == format!("deploy:pr-7@{app}"))
            .collect();
        assert!(!own.is_empty(), "{app}: {deployments:#?}");
        for d in own {
            assert_eq!(d.environment, "preview");
            assert_eq!(d.payload["alchemy-ci"]["app"], app);
            assert_eq!(d.latest_state(), Some("inactive"), "{app}: {d:#?}");
        }
    }
}

/// `api` with a bug: its worker fails to deploy.
const BROKEN_API: &str = r#"
import alchemy, { Resource } from "alchemy";
import { File } from "alchemy/fs";

export const Worker = Resource(
  "example::Worker",
  async function (this: any, id: string, props: { stage: string }) {
    if (this.phase === "delete") {
      return this.destroy();
    }
    throw new Error("api is broken: the worker does not start");
  },
);

const app = await alchemy("monorepo-api");
await Worker("worker", { stage: app.stage });
await app.finalize();
"#;

/// A third app, `docs`, that depends on nothing.
fn add_docs(m: &Mono) {
    let api =
        std::fs::read_to_string(m.dir.path().join("apps/api/alchemy.run.ts")).expect("api script");
    m.dir.write(
        "apps/docs/alchemy.run.ts",
        api.replace("monorepo-api", "monorepo-docs")
            .replace(".api.example.test", ".docs.example.test"),
    );
    m.dir.write("apps/docs/package.json", r#"{"name":"monorepo-docs","private":true,"type":"module","dependencies":{"alchemy":"0.94.0"}}"#);
    std::os::unix::fs::symlink(node_modules(), m.dir.path().join("apps/docs/node_modules"))
        .expect("link node_modules");
    let config = std::fs::read_to_string(m.dir.path().join("alchemy-ci.yml")).expect("config");
    m.dir.write(
        "alchemy-ci.yml",
        format!("{config}  - name: docs\n    working-directory: apps/docs\n"),
    );
}

/// Scenario: `api` fails. `web`, which reads its URL, is not started and
/// says which app failed; `docs`, which depends on nothing, deploys. The
/// run fails, and the comment lists all three.
#[test]
fn a_failing_app_stops_only_the_apps_that_wait_on_it() {
    let m = Mono::new();
    add_docs(&m);
    m.dir.write("apps/api/alchemy.run.ts", BROKEN_API);
    let files = [
        "apps/api/alchemy.run.ts",
        "apps/web/alchemy.run.ts",
        "apps/docs/alchemy.run.ts",
    ];
    m.pull(11, SHA1, &files);
    let out = m.run(&m.event("opened", 11, SHA1, None), &[]);
    assert_eq!(out.code, 1, "{}", out.context());
    assert_eq!(
        m.record("pr-11", "api").map(|r| r.status),
        Some(RecordStatus::Failed)
    );
    assert!(m.record("pr-11", "web").is_none(), "web never started");
    assert_eq!(
        m.record("pr-11", "docs").map(|r| r.status),
        Some(RecordStatus::Deployed)
    );
    let c = m.comment(11);
    assert!(c.contains("1 deployed, 1 failed, 1 skipped"), "{c}");
    assert!(row(&c, "web").contains("⏭️ Skipped: `api` failed"), "{c}");
    assert!(row(&c, "docs").contains("✅ Deployed"), "{c}");
    assert!(
        c.contains("api is broken: the worker does not start"),
        "{c}"
    );
    let out = m.outputs();
    assert_eq!(out.get("result").map(String::as_str), Some("failure"));
    assert_eq!(
        urls(&out),
        json!({"api": [], "web": [], "docs": ["https://pr-11.docs.example.test/"]})
    );
}

fn dispatch(m: &Mono, inputs: Value) -> PathBuf {
    let mut v = fixture("workflow_dispatch.json");
    v["inputs"] = inputs;
    let name = format!("events/dispatch-{}.json", fastrand::u32(..));
    m.dir.write_json(&name, &v)
}

/// A `workflow_dispatch` asking for one app deploys it and the apps it
/// needs that are not deployed (`api`, whose URL `web` reads); asking to
/// destroy one app destroys that one only.
#[test]
fn a_dispatch_acts_on_one_app_and_what_it_needs() {
    let m = Mono::new();
    let ev = dispatch(
        &m,
        json!({"command": "deploy", "stage": "pr-9", "app": "web"}),
    );
    let out = m.run(&ev, &["--event-name", "workflow_dispatch"]);
    out.ok();
    assert!(out.stdout.contains("needed by web"), "{}", out.context());
    for app in ["api", "web"] {
        assert_eq!(
            m.record("pr-9", app).map(|r| r.status),
            Some(RecordStatus::Deployed),
            "{app}"
        );
    }
    let ev = dispatch(
        &m,
        json!({"command": "destroy", "stage": "pr-9", "app": "web"}),
    );
    m.run(&ev, &["--event-name", "workflow_dispatch"]).ok();
    assert_eq!(
        m.record("pr-9", "web").map(|r| r.status),
        Some(RecordStatus::Destroyed)
    );
    assert_eq!(
        m.record("pr-9", "api").map(|r| r.status),
        Some(RecordStatus::Deployed),
        "api was not asked for"
    );
    // An app that is not in apps: is bad input (under Actions the token's
    // mask is printed first, as for any run).
    let ev = dispatch(
        &m,
        json!({"command": "deploy", "stage": "pr-9", "app": "nope"}),
    );
    let out = m.run(&ev, &["--event-name", "workflow_dispatch"]);
    assert_eq!(out.code, 2, "{}", out.context());
    assert_eq!(out.stderr.lines().count(), 1, "{}", out.context());
    assert!(
        out.stderr
            .contains("`app`: there is no app named nope (apps: api, web)"),
        "{}",
        out.context()
    );
}

/// Without a token, the changed files come from the checkout's history:
/// a pull request that touches `web` only deploys `web`, and `api`, which
/// it needs and which has no stage yet, with it.
#[test]
fn without_a_token_the_history_of_the_checkout_decides() {
    let m = Mono::new();
    let git = |args: &[&str]| {
        crate::git_server::git(
            m.dir.path(),
            &[
                &["-c", "user.name=t", "-c", "user.email=t@t.invalid"][..],
                args,
            ]
            .concat(),
        )
    };
    m.dir.write(
        ".gitignore",
        "node_modules\nstore/\nevents/\n.alchemy\nout/\n.bun/\n",
    );
    git(&["init", "-q", "-b", "main"]);
    git(&["add", "-A"]);
    git(&["commit", "-q", "-m", "base"]);
    let base = git(&["rev-parse", "HEAD"]).trim().to_owned();
    m.dir
        .write("apps/web/README.md", "docs only: negated in web's paths\n");
    m.dir.write("apps/web/extra.ts", "export {};\n");
    git(&["add", "-A"]);
    git(&["commit", "-q", "-m", "web"]);
    let head = git(&["rev-parse", "HEAD"]).trim().to_owned();
    let mut v: Value =
        serde_json::from_slice(&std::fs::read(m.event("opened", 12, &head, None)).expect("event"))
            .expect("json");
    v["pull_request"]["base"]["sha"] = json!(base);
    let ev = m.dir.write_json("events/no-token.json", &v);
    let store = format!("dir:{}", m.dir.path().join("store").display());
    let out = m.dir.run(&[
        "run",
        "--event",
        &ev.display().to_string(),
        "--state-store",
        &store,
    ]);
    out.ok();
    assert!(
        out.stdout.contains("apps/web/extra.ts matched apps/web/**"),
        "{}",
        out.context()
    );
    assert!(out.stdout.contains("needed by web"), "{}", out.context());
    assert_eq!(
        m.record("pr-12", "web").map(|r| r.status),
        Some(RecordStatus::Deployed)
    );
    assert_eq!(
        m.record("pr-12", "api").map(|r| r.status),
        Some(RecordStatus::Deployed)
    );
}

impl Mono {
    /// `alchemy-ci cleanup` with the fake GitHub.
    pub fn cleanup(&self, flags: &[&str]) -> Output {
        let env = self.env();
        let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        let store = format!("dir:{}", self.dir.path().join("store").display());
        let mut args = vec!["cleanup", "--state-store", store.as_str()];
        args.extend_from_slice(flags);
        self.dir.run_env(&args, &env)
    }
}

/// The sweep finds the apps' stages of a pull request that closed
/// without its close run: `--matrix` lists them as `{app, stage}`, and
/// the sweep destroys `web` before the `api` it reads, each verified. A
/// stage of an app that left `apps:` is kept, and the listing says why.
#[test]
fn the_sweep_destroys_apps_stages_in_order() {
    let m = Mono::new();
    m.pull(
        8,
        SHA1,
        &["apps/api/alchemy.run.ts", "apps/web/alchemy.run.ts"],
    );
    m.run(&m.event("opened", 8, SHA1, None), &[]).ok();
    // An app's stage whose app is gone from the configuration.
    let gone = StateKey::app(
        Stage::parse_stored("pr-8").expect("stage"),
        AppName::parse("old").expect("app"),
    );
    let mut rec = m.record("pr-8", "api").expect("api");
    rec.app = Some(AppName::parse("old").expect("app"));
    let snap = alchemy_ci::state::Snapshot {
        record: Some(rec),
        files: [("monorepo-old/pr-8/x.json".to_owned(), b"{}".to_vec())].into(),
    };
    m.store()
        .put(&gone, &snap, &alchemy_ci::state::Version::ABSENT, "old app")
        .expect("put");
    m.fake.set_pull(OWNER, REPO, 8, PullState::Closed, SHA1);

    let out = m.cleanup(&["--matrix"]);
    out.ok();
    let matrix: Value = serde_json::from_str(out.stdout.trim()).expect("matrix");
    assert_eq!(
        matrix,
        json!({"include": [
            {"app": "api", "stage": "pr-8"},
            {"app": "web", "stage": "pr-8"},
        ]})
    );

    let out = m.cleanup(&[]);
    out.ok();
    let at = |needle: &str| {
        out.stdout
            .find(needle)
            .unwrap_or_else(|| panic!("{needle:?} not in the output\n{}", out.context()))
    };
    assert!(
        at("✔ destroyed pr-8@web") < at("✔ destroyed pr-8@api"),
        "{}",
        out.context()
    );
    assert!(
        out.stdout.contains("app old is not in apps:"),
        "{}",
        out.context()
    );
    for app in ["api", "web"] {
        let r = m.record("pr-8", app).expect("tombstone");
        assert_eq!(r.status, RecordStatus::Destroyed, "{app}");
        assert_eq!(r.verified, Some(true), "{app}");
    }
    assert!(!m
        .store()
        .load(&gone)
        .expect("load")
        .snapshot
        .files
        .is_empty());

    let store = format!("dir:{}", m.dir.path().join("store").display());
    let status = m.dir.run(&["status", "--state-store", &store]);
    status.ok();
    for key in ["pr-8@api", "pr-8@old", "pr-8@web"] {
        assert!(status.stdout.contains(key), "{}", status.context());
    }
}

/// Scenario: an app's destroy started on its own (a matrix job per app,
/// or by hand) while an app that reads its URL still has a stage: it is
/// kept, and says to destroy that app first; afterwards it goes.
#[test]
fn an_app_is_not_destroyed_before_the_apps_that_read_it() {
    let m = Mono::new();
    let deploy = dispatch(&m, json!({"command": "deploy", "stage": "pr-10"}));
    m.run(&deploy, &["--event-name", "workflow_dispatch"]).ok();
    let api_first = dispatch(
        &m,
        json!({"command": "destroy", "stage": "pr-10", "app": "api"}),
    );
    let out = m.run(&api_first, &["--event-name", "workflow_dispatch"]);
    out.ok();
    assert!(
        out.stdout
            .contains("kept: web, which depends on it, still has a stage"),
        "{}",
        out.context()
    );
    assert_eq!(
        m.record("pr-10", "api").map(|r| r.status),
        Some(RecordStatus::Deployed)
    );
    let web = dispatch(
        &m,
        json!({"command": "destroy", "stage": "pr-10", "app": "web"}),
    );
    m.run(&web, &["--event-name", "workflow_dispatch"]).ok();
    m.run(&api_first, &["--event-name", "workflow_dispatch"])
        .ok();
    for app in ["api", "web"] {
        assert_eq!(
            m.record("pr-10", app).map(|r| r.status),
            Some(RecordStatus::Destroyed),
            "{app}"
        );
    }
}

/// Scenario: an app on Alchemy v2, which prints what it will change before
/// it acts. Its row in the comment says `+2 ~0 -0 (will change)` on the
/// first deploy and lists the resources; a redeploy with new content
/// says which one it updates.
#[test]
fn a_v2_apps_row_says_what_will_change() {
    let gh = crate::alchemy_v2::Actions::new();
    let app = crate::alchemy_v2::v2_app();
    app.dir.write(
        "alchemy-ci.yml",
        "apps:\n  - name: site\n    working-directory: app\n    alchemy-command: v2\n",
    );
    let n = 41;
    let (one, two) = (
        FakeGitHub::sha("apps-v2-one"),
        FakeGitHub::sha("apps-v2-two"),
    );
    gh.fake.set_pull_files(
        OWNER,
        REPO,
        n,
        vec![PullFile::modified("app/alchemy.run.ts")],
    );
    gh.pr(&app, "opened", n, &one, &[], &[]).ok();
    let body = gh.comment(n).body;
    assert!(
        row(&body, "site").contains("+2 ~0 -0 (will change)"),
        "{body}"
    );
    assert!(body.contains("`+` site (created)"), "{body}");
    let out = gh.pr(&app, "synchronize", n, &two, &[], &[("CONTENT", "v2")]);
    out.ok();
    let body = gh.comment(n).body;
    assert!(
        row(&body, "site").contains("~1"),
        "{body}\n{}",
        out.context()
    );
    assert!(body.contains("`~` site (updated)"), "{body}");
}

/// A folder that holds `examples/app` in `app/` and, in `store/`, the
/// stage the version before apps wrote for PR 5 (tests/fixtures/upgrade).
fn upgraded() -> Dir {
    let mut dir = Dir::new();
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    std::fs::create_dir_all(dir.path().join("app")).expect("mkdir");
    copy_tree(&root.join("examples/app"), &dir.path().join("app"));
    std::os::unix::fs::symlink(node_modules(), dir.path().join("app/node_modules"))
        .expect("link node_modules");
    std::fs::create_dir_all(dir.path().join("store")).expect("mkdir");
    copy_tree(
        &root.join("tests/fixtures/upgrade/single-app-store"),
        &dir.path().join("store"),
    );
    dir.env("CI", "true").env("DO_NOT_TRACK", "1");
    dir
}

fn close_pr_5(dir: &Dir) -> Output {
    let mut v = fixture("pull_request.closed.json");
    v["number"] = json!(5);
    v["pull_request"]["number"] = json!(5);
    v["pull_request"]["head"]["sha"] = json!("5555555555555555555555555555555555555555");
    let ev = dir.write_json("events/closed.json", &v);
    let store = format!("dir:{}", dir.path().join("store").display());
    dir.run(&[
        "run",
        "--event",
        &ev.display().to_string(),
        "--state-store",
        &store,
        "--working-directory",
        "app",
    ])
}

fn stage_5(dir: &Dir) -> Record {
    DirStore::new(dir.path().join("store"))
        .load(&Stage::parse_stored("pr-5").expect("stage"))
        .expect("load")
        .snapshot
        .record
        .expect("a record")
}

/// Upgrade: the stage the version before apps wrote is found under its
/// old key and destroyed by the close of its pull request, verified.
#[test]
fn a_stage_from_before_apps_is_destroyed_by_its_close() {
    let dir = upgraded();
    assert_eq!(stage_5(&dir).status, RecordStatus::Deployed);
    close_pr_5(&dir).ok();
    let r = stage_5(&dir);
    assert_eq!(r.status, RecordStatus::Destroyed);
    assert_eq!(r.verified, Some(true));
    assert!(r.closed_at.is_some() && r.files.is_empty());
    assert!(r.app.is_none());
}

/// Upgrade to apps: a stage deployed before `apps:` was set keeps its key
/// (`pr-5`) and goes with the close of its pull request, run in the
/// top-level `working-directory` as before; the apps, which have no stage
/// of PR 5, are left alone.
#[test]
fn a_stage_from_before_apps_goes_with_the_close_once_apps_are_set() {
    let dir = upgraded();
    dir.write(
        "alchemy-ci.yml",
        "apps:\n  - {name: api, working-directory: app}\n  - {name: web, working-directory: app}\n",
    );
    let out = close_pr_5(&dir);
    out.ok();
    assert!(
        out.stdout.contains("deployed before apps were configured"),
        "{}",
        out.context()
    );
    let r = stage_5(&dir);
    assert_eq!(r.status, RecordStatus::Destroyed);
    assert_eq!(r.verified, Some(true));
    let keys = DirStore::new(dir.path().join("store"))
        .keys()
        .expect("keys");
    assert_eq!(keys.len(), 1, "no app stage was made: {keys:?}");
}

/// The comment's size: 50 apps, each with 20 long URLs and a failure whose
/// log is far longer than a comment, through a real run (each app a small
/// program of its own, run as a custom command) and the fake GitHub,
/// which refuses a body over 65,536 characters as GitHub does. The
/// comment fits, lists every app, and the job summary says the same.
#[test]
fn fifty_apps_with_long_urls_and_logs_fit_in_one_comment() {
    let dir = Dir::new();
    let mut config = String::from(
        // Deployments and statuses off: this is about the comment (each
        // is a request per app to the fake, 100 of them for statuses).
        "alchemy-command: [sh, run.sh, \"{phase}\"]\noutputs-file: urls.json\nmax-parallel: 2\ndeployments: false\nstatus-check: false\napps:\n",
    );
    let script = r#"
long=$(printf 'x%.0s' $(seq 1 900))
{
  printf '{'
  for i in $(seq 1 20); do
    [ "$i" -gt 1 ] && printf ','
    printf '"u%s": "https://%s.example.test/%s?%s"' "$i" "$i" "$APP" "$long"
  done
  printf '}'
} > urls.json
for i in $(seq 1 100); do echo "$APP: step $i of the build went wrong <b>|</b> $long"; done
exit 1
"#;
    for i in 0..50 {
        let app = format!("a{i:02}");
        dir.write(
            &format!("apps/{app}/run.sh"),
            format!("APP={app}\n{script}"),
        );
        config.push_str(&format!(
            "  - {{name: {app}, working-directory: apps/{app}}}\n"
        ));
    }
    dir.write("alchemy-ci.yml", &config);
    let m = Mono {
        dir,
        fake: {
            let fake = FakeGitHub::start();
            fake.add_token(TOKEN, ACTIONS_BOT, TokenKind::Installation);
            fake.add_repo(OWNER, REPO);
            fake
        },
    };
    let touched: Vec<String> = (0..50).map(|i| format!("apps/a{i:02}/run.sh")).collect();
    let touched: Vec<&str> = touched.iter().map(String::as_str).collect();
    m.pull(50, SHA1, &touched);
    let out = m.run(&m.event("opened", 50, SHA1, None), &[]);
    assert_eq!(out.code, 1, "{}", out.context());
    let c = m.comment(50);
    assert!(
        c.chars().count() <= crate::fake_github::MAX_COMMENT_CHARS,
        "{}",
        c.len()
    );
    for i in 0..50 {
        row(&c, &format!("a{i:02}"));
    }
    assert!(c.contains("50 failed"), "{c}");
    let summary = std::fs::read_to_string(m.dir.path().join("step_summary")).expect("summary");
    for i in 0..50 {
        row(&summary, &format!("a{i:02}"));
    }
}

/// Mistakes in `apps:` and around it are bad input: one line naming the
/// problem, exit 2, nothing written, before any app runs.
#[test]
fn mistakes_about_apps_are_bad_input() {
    let m = Mono::new();
    let ev = m.event("opened", 3, SHA1, None);
    let ev = ev.display().to_string();
    let store = format!("dir:{}", m.dir.path().join("store").display());
    let run = |flags: &[&str]| {
        let mut args = vec![
            "run",
            "--event",
            ev.as_str(),
            "--state-store",
            store.as_str(),
        ];
        args.extend_from_slice(flags);
        m.dir.run(&args)
    };
    let config = std::fs::read_to_string(m.dir.path().join("alchemy-ci.yml")).expect("config");

    m.dir
        .write("alchemy-ci.yml", config.replace("name: web", "name: Web"));
    run(&[]).bad_input(&["alchemy-ci.yml", "app #2", "\"Web\" is not an app name"]);
    m.dir.write(
        "alchemy-ci.yml",
        config.replace("API_URL: { from-app: api", "API_URL: { from-app: apii"),
    );
    run(&[]).bad_input(&["app web", "unknown app \"apii\""]);
    m.dir.write("alchemy-ci.yml", &config);
    run(&["--app", "nope"]).bad_input(&["app", "there is no app named nope (apps: api, web)"]);
    std::fs::rename(
        m.dir.path().join("apps/web"),
        m.dir.path().join("apps/web-moved"),
    )
    .expect("move web");
    run(&[]).bad_input(&["app web: working-directory apps/web is not a folder"]);
    assert!(!m.dir.path().join("store").exists(), "nothing written");

    let single = Dir::new();
    single
        .run(&["simulate", "--event", &ev, "--app", "api"])
        .bad_input(&["app api: no apps are configured"]);
}

/// By hand: `alchemy-ci deploy --json` deploys every app of the stage (in
/// order) and prints one JSON document; `destroy --app web` destroys that
/// app only.
#[test]
fn hand_runs_act_on_every_app_or_the_one_named() {
    let m = Mono::new();
    let store = format!("dir:{}", m.dir.path().join("store").display());
    let out = m.dir.run(&[
        "deploy",
        "--stage",
        "dev",
        "--json",
        "--state-store",
        &store,
    ]);
    out.ok();
    let report: Value = serde_json::from_str(&out.stdout)
        .unwrap_or_else(|e| panic!("stdout is one JSON document ({e})\n{}", out.context()));
    assert_eq!(report["result"], "success", "{report:#}");
    let apps: Vec<&str> = report["apps"]
        .as_array()
        .expect("apps")
        .iter()
        .filter_map(|r| r["app"].as_str())
        .collect();
    assert_eq!(apps, ["api", "web"], "api first: web reads its URL");
    m.dir
        .run(&[
            "destroy",
            "--stage",
            "dev",
            "--app",
            "web",
            "--state-store",
            &store,
        ])
        .ok();
    assert_eq!(
        m.record("dev", "web").map(|r| r.status),
        Some(RecordStatus::Destroyed)
    );
    assert_eq!(
        m.record("dev", "api").map(|r| r.status),
        Some(RecordStatus::Deployed)
    );
}
