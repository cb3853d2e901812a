//! The sticky PR comment: one per stage, found again by a hidden marker.

use std::fmt::Write as _;

use serde::Serialize;

use super::markdown;
use crate::event::CommitSha;
use crate::stage::Stage;

/// GitHub refuses comment bodies longer than this many characters.
pub const MAX_COMMENT_CHARS: usize = 65_536;

/// The hidden line that identifies a stage's comment.
pub fn marker(stage: &Stage) -> String {
    format!("<!-- alchemy-ci:stage={stage} -->")
}

/// A comment shows the stage's status, the same as its record's.
pub use crate::record::RecordStatus as CommentStatus;

fn headline(s: CommentStatus) -> (&'static str, &'static str) {
    match s {
        CommentStatus::Deploying => ("🚧", "Deploying"),
        CommentStatus::Deployed => ("✅", "Deployed"),
        CommentStatus::Failed => ("❌", "Deploy failed"),
        CommentStatus::Destroying => ("🧹", "Destroying"),
        CommentStatus::Destroyed => ("🗑️", "Destroyed"),
        CommentStatus::DestroyFailed => ("⚠️", "Destroy failed"),
    }
}

/// A URL and the resource it came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct NamedUrl {
    pub resource: String,
    pub url: String,
}

/// Everything a comment shows.
#[derive(Debug, Clone)]
pub struct CommentInput<'a> {
    pub stage: &'a Stage,
    pub status: CommentStatus,
    /// Link target for the commit: `<server>/<owner>/<repo>`.
    pub repo_url: Option<String>,
    pub sha: Option<&'a CommitSha>,
    pub urls: &'a [NamedUrl],
    pub run_url: Option<&'a str>,
    /// When the comment was written, already formatted; absent in previews.
    pub updated_at: Option<&'a str>,
    /// The last lines of the program's output, shown on failure.
    pub log_tail: Option<&'a str>,
    /// What a destroy removed, or, when it failed, what is left.
    pub removed: &'a [String],
    /// For a merged PR: the stage the merge deploys to, and its URL.
    pub merged_into: Option<(&'a Stage, Option<&'a str>)>,
    /// Why a destroy that Alchemy reported as a success is not verified.
    pub unverified: Option<&'a str>,
    /// Why the stage went away while its PR is open, and how to bring it
    /// back.
    pub note: Option<&'a str>,
    /// Markdown below the status (a command's answer, the help, an
    /// approval, a ttl warning), escaped where it repeats untrusted text.
    pub sections: &'a [String],
}

/// Renders the comment body, under GitHub's limit: the status, stage and
/// primary URL always fit; the URL table and the list of removed
/// resources share a budget, and the log block takes what room is left.
pub fn render(c: &CommentInput<'_>) -> String {
    let unverified = c
        .unverified
        .filter(|_| c.status == CommentStatus::Destroyed);
    let mut out = summary_table(c, unverified.is_some());
    if let Some(why) = unverified {
        let _ = writeln!(out, "\n> ⚠️ {}.", markdown::text(why));
    }
    if let Some(note) = c.note {
        let _ = writeln!(out, "\n{}", markdown::text(note));
    }
    for section in c.sections {
        let _ = writeln!(out, "\n{}", section.trim_end());
    }
    // Names and URLs come from the app: however many or long, the lists
    // share a budget, so the status above and the footer always fit.
    let lists_end = out.len() + LISTS_BUDGET;
    url_table(&mut out, c.urls, lists_end);
    removed_list(&mut out, c, lists_end);
    let footer =
        "\n<sub>Posted by alchemy-ci · updated in place on every run of this stage</sub>\n";
    if let Some(log) = c.log_tail.filter(|l| !l.trim().is_empty()) {
        let open = "\n<details><summary>Last lines of output</summary>\n\n<pre>";
        let close = "</pre>\n</details>\n";
        let room = MAX_COMMENT_CHARS.saturating_sub(
            out.chars().count() + open.len() + close.len() + footer.chars().count() + 64,
        );
        out.push_str(open);
        out.push_str(&tail_chars(&markdown::html(log), room));
        out.push_str(close);
    }
    out.push_str(footer);
    out
}

