//! A small PostgreSQL connection pool: at most `size` connections, opened on demand,
//! each with its own prepared-statement cache, every wait bounded by a timeout (for a
//! free connection, for a new connection, for each statement).
//!
//! A connection that the server closed (restart, `pg_terminate_backend`) is noticed by
//! its background task and never handed out again; one that failed or timed out in use is
//! dropped. So after an outage the pool heals itself with the next request: there is no
//! reconnect loop to tune and no state to reset. A connection given back inside a
//! transaction is rolled back on a task of its own before anyone else gets it, so an
//! early return never leaves row locks behind.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio_postgres::error::SqlState;
use tokio_postgres::tls::MakeTlsConnect;
use tokio_postgres::types::ToSql;
use tokio_postgres::{Client, NoTls, Row, Socket, Statement};

use super::tls::RustlsConnect;
use crate::{StoreError, StoreResult};

/// Pool settings, from [`crate::PostgresConfig`].
pub(crate) struct PoolConfig {
    pub(crate) pg: tokio_postgres::Config,
    /// `host:port/db`, for messages.
    pub(crate) target: String,
    /// The TLS connector, when the URL asks for TLS.
    pub(crate) tls: Option<RustlsConnect>,
    pub(crate) size: usize,
    pub(crate) connect_timeout: Duration,
    /// The wait for a free connection.
    pub(crate) acquire_timeout: Duration,
    /// The wait for one statement's answer.
    pub(crate) op_timeout: Duration,
}

struct Conn {
    client: Client,
    statements: HashMap<String, Statement>,
}

impl Conn {
    /// `sql` prepared on this connection, once.
    async fn prepared(&mut self, sql: &str) -> Result<Statement, tokio_postgres::Error> {
        if let Some(s) = self.statements.get(sql) {
            return Ok(s.clone());
        }
        let s = self.client.prepare(sql).await?;
        self.statements.insert(sql.to_owned(), s.clone());
        Ok(s)
    }
}

/// A pool of PostgreSQL connections, built from a [`crate::PostgresConfig`] (URL, TLS,
/// size and timeouts) by [`PgPool::new`]. Cheap to clone: clones share the connections.
///
/// ```no_run
/// # async fn demo() -> widgetry_store::StoreResult<()> {
/// use widgetry_store::{PgPool, PostgresConfig};
/// let pool = PgPool::new(&PostgresConfig::new("postgres://app@db/app?sslmode=verify-full"))?;
/// let mut conn = pool.get().await?;
/// conn.begin().await?;
/// let n = conn.execute("UPDATE items SET n = n + 1 WHERE id = $1", &[&7i64]).await?;
/// conn.commit().await?;
/// # let _ = n;
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct PgPool {
    inner: Arc<Inner>,
}

struct Inner {
    cfg: PoolConfig,
    idle: Mutex<Vec<Conn>>,
    permits: Arc<Semaphore>,
}

impl fmt::Debug for PgPool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PgPool")
            .field("target", &self.inner.cfg.target)
            .field("size", &self.inner.cfg.size)
            .finish_non_exhaustive()
    }
}

impl PgPool {
    /// A pool for `cfg`: reads the URL and its options and the CA file now, connects on
    /// first use.
    pub fn new(cfg: &crate::PostgresConfig) -> StoreResult<Self> {
        cfg.pool().map(|(pool, _)| pool)
    }

    pub(crate) fn with(cfg: PoolConfig) -> Self {
        let size = cfg.size.max(1);
        Self {
            inner: Arc::new(Inner {
                permits: Arc::new(Semaphore::new(size)),
                idle: Mutex::new(Vec::with_capacity(size)),
                cfg,
            }),
        }
    }

    /// `host:port/db`, for messages.
    pub fn target(&self) -> &str {
        &self.inner.cfg.target
    }

    /// A connection for one operation or transaction: an idle one that is still open, or
    /// a new one. Waits at most the acquire timeout for a free slot.
    pub async fn get(&self) -> StoreResult<PgConn> {
        let inner = &self.inner;
        let permit = tokio::time::timeout(
            inner.cfg.acquire_timeout,
            inner.permits.clone().acquire_owned(),
        )
        .await
        .map_err(|_| {
            StoreError::Unavailable(format!(
                "all {} connections to PostgreSQL at {} stayed busy for {:?}",
                inner.cfg.size, inner.cfg.target, inner.cfg.acquire_timeout
            ))
        })?
        .map_err(|_| StoreError::Unavailable("the PostgreSQL pool is closed".into()))?;
        let reused = {
            let mut idle = inner.idle.lock().unwrap_or_else(|p| p.into_inner());
            idle.retain(|c| !c.client.is_closed());
            idle.pop()
        };
        let conn = match reused {
            Some(c) => c,
            None => inner.connect().await?,
        };
        Ok(PgConn {
            pool: inner.clone(),
            conn: Some(conn),
            broken: false,
            in_tx: false,
            permit: Some(permit),
        })
    }
}

