//! The PostgreSQL stores, for several instances sharing one database.
//!
//! Plain TCP, a Unix socket, or TLS with rustls (`sslmode` in the URL, see [`tls`]).
//! Tables are created or upgraded by versioned migrations ([`crate::schema`]) under an
//! advisory lock, so that instances starting together do not race. Every operation is one statement, so each is atomic on
//! its own; expiry is enforced in the `WHERE` clause of every read.

mod migrate;
mod pool;
mod tls;

use std::fmt;
use std::time::Duration;

use tokio_postgres::config::{Host, SslMode};

use crate::kv::{self, check_key, check_prefix, expiry, KvEntry, KvStore, Namespace};
use crate::redact::redact;
use crate::schema::Migration;
use crate::url_options::UrlOptions;
use crate::{
    ms_i64, now_ms, BoxFuture, Retry, SessionRecord, SessionStore, StoreError, StoreResult,
};
use pool::{with_conn, PoolConfig};
pub use pool::{PgConn, PgPool};
use tls::PgTls;

/// Where and how to connect to PostgreSQL.
///
/// ```
/// use std::time::Duration;
/// use widgetry_store::PostgresConfig;
/// let cfg = PostgresConfig::new("postgres://app:secret@db.internal:5432/app")
///     .schema("widgetry")
///     .pool_size(16)
///     .op_timeout(Duration::from_secs(3));
/// assert!(!format!("{cfg:?}").contains("secret"));
/// ```
#[derive(Clone)]
pub struct PostgresConfig {
    url: String,
    schema: Option<String>,
    pool_size: usize,
    connect_timeout: Duration,
    op_timeout: Duration,
    acquire_timeout: Duration,
}

impl fmt::Debug for PostgresConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PostgresConfig")
            .field("url", &redact(&self.url))
            .field("schema", &self.schema)
            .field("pool_size", &self.pool_size)
            .field("connect_timeout", &self.connect_timeout)
            .field("op_timeout", &self.op_timeout)
            .field("acquire_timeout", &self.acquire_timeout)
            .finish()
    }
}

impl PostgresConfig {
    /// A configuration for `url` (`postgres://user:pass@host:port/db?application_name=…`
    /// or `host=… user=…`), with 8 connections, a 2 s connect timeout, a 5 s wait for a
    /// free connection and a 5 s timeout per statement.
    ///
    /// Besides the driver's own options, the URL may carry these (they win over the
    /// builder methods): `sslmode` (`disable`, `prefer`, `require`, `verify-ca`,
    /// `verify-full`) and `sslrootcert` (a PEM file of trusted CAs) for TLS,
    /// `pool_max_size`, `pool_acquire_timeout_ms` and `statement_timeout_ms`; the
    /// driver reads `connect_timeout` (seconds). `sslmode` absent means no TLS; every mode
    /// that uses TLS checks the certificate against Mozilla's roots (or only the CAs of
    /// `sslrootcert`) and, except `verify-ca`, that it names the host.
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            schema: None,
            pool_size: 8,
            connect_timeout: Duration::from_secs(2),
            op_timeout: Duration::from_secs(5),
            acquire_timeout: Duration::from_secs(5),
        }
    }

    /// Keeps the tables in this schema (created when missing) instead of the connection's
    /// `search_path`. Lower-case letters, digits and `_`, at most 63 bytes.
    pub fn schema(mut self, schema: impl Into<String>) -> Self {
        self.schema = Some(schema.into());
        self
    }

    /// The most connections the store opens at once (at least 1).
    pub fn pool_size(mut self, size: usize) -> Self {
        self.pool_size = size.max(1);
        self
    }

    /// How long to wait for a new connection (unless the URL sets `connect_timeout`).
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// How long one statement may take before its connection is given up (unless the URL
    /// sets `statement_timeout_ms`).
    pub fn op_timeout(mut self, timeout: Duration) -> Self {
        self.op_timeout = timeout;
        self
    }

    /// How long an operation waits for a free connection when all `pool_size` are busy
    /// (unless the URL sets `pool_acquire_timeout_ms`).
    pub fn acquire_timeout(mut self, timeout: Duration) -> Self {
        self.acquire_timeout = timeout;
        self
    }

    /// Reads the URL and its options, and builds the (still empty) pool.
    fn pool(&self) -> StoreResult<(PgPool, String)> {
        let mut ours = vec![POOL_MAX_SIZE, ACQUIRE_TIMEOUT, STATEMENT_TIMEOUT];
        ours.extend(tls::OPTIONS);
        let options = UrlOptions::take(&self.url, &ours);
        let mut pg: tokio_postgres::Config = options.rest.parse().map_err(|e| {
            StoreError::InvalidConfig(format!(
                "cannot parse the PostgreSQL URL {}: {e}",
                redact(&self.url)
            ))
        })?;
        let tls = PgTls::from_options(&options)?;
        let connector = match &tls {
            Some(t) => {
                pg.ssl_mode(t.mode);
                Some(t.connector()?)
            }
            None => {
                pg.ssl_mode(SslMode::Disable);
                None
            }
        };
        if pg.get_connect_timeout().is_none() {
            pg.connect_timeout(self.connect_timeout);
        }
        let connect_timeout = *pg.get_connect_timeout().unwrap_or(&self.connect_timeout);
        let qualifier = match &self.schema {
            Some(s) if valid_schema(s) => format!("\"{s}\"."),
            Some(s) => {
                return Err(StoreError::InvalidConfig(format!(
                    "PostgreSQL schema {s:?} is not 1 to 63 lower-case letters, digits or '_' \
                     starting with a letter or '_'"
                )))
            }
            None => String::new(),
        };
        let size = options
            .number(POOL_MAX_SIZE, 1, 1024)?
            .map_or(self.pool_size, |n| n as usize);
        let pool = PgPool::with(PoolConfig {
            target: target(&pg),
            pg,
            tls: connector,
            size,
            connect_timeout,
            acquire_timeout: options
                .millis(ACQUIRE_TIMEOUT)?
                .unwrap_or(self.acquire_timeout),
            op_timeout: options
                .millis(STATEMENT_TIMEOUT)?
                .unwrap_or(self.op_timeout),
        });
        Ok((pool, qualifier))
    }

    /// Builds the pool, connects once, and brings `component`'s tables up to date.
    async fn open(
        &self,
        component: &str,
        migrations: &[Migration],
    ) -> StoreResult<(PgPool, String)> {
        let (pool, qualifier) = self.pool()?;
        migrate::migrate(
            &pool,
            self.schema.as_deref(),
            &qualifier,
            component,
            migrations,
        )
        .await?;
        Ok((pool, qualifier))
    }
}

