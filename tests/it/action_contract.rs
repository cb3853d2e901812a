//! The container action's contract: `alchemy-ci` run exactly as GitHub runs
//! the image of `action.yml` (the entrypoint and `runs.args`, the workspace
//! as the working directory, `INPUT_*` for every declared input, the runner's
//! `GITHUB_*` variables and file commands), against the real Alchemy; and
//! `action.yml` declaring what the binary takes and writes.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::{json, Value};

use crate::support::{fixture, node_modules, BIN};

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn read(rel: &str) -> String {
    std::fs::read_to_string(repo().join(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

/// `action.yml`, parsed.
fn action() -> serde_norway::Value {
    serde_norway::from_str(&read("action.yml")).expect("action.yml is YAML")
}

fn as_str(v: &serde_norway::Value) -> Option<String> {
    match v {
        serde_norway::Value::String(s) => Some(s.clone()),
        serde_norway::Value::Bool(b) => Some(b.to_string()),
        serde_norway::Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

struct Input {
    name: String,
    /// The `default:` key, which the runner sends when the input is left out.
    declared: Option<String>,
    description: String,
}

/// The inputs of `action.yml`, in file order.
fn inputs() -> Vec<Input> {
    let a = action();
    let map = a["inputs"].as_mapping().expect("inputs is a mapping");
    map.iter()
        .map(|(k, v)| Input {
            name: as_str(k).expect("input name"),
            declared: v.get("default").and_then(as_str),
            description: v.get("description").and_then(as_str).unwrap_or_default(),
        })
        .collect()
}

fn output_names() -> Vec<String> {
    let a = action();
    a["outputs"]
        .as_mapping()
        .expect("outputs is a mapping")
        .keys()
        .map(|k| as_str(k).expect("output name"))
        .collect()
}

/// `runs.args`: what the runner appends to the image's entrypoint.
fn runs_args() -> Vec<String> {
    let a = action();
    a["runs"]["args"]
        .as_sequence()
        .map(|s| s.iter().filter_map(as_str).collect())
        .unwrap_or_default()
}

/// Parses the runner's file-command format for outputs: `name<<DELIM`,
/// value lines, `DELIM`; or `name=value` on one line. Each name once.
pub fn parse_outputs(text: &str) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let mut lines = text.lines();
    while let Some(line) = lines.next() {
        if line.is_empty() {
            continue;
        }
        let (name, value) = if let Some((name, delim)) = line.split_once("<<") {
            assert!(!delim.is_empty(), "empty delimiter in {line:?}");
            let mut value = Vec::new();
            loop {
                let l = lines
                    .next()
                    .unwrap_or_else(|| panic!("output {name}: delimiter {delim} never closes"));
                if l == delim {
                    break;
                }
                value.push(l);
            }
            (name.to_owned(), value.join("\n"))
        } else {
            let (n, v) = line
                .split_once('=')
                .unwrap_or_else(|| panic!("not an output line: {line:?}"));
            (n.to_owned(), v.to_owned())
        };
        assert!(
            out.insert(name.clone(), value).is_none(),
            "output {name} set twice"
        );
    }
    out
}

/// A small Alchemy app with only local resources: a file, and a site whose
/// URL is made from the stage.
const APP: &str = r#"
import alchemy, { Resource } from "alchemy";
import { File } from "alchemy/fs";

export const Site = Resource(
  "contract::Site",
  async function (this: any, id: string, props: { stage: string }) {
    if (this.phase === "delete") {
      return this.destroy();
    }
    return { url: `https://${props.stage}.contract.example.test/` };
  },
);

const app = await alchemy("contract-app");
await File("page", { path: `out/${app.stage}/index.html`, content: "hello" });
await Site("site", { stage: app.stage });
await app.finalize();
"#;

/// What the runner sets up for one container-action step: the workspace
/// (a checkout of a repository whose root is the app), the event file, the
/// file commands, a home and a runner temp folder; the state store outside.
struct Runner {
    tmp: tempfile::TempDir,
    step: u32,
    /// Where GITHUB_API_URL points (a fake GitHub in some tests).
    api_url: String,
}

struct Step {
    code: i32,
    stdout: String,
    stderr: String,
    outputs_text: String,
    summary: String,
}

impl Step {
    fn context(&self) -> String {
        format!(
            "exit {}\nstdout:\n{}\nstderr:\n{}\noutputs:\n{}\nsummary:\n{}",
            self.code, self.stdout, self.stderr, self.outputs_text, self.summary
        )
    }

    fn outputs(&self) -> BTreeMap<String, String> {
        parse_outputs(&self.outputs_text)
    }
}

impl Runner {
    fn new() -> Self {
        let tmp = tempfile::tempdir().expect("temp dir");
        for d in [
            "workspace",
            "workflow",
            "home",
            "runner_temp",
            "file_commands",
        ] {
            std::fs::create_dir_all(tmp.path().join(d)).expect("mkdir");
        }
        Self {
            tmp,
            step: 0,
            api_url: "https://api.github.com".into(),
        }
    }

    fn workspace(&self) -> PathBuf {
        self.tmp.path().join("workspace")
    }

    fn with_app(self) -> Self {
        let ws = self.workspace();
        std::fs::write(ws.join("alchemy.run.ts"), APP).expect("app");
        std::fs::write(
            ws.join("package.json"),
            r#"{"name":"contract-app","private":true,"type":"module","dependencies":{"alchemy":"0.94.0"}}"#,
        )
        .expect("package.json");
        std::os::unix::fs::symlink(node_modules(), ws.join("node_modules"))
            .expect("link node_modules");
        self
    }

    fn store(&self) -> String {
        format!("dir:{}", self.tmp.path().join("state").display())
    }

    /// The environment GitHub gives the container for one step: every
    /// declared input as `INPUT_<NAME>` (its default, or empty), then the
    /// workflow's `with:` values.
    fn env(&self, event_name: &str, with: &[(&str, &str)]) -> BTreeMap<String, String> {
        let t = self.tmp.path();
        let mut env = BTreeMap::new();
        for input in inputs() {
            let value = match input.declared.as_deref() {
                // Evaluated by the runner; the contract run posts nothing.
                Some("${{ github.token }}") => String::new(),
                Some(d) => d.to_owned(),
                None => String::new(),
            };
            env.insert(format!("INPUT_{}", input.name.to_ascii_uppercase()), value);
        }
        for (k, v) in with {
            let key = format!("INPUT_{}", k.to_ascii_uppercase());
            assert!(env.contains_key(&key), "{k} is not an input of action.yml");
            env.insert(key, (*v).to_owned());
        }
        let s = |p: &str| t.join(p).display().to_string();
        for (k, v) in [
            ("PATH", std::env::var("PATH").unwrap_or_default()),
            ("HOME", s("home")),
            ("CI", "true".into()),
            ("GITHUB_ACTIONS", "true".into()),
            ("GITHUB_EVENT_NAME", event_name.into()),
            ("GITHUB_EVENT_PATH", s("workflow/event.json")),
            ("GITHUB_WORKSPACE", s("workspace")),
            (
                "GITHUB_OUTPUT",
                s(&format!("file_commands/set_output_{}", self.step)),
            ),
            (
                "GITHUB_STEP_SUMMARY",
                s(&format!("file_commands/step_summary_{}", self.step)),
            ),
            ("GITHUB_REPOSITORY", "octo-org/octo-app".into()),
            ("GITHUB_REPOSITORY_OWNER", "octo-org".into()),
            ("GITHUB_SERVER_URL", "https://github.com".into()),
            ("GITHUB_API_URL", self.api_url.clone()),
            ("GITHUB_RUN_ID", "4242".into()),
            ("GITHUB_RUN_ATTEMPT", "1".into()),
            ("GITHUB_WORKFLOW", "Preview".into()),
            ("GITHUB_ACTION", "alchemy".into()),
            ("RUNNER_OS", "Linux".into()),
            ("RUNNER_TEMP", s("runner_temp")),
            // Not the runner's: keeps Alchemy's telemetry off the network.
            ("DO_NOT_TRACK", "1".into()),
        ] {
            env.insert(k.to_owned(), v);
        }
        env
    }

    /// One step: the entrypoint with `runs.args`, nothing else on the
    /// command line, exactly as the runner starts the container.
    fn step(&mut self, event_name: &str, event: &Value, with: &[(&str, &str)]) -> Step {
        self.step += 1;
        let t = self.tmp.path();
        std::fs::write(
            t.join("workflow/event.json"),
            serde_json::to_vec(event).expect("event"),
        )
        .expect("write event");
        let env = self.env(event_name, with);
        let out = Command::new(BIN)
            .args(runs_args())
            .current_dir(self.workspace())
            .env_clear()
            .envs(&env)
            .output()
            .expect("spawn alchemy-ci");
        let read_opt = |k: &str| std::fs::read_to_string(&env[k]).unwrap_or_default();
        Step {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
            outputs_text: read_opt("GITHUB_OUTPUT"),
            summary: read_opt("GITHUB_STEP_SUMMARY"),
        }
    }
}

fn pr_event(action: &str, number: u64, sha: &str) -> Value {
    let mut v = fixture(if action == "closed" {
        "pull_request.closed.json"
    } else {
        "pull_request.opened.json"
    });
    v["action"] = json!(action);
    v["number"] = json!(number);
    v["pull_request"]["number"] = json!(number);
    v["pull_request"]["head"]["sha"] = json!(sha);
    v
}

const SHA: &str = "3333333333333333333333333333333333333333";

#[test]
fn the_action_deploys_on_opened_and_destroys_on_closed_as_a_container_step() {
    let mut runner = Runner::new().with_app();
    let store = runner.store();
    let with = [("state-store", store.as_str()), ("github-token", "")];

    let opened = runner.step("pull_request", &pr_event("opened", 12, SHA), &with);
    assert_eq!(opened.code, 0, "{}", opened.context());
    let out = opened.outputs();
    let names: Vec<&String> = out.keys().collect();
    let mut declared = output_names();
    declared.sort();
    assert_eq!(
        names,
        declared.iter().collect::<Vec<_>>(),
        "the step sets exactly action.yml's outputs\n{}",
        opened.context()
    );
    let url = "https://pr-12.contract.example.test/";
    assert_eq!(out["stage"], "pr-12");
    assert_eq!(out["action"], "deploy");
    assert_eq!(out["result"], "success");
    assert_eq!(out["url"], url);
    assert_eq!(
        serde_json::from_str::<Value>(&out["urls"]).expect("urls is JSON"),
        json!([url])
    );
    assert!(opened.summary.contains("pr-12"), "{}", opened.context());
    assert!(opened.summary.contains(url), "{}", opened.context());
    assert!(
        !opened.stdout.contains("::error"),
        "no error annotation\n{}",
        opened.context()
    );
    // Resources are made in the workspace, the state is kept in the store.
    let ws = runner.workspace();
    assert!(
        ws.join("out/pr-12/index.html").exists(),
        "{}",
        opened.context()
    );
    assert!(!ws.join(".alchemy").exists(), "{}", opened.context());

    let closed = runner.step("pull_request", &pr_event("closed", 12, SHA), &with);
    assert_eq!(closed.code, 0, "{}", closed.context());
    let out = closed.outputs();
    assert_eq!(out["stage"], "pr-12");
    assert_eq!(out["action"], "destroy");
    assert_eq!(out["result"], "success");
    assert_eq!(out["verified"], "true", "its state was seen to go");
    assert_eq!(out["url"], "");
    assert_eq!(
        serde_json::from_str::<Value>(&out["urls"]).expect("urls is JSON"),
        json!([])
    );
    assert!(closed.summary.contains("pr-12"), "{}", closed.context());
    assert!(
        closed.summary.to_lowercase().contains("destroyed"),
        "{}",
        closed.context()
    );
    assert!(
        !ws.join("out/pr-12/index.html").exists(),
        "{}",
        closed.context()
    );
}

#[test]
fn a_pull_request_from_a_fork_is_skipped_with_outputs_that_say_so() {
    let mut runner = Runner::new();
    let store = runner.store();
    let mut ev = pr_event("opened", 13, SHA);
    ev["pull_request"]["head"]["repo"]["full_name"] = json!("stranger/octo-app");
    ev["pull_request"]["head"]["repo"]["fork"] = json!(true);
    let step = runner.step(
        "pull_request",
        &ev,
        &[("state-store", store.as_str()), ("github-token", "")],
    );
    assert_eq!(step.code, 0, "{}", step.context());
    let out = step.outputs();
    assert_eq!(out["action"], "skip", "{}", step.context());
    assert_eq!(out["result"], "skipped", "{}", step.context());
    assert_eq!(out["url"], "");
    assert_eq!(out["urls"], "[]");
    assert!(step.stdout.contains("::notice"), "{}", step.context());
    assert!(!step.summary.is_empty(), "{}", step.context());
}

/// A schedule sweeps: the stage of a PR that closed without its close
/// event running is destroyed, and the step reports it.
#[test]
fn a_scheduled_run_sweeps_orphaned_stages() {
    use crate::fake_github::{FakeGitHub, PullState, TokenKind, ACTIONS_BOT};
    let fake = FakeGitHub::start();
    fake.add_token("ghs_contract", ACTIONS_BOT, TokenKind::Installation);
    fake.add_repo("octo-org", "octo-app");
    fake.add_issue("octo-org", "octo-app", 31);
    let mut runner = Runner::new().with_app();
    runner.api_url = fake.url().to_owned();
    let store = runner.store();

    let opened = runner.step(
        "pull_request",
        &pr_event("opened", 31, SHA),
        &[("state-store", store.as_str()), ("github-token", "")],
    );
    assert_eq!(opened.code, 0, "{}", opened.context());
    fake.set_pull("octo-org", "octo-app", 31, PullState::Closed, SHA);

    let ev: Value = serde_json::from_str(&read("examples/events/schedule.json")).expect("event");
    let step = runner.step(
        "schedule",
        &ev,
        &[
            ("state-store", store.as_str()),
            ("github-token", "ghs_contract"),
        ],
    );
    assert_eq!(step.code, 0, "{}", step.context());
    let out = step.outputs();
    assert_eq!(out["action"], "cleanup", "{}", step.context());
    assert_eq!(out["result"], "success", "{}", step.context());
    assert_eq!(out["urls"], "[]");
    assert!(
        step.summary.contains("| `pr-31` |") && step.summary.contains("destroyed"),
        "{}",
        step.context()
    );
    assert!(
        !runner.workspace().join("out/pr-31/index.html").exists(),
        "{}",
        step.context()
    );
}

/// A run that stops before its report still tells the workflow it failed.
#[test]
fn a_failed_start_still_sets_the_result_output() {
    let mut runner = Runner::new();
    let step = runner.step(
        "pull_request",
        &pr_event("opened", 32, SHA),
        &[("state-store", "s4://nowhere"), ("github-token", "")],
    );
    assert_eq!(step.code, 2, "{}", step.context());
    assert_eq!(step.stderr.lines().count(), 1, "{}", step.context());
    let out = step.outputs();
    assert_eq!(
        out.get("result").map(String::as_str),
        Some("failure"),
        "{}",
        step.context()
    );
    assert_eq!(out.get("urls").map(String::as_str), Some("[]"));
    assert!(step.summary.contains("nowhere"), "{}", step.context());
}

/// Only github-token may declare a `default:`: the runner sends a declared
/// default as `INPUT_*`, and an input beats the config file, so any other
/// declared default would silently override `alchemy-ci.yml`.
#[test]
fn the_config_file_still_counts_under_the_actions_inputs() {
    let declared: Vec<String> = inputs()
        .into_iter()
        .filter(|i| i.declared.is_some())
        .map(|i| i.name)
        .collect();
    assert_eq!(declared, ["github-token"]);

    let mut runner = Runner::new();
    std::fs::write(
        runner.workspace().join("alchemy-ci.yml"),
        "stage-prefix: preview-\ndeploy-drafts: true\n",
    )
    .expect("config");
    runner.step += 1;
    let t = runner.tmp.path();
    std::fs::write(
        t.join("workflow/event.json"),
        serde_json::to_vec(&pr_event("opened", 7, SHA)).expect("event"),
    )
    .expect("event");
    let store = runner.store();
    let env = runner.env("pull_request", &[("state-store", store.as_str())]);
    let out = Command::new(BIN)
        .args(["simulate", "--json"])
        .current_dir(runner.workspace())
        .env_clear()
        .envs(&env)
        .output()
        .expect("spawn");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let plan: Value = serde_json::from_str(&stdout).expect("plan JSON");
    assert_eq!(plan["stage"], json!("preview-7"), "{stdout}");
}

/// The inputs `action.yml` declares are the table's action inputs, in
/// order, each described with its default; the text itself is generated
/// (see `inputs::the_generated_input_docs_are_fresh`).
#[test]
fn action_yml_declares_every_input_the_cli_takes_and_no_other() {
    let names: Vec<String> = inputs().into_iter().map(|i| i.name).collect();
    let table: Vec<&str> = alchemy_ci::config::INPUTS
        .iter()
        .filter(|i| i.set_by.input())
        .map(|i| i.name)
        .collect();
    assert_eq!(names, table, "same inputs, same order");
    for i in inputs() {
        assert!(
            i.description.contains("Default: "),
            "input {} names no default",
            i.name
        );
    }
}

#[test]
fn action_yml_runs_alchemy_ci_run_in_a_docker_container() {
    let a = action();
    assert_eq!(as_str(&a["runs"]["using"]).as_deref(), Some("docker"));
    // Main builds the Dockerfile; only a release commit points at an image.
    assert_eq!(as_str(&a["runs"]["image"]).as_deref(), Some("Dockerfile"));
    assert_eq!(runs_args(), ["run"]);
    let dockerfile = read("Dockerfile");
    assert!(
        dockerfile.contains(r#"ENTRYPOINT ["/usr/local/bin/alchemy-ci"]"#),
        "exec-form entrypoint: no shell between the runner and the binary"
    );
    assert_eq!(
        output_names(),
        ["stage", "action", "result", "url", "urls", "verified", "run", "sha"],
        "the outputs run writes"
    );
}

#[test]
fn the_readme_outputs_table_matches_action_yml() {
    let readme = read("README.md");
    let table = markdown_table(&readme, "Output");
    let names: Vec<&str> = table.iter().map(|r| r[0].trim_matches('`')).collect();
    assert_eq!(names, output_names());
    for row in &table {
        assert!(!row[1].is_empty(), "output {} is not described", row[0]);
    }
}

/// The rows of the first Markdown table whose first header cell is `first`,
/// as trimmed cells (`\|` is a literal bar).
fn markdown_table(md: &str, first: &str) -> Vec<Vec<String>> {
    let cells = |line: &str| -> Vec<String> {
        let inner = line.trim().trim_start_matches('|').trim_end_matches('|');
        let mut out = vec![String::new()];
        let mut chars = inner.chars().peekable();
        while let Some(c) = chars.next() {
            match c {
                '\\' if chars.peek() == Some(&'|') => {
                    out.last_mut().expect("cell").push('|');
                    chars.next();
                }
                '|' => out.push(String::new()),
                _ => out.last_mut().expect("cell").push(c),
            }
        }
        out.into_iter().map(|c| c.trim().to_owned()).collect()
    };
    let mut lines = md.lines();
    while let Some(line) = lines.next() {
        if line.starts_with('|') && cells(line).first().map(String::as_str) == Some(first) {
            let sep = lines.next().unwrap_or("");
            assert!(sep.starts_with("|-") || sep.starts_with("| -"), "{sep}");
            return lines
                .take_while(|l| l.starts_with('|'))
                .map(cells)
                .collect();
        }
    }
    panic!("README has no table whose first column is {first:?}");
}

#[test]
fn the_outputs_parser_reads_both_forms_and_multiline_values() {
    let out = parse_outputs("a<<EOF_1\nx\ny\nEOF_1\nb=1\n\nc<<D\n\nD\n");
    assert_eq!(out["a"], "x\ny");
    assert_eq!(out["b"], "1");
    assert_eq!(out["c"], "");
}
