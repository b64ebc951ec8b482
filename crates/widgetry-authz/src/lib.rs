//! The embedded OAuth 2.1 authorization server of Widgetry.
//!
//! It lets an app sign its own users in and issue the tokens its MCP endpoint accepts,
//! with no external identity provider:
//!
//! - discovery: RFC 8414 `/.well-known/oauth-authorization-server` and OpenID
//!   `/.well-known/openid-configuration` (path-insertion and path-append forms when the
//!   issuer has a path), JWKS at `/oauth/jwks`;
//! - clients: pre-registered ([`Clients`]), RFC 7591 dynamic registration at
//!   `/oauth/register`, and Client ID Metadata Documents (an HTTPS URL as `client_id`);
//! - the authorization code flow with PKCE S256, `resource` (RFC 8707) as the token
//!   audience, `iss` in the redirect (RFC 9207), server-rendered sign-in (argon2id, optional
//!   TOTP, rate limited) and consent pages with CSRF protection;
//! - ES256 JWT access tokens (`typ: at+jwt`), rotating opaque refresh tokens with reuse
//!   detection, RFC 7009 revocation and RFC 7662 introspection;
//! - an OpenID-style userinfo endpoint at `/oauth/userinfo` (`userinfo_endpoint` in the
//!   metadata): a bearer access token of this server gives its user's `sub`, `name`,
//!   `preferred_username` and `email` (when the username is one); no scope needed;
//! - persistence in SQLite or PostgreSQL through [`AuthzStore`].
//!
//! ```no_run
//! use widgetry_authz::{open_store, AuthorizationServer, AuthzConfig, NewUser};
//!
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! let mut config = AuthzConfig::new("http://127.0.0.1:8000", "http://127.0.0.1:8000/mcp");
//! config.scopes_supported = vec!["orders:read".into()];
//! config.default_scopes = vec!["orders:read".into()];
//! let store = open_store(".widgetry/authz.sqlite3").await?;
//! let server = AuthorizationServer::open(config, store).await?;
//! server.users().add(NewUser::new("demo", "demo-password")).await?;
//! let app = axum::Router::new().merge(server.router());
//! # let _ = app; Ok(()) }
//! ```
//!
//! # Private keys at rest
//! Signing keys are stored as PKCS#8. With [`AuthzConfig::key_encryption_key`] set they
//! are sealed with AES-256-GCM under a key derived from it (HKDF-SHA256), bound to the key
//! id; TOTP secrets are sealed the same way. Without it they are stored unsealed and rely
//! on the store's access control; a new SQLite file is created with mode `0600`.
//!
//! # Refusals and limits
//! - Errors found before the user has signed in (`prompt=none`, bad parameters) are
//!   redirected to the client only when its redirect URI is trusted: every redirect URI of
//!   a pre-registered client, and loopback ones (`http://127.0.0.1:…`, as native apps and
//!   the `widgetry` CLI use). Dynamic registrations and metadata-document clients with other
//!   redirect URIs get an error page instead (RFC 9700 §4.11.2: no open redirector).
//! - A used refresh token works again only for the double-refresh race: within
//!   [`AuthzConfig::refresh_token_grace`] and until its successor is used. Later it is
//!   token reuse: `invalid_grant`, and the grant is revoked.
//! - When the authorization request named `redirect_uri`, the token request must repeat
//!   it (RFC 6749 §4.1.3): missing, `invalid_request`; different, `invalid_grant`.
//! - Dynamic registrations and pending authorization requests are capped (how many may
//!   exist) and limited per client address and [`AuthzConfig::creation_rate_window`];
//!   beyond, registration answers 429 `temporarily_unavailable` and the authorization
//!   endpoint a 429 page.
//!
//! # Serving
//! [`AuthorizationServer::router`] routes absolute paths (the issuer's path included), so
//! merge it at the root of the host. For per-address sign-in rate limits, serve it with
//! `into_make_service_with_connect_info::<SocketAddr>()` (or set
//! [`AuthzConfig::trusted_proxies`] behind a proxy).
#![forbid(unsafe_code)]
#![warn(missing_docs)]

