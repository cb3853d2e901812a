//! The policy as tables of (event, config, facts) → plan, over the pure
//! `decide` function.

use std::collections::BTreeMap;
use std::path::Path;

use alchemy_ci::alchemy::{Detected, Flavor};
use alchemy_ci::config::{self, FlagValues, Sources};
use alchemy_ci::event::{self, CommitSha, NameHint};
use alchemy_ci::plan::{self, Action, Facts, LivePr, Plan, RecordFacts, RunContext, StepKind};
use alchemy_ci::record::RecordStatus;
use serde_json::{json, Value};

use crate::support::fixture;

const HEAD: &str = "ec26c3e57ca3a959ca5aad62de7213c562f8c821";
const OTHER: &str = "1111111111111111111111111111111111111111";

fn facts() -> Facts {
    Facts {
        alchemy: Detected {
            flavor: Flavor::V1,
            why: "test".into(),
        },
        can_post: true,
        live_pr: None,
        record: None,
        run: RunContext::default(),
        commenter_permission: None,
        pull_head: None,
    }
}

fn decide_with(
    payload: &Value,
    name: &str,
    flags: &[(&'static str, &str)],
    facts: &Facts,
) -> Result<Plan, plan::PlanError> {
    let bytes = serde_json::to_vec(payload).expect("serialize");
    let hint = NameHint {
        flag: Some(name.into()),
        env: None,
    };
    let event = event::parse(Path::new("event.json"), &bytes, &hint).expect("valid event");
    let flags = FlagValues(flags.iter().map(|(k, v)| (*k, (*v).to_owned())).collect());
    let env = BTreeMap::new();
    let dir = tempfile::tempdir().expect("temp dir");
    let config = config::resolve(&Sources {
        flags: &flags,
        env: &env,
        root: dir.path(),
    })
    .expect("valid config");
    plan::decide(&event, &config, facts)
}

fn decide(payload: &Value, flags: &[(&'static str, &str)], facts: &Facts) -> Plan {
    decide_with(payload, "pull_request", flags, facts).expect("a plan")
}

fn pr(action: &str, edit: impl FnOnce(&mut Value)) -> Value {
    let mut v = fixture("pull_request.synchronize.json");
    v["action"] = json!(action);
    edit(&mut v);
    v
}

fn expect(plan: &Plan, action: Action, stage: Option<&str>, reason_has: &str) {
    assert_eq!(plan.action, action, "{plan:#?}");
    assert_eq!(plan.stage.as_ref().map(|s| s.as_str()), stage, "{plan:#?}");
    assert!(
        plan.reason.contains(reason_has),
        "reason {:?} lacks {reason_has:?}",
        plan.reason
    );
}

#[test]
fn closes_destroy_merged_or_not() {
    let merged = pr("closed", |v| v["pull_request"]["merged"] = json!(true));
    expect(
        &decide(&merged, &[], &facts()),
        Action::Destroy,
        Some("pr-2"),
        "was merged",
    );
    let closed = pr("closed", |_| {});
    expect(
        &decide(&closed, &[], &facts()),
        Action::Destroy,
        Some("pr-2"),
        "without merging",
    );
}

#[test]
fn forks_are_skipped_unless_allowed_and_target_is_flagged_loudly() {
    let fork = pr("opened", |v| {
        v["pull_request"]["head"]["repo"]["full_name"] = json!("mallory/Hello-World");
        v["pull_request"]["head"]["repo"]["fork"] = json!(true);
    });
    expect(
        &decide(&fork, &[], &facts()),
        Action::Skip,
        Some("pr-2"),
        "mallory/Hello-World",
    );

    let allowed = decide(&fork, &[("allow-forks", "true")], &facts());
    expect(&allowed, Action::Deploy, Some("pr-2"), "opened");
    assert!(allowed
        .warnings
        .iter()
        .any(|w| w.contains("read-only token")));

    let target = decide_with(
        &fork,
        "pull_request_target",
        &[("allow-forks", "true")],
        &facts(),
    )
    .expect("a plan");
    assert!(target
        .warnings
        .iter()
        .any(|w| w.contains("DANGER") && w.contains("secrets")));

    let gone = pr("opened", |v| {
        v["pull_request"]["head"]["repo"] = Value::Null
    });
    expect(
        &decide(&gone, &[], &facts()),
        Action::Skip,
        Some("pr-2"),
        "deleted fork",
    );
}

#[test]
fn a_branch_of_a_repository_that_is_itself_a_fork_is_not_a_fork_pr() {
    let inside = pr("opened", |v| {
        v["pull_request"]["head"]["repo"]["fork"] = json!(true)
    });
    expect(
        &decide(&inside, &[], &facts()),
        Action::Deploy,
        Some("pr-2"),
        "opened",
    );
}

#[test]
fn drafts_follow_deploy_drafts() {
    let draft = pr("opened", |v| v["pull_request"]["draft"] = json!(true));
    expect(
        &decide(&draft, &[], &facts()),
        Action::Deploy,
        Some("pr-2"),
        "opened",
    );
    expect(
        &decide(&draft, &[("deploy-drafts", "false")], &facts()),
        Action::Skip,
        Some("pr-2"),
        "draft",
    );
    let converted = pr("converted_to_draft", |_| {});
    expect(
        &decide(&converted, &[], &facts()),
        Action::Skip,
        Some("pr-2"),
        "draft",
    );
}

#[test]
fn a_label_gate_deploys_on_add_and_destroys_on_remove() {
    let gate = [("label", "preview")];
    let unlabelled = pr("opened", |v| v["pull_request"]["labels"] = json!([]));
    expect(
        &decide(&unlabelled, &gate, &facts()),
        Action::Skip,
        Some("pr-2"),
        "preview",
    );

    let added = pr("labeled", |v| {
        v["label"] = json!({"name": "preview"});
        v["pull_request"]["labels"] = json!([{"name": "preview"}]);
    });
    expect(
        &decide(&added, &gate, &facts()),
        Action::Deploy,
        Some("pr-2"),
        "was added",
    );
    expect(
        &decide(&added, &[], &facts()),
        Action::Skip,
        Some("pr-2"),
        "no label input",
    );

    let other = pr("labeled", |v| v["label"] = json!({"name": "bug"}));
    expect(
        &decide(&other, &gate, &facts()),
        Action::Skip,
        Some("pr-2"),
        "not the preview label",
    );

    let removed = pr("unlabeled", |v| v["label"] = json!({"name": "preview"}));
    expect(
        &decide(&removed, &gate, &facts()),
        Action::Destroy,
        Some("pr-2"),
        "was removed",
    );

    let labelled_sync = pr("synchronize", |v| {
        v["pull_request"]["labels"] = json!([{"name": "preview"}])
    });
    expect(
        &decide(&labelled_sync, &gate, &facts()),
        Action::Deploy,
        Some("pr-2"),
        "updated",
    );
}

#[test]
fn other_pull_request_actions_skip() {
    for action in ["assigned", "locked", "edited", "review_requested"] {
        let p = decide(&pr(action, |_| {}), &[], &facts());
        expect(&p, Action::Skip, Some("pr-2"), action);
        assert!(p.steps.is_empty());
    }
}

#[test]
fn live_pull_request_guards_stop_stale_and_closed_deploys() {
    let sync = pr("synchronize", |_| {});
    let live = |open, sha: &str| Facts {
        live_pr: Some(LivePr {
            open,
            head_sha: CommitSha::parse(sha).expect("sha"),
        }),
        ..facts()
    };
    expect(
        &decide(&sync, &[], &live(false, HEAD)),
        Action::Skip,
        Some("pr-2"),
        "closed now",
    );
    let stale = decide(&sync, &[], &live(true, OTHER));
    expect(&stale, Action::Skip, Some("pr-2"), "stale");
    assert!(stale.reason.contains("ec26c3e") && stale.reason.contains("1111111"));
    let current = decide(&sync, &[], &live(true, HEAD));
    expect(&current, Action::Deploy, Some("pr-2"), "updated");
    assert!(!current.unchecked.iter().any(|u| u.contains("live state")));

    let unknown = decide(&sync, &[], &facts());
    assert!(unknown.unchecked.iter().any(|u| u.contains("live state")));
}

#[test]
fn a_tombstone_stops_a_late_synchronize_but_not_a_reopen() {
    let tomb = Facts {
        record: Some(RecordFacts::Present {
            status: RecordStatus::Destroyed,
            tombstone: true,
        }),
        ..facts()
    };
    expect(
        &decide(&pr("synchronize", |_| {}), &[], &tomb),
        Action::Skip,
        Some("pr-2"),
        "destroyed when PR #2 was closed",
    );
    expect(
        &decide(&pr("reopened", |_| {}), &[], &tomb),
        Action::Deploy,
        Some("pr-2"),
        "reopened",
    );
}

#[test]
fn destroying_a_stage_with_nothing_recorded_is_a_no_op() {
    let none = Facts {
        record: Some(RecordFacts::Missing),
        ..facts()
    };
    let p = decide(&pr("closed", |_| {}), &[], &none);
    expect(&p, Action::Skip, Some("pr-2"), "nothing to destroy");
}

#[test]
fn a_protected_stage_is_never_destroyed_by_an_event() {
    let p = decide(
        &pr("closed", |_| {}),
        &[("protected-stages", "pr-2, prod")],
        &facts(),
    );
    expect(&p, Action::Skip, Some("pr-2"), "protected");

    let explicit = decide(
        &pr("closed", |_| {}),
        &[
            ("command", "destroy"),
            ("stage", "prod"),
            ("allow-protected", "true"),
        ],
        &facts(),
    );
    expect(
        &explicit,
        Action::Destroy,
        Some("prod"),
        "asks to destroy prod",
    );
    assert!(explicit.warnings.iter().any(|w| w.contains("protected")));
}

#[test]
fn pushes_deploy_mapped_branches_only() {
    let push = |git_ref: &str, deleted: bool| {
        let mut v = fixture("push.json");
        v["ref"] = json!(git_ref);
        v["deleted"] = json!(deleted);
        v
    };
    let map = [("branches", "main:prod, develop:staging")];
    let go = |v: &Value, flags: &[(&'static str, &str)]| {
        decide_with(v, "push", flags, &facts()).expect("a plan")
    };
    expect(
        &go(&push("refs/heads/main", false), &map),
        Action::Deploy,
        Some("prod"),
        "main",
    );
    expect(
        &go(&push("refs/heads/develop", false), &map),
        Action::Deploy,
        Some("staging"),
        "develop",
    );
    expect(
        &go(&push("refs/heads/feature", false), &map),
        Action::Skip,
        None,
        "not mapped",
    );
    expect(
        &go(&push("refs/tags/v1", false), &map),
        Action::Skip,
        None,
        "not a branch push",
    );
    expect(
        &go(&push("refs/heads/main", true), &map),
        Action::Skip,
        Some("prod"),
        "never destroyed",
    );
}

#[test]
fn schedule_sweeps_and_never_lists_protected_stages_as_orphans() {
    let p = decide_with(
        &json!({"schedule": "17 3 * * *"}),
        "schedule",
        &[],
        &facts(),
    )
    .expect("a plan");
    expect(&p, Action::Cleanup, None, "17 3 * * *");
    let select = p
        .steps
        .iter()
        .find_map(|s| match &s.kind {
            StepKind::SelectOrphans { protected } => Some(protected.clone()),
            _ => None,
        })
        .expect("a select step");
    let names: Vec<&str> = select.iter().map(|s| s.as_str()).collect();
    assert_eq!(names, ["prod", "production", "staging"]);
}

#[test]
fn workflow_dispatch_follows_its_inputs() {
    let mut v = fixture("workflow_dispatch.json");
    let run = |v: &Value| decide_with(v, "workflow_dispatch", &[], &facts());
    expect(
        &run(&v).expect("a plan"),
        Action::Skip,
        None,
        "without a command",
    );
    v["inputs"] = json!({"command": "deploy", "stage": "staging"});
    expect(
        &run(&v).expect("a plan"),
        Action::Deploy,
        Some("staging"),
        "workflow_dispatch",
    );
    v["inputs"] = json!({"command": "destroy", "stage": "staging"});
    assert!(matches!(run(&v), Err(plan::PlanError::Protected { .. })));
    v["inputs"] = json!({"command": "deploy"});
    assert!(matches!(run(&v), Err(plan::PlanError::MissingStage { .. })));
    v["inputs"] = json!({"command": "cleanup"});
    expect(&run(&v).expect("a plan"), Action::Cleanup, None, "sweep");
    // `read` is a command wherever the others are, and is named with them.
    v["inputs"] = json!({"command": "read", "stage": "pr-3"});
    assert_eq!(run(&v).expect("a plan").action, Action::Read);
    v["inputs"] = json!({"command": "nuke"});
    let refused = run(&v).expect_err("not a command").to_string();
    assert!(refused.contains("read, cleanup, status"), "{refused}");
    v["inputs"] = json!({});
    let skipped = run(&v).expect("a plan");
    assert!(skipped.reason.contains("read"), "{}", skipped.reason);
}

#[test]
fn without_a_token_nothing_is_posted_and_the_plan_says_so() {
    let no_token = Facts {
        can_post: false,
        ..facts()
    };
    let p = decide(&pr("opened", |_| {}), &[], &no_token);
    assert!(p.warnings.iter().any(|w| w.contains("no GitHub token")));
    assert!(p.comment_preview.is_none());
    assert!(!p.steps.iter().any(|s| matches!(
        s.kind,
        StepKind::Comment { .. }
            | StepKind::CommentResult { .. }
            | StepKind::CreateDeployment { .. }
    )));
}

#[test]
fn a_failed_run_still_saves_state_records_and_unlocks() {
    for action in ["opened", "closed"] {
        let p = decide(&pr(action, |_| {}), &[], &facts());
        let run_at = p
            .steps
            .iter()
            .position(|s| matches!(s.kind, StepKind::RunAlchemy { .. }))
            .expect("run step");
        for later in &p.steps[run_at + 1..] {
            let must_always = matches!(
                later.kind,
                StepKind::SaveState { .. }
                    | StepKind::WriteRecord { .. }
                    | StepKind::ReleaseLock { .. }
            );
            if must_always {
                assert!(
                    later.always,
                    "{action}: {later:?} would be skipped after a failure"
                );
            }
        }
        // State, record and unlock are one store write, before any call
        // to GitHub after Alchemy: a cancelled job is killed seconds later.
        let unlock_at = p
            .steps
            .iter()
            .position(|s| matches!(s.kind, StepKind::ReleaseLock { .. }))
            .expect("unlock step");
        for later in &p.steps[run_at + 1..unlock_at] {
            assert!(
                !matches!(
                    later.kind,
                    StepKind::CommentResult { .. }
                        | StepKind::DeploymentResult { .. }
                        | StepKind::DeactivateDeployments { .. }
                ),
                "{action}: {later:?} talks to GitHub before the state is saved"
            );
        }
    }
}

#[test]
fn the_stage_prefix_shapes_pull_request_stages() {
    let p = decide(
        &pr("opened", |_| {}),
        &[("stage-prefix", "preview-")],
        &facts(),
    );
    expect(&p, Action::Deploy, Some("preview-2"), "opened");
}

/// A comment by `login` with `body` on PR #1.
fn comment_event(body: &str) -> Value {
    let mut v = fixture("comments/issue_comment.created.pr-deploy.json");
    v["comment"]["body"] = json!(body);
    v
}

/// The facts a comment's run looks up: the permission and the PR's head.
fn comment_facts(
    permission: alchemy_ci::pr_command::permission::Permission,
    head: &str,
    live: &str,
    fork: bool,
) -> Facts {
    let sha = |s: &str| CommitSha::parse(s).expect("sha");
    Facts {
        commenter_permission: Some(permission),
        pull_head: Some(alchemy_ci::github::commands_api::PullHead {
            sha: sha(head),
            open: true,
            draft: false,
            from_fork: fork,
            labels: Vec::new(),
        }),
        live_pr: Some(LivePr {
            open: true,
            head_sha: sha(live),
        }),
        ..facts()
    }
}

fn steps(p: &Plan) -> Vec<&'static str> {
    p.steps
        .iter()
        .map(|s| match &s.kind {
            StepKind::React { .. } => "react",
            StepKind::ReactResult { .. } => "react-result",
            StepKind::CheckCheckout { .. } => "check-checkout",
            StepKind::AcquireLock { .. } => "lock",
            StepKind::KeepPreview { .. } => "keep",
            StepKind::Unlock { .. } => "unlock",
            StepKind::RefreshComment => "comment",
            StepKind::HandOff { .. } => "hand-off",
            StepKind::RunAlchemy { phase, .. } => match phase {
                alchemy_ci::alchemy::Phase::Destroy => "alchemy-destroy",
                _ => "alchemy-deploy",
            },
            _ => "other",
        })
        .filter(|s| *s != "other")
        .collect()
}

/// (what, body, flags, facts, action, steps, reason).
type CommentCase<'a> = (
    &'a str,
    &'a str,
    &'a [(&'static str, &'a str)],
    &'a Facts,
    Action,
    &'a [&'a str],
    &'a str,
);

/// (what, body, flags, facts) → (action, steps, reason). The commands as
/// the pure decision plans them, with the guards a run applies under the
/// lock: a closed PR, a branch's head that moved on, a fork's approval.
#[test]
fn comment_commands_table() {
    use alchemy_ci::pr_command::permission::Permission::{Read, Write};
    let write = comment_facts(Write, HEAD, HEAD, false);
    let mut closed = write.clone();
    closed.live_pr = Some(LivePr {
        open: false,
        head_sha: CommitSha::parse(HEAD).expect("sha"),
    });
    let moved = comment_facts(Write, HEAD, OTHER, false);
    let fork_moved = comment_facts(Write, HEAD, OTHER, true);
    let reader = comment_facts(Read, HEAD, HEAD, false);
    let table: Vec<CommentCase<'_>> = vec![
        (
            "deploy",
            "/alchemy deploy",
            &[],
            &write,
            Action::Deploy,
            &[
                "react",
                "check-checkout",
                "lock",
                "alchemy-deploy",
                "react-result",
            ],
            "commented `/alchemy deploy`",
        ),
        (
            "redeploy",
            "/alchemy redeploy",
            &[],
            &write,
            Action::Redeploy,
            &[
                "react",
                "check-checkout",
                "lock",
                "alchemy-destroy",
                "alchemy-deploy",
                "react-result",
            ],
            "redeploy",
        ),
        (
            "destroy",
            "/alchemy destroy",
            &[],
            &write,
            Action::Destroy,
            &[
                "react",
                "check-checkout",
                "lock",
                "alchemy-destroy",
                "react-result",
            ],
            "destroy",
        ),
        (
            "keep",
            "/alchemy keep 7d",
            &[],
            &write,
            Action::Keep,
            &["react", "lock", "keep", "comment", "react-result"],
            "keep",
        ),
        (
            "unlock",
            "/alchemy unlock",
            &[],
            &write,
            Action::Unlock,
            &["react", "unlock", "comment", "react-result"],
            "unlock",
        ),
        (
            "status",
            "/alchemy status",
            &[],
            &write,
            Action::Reply,
            &["react", "comment", "react-result"],
            "status",
        ),
        (
            "help",
            "/alchemy help",
            &[],
            &write,
            Action::Reply,
            &["react", "comment", "react-result"],
            "help",
        ),
        (
            "a reader",
            "/alchemy deploy",
            &[],
            &reader,
            Action::Skip,
            &["react"],
            "read permission",
        ),
        (
            "a closed PR",
            "/alchemy deploy",
            &[],
            &closed,
            Action::Reply,
            &["react", "comment", "react-result"],
            "closed",
        ),
        (
            "a branch pushed since",
            "/alchemy deploy",
            &[],
            &moved,
            Action::Reply,
            &["react", "comment", "react-result"],
            "the run for that push deploys it",
        ),
        (
            "a fork pushed since: the approved commit",
            "/alchemy deploy",
            &[],
            &fork_moved,
            Action::Deploy,
            &[
                "react",
                "check-checkout",
                "lock",
                "alchemy-deploy",
                "react-result",
            ],
            "deploy",
        ),
        (
            "the first step hands a deploy over",
            "/alchemy deploy",
            &[("command", "comment")],
            &write,
            Action::Approve,
            &["react", "hand-off"],
            "the next step checks out",
        ),
        (
            "the first step answers status itself",
            "/alchemy status",
            &[("command", "comment")],
            &write,
            Action::Reply,
            &["react", "comment", "react-result"],
            "status",
        ),
    ];
    for (what, body, flags, facts, action, want, reason) in table {
        let p = decide_with(&comment_event(body), "issue_comment", flags, facts).expect(what);
        assert_eq!(p.action, action, "{what}: {p:#?}");
        assert_eq!(steps(&p), want, "{what}");
        assert!(p.reason.contains(reason), "{what}: {}", p.reason);
        assert_eq!(p.stage.as_ref().map(|s| s.as_str()), Some("pr-1"), "{what}");
    }
    let fork = decide_with(
        &comment_event("/alchemy deploy"),
        "issue_comment",
        &[],
        &fork_moved,
    )
    .expect("plan");
    let approval = fork.command.and_then(|c| c.approval).expect("an approval");
    assert_eq!(
        approval.sha.as_str(),
        HEAD,
        "the approved commit, not the new head"
    );
    assert!(
        fork.warnings.iter().any(|w| w.contains("new approval")),
        "{:?}",
        fork.warnings
    );
    let pinned = decide_with(
        &comment_event("/alchemy deploy"),
        "issue_comment",
        &[("approved-sha", OTHER)],
        &comment_facts(Write, OTHER, OTHER, true),
    )
    .expect("plan");
    assert_eq!(pinned.commit.as_ref().map(|c| c.as_str()), Some(OTHER));
}

/// Without a token a command can be neither checked nor answered: skipped,
/// with no reaction.
#[test]
fn a_comment_without_a_token_is_skipped() {
    let no_token = Facts {
        can_post: false,
        ..facts()
    };
    let p = decide_with(
        &comment_event("/alchemy deploy"),
        "issue_comment",
        &[],
        &no_token,
    )
    .expect("plan");
    expect(&p, Action::Skip, Some("pr-1"), "need a GitHub token");
    assert!(p.steps.is_empty());
}
