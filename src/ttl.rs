//! When the sweep removes an open pull request's preview for age, and how
//! it warns first. Pure: a stage's times, the PR's labels, the settings and
//! the clock come in; a verdict and the comment texts come out.
//!
//! - A preview expires `ttl` after its last deploy, or at the end of a
//!   `keep`, whichever is later. A PR carrying the `keep-label` never
//!   expires while it has the label.
//! - With `ttl-warning` (default 24 h), the first sweep inside the
//!   warning window before the expiry posts a warning, once, and records
//!   when (`warned_at`). The preview is then removed no sooner than the
//!   expiry and no sooner than `ttl-warning` after the warning, so a sweep
//!   that runs late never removes a preview nobody was warned about in
//!   time.
//! - A warning counts only for the expiry it announced: a deploy or a
//!   `keep` that moves the expiry out of the window makes the next window
//!   warn again.

use std::fmt::Write as _;
use std::time::Duration;

use serde::Serialize;

use crate::github::markdown;
use crate::pr_command::parse::CommandPrefix;
use crate::time::Timestamp;

/// `ttl-warning` when not configured.
pub const DEFAULT_WARNING: Duration = Duration::from_secs(24 * 3_600);

/// The settings.
#[derive(Debug, Clone, Copy)]
pub struct TtlPolicy<'a> {
    /// `ttl`; `None` turns expiry off.
    pub ttl: Option<Duration>,
    /// `ttl-warning`; `None` expires without warning.
    pub warning: Option<Duration>,
    /// `keep-label`.
    pub keep_label: Option<&'a str>,
}

/// What the stage's record says about its age.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StageTimes {
    /// The last successful deploy (the record's `deployed_at`, else its
    /// `updated_at`).
    pub last_deploy: Timestamp,
    pub warned_at: Option<Timestamp>,
    pub keep_until: Option<Timestamp>,
}

/// What the sweep does about the stage's age.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(tag = "ttl", rename_all = "snake_case")]
pub enum TtlVerdict {
    /// Nothing to do: no ttl, or the expiry is not near.
    Keep,
    /// Kept past the ttl: by the label (`until` is `None`) or by a `keep`
    /// that ends at `until`; not near its end yet.
    Kept { until: Option<Timestamp> },
    /// Post the warning now and record `warned_at`.
    Warn { removes_at: Timestamp },
    /// Warned already; removed at `removes_at`.
    Warned { removes_at: Timestamp },
    /// Remove it now.
    Expire,
}

/// The verdict for one open pull request's stage.
pub fn verdict(
    times: &StageTimes,
    labels: &[String],
    policy: &TtlPolicy<'_>,
    now: Timestamp,
) -> TtlVerdict {
    let Some(ttl) = policy.ttl else {
        return TtlVerdict::Keep;
    };
    // GitHub's label names are unique regardless of case.
    if let Some(label) = policy.keep_label {
        if labels.iter().any(|l| l.eq_ignore_ascii_case(label)) {
            return TtlVerdict::Kept { until: None };
        }
    }
    let by_ttl = times.last_deploy.plus(ttl);
    let kept = times.keep_until.filter(|k| *k > by_ttl);
    let expiry = kept.unwrap_or(by_ttl);
    let quiet = match kept {
        Some(until) => TtlVerdict::Kept { until: Some(until) },
        None => TtlVerdict::Keep,
    };
    let Some(warning) = policy.warning else {
        return if now > expiry {
            TtlVerdict::Expire
        } else {
            quiet
        };
    };
    let window = Timestamp::from_unix(expiry.unix().saturating_sub(warning.as_secs()));
    let current = times
        .warned_at
        .filter(|w| *w >= window && *w >= times.last_deploy);
    match current {
        Some(warned) => {
            let removes_at = expiry.max(warned.plus(warning));
            if now >= removes_at {
                TtlVerdict::Expire
            } else {
                TtlVerdict::Warned { removes_at }
            }
        }
        None if now >= window => TtlVerdict::Warn {
            removes_at: expiry.max(now.plus(warning)),
        },
        None => quiet,
    }
}

/// `keep` for `d` from `now`.
pub fn keep_until(now: Timestamp, d: Duration) -> Timestamp {
    now.plus(d)
}

