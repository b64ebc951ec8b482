//! JWT access-token verification against an issuer's JWKS.
//!
//! Accepts RS256, ES256 and EdDSA only (never `none`, never HS*), checks every claim's
//! type and value (`iss` exact, `aud` contains this resource, `exp`/`nbf`/`iat` with
//! leeway, `sub` present), looks keys up by `kid`, caches the JWKS and refetches it on an
//! unknown `kid` at most once per refetch interval ([`JwtVerifierBuilder::refetch_interval`]). The JWKS location is
//! discovered from the issuer's RFC 8414 / OIDC metadata in the background, retried
//! until it answers, so the server starts even when the issuer is down.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use base64::Engine as _;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde_json::{Map, Value};

use super::verifier::{now_secs, BoxFuture, Verifier};
use crate::http_client::HttpClient;
use crate::identity::{numeric_date, AuthError, User};

/// Largest token accepted (bytes).
pub const MAX_TOKEN_BYTES: usize = 8 * 1024;

/// How long a verification waits for the first key fetch, so a token that arrives just
/// after start-up is verified as soon as the keys are in instead of being refused.
pub const FIRST_KEYS_WAIT: Duration = Duration::from_secs(3);

/// Where the verifier gets its keys.
#[derive(Debug, Clone)]
pub enum KeySource {
    /// Discover `jwks_uri` from the issuer's metadata.
    Discover,
    /// Fetch this JWKS URL.
    JwksUri(String),
    /// Use these keys (a JWKS document), e.g. the embedded authorization server's.
    Static(Value),
}

#[derive(Clone)]
struct Key {
    alg: Algorithm,
    key: Arc<DecodingKey>,
}

#[derive(Default)]
struct KeySet {
    by_kid: HashMap<String, Key>,
    fetched_at: Option<Instant>,
    last_attempt: Option<Instant>,
    jwks_uri: Option<String>,
    last_error: Option<String>,
}

struct Inner {
    issuer: String,
    audiences: Vec<String>,
    leeway: Duration,
    refetch_interval: Duration,
    refresh_every: Duration,
    source: KeySource,
    keys: RwLock<KeySet>,
    refresh: tokio::sync::Mutex<()>,
    client: HttpClient,
    started: std::sync::atomic::AtomicBool,
    /// Signalled whenever keys are installed.
    installed: tokio::sync::Notify,
}

/// Verifies JWT access tokens issued by one issuer for this resource.
#[derive(Clone)]
pub struct JwtVerifier {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for JwtVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JwtVerifier")
            .field("issuer", &self.inner.issuer)
            .field("audiences", &self.inner.audiences)
            .finish_non_exhaustive()
    }
}

/// Builds a [`JwtVerifier`].
#[derive(Debug, Clone)]
pub struct JwtVerifierBuilder {
    issuer: String,
    audiences: Vec<String>,
    leeway: Duration,
    refetch_interval: Duration,
    refresh_every: Duration,
    source: KeySource,
    client: Option<HttpClient>,
}

impl JwtVerifierBuilder {
    /// Accept tokens for another audience too.
    pub fn audience(mut self, aud: impl Into<String>) -> Self {
        self.audiences.push(aud.into());
        self
    }
    /// Clock-skew allowance for `exp`, `nbf` and `iat` (default 60 s).
    pub fn leeway(mut self, leeway: Duration) -> Self {
        self.leeway = leeway;
        self
    }
    /// Minimum time between two JWKS fetches caused by unknown `kid`s (default 30 s).
    pub fn refetch_interval(mut self, d: Duration) -> Self {
        self.refetch_interval = d;
        self
    }
    /// How often the JWKS is fetched again once loaded, so keys the issuer adds or
    /// withdraws are followed without waiting for an unknown `kid` (default 10 minutes;
    /// on a failed fetch the keys in hand stay in use).
    pub fn refresh_every(mut self, d: Duration) -> Self {
        self.refresh_every = d.max(Duration::from_secs(1));
        self
    }
    /// Fetch keys from this JWKS URL instead of discovering it.
    pub fn jwks_uri(mut self, url: impl Into<String>) -> Self {
        self.source = KeySource::JwksUri(url.into());
        self
    }
    /// Use a fixed JWKS document.
    pub fn jwks(mut self, jwks: Value) -> Self {
        self.source = KeySource::Static(jwks);
        self
    }
    /// Use this outbound HTTP client.
    pub fn client(mut self, client: HttpClient) -> Self {
        self.client = Some(client);
        self
    }
    /// Builds the verifier and, inside a Tokio runtime, starts fetching keys in the
    /// background (retrying with backoff until the issuer answers).
    pub fn build(self) -> JwtVerifier {
        let v = JwtVerifier {
            inner: Arc::new(Inner {
                issuer: self.issuer,
                audiences: self.audiences,
                leeway: self.leeway,
                refetch_interval: self.refetch_interval,
                refresh_every: self.refresh_every,
                source: self.source.clone(),
                keys: RwLock::new(KeySet::default()),
                refresh: tokio::sync::Mutex::new(()),
                client: self.client.unwrap_or_default(),
                started: std::sync::atomic::AtomicBool::new(false),
                installed: tokio::sync::Notify::new(),
            }),
        };
        if let KeySource::Static(jwks) = &self.source {
            let _ = v.install_jwks(jwks);
        } else {
            v.start_fetching();
        }
        v
    }
}

