//! One LCS call with its retries: 429 waits for `retry-after` (seconds or an HTTP date);
//! connection failures, timeouts, 5xx and unreadable bodies are retried with capped exponential
//! backoff and jitter until the call's deadline; other 4xx are permanent. A call that changes an
//! environment is retried only when it provably was not received (connection refused, 429);
//! otherwise its lost answer goes back to the executor, which settles it from history.
//! Every attempt is a tracing event; no event or error holds a token or a SAS signature: answer
//! bodies and transport errors pass the adapter's redactor as they come in, and URLs are shown
//! without query values. An attempt never outlasts what is left of the call's deadline, and an
//! answer's body is read up to `MAX_ANSWER`.

use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use reqwest::{Method, StatusCode};
use tokio::sync::Mutex;

use super::auth::{Credentials, Token, acquire};
use crate::adapter::AdapterError;
use crate::adapter::contract::shown_wait;
use crate::adapter::contract::{BlockData, FileRange};
use crate::adapter::redact::{Redactor, shown_url};
use crate::clock::Clock;

/// The most of an answer's body that is read (LCS's JSON answers are kilobytes); a larger one is
/// an error that says so. Downloads are streamed to a file instead and have no such limit.
pub const MAX_ANSWER: usize = 16 * 1024 * 1024;

/// How long calls may take and how retries wait.
#[derive(Debug, Clone, Copy)]
pub struct RetryPolicy {
    /// The first wait after a transient failure; each later one doubles, up to `max_wait`.
    pub first_wait: Duration,
    pub max_wait: Duration,
    /// How long one call may keep retrying before its failure goes to the executor.
    pub deadline: Duration,
    /// The wait after a 429 without a usable `retry-after` (d365fo.tools uses 10 s).
    pub default_retry_after: Duration,
    /// The least wall time an attempt is given, however little of the deadline is left (the
    /// connect timeout): a last attempt may end this much past the deadline, never more.
    pub min_attempt: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            first_wait: Duration::from_secs(1),
            max_wait: Duration::from_mins(1),
            deadline: Duration::from_mins(10),
            default_retry_after: Duration::from_secs(10),
            min_attempt: Duration::from_secs(10),
        }
    }
}

/// Whether a call may be sent again when its answer is lost.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Reads, block uploads, commits: the same call twice does no harm.
    Repeatable,
    /// Start refresh, apply update, create asset: never sent twice unless provably not received.
    Once,
}

/// An answer read in full.
pub struct Answer {
    pub status: StatusCode,
    pub body: Vec<u8>,
}

/// A request to send; built again for every attempt.
pub struct Request {
    pub method: Method,
    pub url: reqwest::Url,
    /// What the call is, for events and errors (`start refresh`, `put block`).
    pub what: &'static str,
    pub kind: Kind,
    /// Whether to send the LCS bearer token (not to blob SAS locations).
    pub bearer: bool,
    pub body: Option<RequestBody>,
}

pub enum RequestBody {
    Json(serde_json::Value),
    Text(String),
    /// A block of an upload; a file's range is streamed (see [`FileBody`]).
    Block(BlockData),
}

pub struct Http {
    pub client: reqwest::Client,
    pub api_url: String,
    pub credentials: Credentials,
    pub policy: RetryPolicy,
    pub clock: Clock,
    /// Knows every secret of this adapter; peer text passes it where it comes in.
    pub redactor: Redactor,
    token: Mutex<Option<Token>>,
    jitter: crate::adapter::backoff::Backoff,
}

