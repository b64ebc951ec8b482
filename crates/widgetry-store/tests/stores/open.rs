//! Choosing a backend from a URL, and the environment variables an app reads.

use std::path::PathBuf;

use widgetry_store::{
    open_kv_store, open_session_store, Namespace, StoreConfig, StoreError, StoreLocation,
    DEFAULT_DATABASE_FILE,
};

use crate::sessions::{exercise, record};
use crate::support::{
    ensure_redis, pg_url, unique, PgSchema, RedisPrefix, TempDir, REDIS_GATE, REDIS_URL,
};

static NS: Namespace = Namespace::from_static("factory");

#[test]
fn store_urls_choose_the_backend() {
    let parse = |u: &str| StoreLocation::parse(u).unwrap();
    assert_eq!(parse("memory:"), StoreLocation::Memory);
    assert_eq!(
        parse("sqlite:///var/lib/a.db"),
        StoreLocation::Sqlite("/var/lib/a.db".into())
    );
    assert_eq!(
        parse("sqlite://data/a.db"),
        StoreLocation::Sqlite("data/a.db".into())
    );
    assert_eq!(parse("sqlite:a.db"), StoreLocation::Sqlite("a.db".into()));
    assert_eq!(
        parse("/srv/app/widgetry.db"),
        StoreLocation::Sqlite("/srv/app/widgetry.db".into())
    );
    assert_eq!(
        parse("./widgetry.db"),
        StoreLocation::Sqlite("./widgetry.db".into())
    );
    assert_eq!(
        parse("C:\\data\\w.db"),
        StoreLocation::Sqlite("C:\\data\\w.db".into())
    );
    assert!(matches!(
        parse("postgres://u:p@h/db"),
        StoreLocation::Postgres(_)
    ));
    assert!(matches!(
        parse("postgresql://h/db"),
        StoreLocation::Postgres(_)
    ));
    assert!(matches!(parse("redis://h:6379/1"), StoreLocation::Redis(_)));
    assert!(matches!(
        parse("redis+unix:///run/redis.sock"),
        StoreLocation::Redis(_)
    ));
    assert_eq!(
        parse("postgres://app:secret@db/app").to_string(),
        "postgres://app:***@db/app",
        "Display masks the password"
    );

    assert!(matches!(
        StoreLocation::parse("rediss://cache:6380/0"),
        Ok(StoreLocation::Redis(u)) if u == "rediss://cache:6380/0"
    ));
    for (bad, says) in [
        ("mysql://db/app", "unknown store URL scheme `mysql:`"),
        ("sqlite://", "names no file"),
        ("", "empty store URL"),
    ] {
        match StoreLocation::parse(bad) {
            Err(StoreError::InvalidConfig(m)) => {
                assert!(m.contains(says), "{bad:?}: {m:?} should say {says:?}");
                assert!(
                    m.contains("expected") || m.contains("write") || m.contains("redis://"),
                    "{bad:?}: {m:?} says what would work"
                );
            }
            other => panic!("{bad:?}: expected InvalidConfig, got {other:?}"),
        }
    }
}

#[test]
fn environment_defaults_to_sqlite_in_the_data_dir_for_both() {
    let cfg = StoreConfig::from_values(None, None, "/srv/app").unwrap();
    let file = StoreLocation::Sqlite(PathBuf::from("/srv/app").join(DEFAULT_DATABASE_FILE));
    assert_eq!(cfg.database, file);
    assert_eq!(cfg.sessions, file, "sessions default to the database");

    let cfg = StoreConfig::from_values(Some("postgres://db/app"), Some(""), "/srv/app").unwrap();
    assert!(matches!(cfg.database, StoreLocation::Postgres(_)));
    assert_eq!(
        cfg.sessions, cfg.database,
        "an empty variable counts as unset"
    );

    let cfg =
        StoreConfig::from_values(Some("postgres://db/app"), Some("redis://cache"), "/srv").unwrap();
    assert!(matches!(cfg.sessions, StoreLocation::Redis(_)));

    match StoreConfig::from_values(None, Some("mongodb://x"), "/srv") {
        Err(StoreError::InvalidConfig(m)) => assert!(
            m.starts_with("WIDGETRY_SESSION_STORE_URL: unknown store URL scheme `mongodb:`"),
            "{m}"
        ),
        other => panic!("expected InvalidConfig, got {other:?}"),
    }
}