fn b64url(s: &str) -> Result<Vec<u8>, AuthError> {
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(s.trim_end_matches('='))
        .map_err(|_| AuthError::invalid("the token is not valid base64url"))
}

fn alg_of(name: &str) -> Option<Algorithm> {
    match name {
        "RS256" => Some(Algorithm::RS256),
        "ES256" => Some(Algorithm::ES256),
        "EdDSA" => Some(Algorithm::EdDSA),
        _ => None,
    }
}

/// Parses one JWK into a key, or explains why it is unusable.
fn parse_jwk(jwk: &Value) -> Result<(Option<String>, Key), String> {
    let s = |k: &str| jwk.get(k).and_then(Value::as_str);
    if s("use").is_some_and(|u| u != "sig") {
        return Err("not a signing key".into());
    }
    let (alg, key) = match s("kty") {
        Some("RSA") => {
            let (n, e) = (
                s("n").ok_or("RSA key without n")?,
                s("e").ok_or("RSA key without e")?,
            );
            if s("alg").is_some_and(|a| a != "RS256") {
                return Err(format!("unsupported RSA alg {:?}", s("alg")));
            }
            (
                Algorithm::RS256,
                DecodingKey::from_rsa_components(n, e).map_err(|e| e.to_string())?,
            )
        }
        Some("EC") => {
            if s("crv") != Some("P-256") {
                return Err(format!("unsupported EC curve {:?}", s("crv")));
            }
            let (x, y) = (
                s("x").ok_or("EC key without x")?,
                s("y").ok_or("EC key without y")?,
            );
            (
                Algorithm::ES256,
                DecodingKey::from_ec_components(x, y).map_err(|e| e.to_string())?,
            )
        }
        Some("OKP") => {
            if s("crv") != Some("Ed25519") {
                return Err(format!("unsupported OKP curve {:?}", s("crv")));
            }
            let x = s("x").ok_or("OKP key without x")?;
            (
                Algorithm::EdDSA,
                DecodingKey::from_ed_components(x).map_err(|e| e.to_string())?,
            )
        }
        other => return Err(format!("unsupported key type {other:?}")),
    };
    Ok((
        s("kid").map(str::to_string),
        Key {
            alg,
            key: Arc::new(key),
        },
    ))
}

impl JwtVerifier {
    /// Starts building a verifier for tokens from `issuer` (exact string, trailing slash
    /// significant) whose `aud` contains `audience`.
    pub fn builder(issuer: impl Into<String>, audience: impl Into<String>) -> JwtVerifierBuilder {
        JwtVerifierBuilder {
            issuer: issuer.into(),
            audiences: vec![audience.into()],
            leeway: Duration::from_secs(60),
            refetch_interval: Duration::from_secs(30),
            refresh_every: Duration::from_secs(600),
            source: KeySource::Discover,
            client: None,
        }
    }

