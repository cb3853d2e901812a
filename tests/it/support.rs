//! Test helpers: each test gets its own directory and runs the real
//! `alchemy-ci` binary in it with a clean environment; a failed expectation
//! prints the command, its directory listing, stdout and stderr.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

pub const BIN: &str = env!("CARGO_BIN_EXE_alchemy-ci");

/// The repository's own `tests/fixtures/webhooks/` folder.
pub fn fixture_path(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/webhooks")
        .join(name)
}

/// The pinned alchemy and bun that scripts/test installs.
pub fn node_modules() -> PathBuf {
    let p = std::env::var_os("ALCHEMY_CI_TEST_NODE_MODULES")
        .map(PathBuf::from)
        .unwrap_or_default();
    assert!(
        p.join(".bin/alchemy").exists(),
        "ALCHEMY_CI_TEST_NODE_MODULES must point at node_modules with alchemy and bun: run the tests with scripts/test"
    );
    p
}

pub fn fixture(name: &str) -> Value {
    let text = std::fs::read_to_string(fixture_path(name)).expect("fixture exists");
    serde_json::from_str(&text).expect("fixture is JSON")
}

pub struct Dir {
    pub tmp: tempfile::TempDir,
    env: BTreeMap<String, String>,
}

pub struct Output {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
    context: String,
}

impl Dir {
    pub fn new() -> Self {
        let tmp = tempfile::tempdir().expect("temp dir");
        let mut env = BTreeMap::new();
        env.insert("PATH".into(), std::env::var("PATH").unwrap_or_default());
        env.insert("HOME".into(), tmp.path().display().to_string());
        Self { tmp, env }
    }

    pub fn path(&self) -> &Path {
        self.tmp.path()
    }

    pub fn write(&self, rel: &str, body: impl AsRef<[u8]>) -> PathBuf {
        let p = self.tmp.path().join(rel);
        if let Some(parent) = p.parent() {
            std::fs::create_dir_all(parent).expect("mkdir");
        }
        std::fs::write(&p, body).expect("write");
        p
    }

    pub fn write_json(&self, rel: &str, v: &Value) -> PathBuf {
        self.write(rel, serde_json::to_vec(v).expect("serialize"))
    }

    pub fn env(&mut self, k: &str, v: &str) -> &mut Self {
        self.env.insert(k.into(), v.into());
        self
    }

    /// Runs `alchemy-ci ARGS` in this directory with only PATH, HOME and
    /// the variables set through [`Dir::env`].
    pub fn run(&self, args: &[&str]) -> Output {
        self.run_env(args, &[])
    }

    /// [`Dir::run`] with more variables for this one run.
    pub fn run_env(&self, args: &[&str], extra: &[(&str, &str)]) -> Output {
        self.run_full(args, extra, None)
    }

    /// [`Dir::run`] with `input` on standard input.
    pub fn run_stdin(&self, args: &[&str], input: &[u8]) -> Output {
        self.run_full(args, &[], Some(input))
    }

    fn run_full(&self, args: &[&str], extra: &[(&str, &str)], input: Option<&[u8]>) -> Output {
        use std::io::Write as _;
        let mut child = Command::new(BIN)
            .args(args)
            .current_dir(self.path())
            .env_clear()
            .envs(&self.env)
            .envs(extra.iter().copied())
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("spawn alchemy-ci");
        let stdin = child.stdin.take().expect("stdin");
        let input = input.unwrap_or_default().to_vec();
        // A writer of its own: a child that does not read must not block us.
        let writer = std::thread::spawn(move || {
            let mut stdin = stdin;
            let _ = stdin.write_all(&input);
        });
        let out = child.wait_with_output().expect("wait for alchemy-ci");
        let _ = writer.join();
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        let context = format!(
            "command: alchemy-ci {args:?}\ncwd: {}\nenv: {:?} {extra:?}\nfiles:\n{}\nstdout:\n{stdout}\nstderr:\n{stderr}",
            self.path().display(),
            self.env,
            self.listing().join("\n"),
        );
        Output {
            code: out.status.code().unwrap_or(-1),
            stdout,
            stderr,
            context,
        }
    }

    /// Every path below the directory with its size, to prove nothing was
    /// written.
    pub fn listing(&self) -> Vec<String> {
        fn walk(root: &Path, dir: &Path, out: &mut Vec<String>) {
            let Ok(entries) = std::fs::read_dir(dir) else {
                return;
            };
            for e in entries.flatten() {
                let p = e.path();
                let rel = p.strip_prefix(root).unwrap_or(&p).display().to_string();
                let len = e.metadata().map(|m| m.len()).unwrap_or(0);
                out.push(format!("{rel} {len}"));
                if p.is_dir() {
                    walk(root, &p, out);
                }
            }
        }
        let mut out = Vec::new();
        walk(self.path(), self.path(), &mut out);
        out.sort();
        out
    }

    /// `simulate --json` over an event, expecting success.
    pub fn plan(&self, event: &Path, extra: &[&str]) -> Value {
        let ev = event.display().to_string();
        let mut args = vec!["simulate", "--json", "--event", ev.as_str()];
        args.extend_from_slice(extra);
        let out = self.run(&args);
        out.ok();
        serde_json::from_str(&out.stdout)
            .unwrap_or_else(|e| panic!("stdout is not JSON ({e})\n{}", out.context))
    }
}

impl Output {
    pub fn ok(&self) -> &Self {
        assert_eq!(self.code, 0, "expected success\n{}", self.context);
        self
    }

    /// Asserts the bad-input contract: exit 2, nothing on stdout, exactly one
    /// line on stderr that contains every `needle`, and no panic.
    pub fn bad_input(&self, needles: &[&str]) -> &Self {
        assert_eq!(self.code, 2, "expected exit 2\n{}", self.context);
        assert!(self.stdout.is_empty(), "stdout not empty\n{}", self.context);
        assert_eq!(
            self.stderr.lines().count(),
            1,
            "stderr is not one line\n{}",
            self.context
        );
        assert!(!self.stderr.contains("panicked"), "panic\n{}", self.context);
        assert!(
            !self.stderr.contains("backtrace"),
            "backtrace\n{}",
            self.context
        );
        for n in needles {
            assert!(
                self.stderr.contains(n),
                "stderr lacks {n:?}\n{}",
                self.context
            );
        }
        self
    }

    pub fn context(&self) -> &str {
        &self.context
    }
}
