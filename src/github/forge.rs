//! What alchemy-ci asks of GitHub: the live state of a pull request and
//! the files it changes, the open pull requests, one sticky comment per
//! stage (or per pull request, for apps), deployments, whether a workflow
//! run is still running, and what comment commands need (a commenter's
//! permission, reactions, commit statuses, a PR's head), which
//! `commands_api` implements.

use std::sync::OnceLock;
use std::time::Instant;

use http::Method;
use serde::Deserialize;
use serde_json::json;

use super::client::{Answer, Client, ForgeError};
use super::commands_api::{CommandsApi, PullHead, StatusWrite};
use super::comment::marker;
use super::environment::{self, EnvironmentRule};
use crate::apps::affected::ChangedFiles;
use crate::event::{CommitSha, Login};
use crate::plan::LivePr;
use crate::pr_command::permission::Permission;
use crate::pr_command::Reaction;
use crate::stage::{PrNumber, Stage};
use crate::state::AsKey;
use crate::status_check::CommitStatus;

/// GitHub as the rest of alchemy-ci sees it. One real implementation
/// ([`GitHub`]); tests run it against a fake GitHub server over HTTP.
pub trait Forge: Send + Sync {
    fn pull(&self, number: PrNumber) -> Result<LivePr, ForgeError>;
    /// Every open pull request with its labels, all pages.
    fn open_pulls(&self) -> Result<Vec<OpenPull>, ForgeError>;
    /// Creates or edits the stage's comment; folds duplicates into the oldest.
    fn upsert_comment(
        &self,
        number: PrNumber,
        stage: &Stage,
        body: &str,
    ) -> Result<CommentWrite, ForgeError> {
        self.upsert_marked_comment(number, &marker(stage), body)
    }
    /// Creates or edits the comment of ours that holds `mark` (the apps'
    /// comment of a pull request, say); folds duplicates into the oldest.
    fn upsert_marked_comment(
        &self,
        number: PrNumber,
        mark: &str,
        body: &str,
    ) -> Result<CommentWrite, ForgeError>;
    /// The files pull request `number` changes, every page (GitHub lists
    /// at most 3,000).
    fn changed_files(&self, number: PrNumber) -> Result<ChangedFiles, ForgeError>;
    /// The files `head` changes since `base`, when `head` is `base` moved
    /// forward (else unknown); GitHub lists at most 300.
    fn compare_files(&self, base: &CommitSha, head: &CommitSha)
        -> Result<ChangedFiles, ForgeError>;
    /// Creates `stage`'s deployment of `sha` in the environment `rule`
    /// names; `stage` is an app's stage (`pr-7@api`) in a repository with
    /// `apps:`.
    fn create_deployment(
        &self,
        rule: &EnvironmentRule,
        stage: &dyn AsKey,
        pr: Option<PrNumber>,
        sha: &CommitSha,
    ) -> Result<u64, ForgeError>;
    fn deployment_status(&self, id: u64, status: &DeploymentStatus) -> Result<(), ForgeError>;
    /// Marks `stage`'s deployments inactive, all but `keep`, never another
    /// stage's; returns how many.
    fn deactivate_deployments(
        &self,
        rule: &EnvironmentRule,
        stage: &dyn AsKey,
        keep: Option<u64>,
        description: &str,
    ) -> Result<usize, ForgeError>;
    /// A workflow run of the repository: is it still running?
    fn workflow_run(&self, id: u64) -> Result<WorkflowRun, ForgeError>;
    /// A commenter's permission on the repository (an unknown account has
    /// none).
    fn permission(&self, login: &Login) -> Result<Permission, ForgeError>;
    fn react(&self, comment_id: u64, reaction: Reaction) -> Result<(), ForgeError>;
    fn set_status(&self, sha: &CommitSha, status: &CommitStatus)
        -> Result<StatusWrite, ForgeError>;
    /// A pull request's head, state, draft flag, fork-ness and labels now.
    fn pull_head(&self, number: PrNumber) -> Result<PullHead, ForgeError>;
    /// Gives up on requests that would not finish by `deadline`.
    fn set_deadline(&self, _deadline: Instant) {}
}

/// What `GET /repos/{o}/{r}/actions/runs/{id}` says about a run.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct WorkflowRun {
    /// `queued`, `in_progress`, `completed`, … (`completed` means over).
    pub status: String,
    #[serde(default)]
    pub conclusion: Option<String>,
    #[serde(default)]
    pub run_attempt: Option<u32>,
    #[serde(default)]
    pub html_url: Option<String>,
}

