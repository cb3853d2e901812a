//! Which apps a pull request event deploys: a pure decision from the
//! apps, the PR's changed files, which apps are already deployed for the
//! PR, and an optional force.
//!
//! - An app whose `paths` match a changed file deploys, and says which file
//!   and pattern.
//! - Changed files that cannot be known completely (GitHub lists at most
//!   3,000; no token and no git history) make every app affected, and the
//!   decision says why in a note.
//! - An app already deployed and untouched is **kept**: not redeployed,
//!   not destroyed. One never deployed and untouched is **not affected**.
//! - A force (from `workflow_dispatch` or a comment command) deploys one
//!   app, or all, whatever the files say.
//! - Dependencies come along: an app that deploys needs the apps it
//!   depends on to exist, so a dependency that is not deployed for the PR
//!   deploys too ("needed by web"). One already deployed is kept.
//! - Dependants do **not** redeploy because a dependency did. What a
//!   dependant reads of a dependency is its URL, and a PR stage's URL is
//!   normally stable across deploys (it is named after the stage); a
//!   blanket redeploy would double the work of every push to a shared
//!   app. Instead, once a dependency has deployed, [`redeploy_for_outputs`]
//!   names the kept dependants whose `from-app` value actually changed, and
//!   only those redeploy.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use super::spec::{output_url, AppEnv, AppName, Apps};
use crate::github::comment::NamedUrl;

/// GitHub lists at most this many files of a pull request.
pub const GITHUB_FILES_CAP: usize = 3_000;

/// The files a pull request changes, as far as they can be known.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum ChangedFiles {
    /// Every changed path (for a rename, both names).
    Known { files: Vec<String> },
    /// More than GitHub lists: `listed` were seen before the cap.
    TooMany { listed: usize },
    /// No way to tell (no token, no git history); `why` says which.
    Unknown { why: String },
}

/// A request to deploy regardless of the changed files.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", content = "app", rename_all = "kebab-case")]
pub enum Force {
    All,
    App(AppName),
}

/// What the store holds for an app's stage of this PR.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Presence {
    /// The last deploy succeeded.
    Deployed,
    /// The last deploy failed; its resources may partly exist.
    Failed,
}

/// Why an app deploys.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Because {
    /// `file` changed and `pattern` of the app's `paths` matched it.
    Path { file: String, pattern: String },
    /// The PR changes more files than GitHub lists.
    TooManyFiles,
    /// The changed files are not known.
    FilesUnknown,
    /// `app` deploys and depends on this one, which is not deployed.
    NeededBy { app: AppName },
}

/// The decision for one app.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "verdict", rename_all = "kebab-case")]
pub enum Verdict {
    Deploy {
        because: Because,
    },
    /// Deployed on request.
    Forced,
    /// Deployed (or failed) earlier and untouched now: left as it is.
    Keep {
        last: Presence,
    },
    /// Never deployed for this PR and untouched.
    NotAffected,
}

impl Verdict {
    /// Whether this run deploys the app.
    pub fn deploys(&self) -> bool {
        matches!(self, Self::Deploy { .. } | Self::Forced)
    }
}

/// The decision for every app, in the order the apps are listed, and what
/// the reader must be told about how it was reached.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Affected {
    /// As JSON, one object per app: `{"app": "api", "verdict": "deploy",
    /// "because": {…}}`.
    #[serde(serialize_with = "app_objects")]
    pub apps: Vec<(AppName, Verdict)>,
    pub notes: Vec<String>,
}

fn app_objects<S: serde::Serializer>(apps: &[(AppName, Verdict)], s: S) -> Result<S::Ok, S::Error> {
    #[derive(Serialize)]
    struct Row<'a> {
        app: &'a AppName,
        #[serde(flatten)]
        verdict: &'a Verdict,
    }
    s.collect_seq(apps.iter().map(|(app, verdict)| Row { app, verdict }))
}

impl Affected {
    pub fn verdict(&self, app: &AppName) -> Option<&Verdict> {
        self.apps.iter().find(|(a, _)| a == app).map(|(_, v)| v)
    }

