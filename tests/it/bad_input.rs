//! Bad input: exit 2, one line on stderr naming the file and the problem,
//! nothing on stdout, nothing written.

use serde_json::{json, Value};

use crate::support::{fixture, Dir};

/// Writes `body` as `event.json`, runs simulate, and checks the contract.
fn rejects(body: &[u8], needles: &[&str]) {
    let dir = Dir::new();
    dir.write("event.json", body);
    let before = dir.listing();
    let out = dir.run(&["simulate", "--event", "event.json"]);
    let mut all = vec!["event.json"];
    all.extend_from_slice(needles);
    out.bad_input(&all);
    assert_eq!(dir.listing(), before, "files changed\n{}", out.context());
}

fn opened_with(edit: impl FnOnce(&mut Value)) -> Vec<u8> {
    let mut v = fixture("pull_request.opened.json");
    edit(&mut v);
    serde_json::to_vec(&v).expect("serialize")
}

#[test]
fn unreadable_event_files() {
    let dir = Dir::new();
    dir.run(&["simulate", "--event", "missing.json"])
        .bad_input(&["missing.json", "cannot read"]);
    std::fs::create_dir(dir.path().join("adir")).expect("mkdir");
    dir.run(&["simulate", "--event", "adir"])
        .bad_input(&["adir", "directory"]);
    assert_eq!(dir.listing().len(), 1, "only the folder the test made");
}

#[test]
fn empty_and_blank_files() {
    rejects(b"", &["empty"]);
    rejects(b" \n\t\n", &["empty"]);
}

#[test]
fn not_json() {
    rejects(b"hello: world\n", &["not valid JSON"]);
    rejects(b"{'action': 'opened'}", &["not valid JSON"]);
    rejects(&[0xff, 0xfe, 0x7b, 0x00], &["not valid JSON"]);
}

#[test]
fn truncated_json() {
    let full = opened_with(|_| {});
    rejects(&full[..full.len() / 2], &["truncated"]);
    rejects(b"{", &["truncated"]);
}

#[test]
fn json_of_the_wrong_kind() {
    rejects(b"[]", &["JSON object"]);
    rejects(b"\"pull_request\"", &["JSON object"]);
    rejects(b"42", &["JSON object"]);
}

#[test]
fn pull_request_numbers_that_are_not_positive_u32() {
    for (bad, word) in [
        (json!("5"), "string"),
        (json!(-1), "-1"),
        (json!(0), "0"),
        (json!(1.5), "1.5"),
        (json!(4_294_967_296_u64), "4294967296"),
        (json!(null), "null"),
    ] {
        let body = opened_with(|v| {
            v.as_object_mut().expect("object").remove("number");
            v["pull_request"]["number"] = bad.clone();
        });
        let dir = Dir::new();
        dir.write("event.json", &body);
        dir.run(&[
            "simulate",
            "--event",
            "event.json",
            "--event-name",
            "pull_request",
        ])
        .bad_input(&[
            "event.json",
            "pull_request.number",
            word,
            "positive whole number",
        ]);
    }
}

