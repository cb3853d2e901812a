//! Self-tests of the fake GitHub's endpoints for comment commands, status
//! checks and shared deployment environments, over real HTTP with a
//! minimal client: each behaves as GitHub's documentation says, so tests
//! of the product against them mean something.

use std::time::Instant;

use serde_json::{json, Value};

use crate::fake_github::raw_client::{get, post, request};
use crate::fake_github::{FakeGitHub, PullState, TokenKind, ACTIONS_BOT};

const OWNER: &str = "acme";
const REPO: &str = "app";
const ACTIONS: &str = "ghs_actions_token";
const PAT: &str = "ghp_maintainer_token";

fn setup() -> FakeGitHub {
    let fake = FakeGitHub::start();
    fake.add_token(ACTIONS, ACTIONS_BOT, TokenKind::Installation);
    fake.add_token(PAT, "maintainer", TokenKind::User);
    fake.set_pull(OWNER, REPO, 7, PullState::Open, &FakeGitHub::sha("head-7"));
    fake.set_pull(OWNER, REPO, 8, PullState::Open, &FakeGitHub::sha("head-8"));
    fake
}

fn repo_path(rest: &str) -> String {
    format!("/repos/{OWNER}/{REPO}/{rest}")
}

#[test]
fn permission_per_user_as_github_reports_it() {
    let fake = setup();
    fake.set_role(OWNER, REPO, "maintainer", "maintain");
    fake.set_role(OWNER, REPO, "writer", "write");
    fake.set_role(OWNER, REPO, "triager", "triage");
    fake.set_role(OWNER, REPO, "reader", "read");
    fake.set_custom_role(OWNER, REPO, "reviewer", "security-reviewer", "write");
    fake.add_user("stranger");
    // (login, permission, role_name, push)
    let table = [
        (OWNER, "admin", "admin", true),
        ("maintainer", "write", "maintain", true),
        ("writer", "write", "write", true),
        ("triager", "read", "triage", false),
        ("reader", "read", "read", false),
        ("reviewer", "write", "security-reviewer", true),
        ("stranger", "none", "none", false),
    ];
    for (login, permission, role, push) in table {
        let r = get(
            &fake,
            &repo_path(&format!("collaborators/{login}/permission")),
            ACTIONS,
        );
        assert_eq!(r.status, 200, "{login}");
        let v = r.json();
        assert_eq!(v["permission"], permission, "{login}");
        assert_eq!(v["role_name"], role, "{login}");
        assert_eq!(v["user"]["login"], login, "{login}");
        assert_eq!(v["user"]["permissions"]["push"], push, "{login}");
        assert_eq!(v["user"]["role_name"], role, "{login}");
    }
    // Logins are not case sensitive; an unknown account is 404.
    let upper = get(
        &fake,
        &repo_path("collaborators/WRITER/permission"),
        ACTIONS,
    );
    assert_eq!(upper.json()["permission"], "write");
    let missing = get(
        &fake,
        &repo_path("collaborators/nobody/permission"),
        ACTIONS,
    );
    assert_eq!(missing.status, 404);
    assert_eq!(missing.message(), "Not Found");
}

