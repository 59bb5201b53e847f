//! The redactor: it knows every secret an adapter holds (the configured credentials, every token
//! obtained, every SAS signature handed out) and takes them out of text that comes from the
//! service (answer bodies, error messages, transport errors) where that text enters the
//! program, so a peer that echoes a secret cannot put it into output, logs, state or errors.
//! Also: URLs as they may be shown (no user information, query values hidden).

use std::sync::{Arc, PoisonError, RwLock};

use percent_encoding::{NON_ALPHANUMERIC, utf8_percent_encode};

/// What a secret is replaced with.
pub const REDACTED: &str = "***";

/// Secrets learned while running (tokens, SAS signatures) that are kept: a daemon renews its
/// token every hour for months, and every one of them is checked against every answer.
const LEARNED_KEPT: usize = 32;

/// Shared by clones: a secret learned by one part of an adapter is known to all of it.
#[derive(Clone, Default)]
pub struct Redactor {
    known: Arc<RwLock<Known>>,
}

#[derive(Default)]
struct Known {
    /// The secrets given at the start (credentials), kept for good.
    given: Vec<String>,
    /// The latest secrets learned since, oldest first, at most `LEARNED_KEPT`.
    learned: std::collections::VecDeque<String>,
    /// Every form of every secret above (as is, percent-encoded, JSON- and XML-escaped),
    /// longest first, so a longer form is replaced before a shorter one inside it.
    forms: Vec<String>,
}

impl Known {
    fn rebuild(&mut self) {
        let mut forms: Vec<String> = Vec::new();
        for secret in self.given.iter().chain(self.learned.iter()) {
            for form in forms_of(secret) {
                if !forms.contains(&form) {
                    forms.push(form);
                }
            }
        }
        forms.sort_by_key(|form| std::cmp::Reverse(form.len()));
        self.forms = forms;
    }
}

/// The forms a peer could echo `secret` in.
fn forms_of(secret: &str) -> [String; 5] {
    let percent = utf8_percent_encode(secret, NON_ALPHANUMERIC).to_string();
    let json = serde_json::to_string(secret).unwrap_or_default();
    let json = json
        .strip_prefix('"')
        .and_then(|json| json.strip_suffix('"'))
        .unwrap_or(secret)
        .to_owned();
    let xml = secret
        .replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&apos;");
    let form = percent.replace("%20", "+");
    [secret.to_owned(), percent, form, json, xml]
}

/// Never shows what it knows.
impl std::fmt::Debug for Redactor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Redactor")
    }
}

impl Redactor {
    /// A redactor that knows these secrets for good (absent ones are skipped).
    #[must_use]
    pub fn new<'a>(secrets: impl IntoIterator<Item = Option<&'a str>>) -> Self {
        let mut known = Known {
            given: secrets
                .into_iter()
                .flatten()
                .filter(|secret| !secret.is_empty())
                .map(str::to_owned)
                .collect(),
            ..Known::default()
        };
        known.rebuild();
        Self {
            known: Arc::new(RwLock::new(known)),
        }
    }

    /// Knows `secret` from now on, in each form a peer could echo it in, among the latest
    /// `LEARNED_KEPT` secrets learned.
    pub fn learn(&self, secret: &str) {
        if secret.is_empty() {
            return;
        }
        let mut known = self.known.write().unwrap_or_else(PoisonError::into_inner);
        if known
            .given
            .iter()
            .chain(known.learned.iter())
            .any(|old| old == secret)
        {
            return;
        }
        if known.learned.len() == LEARNED_KEPT {
            known.learned.pop_front();
        }
        known.learned.push_back(secret.to_owned());
        known.rebuild();
    }

    /// `text` without any secret this redactor knows.
    #[must_use]
    pub fn text(&self, text: &str) -> String {
        let known = self.known.read().unwrap_or_else(PoisonError::into_inner);
        let mut text = text.to_owned();
        for form in &known.forms {
            if text.contains(form.as_str()) {
                text = text.replace(form.as_str(), REDACTED);
            }
        }
        text
    }

    /// An answer's body without any secret: a JSON body has every string (and key) cleaned after
    /// parsing, so escapes cannot hide a secret; any other body is cleaned as text.
    #[must_use]
    pub fn body(&self, body: Vec<u8>) -> Vec<u8> {
        if self
            .known
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .forms
            .is_empty()
        {
            return body;
        }
        if let Ok(mut value) = serde_json::from_slice::<serde_json::Value>(&body) {
            return if self.clean_value(&mut value) {
                serde_json::to_vec(&value).unwrap_or_default()
            } else {
                body
            };
        }
        let text = String::from_utf8_lossy(&body);
        let clean = self.text(&text);
        if clean == text {
            body
        } else {
            clean.into_bytes()
        }
    }

    /// Cleans every string in `value`; returns whether anything changed.
    fn clean_value(&self, value: &mut serde_json::Value) -> bool {
        match value {
            serde_json::Value::String(text) => {
                let clean = self.text(text);
                let changed = clean != *text;
                *text = clean;
                changed
            }
            serde_json::Value::Array(items) => items
                .iter_mut()
                .fold(false, |changed, item| self.clean_value(item) | changed),
            serde_json::Value::Object(map) => {
                let mut changed = false;
                let keys: Vec<String> = map.keys().cloned().collect();
                for key in keys {
                    let clean = self.text(&key);
                    if clean != key
                        && let Some(item) = map.remove(&key)
                    {
                        map.insert(clean.clone(), item);
                        changed = true;
                    }
                    if let Some(item) = map.get_mut(&clean) {
                        changed |= self.clean_value(item);
                    }
                }
                changed
            }
            _ => false,
        }
    }
}

