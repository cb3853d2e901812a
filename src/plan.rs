//! The whole policy: (event, config, facts) → plan. Pure: no I/O, no clock,
//! no environment. `simulate` renders the plan this returns and `run`
//! executes the same value, so what one shows is what the other does.
//!
//! `run` decides twice: once with what it knows before touching the store
//! (so a stale or closed PR's event locks nothing), and again, with the
//! same function, from the record its lock write replaced and the PR's
//! state read after the lock is held. The second decision is the one
//! carried out; `docs/lifecycle.md` draws the whole state machine.

mod reply;

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::Serialize;

use crate::alchemy::{self, Detected, Phase};
use crate::apps::spec::AppName;
use crate::config::{Command, Config, EnvValue, StateStoreSpec};
use crate::event::{CommitSha, Event, Login, NameSource, Payload, PrAction, PullRequest, Push};
use crate::github::commands_api::PullHead;
use crate::github::comment::{self, CommentInput, CommentStatus};
use crate::pr_command::approval::Approval;
use crate::pr_command::decide::KeepFor;
use crate::pr_command::permission::Permission;
use crate::pr_command::Reaction;
use crate::record::RecordStatus;
use crate::stage::{PrNumber, Stage};
use crate::state::Snapshot;
use crate::time::Timestamp;

/// What the world looked like when the plan was made, as far as the shell
/// could tell. `None` means "not looked up", and the plan says what that
/// leaves unchecked.
#[derive(Debug, Clone)]
pub struct Facts {
    pub alchemy: Detected,
    /// Whether a GitHub token is at hand, so comments and deployments can be
    /// posted.
    pub can_post: bool,
    pub live_pr: Option<LivePr>,
    pub record: Option<RecordFacts>,
    pub run: RunContext,
    /// A comment command's author's permission on the repository.
    pub commenter_permission: Option<Permission>,
    /// The pull request's head, state, fork-ness and labels, for what an
    /// event does not carry (an `issue_comment` payload has none of them;
    /// the sweep needs the labels).
    pub pull_head: Option<PullHead>,
}

/// The pull request as the API reports it now; the event may be minutes old.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LivePr {
    pub open: bool,
    pub head_sha: CommitSha,
}

/// The stage's stored record, as far as the decision needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RecordFacts {
    /// No record and no state for the stage.
    Missing,
    Present {
        status: RecordStatus,
        /// The stage was destroyed because its PR closed.
        tombstone: bool,
    },
}

impl RecordFacts {
    /// What a stored snapshot says, as the decision needs it.
    pub fn of(s: &Snapshot) -> Self {
        match &s.record {
            None if s.files.is_empty() => Self::Missing,
            // State with no record: treat it as live, so a destroy still runs.
            None => Self::Present {
                status: RecordStatus::Failed,
                tombstone: false,
            },
            Some(r) => Self::Present {
                status: r.status,
                tombstone: r.is_tombstone(),
            },
        }
    }
}

/// Where this run lives on GitHub, for links.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct RunContext {
    pub server_url: Option<String>,
    pub repository: Option<String>,
    pub run_id: Option<String>,
}

impl RunContext {
    pub fn repo_url(&self) -> Option<String> {
        let server = self.server_url.as_deref()?.trim_end_matches('/');
        Some(format!("{server}/{}", self.repository.as_deref()?))
    }

    pub fn run_url(&self) -> Option<String> {
        Some(format!(
            "{}/actions/runs/{}",
            self.repo_url()?,
            self.run_id.as_deref()?
        ))
    }
}

#[derive(Debug, thiserror::Error)]
pub enum PlanError {
    #[error("command {command} needs a stage: set the stage input or --stage")]
    MissingStage { command: Command },
    #[error("stage {stage} is protected and is never destroyed by automation; set allow-protected to destroy it on purpose")]
    Protected { stage: Stage },
    #[error("stage {stage} has no record and no state in the store: nothing to read")]
    NothingToRead { stage: Stage },
    #[error("workflow_dispatch input `{input}`: {message}")]
    DispatchInput {
        input: &'static str,
        message: String,
    },
    #[error("no apps are configured (the apps input)")]
    NoApps,
    #[error("apps: {0}")]
    Apps(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    Deploy,
    Destroy,
    /// Destroy, then deploy from scratch, under one lock.
    Redeploy,
    Read,
    /// Record how long a preview is kept past the ttl.
    Keep,
    /// Remove a stage's lock, nothing else.
    Unlock,
    /// The sweep's warning that a preview will expire.
    Warn,
    /// Answer a comment in the sticky comment: the help, the status, or
    /// why a command cannot run.
    Reply,
    /// A comment's first step: the command runs Alchemy, so the next step
    /// checks out the approved commit and runs it.
    Approve,
    Cleanup,
    Status,
    Skip,
}

impl Action {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Deploy => "deploy",
            Self::Destroy => "destroy",
            Self::Redeploy => "redeploy",
            Self::Read => "read",
            Self::Keep => "keep",
            Self::Unlock => "unlock",
            Self::Warn => "warn",
            Self::Reply => "reply",
            Self::Approve => "approve",
            Self::Cleanup => "cleanup",
            Self::Status => "status",
            Self::Skip => "skip",
        }
    }

    /// Whether it ends with the stage deployed.
    pub fn deploys(self) -> bool {
        matches!(self, Self::Deploy | Self::Redeploy)
    }

    /// Whether it runs under the stage's lock.
    pub fn locks_stage(self) -> bool {
        matches!(
            self,
            Self::Deploy | Self::Destroy | Self::Redeploy | Self::Read | Self::Keep | Self::Warn
        )
    }
}

/// The pull request a plan is about.
#[derive(Debug, Clone, Serialize)]
pub struct PrSummary {
    pub number: PrNumber,
    pub action: PrAction,
    pub head_ref: String,
    pub head_sha: CommitSha,
    pub base_ref: String,
    pub title: Option<String>,
    pub from_fork: bool,
    pub draft: bool,
    pub merged: bool,
}

