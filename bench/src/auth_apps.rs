//! Servers for the authenticated scenarios: a protected `echo` tool behind a real RS256
//! JWT (widgetry verifies it once, then serves it from its token cache), a bare axum
//! handler that verifies the same JWT on every call, and a widget action called directly
//! with a widget token.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::body::Bytes;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::IntoResponse;
use axum::routing::post;
use axum::Router;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine as _;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use ring::rand::SystemRandom;
use ring::signature::{RsaKeyPair, RSA_PKCS1_SHA256};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use widgetry::app::{Action, App, NoInput, Reply, Tool};
use widgetry::auth::{AuthError, FnVerifier, JwtVerifier};
use widgetry::{Auth, AuthConfig, HttpConfig, RequestContext, ToolError, User};

/// The test issuer and resource the protected scenarios use.
pub const ISSUER: &str = "https://issuer.bench.example/";
/// The audience tokens carry.
pub const RESOURCE: &str = "http://127.0.0.1/mcp";
/// The bench signs with the repository's RSA test fixture (never a real key).
const RSA_PEM: &str = include_str!("../../crates/widgetry/tests/fixtures/rsa1.pem");

fn pem_der(pem: &str) -> Vec<u8> {
    let body: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
    STANDARD.decode(body).expect("the fixture PEM is base64")
}

/// An RS256 access token for `bench-user` with scope `bench`, and the issuer's JWKS.
pub fn rs256_token_and_jwks() -> (String, Value, DecodingKey) {
    let (token, n, e) = rs256_token_and_components();
    let (jwks, key) = jwks_and_key(&n, &e).expect("the fixture's RSA components");
    (token, jwks, key)
}

/// The JWKS and the decoding key of the RSA public key `(n, e)` (base64url), as the
/// issuer would publish them. The wrk mode hands `(n, e)` to the server processes so
/// they skip parsing the private key.
pub fn jwks_and_key(n: &str, e: &str) -> Result<(Value, DecodingKey), String> {
    let jwks = json!({"keys": [{"kty": "RSA", "kid": "bench-1", "use": "sig", "alg": "RS256", "n": n, "e": e}]});
    let key = DecodingKey::from_rsa_components(n, e).map_err(|e| format!("RSA components: {e}"))?;
    Ok((jwks, key))
}

/// An RS256 access token for `bench-user` with scope `bench`, and the public key's
/// `(n, e)` in base64url.
pub fn rs256_token_and_components() -> (String, String, String) {
    let kp = RsaKeyPair::from_pkcs8(&pem_der(RSA_PEM)).expect("the fixture is a PKCS#8 RSA key");
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let header = json!({"alg": "RS256", "typ": "JWT", "kid": "bench-1"});
    let claims = json!({"iss": ISSUER, "aud": RESOURCE, "sub": "bench-user", "scope": "bench", "iat": now, "exp": now + 3600});
    let input = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(claims.to_string())
    );
    let mut sig = vec![0; kp.public().modulus_len()];
    kp.sign(
        &RSA_PKCS1_SHA256,
        &SystemRandom::new(),
        input.as_bytes(),
        &mut sig,
    )
    .expect("RSA signing");
    let token = format!("{input}.{}", URL_SAFE_NO_PAD.encode(sig));
    let c = ring::rsa::PublicKeyComponents::<Vec<u8>>::from(kp.public());
    let (n, e) = (URL_SAFE_NO_PAD.encode(&c.n), URL_SAFE_NO_PAD.encode(&c.e));
    (token, n, e)
}

/// The challenge the bare handler sends with its 401 (the same shape as widgetry's).
pub const BARE_CHALLENGE: &str = "Bearer resource_metadata=\"http://127.0.0.1/.well-known/oauth-protected-resource/mcp\", scope=\"bench\"";

#[derive(Deserialize, JsonSchema)]
struct EchoIn {
    text: String,
}

#[derive(Serialize, JsonSchema)]
struct EchoOut {
    text: String,
}

async fn echo(_ctx: RequestContext, i: EchoIn) -> Result<Reply<EchoOut>, ToolError> {
    Ok(Reply::new(EchoOut {
        text: i.text.clone(),
    })
    .text(i.text))
}

