//! What deciding the affected apps adds to a run: a pull request with
//! 3,000 changed files (GitHub's cap) in a repository with 50 apps.
//!
//! Run: `cargo bench --bench apps`. Prints medians; numbers and the
//! machine they came from go in docs/BENCHMARKS.md.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use alchemy_ci::apps::affected::{self, ChangedFiles, Inputs, Presence};
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
}
