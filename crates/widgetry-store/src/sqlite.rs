//! The SQLite stores: one file, WAL mode, the default for one machine.
//!
//! In one process a file has one connection, on a thread of its own that runs the calls
//! of the stores on it in the order they arrive, so a slow disk never stalls the request
//! workers (see `Db`). Several processes may open the same file: WAL lets
//! them read concurrently, every write is one statement or an `IMMEDIATE` transaction, and
//! a 5 s busy timeout makes a writer wait its turn.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock, Weak};
use std::time::Duration;

use rusqlite::{params, Connection, OptionalExtension, TransactionBehavior};

use crate::kv::{self, check_key, check_prefix, expiry, KvEntry, KvStore, Namespace};
use crate::schema::{pending, Migration, VERSION_TABLE};
use crate::{ms_i64, now_ms, BoxFuture, SessionRecord, SessionStore, StoreError, StoreResult};

fn unavailable(e: impl std::fmt::Display) -> StoreError {
    StoreError::Unavailable(e.to_string())
}

/// Opens (creating when missing) a SQLite connection set up as every Widgetry store uses
/// one: a 5 s busy timeout set first, so processes opening the file together wait for
/// each other instead of failing; the WAL journal (switching a fresh file to it takes a
/// lock the busy handler does not wait for, so that step is retried for up to 5 s); and
/// `synchronous=NORMAL`. The embedded authorization server opens its file with it too.
pub fn open_sqlite_connection(path: &Path) -> rusqlite::Result<Connection> {
    let conn = Connection::open(path)?;
    conn.busy_timeout(Duration::from_secs(5))?;
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    loop {
        match conn.query_row("PRAGMA journal_mode=WAL", [], |r| r.get::<_, String>(0)) {
            Ok(_) => break,
            Err(e) if is_busy(&e) && std::time::Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(20))
            }
            Err(e) => return Err(e),
        }
    }
    conn.execute_batch("PRAGMA synchronous=NORMAL;")?;
    Ok(conn)
}

/// Whether SQLite answered "busy" or "locked" (another connection holds the lock).
fn is_busy(e: &rusqlite::Error) -> bool {
    matches!(
        e,
        rusqlite::Error::SqliteFailure(f, _)
            if matches!(f.code, rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked)
    )
}

/// A call waiting for the connection.
type Job = Box<dyn FnOnce(&mut Connection) + Send>;

/// Where a connection's calls queue.
type Jobs = tokio::sync::mpsc::UnboundedSender<Job>;

/// An open file: its connection's queue, and which file it is (a file deleted and made
/// again under the same name is another file).
struct OpenFile {
    jobs: Weak<Jobs>,
    identity: Option<(u64, u64)>,
}

/// The SQLite files this process has open, by path.
fn open_files() -> &'static std::sync::Mutex<HashMap<PathBuf, OpenFile>> {
    static OPEN: OnceLock<std::sync::Mutex<HashMap<PathBuf, OpenFile>>> = OnceLock::new();
    OPEN.get_or_init(Default::default)
}

/// The device and inode of the file at `path`, where the platform has them.
fn identity(path: &Path) -> Option<(u64, u64)> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        std::fs::metadata(path).ok().map(|m| (m.dev(), m.ino()))
    }
    #[cfg(not(unix))]
    {
        let _ = path;
        None
    }
}

/// One SQLite connection per file and process, owned by a thread of its own that runs
/// the calls of every store on that file one after another, in the order they arrive.
/// So a slow disk never stalls the request workers; calls waiting their turn hold no
/// thread (with a lock taken on Tokio's blocking pool they starved other work queued
/// there: one answer in a million took 10 s under the 1,000-client battery); none is
/// overtaken by later ones; and the stores of one file (sessions, app data) never wait on
/// each other's SQLite locks, whose busy handler sleeps and is not fair (it left a public
/// call waiting 2.4 s behind the widget actions' writes). Other processes on the file
/// still take turns through the busy timeout. The thread ends when the last store on the
/// file is dropped.
#[derive(Clone)]
struct Db {
    jobs: Arc<Jobs>,
}

