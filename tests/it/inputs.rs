//! Every input is one row of the input table; these check what is made
//! from it: each subcommand's flags (only the inputs it reads, accepted
//! after nested subcommands too), the generated `action.yml` inputs and
//! README table, and the command-line behaviour people expect of a tool
//! (help, messages, standard input, `~`).

use alchemy_ci::cli::{Cli, Cmd, StateCmd};
use alchemy_ci::config::{docs, FlagValues, Sub, INPUTS};
use alchemy_ci::record::{Record, RecordStatus};
use alchemy_ci::stage::{Stage, StagePrefix};
use alchemy_ci::state::dir::DirStore;
use alchemy_ci::state::{Snapshot, StateStore as _, Version};
use alchemy_ci::time::Timestamp;
use clap::Parser;

use crate::support::{fixture, Dir, BIN};

/// The words that start a subcommand that reads inputs.
fn words(sub: Sub) -> Vec<&'static str> {
    match sub {
        Sub::State => vec!["state", "list"],
        other => vec![other.as_str()],
    }
}

/// The input flags a parsed command line carries.
fn flag_values(cmd: Cmd) -> FlagValues {
    match cmd {
        Cmd::Simulate(a) => a.inputs.values,
        Cmd::Run(a) => a.inputs.values,
        Cmd::Cleanup(a) => a.inputs.values,
        Cmd::Status(a) => a.inputs.values,
        Cmd::State(a) => a.inputs.values,
        Cmd::Deploy(a) => a.inputs.values,
        Cmd::Destroy(a) => a.inputs.values,
        Cmd::Read(a) => a.inputs.values,
        Cmd::Docs(_) => FlagValues::default(),
    }
}

/// Scenario: each subcommand is given, one at a time, every input the
/// table says it reads; the value arrives for resolution as typed. Every
/// input it does not read is refused by the parser.
#[test]
fn each_subcommand_takes_exactly_the_inputs_it_reads() {
    for sub in Sub::ALL.iter().copied() {
        for input in INPUTS.iter().filter(|i| i.set_by.flag()) {
            let flag = format!("--{}", input.name);
            let mut args = vec!["alchemy-ci"];
            args.extend(words(sub));
            args.extend([flag.as_str(), "x"]);
            let parsed = Cli::try_parse_from(&args);
            if input.used_by(sub) {
                let cli = parsed.unwrap_or_else(|e| panic!("{args:?}: {e}"));
                let values = flag_values(cli.command);
                assert_eq!(
                    values.0.get(input.name).map(String::as_str),
                    Some("x"),
                    "{args:?}: the value is dropped"
                );
            } else {
                let e = parsed.expect_err(&format!("{args:?} is accepted"));
                assert_eq!(
                    e.kind(),
                    clap::error::ErrorKind::UnknownArgument,
                    "{args:?}"
                );
            }
        }
    }
}

/// Scenario: `alchemy-ci deploy --command destroy` used to deploy, the
/// flag silently ignored. It is refused, naming the flag and the commands
/// that read it, and nothing runs.
#[test]
fn a_flag_the_command_ignores_is_refused() {
    let dir = Dir::new();
    let before = dir.listing();
    dir.run(&["deploy", "--stage", "pr-1", "--command", "destroy"])
        .bad_input(&["deploy does not read --command", "run", "simulate"]);
    dir.run(&["status", "--label", "x"])
        .bad_input(&["status does not read --label"]);
    assert_eq!(dir.listing(), before);
}

fn store_one_stage(root: &std::path::Path, stage: &str) {
    let store = DirStore::new(root);
    let stage = Stage::parse(stage, &StagePrefix::default()).expect("stage");
    let snapshot = Snapshot {
        record: Some(Record::new(
            stage.clone(),
            RecordStatus::Deployed,
            Timestamp::now(),
        )),
        files: Default::default(),
    };
    store
        .put(&stage, &snapshot, &Version::ABSENT, "test")
        .expect("put");
}

/// Scenario: `state show pr-1 --state-store dir:x`, the input after the
/// nested subcommand, works as the flags-first form does.
#[test]
fn inputs_follow_a_nested_subcommand_too() {
    let dir = Dir::new();
    store_one_stage(&dir.path().join("x"), "pr-1");
    let after = dir.run(&["state", "show", "pr-1", "--state-store", "dir:x"]);
    after.ok();
    let before = dir.run(&["state", "--state-store", "dir:x", "show", "pr-1"]);
    before.ok();
    assert!(
        after.stdout.contains("\"stage\": \"pr-1\""),
        "{}",
        after.context()
    );
    assert_eq!(after.stdout, before.stdout);
    let cli = Cli::try_parse_from([
        "alchemy-ci",
        "state",
        "rm",
        "pr-1",
        "--state-store",
        "dir:x",
    ])
    .expect("parses");
    let Cmd::State(args) = cli.command else {
        panic!("state")
    };
    assert!(matches!(args.command, StateCmd::Rm { .. }));
    assert_eq!(
        args.inputs.values.0.get("state-store").map(String::as_str),
        Some("dir:x")
    );
}