/// Widgetry with `echo` protected by `Auth::required(["bench"])`, verifying RS256 JWTs
/// against the JWKS (stateless transport, like the public scenario).
pub fn protected_router(jwks: Value) -> Router {
    let verifier = JwtVerifier::builder(ISSUER, RESOURCE).jwks(jwks).build();
    let app = App::builder("widgetry-bench-protected", env!("CARGO_PKG_VERSION"))
        .http(HttpConfig::default().stateless(true))
        .auth(
            AuthConfig::new(ISSUER, RESOURCE)
                .expect("valid URLs")
                .verifier(verifier),
        )
        .tool(Tool::new("echo", echo).auth(Auth::required(["bench"])))
        .build()
        .expect("the protected bench app builds");
    app.router().0
}

#[derive(Deserialize)]
struct Call {
    id: Value,
    params: Params,
}

#[derive(Deserialize)]
struct Params {
    arguments: EchoIn,
}

/// The bare axum handler that verifies the RS256 token on every call (key parsed once),
/// then answers like the public baseline. Without a token it answers 401 with a
/// `WWW-Authenticate` challenge (the wrk mode's `baseline-401`).
pub fn baseline_verify_router(key: DecodingKey) -> Router {
    let state = Arc::new(key);
    Router::new().route(
        crate::apps::MCP_PATH,
        post(move |headers: HeaderMap, body: Bytes| {
            let key = state.clone();
            async move {
                let Some(token) = headers
                    .get(header::AUTHORIZATION)
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.strip_prefix("Bearer "))
                else {
                    return (
                        StatusCode::UNAUTHORIZED,
                        [(header::WWW_AUTHENTICATE, HeaderValue::from_static(BARE_CHALLENGE))],
                    )
                        .into_response();
                };
                let mut v = Validation::new(Algorithm::RS256);
                v.set_issuer(&[ISSUER]);
                v.set_audience(&[RESOURCE]);
                if jsonwebtoken::decode::<Value>(token, &key, &v).is_err() {
                    return StatusCode::UNAUTHORIZED.into_response();
                }
                let Ok(call) = serde_json::from_slice::<Call>(&body) else {
                    return StatusCode::BAD_REQUEST.into_response();
                };
                let t = call.params.arguments.text;
                let out = json!({"jsonrpc": "2.0", "id": call.id, "result": {"content": [{"type": "text", "text": t}], "structuredContent": {"text": t}}});
                ([(header::CONTENT_TYPE, HeaderValue::from_static("application/json"))], out.to_string()).into_response()
            }
        }),
    )
}

/// Widgetry with a widget action `echo_action`, and a valid widget token for it.
pub fn action_router_and_token(origin: &str) -> (Router, String) {
    let key = widgetry::auth::WidgetKeys::generate().signing().to_vec();
    let verifier = FnVerifier(|token: String| async move {
        if token != "bench-user-token" {
            return Err(AuthError::invalid("unknown bench token"));
        }
        User::from_claims(
            json!({"sub": "bench-user", "scope": "bench"})
                .as_object()
                .cloned()
                .unwrap_or_default(),
            None,
        )
    });
    let app = App::builder("widgetry-bench-actions", env!("CARGO_PKG_VERSION"))
        .dev(false)
        .public_url(origin)
        .widget_token_key(key.clone())
        .auth(
            AuthConfig::new(ISSUER, format!("{origin}/mcp"))
                .expect("valid URLs")
                .verifier(verifier),
        )
        .widget_html(
            "w",
            "<!doctype html><html><head></head><body>bench</body></html>",
        )
        .action(Action::new("echo_action", echo).auth(Auth::required(["bench"])))
        .tool(
            Tool::new("open", |_ctx: RequestContext, _: NoInput| async {
                Ok::<_, ToolError>(Reply::new(()).text("opened"))
            })
            .auth(Auth::optional(["bench"]))
            .widget("w")
            .widget_actions(["echo_action"]),
        )
        .build()
        .expect("the action bench app builds");
    let tokens = widgetry::auth::WidgetTokens::new(
        &key,
        origin.to_string(),
        format!("{origin}/widget/actions"),
        Duration::from_secs(3600),
    )
    .expect("the generated key loads");
    let user = User::from_claims(
        json!({"sub": "bench-user", "scope": "bench"})
            .as_object()
            .cloned()
            .unwrap_or_default(),
        None,
    )
    .expect("a bench user");
    let scopes = |_: &str| Some(vec!["bench".to_string()]);
    let (token, _, _) = tokens
        .mint(&user, &["echo_action".to_string()], &scopes, "bench-widget")
        .expect("a widget token");
    (app.router().0, token)
}
