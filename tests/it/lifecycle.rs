//! The stage lifecycle when time and concurrency meet: one regression test
//! per way it was found to break, each naming its scenario. End to end with
//! the real Alchemy, the folder store and the fake GitHub where a run is
//! involved.

use std::io::{BufRead, BufReader, Read};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use alchemy_ci::record::{Lease, Record, RecordStatus};
use alchemy_ci::state::dir::DirStore;
use alchemy_ci::state::{StateStore, StoreError, Version};
use alchemy_ci::time::Timestamp;
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use serde_json::json;

use alchemy_ci::alchemy::{Detected, Flavor};
use alchemy_ci::config::{self, FlagValues, Sources};
use alchemy_ci::event::{self, CommitSha, NameHint};
use alchemy_ci::github::client::{Client, RetryPolicy};
use alchemy_ci::github::forge::{Forge, GitHub};
use alchemy_ci::plan::{self, Action, Facts, LivePr, Plan, RunContext};
use serde_json::Value;

use crate::alchemy_e2e::App;
use crate::fake_github::{FakeGitHub, Fault, PullState, TokenKind, ACTIONS_BOT};
use crate::store_contract::{snapshot, stage};

/// Scenario: a stage is removed (`state rm`, the sweep forgetting a
/// tombstone) and made again while a slow writer still holds the version
/// it read before the removal. The folder store's versions were counters
/// that restarted at 1, so the stale writer's "1" matched the new stage's
/// first version and its write went through (ABA). Versions must never
/// repeat for a stage.
#[test]
fn a_folder_store_version_never_comes_back_after_the_stage_is_removed() {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = DirStore::new(dir.path());
    let s = stage("pr-1");
    let stale = store
        .put(&s, &snapshot("pr-1", "first"), &Version::ABSENT, "first")
        .expect("first write");
    store.remove(&s, &stale).expect("remove");
    let fresh = store
        .put(&s, &snapshot("pr-1", "again"), &Version::ABSENT, "again")
        .expect("made again");
    assert_ne!(stale, fresh, "a version came back");
    let late = store.put(&s, &snapshot("pr-1", "late"), &stale, "late");
    assert!(
        matches!(late, Err(StoreError::Conflict { .. })),
        "the stale writer won: {late:?}"
    );
    let now = store.load(&s).expect("load").snapshot;
    assert!(now.files.values().any(|v| v == b"again"));
    assert!(!now.files.values().any(|v| v == b"late"));
}

/// Scenario: `status`, a read or a destroy looks up a stage that was never
/// written. Reading must leave nothing behind in the folder store (it used
/// to create the stage's lock file).
#[test]
fn reading_a_missing_stage_from_a_folder_store_creates_nothing() {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = DirStore::new(dir.path().join("store"));
    let loaded = store.load(&stage("pr-404")).expect("load");
    assert!(loaded.snapshot.is_empty());
    assert_eq!(loaded.version, Version::ABSENT);
    assert!(
        !dir.path().join("store").exists(),
        "a read created {:?}",
        std::fs::read_dir(dir.path().join("store"))
            .map(|d| d.flatten().map(|e| e.file_name()).collect::<Vec<_>>())
    );
}

/// Scenario: a PR stays open while its preview outlives the sweep's ttl.
/// The sweep wrote a tombstone for every PR stage it destroyed, so every
/// later push to the still-open PR was skipped as "destroyed when PR #n
/// was closed". A stage swept from an open PR gets no tombstone, its
/// comment says why and how to bring it back, and the next push deploys.
#[test]
fn a_preview_swept_from_an_open_pr_comes_back_with_the_next_push() {
    let fake = fake();
    let app = App::new();
    let env = gh_env(&fake);
    let sha = FakeGitHub::sha("ttl-1");
    fake.set_pull(OWNER, REPO, 41, PullState::Open, &sha);
    app.run(&app.event("o", "opened", 41, &sha), &[], &pairs(&env, &[]))
        .ok();
    let weeks_ago = Timestamp::from_unix(Timestamp::now().unix() - 20 * 86_400);
    edit_record(&app, "pr-41", |r| {
        r.deployed_at = Some(weeks_ago);
        r.updated_at = weeks_ago;
    });

    let sweep = app.command(
        &["cleanup"],
        &["--ttl", "14d", "--ttl-warning", "off"],
        &pairs(&env, &[]),
    );
    sweep.ok();
    let rec = app.record("pr-41");
    assert_eq!(rec.status, RecordStatus::Destroyed, "{}", sweep.context());
    assert!(rec.closed_at.is_none(), "a tombstone for an open PR");
    assert!(!app.app_path().join("out/pr-41/index.html").exists());
    let body = fake.comments(OWNER, REPO, 41)[0].body.clone();
    assert!(
        body.contains("was removed after 14 days") && body.contains("A push to this pull request"),
        "{body}"
    );

    let sha2 = FakeGitHub::sha("ttl-2");
    fake.set_pull(OWNER, REPO, 41, PullState::Open, &sha2);
    let push = app.run(
        &app.event("s", "synchronize", 41, &sha2),
        &[],
        &pairs(&env, &[]),
    );
    push.ok();
    assert_eq!(
        app.record("pr-41").status,
        RecordStatus::Deployed,
        "{}",
        push.context()
    );
    assert!(app.app_path().join("out/pr-41/index.html").exists());
}

