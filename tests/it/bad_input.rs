//! Bad input: exit 2, one line on stderr naming the file, input or
//! variable and the problem, nothing on stdout, nothing written. The
//! hostile-value tables at the end draw on `injection::hostile`.

use std::ffi::OsString;
use std::os::unix::ffi::OsStringExt as _;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::injection::{
    assert_inert_markdown, assert_inert_text, hostile, hostile_args, parse_outputs,
};
use crate::support::{fixture, Dir, BIN};

/// Writes `body` as `event.json`, runs simulate, and checks the contract.
fn rejects(body: &[u8], needles: &[&str]) {
    let dir = Dir::new();
    dir.write("event.json", body);
    let before = dir.listing();
    let out = dir.run(&["simulate", "--event", "event.json"]);
    let mut all = vec!["event.json"];
    all.extend_from_slice(needles);
    out.bad_input(&all);
    assert_eq!(dir.listing(), before, "files changed\n{}", out.context());
}

fn opened_with(edit: impl FnOnce(&mut Value)) -> Vec<u8> {
    let mut v = fixture("pull_request.opened.json");
    edit(&mut v);
    serde_json::to_vec(&v).expect("serialize")
}

#[test]
fn unreadable_event_files() {
    let dir = Dir::new();
    dir.run(&["simulate", "--event", "missing.json"])
        .bad_input(&["missing.json", "cannot read"]);
    std::fs::create_dir(dir.path().join("adir")).expect("mkdir");
    dir.run(&["simulate", "--event", "adir"])
        .bad_input(&["adir", "directory"]);
    assert_eq!(dir.listing().len(), 1, "only the folder the test made");
}

#[test]
fn empty_and_blank_files() {
    rejects(b"", &["empty"]);
    rejects(b" \n\t\n", &["empty"]);
}

#[test]
fn not_json() {
    rejects(b"hello: world\n", &["not valid JSON"]);
    rejects(b"{'action': 'opened'}", &["not valid JSON"]);
    rejects(&[0xff, 0xfe, 0x7b, 0x00], &["not valid JSON"]);
}

#[test]
fn truncated_json() {
    let full = opened_with(|_| {});
    rejects(&full[..full.len() / 2], &["truncated"]);
    rejects(b"{", &["truncated"]);
}

#[test]
fn json_of_the_wrong_kind() {
    rejects(b"[]", &["JSON object"]);
    rejects(b"\"pull_request\"", &["JSON object"]);
    rejects(b"42", &["JSON object"]);
}

#[test]
fn pull_request_numbers_that_are_not_positive_u32() {
    for (bad, word) in [
        (json!("5"), "string"),
        (json!(-1), "-1"),
        (json!(0), "0"),
        (json!(1.5), "1.5"),
        (json!(4_294_967_296_u64), "4294967296"),
        (json!(null), "null"),
    ] {
        let body = opened_with(|v| {
            v.as_object_mut().expect("object").remove("number");
            v["pull_request"]["number"] = bad.clone();
        });
        let dir = Dir::new();
        dir.write("event.json", &body);
        dir.run(&[
            "simulate",
            "--event",
            "event.json",
            "--event-name",
            "pull_request",
        ])
        .bad_input(&[
            "event.json",
            "pull_request.number",
            word,
            "positive whole number",
        ]);
    }
}

