//! Which stages the sweep removes, and why. Pure: the records, the open
//! pull requests and the clock come in; a verdict per stage comes out.
//!
//! Preview tools leak: close events get cancelled, destroys fail, PRs close
//! while a deploy runs. The sweep is the safety net, so it errs on the side
//! of keeping: anything it cannot classify is kept and reported.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use serde::Serialize;

use crate::apps::spec::{AppName, Apps};
use crate::config::Config;
use crate::plan::{self, Facts, Plan, SweepFinding};
use crate::record::{Record, RecordStatus};
use crate::stage::{PrNumber, Stage, StagePrefix};
use crate::state::{Snapshot, StateKey};
use crate::time::Timestamp;
use crate::ttl::{self, StageTimes, TtlPolicy, TtlVerdict};

/// The open pull requests, each with its labels.
pub type OpenPulls = BTreeMap<PrNumber, Vec<String>>;

/// What the sweep does with one stage.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// Destroy the stage's resources, as a close event would.
    Destroy,
    /// Remove a tombstone past its retention: no resources are left.
    Forget,
    /// Warn on the PR that its preview expires, and record the warning.
    Warn,
    Keep,
}

#[derive(Debug, Clone, Serialize)]
pub struct Candidate {
    pub stage: Stage,
    /// The app whose stage this is (`<stage>@<app>`), with `apps:`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub app: Option<AppName>,
    pub pr: Option<PrNumber>,
    pub verdict: Verdict,
    pub reason: String,
    /// For a warning: when the preview will be removed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub removes_at: Option<Timestamp>,
    /// The destroy is a ttl expiry.
    #[serde(skip)]
    pub expired: bool,
}

impl Candidate {
    /// Where the stage is stored: `pr-7`, or `pr-7@api`.
    pub fn key(&self) -> StateKey {
        StateKey {
            stage: self.stage.clone(),
            app: self.app.clone(),
        }
    }
}

/// Every stored key's verdict: stages as [`select`] judges them, and the
/// stages of apps the same way when the app is configured. An app's stage
/// whose app is no longer in `apps:` is kept: without its folder and
/// command there is no way to destroy it, and the listing says so.
pub fn select_keys(
    records: &[(StateKey, Result<Option<Record>, String>)],
    open: &OpenPulls,
    p: &Policy<'_>,
    apps: Option<&Apps>,
) -> Vec<Candidate> {
    records
        .iter()
        .map(|(key, record)| {
            let mut c = classify(&key.stage, record, open, p);
            c.app.clone_from(&key.app);
            let Some(app) = &key.app else {
                return c;
            };
            if c.verdict == Verdict::Warn {
                // The warning is the single stage's comment's; an app's
                // stage is removed at its expiry without one.
                c.verdict = Verdict::Keep;
                c.reason = format!("{}; apps' stages are not warned, only removed", c.reason);
            }
            if apps.and_then(|a| a.get(app)).is_none() && c.verdict == Verdict::Destroy {
                c.verdict = Verdict::Keep;
                c.reason = format!(
                    "{}, but app {app} is not in apps: any more; add it back to destroy its stage, or forget it with state rm --force",
                    c.reason
                );
            }
            c
        })
        .collect()
}

/// The knobs of a sweep.
#[derive(Debug, Clone)]
pub struct Policy<'a> {
    pub prefix: &'a StagePrefix,
    pub protected: &'a BTreeSet<Stage>,
    /// Non-PR stages the user named explicitly.
    pub named: &'a BTreeSet<Stage>,
    /// Destroy stages whose last deploy is older than this.
    pub ttl: Option<Duration>,
    /// Warn on an open PR this long before its preview expires.
    pub warning: Option<Duration>,
    /// A label that keeps a PR's preview past the ttl.
    pub keep_label: Option<&'a str>,
    /// Tombstones older than this are removed.
    pub tombstone_retention: Duration,
    pub now: Timestamp,
}

