//! What tokens can make the server fetch: a flood of bad tokens costs no outbound calls
//! after the first, introspection runs a bounded number of calls at once, the JWKS is
//! refreshed on a timer (and kept when the issuer fails), plain-HTTP issuers are refused
//! off loopback, and tokens naming made-up keys cannot make the embedded server reload
//! its keys more than once per interval.

#[path = "common/issuer.rs"]
mod issuer;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::routing::post;
use issuer::{Alg, TestIssuer};
use serde_json::json;
use widgetry::auth::{AuthError, AuthState, IntrospectionVerifier, JwtVerifier, Verifier};
use widgetry::AuthConfig;

const AUDIENCE: &str = "https://app.example/mcp";

#[tokio::test]
async fn a_flood_of_one_bad_token_asks_the_introspection_endpoint_once() {
    let issuer = TestIssuer::start().await;
    let (client_id, secret) = issuer::INTROSPECTION_CLIENT;
    let verifier =
        IntrospectionVerifier::new(issuer.introspection_endpoint(), client_id, secret, AUDIENCE);
    let config = AuthConfig::new(issuer.issuer(), AUDIENCE)
        .unwrap()
        .verifier(verifier);
    let state = AuthState::new(config, []);
    for _ in 0..25 {
        let e = state.verify("not-a-known-token").await.unwrap_err();
        assert!(matches!(e, AuthError::InvalidToken(_)), "{e:?}");
    }
    assert_eq!(
        issuer.introspections(),
        1,
        "one outbound call for 25 requests"
    );
    // Another bad token is another (single) call.
    for _ in 0..5 {
        assert!(state.verify("another-bad-one").await.is_err());
    }
    assert_eq!(issuer.introspections(), 2);
}

