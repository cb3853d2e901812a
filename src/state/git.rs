//! `state-store: git` (the default): every stage's state in git refs of a
//! repository, one ref per stage (`refs/alchemy-ci/stages/<stage>` unless
//! the prefix is configured), each the stage's own history.
//!
//! The tip commit of a stage ref holds `record.json` and `alchemy/<path>`
//! for each state file. A read fetches that one ref at depth 1; a write is a
//! commit whose parent is the tip that was read, pushed without force, so
//! the server's own ref update is the compare-and-swap: a push built on a
//! stale tip is rejected and reported as [`StoreError::Conflict`]. See
//! docs/state.md for the layout and for why the transport is the git
//! command line (protocol v2 ref prefixes) rather than libgit2.
//!
//! Each store keeps two private bare repositories (one to fetch into and
//! build commits in, one to push from; see docs/state.md) in a temporary
//! folder, created on first use and removed when the store is dropped.
//! Calls on one store are serialised; separate stores (separate runs) share
//! nothing but the remote.

mod cli;

use std::collections::HashSet;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, PoisonError};
use std::time::{SystemTime, UNIX_EPOCH};

use secrecy::{ExposeSecret, SecretString};

use super::files::check_rel_path;
use super::{
    AsKey, KeyRecord, Loaded, Snapshot, StageRecord, StateKey, StateStore, StoreError, Version,
};
use crate::record::Record;
use crate::stage::Stage;

/// Where stage refs live unless configured otherwise.
pub const DEFAULT_REF_PREFIX: &str = "refs/alchemy-ci/stages/";
/// The user name GitHub takes a token with.
pub const TOKEN_USER: &str = "x-access-token";
/// Author and committer of every state commit.
pub const AUTHOR: &str = "alchemy-ci <alchemy-ci@users.noreply.github.com>";

const RECORD_FILE: &str = "record.json";
const FILES_DIR: &str = "alchemy/";
/// Local ref a put builds its commit on (the push names the commit id, not
/// this ref).
const WORK_REF: &str = "refs/alchemy-ci-work/put";
/// How many of its own commits a store keeps as packs (one per commit)
/// before `fast-import` writes them as loose objects again, so that a
/// store writing many stages (a sweep) does not leave every later git
/// command searching thousands of tiny packs.
const KEPT_PACKS: usize = 16;
/// Local namespace `records` fetches every stage ref into.
const ALL_REFS: &str = "refs/alchemy-ci-work/all/";

/// Push statuses that mean "the ref is not where you thought": the caller
/// re-reads and retries. Anything else a server refuses (a protected
/// branch, a hook) is not a race and is reported as such.
const CONFLICT_REASONS: &[&str] = &[
    "non-fast-forward",
    "fetch first",
    "stale info",
    "already exists",
    "failed to update ref",
    "cannot lock ref",
    "failed to lock",
    "incorrect old value",
    "but expected",
];

/// What git says when credentials are missing or refused.
const AUTH_MARKERS: &[&str] = &[
    "authentication failed",
    "could not read username",
    "could not read password",
    "terminal prompts disabled",
    "returned error: 401",
    "returned error: 403",
    "http basic: access denied",
    "invalid username or password",
    "invalid credentials",
    "bad credentials",
    "permission to",
    "permission denied",
];

/// How to reach the repository that holds the state.
#[derive(Clone)]
pub struct GitStoreOptions {
    /// The remote, e.g. `https://github.com/OWNER/REPO.git`, without
    /// credentials in it.
    pub url: String,
    /// A token for HTTP(S) remotes, sent as user `x-access-token` (as
    /// GitHub takes `GITHUB_TOKEN`). Unused for other remotes.
    pub token: Option<SecretString>,
    /// Where stage refs live: starts with `refs/`, ends with `/`.
    pub ref_prefix: String,
}

impl GitStoreOptions {
    /// Options for `url` with no token and the default ref prefix.
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            token: None,
            ref_prefix: DEFAULT_REF_PREFIX.to_owned(),
        }
    }
}

impl fmt::Debug for GitStoreOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GitStoreOptions")
            .field("url", &self.url)
            .field("token", &self.token.as_ref().map(|_| "***"))
            .field("ref_prefix", &self.ref_prefix)
            .finish()
    }
}

/// A git store that cannot be configured as asked (exit 2 material).
#[derive(Debug, thiserror::Error)]
pub enum GitConfigError {
    #[error("git state ref prefix {prefix:?} {reason}")]
    BadRefPrefix { prefix: String, reason: String },
    #[error("git state remote {url:?} {reason}")]
    BadUrl { url: String, reason: String },
}

pub struct GitStore {
    url: String,
    prefix: String,
    token: Option<SecretString>,
    program: PathBuf,
    work: Mutex<Option<Work>>,
}

impl fmt::Debug for GitStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GitStore")
            .field("url", &self.url)
            .field("prefix", &self.prefix)
            .field("token", &self.token.as_ref().map(|_| "***"))
            .finish_non_exhaustive()
    }
}

