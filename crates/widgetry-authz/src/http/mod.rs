//! The HTTP face of the server: the axum router, the discovery documents and JWKS, and
//! the helpers every endpoint shares (form parsing with duplicate detection, OAuth error
//! bodies, CORS for the endpoints browsers call cross-origin, cookies, client addresses).

mod authorize;
mod pages;
mod token;
mod userinfo;

pub use userinfo::USERINFO_PATH;

pub(crate) use crate::error::error_description;
use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::{DefaultBodyLimit, State};
use axum::http::header::{self, HeaderMap, HeaderValue};
use axum::http::{Extensions, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use serde_json::{json, Value};

use crate::Inner;

/// Path (after the issuer's path) of the authorization endpoint.
pub const AUTHORIZE_PATH: &str = "/oauth/authorize";
/// Path of the token endpoint.
pub const TOKEN_PATH: &str = "/oauth/token";
/// Path of the RFC 7591 registration endpoint.
pub const REGISTRATION_PATH: &str = "/oauth/register";
/// Path of the JWKS.
pub const JWKS_PATH: &str = "/oauth/jwks";
/// Path of the RFC 7009 revocation endpoint.
pub const REVOCATION_PATH: &str = "/oauth/revoke";
/// Path of the RFC 7662 introspection endpoint.
pub const INTROSPECTION_PATH: &str = "/oauth/introspect";

const SIGN_IN_PATH: &str = "/oauth/authorize/sign-in";
const SECOND_FACTOR_PATH: &str = "/oauth/authorize/second-factor";
const CONSENT_PATH: &str = "/oauth/authorize/consent";

/// Largest request body accepted by any endpoint.
const MAX_BODY: usize = 64 * 1024;

pub(crate) fn router(inner: Arc<Inner>) -> Router {
    let p = inner.base_path.clone();
    let mut cors = Router::new()
        .route(
            &format!("/.well-known/oauth-authorization-server{p}"),
            get(oauth_metadata).options(preflight),
        )
        .route(
            &format!("/.well-known/openid-configuration{p}"),
            get(openid_metadata).options(preflight),
        )
        .route(&format!("{p}{JWKS_PATH}"), get(jwks).options(preflight))
        .route(
            &format!("{p}{TOKEN_PATH}"),
            post(token::token).options(preflight),
        )
        .route(
            &format!("{p}{REVOCATION_PATH}"),
            post(token::revoke).options(preflight),
        )
        .route(
            &format!("{p}{INTROSPECTION_PATH}"),
            post(token::introspect).options(preflight),
        )
        .route(
            &format!("{p}{USERINFO_PATH}"),
            get(userinfo::userinfo)
                .post(userinfo::userinfo)
                .options(preflight),
        );
    if !p.is_empty() {
        cors = cors
            .route(
                &format!("{p}/.well-known/oauth-authorization-server"),
                get(oauth_metadata).options(preflight),
            )
            .route(
                &format!("{p}/.well-known/openid-configuration"),
                get(openid_metadata).options(preflight),
            );
    }
    if inner.config.dynamic_registration {
        cors = cors.route(
            &format!("{p}{REGISTRATION_PATH}"),
            post(token::register).options(preflight),
        );
    }
    let cors = cors.layer(axum::middleware::map_response(add_cors_headers));
    let pages = Router::new()
        .route(&format!("{p}{AUTHORIZE_PATH}"), get(authorize::authorize))
        .route(&format!("{p}{SIGN_IN_PATH}"), post(authorize::sign_in))
        .route(
            &format!("{p}{SECOND_FACTOR_PATH}"),
            post(authorize::second_factor),
        )
        .route(&format!("{p}{CONSENT_PATH}"), post(authorize::consent));
    cors.merge(pages)
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .with_state(inner)
}

async fn add_cors_headers(mut res: Response) -> Response {
    let h = res.headers_mut();
    h.insert(
        header::ACCESS_CONTROL_ALLOW_ORIGIN,
        HeaderValue::from_static("*"),
    );
    h.insert(
        header::ACCESS_CONTROL_EXPOSE_HEADERS,
        HeaderValue::from_static("WWW-Authenticate"),
    );
    res
}

async fn preflight() -> Response {
    (
        StatusCode::NO_CONTENT,
        [
            (header::ACCESS_CONTROL_ALLOW_METHODS, "GET, POST, OPTIONS"),
            (
                header::ACCESS_CONTROL_ALLOW_HEADERS,
                "Authorization, Content-Type, MCP-Protocol-Version",
            ),
            (header::ACCESS_CONTROL_MAX_AGE, "86400"),
        ],
    )
        .into_response()
}

/// The RFC 8414 metadata (plus the fields OpenID discovery requires when `openid`).
pub(crate) fn metadata_document(inner: &Inner, openid: bool) -> Value {
    let c = &inner.config;
    let mut doc = json!({
        "issuer": c.issuer,
        "authorization_endpoint": inner.endpoint(AUTHORIZE_PATH),
        "token_endpoint": inner.endpoint(TOKEN_PATH),
        "jwks_uri": inner.endpoint(JWKS_PATH),
        "revocation_endpoint": inner.endpoint(REVOCATION_PATH),
        "introspection_endpoint": inner.endpoint(INTROSPECTION_PATH),
        "userinfo_endpoint": inner.endpoint(USERINFO_PATH),
        "scopes_supported": c.scopes_supported,
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "grant_types_supported": ["authorization_code", "refresh_token"],
        "code_challenge_methods_supported": ["S256"],
        "token_endpoint_auth_methods_supported": crate::TOKEN_ENDPOINT_AUTH_METHODS,
        "revocation_endpoint_auth_methods_supported": crate::TOKEN_ENDPOINT_AUTH_METHODS,
        "introspection_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
        "client_id_metadata_document_supported": true,
        "authorization_response_iss_parameter_supported": true,
    });
    if c.dynamic_registration {
        doc["registration_endpoint"] = json!(inner.endpoint(REGISTRATION_PATH));
    }
    if openid {
        // Required by OpenID Connect Discovery; no ID tokens are issued (no `openid`
        // scope), so clients only use the OAuth fields above.
        doc["subject_types_supported"] = json!(["public"]);
        doc["id_token_signing_alg_values_supported"] = json!(["ES256"]);
    }
    doc
}

fn json_response(status: StatusCode, body: &Value, cache: &'static str) -> Response {
    (
        status,
        [
            (header::CONTENT_TYPE, "application/json"),
            (header::CACHE_CONTROL, cache),
        ],
        body.to_string(),
    )
        .into_response()
}

async fn oauth_metadata(State(inner): State<Arc<Inner>>) -> Response {
    json_response(
        StatusCode::OK,
        &metadata_document(&inner, false),
        "public, max-age=3600",
    )
}

async fn openid_metadata(State(inner): State<Arc<Inner>>) -> Response {
    json_response(
        StatusCode::OK,
        &metadata_document(&inner, true),
        "public, max-age=3600",
    )
}

async fn jwks(State(inner): State<Arc<Inner>>) -> Response {
    inner.fresh_keys().await;
    json_response(
        StatusCode::OK,
        &inner.keys.jwks(crate::now()),
        "public, max-age=300",
    )
}

/// An OAuth error body (RFC 6749 §5.2), never cached.
pub(crate) fn oauth_error(status: StatusCode, code: &str, description: &str) -> Response {
    let mut res = json_response(
        status,
        &json!({ "error": code, "error_description": error_description(description) }),
        "no-store",
    );
    if status == StatusCode::UNAUTHORIZED {
        res.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Basic realm=\"oauth\""),
        );
    }
    res
}