impl Db {
    /// Opens (creating when missing) the database at `path`, or joins this process's
    /// connection to it, and brings `component`'s tables up to date.
    fn open(path: &Path, component: &str, migrations: &'static [Migration]) -> StoreResult<Self> {
        let dir = path.parent().filter(|d| !d.as_os_str().is_empty());
        if let Some(dir) = dir {
            std::fs::create_dir_all(dir)
                .map_err(|e| unavailable(format!("cannot create {}: {e}", dir.display())))?;
        }
        let name = path
            .file_name()
            .ok_or_else(|| unavailable(format!("{} names no file", path.display())))?;
        let key = std::fs::canonicalize(dir.unwrap_or(Path::new(".")))
            .map_err(|e| unavailable(format!("cannot resolve {}: {e}", path.display())))?
            .join(name);
        let mut open = open_files().lock().unwrap_or_else(|p| p.into_inner());
        let same_file = |f: &&OpenFile| f.identity.is_some() && f.identity == identity(&key);
        if let Some(jobs) = open
            .get(&key)
            .filter(same_file)
            .and_then(|f| f.jobs.upgrade())
        {
            let db = Self { jobs };
            let (path, component) = (path.to_path_buf(), component.to_string());
            db.wait(move |c| migrate(c, &path, &component, migrations))?;
            return Ok(db);
        }
        let mut conn = open_sqlite_connection(path)
            .map_err(|e| unavailable(format!("cannot open {}: {e}", path.display())))?;
        migrate(&mut conn, path, component, migrations)?;
        let (jobs, mut queue) = tokio::sync::mpsc::unbounded_channel::<Job>();
        std::thread::Builder::new()
            .name("widgetry-sqlite".into())
            .spawn(move || {
                while let Some(job) = queue.blocking_recv() {
                    // A panicking call loses only its own answer (its caller sees the
                    // worker fail); the connection serves the next one.
                    let _ =
                        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| job(&mut conn)));
                }
            })
            .map_err(|e| unavailable(format!("cannot start the SQLite thread: {e}")))?;
        let jobs = Arc::new(jobs);
        open.retain(|_, f| f.jobs.strong_count() > 0);
        let identity = identity(&key);
        open.insert(
            key,
            OpenFile {
                jobs: Arc::downgrade(&jobs),
                identity,
            },
        );
        Ok(Self { jobs })
    }

    /// Runs `f` on the connection and waits for it, blocking this thread (opening only).
    fn wait<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Connection) -> StoreResult<T> + Send + 'static,
    ) -> StoreResult<T> {
        let (answer, answered) = std::sync::mpsc::channel();
        self.jobs
            .send(Box::new(move |c: &mut Connection| {
                let _ = answer.send(f(c));
            }))
            .map_err(|_| unavailable("the SQLite thread has stopped"))?;
        answered
            .recv()
            .map_err(|_| unavailable("SQLite worker failed (the call panicked)"))?
    }

    fn run<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Connection) -> StoreResult<T> + Send + 'static,
    ) -> BoxFuture<'static, StoreResult<T>> {
        let (answer, answered) = tokio::sync::oneshot::channel();
        let sent = self.jobs.send(Box::new(move |c: &mut Connection| {
            let _ = answer.send(f(c));
        }));
        Box::pin(async move {
            if sent.is_err() {
                return Err(unavailable("the SQLite thread has stopped"));
            }
            answered
                .await
                .map_err(|_| unavailable("SQLite worker failed (the call panicked)"))?
        })
    }
}

/// Brings `component` up to the last of `migrations` in one `IMMEDIATE` transaction: the
/// write lock makes processes opening the file together take turns.
fn migrate(
    conn: &mut Connection,
    path: &Path,
    component: &str,
    migrations: &[Migration],
) -> StoreResult<()> {
    let failed = |e: rusqlite::Error| {
        unavailable(format!(
            "cannot set up the `{component}` tables in {}: {e}",
            path.display()
        ))
    };
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(failed)?;
    tx.execute_batch(&format!(
        "CREATE TABLE IF NOT EXISTS {VERSION_TABLE} (
             component TEXT PRIMARY KEY,
             version INTEGER NOT NULL,
             updated_at_ms INTEGER NOT NULL
         )"
    ))
    .map_err(failed)?;
    let current: i64 = tx
        .query_row(
            &format!("SELECT version FROM {VERSION_TABLE} WHERE component = ?1"),
            [component],
            |r| r.get(0),
        )
        .optional()
        .map_err(failed)?
        .unwrap_or(0);
    let where_ = format!("SQLite file {}", path.display());
    let steps = pending(component, &where_, current, migrations)?;
    for m in steps {
        tx.execute_batch(&m.sql.replace("{q}", ""))
            .map_err(failed)?;
        tracing::info!(file = %path.display(), component, version = m.version, step = m.name, "store migration applied");
    }
    if let Some(last) = steps.last() {
        tx.execute(
            &format!(
                "INSERT INTO {VERSION_TABLE} (component, version, updated_at_ms) VALUES (?1, ?2, ?3)
                 ON CONFLICT (component) DO UPDATE
                 SET version = excluded.version, updated_at_ms = excluded.updated_at_ms"
            ),
            params![component, last.version, ms_i64(now_ms())],
        )
        .map_err(failed)?;
    }
    tx.commit().map_err(failed)
}