/// The store's private bare repositories.
struct Work {
    /// Where stage refs are fetched (at depth 1, so it is shallow) and
    /// commits are built.
    git: cli::Git,
    /// Where pushes run from: it borrows `git`'s objects through
    /// `objects/info/alternates` but is not shallow, so a push carries no
    /// shallow commits. (Given shallow commits, git's receive-pack walks
    /// from every ref on the server to place them: work that grows with the
    /// number of stages, for commits the server has in full anyway; see
    /// docs/state.md.) Each fetched tip that has parents gets a
    /// `refs/replace/` graft without them here, so that git's own
    /// fast-forward check stops at the tip instead of reading history this
    /// store never fetched. `pack-objects` ignores replace refs, so what is
    /// pushed are the real commits.
    push: cli::Git,
    /// Commits this store holds, so a put on a version this store read or
    /// wrote needs no fetch first.
    known: HashSet<String>,
    /// Shallow tips already grafted in `push`.
    grafted: HashSet<String>,
    /// Shallow tips fetched but not grafted yet: the first put on one
    /// grafts it, beside building its commit.
    to_graft: HashSet<String>,
    /// Packs `fast-import` has kept so far (see [`KEPT_PACKS`]).
    kept_packs: usize,
    // Last: removed after `git` is done with it.
    _dir: tempfile::TempDir,
}

impl GitStore {
    /// Checks the options; touches neither the disk nor the network (the
    /// private repository is created on first use).
    pub fn new(opts: GitStoreOptions) -> Result<Self, GitConfigError> {
        check_ref_prefix(&opts.ref_prefix).map_err(|reason| GitConfigError::BadRefPrefix {
            prefix: opts.ref_prefix.clone(),
            reason,
        })?;
        check_url(&opts.url).map_err(|reason| GitConfigError::BadUrl {
            url: opts.url.clone(),
            reason,
        })?;
        Ok(Self {
            url: opts.url,
            prefix: opts.ref_prefix,
            token: opts.token.filter(|t| !t.expose_secret().is_empty()),
            program: PathBuf::from("git"),
            work: Mutex::new(None),
        })
    }

    /// The full name of a stage's ref (`<prefix>pr-7`, or `<prefix>pr-7@api`
    /// for an app's stage).
    pub fn ref_name(&self, key: &dyn AsKey) -> String {
        format!("{}{}", self.prefix, key.as_key())
    }

    /// The configuration every git command gets through the environment,
    /// and the strings to scrub from anything shown.
    fn git_config(&self) -> (Vec<(String, SecretString)>, Vec<SecretString>) {
        let plain = |k: &str, v: &str| (k.to_owned(), SecretString::from(v.to_owned()));
        let mut config = vec![
            plain("protocol.version", "2"),
            // No helper may answer for us, and none may store our token.
            plain("credential.helper", ""),
            plain("core.hooksPath", "/dev/null"),
            plain("gc.auto", "0"),
            plain("maintenance.auto", "false"),
            plain("fetch.recurseSubmodules", "false"),
            plain("fetch.writeCommitGraph", "false"),
            plain("push.followTags", "false"),
            plain("push.gpgSign", "false"),
        ];
        let mut secrets = Vec::new();
        if let (Some(token), Some(origin)) = (&self.token, http_origin(&self.url)) {
            let basic = base64(format!("{TOKEN_USER}:{}", token.expose_secret()).as_bytes());
            config.push((
                format!("http.{origin}/.extraHeader"),
                SecretString::from(format!("Authorization: Basic {basic}")),
            ));
            secrets.push(token.clone());
            secrets.push(SecretString::from(basic));
        }
        (config, secrets)
    }

    /// Runs `f` on the private repository, creating it on first use.
    fn with_work<T>(
        &self,
        f: impl FnOnce(&mut Work) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let mut guard = self.work.lock().unwrap_or_else(PoisonError::into_inner);
        match guard.as_mut() {
            Some(w) => f(w),
            None => {
                let w = self.init_work()?;
                f(guard.insert(w))
            }
        }
    }

    fn init_work(&self) -> Result<Work, StoreError> {
        let dir = tempfile::Builder::new()
            .prefix("alchemy-ci-git-")
            .tempdir()
            .map_err(|e| StoreError::io("creating a temporary folder for the git store", e))?;
        let git_dir = dir.path().join("state.git");
        bare_repository(&git_dir, None)?;
        let push_dir = dir.path().join("push.git");
        bare_repository(&push_dir, Some(&git_dir.join("objects")))?;
        let (config, secrets) = self.git_config();
        let git = cli::Git::new(
            self.program.clone(),
            git_dir,
            self.url.clone(),
            self.url.clone(),
            config,
            secrets,
        );
        let push = git.at_with_replace_refs(push_dir);
        Ok(Work {
            git,
            push,
            known: HashSet::new(),
            grafted: HashSet::new(),
            to_graft: HashSet::new(),
            kept_packs: 0,
            _dir: dir,
        })
    }