/// URL option: the most connections of the pool.
const POOL_MAX_SIZE: &str = "pool_max_size";
/// URL option: milliseconds an operation waits for a free connection.
const ACQUIRE_TIMEOUT: &str = "pool_acquire_timeout_ms";
/// URL option: milliseconds one statement may take.
const STATEMENT_TIMEOUT: &str = "statement_timeout_ms";

fn valid_schema(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && b.len() <= 63
        && (b[0].is_ascii_lowercase() || b[0] == b'_')
        && b.iter()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'_')
}

/// `host:port/db` of a configuration, for messages.
fn target(pg: &tokio_postgres::Config) -> String {
    let port = pg.get_ports().first().copied().unwrap_or(5432);
    let host = match pg.get_hosts().first() {
        Some(Host::Tcp(h)) => format!("{h}:{port}"),
        Some(Host::Unix(p)) => format!("{}/.s.PGSQL.{port}", p.display()),
        None => format!("localhost:{port}"),
    };
    let db = pg.get_dbname().or(pg.get_user()).unwrap_or("postgres");
    format!("{host}/{db}")
}

// ------------------------------------------------------------------ sessions

/// The schema of `mcp_sessions`; version 1 is the table as first released.
const SESSION_MIGRATIONS: &[Migration] = &[Migration {
    version: 1,
    name: "mcp_sessions table",
    sql: "CREATE TABLE IF NOT EXISTS {q}mcp_sessions (
              id TEXT PRIMARY KEY,
              protocol_version TEXT NOT NULL,
              client TEXT NOT NULL,
              log_level TEXT,
              created_at_ms BIGINT NOT NULL,
              expires_at_ms BIGINT NOT NULL
          );
          CREATE INDEX IF NOT EXISTS mcp_sessions_expiry ON {q}mcp_sessions (expires_at_ms);",
}];

struct SessionSql {
    put: String,
    get: String,
    touch: String,
    delete: String,
    sweep: String,
}

/// MCP transport sessions in PostgreSQL (table `mcp_sessions`), shared by every instance
/// that connects to the same database.
///
/// ```no_run
/// # async fn demo() -> widgetry_store::StoreResult<()> {
/// use widgetry_store::{PostgresSessionStore, SessionStore};
/// let store = PostgresSessionStore::connect("postgres://postgres@127.0.0.1/app").await?;
/// assert!(store.get("unknown").await?.is_none());
/// # Ok(()) }
/// ```
pub struct PostgresSessionStore {
    pool: PgPool,
    sql: SessionSql,
}

