//! One LCS call with its retries: 429 waits for `retry-after` (seconds or an HTTP date);
//! connection failures, timeouts, 5xx and unreadable bodies are retried with capped exponential
//! backoff and jitter until the call's deadline; other 4xx are permanent. A call that changes an
//! environment is retried only when it provably was not received (connection refused, 429);
//! otherwise its lost answer goes back to the executor, which settles it from history.
//! Every attempt is a tracing event; no event or error holds a token or a SAS signature.

use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use reqwest::{Method, StatusCode};
use tokio::sync::Mutex;

use super::auth::{Credentials, Token, acquire};
use crate::adapter::AdapterError;
use crate::clock::Clock;

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
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            first_wait: Duration::from_secs(1),
            max_wait: Duration::from_mins(1),
            deadline: Duration::from_mins(10),
            default_retry_after: Duration::from_secs(10),
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
    Bytes(bytes::Bytes),
    Text(String),
}

pub struct Http {
    pub client: reqwest::Client,
    pub api_url: String,
    pub credentials: Credentials,
    pub policy: RetryPolicy,
    pub clock: Clock,
    token: Mutex<Option<Token>>,
    jitter: std::sync::Mutex<u64>,
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
        let seed = u64::from(std::process::id()) ^ u64::from(Utc::now().timestamp_subsec_nanos());
        Ok(Self {
            client,
            api_url: api_url.trim_end_matches('/').to_owned(),
            credentials,
            policy,
            clock,
            token: Mutex::new(token),
            jitter: std::sync::Mutex::new(seed | 1),
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
                match acquire(&self.client, &self.credentials, &self.api_url, Some(&refresh), &self.clock).await {
                    Ok(renewed) => Ok(renewed),
                    // A refused refresh token falls back to the password, where there is one.
                    Err(error) if self.credentials.password.is_none() => Err(error),
                    Err(_) => acquire(&self.client, &self.credentials, &self.api_url, None, &self.clock).await,
                }
            }
            None if token.is_some() && self.credentials.password.is_none() => {
                Err(AdapterError::Unavailable(
                    "LCS refused the access token (expired?) and there is no refresh token or password to get a new one".into(),
                ))
            }
            None => acquire(&self.client, &self.credentials, &self.api_url, None, &self.clock).await,
        }?;
        tracing::info!(target: "refreshctl::lcs", expires = ?renewed.expires, "signed in to LCS");
        let access = renewed.access.clone();
        *token = Some(renewed);
        Ok(access)
    }

    /// The next wait of a backoff: `first_wait` doubled per attempt, capped, with jitter (a
    /// random part of up to half of it).
    fn backoff(&self, attempt: u32) -> Duration {
        let base = self
            .policy
            .first_wait
            .saturating_mul(1_u32 << attempt.min(16))
            .min(self.policy.max_wait);
        let mut state = self
            .jitter
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        *state ^= *state << 13;
        *state ^= *state >> 7;
        *state ^= *state << 17;
        let fraction = f64::from(u32::try_from(*state % 1000).unwrap_or(0)) / 2000.0;
        base.mul_f64(1.0 - fraction)
    }

    async fn wait(&self, wait: Duration) {
        let until = self.clock.now() + TimeDelta::from_std(wait).unwrap_or(TimeDelta::zero());
        self.clock.sleep_until(until).await;
    }

    /// Sends a request until it has an answer worth returning; see the module's notes.
    pub async fn send(&self, request: &Request) -> Result<Answer, AdapterError> {
        let started = self.clock.now();
        let deadline =
            started + TimeDelta::from_std(self.policy.deadline).unwrap_or(TimeDelta::hours(1));
        let mut attempt: u32 = 0;
        // A 401 renews the token once for the next attempt; a second 401 is final.
        let mut refused_token = false;
        let mut renew = false;
        loop {
            attempt += 1;
            let result = self.attempt(request, std::mem::take(&mut renew)).await;
            let failure = match result {
                Ok(answer)
                    if answer.status == StatusCode::UNAUTHORIZED
                        && request.bearer
                        && !refused_token =>
                {
                    tracing::info!(target: "refreshctl::lcs", call = request.what, attempt, status = 401, "the token was refused; signing in again");
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
                    tracing::debug!(target: "refreshctl::lcs", call = request.what, attempt, status = answer.status.as_u16(), "answered");
                    return Ok(Answer {
                        status: answer.status,
                        body: answer.body,
                    });
                }
                Err(failure) => failure,
            };
            let now = self.clock.now();
            let (wait, error) = match failure {
                Failure::Auth(error) => return Err(error),
                Failure::Throttled(retry_after) => {
                    let wait = retry_after
                        .and_then(|at| (at - now).to_std().ok())
                        .unwrap_or(self.policy.default_retry_after);
                    (wait, AdapterError::Throttled(wait))
                }
                Failure::Lost(message) if request.kind == Kind::Once => {
                    tracing::warn!(target: "refreshctl::lcs", call = request.what, attempt, error = %message, "no answer to a call that changes an environment; not sent again");
                    return Err(AdapterError::Transient(format!(
                        "{}: {message}",
                        request.what
                    )));
                }
                // Not received, or received by a call that may be repeated: back off and retry.
                Failure::NotSent(message) | Failure::Lost(message) => {
                    (self.backoff(attempt - 1), AdapterError::Transient(message))
                }
            };
            let give_up = now + TimeDelta::from_std(wait).unwrap_or(TimeDelta::zero()) > deadline;
            if give_up {
                tracing::warn!(target: "refreshctl::lcs", call = request.what, attempt, error = %error, "giving up on this call for now");
                return Err(match error {
                    AdapterError::Transient(message) => AdapterError::Transient(format!(
                        "{}: {message} (after {attempt} attempts)",
                        request.what
                    )),
                    other => other,
                });
            }
            tracing::info!(target: "refreshctl::lcs", call = request.what, attempt, error = %error, wait_ms = u64::try_from(wait.as_millis()).unwrap_or(u64::MAX), "retrying");
            self.wait(wait).await;
        }
    }

    async fn attempt(&self, request: &Request, renew: bool) -> Result<Raw, Failure> {
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
        if request.bearer {
            let token = self.bearer(renew).await.map_err(Failure::Auth)?;
            builder = builder
                .bearer_auth(token)
                .header("accept", "application/json");
        }
        builder = match &request.body {
            Some(RequestBody::Json(value)) => builder.json(value),
            Some(RequestBody::Bytes(bytes)) => builder.body(bytes.clone()),
            Some(RequestBody::Text(text)) => builder.body(text.clone()),
            None => builder.header("content-length", "0"),
        };
        let response = builder.send().await.map_err(|error| {
            let connect = error.is_connect();
            let message = error.without_url().to_string();
            if connect {
                Failure::NotSent(format!("cannot connect: {message}"))
            } else {
                Failure::Lost(message)
            }
        })?;
        let status = response.status();
        let retry_after = response
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| retry_after(value, self.clock.now()));
        let body = response.bytes().await.map_err(|error| {
            Failure::Lost(format!("the answer was cut off: {}", error.without_url()))
        })?;
        Ok(Raw {
            status,
            retry_after,
            body: body.to_vec(),
        })
    }
}

