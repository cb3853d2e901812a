//! A fake of the part of GitHub's REST API that `alchemy-ci` uses: a real
//! HTTP/1.1 server on 127.0.0.1 that keeps state in memory and answers in
//! GitHub's documented shapes, for tests to point a client at instead of
//! `https://api.github.com`.
//!
//! ```ignore
//! let gh = FakeGitHub::start();
//! gh.add_token("ghs_actions", ACTIONS_BOT, TokenKind::Installation);
//! gh.set_pull("acme", "app", 7, PullState::Open, &FakeGitHub::sha("head"));
//! // point the client at gh.url() with token "ghs_actions", run it, then:
//! assert_eq!(gh.comments("acme", "app", 7).len(), 1);
//! ```
//!
//! What it serves (paths as on GitHub, also under `/repositories/{id}/…`,
//! the form GitHub's `Link` headers use):
//!
//! - `GET /user`
//! - `POST /graphql`, for `{ viewer { login databaseId } }` only
//! - `GET|POST /repos/{owner}/{repo}/issues/{n}/comments` (paged, oldest first)
//! - `GET|PATCH|POST|DELETE /repos/{owner}/{repo}/issues/comments/{id}`
//! - `GET /repos/{owner}/{repo}/pulls` (paged, `state`, `head`, `base`,
//!   `sort`, `direction`) and `GET /repos/{owner}/{repo}/pulls/{n}`
//! - `GET /repos/{owner}/{repo}/pulls/{n}/files` (paged, at most 3,000
//!   files, as GitHub), set with [`FakeGitHub::set_pull_files`]
//! - `GET /repos/{owner}/{repo}/compare/{base}...{head}` (at most 300
//!   files, as GitHub), set with [`FakeGitHub::set_compare`]
//! - `GET|POST /repos/{owner}/{repo}/deployments` (paged, newest first,
//!   `sha`, `ref`, `task`, `environment`), `GET|DELETE …/deployments/{id}`
//! - `GET|POST …/deployments/{id}/statuses` (paged, newest first) and
//!   `GET …/deployments/{id}/statuses/{status_id}`
//! - `GET /repos/{owner}/{repo}/collaborators/{user}/permission`
//! - `GET|POST …/issues/comments/{id}/reactions`, `DELETE …/reactions/{id}`
//! - `POST /repos/{owner}/{repo}/statuses/{sha}`,
//!   `GET …/commits/{ref}/statuses` and `GET …/commits/{ref}/status`
//! - `GET /repos/{owner}/{repo}/environments` (created by deployments)
//! - `GET /repos/{owner}/{repo}/actions/runs/{run_id}` (runs made with
//!   [`FakeGitHub::set_workflow_run`])
//!
//! Anything else is 404. Every response carries
//! `content-type: application/json; charset=utf-8` and the `x-ratelimit-*`
//! headers.
//!
//! Where the fake is knowingly stricter or simpler than GitHub:
//! - Only a comment's author may edit or delete it (GitHub also lets
//!   collaborators with write access do so): a client that touches a comment
//!   it did not write gets a 403 here instead of silently clobbering it.
//! - Deployments never auto-merge (GitHub's 202 answer does not occur);
//!   any 40-hex `ref` counts as an existing commit; a non-empty
//!   `required_contexts` always fails with 409, as no commit status exists.

#![allow(dead_code)] // shared by test modules that each use a part of it

mod commands_state;
mod pull_files;
pub mod raw_client;
mod routes;
mod shapes;
mod state;
mod util;

// The types the helpers return, for tests that name them; the benches
// that include the fake name none.
#[allow(unused_imports)]
pub use self::commands_state::{CommitStatus, Environment, Reaction};

use std::net::TcpListener;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;
use std::time::Duration;

use serde_json::Value;

pub use self::pull_files::{PullFile, MAX_COMPARED_FILES, MAX_LISTED_FILES};
use self::routes::Reply;
use self::state::{FaultRule, State, Token};
use self::util::{now_epoch, Query};

/// Longest issue comment body GitHub accepts, in characters.
pub const MAX_COMMENT_CHARS: usize = 65_536;
/// Longest deployment status description GitHub accepts, in characters.
pub const MAX_STATUS_DESCRIPTION_CHARS: usize = 140;

/// Login of the bot that GitHub Actions' `GITHUB_TOKEN` acts as.
pub const ACTIONS_BOT: &str = "github-actions[bot]";

