//! Comment commands end to end: `alchemy-ci run` on `issue_comment`
//! payloads built from the real webhook, against the fake GitHub (roles,
//! reactions, commit statuses, deployments), the real Alchemy and the
//! folder store, with the app a real git checkout so the approved commit
//! is checked against what is checked out.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use alchemy_ci::record::RecordStatus;
use serde_json::json;

use crate::alchemy_e2e::App;
use crate::fake_github::{FakeGitHub, PullSpec, PullState};
use crate::lifecycle::{edit_record, fake, OWNER, REPO};
use crate::support::{fixture, Output};

const TOKEN: &str = "ghs_lifecycle_token";

/// A PR's app, its fake GitHub and the runner's files.
pub struct Pr {
    pub app: App,
    pub fake: FakeGitHub,
    pub number: u64,
}

impl Pr {
    /// PR `number`, open, its head the app's first commit, from a branch
    /// of the repository (or of `fork`'s fork).
    pub fn open(number: u64, fork: Option<&str>) -> Self {
        let app = App::new();
        git_init(&app.app_path());
        let pr = Self {
            app,
            fake: fake(),
            number,
        };
        pr.set_head(&pr.head(), fork);
        pr
    }

    pub fn head(&self) -> String {
        git(&self.app.app_path(), &["rev-parse", "HEAD"])
    }

    /// Sets the PR's head on the fake.
    pub fn set_head(&self, sha: &str, fork: Option<&str>) {
        let mut spec = PullSpec::new(self.number, sha);
        if let Some(owner) = fork {
            spec = spec.head_in_fork(owner).author(owner);
        }
        self.fake.put_pull(OWNER, REPO, spec);
    }

    /// A new commit checked out in the app, as a push to the PR makes.
    pub fn push(&self, content: &str) -> String {
        let dir = self.app.app_path();
        std::fs::write(dir.join("version.txt"), content).expect("write");
        git(&dir, &["add", "version.txt"]);
        git(&dir, &["commit", "-q", "-m", content]);
        self.head()
    }

    /// `issue_comment` (created) by `login` (`kind`: User or Bot) with
    /// `body`, posted on the fake first so it can be reacted to.
    pub fn comment(&self, login: &str, kind: &str, body: &str) -> (PathBuf, u64) {
        let id = self
            .fake
            .add_comment_as(OWNER, REPO, self.number, login, body);
        let mut v = fixture("comments/issue_comment.created.pr-deploy.json");
        v["issue"]["number"] = json!(self.number);
        v["comment"]["id"] = json!(id);
        v["comment"]["user"]["login"] = json!(login);
        v["comment"]["user"]["type"] = json!(kind);
        v["comment"]["body"] = json!(body);
        let path = self
            .app
            .dir
            .write_json(&format!("events/comment-{id}.json"), &v);
        (path, id)
    }

    /// `alchemy-ci run` under Actions for `event`, with fresh file
    /// commands.
    pub fn run(&self, event: &Path, flags: &[&str], extra: &[(&str, &str)]) -> Output {
        let dir = self.app.dir.path();
        let _ = std::fs::remove_file(dir.join("github_output"));
        let _ = std::fs::remove_file(dir.join("step_summary"));
        let out = dir.join("github_output").display().to_string();
        let summary = dir.join("step_summary").display().to_string();
        let mut env = vec![
            ("GITHUB_ACTIONS", "true"),
            ("GITHUB_API_URL", self.fake.url()),
            ("GITHUB_SERVER_URL", "https://github.com"),
            ("GITHUB_REPOSITORY", "Codertocat/Hello-World"),
            ("GITHUB_RUN_ID", "4242"),
            ("GITHUB_OUTPUT", out.as_str()),
            ("GITHUB_STEP_SUMMARY", summary.as_str()),
            ("INPUT_GITHUB-TOKEN", TOKEN),
        ];
        env.extend_from_slice(extra);
        self.app.run(event, flags, &env)
    }

    /// The content of each reaction on comment `id`, oldest first.
    pub fn reactions(&self, id: u64) -> Vec<String> {
        self.fake
            .reactions(OWNER, REPO, id)
            .into_iter()
            .map(|r| r.content)
            .collect()
    }

    /// The body of the stage's sticky comment, if there is one.
    pub fn sticky(&self) -> Option<String> {
        let marker = format!("<!-- alchemy-ci:stage=pr-{} -->", self.number);
        self.fake
            .comments(OWNER, REPO, self.number)
            .into_iter()
            .find(|c| c.body.contains(&marker))
            .map(|c| c.body)
    }

