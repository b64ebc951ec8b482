//! [`SqlStore`]: the [`AuthzStore`] on SQLite or PostgreSQL, one schema and one set of
//! statements for both (`$n` placeholders, 64-bit integers and text only).

use std::path::Path;

use super::{
    AuthzStore, BoxFuture, ClientRecord, CodeRecord, CodeUse, GrantRecord, PendingAuthorization,
    RefreshRotation, RefreshTokenRecord, SigningKeyRecord, StoreError, StoreResult, UserRecord,
};
use crate::store::backend::{Db, PgDb, Row, Session, SqliteDb, Val};

// Column lists as macros, so that `concat!` builds every statement once, at compile time.
macro_rules! user_cols {
    () => {
        "id, username, name, password_hash, scopes, totp_secret, totp_last_step, created_at"
    };
}
macro_rules! client_cols {
    () => {
        "client_id, secret_hash, name, redirect_uris, grant_types, auth_method, \
         scope, client_uri, kind, created_at, last_used_at"
    };
}
macro_rules! pending_cols {
    () => {
        "id, browser_hash, csrf_hash, stage, user_id, request, expires_at"
    };
}
macro_rules! grant_cols {
    () => {
        "id, client_id, user_id, scope, resource, refresh_allowed, created_at, revoked_at"
    };
}
macro_rules! code_cols {
    () => {
        "code_hash, grant_id, redirect_uri, code_challenge, expires_at, used_at, redirect_uri_sent"
    };
}
macro_rules! refresh_cols {
    () => {
        "token_hash, grant_id, parent_hash, state, issued_at, expires_at"
    };
}
macro_rules! key_cols {
    () => {
        "kid, alg, private_key, public_jwk, created_at, active, publish_until, max_token_exp"
    };
}

/// `SELECT <columns> FROM <rest>`.
macro_rules! select {
    ($cols:ident, $rest:literal) => {
        concat!("SELECT ", $cols!(), " FROM ", $rest)
    };
}

/// `INSERT INTO <table> (<columns>) <rest>`.
macro_rules! insert {
    ($table:literal, $cols:ident, $rest:literal) => {
        concat!("INSERT INTO ", $table, " (", $cols!(), ") ", $rest)
    };
}

/// A read that locks its rows inside a transaction, as `[SQLite, PostgreSQL]`: SQLite's
/// transaction already holds the whole database, PostgreSQL adds ` FOR UPDATE`. Pick one
/// with `SqlStore::locking`.
macro_rules! locking {
    ($($sql:tt)*) => {
        [concat!($($sql)*), concat!($($sql)*, " FOR UPDATE")]
    };
}

mod authorizations;
mod clients;
mod counters;
mod keys;
mod schema;
mod sweep;
mod tokens;
mod users;

/// The authorization store on SQLite (one file, WAL) or PostgreSQL (for several
/// instances). Open it with [`SqlStore::open_sqlite`], [`SqlStore::open_postgres`] or
/// [`crate::open_store`].
pub struct SqlStore {
    db: Db,
}

impl std::fmt::Debug for SqlStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let engine = match self.db {
            Db::Sqlite(_) => "sqlite",
            Db::Postgres(_) => "postgres",
        };
        f.debug_struct("SqlStore").field("engine", &engine).finish()
    }
}

fn json<T: serde::Serialize>(v: &T) -> StoreResult<String> {
    serde_json::to_string(v).map_err(|e| StoreError::Corrupt(e.to_string()))
}

fn from_json<T: serde::de::DeserializeOwned>(s: &str) -> StoreResult<T> {
    serde_json::from_str(s).map_err(|e| StoreError::Corrupt(e.to_string()))
}

