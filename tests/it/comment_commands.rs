//! Comment commands, status checks, fork approval and shared deployment
//! environments, through the product's own decision functions and GitHub
//! calls against the fake GitHub over HTTP, driven by payloads built from
//! a real `issue_comment` webhook.

use std::path::Path;
use std::process::Command as Process;
use std::time::Duration;

use alchemy_ci::checkout::head_commit;
use alchemy_ci::event::{self, CommitSha, IssueComment, Login, NameHint, Payload};
use alchemy_ci::github::client::{Client, RetryPolicy};
use alchemy_ci::github::commands_api::{CommandsApi, StatusWrite};
use alchemy_ci::github::environment::EnvironmentRule;
use alchemy_ci::github::forge::{DeploymentStatus, Forge, GitHub};
use alchemy_ci::pr_command::approval::{check_checkout, fork_notice, Approval};
use alchemy_ci::pr_command::decide::{authorize, decide_comment, CommandPolicy, CommentDecision};
use alchemy_ci::pr_command::help::{help_markdown, HelpInput};
use alchemy_ci::pr_command::parse::{parse, CommandPrefix, Parsed};
use alchemy_ci::pr_command::permission::Permission;
use alchemy_ci::stage::{PrNumber, Stage, StagePrefix};
use alchemy_ci::status_check::{self, AppPhase, Phase};
use alchemy_ci::time::Timestamp;
use alchemy_ci::ttl;

use crate::fake_github::{FakeGitHub, PullSpec, PullState, TokenKind, ACTIONS_BOT};
use crate::injection::assert_inert_markdown;
use crate::support::{fixture, fixture_path};

const OWNER: &str = "Codertocat";
const REPO: &str = "Hello-World";
const TOKEN: &str = "ghs_actions_token_for_commands";
const RUN: &str = "https://github.com/Codertocat/Hello-World/actions/runs/42";

fn quick() -> RetryPolicy {
    RetryPolicy {
        max_attempts: 3,
        max_wait: Duration::from_secs(10),
        backoff: Duration::from_millis(50),
        request_timeout: Duration::from_secs(10),
    }
}

fn fake() -> FakeGitHub {
    let fake = FakeGitHub::start();
    fake.add_token(TOKEN, ACTIONS_BOT, TokenKind::Installation);
    fake.set_pull(OWNER, REPO, 1, PullState::Open, &FakeGitHub::sha("head-1"));
    fake
}

fn client(fake: &FakeGitHub) -> Client {
    Client::new(fake.url(), TOKEN.to_owned().into(), quick()).expect("client")
}

fn api(client: &Client) -> CommandsApi<'_> {
    CommandsApi::new(client, &format!("{OWNER}/{REPO}")).expect("api")
}

fn stage(s: &str) -> Stage {
    Stage::parse(s, &StagePrefix::default()).expect("stage")
}

fn sha(s: &str) -> CommitSha {
    CommitSha::parse(s).expect("sha")
}

/// The comment in a payload file under `tests/fixtures/webhooks/`.
fn comment_fixture(name: &str) -> IssueComment {
    let path = fixture_path(name);
    let bytes = std::fs::read(&path).expect("fixture");
    event::parse_comment(&path, &bytes).expect("a valid issue_comment payload")
}

/// A fixture's comment, as written on the fake by `login` (the payload of
/// that comment, with its id and author).
fn comment_on_fake(fake: &FakeGitHub, name: &str, login: &str, kind: &str) -> IssueComment {
    let mut v = fixture(name);
    let body = v["comment"]["body"].as_str().unwrap_or_default().to_owned();
    let id = fake.add_comment_as(OWNER, REPO, 1, login, &body);
    v["comment"]["id"] = id.into();
    v["comment"]["user"]["login"] = login.into();
    v["comment"]["user"]["type"] = kind.into();
    let bytes = serde_json::to_vec(&v).expect("json");
    event::parse_comment(Path::new(name), &bytes).expect("valid")
}

fn policy(prefix: &CommandPrefix) -> CommandPolicy<'_> {
    CommandPolicy {
        prefix,
        required: Permission::Write,
        apps: &[],
        ttl: Some(Duration::from_secs(14 * 86_400)),
    }
}

