//! Self-tests of the fake GitHub API: they talk to it over real HTTP with a
//! minimal client and check that it behaves as GitHub's documentation says
//! GitHub does, so that client tests against it mean something.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::fake_github::{
    FakeGitHub, Fault, PullSpec, PullState, TokenKind, WorkflowRun, ACTIONS_BOT, MAX_COMMENT_CHARS,
    MAX_STATUS_DESCRIPTION_CHARS,
};

const OWNER: &str = "acme";
const REPO: &str = "app";
const PAT: &str = "ghp_user_token";
const ACTIONS: &str = "ghs_actions_token";

/// A response as the minimal client read it.
struct Resp {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Resp {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "body is not JSON ({e}): {}",
                String::from_utf8_lossy(&self.body)
            )
        })
    }

    fn message(&self) -> String {
        self.json()["message"]
            .as_str()
            .unwrap_or_default()
            .to_string()
    }

    /// The URL of relation `rel` in the `Link` header.
    fn link(&self, rel: &str) -> Option<String> {
        let link = self.header("link")?;
        link.split(", ").find_map(|part| {
            let (url, r) = part.split_once(">; rel=\"")?;
            (r.trim_end_matches('"') == rel).then(|| url.trim_start_matches('<').to_string())
        })
    }
}

/// One HTTP/1.1 request on a fresh connection (`Connection: close`).
/// `target` is a path with query, or an absolute URL on the fake (as found
/// in `Link` headers).
fn call(
    fake: &FakeGitHub,
    method: &str,
    target: &str,
    auth: Option<&str>,
    body: Option<&Value>,
) -> Resp {
    let path = target.strip_prefix(fake.url()).unwrap_or(target);
    let host = fake.url().trim_start_matches("http://");
    let mut stream = TcpStream::connect(host).expect("connect to the fake");
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .expect("read timeout");
    let payload = body.map(Value::to_string).unwrap_or_default();
    let mut head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\nUser-Agent: selftest\r\nAccept: application/vnd.github+json\r\nContent-Length: {}\r\n",
        payload.len()
    );
    if body.is_some() {
        head.push_str("Content-Type: application/json\r\n");
    }
    if let Some(a) = auth {
        head.push_str(&format!("Authorization: {a}\r\n"));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes()).expect("send head");
    stream.write_all(payload.as_bytes()).expect("send body");
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).expect("read response");
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("response has a header block");
    let head = String::from_utf8_lossy(&raw[..split]).into_owned();
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .and_then(|s| s.parse().ok())
        .expect("status line");
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    Resp {
        status,
        headers,
        body: raw[split + 4..].to_vec(),
    }
}

fn bearer(token: &str) -> String {
    format!("Bearer {token}")
}

fn get(fake: &FakeGitHub, target: &str, token: &str) -> Resp {
    call(fake, "GET", target, Some(&bearer(token)), None)
}

fn send(fake: &FakeGitHub, method: &str, target: &str, token: &str, body: &Value) -> Resp {
    call(fake, method, target, Some(&bearer(token)), Some(body))
}

/// A fake with a user token, an Actions token and open PR #7.
fn setup() -> FakeGitHub {
    let fake = FakeGitHub::start();
    fake.add_token(PAT, "octocat", TokenKind::User);
    fake.add_token(ACTIONS, ACTIONS_BOT, TokenKind::Installation);
    fake.set_pull(OWNER, REPO, 7, PullState::Open, &FakeGitHub::sha("head-7"));
    fake
}

fn comments_path(n: u64) -> String {
    format!("/repos/{OWNER}/{REPO}/issues/{n}/comments")
}

fn comment_path(id: u64) -> String {
    format!("/repos/{OWNER}/{REPO}/issues/comments/{id}")
}

fn assert_keys(v: &Value, keys: &[&str], what: &str) {
    for k in keys {
        assert!(v.get(k).is_some(), "{what} lacks required {k:?}: {v:#}");
    }
}

fn assert_iso8601(s: &str) {
    let b = s.as_bytes();
    let ok = b.len() == 20
        && b.iter().enumerate().all(|(i, c)| match i {
            4 | 7 => *c == b'-',
            10 => *c == b'T',
            13 | 16 => *c == b':',
            19 => *c == b'Z',
            _ => c.is_ascii_digit(),
        });
    assert!(ok, "not an ISO 8601 UTC timestamp: {s:?}");
}

/// `required` of GitHub's `simple-user` schema.
const SIMPLE_USER: &[&str] = &[
    "avatar_url",
    "events_url",
    "followers_url",
    "following_url",
    "gists_url",
    "gravatar_id",
    "html_url",
    "id",
    "node_id",
    "login",
    "organizations_url",
    "received_events_url",
    "repos_url",
    "site_admin",
    "starred_url",
    "subscriptions_url",
    "type",
    "url",
];