#[test]
fn reactions_are_kept_per_comment() {
    let fake = setup();
    let id = fake.add_comment_as(OWNER, REPO, 7, "maintainer", "/alchemy deploy");
    let other = fake.add_comment_as(OWNER, REPO, 7, "maintainer", "unrelated");
    let path = repo_path(&format!("issues/comments/{id}/reactions"));

    let eyes = post(&fake, &path, ACTIONS, &json!({"content": "eyes"}));
    assert_eq!(eyes.status, 201);
    let e = eyes.json();
    for k in ["id", "node_id", "user", "content", "created_at"] {
        assert!(e.get(k).is_some(), "reaction lacks {k}: {e}");
    }
    assert_eq!(e["user"]["login"], ACTIONS_BOT);
    assert_eq!(e["content"], "eyes");
    // The same reaction by the same account again: 200 and the same one.
    let again = post(&fake, &path, ACTIONS, &json!({"content": "eyes"}));
    assert_eq!(again.status, 200);
    assert_eq!(again.json()["id"], e["id"]);
    assert_eq!(
        post(&fake, &path, ACTIONS, &json!({"content": "rocket"})).status,
        201
    );
    assert_eq!(
        post(&fake, &path, PAT, &json!({"content": "eyes"})).status,
        201,
        "another account's eyes are its own"
    );

    let listed = get(&fake, &path, ACTIONS).json();
    let contents: Vec<&str> = listed
        .as_array()
        .expect("array")
        .iter()
        .filter_map(|r| r["content"].as_str())
        .collect();
    assert_eq!(contents, ["eyes", "rocket", "eyes"]);
    let only_rocket = get(&fake, &format!("{path}?content=rocket"), ACTIONS).json();
    assert_eq!(only_rocket.as_array().map(Vec::len), Some(1));

    let comment = get(&fake, &repo_path(&format!("issues/comments/{id}")), ACTIONS).json();
    assert_eq!(comment["reactions"]["total_count"], 3);
    assert_eq!(comment["reactions"]["eyes"], 2);
    assert_eq!(comment["reactions"]["rocket"], 1);
    assert_eq!(comment["reactions"]["-1"], 0);
    assert!(fake.reactions(OWNER, REPO, other).is_empty());

    let bad = post(&fake, &path, ACTIONS, &json!({"content": "thumbsup"}));
    assert_eq!(bad.status, 422);
    assert_eq!(bad.message(), "Validation Failed");
    let missing = post(
        &fake,
        &repo_path("issues/comments/1/reactions"),
        ACTIONS,
        &json!({"content": "eyes"}),
    );
    assert_eq!(missing.status, 404);
    fake.set_read_only(ACTIONS, true);
    let ro = post(&fake, &path, ACTIONS, &json!({"content": "-1"}));
    assert_eq!(ro.status, 403);
    assert_eq!(ro.message(), "Resource not accessible by integration");
    fake.set_read_only(ACTIONS, false);

    // Only the reaction's own account may take it back.
    let mine = e["id"].as_u64().expect("id");
    let theirs = request(&fake, "DELETE", &format!("{path}/{mine}"), PAT, None);
    assert_eq!(theirs.status, 403);
    let gone = request(&fake, "DELETE", &format!("{path}/{mine}"), ACTIONS, None);
    assert_eq!(gone.status, 204);
    assert_eq!(fake.reactions(OWNER, REPO, id).len(), 2);
}