/// What a run does with a comment up to its reactions: decide, look up the
/// permission when needed, authorize, react at the start and, for a run
/// that went ahead, at the end (as if it succeeded).
fn react_to(api: &CommandsApi<'_>, c: &IssueComment, policy: &CommandPolicy<'_>) {
    let (login, request) = match decide_comment(c, policy) {
        CommentDecision::Ignore { .. } => return,
        d @ CommentDecision::Refuse { .. } => {
            let r = d.reaction().expect("a refusal reacts");
            api.react(c.comment_id, r).expect("react");
            return;
        }
        CommentDecision::CheckPermission { login, request } => (login, request),
    };
    let permission = api.permission(&login).expect("permission");
    let answer = authorize(&login, permission, &request, policy);
    api.react(c.comment_id, answer.first_reaction())
        .expect("react");
    if let Some(last) = answer.last_reaction(true) {
        api.react(c.comment_id, last).expect("react");
    }
}

#[test]
fn each_comment_payload_loads_and_is_decided_as_documented() {
    let prefix = CommandPrefix::default();
    let p = policy(&prefix);
    // (fixture, on a PR, decision)
    let table = [
        (
            "comments/issue_comment.created.pr-deploy.json",
            true,
            "check",
        ),
        (
            "comments/issue_comment.edited.pr-deploy.json",
            true,
            "ignore",
        ),
        (
            "comments/issue_comment.deleted.pr-deploy.json",
            true,
            "ignore",
        ),
        ("comments/issue_comment.created.pr-bot.json", true, "refuse"),
        (
            "comments/issue_comment.created.fork-pr-approval.json",
            true,
            "check",
        ),
        (
            "comments/issue_comment.created.issue-command.json",
            false,
            "ignore",
        ),
        (
            "comments/issue_comment.created.pr-hostile.json",
            true,
            "check",
        ),
        ("issue_comment.created.json", false, "ignore"),
    ];
    for (file, on_pr, want) in table {
        let hint = NameHint {
            flag: Some("issue_comment".into()),
            env: None,
        };
        let e = event::load(&fixture_path(file), &hint).expect(file);
        assert!(
            matches!(&e.payload, Payload::IssueComment(c) if c.on_pull_request == on_pr),
            "{file}: {:?}",
            e.payload
        );
        assert_eq!(e.repository.as_deref(), Some("Codertocat/Hello-World"));
        let c = comment_fixture(file);
        let got = match decide_comment(&c, &p) {
            CommentDecision::Ignore { .. } => "ignore",
            CommentDecision::Refuse { .. } => "refuse",
            CommentDecision::CheckPermission { .. } => "check",
        };
        assert_eq!(got, want, "{file}");
    }
    let c = comment_fixture("comments/issue_comment.created.pr-deploy.json");
    assert_eq!(c.comment_id, 492_700_400);
    assert_eq!(c.author.login.as_str(), "Codertocat");
    assert_eq!(c.author_association.as_deref(), Some("OWNER"));
}

/// Every permission level and a bot, on the fake: people with write or
/// more get 👀 then 🚀; everyone else gets exactly one 👎; a bot is
/// refused without asking GitHub who it is.
#[test]
fn every_permission_level_gets_its_reactions() {
    let fake = fake();
    fake.set_role(OWNER, REPO, "maintainer", "maintain");
    fake.set_role(OWNER, REPO, "writer", "write");
    fake.set_role(OWNER, REPO, "triager", "triage");
    fake.set_role(OWNER, REPO, "reader", "read");
    fake.add_user("stranger");
    let client = client(&fake);
    let api = api(&client);
    let prefix = CommandPrefix::default();
    let p = policy(&prefix);
    let deploy = "comments/issue_comment.created.pr-deploy.json";
    let table: &[(&str, &str, &[&str])] = &[
        (OWNER, "User", &["eyes", "rocket"]),
        ("maintainer", "User", &["eyes", "rocket"]),
        ("writer", "User", &["eyes", "rocket"]),
        ("triager", "User", &["-1"]),
        ("reader", "User", &["-1"]),
        ("stranger", "User", &["-1"]),
        ("ghost-account", "User", &["-1"]),
        ("dependabot[bot]", "Bot", &["-1"]),
    ];
    for (login, kind, want) in table {
        let c = comment_on_fake(&fake, deploy, login, kind);
        fake.clear_requests();
        react_to(&api, &c, &p);
        let got: Vec<String> = fake
            .reactions(OWNER, REPO, c.comment_id)
            .into_iter()
            .map(|r| r.content)
            .collect();
        assert_eq!(&got, want, "{login}");
        let asked = fake.count_requests("GET", &format!("/repos/{OWNER}/{REPO}/collaborators/"));
        assert_eq!(asked, usize::from(*kind != "Bot"), "{login}");
    }
    // A malformed command from someone allowed gets the help's 😕, and
    // from someone who is not, the same single 👎.
    let mut bad = comment_on_fake(&fake, deploy, "writer", "User");
    bad.body = "/alchemy deploi".into();
    react_to(&api, &bad, &p);
    let got: Vec<String> = fake
        .reactions(OWNER, REPO, bad.comment_id)
        .into_iter()
        .map(|r| r.content)
        .collect();
    assert_eq!(got, ["eyes", "confused"]);
    let mut bad = comment_on_fake(&fake, deploy, "reader", "User");
    bad.body = "/alchemy deploi".into();
    react_to(&api, &bad, &p);
    assert_eq!(fake.reactions(OWNER, REPO, bad.comment_id).len(), 1);
}