#[test]
fn comments_page_with_link_headers_like_github() {
    let fake = setup();
    let seeded = fake.seed_comments(OWNER, REPO, 7, "someone", 250);
    let repo_id = fake.add_repo(OWNER, REPO);
    let base = format!("{}/repositories/{repo_id}/issues/7/comments", fake.url());

    let first = get(&fake, &format!("{}?per_page=100", comments_path(7)), PAT);
    assert_eq!(first.status, 200);
    assert_eq!(
        first.header("link"),
        Some(
            format!(
                "<{base}?per_page=100&page=2>; rel=\"next\", <{base}?per_page=100&page=3>; rel=\"last\""
            )
            .as_str()
        )
    );
    let second = get(&fake, &first.link("next").expect("next"), PAT);
    assert_eq!(
        second.header("link"),
        Some(
            format!(
                "<{base}?per_page=100&page=1>; rel=\"prev\", <{base}?per_page=100&page=3>; rel=\"next\", <{base}?per_page=100&page=3>; rel=\"last\", <{base}?per_page=100&page=1>; rel=\"first\""
            )
            .as_str()
        )
    );
    let third = get(&fake, &second.link("next").expect("next"), PAT);
    assert_eq!(third.status, 200);
    assert_eq!(third.link("next"), None, "the last page has no next");
    assert_eq!(third.link("last"), None);
    assert!(third.link("prev").is_some() && third.link("first").is_some());

    let mut ids = Vec::new();
    for page in [&first, &second, &third] {
        for c in page.json().as_array().expect("array") {
            ids.push(c["id"].as_u64().expect("id"));
        }
    }
    assert_eq!(ids.len(), 250);
    assert_eq!(ids, seeded, "oldest first, nothing lost or repeated");
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "ids increase");
    assert_eq!(third.json().as_array().map(Vec::len), Some(50));

    // Defaults: 30 per page; per_page is capped at 100; past the end is empty.
    let default = get(&fake, &comments_path(7), PAT);
    assert_eq!(default.json().as_array().map(Vec::len), Some(30));
    assert_eq!(
        default.link("last"),
        Some(format!("{base}?page=9")),
        "per_page only appears in Link when it was sent"
    );
    let capped = get(&fake, &format!("{}?per_page=500", comments_path(7)), PAT);
    assert_eq!(capped.json().as_array().map(Vec::len), Some(100));
    let beyond = get(
        &fake,
        &format!("{}?per_page=100&page=4", comments_path(7)),
        PAT,
    );
    assert_eq!(beyond.status, 200);
    assert_eq!(beyond.json(), json!([]));

    // A page that holds everything has no Link header at all.
    fake.set_pull(OWNER, REPO, 8, PullState::Open, &FakeGitHub::sha("head-8"));
    fake.seed_comments(OWNER, REPO, 8, "someone", 3);
    let small = get(&fake, &comments_path(8), PAT);
    assert_eq!(small.header("link"), None);
    assert_eq!(small.json().as_array().map(Vec::len), Some(3));
    // An issue that does not exist is 404.
    assert_eq!(get(&fake, &comments_path(99), PAT).status, 404);
}

#[test]
fn comment_create_edit_delete() {
    let fake = setup();
    let created = send(
        &fake,
        "POST",
        &comments_path(7),
        PAT,
        &json!({"body": "first"}),
    );
    assert_eq!(created.status, 201);
    let c = created.json();
    assert_keys(
        &c,
        &[
            "id",
            "node_id",
            "html_url",
            "issue_url",
            "user",
            "url",
            "created_at",
            "updated_at",
            "body",
            "author_association",
            "reactions",
        ],
        "issue-comment",
    );
    assert_keys(&c["user"], SIMPLE_USER, "simple-user");
    assert_eq!(c["user"]["login"], "octocat");
    assert_eq!(c["user"]["type"], "User");
    assert_eq!(c["body"], "first");
    assert_iso8601(c["created_at"].as_str().expect("created_at"));
    let id = c["id"].as_u64().expect("id");
    assert!(id > u64::from(u32::MAX) / 2, "ids are as large as GitHub's");
    assert_eq!(
        created.header("location"),
        Some(format!("{}{}", fake.url(), comment_path(id)).as_str())
    );
    assert!(c["html_url"]
        .as_str()
        .expect("html_url")
        .ends_with(&format!("/{OWNER}/{REPO}/pull/7#issuecomment-{id}")));

    let patched = send(
        &fake,
        "PATCH",
        &comment_path(id),
        PAT,
        &json!({"body": "second"}),
    );
    assert_eq!(patched.status, 200);
    assert_eq!(patched.json()["body"], "second");
    // octocrab's update_comment sends POST; GitHub accepts it as an edit.
    let posted = send(
        &fake,
        "POST",
        &comment_path(id),
        PAT,
        &json!({"body": "third"}),
    );
    assert_eq!(posted.status, 200);
    assert_eq!(posted.json()["id"].as_u64(), Some(id));
    assert_eq!(get(&fake, &comment_path(id), PAT).json()["body"], "third");
    let stored = fake.comments(OWNER, REPO, 7);
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0].body, "third");
    assert_eq!(stored[0].author, "octocat");

    let deleted = call(&fake, "DELETE", &comment_path(id), Some(&bearer(PAT)), None);
    assert_eq!(deleted.status, 204);
    assert!(deleted.body.is_empty());
    assert_eq!(get(&fake, &comment_path(id), PAT).status, 404);
    assert!(fake.comments(OWNER, REPO, 7).is_empty());
}

