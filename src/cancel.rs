//! Noticing that the job is being cancelled. A cancelled GitHub job sends
//! SIGTERM (SIGINT from a terminal); dying on it would leave a deploy's
//! state unsaved and its resources unfindable, so alchemy-ci catches both,
//! stops the child, saves, and only then exits.

use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::mpsc::Sender;
use std::sync::{Arc, Mutex};

use signal_hook::consts::{SIGINT, SIGTERM};
use signal_hook::iterator::Signals;

/// Shared view of "a stop was requested". Cheap to clone.
#[derive(Clone, Default)]
pub struct Cancel {
    signal: Arc<AtomicI32>,
    listeners: Arc<Mutex<Vec<Sender<i32>>>>,
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
        self.signal.store(sig, Ordering::SeqCst);
        if let Ok(listeners) = self.listeners.lock() {
            for l in listeners.iter() {
                let _ = l.send(sig);
            }
        }
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
        _ => "a signal",
    }
}