#[cfg(feature = "server")]
mod cimd;
#[cfg(feature = "server")]
mod clients;
#[cfg(feature = "server")]
mod config;
mod crypto;
mod error;
#[cfg(feature = "server")]
mod http;
#[cfg(feature = "server")]
mod keys;
#[cfg(feature = "server")]
mod limits;
mod proxy;
#[cfg(feature = "server")]
mod scope;
#[cfg(feature = "server")]
mod special_addresses;
mod store;
pub mod throttle;
#[cfg(feature = "server")]
mod tokens;
#[cfg(feature = "server")]
mod totp;
#[cfg(feature = "server")]
mod url;
#[cfg(feature = "server")]
mod users;

#[cfg(feature = "server")]
use std::sync::{Arc, Weak};
#[cfg(feature = "server")]
use std::time::Duration;
use std::time::{SystemTime, UNIX_EPOCH};

#[cfg(feature = "server")]
pub use clients::{Client, Clients, NewClient, RegisteredClient, TOKEN_ENDPOINT_AUTH_METHODS};
#[cfg(feature = "server")]
pub use config::AuthzConfig;
pub use crypto::Sealer;
pub use error::{error_description, AuthzError};
#[cfg(feature = "server")]
pub use http::{
    AUTHORIZE_PATH, INTROSPECTION_PATH, JWKS_PATH, REGISTRATION_PATH, REVOCATION_PATH, TOKEN_PATH,
    USERINFO_PATH,
};
#[cfg(feature = "server")]
pub use keys::{AccessTokenClaims, ACCESS_TOKEN_TYP};
pub use proxy::{
    ForwardedHeader, ForwardedProto, IpNet, ProxyListError, RemoteClient, TrustedProxies,
};
#[cfg(feature = "server")]
pub use store::{default_store_path, open_store, SqlStore};
pub use store::{
    AuthorizationRequest, AuthzStore, BoxFuture, ClientKind, ClientRecord, CodeRecord, CodeUse,
    GrantRecord, PendingAuthorization, PendingStage, RefreshRotation, RefreshTokenRecord,
    RefreshTokenState, SigningKeyRecord, StoreError, StoreResult, UserRecord, DEFAULT_STORE_FILE,
};
#[cfg(feature = "server")]
pub use totp::{generate_totp_secret, totp_code, totp_provisioning_uri, TOTP_STEP_SECONDS};
#[cfg(feature = "server")]
pub use users::{NewUser, User, Users};

#[cfg(feature = "server")]
/// The `client_id` claim of tokens minted with [`AuthorizationServer::mint_access_token`].
pub const MINTED_TOKEN_CLIENT_ID: &str = "widgetry-token";

/// Seconds since the Unix epoch.
pub(crate) fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

#[cfg(feature = "server")]
/// State shared by the API handles and the HTTP handlers.
pub(crate) struct Inner {
    pub(crate) config: AuthzConfig,
    pub(crate) store: Arc<dyn AuthzStore>,
    pub(crate) keys: keys::KeyRing,
    pub(crate) sealer: crypto::Sealer,
    pub(crate) documents: cimd::MetadataDocuments,
    /// The issuer's path ("" or "/tenant").
    pub(crate) base_path: String,
    /// Password guesses on the sign-in page.
    pub(crate) passwords: throttle::Throttle<throttle::StoreCounters>,
    /// Second-factor guesses on the sign-in page (counted apart from passwords).
    pub(crate) second_factors: throttle::Throttle<throttle::StoreCounters>,
    /// Held while the signing keys are reloaded from the store.
    pub(crate) key_reload: tokio::sync::Mutex<()>,
    /// Reloads of the signing keys so far.
    pub(crate) key_reloads: std::sync::atomic::AtomicU64,
}

#[cfg(feature = "server")]
impl Inner {
    pub(crate) fn endpoint(&self, path: &str) -> String {
        format!("{}{path}", self.config.issuer)
    }

    /// Reloads the keys when the in-memory copy is older than a minute, so that instances
    /// sharing a store follow each other's rotations.
    pub(crate) async fn fresh_keys(&self) {
        if self.keys.is_stale(Duration::from_secs(60)) {
            let _one = self.key_reload.lock().await;
            if self.keys.is_stale(Duration::from_secs(60)) {
                self.reload_keys().await;
            }
        }
    }