    /// Records `tip`, just fetched, as known, and notes whether the fetch
    /// left it shallow: then its parents must be grafted away in the push
    /// repository before a push builds on it (see [`Work::push`]). That
    /// waits for the put, which does it beside `fast-import`; a load that
    /// no write follows never pays for it.
    fn fetched(&self, w: &mut Work, tip: &str) -> Result<(), StoreError> {
        w.known.insert(tip.to_owned());
        if w.grafted.contains(tip) {
            return Ok(());
        }
        let path = w.git.git_dir().join("shallow");
        let shallow = match std::fs::read_to_string(&path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
            Err(e) => return Err(StoreError::io(format!("reading {}", path.display()), e)),
        };
        if shallow.lines().any(|l| l.trim() == tip) {
            w.to_graft.insert(tip.to_owned());
        }
        Ok(())
    }

    /// Grafts the parents of `tip` away in the push repository.
    fn graft(&self, push: &cli::Git, tip: &str) -> Result<(), StoreError> {
        match push.run(&["replace", "--graft", tip], None) {
            Ok(_) => Ok(()),
            // A root commit (shallow files list those too) has no parents
            // to graft away.
            Err(f) if f.stderr.contains("same as the old one") => Ok(()),
            Err(f) => Err(self.unavailable(&f)),
        }
    }

    fn unavailable(&self, f: &cli::Failure) -> StoreError {
        StoreError::Unavailable {
            store: self.describe(),
            message: f.to_string(),
        }
    }

    /// Sorts a failed network command into authentication or
    /// unavailability; git's words are kept (they never hold the token:
    /// it is scrubbed).
    fn classify(&self, f: &cli::Failure) -> StoreError {
        let lower = f.stderr.to_ascii_lowercase();
        if AUTH_MARKERS.iter().any(|m| lower.contains(m)) {
            let hint = if self.token.is_some() {
                "the server refused the token, or it lacks permission (pushes need contents: write)"
            } else {
                "the server wants credentials and no token was given"
            };
            StoreError::Auth {
                store: self.url.clone(),
                message: format!("{hint}; {f}"),
            }
        } else {
            self.unavailable(f)
        }
    }

    /// Fetches one stage ref at depth 1. `None` when the remote has no such
    /// ref.
    fn fetch_tip(&self, w: &Work, refname: &str) -> Result<Option<String>, StoreError> {
        let args = [
            "fetch",
            "--quiet",
            "--depth=1",
            "--no-tags",
            "--no-recurse-submodules",
            self.url.as_str(),
            refname,
        ];
        match w.git.run(&args, None) {
            Ok(_) => {}
            Err(f) if f.stderr.contains("couldn't find remote ref") => return Ok(None),
            Err(f) => return Err(self.classify(&f)),
        }
        let path = w.git.git_dir().join("FETCH_HEAD");
        let text = std::fs::read_to_string(&path)
            .map_err(|e| StoreError::io(format!("reading {}", path.display()), e))?;
        let oid = text.split(['\t', '\n']).next().unwrap_or_default();
        if is_object_id(oid) {
            Ok(Some(oid.to_owned()))
        } else {
            Err(StoreError::Unavailable {
                store: self.describe(),
                message: format!("fetching {refname} left no commit id in FETCH_HEAD"),
            })
        }
    }

    /// Reads the snapshot in commit `tip` of `refname`, refusing any state
    /// file path that would leave `.alchemy/`.
    fn read_snapshot(&self, w: &Work, refname: &str, tip: &str) -> Result<Snapshot, StoreError> {
        let short = &tip[..tip.len().min(12)];
        let location = |path: &str| format!("{} {refname} (commit {short}) {path}", self.url);
        let commit = format!("{tip}^{{commit}}");
        let args = ["ls-tree", "-r", "-z", "--full-tree", commit.as_str()];
        let listing = w.git.run(&args, None).map_err(|f| StoreError::Corrupt {
            location: location(""),
            message: format!("the stage ref does not point at a readable commit: {f}"),
        })?;
        let mut record_oid = None;
        let mut files = Vec::new();
        for entry in listing.stdout.split(|b| *b == 0).filter(|e| !e.is_empty()) {
            let entry = parse_ls_tree(entry).ok_or_else(|| StoreError::Corrupt {
                location: location(""),
                message: format!("unreadable tree entry {:?}", String::from_utf8_lossy(entry)),
            })?;
            let corrupt = |message: String| StoreError::Corrupt {
                location: location(entry.path),
                message,
            };
            if entry.path == RECORD_FILE {
                if entry.kind != "blob" {
                    return Err(corrupt(format!("is a {}, not a file", entry.kind)));
                }
                record_oid = Some(entry.oid.to_owned());
            } else if let Some(rel) = entry.path.strip_prefix(FILES_DIR) {
                if entry.kind != "blob" || !matches!(entry.mode, "100644" | "100755") {
                    return Err(corrupt(format!(
                        "is not a regular file (mode {}, {})",
                        entry.mode, entry.kind
                    )));
                }
                check_rel_path(rel).map_err(corrupt)?;
                files.push((rel.to_owned(), entry.oid.to_owned()));
            }
            // Anything else at the top level is left for newer versions.
        }
        let mut requests: Vec<String> = files.iter().map(|(_, oid)| oid.clone()).collect();
        if let Some(oid) = &record_oid {
            requests.push(oid.clone());
        }
        let mut blobs = self.cat_file(w, &requests)?.into_iter();
        let mut snapshot = Snapshot::default();
        for (rel, _) in files {
            let Some(Some((_, bytes))) = blobs.next() else {
                return Err(StoreError::Corrupt {
                    location: location(&format!("{FILES_DIR}{rel}")),
                    message: "the file's contents are missing from the fetched commit".into(),
                });
            };
            snapshot.files.insert(rel, bytes);
        }
        if record_oid.is_some() {
            let Some(Some((_, bytes))) = blobs.next() else {
                return Err(StoreError::Corrupt {
                    location: location(RECORD_FILE),
                    message: "the record's contents are missing from the fetched commit".into(),
                });
            };
            let record = Record::from_json(&bytes).map_err(|message| StoreError::Corrupt {
                location: location(RECORD_FILE),
                message,
            })?;
            snapshot.record = Some(record);
        }
        Ok(snapshot)
    }