    /// The apps this run deploys, in list order.
    pub fn to_deploy(&self) -> Vec<AppName> {
        self.apps
            .iter()
            .filter(|(_, v)| v.deploys())
            .map(|(a, _)| a.clone())
            .collect()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AffectedError {
    #[error("there is no app named {name:?} to deploy (apps: {known})")]
    UnknownApp { name: String, known: String },
}

/// What the decision reads.
#[derive(Debug, Clone, Copy)]
pub struct Inputs<'a> {
    pub apps: &'a Apps,
    pub changed: &'a ChangedFiles,
    /// Apps with a stage for this PR in the store, and how it last went.
    pub deployed: &'a BTreeMap<AppName, Presence>,
    pub force: Option<&'a Force>,
}

/// What changed since each deployed app's preview was made: for an app
/// live at commit `c`, the files between `c` and the commit this event
/// deploys, when they could be read.
#[derive(Debug, Clone, Copy)]
pub struct Since<'a> {
    pub files: &'a BTreeMap<AppName, ChangedFiles>,
}

/// Decides, for every app, whether this event deploys it. Pure.
pub fn decide(inputs: &Inputs<'_>) -> Result<Affected, AffectedError> {
    decide_push(inputs, None)
}

/// [`decide`], knowing what changed since each deployed app's preview
/// was made: an app the pull request touches whose files did not change
/// since is kept (its preview already runs this code, say after a push
/// that touched only another app); an app whose files changed since
/// deploys even when the pull request as a whole no longer touches it (a
/// reverted change: its preview must follow).
pub fn decide_push(
    inputs: &Inputs<'_>,
    since: Option<&Since<'_>>,
) -> Result<Affected, AffectedError> {
    let apps = inputs.apps;
    let mut notes = Vec::new();
    let mut verdicts: Vec<Option<Verdict>> = vec![None; apps.len()];
    match inputs.force {
        Some(Force::All) => verdicts.fill(Some(Verdict::Forced)),
        Some(Force::App(name)) => {
            let i = apps
                .index_of(name)
                .ok_or_else(|| AffectedError::UnknownApp {
                    name: name.to_string(),
                    known: apps
                        .iter()
                        .map(|a| a.name.as_str())
                        .collect::<Vec<_>>()
                        .join(", "),
                })?;
            verdicts[i] = Some(Verdict::Forced);
        }
        None => match inputs.changed {
            ChangedFiles::Known { files } => {
                for (slot, app) in verdicts.iter_mut().zip(apps) {
                    *slot = files.iter().find_map(|f| {
                        app.paths.matched_by(f).map(|g| Verdict::Deploy {
                            because: Because::Path {
                                file: f.clone(),
                                pattern: g.as_str().to_owned(),
                            },
                        })
                    });
                }
            }
            ChangedFiles::TooMany { listed } => {
                notes.push(format!(
                    "GitHub lists at most {GITHUB_FILES_CAP} changed files of a pull request and this one has more ({listed} listed): every app is treated as affected"
                ));
                verdicts.fill(Some(Verdict::Deploy {
                    because: Because::TooManyFiles,
                }));
            }
            ChangedFiles::Unknown { why } => {
                notes.push(format!(
                    "the changed files are not known ({why}): every app is treated as affected"
                ));
                verdicts.fill(Some(Verdict::Deploy {
                    because: Because::FilesUnknown,
                }));
            }
        },
    }
    if let (None, Some(since)) = (inputs.force, since) {
        follow_changes(apps, since, &mut verdicts);
    }
    pull_in_dependencies(apps, inputs.deployed, &mut verdicts);
    let decided = apps
        .iter()
        .zip(verdicts)
        .map(|(app, v)| {
            let v = v.unwrap_or_else(|| match inputs.deployed.get(&app.name) {
                Some(last) => Verdict::Keep { last: *last },
                None => Verdict::NotAffected,
            });
            (app.name.clone(), v)
        })
        .collect();
    Ok(Affected {
        apps: decided,
        notes,
    })
}

