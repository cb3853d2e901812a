//! A maintainer's approval to run a fork's code with the repository's
//! secrets, and the check that binds it to one commit.
//!
//! A pull request from a fork never deploys by itself: its code would run
//! with secrets its author should not have. `/alchemy deploy` from someone
//! with the required permission approves the PR's head as the run that
//! handles the comment reads it (`GET …/pulls/{n}`, seconds after the
//! comment). That SHA is what the workflow checks out, and the deploy
//! refuses to run unless the checked-out HEAD is exactly it: a push after
//! the approval needs a new approval.

use std::fmt::Write as _;

use serde::{Deserialize, Serialize};

use super::parse::CommandPrefix;
use super::permission::Permission;
use crate::event::{CommitSha, Login};
use crate::stage::PrNumber;

/// Who approved which commit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Approval {
    pub sha: CommitSha,
    pub by: Login,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ApprovalError {
    #[error(
        "the checked-out commit {} is not {}, the commit of pull request #{pr} that {by} approved; a push after an approval needs a new approval (check out the approved SHA from alchemy-ci's `sha` output)",
        head.as_str(),
        approved.as_str()
    )]
    Mismatch {
        pr: PrNumber,
        approved: CommitSha,
        by: Login,
        head: CommitSha,
    },
}

/// Refuses unless `head`, what is checked out, is the approved commit.
pub fn check_checkout(
    pr: PrNumber,
    approval: &Approval,
    head: &CommitSha,
) -> Result<(), ApprovalError> {
    if *head == approval.sha {
        Ok(())
    } else {
        Err(ApprovalError::Mismatch {
            pr,
            approved: approval.sha.clone(),
            by: approval.by.clone(),
            head: head.clone(),
        })
    }
}

/// What a fork PR's sticky comment says while it waits for an approval,
/// Markdown. `head` is the commit a maintainer would approve now.
pub fn fork_notice(prefix: &CommandPrefix, required: Permission, head: &CommitSha) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "🔒 This pull request comes from a fork, so its preview is not deployed automatically: deploying runs its code with this repository's secrets.\n"
    );
    let _ = writeln!(
        out,
        "A maintainer with **{required}** permission or more who has reviewed commit `{}` can approve it by commenting:\n",
        head.short()
    );
    let _ = writeln!(out, "```\n{} deploy\n```\n", prefix.as_str());
    let _ = writeln!(
        out,
        "The approval covers only the commit that is the head when the command runs; a later push needs a new approval."
    );
    out
}

/// What the sticky comment says of a fork's approved commit, Markdown.
pub fn approved_markdown(a: &Approval) -> String {
    format!(
        "🔓 Commit `{}` of this fork's pull request was approved by **{}**: it runs with this repository's secrets. A later push needs a new approval.\n",
        a.sha.short(),
        crate::github::markdown::text(a.by.as_str())
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sha(c: char) -> CommitSha {
        CommitSha::parse(&c.to_string().repeat(40)).expect("sha")
    }

    fn approval(c: char) -> Approval {
        Approval {
            sha: sha(c),
            by: Login::parse("maintainer").expect("login"),
        }
    }

    #[test]
    fn only_the_approved_commit_passes() {
        let pr = PrNumber::new(7).expect("pr");
        assert_eq!(check_checkout(pr, &approval('a'), &sha('a')), Ok(()));
        let err = check_checkout(pr, &approval('a'), &sha('b')).expect_err("refused");
        let msg = err.to_string();
        assert!(msg.contains(&"b".repeat(40)), "{msg}");
        assert!(msg.contains(&"a".repeat(40)), "{msg}");
        assert!(msg.contains("#7"), "{msg}");
        assert!(msg.contains("maintainer"), "{msg}");
        assert!(msg.contains("new approval"), "{msg}");
    }

    #[test]
    fn the_notice_names_the_commit_and_the_command() {
        let out = fork_notice(&CommandPrefix::default(), Permission::Write, &sha('c'));
        assert!(out.contains("`ccccccc`"), "{out}");
        assert!(out.contains("```\n/alchemy deploy\n```"), "{out}");
        assert!(out.contains("**write**"), "{out}");
    }
}
