//! The stage record: what alchemy-ci knows about one stage, kept in the
//! state store beside the stage's Alchemy state as `record.json`.
//!
//! Format 1 (documented in docs/state.md):
//! `format`, `stage`, `pr`, `head_sha`, `status`, `urls`, `created_at`,
//! `updated_at`, `deployed_at`, `closed_at`, `run_url`, `lock`, `files`,
//! `error`, `remaining`, and, when known or not empty, `state`, `verified`,
//! `note`, `lock_history`, `keep_until`, `warned_at` and `approved`, and
//! `app` in the record of an app's stage (see docs/monorepo.md). Unknown
//! fields are ignored so older readers can read newer records; a higher
//! `format` is refused.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::apps::spec::AppName;
use crate::event::CommitSha;
use crate::github::comment::NamedUrl;
use crate::pr_command::approval::Approval;
use crate::stage::{PrNumber, Stage};
use crate::time::Timestamp;

/// The record format this version writes and reads.
pub const RECORD_FORMAT: u32 = 1;

/// Where a stage is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RecordStatus {
    Deploying,
    Deployed,
    Failed,
    Destroying,
    Destroyed,
    DestroyFailed,
}

impl RecordStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Deploying => "deploying",
            Self::Deployed => "deployed",
            Self::Failed => "failed",
            Self::Destroying => "destroying",
            Self::Destroyed => "destroyed",
            Self::DestroyFailed => "destroy-failed",
        }
    }
}

impl fmt::Display for RecordStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where a stage's Alchemy state lives, as its last deploy found it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum StateKeeping {
    /// In `.alchemy/`, where alchemy-ci saves and restores it.
    Local,
    /// In the app's own state store (Cloudflare, S3, a v2 state provider):
    /// alchemy-ci keeps none of it and cannot check a destroy by it.
    AppManaged,
    /// The app wrote local state, but not where its Alchemy flavour keeps
    /// a stage's files: alchemy-ci could not save it.
    NotFound,
}

impl StateKeeping {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Local => "local",
            Self::AppManaged => "app-managed",
            Self::NotFound => "not-found",
        }
    }
}

/// A run's claim on a stage: taken, renewed and released in the same
/// compare-and-swap as every other record change. A lease that was not
/// renewed by `expires_at` belongs to a run that died, and is taken over.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Lease {
    /// Who holds it: the workflow run and attempt, or host and process.
    pub holder: String,
    pub run_url: Option<String>,
    pub acquired_at: Timestamp,
    pub expires_at: Timestamp,
    /// The last renewal; absent until the first one (and in leases written
    /// by versions that did not renew).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub renewed_at: Option<Timestamp>,
    /// The workflow run holding it, so a waiting run can ask GitHub whether
    /// it is still running.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run: Option<RunRef>,
    /// What the holder is doing with the stage: `deploy`, `destroy`, `read`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub action: Option<String>,
}

/// A GitHub Actions workflow run: where it lives, its id and attempt.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunRef {
    /// `OWNER/REPO`.
    pub repository: String,
    pub id: u64,
    pub attempt: u32,
}

/// Something that happened to a stage's lock other than its holder taking
/// and releasing it: a takeover of a dead lease, or an unlock by hand.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LockEvent {
    pub at: Timestamp,
    /// `taken-over` or `unlocked`.
    pub event: String,
    /// Who did it: the run that took over, or who ran `state unlock`.
    pub by: String,
    /// Whose lock it was.
    pub holder: String,
    #[serde(default)]
    pub holder_run_url: Option<String>,
    /// Why the lock was judged dead, or that `--force` was used.
    pub reason: String,
}