/// Scenario: a push's run waits for the stage's lock while the PR's close
/// run destroys the stage. The push's run had read the record and the
/// live PR before waiting, so once it got the lock it deployed the closed
/// PR's stage again and cleared its tombstone. Now the decision is made
/// again from what the lock write replaced and the PR as it is then.
#[test]
fn a_push_that_waited_behind_the_close_does_not_bring_the_stage_back() {
    let fake = fake();
    let app = App::new();
    let env = gh_env(&fake);
    let sha = FakeGitHub::sha("race");
    fake.set_pull(OWNER, REPO, 45, PullState::Open, &sha);
    app.run(&app.event("o", "opened", 45, &sha), &[], &pairs(&env, &[]))
        .ok();
    // The close run holds the stage.
    let now = Timestamp::now();
    edit_record(&app, "pr-45", |r| {
        r.lock = Some(lease("run 7 attempt 1 (closing)", now, 600));
    });
    let sync = app.event("s", "synchronize", 45, &sha);
    let ev = sync.display().to_string();
    let mut push = Background::start(
        &app,
        &["run", "--event", &ev],
        &pairs(&env, &[("ALCHEMY_CI_TEST_LEASE", "poll=0.2")]),
    );
    push.wait_until("the push's run waits for the lock", |o| {
        o.contains("locked by")
    });
    // The close run finishes: PR closed, stage destroyed, tombstone, unlocked.
    fake.set_pull(OWNER, REPO, 45, PullState::Closed, &sha);
    std::fs::remove_file(app.app_path().join("out/pr-45/index.html")).expect("destroy");
    let store = DirStore::new(app.store_path());
    let mut loaded = store.load(&stage("pr-45")).expect("load");
    loaded.snapshot.files.clear();
    let r = loaded.snapshot.record.as_mut().expect("record");
    r.status = RecordStatus::Destroyed;
    r.closed_at = Some(Timestamp::now());
    r.files.clear();
    r.lock = None;
    store
        .put(&stage("pr-45"), &loaded.snapshot, &loaded.version, "closed")
        .expect("close");

    let (code, out) = push.finish();
    assert_eq!(code, Some(0), "{out}");
    let rec = app.record("pr-45");
    assert_eq!(rec.status, RecordStatus::Destroyed, "{out}");
    assert!(rec.closed_at.is_some(), "the tombstone was cleared\n{out}");
    assert!(rec.lock.is_none(), "{out}");
    assert!(
        !app.app_path().join("out/pr-45/index.html").exists(),
        "the closed PR's preview was deployed again\n{out}"
    );
    assert!(out.contains("closed"), "{out}");
}