/// One thing the run does, in order. `always` steps run even after an
/// earlier step failed, so a failed deploy still saves its state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Step {
    #[serde(flatten)]
    pub kind: StepKind,
    pub always: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "step", rename_all = "kebab-case")]
pub enum StepKind {
    AcquireLock {
        stage: Stage,
    },
    RestoreState {
        stage: Stage,
        store: StateStoreSpec,
    },
    Comment {
        status: CommentStatus,
    },
    /// The comment's final status depends on the outcome.
    CommentResult {
        on_success: CommentStatus,
        on_failure: CommentStatus,
    },
    /// The deployment goes to this GitHub environment.
    CreateDeployment {
        environment: String,
    },
    DeploymentResult {
        environment: String,
    },
    DeactivateDeployments {
        environment: String,
    },
    /// A reaction on the command's comment, now.
    React {
        reaction: Reaction,
    },
    /// The reaction when the run ends, by its outcome.
    ReactResult {
        on_success: Reaction,
        on_failure: Reaction,
    },
    /// Refuse unless the checked-out `HEAD` is the approved commit.
    CheckCheckout {
        approved: CommitSha,
    },
    /// A commit status on the plan's commit, now.
    CommitStatus {
        #[serde(flatten)]
        phase: StatusPhase,
    },
    /// The commit status when the deploy ends: success with the URL, or
    /// failure with the run.
    CommitStatusResult,
    /// Keep the preview past the ttl, or end a keep.
    KeepPreview {
        #[serde(flatten)]
        keep: KeepFor,
    },
    /// Record that the sweep warned of the expiry.
    MarkWarned {
        removes_at: Timestamp,
    },
    /// Remove the stage's lock if its holder is gone, noting who did.
    Unlock {
        stage: Stage,
        by: String,
    },
    /// Write the sticky comment from the stage's record, with the plan's
    /// sections.
    RefreshComment,
    /// Output the commit for the next step to check out and run.
    HandOff {
        sha: CommitSha,
    },
    RunAlchemy {
        phase: Phase,
        argv: Vec<String>,
        cwd: PathBuf,
        env: BTreeMap<String, EnvValue>,
    },
    VerifyDestroyed {
        stage: Stage,
        /// The verify-command, run when no state of the stage is left.
        #[serde(skip_serializing_if = "Option::is_none")]
        check: Option<Vec<String>>,
    },
    CollectUrls {
        stage: Stage,
    },
    SaveState {
        stage: Stage,
        store: StateStoreSpec,
    },
    /// The read phase's record update: URLs and time, nothing else.
    RefreshRecord {
        stage: Stage,
    },
    WriteRecord {
        stage: Stage,
        on_success: RecordStatus,
        on_failure: RecordStatus,
        /// A successful destroy leaves a tombstone, so a late event for the
        /// closed PR does not bring the stage back.
        tombstone: bool,
    },
    ReleaseLock {
        stage: Stage,
    },
    ListStages {
        store: StateStoreSpec,
    },
    ListOpenPullRequests,
    SelectOrphans {
        protected: Vec<Stage>,
    },
    DestroyOrphans,
    ShowStatus,
}

#[derive(Debug, Clone, Serialize)]
pub struct Plan {
    /// The event name.
    pub event: String,
    pub event_source: NameSource,
    pub repository: Option<String>,
    pub action: Action,
    pub stage: Option<Stage>,
    /// The app whose stage this is (kept under `<stage>@<app>`), in a
    /// repository with `apps:`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub app: Option<AppName>,
    pub reason: String,
    pub pull_request: Option<PrSummary>,
    /// The pull request whose comment the run updates: the event's, or the
    /// one recorded for a stage the sweep destroys.
    pub pr: Option<PrNumber>,
    /// The commit a deploy deploys: the PR's head or the pushed commit.
    pub commit: Option<CommitSha>,
    /// For a merged PR: the stage its base branch deploys to, whose URL the
    /// PR's last comment links.
    pub merged_into: Option<Stage>,
    /// Things the user must know before this runs.
    pub warnings: Vec<String>,
    /// Guards that could not run for lack of facts.
    pub unchecked: Vec<String>,
    pub alchemy: Option<Detected>,
    pub steps: Vec<Step>,
    /// The first comment body the run would post on the PR.
    pub comment_preview: Option<String>,
    /// Why the stage goes away although its PR is open, and how to bring
    /// it back: shown in the PR comment.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    /// The PR comment command this plan answers.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub command: Option<CommentCommand>,
    /// What the sticky comment says beyond the stage's status.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub sections: Vec<Section>,
}

/// A commit status a step posts before the outcome is known.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "phase", rename_all = "snake_case")]
pub enum StatusPhase {
    Deploying,
    /// `success`: a PR that needs no preview never blocks on the check.
    NotNeeded {
        reason: String,
    },
}

/// A PR comment's command, as the plan answers it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CommentCommand {
    pub comment_id: u64,
    pub by: Login,
    /// As GitHub reported it; `None` when not looked up.
    pub permission: Option<Permission>,
    /// The command understood (`deploy`, `keep`, …); `None` for one that
    /// was not.
    pub command: Option<&'static str>,
    /// The commit a command that runs Alchemy runs, and who approved it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub approval: Option<Approval>,
}

/// Markdown the sticky comment shows below the stage's status.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Section {
    /// Escaped where it repeats untrusted text.
    pub markdown: String,
    /// Shown only when the stage ends in this status; always when `None`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub when: Option<CommentStatus>,
}

impl Section {
    pub fn always(markdown: String) -> Self {
        Self {
            markdown,
            when: None,
        }
    }

    /// Whether it is shown in a comment of `status` (`None`: the stage
    /// has no record).
    pub fn shown(&self, status: Option<CommentStatus>) -> bool {
        self.when.is_none() || self.when == status
    }
}

