//! Whether a destroy that Alchemy called a success may be called verified,
//! and the user's own check of it (`verify-command`).
//!
//! Alchemy's exit status proves nothing (v1 exits 0 when a delete fails; v2
//! exits 0 for a stage it has no state of). A destroy is verified when the
//! state files it started with are gone afterwards, or when the user's
//! check says nothing is left. With no state file to watch (an app that
//! keeps its state in its own store, a stage whose state was never found)
//! there is only Alchemy's word, and the destroy is reported as such.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use serde::Serialize;

use super::process::{self, Invocation};
use crate::cancel::Cancel;
use crate::record::{Record, StateKeeping};
use crate::stage::Stage;

/// How a destroy that Alchemy reported as a success was checked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "by", rename_all = "kebab-case")]
pub enum Verification {
    /// Every state file the destroy started with is gone.
    StateGone,
    /// The verify-command exited 0.
    VerifyCommand,
    /// Alchemy's exit status is all there is.
    Unverified { reason: String },
}

impl Verification {
    pub fn verified(&self) -> bool {
        !matches!(self, Self::Unverified { .. })
    }

    /// Why the destroy is not verified.
    pub fn reason(&self) -> Option<&str> {
        match self {
            Self::Unverified { reason } => Some(reason),
            _ => None,
        }
    }

    /// The one-line result of the destroy, as the log and the summary say it.
    pub fn message(&self, stage: &dyn std::fmt::Display) -> String {
        match self {
            Self::StateGone => format!("destroyed {stage} (verified: none of its state is left)"),
            Self::VerifyCommand => format!("destroyed {stage} (verified by verify-command)"),
            Self::Unverified { reason } => format!("destroyed {stage} ({reason})"),
        }
    }
}

/// Judges a destroy that left no state file of the stage. `restored` are
/// the files it started with; `keeping` is where the stage's record says
/// its state lives.
pub fn judge(restored: &BTreeMap<String, Vec<u8>>, keeping: Option<StateKeeping>) -> Verification {
    if !restored.is_empty() {
        return Verification::StateGone;
    }
    let reason = match keeping {
        Some(StateKeeping::AppManaged) => {
            "Alchemy reported success; this app keeps its state in its own store, so alchemy-ci could not verify it"
        }
        Some(StateKeeping::NotFound) => {
            "Alchemy reported success; this stage's state was never found where alchemy-ci looks, so alchemy-ci could not verify it"
        }
        Some(StateKeeping::Local) | None => {
            "Alchemy reported success; alchemy-ci held no state file of this stage, so it could not verify it"
        }
    };
    Verification::Unverified {
        reason: reason.to_owned(),
    }
}

/// The verify-command's argument vector for a stage: `{stage}` replaced
/// inside each word, nothing else interpreted.
pub fn argv(words: &[String], stage: &Stage) -> Vec<String> {
    words
        .iter()
        .map(|w| w.replace("{stage}", stage.as_str()))
        .collect()
}

/// Where and how the verify-command runs: like Alchemy, in the app's
/// folder, with the same variables, timeout and cancel.
pub struct Check<'a> {
    pub argv: &'a [String],
    pub cwd: PathBuf,
    pub env: BTreeMap<String, String>,
    pub timeout: Duration,
    pub grace: Duration,
    pub cancel: &'a Cancel,
    pub actions_group: Option<String>,
    pub stdout_to_stderr: bool,
}

/// Runs the verify-command; its output goes to the log. `Ok` only when it
/// exits 0; anything else is a destroy that failed.
pub fn run(check: &Check<'_>, stage: &Stage) -> Result<Verification, String> {
    let inv = Invocation {
        argv: check.argv.to_vec(),
        cwd: check.cwd.clone(),
        env: check.env.clone(),
        timeout: check.timeout,
        grace: check.grace,
        actions_group: check.actions_group.clone(),
        stdout_to_stderr: check.stdout_to_stderr,
        head: None,
    };
    let finished = process::run(&inv, check.cancel)
        .map_err(|e| format!("verify-command for {stage} could not run: {e}"))?;
    if finished.succeeded() {
        tracing::info!("verify-command says nothing of stage {stage} is left");
        return Ok(Verification::VerifyCommand);
    }
    let last = finished
        .tail
        .lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .map(|l| format!(": {}", l.trim()))
        .unwrap_or_default();
    Err(format!(
        "verify-command for {stage} {}, so the destroy is not verified{last}",
        finished.describe()
    ))
}

/// Writes what a run learnt about the stage's state into its record:
/// where the state lives (after a deploy) and whether a destroy was
/// verified.
pub fn update_record(
    r: &mut Record,
    keeping: Option<&super::layout::Finding>,
    verification: Option<&Verification>,
    destroy: bool,
) {
    if let Some(f) = keeping {
        r.state = Some(f.keeping);
        r.note.clone_from(&f.message);
    }
    if destroy {
        r.verified = verification.map(Verification::verified);
        r.note = verification.and_then(|v| v.reason().map(str::to_owned));
    } else {
        r.verified = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stage::StagePrefix;

    fn stage(s: &str) -> Stage {
        Stage::parse(s, &StagePrefix::default()).expect("valid")
    }

    #[test]
    fn only_watched_state_makes_a_destroy_verified() {
        let some = BTreeMap::from([("app/pr-1/a.json".to_owned(), Vec::new())]);
        assert_eq!(judge(&some, None), Verification::StateGone);
        for keeping in [
            None,
            Some(StateKeeping::Local),
            Some(StateKeeping::AppManaged),
            Some(StateKeeping::NotFound),
        ] {
            let v = judge(&BTreeMap::new(), keeping);
            assert!(!v.verified(), "{keeping:?}");
        }
        let v = judge(&BTreeMap::new(), Some(StateKeeping::AppManaged));
        assert_eq!(
            v.message(&stage("pr-1")),
            "destroyed pr-1 (Alchemy reported success; this app keeps its state in its own store, so alchemy-ci could not verify it)"
        );
    }

    #[test]
    fn the_stage_is_replaced_inside_words() {
        let words = vec![
            "check".to_owned(),
            "--stage={stage}".to_owned(),
            "{phase}".to_owned(),
        ];
        assert_eq!(
            argv(&words, &stage("pr-3")),
            ["check", "--stage=pr-3", "{phase}"]
        );
    }
}
