//! The stage's lease in a run: taking it, deciding again from what the
//! lock write replaced, keeping it renewed while the run works, and the
//! run's one final write that saves the state, the record and gives the
//! lease back.

use super::{runs_stage, Report, StageRun, StepError};
use crate::plan::{Action, Plan, PlanError};
use crate::record::RecordStatus;
use crate::state::lease::{self, Acquire, Acquired, Held, Intent, Keeper, KeeperParts};
use crate::state::{Loaded, Snapshot};

pub(super) enum Locked {
    /// The lease is held and the (possibly new) plan goes on.
    Proceed,
    /// Under the lock there was nothing to do; the stage is as it was.
    Done(Box<Report>),
    /// The lease could not be taken.
    Failed(StepError),
}

impl StageRun<'_, '_> {
    pub(super) fn lock(&mut self) -> Result<Locked, PlanError> {
        let held = match self.take_lease() {
            Ok(held) => held,
            Err(e) => return Ok(Locked::Failed(e)),
        };
        let replaced = held
            .as_ref()
            .map_or_else(Snapshot::default, |h| h.replaced.clone());
        let plan = match self.rt.recheck.map(|f| f(&replaced)) {
            None => self.plan.clone(),
            Some(Ok(p)) => p,
            Some(Err(e)) => {
                if let Some(h) = held {
                    // Logged; the error that ends the run is the decision's.
                    let _ = self.release(h);
                }
                return Err(e);
            }
        };
        self.say_if_changed(&plan);
        let goes_on = runs_stage(&plan)
            && plan.stage.as_ref() == Some(&self.stage)
            && plan.app == self.key.app;
        let Some(held) = held else {
            let mut report = Report::skipped(&plan);
            if goes_on {
                report.message = format!(
                    "stage {} has no record and no state in {}: nothing to {}",
                    self.key,
                    self.rt.store.describe(),
                    plan.action.as_str()
                );
            }
            return Ok(Locked::Done(Box::new(report)));
        };
        if !goes_on {
            let mut report = Report::skipped(&plan);
            if let Err(e) = self.release(held) {
                report.result = super::Outcome::Failure;
                report.message = e.to_string();
            }
            return Ok(Locked::Done(Box::new(report)));
        }
        self.plan = plan;
        self.removed = super::workdir::resource_names(&held.current.snapshot.files);
        if self.wants_changes() {
            self.before.clone_from(&held.current.snapshot.files);
        }
        self.record = held.current.snapshot.record.clone();
        self.held = Some(held.current.clone());
        self.keep(held.current);
        Ok(Locked::Proceed)
    }

    /// Takes the stage's lease, waiting for another holder as long as the
    /// options allow; `None` when the stage does not exist and this run
    /// would not create it.
    fn take_lease(&self) -> Result<Option<Held>, StepError> {
        let intent = Intent {
            action: self.plan.action.as_str(),
            status: match self.plan.action {
                Action::Deploy | Action::Redeploy => Some(RecordStatus::Deploying),
                Action::Destroy => Some(RecordStatus::Destroying),
                _ => None,
            },
            pr: self.plan.pr,
            // Only a deploy makes a stage; a destroy or read of a stage the
            // store does not hold writes nothing.
            create: self.plan.action.deploys(),
        };
        let cancel = self.cancel.clone();
        let stop = move || cancel.received().is_some();
        let acquire = Acquire {
            store: self.rt.store,
            stage: &self.key,
            holder: &self.rt.holder,
            opts: &self.rt.lease,
            clock: self.rt.clock,
            stop: &stop,
            gone: self.rt.holder_gone,
        };
        match lease::acquire(&acquire, &intent) {
            Ok(Acquired::Held(h)) => Ok(Some(*h)),
            Ok(Acquired::Absent) => Ok(None),
            Err(e) => {
                let doing = format!("could not lock stage {}", self.key);
                Err(StepError::from_lease(e, &doing, &self.rt.store.describe()))
            }
        }
    }