#[test]
fn only_the_author_may_edit_or_delete() {
    let fake = setup();
    let theirs = fake.add_comment_as(
        OWNER,
        REPO,
        7,
        "someone-else[bot]",
        "<!-- alchemy-ci:pr-7 --> not ours",
    );
    for method in ["PATCH", "POST"] {
        let r = send(
            &fake,
            method,
            &comment_path(theirs),
            ACTIONS,
            &json!({"body": "taken over"}),
        );
        assert_eq!(r.status, 403, "{method}");
        assert_eq!(r.message(), "Resource not accessible by integration");
    }
    let r = send(
        &fake,
        "PATCH",
        &comment_path(theirs),
        PAT,
        &json!({"body": "taken over"}),
    );
    assert_eq!(r.status, 403);
    let r = call(
        &fake,
        "DELETE",
        &comment_path(theirs),
        Some(&bearer(PAT)),
        None,
    );
    assert_eq!(r.status, 403);
    let stored = fake.comments(OWNER, REPO, 7);
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0].body, "<!-- alchemy-ci:pr-7 --> not ours");
    // Someone else's bot is a Bot too, but not github-actions.
    let listed = get(&fake, &comments_path(7), ACTIONS).json();
    assert_eq!(listed[0]["user"]["login"], "someone-else[bot]");
    assert_eq!(listed[0]["user"]["type"], "Bot");
}

#[test]
fn missing_or_bad_credentials_are_401() {
    let fake = setup();
    let none = call(&fake, "GET", &comments_path(7), None, None);
    assert_eq!(none.status, 401);
    assert_eq!(none.message(), "Requires authentication");
    let bad = call(&fake, "GET", &comments_path(7), Some("Bearer nope"), None);
    assert_eq!(bad.status, 401);
    assert_eq!(bad.message(), "Bad credentials");
    assert_eq!(
        bad.json()["documentation_url"],
        "https://docs.github.com/rest"
    );
    let garbled = call(&fake, "GET", "/user", Some("Basic Zm9vOmJhcg=="), None);
    assert_eq!(garbled.status, 401);
    let post = call(
        &fake,
        "POST",
        &comments_path(7),
        Some("Bearer nope"),
        Some(&json!({"body": "x"})),
    );
    assert_eq!(post.status, 401);
    assert!(fake.comments(OWNER, REPO, 7).is_empty());
    // Both schemes GitHub accepts work.
    let token_scheme = call(&fake, "GET", "/user", Some(&format!("token {PAT}")), None);
    assert_eq!(token_scheme.status, 200);
    assert_eq!(token_scheme.json()["login"], "octocat");
}

#[test]
fn installation_token_is_github_actions_bot() {
    let fake = setup();
    let me = get(&fake, "/user", ACTIONS);
    assert_eq!(me.status, 403);
    assert_eq!(me.message(), "Resource not accessible by integration");
    assert_eq!(
        me.json()["documentation_url"],
        "https://docs.github.com/rest/users/users#get-the-authenticated-user"
    );
    let user = get(&fake, "/user", PAT);
    assert_eq!(user.status, 200);
    assert_keys(&user.json(), SIMPLE_USER, "private-user");
    assert_eq!(user.json()["login"], "octocat");

    let created = send(
        &fake,
        "POST",
        &comments_path(7),
        ACTIONS,
        &json!({"body": "preview"}),
    );
    assert_eq!(created.status, 201);
    let u = &created.json()["user"];
    assert_keys(u, SIMPLE_USER, "simple-user");
    assert_eq!(u["login"], "github-actions[bot]");
    assert_eq!(u["type"], "Bot");
    assert_eq!(u["id"], 41_898_282);
    assert_eq!(fake.comments(OWNER, REPO, 7)[0].author, ACTIONS_BOT);
    // The bot may edit what it wrote.
    let id = created.json()["id"].as_u64().expect("id");
    let edited = send(
        &fake,
        "PATCH",
        &comment_path(id),
        ACTIONS,
        &json!({"body": "updated"}),
    );
    assert_eq!(edited.status, 200);
}

#[test]
fn read_only_token_cannot_write() {
    let fake = setup();
    fake.set_read_only(ACTIONS, true);
    let r = send(
        &fake,
        "POST",
        &comments_path(7),
        ACTIONS,
        &json!({"body": "x"}),
    );
    assert_eq!(r.status, 403);
    assert_eq!(r.message(), "Resource not accessible by integration");
    let d = send(
        &fake,
        "POST",
        &format!("/repos/{OWNER}/{REPO}/deployments"),
        ACTIONS,
        &json!({"ref": "pr-7", "environment": "pr-7"}),
    );
    assert_eq!(d.status, 403);
    assert_eq!(
        get(&fake, &comments_path(7), ACTIONS).status,
        200,
        "reads still work"
    );
    assert!(fake.comments(OWNER, REPO, 7).is_empty());
    assert!(fake.deployments(OWNER, REPO).is_empty());
}

#[test]
fn comment_body_limit_is_65536_characters() {
    let fake = setup();
    let at_limit = "é".repeat(MAX_COMMENT_CHARS);
    let ok = send(
        &fake,
        "POST",
        &comments_path(7),
        PAT,
        &json!({"body": at_limit}),
    );
    assert_eq!(ok.status, 201, "the limit counts characters, not bytes");
    let id = ok.json()["id"].as_u64().expect("id");

    let over = "x".repeat(MAX_COMMENT_CHARS + 1);
    let r = send(
        &fake,
        "POST",
        &comments_path(7),
        PAT,
        &json!({"body": over}),
    );
    assert_eq!(r.status, 422);
    let v = r.json();
    assert_eq!(v["message"], "Validation Failed");
    assert_eq!(
        v["errors"][0],
        json!({"resource": "IssueComment", "code": "unprocessable", "field": "data",
               "message": "Body is too long (maximum is 65536 characters)"})
    );
    assert!(v["documentation_url"].is_string());
    let r = send(
        &fake,
        "PATCH",
        &comment_path(id),
        PAT,
        &json!({"body": over}),
    );
    assert_eq!(r.status, 422);
    assert_eq!(fake.comments(OWNER, REPO, 7).len(), 1);
    assert_eq!(fake.comments(OWNER, REPO, 7)[0].body, at_limit);

    let missing = send(&fake, "POST", &comments_path(7), PAT, &json!({}));
    assert_eq!(missing.status, 422);
    assert_eq!(
        missing.message(),
        "Invalid request.\n\n\"body\" wasn't supplied."
    );
    let garbage = call(&fake, "POST", &comments_path(7), Some(&bearer(PAT)), None);
    assert_eq!(garbage.status, 422);
}

