//! Routing, authentication, validation and the endpoint handlers.

mod commands;

use serde_json::{json, Map, Value};

use super::shapes;
use super::state::{payload_or_default, RepoKey, State, Token};
use super::util::{now_epoch, now_iso, paginate, Query};
use super::{
    Comment, Deployment, DeploymentStatus, Fault, PullState, TokenKind, MAX_COMMENT_CHARS,
    MAX_STATUS_DESCRIPTION_CHARS,
};

const DOCS: &str = "https://docs.github.com/rest";
const DOC_USER: &str = "https://docs.github.com/rest/users/users#get-the-authenticated-user";
const DOC_LIST_COMMENTS: &str = "https://docs.github.com/rest/issues/comments#list-issue-comments";
const DOC_CREATE_COMMENT: &str =
    "https://docs.github.com/rest/issues/comments#create-an-issue-comment";
const DOC_GET_COMMENT: &str = "https://docs.github.com/rest/issues/comments#get-an-issue-comment";
const DOC_UPDATE_COMMENT: &str =
    "https://docs.github.com/rest/issues/comments#update-an-issue-comment";
const DOC_DELETE_COMMENT: &str =
    "https://docs.github.com/rest/issues/comments#delete-an-issue-comment";
const DOC_LIST_PULLS: &str = "https://docs.github.com/rest/pulls/pulls#list-pull-requests";
const DOC_GET_PULL: &str = "https://docs.github.com/rest/pulls/pulls#get-a-pull-request";
const DOC_LIST_PULL_FILES: &str =
    "https://docs.github.com/rest/pulls/pulls#list-pull-requests-files";
const DOC_COMPARE: &str = "https://docs.github.com/rest/commits/commits#compare-two-commits";
const DOC_CREATE_DEPLOYMENT: &str =
    "https://docs.github.com/rest/deployments/deployments#create-a-deployment";
const DOC_LIST_DEPLOYMENTS: &str =
    "https://docs.github.com/rest/deployments/deployments#list-deployments";
const DOC_GET_DEPLOYMENT: &str =
    "https://docs.github.com/rest/deployments/deployments#get-a-deployment";
const DOC_DELETE_DEPLOYMENT: &str =
    "https://docs.github.com/rest/deployments/deployments#delete-a-deployment";
const DOC_CREATE_STATUS: &str =
    "https://docs.github.com/rest/deployments/statuses#create-a-deployment-status";
const DOC_LIST_STATUSES: &str =
    "https://docs.github.com/rest/deployments/statuses#list-deployment-statuses";
const DOC_GET_STATUS: &str =
    "https://docs.github.com/rest/deployments/statuses#get-a-deployment-status";
const DOC_GET_RUN: &str = "https://docs.github.com/rest/actions/workflow-runs#get-a-workflow-run";
const DOC_SECONDARY: &str = "https://docs.github.com/free-pro-team@latest/rest/overview/rate-limits-for-the-rest-api#about-secondary-rate-limits";
const DOC_PRIMARY: &str = "https://docs.github.com/rest/overview/rate-limits-for-the-rest-api";

const STATUS_STATES: [&str; 7] = [
    "error",
    "failure",
    "inactive",
    "in_progress",
    "queued",
    "pending",
    "success",
];

/// A response before it is written: status, JSON body, extra headers.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub body: Option<Value>,
    pub headers: Vec<(String, String)>,
}

impl Reply {
    fn json(status: u16, body: Value) -> Self {
        Self {
            status,
            body: Some(body),
            headers: Vec::new(),
        }
    }

    fn no_content() -> Self {
        Self {
            status: 204,
            body: None,
            headers: Vec::new(),
        }
    }

    fn header(mut self, name: &str, value: impl Into<String>) -> Self {
        self.headers.push((name.to_string(), value.into()));
        self
    }
}

/// GitHub's `basic-error`: message, documentation_url and (in current
/// responses) the status as a string.
pub fn error(status: u16, message: &str, doc: &str) -> Reply {
    Reply::json(
        status,
        json!({"message": message, "documentation_url": doc, "status": status.to_string()}),
    )
}

fn not_found(doc: &str) -> Reply {
    error(404, "Not Found", doc)
}

/// The 403 a token gets for something its permissions do not cover.
fn forbidden(kind: TokenKind, doc: &str) -> Reply {
    let message = match kind {
        TokenKind::Installation => "Resource not accessible by integration",
        TokenKind::User => "Resource not accessible by personal access token",
    };
    error(403, message, doc)
}

/// GitHub's `validation-error` (422 "Validation Failed").
fn validation_failed(
    resource: &str,
    field: &str,
    code: &str,
    message: Option<&str>,
    doc: &str,
) -> Reply {
    let mut e = json!({"resource": resource, "code": code, "field": field});
    if let (Some(m), Some(o)) = (message, e.as_object_mut()) {
        o.insert("message".into(), json!(m));
    }
    Reply::json(
        422,
        json!({"message": "Validation Failed", "errors": [e], "documentation_url": doc, "status": "422"}),
    )
}