/// Scenario: the sweep lists its orphans, then destroys them one by one;
/// meanwhile a PR it listed as closed is reopened. The sweep destroyed
/// from its listing. Now each destroy judges the stage again under the
/// stage's lock, from its record and its PR as they are then.
#[test]
fn the_sweep_judges_each_stage_again_under_its_lock() {
    let fake = fake();
    let app = App::new();
    let env = gh_env(&fake);
    let sha = FakeGitHub::sha("sweep-race");
    for n in [61, 62] {
        fake.set_pull(OWNER, REPO, n, PullState::Open, &sha);
        app.run(
            &app.event(&format!("o{n}"), "opened", n, &sha),
            &[],
            &pairs(&env, &[]),
        )
        .ok();
        fake.set_pull(OWNER, REPO, n, PullState::Closed, &sha);
    }
    fake.clear_requests();
    let mut sweep = Background::start(&app, &["cleanup", "--max-parallel", "1"], &pairs(&env, &[]));
    // While pr-61 is being destroyed, PR #62 is reopened.
    let first = format!("/repos/{OWNER}/{REPO}/pulls/61");
    let deadline = Instant::now() + Duration::from_secs(120);
    while fake.count_requests("GET", &first) == 0 {
        if sweep.child.try_wait().ok().flatten().is_some() {
            break;
        }
        assert!(Instant::now() < deadline, "{}", sweep.output());
        std::thread::sleep(Duration::from_millis(10));
    }
    fake.set_pull(OWNER, REPO, 62, PullState::Open, &sha);
    let (code, out) = sweep.finish();
    assert_eq!(code, Some(0), "{out}");
    assert!(app.snapshot("pr-61").files.is_empty(), "{out}");
    assert!(
        !app.snapshot("pr-62").files.is_empty()
            && app.app_path().join("out/pr-62/index.html").exists(),
        "the reopened PR's preview was destroyed\n{out}"
    );
    assert_eq!(app.record("pr-62").status, RecordStatus::Deployed);
}

/// Scenario: a deploy finishes while GitHub is slow. The state, the record
/// and the lock were written only after the comment and deployment
/// updates, each of which may take 30 s × 6 attempts, so a job cancelled
/// meanwhile lost them. They are now one store write made before any call
/// to GitHub.
#[test]
fn the_state_is_saved_before_the_final_github_calls() {
    let fake = fake();
    let app = App::new();
    let env = gh_env(&fake);
    let sha = FakeGitHub::sha("slow-github");
    fake.set_pull(OWNER, REPO, 47, PullState::Open, &sha);
    let comments = format!("/repos/{OWNER}/{REPO}/issues/47/comments");
    // The first look at the comments (the "deploying" comment) is served;
    // the second (the final comment) hangs.
    fake.inject(
        "GET",
        &comments,
        vec![
            Fault::Slow(Duration::ZERO),
            Fault::Slow(Duration::from_secs(120)),
        ],
    );
    let ev = app.event("o", "opened", 47, &sha).display().to_string();
    let mut run = Background::start(&app, &["run", "--event", &ev], &pairs(&env, &[]));
    let deadline = Instant::now() + Duration::from_secs(120);
    while fake.count_requests("GET", &comments) < 2 {
        assert!(
            run.child.try_wait().ok().flatten().is_none(),
            "{}",
            run.output()
        );
        assert!(Instant::now() < deadline, "{}", run.output());
        std::thread::sleep(Duration::from_millis(20));
    }
    // The run now waits on GitHub for the final comment.
    let snap = app.snapshot("pr-47");
    let rec = snap.record.clone().expect("record");
    let _ = kill(run.pid(), Signal::SIGKILL);
    let (_, out) = run.finish();
    assert_eq!(rec.status, RecordStatus::Deployed, "{out}");
    assert!(
        rec.lock.is_none(),
        "still locked while talking to GitHub\n{out}"
    );
    assert!(
        crate::alchemy_e2e::resource(&snap, "web").is_some(),
        "{out}"
    );
}

/// Scenario: a deploy is cancelled (SIGTERM) while GitHub hangs. The run
/// saved its state only after its GitHub calls, which could outlast the
/// seconds before the job is killed. Now it saves first, then skips GitHub
/// calls that cannot finish in time, and exits well before the kill.
/// (About 10 s: the budget between the signal and the kill.)
#[test]
fn a_cancelled_run_saves_then_gives_github_only_the_time_left() {
    let fake = fake();
    let app = App::new();
    let env = gh_env(&fake);
    let sha = FakeGitHub::sha("cancel-slow");
    fake.set_pull(OWNER, REPO, 48, PullState::Open, &sha);
    let ev = app.event("o", "opened", 48, &sha).display().to_string();
    let run = Background::start(
        &app,
        &["run", "--event", &ev],
        &pairs(&env, &[("SLEEP", "60000")]),
    );
    let slow = app.app_path().join(".alchemy/e2e-app/pr-48/slow.json");
    let deadline = Instant::now() + Duration::from_secs(120);
    while !slow.exists() {
        assert!(Instant::now() < deadline, "{}", run.output());
        std::thread::sleep(Duration::from_millis(20));
    }
    // From now on GitHub hangs.
    fake.inject(
        "*",
        "/repos/",
        vec![Fault::Slow(Duration::from_secs(120)); 20],
    );
    let signalled = Instant::now();
    kill(run.pid(), Signal::SIGTERM).expect("signal");
    let (code, out) = run.finish();
    let took = signalled.elapsed();
    assert_eq!(code, Some(1), "{out}");
    assert!(
        took < Duration::from_secs(25),
        "took {took:?} after SIGTERM\n{out}"
    );
    let snap = app.snapshot("pr-48");
    let rec = snap.record.clone().expect("record");
    assert_eq!(rec.status, RecordStatus::Failed, "{out}");
    assert!(rec.error.as_deref().is_some_and(|e| e.contains("SIGTERM")));
    assert!(rec.lock.is_none(), "{out}");
    assert!(
        crate::alchemy_e2e::resource(&snap, "slow").is_some(),
        "{out}"
    );
}

