//! What a deploy changes in a stage, as resource ids in four lists
//! (created, updated, replaced, deleted), from one of two sources:
//!
//! - **Before it acts**: Alchemy v2 prints its plan (`alchemy plan --stage
//!   S`, and the first lines of every `deploy`): `Plan: 2 to create, 1 to
//!   update, …` and one `[id] action` line per resource. [`parse_plan`]
//!   reads that output as the CLI writes it in CI (Effect's log prefix,
//!   with or without colours).
//! - **After it acted**: Alchemy v1 cannot tell beforehand, so
//!   [`from_state`] compares the stage's state files before and after the
//!   deploy (the maps a [`crate::state::Snapshot`] holds). A resource is
//!   its file's `fqn` (else `id`, else the path). It counts as *updated*
//!   only when its `props` or its output (`output` in v1, `attr` in v2)
//!   changed: a new `status` or `seq` alone is Alchemy's bookkeeping, not
//!   a change to the resource (a v1 redeploy without changes rewrites
//!   nothing; a changed resource's status goes `created` → `updated` along
//!   with its props). It counts as *replaced* when v2's `instanceId`
//!   changed. Scopes (`alchemy::Scope`) and v2's `__stack_output__.json`
//!   are not resources.
//!
//! v2's plan actions map as: `create` → created; `update` and `adopted`
//! (an existing resource taken over) → updated; `replace` → replaced;
//! `delete` and `orphaned` (left in place, no longer managed) → deleted;
//! `noop` is not a change.

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::Value;

/// Where a change list came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ChangeSource {
    /// Alchemy's plan: what the deploy will change.
    Plan,
    /// The state before and after: what the deploy changed.
    State,
}

/// Resource ids by what happens to them, each list sorted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Changes {
    pub source: ChangeSource,
    pub created: Vec<String>,
    pub updated: Vec<String>,
    pub replaced: Vec<String>,
    pub deleted: Vec<String>,
}