/// The 422 GitHub's request-schema check gives ("Invalid request.").
fn invalid_request(detail: &str, doc: &str) -> Reply {
    error(422, &format!("Invalid request.\n\n{detail}"), doc)
}

/// What one request is, for the handlers.
pub struct Req<'a> {
    pub method: &'a str,
    pub path: &'a str,
    pub query: Query,
    pub body: &'a str,
    pub auth: Option<&'a str>,
}

/// The token in an `Authorization: Bearer …` or `Authorization: token …`
/// header.
pub fn bearer(auth: Option<&str>) -> Option<&str> {
    let (scheme, rest) = auth?.trim().split_once(' ')?;
    (scheme.eq_ignore_ascii_case("bearer") || scheme.eq_ignore_ascii_case("token"))
        .then(|| rest.trim())
}

/// The hourly budget of the token in `auth`: 5,000 for a user, 1,000 for
/// Actions' `GITHUB_TOKEN`, 60 without a valid token.
fn rate_limit(st: &State, auth: Option<&str>) -> (String, u64) {
    match bearer(auth).and_then(|t| st.tokens.get(t).map(|tok| (t, tok))) {
        Some((t, tok)) if tok.kind == TokenKind::Installation => (t.to_string(), 1000),
        Some((t, _)) => (t.to_string(), 5000),
        None => (String::new(), 60),
    }
}

/// The `x-ratelimit-*` headers for this request, counting it against its
/// token (or against the anonymous budget).
pub fn rate_headers(st: &mut State, auth: Option<&str>) -> Vec<(String, String)> {
    let now = now_epoch();
    if now >= st.rate_reset {
        st.rate_used.clear();
        st.rate_reset = now + 3600;
    }
    let (key, limit) = rate_limit(st, auth);
    let used = st.rate_used.entry(key).or_insert(0);
    *used += 1;
    let used = (*used).min(limit);
    vec![
        ("x-ratelimit-limit".into(), limit.to_string()),
        ("x-ratelimit-remaining".into(), (limit - used).to_string()),
        ("x-ratelimit-reset".into(), st.rate_reset.to_string()),
        ("x-ratelimit-used".into(), used.to_string()),
        ("x-ratelimit-resource".into(), "core".into()),
    ]
}

/// The response an injected fault stands for.
pub fn fault_reply(st: &mut State, fault: &Fault, auth: Option<&str>) -> Reply {
    let request_id = st.request_id();
    let secondary = |status: u16, retry_after: u64| {
        error(
            status,
            &format!("You have exceeded a secondary rate limit. Please wait a few minutes before you try again. If you reach out to GitHub Support for help, please include the request ID {request_id}."),
            DOC_SECONDARY,
        )
        .header("retry-after", retry_after.to_string())
    };
    match fault {
        Fault::Status(code) | Fault::StatusAfterApplying(code) => {
            let message = match code {
                500 | 502 => "Server Error",
                503 => "Service Unavailable",
                504 => "We couldn't respond to your request in time. Sorry about that. Please try resubmitting your request and contact us if the problem persists.",
                _ => "Injected failure",
            };
            error(*code, message, DOCS)
        }
        Fault::SecondaryRateLimit { retry_after } => secondary(403, *retry_after),
        Fault::TooMany { retry_after } => secondary(429, *retry_after),
        Fault::RateLimitReset { reset_in } => {
            let who = bearer(auth)
                .and_then(|t| st.tokens.get(t))
                .cloned()
                .map(|tok| {
                    let id = st.ensure_user(&tok.login).id;
                    match tok.kind {
                        TokenKind::User => format!("user ID {id}"),
                        TokenKind::Installation => format!("installation ID {id}"),
                    }
                })
                .unwrap_or_else(|| "127.0.0.1".to_string());
            let (_, limit) = rate_limit(st, auth);
            error(
                403,
                &format!("API rate limit exceeded for {who}."),
                DOC_PRIMARY,
            )
            .header("x-ratelimit-limit", limit.to_string())
            .header("x-ratelimit-remaining", "0")
            .header("x-ratelimit-used", limit.to_string())
            .header("x-ratelimit-reset", (now_epoch() + reset_in).to_string())
            .header("x-ratelimit-resource", "core")
        }
        Fault::Unauthorized => error(401, "Bad credentials", DOCS),
        Fault::Slow(_) => error(500, "a slow fault is served, not replied", DOCS),
    }
}