/// Narrows (and widens) the pull request's verdicts to what changed
/// since each deployed app's preview was made; see [`decide_push`].
fn follow_changes(apps: &Apps, since: &Since<'_>, verdicts: &mut [Option<Verdict>]) {
    for (slot, app) in verdicts.iter_mut().zip(apps) {
        let Some(ChangedFiles::Known { files }) = since.files.get(&app.name) else {
            continue;
        };
        let touched = files.iter().find_map(|f| {
            app.paths.matched_by(f).map(|g| Verdict::Deploy {
                because: Because::Path {
                    file: f.clone(),
                    pattern: g.as_str().to_owned(),
                },
            })
        });
        let by_path = matches!(
            slot,
            Some(Verdict::Deploy {
                because: Because::Path { .. }
            })
        );
        match touched {
            Some(v) if slot.is_none() => *slot = Some(v),
            None if by_path => *slot = None,
            _ => {}
        }
    }
}

/// Marks every dependency of a deploying app that is not deployed for the
/// PR (absent, or its last deploy failed) as deploying too, transitively.
/// Dependencies come before dependants in no particular list order, so
/// this walks the graph from each deploying app.
fn pull_in_dependencies(
    apps: &Apps,
    deployed: &BTreeMap<AppName, Presence>,
    verdicts: &mut [Option<Verdict>],
) {
    let mut work: Vec<usize> = verdicts
        .iter()
        .enumerate()
        .filter(|(_, v)| v.as_ref().is_some_and(Verdict::deploys))
        .map(|(i, _)| i)
        .collect();
    while let Some(i) = work.pop() {
        let app = &apps.as_slice()[i];
        for dep in apps.dependencies(app) {
            let Some(j) = apps.index_of(&dep) else {
                continue;
            };
            let live = deployed.get(&dep) == Some(&Presence::Deployed);
            if verdicts[j].is_none() && !live {
                verdicts[j] = Some(Verdict::Deploy {
                    because: Because::NeededBy {
                        app: app.name.clone(),
                    },
                });
                work.push(j);
            }
        }
    }
}

