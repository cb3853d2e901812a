//! JSON bodies in the shapes of GitHub's OpenAPI description
//! (github/rest-api-description, `components/schemas`). Every property the
//! schema lists as `required` is present; so are the optional ones real
//! responses carry and clients commonly read.

use serde_json::{json, Value};

use super::state::{
    Pull, Repo, State, User, ACTIONS_BOT_AVATAR, ACTIONS_BOT_ID, ACTIONS_BOT_NODE_ID,
};
use super::{Comment, Deployment, DeploymentStatus, PullState, WorkflowRun};

const WEB: &str = "https://github.com";

fn node_id(prefix: &str, id: u64) -> String {
    format!("{prefix}_kwDOFAKE{id:X}")
}

/// A JSON object from key/value pairs (for objects too big for `json!`).
fn obj(pairs: Vec<(&str, Value)>) -> Value {
    Value::Object(pairs.into_iter().map(|(k, v)| (k.to_string(), v)).collect())
}

fn url_login(login: &str) -> String {
    login.replace('[', "%5B").replace(']', "%5D")
}

/// `simple-user`: required avatar_url, events_url, followers_url,
/// following_url, gists_url, gravatar_id, html_url, id, node_id, login,
/// organizations_url, received_events_url, repos_url, site_admin,
/// starred_url, subscriptions_url, type, url.
pub fn simple_user(base: &str, user: &User) -> Value {
    let api = format!("{base}/users/{}", url_login(&user.login));
    let (node, avatar, html) = if user.id == ACTIONS_BOT_ID {
        (
            ACTIONS_BOT_NODE_ID.to_string(),
            ACTIONS_BOT_AVATAR.to_string(),
            format!("{WEB}/apps/github-actions"),
        )
    } else if user.bot {
        let slug = user.login.trim_end_matches("[bot]");
        (
            format!("BOT_kgDOFAKE{:X}", user.id),
            format!("https://avatars.githubusercontent.com/in/{}?v=4", user.id),
            format!("{WEB}/apps/{slug}"),
        )
    } else {
        (
            format!("U_kgDOFAKE{:X}", user.id),
            format!("https://avatars.githubusercontent.com/u/{}?v=4", user.id),
            format!("{WEB}/{}", user.login),
        )
    };
    json!({
        "login": user.login,
        "id": user.id,
        "node_id": node,
        "avatar_url": avatar,
        "gravatar_id": "",
        "url": api,
        "html_url": html,
        "followers_url": format!("{api}/followers"),
        "following_url": format!("{api}/following{{/other_user}}"),
        "gists_url": format!("{api}/gists{{/gist_id}}"),
        "starred_url": format!("{api}/starred{{/owner}}{{/repo}}"),
        "subscriptions_url": format!("{api}/subscriptions"),
        "organizations_url": format!("{api}/orgs"),
        "repos_url": format!("{api}/repos"),
        "events_url": format!("{api}/events{{/privacy}}"),
        "received_events_url": format!("{api}/received_events"),
        "type": if user.bot { "Bot" } else { "User" },
        "user_view_type": "public",
        "site_admin": false,
    })
}

/// The user called `login` as a `simple-user`; every login the fake stores
/// was registered, the fallback only keeps a broken invariant visible.
pub fn user_by_login(st: &State, login: &str) -> Value {
    match st.user(login) {
        Some(u) => simple_user(&st.base, u),
        None => simple_user(
            &st.base,
            &User {
                login: login.to_string(),
                id: 0,
                bot: login.ends_with("[bot]"),
                created_at: String::new(),
            },
        ),
    }
}

/// `private-user`, what `GET /user` returns for a personal access token.
pub fn private_user(base: &str, user: &User) -> Value {
    let mut v = simple_user(base, user);
    if let Some(o) = v.as_object_mut() {
        for (k, val) in [
            ("name", Value::Null),
            ("company", Value::Null),
            ("blog", json!("")),
            ("location", Value::Null),
            ("email", Value::Null),
            ("hireable", Value::Null),
            ("bio", Value::Null),
            ("twitter_username", Value::Null),
            ("notification_email", Value::Null),
            ("public_repos", json!(1)),
            ("public_gists", json!(0)),
            ("followers", json!(0)),
            ("following", json!(0)),
            ("created_at", json!(user.created_at)),
            ("updated_at", json!(user.created_at)),
            ("private_gists", json!(0)),
            ("total_private_repos", json!(0)),
            ("owned_private_repos", json!(0)),
            ("disk_usage", json!(0)),
            ("collaborators", json!(0)),
            ("two_factor_authentication", json!(true)),
            (
                "plan",
                json!({"name": "free", "space": 976_562_499, "collaborators": 0, "private_repos": 10_000}),
            ),
        ] {
            o.insert(k.to_string(), val);
        }
    }
    v
}

