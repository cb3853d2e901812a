//! The fake's state for comment commands and status checks: repository
//! roles per user, reactions on issue comments, commit statuses, the
//! environments deployments created, and scopes a token lacks.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use serde_json::{json, Value};

use super::state::RepoKey;

/// A user's role on one repository: `role_name` as GitHub reports it and
/// the legacy base permission (`admin`, `write`, `read`, `none`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Role {
    pub role_name: String,
    pub permission: String,
}

impl Role {
    /// A built-in role: `maintain` reports `write`, `triage` reports
    /// `read`, as GitHub's legacy `permission` field does.
    pub fn builtin(name: &str) -> Self {
        let permission = match name {
            "admin" => "admin",
            "maintain" | "write" => "write",
            "triage" | "read" => "read",
            _ => "none",
        };
        Self {
            role_name: name.to_string(),
            permission: permission.to_string(),
        }
    }
}

/// A reaction on an issue comment, as stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reaction {
    pub id: u64,
    pub comment_id: u64,
    pub content: String,
    pub user: String,
    pub created_at: String,
}

/// A commit status, as stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CommitStatus {
    pub id: u64,
    pub sha: String,
    pub state: String,
    pub context: String,
    pub description: Option<String>,
    pub target_url: Option<String>,
    pub creator: String,
    pub created_at: String,
}

/// An environment, created by the first deployment that names it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Environment {
    pub id: u64,
    pub name: String,
    pub created_at: String,
    pub updated_at: String,
}

pub struct CommandsState {
    /// (repository, lower-case login) -> role. The repository's owner is
    /// `admin` unless set otherwise.
    pub roles: BTreeMap<(RepoKey, String), Role>,
    pub reactions: BTreeMap<RepoKey, Vec<Reaction>>,
    pub statuses: BTreeMap<RepoKey, Vec<CommitStatus>>,
    /// (repository) -> lower-case name -> environment.
    pub environments: BTreeMap<RepoKey, BTreeMap<String, Environment>>,
    /// token -> scopes it lacks (`statuses`, …).
    pub denied: HashMap<String, BTreeSet<String>>,
    next_reaction: u64,
    next_status: u64,
    next_environment: u64,
}

impl Default for CommandsState {
    fn default() -> Self {
        Self {
            roles: BTreeMap::new(),
            reactions: BTreeMap::new(),
            statuses: BTreeMap::new(),
            environments: BTreeMap::new(),
            denied: HashMap::new(),
            // Large like GitHub's ids.
            next_reaction: 250_000_001,
            next_status: 35_000_000_001,
            next_environment: 4_100_000_001,
        }
    }
}

impl CommandsState {
    pub fn reaction_id(&mut self) -> u64 {
        let n = self.next_reaction;
        self.next_reaction += 1;
        n
    }

    pub fn status_id(&mut self) -> u64 {
        let n = self.next_status;
        self.next_status += 1;
        n
    }

    /// Records that a deployment named environment `name`, creating it the
    /// first time (names are not case sensitive, the first spelling stays).
    pub fn touch_environment(&mut self, key: &RepoKey, name: &str, now: &str) {
        let next = &mut self.next_environment;
        let envs = self.environments.entry(key.clone()).or_default();
        let env = envs.entry(name.to_ascii_lowercase()).or_insert_with(|| {
            let id = *next;
            *next += 1;
            Environment {
                id,
                name: name.to_string(),
                created_at: now.to_string(),
                updated_at: now.to_string(),
            }
        });
        env.updated_at = now.to_string();
    }

    pub fn is_denied(&self, token: &str, scope: &str) -> bool {
        self.denied.get(token).is_some_and(|s| s.contains(scope))
    }

