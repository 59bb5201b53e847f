//! Where the state lives (SPEC 8): the `--state` string read into a store location, or refused
//! with the forms that are accepted.
//!
//! A string is a location only when its form says which store it names: `sqlite:PATH`, a
//! PostgreSQL URL, libpq's key/value form, or an obvious path. Anything else is refused rather
//! than taken for a file name: a mistyped PostgreSQL string must not quietly become an empty
//! SQLite file in the current directory. Messages never show a password.

use std::path::PathBuf;

use super::StoreError;

/// The forms `--state` accepts, for messages.
pub const ACCEPTED_FORMS: &str = "`sqlite:PATH`; a path that contains a `/` or `\\`, or ends in \
     `.db`, `.sqlite` or `.sqlite3`; `postgres://…` or `postgresql://…`; or libpq's key/value form, \
     `host=… port=… user=… dbname=…`";

/// The file name endings that make a bare name an obvious SQLite path.
const SQLITE_ENDINGS: [&str; 3] = [".db", ".sqlite", ".sqlite3"];

/// The keywords of libpq's key/value form that refreshctl understands: tokio-postgres's, and
/// refreshctl's own `sslmode` (all of libpq's modes), `sslrootcert` and `schema`.
const KEYWORDS: [&str; 21] = [
    "host",
    "hostaddr",
    "port",
    "user",
    "password",
    "dbname",
    "options",
    "application_name",
    "sslmode",
    "sslrootcert",
    "sslnegotiation",
    "connect_timeout",
    "tcp_user_timeout",
    "keepalives",
    "keepalives_idle",
    "keepalives_interval",
    "keepalives_retries",
    "target_session_attrs",
    "channel_binding",
    "load_balance_hosts",
    "schema",
];

/// libpq keywords refreshctl does not support (they are not typos, so they get their own word).
const UNSUPPORTED_KEYWORDS: [&str; 20] = [
    "passfile",
    "service",
    "sslcert",
    "sslkey",
    "sslpassword",
    "sslcrl",
    "sslcrldir",
    "sslsni",
    "sslcompression",
    "sslcertmode",
    "ssl_min_protocol_version",
    "ssl_max_protocol_version",
    "requiressl",
    "requirepeer",
    "require_auth",
    "gssencmode",
    "krbsrvname",
    "gsslib",
    "client_encoding",
    "fallback_application_name",
];

/// The keywords whose values messages may show; every other value (a password, an option
/// string, the value of a mistyped keyword, which may be a password) is shown as `***`.
const SHOWN: [&str; 9] = [
    "host",
    "hostaddr",
    "port",
    "user",
    "dbname",
    "sslmode",
    "application_name",
    "schema",
    "connect_timeout",
];

/// Where the state lives: an SQLite file, or a PostgreSQL server given as a URL
/// (`postgres://…`, `postgresql://…`) or in libpq's key/value form (`host=… dbname=…`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StateUrl {
    Sqlite(PathBuf),
    Postgres(String),
}

impl StateUrl {
    /// The store as messages show it: a path, or a PostgreSQL string without its password.
    #[must_use]
    pub fn shown(&self) -> String {
        match self {
            Self::Sqlite(path) => path.display().to_string(),
            Self::Postgres(text) => mask(text),
        }
    }

