//! Talking back on the pull request, against the fake GitHub over HTTP:
//! the sticky comment, deployments, retries, and the Actions outputs.

use std::time::{Duration, Instant};

use alchemy_ci::github::client::{Client, ForgeError, RetryPolicy};
use alchemy_ci::github::comment::marker;
use alchemy_ci::github::forge::{CommentWrite, Forge, GitHub};
use alchemy_ci::stage::{PrNumber, Stage, StagePrefix};

use crate::alchemy_e2e::App;
use crate::fake_github::{FakeGitHub, Fault, PullState, TokenKind, ACTIONS_BOT};
use crate::support::Output;

const OWNER: &str = "Codertocat";
const REPO: &str = "Hello-World";
const TOKEN: &str = "ghs_actions_token_for_tests";

fn quick() -> RetryPolicy {
    RetryPolicy {
        max_attempts: 5,
        max_wait: Duration::from_secs(20),
        backoff: Duration::from_millis(100),
        request_timeout: Duration::from_secs(10),
    }
}

fn github(fake: &FakeGitHub, token: &str) -> GitHub {
    let client = Client::new(fake.url(), token.to_owned().into(), quick()).expect("client");
    GitHub::new(client, &format!("{OWNER}/{REPO}")).expect("repo")
}

/// An installation token of a GitHub App other than Actions, as
/// `actions/create-github-app-token` makes.
const APP_TOKEN: &str = "ghs_app_installation_token";
const APP_BOT: &str = "my-app[bot]";
/// A personal access token.
const USER_TOKEN: &str = "ghp_personal_token";
const USER: &str = "deploy-bot";

fn fake() -> FakeGitHub {
    let fake = FakeGitHub::start();
    fake.add_token(TOKEN, ACTIONS_BOT, TokenKind::Installation);
    fake.add_token(APP_TOKEN, APP_BOT, TokenKind::Installation);
    fake.add_token(USER_TOKEN, USER, TokenKind::User);
    fake.add_repo(OWNER, REPO);
    fake
}

fn stage(s: &str) -> Stage {
    Stage::parse(s, &StagePrefix::default()).expect("stage")
}

fn pr(n: u64) -> PrNumber {
    PrNumber::new(n).expect("pr")
}

#[test]
fn our_comment_on_page_three_is_edited_not_duplicated() {
    let fake = fake();
    fake.add_issue(OWNER, REPO, 7);
    fake.seed_comments(OWNER, REPO, 7, "octocat", 220);
    let ours = fake.add_comment_as(
        OWNER,
        REPO,
        7,
        ACTIONS_BOT,
        &format!("{}\nold", marker(&stage("pr-7"))),
    );
    fake.seed_comments(OWNER, REPO, 7, "hubot", 29);
    let gh = github(&fake, TOKEN);
    let body = format!("{}\nnew body", marker(&stage("pr-7")));
    let wrote = gh
        .upsert_comment(pr(7), &stage("pr-7"), &body)
        .expect("upsert");
    assert_eq!(
        wrote,
        CommentWrite::Updated {
            id: ours,
            removed_duplicates: 0
        }
    );
    let all = fake.comments(OWNER, REPO, 7);
    assert_eq!(all.len(), 250);
    assert_eq!(
        all.iter()
            .filter(|c| c.body.contains("alchemy-ci:stage=pr-7"))
            .count(),
        1
    );
    assert!(all
        .iter()
        .any(|c| c.id == ours && c.body.ends_with("new body")));
    // Every page was read: 250 comments at 100 a page.
    assert_eq!(
        fake.count_requests("GET", &format!("/repos/{OWNER}/{REPO}/issues/7/comments")),
        3
    );
}

