//! Persistence for the authorization server: one object-safe trait, [`AuthzStore`], the
//! records it keeps, and [`SqlStore`], its SQLite and PostgreSQL backend.
//!
//! The trait speaks in whole operations (rotate a refresh token, consume a code, revoke a
//! grant) rather than rows, so each backend can make every operation atomic, and several
//! server instances sharing one PostgreSQL database stay consistent. Expiry is enforced on
//! read (an expired record is never returned as live) and swept by [`AuthzStore::sweep`].

#[cfg(feature = "server")]
mod backend;
#[cfg(feature = "server")]
mod sql;

use std::future::Future;
#[cfg(feature = "server")]
use std::path::{Path, PathBuf};
use std::pin::Pin;
#[cfg(feature = "server")]
use std::sync::Arc;

use serde::{Deserialize, Serialize};

#[cfg(feature = "server")]
pub use sql::SqlStore;

/// A boxed, sendable future: the return type of every store method (keeps
/// [`AuthzStore`] object-safe, so the server holds an `Arc<dyn AuthzStore>`).
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// The file name of the SQLite store inside an app's data directory.
pub const DEFAULT_STORE_FILE: &str = "authz.sqlite3";

/// What can go wrong talking to a store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The backend could not be reached or refused the operation (disk full, server down,
    /// wrong credentials).
    #[error("authorization store unavailable: {0}")]
    Unavailable(String),
    /// A record could not be decoded: the store holds data this version cannot read.
    #[error("authorization store holds an unreadable record: {0}")]
    Corrupt(String),
    /// The store location could not be understood.
    #[error("invalid authorization store location: {0}")]
    InvalidLocation(String),
}

/// Result alias for store operations.
pub type StoreResult<T> = Result<T, StoreError>;

/// A user who can sign in at the embedded authorization server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserRecord {
    /// Stable identifier, the `sub` of the user's tokens.
    pub id: String,
    /// Sign-in name, unique, stored lower-cased.
    pub username: String,
    /// Display name.
    pub name: String,
    /// Argon2id hash in PHC string format.
    pub password_hash: String,
    /// Scopes this user may grant; `None` means every supported scope.
    pub scopes: Option<Vec<String>>,
    /// TOTP secret (sealed when a key-encryption key is configured), if the user has a
    /// second factor.
    pub totp_secret: Option<String>,
    /// The last TOTP time step accepted (replay protection).
    pub totp_last_step: i64,
    /// Creation time, seconds since the Unix epoch.
    pub created_at: i64,
}

/// How a client came to be known.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ClientKind {
    /// Added by the operator through the API or the CLI.
    PreRegistered,
    /// Registered at the RFC 7591 registration endpoint.
    Dynamic,
    /// Described by a Client ID Metadata Document (never stored, fetched and cached).
    MetadataDocument,
}

#[cfg(feature = "server")]
impl ClientKind {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            ClientKind::PreRegistered => "pre_registered",
            ClientKind::Dynamic => "dynamic",
            ClientKind::MetadataDocument => "metadata_document",
        }
    }

    pub(crate) fn parse(s: &str) -> Option<Self> {
        match s {
            "pre_registered" => Some(ClientKind::PreRegistered),
            "dynamic" => Some(ClientKind::Dynamic),
            "metadata_document" => Some(ClientKind::MetadataDocument),
            _ => None,
        }
    }
}

/// A registered OAuth client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientRecord {
    /// The `client_id`.
    pub client_id: String,
    /// SHA-256 of the client secret (base64url), for confidential clients.
    pub secret_hash: Option<String>,
    /// Human-readable name shown on the consent page.
    pub name: String,
    /// Redirect URIs, compared by exact string match.
    pub redirect_uris: Vec<String>,
    /// Grant types the client may use (`authorization_code`, `refresh_token`).
    pub grant_types: Vec<String>,
    /// `token_endpoint_auth_method`: `none`, `client_secret_basic` or `client_secret_post`.
    pub auth_method: String,
    /// Scopes the client registered for, space separated; `None` means any supported.
    pub scope: Option<String>,
    /// The client's home page, if it gave one.
    pub client_uri: Option<String>,
    /// How the client was registered.
    pub kind: ClientKind,
    /// Registration time, seconds since the Unix epoch.
    pub created_at: i64,
    /// When an authorization code was last issued to the client.
    pub last_used_at: Option<i64>,
}

