//! The lint gates of `scripts/lint-action`: each passes on the repository's
//! real files and fails on a copy broken in the way that gate exists to
//! catch, so a gate that cannot fail (a wrong path, a glob matching nothing,
//! a rule silenced everywhere) is caught here. Also the release's rewrite of
//! `action.yml`, which must leave a valid action.

use std::path::{Path, PathBuf};
use std::process::Command;

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn read(rel: &str) -> String {
    std::fs::read_to_string(repo().join(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

struct Gate {
    code: i32,
    output: String,
}

/// `scripts/lint-action GATE FILE...` with the linters scripts/test installed.
fn gate(name: &str, files: &[&Path]) -> Gate {
    let tools = std::env::var_os("ALCHEMY_CI_LINT_TOOLS").map(PathBuf::from);
    assert!(
        tools.as_ref().is_some_and(|t| t.join(".complete").exists()),
        "ALCHEMY_CI_LINT_TOOLS must point at the installed linters: run the tests with scripts/test"
    );
    let out = Command::new(repo().join("scripts/lint-action"))
        .arg(name)
        .args(files)
        .current_dir(repo())
        .output()
        .expect("run scripts/lint-action");
    Gate {
        code: out.status.code().unwrap_or(-1),
        output: format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    }
}

fn passes(name: &str, files: &[&Path]) {
    let g = gate(name, files);
    assert_eq!(g.code, 0, "gate {name} fails on {files:?}:\n{}", g.output);
}

/// Fails as a finding (exit 1), not as a usage error (exit 2), and says
/// `needle`.
fn catches(name: &str, file: &Path, needle: &str) {
    let g = gate(name, &[file]);
    assert_eq!(
        g.code,
        1,
        "gate {name} did not fail on the broken {}:\n{}",
        file.display(),
        g.output
    );
    assert!(
        g.output.contains(needle),
        "gate {name}: expected {needle:?} in\n{}",
        g.output
    );
}

/// A copy of a repository file with `from` replaced by `to` (which must
/// change it), under `dir` with the same file name.
fn broken(dir: &Path, rel: &str, from: &str, to: &str) -> PathBuf {
    let text = read(rel);
    assert!(text.contains(from), "{rel} no longer contains {from:?}");
    let name = Path::new(rel).file_name().expect("file name");
    let p = dir.join(name);
    std::fs::write(&p, text.replacen(from, to, 1)).expect("write copy");
    p
}

const WORKFLOWS: &[&str] = &[
    ".github/workflows/ci.yml",
    ".github/workflows/release.yml",
    "examples/workflows/preview.yml",
    "examples/workflows/cleanup.yml",
    "examples/workflows/comment-commands.yml",
];

fn workflows() -> Vec<PathBuf> {
    WORKFLOWS.iter().map(|w| repo().join(w)).collect()
}

#[test]
fn action_schema_gate() {
    passes("action-schema", &[&repo().join("action.yml")]);
    let tmp = tempfile::tempdir().expect("tmp");
    let bad = broken(
        tmp.path(),
        "action.yml",
        "using: docker",
        "using: container",
    );
    catches("action-schema", &bad, "using");
}

#[test]
fn workflow_schema_gate() {
    let files = workflows();
    let refs: Vec<&Path> = files.iter().map(PathBuf::as_path).collect();
    passes("workflow-schema", &refs);
    let tmp = tempfile::tempdir().expect("tmp");
    let bad = broken(
        tmp.path(),
        "examples/workflows/preview.yml",
        "pull-requests: write",
        "pull-requests: writ",
    );
    catches("workflow-schema", &bad, "permissions");
}

#[test]
fn hadolint_gate() {
    passes("hadolint", &[&repo().join("Dockerfile")]);
    // The one waived rule is waived only where it is written down.
    let tmp = tempfile::tempdir().expect("tmp");
    let bad = broken(tmp.path(), "Dockerfile", "# hadolint ignore=DL3008\n", "");
    catches("hadolint", &bad, "DL3008");
    let tmp = tempfile::tempdir().expect("tmp");
    let bad = broken(
        tmp.path(),
        "Dockerfile",
        "FROM node:24.11.1-bookworm-slim@sha256:48abc13a19400ca3985071e287bd405a1d99306770eb81d61202fb6b65cf0b57 AS runtime",
        "FROM node:latest AS runtime",
    );
    catches("hadolint", &bad, "DL3007");
}

#[test]
fn zizmor_gate() {
    let mut files = workflows();
    files.push(repo().join("action.yml"));
    let refs: Vec<&Path> = files.iter().map(PathBuf::as_path).collect();
    passes("zizmor", &refs);
    // An attacker-controlled PR title expanded into a shell script.
    let tmp = tempfile::tempdir().expect("tmp");
    let bad = broken(
        tmp.path(),
        "examples/workflows/preview.yml",
        "        run: echo \"Preview at $URL\"\n",
        "        run: echo \"Preview at $URL for ${{ github.event.pull_request.title }}\"\n",
    );
    catches("zizmor", &bad, "template-injection");
}

#[test]
fn actionlint_gate() {
    let files = workflows();
    let refs: Vec<&Path> = files.iter().map(PathBuf::as_path).collect();
    passes("actionlint", &refs);
    // Valid by the schema, wrong by meaning: a step that does not exist.
    let tmp = tempfile::tempdir().expect("tmp");
    let bad = broken(
        tmp.path(),
        ".github/workflows/ci.yml",
        "${{ steps.deploy.outputs.url }}",
        "${{ steps.deploi.outputs.url }}",
    );
    catches("actionlint", &bad, "deploi");
    let schema = gate("workflow-schema", &[&bad]);
    assert_eq!(
        schema.code, 0,
        "the schema cannot see this\n{}",
        schema.output
    );
}

#[test]
fn a_gate_given_no_file_or_a_missing_one_does_not_pass() {
    for name in [
        "action-schema",
        "workflow-schema",
        "hadolint",
        "zizmor",
        "actionlint",
    ] {
        let g = gate(name, &[]);
        assert_eq!(g.code, 2, "{name} with no files\n{}", g.output);
        let g = gate(name, &[Path::new("no/such/file.yml")]);
        assert_eq!(g.code, 2, "{name} with a missing file\n{}", g.output);
    }
}

/// The release rewrites `image: Dockerfile` to the versioned image, and only
/// that line; the result is still a valid action.
#[test]
fn the_release_rewrite_pins_the_image_and_keeps_a_valid_action() {
    let tmp = tempfile::tempdir().expect("tmp");
    let copy = tmp.path().join("action.yml");
    std::fs::copy(repo().join("action.yml"), &copy).expect("copy");
    let pin = |image: &str| {
        Command::new(repo().join("scripts/release-pin-image"))
            .arg(image)
            .arg(&copy)
            .output()
            .expect("run release-pin-image")
    };
    for moving in [
        "ghcr.io/octo-org/alchemy-action:1",
        "ghcr.io/octo-org/alchemy-action:latest",
        "ghcr.io/Octo-Org/alchemy-action:1.2.3",
    ] {
        let out = pin(moving);
        assert_eq!(out.status.code(), Some(2), "{moving} accepted");
    }
    let out = pin("ghcr.io/octo-org/alchemy-action:1.2.3");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let before = read("action.yml");
    let after = std::fs::read_to_string(&copy).expect("read");
    let changed: Vec<(&str, &str)> = before
        .lines()
        .zip(after.lines())
        .filter(|(a, b)| a != b)
        .collect();
    assert_eq!(
        changed,
        [(
            "  image: Dockerfile",
            "  image: docker://ghcr.io/octo-org/alchemy-action:1.2.3"
        )]
    );
    assert_eq!(before.lines().count(), after.lines().count());
    passes("action-schema", &[&copy]);
    // Twice is an error: there is no `image: Dockerfile` left to pin.
    let again = pin("ghcr.io/octo-org/alchemy-action:1.2.4");
    assert_eq!(again.status.code(), Some(1));
}