    /// Reads `--state`: `sqlite:PATH`; `postgres://…` or `postgresql://…`; libpq's key/value
    /// form; or an obvious path (one that contains `/` or `\`, or ends in `.db`, `.sqlite` or
    /// `.sqlite3`, and has no `=` and no scheme). Anything else is refused, saying why and which
    /// forms are accepted. PostgreSQL strings are checked in full here (keywords, quoting,
    /// values), so a typo is a usage error before anything connects.
    pub fn parse(text: &str) -> Result<Self, StoreError> {
        let bad = |reason: String| StoreError::BadUrl {
            url: mask(text),
            reason,
        };
        if text.trim().is_empty() {
            return Err(bad("it is empty".into()));
        }
        if let Some(path) = text.strip_prefix("sqlite:") {
            let path = path.strip_prefix("//").unwrap_or(path);
            if path.is_empty() {
                return Err(bad("`sqlite:` needs a path after it".into()));
            }
            return Ok(Self::Sqlite(PathBuf::from(path)));
        }
        if is_postgres_url(text) {
            super::postgres::check(text)?;
            return Ok(Self::Postgres(text.to_owned()));
        }
        if let Some(scheme) = url_scheme(text) {
            return Err(bad(format!("`{scheme}://` is not a state store scheme")));
        }
        if text.contains("://") && !text.contains('=') {
            return Err(bad("it has a `://` but no scheme refreshctl knows".into()));
        }
        // libpq reads a string with `=` that is not a URL as key/value pairs; so does refreshctl.
        if text.contains('=') {
            super::postgres::check(text).map_err(|error| match error {
                StoreError::BadUrl { url, reason } if first_word(text).contains(['/', '\\']) => {
                    StoreError::BadUrl {
                        url,
                        reason: format!(
                            "{reason} (read as libpq's key/value form because of the `=`; a file whose path has an `=` is written `sqlite:PATH`)"
                        ),
                    }
                }
                other => other,
            })?;
            return Ok(Self::Postgres(text.to_owned()));
        }
        if let Some(scheme) = scheme_of(text) {
            return Err(bad(format!(
                "`{scheme}:` is not a state store scheme (a path that starts with a word and a colon is written `sqlite:PATH` or `./PATH`)"
            )));
        }
        if is_obvious_path(text) {
            return Ok(Self::Sqlite(PathBuf::from(text)));
        }
        Err(bad(format!(
            "it is neither a URL nor obviously a path; for a file here, write `./{text}` or `sqlite:{text}`"
        )))
    }

    /// `$XDG_STATE_HOME/refreshctl/state.db`, else `~/.local/state/refreshctl/state.db`.
    #[must_use]
    pub fn default_location() -> Self {
        let base = std::env::var_os("XDG_STATE_HOME")
            .filter(|value| !value.is_empty())
            .map(PathBuf::from)
            .or_else(|| {
                std::env::var_os("HOME")
                    .map(|home| std::path::Path::new(&home).join(".local/state"))
            })
            .unwrap_or_else(|| PathBuf::from("."));
        Self::Sqlite(base.join("refreshctl/state.db"))
    }
}

/// Whether `text` is a PostgreSQL URL (libpq's two schemes).
#[must_use]
pub fn is_postgres_url(text: &str) -> bool {
    text.starts_with("postgres://") || text.starts_with("postgresql://")
}

/// The text up to the first whitespace or `=`.
fn first_word(text: &str) -> &str {
    text.trim_start()
        .split(|c: char| c.is_whitespace() || c == '=')
        .next()
        .unwrap_or_default()
}

/// The scheme of a URL (`mysql` of `mysql://…`), if `text` is one.
fn url_scheme(text: &str) -> Option<&str> {
    let (scheme, _) = text.split_once("://")?;
    is_scheme(scheme).then_some(scheme)
}

fn is_scheme(text: &str) -> bool {
    let mut chars = text.chars();
    chars
        .next()
        .is_some_and(|first| first.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'))
}

/// A URL scheme at the start (`file:`, `mysql:`), if there is one. A single letter is a Windows
/// drive (`C:`), not a scheme.
fn scheme_of(text: &str) -> Option<&str> {
    let (scheme, _) = text.split_once(':')?;
    (scheme.len() > 1 && is_scheme(scheme)).then_some(scheme)
}

fn is_obvious_path(text: &str) -> bool {
    let lower = text.to_ascii_lowercase();
    text.contains(['/', '\\'])
        || SQLITE_ENDINGS
            .iter()
            .any(|ending| lower.len() > ending.len() && lower.ends_with(ending))
}

/// One `keyword=value` of libpq's key/value form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Param {
    pub keyword: String,
    pub value: String,
}

