//! The crate's layers, checked: `cli` parses and dispatches, `commands`
//! carry out a subcommand, `execute` runs a plan, the core (events,
//! configuration, the plan, stores, GitHub, Alchemy) knows none of them,
//! and `env` knows nothing of the crate. A module may use its own layer
//! and those below it; an import from a layer above fails this test.

use std::collections::BTreeSet;
use std::path::Path;

/// Top to bottom. Every top-level module of `src/` must be in one.
const LAYERS: &[(&str, &[&str])] = &[
    ("cli", &["main", "cli"]),
    ("commands", &["commands"]),
    ("execute", &["execute"]),
    (
        "core",
        &[
            "actions",
            "alchemy",
            "apps",
            "cancel",
            "checkout",
            "cleanup",
            "config",
            "event",
            "github",
            "input_file",
            "plan",
            "pr_command",
            "record",
            "render",
            "stage",
            "state",
            "status_check",
            "text",
            "time",
            "ttl",
        ],
    ),
    ("leaf", &["env"]),
];

fn layer_of(module: &str) -> Option<usize> {
    LAYERS.iter().position(|(_, mods)| mods.contains(&module))
}

/// The top-level module a file under `src/` belongs to (`lib` for lib.rs).
fn module_of(rel: &Path) -> String {
    let first = rel
        .components()
        .next()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .unwrap_or_default();
    first.trim_end_matches(".rs").to_owned()
}

/// The crate's top-level modules a source text refers to: `crate::x`,
/// `alchemy_ci::x`, and each item of `use crate::{x, y::z}`.
pub fn referenced_modules(text: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for root in ["crate::", "alchemy_ci::"] {
        let mut rest = text;
        while let Some(at) = rest.find(root) {
            // `some_crate::` is not `crate::`.
            let before = rest[..at].chars().next_back();
            rest = &rest[at + root.len()..];
            if before.is_some_and(|c| c.is_alphanumeric() || c == '_') {
                continue;
            }
            if let Some(group) = rest.strip_prefix('{') {
                let end = matching_brace(group);
                for item in split_top_level(&group[..end]) {
                    out.insert(ident(item.trim()));
                }
            } else {
                out.insert(ident(rest));
            }
        }
    }
    out.retain(|m| !m.is_empty() && m != "self");
    out
}

fn ident(s: &str) -> String {
    s.chars()
        .take_while(|c| c.is_alphanumeric() || *c == '_')
        .collect()
}

fn matching_brace(s: &str) -> usize {
    let mut depth = 0usize;
    for (i, c) in s.char_indices() {
        match c {
            '{' => depth += 1,
            '}' if depth == 0 => return i,
            '}' => depth -= 1,
            _ => {}
        }
    }
    s.len()
}

fn split_top_level(s: &str) -> Vec<&str> {
    let mut parts = Vec::new();
    let (mut depth, mut start) = (0usize, 0);
    for (i, c) in s.char_indices() {
        match c {
            '{' => depth += 1,
            '}' => depth = depth.saturating_sub(1),
            ',' if depth == 0 => {
                parts.push(&s[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&s[start..]);
    parts
}

/// Every import from a higher layer under `src`, as `file: module`.
pub fn upward_imports(src: &Path) -> Vec<String> {
    let mut found = Vec::new();
    let mut files = Vec::new();
    collect_rs(src, &mut files);
    for file in files {
        let rel = file.strip_prefix(src).unwrap_or(&file);
        let module = module_of(rel);
        if module == "lib" {
            continue;
        }
        let Some(own) = layer_of(&module) else {
            found.push(format!(
                "{}: module `{module}` is in no layer",
                rel.display()
            ));
            continue;
        };
        let text = std::fs::read_to_string(&file).unwrap_or_default();
        for used in referenced_modules(&text) {
            match layer_of(&used) {
                Some(l) if l < own => found.push(format!(
                    "{}: `{module}` ({}) uses `{used}` ({})",
                    rel.display(),
                    LAYERS[own].0,
                    LAYERS[l].0
                )),
                Some(_) => {}
                None => found.push(format!("{}: `{used}` is in no layer", rel.display())),
            }
        }
    }
    found
}

fn collect_rs(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            collect_rs(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

#[test]
fn no_module_imports_from_a_layer_above_it() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let found = upward_imports(&src);
    assert!(
        found.is_empty(),
        "imports against the layers:\n{}",
        found.join("\n")
    );
}

/// The check itself finds what it is for: the two imports that once tied
/// the layers together (`Env` from `commands` in `actions`, the error type
/// from `cli` in `commands`).
#[test]
fn the_layer_check_finds_an_upward_import() {
    let dir = tempfile::tempdir().expect("tmp");
    let src = dir.path();
    std::fs::create_dir_all(src.join("commands")).expect("mkdir");
    std::fs::write(src.join("actions.rs"), "use crate::commands::{var, Env};\n").expect("w");
    std::fs::write(
        src.join("commands/run.rs"),
        "use crate::{cli::{CliError, RunArgs}, plan};\nuse some_crate::x;\n",
    )
    .expect("w");
    std::fs::write(src.join("env.rs"), "// nothing\n").expect("w");
    let found = upward_imports(src);
    assert_eq!(found.len(), 2, "{found:?}");
    assert!(found
        .iter()
        .any(|f| f.contains("`actions` (core) uses `commands`")));
    assert!(found
        .iter()
        .any(|f| f.contains("`commands` (commands) uses `cli`")));
}
