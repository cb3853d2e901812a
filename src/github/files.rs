//! The files a pull request changes, as GitHub lists them:
//! `GET /repos/{owner}/{repo}/pulls/{n}/files`, 100 per page, following
//! `Link: rel="next"`. GitHub lists at most 3,000 files; a pull request
//! that reaches that many may have more, so the answer is then
//! [`ChangedFiles::TooMany`] and every app counts as affected.
//!
//! A renamed file counts under both names: moving a file out of an app
//! changes that app as much as the one it moves into.
//!
//! What one push changed comes from comparing its two commits:
//! `GET /repos/{owner}/{repo}/compare/{before}...{after}`, whose files
//! GitHub lists up to 300 (so 300 is "too many"). Only a push that moved
//! the branch forward is compared: after a force push the old commit's
//! changes may be gone, which a comparison from the merge base cannot
//! show, so its files are unknown.

use http::Method;
use serde::Deserialize;

use super::client::{Client, ForgeError};
use crate::apps::affected::{ChangedFiles, GITHUB_FILES_CAP};
use crate::event::CommitSha;
use crate::stage::PrNumber;

/// GitHub lists at most this many files of a comparison.
pub const COMPARE_FILES_CAP: usize = 300;

/// 3,000 files at 100 a page is 30 pages; a server that keeps sending
/// `next` links past that is not followed further.
const MAX_PAGES: usize = GITHUB_FILES_CAP / 100 + 1;

/// The part of a DiffEntry (GitHub's schema for one changed file) read.
#[derive(Deserialize)]
struct DiffEntry {
    filename: String,
    #[serde(default)]
    previous_filename: Option<String>,
}

impl DiffEntry {
    /// Its path, and its old path when it was renamed.
    fn paths(self) -> impl Iterator<Item = String> {
        self.previous_filename
            .filter(|p| !p.is_empty())
            .into_iter()
            .chain(Some(self.filename).filter(|f| !f.is_empty()))
    }
}

/// The part of a comparison read.
#[derive(Deserialize)]
struct Comparison {
    status: String,
    #[serde(default)]
    files: Vec<DiffEntry>,
}

/// The files `head` changes since `base`, when `head` is `base` moved
/// forward; see the module's documentation.
pub fn compared_files(
    client: &Client,
    repository: &str,
    base: &CommitSha,
    head: &CommitSha,
) -> Result<ChangedFiles, ForgeError> {
    super::names::RepoName::parse(repository).map_err(ForgeError::Setup)?;
    let what = format!("the comparison of {} and {}", base.short(), head.short());
    let c: Comparison = client
        .send::<()>(
            Method::GET,
            &format!(
                "/repos/{repository}/compare/{}...{}",
                base.as_str(),
                head.as_str()
            ),
            None,
            &what,
        )?
        .json(&what)?;
    if !matches!(c.status.as_str(), "ahead" | "identical") {
        return Ok(ChangedFiles::Unknown {
            why: format!(
                "{} does not follow {} ({}): the branch was force-pushed",
                head.short(),
                base.short(),
                c.status
            ),
        });
    }
    if c.files.len() >= COMPARE_FILES_CAP {
        return Ok(ChangedFiles::TooMany {
            listed: c.files.len(),
        });
    }
    Ok(ChangedFiles::Known {
        files: c.files.into_iter().flat_map(DiffEntry::paths).collect(),
    })
}

/// The changed files of pull request `number` of `repository`
/// (`OWNER/REPO`), every page.
pub fn changed_files(
    client: &Client,
    repository: &str,
    number: PrNumber,
) -> Result<ChangedFiles, ForgeError> {
    super::names::RepoName::parse(repository).map_err(ForgeError::Setup)?;
    let what = format!("the changed files of #{number}");
    let mut next = Some(format!(
        "/repos/{repository}/pulls/{number}/files?per_page=100"
    ));
    let mut files = Vec::new();
    let mut listed = 0usize;
    let mut pages = 0usize;
    while let Some(url) = next {
        pages += 1;
        if pages > MAX_PAGES {
            tracing::warn!("{what}: more than {MAX_PAGES} pages; taking them as too many");
            return Ok(ChangedFiles::TooMany { listed });
        }
        let answer = client.send::<()>(Method::GET, &url, None, &what)?;
        let page: Vec<DiffEntry> = answer.json(&what)?;
        listed += page.len();
        files.extend(page.into_iter().flat_map(DiffEntry::paths));
        // Exactly 3,000 cannot be told apart from more: assume more, since
        // deploying an app too many is safe and missing one is not.
        if listed >= GITHUB_FILES_CAP {
            return Ok(ChangedFiles::TooMany { listed });
        }
        next = answer.next_link();
    }
    Ok(ChangedFiles::Known { files })
}
