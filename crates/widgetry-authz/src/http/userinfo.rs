//! `GET`/`POST /oauth/userinfo`: who an access token of this server belongs to, in the
//! shape of OpenID Connect's UserInfo endpoint, so a page holding the token (the local
//! host page) can show the user's name or email instead of an opaque subject.
//!
//! Rules:
//! - the token comes only from the `Authorization: Bearer` header (exactly one), never
//!   from the query or a form body;
//! - it must be an access token of this server: its signing key, `typ: at+jwt`, this
//!   issuer, not expired, not revoked, and its audience one of the resources this server
//!   issues tokens for (a widget token, another issuer's token or a token for another
//!   resource is refused);
//! - no scope is needed: this server issues no `openid` scope, and the answer only
//!   describes the token's own user: `sub`, `name` (when the user has one),
//!   `preferred_username`, and `email` when the username is an email address;
//! - refusals are `401` with `WWW-Authenticate: Bearer` (RFC 6750 §3: `error` only when a
//!   token was given), never cached; the answer is `no-store` too. CORS is open (`*`):
//!   the token, not a cookie, is the credential.

use std::sync::Arc;

use axum::extract::State;
use axum::http::header::{self, HeaderMap, HeaderValue};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{json, Map, Value};

use super::error_description;
use crate::Inner;

/// Path (after the issuer's path) of the userinfo endpoint.
pub const USERINFO_PATH: &str = "/oauth/userinfo";

/// Why a userinfo request was refused.
struct Refused {
    /// `None`: no token was given (RFC 6750 §3.1: no error code then).
    error: Option<(&'static str, String)>,
    status: StatusCode,
}

impl Refused {
    fn invalid_token(description: impl Into<String>) -> Self {
        Self {
            error: Some(("invalid_token", description.into())),
            status: StatusCode::UNAUTHORIZED,
        }
    }

    fn into_response(self, inner: &Inner) -> Response {
        let realm = error_description(&inner.config.display_name);
        let (challenge, body) = match &self.error {
            None => (
                format!("Bearer realm=\"{realm}\""),
                json!({"error": "invalid_request", "error_description": "send the access token in the Authorization header"}),
            ),
            Some((code, description)) => {
                let d = error_description(description);
                (
                    format!(
                        "Bearer realm=\"{realm}\", error=\"{code}\", error_description=\"{d}\""
                    ),
                    json!({"error": code, "error_description": d}),
                )
            }
        };
        let mut res = (
            self.status,
            [
                (header::CONTENT_TYPE, "application/json"),
                (header::CACHE_CONTROL, "no-store"),
            ],
            body.to_string(),
        )
            .into_response();
        if let Ok(v) = HeaderValue::from_str(&challenge) {
            res.headers_mut().insert(header::WWW_AUTHENTICATE, v);
        }
        res
    }
}

/// The bearer token of the request: exactly one `Authorization: Bearer <token>` header.
fn bearer(headers: &HeaderMap) -> Result<&str, Refused> {
    let mut values = headers.get_all(header::AUTHORIZATION).iter();
    let Some(value) = values.next() else {
        return Err(Refused {
            error: None,
            status: StatusCode::UNAUTHORIZED,
        });
    };
    if values.next().is_some() {
        return Err(Refused {
            error: Some((
                "invalid_request",
                "send exactly one Authorization header".into(),
            )),
            status: StatusCode::BAD_REQUEST,
        });
    }
    let text = value.to_str().unwrap_or_default();
    match text.split_once(' ') {
        Some((scheme, token))
            if scheme.eq_ignore_ascii_case("bearer") && !token.trim().is_empty() =>
        {
            Ok(token.trim())
        }
        _ => Err(Refused::invalid_token(
            "the Authorization header must be \"Bearer <access token>\"",
        )),
    }
}

/// `GET` and `POST /oauth/userinfo`.
pub(super) async fn userinfo(State(inner): State<Arc<Inner>>, headers: HeaderMap) -> Response {
    match claims(&inner, &headers).await {
        Ok(doc) => (
            StatusCode::OK,
            [
                (header::CONTENT_TYPE, "application/json"),
                (header::CACHE_CONTROL, "no-store"),
            ],
            Value::Object(doc).to_string(),
        )
            .into_response(),
        Err(r) => r.into_response(&inner),
    }
}

async fn claims(inner: &Inner, headers: &HeaderMap) -> Result<Map<String, Value>, Refused> {
    let token = bearer(headers)?;
    inner.refresh_keys_for(token).await;
    let Some(c) = inner.keys.verify(token, &inner.config.issuer) else {
        return Err(Refused::invalid_token(
            "not a valid access token of this server (signature, type, issuer or expiry)",
        ));
    };
    if !inner.config.resources.iter().any(|r| r == &c.aud) {
        return Err(Refused::invalid_token(
            "the token's audience is not a resource of this server",
        ));
    }
    let unavailable = |e: crate::StoreError| Refused {
        error: Some(("temporarily_unavailable", e.to_string())),
        status: StatusCode::SERVICE_UNAVAILABLE,
    };
    if inner.store.jti_revoked(&c.jti).await.map_err(unavailable)? {
        return Err(Refused::invalid_token("the token was revoked"));
    }
    let user = inner
        .store
        .user_by_id(&c.sub)
        .await
        .map_err(unavailable)?
        .as_ref()
        .map(crate::User::from);
    let mut doc = Map::new();
    doc.insert("sub".into(), json!(c.sub));
    // A token minted for a subject that is no user here (`widgetry token`) has only `sub`.
    if let Some(u) = user {
        if !u.name.trim().is_empty() {
            doc.insert("name".into(), json!(u.name));
        }
        doc.insert("preferred_username".into(), json!(u.username));
        if is_email(&u.username) {
            doc.insert("email".into(), json!(u.username));
        }
    }
    Ok(doc)
}

/// Whether a username is shaped like an email address (`local@domain.tld`).
fn is_email(s: &str) -> bool {
    match s.split_once('@') {
        Some((local, domain)) => {
            !local.is_empty()
                && domain.contains('.')
                && !domain.starts_with('.')
                && !domain.ends_with('.')
                && !s.contains(char::is_whitespace)
                && !domain.contains('@')
        }
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_address_shaped_usernames_are_emails() {
        assert!(is_email("ada@example.com"));
        assert!(!is_email("ada"));
        assert!(!is_email("@example.com"));
        assert!(!is_email("ada@localhost"));
        assert!(!is_email("a b@example.com"));
        assert!(!is_email("a@b@example.com"));
    }
}