#[test]
fn pulls_get_and_list() {
    let fake = setup();
    fake.put_pull(
        OWNER,
        REPO,
        PullSpec::new(8, &FakeGitHub::sha("head-8"))
            .head_ref("feature/x")
            .author("contributor")
            .head_in_fork("contributor")
            .draft(true),
    );
    fake.set_pull(
        OWNER,
        REPO,
        9,
        PullState::Merged,
        &FakeGitHub::sha("head-9"),
    );
    fake.set_pull(
        OWNER,
        REPO,
        10,
        PullState::Closed,
        &FakeGitHub::sha("head-10"),
    );

    let open = get(
        &fake,
        &format!("/repos/{OWNER}/{REPO}/pulls?state=open&per_page=100"),
        PAT,
    );
    assert_eq!(open.status, 200);
    let numbers: Vec<u64> = open
        .json()
        .as_array()
        .expect("array")
        .iter()
        .filter_map(|p| p["number"].as_u64())
        .collect();
    assert_eq!(numbers, vec![8, 7], "open only, newest first");
    let item = &open.json()[0];
    assert_keys(
        item,
        &[
            "url",
            "id",
            "node_id",
            "html_url",
            "diff_url",
            "patch_url",
            "issue_url",
            "commits_url",
            "review_comments_url",
            "review_comment_url",
            "comments_url",
            "statuses_url",
            "number",
            "state",
            "locked",
            "title",
            "user",
            "body",
            "labels",
            "milestone",
            "active_lock_reason",
            "created_at",
            "updated_at",
            "closed_at",
            "merged_at",
            "merge_commit_sha",
            "assignee",
            "assignees",
            "requested_reviewers",
            "requested_teams",
            "head",
            "base",
            "_links",
            "author_association",
            "auto_merge",
            "draft",
        ],
        "pull-request-simple",
    );
    assert!(
        item.get("merged").is_none(),
        "list items are pull-request-simple"
    );
    assert_eq!(item["draft"], true);
    assert_eq!(item["head"]["ref"], "feature/x");
    assert_eq!(item["head"]["sha"], FakeGitHub::sha("head-8"));
    assert_eq!(item["head"]["label"], "contributor:feature/x");
    assert_eq!(item["head"]["repo"]["full_name"], "contributor/app");
    assert_eq!(item["head"]["repo"]["fork"], true);
    assert_eq!(item["base"]["repo"]["full_name"], "acme/app");
    assert_eq!(item["base"]["ref"], "main");

    let closed = get(
        &fake,
        &format!("/repos/{OWNER}/{REPO}/pulls?state=closed"),
        PAT,
    )
    .json();
    assert_eq!(closed.as_array().map(Vec::len), Some(2));
    let all = get(
        &fake,
        &format!("/repos/{OWNER}/{REPO}/pulls?state=all&per_page=3"),
        PAT,
    );
    assert_eq!(all.json().as_array().map(Vec::len), Some(3));
    let rest = get(&fake, &all.link("next").expect("next page"), PAT);
    assert_eq!(rest.json().as_array().map(Vec::len), Some(1));
    assert_eq!(rest.json()[0]["number"], 7);
    let head = get(
        &fake,
        &format!("/repos/{OWNER}/{REPO}/pulls?head=contributor:feature/x"),
        PAT,
    );
    assert_eq!(head.json().as_array().map(Vec::len), Some(1));

    let merged = get(&fake, &format!("/repos/{OWNER}/{REPO}/pulls/9"), PAT);
    assert_eq!(merged.status, 200);
    let m = merged.json();
    assert_eq!(m["state"], "closed");
    assert_eq!(m["merged"], true);
    assert!(m["merged_at"].is_string());
    assert_keys(
        &m,
        &[
            "mergeable",
            "mergeable_state",
            "merged_by",
            "comments",
            "review_comments",
            "maintainer_can_modify",
            "commits",
            "additions",
            "deletions",
            "changed_files",
        ],
        "pull-request",
    );
    let closed = get(&fake, &format!("/repos/{OWNER}/{REPO}/pulls/10"), PAT).json();
    assert_eq!(closed["merged"], false);
    assert!(closed["merged_at"].is_null());
    assert!(closed["closed_at"].is_string());
    assert_eq!(
        get(&fake, &format!("/repos/{OWNER}/{REPO}/pulls/11"), PAT).status,
        404
    );
    assert_eq!(get(&fake, "/repos/acme/other/pulls", PAT).status, 404);
    // Names are case-insensitive, as on GitHub.
    assert_eq!(get(&fake, "/repos/ACME/App/pulls/7", PAT).status, 200);

    // Closing a PR shows up in the next read.
    fake.set_pull(
        OWNER,
        REPO,
        7,
        PullState::Closed,
        &FakeGitHub::sha("head-7"),
    );
    let again = get(&fake, &format!("/repos/{OWNER}/{REPO}/pulls"), PAT).json();
    assert_eq!(again.as_array().map(Vec::len), Some(1));
}

