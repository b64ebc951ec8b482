//! The authorization server on a PostgreSQL of the test's own, over TLS: a store outage
//! (the server stopped mid-test) answers 503 with an OAuth `server_error` quickly and
//! loses nothing, and the same server works again once PostgreSQL is back.

mod common;
#[path = "../../widgetry-store/tests/stores/private.rs"]
mod private;

use std::time::{Duration, Instant};

use common::*;
use private::{Certs, PrivatePg, TempDir};
use widgetry_authz::{open_store, StoreError};

const CALLBACK: &str = "http://127.0.0.1:9/callback";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_postgres_outage_is_a_503_and_the_server_recovers_when_it_returns() {
    let dir = TempDir::new("authz_tls_certs");
    let certs = Certs::new(&dir.0);
    let pg = PrivatePg::start("authz_pg", Some(&certs));
    let options = |ca: &std::path::Path| {
        format!(
            "sslmode=verify-full&sslrootcert={}&statement_timeout_ms=1000\
             &pool_acquire_timeout_ms=1000&connect_timeout=1",
            ca.display()
        )
    };
    match open_store(&pg.url("localhost", &options(&certs.other_ca))).await {
        Err(StoreError::Unavailable(m)) => assert!(m.contains("UnknownIssuer"), "{m}"),
        Err(e) => panic!("another CA: expected Unavailable, got {e}"),
        Ok(_) => panic!("a server certificate from another CA was accepted"),
    }
    let store = open_store(&pg.url("localhost", &options(&certs.ca)))
        .await
        .expect("TLS with the test CA");
    let ts = start_with(store, |_| {}).await;
    let client = ts.register(CALLBACK, false).await;
    let tokens = ts.tokens_for(&client).await;
    let refresh = tokens["refresh_token"].as_str().expect("a refresh token");

    pg.stop();
    let start = Instant::now();
    let during = ts.refresh(&client, refresh).await;
    let took = start.elapsed();
    assert_eq!(during.status, 503, "{}", during.body);
    assert_eq!(during.json()["error"], "server_error", "{}", during.body);
    assert!(took < Duration::from_secs(3), "the refresh took {took:?}");
    let page = ts.authorize(&client, &pkce().1, &[]).await;
    assert_eq!(page.status, 503, "{}", page.body);

    pg.resume();
    // The same server and store: the refresh token the outage refused still works once.
    let after = ts.refresh(&client, refresh).await;
    assert_eq!(after.status, 200, "{}", after.body);
    let rotated = after.json()["refresh_token"]
        .as_str()
        .expect("a new refresh token")
        .to_owned();
    assert_ne!(rotated, refresh);
    assert_eq!(ts.refresh(&client, &rotated).await.status, 200);
    ts.tokens_for(&client).await;
}
