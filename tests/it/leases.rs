//! Locks that free themselves: a run killed outright, a holder GitHub says
//! is over, a run paused past its lease, and `state unlock`. The lease's
//! times are shortened through the documented testing hook
//! (`ALCHEMY_CI_TEST_LEASE`), so a lease period is seconds, not minutes.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use alchemy_ci::record::{Lease, Record, RecordStatus, RunRef};
use alchemy_ci::state::dir::DirStore;
use alchemy_ci::state::{Snapshot, StateStore, Version};
use alchemy_ci::time::Timestamp;
use nix::sys::signal::{kill, killpg, Signal};
use nix::unistd::Pid;

use crate::alchemy_e2e::{resource, App};
use crate::fake_github::{FakeGitHub, PullState, WorkflowRun};
use crate::lifecycle::{edit_record, fake, gh_env, pairs, Background, OWNER, REPO};
use crate::store_contract::stage;

/// Lease periods of a few seconds, renewed every second.
const SHORT: &str = "ttl=4,renew=1,poll=0.2,report=1";

/// The direct children of a process, from /proc.
fn children(pid: i32) -> Vec<i32> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
        .filter(|p| {
            std::fs::read_to_string(format!("/proc/{p}/stat"))
                .ok()
                .and_then(|s| {
                    // The fields after the command name, which may hold spaces.
                    let rest = &s[s.rfind(')')? + 1..];
                    rest.split_whitespace().nth(1)?.parse::<i32>().ok()
                })
                == Some(pid)
        })
        .collect()
}

