//! Tokens for the LCS API (lcs-api.md 1.2): the password grant against the v1 endpoint
//! (`resource=`) or the v2 one (`scope=`), or a given token; refreshed with the refresh token
//! before it expires, so a long wait on a deployment never ends on an expired token.

use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};

use super::super::AdapterError;
use super::http::{MAX_ANSWER, transport_failure};
use crate::adapter::redact::{Redactor, shown_url_text};
use crate::clock::Clock;
use crate::lcs::TokenAnswer;

/// How refreshctl signs in to LCS (from `LCS_*` environment variables).
#[derive(Clone)]
pub struct Credentials {
    /// The token endpoint: `…/oauth2/token` (v1) or `…/oauth2/v2.0/token` (v2).
    pub auth_url: String,
    pub client_id: Option<String>,
    pub username: Option<String>,
    pub password: Option<String>,
    /// The app registration's client secret (`LCS_CLIENT_SECRET`), for apps Entra requires one
    /// of in the password grant; sent only when set.
    pub client_secret: Option<String>,
    /// A token obtained elsewhere (`LCS_ACCESS_TOKEN`), used until it is refused or expires.
    pub access_token: Option<String>,
    pub refresh_token: Option<String>,
}

/// Never prints a secret, even in debug output.
impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let shown = |secret: &Option<String>| secret.as_ref().map(|_| "<set>");
        f.debug_struct("Credentials")
            .field("auth_url", &self.auth_url)
            .field("client_id", &self.client_id)
            .field("username", &self.username)
            .field("password", &shown(&self.password))
            .field("client_secret", &shown(&self.client_secret))
            .field("access_token", &shown(&self.access_token))
            .field("refresh_token", &shown(&self.refresh_token))
            .finish()
    }
}

impl Credentials {
    fn is_v2(&self) -> bool {
        self.auth_url.contains("/v2.0/")
    }
}

/// The token in use.
pub struct Token {
    pub access: String,
    pub refresh: Option<String>,
    /// When it expires, on the adapter's clock; unknown for a given token.
    pub expires: Option<DateTime<Utc>>,
    /// How long before expiry it is renewed: a fifth of its lifetime, at most five minutes.
    pub margin: TimeDelta,
}

impl Token {
    #[must_use]
    pub fn fresh(&self, now: DateTime<Utc>) -> bool {
        self.expires
            .is_none_or(|expires| now + self.margin < expires)
    }
}

/// Asks the token endpoint for a token: with the refresh token when there is one, else with
/// the password. The tokens obtained are taught to `redactor`; errors never carry a secret, even
/// one the endpoint echoes.
pub async fn acquire(
    http: &reqwest::Client,
    credentials: &Credentials,
    api_url: &str,
    refresh: Option<&str>,
    clock: &Clock,
    redactor: &Redactor,
) -> Result<Token, AdapterError> {
    let client_id = credentials.client_id.clone().unwrap_or_default();
    let mut form: Vec<(&str, String)> = vec![("client_id", client_id)];
    if let Some(secret) = &credentials.client_secret {
        form.push(("client_secret", secret.clone()));
    }
    if let Some(refresh) = refresh {
        form.push(("grant_type", "refresh_token".into()));
        form.push(("refresh_token", refresh.to_owned()));
    } else {
        let (Some(username), Some(password)) = (&credentials.username, &credentials.password)
        else {
            return Err(AdapterError::Unavailable(
                "no way to sign in to LCS: set LCS_USERNAME and LCS_PASSWORD (with LCS_CLIENT_ID), or LCS_ACCESS_TOKEN".into(),
            ));
        };
        form.push(("grant_type", "password".into()));
        form.push(("username", username.clone()));
        form.push(("password", password.clone()));
        if credentials.is_v2() {
            // Microsoft's documented scope has the double slash (lcs-api.md 1.2).
            form.push((
                "scope",
                format!("{}//.default offline_access", api_url.trim_end_matches('/')),
            ));
        } else {
            form.push(("resource", api_url.trim_end_matches('/').to_owned()));
            form.push(("scope", "openid".into()));
        }
    }
    let grant = if refresh.is_some() {
        "refresh token"
    } else {
        "password"
    };
    let shown = shown_url_text(&credentials.auth_url);
    tracing::debug!(target: "refreshctl::lcs", grant, url = %shown, "requesting a token");
    let mut response = http
        .post(&credentials.auth_url)
        .form(&form)
        .timeout(Duration::from_mins(1))
        .send()
        .await
        .map_err(|error| {
            AdapterError::Unavailable(redactor.text(&format!(
                "the token endpoint {shown} cannot be reached: {}",
                transport_failure(&error).1
            )))
        })?;
    let status = response.status();
    let body = read_capped(&mut response, &shown, status).await?;
    if !status.is_success() {
        return Err(refusal(&redactor.body(body), status, grant));
    }
    let answer: TokenAnswer = serde_json::from_slice(&body).map_err(|_| {
        AdapterError::Unavailable(format!(
            "the token endpoint answered HTTP {status} with a body that is not a token"
        ))
    })?;
    redactor.learn(&answer.access_token);
    if let Some(refresh) = &answer.refresh_token {
        redactor.learn(refresh);
    }
    let now = clock.now();
    let lifetime = answer
        .expires_in
        .and_then(|seconds| i64::try_from(seconds).ok())
        .map(TimeDelta::seconds)
        .or_else(|| {
            answer
                .expires_on
                .and_then(|on| i64::try_from(on).ok())
                .and_then(|on| DateTime::from_timestamp(on, 0))
                .map(|on| on - now)
        });
    Ok(Token {
        access: answer.access_token,
        refresh: answer.refresh_token.or_else(|| refresh.map(str::to_owned)),
        expires: lifetime.map(|lifetime| now + lifetime),
        margin: lifetime.map_or(TimeDelta::minutes(5), |lifetime| {
            (lifetime / 5).min(TimeDelta::minutes(5))
        }),
    })
}

/// The token endpoint's body, up to `MAX_ANSWER` (a read cut off ends it early; the token
/// then does not parse, which says so).
async fn read_capped(
    response: &mut reqwest::Response,
    shown: &str,
    status: reqwest::StatusCode,
) -> Result<Vec<u8>, AdapterError> {
    let mut body = Vec::new();
    while let Ok(Some(chunk)) = response.chunk().await {
        if body.len() + chunk.len() > MAX_ANSWER {
            return Err(AdapterError::Unavailable(format!(
                "the token endpoint {shown} answered HTTP {status} with a body larger than {} MiB",
                MAX_ANSWER / (1024 * 1024)
            )));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// A refused sign-in, from the endpoint's (redacted) body: Entra's `error_description`, first
/// line only (it goes on with trace and correlation ids).
fn refusal(body: &[u8], status: reqwest::StatusCode, grant: &str) -> AdapterError {
    let description = serde_json::from_slice::<serde_json::Value>(body)
        .ok()
        .and_then(|value| {
            value
                .get("error_description")
                .or_else(|| value.get("error"))
                .and_then(|text| text.as_str().map(str::to_owned))
        })
        .unwrap_or_else(|| format!("HTTP {status}"));
    let description: String = description
        .lines()
        .next()
        .unwrap_or_default()
        .chars()
        .take(500)
        .collect();
    AdapterError::Unavailable(format!(
        "sign-in to LCS with the {grant} was refused: {description}"
    ))
}