/// A URL as it may be shown: without user information, every query value hidden (SAS
/// signatures and the like): `https://host/path?sv=***&sig=***`.
#[must_use]
pub fn shown_url(url: &reqwest::Url) -> String {
    let mut shown = format!("{}://{}", url.scheme(), url.host_str().unwrap_or_default());
    if let Some(port) = url.port() {
        shown = format!("{shown}:{port}");
    }
    shown.push_str(url.path());
    let keys: Vec<String> = url
        .query_pairs()
        .map(|(key, _)| format!("{key}={REDACTED}"))
        .collect();
    if !keys.is_empty() {
        shown.push('?');
        shown.push_str(&keys.join("&"));
    }
    shown
}

/// Like [`shown_url`] for a URL given as text; text that is not a URL is not shown.
#[must_use]
pub fn shown_url_text(text: &str) -> String {
    reqwest::Url::parse(text).map_or_else(|_| "(not a URL)".to_owned(), |url| shown_url(&url))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_form_of_every_secret_is_taken_out() {
        let redactor = Redactor::new([Some("p@ss w\"rd<&>"), None, Some("emu-at-123")]);
        redactor.learn("late-token");
        redactor.learn("");
        let table = [
            ("plain p@ss w\"rd<&> here", "plain *** here"),
            (
                "form password=p%40ss+w%22rd%3C%26%3E&x=1",
                "form password=***&x=1",
            ),
            ("url p%40ss%20w%22rd%3C%26%3E", "url ***"),
            ("xml <M>p@ss w&quot;rd&lt;&amp;&gt;</M>", "xml <M>***</M>"),
            ("Bearer emu-at-123 and late-token", "Bearer *** and ***"),
            ("nothing secret", "nothing secret"),
        ];
        for (text, expected) in table {
            assert_eq!(redactor.text(text), expected, "{text}");
        }
    }

    #[test]
    fn the_given_secrets_are_kept_and_only_the_latest_learned_ones() {
        let redactor = Redactor::new([Some("password-1")]);
        for token in 0..100 {
            redactor.learn(&format!("token-{token:03}"));
        }
        redactor.learn("token-099");
        let text = "password-1 token-000 token-067 token-068 token-099";
        assert_eq!(redactor.text(text), "*** token-000 token-067 *** ***");
        let known = redactor.known.read().expect("lock");
        assert_eq!(known.learned.len(), LEARNED_KEPT);
        assert!(known.forms.len() <= (LEARNED_KEPT + 1) * 5);
    }

    #[test]
    fn json_bodies_are_cleaned_after_parsing_so_escapes_hide_nothing() {
        let redactor = Redactor::new([Some("hunter2"), Some("k3y")]);
        // `\u0068unter2` is `hunter2` once parsed.
        let body = br#"{"ErrorMessage":"bad \u0068unter2","Data":[{"hunter2":"k3y"}],"n":1}"#;
        let clean: serde_json::Value =
            serde_json::from_slice(&redactor.body(body.to_vec())).expect("json");
        assert_eq!(
            clean,
            serde_json::json!({"ErrorMessage": "bad ***", "Data": [{"***": "***"}], "n": 1})
        );
        let untouched = br#"{"IsSuccess":true}"#.to_vec();
        assert_eq!(redactor.body(untouched.clone()), untouched);
        assert_eq!(
            redactor.body(b"<Error>hunter2\xff</Error>".to_vec()),
            "<Error>***\u{fffd}</Error>".as_bytes()
        );
        assert_eq!(Redactor::default().body(b"hunter2".to_vec()), b"hunter2");
    }

    #[test]
    fn urls_show_no_user_information_and_no_query_values() {
        let table = [
            (
                "https://user:pw@blob.example/c/a?sv=2019&sig=abc%2B&sp=w",
                "https://blob.example/c/a?sv=***&sig=***&sp=***",
            ),
            (
                "http://127.0.0.1:8080/environmentinfo/v1/detail/project/1/",
                "http://127.0.0.1:8080/environmentinfo/v1/detail/project/1/",
            ),
        ];
        for (url, shown) in table {
            assert_eq!(shown_url_text(url), shown);
        }
        assert_eq!(shown_url_text("not a url"), "(not a URL)");
    }
}