impl fmt::Debug for PostgresSessionStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PostgresSessionStore")
            .field("target", &self.pool.target())
            .finish_non_exhaustive()
    }
}

impl PostgresSessionStore {
    /// Connects with the default [`PostgresConfig`] for `url`.
    pub async fn connect(url: &str) -> StoreResult<Self> {
        Self::with_config(PostgresConfig::new(url)).await
    }

    /// Connects, and creates or upgrades the `mcp_sessions` table.
    pub async fn with_config(cfg: PostgresConfig) -> StoreResult<Self> {
        let (pool, q) = cfg.open("mcp_sessions", SESSION_MIGRATIONS).await?;
        let t = format!("{q}mcp_sessions");
        let sql = SessionSql {
            put: format!(
                "INSERT INTO {t} (id, protocol_version, client, log_level, created_at_ms, expires_at_ms)
                 VALUES ($1, $2, $3, $4, $5, $6)
                 ON CONFLICT (id) DO UPDATE SET protocol_version = EXCLUDED.protocol_version,
                     client = EXCLUDED.client, log_level = EXCLUDED.log_level,
                     created_at_ms = EXCLUDED.created_at_ms, expires_at_ms = EXCLUDED.expires_at_ms"
            ),
            get: format!(
                "SELECT id, protocol_version, client, log_level, created_at_ms, expires_at_ms
                 FROM {t} WHERE id = $1 AND expires_at_ms > $2"
            ),
            touch: format!("UPDATE {t} SET expires_at_ms = $2 WHERE id = $1 AND expires_at_ms > $3"),
            delete: format!("DELETE FROM {t} WHERE id = $1 RETURNING expires_at_ms > $2"),
            sweep: format!("DELETE FROM {t} WHERE expires_at_ms <= $1"),
        };
        Ok(Self { pool, sql })
    }
}

fn corrupt(e: tokio_postgres::Error) -> StoreError {
    StoreError::Corrupt(format!("unexpected PostgreSQL column: {e}"))
}

impl SessionStore for PostgresSessionStore {
    fn put(&self, r: SessionRecord) -> BoxFuture<'_, StoreResult<()>> {
        Box::pin(async move {
            let (created, expires) = (ms_i64(r.created_at_ms), ms_i64(r.expires_at_ms));
            with_conn!(self.pool, Retry::Idempotent, |c| {
                c.execute(
                    &self.sql.put,
                    &[
                        &r.id,
                        &r.protocol_version,
                        &r.client,
                        &r.log_level,
                        &created,
                        &expires,
                    ],
                )
                .await
            })
            .map(|_| ())
        })
    }

    fn get<'a>(&'a self, id: &'a str) -> BoxFuture<'a, StoreResult<Option<SessionRecord>>> {
        Box::pin(async move {
            let now = ms_i64(now_ms());
            let row = with_conn!(self.pool, Retry::Idempotent, |c| {
                c.query_opt(&self.sql.get, &[&id, &now]).await
            })?;
            let Some(row) = row else { return Ok(None) };
            Ok(Some(SessionRecord {
                id: row.try_get(0).map_err(corrupt)?,
                protocol_version: row.try_get(1).map_err(corrupt)?,
                client: row.try_get(2).map_err(corrupt)?,
                log_level: row.try_get(3).map_err(corrupt)?,
                created_at_ms: row.try_get::<_, i64>(4).map_err(corrupt)? as u64,
                expires_at_ms: row.try_get::<_, i64>(5).map_err(corrupt)? as u64,
            }))
        })
    }

    fn touch<'a>(&'a self, id: &'a str, expires_at_ms: u64) -> BoxFuture<'a, StoreResult<bool>> {
        Box::pin(async move {
            let (now, exp) = (ms_i64(now_ms()), ms_i64(expires_at_ms));
            with_conn!(self.pool, Retry::Idempotent, |c| {
                c.execute(&self.sql.touch, &[&id, &exp, &now]).await
            })
            .map(|n| n > 0)
        })
    }

    fn delete<'a>(&'a self, id: &'a str) -> BoxFuture<'a, StoreResult<bool>> {
        Box::pin(async move {
            let now = ms_i64(now_ms());
            let row = with_conn!(self.pool, Retry::Never, |c| {
                c.query_opt(&self.sql.delete, &[&id, &now]).await
            })?;
            match row {
                Some(row) => row.try_get::<_, bool>(0).map_err(corrupt),
                None => Ok(false),
            }
        })
    }

    fn sweep(&self) -> BoxFuture<'_, StoreResult<u64>> {
        Box::pin(async move {
            let now = ms_i64(now_ms());
            with_conn!(self.pool, Retry::Idempotent, |c| {
                c.execute(&self.sql.sweep, &[&now]).await
            })
        })
    }
}