fn deploy(fake: &FakeGitHub, body: Value) -> Resp {
    send(
        fake,
        "POST",
        &format!("/repos/{OWNER}/{REPO}/deployments"),
        ACTIONS,
        &body,
    )
}

fn status(fake: &FakeGitHub, id: u64, body: Value) -> Resp {
    send(
        fake,
        "POST",
        &format!("/repos/{OWNER}/{REPO}/deployments/{id}/statuses"),
        ACTIONS,
        &body,
    )
}

#[test]
fn deployments_and_statuses() {
    let fake = setup();
    let sha = FakeGitHub::sha("head-7");
    let created = deploy(
        &fake,
        json!({"ref": sha, "environment": "pr-7", "transient_environment": true,
               "production_environment": false, "auto_merge": false, "required_contexts": [],
               "description": "Preview of #7", "payload": {"stage": "pr-7"}}),
    );
    assert_eq!(created.status, 201);
    let d = created.json();
    assert_keys(
        &d,
        &[
            "id",
            "node_id",
            "sha",
            "ref",
            "task",
            "environment",
            "creator",
            "payload",
            "description",
            "statuses_url",
            "repository_url",
            "url",
            "created_at",
            "updated_at",
        ],
        "deployment",
    );
    assert_eq!(d["sha"], sha);
    assert_eq!(d["task"], "deploy");
    assert_eq!(d["environment"], "pr-7");
    assert_eq!(d["transient_environment"], true);
    assert_eq!(d["payload"], json!({"stage": "pr-7"}));
    assert_eq!(d["creator"]["login"], ACTIONS_BOT);
    let id = d["id"].as_u64().expect("id");

    // A branch name resolves to its head; an unknown ref is 422.
    let by_branch = deploy(
        &fake,
        json!({"ref": "pr-7", "environment": "pr-7", "required_contexts": []}),
    );
    assert_eq!(by_branch.status, 201);
    assert_eq!(by_branch.json()["sha"], sha);
    let unknown = deploy(&fake, json!({"ref": "no-such-branch"}));
    assert_eq!(unknown.status, 422);
    assert_eq!(unknown.message(), "No ref found for: no-such-branch");
    let no_ref = deploy(&fake, json!({"environment": "pr-7"}));
    assert_eq!(no_ref.status, 422);

    let running = status(
        &fake,
        id,
        json!({"state": "in_progress", "log_url": "https://ci/run/1"}),
    );
    assert_eq!(running.status, 201);
    let s = running.json();
    assert_keys(
        &s,
        &[
            "id",
            "node_id",
            "state",
            "creator",
            "description",
            "deployment_url",
            "target_url",
            "repository_url",
            "url",
            "created_at",
            "updated_at",
        ],
        "deployment-status",
    );
    assert_eq!(
        s["target_url"], "https://ci/run/1",
        "log_url also sets target_url"
    );
    assert_eq!(s["environment"], "pr-7");
    let done = status(
        &fake,
        id,
        json!({"state": "success", "environment_url": "https://pr-7.example.dev",
               "description": "Deployed", "auto_inactive": false}),
    );
    assert_eq!(done.status, 201);
    assert_eq!(done.json()["environment_url"], "https://pr-7.example.dev");

    let list = get(
        &fake,
        &format!("/repos/{OWNER}/{REPO}/deployments/{id}/statuses"),
        ACTIONS,
    )
    .json();
    let states: Vec<&str> = list
        .as_array()
        .expect("array")
        .iter()
        .filter_map(|s| s["state"].as_str())
        .collect();
    assert_eq!(states, vec!["success", "in_progress"], "newest first");

    let long = "d".repeat(MAX_STATUS_DESCRIPTION_CHARS + 1);
    let too_long = status(&fake, id, json!({"state": "success", "description": long}));
    assert_eq!(too_long.status, 422);
    assert_eq!(too_long.message(), "Validation Failed");
    let exact = "d".repeat(MAX_STATUS_DESCRIPTION_CHARS);
    assert_eq!(
        status(&fake, id, json!({"state": "failure", "description": exact})).status,
        201
    );
    assert_eq!(status(&fake, id, json!({"state": "done"})).status, 422);
    assert_eq!(status(&fake, 1, json!({"state": "success"})).status, 404);
    assert_eq!(fake.deployments(OWNER, REPO)[0].statuses.len(), 3);

    // Listing: newest first, filtered by environment, paged.
    deploy(
        &fake,
        json!({"ref": sha, "environment": "pr-8", "required_contexts": []}),
    );
    let envs = get(
        &fake,
        &format!("/repos/{OWNER}/{REPO}/deployments?environment=pr-7"),
        ACTIONS,
    )
    .json();
    let ids: Vec<u64> = envs
        .as_array()
        .expect("array")
        .iter()
        .filter_map(|d| d["id"].as_u64())
        .collect();
    assert_eq!(ids.len(), 2);
    assert!(ids[0] > ids[1], "newest first");
    let paged = get(
        &fake,
        &format!("/repos/{OWNER}/{REPO}/deployments?per_page=1"),
        ACTIONS,
    );
    assert_eq!(paged.json().as_array().map(Vec::len), Some(1));
    assert!(paged
        .link("last")
        .expect("last")
        .ends_with("per_page=1&page=3"));
    assert_eq!(
        get(
            &fake,
            &format!("/repos/{OWNER}/{REPO}/deployments/{id}"),
            ACTIONS
        )
        .json()["id"]
            .as_u64(),
        Some(id)
    );

    // Required contexts cannot pass: there are no commit statuses.
    let ctx = deploy(&fake, json!({"ref": sha, "required_contexts": ["ci/test"]}));
    assert_eq!(ctx.status, 409);
}

