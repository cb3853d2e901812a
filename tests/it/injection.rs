//! Hostile values in an event change nothing about the stage and never
//! reach a shell: stages come only from validated numbers and names, and
//! commands are argument vectors.

use serde_json::json;

use crate::support::{fixture, Dir};

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
