//! Hostile values change nothing about the stage, never reach a shell,
//! and are shown inert wherever they are shown: the terminal (and the
//! runner, which reads workflow commands from every line), JSON on stdout,
//! step outputs, the job summary and the PR comment. Stages come only from
//! validated numbers and names, and commands are argument vectors.
//!
//! The tables here hold values that are valid where they are put (a title,
//! a branch, a label, an app's URL); `bad_input.rs` holds the ones that
//! are refused. Both draw on [`hostile`].

use std::collections::BTreeMap;

use serde_json::{json, Value};

use crate::fake_github::{FakeGitHub, PullState, TokenKind, ACTIONS_BOT};
use crate::support::{fixture, Dir, Output};

/// Text an attacker controls, one of each kind: terminal and C1 controls,
/// line breaks that would start a workflow command, bidi overrides and
/// isolates, zero-width and tag characters, HTML, Markdown links, images,
/// table pipes, mentions, math, shell, and very long values. Every value
/// holds at least one character no name, number or URL may contain.
pub fn hostile() -> Vec<(&'static str, String)> {
    let mut rows: Vec<(&'static str, String)> = [
        ("escape", "\u{1b}[2J\u{1b}[31mred\u{1b}]0;title\u{7}"),
        ("carriage return", "ok\rFAKE"),
        ("crlf command", "x\r\n::error::pwned"),
        ("lf command", "x\n::set-output name=url::https://evil.test"),
        ("nul", "a\0b"),
        ("del and c1", "a\u{7f}\u{85}\u{9b}31mb"),
        ("rlo", "safe\u{202e}txt.exe"),
        ("isolates", "\u{2066}a\u{2069}\u{2067}b\u{2068}c\u{202c}"),
        ("zero width", "a\u{200b}\u{200c}\u{200d}\u{200e}\u{200f}b"),
        ("bom", "\u{feff}bom"),
        ("line separators", "a\u{2028}b\u{2029}c"),
        ("tags", "x\u{e0001}\u{e0041}\u{e007f}"),
        ("soft hyphen", "in\u{ad}visible"),
        ("html", "<img src=x onerror=alert(1)>"),
        ("marker", "<!-- alchemy-ci:stage=pr-1 -->"),
        ("details", "</pre></details><script>alert(1)</script>"),
        ("link", "[click](https://evil.test)"),
        ("image", "![x](https://evil.test/x.png)"),
        ("table", "a | b | c"),
        ("backticks", "``` code ```"),
        ("mention", "@octocat #1 :smile: owner/repo#2"),
        ("math", "$\\int_0^1$"),
        ("workflow command", "::error::pwned"),
        ("add mask", "::add-mask::x"),
        ("stop commands", "::stop-commands::tok"),
        ("percent", "%0A::error::x%0D"),
        ("shell", "$(touch pwned)`id`;rm -rf /"),
        ("quotes", "\"'\\"),
        ("javascript", "javascript:alert(1)"),
    ]
    .into_iter()
    .map(|(k, v)| (k, v.to_owned()))
    .collect();
    rows.push(("long", "x\u{202e}".repeat(20_000)));
    rows.push(("long escapes", "\u{1b}[31m".repeat(10_000)));
    rows
}

/// [`hostile`] without the values an environment variable or an argument
/// cannot carry (a NUL byte).
pub fn hostile_args() -> Vec<(&'static str, String)> {
    hostile()
        .into_iter()
        .filter(|(_, v)| !v.contains('\0'))
        .collect()
}

/// Characters that must never reach a terminal, an output or a comment raw.
/// Written out here rather than taken from the library, so a gap in the
/// library's rule cannot hide in the test.
fn raw_unsafe(c: char) -> bool {
    (c.is_control() && c != '\n')
        || matches!(c,
            '\u{ad}' | '\u{200b}'..='\u{200f}' | '\u{202a}'..='\u{202e}'
            | '\u{2060}'..='\u{206f}' | '\u{feff}' | '\u{2028}' | '\u{2029}'
            | '\u{e0000}'..='\u{e007f}')
}

/// The workflow commands alchemy-ci itself prints; any other line that
/// starts with `::` came from somewhere it should not have.
const OWN_COMMANDS: &[&str] = &[
    "::add-mask::",
    "::group::",
    "::endgroup::",
    "::stop-commands::alchemy-ci-",
    "::alchemy-ci-",
    "::error title=alchemy-ci::",
    "::warning title=alchemy-ci::",
    "::notice title=alchemy-ci::",
];

