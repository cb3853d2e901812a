//! What deciding the affected apps adds to a run: a pull request with
//! 3,000 changed files (GitHub's cap) in a repository with 50 apps, then
//! what changed since each deployed app's preview (GitHub lists 300
//! files of a comparison), and the whole plan of the run: the event's
//! decision, the affected apps, the order and every app's own plan.
//!
//! Run: `cargo bench --bench apps`. Prints medians; numbers and the
//! machine they came from go in docs/BENCHMARKS.md.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use alchemy_ci::apps::affected::{self, ChangedFiles, Inputs, Presence, Since};
use alchemy_ci::apps::plan::{self as apps_plan, AppFacts};
use alchemy_ci::apps::spec::{AppName, Apps};

const APPS: usize = 50;
const FILES: usize = 3_000;

/// 50 apps as a monorepo would list them: most with the default paths,
/// every fifth also watching shared packages minus their docs, every
/// tenth depending on the first.
fn apps_yaml() -> String {
    (0..APPS)
        .map(|i| {
            let mut app = format!("- name: app-{i:02}\n  working-directory: apps/app-{i:02}\n");
            if i % 5 == 0 {
                app.push_str(&format!(
                    "  paths: [\"apps/app-{i:02}/**\", \"packages/ui-{}/**\", \"!**/*.md\", \"**/CHANGELOG.md\"]\n",
                    i % 3
                ));
            }
            if i % 10 == 0 && i > 0 {
                app.push_str("  depends-on: [app-00]\n");
            }
            app
        })
        .collect()
}

/// A PR's files under `prefix`, with realistic depth and names.
fn files(prefix: impl Fn(usize) -> String) -> Vec<String> {
    (0..FILES)
        .map(|i| {
            format!(
                "{}/src/components/feature-{}/file-{i}.tsx",
                prefix(i),
                i % 40
            )
        })
        .collect()
}

fn median(mut xs: Vec<Duration>) -> Duration {
    xs.sort();
    xs[xs.len() / 2]
}

fn time<T>(runs: usize, mut f: impl FnMut() -> T) -> Duration {
    median(
        (0..runs)
            .map(|_| {
                let t = Instant::now();
                std::hint::black_box(f());
                t.elapsed()
            })
            .collect(),
    )
}

fn main() {
    let yaml = apps_yaml();
    let apps = Apps::from_text(&yaml).expect("valid apps");
    let deployed: BTreeMap<AppName, Presence> = apps
        .iter()
        .step_by(2)
        .map(|a| (a.name.clone(), Presence::Deployed))
        .collect();
    let cases = [
        (
            "3,000 files in 3 apps (a typical large PR)",
            files(|i| format!("apps/app-{:02}", i % 3)),
        ),
        (
            "3,000 files spread over all 50 apps",
            files(|i| format!("apps/app-{:02}", i % APPS)),
        ),
        (
            "3,000 files in no app (every pattern tried on every file)",
            files(|i| format!("vendor/lib-{}", i % 17)),
        ),
        (
            "3,000 Markdown files in shared packages (negations decide)",
            (0..FILES)
                .map(|i| format!("packages/ui-{}/docs/page-{i}.md", i % 3))
                .collect(),
        ),
    ];

    println!("| What | Median |");
    println!("|---|---|");
    let parse = time(200, || Apps::from_text(&yaml).expect("valid"));
    println!("| parse and check 50 apps | {parse:.2?} (200 runs) |");
    for (what, files) in cases {
        let changed = ChangedFiles::Known { files };
        let decide = time(200, || {
            affected::decide(&Inputs {
                apps: &apps,
                changed: &changed,
                deployed: &deployed,
                force: None,
            })
            .expect("decides")
        });
        println!("| decide: {what} | {decide:.2?} (200 runs) |");
    }
    since_case(&apps, &deployed);
    whole_plan(&yaml);
}

/// The affected apps when every deployed app also knows what changed
/// since its preview: 300 files each (a comparison's cap), one of them
/// its own.
fn since_case(apps: &Apps, deployed: &BTreeMap<AppName, Presence>) {
    let changed = ChangedFiles::Known {
        files: files(|i| format!("apps/app-{:02}", i % APPS)),
    };
    let since: BTreeMap<AppName, ChangedFiles> = deployed
        .keys()
        .map(|a| {
            let mut f: Vec<String> = files(|i| format!("vendor/lib-{}", i % 17))
                .into_iter()
                .take(299)
                .collect();
            f.push(format!("apps/{a}/src/index.ts"));
            (a.clone(), ChangedFiles::Known { files: f })
        })
        .collect();
    let took = time(200, || {
        affected::decide_push(
            &Inputs {
                apps,
                changed: &changed,
                deployed,
                force: None,
            },
            Some(&Since { files: &since }),
        )
        .expect("decides")
    });
    println!("| decide, with what changed since each of 25 previews (300 files each) | {took:.2?} (200 runs) |");
}

/// The whole plan of a run: `apps::plan::decide` for a pull request
/// event, 3,000 files spread over the 50 apps (every app deploys, so
/// every app's own plan is made).
fn whole_plan(yaml: &str) {
    let flags = alchemy_ci::config::FlagValues(
        [
            ("apps", yaml.to_owned()),
            ("alchemy-command", "v1".to_owned()),
        ]
        .into(),
    );
    let env = alchemy_ci::env::Env::new();
    let dir = std::env::temp_dir();
    let config = alchemy_ci::config::resolve(&alchemy_ci::config::Sources {
        flags: &flags,
        env: &env,
        root: &dir,
    })
    .expect("config");
    let payload = std::fs::read(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/webhooks/pull_request.synchronize.json"),
    )
    .expect("fixture");
    let event = alchemy_ci::event::parse(
        std::path::Path::new("event.json"),
        &payload,
        &alchemy_ci::event::NameHint::default(),
    )
    .expect("event");
    let facts = alchemy_ci::plan::Facts {
        alchemy: alchemy_ci::alchemy::detect(&config.alchemy_command, &dir),
        can_post: true,
        live_pr: None,
        record: None,
        run: Default::default(),
        commenter_permission: None,
        pull_head: None,
    };
    let app_facts = AppFacts {
        changed: Some(ChangedFiles::Known {
            files: files(|i| format!("apps/app-{:02}", i % APPS)),
        }),
        records: Some(BTreeMap::new()),
        ..AppFacts::default()
    };
    let took = time(50, || {
        apps_plan::decide(&event, &config, &facts, &app_facts).expect("plans")
    });
    println!("| the whole plan: 3,000 files, all 50 apps deploy, each app's plan | {took:.2?} (50 runs) |");
}