/// After `app` deployed: the apps kept by `affected` whose `env` reads an
/// output of `app` that is not what it was (`before`: its URLs when the
/// run started; `after`: now). Those redeploy so they read the new value;
/// the others are left alone. In list order.
pub fn redeploy_for_outputs(
    apps: &Apps,
    affected: &Affected,
    app: &AppName,
    before: &[NamedUrl],
    after: &[NamedUrl],
) -> Vec<AppName> {
    let kept: BTreeSet<&AppName> = affected
        .apps
        .iter()
        .filter(|(_, v)| matches!(v, Verdict::Keep { .. }))
        .map(|(a, _)| a)
        .collect();
    apps.iter()
        .filter(|a| kept.contains(&a.name))
        .filter(|a| {
            a.env.values().any(|v| match v {
                AppEnv::FromApp { app: from, output } => {
                    from == app && output_url(output, before) != output_url(output, after)
                }
                AppEnv::Value(_) => false,
            })
        })
        .map(|a| a.name.clone())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn apps(yaml: &str) -> Apps {
        Apps::from_text(yaml).expect("valid apps")
    }

    fn n(s: &str) -> AppName {
        AppName::parse(s).expect("name")
    }

    const MONO: &str = r#"
- {name: api, working-directory: apps/api}
- {name: web, working-directory: apps/web, paths: [apps/web/**, packages/ui/**, "!**/*.md"], env: {API: {from-app: api}}}
- {name: docs, working-directory: docs}
- {name: admin, working-directory: apps/admin, depends-on: [web]}
"#;

    fn known(files: &[&str]) -> ChangedFiles {
        ChangedFiles::Known {
            files: files.iter().map(|f| (*f).to_owned()).collect(),
        }
    }

    fn verdicts(a: &Affected) -> Vec<(String, String)> {
        a.apps
            .iter()
            .map(|(n, v)| {
                let short = match v {
                    Verdict::Deploy {
                        because: Because::Path { file, pattern },
                    } => format!("deploy: {file} ({pattern})"),
                    Verdict::Deploy {
                        because: Because::NeededBy { app },
                    } => format!("deploy: needed by {app}"),
                    Verdict::Deploy { because } => format!("deploy: {because:?}"),
                    Verdict::Forced => "forced".into(),
                    Verdict::Keep { last } => format!("keep ({last:?})"),
                    Verdict::NotAffected => "not affected".into(),
                };
                (n.to_string(), short)
            })
            .collect()
    }

    fn decide_with(
        files: ChangedFiles,
        deployed: &[(&str, Presence)],
        force: Option<Force>,
    ) -> Vec<(String, String)> {
        let apps = apps(MONO);
        let deployed: BTreeMap<AppName, Presence> =
            deployed.iter().map(|(a, p)| (n(a), *p)).collect();
        let a = decide(&Inputs {
            apps: &apps,
            changed: &files,
            deployed: &deployed,
            force: force.as_ref(),
        })
        .expect("decides");
        verdicts(&a)
    }

    fn row(app: &str, v: &str) -> (String, String) {
        (app.to_owned(), v.to_owned())
    }

    use Presence::{Deployed, Failed};

    #[test]
    fn a_change_in_one_app_deploys_that_app_only() {
        assert_eq!(
            decide_with(known(&["README.md", "apps/api/src/index.ts"]), &[], None),
            [
                row("api", "deploy: apps/api/src/index.ts (apps/api/**)"),
                row("web", "not affected"),
                row("docs", "not affected"),
                row("admin", "not affected"),
            ]
        );
    }

    #[test]
    fn untouched_deployed_apps_are_kept() {
        assert_eq!(
            decide_with(
                known(&["apps/web/x.tsx"]),
                &[("api", Deployed), ("docs", Failed)],
                None
            ),
            [
                row("api", "keep (Deployed)"),
                row("web", "deploy: apps/web/x.tsx (apps/web/**)"),
                row("docs", "keep (Failed)"),
                row("admin", "not affected"),
            ]
        );
    }

    #[test]
    fn negated_paths_do_not_count() {
        assert_eq!(
            decide_with(
                known(&["apps/web/README.md", "packages/ui/b.md"]),
                &[],
                None
            )[1],
            row("web", "not affected")
        );
        assert_eq!(
            decide_with(
                known(&["packages/ui/a.md", "packages/ui/button.tsx"]),
                &[],
                None
            )[1],
            row("web", "deploy: packages/ui/button.tsx (packages/ui/**)")
        );
    }

    /// admin depends on web, which reads api's URL: deploying admin alone
    /// needs both, unless they are already deployed.
    #[test]
    fn missing_dependencies_are_deployed_too() {
        assert_eq!(
            decide_with(known(&["apps/admin/a.ts"]), &[], None),
            [
                row("api", "deploy: needed by web"),
                row("web", "deploy: needed by admin"),
                row("docs", "not affected"),
                row("admin", "deploy: apps/admin/a.ts (apps/admin/**)"),
            ]
        );
        assert_eq!(
            decide_with(
                known(&["apps/admin/a.ts"]),
                &[("api", Deployed), ("web", Failed)],
                None
            ),
            [
                row("api", "keep (Deployed)"),
                row("web", "deploy: needed by admin"),
                row("docs", "not affected"),
                row("admin", "deploy: apps/admin/a.ts (apps/admin/**)"),
            ]
        );
    }

    /// Dependants of a changed app are not redeployed for it.
    #[test]
    fn dependants_of_a_changed_app_are_kept() {
        assert_eq!(
            decide_with(
                known(&["apps/api/a.ts"]),
                &[("api", Deployed), ("web", Deployed), ("admin", Deployed)],
                None
            ),
            [
                row("api", "deploy: apps/api/a.ts (apps/api/**)"),
                row("web", "keep (Deployed)"),
                row("docs", "not affected"),
                row("admin", "keep (Deployed)"),
            ]
        );
    }

    #[test]
    fn incomplete_file_lists_affect_every_app_and_say_why() {
        let apps = apps(MONO);
        let deployed = BTreeMap::from([(n("api"), Deployed)]);
        for (changed, because, note) in [
            (
                ChangedFiles::TooMany { listed: 3_000 },
                Because::TooManyFiles,
                "at most 3000 changed files",
            ),
            (
                ChangedFiles::Unknown {
                    why: "no token and no git history".into(),
                },
                Because::FilesUnknown,
                "not known (no token and no git history)",
            ),
        ] {
            let a = decide(&Inputs {
                apps: &apps,
                changed: &changed,
                deployed: &deployed,
                force: None,
            })
            .expect("decides");
            assert!(a.apps.iter().all(|(_, v)| v
                == &Verdict::Deploy {
                    because: because.clone()
                }));
            assert_eq!(a.notes.len(), 1);
            assert!(a.notes[0].contains(note), "{}", a.notes[0]);
            assert!(a.notes[0].contains("every app is treated as affected"));
        }
    }

    /// Scenario: a pull request touched `api` in an earlier push, and this
    /// push touches only `web`. Nothing of `api` changed since its preview
    /// was deployed: it is kept. `docs`, whose files changed since its
    /// preview though the pull request as a whole no longer touches it (a
    /// reverted change), deploys so its preview follows.
    #[test]
    fn only_what_changed_since_each_preview_redeploys() {
        let apps = apps(MONO);
        let deployed = BTreeMap::from([(n("api"), Deployed), (n("docs"), Deployed)]);
        let pr_files = known(&["apps/api/a.ts", "apps/web/b.tsx"]);
        let inputs = Inputs {
            apps: &apps,
            changed: &pr_files,
            deployed: &deployed,
            force: None,
        };
        let since = BTreeMap::from([
            (n("api"), known(&["apps/web/b.tsx"])),
            (n("docs"), known(&["apps/web/b.tsx", "docs/x.md"])),
        ]);
        let got = verdicts(&decide_push(&inputs, Some(&Since { files: &since })).expect("decides"));
        assert_eq!(
            got,
            [
                row("api", "keep (Deployed)"),
                row("web", "deploy: apps/web/b.tsx (apps/web/**)"),
                row("docs", "deploy: docs/x.md (docs/**)"),
                row("admin", "not affected"),
            ]
        );
        // What changed since is unknown (a force push, no history): the
        // pull request's files decide.
        let unknown = BTreeMap::from([(n("api"), ChangedFiles::Unknown { why: "x".into() })]);
        let got =
            verdicts(&decide_push(&inputs, Some(&Since { files: &unknown })).expect("decides"));
        assert_eq!(got[0], row("api", "deploy: apps/api/a.ts (apps/api/**)"));
        assert_eq!(got[2], row("docs", "keep (Deployed)"));
    }

    #[test]
    fn a_force_overrides_the_files() {
        assert_eq!(
            decide_with(
                known(&["apps/api/a.ts"]),
                &[("web", Deployed)],
                Some(Force::App(n("docs")))
            ),
            [
                row("api", "not affected"),
                row("web", "keep (Deployed)"),
                row("docs", "forced"),
                row("admin", "not affected"),
            ]
        );
        assert_eq!(
            decide_with(known(&[]), &[], Some(Force::App(n("web"))))[0],
            row("api", "deploy: needed by web")
        );
        assert!(decide_with(known(&[]), &[], Some(Force::All))
            .iter()
            .all(|(_, v)| v == "forced"));
        let apps = apps(MONO);
        let err = decide(&Inputs {
            apps: &apps,
            changed: &known(&[]),
            deployed: &BTreeMap::new(),
            force: Some(&Force::App(n("nope"))),
        })
        .expect_err("unknown app");
        assert_eq!(
            err.to_string(),
            "there is no app named \"nope\" to deploy (apps: api, web, docs, admin)"
        );
    }

    #[test]
    fn the_decision_reads_well_as_json() {
        let apps = apps(MONO);
        let a = decide(&Inputs {
            apps: &apps,
            changed: &known(&["apps/admin/x.ts"]),
            deployed: &BTreeMap::from([(n("api"), Deployed)]),
            force: None,
        })
        .expect("decides");
        let v = serde_json::to_value(&a).expect("json");
        assert_eq!(
            v["apps"],
            serde_json::json!([
                {"app": "api", "verdict": "keep", "last": "deployed"},
                {"app": "web", "verdict": "deploy", "because": {"kind": "needed-by", "app": "admin"}},
                {"app": "docs", "verdict": "not-affected"},
                {"app": "admin", "verdict": "deploy", "because": {"kind": "path", "file": "apps/admin/x.ts", "pattern": "apps/admin/**"}},
            ])
        );
    }

    #[test]
    fn the_first_changed_file_is_the_reason() {
        assert_eq!(
            decide_with(known(&["apps/api/b.ts", "apps/api/a.ts"]), &[], None)[0],
            row("api", "deploy: apps/api/b.ts (apps/api/**)")
        );
    }

    #[test]
    fn a_kept_dependant_redeploys_only_when_the_url_it_reads_changed() {
        let apps = apps(MONO);
        let deployed = BTreeMap::from([
            (n("api"), Deployed),
            (n("web"), Deployed),
            (n("admin"), Deployed),
        ]);
        let affected = decide(&Inputs {
            apps: &apps,
            changed: &known(&["apps/api/x.ts"]),
            deployed: &deployed,
            force: None,
        })
        .expect("decides");
        let url = |u: &str| {
            vec![NamedUrl {
                resource: "worker".into(),
                url: u.into(),
            }]
        };
        let same = redeploy_for_outputs(
            &apps,
            &affected,
            &n("api"),
            &url("https://pr-1.api.test/"),
            &url("https://pr-1.api.test/"),
        );
        assert!(same.is_empty());
        let moved = redeploy_for_outputs(
            &apps,
            &affected,
            &n("api"),
            &url("https://pr-1.api.test/"),
            &url("https://pr-1-v2.api.test/"),
        );
        assert_eq!(moved, [n("web")]);
        // admin does not read api's URL; web (which it depends on) is
        // redeployed, but admin reads nothing of web either.
        let first = redeploy_for_outputs(&apps, &affected, &n("api"), &[], &url("https://a/"));
        assert_eq!(first, [n("web")]);
    }

    proptest::proptest! {
        /// On random dependency graphs, changed files and stores: an app
        /// deploys exactly when a file matches it or a deploying app needs
        /// it and it is not live; every deploying app's dependencies are
        /// deploying or live; the rest are kept or not affected by what
        /// the store holds.
        #[test]
        fn the_decision_keeps_its_promises(
            deps in proptest::collection::vec(proptest::collection::vec(0usize..8, 0..3), 1..8),
            touched in proptest::collection::vec(0usize..10, 0..6),
            store in proptest::collection::vec(0u8..3, 8),
        ) {
            let count = deps.len();
            let yaml: String = deps
                .iter()
                .enumerate()
                .map(|(i, ds)| {
                    // Only earlier apps: a DAG by construction.
                    let ds: Vec<String> = ds.iter().filter(|d| **d < i).map(|d| format!("a{d}")).collect();
                    format!("- {{name: a{i}, working-directory: w{i}, depends-on: [{}]}}\n", ds.join(", "))
                })
                .collect();
            let apps = apps(&yaml);
            let files: Vec<String> = touched.iter().map(|t| format!("w{t}/f.ts")).collect();
            let deployed: BTreeMap<AppName, Presence> = (0..count)
                .filter_map(|i| match store[i] {
                    1 => Some((n(&format!("a{i}")), Deployed)),
                    2 => Some((n(&format!("a{i}")), Failed)),
                    _ => None,
                })
                .collect();
            let a = decide(&Inputs {
                apps: &apps,
                changed: &ChangedFiles::Known { files: files.clone() },
                deployed: &deployed,
                force: None,
            })
            .expect("decides");
            for (app, v) in &a.apps {
                let spec = apps.get(app).expect("listed");
                let touched = files.iter().any(|f| spec.paths.is_match(f));
                let needed_by: Vec<&AppName> = a
                    .apps
                    .iter()
                    .filter(|(other, ov)| ov.deploys() && apps.dependencies(apps.get(other).expect("listed")).contains(app))
                    .map(|(other, _)| other)
                    .collect();
                let live = deployed.get(app) == Some(&Deployed);
                let should_deploy = touched || (!needed_by.is_empty() && !live);
                proptest::prop_assert_eq!(v.deploys(), should_deploy, "{} {:?}", app, v);
                if v.deploys() {
                    for dep in apps.dependencies(spec) {
                        let dv = a.verdict(&dep).expect("listed");
                        proptest::prop_assert!(dv.deploys() || deployed.get(&dep) == Some(&Deployed));
                    }
                } else {
                    let want = match deployed.get(app) {
                        Some(last) => Verdict::Keep { last: *last },
                        None => Verdict::NotAffected,
                    };
                    proptest::prop_assert_eq!(v, &want);
                }
            }
        }
    }
}
