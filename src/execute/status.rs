//! What a stage's run tells GitHub besides the comment's status and the
//! deployment: the commit status branch protection can require, a keep or
//! a ttl warning recorded under the lock, and the sticky comment written
//! from the record (with the plan's sections and what the record says of
//! keeps and approvals). The rendering is shared with the runs that only
//! answer (`answer.rs`).

use super::{Runtime, StageRun, StepError};
use crate::config::StatusCheck;
use crate::event::CommitSha;
use crate::github::client::ForgeError;
use crate::github::commands_api::StatusWrite;
use crate::github::comment::{self, CommentInput, CommentStatus};
use crate::github::forge::Forge;
use crate::plan::{Plan, StatusPhase};
use crate::pr_command::approval::approved_markdown;
use crate::pr_command::decide::KeepFor;
use crate::record::Record;
use crate::stage::Stage;
use crate::status_check::{self, AppPhase, Phase};
use crate::time::Timestamp;
use crate::ttl;

/// Posts the statuses `phase` comes to on `sha`. `Ok(Some(message))` when
/// GitHub refused (the token may not write statuses): a warning in the log
/// (and an annotation with `status-check: true`), and no more statuses
/// should be posted.
pub(super) fn post_status(
    forge: &dyn Forge,
    rt: &Runtime<'_>,
    stage: &Stage,
    sha: &CommitSha,
    phase: Phase,
) -> Result<Option<String>, ForgeError> {
    let statuses = status_check::statuses(
        stage,
        rt.run_url.as_deref(),
        &[AppPhase { app: None, phase }],
    );
    for s in &statuses {
        if let StatusWrite::Forbidden { message } = forge.set_status(sha, s)? {
            let msg = format!(
                "could not post the {} commit status: GitHub refused ({message}); give the job `statuses: write` for a check branch protection can require",
                s.context
            );
            tracing::warn!("{msg}");
            // The default says it in the log only: a workflow that never
            // asked for the check gets no annotation on every run.
            if rt.config.status_check == StatusCheck::On {
                rt.actions.warning(&msg);
            }
            return Ok(Some(msg));
        }
    }
    Ok(None)
}

/// The phase a skip's or a deploy's first status says.
pub(super) fn phase_of(p: &StatusPhase) -> Phase {
    match p {
        StatusPhase::Deploying => Phase::Deploying,
        StatusPhase::NotNeeded { reason } => Phase::NotNeeded {
            reason: reason.clone(),
        },
    }
}

/// The sticky comment as the stage's record has it, with `sections`: what
/// a command's answer, a keep or a ttl warning writes.
pub(super) fn refresh_body(
    stage: &Stage,
    record: Option<&Record>,
    sections: &[String],
    rt: &Runtime<'_>,
) -> String {
    let Some(r) = record else {
        return comment::render_without_preview(stage, sections, rt.run_url.as_deref());
    };
    let now = rt.clock.now().human();
    let failed = matches!(
        r.status,
        CommentStatus::Failed | CommentStatus::DestroyFailed
    );
    comment::render(&CommentInput {
        stage,
        status: r.status,
        repo_url: rt.repo_url.clone(),
        sha: r.head_sha.as_ref(),
        urls: &r.urls,
        run_url: r.run_url.as_deref(),
        updated_at: Some(&now),
        log_tail: r.error.as_deref().filter(|_| failed),
        removed: if r.status == CommentStatus::DestroyFailed {
            &r.remaining
        } else {
            &[]
        },
        merged_into: None,
        unverified: None,
        note: None,
        sections,
    })
}