enum Intent {
    Deploy(Stage, String),
    Destroy(Stage, String),
    Redeploy(Stage, String),
    Read(Stage, String),
    Keep(Stage, KeepFor, String),
    Unlock(Stage, String),
    Reply(Stage, String),
    Approve(Stage, String),
    /// Nothing to deploy, and the PR needs no preview: its commit status
    /// says so.
    NotNeeded(Stage, String),
    Cleanup(String),
    Status(String),
    Skip(Option<Stage>, String),
}

/// Decides what to do. Errors are bad input or configuration (exit 2);
/// everything that leads nowhere is a skip with a reason.
pub fn decide(event: &Event, config: &Config, facts: &Facts) -> Result<Plan, PlanError> {
    let mut d = Decider {
        event,
        config,
        facts,
        requested: false,
        warnings: Vec::new(),
        unchecked: Vec::new(),
        reply: reply::Reply::default(),
    };
    let pr = match &event.payload {
        Payload::PullRequest(pr) => Some(pr),
        _ => None,
    };
    let intent = match config.command {
        Command::Auto => d.auto()?,
        explicit => d.explicit(explicit, config.stage.clone(), "the command input")?,
    };
    let intent = d.guard(intent, pr);
    Ok(d.build(intent, pr))
}

struct Decider<'a> {
    event: &'a Event,
    config: &'a Config,
    facts: &'a Facts,
    /// Someone asked for this command (the command input, or a
    /// workflow_dispatch's inputs), as opposed to an event implying it.
    requested: bool,
    warnings: Vec<String>,
    unchecked: Vec<String>,
    /// What a comment's plan adds: reactions, the commit it runs, sections.
    reply: reply::Reply,
}

