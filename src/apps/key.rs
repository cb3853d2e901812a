//! The name an app's stage is stored under: `<stage>@<app>`
//! (`pr-7@api`), beside the single-app stages (`pr-7`), whose names do not
//! change.
//!
//! Why this shape, in every store:
//!
//! - **No collision with single-app stages.** A stage or app name is
//!   `[a-z0-9][-_a-z0-9]{0,62}`: neither has an `@`, so `pr-7@api` is never
//!   a stage name and splits back at its one `@` unambiguously.
//! - **No git ref D/F conflict.** Nesting (`stages/pr-7/api`) would make
//!   `stages/pr-7` both a ref and a folder of refs, which git refuses.
//!   `stages/pr-7@api` is a sibling of `stages/pr-7`. It is a valid ref
//!   component under any prefix (`@` is allowed; `@{` and a lone `@` are
//!   not possible here), and never ends in `.lock` (no `.` in either name).
//! - **Folder and S3 stores** use the name as one path segment
//!   (`stages/pr-7@api/…`, `stages/pr-7@api.lock`); `@` needs no escaping
//!   in a file name and is percent-encoded by the S3 client in URLs.
//! - **Older versions ignore them.** Today's stores list only names that
//!   parse as stages, so a run of an older alchemy-ci never mistakes an
//!   app's stage for a stage of its own (and never sweeps it).
//! - Names sort by stage, so a PR's apps list together.

use std::fmt;

use serde::Serialize;

use super::spec::AppName;
use crate::stage::Stage;

/// Between the stage and the app in a key.
pub const SEPARATOR: char = '@';

/// What one stored stage belongs to: a stage, and the app when there are
/// several.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct StateKey {
    pub stage: Stage,
    pub app: Option<AppName>,
}

impl StateKey {
    /// The key of a repository without `apps:`: the stage name itself.
    pub fn single(stage: Stage) -> Self {
        Self { stage, app: None }
    }

    pub fn app(stage: Stage, app: AppName) -> Self {
        Self {
            stage,
            app: Some(app),
        }
    }

    /// Reads a name found in a store. `None` for anything that is neither
    /// a stage nor `<stage>@<app>`.
    pub fn parse(s: &str) -> Option<Self> {
        match s.split_once(SEPARATOR) {
            None => Stage::parse_stored(s).ok().map(Self::single),
            Some((stage, app)) => Some(Self::app(
                Stage::parse_stored(stage).ok()?,
                AppName::parse(app).ok()?,
            )),
        }
    }
}

impl fmt::Display for StateKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.app {
            None => write!(f, "{}", self.stage),
            Some(app) => write!(f, "{}{SEPARATOR}{app}", self.stage),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn key(stage: &str, app: Option<&str>) -> StateKey {
        StateKey {
            stage: Stage::parse_stored(stage).expect("stage"),
            app: app.map(|a| AppName::parse(a).expect("app")),
        }
    }

    #[test]
    fn single_app_keys_are_the_stage_names_of_today() {
        for s in ["pr-7", "main", "dev_sam", "lock"] {
            assert_eq!(key(s, None).to_string(), s);
            assert_eq!(StateKey::parse(s), Some(key(s, None)));
        }
        assert_eq!(key("pr-7", Some("api")).to_string(), "pr-7@api");
    }

    #[test]
    fn stored_names_that_are_not_keys_are_ignored() {
        for bad in [
            "",
            "@",
            "pr-7@",
            "@api",
            "pr-7@api@x",
            "PR-7@api",
            "pr-7@Api",
            "a/b",
            "pr-7@a.b",
        ] {
            assert_eq!(StateKey::parse(bad), None, "{bad:?}");
        }
    }

    /// Every key is a valid ref under the default prefix and as a branch,
    /// as git itself checks it, including the names most likely to break
    /// a ref: `lock`, `@`, and the longest names.
    #[test]
    fn keys_are_valid_git_refs() {
        let long = "a".repeat(63);
        let keys = [
            key("pr-7", None),
            key("pr-7", Some("api")),
            key("lock", Some("lock")),
            key("pr-4294967295", Some(&long)),
            key(&long, Some(&long)),
            key("0", Some("0-_")),
        ];
        for k in &keys {
            for refname in [
                format!("refs/alchemy-ci/stages/{k}"),
                format!("refs/heads/alchemy-state/{k}"),
            ] {
                let out = std::process::Command::new("git")
                    .args(["check-ref-format", &refname])
                    .output()
                    .expect("git runs");
                assert!(out.status.success(), "git refuses {refname}");
            }
        }
    }

    proptest! {
        #[test]
        fn keys_read_back_and_never_collide(
            stage in "[a-z0-9][-_a-z0-9]{0,20}",
            app in proptest::option::of("[a-z0-9][-_a-z0-9]{0,20}"),
            other in "[a-z0-9][-_a-z0-9]{0,20}",
        ) {
            let k = key(&stage, app.as_deref());
            let text = k.to_string();
            prop_assert_eq!(StateKey::parse(&text), Some(k.clone()));
            // No key is another key's folder (git's D/F conflict).
            prop_assert!(!text.contains('/'));
            if app.is_some() {
                prop_assert_ne!(text.as_str(), other.as_str(), "an app key is never a stage name");
            }
        }
    }
}