/// Classifies every stage. `open` holds the open pull requests.
pub fn select(
    records: &[(Stage, Result<Option<Record>, String>)],
    open: &OpenPulls,
    p: &Policy<'_>,
) -> Vec<Candidate> {
    records
        .iter()
        .map(|(stage, record)| classify(stage, record, open, p))
        .collect()
}

/// One stage's verdict: what [`select`] says about it.
pub fn classify(
    stage: &Stage,
    record: &Result<Option<Record>, String>,
    open: &OpenPulls,
    p: &Policy<'_>,
) -> Candidate {
    let pr = stage.pr_number(p.prefix);
    let verdict = |verdict, reason: String| Candidate {
        stage: stage.clone(),
        app: None,
        pr,
        verdict,
        reason,
        removes_at: None,
        expired: false,
    };
    if p.protected.contains(stage) {
        return verdict(Verdict::Keep, "protected".into());
    }
    let named = p.named.contains(stage);
    if pr.is_none() && !named {
        return verdict(
            Verdict::Keep,
            "not a pull request stage (name it explicitly to sweep it)".into(),
        );
    }
    let r = match record {
        Err(e) => return verdict(Verdict::Keep, format!("record unreadable: {e}")),
        Ok(None) => {
            return verdict(
                Verdict::Destroy,
                "state without a record (a run that never finished)".into(),
            )
        }
        Ok(Some(r)) => r,
    };
    if r.status == RecordStatus::Destroyed && r.files.is_empty() {
        let since = r.closed_at.unwrap_or(r.updated_at);
        if p.now.since(since) > p.tombstone_retention {
            return verdict(
                Verdict::Forget,
                format!(
                    "destroyed {} days ago; the tombstone has expired",
                    p.now.since(since).as_secs() / 86_400
                ),
            );
        }
        return verdict(Verdict::Keep, "already destroyed".into());
    }
    if r.status == RecordStatus::DestroyFailed {
        return verdict(Verdict::Destroy, "its last destroy failed".into());
    }
    if let Some(n) = pr {
        if !open.contains_key(&n) {
            return verdict(Verdict::Destroy, format!("PR #{n} is not open"));
        }
    }
    if let Some(c) = by_age(r, pr.and_then(|n| open.get(&n)), p) {
        return Candidate {
            stage: stage.clone(),
            pr,
            ..c
        };
    }
    match pr {
        Some(n) => verdict(Verdict::Keep, format!("PR #{n} is open")),
        None => verdict(Verdict::Keep, "named, and within its ttl".into()),
    }
}

/// The ttl's verdict on a live stage, when it has one: destroy, warn, or
/// keep with the reason. `labels` are its open PR's.
fn by_age(r: &Record, labels: Option<&Vec<String>>, p: &Policy<'_>) -> Option<Candidate> {
    let ttl = p.ttl?;
    let times = StageTimes {
        last_deploy: r.deployed_at.unwrap_or(r.updated_at),
        warned_at: r.warned_at,
        keep_until: r.keep_until,
    };
    let policy = TtlPolicy {
        ttl: Some(ttl),
        // Only a pull request has someone to warn.
        warning: labels.and(p.warning),
        keep_label: p.keep_label,
    };
    let labels = labels.map_or(&[][..], Vec::as_slice);
    let c = |verdict, reason: String| Candidate {
        stage: r.stage.clone(),
        app: None,
        pr: None,
        verdict,
        reason,
        removes_at: None,
        expired: false,
    };
    let age = p.now.since(times.last_deploy);
    Some(match ttl::verdict(&times, labels, &policy, p.now) {
        TtlVerdict::Keep => return None,
        TtlVerdict::Expire => Candidate {
            expired: true,
            ..c(
                Verdict::Destroy,
                format!(
                    "last deployed {}h ago, longer than the ttl of {}h{}",
                    age.as_secs() / 3_600,
                    ttl.as_secs() / 3_600,
                    if r.keep_until.is_some() {
                        ", and its keep is over"
                    } else {
                        ""
                    }
                ),
            )
        },
        TtlVerdict::Warn { removes_at } => Candidate {
            removes_at: Some(removes_at),
            ..c(
                Verdict::Warn,
                format!(
                    "expires soon: warn now, remove after {}",
                    removes_at.human()
                ),
            )
        },
        TtlVerdict::Warned { removes_at } => c(
            Verdict::Keep,
            format!("warned of its expiry; removed after {}", removes_at.human()),
        ),
        TtlVerdict::Kept { until: Some(u) } => c(
            Verdict::Keep,
            format!("kept past the ttl until {}", u.human()),
        ),
        TtlVerdict::Kept { until: None } => c(
            Verdict::Keep,
            format!(
                "kept past the ttl by the label {:?}",
                p.keep_label.unwrap_or_default()
            ),
        ),
    })
}

