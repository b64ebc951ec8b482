//! Per-tool authentication: Widgetry as an OAuth 2.1 resource server.
//!
//! Each tool declares a policy ([`Auth::required`], [`Auth::optional`], [`Auth::none`]);
//! tools without one inherit the server default. Bearer tokens (from the
//! `Authorization` header only) are verified by a [`Verifier`] (JWT against a JWKS,
//! RFC 7662 introspection, or your own) and cached by their SHA-256 until they expire,
//! so a repeated token costs microseconds. Refusals say precisely why:
//!
//! | situation | answer |
//! |---|---|
//! | no token, every tool protected | HTTP 401 `WWW-Authenticate: Bearer resource_metadata="…", scope="…"` |
//! | token present but invalid/expired | HTTP 401 `error="invalid_token"` with a description |
//! | token lacks a tool's scopes | HTTP 403 `error="insufficient_scope"`, `scope=` granted + needed |
//! | no token, protected tool on a mixed server | `isError: true` with `_meta["mcp/www_authenticate"]` |
//! | issuer keys not loaded yet | `isError: true` for protected tools only; public tools work |
//!
//! RFC 9728 metadata is served at `/.well-known/oauth-protected-resource` and its
//! path-suffixed form.

pub mod embedded;
pub mod introspect;
pub mod jwt;
pub mod widget_token;

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use http::{HeaderMap, HeaderValue, StatusCode};
use serde_json::{json, Map, Value};
use sha2::{Digest, Sha256};

pub use embedded::{AuthSetup, EmbeddedAuth};
pub use introspect::IntrospectionVerifier;
pub use jwt::{JwtVerifier, JwtVerifierBuilder, KeySource};

/// A boxed, sendable future.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

pub(crate) fn now_secs() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

/// A tool's authentication policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Auth {
    /// Anyone may call it; a signed-in caller is still passed to the handler.
    None,
    /// Anyone may call it; signed-in callers get more. The scopes are advertised.
    Optional(Vec<String>),
    /// Only signed-in callers holding every scope.
    Required(Vec<String>),
}

fn scopes<I, S>(list: I) -> Vec<String>
where
    I: IntoIterator<Item = S>,
    S: Into<String>,
{
    list.into_iter().map(Into::into).collect()
}

impl Auth {
    /// Signed-in callers with all of `scopes` only.
    pub fn required<I: IntoIterator<Item = S>, S: Into<String>>(list: I) -> Self {
        Auth::Required(scopes(list))
    }
    /// Everyone; signed-in callers are recognised. `scopes` are advertised for sign-in.
    pub fn optional<I: IntoIterator<Item = S>, S: Into<String>>(list: I) -> Self {
        Auth::Optional(scopes(list))
    }
    /// Everyone.
    pub fn none() -> Self {
        Auth::None
    }
    /// The scopes named by the policy.
    pub fn scopes(&self) -> &[String] {
        match self {
            Auth::None => &[],
            Auth::Optional(s) | Auth::Required(s) => s,
        }
    }
    /// The Apps SDK `securitySchemes` value.
    pub fn security_schemes(&self) -> Value {
        match self {
            Auth::None => json!([{"type": "noauth"}]),
            Auth::Optional(s) => json!([{"type": "noauth"}, {"type": "oauth2", "scopes": s}]),
            Auth::Required(s) => json!([{"type": "oauth2", "scopes": s}]),
        }
    }
}

/// Why a token was not accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    /// The token is malformed, forged, expired or not meant for this resource.
    #[error("invalid token: {0}")]
    InvalidToken(String),
    /// The token cannot be checked right now (issuer keys not loaded, introspection down).
    #[error("authorization temporarily unavailable: {0}")]
    Unavailable(String),
}

impl AuthError {
    /// An [`AuthError::InvalidToken`].
    pub fn invalid(msg: impl Into<String>) -> Self {
        AuthError::InvalidToken(msg.into())
    }
}

/// The verified caller, available to handlers through
/// [`RequestContext::user`](crate::RequestContext::user).
#[derive(Debug, Clone, PartialEq)]
pub struct User {
    /// The `sub` claim.
    pub subject: String,
    /// Granted scopes, from `scope` (space-separated) and/or `permissions` (Auth0).
    pub scopes: Vec<String>,
    /// The OAuth client the token was issued to (`client_id` or `azp`).
    pub client_id: Option<String>,
    /// Expiry, seconds since the Unix epoch.
    pub expires_at: Option<u64>,
    /// Every claim of the token.
    pub claims: Map<String, Value>,
}

