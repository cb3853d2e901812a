//! The whole policy: (event, config, facts) → plan. Pure: no I/O, no clock,
//! no environment. `simulate` renders the plan this returns and `run`
//! executes the same value, so what one shows is what the other does.
//!
//! `run` decides twice: once with what it knows before touching the store
//! (so a stale or closed PR's event locks nothing), and again, with the
//! same function, from the record its lock write replaced and the PR's
//! state read after the lock is held. The second decision is the one
//! carried out; `docs/lifecycle.md` draws the whole state machine.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::Serialize;

use crate::alchemy::{self, Detected, Phase};
use crate::apps::spec::AppName;
use crate::config::{Command, Config, EnvValue, StateStoreSpec};
use crate::event::{CommitSha, Event, NameSource, Payload, PrAction, PullRequest, Push};
use crate::github::comment::{self, CommentInput, CommentStatus};
use crate::record::RecordStatus;
use crate::stage::{PrNumber, Stage};
use crate::state::Snapshot;

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
    Read,
    Cleanup,
    Status,
    Skip,
}

impl Action {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Deploy => "deploy",
            Self::Destroy => "destroy",
            Self::Read => "read",
            Self::Cleanup => "cleanup",
            Self::Status => "status",
            Self::Skip => "skip",
        }
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
    CreateDeployment {
        environment: Stage,
    },
    DeploymentResult {
        environment: Stage,
    },
    DeactivateDeployments {
        environment: Stage,
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
}

