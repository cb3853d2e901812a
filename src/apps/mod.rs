//! Monorepo previews: many apps in one repository, each with its own
//! Alchemy stage per pull request, deployed only when the pull request
//! touches it. This is the pure core (no I/O except `git_diff`): the
//! `apps:` model, path patterns, the affected-apps decision, dependency
//! order and scheduling, what changed, the per-PR comment, and the state
//! keys of an app's stage, and the plan of a run over the apps (`plan`).
//! docs/monorepo.md describes it for users.

pub mod affected;
pub mod changes;
pub mod comment;
pub mod git_diff;
pub mod glob;
pub mod key;
pub mod order;
pub mod plan;
pub mod spec;