/// How many lock events a record keeps, newest last.
pub const LOCK_HISTORY: usize = 10;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Record {
    pub format: u32,
    pub stage: Stage,
    /// The app, in the record of an app's stage (`<stage>@<app>`); absent
    /// for a repository without `apps:`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub app: Option<AppName>,
    #[serde(default)]
    pub pr: Option<PrNumber>,
    #[serde(default)]
    pub head_sha: Option<CommitSha>,
    pub status: RecordStatus,
    #[serde(default)]
    pub urls: Vec<NamedUrl>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    #[serde(default)]
    pub deployed_at: Option<Timestamp>,
    /// Set when the stage was destroyed because its PR closed: the
    /// tombstone that keeps a late event from re-creating it.
    #[serde(default)]
    pub closed_at: Option<Timestamp>,
    #[serde(default)]
    pub run_url: Option<String>,
    #[serde(default)]
    pub lock: Option<Lease>,
    /// The stage's state files this record belongs to, relative to `.alchemy/`.
    #[serde(default)]
    pub files: Vec<String>,
    /// The last failure, in one line.
    #[serde(default)]
    pub error: Option<String>,
    /// Resources left behind by a failed destroy.
    #[serde(default)]
    pub remaining: Vec<String>,
    /// Where the stage's state lives; absent in records of older versions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<StateKeeping>,
    /// After a destroy that succeeded: `true` when it was verified (no state
    /// left, or the verify-command said so), `false` when Alchemy's word is
    /// all there is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verified: Option<bool>,
    /// One line about how the stage's state is kept or why its destroy
    /// could not be verified.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    /// Takeovers and unlocks, newest last, at most [`LOCK_HISTORY`].
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub lock_history: Vec<LockEvent>,
    /// Until when a `keep` command keeps the preview past the ttl.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keep_until: Option<Timestamp>,
    /// When the sweep warned that the preview will expire.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub warned_at: Option<Timestamp>,
    /// The fork's commit a maintainer approved for the last deploy, and who.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approved: Option<Approval>,
}

impl Record {
    pub fn new(stage: Stage, status: RecordStatus, now: Timestamp) -> Self {
        Self {
            format: RECORD_FORMAT,
            stage,
            app: None,
            pr: None,
            head_sha: None,
            status,
            urls: Vec::new(),
            created_at: now,
            updated_at: now,
            deployed_at: None,
            closed_at: None,
            run_url: None,
            lock: None,
            files: Vec::new(),
            error: None,
            remaining: Vec::new(),
            state: None,
            verified: None,
            note: None,
            lock_history: Vec::new(),
            keep_until: None,
            warned_at: None,
            approved: None,
        }
    }

    /// The stage was destroyed because its PR closed, and nothing has been
    /// deployed since: a late event must not bring it back.
    pub fn is_tombstone(&self) -> bool {
        self.closed_at.is_some()
    }

    /// Records a takeover or unlock, keeping the newest [`LOCK_HISTORY`].
    pub fn note_lock_event(&mut self, event: LockEvent) {
        self.lock_history.push(event);
        let extra = self.lock_history.len().saturating_sub(LOCK_HISTORY);
        self.lock_history.drain(..extra);
    }

    /// Parses `record.json`, refusing formats newer than this build knows.
    pub fn from_json(bytes: &[u8]) -> Result<Self, String> {
        let r: Self = serde_json::from_slice(bytes).map_err(|e| e.to_string())?;
        if r.format > RECORD_FORMAT {
            return Err(format!(
                "record format {} is newer than this alchemy-ci understands ({RECORD_FORMAT}); upgrade alchemy-ci",
                r.format
            ));
        }
        Ok(r)
    }

    pub fn to_json(&self) -> Vec<u8> {
        let mut v = serde_json::to_vec_pretty(self).unwrap_or_default();
        v.push(b'\n');
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(app: Option<&str>) -> Record {
        let stage = Stage::parse_stored("pr-7").expect("stage");
        let mut r = Record::new(stage, RecordStatus::Deployed, Timestamp::from_unix(0));
        r.app = app.map(|a| AppName::parse(a).expect("app"));
        r
    }

    /// A repository without `apps:` writes the record it always wrote: no
    /// `app` field at all.
    #[test]
    fn a_single_app_record_has_no_app_field() {
        let json: serde_json::Value =
            serde_json::from_slice(&record(None).to_json()).expect("json");
        assert!(json.get("app").is_none(), "{json}");
    }

    #[test]
    fn an_apps_record_keeps_its_app_and_refuses_a_bad_one() {
        let r = record(Some("api"));
        let back = Record::from_json(&r.to_json()).expect("reads back");
        assert_eq!(back, r);
        let mut json: serde_json::Value = serde_json::from_slice(&r.to_json()).expect("json");
        json["app"] = serde_json::json!("../x");
        let bad = serde_json::to_vec(&json).expect("bytes");
        assert!(Record::from_json(&bad).is_err_and(|e| e.contains("not an app name")));
    }
}
