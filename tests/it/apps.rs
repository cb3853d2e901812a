//! Monorepo apps against real parts: a pull request's changed files from
//! the fake GitHub over HTTP (paging, GitHub's 3,000-file cap, retries),
//! and the affected-apps decision made from them.

use std::collections::BTreeMap;
use std::time::Duration;

use alchemy_ci::apps::affected::{self, Because, ChangedFiles, Inputs, Presence, Verdict};
use alchemy_ci::apps::spec::{AppName, Apps};
use alchemy_ci::github::client::{Client, ForgeError, RetryPolicy};
use alchemy_ci::github::files::changed_files;
use alchemy_ci::stage::PrNumber;
use http::Method;
use serde_json::Value;

use crate::fake_github::{FakeGitHub, Fault, PullFile, TokenKind, ACTIONS_BOT};

const OWNER: &str = "Codertocat";
const REPO: &str = "Hello-World";
const TOKEN: &str = "ghs_apps_token";

fn fake() -> FakeGitHub {
    let fake = FakeGitHub::start();
    fake.add_token(TOKEN, ACTIONS_BOT, TokenKind::Installation);
    fake.add_repo(OWNER, REPO);
    fake
}

fn client(fake: &FakeGitHub) -> Client {
    let policy = RetryPolicy {
        max_attempts: 4,
        max_wait: Duration::from_secs(20),
        backoff: Duration::from_millis(50),
        request_timeout: Duration::from_secs(30),
    };
    Client::new(fake.url(), TOKEN.to_owned().into(), policy).expect("client")
}

fn pr(n: u64) -> PrNumber {
    PrNumber::new(n).expect("pr")
}

fn files(n: usize) -> Vec<PullFile> {
    (0..n)
        .map(|i| PullFile::modified(&format!("apps/a{}/src/f{i}.ts", i % 7)))
        .collect()
}

fn list(fake: &FakeGitHub, n: u64) -> Result<ChangedFiles, ForgeError> {
    changed_files(&client(fake), &format!("{OWNER}/{REPO}"), pr(n))
}

fn file_requests(fake: &FakeGitHub, n: u64) -> usize {
    fake.count_requests("GET", &format!("/repos/{OWNER}/{REPO}/pulls/{n}/files"))
}

#[test]
fn changed_files_are_read_across_pages_and_renames_count_twice() {
    let fake = fake();
    let mut fs = files(249);
    fs.push(PullFile::renamed("apps/web/old.ts", "apps/api/new.ts"));
    fake.set_pull_files(OWNER, REPO, 7, fs);
    let got = list(&fake, 7).expect("listed");
    let ChangedFiles::Known { files } = got else {
        panic!("expected a full list, got {got:?}");
    };
    assert_eq!(files.len(), 251);
    assert_eq!(&files[249..], ["apps/web/old.ts", "apps/api/new.ts"]);
    assert_eq!(file_requests(&fake, 7), 3, "100 per page");
}

/// GitHub lists at most 3,000 files: a pull request with more (or exactly
/// that many, which cannot be told apart) is "too many", read in the 30
/// pages GitHub serves and not one more.
#[test]
fn three_thousand_files_or_more_are_too_many() {
    for (n, total) in [(8, 3_500), (9, 3_000)] {
        let fake = fake();
        fake.set_pull_files(OWNER, REPO, n, files(total));
        assert_eq!(
            list(&fake, n).expect("listed"),
            ChangedFiles::TooMany { listed: 3_000 }
        );
        assert_eq!(file_requests(&fake, n), 30);
    }
    let fake = fake();
    fake.set_pull_files(OWNER, REPO, 10, files(2_999));
    assert!(matches!(
        list(&fake, 10).expect("listed"),
        ChangedFiles::Known { files } if files.len() == 2_999
    ));
}

#[test]
fn a_missing_pull_request_is_not_found_and_a_failing_page_is_retried() {
    let fake = fake();
    assert!(matches!(list(&fake, 404), Err(ForgeError::NotFound { .. })));
    fake.set_pull_files(OWNER, REPO, 11, files(150));
    fake.inject(
        "GET",
        &format!("/repos/{OWNER}/{REPO}/pulls/11/files"),
        vec![Fault::Status(502)],
    );
    let got = list(&fake, 11).expect("retried");
    assert!(matches!(got, ChangedFiles::Known { files } if files.len() == 150));
    assert!(matches!(
        changed_files(&client(&fake), "not a repo", pr(11)),
        Err(ForgeError::Setup(_))
    ));
}