/// `repository`, as found in a pull request's `head.repo` and `base.repo`.
pub fn repository(st: &State, repo: &Repo) -> Value {
    let api = format!("{}/repos/{}/{}", st.base, repo.owner, repo.name);
    let html = format!("{WEB}/{}/{}", repo.owner, repo.name);
    let open = repo.issues.len()
        + repo
            .pulls
            .values()
            .filter(|p| p.spec.state == PullState::Open)
            .count();
    let mut v = obj(vec![
        ("id", json!(repo.id)),
        ("node_id", json!(node_id("R", repo.id))),
        ("name", json!(repo.name)),
        ("full_name", json!(repo.full_name())),
        ("owner", json!(user_by_login(st, &repo.owner))),
        ("private", json!(false)),
        ("html_url", json!(html)),
        ("description", json!(Value::Null)),
        ("fork", json!(repo.fork)),
        ("url", json!(api)),
        (
            "git_url",
            json!(format!("git://github.com/{}.git", repo.full_name())),
        ),
        (
            "ssh_url",
            json!(format!("git@github.com:{}.git", repo.full_name())),
        ),
        ("clone_url", json!(format!("{html}.git"))),
        ("svn_url", json!(html)),
        ("mirror_url", json!(Value::Null)),
        ("homepage", json!(Value::Null)),
        ("language", json!("TypeScript")),
        ("forks_count", json!(0)),
        ("forks", json!(0)),
        ("stargazers_count", json!(0)),
        ("watchers_count", json!(0)),
        ("watchers", json!(0)),
        ("size", json!(1)),
        ("default_branch", json!("main")),
        ("open_issues_count", json!(open)),
        ("open_issues", json!(open)),
        ("is_template", json!(false)),
        ("topics", json!([])),
        ("has_issues", json!(true)),
        ("has_projects", json!(true)),
        ("has_wiki", json!(true)),
        ("has_pages", json!(false)),
        ("has_downloads", json!(true)),
        ("has_discussions", json!(false)),
        ("archived", json!(false)),
        ("disabled", json!(false)),
        ("visibility", json!("public")),
        ("license", json!(Value::Null)),
        ("allow_forking", json!(true)),
        ("web_commit_signoff_required", json!(false)),
        ("pushed_at", json!(repo.created_at)),
        ("created_at", json!(repo.created_at)),
        ("updated_at", json!(repo.created_at)),
    ]);
    let templates = [
        ("archive_url", "/{archive_format}{/ref}"),
        ("assignees_url", "/assignees{/user}"),
        ("blobs_url", "/git/blobs{/sha}"),
        ("branches_url", "/branches{/branch}"),
        ("collaborators_url", "/collaborators{/collaborator}"),
        ("comments_url", "/comments{/number}"),
        ("commits_url", "/commits{/sha}"),
        ("compare_url", "/compare/{base}...{head}"),
        ("contents_url", "/contents/{+path}"),
        ("contributors_url", "/contributors"),
        ("deployments_url", "/deployments"),
        ("downloads_url", "/downloads"),
        ("events_url", "/events"),
        ("forks_url", "/forks"),
        ("git_commits_url", "/git/commits{/sha}"),
        ("git_refs_url", "/git/refs{/sha}"),
        ("git_tags_url", "/git/tags{/sha}"),
        ("hooks_url", "/hooks"),
        ("issue_comment_url", "/issues/comments{/number}"),
        ("issue_events_url", "/issues/events{/number}"),
        ("issues_url", "/issues{/number}"),
        ("keys_url", "/keys{/key_id}"),
        ("labels_url", "/labels{/name}"),
        ("languages_url", "/languages"),
        ("merges_url", "/merges"),
        ("milestones_url", "/milestones{/number}"),
        (
            "notifications_url",
            "/notifications{?since,all,participating}",
        ),
        ("pulls_url", "/pulls{/number}"),
        ("releases_url", "/releases{/id}"),
        ("stargazers_url", "/stargazers"),
        ("statuses_url", "/statuses/{sha}"),
        ("subscribers_url", "/subscribers"),
        ("subscription_url", "/subscription"),
        ("tags_url", "/tags"),
        ("teams_url", "/teams"),
        ("trees_url", "/git/trees{/sha}"),
    ];
    if let Some(o) = v.as_object_mut() {
        for (k, suffix) in templates {
            o.insert(k.to_string(), json!(format!("{api}{suffix}")));
        }
    }
    v
}

