//! In which order apps deploy and destroy, and running them: dependencies
//! first (destroys: dependants first), independent apps side by side up to
//! `max-parallel`, and the dependants of an app that failed skipped with
//! the reason.
//!
//! [`Scheduler`] is the pure bookkeeping: it says which apps may start and
//! takes their outcomes, deterministically (apps become ready level by
//! level, within a level in list order). [`run`] drives it with one thread
//! per running app.
//!
//! A failure skips the apps that wait on it, in both directions: a deploy
//! of `web` that needs `api` cannot start when `api` failed, and a destroy
//! of `api` does not start while `web`, which uses it, failed to go away
//! (it might still hold a binding to `api`; the sweep retries both later).

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use super::spec::{AppName, Apps};

/// Whether dependencies go first (deploy) or last (destroy).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Direction {
    Deploy,
    Destroy,
}

/// How one app's run went.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Outcome {
    Succeeded,
    Failed,
}

/// How an app ended up.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "result", rename_all = "kebab-case")]
pub enum Final {
    Succeeded,
    Failed,
    /// Never started: `failed` (which it waits on, directly or through
    /// other skipped apps) failed.
    Skipped {
        failed: AppName,
    },
}

/// The apps in dependency levels: level 0 depends on nothing, level `k`
/// only on apps of lower levels; within a level, list order. For
/// [`Direction::Destroy`] the levels are those of the reversed graph.
pub fn levels(apps: &Apps, direction: Direction) -> Vec<Vec<AppName>> {
    let level = level_numbers(apps, direction);
    let top = level.iter().copied().max().unwrap_or(0);
    (0..=top)
        .map(|l| {
            apps.iter()
                .zip(&level)
                .filter(|(_, lv)| **lv == l)
                .map(|(a, _)| a.name.clone())
                .collect()
        })
        .filter(|l: &Vec<AppName>| !l.is_empty())
        .collect()
}

/// For each app (list order), what it waits on in `direction`.
fn waits_on(apps: &Apps, direction: Direction) -> Vec<BTreeSet<usize>> {
    let deps: Vec<BTreeSet<usize>> = apps
        .iter()
        .map(|a| {
            apps.dependencies(a)
                .iter()
                .filter_map(|d| apps.index_of(d))
                .collect()
        })
        .collect();
    match direction {
        Direction::Deploy => deps,
        Direction::Destroy => {
            let mut rev = vec![BTreeSet::new(); deps.len()];
            for (i, ds) in deps.iter().enumerate() {
                for d in ds {
                    rev[*d].insert(i);
                }
            }
            rev
        }
    }
}