#[test]
fn missing_pull_request_fields() {
    rejects(
        &opened_with(|v| {
            v["pull_request"]
                .as_object_mut()
                .expect("object")
                .remove("number");
        }),
        &["pull_request", "missing field `number`"],
    );
    let dir = Dir::new();
    dir.write("event.json", r#"{"action": "opened", "number": 3}"#);
    dir.run(&[
        "simulate",
        "--event",
        "event.json",
        "--event-name",
        "pull_request",
    ])
    .bad_input(&["event.json", "missing field `pull_request`"]);
}

#[test]
fn wrongly_typed_fields_name_their_path() {
    rejects(
        &opened_with(|v| v["pull_request"]["head"] = json!("main")),
        &["pull_request.head", "invalid type"],
    );
    rejects(
        &opened_with(|v| v["pull_request"]["head"]["sha"] = json!("not-a-sha; rm -rf /")),
        &["pull_request.head.sha", "commit SHA"],
    );
    rejects(&opened_with(|v| v["number"] = json!(3)), &["disagree"]);
}

#[test]
fn no_event_at_all() {
    Dir::new()
        .run(&["simulate"])
        .bad_input(&["--event", "GITHUB_EVENT_PATH"]);
}

#[test]
fn unknown_flags_are_one_line_too() {
    Dir::new()
        .run(&["simulate", "--evnt", "x.json"])
        .bad_input(&["--evnt", "--help"]);
}

fn rejects_config(files: &[(&str, &str)], env: &[(&str, &str)], flags: &[&str], needles: &[&str]) {
    let mut dir = Dir::new();
    let event = dir.write_json("event.json", &fixture("pull_request.closed.json"));
    for (path, body) in files {
        dir.write(path, body);
    }
    for (k, v) in env {
        dir.env(k, v);
    }
    let before = dir.listing();
    let ev = event.display().to_string();
    let mut args = vec!["simulate", "--event", ev.as_str()];
    args.extend_from_slice(flags);
    let out = dir.run(&args);
    out.bad_input(needles);
    assert_eq!(dir.listing(), before, "files changed\n{}", out.context());
}

#[test]
fn bad_config_files() {
    rejects_config(
        &[("alchemy-ci.yml", "stage-prefix: pr-\ndeploy_drafts: true\n")],
        &[],
        &[],
        &[
            "alchemy-ci.yml",
            "unknown key `deploy_drafts`",
            "deploy-drafts",
        ],
    );
    rejects_config(
        &[(".github/alchemy-ci.yml", "branches: [main\n")],
        &[],
        &[],
        &["alchemy-ci.yml", "not valid YAML"],
    );
    rejects_config(
        &[("alchemy-ci.yml", "- deploy\n")],
        &[],
        &[],
        &["alchemy-ci.yml", "mapping"],
    );
    rejects_config(
        &[("alchemy-ci.yml", "deploy-drafts: maybe\n")],
        &[],
        &[],
        &["alchemy-ci.yml: deploy-drafts", "true or false"],
    );
    rejects_config(
        &[("alchemy-ci.yml", "branches:\n  main: Prod\n")],
        &[],
        &[],
        &["alchemy-ci.yml: branches", "Prod"],
    );
    rejects_config(
        &[("alchemy-ci.yml", ""), (".github/alchemy-ci.yml", "")],
        &[],
        &[],
        &["two config files"],
    );
    rejects_config(
        &[],
        &[],
        &["--config", "nope.yml"],
        &["nope.yml", "cannot read"],
    );
}

#[test]
fn bad_inputs_and_flags_name_their_source() {
    rejects_config(
        &[],
        &[("INPUT_DEPLOY-DRAFTS", "yes please")],
        &[],
        &["INPUT_DEPLOY-DRAFTS", "true or false"],
    );
    rejects_config(
        &[],
        &[("INPUT_STAGE-PREFIX", "PR/")],
        &[],
        &["INPUT_STAGE-PREFIX", "PR/"],
    );
    rejects_config(
        &[],
        &[],
        &["--state-store", "s4://x"],
        &["--state-store", "s4://x"],
    );
    rejects_config(&[], &[], &["--command", "nuke"], &["--command", "nuke"]);
    rejects_config(
        &[],
        &[],
        &["--command", "deploy", "--stage", "../x"],
        &["--stage", "../x"],
    );
    rejects_config(
        &[],
        &[],
        &["--branches", "main"],
        &["--branches", "branch:stage"],
    );
    rejects_config(
        &[],
        &[],
        &["--alchemy-command", "bun deploy.ts --stage {stage}"],
        &["--alchemy-command", "{phase}"],
    );
}

#[test]
fn explicit_destroy_of_a_protected_stage_is_refused() {
    rejects_config(
        &[],
        &[],
        &["--command", "destroy", "--stage", "prod"],
        &["prod", "protected", "allow-protected"],
    );
}

#[test]
fn dispatch_inputs_are_validated_like_flags() {
    let mut v = fixture("workflow_dispatch.json");
    v["inputs"] = json!({"command": "destroy", "stage": "$(id)"});
    let dir = Dir::new();
    let ev = dir.write_json("event.json", &v);
    dir.run(&["simulate", "--event", &ev.display().to_string()])
        .bad_input(&["workflow_dispatch input `stage`", "$(id)"]);
}

// Hostile values where they are refused: every row exits 2 with one inert
// line on stderr that names where the value came from, prints nothing on
// stdout, and writes nothing. The values are `injection::hostile`.

/// `simulate` of `event` in a fresh folder with `env` set, checked against
/// the bad-input contract; the stderr line must be inert and name every
/// needle.
fn refused(event: &Value, env: &[(&str, &str)], flags: &[&str], needles: &[&str], row: &str) {
    let mut dir = Dir::new();
    dir.env("NO_COLOR", "1");
    dir.write_json("event.json", event);
    let before = dir.listing();
    let mut args = vec!["simulate", "--event", "event.json"];
    args.extend_from_slice(flags);
    let out = dir.run_env(&args, env);
    let context = format!("row: {row}\n{}", out.context());
    assert_eq!(out.code, 2, "{context}");
    out.bad_input(needles);
    assert_inert_text("stderr", &out.stderr, &context);
    assert_eq!(dir.listing(), before, "files changed\n{context}");
}

/// Scenario: an event whose repository name is hostile. It would end up in
/// the commit link of the comment and the summary and in the plan, so it
/// must follow GitHub's OWNER/REPO grammar; the error names the field.
#[test]
fn hostile_repository_names_in_events_are_refused() {
    let mut rows = 0;
    for (kind, value) in hostile() {
        let pr = opened_with(|v| v["pull_request"]["base"]["repo"]["full_name"] = json!(value));
        let pr: Value = serde_json::from_slice(&pr).expect("json");
        refused(
            &pr,
            &[],
            &[],
            &["pull_request.base.repo.full_name", "OWNER/REPO"],
            kind,
        );
        let mut push = fixture("push.json");
        push["repository"]["full_name"] = json!(format!("octo/{value}"));
        refused(&push, &[], &[], &["repository.full_name"], kind);
        rows += 2;
    }
    for bad in [
        "o",
        "o/r/x",
        "-o/r",
        "o/..",
        "o/r)",
        &format!("{}/r", "o".repeat(40)),
    ] {
        let pr = opened_with(|v| v["pull_request"]["head"]["repo"]["full_name"] = json!(bad));
        let pr: Value = serde_json::from_slice(&pr).expect("json");
        refused(&pr, &[], &[], &["pull_request.head.repo.full_name"], bad);
        rows += 1;
    }
    assert!(rows >= 60);
}

/// Scenario: the runner's variables that go into links and requests hold
/// hostile values: GITHUB_REPOSITORY must be OWNER/REPO, GITHUB_SERVER_URL
/// and GITHUB_API_URL https URLs (plain http only to a loopback address,
/// where the fake GitHub of these tests listens), run ids numbers.
#[test]
fn hostile_runner_variables_are_refused() {
    let ev = fixture("pull_request.opened.json");
    // Every value as a repository; each other variable gets every third.
    for (i, (kind, value)) in hostile_args().into_iter().enumerate() {
        refused(
            &ev,
            &[("GITHUB_REPOSITORY", &value)],
            &[],
            &["GITHUB_REPOSITORY"],
            kind,
        );
        let url = format!("https://github.com/{value}");
        let (var, v) = [
            ("GITHUB_RUN_ID", value.as_str()),
            ("GITHUB_SERVER_URL", url.as_str()),
            ("GITHUB_API_URL", url.as_str()),
        ][i % 3];
        refused(&ev, &[(var, v)], &[], &[var], kind);
    }
    for url in [
        "github.com",
        "ftp://github.com",
        "javascript:alert(1)",
        "http://github.com",
        "http://127.0.0.1.evil.test",
        "https://user:pw@github.com",
        "https://github.com/x?y=1",
        "https://github.com/x#y",
        "https://github.com\r\n::error::x",
        "https://git\u{202e}hub.com",
        "https://github.com:abc",
        "https:///x",
    ] {
        for var in ["GITHUB_SERVER_URL", "GITHUB_API_URL"] {
            refused(&ev, &[(var, url)], &[], &[var], url);
        }
    }
}

/// Scenario: inputs whose values have a grammar (a command, a stage, a
/// prefix, a number, a store, a login, a boolean: the input table's strict
/// kinds) get hostile text, as action inputs and as flags; each is refused
/// naming the input.
#[test]
fn hostile_values_of_strict_inputs_are_refused() {
    let ev = fixture("pull_request.opened.json");
    let inputs: Vec<&str> = alchemy_ci::config::INPUTS
        .iter()
        .filter(|i| i.kind.is_strict() && i.set_by.input())
        .map(|i| i.name)
        .collect();
    assert!(inputs.len() >= 8, "{inputs:?}");
    // Each value goes to two inputs and one flag, in rotation, so every
    // input meets a share of every kind without a run per pair.
    for (i, (kind, value)) in hostile_args().into_iter().enumerate() {
        for input in [inputs[i % inputs.len()], inputs[(i + 3) % inputs.len()]] {
            let var = format!("INPUT_{}", input.to_ascii_uppercase());
            let env = [("INPUT_COMMAND", "deploy"), (var.as_str(), value.as_str())];
            let env = if input == "stage" {
                &env[..]
            } else {
                &env[1..]
            };
            refused(&ev, env, &[], &[&var], kind);
        }
        let flag = format!("--{}", inputs[(i + 1) % inputs.len()]);
        refused(&ev, &[], &[&flag, &value], &[&flag], kind);
    }
}

/// Scenario: a config file holding hostile text as a value with a grammar,
/// or as a key. Both are refused naming the file; an unknown key is shown
/// inert in the message.
#[test]
fn hostile_config_values_and_keys_are_refused() {
    let ev = fixture("pull_request.opened.json");
    for (kind, value) in hostile() {
        let quoted = serde_json::to_string(&value).expect("json");
        for body in [
            format!("stage-prefix: {quoted}\n"),
            format!("{quoted}: true\n"),
            format!("command: {quoted}\n"),
        ] {
            let mut dir = Dir::new();
            dir.write_json("event.json", &ev);
            dir.write("alchemy-ci.yml", &body);
            dir.env("NO_COLOR", "1");
            let before = dir.listing();
            let out = dir.run(&["simulate", "--event", "event.json"]);
            let context = format!("row: {kind}\n{}", out.context());
            out.bad_input(&["alchemy-ci.yml"]);
            assert_inert_text("stderr", &out.stderr, &context);
            assert_eq!(dir.listing(), before, "{context}");
        }
    }
}

/// A run that cannot hang the test: killed after a generous deadline (a
/// FIFO used to block the open forever).
fn bounded(cwd: &Path, args: &[&str], env: &[(&str, OsString)]) -> (i32, String, String) {
    let mut child = Command::new(BIN)
        .args(args)
        .current_dir(cwd)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", cwd)
        .env("NO_COLOR", "1")
        .envs(env.iter().map(|(k, v)| (*k, v)))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let deadline = Instant::now() + Duration::from_secs(30);
    while child.try_wait().expect("wait").is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("alchemy-ci {args:?} did not finish in 30 s");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let out = child.wait_with_output().expect("output");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn assert_refused(got: &(i32, String, String), needles: &[&str], row: &str) {
    let (code, stdout, stderr) = got;
    let context = format!("row: {row}\nexit {code}\nstdout:\n{stdout}\nstderr:\n{stderr}");
    assert_eq!(*code, 2, "{context}");
    assert!(stdout.is_empty(), "{context}");
    assert_eq!(stderr.lines().count(), 1, "{context}");
    assert!(!stderr.contains("panicked"), "{context}");
    for n in needles {
        assert!(stderr.contains(n), "stderr lacks {n:?}\n{context}");
    }
    assert_inert_text("stderr", stderr, &context);
}

fn mkfifo(p: &Path) {
    let ok = Command::new("mkfifo").arg(p).status().expect("mkfifo");
    assert!(ok.success());
}

/// Scenario: the event or config file is not a regular file (a FIFO, a
/// device, a folder, a link to a device) or is absurd (too big, not UTF-8,
/// nested 100,000 deep, an alias bomb). Each is refused at once with exit 2,
/// without blocking or reading without bound.
#[test]
fn special_and_absurd_files_are_refused_without_blocking() {
    let dir = Dir::new();
    let d = dir.path();
    dir.write_json("event.json", &fixture("pull_request.opened.json"));
    mkfifo(&d.join("fifo"));
    std::fs::create_dir(d.join("folder")).expect("mkdir");
    std::os::unix::fs::symlink("/dev/zero", d.join("zero-link")).expect("symlink");
    dir.write("non-utf8.yml", b"label: \xff\xfe\n");
    dir.write("big.yml", format!("# {}\n", "x".repeat(1024 * 1024)));
    dir.write(
        "deep.yml",
        format!("label: {}{}\n", "[".repeat(100_000), "]".repeat(100_000)),
    );
    dir.write(
        "compact.yml",
        format!("branches:\n{}x\n", "- ".repeat(100_000)),
    );
    let mut laughs = String::from("a: &a [x, x, x, x, x, x, x, x, x]\n");
    for (i, c) in ('b'..='j').enumerate() {
        let prev = char::from(b'a' + u8::try_from(i).expect("small"));
        laughs.push_str(&format!(
            "{c}: &{c} [{}]\n",
            vec![format!("*{prev}"); 9].join(", ")
        ));
    }
    dir.write("laughs.yml", laughs);
    let event_rows: [(&str, &[&str]); 5] = [
        ("fifo", &["fifo", "FIFO"]),
        ("/dev/zero", &["/dev/zero", "character device"]),
        ("zero-link", &["zero-link", "character device"]),
        ("folder", &["folder", "directory"]),
        ("/dev/null", &["/dev/null", "character device"]),
    ];
    let before = dir.listing();
    for (file, needles) in event_rows {
        let got = bounded(d, &["simulate", "--event", file], &[]);
        assert_refused(&got, needles, file);
    }
    let config_rows: [(&str, &[&str]); 9] = [
        ("fifo", &["fifo", "FIFO"]),
        ("/dev/zero", &["/dev/zero", "character device"]),
        ("zero-link", &["zero-link", "character device"]),
        ("folder", &["folder", "directory"]),
        ("non-utf8.yml", &["non-utf8.yml", "UTF-8"]),
        ("big.yml", &["big.yml", "larger than"]),
        ("deep.yml", &["deep.yml", "nested deeper"]),
        ("compact.yml", &["compact.yml", "nested deeper"]),
        ("laughs.yml", &["laughs.yml"]),
    ];
    for (file, needles) in config_rows {
        let t = Instant::now();
        let got = bounded(
            d,
            &["simulate", "--event", "event.json", "--config", file],
            &[],
        );
        assert_refused(&got, needles, file);
        assert!(
            t.elapsed() < Duration::from_secs(10),
            "{file} took {:?}",
            t.elapsed()
        );
    }
    assert_eq!(dir.listing(), before);

    // The config file found by its usual name, as a FIFO or a folder.
    for (kind, make) in [("fifo", true), ("folder", false)] {
        let dir = Dir::new();
        dir.write_json("event.json", &fixture("pull_request.opened.json"));
        let path = dir.path().join("alchemy-ci.yml");
        if make {
            mkfifo(&path);
        } else {
            std::fs::create_dir(&path).expect("mkdir");
        }
        let got = bounded(dir.path(), &["simulate", "--event", "event.json"], &[]);
        assert_refused(&got, &["alchemy-ci.yml"], kind);
    }
}

/// Scenario: an action input or runner variable that is not UTF-8. It used
/// to be dropped silently and the default used; it is refused, named.
#[test]
fn non_utf8_inputs_and_runner_variables_are_refused_by_name() {
    let dir = Dir::new();
    dir.write_json("event.json", &fixture("pull_request.opened.json"));
    let before = dir.listing();
    for var in [
        "INPUT_LABEL",
        "INPUT_GITHUB-TOKEN",
        "INPUT_STAGE-PREFIX",
        "INPUT_ALLOW-FORKS",
        "GITHUB_REPOSITORY",
        "GITHUB_EVENT_NAME",
    ] {
        let bad = OsString::from_vec(b"pr\xff\xfe-".to_vec());
        let got = bounded(
            dir.path(),
            &["simulate", "--event", "event.json"],
            &[(var, bad)],
        );
        assert_refused(&got, &[var, "UTF-8"], var);
    }
    // A variable of the app's own may be anything: it is not read here.
    let got = bounded(
        dir.path(),
        &["simulate", "--event", "event.json"],
        &[("MY_APP_VAR", OsString::from_vec(b"\xff".to_vec()))],
    );
    assert_eq!(got.0, 0, "{got:?}");
    assert_eq!(dir.listing(), before);
}

/// Scenario: a folder store whose path is not a folder. It used to fail
/// (exit 1) only at the first write, after the stage was locked; it is bad
/// input, for every command.
#[test]
fn dir_store_paths_that_are_not_folders_are_refused() {
    let dir = Dir::new();
    dir.write_json("event.json", &fixture("pull_request.opened.json"));
    dir.write("a-file", "x");
    std::fs::create_dir(dir.path().join("app")).expect("mkdir");
    let before = dir.listing();
    for store in [
        "dir:/dev/null",
        "dir:a-file",
        "dir:a-file/below",
        "dir:/dev/null/x",
    ] {
        for cmd in [
            &["simulate", "--event", "event.json"][..],
            &["run", "--event", "event.json", "--working-directory", "app"][..],
            &["status"][..],
            &["state"][..],
        ] {
            let mut args = cmd.to_vec();
            args.extend(["--state-store", store]);
            if cmd == ["state"] {
                args.push("list");
            }
            let got = bounded(dir.path(), &args, &[]);
            assert_refused(
                &got,
                &["--state-store", store.trim_start_matches("dir:")],
                store,
            );
        }
    }
    assert_eq!(dir.listing(), before);
}

/// Scenario: commands that find the stage missing, or the program missing,
/// before anything runs. None of them creates anything in the store: no
/// folder, no `stages/<stage>.lock`.
#[test]
fn a_missing_stage_or_program_creates_nothing() {
    let dir = Dir::new();
    dir.write_json("event.json", &fixture("pull_request.opened.json"));
    std::fs::create_dir(dir.path().join("app")).expect("mkdir");
    let missing = r#"["no-such-program-here", "{stage}", "{phase}"]"#;
    let rows: [(&[&str], i32); 4] = [
        (&["state", "--state-store", "dir:store", "show", "pr-3"], 2),
        (&["state", "--state-store", "dir:store", "rm", "pr-3"], 2),
        (
            &[
                "read",
                "--stage",
                "pr-3",
                "--state-store",
                "dir:store",
                "--working-directory",
                "app",
            ],
            2,
        ),
        (
            &[
                "run",
                "--event",
                "event.json",
                "--state-store",
                "dir:store",
                "--working-directory",
                "app",
                "--alchemy-command",
                missing,
            ],
            1,
        ),
    ];
    for (args, code) in rows {
        let got = bounded(dir.path(), args, &[]);
        assert_eq!(got.0, code, "{args:?}: {got:?}");
        assert_eq!(got.2.lines().count(), 1, "{args:?}: {got:?}");
        assert!(
            !dir.path().join("store").exists(),
            "{args:?} created {:?}",
            dir.listing()
        );
    }
}

/// Scenario: bad input under `run` in a workflow. The run stops before
/// anything happens; the only files written are the step outputs saying
/// it failed (so `result` is never empty) and a summary saying why, both
/// inert; the store is untouched.
#[test]
fn bad_input_under_run_writes_only_the_failure_outputs() {
    for (row, file, body, flags) in [
        (
            "trusted key in the file",
            "alchemy-ci.yml",
            "allow-forks: true\n",
            &[][..],
        ),
        ("hostile repository", "event.json", "", &[][..]),
        (
            "state store not a folder",
            "",
            "",
            &["--state-store", "dir:/dev/null"][..],
        ),
    ] {
        let mut dir = Dir::new();
        let mut ev = fixture("pull_request.opened.json");
        if row == "hostile repository" {
            ev["pull_request"]["base"]["repo"]["full_name"] = json!("o/r)\r\n::error::<img src=x>");
        }
        dir.write_json("event.json", &ev);
        if !file.is_empty() && !body.is_empty() {
            dir.write(file, body);
        }
        std::fs::create_dir(dir.path().join("app")).expect("mkdir");
        let p = |f: &str| dir.path().join(f).display().to_string();
        let (output, summary) = (p("github_output"), p("step_summary"));
        dir.env("GITHUB_ACTIONS", "true")
            .env("GITHUB_OUTPUT", &output)
            .env("GITHUB_STEP_SUMMARY", &summary)
            .env("NO_COLOR", "1");
        let mut args = vec!["run", "--event", "event.json", "--working-directory", "app"];
        if flags.is_empty() {
            args.extend(["--state-store", "dir:store"]);
        }
        args.extend_from_slice(flags);
        let out = dir.run(&args);
        let context = format!("row: {row}\n{}", out.context());
        assert_eq!(out.code, 2, "{context}");
        assert_eq!(out.stderr.lines().count(), 1, "{context}");
        assert_inert_text("stderr", &out.stderr, &context);
        assert_inert_text("stdout", &out.stdout, &context);
        assert!(!dir.path().join("store").exists(), "{context}");
        let outputs = parse_outputs(&std::fs::read_to_string(&output).expect("outputs"));
        assert_eq!(
            outputs.get("result").map(String::as_str),
            Some("failure"),
            "{context}"
        );
        assert_eq!(
            outputs.get("urls").map(String::as_str),
            Some("[]"),
            "{context}"
        );
        let summary = std::fs::read_to_string(&summary).expect("summary");
        assert_inert_markdown("summary", &summary, &context);
    }
}