impl Http {
    pub fn new(
        api_url: &str,
        credentials: Credentials,
        policy: RetryPolicy,
        clock: Clock,
    ) -> Result<Self, AdapterError> {
        let client = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .read_timeout(Duration::from_mins(2))
            .user_agent(concat!("refreshctl/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|error| AdapterError::Unavailable(error.without_url().to_string()))?;
        let token = credentials.access_token.clone().map(|access| Token {
            access,
            refresh: credentials.refresh_token.clone(),
            expires: None,
            margin: TimeDelta::minutes(5),
        });
        let redactor = Redactor::new([
            credentials.password.as_deref(),
            credentials.client_secret.as_deref(),
            credentials.access_token.as_deref(),
            credentials.refresh_token.as_deref(),
        ]);
        Ok(Self {
            client,
            redactor,
            api_url: api_url.trim_end_matches('/').to_owned(),
            credentials,
            policy,
            clock,
            token: Mutex::new(token),
            jitter: crate::adapter::backoff::Backoff::new(),
        })
    }

    /// The URL of an API path.
    pub fn api(&self, path: &str) -> Result<reqwest::Url, AdapterError> {
        reqwest::Url::parse(&format!("{}/{path}", self.api_url)).map_err(|error| {
            AdapterError::Unavailable(format!("LCS_API_URL is not a URL: {error}"))
        })
    }

    /// A bearer token that will not expire during the next call: the current one, renewed
    /// with the refresh token (or the password) when it is close to expiry or was refused.
    pub async fn bearer(&self, refused: bool) -> Result<String, AdapterError> {
        let mut token = self.token.lock().await;
        let now = self.clock.now();
        if let Some(current) = token.as_ref()
            && current.fresh(now)
            && !refused
        {
            return Ok(current.access.clone());
        }
        let refresh = token.as_ref().and_then(|current| current.refresh.clone());
        let renewed = match refresh {
            Some(refresh) => {
                match acquire(&self.client, &self.credentials, &self.api_url, Some(&refresh), &self.clock, &self.redactor).await {
                    Ok(renewed) => Ok(renewed),
                    // A refused refresh token falls back to the password, where there is one.
                    Err(error) if self.credentials.password.is_none() => Err(error),
                    Err(_) => acquire(&self.client, &self.credentials, &self.api_url, None, &self.clock, &self.redactor).await,
                }
            }
            None if token.is_some() && self.credentials.password.is_none() => {
                Err(AdapterError::Unavailable(
                    "LCS refused the access token (expired?) and there is no refresh token or password to get a new one".into(),
                ))
            }
            None => acquire(&self.client, &self.credentials, &self.api_url, None, &self.clock, &self.redactor).await,
        }?;
        let expires = renewed.expires.map(crate::plan::time::format_utc);
        tracing::info!(target: "refreshctl::lcs", expires = expires.as_deref(), "signed in to LCS");
        let access = renewed.access.clone();
        *token = Some(renewed);
        Ok(access)
    }

    fn backoff(&self, attempt: u32) -> Duration {
        self.jitter.next(&self.policy, attempt)
    }

    async fn wait(&self, wait: Duration) {
        crate::adapter::backoff::sleep(&self.clock, wait).await;
    }

    /// How much of `budget` is left at `now` after `started`.
    fn left(budget: Duration, started: DateTime<Utc>, now: DateTime<Utc>) -> Duration {
        budget.saturating_sub((now - started).to_std().unwrap_or_default())
    }

    /// Sends a request until it has an answer worth returning; see the module's notes. Each
    /// call and each retry is counted for the daemon's metrics.
    pub async fn send(&self, request: &Request) -> Result<Answer, AdapterError> {
        let result = self.send_until_answered(request).await;
        let outcome = if result.is_ok() { "answered" } else { "failed" };
        crate::metrics::call("lcs", request.what, outcome);
        result
    }

    async fn send_until_answered(&self, request: &Request) -> Result<Answer, AdapterError> {
        let started = self.clock.now();
        let budget = self.policy.deadline;
        let url = shown_url(&request.url);
        let mut attempt: u32 = 0;
        // A 401 renews the token once for the next attempt; a second 401 is final.
        let mut refused_token = false;
        let mut renew = false;
        loop {
            attempt += 1;
            let left = Self::left(budget, started, self.clock.now());
            let result = self
                .attempt(request, std::mem::take(&mut renew), left)
                .await;
            let failure = match result {
                Ok(answer)
                    if answer.status == StatusCode::UNAUTHORIZED
                        && request.bearer
                        && !refused_token =>
                {
                    tracing::info!(target: "refreshctl::lcs", call = request.what, attempt, status = 401, "the token was refused; signing in again");
                    crate::metrics::retry("lcs", request.what, "unauthorized");
                    refused_token = true;
                    renew = true;
                    continue;
                }
                Ok(answer) if answer.status == StatusCode::UNAUTHORIZED && request.bearer => {
                    return Err(AdapterError::Unavailable(format!(
                        "LCS refused the credentials for {} (HTTP 401): check that the user is an owner or environment manager of the project",
                        request.what
                    )));
                }
                Ok(answer) if answer.status == StatusCode::TOO_MANY_REQUESTS => {
                    Failure::Throttled(answer.retry_after)
                }
                Ok(answer)
                    if answer.status.is_success()
                        && request.bearer
                        && !answer.body.is_empty()
                        && serde_json::from_slice::<serde::de::IgnoredAny>(&answer.body)
                            .is_err() =>
                {
                    Failure::Lost(format!(
                        "LCS answered HTTP {} with a body that is not JSON",
                        answer.status
                    ))
                }
                Ok(answer) if answer.status.is_server_error() => {
                    Failure::Lost(format!("HTTP {}", answer.status))
                }
                Ok(answer) => {
                    tracing::debug!(target: "refreshctl::lcs", call = request.what, url = %url, attempt, status = answer.status.as_u16(), "answered");
                    return Ok(Answer {
                        status: answer.status,
                        body: answer.body,
                    });
                }
                Err(failure) => failure,
            };
            let left = Self::left(budget, started, self.clock.now());
            let (wait, error) = match failure {
                Failure::Auth(error) => return Err(error),
                Failure::Unreadable(message) => return Err(AdapterError::State(message)),
                // Retrying would read the same answer again.
                Failure::TooLarge(message) if request.kind == Kind::Repeatable => {
                    return Err(AdapterError::BadAnswer(format!(
                        "{}: {message}",
                        request.what
                    )));
                }
                Failure::Throttled(retry_after) => {
                    let wait = retry_after.unwrap_or(self.policy.default_retry_after);
                    (wait, AdapterError::Throttled(wait))
                }
                Failure::Lost(message) | Failure::TooLarge(message)
                    if request.kind == Kind::Once =>
                {
                    tracing::warn!(target: "refreshctl::lcs", call = request.what, url = %url, attempt, error = %message, "no answer to a call that changes an environment; not sent again");
                    return Err(AdapterError::Transient(format!(
                        "{}: {message}",
                        request.what
                    )));
                }
                // Not received, or received by a call that may be repeated: back off and retry.
                Failure::NotSent(message) | Failure::Lost(message) | Failure::TooLarge(message) => {
                    (self.backoff(attempt - 1), AdapterError::Transient(message))
                }
            };
            // Never a wait past the deadline: the failure goes to the executor instead.
            if wait >= left {
                return Err(give_up(request, &url, attempt, wait, budget, error));
            }
            tracing::info!(target: "refreshctl::lcs", call = request.what, url = %url, attempt, error = %error, wait_ms = u64::try_from(wait.as_millis()).unwrap_or(u64::MAX), "retrying");
            let reason = if matches!(error, AdapterError::Throttled(_)) {
                "throttled"
            } else {
                "transient"
            };
            crate::metrics::retry("lcs", request.what, reason);
            self.wait(wait).await;
        }
    }

    /// The longest one attempt may take in wall time: what is left of the call's deadline, at
    /// least `min_attempt` (on a simulated clock waiting on the network takes no simulated time,
    /// so it is not capped).
    fn attempt_limit(&self, left: Duration) -> Option<Duration> {
        if self.clock.is_simulated() {
            return None;
        }
        let now = self.clock.now();
        let until = TimeDelta::from_std(left)
            .ok()
            .and_then(|left| now.checked_add_signed(left))?;
        Some(self.clock.wall_wait(until).max(self.policy.min_attempt))
    }

    async fn attempt(
        &self,
        request: &Request,
        renew: bool,
        left: Duration,
    ) -> Result<Raw, Failure> {
        let mut builder = self
            .client
            .request(request.method.clone(), request.url.clone())
            .header(
                "x-ms-version",
                if request.bearer {
                    crate::lcs::API_VERSION
                } else {
                    "2019-12-12"
                },
            );
        if let Some(limit) = self.attempt_limit(left) {
            builder = builder.timeout(limit);
        }
        if request.bearer {
            let token = self.bearer(renew).await.map_err(Failure::Auth)?;
            builder = builder
                .bearer_auth(token)
                .header("accept", "application/json");
        }
        builder = match &request.body {
            Some(RequestBody::Json(value)) => builder.json(value),
            Some(RequestBody::Block(BlockData::Bytes(bytes))) => builder.body(bytes.clone()),
            Some(RequestBody::Block(BlockData::File(range))) => {
                builder.body(reqwest::Body::wrap(FileBody::new(range)))
            }
            Some(RequestBody::Text(text)) => builder.body(text.clone()),
            None => builder.header("content-length", "0"),
        };
        let shown = || format!("{} {}", request.method, shown_url(&request.url));
        let mut response = builder.send().await.map_err(|error| {
            if let Some(unreadable) = find_source::<Unreadable>(&error) {
                return Failure::Unreadable(unreadable.0.clone());
            }
            let (sent, what) = transport_failure(&error);
            let message = self.redactor.text(&format!("{}: {what}", shown()));
            if sent {
                Failure::Lost(message)
            } else {
                Failure::NotSent(message)
            }
        })?;
        let status = response.status();
        let retry_after = response
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| retry_after(value, self.clock.now()));
        if response
            .content_length()
            .is_some_and(|length| length > MAX_ANSWER as u64)
        {
            return Err(Failure::TooLarge(too_large(status)));
        }
        let mut body = Vec::new();
        loop {
            match response.chunk().await {
                Ok(Some(chunk)) => {
                    if body.len() + chunk.len() > MAX_ANSWER {
                        return Err(Failure::TooLarge(too_large(status)));
                    }
                    body.extend_from_slice(&chunk);
                }
                Ok(None) => break,
                Err(error) => {
                    let (_, what) = transport_failure(&error);
                    return Err(Failure::Lost(
                        self.redactor
                            .text(&format!("{}: the answer was cut off: {what}", shown())),
                    ));
                }
            }
        }
        Ok(Raw {
            status,
            retry_after,
            body: self.redactor.body(body),
        })
    }
}

/// The failure a call ends with when the next wait would go past its deadline (`budget`).
fn give_up(
    request: &Request,
    url: &str,
    attempt: u32,
    wait: Duration,
    budget: Duration,
    error: AdapterError,
) -> AdapterError {
    match error {
        AdapterError::Transient(message) => {
            tracing::warn!(target: "refreshctl::lcs", call = request.what, url = %url, attempt, error = %message, "giving up on this call for now");
            AdapterError::Transient(format!(
                "{}: {message} (after {attempt} attempts)",
                request.what
            ))
        }
        other => {
            tracing::warn!(target: "refreshctl::lcs", call = request.what, url = %url, attempt, "LCS asked to retry after {}, past the retry deadline of {}; giving up on this call for now", shown_wait(wait), shown_wait(budget));
            other
        }
    }
}

fn too_large(status: StatusCode) -> String {
    format!(
        "LCS answered HTTP {status} with a body larger than {} MiB, which refreshctl does not read",
        MAX_ANSWER / (1024 * 1024)
    )
}

/// What went wrong with a request that has no answer, from reqwest's error and its sources
/// (hyper, the connector, the system, rustls), and whether the request may have reached the
/// peer (a refused connection or a failed lookup proves it did not).
#[must_use]
pub fn transport_failure(error: &reqwest::Error) -> (bool, String) {
    let mut sources: Vec<&(dyn std::error::Error + 'static)> = Vec::new();
    let mut next = std::error::Error::source(error);
    while let Some(source) = next {
        sources.push(source);
        // An `io::Error` hides what it wraps from `source()`: look inside it too.
        next = source
            .downcast_ref::<std::io::Error>()
            .and_then(|io| io.get_ref())
            .map(|inner| inner as &(dyn std::error::Error + 'static))
            .or_else(|| source.source());
    }
    let io_kind = sources.iter().find_map(|source| {
        source
            .downcast_ref::<std::io::Error>()
            .map(std::io::Error::kind)
    });
    let tls = sources
        .iter()
        .find_map(|source| source.downcast_ref::<rustls::Error>());
    let texts: Vec<String> = sources.iter().map(ToString::to_string).collect();
    let said = |part: &str| texts.iter().any(|text| text.to_lowercase().contains(part));
    let connect = error.is_connect();
    if let Some(tls) = tls {
        return (false, format!("TLS failure: {tls}"));
    }
    if said("dns error") || said("failed to lookup address") || said("name or service not known") {
        return (
            false,
            "DNS failure: the host name could not be resolved".into(),
        );
    }
    if error.is_timeout() || io_kind == Some(std::io::ErrorKind::TimedOut) {
        return if connect {
            (false, "timed out while connecting".into())
        } else {
            (true, "timed out waiting for the answer".into())
        };
    }
    match io_kind {
        Some(std::io::ErrorKind::ConnectionRefused) => {
            return (false, "connection refused".into());
        }
        Some(std::io::ErrorKind::ConnectionReset) => return (true, "connection reset".into()),
        Some(std::io::ErrorKind::ConnectionAborted) => {
            return (true, "connection aborted".into());
        }
        Some(std::io::ErrorKind::BrokenPipe) => {
            return (true, "connection closed while sending (broken pipe)".into());
        }
        _ => {}
    }
    if said("certificate") || said("tls") || said("handshake") {
        return (
            false,
            format!("TLS failure: {}", texts.last().cloned().unwrap_or_default()),
        );
    }
    if said("connection closed before message completed") || said("incomplete message") {
        return (
            true,
            "the connection closed before the answer was complete".into(),
        );
    }
    let innermost = texts
        .last()
        .cloned()
        // reqwest's own text names the URL, with its query: not shown.
        .unwrap_or_else(|| "the request failed".to_owned());
    if connect {
        (false, format!("cannot connect: {innermost}"))
    } else {
        (true, innermost)
    }
}

struct Raw {
    status: StatusCode,
    retry_after: Option<Duration>,
    body: Vec<u8>,
}

enum Failure {
    /// Signing in failed: not retried here.
    Auth(AdapterError),
    /// HTTP 429; how long to wait, if the answer said.
    Throttled(Option<Duration>),
    /// The request provably did not reach LCS.
    NotSent(String),
    /// The request may have reached LCS; its answer is missing or unusable.
    Lost(String),
    /// The answer's body is larger than `MAX_ANSWER`.
    TooLarge(String),
    /// The local file being sent could not be read: not retried.
    Unreadable(String),
}

/// How much of a package a block's body reads at a time. hyper takes frames until it holds
/// about 400 KiB for the connection, so a block in flight holds two of these at most, whatever
/// the block size.
const READ_AT_ONCE: usize = 256 * 1024;

/// The body of a block that is a range of a package: read `READ_AT_ONCE` bytes at a time as the
/// connection takes them, at its offset (positional reads, so blocks in flight on one open file
/// do not move each other's position). Reading a local file does not wait on the network; like
/// the download's writes, it is done on the runtime's thread.
struct FileBody {
    range: FileRange,
    /// Bytes read so far.
    done: u64,
}

impl FileBody {
    fn new(range: &FileRange) -> Self {
        Self {
            range: range.clone(),
            done: 0,
        }
    }

    fn read(&mut self) -> Result<bytes::Bytes, Unreadable> {
        let left = self.range.len - self.done;
        let mut buffer =
            vec![0; usize::try_from(left).map_or(READ_AT_ONCE, |left| left.min(READ_AT_ONCE))];
        let mut filled = 0;
        while filled < buffer.len() {
            let at = self.range.offset + self.done + filled as u64;
            match read_at(&self.range.file, &mut buffer[filled..], at) {
                Ok(0) => {
                    return Err(Unreadable(format!(
                        "cannot read `{}`: it became shorter while it was uploaded (it ends before byte {})",
                        self.range.path.display(),
                        self.range.offset + self.range.len
                    )));
                }
                Ok(read) => filled += read,
                Err(error) if error.kind() == std::io::ErrorKind::Interrupted => {}
                Err(error) => {
                    return Err(Unreadable(format!(
                        "cannot read `{}`: {error}",
                        self.range.path.display()
                    )));
                }
            }
        }
        self.done += filled as u64;
        Ok(buffer.into())
    }
}

impl http_body::Body for FileBody {
    type Data = bytes::Bytes;
    type Error = Unreadable;

    fn poll_frame(
        self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<http_body::Frame<bytes::Bytes>, Unreadable>>> {
        let this = self.get_mut();
        std::task::Poll::Ready(
            (this.done < this.range.len).then(|| this.read().map(http_body::Frame::data)),
        )
    }

    fn is_end_stream(&self) -> bool {
        self.done == self.range.len
    }

    fn size_hint(&self) -> http_body::SizeHint {
        http_body::SizeHint::with_exact(self.range.len - self.done)
    }
}

#[cfg(unix)]
fn read_at(file: &std::fs::File, buffer: &mut [u8], offset: u64) -> std::io::Result<usize> {
    std::os::unix::fs::FileExt::read_at(file, buffer, offset)
}

#[cfg(windows)]
fn read_at(file: &std::fs::File, buffer: &mut [u8], offset: u64) -> std::io::Result<usize> {
    std::os::windows::fs::FileExt::seek_read(file, buffer, offset)
}

/// A package that could not be read while it was sent; what the HTTP client's error carries.
#[derive(Debug)]
struct Unreadable(String);

impl std::fmt::Display for Unreadable {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.write_str(&self.0)
    }
}

impl std::error::Error for Unreadable {}

/// The first error of type `E` among the sources of `error`.
fn find_source<E: std::error::Error + 'static>(error: &reqwest::Error) -> Option<&E> {
    let mut next = std::error::Error::source(error);
    while let Some(source) = next {
        if let Some(found) = source.downcast_ref::<E>() {
            return Some(found);
        }
        next = source.source();
    }
    None
}

/// `retry-after`: whole seconds, or an HTTP date; the wait it asks for (none for a date past).
/// Any number of seconds is read without overflow.
#[must_use]
pub fn retry_after(value: &str, now: DateTime<Utc>) -> Option<Duration> {
    let value = value.trim();
    if !value.is_empty() && value.bytes().all(|byte| byte.is_ascii_digit()) {
        return Some(Duration::from_secs(
            value.parse::<u64>().unwrap_or(u64::MAX),
        ));
    }
    DateTime::parse_from_rfc2822(value)
        .ok()
        .map(|at| (at.with_timezone(&Utc) - now).to_std().unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_in_seconds_or_as_a_date() {
        let now = "2026-11-24T12:00:00Z".parse::<DateTime<Utc>>().unwrap();
        let table = [
            ("267", Some(Duration::from_secs(267))),
            (" 0 ", Some(Duration::ZERO)),
            ("864000", Some(Duration::from_hours(240))),
            (
                "99999999999999999999999",
                Some(Duration::from_secs(u64::MAX)),
            ),
            (
                "Tue, 24 Nov 2026 12:00:30 GMT",
                Some(Duration::from_secs(30)),
            ),
            ("Tue, 24 Nov 2026 11:00:00 GMT", Some(Duration::ZERO)),
            ("-1", None),
            ("1.5", None),
            ("soon", None),
            ("", None),
        ];
        for (value, wait) in table {
            assert_eq!(retry_after(value, now), wait, "{value:?}");
        }
    }

    #[test]
    fn backoff_doubles_up_to_the_cap_with_jitter() {
        let http = Http::new(
            "http://127.0.0.1:1",
            Credentials {
                auth_url: String::new(),
                client_id: None,
                username: None,
                password: None,
                access_token: Some("t".into()),
                refresh_token: None,
                client_secret: None,
            },
            RetryPolicy::default(),
            Clock::System,
        )
        .unwrap();
        for attempt in 0..12 {
            let wait = http.backoff(attempt);
            let base = Duration::from_secs(1u64 << attempt.min(16)).min(Duration::from_mins(1));
            assert!(wait <= base && wait >= base / 2, "{attempt}: {wait:?}");
        }
    }
}
