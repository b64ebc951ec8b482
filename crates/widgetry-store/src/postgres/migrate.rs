//! Running a component's migrations on PostgreSQL: one transaction holding an advisory
//! lock, so that instances starting together take turns and each step runs once.

use crate::now_ms;
use crate::schema::{pending, Migration, VERSION_TABLE};
use crate::StoreResult;

use super::pool::{Pool, PooledConn};

/// The advisory lock every Widgetry store takes while it sets up its tables.
const LOCK: i64 = 7_201_534_829_461_723;

/// Brings `component` up to the last of `migrations`, creating `schema` when named.
pub(crate) async fn migrate(
    pool: &Pool,
    schema: Option<&str>,
    q: &str,
    component: &str,
    migrations: &[Migration],
) -> StoreResult<()> {
    let mut c = pool.get().await?;
    let result = run(&mut c, pool.target(), schema, q, component, migrations).await;
    if result.is_err() {
        // Closing the connection rolls the transaction back and frees the lock.
        c.discard();
    }
    result
}

async fn run(
    c: &mut PooledConn<'_>,
    target: &str,
    schema: Option<&str>,
    q: &str,
    component: &str,
    migrations: &[Migration],
) -> StoreResult<()> {
    let create_schema = schema
        .map(|s| format!("CREATE SCHEMA IF NOT EXISTS \"{s}\";"))
        .unwrap_or_default();
    c.batch(&format!(
        "BEGIN;
         SELECT pg_advisory_xact_lock({LOCK});
         {create_schema}
         CREATE TABLE IF NOT EXISTS {q}{VERSION_TABLE} (
             component TEXT PRIMARY KEY,
             version BIGINT NOT NULL,
             updated_at_ms BIGINT NOT NULL
         );"
    ))
    .await?;
    let row = c
        .query_opt(
            &format!("SELECT version FROM {q}{VERSION_TABLE} WHERE component = $1"),
            &[&component],
        )
        .await?;
    let current = match row {
        Some(row) => row.try_get::<_, i64>(0).map_err(super::corrupt)?,
        None => 0,
    };
    let steps = pending(
        component,
        &format!("PostgreSQL at {target}"),
        current,
        migrations,
    )?;
    for m in steps {
        c.batch(&m.sql.replace("{q}", q)).await?;
        tracing::info!(target = %target, component, version = m.version, step = m.name, "store migration applied");
    }
    if let Some(last) = steps.last() {
        c.execute(
            &format!(
                "INSERT INTO {q}{VERSION_TABLE} (component, version, updated_at_ms)
                 VALUES ($1, $2, $3)
                 ON CONFLICT (component) DO UPDATE
                 SET version = EXCLUDED.version, updated_at_ms = EXCLUDED.updated_at_ms"
            ),
            &[&component, &last.version, &crate::ms_i64(now_ms())],
        )
        .await?;
    }
    c.batch("COMMIT").await
}
