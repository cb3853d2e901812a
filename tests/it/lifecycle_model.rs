//! The lifecycle as a property: random interleavings of a PR's opens,
//! pushes, closes and reopens, their runs delivered late, out of order,
//! cancelled or crashed, and sweeps, all driven through the real decision
//! code (`plan::decide`, `cleanup::select`/`recheck`), the real executor
//! and leases, and the folder store; only Alchemy is a model (it keeps
//! one resource per stage in a set that stands for the cloud), because
//! hundreds of runs cannot each start the real program.
//!
//! Runs interleave where real ones do: other runs, world changes, sweeps
//! and clock jumps happen while a run's Alchemy works, and between a run's
//! first decision and its lock. Invariants, checked throughout and at the
//! end:
//! - a closed PR never ends with a live stage;
//! - no run deploys a closed PR's stage or lets an event destroy an open
//!   PR's stage, and a push to an open PR always deploys it again;
//! - every resource that exists is recorded in the store (else a verified
//!   destroy removed it), whenever no run is working: no write is lost.
//!   The one exception is designed: a run paused past its lease (a clock
//!   jump while its Alchemy works) must not write over the run that took
//!   the stage over, so it keeps its state on disk and says where.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use alchemy_ci::actions::Actions;
use alchemy_ci::alchemy::process::{Ending, Finished, Invocation, RunError};
use alchemy_ci::alchemy::{Detected, Flavor};
use alchemy_ci::cancel::Cancel;
use alchemy_ci::cleanup::{self, Policy, Verdict};
use alchemy_ci::config::{self, Config, FlagValues, Sources};
use alchemy_ci::event::{self, CommitSha, Event, NameHint};
use alchemy_ci::execute::{self, Outcome, Recheck, Report, Runner, Runtime};
use alchemy_ci::plan::{self, Action, Facts, LivePr, Plan, RecordFacts, RunContext};
use alchemy_ci::record::RecordStatus;
use alchemy_ci::stage::PrNumber;
use alchemy_ci::state::dir::DirStore;
use alchemy_ci::state::lease::{self, Acquire, Holder, Intent, LeaseOptions};
use alchemy_ci::state::{Snapshot, StateStore};
use alchemy_ci::time::{Clock as _, ManualClock, Timestamp};
use proptest::prelude::*;
use serde_json::json;

use crate::store_contract::stage;

/// Fixed so the suite stays fast (about a second here); raise it locally
/// with PROPTEST_CASES to search harder.
const CASES: u32 = 48;
/// How deep runs nest inside other runs' Alchemy.
const MAX_DEPTH: usize = 2;
const TTL: Duration = Duration::from_secs(300);
/// The one resource the modelled app makes, as Alchemy v1 lays it out.
const RESOURCE: &str = "m/pr-1/site.json";

#[derive(Debug, Clone, Copy)]
enum Mode {
    Normal,
    /// Stopped by SIGTERM: a deploy has made its resource, a destroy
    /// nothing yet.
    Cancel,
    /// A destroy that leaves the resource and exits 0, as Alchemy does.
    FailDestroy,
    /// This many other steps happen while Alchemy works.
    During(u8),
    /// This many other steps happen between the first decision and the lock.
    BeforeLock(u8),
}

#[derive(Debug, Clone)]
enum Op {
    Push,
    Close,
    Reopen,
    /// Deliver a pending event (picked by index) to a run.
    Deliver(usize, Mode),
    Sweep,
    /// A run takes the stage's lock and dies.
    Crash,
    /// Time passes: every lease not renewed lapses.
    Tick,
}

fn mode() -> impl Strategy<Value = Mode> {
    prop_oneof![
        4 => Just(Mode::Normal),
        1 => Just(Mode::Cancel),
        1 => Just(Mode::FailDestroy),
        2 => (1u8..4).prop_map(Mode::During),
        2 => (1u8..4).prop_map(Mode::BeforeLock),
    ]
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => Just(Op::Push),
        2 => Just(Op::Close),
        2 => Just(Op::Reopen),
        6 => (0usize..4, mode()).prop_map(|(i, m)| Op::Deliver(i, m)),
        2 => Just(Op::Sweep),
        1 => Just(Op::Crash),
        1 => Just(Op::Tick),
    ]
}

#[derive(Debug, Clone, Copy)]
struct PrEvent {
    action: &'static str,
    head: u32,
}

/// Everything outside alchemy-ci: the PR on GitHub, the events on their
/// way, and the cloud.
#[derive(Debug)]
struct World {
    open: bool,
    head: u32,
    pending: Vec<PrEvent>,
    /// Resources that exist.
    cloud: BTreeSet<String>,
}

