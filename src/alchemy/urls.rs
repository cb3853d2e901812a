//! Reading a stage's URLs out of its Alchemy state, without running
//! anything: v1 resource files (`output.url` and other `…url`/`…Url` fields),
//! v2's `__stack_output__.json`, and an optional outputs file the app writes.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

use crate::github::comment::NamedUrl;

/// URLs in a stable order: the outputs file first (the user's own choice of
/// primary URL), then v2 stack outputs, then v1 resources in program order.
/// Only URLs that pass [`crate::github::markdown::url`], each once.
pub fn collect(files: &BTreeMap<String, Vec<u8>>, outputs_file: Option<&[u8]>) -> Vec<NamedUrl> {
    let mut found: Vec<NamedUrl> = Vec::new();
    if let Some(bytes) = outputs_file {
        if let Ok(v) = serde_json::from_slice::<Value>(bytes) {
            walk(&v, "", &mut found, true);
        }
    }
    for (path, bytes) in files {
        if path.ends_with("/__stack_output__.json") {
            if let Ok(v) = serde_json::from_slice::<Value>(bytes) {
                let mut stack = Vec::new();
                walk(&v, "", &mut stack, false);
                // A stack's own `url` is its primary URL.
                stack.sort_by_key(|u| u.resource != "url");
                found.extend(stack);
            }
        }
    }
    let mut v1: Vec<(u64, String, Vec<NamedUrl>)> = files
        .iter()
        .filter(|(p, _)| !p.starts_with("state/") && p.ends_with(".json"))
        .filter_map(|(_, bytes)| serde_json::from_slice::<Value>(bytes).ok())
        .filter(|v| v.get("kind").and_then(Value::as_str) != Some("alchemy::Scope"))
        .filter_map(|v| {
            let id = v.get("id")?.as_str()?.to_owned();
            let seq = v.get("seq").and_then(Value::as_u64).unwrap_or(u64::MAX);
            let output = v.get("output")?.as_object()?;
            let mut urls: Vec<NamedUrl> = output
                .iter()
                .filter(|(k, _)| !k.starts_with("Symbol("))
                .filter(|(k, _)| url_key(k))
                .filter_map(|(k, val)| {
                    let url = val.as_str().filter(|s| is_http(s))?;
                    let resource = if k == "url" {
                        id.clone()
                    } else {
                        format!("{id}.{k}")
                    };
                    Some(NamedUrl {
                        resource,
                        url: url.to_owned(),
                    })
                })
                .collect();
            // A resource's own `url` before its other URL fields.
            urls.sort_by_key(|u| u.resource != id);
            Some((seq, id, urls))
        })
        .collect();
    v1.sort_by(|a, b| (a.0, &a.1).cmp(&(b.0, &b.1)));
    found.extend(v1.into_iter().flat_map(|(_, _, urls)| urls));

    let mut seen = BTreeSet::new();
    found.retain(|u| seen.insert(u.url.clone()));
    found
}

fn url_key(k: &str) -> bool {
    k.ends_with("url") || k.ends_with("Url") || k.ends_with("URL")
}

/// The same check as every link and output: a URL with a control or
/// bidi character, credentials or no host is not a URL of the stage.
fn is_http(s: &str) -> bool {
    crate::github::markdown::url(s).is_some()
}

/// Depth-first in key order. In the outputs file every http(s) string
/// counts, whatever its key; in stack outputs only `…url` keys do.
fn walk(v: &Value, path: &str, out: &mut Vec<NamedUrl>, any_key: bool) {
    match v {
        Value::Object(map) => {
            for (k, child) in map {
                let p = if path.is_empty() {
                    k.clone()
                } else {
                    format!("{path}.{k}")
                };
                if let Value::String(s) = child {
                    if is_http(s) && (any_key || url_key(k)) {
                        out.push(NamedUrl {
                            resource: p,
                            url: s.clone(),
                        });
                    }
                } else {
                    walk(child, &p, out, any_key);
                }
            }
        }
        Value::Array(items) => {
            for (i, child) in items.iter().enumerate() {
                let p = format!("{path}[{i}]");
                match child {
                    Value::String(s) if is_http(s) && any_key => out.push(NamedUrl {
                        resource: p,
                        url: s.clone(),
                    }),
                    other => walk(other, &p, out, any_key),
                }
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn files(entries: &[(&str, &str)]) -> BTreeMap<String, Vec<u8>> {
        entries
            .iter()
            .map(|(k, v)| ((*k).to_owned(), v.as_bytes().to_vec()))
            .collect()
    }

    #[test]
    fn v1_resources_in_program_order_deduplicated() {
        let f = files(&[
            (
                "app/pr-1/b.json",
                r#"{"id":"b","seq":1,"output":{"url":"https://b.test/","apiUrl":"https://b.test/api","Symbol(x)":"https://no.test"}}"#,
            ),
            (
                "app/pr-1/a.json",
                r#"{"id":"a","seq":0,"output":{"url":"https://a.test/","name":"https://not-a-url-key.test"}}"#,
            ),
            (
                "app/pr-1/dup.json",
                r#"{"id":"dup","seq":2,"output":{"url":"https://a.test/"}}"#,
            ),
            (
                "app/pr-1/js.json",
                r#"{"id":"js","seq":3,"output":{"url":"javascript:alert(1)"}}"#,
            ),
            (
                "app/pr-1.json",
                r#"{"kind":"alchemy::Scope","id":"pr-1","seq":4,"output":{"url":"https://scope.test"}}"#,
            ),
        ]);
        let got: Vec<(String, String)> = collect(&f, None)
            .into_iter()
            .map(|u| (u.resource, u.url))
            .collect();
        assert_eq!(
            got,
            [
                ("a".into(), "https://a.test/".into()),
                ("b".into(), "https://b.test/".into()),
                ("b.apiUrl".into(), "https://b.test/api".into()),
            ]
        );
    }

    #[test]
    fn outputs_file_comes_first_then_stack_outputs() {
        let f = files(&[(
            "state/stack/pr-1/__stack_output__.json",
            r#"{"url":"https://v2.test/","stage":"pr-1","nested":{"adminUrl":"https://admin.test/"}}"#,
        )]);
        let outputs = br#"{"Web": "https://web.test/", "docs": ["https://docs.test/"]}"#;
        let got: Vec<String> = collect(&f, Some(outputs))
            .into_iter()
            .map(|u| u.resource)
            .collect();
        assert_eq!(got, ["Web", "docs[0]", "url", "nested.adminUrl"]);
    }
}