impl Changes {
    fn empty(source: ChangeSource) -> Self {
        Self {
            source,
            created: Vec::new(),
            updated: Vec::new(),
            replaced: Vec::new(),
            deleted: Vec::new(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.total() == 0
    }

    pub fn total(&self) -> usize {
        self.created.len() + self.updated.len() + self.replaced.len() + self.deleted.len()
    }

    /// `+2 ~3 -1`, replaced resources counted with the updated ones and
    /// named after: `+0 ~2 -0 (1 replaced)`.
    pub fn summary(&self) -> String {
        let mut s = format!(
            "+{} ~{} -{}",
            self.created.len(),
            self.updated.len() + self.replaced.len(),
            self.deleted.len()
        );
        if !self.replaced.is_empty() {
            s.push_str(&format!(" ({} replaced)", self.replaced.len()));
        }
        s
    }

    /// Every change as (sign, id): `+` created, `~` updated, `±` replaced,
    /// `-` deleted, in that order.
    pub fn entries(&self) -> impl Iterator<Item = (char, &str)> {
        fn tag(sign: char, v: &[String]) -> impl Iterator<Item = (char, &str)> {
            v.iter().map(move |id| (sign, id.as_str()))
        }
        tag('+', &self.created)
            .chain(tag('~', &self.updated))
            .chain(tag('±', &self.replaced))
            .chain(tag('-', &self.deleted))
    }

    fn sort(mut self) -> Self {
        for v in [
            &mut self.created,
            &mut self.updated,
            &mut self.replaced,
            &mut self.deleted,
        ] {
            v.sort();
            v.dedup();
        }
        self
    }
}

/// A resource as far as a change is concerned.
#[derive(Debug, PartialEq)]
struct Resource {
    /// What the resource is (props) and what it gave (output), without
    /// Alchemy's `Symbol(…)` bookkeeping keys; raw bytes for a file that
    /// is not a resource record.
    content: Content,
    /// v2's `instanceId`: a new one means the resource was replaced.
    instance: Option<String>,
}

#[derive(Debug, PartialEq)]
enum Content {
    Json(Value, Value),
    Bytes(Vec<u8>),
}

/// Compares a stage's state files (paths relative to `.alchemy/`) before
/// and after a deploy.
pub fn from_state(
    before: &BTreeMap<String, Vec<u8>>,
    after: &BTreeMap<String, Vec<u8>>,
) -> Changes {
    let before = resources(before);
    let after = resources(after);
    let mut out = Changes::empty(ChangeSource::State);
    for (id, new) in &after {
        match before.get(id) {
            None => out.created.push(id.clone()),
            Some(old) => match (&old.instance, &new.instance) {
                (Some(a), Some(b)) if a != b => out.replaced.push(id.clone()),
                _ if old.content != new.content => out.updated.push(id.clone()),
                _ => {}
            },
        }
    }
    out.deleted = before
        .keys()
        .filter(|id| !after.contains_key(*id))
        .cloned()
        .collect();
    out.sort()
}

fn resources(files: &BTreeMap<String, Vec<u8>>) -> BTreeMap<String, Resource> {
    files
        .iter()
        .filter(|(path, _)| !path.ends_with("__stack_output__.json"))
        .filter_map(|(path, bytes)| resource(path, bytes))
        .collect()
}

fn resource(path: &str, bytes: &[u8]) -> Option<(String, Resource)> {
    let Ok(Value::Object(v)) = serde_json::from_slice::<Value>(bytes) else {
        let r = Resource {
            content: Content::Bytes(bytes.to_vec()),
            instance: None,
        };
        return Some((path.to_owned(), r));
    };
    let text = |k: &str| v.get(k).and_then(Value::as_str).map(str::to_owned);
    if text("kind").as_deref() == Some("alchemy::Scope") {
        return None;
    }
    let id = text("fqn")
        .or_else(|| text("id"))
        .map_or_else(|| path.to_owned(), |fqn| shown_id(path, &fqn));
    let output = v.get("output").or_else(|| v.get("attr"));
    let r = Resource {
        content: Content::Json(
            v.get("props").cloned().unwrap_or(Value::Null),
            output.map(without_symbols).unwrap_or(Value::Null),
        ),
        instance: text("instanceId"),
    };
    Some((id, r))
}

/// A v1 `fqn` repeats the app and stage (`my-app/pr-3/web`) that the
/// state path already starts with; the resource is `web`.
fn shown_id(path: &str, fqn: &str) -> String {
    let mut parts = path.splitn(3, '/');
    match (parts.next(), parts.next(), parts.next()) {
        (Some(app), Some(stage), Some(_)) => fqn
            .strip_prefix(&format!("{app}/{stage}/"))
            .unwrap_or(fqn)
            .to_owned(),
        _ => fqn.to_owned(),
    }
}

fn without_symbols(v: &Value) -> Value {
    match v {
        Value::Object(m) => Value::Object(
            m.iter()
                .filter(|(k, _)| !k.starts_with("Symbol("))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
        ),
        other => other.clone(),
    }
}

/// Reads Alchemy v2's plan out of `alchemy plan` (or `deploy`) output.
/// `None` when the output has no `Plan:` line: the plan did not run, or
/// this is not v2 output.
pub fn parse_plan(output: &str) -> Option<Changes> {
    let mut out = Changes::empty(ChangeSource::Plan);
    let mut seen_plan = false;
    let mut last_resource: Option<String> = None;
    for raw in output.lines() {
        let line = strip_ansi(raw);
        let line = strip_log_prefix(&line);
        if let Some(summary) = line.strip_prefix("Plan:") {
            if seen_plan {
                // A second plan (deploy prints it again): the first is it.
                break;
            }
            seen_plan = true;
            if summary.trim() == "no resources" {
                break;
            }
            continue;
        }
        if !seen_plan {
            continue;
        }
        let Some((id, action)) = resource_line(line) else {
            continue;
        };
        // A binding is listed under its resource as `[<resource>/<sid>]`.
        let binding = last_resource
            .as_deref()
            .is_some_and(|r| id.strip_prefix(r).is_some_and(|rest| rest.starts_with('/')));
        if binding || action == "unbind" {
            continue;
        }
        let list = match action {
            "create" => &mut out.created,
            "update" | "adopted" => &mut out.updated,
            "replace" => &mut out.replaced,
            "delete" | "orphaned" => &mut out.deleted,
            _ => &mut Vec::new(),
        };
        list.push(id.to_owned());
        last_resource = Some(id.to_owned());
    }
    seen_plan.then(|| out.sort())
}

/// `[id] action`, `[id] action (local)`, `[id] action (renamed from x)`.
fn resource_line(line: &str) -> Option<(&str, &str)> {
    let rest = line.strip_prefix('[')?;
    let (id, rest) = rest.split_once("] ")?;
    let action = rest.split(" (").next()?.trim_end();
    let known = matches!(
        action,
        "create" | "update" | "adopted" | "replace" | "delete" | "orphaned" | "noop" | "unbind"
    );
    (known && !id.is_empty()).then_some((id, action))
}

/// Removes terminal escape sequences (colours).
fn strip_ansi(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '\u{1b}' {
            out.push(c);
            continue;
        }
        if chars.next_if_eq(&'[').is_some() {
            // Parameters and intermediates, then one final byte.
            for c in chars.by_ref() {
                if ('@'..='~').contains(&c) {
                    break;
                }
            }
        } else {
            chars.next();
        }
    }
    out
}

/// Removes Effect's log prefix, `[21:39:56.658] INFO (#1): `, when present.
fn strip_log_prefix(line: &str) -> &str {
    let stamped = line.len() > 15
        && line.starts_with('[')
        && line.as_bytes().get(13) == Some(&b']')
        && line[1..13]
            .bytes()
            .enumerate()
            .all(|(i, b)| matches!((i, b), (2 | 5, b':') | (8, b'.')) || b.is_ascii_digit());
    if !stamped {
        return line;
    }
    match line[14..].split_once(": ") {
        Some((level, message)) if level.contains("(#") => message,
        _ => line,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn fixture(rel: &str) -> String {
        let p = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures")
            .join(rel);
        std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
    }

    /// The files of a state folder, as a snapshot holds them.
    fn state(rel: &str) -> BTreeMap<String, Vec<u8>> {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures")
            .join(rel);
        let mut out = BTreeMap::new();
        let mut dirs = vec![root.clone()];
        while let Some(d) = dirs.pop() {
            for e in std::fs::read_dir(&d).expect("fixture folder") {
                let p = e.expect("entry").path();
                if p.is_dir() {
                    dirs.push(p);
                } else {
                    let rel = p
                        .strip_prefix(&root)
                        .expect("inside")
                        .to_string_lossy()
                        .into_owned();
                    out.insert(rel, std::fs::read(&p).expect("fixture file"));
                }
            }
        }
        out
    }

    fn ids(v: &[String]) -> Vec<&str> {
        v.iter().map(String::as_str).collect()
    }

    /// Real output of `bun node_modules/.bin/alchemy plan --stage pr-2`
    /// (alchemy 2.0.0-beta.79, no terminal), with and without colours,
    /// and of the deploy that followed.
    #[test]
    fn v2_plan_output_is_read() {
        for f in [
            "alchemy-v2-plan/mixed.txt",
            "alchemy-v2-plan/mixed-color.txt",
            "alchemy-v2-plan/detailed.txt",
            "alchemy-v2-plan/deploy-mixed.txt",
        ] {
            let c = parse_plan(&fixture(f)).unwrap_or_else(|| panic!("{f}: no plan"));
            let want_created: &[&str] = if f.contains("detailed") {
                &["new-site"]
            } else {
                &["api/cache", "new-site"]
            };
            assert_eq!(ids(&c.created), want_created, "{f}");
            if f.contains("detailed") {
                // An older plan of the same app: one of each.
                assert_eq!(ids(&c.updated), ["site"], "{f}");
                assert_eq!(ids(&c.deleted), ["old-secret"], "{f}");
                continue;
            }
            assert_eq!(ids(&c.updated), ["api/worker", "site"], "{f}");
            assert_eq!(ids(&c.replaced), ["docs"], "{f}");
            assert_eq!(ids(&c.deleted), ["old-secret"], "{f}");
            assert_eq!(c.summary(), "+2 ~3 -1 (1 replaced)", "{f}");
            assert_eq!(c.source, ChangeSource::Plan);
        }
    }

    #[test]
    fn v2_plans_without_changes_and_destroy_plans() {
        let none = parse_plan(&fixture("alchemy-v2-plan/no-changes.txt")).expect("a plan");
        assert!(none.is_empty());
        assert_eq!(none.summary(), "+0 ~0 -0");
        let create = parse_plan(&fixture("alchemy-v2-plan/create.txt")).expect("a plan");
        assert_eq!(
            ids(&create.created),
            ["api/worker", "docs", "old-secret", "secret", "site"]
        );
        let destroy = parse_plan(&fixture("alchemy-v2-plan/destroy-dry-run.txt")).expect("a plan");
        assert_eq!(destroy.deleted.len(), 5);
        assert!(parse_plan("error: Cannot find module 'alchemy'\n").is_none());
        assert!(parse_plan("").is_none());
        assert_eq!(
            parse_plan("Plan: no resources\n[x] create\n").map(|c| c.total()),
            Some(0)
        );
    }

    #[test]
    fn plan_lines_in_other_shapes() {
        let out = "\
Plan: 1 to create, 1 to adopted, 1 to orphaned, 1 binding changes
[a] create (local)
[a/binding-1] update
[b] adopted (renamed from old-b)
[c] orphaned
[c/sid] unbind
[task] run [action]
[d] updated (5ms)
";
        let c = parse_plan(out).expect("a plan");
        assert_eq!(ids(&c.created), ["a"]);
        assert_eq!(ids(&c.updated), ["b"]);
        assert_eq!(ids(&c.deleted), ["c"]);
    }

    #[test]
    fn log_prefixes_and_colours_are_removed() {
        assert_eq!(
            strip_log_prefix("[21:39:56.658] INFO (#1): Plan: x"),
            "Plan: x"
        );
        assert_eq!(
            strip_log_prefix("[21:39:56.658] WARN (#12) span=a: [x] create"),
            "[x] create"
        );
        assert_eq!(strip_log_prefix("[docs] create"), "[docs] create");
        assert_eq!(strip_log_prefix("[21:39:56] nope: x"), "[21:39:56] nope: x");
        assert_eq!(strip_ansi("\u{1b}[38;2;1;2;3m[a]\u{1b}[0m b"), "[a] b");
        assert_eq!(strip_ansi("x\u{1b}"), "x");
    }

    /// Real v1 state (alchemy 0.94): a first deploy, then one that changes
    /// a file's content, replaces `web` (a new `gen`), adds `new` and
    /// drops `old`, then one that fails creating `broken`.
    #[test]
    fn v1_state_before_and_after() {
        let first = state("alchemy-v1-state/1-first-deploy");
        let changed = state("alchemy-v1-state/2-changed");
        let failed = state("alchemy-v1-state/3-failed");
        let c = from_state(&BTreeMap::new(), &first);
        assert_eq!(ids(&c.created), ["old", "page", "web"]);
        let c = from_state(&first, &changed);
        assert_eq!(ids(&c.created), ["new"]);
        assert_eq!(ids(&c.updated), ["page", "web"]);
        assert_eq!(ids(&c.deleted), ["old"]);
        assert!(c.replaced.is_empty());
        assert_eq!(c.source, ChangeSource::State);
        let c = from_state(&changed, &failed);
        assert_eq!(ids(&c.created), ["broken"]);
        assert_eq!(c.total(), 1, "the stage record is not a resource: {c:?}");
        assert!(from_state(&first, &first).is_empty());
        let c = from_state(&changed, &BTreeMap::new());
        assert_eq!(ids(&c.deleted), ["new", "page", "web"]);
    }

    /// Real v2 state: the deploy of the `mixed` plan above.
    #[test]
    fn v2_state_before_and_after_agrees_with_the_plan() {
        let before = state("alchemy-v2-state/before");
        let after = state("alchemy-v2-state/after");
        let c = from_state(&before, &after);
        let plan = parse_plan(&fixture("alchemy-v2-plan/deploy-mixed.txt")).expect("plan");
        assert_eq!(c.created, plan.created);
        assert_eq!(c.updated, plan.updated);
        assert_eq!(c.replaced, plan.replaced);
        assert_eq!(c.deleted, plan.deleted);
    }

    #[test]
    fn status_and_seq_alone_are_not_changes() {
        let file = |status: &str, seq: u32, extra: &str| {
            format!(
                r#"{{"kind":"x","id":"a","fqn":"app/pr-1/a","seq":{seq},"status":"{status}","props":{{"p":1}},"output":{{"Symbol(alchemy::ResourceSeq)":{seq},"url":"https://a.test/"{extra}}}}}"#
            )
            .into_bytes()
        };
        let one = |b: Vec<u8>| BTreeMap::from([("app/pr-1/a.json".to_owned(), b)]);
        let c = from_state(&one(file("created", 1, "")), &one(file("updated", 7, "")));
        assert!(c.is_empty(), "{c:?}");
        let c = from_state(
            &one(file("created", 1, "")),
            &one(file("created", 1, r#","port":2"#)),
        );
        assert_eq!(ids(&c.updated), ["a"]);
        let c = from_state(&one(b"not json".to_vec()), &one(b"still not json".to_vec()));
        assert_eq!(ids(&c.updated), ["app/pr-1/a.json"]);
    }
}