impl Inner {
    async fn connect(&self) -> StoreResult<Conn> {
        let inner = self;
        let cannot = |why: String| {
            StoreError::Unavailable(format!(
                "cannot reach PostgreSQL at {}: {why}",
                inner.cfg.target
            ))
        };
        let connecting = async {
            match &inner.cfg.tls {
                Some(tls) => spawn_connection(&inner.cfg.pg, tls.clone(), &inner.cfg.target).await,
                None => spawn_connection(&inner.cfg.pg, NoTls, &inner.cfg.target).await,
            }
        };
        let client = tokio::time::timeout(inner.cfg.connect_timeout, connecting)
            .await
            .map_err(|_| {
                cannot(format!(
                    "no connection within {:?}",
                    inner.cfg.connect_timeout
                ))
            })?
            .map_err(|e| cannot(describe(&e)))?;
        Ok(Conn {
            client,
            statements: HashMap::new(),
        })
    }
}

/// Connects with `tls` and drives the connection on its own task.
async fn spawn_connection<T>(
    pg: &tokio_postgres::Config,
    tls: T,
    target: &str,
) -> Result<Client, tokio_postgres::Error>
where
    T: MakeTlsConnect<Socket> + 'static,
    T::Stream: Send + 'static,
    T::TlsConnect: Send,
    <T::TlsConnect as tokio_postgres::tls::TlsConnect<Socket>>::Future: Send,
{
    let (client, connection) = pg.connect(tls).await?;
    let target = target.to_owned();
    tokio::spawn(async move {
        if let Err(e) = connection.await {
            tracing::debug!(target = %target, error = %e, "PostgreSQL connection ended");
        }
    });
    Ok(client)
}

/// One checked-out connection of a [`PgPool`]; goes back to the pool when dropped,
/// unless it broke (rolled back first when dropped inside a transaction).
pub struct PgConn {
    pool: Arc<Inner>,
    conn: Option<Conn>,
    broken: bool,
    in_tx: bool,
    permit: Option<OwnedSemaphorePermit>,
}

impl fmt::Debug for PgConn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PgConn")
            .field("target", &self.pool.cfg.target)
            .field("in_transaction", &self.in_tx)
            .field("broken", &self.broken)
            .finish()
    }
}

impl PgConn {
    fn conn(&mut self) -> StoreResult<&mut Conn> {
        self.conn
            .as_mut()
            .ok_or_else(|| StoreError::Unavailable("PostgreSQL connection already released".into()))
    }

    /// Starts a transaction; [`PgConn::commit`] ends it, dropping the connection
    /// before that rolls it back.
    pub async fn begin(&mut self) -> StoreResult<()> {
        self.batch("BEGIN").await?;
        self.in_tx = true;
        Ok(())
    }

    /// Commits the transaction that [`PgConn::begin`] started (a no-op outside one).
    pub async fn commit(&mut self) -> StoreResult<()> {
        if !self.in_tx {
            return Ok(());
        }
        self.batch("COMMIT").await?;
        self.in_tx = false;
        Ok(())
    }

    /// Rows of `sql` (prepared once per connection), with `$n` parameters.
    pub async fn query(
        &mut self,
        sql: &str,
        params: &[&(dyn ToSql + Sync)],
    ) -> StoreResult<Vec<Row>> {
        let timeout = self.pool.cfg.op_timeout;
        let fut = async {
            let conn = self.conn()?;
            let stmt = conn.prepared(sql).await.map_err(Failure::Pg)?;
            conn.client.query(&stmt, params).await.map_err(Failure::Pg)
        };
        let result = tokio::time::timeout(timeout, fut).await;
        self.settle(result)
    }

    /// At most one row of `sql`.
    pub async fn query_opt(
        &mut self,
        sql: &str,
        params: &[&(dyn ToSql + Sync)],
    ) -> StoreResult<Option<Row>> {
        Ok(self.query(sql, params).await?.into_iter().next())
    }

    /// Runs `sql` and returns the number of rows it changed.
    pub async fn execute(&mut self, sql: &str, params: &[&(dyn ToSql + Sync)]) -> StoreResult<u64> {
        let timeout = self.pool.cfg.op_timeout;
        let fut = async {
            let conn = self.conn()?;
            let stmt = conn.prepared(sql).await.map_err(Failure::Pg)?;
            conn.client
                .execute(&stmt, params)
                .await
                .map_err(Failure::Pg)
        };
        let result = tokio::time::timeout(timeout, fut).await;
        self.settle(result)
    }

