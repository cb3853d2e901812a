//! The GitHub calls that comment commands, status checks and shared
//! deployment environments need: a commenter's permission, reactions on a
//! comment, commit statuses, a pull request's head and fork-ness, and a
//! stage's deployments. Each is one small function over the shared
//! [`Client`], with its retries and error mapping.

use http::Method;
use serde::Deserialize;
use serde_json::json;

use super::client::{Client, ForgeError};
use super::environment::{self, EnvironmentRule, ListedDeployment};
use crate::event::{CommitSha, Login};
use crate::pr_command::permission::Permission;
use crate::pr_command::Reaction;
use crate::stage::PrNumber;
use crate::state::AsKey;
use crate::status_check::CommitStatus;

/// What became of a commit status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StatusWrite {
    Written,
    /// GitHub answered 403: the token may not write statuses (no
    /// `statuses: write`, or a fork's read-only token). A warning, not a
    /// failure: the preview itself is fine.
    Forbidden {
        message: String,
    },
}

/// A pull request's head as the API reports it now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PullHead {
    pub sha: CommitSha,
    pub open: bool,
    pub draft: bool,
    /// The head branch lives outside the base repository (or its
    /// repository is gone).
    pub from_fork: bool,
    pub labels: Vec<String>,
}

/// The calls, for one repository.
pub struct CommandsApi<'c> {
    client: &'c Client,
    /// `/repos/OWNER/REPO`
    repo_path: String,
}

#[derive(Deserialize)]
struct PermissionAnswer {
    permission: String,
    role_name: Option<String>,
}

#[derive(Deserialize)]
struct Repo {
    full_name: String,
}

#[derive(Deserialize)]
struct Branch {
    sha: String,
    repo: Option<Repo>,
}

#[derive(Deserialize)]
struct Label {
    name: String,
}

#[derive(Deserialize)]
struct Pull {
    state: String,
    #[serde(default)]
    draft: bool,
    head: Branch,
    base: Branch,
    #[serde(default)]
    labels: Vec<Label>,
}

#[derive(Deserialize)]
struct Created {
    id: u64,
}

#[derive(Deserialize)]
struct StatusItem {
    state: String,
}

impl<'c> CommandsApi<'c> {
    /// `repository` is `OWNER/REPO`.
    pub fn new(client: &'c Client, repository: &str) -> Result<Self, ForgeError> {
        super::names::RepoName::parse(repository).map_err(ForgeError::Setup)?;
        Ok(Self {
            client,
            repo_path: format!("/repos/{repository}"),
        })
    }

    /// `login`'s permission on the repository. GitHub answers 404 for an
    /// account it does not know; that, like anything unrecognised, is
    /// [`Permission::None`].
    pub fn permission(&self, login: &Login) -> Result<Permission, ForgeError> {
        let what = format!("the permission of {login}");
        let path = format!("{}/collaborators/{login}/permission", self.repo_path);
        match self.client.send::<()>(Method::GET, &path, None, &what) {
            Ok(a) => {
                let p: PermissionAnswer = a.json(&what)?;
                Ok(Permission::from_api(&p.permission, p.role_name.as_deref()))
            }
            Err(ForgeError::NotFound { .. }) => Ok(Permission::None),
            Err(e) => Err(e),
        }
    }

    /// Adds `reaction` to comment `comment_id` (GitHub answers 200 when the
    /// token's account had already reacted so, which is fine).
    pub fn react(&self, comment_id: u64, reaction: Reaction) -> Result<(), ForgeError> {
        self.client.send(
            Method::POST,
            &format!("{}/issues/comments/{comment_id}/reactions", self.repo_path),
            Some(&json!({ "content": reaction.content() })),
            &format!("a {} reaction on comment {comment_id}", reaction.content()),
        )?;
        Ok(())
    }