#[test]
fn duplicates_fold_into_the_oldest() {
    let fake = fake();
    fake.add_issue(OWNER, REPO, 8);
    let m = marker(&stage("pr-8"));
    let oldest = fake.add_comment_as(OWNER, REPO, 8, ACTIONS_BOT, &format!("{m}\none"));
    let newer = fake.add_comment_as(OWNER, REPO, 8, ACTIONS_BOT, &format!("{m}\ntwo"));
    let gh = github(&fake, TOKEN);
    let wrote = gh
        .upsert_comment(pr(8), &stage("pr-8"), &format!("{m}\nthree"))
        .expect("upsert");
    assert_eq!(
        wrote,
        CommentWrite::Updated {
            id: oldest,
            removed_duplicates: 1
        }
    );
    let all = fake.comments(OWNER, REPO, 8);
    assert_eq!(all.len(), 1);
    assert_eq!(all[0].id, oldest);
    assert!(all[0].body.ends_with("three"));
    assert!(!all.iter().any(|c| c.id == newer));
}

#[test]
fn a_marker_in_someone_elses_comment_is_never_edited() {
    let fake = fake();
    fake.add_issue(OWNER, REPO, 9);
    let m = marker(&stage("pr-9"));
    let theirs = fake.add_comment_as(OWNER, REPO, 9, "mallory", &format!("{m}\nquoting the bot"));
    // A stage whose name is a prefix of ours is a different stage.
    fake.add_comment_as(OWNER, REPO, 9, ACTIONS_BOT, &marker(&stage("pr-90")));
    let gh = github(&fake, TOKEN);
    let wrote = gh
        .upsert_comment(pr(9), &stage("pr-9"), &format!("{m}\nours"))
        .expect("upsert");
    assert!(matches!(wrote, CommentWrite::Created(_)), "{wrote:?}");
    let all = fake.comments(OWNER, REPO, 9);
    assert_eq!(all.len(), 3);
    let t = all
        .iter()
        .find(|c| c.id == theirs)
        .expect("theirs still there");
    assert!(t.body.ends_with("quoting the bot") && t.author == "mallory");
}

#[test]
fn a_personal_token_finds_comments_by_its_own_login() {
    let fake = fake();
    fake.add_token("ghp_user", "deploy-bot", TokenKind::User);
    fake.add_issue(OWNER, REPO, 10);
    let m = marker(&stage("pr-10"));
    let ours = fake.add_comment_as(OWNER, REPO, 10, "deploy-bot", &format!("{m}\nold"));
    let gh = github(&fake, "ghp_user");
    let wrote = gh
        .upsert_comment(pr(10), &stage("pr-10"), &format!("{m}\nnew"))
        .expect("upsert");
    assert_eq!(
        wrote,
        CommentWrite::Updated {
            id: ours,
            removed_duplicates: 0
        }
    );
}

/// Scenario: a workflow posts with a GitHub App's installation token
/// (`actions/create-github-app-token`). `/user` answers 403 as for the
/// Actions token, but the App writes as `my-app[bot]`: the token's account
/// comes from GraphQL's `viewer`, so the App's own comment is found and
/// edited instead of a new one being added on every run.
#[test]
fn an_app_installation_token_edits_its_own_comment() {
    let fake = fake();
    fake.add_issue(OWNER, REPO, 14);
    let m = marker(&stage("pr-14"));
    let ours = fake.add_comment_as(OWNER, REPO, 14, APP_BOT, &format!("{m}\nold"));
    // The Actions bot's comment for the same stage is not the App's.
    fake.add_comment_as(OWNER, REPO, 14, ACTIONS_BOT, &format!("{m}\nother bot"));
    let gh = github(&fake, APP_TOKEN);
    let wrote = gh
        .upsert_comment(pr(14), &stage("pr-14"), &format!("{m}\nnew"))
        .expect("upsert");
    assert_eq!(
        wrote,
        CommentWrite::Updated {
            id: ours,
            removed_duplicates: 0
        }
    );
    assert_eq!(fake.comments(OWNER, REPO, 14).len(), 2);
    assert_eq!(fake.count_requests("POST", "/graphql"), 1);
    assert_eq!(fake.count_requests("GET", "/user"), 0, "GraphQL answered");
    // The answer is kept for the rest of the run.
    gh.upsert_comment(pr(14), &stage("pr-14"), &format!("{m}\nnewer"))
        .expect("upsert");
    assert_eq!(fake.count_requests("POST", "/graphql"), 1);
}

