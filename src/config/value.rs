//! One input's value as it was given, before it means anything: text from
//! a flag, an `INPUT_*` variable or a default, or YAML from the config
//! file; and the readings every input's parser shares (a single value, a
//! boolean, a list, a map). Errors are messages; the caller names where the
//! value came from.

/// A value as typed.
#[derive(Debug, Clone)]
pub enum Raw {
    Text(String),
    Yaml(serde_norway::Value),
}

/// A borrowed [`Raw`] with the readings an input's parser needs.
#[derive(Debug, Clone, Copy)]
pub struct Value<'a>(pub &'a Raw);

impl Value<'_> {
    /// The YAML the config file held, if the value came from there.
    pub fn yaml(&self) -> Option<&serde_norway::Value> {
        match self.0 {
            Raw::Yaml(v) => Some(v),
            Raw::Text(_) => None,
        }
    }

    /// A single value as text (YAML numbers and booleans as written).
    pub fn text(&self) -> Result<String, String> {
        match self.0 {
            Raw::Text(t) => Ok(t.clone()),
            Raw::Yaml(v) => scalar(v).ok_or_else(|| "expected a single value".into()),
        }
    }

    /// Booleans as `@actions/core`'s `getBooleanInput` takes them (YAML 1.2
    /// core schema).
    pub fn boolean(&self) -> Result<bool, String> {
        if let Raw::Yaml(serde_norway::Value::Bool(b)) = self.0 {
            return Ok(*b);
        }
        match self.text()?.as_str() {
            "true" | "True" | "TRUE" => Ok(true),
            "false" | "False" | "FALSE" => Ok(false),
            other => Err(format!("expected true or false, got {other:?}")),
        }
    }

    /// A list: a YAML sequence, or text separated by commas or newlines.
    pub fn list(&self) -> Result<Vec<String>, String> {
        match self.0 {
            Raw::Yaml(serde_norway::Value::Sequence(items)) => items
                .iter()
                .map(|item| scalar(item).ok_or_else(|| "expected a list of single values".into()))
                .collect(),
            _ => Ok(self
                .text()?
                .split([',', '\n'])
                .map(str::trim)
                .filter(|v| !v.is_empty())
                .map(str::to_owned)
                .collect()),
        }
    }

    /// Pairs: a YAML mapping, or text of `key:value` pairs separated by
    /// commas or newlines, in the order given. A colon cannot appear in a
    /// git branch name, so the split is unambiguous.
    pub fn pairs(&self) -> Result<Vec<(String, String)>, String> {
        if let Raw::Yaml(serde_norway::Value::Mapping(m)) = self.0 {
            return m
                .iter()
                .map(|(k, v)| match (scalar(k), scalar(v)) {
                    (Some(k), Some(v)) => Ok((k, v)),
                    _ => Err("expected key: value pairs of single values".into()),
                })
                .collect();
        }
        self.list()?
            .into_iter()
            .map(|pair| match pair.split_once(':') {
                Some((k, v)) if !k.trim().is_empty() && !v.trim().is_empty() => {
                    Ok((k.trim().to_owned(), v.trim().to_owned()))
                }
                _ => Err(format!("expected `branch:stage` pairs, got {pair:?}")),
            })
            .collect()
    }

    /// A mapping from the config file, in file order; text is refused.
    pub fn mapping(&self, what: &str) -> Result<&serde_norway::Mapping, String> {
        match self.0 {
            Raw::Yaml(serde_norway::Value::Mapping(m)) => Ok(m),
            _ => Err(format!("expected a mapping of {what}")),
        }
    }
}

/// A YAML scalar as text: strings trimmed, numbers and booleans as written.
pub fn scalar(v: &serde_norway::Value) -> Option<String> {
    match v {
        serde_norway::Value::String(t) => Some(t.trim().to_owned()),
        serde_norway::Value::Number(n) => Some(n.to_string()),
        serde_norway::Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn yaml(s: &str) -> Raw {
        Raw::Yaml(serde_norway::from_str(s).expect("yaml"))
    }

    #[test]
    fn lists_and_pairs_read_both_forms() {
        let text = Raw::Text("a, b\nc,".into());
        assert_eq!(Value(&text).list().expect("list"), ["a", "b", "c"]);
        assert_eq!(
            Value(&yaml("[a, 2, true]")).list().expect("list"),
            ["a", "2", "true"]
        );
        let pairs = Raw::Text("main:prod, dev : staging".into());
        assert_eq!(
            Value(&pairs).pairs().expect("pairs"),
            [
                ("main".into(), "prod".into()),
                ("dev".into(), "staging".into())
            ]
        );
        assert!(Value(&Raw::Text("main".into())).pairs().is_err());
        assert!(Value(&yaml("{a: [1]}")).pairs().is_err());
    }

    #[test]
    fn booleans_are_the_core_schema_words() {
        assert_eq!(Value(&Raw::Text("TRUE".into())).boolean(), Ok(true));
        assert_eq!(Value(&yaml("false")).boolean(), Ok(false));
        assert!(Value(&Raw::Text("yes".into())).boolean().is_err());
    }
}