/// `performed_via_github_app`: the GitHub Actions app (an `integration`)
/// for what `github-actions[bot]` did, `null` otherwise.
fn via_app(st: &State, login: &str) -> Value {
    if login != super::ACTIONS_BOT {
        return Value::Null;
    }
    let mut owner = simple_user(
        &st.base,
        &User {
            login: "github".into(),
            id: 9_919,
            bot: false,
            created_at: String::new(),
        },
    );
    owner["type"] = json!("Organization");
    json!({
        "id": 15_368,
        "slug": "github-actions",
        "node_id": "MDM6QXBwMTUzNjg=",
        "owner": owner,
        "name": "GitHub Actions",
        "description": "Automate your workflow from idea to production",
        "external_url": "https://help.github.com/en/actions",
        "html_url": format!("{WEB}/apps/github-actions"),
        "created_at": "2018-07-30T09:30:17Z",
        "updated_at": "2024-04-10T20:33:16Z",
        "permissions": {"deployments": "write", "issues": "write", "pull_requests": "write", "metadata": "read"},
        "events": [],
    })
}

fn author_association(repo: &Repo, login: &str) -> &'static str {
    if login.eq_ignore_ascii_case(&repo.owner) {
        "OWNER"
    } else {
        "NONE"
    }
}

/// `issue-comment`: required id, node_id, html_url, issue_url, user, url,
/// created_at, updated_at; `body`, `author_association`, `reactions` and
/// `performed_via_github_app` come along as on github.com.
pub fn comment(st: &State, repo: &Repo, c: &Comment) -> Value {
    let api = format!("{}/repos/{}/{}", st.base, repo.owner, repo.name);
    let kind = if repo.pulls.contains_key(&c.issue_number) {
        "pull"
    } else {
        "issues"
    };
    let url = format!("{api}/issues/comments/{}", c.id);
    json!({
        "url": url,
        "html_url": format!("{WEB}/{}/{}/{kind}/{}#issuecomment-{}", repo.owner, repo.name, c.issue_number, c.id),
        "issue_url": format!("{api}/issues/{}", c.issue_number),
        "id": c.id,
        "node_id": node_id("IC", c.id),
        "user": user_by_login(st, &c.author),
        "created_at": c.created_at,
        "updated_at": c.updated_at,
        "author_association": author_association(repo, &c.author),
        "body": c.body,
        "reactions": st.commands.rollup(
            &super::state::repo_key(&repo.owner, &repo.name),
            c.id,
            &format!("{url}/reactions"),
        ),
        "performed_via_github_app": via_app(st, &c.author),
    })
}

fn branch(st: &State, repo: &Repo, owner: &str, git_ref: &str, sha: &str) -> Value {
    let head_repo = st.repo(owner, &repo.name).unwrap_or(repo);
    json!({
        "label": format!("{owner}:{git_ref}"),
        "ref": git_ref,
        "sha": sha,
        "user": user_by_login(st, owner),
        "repo": repository(st, head_repo),
    })
}