impl User {
    /// Builds a user from verified claims, checking the types of `sub`, `scope`,
    /// `permissions`, `client_id` and `azp`.
    pub fn from_claims(
        claims: Map<String, Value>,
        expires_at: Option<u64>,
    ) -> Result<Self, AuthError> {
        let subject = match claims.get("sub") {
            Some(Value::String(s)) if !s.trim().is_empty() => s.clone(),
            Some(Value::String(_)) => return Err(AuthError::invalid("sub is empty")),
            Some(_) => return Err(AuthError::invalid("sub is not a string")),
            None => return Err(AuthError::invalid("the token has no sub claim")),
        };
        let mut scopes: Vec<String> = Vec::new();
        match claims.get("scope") {
            None => {}
            Some(Value::String(s)) => scopes.extend(s.split_whitespace().map(str::to_string)),
            Some(_) => return Err(AuthError::invalid("scope is not a space-separated string")),
        }
        match claims.get("permissions") {
            None => {}
            Some(Value::Array(list)) => {
                for p in list {
                    match p.as_str() {
                        Some(p) => scopes.push(p.to_string()),
                        None => {
                            return Err(AuthError::invalid(
                                "permissions contains a non-string value",
                            ))
                        }
                    }
                }
            }
            Some(_) => return Err(AuthError::invalid("permissions is not an array of strings")),
        }
        scopes.sort();
        scopes.dedup();
        let client_id = match claims.get("client_id").or_else(|| claims.get("azp")) {
            None => None,
            Some(Value::String(s)) => Some(s.clone()),
            Some(_) => return Err(AuthError::invalid("client_id is not a string")),
        };
        Ok(Self {
            subject,
            scopes,
            client_id,
            expires_at,
            claims,
        })
    }

    /// Whether the caller holds `scope`.
    pub fn has_scope(&self, scope: &str) -> bool {
        self.scopes.iter().any(|s| s == scope)
    }

    /// Whether the caller holds every scope in `needed`.
    pub fn has_scopes(&self, needed: &[String]) -> bool {
        needed.iter().all(|s| self.has_scope(s))
    }

    /// A claim by name.
    pub fn claim(&self, name: &str) -> Option<&Value> {
        self.claims.get(name)
    }

    /// The `name` claim, if it is a string.
    pub fn name(&self) -> Option<&str> {
        self.claim("name").and_then(Value::as_str)
    }

    /// The `email` claim, if it is a string.
    pub fn email(&self) -> Option<&str> {
        self.claim("email").and_then(Value::as_str)
    }
}

/// Checks bearer tokens. Implement it to plug in any token format.
pub trait Verifier: Send + Sync + 'static {
    /// Verifies a token and returns its user, or says why it is refused.
    fn verify<'a>(&'a self, token: &'a str) -> BoxFuture<'a, Result<User, AuthError>>;
}

/// A [`Verifier`] from an async closure.
pub struct FnVerifier<F>(pub F);

impl<F, Fut> Verifier for FnVerifier<F>
where
    F: Fn(String) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<User, AuthError>> + Send + 'static,
{
    fn verify<'a>(&'a self, token: &'a str) -> BoxFuture<'a, Result<User, AuthError>> {
        Box::pin((self.0)(token.to_string()))
    }
}

/// Why the auth configuration is unusable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("auth configuration: {0}")]
pub struct ConfigError(pub String);

pub(crate) fn check_url(what: &str, value: &str) -> Result<(), ConfigError> {
    let ok = (value.starts_with("https://") || value.starts_with("http://"))
        && value.split("://").nth(1).is_some_and(|rest| {
            let host = rest.split(['/', '?', '#']).next().unwrap_or("");
            !host.is_empty() && !host.contains(char::is_whitespace)
        });
    if ok {
        Ok(())
    } else {
        Err(ConfigError(format!(
            "{what} must be an http(s) URL like https://example.com, got {value:?}"
        )))
    }
}

