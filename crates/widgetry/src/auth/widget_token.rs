//! Widget tokens: short-lived, scoped tokens that let a widget call the app's action
//! endpoints directly for the signed-in user (DESIGN.md §5).
//!
//! A widget token is an ES256 JWS signed by the app's own key (never the user's access
//! token, which must not reach the browser). Its audience is the app's widget API, its
//! subject the user, its scopes the intersection of the user's scopes and the scopes of
//! the actions the widget declared, its `actions` claim the actions it may call, and its
//! `wsid` the widget session it was minted for. It lives 10 minutes by default and is
//! renewed through a private tool called by the host, so the host's own authorization of
//! the user vouches for every renewal.

use std::sync::Arc;
use std::time::Duration;

use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine as _;
use ring::rand::SystemRandom;
use ring::signature::{self, EcdsaKeyPair, KeyPair, UnparsedPublicKey};
use serde_json::{json, Map, Value};

use super::verifier::now_secs;
use crate::identity::User;

/// The `typ` of widget tokens.
pub const WIDGET_TOKEN_TYPE: &str = "widget+jwt";

/// `_meta` key under which a tool result carries the widget token.
pub const META_KEY: &str = "widgetry/widgetToken";

/// Why a widget token was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WidgetTokenError {
    /// Malformed, forged, for another audience, or not a widget token.
    #[error("{0}")]
    Invalid(String),
    /// Past its expiry: renew it.
    #[error("the widget token has expired; renew it")]
    Expired,
    /// Valid, but it does not cover this action or its scopes.
    #[error("{0}")]
    Insufficient(String),
}

impl WidgetTokenError {
    /// The OAuth-style error code.
    pub fn code(&self) -> &'static str {
        match self {
            WidgetTokenError::Invalid(_) | WidgetTokenError::Expired => "invalid_token",
            WidgetTokenError::Insufficient(_) => "insufficient_scope",
        }
    }
}

/// Verified claims of a widget token.
#[derive(Debug, Clone, PartialEq)]
pub struct WidgetClaims {
    /// The user.
    pub subject: String,
    /// Granted scopes.
    pub scopes: Vec<String>,
    /// Actions the token may call.
    pub actions: Vec<String>,
    /// Actions the widget declared (granted or not), kept for renewal.
    pub declared: Vec<String>,
    /// The widget session.
    pub wsid: String,
    /// Expiry (seconds since the epoch).
    pub exp: f64,
    /// The user's display name and email, when the access token had them.
    pub profile: Map<String, Value>,
}

impl WidgetClaims {
    /// The claims as a [`User`] for the action handler.
    pub fn to_user(&self) -> User {
        let mut claims = self.profile.clone();
        claims.insert("sub".into(), json!(self.subject));
        claims.insert("scope".into(), json!(self.scopes.join(" ")));
        User {
            subject: self.subject.clone(),
            scopes: self.scopes.clone(),
            client_id: Some("widget".into()),
            expires_at: Some(self.exp as u64),
            claims,
        }
    }
}

struct Inner {
    key: EcdsaKeyPair,
    kid: String,
    /// Every accepted key's `(kid, public key)`, the signing key's first.
    accepted: Vec<(String, Vec<u8>)>,
    audience: String,
    issuer: String,
    ttl: Duration,
    max_renew_age: Duration,
    /// Verified tokens by SHA-256, so a widget's repeated calls skip the ECDSA check.
    cache: std::sync::RwLock<std::collections::HashMap<[u8; 32], WidgetClaims>>,
}

const CACHE_CAP: usize = 20_000;

/// Mints and verifies widget tokens with the app's own P-256 key.
#[derive(Clone)]
pub struct WidgetTokens {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for WidgetTokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WidgetTokens")
            .field("audience", &self.inner.audience)
            .field("kid", &self.inner.kid)
            .finish_non_exhaustive()
    }
}

/// Generates a new PKCS#8 P-256 private key for widget tokens.
pub fn generate_key() -> Vec<u8> {
    EcdsaKeyPair::generate_pkcs8(
        &signature::ECDSA_P256_SHA256_FIXED_SIGNING,
        &SystemRandom::new(),
    )
    .map(|d| d.as_ref().to_vec())
    .expect("the operating system's random source is unavailable")
}

/// A key's id: the first 8 bytes of the SHA-256 of its public key, in hex.
fn key_id(public: &[u8]) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(public)
        .iter()
        .take(8)
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn b64json(v: &Value) -> String {
    B64.encode(serde_json::to_vec(v).unwrap_or_default())
}

