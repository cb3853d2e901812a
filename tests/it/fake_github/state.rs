//! The fake's in-memory world: users, tokens, repositories with their
//! issues, pull requests, comments and deployments, injected faults and the
//! request log.

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};

use serde_json::Value;

use super::commands_state::CommandsState;
use super::util::now_iso;
use super::{
    Comment, Deployment, Fault, LoggedRequest, PullSpec, TokenKind, WorkflowRun, ACTIONS_BOT,
};

/// Real id, node id and avatar of `github-actions[bot]`, so that clients
/// which recognise the bot by id see what they would on github.com.
pub const ACTIONS_BOT_ID: u64 = 41_898_282;
pub const ACTIONS_BOT_NODE_ID: &str = "MDM6Qm90NDE4OTgyODI=";
pub const ACTIONS_BOT_AVATAR: &str = "https://avatars.githubusercontent.com/in/15368?v=4";

#[derive(Clone, Debug)]
pub struct Token {
    pub login: String,
    pub kind: TokenKind,
    pub read_only: bool,
}

#[derive(Clone, Debug)]
pub struct User {
    pub login: String,
    pub id: u64,
    pub bot: bool,
    pub created_at: String,
}

#[derive(Clone, Debug)]
pub struct Pull {
    pub spec: PullSpec,
    pub id: u64,
    pub created_at: String,
    pub updated_at: String,
    pub closed_at: Option<String>,
    pub merged_at: Option<String>,
}

#[derive(Clone, Debug)]
pub struct Repo {
    pub id: u64,
    pub owner: String,
    pub name: String,
    pub created_at: String,
    pub fork: bool,
    /// Issue numbers that are plain issues (pull requests are in `pulls`).
    pub issues: BTreeSet<u64>,
    pub pulls: BTreeMap<u64, Pull>,
    /// Every issue comment of the repository, in creation order.
    pub comments: Vec<Comment>,
    /// Every deployment, in creation order, statuses oldest first.
    pub deployments: Vec<Deployment>,
    /// Branch name -> commit SHA, for resolving a deployment's `ref`.
    pub refs: BTreeMap<String, String>,
    /// Workflow runs by id.
    pub runs: BTreeMap<u64, WorkflowRun>,
    /// Pull request number -> the files it changes.
    pub pull_files: BTreeMap<u64, Vec<super::PullFile>>,
    /// `BASE...HEAD` -> the comparison GitHub would give.
    pub compares: BTreeMap<String, super::pull_files::Comparison>,
}

impl Repo {
    pub fn issue_exists(&self, number: u64) -> bool {
        self.issues.contains(&number) || self.pulls.contains_key(&number)
    }

    pub fn full_name(&self) -> String {
        format!("{}/{}", self.owner, self.name)
    }
}

/// Repositories are looked up case-insensitively, as on GitHub.
pub type RepoKey = (String, String);

pub fn repo_key(owner: &str, repo: &str) -> RepoKey {
    (owner.to_ascii_lowercase(), repo.to_ascii_lowercase())
}

#[derive(Debug)]
pub struct FaultRule {
    pub method: String,
    pub path_prefix: String,
    pub faults: VecDeque<Fault>,
}

pub struct State {
    /// `http://127.0.0.1:PORT`, the fake's stand-in for `https://api.github.com`.
    pub base: String,
    pub tokens: HashMap<String, Token>,
    pub users: BTreeMap<String, User>,
    pub repos: BTreeMap<RepoKey, Repo>,
    pub faults: Vec<FaultRule>,
    pub log: Vec<LoggedRequest>,
    pub rate_used: HashMap<String, u64>,
    pub rate_reset: u64,
    /// Roles, reactions, commit statuses, environments, denied scopes.
    pub commands: CommandsState,
    next_user: u64,
    next_repo: u64,
    next_pull: u64,
    next_comment: u64,
    next_deployment: u64,
    next_status: u64,
    next_request: u64,
}