/// Scenario: a host without GraphQL (here it answers 404): a personal
/// token is then looked up with `/user`.
#[test]
fn without_graphql_a_personal_token_is_looked_up_with_user() {
    let fake = fake();
    fake.add_issue(OWNER, REPO, 15);
    fake.inject("POST", "/graphql", vec![Fault::Status(404)]);
    let m = marker(&stage("pr-15"));
    let ours = fake.add_comment_as(OWNER, REPO, 15, USER, &format!("{m}\nold"));
    let wrote = github(&fake, USER_TOKEN)
        .upsert_comment(pr(15), &stage("pr-15"), &format!("{m}\nnew"))
        .expect("upsert");
    assert_eq!(
        wrote,
        CommentWrite::Updated {
            id: ours,
            removed_duplicates: 0
        }
    );
    assert_eq!(fake.count_requests("GET", "/user"), 1);
}

/// Scenario: a host where neither GraphQL nor `/user` says who an App's
/// installation token is. Without help the token is taken for the Actions
/// bot (so the App's comment is not found); with `comment-author` it is
/// found and edited, and GitHub is not asked at all.
#[test]
fn comment_author_names_the_account_where_neither_lookup_answers() {
    let fake = fake();
    fake.add_issue(OWNER, REPO, 16);
    let m = marker(&stage("pr-16"));
    let ours = fake.add_comment_as(OWNER, REPO, 16, APP_BOT, &format!("{m}\nold"));

    fake.inject("POST", "/graphql", vec![Fault::Status(404)]);
    let wrote = github(&fake, APP_TOKEN)
        .upsert_comment(pr(16), &stage("pr-16"), &format!("{m}\nguessed"))
        .expect("upsert");
    assert!(matches!(wrote, CommentWrite::Created(_)), "{wrote:?}");
    let guessed = fake.comments(OWNER, REPO, 16)[1].id;
    fake.clear_requests();

    let gh = github(&fake, APP_TOKEN).with_comment_author(Some(APP_BOT.to_owned()));
    let wrote = gh
        .upsert_comment(pr(16), &stage("pr-16"), &format!("{m}\nnamed"))
        .expect("upsert");
    // The App's comments: the old one kept, the guessed one folded into it.
    assert_eq!(
        wrote,
        CommentWrite::Updated {
            id: ours,
            removed_duplicates: 1
        }
    );
    assert!(!fake
        .comments(OWNER, REPO, 16)
        .iter()
        .any(|c| c.id == guessed));
    assert_eq!(fake.count_requests("POST", "/graphql"), 0);
    assert_eq!(fake.count_requests("GET", "/user"), 0);
}

#[test]
fn server_errors_and_rate_limits_are_retried_within_bounds() {
    let fake = fake();
    fake.add_issue(OWNER, REPO, 11);
    let path = format!("/repos/{OWNER}/{REPO}/issues/11/comments");
    fake.inject("POST", &path, vec![Fault::Status(502), Fault::Status(502)]);
    let gh = github(&fake, TOKEN);
    let m = marker(&stage("pr-11"));
    gh.upsert_comment(pr(11), &stage("pr-11"), &format!("{m}\nx"))
        .expect("succeeds on the third try");
    assert_eq!(fake.comments(OWNER, REPO, 11).len(), 1);

    fake.inject(
        "GET",
        &path,
        vec![Fault::SecondaryRateLimit { retry_after: 1 }],
    );
    let t = Instant::now();
    gh.upsert_comment(pr(11), &stage("pr-11"), &format!("{m}\ny"))
        .expect("waits, then succeeds");
    assert!(
        t.elapsed() >= Duration::from_secs(1),
        "did not honour retry-after"
    );
    assert!(fake.comments(OWNER, REPO, 11)[0].body.ends_with('y'));

    fake.inject(
        "GET",
        &path,
        vec![
            Fault::RateLimitReset { reset_in: 1 },
            Fault::TooMany { retry_after: 1 },
        ],
    );
    gh.upsert_comment(pr(11), &stage("pr-11"), &format!("{m}\nz"))
        .expect("waits for the reset");

    fake.inject("GET", &path, vec![Fault::Status(503); 10]);
    let err = gh
        .upsert_comment(pr(11), &stage("pr-11"), &format!("{m}\nw"))
        .expect_err("gives up");
    assert!(
        matches!(err, ForgeError::GaveUp { attempts: 5, .. }),
        "{err}"
    );
}