/// Serves one request against the state.
pub fn dispatch(st: &mut State, req: &Req<'_>) -> Reply {
    let token = match req.auth {
        None => return error(401, "Requires authentication", DOCS),
        Some(_) => match bearer(req.auth).and_then(|t| st.tokens.get(t)) {
            Some(t) => t.clone(),
            None => return error(401, "Bad credentials", DOCS),
        },
    };
    let segs: Vec<&str> = req.path.split('/').filter(|s| !s.is_empty()).collect();
    match (req.method, segs.as_slice()) {
        ("GET", ["user"]) => get_user(st, &token),
        ("POST", ["graphql"]) => graphql(st, req, &token),
        (_, ["repos", owner, name, rest @ ..]) => match st.repo(owner, name) {
            Some(r) => {
                let key = super::state::repo_key(&r.owner, &r.name);
                repo_route(st, req, &token, &key, rest)
            }
            None => not_found(DOCS),
        },
        (_, ["repositories", id, rest @ ..]) => {
            match id.parse().ok().and_then(|id| st.repo_by_id(id)) {
                Some(r) => {
                    let key = super::state::repo_key(&r.owner, &r.name);
                    repo_route(st, req, &token, &key, rest)
                }
                None => not_found(DOCS),
            }
        }
        _ => not_found(DOCS),
    }
}

fn get_user(st: &mut State, token: &Token) -> Reply {
    match token.kind {
        TokenKind::Installation => forbidden(TokenKind::Installation, DOC_USER),
        TokenKind::User => {
            let user = st.ensure_user(&token.login);
            Reply::json(200, shapes::private_user(&st.base, &user))
        }
    }
}

/// `POST /graphql`, the part of GitHub's GraphQL API that answers who a
/// token is: `{ viewer { login databaseId } }`. Any token may ask, an
/// installation token included (its viewer is its bot, `<app>[bot]`).
/// Only the fields asked for are answered; a query without `viewer` gets
/// GraphQL's error shape (HTTP 200 with `errors`), as GitHub answers a
/// field it does not know.
fn graphql(st: &mut State, req: &Req<'_>, token: &Token) -> Reply {
    const DOC: &str = "https://docs.github.com/graphql";
    let m = match body_object(req.body) {
        Ok(m) => m,
        Err(r) => return r,
    };
    let Some(Value::String(query)) = m.get("query") else {
        return Reply::json(
            200,
            json!({"errors": [{"message": "A query attribute must be specified and must be a string."}]}),
        );
    };
    if !query.contains("viewer") {
        return Reply::json(
            200,
            json!({"errors": [{
                "path": ["query"],
                "extensions": {"code": "undefinedField", "typeName": "Query"},
                "message": "this fake answers only { viewer { login databaseId } }",
                "locations": [{"line": 1, "column": 1}]
            }], "documentation_url": DOC}),
        );
    }
    let user = st.ensure_user(&token.login);
    let mut viewer = Map::new();
    if query.contains("login") {
        viewer.insert("login".into(), json!(user.login));
    }
    if query.contains("databaseId") {
        viewer.insert("databaseId".into(), json!(user.id));
    }
    Reply::json(200, json!({"data": {"viewer": viewer}}))
}

fn repo_route(st: &mut State, req: &Req<'_>, token: &Token, key: &RepoKey, rest: &[&str]) -> Reply {
    let num = |s: &str| s.parse::<u64>().ok();
    match (req.method, rest) {
        ("GET", ["issues", n, "comments"]) => match num(n) {
            Some(n) => list_comments(st, req, key, n, rest),
            None => not_found(DOC_LIST_COMMENTS),
        },
        ("POST", ["issues", n, "comments"]) => match num(n) {
            Some(n) => create_comment(st, req, token, key, n),
            None => not_found(DOC_CREATE_COMMENT),
        },
        ("GET", ["issues", "comments", id]) => match num(id) {
            Some(id) => get_comment(st, key, id),
            None => not_found(DOC_GET_COMMENT),
        },
        ("PATCH" | "POST", ["issues", "comments", id]) => match num(id) {
            Some(id) => update_comment(st, req, token, key, id),
            None => not_found(DOC_UPDATE_COMMENT),
        },
        ("DELETE", ["issues", "comments", id]) => match num(id) {
            Some(id) => delete_comment(st, token, key, id),
            None => not_found(DOC_DELETE_COMMENT),
        },
        ("GET", ["pulls"]) => list_pulls(st, req, key, rest),
        ("GET", ["pulls", n]) => match num(n) {
            Some(n) => get_pull(st, key, n),
            None => not_found(DOC_GET_PULL),
        },
        ("GET", ["pulls", n, "files"]) => match num(n) {
            Some(n) => list_pull_files(st, req, key, n, rest),
            None => not_found(DOC_LIST_PULL_FILES),
        },
        ("GET", ["compare", basehead]) => compare(st, key, basehead),
        ("GET", ["deployments"]) => list_deployments(st, req, key, rest),
        ("POST", ["deployments"]) => create_deployment(st, req, token, key),
        ("GET", ["deployments", id]) => match num(id) {
            Some(id) => get_deployment(st, key, id),
            None => not_found(DOC_GET_DEPLOYMENT),
        },
        ("DELETE", ["deployments", id]) => match num(id) {
            Some(id) => delete_deployment(st, token, key, id),
            None => not_found(DOC_DELETE_DEPLOYMENT),
        },
        ("GET", ["deployments", id, "statuses"]) => match num(id) {
            Some(id) => list_statuses(st, req, key, id, rest),
            None => not_found(DOC_LIST_STATUSES),
        },
        ("POST", ["deployments", id, "statuses"]) => match num(id) {
            Some(id) => create_status(st, req, token, key, id),
            None => not_found(DOC_CREATE_STATUS),
        },
        ("GET", ["deployments", id, "statuses", sid]) => match (num(id), num(sid)) {
            (Some(id), Some(sid)) => get_status(st, key, id, sid),
            _ => not_found(DOC_GET_STATUS),
        },
        ("GET", ["actions", "runs", id]) => match num(id) {
            Some(id) => get_run(st, key, id),
            None => not_found(DOC_GET_RUN),
        },
        _ => commands::route(st, req, token, key, rest).unwrap_or_else(|| not_found(DOCS)),
    }
}

