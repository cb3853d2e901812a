//! The endpoints comment commands and status checks use, in GitHub's
//! documented shapes:
//!
//! - `GET /repos/{o}/{r}/collaborators/{user}/permission`
//!   (`repository-collaborator-permission`): 404 for a login that is no
//!   account; `none` for an account without a role
//! - `GET|POST /repos/{o}/{r}/issues/comments/{id}/reactions` (`reaction`;
//!   a repeated reaction answers 200 with the existing one) and
//!   `DELETE …/reactions/{reaction_id}`
//! - `POST /repos/{o}/{r}/statuses/{sha}` (`status`), `GET
//!   /repos/{o}/{r}/commits/{ref}/statuses` (newest first, paged) and `GET
//!   …/commits/{ref}/status` (`combined-commit-status`)
//! - `GET /repos/{o}/{r}/environments`: every environment a deployment
//!   named, which GitHub creates on the first deployment and the Actions
//!   token cannot delete

use serde_json::{json, Value};

use super::super::commands_state::{CommitStatus, Reaction, Role};
use super::super::shapes;
use super::super::state::{RepoKey, State, Token};
use super::super::util::{now_iso, paginate};
use super::{
    body_object, ensure_writable, error, forbidden, is_sha, link_base, not_found, opt_str, req_str,
    validation_failed, with_link, Reply, Req,
};

const DOC_PERMISSION: &str =
    "https://docs.github.com/rest/collaborators/collaborators#get-repository-permissions-for-a-user";
const DOC_CREATE_REACTION: &str =
    "https://docs.github.com/rest/reactions/reactions#create-reaction-for-an-issue-comment";
const DOC_LIST_REACTIONS: &str =
    "https://docs.github.com/rest/reactions/reactions#list-reactions-for-an-issue-comment";
const DOC_DELETE_REACTION: &str =
    "https://docs.github.com/rest/reactions/reactions#delete-an-issue-comment-reaction";
const DOC_CREATE_STATUS: &str =
    "https://docs.github.com/rest/commits/statuses#create-a-commit-status";
const DOC_LIST_STATUSES: &str =
    "https://docs.github.com/rest/commits/statuses#list-commit-statuses-for-a-reference";
const DOC_COMBINED: &str =
    "https://docs.github.com/rest/commits/statuses#get-the-combined-status-for-a-specific-reference";
const DOC_ENVIRONMENTS: &str =
    "https://docs.github.com/rest/deployments/environments#list-environments";

/// Reaction contents GitHub accepts.
pub const REACTIONS: [&str; 8] = [
    "+1", "-1", "laugh", "confused", "heart", "hooray", "rocket", "eyes",
];

const STATE_VALUES: [&str; 4] = ["error", "failure", "pending", "success"];

/// The most statuses one SHA may have per context.
pub const MAX_STATUSES_PER_CONTEXT: usize = 1000;

/// Serves the request if it is one of these endpoints.
pub fn route(
    st: &mut State,
    req: &Req<'_>,
    token: &Token,
    key: &RepoKey,
    rest: &[&str],
) -> Option<Reply> {
    let num = |s: &str| s.parse::<u64>().ok();
    Some(match (req.method, rest) {
        ("GET", ["collaborators", user, "permission"]) => permission(st, key, user),
        ("GET", ["issues", "comments", id, "reactions"]) => match num(id) {
            Some(id) => list_reactions(st, req, key, id, rest),
            None => not_found(DOC_LIST_REACTIONS),
        },
        ("POST", ["issues", "comments", id, "reactions"]) => match num(id) {
            Some(id) => create_reaction(st, req, token, key, id),
            None => not_found(DOC_CREATE_REACTION),
        },
        ("DELETE", ["issues", "comments", id, "reactions", rid]) => match (num(id), num(rid)) {
            (Some(id), Some(rid)) => delete_reaction(st, token, key, id, rid),
            _ => not_found(DOC_DELETE_REACTION),
        },
        ("POST", ["statuses", sha]) => create_status(st, req, token, key, sha),
        ("GET", ["commits", git_ref, "statuses"]) => list_statuses(st, req, key, git_ref, rest),
        ("GET", ["commits", git_ref, "status"]) => combined(st, key, git_ref),
        ("GET", ["environments"]) => environments(st, req, key),
        _ => return None,
    })
}

