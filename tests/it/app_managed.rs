//! Apps that keep their Alchemy state in their own store, with the real
//! Alchemy v1: a destroy alchemy-ci cannot watch is never called verified,
//! unless the user's verify-command says so; a local store in a layout
//! alchemy-ci does not know is a loud warning.

use alchemy_ci::record::{RecordStatus, StateKeeping};

use crate::alchemy_e2e::App;
use crate::alchemy_v2::{outputs, summary, Actions};
use crate::fake_github::FakeGitHub;
use crate::support::{fixture, Dir};

/// A v1 app whose `alchemy()` call passes its own state store: a small
/// StateStore class that keeps every stage's state under `$APP_STATE_DIR`,
/// standing in for Cloudflare's or S3's. `STICKY=1` makes the site's
/// delete fail (v1 still exits 0); `THROW=1` breaks the program before it
/// makes anything.
const APP: &str = r#"
import alchemy, { Resource } from "alchemy";
import type { Scope } from "alchemy";
import { File } from "alchemy/fs";
import { FileSystemStateStore } from "alchemy/state";

class FolderStateStore extends FileSystemStateStore {
  constructor(scope: Scope) {
    super(scope, { rootDir: process.env.APP_STATE_DIR! });
  }
}

export const Site = Resource("test::Site", async function (this: any, id: string, props: { stage: string }) {
  if (this.phase === "delete") {
    if (process.env.STICKY === "1") {
      throw new Error(`cannot delete ${id}`);
    }
    return this.destroy();
  }
  return { url: `https://${props.stage}.${id}.kept.example.test/` };
});

if (process.env.THROW === "1") {
  throw new Error("broken before anything was made");
}

const app = await alchemy("kept-app", { stateStore: (scope) => new FolderStateStore(scope) });
await File("page", { path: `out/${app.stage}/index.html`, content: process.env.CONTENT ?? "v1" });
await Site("web", { stage: app.stage });
await app.finalize();
"#;

/// The user's check: exits 0 when the app's own store holds nothing of the
/// stage.
const CHECK: &str = r#"
import fs from "node:fs";
const stage = process.argv[2];
const dir = `${process.env.APP_STATE_DIR}/kept-app/${stage}`;
const left = fs.existsSync(dir) ? fs.readdirSync(dir).filter((f) => f.endsWith(".json")) : [];
if (left.length > 0) {
  console.log(`still in ${stage}'s state: ${left.join(", ")}`);
  process.exit(1);
}
console.log(`nothing of ${stage} is left`);
"#;

const VERIFY: &str = r#"["bun", "nothing-left.ts", "{stage}"]"#;

/// The app, its state kept at `state_dir` (relative to the app, or absolute).
fn kept_app(state_dir: Option<&str>) -> App {
    let mut app = App::new();
    app.dir.write("app/alchemy.run.ts", APP);
    app.dir.write("app/nothing-left.ts", CHECK);
    let own = app.dir.path().join("app-state").display().to_string();
    let dir = state_dir.map_or(own, str::to_owned);
    app.dir.env("APP_STATE_DIR", &dir);
    app
}

fn sha(seed: &str) -> String {
    FakeGitHub::sha(seed)
}