/// An open pull request, as the sweep needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenPull {
    pub number: PrNumber,
    pub labels: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CommentWrite {
    Created(u64),
    Updated { id: u64, removed_duplicates: usize },
}

#[derive(Debug, Clone)]
pub struct DeploymentStatus {
    /// `in_progress`, `success`, `failure`, `error` or `inactive`.
    pub state: &'static str,
    pub environment_url: Option<String>,
    pub log_url: Option<String>,
    pub description: String,
}

/// GitHub's deployment descriptions are capped at 140 characters.
const MAX_DESCRIPTION: usize = 140;

pub struct GitHub {
    client: Client,
    /// `OWNER/REPO`
    repository: String,
    /// `/repos/OWNER/REPO`
    repo_path: String,
    identity: OnceLock<Identity>,
}

/// The account the token writes as: comments are ours when their author's
/// login is this one. Matched by login, not id: a bot's GraphQL
/// `databaseId` need not be the id REST shows as a comment's author.
#[derive(Debug, Clone)]
struct Identity {
    login: String,
}

impl Identity {
    fn owns(&self, c: &Comment) -> bool {
        c.user.login.eq_ignore_ascii_case(&self.login)
    }
}

/// Comments written with the Actions token are authored by this bot.
const ACTIONS_BOT: &str = "github-actions[bot]";

#[derive(Deserialize)]
struct GraphQl {
    data: Option<ViewerData>,
}

#[derive(Deserialize)]
struct ViewerData {
    viewer: Option<Viewer>,
}

#[derive(Deserialize)]
struct Viewer {
    login: String,
    #[serde(rename = "databaseId")]
    database_id: Option<u64>,
}

#[derive(Deserialize)]
struct User {
    login: String,
}

#[derive(Deserialize)]
struct Comment {
    id: u64,
    body: Option<String>,
    user: User,
}

#[derive(Deserialize)]
struct Pull {
    number: u64,
    state: String,
    head: Head,
    #[serde(default)]
    labels: Vec<Label>,
}

#[derive(Deserialize)]
struct Label {
    name: String,
}

#[derive(Deserialize)]
struct Head {
    sha: String,
}

#[derive(Deserialize)]
struct Created {
    id: u64,
}

#[derive(Deserialize)]
struct Listed {
    id: u64,
    #[serde(default)]
    payload: serde_json::Value,
}

/// The key of a deployment request's mark in its payload.
const REQUEST_MARK: &str = "request";

impl GitHub {
    /// `repository` is `OWNER/REPO`.
    pub fn new(client: Client, repository: &str) -> Result<Self, ForgeError> {
        super::names::RepoName::parse(repository).map_err(ForgeError::Setup)?;
        Ok(Self {
            client,
            repository: repository.to_owned(),
            repo_path: format!("/repos/{repository}"),
            identity: OnceLock::new(),
        })
    }

