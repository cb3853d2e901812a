//! The config file: found at one of two places (or named by `config`),
//! read as a regular file of bounded size and nesting, and checked key by
//! key against the input table: unknown keys are an error, and so are the
//! inputs that may not come from a file a pull request can change.

use std::path::{Path, PathBuf};

use super::defs::{self, Input, SetBy};
use super::ConfigError;

/// A config file is a few hundred bytes; this leaves room and stops
/// `/dev/zero`-like inputs early.
pub const MAX_CONFIG_BYTES: u64 = 1024 * 1024;

/// The most flow collections (`[…]`, `{…}`) a config file may nest (its
/// own format needs 2).
pub const MAX_NESTING: usize = 64;

/// The widest indentation a config file may have. Block nesting costs at
/// least a column per level, and within the size cap a file can only nest
/// so deep by indentation alone, except on one line (`- - - - x`).
pub const MAX_COLUMNS: usize = 512;

/// Config file locations, relative to the repository root, tried in order.
pub const CONFIG_FILES: &[&str] = &["alchemy-ci.yml", ".github/alchemy-ci.yml"];

pub fn find(root: &Path) -> Result<Option<PathBuf>, ConfigError> {
    // Anything at the path counts, so a FIFO or a folder of that name is
    // refused when read rather than silently skipped.
    let found: Vec<PathBuf> = CONFIG_FILES
        .iter()
        .map(|f| root.join(f))
        .filter(|p| std::fs::symlink_metadata(p).is_ok())
        .collect();
    match found.as_slice() {
        [] => Ok(None),
        [one] => Ok(Some(one.clone())),
        [first, second, ..] => Err(ConfigError::TwoFiles {
            first: first.clone(),
            second: second.clone(),
        }),
    }
}

/// The file's keys with their values, in file order.
pub fn read(path: &Path) -> Result<Vec<(&'static Input, serde_norway::Value)>, ConfigError> {
    let map = match parse(path)? {
        serde_norway::Value::Null => return Ok(Vec::new()),
        serde_norway::Value::Mapping(m) => m,
        _ => return Err(ConfigError::NotMapping { path: path.into() }),
    };
    let mut out = Vec::new();
    for (k, v) in map {
        let key = match &k {
            serde_norway::Value::String(s) => s.clone(),
            other => serde_norway::to_string(other)
                .unwrap_or_default()
                .trim()
                .to_owned(),
        };
        out.push((file_key(path, &key)?, v));
    }
    Ok(out)
}

/// The input a file key names, if the file may set it.
fn file_key(path: &Path, key: &str) -> Result<&'static Input, ConfigError> {
    match defs::input(key) {
        Some(i) if i.set_by.file() => Ok(i),
        Some(i) if i.set_by == SetBy::Trusted => Err(ConfigError::TrustedKey {
            path: path.into(),
            key: i.name.to_owned(),
        }),
        Some(i) => Err(ConfigError::NotInFile {
            path: path.into(),
            key: i.name.to_owned(),
        }),
        None => Err(ConfigError::UnknownKey {
            path: path.into(),
            key: key.to_owned(),
            known: file_keys().collect::<Vec<_>>().join(", "),
        }),
    }
}

/// Every key a config file may hold, in table order.
pub fn file_keys() -> impl Iterator<Item = &'static str> {
    defs::INPUTS
        .iter()
        .filter(|i| i.set_by.file())
        .map(|i| i.name)
}

/// The file as YAML, read within its bounds.
fn parse(path: &Path) -> Result<serde_norway::Value, ConfigError> {
    use crate::input_file::ReadError;
    let bytes = match crate::input_file::read(path, MAX_CONFIG_BYTES) {
        Ok(b) => b,
        Err(ReadError::Io(source)) => {
            return Err(ConfigError::Read {
                path: path.into(),
                source,
            })
        }
        Err(source) => {
            return Err(ConfigError::File {
                path: path.into(),
                source,
            })
        }
    };
    let text = String::from_utf8(bytes).map_err(|_| ConfigError::NotUtf8 { path: path.into() })?;
    // The YAML parser takes time quadratic in the nesting depth (a
    // 100,000-level file took 34 s): bound it before parsing.
    let n = nesting(&text);
    if n.flow > MAX_NESTING || n.columns > MAX_COLUMNS {
        return Err(ConfigError::TooDeep { path: path.into() });
    }
    serde_norway::from_str(&text).map_err(|e| ConfigError::Yaml {
        path: path.into(),
        message: e.to_string(),
    })
}

/// How deeply a YAML text nests, in one pass and without parsing: the
/// most flow collections open at once (`[`, `{` where a value starts,
/// outside quotes and comments), and the widest indentation of a line,
/// compact `- ` / `? ` indicators included (every block level takes at
/// least a column). A bound for refusing absurd files, not a syntax check.
fn nesting(text: &str) -> Nesting {
    let mut n = Nesting::default();
    let mut flow = 0usize;
    let mut quote: Option<char> = None;
    for line in text.lines() {
        if flow == 0 && quote.is_none() {
            n.columns = n.columns.max(block_column(line));
        }
        // What came before, for telling a flow opener or a quote from a
        // character inside a plain scalar.
        let mut prev = ' ';
        let mut value_start = true;
        let mut chars = line.chars().peekable();
        while let Some(c) = chars.next() {
            match quote {
                Some('"') if c == '\\' => {
                    chars.next();
                }
                Some(q) if c == q => {
                    // `''` inside single quotes is an escaped quote.
                    if q == '\'' && chars.peek() == Some(&'\'') {
                        chars.next();
                    } else {
                        quote = None;
                    }
                }
                Some(_) => {}
                None => match c {
                    '#' if prev == ' ' || prev == '\t' => break,
                    '\'' | '"' if value_start => quote = Some(c),
                    '[' | '{' if value_start || flow > 0 => {
                        flow += 1;
                        n.flow = n.flow.max(flow);
                    }
                    ']' | '}' if flow > 0 => flow -= 1,
                    _ => {}
                },
            }
            if quote.is_none() && !c.is_whitespace() {
                value_start = matches!(c, ':' | '-' | '?' | '[' | '{' | ',');
            }
            prev = c;
        }
    }
    n
}

#[derive(Debug, Default, PartialEq, Eq)]
struct Nesting {
    flow: usize,
    columns: usize,
}

/// The column where a line's content starts, after its indentation and any
/// compact `- ` / `? ` indicators.
fn block_column(line: &str) -> usize {
    let mut col = 0;
    let mut rest = line;
    loop {
        let trimmed = rest.trim_start_matches(' ');
        col += rest.len() - trimmed.len();
        match trimmed
            .strip_prefix("- ")
            .or_else(|| trimmed.strip_prefix("? "))
        {
            Some(r) => {
                col += 2;
                rest = r;
            }
            None => return col,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nesting_is_bounded_without_parsing() {
        let n = nesting("a: [1, {b: [2]}]\nc:\n  - - d\n# [[[[\nlabel: 'it''s [x' \"[[\" a[b\n");
        assert_eq!(
            n,
            Nesting {
                flow: 3,
                columns: 6
            }
        );
        let deep = format!("k: {}{}\n", "[".repeat(100_000), "]".repeat(100_000));
        assert_eq!(nesting(&deep).flow, 100_000);
        let compact = format!("{}x\n", "- ".repeat(1000));
        assert_eq!(nesting(&compact).columns, 2000);
    }
}
