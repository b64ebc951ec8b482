//! Storage for Widgetry: small traits, one per concern, and the backends behind them.
//!
//! The framework never talks to a database directly; it talks to these traits. The
//! in-memory backend serves tests and single-process development, SQLite (WAL, one file)
//! is the zero-setup default for one machine, and later backends (PostgreSQL, Redis)
//! plug in behind the same traits so several instances can share state.
//!
//! Expiry is enforced on read (an expired record is never returned) and swept in the
//! background by the caller through [`SessionStore::sweep`].
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod memory;
mod sqlite;

use std::future::Future;
use std::pin::Pin;
use std::time::{SystemTime, UNIX_EPOCH};

pub use memory::MemorySessionStore;
pub use sqlite::SqliteSessionStore;

/// A boxed, sendable future, the return type of every store method (keeps the traits
/// object-safe so an app can hold an `Arc<dyn SessionStore>`).
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// What can go wrong talking to a store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The backend could not be reached or refused the operation (disk full, server down).
    #[error("session store unavailable: {0}")]
    Unavailable(String),
    /// A record could not be decoded; the store holds data this version cannot read.
    #[error("session store holds an unreadable record: {0}")]
    Corrupt(String),
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

#[cfg(test)]
mod tests {
    use super::*;

    fn record(id: &str, ttl_ms: i64) -> SessionRecord {
        let now = now_ms();
        SessionRecord {
            id: id.to_string(),
            protocol_version: "2025-06-18".into(),
            client: r#"{"clientInfo":{"name":"t","version":"1"}}"#.into(),
            log_level: None,
            created_at_ms: now,
            expires_at_ms: (now as i64 + ttl_ms) as u64,
        }
    }

    async fn exercise(store: &dyn SessionStore) {
        store.put(record("a", 60_000)).await.unwrap();
        store.put(record("gone", -1)).await.unwrap();
        let got = store
            .get("a")
            .await
            .unwrap()
            .expect("live record is returned");
        assert_eq!(got.protocol_version, "2025-06-18");
        assert!(
            store.get("gone").await.unwrap().is_none(),
            "expired record hidden"
        );
        assert!(store.get("nope").await.unwrap().is_none());
        assert!(store.touch("a", now_ms() + 120_000).await.unwrap());
        assert!(!store.touch("gone", now_ms() + 120_000).await.unwrap());
        let mut upd = got.clone();
        upd.log_level = Some("debug".into());
        store.put(upd).await.unwrap();
        assert_eq!(
            store.get("a").await.unwrap().unwrap().log_level.as_deref(),
            Some("debug")
        );
        assert_eq!(store.sweep().await.unwrap(), 1, "one expired record swept");
        assert!(store.delete("a").await.unwrap());
        assert!(!store.delete("a").await.unwrap());
        assert!(store.get("a").await.unwrap().is_none());
    }

    #[tokio::test]
    async fn memory_store_honours_expiry_and_deletes() {
        exercise(&MemorySessionStore::new()).await;
    }

    #[tokio::test]
    async fn sqlite_store_honours_expiry_and_survives_reopen() {
        let dir = std::env::temp_dir().join(format!("widgetry-store-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("sessions.db");
        let _ = std::fs::remove_file(&path);
        {
            let store = SqliteSessionStore::open(&path).unwrap();
            exercise(&store).await;
            store.put(record("kept", 60_000)).await.unwrap();
        }
        let reopened = SqliteSessionStore::open(&path).unwrap();
        assert!(
            reopened.get("kept").await.unwrap().is_some(),
            "record survives reopen"
        );
        let _ = std::fs::remove_dir_all(&dir);
    }
}
