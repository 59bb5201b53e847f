//! One Power Platform call with its retries, and the client-credentials tokens it carries.
//!
//! 429 waits for `Retry-After` (seconds or an HTTP date; power-platform-api.md 2.8); a 401
//! renews the token once and sends again; connection failures, timeouts and 5xx are retried
//! with capped exponential backoff until the call's deadline, except for a call that changes an
//! environment, whose lost answer goes back to the executor (settled from the operations list,
//! never sent twice). Tokens are renewed before they expire (a fifth of their life, at most five
//! minutes, before), so waits of a day never end on an expired token. Answers pass the
//! redactor as they come in; URLs are shown without query values.

use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use reqwest::{Method, StatusCode};
use tokio::sync::Mutex;

use super::super::lcs::{MAX_ANSWER, retry_after, transport_failure};
use crate::adapter::redact::{Redactor, shown_url, shown_url_text};
use crate::adapter::{AdapterError, RetryPolicy, shown_wait};
use crate::clock::Clock;
use crate::power_platform::TokenAnswer;

/// Which token a call carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Audience {
    /// The Power Platform API.
    Api,
    /// The legacy admin API (administration mode only).
    Bap,
}

/// Whether a call may be sent again when its answer is lost.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Repeatable,
    /// Copy and restore: never sent twice unless provably not received.
    Once,
}

pub struct Request {
    pub method: Method,
    pub url: reqwest::Url,
    pub what: &'static str,
    pub kind: Kind,
    pub audience: Audience,
    pub body: Option<serde_json::Value>,
}

/// An answer read in full, with the headers that hand over an operation.
pub struct Answer {
    pub status: StatusCode,
    pub operation_location: Option<String>,
    pub location: Option<String>,
    pub body: Vec<u8>,
}

/// The service principal (from `PP_*`).
#[derive(Clone)]
pub struct Principal {
    pub token_url: String,
    pub client_id: String,
    pub client_secret: String,
    pub api_scope: String,
    pub bap_scope: String,
}

/// Never prints the secret.
impl std::fmt::Debug for Principal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Principal")
            .field("token_url", &self.token_url)
            .field("client_id", &self.client_id)
            .field("client_secret", &"<set>")
            .finish_non_exhaustive()
    }
}

struct Token {
    access: String,
    expires: Option<DateTime<Utc>>,
    margin: TimeDelta,
}

impl Token {
    fn fresh(&self, now: DateTime<Utc>) -> bool {
        self.expires
            .is_none_or(|expires| now + self.margin < expires)
    }
}

pub struct Http {
    pub client: reqwest::Client,
    pub principal: Principal,
    pub policy: RetryPolicy,
    pub clock: Clock,
    pub redactor: Redactor,
    api_token: Mutex<Option<Token>>,
    bap_token: Mutex<Option<Token>>,
    jitter: crate::adapter::backoff::Backoff,
}

enum Failure {
    Auth(AdapterError),
    Throttled(Option<Duration>),
    NotSent(String),
    Lost(String),
}

