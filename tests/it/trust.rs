//! What untrusted parts may not do: the app (and every npm package it
//! loads) never sees alchemy-ci's own tokens, and the config file, which a
//! pull request can change, cannot switch off the guards that keep its code
//! from running with secrets.

use serde_json::{json, Value};

use crate::alchemy_e2e::App;
use crate::fake_github::{FakeGitHub, PullState, TokenKind, ACTIONS_BOT};
use crate::support::{fixture, Dir};

/// An app that writes the names of the variables it was started with to
/// `$ENV_DUMP`, and whether any value holds the marker the test put into
/// alchemy-ci's own secrets to `$ENV_DUMP.leak`.
const ENV_APP: &str = r#"
import alchemy from "alchemy";
import { writeFileSync } from "node:fs";

const dump = process.env.ENV_DUMP!;
writeFileSync(dump, Object.keys(process.env).sort().join("\n") + "\n");
const leaked = Object.entries(process.env).filter(([, v]) => (v ?? "").includes("SECRETMARKER")).map(([k]) => k);
writeFileSync(dump + ".leak", leaked.join("\n"));

const app = await alchemy("env-app");
await app.finalize();
"#;

/// Scenario: a workflow passes alchemy-ci a GitHub token and a state token
/// as inputs, the runner adds its own artifact credentials, and the
/// workflow's `env:` sets variables for the app. The app sees the latter
/// and none of the former, while alchemy-ci itself still uses its token.
#[test]
fn alchemy_sees_no_token_it_was_not_given() {
    let fake = FakeGitHub::start();
    let token = "ghs_SECRETMARKER_github_token";
    fake.add_token(token, ACTIONS_BOT, TokenKind::Installation);
    let sha = FakeGitHub::sha("env-head");
    fake.set_pull("Codertocat", "Hello-World", 31, PullState::Open, &sha);

    let app = App::new();
    app.dir.write("app/alchemy.run.ts", ENV_APP);
    let dump = app.dir.path().join("env-names");
    let dump_s = dump.display().to_string();
    let out = app.run(
        &app.event("opened", "opened", 31, &sha),
        &[],
        &[
            ("GITHUB_API_URL", fake.url()),
            ("GITHUB_REPOSITORY", "Codertocat/Hello-World"),
            ("INPUT_GITHUB-TOKEN", token),
            ("INPUT_STATE-TOKEN", "SECRETMARKER_state_token"),
            ("INPUT_LABEL", ""),
            ("ACTIONS_RUNTIME_TOKEN", "SECRETMARKER_runtime"),
            ("ACTIONS_RUNTIME_URL", "https://pipelines.example.test/"),
            // What the workflow's `env:` gives the app, tokens included.
            ("ENV_DUMP", &dump_s),
            ("MY_APP_SETTING", "x"),
            ("GITHUB_TOKEN", "ghs_the_apps_own_token"),
            ("AWS_ACCESS_KEY_ID", "AKIAEXAMPLE"),
            ("ACTIONS_ID_TOKEN_REQUEST_TOKEN", "oidc"),
        ],
    );
    out.ok();
    let names = std::fs::read_to_string(&dump).expect("the app ran and wrote its variables");
    let names: Vec<&str> = names.lines().collect();
    for gone in [
        "INPUT_GITHUB-TOKEN",
        "INPUT_STATE-TOKEN",
        "INPUT_LABEL",
        "ACTIONS_RUNTIME_TOKEN",
        "ACTIONS_RUNTIME_URL",
    ] {
        assert!(!names.contains(&gone), "the app saw {gone}\n{names:?}");
    }
    assert!(!names.iter().any(|n| n.starts_with("INPUT_")), "{names:?}");
    for kept in [
        "MY_APP_SETTING",
        "GITHUB_TOKEN",
        "AWS_ACCESS_KEY_ID",
        "ACTIONS_ID_TOKEN_REQUEST_TOKEN",
        "GITHUB_REPOSITORY",
        "ALCHEMY_CI_STATE_STORE_CHECK",
    ] {
        assert!(names.contains(&kept), "the app lost {kept}\n{names:?}");
    }
    let leaked = std::fs::read_to_string(dump.with_extension("leak")).expect("leak file");
    assert_eq!(
        leaked, "",
        "variables holding alchemy-ci's secrets reached the app"
    );
    // alchemy-ci itself still had its token: the comment was posted with it.
    let comments = fake.comments("Codertocat", "Hello-World", 31);
    assert_eq!(comments.len(), 1, "{}", out.context());
}