    /// `git cat-file --batch` over `requests` (object names, one per line):
    /// each answer is `None` when the object is missing, else its type and
    /// contents.
    fn cat_file(&self, w: &Work, requests: &[String]) -> Result<Vec<Option<Object>>, StoreError> {
        if requests.is_empty() {
            return Ok(Vec::new());
        }
        let mut input = requests.join("\n").into_bytes();
        input.push(b'\n');
        let args = ["cat-file", "--batch"];
        let out = w
            .git
            .run(&args, Some(&input))
            .map_err(|f| self.unavailable(&f))?;
        let bad = |what: &str| StoreError::Unavailable {
            store: self.describe(),
            message: format!("`git cat-file --batch` printed {what}"),
        };
        let mut rest = out.stdout.as_slice();
        let mut answers = Vec::with_capacity(requests.len());
        for _ in requests {
            let nl = rest
                .iter()
                .position(|b| *b == b'\n')
                .ok_or_else(|| bad("too few answers"))?;
            let header = std::str::from_utf8(&rest[..nl]).map_err(|_| bad("a binary header"))?;
            rest = &rest[nl + 1..];
            if header.ends_with(" missing") || header.ends_with(" ambiguous") {
                answers.push(None);
                continue;
            }
            let mut parts = header.split(' ');
            let (_, kind, size) = (parts.next(), parts.next(), parts.next());
            let kind = kind.ok_or_else(|| bad("a header without a type"))?;
            let size: usize = size
                .and_then(|s| s.parse().ok())
                .ok_or_else(|| bad("a header without a size"))?;
            if rest.len() < size + 1 {
                return Err(bad("a truncated object"));
            }
            answers.push(Some((kind.to_owned(), rest[..size].to_vec())));
            rest = &rest[size + 1..];
        }
        Ok(answers)
    }

    /// Writes `snapshot` as one commit (parent `parent`, if any) in the
    /// private repository with `git fast-import`; returns its id.
    fn commit(
        &self,
        git: &cli::Git,
        keep_pack: bool,
        snapshot: &Snapshot,
        parent: Option<&str>,
        message: &str,
    ) -> Result<String, StoreError> {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let message = message.replace('\0', "");
        let mut s: Vec<u8> = Vec::new();
        // `reset` first: without it a commit on an existing local ref would
        // take that ref's tip as its parent.
        s.extend_from_slice(format!("reset {WORK_REF}\ncommit {WORK_REF}\nmark :1\n").as_bytes());
        s.extend_from_slice(format!("author {AUTHOR} {now} +0000\n").as_bytes());
        s.extend_from_slice(format!("committer {AUTHOR} {now} +0000\n").as_bytes());
        data(&mut s, message.as_bytes());
        if let Some(p) = parent {
            s.extend_from_slice(format!("from {p}\n").as_bytes());
        }
        s.extend_from_slice(b"deleteall\n");
        if let Some(record) = &snapshot.record {
            s.extend_from_slice(format!("M 100644 inline {RECORD_FILE}\n").as_bytes());
            data(&mut s, &record.to_json());
        }
        for (rel, bytes) in &snapshot.files {
            s.extend_from_slice(b"M 100644 inline ");
            s.extend_from_slice(&quote_path(&format!("{FILES_DIR}{rel}")));
            s.push(b'\n');
            data(&mut s, bytes);
        }
        s.extend_from_slice(b"\nget-mark :1\ndone\n");
        // A commit is a handful of objects, under fast-import's default
        // `unpackLimit` of 100, so it would start `git unpack-objects` to
        // write them loose: a second process that costs more than the
        // import. Keeping the pack skips it (see [`KEPT_PACKS`]).
        let mut args = Vec::with_capacity(6);
        if keep_pack {
            args.extend(["-c", "fastimport.unpackLimit=0"]);
        }
        args.extend(["fast-import", "--quiet", "--force", "--done"]);
        let out = git.run(&args, Some(&s)).map_err(|f| self.unavailable(&f))?;
        let oid = String::from_utf8_lossy(&out.stdout).trim().to_owned();
        if is_object_id(&oid) {
            Ok(oid)
        } else {
            Err(StoreError::Unavailable {
                store: self.describe(),
                message: format!("`git fast-import` printed {oid:?}, not a commit id"),
            })
        }
    }