/// Scenario: the sweep runs destroys in parallel, and a stage's state
/// cannot be saved. Workers after the first ran in a temporary copy of the
/// app that was deleted when the worker ended, taking with it the state
/// the run said it had "left on disk". Every path the sweep reports must
/// still hold that stage's state when it is over.
#[test]
fn state_a_sweep_worker_could_not_save_stays_where_it_says() {
    let fake = fake();
    let app = App::new();
    let env = gh_env(&fake);
    let sha = FakeGitHub::sha("workers");
    for n in [51, 52] {
        fake.set_pull(OWNER, REPO, n, PullState::Open, &sha);
        app.run(
            &app.event(&format!("o{n}"), "opened", n, &sha),
            &[],
            &pairs(&env, &[("STICKY", "1")]),
        )
        .ok();
        fake.set_pull(OWNER, REPO, n, PullState::Closed, &sha);
    }
    let store = app.store_path().display().to_string();
    // The destroys leave a resource behind and the store refuses the
    // final writes: the state must stay on disk.
    let out = app.command(
        &["cleanup"],
        &["--max-parallel", "2"],
        &pairs(&env, &[("BREAK_STORE", store.as_str())]),
    );
    assert_eq!(out.code, 1, "{}", out.context());
    let kept: Vec<std::path::PathBuf> = out
        .stderr
        .split("it is left in ")
        .skip(1)
        .filter_map(|rest| rest.split_whitespace().next())
        .map(|p| std::path::PathBuf::from(p.trim_end_matches([';', ','])))
        .collect();
    assert_eq!(kept.len(), 2, "{}", out.context());
    let mut found = Vec::new();
    for p in &kept {
        for n in [51, 52] {
            if p.join(format!("e2e-app/pr-{n}/web.json")).exists() {
                found.push(n);
            }
        }
    }
    found.sort_unstable();
    assert_eq!(found, [51, 52], "kept at {kept:?}\n{}", out.context());
}