#[test]
fn edited_and_deleted_comments_do_nothing_at_all() {
    let fake = fake();
    let client = client(&fake);
    let api = api(&client);
    let prefix = CommandPrefix::default();
    for file in [
        "comments/issue_comment.edited.pr-deploy.json",
        "comments/issue_comment.deleted.pr-deploy.json",
        "comments/issue_comment.created.issue-command.json",
    ] {
        let c = comment_on_fake(&fake, file, OWNER, "User");
        fake.clear_requests();
        react_to(&api, &c, &policy(&prefix));
        assert!(fake.requests().is_empty(), "{file}: {:?}", fake.requests());
    }
}

#[test]
fn the_permission_call_reads_role_name_and_treats_404_as_none() {
    let fake = fake();
    fake.set_role(OWNER, REPO, "maintainer", "maintain");
    fake.set_role(OWNER, REPO, "triager", "triage");
    fake.set_custom_role(OWNER, REPO, "reviewer", "security-reviewer", "write");
    fake.set_custom_role(OWNER, REPO, "docs", "docs-team", "read");
    fake.add_user("stranger");
    let client = client(&fake);
    let api = api(&client);
    let table = [
        (OWNER, Permission::Admin),
        ("maintainer", Permission::Maintain),
        ("triager", Permission::Triage),
        ("reviewer", Permission::Write),
        ("docs", Permission::Read),
        ("stranger", Permission::None),
        ("no-such-account", Permission::None),
    ];
    for (login, want) in table {
        let login = Login::parse(login).expect("login");
        assert_eq!(api.permission(&login).expect("answer"), want, "{login}");
    }
}

