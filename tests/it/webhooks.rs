//! Every real webhook payload maps to its documented action and stage,
//! through the CLI as a user calls it.

use crate::support::{fixture_path, Dir};

/// (fixture, event name, action, stage)
const TABLE: &[(&str, &str, &str, Option<&str>)] = &[
    (
        "pull_request.opened.json",
        "pull_request",
        "deploy",
        Some("pr-2"),
    ),
    (
        "pull_request.reopened.json",
        "pull_request",
        "deploy",
        Some("pr-2"),
    ),
    (
        "pull_request.synchronize.json",
        "pull_request",
        "deploy",
        Some("pr-2"),
    ),
    (
        "pull_request.ready_for_review.json",
        "pull_request",
        "deploy",
        Some("pr-2"),
    ),
    (
        "pull_request.closed.json",
        "pull_request",
        "destroy",
        Some("pr-2"),
    ),
    (
        "pull_request.converted_to_draft.json",
        "pull_request",
        "skip",
        Some("pr-2"),
    ),
    (
        "pull_request.labeled.json",
        "pull_request",
        "skip",
        Some("pr-2"),
    ),
    ("push.json", "push", "skip", None),
    ("workflow_dispatch.json", "workflow_dispatch", "skip", None),
    ("issue_comment.created.json", "issue_comment", "skip", None),
];

#[test]
fn each_payload_maps_to_its_action_with_the_name_given() {
    let dir = Dir::new();
    for (file, name, action, stage) in TABLE {
        let plan = dir.plan(&fixture_path(file), &["--event-name", name]);
        assert_eq!(plan["event"], *name, "{file}");
        assert_eq!(plan["event_source"], "flag", "{file}");
        assert_eq!(plan["action"], *action, "{file}: {plan:#}");
        assert_eq!(plan["stage"].as_str(), *stage, "{file}");
        assert!(
            !plan["reason"].as_str().unwrap_or("").is_empty(),
            "{file}: no reason"
        );
    }
}

#[test]
fn each_payload_maps_the_same_with_the_name_from_the_environment() {
    for (file, name, action, stage) in TABLE {
        let mut dir = Dir::new();
        dir.env("GITHUB_EVENT_NAME", name);
        let plan = dir.plan(&fixture_path(file), &[]);
        assert_eq!(plan["event_source"], "env", "{file}");
        assert_eq!(plan["action"], *action, "{file}");
        assert_eq!(plan["stage"].as_str(), *stage, "{file}");
    }
}

#[test]
fn each_payload_maps_the_same_when_the_name_is_inferred() {
    let dir = Dir::new();
    for (file, name, action, stage) in TABLE {
        let plan = dir.plan(&fixture_path(file), &[]);
        assert_eq!(plan["event"], *name, "{file}");
        assert_eq!(plan["event_source"], "inferred", "{file}");
        assert_eq!(plan["action"], *action, "{file}");
        assert_eq!(plan["stage"].as_str(), *stage, "{file}");
    }
}

#[test]
fn the_event_path_comes_from_the_environment_like_in_actions() {
    let mut dir = Dir::new();
    let path = fixture_path("pull_request.closed.json");
    dir.env("GITHUB_EVENT_PATH", &path.display().to_string())
        .env("GITHUB_EVENT_NAME", "pull_request");
    let out = dir.run(&["simulate", "--json"]);
    out.ok();
    let plan: serde_json::Value = serde_json::from_str(&out.stdout).expect("json");
    assert_eq!(plan["action"], "destroy");
}

#[test]
fn deploy_runs_alchemy_with_an_argument_vector_for_the_stage() {
    let dir = Dir::new();
    let plan = dir.plan(&fixture_path("pull_request.opened.json"), &[]);
    let run = plan["steps"]
        .as_array()
        .and_then(|s| s.iter().find(|s| s["step"] == "run-alchemy"))
        .expect("a run-alchemy step");
    assert_eq!(
        run["argv"],
        serde_json::json!([
            "bun",
            "node_modules/.bin/alchemy",
            "deploy",
            "--stage",
            "pr-2"
        ])
    );
    assert_eq!(run["env"]["STAGE"], "pr-2");
    assert_eq!(run["env"]["ALCHEMY_STAGE"], "pr-2");
    assert_eq!(run["env"]["PULL_REQUEST"], "2");
    assert_eq!(run["env"]["ALCHEMY_CI_STATE_STORE_CHECK"], "false");
    // State is saved even when the deploy fails.
    let save = plan["steps"]
        .as_array()
        .and_then(|s| s.iter().find(|s| s["step"] == "save-state"))
        .expect("a save-state step");
    assert_eq!(save["always"], true);
}

#[test]
fn an_unknown_event_name_is_a_skip_not_an_error() {
    let dir = Dir::new();
    let plan = dir.plan(
        &fixture_path("push.json"),
        &["--event-name", "deployment_status"],
    );
    assert_eq!(plan["action"], "skip");
    assert!(plan["reason"]
        .as_str()
        .unwrap_or("")
        .contains("deployment_status"));
}

#[test]
fn a_payload_of_no_known_shape_is_a_skip_that_asks_for_the_name() {
    let dir = Dir::new();
    let ev = dir.write(
        "ev.json",
        r#"{"zen": "Keep it logically awesome.", "hook_id": 1}"#,
    );
    let plan = dir.plan(&ev, &[]);
    assert_eq!(plan["action"], "skip");
    assert!(plan["reason"]
        .as_str()
        .unwrap_or("")
        .contains("--event-name"));
}