// ---------------------------------------------------------------- helpers

/// The request body as a JSON object; an empty body counts as `{}`.
fn body_object(body: &str) -> Result<Map<String, Value>, Reply> {
    if body.trim().is_empty() {
        return Ok(Map::new());
    }
    match serde_json::from_str::<Value>(body) {
        Ok(Value::Object(m)) => Ok(m),
        Ok(other) => Err(invalid_request(
            &format!("For 'links/0/schema', {other} is not an object."),
            DOCS,
        )),
        Err(_) => Err(error(400, "Problems parsing JSON", DOCS)),
    }
}

fn req_str(m: &Map<String, Value>, key: &str, doc: &str) -> Result<String, Reply> {
    match m.get(key) {
        None => Err(invalid_request(&format!("\"{key}\" wasn't supplied."), doc)),
        Some(Value::String(s)) => Ok(s.clone()),
        Some(other) => Err(invalid_request(
            &format!("For 'properties/{key}', {other} is not a string."),
            doc,
        )),
    }
}

fn opt_str(m: &Map<String, Value>, key: &str, doc: &str) -> Result<Option<String>, Reply> {
    match m.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(other) => Err(invalid_request(
            &format!("For 'properties/{key}', {other} is not a string."),
            doc,
        )),
    }
}

fn opt_bool(m: &Map<String, Value>, key: &str, doc: &str) -> Result<Option<bool>, Reply> {
    match m.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Bool(b)) => Ok(Some(*b)),
        Some(other) => Err(invalid_request(
            &format!("For 'properties/{key}', {other} is not a boolean."),
            doc,
        )),
    }
}

fn ensure_writable(token: &Token, doc: &str) -> Result<(), Reply> {
    if token.read_only {
        Err(forbidden(token.kind, doc))
    } else {
        Ok(())
    }
}

fn link_base(st: &State, key: &RepoKey, rest: &[&str]) -> String {
    let id = st.repos.get(key).map_or(0, |r| r.id);
    format!("{}/repositories/{id}/{}", st.base, rest.join("/"))
}

fn with_link(reply: Reply, link: Option<String>) -> Reply {
    match link {
        Some(l) => reply.header("link", l),
        None => reply,
    }
}

/// The body of a comment, checked as GitHub checks it.
fn comment_body(req: &Req<'_>, doc: &str) -> Result<String, Reply> {
    let m = body_object(req.body)?;
    let body = req_str(&m, "body", doc)?;
    if body.is_empty() {
        return Err(validation_failed(
            "IssueComment",
            "body",
            "missing_field",
            None,
            doc,
        ));
    }
    if body.chars().count() > MAX_COMMENT_CHARS {
        return Err(validation_failed(
            "IssueComment",
            "data",
            "unprocessable",
            Some(&format!(
                "Body is too long (maximum is {MAX_COMMENT_CHARS} characters)"
            )),
            doc,
        ));
    }
    Ok(body)
}

// ---------------------------------------------------------------- comments

fn list_comments(st: &mut State, req: &Req<'_>, key: &RepoKey, n: u64, rest: &[&str]) -> Reply {
    let Some(repo) = st.repos.get(key) else {
        return not_found(DOC_LIST_COMMENTS);
    };
    if !repo.issue_exists(n) {
        return not_found(DOC_LIST_COMMENTS);
    }
    let since = req.query.get("since").map(str::to_string);
    let items: Vec<&Comment> = repo
        .comments
        .iter()
        .filter(|c| c.issue_number == n)
        .filter(|c| since.as_deref().is_none_or(|s| c.updated_at.as_str() >= s))
        .collect();
    let page = paginate(&items, &req.query, &link_base(st, key, rest));
    let body: Vec<Value> = page
        .items
        .iter()
        .map(|c| shapes::comment(st, repo, c))
        .collect();
    with_link(Reply::json(200, Value::Array(body)), page.link)
}

