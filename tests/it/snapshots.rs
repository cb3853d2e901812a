//! What users read: the rendered plan, the comment preview and the JSON
//! shape. A change here is a change in what users see and is reviewed as
//! a snapshot diff.

use crate::support::Dir;

fn example(name: &str) -> String {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("examples/events")
        .join(name)
        .display()
        .to_string()
}

fn simulate(args: &[&str]) -> String {
    let mut dir = Dir::new();
    dir.env("GITHUB_SERVER_URL", "https://github.com")
        .env("GITHUB_REPOSITORY", "Codertocat/Hello-World")
        .env("GITHUB_RUN_ID", "987654321");
    let out = dir.run(args);
    out.ok();
    out.stdout.clone()
}

#[test]
fn plan_for_a_closed_pull_request() {
    insta::assert_snapshot!(simulate(&[
        "simulate",
        "--event",
        &example("pr_closed.json"),
        "--event-name",
        "pull_request",
        "--alchemy-command",
        "v1",
    ]));
}

#[test]
fn plan_for_an_opened_pull_request_with_live_facts() {
    insta::assert_snapshot!(simulate(&[
        "simulate",
        "--event",
        &example("pr_opened.json"),
        "--pr-state",
        "open",
        "--record",
        "missing",
        "--alchemy-command",
        "v1",
    ]));
}

#[test]
fn plan_for_a_schedule_without_a_token() {
    insta::assert_snapshot!(simulate(&[
        "simulate",
        "--event",
        &example("schedule.json"),
        "--no-token",
    ]));
}

#[test]
fn json_plan_for_a_merged_pull_request() {
    let out = simulate(&[
        "simulate",
        "--json",
        "--event",
        &example("pr_merged.json"),
        "--alchemy-command",
        "v2",
    ]);
    let v: serde_json::Value = serde_json::from_str(&out).expect("json");
    insta::assert_json_snapshot!(v);
}