/// What a token authenticates as.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TokenKind {
    /// A personal access token: `GET /user` and GraphQL's `viewer`
    /// answer with the user.
    User,
    /// A GitHub App installation token, such as Actions' `GITHUB_TOKEN`
    /// (added as [`ACTIONS_BOT`]) or another App's (added as
    /// `my-app[bot]`): what it writes is authored by the bot login it was
    /// added with (`type: "Bot"`), `GET /user` answers 403 "Resource not
    /// accessible by integration", and GraphQL's `viewer` is that bot.
    Installation,
}

/// `state` of a pull request; `Merged` is GitHub's `closed` with
/// `merged: true`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PullState {
    Open,
    Closed,
    Merged,
}

/// A pull request for [`FakeGitHub::put_pull`]; [`PullSpec::new`] gives an
/// open PR `#number` from branch `pr-{number}` by `octocat` into `main`.
#[derive(Clone, Debug)]
pub struct PullSpec {
    pub number: u64,
    pub state: PullState,
    pub head_ref: String,
    pub head_sha: String,
    pub base_ref: String,
    pub base_sha: String,
    pub author: String,
    pub title: String,
    pub body: Option<String>,
    pub draft: bool,
    /// The fork's owner when the head branch lives in a fork
    /// (`{head_owner}/{repo}`), `None` for a branch of the repository itself.
    pub head_owner: Option<String>,
    /// The names of the labels on it.
    pub labels: Vec<String>,
}

impl PullSpec {
    pub fn new(number: u64, head_sha: &str) -> Self {
        Self {
            number,
            state: PullState::Open,
            head_ref: format!("pr-{number}"),
            head_sha: head_sha.to_string(),
            base_ref: "main".into(),
            base_sha: FakeGitHub::sha("main"),
            author: "octocat".into(),
            title: format!("Change #{number}"),
            body: None,
            draft: false,
            head_owner: None,
            labels: Vec::new(),
        }
    }

    pub fn state(mut self, state: PullState) -> Self {
        self.state = state;
        self
    }

    pub fn head_ref(mut self, head_ref: &str) -> Self {
        self.head_ref = head_ref.into();
        self
    }

    pub fn author(mut self, login: &str) -> Self {
        self.author = login.into();
        self
    }

    pub fn draft(mut self, draft: bool) -> Self {
        self.draft = draft;
        self
    }

    /// The pull request carries these labels.
    pub fn labels(mut self, labels: &[&str]) -> Self {
        self.labels = labels.iter().map(|l| (*l).to_owned()).collect();
        self
    }

    /// The head branch lives in `fork_owner`'s fork of the repository.
    pub fn head_in_fork(mut self, fork_owner: &str) -> Self {
        self.head_owner = Some(fork_owner.into());
        self
    }
}

/// An issue comment as stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Comment {
    pub id: u64,
    pub issue_number: u64,
    pub body: String,
    /// Login of the author, e.g. [`ACTIONS_BOT`].
    pub author: String,
    pub created_at: String,
    pub updated_at: String,
}

/// A deployment as stored, with its statuses oldest first.
#[derive(Clone, Debug, PartialEq)]
pub struct Deployment {
    pub id: u64,
    pub git_ref: String,
    pub sha: String,
    pub task: String,
    pub payload: Value,
    pub environment: String,
    pub original_environment: String,
    pub description: Option<String>,
    pub transient_environment: bool,
    pub production_environment: bool,
    pub creator: String,
    pub created_at: String,
    pub updated_at: String,
    pub statuses: Vec<DeploymentStatus>,
}

impl Deployment {
    /// The state of the newest status, if any.
    pub fn latest_state(&self) -> Option<&str> {
        self.statuses.last().map(|s| s.state.as_str())
    }
}

/// A deployment status as stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeploymentStatus {
    pub id: u64,
    pub state: String,
    pub description: String,
    pub environment: String,
    pub environment_url: String,
    /// `log_url`, or `target_url` when only that was sent (GitHub serves
    /// the one value under both names).
    pub log_url: String,
    pub creator: String,
    pub created_at: String,
    pub updated_at: String,
    /// Added by GitHub's `auto_inactive` rule rather than by a request.
    pub auto_inactivated: bool,
}

