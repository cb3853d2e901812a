//! Per-stage locks built on the store's compare-and-swap, the same for
//! every backend: the lease lives in the stage's record, and taking it,
//! renewing it, changing the stage and giving it back are ordinary
//! conditional writes.
//!
//! A lease is short (minutes) and its holder renews it while it works
//! ([`Keeper`]). A lease that was not renewed in time, or whose workflow
//! run GitHub reports completed, belongs to a run that died: the next run
//! takes it over, says so in the log and notes it in the record's
//! `lock_history`. A run whose own lease was taken over never writes over
//! the new holder.

mod keeper;
mod unlock;

use std::time::Duration;

use super::{AsKey, Loaded, Snapshot, StateKey, StateStore, StoreError, Version};
use crate::record::{Lease, LockEvent, Record, RecordStatus, RunRef};
use crate::stage::PrNumber;
use crate::time::{Clock, Timestamp};

pub use keeper::{FileSource, Keeper, KeeperParts};
pub use unlock::{unlock, Unlocked};

/// Who is taking the lease.
#[derive(Debug, Clone)]
pub struct Holder {
    pub id: String,
    pub run_url: Option<String>,
    /// The workflow run, under GitHub Actions.
    pub run: Option<RunRef>,
}

impl Holder {
    /// A holder id unique to this process: the workflow run when there is
    /// one (matrix jobs share a run id, hence the random part), else the
    /// host and process.
    pub fn for_this_process(run: Option<RunRef>, run_url: Option<String>) -> Self {
        let nonce = format!("{:08x}", fastrand::u32(..));
        let id = match &run {
            Some(r) => format!("run {} attempt {} ({nonce})", r.id, r.attempt),
            None => format!("pid {} on {} ({nonce})", std::process::id(), host_name()),
        };
        Self { id, run_url, run }
    }
}

/// This machine's name, for holders and unlocks outside Actions.
pub fn host_name() -> String {
    std::fs::read_to_string("/etc/hostname")
        .map_or_else(|_| "this host".into(), |h| h.trim().to_owned())
}

#[derive(Debug, Clone)]
pub struct LeaseOptions {
    /// How long a lease lasts without renewal: how long a crashed run can
    /// block its stage.
    pub ttl: Duration,
    /// How often the holder renews its lease; well under `ttl`, so a slow
    /// store or a busy machine does not let a live lease lapse.
    pub renew_every: Duration,
    /// How long to wait for another run's live lease before giving up.
    pub wait: Duration,
    /// Pause between looks at a busy stage.
    pub poll: Duration,
    /// While waiting, say who holds the stage at least this often.
    pub report_every: Duration,
    /// Compare-and-swap conflicts tolerated before giving up.
    pub max_conflicts: u32,
}

impl Default for LeaseOptions {
    fn default() -> Self {
        Self {
            ttl: Duration::from_secs(5 * 60),
            renew_every: Duration::from_secs(60),
            wait: Duration::from_secs(10 * 60),
            poll: Duration::from_secs(5),
            report_every: Duration::from_secs(30),
            max_conflicts: 20,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum LeaseError {
    #[error("stage {stage} is locked by {}; gave up after waiting {}s", describe(lease), waited.as_secs())]
    Busy {
        stage: StateKey,
        lease: Box<Lease>,
        waited: Duration,
    },
    #[error("stage {stage}'s lock was taken over by {holder} while this run held it; this run's state was not written over theirs")]
    Lost { stage: StateKey, holder: String },
    #[error(
        "stage {stage} kept changing under this run ({conflicts} conflicting writes); giving up"
    )]
    Contended { stage: StateKey, conflicts: u32 },
    #[error(
        "stage {stage} is locked by {}, which looks alive; pass --force to unlock it anyway",
        describe(lease)
    )]
    Alive { stage: StateKey, lease: Box<Lease> },
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// What the holder is about to do, written with the lease.
#[derive(Debug, Clone)]
pub struct Intent {
    /// `deploy`, `destroy`, `read`: shown to whoever waits.
    pub action: &'static str,
    /// The status the record shows while the lease is held; `None` keeps it.
    pub status: Option<RecordStatus>,
    /// The PR the stage belongs to, for a stage the lock creates.
    pub pr: Option<PrNumber>,
    /// Create the stage if it does not exist. Without it a missing stage
    /// is [`Acquired::Absent`] and nothing is written.
    pub create: bool,
}