impl SqlStore {
    /// Opens (creating when missing) the SQLite database at `path`, in WAL mode. A new file
    /// is created readable by its owner only (it holds private keys).
    pub async fn open_sqlite(path: impl AsRef<Path>) -> StoreResult<Self> {
        let path = path.as_ref().to_owned();
        let conn = tokio::task::spawn_blocking(move || open_sqlite_file(&path))
            .await
            .map_err(|e| StoreError::Unavailable(format!("SQLite worker failed: {e}")))??;
        let store = Self {
            db: Db::Sqlite(SqliteDb::new(conn)),
        };
        store.migrate().await?;
        Ok(store)
    }

    /// Connects to PostgreSQL (a `postgres://user:password@host:port/db` URL; add
    /// `?options=-csearch_path%3Dschema` to use a schema) and creates or upgrades the
    /// tables. Connections come from a pool and are re-established after an outage; the
    /// URL takes the options of [`widgetry_store::PostgresConfig::new`]: TLS
    /// (`sslmode=verify-full&sslrootcert=/path/ca.pem`), `pool_max_size`,
    /// `pool_acquire_timeout_ms`, `statement_timeout_ms` and `connect_timeout`.
    pub async fn open_postgres(url: &str) -> StoreResult<Self> {
        let store = Self {
            db: Db::Postgres(PgDb::new(url)?),
        };
        store.migrate().await?;
        Ok(store)
    }

    fn is_postgres(&self) -> bool {
        matches!(self.db, Db::Postgres(_))
    }

    /// The form of a `locking!` read for this engine.
    fn locking(&self, [sqlite, postgres]: [&'static str; 2]) -> &'static str {
        if self.is_postgres() {
            postgres
        } else {
            sqlite
        }
    }

    /// The first row of one read, decoded.
    async fn get_opt<T>(
        &self,
        sql: &str,
        params: Vec<Val>,
        decode: Decode<T>,
    ) -> StoreResult<Option<T>> {
        let rows = self.db.read(sql, params).await?;
        rows.first().map(decode).transpose()
    }

    /// Every row of `sql`, decoded, in a session of its own.
    async fn get_all<T>(
        &self,
        sql: &str,
        params: Vec<Val>,
        decode: Decode<T>,
    ) -> StoreResult<Vec<T>> {
        self.db
            .read(sql, params)
            .await?
            .iter()
            .map(decode)
            .collect()
    }

    /// Runs one statement in a session of its own; whether it changed any row.
    async fn changed(&self, sql: &str, params: Vec<Val>) -> StoreResult<bool> {
        let mut s = self.db.session(false).await?;
        Ok(s.execute(sql, params).await? > 0)
    }

    /// A `SELECT COUNT(*)` in a session of its own.
    async fn count(&self, sql: &str, params: Vec<Val>) -> StoreResult<u64> {
        let n = match self.db.read(sql, params).await?.first() {
            Some(r) => r.int(0)?,
            None => 0,
        };
        Ok(u64::try_from(n).unwrap_or(0))
    }

    /// Runs one statement in a session of its own.
    async fn run(&self, sql: &str, params: Vec<Val>) -> StoreResult<()> {
        let mut s = self.db.session(false).await?;
        s.execute(sql, params).await?;
        Ok(())
    }
}

fn open_sqlite_file(path: &Path) -> StoreResult<rusqlite::Connection> {
    let unavailable = |what: &str, e: &dyn std::fmt::Display| {
        StoreError::Unavailable(format!("cannot {what} {}: {e}", path.display()))
    };
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|e| unavailable("create the directory of", &e))?;
    }
    if !path.exists() {
        let mut opts = std::fs::OpenOptions::new();
        opts.write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            opts.mode(0o600);
        }
        match opts.open(path) {
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(unavailable("create", &e)),
        }
    }
    widgetry_store::open_sqlite_connection(path).map_err(|e| unavailable("open", &e))
}

/// Decodes one row into a record.
type Decode<T> = fn(&Row) -> StoreResult<T>;