    /// Builds the commit a put pushes and, if `parent` is a shallow tip not
    /// grafted yet, grafts it in the push repository at the same time: two
    /// local processes on two repositories (the graft reads only the
    /// fetched tip, fast-import only writes new objects).
    fn prepare_push(
        &self,
        w: &mut Work,
        snapshot: &Snapshot,
        parent: Option<&str>,
        message: &str,
    ) -> Result<String, StoreError> {
        let keep_pack = w.kept_packs < KEPT_PACKS;
        w.kept_packs += usize::from(keep_pack);
        let graft = parent.filter(|p| w.to_graft.contains(*p));
        let (git, push) = (&w.git, &w.push);
        let (commit, grafted) = std::thread::scope(|scope| {
            let job = graft.map(|tip| scope.spawn(move || self.graft(push, tip)));
            let commit = self.commit(git, keep_pack, snapshot, parent, message);
            let grafted = job.map(|j| j.join().unwrap_or_else(|p| std::panic::resume_unwind(p)));
            (commit, grafted)
        });
        if let (Some(tip), Some(result)) = (graft, grafted) {
            result?;
            w.to_graft.remove(tip);
            w.grafted.insert(tip.to_owned());
        }
        commit
    }

    /// Pushes `refspec` with `--porcelain` and returns the status flag and
    /// summary git gives for `refname`.
    fn push(
        &self,
        w: &Work,
        stage: &StateKey,
        refname: &str,
        extra: &[&str],
        refspec: &str,
    ) -> Result<char, StoreError> {
        let mut args = vec!["push", "--porcelain", "--no-verify", "--no-follow-tags"];
        args.extend_from_slice(extra);
        args.push(self.url.as_str());
        args.push(refspec);
        let out = w
            .push
            .run_status(&args, None)
            .map_err(|f| self.unavailable(&f))?;
        let stdout = String::from_utf8_lossy(&out.stdout);
        let Some((flag, summary)) = push_status(&stdout, refname) else {
            let f = w.push.failure(&args, &out);
            return Err(if out.status.success() {
                StoreError::Unavailable {
                    store: self.describe(),
                    message: format!("git reported nothing about {refname}: {f}"),
                }
            } else {
                self.classify(&f)
            });
        };
        match flag {
            '!' if CONFLICT_REASONS.iter().any(|r| summary.contains(r)) => {
                Err(StoreError::Conflict { key: stage.clone() })
            }
            '!' => Err(StoreError::Unavailable {
                store: self.describe(),
                message: format!(
                    "the server refused to update {refname}: {summary}: {}",
                    w.push.failure(&args, &out)
                ),
            }),
            // The remote already holds exactly this commit: an identical
            // write by someone else, after the version this one was built on.
            '=' => Err(StoreError::Conflict { key: stage.clone() }),
            other => Ok(other),
        }
    }
}

impl StateStore for GitStore {
    fn describe(&self) -> String {
        format!("git refs {}<stage> of {}", self.prefix, self.url)
    }

    fn load(&self, key: &dyn AsKey) -> Result<Loaded, StoreError> {
        let refname = self.ref_name(key);
        self.with_work(|w| match self.fetch_tip(w, &refname)? {
            None => Ok(Loaded {
                snapshot: Snapshot::default(),
                version: Version::ABSENT,
            }),
            Some(tip) => {
                let snapshot = self.read_snapshot(w, &refname, &tip)?;
                self.fetched(w, &tip)?;
                Ok(Loaded {
                    snapshot,
                    version: Version(Some(tip)),
                })
            }
        })
    }

    fn put(
        &self,
        key: &dyn AsKey,
        snapshot: &Snapshot,
        expected: &Version,
        message: &str,
    ) -> Result<Version, StoreError> {
        let stage = &key.as_key();
        super::files::check_paths(stage, &snapshot.files)?;
        let conflict = || StoreError::Conflict { key: stage.clone() };
        let parent = match expected.0.as_deref() {
            None => None,
            Some(v) if is_object_id(v) => Some(v),
            // Not a commit id: it cannot be what the ref points at.
            Some(_) => return Err(conflict()),
        };
        let refname = self.ref_name(stage);
        self.with_work(|w| {
            if let Some(p) = parent {
                if !w.known.contains(p) {
                    // A version read by another store: the parent must be
                    // here to build on, and if the ref moved since, this
                    // write has already lost.
                    match self.fetch_tip(w, &refname)? {
                        Some(tip) if tip == p => self.fetched(w, &tip)?,
                        _ => return Err(conflict()),
                    }
                }
            }
            let commit = self.prepare_push(w, snapshot, parent, message)?;
            // No `+`, no `--force`: the server accepts this only as a
            // fast-forward of the tip it holds, and only if that tip is
            // still what the push saw; a moved (or newly created) ref
            // rejects it and the caller re-reads.
            let refspec = format!("{commit}:{refname}");
            let flag = self.push(w, stage, &refname, &[], &refspec)?;
            if flag == '*' && parent.is_some() {
                // The ref was deleted after it was read. A plain push
                // cannot refuse to create it; the run's state describes
                // resources that exist, so keeping it is the safe side.
                tracing::warn!(
                    "{refname} was removed after this run read it; this write re-created it"
                );
            }
            w.known.insert(commit.clone());
            Ok(Version(Some(commit)))
        })
    }

