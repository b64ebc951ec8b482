//! The token endpoint (authorization code and refresh token grants), RFC 7009 revocation,
//! RFC 7662 introspection and RFC 7591 registration.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::header::{self, HeaderMap};
use axum::http::{Extensions, StatusCode};
use axum::response::{IntoResponse, Response};
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine as _;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use super::{client_address, oauth_error, Params};
use crate::clients::{authenticate, AuthenticatedClient, PresentedCredentials};
use crate::crypto::{constant_time_eq, hash};
use crate::store::{CodeRecord, CodeUse, GrantRecord, RefreshRotation, RefreshTokenState};
use crate::tokens::{mint, new_refresh_token, IssuedTokens};
use crate::{now, Inner};

fn bad_request(code: &str, description: &str) -> Response {
    oauth_error(StatusCode::BAD_REQUEST, code, description)
}

fn server_error(e: impl std::fmt::Display) -> Response {
    tracing::error!(error = %e, "token endpoint failure");
    oauth_error(
        StatusCode::SERVICE_UNAVAILABLE,
        "temporarily_unavailable",
        "the authorization server could not complete the request; try again",
    )
}

/// Decodes one `application/x-www-form-urlencoded` component (RFC 6749 §2.3.1 encodes
/// the Basic credentials this way).
fn form_decode(s: &str) -> Option<String> {
    let mut out = Vec::with_capacity(s.len());
    let bytes = s.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' => {
                let hex = s.get(i + 1..i + 3)?;
                out.push(u8::from_str_radix(hex, 16).ok()?);
                i += 2;
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8(out).ok()
}

/// A refusal before the client is known: status, error code, description.
type Refusal = (StatusCode, &'static str, &'static str);

/// Reads the client's credentials from the Authorization header and the form.
fn credentials(headers: &HeaderMap, form: &Params) -> Result<PresentedCredentials, Refusal> {
    let repeated: Refusal = (
        StatusCode::BAD_REQUEST,
        "invalid_request",
        "a client parameter is repeated",
    );
    let mut creds = PresentedCredentials {
        basic: None,
        body_id: form
            .single("client_id")
            .map_err(|_| repeated)?
            .map(str::to_owned),
        body_secret: form
            .single("client_secret")
            .map_err(|_| repeated)?
            .map(str::to_owned),
    };
    if let Some(value) = headers.get(header::AUTHORIZATION) {
        let invalid: Refusal = (
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            "malformed Basic credentials in the Authorization header",
        );
        let value = value.to_str().map_err(|_| invalid)?;
        let Some((scheme, b64)) = value.split_once(' ') else {
            return Err(invalid);
        };
        if !scheme.eq_ignore_ascii_case("basic") {
            return Err(invalid);
        }
        let raw = STANDARD.decode(b64.trim()).map_err(|_| invalid)?;
        let raw = String::from_utf8(raw).map_err(|_| invalid)?;
        let (id, secret) = raw.split_once(':').ok_or(invalid)?;
        let id = form_decode(id).ok_or(invalid)?;
        let secret = form_decode(secret).ok_or(invalid)?;
        creds.basic = Some((id, secret));
    }
    Ok(creds)
}