/// The schema of `mcp_sessions`; version 1 is the table as first released.
const SESSION_MIGRATIONS: &[Migration] = &[Migration {
    version: 1,
    name: "mcp_sessions table",
    sql: "CREATE TABLE IF NOT EXISTS mcp_sessions (
              id TEXT PRIMARY KEY,
              protocol_version TEXT NOT NULL,
              client TEXT NOT NULL,
              log_level TEXT,
              created_at_ms INTEGER NOT NULL,
              expires_at_ms INTEGER NOT NULL
          );
          CREATE INDEX IF NOT EXISTS mcp_sessions_expiry ON mcp_sessions(expires_at_ms);",
}];

/// The schema of `widgetry_kv`; version 1 is the table as first released.
const KV_MIGRATIONS: &[Migration] = &[Migration {
    version: 1,
    name: "widgetry_kv table",
    sql: "CREATE TABLE IF NOT EXISTS widgetry_kv (
              ns TEXT NOT NULL,
              key TEXT NOT NULL,
              value BLOB NOT NULL,
              expires_at_ms INTEGER,
              PRIMARY KEY (ns, key)
          ) WITHOUT ROWID;
          CREATE INDEX IF NOT EXISTS widgetry_kv_expiry ON widgetry_kv(expires_at_ms)
              WHERE expires_at_ms IS NOT NULL;",
}];

/// Sessions persisted in a SQLite database file.
#[derive(Clone)]
pub struct SqliteSessionStore {
    db: Db,
}

impl std::fmt::Debug for SqliteSessionStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteSessionStore").finish_non_exhaustive()
    }
}

impl SqliteSessionStore {
    /// Opens (creating when missing) the database at `path`, and creates or upgrades its
    /// `mcp_sessions` table.
    pub fn open(path: impl AsRef<Path>) -> StoreResult<Self> {
        let db = Db::open(path.as_ref(), "mcp_sessions", SESSION_MIGRATIONS)?;
        Ok(Self { db })
    }

    fn run<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Connection) -> rusqlite::Result<T> + Send + 'static,
    ) -> BoxFuture<'static, StoreResult<T>> {
        self.db.run(move |c| f(c).map_err(unavailable))
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
                ms_i64(r.created_at_ms),
                ms_i64(r.expires_at_ms)
            ])
            .map(|_| ())
        })
    }

    fn get<'a>(&'a self, id: &'a str) -> BoxFuture<'a, StoreResult<Option<SessionRecord>>> {
        let id = id.to_string();
        let now = ms_i64(now_ms());
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
        let now = ms_i64(now_ms());
        self.run(move |c| {
            c.prepare_cached(
                "UPDATE mcp_sessions SET expires_at_ms = ?2 WHERE id = ?1 AND expires_at_ms > ?3",
            )?
            .execute(params![id, ms_i64(expires_at_ms), now])
            .map(|n| n > 0)
        })
    }

    fn delete<'a>(&'a self, id: &'a str) -> BoxFuture<'a, StoreResult<bool>> {
        let id = id.to_string();
        let now = ms_i64(now_ms());
        self.run(move |c| {
            c.prepare_cached("DELETE FROM mcp_sessions WHERE id = ?1 RETURNING expires_at_ms")?
                .query_row(params![id], |row| row.get::<_, i64>(0))
                .optional()
                .map(|e| e.is_some_and(|e| e > now))
        })
    }

    fn sweep(&self) -> BoxFuture<'_, StoreResult<u64>> {
        let now = ms_i64(now_ms());
        self.run(move |c| {
            c.prepare_cached("DELETE FROM mcp_sessions WHERE expires_at_ms <= ?1")?
                .execute(params![now])
                .map(|n| n as u64)
        })
    }
}