fn create_comment(st: &mut State, req: &Req<'_>, token: &Token, key: &RepoKey, n: u64) -> Reply {
    if !st.repos.get(key).is_some_and(|r| r.issue_exists(n)) {
        return not_found(DOC_CREATE_COMMENT);
    }
    if let Err(r) = ensure_writable(token, DOC_CREATE_COMMENT) {
        return r;
    }
    let body = match comment_body(req, DOC_CREATE_COMMENT) {
        Ok(b) => b,
        Err(r) => return r,
    };
    let (owner, name) = match st.repos.get(key) {
        Some(r) => (r.owner.clone(), r.name.clone()),
        None => return not_found(DOC_CREATE_COMMENT),
    };
    let id = st.add_comment(&owner, &name, n, &token.login, &body);
    comment_reply(st, key, id, 201, DOC_CREATE_COMMENT)
}

fn comment_reply(st: &State, key: &RepoKey, id: u64, status: u16, doc: &str) -> Reply {
    let Some(repo) = st.repos.get(key) else {
        return not_found(doc);
    };
    match repo.comments.iter().find(|c| c.id == id) {
        Some(c) => {
            let v = shapes::comment(st, repo, c);
            let reply = Reply::json(status, v.clone());
            if status == 201 {
                let url = v.get("url").and_then(Value::as_str).unwrap_or_default();
                reply.header("location", url)
            } else {
                reply
            }
        }
        None => not_found(doc),
    }
}

fn get_comment(st: &mut State, key: &RepoKey, id: u64) -> Reply {
    comment_reply(st, key, id, 200, DOC_GET_COMMENT)
}

/// Finds comment `id` and checks that `token` may change it: it must exist
/// (404), the token must be able to write (403) and, in this fake, it must
/// be the comment's author (403).
fn editable_comment(
    st: &State,
    token: &Token,
    key: &RepoKey,
    id: u64,
    doc: &str,
) -> Result<usize, Reply> {
    let repo = st.repos.get(key).ok_or_else(|| not_found(doc))?;
    let idx = repo
        .comments
        .iter()
        .position(|c| c.id == id)
        .ok_or_else(|| not_found(doc))?;
    ensure_writable(token, doc)?;
    if !repo.comments[idx].author.eq_ignore_ascii_case(&token.login) {
        return Err(forbidden(token.kind, doc));
    }
    Ok(idx)
}

fn update_comment(st: &mut State, req: &Req<'_>, token: &Token, key: &RepoKey, id: u64) -> Reply {
    let idx = match editable_comment(st, token, key, id, DOC_UPDATE_COMMENT) {
        Ok(i) => i,
        Err(r) => return r,
    };
    let body = match comment_body(req, DOC_UPDATE_COMMENT) {
        Ok(b) => b,
        Err(r) => return r,
    };
    if let Some(c) = st.repos.get_mut(key).and_then(|r| r.comments.get_mut(idx)) {
        c.body = body;
        c.updated_at = now_iso();
    }
    comment_reply(st, key, id, 200, DOC_UPDATE_COMMENT)
}

fn delete_comment(st: &mut State, token: &Token, key: &RepoKey, id: u64) -> Reply {
    let idx = match editable_comment(st, token, key, id, DOC_DELETE_COMMENT) {
        Ok(i) => i,
        Err(r) => return r,
    };
    if let Some(r) = st.repos.get_mut(key) {
        r.comments.remove(idx);
    }
    Reply::no_content()
}

// ---------------------------------------------------------------- pulls

fn list_pulls(st: &mut State, req: &Req<'_>, key: &RepoKey, rest: &[&str]) -> Reply {
    let Some(repo) = st.repos.get(key) else {
        return not_found(DOC_LIST_PULLS);
    };
    let state = req.query.get("state").unwrap_or("open");
    let head = req.query.get("head");
    let base = req.query.get("base");
    let by_updated = req.query.get("sort") == Some("updated");
    let ascending = match req.query.get("direction") {
        Some("asc") => true,
        Some("desc") => false,
        _ => !matches!(
            req.query.get("sort"),
            None | Some("created") | Some("updated")
        ),
    };
    let mut items: Vec<_> = repo
        .pulls
        .values()
        .filter(|p| match state {
            "closed" => p.spec.state != PullState::Open,
            "all" => true,
            _ => p.spec.state == PullState::Open,
        })
        .filter(|p| {
            head.is_none_or(|h| {
                let owner = p.spec.head_owner.as_deref().unwrap_or(&repo.owner);
                match h.split_once(':') {
                    Some((o, r)) => o.eq_ignore_ascii_case(owner) && r == p.spec.head_ref,
                    None => h.eq_ignore_ascii_case(owner),
                }
            })
        })
        .filter(|p| base.is_none_or(|b| b == p.spec.base_ref))
        .collect();
    items.sort_by(|a, b| {
        let ord = if by_updated {
            a.updated_at.cmp(&b.updated_at).then(a.id.cmp(&b.id))
        } else {
            a.id.cmp(&b.id)
        };
        if ascending {
            ord
        } else {
            ord.reverse()
        }
    });
    let page = paginate(&items, &req.query, &link_base(st, key, rest));
    let body: Vec<Value> = page
        .items
        .iter()
        .map(|p| shapes::pull(st, repo, p, false))
        .collect();
    with_link(Reply::json(200, Value::Array(body)), page.link)
}

