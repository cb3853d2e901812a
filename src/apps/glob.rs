//! Path patterns for an app's `paths:`: which changed files of a pull
//! request touch the app.
//!
//! The grammar, matched against repository-relative, `/`-separated paths,
//! case-sensitively and against the whole path:
//!
//! | syntax | matches |
//! |---|---|
//! | `*` | any run of characters except `/` (`*.js`: `.js` files at the root) |
//! | `**` | any run of characters, `/` included (`**.js`: every `.js` file) |
//! | `**/` at the start or after `/` | no folder or any folders (`**/README.md` also matches `README.md`; `docs/**/*.md` also matches `docs/a.md`) |
//! | `?` | one character except `/` |
//! | `[abc]`, `[a-z0-9]` | one character of the set (never `/`); `[!a-z]` or `[^a-z]` one character outside it |
//! | `\c` | the character `c` itself (`\*`, `\[`, `\!`) |
//! | `!` first | a negation: a path this matches is no longer matched |
//!
//! A list of patterns is read like `.gitignore` or a workflow's `paths:`
//! filter: the **last** pattern that matches a path decides, so
//! `[apps/web/**, "!apps/web/**/*.md"]` matches every file under
//! `apps/web/` except Markdown files, and a later positive pattern can take
//! a path back. Where this differs from GitHub's `paths:` filters: `?` is
//! one character (GitHub documents it as "zero or one of the preceding
//! character"), and `+` has no special meaning.
//!
//! Matching runs a small automaton over the path (time proportional to the
//! path's length times the pattern's), after a check of the pattern's
//! literal prefix that rejects most paths at once: a PR with 3,000 changed
//! files and 50 apps is decided in milliseconds (docs/BENCHMARKS.md).

use std::fmt;

use serde::Serialize;

/// The longest pattern accepted.
pub const MAX_PATTERN_CHARS: usize = 1024;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PatternError {
    #[error("an empty pattern matches nothing")]
    Empty,
    #[error("{0:?} is longer than {MAX_PATTERN_CHARS} characters")]
    TooLong(String),
    #[error("{0:?} starts with `/`; patterns are relative to the repository root, write it without the leading `/`")]
    Absolute(String),
    #[error("{0:?} has a `.` or `..` folder; paths of changed files never do")]
    DotSegment(String),
    #[error("{0:?} opens a `[` set that is never closed (write `\\[` for the character itself)")]
    UnclosedSet(String),
    #[error("{0:?} ends with a lone `\\`")]
    TrailingEscape(String),
    #[error("{0:?} has a control or invisible formatting character")]
    Unsafe(String),
    #[error(
        "every pattern is a `!` negation, so nothing can match; start with the paths to include"
    )]
    OnlyNegations,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Tok {
    Lit(char),
    /// `?`
    One,
    /// `[...]`
    Set {
        negated: bool,
        ranges: Vec<(char, char)>,
    },
    /// `*`
    Star,
    /// `**` not followed by `/`, or not at a folder's start.
    Globstar,
    /// `**/` at the start or after `/`: "" or anything ending in `/`.
    Dirs,
}

impl Tok {
    fn takes_one(&self, c: char) -> bool {
        match self {
            Self::Lit(l) => *l == c,
            Self::One => c != '/',
            Self::Set { negated, ranges } => {
                c != '/' && ranges.iter().any(|(a, b)| (*a..=*b).contains(&c)) != *negated
            }
            _ => false,
        }
    }
}

/// One compiled pattern, without its `!`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Glob {
    text: String,
    /// The literal characters every match starts with.
    prefix: String,
    /// The tokens after `prefix`.
    rest: Vec<Tok>,
    /// The literal characters every match ends with, when `rest` has a
    /// wildcard before them (`.md` of `**/*.md`).
    suffix: String,
}

impl Glob {
    pub fn new(pattern: &str) -> Result<Self, PatternError> {
        check(pattern)?;
        let toks = tokenize(pattern)?;
        let literal = toks.iter().take_while(|t| matches!(t, Tok::Lit(_))).count();
        let prefix = toks[..literal]
            .iter()
            .filter_map(|t| match t {
                Tok::Lit(c) => Some(*c),
                _ => None,
            })
            .collect();
        let rest = toks[literal..].to_vec();
        let suffix_len = rest
            .iter()
            .rev()
            .take_while(|t| matches!(t, Tok::Lit(_)))
            .count();
        let suffix = if suffix_len == rest.len() {
            String::new()
        } else {
            rest[rest.len() - suffix_len..]
                .iter()
                .filter_map(|t| match t {
                    Tok::Lit(c) => Some(*c),
                    _ => None,
                })
                .collect()
        };
        Ok(Self {
            text: pattern.to_owned(),
            prefix,
            rest,
            suffix,
        })
    }

