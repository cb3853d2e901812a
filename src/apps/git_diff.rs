//! The files a pull request changes, from the checkout's own history when
//! there is no token to ask GitHub: the files that differ between the
//! merge base of `base` and `head`, and `head` (what `git diff
//! --name-only base...head` lists), renames listed under both names.
//!
//! It runs `git diff-tree -r --name-only -z --no-renames --merge-base
//! <base> <head>` as an argument vector (never a shell) with a null stdin
//! and no prompts. The plumbing command rather than `git diff`, which
//! outside a repository silently turns into a comparison of two folders.
//! Both revisions are commit SHAs (the type guarantees hex), so neither
//! can be read as an option.
//!
//! A checkout without the history (actions/checkout fetches one commit by
//! default) is not an error: the files are then unknown and every app is
//! affected, with a note saying how to fetch the history.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use super::affected::ChangedFiles;
use crate::event::CommitSha;

/// Variables that would point git at another repository or add config.
const SCRUBBED_ENV: &[&str] = &[
    "GIT_DIR",
    "GIT_WORK_TREE",
    "GIT_INDEX_FILE",
    "GIT_OBJECT_DIRECTORY",
    "GIT_ALTERNATE_OBJECT_DIRECTORIES",
    "GIT_COMMON_DIR",
    "GIT_NAMESPACE",
    "GIT_SHALLOW_FILE",
    "GIT_REPLACE_REF_BASE",
    "GIT_CONFIG_PARAMETERS",
    "GIT_CONFIG_COUNT",
    "GIT_EXTERNAL_DIFF",
];

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GitDiffError {
    #[error("cannot run git to list the changed files (`{command}` in {dir}): {message}")]
    NoGit {
        command: String,
        dir: String,
        message: String,
    },
    #[error("{dir} is not a git checkout, so the changed files cannot be listed from it (`{command}`: {stderr})")]
    NotARepository {
        command: String,
        dir: String,
        stderr: String,
    },
    #[error("`{command}` in {dir} failed ({status}): {stderr}")]
    Failed {
        command: String,
        dir: String,
        status: String,
        stderr: String,
    },
}

/// The changed files between the merge base of `base` and `head`, and
/// `head`, in the checkout at `dir`. A checkout that lacks either commit
/// or their merge base gives [`ChangedFiles::Unknown`] saying so.
pub fn changed_files(
    dir: &Path,
    base: &CommitSha,
    head: &CommitSha,
) -> Result<ChangedFiles, GitDiffError> {
    diff(dir, base, head, true)
}

/// The files a push changed from `before` to `after`, when `after`
/// descends from `before` (the push moved the branch forward). After a
/// force push they are unknown: what the old commit changed may be gone,
/// and no diff from a merge base shows that.
pub fn push_files(
    dir: &Path,
    before: &CommitSha,
    after: &CommitSha,
) -> Result<ChangedFiles, GitDiffError> {
    let args = [
        "merge-base",
        "--is-ancestor",
        before.as_str(),
        after.as_str(),
    ];
    let command = format!("git {}", args.join(" "));
    let out = git(dir, &args).output().map_err(|e| GitDiffError::NoGit {
        command,
        dir: dir.display().to_string(),
        message: e.to_string(),
    })?;
    match out.status.code() {
        Some(0) => diff(dir, before, after, false),
        Some(1) => Ok(ChangedFiles::Unknown {
            why: format!(
                "{} does not follow {}: the branch was force-pushed",
                after.short(),
                before.short()
            ),
        }),
        // A commit the checkout lacks: the diff says so in its own words.
        _ => diff(dir, before, after, false),
    }
}

/// `git diff-tree` between `base` (or its merge base with `head`) and
/// `head`, its failures sorted.
fn diff(
    dir: &Path,
    base: &CommitSha,
    head: &CommitSha,
    merge_base: bool,
) -> Result<ChangedFiles, GitDiffError> {
    let mut args = vec![
        "diff-tree",
        "-r",
        "--name-only",
        "-z",
        "--no-renames",
        "--no-ext-diff",
    ];
    if merge_base {
        args.push("--merge-base");
    }
    args.extend([base.as_str(), head.as_str()]);
    let shown_dir = dir.display().to_string();
    let command = format!("git {}", args.join(" "));
    let out = git(dir, &args).output().map_err(|e| GitDiffError::NoGit {
        command: command.clone(),
        dir: shown_dir.clone(),
        message: e.to_string(),
    })?;
    let stderr = String::from_utf8_lossy(&out.stderr)
        .trim()
        .replace('\n', " | ");
    if out.status.success() {
        let files = out
            .stdout
            .split(|b| *b == 0)
            .filter(|p| !p.is_empty())
            .map(|p| String::from_utf8_lossy(p).into_owned())
            .collect();
        return Ok(ChangedFiles::Known { files });
    }
    let missing = [
        "bad object",
        "no merge base",
        "unknown revision",
        "bad revision",
    ];
    if missing.iter().any(|m| stderr.contains(m)) {
        return Ok(ChangedFiles::Unknown {
            why: format!(
                "the checkout does not have the history between {} and {} ({stderr}); check it out with fetch-depth: 0 or give a token",
                base.short(),
                head.short()
            ),
        });
    }
    if stderr.contains("not a git repository") || stderr.contains("cannot change to") {
        return Err(GitDiffError::NotARepository {
            command,
            dir: shown_dir,
            stderr,
        });
    }
    Err(GitDiffError::Failed {
        command,
        dir: shown_dir,
        status: out.status.to_string(),
        stderr,
    })
}