#[test]
fn commit_statuses_list_newest_first_and_combine_per_context() {
    let fake = setup();
    let sha = FakeGitHub::sha("head-7");
    let path = repo_path(&format!("statuses/{sha}"));
    let created = post(
        &fake,
        &path,
        ACTIONS,
        &json!({"state": "pending", "context": "alchemy-ci/preview",
                "target_url": "https://ci.example/run/1", "description": "Deploying"}),
    );
    assert_eq!(created.status, 201);
    let s = created.json();
    for k in [
        "url",
        "avatar_url",
        "id",
        "node_id",
        "state",
        "description",
        "target_url",
        "context",
        "created_at",
        "updated_at",
        "creator",
    ] {
        assert!(s.get(k).is_some(), "status lacks {k}: {s}");
    }
    assert_eq!(
        created.header("location"),
        s["url"].as_str(),
        "location names the new status"
    );
    let ok = |body: Value| post(&fake, &path, ACTIONS, &body).status;
    assert_eq!(
        ok(json!({"state": "success", "context": "alchemy-ci/preview"})),
        201
    );
    assert_eq!(
        ok(json!({"state": "failure", "context": "alchemy-ci/preview/api"})),
        201
    );
    assert_eq!(ok(json!({"state": "success"})), 201, "context defaults");

    let listed = get(
        &fake,
        &repo_path(&format!("commits/{sha}/statuses")),
        ACTIONS,
    )
    .json();
    let seen: Vec<(&str, &str)> = listed
        .as_array()
        .expect("array")
        .iter()
        .map(|s| {
            (
                s["context"].as_str().unwrap_or(""),
                s["state"].as_str().unwrap_or(""),
            )
        })
        .collect();
    assert_eq!(
        seen,
        [
            ("default", "success"),
            ("alchemy-ci/preview/api", "failure"),
            ("alchemy-ci/preview", "success"),
            ("alchemy-ci/preview", "pending"),
        ],
        "newest first"
    );
    // A branch name resolves to its head.
    let by_branch = get(&fake, &repo_path("commits/pr-7/statuses"), ACTIONS).json();
    assert_eq!(by_branch.as_array().map(Vec::len), Some(4));

    let combined = get(&fake, &repo_path(&format!("commits/{sha}/status")), ACTIONS).json();
    assert_eq!(combined["state"], "failure");
    assert_eq!(combined["total_count"], 3, "the latest per context");
    assert_eq!(combined["sha"], sha);
    assert!(combined["repository"]["full_name"].is_string());
    let none = get(
        &fake,
        &repo_path(&format!("commits/{}/status", FakeGitHub::sha("x"))),
        ACTIONS,
    )
    .json();
    assert_eq!(none["state"], "pending", "no status at all is pending");

    let long = "d".repeat(141);
    assert_eq!(ok(json!({"state": "success", "description": long})), 422);
    assert_eq!(
        ok(json!({"state": "success", "description": "d".repeat(140)})),
        201
    );
    assert_eq!(ok(json!({"state": "done"})), 422);
    assert_eq!(ok(json!({})), 422);
    let bad_sha = post(
        &fake,
        &repo_path("statuses/not-a-sha"),
        ACTIONS,
        &json!({"state": "success"}),
    );
    assert_eq!(bad_sha.status, 422);
    assert_eq!(bad_sha.message(), "No commit found for SHA: not-a-sha");
    assert_eq!(
        get(
            &fake,
            &repo_path("commits/no-such-branch/statuses"),
            ACTIONS
        )
        .status,
        404
    );
    assert_eq!(fake.commit_statuses(OWNER, REPO, &sha).len(), 5);
}

#[test]
fn a_token_without_statuses_write_gets_403_and_can_still_comment() {
    let fake = setup();
    let sha = FakeGitHub::sha("head-7");
    fake.deny_scope(ACTIONS, "statuses");
    let r = post(
        &fake,
        &repo_path(&format!("statuses/{sha}")),
        ACTIONS,
        &json!({"state": "success"}),
    );
    assert_eq!(r.status, 403);
    assert_eq!(r.message(), "Resource not accessible by integration");
    let c = post(
        &fake,
        &repo_path("issues/7/comments"),
        ACTIONS,
        &json!({"body": "still allowed"}),
    );
    assert_eq!(c.status, 201);
    assert!(fake.commit_statuses(OWNER, REPO, &sha).is_empty());
    // A fork's read-only token cannot write statuses either.
    fake.set_read_only(PAT, true);
    let ro = post(
        &fake,
        &repo_path(&format!("statuses/{sha}")),
        PAT,
        &json!({"state": "success"}),
    );
    assert_eq!(ro.status, 403);
}

#[test]
fn a_thousand_statuses_per_context_and_no_more() {
    let fake = setup();
    let sha = FakeGitHub::sha("busy");
    let path = repo_path(&format!("statuses/{sha}"));
    let started = Instant::now();
    for _ in 0..1000 {
        let r = post(
            &fake,
            &path,
            ACTIONS,
            &json!({"state": "pending", "context": "c"}),
        );
        assert_eq!(r.status, 201);
    }
    let over = post(
        &fake,
        &path,
        ACTIONS,
        &json!({"state": "pending", "context": "C"}),
    );
    assert_eq!(over.status, 422, "contexts are not case sensitive");
    assert_eq!(
        post(
            &fake,
            &path,
            ACTIONS,
            &json!({"state": "pending", "context": "d"})
        )
        .status,
        201
    );
    eprintln!("1002 status requests took {:?}", started.elapsed());
}