/// Decoded `application/x-www-form-urlencoded` parameters, keeping repeats.
#[derive(Debug, Default)]
pub(crate) struct Params {
    map: HashMap<String, Vec<String>>,
}

impl Params {
    pub(crate) fn parse(raw: &[u8]) -> Result<Self, String> {
        let pairs: Vec<(String, String)> = serde_urlencoded::from_bytes(raw)
            .map_err(|e| format!("the parameters are not form-encoded: {e}"))?;
        let mut map: HashMap<String, Vec<String>> = HashMap::new();
        for (k, v) in pairs {
            map.entry(k).or_default().push(v);
        }
        Ok(Self { map })
    }

    /// A parameter that must appear at most once; `Err(name)` when repeated. Empty values
    /// count as absent (RFC 6749 §3.1).
    pub(crate) fn single(&self, name: &str) -> Result<Option<&str>, String> {
        match self.map.get(name).map(Vec::as_slice) {
            None | Some([]) => Ok(None),
            Some([v]) => Ok(Some(v.as_str()).filter(|v| !v.is_empty())),
            Some(_) => Err(format!("parameter {name} is repeated")),
        }
    }

    /// Every value of a parameter.
    pub(crate) fn all(&self, name: &str) -> Vec<&str> {
        self.map
            .get(name)
            .map(|v| {
                v.iter()
                    .map(String::as_str)
                    .filter(|v| !v.is_empty())
                    .collect()
            })
            .unwrap_or_default()
    }

    /// The first repeated parameter other than `except`, if any.
    pub(crate) fn repeated(&self, except: &[&str]) -> Option<&str> {
        self.map
            .iter()
            .find(|(k, v)| v.len() > 1 && !except.contains(&k.as_str()))
            .map(|(k, _)| k.as_str())
    }
}

/// A cookie's value from the request.
pub(crate) fn cookie<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.trim_matches('"'))
}

/// The client's address for rate limiting and lockouts: the TCP peer, or what a trusted
/// proxy says (see [`crate::TrustedProxies`]).
pub(crate) fn client_address(
    inner: &Inner,
    headers: &HeaderMap,
    ext: &Extensions,
) -> Option<String> {
    inner
        .config
        .trusted_proxies
        .client_ip_of(headers, ext)
        .map(|ip| ip.to_string())
}

/// Headers for every HTML page: no caching, no framing, no scripts.
pub(crate) fn html_response(status: StatusCode, body: String) -> Response {
    (
        status,
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CACHE_CONTROL, "no-store"),
            (header::X_FRAME_OPTIONS, "DENY"),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
            (header::REFERRER_POLICY, "no-referrer"),
            (
                header::CONTENT_SECURITY_POLICY,
                "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'; base-uri 'none'",
            ),
        ],
        body,
    )
        .into_response()
}

/// An error page (no redirect: used when the redirect URI cannot be trusted).
pub(crate) fn error_page(
    inner: &Inner,
    status: StatusCode,
    title: &str,
    message: &str,
) -> Response {
    html_response(
        status,
        pages::error(&inner.config.display_name, title, message),
    )
}