impl Decider<'_> {
    fn auto(&mut self) -> Result<Intent, PlanError> {
        let name = self.event.name.as_str();
        Ok(match &self.event.payload {
            Payload::PullRequest(pr) => self.pull_request(pr, name == "pull_request_target"),
            Payload::Push(push) => self.push(push),
            Payload::Schedule { cron } => Intent::Cleanup(match cron {
                Some(c) => format!("scheduled run ({c}): sweep orphaned preview stages"),
                None => "scheduled run: sweep orphaned preview stages".into(),
            }),
            Payload::WorkflowDispatch(dispatch) => {
                let command = match dispatch.inputs.get("command").map(|c| c.trim()) {
                    None | Some("") => {
                        return Ok(Intent::Skip(
                            None,
                            "workflow_dispatch without a command: set the command (and stage) inputs to deploy, destroy, read, cleanup or status".into(),
                        ))
                    }
                    Some(c) => Command::parse(c).ok_or_else(|| PlanError::DispatchInput {
                        input: "command",
                        message: Command::expected(c),
                    })?,
                };
                let stage = match dispatch.inputs.get("stage").map(|s| s.trim()) {
                    None | Some("") => None,
                    Some(s) => Some(Stage::parse(s, &self.config.stage_prefix).map_err(|e| {
                        PlanError::DispatchInput {
                            input: "stage",
                            message: e.to_string(),
                        }
                    })?),
                };
                if command == Command::Auto {
                    Intent::Skip(stage, "workflow_dispatch with command auto has no event to act on".into())
                } else {
                    return self.explicit(command, stage, "the workflow_dispatch inputs");
                }
            }
            Payload::IssueComment(c) => self.comment(c, false),
            Payload::Unknown if self.event.name_source == NameSource::Inferred => Intent::Skip(
                None,
                "could not tell which event this payload is; pass --event-name (or set GITHUB_EVENT_NAME)".into(),
            ),
            Payload::Unknown => Intent::Skip(
                None,
                format!(
                    "event `{name}` is not one alchemy-ci acts on (pull_request, pull_request_target, push, schedule, workflow_dispatch)"
                ),
            ),
        })
    }

    fn explicit(
        &mut self,
        command: Command,
        stage: Option<Stage>,
        from: &str,
    ) -> Result<Intent, PlanError> {
        self.requested = command != Command::Auto;
        let pr_stage = match &self.event.payload {
            Payload::PullRequest(pr) => Some(Stage::for_pr(&self.config.stage_prefix, pr.number)),
            _ => None,
        };
        let stage_for = |stage: Option<Stage>| {
            stage
                .or(pr_stage.clone())
                .ok_or(PlanError::MissingStage { command })
        };
        Ok(match command {
            Command::Auto => return self.auto(),
            Command::Deploy => {
                let s = stage_for(stage)?;
                Intent::Deploy(s.clone(), format!("{from} asks to deploy {s}"))
            }
            Command::Destroy => {
                let s = stage_for(stage)?;
                if self.config.protected_stages.contains(&s) {
                    if !self.config.allow_protected {
                        return Err(PlanError::Protected { stage: s });
                    }
                    self.warnings.push(format!(
                        "stage {s} is protected; destroying it because allow-protected is set"
                    ));
                }
                Intent::Destroy(s.clone(), format!("{from} asks to destroy {s}"))
            }
            Command::Read => {
                let s = stage_for(stage)?;
                if self.facts.record == Some(RecordFacts::Missing) {
                    return Err(PlanError::NothingToRead { stage: s });
                }
                Intent::Read(s.clone(), format!("{from} asks to read {s}'s outputs"))
            }
            Command::Cleanup => Intent::Cleanup(format!(
                "{from} asks for a sweep of orphaned preview stages"
            )),
            Command::Status => Intent::Status(format!("{from} asks for the status of every stage")),
            Command::Comment => match &self.event.payload {
                Payload::IssueComment(c) => self.comment(c, true),
                _ => Intent::Skip(
                    None,
                    format!(
                        "{from} is `comment`, which answers issue_comment events; this is {}",
                        self.event.name
                    ),
                ),
            },
        })
    }

    fn pull_request(&mut self, pr: &PullRequest, target: bool) -> Intent {
        let n = pr.number;
        let stage = Stage::for_pr(&self.config.stage_prefix, n);
        // A fork's close still destroys the preview an approval made: it
        // runs no code of the fork with secrets (a `pull_request` run of a
        // fork gets none, `pull_request_target` checks out the base).
        if pr.action != PrAction::Closed {
            if let Some(skip) = self.fork_guard(pr, target, &stage) {
                return skip;
            }
        }
        let draft_skip = || {
            Intent::NotNeeded(
                stage.clone(),
                format!("PR #{n} is a draft and deploy-drafts is off"),
            )
        };
        match &pr.action {
            PrAction::Closed => Intent::Destroy(
                stage.clone(),
                if pr.merged {
                    format!("PR #{n} was merged")
                } else {
                    format!("PR #{n} was closed without merging")
                },
            ),
            PrAction::Opened
            | PrAction::Reopened
            | PrAction::Synchronize
            | PrAction::ReadyForReview => {
                if pr.draft && !self.config.deploy_drafts {
                    return draft_skip();
                }
                if let Some(g) = self.config.label.as_deref() {
                    if !pr.labels.iter().any(|l| l == g) {
                        return Intent::NotNeeded(
                            stage,
                            format!(
                                "PR #{n} does not carry the label {g:?}, which previews require"
                            ),
                        );
                    }
                }
                Intent::Deploy(
                    stage.clone(),
                    format!("PR #{n} was {}", describe_action(&pr.action)),
                )
            }
            PrAction::Labeled | PrAction::Unlabeled => {
                if pr.draft && !self.config.deploy_drafts && pr.action == PrAction::Labeled {
                    let gate = self.config.label.as_deref();
                    if gate.is_some() && gate == pr.label.as_deref() {
                        return draft_skip();
                    }
                }
                self.label_change(pr, stage)
            }
            PrAction::ConvertedToDraft => Intent::Skip(
                Some(stage),
                format!(
                    "PR #{n} was converted to a draft; its preview stays until the PR is closed"
                ),
            ),
            PrAction::Other(a) => Intent::Skip(
                Some(stage),
                format!("pull request action `{a}` does not change previews"),
            ),
        }
    }

    /// A fork's PR is skipped unless forks are allowed, and warned about
    /// when they are.
    fn fork_guard(&mut self, pr: &PullRequest, target: bool, stage: &Stage) -> Option<Intent> {
        if !pr.from_fork() {
            return None;
        }
        let n = pr.number;
        let from = pr
            .head_repo
            .as_deref()
            .map_or_else(|| "a deleted fork".to_owned(), |r| format!("the fork {r}"));
        if !self.config.allow_forks {
            // Under pull_request_target the token may write: the PR's
            // comment tells maintainers how to approve a preview. Nothing
            // of the fork is run or read for it.
            if target && self.facts.can_post && self.config.comment {
                self.reply.pr = Some(n);
                self.reply.notice = true;
                self.reply.sections.push(Section::always(
                    crate::pr_command::approval::fork_notice(
                        &self.config.command_prefix,
                        self.config.command_permission,
                        &pr.head_sha,
                    ),
                ));
            }
            return Some(Intent::Skip(
                Some(stage.clone()),
                format!(
                    "PR #{n} comes from {from}; forks are skipped by default because their code is untrusted and their runs get no secrets (a maintainer's `{} deploy` comment approves one commit; allow-forks deploys every push)",
                    self.config.command_prefix
                ),
            ));
        }
        self.warnings.push(if target {
            format!(
                "DANGER: allow-forks is on under pull_request_target, so this run executes untrusted code from {from} with this repository's secrets and a write token"
            )
        } else {
            format!(
                "PR #{n} comes from {from}: under pull_request its run gets a read-only token and no secrets, so the deploy is likely to fail"
            )
        });
        None
    }

    /// A label added or removed: only the preview label changes anything.
    fn label_change(&self, pr: &PullRequest, stage: Stage) -> Intent {
        let n = pr.number;
        let added = pr.action == PrAction::Labeled;
        let label = pr.label.as_deref().unwrap_or("");
        match self.config.label.as_deref() {
            Some(g) if g == label && added => {
                Intent::Deploy(stage, format!("label {g:?} was added to PR #{n}"))
            }
            Some(g) if g == label => {
                Intent::Destroy(stage, format!("label {g:?} was removed from PR #{n}"))
            }
            Some(g) => Intent::Skip(
                Some(stage),
                format!("label {label:?} is not the preview label {g:?}"),
            ),
            None => Intent::Skip(
                Some(stage),
                "labels do not change previews (no label input is set)".into(),
            ),
        }
    }

    fn push(&mut self, push: &Push) -> Intent {
        let Some(branch) = push.branch() else {
            return Intent::Skip(
                None,
                format!("push of {} is not a branch push", push.git_ref),
            );
        };
        let mapped = self.config.branches.get(branch).cloned();
        match mapped {
            None => Intent::Skip(
                None,
                format!("branch {branch:?} is not mapped to a stage (see the branches input)"),
            ),
            Some(stage) if push.deleted => Intent::Skip(
                Some(stage.clone()),
                format!("branch {branch:?} was deleted; branch stages are never destroyed by automation (stage {stage})"),
            ),
            Some(stage) => Intent::Deploy(
                stage.clone(),
                format!("push to branch {branch:?}, which maps to stage {stage}"),
            ),
        }
    }

    /// Applies the lifecycle guards that need facts: protected stages,
    /// closed, reopened or moved PRs, and tombstones of closed PRs.
    fn guard(&mut self, intent: Intent, pr: Option<&PullRequest>) -> Intent {
        match intent {
            // One rule: automation never destroys a protected stage; a
            // request to may, with allow-protected (checked in `explicit`).
            Intent::Destroy(stage, _)
                if !self.requested && self.config.protected_stages.contains(&stage) =>
            {
                Intent::Skip(
                    Some(stage.clone()),
                    format!("stage {stage} is protected and is never destroyed by automation"),
                )
            }
            Intent::Destroy(stage, why) => {
                let reopened = !self.requested
                    && pr.is_some_and(|p| p.action == PrAction::Closed)
                    && self.facts.live_pr.as_ref().is_some_and(|l| l.open);
                if reopened {
                    return Intent::Skip(
                        Some(stage),
                        format!(
                            "{why}, but it is open again now; the run for its reopening deploys it"
                        ),
                    );
                }
                self.guard_destroy(stage, why)
            }
            Intent::Deploy(stage, why) if !self.requested => match pr {
                Some(pr) => self.guard_pr_deploy(stage, why, pr),
                None => Intent::Deploy(stage, why),
            },
            other => other,
        }
    }

    fn guard_destroy(&mut self, stage: Stage, why: String) -> Intent {
        match &self.facts.record {
            Some(RecordFacts::Missing) => Intent::Skip(
                Some(stage.clone()),
                format!("{why}, but stage {stage} has no record and no state: nothing to destroy"),
            ),
            Some(RecordFacts::Present { .. }) => Intent::Destroy(stage, why),
            None => {
                self.unchecked.push(format!(
                    "whether stage {stage} has anything recorded (a run reads the store once the stage is locked)"
                ));
                Intent::Destroy(stage, why)
            }
        }
    }

    fn guard_pr_deploy(&mut self, stage: Stage, why: String, pr: &PullRequest) -> Intent {
        let n = pr.number;
        match &self.facts.live_pr {
            Some(live) if !live.open => {
                return Intent::Skip(
                    Some(stage),
                    format!("{why}, but PR #{n} is closed now; a closed PR gets no preview"),
                );
            }
            Some(live) if live.head_sha != pr.head_sha => {
                return Intent::Skip(
                    Some(stage),
                    format!(
                        "stale event: it is for commit {} but PR #{n}'s head is now {}; the run for the newer commit deploys it",
                        pr.head_sha.short(),
                        live.head_sha.short()
                    ),
                );
            }
            Some(_) => {}
            None => self.unchecked.push(format!(
                "PR #{n}'s live state and head commit (needs a GitHub token); a closed PR or a stale event would still deploy"
            )),
        }
        // A tombstone stops a late event of a closed PR. When GitHub says
        // the PR is open at this very head, it was reopened since, and a
        // reopen run that never finished must not keep it without a preview.
        let open_now = self.facts.live_pr.as_ref().is_some_and(|l| l.open);
        match &self.facts.record {
            Some(RecordFacts::Present { tombstone: true, .. })
                if pr.action != PrAction::Reopened && !open_now =>
            {
                Intent::Skip(
                    Some(stage.clone()),
                    format!("stage {stage} was destroyed when PR #{n} was closed; only reopening the PR brings it back"),
                )
            }
            Some(_) => Intent::Deploy(stage, why),
            None => {
                self.unchecked.push(format!(
                    "whether stage {stage} was destroyed when the PR closed (a run reads the store once the stage is locked)"
                ));
                Intent::Deploy(stage, why)
            }
        }
    }

    fn build(mut self, intent: Intent, pr: Option<&PullRequest>) -> Plan {
        let (config, facts) = (self.config, self.facts);
        let commit = match &self.event.payload {
            Payload::PullRequest(p) => Some(p.head_sha.clone()),
            Payload::Push(p) => Some(p.after.clone()),
            _ => self.reply.commit.clone(),
        };
        let shaped = self.shape(intent, pr, commit.as_ref());
        let (action, stage) = (shaped.action, shaped.stage);
        if self.reply.commit.is_none() && action.deploys() {
            // An approval from a comment's first step binds any deploy.
            self.reply.commit.clone_from(&config.approved_sha);
        }
        let mut steps = shaped.steps;
        self.reply.wrap(&mut steps, action);
        let mut warnings = self.warnings;
        let runs_stage = matches!(
            action,
            Action::Deploy | Action::Destroy | Action::Redeploy | Action::Read
        );
        if runs_stage && !facts.can_post {
            warnings.push("no GitHub token: no comment or deployment will be posted".into());
        }
        let pr_number = pr.map(|p| p.number).or(self.reply.pr);
        let pr_number = match (action, &stage) {
            (Action::Destroy | Action::Read, Some(s)) => {
                pr_number.or_else(|| s.pr_number(&config.stage_prefix))
            }
            _ => pr_number,
        };
        // The comment's first step writes no comment: the step that runs
        // the command answers.
        let sections = match action {
            Action::Approve => Vec::new(),
            _ => std::mem::take(&mut self.reply.sections),
        };
        let preview = Preview {
            action,
            stage: stage.as_ref(),
            pr: pr_number,
            commit: commit.as_ref(),
            sections: &sections,
        };
        let comment_preview = comment_preview(config, facts, &preview);
        let answers_comment = self.reply.command.is_some();
        Plan {
            event: self.event.name.clone(),
            event_source: self.event.name_source,
            repository: self.event.repository.clone(),
            action,
            stage,
            app: None,
            reason: shaped.reason,
            pr: pr_number,
            pull_request: pr.map(PrSummary::of),
            commit,
            merged_into: pr
                .filter(|p| p.merged && p.action == PrAction::Closed)
                .and_then(|p| config.branches.get(&p.base_ref).cloned()),
            warnings,
            unchecked: if runs_stage || answers_comment {
                self.unchecked
            } else {
                Vec::new()
            },
            alchemy: runs_stage.then(|| facts.alchemy.clone()),
            steps,
            comment_preview,
            note: shaped.note,
            command: self.reply.command.take(),
            sections,
        }
    }

    /// What an intent comes to: its action, stage, reason and steps.
    fn shape(
        &self,
        intent: Intent,
        pr: Option<&PullRequest>,
        commit: Option<&CommitSha>,
    ) -> Shaped {
        let (config, facts) = (self.config, self.facts);
        let has_commit = commit.is_some();
        let store = config.state_store.clone();
        let pr_number = pr.map(|p| p.number).or(self.reply.pr);
        let shaped = |action, stage, reason, steps| Shaped {
            action,
            stage,
            reason,
            steps,
            note: None,
        };
        let comment_steps = self.comment_steps(&intent, commit);
        match intent {
            Intent::Deploy(stage, why) => {
                let steps =
                    stage_steps(config, facts, &stage, pr_number, has_commit, Phase::Deploy);
                shaped(Action::Deploy, Some(stage), why, steps)
            }
            Intent::Redeploy(stage, why) => {
                let steps = redeploy_steps(config, facts, &stage, pr_number, has_commit);
                shaped(Action::Redeploy, Some(stage), why, steps)
            }
            Intent::Destroy(stage, why) => {
                let closing = !self.requested && pr.is_some_and(|p| p.action == PrAction::Closed);
                let (steps, note) = destroy_steps(config, facts, &stage, pr_number, closing, &why);
                Shaped {
                    note,
                    ..shaped(Action::Destroy, Some(stage), why, steps)
                }
            }
            Intent::Read(stage, why) => {
                let pr = pr_number.or_else(|| stage.pr_number(&config.stage_prefix));
                let steps = read_steps(config, facts, &stage, pr);
                shaped(Action::Read, Some(stage), why, steps)
            }
            Intent::Keep(stage, _, why) => shaped(Action::Keep, Some(stage), why, comment_steps),
            Intent::Unlock(stage, why) => shaped(Action::Unlock, Some(stage), why, comment_steps),
            Intent::Reply(stage, why) => shaped(Action::Reply, Some(stage), why, comment_steps),
            Intent::Approve(stage, why) => shaped(Action::Approve, Some(stage), why, comment_steps),
            Intent::NotNeeded(stage, why) => {
                let mut steps = Vec::new();
                if facts.can_post && config.status_check.posts() && has_commit {
                    steps.push(step(StepKind::CommitStatus {
                        phase: StatusPhase::NotNeeded {
                            reason: not_needed(&why),
                        },
                    }));
                }
                shaped(Action::Skip, Some(stage), why, steps)
            }
            Intent::Cleanup(why) => {
                let steps = vec![
                    step(StepKind::ListStages { store }),
                    step(StepKind::ListOpenPullRequests),
                    step(StepKind::SelectOrphans {
                        protected: config.protected_stages.iter().cloned().collect(),
                    }),
                    step(StepKind::DestroyOrphans),
                ];
                shaped(Action::Cleanup, None, why, steps)
            }
            Intent::Status(why) => {
                let steps = vec![
                    step(StepKind::ListStages { store }),
                    step(StepKind::ShowStatus),
                ];
                shaped(Action::Status, None, why, steps)
            }
            Intent::Skip(stage, why) => shaped(Action::Skip, stage, why, comment_steps),
        }
    }
}