/// The `ttl-warning` setting: a duration like `24h`, or `off` (or `0`) to
/// expire without a warning.
pub fn parse_warning(s: &str) -> Result<Option<Duration>, String> {
    match s.trim() {
        "off" | "0" | "false" => Ok(None),
        t => crate::cleanup::parse_ttl(t).map(Some).ok_or_else(|| {
            format!("ttl-warning {s:?} is not a duration like 24h, 2d or 90m, or off")
        }),
    }
}

/// What the texts need to know.
#[derive(Debug, Clone, Copy)]
pub struct TextInput<'a> {
    pub prefix: &'a CommandPrefix,
    pub keep_label: Option<&'a str>,
    pub ttl: Duration,
}

/// The warning for the sticky comment, Markdown.
pub fn warning_markdown(t: &TextInput<'_>, removes_at: Timestamp) -> String {
    let mut out = format!(
        "⏳ This preview will be removed after {}: it has not been deployed for {} (the ttl). To keep it, comment `{} keep 7d`",
        removes_at.human(),
        days_or_hours(t.ttl),
        t.prefix
    );
    if let Some(label) = t.keep_label {
        let _ = write!(out, ", or add the label **{}**", markdown::text(label));
    }
    out.push_str("; a push deploys it again and starts the ttl over.\n");
    out
}

/// What the comment says while a keep holds, Markdown.
pub fn kept_markdown(t: &TextInput<'_>, until: Option<Timestamp>) -> String {
    match (until, t.keep_label) {
        (Some(u), _) => format!(
            "📌 Kept until {}; `{} keep off` ends it sooner.\n",
            u.human(),
            t.prefix
        ),
        (None, Some(label)) => format!(
            "📌 Kept while the pull request has the label **{}**.\n",
            markdown::text(label)
        ),
        (None, None) => "📌 Kept.\n".to_owned(),
    }
}

/// What the comment says after the sweep removed the preview, Markdown.
pub fn expired_markdown(t: &TextInput<'_>) -> String {
    format!(
        "🧹 This preview was removed after {} without a deploy (the ttl). A push to this pull request, or `{} deploy`, brings it back.\n",
        days_or_hours(t.ttl),
        t.prefix
    )
}