#[tokio::test]
async fn from_env_opens_working_stores() {
    // Only reads the environment (never sets it: other tests run in parallel).
    let dir = TempDir::new("from_env");
    let expected = StoreConfig::from_values(
        std::env::var("WIDGETRY_DATABASE_URL").ok().as_deref(),
        std::env::var("WIDGETRY_SESSION_STORE_URL").ok().as_deref(),
        &dir.0,
    )
    .unwrap();
    assert_eq!(StoreConfig::from_env(&dir.0).unwrap(), expected);
    if std::env::var_os("WIDGETRY_DATABASE_URL").is_none() {
        let stores = widgetry_store::from_env(&dir.0).await.unwrap();
        stores.kv.put(&NS, "k", b"v", None).await.unwrap();
        stores.sessions.put(record("s", 60_000)).await.unwrap();
        assert!(
            dir.0.join(DEFAULT_DATABASE_FILE).exists(),
            "SQLite file in the data dir"
        );
        let again = StoreConfig::from_env(&dir.0).unwrap().open().await.unwrap();
        assert_eq!(
            again.kv.get(&NS, "k").await.unwrap().as_deref(),
            Some(&b"v"[..])
        );
        assert!(again.sessions.get("s").await.unwrap().is_some());
    }
}

#[tokio::test]
async fn every_url_scheme_opens_a_working_store() {
    // memory:
    exercise(&*open_session_store("memory:").await.unwrap(), 1).await;
    let kv = open_kv_store("memory:").await.unwrap();
    kv.put(&NS, "k", b"v", None).await.unwrap();

    // SQLite, by URL and by plain path, seeing the same file.
    let dir = TempDir::new("factory_sqlite");
    let path = dir.0.join("nested").join("w.db");
    let url = format!("sqlite://{}", path.display());
    exercise(&*open_session_store(&url).await.unwrap(), 1).await;
    open_kv_store(&url)
        .await
        .unwrap()
        .put(&NS, "k", b"file", None)
        .await
        .unwrap();
    let by_path = open_kv_store(path.to_str().unwrap()).await.unwrap();
    assert_eq!(
        by_path.get(&NS, "k").await.unwrap().as_deref(),
        Some(&b"file"[..])
    );

    // PostgreSQL, with the tables in a schema of this test through `search_path`.
    let schema = PgSchema::new("factory_pg");
    schema.create().await;
    let url = format!("{}?options=-c%20search_path%3D{}", pg_url(), schema.0);
    exercise(&*open_session_store(&url).await.unwrap(), 1).await;
    let kv = open_kv_store(&url).await.unwrap();
    kv.put(&NS, "k", b"pg", None).await.unwrap();
    assert_eq!(kv.get(&NS, "k").await.unwrap().as_deref(), Some(&b"pg"[..]));

    // Redis, under the default prefix: touch only a key of this test.
    let _gate = REDIS_GATE.read().await;
    ensure_redis();
    let _cleanup = RedisPrefix(format!("widgetry:kv:{NS}:"));
    let kv = open_kv_store(REDIS_URL).await.unwrap();
    let key = unique("factory_redis");
    kv.put(&NS, &key, b"redis", None).await.unwrap();
    assert_eq!(
        kv.get(&NS, &key).await.unwrap().as_deref(),
        Some(&b"redis"[..])
    );
    assert!(kv.delete(&NS, &key).await.unwrap());
    let sessions = open_session_store(REDIS_URL).await.unwrap();
    let id = unique("factory_session");
    sessions.put(record(&id, 60_000)).await.unwrap();
    assert!(sessions.delete(&id).await.unwrap());
}
