//! The parts of a run that answer a PR comment, and the plans that only
//! talk to GitHub: the reaction when the run starts and when it ends, the
//! check that the checked-out commit is the approved one (before the stage
//! is locked, so a refusal touches nothing), and the runs of a reply, an
//! unlock and a skip's commit status. GitHub's failures here are warnings,
//! as everywhere.

use super::status::{phase_of, post_status, refresh_body, sections_for};
use super::{Outcome, Report, Runtime};
use crate::github::client::ForgeError;
use crate::github::forge::Forge;
use crate::plan::{Action, Plan, StepKind};
use crate::pr_command::approval::{check_checkout, Approval};
use crate::pr_command::Reaction;
use crate::stage::Stage;
use crate::state::lease::{self, Acquire, Holder, LeaseError, Unlocked};

/// A comment's reactions around its run.
pub(super) struct Reactions<'a> {
    plan: &'a Plan,
    rt: &'a Runtime<'a>,
    warnings: Vec<String>,
}

impl<'a> Reactions<'a> {
    pub fn new(plan: &'a Plan, rt: &'a Runtime<'a>) -> Self {
        Self {
            plan,
            rt,
            warnings: Vec::new(),
        }
    }

    /// The steps before the stage's lock: the first reaction, then the
    /// checkout check. A refusal is the run's report.
    pub fn before(&mut self) -> Result<(), Box<Report>> {
        let early = self
            .plan
            .steps
            .iter()
            .take_while(|s| !matches!(s.kind, StepKind::AcquireLock { .. }));
        for step in early {
            match &step.kind {
                StepKind::React { reaction } => self.react(*reaction),
                StepKind::CheckCheckout { approved } => {
                    if let Err(message) = self.check_checkout(approved) {
                        tracing::error!("{message}");
                        return Err(Box::new(Report {
                            result: Outcome::Failure,
                            message,
                            ..Report::skipped(self.plan)
                        }));
                    }
                }
                _ => {}
            }
        }
        Ok(())
    }

    /// The last reaction, by the run's outcome; a skip did not do what the
    /// command said.
    pub fn after(&mut self, report: &mut Report) {
        let last = self.plan.steps.iter().find_map(|s| match s.kind {
            StepKind::ReactResult {
                on_success,
                on_failure,
            } => Some(if report.result == Outcome::Success {
                on_success
            } else {
                on_failure
            }),
            _ => None,
        });
        if let Some(reaction) = last {
            self.react(reaction);
        }
        report.warnings.append(&mut self.warnings);
    }

    fn react(&mut self, reaction: Reaction) {
        let (Some(forge), Some(c)) = (self.rt.forge, self.plan.command.as_ref()) else {
            return;
        };
        if let Err(e) = forge.react(c.comment_id, reaction) {
            let msg = format!("could not react {} to the comment: {e}", reaction.content());
            tracing::warn!("{msg}");
            self.rt.actions.warning(&msg);
            self.warnings.push(msg);
        }
    }

    /// The checked-out `HEAD` must be the approved commit: a push after
    /// the approval is never run under it.
    fn check_checkout(&self, approved: &crate::event::CommitSha) -> Result<(), String> {
        let head = crate::checkout::head_commit(&self.rt.app_dir)
            .map_err(|e| format!("cannot tell which commit is checked out: {e}"))?;
        let by = self.plan.command.as_ref().map(|c| c.by.clone());
        match (self.plan.pr, by) {
            (Some(pr), Some(by)) => {
                let approval = Approval {
                    sha: approved.clone(),
                    by,
                };
                check_checkout(pr, &approval, &head).map_err(|e| e.to_string())
            }
            _ if head == *approved => Ok(()),
            _ => Err(format!(
                "the checked-out commit {} is not {}, the commit approved-sha names; check out exactly that commit",
                head.as_str(),
                approved.as_str()
            )),
        }
    }
}

