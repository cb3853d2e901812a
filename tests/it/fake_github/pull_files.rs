//! The files of a pull request: what tests set, and GitHub's DiffEntry
//! shape for `GET /repos/{owner}/{repo}/pulls/{n}/files`, which lists at
//! most 3,000 files (per GitHub's documentation: "Responses include a
//! maximum of 3000 files"), 30 per page by default and at most 100; and
//! the comparison of two commits, `GET /repos/{owner}/{repo}/compare/
//! {base}...{head}`, whose first page lists at most 300 files ("the list
//! of changed files is only shown on the first page of results, and it
//! includes up to 300 changed files for the entire comparison").

use serde_json::{json, Value};

use super::state::{fake_sha, Repo};
use super::FakeGitHub;

/// Most files GitHub lists for one pull request.
pub const MAX_LISTED_FILES: usize = 3_000;

/// Most files GitHub lists for one comparison of two commits.
pub const MAX_COMPARED_FILES: usize = 300;

/// Two commits as GitHub compares them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Comparison {
    /// `ahead` (base is an ancestor of head), `behind`, `diverged` or
    /// `identical`.
    pub status: String,
    pub files: Vec<PullFile>,
}

/// One changed file of a pull request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PullFile {
    pub filename: String,
    /// `added`, `removed`, `modified`, `renamed`, `copied`, `changed` or
    /// `unchanged`.
    pub status: String,
    pub additions: u64,
    pub deletions: u64,
    /// The old name of a renamed file.
    pub previous_filename: Option<String>,
}

impl PullFile {
    pub fn modified(filename: &str) -> Self {
        Self {
            filename: filename.into(),
            status: "modified".into(),
            additions: 1,
            deletions: 1,
            previous_filename: None,
        }
    }

    pub fn renamed(from: &str, to: &str) -> Self {
        Self {
            filename: to.into(),
            status: "renamed".into(),
            additions: 0,
            deletions: 0,
            previous_filename: Some(from.into()),
        }
    }
}

/// A DiffEntry as GitHub serves it.
pub fn diff_entry(api_base: &str, repo: &Repo, head_sha: &str, f: &PullFile) -> Value {
    let web = format!("https://github.com/{}/{}", repo.owner, repo.name);
    let mut v = json!({
        "sha": fake_sha(&format!("{head_sha}:{}", f.filename)),
        "filename": f.filename,
        "status": f.status,
        "additions": f.additions,
        "deletions": f.deletions,
        "changes": f.additions + f.deletions,
        "blob_url": format!("{web}/blob/{head_sha}/{}", f.filename),
        "raw_url": format!("{web}/raw/{head_sha}/{}", f.filename),
        "contents_url": format!(
            "{api_base}/repos/{}/{}/contents/{}?ref={head_sha}",
            repo.owner, repo.name, f.filename
        ),
        "patch": "@@ -1 +1 @@\n-old\n+new",
    });
    if let Some(p) = &f.previous_filename {
        v["previous_filename"] = json!(p);
    }
    v
}

impl FakeGitHub {
    /// Sets the files pull request `number` changes (the pull request is
    /// created if needed, open, with a made-up head).
    pub fn set_pull_files(&self, owner: &str, repo: &str, number: u64, files: Vec<PullFile>) {
        let exists = self
            .shared
            .lock()
            .repo(owner, repo)
            .is_some_and(|r| r.pulls.contains_key(&number));
        if !exists {
            self.set_pull(
                owner,
                repo,
                number,
                super::PullState::Open,
                &FakeGitHub::sha(&format!("head-{number}")),
            );
        }
        self.shared
            .lock()
            .ensure_repo(owner, repo)
            .pull_files
            .insert(number, files);
    }
}

impl FakeGitHub {
    /// Sets what `GET …/compare/{base}...{head}` answers.
    pub fn set_compare(
        &self,
        owner: &str,
        repo: &str,
        base: &str,
        head: &str,
        status: &str,
        files: Vec<PullFile>,
    ) {
        self.shared.lock().ensure_repo(owner, repo).compares.insert(
            format!("{base}...{head}"),
            Comparison {
                status: status.into(),
                files,
            },
        );
    }
}

/// A comparison as GitHub serves it (the commits list left empty).
pub fn comparison(api_base: &str, repo: &Repo, basehead: &str, c: &Comparison) -> Value {
    let (base, head) = basehead.split_once("...").unwrap_or((basehead, basehead));
    let web = format!("https://github.com/{}/{}", repo.owner, repo.name);
    let files: Vec<Value> = c
        .files
        .iter()
        .take(super::MAX_COMPARED_FILES)
        .map(|f| diff_entry(api_base, repo, head, f))
        .collect();
    let (ahead, behind) = match c.status.as_str() {
        "ahead" => (1, 0),
        "behind" => (0, 1),
        "diverged" => (1, 1),
        _ => (0, 0),
    };
    json!({
        "url": format!("{api_base}/repos/{}/{}/compare/{basehead}", repo.owner, repo.name),
        "html_url": format!("{web}/compare/{basehead}"),
        "permalink_url": format!("{web}/compare/{}:{base}...{}:{head}", repo.owner, repo.owner),
        "diff_url": format!("{web}/compare/{basehead}.diff"),
        "patch_url": format!("{web}/compare/{basehead}.patch"),
        "base_commit": { "sha": base },
        "merge_base_commit": { "sha": base },
        "status": c.status,
        "ahead_by": ahead,
        "behind_by": behind,
        "total_commits": ahead,
        "commits": [],
        "files": files,
    })
}