#[test]
fn auto_inactive_follows_the_documented_rule() {
    let fake = setup();
    let sha = FakeGitHub::sha("head-7");
    let mk = |env: &str, transient: bool| -> u64 {
        let r = deploy(
            &fake,
            json!({"ref": sha, "environment": env, "transient_environment": transient, "required_contexts": []}),
        );
        assert_eq!(r.status, 201);
        r.json()["id"].as_u64().expect("id")
    };
    let latest = |id: u64| -> String {
        fake.deployments(OWNER, REPO)
            .iter()
            .find(|d| d.id == id)
            .and_then(|d| d.latest_state().map(str::to_string))
            .unwrap_or_default()
    };

    // Non-transient, non-production: a later success inactivates the older one.
    let a1 = mk("pr-1", false);
    assert_eq!(status(&fake, a1, json!({"state": "success"})).status, 201);
    let a2 = mk("pr-1", false);
    assert_eq!(
        status(&fake, a2, json!({"state": "in_progress"})).status,
        201
    );
    assert_eq!(latest(a1), "success", "only a success status inactivates");
    assert_eq!(status(&fake, a2, json!({"state": "success"})).status, 201);
    assert_eq!(latest(a1), "inactive");
    let auto = fake.deployments(OWNER, REPO)[0].statuses.clone();
    assert!(auto.last().is_some_and(|s| s.auto_inactivated));
    let listed = get(
        &fake,
        &format!("/repos/{OWNER}/{REPO}/deployments/{a1}/statuses"),
        ACTIONS,
    )
    .json();
    assert_eq!(
        listed[0]["state"], "inactive",
        "the added status is served too"
    );

    // auto_inactive: false leaves the older one alone.
    let a3 = mk("pr-1", false);
    assert_eq!(
        status(
            &fake,
            a3,
            json!({"state": "success", "auto_inactive": false})
        )
        .status,
        201
    );
    assert_eq!(latest(a2), "success");

    // Transient environments are not auto-inactivated: the client has to
    // mark old previews inactive itself.
    let t1 = mk("pr-2", true);
    status(&fake, t1, json!({"state": "success"}));
    let t2 = mk("pr-2", true);
    status(&fake, t2, json!({"state": "success"}));
    assert_eq!(latest(t1), "success");

    // Production environments neither; other environments are untouched;
    // a failed older deployment gets no inactive status.
    let p1 = mk("production", false);
    status(&fake, p1, json!({"state": "success"}));
    let f1 = mk("pr-3", false);
    status(&fake, f1, json!({"state": "failure"}));
    let p2 = mk("production", false);
    status(&fake, p2, json!({"state": "success"}));
    let f2 = mk("pr-3", false);
    status(&fake, f2, json!({"state": "success"}));
    assert_eq!(latest(p1), "success");
    assert_eq!(latest(f1), "failure");
    assert_eq!(latest(a3), "success", "pr-1 is another environment");

    // An inactive deployment can be deleted; an active one with siblings cannot.
    let del = |id: u64| {
        call(
            &fake,
            "DELETE",
            &format!("/repos/{OWNER}/{REPO}/deployments/{id}"),
            Some(&bearer(ACTIONS)),
            None,
        )
    };
    assert_eq!(del(a3).status, 422);
    assert_eq!(del(a1).status, 204);
    assert!(fake.deployments(OWNER, REPO).iter().all(|d| d.id != a1));
}