fn api(st: &State, key: &RepoKey) -> String {
    let (owner, name) = st
        .repos
        .get(key)
        .map(|r| (r.owner.clone(), r.name.clone()))
        .unwrap_or_default();
    format!("{}/repos/{owner}/{name}", st.base)
}

// ---------------------------------------------------------------- permission

fn permission(st: &mut State, key: &RepoKey, user: &str) -> Reply {
    let Some(account) = st.user(user).cloned() else {
        return not_found(DOC_PERMISSION);
    };
    let owner = st
        .repos
        .get(key)
        .map(|r| r.owner.clone())
        .unwrap_or_default();
    let role = match st
        .commands
        .roles
        .get(&(key.clone(), account.login.to_ascii_lowercase()))
    {
        Some(r) => r.clone(),
        None if account.login.eq_ignore_ascii_case(&owner) => Role::builtin("admin"),
        None => Role::builtin("none"),
    };
    let rank = |name: &str| match name {
        "admin" => 5,
        "maintain" => 4,
        "write" => 3,
        "triage" => 2,
        "read" => 1,
        _ => 0,
    };
    // A custom role's rank is its base permission's.
    let level = match rank(&role.role_name) {
        0 => rank(&role.permission),
        n => n,
    };
    let mut user_json = shapes::simple_user(&st.base, &account);
    if let Some(o) = user_json.as_object_mut() {
        o.insert(
            "permissions".into(),
            json!({
                "admin": level >= 5, "maintain": level >= 4, "push": level >= 3,
                "triage": level >= 2, "pull": level >= 1,
            }),
        );
        o.insert("role_name".into(), json!(role.role_name));
    }
    Reply::json(
        200,
        json!({ "permission": role.permission, "role_name": role.role_name, "user": user_json }),
    )
}

// ---------------------------------------------------------------- reactions

fn comment_exists(st: &State, key: &RepoKey, id: u64) -> bool {
    st.repos
        .get(key)
        .is_some_and(|r| r.comments.iter().any(|c| c.id == id))
}

fn reaction_json(st: &State, r: &Reaction) -> Value {
    json!({
        "id": r.id,
        "node_id": format!("REA_lALOFAKE{:X}", r.id),
        "user": shapes::user_by_login(st, &r.user),
        "content": r.content,
        "created_at": r.created_at,
    })
}

fn create_reaction(st: &mut State, req: &Req<'_>, token: &Token, key: &RepoKey, id: u64) -> Reply {
    const DOC: &str = DOC_CREATE_REACTION;
    if !comment_exists(st, key, id) {
        return not_found(DOC);
    }
    if let Err(r) = ensure_writable(token, DOC) {
        return r;
    }
    let content = match body_object(req.body).and_then(|m| req_str(&m, "content", DOC)) {
        Ok(c) => c,
        Err(r) => return r,
    };
    if !REACTIONS.contains(&content.as_str()) {
        return validation_failed("Reaction", "content", "invalid", None, DOC);
    }
    let existing = st.commands.reactions.get(key).and_then(|all| {
        all.iter()
            .find(|r| {
                r.comment_id == id
                    && r.content == content
                    && r.user.eq_ignore_ascii_case(&token.login)
            })
            .cloned()
    });
    if let Some(r) = existing {
        return Reply::json(200, reaction_json(st, &r));
    }
    let r = Reaction {
        id: st.commands.reaction_id(),
        comment_id: id,
        content,
        user: token.login.clone(),
        created_at: now_iso(),
    };
    st.commands
        .reactions
        .entry(key.clone())
        .or_default()
        .push(r.clone());
    Reply::json(201, reaction_json(st, &r))
}

