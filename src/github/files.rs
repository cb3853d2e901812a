//! The files a pull request changes, as GitHub lists them:
//! `GET /repos/{owner}/{repo}/pulls/{n}/files`, 100 per page, following
//! `Link: rel="next"`. GitHub lists at most 3,000 files; a pull request
//! that reaches that many may have more, so the answer is then
//! [`ChangedFiles::TooMany`] and every app counts as affected.
//!
//! A renamed file counts under both names: moving a file out of an app
//! changes that app as much as the one it moves into.

use http::Method;
use serde::Deserialize;

use super::client::{Client, ForgeError};
use crate::apps::affected::{ChangedFiles, GITHUB_FILES_CAP};
use crate::stage::PrNumber;

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
        for entry in page {
            files.extend(entry.previous_filename.filter(|p| !p.is_empty()));
            if !entry.filename.is_empty() {
                files.push(entry.filename);
            }
        }
        // Exactly 3,000 cannot be told apart from more: assume more, since
        // deploying an app too many is safe and missing one is not.
        if listed >= GITHUB_FILES_CAP {
            return Ok(ChangedFiles::TooMany { listed });
        }
        next = answer.next_link();
    }
    Ok(ChangedFiles::Known { files })
}