/// The status-check transitions on the fake: deploy success, failure, a
/// PR that needs no preview, and a destroy that leaves the closed PR's
/// last status as it was.
#[test]
fn status_checks_through_a_deploy_a_failure_a_skip_and_a_destroy() {
    let fake = fake();
    let client = client(&fake);
    let api = api(&client);
    let pr1 = stage("pr-1");
    let post = |head: &CommitSha, phase: Phase| {
        for s in status_check::statuses(&pr1, Some(RUN), &[AppPhase { app: None, phase }]) {
            assert_eq!(
                api.set_status(head, &s).expect("status"),
                StatusWrite::Written
            );
        }
    };
    let latest = |head: &CommitSha| {
        fake.latest_commit_status(OWNER, REPO, head.as_str(), "alchemy-ci/preview")
            .expect("a status")
    };

    let a = sha(&FakeGitHub::sha("a"));
    post(&a, Phase::Deploying);
    assert_eq!(latest(&a).state, "pending");
    assert_eq!(latest(&a).target_url.as_deref(), Some(RUN));
    post(
        &a,
        Phase::Deployed {
            url: Some("https://pr-1.preview.example.test/".into()),
        },
    );
    assert_eq!(latest(&a).state, "success");
    assert_eq!(
        latest(&a).target_url.as_deref(),
        Some("https://pr-1.preview.example.test/")
    );

    let b = sha(&FakeGitHub::sha("b"));
    post(&b, Phase::Deploying);
    post(
        &b,
        Phase::Failed {
            error: Some("alchemy exited 1".into()),
        },
    );
    assert_eq!(latest(&b).state, "failure");
    assert_eq!(latest(&b).target_url.as_deref(), Some(RUN));
    assert_eq!(
        latest(&b).description.as_deref(),
        Some("Preview pr-1: failed: alchemy exited 1")
    );

    let c = sha(&FakeGitHub::sha("c"));
    post(
        &c,
        Phase::NotNeeded {
            reason: "draft pull request".into(),
        },
    );
    assert_eq!(latest(&c).state, "success");
    assert_eq!(
        latest(&c).description.as_deref(),
        Some("No preview needed: draft pull request")
    );

    // The PR closes and its preview is destroyed: the model posts nothing,
    // so the last commit keeps the failure it had.
    fake.set_pull(OWNER, REPO, 1, PullState::Closed, b.as_str());
    let before = fake.commit_statuses(OWNER, REPO, b.as_str());
    post(&b, Phase::Destroyed);
    assert_eq!(fake.commit_statuses(OWNER, REPO, b.as_str()), before);
    assert_eq!(latest(&b).state, "failure");

    // Several apps: one context each and the aggregate.
    let d = sha(&FakeGitHub::sha("d"));
    let apps = [
        AppPhase {
            app: Some("web"),
            phase: Phase::Deployed { url: None },
        },
        AppPhase {
            app: Some("api"),
            phase: Phase::Deploying,
        },
    ];
    for s in status_check::statuses(&pr1, Some(RUN), &apps) {
        api.set_status(&d, &s).expect("status");
    }
    let contexts: Vec<(String, String)> = fake
        .commit_statuses(OWNER, REPO, d.as_str())
        .into_iter()
        .map(|s| (s.context, s.state))
        .collect();
    assert_eq!(
        contexts,
        [
            ("alchemy-ci/preview/web".to_owned(), "success".to_owned()),
            ("alchemy-ci/preview/api".to_owned(), "pending".to_owned()),
            ("alchemy-ci/preview".to_owned(), "pending".to_owned()),
        ]
    );
}

#[test]
fn a_token_that_may_not_write_statuses_is_a_warning() {
    let fake = fake();
    fake.deny_scope(TOKEN, "statuses");
    let client = client(&fake);
    let api = api(&client);
    let s = &status_check::statuses(
        &stage("pr-1"),
        None,
        &[AppPhase {
            app: None,
            phase: Phase::Deploying,
        }],
    )[0];
    match api
        .set_status(&sha(&FakeGitHub::sha("a")), s)
        .expect("not an error")
    {
        StatusWrite::Forbidden { message } => {
            assert_eq!(message, "Resource not accessible by integration");
        }
        other => panic!("expected a 403 warning, got {other:?}"),
    }
    // Only once: a 403 is not retried.
    assert_eq!(
        fake.count_requests("POST", &format!("/repos/{OWNER}/{REPO}/statuses/")),
        1
    );
}

#[test]
fn the_pull_head_tells_a_fork_from_a_branch() {
    let fake = fake();
    fake.put_pull(
        OWNER,
        REPO,
        PullSpec::new(2, &FakeGitHub::sha("fork-head")).head_in_fork("outsider"),
    );
    fake.put_pull(
        OWNER,
        REPO,
        PullSpec::new(3, &FakeGitHub::sha("draft")).draft(true),
    );
    let client = client(&fake);
    let api = api(&client);
    let own = api.pull_head(PrNumber::new(1).expect("pr")).expect("pull");
    assert!(!own.from_fork && own.open && !own.draft);
    assert_eq!(own.sha.as_str(), FakeGitHub::sha("head-1"));
    let fork = api.pull_head(PrNumber::new(2).expect("pr")).expect("pull");
    assert!(fork.from_fork);
    assert_eq!(fork.sha.as_str(), FakeGitHub::sha("fork-head"));
    let draft = api.pull_head(PrNumber::new(3).expect("pr")).expect("pull");
    assert!(draft.draft && !draft.from_fork);
}

