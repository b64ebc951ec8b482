//! Versioned schemas: each store keeps the version of its tables (or, in Redis, of its
//! key format) under its component name, and brings an older store up to date with
//! ordered migrations when it opens.
//!
//! The rules every backend follows:
//! - version 1 is the schema as it was before versions were recorded, written so that
//!   applying it to such a store changes nothing: a store from before this change is
//!   adopted with its data;
//! - the migrations after the recorded version run in order, inside one transaction with
//!   the version update, so a failure leaves the store as it was;
//! - instances that open the same store together serialize on a lock (an advisory lock in
//!   PostgreSQL, the write lock in SQLite), so each migration runs once;
//! - a store whose version is newer than the code knows is refused: the code would
//!   misread what a newer version wrote.

use crate::{StoreError, StoreResult};

/// The table that records each component's schema version, in SQLite and PostgreSQL.
pub(crate) const VERSION_TABLE: &str = "widgetry_schema_version";

/// One step of a component's schema.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Migration {
    /// The version the schema has after this step: 1, 2, 3…
    pub(crate) version: i64,
    /// What the step does, for logs.
    pub(crate) name: &'static str,
    /// The statements, run as one batch; `{q}` stands for the schema qualifier.
    pub(crate) sql: &'static str,
}

/// The migrations a store at version `current` (0: none recorded) still needs, after
/// checking that the list counts 1, 2, 3… and that the store is not newer than it.
pub(crate) fn pending<'m>(
    component: &str,
    where_: &str,
    current: i64,
    migrations: &'m [Migration],
) -> StoreResult<&'m [Migration]> {
    for (i, m) in migrations.iter().enumerate() {
        if m.version != i as i64 + 1 {
            return Err(StoreError::InvalidConfig(format!(
                "the migrations of `{component}` are not numbered 1, 2, 3…: found {} at position {}",
                m.version,
                i + 1
            )));
        }
    }
    check_known(component, where_, current, migrations.len() as i64)?;
    Ok(&migrations[current as usize..])
}

/// Refuses a store at version `current` when the code knows versions up to `known`.
pub(crate) fn check_known(
    component: &str,
    where_: &str,
    current: i64,
    known: i64,
) -> StoreResult<()> {
    if current > known {
        return Err(StoreError::InvalidConfig(format!(
            "the `{component}` schema in {where_} is at version {current}, newer than this \
             program knows (up to {known}): a newer release wrote it; run that release, or \
             restore a backup taken before the upgrade"
        )));
    }
    if current < 0 {
        return Err(StoreError::Corrupt(format!(
            "the `{component}` schema in {where_} records version {current}"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const M: &[Migration] = &[
        Migration {
            version: 1,
            name: "a",
            sql: "",
        },
        Migration {
            version: 2,
            name: "b",
            sql: "",
        },
    ];

    #[test]
    fn pending_steps_follow_the_recorded_version_and_newer_stores_are_refused() {
        assert_eq!(pending("c", "db", 0, M).unwrap().len(), 2);
        assert_eq!(pending("c", "db", 1, M).unwrap()[0].version, 2);
        assert!(pending("c", "db", 2, M).unwrap().is_empty());
        let e = pending("c", "db", 3, M).unwrap_err().to_string();
        assert!(e.contains("version 3") && e.contains("up to 2"), "{e}");
        assert!(pending("c", "db", -1, M).is_err());
        let gap = [M[1]];
        assert!(pending("c", "db", 0, &gap).is_err());
    }
}

/// Migrations for the tests of each backend's runner: a table, a column added with a
/// back-filled value, and a step that fails.
#[cfg(test)]
pub(crate) mod steps_for_tests {
    use super::Migration;

    pub(crate) const V1: Migration = Migration {
        version: 1,
        name: "notes table",
        sql: "CREATE TABLE {q}notes (id TEXT PRIMARY KEY, body TEXT NOT NULL);",
    };
    pub(crate) const V2: Migration = Migration {
        version: 2,
        name: "notes.author",
        sql: "ALTER TABLE {q}notes ADD COLUMN author TEXT;
              UPDATE {q}notes SET author = 'unknown';",
    };
    pub(crate) const V3_FAILS: Migration = Migration {
        version: 3,
        name: "a step that fails half way",
        sql: "ALTER TABLE {q}notes ADD COLUMN rating INTEGER;
              INSERT INTO {q}no_such_table VALUES (1);",
    };
}
