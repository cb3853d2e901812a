//! Stage names: the one value that reaches Alchemy's shell command line and
//! its file paths, so it is validated before anything else happens.
//!
//! Alchemy v1 builds a shell string from `--stage` and writes state under
//! `.alchemy/<app>/<stage>/`; a stage like `x;rm -rf ~` or `../x` would run a
//! command or escape the app. A [`Stage`] can only hold a name that matches
//! `^[a-z0-9][-_a-z0-9]{0,62}$`, and pull request stages are always the
//! canonical `<prefix><n>` with `n` a positive 32-bit integer.

use std::fmt;
use std::num::NonZeroU32;

use serde::{Deserialize, Serialize};

/// Longest stage name accepted; long enough for any prefix plus a u32.
pub const MAX_STAGE_LEN: usize = 63;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StageError {
    #[error("stage name is empty")]
    Empty,
    #[error("stage name {0:?} is longer than {MAX_STAGE_LEN} characters")]
    TooLong(String),
    #[error("stage name {0:?} must start with a lowercase letter or digit")]
    BadStart(String),
    #[error("stage name {name:?} contains {bad:?}; only a-z, 0-9, '-' and '_' are allowed")]
    BadChar { name: String, bad: char },
    #[error("stage name {name:?} looks like a pull request stage but {reason}")]
    BadPrNumber { name: String, reason: &'static str },
    #[error("stage prefix {0:?} must be 1 to 52 characters of a-z, 0-9, '-' and '_', starting with a letter or digit")]
    BadPrefix(String),
}

/// A pull request number: a positive integer that fits in 32 bits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(transparent)]
pub struct PrNumber(NonZeroU32);

impl PrNumber {
    pub fn new(n: u64) -> Option<Self> {
        u32::try_from(n).ok().and_then(NonZeroU32::new).map(Self)
    }

    pub fn get(self) -> u32 {
        self.0.get()
    }
}

impl fmt::Display for PrNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl<'de> Deserialize<'de> for PrNumber {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl serde::de::Visitor<'_> for Visitor {
            type Value = PrNumber;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a positive whole number that fits in 32 bits")
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<PrNumber, E> {
                PrNumber::new(v)
                    .ok_or_else(|| E::invalid_value(serde::de::Unexpected::Unsigned(v), &self))
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<PrNumber, E> {
                u64::try_from(v)
                    .ok()
                    .and_then(PrNumber::new)
                    .ok_or_else(|| E::invalid_value(serde::de::Unexpected::Signed(v), &self))
            }
        }
        d.deserialize_u64(Visitor)
    }
}

/// The prefix that turns a PR number into a stage (`pr-` by default).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct StagePrefix(String);