// ------------------------------------------------------------------ key-value

/// The schema of `widgetry_kv`; version 1 is the table as first released. Keys sort by
/// bytes (COLLATE "C") so that prefix listing agrees with every other backend and uses
/// the primary key's index.
const KV_MIGRATIONS: &[Migration] = &[Migration {
    version: 1,
    name: "widgetry_kv table",
    sql: "CREATE TABLE IF NOT EXISTS {q}widgetry_kv (
              ns TEXT NOT NULL,
              key TEXT COLLATE \"C\" NOT NULL,
              value BYTEA NOT NULL,
              expires_at_ms BIGINT,
              PRIMARY KEY (ns, key)
          );
          CREATE INDEX IF NOT EXISTS widgetry_kv_expiry ON {q}widgetry_kv (expires_at_ms)
              WHERE expires_at_ms IS NOT NULL;",
}];

struct KvSql {
    get: String,
    put: String,
    delete: String,
    incr: String,
    list: String,
    put_if_absent: String,
    sweep: String,
}

/// App data in PostgreSQL (table `widgetry_kv`), shared by every instance that connects
/// to the same database.
///
/// ```no_run
/// # async fn demo() -> widgetry_store::StoreResult<()> {
/// use widgetry_store::{KvStore, Namespace, PostgresConfig, PostgresKvStore};
/// let kv = PostgresKvStore::with_config(
///     PostgresConfig::new("postgres://postgres@127.0.0.1/app").schema("widgetry"),
/// )
/// .await?;
/// static HITS: Namespace = Namespace::from_static("hits");
/// kv.incr(&HITS, "home", 1, None).await?;
/// # Ok(()) }
/// ```
pub struct PostgresKvStore {
    pool: PgPool,
    sql: KvSql,
}

impl fmt::Debug for PostgresKvStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PostgresKvStore")
            .field("target", &self.pool.target())
            .finish_non_exhaustive()
    }
}

impl PostgresKvStore {
    /// Connects with the default [`PostgresConfig`] for `url`.
    pub async fn connect(url: &str) -> StoreResult<Self> {
        Self::with_config(PostgresConfig::new(url)).await
    }

    /// Connects, and creates or upgrades the `widgetry_kv` table.
    pub async fn with_config(cfg: PostgresConfig) -> StoreResult<Self> {
        let (pool, q) = cfg.open("widgetry_kv", KV_MIGRATIONS).await?;
        let t = format!("{q}widgetry_kv");
        let live = "(expires_at_ms IS NULL OR expires_at_ms > $3)";
        let expired = "(kv.expires_at_ms IS NOT NULL AND kv.expires_at_ms <= $5)";
        let sql = KvSql {
            get: format!("SELECT value FROM {t} WHERE ns = $1 AND key = $2 AND {live}"),
            put: format!(
                "INSERT INTO {t} (ns, key, value, expires_at_ms) VALUES ($1, $2, $3, $4)
                 ON CONFLICT (ns, key) DO UPDATE
                 SET value = EXCLUDED.value, expires_at_ms = EXCLUDED.expires_at_ms"
            ),
            delete: format!(
                "DELETE FROM {t} WHERE ns = $1 AND key = $2
                 RETURNING (expires_at_ms IS NULL OR expires_at_ms > $3)"
            ),
            // One statement: the conflicting row is locked, so concurrent increments
            // serialize. An expired counter restarts at `by` with the new expiry.
            incr: format!(
                "INSERT INTO {t} AS kv (ns, key, value, expires_at_ms)
                 VALUES ($1, $2, convert_to($3::bigint::text, 'UTF8'), $4)
                 ON CONFLICT (ns, key) DO UPDATE SET
                     value = CASE WHEN {expired} THEN EXCLUDED.value
                         ELSE convert_to((convert_from(kv.value, 'UTF8')::bigint + $3::bigint)::text, 'UTF8')
                         END,
                     expires_at_ms = CASE WHEN {expired} THEN EXCLUDED.expires_at_ms
                         ELSE kv.expires_at_ms END
                 RETURNING convert_from(value, 'UTF8')::bigint"
            ),
            list: format!(
                "SELECT key, value FROM {t}
                 WHERE ns = $1 AND key >= $2 AND {live} ORDER BY key LIMIT $4"
            ),
            put_if_absent: format!(
                "INSERT INTO {t} AS kv (ns, key, value, expires_at_ms) VALUES ($1, $2, $3, $4)
                 ON CONFLICT (ns, key) DO UPDATE
                 SET value = EXCLUDED.value, expires_at_ms = EXCLUDED.expires_at_ms
                 WHERE {expired}"
            ),
            sweep: format!(
                "DELETE FROM {t} WHERE expires_at_ms IS NOT NULL AND expires_at_ms <= $1"
            ),
        };
        Ok(Self { pool, sql })
    }
}

