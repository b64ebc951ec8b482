//! The two SQL engines behind [`super::SqlStore`]: SQLite (rusqlite on Tokio's blocking
//! pool) and PostgreSQL (tokio-postgres), reduced to one small surface: a [`Session`] that
//! runs statements with `$n` placeholders, optionally inside a transaction.
//!
//! SQLite serializes sessions with an async lock, so a transaction holds its connection
//! exclusively; PostgreSQL gives each session a connection of its pool, so sessions run
//! side by side and rely on the statements' own locking (`FOR UPDATE`). A session
//! dropped before `commit` rolls back (SQLite at once, PostgreSQL before its connection
//! is reused).

use std::sync::{Arc, Mutex};

use bytes::BytesMut;
use tokio::sync::{Mutex as AsyncMutex, MutexGuard as AsyncMutexGuard};
use tokio_postgres::types::{to_sql_checked, IsNull, ToSql, Type};
use widgetry_store::{PgConn, PgPool, PostgresConfig};

use super::{StoreError, StoreResult};

/// One SQL value: the schema uses only 64-bit integers and text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Val {
    Null,
    Int(i64),
    Text(String),
}

impl From<i64> for Val {
    fn from(v: i64) -> Self {
        Val::Int(v)
    }
}
impl From<bool> for Val {
    fn from(v: bool) -> Self {
        Val::Int(i64::from(v))
    }
}
impl From<&str> for Val {
    fn from(v: &str) -> Self {
        Val::Text(v.to_owned())
    }
}
impl From<&String> for Val {
    fn from(v: &String) -> Self {
        Val::Text(v.clone())
    }
}
impl From<String> for Val {
    fn from(v: String) -> Self {
        Val::Text(v)
    }
}
impl From<Option<String>> for Val {
    fn from(v: Option<String>) -> Self {
        v.map_or(Val::Null, Val::Text)
    }
}
impl From<Option<&str>> for Val {
    fn from(v: Option<&str>) -> Self {
        v.map_or(Val::Null, |s| Val::Text(s.to_owned()))
    }
}
impl From<Option<i64>> for Val {
    fn from(v: Option<i64>) -> Self {
        v.map_or(Val::Null, Val::Int)
    }
}

/// Builds a `Vec<Val>` from heterogeneous values.
macro_rules! vals {
    ($($v:expr),* $(,)?) => { vec![$($crate::store::backend::Val::from($v)),*] };
}
pub(crate) use vals;

/// One result row.
#[derive(Debug)]
pub(crate) struct Row(Vec<Val>);

fn corrupt(col: usize, want: &str) -> StoreError {
    StoreError::Corrupt(format!("column {col} is not {want}"))
}

impl Row {
    pub(crate) fn text(&self, i: usize) -> StoreResult<String> {
        match self.0.get(i) {
            Some(Val::Text(s)) => Ok(s.clone()),
            _ => Err(corrupt(i, "text")),
        }
    }
    pub(crate) fn opt_text(&self, i: usize) -> StoreResult<Option<String>> {
        match self.0.get(i) {
            Some(Val::Text(s)) => Ok(Some(s.clone())),
            Some(Val::Null) => Ok(None),
            _ => Err(corrupt(i, "text or null")),
        }
    }
    pub(crate) fn int(&self, i: usize) -> StoreResult<i64> {
        match self.0.get(i) {
            Some(Val::Int(v)) => Ok(*v),
            _ => Err(corrupt(i, "an integer")),
        }
    }
    pub(crate) fn opt_int(&self, i: usize) -> StoreResult<Option<i64>> {
        match self.0.get(i) {
            Some(Val::Int(v)) => Ok(Some(*v)),
            Some(Val::Null) => Ok(None),
            _ => Err(corrupt(i, "an integer or null")),
        }
    }
    pub(crate) fn flag(&self, i: usize) -> StoreResult<bool> {
        Ok(self.int(i)? != 0)
    }
}

fn unavailable(e: impl std::fmt::Display) -> StoreError {
    StoreError::Unavailable(e.to_string())
}

// ---------------------------------------------------------------- SQLite

impl rusqlite::ToSql for Val {
    fn to_sql(&self) -> rusqlite::Result<rusqlite::types::ToSqlOutput<'_>> {
        use rusqlite::types::{ToSqlOutput, Value, ValueRef};
        Ok(match self {
            Val::Null => ToSqlOutput::Owned(Value::Null),
            Val::Int(v) => ToSqlOutput::Owned(Value::Integer(*v)),
            Val::Text(s) => ToSqlOutput::Borrowed(ValueRef::Text(s.as_bytes())),
        })
    }
}

pub(crate) struct SqliteDb {
    conn: Arc<Mutex<rusqlite::Connection>>,
    lock: AsyncMutex<()>,
}

impl SqliteDb {
    pub(crate) fn new(conn: rusqlite::Connection) -> Self {
        Self {
            conn: Arc::new(Mutex::new(conn)),
            lock: AsyncMutex::new(()),
        }
    }

