//! TLS to PostgreSQL and Redis with rustls, against servers of the test's own with a
//! certificate from a CA the test made: the CA is trusted when named, another CA is
//! refused, a certificate for another host name is refused (unless `verify-ca`), and
//! `sslmode=require` refuses a server without TLS.

use std::time::Duration;

use widgetry_store::{
    KvStore, Namespace, PostgresKvStore, PostgresSessionStore, RedisKvStore, RedisSessionStore,
    SessionStore, StoreError,
};

use crate::private::{Certs, PrivatePg, PrivateRedis};
use crate::sessions::record;
use crate::support::{unique, TempDir};

static NS: Namespace = Namespace::from_static("tls");

/// Whether the connections named `app` on `pg` run inside TLS, as the server sees them.
async fn server_sees_tls(pg: &PrivatePg, app: &str) -> Vec<bool> {
    let (client, conn) = tokio_postgres::connect(&pg.url("127.0.0.1", ""), tokio_postgres::NoTls)
        .await
        .expect("admin connection to the private PostgreSQL");
    tokio::spawn(conn);
    client
        .query(
            "SELECT s.ssl FROM pg_stat_ssl s JOIN pg_stat_activity a USING (pid)
             WHERE a.application_name = $1",
            &[&app],
        )
        .await
        .expect("read pg_stat_ssl")
        .iter()
        .map(|r| r.get(0))
        .collect()
}

fn refused<T: std::fmt::Debug>(what: &str, result: Result<T, StoreError>, needles: &[&str]) {
    match result {
        Err(StoreError::Unavailable(m)) => {
            eprintln!("{what}: {m}");
            assert!(
                needles.iter().any(|n| m.contains(n)),
                "{what}: {m:?} should say one of {needles:?}"
            )
        }
        other => panic!("{what}: expected Unavailable, got {other:?}"),
    }
}

#[tokio::test]
async fn postgres_over_tls_trusts_the_named_ca_and_nothing_else() {
    let dir = TempDir::new("pg_tls_certs");
    let certs = Certs::new(&dir.0);
    let mut pg = PrivatePg::start("pg_tls", Some(&certs));
    let ca = certs.ca.display().to_string();
    let app = unique("tlsapp");

    // verify-full with the CA, by the name the certificate carries.
    let url = pg.url(
        "localhost",
        &format!("sslmode=verify-full&sslrootcert={ca}&application_name={app}"),
    );
    let kv = PostgresKvStore::connect(&url)
        .await
        .expect("TLS with the CA");
    kv.put(&NS, "k", b"over tls", None).await.unwrap();
    assert_eq!(
        kv.get(&NS, "k").await.unwrap().as_deref(),
        Some(&b"over tls"[..])
    );
    let seen = server_sees_tls(&pg, &app).await;
    assert!(
        !seen.is_empty() && seen.iter().all(|s| *s),
        "server-side view: {seen:?}"
    );
    // `require` verifies in full too, and sessions work the same way.
    let sessions = PostgresSessionStore::connect(
        &pg.url("localhost", &format!("sslmode=require&sslrootcert={ca}")),
    )
    .await
    .expect("sslmode=require with the CA");
    sessions.put(record("s1", 60_000)).await.unwrap();
    assert!(sessions.get("s1").await.unwrap().is_some());

    // Another CA: refused.
    let other = certs.other_ca.display().to_string();
    refused(
        "another CA",
        PostgresKvStore::connect(&pg.url(
            "localhost",
            &format!("sslmode=verify-full&sslrootcert={other}"),
        ))
        .await,
        &["UnknownIssuer"],
    );
    // No CA file: Mozilla's roots do not know the test CA.
    refused(
        "public roots",
        PostgresKvStore::connect(&pg.url("localhost", "sslmode=verify-full")).await,
        &["UnknownIssuer"],
    );
    // The right CA but a host the certificate does not name: refused by verify-full and
    // require, accepted by verify-ca.
    for mode in ["verify-full", "require", "prefer"] {
        refused(
            mode,
            PostgresKvStore::connect(
                &pg.url("127.0.0.1", &format!("sslmode={mode}&sslrootcert={ca}")),
            )
            .await,
            &["NotValidForName", "not valid for name"],
        );
    }
    let kv_ca = PostgresKvStore::connect(
        &pg.url("127.0.0.1", &format!("sslmode=verify-ca&sslrootcert={ca}")),
    )
    .await
    .expect("verify-ca ignores the host name");
    assert_eq!(
        kv_ca.get(&NS, "k").await.unwrap().as_deref(),
        Some(&b"over tls"[..])
    );

    // Bad options are configuration errors that say what is wrong.
    for (options, says) in [
        ("sslmode=verify-fulll".to_owned(), "verify-fulll"),
        (
            format!(
                "sslmode=require&sslrootcert={}",
                dir.0.join("missing.pem").display()
            ),
            "missing.pem",
        ),
        (
            format!("sslmode=require&sslrootcert={}", certs.server_key.display()),
            "no PEM certificate",
        ),
        ("pool_max_size=0".to_owned(), "pool_max_size=0"),
        (
            "statement_timeout_ms=soon".to_owned(),
            "statement_timeout_ms=soon",
        ),
    ] {
        match PostgresKvStore::connect(&pg.url("localhost", &options)).await {
            Err(StoreError::InvalidConfig(m)) => assert!(m.contains(says), "{options}: {m}"),
            other => panic!("{options}: expected InvalidConfig, got {other:?}"),
        }
    }

    // A server without TLS: `require` refuses to talk in the clear, `prefer` falls back.
    pg.restart_without_tls();
    refused(
        "require, no TLS on the server",
        PostgresKvStore::connect(
            &pg.url("localhost", &format!("sslmode=require&sslrootcert={ca}")),
        )
        .await,
        &["TLS"],
    );
    let plain =
        PostgresKvStore::connect(&pg.url("localhost", &format!("sslmode=prefer&sslrootcert={ca}")))
            .await
            .expect("prefer falls back to plain when the server has no TLS");
    assert_eq!(
        plain.get(&NS, "k").await.unwrap().as_deref(),
        Some(&b"over tls"[..])
    );
}

