//! Messages a person can act on: one warning per retry rather than an
//! error and a warning, and no colour escapes where there is no terminal.

use crate::alchemy_e2e::App;
use crate::fake_github::{FakeGitHub, Fault, PullState, TokenKind, ACTIONS_BOT};
use crate::support::Dir;

const OWNER: &str = "Codertocat";
const REPO: &str = "Hello-World";
const TOKEN: &str = "ghs_messages_token";

/// Scenario: GitHub answers 502 twice before listing the open pull
/// requests. Each retry printed an ERROR (from the HTTP library) and a
/// WARN; now it is one line that says what failed and when it retries,
/// and the sweep goes on.
#[test]
fn a_retried_request_is_one_warning_per_attempt() {
    let fake = FakeGitHub::start();
    fake.add_token(TOKEN, ACTIONS_BOT, TokenKind::Installation);
    fake.add_repo(OWNER, REPO);
    let path = format!("/repos/{OWNER}/{REPO}/pulls");
    fake.inject("GET", &path, vec![Fault::Status(502), Fault::Status(502)]);
    let dir = Dir::new();
    std::fs::create_dir(dir.path().join("store")).expect("mkdir");
    let repo = format!("{OWNER}/{REPO}");
    let out = dir.run_env(
        &["cleanup", "--dry-run", "--state-store", "dir:store"],
        &[
            ("GITHUB_API_URL", fake.url()),
            ("GITHUB_REPOSITORY", &repo),
            ("INPUT_GITHUB-TOKEN", TOKEN),
            ("NO_COLOR", "1"),
        ],
    );
    out.ok();
    let retries: Vec<&str> = out
        .stderr
        .lines()
        .filter(|l| l.contains("retrying"))
        .collect();
    assert_eq!(retries.len(), 2, "{}", out.context());
    assert!(
        retries.iter().all(|l| l.contains("WARN")),
        "{}",
        out.context()
    );
    assert!(!out.stderr.contains("ERROR"), "{}", out.context());
    assert_eq!(out.stderr.lines().count(), 2, "{}", out.context());
}

/// Scenario: logs and Alchemy's output piped to a file carried colour
/// escapes (`\x1b[33m WARN`). Colour is for a terminal: piped, a deploy
/// with the real Alchemy (which forces colour on) and a warning from
/// alchemy-ci itself show none.
#[test]
fn no_colour_escapes_without_a_terminal() {
    let app = App::new();
    // A token without a repository is warned about in the log.
    let out = app.command(
        &["deploy", "--stage", "pr-3"],
        &["--github-token", "ghs_x"],
        &[],
    );
    out.ok();
    assert!(out.stderr.contains("WARN"), "{}", out.context());
    assert!(out.stdout.contains("Alchemy"), "{}", out.context());
    for (name, text) in [("stdout", &out.stdout), ("stderr", &out.stderr)] {
        assert!(
            !text.contains('\u{1b}'),
            "{name} holds an escape\n{}",
            out.context()
        );
    }
}

/// The line that ends with `in <n> s` or `in <n> min <n> s`, if any.
fn timed_line<'a>(text: &'a str, start: &str) -> Option<&'a str> {
    text.lines().find(|l| {
        l.starts_with(start)
            && l.rsplit_once(" in ").is_some_and(|(_, t)| {
                let t = t.trim_end_matches(" s");
                t.split(" min ").all(|n| n.parse::<f64>().is_ok())
            })
    })
}

/// Scenario: long work said nothing until it was over. A hand deploy's
/// result line says how long it took; `status --refresh` and the sweep
/// print one line per stage as each starts and ends.
#[test]
fn progress_lines_name_each_stage_and_how_long_it_took() {
    let app = App::new();
    let deployed = app.command(&["deploy", "--stage", "pr-5"], &[], &[]);
    deployed.ok();
    assert!(
        timed_line(&deployed.stdout, "✔ deployed pr-5 in ").is_some(),
        "{}",
        deployed.context()
    );

    let refreshed = app.command(&["status", "--refresh"], &[], &[]);
    refreshed.ok();
    assert!(
        refreshed.stdout.contains("→ READ stage pr-5"),
        "{}",
        refreshed.context()
    );
    assert!(
        timed_line(&refreshed.stdout, "✔ read pr-5 in ").is_some(),
        "{}",
        refreshed.context()
    );

    let fake = FakeGitHub::start();
    fake.add_token(TOKEN, ACTIONS_BOT, TokenKind::Installation);
    fake.add_repo(OWNER, REPO);
    fake.set_pull(
        OWNER,
        REPO,
        5,
        PullState::Closed,
        &FakeGitHub::sha("closed-5"),
    );
    let repo = format!("{OWNER}/{REPO}");
    let swept = app.command(
        &["cleanup"],
        &[],
        &[
            ("GITHUB_API_URL", fake.url()),
            ("GITHUB_REPOSITORY", &repo),
            ("INPUT_GITHUB-TOKEN", TOKEN),
        ],
    );
    swept.ok();
    assert!(
        swept.stdout.contains("→ DESTROY stage pr-5"),
        "{}",
        swept.context()
    );
    assert!(
        timed_line(&swept.stdout, "✔ destroyed pr-5 ").is_some(),
        "{}",
        swept.context()
    );
}