impl KvStore for PostgresKvStore {
    fn get<'a>(
        &'a self,
        ns: &'a Namespace,
        key: &'a str,
    ) -> BoxFuture<'a, StoreResult<Option<Vec<u8>>>> {
        Box::pin(async move {
            check_key(key)?;
            let now = ms_i64(now_ms());
            let row = with_conn!(self.pool, Retry::Idempotent, |c| {
                c.query_opt(&self.sql.get, &[&ns.as_str(), &key, &now])
                    .await
            })?;
            row.map(|r| r.try_get::<_, Vec<u8>>(0).map_err(corrupt))
                .transpose()
        })
    }

    fn put<'a>(
        &'a self,
        ns: &'a Namespace,
        key: &'a str,
        value: &'a [u8],
        ttl: Option<Duration>,
    ) -> BoxFuture<'a, StoreResult<()>> {
        Box::pin(async move {
            check_key(key)?;
            let exp = expiry(ttl).map(ms_i64);
            with_conn!(self.pool, Retry::Idempotent, |c| {
                c.execute(&self.sql.put, &[&ns.as_str(), &key, &value, &exp])
                    .await
            })
            .map(|_| ())
        })
    }

    fn delete<'a>(&'a self, ns: &'a Namespace, key: &'a str) -> BoxFuture<'a, StoreResult<bool>> {
        Box::pin(async move {
            check_key(key)?;
            let now = ms_i64(now_ms());
            let row = with_conn!(self.pool, Retry::Never, |c| {
                c.query_opt(&self.sql.delete, &[&ns.as_str(), &key, &now])
                    .await
            })?;
            match row {
                Some(row) => row.try_get::<_, bool>(0).map_err(corrupt),
                None => Ok(false),
            }
        })
    }

    fn incr<'a>(
        &'a self,
        ns: &'a Namespace,
        key: &'a str,
        by: i64,
        ttl: Option<Duration>,
    ) -> BoxFuture<'a, StoreResult<i64>> {
        Box::pin(async move {
            check_key(key)?;
            let (exp, now) = (expiry(ttl).map(ms_i64), ms_i64(now_ms()));
            let rows = with_conn!(self.pool, Retry::Never, |c| {
                c.query(&self.sql.incr, &[&ns.as_str(), &key, &by, &exp, &now])
                    .await
            })
            .map_err(|e| match e {
                StoreError::Invalid(m) if m.contains("out of range") => kv::overflow(ns, key, by),
                StoreError::Invalid(_) => kv::not_a_counter(ns, key),
                other => other,
            })?;
            let row = rows.into_iter().next().ok_or_else(|| {
                StoreError::Corrupt("PostgreSQL returned no row for an increment".into())
            })?;
            row.try_get::<_, i64>(0).map_err(corrupt)
        })
    }

    fn list<'a>(
        &'a self,
        ns: &'a Namespace,
        prefix: &'a str,
        limit: usize,
    ) -> BoxFuture<'a, StoreResult<Vec<KvEntry>>> {
        Box::pin(async move {
            check_prefix(prefix)?;
            let now = ms_i64(now_ms());
            let limit = i64::try_from(limit).unwrap_or(i64::MAX);
            let rows = with_conn!(self.pool, Retry::Idempotent, |c| {
                c.query(&self.sql.list, &[&ns.as_str(), &prefix, &now, &limit])
                    .await
            })?;
            let mut out = Vec::with_capacity(rows.len());
            for row in rows {
                let key: String = row.try_get(0).map_err(corrupt)?;
                if !key.starts_with(prefix) {
                    break;
                }
                out.push((key, row.try_get(1).map_err(corrupt)?));
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
        Box::pin(async move {
            check_key(key)?;
            let (exp, now) = (expiry(ttl).map(ms_i64), ms_i64(now_ms()));
            with_conn!(self.pool, Retry::Never, |c| {
                c.execute(
                    &self.sql.put_if_absent,
                    &[&ns.as_str(), &key, &value, &exp, &now],
                )
                .await
            })
            .map(|n| n > 0)
        })
    }

    fn sweep(&self) -> BoxFuture<'_, StoreResult<u64>> {
        Box::pin(async move {
            let now = ms_i64(now_ms());
            with_conn!(self.pool, Retry::Idempotent, |c| {
                c.execute(&self.sql.sweep, &[&now]).await
            })
        })
    }
}