/// Where a pending authorization request stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PendingStage {
    /// Waiting for username and password.
    SignIn,
    /// Password accepted; waiting for the TOTP code.
    SecondFactor,
    /// Signed in; waiting for the user's decision.
    Consent,
}

#[cfg(feature = "server")]
impl PendingStage {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            PendingStage::SignIn => "sign_in",
            PendingStage::SecondFactor => "second_factor",
            PendingStage::Consent => "consent",
        }
    }

    pub(crate) fn parse(s: &str) -> Option<Self> {
        match s {
            "sign_in" => Some(PendingStage::SignIn),
            "second_factor" => Some(PendingStage::SecondFactor),
            "consent" => Some(PendingStage::Consent),
            _ => None,
        }
    }
}

/// The validated parameters of an authorization request, kept server side while the
/// user signs in and consents.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuthorizationRequest {
    /// The client.
    pub client_id: String,
    /// The client's display name at the time of the request.
    pub client_name: String,
    /// The redirect URI the response goes to (already matched against the registration).
    pub redirect_uri: String,
    /// Whether the request named `redirect_uri` (rather than relying on the client's only
    /// registered one).
    #[serde(default)]
    pub redirect_uri_sent: bool,
    /// The client's `state`, returned unchanged.
    pub state: Option<String>,
    /// Requested scopes.
    pub scopes: Vec<String>,
    /// The resource (RFC 8707) the token is for: its `aud`.
    pub resource: String,
    /// The PKCE S256 challenge.
    pub code_challenge: String,
    /// Whether the client may receive refresh tokens.
    pub refresh_allowed: bool,
}

/// An authorization request in progress, keyed by a random id that the forms carry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingAuthorization {
    /// Random id, the `request` field of the sign-in and consent forms.
    pub id: String,
    /// SHA-256 of the browser-binding cookie the request was started with.
    pub browser_hash: String,
    /// SHA-256 of the CSRF token of the form currently shown.
    pub csrf_hash: String,
    /// Where the request stands.
    pub stage: PendingStage,
    /// The user, once the password was accepted.
    pub user_id: Option<String>,
    /// The request itself.
    pub request: AuthorizationRequest,
    /// Expiry, seconds since the Unix epoch.
    pub expires_at: i64,
}

/// A user's authorization of a client: the root of its codes and tokens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GrantRecord {
    /// Random id.
    pub id: String,
    /// The client.
    pub client_id: String,
    /// The user's id (`sub`).
    pub user_id: String,
    /// Granted scopes, space separated.
    pub scope: String,
    /// The audience of the grant's access tokens.
    pub resource: String,
    /// Whether refresh tokens are issued for this grant.
    pub refresh_allowed: bool,
    /// Creation time.
    pub created_at: i64,
    /// Revocation time, if revoked.
    pub revoked_at: Option<i64>,
}

/// An authorization code (stored as a hash).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CodeRecord {
    /// SHA-256 of the code, base64url.
    pub code_hash: String,
    /// The grant it was issued for.
    pub grant_id: String,
    /// The redirect URI it was delivered to.
    pub redirect_uri: String,
    /// Whether the authorization request named `redirect_uri` (then the token request
    /// must repeat it, RFC 6749 §4.1.3).
    pub redirect_uri_sent: bool,
    /// The PKCE S256 challenge.
    pub code_challenge: String,
    /// Expiry.
    pub expires_at: i64,
    /// When it was exchanged, if it was.
    pub used_at: Option<i64>,
}

/// The outcome of [`AuthzStore::consume_code`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CodeUse {
    /// No such code.
    Unknown,
    /// First use: the code is now marked used.
    Fresh(CodeRecord),
    /// The code had already been used; the caller must refuse it and revoke the grant.
    Reused(CodeRecord),
}

