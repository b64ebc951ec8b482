//! The userinfo endpoint on a real server: a bearer access token of this server gives
//! its user's `sub`, `name`, `preferred_username` and `email`; no token, an expired,
//! revoked, forged or widget token, a refresh token, a token for a resource this
//! server does not serve, or a token in the query string get `401` with a
//! `WWW-Authenticate: Bearer` challenge.

mod common;

use std::time::Duration;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use common::{sqlite_store, start_with, TestServer};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use ring::rand::SystemRandom;
use ring::signature::{EcdsaKeyPair, ECDSA_P256_SHA256_FIXED_SIGNING};
use serde_json::{json, Value};
use widgetry_authz::{AuthorizationServer, NewUser, USERINFO_PATH};

async fn userinfo(s: &TestServer, token: &str) -> common::Resp {
    s.http
        .get(
            &s.url(USERINFO_PATH),
            &[("authorization", &format!("Bearer {token}"))],
        )
        .await
}

fn assert_invalid_token(r: &common::Resp, why: &str) {
    assert_eq!(r.status, 401, "{why}: {}", r.body);
    let challenge = r.header("www-authenticate").unwrap_or_default();
    assert!(
        challenge.starts_with("Bearer ") && challenge.contains("error=\"invalid_token\""),
        "{why}: {challenge}"
    );
    assert_eq!(r.json()["error"], "invalid_token", "{why}");
    assert_eq!(r.header("cache-control").as_deref(), Some("no-store"));
    assert!(r.json().get("sub").is_none(), "{why}");
}

/// A token signed with a key this server never had, with its header `kid`.
fn forged(s: &TestServer, typ: &str, claims: &Value) -> String {
    let rng = SystemRandom::new();
    let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng).unwrap();
    let kid = s.server.jwks()["keys"][0]["kid"]
        .as_str()
        .unwrap()
        .to_string();
    let mut header = Header::new(Algorithm::ES256);
    header.typ = Some(typ.into());
    header.kid = Some(kid);
    jsonwebtoken::encode(&header, claims, &EncodingKey::from_ec_der(pkcs8.as_ref())).unwrap()
}

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

#[tokio::test]
async fn an_access_token_gives_its_users_name_and_email() {
    let dir = tempfile::tempdir().unwrap();
    let s = start_with(sqlite_store(&dir).await, |_| {}).await;
    let meta = s.metadata().await;
    assert_eq!(meta["userinfo_endpoint"], s.url(USERINFO_PATH));
    let oidc = s
        .http
        .get(&s.url("/.well-known/openid-configuration"), &[])
        .await
        .json();
    assert_eq!(oidc["userinfo_endpoint"], s.url(USERINFO_PATH));

    let client = s.register("http://127.0.0.1:9/cb", false).await;
    let tokens = s.tokens_for(&client).await;
    let access = tokens["access_token"].as_str().unwrap();
    let ada = s.server.users().get("ada").await.unwrap().unwrap();
    let r = userinfo(&s, access).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        r.json(),
        json!({"sub": ada.id, "name": "Ada Lovelace", "preferred_username": "ada"})
    );
    assert_eq!(r.header("cache-control").as_deref(), Some("no-store"));
    assert_eq!(
        r.header("access-control-allow-origin").as_deref(),
        Some("*")
    );
    // POST works too (OpenID Connect Core §5.3.1), with the token in the header only.
    let post = s
        .http
        .request(
            "POST",
            &s.url(USERINFO_PATH),
            &[("authorization", &format!("Bearer {access}"))],
            Vec::new(),
        )
        .await;
    assert_eq!(post.json()["sub"], json!(ada.id));

    // A user whose username is an email address.
    let grace = s
        .server
        .users()
        .add(NewUser::new("grace@example.com", "another long password").name("Grace Hopper"))
        .await
        .unwrap();
    let token = s
        .server
        .mint_access_token(&grace.id, &[], &s.url("/mcp"), Duration::from_secs(60))
        .await
        .unwrap();
    let r = userinfo(&s, &token).await;
    assert_eq!(r.json()["email"], "grace@example.com", "{}", r.body);
    assert_eq!(r.json()["name"], "Grace Hopper");
    // Each token describes its own user only.
    assert_eq!(userinfo(&s, access).await.json()["sub"], json!(ada.id));

    // The host page calls it cross-origin: the preflight allows the Authorization header.
    let pre = s
        .http
        .request(
            "OPTIONS",
            &s.url(USERINFO_PATH),
            &[
                ("origin", "http://localhost:8000"),
                ("access-control-request-method", "GET"),
                ("access-control-request-headers", "authorization"),
            ],
            Vec::new(),
        )
        .await;
    assert!(pre.status < 300, "{}", pre.status);
    assert!(pre
        .header("access-control-allow-headers")
        .unwrap_or_default()
        .to_ascii_lowercase()
        .contains("authorization"));
}