    /// Says so when the decision made under the lock is not the one made
    /// before it: a PR reopened, pushed to or closed meanwhile.
    fn say_if_changed(&self, now: &Plan) {
        let before = &self.plan;
        if now.action != before.action || now.reason != before.reason {
            let msg = format!(
                "decided again under stage {}'s lock, from its record and the PR as they are now: {} because {} (before the lock: {})",
                self.key,
                now.action.as_str(),
                now.reason,
                before.action.as_str()
            );
            tracing::warn!("{msg}");
            self.rt.actions.notice(&msg);
        }
    }

    /// Gives the lease back, leaving the stage as the lock write found it.
    fn release(&self, held: Held) -> Result<(), StepError> {
        lease::release_unchanged(
            self.rt.store,
            &self.key,
            &self.rt.holder,
            held,
            self.rt.lease.max_conflicts,
        )
        .map_err(|e| {
            let doing = format!("could not release stage {}'s lock", self.key);
            let e = StepError::from_lease(e, &doing, &self.rt.store.describe());
            tracing::error!("{e}");
            e
        })
    }

    fn keep(&mut self, held: Loaded) {
        let on_lost = self.cancel.clone();
        let parts = KeeperParts {
            store: self.rt.store,
            stage: self.key.clone(),
            holder: self.rt.holder.clone(),
            opts: self.rt.lease.clone(),
            clock: self.rt.clock,
            on_lost: Box::new(move |_why: &str| on_lost.trigger(crate::cancel::LEASE_LOST)),
        };
        self.keeper = Some(Keeper::start(self.scope, parts, held));
    }

    /// The run's final write: its state files, its record and the release
    /// of its lease, in one compare-and-swap, never over a run that took
    /// the lease over.
    pub(super) fn save(&mut self) -> Result<(), StepError> {
        let stage = self.key.clone();
        if let Some(keeper) = self.keeper.take() {
            match keeper.finish() {
                Ok(current) => self.held = Some(current),
                Err(why) => {
                    self.lost = Some(why.clone());
                    return Err(StepError::Stopped(format!(
                        "stage {stage}'s state was not saved: {why}"
                    )));
                }
            }
        }
        let files = self.final_files();
        let Some(held) = self.held.clone() else {
            return Ok(());
        };
        let mut record = self.record.clone();
        if let (Some(r), Some(now)) = (record.as_mut(), &held.snapshot.record) {
            // Renewals changed only the lease's times and the files; the
            // run's own changes are in `self.record`.
            r.lock.clone_from(&now.lock);
            r.files = files.keys().cloned().collect();
        }
        let snapshot = Snapshot { files, record };
        let message = self.commit_message(&snapshot);
        match lease::finish(
            self.rt.store,
            &stage,
            &self.rt.holder,
            snapshot,
            held.version,
            &message,
            self.rt.lease.max_conflicts,
        ) {
            Ok(_) => {
                self.saved = true;
                Ok(())
            }
            Err(e @ lease::LeaseError::Lost { .. }) => {
                self.lost = Some(e.to_string());
                Err(StepError::Busy(e))
            }
            Err(e) => Err(StepError::from_lease(
                e,
                &format!("could not save stage {stage}'s state"),
                &self.rt.store.describe(),
            )),
        }
    }

    fn commit_message(&self, snapshot: &Snapshot) -> String {
        let status = snapshot
            .record
            .as_ref()
            .map_or_else(|| "unknown".to_owned(), |r| r.status.to_string());
        let sha = self
            .plan
            .commit
            .as_ref()
            .map(|c| format!(" @ {}", c.short()))
            .unwrap_or_default();
        let run = self
            .rt
            .run_url
            .as_deref()
            .and_then(|u| u.rsplit('/').next())
            .map(|id| format!(" (run {id})"))
            .unwrap_or_default();
        format!(
            "{} {}{sha}{run}: {status}",
            self.plan.action.as_str(),
            self.key
        )
    }
}