#[test]
fn each_fault_is_served_once_then_service_resumes() {
    let fake = setup();
    let path = comments_path(7);
    let check = |fault: Fault, expect: u16, extra: &dyn Fn(&Resp)| {
        fake.inject("GET", &path, vec![fault.clone()]);
        let started = Instant::now();
        let r = get(&fake, &path, PAT);
        assert_eq!(r.status, expect, "{fault:?}");
        assert_eq!(
            r.header("content-type"),
            Some("application/json; charset=utf-8"),
            "{fault:?}"
        );
        extra(&r);
        if let Fault::Slow(d) = fault {
            assert!(started.elapsed() >= d, "slow fault waited");
        }
        let again = get(&fake, &path, PAT);
        assert_eq!(again.status, 200, "after {fault:?}");
    };
    check(Fault::Status(502), 502, &|_| {});
    check(Fault::SecondaryRateLimit { retry_after: 1 }, 403, &|r| {
        assert_eq!(r.header("retry-after"), Some("1"));
        assert!(r
            .message()
            .starts_with("You have exceeded a secondary rate limit"));
        assert_ne!(r.header("x-ratelimit-remaining"), Some("0"));
    });
    check(Fault::RateLimitReset { reset_in: 2 }, 403, &|r| {
        assert_eq!(r.header("x-ratelimit-remaining"), Some("0"));
        let reset: u64 = r
            .header("x-ratelimit-reset")
            .and_then(|v| v.parse().ok())
            .expect("reset header");
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        assert!(
            (now + 1..=now + 3).contains(&reset),
            "reset {reset} ~ now {now} + 2"
        );
        assert!(r
            .message()
            .starts_with("API rate limit exceeded for user ID"));
    });
    check(Fault::TooMany { retry_after: 3 }, 429, &|r| {
        assert_eq!(r.header("retry-after"), Some("3"));
    });
    check(Fault::Slow(Duration::from_millis(300)), 200, &|_| {});
    check(Fault::Unauthorized, 401, &|r| {
        assert_eq!(r.message(), "Bad credentials");
    });

    // Faults queue in order and a failed write changes nothing.
    fake.inject(
        "POST",
        &path,
        vec![
            Fault::Status(502),
            Fault::SecondaryRateLimit { retry_after: 1 },
        ],
    );
    let body = json!({"body": "hello"});
    assert_eq!(send(&fake, "POST", &path, PAT, &body).status, 502);
    assert_eq!(send(&fake, "POST", &path, PAT, &body).status, 403);
    assert!(fake.comments(OWNER, REPO, 7).is_empty());
    assert_eq!(send(&fake, "POST", &path, PAT, &body).status, 201);
    assert_eq!(fake.comments(OWNER, REPO, 7).len(), 1);

    // A fault on a route prefix also hits pages fetched through Link URLs.
    fake.seed_comments(OWNER, REPO, 7, "someone", 40);
    let first = get(&fake, &path, PAT);
    fake.inject("GET", &path, vec![Fault::Status(500)]);
    assert_eq!(
        get(&fake, &first.link("next").expect("next"), PAT).status,
        500
    );
}

#[test]
fn requests_are_logged() {
    let fake = setup();
    fake.seed_comments(OWNER, REPO, 7, "someone", 35);
    let first = get(&fake, &comments_path(7), PAT);
    get(&fake, &first.link("next").expect("next"), PAT);
    get(
        &fake,
        &format!("/repos/{OWNER}/{REPO}/pulls?state=open&per_page=100"),
        PAT,
    );
    send(&fake, "POST", &comments_path(7), PAT, &json!({"body": "x"}));

    let log = fake.requests();
    assert_eq!(log.len(), 4);
    assert_eq!(log[0].method, "GET");
    assert_eq!(log[0].path, comments_path(7));
    assert!(
        log[1].path.starts_with("/repositories/"),
        "Link URLs are logged as sent"
    );
    assert_eq!(log[1].canonical_path, comments_path(7));
    assert_eq!(log[1].query, "page=2");
    assert_eq!(log[2].query, "state=open&per_page=100");
    assert_eq!(log[3].status, 201);
    assert_eq!(log[3].body, r#"{"body":"x"}"#);
    assert_eq!(fake.count_requests("GET", &comments_path(7)), 2);
    assert_eq!(
        fake.count_requests("GET", &format!("/repos/{OWNER}/{REPO}/pulls")),
        1
    );
    fake.clear_requests();
    assert!(fake.requests().is_empty());
}

#[test]
fn unknown_routes_are_404_and_every_response_has_github_headers() {
    let fake = setup();
    let nf = get(&fake, &format!("/repos/{OWNER}/{REPO}/branches"), PAT);
    assert_eq!(nf.status, 404);
    assert_eq!(nf.message(), "Not Found");
    assert!(nf.json()["documentation_url"].is_string());
    assert_eq!(get(&fake, "/nothing/here", PAT).status, 404);
    let wrong_method = call(
        &fake,
        "PUT",
        &comments_path(7),
        Some(&bearer(PAT)),
        Some(&json!({})),
    );
    assert_eq!(wrong_method.status, 404);

    let created = send(&fake, "POST", &comments_path(7), PAT, &json!({"body": "x"}));
    let id = created.json()["id"].as_u64().expect("id");
    let deleted = call(&fake, "DELETE", &comment_path(id), Some(&bearer(PAT)), None);
    let unauth = call(&fake, "GET", "/user", None, None);
    let ok = get(&fake, "/user", PAT);
    for r in [&nf, &created, &deleted, &unauth, &ok] {
        assert_eq!(
            r.header("content-type"),
            Some("application/json; charset=utf-8")
        );
        for h in [
            "x-ratelimit-limit",
            "x-ratelimit-remaining",
            "x-ratelimit-reset",
            "x-ratelimit-used",
            "x-ratelimit-resource",
        ] {
            assert!(r.header(h).is_some(), "{} lacks {h}", r.status);
        }
    }
    assert_eq!(ok.header("x-ratelimit-limit"), Some("5000"));
    let used: u64 = ok
        .header("x-ratelimit-used")
        .and_then(|v| v.parse().ok())
        .expect("used");
    let remaining: u64 = ok
        .header("x-ratelimit-remaining")
        .and_then(|v| v.parse().ok())
        .expect("remaining");
    assert_eq!(used + remaining, 5000);
    let actions = get(&fake, &comments_path(7), ACTIONS);
    assert_eq!(
        actions.header("x-ratelimit-limit"),
        Some("1000"),
        "GITHUB_TOKEN budget"
    );
    assert_eq!(unauth.header("x-ratelimit-limit"), Some("60"));
}

#[test]
fn concurrent_writes_get_distinct_increasing_ids() {
    let fake = setup();
    let ids: Vec<u64> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..8)
            .map(|i| {
                let fake = &fake;
                scope.spawn(move || {
                    let r = send(
                        fake,
                        "POST",
                        &comments_path(7),
                        PAT,
                        &json!({"body": format!("c{i}")}),
                    );
                    assert_eq!(r.status, 201);
                    r.json()["id"].as_u64().expect("id")
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("client thread"))
            .collect()
    });
    let mut sorted = ids.clone();
    sorted.sort_unstable();
    sorted.dedup();
    assert_eq!(sorted.len(), 8);
    let stored: Vec<u64> = fake.comments(OWNER, REPO, 7).iter().map(|c| c.id).collect();
    assert_eq!(stored, sorted, "stored oldest first, by increasing id");
}

/// Reads one response off a kept-alive connection, by its Content-Length.
fn read_one(stream: &mut TcpStream) -> (u16, Vec<u8>) {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        stream.read_exact(&mut byte).expect("read header byte");
        head.push(byte[0]);
    }
    let head = String::from_utf8_lossy(&head).into_owned();
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .expect("status");
    let len: usize = head
        .lines()
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case("content-length")
                .then(|| v.trim().parse().ok())
                .flatten()
        })
        .expect("content-length");
    let mut body = vec![0u8; len];
    stream.read_exact(&mut body).expect("read body");
    (status, body)
}