/// The short reason a status gives for a PR that needs no preview.
fn not_needed(why: &str) -> String {
    if why.contains("is a draft") {
        "draft pull request".into()
    } else if why.contains("label") {
        "no preview label".into()
    } else {
        why.to_owned()
    }
}

/// What an intent comes to, before the plan around it.
struct Shaped {
    action: Action,
    stage: Option<Stage>,
    reason: String,
    steps: Vec<Step>,
    /// What a destroy's comment says beyond its status.
    note: Option<String>,
}

impl PrSummary {
    fn of(p: &PullRequest) -> Self {
        Self {
            number: p.number,
            action: p.action.clone(),
            head_ref: p.head_ref.clone(),
            head_sha: p.head_sha.clone(),
            base_ref: p.base_ref.clone(),
            title: p.title.clone(),
            from_fork: p.from_fork(),
            draft: p.draft,
            merged: p.merged,
        }
    }
}

/// What the comment preview shows.
struct Preview<'a> {
    action: Action,
    stage: Option<&'a Stage>,
    pr: Option<PrNumber>,
    commit: Option<&'a CommitSha>,
    sections: &'a [Section],
}

/// The comment a PR gets when a deploy or destroy starts, when one is
/// posted at all.
fn comment_preview(config: &Config, facts: &Facts, p: &Preview<'_>) -> Option<String> {
    let posts = p.pr.is_some() && facts.can_post && config.comment;
    let status = match p.action {
        Action::Deploy | Action::Redeploy => CommentStatus::Deploying,
        Action::Destroy => CommentStatus::Destroying,
        _ => return None,
    };
    let stage = p.stage.filter(|_| posts)?;
    let sections: Vec<String> = p
        .sections
        .iter()
        .filter(|s| s.shown(Some(status)))
        .map(|s| s.markdown.clone())
        .collect();
    Some(comment::render(&CommentInput {
        stage,
        status,
        repo_url: facts.run.repo_url(),
        sha: p.commit,
        urls: &[],
        run_url: facts.run.run_url().as_deref(),
        updated_at: None,
        log_tail: None,
        removed: &[],
        merged_into: None,
        unverified: None,
        note: None,
        sections: &sections,
    }))
}