struct Raw {
    status: StatusCode,
    retry_after: Option<DateTime<Utc>>,
    body: Vec<u8>,
}

enum Failure {
    /// Signing in failed: not retried here.
    Auth(AdapterError),
    /// HTTP 429; the time to try again, if the answer said.
    Throttled(Option<DateTime<Utc>>),
    /// The request provably did not reach LCS.
    NotSent(String),
    /// The request may have reached LCS; its answer is missing or unusable.
    Lost(String),
}

/// `retry-after`: whole seconds, or an HTTP date.
#[must_use]
pub fn retry_after(value: &str, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
    let value = value.trim();
    if let Ok(seconds) = value.parse::<i64>() {
        return (seconds >= 0).then(|| now + TimeDelta::seconds(seconds));
    }
    DateTime::parse_from_rfc2822(value)
        .ok()
        .map(|at| at.with_timezone(&Utc).max(now))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_in_seconds_or_as_a_date() {
        let now = "2026-11-24T12:00:00Z".parse::<DateTime<Utc>>().unwrap();
        assert_eq!(retry_after("267", now), Some(now + TimeDelta::seconds(267)));
        assert_eq!(
            retry_after("Tue, 24 Nov 2026 12:00:30 GMT", now),
            Some(now + TimeDelta::seconds(30))
        );
        assert_eq!(retry_after("Tue, 24 Nov 2026 11:00:00 GMT", now), Some(now));
        assert_eq!(retry_after("-1", now), None);
        assert_eq!(retry_after("soon", now), None);
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