/// Scenario: `cleanup --matrix` fans the destroys out to one job per
/// stage, each running `command: destroy` for its `pr-<n>` stage. That
/// destroy wrote no tombstone and posted no comment, unlike the sweep's
/// own. It now takes the same path: the PR comes from the stage's name.
#[test]
fn a_matrix_destroy_of_a_pr_stage_is_the_sweeps_destroy() {
    let fake = fake();
    let app = App::new();
    let env = gh_env(&fake);
    let sha = FakeGitHub::sha("matrix");
    fake.set_pull(OWNER, REPO, 55, PullState::Open, &sha);
    app.run(&app.event("o", "opened", 55, &sha), &[], &pairs(&env, &[]))
        .ok();
    fake.set_pull(OWNER, REPO, 55, PullState::Closed, &sha);
    let schedule = app
        .dir
        .write("events/schedule.json", r#"{"schedule": "17 3 * * *"}"#);
    let out = app.run(
        &schedule,
        &["--event-name", "schedule"],
        &pairs(
            &env,
            &[("INPUT_COMMAND", "destroy"), ("INPUT_STAGE", "pr-55")],
        ),
    );
    out.ok();
    let rec = app.record("pr-55");
    assert_eq!(rec.status, RecordStatus::Destroyed, "{}", out.context());
    assert!(rec.closed_at.is_some(), "no tombstone\n{}", out.context());
    let comments = fake.comments(OWNER, REPO, 55);
    assert!(
        comments.len() == 1 && comments[0].body.contains("Destroyed"),
        "{comments:?}\n{}",
        out.context()
    );
}

/// Scenario: a workflow_dispatch asks to destroy a protected stage with
/// allow-protected set. The plan said "destroying it because
/// allow-protected is set" and then skipped it as protected. One rule:
/// automation never destroys a protected stage; a request may, with
/// allow-protected.
#[test]
fn a_requested_destroy_of_a_protected_stage_with_allow_protected_destroys_it() {
    let mut v = crate::support::fixture("workflow_dispatch.json");
    v["inputs"] = serde_json::json!({"command": "destroy", "stage": "staging"});
    let p = decide(
        &v,
        "workflow_dispatch",
        &[("allow-protected", "true")],
        &facts(),
    );
    assert_eq!(p.action, Action::Destroy, "{p:#?}");
    assert_eq!(p.stage.as_ref().map(|s| s.as_str()), Some("staging"));
    assert!(p.warnings.iter().any(|w| w.contains("allow-protected")));
}

/// Scenario: a PR is closed and reopened at once; the close's run starts
/// late, after the reopen. It destroyed the stage of an open PR. A close
/// event for a PR that GitHub says is open again is skipped.
#[test]
fn a_late_close_of_a_reopened_pr_is_skipped() {
    let mut v = crate::support::fixture("pull_request.closed.json");
    let head = v["pull_request"]["head"]["sha"]
        .as_str()
        .expect("sha")
        .to_owned();
    v["pull_request"]["merged"] = serde_json::json!(false);
    let live = Facts {
        live_pr: Some(LivePr {
            open: true,
            head_sha: CommitSha::parse(&head).expect("sha"),
        }),
        ..facts()
    };
    let p = decide(&v, "pull_request", &[], &live);
    assert_eq!(p.action, Action::Skip, "{p:#?}");
    assert!(p.reason.contains("open again"), "{}", p.reason);
}

/// Scenario: GitHub creates a deployment, then the answer is lost (a 502
/// from a gateway). The client retried the POST and created a second
/// deployment. It now looks for the first before sending again.
#[test]
fn a_deployment_whose_answer_was_lost_is_not_created_twice() {
    let fake = fake();
    fake.inject(
        "POST",
        &format!("/repos/{OWNER}/{REPO}/deployments"),
        vec![Fault::StatusAfterApplying(502)],
    );
    let policy = RetryPolicy {
        max_attempts: 4,
        max_wait: Duration::from_secs(20),
        backoff: Duration::from_millis(100),
        request_timeout: Duration::from_secs(10),
    };
    let client = Client::new(fake.url(), TOKEN.to_owned().into(), policy).expect("client");
    let gh = GitHub::new(client, &format!("{OWNER}/{REPO}")).expect("repo");
    let sha = CommitSha::parse(&FakeGitHub::sha("dup")).expect("sha");
    let id = gh
        .create_deployment(
            &alchemy_ci::github::environment::EnvironmentRule::default(),
            &stage("pr-57"),
            alchemy_ci::stage::PrNumber::new(57),
            &sha,
        )
        .expect("created once");
    let all = fake.deployments(OWNER, REPO);
    assert_eq!(all.len(), 1, "{all:#?}");
    assert_eq!(all[0].id, id);
}

// ---------------------------------------------------------------- helpers

pub const OWNER: &str = "Codertocat";
pub const REPO: &str = "Hello-World";
const TOKEN: &str = "ghs_lifecycle_token";

pub fn fake() -> FakeGitHub {
    let fake = FakeGitHub::start();
    fake.add_token(TOKEN, ACTIONS_BOT, TokenKind::Installation);
    fake.add_repo(OWNER, REPO);
    fake
}

/// What a run under Actions sees of GitHub, pointed at the fake.
pub fn gh_env(fake: &FakeGitHub) -> Vec<(String, String)> {
    vec![
        ("GITHUB_API_URL".into(), fake.url().to_owned()),
        ("GITHUB_SERVER_URL".into(), "https://github.com".into()),
        ("GITHUB_REPOSITORY".into(), format!("{OWNER}/{REPO}")),
        ("INPUT_GITHUB-TOKEN".into(), TOKEN.into()),
    ]
}

pub fn pairs<'a>(
    env: &'a [(String, String)],
    extra: &[(&'a str, &'a str)],
) -> Vec<(&'a str, &'a str)> {
    let mut all: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    all.extend_from_slice(extra);
    all
}

