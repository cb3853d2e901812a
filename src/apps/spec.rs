//! The `apps:` list: what each app of a monorepo is, read from the config
//! file's `apps:` key (a YAML value) or from an action input holding YAML
//! text, and checked in full before anything runs.
//!
//! ```yaml
//! apps:
//!   - name: api
//!     working-directory: apps/api
//!   - name: web
//!     working-directory: apps/web
//!     paths: [apps/web/**, packages/ui/**, "!**/*.md"]
//!     depends-on: [api]
//!     env:
//!       API_URL: { from-app: api, output: url }
//! ```
//!
//! Every mistake is one line naming the app (or its position when it has
//! no valid name), the key and what is wrong; unknown keys, unknown
//! dependencies and dependency cycles are refused.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use serde::Serialize;
use serde_norway::Value;

use super::glob::PathFilter;
use crate::alchemy::AlchemyCommand;
use crate::config::{EnvValue, RESERVED_ENV};
use crate::github::comment::NamedUrl;

/// The most apps one repository may list. The per-PR comment has a row
/// for every app within GitHub's 65,536 characters, which holds for this
/// many apps whatever their names, URLs and logs.
pub const MAX_APPS: usize = 100;

/// The most `paths` patterns one app may have.
pub const MAX_PATTERNS: usize = 256;

/// The largest `apps` input text accepted (the config file has its own,
/// larger bound).
pub const MAX_TEXT_BYTES: usize = 256 * 1024;

/// The most nested `[`/`{` or columns of indentation an `apps` text may
/// have: the YAML parser is quadratic in nesting, and the format needs 4.
const MAX_TEXT_NESTING: usize = 64;
const MAX_TEXT_COLUMNS: usize = 512;

/// The keys of one app, in the order the docs list them.
pub const APP_KEYS: &[&str] = &[
    "name",
    "working-directory",
    "paths",
    "alchemy-command",
    "profile",
    "env",
    "depends-on",
];

/// An app's name: the grammar of a stage name (`^[a-z0-9][-_a-z0-9]{0,62}$`),
/// because it becomes part of the app's state key and of file names.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(transparent)]
pub struct AppName(String);

impl AppName {
    pub fn parse(s: &str) -> Result<Self, String> {
        match crate::stage::Stage::parse_stored(s) {
            Ok(_) => Ok(Self(s.to_owned())),
            Err(_) => Err(format!(
                "{s:?} is not an app name: 1 to 63 characters of a-z, 0-9, '-' and '_', starting with a letter or digit"
            )),
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for AppName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Read back from a stored record: only a valid name is an app name.
impl<'de> serde::Deserialize<'de> for AppName {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Self::parse(&s).map_err(serde::de::Error::custom)
    }
}

/// A variable for one app's Alchemy run: a value alchemy-ci already knows
/// how to give (a literal, or one of its own environment variables), or a
/// URL of another app of the same pull request, known once that app is
/// deployed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum AppEnv {
    Value(EnvValue),
    FromApp {
        #[serde(rename = "from-app")]
        app: AppName,
        output: String,
    },
}

/// What `output: url` names: the app's primary (first) URL.
pub const PRIMARY_OUTPUT: &str = "url";

/// The URL `output` names among an app's URLs: `url` is the primary one,
/// any other name the URL of the resource (or output key) of that name.
pub fn output_url<'a>(output: &str, urls: &'a [NamedUrl]) -> Option<&'a str> {
    let found = if output == PRIMARY_OUTPUT {
        urls.first()
    } else {
        urls.iter().find(|u| u.resource == output)
    };
    found.map(|u| u.url.as_str())
}

/// One app, as configured.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub struct App {
    pub name: AppName,
    /// Relative to the repository root, `/`-separated, `.` for the root.
    pub working_directory: String,
    /// Which changed files touch the app.
    pub paths: PathFilter,
    /// Whether `paths` was written (else it is the working directory).
    pub paths_given: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub alchemy_command: Option<AlchemyCommand>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub profile: Option<String>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub env: BTreeMap<String, AppEnv>,
    /// As written; see [`Apps::dependencies`] for what ordering uses.
    pub depends_on: Vec<AppName>,
}

impl App {
    /// The apps whose URLs this app's `env` reads.
    pub fn reads_from(&self) -> impl Iterator<Item = &AppName> {
        self.env.values().filter_map(|v| match v {
            AppEnv::FromApp { app, .. } => Some(app),
            AppEnv::Value(_) => None,
        })
    }
}