enum Intent {
    Deploy(Stage, String),
    Destroy(Stage, String),
    Read(Stage, String),
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
            Payload::IssueComment {
                number,
                on_pull_request,
            } => Intent::Skip(
                None,
                format!(
                    "a comment on {} #{number}: comment commands are not supported, so nothing to do",
                    if *on_pull_request { "pull request" } else { "issue" }
                ),
            ),
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
        })
    }

    fn pull_request(&mut self, pr: &PullRequest, target: bool) -> Intent {
        let n = pr.number;
        let stage = Stage::for_pr(&self.config.stage_prefix, n);
        if let Some(skip) = self.fork_guard(pr, target, &stage) {
            return skip;
        }
        let draft_skip = || {
            Intent::Skip(
                Some(stage.clone()),
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
                        return Intent::Skip(
                            Some(stage),
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
            return Some(Intent::Skip(
                Some(stage.clone()),
                format!(
                    "PR #{n} comes from {from}; forks are skipped by default because their code is untrusted and their runs get no secrets (set allow-forks to change this)"
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

    fn build(self, intent: Intent, pr: Option<&PullRequest>) -> Plan {
        let (config, facts) = (self.config, self.facts);
        let commit = match &self.event.payload {
            Payload::PullRequest(p) => Some(p.head_sha.clone()),
            Payload::Push(p) => Some(p.after.clone()),
            _ => None,
        };
        let shaped = self.shape(intent, pr, commit.is_some());
        let (action, stage) = (shaped.action, shaped.stage);
        let mut warnings = self.warnings;
        let runs_stage = matches!(action, Action::Deploy | Action::Destroy | Action::Read);
        if runs_stage && !facts.can_post {
            warnings.push("no GitHub token: no comment or deployment will be posted".into());
        }
        let comment_preview = comment_preview(config, facts, action, stage.as_ref(), pr);
        let pr_number = pr.map(|p| p.number);
        let pr_number = match (action, &stage) {
            (Action::Destroy | Action::Read, Some(s)) => {
                pr_number.or_else(|| s.pr_number(&config.stage_prefix))
            }
            _ => pr_number,
        };
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
            unchecked: if runs_stage {
                self.unchecked
            } else {
                Vec::new()
            },
            alchemy: runs_stage.then(|| facts.alchemy.clone()),
            steps: shaped.steps,
            comment_preview,
            note: shaped.note,
        }
    }

    /// What an intent comes to: its action, stage, reason and steps.
    fn shape(&self, intent: Intent, pr: Option<&PullRequest>, has_commit: bool) -> Shaped {
        let (config, facts) = (self.config, self.facts);
        let store = config.state_store.clone();
        let pr_number = pr.map(|p| p.number);
        let shaped = |action, stage, reason, steps| Shaped {
            action,
            stage,
            reason,
            steps,
            note: None,
        };
        match intent {
            Intent::Deploy(stage, why) => {
                let steps =
                    stage_steps(config, facts, &stage, pr_number, has_commit, Phase::Deploy);
                shaped(Action::Deploy, Some(stage), why, steps)
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
            Intent::Skip(stage, why) => shaped(Action::Skip, stage, why, Vec::new()),
        }
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

/// The comment a PR gets when a deploy or destroy starts, when one is
/// posted at all.
fn comment_preview(
    config: &Config,
    facts: &Facts,
    action: Action,
    stage: Option<&Stage>,
    pr: Option<&PullRequest>,
) -> Option<String> {
    let posts = pr.is_some() && facts.can_post && config.comment;
    let status = match action {
        Action::Deploy => CommentStatus::Deploying,
        Action::Destroy => CommentStatus::Destroying,
        _ => return None,
    };
    let stage = stage.filter(|_| posts)?;
    Some(comment::render(&CommentInput {
        stage,
        status,
        repo_url: facts.run.repo_url(),
        sha: pr.map(|p| &p.head_sha),
        urls: &[],
        run_url: facts.run.run_url().as_deref(),
        updated_at: None,
        log_tail: None,
        removed: &[],
        merged_into: None,
        unverified: None,
        note: None,
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
    let comment = pr.is_some() && facts.can_post && config.comment;
    // A deployment needs the commit it deploys.
    let deployments = facts.can_post && config.deployments && commit;
    let stage_of = || stage.clone();
    let mut steps = vec![
        step(StepKind::AcquireLock { stage: stage_of() }),
        step(StepKind::RestoreState {
            stage: stage_of(),
            store: store.clone(),
        }),
    ];
    let (started, success, failure) = match phase {
        Phase::Destroy => (
            CommentStatus::Destroying,
            RecordStatus::Destroyed,
            RecordStatus::DestroyFailed,
        ),
        _ => (
            CommentStatus::Deploying,
            RecordStatus::Deployed,
            RecordStatus::Failed,
        ),
    };
    if comment {
        steps.push(step(StepKind::Comment { status: started }));
    }
    if deployments && phase == Phase::Deploy {
        steps.push(step(StepKind::CreateDeployment {
            environment: stage_of(),
        }));
    }
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
    steps.extend(reporting_steps(stage, phase, comment, deployments));
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

/// The comment's result and the deployment's, after the store write.
fn reporting_steps(stage: &Stage, phase: Phase, comment: bool, deployments: bool) -> Vec<Step> {
    let mut steps = Vec::new();
    if comment {
        let (on_success, on_failure) = match phase {
            Phase::Destroy => (CommentStatus::Destroyed, CommentStatus::DestroyFailed),
            _ => (CommentStatus::Deployed, CommentStatus::Failed),
        };
        steps.push(always(StepKind::CommentResult {
            on_success,
            on_failure,
        }));
    }
    if deployments {
        steps.push(match phase {
            Phase::Destroy => step(StepKind::DeactivateDeployments {
                environment: stage.clone(),
            }),
            _ => always(StepKind::DeploymentResult {
                environment: stage.clone(),
            }),
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
    found: &str,
) -> Plan {
    let reason = format!("the sweep found that {found}");
    let closed = pr.is_some() && facts.live_pr.as_ref().is_some_and(|l| !l.open);
    let steps = with_tombstone(
        stage_steps(config, facts, stage, pr, true, Phase::Destroy),
        closed,
    );
    let note = match (pr, &facts.live_pr) {
        (Some(n), Some(live)) if live.open => Some(format!(
            "Removed by the cleanup sweep: {found}. PR #{n} is still open. {}",
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