fn get_pull(st: &mut State, key: &RepoKey, n: u64) -> Reply {
    let Some(repo) = st.repos.get(key) else {
        return not_found(DOC_GET_PULL);
    };
    match repo.pulls.get(&n) {
        Some(p) => Reply::json(200, shapes::pull(st, repo, p, true)),
        None => not_found(DOC_GET_PULL),
    }
}

/// The first 3,000 files only, as GitHub: the pages (and the `Link`
/// header) end there however many the pull request changes.
fn list_pull_files(st: &mut State, req: &Req<'_>, key: &RepoKey, n: u64, rest: &[&str]) -> Reply {
    let Some(repo) = st.repos.get(key) else {
        return not_found(DOC_LIST_PULL_FILES);
    };
    let Some(pull) = repo.pulls.get(&n) else {
        return not_found(DOC_LIST_PULL_FILES);
    };
    let files = repo.pull_files.get(&n).map_or(&[][..], Vec::as_slice);
    let listed = &files[..files.len().min(super::MAX_LISTED_FILES)];
    let page = paginate(listed, &req.query, &link_base(st, key, rest));
    let body: Vec<Value> = page
        .items
        .iter()
        .map(|f| super::pull_files::diff_entry(&st.base, repo, &pull.spec.head_sha, f))
        .collect();
    with_link(Reply::json(200, Value::Array(body)), page.link)
}

/// Two commits compared, as set with `FakeGitHub::set_compare`; an
/// unknown pair is a 404, as GitHub answers for a commit it does not have.
fn compare(st: &mut State, key: &RepoKey, basehead: &str) -> Reply {
    let Some(repo) = st.repos.get(key) else {
        return not_found(DOC_COMPARE);
    };
    match repo.compares.get(basehead) {
        Some(c) => Reply::json(
            200,
            super::pull_files::comparison(&st.base, repo, basehead, c),
        ),
        None => not_found(DOC_COMPARE),
    }
}

// ---------------------------------------------------------------- deployments

fn is_sha(s: &str) -> bool {
    s.len() == 40 && s.bytes().all(|b| b.is_ascii_hexdigit())
}

fn create_deployment(st: &mut State, req: &Req<'_>, token: &Token, key: &RepoKey) -> Reply {
    const DOC: &str = DOC_CREATE_DEPLOYMENT;
    if let Err(r) = ensure_writable(token, DOC) {
        return r;
    }
    let parsed = (|| -> Result<Deployment, Reply> {
        let m = body_object(req.body)?;
        let git_ref = req_str(&m, "ref", DOC)?;
        let task = opt_str(&m, "task", DOC)?.unwrap_or_else(|| "deploy".into());
        let environment = opt_str(&m, "environment", DOC)?.unwrap_or_else(|| "production".into());
        let description = opt_str(&m, "description", DOC)?.unwrap_or_default();
        let transient = opt_bool(&m, "transient_environment", DOC)?.unwrap_or(false);
        let production =
            opt_bool(&m, "production_environment", DOC)?.unwrap_or(environment == "production");
        opt_bool(&m, "auto_merge", DOC)?;
        match m.get("required_contexts") {
            None | Some(Value::Null) => {}
            Some(Value::Array(a)) if a.iter().all(Value::is_string) => {
                // The fake has no commit statuses, so no named context can
                // have succeeded: GitHub answers such a request with 409.
                if !a.is_empty() {
                    return Err(error(
                        409,
                        &format!("Conflict: Commit status checks failed for {git_ref}."),
                        DOC,
                    ));
                }
            }
            Some(other) => {
                return Err(invalid_request(
                    &format!("For 'properties/required_contexts', {other} is not an array."),
                    DOC,
                ))
            }
        }
        let repo = st.repos.get(key).ok_or_else(|| not_found(DOC))?;
        let short = git_ref
            .strip_prefix("refs/heads/")
            .or_else(|| git_ref.strip_prefix("heads/"))
            .unwrap_or(&git_ref);
        let sha = if is_sha(&git_ref) {
            git_ref.to_ascii_lowercase()
        } else if let Some(sha) = repo.refs.get(short).or_else(|| repo.refs.get(&git_ref)) {
            sha.clone()
        } else {
            return Err(error(422, &format!("No ref found for: {git_ref}"), DOC));
        };
        let now = now_iso();
        Ok(Deployment {
            id: 0,
            git_ref,
            sha,
            task,
            payload: payload_or_default(m.get("payload")),
            original_environment: environment.clone(),
            environment,
            description: Some(description),
            transient_environment: transient,
            production_environment: production,
            creator: token.login.clone(),
            created_at: now.clone(),
            updated_at: now,
            statuses: Vec::new(),
        })
    })();
    let mut dep = match parsed {
        Ok(d) => d,
        Err(r) => return r,
    };
    dep.id = st.deployment_id();
    let id = dep.id;
    // GitHub creates the environment a deployment names, for good.
    st.commands
        .touch_environment(key, &dep.environment, &dep.created_at);
    if let Some(r) = st.repos.get_mut(key) {
        r.deployments.push(dep);
    }
    let reply = deployment_reply(st, key, id, 201, DOC);
    let location = reply
        .body
        .as_ref()
        .and_then(|b| b.get("url"))
        .and_then(Value::as_str)
        .map(str::to_string);
    match location {
        Some(l) => reply.header("location", l),
        None => reply,
    }
}

