//! stdout is for what was asked: with `--json` it carries exactly one JSON
//! document, while Alchemy's own output (its banner and resource lines),
//! the plan and the runner's workflow commands go to stderr.

use serde_json::Value;

use crate::alchemy_e2e::App;

/// The whole of stdout as one JSON document; anything else on it fails.
fn document(out: &crate::support::Output) -> Value {
    serde_json::from_str(&out.stdout)
        .unwrap_or_else(|e| panic!("stdout is not one JSON document: {e}\n{}", out.context()))
}

/// Scenario: `alchemy-ci deploy --stage pr-9 --json | jq` failed on
/// Alchemy's banner, which went to stdout. With the real Alchemy, under
/// Actions (so masks and groups are written) and by hand, stdout parses
/// as one JSON document and Alchemy's output is on stderr.
#[test]
fn deploy_read_and_destroy_with_json_print_only_json_on_stdout() {
    let app = App::new();
    let actions = [
        ("GITHUB_ACTIONS", "true"),
        ("SECRET_VALUE", "hunter2-secret"),
    ];
    let flags = ["--json", "--mask-env", "SECRET_VALUE"];

    let deployed = app.command(&["deploy", "--stage", "pr-9"], &flags, &actions);
    deployed.ok();
    let report = document(&deployed);
    assert_eq!(report["stage"], "pr-9", "{}", deployed.context());
    assert_eq!(report["result"], "success", "{}", deployed.context());
    assert_eq!(report["urls"][0]["url"], "https://pr-9.web.example.test/");
    assert!(
        deployed.stderr.contains("Alchemy"),
        "{}",
        deployed.context()
    );
    assert!(
        deployed.stderr.contains("::add-mask::"),
        "{}",
        deployed.context()
    );

    let read = app.command(&["read", "--stage", "pr-9"], &["--json"], &[]);
    read.ok();
    assert_eq!(
        document(&read)["urls"][0]["url"],
        "https://pr-9.web.example.test/"
    );

    let status = app.command(&["status"], &["--json", "--refresh"], &actions);
    status.ok();
    assert_eq!(
        document(&status)[0]["stage"],
        "pr-9",
        "{}",
        status.context()
    );

    let destroyed = app.command(&["destroy", "--stage", "pr-9"], &["--json"], &actions);
    destroyed.ok();
    assert_eq!(document(&destroyed)["result"], "success");
}

/// Scenario: the fan-out workflow captures `alchemy-ci cleanup --matrix`
/// in a shell variable; under Actions the token's `::add-mask::` line went
/// to stdout with it, so the matrix output was not JSON (and carried the
/// token). stdout is the matrix alone.
#[test]
fn cleanup_matrix_prints_only_the_matrix_under_actions() {
    use crate::fake_github::{FakeGitHub, PullState, TokenKind, ACTIONS_BOT};
    let fake = FakeGitHub::start();
    let token = "ghs_matrix_token_value";
    fake.add_token(token, ACTIONS_BOT, TokenKind::Installation);
    fake.add_repo("o", "r");
    fake.set_pull("o", "r", 4, PullState::Closed, &FakeGitHub::sha("m4"));
    let app = App::new();
    app.command(&["deploy", "--stage", "pr-4"], &[], &[]).ok();
    let out = app.command(
        &["cleanup"],
        &["--matrix"],
        &[
            ("GITHUB_ACTIONS", "true"),
            ("GITHUB_API_URL", fake.url()),
            ("GITHUB_REPOSITORY", "o/r"),
            ("INPUT_GITHUB-TOKEN", token),
        ],
    );
    out.ok();
    let matrix = document(&out);
    assert_eq!(matrix["include"][0]["stage"], "pr-4", "{}", out.context());
    assert!(!out.stdout.contains(token), "{}", out.context());
    assert!(out.stderr.contains("::add-mask::"), "{}", out.context());
}
