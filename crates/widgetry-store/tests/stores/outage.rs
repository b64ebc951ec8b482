//! Outages: a store fails fast with a clear `Unavailable` error while its server is down
//! and recovers by itself, without being rebuilt, once the server is back.

use std::future::Future;
use std::time::{Duration, Instant};

use widgetry_store::{
    now_ms, KvStore, Namespace, PostgresConfig, PostgresKvStore, PostgresSessionStore, RedisConfig,
    RedisKvStore, RedisSessionStore, SessionStore, StoreError, StoreResult,
};

use crate::sessions::record;
use crate::support::{
    ensure_redis, pg_url, unique, PgSchema, RedisOutage, RedisPrefix, REDIS_GATE, REDIS_URL,
};

static NS: Namespace = Namespace::from_static("outage");

/// Awaits `op`, asserting it fails within `bound` with an `Unavailable` error whose
/// message contains `needle`.
pub async fn fails_fast<T: std::fmt::Debug>(
    what: &str,
    bound: Duration,
    needle: &str,
    op: impl Future<Output = StoreResult<T>>,
) {
    let start = Instant::now();
    let result = tokio::time::timeout(bound * 3, op)
        .await
        .unwrap_or_else(|_| panic!("{what} hung for {:?}", bound * 3));
    let took = start.elapsed();
    match result {
        Err(StoreError::Unavailable(m)) => {
            eprintln!("{what}: {took:?}: {m}");
            assert!(
                m.contains(needle),
                "{what}: message {m:?} should contain {needle:?}"
            );
        }
        other => panic!("{what}: expected Unavailable, got {other:?}"),
    }
    assert!(took < bound, "{what} took {took:?}, more than {bound:?}");
}

#[tokio::test]
async fn redis_outage_fails_fast_with_a_clear_error_and_the_store_recovers_by_itself() {
    // No other test of this binary uses Redis meanwhile.
    let _gate = REDIS_GATE.write().await;
    ensure_redis();
    let prefix = RedisPrefix::new("redis_outage");
    let cfg = RedisConfig::new(REDIS_URL).key_prefix(&prefix.0);
    let sessions = RedisSessionStore::with_config(cfg.clone()).await.unwrap();
    let kv = RedisKvStore::with_config(cfg).await.unwrap();
    sessions.put(record("before", 60_000)).await.unwrap();
    kv.put(&NS, "before", b"1", None).await.unwrap();

    let mut outage = RedisOutage::begin();
    let down = Instant::now();
    let bound = Duration::from_secs(3);
    let needle = "cannot reach Redis at 127.0.0.1:6379";
    // The first operations meet the dead connection, the next ones a refused connect.
    fails_fast("session get", bound, needle, sessions.get("before")).await;
    fails_fast("kv get", bound, needle, kv.get(&NS, "before")).await;
    fails_fast(
        "session put",
        bound,
        needle,
        sessions.put(record("during", 60_000)),
    )
    .await;
    fails_fast(
        "session touch",
        bound,
        needle,
        sessions.touch("before", now_ms() + 1),
    )
    .await;
    fails_fast("session delete", bound, needle, sessions.delete("before")).await;
    fails_fast("kv put", bound, needle, kv.put(&NS, "k", b"v", None)).await;
    fails_fast("kv incr", bound, needle, kv.incr(&NS, "n", 1, None)).await;
    fails_fast(
        "kv put_if_absent",
        bound,
        needle,
        kv.put_if_absent(&NS, "p", b"v", None),
    )
    .await;
    fails_fast("kv list", bound, needle, kv.list(&NS, "", 10)).await;
    fails_fast("kv delete", bound, needle, kv.delete(&NS, "before")).await;
    fails_fast("kv sweep", bound, needle, kv.sweep()).await;
    // Many callers at once: each still bounded.
    let start = Instant::now();
    let all = join_all((0..16).map(|i| {
        let kv = &kv;
        async move { kv.get(&NS, &format!("k{i}")).await }
    }))
    .await;
    assert!(all
        .iter()
        .all(|r| matches!(r, Err(StoreError::Unavailable(_)))));
    assert!(
        start.elapsed() < bound,
        "16 concurrent calls took {:?}",
        start.elapsed()
    );

    outage.end();
    eprintln!("Redis was down for {:?}", down.elapsed());

    // Same store objects: the first operation after the restart reconnects and works.
    sessions
        .put(record("after", 60_000))
        .await
        .expect("session store recovers");
    assert!(sessions.get("after").await.unwrap().is_some());
    assert_eq!(
        kv.incr(&NS, "n", 1, None).await.expect("kv store recovers"),
        1
    );
    assert!(kv.put_if_absent(&NS, "p", b"v", None).await.unwrap());
    // FIXME(ops): this Redis runs without persistence (`--save ""`, no AOF), so a restart
    // forgets every session and value written before it. Enable AOF where that matters.
    assert!(sessions.get("before").await.unwrap().is_none());
    assert_eq!(kv.get(&NS, "before").await.unwrap(), None);

    // A restart while the stores sit idle: not even the first operation after it fails,
    // including those that are never resent (they check an idle connection first).
    let mut outage = RedisOutage::begin();
    outage.end();
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(
        kv.incr(&NS, "n", 1, None)
            .await
            .expect("incr after an idle restart"),
        1
    );
    assert!(kv
        .put_if_absent(&NS, "p", b"v", None)
        .await
        .expect("put_if_absent"));
    assert!(!sessions
        .delete("after")
        .await
        .expect("delete after an idle restart"));
    sessions
        .put(record("again", 60_000))
        .await
        .expect("put after an idle restart");
}

