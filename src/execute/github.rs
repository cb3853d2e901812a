//! Telling GitHub about a run: the sticky comment and the deployment. A
//! GitHub failure never fails a run, and after a stop request (a cancelled
//! job is killed seconds later) only calls that can finish in the time left
//! are made: the state was saved before any of them.

use std::time::{Duration, Instant};

use super::{StageRun, StepError};
use crate::alchemy::verify::Verification;
use crate::github::client::ForgeError;
use crate::github::comment::{self, CommentInput, CommentStatus, NamedUrl};
use crate::github::forge::{DeploymentStatus, Forge};
use crate::stage::Stage;

/// Less time than this left before the job is killed: no more GitHub calls.
const MIN_CALL: Duration = Duration::from_secs(1);

impl<'e> StageRun<'e, '_> {
    /// GitHub, unless it refused us already or a stop request leaves no
    /// time for a call; then the calls it gets must end by the deadline.
    pub(super) fn forge(&mut self) -> Option<&'e dyn Forge> {
        if self.forge_off {
            return None;
        }
        let forge = self.rt.forge?;
        if let Some(at) = self.rt.cancel.received_at() {
            let deadline = at + self.rt.stop_budget;
            if deadline.saturating_duration_since(Instant::now()) < MIN_CALL {
                self.forge_off = true;
                let msg = "skipping the remaining GitHub updates: the job is about to be stopped (the state was saved first)";
                tracing::warn!("{msg}");
                self.warnings.push(msg.into());
                return None;
            }
            forge.set_deadline(deadline);
        }
        Some(forge)
    }

    /// A GitHub failure never fails the run: it is a warning. A token that
    /// may not write (a fork's read-only token) is told once, then left alone.
    pub(super) fn forge_warning(&mut self, what: &str, e: &ForgeError) {
        let msg = if matches!(e, ForgeError::Forbidden { .. }) {
            self.forge_off = true;
            format!("could not {what}: {e}; nothing more will be posted in this run (a read-only token, as forks get?)")
        } else {
            format!("could not {what}: {e}")
        };
        tracing::warn!("{msg}");
        self.rt.actions.warning(&msg);
        self.warnings.push(msg);
    }

    pub(super) fn create_deployment(&mut self, environment: &str) -> Result<(), StepError> {
        let Some(sha) = self.plan.commit.clone() else {
            return Ok(());
        };
        let Some(forge) = self.forge() else {
            return Ok(());
        };
        let rule = &self.rt.config.deployment_environment;
        // An app's stage deploys as `pr-7@api`.
        let stage = self.key.clone();
        let created = forge
            .create_deployment(rule, &stage, self.plan.pr, &sha)
            .and_then(|id| {
                forge
                    .deployment_status(
                        id,
                        &DeploymentStatus {
                            state: "in_progress",
                            environment_url: None,
                            log_url: self.rt.run_url.clone(),
                            description: format!("Deploying {stage} to {environment}"),
                        },
                    )
                    .map(|()| id)
            });
        self.deployment = Some(created.map_err(|source| StepError::Forge {
            what: "create the deployment",
            source,
        })?);
        Ok(())
    }

    /// The deployment's outcome; after a success, the stage's older
    /// deployments are marked inactive (in a shared environment GitHub
    /// leaves transient ones alone, and never touches another stage's).
    pub(super) fn deployment_result(&mut self, _environment: &str) -> Result<(), StepError> {
        let Some(id) = self.deployment else {
            return Ok(());
        };
        let Some(forge) = self.forge() else {
            return Ok(());
        };
        let stage = self.key.clone();
        let ok = self.failure.is_none();
        let status = DeploymentStatus {
            state: if ok { "success" } else { "failure" },
            environment_url: if ok {
                self.urls.first().map(|u| u.url.clone())
            } else {
                None
            },
            log_url: self.rt.run_url.clone(),
            description: if ok {
                format!("{stage} is deployed")
            } else {
                format!("Deploy of {stage} failed")
            },
        };
        let forge_error = |what| move |source| StepError::Forge { what, source };
        forge
            .deployment_status(id, &status)
            .map_err(forge_error("update the deployment"))?;
        if ok {
            let rule = &self.rt.config.deployment_environment;
            let why = format!("{stage} was deployed again");
            forge
                .deactivate_deployments(rule, &stage, Some(id), &why)
                .map_err(forge_error("mark the stage's older deployments inactive"))?;
        }
        Ok(())
    }

    pub(super) fn deactivate_deployments(&mut self, _environment: &str) -> Result<(), StepError> {
        let Some(forge) = self.forge() else {
            return Ok(());
        };
        let rule = &self.rt.config.deployment_environment;
        let why = format!("{} was destroyed", self.key);
        forge
            .deactivate_deployments(rule, &self.key, None, &why)
            .map(|_| ())
            .map_err(|source| StepError::Forge {
                what: "mark the deployments inactive",
                source,
            })
    }

    pub(super) fn post_comment(&mut self, status: CommentStatus) -> Result<(), StepError> {
        let Some(number) = self.plan.pr else {
            return Ok(());
        };
        let Some(forge) = self.forge() else {
            return Ok(());
        };
        let body = self.comment_body(status);
        forge
            .upsert_comment(number, &self.stage, &body)
            .map(|_| ())
            .map_err(|source| StepError::Forge {
                what: "update the PR comment",
                source,
            })
    }

    /// The sticky comment for the stage in `status`.
    fn comment_body(&self, status: CommentStatus) -> String {
        let finished = matches!(status, CommentStatus::Deployed | CommentStatus::Destroyed);
        let urls: Vec<NamedUrl> = match status {
            CommentStatus::Deployed | CommentStatus::Failed => self.urls.clone(),
            // While deploying, the previous URLs still serve.
            CommentStatus::Deploying => self
                .record
                .as_ref()
                .map(|r| r.urls.clone())
                .unwrap_or_default(),
            _ => Vec::new(),
        };
        let tail = self
            .finished
            .as_ref()
            .filter(|f| !f.succeeded() && !finished)
            .map(|f| f.tail.clone());
        let log_tail = match (&tail, &self.failure) {
            (Some(t), _) => Some(t.clone()),
            (None, Some(f)) if !finished => Some(f.to_string()),
            _ => None,
        };
        let removed: Vec<String> = match status {
            CommentStatus::Destroyed => self.removed.clone(),
            CommentStatus::DestroyFailed => self.remaining.clone(),
            _ => Vec::new(),
        };
        let now = self.rt.clock.now().human();
        let run_url = self.rt.run_url.clone();
        let merged = self.merged_into(status);
        let note = self
            .plan
            .note
            .clone()
            .filter(|_| status == CommentStatus::Destroyed);
        let unverified = self
            .verification
            .as_ref()
            .and_then(Verification::reason)
            .filter(|_| status == CommentStatus::Destroyed)
            .map(str::to_owned);
        let sections = super::status::sections_for(
            &self.plan,
            Some(status),
            &self.extra_sections,
            self.record.as_ref(),
            self.rt,
        );
        comment::render(&CommentInput {
            stage: &self.stage,
            status,
            repo_url: self.rt.repo_url.clone(),
            sha: self.plan.commit.as_ref(),
            urls: &urls,
            run_url: run_url.as_deref(),
            updated_at: Some(&now),
            log_tail: log_tail.as_deref(),
            removed: &removed,
            merged_into: merged.as_ref().map(|(s, u)| (s, u.as_deref())),
            note: note.as_deref(),
            unverified: unverified.as_deref(),
            sections: &sections,
        })
    }

    /// The branch stage a merge deploys to, with its URL when this store
    /// holds it; not looked up once the job is being stopped.
    fn merged_into(&self, status: CommentStatus) -> Option<(Stage, Option<String>)> {
        let s = self
            .plan
            .merged_into
            .as_ref()
            .filter(|_| status == CommentStatus::Destroyed)?;
        let url = if self.rt.cancel.received().is_some() {
            None
        } else {
            self.rt
                .store
                .load(s)
                .ok()
                .and_then(|l| l.snapshot.record)
                .and_then(|r| r.urls.first().map(|u| u.url.clone()))
        };
        Some((s.clone(), url))
    }
}
