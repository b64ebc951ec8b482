//! Signing keys: ES256 (P-256) key pairs generated with `ring`, stored as PKCS#8 (sealed
//! when a key-encryption key is configured), published as a JWKS, and rotated: the new
//! key signs, retired keys stay published until the tokens they signed have expired.

use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use ring::rand::SystemRandom;
use ring::signature::{EcdsaKeyPair, KeyPair as _, ECDSA_P256_SHA256_FIXED_SIGNING};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use crate::crypto::Sealer;
use crate::store::{AuthzStore, SigningKeyRecord};
use crate::AuthzError;

/// The `typ` header of access tokens (RFC 9068).
pub const ACCESS_TOKEN_TYP: &str = "at+jwt";

/// The claims of an access token issued by this server (RFC 9068).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessTokenClaims {
    /// The issuer.
    pub iss: String,
    /// The user's id.
    pub sub: String,
    /// The resource the token is for.
    pub aud: String,
    /// Granted scopes, space separated.
    pub scope: String,
    /// The client the token was issued to.
    pub client_id: String,
    /// Issue time, seconds since the Unix epoch.
    pub iat: i64,
    /// Expiry, seconds since the Unix epoch.
    pub exp: i64,
    /// Unique token id (revocation deny-list key).
    pub jti: String,
}

struct LoadedKey {
    kid: String,
    encoding: EncodingKey,
    decoding: DecodingKey,
    jwk: Value,
    active: bool,
    publish_until: Option<i64>,
}

struct Keys {
    list: Vec<LoadedKey>,
    loaded_at: Instant,
}

/// The in-memory view of the stored signing keys.
pub(crate) struct KeyRing {
    keys: RwLock<Arc<Keys>>,
}

fn sealing_context(kid: &str) -> String {
    format!("signing-key:{kid}")
}

/// RFC 7638 thumbprint of a P-256 public key.
fn thumbprint(x: &str, y: &str) -> String {
    let canonical = format!(r#"{{"crv":"P-256","kty":"EC","x":"{x}","y":"{y}"}}"#);
    URL_SAFE_NO_PAD.encode(Sha256::digest(canonical.as_bytes()))
}

/// Generates a new ES256 key record (not yet stored).
pub(crate) fn generate(sealer: &Sealer, now: i64) -> Result<SigningKeyRecord, AuthzError> {
    let rng = SystemRandom::new();
    let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng)
        .map_err(|_| AuthzError::Internal("generating a P-256 key failed".into()))?;
    let (kid, jwk) = public_jwk(pkcs8.as_ref())?;
    Ok(SigningKeyRecord {
        private_key: sealer.seal(pkcs8.as_ref(), &sealing_context(&kid))?,
        public_jwk: jwk.to_string(),
        kid,
        alg: "ES256".into(),
        created_at: now,
        active: true,
        publish_until: None,
        max_token_exp: 0,
    })
}

fn public_jwk(pkcs8: &[u8]) -> Result<(String, Value), AuthzError> {
    let pair = EcdsaKeyPair::from_pkcs8(
        &ECDSA_P256_SHA256_FIXED_SIGNING,
        pkcs8,
        &SystemRandom::new(),
    )
    .map_err(|e| {
        AuthzError::Internal(format!("stored signing key is not a P-256 PKCS#8 key: {e}"))
    })?;
    let point = pair.public_key().as_ref();
    if point.len() != 65 || point[0] != 4 {
        return Err(AuthzError::Internal(
            "unexpected P-256 public key encoding".into(),
        ));
    }
    let x = URL_SAFE_NO_PAD.encode(&point[1..33]);
    let y = URL_SAFE_NO_PAD.encode(&point[33..65]);
    let kid = thumbprint(&x, &y);
    let jwk = json!({
        "kty": "EC", "crv": "P-256", "x": x, "y": y,
        "kid": kid, "use": "sig", "alg": "ES256",
    });
    Ok((kid, jwk))
}