/// The comment of a stage without a preview (nothing recorded): the
/// marker, a headline and `sections`, for a command's answer.
pub fn render_without_preview(stage: &Stage, sections: &[String], run_url: Option<&str>) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "{}", marker(stage));
    let _ = writeln!(out, "### 💤 Preview `{stage}` · not deployed");
    for section in sections {
        let _ = writeln!(out, "\n{}", section.trim_end());
    }
    if let Some(run) = run_url.and_then(markdown::url) {
        let _ = writeln!(out, "\n[Workflow run]({run})");
    }
    out.push_str(
        "\n<sub>Posted by alchemy-ci · updated in place on every run of this stage</sub>\n",
    );
    out
}

/// The marker, the headline and the table of status, stage, commit,
/// preview, logs, merge target and time.
fn summary_table(c: &CommentInput<'_>, unverified: bool) -> String {
    let (icon, word) = headline(c.status);
    let word = if unverified {
        "Destroyed, not verified"
    } else {
        word
    };
    let mut out = String::new();
    let _ = writeln!(out, "{}", marker(c.stage));
    let _ = writeln!(out, "### {icon} Preview `{}` · {word}\n", c.stage);
    out.push_str("| | |\n|---|---|\n");
    let _ = writeln!(out, "| **Status** | {icon} {word} |");
    let _ = writeln!(out, "| **Stage** | `{}` |", c.stage);
    if let Some(sha) = c.sha {
        let short = sha.short();
        // The repository and server are validated where they are read; the
        // link still goes through the one URL check.
        let commit_url = c
            .repo_url
            .as_deref()
            .and_then(|repo| markdown::url(&format!("{repo}/commit/{}", sha.as_str())));
        match commit_url {
            Some(link) => {
                let _ = writeln!(out, "| **Commit** | [`{short}`]({link}) |");
            }
            None => {
                let _ = writeln!(out, "| **Commit** | `{short}` |");
            }
        }
    }
    if let Some(primary) = c.urls.first() {
        let _ = writeln!(out, "| **Preview** | {} |", markdown::link(&primary.url));
    }
    if let Some(run) = c.run_url.and_then(markdown::url) {
        let _ = writeln!(out, "| **Logs** | [workflow run]({run}) |");
    }
    if let Some((stage, url)) = c.merged_into {
        let link = url
            .map(|u| format!(" at {}", markdown::link(u)))
            .unwrap_or_default();
        let _ = writeln!(out, "| **Merged into** | `{stage}`{link} |");
    }
    if let Some(at) = c.updated_at {
        let _ = writeln!(out, "| **Updated** | {} |", markdown::text(at));
    }
    out
}

/// Every URL with its resource, when there is more than one, within the
/// lists' budget.
fn url_table(out: &mut String, urls: &[NamedUrl], lists_end: usize) {
    if urls.len() <= 1 {
        return;
    }
    out.push_str("\n| Resource | URL |\n|---|---|\n");
    for (i, u) in urls.iter().enumerate() {
        let row = format!(
            "| {} | {} |\n",
            markdown::text(&clip(&u.resource)),
            markdown::link(&u.url)
        );
        if out.len() + row.len() > lists_end {
            let _ = writeln!(out, "| … | and {} more |", urls.len() - i);
            break;
        }
        out.push_str(&row);
    }
}

/// The resources a destroy removed, or left, within the lists' budget.
fn removed_list(out: &mut String, c: &CommentInput<'_>, lists_end: usize) {
    if c.removed.is_empty() {
        return;
    }
    let what = if c.status == CommentStatus::DestroyFailed {
        "Still in the state"
    } else {
        "Removed"
    };
    let _ = writeln!(
        out,
        "\n<details><summary>{what}: {} resource{}</summary>\n",
        c.removed.len(),
        if c.removed.len() == 1 { "" } else { "s" }
    );
    for (i, r) in c.removed.iter().enumerate() {
        let item = format!("- {}\n", markdown::text(&clip(r)));
        if out.len() + item.len() > lists_end {
            let _ = writeln!(out, "- … and {} more", c.removed.len() - i);
            break;
        }
        out.push_str(&item);
    }
    out.push_str("\n</details>\n");
}

/// Room for the URL table and the list of removed resources together.
const LISTS_BUDGET: usize = 40_000;

/// The longest resource name shown in full.
const NAME_CHARS: usize = 120;

fn clip(s: &str) -> String {
    if s.chars().count() <= NAME_CHARS {
        return s.to_owned();
    }
    let mut t: String = s.chars().take(NAME_CHARS).collect();
    t.push('…');
    t
}

