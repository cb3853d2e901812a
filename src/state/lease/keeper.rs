//! Keeping a held lease alive: a background renewal, through the same
//! compare-and-swap as every write, that also saves the stage's state files
//! as they stand, and notices when the lease was lost.

use std::collections::BTreeMap;
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::{Scope, ScopedJoinHandle};

use super::{describe, Holder, LeaseOptions};
use crate::state::{Loaded, StateKey, StateStore, StoreError};
use crate::time::Clock;

/// Where the state files a renewal saves come from: the working tree while
/// Alchemy runs. `None` from the source skips the files of that renewal
/// (the lease is still renewed).
pub type FileSource = Arc<dyn Fn() -> Option<BTreeMap<String, Vec<u8>>> + Send + Sync>;

/// Renews a held lease in the background, through the same
/// compare-and-swap as every write, until [`Keeper::finish`]. A renewal
/// also saves the stage's state files as they are at that moment (see
/// [`Keeper::save_files_from`]), so a run that is killed outright leaves
/// its latest state behind rather than the state it started from.
pub struct Keeper<'scope> {
    shared: Arc<Mutex<Kept>>,
    stop: mpsc::Sender<()>,
    thread: ScopedJoinHandle<'scope, ()>,
}

struct Kept {
    current: Loaded,
    lost: Option<String>,
    files: Option<FileSource>,
}

/// What a [`Keeper`] works with.
pub struct KeeperParts<'a> {
    pub store: &'a dyn StateStore,
    pub stage: StateKey,
    pub holder: Holder,
    pub opts: LeaseOptions,
    pub clock: &'a dyn Clock,
    /// Called once when the lease is lost (taken over, or not renewed in
    /// time): the run must stop working on the stage.
    pub on_lost: Box<dyn Fn(&str) + Send + 'a>,
}

impl<'scope> Keeper<'scope> {
    pub fn start<'env: 'scope>(
        scope: &'scope Scope<'scope, 'env>,
        parts: KeeperParts<'env>,
        held: Loaded,
    ) -> Self {
        let shared = Arc::new(Mutex::new(Kept {
            current: held,
            lost: None,
            files: None,
        }));
        let (stop, rx) = mpsc::channel();
        let kept = Arc::clone(&shared);
        let thread = scope.spawn(move || {
            while let Err(RecvTimeoutError::Timeout) = rx.recv_timeout(parts.opts.renew_every) {
                let mut k = kept.lock().unwrap_or_else(PoisonError::into_inner);
                if k.lost.is_some() {
                    continue;
                }
                if let Err(why) = renew(&parts, &mut k) {
                    tracing::error!("{why}");
                    k.lost = Some(why.clone());
                    (parts.on_lost)(&why);
                }
            }
        });
        Self {
            shared,
            stop,
            thread,
        }
    }

    /// Saves the files `source` returns with each renewal from now on
    /// (`None`: renew the lease only).
    pub fn save_files_from(&self, source: Option<FileSource>) {
        self.kept().files = source;
    }

    /// Why the lease was lost, if it was.
    pub fn lost(&self) -> Option<String> {
        self.kept().lost.clone()
    }

    fn kept(&self) -> std::sync::MutexGuard<'_, Kept> {
        self.shared.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Stops renewing; returns what the store holds now, for the final
    /// write, or why the lease was lost.
    pub fn finish(self) -> Result<Loaded, String> {
        let _ = self.stop.send(());
        let _ = self.thread.join();
        let k = self.shared.lock().unwrap_or_else(PoisonError::into_inner);
        match &k.lost {
            Some(why) => Err(why.clone()),
            None => Ok(k.current.clone()),
        }
    }
}

/// One renewal: a new expiry, and the current files if there is a source.
fn renew(p: &KeeperParts<'_>, k: &mut Kept) -> Result<(), String> {
    let now = p.clock.now();
    let mut next = k.current.snapshot.clone();
    let files = k.files.as_ref().and_then(|f| f());
    let Some(record) = next.record.as_mut() else {
        return Err(format!(
            "stage {}'s record vanished from this run's lease",
            p.stage
        ));
    };
    let Some(lease) = record.lock.as_mut().filter(|l| l.holder == p.holder.id) else {
        return Err(format!("stage {}'s lease is no longer this run's", p.stage));
    };
    let expired_at = lease.expires_at;
    lease.expires_at = now.plus(p.opts.ttl);
    lease.renewed_at = Some(now);
    if let Some(files) = files {
        record.files = files.keys().cloned().collect();
        next.files = files;
    }
    let message = format!("renew lock {} by {}", p.stage, p.holder.id);
    for _ in 0..=p.opts.max_conflicts {
        match p.store.put(&p.stage, &next, &k.current.version, &message) {
            Ok(version) => {
                k.current = Loaded {
                    snapshot: next,
                    version,
                };
                return Ok(());
            }
            Err(StoreError::Conflict { .. }) => {
                let now = p.store.load(&p.stage).map_err(|e| e.to_string())?;
                let theirs = now.snapshot.record.as_ref().and_then(|r| r.lock.as_ref());
                match theirs {
                    Some(l) if l.holder == p.holder.id => k.current = now,
                    other => {
                        return Err(format!(
                            "stage {}'s lock was taken over by {} while this run held it; stopping, so that two runs never work on the same resources",
                            p.stage,
                            other.map_or_else(|| "someone who has since released it".into(), describe)
                        ))
                    }
                }
            }
            Err(e) if p.clock.now().plus(p.opts.renew_every) < expired_at => {
                tracing::warn!("could not renew stage {}'s lease (will retry): {e}", p.stage);
                return Ok(());
            }
            Err(e) => {
                return Err(format!(
                    "could not renew stage {}'s lease before it expires at {expired_at}: {e}; stopping, so that a run taking it over does not work on the same resources at once",
                    p.stage
                ))
            }
        }
    }
    Err(format!(
        "stage {} kept changing under this run while renewing its lease",
        p.stage
    ))
}