    /// Posts `status` on `sha`.
    pub fn set_status(
        &self,
        sha: &CommitSha,
        status: &CommitStatus,
    ) -> Result<StatusWrite, ForgeError> {
        let mut body = json!({
            "state": status.state.as_str(),
            "context": status.context,
            "description": status.description,
        });
        if let Some(url) = &status.target_url {
            body["target_url"] = json!(url);
        }
        let sent = self.client.send(
            Method::POST,
            &format!("{}/statuses/{}", self.repo_path, sha.as_str()),
            Some(&body),
            &format!("the {} status of {}", status.context, sha.short()),
        );
        match sent {
            Ok(_) => Ok(StatusWrite::Written),
            Err(ForgeError::Forbidden { message, .. }) => Ok(StatusWrite::Forbidden { message }),
            Err(e) => Err(e),
        }
    }

    /// Pull request `number`'s head now: an `issue_comment` payload has no
    /// SHA, and the approval of a fork is for this one.
    pub fn pull_head(&self, number: PrNumber) -> Result<PullHead, ForgeError> {
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
        let sha = CommitSha::parse(&p.head.sha).ok_or_else(|| ForgeError::Decode {
            what: what.clone(),
            message: format!("head sha {:?} is not a commit SHA", p.head.sha),
        })?;
        let from_fork = match (&p.head.repo, &p.base.repo) {
            (Some(h), Some(b)) => !h.full_name.eq_ignore_ascii_case(&b.full_name),
            _ => true,
        };
        Ok(PullHead {
            sha,
            open: p.state == "open",
            draft: p.draft,
            from_fork,
            labels: p.labels.into_iter().map(|l| l.name).collect(),
        })
    }

    /// Creates `stage`'s deployment of `sha` in the environment `rule`
    /// names, and returns its id.
    pub fn create_deployment(
        &self,
        rule: &EnvironmentRule,
        stage: &dyn AsKey,
        pr: Option<PrNumber>,
        sha: &CommitSha,
    ) -> Result<u64, ForgeError> {
        let created: Created = self
            .client
            .send(
                Method::POST,
                &format!("{}/deployments", self.repo_path),
                Some(&environment::deployment_request(rule, stage, pr, sha)),
                &format!("a deployment of {}", stage.as_key()),
            )?
            .json("the new deployment")?;
        Ok(created.id)
    }

    /// `stage`'s deployments, all pages, newest first.
    pub fn stage_deployments(
        &self,
        rule: &EnvironmentRule,
        stage: &dyn AsKey,
    ) -> Result<Vec<ListedDeployment>, ForgeError> {
        let listed: Vec<ListedDeployment> = self.client.get_all(
            &format!("{}/deployments?{}", self.repo_path, rule.list_query(stage)),
            &format!("the deployments of {}", stage.as_key()),
        )?;
        Ok(listed
            .into_iter()
            .filter(|d| environment::is_stage_deployment(rule, d, stage))
            .collect())
    }

    /// Marks `stage`'s deployments inactive, all but `keep` (the one a
    /// deploy just made), and only those not inactive already: never
    /// another stage's. Returns how many it marked.
    pub fn deactivate_stage(
        &self,
        rule: &EnvironmentRule,
        stage: &dyn AsKey,
        keep: Option<u64>,
        description: &str,
    ) -> Result<usize, ForgeError> {
        let listed = self.stage_deployments(rule, stage)?;
        let mut marked = 0;
        for id in environment::superseded(rule, &listed, stage, keep) {
            if self.latest_state(id)?.as_deref() == Some("inactive") {
                continue;
            }
            self.client.send(
                Method::POST,
                &format!("{}/deployments/{id}/statuses", self.repo_path),
                Some(&json!({
                    "state": "inactive",
                    "description": description.chars().take(140).collect::<String>(),
                })),
                &format!("the status of deployment {id}"),
            )?;
            marked += 1;
        }
        Ok(marked)
    }

    /// The newest status of deployment `id`, if it has one.
    fn latest_state(&self, id: u64) -> Result<Option<String>, ForgeError> {
        let what = format!("the statuses of deployment {id}");
        let page: Vec<StatusItem> = self
            .client
            .send::<()>(
                Method::GET,
                &format!("{}/deployments/{id}/statuses?per_page=1", self.repo_path),
                None,
                &what,
            )?
            .json(&what)?;
        Ok(page.into_iter().next().map(|s| s.state))
    }
}