#[test]
fn a_bad_token_is_a_clear_immediate_error() {
    let fake = fake();
    fake.add_issue(OWNER, REPO, 12);
    let gh = github(&fake, "ghp_wrong");
    let t = Instant::now();
    let err = gh
        .upsert_comment(pr(12), &stage("pr-12"), "x")
        .expect_err("401");
    assert!(matches!(err, ForgeError::Unauthorized { .. }), "{err}");
    assert!(err.to_string().contains("github-token"), "{err}");
    assert!(
        t.elapsed() < Duration::from_secs(2),
        "a 401 must not be retried"
    );
}

/// One environment per stage, as deployments were made before shared ones.
fn per_stage() -> alchemy_ci::github::environment::EnvironmentRule {
    alchemy_ci::github::environment::EnvironmentRule::parse("{stage}").expect("rule")
}

#[test]
fn deployments_succeed_with_the_url_and_go_inactive_on_destroy() {
    let fake = fake();
    let gh = github(&fake, TOKEN);
    let sha = alchemy_ci::event::CommitSha::parse(&FakeGitHub::sha("x")).expect("sha");
    let id = gh
        .create_deployment(&per_stage(), &stage("pr-13"), None, &sha)
        .expect("create");
    gh.deployment_status(
        id,
        &alchemy_ci::github::forge::DeploymentStatus {
            state: "success",
            environment_url: Some("https://pr-13.example.test/".into()),
            log_url: Some("https://github.com/o/r/actions/runs/1".into()),
            description: "x".repeat(200),
        },
    )
    .expect("status; long descriptions are cut to GitHub's limit");
    let d = &fake.deployments(OWNER, REPO)[0];
    assert_eq!(d.environment, "pr-13");
    assert!(d.transient_environment);
    assert_eq!(d.latest_state(), Some("success"));
    assert_eq!(
        gh.deactivate_deployments(&per_stage(), &stage("pr-13"), None, "destroyed")
            .expect("deactivate"),
        1
    );
    assert_eq!(
        fake.deployments(OWNER, REPO)[0].latest_state(),
        Some("inactive")
    );
}

// End to end: `alchemy-ci run` with the real Alchemy, talking to the fake.

fn actions_env(app: &App, fake: &FakeGitHub) -> Vec<(String, String)> {
    let out = app.dir.path().join("github_output");
    let summary = app.dir.path().join("step_summary");
    vec![
        ("GITHUB_ACTIONS".into(), "true".into()),
        ("GITHUB_API_URL".into(), fake.url().to_owned()),
        ("GITHUB_SERVER_URL".into(), "https://github.com".into()),
        ("GITHUB_REPOSITORY".into(), format!("{OWNER}/{REPO}")),
        ("GITHUB_RUN_ID".into(), "4242".into()),
        ("GITHUB_OUTPUT".into(), out.display().to_string()),
        ("GITHUB_STEP_SUMMARY".into(), summary.display().to_string()),
        ("INPUT_GITHUB-TOKEN".into(), TOKEN.into()),
    ]
}

fn run(app: &App, fake: &FakeGitHub, event: &std::path::Path, extra: &[(&str, &str)]) -> Output {
    let env = actions_env(app, fake);
    let mut all: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    all.extend_from_slice(extra);
    // Each run starts with fresh file commands, as a new job step does.
    let _ = std::fs::remove_file(app.dir.path().join("github_output"));
    let _ = std::fs::remove_file(app.dir.path().join("step_summary"));
    app.run(event, &[], &all)
}

