//! The public PostgreSQL pool: a transaction given back without a commit is rolled back
//! and leaves no lock behind; the wait for a free connection is bounded.

use std::time::{Duration, Instant};

use widgetry_store::{PgPool, PostgresConfig, StoreError};

use crate::support::{pg_url, PgSchema};

#[tokio::test]
async fn a_transaction_dropped_without_commit_rolls_back_and_frees_its_locks() {
    let schema = PgSchema::new("pool_tx");
    schema.create().await;
    let pool = PgPool::new(
        &PostgresConfig::new(pg_url())
            .pool_size(2)
            .op_timeout(Duration::from_secs(2)),
    )
    .unwrap();
    let t = format!("\"{}\".items", schema.0);
    let mut c = pool.get().await.unwrap();
    c.batch(&format!("CREATE TABLE {t} (id BIGINT PRIMARY KEY, n BIGINT NOT NULL); INSERT INTO {t} VALUES (1, 0)"))
        .await
        .unwrap();
    drop(c);

    for round in 0..3 {
        let mut a = pool.get().await.unwrap();
        a.begin().await.unwrap();
        let locked = a
            .query(&format!("SELECT n FROM {t} WHERE id = 1 FOR UPDATE"), &[])
            .await
            .unwrap();
        assert_eq!(locked.len(), 1);
        a.execute(&format!("UPDATE {t} SET n = n + 100 WHERE id = 1"), &[])
            .await
            .unwrap();
        drop(a); // an early return: no commit

        // Another connection takes the same row lock at once and sees no trace of it.
        let mut b = pool.get().await.unwrap();
        let start = Instant::now();
        b.begin().await.unwrap();
        let n: i64 = b
            .query_opt(&format!("SELECT n FROM {t} WHERE id = 1 FOR UPDATE"), &[])
            .await
            .expect("the lock was released")
            .unwrap()
            .get(0);
        assert!(
            start.elapsed() < Duration::from_secs(1),
            "round {round}: waited {:?}",
            start.elapsed()
        );
        assert_eq!(
            n, round,
            "round {round}: the dropped update was rolled back"
        );
        b.execute(&format!("UPDATE {t} SET n = n + 1 WHERE id = 1"), &[])
            .await
            .unwrap();
        b.commit().await.unwrap();
    }
}

#[tokio::test]
async fn the_wait_for_a_free_connection_is_bounded() {
    let pool = PgPool::new(
        &PostgresConfig::new(pg_url())
            .pool_size(1)
            .acquire_timeout(Duration::from_millis(300)),
    )
    .unwrap();
    let held = pool.get().await.unwrap();
    let start = Instant::now();
    match pool.get().await {
        Err(StoreError::Unavailable(m)) => assert!(m.contains("stayed busy"), "{m}"),
        other => panic!("expected Unavailable, got {other:?}"),
    }
    let waited = start.elapsed();
    assert!(
        waited >= Duration::from_millis(250) && waited < Duration::from_secs(2),
        "waited {waited:?}"
    );
    drop(held);
    pool.get().await.expect("free again");
}