impl WidgetTokens {
    /// A minter/verifier from a PKCS#8 P-256 key. `issuer` is the app's origin,
    /// `audience` its widget API URL (`<origin>/widget/actions`), `ttl` the lifetime of
    /// minted tokens (10 minutes by default in the app).
    pub fn new(
        pkcs8: &[u8],
        issuer: impl Into<String>,
        audience: impl Into<String>,
        ttl: Duration,
    ) -> Result<Self, String> {
        Self::with_keys(&[pkcs8.to_vec()], issuer, audience, ttl)
    }

    /// Like [`WidgetTokens::new`] with several PKCS#8 P-256 keys: the first signs, every
    /// one verifies (key rotation; see [`crate::auth::widget_keys::WidgetKeys`]).
    pub fn with_keys(
        keys: &[Vec<u8>],
        issuer: impl Into<String>,
        audience: impl Into<String>,
        ttl: Duration,
    ) -> Result<Self, String> {
        let pair = |pkcs8: &[u8]| {
            EcdsaKeyPair::from_pkcs8(
                &signature::ECDSA_P256_SHA256_FIXED_SIGNING,
                pkcs8,
                &SystemRandom::new(),
            )
            .map_err(|e| format!("the widget-token key is not a PKCS#8 P-256 key: {e}"))
        };
        let Some(first) = keys.first() else {
            return Err("no widget-token key".into());
        };
        let key = pair(first)?;
        let mut accepted = Vec::with_capacity(keys.len());
        for k in keys {
            let public = pair(k)?.public_key().as_ref().to_vec();
            accepted.push((key_id(&public), public));
        }
        Ok(Self {
            inner: Arc::new(Inner {
                key,
                kid: accepted[0].0.clone(),
                accepted,
                audience: audience.into(),
                issuer: issuer.into(),
                ttl,
                max_renew_age: Duration::from_secs(24 * 3600),
                cache: Default::default(),
            }),
        })
    }

    /// The lifetime of minted tokens.
    pub fn ttl(&self) -> Duration {
        self.inner.ttl
    }

    /// The widget API audience.
    pub fn audience(&self) -> &str {
        &self.inner.audience
    }

    /// Mints a token for `user` covering the `declared` actions whose scopes the user
    /// holds (`action_scopes` gives each action's required scopes).
    pub fn mint(
        &self,
        user: &User,
        declared: &[String],
        action_scopes: &dyn Fn(&str) -> Option<Vec<String>>,
        wsid: &str,
    ) -> Option<(String, f64, Vec<String>)> {
        let mut actions = Vec::new();
        let mut scopes: Vec<String> = Vec::new();
        for a in declared {
            let Some(needed) = action_scopes(a) else {
                continue;
            };
            if needed.iter().all(|s| user.has_scope(s)) {
                actions.push(a.clone());
                scopes.extend(needed);
            }
        }
        scopes.sort();
        scopes.dedup();
        let now = now_secs();
        let exp = (now + self.inner.ttl.as_secs_f64()).floor();
        let mut profile = Map::new();
        for k in ["name", "email"] {
            if let Some(v) = user.claims.get(k).filter(|v| v.is_string()) {
                profile.insert(k.into(), v.clone());
            }
        }
        let claims = json!({
            "iss": self.inner.issuer,
            "aud": self.inner.audience,
            "sub": user.subject,
            "scope": scopes.join(" "),
            "actions": actions,
            "declared": declared,
            "wsid": wsid,
            "iat": now.floor(),
            "exp": exp,
            "jti": crate::random::random_hex(12),
            "profile": profile,
        });
        let header = json!({"alg": "ES256", "typ": WIDGET_TOKEN_TYPE, "kid": self.inner.kid});
        let signing_input = format!("{}.{}", b64json(&header), b64json(&claims));
        let sig = self
            .inner
            .key
            .sign(&SystemRandom::new(), signing_input.as_bytes())
            .ok()?;
        Some((
            format!("{signing_input}.{}", B64.encode(sig.as_ref())),
            exp,
            actions,
        ))
    }

    /// Verifies a token's signature, type and audience; `allow_expired_for` accepts tokens
    /// expired less than that long ago (for renewal).
    pub fn verify(
        &self,
        token: &str,
        allow_expired: bool,
    ) -> Result<WidgetClaims, WidgetTokenError> {
        use sha2::Digest;
        let key: [u8; 32] = sha2::Sha256::digest(token.as_bytes()).into();
        let now = now_secs();
        if let Some(c) = self
            .inner
            .cache
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(&key)
        {
            if c.exp > now {
                return Ok(c.clone());
            }
        }
        let claims = self.verify_uncached(token, allow_expired)?;
        if claims.exp > now {
            let mut cache = self.inner.cache.write().unwrap_or_else(|p| p.into_inner());
            if cache.len() >= CACHE_CAP {
                cache.retain(|_, c| c.exp > now);
                if cache.len() >= CACHE_CAP {
                    cache.clear();
                }
            }
            cache.insert(key, claims.clone());
        }
        Ok(claims)
    }