/// Where a refresh token stands in its rotation chain.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefreshTokenState {
    /// Never used.
    Active,
    /// Used once; it still works for a short grace ([`crate::AuthzConfig::refresh_token_grace`])
    /// while none of its successors has been used (the double-refresh race).
    Used,
    /// A successor (or a sibling) was used: presenting it again is token reuse.
    Superseded,
}

#[cfg(feature = "server")]
impl RefreshTokenState {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            RefreshTokenState::Active => "active",
            RefreshTokenState::Used => "used",
            RefreshTokenState::Superseded => "superseded",
        }
    }

    pub(crate) fn parse(s: &str) -> Option<Self> {
        match s {
            "active" => Some(RefreshTokenState::Active),
            "used" => Some(RefreshTokenState::Used),
            "superseded" => Some(RefreshTokenState::Superseded),
            _ => None,
        }
    }
}

/// A refresh token (stored as a hash).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefreshTokenRecord {
    /// SHA-256 of the token, base64url.
    pub token_hash: String,
    /// The grant.
    pub grant_id: String,
    /// The token this one replaced, if any.
    pub parent_hash: Option<String>,
    /// Rotation state.
    pub state: RefreshTokenState,
    /// Issue time.
    pub issued_at: i64,
    /// Expiry.
    pub expires_at: i64,
}

/// The outcome of [`AuthzStore::rotate_refresh_token`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RefreshRotation {
    /// The successor was stored; here is the grant it belongs to.
    Rotated(GrantRecord),
    /// Unknown, expired, or its grant is revoked.
    Invalid,
    /// A superseded token was presented: the grant has been revoked.
    Reused {
        /// The revoked grant.
        grant_id: String,
    },
}

/// A signing key as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SigningKeyRecord {
    /// Key id (RFC 7638 thumbprint).
    pub kid: String,
    /// JWS algorithm (`ES256`).
    pub alg: String,
    /// The PKCS#8 private key, sealed or marked plain (see the crate docs).
    pub private_key: String,
    /// The public JWK, as JSON text.
    pub public_jwk: String,
    /// Creation time.
    pub created_at: i64,
    /// Whether new tokens are signed with it.
    pub active: bool,
    /// For retired keys: when it leaves the JWKS.
    pub publish_until: Option<i64>,
    /// The latest `exp` of a token signed with it beyond the default lifetime.
    pub max_token_exp: i64,
}