fn deployment_reply(st: &State, key: &RepoKey, id: u64, status: u16, doc: &str) -> Reply {
    let Some(repo) = st.repos.get(key) else {
        return not_found(doc);
    };
    match repo.deployments.iter().find(|d| d.id == id) {
        Some(d) => Reply::json(status, shapes::deployment(st, repo, d)),
        None => not_found(doc),
    }
}

fn list_deployments(st: &mut State, req: &Req<'_>, key: &RepoKey, rest: &[&str]) -> Reply {
    let Some(repo) = st.repos.get(key) else {
        return not_found(DOC_LIST_DEPLOYMENTS);
    };
    let q = &req.query;
    let items: Vec<&Deployment> = repo
        .deployments
        .iter()
        .rev()
        .filter(|d| q.get("sha").is_none_or(|v| v == d.sha))
        .filter(|d| q.get("ref").is_none_or(|v| v == d.git_ref))
        .filter(|d| q.get("task").is_none_or(|v| v == d.task))
        .filter(|d| q.get("environment").is_none_or(|v| v == d.environment))
        .collect();
    let page = paginate(&items, q, &link_base(st, key, rest));
    let body: Vec<Value> = page
        .items
        .iter()
        .map(|d| shapes::deployment(st, repo, d))
        .collect();
    with_link(Reply::json(200, Value::Array(body)), page.link)
}

fn get_deployment(st: &mut State, key: &RepoKey, id: u64) -> Reply {
    deployment_reply(st, key, id, 200, DOC_GET_DEPLOYMENT)
}

fn delete_deployment(st: &mut State, token: &Token, key: &RepoKey, id: u64) -> Reply {
    const DOC: &str = DOC_DELETE_DEPLOYMENT;
    let Some(repo) = st.repos.get_mut(key) else {
        return not_found(DOC);
    };
    let Some(idx) = repo.deployments.iter().position(|d| d.id == id) else {
        return not_found(DOC);
    };
    if let Err(r) = ensure_writable(token, DOC) {
        return r;
    }
    let d = &repo.deployments[idx];
    let inactive = d.statuses.last().is_some_and(|s| s.state == "inactive");
    let others = repo
        .deployments
        .iter()
        .filter(|o| o.id != id && o.environment == d.environment)
        .count();
    if !inactive && others > 0 {
        return error(
            422,
            "We cannot delete an active deployment unless it is the only deployment in a given environment.",
            DOC,
        );
    }
    repo.deployments.remove(idx);
    Reply::no_content()
}