fn deploy(fake: &FakeGitHub, body: &Value) -> u64 {
    let r = post(fake, &repo_path("deployments"), ACTIONS, body);
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
    r.json()["id"].as_u64().expect("id")
}

fn set_state(fake: &FakeGitHub, id: u64, state: &str) {
    let r = post(
        fake,
        &repo_path(&format!("deployments/{id}/statuses")),
        ACTIONS,
        &json!({"state": state}),
    );
    assert_eq!(r.status, 201);
}

fn latest(fake: &FakeGitHub, id: u64) -> String {
    fake.deployments(OWNER, REPO)
        .iter()
        .find(|d| d.id == id)
        .and_then(|d| d.latest_state().map(str::to_owned))
        .unwrap_or_default()
}

#[test]
fn environments_are_created_by_deployments() {
    let fake = setup();
    let sha = FakeGitHub::sha("head-7");
    for env in ["preview", "Preview", "pr-7"] {
        deploy(
            &fake,
            &json!({"ref": sha, "environment": env, "required_contexts": []}),
        );
    }
    assert_eq!(fake.environments(OWNER, REPO), ["pr-7", "preview"]);
    let listed = get(&fake, &repo_path("environments"), ACTIONS).json();
    assert_eq!(listed["total_count"], 2);
    let names: Vec<&str> = listed["environments"]
        .as_array()
        .expect("array")
        .iter()
        .filter_map(|e| e["name"].as_str())
        .collect();
    assert_eq!(names, ["pr-7", "preview"]);
    for k in [
        "id",
        "node_id",
        "name",
        "url",
        "html_url",
        "created_at",
        "updated_at",
    ] {
        assert!(listed["environments"][0].get(k).is_some(), "lacks {k}");
    }
}

/// PR 7 and PR 8 share the `preview` environment. Their deployments are
/// transient, so GitHub's auto_inactive (on by default) leaves each one's
/// success alone; marking PR 7's inactive when it closes leaves PR 8's
/// active. The same with non-transient deployments shows why they must be
/// transient.
#[test]
fn a_shared_environment_keeps_each_prs_deployment_active() {
    let fake = setup();
    let mk = |pr: u64, transient: bool| {
        deploy(
            &fake,
            &json!({"ref": FakeGitHub::sha(&format!("head-{pr}")), "environment": "preview",
                    "task": format!("deploy:pr-{pr}"), "transient_environment": transient,
                    "production_environment": false, "required_contexts": [],
                    "payload": {"alchemy-ci": {"stage": format!("pr-{pr}"), "pr": pr}}}),
        )
    };
    let d7 = mk(7, true);
    set_state(&fake, d7, "success");
    let d8 = mk(8, true);
    set_state(&fake, d8, "success");
    assert_eq!(
        latest(&fake, d7),
        "success",
        "PR 8's success left PR 7 active"
    );
    assert_eq!(latest(&fake, d8), "success");

    // The list filters on task, so one PR's deployments are read alone.
    let only7 = get(
        &fake,
        &repo_path("deployments?environment=preview&task=deploy%3Apr-7"),
        ACTIONS,
    )
    .json();
    let ids: Vec<u64> = only7
        .as_array()
        .expect("array")
        .iter()
        .filter_map(|d| d["id"].as_u64())
        .collect();
    assert_eq!(ids, [d7]);
    assert_eq!(only7[0]["payload"]["alchemy-ci"]["stage"], "pr-7");

    // PR 7 closes.
    set_state(&fake, d7, "inactive");
    assert_eq!(latest(&fake, d7), "inactive");
    assert_eq!(latest(&fake, d8), "success");
    assert_eq!(fake.environments(OWNER, REPO), ["preview"]);

    // Non-transient, the next success in the environment marks the
    // other PR's deployment inactive.
    let n7 = mk(7, false);
    set_state(&fake, n7, "success");
    let n8 = mk(8, false);
    set_state(&fake, n8, "success");
    assert_eq!(latest(&fake, n7), "inactive");
}