/// A destroy's steps, and the note its comment carries. Only a PR known to
/// be closed (its event says so, or GitHub does) leaves a tombstone; a
/// preview removed from an open PR says how to bring it back.
fn destroy_steps(
    config: &Config,
    facts: &Facts,
    stage: &Stage,
    pr: Option<PrNumber>,
    closing_event: bool,
    why: &str,
) -> (Vec<Step>, Option<String>) {
    let closed = closing_event || facts.live_pr.as_ref().is_some_and(|l| !l.open);
    let target = pr.or_else(|| stage.pr_number(&config.stage_prefix));
    let steps = with_tombstone(
        stage_steps(config, facts, stage, target, true, Phase::Destroy),
        closed,
    );
    let open = facts.live_pr.as_ref().is_some_and(|l| l.open);
    let note = match (closed, open, target) {
        (false, true, Some(n)) => Some(format!(
            "Destroyed because {why}, while PR #{n} is open. {}",
            come_back(config)
        )),
        _ => None,
    };
    (steps, note)
}

/// How an open PR gets its preview back after it was destroyed.
fn come_back(config: &Config) -> String {
    match &config.label {
        Some(l) => format!("Push to it, with the label {l:?} on it, to bring the preview back."),
        None => "Push to it to bring the preview back.".into(),
    }
}