/// Text for a terminal or a log: no raw unsafe character, and no line the
/// runner would take for a workflow command that alchemy-ci did not write.
pub fn assert_inert_text(what: &str, text: &str, context: &str) {
    if let Some(c) = text.chars().find(|c| raw_unsafe(*c)) {
        panic!("{what} holds a raw {c:?}\n{context}");
    }
    for line in text.lines() {
        let t = line.trim_start();
        if t.starts_with("::") {
            assert!(
                OWN_COMMANDS.iter().any(|own| t.starts_with(own)),
                "{what} has a workflow command that is not alchemy-ci's: {line:?}\n{context}"
            );
        }
    }
}

/// The HTML alchemy-ci writes into a comment or summary; any other `<`
/// came from an untrusted value.
const OWN_TAGS: &[&str] = &[
    "<!-- alchemy-ci:stage=",
    "<details>",
    "</details>",
    "<summary>",
    "</summary>",
    "<pre>",
    "</pre>",
    "<sub>",
    "</sub>",
];

/// Markdown for a comment or the summary: inert text, only alchemy-ci's
/// own tags and one marker, no image, no link to anywhere but the app's
/// own hosts and GitHub, no raw table pipe in a line that is not a row.
pub fn assert_inert_markdown(what: &str, md: &str, context: &str) {
    assert_inert_text(what, md, context);
    for (i, _) in md.match_indices('<') {
        assert!(
            OWN_TAGS.iter().any(|t| md[i..].starts_with(t)),
            "{what} has markup that is not alchemy-ci's at {:?}\n{context}",
            &md[i..md.len().min(i + 40)]
        );
    }
    assert!(
        md.matches("<!--").count() <= 1,
        "{what}: a second marker\n{context}"
    );
    assert!(!md.contains("!["), "{what}: an image\n{context}");
    for (i, _) in md.match_indices("](") {
        let target = &md[i + 2..];
        let lower = target.to_ascii_lowercase();
        let ok = ["https://github.com/", "https://pr-", "https://ok.test"]
            .iter()
            .any(|p| lower.starts_with(p));
        assert!(
            ok,
            "{what} links to {:?}\n{context}",
            &target[..target.len().min(60)]
        );
    }
    for line in md.lines().filter(|l| l.starts_with("| ")) {
        let cells = line.matches(" | ").count();
        assert!(
            cells <= 1,
            "{what}: a value broke a table row: {line:?}\n{context}"
        );
    }
}

/// A finished command's streams are inert.
fn assert_inert_output(out: &Output, context: &str) {
    assert!(!out.stderr.contains("panicked"), "panic\n{context}");
    assert_inert_text("stdout", &out.stdout, context);
    assert_inert_text("stderr", &out.stderr, context);
}

/// Scenario: an event whose title, branches or labels hold hostile text.
/// The plan shows each value escaped (people read it, the runner reads
/// it), `--json` keeps it exactly but escapes what a terminal would act
/// on, and nothing is written.
#[test]
fn hostile_event_fields_are_shown_inert() {
    let mut dir = Dir::new();
    dir.env("NO_COLOR", "1");
    let mut rows = 0;
    for (field, path) in [
        ("title", &["pull_request", "title"][..]),
        ("head ref", &["pull_request", "head", "ref"][..]),
        ("base ref", &["pull_request", "base", "ref"][..]),
        ("label", &["pull_request", "labels", "0", "name"][..]),
    ] {
        for (kind, value) in hostile() {
            let mut v = fixture("pull_request.labeled.json");
            let mut at = &mut v;
            for key in path {
                at = match key.parse::<usize>() {
                    Ok(i) => &mut at[i],
                    Err(_) => &mut at[*key],
                };
            }
            *at = json!(value);
            dir.write_json("event.json", &v);
            let before = dir.listing();
            let context = format!("{field} = {kind}");
            let human = dir.run(&["simulate", "--event", "event.json"]);
            assert_eq!(human.code, 0, "{context}\n{}", human.context());
            assert_inert_output(&human, &format!("{context}\n{}", human.context()));
            let json_out = dir.run(&["simulate", "--json", "--event", "event.json"]);
            assert_eq!(json_out.code, 0, "{context}\n{}", json_out.context());
            assert_inert_output(&json_out, &context);
            let plan: Value = serde_json::from_str(&json_out.stdout)
                .unwrap_or_else(|e| panic!("{context}: not JSON ({e})"));
            let shown = match field {
                "title" => &plan["pull_request"]["title"],
                "head ref" => &plan["pull_request"]["head_ref"],
                "base ref" => &plan["pull_request"]["base_ref"],
                _ => &Value::Null,
            };
            if field != "label" {
                assert_eq!(
                    shown,
                    &json!(value),
                    "{context}: JSON keeps the value exactly"
                );
            }
            assert_eq!(plan["stage"], "pr-2", "{context}");
            assert_eq!(dir.listing(), before, "{context}: files changed");
            rows += 1;
        }
    }
    assert_eq!(rows, 4 * hostile().len());
}

