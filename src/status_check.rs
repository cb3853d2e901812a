//! The commit statuses a preview posts on its head commit, so branch
//! protection can require a working preview: which contexts, which states,
//! which links and what text. Pure: the phase of each app comes in, the
//! statuses to post come out.
//!
//! - One app: one context, `alchemy-ci/preview`.
//! - Several apps: `alchemy-ci/preview/<app>` for each, plus
//!   `alchemy-ci/preview` for all of them together, so a protection rule
//!   can require the aggregate without naming every app.
//! - Deploying is `pending` (linking the run), deployed is `success`
//!   (linking the preview), failed is `failure` (linking the run), and a
//!   pull request that needs no preview gets `success` "no preview
//!   needed": requiring the check never blocks such a PR.
//! - A destroy ([`Phase::Destroyed`]) posts nothing: a closed PR's last
//!   commit keeps the status it had, which is what its history should
//!   show.

use serde::Serialize;

use crate::github::markdown;
use crate::stage::Stage;
use crate::text::{is_unsafe, shown};

/// The context of the preview, or of all previews together.
pub const CONTEXT: &str = "alchemy-ci/preview";

/// GitHub's limit on a status description, in characters.
pub const MAX_DESCRIPTION: usize = 140;

/// A commit status state, as GitHub names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum StatusState {
    Pending,
    Success,
    Failure,
    Error,
}

impl StatusState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Success => "success",
            Self::Failure => "failure",
            Self::Error => "error",
        }
    }
}

/// One status to post on the head commit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CommitStatus {
    pub context: String,
    pub state: StatusState,
    /// Already checked with `markdown::url`.
    pub target_url: Option<String>,
    /// Plain text, at most [`MAX_DESCRIPTION`] characters.
    pub description: String,
}

/// Where one app's preview is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "phase", rename_all = "snake_case")]
pub enum Phase {
    Deploying,
    Deployed {
        url: Option<String>,
    },
    Failed {
        error: Option<String>,
    },
    /// Not affected, not labelled, a draft: `reason` says which.
    NotNeeded {
        reason: String,
    },
    /// Destroyed (the PR closed, or a command): posts nothing, so the
    /// commit keeps the status it had.
    Destroyed,
}

/// One app and its phase; `app` is `None` for the only app.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppPhase<'a> {
    pub app: Option<&'a str>,
    pub phase: Phase,
}

