//! The sweep, end to end: real Alchemy, the folder store, the fake GitHub.

use std::collections::BTreeMap;

use alchemy_ci::record::{Record, RecordStatus};
use alchemy_ci::stage::{Stage, StagePrefix};
use alchemy_ci::state::dir::DirStore;
use alchemy_ci::state::{Snapshot, StateStore, Version};
use alchemy_ci::time::Timestamp;
use serde_json::Value;

use crate::alchemy_e2e::App;
use crate::fake_github::{FakeGitHub, PullState, TokenKind, ACTIONS_BOT};
use crate::support::Output;

const OWNER: &str = "Codertocat";
const REPO: &str = "Hello-World";
const TOKEN: &str = "ghs_sweep_token";

fn env(fake: &FakeGitHub, app: &App) -> Vec<(String, String)> {
    vec![
        ("GITHUB_API_URL".into(), fake.url().to_owned()),
        ("GITHUB_REPOSITORY".into(), format!("{OWNER}/{REPO}")),
        ("INPUT_GITHUB-TOKEN".into(), TOKEN.into()),
        (
            "GITHUB_OUTPUT".into(),
            app.dir.path().join("out").display().to_string(),
        ),
    ]
}

fn cleanup(app: &App, fake: &FakeGitHub, flags: &[&str], extra: &[(&str, &str)]) -> Output {
    let e = env(fake, app);
    let mut all: Vec<(&str, &str)> = e.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    all.extend_from_slice(extra);
    app.command(&["cleanup"], flags, &all)
}

fn fake() -> FakeGitHub {
    let fake = FakeGitHub::start();
    fake.add_token(TOKEN, ACTIONS_BOT, TokenKind::Installation);
    fake.add_repo(OWNER, REPO);
    fake
}

/// Every stage's files and record, and for a git store every ref's tip, to
/// compare a store before and after.
fn everything(app: &App) -> (BTreeMap<String, Snapshot>, String) {
    let store = app.store();
    let stages = store
        .list()
        .expect("list")
        .into_iter()
        .map(|s| {
            let snap = store.load(&s).expect("load").snapshot;
            (s.to_string(), snap)
        })
        .collect();
    let tips = match &app.git {
        Some(url) => crate::git_server::git(app.dir.path(), &["ls-remote", url]),
        None => String::new(),
    };
    (stages, tips)
}

#[test]
fn the_sweep_destroys_closed_and_failed_previews_and_keeps_the_rest() {
    sweep_scenario(App::new());
}

#[test]
fn the_sweep_works_the_same_on_the_git_store() {
    let daemon = crate::git_server::GitDaemon::start();
    daemon.repo("state.git");
    sweep_scenario(App::with_git(&daemon.url("state.git")));
}