    /// Reloads the keys when a token names a key this instance has not seen (another
    /// instance rotated) — one reload at a time and none within
    /// [`UNKNOWN_KID_RELOAD`] of the last, so a flood of tokens naming made-up keys costs at
    /// most one store read per interval.
    pub(crate) async fn refresh_keys_for(&self, token: &str) {
        let Some(kid) = keys::token_kid(token) else {
            return;
        };
        if self.keys.knows(&kid) || !self.keys.is_stale(UNKNOWN_KID_RELOAD) {
            return;
        }
        let _one = self.key_reload.lock().await;
        if !self.keys.knows(&kid) && self.keys.is_stale(UNKNOWN_KID_RELOAD) {
            self.reload_keys().await;
        }
    }

    /// Reads the signing keys from the store again.
    pub(crate) async fn reload_keys(&self) {
        self.key_reloads
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        if let Err(e) = self.keys.reload(self.store.as_ref(), &self.sealer).await {
            tracing::warn!(error = %e, "reloading signing keys failed");
        }
    }
}

#[cfg(feature = "server")]
/// Shortest time between two key reloads caused by tokens naming an unknown key.
pub(crate) const UNKNOWN_KID_RELOAD: Duration = Duration::from_secs(5);

#[cfg(feature = "server")]
/// The embedded authorization server. Cheap to clone; the background sweeper stops when
/// the last clone is dropped.
#[derive(Clone)]
pub struct AuthorizationServer {
    inner: Arc<Inner>,
}

#[cfg(feature = "server")]
impl std::fmt::Debug for AuthorizationServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuthorizationServer")
            .field("issuer", &self.inner.config.issuer)
            .finish_non_exhaustive()
    }
}

#[cfg(feature = "server")]
impl AuthorizationServer {
    /// Validates the configuration, loads (or on first start generates) the signing key,
    /// and starts the background sweeper (inside a Tokio runtime).
    pub async fn open(config: AuthzConfig, store: Arc<dyn AuthzStore>) -> Result<Self, AuthzError> {
        let config = config.validate()?;
        let sealer = crypto::Sealer::new(config.key_encryption_key.as_deref())?;
        let documents = cimd::MetadataDocuments::new(&config)?;
        let base_path = config.issuer_path();
        let counters = Arc::new(throttle::StoreCounters(store.clone()));
        let throttle =
            |kind| throttle::Throttle::new(counters.clone(), config.sign_in_throttle.clone(), kind);
        let passwords = throttle(throttle::GuessKind::Password);
        let second_factors = throttle(throttle::GuessKind::SecondFactor);
        let inner = Arc::new(Inner {
            keys: keys::KeyRing::new(),
            passwords,
            second_factors,
            key_reload: tokio::sync::Mutex::new(()),
            key_reloads: std::sync::atomic::AtomicU64::new(0),
            config,
            store,
            sealer,
            documents,
            base_path,
        });
        inner
            .keys
            .reload(inner.store.as_ref(), &inner.sealer)
            .await?;
        if !inner.keys.has_active() {
            let record = keys::generate(&inner.sealer, now())?;
            inner.store.activate_signing_key(record, now()).await?;
            inner
                .keys
                .reload(inner.store.as_ref(), &inner.sealer)
                .await?;
        }
        let server = Self { inner };
        server.spawn_sweeper();
        Ok(server)
    }