/// Where an error is: an app by name, or by its position (from 1) when it
/// has no usable name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AppRef {
    Name(String),
    Position(usize),
}

impl fmt::Display for AppRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Name(n) => write!(f, "app {n}"),
            Self::Position(i) => write!(f, "app #{i}"),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SpecError {
    #[error("not valid YAML: {0}")]
    Yaml(String),
    #[error("longer than {MAX_TEXT_BYTES} bytes")]
    TooLarge,
    #[error("nested deeper than {MAX_TEXT_NESTING} brackets or indented more than {MAX_TEXT_COLUMNS} columns")]
    TooDeep,
    #[error("expected a list of apps, each a mapping with name and working-directory")]
    NotAList,
    #[error("the list of apps is empty; leave `apps` out for a single app")]
    Empty,
    #[error("{0} apps listed; at most {MAX_APPS} are supported")]
    TooMany(usize),
    #[error("{0}: expected a mapping of keys such as name and working-directory")]
    NotAMapping(AppRef),
    #[error("{0}: has no name")]
    NoName(AppRef),
    #[error("{at}: unknown key {key:?} (known keys: {})", APP_KEYS.join(", "))]
    UnknownKey { at: AppRef, key: String },
    #[error("{at}: {key}: {message}")]
    Invalid {
        at: AppRef,
        key: &'static str,
        message: String,
    },
    #[error("two apps are named {0}")]
    Duplicate(AppName),
    #[error("app {app}: {key}: unknown app {dependency:?} (apps: {known})")]
    UnknownApp {
        app: AppName,
        key: &'static str,
        dependency: String,
        known: String,
    },
    #[error("apps depend on each other in a cycle: {}", cycle.iter().map(AppName::as_str).collect::<Vec<_>>().join(" → "))]
    Cycle { cycle: Vec<AppName> },
}

/// The checked list of apps: names unique, every dependency known, no
/// cycle.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct Apps {
    apps: Vec<App>,
}

impl Apps {
    /// Reads the `apps` input's text.
    pub fn from_text(text: &str) -> Result<Self, SpecError> {
        if text.len() > MAX_TEXT_BYTES {
            return Err(SpecError::TooLarge);
        }
        if too_deep(text) {
            return Err(SpecError::TooDeep);
        }
        let value: Value =
            serde_norway::from_str(text).map_err(|e| SpecError::Yaml(e.to_string()))?;
        Self::from_value(&value)
    }

    /// Reads the config file's `apps:` value.
    pub fn from_value(value: &Value) -> Result<Self, SpecError> {
        let Value::Sequence(items) = value else {
            return Err(SpecError::NotAList);
        };
        if items.is_empty() {
            return Err(SpecError::Empty);
        }
        if items.len() > MAX_APPS {
            return Err(SpecError::TooMany(items.len()));
        }
        let apps = items
            .iter()
            .enumerate()
            .map(|(i, item)| parse_app(i + 1, item))
            .collect::<Result<Vec<_>, _>>()?;
        let apps = Self { apps };
        apps.check_graph()?;
        Ok(apps)
    }

