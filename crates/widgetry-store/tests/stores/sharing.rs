//! Two store instances on one server see each other's writes, as two app instances
//! behind a load balancer must.

use std::sync::Arc;

use widgetry_store::{
    now_ms, KvStore, Namespace, PostgresConfig, PostgresKvStore, PostgresSessionStore, RedisConfig,
    RedisKvStore, RedisSessionStore, SessionStore,
};

use crate::sessions::record;
use crate::support::{pg_url, PgSchema, RedisPrefix, REDIS_GATE, REDIS_URL};

static NS: Namespace = Namespace::from_static("shared");

async fn sessions_are_shared(a: &dyn SessionStore, b: &dyn SessionStore) {
    a.put(record("s1", 60_000)).await.unwrap();
    assert!(b.get("s1").await.unwrap().is_some(), "B sees A's session");
    let later = now_ms() + 300_000;
    assert!(b.touch("s1", later).await.unwrap());
    assert_eq!(
        a.get("s1").await.unwrap().unwrap().expires_at_ms,
        later,
        "A sees B's touch"
    );
    assert!(a.delete("s1").await.unwrap());
    assert!(b.get("s1").await.unwrap().is_none(), "B sees A's delete");
    assert!(!b.delete("s1").await.unwrap());
}

async fn kv_is_shared(a: Arc<dyn KvStore>, b: Arc<dyn KvStore>) {
    a.put(&NS, "likes:u1:w1", b"1", None).await.unwrap();
    assert_eq!(
        b.get(&NS, "likes:u1:w1").await.unwrap().as_deref(),
        Some(&b"1"[..])
    );
    b.put(&NS, "likes:u1:w2", b"1", None).await.unwrap();
    assert_eq!(
        a.list(&NS, "likes:u1:", 10).await.unwrap().len(),
        2,
        "A lists B's write"
    );

    // Increments from both instances at once: none lost.
    let mut tasks = Vec::new();
    for kv in [a.clone(), b.clone(), a.clone(), b.clone()] {
        tasks.push(tokio::spawn(async move {
            for _ in 0..25 {
                kv.incr(&NS, "hits", 1, None).await.unwrap();
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    assert_eq!(
        a.get(&NS, "hits").await.unwrap().as_deref(),
        Some(&b"100"[..])
    );

    // put_if_absent across instances: one winner.
    let (ra, rb) = tokio::join!(
        a.put_if_absent(&NS, "lock", b"a", None),
        b.put_if_absent(&NS, "lock", b"b", None)
    );
    assert!(
        ra.unwrap() ^ rb.unwrap(),
        "exactly one instance takes the lock"
    );
    assert!(a.delete(&NS, "lock").await.unwrap());
    assert!(
        b.put_if_absent(&NS, "lock", b"b", None).await.unwrap(),
        "released for B"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_postgres_instances_see_each_others_writes() {
    let schema = PgSchema::new("pg_shared");
    let cfg = PostgresConfig::new(pg_url()).schema(&schema.0).pool_size(4);
    // Opened together: the table set-up must not race.
    let (sa, sb, ka, kb) = tokio::join!(
        PostgresSessionStore::with_config(cfg.clone()),
        PostgresSessionStore::with_config(cfg.clone()),
        PostgresKvStore::with_config(cfg.clone()),
        PostgresKvStore::with_config(cfg.clone()),
    );
    sessions_are_shared(&sa.unwrap(), &sb.unwrap()).await;
    kv_is_shared(Arc::new(ka.unwrap()), Arc::new(kb.unwrap())).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_redis_instances_see_each_others_writes() {
    let _gate = REDIS_GATE.read().await;
    let prefix = RedisPrefix::new("redis_shared");
    let cfg = RedisConfig::new(REDIS_URL).key_prefix(&prefix.0);
    let sa = RedisSessionStore::with_config(cfg.clone()).await.unwrap();
    let sb = RedisSessionStore::with_config(cfg.clone()).await.unwrap();
    sessions_are_shared(&sa, &sb).await;
    let ka = RedisKvStore::with_config(cfg.clone()).await.unwrap();
    let kb = RedisKvStore::with_config(cfg).await.unwrap();
    kv_is_shared(Arc::new(ka), Arc::new(kb)).await;
}
