//! Users who sign in at the embedded server: argon2id password hashes, optional TOTP
//! second factor, and the scopes each may grant. [`Users`] is the API the CLI and apps
//! use to manage them.

use std::sync::{Arc, OnceLock};

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;

use crate::crypto::{random_bytes, random_id};
use crate::store::UserRecord;
use crate::{now, AuthzError, Inner};

/// A user to add with [`Users::add`].
///
/// ```
/// let user = widgetry_authz::NewUser::new("ada", "correct horse battery")
///     .name("Ada Lovelace")
///     .scopes(["orders:read"]);
/// ```
#[derive(Clone)]
#[non_exhaustive]
pub struct NewUser {
    /// Sign-in name (case-insensitive, stored lower-cased; 1–128 characters, no spaces).
    pub username: String,
    /// Password (at least 8 characters); only its argon2id hash is stored.
    pub password: String,
    /// Display name; defaults to the username.
    pub name: Option<String>,
    /// Scopes the user may grant; `None` means every supported scope.
    pub scopes: Option<Vec<String>>,
    /// Base32 TOTP secret enabling the second factor (see [`crate::generate_totp_secret`]).
    pub totp_secret: Option<String>,
    /// The token subject; defaults to a random id.
    pub subject: Option<String>,
}

impl std::fmt::Debug for NewUser {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewUser")
            .field("username", &self.username)
            .field("name", &self.name)
            .field("scopes", &self.scopes)
            .field("totp", &self.totp_secret.is_some())
            .finish_non_exhaustive()
    }
}

impl NewUser {
    /// A user with a username and password and nothing else.
    pub fn new(username: impl Into<String>, password: impl Into<String>) -> Self {
        Self {
            username: username.into(),
            password: password.into(),
            name: None,
            scopes: None,
            totp_secret: None,
            subject: None,
        }
    }

    /// Sets the display name.
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }

    /// Limits the scopes the user may grant.
    pub fn scopes<I, S>(mut self, scopes: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.scopes = Some(scopes.into_iter().map(Into::into).collect());
        self
    }

    /// Enables the TOTP second factor with a base32 secret.
    pub fn totp_secret(mut self, secret: impl Into<String>) -> Self {
        self.totp_secret = Some(secret.into());
        self
    }

    /// Sets the token subject instead of a random id.
    pub fn subject(mut self, subject: impl Into<String>) -> Self {
        self.subject = Some(subject.into());
        self
    }
}

/// A user as the API shows it (no secrets).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    /// The subject (`sub`) of the user's tokens.
    pub id: String,
    /// Sign-in name.
    pub username: String,
    /// Display name.
    pub name: String,
    /// Scopes the user may grant; `None` means every supported scope.
    pub scopes: Option<Vec<String>>,
    /// Whether sign-in asks for a TOTP code.
    pub has_totp: bool,
    /// Creation time, seconds since the Unix epoch.
    pub created_at: i64,
}

impl From<&UserRecord> for User {
    fn from(r: &UserRecord) -> Self {
        Self {
            id: r.id.clone(),
            username: r.username.clone(),
            name: r.name.clone(),
            scopes: r.scopes.clone(),
            has_totp: r.totp_secret.is_some(),
            created_at: r.created_at,
        }
    }
}

/// Manages users; from [`crate::AuthorizationServer::users`].
#[derive(Clone)]
pub struct Users {
    pub(crate) inner: Arc<Inner>,
}

impl std::fmt::Debug for Users {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Users").finish_non_exhaustive()
    }
}

/// Normalizes a username: trimmed, lower-cased, checked.
pub(crate) fn normalize_username(username: &str) -> Result<String, AuthzError> {
    let u = username.trim().to_lowercase();
    if u.is_empty()
        || u.chars().count() > 128
        || u.chars().any(|c| c.is_control() || c.is_whitespace())
    {
        return Err(AuthzError::InvalidInput(
            "a username has 1 to 128 characters and no spaces".into(),
        ));
    }
    Ok(u)
}