/// The fake answers in GitHub's documented DiffEntry shape, with `Link`
/// paging that ends at the 3,000th file.
#[test]
fn the_fake_serves_githubs_shape() {
    let fake = fake();
    let mut fs = files(3_100);
    fs[0] = PullFile::renamed("old/x.ts", "new/x.ts");
    fake.set_pull_files(OWNER, REPO, 12, fs);
    let c = client(&fake);
    let path = format!("/repos/{OWNER}/{REPO}/pulls/12/files");
    let first = c
        .send::<()>(Method::GET, &format!("{path}?per_page=100"), None, "files")
        .expect("page 1");
    let page: Vec<Value> = first.json("files").expect("json");
    assert_eq!(page.len(), 100);
    let entry = page[0].as_object().expect("object");
    for key in [
        "sha",
        "filename",
        "status",
        "additions",
        "deletions",
        "changes",
        "blob_url",
        "raw_url",
        "contents_url",
        "patch",
        "previous_filename",
    ] {
        assert!(entry.contains_key(key), "{key} missing in {entry:?}");
    }
    assert_eq!(entry["status"], "renamed");
    assert_eq!(entry["previous_filename"], "old/x.ts");
    assert!(!page[1]
        .as_object()
        .expect("object")
        .contains_key("previous_filename"));
    let link = first
        .headers
        .get("link")
        .and_then(|v| v.to_str().ok())
        .expect("a Link header");
    assert!(
        link.contains("page=2>; rel=\"next\"") && link.contains("page=30>; rel=\"last\""),
        "{link}"
    );
    let last = c
        .send::<()>(
            Method::GET,
            &format!("{path}?per_page=100&page=30"),
            None,
            "files",
        )
        .expect("page 30");
    assert!(last.next_link().is_none());
    let past: Vec<Value> = c
        .send::<()>(
            Method::GET,
            &format!("{path}?per_page=100&page=31"),
            None,
            "files",
        )
        .expect("page 31")
        .json("files")
        .expect("json");
    assert!(past.is_empty());
    let default: Vec<Value> = c
        .send::<()>(Method::GET, &path, None, "files")
        .expect("default page")
        .json("files")
        .expect("json");
    assert_eq!(default.len(), 30, "30 per page by default");
}

/// From GitHub's list to the decision: a PR touching only `api` deploys
/// `api`, keeps the deployed `web`, and leaves `docs` not affected.
#[test]
fn a_pull_request_touching_one_app_deploys_only_that_app() {
    let fake = fake();
    fake.set_pull_files(
        OWNER,
        REPO,
        13,
        vec![
            PullFile::modified("README.md"),
            PullFile::modified("apps/api/src/index.ts"),
            PullFile::modified("apps/web/README.md"),
        ],
    );
    let apps = Apps::from_text(
        "- {name: api, working-directory: apps/api}\n\
         - {name: web, working-directory: apps/web, paths: [apps/web/**, \"!**/*.md\"], env: {API_URL: {from-app: api}}}\n\
         - {name: docs, working-directory: docs}\n",
    )
    .expect("apps");
    let changed = list(&fake, 13).expect("listed");
    let name = |s: &str| AppName::parse(s).expect("name");
    let deployed = BTreeMap::from([(name("web"), Presence::Deployed)]);
    let decided = affected::decide(&Inputs {
        apps: &apps,
        changed: &changed,
        deployed: &deployed,
        force: None,
    })
    .expect("decides");
    assert_eq!(
        decided.apps,
        [
            (
                name("api"),
                Verdict::Deploy {
                    because: Because::Path {
                        file: "apps/api/src/index.ts".into(),
                        pattern: "apps/api/**".into()
                    }
                }
            ),
            (
                name("web"),
                Verdict::Keep {
                    last: Presence::Deployed
                }
            ),
            (name("docs"), Verdict::NotAffected),
        ]
    );
    assert!(decided.notes.is_empty());
}