/// The statuses to post for `stage`, per app first, the aggregate last.
/// Destroyed apps get none, and the aggregate counts only the others.
pub fn statuses(stage: &Stage, run_url: Option<&str>, apps: &[AppPhase<'_>]) -> Vec<CommitStatus> {
    let run = run_url.and_then(markdown::url);
    if let [only] = apps {
        return one(CONTEXT.to_owned(), stage, None, &only.phase, run.as_deref())
            .into_iter()
            .collect();
    }
    let live: Vec<&AppPhase<'_>> = apps
        .iter()
        .filter(|a| a.phase != Phase::Destroyed)
        .collect();
    let mut out: Vec<CommitStatus> = live
        .iter()
        .filter_map(|a| one(context(a.app), stage, a.app, &a.phase, run.as_deref()))
        .collect();
    if !live.is_empty() {
        out.push(aggregate(stage, &live, run));
    }
    out
}

/// `alchemy-ci/preview/<app>`, or `alchemy-ci/preview` for the only app.
pub fn context(app: Option<&str>) -> String {
    match app {
        Some(a) => format!("{CONTEXT}/{}", plain(a)),
        None => CONTEXT.to_owned(),
    }
}

fn one(
    context: String,
    stage: &Stage,
    app: Option<&str>,
    phase: &Phase,
    run: Option<&str>,
) -> Option<CommitStatus> {
    let what = match app {
        Some(a) => format!("{} in {stage}", plain(a)),
        None => format!("Preview {stage}"),
    };
    let (state, target_url, description) = match phase {
        Phase::Deploying => (
            StatusState::Pending,
            run.map(str::to_owned),
            format!("{what}: deploying…"),
        ),
        Phase::Deployed { url } => (
            StatusState::Success,
            url.as_deref()
                .and_then(markdown::url)
                .or(run.map(str::to_owned)),
            format!("{what}: deployed"),
        ),
        Phase::Failed { error } => (
            StatusState::Failure,
            run.map(str::to_owned),
            match error.as_deref().and_then(|e| e.lines().next()) {
                Some(first) => format!("{what}: failed: {}", plain(first)),
                None => format!("{what}: failed"),
            },
        ),
        Phase::NotNeeded { reason } => (
            StatusState::Success,
            None,
            format!("No preview needed: {}", plain(reason)),
        ),
        Phase::Destroyed => return None,
    };
    Some(CommitStatus {
        context,
        state,
        target_url,
        description: fit(&description),
    })
}

fn aggregate(stage: &Stage, apps: &[&AppPhase<'_>], run: Option<String>) -> CommitStatus {
    let count = |f: fn(&Phase) -> bool| apps.iter().filter(|a| f(&a.phase)).count();
    let failed = count(|p| matches!(p, Phase::Failed { .. }));
    let deploying = count(|p| matches!(p, Phase::Deploying));
    let deployed = count(|p| matches!(p, Phase::Deployed { .. }));
    let not_needed = count(|p| matches!(p, Phase::NotNeeded { .. }));
    let state = if failed > 0 {
        StatusState::Failure
    } else if deploying > 0 {
        StatusState::Pending
    } else {
        StatusState::Success
    };
    let mut parts = Vec::new();
    for (n, word) in [
        (deployed, "deployed"),
        (deploying, "deploying"),
        (failed, "failed"),
        (not_needed, "not needed"),
    ] {
        if n > 0 {
            parts.push(format!("{n} {word}"));
        }
    }
    CommitStatus {
        context: CONTEXT.to_owned(),
        state,
        target_url: run,
        description: fit(&format!(
            "Preview {stage}, {} app{}: {}",
            apps.len(),
            if apps.len() == 1 { "" } else { "s" },
            parts.join(", ")
        )),
    }
}

/// Text for a description: line breaks become spaces and other unsafe
/// characters are shown escaped.
fn plain(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\n' | '\r' | '\t' => out.push(' '),
            c if is_unsafe(c) => out.push_str(&shown(c)),
            c => out.push(c),
        }
    }
    out
}

