//! The one sticky comment of a pull request with several apps (a row per
//! app under a headline such as "2 deployed, 1 failed, 3 not affected"),
//! the same text as a job summary, and the `urls` step output keyed by
//! app.
//!
//! The comment always fits GitHub's 65,536 characters and always lists
//! every app ([`super::spec::MAX_APPS`] of them with the longest names
//! fit in the minimal row form). Everything else has a budget:
//!
//! 1. the frame (marker, headline, notes, footer) and one minimal row per
//!    app are reserved first;
//! 2. the table then takes up to half of the room, each row in the richest
//!    form that fits its share (links to the preview and the commit, the
//!    reason it deployed), shares carried over from rows that needed less;
//! 3. the rest goes to the collapsed details of each app (failures first):
//!    its URLs, the resources that changed and a failure's last lines of
//!    output, each cut to its share with "… and N more" pointing at the
//!    workflow run.
//!
//! Every piece of text that is not ours (URLs, resource names, file names,
//! log lines, notes) goes through [`crate::github::markdown`]; app and
//! stage names are validated types.

use std::fmt::Write as _;

use super::changes::{ChangeSource, Changes};
use super::spec::AppName;
use crate::event::CommitSha;
use crate::github::comment::{NamedUrl, MAX_COMMENT_CHARS};
use crate::github::markdown;
use crate::record::RecordStatus;
use crate::stage::{PrNumber, Stage};

/// The job summary's budget, in characters: GitHub takes 1 MiB per step
/// summary, and a character is at most 4 bytes.
pub const MAX_SUMMARY_CHARS: usize = 250_000;

/// The hidden line that finds this PR's apps comment again. It names the
/// PR, not a stage, and is never a substring of a single-app comment's
/// marker (`<!-- alchemy-ci:stage=pr-7 -->`) or of another PR's.
pub fn marker(pr: PrNumber) -> String {
    format!("<!-- alchemy-ci:pr={pr} -->")
}

/// Where an app stands after this run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AppStatus {
    Deploying,
    Deployed,
    Failed,
    /// Not run because `failed`, which it waits on, failed.
    Skipped {
        failed: AppName,
    },
    /// Untouched by this push: its last status, left as it was.
    Unchanged {
        last: RecordStatus,
    },
    NotAffected,
    Destroying,
    Destroyed,
    DestroyFailed,
}

impl AppStatus {
    fn icon_word(&self) -> (&'static str, &'static str) {
        match self {
            Self::Deploying => ("🚧", "Deploying"),
            Self::Deployed => ("✅", "Deployed"),
            Self::Failed => ("❌", "Deploy failed"),
            Self::Skipped { .. } => ("⏭️", "Skipped"),
            Self::NotAffected => ("➖", "Not affected"),
            Self::Destroying => ("🧹", "Destroying"),
            Self::Destroyed => ("🗑️", "Destroyed"),
            Self::DestroyFailed => ("⚠️", "Destroy failed"),
            Self::Unchanged { last } => Self::of_record(*last).icon_word(),
        }
    }

    fn of_record(s: RecordStatus) -> Self {
        match s {
            RecordStatus::Deploying => Self::Deploying,
            RecordStatus::Deployed => Self::Deployed,
            RecordStatus::Failed => Self::Failed,
            RecordStatus::Destroying => Self::Destroying,
            RecordStatus::Destroyed => Self::Destroyed,
            RecordStatus::DestroyFailed => Self::DestroyFailed,
        }
    }

    /// The headline group this status counts in.
    fn group(&self) -> &'static str {
        match self {
            Self::Unchanged { last } => Self::of_record(*last).group(),
            Self::Deploying => "deploying",
            Self::Deployed => "deployed",
            Self::Failed => "failed",
            Self::Skipped { .. } => "skipped",
            Self::NotAffected => "not affected",
            Self::Destroying => "destroying",
            Self::Destroyed => "destroyed",
            Self::DestroyFailed => "destroy failed",
        }
    }

    fn failed(&self) -> bool {
        matches!(self.group(), "failed" | "destroy failed")
    }
}

/// The headline groups, in the order they are counted.
const GROUPS: &[&str] = &[
    "deployed",
    "deploying",
    "failed",
    "skipped",
    "not affected",
    "destroying",
    "destroyed",
    "destroy failed",
];