    async fn run<T: Send + 'static>(
        &self,
        f: impl FnOnce(&rusqlite::Connection) -> rusqlite::Result<T> + Send + 'static,
    ) -> StoreResult<T> {
        let conn = Arc::clone(&self.conn);
        tokio::task::spawn_blocking(move || {
            let guard = conn
                .lock()
                .map_err(|_| StoreError::Unavailable("SQLite connection poisoned".into()))?;
            f(&guard).map_err(unavailable)
        })
        .await
        .map_err(|e| StoreError::Unavailable(format!("SQLite worker failed: {e}")))?
    }
}

fn sqlite_rows(
    conn: &rusqlite::Connection,
    sql: &str,
    params: &[Val],
) -> rusqlite::Result<Vec<Row>> {
    use rusqlite::types::ValueRef;
    let mut stmt = conn.prepare_cached(sql)?;
    let cols = stmt.column_count();
    let mut rows = stmt.query(rusqlite::params_from_iter(params.iter()))?;
    let mut out = Vec::new();
    while let Some(row) = rows.next()? {
        let mut vals = Vec::with_capacity(cols);
        for i in 0..cols {
            vals.push(match row.get_ref(i)? {
                ValueRef::Null => Val::Null,
                ValueRef::Integer(v) => Val::Int(v),
                ValueRef::Real(v) => Val::Int(v as i64),
                ValueRef::Text(t) | ValueRef::Blob(t) => {
                    Val::Text(String::from_utf8_lossy(t).into_owned())
                }
            });
        }
        out.push(Row(vals));
    }
    Ok(out)
}

// ---------------------------------------------------------------- PostgreSQL

impl ToSql for Val {
    fn to_sql(
        &self,
        ty: &Type,
        out: &mut BytesMut,
    ) -> Result<IsNull, Box<dyn std::error::Error + Sync + Send>> {
        match self {
            Val::Null => Ok(IsNull::Yes),
            Val::Int(v) if *ty == Type::INT4 => i32::try_from(*v)?.to_sql_checked(ty, out),
            Val::Int(v) => v.to_sql_checked(ty, out),
            Val::Text(s) => s.to_sql_checked(ty, out),
        }
    }

    fn accepts(_: &Type) -> bool {
        true
    }

    to_sql_checked!();
}

/// The PostgreSQL engine: a pool of connections (TLS, size and timeouts from the URL,
/// see [`widgetry_store::PostgresConfig`]), so sessions run side by side.
pub(crate) struct PgDb {
    pool: PgPool,
}

/// A store error of the shared pool, as this crate reports it.
fn from_pool(e: widgetry_store::StoreError) -> StoreError {
    use widgetry_store::StoreError as E;
    match e {
        E::Unavailable(m) | E::Invalid(m) => StoreError::Unavailable(m),
        E::Corrupt(m) => StoreError::Corrupt(m),
        E::InvalidConfig(m) => StoreError::InvalidLocation(m),
    }
}

impl PgDb {
    /// Reads the URL and its options; connects on first use.
    pub(crate) fn new(url: &str) -> StoreResult<Self> {
        Ok(Self {
            pool: PgPool::new(&PostgresConfig::new(url)).map_err(from_pool)?,
        })
    }
}

fn pg_rows(rows: Vec<tokio_postgres::Row>) -> StoreResult<Vec<Row>> {
    let mut out = Vec::with_capacity(rows.len());
    for row in rows {
        let mut vals = Vec::with_capacity(row.len());
        for (i, col) in row.columns().iter().enumerate() {
            let ty = col.type_();
            let v = if *ty == Type::INT8 {
                row.try_get::<_, Option<i64>>(i)
                    .map(|v| v.map_or(Val::Null, Val::Int))
            } else if *ty == Type::INT4 {
                row.try_get::<_, Option<i32>>(i)
                    .map(|v| v.map_or(Val::Null, |v| Val::Int(i64::from(v))))
            } else if *ty == Type::BOOL {
                row.try_get::<_, Option<bool>>(i)
                    .map(|v| v.map_or(Val::Null, |v| Val::Int(i64::from(v))))
            } else {
                row.try_get::<_, Option<String>>(i)
                    .map(|v| v.map_or(Val::Null, Val::Text))
            };
            vals.push(v.map_err(|e| StoreError::Corrupt(format!("column {i}: {e}")))?);
        }
        out.push(Row(vals));
    }
    Ok(out)
}

// ---------------------------------------------------------------- both

pub(crate) enum Db {
    Sqlite(SqliteDb),
    Postgres(PgDb),
}

/// One unit of work on the store. Lives for one operation on the stack, so the
/// PostgreSQL connection is held inline rather than boxed (a box would cost an allocation
/// per store operation to save stack space nobody is short of).
#[allow(clippy::large_enum_variant)]
pub(crate) enum Session<'a> {
    Sqlite {
        db: &'a SqliteDb,
        _guard: AsyncMutexGuard<'a, ()>,
        in_tx: bool,
    },
    /// A pooled connection; dropped inside a transaction, the pool rolls it back.
    Postgres(PgConn),
}

