//! What is checked out in the working directory: the commit `HEAD` points
//! at, read with `git rev-parse` (an argument vector, no shell), so an
//! approved deploy can refuse to run any other commit.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::event::CommitSha;

#[derive(Debug, thiserror::Error)]
pub enum CheckoutError {
    #[error("cannot run git to read the checked-out commit in {}: {source}", dir.display())]
    Spawn {
        dir: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("git rev-parse HEAD failed in {} ({status}): {stderr}", dir.display())]
    Git {
        dir: PathBuf,
        status: String,
        stderr: String,
    },
    #[error("git rev-parse HEAD in {} printed {output:?}, not a commit SHA", dir.display())]
    NotASha { dir: PathBuf, output: String },
}

/// The commit checked out in `dir` (or the repository `dir` is inside).
pub fn head_commit(dir: &Path) -> Result<CommitSha, CheckoutError> {
    let out = Command::new("git")
        // In a container action the workspace belongs to the runner's user
        // while the action runs as root, and git then refuses the
        // repository as "dubious ownership". Reading HEAD runs nothing from
        // the repository's config, and a config on the command line is one
        // git honours for this setting.
        .args([
            "-c",
            "safe.directory=*",
            "rev-parse",
            "--verify",
            "HEAD^{commit}",
        ])
        .current_dir(dir)
        .env_remove("GIT_DIR")
        .env_remove("GIT_WORK_TREE")
        .env_remove("GIT_COMMON_DIR")
        .env("GIT_TERMINAL_PROMPT", "0")
        .stdin(Stdio::null())
        .output()
        .map_err(|source| CheckoutError::Spawn {
            dir: dir.to_owned(),
            source,
        })?;
    if !out.status.success() {
        return Err(CheckoutError::Git {
            dir: dir.to_owned(),
            status: out.status.to_string(),
            stderr: String::from_utf8_lossy(&out.stderr).trim().to_owned(),
        });
    }
    let text = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    CommitSha::parse(&text).ok_or(CheckoutError::NotASha {
        dir: dir.to_owned(),
        output: text,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn git(dir: &Path, args: &[&str]) -> String {
        let out = Command::new("git")
            .args(args)
            .current_dir(dir)
            .env("GIT_AUTHOR_NAME", "t")
            .env("GIT_AUTHOR_EMAIL", "t@example.invalid")
            .env("GIT_COMMITTER_NAME", "t")
            .env("GIT_COMMITTER_EMAIL", "t@example.invalid")
            .env("GIT_CONFIG_GLOBAL", "/dev/null")
            .output()
            .expect("git runs");
        assert!(out.status.success(), "git {args:?}: {out:?}");
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    }

    #[test]
    fn reads_the_checked_out_commit_detached_or_not() {
        let tmp = tempfile::tempdir().expect("tmp");
        let dir = tmp.path();
        git(dir, &["init", "-q", "-b", "main"]);
        git(dir, &["commit", "-q", "--allow-empty", "-m", "a"]);
        let a = git(dir, &["rev-parse", "HEAD"]);
        git(dir, &["commit", "-q", "--allow-empty", "-m", "b"]);
        let b = git(dir, &["rev-parse", "HEAD"]);
        assert_eq!(head_commit(dir).expect("head").as_str(), b);
        // actions/checkout of a SHA leaves a detached HEAD.
        git(dir, &["checkout", "-q", "--detach", &a]);
        assert_eq!(head_commit(dir).expect("head").as_str(), a);
        std::fs::create_dir(dir.join("app")).expect("mkdir");
        assert_eq!(head_commit(&dir.join("app")).expect("head").as_str(), a);
    }

    #[test]
    fn no_repository_or_no_commit_is_an_error() {
        let tmp = tempfile::tempdir().expect("tmp");
        let plain = tmp.path().join("plain");
        std::fs::create_dir(&plain).expect("mkdir");
        let e = head_commit(&plain).expect_err("not a repository");
        assert!(e.to_string().contains("rev-parse"), "{e}");
        let empty = tmp.path().join("empty");
        std::fs::create_dir(&empty).expect("mkdir");
        git(&empty, &["init", "-q"]);
        let e = head_commit(&empty).expect_err("no commit yet");
        assert!(e.to_string().contains("rev-parse"), "{e}");
    }

    /// A container action runs as root on a workspace the runner's user
    /// owns; git calls that "dubious ownership" unless told otherwise.
    #[test]
    fn a_workspace_owned_by_another_user_is_read() {
        let tmp = tempfile::tempdir().expect("tmp");
        let dir = tmp.path();
        git(dir, &["init", "-q"]);
        git(dir, &["commit", "-q", "--allow-empty", "-m", "a"]);
        let a = git(dir, &["rev-parse", "HEAD"]);
        // Only root can give files away; elsewhere there is nothing to test.
        if std::os::unix::fs::chown(dir, Some(4_242), Some(4_242)).is_err() {
            eprintln!("skipped: not root, cannot make the repository someone else's");
            return;
        }
        let plain = Command::new("git")
            .args(["rev-parse", "HEAD"])
            .current_dir(dir)
            .env("GIT_CONFIG_GLOBAL", "/dev/null")
            .output()
            .expect("git runs");
        assert!(
            String::from_utf8_lossy(&plain.stderr).contains("dubious ownership"),
            "git itself refuses it: {plain:?}"
        );
        assert_eq!(head_commit(dir).expect("head").as_str(), a);
    }
}