/// Everything taking a lease needs.
pub struct Acquire<'a> {
    pub store: &'a dyn StateStore,
    /// The stage (or app's stage) to lock.
    pub stage: &'a dyn AsKey,
    pub holder: &'a Holder,
    pub opts: &'a LeaseOptions,
    pub clock: &'a dyn Clock,
    /// True once this run should stop waiting (it was cancelled).
    pub stop: &'a dyn Fn() -> bool,
    /// Whether another holder is known to be gone although its lease has
    /// not expired (GitHub says its run completed), and why.
    pub gone: &'a dyn Fn(&Lease) -> Option<String>,
}

pub enum Acquired {
    Held(Box<Held>),
    /// The stage does not exist and the intent does not create it; nothing
    /// was written and no lock is held.
    Absent,
}

/// A lease this run holds.
#[derive(Debug, Clone)]
pub struct Held {
    /// The stage exactly as the lock write found it: what every decision
    /// about the stage is made from.
    pub replaced: Snapshot,
    /// What the store holds now (the record with this run's lease).
    pub current: Loaded,
    /// The lock write created the stage.
    pub created: bool,
}

/// Takes the stage's lease: waits while another live run holds it, takes
/// over a dead one, and writes the lease (with `intent`'s status) in one
/// compare-and-swap. The record it replaced comes back with it, so the
/// caller decides from what the lock write saw, at no extra read.
pub fn acquire(a: &Acquire<'_>, intent: &Intent) -> Result<Acquired, LeaseError> {
    let started = a.clock.elapsed();
    let mut watch = Watch::default();
    let mut conflicts = 0;
    loop {
        let Loaded { snapshot, version } = a.store.load(a.stage)?;
        if snapshot.is_empty() && !intent.create {
            return Ok(Acquired::Absent);
        }
        let now = a.clock.now();
        let mut takeover = None;
        if let Some(lease) = snapshot.record.as_ref().and_then(|r| r.lock.clone()) {
            if lease.holder != a.holder.id {
                let waited = a.clock.elapsed().saturating_sub(started);
                match watch.verdict(a, &lease, now) {
                    Some(why) => takeover = Some((lease, why)),
                    None if waited >= a.opts.wait || (a.stop)() => {
                        return Err(LeaseError::Busy {
                            stage: a.stage.as_key(),
                            lease: Box::new(lease),
                            waited,
                        })
                    }
                    None => {
                        watch.report(a, &lease, waited, now);
                        a.clock.sleep(jitter(a.opts.poll));
                        continue;
                    }
                }
            }
        }
        let next = locked(a, intent, &snapshot, now, takeover);
        let message = format!(
            "lock {} ({}) by {}",
            a.stage.as_key(),
            intent.action,
            a.holder.id
        );
        match a.store.put(a.stage, &next, &version, &message) {
            Ok(v) => {
                return Ok(Acquired::Held(Box::new(Held {
                    created: version == Version::ABSENT,
                    replaced: snapshot,
                    current: Loaded {
                        snapshot: next,
                        version: v,
                    },
                })))
            }
            Err(StoreError::Conflict { .. }) => {
                conflicts += 1;
                if conflicts > a.opts.max_conflicts {
                    return Err(LeaseError::Contended {
                        stage: a.stage.as_key(),
                        conflicts,
                    });
                }
                a.clock.sleep(jitter(Duration::from_millis(
                    50 * u64::from(conflicts.min(20)),
                )));
            }
            Err(e) => return Err(e.into()),
        }
    }
}