fn list_reactions(st: &mut State, req: &Req<'_>, key: &RepoKey, id: u64, rest: &[&str]) -> Reply {
    if !comment_exists(st, key, id) {
        return not_found(DOC_LIST_REACTIONS);
    }
    let content = req.query.get("content");
    let items: Vec<Reaction> = st
        .commands
        .reactions
        .get(key)
        .into_iter()
        .flatten()
        .filter(|r| r.comment_id == id && content.is_none_or(|c| c == r.content))
        .cloned()
        .collect();
    let page = paginate(&items, &req.query, &link_base(st, key, rest));
    let body: Vec<Value> = page.items.iter().map(|r| reaction_json(st, r)).collect();
    with_link(Reply::json(200, Value::Array(body)), page.link)
}

fn delete_reaction(st: &mut State, token: &Token, key: &RepoKey, id: u64, rid: u64) -> Reply {
    const DOC: &str = DOC_DELETE_REACTION;
    let Some(all) = st.commands.reactions.get_mut(key) else {
        return not_found(DOC);
    };
    let Some(idx) = all.iter().position(|r| r.comment_id == id && r.id == rid) else {
        return not_found(DOC);
    };
    if let Err(r) = ensure_writable(token, DOC) {
        return r;
    }
    if !all[idx].user.eq_ignore_ascii_case(&token.login) {
        return forbidden(token.kind, DOC);
    }
    all.remove(idx);
    Reply::no_content()
}

// ---------------------------------------------------------------- statuses

fn status_json(st: &State, key: &RepoKey, s: &CommitStatus) -> Value {
    json!({
        "url": format!("{}/statuses/{}", api(st, key), s.sha),
        "avatar_url": "https://avatars.githubusercontent.com/u/9919?v=4",
        "id": s.id,
        "node_id": format!("SC_kwDOFAKE{:X}", s.id),
        "state": s.state,
        "description": s.description,
        "target_url": s.target_url,
        "context": s.context,
        "created_at": s.created_at,
        "updated_at": s.created_at,
        "creator": shapes::user_by_login(st, &s.creator),
    })
}

fn create_status(st: &mut State, req: &Req<'_>, token: &Token, key: &RepoKey, sha: &str) -> Reply {
    const DOC: &str = DOC_CREATE_STATUS;
    if let Err(r) = ensure_writable(token, DOC) {
        return r;
    }
    let bearer = super::bearer(req.auth).unwrap_or_default();
    if st.commands.is_denied(bearer, "statuses") {
        return forbidden(token.kind, DOC);
    }
    if !is_sha(sha) {
        return error(422, &format!("No commit found for SHA: {sha}"), DOC);
    }
    let parsed = (|| -> Result<(String, Option<String>, Option<String>, String), Reply> {
        let m = body_object(req.body)?;
        let state = req_str(&m, "state", DOC)?;
        if !STATE_VALUES.contains(&state.as_str()) {
            return Err(validation_failed("Status", "state", "invalid", None, DOC));
        }
        let description = opt_str(&m, "description", DOC)?;
        if description
            .as_ref()
            .is_some_and(|d| d.chars().count() > 140)
        {
            return Err(validation_failed(
                "Status",
                "description",
                "custom",
                Some("description is too long (maximum is 140 characters)"),
                DOC,
            ));
        }
        let context = opt_str(&m, "context", DOC)?.unwrap_or_else(|| "default".into());
        Ok((state, opt_str(&m, "target_url", DOC)?, description, context))
    })();
    let (state, target_url, description, context) = match parsed {
        Ok(p) => p,
        Err(r) => return r,
    };
    let sha = sha.to_ascii_lowercase();
    let same = st
        .commands
        .statuses
        .get(key)
        .into_iter()
        .flatten()
        .filter(|s| s.sha == sha && s.context.eq_ignore_ascii_case(&context))
        .count();
    if same >= MAX_STATUSES_PER_CONTEXT {
        return validation_failed(
            "Status",
            "context",
            "custom",
            Some("This SHA and context has reached the maximum number of statuses."),
            DOC,
        );
    }
    let s = CommitStatus {
        id: st.commands.status_id(),
        sha,
        state,
        context,
        description,
        target_url,
        creator: token.login.clone(),
        created_at: now_iso(),
    };
    st.commands
        .statuses
        .entry(key.clone())
        .or_default()
        .push(s.clone());
    let body = status_json(st, key, &s);
    let location = body["url"].as_str().unwrap_or_default().to_string();
    Reply::json(201, body).header("location", location)
}