fn sweep_scenario(app: App) {
    let fake = fake();
    let sha = FakeGitHub::sha("sweep");
    for n in 1..=3 {
        app.run(
            &app.event(&format!("o{n}"), "opened", n, &sha),
            &[],
            &[("STICKY", if n == 3 { "1" } else { "0" })],
        )
        .ok();
    }
    // pr-3's close event ran, but its destroy failed.
    let out = app.run(&app.event("c3", "closed", 3, &sha), &[], &[]);
    assert_eq!(out.code, 1, "{}", out.context());
    assert_eq!(app.record("pr-3").status, RecordStatus::DestroyFailed);
    // prod, deployed from main.
    let mut push = crate::support::fixture("push.json");
    push["ref"] = serde_json::json!("refs/heads/main");
    push["after"] = serde_json::json!(sha);
    app.run(
        &app.dir.write_json("events/push.json", &push),
        &["--branches", "main:prod"],
        &[],
    )
    .ok();

    fake.set_pull(OWNER, REPO, 1, PullState::Open, &sha);
    fake.set_pull(OWNER, REPO, 2, PullState::Closed, &sha);
    fake.set_pull(OWNER, REPO, 3, PullState::Merged, &sha);
    for n in 1..=3 {
        fake.add_issue(OWNER, REPO, n);
    }

    // A dry run changes nothing.
    let before = everything(&app);
    let dry = cleanup(&app, &fake, &["--dry-run"], &[("DELETE_OK", "1")]);
    dry.ok();
    for (stage, verdict) in [
        ("pr-1", "keep"),
        ("pr-2", "destroy"),
        ("pr-3", "destroy"),
        ("prod", "keep"),
    ] {
        let line = dry
            .stdout
            .lines()
            .find(|l| l.trim_start().starts_with(stage))
            .unwrap_or_default();
        assert!(
            line.contains(verdict),
            "{stage} should {verdict}: {line:?}\n{}",
            dry.context()
        );
    }
    assert_eq!(everything(&app), before, "the dry run changed the store");
    assert!(fake.comments(OWNER, REPO, 2).is_empty());

    // The matrix form lists exactly the stages to destroy, and round-trips into run.
    let m = cleanup(&app, &fake, &["--matrix"], &[]);
    m.ok();
    let matrix: Value =
        serde_json::from_str(m.stdout.trim()).unwrap_or_else(|e| panic!("{e}\n{}", m.context()));
    let stages: Vec<&str> = matrix["include"]
        .as_array()
        .expect("include")
        .iter()
        .filter_map(|e| e["stage"].as_str())
        .collect();
    assert_eq!(stages, ["pr-2", "pr-3"]);
    assert_eq!(everything(&app), before, "--matrix changed the store");

    let sweep = cleanup(&app, &fake, &["--max-parallel", "2"], &[("DELETE_OK", "1")]);
    sweep.ok();
    for gone in ["pr-2", "pr-3"] {
        let snap = app.snapshot(gone);
        assert!(
            snap.files.is_empty(),
            "{gone} still has state: {:?}\n{}",
            snap.files.keys(),
            sweep.context()
        );
        let rec = snap.record.expect("tombstone");
        assert_eq!(rec.status, RecordStatus::Destroyed);
        assert!(rec.closed_at.is_some());
        let n = &gone[3..];
        assert!(
            !app.app_path()
                .join(format!("out/pr-{n}/index.html"))
                .exists(),
            "{gone}'s resource is still there"
        );
        let comments = fake.comments(OWNER, REPO, n.parse().expect("n"));
        assert!(
            comments
                .last()
                .is_some_and(|c| c.body.contains("Destroyed")),
            "{gone}: {comments:?}"
        );
    }
    assert!(
        !app.snapshot("pr-1").files.is_empty()
            && app.app_path().join("out/pr-1/index.html").exists()
    );
    assert!(
        !app.snapshot("prod").files.is_empty()
            && app.app_path().join("out/prod/index.html").exists()
    );
    assert!(
        !app.app_path().join(".alchemy").exists(),
        "a worker left its .alchemy/ behind"
    );
}

#[test]
fn a_matrix_entry_runs_as_an_explicit_destroy() {
    let fake = fake();
    let app = App::new();
    let sha = FakeGitHub::sha("matrix");
    app.run(&app.event("o", "opened", 4, &sha), &[], &[]).ok();
    fake.set_pull(OWNER, REPO, 4, PullState::Closed, &sha);
    let m = cleanup(&app, &fake, &["--matrix"], &[]);
    let matrix: Value = serde_json::from_str(m.stdout.trim()).expect("json");
    let stage = matrix["include"][0]["stage"]
        .as_str()
        .expect("a stage")
        .to_owned();
    // What the fan-out job of examples/workflows/cleanup.yml runs for it.
    let out = app.command(&["destroy", "--stage", &stage], &[], &[]);
    out.ok();
    assert!(app.snapshot("pr-4").files.is_empty());
}

#[test]
fn a_large_store_is_swept_from_records_with_one_listing_of_open_prs() {
    let fake = fake();
    let app = App::new();
    let store = DirStore::new(app.store_path());
    let now = Timestamp::now();
    let prefix = StagePrefix::default();
    for n in 1..=1_000u64 {
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
    for n in 1..=150 {
        fake.set_pull(OWNER, REPO, n, PullState::Open, &FakeGitHub::sha("x"));
    }
    fake.clear_requests();
    let out = cleanup(&app, &fake, &["--dry-run"], &[]);
    out.ok();
    let lists = fake.count_requests("GET", &format!("/repos/{OWNER}/{REPO}/pulls"));
    assert!(lists <= 2, "{lists} pull-list requests");
    assert_eq!(
        out.stdout
            .lines()
            .filter(|l| l.contains(" destroy "))
            .count(),
        850
    );
    assert_eq!(
        fake.requests().len(),
        lists,
        "the dry run made other requests"
    );
}

#[test]
fn the_sweep_needs_a_token() {
    let app = App::new();
    app.command(&["cleanup"], &[], &[])
        .bad_input(&["github-token"]);
}