#[tokio::test]
async fn postgres_pool_reports_an_outage_and_recovers_when_the_server_returns() {
    let dir = TempDir::new("pg_outage_certs");
    let certs = Certs::new(&dir.0);
    let pg = PrivatePg::start("pg_outage", Some(&certs));
    let url = pg.url(
        "localhost",
        &format!(
            "sslmode=verify-full&sslrootcert={}&pool_max_size=4&pool_acquire_timeout_ms=1000\
             &statement_timeout_ms=1000&connect_timeout=1",
            certs.ca.display()
        ),
    );
    let kv = PostgresKvStore::connect(&url).await.unwrap();
    let sessions = PostgresSessionStore::connect(&url).await.unwrap();
    kv.put(&NS, "kept", b"1", None).await.unwrap();
    sessions.put(record("kept", 600_000)).await.unwrap();

    pg.stop();
    let bound = Duration::from_secs(3);
    let needle = &format!("PostgreSQL at localhost:{}/postgres", pg.port);
    crate::outage::fails_fast("get while down", bound, needle, kv.get(&NS, "kept")).await;
    crate::outage::fails_fast("incr while down", bound, needle, kv.incr(&NS, "n", 1, None)).await;
    crate::outage::fails_fast("session while down", bound, needle, sessions.get("kept")).await;
    // Many callers at once during the outage: each gets its error within the bound.
    let start = std::time::Instant::now();
    let results = crate::outage::join_all((0..16).map(|_| kv.get(&NS, "kept"))).await;
    assert_eq!(results.len(), 16);
    assert!(results
        .iter()
        .all(|r| matches!(r, Err(StoreError::Unavailable(_)))));
    assert!(
        start.elapsed() < bound * 2,
        "16 callers took {:?}",
        start.elapsed()
    );

    pg.resume();
    // The same store objects, not rebuilt: the next operations reconnect (over TLS).
    assert_eq!(
        kv.get(&NS, "kept").await.unwrap().as_deref(),
        Some(&b"1"[..])
    );
    assert_eq!(
        kv.incr(&NS, "n", 1, None).await.unwrap(),
        1,
        "the failed incr applied nothing"
    );
    assert!(sessions.get("kept").await.unwrap().is_some());
}

#[tokio::test]
async fn redis_over_tls_trusts_the_named_ca_and_checks_the_host_name() {
    let dir = TempDir::new("redis_tls_certs");
    let certs = Certs::new(&dir.0);
    let redis = PrivateRedis::start_tls("redis_tls", &certs);
    let port = redis.port;
    let ca = certs.ca.display();

    let url = format!("rediss://localhost:{port}/0?tls_ca_file={ca}");
    let kv = RedisKvStore::connect(&url)
        .await
        .expect("rediss with the CA");
    kv.put(&NS, "k", b"over tls", None).await.unwrap();
    assert_eq!(
        kv.get(&NS, "k").await.unwrap().as_deref(),
        Some(&b"over tls"[..])
    );
    let sessions = RedisSessionStore::connect(&url).await.unwrap();
    sessions.put(record("s1", 60_000)).await.unwrap();
    assert!(sessions.get("s1").await.unwrap().is_some());

    let quick = "connect_timeout_ms=500&response_timeout_ms=500";
    for (what, url, needles) in [
        (
            "another CA",
            format!(
                "rediss://localhost:{port}/0?tls_ca_file={}&{quick}",
                certs.other_ca.display()
            ),
            &["UnknownIssuer"][..],
        ),
        (
            "public roots",
            format!("rediss://localhost:{port}/0?{quick}"),
            &["UnknownIssuer"][..],
        ),
        (
            "a host the certificate does not name",
            format!("rediss://127.0.0.1:{port}/0?tls_ca_file={ca}&{quick}"),
            &["NotValidForName", "not valid for name"][..],
        ),
        (
            "plain to the TLS port",
            format!("redis://localhost:{port}/0?{quick}"),
            &["cannot reach Redis"][..],
        ),
    ] {
        refused(what, RedisKvStore::connect(&url).await, needles);
    }
    for (url, says) in [
        (
            format!("redis://localhost:{port}/0?tls_ca_file={ca}"),
            "needs TLS",
        ),
        (format!("rediss://localhost:{port}/0#insecure"), "fragment"),
        (
            format!("rediss://localhost:{port}/0?tls_ca_file=/nonexistent/ca.pem"),
            "/nonexistent/ca.pem",
        ),
        (
            format!("rediss://localhost:{port}/0?response_timeout_ms=0"),
            "response_timeout_ms=0",
        ),
    ] {
        match RedisKvStore::connect(&url).await {
            Err(StoreError::InvalidConfig(m)) => assert!(m.contains(says), "{url}: {m}"),
            other => panic!("{url}: expected InvalidConfig, got {other:?}"),
        }
    }
}