/// Parses the `name<<DELIM … DELIM` records of a GITHUB_OUTPUT file.
fn outputs(app: &App) -> std::collections::BTreeMap<String, String> {
    let text = std::fs::read_to_string(app.dir.path().join("github_output")).unwrap_or_default();
    let mut out = std::collections::BTreeMap::new();
    let mut lines = text.lines();
    while let Some(line) = lines.next() {
        let Some((name, delim)) = line.split_once("<<") else {
            continue;
        };
        let mut value = Vec::new();
        for l in lines.by_ref() {
            if l == delim {
                break;
            }
            value.push(l);
        }
        out.insert(name.to_owned(), value.join("\n"));
    }
    out
}

/// The sticky-comment scenario with the Actions token.
#[test]
fn a_pull_request_gets_one_comment_that_follows_it_from_deployed_to_destroyed() {
    sticky_comment_lifecycle(TOKEN, ACTIONS_BOT);
}

/// The sticky-comment scenario with a GitHub App's installation token,
/// which writes as `my-app[bot]` and gets 403 from `/user`.
#[test]
fn the_sticky_comment_with_an_app_installation_token() {
    sticky_comment_lifecycle(APP_TOKEN, APP_BOT);
}

/// The sticky-comment scenario with a personal access token.
#[test]
fn the_sticky_comment_with_a_personal_token() {
    sticky_comment_lifecycle(USER_TOKEN, USER);
}

/// A pull request opened, updated and closed, posted with `token`, whose
/// comments are authored by `author`: one comment, created on the first
/// run and edited in place by the others.
fn sticky_comment_lifecycle(token: &str, author: &str) {
    let fake = fake();
    let app = App::new();
    let as_token = [("INPUT_GITHUB-TOKEN", token)];
    let sha = FakeGitHub::sha("head-21");
    fake.set_pull(OWNER, REPO, 21, PullState::Open, &sha);
    let opened = app.event("opened", "opened", 21, &sha);
    let out = run(&app, &fake, &opened, &as_token);
    out.ok();
    let comments = fake.comments(OWNER, REPO, 21);
    assert_eq!(comments.len(), 1, "{}", out.context());
    let c = &comments[0];
    assert_eq!(c.author, author);
    assert!(c.body.starts_with("<!-- alchemy-ci:stage=pr-21 -->"));
    assert!(c.body.contains("Deployed"), "{}", c.body);
    assert!(
        c.body.contains(
            "[https\\://pr\\-21\\.web\\.example\\.test/](https://pr-21.web.example.test/)"
        ),
        "{}",
        c.body
    );
    assert!(c.body.contains(&format!("/commit/{sha}")));
    assert!(c
        .body
        .contains("https://github.com/Codertocat/Hello-World/actions/runs/4242"));

    let deployments = fake.deployments(OWNER, REPO);
    assert_eq!(deployments.len(), 1);
    let d = &deployments[0];
    // One shared environment; the stage is in the payload.
    assert_eq!(
        (d.environment.as_str(), d.sha.as_str()),
        ("preview", sha.as_str())
    );
    assert_eq!(d.payload["alchemy-ci"]["stage"], "pr-21");
    let last = d.statuses.last().expect("a status");
    assert_eq!(last.state, "success");
    assert_eq!(last.environment_url, "https://pr-21.web.example.test/");
    assert_eq!(
        d.statuses.first().map(|s| s.state.as_str()),
        Some("in_progress")
    );

    let o = outputs(&app);
    assert_eq!(o.get("stage").map(String::as_str), Some("pr-21"));
    assert_eq!(o.get("action").map(String::as_str), Some("deploy"));
    assert_eq!(o.get("result").map(String::as_str), Some("success"));
    assert_eq!(
        o.get("url").map(String::as_str),
        Some("https://pr-21.web.example.test/")
    );
    let urls: Vec<String> =
        serde_json::from_str(o.get("urls").map_or("null", String::as_str)).expect("urls is JSON");
    assert_eq!(urls, ["https://pr-21.web.example.test/"]);
    let summary = std::fs::read_to_string(app.dir.path().join("step_summary")).expect("summary");
    assert!(
        summary.contains("Deployed") && summary.contains("https://pr-21.web.example.test/"),
        "{summary}"
    );
    assert!(
        !summary.contains("<!--"),
        "the marker belongs to PR comments only"
    );

    let sha2 = FakeGitHub::sha("head-21b");
    fake.set_pull(OWNER, REPO, 21, PullState::Open, &sha2);
    let synced = app.event("sync", "synchronize", 21, &sha2);
    run(&app, &fake, &synced, &as_token).ok();
    let comments = fake.comments(OWNER, REPO, 21);
    assert_eq!(comments.len(), 1, "the same comment is updated");
    assert_eq!(comments[0].id, c.id);
    assert!(comments[0].body.contains(&format!("/commit/{sha2}")));

    fake.set_pull(OWNER, REPO, 21, PullState::Closed, &sha2);
    let closed = app.event("closed", "closed", 21, &sha2);
    run(&app, &fake, &closed, &as_token).ok();
    let comments = fake.comments(OWNER, REPO, 21);
    assert_eq!(comments.len(), 1, "the same comment is updated");
    assert_eq!(comments[0].id, c.id);
    assert_eq!(comments[0].author, author);
    assert!(
        comments[0].body.contains("Destroyed"),
        "{}",
        comments[0].body
    );
    assert!(
        comments[0].body.contains("e2e\\-app/pr\\-21/web"),
        "what was removed is listed\n{}",
        comments[0].body
    );
    assert_eq!(
        fake.deployments(OWNER, REPO)[0].latest_state(),
        Some("inactive")
    );
    assert_eq!(
        outputs(&app).get("action").map(String::as_str),
        Some("destroy")
    );
}