impl Db {
    /// Opens a session; `transaction` wraps it in BEGIN … COMMIT.
    pub(crate) async fn session(&self, transaction: bool) -> StoreResult<Session<'_>> {
        match self {
            Db::Sqlite(db) => {
                let guard = db.lock.lock().await;
                if transaction {
                    db.run(|c| c.execute_batch("BEGIN IMMEDIATE")).await?;
                }
                Ok(Session::Sqlite {
                    db,
                    _guard: guard,
                    in_tx: transaction,
                })
            }
            Db::Postgres(db) => {
                let mut conn = db.pool.get().await.map_err(from_pool)?;
                if transaction {
                    conn.begin().await.map_err(from_pool)?;
                }
                Ok(Session::Postgres(conn))
            }
        }
    }

    /// The rows of one read outside a transaction. On PostgreSQL a read whose connection
    /// turned out dead (a server restart the pool had not noticed yet) runs once more on
    /// a fresh connection.
    pub(crate) async fn read(&self, sql: &str, params: Vec<Val>) -> StoreResult<Vec<Row>> {
        match self {
            Db::Sqlite(_) => self.session(false).await?.query(sql, params).await,
            Db::Postgres(db) => {
                let refs: Vec<&(dyn ToSql + Sync)> =
                    params.iter().map(|p| p as &(dyn ToSql + Sync)).collect();
                let mut conn = db.pool.get().await.map_err(from_pool)?;
                let rows = match conn.query(sql, &refs).await {
                    Err(_) if conn.is_broken() => {
                        drop(conn);
                        let mut fresh = db.pool.get().await.map_err(from_pool)?;
                        fresh.query(sql, &refs).await
                    }
                    other => other,
                };
                pg_rows(rows.map_err(from_pool)?)
            }
        }
    }
}

impl Session<'_> {
    /// Runs a batch of statements without parameters (schema set-up).
    pub(crate) async fn batch(&mut self, sql: &'static str) -> StoreResult<()> {
        match self {
            Session::Sqlite { db, .. } => db.run(move |c| c.execute_batch(sql)).await,
            Session::Postgres(conn) => conn.batch(sql).await.map_err(from_pool),
        }
    }

    /// Runs a query with `$n` placeholders and returns its rows.
    pub(crate) async fn query(&mut self, sql: &str, params: Vec<Val>) -> StoreResult<Vec<Row>> {
        match self {
            Session::Sqlite { db, .. } => {
                let sql = sql.replace('$', "?");
                db.run(move |c| sqlite_rows(c, &sql, &params)).await
            }
            Session::Postgres(conn) => {
                let refs: Vec<&(dyn ToSql + Sync)> =
                    params.iter().map(|p| p as &(dyn ToSql + Sync)).collect();
                pg_rows(conn.query(sql, &refs).await.map_err(from_pool)?)
            }
        }
    }

    /// Runs a statement with `$n` placeholders and returns how many rows it changed.
    pub(crate) async fn execute(&mut self, sql: &str, params: Vec<Val>) -> StoreResult<u64> {
        match self {
            Session::Sqlite { db, .. } => {
                let sql = sql.replace('$', "?");
                db.run(move |c| {
                    let mut stmt = c.prepare_cached(&sql)?;
                    stmt.execute(rusqlite::params_from_iter(params.iter()))
                        .map(|n| n as u64)
                })
                .await
            }
            Session::Postgres(conn) => {
                let refs: Vec<&(dyn ToSql + Sync)> =
                    params.iter().map(|p| p as &(dyn ToSql + Sync)).collect();
                conn.execute(sql, &refs).await.map_err(from_pool)
            }
        }
    }

    /// The first row of a query, if any.
    pub(crate) async fn query_opt(
        &mut self,
        sql: &str,
        params: Vec<Val>,
    ) -> StoreResult<Option<Row>> {
        Ok(self.query(sql, params).await?.into_iter().next())
    }

    /// Commits the transaction (a no-op outside one).
    pub(crate) async fn commit(mut self) -> StoreResult<()> {
        match &mut self {
            Session::Sqlite { db, in_tx, .. } => {
                if *in_tx {
                    db.run(|c| c.execute_batch("COMMIT")).await?;
                    *in_tx = false;
                }
            }
            Session::Postgres(conn) => conn.commit().await.map_err(from_pool)?,
        }
        Ok(())
    }
}

impl Drop for Session<'_> {
    fn drop(&mut self) {
        if let Session::Sqlite {
            db, in_tx: true, ..
        } = self
        {
            // Still inside the async lock: nobody else can use the connection, and a
            // ROLLBACK is quick. Errors are moot (no transaction left to roll back).
            if let Ok(conn) = db.conn.lock() {
                let _ = conn.execute_batch("ROLLBACK");
            }
        }
        // PostgreSQL: the pool rolls the connection back before reusing it.
    }
}