/// Resource-server settings. Build in code or from the environment.
#[derive(Clone)]
pub struct AuthConfig {
    /// The authorization server's issuer (exact; `AUTHORIZATION_SERVER_URL`).
    pub issuer: String,
    /// This server's public MCP URL (`RESOURCE_SERVER_URL`), e.g. `https://app.example.com/mcp`.
    pub resource: String,
    /// The audience tokens must carry (`AUTH_AUDIENCE`, default: `resource`).
    pub audience: String,
    /// Scopes a tool without its own policy requires (`AUTH_REQUIRED_SCOPES`).
    pub default_scopes: Vec<String>,
    /// A human-readable name for the metadata document.
    pub resource_name: Option<String>,
    /// Clock-skew allowance.
    pub leeway: Duration,
    /// The verifier; default: a [`JwtVerifier`] discovering the issuer's JWKS.
    pub verifier: Option<Arc<dyn Verifier>>,
    /// Answer an anonymous call to a protected tool with HTTP 401 and `WWW-Authenticate`
    /// (for generic MCP clients that only sign in on a 401) instead of the `isError`
    /// result with `mcp/www_authenticate` that ChatGPT expects on mixed servers.
    /// Default off; `AUTH_CHALLENGE_WITH_401=1` turns it on.
    pub challenge_with_401: bool,
}

impl std::fmt::Debug for AuthConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuthConfig")
            .field("issuer", &self.issuer)
            .field("resource", &self.resource)
            .field("audience", &self.audience)
            .field("default_scopes", &self.default_scopes)
            .finish_non_exhaustive()
    }
}

impl AuthConfig {
    /// Trust tokens from `issuer` for the resource at `resource` (this server's `/mcp` URL).
    pub fn new(
        issuer: impl Into<String>,
        resource: impl Into<String>,
    ) -> Result<Self, ConfigError> {
        let issuer = issuer.into();
        let resource = resource.into();
        check_url("the issuer (AUTHORIZATION_SERVER_URL)", &issuer)?;
        check_url("the resource (RESOURCE_SERVER_URL)", &resource)?;
        Ok(Self {
            audience: resource.clone(),
            issuer,
            resource,
            default_scopes: Vec::new(),
            resource_name: None,
            leeway: Duration::from_secs(60),
            verifier: None,
            challenge_with_401: false,
        })
    }

    /// Reads `AUTHORIZATION_SERVER_URL`, `RESOURCE_SERVER_URL`, `AUTH_AUDIENCE` and
    /// `AUTH_REQUIRED_SCOPES`. `Ok(None)` when `AUTHORIZATION_SERVER_URL` is unset.
    pub fn from_env() -> Result<Option<Self>, ConfigError> {
        Self::from_vars(|k| std::env::var(k).ok())
    }

    /// Like [`from_env`](Self::from_env) over any variable source (for tests).
    pub fn from_vars(var: impl Fn(&str) -> Option<String>) -> Result<Option<Self>, ConfigError> {
        let Some(issuer) = var("AUTHORIZATION_SERVER_URL").filter(|v| !v.trim().is_empty()) else {
            return Ok(None);
        };
        let resource = var("RESOURCE_SERVER_URL").ok_or_else(|| {
            ConfigError("AUTHORIZATION_SERVER_URL is set but RESOURCE_SERVER_URL (this server's public /mcp URL) is not".into())
        })?;
        let mut c = Self::new(issuer.trim(), resource.trim())?;
        if let Some(aud) = var("AUTH_AUDIENCE") {
            if aud.trim().is_empty() {
                return Err(ConfigError(
                    "AUTH_AUDIENCE is set but empty; unset it to default to RESOURCE_SERVER_URL"
                        .into(),
                ));
            }
            c.audience = aud.trim().to_string();
        }
        c.challenge_with_401 = var("AUTH_CHALLENGE_WITH_401").is_some_and(|v| v.trim() == "1");
        if let Some(s) = var("AUTH_REQUIRED_SCOPES") {
            c.default_scopes = s
                .split([' ', ','])
                .filter(|x| !x.is_empty())
                .map(str::to_string)
                .collect();
        }
        Ok(Some(c))
    }

