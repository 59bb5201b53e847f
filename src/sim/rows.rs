//! The model as rows, so a state store can keep it in rows of its own and commit each change
//! as the few rows it touched: one row per environment, operation, asset, deployment and call
//! record (by its place in its collection), and a head with the model's own scalars.
//!
//! Environments, operations, deployments and call records are only ever appended; assets also
//! change in place (blocks, commit), so they are compared with a copy taken before the change.

use serde::{Deserialize, Serialize};

use super::model::{Durations, Lcs};

/// A collection of the model.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RowKind {
    Environment,
    Operation,
    Asset,
    Deployment,
    Call,
}

impl RowKind {
    const ALL: [Self; 5] = [
        Self::Environment,
        Self::Operation,
        Self::Asset,
        Self::Deployment,
        Self::Call,
    ];

    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Self::Environment => "environment",
            Self::Operation => "operation",
            Self::Asset => "asset",
            Self::Deployment => "deployment",
            Self::Call => "call",
        }
    }

    fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|kind| kind.name() == name)
    }
}

/// One entity of the model, as JSON, at its place in its collection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Row {
    pub kind: RowKind,
    pub position: usize,
    pub body: String,
}

/// What the model holds besides its collections. Faults are not kept: each process rehearses
/// its own (`--sim-fault`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Head {
    next_id: u64,
    durations: Durations,
}

/// Why stored rows do not make a model.
#[derive(Debug, thiserror::Error)]
pub enum RowError {
    #[error("the stored simulator model has an unknown kind of row `{0}`")]
    UnknownKind(String),
    #[error("the stored simulator model's {kind} row {position} cannot be read: {message}")]
    Unreadable {
        kind: &'static str,
        position: usize,
        message: String,
    },
    #[error(
        "the stored simulator model's {kind} rows skip from {length} to {position}: rows are missing"
    )]
    Gap {
        kind: &'static str,
        length: usize,
        position: usize,
    },
    #[error("the stored simulator model's head cannot be read: {0}")]
    Head(String),
    #[error("the simulator model cannot be written as rows: {0}")]
    Encode(String),
}

/// The model as it stood before a change: enough to find the rows the change touched.
#[derive(Debug, Clone)]
pub struct Before {
    environments: usize,
    operations: usize,
    deployments: usize,
    calls: usize,
    assets: Vec<super::Asset>,
}

fn encode(value: &impl Serialize) -> Result<String, RowError> {
    serde_json::to_string(value).map_err(|error| RowError::Encode(error.to_string()))
}

fn rows_from<T: Serialize>(
    kind: RowKind,
    items: &[T],
    from: usize,
) -> impl Iterator<Item = Result<Row, RowError>> + '_ {
    items
        .iter()
        .enumerate()
        .skip(from)
        .map(move |(position, item)| {
            Ok(Row {
                kind,
                position,
                body: encode(item)?,
            })
        })
}

/// Puts `row` at its place in `items`: replaces what is there, or appends right after the end.
fn place<T: serde::de::DeserializeOwned>(items: &mut Vec<T>, row: &Row) -> Result<(), RowError> {
    let item: T = serde_json::from_str(&row.body).map_err(|error| RowError::Unreadable {
        kind: row.kind.name(),
        position: row.position,
        message: error.to_string(),
    })?;
    match row.position.cmp(&items.len()) {
        std::cmp::Ordering::Less => items[row.position] = item,
        std::cmp::Ordering::Equal => items.push(item),
        std::cmp::Ordering::Greater => {
            return Err(RowError::Gap {
                kind: row.kind.name(),
                length: items.len(),
                position: row.position,
            });
        }
    }
    Ok(())
}

impl Row {
    /// A row read back from a store.
    pub fn parse(kind: &str, position: i64, body: String) -> Result<Self, RowError> {
        let kind = RowKind::parse(kind).ok_or_else(|| RowError::UnknownKind(kind.to_owned()))?;
        let position = usize::try_from(position).map_err(|_| RowError::Unreadable {
            kind: kind.name(),
            position: 0,
            message: format!("position {position} is negative"),
        })?;
        Ok(Self {
            kind,
            position,
            body,
        })
    }
}

impl Lcs {
    /// The model's scalars, as JSON.
    pub fn head(&self) -> Result<String, RowError> {
        encode(&Head {
            next_id: self.next_id,
            durations: self.durations,
        })
    }

    /// Where the model stands now, to compare with after a change.
    #[must_use]
    pub fn before_change(&self) -> Before {
        Before {
            environments: self.environments.len(),
            operations: self.operations.len(),
            deployments: self.deployments.len(),
            calls: self.calls.len(),
            assets: self.assets.clone(),
        }
    }

    /// Every row of the model.
    pub fn rows(&self) -> Result<Vec<Row>, RowError> {
        self.changed_rows(&Before {
            environments: 0,
            operations: 0,
            deployments: 0,
            calls: 0,
            assets: Vec::new(),
        })
    }

    /// The rows a change since `before` added or changed (none: the change changed nothing).
    pub fn changed_rows(&self, before: &Before) -> Result<Vec<Row>, RowError> {
        let changed_assets = self
            .assets
            .iter()
            .enumerate()
            .filter(|(position, asset)| before.assets.get(*position) != Some(*asset))
            .map(|(position, asset)| {
                Ok(Row {
                    kind: RowKind::Asset,
                    position,
                    body: encode(asset)?,
                })
            });
        rows_from(
            RowKind::Environment,
            &self.environments,
            before.environments,
        )
        .chain(rows_from(
            RowKind::Operation,
            &self.operations,
            before.operations,
        ))
        .chain(rows_from(
            RowKind::Deployment,
            &self.deployments,
            before.deployments,
        ))
        .chain(rows_from(RowKind::Call, &self.calls, before.calls))
        .chain(changed_assets)
        .collect()
    }

