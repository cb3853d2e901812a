//! Per-stage locks built on the store's compare-and-swap, the same for
//! every backend: the lease lives in the stage's record, and taking it,
//! changing the stage and giving it back are ordinary conditional writes.

use std::time::{Duration, Instant};

use super::{Loaded, Snapshot, StateStore, StoreError, Version};
use crate::record::{Lease, Record, RecordStatus};
use crate::stage::Stage;
use crate::time::Timestamp;

/// Who is taking the lease.
#[derive(Debug, Clone)]
pub struct Holder {
    pub id: String,
    pub run_url: Option<String>,
}

impl Holder {
    /// A holder id unique to this process: the workflow run when there is
    /// one (matrix jobs share a run id, hence the random part), else the
    /// host and process.
    pub fn for_this_process(
        run_id: Option<&str>,
        attempt: Option<&str>,
        run_url: Option<String>,
    ) -> Self {
        let nonce = format!("{:08x}", fastrand::u32(..));
        let id = match run_id {
            Some(id) => format!("run {id} attempt {} ({nonce})", attempt.unwrap_or("1")),
            None => format!(
                "pid {} on {} ({nonce})",
                std::process::id(),
                std::fs::read_to_string("/etc/hostname")
                    .map_or_else(|_| "this host".into(), |h| h.trim().to_owned())
            ),
        };
        Self { id, run_url }
    }
}

#[derive(Debug, Clone)]
pub struct LeaseOptions {
    /// How long a lease lasts; it must outlive the run it protects.
    pub ttl: Duration,
    /// How long to wait for another run's lease before giving up.
    pub wait: Duration,
    /// Pause between looks at a busy stage.
    pub poll: Duration,
    /// Compare-and-swap conflicts tolerated before giving up.
    pub max_conflicts: u32,
}

impl Default for LeaseOptions {
    fn default() -> Self {
        Self {
            ttl: Duration::from_secs(70 * 60),
            wait: Duration::from_secs(10 * 60),
            poll: Duration::from_secs(5),
            max_conflicts: 20,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum LeaseError {
    #[error("stage {stage} is locked by {holder}{} until {expires_at}; waited {waited:?}", run_url.as_deref().map(|u| format!(" ({u})")).unwrap_or_default())]
    Busy {
        stage: Stage,
        holder: String,
        run_url: Option<String>,
        expires_at: Timestamp,
        waited: Duration,
    },
    #[error("stage {stage}'s lock was taken over by {holder} while this run held it; this run's state was not written over theirs")]
    Lost { stage: Stage, holder: String },
    #[error(
        "stage {stage} kept changing under this run ({conflicts} conflicting writes); giving up"
    )]
    Contended { stage: Stage, conflicts: u32 },
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Takes the stage's lease, setting `status` (e.g. `deploying`) and applying
/// `update` to the record in the same write. Returns what was written and its
/// version, for the final write of the run.
pub fn acquire(
    store: &dyn StateStore,
    stage: &Stage,
    holder: &Holder,
    opts: &LeaseOptions,
    status: Option<RecordStatus>,
    stop: &dyn Fn() -> bool,
    update: impl Fn(&mut Record),
) -> Result<Loaded, LeaseError> {
    let started = Instant::now();
    let mut conflicts = 0;
    let mut announced = false;
    loop {
        let Loaded {
            mut snapshot,
            version,
        } = store.load(stage)?;
        let now = Timestamp::now();
        if let Some(lease) = snapshot.record.as_ref().and_then(|r| r.lock.clone()) {
            if lease.holder != holder.id {
                if lease.expires_at > now {
                    let waited = started.elapsed();
                    if waited >= opts.wait || stop() {
                        return Err(LeaseError::Busy {
                            stage: stage.clone(),
                            holder: lease.holder,
                            run_url: lease.run_url,
                            expires_at: lease.expires_at,
                            waited,
                        });
                    }
                    if !announced {
                        tracing::warn!(
                            "stage {stage} is locked by {}{}; waiting up to {:?}",
                            lease.holder,
                            lease
                                .run_url
                                .as_deref()
                                .map(|u| format!(" ({u})"))
                                .unwrap_or_default(),
                            opts.wait
                        );
                        announced = true;
                    }
                    std::thread::sleep(jitter(opts.poll));
                    continue;
                }
                tracing::warn!(
                    "taking over stage {stage}'s lock from {}, which expired at {}",
                    lease.holder,
                    lease.expires_at
                );
            }
        }
        // Without a status to set (a read), the record keeps its own.
        let record = snapshot.record.get_or_insert_with(|| {
            Record::new(stage.clone(), status.unwrap_or(RecordStatus::Failed), now)
        });
        if let Some(status) = status {
            record.status = status;
        }
        record.updated_at = now;
        record.lock = Some(Lease {
            holder: holder.id.clone(),
            run_url: holder.run_url.clone(),
            acquired_at: now,
            expires_at: now.plus(opts.ttl),
        });
        update(record);
        let message = format!("lock {stage} ({}) by {}", record.status, holder.id);
        match store.put(stage, &snapshot, &version, &message) {
            Ok(version) => return Ok(Loaded { snapshot, version }),
            Err(StoreError::Conflict { .. }) => {
                conflicts += 1;
                if conflicts > opts.max_conflicts {
                    return Err(LeaseError::Contended {
                        stage: stage.clone(),
                        conflicts,
                    });
                }
                std::thread::sleep(jitter(Duration::from_millis(
                    50 * u64::from(conflicts.min(20)),
                )));
            }
            Err(e) => return Err(e.into()),
        }
    }
}

/// Writes the run's final snapshot and gives the lease back in one write.
/// If someone else changed the stage meanwhile, the write is retried only
/// while the lease in the store is still ours; a lease taken over by
/// another run is never written over.
pub fn finish(
    store: &dyn StateStore,
    stage: &Stage,
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
                                stage: stage.clone(),
                                conflicts,
                            });
                        }
                        version = now.version;
                    }
                    other => {
                        return Err(LeaseError::Lost {
                            stage: stage.clone(),
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