    /// The `reactions` rollup GitHub puts in a comment's JSON.
    pub fn rollup(&self, key: &RepoKey, comment_id: u64, url: &str) -> Value {
        let mut counts: BTreeMap<&str, u64> = [
            "+1", "-1", "laugh", "hooray", "confused", "heart", "rocket", "eyes",
        ]
        .into_iter()
        .map(|c| (c, 0))
        .collect();
        let mut total = 0;
        for r in self.reactions.get(key).into_iter().flatten() {
            if r.comment_id == comment_id {
                if let Some(n) = counts.get_mut(r.content.as_str()) {
                    *n += 1;
                    total += 1;
                }
            }
        }
        let mut v = json!({ "url": url, "total_count": total });
        if let Some(o) = v.as_object_mut() {
            for (k, n) in counts {
                o.insert(k.to_string(), json!(n));
            }
        }
        v
    }
}

impl super::FakeGitHub {
    /// Registers account `login` (no role anywhere until one is set).
    pub fn add_user(&self, login: &str) {
        self.shared.lock().ensure_user(login);
    }

    /// Gives `login` built-in role `role` (`admin`, `maintain`, `write`,
    /// `triage`, `read` or `none`) on `owner/repo`.
    pub fn set_role(&self, owner: &str, repo: &str, login: &str, role: &str) {
        self.put_role(owner, repo, login, Role::builtin(role));
    }

    /// Gives `login` a custom repository role named `role_name` that
    /// inherits base permission `base` (`read`, `write`, …).
    pub fn set_custom_role(
        &self,
        owner: &str,
        repo: &str,
        login: &str,
        role_name: &str,
        base: &str,
    ) {
        self.put_role(
            owner,
            repo,
            login,
            Role {
                role_name: role_name.to_string(),
                permission: Role::builtin(base).permission,
            },
        );
    }

    fn put_role(&self, owner: &str, repo: &str, login: &str, role: Role) {
        let mut st = self.shared.lock();
        st.ensure_user(login);
        st.ensure_repo(owner, repo);
        let key = super::state::repo_key(owner, repo);
        st.commands
            .roles
            .insert((key, login.to_ascii_lowercase()), role);
    }

    /// Makes `token` lack `scope` (`statuses`): those writes answer 403
    /// "Resource not accessible by integration", as for a workflow whose
    /// `permissions:` leave it out.
    pub fn deny_scope(&self, token: &str, scope: &str) {
        self.shared
            .lock()
            .commands
            .denied
            .entry(token.to_string())
            .or_default()
            .insert(scope.to_string());
    }

    /// The reactions on comment `comment_id`, oldest first.
    pub fn reactions(&self, owner: &str, repo: &str, comment_id: u64) -> Vec<Reaction> {
        let key = super::state::repo_key(owner, repo);
        self.shared
            .lock()
            .commands
            .reactions
            .get(&key)
            .into_iter()
            .flatten()
            .filter(|r| r.comment_id == comment_id)
            .cloned()
            .collect()
    }

    /// The commit statuses of `sha`, oldest first.
    pub fn commit_statuses(&self, owner: &str, repo: &str, sha: &str) -> Vec<CommitStatus> {
        let key = super::state::repo_key(owner, repo);
        self.shared
            .lock()
            .commands
            .statuses
            .get(&key)
            .into_iter()
            .flatten()
            .filter(|s| s.sha.eq_ignore_ascii_case(sha))
            .cloned()
            .collect()
    }

    /// The newest status of `sha` in `context`, if any.
    pub fn latest_commit_status(
        &self,
        owner: &str,
        repo: &str,
        sha: &str,
        context: &str,
    ) -> Option<CommitStatus> {
        self.commit_statuses(owner, repo, sha)
            .into_iter()
            .rev()
            .find(|s| s.context.eq_ignore_ascii_case(context))
    }

    /// The names of the repository's environments, sorted.
    pub fn environments(&self, owner: &str, repo: &str) -> Vec<String> {
        let key = super::state::repo_key(owner, repo);
        let mut names: Vec<String> = self
            .shared
            .lock()
            .commands
            .environments
            .get(&key)
            .map(|m| m.values().map(|e| e.name.clone()).collect())
            .unwrap_or_default();
        names.sort();
        names
    }
}