struct Sim {
    _dir: tempfile::TempDir,
    app: PathBuf,
    store: DirStore,
    clock: ManualClock,
    config: Config,
    world: Mutex<World>,
    script: Mutex<VecDeque<Op>>,
    depth: AtomicUsize,
    holders: AtomicU32,
    violations: Mutex<Vec<String>>,
}

fn sha(n: u32) -> CommitSha {
    CommitSha::parse(&format!("{n:040x}")).expect("sha")
}

impl Sim {
    fn new(script: Vec<Op>) -> Self {
        // Memory-backed where there is one: the folder store flushes every
        // write to disk, and hundreds of runs would wait on the disk.
        let shm = Path::new("/dev/shm");
        let dir = if shm.is_dir() {
            tempfile::tempdir_in(shm)
        } else {
            tempfile::tempdir()
        }
        .expect("temp dir");
        let app = dir.path().join("app");
        std::fs::create_dir_all(&app).expect("app");
        let flags = FlagValues(
            [(
                "state-store",
                format!("dir:{}", dir.path().join("store").display()),
            )]
            .into_iter()
            .collect(),
        );
        let config = config::resolve(&Sources {
            flags: &flags,
            env: &BTreeMap::new(),
            root: dir.path(),
        })
        .expect("config");
        Self {
            store: DirStore::new(dir.path().join("store")),
            _dir: dir,
            app,
            clock: ManualClock::at(Timestamp::from_unix(1_800_000_000)),
            config,
            world: Mutex::new(World {
                open: true,
                head: 0,
                pending: vec![PrEvent {
                    action: "opened",
                    head: 0,
                }],
                cloud: BTreeSet::new(),
            }),
            script: Mutex::new(script.into()),
            depth: AtomicUsize::new(0),
            holders: AtomicU32::new(0),
            violations: Mutex::new(Vec::new()),
        }
    }