    /// The comment commands' calls, on the same client.
    fn commands(&self) -> Result<CommandsApi<'_>, ForgeError> {
        CommandsApi::new(&self.client, &self.repository)
    }

    /// Comments are looked up as written by `login` instead of asking
    /// GitHub who the token is: for hosts where neither GraphQL's `viewer`
    /// nor `/user` answers.
    #[must_use]
    pub fn with_comment_author(self, login: Option<String>) -> Self {
        if let Some(login) = login {
            let _ = self.identity.set(Identity { login });
        }
        self
    }

    /// Who the token writes as. GraphQL's `viewer` answers for personal,
    /// Actions and GitHub App installation tokens alike (as `<app>[bot]`);
    /// `/user` is the fallback for hosts without GraphQL, and answers 403
    /// for every installation token, which then can only be taken for the
    /// Actions token.
    fn identity(&self) -> Result<Identity, ForgeError> {
        if let Some(i) = self.identity.get() {
            return Ok(i.clone());
        }
        let id = match self.viewer() {
            Ok(login) => Identity { login },
            Err(e @ ForgeError::Unauthorized { .. }) => return Err(e),
            Err(graphql) => {
                match self
                    .client
                    .send::<()>(Method::GET, "/user", None, "the token's user")
                {
                    Ok(a) => Identity {
                        login: a.json::<User>("the token's user")?.login,
                    },
                    Err(ForgeError::Forbidden { .. }) => {
                        tracing::warn!(
                        "cannot tell which account the token writes as ({graphql}; /user: 403); taking it for {ACTIONS_BOT}: if each run adds a new comment, set the comment-author input"
                    );
                        Identity {
                            login: ACTIONS_BOT.to_owned(),
                        }
                    }
                    Err(e) => return Err(e),
                }
            }
        };
        let _ = self.identity.set(id.clone());
        Ok(id)
    }

    /// `{ viewer { login databaseId } }`.
    fn viewer(&self) -> Result<String, ForgeError> {
        let what = "the token's account (GraphQL viewer)";
        let answer: GraphQl = self
            .client
            .send(
                Method::POST,
                &self.client.graphql_url(),
                Some(&json!({ "query": "query { viewer { login databaseId } }" })),
                what,
            )?
            .json(what)?;
        let viewer = answer
            .data
            .and_then(|d| d.viewer)
            .ok_or_else(|| ForgeError::Decode {
                what: what.to_owned(),
                message: "no viewer in the answer".into(),
            })?;
        tracing::debug!(
            "the token writes as {} (id {:?})",
            viewer.login,
            viewer.database_id
        );
        Ok(viewer.login)
    }
}

impl Forge for GitHub {
    fn pull(&self, number: PrNumber) -> Result<LivePr, ForgeError> {
        let what = format!("pull request #{number}");
        let p: Pull = self
            .client
            .send::<()>(
                Method::GET,
                &format!("{}/pulls/{number}", self.repo_path),
                None,
                &what,
            )?
            .json(&what)?;
        let head_sha = CommitSha::parse(&p.head.sha).ok_or_else(|| ForgeError::Decode {
            what: what.clone(),
            message: format!("head sha {:?} is not a commit SHA", p.head.sha),
        })?;
        Ok(LivePr {
            open: p.state == "open",
            head_sha,
        })
    }

    fn open_pulls(&self) -> Result<Vec<OpenPull>, ForgeError> {
        let pulls: Vec<Pull> = self.client.get_all(
            &format!("{}/pulls?state=open&per_page=100", self.repo_path),
            "the open pull requests",
        )?;
        Ok(pulls
            .into_iter()
            .filter_map(|p| {
                Some(OpenPull {
                    number: PrNumber::new(p.number)?,
                    labels: p.labels.into_iter().map(|l| l.name).collect(),
                })
            })
            .collect())
    }

    fn upsert_marked_comment(
        &self,
        number: PrNumber,
        mark: &str,
        body: &str,
    ) -> Result<CommentWrite, ForgeError> {
        let me = self.identity()?;
        let what = format!("the comments of #{number}");
        let all: Vec<Comment> = self.client.get_all(
            &format!("{}/issues/{number}/comments?per_page=100", self.repo_path),
            &what,
        )?;
        // Oldest first, as GitHub lists them; only our own comments count, so
        // a marker pasted by someone else is never edited.
        let mut ours: Vec<&Comment> = all
            .iter()
            .filter(|c| me.owns(c) && c.body.as_deref().is_some_and(|b| b.contains(mark)))
            .collect();
        ours.sort_by_key(|c| c.id);
        let Some(keep) = ours.first() else {
            let created: Created = self
                .client
                .send(
                    Method::POST,
                    &format!("{}/issues/{number}/comments", self.repo_path),
                    Some(&json!({ "body": body })),
                    &format!("a comment on #{number}"),
                )?
                .json("the new comment")?;
            return Ok(CommentWrite::Created(created.id));
        };
        self.client.send(
            Method::PATCH,
            &format!("{}/issues/comments/{}", self.repo_path, keep.id),
            Some(&json!({ "body": body })),
            &format!("comment {}", keep.id),
        )?;
        let mut removed = 0;
        for dup in &ours[1..] {
            match self.client.send::<()>(
                Method::DELETE,
                &format!("{}/issues/comments/{}", self.repo_path, dup.id),
                None,
                &format!("duplicate comment {}", dup.id),
            ) {
                Ok(_) | Err(ForgeError::NotFound { .. }) => removed += 1,
                Err(e) => return Err(e),
            }
        }
        Ok(CommentWrite::Updated {
            id: keep.id,
            removed_duplicates: removed,
        })
    }

