//! The HTTP side of talking to GitHub: octocrab for the connection, the
//! token and the base URL (so GitHub Enterprise Server works), and a retry
//! policy of our own, because the answers that matter (retry-after,
//! x-ratelimit-reset, the secondary rate limit's 403) are in headers and
//! bodies that a typed client hides.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use http::{HeaderMap, Method, StatusCode, Uri};
use http_body_util::BodyExt;
use octocrab::Octocrab;
use secrecy::SecretString;
use serde::de::DeserializeOwned;
use serde::Serialize;

#[derive(Debug, thiserror::Error)]
pub enum ForgeError {
    #[error(
        "GitHub rejected the token (401 Bad credentials) for {what}; check the github-token input"
    )]
    Unauthorized { what: String },
    #[error("GitHub refused {what} (403): {message}")]
    Forbidden { what: String, message: String },
    #[error(
        "GitHub answered 404 (not found) for {what}; check the repository name and the token's access"
    )]
    NotFound { what: String },
    #[error("GitHub rejected {what} (422): {message}")]
    Invalid { what: String, message: String },
    #[error("GitHub kept failing for {what} after {attempts} attempts over {waited:?}: {last}")]
    GaveUp {
        what: String,
        attempts: u32,
        waited: Duration,
        last: String,
    },
    #[error("GitHub answered {status} for {what}: {message}")]
    Unexpected {
        what: String,
        status: u16,
        message: String,
    },
    #[error("unreadable answer from GitHub for {what}: {message}")]
    Decode { what: String, message: String },
    #[error("cannot set up the GitHub client: {0}")]
    Setup(String),
}

/// How hard to try before giving up on GitHub.
#[derive(Debug, Clone)]
pub struct RetryPolicy {
    pub max_attempts: u32,
    /// The most time spent waiting between attempts, in total.
    pub max_wait: Duration,
    /// The first pause after a 5xx or a dropped connection; doubles each time.
    pub backoff: Duration,
    /// How long one request may take.
    pub request_timeout: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_attempts: 6,
            max_wait: Duration::from_secs(120),
            backoff: Duration::from_secs(1),
            request_timeout: Duration::from_secs(30),
        }
    }
}

/// A response: status, headers and the body bytes.
pub struct Answer {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
}

impl Answer {
    pub fn json<T: DeserializeOwned>(&self, what: &str) -> Result<T, ForgeError> {
        serde_json::from_slice(&self.body).map_err(|e| ForgeError::Decode {
            what: what.to_owned(),
            message: e.to_string(),
        })
    }

    /// The `rel="next"` target of a `Link` header, if any.
    pub fn next_link(&self) -> Option<String> {
        let link = self.headers.get(http::header::LINK)?.to_str().ok()?;
        link.split(',').find_map(|part| {
            let (url, rel) = part.split_once(';')?;
            rel.contains("rel=\"next\"").then(|| {
                url.trim()
                    .trim_start_matches('<')
                    .trim_end_matches('>')
                    .to_owned()
            })
        })
    }
}

pub struct Client {
    octo: Octocrab,
    runtime: tokio::runtime::Runtime,
    policy: RetryPolicy,
    /// The REST base URL, without a trailing `/`.
    api_url: String,
    /// After this, no request is started or waited for (a cancelled job is
    /// about to be killed).
    deadline: Mutex<Option<Instant>>,
}