    fn world(&self) -> std::sync::MutexGuard<'_, World> {
        self.world.lock().expect("world")
    }

    fn violation(&self, v: String) {
        self.violations.lock().expect("violations").push(v);
    }

    fn live(&self) -> LivePr {
        let w = self.world();
        LivePr {
            open: w.open,
            head_sha: sha(w.head),
        }
    }

    fn facts(&self) -> Facts {
        Facts {
            alchemy: Detected {
                flavor: Flavor::V1,
                why: "model".into(),
            },
            can_post: false,
            live_pr: None,
            record: None,
            run: RunContext::default(),
            commenter_permission: None,
            pull_head: None,
        }
    }

    /// Runs the next `n` steps of the script, nested in whatever is running.
    fn steps(&self, n: usize) {
        if self.depth.load(Ordering::SeqCst) >= MAX_DEPTH {
            return;
        }
        self.depth.fetch_add(1, Ordering::SeqCst);
        for _ in 0..n {
            let next = self.script.lock().expect("script").pop_front();
            match next {
                Some(op) => self.apply(op),
                None => break,
            }
        }
        self.depth.fetch_sub(1, Ordering::SeqCst);
    }

    fn apply(&self, op: Op) {
        match op {
            Op::Push | Op::Close | Op::Reopen => {
                let mut w = self.world();
                let action = match op {
                    Op::Push if w.open => {
                        w.head += 1;
                        "synchronize"
                    }
                    Op::Close if w.open => {
                        w.open = false;
                        "closed"
                    }
                    Op::Reopen if !w.open => {
                        w.open = true;
                        "reopened"
                    }
                    _ => return,
                };
                let head = w.head;
                w.pending.push(PrEvent { action, head });
            }
            Op::Deliver(i, mode) => {
                let ev = {
                    let mut w = self.world();
                    if w.pending.is_empty() {
                        return;
                    }
                    let i = i % w.pending.len();
                    w.pending.remove(i)
                };
                self.deliver(ev, mode);
            }
            Op::Sweep => self.sweep(),
            Op::Crash => self.crash(),
            Op::Tick => self.clock.advance(TTL + Duration::from_secs(1)),
        }
    }

    fn event(&self, ev: PrEvent) -> Event {
        let mut v = crate::support::fixture(if ev.action == "closed" {
            "pull_request.closed.json"
        } else {
            "pull_request.synchronize.json"
        });
        v["action"] = json!(ev.action);
        v["number"] = json!(1);
        v["pull_request"]["number"] = json!(1);
        v["pull_request"]["merged"] = json!(false);
        v["pull_request"]["head"]["sha"] = json!(sha(ev.head).as_str());
        let bytes = serde_json::to_vec(&v).expect("json");
        event::parse(
            Path::new("event.json"),
            &bytes,
            &NameHint {
                flag: Some("pull_request".into()),
                env: None,
            },
        )
        .expect("event")
    }

    /// A run for one event, as `alchemy-ci run` makes it: a first decision
    /// from the live PR, then the lock, and the decision made again.
    fn deliver(&self, ev: PrEvent, mode: Mode) {
        let event = self.event(ev);
        let mut facts = self.facts();
        facts.live_pr = Some(self.live());
        let first = plan::decide(&event, &self.config, &facts).expect("plan");
        if first.action == Action::Skip {
            return;
        }
        if let Mode::BeforeLock(n) = mode {
            self.steps(usize::from(n));
        }
        let recheck = |replaced: &Snapshot| {
            let mut facts = self.facts();
            facts.record = Some(RecordFacts::of(replaced));
            facts.live_pr = Some(self.live());
            plan::decide(&event, &self.config, &facts)
        };
        let report = self.execute(&first, mode, false, &recheck);
        if report.result == Outcome::Failure && report.message.contains("locked by") {
            // The run would have waited: it comes back later.
            self.world().pending.push(ev);
        }
    }

    fn execute(&self, plan: &Plan, mode: Mode, sweep: bool, recheck: Recheck<'_>) -> Report {
        let cancel = Cancel::manual();
        let actions = Actions::default();
        let runner = Model {
            sim: self,
            mode,
            sweep,
        };
        let rt = Runtime {
            store: &self.store,
            holder: self.holder(),
            lease: LeaseOptions {
                ttl: TTL,
                // Renewals are real-time; the model's runs take no time.
                renew_every: Duration::from_secs(3_600),
                wait: Duration::ZERO,
                ..LeaseOptions::default()
            },
            clock: &self.clock,
            app_dir: self.app.clone(),
            flavor: Flavor::V1,
            timeout: Duration::from_secs(60),
            grace: Duration::from_secs(1),
            cancel: &cancel,
            stop_budget: Duration::from_secs(9),
            runner: &runner,
            recheck: Some(recheck),
            holder_gone: &|_| None,
            actions: &actions,
            outputs_file: None,
            run_url: None,
            repo_url: None,
            forge: None,
            stdout_to_stderr: true,
            config: &self.config,
        };
        let report = execute::execute(plan, &rt).expect("no bad input");
        if report.kept_locally.is_some() && !report.message.contains("taken over") {
            self.violation(format!("a run could not save its state: {report:?}"));
        }
        report
    }

    fn holder(&self) -> Holder {
        Holder {
            id: format!("run {}", self.holders.fetch_add(1, Ordering::SeqCst)),
            run_url: None,
            run: None,
        }
    }

    /// The sweep, as `alchemy-ci cleanup` does it: one listing, then each
    /// destroy judged again under the stage's lock.
    fn sweep(&self) {
        let records: Vec<_> = self
            .store
            .records()
            .expect("records")
            .into_iter()
            .map(|(s, r)| (s, r.map_err(|e| e.to_string())))
            .collect();
        let open: cleanup::OpenPulls = self
            .world()
            .open
            .then(|| (PrNumber::new(1).expect("pr"), Vec::new()))
            .into_iter()
            .collect();
        let named = BTreeSet::new();
        let policy = Policy {
            prefix: &self.config.stage_prefix,
            protected: &self.config.protected_stages,
            named: &named,
            ttl: None,
            warning: None,
            keep_label: None,
            tombstone_retention: Duration::from_secs(30 * 86_400),
            now: self.clock.now(),
        };
        let schedule = event::parse(
            Path::new("schedule.json"),
            br#"{"schedule": "17 3 * * *"}"#,
            &NameHint {
                flag: Some("schedule".into()),
                env: None,
            },
        )
        .expect("event");
        let sweep = plan::decide(&schedule, &self.config, &self.facts()).expect("plan");
        for c in cleanup::select(&records, &open, &policy) {
            if c.verdict != Verdict::Destroy {
                continue;
            }
            let plan = plan::sweep_destroy(
                &sweep,
                &self.config,
                &self.facts(),
                &c.stage,
                c.pr,
                &plan::SweepFinding {
                    reason: c.reason.clone(),
                    expired: None,
                },
            );
            let recheck = |replaced: &Snapshot| {
                let mut facts = self.facts();
                facts.live_pr = Some(self.live());
                let now = Policy {
                    now: self.clock.now(),
                    ..policy.clone()
                };
                Ok(cleanup::recheck(
                    &sweep,
                    &self.config,
                    &facts,
                    &c,
                    replaced,
                    &now,
                ))
            };
            let was_open = self.world().open;
            self.execute(&plan, Mode::Normal, true, &recheck);
            let rec = self.store.load(&c.stage).expect("load").snapshot.record;
            if was_open && self.world().open && rec.is_some_and(|r| r.closed_at.is_some()) {
                self.violation("the sweep left a tombstone on an open PR's stage".into());
            }
        }
    }

    /// A run that takes the lock for a deploy and dies at once.
    fn crash(&self) {
        let never = || false;
        let a = Acquire {
            store: &self.store,
            stage: &stage("pr-1"),
            holder: &self.holder(),
            opts: &LeaseOptions {
                ttl: TTL,
                wait: Duration::ZERO,
                ..LeaseOptions::default()
            },
            clock: &self.clock,
            stop: &never,
            gone: &|_| None,
        };
        let intent = Intent {
            action: "deploy",
            status: Some(RecordStatus::Deploying),
            pr: PrNumber::new(1),
            create: true,
        };
        let _ = lease::acquire(&a, &intent);
    }

    /// Every resource that exists is in the store's files, or in the state
    /// a run left on disk (and said so) because its lease was taken over
    /// while it was paused.
    fn check_nothing_lost(&self, when: &str) {
        let stored = self.store.load(&stage("pr-1")).expect("load").snapshot;
        for r in &self.world().cloud {
            let kept = self.app.join(".alchemy").join(r).exists();
            if !stored.files.contains_key(r) && !kept {
                self.violation(format!(
                    "{when}: resource {r} exists but is not in the store"
                ));
            }
        }
    }
}