fn with_tombstone(mut steps: Vec<Step>, tombstone: bool) -> Vec<Step> {
    for s in &mut steps {
        if let StepKind::WriteRecord { tombstone: t, .. } = &mut s.kind {
            *t = tombstone;
        }
    }
    steps
}

fn describe_action(a: &PrAction) -> &str {
    match a {
        PrAction::Synchronize => "updated with new commits",
        PrAction::ReadyForReview => "marked ready for review",
        other => other.as_str(),
    }
}

fn step(kind: StepKind) -> Step {
    Step {
        kind,
        always: false,
    }
}

fn always(kind: StepKind) -> Step {
    Step { kind, always: true }
}

/// The steps of a deploy or destroy of one stage. Saving state, writing the
/// record, reporting and unlocking are `always`: a failed run's half-made
/// resources must stay findable, and a lock must not outlive its run.
fn stage_steps(
    config: &Config,
    facts: &Facts,
    stage: &Stage,
    pr: Option<PrNumber>,
    commit: bool,
    phase: Phase,
) -> Vec<Step> {
    let store = config.state_store.clone();
    let report = Reporting {
        phase,
        comment: pr.is_some() && facts.can_post && config.comment,
        // A deployment and a commit status need the commit deployed.
        deployments: facts.can_post && config.deployments && commit,
        statuses: facts.can_post && config.status_check.posts() && commit && phase == Phase::Deploy,
        environment: config.deployment_environment.environment(stage),
    };
    let stage_of = || stage.clone();
    let mut steps = vec![
        step(StepKind::AcquireLock { stage: stage_of() }),
        step(StepKind::RestoreState {
            stage: stage_of(),
            store: store.clone(),
        }),
    ];
    let (success, failure) = match phase {
        Phase::Destroy => (RecordStatus::Destroyed, RecordStatus::DestroyFailed),
        _ => (RecordStatus::Deployed, RecordStatus::Failed),
    };
    steps.extend(starting_steps(&report));
    steps.push(step(run_alchemy(config, facts, stage, pr, phase)));
    if phase == Phase::Destroy {
        steps.push(step(StepKind::VerifyDestroyed {
            stage: stage_of(),
            check: config
                .verify_command
                .as_deref()
                .map(|w| alchemy::verify::argv(w, stage)),
        }));
    }
    steps.push(always(StepKind::SaveState {
        stage: stage_of(),
        store,
    }));
    if phase == Phase::Deploy {
        steps.push(always(StepKind::CollectUrls { stage: stage_of() }));
    }
    steps.push(always(StepKind::WriteRecord {
        stage: stage_of(),
        on_success: success,
        on_failure: failure,
        tombstone: false,
    }));
    // State, record and unlock are one store write, made before any call to
    // GitHub: a cancelled job is killed seconds after SIGTERM, and GitHub
    // calls can take that long.
    steps.push(always(StepKind::ReleaseLock { stage: stage_of() }));
    steps.extend(reporting_steps(&report));
    steps
}

/// What a stage's run tells GitHub before Alchemy runs: the comment, the
/// pending commit status, the deployment in progress.
fn starting_steps(r: &Reporting) -> Vec<Step> {
    let mut steps = Vec::new();
    if r.comment {
        let status = match r.phase {
            Phase::Destroy => CommentStatus::Destroying,
            _ => CommentStatus::Deploying,
        };
        steps.push(step(StepKind::Comment { status }));
    }
    if r.statuses {
        steps.push(step(StepKind::CommitStatus {
            phase: StatusPhase::Deploying,
        }));
    }
    if r.deployments && r.phase == Phase::Deploy {
        steps.push(step(StepKind::CreateDeployment {
            environment: r.environment.clone(),
        }));
    }
    steps
}

/// A redeploy: a deploy whose Alchemy run is preceded by a destroy of the
/// stage, checked like any destroy, so the deploy starts from nothing.
fn redeploy_steps(
    config: &Config,
    facts: &Facts,
    stage: &Stage,
    pr: Option<PrNumber>,
    commit: bool,
) -> Vec<Step> {
    let mut steps = stage_steps(config, facts, stage, pr, commit, Phase::Deploy);
    let at = steps
        .iter()
        .position(|s| matches!(s.kind, StepKind::RunAlchemy { .. }))
        .unwrap_or(steps.len());
    let destroy = [
        step(run_alchemy(config, facts, stage, pr, Phase::Destroy)),
        step(StepKind::VerifyDestroyed {
            stage: stage.clone(),
            check: config
                .verify_command
                .as_deref()
                .map(|w| alchemy::verify::argv(w, stage)),
        }),
    ];
    steps.splice(at..at, destroy);
    steps
}

/// Alchemy's command line and environment for one stage.
fn run_alchemy(
    config: &Config,
    facts: &Facts,
    stage: &Stage,
    pr: Option<PrNumber>,
    phase: Phase,
) -> StepKind {
    let mut env = config.env_for(stage.as_str());
    let plain = |v: String| EnvValue::Plain(v);
    env.insert("STAGE".to_owned(), plain(stage.to_string()));
    env.insert("ALCHEMY_STAGE".to_owned(), plain(stage.to_string()));
    // alchemy-ci keeps `.alchemy/` itself, so Alchemy's refusal to use
    // local state under CI does not apply.
    env.insert(
        "ALCHEMY_CI_STATE_STORE_CHECK".to_owned(),
        plain("false".to_owned()),
    );
    if let Some(n) = pr {
        env.insert("PULL_REQUEST".to_owned(), plain(n.to_string()));
    }
    StepKind::RunAlchemy {
        phase,
        argv: alchemy::argv(
            &facts.alchemy.flavor,
            phase,
            stage,
            config.profile_for(stage.as_str()),
        ),
        cwd: config.working_directory.clone(),
        env,
    }
}