    /// The pattern as written.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    pub fn is_match(&self, path: &str) -> bool {
        let Some(tail) = path.strip_prefix(self.prefix.as_str()) else {
            return false;
        };
        match self.rest.as_slice() {
            [] => tail.is_empty(),
            [Tok::Globstar] => true,
            _ if !tail.ends_with(self.suffix.as_str()) => false,
            toks if 2 * toks.len() < 64 => run_bits(toks, tail),
            toks => run(toks, tail),
        }
    }
}

impl fmt::Display for Glob {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

fn check(pattern: &str) -> Result<(), PatternError> {
    let own = || pattern.to_owned();
    if pattern.is_empty() {
        return Err(PatternError::Empty);
    }
    if pattern.chars().count() > MAX_PATTERN_CHARS {
        return Err(PatternError::TooLong(own()));
    }
    if crate::text::has_unsafe(pattern) {
        return Err(PatternError::Unsafe(own()));
    }
    if pattern.starts_with('/') {
        return Err(PatternError::Absolute(own()));
    }
    if pattern.split('/').any(|s| s == "." || s == "..") {
        return Err(PatternError::DotSegment(own()));
    }
    Ok(())
}

fn tokenize(pattern: &str) -> Result<Vec<Tok>, PatternError> {
    let chars: Vec<char> = pattern.chars().collect();
    let mut toks = Vec::new();
    let mut i = 0;
    while let Some(&c) = chars.get(i) {
        i += 1;
        match c {
            '\\' => {
                let lit = chars
                    .get(i)
                    .ok_or_else(|| PatternError::TrailingEscape(pattern.to_owned()))?;
                toks.push(Tok::Lit(*lit));
                i += 1;
            }
            '*' if chars.get(i) == Some(&'*') => {
                while chars.get(i) == Some(&'*') {
                    i += 1;
                }
                let at_folder_start = matches!(toks.last(), None | Some(Tok::Lit('/')));
                if at_folder_start && chars.get(i) == Some(&'/') {
                    i += 1;
                    toks.push(Tok::Dirs);
                } else {
                    toks.push(Tok::Globstar);
                }
            }
            '*' => toks.push(Tok::Star),
            '?' => toks.push(Tok::One),
            '[' => {
                let (set, next) =
                    set(&chars, i).ok_or_else(|| PatternError::UnclosedSet(pattern.to_owned()))?;
                toks.push(set);
                i = next;
            }
            c => toks.push(Tok::Lit(c)),
        }
    }
    Ok(toks)
}

/// Parses a set whose `[` was just before `start`; returns it and the index
/// after its `]`. A `]` first in the set is a member, as in shell globs.
fn set(chars: &[char], start: usize) -> Option<(Tok, usize)> {
    let mut i = start;
    let negated = matches!(chars.get(i), Some('!' | '^'));
    if negated {
        i += 1;
    }
    let mut ranges = Vec::new();
    let mut first = true;
    loop {
        let mut c = *chars.get(i)?;
        if c == ']' && !first {
            return Some((Tok::Set { negated, ranges }, i + 1));
        }
        first = false;
        if c == '\\' {
            i += 1;
            c = *chars.get(i)?;
        }
        if chars.get(i + 1) == Some(&'-') && chars.get(i + 2).is_some_and(|e| *e != ']') {
            let end = *chars.get(i + 2)?;
            ranges.push((c.min(end), c.max(end)));
            i += 3;
        } else {
            ranges.push((c, c));
            i += 1;
        }
    }
}

/// Runs the tokens as a non-deterministic automaton over `path`. State `i`
/// is "before token `i`"; state `n` accepts; state `n + 1 + i` is "inside
/// the `**/` of token `i`", which has consumed something not yet ended by
/// a `/`.
fn run(toks: &[Tok], path: &str) -> bool {
    let n = toks.len();
    let mut now = vec![false; 2 * n + 1];
    let mut next = vec![false; 2 * n + 1];
    now[0] = true;
    close(toks, &mut now);
    for c in path.chars() {
        next.iter_mut().for_each(|s| *s = false);
        let mut alive = false;
        for (i, tok) in toks.iter().enumerate() {
            if now[i] {
                match tok {
                    Tok::Star if c != '/' => next[i] = true,
                    Tok::Star => {}
                    Tok::Globstar => next[i] = true,
                    Tok::Dirs => {
                        next[n + 1 + i] = true;
                        next[i + 1] |= c == '/';
                    }
                    t => next[i + 1] |= t.takes_one(c),
                }
            }
            if now[n + 1 + i] {
                next[n + 1 + i] = true;
                next[i + 1] |= c == '/';
            }
        }
        close(toks, &mut next);
        for s in &next {
            alive |= *s;
        }
        if !alive {
            return false;
        }
        std::mem::swap(&mut now, &mut next);
    }
    now[n]
}

/// [`run`] with the states as bits of one word, for patterns of up to 31
/// tokens (nearly all): no allocation, a few instructions per token.
fn run_bits(toks: &[Tok], path: &str) -> bool {
    let n = toks.len();
    let inside = |i: usize| 1u64 << (n + 1 + i);
    let close = |mut s: u64| {
        for (i, tok) in toks.iter().enumerate() {
            if s & (1 << i) != 0 && matches!(tok, Tok::Star | Tok::Globstar | Tok::Dirs) {
                s |= 1 << (i + 1);
            }
        }
        s
    };
    let mut now = close(1);
    for c in path.chars() {
        let mut next = 0u64;
        for (i, tok) in toks.iter().enumerate() {
            if now & (1 << i) != 0 {
                match tok {
                    Tok::Star if c != '/' => next |= 1 << i,
                    Tok::Star => {}
                    Tok::Globstar => next |= 1 << i,
                    Tok::Dirs => {
                        next |= inside(i);
                        if c == '/' {
                            next |= 1 << (i + 1);
                        }
                    }
                    t => {
                        if t.takes_one(c) {
                            next |= 1 << (i + 1);
                        }
                    }
                }
            }
            if now & inside(i) != 0 {
                next |= inside(i);
                if c == '/' {
                    next |= 1 << (i + 1);
                }
            }
        }
        now = close(next);
        if now == 0 {
            return false;
        }
    }
    now & (1 << n) != 0
}

/// Adds the states reachable without consuming a character: past every
/// `*`, `**` and `**/`, which may all match nothing.
fn close(toks: &[Tok], states: &mut [bool]) {
    for (i, tok) in toks.iter().enumerate() {
        if states[i] && matches!(tok, Tok::Star | Tok::Globstar | Tok::Dirs) {
            states[i + 1] = true;
        }
    }
}

/// One entry of a `paths:` list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pattern {
    pub negated: bool,
    pub glob: Glob,
}

