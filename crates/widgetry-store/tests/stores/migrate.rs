//! Versioned schemas: a store written before versions were recorded (a fixture of the
//! tables and rows as that code wrote them) opens with its data intact and is stamped
//! version 1; a store newer than the code is refused and left as it is; instances that
//! open a fresh store together all succeed and record one version.

use std::collections::BTreeMap;
use std::sync::Arc;

use widgetry_store::{
    KvStore, Namespace, PostgresConfig, PostgresKvStore, PostgresSessionStore, RedisConfig,
    RedisKvStore, RedisSessionStore, SessionStore, SqliteKvStore, SqliteSessionStore, StoreError,
    StoreResult,
};

use crate::outage::join_all;
use crate::support::{pg_url, PgSchema, RedisPrefix, TempDir, REDIS_GATE, REDIS_URL};

const SQLITE_FIXTURE: &str = include_str!("fixtures/before_versions.sqlite.sql");
const POSTGRES_FIXTURE: &str = include_str!("fixtures/before_versions.postgres.sql");

static USERS: Namespace = Namespace::from_static("users");
static LIKES: Namespace = Namespace::from_static("likes");
static HITS: Namespace = Namespace::from_static("hits");

/// The fixture's data, read through the stores of this code; then one write of each kind.
async fn fixture_data_is_all_there(sessions: &dyn SessionStore, kv: &dyn KvStore) {
    let s = sessions
        .get("sess-old")
        .await
        .unwrap()
        .expect("the old session");
    assert_eq!(
        (
            s.protocol_version.as_str(),
            s.log_level.as_deref(),
            s.created_at_ms
        ),
        ("2025-06-18", Some("info"), 1_764_000_000_000)
    );
    assert_eq!(s.client, r#"{"clientInfo":{"name":"old"}}"#);
    let users = kv.list(&USERS, "", 10).await.unwrap();
    assert_eq!(
        users,
        vec![
            ("alice".to_owned(), br#"{"name":"Alice"}"#.to_vec()),
            ("bob".to_owned(), br#"{"name":"Bob"}"#.to_vec()),
        ]
    );
    assert_eq!(kv.get(&LIKES, "alice:w-1").await.unwrap(), Some(Vec::new()));
    assert!(!kv
        .put_if_absent(&LIKES, "alice:w-1", b"", None)
        .await
        .unwrap());
    assert_eq!(kv.incr(&HITS, "home", 1, None).await.unwrap(), 6);
    assert!(sessions.touch("sess-old", 4_102_444_900_000).await.unwrap());
}

fn versions_sqlite(path: &std::path::Path) -> BTreeMap<String, i64> {
    let c = rusqlite::Connection::open(path).unwrap();
    let mut stmt = c
        .prepare("SELECT component, version FROM widgetry_schema_version")
        .unwrap();
    let rows = stmt
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    rows
}

fn both_at(v: i64) -> BTreeMap<String, i64> {
    [
        ("mcp_sessions".to_owned(), v),
        ("widgetry_kv".to_owned(), v),
    ]
    .into()
}

fn newer_is_refused<T: std::fmt::Debug>(what: &str, result: StoreResult<T>) {
    match result {
        Err(StoreError::InvalidConfig(m)) => assert!(
            m.contains("version 2") && m.contains("newer than this program knows (up to 1)"),
            "{what}: {m}"
        ),
        other => panic!("{what}: expected InvalidConfig, got {other:?}"),
    }
}

#[tokio::test]
async fn sqlite_store_from_before_versions_keeps_its_data_and_newer_ones_are_refused() {
    let dir = TempDir::new("migrate_sqlite");
    let path = dir.0.join("widgetry.db");
    rusqlite::Connection::open(&path)
        .unwrap()
        .execute_batch(SQLITE_FIXTURE)
        .unwrap();
    assert!(
        versions_sqlite_table_absent(&path),
        "the fixture has no version table"
    );

    let sessions = SqliteSessionStore::open(&path).unwrap();
    let kv = SqliteKvStore::open(&path).unwrap();
    fixture_data_is_all_there(&sessions, &kv).await;
    assert_eq!(versions_sqlite(&path), both_at(1));
    drop((sessions, kv));
    // Opening again changes nothing.
    let kv = SqliteKvStore::open(&path).unwrap();
    assert_eq!(kv.incr(&HITS, "home", 1, None).await.unwrap(), 7);
    drop(kv);

    rusqlite::Connection::open(&path)
        .unwrap()
        .execute_batch("UPDATE widgetry_schema_version SET version = 2")
        .unwrap();
    newer_is_refused("SQLite sessions", SqliteSessionStore::open(&path));
    newer_is_refused("SQLite kv", SqliteKvStore::open(&path));
    assert_eq!(
        versions_sqlite(&path),
        both_at(2),
        "a refused store is left alone"
    );
}

fn versions_sqlite_table_absent(path: &std::path::Path) -> bool {
    let c = rusqlite::Connection::open(path).unwrap();
    let n: i64 = c
        .query_row(
            "SELECT count(*) FROM sqlite_master WHERE name = 'widgetry_schema_version'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    n == 0
}

#[tokio::test]
async fn sqlite_processes_opening_a_fresh_file_together_all_succeed() {
    let dir = TempDir::new("migrate_sqlite_race");
    let path = dir.0.join("widgetry.db");
    let path = Arc::new(path);
    let threads: Vec<_> = (0..8)
        .map(|i| {
            let path = path.clone();
            std::thread::spawn(move || {
                if i % 2 == 0 {
                    SqliteKvStore::open(&*path).map(|_| ())
                } else {
                    SqliteSessionStore::open(&*path).map(|_| ())
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap().expect("every opener succeeds");
    }
    assert_eq!(versions_sqlite(&path), both_at(1));
}

async fn admin() -> tokio_postgres::Client {
    let (client, conn) = tokio_postgres::connect(&pg_url(), tokio_postgres::NoTls)
        .await
        .expect("connect to PostgreSQL");
    tokio::spawn(conn);
    client
}

async fn versions_pg(schema: &str) -> BTreeMap<String, i64> {
    admin()
        .await
        .query(
            &format!("SELECT component, version FROM \"{schema}\".widgetry_schema_version"),
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect()
}

#[tokio::test]
async fn postgres_store_from_before_versions_keeps_its_data_and_newer_ones_are_refused() {
    let schema = PgSchema::new("migrate_pg");
    schema.create().await;
    admin()
        .await
        .batch_execute(&format!(
            "SET search_path TO \"{}\"; {POSTGRES_FIXTURE}",
            schema.0
        ))
        .await
        .unwrap();

    let cfg = PostgresConfig::new(pg_url()).schema(&schema.0);
    let sessions = PostgresSessionStore::with_config(cfg.clone())
        .await
        .unwrap();
    let kv = PostgresKvStore::with_config(cfg.clone()).await.unwrap();
    fixture_data_is_all_there(&sessions, &kv).await;
    assert_eq!(versions_pg(&schema.0).await, both_at(1));
    let kv = PostgresKvStore::with_config(cfg.clone()).await.unwrap();
    assert_eq!(kv.incr(&HITS, "home", 1, None).await.unwrap(), 7);

    admin()
        .await
        .batch_execute(&format!(
            "UPDATE \"{}\".widgetry_schema_version SET version = 2",
            schema.0
        ))
        .await
        .unwrap();
    newer_is_refused(
        "PostgreSQL sessions",
        PostgresSessionStore::with_config(cfg.clone()).await,
    );
    newer_is_refused("PostgreSQL kv", PostgresKvStore::with_config(cfg).await);
    assert_eq!(versions_pg(&schema.0).await, both_at(2));
}

#[tokio::test]
async fn postgres_instances_opening_a_fresh_store_together_all_succeed() {
    let schema = PgSchema::new("migrate_pg_race");
    let cfg = PostgresConfig::new(pg_url()).schema(&schema.0);
    let kvs = join_all((0..6).map(|_| PostgresKvStore::with_config(cfg.clone()))).await;
    let sessions = join_all((0..6).map(|_| PostgresSessionStore::with_config(cfg.clone()))).await;
    for r in &kvs {
        assert!(r.is_ok(), "{r:?}");
    }
    for r in &sessions {
        assert!(r.is_ok(), "{r:?}");
    }
    assert_eq!(versions_pg(&schema.0).await, both_at(1));
}

#[tokio::test]
async fn redis_key_format_is_recorded_and_newer_ones_are_refused() {
    let _gate = REDIS_GATE.read().await;
    let prefix = RedisPrefix::new("migrate_redis");
    let cfg = RedisConfig::new(REDIS_URL).key_prefix(&prefix.0);
    let kv = RedisKvStore::with_config(cfg.clone()).await.unwrap();
    kv.put(&USERS, "alice", b"A", None).await.unwrap();
    RedisSessionStore::with_config(cfg.clone()).await.unwrap();

    let client = redis::Client::open(REDIS_URL).unwrap();
    let mut c = client.get_multiplexed_async_connection().await.unwrap();
    let key = format!("{}schema_version", prefix.0);
    let recorded: BTreeMap<String, i64> = redis::cmd("HGETALL")
        .arg(&key)
        .query_async(&mut c)
        .await
        .unwrap();
    assert_eq!(recorded, both_at(1));

    let _: () = redis::cmd("HSET")
        .arg(&key)
        .arg("widgetry_kv")
        .arg(2)
        .arg("mcp_sessions")
        .arg(2)
        .query_async(&mut c)
        .await
        .unwrap();
    newer_is_refused("Redis kv", RedisKvStore::with_config(cfg.clone()).await);
    newer_is_refused("Redis sessions", RedisSessionStore::with_config(cfg).await);
    assert_eq!(
        kv.get(&USERS, "alice").await.unwrap().as_deref(),
        Some(&b"A"[..]),
        "an open store keeps working; only new ones are refused"
    );
}
