//! Running one Alchemy command: an argument vector in its own process
//! group, a null stdin, output streamed live and its tail kept, a timeout
//! and a cancel that stop the whole group (TERM, a grace period, KILL).
//!
//! The whole group, because the Alchemy CLI starts the app as a grandchild
//! through a shell: signalling only the CLI leaves the app running and
//! still changing resources.

use std::collections::{BTreeMap, VecDeque};
use std::io::{BufRead, BufReader, IsTerminal as _, Read, Write};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use nix::sys::signal::{killpg, Signal};
use nix::unistd::Pid;

use crate::cancel::{signal_name, Cancel};

/// How much of the output is kept for the record and the PR comment.
const TAIL_LINES: usize = 200;

/// How much of the start of the output a [`Head`] keeps: enough for the
/// plan Alchemy v2 prints before it deploys, one line per resource.
pub const HEAD_LINES: usize = 5_000;

/// The first lines of a run's output, kept when asked for (the plan
/// Alchemy v2 prints first). Shared with the caller, who reads it after
/// the run; a runner that does not fill it leaves it empty.
#[derive(Debug, Clone, Default)]
pub struct Head(Arc<Mutex<Vec<String>>>);

impl Head {
    fn push(&self, line: &str) {
        if let Ok(mut h) = self.0.lock() {
            if h.len() < HEAD_LINES {
                h.push(line.to_owned());
            }
        }
    }

    /// The lines kept so far, joined.
    pub fn text(&self) -> String {
        self.0.lock().map(|h| h.join("\n")).unwrap_or_default()
    }
}

#[derive(Debug, Clone)]
pub struct Invocation {
    pub argv: Vec<String>,
    pub cwd: PathBuf,
    /// Set on top of the inherited environment, from which alchemy-ci's own
    /// variables ([`is_ours`]) are removed.
    pub env: BTreeMap<String, String>,
    pub timeout: Duration,
    /// Between SIGTERM and SIGKILL.
    pub grace: Duration,
    /// Wrap the output in a collapsible group and keep the program from
    /// issuing workflow commands.
    pub actions_group: Option<String>,
    /// Send the program's stdout to our stderr.
    pub stdout_to_stderr: bool,
    /// Keep the first lines of the output here.
    pub head: Option<Head>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ending {
    Exited(i32),
    /// Killed by a signal nobody here sent.
    Killed(i32),
    TimedOut(Duration),
    /// Stopped because alchemy-ci itself was asked to stop.
    Cancelled(i32),
}

#[derive(Debug, Clone)]
pub struct Finished {
    pub ending: Ending,
    /// The last lines of stdout and stderr, interleaved, colour codes removed.
    pub tail: String,
    pub elapsed: Duration,
}

impl Finished {
    pub fn succeeded(&self) -> bool {
        self.ending == Ending::Exited(0)
    }

