//! The decision for a PR comment: which command it gives, whether its
//! author is obeyed, and what that comes to in the same intents as an
//! event's (a deploy from a comment is the deploy a push would do, under
//! the same lock). Pure, like the rest of `plan`: the commenter's
//! permission and the PR's head come in as facts.
//!
//! A command that runs Alchemy (deploy, redeploy, destroy) runs the PR's
//! head as read when the run starts, or the commit the comment's first
//! step approved (`approved-sha`); the deploy refuses to run unless that
//! commit is what is checked out. On a fork's PR that is the approval to
//! run its code with the repository's secrets.

use super::{always, step, Decider, Intent, Section, Step, StepKind};
use crate::config::Config;
use crate::event::{CommitSha, IssueComment, Login};
use crate::github::markdown;
use crate::plan::{Action, CommentCommand};
use crate::pr_command::approval::{approved_markdown, fork_notice, Approval};
use crate::pr_command::decide::{
    self, Action as Asked, Authorized, CommandPolicy, CommentDecision,
};
use crate::pr_command::help::{help_markdown, HelpInput};
use crate::pr_command::parse::{parse, Parsed};
use crate::pr_command::permission::Permission;
use crate::pr_command::Reaction;
use crate::stage::{PrNumber, Stage};

/// What a comment's plan adds to the steps an intent has.
#[derive(Debug, Default)]
pub(super) struct Reply {
    pub pr: Option<PrNumber>,
    pub command: Option<CommentCommand>,
    /// The reaction when the run starts.
    pub first: Option<Reaction>,
    /// The reactions when it ends: on success, on failure.
    pub last: Option<(Reaction, Reaction)>,
    /// The commit a command that runs Alchemy runs: the checked-out
    /// `HEAD` must be it.
    pub commit: Option<CommitSha>,
    pub sections: Vec<Section>,
    /// Write the sticky comment even though the plan is a skip (a fork's
    /// notice under `pull_request_target`).
    pub notice: bool,
}

impl Reply {
    /// Adds the reactions and the checkout check around an intent's steps.
    pub fn wrap(&self, steps: &mut Vec<Step>, action: Action) {
        let mut head = Vec::new();
        if let Some(reaction) = self.first {
            head.push(step(StepKind::React { reaction }));
        }
        let runs_code = matches!(action, Action::Deploy | Action::Destroy | Action::Redeploy);
        if let (Some(approved), true) = (&self.commit, runs_code) {
            head.push(step(StepKind::CheckCheckout {
                approved: approved.clone(),
            }));
        }
        steps.splice(0..0, head);
        if let Some((on_success, on_failure)) = self.last {
            steps.push(always(StepKind::ReactResult {
                on_success,
                on_failure,
            }));
        }
    }

    fn reactions(&mut self, first: Reaction, last: Option<(Reaction, Reaction)>) {
        self.first = Some(first);
        self.last = last;
    }

    /// 👀 now, 🚀 or 😕 at the end.
    fn started(&mut self) {
        self.reactions(Reaction::Eyes, Some((Reaction::Rocket, Reaction::Confused)));
    }

    /// 👀 now and 😕 at the end: the command was understood and cannot do
    /// what it says.
    fn cannot(&mut self) {
        self.reactions(
            Reaction::Eyes,
            Some((Reaction::Confused, Reaction::Confused)),
        );
    }
}