#[test]
fn a_stale_event_is_skipped_with_both_commits_named() {
    let fake = fake();
    let app = App::new();
    let (old, new) = (FakeGitHub::sha("old"), FakeGitHub::sha("new"));
    fake.set_pull(OWNER, REPO, 22, PullState::Open, &new);
    let out = run(
        &app,
        &fake,
        &app.event("sync", "synchronize", 22, &old),
        &[],
    );
    out.ok();
    assert!(
        out.stdout.contains("stale event")
            && out.stdout.contains(&old[..7])
            && out.stdout.contains(&new[..7]),
        "{}",
        out.context()
    );
    assert!(!app.store_path().join("stages/pr-22").exists());
    assert_eq!(
        outputs(&app).get("result").map(String::as_str),
        Some("skipped")
    );
}

#[test]
fn hostile_names_and_logs_render_inert_in_the_comment() {
    let fake = fake();
    let app = App::new();
    let sha = FakeGitHub::sha("head-23");
    fake.set_pull(OWNER, REPO, 23, PullState::Open, &sha);
    let out = run(
        &app,
        &fake,
        &app.event("opened", "opened", 23, &sha),
        &[
            ("FAIL", "1"),
            (
                "FAIL_MESSAGE",
                "<!-- alchemy-ci:stage=pr-1 --> <img src=x onerror=alert(1)>",
            ),
        ],
    );
    assert_eq!(out.code, 1, "{}", out.context());
    let body = &fake.comments(OWNER, REPO, 23)[0].body;
    assert!(body.contains("Deploy failed"), "{body}");
    assert_eq!(
        body.matches("<!--").count(),
        1,
        "a forged marker survived:\n{body}"
    );
    assert!(!body.contains("<img"), "{body}");
    assert!(
        body.contains("&lt;img src=x"),
        "the log is shown, escaped:\n{body}"
    );
    // The deploy failed, so its deployment did too; the comment failure path is not a crash.
    assert_eq!(
        fake.deployments(OWNER, REPO)[0].latest_state(),
        Some("failure")
    );
    assert_eq!(
        outputs(&app).get("result").map(String::as_str),
        Some("failure")
    );

    // A resource whose name is an attack (Alchemy refuses colons in ids,
    // so no `javascript:`): it shows in the URL table, inert.
    let evil = "](https//evil.test)<img/src=x/onerror=alert(1)>|";
    let out = run(
        &app,
        &fake,
        &app.event("sync", "synchronize", 23, &sha),
        &[("EXTRA_ID", evil)],
    );
    out.ok();
    let body = &fake.comments(OWNER, REPO, 23)[0].body;
    assert!(body.contains("| Resource | URL |"), "{body}");
    for bad in ["<img", "](https//evil", "alert(1)>|"] {
        assert!(!body.contains(bad), "{bad:?} survived:\n{body}");
    }
    let table_rows = body
        .lines()
        .filter(|l| l.starts_with("| ") && l.contains("example.test"))
        .count();
    let cells_per_row: Vec<usize> = body
        .lines()
        .filter(|l| l.starts_with("| ") && l.contains("example.test"))
        .map(|l| l.matches(" | ").count())
        .collect();
    assert!(
        table_rows >= 2 && cells_per_row.iter().all(|n| *n <= 2),
        "a name broke the table:\n{body}"
    );
}