    pub fn iter(&self) -> std::slice::Iter<'_, App> {
        self.apps.iter()
    }

    pub fn as_slice(&self) -> &[App] {
        &self.apps
    }

    pub fn len(&self) -> usize {
        self.apps.len()
    }

    pub fn is_empty(&self) -> bool {
        self.apps.is_empty()
    }

    pub fn get(&self, name: &AppName) -> Option<&App> {
        self.apps.iter().find(|a| &a.name == name)
    }

    /// The position of an app in the list.
    pub fn index_of(&self, name: &AppName) -> Option<usize> {
        self.apps.iter().position(|a| &a.name == name)
    }

    /// What an app must wait for: its `depends-on` and every app its `env`
    /// reads a URL from (which must be deployed first, so reading one
    /// implies depending on it).
    pub fn dependencies(&self, app: &App) -> BTreeSet<AppName> {
        app.depends_on
            .iter()
            .chain(app.reads_from())
            .cloned()
            .collect()
    }

    fn check_graph(&self) -> Result<(), SpecError> {
        let mut seen = BTreeSet::new();
        for app in &self.apps {
            if !seen.insert(&app.name) {
                return Err(SpecError::Duplicate(app.name.clone()));
            }
        }
        let known = || {
            self.apps
                .iter()
                .map(|a| a.name.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        };
        for app in &self.apps {
            let named = app
                .depends_on
                .iter()
                .map(|d| ("depends-on", d))
                .chain(app.reads_from().map(|d| ("env", d)));
            for (key, dep) in named {
                if !seen.contains(dep) {
                    return Err(SpecError::UnknownApp {
                        app: app.name.clone(),
                        key,
                        dependency: dep.to_string(),
                        known: known(),
                    });
                }
                if dep == &app.name {
                    return Err(SpecError::Cycle {
                        cycle: vec![app.name.clone(), app.name.clone()],
                    });
                }
            }
        }
        match self.find_cycle() {
            Some(cycle) => Err(SpecError::Cycle { cycle }),
            None => Ok(()),
        }
    }

    /// A dependency cycle, as the names along it with the first repeated
    /// at the end; searched from the apps in list order, so the same file
    /// always reports the same cycle.
    fn find_cycle(&self) -> Option<Vec<AppName>> {
        #[derive(Clone, Copy, PartialEq)]
        enum Mark {
            New,
            Open,
            Done,
        }
        let deps: Vec<Vec<usize>> = self
            .apps
            .iter()
            .map(|a| {
                self.dependencies(a)
                    .iter()
                    .filter_map(|d| self.index_of(d))
                    .collect()
            })
            .collect();
        let mut mark = vec![Mark::New; self.apps.len()];
        for root in 0..self.apps.len() {
            if mark[root] != Mark::New {
                continue;
            }
            // An explicit stack of (app, next dependency to visit): the
            // path from the root is the apps marked Open on it.
            let mut stack = vec![(root, 0usize)];
            mark[root] = Mark::Open;
            while let Some(&mut (node, ref mut next)) = stack.last_mut() {
                let Some(&dep) = deps[node].get(*next) else {
                    mark[node] = Mark::Done;
                    stack.pop();
                    continue;
                };
                *next += 1;
                match mark[dep] {
                    Mark::Done => {}
                    Mark::New => {
                        mark[dep] = Mark::Open;
                        stack.push((dep, 0));
                    }
                    Mark::Open => {
                        let from = stack.iter().position(|(n, _)| *n == dep).unwrap_or(0);
                        let mut cycle: Vec<AppName> = stack[from..]
                            .iter()
                            .map(|(n, _)| self.apps[*n].name.clone())
                            .collect();
                        cycle.push(self.apps[dep].name.clone());
                        return Some(cycle);
                    }
                }
            }
        }
        None
    }
}

impl<'a> IntoIterator for &'a Apps {
    type Item = &'a App;
    type IntoIter = std::slice::Iter<'a, App>;
    fn into_iter(self) -> Self::IntoIter {
        self.apps.iter()
    }
}

/// An app's keys by name, and the first unknown key, if any.
type Fields<'a> = (BTreeMap<&'static str, &'a Value>, Option<String>);

fn fields(map: &serde_norway::Mapping) -> Fields<'_> {
    let mut fields = BTreeMap::new();
    let mut unknown = None;
    for (k, v) in map {
        let key = scalar(k).unwrap_or_else(|| format!("{k:?}"));
        match APP_KEYS.iter().find(|known| **known == key) {
            Some(known) => {
                fields.insert(*known, v);
            }
            None => unknown = unknown.or(Some(key)),
        }
    }
    (fields, unknown)
}