impl Decider<'_> {
    /// A comment: ignored, refused with 👎, or answered. `hand_off` is the
    /// comment's first step (`command: comment`): a command that runs
    /// Alchemy stops at naming the commit to check out.
    pub(super) fn comment(&mut self, c: &IssueComment, hand_off: bool) -> Intent {
        let n = c.number;
        let stage = Stage::for_pr(&self.config.stage_prefix, n);
        let config = self.config;
        let policy = policy(config);
        let (login, request) = match decide::decide_comment(c, &policy) {
            CommentDecision::Ignore { reason } => {
                return Intent::Skip(c.on_pull_request.then_some(stage), reason)
            }
            CommentDecision::Refuse { reason } => {
                self.reply.first = Some(Reaction::MinusOne);
                self.reply.pr = Some(n);
                let asked = match parse(&c.body, &config.command_prefix) {
                    Parsed::Command { command } => Some(command.name()),
                    _ => None,
                };
                self.reply.command = Some(CommentCommand {
                    comment_id: c.comment_id,
                    by: c.author.login.clone(),
                    permission: None,
                    command: asked,
                    approval: None,
                });
                return Intent::Skip(Some(stage), reason);
            }
            CommentDecision::CheckPermission { login, request } => (login, request),
        };
        if !self.facts.can_post {
            return Intent::Skip(
                Some(stage),
                format!("a command from {login}: comment commands need a GitHub token, to check the commenter's permission and to answer"),
            );
        }
        self.reply.pr = Some(n);
        self.requested = true;
        let known = self.facts.commenter_permission;
        let permission = known.unwrap_or_else(|| {
            self.unchecked.push(format!(
                "whether {login} has {} permission or more on the repository (a run asks GitHub; --commenter-permission gives it here)",
                self.config.command_permission
            ));
            Permission::Admin
        });
        self.reply.command = Some(CommentCommand {
            comment_id: c.comment_id,
            by: login.clone(),
            permission: known,
            command: request.as_ref().ok().map(|r| r.name()),
            approval: None,
        });
        let answer = decide::authorize(&login, permission, &request, &policy);
        if let (Ok(asked), false) = (&request, matches!(answer, Authorized::Refuse { .. })) {
            // The answer says whose command it is.
            self.reply.sections.push(Section::always(format!(
                "💬 `{} {}` from **{}**.\n",
                config.command_prefix,
                asked.name(),
                markdown::text(login.as_str())
            )));
        }
        match answer {
            Authorized::Refuse { reason } => {
                self.reply.first = Some(Reaction::MinusOne);
                Intent::Skip(Some(stage), reason)
            }
            Authorized::Help { reason } => self.help(stage, &login, reason),
            Authorized::Run { action } => self.asked(stage, n, &login, action, hand_off),
        }
    }

    fn help(&mut self, stage: Stage, login: &Login, reason: Option<String>) -> Intent {
        match &reason {
            Some(_) => self.reply.cannot(),
            None => self.reply.started(),
        }
        let help = help_markdown(&HelpInput {
            prefix: &self.config.command_prefix,
            required: self.config.command_permission,
            apps: &[],
            reason: reason.as_deref(),
        });
        self.reply.sections.push(Section::always(help));
        self.fork_notice();
        let why = match reason {
            Some(r) => {
                format!("{login}'s command was not understood ({r}): answered with the help")
            }
            None => format!("{login} asked for the help"),
        };
        Intent::Reply(stage, why)
    }

    /// A command checked against the configuration.
    fn asked(
        &mut self,
        stage: Stage,
        n: PrNumber,
        login: &Login,
        action: Asked,
        hand_off: bool,
    ) -> Intent {
        let said =
            |what: &str| format!("{login} commented `{} {what}`", self.config.command_prefix);
        match action {
            Asked::Deploy { .. } => self.runs_code(stage, n, login, Action::Deploy, hand_off),
            Asked::Redeploy { .. } => self.runs_code(stage, n, login, Action::Redeploy, hand_off),
            Asked::Destroy { .. } => self.runs_code(stage, n, login, Action::Destroy, hand_off),
            Asked::Keep { keep } => {
                self.reply.started();
                Intent::Keep(stage, keep, said("keep"))
            }
            Asked::Status => {
                self.reply.started();
                self.fork_notice();
                Intent::Reply(stage, said("status"))
            }
            Asked::Unlock { .. } => {
                self.reply.started();
                Intent::Unlock(stage, said("unlock"))
            }
        }
    }

    /// Deploy, redeploy or destroy: the commit it runs, the approval of a
    /// fork's, and the guards a PR event's deploy has.
    fn runs_code(
        &mut self,
        stage: Stage,
        n: PrNumber,
        login: &Login,
        action: Action,
        hand_off: bool,
    ) -> Intent {
        let word = action.as_str();
        let why = format!("{login} commented `{} {word}`", self.config.command_prefix);
        let pull = self.facts.pull_head.clone();
        let live = self.facts.live_pr.clone();
        if pull.is_none() {
            self.unchecked.push(format!(
                "PR #{n}'s state, head and whether it comes from a fork (a run reads them from GitHub; --pr-state, --pr-head and --pr-fork give them here)"
            ));
        }
        let open = live.as_ref().is_none_or(|l| l.open);
        if !open && action.deploys() {
            self.reply.cannot();
            return Intent::Reply(
                stage,
                format!("{why}, but PR #{n} is closed; a closed PR gets no preview"),
            );
        }
        let commit = self
            .config
            .approved_sha
            .clone()
            .or_else(|| pull.as_ref().map(|p| p.sha.clone()));
        let from_fork = pull.as_ref().is_some_and(|p| p.from_fork);
        if let Some(moved) = self.moved_on(&why, n, commit.as_ref(), from_fork, action) {
            return moved;
        }
        self.reply.commit.clone_from(&commit);
        if let (Some(sha), true) = (&commit, from_fork) {
            let approval = Approval {
                sha: sha.clone(),
                by: login.clone(),
            };
            self.reply
                .sections
                .push(Section::always(approved_markdown(&approval)));
            if let Some(cmd) = self.reply.command.as_mut() {
                cmd.approval = Some(approval);
            }
        }
        if hand_off {
            self.reply.first = Some(Reaction::Eyes);
            let what = match &commit {
                Some(c) => format!("checks out {} and runs the {word}", c.short()),
                None => format!("checks out the PR's head and runs the {word}"),
            };
            return Intent::Approve(stage, format!("{why}; the next step {what}"));
        }
        self.reply.started();
        match action {
            Action::Deploy => Intent::Deploy(stage, why),
            Action::Redeploy => Intent::Redeploy(stage, why),
            _ => Intent::Destroy(stage, why),
        }
    }

    /// The PR's head moved past the commit the command runs. A branch's
    /// push deploys itself, so an older commit is not put back over it; a
    /// fork's approved commit is deployed, and the plan says the new head
    /// needs a new approval.
    fn moved_on(
        &mut self,
        why: &str,
        n: PrNumber,
        commit: Option<&CommitSha>,
        from_fork: bool,
        action: Action,
    ) -> Option<Intent> {
        let live = self.facts.live_pr.as_ref()?;
        let c = commit?;
        if live.head_sha == *c || !action.deploys() {
            return None;
        }
        if from_fork {
            self.warnings.push(format!(
                "PR #{n}'s head moved to {} after the approval of {}: only {} is deployed; the new head needs a new approval",
                live.head_sha.short(),
                c.short(),
                c.short()
            ));
            return None;
        }
        let reason = format!(
            "{why} at commit {}, but PR #{n}'s head is {} now; the run for that push deploys it",
            c.short(),
            live.head_sha.short()
        );
        self.reply.cannot();
        Some(Intent::Reply(self.stage_of(n), reason))
    }

    fn stage_of(&self, n: PrNumber) -> Stage {
        Stage::for_pr(&self.config.stage_prefix, n)
    }

    /// On a fork's PR, how a maintainer approves its head.
    fn fork_notice(&mut self) {
        let Some(pull) = self.facts.pull_head.as_ref().filter(|p| p.from_fork) else {
            return;
        };
        let notice = fork_notice(
            &self.config.command_prefix,
            self.config.command_permission,
            &pull.sha,
        );
        self.reply.sections.push(Section::always(notice));
    }

    /// The steps of the intents only comments have.
    pub(super) fn comment_steps(&self, intent: &Intent, commit: Option<&CommitSha>) -> Vec<Step> {
        let refresh = self.reply.pr.is_some() && self.facts.can_post && self.config.comment;
        let mut steps = Vec::new();
        match intent {
            Intent::Keep(stage, keep, _) => {
                steps.push(step(StepKind::AcquireLock {
                    stage: stage.clone(),
                }));
                steps.push(step(StepKind::KeepPreview { keep: *keep }));
                steps.push(always(StepKind::ReleaseLock {
                    stage: stage.clone(),
                }));
            }
            Intent::Unlock(stage, _) => {
                let by = self.reply.command.as_ref().map_or_else(
                    || "a comment command".to_owned(),
                    |c| format!("{} with {} unlock", c.by, self.config.command_prefix),
                );
                steps.push(step(StepKind::Unlock {
                    stage: stage.clone(),
                    by,
                }));
            }
            Intent::Approve(..) => {
                if let Some(sha) = commit {
                    steps.push(step(StepKind::HandOff { sha: sha.clone() }));
                }
                return steps;
            }
            Intent::Reply(..) => {}
            Intent::Skip(..) if self.reply.notice => {}
            _ => return steps,
        }
        if refresh {
            steps.push(always(StepKind::RefreshComment));
        }
        steps
    }
}

/// The configuration a comment is judged against.
fn policy(config: &Config) -> CommandPolicy<'_> {
    CommandPolicy {
        prefix: &config.command_prefix,
        required: config.command_permission,
        // One app; several apps name theirs.
        apps: &[],
        ttl: config.ttl,
    }
}