    pub fn outputs(&self) -> BTreeMap<String, String> {
        let text =
            std::fs::read_to_string(self.app.dir.path().join("github_output")).unwrap_or_default();
        let mut out = BTreeMap::new();
        let mut lines = text.lines();
        while let Some(line) = lines.next() {
            let Some((name, delim)) = line.split_once("<<") else {
                continue;
            };
            let value: Vec<&str> = lines.by_ref().take_while(|l| *l != delim).collect();
            out.insert(name.to_owned(), value.join("\n"));
        }
        out
    }

    pub fn summary(&self) -> String {
        std::fs::read_to_string(self.app.dir.path().join("step_summary")).unwrap_or_default()
    }

    pub fn stage(&self) -> String {
        format!("pr-{}", self.number)
    }

    /// The preview's page, which only a deploy writes.
    pub fn deployed(&self) -> bool {
        self.app
            .app_path()
            .join(format!("out/{}/index.html", self.stage()))
            .exists()
    }
}

fn git(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("git runs");
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

fn git_init(dir: &Path) {
    std::fs::write(
        dir.join(".gitignore"),
        "node_modules\n.alchemy\n.alchemy*\nout\n",
    )
    .expect("gitignore");
    std::fs::write(dir.join("version.txt"), "A").expect("write");
    for args in [
        &["init", "-q", "-b", "main"][..],
        &["config", "user.name", "t"],
        &["config", "user.email", "t@example.invalid"],
        &["config", "commit.gpgsign", "false"],
        &["add", "-A"],
        &["commit", "-q", "-m", "A"],
    ] {
        git(dir, args);
    }
}

/// Scenario: who may give a command. Admins and writers are obeyed (👀,
/// then 🚀, the answer in the sticky comment); readers, accounts without
/// any role, strangers GitHub does not know and bots get a 👎 and nothing
/// else: no comment, no store write, exit 0.
#[test]
fn every_permission_level_gets_its_answer_and_nothing_more() {
    let pr = Pr::open(81, None);
    pr.fake.set_role(OWNER, REPO, "writer", "write");
    pr.fake.set_role(OWNER, REPO, "reader", "read");
    pr.fake.add_user("nobody");
    for (login, kind, obeyed) in [
        (OWNER, "User", true),
        ("writer", "User", true),
        ("reader", "User", false),
        ("nobody", "User", false),
        ("stranger", "User", false),
        ("renovate[bot]", "Bot", false),
    ] {
        let before = pr.fake.comments(OWNER, REPO, 81).len();
        let (ev, id) = pr.comment(login, kind, "/alchemy status");
        let out = pr.run(&ev, &[], &[]);
        out.ok();
        let reactions = pr.reactions(id);
        if obeyed {
            assert_eq!(reactions, ["eyes", "rocket"], "{login}\n{}", out.context());
            let sticky = pr.sticky().expect("the answer is in the sticky comment");
            assert!(sticky.contains("not deployed"), "{sticky}");
        } else {
            assert_eq!(reactions, ["-1"], "{login}\n{}", out.context());
            assert_eq!(
                pr.fake.comments(OWNER, REPO, 81).len(),
                before + 1,
                "{login}: only the command itself was added\n{}",
                out.context()
            );
        }
        assert!(pr.app.snapshot("pr-81").is_empty(), "{login}");
    }
    // One sticky comment for all of it.
    let ours = pr
        .fake
        .comments(OWNER, REPO, 81)
        .into_iter()
        .filter(|c| c.body.contains("alchemy-ci:stage=pr-81"))
        .count();
    assert_eq!(ours, 1);
}

/// Scenario: an edited or deleted comment. Acting on it would let a
/// command change after people read it, or run twice: nothing happens at
/// all, not even a request for the author's permission.
#[test]
fn edited_and_deleted_comments_do_nothing_at_all() {
    let pr = Pr::open(82, None);
    for action in ["edited", "deleted"] {
        let (ev, id) = pr.comment(OWNER, "User", "/alchemy deploy");
        let mut v: serde_json::Value =
            serde_json::from_slice(&std::fs::read(&ev).expect("event")).expect("json");
        v["action"] = json!(action);
        let ev = pr.app.dir.write_json(&format!("events/{action}.json"), &v);
        pr.fake.clear_requests();
        let out = pr.run(&ev, &[], &[]);
        out.ok();
        assert!(
            out.stdout.contains("only new comments give commands"),
            "{}",
            out.context()
        );
        assert!(pr.reactions(id).is_empty(), "{action}");
        let permission = format!("/repos/{OWNER}/{REPO}/collaborators/");
        assert_eq!(pr.fake.count_requests("GET", &permission), 0, "{action}");
        assert!(pr.sticky().is_none(), "{action}");
        assert!(!pr.deployed());
    }
}

/// Scenario: every command on one PR, through the same plan, lock, store
/// and sticky comment as an event. deploy deploys the head; keep records
/// how long and keep off ends it; redeploy destroys before it deploys (a
/// resource that refuses to be deleted fails it); destroy leaves no
/// tombstone, so a push brings the preview back; unlock frees only a dead
/// lock and records who; help and a typo answer with the help.
#[test]
fn every_command_runs_through_the_stage_lifecycle() {
    let pr = Pr::open(83, None);
    let say = |body: &str, extra: &[(&str, &str)]| {
        let (ev, id) = pr.comment(OWNER, "User", body);
        let out = pr.run(&ev, &[], extra);
        (out, pr.reactions(id))
    };

    let (out, r) = say("Looks fine.\n\n/alchemy deploy", &[("STICKY", "1")]);
    out.ok();
    assert_eq!(r, ["eyes", "rocket"], "{}", out.context());
    assert!(pr.deployed());
    let rec = pr.app.record("pr-83");
    assert_eq!(rec.status, RecordStatus::Deployed);
    assert_eq!(
        rec.head_sha.as_ref().map(|s| s.as_str().to_owned()),
        Some(pr.head())
    );
    let sticky = pr.sticky().expect("sticky");
    assert!(
        sticky.contains("Deployed") && sticky.contains("/alchemy"),
        "{sticky}"
    );

    let (out, r) = say("/alchemy keep 7d", &[]);
    out.ok();
    assert_eq!(r, ["eyes", "rocket"], "{}", out.context());
    let kept = pr.app.record("pr-83").keep_until.expect("keep_until");
    assert!(pr.sticky().expect("sticky").contains("Kept until"));
    let (out, _) = say("/alchemy keep off", &[]);
    out.ok();
    assert!(
        pr.app.record("pr-83").keep_until.is_none(),
        "kept until {kept}"
    );

    // The first redeploy's destroy cannot delete the sticky resource.
    let (out, r) = say("/alchemy redeploy", &[]);
    assert_eq!(out.code, 1, "{}", out.context());
    assert_eq!(r, ["eyes", "confused"]);
    let rec = pr.app.record("pr-83");
    assert_eq!(rec.status, RecordStatus::Failed, "{}", out.context());
    assert!(
        rec.error.as_deref().is_some_and(|e| e.contains("left")),
        "{rec:?}"
    );
    let (out, r) = say("/alchemy redeploy", &[("DELETE_OK", "1")]);
    out.ok();
    assert_eq!(r, ["eyes", "rocket"], "{}", out.context());
    assert!(pr.deployed());
    assert_eq!(pr.app.record("pr-83").status, RecordStatus::Deployed);

    let (out, r) = say("/alchemy destroy", &[]);
    out.ok();
    assert_eq!(r, ["eyes", "rocket"], "{}", out.context());
    assert!(!pr.deployed());
    let rec = pr.app.record("pr-83");
    assert_eq!(rec.status, RecordStatus::Destroyed);
    assert!(rec.closed_at.is_none(), "no tombstone for an open PR");
    let sticky = pr.sticky().expect("sticky");
    assert!(
        sticky.contains("Destroyed") && sticky.contains("Push to it"),
        "{sticky}"
    );

    // A run that died holding the lock; its lease ran out.
    edit_record(&pr.app, "pr-83", |r| {
        r.lock = Some(
            serde_json::from_value(json!({
                "holder": "run 9 attempt 1 (killed)",
                "run_url": null,
                "acquired_at": "2020-01-01T00:00:00Z",
                "expires_at": "2020-01-01T01:00:00Z",
            }))
            .expect("lease"),
        );
    });
    let (out, r) = say("/alchemy unlock", &[]);
    out.ok();
    assert_eq!(r, ["eyes", "rocket"], "{}", out.context());
    let rec = pr.app.record("pr-83");
    assert!(rec.lock.is_none());
    assert_eq!(
        rec.status,
        RecordStatus::Destroyed,
        "the record is unchanged"
    );
    let event = rec.lock_history.last().expect("the unlock is recorded");
    assert_eq!(event.event, "unlocked");
    assert!(
        event.by.contains(OWNER) && event.by.contains("/alchemy unlock"),
        "{event:?}"
    );
    assert!(pr.sticky().expect("sticky").contains("Unlocked by"));

    let (out, r) = say("/alchemy help", &[]);
    out.ok();
    assert_eq!(r, ["eyes", "rocket"]);
    assert!(pr.sticky().expect("sticky").contains("alchemy-ci commands"));
    let (out, r) = say("/alchemy deploi", &[]);
    out.ok();
    assert_eq!(r, ["eyes", "confused"]);
    let sticky = pr.sticky().expect("sticky");
    assert!(
        sticky.contains("Not understood") && sticky.contains("deploi"),
        "{sticky}"
    );

    // Still one sticky comment, and a push brings the preview back.
    let ours = pr
        .fake
        .comments(OWNER, REPO, 83)
        .into_iter()
        .filter(|c| c.body.contains("alchemy-ci:stage=pr-83"))
        .count();
    assert_eq!(ours, 1);
    let sha = pr.push("B");
    pr.set_head(&sha, None);
    let ev = pr.app.event("sync", "synchronize", 83, &sha);
    pr.run(&ev, &[], &[]).ok();
    assert!(pr.deployed());
}

/// Scenario: a fork's PR. A maintainer's `/alchemy deploy` approves the
/// head at that moment: the comment's first step outputs it; a push
/// after the approval is refused when it is what is checked out (exit 1,
/// 😕, nothing written); a new approval deploys the new head and the
/// sticky comment names the approver. The fork's own pushes never deploy,
/// and its run's summary says how to approve; closing the PR destroys the
/// preview as for any other.
#[test]
fn a_fork_deploys_only_the_commit_a_maintainer_approved() {
    let pr = Pr::open(84, Some("outsider"));
    let a = pr.head();
    let comment_step = ["--command", "comment"];

    // Opened: a `pull_request_target` run, which runs nothing of the fork,
    // tells maintainers on the PR how to approve.
    let mut opened = fixture("pull_request.opened.json");
    opened["number"] = json!(84);
    opened["pull_request"]["number"] = json!(84);
    opened["pull_request"]["head"]["sha"] = json!(a);
    opened["pull_request"]["head"]["repo"]["full_name"] = json!("outsider/Hello-World");
    let ev = pr.app.dir.write_json("events/fork-opened.json", &opened);
    let out = pr.run(&ev, &["--event-name", "pull_request_target"], &[]);
    out.ok();
    let notice = pr.sticky().expect("the notice");
    assert!(
        notice.contains("comes from a fork")
            && notice.contains("/alchemy deploy")
            && notice.contains(&a[..7]),
        "{notice}\n{}",
        out.context()
    );
    assert!(pr.app.snapshot("pr-84").is_empty());

    let (ev, id) = pr.comment(OWNER, "User", "Reviewed.\n/alchemy deploy");
    let out = pr.run(&ev, &comment_step, &[]);
    out.ok();
    let o = pr.outputs();
    assert_eq!(
        o.get("run").map(String::as_str),
        Some("true"),
        "{}",
        out.context()
    );
    assert_eq!(o.get("sha"), Some(&a));
    assert!(
        pr.app.snapshot("pr-84").is_empty(),
        "the first step deploys nothing"
    );
    assert_eq!(pr.reactions(id), ["eyes"]);

    // The fork pushes B; B is what gets checked out.
    let b = pr.push("B");
    pr.set_head(&b, Some("outsider"));
    let out = pr.run(&ev, &["--approved-sha", &a], &[]);
    assert_eq!(out.code, 1, "{}", out.context());
    assert!(
        out.stderr.contains("new approval") || out.stdout.contains("new approval"),
        "{}",
        out.context()
    );
    assert_eq!(pr.reactions(id), ["eyes", "confused"]);
    assert!(pr.app.snapshot("pr-84").is_empty(), "nothing was written");
    assert!(!pr.deployed());

    // A new approval, at B.
    let (ev, id) = pr.comment(OWNER, "User", "/alchemy deploy");
    pr.run(&ev, &comment_step, &[]).ok();
    assert_eq!(pr.outputs().get("sha"), Some(&b));
    let out = pr.run(&ev, &["--approved-sha", &b], &[]);
    out.ok();
    assert_eq!(pr.reactions(id), ["eyes", "rocket"], "{}", out.context());
    assert!(pr.deployed());
    let rec = pr.app.record("pr-84");
    assert_eq!(rec.head_sha.as_ref().map(|s| s.as_str()), Some(b.as_str()));
    let approved = rec.approved.expect("the approval is recorded");
    assert_eq!(
        (approved.sha.as_str(), approved.by.as_str()),
        (b.as_str(), OWNER)
    );
    let sticky = pr.sticky().expect("sticky");
    assert!(
        sticky.contains("approved by **Codertocat**") && sticky.contains(&b[..7]),
        "{sticky}"
    );

    // The fork pushes C: its own run skips and says how to approve.
    let c = pr.push("C");
    pr.set_head(&c, Some("outsider"));
    let mut sync = fixture("pull_request.synchronize.json");
    sync["number"] = json!(84);
    sync["pull_request"]["number"] = json!(84);
    sync["pull_request"]["head"]["sha"] = json!(c);
    sync["pull_request"]["head"]["repo"]["full_name"] = json!("outsider/Hello-World");
    let ev = pr.app.dir.write_json("events/fork-sync.json", &sync);
    let out = pr.run(&ev, &[], &[]);
    out.ok();
    assert_eq!(pr.outputs().get("action").map(String::as_str), Some("skip"));
    assert!(pr.summary().contains("/alchemy deploy"), "{}", pr.summary());
    let rec = pr.app.record("pr-84");
    assert_eq!(rec.head_sha.as_ref().map(|s| s.as_str()), Some(b.as_str()));

    // Closed: destroyed as usual.
    pr.fake.put_pull(
        OWNER,
        REPO,
        PullSpec::new(84, &c)
            .head_in_fork("outsider")
            .state(PullState::Closed),
    );
    sync["action"] = json!("closed");
    sync["pull_request"]["state"] = json!("closed");
    let ev = pr.app.dir.write_json("events/fork-close.json", &sync);
    let out = pr.run(&ev, &[], &[]);
    out.ok();
    assert!(!pr.deployed(), "{}", out.context());
    assert_eq!(pr.app.record("pr-84").status, RecordStatus::Destroyed);
}

/// The newest `alchemy-ci/preview` status of `sha`: (state, description,
/// target).
fn preview_status(pr: &Pr, sha: &str) -> Option<(String, String, Option<String>)> {
    pr.fake
        .latest_commit_status(OWNER, REPO, sha, "alchemy-ci/preview")
        .map(|s| (s.state, s.description.unwrap_or_default(), s.target_url))
}

/// Scenario: the commit status branch protection can require. A deploy
/// goes pending then success linking the preview; a failed deploy is a
/// failure linking the run; a draft that needs no preview is a success
/// "no preview needed", so requiring the check never blocks it; a close's
/// destroy leaves the last commit's status as it was.
#[test]
fn the_status_check_follows_deploys_skips_and_destroys() {
    let pr = Pr::open(85, None);
    let a = pr.head();
    let ev = pr.app.event("open", "opened", 85, &a);
    pr.run(&ev, &[], &[]).ok();
    let all = pr.fake.commit_statuses(OWNER, REPO, &a);
    let states: Vec<&str> = all.iter().map(|s| s.state.as_str()).collect();
    assert_eq!(states, ["pending", "success"]);
    assert_eq!(
        all[0].target_url.as_deref(),
        Some("https://github.com/Codertocat/Hello-World/actions/runs/4242")
    );
    let (state, description, target) = preview_status(&pr, &a).expect("status");
    assert_eq!(
        (state.as_str(), description.as_str(), target.as_deref()),
        (
            "success",
            "Preview pr-85: deployed",
            Some("https://pr-85.web.example.test/")
        )
    );

    let b = pr.push("B");
    pr.set_head(&b, None);
    let ev = pr.app.event("sync", "synchronize", 85, &b);
    let out = pr.run(&ev, &[], &[("FAIL", "1")]);
    assert_eq!(out.code, 1, "{}", out.context());
    let (state, description, target) = preview_status(&pr, &b).expect("status");
    assert_eq!(state, "failure");
    assert!(
        description.starts_with("Preview pr-85: failed: "),
        "{description}"
    );
    assert_eq!(
        target.as_deref(),
        Some("https://github.com/Codertocat/Hello-World/actions/runs/4242")
    );

    let c = pr.push("C");
    pr.set_head(&c, None);
    let mut draft = fixture("pull_request.synchronize.json");
    draft["number"] = json!(85);
    draft["pull_request"]["number"] = json!(85);
    draft["pull_request"]["head"]["sha"] = json!(c);
    draft["pull_request"]["draft"] = json!(true);
    let ev = pr.app.dir.write_json("events/draft.json", &draft);
    pr.run(&ev, &["--deploy-drafts", "false"], &[]).ok();
    let (state, description, target) = preview_status(&pr, &c).expect("status");
    assert_eq!(
        (state.as_str(), description.as_str(), target),
        ("success", "No preview needed: draft pull request", None)
    );

    pr.fake
        .put_pull(OWNER, REPO, PullSpec::new(85, &c).state(PullState::Closed));
    let ev = pr.app.event("close", "closed", 85, &c);
    pr.run(&ev, &[], &[]).ok();
    assert_eq!(pr.app.record("pr-85").status, RecordStatus::Destroyed);
    assert_eq!(
        pr.fake.commit_statuses(OWNER, REPO, &c).len(),
        1,
        "a destroy posts nothing"
    );
}

/// Scenario: the workflow leaves out `statuses: write`. The preview is
/// fine, so the run succeeds: by default it says so only in its log; with
/// `status-check: true` it is a warning; the comment and the deployment
/// are still written.
#[test]
fn a_token_that_may_not_write_statuses_only_warns() {
    let pr = Pr::open(86, None);
    pr.fake.deny_scope(TOKEN, "statuses");
    let a = pr.head();
    let ev = pr.app.event("open", "opened", 86, &a);
    let out = pr.run(&ev, &[], &[]);
    out.ok();
    let warning = "::warning title=alchemy-ci::could not post the alchemy-ci/preview commit status";
    assert!(!out.stdout.contains(warning), "{}", out.context());
    assert!(pr.sticky().expect("sticky").contains("Deployed"));
    assert!(pr.fake.commit_statuses(OWNER, REPO, &a).is_empty());
    let ev = pr.app.event("sync", "synchronize", 86, &a);
    let out = pr.run(&ev, &["--status-check", "true"], &[]);
    out.ok();
    assert_eq!(
        out.stdout.matches(warning).count(),
        1,
        "one refusal, one warning\n{}",
        out.context()
    );
    assert_eq!(pr.app.record("pr-86").status, RecordStatus::Deployed);
}

/// Scenario: two PRs preview in the one shared environment. Each keeps
/// its own active deployment (GitHub's auto_inactive leaves transient
/// deployments alone); a redeploy retires only its own PR's older
/// deployment; closing PR 7 leaves PR 8's active. No `pr-<n>`
/// environment is created.
#[test]
fn a_shared_environment_keeps_each_prs_deployment_active() {
    let pr7 = Pr::open(7, None);
    // The same repository on the same fake, PR 8 in the same app.
    let sha = pr7.head();
    pr7.fake.put_pull(OWNER, REPO, PullSpec::new(8, &sha));
    for (name, n) in [("o7", 7), ("o8", 8)] {
        let ev = pr7.app.event(name, "opened", n, &sha);
        pr7.run(&ev, &[], &[]).ok();
    }
    let latest = |n: u64| -> Vec<(u64, String)> {
        pr7.fake
            .deployments(OWNER, REPO)
            .into_iter()
            .filter(|d| d.payload["alchemy-ci"]["pr"] == json!(n))
            .map(|d| (d.id, d.latest_state().unwrap_or_default().to_owned()))
            .collect()
    };
    assert_eq!(pr7.fake.environments(OWNER, REPO), ["preview"]);
    assert!(
        latest(7).iter().all(|(_, s)| s == "success"),
        "{:?}",
        latest(7)
    );
    assert!(
        latest(8).iter().all(|(_, s)| s == "success"),
        "{:?}",
        latest(8)
    );

    let ev = pr7.app.event("s8", "synchronize", 8, &sha);
    pr7.run(&ev, &[], &[]).ok();
    let eight: Vec<String> = latest(8).into_iter().map(|(_, s)| s).collect();
    assert_eq!(eight.len(), 2);
    assert_eq!(
        eight.iter().filter(|s| *s == "success").count(),
        1,
        "{eight:?}"
    );
    assert_eq!(
        eight.iter().filter(|s| *s == "inactive").count(),
        1,
        "{eight:?}"
    );
    assert_eq!(
        latest(7)[0].1,
        "success",
        "PR 8's redeploy left PR 7's alone"
    );

    pr7.fake
        .put_pull(OWNER, REPO, PullSpec::new(7, &sha).state(PullState::Closed));
    let ev = pr7.app.event("c7", "closed", 7, &sha);
    pr7.run(&ev, &[], &[]).ok();
    assert_eq!(latest(7)[0].1, "inactive");
    assert_eq!(
        latest(8).iter().filter(|(_, s)| s == "success").count(),
        1,
        "closing PR 7 left PR 8's deployment active: {:?}",
        latest(8)
    );
    assert_eq!(pr7.fake.environments(OWNER, REPO), ["preview"]);
}

/// `ALCHEMY_CI_TEST_NOW` for a time `days` (and `hours`) after T0.
fn at(days: u64, hours: u64) -> String {
    const T0: u64 = 1_795_000_000;
    alchemy_ci::time::Timestamp::from_unix(T0 + days * 86_400 + hours * 3_600).to_string()
}

/// Scenario: a 14-day ttl with the default 24-hour warning, the sweep
/// running every day on a clock the test sets. The sweep warns once
/// inside the window (a second sweep does not warn again); `/alchemy keep
/// 7d` holds the preview past the ttl; a keep-label holds it for as long
/// as the PR carries it; after the keep, a new warning, then the expiry,
/// whose comment says a push or `/alchemy deploy` brings it back.
#[test]
fn the_ttl_warns_once_honours_keep_and_expires_after_it() {
    let pr = Pr::open(87, None);
    let sha = pr.head();
    let ev = pr.app.event("open", "opened", 87, &sha);
    pr.run(&ev, &[], &[("ALCHEMY_CI_TEST_NOW", &at(0, 0))]).ok();
    let sweep = |when: &str, labels: &[&str]| {
        pr.fake
            .put_pull(OWNER, REPO, PullSpec::new(87, &sha).labels(labels));
        let out = pr.app.command(
            &["cleanup"],
            &["--ttl", "14d", "--keep-label", "keep-preview"],
            &[
                ("GITHUB_API_URL", pr.fake.url()),
                ("GITHUB_REPOSITORY", "Codertocat/Hello-World"),
                ("INPUT_GITHUB-TOKEN", TOKEN),
                ("ALCHEMY_CI_TEST_NOW", when),
            ],
        );
        out.ok();
        out
    };
    let edits = || {
        pr.fake
            .count_requests("PATCH", "/repos/Codertocat/Hello-World/issues/comments/")
    };

    let out = sweep(&at(12, 0), &[]);
    assert!(
        pr.app.record("pr-87").warned_at.is_none(),
        "{}",
        out.context()
    );
    let before = edits();
    let out = sweep(&at(13, 2), &[]);
    let warned = pr.app.record("pr-87").warned_at.expect("warned");
    let sticky = pr.sticky().expect("sticky");
    assert!(
        sticky.contains("will be removed after") && sticky.contains("the label **keep\\-preview**"),
        "{sticky}\n{}",
        out.context()
    );
    assert_eq!(edits(), before + 1);
    sweep(&at(13, 20), &[]);
    assert_eq!(
        pr.app.record("pr-87").warned_at,
        Some(warned),
        "warned once"
    );
    assert_eq!(edits(), before + 1, "the second sweep did not post again");

    // A week's keep, from day 13.
    let (ev, _) = pr.comment(OWNER, "User", "/alchemy keep 7d");
    pr.run(&ev, &[], &[("ALCHEMY_CI_TEST_NOW", &at(13, 21))])
        .ok();
    assert!(pr.sticky().expect("sticky").contains("Kept until"));
    let out = sweep(&at(15, 0), &[]);
    assert!(pr.deployed(), "kept\n{}", out.context());
    // Inside the keep's warning window, the label holds it: no warning.
    sweep(&at(20, 0), &["keep-preview"]);
    assert_eq!(pr.app.record("pr-87").warned_at, Some(warned));
    assert!(pr.deployed());
    // Without it: warned again for the keep's end, then removed a full
    // warning period later.
    sweep(&at(20, 1), &[]);
    let second = pr.app.record("pr-87").warned_at.expect("warned");
    assert!(second > warned, "a new warning for the keep's end");
    assert!(pr.deployed());
    sweep(&at(21, 0), &[]);
    assert!(pr.deployed(), "not before a full warning period");
    let out = sweep(&at(21, 2), &[]);
    assert!(!pr.deployed(), "{}", out.context());
    let rec = pr.app.record("pr-87");
    assert_eq!(rec.status, RecordStatus::Destroyed);
    assert!(rec.closed_at.is_none(), "no tombstone: the PR is open");
    let sticky = pr.sticky().expect("sticky");
    assert!(
        sticky.contains("was removed after 14 days") && sticky.contains("`/alchemy deploy`"),
        "{sticky}"
    );
}

/// Scenario: `/alchemy unlock` while the run holding the stage is alive
/// (its lease is being renewed). The lock is not removed: 😕, the sticky
/// comment says whose it is, and the stage is exactly as it was.
#[test]
fn unlock_leaves_a_live_holders_lock() {
    use alchemy_ci::record::Record;
    use alchemy_ci::state::{Snapshot, StateStore, Version};
    let pr = Pr::open(88, None);
    let stage = crate::store_contract::stage("pr-88");
    let now = alchemy_ci::time::Timestamp::now();
    let mut record = Record::new(stage.clone(), RecordStatus::Deploying, now);
    record.lock = Some(
        serde_json::from_value(json!({
            "holder": "run 77 attempt 1 (deploying)",
            "run_url": "https://github.com/Codertocat/Hello-World/actions/runs/77",
            "acquired_at": now,
            "expires_at": now.plus(std::time::Duration::from_secs(600)),
        }))
        .expect("lease"),
    );
    let store = alchemy_ci::state::dir::DirStore::new(pr.app.store_path());
    let snapshot = Snapshot {
        files: BTreeMap::new(),
        record: Some(record),
    };
    store
        .put(&stage, &snapshot, &Version::ABSENT, "held")
        .expect("seed");
    let (ev, id) = pr.comment(OWNER, "User", "/alchemy unlock");
    let out = pr.run(&ev, &[], &[]);
    assert_eq!(out.code, 1, "{}", out.context());
    assert_eq!(pr.reactions(id), ["eyes", "confused"]);
    let after = pr.app.snapshot("pr-88");
    assert_eq!(after, snapshot, "nothing changed");
    let sticky = pr.sticky().expect("sticky");
    assert!(
        sticky.contains("Not unlocked") && sticky.contains("run 77"),
        "{sticky}"
    );
}

/// Scenario: the sweep fanned out over a matrix (`cleanup --matrix`,
/// whose jobs only destroy). The matrix step posts the warnings itself,
/// with stdout still the matrix alone; otherwise a preview would wait for
/// its warning forever and never expire.
#[test]
fn a_matrix_sweep_warns_before_it_lists_an_expiry() {
    let pr = Pr::open(89, None);
    let sha = pr.head();
    let ev = pr.app.event("open", "opened", 89, &sha);
    pr.run(&ev, &[], &[("ALCHEMY_CI_TEST_NOW", &at(0, 0))]).ok();
    let matrix = |when: &str| {
        let out = pr.app.command(
            &["cleanup"],
            &["--matrix", "--ttl", "14d"],
            &[
                ("GITHUB_API_URL", pr.fake.url()),
                ("GITHUB_REPOSITORY", "Codertocat/Hello-World"),
                ("INPUT_GITHUB-TOKEN", TOKEN),
                ("ALCHEMY_CI_TEST_NOW", when),
            ],
        );
        out.ok();
        let v: serde_json::Value = serde_json::from_str(&out.stdout)
            .unwrap_or_else(|e| panic!("stdout is the matrix alone ({e})\n{}", out.context()));
        v["include"].clone()
    };
    assert_eq!(matrix(&at(13, 2)), json!([]));
    assert!(pr.app.record("pr-89").warned_at.is_some());
    assert!(pr
        .sticky()
        .expect("sticky")
        .contains("will be removed after"));
    assert_eq!(matrix(&at(14, 3)), json!([{ "stage": "pr-89" }]));
    assert!(
        pr.deployed(),
        "the matrix's jobs destroy it, not the listing"
    );
}