#[tokio::test]
async fn requests_without_a_usable_bearer_token_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let s = start_with(sqlite_store(&dir).await, |_| {}).await;
    let client = s.register("http://127.0.0.1:9/cb", false).await;
    let tokens = s.tokens_for(&client).await;
    let access = tokens["access_token"].as_str().unwrap().to_string();

    let none = s.http.get(&s.url(USERINFO_PATH), &[]).await;
    assert_eq!(none.status, 401);
    let challenge = none.header("www-authenticate").unwrap_or_default();
    assert!(challenge.starts_with("Bearer realm="), "{challenge}");
    assert!(
        !challenge.contains("error="),
        "no error code without a token: {challenge}"
    );

    // Never from the query string.
    let query = s
        .http
        .get(
            &format!("{}?access_token={access}", s.url(USERINFO_PATH)),
            &[],
        )
        .await;
    assert_eq!(query.status, 401);
    assert!(query.json().get("sub").is_none());

    let twice = s
        .http
        .get(
            &s.url(USERINFO_PATH),
            &[
                ("authorization", &format!("Bearer {access}")),
                ("authorization", &format!("Bearer {access}")),
            ],
        )
        .await;
    assert_eq!(twice.status, 400, "{}", twice.body);

    let basic = s
        .http
        .get(&s.url(USERINFO_PATH), &[("authorization", "Basic YTpi")])
        .await;
    assert_invalid_token(&basic, "Basic credentials");

    let refresh = tokens["refresh_token"].as_str().unwrap();
    assert_invalid_token(&userinfo(&s, refresh).await, "a refresh token");
    assert_invalid_token(&userinfo(&s, "not-a-jwt").await, "garbage");

    let mut tampered = access.clone();
    tampered.push('x');
    assert_invalid_token(&userinfo(&s, &tampered).await, "a tampered token");

    // Revoked: the grant's access token is denied from then on.
    assert_eq!(userinfo(&s, &access).await.status, 200);
    s.revoke(&client, &access).await;
    assert_invalid_token(&userinfo(&s, &access).await, "a revoked token");
}

#[tokio::test]
async fn expired_forged_and_widget_tokens_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let s = start_with(sqlite_store(&dir).await, |_| {}).await;
    let ada = s.server.users().get("ada").await.unwrap().unwrap();
    let short = s
        .server
        .mint_access_token(&ada.id, &[], &s.url("/mcp"), Duration::from_secs(1))
        .await
        .unwrap();
    assert_eq!(userinfo(&s, &short).await.status, 200);
    tokio::time::sleep(Duration::from_millis(2100)).await;
    assert_invalid_token(&userinfo(&s, &short).await, "an expired token");

    let claims = json!({
        "iss": s.base, "sub": ada.id, "aud": s.url("/mcp"), "scope": "",
        "client_id": "x", "iat": now(), "exp": now() + 600, "jti": "forged-1",
    });
    assert_invalid_token(
        &userinfo(&s, &forged(&s, "at+jwt", &claims)).await,
        "a forged token",
    );
    // A widget token (the app's own key and type, the widget API as audience).
    let widget = json!({
        "iss": s.base, "sub": ada.id, "aud": s.url("/widget/actions"),
        "scope": "orders:read", "iat": now(), "exp": now() + 600, "jti": "w-1",
    });
    assert_invalid_token(
        &userinfo(&s, &forged(&s, "widget+jwt", &widget)).await,
        "a widget token",
    );
    // alg none, with a real token's claims.
    let real = s
        .server
        .mint_access_token(&ada.id, &[], &s.url("/mcp"), Duration::from_secs(60))
        .await
        .unwrap();
    let payload = real.split('.').nth(1).unwrap();
    let none = format!(
        "{}.{payload}.",
        URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"at+jwt"}"#)
    );
    assert_invalid_token(&userinfo(&s, &none).await, "alg none");
}

#[tokio::test]
async fn a_token_for_a_resource_this_server_does_not_serve_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let store = sqlite_store(&dir).await;
    let s = start_with(store.clone(), |_| {}).await;
    let ada = s.server.users().get("ada").await.unwrap().unwrap();
    // Another instance of the same issuer (same store and keys) serving another resource.
    let mut other = common::config(&s.base);
    other.resources = vec![s.url("/other-app")];
    let sibling = AuthorizationServer::open(other, store).await.unwrap();
    let foreign = sibling
        .mint_access_token(&ada.id, &[], &s.url("/other-app"), Duration::from_secs(60))
        .await
        .unwrap();
    assert_invalid_token(&userinfo(&s, &foreign).await, "another resource's token");
    // The same kind of token for this server's resource is fine.
    let own = own_token(&s, &ada.id).await;
    assert_eq!(userinfo(&s, &own).await.status, 200);
}

async fn own_token(s: &TestServer, sub: &str) -> String {
    s.server
        .mint_access_token(sub, &[], &s.url("/mcp"), Duration::from_secs(60))
        .await
        .unwrap()
}