/// One request as the fake received it.
#[derive(Clone, Debug)]
pub struct LoggedRequest {
    pub method: String,
    /// The path as sent.
    pub path: String,
    /// The same path in `/repos/{owner}/{repo}/…` form when it was sent as
    /// `/repositories/{id}/…` (what `Link` URLs look like).
    pub canonical_path: String,
    /// The raw query string, without `?`.
    pub query: String,
    pub body: String,
    /// The status the fake answered with.
    pub status: u16,
}

/// A failure to serve instead of one real response. Faults registered for
/// a route are used up one per matching request, in order; a request that
/// gets a fault changes nothing (except [`Fault::Slow`], which only delays
/// the real response: a client that gives up on it may still have written).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Fault {
    /// This HTTP status with a GitHub-style error body (e.g. 502).
    Status(u16),
    /// 403 "You have exceeded a secondary rate limit…" with `retry-after`.
    SecondaryRateLimit { retry_after: u64 },
    /// 403 "API rate limit exceeded…" with `x-ratelimit-remaining: 0` and
    /// `x-ratelimit-reset` `reset_in` seconds from now.
    RateLimitReset { reset_in: u64 },
    /// 429 with the secondary-rate-limit body and `retry-after`.
    TooMany { retry_after: u64 },
    /// Waits this long, then serves the request normally.
    Slow(Duration),
    /// 401 "Bad credentials", as for a revoked or expired token.
    Unauthorized,
    /// Does the request (a POST creates what it creates), then answers with
    /// this HTTP status instead: the answer lost after the work was done,
    /// as a gateway timeout does.
    StatusAfterApplying(u16),
}

/// A workflow run for [`FakeGitHub::set_workflow_run`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WorkflowRun {
    pub id: u64,
    /// `queued`, `in_progress`, `completed`, …
    pub status: String,
    /// `success`, `failure`, `cancelled`, … once `completed`.
    pub conclusion: Option<String>,
    pub run_attempt: u32,
}

struct Shared {
    state: Mutex<State>,
    stop: AtomicBool,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The running fake. Stops serving when dropped.
pub struct FakeGitHub {
    shared: Arc<Shared>,
    server: Arc<tiny_http::Server>,
    thread: Option<JoinHandle<()>>,
    url: String,
}

impl FakeGitHub {
    /// Binds 127.0.0.1 on a free port and serves on background threads.
    pub fn start() -> Self {
        let listener =
            TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1 for the fake GitHub");
        let addr = listener
            .local_addr()
            .expect("local address of the fake GitHub");
        let url = format!("http://{addr}");
        let server = Arc::new(
            tiny_http::Server::from_listener(listener, None).expect("start the fake GitHub server"),
        );
        let shared = Arc::new(Shared {
            state: Mutex::new(State::new(url.clone(), now_epoch() + 3600)),
            stop: AtomicBool::new(false),
        });
        let thread = {
            let server = Arc::clone(&server);
            let shared = Arc::clone(&shared);
            std::thread::Builder::new()
                .name("fake-github".into())
                .spawn(move || serve(&server, &shared))
                .expect("spawn the fake GitHub thread")
        };
        Self {
            shared,
            server,
            thread: Some(thread),
            url,
        }
    }

    /// The base URL, used like `https://api.github.com` (no trailing slash).
    pub fn url(&self) -> &str {
        &self.url
    }

    /// A stable, made-up 40-hex-digit commit SHA for `seed`.
    pub fn sha(seed: &str) -> String {
        state::fake_sha(seed)
    }

    /// Accepts `token` (as `Bearer` or `token`) as `login` of `kind`. For
    /// Actions' `GITHUB_TOKEN` pass [`ACTIONS_BOT`] and
    /// [`TokenKind::Installation`].
    pub fn add_token(&self, token: &str, login: &str, kind: TokenKind) {
        let mut st = self.shared.lock();
        st.ensure_user(login);
        st.tokens.insert(
            token.to_string(),
            Token {
                login: login.to_string(),
                kind,
                read_only: false,
            },
        );
    }

    /// Makes `token` read-only, like the `GITHUB_TOKEN` of a pull request
    /// from a fork: every write answers 403.
    pub fn set_read_only(&self, token: &str, read_only: bool) {
        if let Some(t) = self.shared.lock().tokens.get_mut(token) {
            t.read_only = read_only;
        }
    }