fn parse_app(position: usize, item: &Value) -> Result<App, SpecError> {
    let Value::Mapping(map) = item else {
        return Err(SpecError::NotAMapping(AppRef::Position(position)));
    };
    let (fields, unknown) = fields(map);
    let name = match fields.get("name") {
        None | Some(Value::Null) => return Err(SpecError::NoName(AppRef::Position(position))),
        Some(v) => scalar(v)
            .ok_or_else(|| "expected a single value".to_owned())
            .and_then(|s| AppName::parse(&s))
            .map_err(|message| SpecError::Invalid {
                at: AppRef::Position(position),
                key: "name",
                message,
            })?,
    };
    let at = AppRef::Name(name.to_string());
    if let Some(key) = unknown {
        return Err(SpecError::UnknownKey { at, key });
    }
    let bad = |key: &'static str| {
        let at = at.clone();
        move |message: String| SpecError::Invalid { at, key, message }
    };
    let working_directory = match fields.get("working-directory") {
        Some(v) => text(v)
            .and_then(|s| working_directory(&s))
            .map_err(bad("working-directory"))?,
        None => {
            return Err(bad("working-directory")(
                "is required (the app's folder, relative to the repository root)".into(),
            ))
        }
    };
    let (paths, paths_given) = match fields.get("paths") {
        Some(v) => (paths(v).map_err(bad("paths"))?, true),
        None => (
            default_paths(&working_directory).map_err(bad("working-directory"))?,
            false,
        ),
    };
    let alchemy_command = fields
        .get("alchemy-command")
        .map(|v| alchemy_command(v).map_err(bad("alchemy-command")))
        .transpose()?;
    let profile = fields
        .get("profile")
        .map(|v| text(v).and_then(profile).map_err(bad("profile")))
        .transpose()?;
    let env = fields
        .get("env")
        .map(|v| env(v).map_err(bad("env")))
        .transpose()?
        .unwrap_or_default();
    let depends_on = fields
        .get("depends-on")
        .map(|v| depends_on(v).map_err(bad("depends-on")))
        .transpose()?
        .unwrap_or_default();
    Ok(App {
        name,
        working_directory,
        paths,
        paths_given,
        alchemy_command,
        profile,
        env,
        depends_on,
    })
}