/// App data persisted in a SQLite database file (table `widgetry_kv`).
///
/// ```
/// # async fn demo() -> widgetry_store::StoreResult<()> {
/// use widgetry_store::{KvStore, Namespace, SqliteKvStore};
/// # let dir = std::env::temp_dir().join(format!("wkv-doc-{}", std::process::id()));
/// let kv = SqliteKvStore::open(dir.join("widgetry.db"))?;
/// static LIKES: Namespace = Namespace::from_static("likes");
/// assert!(kv.put_if_absent(&LIKES, "user-1:w-9", b"", None).await?);
/// assert!(!kv.put_if_absent(&LIKES, "user-1:w-9", b"", None).await?);
/// # std::fs::remove_dir_all(&dir).ok();
/// # Ok(()) }
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(demo()).unwrap();
/// ```
#[derive(Clone)]
pub struct SqliteKvStore {
    db: Db,
}

impl std::fmt::Debug for SqliteKvStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteKvStore").finish_non_exhaustive()
    }
}

/// The SQLite expression "this row is live at ?now".
const LIVE: &str = "(expires_at_ms IS NULL OR expires_at_ms > ?3)";

impl SqliteKvStore {
    /// Opens (creating when missing) the database at `path`, and creates or upgrades its
    /// `widgetry_kv` table.
    pub fn open(path: impl AsRef<Path>) -> StoreResult<Self> {
        let db = Db::open(path.as_ref(), "widgetry_kv", KV_MIGRATIONS)?;
        Ok(Self { db })
    }

    /// Runs `f` with owned copies of the namespace and key, after checking the key.
    fn with_key<T: Send + 'static>(
        &self,
        ns: &Namespace,
        key: &str,
        check: fn(&str) -> StoreResult<()>,
        f: impl FnOnce(&mut Connection, Namespace, String) -> StoreResult<T> + Send + 'static,
    ) -> BoxFuture<'static, StoreResult<T>> {
        if let Err(e) = check(key) {
            return Box::pin(async move { Err(e) });
        }
        let (ns, key) = (ns.clone(), key.to_owned());
        self.db.run(move |c| f(c, ns, key))
    }
}