impl StagePrefix {
    pub fn parse(s: &str) -> Result<Self, StageError> {
        // Leave room for the ten digits of the largest u32.
        let fits = !s.is_empty() && s.len() <= MAX_STAGE_LEN - 11;
        if fits && check_grammar(s).is_ok() {
            Ok(Self(s.to_owned()))
        } else {
            Err(StageError::BadPrefix(s.to_owned()))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl Default for StagePrefix {
    fn default() -> Self {
        Self("pr-".to_owned())
    }
}

/// A validated stage name.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(transparent)]
pub struct Stage(String);

impl Stage {
    /// Parses a stage named by a user or an event. A name made of `prefix`
    /// and digits must be the canonical form of a PR stage, so `pr-0`,
    /// `pr-007` and `pr-99999999999` are refused rather than silently
    /// becoming stages no pull request maps to.
    pub fn parse(s: &str, prefix: &StagePrefix) -> Result<Self, StageError> {
        check_grammar(s)?;
        if let Some(digits) = s.strip_prefix(prefix.as_str()) {
            if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) {
                let reason = if digits.starts_with('0') {
                    "the number must be positive and have no leading zeros"
                } else if digits.parse::<u32>().is_err() {
                    "the number does not fit in 32 bits"
                } else {
                    ""
                };
                if !reason.is_empty() {
                    return Err(StageError::BadPrNumber {
                        name: s.to_owned(),
                        reason,
                    });
                }
            }
        }
        Ok(Self(s.to_owned()))
    }

    /// Parses a stage name found in a store, where the PR prefix in force
    /// when it was written is not known: the grammar alone applies.
    pub fn parse_stored(s: &str) -> Result<Self, StageError> {
        check_grammar(s)?;
        Ok(Self(s.to_owned()))
    }

    pub fn for_pr(prefix: &StagePrefix, number: PrNumber) -> Self {
        Self(format!("{}{}", prefix.as_str(), number))
    }

    /// The PR number this stage belongs to, if it is a PR stage under `prefix`.
    pub fn pr_number(&self, prefix: &StagePrefix) -> Option<PrNumber> {
        let digits = self.0.strip_prefix(prefix.as_str())?;
        if digits.starts_with('0') {
            return None;
        }
        digits.parse::<u64>().ok().and_then(PrNumber::new)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Stage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Stages read back from a state store were validated when written; the
/// grammar is checked again, since a store is only as trusted as whoever can
/// write to it.
impl<'de> Deserialize<'de> for Stage {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Self::parse_stored(&s).map_err(serde::de::Error::custom)
    }
}

impl AsRef<str> for Stage {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

/// The stage of a run started by hand, resolved as Alchemy resolves it:
/// `--stage` > `$STAGE` > `dev_$USER` > `dev_$USERNAME` > `dev_unknown`.
/// A user name is folded into the grammar (`Sam.O'Neil` → `dev_sam_o_neil`);
/// an explicit stage is not folded but checked. Returns the stage and, in
/// words, where it came from.
pub fn resolve_local(
    flag: Option<&str>,
    env_stage: Option<&str>,
    user: Option<&str>,
    username: Option<&str>,
    prefix: &StagePrefix,
) -> Result<(Stage, String), StageError> {
    let non_empty = |v: Option<&str>| {
        v.map(str::trim)
            .filter(|v| !v.is_empty())
            .map(str::to_owned)
    };
    if let Some(s) = non_empty(flag) {
        return Ok((Stage::parse(&s, prefix)?, "from --stage".into()));
    }
    if let Some(s) = non_empty(env_stage) {
        return Ok((Stage::parse(&s, prefix)?, "from $STAGE".into()));
    }
    let (name, from) = match (non_empty(user), non_empty(username)) {
        (Some(u), _) => (u, "$USER"),
        (None, Some(u)) => (u, "$USERNAME"),
        (None, None) => {
            return Ok((
                Stage("dev_unknown".into()),
                "no --stage, $STAGE or $USER".into(),
            ))
        }
    };
    let mut folded = String::from("dev_");
    for c in name.chars().flat_map(char::to_lowercase) {
        let c = if c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' {
            c
        } else {
            '_'
        };
        if !(c == '_' && folded.ends_with('_')) {
            folded.push(c);
        }
    }
    let mut folded = folded.trim_end_matches(['_', '-']).to_owned();
    if folded == "dev" {
        folded = "dev_unknown".into();
    }
    folded.truncate(MAX_STAGE_LEN);
    let stage = Stage::parse(&folded, prefix)?;
    Ok((stage, format!("from {from}={name:?}")))
}

fn check_grammar(s: &str) -> Result<(), StageError> {
    let Some(first) = s.chars().next() else {
        return Err(StageError::Empty);
    };
    if s.len() > MAX_STAGE_LEN {
        return Err(StageError::TooLong(s.to_owned()));
    }
    if !(first.is_ascii_lowercase() || first.is_ascii_digit()) {
        return Err(StageError::BadStart(s.to_owned()));
    }
    if let Some(bad) = s
        .chars()
        .find(|c| !(c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '-' || *c == '_'))
    {
        return Err(StageError::BadChar {
            name: s.to_owned(),
            bad,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn pr() -> StagePrefix {
        StagePrefix::default()
    }

    #[test]
    fn accepts_ordinary_names() {
        for ok in [
            "pr-1",
            "pr-4294967295",
            "prod",
            "staging",
            "a",
            "0",
            "dev_sam",
            "x-y_z",
        ] {
            assert_eq!(Stage::parse(ok, &pr()).map(|s| s.0), Ok(ok.to_owned()));
        }
    }

    #[test]
    fn refuses_names_that_reach_a_shell_or_a_path() {
        for bad in [
            "",
            "../x",
            "x;touch /tmp/p;",
            "$(id)",
            "Prod",
            "-x",
            "_x",
            "a b",
            "a/b",
            "a:b",
            "é",
            "pr-0",
            "pr-007",
            "pr-4294967296",
            &"a".repeat(64),
        ] {
            assert!(Stage::parse(bad, &pr()).is_err(), "{bad:?} was accepted");
        }
    }

    #[test]
    fn pr_stage_round_trips_its_number() {
        let n = PrNumber::new(42).expect("42 is a PR number");
        let stage = Stage::for_pr(&pr(), n);
        assert_eq!(stage.as_str(), "pr-42");
        assert_eq!(stage.pr_number(&pr()), Some(n));
        assert_eq!(
            Stage::parse("prod", &pr())
                .ok()
                .and_then(|s| s.pr_number(&pr())),
            None
        );
    }

    #[test]
    fn prefix_must_leave_room_for_the_number() {
        assert!(StagePrefix::parse("preview-").is_ok());
        assert!(StagePrefix::parse("").is_err());
        assert!(StagePrefix::parse("PR-").is_err());
        assert!(StagePrefix::parse(&"p".repeat(53)).is_err());
        let long = StagePrefix::parse(&"p".repeat(52)).expect("52 fits");
        let stage = Stage::for_pr(&long, PrNumber::new(u64::from(u32::MAX)).expect("max"));
        assert!(Stage::parse(stage.as_str(), &long).is_ok());
    }

    #[test]
    fn local_stages_follow_alchemys_order() {
        let p = pr();
        let got = |f, s, u, un| resolve_local(f, s, u, un, &p).map(|(st, _)| st.0);
        assert_eq!(
            got(Some("pr-3"), Some("x"), Some("sam"), None),
            Ok("pr-3".into())
        );
        assert_eq!(
            got(None, Some("staging"), Some("sam"), None),
            Ok("staging".into())
        );
        assert_eq!(
            got(None, None, Some("Sam.O'Neil"), None),
            Ok("dev_sam_o_neil".into())
        );
        assert_eq!(got(None, None, None, Some("ADMIN")), Ok("dev_admin".into()));
        assert_eq!(got(None, None, None, None), Ok("dev_unknown".into()));
        assert_eq!(
            got(None, None, Some("ßüß…"), None),
            Ok("dev_unknown".into())
        );
        assert!(got(Some("../x"), None, None, None).is_err());
        assert!(got(None, Some("x;rm -rf /"), None, None).is_err());
        let long = "a".repeat(200);
        assert!(got(None, None, Some(&long), None).is_ok_and(|s| s.len() == MAX_STAGE_LEN));
    }

    proptest! {
        #[test]
        fn any_user_name_folds_into_a_valid_stage(u in any::<String>()) {
            let (stage, _) = resolve_local(None, None, Some(&u), None, &pr()).expect("always valid");
            prop_assert!(in_grammar(stage.as_str()));
        }
    }

    fn in_grammar(s: &str) -> bool {
        let b = s.as_bytes();
        !b.is_empty()
            && b.len() <= MAX_STAGE_LEN
            && (b[0].is_ascii_lowercase() || b[0].is_ascii_digit())
            && b.iter()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-' || *c == b'_')
    }

    proptest! {
        #[test]
        fn nothing_outside_the_grammar_is_accepted(s in any::<String>()) {
            if let Ok(stage) = Stage::parse(&s, &pr()) {
                prop_assert!(in_grammar(stage.as_str()), "accepted {:?}", stage);
            }
        }

        #[test]
        fn near_misses_outside_the_grammar_are_refused(s in "[a-z0-9./;$` _A-Z-]{0,70}") {
            if let Ok(stage) = Stage::parse(&s, &pr()) {
                prop_assert!(in_grammar(stage.as_str()));
            }
            if !in_grammar(&s) {
                prop_assert!(Stage::parse(&s, &pr()).is_err());
            }
        }

        #[test]
        fn every_pr_number_makes_a_valid_stage(n in 1u32..) {
            let number = PrNumber::new(u64::from(n)).expect("positive");
            let stage = Stage::for_pr(&pr(), number);
            prop_assert_eq!(Stage::parse(stage.as_str(), &pr()), Ok(stage.clone()));
            prop_assert_eq!(stage.pr_number(&pr()), Some(number));
        }
    }
}
