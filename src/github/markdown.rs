//! Making untrusted text safe inside a GitHub comment. Resource ids, branch
//! names and log lines come from state, events and programs; none of them
//! may add a link, an image, HTML, a hidden marker or break a table.

use crate::text::{is_unsafe, shown};

/// The longest URL linked to; anything longer is shown as text.
pub const MAX_URL_CHARS: usize = 2048;

/// Escapes text for a Markdown paragraph or table cell. HTML-significant
/// characters become entities and Markdown punctuation is backslash-escaped,
/// so the text renders literally: no link, image, HTML, mention, issue
/// reference, emoji code, math or table cell can come out of it. Line
/// breaks become spaces; other unsafe characters are shown escaped.
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
            | '-' | '.' | '@' | ':' | '$' | '=' | '^' => {
                out.push('\\');
                out.push(c);
            }
            '\n' | '\r' | '\t' => out.push(' '),
            c if is_unsafe(c) => push_shown(&mut out, c),
            c => out.push(c),
        }
    }
    out
}

/// An unsafe character, visible as its escape, with the backslash and
/// braces escaped so Markdown shows them as typed.
fn push_shown(out: &mut String, c: char) {
    for e in shown(c).chars() {
        if matches!(e, '\\' | '{' | '}') {
            out.push('\\');
        }
        out.push(e);
    }
}

/// Escapes text for the inside of an HTML element such as `<pre>`, where
/// Markdown is not processed but entities are. Lines and tabs are kept;
/// other unsafe characters are shown escaped.
pub fn html(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\n' | '\t' => out.push(c),
            c if is_unsafe(c) => out.push_str(&shown(c)),
            c => out.push(c),
        }
    }
    out
}

/// The one URL validator: a URL fit to be a link target, a deployment's
/// URL or a step output, or `None`. It must be plain `http(s)` with a host,
/// no credentials, no whitespace and no unsafe character, and at most
/// [`MAX_URL_CHARS`] long. Characters that could end a Markdown link or
/// table cell are percent-encoded in what is returned.
pub fn url(s: &str) -> Option<String> {
    let lower = s.get(..8).map(str::to_ascii_lowercase).unwrap_or_default();
    let rest = if lower.starts_with("https://") {
        &s[8..]
    } else if lower.starts_with("http://") {
        &s[7..]
    } else {
        return None;
    };
    if s.chars().count() > MAX_URL_CHARS || s.chars().any(|c| c.is_whitespace() || is_unsafe(c)) {
        return None;
    }
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let host = authority.rsplit_once(':').map_or(authority, |(h, port)| {
        if port.bytes().all(|b| b.is_ascii_digit()) {
            h
        } else {
            authority
        }
    });
    // `https://good.test@evil.test/` reads as one host and goes to another.
    if host.is_empty() || authority.contains(['@', '\\']) {
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