/// The stage with this run's lease (and `intent`'s status) in its record,
/// and a takeover, if any, noted.
fn locked(
    a: &Acquire<'_>,
    intent: &Intent,
    snapshot: &Snapshot,
    now: Timestamp,
    takeover: Option<(Lease, String)>,
) -> Snapshot {
    let mut next = snapshot.clone();
    let key = a.stage.as_key();
    let record = next.record.get_or_insert_with(|| {
        let mut r = Record::new(
            key.stage.clone(),
            intent.status.unwrap_or(RecordStatus::Failed),
            now,
        );
        r.app.clone_from(&key.app);
        r.pr = intent.pr;
        r
    });
    if let Some(status) = intent.status {
        record.status = status;
    }
    record.lock = Some(new_lease(a.holder, intent.action, now, a.opts.ttl));
    if let Some((old, why)) = takeover {
        tracing::warn!(
            "taking over stage {key}'s lock from {}: {why}",
            describe(&old)
        );
        record.note_lock_event(LockEvent {
            at: now,
            event: "taken-over".into(),
            by: a.holder.id.clone(),
            holder: old.holder.clone(),
            holder_run_url: old.run_url.clone(),
            reason: why,
        });
    }
    next
}

fn new_lease(holder: &Holder, action: &str, now: Timestamp, ttl: Duration) -> Lease {
    Lease {
        holder: holder.id.clone(),
        run_url: holder.run_url.clone(),
        acquired_at: now,
        expires_at: now.plus(ttl),
        renewed_at: None,
        run: holder.run.clone(),
        action: Some(action.to_owned()),
    }
}

/// What a waiting run knows about the holder: when it last asked GitHub
/// about it and when it last told the user.
#[derive(Default)]
pub(super) struct Watch {
    asked_at: Option<Duration>,
    gone: Option<String>,
    reported_at: Option<Duration>,
}

impl Watch {
    /// Why `lease`'s holder is dead, or `None` while it looks alive.
    pub(super) fn verdict(
        &mut self,
        a: &Acquire<'_>,
        lease: &Lease,
        now: Timestamp,
    ) -> Option<String> {
        if lease.expires_at <= now {
            return Some(format!(
                "its lease expired at {} without being renewed",
                lease.expires_at
            ));
        }
        if let (Some(theirs), Some(ours)) = (&lease.run, &a.holder.run) {
            // GitHub starts a new attempt of a run only once the last one ended.
            if theirs.repository == ours.repository
                && theirs.id == ours.id
                && theirs.attempt < ours.attempt
            {
                return Some(format!(
                    "it is attempt {} of this workflow run, which ended before this attempt {} began",
                    theirs.attempt, ours.attempt
                ));
            }
        }
        // Asking GitHub costs a request: at first sight, then now and again.
        let t = a.clock.elapsed();
        let due = self
            .asked_at
            .is_none_or(|at| t.saturating_sub(at) >= a.opts.report_every);
        if due && self.gone.is_none() {
            self.asked_at = Some(t);
            self.gone = (a.gone)(lease);
        }
        self.gone.clone()
    }

    /// Says who holds the stage, at first sight and then at least every
    /// `report_every`.
    fn report(&mut self, a: &Acquire<'_>, lease: &Lease, waited: Duration, now: Timestamp) {
        let t = a.clock.elapsed();
        if self
            .reported_at
            .is_some_and(|at| t.saturating_sub(at) < a.opts.report_every)
        {
            return;
        }
        self.reported_at = Some(t);
        let renewed = lease.renewed_at.unwrap_or(lease.acquired_at);
        tracing::warn!(
            "stage {} is locked by {}; last renewed {}s ago, it expires at {} unless renewed; waited {}s of {}s",
            a.stage.as_key(),
            describe(lease),
            now.since(renewed).as_secs(),
            lease.expires_at,
            waited.as_secs(),
            a.opts.wait.as_secs()
        );
    }
}