/// `pull-request` (for `GET …/pulls/{n}`, `full`) or `pull-request-simple`
/// (the items of `GET …/pulls`), which lacks `merged`, `mergeable`,
/// `comments`, `commits`, `additions` and the other counters.
pub fn pull(st: &State, repo: &Repo, p: &Pull, full: bool) -> Value {
    let s = &p.spec;
    let api = format!("{}/repos/{}/{}", st.base, repo.owner, repo.name);
    let html = format!("{WEB}/{}/{}/pull/{}", repo.owner, repo.name, s.number);
    let url = format!("{api}/pulls/{}", s.number);
    let issue_url = format!("{api}/issues/{}", s.number);
    let comments_url = format!("{issue_url}/comments");
    let review_comments_url = format!("{url}/comments");
    let commits_url = format!("{url}/commits");
    let statuses_url = format!("{api}/statuses/{}", s.head_sha);
    let merged = s.state == PullState::Merged;
    let head_owner = s.head_owner.clone().unwrap_or_else(|| repo.owner.clone());
    let mut v = obj(vec![
        ("url", json!(url)),
        ("id", json!(p.id)),
        ("node_id", json!(node_id("PR", p.id))),
        ("html_url", json!(html)),
        ("diff_url", json!(format!("{html}.diff"))),
        ("patch_url", json!(format!("{html}.patch"))),
        ("issue_url", json!(issue_url)),
        ("commits_url", json!(commits_url)),
        ("review_comments_url", json!(review_comments_url)),
        (
            "review_comment_url",
            json!(format!("{api}/pulls/comments{{/number}}")),
        ),
        ("comments_url", json!(comments_url)),
        ("statuses_url", json!(statuses_url)),
        ("number", json!(s.number)),
        (
            "state",
            json!(if s.state == PullState::Open {
                "open"
            } else {
                "closed"
            }),
        ),
        ("locked", json!(false)),
        ("title", json!(s.title)),
        ("user", json!(user_by_login(st, &s.author))),
        ("body", json!(s.body)),
        ("labels", labels_json(&api, &s.labels)),
        ("milestone", json!(Value::Null)),
        ("active_lock_reason", json!(Value::Null)),
        ("created_at", json!(p.created_at)),
        ("updated_at", json!(p.updated_at)),
        ("closed_at", json!(p.closed_at)),
        ("merged_at", json!(p.merged_at)),
        (
            "merge_commit_sha",
            json!(merged.then(|| super::state::fake_sha(&format!("merge-{}", s.head_sha)))),
        ),
        ("assignee", json!(Value::Null)),
        ("assignees", json!([])),
        ("requested_reviewers", json!([])),
        ("requested_teams", json!([])),
        (
            "head",
            json!(branch(st, repo, &head_owner, &s.head_ref, &s.head_sha)),
        ),
        (
            "base",
            json!(branch(st, repo, &repo.owner, &s.base_ref, &s.base_sha)),
        ),
        (
            "_links",
            json!({
                "self": {"href": url},
                "html": {"href": html},
                "issue": {"href": issue_url},
                "comments": {"href": comments_url},
                "review_comments": {"href": review_comments_url},
                "review_comment": {"href": format!("{api}/pulls/comments{{/number}}")},
                "commits": {"href": commits_url},
                "statuses": {"href": statuses_url},
            }),
        ),
        (
            "author_association",
            json!(author_association(repo, &s.author)),
        ),
        ("auto_merge", json!(Value::Null)),
        ("draft", json!(s.draft)),
    ]);
    if full {
        let comments = repo
            .comments
            .iter()
            .filter(|c| c.issue_number == s.number)
            .count();
        if let Some(o) = v.as_object_mut() {
            for (k, val) in [
                ("merged", json!(merged)),
                (
                    "mergeable",
                    if s.state == PullState::Open {
                        json!(true)
                    } else {
                        Value::Null
                    },
                ),
                (
                    "rebaseable",
                    if s.state == PullState::Open {
                        json!(true)
                    } else {
                        Value::Null
                    },
                ),
                (
                    "mergeable_state",
                    json!(if s.state == PullState::Open {
                        "clean"
                    } else {
                        "unknown"
                    }),
                ),
                (
                    "merged_by",
                    if merged {
                        user_by_login(st, &repo.owner)
                    } else {
                        Value::Null
                    },
                ),
                ("comments", json!(comments)),
                ("review_comments", json!(0)),
                ("maintainer_can_modify", json!(false)),
                ("commits", json!(1)),
                ("additions", json!(1)),
                ("deletions", json!(0)),
                ("changed_files", json!(1)),
            ] {
                o.insert(k.to_string(), val);
            }
        }
    }
    v
}

/// `deployment`: required id, node_id, sha, ref, task, environment,
/// creator, payload, description, statuses_url, repository_url, url,
/// created_at, updated_at.
pub fn deployment(st: &State, repo: &Repo, d: &Deployment) -> Value {
    let api = format!("{}/repos/{}/{}", st.base, repo.owner, repo.name);
    let url = format!("{api}/deployments/{}", d.id);
    json!({
        "url": url,
        "id": d.id,
        "node_id": node_id("DE", d.id),
        "sha": d.sha,
        "ref": d.git_ref,
        "task": d.task,
        "payload": d.payload,
        "original_environment": d.original_environment,
        "environment": d.environment,
        "description": d.description,
        "creator": user_by_login(st, &d.creator),
        "created_at": d.created_at,
        "updated_at": d.updated_at,
        "statuses_url": format!("{url}/statuses"),
        "repository_url": api,
        "transient_environment": d.transient_environment,
        "production_environment": d.production_environment,
        "performed_via_github_app": via_app(st, &d.creator),
    })
}