fn wait_for(what: &str, run: &Background, done: impl Fn() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(120);
    while !done() {
        assert!(
            Instant::now() < deadline,
            "timed out waiting for {what}:\n{}",
            run.output()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Scenario: a runner VM is lost mid-deploy (here: the run and its
/// Alchemy process group get SIGKILL). The stage stayed locked for the
/// 70-minute lease. Now the lease lapses a few seconds (minutes, by
/// default) after the last renewal and the next run takes it over, with
/// the state the killed run's renewals had saved.
#[test]
fn a_run_killed_outright_frees_its_stage_within_a_couple_of_lease_periods() {
    let app = App::new();
    let sha1 = FakeGitHub::sha("killed");
    let ev = app.event("o", "opened", 71, &sha1).display().to_string();
    let run = Background::start(
        &app,
        &["run", "--event", &ev],
        &[("SLEEP", "60000"), ("ALCHEMY_CI_TEST_LEASE", SHORT)],
    );
    // Alchemy sits in the slow resource, and a renewal has saved the state
    // as it stands, slow resource included.
    wait_for("a renewal that saves the slow resource", &run, || {
        resource(&app.snapshot("pr-71"), "slow").is_some()
    });
    for child in children(run.pid().as_raw()) {
        let _ = killpg(Pid::from_raw(child), Signal::SIGKILL);
    }
    let _ = kill(run.pid(), Signal::SIGKILL);
    let (code, _) = run.finish();
    assert_eq!(code, None, "killed by a signal");
    let left = app.snapshot("pr-71");
    let lock = left
        .record
        .as_ref()
        .and_then(|r| r.lock.clone())
        .expect("the killed run's lock is still there");
    assert!(resource(&left, "page").is_some(), "{:?}", left.files.keys());

    let sha2 = FakeGitHub::sha("next");
    let started = Instant::now();
    let next = app.run(
        &app.event("s", "synchronize", 71, &sha2),
        &[],
        &[("CONTENT", "v2"), ("ALCHEMY_CI_TEST_LEASE", SHORT)],
    );
    next.ok();
    let took = started.elapsed();
    assert!(
        next.stderr.contains("taking over stage pr-71's lock")
            && next.stderr.contains(&lock.holder),
        "{}",
        next.context()
    );
    // Two lease periods, plus the deploy itself on a busy machine.
    assert!(
        took < Duration::from_secs(8 + 60),
        "took {took:?}\n{}",
        next.context()
    );
    let after = app.snapshot("pr-71");
    let rec = after.record.clone().expect("record");
    assert_eq!(rec.status, RecordStatus::Deployed);
    assert!(rec.lock.is_none());
    let takeover = rec.lock_history.last().expect("the takeover is recorded");
    assert_eq!(takeover.event, "taken-over");
    assert_eq!(takeover.holder, lock.holder);
    assert!(takeover.reason.contains("expired"), "{}", takeover.reason);
    // The page the killed run made was found and updated, not made again.
    assert_eq!(
        resource(&after, "page").map(|r| r["status"].clone()),
        Some(serde_json::json!("updated")),
        "{}",
        next.context()
    );
}

/// A lock held by workflow run 999 of the same repository, live for ten
/// more minutes.
fn locked_by_run_999(app: &App, n: u64) {
    let now = Timestamp::now();
    edit_record(app, &format!("pr-{n}"), |r| {
        r.lock = Some(Lease {
            holder: "run 999 attempt 1 (1a2b3c4d)".into(),
            run_url: Some(format!(
                "https://github.com/{OWNER}/{REPO}/actions/runs/999"
            )),
            acquired_at: now,
            expires_at: now.plus(Duration::from_secs(600)),
            renewed_at: None,
            run: Some(RunRef {
                repository: format!("{OWNER}/{REPO}"),
                id: 999,
                attempt: 1,
            }),
            action: Some("deploy".into()),
        });
    });
}

/// Scenario: the stage is locked by a workflow run that GitHub reports
/// `completed` (cancelled, say, before it could release its lock). The
/// next run takes the lock over at once instead of waiting for the lease.
#[test]
fn a_lock_whose_workflow_run_is_completed_is_taken_over_at_once() {
    let fake = fake();
    let app = App::new();
    let env = gh_env(&fake);
    let sha = FakeGitHub::sha("gone");
    fake.set_pull(OWNER, REPO, 72, PullState::Open, &sha);
    let with = pairs(
        &env,
        &[
            ("GITHUB_RUN_ID", "1000"),
            ("ALCHEMY_CI_TEST_LEASE", "wait=60"),
        ],
    );
    app.run(&app.event("o", "opened", 72, &sha), &[], &with)
        .ok();
    locked_by_run_999(&app, 72);
    fake.set_workflow_run(
        OWNER,
        REPO,
        WorkflowRun {
            id: 999,
            status: "completed".into(),
            conclusion: Some("cancelled".into()),
            run_attempt: 1,
        },
    );
    let started = Instant::now();
    let out = app.run(&app.event("s", "synchronize", 72, &sha), &[], &with);
    out.ok();
    // No waiting for the ten-minute lease (nor the 60 s wait).
    assert!(
        started.elapsed() < Duration::from_secs(45),
        "{}",
        out.context()
    );
    assert_eq!(
        fake.count_requests("GET", &format!("/repos/{OWNER}/{REPO}/actions/runs/999")),
        1
    );
    let rec = app.record("pr-72");
    assert!(rec.lock.is_none());
    let takeover = rec.lock_history.last().expect("recorded");
    assert!(
        takeover
            .reason
            .contains("workflow run 999 is completed (cancelled)"),
        "{takeover:?}"
    );
}

/// Scenario: the stage is locked by a workflow run that is still running.
/// The next run waits, says who holds the stage, since when and where its
/// run is, at least every report interval, and gives up after its wait
/// without touching the stage.
#[test]
fn a_lock_whose_workflow_run_is_in_progress_is_waited_for_and_said_so() {
    let fake = fake();
    let app = App::new();
    let env = gh_env(&fake);
    let sha = FakeGitHub::sha("alive");
    fake.set_pull(OWNER, REPO, 73, PullState::Open, &sha);
    app.run(&app.event("o", "opened", 73, &sha), &[], &pairs(&env, &[]))
        .ok();
    locked_by_run_999(&app, 73);
    fake.set_workflow_run(
        OWNER,
        REPO,
        WorkflowRun {
            id: 999,
            status: "in_progress".into(),
            conclusion: None,
            run_attempt: 1,
        },
    );
    let before = app.snapshot("pr-73");
    let out = app.run(
        &app.event("s", "synchronize", 73, &sha),
        &[],
        &pairs(
            &env,
            &[
                ("GITHUB_RUN_ID", "1000"),
                ("ALCHEMY_CI_TEST_LEASE", "wait=3,poll=0.2,report=1"),
            ],
        ),
    );
    assert_eq!(out.code, 1, "{}", out.context());
    let waiting: Vec<&str> = out
        .stderr
        .lines()
        .filter(|l| l.contains("stage pr-73 is locked by run 999 attempt 1"))
        .collect();
    assert!(waiting.len() >= 2, "{}", out.context());
    for line in &waiting {
        assert!(
            line.contains(" since ")
                && line.contains(&format!(
                    "https://github.com/{OWNER}/{REPO}/actions/runs/999"
                )),
            "{line}"
        );
    }
    assert!(out.stderr.contains("gave up"), "{}", out.context());
    assert_eq!(
        app.snapshot("pr-73"),
        before,
        "the waiting run changed the stage"
    );
}

/// Scenario: a run is paused (a suspended VM, SIGSTOP) past its lease;
/// another run takes the stage over and deploys. When the paused run
/// wakes, it must not write its state over the new holder's: it stops,
/// keeps its state on disk and says where.
#[test]
fn a_run_whose_lease_was_taken_over_does_not_overwrite_the_new_holder() {
    let a = App::new();
    let b = App::new();
    let store = a.store_path();
    let sha_a = FakeGitHub::sha("paused");
    let ev_a = a.event("o", "opened", 74, &sha_a).display().to_string();
    let paused = Background::start(
        &a,
        &["run", "--event", &ev_a],
        &[("SLEEP", "60000"), ("ALCHEMY_CI_TEST_LEASE", SHORT)],
    );
    wait_for("the first run's slow resource", &paused, || {
        a.app_path()
            .join(".alchemy/e2e-app/pr-74/slow.json")
            .exists()
    });
    let groups: Vec<Pid> = children(paused.pid().as_raw())
        .into_iter()
        .map(Pid::from_raw)
        .collect();
    kill(paused.pid(), Signal::SIGSTOP).expect("stop");
    for g in &groups {
        let _ = killpg(*g, Signal::SIGSTOP);
    }

    // Another checkout deploys the same stage once the lease lapses.
    let sha_b = FakeGitHub::sha("taker");
    let ev_b = b
        .event("s", "synchronize", 74, &sha_b)
        .display()
        .to_string();
    let taker = Background::start_with_store(
        &b,
        &store,
        &["run", "--event", &ev_b],
        &[("ALCHEMY_CI_TEST_LEASE", SHORT)],
    );
    let (code, out_b) = taker.finish();
    assert_eq!(code, Some(0), "{out_b}");
    let theirs = DirStore::new(&store)
        .load(&stage("pr-74"))
        .expect("load")
        .snapshot;

    for g in &groups {
        let _ = killpg(*g, Signal::SIGCONT);
    }
    kill(paused.pid(), Signal::SIGCONT).expect("continue");
    let (code, out_a) = paused.finish();
    assert_eq!(code, Some(1), "{out_a}");
    let now = DirStore::new(&store)
        .load(&stage("pr-74"))
        .expect("load")
        .snapshot;
    assert_eq!(
        now, theirs,
        "the paused run wrote over the new holder\n{out_a}"
    );
    let rec = now.record.expect("record");
    assert_eq!(
        rec.head_sha.as_ref().map(|s| s.as_str()),
        Some(sha_b.as_str())
    );
    assert!(out_a.contains("taken over"), "{out_a}");
    let kept = a.app_path().join(".alchemy");
    assert!(
        out_a.contains(&format!("left in {}", kept.display()))
            && kept.join("e2e-app/pr-74").exists(),
        "{out_a}"
    );
}

/// A stage with a state file and a record, locked by `holder` until
/// `expires_in` seconds from now (negative: expired).
fn seed_locked(store: &DirStore, name: &str, holder: &str, expires_in: i64) -> Snapshot {
    let now = Timestamp::now();
    let mut rec = Record::new(stage(name), RecordStatus::Deploying, now);
    rec.files = vec![format!("app/{name}/site.json")];
    rec.lock = Some(Lease {
        holder: holder.into(),
        run_url: None,
        acquired_at: now,
        expires_at: Timestamp::from_unix(now.unix().saturating_add_signed(expires_in)),
        renewed_at: None,
        run: None,
        action: Some("deploy".into()),
    });
    let snap = Snapshot {
        record: Some(rec),
        files: BTreeMap::from([(
            format!("app/{name}/site.json"),
            b"{\"id\":\"site\"}".to_vec(),
        )]),
    };
    store
        .put(&stage(name), &snap, &Version::ABSENT, "seed")
        .expect("seed");
    snap
}

/// `state unlock` removes only the lock, refuses a live holder unless
/// forced, and the record keeps who unlocked it.
#[test]
fn state_unlock_removes_only_the_lock_and_records_who() {
    let app = App::new();
    let store = DirStore::new(app.store_path());
    let seeded = seed_locked(&store, "pr-75", "run 5 attempt 1 (alive)", 600);

    let refused = app.command(&["state"], &["unlock", "pr-75"], &[("USER", "sam")]);
    refused.bad_input(&["pr-75", "run 5 attempt 1 (alive)", "--force"]);
    assert_eq!(
        app.snapshot("pr-75"),
        seeded,
        "a refused unlock changed the stage"
    );

    let forced = app.command(
        &["state"],
        &["unlock", "pr-75", "--force"],
        &[("USER", "sam")],
    );
    forced.ok();
    assert!(
        forced.stdout.contains("unlocked stage pr-75"),
        "{}",
        forced.context()
    );
    let after = app.snapshot("pr-75");
    assert_eq!(after.files, seeded.files, "unlock touched the state");
    let rec = after.record.expect("record");
    let was = seeded.record.expect("record");
    assert!(rec.lock.is_none());
    assert_eq!(
        (rec.status, &rec.files, rec.updated_at, rec.created_at),
        (was.status, &was.files, was.updated_at, was.created_at),
        "unlock changed more than the lock"
    );
    let ev = rec.lock_history.last().expect("the unlock is recorded");
    assert_eq!(ev.event, "unlocked");
    assert_eq!(ev.holder, "run 5 attempt 1 (alive)");
    assert!(ev.by.contains("sam"), "{ev:?}");
    assert!(ev.reason.contains("--force"), "{ev:?}");

    // A lease that lapsed needs no --force.
    seed_locked(&store, "pr-76", "run 6 attempt 1 (dead)", -60);
    app.command(&["state"], &["unlock", "pr-76"], &[("USER", "sam")])
        .ok();
    let rec = app.record("pr-76");
    assert!(rec.lock.is_none());
    assert!(rec.lock_history[0].reason.contains("expired"));
    // Nothing to unlock, or no such stage.
    app.command(&["state"], &["unlock", "pr-76"], &[]).ok();
    app.command(&["state"], &["unlock", "pr-404"], &[])
        .bad_input(&["pr-404"]);
}