/// Reads libpq's key/value form as libpq does: `keyword = value` pairs separated by whitespace,
/// spaces around `=` allowed; a value in single quotes may hold spaces, and a backslash takes the
/// next character literally (`\'`, `\\`), quoted or not. Every keyword must be one refreshctl
/// understands, and every value must be there: `host= port=5432` is a mistake, not a host named
/// `port=5432`. A keyword given twice keeps its last value, as in libpq.
pub fn conninfo(text: &str) -> Result<Vec<Param>, String> {
    let mut params: Vec<Param> = Vec::new();
    let mut chars = text.char_indices().peekable();
    loop {
        while chars.next_if(|(_, c)| c.is_whitespace()).is_some() {}
        let Some(&(start, _)) = chars.peek() else {
            break;
        };
        let mut end = text.len();
        while let Some(&(index, c)) = chars.peek() {
            if c.is_whitespace() || c == '=' {
                end = index;
                break;
            }
            chars.next();
        }
        let keyword = &text[start..end];
        while chars.next_if(|(_, c)| c.is_whitespace()).is_some() {}
        if chars.next_if(|(_, c)| *c == '=').is_none() {
            // Only a known keyword is named: an unknown word may be a misplaced value.
            return Err(if KEYWORDS.contains(&keyword) {
                format!("`{keyword}` has no `=` after it (write `{keyword}=value`)")
            } else {
                format!(
                    "there is a word without `=` at character {} (write `keyword=value`)",
                    text[..start].chars().count() + 1
                )
            });
        }
        check_keyword(keyword)?;
        while chars.next_if(|(_, c)| c.is_whitespace()).is_some() {}
        let mut value = String::new();
        if chars.next_if(|(_, c)| *c == '\'').is_some() {
            let mut closed = false;
            while let Some((_, c)) = chars.next() {
                match c {
                    '\'' => {
                        closed = true;
                        break;
                    }
                    '\\' => value.extend(chars.next().map(|(_, c)| c)),
                    c => value.push(c),
                }
            }
            if !closed {
                return Err(format!("the value of `{keyword}` has no closing quote"));
            }
            if chars.peek().is_some_and(|(_, c)| !c.is_whitespace()) {
                return Err(format!(
                    "the quoted value of `{keyword}` is followed by more text; put a space after the closing quote"
                ));
            }
        } else {
            while let Some((_, c)) = chars.next_if(|(_, c)| !c.is_whitespace()) {
                if c == '\\' {
                    value.extend(chars.next().map(|(_, c)| c));
                } else {
                    value.push(c);
                }
            }
            let swallowed = value
                .split_once('=')
                .is_some_and(|(word, _)| KEYWORDS.contains(&word));
            if value.is_empty() || swallowed {
                return Err(format!(
                    "`{keyword}` has no value (write `{keyword}=VALUE`, or `{keyword}=''` for an empty one)"
                ));
            }
        }
        params.retain(|param| param.keyword != keyword);
        params.push(Param {
            keyword: keyword.to_owned(),
            value,
        });
    }
    if params.is_empty() {
        return Err("it has no `keyword=value` pairs".into());
    }
    Ok(params)
}

/// A keyword as messages may show it: a long one may be a pasted secret.
fn shown_keyword(keyword: &str) -> String {
    if keyword.chars().count() > 40 {
        format!("{}…", keyword.chars().take(12).collect::<String>())
    } else {
        keyword.to_owned()
    }
}

/// The known keyword an unknown one is a likely typo of.
fn likely_keyword(keyword: &str) -> Option<&'static str> {
    KEYWORDS
        .iter()
        .chain(UNSUPPORTED_KEYWORDS.iter())
        .map(|known| {
            (
                strsim::jaro_winkler(known, &keyword.to_ascii_lowercase()),
                *known,
            )
        })
        .filter(|(score, _)| *score > 0.8)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, known)| known)
}