    /// Sets the audience.
    pub fn audience(mut self, aud: impl Into<String>) -> Self {
        self.audience = aud.into();
        self
    }
    /// Sets the default scopes.
    pub fn default_scopes<I: IntoIterator<Item = S>, S: Into<String>>(mut self, list: I) -> Self {
        self.default_scopes = scopes(list);
        self
    }
    /// Uses a custom verifier.
    pub fn verifier(mut self, v: impl Verifier) -> Self {
        self.verifier = Some(Arc::new(v));
        self
    }
    /// Uses a shared verifier.
    pub fn verifier_arc(mut self, v: Arc<dyn Verifier>) -> Self {
        self.verifier = Some(v);
        self
    }
    /// Sets the clock-skew allowance.
    pub fn leeway(mut self, d: Duration) -> Self {
        self.leeway = d;
        self
    }
    /// Names the resource in its metadata.
    pub fn resource_name(mut self, name: impl Into<String>) -> Self {
        self.resource_name = Some(name.into());
        self
    }

    /// `origin` and `path` of the resource URL.
    fn split_resource(&self) -> (&str, &str) {
        let r = self.resource.trim_end_matches('/');
        let after = r.find("://").map(|i| i + 3).unwrap_or(0);
        match r[after..].find('/') {
            Some(p) => (&r[..after + p], &r[after + p..]),
            None => (r, ""),
        }
    }

    /// The RFC 9728 metadata URL named in challenges.
    pub fn metadata_url(&self) -> String {
        let (origin, path) = self.split_resource();
        format!("{origin}/.well-known/oauth-protected-resource{path}")
    }
}

/// What the HTTP layer learned about the caller.
#[derive(Debug, Clone)]
pub enum Caller {
    /// No token.
    Anonymous,
    /// A verified user.
    User(Arc<User>),
    /// A token that could not be checked right now.
    Unverifiable(String),
}

/// The HTTP answer of a refusal.
#[derive(Debug)]
pub struct Refusal {
    /// 401 or 403.
    pub status: StatusCode,
    /// The `WWW-Authenticate` value.
    pub challenge: String,
    /// What to say in the body.
    pub message: String,
}

impl Refusal {
    /// As an HTTP response with a JSON-RPC error body.
    pub fn into_response(self, id: Option<&crate::protocol::jsonrpc::Id>) -> Response {
        let err = crate::protocol::jsonrpc::RpcError::new(-32001, self.message);
        let mut r = crate::transport::http::rpc_error(self.status, id, err);
        if let Ok(v) = HeaderValue::from_str(&self.challenge) {
            r.headers_mut().insert(http::header::WWW_AUTHENTICATE, v);
        }
        r
    }
}

/// Outcome of the per-tool check.
#[derive(Debug)]
pub enum Gate {
    /// Run the tool.
    Allow,
    /// Refuse at the HTTP level.
    Refuse(Refusal),
    /// Answer with this tool result (`isError: true`, challenge in `_meta`).
    Result(Value),
}

const CACHE_CAP: usize = 50_000;

/// Longest time a verified token is trusted from the cache without re-verification (s).
const CACHE_RECHECK: f64 = 30.0;

/// Verified tokens by SHA-256: the user and the time (epoch seconds) to re-verify.
type TokenCache = HashMap<[u8; 32], (Arc<User>, f64)>;

/// Runtime auth state: the verifier, the token cache, the tool policies.
pub struct AuthState {
    config: AuthConfig,
    verifier: Arc<dyn Verifier>,
    cache: RwLock<TokenCache>,
    policies: HashMap<String, Auth>,
    all_protected: bool,
    scopes_supported: Vec<String>,
    challenge_scopes: String,
    metadata_url: String,
}

impl std::fmt::Debug for AuthState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuthState")
            .field("config", &self.config)
            .field("all_protected", &self.all_protected)
            .finish_non_exhaustive()
    }
}

fn quote(s: &str) -> String {
    s.replace('\\', "\\\\").replace('"', "\\\"")
}

/// An `error_description` as RFC 6750 §3 allows it: printable ASCII without `"` and `\`.
fn describe(s: &str) -> String {
    s.chars()
        .map(|c| match c {
            '"' => '\'',
            '\\' => '/',
            ' '..='~' => c,
            _ => '?',
        })
        .collect()
}

