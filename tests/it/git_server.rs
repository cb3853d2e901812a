//! Real git servers on loopback for the git store's tests and benchmark:
//! `git daemon` (anonymous, push enabled) and lighttpd running
//! `git http-backend` as CGI behind basic auth, user `x-access-token`, the
//! way GitHub takes a token. Each server has its own temp folder and free
//! port and is killed when dropped.
//!
//! Also used by `benches/git_store.rs` through `#[path]`, so it depends on
//! nothing but std and tempfile.

#![allow(dead_code)]

use std::io::Write;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Runs `git ARGS` in `dir`, panicking with git's stderr on failure, and
/// returns stdout.
pub fn git(dir: &Path, args: &[&str]) -> String {
    git_with_input(dir, args, None)
}

pub fn git_with_input(dir: &Path, args: &[&str], input: Option<&[u8]>) -> String {
    let mut child = Command::new("git")
        .args(args)
        .current_dir(dir)
        .env("GIT_TERMINAL_PROMPT", "0")
        .env("LC_ALL", "C")
        .stdin(if input.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("spawning git {args:?}: {e}"));
    if let (Some(bytes), Some(mut stdin)) = (input, child.stdin.take()) {
        let bytes = bytes.to_vec();
        std::thread::spawn(move || {
            let _ = stdin.write_all(&bytes);
        });
    }
    let out = child
        .wait_with_output()
        .unwrap_or_else(|e| panic!("waiting for git {args:?}: {e}"));
    assert!(
        out.status.success(),
        "git {args:?} in {} failed: {}\n{}",
        dir.display(),
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Where git keeps its helper programs (git-daemon, git-http-backend).
fn exec_path(dir: &Path) -> PathBuf {
    PathBuf::from(git(dir, &["--exec-path"]).trim())
}

/// lighttpd lives in /usr/sbin, which a non-root PATH may lack.
fn lighttpd() -> PathBuf {
    let sbin = Path::new("/usr/sbin/lighttpd");
    if sbin.is_file() {
        sbin.to_owned()
    } else {
        PathBuf::from("lighttpd")
    }
}

/// A port that was free a moment ago.
fn free_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    l.local_addr().expect("local addr").port()
}

/// Waits until `port` accepts connections or `child` exits.
fn wait_for_port(child: &mut Child, port: u16, what: &str) -> bool {
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
            return true;
        }
        if let Ok(Some(status)) = child.try_wait() {
            eprintln!("{what} on port {port} exited early: {status}");
            return false;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    panic!("{what} did not listen on 127.0.0.1:{port} within 10 s");
}

fn stop(child: &mut Child) {
    let _ = child.kill();
    let _ = child.wait();
}

/// A folder of bare repositories served by `git daemon` on 127.0.0.1.
pub struct GitDaemon {
    child: Child,
    pub port: u16,
    pub base: tempfile::TempDir,
}

impl GitDaemon {
    pub fn start() -> Self {
        let base = tempfile::tempdir().expect("temp dir");
        // git-daemon itself, not `git daemon`: the `git` wrapper would run
        // it as a child, and killing the wrapper would leave it running.
        let daemon = exec_path(base.path()).join("git-daemon");
        for _ in 0..5 {
            let port = free_port();
            let mut child = Command::new(&daemon)
                .arg(format!("--base-path={}", base.path().display()))
                .args([
                    "--export-all",
                    "--enable=receive-pack",
                    "--reuseaddr",
                    "--listen=127.0.0.1",
                    // Past its default of 32 clients, git daemon kills one
                    // (the client sees "Connection reset by peer"): the
                    // contract's 20 concurrent stores reach that on a
                    // loaded machine.
                    "--max-connections=0",
                ])
                .arg(format!("--port={port}"))
                .arg(base.path())
                // Profiling aid: `GIT_DAEMON_TRACE2=/tmp/x.perf cargo bench …`
                // records where the server side spends its time.
                .envs(std::env::var_os("GIT_DAEMON_TRACE2").map(|p| ("GIT_TRACE2_PERF", p)))
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap_or_else(|e| panic!("spawning {}: {e}", daemon.display()));
            if wait_for_port(&mut child, port, "git daemon") {
                return Self { child, port, base };
            }
            stop(&mut child);
        }
        panic!("git daemon would not start");
    }

    /// Creates an empty bare repository `name` (e.g. `state.git`).
    pub fn repo(&self, name: &str) -> PathBuf {
        let path = self.base.path().join(name);
        std::fs::create_dir_all(&path).expect("mkdir repo");
        git(&path, &["init", "--bare", "--quiet"]);
        path
    }

    pub fn url(&self, name: &str) -> String {
        format!("git://127.0.0.1:{}/{name}", self.port)
    }
}

impl Drop for GitDaemon {
    fn drop(&mut self) {
        stop(&mut self.child);
    }
}

/// lighttpd serving `git http-backend` (smart HTTP, push enabled for
/// authenticated users) behind basic auth with one user,
/// `x-access-token`, whose password is the token.
pub struct HttpGit {
    child: Child,
    pub port: u16,
    pub dir: tempfile::TempDir,
}

impl HttpGit {
    /// Starts lighttpd; panics with a hint when lighttpd or htpasswd is
    /// missing (`scripts/test` installs them).
    pub fn start(token: &str) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let repos = dir.path().join("repos");
        std::fs::create_dir_all(&repos).expect("mkdir repos");
        let htpasswd = dir.path().join("htpasswd");
        // -i: the password comes on stdin, not in argv.
        let mut child = Command::new("htpasswd")
            .arg("-ci")
            .arg(&htpasswd)
            .arg("x-access-token")
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("htpasswd not found: run scripts/test, which installs apache2-utils");
        if let Some(mut stdin) = child.stdin.take() {
            writeln!(stdin, "{token}").expect("write password");
        }
        let out = child.wait_with_output().expect("htpasswd");
        assert!(
            out.status.success(),
            "htpasswd: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let backend = exec_path(dir.path()).join("git-http-backend");
        assert!(backend.is_file(), "{} is missing", backend.display());
        for _ in 0..5 {
            let port = free_port();
            let conf = dir.path().join("lighttpd.conf");
            std::fs::write(
                &conf,
                format!(
                    r#"server.document-root = "{repos}"
server.bind = "127.0.0.1"
server.port = {port}
server.errorlog = "{dir}/error.log"
server.modules = ("mod_auth", "mod_authn_file", "mod_alias", "mod_setenv", "mod_cgi")
alias.url = ("/git" => "{backend}")
$HTTP["url"] =~ "^/git" {{
  cgi.assign = ("" => "")
  setenv.add-environment = ("GIT_PROJECT_ROOT" => "{repos}", "GIT_HTTP_EXPORT_ALL" => "")
  auth.backend = "htpasswd"
  auth.backend.htpasswd.userfile = "{htpasswd}"
  auth.require = ("" => ("method" => "basic", "realm" => "git", "require" => "valid-user"))
}}
"#,
                    repos = repos.display(),
                    dir = dir.path().display(),
                    backend = backend.display(),
                    htpasswd = htpasswd.display(),
                ),
            )
            .expect("write lighttpd.conf");
            let mut child = Command::new(lighttpd())
                .arg("-D")
                .arg("-f")
                .arg(&conf)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("lighttpd not found: run scripts/test, which installs lighttpd");
            if wait_for_port(&mut child, port, "lighttpd") {
                return Self { child, port, dir };
            }
            stop(&mut child);
        }
        panic!("lighttpd would not start");
    }

    pub fn repo(&self, name: &str) -> PathBuf {
        let path = self.dir.path().join("repos").join(name);
        std::fs::create_dir_all(&path).expect("mkdir repo");
        git(&path, &["init", "--bare", "--quiet"]);
        path
    }

    pub fn url(&self, name: &str) -> String {
        format!("http://127.0.0.1:{}/git/{name}", self.port)
    }
}

impl Drop for HttpGit {
    fn drop(&mut self) {
        stop(&mut self.child);
    }
}