    /// Starts the background key fetch once, when inside a Tokio runtime (an app built
    /// outside one starts it on its first verification instead).
    fn start_fetching(&self) {
        if matches!(self.inner.source, KeySource::Static(_))
            || tokio::runtime::Handle::try_current().is_err()
        {
            return;
        }
        if !self
            .inner
            .started
            .swap(true, std::sync::atomic::Ordering::SeqCst)
        {
            tokio::spawn(Self::keep_keys_fresh(Arc::downgrade(&self.inner)));
        }
    }

    /// The expected issuer.
    pub fn issuer(&self) -> &str {
        &self.inner.issuer
    }

    /// Whether keys are loaded.
    pub fn has_keys(&self) -> bool {
        !self.read_keys().by_kid.is_empty()
    }

    fn cached_jwks_uri(&self) -> Option<String> {
        self.read_keys().jwks_uri.clone()
    }

    fn read_keys(&self) -> std::sync::RwLockReadGuard<'_, KeySet> {
        self.inner.keys.read().unwrap_or_else(|p| p.into_inner())
    }

    /// Replaces the key set from a JWKS document; returns how many keys were usable.
    pub fn install_jwks(&self, jwks: &Value) -> Result<usize, String> {
        let keys = jwks
            .get("keys")
            .and_then(Value::as_array)
            .ok_or("the JWKS has no \"keys\" array")?;
        let mut by_kid = HashMap::new();
        for (i, jwk) in keys.iter().enumerate() {
            match parse_jwk(jwk) {
                Ok((kid, key)) => {
                    by_kid.insert(kid.unwrap_or_else(|| format!("#{i}")), key);
                }
                Err(e) => tracing::debug!("skipping JWK {i}: {e}"),
            }
        }
        if by_kid.is_empty() {
            return Err("the JWKS has no usable RS256/ES256/EdDSA signing key".into());
        }
        let n = by_kid.len();
        let mut ks = self.inner.keys.write().unwrap_or_else(|p| p.into_inner());
        ks.by_kid = by_kid;
        ks.fetched_at = Some(Instant::now());
        ks.last_error = None;
        drop(ks);
        self.inner.installed.notify_waiters();
        Ok(n)
    }

    async fn discover_jwks_uri(&self) -> Result<String, String> {
        let issuer = self.inner.issuer.trim_end_matches('/');
        let (origin, path) = match issuer
            .find("://")
            .and_then(|i| issuer[i + 3..].find('/').map(|j| i + 3 + j))
        {
            Some(p) => (&issuer[..p], &issuer[p..]),
            None => (issuer, ""),
        };
        let candidates = [
            format!("{origin}/.well-known/oauth-authorization-server{path}"),
            format!("{origin}/.well-known/openid-configuration{path}"),
            format!("{issuer}/.well-known/openid-configuration"),
        ];
        let mut last = String::new();
        for url in candidates {
            match self.inner.client.get_json(&url).await {
                Ok(meta) => {
                    if meta.get("issuer").and_then(Value::as_str)
                        != Some(self.inner.issuer.as_str())
                    {
                        last = format!(
                            "{url} names issuer {:?}, expected {:?}",
                            meta.get("issuer"),
                            self.inner.issuer
                        );
                        continue;
                    }
                    if let Some(j) = meta.get("jwks_uri").and_then(Value::as_str) {
                        return Ok(j.to_string());
                    }
                    last = format!("{url} has no jwks_uri");
                }
                Err(e) => last = e,
            }
        }
        Err(format!(
            "cannot discover the JWKS of {}: {last}",
            self.inner.issuer
        ))
    }

    /// Fetches the JWKS now (discovering its URL first when needed).
    pub async fn refresh(&self) -> Result<usize, String> {
        let uri = match &self.inner.source {
            KeySource::Static(_) => return Ok(self.read_keys().by_kid.len()),
            KeySource::JwksUri(u) => u.clone(),
            KeySource::Discover => match self.cached_jwks_uri() {
                Some(u) => u,
                None => {
                    let u = self.discover_jwks_uri().await?;
                    self.inner
                        .keys
                        .write()
                        .unwrap_or_else(|p| p.into_inner())
                        .jwks_uri = Some(u.clone());
                    u
                }
            },
        };
        let jwks = self.inner.client.get_json(&uri).await?;
        self.install_jwks(&jwks)
    }

    /// Loads the keys, retrying with backoff until the issuer answers, then refreshes them
    /// every [`JwtVerifierBuilder::refresh_every`]; ends when the verifier is dropped.
    async fn keep_keys_fresh(inner: std::sync::Weak<Inner>) {
        let mut backoff = Duration::from_millis(500);
        loop {
            let Some(inner) = inner.upgrade() else { return };
            let v = JwtVerifier { inner };
            let outcome = {
                let _g = v.inner.refresh.lock().await;
                v.inner
                    .keys
                    .write()
                    .unwrap_or_else(|p| p.into_inner())
                    .last_attempt = Some(Instant::now());
                v.refresh().await
            };
            let pause = match outcome {
                Ok(n) => {
                    tracing::debug!(issuer = %v.inner.issuer, keys = n, "signing keys loaded");
                    backoff = Duration::from_millis(500);
                    v.inner.refresh_every
                }
                Err(e) if v.has_keys() => {
                    tracing::warn!("{e}; keeping the keys in hand, retrying in {backoff:?}");
                    let pause = backoff;
                    backoff = (backoff * 2).min(v.inner.refresh_every);
                    pause
                }
                Err(e) => {
                    tracing::warn!("{e}; retrying in {backoff:?}");
                    v.inner
                        .keys
                        .write()
                        .unwrap_or_else(|p| p.into_inner())
                        .last_error = Some(e);
                    // Requests waiting for the first keys stop waiting: the issuer failed.
                    v.inner.installed.notify_waiters();
                    let pause = backoff;
                    backoff = (backoff * 2).min(Duration::from_secs(30));
                    pause
                }
            };
            drop(v);
            tokio::time::sleep(pause).await;
        }
    }

    /// Refetches the JWKS for an unknown `kid`, at most once per refetch interval.
    async fn refetch_for_unknown_kid(&self) {
        if matches!(self.inner.source, KeySource::Static(_)) {
            return;
        }
        let _g = self.inner.refresh.lock().await;
        let recent = self
            .read_keys()
            .last_attempt
            .is_some_and(|t| t.elapsed() < self.inner.refetch_interval);
        if recent {
            return;
        }
        self.inner
            .keys
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .last_attempt = Some(Instant::now());
        if let Err(e) = self.refresh().await {
            tracing::warn!("JWKS refetch failed: {e}");
        }
    }

    fn find_key(&self, kid: Option<&str>, alg: Algorithm) -> Option<Key> {
        let ks = self.read_keys();
        match kid {
            Some(k) => ks.by_kid.get(k).cloned(),
            // Without a kid: only when exactly one key of that algorithm exists.
            None => {
                let mut it = ks.by_kid.values().filter(|k| k.alg == alg);
                match (it.next(), it.next()) {
                    (Some(k), None) => Some(k.clone()),
                    _ => None,
                }
            }
        }
    }

    async fn verify_token(&self, token: &str) -> Result<User, AuthError> {
        if token.len() > MAX_TOKEN_BYTES {
            return Err(AuthError::invalid(format!(
                "the token is larger than {MAX_TOKEN_BYTES} bytes"
            )));
        }
        let mut parts = token.split('.');
        let (Some(h), Some(_p), Some(_s), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(AuthError::invalid(
                "the token is not a JWS compact serialization (three dot-separated parts)",
            ));
        };
        let header: Map<String, Value> = serde_json::from_slice(&b64url(h)?)
            .map_err(|_| AuthError::invalid("the token header is not a JSON object"))?;
        let alg_name = header.get("alg").and_then(Value::as_str).unwrap_or("");
        let Some(alg) = alg_of(alg_name) else {
            return Err(AuthError::invalid(format!(
                "signing algorithm {alg_name:?} is not accepted (RS256, ES256, EdDSA only)"
            )));
        };
        if header.contains_key("crit") {
            return Err(AuthError::invalid(
                "the token has critical header parameters this server does not support",
            ));
        }
        match header.get("typ") {
            None => {}
            Some(Value::String(t))
                if ["jwt", "at+jwt", "application/at+jwt"]
                    .contains(&t.to_ascii_lowercase().as_str()) => {}
            Some(other) => {
                return Err(AuthError::invalid(format!(
                    "token type {other} is not an access token type"
                )))
            }
        }
        let kid = match header.get("kid") {
            None => None,
            Some(Value::String(k)) => Some(k.as_str()),
            Some(_) => return Err(AuthError::invalid("the token's kid is not a string")),
        };
        if !self.has_keys() {
            self.start_fetching();
            // The first fetch is under way (start-up) and has not failed yet: wait for
            // it, bounded, instead of refusing a token that arrived a moment early.
            let loaded = async {
                let installed = self.inner.installed.notified();
                if !self.has_keys() && self.read_keys().last_error.is_none() {
                    installed.await;
                }
            };
            let _ = tokio::time::timeout(FIRST_KEYS_WAIT, loaded).await;
        }
        if !self.has_keys() {
            let err = self
                .read_keys()
                .last_error
                .clone()
                .unwrap_or_else(|| "not fetched yet".into());
            return Err(AuthError::Unavailable(format!(
                "the authorization server's signing keys are not available yet ({err})"
            )));
        }
        let key = match self.find_key(kid, alg) {
            Some(k) => k,
            None => {
                self.refetch_for_unknown_kid().await;
                self.find_key(kid, alg).ok_or_else(|| {
                    AuthError::invalid(format!(
                        "the token is signed with an unknown key (kid {})",
                        kid.map(|k| k.chars().take(64).collect::<String>())
                            .unwrap_or_else(|| "none".into())
                    ))
                })?
            }
        };
        if key.alg != alg {
            return Err(AuthError::invalid(format!(
                "the token's alg {alg_name} does not match its key ({:?})",
                key.alg
            )));
        }
        let mut validation = Validation::new(alg);
        validation.required_spec_claims.clear();
        validation.validate_exp = false;
        validation.validate_nbf = false;
        validation.validate_aud = false;
        let data = jsonwebtoken::decode::<Map<String, Value>>(token, &key.key, &validation)
            .map_err(|e| AuthError::invalid(format!("signature verification failed: {e}")))?;
        self.check_claims(data.claims)
    }

    fn check_claims(&self, claims: Map<String, Value>) -> Result<User, AuthError> {
        let now = now_secs();
        let leeway = self.inner.leeway.as_secs_f64();
        match claims.get("iss") {
            Some(Value::String(iss)) if *iss == self.inner.issuer => {}
            Some(Value::String(iss)) => {
                return Err(AuthError::invalid(format!(
                    "issuer {iss:?} is not the trusted issuer {:?}",
                    self.inner.issuer
                )))
            }
            Some(_) => return Err(AuthError::invalid("iss is not a string")),
            None => return Err(AuthError::invalid("the token has no iss claim")),
        }
        let aud_ok = match claims.get("aud") {
            Some(Value::String(a)) => self.inner.audiences.contains(a),
            Some(Value::Array(list)) => {
                if !list.iter().all(Value::is_string) {
                    return Err(AuthError::invalid("aud contains a non-string value"));
                }
                list.iter().any(|a| {
                    a.as_str()
                        .is_some_and(|a| self.inner.audiences.iter().any(|x| x == a))
                })
            }
            Some(_) => {
                return Err(AuthError::invalid(
                    "aud is neither a string nor an array of strings",
                ))
            }
            None => return Err(AuthError::invalid("the token has no aud claim")),
        };
        if !aud_ok {
            return Err(AuthError::invalid(format!(
                "the token is not meant for this resource (aud must contain {:?})",
                self.inner.audiences[0]
            )));
        }
        let num = |k: &str| numeric_date(&claims, k);
        let exp = num("exp")?.ok_or_else(|| AuthError::invalid("the token has no exp claim"))?;
        if exp + leeway <= now {
            return Err(AuthError::invalid("the token has expired"));
        }
        if let Some(nbf) = num("nbf")? {
            if nbf - leeway > now {
                return Err(AuthError::invalid("the token is not valid yet (nbf)"));
            }
        }
        if let Some(iat) = num("iat")? {
            if iat - leeway > now {
                return Err(AuthError::invalid(
                    "the token was issued in the future (iat)",
                ));
            }
        }
        User::from_claims(claims, Some(exp as u64))
    }
}

impl Verifier for JwtVerifier {
    fn verify<'a>(&'a self, token: &'a str) -> BoxFuture<'a, Result<User, AuthError>> {
        Box::pin(self.verify_token(token))
    }
}