    fn remove(&self, key: &dyn AsKey, expected: &Version) -> Result<(), StoreError> {
        let stage = &key.as_key();
        let refname = self.ref_name(stage);
        let conflict = || StoreError::Conflict { key: stage.clone() };
        self.with_work(|w| match expected.0.as_deref() {
            None => {
                // Nothing to delete; it is a conflict only if the stage exists.
                let args = ["ls-remote", self.url.as_str(), refname.as_str()];
                let out = w.git.run(&args, None).map_err(|f| self.classify(&f))?;
                let listing = String::from_utf8_lossy(&out.stdout);
                if listing
                    .lines()
                    .any(|l| l.split('\t').nth(1) == Some(refname.as_str()))
                {
                    Err(conflict())
                } else {
                    Ok(())
                }
            }
            Some(v) if is_object_id(v) => {
                // A compare-and-delete, not a force push: the server deletes
                // the ref only if it still points at `v`, else "stale info".
                let lease = format!("--force-with-lease={refname}:{v}");
                let refspec = format!(":{refname}");
                self.push(w, stage, &refname, &[&lease], &refspec)
                    .map(|_| ())
            }
            Some(_) => Err(conflict()),
        })
    }

    fn list(&self) -> Result<Vec<Stage>, StoreError> {
        Ok(super::single_stages(self.keys()?))
    }

    fn keys(&self) -> Result<Vec<StateKey>, StoreError> {
        self.with_work(|w| {
            // One request. (ls-remote sends no ref prefix for patterns, so
            // the filtering happens here.)
            let args = ["ls-remote", "--refs", self.url.as_str()];
            let out = w.git.run(&args, None).map_err(|f| self.classify(&f))?;
            let listing = String::from_utf8_lossy(&out.stdout);
            let mut stages: Vec<StateKey> = listing
                .lines()
                .filter_map(|l| l.split('\t').nth(1))
                .filter_map(|r| r.strip_prefix(self.prefix.as_str()))
                .filter_map(StateKey::parse)
                .collect();
            stages.sort();
            stages.dedup();
            Ok(stages)
        })
    }

    fn records(&self) -> Result<Vec<StageRecord>, StoreError> {
        Ok(super::single_records(self.key_records()?))
    }

    /// One depth-1 fetch of every stage ref, then one `cat-file` for all
    /// the `record.json` blobs; no state file is read.
    fn key_records(&self) -> Result<Vec<KeyRecord>, StoreError> {
        self.with_work(|w| {
            // The `+` lets the LOCAL copies in this private repository be
            // replaced; nothing is ever force-pushed.
            let refspec = format!("+{}*:{ALL_REFS}*", self.prefix);
            let args = [
                "fetch",
                "--quiet",
                "--depth=1",
                "--no-tags",
                "--no-recurse-submodules",
                "--prune",
                self.url.as_str(),
                refspec.as_str(),
            ];
            w.git.run(&args, None).map_err(|f| self.classify(&f))?;
            let args = [
                "for-each-ref",
                "--format=%(objectname) %(refname)",
                ALL_REFS,
            ];
            let out = w.git.run(&args, None).map_err(|f| self.unavailable(&f))?;
            let listing = String::from_utf8_lossy(&out.stdout);
            let mut tips: Vec<(StateKey, String)> = listing
                .lines()
                .filter_map(|l| l.split_once(' '))
                .filter(|(oid, _)| is_object_id(oid))
                .filter_map(|(oid, r)| {
                    let name = r.strip_prefix(ALL_REFS)?;
                    Some((StateKey::parse(name)?, oid.to_owned()))
                })
                .collect();
            tips.sort();
            let requests: Vec<String> = tips
                .iter()
                .map(|(_, oid)| format!("{oid}:{RECORD_FILE}"))
                .collect();
            let answers = self.cat_file(w, &requests)?;
            Ok(tips
                .into_iter()
                .zip(answers)
                .map(|((stage, oid), answer)| {
                    let location = || {
                        format!(
                            "{} {} (commit {}) {RECORD_FILE}",
                            self.url,
                            self.ref_name(&stage),
                            &oid[..12]
                        )
                    };
                    let record = match answer {
                        None => Ok(None),
                        Some((kind, bytes)) if kind == "blob" => Record::from_json(&bytes)
                            .map(Some)
                            .map_err(|message| StoreError::Corrupt {
                                location: location(),
                                message,
                            }),
                        Some((kind, _)) => Err(StoreError::Corrupt {
                            location: location(),
                            message: format!("is a {kind}, not a file"),
                        }),
                    };
                    (stage, record)
                })
                .collect())
        })
    }
}