/// `git -C <dir> <args>` with a null stdin, no prompts, no optional
/// locks, C messages (classified above by their words), and none of the
/// variables that would point git at another repository.
fn git(dir: &Path, args: &[&str]) -> Command {
    // A checkout owned by another user (a container action runs as root
    // over the runner's workspace) is "dubious" to git; this one folder,
    // given by the caller, is the checkout the run works on anyway.
    let safe = format!(
        "safe.directory={}",
        std::fs::canonicalize(dir)
            .unwrap_or_else(|_| PathBuf::from(dir))
            .display()
    );
    let mut cmd = Command::new("git");
    cmd.arg("-C")
        .arg(dir)
        .args(["-c", &safe])
        .args(args)
        .stdin(Stdio::null())
        .env("GIT_TERMINAL_PROMPT", "0")
        .env("GIT_OPTIONAL_LOCKS", "0")
        .env("LC_ALL", "C");
    for var in SCRUBBED_ENV {
        cmd.env_remove(var);
    }
    cmd
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A repository in a temp folder, with a known identity and no
    /// signing, whatever the machine's git config says.
    struct Repo {
        dir: tempfile::TempDir,
    }

    impl Repo {
        fn new() -> Self {
            let r = Self {
                dir: tempfile::tempdir().expect("temp dir"),
            };
            r.git(&["init", "-q", "-b", "main"]);
            r
        }

        fn path(&self) -> &Path {
            self.dir.path()
        }

        fn git(&self, args: &[&str]) -> String {
            let out = Command::new("git")
                .arg("-C")
                .arg(self.path())
                .args([
                    "-c",
                    "user.name=alchemy-ci test",
                    "-c",
                    "user.email=test@alchemy-ci.invalid",
                    "-c",
                    "commit.gpgsign=false",
                ])
                .args(args)
                .env("GIT_CONFIG_GLOBAL", "/dev/null")
                .output()
                .expect("git runs");
            assert!(
                out.status.success(),
                "git {args:?}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            String::from_utf8_lossy(&out.stdout).trim().to_owned()
        }

        fn write(&self, rel: &str, body: &str) {
            let p = self.path().join(rel);
            std::fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
            std::fs::write(p, body).expect("write");
        }

        fn commit(&self, message: &str) -> CommitSha {
            self.git(&["add", "-A"]);
            self.git(&["commit", "-q", "--allow-empty", "-m", message]);
            CommitSha::parse(&self.git(&["rev-parse", "HEAD"])).expect("sha")
        }
    }

    fn known(c: ChangedFiles) -> Vec<String> {
        match c {
            ChangedFiles::Known { files } => files,
            other => panic!("expected a list, got {other:?}"),
        }
    }

    /// A branch that edits, renames, adds odd names and deletes, while
    /// main moves on: only the branch's own changes are listed.
    #[test]
    fn lists_the_branch_changes_since_the_merge_base() {
        let r = Repo::new();
        r.write("apps/api/a.ts", "1");
        r.write("apps/web/b.ts", "1");
        r.write("docs/x.md", "1");
        r.commit("base");
        let base = r.commit("main");
        r.git(&["checkout", "-q", "-b", "feature"]);
        r.write("apps/api/a.ts", "2");
        r.git(&["mv", "apps/web/b.ts", "apps/web/c.ts"]);
        r.write("odd name\twith\nnewline.ts", "x");
        r.write("ünïcode/ﬁle.ts", "x");
        std::fs::remove_file(r.path().join("docs/x.md")).expect("rm");
        let head = r.commit("feature");
        r.git(&["checkout", "-q", "main"]);
        r.write("apps/admin/later.ts", "main moved on");
        let main = r.commit("main later");
        let files = known(changed_files(r.path(), &main, &head).expect("diff"));
        assert_eq!(
            files,
            [
                "apps/api/a.ts",
                "apps/web/b.ts",
                "apps/web/c.ts",
                "docs/x.md",
                "odd name\twith\nnewline.ts",
                "ünïcode/ﬁle.ts",
            ]
        );
        assert_eq!(
            known(changed_files(r.path(), &base, &head).expect("diff")),
            files
        );
        assert!(known(changed_files(r.path(), &head, &head).expect("diff")).is_empty());
    }

    /// A push lists what it changed since the commit before it; a force
    /// push (the old commit is not an ancestor) lists nothing it could
    /// miss: its files are unknown.
    #[test]
    fn a_push_lists_its_own_changes_and_a_force_push_none() {
        let r = Repo::new();
        r.write("apps/api/a.ts", "1");
        r.write("apps/web/b.ts", "1");
        let first = r.commit("first push");
        r.write("apps/web/b.ts", "2");
        let second = r.commit("second push");
        assert_eq!(
            known(push_files(r.path(), &first, &second).expect("diff")),
            ["apps/web/b.ts"]
        );
        r.git(&["reset", "-q", "--hard", first.as_str()]);
        r.write("apps/api/a.ts", "rewritten");
        let forced = r.commit("force push");
        assert!(matches!(
            push_files(r.path(), &second, &forced).expect("diff"),
            ChangedFiles::Unknown { why } if why.contains("force-pushed")
        ));
        let absent = CommitSha::parse(&"ab".repeat(20)).expect("sha");
        assert!(matches!(
            push_files(r.path(), &absent, &forced).expect("diff"),
            ChangedFiles::Unknown { .. }
        ));
    }

    #[test]
    fn a_checkout_without_the_history_gives_unknown_files() {
        let r = Repo::new();
        r.write("a", "1");
        let base = r.commit("base");
        r.write("a", "2");
        let head = r.commit("head");
        // A depth-1 clone of head, as actions/checkout makes by default.
        let shallow = tempfile::tempdir().expect("temp");
        let url = format!("file://{}", r.path().display());
        let out = Command::new("git")
            .args(["clone", "-q", "--depth", "1", &url])
            .arg(shallow.path().join("c"))
            .output()
            .expect("clone");
        assert!(out.status.success());
        let clone = shallow.path().join("c");
        for missing_base in [
            base.clone(),
            CommitSha::parse(&"1".repeat(40)).expect("sha"),
        ] {
            match changed_files(&clone, &missing_base, &head).expect("not an error") {
                ChangedFiles::Unknown { why } => {
                    assert!(why.contains("fetch-depth: 0"), "{why}");
                    assert!(!why.contains('\n'), "{why}");
                }
                other => panic!("expected unknown files, got {other:?}"),
            }
        }
    }

    #[test]
    fn a_folder_that_is_not_a_checkout_is_an_error_naming_it() {
        let dir = tempfile::tempdir().expect("temp");
        let sha = CommitSha::parse(&"a".repeat(40)).expect("sha");
        for d in [dir.path().to_path_buf(), dir.path().join("missing")] {
            let err = changed_files(&d, &sha, &sha).expect_err("not a repo");
            let text = err.to_string();
            assert!(matches!(err, GitDiffError::NotARepository { .. }), "{text}");
            assert!(text.contains(&d.display().to_string()), "{text}");
            assert!(text.contains("git diff-tree"), "{text}");
        }
    }

    /// `GIT_DIR` in the environment would make git read another
    /// repository than the checkout it was pointed at.
    #[test]
    fn the_environment_cannot_redirect_git() {
        let r = Repo::new();
        r.write("a", "1");
        let base = r.commit("base");
        r.write("b", "1");
        let head = r.commit("head");
        let other = Repo::new();
        other.commit("unrelated");
        let out = Command::new(std::env::current_exe().expect("test binary"))
            .args([
                "--exact",
                "apps::git_diff::tests::child_reads_its_checkout",
                "--nocapture",
            ])
            .env("GIT_DIR", other.path().join(".git"))
            .env("CHILD_REPO", r.path())
            .env("CHILD_BASE", base.as_str())
            .env("CHILD_HEAD", head.as_str())
            .output()
            .expect("child test runs");
        assert!(
            out.status.success() && String::from_utf8_lossy(&out.stdout).contains("1 passed"),
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// Run by `the_environment_cannot_redirect_git` in a child process with
    /// `GIT_DIR` set; passes trivially on its own.
    #[test]
    fn child_reads_its_checkout() {
        let (Some(dir), Some(base), Some(head)) = (
            std::env::var_os("CHILD_REPO"),
            std::env::var("CHILD_BASE").ok(),
            std::env::var("CHILD_HEAD").ok(),
        ) else {
            return;
        };
        let base = CommitSha::parse(&base).expect("sha");
        let head = CommitSha::parse(&head).expect("sha");
        let files = known(changed_files(Path::new(&dir), &base, &head).expect("diff"));
        assert_eq!(files, ["b"]);
    }
}