#[test]
fn missing_pull_request_fields() {
    rejects(
        &opened_with(|v| {
            v["pull_request"]
                .as_object_mut()
                .expect("object")
                .remove("number");
        }),
        &["pull_request", "missing field `number`"],
    );
    let dir = Dir::new();
    dir.write("event.json", r#"{"action": "opened", "number": 3}"#);
    dir.run(&[
        "simulate",
        "--event",
        "event.json",
        "--event-name",
        "pull_request",
    ])
    .bad_input(&["event.json", "missing field `pull_request`"]);
}

#[test]
fn wrongly_typed_fields_name_their_path() {
    rejects(
        &opened_with(|v| v["pull_request"]["head"] = json!("main")),
        &["pull_request.head", "invalid type"],
    );
    rejects(
        &opened_with(|v| v["pull_request"]["head"]["sha"] = json!("not-a-sha; rm -rf /")),
        &["pull_request.head.sha", "commit SHA"],
    );
    rejects(&opened_with(|v| v["number"] = json!(3)), &["disagree"]);
}

#[test]
fn no_event_at_all() {
    Dir::new()
        .run(&["simulate"])
        .bad_input(&["--event", "GITHUB_EVENT_PATH"]);
}

#[test]
fn unknown_flags_are_one_line_too() {
    Dir::new()
        .run(&["simulate", "--evnt", "x.json"])
        .bad_input(&["--evnt", "--help"]);
}

fn rejects_config(files: &[(&str, &str)], env: &[(&str, &str)], flags: &[&str], needles: &[&str]) {
    let mut dir = Dir::new();
    let event = dir.write_json("event.json", &fixture("pull_request.closed.json"));
    for (path, body) in files {
        dir.write(path, body);
    }
    for (k, v) in env {
        dir.env(k, v);
    }
    let before = dir.listing();
    let ev = event.display().to_string();
    let mut args = vec!["simulate", "--event", ev.as_str()];
    args.extend_from_slice(flags);
    let out = dir.run(&args);
    out.bad_input(needles);
    assert_eq!(dir.listing(), before, "files changed\n{}", out.context());
}

#[test]
fn bad_config_files() {
    rejects_config(
        &[("alchemy-ci.yml", "stage-prefix: pr-\ndeploy_drafts: true\n")],
        &[],
        &[],
        &[
            "alchemy-ci.yml",
            "unknown key `deploy_drafts`",
            "deploy-drafts",
        ],
    );
    rejects_config(
        &[(".github/alchemy-ci.yml", "branches: [main\n")],
        &[],
        &[],
        &["alchemy-ci.yml", "not valid YAML"],
    );
    rejects_config(
        &[("alchemy-ci.yml", "- deploy\n")],
        &[],
        &[],
        &["alchemy-ci.yml", "mapping"],
    );
    rejects_config(
        &[("alchemy-ci.yml", "deploy-drafts: maybe\n")],
        &[],
        &[],
        &["alchemy-ci.yml: deploy-drafts", "true or false"],
    );
    rejects_config(
        &[("alchemy-ci.yml", "branches:\n  main: Prod\n")],
        &[],
        &[],
        &["alchemy-ci.yml: branches", "Prod"],
    );
    rejects_config(
        &[("alchemy-ci.yml", ""), (".github/alchemy-ci.yml", "")],
        &[],
        &[],
        &["two config files"],
    );
    rejects_config(
        &[],
        &[],
        &["--config", "nope.yml"],
        &["nope.yml", "cannot read"],
    );
}

#[test]
fn bad_inputs_and_flags_name_their_source() {
    rejects_config(
        &[],
        &[("INPUT_DEPLOY-DRAFTS", "yes please")],
        &[],
        &["INPUT_DEPLOY-DRAFTS", "true or false"],
    );
    rejects_config(
        &[],
        &[("INPUT_STAGE-PREFIX", "PR/")],
        &[],
        &["INPUT_STAGE-PREFIX", "PR/"],
    );
    rejects_config(
        &[],
        &[],
        &["--state-store", "s4://x"],
        &["--state-store", "s4://x"],
    );
    rejects_config(&[], &[], &["--command", "nuke"], &["--command", "nuke"]);
    rejects_config(
        &[],
        &[],
        &["--command", "deploy", "--stage", "../x"],
        &["--stage", "../x"],
    );
    rejects_config(
        &[],
        &[],
        &["--branches", "main"],
        &["--branches", "branch:stage"],
    );
    rejects_config(
        &[],
        &[],
        &["--alchemy-command", "bun deploy.ts --stage {stage}"],
        &["--alchemy-command", "{phase}"],
    );
}

#[test]
fn explicit_destroy_of_a_protected_stage_is_refused() {
    rejects_config(
        &[],
        &[],
        &["--command", "destroy", "--stage", "prod"],
        &["prod", "protected", "allow-protected"],
    );
}

#[test]
fn dispatch_inputs_are_validated_like_flags() {
    let mut v = fixture("workflow_dispatch.json");
    v["inputs"] = json!({"command": "destroy", "stage": "$(id)"});
    let dir = Dir::new();
    let ev = dir.write_json("event.json", &v);
    dir.run(&["simulate", "--event", &ev.display().to_string()])
        .bad_input(&["workflow_dispatch input `stage`", "$(id)"]);
}