/// Alchemy as the model sees it: a deploy makes the stage's one resource,
/// a destroy removes it.
struct Model<'a> {
    sim: &'a Sim,
    mode: Mode,
    sweep: bool,
}

impl Runner for Model<'_> {
    fn run(&self, inv: &Invocation, _cancel: &Cancel) -> Result<Finished, RunError> {
        let destroy = inv.argv.iter().any(|a| a == "destroy");
        let file = inv.cwd.join(".alchemy").join(RESOURCE);
        let done = |ending| {
            Ok(Finished {
                ending,
                tail: String::new(),
                elapsed: Duration::ZERO,
            })
        };
        let open = self.sim.world().open;
        if destroy {
            if open && !self.sweep {
                self.sim
                    .violation("an event destroyed an open PR's stage".into());
            }
            if let Mode::During(n) = self.mode {
                self.sim.steps(usize::from(n));
            }
            match self.mode {
                Mode::Cancel => return done(Ending::Cancelled(15)),
                Mode::FailDestroy => return done(Ending::Exited(0)),
                _ => {}
            }
            let _ = std::fs::remove_file(&file);
            self.sim.world().cloud.remove(RESOURCE);
        } else {
            if !open {
                self.sim
                    .violation("a closed PR's stage was deployed".into());
            }
            if let Some(parent) = file.parent() {
                std::fs::create_dir_all(parent).expect("mkdir");
            }
            let body = json!({"id": "site", "fqn": "m/pr-1/site", "status": "created"});
            std::fs::write(&file, body.to_string()).expect("write");
            self.sim.world().cloud.insert(RESOURCE.into());
            if let Mode::During(n) = self.mode {
                self.sim.steps(usize::from(n));
            }
            if let Mode::Cancel = self.mode {
                return done(Ending::Cancelled(15));
            }
        }
        done(Ending::Exited(0))
    }
}

fn check(script: Vec<Op>) -> Result<(), TestCaseError> {
    let sim = Sim::new(script);
    while sim.script.lock().expect("script").front().is_some() {
        sim.steps(1);
        sim.check_nothing_lost("after a step");
    }
    // Everything still on its way arrives; dead leases lapse first.
    sim.clock.advance(TTL + Duration::from_secs(1));
    for _ in 0..8 {
        let next = {
            let mut w = sim.world();
            (!w.pending.is_empty()).then(|| w.pending.remove(0))
        };
        match next {
            Some(ev) => sim.deliver(ev, Mode::Normal),
            None => break,
        }
    }
    sim.sweep();
    sim.check_nothing_lost("at the end");
    let open = sim.world().open;
    if open {
        // A push to an open PR always brings its preview back.
        sim.apply(Op::Push);
        let ev = sim.world().pending.pop().expect("the push's event");
        sim.deliver(ev, Mode::Normal);
        let rec = sim
            .store
            .load(&stage("pr-1"))
            .expect("load")
            .snapshot
            .record;
        let head = sha(sim.world().head);
        let ok = rec.as_ref().is_some_and(|r| {
            r.status == RecordStatus::Deployed && r.head_sha.as_ref() == Some(&head)
        });
        if !ok || !sim.world().cloud.contains(RESOURCE) {
            sim.violation(format!("a push to the open PR did not deploy it: {rec:?}"));
        }
    } else if !sim.world().cloud.is_empty() {
        sim.violation("the closed PR's stage is still live".into());
    }
    let violations = sim.violations.lock().expect("violations").clone();
    prop_assert!(violations.is_empty(), "{violations:#?}");
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: std::env::var("PROPTEST_CASES")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(CASES),
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn the_lifecycle_keeps_its_invariants_under_any_interleaving(
        script in prop::collection::vec(op(), 1..40)
    ) {
        check(script)?;
    }
}