/// Polls the futures together (no futures crate needed) and returns their outputs.
pub async fn join_all<F: Future>(futs: impl IntoIterator<Item = F>) -> Vec<F::Output> {
    use std::task::Poll;
    let mut futs: Vec<_> = futs.into_iter().map(|f| Some(Box::pin(f))).collect();
    let mut out: Vec<Option<F::Output>> = futs.iter().map(|_| None).collect();
    std::future::poll_fn(|cx| {
        for (slot, o) in futs.iter_mut().zip(out.iter_mut()) {
            if let Some(fut) = slot {
                if let Poll::Ready(v) = fut.as_mut().poll(cx) {
                    *o = Some(v);
                    *slot = None;
                }
            }
        }
        if futs.iter().all(Option::is_none) {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    })
    .await;
    out.into_iter().flatten().collect()
}

/// Terminates every server connection opened with `application_name = app`, as a server
/// restart would, without disturbing anyone else's connections.
async fn terminate_connections(app: &str) -> i64 {
    let (client, conn) = tokio_postgres::connect(&pg_url(), tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(conn);
    let row = client
        .query_one(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE application_name = $1",
            &[&app],
        )
        .await
        .unwrap();
    let killed: i64 = row.get(0);
    for _ in 0..100 {
        let left: i64 = client
            .query_one(
                "SELECT count(*) FROM pg_stat_activity WHERE application_name = $1",
                &[&app],
            )
            .await
            .unwrap()
            .get(0);
        if left == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    killed
}

#[tokio::test]
async fn postgres_stores_reconnect_after_the_server_drops_their_connections() {
    let schema = PgSchema::new("pg_reconnect");
    let app = unique("app");
    let cfg = PostgresConfig::new(format!("{}?application_name={app}", pg_url())).schema(&schema.0);
    let kv = PostgresKvStore::with_config(cfg.clone()).await.unwrap();
    let sessions = PostgresSessionStore::with_config(cfg).await.unwrap();
    kv.put(&NS, "k", b"v", None).await.unwrap();
    sessions.put(record("s", 60_000)).await.unwrap();

    assert!(
        terminate_connections(&app).await >= 2,
        "both pools held a connection"
    );
    // Straight away: the dead connections are not handed out (or the read is retried).
    assert_eq!(kv.get(&NS, "k").await.unwrap().as_deref(), Some(&b"v"[..]));
    assert!(sessions.get("s").await.unwrap().is_some());

    terminate_connections(&app).await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    // Operations that are never retried work too once the pool noticed.
    assert_eq!(kv.incr(&NS, "n", 1, None).await.unwrap(), 1);
    assert!(sessions.delete("s").await.unwrap());
}

#[tokio::test]
async fn unreachable_servers_fail_fast_with_the_address_in_the_message() {
    let bound = Duration::from_secs(3);
    fails_fast(
        "PostgreSQL, refused",
        bound,
        "cannot reach PostgreSQL at 127.0.0.1:1/test",
        PostgresKvStore::connect("postgres://postgres:secret@127.0.0.1:1/test"),
    )
    .await;
    fails_fast(
        "Redis, refused",
        bound,
        "cannot reach Redis at 127.0.0.1:1",
        RedisKvStore::connect("redis://127.0.0.1:1"),
    )
    .await;

    // A server that accepts connections and never answers: the timeouts bound the wait.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = silent.local_addr().unwrap().port();
    let quick = Duration::from_millis(500);
    fails_fast(
        "PostgreSQL, silent",
        bound,
        &format!("cannot reach PostgreSQL at 127.0.0.1:{port}/test"),
        PostgresSessionStore::with_config(
            PostgresConfig::new(format!("postgres://postgres@127.0.0.1:{port}/test"))
                .connect_timeout(quick)
                .op_timeout(quick),
        ),
    )
    .await;
    fails_fast(
        "Redis, silent",
        bound,
        &format!("cannot reach Redis at 127.0.0.1:{port}"),
        RedisSessionStore::with_config(
            RedisConfig::new(format!("redis://127.0.0.1:{port}"))
                .connect_timeout(quick)
                .response_timeout(quick),
        ),
    )
    .await;
    drop(silent);
}

#[tokio::test]
async fn passwords_stay_out_of_error_messages() {
    let err = PostgresKvStore::connect("postgres://postgres:hunter2@127.0.0.1:1/test")
        .await
        .unwrap_err();
    assert!(!err.to_string().contains("hunter2"), "{err}");
    let err = RedisKvStore::connect("redis://:hunter2@127.0.0.1:1")
        .await
        .unwrap_err();
    assert!(!err.to_string().contains("hunter2"), "{err}");
}
