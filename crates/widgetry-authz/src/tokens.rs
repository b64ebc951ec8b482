//! Token issuance: signed JWT access tokens (RFC 9068 claims) and opaque refresh tokens
//! (random 256-bit, stored only as SHA-256 hashes, rotated on every use).

use crate::crypto::{hash, random_id, random_token};
use crate::keys::AccessTokenClaims;
use crate::store::{RefreshTokenRecord, RefreshTokenState};
use crate::{now, AuthzError, Inner};

/// What the token endpoint hands out.
pub(crate) struct IssuedTokens {
    pub access_token: String,
    pub expires_in: i64,
    pub refresh_token: Option<String>,
    pub scope: String,
}

/// Mints and signs an access token; records its id under `grant_id` so that revoking the
/// grant denies it.
pub(crate) async fn mint(
    inner: &Inner,
    subject: &str,
    scope: &str,
    audience: &str,
    client_id: &str,
    ttl_secs: i64,
    grant_id: Option<&str>,
) -> Result<(String, AccessTokenClaims), AuthzError> {
    let iat = now();
    let claims = AccessTokenClaims {
        iss: inner.config.issuer.clone(),
        sub: subject.to_owned(),
        aud: audience.to_owned(),
        scope: scope.to_owned(),
        client_id: client_id.to_owned(),
        iat,
        exp: iat + ttl_secs,
        jti: random_id(),
    };
    inner.fresh_keys().await;
    let (token, kid) = inner.keys.sign(&claims)?;
    // Keep the key published for as long as the token is valid, even if another instance
    // retired it a moment ago.
    inner.store.extend_key_token_exp(&kid, claims.exp).await?;
    if let Some(grant_id) = grant_id {
        inner
            .store
            .record_access_token(&claims.jti, grant_id, claims.exp)
            .await?;
    }
    Ok((token, claims))
}

/// A new refresh token and the record to store for it.
pub(crate) fn new_refresh_token(inner: &Inner, grant_id: &str) -> (String, RefreshTokenRecord) {
    let token = random_token();
    let now = now();
    let record = RefreshTokenRecord {
        token_hash: hash(&token),
        grant_id: grant_id.to_owned(),
        parent_hash: None,
        state: RefreshTokenState::Active,
        issued_at: now,
        expires_at: now + inner.config.refresh_token_ttl.as_secs() as i64,
    };
    (token, record)
}