/// Writes an empty bare repository in the new folder `path`: the
/// layout `git init --bare` leaves minus its sample hooks and
/// descriptions, borrowing `alternate`'s objects if given. Writing the few
/// files here spares a run two `git init` processes, each of which also
/// copies the template folder.
fn bare_repository(path: &Path, alternate: Option<&Path>) -> Result<(), StoreError> {
    let io = |what: &Path, e| StoreError::io(format!("creating {}", what.display()), e);
    for d in [
        "",
        "objects/info",
        "objects/pack",
        "refs/heads",
        "refs/tags",
    ] {
        let d = path.join(d);
        std::fs::create_dir_all(&d).map_err(|e| io(&d, e))?;
    }
    let mut files = vec![
        ("HEAD", "ref: refs/heads/unused\n".to_owned()),
        (
            "config",
            "[core]\n\trepositoryformatversion = 0\n\tbare = true\n".to_owned(),
        ),
    ];
    if let Some(objects) = alternate {
        files.push((
            "objects/info/alternates",
            format!("{}\n", objects.display()),
        ));
    }
    for (name, text) in files {
        let f = path.join(name);
        std::fs::write(&f, text).map_err(|e| io(&f, e))?;
    }
    Ok(())
}

/// An object read by `cat-file`: its type and contents.
type Object = (String, Vec<u8>);

/// One line of `git ls-tree -z`: `<mode> SP <type> SP <oid> TAB <path>`.
struct TreeEntry<'a> {
    mode: &'a str,
    kind: &'a str,
    oid: &'a str,
    path: &'a str,
}

fn parse_ls_tree(entry: &[u8]) -> Option<TreeEntry<'_>> {
    let text = std::str::from_utf8(entry).ok()?;
    let (meta, path) = text.split_once('\t')?;
    let mut parts = meta.split(' ');
    let (mode, kind, oid) = (parts.next()?, parts.next()?, parts.next()?);
    is_object_id(oid).then_some(TreeEntry {
        mode,
        kind,
        oid,
        path,
    })
}