/// The longest chain of waits below each app. The graph is acyclic
/// ([`Apps`] refuses cycles), so repeated relaxation settles within as
/// many rounds as there are apps.
fn level_numbers(apps: &Apps, direction: Direction) -> Vec<usize> {
    let waits = waits_on(apps, direction);
    let mut level = vec![0usize; waits.len()];
    for _ in 0..waits.len() {
        let mut changed = false;
        for (i, ws) in waits.iter().enumerate() {
            let l = ws.iter().map(|w| level[*w] + 1).max().unwrap_or(0);
            if l != level[i] {
                level[i] = l;
                changed = true;
            }
        }
        if !changed {
            break;
        }
    }
    level
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum State {
    /// Not selected for this run: treated as in place.
    Untouched,
    Waiting,
    Running,
    Done(Final),
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScheduleError {
    #[error("there is no app named {0}")]
    Unknown(AppName),
    #[error("{0} was not started, so it cannot finish")]
    NotRunning(AppName),
    #[error("{0} has already run in this run")]
    AlreadyRun(AppName),
}

/// The state of one run over a selection of apps.
#[derive(Debug, Clone)]
pub struct Scheduler {
    names: Vec<AppName>,
    waits: Vec<BTreeSet<usize>>,
    /// (level, list position): the start order.
    rank: Vec<(usize, usize)>,
    state: Vec<State>,
    max_parallel: usize,
    /// Completion order, for the report.
    finished: Vec<usize>,
}

impl Scheduler {
    /// Schedules `selected` (the others are treated as in place and never
    /// started). `max_parallel` below 1 counts as 1.
    pub fn new<'a>(
        apps: &Apps,
        selected: impl IntoIterator<Item = &'a AppName>,
        direction: Direction,
        max_parallel: usize,
    ) -> Result<Self, ScheduleError> {
        let level = level_numbers(apps, direction);
        let mut s = Self {
            names: apps.iter().map(|a| a.name.clone()).collect(),
            waits: waits_on(apps, direction),
            rank: level.into_iter().zip(0..).collect(),
            state: vec![State::Untouched; apps.len()],
            max_parallel: max_parallel.max(1),
            finished: Vec::new(),
        };
        for name in selected {
            s.add(name)?;
        }
        Ok(s)
    }

    fn index(&self, app: &AppName) -> Result<usize, ScheduleError> {
        self.names
            .iter()
            .position(|n| n == app)
            .ok_or_else(|| ScheduleError::Unknown(app.clone()))
    }

    /// Adds an app to the run (one that turned out to need a redeploy once
    /// a dependency finished). It starts when what it waits on is done.
    /// An app that waits on one that already failed (or was skipped) is
    /// skipped at once, naming the failure.
    pub fn add(&mut self, app: &AppName) -> Result<(), ScheduleError> {
        let i = self.index(app)?;
        match self.state[i] {
            State::Untouched => {}
            State::Waiting => return Ok(()),
            _ => return Err(ScheduleError::AlreadyRun(app.clone())),
        }
        let failed = self.waits[i].iter().find_map(|w| match &self.state[*w] {
            State::Done(Final::Failed) => Some(self.names[*w].clone()),
            State::Done(Final::Skipped { failed }) => Some(failed.clone()),
            _ => None,
        });
        match failed {
            Some(failed) => {
                self.state[i] = State::Done(Final::Skipped {
                    failed: failed.clone(),
                });
                self.finished.push(i);
                self.skip_waiting_on(i, &failed);
            }
            None => self.state[i] = State::Waiting,
        }
        Ok(())
    }

    fn running(&self) -> usize {
        self.state.iter().filter(|s| **s == State::Running).count()
    }

    /// The apps to start now, in start order; they count as running until
    /// [`Scheduler::finish`]. Empty when nothing can start yet.
    pub fn start(&mut self) -> Vec<AppName> {
        let mut ready: Vec<usize> = (0..self.names.len())
            .filter(|i| self.state[*i] == State::Waiting)
            .filter(|i| {
                self.waits[*i].iter().all(|w| {
                    matches!(
                        self.state[*w],
                        State::Untouched | State::Done(Final::Succeeded)
                    )
                })
            })
            .collect();
        ready.sort_by_key(|i| self.rank[*i]);
        let room = self.max_parallel.saturating_sub(self.running());
        ready.truncate(room);
        for i in &ready {
            self.state[*i] = State::Running;
        }
        ready.into_iter().map(|i| self.names[i].clone()).collect()
    }

    /// Records how a running app went. A failure skips every waiting app
    /// that waits on it, directly or through others; those are returned.
    pub fn finish(
        &mut self,
        app: &AppName,
        outcome: Outcome,
    ) -> Result<Vec<AppName>, ScheduleError> {
        let i = self.index(app)?;
        if self.state[i] != State::Running {
            return Err(ScheduleError::NotRunning(app.clone()));
        }
        let done = match outcome {
            Outcome::Succeeded => Final::Succeeded,
            Outcome::Failed => Final::Failed,
        };
        self.state[i] = State::Done(done);
        self.finished.push(i);
        if outcome == Outcome::Succeeded {
            return Ok(Vec::new());
        }
        Ok(self.skip_waiting_on(i, app))
    }

    /// Skips every waiting app that waits on `i`, directly or through
    /// other skipped apps, naming `failed`; returns them.
    fn skip_waiting_on(&mut self, i: usize, failed: &AppName) -> Vec<AppName> {
        let mut skipped = Vec::new();
        let mut blocked = vec![i];
        while let Some(b) = blocked.pop() {
            for j in 0..self.names.len() {
                if self.state[j] == State::Waiting && self.waits[j].contains(&b) {
                    self.state[j] = State::Done(Final::Skipped {
                        failed: failed.clone(),
                    });
                    self.finished.push(j);
                    skipped.push(self.names[j].clone());
                    blocked.push(j);
                }
            }
        }
        skipped
    }

    /// Whether every selected app has finished or been skipped.
    pub fn is_done(&self) -> bool {
        !self
            .state
            .iter()
            .any(|s| matches!(s, State::Waiting | State::Running))
    }

    /// How each selected app ended, in the order they finished (skipped
    /// apps right after the failure that skipped them).
    pub fn results(&self) -> Vec<(AppName, Final)> {
        self.finished
            .iter()
            .filter_map(|i| match &self.state[*i] {
                State::Done(f) => Some((self.names[*i].clone(), f.clone())),
                _ => None,
            })
            .collect()
    }
}

/// What one app's work reports: its outcome, and apps that must run now
/// because of it (see [`super::affected::redeploy_for_outputs`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Done {
    pub outcome: Outcome,
    pub also_run: Vec<AppName>,
}