/// An app with its own state store: its deploy is recorded as app-managed
/// with a notice, and its destroy is reported as not verified in the log,
/// the record, the comment, the summary and the step outputs.
#[test]
fn an_app_with_its_own_state_store_is_recorded_so_and_its_destroy_is_not_called_verified() {
    let gh = Actions::new();
    let app = kept_app(None);
    let head = sha("kept-41");
    let out = gh.pr(&app, "opened", 41, &head, &[], &[]);
    out.ok();
    assert!(
        out.stdout.contains("note: stage pr-41 was deployed")
            && out
                .stdout
                .contains("this app keeps its state in its own store"),
        "{}",
        out.context()
    );
    assert!(
        out.stdout.contains("::notice title=alchemy-ci::"),
        "{}",
        out.context()
    );
    assert!(app
        .dir
        .path()
        .join("app-state/kept-app/pr-41/web.json")
        .exists());
    let snap = app.snapshot("pr-41");
    assert!(snap.files.is_empty(), "{:?}", snap.files.keys());
    let rec = snap.record.expect("record");
    assert_eq!(rec.status, RecordStatus::Deployed);
    assert_eq!(rec.state, Some(StateKeeping::AppManaged));
    assert!(rec.note.is_some_and(|n| n.contains("own store")));

    let out = gh.pr(&app, "closed", 41, &head, &[], &[]);
    out.ok();
    let said = "destroyed pr-41 (Alchemy reported success; this app keeps its state in its own store, so alchemy-ci could not verify it)";
    assert!(out.stdout.contains(said), "{}", out.context());
    assert!(
        out.stdout
            .contains("::warning title=alchemy-ci::destroyed pr-41 ("),
        "{}",
        out.context()
    );
    let rec = app.record("pr-41");
    assert_eq!(rec.status, RecordStatus::Destroyed);
    assert_eq!(rec.verified, Some(false));
    assert!(rec.note.is_some_and(|n| n.contains("could not verify it")));
    let o = outputs(&app);
    assert_eq!(o.get("result").map(String::as_str), Some("success"));
    assert_eq!(o.get("verified").map(String::as_str), Some("false"));
    let body = gh.comment(41).body;
    assert!(
        body.contains("Destroyed, not verified") && body.contains("could not verify it"),
        "{body}"
    );
    assert!(summary(&app).contains("not verified"), "{}", summary(&app));
    // Alchemy did its job through the app's own store.
    assert!(!app.app_path().join("out/pr-41/index.html").exists());
}

/// With a verify-command the destroy is verified again; when the check
/// fails, the destroy fails, and the sweep retries it until it passes.
#[test]
fn verify_command_verifies_a_destroy_and_its_failure_is_retried_by_the_sweep() {
    let gh = Actions::new();
    let app = kept_app(None);
    let verify = [("INPUT_VERIFY-COMMAND", VERIFY)];
    let (a, b) = (sha("kept-42"), sha("kept-43"));

    gh.pr(&app, "opened", 43, &b, &[], &[]).ok();
    let out = gh.pr(&app, "closed", 43, &b, &[], &verify);
    out.ok();
    assert!(
        out.stdout.contains("nothing of pr-43 is left"),
        "the check's output is logged\n{}",
        out.context()
    );
    assert!(
        out.stdout
            .contains("destroyed pr-43 (verified by verify-command)"),
        "{}",
        out.context()
    );
    assert_eq!(app.record("pr-43").verified, Some(true));
    assert_eq!(
        outputs(&app).get("verified").map(String::as_str),
        Some("true")
    );
    let body = gh.comment(43).body;
    assert!(
        body.contains("Destroyed") && !body.contains("not verified"),
        "{body}"
    );

    // A delete fails, Alchemy v1 exits 0 anyway: only the check can tell.
    gh.pr(&app, "opened", 42, &a, &[], &[]).ok();
    let sticky = [verify[0], ("STICKY", "1")];
    let out = gh.pr(&app, "closed", 42, &a, &[], &sticky);
    assert_eq!(out.code, 1, "{}", out.context());
    assert!(
        out.stdout.contains("still in pr-42's state: web.json"),
        "{}",
        out.context()
    );
    let rec = app.record("pr-42");
    assert_eq!(rec.status, RecordStatus::DestroyFailed);
    assert!(
        rec.error
            .as_deref()
            .is_some_and(|e| e.contains("verify-command for pr-42 exited with code 1")),
        "{:?}",
        rec.error
    );
    assert!(rec.closed_at.is_none());
    assert_eq!(
        outputs(&app).get("result").map(String::as_str),
        Some("failure")
    );
    assert!(gh.comment(42).body.contains("Destroy failed"));

    let sweep = gh.step(&app, &["cleanup"], &[], &verify);
    sweep.ok();
    assert!(
        sweep.stdout.contains("nothing of pr-42 is left"),
        "{}",
        sweep.context()
    );
    let rec = app.record("pr-42");
    assert_eq!(rec.status, RecordStatus::Destroyed, "{}", sweep.context());
    assert_eq!(rec.verified, Some(true));
    assert!(!app
        .dir
        .path()
        .join("app-state/kept-app/pr-42/web.json")
        .exists());
}