/// The plan's sections shown in a comment of `status`, then `extra`, then
/// what the record says of a keep and of an approval the plan does not
/// name.
pub(super) fn sections_for(
    plan: &Plan,
    status: Option<CommentStatus>,
    extra: &[String],
    record: Option<&Record>,
    rt: &Runtime<'_>,
) -> Vec<String> {
    let mut out: Vec<String> = plan
        .sections
        .iter()
        .filter(|s| s.shown(status))
        .map(|s| s.markdown.clone())
        .collect();
    out.extend(extra.iter().cloned());
    let Some(r) = record else {
        return out;
    };
    let now = rt.clock.now();
    if let Some(until) = r.keep_until.filter(|u| *u > now) {
        let texts = ttl::TextInput {
            prefix: &rt.config.command_prefix,
            keep_label: rt.config.keep_label.as_deref(),
            ttl: rt.config.ttl.unwrap_or_default(),
        };
        out.push(ttl::kept_markdown(&texts, Some(until)));
    }
    let named = plan.command.as_ref().is_some_and(|c| c.approval.is_some());
    if let Some(a) = r
        .approved
        .as_ref()
        .filter(|a| !named && r.head_sha.as_ref() == Some(&a.sha))
    {
        out.push(approved_markdown(a));
    }
    out
}

impl StageRun<'_, '_> {
    /// A status before the outcome is known: deploying.
    pub(super) fn commit_status(&mut self, phase: &StatusPhase) -> Result<(), StepError> {
        self.post_commit_status(phase_of(phase))
    }

    /// The deploy's outcome: success with the preview's URL, or failure
    /// with the run.
    pub(super) fn commit_status_result(&mut self) -> Result<(), StepError> {
        let phase = match &self.failure {
            None => Phase::Deployed {
                url: self.urls.first().map(|u| u.url.clone()),
            },
            Some(f) => Phase::Failed {
                error: Some(f.to_string()),
            },
        };
        self.post_commit_status(phase)
    }

    fn post_commit_status(&mut self, phase: Phase) -> Result<(), StepError> {
        let Some(sha) = self.plan.commit.clone() else {
            return Ok(());
        };
        if self.statuses_off {
            return Ok(());
        }
        let Some(forge) = self.forge() else {
            return Ok(());
        };
        let refused = post_status(forge, self.rt, &self.stage, &sha, phase).map_err(|source| {
            StepError::Forge {
                what: "post the commit status",
                source,
            }
        })?;
        if let Some(msg) = refused {
            self.statuses_off = true;
            if self.rt.config.status_check != StatusCheck::Auto {
                self.warnings.push(msg);
            }
        }
        Ok(())
    }

    /// Records the keep in the record, under the lock.
    pub(super) fn keep_preview(&mut self, keep: KeepFor) {
        let now = self.rt.clock.now();
        let until = match keep {
            KeepFor::For(d) => Some(ttl::keep_until(now, d)),
            KeepFor::Off => None,
        };
        if let Some(r) = self.record.as_mut() {
            r.keep_until = until;
        }
        if until.is_none() {
            self.extra_sections.push(format!(
                "📌 The keep was ended: the ttl counts from the last deploy again; `{} keep 7d` keeps it again.\n",
                self.rt.config.command_prefix
            ));
        }
    }

    pub(super) fn kept_message(&self) -> String {
        let until = self.record.as_ref().and_then(|r| r.keep_until);
        match until {
            Some(u) => format!("kept {} past the ttl until {}", self.stage, u.human()),
            None => format!("ended {}'s keep", self.stage),
        }
    }

    /// Records the sweep's warning, under the lock.
    pub(super) fn mark_warned(&mut self) {
        let now: Timestamp = self.rt.clock.now();
        if let Some(r) = self.record.as_mut() {
            r.warned_at = Some(now);
        }
    }

    /// Writes the sticky comment from the record as this run leaves it.
    pub(super) fn refresh_comment(&mut self) -> Result<(), StepError> {
        let Some(number) = self.plan.pr else {
            return Ok(());
        };
        let Some(forge) = self.forge() else {
            return Ok(());
        };
        let record = self.record.as_ref();
        let sections = sections_for(
            &self.plan,
            record.map(|r| r.status),
            &self.extra_sections,
            record,
            self.rt,
        );
        let body = refresh_body(&self.stage, record, &sections, self.rt);
        forge
            .upsert_comment(number, &self.stage, &body)
            .map(|_| ())
            .map_err(|source| StepError::Forge {
                what: "update the PR comment",
                source,
            })
    }
}