/// Whether a keyword may be shown in a message: a known one, or a typo of one. Anything else
/// may be part of a value whose quotes broke (`password='secret' x'=`), so it is not shown.
fn showable_keyword(keyword: &str) -> bool {
    KEYWORDS.contains(&keyword)
        || UNSUPPORTED_KEYWORDS.contains(&keyword)
        || (keyword.len() <= 32
            && keyword.chars().all(|c| c.is_ascii_alphabetic() || c == '_')
            && likely_keyword(keyword).is_some())
}

fn check_keyword(keyword: &str) -> Result<(), String> {
    if KEYWORDS.contains(&keyword) {
        return Ok(());
    }
    if UNSUPPORTED_KEYWORDS.contains(&keyword) {
        return Err(format!(
            "libpq's `{keyword}` is not supported by refreshctl"
        ));
    }
    if !showable_keyword(keyword) {
        return Err(
            "a part is not a connection keyword refreshctl knows (not shown: it may be part of a \
             value, such as a password whose quotes do not close)"
                .to_owned(),
        );
    }
    let suggestion = likely_keyword(keyword)
        .filter(|known| KEYWORDS.contains(known))
        .map(|known| format!(" (did you mean `{known}`?)"))
        .unwrap_or_default();
    Err(format!(
        "`{}` is not a connection keyword refreshctl knows{suggestion}",
        shown_keyword(keyword)
    ))
}

/// A value in single quotes for libpq's key/value form (and tokio-postgres's reader of it).
#[must_use]
pub fn quote(value: &str) -> String {
    let mut quoted = String::with_capacity(value.len() + 2);
    quoted.push('\'');
    for c in value.chars() {
        if matches!(c, '\'' | '\\') {
            quoted.push('\\');
        }
        quoted.push(c);
    }
    quoted.push('\'');
    quoted
}

/// `text` as messages may show it: a URL's password (in its user part or a `password`
/// parameter) replaced by `***`; in key/value form, only the values of harmless keywords, the
/// others as `***`, and nothing after a part that cannot be read.
#[must_use]
pub fn mask(text: &str) -> String {
    if url_scheme(text).is_some() {
        mask_url(text)
    } else if text.contains('=') && !text.starts_with("sqlite:") {
        mask_conninfo(text)
    } else {
        text.to_owned()
    }
}

fn mask_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(authority_end);
    let authority = match authority.rsplit_once('@') {
        Some((user, host)) if user.contains(':') => {
            let name = user.split(':').next().unwrap_or_default();
            format!("{name}:***@{host}")
        }
        _ => authority.to_owned(),
    };
    let tail = match tail.split_once('?') {
        Some((path, query)) => {
            let pairs: Vec<String> = query
                .split('&')
                .map(|pair| match pair.split_once('=') {
                    Some((key, _)) if key.eq_ignore_ascii_case("password") => {
                        format!("{key}=***")
                    }
                    _ => pair.to_owned(),
                })
                .collect();
            format!("{path}?{}", pairs.join("&"))
        }
        None => tail.to_owned(),
    };
    format!("{scheme}://{authority}{tail}")
}

fn mask_conninfo(text: &str) -> String {
    let mut shown = Vec::new();
    // Pair by pair, so what can be read is shown even when a later part cannot.
    let mut rest = text;
    loop {
        let trimmed = rest.trim_start();
        if trimmed.is_empty() {
            break;
        }
        let length = pair_length(trimmed);
        let (pair, after) = trimmed.split_at(length);
        if let Ok(params) = conninfo(pair) {
            if params.iter().any(|param| !showable_keyword(&param.keyword)) {
                shown.push("…".to_owned());
                break;
            }
            shown.extend(params.into_iter().map(shown_param));
        } else {
            let keyword = first_word(pair);
            if !pair.contains('=') || keyword.is_empty() || !showable_keyword(keyword) {
                // Not a pair: what follows cannot be told apart from values.
                shown.push("…".to_owned());
                break;
            }
            shown.push(format!("{}=***", shown_keyword(keyword)));
        }
        rest = after;
    }
    shown.join(" ")
}