fn scalar(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

fn text(v: &Value) -> Result<String, String> {
    scalar(v)
        .map(|s| s.trim().to_owned())
        .ok_or_else(|| "expected a single value".into())
}

fn list(v: &Value) -> Result<Vec<String>, String> {
    match v {
        Value::Sequence(items) => items.iter().map(text).collect(),
        other => text(other).map(|s| vec![s]),
    }
}

/// A folder inside the repository: relative, no `..`, normalised to
/// `a/b` (or `.` for the root), so two spellings of one folder compare
/// equal and nothing outside the checkout is ever entered.
fn working_directory(s: &str) -> Result<String, String> {
    if s.is_empty() {
        return Err("is empty; use . for the repository root".into());
    }
    if crate::text::has_unsafe(s) || s.contains(['\\', '\0']) {
        return Err(format!(
            "{s:?} has a character a folder name should not have"
        ));
    }
    if s.starts_with('/') || s.starts_with('~') {
        return Err(format!(
            "{s:?} is not relative to the repository root (write it without the leading {:?})",
            &s[..1]
        ));
    }
    let mut parts = Vec::new();
    for part in s.split('/') {
        match part {
            "" | "." => {}
            ".." => return Err(format!("{s:?} leaves the repository (no `..` folders)")),
            p => parts.push(p),
        }
    }
    Ok(if parts.is_empty() {
        ".".into()
    } else {
        parts.join("/")
    })
}

/// The working directory and everything under it.
fn default_paths(wd: &str) -> Result<PathFilter, String> {
    let pattern = if wd == "." {
        "**".to_owned()
    } else {
        format!("{}/**", super::glob::escape(wd))
    };
    PathFilter::new([pattern.as_str()]).map_err(|e| e.to_string())
}

fn paths(v: &Value) -> Result<PathFilter, String> {
    let patterns = list(v)?;
    if patterns.is_empty() {
        return Err("is empty; leave it out to use the working directory".into());
    }
    if patterns.len() > MAX_PATTERNS {
        return Err(format!(
            "{} patterns; at most {MAX_PATTERNS}",
            patterns.len()
        ));
    }
    PathFilter::new(&patterns).map_err(|e| e.to_string())
}

/// The same forms as the top-level `alchemy-command` input.
fn alchemy_command(v: &Value) -> Result<AlchemyCommand, String> {
    let words = match v {
        Value::Sequence(_) => list(v)?,
        other => AlchemyCommand::split_words(&text(other)?)?,
    };
    AlchemyCommand::from_words(&words)
}

/// The same grammar as the top-level `profile` input.
fn profile(v: String) -> Result<String, String> {
    let ok = v.chars().next().is_some_and(|c| c.is_ascii_alphanumeric())
        && v.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
    if ok {
        Ok(v)
    } else {
        Err(format!(
            "{v:?} is not a profile name (letters, digits, '.', '_', '-')"
        ))
    }
}

fn env_name_ok(k: &str) -> bool {
    k.chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// `NAME: value`, `NAME: {from: VAR, secret: bool}` (as in the top-level
/// `env:`) or `NAME: {from-app: APP, output: url}`.
fn env(v: &Value) -> Result<BTreeMap<String, AppEnv>, String> {
    let Value::Mapping(vars) = v else {
        return Err("expected a mapping of variable names to values".into());
    };
    let mut out = BTreeMap::new();
    for (k, v) in vars {
        let name = scalar(k).unwrap_or_default();
        if !env_name_ok(&name) {
            return Err(format!("{name:?} is not a variable name"));
        }
        if RESERVED_ENV.contains(&name.as_str()) {
            return Err(format!("{name} is set by alchemy-ci itself"));
        }
        let value = match v {
            Value::Mapping(m) => env_mapping(&name, m)?,
            other => AppEnv::Value(EnvValue::Plain(
                scalar(other).ok_or_else(|| format!("{name}: expected a single value"))?,
            )),
        };
        out.insert(name, value);
    }
    Ok(out)
}

fn env_mapping(name: &str, m: &serde_norway::Mapping) -> Result<AppEnv, String> {
    let get = |k: &str| m.get(Value::String(k.to_owned()));
    let only = |allowed: &[&str]| {
        m.keys()
            .all(|k| scalar(k).is_some_and(|k| allowed.contains(&k.as_str())))
    };
    if let Some(app) = get("from-app") {
        if !only(&["from-app", "output"]) {
            return Err(format!("{name}: only `from-app` and `output` are allowed"));
        }
        let app = text(app)
            .and_then(|a| AppName::parse(&a))
            .map_err(|e| format!("{name}: from-app: {e}"))?;
        let output = match get("output") {
            None => PRIMARY_OUTPUT.to_owned(),
            Some(o) => text(o).map_err(|e| format!("{name}: output: {e}"))?,
        };
        let output_ok = !output.is_empty()
            && output.chars().count() <= 200
            && !crate::text::has_unsafe(&output);
        if !output_ok {
            return Err(format!(
                "{name}: output: {output:?} is not a URL name (`url` for the app's primary URL, or a resource's name)"
            ));
        }
        return Ok(AppEnv::FromApp { app, output });
    }
    if !only(&["from", "secret"]) {
        return Err(format!(
            "{name}: expected {{from: VARIABLE, secret: true|false}} or {{from-app: APP, output: url}}"
        ));
    }
    let from = get("from")
        .and_then(scalar)
        .filter(|f| env_name_ok(f))
        .ok_or_else(|| format!("{name}: expected {{from: VARIABLE, secret: true|false}}"))?;
    let secret = match get("secret") {
        None => false,
        Some(Value::Bool(b)) => *b,
        Some(_) => return Err(format!("{name}: secret must be true or false")),
    };
    Ok(AppEnv::Value(EnvValue::FromEnv { from, secret }))
}

fn depends_on(v: &Value) -> Result<Vec<AppName>, String> {
    let mut out: Vec<AppName> = Vec::new();
    for name in list(v)? {
        let name = AppName::parse(&name)?;
        if !out.contains(&name) {
            out.push(name);
        }
    }
    Ok(out)
}

/// A bound on nesting checked before parsing, since the YAML parser's
/// time grows with the square of it: the most `[`/`{` open at once
/// (counting brackets inside quoted strings too, which only makes the
/// bound stricter) and the widest indentation, `- ` indicators included.
fn too_deep(text: &str) -> bool {
    let mut depth = 0usize;
    for line in text.lines() {
        let trimmed = line.trim_start_matches([' ', '-', '?']);
        if line.len() - trimmed.len() > MAX_TEXT_COLUMNS {
            return true;
        }
        for c in line.chars() {
            match c {
                '[' | '{' => depth += 1,
                ']' | '}' => depth = depth.saturating_sub(1),
                _ => {}
            }
            if depth > MAX_TEXT_NESTING {
                return true;
            }
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(yaml: &str) -> Result<Apps, SpecError> {
        Apps::from_text(yaml)
    }

    fn name(s: &str) -> AppName {
        AppName::parse(s).expect("valid name")
    }

    #[test]
    fn a_full_app_list_is_read() {
        let apps = parse(
            r#"
- name: api
  working-directory: ./apps/api/
  alchemy-command: v2
  profile: ci
- name: web
  working-directory: apps/web
  paths: [apps/web/**, packages/ui/**, "!**/*.md"]
  alchemy-command: ["bun", "deploy.ts", "{phase}", "{stage}"]
  depends-on: api
  env:
    PLAIN: hello
    NUMBER: 3
    TOKEN: { from: WEB_TOKEN, secret: true }
    API_URL: { from-app: api, output: url }
    ADMIN_URL: { from-app: api, output: admin }
- name: root
  working-directory: .
"#,
        )
        .expect("valid");
        let api = &apps.as_slice()[0];
        assert_eq!(api.working_directory, "apps/api");
        assert_eq!(api.paths.texts(), ["apps/api/**"]);
        assert!(!api.paths_given);
        assert_eq!(api.alchemy_command, Some(AlchemyCommand::V2));
        assert_eq!(api.profile.as_deref(), Some("ci"));
        let web = apps.get(&name("web")).expect("web");
        assert_eq!(web.depends_on, [name("api")]);
        assert_eq!(
            web.paths.texts(),
            ["apps/web/**", "packages/ui/**", "!**/*.md"]
        );
        assert!(matches!(
            web.alchemy_command,
            Some(AlchemyCommand::Custom(_))
        ));
        assert_eq!(
            web.env.get("API_URL"),
            Some(&AppEnv::FromApp {
                app: name("api"),
                output: "url".into()
            })
        );
        assert_eq!(
            web.env.get("TOKEN"),
            Some(&AppEnv::Value(EnvValue::FromEnv {
                from: "WEB_TOKEN".into(),
                secret: true
            }))
        );
        assert_eq!(
            web.env.get("NUMBER"),
            Some(&AppEnv::Value(EnvValue::Plain("3".into())))
        );
        let root = apps.get(&name("root")).expect("root");
        assert_eq!(root.working_directory, ".");
        assert_eq!(root.paths.texts(), ["**"]);
    }

    /// Every mistake is one line naming the app and the key.
    #[test]
    fn mistakes_are_named() {
        let table: &[(&str, &str)] = &[
            ("apps: x", "expected a list of apps"),
            ("[]", "the list of apps is empty"),
            ("- 3", "app #1: expected a mapping"),
            ("- working-directory: a", "app #1: has no name"),
            ("- {name: Api, working-directory: a}", "app #1: name: \"Api\" is not an app name"),
            ("- {name: [a], working-directory: a}", "app #1: name: expected a single value"),
            ("- {name: api, workdir: a}", "app api: unknown key \"workdir\" (known keys: name, working-directory, paths"),
            ("- {name: api}", "app api: working-directory: is required"),
            ("- {name: api, working-directory: ../x}", "app api: working-directory: \"../x\" leaves the repository"),
            ("- {name: api, working-directory: a/../../x}", "leaves the repository"),
            ("- {name: api, working-directory: /abs}", "app api: working-directory: \"/abs\" is not relative"),
            ("- {name: api, working-directory: ~/x}", "is not relative"),
            ("- {name: api, working-directory: \"\"}", "working-directory: is empty"),
            ("- {name: api, working-directory: \"a\\u202eb\"}", "has a character a folder name should not have"),
            ("- {name: api, working-directory: a, paths: []}", "app api: paths: is empty"),
            ("- {name: api, working-directory: a, paths: [\"/a/**\"]}", "app api: paths: \"/a/**\" starts with `/`"),
            ("- {name: api, working-directory: a, paths: [\"!a/**\"]}", "app api: paths: every pattern is a `!` negation"),
            ("- {name: api, working-directory: a, paths: [\"a[\"]}", "never closed"),
            ("- {name: api, working-directory: a, alchemy-command: \"bun x.ts\"}", "app api: alchemy-command: a custom command must contain {phase}"),
            ("- {name: api, working-directory: a, profile: \"-x\"}", "app api: profile: \"-x\" is not a profile name"),
            ("- {name: api, working-directory: a, env: [x]}", "app api: env: expected a mapping"),
            ("- {name: api, working-directory: a, env: {1X: a}}", "app api: env: \"1X\" is not a variable name"),
            ("- {name: api, working-directory: a, env: {STAGE: a}}", "app api: env: STAGE is set by alchemy-ci itself"),
            ("- {name: api, working-directory: a, env: {X: {from: Y, other: 1}}}", "app api: env: X: expected {from: VARIABLE"),
            ("- {name: api, working-directory: a, env: {X: {from: Y, secret: maybe}}}", "X: secret must be true or false"),
            ("- {name: api, working-directory: a, env: {X: {from-app: web, output: url, secret: true}}}", "X: only `from-app` and `output` are allowed"),
            ("- {name: api, working-directory: a, env: {X: {from-app: Web}}}", "X: from-app: \"Web\" is not an app name"),
            ("- {name: api, working-directory: a, env: {X: {from-app: b, output: \"\"}}}", "X: output: \"\" is not a URL name"),
            ("- {name: api, working-directory: a, env: {X: [1]}}", "X: expected a single value"),
            ("- {name: api, working-directory: a, depends-on: [Web]}", "app api: depends-on: \"Web\" is not an app name"),
            ("- {name: api, working-directory: a}\n- {name: api, working-directory: b}", "two apps are named api"),
            ("- {name: api, working-directory: a, depends-on: [apii]}\n- {name: web, working-directory: b}", "app api: depends-on: unknown app \"apii\" (apps: api, web)"),
            ("- {name: api, working-directory: a, env: {U: {from-app: nope}}}", "app api: env: unknown app \"nope\" (apps: api)"),
            ("- {name: api, working-directory: a, depends-on: api}", "apps depend on each other in a cycle: api → api"),
            ("- {name: a, working-directory: a, depends-on: b}\n- {name: b, working-directory: b, depends-on: c}\n- {name: c, working-directory: c, depends-on: a}", "cycle: a → b → c → a"),
            ("- {name: a, working-directory: a}\n- {name: b, working-directory: b, depends-on: c}\n- {name: c, working-directory: c, env: {X: {from-app: b}}}", "cycle: b → c → b"),
            ("- name: a\n  working-directory: [\n", "not valid YAML"),
        ];
        for (yaml, want) in table {
            let err = parse(yaml).expect_err(yaml).to_string();
            assert!(err.contains(want), "{yaml:?}\n  got: {err}\n  want: {want}");
            assert!(!err.contains('\n'), "{yaml:?}: more than one line: {err}");
        }
    }

    #[test]
    fn limits_are_checked_before_parsing() {
        let many: String = (0..=MAX_APPS)
            .map(|i| format!("- {{name: a{i}, working-directory: a{i}}}\n"))
            .collect();
        assert_eq!(parse(&many), Err(SpecError::TooMany(MAX_APPS + 1)));
        let deep = format!("- {}{}", "[".repeat(100_000), "]".repeat(100_000));
        assert_eq!(parse(&deep), Err(SpecError::TooDeep));
        let wide = format!("{}- a", " ".repeat(MAX_TEXT_COLUMNS + 1));
        assert_eq!(parse(&wide), Err(SpecError::TooDeep));
        let compact = format!("{}a", "- ".repeat(400));
        assert_eq!(parse(&compact), Err(SpecError::TooDeep));
        let big = "#".repeat(MAX_TEXT_BYTES + 1);
        assert_eq!(parse(&big), Err(SpecError::TooLarge));
    }

    #[test]
    fn default_paths_cover_the_folder_only() {
        let apps = parse("- {name: a, working-directory: \"apps/my[app]\"}").expect("valid");
        let a = &apps.as_slice()[0];
        assert!(a.paths.is_match("apps/my[app]/src/x.ts"));
        assert!(!a.paths.is_match("apps/mya/src/x.ts"));
        assert!(!a.paths.is_match("apps/my[app]"));
    }

    #[test]
    fn from_app_reads_imply_a_dependency() {
        let apps = parse(
            "- {name: api, working-directory: a}\n- {name: web, working-directory: w, env: {U: {from-app: api}}}",
        )
        .expect("valid");
        let web = apps.get(&name("web")).expect("web");
        assert!(web.depends_on.is_empty());
        assert_eq!(
            apps.dependencies(web).into_iter().collect::<Vec<_>>(),
            [name("api")]
        );
    }

    #[test]
    fn output_names_pick_a_url() {
        let urls = vec![
            NamedUrl {
                resource: "site".into(),
                url: "https://a.test/".into(),
            },
            NamedUrl {
                resource: "admin".into(),
                url: "https://admin.test/".into(),
            },
        ];
        assert_eq!(output_url("url", &urls), Some("https://a.test/"));
        assert_eq!(output_url("admin", &urls), Some("https://admin.test/"));
        assert_eq!(output_url("nope", &urls), None);
        assert_eq!(output_url("url", &[]), None);
    }

    #[test]
    fn the_config_value_form_is_the_same() {
        let v: Value = serde_norway::from_str("- {name: a, working-directory: a}").expect("yaml");
        assert_eq!(
            Apps::from_value(&v),
            parse("- {name: a, working-directory: a}")
        );
    }
}