    /// Runs several statements with the simple query protocol (schema set-up). A failed
    /// batch closes the connection, since it may have left a transaction open.
    pub async fn batch(&mut self, sql: &str) -> StoreResult<()> {
        let timeout = self.pool.cfg.op_timeout;
        let fut = async {
            let conn = self.conn()?;
            conn.client.batch_execute(sql).await.map_err(Failure::Pg)
        };
        let result = tokio::time::timeout(timeout, fut).await;
        // Whatever failed, the session may sit in an aborted transaction: do not reuse it.
        if !matches!(result, Ok(Ok(_))) {
            self.broken = true;
        }
        self.settle(result)
    }

    /// The outcome of a bounded call.
    fn settle<T>(
        &mut self,
        result: Result<Result<T, Failure>, tokio::time::error::Elapsed>,
    ) -> StoreResult<T> {
        result
            .unwrap_or(Err(Failure::Timeout))
            .map_err(|f| self.fail(f))
    }

    /// Turns a failure into a store error, marking the connection broken when the failure
    /// was the connection's rather than the statement's.
    fn fail(&mut self, f: Failure) -> StoreError {
        let target = &self.pool.cfg.target;
        match f {
            Failure::Store(e) => e,
            Failure::Timeout => {
                self.broken = true;
                StoreError::Unavailable(format!(
                    "PostgreSQL at {target} did not answer within {:?}",
                    self.pool.cfg.op_timeout
                ))
            }
            Failure::Pg(e) => match e.as_db_error() {
                // The server rejected a value (class 22, data exception): the caller's.
                Some(db) if db.code().code().starts_with("22") => {
                    StoreError::Invalid(format!("PostgreSQL rejected a value: {}", db.message()))
                }
                Some(db)
                    if *db.code() == SqlState::ADMIN_SHUTDOWN
                        || *db.code() == SqlState::CRASH_SHUTDOWN
                        || *db.code() == SqlState::CANNOT_CONNECT_NOW =>
                {
                    self.broken = true;
                    StoreError::Unavailable(format!(
                        "cannot reach PostgreSQL at {target}: {} ({})",
                        db.message(),
                        db.code().code()
                    ))
                }
                Some(db) => StoreError::Unavailable(format!(
                    "PostgreSQL at {target} refused the statement: {} ({})",
                    db.message(),
                    db.code().code()
                )),
                None => {
                    self.broken = true;
                    StoreError::Unavailable(format!(
                        "lost the connection to PostgreSQL at {target}: {}",
                        describe(&e)
                    ))
                }
            },
        }
    }

    /// Closes this connection instead of returning it to the pool.
    pub fn discard(&mut self) {
        self.broken = true;
    }

    /// Whether the last failure was the connection's (so a retry on another connection
    /// may succeed).
    pub fn is_broken(&self) -> bool {
        self.broken
    }
}

impl Inner {
    fn give_back(&self, conn: Conn) {
        if !conn.client.is_closed() {
            let mut idle = self.idle.lock().unwrap_or_else(|p| p.into_inner());
            idle.push(conn);
        }
    }
}

impl Drop for PgConn {
    fn drop(&mut self) {
        let Some(conn) = self.conn.take() else { return };
        if self.broken {
            return;
        }
        if !self.in_tx {
            self.pool.give_back(conn);
            return;
        }
        // Inside a transaction: roll back before the connection is reused, holding the
        // slot meanwhile. Without a runtime, closing the connection rolls back instead.
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let (pool, permit) = (self.pool.clone(), self.permit.take());
        runtime.spawn(async move {
            let rollback = conn.client.batch_execute("ROLLBACK");
            if let Ok(Ok(())) = tokio::time::timeout(pool.cfg.op_timeout, rollback).await {
                pool.give_back(conn);
            }
            drop(permit);
        });
    }
}

enum Failure {
    Store(StoreError),
    Pg(tokio_postgres::Error),
    Timeout,
}

impl From<StoreError> for Failure {
    fn from(e: StoreError) -> Self {
        Failure::Store(e)
    }
}

/// A `tokio_postgres::Error` with its cause: the bare error says only "error connecting
/// to server", the cause says "Connection refused".
fn describe(e: &tokio_postgres::Error) -> String {
    if let Some(db) = e.as_db_error() {
        return format!("{} ({})", db.message(), db.code().code());
    }
    let mut out = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        out.push_str(": ");
        out.push_str(&s.to_string());
        source = s.source();
    }
    out
}

/// Runs `$body` with a pooled connection bound to `$c`; when the connection broke under
/// an idempotent operation, runs it once more on a fresh connection.
macro_rules! with_conn {
    ($pool:expr, $retry:expr, |$c:ident| $body:expr) => {{
        let mut retried = false;
        loop {
            let mut $c = $pool.get().await?;
            let result = $body;
            if result.is_err() && $c.is_broken() && $retry == crate::Retry::Idempotent && !retried {
                retried = true;
                continue;
            }
            break result;
        }
    }};
}
pub(crate) use with_conn;
