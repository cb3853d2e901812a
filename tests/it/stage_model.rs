//! Alchemy's whole stage model: the read phase, profiles, local stage
//! resolution, branch stages and per-stage environment.

use serde_json::{json, Value};

use crate::alchemy_e2e::App;
use crate::support::{fixture, Dir};

const SHA: &str = "3333333333333333333333333333333333333333";

/// A hand-run command (`deploy`, `read`, …) on the app and its store.
fn run_local(app: &App, cmd: &str, extra: &[&str], env: &[(&str, &str)]) -> crate::support::Output {
    app.command(&[cmd], extra, env)
}

#[test]
fn the_read_phase_returns_urls_and_leaves_the_state_byte_identical() {
    let app = App::new();
    app.run(&app.event("opened", "opened", 12, SHA), &[], &[])
        .ok();
    let before = app.snapshot("pr-12");

    let out = run_local(&app, "read", &["--stage", "pr-12", "--json"], &[]);
    out.ok();
    let report: Value =
        serde_json::from_str(&out.stdout).unwrap_or_else(|e| panic!("{e}\n{}", out.context()));
    assert_eq!(report["result"], "success");
    assert_eq!(report["urls"][0]["url"], "https://pr-12.web.example.test/");

    let after = app.snapshot("pr-12");
    assert_eq!(
        before.files, after.files,
        "the read phase changed state files"
    );
    let (b, a) = (
        before.record.expect("record"),
        after.record.expect("record"),
    );
    assert_eq!(a.status, b.status);
    assert_eq!(a.urls, b.urls);
    assert!(a.lock.is_none());
}

#[test]
fn reading_a_stage_that_does_not_exist_creates_nothing() {
    let app = App::new();
    let out = run_local(&app, "read", &["--stage", "pr-404"], &[]);
    out.bad_input(&["pr-404", "nothing to read"]);
    assert!(!app.store_path().join("stages/pr-404").exists());
    assert!(
        !app.app_path().join(".alchemy").exists(),
        "an empty .alchemy/ was left behind"
    );
}

#[test]
fn a_hand_run_resolves_the_stage_like_alchemy_and_refuses_bad_names() {
    let app = App::new();
    let out = run_local(&app, "deploy", &[], &[("USER", "Sam.O'Neil")]);
    out.ok();
    assert!(out.stdout.contains("dev_sam_o_neil"), "{}", out.context());
    assert_eq!(
        app.record("dev_sam_o_neil").status,
        alchemy_ci::record::RecordStatus::Deployed
    );

    let out = run_local(&app, "deploy", &[], &[("STAGE", "qa"), ("USER", "sam")]);
    out.ok();
    assert!(app.store_path().join("stages/qa").exists());

    run_local(&app, "deploy", &["--stage", "../x"], &[]).bad_input(&["../x"]);
    run_local(&app, "destroy", &[], &[("STAGE", "x;touch pwned")]).bad_input(&["x;touch pwned"]);
    assert!(!app.dir.path().join("pwned").exists() && !app.app_path().join("pwned").exists());

    // A hand-run destroy is verified like any other.
    run_local(&app, "destroy", &[], &[("USER", "Sam.O'Neil")]).ok();
    assert!(app.snapshot("dev_sam_o_neil").files.is_empty());
}

#[test]
fn a_push_to_a_mapped_branch_deploys_its_stage_and_protected_stages_stay() {
    let app = App::new();
    let mut push = fixture("push.json");
    push["ref"] = json!("refs/heads/main");
    push["after"] = json!(SHA);
    let ev = app.dir.write_json("events/push.json", &push);
    let out = app.run(&ev, &["--branches", "main:prod"], &[]);
    out.ok();
    let rec = app.record("prod");
    assert_eq!(rec.head_sha.as_ref().map(|s| s.as_str()), Some(SHA));

    // Closing a PR never touches prod; destroying prod by hand needs allow-protected.
    app.run(&app.event("closed", "closed", 1, SHA), &[], &[])
        .ok();
    assert!(!app.snapshot("prod").files.is_empty());
    run_local(&app, "destroy", &["--stage", "prod"], &[]).bad_input(&["prod", "allow-protected"]);
    assert!(!app.snapshot("prod").files.is_empty());
    run_local(
        &app,
        "destroy",
        &["--stage", "prod", "--allow-protected"],
        &[],
    )
    .ok();
    assert!(app.snapshot("prod").files.is_empty());
}

