//! The git store's run done with libgit2 (git2) instead of the git command
//! line, for the transport comparison in docs/state.md: a fresh bare
//! repository, a depth-1 fetch of the stage ref, every file read, then two
//! commits on top, each pushed without force with its status checked in
//! `push_update_reference` (the only place libgit2 reports a rejected ref).
//! Built only with `--features bench-libgit2`.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use git2::{FetchOptions, Oid, PushOptions, RemoteCallbacks, Repository, Signature};

fn read_files(repo: &Repository, commit: Oid) -> BTreeMap<String, Vec<u8>> {
    let tree = repo
        .find_commit(commit)
        .and_then(|c| c.tree())
        .expect("tree");
    let mut files = BTreeMap::new();
    tree.walk(git2::TreeWalkMode::PreOrder, |root, entry| {
        if entry.kind() == Some(git2::ObjectType::Blob) {
            let blob = repo.find_blob(entry.id()).expect("blob");
            let name = entry.name().unwrap_or_default();
            files.insert(format!("{root}{name}"), blob.content().to_vec());
        }
        git2::TreeWalkResult::Ok
    })
    .expect("walk");
    files
}

fn build_tree(repo: &Repository, files: &BTreeMap<String, Vec<u8>>) -> Oid {
    let mut tb = repo.treebuilder(None).expect("treebuilder");
    let mut dirs: BTreeMap<&str, BTreeMap<String, Vec<u8>>> = BTreeMap::new();
    for (path, bytes) in files {
        match path.split_once('/') {
            Some((dir, rest)) => {
                dirs.entry(dir)
                    .or_default()
                    .insert(rest.to_owned(), bytes.clone());
            }
            None => {
                let oid = repo.blob(bytes).expect("blob");
                tb.insert(path, oid, 0o100644).expect("insert");
            }
        }
    }
    for (dir, sub) in dirs {
        let oid = build_tree(repo, &sub);
        tb.insert(dir, oid, 0o040000).expect("insert tree");
    }
    tb.write().expect("write tree")
}

fn commit_and_push(
    repo: &Repository,
    remote: &mut git2::Remote<'_>,
    refname: &str,
    parent: Oid,
    files: &BTreeMap<String, Vec<u8>>,
    message: &str,
) -> Oid {
    let tree = repo.find_tree(build_tree(repo, files)).expect("tree");
    let parent = repo.find_commit(parent).expect("parent");
    let sig = Signature::now("alchemy-ci", "alchemy-ci@users.noreply.github.com").expect("sig");
    let oid = repo
        .commit(Some(refname), &sig, &sig, message, &tree, &[&parent])
        .expect("commit");
    let rejected = RefCell::new(None);
    let mut callbacks = RemoteCallbacks::new();
    callbacks.push_update_reference(|name, status| {
        if let Some(s) = status {
            *rejected.borrow_mut() = Some(format!("{name}: {s}"));
        }
        Ok(())
    });
    let mut opts = PushOptions::new();
    opts.remote_callbacks(callbacks);
    remote
        .push(&[format!("{refname}:{refname}")], Some(&mut opts))
        .expect("push");
    assert_eq!(rejected.borrow().as_deref(), None, "push rejected");
    oid
}

/// One run (restore, lock, final write) of stage pr-`n`; returns its time.
pub fn cycle(url: &str, n: usize, run: usize) -> Duration {
    let refname = format!("refs/alchemy-ci/stages/pr-{n}");
    let refname = refname.as_str();
    let t = Instant::now();
    let dir = tempfile::tempdir().expect("temp dir");
    let repo = Repository::init_bare(dir.path()).expect("init");
    let mut remote = repo.remote_anonymous(url).expect("remote");
    let mut fetch = FetchOptions::new();
    fetch.depth(1);
    remote
        .fetch(&[format!("+{refname}:{refname}")], Some(&mut fetch), None)
        .expect("fetch");
    let tip = repo.refname_to_id(refname).expect("tip");
    let mut files = read_files(&repo, tip);
    assert!(files.contains_key("record.json"));
    let key = format!("alchemy/my-app/pr-{n}/res-0.json");
    files.insert(key.clone(), format!("{{\"lock\":{run}}}\n").into_bytes());
    let c1 = commit_and_push(
        &repo,
        &mut remote,
        refname,
        tip,
        &files,
        "lock pr-1 (libgit2)",
    );
    files.insert(key, format!("{{\"final\":{run}}}\n").into_bytes());
    commit_and_push(
        &repo,
        &mut remote,
        refname,
        c1,
        &files,
        "deploy pr-1 (libgit2)",
    );
    t.elapsed()
}
