//! Client ID Metadata Documents: a client identified by the URL of its metadata,
//! fetched from a loopback server (allowed only with `allow_loopback_metadata_documents`),
//! and the documents and URLs that must be refused.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;
use common::*;
use serde_json::json;

const CALLBACK: &str = "http://127.0.0.1:9/callback";

/// A loopback server publishing documents; returns its base URL and a hit counter.
async fn document_server() -> (String, Arc<AtomicUsize>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let hits = Arc::new(AtomicUsize::new(0));
    let doc = |body: serde_json::Value, hits: Arc<AtomicUsize>| {
        move || {
            let body = body.clone();
            let hits = Arc::clone(&hits);
            async move {
                hits.fetch_add(1, Ordering::SeqCst);
                (
                    [
                        (header::CONTENT_TYPE, "application/json"),
                        (header::CACHE_CONTROL, "max-age=60"),
                    ],
                    body.to_string(),
                )
                    .into_response()
            }
        }
    };
    let app = axum::Router::new()
        .route(
            "/client.json",
            get(doc(
                json!({
                    "client_id": format!("{base}/client.json"),
                    "client_name": "Document Client",
                    "client_uri": base,
                    "redirect_uris": [CALLBACK],
                    "grant_types": ["authorization_code", "refresh_token"],
                    "response_types": ["code"],
                    "token_endpoint_auth_method": "none",
                }),
                Arc::clone(&hits),
            )),
        )
        .route(
            "/mismatch.json",
            get(doc(
                json!({"client_id": "https://someone-else.example/client.json", "redirect_uris": [CALLBACK]}),
                Arc::clone(&hits),
            )),
        )
        .route(
            "/secret.json",
            get(doc(
                json!({
                    "client_id": format!("{base}/secret.json"),
                    "redirect_uris": [CALLBACK],
                    "token_endpoint_auth_method": "client_secret_basic",
                }),
                Arc::clone(&hits),
            )),
        )
        .route(
            "/large.json",
            get(doc(
                json!({
                    "client_id": format!("{base}/large.json"),
                    "redirect_uris": [CALLBACK],
                    "client_name": "x".repeat(6000),
                }),
                Arc::clone(&hits),
            )),
        );
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (base, hits)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metadata_document_client_completes_the_flow_and_is_cached() {
    let (docs, hits) = document_server().await;
    let dir = tempfile::tempdir().unwrap();
    let ts = start_with(sqlite_store(&dir).await, |c| {
        c.allow_loopback_metadata_documents = true
    })
    .await;
    let client = TestClient {
        id: format!("{docs}/client.json"),
        secret: None,
        redirect_uri: CALLBACK.into(),
    };
    let (verifier, challenge) = pkce();
    let page = ts.authorize(&client, &challenge, &[]).await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(page.body.contains("Document Client"));
    let cookie = browser_cookie(&page);
    let consent = ts.sign_in(&page, &cookie, USER, PASSWORD).await;
    assert!(
        consent.body.contains("127.0.0.1"),
        "the consent page names the document's host"
    );
    let done = ts.consent(&consent, &cookie, "allow").await;
    let code = done.location_param("code").expect("code");
    let tokens = ts.exchange(&client, &code, &verifier).await;
    assert_eq!(tokens.status, 200, "{}", tokens.body);
    let tokens = tokens.json();
    let claims = ts
        .verify_with_jwks(tokens["access_token"].as_str().unwrap())
        .await;
    assert_eq!(claims["client_id"], client.id);
    let refreshed = ts
        .refresh(&client, tokens["refresh_token"].as_str().unwrap())
        .await;
    assert_eq!(refreshed.status, 200, "{}", refreshed.body);

    // A second authorization uses the cached document (max-age=60).
    ts.code_for(&client, &[]).await;
    assert_eq!(hits.load(Ordering::SeqCst), 1);
    // An unregistered redirect URI is still refused without a redirect.
    let mismatch = ts
        .authorize(
            &client,
            &challenge,
            &[("redirect_uri", "http://127.0.0.1:9/other")],
        )
        .await;
    assert_eq!(mismatch.status, 400);
    assert!(mismatch.header("location").is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn loopback_and_private_metadata_urls_are_refused_without_the_flag() {
    let (docs, hits) = document_server().await;
    let dir = tempfile::tempdir().unwrap();
    let ts = start_with(sqlite_store(&dir).await, |_| {}).await;
    let port = docs.rsplit(':').next().unwrap().to_owned();
    for id in [
        format!("{docs}/client.json"),
        format!("https://127.0.0.1:{port}/client.json"),
        format!("https://localhost:{port}/client.json"),
        format!("https://[::1]:{port}/client.json"),
        "https://10.1.2.3/client.json".to_owned(),
        "https://192.168.0.10/client.json".to_owned(),
        "https://169.254.169.254/latest/meta-data".to_owned(),
        "https://[fd00::1]/client.json".to_owned(),
        "https://app.example/".to_owned(),
        "https://app.example/a/../client.json".to_owned(),
        "https://app.example/client.json?x=1".to_owned(),
        "https://user@app.example/client.json".to_owned(),
    ] {
        let client = TestClient {
            id: id.clone(),
            secret: None,
            redirect_uri: CALLBACK.into(),
        };
        let resp = ts.authorize(&client, &pkce().1, &[]).await;
        assert_eq!(resp.status, 400, "{id}");
        assert!(resp.header("location").is_none(), "{id}");
        assert!(
            resp.body.contains("metadata document was refused"),
            "{id}: {}",
            resp.body
        );
    }
    assert_eq!(hits.load(Ordering::SeqCst), 0, "nothing was fetched");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_metadata_documents_are_refused() {
    let (docs, _) = document_server().await;
    let dir = tempfile::tempdir().unwrap();
    let ts = start_with(sqlite_store(&dir).await, |c| {
        c.allow_loopback_metadata_documents = true
    })
    .await;
    for (path, why) in [
        ("/mismatch.json", "differs from its URL"),
        ("/secret.json", "not allowed in a metadata document"),
        // Fetch failures are told in general terms (the details are only logged).
        ("/large.json", "could not be fetched"),
        ("/missing.json", "could not be fetched"),
    ] {
        let client = TestClient {
            id: format!("{docs}{path}"),
            secret: None,
            redirect_uri: CALLBACK.into(),
        };
        let resp = ts.authorize(&client, &pkce().1, &[]).await;
        assert_eq!(resp.status, 400, "{path}");
        assert!(resp.body.contains(why), "{path}: {}", resp.body);
    }
    // Private targets stay refused even with the loopback flag.
    let client = TestClient {
        id: "http://10.1.2.3/client.json".into(),
        secret: None,
        redirect_uri: CALLBACK.into(),
    };
    assert_eq!(ts.authorize(&client, &pkce().1, &[]).await.status, 400);
}

/// A loopback server that answers every path with `status` and counts the requests.
async fn failing_server(status: u16) -> (String, Arc<AtomicUsize>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let hits = Arc::new(AtomicUsize::new(0));
    let counted = Arc::clone(&hits);
    let app = axum::Router::new().fallback(move || {
        let hits = Arc::clone(&counted);
        async move {
            hits.fetch_add(1, Ordering::SeqCst);
            (
                axum::http::StatusCode::from_u16(status).unwrap(),
                "internal detail: upstream 10.9.8.7 refused",
            )
        }
    });
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (base, hits)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_fetches_are_remembered_told_in_general_terms_and_limited_per_host() {
    let (docs, hits) = failing_server(500).await;
    let dir = tempfile::tempdir().unwrap();
    let ts = start_with(sqlite_store(&dir).await, |c| {
        c.allow_loopback_metadata_documents = true;
        c.metadata_document_failure_ttl = std::time::Duration::from_secs(1);
    })
    .await;
    let client = |path: &str| TestClient {
        id: format!("{docs}{path}"),
        secret: None,
        redirect_uri: CALLBACK.into(),
    };
    let flaky = client("/flaky.json");
    for _ in 0..3 {
        let resp = ts.authorize(&flaky, &pkce().1, &[]).await;
        assert_eq!(resp.status, 400);
        assert!(resp.body.contains("could not be fetched"), "{}", resp.body);
        assert!(
            !resp.body.contains("10.9.8.7") && !resp.body.contains("500"),
            "{}",
            resp.body
        );
    }
    assert_eq!(hits.load(Ordering::SeqCst), 1, "the failure was remembered");
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    ts.authorize(&flaky, &pkce().1, &[]).await;
    assert_eq!(
        hits.load(Ordering::SeqCst),
        2,
        "and forgotten after its time"
    );
    // New client ids on one host: at most 30 fetches a minute.
    let mut limited = 0;
    for n in 0..40 {
        let resp = ts
            .authorize(&client(&format!("/c{n}/client.json")), &pkce().1, &[])
            .await;
        assert_eq!(resp.status, 400);
        if resp.body.contains("too many metadata documents") {
            limited += 1;
        }
    }
    let fetched = hits.load(Ordering::SeqCst);
    assert!(fetched <= 30, "{fetched} fetches from one host in a minute");
    assert!(limited >= 10, "{limited} refused");
}
