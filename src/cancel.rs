//! Noticing that the job is being cancelled. A cancelled GitHub job sends
//! SIGTERM (SIGINT from a terminal); dying on it would leave a deploy's
//! state unsaved and its resources unfindable, so alchemy-ci catches both,
//! stops the child, saves, and only then exits.
//!
//! A stage's run also stops when its lease is lost ([`LEASE_LOST`]): its
//! [`Cancel::child`] fires without the whole process being asked to stop.

use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::mpsc::Sender;
use std::sync::{Arc, Mutex};
use std::time::Instant;

/// Not a signal: the stop of a run whose lease on its stage was taken over
/// or could not be renewed.
pub const LEASE_LOST: i32 = -1;

use signal_hook::consts::{SIGINT, SIGTERM};
use signal_hook::iterator::Signals;

/// Shared view of "a stop was requested". Cheap to clone.
#[derive(Clone, Default)]
pub struct Cancel {
    signal: Arc<AtomicI32>,
    at: Arc<Mutex<Option<Instant>>>,
    listeners: Arc<Mutex<Vec<Sender<i32>>>>,
    children: Arc<Mutex<Vec<Cancel>>>,
}

impl Cancel {
    /// Catches SIGTERM and SIGINT for the rest of the process's life.
    pub fn install() -> std::io::Result<Self> {
        let cancel = Self::default();
        let mut signals = Signals::new([SIGTERM, SIGINT])?;
        let shared = cancel.clone();
        std::thread::Builder::new()
            .name("signals".into())
            .spawn(move || {
                for sig in signals.forever() {
                    shared.trigger(sig);
                }
            })?;
        Ok(cancel)
    }

    /// A cancel that only fires when [`Cancel::trigger`] is called.
    pub fn manual() -> Self {
        Self::default()
    }

    pub fn trigger(&self, sig: i32) {
        if let Ok(mut at) = self.at.lock() {
            at.get_or_insert_with(Instant::now);
        }
        self.signal.store(sig, Ordering::SeqCst);
        if let Ok(listeners) = self.listeners.lock() {
            for l in listeners.iter() {
                let _ = l.send(sig);
            }
        }
        if let Ok(children) = self.children.lock() {
            for c in children.iter() {
                c.trigger(sig);
            }
        }
    }

    /// A cancel that fires with this one, and can also fire on its own
    /// (for one stage's run).
    pub fn child(&self) -> Self {
        let child = Self::default();
        if let Ok(mut children) = self.children.lock() {
            children.push(child.clone());
        }
        if let Some(sig) = self.received() {
            child.trigger(sig);
        }
        child
    }

    /// When the first stop request came.
    pub fn received_at(&self) -> Option<Instant> {
        self.at.lock().ok().and_then(|at| *at)
    }

    /// The signal that asked us to stop, if one did.
    pub fn received(&self) -> Option<i32> {
        match self.signal.load(Ordering::SeqCst) {
            0 => None,
            s => Some(s),
        }
    }

    /// Sends each later stop request to `tx` as well.
    pub fn subscribe(&self, tx: Sender<i32>) {
        if let Ok(mut l) = self.listeners.lock() {
            l.push(tx);
        }
    }
}

pub fn signal_name(sig: i32) -> &'static str {
    match sig {
        SIGTERM => "SIGTERM",
        SIGINT => "SIGINT",
        LEASE_LOST => "word that its lease on the stage was lost",
        _ => "a signal",
    }
}
