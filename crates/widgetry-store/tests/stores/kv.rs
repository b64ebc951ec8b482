//! The `KvStore` contract, run against every backend.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use widgetry_store::{
    KvStore, MemoryKvStore, Namespace, PostgresConfig, PostgresKvStore, RedisConfig, RedisKvStore,
    SqliteKvStore, StoreError, MAX_KEY_LEN,
};

use crate::support::{pg_url, PgSchema, RedisPrefix, TempDir, REDIS_GATE, REDIS_URL};

static NS: Namespace = Namespace::from_static("contract");
static OTHER: Namespace = Namespace::from_static("contract-other");
static LISTS: Namespace = Namespace::from_static("lists");
static SWEEP: Namespace = Namespace::from_static("sweep");

const SHORT: Duration = Duration::from_millis(200);
const LONG: Duration = Duration::from_secs(60);

fn invalid<T: std::fmt::Debug>(r: Result<T, StoreError>) -> bool {
    matches!(r, Err(StoreError::Invalid(_)))
}

/// Runs `n` tasks that each call `f(task)` `per_task` times; returns every result.
async fn concurrently<T, F, Fut>(kv: &Arc<dyn KvStore>, n: usize, per_task: usize, f: F) -> Vec<T>
where
    T: Send + 'static,
    F: Fn(Arc<dyn KvStore>, usize) -> Fut + Send + Sync + Clone + 'static,
    Fut: std::future::Future<Output = T> + Send + 'static,
{
    let tasks: Vec<_> = (0..n)
        .map(|i| {
            let (kv, f) = (kv.clone(), f.clone());
            tokio::spawn(async move {
                let mut out = Vec::with_capacity(per_task);
                for _ in 0..per_task {
                    out.push(f(kv.clone(), i).await);
                }
                out
            })
        })
        .collect();
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.expect("task"));
    }
    all
}

