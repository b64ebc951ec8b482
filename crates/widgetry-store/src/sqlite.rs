//! The SQLite session store: one file, WAL mode, the default for one machine.
//!
//! Calls run on Tokio's blocking pool so a slow disk never stalls the request workers.

use std::path::Path;
use std::sync::{Arc, Mutex};

use rusqlite::{params, Connection, OptionalExtension};

use crate::{now_ms, BoxFuture, SessionRecord, SessionStore, StoreError, StoreResult};

/// Sessions persisted in a SQLite database file.
#[derive(Clone)]
pub struct SqliteSessionStore {
    conn: Arc<Mutex<Connection>>,
}

impl std::fmt::Debug for SqliteSessionStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteSessionStore").finish_non_exhaustive()
    }
}

fn unavailable(e: impl std::fmt::Display) -> StoreError {
    StoreError::Unavailable(e.to_string())
}

impl SqliteSessionStore {
    /// Opens (creating when missing) the database at `path` and its `mcp_sessions` table.
    pub fn open(path: impl AsRef<Path>) -> StoreResult<Self> {
        let path = path.as_ref();
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)
                .map_err(|e| unavailable(format!("cannot create {}: {e}", dir.display())))?;
        }
        let conn = Connection::open(path)
            .map_err(|e| unavailable(format!("cannot open {}: {e}", path.display())))?;
        conn.execute_batch(
            "PRAGMA journal_mode=WAL;
             PRAGMA synchronous=NORMAL;
             PRAGMA busy_timeout=5000;
             CREATE TABLE IF NOT EXISTS mcp_sessions (
                 id TEXT PRIMARY KEY,
                 protocol_version TEXT NOT NULL,
                 client TEXT NOT NULL,
                 log_level TEXT,
                 created_at_ms INTEGER NOT NULL,
                 expires_at_ms INTEGER NOT NULL
             );
             CREATE INDEX IF NOT EXISTS mcp_sessions_expiry ON mcp_sessions(expires_at_ms);",
        )
        .map_err(unavailable)?;
        Ok(Self {
            conn: Arc::new(Mutex::new(conn)),
        })
    }

    fn run<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Connection) -> rusqlite::Result<T> + Send + 'static,
    ) -> BoxFuture<'static, StoreResult<T>> {
        let conn = self.conn.clone();
        Box::pin(async move {
            tokio::task::spawn_blocking(move || {
                let guard = conn.lock().unwrap_or_else(|p| p.into_inner());
                f(&guard).map_err(unavailable)
            })
            .await
            .map_err(unavailable)?
        })
    }
}

impl SessionStore for SqliteSessionStore {
    fn put(&self, r: SessionRecord) -> BoxFuture<'_, StoreResult<()>> {
        self.run(move |c| {
            c.prepare_cached(
                "INSERT OR REPLACE INTO mcp_sessions
                 (id, protocol_version, client, log_level, created_at_ms, expires_at_ms)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            )?
            .execute(params![
                r.id,
                r.protocol_version,
                r.client,
                r.log_level,
                r.created_at_ms as i64,
                r.expires_at_ms as i64
            ])
            .map(|_| ())
        })
    }

    fn get<'a>(&'a self, id: &'a str) -> BoxFuture<'a, StoreResult<Option<SessionRecord>>> {
        let id = id.to_string();
        let now = now_ms() as i64;
        self.run(move |c| {
            c.prepare_cached(
                "SELECT id, protocol_version, client, log_level, created_at_ms, expires_at_ms
                 FROM mcp_sessions WHERE id = ?1 AND expires_at_ms > ?2",
            )?
            .query_row(params![id, now], |row| {
                Ok(SessionRecord {
                    id: row.get(0)?,
                    protocol_version: row.get(1)?,
                    client: row.get(2)?,
                    log_level: row.get(3)?,
                    created_at_ms: row.get::<_, i64>(4)? as u64,
                    expires_at_ms: row.get::<_, i64>(5)? as u64,
                })
            })
            .optional()
        })
    }

    fn touch<'a>(&'a self, id: &'a str, expires_at_ms: u64) -> BoxFuture<'a, StoreResult<bool>> {
        let id = id.to_string();
        let now = now_ms() as i64;
        self.run(move |c| {
            c.prepare_cached(
                "UPDATE mcp_sessions SET expires_at_ms = ?2 WHERE id = ?1 AND expires_at_ms > ?3",
            )?
            .execute(params![id, expires_at_ms as i64, now])
            .map(|n| n > 0)
        })
    }

    fn delete<'a>(&'a self, id: &'a str) -> BoxFuture<'a, StoreResult<bool>> {
        let id = id.to_string();
        let now = now_ms() as i64;
        self.run(move |c| {
            let live: bool = c
                .prepare_cached("SELECT 1 FROM mcp_sessions WHERE id = ?1 AND expires_at_ms > ?2")?
                .exists(params![id, now])?;
            c.prepare_cached("DELETE FROM mcp_sessions WHERE id = ?1")?
                .execute(params![id])?;
            Ok(live)
        })
    }

    fn sweep(&self) -> BoxFuture<'_, StoreResult<u64>> {
        let now = now_ms() as i64;
        self.run(move |c| {
            c.prepare_cached("DELETE FROM mcp_sessions WHERE expires_at_ms <= ?1")?
                .execute(params![now])
                .map(|n| n as u64)
        })
    }
}