/// Scenario: a title with a line break and a bidi override. The plan
/// shows it on the PR line, quoted and escaped once: `\n`, not `\\n`.
#[test]
fn a_title_is_escaped_once() {
    let dir = Dir::new();
    let mut v = fixture("pull_request.opened.json");
    v["pull_request"]["title"] = json!("fix\nthe \u{202e}bug");
    dir.write_json("event.json", &v);
    let out = dir.run(&["simulate", "--event", "event.json"]);
    out.ok();
    let pr_line = out
        .stdout
        .lines()
        .find(|l| l.starts_with("PR "))
        .unwrap_or_else(|| panic!("no PR line\n{}", out.context()));
    assert!(
        pr_line.contains(r#" "fix\nthe \u{202e}bug", action opened"#),
        "{pr_line}"
    );
}

/// Scenario: an event name, given as a flag or by the runner, that no
/// event has: it is shown inert, and the run skips.
#[test]
fn hostile_event_names_are_shown_inert() {
    let mut dir = Dir::new();
    dir.env("NO_COLOR", "1");
    dir.write_json("event.json", &fixture("pull_request.opened.json"));
    for (kind, value) in hostile_args() {
        for how in ["flag", "env"] {
            let out = match how {
                "flag" => dir.run(&["simulate", "--event", "event.json", "--event-name", &value]),
                _ => dir.run_env(
                    &["simulate", "--event", "event.json"],
                    &[("GITHUB_EVENT_NAME", &value)],
                ),
            };
            let context = format!("event name ({how}) = {kind}\n{}", out.context());
            assert_eq!(out.code, 0, "{context}");
            assert_inert_output(&out, &context);
            assert!(out.stdout.contains("SKIP"), "{context}");
        }
    }
}

/// Scenario: the preview label, set by the workflow (an input) or the
/// config file, is hostile text. It is a label like any other: compared,
/// and shown inert when the plan explains a skip.
#[test]
fn hostile_preview_labels_are_shown_inert() {
    for (kind, value) in hostile_args() {
        let mut dir = Dir::new();
        dir.env("NO_COLOR", "1");
        dir.write_json("event.json", &fixture("pull_request.opened.json"));
        let out = dir.run_env(
            &["simulate", "--event", "event.json"],
            &[("INPUT_LABEL", &value)],
        );
        let context = format!("INPUT_LABEL = {kind}\n{}", out.context());
        assert_eq!(out.code, 0, "{context}");
        assert_inert_output(&out, &context);
        assert!(out.stdout.contains("SKIP"), "{context}");

        // The same value in the file, written as a YAML double-quoted
        // string (JSON's escapes are YAML's).
        let yaml = format!("label: {}\n", serde_json::to_string(&value).expect("json"));
        dir.write("alchemy-ci.yml", yaml);
        let out = dir.run(&["simulate", "--event", "event.json"]);
        let context = format!("alchemy-ci.yml label = {kind}\n{}", out.context());
        // A YAML parser may refuse some characters (a BOM inside a
        // document): then it is bad input, said on one line.
        if out.code == 2 {
            out.bad_input(&["alchemy-ci.yml"]);
        } else {
            assert_eq!(out.code, 0, "{context}");
            assert!(out.stdout.contains("SKIP"), "{context}");
        }
        assert_inert_output(&out, &context);
    }
}

#[test]
fn a_hostile_head_branch_changes_nothing_and_runs_nothing() {
    let dir = Dir::new();
    let canary = dir.path().join("pwned");
    let branch = format!(
        "$(touch {});../../x`touch {}`",
        canary.display(),
        canary.display()
    );
    let mut v = fixture("pull_request.opened.json");
    v["pull_request"]["head"]["ref"] = json!(branch);
    v["pull_request"]["title"] = json!("\u{1b}[2J\u{1b}[31mfake\nline");
    let ev = dir.write_json("event.json", &v);

    let plan = dir.plan(&ev, &[]);
    assert_eq!(plan["stage"], "pr-2");
    assert_eq!(
        plan["pull_request"]["head_ref"],
        json!(branch),
        "shown as data"
    );
    let steps = plan["steps"].as_array().expect("steps");
    let run = steps
        .iter()
        .find(|s| s["step"] == "run-alchemy")
        .expect("run step");
    for arg in run["argv"].as_array().expect("argv") {
        let arg = arg.as_str().expect("string");
        assert!(
            !arg.contains("touch") && !arg.contains(".."),
            "{arg:?} came from the event"
        );
    }

    let human = dir.run(&["simulate", "--event", "event.json"]);
    human.ok();
    assert!(
        !human.stdout.contains('\u{1b}'),
        "raw escape reached the terminal"
    );
    assert!(!canary.exists(), "the branch name ran as a command");
}

#[test]
fn a_stage_from_a_dispatch_or_flag_is_checked_before_anything_happens() {
    let dir = Dir::new();
    let ev = dir.write_json("event.json", &fixture("workflow_dispatch.json"));
    let ev = ev.display().to_string();
    for bad in ["x;touch pwned;", "../x", "$(id)", "pr-0", "Prod"] {
        dir.run(&[
            "simulate",
            "--event",
            &ev,
            "--command",
            "deploy",
            "--stage",
            bad,
        ])
        .bad_input(&["--stage"]);
    }
    assert!(!dir.path().join("pwned").exists());
}

/// Parses the `name<<DELIM … DELIM` records of a GITHUB_OUTPUT file.
pub fn parse_outputs(text: &str) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let mut lines = text.lines();
    while let Some(line) = lines.next() {
        let Some((name, delim)) = line.split_once("<<") else {
            continue;
        };
        let mut value = Vec::new();
        for l in lines.by_ref() {
            if l == delim {
                break;
            }
            value.push(l);
        }
        out.insert(name.to_owned(), value.join("\n"));
    }
    out
}