/// The first row of `sql`, decoded.
async fn fetch_opt<T>(
    s: &mut Session<'_>,
    sql: &str,
    params: Vec<Val>,
    decode: Decode<T>,
) -> StoreResult<Option<T>> {
    s.query_opt(sql, params)
        .await?
        .as_ref()
        .map(decode)
        .transpose()
}

// ---------------------------------------------------------------- the trait, by area

impl AuthzStore for SqlStore {
    fn insert_user(&self, user: UserRecord) -> BoxFuture<'_, StoreResult<bool>> {
        users::insert_user(self, user)
    }

    fn user_by_username<'a>(
        &'a self,
        username: &'a str,
    ) -> BoxFuture<'a, StoreResult<Option<UserRecord>>> {
        users::user_by_username(self, username)
    }

    fn user_by_id<'a>(&'a self, id: &'a str) -> BoxFuture<'a, StoreResult<Option<UserRecord>>> {
        users::user_by_id(self, id)
    }

    fn list_users(&self) -> BoxFuture<'_, StoreResult<Vec<UserRecord>>> {
        users::list_users(self)
    }

    fn delete_user<'a>(&'a self, username: &'a str, now: i64) -> BoxFuture<'a, StoreResult<bool>> {
        users::delete_user(self, username, now)
    }

    fn use_totp_step<'a>(
        &'a self,
        user_id: &'a str,
        step: i64,
    ) -> BoxFuture<'a, StoreResult<bool>> {
        users::use_totp_step(self, user_id, step)
    }

    fn insert_client(&self, c: ClientRecord) -> BoxFuture<'_, StoreResult<bool>> {
        clients::insert_client(self, c)
    }

    fn client<'a>(
        &'a self,
        client_id: &'a str,
    ) -> BoxFuture<'a, StoreResult<Option<ClientRecord>>> {
        clients::client(self, client_id)
    }

    fn list_clients(&self) -> BoxFuture<'_, StoreResult<Vec<ClientRecord>>> {
        clients::list_clients(self)
    }

    fn delete_client<'a>(
        &'a self,
        client_id: &'a str,
        now: i64,
    ) -> BoxFuture<'a, StoreResult<bool>> {
        clients::delete_client(self, client_id, now)
    }

    fn mark_client_used<'a>(
        &'a self,
        client_id: &'a str,
        now: i64,
    ) -> BoxFuture<'a, StoreResult<()>> {
        clients::mark_client_used(self, client_id, now)
    }

    fn count_unused_registrations(&self, created_after: i64) -> BoxFuture<'_, StoreResult<u64>> {
        clients::count_unused_registrations(self, created_after)
    }

    fn count_pending(&self, now: i64) -> BoxFuture<'_, StoreResult<u64>> {
        authorizations::count_pending(self, now)
    }

    fn insert_pending(&self, p: PendingAuthorization) -> BoxFuture<'_, StoreResult<()>> {
        authorizations::insert_pending(self, p)
    }

    fn pending<'a>(
        &'a self,
        id: &'a str,
        now: i64,
    ) -> BoxFuture<'a, StoreResult<Option<PendingAuthorization>>> {
        authorizations::pending(self, id, now)
    }

    fn replace_pending<'a>(
        &'a self,
        p: PendingAuthorization,
        expected_csrf_hash: &'a str,
    ) -> BoxFuture<'a, StoreResult<bool>> {
        authorizations::replace_pending(self, p, expected_csrf_hash)
    }

    fn take_pending<'a>(
        &'a self,
        id: &'a str,
        expected_csrf_hash: &'a str,
    ) -> BoxFuture<'a, StoreResult<bool>> {
        authorizations::take_pending(self, id, expected_csrf_hash)
    }

    fn insert_grant_with_code(
        &self,
        g: GrantRecord,
        c: CodeRecord,
    ) -> BoxFuture<'_, StoreResult<()>> {
        authorizations::insert_grant_with_code(self, g, c)
    }

    fn grant<'a>(&'a self, id: &'a str) -> BoxFuture<'a, StoreResult<Option<GrantRecord>>> {
        authorizations::grant(self, id)
    }

    fn consume_code<'a>(
        &'a self,
        code_hash: &'a str,
        now: i64,
        first_refresh: Option<RefreshTokenRecord>,
    ) -> BoxFuture<'a, StoreResult<CodeUse>> {
        tokens::consume_code(self, code_hash, now, first_refresh)
    }

    fn revoke_grant<'a>(&'a self, grant_id: &'a str, now: i64) -> BoxFuture<'a, StoreResult<bool>> {
        authorizations::revoke_grant(self, grant_id, now)
    }

    fn insert_refresh_token(&self, t: RefreshTokenRecord) -> BoxFuture<'_, StoreResult<()>> {
        tokens::insert_refresh_token(self, t)
    }

    fn refresh_token<'a>(
        &'a self,
        token_hash: &'a str,
        now: i64,
    ) -> BoxFuture<'a, StoreResult<Option<(RefreshTokenRecord, GrantRecord)>>> {
        tokens::refresh_token(self, token_hash, now)
    }

    fn rotate_refresh_token<'a>(
        &'a self,
        presented_hash: &'a str,
        successor: RefreshTokenRecord,
        now: i64,
        grace_floor: i64,
    ) -> BoxFuture<'a, StoreResult<RefreshRotation>> {
        tokens::rotate_refresh_token(self, presented_hash, successor, now, grace_floor)
    }

    fn record_access_token<'a>(
        &'a self,
        jti: &'a str,
        grant_id: &'a str,
        expires_at: i64,
    ) -> BoxFuture<'a, StoreResult<()>> {
        tokens::record_access_token(self, jti, grant_id, expires_at)
    }

    fn revoke_jti<'a>(&'a self, jti: &'a str, expires_at: i64) -> BoxFuture<'a, StoreResult<()>> {
        tokens::revoke_jti(self, jti, expires_at)
    }

    fn jti_revoked<'a>(&'a self, jti: &'a str) -> BoxFuture<'a, StoreResult<bool>> {
        tokens::jti_revoked(self, jti)
    }

    fn signing_keys(&self) -> BoxFuture<'_, StoreResult<Vec<SigningKeyRecord>>> {
        keys::signing_keys(self)
    }

    fn activate_signing_key(
        &self,
        k: SigningKeyRecord,
        publish_until_floor: i64,
    ) -> BoxFuture<'_, StoreResult<()>> {
        keys::activate_signing_key(self, k, publish_until_floor)
    }

    fn extend_key_token_exp<'a>(
        &'a self,
        kid: &'a str,
        exp: i64,
    ) -> BoxFuture<'a, StoreResult<()>> {
        keys::extend_key_token_exp(self, kid, exp)
    }

    fn counter<'a>(&'a self, key: &'a str, now: i64) -> BoxFuture<'a, StoreResult<Option<i64>>> {
        counters::counter(self, key, now)
    }

    fn add_to_counter<'a>(
        &'a self,
        key: &'a str,
        by: i64,
        now: i64,
        expires_at: i64,
    ) -> BoxFuture<'a, StoreResult<i64>> {
        counters::add_to_counter(self, key, by, now, expires_at)
    }

    fn set_counter<'a>(
        &'a self,
        key: &'a str,
        value: i64,
        expires_at: i64,
    ) -> BoxFuture<'a, StoreResult<()>> {
        counters::set_counter(self, key, value, expires_at)
    }

    fn delete_counter<'a>(&'a self, key: &'a str) -> BoxFuture<'a, StoreResult<()>> {
        counters::delete_counter(self, key)
    }

    fn sweep(&self, now: i64, unused_client_floor: i64) -> BoxFuture<'_, StoreResult<u64>> {
        sweep::sweep(self, now, unused_client_floor)
    }
}