impl Users {
    /// Adds a user. Fails with [`AuthzError::UserExists`] when the username is taken.
    pub async fn add(&self, new: NewUser) -> Result<User, AuthzError> {
        let username = normalize_username(&new.username)?;
        if new.password.chars().count() < 8 || new.password.len() > 1024 {
            return Err(AuthzError::InvalidInput(
                "a password has at least 8 characters (and at most 1024 bytes)".into(),
            ));
        }
        let config = &self.inner.config;
        if let Some(scopes) = &new.scopes {
            for s in scopes {
                if !config.scopes_supported.contains(s) {
                    return Err(AuthzError::UnknownScope(s.clone()));
                }
            }
        }
        let id = match new.subject {
            Some(s) if !s.trim().is_empty() && s.len() <= 255 => s,
            Some(_) => {
                return Err(AuthzError::InvalidInput(
                    "a subject has 1 to 255 characters".into(),
                ))
            }
            None => format!("usr_{}", random_id()),
        };
        let totp_secret = match &new.totp_secret {
            Some(secret) => {
                crate::totp::decode_secret(secret)?;
                let normalized: String = secret
                    .chars()
                    .filter(|c| !matches!(c, ' ' | '-' | '='))
                    .map(|c| c.to_ascii_uppercase())
                    .collect();
                Some(
                    self.inner
                        .sealer
                        .seal(normalized.as_bytes(), &totp_context(&id))?,
                )
            }
            None => None,
        };
        let record = UserRecord {
            name: new
                .name
                .map(|n| n.trim().to_owned())
                .filter(|n| !n.is_empty())
                .unwrap_or_else(|| username.clone()),
            password_hash: hash_password(new.password).await?,
            id,
            username: username.clone(),
            scopes: new.scopes,
            totp_secret,
            totp_last_step: 0,
            created_at: now(),
        };
        if !self.inner.store.insert_user(record.clone()).await? {
            return Err(AuthzError::UserExists(username));
        }
        Ok(User::from(&record))
    }

    /// Every user, by username.
    pub async fn list(&self) -> Result<Vec<User>, AuthzError> {
        Ok(self
            .inner
            .store
            .list_users()
            .await?
            .iter()
            .map(User::from)
            .collect())
    }

    /// One user by username.
    pub async fn get(&self, username: &str) -> Result<Option<User>, AuthzError> {
        let username = normalize_username(username)?;
        Ok(self
            .inner
            .store
            .user_by_username(&username)
            .await?
            .as_ref()
            .map(User::from))
    }

    /// Removes a user and revokes every grant they made; `false` when unknown.
    pub async fn remove(&self, username: &str) -> Result<bool, AuthzError> {
        let username = normalize_username(username)?;
        Ok(self.inner.store.delete_user(&username, now()).await?)
    }

    /// Checks a password (no rate limiting, no second factor: for tools, not for sign-in
    /// forms). Returns the user when it matches.
    pub async fn verify_password(
        &self,
        username: &str,
        password: &str,
    ) -> Result<Option<User>, AuthzError> {
        let Ok(username) = normalize_username(username) else {
            return Ok(None);
        };
        let record = self.inner.store.user_by_username(&username).await?;
        let checked = check_password(record, password)
            .await
            .map_err(|busy| AuthzError::Busy(busy.to_string()))?;
        Ok(checked.as_ref().map(User::from))
    }
}

impl Users {
    /// The user with subject `id`.
    pub async fn get_by_id(&self, id: &str) -> Result<Option<User>, AuthzError> {
        Ok(self
            .inner
            .store
            .user_by_id(id)
            .await?
            .as_ref()
            .map(User::from))
    }

    /// Checks a TOTP code of the user named `username` (each code works once). `false`
    /// when the user has no TOTP secret, the code is wrong, or it was already used.
    pub async fn verify_totp(&self, username: &str, code: &str) -> Result<bool, AuthzError> {
        let Ok(username) = normalize_username(username) else {
            return Ok(false);
        };
        let Some(user) = self.inner.store.user_by_username(&username).await? else {
            return Ok(false);
        };
        let secret = user
            .totp_secret
            .as_deref()
            .and_then(|s| self.inner.sealer.open(s, &totp_context(&user.id)).ok())
            .and_then(|b| String::from_utf8(b).ok())
            .and_then(|s| crate::totp::decode_secret(&s).ok());
        let Some(secret) = secret else {
            return Ok(false);
        };
        match crate::totp::matching_step(&secret, code.trim(), crate::now()) {
            Some(step) => Ok(self.inner.store.use_totp_step(&user.id, step).await?),
            None => Ok(false),
        }
    }
}