impl Http {
    pub fn new(
        principal: Principal,
        policy: RetryPolicy,
        clock: Clock,
    ) -> Result<Self, AdapterError> {
        let client = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .read_timeout(Duration::from_mins(2))
            .user_agent(concat!("refreshctl/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|error| AdapterError::Unavailable(error.without_url().to_string()))?;
        let redactor = Redactor::new([Some(principal.client_secret.as_str())]);
        Ok(Self {
            client,
            principal,
            policy,
            clock,
            redactor,
            api_token: Mutex::new(None),
            bap_token: Mutex::new(None),
            jitter: crate::adapter::backoff::Backoff::new(),
        })
    }

    /// A token for `audience` that will not expire during the next call: the current one, or a
    /// new one when it is close to expiry or was refused.
    pub async fn bearer(&self, audience: Audience, refused: bool) -> Result<String, AdapterError> {
        let (slot, scope) = match audience {
            Audience::Api => (&self.api_token, &self.principal.api_scope),
            Audience::Bap => (&self.bap_token, &self.principal.bap_scope),
        };
        let mut token = slot.lock().await;
        let now = self.clock.now();
        if let Some(current) = token.as_ref()
            && current.fresh(now)
            && !refused
        {
            return Ok(current.access.clone());
        }
        let renewed = self.acquire(scope).await?;
        tracing::info!(target: "refreshctl::power_platform", expires = ?renewed.expires, scope = %scope, "signed in to the Power Platform");
        let access = renewed.access.clone();
        *token = Some(renewed);
        Ok(access)
    }

    /// The client-credentials grant (power-platform-api.md 1.1).
    async fn acquire(&self, scope: &str) -> Result<Token, AdapterError> {
        let principal = &self.principal;
        let form = [
            ("grant_type", "client_credentials"),
            ("client_id", principal.client_id.as_str()),
            ("client_secret", principal.client_secret.as_str()),
            ("scope", scope),
        ];
        let shown = shown_url_text(&principal.token_url);
        let mut response = self
            .client
            .post(&principal.token_url)
            .form(&form)
            .timeout(Duration::from_mins(1))
            .send()
            .await
            .map_err(|error| {
                AdapterError::Unavailable(self.redactor.text(&format!(
                    "the token endpoint {shown} cannot be reached: {}",
                    transport_failure(&error).1
                )))
            })?;
        let status = response.status();
        let mut body = Vec::new();
        while let Ok(Some(chunk)) = response.chunk().await {
            if body.len() + chunk.len() > MAX_ANSWER {
                return Err(AdapterError::Unavailable(format!(
                    "the token endpoint {shown} answered HTTP {status} with a body that is too large"
                )));
            }
            body.extend_from_slice(&chunk);
        }
        let body = self.redactor.body(body);
        if !status.is_success() {
            let description = serde_json::from_slice::<serde_json::Value>(&body)
                .ok()
                .and_then(|value| {
                    value
                        .get("error_description")
                        .or_else(|| value.get("error"))
                        .and_then(|text| text.as_str().map(str::to_owned))
                })
                .unwrap_or_else(|| format!("HTTP {status}"));
            let first: String = description
                .lines()
                .next()
                .unwrap_or_default()
                .chars()
                .take(500)
                .collect();
            return Err(AdapterError::Unavailable(format!(
                "sign-in to the Power Platform with the client credentials of `{}` was refused: {first}",
                principal.client_id
            )));
        }
        let answer: TokenAnswer = serde_json::from_slice(&body).map_err(|_| {
            AdapterError::Unavailable(format!(
                "the token endpoint answered HTTP {status} with a body that is not a token"
            ))
        })?;
        self.redactor.learn(&answer.access_token);
        let lifetime = answer
            .expires_in
            .as_ref()
            .and_then(|value| match value {
                serde_json::Value::Number(number) => number.as_i64(),
                serde_json::Value::String(text) => text.parse().ok(),
                _ => None,
            })
            .map(TimeDelta::seconds);
        let now = self.clock.now();
        Ok(Token {
            access: answer.access_token,
            expires: lifetime.map(|lifetime| now + lifetime),
            margin: lifetime.map_or(TimeDelta::minutes(5), |lifetime| {
                (lifetime / 5).min(TimeDelta::minutes(5))
            }),
        })
    }

    fn backoff(&self, attempt: u32) -> Duration {
        self.jitter.next(&self.policy, attempt)
    }

    async fn wait(&self, wait: Duration) {
        crate::adapter::backoff::sleep(&self.clock, wait).await;
    }

    /// Sends a request until it has an answer worth returning; see the module's notes.
    pub async fn send(&self, request: &Request) -> Result<Answer, AdapterError> {
        let started = self.clock.now();
        let budget = self.policy.deadline;
        let url = shown_url(&request.url);
        let mut attempt: u32 = 0;
        let mut refused_token = false;
        let mut renew = false;
        loop {
            attempt += 1;
            let failure = match self.attempt(request, std::mem::take(&mut renew)).await {
                Ok(answer) if answer.status == StatusCode::UNAUTHORIZED && !refused_token => {
                    tracing::info!(target: "refreshctl::power_platform", call = request.what, attempt, status = 401, "the token was refused; signing in again");
                    refused_token = true;
                    renew = true;
                    continue;
                }
                Ok(answer) if answer.status == StatusCode::UNAUTHORIZED => {
                    return Err(AdapterError::Unavailable(format!(
                        "the Power Platform refused the token for {} twice (HTTP 401): check that the token is for `{}` (the audience) and that the app is registered as a management application",
                        request.what,
                        match request.audience {
                            Audience::Api => &self.principal.api_scope,
                            Audience::Bap => &self.principal.bap_scope,
                        }
                    )));
                }
                Ok(answer) if answer.status == StatusCode::TOO_MANY_REQUESTS => {
                    Failure::Throttled(answer.retry_after)
                }
                Ok(answer) if answer.status.is_server_error() => {
                    Failure::Lost(format!("HTTP {}", answer.status))
                }
                Ok(answer) => {
                    tracing::debug!(target: "refreshctl::power_platform", call = request.what, url = %url, attempt, status = answer.status.as_u16(), "answered");
                    return Ok(answer.answer);
                }
                Err(failure) => failure,
            };
            let left =
                budget.saturating_sub((self.clock.now() - started).to_std().unwrap_or_default());
            let (wait, error) = match failure {
                Failure::Auth(error) => return Err(error),
                Failure::Throttled(retry_after) => {
                    let wait = retry_after.unwrap_or(self.policy.default_retry_after);
                    (wait, AdapterError::Throttled(wait))
                }
                Failure::Lost(message) if request.kind == Kind::Once => {
                    tracing::warn!(target: "refreshctl::power_platform", call = request.what, url = %url, attempt, error = %message, "no answer to a call that changes an environment; not sent again");
                    return Err(AdapterError::Transient(format!(
                        "{}: {message}",
                        request.what
                    )));
                }
                Failure::NotSent(message) | Failure::Lost(message) => {
                    (self.backoff(attempt - 1), AdapterError::Transient(message))
                }
            };
            if wait >= left {
                return Err(match error {
                    AdapterError::Transient(message) => AdapterError::Transient(format!(
                        "{}: {message} (after {attempt} attempts)",
                        request.what
                    )),
                    other => {
                        tracing::warn!(target: "refreshctl::power_platform", call = request.what, attempt, "the Power Platform asked to retry after {}, past the retry deadline of {}", shown_wait(wait), shown_wait(budget));
                        other
                    }
                });
            }
            tracing::info!(target: "refreshctl::power_platform", call = request.what, url = %url, attempt, error = %error, wait_ms = u64::try_from(wait.as_millis()).unwrap_or(u64::MAX), "retrying");
            self.wait(wait).await;
        }
    }

    async fn attempt(&self, request: &Request, renew: bool) -> Result<Raw, Failure> {
        let token = self
            .bearer(request.audience, renew)
            .await
            .map_err(Failure::Auth)?;
        let mut builder = self
            .client
            .request(request.method.clone(), request.url.clone())
            .bearer_auth(token)
            .header("accept", "application/json");
        builder = match &request.body {
            Some(value) => builder.json(value),
            None => builder.header("content-length", "0"),
        };
        let shown = || format!("{} {}", request.method, shown_url(&request.url));
        let mut response = builder.send().await.map_err(|error| {
            let (sent, what) = transport_failure(&error);
            let message = self.redactor.text(&format!("{}: {what}", shown()));
            if sent {
                Failure::Lost(message)
            } else {
                Failure::NotSent(message)
            }
        })?;
        let status = response.status();
        let header = |name: &str| {
            response
                .headers()
                .get(name)
                .and_then(|value| value.to_str().ok())
                .map(|value| self.redactor.text(value.trim()))
                .filter(|value| !value.is_empty())
        };
        let retry_after =
            header("retry-after").and_then(|value| retry_after(&value, self.clock.now()));
        let operation_location = header("operation-location");
        let location = header("location");
        let mut body = Vec::new();
        loop {
            match response.chunk().await {
                Ok(Some(chunk)) => {
                    if body.len() + chunk.len() > MAX_ANSWER {
                        return Err(Failure::Lost(format!(
                            "the Power Platform answered HTTP {status} with a body larger than {} MiB",
                            MAX_ANSWER / (1024 * 1024)
                        )));
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
            answer: Answer {
                status,
                operation_location,
                location,
                body: self.redactor.body(body),
            },
        })
    }
}

struct Raw {
    status: StatusCode,
    retry_after: Option<Duration>,
    answer: Answer,
}