/// The contract: every backend must pass it unchanged.
pub async fn exercise_kv(kv: Arc<dyn KvStore>) {
    // Basics, binary values, namespaces kept apart.
    assert_eq!(kv.get(&NS, "k").await.unwrap(), None);
    kv.put(&NS, "k", b"v1", None).await.unwrap();
    assert_eq!(kv.get(&NS, "k").await.unwrap().as_deref(), Some(&b"v1"[..]));
    let binary = b"\x00\xff\r\nbinary".to_vec();
    kv.put(&NS, "k", &binary, None).await.unwrap();
    assert_eq!(kv.get(&NS, "k").await.unwrap(), Some(binary));
    assert_eq!(
        kv.get(&OTHER, "k").await.unwrap(),
        None,
        "namespaces are apart"
    );
    assert!(kv.delete(&NS, "k").await.unwrap());
    assert!(!kv.delete(&NS, "k").await.unwrap());
    assert_eq!(kv.get(&NS, "k").await.unwrap(), None);

    // Keys every backend can hold, and nothing else.
    assert!(invalid(kv.put(&NS, "", b"x", None).await));
    assert!(invalid(kv.get(&NS, &"x".repeat(MAX_KEY_LEN + 1)).await));
    assert!(invalid(kv.put(&NS, "a\0b", b"x", None).await));
    let longest = "k".repeat(MAX_KEY_LEN);
    kv.put(&NS, &longest, b"ok", None).await.unwrap();
    assert!(kv.delete(&NS, &longest).await.unwrap());

    // Values that will expire during the pause below.
    kv.put(&NS, "short", b"s", Some(SHORT)).await.unwrap();
    kv.put(&NS, "long", b"l", Some(LONG)).await.unwrap();
    kv.put(&NS, "cleared", b"1", Some(SHORT)).await.unwrap();
    kv.put(&NS, "cleared", b"2", None).await.unwrap();
    assert_eq!(
        kv.get(&NS, "short").await.unwrap().as_deref(),
        Some(&b"s"[..])
    );
    assert!(
        !kv.put_if_absent(&NS, "short", b"x", None).await.unwrap(),
        "a live value is not replaced"
    );
    assert_eq!(kv.incr(&NS, "window", 1, Some(SHORT)).await.unwrap(), 1);
    assert_eq!(
        kv.incr(&NS, "window", 1, Some(LONG)).await.unwrap(),
        2,
        "a live counter keeps counting"
    );
    kv.put(&LISTS, "user:1:gone", b"x", Some(SHORT))
        .await
        .unwrap();
    kv.put(&SWEEP, "a", b"x", Some(SHORT)).await.unwrap();
    kv.put(&SWEEP, "b", b"x", Some(SHORT)).await.unwrap();

    // Counters.
    assert_eq!(kv.incr(&NS, "c", 1, None).await.unwrap(), 1);
    assert_eq!(kv.incr(&NS, "c", 5, None).await.unwrap(), 6);
    assert_eq!(kv.incr(&NS, "c", -10, None).await.unwrap(), -4);
    assert_eq!(kv.get(&NS, "c").await.unwrap().as_deref(), Some(&b"-4"[..]));
    assert!(
        invalid(kv.incr(&NS, "long", 1, None).await),
        "a value that is not a counter cannot be incremented"
    );
    kv.put(&NS, "big", i64::MAX.to_string().as_bytes(), None)
        .await
        .unwrap();
    assert!(
        invalid(kv.incr(&NS, "big", 1, None).await),
        "overflow is refused"
    );
    assert_eq!(
        kv.get(&NS, "big").await.unwrap(),
        Some(i64::MAX.to_string().into_bytes()),
        "a refused increment changes nothing"
    );

    // Atomic increments from several tasks: every value handed out exactly once.
    let mut seen = concurrently(&kv, 8, 25, |kv, _| async move {
        kv.incr(&NS, "hits", 1, None).await.unwrap()
    })
    .await;
    seen.sort_unstable();
    assert_eq!(
        seen,
        (1..=200).collect::<Vec<i64>>(),
        "no lost or repeated increment"
    );
    assert_eq!(
        kv.get(&NS, "hits").await.unwrap().as_deref(),
        Some(&b"200"[..])
    );

    // put_if_absent race: exactly one winner, whose value stays.
    let wins = concurrently(&kv, 8, 1, |kv, i| async move {
        let value = format!("task-{i}");
        kv.put_if_absent(&NS, "winner", value.as_bytes(), None)
            .await
            .unwrap()
            .then_some(value)
    })
    .await;
    let winners: Vec<String> = wins.into_iter().flatten().collect();
    assert_eq!(
        winners.len(),
        1,
        "exactly one put_if_absent wins: {winners:?}"
    );
    assert_eq!(
        kv.get(&NS, "winner").await.unwrap(),
        Some(winners[0].clone().into_bytes())
    );

    // Listing by prefix, ordered by key bytes.
    for (k, v) in [
        ("user:1:b", "1b"),
        ("user:1:a", "1a"),
        ("user:10:c", "10c"),
        ("user:2:a", "2a"),
        ("other", "o"),
        ("a*b", "glob"),
        ("a?c", "glob"),
        ("a[d", "glob"),
        ("z", "z"),
        ("é", "e-acute"),
    ] {
        kv.put(&LISTS, k, v.as_bytes(), None).await.unwrap();
    }
    kv.put(&OTHER, "user:1:zz", b"elsewhere", None)
        .await
        .unwrap();
    // After the pause, what had a short TTL is gone everywhere.
    tokio::time::sleep(Duration::from_millis(400)).await;
    let keys = |entries: Vec<(String, Vec<u8>)>| -> Vec<String> {
        entries.into_iter().map(|(k, _)| k).collect()
    };
    assert_eq!(
        kv.list(&LISTS, "user:1:", 100).await.unwrap(),
        vec![
            ("user:1:a".to_string(), b"1a".to_vec()),
            ("user:1:b".to_string(), b"1b".to_vec())
        ],
        "the expired user:1:gone is not listed; user:10: is another prefix"
    );
    assert_eq!(
        keys(kv.list(&LISTS, "user:", 2).await.unwrap()),
        ["user:10:c", "user:1:a"],
        "by bytes: '0' sorts before ':'"
    );
    assert_eq!(
        keys(kv.list(&LISTS, "user:", 100).await.unwrap()),
        ["user:10:c", "user:1:a", "user:1:b", "user:2:a"]
    );
    assert_eq!(
        keys(kv.list(&LISTS, "a*", 100).await.unwrap()),
        ["a*b"],
        "no glob"
    );
    assert_eq!(keys(kv.list(&LISTS, "a[", 100).await.unwrap()), ["a[d"]);
    assert!(kv.list(&LISTS, "user:", 0).await.unwrap().is_empty());
    assert_eq!(
        kv.list(&LISTS, "user:1:", usize::MAX).await.unwrap().len(),
        2
    );
    assert!(kv.list(&LISTS, "nomatch", 10).await.unwrap().is_empty());
    assert!(kv
        .list(&Namespace::from_static("empty"), "", 10)
        .await
        .unwrap()
        .is_empty());

    assert_eq!(
        kv.get(&NS, "short").await.unwrap(),
        None,
        "expired value hidden"
    );
    assert_eq!(
        kv.get(&NS, "long").await.unwrap().as_deref(),
        Some(&b"l"[..])
    );
    assert_eq!(
        kv.get(&NS, "cleared").await.unwrap().as_deref(),
        Some(&b"2"[..]),
        "a put without TTL removes the old TTL"
    );
    assert!(
        !kv.delete(&NS, "short").await.unwrap(),
        "deleting an expired value"
    );
    assert!(
        kv.put_if_absent(&NS, "short", b"again", None)
            .await
            .unwrap(),
        "an expired value counts as absent"
    );
    assert_eq!(
        kv.get(&NS, "short").await.unwrap().as_deref(),
        Some(&b"again"[..])
    );
    assert_eq!(
        kv.incr(&NS, "window", 1, Some(LONG)).await.unwrap(),
        1,
        "an expired counter starts over (the window kept its first TTL)"
    );
    assert_eq!(
        keys(kv.list(&LISTS, "", 100).await.unwrap()),
        [
            "a*b",
            "a?c",
            "a[d",
            "other",
            "user:10:c",
            "user:1:a",
            "user:1:b",
            "user:2:a",
            "z",
            "é"
        ],
        "everything live, by key bytes"
    );
    assert_eq!(kv.get(&SWEEP, "a").await.unwrap(), None);
    let swept = kv.sweep().await.unwrap();
    assert!(
        swept >= 2,
        "sweep removes the expired entries, removed {swept}"
    );
    assert_eq!(kv.sweep().await.unwrap(), 0, "nothing left to sweep");
    assert!(kv.list(&SWEEP, "", 10).await.unwrap().is_empty());
    kv.put(&SWEEP, "a", b"back", None).await.unwrap();
    assert_eq!(
        keys(kv.list(&SWEEP, "", 10).await.unwrap()),
        ["a"],
        "a swept key can come back"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_kv_store_follows_the_contract() {
    exercise_kv(Arc::new(MemoryKvStore::new())).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_kv_store_follows_the_contract_and_survives_reopen() {
    let dir = TempDir::new("sqlite_kv");
    let path = dir.0.join("widgetry.db");
    exercise_kv(Arc::new(SqliteKvStore::open(&path).unwrap())).await;
    let reopened = SqliteKvStore::open(&path).unwrap();
    assert_eq!(
        reopened.get(&NS, "hits").await.unwrap().as_deref(),
        Some(&b"200"[..])
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_sqlite_connections_to_one_file_count_atomically() {
    let dir = TempDir::new("sqlite_kv_two");
    let path = dir.0.join("widgetry.db");
    let a: Arc<dyn KvStore> = Arc::new(SqliteKvStore::open(&path).unwrap());
    let b: Arc<dyn KvStore> = Arc::new(SqliteKvStore::open(&path).unwrap());
    let mut tasks = Vec::new();
    for kv in [a.clone(), b.clone(), a.clone(), b.clone()] {
        tasks.push(tokio::spawn(async move {
            for _ in 0..25 {
                kv.incr(&NS, "n", 1, None).await.unwrap();
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    assert_eq!(b.get(&NS, "n").await.unwrap().as_deref(), Some(&b"100"[..]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_kv_store_follows_the_contract() {
    let schema = PgSchema::new("pg_kv");
    let kv = PostgresKvStore::with_config(PostgresConfig::new(pg_url()).schema(&schema.0))
        .await
        .unwrap();
    exercise_kv(Arc::new(kv)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_kv_store_follows_the_contract() {
    let _gate = REDIS_GATE.read().await;
    let prefix = RedisPrefix::new("redis_kv");
    let kv = RedisKvStore::with_config(RedisConfig::new(REDIS_URL).key_prefix(&prefix.0))
        .await
        .unwrap();
    exercise_kv(Arc::new(kv)).await;
}

#[test]
fn namespaces_are_checked() {
    assert!(Namespace::new("likes").is_ok());
    assert!(Namespace::new("sign-in.v2_x").is_ok());
    for bad in ["", "has space", "colon:", "é", &"n".repeat(65)] {
        assert!(
            matches!(Namespace::new(bad), Err(StoreError::Invalid(_))),
            "{bad:?} is refused"
        );
    }
    let distinct: BTreeSet<_> = [&NS, &OTHER].into_iter().collect();
    assert_eq!(distinct.len(), 2);
}