/// Parses a form body and authenticates the client that sent it (revocation and
/// introspection both start this way).
async fn authenticated_form(
    inner: &Inner,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<(Params, AuthenticatedClient), Response> {
    let form = Params::parse(body).map_err(|e| bad_request("invalid_request", &e))?;
    let client = client_from_request(inner, headers, &form).await?;
    Ok((form, client))
}

async fn client_from_request(
    inner: &Inner,
    headers: &HeaderMap,
    form: &Params,
) -> Result<AuthenticatedClient, Response> {
    let creds = credentials(headers, form)
        .map_err(|(status, code, description)| oauth_error(status, code, description))?;
    authenticate(inner, creds).await.map_err(|e| {
        let status = match e.code {
            "invalid_client" => StatusCode::UNAUTHORIZED,
            "server_error" => StatusCode::SERVICE_UNAVAILABLE,
            _ => StatusCode::BAD_REQUEST,
        };
        oauth_error(status, e.code, e.description)
    })
}

fn token_response(t: IssuedTokens) -> Response {
    let mut body = json!({
        "access_token": t.access_token,
        "token_type": "Bearer",
        "expires_in": t.expires_in,
        "scope": t.scope,
    });
    if let Some(rt) = t.refresh_token {
        body["refresh_token"] = json!(rt);
    }
    (
        StatusCode::OK,
        [
            (header::CONTENT_TYPE, "application/json"),
            (header::CACHE_CONTROL, "no-store"),
            (header::PRAGMA, "no-cache"),
        ],
        body.to_string(),
    )
        .into_response()
}

fn is_code_verifier(s: &str) -> bool {
    (43..=128).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'))
}

/// `POST /oauth/token`.
pub(super) async fn token(
    State(inner): State<Arc<Inner>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let form = match Params::parse(&body) {
        Ok(f) => f,
        Err(e) => return bad_request("invalid_request", &e),
    };
    if let Some(name) = form.repeated(&[]) {
        return bad_request("invalid_request", &format!("parameter {name} is repeated"));
    }
    let client = match client_from_request(&inner, &headers, &form).await {
        Ok(c) => c,
        Err(res) => return res,
    };
    match form.single("grant_type").ok().flatten() {
        Some("authorization_code") => authorization_code(&inner, &client, &form).await,
        Some("refresh_token") => refresh(&inner, &client, &form).await,
        Some(_) => bad_request(
            "unsupported_grant_type",
            "supported grant types: authorization_code, refresh_token",
        ),
        None => bad_request("invalid_request", "grant_type is required"),
    }
}

async fn authorization_code(
    inner: &Inner,
    client: &AuthenticatedClient,
    form: &Params,
) -> Response {
    let Some(code) = form.single("code").ok().flatten() else {
        return bad_request("invalid_request", "code is required");
    };
    let Some(verifier) = form.single("code_verifier").ok().flatten() else {
        return bad_request("invalid_request", "code_verifier is required (PKCE)");
    };
    let now = now();
    // The grant's first refresh token is stored with the code's consumption, in one
    // transaction (a crash leaves both or neither); it is handed out only if every check
    // below passes, and a failed check revokes the grant (the code is spent either way).
    let (refresh_plain, first_refresh) = new_refresh_token(inner, "");
    let code = match inner
        .store
        .consume_code(&hash(code), now, Some(first_refresh))
        .await
    {
        Ok(CodeUse::Fresh(c)) => c,
        Ok(CodeUse::Reused(c)) => {
            // RFC 6749 §4.1.2: revoke what was issued from a code used twice.
            if let Err(e) = inner.store.revoke_grant(&c.grant_id, now).await {
                return server_error(e);
            }
            return bad_request(
                "invalid_grant",
                "the authorization code was already used; the tokens issued with it are revoked",
            );
        }
        Ok(CodeUse::Unknown) => {
            return bad_request("invalid_grant", "the authorization code is invalid")
        }
        Err(e) => return server_error(e),
    };
    let grant = match check_code(inner, client, form, &code, verifier, now).await {
        Ok(g) => g,
        Err(refusal) => {
            if let Err(e) = inner.store.revoke_grant(&code.grant_id, now).await {
                return server_error(e);
            }
            return refusal;
        }
    };
    let ttl = inner.config.access_token_ttl.as_secs() as i64;
    let access = mint(
        inner,
        &grant.user_id,
        &grant.scope,
        &grant.resource,
        &grant.client_id,
        ttl,
        Some(&grant.id),
    )
    .await;
    let access_token = match access {
        Ok((t, _)) => t,
        Err(e) => return server_error(e),
    };
    let refresh_token = grant.refresh_allowed.then_some(refresh_plain);
    token_response(IssuedTokens {
        access_token,
        expires_in: ttl,
        refresh_token,
        scope: grant.scope,
    })
}

/// The checks of a consumed code against the request: expiry, live grant, client,
/// `redirect_uri`, PKCE and `resource`; the grant, or the refusal to send.
async fn check_code(
    inner: &Inner,
    client: &AuthenticatedClient,
    form: &Params,
    code: &CodeRecord,
    verifier: &str,
    now: i64,
) -> Result<GrantRecord, Response> {
    if code.expires_at <= now {
        return Err(bad_request(
            "invalid_grant",
            "the authorization code has expired",
        ));
    }
    let grant = match inner.store.grant(&code.grant_id).await {
        Ok(Some(g)) if g.revoked_at.is_none() => g,
        Ok(_) => {
            return Err(bad_request(
                "invalid_grant",
                "the authorization code is invalid",
            ))
        }
        Err(e) => return Err(server_error(e)),
    };
    if grant.client_id != client.client_id {
        return Err(bad_request(
            "invalid_grant",
            "the authorization code was issued to another client",
        ));
    }
    // RFC 6749 §4.1.3: required when the authorization request named it, and identical.
    // Missing, it is a missing required parameter (§5.2 invalid_request); different, the
    // grant does not match (invalid_grant).
    match form.single("redirect_uri").ok().flatten() {
        Some(uri) if uri != code.redirect_uri => {
            return Err(bad_request(
                "invalid_grant",
                "redirect_uri differs from the authorization request",
            ))
        }
        None if code.redirect_uri_sent => {
            return Err(bad_request(
                "invalid_request",
                "redirect_uri is required: the authorization request named one",
            ))
        }
        _ => {}
    }
    let computed = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
    if !is_code_verifier(verifier) || !constant_time_eq(&computed, &code.code_challenge) {
        return Err(bad_request(
            "invalid_grant",
            "the code_verifier does not match the code_challenge",
        ));
    }
    let resources = form.all("resource");
    if resources.iter().any(|r| *r != grant.resource) {
        return Err(bad_request(
            "invalid_target",
            "resource differs from the authorization request",
        ));
    }
    Ok(grant)
}

async fn refresh(inner: &Inner, client: &AuthenticatedClient, form: &Params) -> Response {
    let Some(presented) = form.single("refresh_token").ok().flatten() else {
        return bad_request("invalid_request", "refresh_token is required");
    };
    let presented_hash = hash(presented);
    let now = now();
    let (_, grant) = match inner.store.refresh_token(&presented_hash, now).await {
        Ok(Some(found)) => found,
        Ok(None) => return bad_request("invalid_grant", "the refresh token is invalid or expired"),
        Err(e) => return server_error(e),
    };
    if grant.client_id != client.client_id {
        return bad_request(
            "invalid_grant",
            "the refresh token was issued to another client",
        );
    }
    let granted: Vec<&str> = grant.scope.split(' ').filter(|s| !s.is_empty()).collect();
    let scope = match form.single("scope").ok().flatten() {
        Some(requested) => match crate::scope::parse_scope(requested) {
            Ok(list) => {
                if let Some(bad) = list.iter().find(|s| !granted.contains(&s.as_str())) {
                    return bad_request("invalid_scope", &format!("scope {bad:?} was not granted"));
                }
                list.join(" ")
            }
            Err(e) => return bad_request("invalid_scope", &e),
        },
        None => grant.scope.clone(),
    };
    if form.all("resource").iter().any(|r| *r != grant.resource) {
        return bad_request("invalid_target", "resource differs from the grant's");
    }
    let (token, successor) = new_refresh_token(inner, &grant.id);
    let grace_floor = now - inner.config.refresh_token_grace.as_secs() as i64;
    let grant = match inner
        .store
        .rotate_refresh_token(&presented_hash, successor, now, grace_floor)
        .await
    {
        Ok(RefreshRotation::Rotated(g)) => g,
        Ok(RefreshRotation::Invalid) => {
            return bad_request("invalid_grant", "the refresh token is invalid or expired")
        }
        Ok(RefreshRotation::Reused { .. }) => {
            return bad_request(
                "invalid_grant",
                "the refresh token was already used; the grant is revoked (token reuse)",
            )
        }
        Err(e) => return server_error(e),
    };
    let ttl = inner.config.access_token_ttl.as_secs() as i64;
    match mint(
        inner,
        &grant.user_id,
        &scope,
        &grant.resource,
        &grant.client_id,
        ttl,
        Some(&grant.id),
    )
    .await
    {
        Ok((access_token, _)) => token_response(IssuedTokens {
            access_token,
            expires_in: ttl,
            refresh_token: Some(token),
            scope,
        }),
        Err(e) => server_error(e),
    }
}

/// `POST /oauth/revoke` (RFC 7009): always 200 once the client is authenticated.
pub(super) async fn revoke(
    State(inner): State<Arc<Inner>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let (form, client) = match authenticated_form(&inner, &headers, &body).await {
        Ok(v) => v,
        Err(res) => return res,
    };
    let Some(token) = form.single("token").ok().flatten() else {
        return bad_request("invalid_request", "token is required");
    };
    let now = now();
    match inner.store.refresh_token(&hash(token), now).await {
        Ok(Some((_, grant))) => {
            if grant.client_id == client.client_id {
                if let Err(e) = inner.store.revoke_grant(&grant.id, now).await {
                    return server_error(e);
                }
            }
        }
        Ok(None) => {
            inner.refresh_keys_for(token).await;
            if let Some(claims) = inner.keys.verify(token, &inner.config.issuer) {
                if claims.client_id == client.client_id {
                    if let Err(e) = inner.store.revoke_jti(&claims.jti, claims.exp).await {
                        return server_error(e);
                    }
                }
            }
        }
        Err(e) => return server_error(e),
    }
    (StatusCode::OK, [(header::CACHE_CONTROL, "no-store")]).into_response()
}

/// `POST /oauth/introspect` (RFC 7662): for confidential clients only.
pub(super) async fn introspect(
    State(inner): State<Arc<Inner>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let (form, client) = match authenticated_form(&inner, &headers, &body).await {
        Ok(v) => v,
        Err(res) => return res,
    };
    if !client.confidential {
        return oauth_error(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            "introspection requires client authentication with a secret",
        );
    }
    let Some(token) = form.single("token").ok().flatten() else {
        return bad_request("invalid_request", "token is required");
    };
    let answer = match introspection(&inner, &client, token).await {
        Ok(v) => v,
        Err(e) => return server_error(e),
    };
    (
        StatusCode::OK,
        [
            (header::CONTENT_TYPE, "application/json"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        answer.to_string(),
    )
        .into_response()
}

async fn introspection(
    inner: &Inner,
    client: &AuthenticatedClient,
    token: &str,
) -> Result<Value, crate::StoreError> {
    inner.refresh_keys_for(token).await;
    if let Some(c) = inner.keys.verify(token, &inner.config.issuer) {
        if inner.store.jti_revoked(&c.jti).await? {
            return Ok(json!({ "active": false }));
        }
        return Ok(json!({
            "active": true,
            "token_type": "Bearer",
            "scope": c.scope,
            "client_id": c.client_id,
            "sub": c.sub,
            "aud": c.aud,
            "iss": c.iss,
            "exp": c.exp,
            "iat": c.iat,
            "jti": c.jti,
        }));
    }
    if let Some((t, grant)) = inner.store.refresh_token(&hash(token), now()).await? {
        // A refresh token is only described to the client it belongs to.
        if t.state != RefreshTokenState::Superseded && grant.client_id == client.client_id {
            return Ok(json!({
                "active": true,
                "scope": grant.scope,
                "client_id": grant.client_id,
                "sub": grant.user_id,
                "aud": grant.resource,
                "iss": inner.config.issuer,
                "exp": t.expires_at,
                "iat": t.issued_at,
            }));
        }
    }
    Ok(json!({ "active": false }))
}

/// `POST /oauth/register` (RFC 7591).
///
/// Beyond the limits of [`crate::limits::admit_registration`] it answers 429 with
/// `Retry-After` and the error `temporarily_unavailable` (RFC 7591 has no code for this).
pub(super) async fn register(
    State(inner): State<Arc<Inner>>,
    headers: HeaderMap,
    ext: Extensions,
    body: Bytes,
) -> Response {
    let addr = client_address(&inner, &headers, &ext);
    if let Err(description) = crate::limits::admit_registration(&inner, addr.as_deref()).await {
        let mut res = oauth_error(
            StatusCode::TOO_MANY_REQUESTS,
            "temporarily_unavailable",
            &description,
        );
        if let Ok(v) =
            header::HeaderValue::from_str(&inner.config.creation_rate_window.as_secs().to_string())
        {
            res.headers_mut().insert(header::RETRY_AFTER, v);
        }
        return res;
    }
    match crate::clients::register(&inner, &body).await {
        Ok(doc) => (
            StatusCode::CREATED,
            [
                (header::CONTENT_TYPE, "application/json"),
                (header::CACHE_CONTROL, "no-store"),
            ],
            doc.to_string(),
        )
            .into_response(),
        Err(e) if e.code == "server_error" => {
            oauth_error(StatusCode::SERVICE_UNAVAILABLE, e.code, &e.description)
        }
        Err(e) => bad_request(e.code, &e.description),
    }
}

#[cfg(test)]
mod tests {
    use super::form_decode;

    #[test]
    fn decodes_form_components() {
        assert_eq!(form_decode("a%3Ab+c").as_deref(), Some("a:b c"));
        assert_eq!(form_decode("%zz"), None);
        assert_eq!(form_decode("%4"), None);
    }
}