fn fork_pr() -> Value {
    let mut v = fixture("pull_request.opened.json");
    v["pull_request"]["head"]["repo"]["full_name"] = json!("mallory/Hello-World");
    v
}

/// Scenario: a fork's pull request changes `alchemy-ci.yml` to switch the
/// fork guard off. The file is refused with a message naming the key; the
/// same setting as an action input or a flag (set in the workflow, which
/// the PR cannot change) works.
#[test]
fn allow_forks_in_the_config_file_is_refused_and_works_as_an_input() {
    let mut dir = Dir::new();
    let ev = dir.write_json("event.json", &fork_pr());

    let plan = dir.plan(&ev, &[]);
    assert_eq!(plan["action"], "skip", "forks are skipped by default");

    dir.write("alchemy-ci.yml", "allow-forks: true\n");
    let before = dir.listing();
    dir.run(&["simulate", "--event", "event.json"]).bad_input(&[
        "alchemy-ci.yml",
        "`allow-forks`",
        "only from a flag or an action input",
    ]);
    assert_eq!(dir.listing(), before);
    std::fs::remove_file(dir.path().join("alchemy-ci.yml")).expect("rm");

    let plan = dir.plan(&ev, &["--allow-forks"]);
    assert_eq!(plan["action"], "deploy", "{plan}");
    dir.env("INPUT_ALLOW-FORKS", "true");
    let plan = dir.plan(&ev, &[]);
    assert_eq!(plan["action"], "deploy", "{plan}");
}

/// Scenario: every input, set in the config file (in either location)
/// to a value it accepts. Those the input table marks as guarding trust
/// (or naming the file itself) are refused by name; the trust-guarding
/// ones are accepted as action inputs; every other one is accepted from
/// the file. The list comes from the table, so a new input is covered.
#[test]
fn no_trust_guarding_key_is_taken_from_the_config_file() {
    use alchemy_ci::config::{SetBy, INPUTS};
    let mut trusted = 0;
    for i in INPUTS.iter().filter(|i| !i.example.is_empty()) {
        let key = i.name;
        // The example as YAML: a scalar, quoted where YAML would read it
        // as something else.
        let value = serde_json::to_string(i.example).expect("json");
        for file in ["alchemy-ci.yml", ".github/alchemy-ci.yml"] {
            let dir = Dir::new();
            dir.write_json("event.json", &fixture("pull_request.opened.json"));
            // Another key first, so the one under test is not alone.
            let other = if key == "label" { "comment" } else { "label" };
            let other_value = if key == "label" { "true" } else { "preview" };
            dir.write(file, format!("{other}: {other_value}\n{key}: {value}\n"));
            let before = dir.listing();
            let out = dir.run(&["simulate", "--event", "event.json"]);
            match i.set_by {
                SetBy::Anywhere => {
                    out.ok();
                }
                SetBy::Trusted => {
                    out.bad_input(&[file, &format!("`{key}`"), "never from the config file"]);
                }
                SetBy::NotInFile => {
                    out.bad_input(&[file, &format!("`{key}`"), "flag or an action input"]);
                }
                SetBy::FileOnly => unreachable!("file-only inputs have no one-line example"),
            }
            assert_eq!(dir.listing(), before);
            if i.set_by == SetBy::Trusted {
                std::fs::remove_file(dir.path().join(file)).expect("rm");
                let var = format!("INPUT_{}", key.to_ascii_uppercase());
                let out = dir.run_env(
                    &["simulate", "--event", "event.json"],
                    &[(var.as_str(), i.example)],
                );
                out.ok();
            }
        }
        trusted += usize::from(i.set_by == SetBy::Trusted);
    }
    assert!(trusted >= 9, "the table lost its trust-guarding inputs");
}