fn create_status(st: &mut State, req: &Req<'_>, token: &Token, key: &RepoKey, id: u64) -> Reply {
    const DOC: &str = DOC_CREATE_STATUS;
    let exists = st
        .repos
        .get(key)
        .is_some_and(|r| r.deployments.iter().any(|d| d.id == id));
    if !exists {
        return not_found(DOC);
    }
    if let Err(r) = ensure_writable(token, DOC) {
        return r;
    }
    struct Input {
        state: String,
        description: String,
        log_url: String,
        environment_url: String,
        environment: Option<String>,
        auto_inactive: bool,
    }
    let parsed = (|| -> Result<Input, Reply> {
        let m = body_object(req.body)?;
        let state = req_str(&m, "state", DOC)?;
        if !STATUS_STATES.contains(&state.as_str()) {
            return Err(validation_failed(
                "DeploymentStatus",
                "state",
                "invalid",
                None,
                DOC,
            ));
        }
        let description = opt_str(&m, "description", DOC)?.unwrap_or_default();
        if description.chars().count() > MAX_STATUS_DESCRIPTION_CHARS {
            return Err(validation_failed(
                "DeploymentStatus",
                "description",
                "custom",
                Some(&format!(
                    "description is too long (maximum is {MAX_STATUS_DESCRIPTION_CHARS} characters)"
                )),
                DOC,
            ));
        }
        let target_url = opt_str(&m, "target_url", DOC)?;
        let log_url = opt_str(&m, "log_url", DOC)?
            .or(target_url)
            .unwrap_or_default();
        Ok(Input {
            state,
            description,
            log_url,
            environment_url: opt_str(&m, "environment_url", DOC)?.unwrap_or_default(),
            environment: opt_str(&m, "environment", DOC)?,
            auto_inactive: opt_bool(&m, "auto_inactive", DOC)?.unwrap_or(true),
        })
    })();
    let input = match parsed {
        Ok(i) => i,
        Err(r) => return r,
    };
    let status_id = st.status_id();
    let now = now_iso();
    let Some(repo) = st.repos.get_mut(key) else {
        return not_found(DOC);
    };
    let Some(dep) = repo.deployments.iter_mut().find(|d| d.id == id) else {
        return not_found(DOC);
    };
    if let Some(env) = input.environment {
        dep.environment = env;
        st.commands.touch_environment(key, &dep.environment, &now);
    }
    dep.updated_at.clone_from(&now);
    let environment = dep.environment.clone();
    dep.statuses.push(DeploymentStatus {
        id: status_id,
        state: input.state.clone(),
        description: input.description,
        environment: environment.clone(),
        environment_url: input.environment_url,
        log_url: input.log_url,
        creator: token.login.clone(),
        created_at: now.clone(),
        updated_at: now.clone(),
        auto_inactivated: false,
    });
    // "When you set the state of a deployment to success, then all prior
    // non-transient, non-production environment deployments in the same
    // repository with the same environment name will become inactive"
    // (REST docs, "Inactive deployments"); "an inactive status is only
    // added to deployments that had a success state" (auto_inactive).
    if input.state == "success" && input.auto_inactive {
        let prior: Vec<u64> = repo
            .deployments
            .iter()
            .filter(|d| d.id < id && d.environment == environment)
            .filter(|d| !d.transient_environment && !d.production_environment)
            .filter(|d| d.statuses.last().is_some_and(|s| s.state == "success"))
            .map(|d| d.id)
            .collect();
        for pid in prior {
            let sid = st.status_id();
            let d = st
                .repos
                .get_mut(key)
                .and_then(|r| r.deployments.iter_mut().find(|d| d.id == pid));
            if let Some(d) = d {
                d.updated_at.clone_from(&now);
                d.statuses.push(DeploymentStatus {
                    id: sid,
                    state: "inactive".into(),
                    description: String::new(),
                    environment: d.environment.clone(),
                    environment_url: String::new(),
                    log_url: String::new(),
                    creator: token.login.clone(),
                    created_at: now.clone(),
                    updated_at: now.clone(),
                    auto_inactivated: true,
                });
            }
        }
    }
    let reply = status_reply(st, key, id, status_id, 201, DOC);
    let location = reply
        .body
        .as_ref()
        .and_then(|b| b.get("url"))
        .and_then(Value::as_str)
        .map(str::to_string);
    match location {
        Some(l) => reply.header("location", l),
        None => reply,
    }
}

fn status_reply(st: &State, key: &RepoKey, id: u64, sid: u64, status: u16, doc: &str) -> Reply {
    let Some(repo) = st.repos.get(key) else {
        return not_found(doc);
    };
    let Some(d) = repo.deployments.iter().find(|d| d.id == id) else {
        return not_found(doc);
    };
    match d.statuses.iter().find(|s| s.id == sid) {
        Some(s) => Reply::json(status, shapes::deployment_status(st, repo, d, s)),
        None => not_found(doc),
    }
}

fn list_statuses(st: &mut State, req: &Req<'_>, key: &RepoKey, id: u64, rest: &[&str]) -> Reply {
    let Some(repo) = st.repos.get(key) else {
        return not_found(DOC_LIST_STATUSES);
    };
    let Some(d) = repo.deployments.iter().find(|d| d.id == id) else {
        return not_found(DOC_LIST_STATUSES);
    };
    let items: Vec<&DeploymentStatus> = d.statuses.iter().rev().collect();
    let page = paginate(&items, &req.query, &link_base(st, key, rest));
    let body: Vec<Value> = page
        .items
        .iter()
        .map(|s| shapes::deployment_status(st, repo, d, s))
        .collect();
    with_link(Reply::json(200, Value::Array(body)), page.link)
}

fn get_status(st: &mut State, key: &RepoKey, id: u64, sid: u64) -> Reply {
    status_reply(st, key, id, sid, 200, DOC_GET_STATUS)
}

// ---------------------------------------------------------------- workflow runs

fn get_run(st: &mut State, key: &RepoKey, id: u64) -> Reply {
    let Some(repo) = st.repos.get(key) else {
        return not_found(DOC_GET_RUN);
    };
    match repo.runs.get(&id) {
        Some(run) => Reply::json(200, shapes::workflow_run(st, repo, run)),
        None => not_found(DOC_GET_RUN),
    }
}
