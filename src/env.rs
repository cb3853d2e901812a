//! The process environment as alchemy-ci reads it: a map of text, checked
//! once at start-up. A leaf module: every layer may use it, it uses none.

use std::collections::BTreeMap;

/// The process environment, as text.
pub type Env = BTreeMap<String, String>;

/// A variable's value, when set and not empty.
pub fn var(env: &Env, k: &str) -> Option<String> {
    env.get(k).filter(|v| !v.is_empty()).cloned()
}

/// Whether to write colour to a stream: only a terminal gets it, and
/// never when `NO_COLOR` is set to anything (<https://no-color.org>).
pub fn colour(is_terminal: bool) -> bool {
    is_terminal && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
}