/// What a stage's run tells GitHub around the store's write.
struct Reporting {
    phase: Phase,
    comment: bool,
    deployments: bool,
    statuses: bool,
    environment: String,
}

/// The comment's result, the commit status's and the deployment's, after
/// the store write.
fn reporting_steps(r: &Reporting) -> Vec<Step> {
    let mut steps = Vec::new();
    if r.comment {
        let (on_success, on_failure) = match r.phase {
            Phase::Destroy => (CommentStatus::Destroyed, CommentStatus::DestroyFailed),
            _ => (CommentStatus::Deployed, CommentStatus::Failed),
        };
        steps.push(always(StepKind::CommentResult {
            on_success,
            on_failure,
        }));
    }
    if r.statuses {
        steps.push(always(StepKind::CommitStatusResult));
    }
    if r.deployments {
        let environment = r.environment.clone();
        steps.push(match r.phase {
            Phase::Destroy => step(StepKind::DeactivateDeployments { environment }),
            _ => always(StepKind::DeploymentResult { environment }),
        });
    }
    steps
}

/// The plan for one stage the sweep destroys: exactly the steps a closed
/// PR's destroy takes, under the sweep's event. `facts.live_pr` is the
/// PR's state read under the stage's lock: only a PR known closed leaves a
/// tombstone. A stage removed from an open PR (past its ttl, or retrying a
/// failed destroy) comes back with the next push, and its comment says so.
pub fn sweep_destroy(
    sweep: &Plan,
    config: &Config,
    facts: &Facts,
    stage: &Stage,
    pr: Option<PrNumber>,
    found: &SweepFinding,
) -> Plan {
    let reason = format!("the sweep found that {}", found.reason);
    let closed = pr.is_some() && facts.live_pr.as_ref().is_some_and(|l| !l.open);
    let steps = with_tombstone(
        stage_steps(config, facts, stage, pr, true, Phase::Destroy),
        closed,
    );
    let open = matches!((pr, &facts.live_pr), (Some(_), Some(live)) if live.open);
    let mut sections = Vec::new();
    let note = match (pr, &found.expired) {
        (Some(_), Some(text)) if open => {
            sections.push(Section {
                markdown: text.clone(),
                when: Some(CommentStatus::Destroyed),
            });
            None
        }
        (Some(n), None) if open => Some(format!(
            "Removed by the cleanup sweep: {}. PR #{n} is still open. {}",
            found.reason,
            come_back(config)
        )),
        _ => None,
    };
    Plan {
        event: sweep.event.clone(),
        event_source: sweep.event_source,
        repository: sweep.repository.clone(),
        action: Action::Destroy,
        stage: Some(stage.clone()),
        app: None,
        reason,
        pull_request: None,
        pr,
        commit: None,
        merged_into: None,
        warnings: Vec::new(),
        unchecked: Vec::new(),
        alchemy: Some(facts.alchemy.clone()),
        steps,
        comment_preview: None,
        note,
        command: None,
        sections,
    }
}

/// Why the sweep removes a stage, and, for a ttl expiry, what the PR's
/// comment says (Markdown).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SweepFinding {
    pub reason: String,
    pub expired: Option<String>,
}

/// The sweep's warning that `stage`'s preview expires at `removes_at`:
/// recorded under the stage's lock, then written into the PR's comment.
pub fn sweep_warn(
    sweep: &Plan,
    config: &Config,
    stage: &Stage,
    pr: Option<PrNumber>,
    removes_at: Timestamp,
    warning: String,
) -> Plan {
    let mut steps = vec![
        step(StepKind::AcquireLock {
            stage: stage.clone(),
        }),
        step(StepKind::MarkWarned { removes_at }),
        always(StepKind::ReleaseLock {
            stage: stage.clone(),
        }),
    ];
    if pr.is_some() && config.comment {
        steps.push(always(StepKind::RefreshComment));
    }
    Plan {
        action: Action::Warn,
        reason: format!(
            "its preview expires; the sweep warns now and removes it after {}",
            removes_at.human()
        ),
        steps,
        sections: vec![Section::always(warning)],
        ..skip(sweep, stage, pr, String::new())
    }
}

/// A plan that does nothing to `stage`, under `base`'s event: what the
/// sweep's destroy becomes when, under the lock, the stage no longer needs
/// removing.
pub fn skip(base: &Plan, stage: &Stage, pr: Option<PrNumber>, reason: String) -> Plan {
    Plan {
        event: base.event.clone(),
        event_source: base.event_source,
        repository: base.repository.clone(),
        action: Action::Skip,
        stage: Some(stage.clone()),
        app: None,
        reason,
        pull_request: None,
        pr,
        commit: None,
        merged_into: None,
        warnings: Vec::new(),
        unchecked: Vec::new(),
        alchemy: None,
        steps: Vec::new(),
        comment_preview: None,
        note: None,
        command: None,
        sections: Vec::new(),
    }
}

/// The read phase: the stage's saved state is restored and Alchemy runs in
/// read mode; only the record's URLs are refreshed. No SaveState step: the
/// state files are written back exactly as they were read.
fn read_steps(config: &Config, facts: &Facts, stage: &Stage, pr: Option<PrNumber>) -> Vec<Step> {
    let mut steps: Vec<Step> = stage_steps(config, facts, stage, pr, false, Phase::Read)
        .into_iter()
        .filter(|s| {
            matches!(
                s.kind,
                StepKind::AcquireLock { .. }
                    | StepKind::RestoreState { .. }
                    | StepKind::RunAlchemy { .. }
                    | StepKind::ReleaseLock { .. }
            )
        })
        .collect();
    let at = steps.len() - 1;
    let mut after = vec![
        step(StepKind::CollectUrls {
            stage: stage.clone(),
        }),
        step(StepKind::RefreshRecord {
            stage: stage.clone(),
        }),
    ];
    if pr.is_some() && facts.can_post && config.comment {
        after.push(step(StepKind::Comment {
            status: CommentStatus::Deployed,
        }));
    }
    steps.splice(at..at, after);
    steps
}