pub(crate) fn totp_context(user_id: &str) -> String {
    format!("totp:{user_id}")
}

pub(crate) async fn hash_password(password: String) -> Result<String, AuthzError> {
    hashing(move || {
        let salt = SaltString::encode_b64(&random_bytes::<16>())
            .map_err(|e| AuthzError::Internal(format!("password salt: {e}")))?;
        Argon2::default()
            .hash_password(password.as_bytes(), &salt)
            .map(|h| h.to_string())
            .map_err(|e| AuthzError::Internal(format!("hashing the password failed: {e}")))
    })
    .await
    .map_err(|busy| AuthzError::Busy(busy.to_string()))?
}

/// Password hashing is refused: too many are waiting already.
#[derive(Debug, Clone, Copy, thiserror::Error)]
#[error("Sign-in is busy right now; try again in a moment.")]
pub(crate) struct Busy;

/// Argon2 runs at most this many at once per process (each takes ~19 MiB and a core).
fn hashing_slots() -> usize {
    std::thread::available_parallelism().map_or(2, |n| n.get().clamp(2, 8))
}

/// How many may wait for a slot before more are refused.
const HASHING_QUEUE: usize = 64;

/// Runs a password hash or check on the blocking pool, at most [`hashing_slots`] at a time
/// and at most [`HASHING_QUEUE`] waiting: a burst of sign-ins cannot take the memory of
/// hundreds of concurrent argon2 runs.
pub(crate) async fn hashing<T: Send + 'static>(
    work: impl FnOnce() -> T + Send + 'static,
) -> Result<T, Busy> {
    use std::sync::atomic::{AtomicUsize, Ordering};
    static SLOTS: OnceLock<tokio::sync::Semaphore> = OnceLock::new();
    static WAITING: AtomicUsize = AtomicUsize::new(0);
    let slots = SLOTS.get_or_init(|| tokio::sync::Semaphore::new(hashing_slots()));
    let permit = match slots.try_acquire() {
        Ok(p) => p,
        Err(_) => {
            if WAITING.fetch_add(1, Ordering::AcqRel) >= HASHING_QUEUE {
                WAITING.fetch_sub(1, Ordering::AcqRel);
                return Err(Busy);
            }
            let p = slots.acquire().await;
            WAITING.fetch_sub(1, Ordering::AcqRel);
            p.map_err(|_| Busy)?
        }
    };
    let out = tokio::task::spawn_blocking(work).await.map_err(|_| Busy);
    drop(permit);
    out
}

/// A hash of a random password: verified against when the user does not exist, so a
/// wrong username costs as much time as a wrong password.
fn decoy_hash() -> &'static str {
    static DECOY: OnceLock<String> = OnceLock::new();
    DECOY.get_or_init(|| {
        let salt = SaltString::encode_b64(&random_bytes::<16>()).ok();
        salt.and_then(|salt| {
            Argon2::default()
                .hash_password(&random_bytes::<16>(), &salt)
                .ok()
                .map(|h| h.to_string())
        })
        .unwrap_or_default()
    })
}

/// Verifies `password` against a user's hash (or the decoy when there is no user); `Err`
/// when too many checks are waiting already.
pub(crate) async fn check_password(
    user: Option<UserRecord>,
    password: &str,
) -> Result<Option<UserRecord>, Busy> {
    let password = password.to_owned();
    hashing(move || {
        let stored = user
            .as_ref()
            .map_or_else(|| decoy_hash().to_owned(), |u| u.password_hash.clone());
        let ok = PasswordHash::new(&stored)
            .map(|parsed| {
                Argon2::default()
                    .verify_password(password.as_bytes(), &parsed)
                    .is_ok()
            })
            .unwrap_or(false);
        if ok {
            user
        } else {
            None
        }
    })
    .await
}
