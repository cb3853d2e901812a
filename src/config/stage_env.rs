//! What the config file says per stage: `profiles` (which Alchemy profile)
//! and `env` (variables for Alchemy, literal or taken from alchemy-ci's own
//! environment at run time), both keyed by stage patterns.

use std::collections::BTreeMap;

use serde::Serialize;

use super::value::{scalar, Value};
use super::Config;

/// A variable for Alchemy: a literal, or a value taken from alchemy-ci's own
/// environment at run time (so secrets never sit in the file or the plan).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum EnvValue {
    Plain(String),
    FromEnv {
        from: String,
        secret: bool,
    },
    /// Another app's URL (`apps:` only), not known until that app is
    /// deployed. A run puts the URL in its place before the app's plan is
    /// carried out; a plan that still holds one shows where it comes from.
    FromApp {
        #[serde(rename = "from-app")]
        app: String,
        output: String,
    },
}

/// One `env:` entry: a stage pattern and its variables.
pub type StageEnv = (String, BTreeMap<String, EnvValue>);

/// Variables alchemy-ci sets itself; a config file may not override them.
pub const RESERVED_ENV: &[&str] = &[
    "STAGE",
    "ALCHEMY_STAGE",
    "PULL_REQUEST",
    "ALCHEMY_CI_STATE_STORE_CHECK",
    "PATH",
];

/// Turns a plan's variables into values, taking `from` variables out of
/// `lookup` (alchemy-ci's own environment). A missing one is an error that
/// names it.
pub fn resolve_env(
    env: &BTreeMap<String, EnvValue>,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<BTreeMap<String, String>, String> {
    env.iter()
        .map(|(k, v)| match v {
            EnvValue::Plain(p) => Ok((k.clone(), p.clone())),
            EnvValue::FromEnv { from, .. } => {
                lookup(from).map(|val| (k.clone(), val)).ok_or_else(|| {
                    format!("{k} is to come from the environment variable {from}, which is not set")
                })
            }
            EnvValue::FromApp { app, output } => Err(format!(
                "{k} is to come from app {app}'s {output}, which is not known yet"
            )),
        })
        .collect()
}

/// An Alchemy profile name: letters, digits, `.`, `_`, `-`.
pub fn profile_name(v: String) -> Result<String, String> {
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

/// `profiles:` stage pattern → profile, in file order (the first matching
/// pattern wins).
pub fn profiles(v: Value<'_>) -> Result<Vec<(String, String)>, String> {
    v.mapping("stage patterns to profiles")?
        .iter()
        .map(|(k, v)| match (scalar(k), scalar(v)) {
            (Some(k), Some(v)) => Ok((k, profile_name(v)?)),
            _ => Err("expected stage pattern: profile pairs".into()),
        })
        .collect()
}

fn env_name_ok(k: &str) -> bool {
    k.chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// `env:` stage pattern → { NAME: value | {from: VAR, secret: bool} }.
pub fn stage_env(v: Value<'_>) -> Result<Vec<StageEnv>, String> {
    let mut out = Vec::new();
    for (pattern, vars) in v.mapping("stage patterns to variables")? {
        let pattern = scalar(pattern).ok_or("stage patterns must be strings")?;
        let serde_norway::Value::Mapping(vars) = vars else {
            return Err(format!(
                "{pattern}: expected a mapping of variable names to values"
            ));
        };
        let mut map = BTreeMap::new();
        for (k, v) in vars {
            let name = scalar(k).unwrap_or_default();
            if !env_name_ok(&name) {
                return Err(format!("{pattern}: {name:?} is not a variable name"));
            }
            if RESERVED_ENV.contains(&name.as_str()) {
                return Err(format!("{pattern}: {name} is set by alchemy-ci itself"));
            }
            let value = env_value(v).map_err(|m| format!("{pattern}: {name}: {m}"))?;
            map.insert(name, value);
        }
        out.push((pattern, map));
    }
    Ok(out)
}

fn env_value(v: &serde_norway::Value) -> Result<EnvValue, String> {
    let serde_norway::Value::Mapping(m) = v else {
        return scalar(v)
            .map(EnvValue::Plain)
            .ok_or_else(|| "expected a single value".into());
    };
    let get = |k: &str| m.get(serde_norway::Value::String(k.to_owned()));
    let from = get("from")
        .and_then(scalar)
        .filter(|f| env_name_ok(f))
        .ok_or("expected {from: VARIABLE, secret: true|false}")?;
    let secret = match get("secret") {
        None => false,
        Some(serde_norway::Value::Bool(b)) => *b,
        Some(_) => return Err("secret must be true or false".into()),
    };
    if m.len() > usize::from(get("secret").is_some()) + 1 {
        return Err("only `from` and `secret` are allowed".into());
    }
    Ok(EnvValue::FromEnv { from, secret })
}

/// Whether a stage matches a pattern where `*` stands for any run of
/// characters.
pub fn stage_matches(pattern: &str, stage: &str) -> bool {
    let parts: Vec<&str> = pattern.split('*').collect();
    let [first, middle @ .., last] = parts.as_slice() else {
        return pattern == stage;
    };
    let Some(mut rest) = stage.strip_prefix(first) else {
        return false;
    };
    for part in middle {
        match rest.find(part) {
            Some(i) => rest = &rest[i + part.len()..],
            None => return false,
        }
    }
    rest.len() >= last.len() && rest.ends_with(last)
}

impl Config {
    /// The profile for a stage: the `profile` input, else the first
    /// matching `profiles` entry (exact names before patterns).
    pub fn profile_for(&self, stage: &str) -> Option<&str> {
        if let Some(p) = &self.profile {
            return Some(p);
        }
        self.profiles
            .iter()
            .find(|(pat, _)| pat == stage)
            .or_else(|| {
                self.profiles
                    .iter()
                    .find(|(pat, _)| stage_matches(pat, stage))
            })
            .map(|(_, p)| p.as_str())
    }

    /// The extra environment for a stage: every matching `env` entry, in
    /// file order, later entries overriding earlier ones.
    pub fn env_for(&self, stage: &str) -> BTreeMap<String, EnvValue> {
        let mut out = BTreeMap::new();
        for (pat, vars) in &self.stage_env {
            if stage_matches(pat, stage) {
                out.extend(vars.clone());
            }
        }
        out
    }
}
