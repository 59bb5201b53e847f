//! State files as the version before compact runs and events (schema version 6) wrote them.

use std::path::Path;

/// Takes back what schema versions 6 and 7 did to the SQLite file at `path` (run numbers,
/// compact events and records, packed runs), leaving a file of schema version 5 holding its runs and events as
/// version 5 wrote them; older versions are made from that by dropping what 2 to 5 added.
///
/// # Panics
/// When the file cannot be read or written.
pub fn undo_compact_form(path: &Path) {
    use refreshctl::state::{SqliteStore, time};
    let (runs, events) = {
        let store = SqliteStore::open(path).expect("the current form");
        let runs = store.runs().expect("runs");
        let events: Vec<_> = runs
            .iter()
            .flat_map(|run| store.events(&run.id).expect("events"))
            .collect();
        (runs, events)
    };
    let connection = rusqlite::Connection::open(path).expect("open with rusqlite");
    connection
        .execute_batch(
            "DROP TABLE archives; DROP TABLE events; DROP INDEX runs_by_number;
             ALTER TABLE runs DROP COLUMN number;
             CREATE TABLE events (
                 run TEXT NOT NULL REFERENCES runs (id),
                 sequence INTEGER NOT NULL,
                 at TEXT NOT NULL,
                 kind TEXT NOT NULL,
                 detail TEXT NOT NULL,
                 PRIMARY KEY (run, sequence)
             );
             PRAGMA user_version = 5;",
        )
        .expect("a version-5 file");
    for run in &runs {
        connection
            .execute(
                "UPDATE runs SET record = ?1 WHERE id = ?2",
                [serde_json::to_string(run).expect("json"), run.id.clone()],
            )
            .expect("the record as version 5 wrote it");
    }
    for event in &events {
        connection
            .execute(
                "INSERT INTO events (run, sequence, at, kind, detail) VALUES (?1, ?2, ?3, ?4, ?5)",
                rusqlite::params![
                    event.run,
                    i64::try_from(event.sequence).expect("a sequence"),
                    time(event.at),
                    event.kind,
                    event.detail.to_string()
                ],
            )
            .expect("the event as version 5 wrote it");
    }
}
