//! The RFC 7662 introspection verifier against a small fake introspection endpoint on
//! 127.0.0.1: which active answers it accepts.

use std::time::{SystemTime, UNIX_EPOCH};

use axum::routing::post;
use serde_json::{json, Value};
use widgetry::auth::{AuthError, IntrospectionVerifier, Verifier};

const AUDIENCE: &str = "https://app.example/mcp";

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// The introspection answer for each token the fake endpoint knows.
fn answer(token: &str) -> Value {
    let mut active = json!({
        "active": true, "sub": "carol", "scope": "read", "client_id": "chatgpt",
        "aud": AUDIENCE, "exp": now() + 600, "token_type": "Bearer",
    });
    match token {
        "good" => active,
        "no-aud" => {
            active.as_object_mut().unwrap().remove("aud");
            active
        }
        "null-aud" => {
            active["aud"] = Value::Null;
            active
        }
        "aud-list" => {
            active["aud"] = json!(["https://other.example/mcp", AUDIENCE]);
            active
        }
        _ => json!({ "active": false }),
    }
}

async fn fake_endpoint() -> String {
    let app = axum::Router::new().route(
        "/introspect",
        post(|body: String| async move {
            let token = body
                .split('&')
                .find_map(|kv| kv.strip_prefix("token="))
                .unwrap_or_default()
                .to_owned();
            axum::Json(answer(&token))
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    format!("http://{addr}/introspect")
}

#[tokio::test]
async fn introspection_refuses_active_tokens_without_an_audience() {
    let endpoint = fake_endpoint().await;
    let verifier = IntrospectionVerifier::new(endpoint, "rs", "rs-secret", AUDIENCE);
    let user = verifier
        .verify("good")
        .await
        .expect("a token for this resource");
    assert_eq!(user.subject, "carol");
    verifier
        .verify("aud-list")
        .await
        .expect("a token whose aud list names this resource");
    for token in ["no-aud", "null-aud"] {
        match verifier.verify(token).await {
            Err(e @ AuthError::InvalidToken(_)) => {
                assert!(e.to_string().contains("audience"), "{token}: {e}")
            }
            other => panic!("{token}: an active token without aud was not refused: {other:?}"),
        }
    }
}