fn git(dir: &Path, args: &[&str]) -> String {
    let out = Process::new("git")
        .args(args)
        .current_dir(dir)
        .env("GIT_AUTHOR_NAME", "fork")
        .env("GIT_AUTHOR_EMAIL", "fork@example.invalid")
        .env("GIT_COMMITTER_NAME", "fork")
        .env("GIT_COMMITTER_EMAIL", "fork@example.invalid")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .output()
        .expect("git runs");
    assert!(out.status.success(), "git {args:?}: {out:?}");
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

/// Approve at SHA A, the fork pushes B, the run with B checked out
/// refuses; a new approval at B deploys B.
#[test]
fn an_approval_covers_only_the_commit_it_was_given_for() {
    let fake = fake();
    fake.set_role(OWNER, REPO, "maintainer", "maintain");
    let tmp = tempfile::tempdir().expect("tmp");
    let work = tmp.path();
    git(work, &["init", "-q", "-b", "feature"]);
    git(work, &["commit", "-q", "--allow-empty", "-m", "A"]);
    let a = git(work, &["rev-parse", "HEAD"]);
    fake.put_pull(OWNER, REPO, PullSpec::new(5, &a).head_in_fork("outsider"));
    let client = client(&fake);
    let api = api(&client);
    let pr = PrNumber::new(5).expect("pr");
    let by = Login::parse("maintainer").expect("login");

    // The comment's run reads the head and approves it.
    let head = api.pull_head(pr).expect("pull");
    assert!(head.from_fork);
    let approval = Approval {
        sha: head.sha,
        by: by.clone(),
    };
    // The fork pushes B before the deploy step checks out the PR's head.
    git(work, &["commit", "-q", "--allow-empty", "-m", "B"]);
    let b = git(work, &["rev-parse", "HEAD"]);
    fake.set_pull(OWNER, REPO, 5, PullState::Open, &b);
    let checked_out = head_commit(work).expect("HEAD");
    assert_eq!(checked_out.as_str(), b);
    let refused = check_checkout(pr, &approval, &checked_out).expect_err("B was not approved");
    assert!(refused.to_string().contains(&a), "{refused}");

    // Checking out the approved SHA passes; so does a new approval of B.
    git(work, &["checkout", "-q", "--detach", &a]);
    assert_eq!(
        check_checkout(pr, &approval, &head_commit(work).expect("HEAD")),
        Ok(())
    );
    git(work, &["checkout", "-q", &b]);
    let again = Approval {
        sha: api.pull_head(pr).expect("pull").sha,
        by,
    };
    assert_eq!(
        check_checkout(pr, &again, &head_commit(work).expect("HEAD")),
        Ok(())
    );
}

fn succeed(forge: &GitHub, id: u64, url: &str) {
    forge
        .deployment_status(
            id,
            &DeploymentStatus {
                state: "success",
                environment_url: Some(url.into()),
                log_url: Some(RUN.into()),
                description: "deployed".into(),
            },
        )
        .expect("status");
}

fn latest_state(fake: &FakeGitHub, id: u64) -> String {
    fake.deployments(OWNER, REPO)
        .iter()
        .find(|d| d.id == id)
        .and_then(|d| d.latest_state().map(str::to_owned))
        .unwrap_or_default()
}

/// PR 7 and PR 8 deploy to the shared `preview` environment: both stay
/// active, a redeploy of PR 8 retires only PR 8's older deployment, and
/// closing PR 7 leaves PR 8's active. One environment exists afterwards.
#[test]
fn a_shared_environment_keeps_each_prs_preview_active() {
    let fake = fake();
    for n in [7, 8] {
        fake.set_pull(
            OWNER,
            REPO,
            n,
            PullState::Open,
            &FakeGitHub::sha(&format!("head-{n}")),
        );
    }
    let client = client(&fake);
    let api = api(&client);
    // The existing forge sends deployment statuses (auto_inactive: true).
    let forge = GitHub::new(
        Client::new(fake.url(), TOKEN.to_owned().into(), quick()).expect("client"),
        &format!("{OWNER}/{REPO}"),
    )
    .expect("forge");
    let rule = EnvironmentRule::default();
    let (pr7, pr8) = (stage("pr-7"), stage("pr-8"));
    let deploy = |st: &Stage, n: u64, seed: &str| {
        let id = api
            .create_deployment(&rule, st, PrNumber::new(n), &sha(&FakeGitHub::sha(seed)))
            .expect("deployment");
        succeed(&forge, id, &format!("https://{st}.preview.example.test/"));
        assert_eq!(
            api.deactivate_stage(&rule, st, Some(id), "replaced by a newer deploy")
                .expect("deactivate"),
            usize::from(seed.ends_with("-2")),
        );
        id
    };
    let d7 = deploy(&pr7, 7, "head-7");
    let d8 = deploy(&pr8, 8, "head-8");
    assert_eq!(latest_state(&fake, d7), "success");
    assert_eq!(latest_state(&fake, d8), "success");

    let d8b = deploy(&pr8, 8, "head-8-2");
    assert_eq!(latest_state(&fake, d8), "inactive");
    assert_eq!(latest_state(&fake, d8b), "success");
    assert_eq!(
        latest_state(&fake, d7),
        "success",
        "PR 8's redeploy left PR 7 alone"
    );

    // PR 7 closes.
    let marked = api
        .deactivate_stage(&rule, &pr7, None, "pr-7 was destroyed")
        .expect("deactivate");
    assert_eq!(marked, 1);
    assert_eq!(latest_state(&fake, d7), "inactive");
    assert_eq!(latest_state(&fake, d8b), "success");
    assert_eq!(latest_state(&fake, d8), "inactive");
    // Again: nothing left to mark.
    assert_eq!(
        api.deactivate_stage(&rule, &pr7, None, "again")
            .expect("ok"),
        0
    );

    let found: Vec<u64> = api
        .stage_deployments(&rule, &pr8)
        .expect("list")
        .into_iter()
        .map(|d| d.id)
        .collect();
    assert_eq!(found, [d8b, d8], "newest first, PR 8's only");
    assert_eq!(fake.environments(OWNER, REPO), ["preview"]);

    // Per-PR environments, as before, make one environment per PR.
    let per_pr = EnvironmentRule::parse("{stage}").expect("rule");
    for (st, n) in [(&pr7, 7), (&pr8, 8)] {
        api.create_deployment(&per_pr, st, PrNumber::new(n), &sha(&FakeGitHub::sha("x")))
            .expect("deployment");
    }
    assert_eq!(fake.environments(OWNER, REPO), ["pr-7", "pr-8", "preview"]);
}

/// alchemy-ci's own texts go into comments a bot writes; none of them may
/// read as a command if that bot's comments ever reach a run.
#[test]
fn alchemy_ci_texts_never_read_as_commands() {
    let prefix = CommandPrefix::default();
    let apps = ["web".to_owned()];
    let texts = [
        help_markdown(&HelpInput {
            prefix: &prefix,
            required: Permission::Write,
            apps: &apps,
            reason: Some("unknown command"),
        }),
        fork_notice(&prefix, Permission::Write, &sha(&FakeGitHub::sha("a"))),
        ttl::warning_markdown(
            &ttl::TextInput {
                prefix: &prefix,
                keep_label: Some("keep"),
                ttl: Duration::from_secs(86_400),
            },
            Timestamp::from_unix(1_800_000_000),
        ),
        ttl::expired_markdown(&ttl::TextInput {
            prefix: &prefix,
            keep_label: None,
            ttl: Duration::from_secs(86_400),
        }),
    ];
    for t in texts {
        assert_eq!(parse(&t, &prefix), Parsed::NoCommand, "{t}");
    }
}

/// A hostile comment from someone allowed is answered with the help, and
/// the help shows the hostile text inert.
#[test]
fn a_hostile_command_is_answered_with_inert_help() {
    let prefix = CommandPrefix::default();
    let p = policy(&prefix);
    let c = comment_fixture("comments/issue_comment.created.pr-hostile.json");
    let CommentDecision::CheckPermission { login, request } = decide_comment(&c, &p) else {
        panic!("a command from a person");
    };
    let answer = authorize(&login, Permission::Admin, &request, &p);
    let alchemy_ci::pr_command::decide::Authorized::Help {
        reason: Some(reason),
    } = answer
    else {
        panic!("expected the help, got {answer:?}");
    };
    let md = help_markdown(&HelpInput {
        prefix: &prefix,
        required: Permission::Write,
        apps: &[],
        reason: Some(&reason),
    });
    assert_inert_markdown("help", &md, &md);
    assert!(
        md.contains("\\\\u\\{202e\\}"),
        "the override is shown, escaped: {md}"
    );
}