impl State {
    pub fn new(base: String, rate_reset: u64) -> Self {
        Self {
            base,
            tokens: HashMap::new(),
            users: BTreeMap::new(),
            repos: BTreeMap::new(),
            faults: Vec::new(),
            log: Vec::new(),
            rate_used: HashMap::new(),
            rate_reset,
            commands: CommandsState::default(),
            // Ids are large like GitHub's (comment ids passed 2^31 long
            // ago), so a client that squeezes them into 32 bits fails here
            // as it would against github.com.
            next_user: 100_001,
            next_repo: 700_000_001,
            next_pull: 2_600_000_001,
            next_comment: 2_400_000_001,
            next_deployment: 1_900_000_001,
            next_status: 3_100_000_001,
            next_request: 1,
        }
    }

    pub fn request_id(&mut self) -> String {
        let n = self.next_request;
        self.next_request += 1;
        format!("FAKE:{n:04X}:{:06X}", n * 7919)
    }

    pub fn comment_id(&mut self) -> u64 {
        let n = self.next_comment;
        self.next_comment += 1;
        n
    }

    pub fn deployment_id(&mut self) -> u64 {
        let n = self.next_deployment;
        self.next_deployment += 1;
        n
    }

    pub fn status_id(&mut self) -> u64 {
        let n = self.next_status;
        self.next_status += 1;
        n
    }

    /// The user called `login`, created on first mention.
    pub fn ensure_user(&mut self, login: &str) -> User {
        let key = login.to_ascii_lowercase();
        if let Some(u) = self.users.get(&key) {
            return u.clone();
        }
        let bot = login.ends_with("[bot]");
        let id = if login == ACTIONS_BOT {
            ACTIONS_BOT_ID
        } else {
            let id = self.next_user;
            self.next_user += 1;
            id
        };
        let user = User {
            login: login.to_string(),
            id,
            bot,
            created_at: "2011-01-25T18:44:36Z".to_string(),
        };
        self.users.insert(key, user.clone());
        user
    }

    pub fn user(&self, login: &str) -> Option<&User> {
        self.users.get(&login.to_ascii_lowercase())
    }

    /// The repository `owner/name`, created on first mention.
    pub fn ensure_repo(&mut self, owner: &str, name: &str) -> &mut Repo {
        self.ensure_user(owner);
        let next_repo = &mut self.next_repo;
        self.repos.entry(repo_key(owner, name)).or_insert_with(|| {
            let id = *next_repo;
            *next_repo += 1;
            let mut refs = BTreeMap::new();
            refs.insert(
                "main".to_string(),
                fake_sha(&format!("{owner}/{name}@main")),
            );
            Repo {
                id,
                owner: owner.to_string(),
                name: name.to_string(),
                created_at: now_iso(),
                fork: false,
                issues: BTreeSet::new(),
                pulls: BTreeMap::new(),
                comments: Vec::new(),
                deployments: Vec::new(),
                refs,
                runs: BTreeMap::new(),
                pull_files: BTreeMap::new(),
                compares: BTreeMap::new(),
            }
        })
    }

    pub fn repo(&self, owner: &str, name: &str) -> Option<&Repo> {
        self.repos.get(&repo_key(owner, name))
    }

    pub fn repo_by_id(&self, id: u64) -> Option<&Repo> {
        self.repos.values().find(|r| r.id == id)
    }