impl KvStore for SqliteKvStore {
    fn get<'a>(
        &'a self,
        ns: &'a Namespace,
        key: &'a str,
    ) -> BoxFuture<'a, StoreResult<Option<Vec<u8>>>> {
        let now = ms_i64(now_ms());
        self.with_key(ns, key, check_key, move |c, ns, key| {
            c.prepare_cached(&format!(
                "SELECT value FROM widgetry_kv WHERE ns = ?1 AND key = ?2 AND {LIVE}"
            ))
            .map_err(unavailable)?
            .query_row(params![ns.as_str(), key, now], |r| r.get(0))
            .optional()
            .map_err(unavailable)
        })
    }

    fn put<'a>(
        &'a self,
        ns: &'a Namespace,
        key: &'a str,
        value: &'a [u8],
        ttl: Option<Duration>,
    ) -> BoxFuture<'a, StoreResult<()>> {
        let value = value.to_vec();
        let exp = expiry(ttl).map(ms_i64);
        self.with_key(ns, key, check_key, move |c, ns, key| {
            c.prepare_cached(
                "INSERT OR REPLACE INTO widgetry_kv (ns, key, value, expires_at_ms)
                 VALUES (?1, ?2, ?3, ?4)",
            )
            .map_err(unavailable)?
            .execute(params![ns.as_str(), key, value, exp])
            .map(|_| ())
            .map_err(unavailable)
        })
    }

    fn delete<'a>(&'a self, ns: &'a Namespace, key: &'a str) -> BoxFuture<'a, StoreResult<bool>> {
        let now = ms_i64(now_ms());
        self.with_key(ns, key, check_key, move |c, ns, key| {
            c.prepare_cached(
                "DELETE FROM widgetry_kv WHERE ns = ?1 AND key = ?2 RETURNING expires_at_ms",
            )
            .map_err(unavailable)?
            .query_row(params![ns.as_str(), key], |r| r.get::<_, Option<i64>>(0))
            .optional()
            .map(|row| row.is_some_and(|exp| exp.is_none_or(|e| e > now)))
            .map_err(unavailable)
        })
    }

    fn incr<'a>(
        &'a self,
        ns: &'a Namespace,
        key: &'a str,
        by: i64,
        ttl: Option<Duration>,
    ) -> BoxFuture<'a, StoreResult<i64>> {
        let now = ms_i64(now_ms());
        let exp = expiry(ttl).map(ms_i64);
        self.with_key(ns, key, check_key, move |c, ns, key| {
            // IMMEDIATE takes the write lock up front, so the read-modify-write below is
            // atomic against other connections to the same file too.
            let tx = c
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .map_err(unavailable)?;
            let current: Option<(Vec<u8>, Option<i64>)> = tx
                .prepare_cached(&format!(
                    "SELECT value, expires_at_ms FROM widgetry_kv
                     WHERE ns = ?1 AND key = ?2 AND {LIVE}"
                ))
                .map_err(unavailable)?
                .query_row(params![ns.as_str(), key, now], |r| {
                    Ok((r.get(0)?, r.get(1)?))
                })
                .optional()
                .map_err(unavailable)?;
            let (next, exp) = match current {
                Some((value, current_exp)) => {
                    let v = kv::parse_counter(&ns, &key, &value)?;
                    let next = v
                        .checked_add(by)
                        .ok_or_else(|| kv::overflow(&ns, &key, by))?;
                    (next, current_exp)
                }
                None => (by, exp),
            };
            tx.prepare_cached(
                "INSERT OR REPLACE INTO widgetry_kv (ns, key, value, expires_at_ms)
                 VALUES (?1, ?2, ?3, ?4)",
            )
            .map_err(unavailable)?
            .execute(params![
                ns.as_str(),
                key,
                next.to_string().into_bytes(),
                exp
            ])
            .map_err(unavailable)?;
            tx.commit().map_err(unavailable)?;
            Ok(next)
        })
    }

    fn list<'a>(
        &'a self,
        ns: &'a Namespace,
        prefix: &'a str,
        limit: usize,
    ) -> BoxFuture<'a, StoreResult<Vec<KvEntry>>> {
        let now = ms_i64(now_ms());
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        self.with_key(ns, prefix, check_prefix, move |c, ns, prefix| {
            // Keys with the prefix form one contiguous run starting at the prefix (BINARY
            // collation orders UTF-8 by bytes): read from there and stop where it ends.
            let mut stmt = c
                .prepare_cached(&format!(
                    "SELECT key, value FROM widgetry_kv
                 WHERE ns = ?1 AND key >= ?2 AND {LIVE} ORDER BY key LIMIT ?4"
                ))
                .map_err(unavailable)?;
            let rows = stmt
                .query_map(params![ns.as_str(), prefix, now, limit], |r| {
                    Ok((r.get::<_, String>(0)?, r.get::<_, Vec<u8>>(1)?))
                })
                .map_err(unavailable)?;
            let mut out = Vec::new();
            for row in rows {
                let (k, v) = row.map_err(unavailable)?;
                if !k.starts_with(prefix.as_str()) {
                    break;
                }
                out.push((k, v));
            }
            Ok(out)
        })
    }

    fn put_if_absent<'a>(
        &'a self,
        ns: &'a Namespace,
        key: &'a str,
        value: &'a [u8],
        ttl: Option<Duration>,
    ) -> BoxFuture<'a, StoreResult<bool>> {
        let now = ms_i64(now_ms());
        let value = value.to_vec();
        let exp = expiry(ttl).map(ms_i64);
        self.with_key(ns, key, check_key, move |c, ns, key| {
            // One statement: inserts, or replaces an expired value, or changes nothing.
            c.prepare_cached(
                "INSERT INTO widgetry_kv (ns, key, value, expires_at_ms) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT (ns, key) DO UPDATE
                 SET value = excluded.value, expires_at_ms = excluded.expires_at_ms
                 WHERE widgetry_kv.expires_at_ms IS NOT NULL AND widgetry_kv.expires_at_ms <= ?5",
            )
            .map_err(unavailable)?
            .execute(params![ns.as_str(), key, value, exp, now])
            .map(|n| n > 0)
            .map_err(unavailable)
        })
    }

    fn sweep(&self) -> BoxFuture<'_, StoreResult<u64>> {
        let now = ms_i64(now_ms());
        self.db.run(move |c| {
            c.prepare_cached(
                "DELETE FROM widgetry_kv WHERE expires_at_ms IS NOT NULL AND expires_at_ms <= ?1",
            )
            .map_err(unavailable)?
            .execute(params![now])
            .map(|n| n as u64)
            .map_err(unavailable)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::steps_for_tests::{V1, V2, V3_FAILS};

    fn version(c: &Connection) -> i64 {
        c.query_row(
            "SELECT version FROM widgetry_schema_version WHERE component = 'notes'",
            [],
            |r| r.get(0),
        )
        .unwrap()
    }

    /// Several processes (here threads, each with its own connection, which SQLite
    /// locks the same way) opening one fresh file at once: every one gets its store, with
    /// the tables made once. Before the busy timeout came first, some failed with
    /// "database is locked" while another switched the file to WAL.
    #[test]
    fn openers_racing_on_a_fresh_file_all_succeed() {
        for round in 0..20 {
            let dir = std::env::temp_dir().join(format!(
                "wrace-{}-{}-{round}",
                std::process::id(),
                now_ms()
            ));
            std::fs::create_dir_all(&dir).unwrap();
            let path = dir.join("race.db");
            let barrier = Arc::new(std::sync::Barrier::new(6));
            let openers: Vec<_> = (0..6)
                .map(|i| {
                    let (path, barrier) = (path.clone(), barrier.clone());
                    std::thread::spawn(move || {
                        barrier.wait();
                        let component = if i % 2 == 0 { "notes" } else { "other" };
                        let step = Migration {
                            version: 1,
                            name: "table",
                            sql: if i % 2 == 0 {
                                "CREATE TABLE IF NOT EXISTS notes (id TEXT PRIMARY KEY)"
                            } else {
                                "CREATE TABLE IF NOT EXISTS other (id TEXT PRIMARY KEY)"
                            },
                        };
                        // What each process does (Db::open shares one connection
                        // within a process, so the race is between connections).
                        let mut conn = open_sqlite_connection(&path).map_err(unavailable)?;
                        migrate(&mut conn, &path, component, &[step])
                    })
                })
                .collect();
            for o in openers {
                o.join()
                    .unwrap()
                    .unwrap_or_else(|e| panic!("round {round}: {e}"));
            }
            let c = Connection::open(&path).unwrap();
            assert_eq!(version(&c), 1);
            let mode: String = c
                .query_row("PRAGMA journal_mode", [], |r| r.get(0))
                .unwrap();
            assert_eq!(mode, "wal");
            let _ = std::fs::remove_dir_all(&dir);
        }
    }

    #[test]
    fn steps_run_in_order_and_a_failing_one_rolls_back_with_its_batch() {
        let dir = std::env::temp_dir().join(format!("wmig-{}-{}", std::process::id(), now_ms()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("m.db");
        let mut c = Connection::open(&path).unwrap();
        migrate(&mut c, &path, "notes", &[V1]).unwrap();
        c.execute("INSERT INTO notes (id, body) VALUES ('n1', 'kept')", [])
            .unwrap();
        assert_eq!(version(&c), 1);

        let e = migrate(&mut c, &path, "notes", &[V1, V2, V3_FAILS]).unwrap_err();
        assert!(e.to_string().contains("no_such_table"), "{e}");
        assert_eq!(version(&c), 1, "nothing of steps 2 and 3 stays");
        assert!(c.prepare("SELECT author FROM notes").is_err());

        migrate(&mut c, &path, "notes", &[V1, V2]).unwrap();
        assert_eq!(version(&c), 2);
        let row: (String, String) = c
            .query_row("SELECT body, author FROM notes WHERE id = 'n1'", [], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })
            .unwrap();
        assert_eq!(row, ("kept".to_owned(), "unknown".to_owned()));
        // Opened by an older program that knows only step 1: refused.
        assert!(matches!(
            migrate(&mut c, &path, "notes", &[V1]),
            Err(StoreError::InvalidConfig(_))
        ));
        drop(c);
        std::fs::remove_dir_all(&dir).ok();
    }

    fn scratch(label: &str) -> std::path::PathBuf {
        let dir =
            std::env::temp_dir().join(format!("wq-{label}-{}-{}", std::process::id(), now_ms()));
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    /// Calls are served in the order they were made, whatever order their futures are
    /// polled in (with a lock taken on the blocking pool, the threads raced for it).
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn calls_are_served_in_the_order_they_were_made() {
        let dir = scratch("order");
        let db = Db::open(&dir.join("o.db"), "notes", &[V1]).unwrap();
        let calls: Vec<_> = (0..200)
            .map(|i| {
                db.run(move |c| {
                    c.execute(
                        "INSERT INTO notes (id, body) VALUES (?1, '')",
                        [i.to_string()],
                    )
                    .map_err(unavailable)?;
                    c.query_row("SELECT count(*) FROM notes", [], |r| r.get::<_, i64>(0))
                        .map_err(unavailable)
                })
            })
            .collect();
        // Polled last first: the answers still follow the calls' order.
        let mut set = tokio::task::JoinSet::new();
        for (i, call) in calls.into_iter().enumerate().rev() {
            set.spawn(async move { (i, call.await.unwrap()) });
        }
        while let Some(r) = set.join_next().await {
            let (i, n) = r.unwrap();
            assert_eq!(n, i as i64 + 1, "call {i} saw {n} rows");
        }
        std::fs::remove_dir_all(&dir).ok();
    }

    /// Waiting calls hold no thread of Tokio's blocking pool: with its only thread busy
    /// until a store call answers, the call still answers (a store that ran its calls on
    /// that pool would wait forever here).
    #[test]
    fn calls_need_no_thread_of_the_blocking_pool() {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .max_blocking_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let dir = scratch("pool");
        let sessions = SqliteSessionStore::open(dir.join("s.db")).unwrap();
        rt.block_on(async move {
            let (release, released) = std::sync::mpsc::channel::<()>();
            let busy = tokio::task::spawn_blocking(move || released.recv());
            let answered =
                tokio::time::timeout(Duration::from_secs(20), sessions.get("nobody")).await;
            release.send(()).unwrap();
            busy.await.unwrap().unwrap();
            assert!(
                matches!(answered, Ok(Ok(None))),
                "the store call did not answer while the blocking pool was busy: {answered:?}"
            );
        });
        std::fs::remove_dir_all(&dir).ok();
    }

    /// A call that panics loses its own answer only: the store serves the next one.
    #[tokio::test]
    async fn a_panicking_call_leaves_the_store_working() {
        let dir = scratch("panic");
        let db = Db::open(&dir.join("p.db"), "notes", &[V1]).unwrap();
        let failed = db
            .run(|_| -> StoreResult<()> { panic!("a bug in a store call") })
            .await;
        assert!(
            matches!(failed, Err(StoreError::Unavailable(ref m)) if m.contains("panicked")),
            "{failed:?}"
        );
        let v = db.run(|c| Ok(version(c))).await.unwrap();
        assert_eq!(v, 1);
        std::fs::remove_dir_all(&dir).ok();
    }

    /// The stores of one file share one connection (however the path is spelled), so
    /// they never wait on each other's SQLite locks; once they are gone the file opens anew.
    #[tokio::test]
    async fn stores_on_one_file_share_one_connection() {
        let dir = scratch("share");
        let sessions = SqliteSessionStore::open(dir.join("w.db")).unwrap();
        let kv = SqliteKvStore::open(dir.join(".").join("w.db")).unwrap();
        let other = SqliteKvStore::open(dir.join("other.db")).unwrap();
        assert!(Arc::ptr_eq(&sessions.db.jobs, &kv.db.jobs));
        assert!(!Arc::ptr_eq(&kv.db.jobs, &other.db.jobs));
        let ns = Namespace::from_static("share");
        kv.put(&ns, "k", b"v", None).await.unwrap();
        assert_eq!(sessions.get("none").await.unwrap(), None);
        let weak = Arc::downgrade(&kv.db.jobs);
        drop((sessions, kv));
        assert!(
            weak.upgrade().is_none(),
            "the connection outlived its stores"
        );
        let again = SqliteKvStore::open(dir.join("w.db")).unwrap();
        assert_eq!(
            again.get(&ns, "k").await.unwrap().as_deref(),
            Some(&b"v"[..])
        );
        // Another file under the same name (the old one deleted while still open): its
        // own connection, not the one to the deleted file.
        for f in ["w.db", "w.db-wal", "w.db-shm"] {
            let _ = std::fs::remove_file(dir.join(f));
        }
        let fresh = SqliteKvStore::open(dir.join("w.db")).unwrap();
        assert!(!Arc::ptr_eq(&again.db.jobs, &fresh.db.jobs));
        assert_eq!(fresh.get(&ns, "k").await.unwrap(), None);
        std::fs::remove_dir_all(&dir).ok();
    }
}