/// Scenario: `status` and `state list` on a folder store whose path does
/// not exist used to report 0 stages and exit 0; a mistyped path must not
/// read as an empty store.
#[test]
fn read_only_commands_refuse_a_store_folder_that_is_not_there() {
    let dir = Dir::new();
    for args in [
        &["status", "--state-store", "dir:no/such"][..],
        &["state", "list", "--state-store", "dir:no/such"],
        &["state", "show", "pr-1", "--state-store", "dir:no/such"],
    ] {
        dir.run(args).bad_input(&["dir:no/such", "no such folder"]);
    }
    assert!(!dir.path().join("no").exists());
}

/// Scenario: `dir:~/state` was taken as a folder named `~` in the working
/// directory. A leading `~` is the home folder, as a shell would have it.
#[test]
fn a_folder_store_under_tilde_is_in_the_home_folder() {
    let dir = Dir::new();
    // support::Dir sets HOME to the test's own folder.
    store_one_stage(&dir.path().join("state"), "pr-4");
    let work = dir.path().join("work");
    std::fs::create_dir(&work).expect("mkdir");
    let out = dir.run(&[
        "status",
        "--state-store",
        "dir:~/state",
        "--working-directory",
        "work",
    ]);
    out.ok();
    assert!(out.stdout.contains("1 stage(s)"), "{}", out.context());
    assert!(out.stdout.contains("pr-4"), "{}", out.context());
    assert!(!dir.path().join("~").exists(), "{}", out.context());
}

/// Scenario: `--event -` takes the payload from standard input, so an
/// event can be piped in (`gh api … | alchemy-ci simulate --event -`).
#[test]
fn the_event_can_come_from_standard_input() {
    let dir = Dir::new();
    let body = serde_json::to_vec(&fixture("pull_request.opened.json")).expect("json");
    let out = dir.run_stdin(
        &[
            "simulate",
            "--json",
            "--event",
            "-",
            "--event-name",
            "pull_request",
        ],
        &body,
    );
    out.ok();
    let plan: serde_json::Value = serde_json::from_str(&out.stdout).expect("plan JSON");
    assert_eq!(plan["action"], "deploy", "{}", out.context());
    dir.run_stdin(&["simulate", "--event", "-"], b"not json")
        .bad_input(&["standard input", "not valid JSON"]);
}

/// Scenario: `alchemy-ci` alone printed its one-line description as an
/// error. It prints the help on stderr and exits 2, as git and cargo do;
/// so does a command group given no command.
#[test]
fn no_command_prints_the_help_and_exits_2() {
    let dir = Dir::new();
    for args in [&[][..], &["state"], &["docs"]] {
        let out = dir.run(args);
        assert_eq!(out.code, 2, "{}", out.context());
        assert!(out.stdout.is_empty(), "{}", out.context());
        assert!(
            out.stderr.contains("Usage: alchemy-ci"),
            "{}",
            out.context()
        );
        assert!(out.stderr.contains("Commands:"), "{}", out.context());
    }
}

/// Scenario: clap's messages were cut to their first line, so a missing
/// argument was never named and a bad value never listed the good ones.
#[test]
fn usage_errors_are_whole_and_point_at_the_right_help() {
    let dir = Dir::new();
    dir.run(&["state", "show"]).bad_input(&[
        "required arguments were not provided: <STAGE>",
        "alchemy-ci state show --help",
    ]);
    dir.run(&["simulate", "--pr-state", "maybe"]).bad_input(&[
        "'maybe'",
        "possible values: open, closed",
        "alchemy-ci simulate --help",
    ]);
    dir.run(&["simulate", "--evnt", "x.json"])
        .bad_input(&["--evnt", "similar argument exists: '--event'"]);
}

/// `action.yml`'s inputs and the README's table are generated from the
/// input table; this fails when the committed copies differ from what
/// `alchemy-ci docs inputs` prints. `ALCHEMY_CI_BLESS=1` rewrites them.
#[test]
fn the_generated_input_docs_are_fresh() {
    let repo = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    for (file, format) in [("action.yml", "action-yml"), ("README.md", "markdown")] {
        let out = std::process::Command::new(BIN)
            .args(["docs", "inputs", "--format", format])
            .output()
            .expect("docs");
        assert!(out.status.success(), "{out:?}");
        let block = String::from_utf8(out.stdout).expect("UTF-8");
        let path = repo.join(file);
        let text = std::fs::read_to_string(&path).expect("read");
        let fresh = docs::splice(&text, &block)
            .unwrap_or_else(|| panic!("{file} has no generated-block markers"));
        if fresh == text {
            continue;
        }
        if std::env::var_os("ALCHEMY_CI_BLESS").is_some() {
            std::fs::write(&path, fresh).expect("write");
            continue;
        }
        panic!(
            "{file} is out of date with src/config/defs.rs: rerun with ALCHEMY_CI_BLESS=1, or paste `alchemy-ci docs inputs --format {format}` between its markers"
        );
    }
}