#[test]
fn per_stage_environment_reaches_alchemy_and_secrets_stay_out_of_the_logs() {
    let app = App::new();
    app.dir.write(
        "alchemy-ci.yml",
        "env:\n  \"pr-*\":\n    CONTENT: { from: PREVIEW_CONTENT, secret: true }\n  prod:\n    CONTENT: production\n",
    );
    let secret = "s3cr3t-content-value";
    let out = app.run(
        &app.event("opened", "opened", 13, SHA),
        &[],
        &[("PREVIEW_CONTENT", secret)],
    );
    out.ok();
    assert_eq!(
        std::fs::read_to_string(app.app_path().join("out/pr-13/index.html"))
            .ok()
            .as_deref(),
        Some(secret)
    );
    assert!(
        out.stdout.contains("CONTENT=*** (from $PREVIEW_CONTENT)"),
        "{}",
        out.context()
    );
    let plan_part = out.stdout.split("Steps").nth(1).unwrap_or_default();
    assert!(
        !plan_part.contains(secret),
        "the secret was printed\n{}",
        out.context()
    );

    // A variable the file takes from the environment must be set, or nothing runs.
    let out = app.run(&app.event("opened2", "opened", 14, SHA), &[], &[]);
    out.bad_input(&["PREVIEW_CONTENT"]);
    assert!(!app.store_path().join("stages/pr-14").exists());
}

#[test]
fn profiles_are_passed_to_alchemy_independently_of_the_stage() {
    let dir = Dir::new();
    dir.write(
        "alchemy-ci.yml",
        "profiles:\n  prod: prod\n  \"pr-*\": ci\n",
    );
    let ev = dir.write_json("ev.json", &fixture("pull_request.opened.json"));
    let plan = dir.plan(&ev, &["--alchemy-command", "v1"]);
    let argv = plan["steps"]
        .as_array()
        .and_then(|s| s.iter().find(|s| s["step"] == "run-alchemy"))
        .map(|s| s["argv"].clone())
        .expect("run step");
    assert_eq!(
        argv,
        json!([
            "bun",
            "node_modules/.bin/alchemy",
            "deploy",
            "--stage",
            "pr-2",
            "--profile",
            "ci"
        ])
    );
    let plan = dir.plan(&ev, &["--alchemy-command", "v1", "--profile", "admin"]);
    let argv = plan["steps"]
        .as_array()
        .and_then(|s| s.iter().find(|s| s["step"] == "run-alchemy"))
        .map(|s| s["argv"].clone())
        .expect("run step");
    assert_eq!(argv[6], "admin", "the input wins over the file's map");
}

#[test]
fn status_refresh_reads_every_deployed_stage_and_changes_no_state() {
    let app = App::new();
    app.run(&app.event("o", "opened", 15, SHA), &[], &[]).ok();
    let before = app.snapshot("pr-15");
    // The app now reports a URL of its own, which only a read picks up.
    app.dir.write(
        "app/urls.json",
        r#"{"site": "https://fresh.example.test/"}"#,
    );
    let out = app.command(
        &["status", "--refresh", "--json"],
        &["--outputs-file", "urls.json"],
        &[],
    );
    out.ok();
    let rows: Value =
        serde_json::from_str(&out.stdout).unwrap_or_else(|e| panic!("{e}\n{}", out.context()));
    assert_eq!(
        rows[0]["urls"][0]["url"],
        "https://fresh.example.test/",
        "{}",
        out.context()
    );
    let after = app.snapshot("pr-15");
    assert_eq!(before.files, after.files, "a refresh changed state files");
}