/// URLs an app might report, hostile or odd, and whether alchemy-ci should
/// take each as the stage's URL.
fn app_urls() -> Vec<(&'static str, String, bool)> {
    let mut rows: Vec<(&'static str, String, bool)> = [
        ("escape", "https://ok.test/\u{1b}[31mx", false),
        ("bidi", "https://ok.test/\u{202e}gpj.exe", false),
        ("zero width", "https://ok.test/a\u{200b}b", false),
        ("crlf command", "https://ok.test/\r\n::error::x", false),
        ("javascript", "javascript:alert(1)", false),
        ("data", "data:text/html,<script>alert(1)</script>", false),
        ("credentials", "https://user:pw@evil.test/", false),
        ("lookalike host", "https://ok.test@evil.test/", false),
        ("no host", "https:///path", false),
        ("space", "https://ok.test/a b", false),
        (
            "closing paren and tag",
            "https://ok.test/)<img/src=x/onerror=alert(1)>",
            true,
        ),
        (
            "marker",
            "https://ok.test/<!--alchemy-ci:stage=pr-1-->",
            true,
        ),
        ("nested link", "https://ok.test/](https://evil.test)", true),
        ("pipes", "https://ok.test/|x|y", true),
        ("backticks", "https://ok.test/`code`", true),
        ("percent", "https://ok.test/%0A::error::x", true),
        ("upper case", "HTTPS://OK.TEST/upper", true),
        ("port and query", "https://ok.test:8443/p?q=1&r=<2>#f", true),
    ]
    .into_iter()
    .map(|(k, v, ok)| (k, v.to_owned(), ok))
    .collect();
    rows.push((
        "too long",
        format!("https://ok.test/{}", "a".repeat(3000)),
        false,
    ));
    rows
}

/// One `alchemy-ci run` of an app whose command does nothing and whose
/// outputs file says `outputs`, under Actions, posting to `fake`.
fn run_app_with_outputs(fake: &FakeGitHub, n: u64, outputs: &Value) -> (Dir, Output) {
    let mut dir = Dir::new();
    let sha = FakeGitHub::sha(&format!("inert-{n}"));
    fake.set_pull("Codertocat", "Hello-World", n, PullState::Open, &sha);
    let mut ev = fixture("pull_request.opened.json");
    ev["number"] = json!(n);
    ev["pull_request"]["number"] = json!(n);
    ev["pull_request"]["head"]["sha"] = json!(sha);
    dir.write_json("event.json", &ev);
    dir.write_json("app/outputs.json", outputs);
    let p = |f: &str| dir.path().join(f).display().to_string();
    let (output, summary, store) = (p("github_output"), p("step_summary"), p("store"));
    for (k, v) in [
        ("NO_COLOR", "1"),
        ("GITHUB_ACTIONS", "true"),
        ("GITHUB_API_URL", fake.url()),
        ("GITHUB_SERVER_URL", "https://github.com"),
        ("GITHUB_REPOSITORY", "Codertocat/Hello-World"),
        ("GITHUB_RUN_ID", "77"),
        ("GITHUB_OUTPUT", &output),
        ("GITHUB_STEP_SUMMARY", &summary),
        ("INPUT_GITHUB-TOKEN", "ghs_inert_token"),
    ] {
        dir.env(k, v);
    }
    let out = dir.run(&[
        "run",
        "--event",
        "event.json",
        "--working-directory",
        "app",
        "--state-store",
        &format!("dir:{store}"),
        "--alchemy-command",
        r#"["true", "{stage}", "{phase}"]"#,
        "--outputs-file",
        "outputs.json",
    ]);
    (dir, out)
}

