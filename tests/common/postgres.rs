//! The PostgreSQL server of the tests: `REFRESHCTL_TEST_POSTGRES` (`.ci/run` sets it), as a URL
//! or in libpq's key/value form.

#[path = "skip.rs"]
pub mod skip;

/// A URL for a fresh schema on the test server, or `None` (with a note) when there is none.
///
/// # Panics
/// When the server is set but cannot be reached.
#[must_use]
pub fn fresh_schema(name: &str) -> Option<String> {
    let Ok(base) = std::env::var("REFRESHCTL_TEST_POSTGRES") else {
        skip::skip("REFRESHCTL_TEST_POSTGRES is not set (.ci/run sets it)");
        return None;
    };
    let schema = format!("{name}_{}", std::process::id());
    let mut client = postgres::Client::connect(&base, postgres::NoTls).expect("test server");
    client
        .batch_execute(&format!("DROP SCHEMA IF EXISTS {schema} CASCADE"))
        .expect("drop schema");
    Some(with_params(&base, &format!("schema={schema}")))
}

/// `url` with more parameters (`key=value` pairs joined by `&`) in its own form: a URL's query,
/// or more pairs of libpq's key/value form (where `?schema=…` would become part of a value).
#[must_use]
pub fn with_params(url: &str, params: &str) -> String {
    if url.contains("://") {
        let separator = if url.contains('?') { '&' } else { '?' };
        format!("{url}{separator}{params}")
    } else {
        format!("{url} {}", params.replace('&', " "))
    }
}