    fn verify_uncached(
        &self,
        token: &str,
        allow_expired: bool,
    ) -> Result<WidgetClaims, WidgetTokenError> {
        let bad = |m: &str| WidgetTokenError::Invalid(m.to_string());
        if token.len() > 8192 {
            return Err(bad("the widget token is too large"));
        }
        let mut parts = token.splitn(3, '.');
        const NOT_WIDGET: &str =
            "this is not a widget token (a user's access token is never accepted here)";
        let (Some(h), Some(p), Some(s)) = (parts.next(), parts.next(), parts.next()) else {
            return Err(bad(NOT_WIDGET));
        };
        let header: Value = B64
            .decode(h)
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .ok_or_else(|| bad(NOT_WIDGET))?;
        if header.get("alg").and_then(Value::as_str) != Some("ES256")
            || header.get("typ").and_then(Value::as_str) != Some(WIDGET_TOKEN_TYPE)
        {
            return Err(bad(NOT_WIDGET));
        }
        let kid = header
            .get("kid")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let Some((_, public)) = self.inner.accepted.iter().find(|(k, _)| k == kid) else {
            return Err(bad(
                "the widget token was signed by a key this app does not accept (rotated out, or another app's); reload the widget",
            ));
        };
        let sig = B64
            .decode(s)
            .map_err(|_| bad("the widget token signature is malformed"))?;
        let signing_input = &token[..h.len() + 1 + p.len()];
        UnparsedPublicKey::new(&signature::ECDSA_P256_SHA256_FIXED, public)
            .verify(signing_input.as_bytes(), &sig)
            .map_err(|_| bad("the widget token signature does not verify"))?;
        let claims: Map<String, Value> = B64
            .decode(p)
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .ok_or_else(|| bad("the widget token payload is malformed"))?;
        if claims.get("aud").and_then(Value::as_str) != Some(self.inner.audience.as_str())
            || claims.get("iss").and_then(Value::as_str) != Some(self.inner.issuer.as_str())
        {
            return Err(bad("the widget token is for another app"));
        }
        let exp = crate::identity::numeric_date(&claims, "exp")
            .map_err(|e| bad(&e.to_string()))?
            .ok_or_else(|| bad("the widget token has no exp"))?;
        let now = now_secs();
        if exp <= now {
            if !allow_expired {
                return Err(WidgetTokenError::Expired);
            }
            if now - exp > self.inner.max_renew_age.as_secs_f64() {
                return Err(bad(
                    "the widget token is too old to renew; reload the widget",
                ));
            }
        }
        let strings = |k: &str| -> Vec<String> {
            claims
                .get(k)
                .and_then(Value::as_array)
                .map(|a| {
                    a.iter()
                        .filter_map(|v| v.as_str().map(str::to_string))
                        .collect()
                })
                .unwrap_or_default()
        };
        Ok(WidgetClaims {
            subject: claims
                .get("sub")
                .and_then(Value::as_str)
                .ok_or_else(|| bad("no sub"))?
                .to_string(),
            scopes: claims
                .get("scope")
                .and_then(Value::as_str)
                .map(|s| s.split_whitespace().map(str::to_string).collect())
                .unwrap_or_default(),
            actions: strings("actions"),
            declared: strings("declared"),
            wsid: claims
                .get("wsid")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string(),
            exp,
            profile: claims
                .get("profile")
                .and_then(Value::as_object)
                .cloned()
                .unwrap_or_default(),
        })
    }

    /// Verifies a token for calling `action`, which requires `needed` scopes.
    pub fn authorize(
        &self,
        token: &str,
        action: &str,
        needed: &[String],
    ) -> Result<WidgetClaims, WidgetTokenError> {
        let c = self.verify(token, false)?;
        if !c.actions.iter().any(|a| a == action) {
            return Err(WidgetTokenError::Insufficient(format!(
                "this widget token does not cover the action {action:?}"
            )));
        }
        if let Some(m) = needed.iter().find(|s| !c.scopes.contains(s)) {
            return Err(WidgetTokenError::Insufficient(format!(
                "the action {action:?} needs scope {m}"
            )));
        }
        Ok(c)
    }
}