    /// A model from its head and all its rows.
    pub fn from_rows(head: &str, rows: &[Row]) -> Result<Self, RowError> {
        let mut model = Self::default();
        model.apply_rows(head, rows)?;
        Ok(model)
    }

    /// Brings the model up to date with rows another process committed (each row replaces the
    /// entity at its place or appends one); `rows` are in order of place within each kind.
    pub fn apply_rows(&mut self, head: &str, rows: &[Row]) -> Result<(), RowError> {
        let head: Head =
            serde_json::from_str(head).map_err(|error| RowError::Head(error.to_string()))?;
        self.next_id = head.next_id;
        self.durations = head.durations;
        for row in rows {
            match row.kind {
                RowKind::Environment => place(&mut self.environments, row)?,
                RowKind::Operation => place(&mut self.operations, row)?,
                RowKind::Asset => place(&mut self.assets, row)?,
                RowKind::Deployment => place(&mut self.deployments, row)?,
                RowKind::Call => place(&mut self.calls, row)?,
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use chrono::{DateTime, Utc};

    use super::*;
    use crate::plan::EnvironmentType;
    use crate::sim::{Faults, SOFTWARE_DEPLOYABLE_PACKAGE};

    fn t0() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-12-05T21:00:00Z")
            .expect("time")
            .to_utc()
    }

    fn seeded() -> Lcs {
        let mut model = Lcs::new(Durations::default(), Faults::default(), t0());
        // Ids are the names, so the calls below read plainly.
        model.add_environment(
            1,
            "contoso-prod",
            EnvironmentType::Production,
            "10.0.41",
            Some("contoso-prod"),
        );
        model.add_environment(
            1,
            "contoso-uat",
            EnvironmentType::Sandbox,
            "10.0.41",
            Some("contoso-uat"),
        );
        model
    }

    /// Each change, and the rows it makes: applied to a copy taken before it, the rows give the
    /// same model as the change did.
    #[test]
    fn the_rows_of_a_change_bring_a_stale_copy_up_to_date() {
        type Change = fn(&mut Lcs);
        let changes: [(&str, Change, &[RowKind]); 5] = [
            (
                "a refresh",
                |model| {
                    model
                        .start_refresh(1, "contoso-prod", "contoso-uat", t0())
                        .expect("starts");
                },
                &[RowKind::Operation, RowKind::Call],
            ),
            (
                "a new asset",
                |model| {
                    model
                        .create_file_asset(1, "tool", "tool.zip", SOFTWARE_DEPLOYABLE_PACKAGE, t0())
                        .expect("created");
                },
                &[RowKind::Asset, RowKind::Call],
            ),
            (
                "a block of an existing asset",
                |model| {
                    let asset = model.assets[0].id.clone();
                    model.assets[0].committed = None;
                    model.put_block(&asset, "b1", 10, t0()).expect("block");
                },
                &[RowKind::Asset, RowKind::Call],
            ),
            (
                "an environment",
                |model| {
                    model.add_environment(2, "other", EnvironmentType::Sandbox, "10.0.40", None);
                },
                &[RowKind::Environment],
            ),
            ("nothing", |_| {}, &[]),
        ];
        for (what, change, kinds) in changes {
            let mut model = seeded();
            let stale = model.clone();
            let before = model.before_change();
            change(&mut model);
            let rows = model.changed_rows(&before).expect("rows");
            let mut found: Vec<&str> = rows.iter().map(|row| row.kind.name()).collect();
            found.sort_unstable();
            found.dedup();
            let mut expected: Vec<&str> = kinds.iter().map(|kind| kind.name()).collect();
            expected.sort_unstable();
            assert_eq!(found, expected, "{what}");
            let mut updated = stale;
            updated
                .apply_rows(&model.head().expect("head"), &rows)
                .expect("applies");
            assert_eq!(updated, model, "{what}");
        }
    }

    #[test]
    fn a_model_round_trips_through_its_rows() {
        let mut model = seeded();
        model
            .start_refresh(1, "contoso-prod", "contoso-uat", t0())
            .expect("starts");
        let rows = model.rows().expect("rows");
        let back = Lcs::from_rows(&model.head().expect("head"), &rows).expect("back");
        assert_eq!(back, model);
        let mut newer = model.clone();
        newer.add_environment(1, "next", EnvironmentType::Sandbox, "10.0.41", None);
        assert_ne!(back, newer, "a model with more is not the same");
    }

    #[test]
    fn rows_that_do_not_make_a_model_are_refused_with_where() {
        let model = seeded();
        let head = model.head().expect("head");
        let environment = serde_json::to_string(&model.environments[0]).expect("json");
        let cases: [(&str, i64, &str, &str); 3] = [
            ("planet", 0, "{}", "unknown kind of row `planet`"),
            (
                "environment",
                3,
                &environment,
                "environment rows skip from 0 to 3",
            ),
            ("call", 0, "[1]", "call row 0 cannot be read"),
        ];
        for (kind, position, body, message) in cases {
            let error = Row::parse(kind, position, body.to_owned())
                .and_then(|row| Lcs::from_rows(&head, &[row]))
                .expect_err(message);
            assert!(error.to_string().contains(message), "{error}");
        }
        let negative = Row::parse("call", -1, "{}".into()).expect_err("negative");
        assert!(negative.to_string().contains("negative"), "{negative}");
        let bad_head = Lcs::from_rows("{\"next_id\": \"x\"}", &[]).expect_err("head");
        assert!(bad_head.to_string().contains("head"), "{bad_head}");
    }
}