/// Everything one app's row and details show.
#[derive(Debug, Clone)]
pub struct AppRow<'a> {
    pub app: &'a AppName,
    pub status: AppStatus,
    /// Why it deployed or not, in a few words (may hold a file name).
    pub why: Option<&'a str>,
    /// Primary first.
    pub urls: &'a [NamedUrl],
    pub sha: Option<&'a CommitSha>,
    /// When the app last changed, already formatted.
    pub updated_at: Option<&'a str>,
    pub changes: Option<&'a Changes>,
    /// The last lines of Alchemy's output, shown for failures.
    pub log_tail: Option<&'a str>,
}

/// The whole comment.
#[derive(Debug, Clone)]
pub struct PrComment<'a> {
    /// The pull request; `None` for a stage that is not a PR's (a branch
    /// stage), which has a job summary but no comment.
    pub pr: Option<PrNumber>,
    pub stage: &'a Stage,
    /// `<server>/<owner>/<repo>`, for commit links.
    pub repo_url: Option<&'a str>,
    pub run_url: Option<&'a str>,
    /// What the reader must know about how apps were chosen.
    pub notes: &'a [String],
    pub rows: &'a [AppRow<'a>],
}

/// "2 deployed, 1 failed, 3 not affected".
pub fn headline(rows: &[AppRow<'_>]) -> String {
    let parts: Vec<String> = GROUPS
        .iter()
        .filter_map(|g| {
            let n = rows.iter().filter(|r| r.status.group() == *g).count();
            (n > 0).then(|| format!("{n} {g}"))
        })
        .collect();
    if parts.is_empty() {
        "no apps".into()
    } else {
        parts.join(", ")
    }
}

/// The PR comment body, at most [`MAX_COMMENT_CHARS`] characters.
pub fn render(c: &PrComment<'_>) -> String {
    render_within(c, MAX_COMMENT_CHARS, true)
}

/// The job summary: the same, without the marker, with more room.
pub fn render_summary(c: &PrComment<'_>) -> String {
    render_within(c, MAX_SUMMARY_CHARS, false)
}

/// The `urls` step output: a JSON object of every app's URLs (primary
/// first; `[]` when it has none), keyed by app name.
pub fn urls_output(rows: &[AppRow<'_>]) -> String {
    let map: serde_json::Map<String, serde_json::Value> = rows
        .iter()
        .map(|r| {
            let urls = r
                .urls
                .iter()
                .filter(|u| markdown::url(&u.url).is_some())
                .map(|u| serde_json::Value::String(u.url.clone()))
                .collect();
            (r.app.to_string(), serde_json::Value::Array(urls))
        })
        .collect();
    serde_json::Value::Object(map).to_string()
}

/// Room kept free for rounding and the closing lines.
const SLACK: usize = 256;
/// Longest text shown in a table cell.
const WHY_CHARS: usize = 80;
const HOST_CHARS: usize = 60;
const WHEN_CHARS: usize = 40;
const NOTE_CHARS: usize = 500;
const MAX_NOTES: usize = 10;
const NAME_CHARS: usize = 120;

fn render_within(c: &PrComment<'_>, limit: usize, with_marker: bool) -> String {
    let run = c.run_url.and_then(markdown::url);
    let head = frame_head(c, with_marker);
    let foot = frame_foot(run.as_deref());
    let forms: Vec<[String; 3]> = c.rows.iter().map(|r| row_forms(r, c)).collect();
    let minimal: Vec<&str> = forms.iter().map(|f| f[2].as_str()).collect();
    let fixed = count(&head) + count(&foot) + minimal.iter().map(|r| count(r)).sum::<usize>();
    let room = limit.saturating_sub(fixed + SLACK);

    // Rows: each in the richest form that fits an equal share of half
    // the room, so one app's huge URL costs only its own links.
    let share = (room / 2) / c.rows.len().max(1);
    let table: String = forms
        .iter()
        .map(|f| {
            let min = count(&f[2]);
            f.iter()
                .find(|l| count(l) <= min + share)
                .map_or(f[2].as_str(), String::as_str)
        })
        .collect();

    let mut out = head;
    out.push_str(&table);
    let used = count(&out) + count(&foot) + SLACK;
    out.push_str(&details(c, limit.saturating_sub(used), run.as_deref()));
    out.push_str(&foot);
    if count(&out) > limit {
        // Cannot happen with the budgets above; if it ever did, the rows
        // alone still fit.
        let mut bare = frame_head(c, with_marker);
        bare.push_str(&minimal.concat());
        bare.push_str(&frame_foot(run.as_deref()));
        return bare;
    }
    out
}

fn frame_head(c: &PrComment<'_>, with_marker: bool) -> String {
    let mut out = String::new();
    match c.pr {
        Some(pr) => {
            if with_marker {
                let _ = writeln!(out, "{}", marker(pr));
            }
            let _ = writeln!(
                out,
                "### Previews of #{pr} (`{}`) · {}\n",
                c.stage,
                headline(c.rows)
            );
        }
        None => {
            let _ = writeln!(out, "### Apps of `{}` · {}\n", c.stage, headline(c.rows));
        }
    }
    for note in c.notes.iter().take(MAX_NOTES) {
        let _ = writeln!(out, "> **Note:** {}\n", esc_clip(note, NOTE_CHARS));
    }
    out.push_str("| App | Status | Preview | Commit | Updated | Changes |\n");
    out.push_str("|---|---|---|---|---|---|\n");
    out
}

fn frame_foot(run: Option<&str>) -> String {
    let link = run
        .map(|u| format!(" · [workflow run]({u})"))
        .unwrap_or_default();
    format!("\n<sub>Posted by alchemy-ci · one comment for every app of this pull request, updated in place{link}</sub>\n")
}

/// A row in each of its forms, richest first: links to the preview and
/// the commit with the reason; the preview's address and the commit as
/// text with a shorter reason; and the minimal form (name, status, short
/// commit, time, counts), bounded whatever the input so that every app
/// always fits.
fn row_forms(r: &AppRow<'_>, c: &PrComment<'_>) -> [String; 3] {
    let (icon, word) = r.status.icon_word();
    let mut status = format!("{icon} {word}");
    if matches!(r.status, AppStatus::Unchanged { .. }) {
        status.push_str(", unchanged");
    }
    if let AppStatus::Skipped { failed } = &r.status {
        let _ = write!(status, ": `{failed}` failed");
    }
    let why = |chars: usize| match r.why.filter(|w| !w.is_empty()) {
        Some(w) => format!("{status}<br><sub>{}</sub>", esc_clip(w, chars)),
        None => status.clone(),
    };
    let short = r
        .sha
        .map(|sha| format!("`{}`", sha.short()))
        .unwrap_or_default();
    let commit_link = r
        .sha
        .zip(c.repo_url)
        .and_then(|(sha, repo)| markdown::url(&format!("{repo}/commit/{}", sha.as_str())))
        .map(|l| format!("[{short}]({l})"));
    let when = r
        .updated_at
        .map(|t| esc_clip(t, WHEN_CHARS))
        .unwrap_or_default();
    let changes = r.changes.map(change_cell).unwrap_or_default();
    let [full, text, count] = preview_cells(r.urls);
    let line = |status: &str, preview: &str, commit: &str| {
        format!(
            "| `{}` | {status} | {preview} | {commit} | {when} | {changes} |\n",
            r.app
        )
    };
    [
        line(
            &why(WHY_CHARS),
            &full,
            commit_link.as_deref().unwrap_or(&short),
        ),
        line(&why(WHY_CHARS / 2), &text, &short),
        line(&status, &count, &short),
    ]
}

/// The preview cell as a link, as text, and as a count. URLs come from
/// [`crate::alchemy::urls::collect`], which keeps only valid ones; the
/// first that passes the check again is the one shown.
fn preview_cells(urls: &[NamedUrl]) -> [String; 3] {
    let Some((i, link, raw)) = urls
        .iter()
        .enumerate()
        .find_map(|(i, u)| markdown::url(&u.url).map(|l| (i, l, u.url.as_str())))
    else {
        return Default::default();
    };
    let others = urls.len() - i - 1;
    let more = match others {
        0 => String::new(),
        n => format!(" (+{n})"),
    };
    let shown = raw
        .split_once("://")
        .map_or(raw, |(_, rest)| rest)
        .trim_end_matches('/');
    [
        format!("[{}]({link}){more}", esc_clip(shown, HOST_CHARS)),
        format!("{}{more}", esc_clip(shown, HOST_CHARS / 2)),
        match others + 1 {
            1 => "1 URL".into(),
            n => format!("{n} URLs"),
        },
    ]
}

fn change_cell(ch: &Changes) -> String {
    let when = match ch.source {
        ChangeSource::Plan => "will change",
        ChangeSource::State => "changed",
    };
    if ch.is_empty() {
        format!("no resources {when}")
    } else {
        format!("{} ({when})", ch.summary())
    }
}

/// The collapsed sections, failures first, within `room` characters.
fn details(c: &PrComment<'_>, room: usize, run: Option<&str>) -> String {
    let mut order: Vec<&AppRow<'_>> = c.rows.iter().filter(|r| has_details(r)).collect();
    order.sort_by_key(|r| !r.status.failed());
    let mut out = String::new();
    let mut left = room;
    let mut untold = 0;
    for (i, r) in order.iter().enumerate() {
        let share = left / (order.len() - i);
        match app_details(r, share, run) {
            Some(block) => {
                left = left.saturating_sub(count(&block));
                out.push_str(&block);
            }
            None => untold += 1,
        }
    }
    if untold > 0 {
        let see = run
            .map(|u| format!(": see the [workflow run]({u})"))
            .unwrap_or_default();
        let line = format!("\n_Details of {untold} more apps did not fit{see}._\n");
        if count(&line) <= left {
            out.push_str(&line);
        }
    }
    out
}

fn has_details(r: &AppRow<'_>) -> bool {
    r.urls.len() > 1
        || r.changes.is_some_and(|c| !c.is_empty())
        || (r.status.failed() && r.log_tail.is_some_and(|l| !l.trim().is_empty()))
}

/// One app's `<details>` within `share` characters, or `None` when not
/// even its frame fits.
fn app_details(r: &AppRow<'_>, share: usize, run: Option<&str>) -> Option<String> {
    let mut what = Vec::new();
    if r.urls.len() > 1 {
        what.push(format!("{} URLs", r.urls.len()));
    }
    if let Some(ch) = r.changes.filter(|c| !c.is_empty()) {
        let verb = match ch.source {
            ChangeSource::Plan => "will change",
            ChangeSource::State => "changed",
        };
        what.push(format!("{} resources {verb}", ch.total()));
    }
    let log = r
        .log_tail
        .filter(|l| r.status.failed() && !l.trim().is_empty());
    if log.is_some() {
        what.push("last lines of output".into());
    }
    let open = format!(
        "\n<details><summary><code>{}</code> · {}</summary>\n\n",
        r.app,
        what.join(" · ")
    );
    let close = "</details>\n";
    let frame = count(&open) + close.len();
    if share < frame + 64 {
        return None;
    }
    let mut left = share - frame;
    let mut parts: Vec<Box<dyn Fn(usize) -> String + '_>> = Vec::new();
    if r.urls.len() > 1 {
        parts.push(Box::new(|room| url_table(r.urls, room, run)));
    }
    if let Some(ch) = r.changes.filter(|c| !c.is_empty()) {
        parts.push(Box::new(move |room| change_list(ch, room, run)));
    }
    if let Some(log) = log {
        parts.push(Box::new(move |room| log_block(log, room)));
    }
    let mut body = String::new();
    let total = parts.len();
    for (i, part) in parts.iter().enumerate() {
        let text = part(left / (total - i));
        left = left.saturating_sub(count(&text));
        body.push_str(&text);
    }
    Some(format!("{open}{body}{close}"))
}

/// "… and 12 more" with a pointer to where the rest is.
fn more_line(n: usize, run: Option<&str>) -> String {
    match run {
        Some(u) => format!("… and {n} more: see the [workflow run]({u})"),
        None => format!("… and {n} more"),
    }
}

fn url_table(urls: &[NamedUrl], room: usize, run: Option<&str>) -> String {
    let mut out = String::from("| Resource | URL |\n|---|---|\n");
    let mut len = count(&out);
    let reserve = count(&more_line(urls.len(), run)) + 12;
    for (i, u) in urls.iter().enumerate() {
        let line = format!(
            "| {} | {} |\n",
            esc_clip(&u.resource, NAME_CHARS),
            link_clip(&u.url)
        );
        let n = count(&line);
        if len + n + reserve > room {
            let _ = writeln!(out, "| {} | |", more_line(urls.len() - i, run));
            break;
        }
        len += n;
        out.push_str(&line);
    }
    out.push('\n');
    if count(&out) > room {
        return String::new();
    }
    out
}

/// A link whose text is the URL clipped, or the clipped text of a URL we
/// do not link to.
fn link_clip(u: &str) -> String {
    match markdown::url(u) {
        Some(l) => format!("[{}]({l})", esc_clip(u, NAME_CHARS)),
        None => esc_clip(u, NAME_CHARS),
    }
}

fn change_list(ch: &Changes, room: usize, run: Option<&str>) -> String {
    let mut out = String::new();
    let mut len = 0;
    let reserve = count(&more_line(ch.total(), run)) + 8;
    for (i, (sign, id)) in ch.entries().enumerate() {
        let what = match sign {
            '+' => "created",
            '~' => "updated",
            '±' => "replaced",
            _ => "deleted",
        };
        let line = format!("- `{sign}` {} ({what})\n", esc_clip(id, NAME_CHARS));
        let n = count(&line);
        if len + n + reserve > room {
            let _ = writeln!(out, "- {}", more_line(ch.total() - i, run));
            break;
        }
        len += n;
        out.push_str(&line);
    }
    out.push('\n');
    if count(&out) > room {
        return String::new();
    }
    out
}

fn log_block(log: &str, room: usize) -> String {
    let open = "<pre>";
    let close = "</pre>\n\n";
    let inner = room.saturating_sub(open.len() + close.len());
    if inner < 32 {
        return String::new();
    }
    format!("{open}{}{close}", html_tail(log, inner))
}

fn count(s: &str) -> usize {
    s.chars().count()
}

/// Markdown-escaped `s`, at most `max` characters, ending in `…` when cut.
/// Escaping is per character, so a cut never splits an escape.
fn esc_clip(s: &str, max: usize) -> String {
    let full = markdown::text(s);
    if count(&full) <= max {
        return full;
    }
    let mut out = String::new();
    let mut n = 0;
    let mut buf = [0u8; 4];
    for c in s.chars() {
        let e = markdown::text(c.encode_utf8(&mut buf));
        let len = count(&e);
        if n + len + 1 > max {
            break;
        }
        n += len;
        out.push_str(&e);
    }
    if max > 0 {
        out.push('…');
    }
    out
}

/// The end of `s`, HTML-escaped for a `<pre>`, at most `max` characters,
/// starting at a line when it was cut.
fn html_tail(s: &str, max: usize) -> String {
    const TRIMMED: &str = "… (earlier output trimmed)\n";
    let mut pieces: Vec<String> = Vec::new();
    let mut n = 0;
    let budget = max.saturating_sub(count(TRIMMED));
    let mut buf = [0u8; 4];
    let mut cut = false;
    for c in s.chars().rev() {
        let e = markdown::html(c.encode_utf8(&mut buf));
        let len = count(&e);
        if n + len > budget {
            cut = true;
            break;
        }
        n += len;
        pieces.push(e);
    }
    let tail: String = pieces.into_iter().rev().collect();
    if !cut {
        return tail;
    }
    let from = tail.find('\n').map_or(0, |i| i + 1);
    format!("{TRIMMED}{}", &tail[from..])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stage::StagePrefix;

    fn stage() -> Stage {
        Stage::parse("pr-7", &StagePrefix::default()).expect("stage")
    }

    fn pr() -> PrNumber {
        PrNumber::new(7).expect("pr")
    }

    fn name(s: &str) -> AppName {
        AppName::parse(s).expect("name")
    }

    fn sha() -> CommitSha {
        CommitSha::parse(&"ab12".repeat(10)).expect("sha")
    }

    fn url(resource: &str, u: &str) -> NamedUrl {
        NamedUrl {
            resource: resource.into(),
            url: u.into(),
        }
    }

    fn row<'a>(app: &'a AppName, status: AppStatus) -> AppRow<'a> {
        AppRow {
            app,
            status,
            why: None,
            urls: &[],
            sha: None,
            updated_at: None,
            changes: None,
            log_tail: None,
        }
    }

    #[test]
    fn a_typical_comment() {
        let (api, web, docs, admin) = (name("api"), name("web"), name("docs"), name("admin"));
        let sha = sha();
        let api_urls = vec![
            url("worker", "https://pr-7.api.example.test/"),
            url("worker.adminUrl", "https://pr-7.api.example.test/admin"),
        ];
        let changes = Changes {
            source: ChangeSource::Plan,
            created: vec!["cache".into()],
            updated: vec!["worker".into()],
            replaced: vec![],
            deleted: vec![],
        };
        let rows = vec![
            AppRow {
                why: Some("apps/api/src/index.ts matched apps/api/**"),
                urls: &api_urls,
                sha: Some(&sha),
                updated_at: Some("2026-11-23 13:49 UTC"),
                changes: Some(&changes),
                ..row(&api, AppStatus::Deployed)
            },
            AppRow {
                sha: Some(&sha),
                log_tail: Some("building…\nerror: <boom>\n"),
                ..row(&web, AppStatus::Failed)
            },
            row(&docs, AppStatus::NotAffected),
            row(
                &admin,
                AppStatus::Skipped {
                    failed: web.clone(),
                },
            ),
        ];
        let s = stage();
        let notes = vec!["the changed files are not known".to_owned()];
        let body = render(&PrComment {
            pr: Some(pr()),
            stage: &s,
            repo_url: Some("https://github.com/o/r"),
            run_url: Some("https://github.com/o/r/actions/runs/9"),
            notes: &notes,
            rows: &rows,
        });
        insta::assert_snapshot!(body);
    }

    #[test]
    fn headline_counts_groups_in_order() {
        let (a, b, c, d, e) = (name("a"), name("b"), name("c"), name("d"), name("e"));
        let rows = vec![
            row(&a, AppStatus::Deployed),
            row(
                &b,
                AppStatus::Unchanged {
                    last: RecordStatus::Deployed,
                },
            ),
            row(&c, AppStatus::Failed),
            row(&d, AppStatus::NotAffected),
            row(&e, AppStatus::NotAffected),
        ];
        assert_eq!(headline(&rows), "2 deployed, 1 failed, 2 not affected");
        assert_eq!(headline(&[]), "no apps");
    }

    #[test]
    fn urls_output_is_an_object_keyed_by_app() {
        let (api, docs) = (name("api"), name("docs"));
        let urls = vec![
            url("w", "https://a.test/"),
            url("x", "javascript:alert(1)"),
            url("y", "https://b.test/"),
        ];
        let rows = vec![
            AppRow {
                urls: &urls,
                ..row(&api, AppStatus::Deployed)
            },
            row(&docs, AppStatus::NotAffected),
        ];
        let v: serde_json::Value = serde_json::from_str(&urls_output(&rows)).expect("json");
        assert_eq!(
            v,
            serde_json::json!({"api": ["https://a.test/", "https://b.test/"], "docs": []})
        );
    }

    #[test]
    fn markers_never_contain_one_another() {
        let single = crate::github::comment::marker(&stage());
        let ours = marker(pr());
        let other = marker(PrNumber::new(70).expect("pr"));
        assert!(!single.contains(&ours) && !ours.contains(&single));
        assert!(!other.contains(&ours) && !ours.contains(&other));
    }

    /// The worst case the limit must survive: the most apps allowed, the
    /// longest names, each with 20 long hostile URLs, a long hostile
    /// failure log, hundreds of changed resources and a long reason; with
    /// a normal run URL and an absurd one.
    #[test]
    fn fifty_and_a_hundred_apps_with_everything_long_fit_and_all_are_listed() {
        let absurd_run = format!("https://github.com/o/r/actions/runs/{}", "9".repeat(2000));
        let cases = [
            (50, "https://github.com/o/r/actions/runs/9"),
            (50, absurd_run.as_str()),
            (
                super::super::spec::MAX_APPS,
                "https://github.com/o/r/actions/runs/9",
            ),
            (super::super::spec::MAX_APPS, absurd_run.as_str()),
        ];
        for (apps, run) in cases {
            let names: Vec<AppName> = (0..apps)
                .map(|i| name(&format!("{i:02}{}", "a".repeat(61))))
                .collect();
            let urls: Vec<NamedUrl> = (0..20)
                .map(|i| {
                    url(
                        &format!(
                            "res{i}\u{202e}<img src=x>](javascript:x)|{}",
                            "r".repeat(300)
                        ),
                        &format!("https://pr-7.example.test/{i}/{}(x)<y>|", "p".repeat(1900)),
                    )
                })
                .collect();
            let log = "error: <script>alert(1)</script> | ]( `x` \u{1b}[31m\n".repeat(5_000);
            let changes = Changes {
                source: ChangeSource::State,
                created: (0..300)
                    .map(|i| format!("res-{i}-{}", "<&>".repeat(100)))
                    .collect(),
                updated: vec![],
                replaced: vec![],
                deleted: (0..300).map(|i| format!("gone-{i}")).collect(),
            };
            let sha = sha();
            let why = "x/".repeat(500) + "<!-- alchemy-ci:pr=8 -->";
            let when = "2026-11-23T13:49:00Z".repeat(20);
            let rows: Vec<AppRow<'_>> = names
                .iter()
                .map(|n| AppRow {
                    app: n,
                    status: AppStatus::Failed,
                    why: Some(&why),
                    urls: &urls,
                    sha: Some(&sha),
                    updated_at: Some(&when),
                    changes: Some(&changes),
                    log_tail: Some(&log),
                })
                .collect();
            let s = stage();
            let notes: Vec<String> = (0..20).map(|_| "n<o>te ".repeat(500)).collect();
            let c = PrComment {
                pr: Some(pr()),
                stage: &s,
                repo_url: Some("https://github.com/o/r"),
                run_url: Some(run),
                notes: &notes,
                rows: &rows,
            };
            for (body, limit) in [
                (render(&c), MAX_COMMENT_CHARS),
                (render_summary(&c), MAX_SUMMARY_CHARS),
            ] {
                assert!(count(&body) <= limit, "{apps} apps: {} chars", count(&body));
                for n in &names {
                    assert!(body.contains(&format!("| `{n}` |")), "{n} missing");
                }
                assert_eq!(
                    body.matches("<!--").count(),
                    usize::from(limit == MAX_COMMENT_CHARS)
                );
                for bad in ["<img", "<script", "](javascript", "\u{202e}", "\u{1b}"] {
                    assert!(!body.contains(bad), "{bad:?} survived");
                }
                assert!(body.ends_with("</sub>\n"));
                assert!(
                    body.contains("earlier output trimmed"),
                    "logs get some room"
                );
                if run.len() < 100 {
                    assert!(
                        body.contains("more: see the [workflow run]("),
                        "cut lists point at the run"
                    );
                }
            }
        }
    }

    #[test]
    fn hostile_text_is_inert() {
        let api = name("api");
        let urls = vec![
            url("x", "https://evil.test/)[click](javascript:alert(1))"),
            url("<b>y</b>", "javascript:alert(1)"),
        ];
        let changes = Changes {
            source: ChangeSource::Plan,
            created: vec!["<img src=x onerror=alert(1)>".into()],
            updated: vec!["@admin #1 ![x](y)".into()],
            replaced: vec![],
            deleted: vec!["</details><details open>".into()],
        };
        let rows = vec![AppRow {
            why: Some("<!-- alchemy-ci:pr=8 --> | ] ("),
            urls: &urls,
            updated_at: Some("<script>"),
            changes: Some(&changes),
            log_tail: Some("</pre><img src=x>\n<!-- alchemy-ci:pr=9 -->"),
            ..row(&api, AppStatus::Failed)
        }];
        let s = stage();
        let notes = vec!["[x](javascript:alert(1)) <img>".to_owned()];
        let body = render(&PrComment {
            pr: Some(pr()),
            stage: &s,
            repo_url: Some("javascript:alert(1)//"),
            run_url: Some("javascript:alert(2)"),
            notes: &notes,
            rows: &rows,
        });
        assert_eq!(body.matches("<!--").count(), 1);
        assert_eq!(body.matches("<details>").count(), 1);
        for bad in [
            "<img",
            "<script",
            "](javascript",
            "</details><details open>",
            "</pre><",
            " @admin",
            " ![x]",
        ] {
            assert!(!body.contains(bad), "{bad:?} survived:\n{body}");
        }
        assert!(body.contains("\\@admin \\#1 \\!\\[x\\]"), "{body}");
    }

    #[test]
    fn clipping_never_splits_an_escape() {
        assert_eq!(esc_clip("abc", 3), "abc");
        assert_eq!(esc_clip("abcd", 3), "ab…");
        let clipped = esc_clip("a<<<<<<<", 10);
        assert!(
            clipped.ends_with('…') && !clipped.contains("&l…"),
            "{clipped}"
        );
        assert!(count(&clipped) <= 10);
        let tail = html_tail("one\ntwo <x>\nthree\n", 30);
        assert!(count(&tail) <= 30, "{tail}");
        assert!(tail.starts_with("… (earlier output trimmed)\n"));
        assert_eq!(html_tail("a<b", 100), "a&lt;b");
    }
}
