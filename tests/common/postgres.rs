//! The PostgreSQL server of the tests: `REFRESHCTL_TEST_POSTGRES` (`.ci/run` sets it).

/// A URL for a fresh schema on the test server, or `None` (with a note) when there is none.
///
/// # Panics
/// When the server is set but cannot be reached.
#[must_use]
pub fn fresh_schema(name: &str) -> Option<String> {
    let Ok(base) = std::env::var("REFRESHCTL_TEST_POSTGRES") else {
        eprintln!("skipped: REFRESHCTL_TEST_POSTGRES is not set (.ci/run sets it)");
        return None;
    };
    let schema = format!("{name}_{}", std::process::id());
    let mut client = postgres::Client::connect(&base, postgres::NoTls).expect("test server");
    client
        .batch_execute(&format!("DROP SCHEMA IF EXISTS {schema} CASCADE"))
        .expect("drop schema");
    let separator = if base.contains('?') { '&' } else { '?' };
    Some(format!("{base}{separator}schema={schema}"))
}