/// Checks one run's every surface: exit 0, streams, step outputs, summary
/// and PR comment inert; returns the `url` output.
fn assert_run_inert(fake: &FakeGitHub, n: u64, dir: &Dir, out: &Output, context: &str) -> String {
    let context = format!("{context}\n{}", out.context());
    assert_eq!(out.code, 0, "{context}");
    assert_inert_output(out, &context);
    let outputs_text =
        std::fs::read_to_string(dir.path().join("github_output")).expect("outputs written");
    assert_inert_text("GITHUB_OUTPUT", &outputs_text, &context);
    let outputs = parse_outputs(&outputs_text);
    for (name, value) in &outputs {
        assert!(
            !value.contains('\n'),
            "output {name} spans lines\n{context}"
        );
    }
    let urls: Vec<String> = serde_json::from_str(&outputs["urls"]).expect("urls is JSON");
    assert!(
        urls.iter()
            .all(|u| u.to_ascii_lowercase().starts_with("http")),
        "{urls:?}"
    );
    let summary = std::fs::read_to_string(dir.path().join("step_summary")).expect("summary");
    assert_inert_markdown("summary", &summary, &context);
    let comments = fake.comments("Codertocat", "Hello-World", n);
    assert_eq!(comments.len(), 1, "{context}");
    assert_inert_markdown("comment", &comments[0].body, &context);
    outputs["url"].clone()
}

/// Scenario: the app reports hostile URLs (through its outputs file, as
/// it could through its state). Only plain http(s) URLs without unsafe
/// characters or credentials become the stage's URLs, as given; those are
/// percent-encoded in links, and every surface stays inert. One run holds
/// every row, in key order.
#[test]
fn hostile_app_urls_are_refused_or_linked_inert() {
    let fake = FakeGitHub::start();
    fake.add_token("ghs_inert_token", ACTIONS_BOT, TokenKind::Installation);
    let rows = app_urls();
    let outputs: serde_json::Map<String, Value> = rows
        .iter()
        .enumerate()
        .map(|(i, (_, url, _))| (format!("u{i:02}"), json!(url)))
        .collect();
    let (dir, out) = run_app_with_outputs(&fake, 100, &Value::Object(outputs));
    assert_run_inert(&fake, 100, &dir, &out, "hostile app URLs");
    let outputs_text = std::fs::read_to_string(dir.path().join("github_output")).expect("outputs");
    let got: Vec<String> =
        serde_json::from_str(&parse_outputs(&outputs_text)["urls"]).expect("urls");
    let taken: Vec<&str> = rows.iter().filter(|r| r.2).map(|r| r.1.as_str()).collect();
    let refused: Vec<&str> = rows.iter().filter(|r| !r.2).map(|r| r.0).collect();
    assert_eq!(got, taken, "refused: {refused:?}\n{}", out.context());
    assert_eq!(parse_outputs(&outputs_text)["url"], taken[0]);
}

/// Scenario: the app names its URLs (resource ids, output keys) with
/// hostile text. The names show in the URL table of the comment and the
/// summary, and in the log, inert; a very long name is cut, and the
/// comment still fits GitHub's limit and is updated. One run holds every
/// row.
#[test]
fn hostile_resource_names_are_shown_inert() {
    let fake = FakeGitHub::start();
    fake.add_token("ghs_inert_token", ACTIONS_BOT, TokenKind::Installation);
    let rows = hostile();
    let outputs: serde_json::Map<String, Value> = rows
        .iter()
        .enumerate()
        .map(|(i, (_, name))| (name.clone(), json!(format!("https://ok.test/{i}"))))
        .collect();
    let (dir, out) = run_app_with_outputs(&fake, 200, &Value::Object(outputs));
    assert_run_inert(&fake, 200, &dir, &out, "hostile resource names");
    let body = &fake.comments("Codertocat", "Hello-World", 200)[0].body;
    assert!(
        body.contains("Deployed"),
        "the final update was accepted\n{body}"
    );
    let rows_shown = body
        .lines()
        .filter(|l| l.contains("(https://ok.test/"))
        .count();
    // The primary URL's row, and one table row per name.
    assert_eq!(rows_shown, rows.len() + 1, "{body}");
}