impl From<Outcome> for Done {
    fn from(outcome: Outcome) -> Self {
        Self {
            outcome,
            also_run: Vec::new(),
        }
    }
}

/// Runs the scheduler to the end, each started app's `work` on a thread
/// of its own, at most `max_parallel` at once. Returns how every app
/// ended, in the order they finished. An app in `also_run` that already
/// ran in this run is not run twice (a warning says so).
pub fn run<F>(mut scheduler: Scheduler, work: F) -> Vec<(AppName, Final)>
where
    F: Fn(&AppName) -> Done + Sync,
{
    let (tx, rx) = std::sync::mpsc::channel::<(AppName, Done)>();
    std::thread::scope(|scope| {
        let mut in_flight = 0usize;
        loop {
            for app in scheduler.start() {
                let tx = tx.clone();
                let work = &work;
                in_flight += 1;
                scope.spawn(move || {
                    let done = work(&app);
                    // The receiver outlives every sender in this scope.
                    let _ = tx.send((app, done));
                });
            }
            if in_flight == 0 {
                break;
            }
            let Ok((app, done)) = rx.recv() else {
                break;
            };
            in_flight -= 1;
            if let Err(e) = scheduler.finish(&app, done.outcome) {
                tracing::warn!("scheduling {app}: {e}");
            }
            if done.outcome == Outcome::Succeeded {
                for extra in &done.also_run {
                    if let Err(e) = scheduler.add(extra) {
                        tracing::warn!("cannot also run {extra}: {e}");
                    }
                }
            }
        }
    });
    scheduler.results()
}