    /// Creates `owner/repo` (every helper below does so on first mention)
    /// and returns its numeric id.
    pub fn add_repo(&self, owner: &str, repo: &str) -> u64 {
        self.shared.lock().ensure_repo(owner, repo).id
    }

    /// Creates plain issue `number` (not a pull request).
    pub fn add_issue(&self, owner: &str, repo: &str, number: u64) {
        let mut st = self.shared.lock();
        let r = st.ensure_repo(owner, repo);
        if !r.pulls.contains_key(&number) {
            r.issues.insert(number);
        }
    }

    /// Creates or updates pull request `number`; see [`PullSpec`] for the
    /// defaults and [`FakeGitHub::put_pull`] for the rest.
    pub fn set_pull(&self, owner: &str, repo: &str, number: u64, state: PullState, head_sha: &str) {
        let spec = {
            let st = self.shared.lock();
            st.repo(owner, repo)
                .and_then(|r| r.pulls.get(&number))
                .map(|p| p.spec.clone())
        };
        let spec = match spec {
            Some(mut s) => {
                s.state = state;
                s.head_sha = head_sha.to_string();
                s
            }
            None => PullSpec::new(number, head_sha).state(state),
        };
        self.put_pull(owner, repo, spec);
    }

    /// Creates or replaces a pull request. Its head and base branches become
    /// refs a deployment can name, as does `refs/pull/{n}/head`.
    pub fn put_pull(&self, owner: &str, repo: &str, spec: PullSpec) {
        self.shared.lock().put_pull(owner, repo, spec);
    }

    /// Makes branch `name` point at `sha`, for deployments by branch name.
    pub fn set_ref(&self, owner: &str, repo: &str, name: &str, sha: &str) {
        self.shared
            .lock()
            .ensure_repo(owner, repo)
            .refs
            .insert(name.to_string(), sha.to_string());
    }

    /// Adds a comment by `login` (a user, or a bot such as
    /// `someone-else[bot]`) to issue or pull request `number`, creating the
    /// issue if needed. Returns the comment id.
    pub fn add_comment_as(
        &self,
        owner: &str,
        repo: &str,
        number: u64,
        login: &str,
        body: &str,
    ) -> u64 {
        self.shared
            .lock()
            .add_comment(owner, repo, number, login, body)
    }

    /// Adds `count` comments `seed comment {i}` by `login`, fast.
    pub fn seed_comments(
        &self,
        owner: &str,
        repo: &str,
        number: u64,
        login: &str,
        count: usize,
    ) -> Vec<u64> {
        let mut st = self.shared.lock();
        (1..=count)
            .map(|i| st.add_comment(owner, repo, number, login, &format!("seed comment {i}")))
            .collect()
    }