/// An ordered list of patterns where the last match decides.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PathFilter {
    patterns: Vec<Pattern>,
}

impl PathFilter {
    /// Compiles `patterns` in order. At least one must be positive.
    pub fn new<I, S>(patterns: I) -> Result<Self, PatternError>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let patterns = patterns
            .into_iter()
            .map(|p| {
                let p = p.as_ref();
                match p.strip_prefix('!') {
                    Some(rest) => Glob::new(rest).map(|glob| Pattern {
                        negated: true,
                        glob,
                    }),
                    None => Glob::new(p).map(|glob| Pattern {
                        negated: false,
                        glob,
                    }),
                }
            })
            .collect::<Result<Vec<_>, _>>()?;
        if patterns.iter().all(|p| p.negated) {
            return Err(PatternError::OnlyNegations);
        }
        Ok(Self { patterns })
    }

    /// The positive pattern that decides `path` is matched, or `None` when
    /// no pattern matches or the last one that does is a negation.
    pub fn matched_by(&self, path: &str) -> Option<&Glob> {
        let last = self.patterns.iter().rev().find(|p| p.glob.is_match(path))?;
        (!last.negated).then_some(&last.glob)
    }

    pub fn is_match(&self, path: &str) -> bool {
        self.matched_by(path).is_some()
    }

    pub fn patterns(&self) -> &[Pattern] {
        &self.patterns
    }

    /// The patterns as written, `!` included.
    pub fn texts(&self) -> Vec<String> {
        self.patterns
            .iter()
            .map(|p| {
                let bang = if p.negated { "!" } else { "" };
                format!("{bang}{}", p.glob.as_str())
            })
            .collect()
    }
}

impl Serialize for PathFilter {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.texts().serialize(s)
    }
}