/// Persistence for users, clients, grants, codes, tokens, signing keys, revoked token ids
/// and rate-limit counters. Every method is one atomic operation.
pub trait AuthzStore: Send + Sync + 'static {
    /// Adds a user; `false` when the username or id is taken.
    fn insert_user(&self, user: UserRecord) -> BoxFuture<'_, StoreResult<bool>>;
    /// A user by (lower-cased) username.
    fn user_by_username<'a>(
        &'a self,
        username: &'a str,
    ) -> BoxFuture<'a, StoreResult<Option<UserRecord>>>;
    /// A user by id.
    fn user_by_id<'a>(&'a self, id: &'a str) -> BoxFuture<'a, StoreResult<Option<UserRecord>>>;
    /// Every user, by username.
    fn list_users(&self) -> BoxFuture<'_, StoreResult<Vec<UserRecord>>>;
    /// Removes a user and revokes their grants; `false` when unknown.
    fn delete_user<'a>(&'a self, username: &'a str, now: i64) -> BoxFuture<'a, StoreResult<bool>>;
    /// Records a TOTP step as used; `false` when that step (or a later one) was already used.
    fn use_totp_step<'a>(&'a self, user_id: &'a str, step: i64)
        -> BoxFuture<'a, StoreResult<bool>>;

    /// Adds a client; `false` when the `client_id` is taken.
    fn insert_client(&self, client: ClientRecord) -> BoxFuture<'_, StoreResult<bool>>;
    /// A client by id.
    fn client<'a>(&'a self, client_id: &'a str)
        -> BoxFuture<'a, StoreResult<Option<ClientRecord>>>;
    /// Every stored client, by id.
    fn list_clients(&self) -> BoxFuture<'_, StoreResult<Vec<ClientRecord>>>;
    /// Removes a client and revokes its grants; `false` when unknown.
    fn delete_client<'a>(
        &'a self,
        client_id: &'a str,
        now: i64,
    ) -> BoxFuture<'a, StoreResult<bool>>;
    /// Notes that a code was issued to the client (registrations never used expire).
    fn mark_client_used<'a>(
        &'a self,
        client_id: &'a str,
        now: i64,
    ) -> BoxFuture<'a, StoreResult<()>>;

    /// How many dynamic registrations created after `created_after` were never used.
    fn count_unused_registrations(&self, created_after: i64) -> BoxFuture<'_, StoreResult<u64>>;

    /// How many pending authorization requests are live at `now`.
    fn count_pending(&self, now: i64) -> BoxFuture<'_, StoreResult<u64>>;
    /// Stores a new pending authorization request.
    fn insert_pending(&self, pending: PendingAuthorization) -> BoxFuture<'_, StoreResult<()>>;
    /// A live pending request.
    fn pending<'a>(
        &'a self,
        id: &'a str,
        now: i64,
    ) -> BoxFuture<'a, StoreResult<Option<PendingAuthorization>>>;
    /// Replaces a pending request if its CSRF hash is still `expected_csrf_hash` (each form
    /// token works once); `false` otherwise.
    fn replace_pending<'a>(
        &'a self,
        pending: PendingAuthorization,
        expected_csrf_hash: &'a str,
    ) -> BoxFuture<'a, StoreResult<bool>>;
    /// Deletes a pending request if its CSRF hash is still `expected_csrf_hash`; `false`
    /// otherwise.
    fn take_pending<'a>(
        &'a self,
        id: &'a str,
        expected_csrf_hash: &'a str,
    ) -> BoxFuture<'a, StoreResult<bool>>;

    /// Stores a grant with its authorization code.
    fn insert_grant_with_code(
        &self,
        grant: GrantRecord,
        code: CodeRecord,
    ) -> BoxFuture<'_, StoreResult<()>>;
    /// A grant by id (revoked ones included; check `revoked_at`).
    fn grant<'a>(&'a self, id: &'a str) -> BoxFuture<'a, StoreResult<Option<GrantRecord>>>;
    /// Marks a code used, reporting whether it was used before. When the code was fresh
    /// and its grant allows refresh, `first_refresh` (its `grant_id` filled in from the
    /// code) is stored in the same transaction, so a crash never leaves a used code whose
    /// grant has no refresh token.
    fn consume_code<'a>(
        &'a self,
        code_hash: &'a str,
        now: i64,
        first_refresh: Option<RefreshTokenRecord>,
    ) -> BoxFuture<'a, StoreResult<CodeUse>>;
    /// Revokes a grant: its refresh tokens are deleted and its live access tokens' ids
    /// enter the deny-list. `false` when unknown or already revoked.
    fn revoke_grant<'a>(&'a self, grant_id: &'a str, now: i64) -> BoxFuture<'a, StoreResult<bool>>;

    /// Stores a refresh token (the first of a grant).
    fn insert_refresh_token(&self, token: RefreshTokenRecord) -> BoxFuture<'_, StoreResult<()>>;
    /// An unexpired refresh token of a live grant, by hash, whatever its rotation state
    /// (a superseded one is returned so that rotation can detect its reuse).
    fn refresh_token<'a>(
        &'a self,
        token_hash: &'a str,
        now: i64,
    ) -> BoxFuture<'a, StoreResult<Option<(RefreshTokenRecord, GrantRecord)>>>;
    /// Rotates a refresh token: `presented_hash` is replaced by `successor` (whose
    /// `parent_hash` must be `presented_hash`). The presented token stays usable until one
    /// of its successors is first used, and only if its own first use was after
    /// `grace_floor` (the double-refresh race); presented after either, it is token reuse:
    /// the whole grant is revoked and [`RefreshRotation::Reused`] returned.
    fn rotate_refresh_token<'a>(
        &'a self,
        presented_hash: &'a str,
        successor: RefreshTokenRecord,
        now: i64,
        grace_floor: i64,
    ) -> BoxFuture<'a, StoreResult<RefreshRotation>>;

    /// Records an issued access token's id, so revoking its grant can deny it.
    fn record_access_token<'a>(
        &'a self,
        jti: &'a str,
        grant_id: &'a str,
        expires_at: i64,
    ) -> BoxFuture<'a, StoreResult<()>>;
    /// Puts an access token id on the deny-list until `expires_at`.
    fn revoke_jti<'a>(&'a self, jti: &'a str, expires_at: i64) -> BoxFuture<'a, StoreResult<()>>;
    /// Whether an access token id is on the deny-list.
    fn jti_revoked<'a>(&'a self, jti: &'a str) -> BoxFuture<'a, StoreResult<bool>>;

    /// Every stored signing key.
    fn signing_keys(&self) -> BoxFuture<'_, StoreResult<Vec<SigningKeyRecord>>>;
    /// Stores `key` as the active signing key; every previously active key retires and stays
    /// published until `max(publish_until_floor, its max_token_exp)`.
    fn activate_signing_key(
        &self,
        key: SigningKeyRecord,
        publish_until_floor: i64,
    ) -> BoxFuture<'_, StoreResult<()>>;
    /// Raises a key's `max_token_exp` to `exp` if lower (and its `publish_until`, if it is
    /// retired).
    fn extend_key_token_exp<'a>(&'a self, kid: &'a str, exp: i64)
        -> BoxFuture<'a, StoreResult<()>>;

    /// The live value of the counter at `key`, if any. Counters back every rate limit
    /// and lockout (see [`crate::throttle`]).
    fn counter<'a>(&'a self, key: &'a str, now: i64) -> BoxFuture<'a, StoreResult<Option<i64>>>;
    /// Atomically adds `by` (which may be negative) to the counter at `key` and returns the
    /// new value: one statement, so of several racing callers each sees its own value. A
    /// missing or expired counter starts at 0 and lives until `expires_at`; a live counter
    /// keeps the expiry it was created with (a fixed window).
    fn add_to_counter<'a>(
        &'a self,
        key: &'a str,
        by: i64,
        now: i64,
        expires_at: i64,
    ) -> BoxFuture<'a, StoreResult<i64>>;
    /// Sets the counter at `key` to `value`, living until `expires_at`.
    fn set_counter<'a>(
        &'a self,
        key: &'a str,
        value: i64,
        expires_at: i64,
    ) -> BoxFuture<'a, StoreResult<()>>;
    /// Forgets the counter at `key`.
    fn delete_counter<'a>(&'a self, key: &'a str) -> BoxFuture<'a, StoreResult<()>>;

    /// Deletes everything expired, dynamic registrations created before `unused_client_floor`
    /// that were never used, and expired counters; returns how many records went.
    fn sweep(&self, now: i64, unused_client_floor: i64) -> BoxFuture<'_, StoreResult<u64>>;
}

