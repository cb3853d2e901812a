//! Removing a stage's lock by hand (`alchemy-ci state unlock`): only the
//! lock, never the state, and only from a holder that is gone unless forced.

use super::{Acquire, LeaseError, Watch};
use crate::record::{Lease, LockEvent};
use crate::state::{Loaded, StoreError};

/// Result of [`unlock`].
#[derive(Debug)]
pub enum Unlocked {
    /// This lease was removed.
    Removed(Lease),
    NotLocked,
}

/// Removes a stage's lock, and only its lock: state files, status and the
/// rest of the record stay as they are, and the unlock is noted in the
/// record. A holder that looks alive (its lease not expired, and GitHub not
/// saying its run is over) is refused unless `force`.
pub fn unlock(a: &Acquire<'_>, force: bool) -> Result<Unlocked, LeaseError> {
    let mut conflicts = 0;
    loop {
        let Loaded { snapshot, version } = a.store.load(a.stage)?;
        let Some(lease) = snapshot.record.as_ref().and_then(|r| r.lock.clone()) else {
            return Ok(Unlocked::NotLocked);
        };
        let now = a.clock.now();
        let reason = match Watch::default().verdict(a, &lease, now) {
            Some(why) => why,
            None if force => format!(
                "--force, while its lease was live until {}",
                lease.expires_at
            ),
            None => {
                return Err(LeaseError::Alive {
                    stage: a.stage.as_key(),
                    lease: Box::new(lease),
                })
            }
        };
        let mut next = snapshot;
        if let Some(r) = next.record.as_mut() {
            r.lock = None;
            r.note_lock_event(LockEvent {
                at: now,
                event: "unlocked".into(),
                by: a.holder.id.clone(),
                holder: lease.holder.clone(),
                holder_run_url: lease.run_url.clone(),
                reason,
            });
        }
        let message = format!("unlock {} by hand: {}", a.stage.as_key(), a.holder.id);
        match a.store.put(a.stage, &next, &version, &message) {
            Ok(_) => return Ok(Unlocked::Removed(lease)),
            Err(StoreError::Conflict { .. }) if conflicts < a.opts.max_conflicts => {
                conflicts += 1;
            }
            Err(StoreError::Conflict { .. }) => {
                return Err(LeaseError::Contended {
                    stage: a.stage.as_key(),
                    conflicts,
                })
            }
            Err(e) => return Err(e.into()),
        }
    }
}