fn days_or_hours(d: Duration) -> String {
    let s = d.as_secs();
    if s >= 86_400 && s.is_multiple_of(86_400) {
        format!("{} days", s / 86_400)
    } else if s >= 3_600 && s.is_multiple_of(3_600) {
        format!("{} hours", s / 3_600)
    } else {
        format!("{} minutes", s / 60)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const H: u64 = 3_600;
    const D: u64 = 86_400;
    const T0: u64 = 1_800_000_000;

    fn at(secs: u64) -> Timestamp {
        Timestamp::from_unix(T0 + secs)
    }

    fn policy() -> TtlPolicy<'static> {
        TtlPolicy {
            ttl: Some(Duration::from_secs(14 * D)),
            warning: Some(DEFAULT_WARNING),
            keep_label: Some("keep-preview"),
        }
    }

    fn times(warned: Option<u64>, keep: Option<u64>) -> StageTimes {
        StageTimes {
            last_deploy: at(0),
            warned_at: warned.map(at),
            keep_until: keep.map(at),
        }
    }

    /// (what, times, labels, now, verdict), deployed at T0 with a 14-day
    /// ttl and a 24-hour warning unless said otherwise.
    #[test]
    fn the_ttl_table() {
        use TtlVerdict::*;
        let none: &[String] = &[];
        let label = ["Keep-Preview".to_owned()];
        let table: Vec<(&str, StageTimes, &[String], u64, TtlVerdict)> = vec![
            ("young", times(None, None), none, D, Keep),
            (
                "just before the window",
                times(None, None),
                none,
                13 * D - 1,
                Keep,
            ),
            (
                "window opens: warn",
                times(None, None),
                none,
                13 * D,
                Warn {
                    removes_at: at(14 * D),
                },
            ),
            (
                "warned: wait",
                times(Some(13 * D), None),
                none,
                13 * D + 6 * H,
                Warned {
                    removes_at: at(14 * D),
                },
            ),
            (
                "warned: expire at the expiry",
                times(Some(13 * D), None),
                none,
                14 * D,
                Expire,
            ),
            (
                "sweep ran late: warn, removal a full warning later",
                times(None, None),
                none,
                20 * D,
                Warn {
                    removes_at: at(21 * D),
                },
            ),
            (
                "warned late: the expiry waits for the warning",
                times(Some(20 * D), None),
                none,
                20 * D + 23 * H,
                Warned {
                    removes_at: at(21 * D),
                },
            ),
            (
                "warned late, a day on: expire",
                times(Some(20 * D), None),
                none,
                21 * D,
                Expire,
            ),
            (
                "label keeps it",
                times(Some(13 * D), None),
                &label,
                30 * D,
                Kept { until: None },
            ),
            (
                "keep holds it",
                times(None, Some(20 * D)),
                none,
                14 * D,
                Kept {
                    until: Some(at(20 * D)),
                },
            ),
            (
                "an old warning does not count for a keep's new expiry",
                times(Some(13 * D), Some(20 * D)),
                none,
                15 * D,
                Kept {
                    until: Some(at(20 * D)),
                },
            ),
            (
                "keep nearly over: warn",
                times(Some(13 * D), Some(20 * D)),
                none,
                19 * D,
                Warn {
                    removes_at: at(20 * D),
                },
            ),
            (
                "keep over, warned: expire",
                times(Some(19 * D), Some(20 * D)),
                none,
                20 * D,
                Expire,
            ),
            (
                "keep shorter than the ttl changes nothing",
                times(None, Some(2 * D)),
                none,
                5 * D,
                Keep,
            ),
        ];
        for (what, t, labels, now, want) in table {
            assert_eq!(verdict(&t, labels, &policy(), at(now)), want, "{what}");
        }
    }

    #[test]
    fn a_redeploy_starts_over_and_the_old_warning_no_longer_counts() {
        let t = StageTimes {
            last_deploy: at(13 * D + H),
            warned_at: Some(at(13 * D)),
            keep_until: None,
        };
        assert_eq!(verdict(&t, &[], &policy(), at(14 * D)), TtlVerdict::Keep);
        assert_eq!(
            verdict(&t, &[], &policy(), at(26 * D + H)),
            TtlVerdict::Warn {
                removes_at: at(27 * D + H)
            }
        );
    }

    #[test]
    fn the_warning_is_posted_once_over_a_run_of_daily_sweeps() {
        let mut t = times(None, None);
        let mut warnings = 0;
        let mut expired_on = None;
        for day in 0..30 {
            let now = at(day * D + 3 * H);
            match verdict(&t, &[], &policy(), now) {
                TtlVerdict::Warn { .. } => {
                    warnings += 1;
                    t.warned_at = Some(now);
                }
                TtlVerdict::Expire => {
                    expired_on = Some(day);
                    break;
                }
                _ => {}
            }
        }
        assert_eq!(warnings, 1);
        assert_eq!(expired_on, Some(14));
    }

    #[test]
    fn without_a_warning_or_a_ttl() {
        let mut p = policy();
        p.warning = None;
        assert_eq!(
            verdict(&times(None, None), &[], &p, at(14 * D)),
            TtlVerdict::Keep
        );
        assert_eq!(
            verdict(&times(None, None), &[], &p, at(14 * D + 1)),
            TtlVerdict::Expire
        );
        p.ttl = None;
        assert_eq!(
            verdict(&times(None, None), &[], &p, at(400 * D)),
            TtlVerdict::Keep
        );
    }

    #[test]
    fn settings_and_texts() {
        assert_eq!(parse_warning("24h"), Ok(Some(DEFAULT_WARNING)));
        assert_eq!(parse_warning("off"), Ok(None));
        assert_eq!(parse_warning("0"), Ok(None));
        assert!(parse_warning("soon").is_err());
        assert_eq!(keep_until(at(0), Duration::from_secs(D)), at(D));

        let prefix = CommandPrefix::default();
        let t = TextInput {
            prefix: &prefix,
            keep_label: Some("<b>keep</b>"),
            ttl: Duration::from_secs(14 * D),
        };
        let w = warning_markdown(&t, Timestamp::from_unix(1_795_353_745));
        assert!(w.contains("after 2026-11-22 13:22 UTC"), "{w}");
        assert!(w.contains("14 days"), "{w}");
        assert!(w.contains("`/alchemy keep 7d`"), "{w}");
        assert!(w.contains("&lt;b&gt;keep&lt;/b&gt;"), "{w}");
        let e = expired_markdown(&t);
        assert!(e.contains("`/alchemy deploy`") && e.contains("push"), "{e}");
        assert!(kept_markdown(&t, None).contains("label"));
        assert!(kept_markdown(&t, Some(at(0))).contains("keep off"));
    }
}