    pub fn put_pull(&mut self, owner: &str, name: &str, spec: PullSpec) {
        self.ensure_user(&spec.author);
        if let Some(fork_owner) = spec.head_owner.clone() {
            self.ensure_repo(&fork_owner, name).fork = true;
        }
        let pull_id = self.next_pull;
        let now = now_iso();
        let repo = self.ensure_repo(owner, name);
        repo.refs
            .insert(spec.base_ref.clone(), spec.base_sha.clone());
        if spec.head_owner.is_none() {
            repo.refs
                .insert(spec.head_ref.clone(), spec.head_sha.clone());
        }
        repo.refs.insert(
            format!("refs/pull/{}/head", spec.number),
            spec.head_sha.clone(),
        );
        repo.issues.remove(&spec.number);
        let closed = spec.state != super::PullState::Open;
        let merged = spec.state == super::PullState::Merged;
        let used_new_id = match repo.pulls.get_mut(&spec.number) {
            Some(p) => {
                p.updated_at.clone_from(&now);
                if closed && p.closed_at.is_none() {
                    p.closed_at = Some(now.clone());
                }
                if !closed {
                    p.closed_at = None;
                }
                if merged && p.merged_at.is_none() {
                    p.merged_at = Some(now.clone());
                }
                p.spec = spec;
                false
            }
            None => {
                repo.pulls.insert(
                    spec.number,
                    Pull {
                        id: pull_id,
                        created_at: now.clone(),
                        updated_at: now.clone(),
                        closed_at: closed.then(|| now.clone()),
                        merged_at: merged.then(|| now.clone()),
                        spec,
                    },
                );
                true
            }
        };
        if used_new_id {
            self.next_pull += 1;
        }
    }

    /// Appends a comment by `login` to issue `number`, creating the
    /// repository and (if it is neither) the issue on the way.
    pub fn add_comment(
        &mut self,
        owner: &str,
        name: &str,
        number: u64,
        login: &str,
        body: &str,
    ) -> u64 {
        self.ensure_user(login);
        let id = self.comment_id();
        let now = now_iso();
        let repo = self.ensure_repo(owner, name);
        if !repo.issue_exists(number) {
            repo.issues.insert(number);
        }
        repo.comments.push(Comment {
            id,
            issue_number: number,
            body: body.to_string(),
            author: login.to_string(),
            created_at: now.clone(),
            updated_at: now,
        });
        id
    }

    /// Pops the next fault for this request, if a rule matches it. The
    /// request matches a rule by its path as sent or by its canonical
    /// `/repos/{owner}/{repo}/…` form, so faults also hit pages fetched
    /// through `Link` URLs.
    pub fn take_fault(&mut self, method: &str, path: &str, canonical: &str) -> Option<Fault> {
        for rule in &mut self.faults {
            let method_ok = rule.method == "*" || rule.method.eq_ignore_ascii_case(method);
            let path_ok =
                path.starts_with(&rule.path_prefix) || canonical.starts_with(&rule.path_prefix);
            if method_ok && path_ok {
                if let Some(f) = rule.faults.pop_front() {
                    return Some(f);
                }
            }
        }
        None
    }

    /// `/repositories/{id}/rest` rewritten as `/repos/{owner}/{repo}/rest`.
    pub fn canonical_path(&self, path: &str) -> String {
        let segs: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
        if let ["repositories", id, rest @ ..] = segs.as_slice() {
            if let Some(repo) = id.parse().ok().and_then(|id| self.repo_by_id(id)) {
                let mut p = format!("/repos/{}/{}", repo.owner, repo.name);
                for s in rest {
                    p.push('/');
                    p.push_str(s);
                }
                return p;
            }
        }
        path.to_string()
    }
}

/// A stable 40-hex-digit stand-in SHA for a name.
pub fn fake_sha(seed: &str) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    let mut out = String::with_capacity(40);
    while out.len() < 40 {
        for b in seed.bytes().chain(out.len().to_le_bytes()) {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
        out.push_str(&format!("{h:016x}"));
    }
    out.truncate(40);
    out
}

/// `payload` as GitHub stores it: an object, or a string when one was sent.
pub fn payload_or_default(v: Option<&Value>) -> Value {
    match v {
        Some(v @ (Value::Object(_) | Value::String(_))) => v.clone(),
        _ => Value::Object(serde_json::Map::new()),
    }
}