/// Runs a plan that locks no stage: its reply, unlock or commit status.
pub(super) fn run(plan: &Plan, rt: &Runtime<'_>) -> Report {
    let mut a = Answer {
        plan,
        rt,
        report: Report {
            result: match plan.action {
                Action::Skip => Outcome::Skipped,
                _ => Outcome::Success,
            },
            ..Report::skipped(plan)
        },
        extra: Vec::new(),
    };
    let Some(stage) = plan.stage.clone() else {
        return a.report;
    };
    for step in &plan.steps {
        match &step.kind {
            StepKind::CommitStatus { phase } => a.status(&stage, &phase_of(phase)),
            StepKind::Unlock { by, .. } => a.unlock(&stage, by),
            StepKind::RefreshComment => a.refresh(&stage),
            _ => {}
        }
    }
    a.report
}

struct Answer<'a> {
    plan: &'a Plan,
    rt: &'a Runtime<'a>,
    report: Report,
    /// What the comment says of this run's outcome.
    extra: Vec<String>,
}

impl<'a> Answer<'a> {
    fn warn(&mut self, what: &str, e: &ForgeError) {
        let msg = format!("could not {what}: {e}");
        tracing::warn!("{msg}");
        self.rt.actions.warning(&msg);
        self.report.warnings.push(msg);
    }

    fn forge(&self) -> Option<&'a dyn Forge> {
        self.rt.forge
    }

    fn status(&mut self, stage: &Stage, phase: &crate::status_check::Phase) {
        let (Some(forge), Some(sha)) = (self.forge(), self.plan.commit.clone()) else {
            return;
        };
        match post_status(forge, self.rt, stage, &sha, phase.clone()) {
            Ok(None) => {}
            Ok(Some(msg)) => {
                if self.rt.config.status_check != crate::config::StatusCheck::Auto {
                    self.report.warnings.push(msg);
                }
            }
            Err(e) => self.warn("post the commit status", &e),
        }
    }

    /// Removes the stage's lock if its holder is gone, noting who did;
    /// never its state or record.
    fn unlock(&mut self, stage: &Stage, by: &str) {
        let run = self
            .rt
            .run_url
            .as_deref()
            .map(|u| format!(" ({u})"))
            .unwrap_or_default();
        let holder = Holder {
            id: format!("{by}{run}"),
            run_url: self.rt.run_url.clone(),
            run: None,
        };
        let never = || false;
        let a = Acquire {
            store: self.rt.store,
            stage,
            holder: &holder,
            opts: &self.rt.lease,
            clock: self.rt.clock,
            stop: &never,
            gone: self.rt.holder_gone,
        };
        let (result, message, said) = match lease::unlock(&a, false) {
            Ok(Unlocked::Removed(l)) => (
                Outcome::Success,
                format!("unlocked stage {stage}: removed the lock of {}; its state and record are unchanged", lease::describe(&l)),
                format!("🔓 Unlocked by **{}**: the lock of a run that is gone was removed; the stage's state is unchanged.", crate::github::markdown::text(by)),
            ),
            Ok(Unlocked::NotLocked) => (
                Outcome::Success,
                format!("stage {stage} is not locked"),
                "🔓 The stage was not locked: nothing to unlock.".to_owned(),
            ),
            Err(e @ LeaseError::Alive { .. }) => (
                Outcome::Failure,
                e.to_string(),
                format!("🔒 Not unlocked: {}", crate::github::markdown::text(&e.to_string())),
            ),
            Err(e) => (
                Outcome::Failure,
                format!("could not unlock stage {stage}: {e}"),
                format!("🔒 Not unlocked: {}", crate::github::markdown::text(&e.to_string())),
            ),
        };
        self.report.result = result;
        self.report.message = message;
        self.extra.push(said);
    }

    /// Writes the sticky comment from the stage's record as it is (read
    /// without the lock: nothing is written to the store).
    fn refresh(&mut self, stage: &Stage) {
        let (Some(forge), Some(number)) = (self.forge(), self.plan.pr) else {
            return;
        };
        let record = match self.rt.store.load(stage) {
            Ok(l) => l.snapshot.record,
            Err(e) => {
                let msg = format!("could not read stage {stage}'s record: {e}");
                tracing::warn!("{msg}");
                self.report.warnings.push(msg);
                None
            }
        };
        let status = record.as_ref().map(|r| r.status);
        let sections = sections_for(self.plan, status, &self.extra, record.as_ref(), self.rt);
        let body = refresh_body(stage, record.as_ref(), &sections, self.rt);
        if let Err(e) = forge.upsert_comment(number, stage, &body) {
            self.warn("update the PR comment", &e);
        }
    }
}