/// A first deploy that breaks before Alchemy writes anything says nothing
/// about where the app keeps its state.
#[test]
fn a_first_deploy_that_fails_before_writing_anything_is_not_taken_for_app_managed() {
    let gh = Actions::new();
    let app = kept_app(None);
    let out = gh.pr(&app, "opened", 45, &sha("kept-45"), &[], &[("THROW", "1")]);
    assert_eq!(out.code, 1, "{}", out.context());
    assert!(!out.stdout.contains("own store"), "{}", out.context());
    let rec = app.record("pr-45");
    assert_eq!(rec.status, RecordStatus::Failed);
    assert_eq!(rec.state, None);
    assert_eq!(rec.note, None);
}

/// The flavour is wrong on purpose: a custom command runs a v1 app whose
/// local state lands in a layout alchemy-ci does not know. The deploy warns
/// loudly, naming where it looked and what it found; the destroy, which
/// finds nothing to delete, is not called verified (and the page it made
/// is indeed still there).
#[test]
fn state_in_a_layout_alchemy_ci_does_not_know_is_a_loud_warning_not_a_verified_destroy() {
    let gh = Actions::new();
    let app = kept_app(Some(".alchemy/elsewhere"));
    let custom = [
        "--alchemy-command",
        r#"["bun", "alchemy.run.ts", "--stage", "{stage}", "--{phase}"]"#,
    ];
    let head = sha("kept-44");
    let out = gh.pr(&app, "opened", 44, &head, &custom, &[]);
    out.ok();
    for needle in [
        "stage pr-44's state could not be found",
        ".alchemy/*/pr-44/",
        ".alchemy/state/*/pr-44/",
        ".alchemy/elsewhere/kept-app/pr-44/page.json",
        "will NOT be verifiable",
    ] {
        assert!(
            out.stderr.contains(needle),
            "{needle:?} not in the warning\n{}",
            out.context()
        );
    }
    assert!(
        out.stdout
            .contains("::warning title=alchemy-ci::stage pr-44's state could not be found"),
        "{}",
        out.context()
    );
    assert_eq!(app.record("pr-44").state, Some(StateKeeping::NotFound));
    // The only copy of that state is not deleted with the run's .alchemy/.
    assert!(
        app.app_path()
            .join(".alchemy/elsewhere/kept-app/pr-44/page.json")
            .exists(),
        "{}",
        out.context()
    );
    assert!(
        out.stdout.contains("could not be saved and is left in"),
        "{}",
        out.context()
    );

    let out = gh.pr(&app, "closed", 44, &head, &custom, &[]);
    out.ok();
    assert!(
        out.stdout.contains("could not verify it"),
        "{}",
        out.context()
    );
    let rec = app.record("pr-44");
    assert_eq!(rec.verified, Some(false));
    assert_eq!(
        outputs(&app).get("verified").map(String::as_str),
        Some("false")
    );
    assert!(
        !gh.comment(44).body.contains("Destroyed |"),
        "never a plain destroyed"
    );
    assert!(
        app.app_path().join("out/pr-44/index.html").exists(),
        "the lost state's resource is still up"
    );
}

/// verify-command runs with the workflow's secrets, and a pull request can
/// change the config file: the file may not set it. As an input it shows
/// in the plan.
#[test]
fn verify_command_is_refused_in_the_config_file_and_shown_in_the_plan() {
    let dir = Dir::new();
    let event = dir.write_json("closed.json", &fixture("pull_request.closed.json"));
    let ev = event.display().to_string();
    let args = [
        "simulate",
        "--event",
        ev.as_str(),
        "--alchemy-command",
        "v1",
    ];
    dir.write(
        "alchemy-ci.yml",
        "verify-command: [\"sh\", \"-c\", \"true\"]\n",
    );
    dir.run(&args).bad_input(&[
        "alchemy-ci.yml",
        "`verify-command` guards what untrusted code may do",
    ]);
    std::fs::remove_file(dir.path().join("alchemy-ci.yml")).expect("rm");

    let mut with = args.to_vec();
    with.extend(["--verify-command", "./check {stage}"]);
    let out = dir.run(&with);
    out.ok();
    assert!(
        out.stdout
            .contains("then that the verify-command exits 0:\n        ./check pr-2"),
        "{}",
        out.context()
    );
}