/// A full SHA-1 or SHA-256 object id in lowercase hex.
fn is_object_id(s: &str) -> bool {
    matches!(s.len(), 40 | 64) && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// A fast-import `data` block with an exact byte count.
fn data(out: &mut Vec<u8>, bytes: &[u8]) {
    out.extend_from_slice(format!("data {}\n", bytes.len()).as_bytes());
    out.extend_from_slice(bytes);
    out.push(b'\n');
}

/// A path in fast-import's C-style quoting, so any byte a checked path may
/// hold (quotes, newlines) stays part of the name.
fn quote_path(path: &str) -> Vec<u8> {
    let mut out = vec![b'"'];
    for &b in path.as_bytes() {
        match b {
            b'"' => out.extend_from_slice(b"\\\""),
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'\n' => out.extend_from_slice(b"\\n"),
            0..=0x1f | 0x7f => out.extend_from_slice(format!("\\{b:03o}").as_bytes()),
            _ => out.push(b),
        }
    }
    out.push(b'"');
    out
}

/// The `(flag, summary)` of `refname` in `git push --porcelain` output:
/// lines `<flag> TAB <from>:<to> TAB <summary>`.
fn push_status(stdout: &str, refname: &str) -> Option<(char, String)> {
    stdout.lines().find_map(|line| {
        let mut fields = line.split('\t');
        let flag = fields.next()?.chars().next()?;
        let (_, to) = fields.next()?.rsplit_once(':')?;
        (to == refname).then(|| (flag, fields.next().unwrap_or_default().to_owned()))
    })
}

/// `refs/…/` made of valid ref components (git check-ref-format's rules),
/// so that `<prefix><stage>` is a valid ref for every stage.
fn check_ref_prefix(p: &str) -> Result<(), String> {
    if !p.starts_with("refs/") {
        return Err("must start with \"refs/\" (e.g. refs/alchemy-ci/stages/)".into());
    }
    if !p.ends_with('/') {
        return Err("must end with \"/\" (e.g. refs/heads/alchemy-state/)".into());
    }
    if let Some(c) = p
        .chars()
        .find(|c| !c.is_ascii_graphic() || matches!(c, '~' | '^' | ':' | '?' | '*' | '[' | '\\'))
    {
        return Err(format!("contains {c:?}, which git does not allow in a ref"));
    }
    if p.contains("..") || p.contains("@{") {
        return Err("contains \"..\" or \"@{\", which git does not allow in a ref".into());
    }
    let parts: Vec<&str> = p[..p.len() - 1].split('/').collect();
    if parts.len() < 2 {
        return Err("needs a folder below refs/ (e.g. refs/alchemy-ci/stages/)".into());
    }
    for part in parts {
        if part.is_empty() {
            return Err("has an empty component (\"//\")".into());
        }
        if part.starts_with('.') || part.ends_with('.') || part.ends_with(".lock") || part == "@" {
            return Err(format!(
                "has the component {part:?}, which git does not allow in a ref"
            ));
        }
    }
    Ok(())
}

/// Refuses remotes git would read as an option, and credentials in the
/// URL: they would show in the process list and in messages.
fn check_url(url: &str) -> Result<(), String> {
    if url.is_empty() {
        return Err("is empty".into());
    }
    if url.starts_with('-') {
        return Err("starts with '-'".into());
    }
    if url.chars().any(|c| c.is_control() || c.is_whitespace()) {
        return Err("contains whitespace or control characters".into());
    }
    if let Some((_, rest)) = url.split_once("://") {
        let authority = rest.split('/').next().unwrap_or_default();
        if let Some((userinfo, _)) = authority.rsplit_once('@') {
            if userinfo.contains(':') {
                return Err(
                    "carries a password; pass the token separately so it stays out of argv and logs"
                        .into(),
                );
            }
        }
    }
    Ok(())
}

/// `scheme://host[:port]` of an HTTP(S) URL, without user information.
fn http_origin(url: &str) -> Option<String> {
    let (scheme, rest) = url.split_once("://")?;
    if !scheme.eq_ignore_ascii_case("http") && !scheme.eq_ignore_ascii_case("https") {
        return None;
    }
    let authority = rest.split(['/', '?', '#']).next()?;
    let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    (!host.is_empty()).then(|| format!("{scheme}://{host}"))
}

/// Standard base64 with padding (RFC 4648), for the Basic header.
fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ref_prefixes_are_checked() {
        for good in [
            DEFAULT_REF_PREFIX,
            "refs/heads/alchemy-state/",
            "refs/x/y_z-1/",
        ] {
            assert!(check_ref_prefix(good).is_ok(), "{good}");
        }
        for bad in [
            "",
            "refs/",
            "heads/x/",
            "refs/x",
            "refs//x/",
            "refs/x..y/",
            "refs/.x/",
            "refs/x.lock/",
            "refs/x y/",
            "refs/x:y/",
            "refs/x*/",
            "refs/x@{1}/",
            "refs/x\n/",
        ] {
            assert!(check_ref_prefix(bad).is_err(), "{bad:?} accepted");
        }
        let err = GitStore::new(GitStoreOptions {
            ref_prefix: "refs/heads/state".into(),
            ..GitStoreOptions::new("https://github.com/o/r.git")
        })
        .expect_err("refused");
        assert!(err.to_string().contains("must end with \"/\""), "{err}");
    }

    #[test]
    fn urls_with_passwords_or_option_shapes_are_refused() {
        for bad in [
            "",
            "--upload-pack=touch /tmp/x",
            "https://user:secret@github.com/o/r.git",
            "https://github.com/o/r.git\n",
        ] {
            assert!(check_url(bad).is_err(), "{bad:?} accepted");
        }
        for good in [
            "https://github.com/o/r.git",
            "https://x-access-token@github.com/o/r.git",
            "git://127.0.0.1:9418/r.git",
            "git@github.com:o/r.git",
            "/srv/state.git",
        ] {
            assert!(check_url(good).is_ok(), "{good:?} refused");
        }
    }

    #[test]
    fn origins_scope_the_token_to_the_host() {
        assert_eq!(
            http_origin("https://x-access-token@github.com/o/r.git").as_deref(),
            Some("https://github.com")
        );
        assert_eq!(
            http_origin("http://127.0.0.1:8080/git/r.git").as_deref(),
            Some("http://127.0.0.1:8080")
        );
        assert_eq!(http_origin("git://127.0.0.1/r.git"), None);
        assert_eq!(http_origin("git@github.com:o/r.git"), None);
    }

    #[test]
    fn base64_matches_rfc4648() {
        for (input, want) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
            ("x-access-token:abc", "eC1hY2Nlc3MtdG9rZW46YWJj"),
        ] {
            assert_eq!(base64(input.as_bytes()), want, "{input}");
        }
    }

    #[test]
    fn paths_are_quoted_for_fast_import() {
        assert_eq!(quote_path("alchemy/a b.json"), b"\"alchemy/a b.json\"");
        assert_eq!(
            quote_path("alchemy/q\"\n\t"),
            b"\"alchemy/q\\\"\\n\\011\"".to_vec()
        );
    }

    #[test]
    fn push_status_finds_the_ref() {
        let out = "To git://h/r\n!\tabc:refs/s/pr-1\t[rejected] (non-fast-forward)\nDone\n";
        assert_eq!(
            push_status(out, "refs/s/pr-1"),
            Some(('!', "[rejected] (non-fast-forward)".into()))
        );
        assert_eq!(push_status(out, "refs/s/pr-10"), None);
        let del = "To git://h/r\n-\t:refs/s/pr-1\t[deleted]\nDone\n";
        assert_eq!(
            push_status(del, "refs/s/pr-1"),
            Some(('-', "[deleted]".into()))
        );
    }

    #[test]
    fn debug_output_hides_the_token() {
        let opts = GitStoreOptions {
            token: Some(SecretString::from("ghs_supersecret".to_owned())),
            ..GitStoreOptions::new("https://github.com/o/r.git")
        };
        assert!(!format!("{opts:?}").contains("supersecret"));
        let store = GitStore::new(opts).expect("valid");
        assert!(!format!("{store:?}").contains("supersecret"));
        assert!(!store.describe().contains("supersecret"));
    }
}
