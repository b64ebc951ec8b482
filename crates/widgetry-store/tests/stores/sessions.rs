//! The `SessionStore` contract, run against every backend.

use widgetry_store::{
    now_ms, MemorySessionStore, PostgresConfig, PostgresSessionStore, RedisConfig,
    RedisSessionStore, SessionRecord, SessionStore, SqliteSessionStore,
};

use crate::support::{pg_url, PgSchema, RedisPrefix, TempDir, REDIS_GATE, REDIS_URL};

pub fn record(id: &str, ttl_ms: i64) -> SessionRecord {
    let now = now_ms();
    SessionRecord {
        id: id.to_string(),
        protocol_version: "2025-06-18".into(),
        client: r#"{"clientInfo":{"name":"t","version":"1"}}"#.into(),
        log_level: None,
        created_at_ms: now,
        expires_at_ms: (now as i64 + ttl_ms) as u64,
    }
}

/// The contract. `expired_swept` is what `sweep` reports for the one expired record:
/// 1 where the store sweeps, 0 where the server expires records by itself (Redis).
pub async fn exercise(store: &dyn SessionStore, expired_swept: u64) {
    store.put(record("a", 60_000)).await.unwrap();
    store.put(record("gone", -1)).await.unwrap();
    let got = store
        .get("a")
        .await
        .unwrap()
        .expect("live record is returned");
    assert_eq!(got, record_like(&got, "a"));
    assert_eq!(got.protocol_version, "2025-06-18");
    assert!(
        store.get("gone").await.unwrap().is_none(),
        "expired record hidden"
    );
    assert!(store.get("nope").await.unwrap().is_none());
    let later = now_ms() + 120_000;
    assert!(store.touch("a", later).await.unwrap());
    assert_eq!(
        store.get("a").await.unwrap().unwrap().expires_at_ms,
        later,
        "touch moves the expiry"
    );
    assert!(!store.touch("gone", now_ms() + 120_000).await.unwrap());
    assert!(!store.touch("nope", now_ms() + 120_000).await.unwrap());
    let mut upd = got.clone();
    upd.log_level = Some("debug".into());
    store.put(upd).await.unwrap();
    assert_eq!(
        store.get("a").await.unwrap().unwrap().log_level.as_deref(),
        Some("debug")
    );
    let mut cleared = got.clone();
    cleared.log_level = None;
    store.put(cleared).await.unwrap();
    assert_eq!(
        store.get("a").await.unwrap().unwrap().log_level,
        None,
        "a put replaces the whole record"
    );
    assert_eq!(
        store.sweep().await.unwrap(),
        expired_swept,
        "expired records swept"
    );
    assert_eq!(store.sweep().await.unwrap(), 0, "nothing left to sweep");
    assert!(store.delete("a").await.unwrap());
    assert!(!store.delete("a").await.unwrap());
    assert!(store.get("a").await.unwrap().is_none());

    // A record that expires while stored disappears on read.
    store.put(record("brief", 150)).await.unwrap();
    assert!(store.get("brief").await.unwrap().is_some());
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert!(store.get("brief").await.unwrap().is_none());
    assert!(!store.touch("brief", now_ms() + 60_000).await.unwrap());
    assert!(!store.delete("brief").await.unwrap());
}

fn record_like(got: &SessionRecord, id: &str) -> SessionRecord {
    SessionRecord {
        id: id.into(),
        protocol_version: "2025-06-18".into(),
        client: r#"{"clientInfo":{"name":"t","version":"1"}}"#.into(),
        log_level: None,
        created_at_ms: got.created_at_ms,
        expires_at_ms: got.expires_at_ms,
    }
}

#[tokio::test]
async fn memory_store_honours_expiry_and_deletes() {
    exercise(&MemorySessionStore::new(), 1).await;
}

#[tokio::test]
async fn sqlite_store_honours_expiry_and_survives_reopen() {
    let dir = TempDir::new("sqlite_sessions");
    let path = dir.0.join("sessions.db");
    {
        let store = SqliteSessionStore::open(&path).unwrap();
        exercise(&store, 1).await;
        store.put(record("kept", 60_000)).await.unwrap();
    }
    let reopened = SqliteSessionStore::open(&path).unwrap();
    assert!(
        reopened.get("kept").await.unwrap().is_some(),
        "record survives reopen"
    );
}

#[tokio::test]
async fn postgres_store_honours_expiry_and_survives_reconnect() {
    let schema = PgSchema::new("pg_sessions");
    let cfg = PostgresConfig::new(pg_url()).schema(&schema.0);
    {
        let store = PostgresSessionStore::with_config(cfg.clone())
            .await
            .unwrap();
        exercise(&store, 1).await;
        store.put(record("kept", 60_000)).await.unwrap();
    }
    let reopened = PostgresSessionStore::with_config(cfg).await.unwrap();
    assert!(reopened.get("kept").await.unwrap().is_some());
}

#[tokio::test]
async fn redis_store_honours_expiry_and_lets_redis_expire_records() {
    let _gate = REDIS_GATE.read().await;
    let prefix = RedisPrefix::new("redis_sessions");
    let cfg = RedisConfig::new(REDIS_URL).key_prefix(&prefix.0);
    let store = RedisSessionStore::with_config(cfg.clone()).await.unwrap();
    exercise(&store, 0).await;

    // The key carries the record's expiry, so Redis drops it by itself.
    store.put(record("ttl", 60_000)).await.unwrap();
    let client = redis::Client::open(REDIS_URL).unwrap();
    let mut c = client.get_multiplexed_async_connection().await.unwrap();
    let pttl: i64 = redis::cmd("PTTL")
        .arg(format!("{}session:ttl", prefix.0))
        .query_async(&mut c)
        .await
        .unwrap();
    assert!(
        (50_000..=60_000).contains(&pttl),
        "session key expires with the record, PTTL {pttl}"
    );
    assert!(store.touch("ttl", now_ms() + 300_000).await.unwrap());
    let pttl: i64 = redis::cmd("PTTL")
        .arg(format!("{}session:ttl", prefix.0))
        .query_async(&mut c)
        .await
        .unwrap();
    assert!(pttl > 250_000, "touch moves the key's expiry, PTTL {pttl}");
}