/// A lease held by `holder` since `since`, for `secs` seconds.
fn lease(holder: &str, since: Timestamp, secs: u64) -> Lease {
    serde_json::from_value(json!({
        "holder": holder,
        "run_url": null,
        "acquired_at": since,
        "expires_at": since.plus(Duration::from_secs(secs)),
    }))
    .expect("a lease")
}

/// Changes a stage's stored record in place, as another run would have.
pub fn edit_record(app: &App, name: &str, edit: impl FnOnce(&mut Record)) {
    let store = DirStore::new(app.store_path());
    let s = stage(name);
    let mut loaded = store.load(&s).expect("load");
    edit(loaded.snapshot.record.as_mut().expect("a record"));
    store
        .put(&s, &loaded.snapshot, &loaded.version, "edited by the test")
        .expect("edit");
}

/// `alchemy-ci ARGS…` in the background, its output collected as it comes.
pub struct Background {
    pub child: Child,
    output: Arc<Mutex<String>>,
    readers: Vec<std::thread::JoinHandle<()>>,
}

impl Background {
    /// Runs in `app`'s folder against its own folder store.
    pub fn start(app: &App, args: &[&str], env: &[(&str, &str)]) -> Self {
        Self::start_with_store(app, &app.store_path(), args, env)
    }

    /// Runs in `app`'s folder against the folder store at `store`.
    pub fn start_with_store(
        app: &App,
        store: &std::path::Path,
        args: &[&str],
        env: &[(&str, &str)],
    ) -> Self {
        let store = format!("dir:{}", store.display());
        let mut child = Command::new(crate::support::BIN)
            .args(args)
            .args(["--working-directory", "app", "--state-store", &store])
            .current_dir(app.dir.path())
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("HOME", app.dir.path())
            .env("CI", "true")
            .env("DO_NOT_TRACK", "1")
            .envs(env.iter().copied())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn alchemy-ci");
        let output = Arc::new(Mutex::new(String::new()));
        let mut readers = Vec::new();
        let pipes: Vec<Box<dyn Read + Send>> = vec![
            Box::new(child.stdout.take().expect("stdout")),
            Box::new(child.stderr.take().expect("stderr")),
        ];
        for pipe in pipes {
            let out = Arc::clone(&output);
            readers.push(std::thread::spawn(move || {
                for line in BufReader::new(pipe).lines().map_while(Result::ok) {
                    let mut o = out.lock().expect("output");
                    o.push_str(&line);
                    o.push('\n');
                }
            }));
        }
        Self {
            child,
            output,
            readers,
        }
    }

    pub fn output(&self) -> String {
        self.output.lock().expect("output").clone()
    }

    /// Waits (generously) until `done` holds, failing with the output if
    /// the process ends or time runs out first.
    pub fn wait_until(&mut self, what: &str, done: impl Fn(&str) -> bool) {
        let deadline = Instant::now() + Duration::from_secs(120);
        while !done(&self.output()) {
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("ended ({status}) before {what}:\n{}", self.output());
            }
            assert!(
                Instant::now() < deadline,
                "timed out waiting for {what}:\n{}",
                self.output()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Waits for the end; returns the exit code and everything printed.
    pub fn finish(mut self) -> (Option<i32>, String) {
        let status = self.child.wait().expect("wait");
        for r in self.readers.drain(..) {
            let _ = r.join();
        }
        (status.code(), self.output())
    }

    pub fn pid(&self) -> Pid {
        Pid::from_raw(i32::try_from(self.child.id()).expect("pid"))
    }
}

fn facts() -> Facts {
    Facts {
        alchemy: Detected {
            flavor: Flavor::V1,
            why: "test".into(),
        },
        can_post: true,
        live_pr: None,
        record: None,
        run: RunContext::default(),
        commenter_permission: None,
        pull_head: None,
    }
}

fn decide(payload: &Value, name: &str, flags: &[(&'static str, &str)], facts: &Facts) -> Plan {
    let bytes = serde_json::to_vec(payload).expect("serialize");
    let hint = NameHint {
        flag: Some(name.into()),
        env: None,
    };
    let event = event::parse(std::path::Path::new("event.json"), &bytes, &hint).expect("event");
    let flags = FlagValues(flags.iter().map(|(k, v)| (*k, (*v).to_owned())).collect());
    let dir = tempfile::tempdir().expect("temp dir");
    let config = config::resolve(&Sources {
        flags: &flags,
        env: &std::collections::BTreeMap::new(),
        root: dir.path(),
    })
    .expect("config");
    plan::decide(&event, &config, facts).expect("a plan")
}
