//! Making untrusted text safe inside a GitHub comment. Resource ids, branch
//! names and log lines come from state, events and programs; none of them
//! may add a link, an image, HTML, a hidden marker or break a table.

/// Escapes text for a Markdown paragraph or table cell. HTML-significant
/// characters become entities and Markdown punctuation is backslash-escaped,
/// so the text renders literally.
pub fn text(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '|' => out.push_str("&#124;"),
            '\\' | '`' | '*' | '_' | '[' | ']' | '(' | ')' | '!' | '#' | '~' | '{' | '}' | '+'
            | '-' | '.' | '@' | ':' => {
                out.push('\\');
                out.push(c);
            }
            '\n' | '\r' | '\t' => out.push(' '),
            c if c.is_control() => {}
            c => out.push(c),
        }
    }
    out
}

/// Escapes text for the inside of an HTML element such as `<pre>`, where
/// Markdown is not processed but entities are.
pub fn html(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\n' | '\t' => out.push(c),
            c if c.is_control() => {}
            c => out.push(c),
        }
    }
    out
}

/// A URL fit to be a link target, or `None` when it is not plain `http(s)`.
/// Characters that could end the link or the table cell are percent-encoded.
pub fn url(s: &str) -> Option<String> {
    let lower = s.get(..8).map(str::to_ascii_lowercase).unwrap_or_default();
    if !(lower.starts_with("https://") || lower.starts_with("http://")) {
        return None;
    }
    if s.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return None;
    }
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '(' | ')' | '<' | '>' | '[' | ']' | '|' | '"' | '\'' | '`' | '\\' | '{' | '}' | '^' => {
                out.push_str(&format!("%{:02X}", u32::from(c)));
            }
            c => out.push(c),
        }
    }
    Some(out)
}

/// A link whose text is the URL itself, or the escaped text when the URL is
/// not one we link to.
pub fn link(s: &str) -> String {
    match url(s) {
        Some(u) => format!("[{}]({u})", text(s)),
        None => text(s),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hostile_text_renders_inert() {
        let evil =
            "](javascript:alert(1))<img src=x onerror=alert(1)>|<!-- alchemy-ci:stage=pr-1 -->";
        let out = text(evil);
        for bad in ["<img", "<!--", "](", "|"] {
            assert!(!out.contains(bad), "{bad:?} survived in {out:?}");
        }
    }

    #[test]
    fn only_http_urls_become_links() {
        assert_eq!(url("javascript:alert(1)"), None);
        assert_eq!(url("data:text/html,x"), None);
        assert_eq!(url("https://a.test/x y"), None);
        assert_eq!(
            url("https://a.test/)<img>").as_deref(),
            Some("https://a.test/%29%3Cimg%3E")
        );
        assert!(link("ftp://x").starts_with("ftp\\:"));
    }

    #[test]
    fn html_escaping_keeps_lines() {
        assert_eq!(html("a<b>\n</pre>"), "a&lt;b&gt;\n&lt;/pre&gt;");
    }
}
