//! Per-tool authentication: Widgetry as an OAuth 2.1 resource server.
//!
//! Each tool declares a policy ([`Auth::required`], [`Auth::optional`], [`Auth::none`]);
//! tools without one inherit the server default. Bearer tokens (from the
//! `Authorization` header only) are verified by a [`Verifier`] (JWT against a JWKS,
//! RFC 7662 introspection, or your own) and cached by their SHA-256 until they expire,
//! so a repeated token costs microseconds. This module decides; it never builds an HTTP
//! response: a refusal is a [`Refusal`] (or a tool result carrying the challenge) that the
//! transport renders. Refusals say precisely why:
//!
//! | situation | answer |
//! |---|---|
//! | no token, every tool protected | HTTP 401 `WWW-Authenticate: Bearer resource_metadata="…", scope="…"` |
//! | token present but invalid/expired | HTTP 401 `error="invalid_token"` with a description |
//! | two `Authorization` headers | HTTP 400 `error="invalid_request"` |
//! | no token, protected tool on a mixed server | ChatGPT: `isError: true` with `_meta["mcp/www_authenticate"]`; other clients: HTTP 401 (see [`ChallengeMode`]) |
//! | token lacks a tool's scopes | ChatGPT: `isError: true` with an `insufficient_scope` challenge; other clients: HTTP 403 `error="insufficient_scope"`, `scope=` granted + needed |
//! | issuer keys not loaded yet | `isError: true` for protected tools only; public tools work |
//!
//! The RFC 9728 document ([`AuthState::metadata`]) is served by the transport at
//! `/.well-known/oauth-protected-resource` and its path-suffixed form.

pub(crate) mod introspect;
pub(crate) mod jwt;
mod verifier;
pub(crate) mod widget_keys;
pub(crate) mod widget_token;

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use http::{HeaderMap, StatusCode};
use serde_json::{json, Map, Value};
use sha2::{Digest, Sha256};

pub use crate::http_client::HttpClient;
use crate::identity::scopes;
pub use crate::identity::{Auth, AuthError, Caller, Refusal, User};
use crate::protocol::types::{CallToolResult, JsonObject};
pub use introspect::{IntrospectionVerifier, MAX_IN_FLIGHT};
pub use jwt::{JwtVerifier, JwtVerifierBuilder, KeySource};
pub(crate) use verifier::now_secs;
pub use verifier::{BoxFuture, FnVerifier, Verifier};
pub use widget_keys::{WidgetKeyError, WidgetKeys};
pub use widget_token::{WidgetClaims, WidgetTokenError, WidgetTokens};

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
    /// How a refused tool call is challenged (`AUTH_CHALLENGE`): by default, decided per
    /// request from what the client says about itself (see [`ChallengeMode::Auto`]).
    pub challenge: ChallengeMode,
    /// Fetch keys and metadata over plain HTTP from hosts other than loopback
    /// (`AUTH_ALLOW_PLAIN_HTTP=1`; default false: such issuers are refused at start-up
    /// from the environment, and every plain-HTTP fetch to them fails).
    pub allow_plain_http: bool,
    /// How often the default verifier fetches the issuer's JWKS again once loaded
    /// (`AUTH_JWKS_REFRESH_SECS`, default 600 s; on a failed fetch the keys in hand stay
    /// in use). See [`JwtVerifierBuilder::refresh_every`](crate::auth::JwtVerifierBuilder::refresh_every).
    pub jwks_refresh_every: Duration,
}

/// How a tool call refused for lack of sign-in or scope is answered.
///
/// ChatGPT shows its sign-in for a tool *result* with `isError: true` and
/// `_meta["mcp/www_authenticate"]`; generic MCP clients (the official Python and
/// TypeScript SDKs, Claude, MCP Inspector) start OAuth only on an HTTP 401 (or step up
/// scopes on a 403) with `WWW-Authenticate`. [`Auto`](ChallengeMode::Auto) serves both.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ChallengeMode {
    /// The result form for clients that identify as ChatGPT — request `_meta` with
    /// `openai/*` keys, or an `initialize` `clientInfo.name` starting with `openai` or
    /// containing `chatgpt` — and HTTP 401/403 for every other client. The default;
    /// `AUTH_CHALLENGE=auto`.
    #[default]
    Auto,
    /// Always HTTP 401/403 with `WWW-Authenticate` (`AUTH_CHALLENGE=http`, or the older
    /// `AUTH_CHALLENGE_WITH_401=1`).
    Http,
    /// Always the `isError` result with `_meta["mcp/www_authenticate"]`
    /// (`AUTH_CHALLENGE=result`).
    ToolResult,
}