    fn create_deployment(
        &self,
        rule: &EnvironmentRule,
        stage: &dyn AsKey,
        pr: Option<PrNumber>,
        sha: &CommitSha,
    ) -> Result<u64, ForgeError> {
        let stage = &stage.as_key();
        // A mark of this request, so that after a failure that may have
        // come after GitHub created the deployment, it is found, not
        // created twice.
        let request = format!("{:016x}", fastrand::u64(..));
        let mut body = environment::deployment_request(rule, stage, pr, sha);
        body["payload"][environment::PAYLOAD_KEY][REQUEST_MARK] = json!(request);
        let what = format!("a deployment of {stage}");
        let listing = format!(
            "{}/deployments?sha={}&{}",
            self.repo_path,
            sha.as_str(),
            rule.list_query(stage)
        );
        let happened = || -> Result<Option<Answer>, ForgeError> {
            let what = format!("the deployments of {stage}");
            let listed: Vec<Listed> = self
                .client
                .send::<()>(Method::GET, &listing, None, &what)?
                .json(&what)?;
            Ok(listed
                .iter()
                .find(|d| d.payload[environment::PAYLOAD_KEY][REQUEST_MARK] == request.as_str())
                .map(|d| Answer {
                    status: http::StatusCode::CREATED,
                    headers: http::HeaderMap::new(),
                    body: json!({ "id": d.id }).to_string().into_bytes(),
                }))
        };
        let created: Created = self
            .client
            .send_checked(
                Method::POST,
                &format!("{}/deployments", self.repo_path),
                Some(&body),
                &what,
                &happened,
            )?
            .json("the new deployment")?;
        Ok(created.id)
    }

    fn deployment_status(&self, id: u64, status: &DeploymentStatus) -> Result<(), ForgeError> {
        let mut body = json!({
            "state": status.state,
            "description": truncate(&status.description, MAX_DESCRIPTION),
            "auto_inactive": true,
        });
        if let Some(u) = &status.environment_url {
            body["environment_url"] = json!(u);
        }
        if let Some(u) = &status.log_url {
            body["log_url"] = json!(u);
        }
        self.client.send(
            Method::POST,
            &format!("{}/deployments/{id}/statuses", self.repo_path),
            Some(&body),
            &format!("the status of deployment {id}"),
        )?;
        Ok(())
    }

    fn deactivate_deployments(
        &self,
        rule: &EnvironmentRule,
        stage: &dyn AsKey,
        keep: Option<u64>,
        description: &str,
    ) -> Result<usize, ForgeError> {
        self.commands()?
            .deactivate_stage(rule, stage, keep, description)
    }

    fn changed_files(&self, number: PrNumber) -> Result<ChangedFiles, ForgeError> {
        let repository = self.repo_path.trim_start_matches("/repos/");
        super::files::changed_files(&self.client, repository, number)
    }

    fn compare_files(
        &self,
        base: &CommitSha,
        head: &CommitSha,
    ) -> Result<ChangedFiles, ForgeError> {
        let repository = self.repo_path.trim_start_matches("/repos/");
        super::files::compared_files(&self.client, repository, base, head)
    }

    fn workflow_run(&self, id: u64) -> Result<WorkflowRun, ForgeError> {
        let what = format!("workflow run {id}");
        self.client
            .send::<()>(
                Method::GET,
                &format!("{}/actions/runs/{id}", self.repo_path),
                None,
                &what,
            )?
            .json(&what)
    }

    fn permission(&self, login: &Login) -> Result<Permission, ForgeError> {
        self.commands()?.permission(login)
    }

    fn react(&self, comment_id: u64, reaction: Reaction) -> Result<(), ForgeError> {
        self.commands()?.react(comment_id, reaction)
    }

    fn set_status(
        &self,
        sha: &CommitSha,
        status: &CommitStatus,
    ) -> Result<StatusWrite, ForgeError> {
        self.commands()?.set_status(sha, status)
    }

    fn pull_head(&self, number: PrNumber) -> Result<PullHead, ForgeError> {
        self.commands()?.pull_head(number)
    }

    fn set_deadline(&self, deadline: Instant) {
        self.client.set_deadline(deadline);
    }
}

fn truncate(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        s.to_owned()
    } else {
        let mut t: String = s.chars().take(max - 1).collect();
        t.push('…');
        t
    }
}