/// What the PR's comment says of a ttl expiry, or of the warning.
pub fn ttl_texts(config: &Config) -> Option<ttl::TextInput<'_>> {
    Some(ttl::TextInput {
        prefix: &config.command_prefix,
        keep_label: config.keep_label.as_deref(),
        ttl: config.ttl?,
    })
}

/// The sweep's verdict on one stage made again under the stage's lock,
/// from the stage as the lock write found it (`replaced`) and its PR as
/// GitHub reports it then (`facts.live_pr`; `None` for a PR stage means it
/// could not be read): the destroy, or a skip that says why the stage is
/// kept. The listing that nominated the stage is minutes old by now.
pub fn recheck(
    sweep: &Plan,
    config: &Config,
    facts: &Facts,
    c: &Candidate,
    replaced: &Snapshot,
    p: &Policy<'_>,
) -> Plan {
    let mut plan = recheck_stage(sweep, config, facts, c, replaced, p);
    plan.app.clone_from(&c.app);
    plan
}

fn recheck_stage(
    sweep: &Plan,
    config: &Config,
    facts: &Facts,
    c: &Candidate,
    replaced: &Snapshot,
    p: &Policy<'_>,
) -> Plan {
    let keep = |why: String| plan::skip(sweep, &c.stage, c.pr, format!("kept: {why}"));
    if replaced.is_empty() {
        return keep("the stage is gone from the store".into());
    }
    let mut open = OpenPulls::new();
    if let Some(n) = c.pr {
        match &facts.live_pr {
            None => {
                return keep(format!(
                    "PR #{n}'s state could not be read under the stage's lock; the next sweep tries again"
                ))
            }
            Some(live) if live.open => {
                let labels = facts.pull_head.as_ref().map(|h| h.labels.clone());
                open.insert(n, labels.unwrap_or_default());
            }
            Some(_) => {}
        }
    }
    let verdict = classify(&c.stage, &Ok(replaced.record.clone()), &open, p);
    let texts = ttl_texts(config);
    match (verdict.verdict, verdict.removes_at, &texts) {
        (Verdict::Destroy, ..) => {
            let found = SweepFinding {
                reason: verdict.reason.clone(),
                expired: texts
                    .filter(|_| verdict.expired)
                    .map(|t| ttl::expired_markdown(&t)),
            };
            plan::sweep_destroy(sweep, config, facts, &c.stage, c.pr, &found)
        }
        (Verdict::Warn, Some(at), Some(t)) => {
            let warning = ttl::warning_markdown(t, at);
            plan::sweep_warn(sweep, config, &c.stage, c.pr, at, warning)
        }
        _ => keep(format!("judged again under its lock: {}", verdict.reason)),
    }
}

