//! What an app's deploy changes, for its row in the comment: the plan
//! Alchemy v2 prints before it acts, else (v1, custom commands) the
//! stage's state files before and after the deploy.

use super::StageRun;
use crate::alchemy::Flavor;
use crate::apps::changes::{self, Changes};
use crate::plan::Action;

impl StageRun<'_, '_> {
    /// Only an app's deploy says what changed: a single app's run and its
    /// outputs stay as they were before apps existed.
    pub(super) fn wants_changes(&self) -> bool {
        self.plan.app.is_some() && self.plan.action == Action::Deploy
    }

    /// What the deploy changed, once Alchemy ran; `None` when it never
    /// started, or when no state was there to compare (state the app keeps
    /// in its own store).
    pub(super) fn changes(&self) -> Option<Changes> {
        if !self.wants_changes() {
            return None;
        }
        let finished = self.finished.as_ref()?;
        let printed = self
            .head
            .as_ref()
            .map(|h| h.text())
            .and_then(|h| changes::parse_plan(&h));
        let printed = match (printed, &self.rt.flavor) {
            (None, Flavor::V2) => changes::parse_plan(&finished.tail),
            (p, _) => p,
        };
        if printed.is_some() {
            return printed;
        }
        let after = self.collected.as_ref()?;
        if after.is_empty() && self.before.is_empty() {
            return None;
        }
        Some(changes::from_state(&self.before, after))
    }
}