    /// What went wrong, in one line.
    pub fn describe(&self) -> String {
        match &self.ending {
            Ending::Exited(0) => "succeeded".into(),
            Ending::Exited(c) => format!("exited with code {c}"),
            Ending::Killed(s) => format!("was killed by signal {s}"),
            Ending::TimedOut(t) => format!("timed out after {}s and was stopped", t.as_secs()),
            Ending::Cancelled(s) => format!(
                "was stopped because alchemy-ci received {}",
                signal_name(*s)
            ),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("{program} was not found in {searched}; install it (e.g. `npm install bun`) or put it on PATH")]
    NotFound { program: String, searched: String },
    #[error("cannot start {program} in {}: {source}", cwd.display())]
    Spawn {
        program: String,
        cwd: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("empty command")]
    Empty,
}

/// Variables that belong to alchemy-ci and not to the app, which never
/// reach Alchemy: every action input (`INPUT_*`: `github-token`,
/// `state-token` and the rest, which the app never asked for), and the
/// runner's credentials for artifacts and caches (`ACTIONS_RUNTIME_TOKEN`
/// and its URLs), which the runner hands to actions but never to a `run:`
/// step. Everything else passes, so the app sees what a `run:` step in the
/// same job would: the `env:` the workflow set (`GITHUB_TOKEN`, `AWS_*`,
/// `ALCHEMY_PASSWORD` included), the runner's `GITHUB_*` and
/// `ACTIONS_ID_TOKEN_*` for OIDC.
pub fn is_ours(name: &std::ffi::OsStr) -> bool {
    use std::os::unix::ffi::OsStrExt as _;
    let n = name.as_bytes();
    n.starts_with(b"INPUT_")
        || matches!(
            n,
            b"ACTIONS_RUNTIME_TOKEN"
                | b"ACTIONS_RUNTIME_URL"
                | b"ACTIONS_RESULTS_URL"
                | b"ACTIONS_CACHE_URL"
        )
}

/// Finds the program the way the child's PATH would, so a missing `bun` is
/// reported before anything is locked or run.
pub fn resolve_program(inv: &Invocation) -> Result<PathBuf, RunError> {
    let program = inv.argv.first().ok_or(RunError::Empty)?;
    if program.contains('/') {
        let p = inv.cwd.join(program);
        return if is_executable(&p) {
            Ok(p)
        } else {
            Err(RunError::NotFound {
                program: program.clone(),
                searched: inv.cwd.display().to_string(),
            })
        };
    }
    let path = child_path(inv);
    std::env::split_paths(&path)
        .map(|dir| dir.join(program))
        .find(|p| is_executable(p))
        .ok_or_else(|| RunError::NotFound {
            program: program.clone(),
            searched: "node_modules/.bin or PATH".into(),
        })
}

/// The app's `node_modules/.bin` comes first on the child's PATH: the Alchemy
/// CLI itself starts `bun` by bare name.
fn child_path(inv: &Invocation) -> std::ffi::OsString {
    let bin = inv.cwd.join("node_modules/.bin");
    let inherited = inv
        .env
        .get("PATH")
        .map(std::ffi::OsString::from)
        .or_else(|| std::env::var_os("PATH"))
        .unwrap_or_default();
    let mut dirs = vec![bin];
    dirs.extend(std::env::split_paths(&inherited));
    std::env::join_paths(dirs).unwrap_or(inherited)
}

fn is_executable(p: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    p.metadata()
        .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

enum Event {
    Exited(std::io::Result<ExitStatus>),
    Signal(i32),
}

/// Runs the command to its end. Only a failure to start is an error; a
/// command that fails, times out or is cancelled is a [`Finished`].
pub fn run(inv: &Invocation, cancel: &Cancel) -> Result<Finished, RunError> {
    let program = resolve_program(inv)?;
    let started = Instant::now();
    let token = format!("alchemy-ci-{:016x}", fastrand::u64(..));
    // The group and its stop-commands go to the stream the child's
    // stdout goes to, so the runner sees them in order with its output.
    let to_stderr = inv.stdout_to_stderr;
    if let Some(title) = &inv.actions_group {
        print_line(&format!("::group::{title}"), to_stderr);
        print_line(&format!("::stop-commands::{token}"), to_stderr);
    }

    let mut cmd = Command::new(&program);
    for (name, _) in std::env::vars_os() {
        if is_ours(&name) {
            cmd.env_remove(name);
        }
    }
    cmd.args(&inv.argv[1..])
        .current_dir(&inv.cwd)
        .envs(&inv.env)
        .env("PATH", child_path(inv))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0);
    let mut child = cmd.spawn().map_err(|source| RunError::Spawn {
        program: inv.argv[0].clone(),
        cwd: inv.cwd.clone(),
        source,
    })?;

    let tail = Arc::new(Mutex::new(VecDeque::with_capacity(TAIL_LINES)));
    let readers = [
        child
            .stdout
            .take()
            .map(|s| pump(s, to_stderr, Arc::clone(&tail), inv.head.clone())),
        child
            .stderr
            .take()
            .map(|s| pump(s, true, Arc::clone(&tail), inv.head.clone())),
    ];
    let pid = child.id();
    let (tx, rx) = mpsc::channel();
    cancel.subscribe(signal_forwarder(tx.clone()));
    let waiter = std::thread::spawn(move || {
        let status = child.wait();
        let _ = tx.send(Event::Exited(status));
        child
    });

    let ending = supervise(pid, &rx, inv, cancel, started);
    let _child: Option<Child> = waiter.join().ok();
    // Output after the exit is drained, but a grandchild that keeps the pipe
    // open must not hold the run hostage.
    for r in readers.into_iter().flatten() {
        let deadline = Instant::now() + Duration::from_secs(2);
        while !r.is_finished() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
    }
    if inv.actions_group.is_some() {
        print_line(&format!("::{token}::"), to_stderr);
        print_line("::endgroup::", to_stderr);
    }
    let tail = tail
        .lock()
        .map(|t| t.iter().cloned().collect::<Vec<String>>().join("\n"))
        .unwrap_or_default();
    Ok(Finished {
        ending,
        tail,
        elapsed: started.elapsed(),
    })
}

/// Turns a stop request into an event of this run's loop.
fn signal_forwarder(tx: mpsc::Sender<Event>) -> mpsc::Sender<i32> {
    let (sig_tx, sig_rx) = mpsc::channel::<i32>();
    std::thread::spawn(move || {
        for sig in sig_rx {
            if tx.send(Event::Signal(sig)).is_err() {
                break;
            }
        }
    });
    sig_tx
}

fn supervise(
    pid: u32,
    rx: &mpsc::Receiver<Event>,
    inv: &Invocation,
    cancel: &Cancel,
    started: Instant,
) -> Ending {
    let group = Pid::from_raw(i32::try_from(pid).unwrap_or(i32::MAX));
    // A signal that came before we subscribed still counts.
    if let Some(sig) = cancel.received() {
        return stop_group(group, rx, inv.grace, Ending::Cancelled(sig));
    }
    let deadline = started + inv.timeout;
    let left = deadline.saturating_duration_since(Instant::now());
    match rx.recv_timeout(left) {
        Ok(Event::Exited(status)) => exit_ending(status),
        Ok(Event::Signal(sig)) => {
            tracing::warn!(
                "received {}: stopping Alchemy, then saving state",
                signal_name(sig)
            );
            stop_group(group, rx, inv.grace, Ending::Cancelled(sig))
        }
        Err(RecvTimeoutError::Timeout) => {
            tracing::warn!(
                "Alchemy ran longer than {}s: stopping it",
                inv.timeout.as_secs()
            );
            stop_group(group, rx, inv.grace, Ending::TimedOut(inv.timeout))
        }
        Err(RecvTimeoutError::Disconnected) => Ending::Killed(0),
    }
}

/// TERM to the group, then KILL after the grace period; waits for the exit.
fn stop_group(group: Pid, rx: &mpsc::Receiver<Event>, grace: Duration, ending: Ending) -> Ending {
    let _ = killpg(group, Signal::SIGTERM);
    let deadline = Instant::now() + grace;
    loop {
        match rx.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
            Ok(Event::Exited(_)) | Err(RecvTimeoutError::Disconnected) => break,
            Ok(Event::Signal(_)) => continue,
            Err(RecvTimeoutError::Timeout) => {
                let _ = killpg(group, Signal::SIGKILL);
                // After SIGKILL the exit is prompt.
                while let Ok(ev) = rx.recv_timeout(Duration::from_secs(10)) {
                    if matches!(ev, Event::Exited(_)) {
                        break;
                    }
                }
                break;
            }
        }
    }
    // Whatever the app's own handler did, nothing of the group may go on.
    let _ = killpg(group, Signal::SIGKILL);
    ending
}

fn exit_ending(status: std::io::Result<ExitStatus>) -> Ending {
    match status {
        Ok(s) => match (s.code(), s.signal()) {
            (Some(c), _) => Ending::Exited(c),
            (None, Some(sig)) => Ending::Killed(sig),
            (None, None) => Ending::Killed(0),
        },
        Err(_) => Ending::Killed(0),
    }
}

/// Copies one output stream to ours line by line, keeping a tail. Alchemy
/// forces colour on; its escapes are kept only for a terminal.
fn pump<R: Read + Send + 'static>(
    src: R,
    to_stderr: bool,
    tail: Arc<Mutex<VecDeque<String>>>,
    head: Option<Head>,
) -> std::thread::JoinHandle<()> {
    let colour = crate::env::colour(if to_stderr {
        std::io::stderr().is_terminal()
    } else {
        std::io::stdout().is_terminal()
    });
    std::thread::spawn(move || {
        let mut reader = BufReader::new(src);
        let mut line = Vec::new();
        loop {
            line.clear();
            match reader.read_until(b'\n', &mut line) {
                Ok(0) | Err(_) => break,
                Ok(_) => {
                    let text = strip_ansi(&String::from_utf8_lossy(&line));
                    let shown = if colour { &line[..] } else { text.as_bytes() };
                    if to_stderr {
                        let mut e = std::io::stderr().lock();
                        let _ = e.write_all(shown);
                    } else {
                        let mut o = std::io::stdout().lock();
                        let _ = o.write_all(shown);
                        let _ = o.flush();
                    }
                    let kept = text.trim_end_matches(['\n', '\r']);
                    if let Some(h) = &head {
                        h.push(kept);
                    }
                    if let Ok(mut t) = tail.lock() {
                        if t.len() == TAIL_LINES {
                            t.pop_front();
                        }
                        t.push_back(kept.to_owned());
                    }
                }
            }
        }
    })
}

