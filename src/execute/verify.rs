//! Where a run found the stage's state and how a destroy was checked: a
//! destroy counts as verified only when alchemy-ci saw where the state
//! lives (or the user's verify-command says nothing is left), and a deploy
//! that left no state file of its stage says why.

use std::collections::BTreeMap;

use super::{StageRun, StepError};
use crate::alchemy::layout;
use crate::alchemy::verify;
use crate::plan::StepKind;
use crate::state::files::Layout;

impl StageRun<'_, '_> {
    /// A destroy that left no state file: verified only if it had files to
    /// watch or the user's verify-command says nothing is left.
    pub(super) fn confirm_destroyed(&mut self, check: Option<&[String]>) -> Result<(), StepError> {
        let held = self
            .held
            .as_ref()
            .ok_or(StepError::Internal("no lock held"))?;
        let keeping = held.snapshot.record.as_ref().and_then(|r| r.state);
        let mut v = verify::judge(&held.snapshot.files, keeping);
        if let Some(argv) = check {
            let env = self.plan.steps.iter().find_map(|s| match &s.kind {
                StepKind::RunAlchemy { env, .. } => Some(env.clone()),
                _ => None,
            });
            let check = verify::Check {
                argv,
                cwd: self.rt.app_dir.clone(),
                env: crate::config::resolve_env(&env.unwrap_or_default(), &|k| {
                    std::env::var(k).ok()
                })
                .map_err(StepError::Env)?,
                timeout: self.rt.timeout,
                grace: self.rt.grace,
                cancel: &self.cancel,
                actions_group: self
                    .rt
                    .actions
                    .active
                    .then(|| format!("verify-command {}", self.stage)),
                stdout_to_stderr: self.rt.stdout_to_stderr,
            };
            v = verify::run(&check, &self.stage).map_err(StepError::Verify)?;
        }
        if v.reason().is_some() {
            self.rt.actions.warning(&v.message(&self.key));
        }
        self.verification = Some(v);
        Ok(())
    }

    /// Records and tells where a deploy found the stage's state.
    pub(super) fn found_state(&mut self, files: &BTreeMap<String, Vec<u8>>, ok: bool) {
        let layout = Layout::of(&self.rt.flavor);
        let dir = &self.alchemy_dir;
        self.finding =
            layout::after_deploy(files, ok, layout, &self.stage, dir, self.aside.as_deref());
        match self
            .finding
            .as_ref()
            .map(|f| (f.message.clone(), f.is_warning()))
        {
            Some((Some(m), true)) => {
                tracing::warn!("{m}");
                self.rt.actions.warning(&m);
                self.warnings.push(m);
            }
            Some((Some(m), false)) => {
                self.rt.actions.notice(&m);
                self.notes.push(m);
            }
            _ => {}
        }
    }
}
