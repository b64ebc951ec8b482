//! Running a component's migrations on PostgreSQL: one transaction holding an advisory
//! lock, so that instances starting together take turns and each step runs once.

use crate::now_ms;
use crate::schema::{pending, Migration, VERSION_TABLE};
use crate::StoreResult;

use super::pool::{PgConn, PgPool};

/// The advisory lock every Widgetry store takes while it sets up its tables.
const LOCK: i64 = 7_201_534_829_461_723;

/// Brings `component` up to the last of `migrations`, creating `schema` when named.
pub(crate) async fn migrate(
    pool: &PgPool,
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
    c: &mut PgConn,
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::steps_for_tests::{V1, V2, V3_FAILS};
    use crate::{PostgresConfig, StoreError};

    #[tokio::test]
    async fn steps_run_in_order_and_a_failing_one_rolls_back_with_its_batch() {
        let url = std::env::var("WIDGETRY_TEST_POSTGRES_URL")
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into());
        let schema = format!("wt_migrate_unit_{}_{}", std::process::id(), now_ms());
        let q = format!("\"{schema}\".");
        let (pool, _) = PostgresConfig::new(&url).schema(&schema).pool().unwrap();
        let version = || async {
            let mut c = pool.get().await.unwrap();
            let row = c
                .query_opt(
                    &format!("SELECT version FROM {q}{VERSION_TABLE} WHERE component = 'notes'"),
                    &[],
                )
                .await
                .unwrap()
                .unwrap();
            row.get::<_, i64>(0)
        };
        migrate(&pool, Some(&schema), &q, "notes", &[V1])
            .await
            .unwrap();
        pool.get()
            .await
            .unwrap()
            .batch(&format!(
                "INSERT INTO {q}notes (id, body) VALUES ('n1', 'kept')"
            ))
            .await
            .unwrap();
        assert_eq!(version().await, 1);

        let e = migrate(&pool, Some(&schema), &q, "notes", &[V1, V2, V3_FAILS])
            .await
            .unwrap_err();
        assert!(e.to_string().contains("no_such_table"), "{e}");
        assert_eq!(version().await, 1, "nothing of steps 2 and 3 stays");

        migrate(&pool, Some(&schema), &q, "notes", &[V1, V2])
            .await
            .unwrap();
        assert_eq!(version().await, 2);
        let mut c = pool.get().await.unwrap();
        let row = c
            .query_opt(&format!("SELECT body, author FROM {q}notes"), &[])
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            (row.get::<_, String>(0), row.get::<_, String>(1)),
            ("kept".to_owned(), "unknown".to_owned())
        );
        assert!(matches!(
            migrate(&pool, Some(&schema), &q, "notes", &[V1]).await,
            Err(StoreError::InvalidConfig(_))
        ));
        c.batch(&format!("DROP SCHEMA \"{schema}\" CASCADE"))
            .await
            .unwrap();
    }
}