#[test]
fn github_failures_never_fail_a_deploy() {
    let fake = fake();
    let app = App::new();
    let sha = FakeGitHub::sha("head-24");
    fake.set_pull(OWNER, REPO, 24, PullState::Open, &sha);
    // A read-only token (as a fork's): every write is refused.
    fake.set_read_only(TOKEN, true);
    let out = run(&app, &fake, &app.event("opened", "opened", 24, &sha), &[]);
    out.ok();
    assert_eq!(
        out.stdout.matches("::warning").count(),
        1,
        "one warning, not one per write\n{}",
        out.context()
    );
    assert_eq!(
        app.record("pr-24").status,
        alchemy_ci::record::RecordStatus::Deployed
    );
    assert_eq!(
        outputs(&app).get("result").map(String::as_str),
        Some("success")
    );

    // A rejected token: the run still deploys and says why nothing was posted.
    let out = run(
        &app,
        &fake,
        &app.event("sync", "synchronize", 24, &sha),
        &[("INPUT_GITHUB-TOKEN", "ghp_wrong")],
    );
    out.ok();
    assert!(
        out.stdout.contains("Bad credentials") || out.stderr.contains("401"),
        "{}",
        out.context()
    );
}

#[test]
fn a_merged_pr_links_the_stage_it_merged_into() {
    let fake = fake();
    let app = App::new();
    let sha = FakeGitHub::sha("merge");
    let mut push = crate::support::fixture("push.json");
    push["ref"] = serde_json::json!("refs/heads/master");
    push["after"] = serde_json::json!(sha);
    let push = app.dir.write_json("events/push.json", &push);
    let branches = [("INPUT_BRANCHES", "master:prod")];
    run(&app, &fake, &push, &branches).ok();

    fake.set_pull(OWNER, REPO, 25, PullState::Open, &sha);
    run(&app, &fake, &app.event("o", "opened", 25, &sha), &branches).ok();
    fake.set_pull(OWNER, REPO, 25, PullState::Merged, &sha);
    let mut closed: serde_json::Value =
        serde_json::from_slice(&std::fs::read(app.event("c", "closed", 25, &sha)).expect("read"))
            .expect("json");
    closed["pull_request"]["merged"] = serde_json::json!(true);
    let closed = app.dir.write_json("events/merged.json", &closed);
    run(&app, &fake, &closed, &branches).ok();
    let body = &fake.comments(OWNER, REPO, 25)[0].body;
    assert!(body.contains("Destroyed"), "{body}");
    assert!(
        body.contains("| **Merged into** | `prod` at [https\\://prod\\.web\\.example\\.test/](https://prod.web.example.test/) |"),
        "{body}"
    );
    assert!(
        !app.snapshot("prod").files.is_empty(),
        "the merge target is untouched"
    );
}
