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

/// A payload of `tests/fixtures/webhooks/comments/`.
fn comment(name: &str) -> String {
    crate::support::fixture_path(&format!("comments/{name}"))
        .display()
        .to_string()
}

const HEAD: &str = "ec26c3e57ca3a959ca5aad62de7213c562f8c821";

/// A comment's deploy, with the facts a run would look up given.
#[test]
fn plan_for_a_deploy_comment_from_a_writer() {
    insta::assert_snapshot!(simulate(&[
        "simulate",
        "--event",
        &comment("issue_comment.created.pr-deploy.json"),
        "--commenter-permission",
        "write",
        "--pr-state",
        "open",
        "--pr-head",
        HEAD,
        "--alchemy-command",
        "v1",
    ]));
}

/// Without the permission and the PR's head, the plan says what it could
/// not check.
#[test]
fn plan_for_a_deploy_comment_with_nothing_looked_up() {
    insta::assert_snapshot!(simulate(&[
        "simulate",
        "--event",
        &comment("issue_comment.created.pr-deploy.json"),
        "--alchemy-command",
        "v1",
    ]));
}

/// A fork's approval, as the comment's first step plans it.
#[test]
fn plan_for_a_fork_approval_in_the_comment_step() {
    insta::assert_snapshot!(simulate(&[
        "simulate",
        "--event",
        &comment("issue_comment.created.fork-pr-approval.json"),
        "--command",
        "comment",
        "--commenter-permission",
        "admin",
        "--pr-state",
        "open",
        "--pr-head",
        HEAD,
        "--pr-fork",
    ]));
}

#[test]
fn plan_for_a_comment_from_a_reader() {
    insta::assert_snapshot!(simulate(&[
        "simulate",
        "--event",
        &comment("issue_comment.created.pr-deploy.json"),
        "--commenter-permission",
        "read",
    ]));
}

#[test]
fn plan_for_a_bots_command() {
    insta::assert_snapshot!(simulate(&[
        "simulate",
        "--event",
        &comment("issue_comment.created.pr-bot.json"),
    ]));
}

#[test]
fn plan_for_an_edited_comment() {
    insta::assert_snapshot!(simulate(&[
        "simulate",
        "--event",
        &comment("issue_comment.edited.pr-deploy.json"),
    ]));
}

/// A hostile command is answered with the help, and nothing of it reaches
/// the terminal unescaped.
#[test]
fn json_plan_for_a_hostile_comment() {
    let out = simulate(&[
        "simulate",
        "--json",
        "--event",
        &comment("issue_comment.created.pr-hostile.json"),
        "--commenter-permission",
        "admin",
    ]);
    let v: serde_json::Value = serde_json::from_str(&out).expect("json");
    insta::assert_json_snapshot!(v);
}

/// `simulate` for `examples/monorepo`: its config, named from here.
fn monorepo(args: &[&str]) -> String {
    let config = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("examples/monorepo/alchemy-ci.yml")
        .display()
        .to_string();
    let mut all = args.to_vec();
    all.extend(["--config", &config, "--alchemy-command", "v1"]);
    simulate(&all)
}

/// A push to a pull request of the monorepo that changes `web` only, with
/// `api` deployed: `web` deploys (the file and pattern that matched), `api`
/// is kept, the order, each app's plan and the comment.
#[test]
fn plan_for_a_monorepo_pull_request() {
    insta::assert_snapshot!(monorepo(&[
        "simulate",
        "--event",
        &example("pr_synchronize.json"),
        "--pr-state",
        "open",
        "--changed",
        "apps/web/alchemy.run.ts",
        "--changed",
        "apps/web/README.md",
        "--deployed",
        "api",
    ]));
}

/// The close of a monorepo's pull request: `web` goes before the `api`
/// whose URL it reads, and gets that URL for its destroy.
#[test]
fn plan_for_a_monorepo_close() {
    insta::assert_snapshot!(monorepo(&[
        "simulate",
        "--event",
        &example("pr_closed.json"),
        "--event-name",
        "pull_request",
        "--deployed",
        "api",
        "--deployed",
        "web",
    ]));
}

/// The JSON of a run over the apps: the event's decision, the affected
/// apps and why, the selection, the order and each app's plan.
#[test]
fn json_plan_for_a_monorepo_pull_request() {
    let out = monorepo(&[
        "simulate",
        "--json",
        "--event",
        &example("pr_opened.json"),
        "--changed",
        "apps/api/src/index.ts",
    ]);
    let v: serde_json::Value = serde_json::from_str(&out).expect("json");
    insta::assert_json_snapshot!(v);
}