/// Every app's final result by name, for looking up.
pub fn by_name(results: &[(AppName, Final)]) -> BTreeMap<&AppName, &Final> {
    results.iter().map(|(a, f)| (a, f)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Mutex;
    use std::time::Duration;

    fn n(s: &str) -> AppName {
        AppName::parse(s).expect("name")
    }

    /// `deps[i]` lists the apps `a{i}` depends on.
    fn graph(deps: &[&[usize]]) -> Apps {
        let yaml: String = deps
            .iter()
            .enumerate()
            .map(|(i, ds)| {
                let ds: Vec<String> = ds.iter().map(|d| format!("a{d}")).collect();
                format!(
                    "- {{name: a{i}, working-directory: a{i}, depends-on: [{}]}}\n",
                    ds.join(", ")
                )
            })
            .collect();
        Apps::from_text(&yaml).expect("valid graph")
    }

    fn names(v: &[AppName]) -> Vec<&str> {
        v.iter().map(AppName::as_str).collect()
    }

    fn levels_str(apps: &Apps, d: Direction) -> Vec<Vec<String>> {
        levels(apps, d)
            .into_iter()
            .map(|l| l.into_iter().map(|a| a.to_string()).collect())
            .collect()
    }

    #[test]
    fn levels_follow_dependencies_and_list_order() {
        // Dependencies may come later in the list than their dependants.
        let apps = Apps::from_text(
            "- {name: web, working-directory: w, depends-on: [api]}\n\
             - {name: api, working-directory: a, depends-on: [db]}\n\
             - {name: docs, working-directory: d}\n\
             - {name: db, working-directory: b}\n\
             - {name: admin, working-directory: m, depends-on: [web, docs]}\n",
        )
        .expect("valid");
        assert_eq!(
            levels_str(&apps, Direction::Deploy),
            [vec!["docs", "db"], vec!["api"], vec!["web"], vec!["admin"]]
        );
        assert_eq!(
            levels_str(&apps, Direction::Destroy),
            [vec!["admin"], vec!["web", "docs"], vec!["api"], vec!["db"]]
        );
    }

    #[test]
    fn independent_apps_start_together_up_to_the_limit() {
        let apps = graph(&[&[], &[], &[], &[0, 1]]);
        let all: Vec<AppName> = apps.iter().map(|a| a.name.clone()).collect();
        let mut s = Scheduler::new(&apps, &all, Direction::Deploy, 2).expect("schedule");
        assert_eq!(names(&s.start()), ["a0", "a1"]);
        assert!(s.start().is_empty(), "the limit is 2");
        s.finish(&n("a0"), Outcome::Succeeded).expect("running");
        assert_eq!(names(&s.start()), ["a2"]);
        s.finish(&n("a1"), Outcome::Succeeded).expect("running");
        assert_eq!(names(&s.start()), ["a3"]);
        s.finish(&n("a2"), Outcome::Succeeded).expect("running");
        s.finish(&n("a3"), Outcome::Succeeded).expect("running");
        assert!(s.is_done());
    }

    #[test]
    fn a_failure_skips_its_dependants_with_the_reason_and_nothing_else() {
        // a1 → a0, a2 → a1, a3 → a0 and a4, a4 alone.
        let apps = graph(&[&[], &[0], &[1], &[4], &[]]);
        let all: Vec<AppName> = apps.iter().map(|a| a.name.clone()).collect();
        let mut s = Scheduler::new(&apps, &all, Direction::Deploy, 4).expect("schedule");
        assert_eq!(names(&s.start()), ["a0", "a4"]);
        let skipped = s.finish(&n("a0"), Outcome::Failed).expect("running");
        assert_eq!(names(&skipped), ["a1", "a2"]);
        s.finish(&n("a4"), Outcome::Succeeded).expect("running");
        assert_eq!(names(&s.start()), ["a3"]);
        s.finish(&n("a3"), Outcome::Succeeded).expect("running");
        assert!(s.is_done());
        let r = s.results();
        let by = by_name(&r);
        assert_eq!(by[&n("a0")], &Final::Failed);
        assert_eq!(by[&n("a2")], &Final::Skipped { failed: n("a0") });
        assert_eq!(by[&n("a3")], &Final::Succeeded);
    }

    #[test]
    fn destroys_go_dependants_first_and_a_failed_destroy_keeps_what_it_uses() {
        let apps = graph(&[&[], &[0], &[1]]);
        let all: Vec<AppName> = apps.iter().map(|a| a.name.clone()).collect();
        let mut s = Scheduler::new(&apps, &all, Direction::Destroy, 4).expect("schedule");
        assert_eq!(names(&s.start()), ["a2"]);
        let skipped = s.finish(&n("a2"), Outcome::Failed).expect("running");
        assert_eq!(names(&skipped), ["a1", "a0"]);
        assert!(s.is_done());
    }

    #[test]
    fn apps_not_selected_count_as_in_place() {
        let apps = graph(&[&[], &[0]]);
        let mut s = Scheduler::new(&apps, &[n("a1")], Direction::Deploy, 1).expect("schedule");
        assert_eq!(names(&s.start()), ["a1"]);
        assert_eq!(
            s.finish(&n("a0"), Outcome::Succeeded),
            Err(ScheduleError::NotRunning(n("a0")))
        );
        s.finish(&n("a1"), Outcome::Succeeded).expect("running");
        assert_eq!(s.add(&n("a1")), Err(ScheduleError::AlreadyRun(n("a1"))));
        assert!(Scheduler::new(&apps, &[n("zz")], Direction::Deploy, 1).is_err());
    }

    #[test]
    fn an_app_added_after_its_dependency_failed_is_skipped_not_left_waiting() {
        let apps = graph(&[&[], &[0], &[1]]);
        let mut s = Scheduler::new(&apps, &[n("a0")], Direction::Deploy, 2).expect("schedule");
        assert_eq!(names(&s.start()), ["a0"]);
        s.finish(&n("a0"), Outcome::Failed).expect("running");
        s.add(&n("a2")).expect("added");
        s.add(&n("a1")).expect("added");
        s.add(&n("a2")).expect_err("already ended");
        assert!(s.is_done(), "nothing is left waiting");
        let r = s.results();
        let by = by_name(&r);
        assert_eq!(by[&n("a1")], &Final::Skipped { failed: n("a0") });
        assert_eq!(by[&n("a2")], &Final::Skipped { failed: n("a0") });
    }

    #[test]
    fn threads_run_independent_apps_at_the_same_time_and_respect_the_limit() {
        // a0 and a1 each wait until both have started: run one at a time,
        // they would time out and fail.
        let apps = graph(&[&[], &[], &[0, 1], &[]]);
        let all: Vec<AppName> = apps.iter().map(|a| a.name.clone()).collect();
        let started = Mutex::new(Vec::new());
        let meeting = (Mutex::new(0usize), std::sync::Condvar::new());
        let running = AtomicUsize::new(0);
        let peak = AtomicUsize::new(0);
        let s = Scheduler::new(&apps, &all, Direction::Deploy, 2).expect("schedule");
        let results = run(s, |app| {
            let now = running.fetch_add(1, Ordering::SeqCst) + 1;
            peak.fetch_max(now, Ordering::SeqCst);
            started.lock().expect("lock").push(app.to_string());
            let mut outcome = Outcome::Succeeded;
            if matches!(app.as_str(), "a0" | "a1") {
                let (count, cv) = &meeting;
                let mut c = count.lock().expect("lock");
                *c += 1;
                cv.notify_all();
                let (_c, waited) = cv
                    .wait_timeout_while(c, Duration::from_secs(60), |c| *c < 2)
                    .expect("lock");
                if waited.timed_out() {
                    outcome = Outcome::Failed;
                }
            }
            running.fetch_sub(1, Ordering::SeqCst);
            outcome.into()
        });
        assert!(peak.load(Ordering::SeqCst) <= 2);
        assert_eq!(results.len(), 4);
        assert!(
            results.iter().all(|(_, f)| f == &Final::Succeeded),
            "{results:?}"
        );
        let order = started.into_inner().expect("lock");
        let pos = |a: &str| order.iter().position(|x| x == a).expect("started");
        assert!(pos("a2") > pos("a0") && pos("a2") > pos("a1"));
    }

    #[test]
    fn work_can_add_an_app_that_then_runs_after_it() {
        let apps = graph(&[&[], &[0]]);
        let s = Scheduler::new(&apps, &[n("a0")], Direction::Deploy, 2).expect("schedule");
        let results = run(s, |app| Done {
            outcome: Outcome::Succeeded,
            also_run: if app.as_str() == "a0" {
                vec![n("a1")]
            } else {
                Vec::new()
            },
        });
        assert_eq!(
            results,
            [(n("a0"), Final::Succeeded), (n("a1"), Final::Succeeded)]
        );
    }

    /// What a simulated run did: start order, results, the most apps
    /// running at once, and the apps added along the way.
    type Simulated = (Vec<String>, Vec<(AppName, Final)>, usize, BTreeSet<usize>);

    /// Simulates a run: at each step, finish the running app picked by
    /// `picks` with the outcome `fail` says, then add the app `adds` names
    /// for that step (if it was not selected), as work that asks for a
    /// redeploy would.
    fn simulate(
        apps: &Apps,
        selected: &[AppName],
        direction: Direction,
        max: usize,
        fail: &BTreeSet<usize>,
        picks: &[usize],
        adds: &[usize],
    ) -> Simulated {
        let mut s = Scheduler::new(apps, selected, direction, max).expect("schedule");
        let waits = waits_on(apps, direction);
        let mut added = BTreeSet::new();
        let mut running: Vec<AppName> = Vec::new();
        let mut starts = Vec::new();
        let mut peak = 0;
        let mut step = 0;
        loop {
            for a in s.start() {
                starts.push(a.to_string());
                running.push(a);
            }
            peak = peak.max(running.len());
            if running.is_empty() {
                break;
            }
            let k = picks.get(step).copied().unwrap_or(0) % running.len();
            step += 1;
            let app = running.remove(k);
            let i = apps.index_of(&app).expect("listed");
            let outcome = if fail.contains(&i) {
                Outcome::Failed
            } else {
                Outcome::Succeeded
            };
            s.finish(&app, outcome).expect("running");
            // Only as a run adds apps: never under an app that waits on
            // it and has already started.
            if let Some(a) = adds.get(step).filter(|a| **a < apps.len()) {
                let name = &apps.as_slice()[*a].name;
                let waiters_started = waits.iter().enumerate().any(|(j, ws)| {
                    ws.contains(a)
                        && starts
                            .iter()
                            .any(|st| *st == apps.as_slice()[j].name.as_str())
                });
                if !selected.contains(name) && !waiters_started && added.insert(*a) {
                    s.add(name).expect("an app not yet run");
                }
            }
        }
        assert!(s.is_done());
        (starts, s.results(), peak, added)
    }

    fn random_dag() -> impl Strategy<Value = Vec<Vec<usize>>> {
        proptest::collection::vec(proptest::collection::vec(0usize..12, 0..4), 1..12).prop_map(
            |raw| {
                raw.into_iter()
                    .enumerate()
                    .map(|(i, ds)| {
                        let mut ds: Vec<usize> = ds.into_iter().filter(|d| *d < i).collect();
                        ds.sort_unstable();
                        ds.dedup();
                        ds
                    })
                    .collect()
            },
        )
    }

    proptest! {
        /// On random DAGs, selections, failures and completion orders:
        /// nothing starts before what it waits on succeeded, the limit
        /// holds, every selected app ends exactly once, an app is skipped
        /// exactly when something it waits on (transitively, among the
        /// selected) failed or was skipped, and the same run gives the
        /// same start order.
        #[test]
        fn the_scheduler_keeps_its_promises(
            dag in random_dag(),
            select_bits in proptest::collection::vec(proptest::bool::weighted(0.8), 12),
            fail_bits in proptest::collection::vec(proptest::bool::weighted(0.2), 12),
            picks in proptest::collection::vec(0usize..8, 0..40),
            adds in proptest::collection::vec(0usize..24, 0..40),
            max in 1usize..4,
            destroy in proptest::bool::ANY,
        ) {
            let deps: Vec<&[usize]> = dag.iter().map(Vec::as_slice).collect();
            let apps = graph(&deps);
            let count = dag.len();
            let direction = if destroy { Direction::Destroy } else { Direction::Deploy };
            let selected: Vec<AppName> = (0..count).filter(|i| select_bits[*i]).map(|i| n(&format!("a{i}"))).collect();
            let fail: BTreeSet<usize> = (0..count).filter(|i| fail_bits[*i]).collect();
            let (starts, results, peak, added) =
                simulate(&apps, &selected, direction, max, &fail, &picks, &adds);
            prop_assert!(peak <= max);
            prop_assert_eq!(results.len(), selected.len() + added.len());
            let by = by_name(&results);
            let waits = waits_on(&apps, direction);
            let sel: BTreeSet<usize> =
                (0..count).filter(|i| select_bits[*i]).chain(added.iter().copied()).collect();
            for i in &sel {
                let name = n(&format!("a{i}"));
                let f = by[&name];
                let blocked = waits[*i].iter().any(|w| sel.contains(w) && !matches!(by[&n(&format!("a{w}"))], Final::Succeeded));
                prop_assert_eq!(matches!(f, Final::Skipped { .. }), blocked, "a{} {:?}", i, f);
                if !blocked {
                    let pos = starts.iter().position(|s| *s == name.as_str()).expect("started");
                    for w in waits[*i].iter().filter(|w| sel.contains(w)) {
                        let wpos = starts.iter().position(|s| *s == format!("a{w}")).expect("dependency started");
                        prop_assert!(wpos < pos);
                    }
                }
            }
            let again = simulate(&apps, &selected, direction, max, &fail, &picks, &adds);
            prop_assert_eq!(starts, again.0);
        }
    }
}
