//! GitHub's own grammar for the names and addresses alchemy-ci builds links
//! and requests from: `OWNER/REPO` and the server and API URLs. They come
//! from the event payload and the runner's environment, so they are checked
//! where they are read, and everything downstream may put them in a link.

use std::fmt;

use serde::{Deserialize, Serialize};

/// `OWNER/REPO` as GitHub allows it: an owner of 1 to 39 letters, digits,
/// `-` and `_` (managed users' logins carry `_shortcode`), not starting with
/// `-` or `_`; a repository of 1 to 100 letters, digits, `.`, `-` and `_`,
/// other than `.` and `..`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct RepoName(String);

impl RepoName {
    pub fn parse(s: &str) -> Result<Self, String> {
        let Some((owner, repo)) = s.split_once('/') else {
            return Err(format!("{s:?} is not an OWNER/REPO name"));
        };
        let owner_ok = (1..=39).contains(&owner.len())
            && owner.starts_with(|c: char| c.is_ascii_alphanumeric())
            && owner
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        let repo_ok = (1..=100).contains(&repo.len())
            && repo != "."
            && repo != ".."
            && repo
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_'));
        if owner_ok && repo_ok {
            Ok(Self(s.to_owned()))
        } else {
            Err(format!("{s:?} is not an OWNER/REPO name"))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for RepoName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for RepoName {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Self::parse(&s).map_err(|_| {
            serde::de::Error::invalid_value(
                serde::de::Unexpected::Str(&s),
                &"an OWNER/REPO name as GitHub allows it",
            )
        })
    }
}

/// A GitHub server or API base URL (`GITHUB_SERVER_URL`, `GITHUB_API_URL`):
/// `https://HOST[:PORT][/PATH]`, with no credentials, query or fragment.
/// Plain `http://` only to a loopback address (`localhost`, `127.x.x.x`,
/// `[::1]`), where a test server or a local proxy listens: anywhere else it
/// would send the token in the clear. Returned without a trailing `/`.
pub fn server_url(s: &str) -> Result<String, String> {
    let bad = || {
        format!(
            "expected an https:// URL (http:// only to a loopback address), with no credentials, query or fragment; got {s:?}"
        )
    };
    if s.len() > 2048 {
        return Err(bad());
    }
    let lower = s.to_ascii_lowercase();
    let (rest, https) = if lower.starts_with("https://") {
        (&s[8..], true)
    } else if lower.starts_with("http://") {
        (&s[7..], false)
    } else {
        return Err(bad());
    };
    let rest = rest.trim_end_matches('/');
    let (authority, path) = rest.split_once('/').unwrap_or((rest, ""));
    let (host, port) = split_port(authority).ok_or_else(bad)?;
    let host_ok = !host.is_empty()
        && (host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')
            || host == "[::1]");
    let path_ok = path.is_empty()
        || path.split('/').all(|seg| {
            !seg.is_empty()
                && seg
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'))
        });
    if !host_ok || !path_ok || port.is_some_and(|p| p.is_empty() || p.len() > 5) {
        return Err(bad());
    }
    if !https && !is_loopback(host) {
        return Err(format!(
            "http:// is allowed only to a loopback address (the token would travel in the clear); got {s:?}"
        ));
    }
    Ok(s.trim_end_matches('/').to_owned())
}

/// `HOST[:PORT]`, the port all digits when present.
fn split_port(authority: &str) -> Option<(&str, Option<&str>)> {
    if authority.starts_with('[') {
        let end = authority.find(']')?;
        let (host, after) = authority.split_at(end + 1);
        return match after.strip_prefix(':') {
            Some(p) if p.bytes().all(|b| b.is_ascii_digit()) => Some((host, Some(p))),
            None if after.is_empty() => Some((host, None)),
            _ => None,
        };
    }
    match authority.split_once(':') {
        Some((h, p)) if p.bytes().all(|b| b.is_ascii_digit()) => Some((h, Some(p))),
        Some(_) => None,
        None => Some((authority, None)),
    }
}

fn is_loopback(host: &str) -> bool {
    host.eq_ignore_ascii_case("localhost")
        || host == "[::1]"
        || host.strip_prefix("127.").is_some_and(|r| {
            r.split('.').count() == 3 && r.split('.').all(|o| o.parse::<u8>().is_ok())
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repository_names_follow_github() {
        for ok in [
            "o/r",
            "Codertocat/Hello-World",
            "a-b_c/x.y_z-1",
            "octo_acme/.github",
        ] {
            assert!(RepoName::parse(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "o",
            "o/r/x",
            "-o/r",
            "o/.",
            "o/..",
            "o/r\r::error::x",
            "o/r)",
            "o/r x",
            "o/<img>",
            "o/r\u{202e}",
            &format!("{}/r", "o".repeat(40)),
            &format!("o/{}", "r".repeat(101)),
        ] {
            assert!(RepoName::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn server_urls_are_https_or_loopback_http() {
        for ok in [
            "https://github.com",
            "https://github.com/",
            "https://ghe.example.test/api/v3",
            "https://api.octo.ghe.com",
            "http://127.0.0.1:8080",
            "http://localhost:3000/api",
            "http://[::1]:9000",
        ] {
            assert!(server_url(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "github.com",
            "ftp://github.com",
            "javascript:alert(1)",
            "http://github.com",
            "http://127.0.0.1.evil.test",
            "https://user:pw@github.com",
            "https://github.com/x?y=1",
            "https://github.com/x#y",
            "https://github.com/)[x](y",
            "https://github.com\r\n::error::x",
            "https://git\u{202e}hub.com",
            "https://github.com:abc",
            "https:///x",
        ] {
            assert!(server_url(bad).is_err(), "{bad:?}");
        }
        assert_eq!(
            server_url("https://github.com/").as_deref(),
            Ok("https://github.com")
        );
    }
}