impl AuthState {
    /// Builds the state for a set of tool policies (already defaulted).
    pub fn new(config: AuthConfig, policies: HashMap<String, Auth>) -> Self {
        let verifier: Arc<dyn Verifier> = match &config.verifier {
            Some(v) => v.clone(),
            None => Arc::new(
                JwtVerifier::builder(config.issuer.clone(), config.audience.clone())
                    .leeway(config.leeway)
                    .build(),
            ),
        };
        let all_protected =
            !policies.is_empty() && policies.values().all(|p| matches!(p, Auth::Required(_)));
        let mut scopes_supported: Vec<String> = config.default_scopes.clone();
        for p in policies.values() {
            scopes_supported.extend(p.scopes().iter().cloned());
        }
        scopes_supported.sort();
        scopes_supported.dedup();
        // What a client should ask for when the whole server needs sign-in: the default
        // scopes, else every scope a tool requires.
        let challenge_scopes = if config.default_scopes.is_empty() {
            let mut needed: Vec<String> = policies
                .values()
                .filter(|p| matches!(p, Auth::Required(_)))
                .flat_map(|p| p.scopes().iter().cloned())
                .collect();
            needed.sort();
            needed.dedup();
            needed.join(" ")
        } else {
            config.default_scopes.join(" ")
        };
        Self {
            challenge_scopes,
            metadata_url: config.metadata_url(),
            config,
            verifier,
            cache: RwLock::new(HashMap::new()),
            policies,
            all_protected,
            scopes_supported,
        }
    }

    /// The configuration.
    pub fn config(&self) -> &AuthConfig {
        &self.config
    }

    /// Whether every tool requires sign-in.
    pub fn all_protected(&self) -> bool {
        self.all_protected
    }

    /// A tool's effective policy.
    pub fn policy(&self, tool: &str) -> Option<&Auth> {
        self.policies.get(tool)
    }

    /// Builds a `Bearer` challenge (comma-separated, quoted parameters).
    pub fn challenge(&self, error: Option<(&str, &str)>, scope: Option<&str>) -> String {
        let mut parts = vec![format!(
            "resource_metadata=\"{}\"",
            quote(&self.metadata_url)
        )];
        if let Some(s) = scope.filter(|s| !s.is_empty()) {
            parts.push(format!("scope=\"{}\"", quote(s)));
        }
        if let Some((code, desc)) = error {
            parts.push(format!("error=\"{code}\""));
            parts.push(format!("error_description=\"{}\"", describe(desc)));
        }
        format!("Bearer {}", parts.join(", "))
    }

    /// Verifies a token through the cache.
    pub async fn verify(&self, token: &str) -> Result<Arc<User>, AuthError> {
        let key: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        let now = now_secs();
        if let Some((u, until)) = self
            .cache
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(&key)
        {
            if *until > now {
                return Ok(u.clone());
            }
        }
        let user = Arc::new(self.verifier.verify(token).await?);
        // Cached until expiry, but re-verified at least every CACHE_RECHECK so a revoked
        // token (embedded server, introspection) stops working soon after.
        let until = user
            .expires_at
            .map(|e| e as f64)
            .unwrap_or(f64::MAX)
            .min(now + CACHE_RECHECK);
        let mut cache = self.cache.write().unwrap_or_else(|p| p.into_inner());
        if cache.len() >= CACHE_CAP {
            cache.retain(|_, (_, t)| *t > now);
            if cache.len() >= CACHE_CAP {
                cache.clear();
            }
        }
        cache.insert(key, (user.clone(), until));
        Ok(user)
    }