/// `run 12 attempt 1 (1a2b3c4d) since 2026-11-23T13:49:00Z for a deploy
/// (https://…/runs/12)`.
pub fn describe(lease: &Lease) -> String {
    let action = lease
        .action
        .as_deref()
        .map(|a| format!(" for a {a}"))
        .unwrap_or_default();
    let url = lease
        .run_url
        .as_deref()
        .map(|u| format!(" ({u})"))
        .unwrap_or_default();
    format!("{} since {}{action}{url}", lease.holder, lease.acquired_at)
}

/// Gives the lease back leaving the stage as the lock write found it: the
/// run decided, under the lock, that there is nothing to do. A stage the
/// lock created is removed again; a takeover stays noted in the record.
pub fn release_unchanged(
    store: &dyn StateStore,
    stage: &dyn AsKey,
    holder: &Holder,
    held: Held,
    max_conflicts: u32,
) -> Result<(), LeaseError> {
    if held.created {
        return match store.remove(stage, &held.current.version) {
            Ok(()) => Ok(()),
            Err(StoreError::Conflict { .. }) => Err(lost(store, stage)),
            Err(e) => Err(e.into()),
        };
    }
    let mut snapshot = held.replaced;
    if let (Some(r), Some(now)) = (snapshot.record.as_mut(), &held.current.snapshot.record) {
        r.lock = now.lock.clone();
        r.lock_history.clone_from(&now.lock_history);
    }
    let message = format!("unlock {} unchanged by {}", stage.as_key(), holder.id);
    finish(
        store,
        stage,
        holder,
        snapshot,
        held.current.version,
        &message,
        max_conflicts,
    )
    .map(|_| ())
}

/// The holder of the stage's lease now, for a [`LeaseError::Lost`].
fn lost(store: &dyn StateStore, stage: &dyn AsKey) -> LeaseError {
    let holder = store
        .load(stage)
        .ok()
        .and_then(|l| l.snapshot.record.and_then(|r| r.lock))
        .map_or_else(
            || "another run, which has since released it".into(),
            |l| l.holder,
        );
    LeaseError::Lost {
        stage: stage.as_key(),
        holder,
    }
}

/// Writes the run's final snapshot and gives the lease back in one write.
/// If someone else changed the stage meanwhile, the write is retried only
/// while the lease in the store is still ours; a lease taken over by
/// another run is never written over.
pub fn finish(
    store: &dyn StateStore,
    stage: &dyn AsKey,
    holder: &Holder,
    mut snapshot: Snapshot,
    mut version: Version,
    message: &str,
    max_conflicts: u32,
) -> Result<Version, LeaseError> {
    if let Some(r) = snapshot.record.as_mut() {
        if r.lock.as_ref().is_some_and(|l| l.holder == holder.id) {
            r.lock = None;
        }
    }
    let mut conflicts = 0;
    loop {
        match store.put(stage, &snapshot, &version, message) {
            Ok(v) => return Ok(v),
            Err(StoreError::Conflict { .. }) => {
                conflicts += 1;
                let now = store.load(stage)?;
                let theirs = now.snapshot.record.as_ref().and_then(|r| r.lock.as_ref());
                match theirs {
                    Some(l) if l.holder == holder.id => {
                        if conflicts > max_conflicts {
                            return Err(LeaseError::Contended {
                                stage: stage.as_key(),
                                conflicts,
                            });
                        }
                        version = now.version;
                    }
                    other => {
                        return Err(LeaseError::Lost {
                            stage: stage.as_key(),
                            holder: other.map_or_else(
                                || "another run, which has since released it".into(),
                                |l| l.holder.clone(),
                            ),
                        })
                    }
                }
            }
            Err(e) => return Err(e.into()),
        }
    }
}

/// A pause between `d/2` and `d`, so runs that collided do not collide again.
fn jitter(d: Duration) -> Duration {
    let half = d / 2;
    half + half.mul_f64(fastrand::f64())
}
