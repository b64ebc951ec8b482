//! Storage for Widgetry: small traits, one per concern, and the backends behind them.
//!
//! The framework never talks to a database directly; it talks to these traits:
//!
//! - [`SessionStore`] persists MCP transport sessions, so that another instance can serve
//!   a session that this one started;
//! - [`KvStore`] is a generic, namespaced key-value store for app data (likes per user,
//!   sign-in sessions, rate-limit counters).
//!
//! Each trait has four backends: memory (tests and single-process development), SQLite
//! (WAL, one file: the zero-setup default for one machine), PostgreSQL and Redis (several
//! instances sharing state). [`open_session_store`] and [`open_kv_store`] pick one from a
//! URL, and [`from_env`] reads the URLs from `WIDGETRY_DATABASE_URL` and
//! `WIDGETRY_SESSION_STORE_URL`:
//!
//! | URL | backend |
//! | --- | --- |
//! | `sqlite:///var/lib/app/widgetry.db`, or a plain path | SQLite |
//! | `postgres://user:pass@host:5432/db` (or `postgresql://`) | PostgreSQL; TLS with `?sslmode=verify-full` |
//! | `redis://host:6379/0`, `rediss://host:6380/0` (TLS) | Redis, no cluster |
//! | `memory:` | this process only |
//!
//! Expiry is enforced on read everywhere (an expired record is never returned) and swept
//! in the background by the caller through [`SessionStore::sweep`] and [`KvStore::sweep`]
//! (Redis expires keys by itself).
//!
//! Server backends fail fast and recover by themselves: every operation is bounded by a
//! timeout, a lost connection turns into [`StoreError::Unavailable`] naming the server,
//! and the next operation reconnects. A store outage never panics. PostgreSQL connections
//! come from a pool ([`PgPool`], also used by the authorization server); URL options set
//! TLS, the pool size and the timeouts (see [`PostgresConfig::new`] and
//! [`RedisConfig::new`]).
//!
//! Every store records the version of its schema (of its key layout in Redis) and brings
//! an older store up to date when it opens; one written by a newer release is refused
//! with [`StoreError::InvalidConfig`] rather than misread.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod kv;
mod memory;
mod open;
#[cfg(feature = "postgres")]
mod postgres;
mod redact;
#[cfg(feature = "redis")]
mod redis_store;
#[cfg(any(feature = "sqlite", feature = "postgres", feature = "redis"))]
// Redis only checks the schema version; migrations serve the SQL backends.
#[cfg_attr(not(any(feature = "sqlite", feature = "postgres")), allow(dead_code))]
mod schema;
#[cfg(feature = "sqlite")]
mod sqlite;
// Redis reads only the CA file here (its driver brings its own TLS); the rest serves
// PostgreSQL.
#[cfg(any(feature = "postgres", feature = "redis"))]
#[cfg_attr(not(feature = "postgres"), allow(dead_code))]
mod tls;
#[cfg(any(feature = "postgres", feature = "redis"))]
#[cfg_attr(not(feature = "postgres"), allow(dead_code))]
mod url_options;

use std::future::Future;
use std::pin::Pin;
use std::time::{SystemTime, UNIX_EPOCH};

pub use kv::{KvEntry, KvStore, Namespace, MAX_KEY_LEN};
pub use memory::{MemoryKvStore, MemorySessionStore};
pub use open::{
    from_env, open_kv_store, open_session_store, StoreConfig, StoreLocation, Stores,
    DATABASE_URL_ENV, DEFAULT_DATABASE_FILE, SESSION_STORE_URL_ENV,
};
#[cfg(feature = "postgres")]
pub use postgres::{PgConn, PgPool, PostgresConfig, PostgresKvStore, PostgresSessionStore};
#[cfg(feature = "redis")]
pub use redis_store::{RedisConfig, RedisKvStore, RedisSessionStore};
#[cfg(feature = "sqlite")]
pub use sqlite::{open_sqlite_connection, SqliteKvStore, SqliteSessionStore};

/// A boxed, sendable future, the return type of every store method (keeps the traits
/// object-safe so an app can hold an `Arc<dyn SessionStore>`).
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// What can go wrong talking to a store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The backend could not be reached or refused the operation (disk full, server down).
    /// Transient: the store retries the connection on the next operation.
    #[error("store unavailable: {0}")]
    Unavailable(String),
    /// A record could not be decoded; the store holds data this version cannot read.
    #[error("store holds an unreadable record: {0}")]
    Corrupt(String),
    /// A store URL or configuration could not be understood (unknown scheme, bad schema
    /// name). Fix the configuration; retrying will not help.
    #[error("invalid store configuration: {0}")]
    InvalidConfig(String),
    /// The caller asked for something the store cannot do: a key that is too long,
    /// incrementing a value that is not a counter, an increment that overflows.
    #[error("invalid store request: {0}")]
    Invalid(String),
}

/// Result alias for store operations.
pub type StoreResult<T> = Result<T, StoreError>;

/// One MCP transport session, as persisted so that another instance can serve it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionRecord {
    /// The session id (visible ASCII, cryptographically random).
    pub id: String,
    /// The protocol version negotiated at `initialize`.
    pub protocol_version: String,
    /// The client's `clientInfo` and `capabilities` from `initialize`, as JSON text.
    pub client: String,
    /// The level set with `logging/setLevel`, if any.
    pub log_level: Option<String>,
    /// Creation time, milliseconds since the Unix epoch.
    pub created_at_ms: u64,
    /// Expiry time, milliseconds since the Unix epoch; the record is gone after it.
    pub expires_at_ms: u64,
}

/// Persistence for MCP transport sessions.
///
/// Implementations must never return a record whose `expires_at_ms` has passed.
pub trait SessionStore: Send + Sync + 'static {
    /// Inserts or replaces a record.
    fn put(&self, record: SessionRecord) -> BoxFuture<'_, StoreResult<()>>;
    /// Fetches a live record.
    fn get<'a>(&'a self, id: &'a str) -> BoxFuture<'a, StoreResult<Option<SessionRecord>>>;
    /// Moves a live record's expiry; returns `false` when the record is unknown or expired.
    fn touch<'a>(&'a self, id: &'a str, expires_at_ms: u64) -> BoxFuture<'a, StoreResult<bool>>;
    /// Deletes a record; returns `true` when a live record was removed.
    fn delete<'a>(&'a self, id: &'a str) -> BoxFuture<'a, StoreResult<bool>>;
    /// Removes every expired record; returns how many were removed.
    fn sweep(&self) -> BoxFuture<'_, StoreResult<u64>>;
}

/// Milliseconds since the Unix epoch, the clock every store uses for expiry.
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

#[cfg(any(feature = "sqlite", feature = "postgres"))]
/// A timestamp in milliseconds as the signed 64-bit integer SQL databases store.
pub(crate) fn ms_i64(ms: u64) -> i64 {
    i64::try_from(ms).unwrap_or(i64::MAX)
}

#[cfg(any(feature = "postgres", feature = "redis"))]
/// Whether an operation may be sent a second time after its connection was lost without
/// changing its outcome. Operations that are not (an increment, an insert-if-absent, a
/// delete that reports what it removed) are never retried: they may have been applied.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Retry {
    /// Safe to resend on a fresh connection once.
    Idempotent,
    /// Report the lost connection instead.
    Never,
}