fn print_line(s: &str, to_stderr: bool) {
    if to_stderr {
        let _ = writeln!(std::io::stderr().lock(), "{s}");
        return;
    }
    let mut o = std::io::stdout().lock();
    let _ = writeln!(o, "{s}");
    let _ = o.flush();
}

/// Removes terminal escape sequences (Alchemy forces colour on).
pub fn strip_ansi(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '\u{1b}' {
            out.push(c);
            continue;
        }
        match chars.peek() {
            Some('[') => {
                chars.next();
                // CSI: parameters, then one final byte in @..~.
                for c in chars.by_ref() {
                    if ('@'..='~').contains(&c) {
                        break;
                    }
                }
            }
            Some(']') => {
                chars.next();
                // OSC: up to BEL or ESC \.
                while let Some(c) = chars.next() {
                    if c == '\u{7}' {
                        break;
                    }
                    if c == '\u{1b}' && chars.peek() == Some(&'\\') {
                        chars.next();
                        break;
                    }
                }
            }
            _ => {
                chars.next();
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn inv(script: &str, timeout_ms: u64) -> Invocation {
        Invocation {
            argv: vec!["sh".into(), "-c".into(), script.into()],
            cwd: std::env::temp_dir(),
            env: BTreeMap::new(),
            timeout: Duration::from_millis(timeout_ms),
            grace: Duration::from_millis(500),
            actions_group: None,
            stdout_to_stderr: false,
            head: None,
        }
    }

    #[test]
    fn exit_codes_and_tail_are_reported() {
        let f = run(
            &inv(
                "printf 'a\\n\\033[31mred\\033[0m\\n' ; echo err >&2; exit 3",
                10_000,
            ),
            &Cancel::manual(),
        )
        .expect("runs");
        assert_eq!(f.ending, Ending::Exited(3));
        assert!(
            f.tail.contains("red") && !f.tail.contains('\u{1b}'),
            "{:?}",
            f.tail
        );
        assert!(f.tail.contains("err"));
    }

    #[test]
    fn a_timeout_stops_the_whole_group() {
        let dir = tempfile::tempdir().expect("tmp");
        let marker = dir.path().join("grandchild-survived");
        // The grandchild ignores nothing but outlives its parent unless the group is killed.
        let script = format!("(sleep 2; touch {}) & sleep 30", marker.display());
        let f = run(&inv(&script, 300), &Cancel::manual()).expect("runs");
        assert!(matches!(f.ending, Ending::TimedOut(_)), "{:?}", f.ending);
        assert!(f.elapsed < Duration::from_secs(5), "{:?}", f.elapsed);
        std::thread::sleep(Duration::from_millis(2_500));
        assert!(!marker.exists(), "a grandchild outlived the timeout");
    }

    #[test]
    fn a_cancel_stops_the_group_and_is_reported_as_such() {
        let cancel = Cancel::manual();
        let trigger = cancel.clone();
        std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(200));
            trigger.trigger(15);
        });
        // A program that exits 0 on TERM still counts as cancelled.
        let f = run(&inv("trap 'exit 0' TERM; sleep 30 & wait", 30_000), &cancel).expect("runs");
        assert_eq!(f.ending, Ending::Cancelled(15));
        assert!(!f.succeeded());
    }

    #[test]
    fn a_missing_program_is_reported_before_anything_runs() {
        let mut i = inv("", 1_000);
        i.argv = vec!["definitely-not-a-program-here".into()];
        assert!(matches!(
            resolve_program(&i),
            Err(RunError::NotFound { .. })
        ));
    }

    #[test]
    fn inputs_and_runner_credentials_are_ours_workflow_env_is_the_apps() {
        for ours in [
            "INPUT_GITHUB-TOKEN",
            "INPUT_STATE-TOKEN",
            "INPUT_LABEL",
            "ACTIONS_RUNTIME_TOKEN",
        ] {
            assert!(is_ours(std::ffi::OsStr::new(ours)), "{ours}");
        }
        for theirs in [
            "GITHUB_TOKEN",
            "AWS_SECRET_ACCESS_KEY",
            "ALCHEMY_PASSWORD",
            "INPUT",
            "ACTIONS_ID_TOKEN_REQUEST_TOKEN",
            "PATH",
        ] {
            assert!(!is_ours(std::ffi::OsStr::new(theirs)), "{theirs}");
        }
    }

    #[test]
    fn ansi_is_stripped() {
        assert_eq!(
            strip_ansi("\u{1b}[1;32mok\u{1b}[0m \u{1b}]0;title\u{7}x"),
            "ok x"
        );
    }
}