    /// The comments of issue `number`, oldest first.
    pub fn comments(&self, owner: &str, repo: &str, number: u64) -> Vec<Comment> {
        let st = self.shared.lock();
        st.repo(owner, repo)
            .map(|r| {
                r.comments
                    .iter()
                    .filter(|c| c.issue_number == number)
                    .cloned()
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Creates or replaces workflow run `run.id` of `owner/repo`.
    pub fn set_workflow_run(&self, owner: &str, repo: &str, run: WorkflowRun) {
        self.shared
            .lock()
            .ensure_repo(owner, repo)
            .runs
            .insert(run.id, run);
    }

    /// The deployments of `owner/repo`, oldest first, with their statuses.
    pub fn deployments(&self, owner: &str, repo: &str) -> Vec<Deployment> {
        let st = self.shared.lock();
        st.repo(owner, repo)
            .map(|r| r.deployments.clone())
            .unwrap_or_default()
    }

    /// Queues `faults` for requests whose method is `method` (`"*"` for
    /// any) and whose path starts with `path_prefix` (matched against the
    /// path as sent and against its `/repos/{owner}/{repo}/…` form).
    pub fn inject(&self, method: &str, path_prefix: &str, faults: Vec<Fault>) {
        self.shared.lock().faults.push(FaultRule {
            method: method.to_string(),
            path_prefix: path_prefix.to_string(),
            faults: faults.into(),
        });
    }

    /// Every request received so far, in order.
    pub fn requests(&self) -> Vec<LoggedRequest> {
        self.shared.lock().log.clone()
    }

    /// How many requests had `method` and a canonical path starting with
    /// `path_prefix`.
    pub fn count_requests(&self, method: &str, path_prefix: &str) -> usize {
        self.shared
            .lock()
            .log
            .iter()
            .filter(|r| {
                r.method.eq_ignore_ascii_case(method) && r.canonical_path.starts_with(path_prefix)
            })
            .count()
    }

    /// Forgets the requests logged so far.
    pub fn clear_requests(&self) {
        self.shared.lock().log.clear();
    }
}

impl Drop for FakeGitHub {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        self.server.unblock();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn serve(server: &tiny_http::Server, shared: &Arc<Shared>) {
    while !shared.stop.load(Ordering::SeqCst) {
        match server.recv() {
            Ok(rq) => {
                let shared = Arc::clone(shared);
                // A thread per request, so that a `Fault::Slow` holds up
                // only its own response.
                let spawned = std::thread::Builder::new()
                    .name("fake-github-request".into())
                    .spawn(move || handle(&shared, rq));
                if spawned.is_err() {
                    break;
                }
            }
            Err(_) if shared.stop.load(Ordering::SeqCst) => break,
            Err(_) => {}
        }
    }
}

fn handle(shared: &Shared, mut rq: tiny_http::Request) {
    let method = rq.method().as_str().to_ascii_uppercase();
    let url = rq.url().to_string();
    let (path, raw_query) = url.split_once('?').unwrap_or((url.as_str(), ""));
    let auth = rq
        .headers()
        .iter()
        .find(|h| h.field.equiv("Authorization"))
        .map(|h| h.value.as_str().to_string());
    let mut bytes = Vec::new();
    let _ = rq.as_reader().read_to_end(&mut bytes);
    let body = String::from_utf8_lossy(&bytes).into_owned();

    let (idx, fault) = {
        let mut st = shared.lock();
        let canonical_path = st.canonical_path(path);
        let fault = st.take_fault(&method, path, &canonical_path);
        st.log.push(LoggedRequest {
            method: method.clone(),
            path: path.to_string(),
            canonical_path,
            query: raw_query.to_string(),
            body: body.clone(),
            status: 0,
        });
        (st.log.len() - 1, fault)
    };
    let fault = match fault {
        Some(Fault::Slow(d)) => {
            std::thread::sleep(d);
            None
        }
        f => f,
    };

    let reply = {
        let mut st = shared.lock();
        let req = routes::Req {
            method: &method,
            path,
            query: Query::parse(raw_query),
            body: &body,
            auth: auth.as_deref(),
        };
        let mut reply = match &fault {
            Some(Fault::StatusAfterApplying(code)) => {
                routes::dispatch(&mut st, &req);
                routes::fault_reply(&mut st, &Fault::Status(*code), auth.as_deref())
            }
            Some(f) => routes::fault_reply(&mut st, f, auth.as_deref()),
            None => routes::dispatch(&mut st, &req),
        };
        let rate = routes::rate_headers(&mut st, auth.as_deref());
        for (k, v) in rate {
            if !reply.headers.iter().any(|(h, _)| *h == k) {
                reply.headers.push((k, v));
            }
        }
        let request_id = st.request_id();
        reply
            .headers
            .push(("x-github-request-id".into(), request_id));
        if let Some(entry) = st.log.get_mut(idx) {
            entry.status = reply.status;
        }
        reply
    };
    respond(rq, reply);
}

fn respond(rq: tiny_http::Request, reply: Reply) {
    let body = match &reply.body {
        Some(v) if reply.status != 204 => serde_json::to_vec(v).unwrap_or_default(),
        _ => Vec::new(),
    };
    let mut response = tiny_http::Response::from_data(body)
        .with_status_code(reply.status)
        // GitHub streams big bodies chunked; a plain Content-Length keeps
        // the self-test's HTTP client small and is equally valid HTTP/1.1.
        .with_chunked_threshold(usize::MAX);
    let fixed = [
        ("Content-Type", "application/json; charset=utf-8"),
        ("Server", "GitHub.com"),
        ("X-GitHub-Media-Type", "github.v3; format=json"),
        ("X-GitHub-Api-Version-Selected", "2022-11-28"),
    ];
    let headers = fixed
        .iter()
        .map(|(k, v)| ((*k).to_string(), (*v).to_string()))
        .chain(reply.headers);
    for (k, v) in headers {
        if let Ok(h) = tiny_http::Header::from_bytes(k.as_bytes(), v.as_bytes()) {
            response.add_header(h);
        }
    }
    let _ = rq.respond(response);
}