impl ChallengeMode {
    /// Reads `AUTH_CHALLENGE` (`auto`, `http`, `result`) and the older
    /// `AUTH_CHALLENGE_WITH_401=1` (same as `http`); `Auto` when neither is set.
    pub fn from_vars(var: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        if let Some(mode) = var("AUTH_CHALLENGE") {
            return Self::parse(&mode).ok_or_else(|| {
                ConfigError(format!(
                    "AUTH_CHALLENGE must be auto, http or result, got {mode:?}"
                ))
            });
        }
        Ok(
            if var("AUTH_CHALLENGE_WITH_401").is_some_and(|v| v.trim() == "1") {
                Self::Http
            } else {
                Self::Auto
            },
        )
    }

    /// Parses `auto`, `http` (or `401`) and `result`.
    pub fn parse(s: &str) -> Option<Self> {
        match s.trim().to_ascii_lowercase().as_str() {
            "auto" | "" => Some(Self::Auto),
            "http" | "401" => Some(Self::Http),
            "result" | "tool-result" | "tool_result" => Some(Self::ToolResult),
            _ => None,
        }
    }
}

/// Whether a client identified itself as ChatGPT, by its request `_meta` (`openai/*`
/// keys) or its `initialize` client name. A hint for the form of a challenge, never for
/// authorization.
pub(crate) fn is_chatgpt(request_meta: Option<&JsonObject>, client_name: Option<&str>) -> bool {
    request_meta.is_some_and(|m| m.keys().any(|k| k.starts_with("openai/")))
        || client_name.is_some_and(|n| {
            let n = n.to_ascii_lowercase();
            n.starts_with("openai") || n.contains("chatgpt")
        })
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
            challenge: ChallengeMode::Auto,
            allow_plain_http: false,
            jwks_refresh_every: Duration::from_secs(600),
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
        c.challenge = ChallengeMode::from_vars(&var)?;
        c.allow_plain_http = var("AUTH_ALLOW_PLAIN_HTTP").is_some_and(|v| v.trim() == "1");
        if let Some(v) = var("AUTH_JWKS_REFRESH_SECS") {
            let secs = v
                .trim()
                .parse::<u64>()
                .ok()
                .filter(|s| *s > 0)
                .ok_or_else(|| {
                    ConfigError(format!(
                    "AUTH_JWKS_REFRESH_SECS must be a whole number of seconds above 0, got {v:?}"
                ))
                })?;
            c.jwks_refresh_every = Duration::from_secs(secs);
        }
        if !c.allow_plain_http && !crate::http_client::may_fetch(&c.issuer) {
            return Err(ConfigError(format!(
                "AUTHORIZATION_SERVER_URL {:?} uses plain HTTP on a host that is not loopback: \
                 tokens and keys could be forged on the way; use https, or set \
                 AUTH_ALLOW_PLAIN_HTTP=1 on a network where nobody can read or alter the traffic",
                c.issuer
            )));
        }
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
    /// Sets how refused tool calls are challenged.
    pub fn challenge(mut self, mode: ChallengeMode) -> Self {
        self.challenge = mode;
        self
    }
    /// Names the resource in its metadata.
    pub fn resource_name(mut self, name: impl Into<String>) -> Self {
        self.resource_name = Some(name.into());
        self
    }

    /// `origin` and `path` of the resource URL (`https://a.example`, `/mcp`).
    pub fn split_resource(&self) -> (&str, &str) {
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

/// What [`AuthState::read_bearer`] found without waiting.
#[derive(Debug)]
pub(crate) enum Bearer<'h> {
    /// The answer: a caller (anonymous, or a user from the cache) or a refusal.
    Done(Result<Caller, Refusal>),
    /// A well-formed token not in the cache: verify it with
    /// [`AuthState::verify_bearer`].
    Verify(&'h str),
}

/// The per-tool decision on one call.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Verdict {
    /// Run the tool.
    Allow,
    /// Refuse at the transport level (HTTP 401/403 with a challenge).
    Refuse(Refusal),
    /// Answer with this tool result instead of running the tool (`isError: true`, the
    /// challenge in `_meta["mcp/www_authenticate"]`).
    Answer(CallToolResult),
}

/// Most verified tokens kept in the cache; beyond it, expired entries go first, then
/// the whole cache is dropped (a bound, not an LRU: only valid tokens get in).
const CACHE_CAP: usize = 50_000;

/// Longest time a verified token is trusted from the cache without re-verification (s).
const CACHE_RECHECK: f64 = 30.0;

/// Seconds a token found invalid is refused from memory before the verifier is asked again
/// (short: a token naming a key just rotated in becomes valid once the keys are refetched).
const REFUSED_FOR: f64 = 10.0;

/// Verified tokens by SHA-256: the user and the time (epoch seconds) to re-verify.
type TokenCache = HashMap<[u8; 32], (Arc<User>, f64)>;

/// One verification that requests with the same token share.
type Verifying = Arc<tokio::sync::OnceCell<Result<Arc<User>, AuthError>>>;

/// Runtime resource-server state: the verifier, the token cache, the challenges.
pub struct AuthState {
    config: AuthConfig,
    verifier: Arc<dyn Verifier>,
    cache: RwLock<TokenCache>,
    /// Tokens found invalid, by SHA-256: the reason and until when it is repeated without
    /// asking the verifier again (a flood of one bad token costs no outbound calls).
    refused: RwLock<HashMap<[u8; 32], (String, f64)>>,
    /// Verifications under way, by SHA-256: requests with the same token wait for the one
    /// running instead of asking the verifier again (when a popular token's cache entry
    /// lapses, a thousand requests make one store lookup, not a thousand).
    verifying: std::sync::Mutex<HashMap<[u8; 32], Verifying>>,
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
    widgetry_authz::error_description(s)
}

impl AuthState {
    /// Builds the state for the effective policies of every tool of a server.
    pub fn new<'a>(config: AuthConfig, policies: impl IntoIterator<Item = &'a Auth>) -> Self {
        let policies: Vec<&Auth> = policies.into_iter().collect();
        let verifier: Arc<dyn Verifier> = match &config.verifier {
            Some(v) => v.clone(),
            None => Arc::new(
                JwtVerifier::builder(config.issuer.clone(), config.audience.clone())
                    .leeway(config.leeway)
                    .refresh_every(config.jwks_refresh_every)
                    .client(HttpClient::default().allow_plain_http(config.allow_plain_http))
                    .build(),
            ),
        };
        let all_protected =
            !policies.is_empty() && policies.iter().all(|p| matches!(p, Auth::Required(_)));
        let mut scopes_supported: Vec<String> = config.default_scopes.clone();
        for p in &policies {
            scopes_supported.extend(p.scopes().iter().cloned());
        }
        scopes_supported.sort();
        scopes_supported.dedup();
        // What a client should ask for when the whole server needs sign-in: the default
        // scopes, else every scope a tool requires.
        let challenge_scopes = if config.default_scopes.is_empty() {
            let mut needed: Vec<String> = policies
                .iter()
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
            refused: RwLock::new(HashMap::new()),
            verifying: std::sync::Mutex::new(HashMap::new()),
            all_protected,
            scopes_supported,
        }
    }

    /// The configuration.
    pub fn config(&self) -> &AuthConfig {
        &self.config
    }

    /// Builds a `Bearer` challenge (comma-separated, quoted parameters).
    pub(crate) fn challenge(&self, error: Option<(&str, &str)>, scope: Option<&str>) -> String {
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

    /// The user of a token verified recently (see the cache rules above), if any.
    pub(crate) fn cached(&self, token: &str) -> Option<Arc<User>> {
        let key: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        let cache = self.cache.read().unwrap_or_else(|p| p.into_inner());
        let (u, until) = cache.get(&key)?;
        (*until > now_secs()).then(|| u.clone())
    }

    /// Verifies a token through the cache; concurrent requests with the same token share
    /// one verification.
    pub async fn verify(&self, token: &str) -> Result<Arc<User>, AuthError> {
        if let Some(u) = self.cached(token) {
            return Ok(u);
        }
        let key: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        let shared = self
            .verifying
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry(key)
            .or_default()
            .clone();
        // The first request runs it (if it is dropped, the next waiting one takes over);
        // the others get its answer.
        let answer = shared
            .get_or_init(|| self.verify_uncached(token, key))
            .await
            .clone();
        let mut verifying = self.verifying.lock().unwrap_or_else(|p| p.into_inner());
        if verifying.get(&key).is_some_and(|v| Arc::ptr_eq(v, &shared)) {
            verifying.remove(&key);
        }
        answer
    }

    /// Asks the verifier (unless the token was refused a moment ago) and remembers the
    /// answer: a user in the cache, an invalid token in `refused`.
    async fn verify_uncached(&self, token: &str, key: [u8; 32]) -> Result<Arc<User>, AuthError> {
        let now = now_secs();
        if let Some((why, until)) = self
            .refused
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(&key)
        {
            if *until > now {
                return Err(AuthError::InvalidToken(why.clone()));
            }
        }
        let user = match self.verifier.verify(token).await {
            Ok(u) => Arc::new(u),
            Err(AuthError::InvalidToken(why)) => {
                let mut refused = self.refused.write().unwrap_or_else(|p| p.into_inner());
                if refused.len() >= CACHE_CAP {
                    refused.retain(|_, (_, t)| *t > now);
                    if refused.len() >= CACHE_CAP {
                        refused.clear();
                    }
                }
                refused.insert(key, (why.clone(), now + REFUSED_FOR));
                return Err(AuthError::InvalidToken(why));
            }
            Err(e) => return Err(e),
        };
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

    /// How many verified tokens are cached (never more than a fixed bound).
    pub fn cached_tokens(&self) -> usize {
        self.cache.read().unwrap_or_else(|p| p.into_inner()).len()
    }

    /// Reads and verifies the bearer token of a request's headers.
    ///
    /// Two `Authorization` headers are refused with 400 `invalid_request`, an invalid
    /// token with 401 `invalid_token` whatever the request is, and a missing one with a
    /// 401 challenge (no `error`, RFC 6750 §3.1) only when every tool is protected.
    pub async fn authenticate(&self, headers: &HeaderMap) -> Result<Caller, Refusal> {
        match self.read_bearer(headers) {
            Bearer::Done(outcome) => outcome,
            Bearer::Verify(token) => self.verify_bearer(token).await,
        }
    }

    /// The synchronous part of [`Self::authenticate`]: everything but a token that is
    /// not in the cache (then [`Bearer::Verify`], to finish with
    /// [`Self::verify_bearer`]).
    pub(crate) fn read_bearer<'h>(&self, headers: &'h HeaderMap) -> Bearer<'h> {
        let mut values = headers.get_all(http::header::AUTHORIZATION).iter();
        let Some(value) = values.next() else {
            if self.all_protected {
                return Bearer::Done(Err(Refusal {
                    status: StatusCode::UNAUTHORIZED,
                    challenge: Some(self.challenge(None, Some(&self.challenge_scopes))),
                    message: "unauthorized: this server requires sign-in; follow the WWW-Authenticate resource_metadata".into(),
                }));
            }
            return Bearer::Done(Ok(Caller::Anonymous));
        };
        if values.next().is_some() {
            let desc = "send exactly one Authorization header";
            return Bearer::Done(Err(Refusal {
                status: StatusCode::BAD_REQUEST,
                challenge: Some(self.challenge(Some(("invalid_request", desc)), None)),
                message: format!("invalid request: {desc}"),
            }));
        }
        let Some(token) = value.to_str().ok().and_then(bearer_token) else {
            return Bearer::Done(Err(
                self.invalid_token("the Authorization header must be \"Bearer <token>\"")
            ));
        };
        match self.cached(token) {
            Some(u) => Bearer::Done(Ok(Caller::User(u))),
            None => Bearer::Verify(token),
        }
    }

    /// Verifies a bearer token (through the cache) into a caller or a 401.
    pub(crate) async fn verify_bearer(&self, token: &str) -> Result<Caller, Refusal> {
        match self.verify(token).await {
            Ok(u) => Ok(Caller::User(u)),
            Err(AuthError::InvalidToken(d)) => Err(self.invalid_token(&d)),
            Err(AuthError::Unavailable(d)) => Ok(Caller::Unverifiable(d)),
        }
    }

    fn invalid_token(&self, desc: &str) -> Refusal {
        Refusal {
            status: StatusCode::UNAUTHORIZED,
            challenge: Some(self.challenge(Some(("invalid_token", desc)), None)),
            message: format!("unauthorized: {desc}"),
        }
    }

    /// Whether a refused call of this request is answered in the tool-result form
    /// (ChatGPT) rather than with HTTP 401/403, following [`AuthConfig::challenge`].
    pub(crate) fn result_challenge(
        &self,
        request_meta: Option<&JsonObject>,
        client_name: Option<&str>,
    ) -> bool {
        match self.config.challenge {
            ChallengeMode::Http => false,
            ChallengeMode::ToolResult => true,
            ChallengeMode::Auto => is_chatgpt(request_meta, client_name),
        }
    }

    /// Decides whether `caller` may call the tool `tool` whose policy is `policy`;
    /// `result_form` picks the form of a challenge (see [`Self::result_challenge`]).
    pub(crate) fn check(
        &self,
        tool: &str,
        policy: &Auth,
        caller: &Caller,
        result_form: bool,
    ) -> Verdict {
        let Auth::Required(needed) = policy else {
            return Verdict::Allow;
        };
        match caller {
            Caller::User(u) if u.has_scopes(needed) => Verdict::Allow,
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
                let challenge =
                    self.challenge(Some(("insufficient_scope", &desc)), Some(&all.join(" ")));
                if result_form {
                    Verdict::Answer(challenge_result(
                        format!("Permission needed: {desc}. Sign in again to grant it."),
                        challenge,
                    ))
                } else {
                    Verdict::Refuse(Refusal {
                        status: StatusCode::FORBIDDEN,
                        challenge: Some(challenge),
                        message: format!("forbidden: {desc}"),
                    })
                }
            }
            Caller::Anonymous => {
                let scope = if needed.is_empty() {
                    self.challenge_scopes.clone()
                } else {
                    needed.join(" ")
                };
                let challenge = self.challenge(None, Some(&scope));
                if result_form {
                    Verdict::Answer(challenge_result(
                        format!("Authentication required: sign in to use {tool}."),
                        challenge,
                    ))
                } else {
                    Verdict::Refuse(Refusal {
                        status: StatusCode::UNAUTHORIZED,
                        challenge: Some(challenge),
                        message: format!("unauthorized: sign in to use {tool}"),
                    })
                }
            }
            Caller::Unverifiable(why) => Verdict::Answer(CallToolResult::error(format!(
                "Sign-in is temporarily unavailable, try again shortly ({why})."
            ))),
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
}

/// The token of an `Authorization: Bearer <token>` value (scheme case-insensitive), or
/// `None` for any other shape.
pub(crate) fn bearer_token(value: &str) -> Option<&str> {
    let (scheme, token) = value.split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty() && !token.contains(' '))
        .then_some(token)
}