/// `deployment-status`: required id, node_id, state, creator, description,
/// deployment_url, target_url, repository_url, url, created_at, updated_at.
pub fn deployment_status(st: &State, repo: &Repo, d: &Deployment, s: &DeploymentStatus) -> Value {
    let api = format!("{}/repos/{}/{}", st.base, repo.owner, repo.name);
    let dep_url = format!("{api}/deployments/{}", d.id);
    json!({
        "url": format!("{dep_url}/statuses/{}", s.id),
        "id": s.id,
        "node_id": node_id("DES", s.id),
        "state": s.state,
        "creator": user_by_login(st, &s.creator),
        "description": s.description,
        "environment": s.environment,
        "target_url": s.log_url,
        "log_url": s.log_url,
        "environment_url": s.environment_url,
        "created_at": s.created_at,
        "updated_at": s.updated_at,
        "deployment_url": dep_url,
        "repository_url": api,
        "performed_via_github_app": via_app(st, &s.creator),
    })
}

/// `workflow-run`: required id, node_id, head_branch, head_sha, path,
/// run_number, event, display_title, status, conclusion, workflow_id,
/// url, html_url, pull_requests, created_at, updated_at, jobs_url,
/// logs_url, check_suite_url, artifacts_url, cancel_url, rerun_url,
/// workflow_url, head_commit, repository, head_repository.
pub fn workflow_run(st: &State, repo: &Repo, run: &WorkflowRun) -> Value {
    let api = format!("{}/repos/{}/{}", st.base, repo.owner, repo.name);
    let url = format!("{api}/actions/runs/{}", run.id);
    let sha = super::state::fake_sha(&format!("run {}", run.id));
    let workflow_id = 161_335;
    obj(vec![
        ("id", json!(run.id)),
        ("name", json!("Preview")),
        ("node_id", json!(node_id("WFR", run.id))),
        ("check_suite_id", json!(run.id + 1_000)),
        ("check_suite_node_id", json!(node_id("CS", run.id + 1_000))),
        ("head_branch", json!("main")),
        ("head_sha", json!(sha)),
        ("path", json!(".github/workflows/preview.yml")),
        ("run_number", json!(run.id % 10_000)),
        ("event", json!("pull_request")),
        ("display_title", json!("Preview")),
        ("status", json!(run.status)),
        ("conclusion", json!(run.conclusion)),
        ("workflow_id", json!(workflow_id)),
        ("url", json!(url)),
        (
            "html_url",
            json!(format!(
                "{WEB}/{}/{}/actions/runs/{}",
                repo.owner, repo.name, run.id
            )),
        ),
        ("pull_requests", json!([])),
        ("created_at", json!(repo.created_at)),
        ("updated_at", json!(repo.created_at)),
        ("run_attempt", json!(run.run_attempt)),
        ("run_started_at", json!(repo.created_at)),
        ("jobs_url", json!(format!("{url}/jobs"))),
        ("logs_url", json!(format!("{url}/logs"))),
        (
            "check_suite_url",
            json!(format!("{api}/check-suites/{}", run.id + 1_000)),
        ),
        ("artifacts_url", json!(format!("{url}/artifacts"))),
        ("cancel_url", json!(format!("{url}/cancel"))),
        ("rerun_url", json!(format!("{url}/rerun"))),
        (
            "previous_attempt_url",
            if run.run_attempt > 1 {
                json!(format!("{url}/attempts/{}", run.run_attempt - 1))
            } else {
                Value::Null
            },
        ),
        (
            "workflow_url",
            json!(format!("{api}/actions/workflows/{workflow_id}")),
        ),
        (
            "head_commit",
            json!({
                "id": sha,
                "tree_id": super::state::fake_sha(&format!("tree {}", run.id)),
                "message": "Update",
                "timestamp": repo.created_at,
                "author": {"name": "Octocat", "email": "octocat@github.com"},
                "committer": {"name": "GitHub", "email": "noreply@github.com"},
            }),
        ),
        ("repository", repository(st, repo)),
        ("head_repository", repository(st, repo)),
    ])
}

/// A pull request's `labels`, shaped as GitHub's `label` objects.
fn labels_json(api: &str, names: &[String]) -> Value {
    let labels: Vec<Value> = names
        .iter()
        .enumerate()
        .map(|(i, name)| {
            let id = 5_000_000_001 + i as u64;
            json!({
                "id": id,
                "node_id": node_id("LA", id),
                "url": format!("{api}/labels/{name}"),
                "name": name,
                "color": "ededed",
                "default": false,
                "description": Value::Null,
            })
        })
        .collect();
    Value::Array(labels)
}