#[cfg(feature = "server")]
/// Opens a store from a location: a `postgres://` or `postgresql://` URL selects
/// PostgreSQL, anything else is a SQLite file path (`sqlite://` prefix optional), created
/// with its directory when missing.
///
/// ```no_run
/// # async fn demo() -> Result<(), widgetry_authz::StoreError> {
/// let store = widgetry_authz::open_store("/var/lib/gallery/authz.sqlite3").await?;
/// # Ok(()) }
/// ```
pub async fn open_store(location: &str) -> StoreResult<Arc<dyn AuthzStore>> {
    let location = location.trim();
    if location.is_empty() {
        return Err(StoreError::InvalidLocation(
            "empty; give a SQLite file path or a postgres:// URL".into(),
        ));
    }
    if location.starts_with("postgres://") || location.starts_with("postgresql://") {
        return Ok(Arc::new(SqlStore::open_postgres(location).await?));
    }
    let path = location.strip_prefix("sqlite://").unwrap_or(location);
    Ok(Arc::new(SqlStore::open_sqlite(path).await?))
}

#[cfg(feature = "server")]
/// The default store path inside an app's data directory.
pub fn default_store_path(data_dir: impl AsRef<Path>) -> PathBuf {
    data_dir.as_ref().join(DEFAULT_STORE_FILE)
}