fn load(record: &SigningKeyRecord, sealer: &Sealer) -> Result<LoadedKey, AuthzError> {
    if record.alg != "ES256" {
        return Err(AuthzError::Internal(format!(
            "signing key {} uses unsupported algorithm {}",
            record.kid, record.alg
        )));
    }
    let pkcs8 = sealer.open(&record.private_key, &sealing_context(&record.kid))?;
    let (kid, jwk) = public_jwk(&pkcs8)?;
    if kid != record.kid {
        return Err(AuthzError::Internal(format!(
            "signing key {} does not match its id",
            record.kid
        )));
    }
    let x = jwk["x"].as_str().unwrap_or_default();
    let y = jwk["y"].as_str().unwrap_or_default();
    let decoding = DecodingKey::from_ec_components(x, y)
        .map_err(|e| AuthzError::Internal(format!("signing key {kid}: {e}")))?;
    Ok(LoadedKey {
        encoding: EncodingKey::from_ec_der(&pkcs8),
        decoding,
        jwk,
        kid,
        active: record.active,
        publish_until: record.publish_until,
    })
}

impl KeyRing {
    pub(crate) fn new() -> Self {
        Self {
            keys: RwLock::new(Arc::new(Keys {
                list: Vec::new(),
                loaded_at: Instant::now(),
            })),
        }
    }

    fn snapshot(&self) -> Arc<Keys> {
        match self.keys.read() {
            Ok(k) => Arc::clone(&k),
            Err(poisoned) => Arc::clone(&poisoned.into_inner()),
        }
    }

    /// Reloads the keys from the store (another instance may have rotated them).
    pub(crate) async fn reload(
        &self,
        store: &dyn AuthzStore,
        sealer: &Sealer,
    ) -> Result<(), AuthzError> {
        let records = store.signing_keys().await?;
        let mut list = Vec::with_capacity(records.len());
        for r in &records {
            list.push(load(r, sealer)?);
        }
        let keys = Arc::new(Keys {
            list,
            loaded_at: Instant::now(),
        });
        match self.keys.write() {
            Ok(mut k) => *k = keys,
            Err(poisoned) => *poisoned.into_inner() = keys,
        }
        Ok(())
    }

    /// Whether the keys were loaded more than `max_age` ago.
    pub(crate) fn is_stale(&self, max_age: Duration) -> bool {
        self.snapshot().loaded_at.elapsed() > max_age
    }

    pub(crate) fn has_active(&self) -> bool {
        self.snapshot().list.iter().any(|k| k.active)
    }

    /// The JWKS: the active key and retired keys still within their publication time.
    pub(crate) fn jwks(&self, now: i64) -> Value {
        let keys = self.snapshot();
        let list: Vec<&Value> = keys
            .list
            .iter()
            .filter(|k| k.active || k.publish_until.is_some_and(|t| t > now))
            .map(|k| &k.jwk)
            .collect();
        json!({ "keys": list })
    }

    /// Signs access token claims with the active key; returns the token and the key id.
    pub(crate) fn sign(&self, claims: &AccessTokenClaims) -> Result<(String, String), AuthzError> {
        let keys = self.snapshot();
        let key = keys
            .list
            .iter()
            .rev()
            .find(|k| k.active)
            .ok_or_else(|| AuthzError::Internal("no active signing key".into()))?;
        let mut header = Header::new(Algorithm::ES256);
        header.typ = Some(ACCESS_TOKEN_TYP.into());
        header.kid = Some(key.kid.clone());
        let token = jsonwebtoken::encode(&header, claims, &key.encoding)
            .map_err(|e| AuthzError::Internal(format!("signing a token failed: {e}")))?;
        Ok((token, key.kid.clone()))
    }

    /// Verifies one of our access tokens: signature by a known key, `typ`, issuer and
    /// expiry. `None` for anything else.
    pub(crate) fn verify(&self, token: &str, issuer: &str) -> Option<AccessTokenClaims> {
        let header = jsonwebtoken::decode_header(token).ok()?;
        if header.alg != Algorithm::ES256 || header.typ.as_deref() != Some(ACCESS_TOKEN_TYP) {
            return None;
        }
        let kid = header.kid?;
        let keys = self.snapshot();
        let key = keys.list.iter().find(|k| k.kid == kid)?;
        let mut validation = Validation::new(Algorithm::ES256);
        validation.leeway = 0;
        validation.validate_aud = false;
        validation.set_issuer(&[issuer]);
        validation.set_required_spec_claims(&["exp", "iss", "sub", "aud"]);
        jsonwebtoken::decode::<AccessTokenClaims>(token, &key.decoding, &validation)
            .ok()
            .map(|d| d.claims)
    }

    pub(crate) fn knows(&self, kid: &str) -> bool {
        self.snapshot().list.iter().any(|k| k.kid == kid)
    }
}

/// The `kid` in a token's header, if it parses.
pub(crate) fn token_kid(token: &str) -> Option<String> {
    jsonwebtoken::decode_header(token).ok()?.kid
}
