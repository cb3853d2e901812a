//! Running the git command line for the git store: an argument vector,
//! never a shell; no prompts; a null or piped stdin; an environment that
//! neither a surrounding repository nor the user's shell can steer; and
//! failures that name the command, the directory and git's own words.
//!
//! The token never reaches argv: it travels in `GIT_CONFIG_*` environment
//! variables (as `http.<origin>/.extraHeader`, the way actions/checkout
//! passes it), which only the same user can read.

use std::fmt;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};

use secrecy::{ExposeSecret, SecretString};

/// Variables that would make git act on another repository, run hooks or
/// helpers we did not ask for, or print traffic into error messages.
const SCRUBBED_ENV: &[&str] = &[
    "GIT_WORK_TREE",
    "GIT_INDEX_FILE",
    "GIT_OBJECT_DIRECTORY",
    "GIT_ALTERNATE_OBJECT_DIRECTORIES",
    "GIT_COMMON_DIR",
    "GIT_NAMESPACE",
    "GIT_SHALLOW_FILE",
    "GIT_REPLACE_REF_BASE",
    "GIT_QUARANTINE_PATH",
    "GIT_SSL_NO_VERIFY",
    "GIT_TRACE",
    "GIT_TRACE_CURL",
    "GIT_TRACE_PACKET",
    "GIT_TRACE_PACK_ACCESS",
    "GIT_TRACE_PERFORMANCE",
    "GIT_TRACE_SETUP",
    "GIT_TRACE2",
    "GIT_TRACE2_EVENT",
    "GIT_TRACE2_PERF",
    "GIT_CURL_VERBOSE",
    "GIT_REDACT_COOKIES",
    "GIT_CONFIG_PARAMETERS",
    "GIT_CONFIG",
];

/// How git is run for one store: which program, where its private bare
/// repository is, and the configuration it gets through the environment.
pub struct Git {
    program: PathBuf,
    git_dir: PathBuf,
    /// `(key, value)` pairs passed as `GIT_CONFIG_KEY_n`/`GIT_CONFIG_VALUE_n`.
    config: Vec<(String, SecretString)>,
    /// Strings that must never appear in a message: the token and the
    /// header built from it.
    secrets: Vec<SecretString>,
    /// The remote as shown to people (no credentials), and as passed to git.
    shown_url: String,
    url: String,
    /// Whether `refs/replace/` grafts apply (only in the push repository).
    replace_refs: bool,
}

/// What a finished git command left behind.
pub struct Output {
    pub status: ExitStatus,
    pub stdout: Vec<u8>,
    pub stderr: String,
}

/// A git command that could not run or exited non-zero, described for
/// people: the command line (with the remote shown without credentials),
/// the directory, the exit status and git's stderr.
#[derive(Debug, Clone)]
pub struct Failure {
    pub command: String,
    pub dir: String,
    pub status: String,
    pub stderr: String,
    pub stdout: String,
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "`{}` in {} {}", self.command, self.dir, self.status)?;
        let stderr = self.stderr.trim();
        if !stderr.is_empty() {
            write!(f, ": {}", stderr.replace('\n', " | "))?;
        }
        let stdout = self.stdout.trim();
        if !stdout.is_empty() {
            write!(f, " (stdout: {})", stdout.replace('\n', " | "))?;
        }
        Ok(())
    }
}

impl Git {
    pub fn new(
        program: PathBuf,
        git_dir: PathBuf,
        url: String,
        shown_url: String,
        config: Vec<(String, SecretString)>,
        secrets: Vec<SecretString>,
    ) -> Self {
        Self {
            program,
            git_dir,
            config,
            secrets,
            shown_url,
            url,
            replace_refs: false,
        }
    }

    pub fn git_dir(&self) -> &Path {
        &self.git_dir
    }

    /// The same settings for another repository, where `refs/replace/`
    /// grafts apply.
    pub fn at_with_replace_refs(&self, git_dir: PathBuf) -> Self {
        Self {
            program: self.program.clone(),
            git_dir,
            config: self.config.clone(),
            secrets: self.secrets.clone(),
            shown_url: self.shown_url.clone(),
            url: self.url.clone(),
            replace_refs: true,
        }
    }