    /// Reads and verifies the bearer token of a request. An invalid token is refused
    /// with 401 whatever the request is; a missing one only when every tool is protected.
    pub async fn authenticate(&self, headers: &HeaderMap) -> Result<Caller, Refusal> {
        let Some(value) = headers.get(http::header::AUTHORIZATION) else {
            if self.all_protected {
                return Err(Refusal {
                    status: StatusCode::UNAUTHORIZED,
                    challenge: self.challenge(None, Some(&self.challenge_scopes)),
                    message: "unauthorized: this server requires sign-in; follow the WWW-Authenticate resource_metadata".into(),
                });
            }
            return Ok(Caller::Anonymous);
        };
        let invalid = |desc: &str| Refusal {
            status: StatusCode::UNAUTHORIZED,
            challenge: self.challenge(Some(("invalid_token", desc)), None),
            message: format!("unauthorized: {desc}"),
        };
        let value = value
            .to_str()
            .map_err(|_| invalid("the Authorization header is not ASCII"))?;
        let Some((scheme, token)) = value.split_once(' ') else {
            return Err(invalid(
                "the Authorization header must be \"Bearer <token>\"",
            ));
        };
        if !scheme.eq_ignore_ascii_case("bearer") || token.trim().is_empty() {
            return Err(invalid(
                "the Authorization header must be \"Bearer <token>\"",
            ));
        }
        match self.verify(token.trim()).await {
            Ok(u) => Ok(Caller::User(u)),
            Err(AuthError::InvalidToken(d)) => Err(invalid(&d)),
            Err(AuthError::Unavailable(d)) => Ok(Caller::Unverifiable(d)),
        }
    }

    /// Decides whether `caller` may call `tool`.
    pub fn gate(&self, tool: &str, caller: &Caller) -> Gate {
        let Some(Auth::Required(needed)) = self.policies.get(tool) else {
            return Gate::Allow;
        };
        match caller {
            Caller::User(u) if u.has_scopes(needed) => Gate::Allow,
            Caller::User(u) => {
                let mut all: Vec<String> = u.scopes.clone();
                all.extend(needed.iter().cloned());
                all.sort();
                all.dedup();
                let missing: Vec<&str> = needed
                    .iter()
                    .filter(|s| !u.has_scope(s))
                    .map(String::as_str)
                    .collect();
                let desc = format!("tool {tool:?} needs scope {}", missing.join(" "));
                Gate::Refuse(Refusal {
                    status: StatusCode::FORBIDDEN,
                    challenge: self
                        .challenge(Some(("insufficient_scope", &desc)), Some(&all.join(" "))),
                    message: format!("forbidden: {desc}"),
                })
            }
            Caller::Anonymous if self.config.challenge_with_401 => Gate::Refuse(Refusal {
                status: StatusCode::UNAUTHORIZED,
                challenge: self.challenge(None, Some(&needed.join(" "))),
                message: format!("unauthorized: sign in to use {tool}"),
            }),
            Caller::Anonymous => {
                let desc = format!("Sign in to use {tool}");
                let challenge =
                    self.challenge(Some(("insufficient_scope", &desc)), Some(&needed.join(" ")));
                Gate::Result(json!({
                    "content": [{"type": "text", "text": format!("Authentication required: sign in to use {tool}.")}],
                    "isError": true,
                    "_meta": {"mcp/www_authenticate": [challenge]},
                }))
            }
            Caller::Unverifiable(why) => Gate::Result(json!({
                "content": [{"type": "text", "text": format!("Sign-in is temporarily unavailable, try again shortly ({why}).")}],
                "isError": true,
            })),
        }
    }

    /// The RFC 9728 document.
    pub fn metadata(&self) -> Value {
        let mut m = json!({
            "resource": self.config.resource,
            "authorization_servers": [self.config.issuer],
            "scopes_supported": self.scopes_supported,
            "bearer_methods_supported": ["header"],
        });
        if let Some(n) = &self.config.resource_name {
            m["resource_name"] = json!(n);
        }
        m
    }

    /// Routes for `/.well-known/oauth-protected-resource` (and its path-suffixed form),
    /// with CORS for GET and OPTIONS.
    pub fn metadata_router(self: &Arc<Self>) -> Router {
        let (_, path) = self.config.split_resource();
        let doc = self.metadata().to_string();
        let handler = move || {
            let doc = doc.clone();
            async move {
                let mut r = (StatusCode::OK, doc).into_response();
                let h = r.headers_mut();
                h.insert(
                    http::header::CONTENT_TYPE,
                    HeaderValue::from_static("application/json"),
                );
                cors(h);
                r
            }
        };
        let preflight = || async {
            let mut r = StatusCode::NO_CONTENT.into_response();
            cors(r.headers_mut());
            r
        };
        let mut router = Router::new().route(
            "/.well-known/oauth-protected-resource",
            get(handler.clone()).options(preflight),
        );
        if !path.is_empty() {
            router = router.route(
                &format!("/.well-known/oauth-protected-resource{path}"),
                get(handler).options(preflight),
            );
        }
        router
    }
}