/// The last `max` characters of `s`, cut at a line start when one is near.
fn tail_chars(s: &str, max: usize) -> String {
    let count = s.chars().count();
    if count <= max {
        return s.to_owned();
    }
    let cut: String = s.chars().skip(count - max).collect();
    // Never start in the middle of an entity such as `&lt;`.
    let from = cut.find('\n').map_or(0, |i| i + 1);
    format!("… (earlier output trimmed)\n{}", &cut[from..])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stage::StagePrefix;

    fn stage() -> Stage {
        Stage::parse("pr-1", &StagePrefix::default()).expect("valid")
    }

    #[test]
    fn huge_log_is_trimmed_and_status_and_urls_survive() {
        let s = stage();
        let urls = vec![NamedUrl {
            resource: "site".into(),
            url: "https://pr-1.example.test".into(),
        }];
        let log = "error: something broke <here>\n".repeat(10_000);
        let body = render(&CommentInput {
            stage: &s,
            status: CommentStatus::Failed,
            repo_url: None,
            sha: None,
            urls: &urls,
            run_url: None,
            updated_at: None,
            log_tail: Some(&log),
            removed: &[],
            merged_into: None,
            unverified: None,
            note: None,
            sections: &[],
        });
        assert!(body.chars().count() <= MAX_COMMENT_CHARS);
        assert!(body.starts_with(&marker(&s)));
        assert!(body.contains("Deploy failed"));
        assert!(body.contains("https://pr-1.example.test"));
        assert!(body.contains("earlier output trimmed"));
        assert!(!body.contains("<here>"));
    }

    #[test]
    fn many_long_names_and_urls_still_fit() {
        let s = stage();
        let urls: Vec<NamedUrl> = (0..500)
            .map(|i| NamedUrl {
                resource: format!("{i}{}", "\u{202e}<x>".repeat(500)),
                url: format!("https://pr-1.example.test/{i}/{}", "a".repeat(2000)),
            })
            .collect();
        let removed: Vec<String> = (0..500)
            .map(|i| format!("{i}{}", "_".repeat(5000)))
            .collect();
        let body = render(&CommentInput {
            stage: &s,
            status: CommentStatus::DestroyFailed,
            repo_url: None,
            sha: None,
            urls: &urls,
            run_url: None,
            updated_at: None,
            log_tail: Some(&"log line\n".repeat(10_000)),
            removed: &removed,
            merged_into: None,
            unverified: None,
            note: None,
            sections: &[],
        });
        assert!(body.chars().count() <= MAX_COMMENT_CHARS, "{}", body.len());
        assert!(body.contains("more |") && body.contains("- … and"));
        assert!(body.ends_with("</sub>\n"));
    }

    #[test]
    fn log_cannot_forge_a_marker() {
        let s = stage();
        let body = render(&CommentInput {
            stage: &s,
            status: CommentStatus::Failed,
            repo_url: None,
            sha: None,
            urls: &[],
            run_url: None,
            updated_at: None,
            log_tail: Some("<!-- alchemy-ci:stage=pr-2 -->\n</pre><img src=x>"),
            removed: &[],
            merged_into: None,
            unverified: None,
            note: None,
            sections: &[],
        });
        assert_eq!(body.matches("<!--").count(), 1);
        assert!(!body.contains("<img"));
    }
}

#[cfg(test)]
mod unverified_tests {
    use super::*;
    use crate::stage::StagePrefix;

    /// A destroy alchemy-ci could not check never reads as a plain one.
    #[test]
    fn an_unverified_destroy_says_so_in_the_status_and_why() {
        let s = Stage::parse("pr-1", &StagePrefix::default()).expect("valid");
        let why = "Alchemy reported success; this app keeps its state in its own store, so alchemy-ci could not verify it";
        let input = CommentInput {
            stage: &s,
            status: CommentStatus::Destroyed,
            repo_url: None,
            sha: None,
            urls: &[],
            run_url: None,
            updated_at: None,
            log_tail: None,
            removed: &[],
            merged_into: None,
            unverified: Some(why),
            note: None,
            sections: &[],
        };
        let body = render(&input);
        assert!(
            body.contains("| **Status** | 🗑️ Destroyed, not verified |"),
            "{body}"
        );
        assert!(body.contains("could not verify it."), "{body}");
        let plain = render(&CommentInput {
            unverified: None,
            note: None,
            sections: &[],
            ..input
        });
        assert!(plain.contains("| **Status** | 🗑️ Destroyed |"), "{plain}");
        assert!(!plain.contains("verify"), "{plain}");
    }
}