    /// Replaces anything secret in `text` with `***`.
    pub fn scrub(&self, text: &str) -> String {
        let mut out = text.to_owned();
        for s in &self.secrets {
            let s = s.expose_secret();
            if !s.is_empty() {
                out = out.replace(s, "***");
            }
        }
        out
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(&self.program);
        cmd.args(args).current_dir(&self.git_dir);
        for k in SCRUBBED_ENV {
            cmd.env_remove(k);
        }
        cmd.env("GIT_DIR", &self.git_dir)
            .env("GIT_TERMINAL_PROMPT", "0")
            // An empty GIT_ASKPASS wins over core.askPass and SSH_ASKPASS:
            // nothing is ever asked for.
            .env("GIT_ASKPASS", "")
            .env("SSH_ASKPASS", "")
            .env("GIT_ALLOW_PROTOCOL", "https:http:git:ssh:file")
            // Stalled HTTP transfers end instead of hanging the run.
            .env("GIT_HTTP_LOW_SPEED_LIMIT", "1000")
            .env("GIT_HTTP_LOW_SPEED_TIME", "60")
            // git's messages are parsed (ref status, "couldn't find remote ref").
            .env("LC_ALL", "C")
            .env("LANGUAGE", "")
            .env("GIT_CONFIG_COUNT", self.config.len().to_string());
        if self.replace_refs {
            cmd.env_remove("GIT_NO_REPLACE_OBJECTS");
        } else {
            cmd.env("GIT_NO_REPLACE_OBJECTS", "1");
        }
        for (i, (k, v)) in self.config.iter().enumerate() {
            cmd.env(format!("GIT_CONFIG_KEY_{i}"), k)
                .env(format!("GIT_CONFIG_VALUE_{i}"), v.expose_secret());
        }
        cmd
    }

    fn shown(&self, args: &[&str]) -> String {
        let mut s = String::from("git");
        for a in args {
            s.push(' ');
            let a = if *a == self.url {
                self.shown_url.as_str()
            } else {
                a
            };
            s.push_str(&self.scrub(a));
        }
        s
    }

    /// Runs `git ARGS` with `stdin` (or a null stdin) and collects its
    /// output. A non-zero exit is a [`Failure`].
    pub fn run(&self, args: &[&str], stdin: Option<&[u8]>) -> Result<Output, Failure> {
        let out = self.run_status(args, stdin)?;
        if out.status.success() {
            Ok(out)
        } else {
            Err(self.failure(args, &out))
        }
    }

    /// Like [`Git::run`] but hands back a non-zero exit as an [`Output`]
    /// for the caller to read (push reports rejected refs that way).
    pub fn run_status(&self, args: &[&str], stdin: Option<&[u8]>) -> Result<Output, Failure> {
        let mut cmd = self.command(args);
        cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
        cmd.stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        });
        let spawn_failure = |e: std::io::Error| Failure {
            command: self.shown(args),
            dir: self.git_dir.display().to_string(),
            status: format!("could not start ({e}); is git installed and on PATH?"),
            stderr: String::new(),
            stdout: String::new(),
        };
        let mut child = cmd.spawn().map_err(spawn_failure)?;
        let output = std::thread::scope(|scope| {
            if let (Some(bytes), Some(mut pipe)) = (stdin, child.stdin.take()) {
                // Written from a thread: git may fill its stdout before it
                // has read all of its stdin. A write error means git exited
                // early; its status and stderr say why.
                scope.spawn(move || {
                    let _ = pipe.write_all(bytes);
                });
            }
            child.wait_with_output()
        })
        .map_err(|e| Failure {
            command: self.shown(args),
            dir: self.git_dir.display().to_string(),
            status: format!("could not be waited for ({e})"),
            stderr: String::new(),
            stdout: String::new(),
        })?;
        Ok(Output {
            status: output.status,
            stdout: output.stdout,
            stderr: self.scrub(&String::from_utf8_lossy(&output.stderr)),
        })
    }

    pub fn failure(&self, args: &[&str], out: &Output) -> Failure {
        Failure {
            command: self.shown(args),
            dir: self.git_dir.display().to_string(),
            status: match out.status.code() {
                Some(c) => format!("exited with {c}"),
                None => "was killed by a signal".into(),
            },
            stderr: clip(&self.scrub(&out.stderr), 4000),
            stdout: clip(&self.scrub(&String::from_utf8_lossy(&out.stdout)), 1000),
        }
    }
}

/// At most `max` bytes of `text` (cut at a character boundary), marked
/// when cut: a failing command may print far more than a message can hold.
fn clip(text: &str, max: usize) -> String {
    if text.len() <= max {
        return text.to_owned();
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &text[..end])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_never_reach_messages() {
        let git = Git::new(
            PathBuf::from("git"),
            PathBuf::from("/tmp/x.git"),
            "https://h/r.git".into(),
            "https://h/r.git".into(),
            Vec::new(),
            vec![
                SecretString::from("tok123".to_owned()),
                SecretString::from("dG9rMTIz".to_owned()),
            ],
        );
        assert_eq!(
            git.scrub("fatal: tok123 and dG9rMTIz"),
            "fatal: *** and ***"
        );
        assert_eq!(git.shown(&["fetch", "tok123"]), "git fetch ***");
        assert!(clip(&"é".repeat(10), 5).ends_with('…'));
    }
}
