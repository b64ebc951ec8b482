//! Refusals an attacker probes for, each checked against its RFC: no open redirector
//! before sign-in (RFC 9700 §4.11.2), a time-bounded refresh grace, `redirect_uri` at the
//! token endpoint (RFC 6749 §4.1.3), and limits on what anonymous callers can create.

mod common;

use std::time::Duration;

use common::*;
use widgetry_authz::NewClient;

/// A redirect URI on someone else's site (not loopback).
const REMOTE: &str = "https://client.example/callback";
const LOOPBACK: &str = "http://127.0.0.1:9/callback";

fn assert_error_page(resp: &Resp, code: &str) {
    assert_eq!(resp.status, 400, "{}", resp.body);
    assert!(
        resp.header("location").is_none(),
        "redirected to {:?}",
        resp.header("location")
    );
    assert!(resp
        .header("content-type")
        .unwrap()
        .starts_with("text/html"));
    assert!(resp.body.contains(code), "{}", resp.body);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn errors_before_sign_in_are_not_redirected_to_untrusted_redirect_uris() {
    let dir = tempfile::tempdir().unwrap();
    let ts = start_with(sqlite_store(&dir).await, |_| {}).await;
    let (verifier, challenge) = pkce();

    // Anyone can register a client: its remote redirect URI gets no error redirects.
    let dynamic = ts.register(REMOTE, false).await;
    let none = ts
        .authorize(&dynamic, &challenge, &[("prompt", "none")])
        .await;
    assert_error_page(&none, "login_required");
    let plain = ts
        .authorize(&dynamic, &verifier, &[("code_challenge_method", "plain")])
        .await;
    assert_error_page(&plain, "invalid_request");
    let scope = ts
        .authorize(&dynamic, &challenge, &[("scope", "admin")])
        .await;
    assert_error_page(&scope, "invalid_scope");
    // The request itself still works; only its errors stay here.
    assert_eq!(ts.authorize(&dynamic, &challenge, &[]).await.status, 200);

    // A loopback redirect URI leads back to the user's own machine: trusted.
    let native = ts.register(LOOPBACK, false).await;
    let none = ts
        .authorize(&native, &challenge, &[("prompt", "none")])
        .await;
    assert_eq!(none.status, 302, "{}", none.body);
    assert_eq!(
        none.location_param("error").as_deref(),
        Some("login_required")
    );

    // A pre-registered client's redirect URIs were added by the operator: trusted.
    ts.server
        .clients()
        .add(NewClient::new("Partner", [REMOTE]).client_id("partner"))
        .await
        .unwrap();
    let partner = TestClient {
        id: "partner".into(),
        secret: None,
        redirect_uri: REMOTE.into(),
    };
    let none = ts
        .authorize(&partner, &challenge, &[("prompt", "none")])
        .await;
    assert_eq!(none.status, 302, "{}", none.body);
    assert!(none.header("location").unwrap().starts_with(REMOTE));
    assert_eq!(
        none.location_param("error").as_deref(),
        Some("login_required")
    );
    assert_eq!(none.location_param("state").as_deref(), Some("st-123"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn errors_after_sign_in_still_reach_an_untrusted_redirect_uri() {
    let dir = tempfile::tempdir().unwrap();
    let ts = start_with(sqlite_store(&dir).await, |_| {}).await;
    let dynamic = ts.register(REMOTE, false).await;
    let (_, challenge) = pkce();
    let page = ts.authorize(&dynamic, &challenge, &[]).await;
    let cookie = browser_cookie(&page);
    let consent = ts.sign_in(&page, &cookie, USER, PASSWORD).await;
    let denied = ts.consent(&consent, &cookie, "deny").await;
    assert_eq!(denied.status, 303);
    assert!(denied.header("location").unwrap().starts_with(REMOTE));
    assert_eq!(
        denied.location_param("error").as_deref(),
        Some("access_denied")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn used_refresh_token_presented_after_the_grace_is_reuse_and_revokes_the_grant() {
    let dir = tempfile::tempdir().unwrap();
    let ts = start_with(sqlite_store(&dir).await, |c| {
        c.refresh_token_grace = Duration::from_secs(1);
    })
    .await;
    let client = ts.register(LOOPBACK, true).await;
    let tokens = ts.tokens_for(&client).await;
    let r1 = tokens["refresh_token"].as_str().unwrap().to_owned();
    let first = ts.refresh(&client, &r1).await;
    assert_eq!(first.status, 200, "{}", first.body);
    let r2 = first.json()["refresh_token"].as_str().unwrap().to_owned();
    let access = first.json()["access_token"].as_str().unwrap().to_owned();

    // Its successor is still unused, but the grace is over: r1 is reuse.
    tokio::time::sleep(Duration::from_millis(2100)).await;
    let late = ts.refresh(&client, &r1).await;
    assert_eq!(late.status, 400, "{}", late.body);
    assert_eq!(late.json()["error"], "invalid_grant");
    // ... and the whole grant is revoked.
    let after = ts.refresh(&client, &r2).await;
    assert_eq!(after.status, 400, "{}", after.body);
    assert_eq!(after.json()["error"], "invalid_grant");
    assert_eq!(ts.introspect(&client, &access).await["active"], false);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refresh_token_within_the_grace_still_works_until_its_successor_is_used() {
    let dir = tempfile::tempdir().unwrap();
    let ts = start_with(sqlite_store(&dir).await, |_| {}).await;
    let client = ts.register(LOOPBACK, true).await;
    let tokens = ts.tokens_for(&client).await;
    let r1 = tokens["refresh_token"].as_str().unwrap().to_owned();
    let first = ts.refresh(&client, &r1).await;
    assert_eq!(first.status, 200, "{}", first.body);
    // The answer was lost: the client retries with r1 at once.
    let retry = ts.refresh(&client, &r1).await;
    assert_eq!(retry.status, 200, "{}", retry.body);
    let r2 = retry.json()["refresh_token"].as_str().unwrap().to_owned();
    assert_eq!(ts.refresh(&client, &r2).await.status, 200);
    let reuse = ts.refresh(&client, &r1).await;
    assert_eq!(reuse.status, 400);
    assert_eq!(reuse.json()["error"], "invalid_grant");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn token_request_must_repeat_the_redirect_uri_sent_to_authorize() {
    let dir = tempfile::tempdir().unwrap();
    let ts = start_with(sqlite_store(&dir).await, |_| {}).await;
    let client = ts.register(LOOPBACK, false).await;

    // Sent to authorize, missing at the token endpoint: a required parameter is missing.
    let (code, verifier) = ts.code_for(&client, &[]).await;
    let missing = ts
        .token(
            &client,
            &[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("code_verifier", &verifier),
            ],
        )
        .await;
    assert_eq!(missing.status, 400, "{}", missing.body);
    assert_eq!(missing.json()["error"], "invalid_request");

    // Not sent to authorize (the client has one redirect URI): optional at the token endpoint.
    let (code, verifier) = ts.code_for(&client, &[("redirect_uri", "")]).await;
    let resp = ts
        .token(
            &client,
            &[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("code_verifier", &verifier),
            ],
        )
        .await;
    assert_eq!(resp.status, 200, "{}", resp.body);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dynamic_registrations_beyond_the_per_address_limit_are_refused_with_429() {
    let dir = tempfile::tempdir().unwrap();
    let ts = start_with(sqlite_store(&dir).await, |c| {
        c.registrations_per_address = 3;
    })
    .await;
    for _ in 0..3 {
        ts.register(LOOPBACK, false).await;
    }
    let resp = ts
        .http
        .post_json(
            &ts.url("/oauth/register"),
            &serde_json::json!({ "redirect_uris": [LOOPBACK], "token_endpoint_auth_method": "none" }),
        )
        .await;
    assert_eq!(resp.status, 429, "{}", resp.body);
    assert_eq!(resp.json()["error"], "temporarily_unavailable");
    assert!(resp.json()["error_description"]
        .as_str()
        .unwrap()
        .contains("limit 3 per 1 hour"));
    assert!(resp.header("retry-after").is_some());
    assert_eq!(ts.server.clients().list().await.unwrap().len(), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unused_dynamic_registrations_are_capped() {
    let dir = tempfile::tempdir().unwrap();
    let ts = start_with(sqlite_store(&dir).await, |c| {
        c.max_unused_registrations = 2;
    })
    .await;
    let first = ts.register(LOOPBACK, false).await;
    ts.register(LOOPBACK, false).await;
    let body =
        serde_json::json!({ "redirect_uris": [LOOPBACK], "token_endpoint_auth_method": "none" });
    let resp = ts.http.post_json(&ts.url("/oauth/register"), &body).await;
    assert_eq!(resp.status, 429, "{}", resp.body);
    assert!(resp.json()["error_description"]
        .as_str()
        .unwrap()
        .contains("waiting to be used"));
    // A registration that gets used no longer counts.
    ts.tokens_for(&first).await;
    let resp = ts.http.post_json(&ts.url("/oauth/register"), &body).await;
    assert_eq!(resp.status, 201, "{}", resp.body);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn authorization_requests_beyond_the_limits_get_a_429_page() {
    let dir = tempfile::tempdir().unwrap();
    let ts = start_with(sqlite_store(&dir).await, |c| {
        c.pending_authorizations_per_address = 2;
    })
    .await;
    let client = ts.register(LOOPBACK, false).await;
    let (_, challenge) = pkce();
    for _ in 0..2 {
        assert_eq!(ts.authorize(&client, &challenge, &[]).await.status, 200);
    }
    let third = ts.authorize(&client, &challenge, &[]).await;
    assert_eq!(third.status, 429, "{}", third.body);
    assert!(third.header("location").is_none());
    assert!(
        third.body.contains("Too many sign-in requests"),
        "{}",
        third.body
    );

    let dir = tempfile::tempdir().unwrap();
    let ts = start_with(sqlite_store(&dir).await, |c| {
        c.max_pending_authorizations = 2;
    })
    .await;
    let client = ts.register(LOOPBACK, false).await;
    for _ in 0..2 {
        assert_eq!(ts.authorize(&client, &challenge, &[]).await.status, 200);
    }
    let third = ts.authorize(&client, &challenge, &[]).await;
    assert_eq!(third.status, 429, "{}", third.body);
    assert!(third.body.contains("in progress"), "{}", third.body);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_version_1_store_is_upgraded_and_keeps_working() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("authz.sqlite3");
    drop(sqlite_store(&dir).await);
    // Turn the file back into schema version 1: codes without `redirect_uri_sent`.
    {
        let conn = rusqlite::Connection::open(&path).unwrap();
        conn.execute_batch(
            "ALTER TABLE authz_codes DROP COLUMN redirect_uri_sent; \
             UPDATE authz_meta SET value = '1' WHERE name = 'schema_version';",
        )
        .unwrap();
    }
    let ts = start_with(sqlite_store(&dir).await, |_| {}).await;
    let client = ts.register(LOOPBACK, false).await;
    let (code, verifier) = ts.code_for(&client, &[]).await;
    let missing = ts
        .token(
            &client,
            &[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("code_verifier", &verifier),
            ],
        )
        .await;
    assert_eq!(missing.json()["error"], "invalid_request");
    ts.tokens_for(&client).await;
    let conn = rusqlite::Connection::open(&path).unwrap();
    let version: String = conn
        .query_row(
            "SELECT value FROM authz_meta WHERE name = 'schema_version'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(version, "3", "upgraded through every version");
    let counters: i64 = conn
        .query_row("SELECT COUNT(*) FROM authz_counters", [], |r| r.get(0))
        .unwrap();
    assert!(
        counters > 0,
        "the sign-in and creation limits count in the new table"
    );
}