/// Parses a ttl like `14d`, `36h` or `90m`.
pub fn parse_ttl(s: &str) -> Option<Duration> {
    let s = s.trim();
    let (num, unit) = s.split_at(s.find(|c: char| !c.is_ascii_digit())?);
    let n: u64 = num.parse().ok().filter(|n| *n > 0)?;
    let secs = match unit {
        "d" => n.checked_mul(86_400)?,
        "h" => n.checked_mul(3_600)?,
        "m" => n.checked_mul(60)?,
        _ => return None,
    };
    Some(Duration::from_secs(secs))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stage(s: &str) -> Stage {
        Stage::parse(s, &StagePrefix::default()).expect("valid")
    }

    fn record(s: &str, status: RecordStatus, days_ago: u64) -> Record {
        let then = Timestamp::from_unix(1_800_000_000 - days_ago * 86_400);
        let mut r = Record::new(stage(s), status, then);
        r.updated_at = then;
        r.deployed_at = Some(then);
        if status == RecordStatus::Destroyed {
            r.closed_at = Some(then);
        } else {
            r.files = vec!["app/x.json".into()];
        }
        r
    }

    #[test]
    fn the_sweep_table() {
        let prefix = StagePrefix::default();
        let protected: BTreeSet<Stage> = [stage("prod")].into();
        let named = BTreeSet::new();
        let policy = Policy {
            prefix: &prefix,
            protected: &protected,
            named: &named,
            ttl: parse_ttl("14d"),
            warning: None,
            keep_label: None,
            tombstone_retention: Duration::from_secs(30 * 86_400),
            now: Timestamp::from_unix(1_800_000_000),
        };
        let open: OpenPulls = [1, 5, 6]
            .into_iter()
            .filter_map(PrNumber::new)
            .map(|n| (n, Vec::new()))
            .collect();
        let records = vec![
            (
                stage("pr-1"),
                Ok(Some(record("pr-1", RecordStatus::Deployed, 1))),
            ),
            (
                stage("pr-2"),
                Ok(Some(record("pr-2", RecordStatus::Deployed, 1))),
            ),
            (
                stage("pr-3"),
                Ok(Some(record("pr-3", RecordStatus::Destroyed, 2))),
            ),
            (
                stage("pr-4"),
                Ok(Some(record("pr-4", RecordStatus::Destroyed, 40))),
            ),
            (
                stage("pr-5"),
                Ok(Some(record("pr-5", RecordStatus::DestroyFailed, 1))),
            ),
            (
                stage("pr-6"),
                Ok(Some(record("pr-6", RecordStatus::Deployed, 20))),
            ),
            (stage("pr-7"), Err("bad json".to_owned())),
            (
                stage("prod"),
                Ok(Some(record("prod", RecordStatus::Deployed, 90))),
            ),
            (
                stage("staging2"),
                Ok(Some(record("staging2", RecordStatus::Deployed, 90))),
            ),
        ];
        let got: Vec<(String, Verdict)> = select(&records, &open, &policy)
            .into_iter()
            .map(|c| (c.stage.to_string(), c.verdict))
            .collect();
        let want = [
            ("pr-1", Verdict::Keep),
            ("pr-2", Verdict::Destroy),
            ("pr-3", Verdict::Keep),
            ("pr-4", Verdict::Forget),
            ("pr-5", Verdict::Destroy),
            ("pr-6", Verdict::Destroy),
            ("pr-7", Verdict::Keep),
            ("prod", Verdict::Keep),
            ("staging2", Verdict::Keep),
        ];
        let want: Vec<(String, Verdict)> =
            want.iter().map(|(s, v)| ((*s).to_owned(), *v)).collect();
        assert_eq!(got, want);
    }

    #[test]
    fn ttl_forms() {
        assert_eq!(parse_ttl("14d"), Some(Duration::from_secs(14 * 86_400)));
        assert_eq!(parse_ttl("36h"), Some(Duration::from_secs(36 * 3_600)));
        for bad in ["", "d", "0d", "14", "14w", "-1d", "1.5d"] {
            assert_eq!(parse_ttl(bad), None, "{bad}");
        }
    }
}