/// A slow introspection endpoint on loopback that records how many calls overlap.
async fn slow_endpoint(peak: Arc<AtomicUsize>) -> String {
    let now = Arc::new(AtomicUsize::new(0));
    let app = axum::Router::new().route(
        "/introspect",
        post(move || {
            let (now, peak) = (now.clone(), peak.clone());
            async move {
                let n = now.fetch_add(1, Ordering::SeqCst) + 1;
                peak.fetch_max(n, Ordering::SeqCst);
                tokio::time::sleep(Duration::from_millis(150)).await;
                now.fetch_sub(1, Ordering::SeqCst);
                axum::Json(json!({"active": false}))
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    format!("http://{addr}/introspect")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn introspection_calls_in_flight_are_bounded() {
    let peak = Arc::new(AtomicUsize::new(0));
    let endpoint = slow_endpoint(peak.clone()).await;
    let verifier = Arc::new(IntrospectionVerifier::new(endpoint, "rs", "s", AUDIENCE));
    let calls = (0..60).map(|i| {
        let v = verifier.clone();
        tokio::spawn(async move { v.verify(&format!("token-{i}")).await })
    });
    let outcomes = futures_util::future::join_all(calls).await;
    let peak = peak.load(Ordering::SeqCst);
    assert!(peak > 1, "calls do overlap ({peak})");
    assert!(
        peak <= widgetry::auth::MAX_IN_FLIGHT,
        "{peak} calls at once"
    );
    // Every token got an answer: refused as inactive, or "try again" when it waited too long.
    for o in outcomes {
        assert!(o.unwrap().is_err());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_jwks_is_refreshed_on_a_timer_and_kept_when_the_issuer_fails() {
    let issuer = TestIssuer::start().await;
    let verifier = JwtVerifier::builder(issuer.issuer(), AUDIENCE)
        .refresh_every(Duration::from_secs(1))
        .refetch_interval(Duration::from_secs(3600))
        .build();
    let token = issuer.mint(
        Alg::RS256,
        &issuer.claims(AUDIENCE, "ann", "read"),
        &json!({}),
    );
    verifier.verify(&token).await.expect("first keys");
    let first = issuer.jwks_fetches();
    // A key the issuer adds is used without any unknown-kid refetch (those are off here).
    let new_kid = issuer.rotate();
    tokio::time::sleep(Duration::from_millis(2300)).await;
    assert!(issuer.jwks_fetches() >= first + 2, "refreshed on its own");
    let rotated = issuer.mint(
        Alg::RS256,
        &issuer.claims(AUDIENCE, "ann", "read"),
        &json!({}),
    );
    assert!(rotated.len() > 10 && !new_kid.is_empty());
    verifier
        .verify(&rotated)
        .await
        .expect("the new key was picked up by the timer");
    // The issuer's JWKS goes down: the keys in hand stay in use.
    issuer.set_jwks_down(true);
    tokio::time::sleep(Duration::from_millis(1500)).await;
    verifier
        .verify(&rotated)
        .await
        .expect("keys kept while the issuer is down");
}

#[tokio::test]
async fn plain_http_issuers_are_refused_off_loopback() {
    fn vars(allow: Option<&'static str>) -> impl Fn(&str) -> Option<String> {
        move |k: &str| match k {
            "AUTHORIZATION_SERVER_URL" => Some("http://idp.internal.example/".to_string()),
            "RESOURCE_SERVER_URL" => Some("https://app.example/mcp".to_string()),
            "AUTH_ALLOW_PLAIN_HTTP" => allow.map(str::to_string),
            _ => None,
        }
    }
    let e = AuthConfig::from_vars(vars(None)).unwrap_err();
    assert!(e.to_string().contains("AUTH_ALLOW_PLAIN_HTTP"), "{e}");
    let ok = AuthConfig::from_vars(vars(Some("1"))).unwrap().unwrap();
    assert!(ok.allow_plain_http);
    // Loopback issuers (development, tests) are fine without the flag.
    let local = AuthConfig::from_vars(|k: &str| match k {
        "AUTHORIZATION_SERVER_URL" => Some("http://127.0.0.1:9000".to_string()),
        "RESOURCE_SERVER_URL" => Some("http://127.0.0.1:8000/mcp".to_string()),
        _ => None,
    });
    assert!(local.unwrap().is_some());
    // Built in code, the verifier refuses to fetch keys in the clear.
    let v = JwtVerifier::builder("http://idp.internal.example", AUDIENCE)
        .jwks_uri("http://idp.internal.example/jwks")
        .build();
    let e = v.refresh().await.unwrap_err();
    assert!(e.contains("refusing plain-HTTP"), "{e}");
}

#[cfg(feature = "authz")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_naming_made_up_keys_cannot_make_the_embedded_server_reload_its_keys() {
    let dir = tempfile::tempdir().unwrap();
    let store = widgetry_authz::open_store(dir.path().join("a.sqlite3").to_str().unwrap())
        .await
        .unwrap();
    let config = widgetry_authz::AuthzConfig::new("http://127.0.0.1:1", AUDIENCE);
    let server = widgetry_authz::AuthorizationServer::open(config, store)
        .await
        .unwrap();
    let before = server.key_reloads();
    let b64 = |v: serde_json::Value| {
        use base64::Engine as _;
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string())
    };
    let forged = (0..100).map(|i| {
        format!(
            "{}.{}.c2ln",
            b64(json!({"alg": "RS256", "typ": "at+jwt", "kid": format!("made-up-{i}")})),
            b64(json!({"sub": "x", "exp": 4_000_000_000u64}))
        )
    });
    let checks = forged.map(|t| {
        let s = server.clone();
        tokio::spawn(async move { s.verify_access_token(&t).await })
    });
    for c in futures_util::future::join_all(checks).await {
        assert!(c.unwrap().unwrap().is_none(), "a forged token is not valid");
    }
    let reloads = server.key_reloads() - before;
    assert!(reloads <= 1, "{reloads} reloads for 100 unknown keys");
}