    fn spawn_sweeper(&self) {
        let interval = self.inner.config.sweep_interval;
        if interval.is_zero() {
            return;
        }
        let weak: Weak<Inner> = Arc::downgrade(&self.inner);
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(interval).await;
                let Some(inner) = weak.upgrade() else { break };
                if let Err(e) = sweep(&inner).await {
                    tracing::warn!(error = %e, "sweeping the authorization store failed");
                }
                inner.reload_keys().await;
            }
        });
    }

    /// How many times the signing keys were read from the store again since start-up (by
    /// the sweeper, for stale keys, or for a token naming a key not seen yet).
    pub fn key_reloads(&self) -> u64 {
        self.inner
            .key_reloads
            .load(std::sync::atomic::Ordering::Relaxed)
    }

    /// The routes: `/oauth/*` under the issuer's path and the well-known documents.
    pub fn router(&self) -> axum::Router {
        http::router(Arc::clone(&self.inner))
    }

    /// The issuer identifier (normalized: no trailing `/`).
    pub fn issuer(&self) -> &str {
        &self.inner.config.issuer
    }

    /// The configuration in force.
    pub fn config(&self) -> &AuthzConfig {
        &self.inner.config
    }

    /// The published JSON Web Key Set.
    pub fn jwks(&self) -> serde_json::Value {
        self.inner.keys.jwks(now())
    }

    /// The RFC 8414 authorization server metadata document.
    pub fn metadata(&self) -> serde_json::Value {
        http::metadata_document(&self.inner, false)
    }

    /// User management.
    pub fn users(&self) -> Users {
        Users {
            inner: Arc::clone(&self.inner),
        }
    }

    /// Client management.
    pub fn clients(&self) -> Clients {
        Clients {
            inner: Arc::clone(&self.inner),
        }
    }

    /// Mints an access token directly, without a client or grant (for `widgetry token` and
    /// tests). `audience` must be a configured resource and every scope supported; the
    /// token's `client_id` is [`MINTED_TOKEN_CLIENT_ID`]. Revocable by its `jti` only.
    pub async fn mint_access_token(
        &self,
        subject: &str,
        scopes: &[String],
        audience: &str,
        ttl: Duration,
    ) -> Result<String, AuthzError> {
        if subject.trim().is_empty() {
            return Err(AuthzError::InvalidInput("the subject is empty".into()));
        }
        if !self.inner.config.resources.iter().any(|r| r == audience) {
            return Err(AuthzError::UnknownResource(audience.to_owned()));
        }
        if let Some(bad) = scopes
            .iter()
            .find(|s| !self.inner.config.scopes_supported.contains(s))
        {
            return Err(AuthzError::UnknownScope(bad.clone()));
        }
        let ttl = ttl.as_secs() as i64;
        if ttl < 1 {
            return Err(AuthzError::InvalidInput(
                "the lifetime must be at least one second".into(),
            ));
        }
        let (token, _) = tokens::mint(
            &self.inner,
            subject,
            &scopes.join(" "),
            audience,
            MINTED_TOKEN_CLIENT_ID,
            ttl,
            None,
        )
        .await?;
        Ok(token)
    }

    /// Generates a new signing key and makes it active; the previous key stays in the JWKS
    /// until every token it signed has expired. Returns the new key id.
    pub async fn rotate_signing_key(&self) -> Result<String, AuthzError> {
        let now = now();
        let record = keys::generate(&self.inner.sealer, now)?;
        let kid = record.kid.clone();
        let floor = now + self.inner.config.access_token_ttl.as_secs() as i64;
        self.inner.store.activate_signing_key(record, floor).await?;
        self.inner
            .keys
            .reload(self.inner.store.as_ref(), &self.inner.sealer)
            .await?;
        Ok(kid)
    }

    /// Verifies an access token issued by this server (signature, `typ`, issuer, expiry,
    /// deny-list) and returns its claims; `None` when it is not valid. The audience is not
    /// checked: compare `aud` with your resource.
    pub async fn verify_access_token(
        &self,
        token: &str,
    ) -> Result<Option<AccessTokenClaims>, AuthzError> {
        self.inner.refresh_keys_for(token).await;
        let Some(claims) = self.inner.keys.verify(token, &self.inner.config.issuer) else {
            return Ok(None);
        };
        if self.inner.store.jti_revoked(&claims.jti).await? {
            return Ok(None);
        }
        Ok(Some(claims))
    }

    /// Deletes expired records now (the background sweeper does this every
    /// [`AuthzConfig::sweep_interval`]); returns how many went.
    pub async fn sweep_expired(&self) -> Result<u64, AuthzError> {
        sweep(&self.inner).await
    }
}

#[cfg(feature = "server")]
async fn sweep(inner: &Inner) -> Result<u64, AuthzError> {
    let now = now();
    let unused_floor = now - inner.config.dcr_unused_ttl.as_secs() as i64;
    Ok(inner.store.sweep(now, unused_floor).await?)
}