/// An `isError` tool result carrying a challenge in `_meta["mcp/www_authenticate"]`.
fn challenge_result(text: String, challenge: String) -> CallToolResult {
    let mut r = CallToolResult::error(text);
    r.meta = Some(Map::from_iter([(
        "mcp/www_authenticate".to_string(),
        json!([challenge]),
    )]));
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Requests that arrive together with a token not in the cache (a new one, or one
    /// whose entry lapsed) make one verification per token, not one each: the verifier
    /// (the embedded server's store, an introspection endpoint) sees no herd.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_requests_with_one_token_share_one_verification() {
        use std::sync::atomic::{AtomicUsize, Ordering};
        let calls = Arc::new(AtomicUsize::new(0));
        let gate = Arc::new(tokio::sync::Semaphore::new(0));
        let (c, g) = (calls.clone(), gate.clone());
        let verifier = FnVerifier(move |token: String| {
            let (c, g) = (c.clone(), g.clone());
            async move {
                c.fetch_add(1, Ordering::SeqCst);
                // Held until every request is waiting, so they all overlap this one.
                let _ = g.acquire().await.map(|p| p.forget());
                if token == "bad" {
                    return Err(AuthError::invalid("unknown token"));
                }
                let claims = serde_json::json!({"sub": format!("user-of-{token}")});
                let serde_json::Value::Object(m) = claims else {
                    unreachable!()
                };
                User::from_claims(m, None)
            }
        });
        let config = AuthConfig::new("https://issuer.example", "https://app.example/mcp")
            .unwrap()
            .verifier(verifier);
        let state = Arc::new(AuthState::new(config, []));
        let mut set = tokio::task::JoinSet::new();
        for i in 0..300 {
            let state = state.clone();
            let token = ["a", "b", "bad"][i % 3];
            set.spawn(async move { (token, state.verify(token).await) });
        }
        while state.verifying.lock().unwrap().len() < 3 {
            tokio::task::yield_now().await;
        }
        tokio::time::sleep(Duration::from_millis(50)).await; // the rest join the waits
        gate.add_permits(1_000);
        while let Some(r) = set.join_next().await {
            let (token, answer) = r.unwrap();
            match token {
                "bad" => assert!(
                    matches!(answer, Err(AuthError::InvalidToken(_))),
                    "{answer:?}"
                ),
                t => assert_eq!(answer.unwrap().subject, format!("user-of-{t}")),
            }
        }
        assert_eq!(
            calls.load(Ordering::SeqCst),
            3,
            "one verification per token"
        );
        assert!(
            state.verifying.lock().unwrap().is_empty(),
            "nothing left in flight"
        );
        // Later requests: from the cache (or the refusals), still no new verification.
        state.verify("a").await.unwrap();
        assert!(state.verify("bad").await.is_err());
        assert_eq!(calls.load(Ordering::SeqCst), 3);
    }

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
        assert_eq!(c.jwks_refresh_every, Duration::from_secs(600));
        let quick = AuthConfig::from_vars(vars(&[
            ("AUTHORIZATION_SERVER_URL", "https://tenant.auth0.com/"),
            ("RESOURCE_SERVER_URL", "https://app.example.com/mcp"),
            ("AUTH_JWKS_REFRESH_SECS", "5"),
        ]))
        .unwrap()
        .unwrap();
        assert_eq!(quick.jwks_refresh_every, Duration::from_secs(5));
        const BAD_REFRESH: [&[(&str, &str)]; 3] = [
            &[
                ("AUTHORIZATION_SERVER_URL", "https://i.example"),
                ("RESOURCE_SERVER_URL", "https://a/mcp"),
                ("AUTH_JWKS_REFRESH_SECS", "0"),
            ],
            &[
                ("AUTHORIZATION_SERVER_URL", "https://i.example"),
                ("RESOURCE_SERVER_URL", "https://a/mcp"),
                ("AUTH_JWKS_REFRESH_SECS", "soon"),
            ],
            &[
                ("AUTHORIZATION_SERVER_URL", "https://i.example"),
                ("RESOURCE_SERVER_URL", "https://a/mcp"),
                ("AUTH_JWKS_REFRESH_SECS", "-1"),
            ],
        ];
        for pairs in BAD_REFRESH {
            let e = AuthConfig::from_vars(vars(pairs)).unwrap_err();
            assert!(e.0.contains("AUTH_JWKS_REFRESH_SECS"), "{pairs:?}: {e}");
        }
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
        let s = AuthState::new(c, []);
        let ch = s.challenge(Some(("invalid_token", "bad \"sig\" é\\")), Some("a b"));
        assert_eq!(
            ch,
            r#"Bearer resource_metadata="http://127.0.0.1:8000/.well-known/oauth-protected-resource/mcp", scope="a b", error="invalid_token", error_description="bad 'sig' ?/""#
        );
    }
}