fn cors(h: &mut HeaderMap) {
    h.insert(
        http::header::ACCESS_CONTROL_ALLOW_ORIGIN,
        HeaderValue::from_static("*"),
    );
    h.insert(
        http::header::ACCESS_CONTROL_ALLOW_METHODS,
        HeaderValue::from_static("GET, OPTIONS"),
    );
    h.insert(
        http::header::ACCESS_CONTROL_ALLOW_HEADERS,
        HeaderValue::from_static("authorization, content-type, mcp-protocol-version"),
    );
    h.insert(
        http::header::ACCESS_CONTROL_MAX_AGE,
        HeaderValue::from_static("86400"),
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_from_vars_validates_and_defaults() {
        let vars = |pairs: &'static [(&'static str, &'static str)]| {
            move |k: &str| {
                pairs
                    .iter()
                    .find(|(n, _)| *n == k)
                    .map(|(_, v)| v.to_string())
            }
        };
        assert!(AuthConfig::from_vars(vars(&[])).unwrap().is_none());
        let c = AuthConfig::from_vars(vars(&[
            ("AUTHORIZATION_SERVER_URL", "https://tenant.auth0.com/"),
            ("RESOURCE_SERVER_URL", "https://app.example.com/mcp"),
            ("AUTH_REQUIRED_SCOPES", "user read:data"),
        ]))
        .unwrap()
        .unwrap();
        assert_eq!(c.issuer, "https://tenant.auth0.com/");
        assert_eq!(c.audience, "https://app.example.com/mcp");
        assert_eq!(c.default_scopes, ["user", "read:data"]);
        assert_eq!(
            c.metadata_url(),
            "https://app.example.com/.well-known/oauth-protected-resource/mcp"
        );
        let e = AuthConfig::from_vars(vars(&[
            ("AUTHORIZATION_SERVER_URL", "tenant.auth0.com"),
            ("RESOURCE_SERVER_URL", "https://a/mcp"),
        ]))
        .unwrap_err();
        assert!(e.0.contains("AUTHORIZATION_SERVER_URL"), "{e}");
        let e = AuthConfig::from_vars(vars(&[
            ("AUTHORIZATION_SERVER_URL", "https://i.example"),
            ("RESOURCE_SERVER_URL", "https://a/mcp"),
            ("AUTH_AUDIENCE", " "),
        ]))
        .unwrap_err();
        assert!(e.0.contains("AUTH_AUDIENCE"), "{e}");
        assert!(
            AuthConfig::from_vars(vars(&[("AUTHORIZATION_SERVER_URL", "https://i.example")]))
                .is_err()
        );
    }

    #[test]
    fn user_scopes_come_from_scope_or_permissions_with_types_checked() {
        let claims = |v: Value| v.as_object().unwrap().clone();
        let u = User::from_claims(
            claims(json!({"sub":"a","scope":"user read:data","permissions":["admin"]})),
            None,
        )
        .unwrap();
        assert!(u.has_scope("user") && u.has_scope("read:data") && u.has_scope("admin"));
        assert!(!u.has_scope("write:data"));
        assert!(User::from_claims(claims(json!({"sub":"a","scope":["user"]})), None).is_err());
        assert!(User::from_claims(claims(json!({"sub":"a","permissions":"user"})), None).is_err());
        assert!(User::from_claims(claims(json!({"sub":""})), None).is_err());
        assert!(User::from_claims(claims(json!({"sub":5})), None).is_err());
    }

    #[test]
    fn challenges_are_comma_separated_and_quoted() {
        let c = AuthConfig::new("https://issuer.example/", "http://127.0.0.1:8000/mcp").unwrap();
        let s = AuthState::new(c, HashMap::new());
        let ch = s.challenge(Some(("invalid_token", "bad \"sig\" é\\")), Some("a b"));
        assert_eq!(
            ch,
            r#"Bearer resource_metadata="http://127.0.0.1:8000/.well-known/oauth-protected-resource/mcp", scope="a b", error="invalid_token", error_description="bad 'sig' ?/""#
        );
    }
}