#[test]
fn serves_several_requests_on_one_kept_alive_connection() {
    // What hyper (under octocrab) does: HTTP/1.1 keep-alive.
    let fake = setup();
    let host = fake.url().trim_start_matches("http://").to_string();
    let mut stream = TcpStream::connect(&host).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    let body = json!({"body": "kept alive"}).to_string();
    let requests = [
        format!("GET /user HTTP/1.1\r\nHost: {host}\r\nauthorization: Bearer {PAT}\r\n\r\n"),
        format!(
            "POST {} HTTP/1.1\r\nHost: {host}\r\nauthorization: Bearer {PAT}\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
            comments_path(7),
            body.len()
        ),
        format!("GET {} HTTP/1.1\r\nHost: {host}\r\nauthorization: Bearer {PAT}\r\n\r\n", comments_path(7)),
    ];
    let mut statuses = Vec::new();
    for r in &requests {
        stream.write_all(r.as_bytes()).expect("send");
        statuses.push(read_one(&mut stream));
    }
    assert_eq!(
        statuses.iter().map(|(s, _)| *s).collect::<Vec<_>>(),
        vec![200, 201, 200]
    );
    let listed: Value = serde_json::from_slice(&statuses[2].1).expect("json");
    assert_eq!(listed[0]["body"], "kept alive");
}

#[test]
fn stops_serving_when_dropped() {
    let fake = FakeGitHub::start();
    let host = fake.url().trim_start_matches("http://").to_string();
    drop(fake);
    let answered = TcpStream::connect(&host).and_then(|mut s| {
        s.set_read_timeout(Some(Duration::from_secs(2)))?;
        s.write_all(b"GET /user HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")?;
        let mut buf = Vec::new();
        s.read_to_end(&mut buf)?;
        Ok(!buf.is_empty())
    });
    assert!(
        !matches!(answered, Ok(true)),
        "a dropped fake must not answer"
    );
}

#[test]
fn workflow_runs_are_served_in_their_documented_shape() {
    let fake = setup();
    fake.set_workflow_run(
        OWNER,
        REPO,
        WorkflowRun {
            id: 30_433_642,
            status: "completed".into(),
            conclusion: Some("cancelled".into()),
            run_attempt: 2,
        },
    );
    let r = get(
        &fake,
        &format!("/repos/{OWNER}/{REPO}/actions/runs/30433642"),
        ACTIONS,
    );
    assert_eq!(r.status, 200);
    let v = r.json();
    assert_keys(
        &v,
        &[
            "id",
            "node_id",
            "head_branch",
            "head_sha",
            "path",
            "run_number",
            "event",
            "display_title",
            "status",
            "conclusion",
            "workflow_id",
            "url",
            "html_url",
            "pull_requests",
            "created_at",
            "updated_at",
            "jobs_url",
            "logs_url",
            "check_suite_url",
            "artifacts_url",
            "cancel_url",
            "rerun_url",
            "workflow_url",
            "head_commit",
            "repository",
            "head_repository",
            "run_attempt",
        ],
        "workflow-run",
    );
    assert_eq!(v["status"], "completed");
    assert_eq!(v["conclusion"], "cancelled");
    assert_eq!(v["run_attempt"], 2);
    assert_iso8601(v["created_at"].as_str().expect("created_at"));
    let missing = get(
        &fake,
        &format!("/repos/{OWNER}/{REPO}/actions/runs/1"),
        ACTIONS,
    );
    assert_eq!(missing.status, 404);
}

#[test]
fn a_fault_after_applying_does_the_work_and_loses_the_answer() {
    let fake = setup();
    fake.inject(
        "POST",
        &format!("/repos/{OWNER}/{REPO}/deployments"),
        vec![Fault::StatusAfterApplying(502)],
    );
    let body = json!({"ref": FakeGitHub::sha("x"), "environment": "pr-1", "required_contexts": []});
    let r = deploy(&fake, body.clone());
    assert_eq!(r.status, 502);
    assert_eq!(fake.deployments(OWNER, REPO).len(), 1, "the work was done");
    let r = deploy(&fake, body);
    assert_eq!(r.status, 201);
    assert_eq!(fake.deployments(OWNER, REPO).len(), 2);
}