impl Client {
    /// `api_url` is `GITHUB_API_URL` (`https://api.github.com`, or
    /// `https://HOST/api/v3` on GitHub Enterprise Server).
    pub fn new(
        api_url: &str,
        token: SecretString,
        policy: RetryPolicy,
    ) -> Result<Self, ForgeError> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| ForgeError::Setup(e.to_string()))?;
        // octocrab's client must be built inside a runtime.
        let octo = runtime.block_on(async {
            Octocrab::builder()
                .base_uri(api_url.trim_end_matches('/'))
                .map_err(|e| ForgeError::Setup(format!("GITHUB_API_URL {api_url:?}: {e}")))?
                .personal_token(token)
                .set_connect_timeout(Some(policy.request_timeout))
                .set_read_timeout(Some(policy.request_timeout))
                .set_write_timeout(Some(policy.request_timeout))
                .build()
                .map_err(|e| ForgeError::Setup(e.to_string()))
        })?;
        Ok(Self {
            octo,
            runtime,
            policy,
            api_url: api_url.trim_end_matches('/').to_owned(),
            deadline: Mutex::new(None),
        })
    }

    /// The GraphQL endpoint beside the REST API: `https://api.github.com/graphql`,
    /// and on GitHub Enterprise Server `https://HOST/api/graphql` for the
    /// REST API at `https://HOST/api/v3`.
    pub fn graphql_url(&self) -> String {
        match self.api_url.strip_suffix("/api/v3") {
            Some(host) => format!("{host}/api/graphql"),
            None => format!("{}/graphql", self.api_url),
        }
    }

    /// From now on, gives up on any request that would not finish by
    /// `deadline`, retries included.
    pub fn set_deadline(&self, deadline: Instant) {
        *self
            .deadline
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(deadline);
    }

    fn deadline(&self) -> Option<Instant> {
        *self
            .deadline
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Sends one request, retrying what is worth retrying: 5xx, dropped
    /// connections and timeouts (with backoff), 429 and GitHub's rate
    /// limits (waiting as long as GitHub asks), all within the policy's
    /// budget. 401, 403, 404 and 422 are answered at once.
    pub fn send<B: Serialize + ?Sized>(
        &self,
        method: Method,
        path_or_url: &str,
        body: Option<&B>,
        what: &str,
    ) -> Result<Answer, ForgeError> {
        self.send_checked(method, path_or_url, body, what, &|| Ok(None))
    }

    /// [`Client::send`] for a request that must not happen twice (a POST
    /// that creates something): after a timeout or a 5xx, which may come
    /// after the server did the work, `happened` looks for its effect
    /// before the request is sent again, and what it finds is the answer.
    pub fn send_checked<B: Serialize + ?Sized>(
        &self,
        method: Method,
        path_or_url: &str,
        body: Option<&B>,
        what: &str,
        happened: &dyn Fn() -> Result<Option<Answer>, ForgeError>,
    ) -> Result<Answer, ForgeError> {
        let uri: Uri = path_or_url
            .parse()
            .map_err(|e| ForgeError::Setup(format!("bad URL {path_or_url:?}: {e}")))?;
        let started = Instant::now();
        let mut waited = Duration::ZERO;
        let mut backoff = self.policy.backoff;
        let mut attempt = 0;
        let gave_up = |attempts, last| ForgeError::GaveUp {
            what: what.to_owned(),
            attempts,
            waited: started.elapsed(),
            last,
        };
        loop {
            attempt += 1;
            let limit = match self.deadline() {
                Some(d) => d.saturating_duration_since(Instant::now()),
                None => self.policy.request_timeout,
            };
            if limit.is_zero() {
                return Err(gave_up(
                    attempt - 1,
                    "no time left before the job is stopped".to_owned(),
                ));
            }
            let result = self.once_within(limit, &method, &uri, body);
            let (pause, last, maybe_done) = match result {
                Ok(a) if a.status.is_success() => return Ok(a),
                Ok(a) => match classify(&a, what) {
                    Verdict::Fail(e) => return Err(e),
                    Verdict::RetryAfter(d, why) => (d, why, false),
                    Verdict::Backoff(why) => {
                        let d = backoff;
                        backoff = (backoff * 2).min(Duration::from_secs(30));
                        (d, why, true)
                    }
                },
                Err(e) => {
                    let d = backoff;
                    backoff = (backoff * 2).min(Duration::from_secs(30));
                    (d, e, true)
                }
            };
            let past_deadline = self.deadline().is_some_and(|d| Instant::now() + pause >= d);
            if attempt >= self.policy.max_attempts
                || waited + pause > self.policy.max_wait
                || past_deadline
            {
                return Err(gave_up(attempt, last));
            }
            tracing::warn!(
                "GitHub: {last} for {what}; retrying in {}s",
                pause.as_secs_f32()
            );
            std::thread::sleep(pause);
            waited += pause;
            // A 5xx or a lost answer may come after the work was done; look
            // after the pause, when a slow server has finished it.
            if maybe_done && method == Method::POST {
                if let Some(a) = happened()? {
                    tracing::warn!("GitHub: {what} had been done after all; not sending it again");
                    return Ok(a);
                }
            }
        }
    }

    /// One attempt, given up after `limit` (or the request timeout).
    fn once_within<B: Serialize + ?Sized>(
        &self,
        limit: Duration,
        method: &Method,
        uri: &Uri,
        body: Option<&B>,
    ) -> Result<Answer, String> {
        let limit = limit.min(self.policy.request_timeout);
        self.runtime.block_on(async {
            tokio::time::timeout(limit, self.once(method.clone(), uri.clone(), body))
                .await
                .unwrap_or_else(|_| Err(format!("no answer within {}s", limit.as_secs())))
        })
    }

    async fn once<B: Serialize + ?Sized>(
        &self,
        method: Method,
        uri: Uri,
        body: Option<&B>,
    ) -> Result<Answer, String> {
        let response = match method {
            Method::GET => self.octo._get(uri).await,
            Method::POST => self.octo._post(uri, body).await,
            Method::PATCH => self.octo._patch(uri, body).await,
            Method::DELETE => self.octo._delete(uri, body).await,
            other => return Err(format!("unsupported method {other}")),
        }
        .map_err(|e| format!("request failed: {}", error_chain(&e)))?;
        let (parts, body) = response.into_parts();
        let bytes = body
            .collect()
            .await
            .map_err(|e| format!("reading the answer failed: {}", error_chain(&e)))?
            .to_bytes();
        Ok(Answer {
            status: parts.status,
            headers: parts.headers,
            body: bytes.to_vec(),
        })
    }

    /// Every item of a paged list, following `Link: rel="next"`.
    pub fn get_all<T: DeserializeOwned>(
        &self,
        first: &str,
        what: &str,
    ) -> Result<Vec<T>, ForgeError> {
        let mut out = Vec::new();
        let mut next = Some(first.to_owned());
        while let Some(url) = next {
            let answer = self.send::<()>(Method::GET, &url, None, what)?;
            let page: Vec<T> = answer.json(what)?;
            out.extend(page);
            next = answer.next_link();
        }
        Ok(out)
    }
}