/// The SHA a `ref` names: a SHA itself, or a branch the repository knows.
fn resolve(st: &State, key: &RepoKey, git_ref: &str) -> Option<String> {
    if is_sha(git_ref) {
        return Some(git_ref.to_ascii_lowercase());
    }
    let repo = st.repos.get(key)?;
    let short = git_ref
        .strip_prefix("refs/heads/")
        .or_else(|| git_ref.strip_prefix("heads/"))
        .unwrap_or(git_ref);
    repo.refs.get(short).cloned()
}

fn statuses_of(st: &State, key: &RepoKey, sha: &str) -> Vec<CommitStatus> {
    let mut all: Vec<CommitStatus> = st
        .commands
        .statuses
        .get(key)
        .into_iter()
        .flatten()
        .filter(|s| s.sha == sha)
        .cloned()
        .collect();
    all.reverse();
    all
}

fn list_statuses(
    st: &mut State,
    req: &Req<'_>,
    key: &RepoKey,
    git_ref: &str,
    rest: &[&str],
) -> Reply {
    let Some(sha) = resolve(st, key, git_ref) else {
        return not_found(DOC_LIST_STATUSES);
    };
    let items = statuses_of(st, key, &sha);
    let page = paginate(&items, &req.query, &link_base(st, key, rest));
    let body: Vec<Value> = page.items.iter().map(|s| status_json(st, key, s)).collect();
    with_link(Reply::json(200, Value::Array(body)), page.link)
}

fn combined(st: &mut State, key: &RepoKey, git_ref: &str) -> Reply {
    let Some(sha) = resolve(st, key, git_ref) else {
        return not_found(DOC_COMBINED);
    };
    let mut latest: Vec<CommitStatus> = Vec::new();
    for s in statuses_of(st, key, &sha) {
        if !latest
            .iter()
            .any(|l| l.context.eq_ignore_ascii_case(&s.context))
        {
            latest.push(s);
        }
    }
    let state = if latest
        .iter()
        .any(|s| s.state == "failure" || s.state == "error")
    {
        "failure"
    } else if latest.is_empty() || latest.iter().any(|s| s.state == "pending") {
        "pending"
    } else {
        "success"
    };
    let repository = st
        .repos
        .get(key)
        .map(|r| shapes::repository(st, r))
        .unwrap_or(Value::Null);
    let statuses: Vec<Value> = latest.iter().map(|s| status_json(st, key, s)).collect();
    let api = api(st, key);
    Reply::json(
        200,
        json!({
            "state": state,
            "statuses": statuses,
            "sha": sha,
            "total_count": latest.len(),
            "repository": repository,
            "commit_url": format!("{api}/commits/{sha}"),
            "url": format!("{api}/commits/{sha}/status"),
        }),
    )
}

// ---------------------------------------------------------------- environments

fn environments(st: &mut State, req: &Req<'_>, key: &RepoKey) -> Reply {
    let api = api(st, key);
    let web = api
        .replacen(&st.base, "https://github.com", 1)
        .replacen("/repos/", "/", 1);
    let mut envs: Vec<_> = st
        .commands
        .environments
        .get(key)
        .map(|m| m.values().cloned().collect())
        .unwrap_or_default();
    envs.sort_by(|a, b| {
        a.name
            .to_ascii_lowercase()
            .cmp(&b.name.to_ascii_lowercase())
    });
    let total = envs.len();
    let page = paginate(&envs, &req.query, &format!("{api}/environments"));
    let items: Vec<Value> = page
        .items
        .iter()
        .map(|e| {
            json!({
                "id": e.id,
                "node_id": format!("EN_kwDOFAKE{:X}", e.id),
                "name": e.name,
                "url": format!("{api}/environments/{}", e.name),
                "html_url": format!("{web}/deployments/activity_log?environments_filter={}", e.name),
                "created_at": e.created_at,
                "updated_at": e.updated_at,
                "protection_rules": [],
                "deployment_branch_policy": Value::Null,
            })
        })
        .collect();
    with_link(
        Reply::json(200, json!({ "total_count": total, "environments": items })),
        page.link,
    )
}