/// At most [`MAX_DESCRIPTION`] characters, cut with `…`.
fn fit(s: &str) -> String {
    if s.chars().count() <= MAX_DESCRIPTION {
        s.to_owned()
    } else {
        let mut t: String = s.chars().take(MAX_DESCRIPTION - 1).collect();
        t.push('…');
        t
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stage::StagePrefix;

    const RUN: &str = "https://github.com/o/r/actions/runs/1";

    fn stage() -> Stage {
        Stage::parse("pr-7", &StagePrefix::default()).expect("stage")
    }

    fn only(phase: Phase) -> CommitStatus {
        let mut s = statuses(&stage(), Some(RUN), &[AppPhase { app: None, phase }]);
        assert_eq!(s.len(), 1);
        s.remove(0)
    }

    #[test]
    fn one_app_one_context_per_phase() {
        let deploying = only(Phase::Deploying);
        assert_eq!(deploying.context, "alchemy-ci/preview");
        assert_eq!(deploying.state, StatusState::Pending);
        assert_eq!(deploying.target_url.as_deref(), Some(RUN));

        let deployed = only(Phase::Deployed {
            url: Some("https://pr-7.example.dev/".into()),
        });
        assert_eq!(deployed.state, StatusState::Success);
        assert_eq!(
            deployed.target_url.as_deref(),
            Some("https://pr-7.example.dev/")
        );
        assert_eq!(deployed.description, "Preview pr-7: deployed");

        // A URL we would not link to is replaced by the run.
        let odd = only(Phase::Deployed {
            url: Some("javascript:alert(1)".into()),
        });
        assert_eq!(odd.target_url.as_deref(), Some(RUN));

        let failed = only(Phase::Failed {
            error: Some("alchemy exited 1\nstack…".into()),
        });
        assert_eq!(failed.state, StatusState::Failure);
        assert_eq!(failed.target_url.as_deref(), Some(RUN));
        assert_eq!(failed.description, "Preview pr-7: failed: alchemy exited 1");

        let skip = only(Phase::NotNeeded {
            reason: "draft pull request".into(),
        });
        assert_eq!(skip.state, StatusState::Success);
        assert_eq!(skip.target_url, None);
        assert_eq!(skip.description, "No preview needed: draft pull request");
    }

    #[test]
    fn several_apps_get_their_own_contexts_and_an_aggregate() {
        let apps = [
            AppPhase {
                app: Some("web"),
                phase: Phase::Deployed { url: None },
            },
            AppPhase {
                app: Some("api"),
                phase: Phase::Failed { error: None },
            },
            AppPhase {
                app: Some("docs"),
                phase: Phase::NotNeeded {
                    reason: "not affected".into(),
                },
            },
        ];
        let got = statuses(&stage(), Some(RUN), &apps);
        let contexts: Vec<(&str, StatusState)> =
            got.iter().map(|s| (s.context.as_str(), s.state)).collect();
        assert_eq!(
            contexts,
            [
                ("alchemy-ci/preview/web", StatusState::Success),
                ("alchemy-ci/preview/api", StatusState::Failure),
                ("alchemy-ci/preview/docs", StatusState::Success),
                ("alchemy-ci/preview", StatusState::Failure),
            ]
        );
        assert_eq!(
            got[3].description,
            "Preview pr-7, 3 apps: 1 deployed, 1 failed, 1 not needed"
        );
        // Pending wins over success, failure over pending.
        let pending = statuses(
            &stage(),
            None,
            &[
                AppPhase {
                    app: Some("web"),
                    phase: Phase::Deploying,
                },
                AppPhase {
                    app: Some("api"),
                    phase: Phase::Deployed { url: None },
                },
            ],
        );
        assert_eq!(pending[2].state, StatusState::Pending);
        assert!(statuses(&stage(), None, &[]).is_empty());
    }

    #[test]
    fn a_destroy_posts_nothing() {
        let gone = |app| AppPhase {
            app,
            phase: Phase::Destroyed,
        };
        assert!(statuses(&stage(), Some(RUN), &[gone(None)]).is_empty());
        assert!(statuses(&stage(), Some(RUN), &[gone(Some("web")), gone(Some("api"))]).is_empty());
        // One app destroyed by a command: the others still count.
        let rest = statuses(
            &stage(),
            Some(RUN),
            &[
                gone(Some("web")),
                AppPhase {
                    app: Some("api"),
                    phase: Phase::Deployed { url: None },
                },
            ],
        );
        let contexts: Vec<&str> = rest.iter().map(|s| s.context.as_str()).collect();
        assert_eq!(contexts, ["alchemy-ci/preview/api", "alchemy-ci/preview"]);
        assert_eq!(rest[1].description, "Preview pr-7, 1 app: 1 deployed");
    }

    #[test]
    fn descriptions_fit_and_show_no_control_characters() {
        let s = only(Phase::Failed {
            error: Some(format!("\u{1b}[31m{}", "e".repeat(500))),
        });
        assert_eq!(s.description.chars().count(), MAX_DESCRIPTION);
        assert!(s.description.ends_with('…'));
        assert!(!s.description.chars().any(is_unsafe), "{}", s.description);
        assert!(s.description.contains("\\u{1b}"), "{}", s.description);
        assert_eq!(context(Some("we\nb")), "alchemy-ci/preview/we b");
    }
}