enum Verdict {
    Fail(ForgeError),
    RetryAfter(Duration, String),
    Backoff(String),
}

fn classify(a: &Answer, what: &str) -> Verdict {
    let message = serde_json::from_slice::<serde_json::Value>(&a.body)
        .ok()
        .and_then(|v| v.get("message").and_then(|m| m.as_str()).map(str::to_owned))
        .unwrap_or_else(|| String::from_utf8_lossy(&a.body).chars().take(200).collect());
    let header = |name: &str| {
        a.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    let retry_after = header("retry-after").and_then(|v| v.trim().parse::<u64>().ok());
    let status = a.status.as_u16();
    match status {
        401 => Verdict::Fail(ForgeError::Unauthorized {
            what: what.to_owned(),
        }),
        403 | 429 => {
            if let Some(secs) = retry_after {
                return Verdict::RetryAfter(
                    Duration::from_secs(secs),
                    format!("{status} rate limited ({message})"),
                );
            }
            if header("x-ratelimit-remaining").as_deref() == Some("0") {
                let reset = header("x-ratelimit-reset")
                    .and_then(|v| v.parse::<u64>().ok())
                    .unwrap_or(0);
                let now = crate::time::Timestamp::now().unix();
                return Verdict::RetryAfter(
                    Duration::from_secs(reset.saturating_sub(now).max(1)),
                    format!("{status} rate limit exhausted"),
                );
            }
            if status == 429
                || message
                    .to_ascii_lowercase()
                    .contains("secondary rate limit")
            {
                // GitHub's advice without a header: wait at least a minute.
                return Verdict::RetryAfter(
                    Duration::from_secs(60),
                    format!("{status} secondary rate limit"),
                );
            }
            Verdict::Fail(ForgeError::Forbidden {
                what: what.to_owned(),
                message,
            })
        }
        404 => Verdict::Fail(ForgeError::NotFound {
            what: what.to_owned(),
        }),
        422 => Verdict::Fail(ForgeError::Invalid {
            what: what.to_owned(),
            message,
        }),
        500..=599 => Verdict::Backoff(format!("{status} {message}")),
        _ => Verdict::Fail(ForgeError::Unexpected {
            what: what.to_owned(),
            status,
            message,
        }),
    }
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        s.push_str(": ");
        s.push_str(&c.to_string());
        cur = c.source();
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Scenario: a 404 for `/user` read "GitHub has no the token's user";
    /// every message takes `what` as the thing asked for.
    #[test]
    fn messages_read_well_with_any_request() {
        let what = || "the token's user".to_owned();
        let all = [
            ForgeError::Unauthorized { what: what() },
            ForgeError::NotFound { what: what() },
            ForgeError::Unexpected {
                what: what(),
                status: 500,
                message: "oops".into(),
            },
        ];
        for e in all {
            let text = e.to_string();
            assert!(text.contains("for the token's user"), "{text}");
            assert!(!text.contains("no the"), "{text}");
        }
    }
}