/// A parameter as messages show it: the value of a harmless keyword, else `***`.
fn shown_param(param: Param) -> String {
    if !SHOWN.contains(&param.keyword.as_str()) {
        return format!("{}=***", param.keyword);
    }
    let plain = !param.value.is_empty()
        && !param
            .value
            .contains(|c: char| c.is_whitespace() || matches!(c, '\'' | '\\'));
    let value = if plain {
        param.value
    } else {
        quote(&param.value)
    };
    format!("{}={value}", param.keyword)
}

/// How long the first `keyword = value` pair of `text` is (leniently: to the end of a quoted
/// value, else to the whitespace after the value).
fn pair_length(text: &str) -> usize {
    let mut chars = text.char_indices().peekable();
    let mut seen_equals = false;
    let mut in_value = false;
    while let Some((index, c)) = chars.next() {
        match c {
            '=' if !seen_equals => {
                seen_equals = true;
                while chars.next_if(|(_, c)| c.is_whitespace()).is_some() {}
                if chars.next_if(|(_, c)| *c == '\'').is_some() {
                    while let Some((_, c)) = chars.next() {
                        match c {
                            '\\' => {
                                chars.next();
                            }
                            '\'' => {
                                return chars.peek().map_or(text.len(), |(index, _)| *index);
                            }
                            _ => {}
                        }
                    }
                    return text.len();
                }
                in_value = true;
            }
            '\\' if in_value => {
                chars.next();
            }
            c if c.is_whitespace() && in_value => return index,
            c if c.is_whitespace() && !seen_equals => {
                // `keyword = value`: the `=` may come after spaces.
                while chars.next_if(|(_, c)| c.is_whitespace()).is_some() {}
                if chars.peek().is_none_or(|(_, c)| *c != '=') {
                    return chars.peek().map_or(text.len(), |(index, _)| *index);
                }
            }
            _ => {}
        }
    }
    text.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parsed(text: &str) -> Result<StateUrl, String> {
        StateUrl::parse(text).map_err(|error| error.to_string())
    }

    #[test]
    fn forms_that_name_a_store() {
        let sqlite = |path: &str| Ok(StateUrl::Sqlite(PathBuf::from(path)));
        let postgres = |text: &str| Ok(StateUrl::Postgres(text.to_owned()));
        let cases: &[(&str, Result<StateUrl, String>)] = &[
            (
                "sqlite:/var/lib/refreshctl/state.db",
                sqlite("/var/lib/refreshctl/state.db"),
            ),
            ("sqlite://relative.db", sqlite("relative.db")),
            ("sqlite:state", sqlite("state")),
            ("sqlite:a=b.db", sqlite("a=b.db")),
            ("state.db", sqlite("state.db")),
            ("State.SQLite", sqlite("State.SQLite")),
            ("runs.sqlite3", sqlite("runs.sqlite3")),
            ("./state", sqlite("./state")),
            (
                "/var/lib/refreshctl/state",
                sqlite("/var/lib/refreshctl/state"),
            ),
            ("~/state", sqlite("~/state")),
            ("dir\\state", sqlite("dir\\state")),
            (
                "C:\\refreshctl\\state.db",
                sqlite("C:\\refreshctl\\state.db"),
            ),
            ("my state.db", sqlite("my state.db")),
            (
                "postgres://postgres@127.0.0.1/test",
                postgres("postgres://postgres@127.0.0.1/test"),
            ),
            (
                "postgresql://u:p@db.example.com:5433/state?sslmode=require&schema=ops",
                postgres("postgresql://u:p@db.example.com:5433/state?sslmode=require&schema=ops"),
            ),
            (
                "host=127.0.0.1 user=postgres dbname=x",
                postgres("host=127.0.0.1 user=postgres dbname=x"),
            ),
            (
                "  host = db port=5433\tdbname='my db' ",
                postgres("  host = db port=5433\tdbname='my db' "),
            ),
            (
                "host=db password='it\\'s a secret' sslmode=verify-full sslrootcert=/etc/ca.pem schema=ops_1 options='-c statement_timeout=5s'",
                postgres(
                    "host=db password='it\\'s a secret' sslmode=verify-full sslrootcert=/etc/ca.pem schema=ops_1 options='-c statement_timeout=5s'",
                ),
            ),
            (
                "host=/var/run/postgresql dbname=x",
                postgres("host=/var/run/postgresql dbname=x"),
            ),
        ];
        for (text, expected) in cases {
            let got = parsed(text);
            match (expected, &got) {
                (Ok(expected), Ok(got)) => assert_eq!(got, expected, "{text}"),
                (Err(part), Err(message)) => assert!(message.contains(part), "{text}: {message}"),
                _ => panic!("{text}: expected {expected:?}, got {got:?}"),
            }
        }
    }

    #[test]
    fn everything_else_is_refused_saying_why_and_what_is_accepted() {
        let cases = [
            ("", "it is empty"),
            ("   ", "it is empty"),
            ("sqlite:", "needs a path"),
            ("mysql://x", "`mysql://` is not a state store scheme"),
            (
                "file:///tmp/state.db",
                "`file://` is not a state store scheme",
            ),
            ("file:state.db", "`file:` is not a state store scheme"),
            ("://state.db", "no scheme refreshctl knows"),
            ("my db://x", "no scheme refreshctl knows"),
            ("postgres:db", "`postgres:` is not a state store scheme"),
            (
                "state",
                "neither a URL nor obviously a path; for a file here, write `./state`",
            ),
            (
                "foo=bar",
                "a part is not a connection keyword refreshctl knows (not shown",
            ),
            (
                "hots=127.0.0.1 dbname=x",
                "`hots` is not a connection keyword refreshctl knows (did you mean `host`?)",
            ),
            ("host=127.0.0.1 dbnmae=x", "(did you mean `dbname`?)"),
            ("host= dbname=x", "`host` has no value"),
            ("host=127.0.0.1 dbname=", "`dbname` has no value"),
            ("host 127.0.0.1", "neither a URL nor obviously a path"),
            ("host=db user 127.0.0.1", "`user` has no `=` after it"),
            (
                "host=db dbname='x",
                "the value of `dbname` has no closing quote",
            ),
            ("host=db dbname='x'y", "followed by more text"),
            ("host=db password='it''s'", "followed by more text"),
            ("host=db 'my secret'", "a word without `=` at character 9"),
            (
                "host=db sslcert=/c.pem",
                "libpq's `sslcert` is not supported",
            ),
            ("host=db port=fifty", "port"),
            ("host=db sslmode=always", "sslmode"),
            ("host=db schema=Ops", "schema"),
            ("host=db sslrootcert=''", "sslrootcert"),
            ("dbname=x user=u", "no `host`"),
            ("postgres://h/db?sslmode=always", "sslmode"),
            ("postgres://h:notaport/db", "port"),
            (
                "/var/lib/a=b/state.db",
                "a file whose path has an `=` is written `sqlite:PATH`",
            ),
        ];
        for (text, reason) in cases {
            let error = StateUrl::parse(text).expect_err(text);
            assert!(
                matches!(error, StoreError::BadUrl { .. }),
                "{text}: {error}"
            );
            let message = error.to_string();
            assert!(message.contains(reason), "{text}: {message}");
            assert!(message.contains(ACCEPTED_FORMS), "{text}: {message}");
        }
    }

    #[test]
    fn libpq_quoting_and_escapes() {
        let values = |text: &str| -> Vec<(String, String)> {
            conninfo(text)
                .expect(text)
                .into_iter()
                .map(|param| (param.keyword, param.value))
                .collect()
        };
        let pair = |keyword: &str, value: &str| (keyword.to_owned(), value.to_owned());
        assert_eq!(
            values("host=a\\ b dbname = 'x y' password='\\'\\\\' user=''"),
            [
                pair("host", "a b"),
                pair("dbname", "x y"),
                pair("password", "'\\"),
                pair("user", "")
            ]
        );
        assert_eq!(
            values("host=a host=b"),
            [pair("host", "b")],
            "the last wins"
        );
        assert_eq!(
            values("options=-csearch_path=ops"),
            [pair("options", "-csearch_path=ops")],
            "an unquoted value may hold `=`"
        );
        for value in ["plain", "with space", "it's", "back\\slash", ""] {
            let text = format!("password={}", quote(value));
            assert_eq!(values(&text), [pair("password", value)], "{text}");
        }
    }

    #[test]
    fn passwords_never_reach_a_message() {
        let secret = "s3cr3t-Pa55";
        let cases = [
            format!("host=db password={secret} dbname=x port=fifty"),
            format!("host=db password='{secret} x' dbnmae=x"),
            format!("host=db pasword={secret}"),
            format!("host=db password='{secret}"),
            format!("host=db password=\\{secret} port=x"),
            format!("password = {secret} host=db bogus"),
            format!("host=db password {secret}"),
            format!("host=db '{secret}'"),
            format!("host=db options='-c password={secret}' port=x"),
            format!("postgres://u:{secret}@h:x/db"),
            format!("postgres://u@h/db?password={secret}&sslmode=never"),
            format!("mysql://u:{secret}@h/db"),
            format!("host=db password={secret} options=http://x port=y"),
            format!("host=db password='{secret}://' bogus"),
        ];
        for text in cases {
            let error = StateUrl::parse(&text).expect_err(&text).to_string();
            assert!(!error.contains(secret), "{text}: {error}");
        }
    }

    #[test]
    fn masked_strings_keep_what_helps() {
        assert_eq!(
            mask("host=db user=ops password='x y' dbname='my db' pasword=z"),
            "host=db user=ops password=*** dbname='my db' pasword=***"
        );
        assert_eq!(mask("host=db password='open"), "host=db password=***");
        assert_eq!(
            mask("postgres://ops:pw@db:5432/state?password=pw&sslmode=require"),
            "postgres://ops:***@db:5432/state?password=***&sslmode=require"
        );
        assert_eq!(
            mask("postgres://postgres@127.0.0.1/test"),
            "postgres://postgres@127.0.0.1/test"
        );
        assert_eq!(mask("state.db"), "state.db");
    }

    proptest::proptest! {
        /// Any string is a location or a refusal, never a panic; a password given in either
        /// form never reaches the message, whatever surrounds it.
        #[test]
        fn no_panic_and_no_password_in_any_message(
            before in "[ -~]{0,40}",
            secret in "[A-Za-z0-9]{12,20}",
            after in "[ -~]{0,40}",
            quoted in proptest::bool::ANY,
        ) {
            let _ = StateUrl::parse(&before);
            let _ = mask(&before);
            let value = if quoted { format!("'{secret}'") } else { secret.clone() };
            for text in [
                format!("{before} password={value} {after}"),
                format!("{before} password = {value}{after}"),
                format!("postgres://user:{secret}@{before}/{after}"),
                format!("postgresql://h/db?{before}&password={secret}&{after}"),
            ] {
                if let Err(error) = StateUrl::parse(&text) {
                    let message = error.to_string();
                    proptest::prop_assert!(!message.contains(&secret), "{text}: {message}");
                }
            }
        }
    }
}