/// Escapes a path so that a pattern made of it matches exactly that path.
pub fn escape(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    for c in path.chars() {
        if matches!(c, '*' | '?' | '[' | ']' | '\\' | '!') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn glob(p: &str) -> Glob {
        Glob::new(p).unwrap_or_else(|e| panic!("{p:?}: {e}"))
    }

    /// GitHub's "Patterns to match file paths" table, and the edges of
    /// each wildcard.
    #[test]
    fn matches_githubs_documented_examples() {
        let table: &[(&str, &[&str], &[&str])] = &[
            ("**", &["all/the/files.md", "a"], &[]),
            ("*.js", &["app.js", "index.js"], &["js/index.js", "app.jsx"]),
            (
                "**.js",
                &["index.js", "js/index.js", "src/js/app.js"],
                &["a.ts"],
            ),
            (
                "docs/*",
                &["docs/README.md", "docs/file.txt"],
                &["docs/a/b.md", "docs"],
            ),
            (
                "docs/**",
                &["docs/README.md", "docs/mona/octocat.txt"],
                &["doc/x", "docs"],
            ),
            (
                "docs/**/*.md",
                &[
                    "docs/README.md",
                    "docs/mona/hello-world.md",
                    "docs/a/markdown/help.md",
                ],
                &["docs/a.txt", "x/docs/a.md"],
            ),
            (
                "**/docs/**",
                &[
                    "docs/hello.md",
                    "dir/docs/my-file.txt",
                    "space/docs/plan/space.doc",
                ],
                &["adocs/x", "docs"],
            ),
            (
                "**/README.md",
                &["README.md", "js/README.md"],
                &["README.mdx", "aREADME.md"],
            ),
            (
                "**/*src/**",
                &["a/src/app.js", "my-src/code/js/app.js", "src/x"],
                &["srcx/a"],
            ),
            (
                "**/*-post.md",
                &["my-post.md", "path/their-post.md"],
                &["post.md"],
            ),
            (
                "**/migrate-*.sql",
                &[
                    "migrate-10909.sql",
                    "db/migrate-v1.0.sql",
                    "db/sept/migrate-v1.sql",
                ],
                &["migrate.sql"],
            ),
            (
                "README*",
                &["README.md", "README", "README.doc"],
                &["x/README.md"],
            ),
            ("Octoc?t", &["Octocat", "Octocet"], &["Octoct", "Octoc/t"]),
            ("[CB]at", &["Cat", "Bat"], &["Rat", "at"]),
            ("[1-2]00", &["100", "200"], &["300"]),
            ("[!a-c]x", &["dx", "Ax"], &["ax", "/x"]),
            ("[^a-c]x", &["dx"], &["bx"]),
            ("[]a]", &["]", "a"], &["b"]),
            ("a/**/b", &["a/b", "a/x/b", "a/x/y/b"], &["ab", "a/xb"]),
            ("a/**b", &["a/b", "a/xb", "a/x/yb"], &["b"]),
            ("apps/api", &["apps/api"], &["apps/api/x", "apps/ap"]),
            ("\\*.md", &["*.md"], &["a.md"]),
            ("a\\[1\\]", &["a[1]"], &["a1"]),
            ("a/*/c", &["a/b/c"], &["a/c", "a/b/d/c"]),
            ("*", &["README.md"], &["a/b"]),
            ("***", &["a/b"], &[]),
        ];
        for (pattern, yes, no) in table {
            let g = glob(pattern);
            for p in *yes {
                assert!(g.is_match(p), "{pattern:?} should match {p:?}");
            }
            for p in *no {
                assert!(!g.is_match(p), "{pattern:?} should not match {p:?}");
            }
        }
    }

    #[test]
    fn last_matching_pattern_wins() {
        let f = PathFilter::new([
            "apps/web/**",
            "!apps/web/**/*.md",
            "apps/web/CHANGELOG.md",
            "packages/ui/**",
        ])
        .expect("valid");
        let decided = |p: &str| f.matched_by(p).map(|g| g.as_str().to_owned());
        assert_eq!(decided("apps/web/src/a.ts").as_deref(), Some("apps/web/**"));
        assert_eq!(decided("apps/web/docs/a.md"), None);
        assert_eq!(decided("apps/web/README.md"), None);
        assert_eq!(
            decided("apps/web/CHANGELOG.md").as_deref(),
            Some("apps/web/CHANGELOG.md")
        );
        assert_eq!(
            decided("packages/ui/x.tsx").as_deref(),
            Some("packages/ui/**")
        );
        assert_eq!(decided("apps/api/x.ts"), None);
        assert_eq!(
            f.texts(),
            [
                "apps/web/**",
                "!apps/web/**/*.md",
                "apps/web/CHANGELOG.md",
                "packages/ui/**"
            ]
        );
    }

    #[test]
    fn bad_patterns_are_refused_with_the_reason() {
        let table: &[(&str, PatternError)] = &[
            ("", PatternError::Empty),
            ("/apps/**", PatternError::Absolute("/apps/**".into())),
            ("apps/../x", PatternError::DotSegment("apps/../x".into())),
            ("./apps", PatternError::DotSegment("./apps".into())),
            ("a[bc", PatternError::UnclosedSet("a[bc".into())),
            ("a[", PatternError::UnclosedSet("a[".into())),
            ("a\\", PatternError::TrailingEscape("a\\".into())),
            ("a\u{202e}b", PatternError::Unsafe("a\u{202e}b".into())),
            ("a\nb", PatternError::Unsafe("a\nb".into())),
        ];
        for (p, want) in table {
            assert_eq!(Glob::new(p).as_ref().err(), Some(want), "{p:?}");
        }
        assert_eq!(
            Glob::new(&"a".repeat(MAX_PATTERN_CHARS + 1)).err(),
            Some(PatternError::TooLong("a".repeat(MAX_PATTERN_CHARS + 1)))
        );
        assert_eq!(
            PathFilter::new(["!a/**", "!b"]).err(),
            Some(PatternError::OnlyNegations)
        );
        assert_eq!(PathFilter::new(["!"]).err(), Some(PatternError::Empty));
    }

    /// A backtracking matcher takes time exponential in the stars here
    /// (2^30 tries), which would hang this test; the automaton does not.
    #[test]
    fn nested_stars_stay_linear() {
        let g = glob(&"*a".repeat(30));
        assert!(!g.is_match(&("a".repeat(29) + "b")));
        assert!(g.is_match(&"a".repeat(30)));
        let long = glob(&"*a".repeat(40));
        assert!(!long.is_match(&("a".repeat(200) + "b")));
    }

    /// The meaning of each token, written as plainly as possible:
    /// backtracking over every split. Exponential, fine for short inputs.
    fn reference(toks: &[Tok], s: &[char]) -> bool {
        let Some((t, rest)) = toks.split_first() else {
            return s.is_empty();
        };
        let no_slash_upto = |k: usize| !s[..k].contains(&'/');
        match t {
            Tok::Star => (0..=s.len()).any(|k| no_slash_upto(k) && reference(rest, &s[k..])),
            Tok::Globstar => (0..=s.len()).any(|k| reference(rest, &s[k..])),
            Tok::Dirs => {
                reference(rest, s)
                    || (1..=s.len()).any(|k| s[k - 1] == '/' && reference(rest, &s[k..]))
            }
            one => s.first().is_some_and(|c| one.takes_one(*c)) && reference(rest, &s[1..]),
        }
    }

    proptest! {
        #[test]
        fn automaton_agrees_with_the_reference(
            pattern in "[ab*?][ab/*?]{0,7}|[ab/]{0,2}\\*\\*/[ab/*]{0,4}|\\[!?a\\][ab/*]{0,4}",
            path in "[ab/]{0,9}",
        ) {
            prop_assume!(Glob::new(&pattern).is_ok());
            let g = Glob::new(&pattern).expect("checked");
            let toks = tokenize(&pattern).expect("checked");
            let chars: Vec<char> = path.chars().collect();
            prop_assert_eq!(g.is_match(&path), reference(&toks, &chars), "{} vs {}", pattern, path);
        }

        #[test]
        fn long_patterns_agree_with_the_reference(
            pattern in "[ab*?][ab/*?]{29,39}",
            path in "[ab/]{0,12}",
        ) {
            prop_assume!(Glob::new(&pattern).is_ok());
            let toks = tokenize(&pattern).expect("checked");
            let chars: Vec<char> = path.chars().collect();
            prop_assert_eq!(run(&toks, &path), reference(&toks, &chars));
            if 2 * toks.len() < 64 {
                prop_assert_eq!(run_bits(&toks, &path), reference(&toks, &chars));
            }
        }

        #[test]
        fn an_escaped_path_matches_itself_only(
            path in "[a-z*?\\[\\]!\\\\/ ]{1,20}",
            other in "[a-z*?/]{1,20}",
        ) {
            prop_assume!(!path.starts_with('/') && !path.split('/').any(|s| s == "." || s == ".."));
            let g = Glob::new(&escape(&path)).expect("escaped paths are valid patterns");
            prop_assert!(g.is_match(&path));
            prop_assert_eq!(g.is_match(&other), other == path);
        }
    }
}
