//! [`SqlStore`]: the [`AuthzStore`] on SQLite or PostgreSQL, one schema and one set of
//! statements for both (`$n` placeholders, 64-bit integers and text only).

use std::path::Path;

use super::backend::{vals, Db, PgDb, Row, Session, SqliteDb, Val};
use super::{
    AttemptCounter, AuthorizationRequest, AuthzStore, BoxFuture, ClientKind, ClientRecord,
    CodeRecord, CodeUse, GrantRecord, PendingAuthorization, PendingStage, RefreshRotation,
    RefreshTokenRecord, RefreshTokenState, SigningKeyRecord, StoreError, StoreResult, UserRecord,
};

const SCHEMA_VERSION: &str = "2";

/// Upgrades from earlier schema versions: `(from, statements)`, applied in order inside
/// the migration transaction.
const UPGRADES: &[(&str, &str)] = &[(
    "1",
    "ALTER TABLE authz_codes ADD COLUMN redirect_uri_sent BIGINT NOT NULL DEFAULT 0",
)];

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS authz_meta (
    name TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS authz_users (
    id TEXT PRIMARY KEY,
    username TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    password_hash TEXT NOT NULL,
    scopes TEXT,
    totp_secret TEXT,
    totp_last_step BIGINT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE TABLE IF NOT EXISTS authz_clients (
    client_id TEXT PRIMARY KEY,
    secret_hash TEXT,
    name TEXT NOT NULL,
    redirect_uris TEXT NOT NULL,
    grant_types TEXT NOT NULL,
    auth_method TEXT NOT NULL,
    scope TEXT,
    client_uri TEXT,
    kind TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    last_used_at BIGINT
);
CREATE TABLE IF NOT EXISTS authz_pending (
    id TEXT PRIMARY KEY,
    browser_hash TEXT NOT NULL,
    csrf_hash TEXT NOT NULL,
    stage TEXT NOT NULL,
    user_id TEXT,
    request TEXT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE TABLE IF NOT EXISTS authz_grants (
    id TEXT PRIMARY KEY,
    client_id TEXT NOT NULL,
    user_id TEXT NOT NULL,
    scope TEXT NOT NULL,
    resource TEXT NOT NULL,
    refresh_allowed BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    revoked_at BIGINT
);
CREATE INDEX IF NOT EXISTS authz_grants_user ON authz_grants(user_id);
CREATE INDEX IF NOT EXISTS authz_grants_client ON authz_grants(client_id);
CREATE TABLE IF NOT EXISTS authz_codes (
    code_hash TEXT PRIMARY KEY,
    grant_id TEXT NOT NULL,
    redirect_uri TEXT NOT NULL,
    code_challenge TEXT NOT NULL,
    expires_at BIGINT NOT NULL,
    used_at BIGINT,
    redirect_uri_sent BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS authz_codes_grant ON authz_codes(grant_id);
CREATE TABLE IF NOT EXISTS authz_refresh_tokens (
    token_hash TEXT PRIMARY KEY,
    grant_id TEXT NOT NULL,
    parent_hash TEXT,
    state TEXT NOT NULL,
    issued_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    used_at BIGINT
);
CREATE INDEX IF NOT EXISTS authz_refresh_grant ON authz_refresh_tokens(grant_id);
CREATE INDEX IF NOT EXISTS authz_refresh_parent ON authz_refresh_tokens(parent_hash);
CREATE TABLE IF NOT EXISTS authz_access_tokens (
    jti TEXT PRIMARY KEY,
    grant_id TEXT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX IF NOT EXISTS authz_access_grant ON authz_access_tokens(grant_id);
CREATE TABLE IF NOT EXISTS authz_revoked_jtis (
    jti TEXT PRIMARY KEY,
    expires_at BIGINT NOT NULL
);
CREATE TABLE IF NOT EXISTS authz_signing_keys (
    kid TEXT PRIMARY KEY,
    alg TEXT NOT NULL,
    private_key TEXT NOT NULL,
    public_jwk TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    active BIGINT NOT NULL,
    publish_until BIGINT,
    max_token_exp BIGINT NOT NULL
);
CREATE TABLE IF NOT EXISTS authz_attempts (
    key TEXT PRIMARY KEY,
    failures BIGINT NOT NULL,
    window_start BIGINT NOT NULL
);
";

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
    /// `?options=-csearch_path%3Dschema` to use a schema) and creates the tables when
    /// missing. The connection is re-established when it drops. TLS is not supported:
    /// reach the database over a trusted network or a local socket.
    pub async fn open_postgres(url: &str) -> StoreResult<Self> {
        let store = Self {
            db: Db::Postgres(PgDb::new(url)),
        };
        store.migrate().await?;
        Ok(store)
    }

    async fn migrate(&self) -> StoreResult<()> {
        let mut s = self.db.session(true).await?;
        if self.is_postgres() {
            // Serialize concurrent first starts of several instances.
            s.execute("SELECT pg_advisory_xact_lock(7316021804)", vals![])
                .await?;
        }
        s.batch(SCHEMA).await?;
        s.execute(
            "INSERT INTO authz_meta (name, value) VALUES ('schema_version', $1) \
             ON CONFLICT (name) DO NOTHING",
            vals![SCHEMA_VERSION],
        )
        .await?;
        let mut version = s
            .query_opt(
                "SELECT value FROM authz_meta WHERE name = 'schema_version'",
                vals![],
            )
            .await?
            .map(|r| r.text(0))
            .transpose()?;
        for (from, sql) in UPGRADES {
            if version.as_deref() == Some(*from) {
                s.batch(sql).await?;
                let next = (from.parse::<u32>().unwrap_or(0) + 1).to_string();
                s.execute(
                    "UPDATE authz_meta SET value = $1 WHERE name = 'schema_version'",
                    vals![next.as_str()],
                )
                .await?;
                version = Some(next);
            }
        }
        if version.as_deref() != Some(SCHEMA_VERSION) {
            return Err(StoreError::Corrupt(format!(
                "the authorization store has schema version {}, this build reads version \
                 {SCHEMA_VERSION}; use a newer build or a fresh store",
                version.unwrap_or_default()
            )));
        }
        s.commit().await
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

    /// `fetch_opt` in a session of its own.
    async fn get_opt<T>(
        &self,
        sql: &str,
        params: Vec<Val>,
        decode: Decode<T>,
    ) -> StoreResult<Option<T>> {
        let mut s = self.db.session(false).await?;
        fetch_opt(&mut s, sql, params, decode).await
    }

    /// Every row of `sql`, decoded, in a session of its own.
    async fn get_all<T>(
        &self,
        sql: &str,
        params: Vec<Val>,
        decode: Decode<T>,
    ) -> StoreResult<Vec<T>> {
        let mut s = self.db.session(false).await?;
        s.query(sql, params).await?.iter().map(decode).collect()
    }

    /// Runs one statement in a session of its own; whether it changed any row.
    async fn changed(&self, sql: &str, params: Vec<Val>) -> StoreResult<bool> {
        let mut s = self.db.session(false).await?;
        Ok(s.execute(sql, params).await? > 0)
    }

    /// A `SELECT COUNT(*)` in a session of its own.
    async fn count(&self, sql: &str, params: Vec<Val>) -> StoreResult<u64> {
        let mut s = self.db.session(false).await?;
        let n = match s.query_opt(sql, params).await? {
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
    let conn = rusqlite::Connection::open(path).map_err(|e| unavailable("open", &e))?;
    conn.execute_batch(
        "PRAGMA journal_mode=WAL;
         PRAGMA synchronous=NORMAL;
         PRAGMA busy_timeout=5000;",
    )
    .map_err(|e| unavailable("configure", &e))?;
    Ok(conn)
}

// ---------------------------------------------------------------- row decoding

fn user_from(r: &Row) -> StoreResult<UserRecord> {
    Ok(UserRecord {
        id: r.text(0)?,
        username: r.text(1)?,
        name: r.text(2)?,
        password_hash: r.text(3)?,
        scopes: r.opt_text(4)?.map(|s| from_json(&s)).transpose()?,
        totp_secret: r.opt_text(5)?,
        totp_last_step: r.int(6)?,
        created_at: r.int(7)?,
    })
}

fn client_from(r: &Row) -> StoreResult<ClientRecord> {
    let kind = r.text(8)?;
    Ok(ClientRecord {
        client_id: r.text(0)?,
        secret_hash: r.opt_text(1)?,
        name: r.text(2)?,
        redirect_uris: from_json(&r.text(3)?)?,
        grant_types: from_json(&r.text(4)?)?,
        auth_method: r.text(5)?,
        scope: r.opt_text(6)?,
        client_uri: r.opt_text(7)?,
        kind: ClientKind::parse(&kind)
            .ok_or_else(|| StoreError::Corrupt(format!("unknown client kind {kind:?}")))?,
        created_at: r.int(9)?,
        last_used_at: r.opt_int(10)?,
    })
}

fn pending_from(r: &Row) -> StoreResult<PendingAuthorization> {
    let stage = r.text(3)?;
    let request: AuthorizationRequest = from_json(&r.text(5)?)?;
    Ok(PendingAuthorization {
        id: r.text(0)?,
        browser_hash: r.text(1)?,
        csrf_hash: r.text(2)?,
        stage: PendingStage::parse(&stage)
            .ok_or_else(|| StoreError::Corrupt(format!("unknown stage {stage:?}")))?,
        user_id: r.opt_text(4)?,
        request,
        expires_at: r.int(6)?,
    })
}

fn grant_from(r: &Row) -> StoreResult<GrantRecord> {
    Ok(GrantRecord {
        id: r.text(0)?,
        client_id: r.text(1)?,
        user_id: r.text(2)?,
        scope: r.text(3)?,
        resource: r.text(4)?,
        refresh_allowed: r.flag(5)?,
        created_at: r.int(6)?,
        revoked_at: r.opt_int(7)?,
    })
}

fn code_from(r: &Row) -> StoreResult<CodeRecord> {
    Ok(CodeRecord {
        code_hash: r.text(0)?,
        grant_id: r.text(1)?,
        redirect_uri: r.text(2)?,
        code_challenge: r.text(3)?,
        expires_at: r.int(4)?,
        used_at: r.opt_int(5)?,
        redirect_uri_sent: r.flag(6)?,
    })
}

fn refresh_from(r: &Row) -> StoreResult<RefreshTokenRecord> {
    let state = r.text(3)?;
    Ok(RefreshTokenRecord {
        token_hash: r.text(0)?,
        grant_id: r.text(1)?,
        parent_hash: r.opt_text(2)?,
        state: RefreshTokenState::parse(&state)
            .ok_or_else(|| StoreError::Corrupt(format!("unknown token state {state:?}")))?,
        issued_at: r.int(4)?,
        expires_at: r.int(5)?,
    })
}

fn key_from(r: &Row) -> StoreResult<SigningKeyRecord> {
    Ok(SigningKeyRecord {
        kid: r.text(0)?,
        alg: r.text(1)?,
        private_key: r.text(2)?,
        public_jwk: r.text(3)?,
        created_at: r.int(4)?,
        active: r.flag(5)?,
        publish_until: r.opt_int(6)?,
        max_token_exp: r.int(7)?,
    })
}

fn attempts_from(r: &Row) -> StoreResult<AttemptCounter> {
    Ok(AttemptCounter {
        failures: r.int(0)?,
        window_start: r.int(1)?,
    })
}

// ---------------------------------------------------------------- shared steps

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

async fn revoke_grant_in(s: &mut Session<'_>, grant_id: &str, now: i64) -> StoreResult<bool> {
    let changed = s
        .execute(
            "UPDATE authz_grants SET revoked_at = $2 WHERE id = $1 AND revoked_at IS NULL",
            vals![grant_id, now],
        )
        .await?;
    s.execute(
        "INSERT INTO authz_revoked_jtis (jti, expires_at) \
         SELECT jti, expires_at FROM authz_access_tokens WHERE grant_id = $1 AND expires_at > $2 \
         ON CONFLICT (jti) DO NOTHING",
        vals![grant_id, now],
    )
    .await?;
    s.execute(
        "DELETE FROM authz_access_tokens WHERE grant_id = $1",
        vals![grant_id],
    )
    .await?;
    s.execute(
        "DELETE FROM authz_refresh_tokens WHERE grant_id = $1",
        vals![grant_id],
    )
    .await?;
    Ok(changed > 0)
}

/// Revokes every live grant whose `column` (a fixed column name) is `value`.
async fn revoke_grants_where(
    s: &mut Session<'_>,
    column: &'static str,
    value: &str,
    now: i64,
) -> StoreResult<()> {
    let sql = format!("SELECT id FROM authz_grants WHERE {column} = $1 AND revoked_at IS NULL");
    let ids = s.query(&sql, vals![value]).await?;
    for row in ids {
        revoke_grant_in(s, &row.text(0)?, now).await?;
    }
    Ok(())
}

async fn insert_refresh_in(s: &mut Session<'_>, t: &RefreshTokenRecord) -> StoreResult<()> {
    s.execute(
        insert!(
            "authz_refresh_tokens",
            refresh_cols,
            "VALUES ($1, $2, $3, $4, $5, $6)"
        ),
        vals![
            &t.token_hash,
            &t.grant_id,
            t.parent_hash.clone(),
            t.state.as_str(),
            t.issued_at,
            t.expires_at
        ],
    )
    .await?;
    Ok(())
}

// ---------------------------------------------------------------- the trait

impl AuthzStore for SqlStore {
    fn insert_user(&self, user: UserRecord) -> BoxFuture<'_, StoreResult<bool>> {
        Box::pin(async move {
            let scopes = user.scopes.as_ref().map(json).transpose()?;
            self.changed(
                insert!(
                    "authz_users",
                    user_cols,
                    "VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT DO NOTHING"
                ),
                vals![
                    user.id,
                    user.username,
                    user.name,
                    user.password_hash,
                    scopes,
                    user.totp_secret,
                    user.totp_last_step,
                    user.created_at
                ],
            )
            .await
        })
    }

    fn user_by_username<'a>(
        &'a self,
        username: &'a str,
    ) -> BoxFuture<'a, StoreResult<Option<UserRecord>>> {
        Box::pin(self.get_opt(
            select!(user_cols, "authz_users WHERE username = $1"),
            vals![username],
            user_from,
        ))
    }

    fn user_by_id<'a>(&'a self, id: &'a str) -> BoxFuture<'a, StoreResult<Option<UserRecord>>> {
        Box::pin(self.get_opt(
            select!(user_cols, "authz_users WHERE id = $1"),
            vals![id],
            user_from,
        ))
    }

    fn list_users(&self) -> BoxFuture<'_, StoreResult<Vec<UserRecord>>> {
        Box::pin(self.get_all(
            select!(user_cols, "authz_users ORDER BY username"),
            vals![],
            user_from,
        ))
    }

    fn delete_user<'a>(&'a self, username: &'a str, now: i64) -> BoxFuture<'a, StoreResult<bool>> {
        Box::pin(async move {
            let mut s = self.db.session(true).await?;
            let Some(row) = s
                .query_opt(
                    "SELECT id FROM authz_users WHERE username = $1",
                    vals![username],
                )
                .await?
            else {
                return Ok(false);
            };
            let id = row.text(0)?;
            revoke_grants_where(&mut s, "user_id", &id, now).await?;
            s.execute("DELETE FROM authz_pending WHERE user_id = $1", vals![&id])
                .await?;
            s.execute("DELETE FROM authz_users WHERE id = $1", vals![&id])
                .await?;
            s.commit().await?;
            Ok(true)
        })
    }

    fn use_totp_step<'a>(
        &'a self,
        user_id: &'a str,
        step: i64,
    ) -> BoxFuture<'a, StoreResult<bool>> {
        Box::pin(self.changed(
            "UPDATE authz_users SET totp_last_step = $2 WHERE id = $1 AND totp_last_step < $2",
            vals![user_id, step],
        ))
    }

    fn insert_client(&self, c: ClientRecord) -> BoxFuture<'_, StoreResult<bool>> {
        Box::pin(async move {
            let redirect_uris = json(&c.redirect_uris)?;
            let grant_types = json(&c.grant_types)?;
            self.changed(
                insert!(
                    "authz_clients",
                    client_cols,
                    "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) ON CONFLICT DO NOTHING"
                ),
                vals![
                    c.client_id,
                    c.secret_hash,
                    c.name,
                    redirect_uris,
                    grant_types,
                    c.auth_method,
                    c.scope,
                    c.client_uri,
                    c.kind.as_str(),
                    c.created_at,
                    c.last_used_at
                ],
            )
            .await
        })
    }

    fn client<'a>(
        &'a self,
        client_id: &'a str,
    ) -> BoxFuture<'a, StoreResult<Option<ClientRecord>>> {
        Box::pin(self.get_opt(
            select!(client_cols, "authz_clients WHERE client_id = $1"),
            vals![client_id],
            client_from,
        ))
    }

    fn list_clients(&self) -> BoxFuture<'_, StoreResult<Vec<ClientRecord>>> {
        Box::pin(self.get_all(
            select!(client_cols, "authz_clients ORDER BY client_id"),
            vals![],
            client_from,
        ))
    }

    fn delete_client<'a>(
        &'a self,
        client_id: &'a str,
        now: i64,
    ) -> BoxFuture<'a, StoreResult<bool>> {
        Box::pin(async move {
            let mut s = self.db.session(true).await?;
            revoke_grants_where(&mut s, "client_id", client_id, now).await?;
            let n = s
                .execute(
                    "DELETE FROM authz_clients WHERE client_id = $1",
                    vals![client_id],
                )
                .await?;
            s.commit().await?;
            Ok(n > 0)
        })
    }

    fn mark_client_used<'a>(
        &'a self,
        client_id: &'a str,
        now: i64,
    ) -> BoxFuture<'a, StoreResult<()>> {
        Box::pin(self.run(
            "UPDATE authz_clients SET last_used_at = $2 WHERE client_id = $1",
            vals![client_id, now],
        ))
    }

    fn count_unused_registrations(&self, created_after: i64) -> BoxFuture<'_, StoreResult<u64>> {
        Box::pin(self.count(
            "SELECT COUNT(*) FROM authz_clients WHERE kind = 'dynamic' \
             AND last_used_at IS NULL AND created_at > $1",
            vals![created_after],
        ))
    }

    fn count_pending(&self, now: i64) -> BoxFuture<'_, StoreResult<u64>> {
        Box::pin(self.count(
            "SELECT COUNT(*) FROM authz_pending WHERE expires_at > $1",
            vals![now],
        ))
    }

    fn insert_pending(&self, p: PendingAuthorization) -> BoxFuture<'_, StoreResult<()>> {
        Box::pin(async move {
            let request = json(&p.request)?;
            self.run(
                insert!(
                    "authz_pending",
                    pending_cols,
                    "VALUES ($1, $2, $3, $4, $5, $6, $7)"
                ),
                vals![
                    p.id,
                    p.browser_hash,
                    p.csrf_hash,
                    p.stage.as_str(),
                    p.user_id,
                    request,
                    p.expires_at
                ],
            )
            .await
        })
    }

    fn pending<'a>(
        &'a self,
        id: &'a str,
        now: i64,
    ) -> BoxFuture<'a, StoreResult<Option<PendingAuthorization>>> {
        Box::pin(self.get_opt(
            select!(
                pending_cols,
                "authz_pending WHERE id = $1 AND expires_at > $2"
            ),
            vals![id, now],
            pending_from,
        ))
    }

    fn replace_pending<'a>(
        &'a self,
        p: PendingAuthorization,
        expected_csrf_hash: &'a str,
    ) -> BoxFuture<'a, StoreResult<bool>> {
        Box::pin(async move {
            let request = json(&p.request)?;
            self.changed(
                "UPDATE authz_pending SET browser_hash = $2, csrf_hash = $3, stage = $4, \
                 user_id = $5, request = $6, expires_at = $7 WHERE id = $1 AND csrf_hash = $8",
                vals![
                    p.id,
                    p.browser_hash,
                    p.csrf_hash,
                    p.stage.as_str(),
                    p.user_id,
                    request,
                    p.expires_at,
                    expected_csrf_hash
                ],
            )
            .await
        })
    }

    fn take_pending<'a>(
        &'a self,
        id: &'a str,
        expected_csrf_hash: &'a str,
    ) -> BoxFuture<'a, StoreResult<bool>> {
        Box::pin(self.changed(
            "DELETE FROM authz_pending WHERE id = $1 AND csrf_hash = $2",
            vals![id, expected_csrf_hash],
        ))
    }

    fn insert_grant_with_code(
        &self,
        g: GrantRecord,
        c: CodeRecord,
    ) -> BoxFuture<'_, StoreResult<()>> {
        Box::pin(async move {
            let mut s = self.db.session(true).await?;
            s.execute(
                insert!(
                    "authz_grants",
                    grant_cols,
                    "VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"
                ),
                vals![
                    g.id,
                    g.client_id,
                    g.user_id,
                    g.scope,
                    g.resource,
                    g.refresh_allowed,
                    g.created_at,
                    g.revoked_at
                ],
            )
            .await?;
            s.execute(
                insert!(
                    "authz_codes",
                    code_cols,
                    "VALUES ($1, $2, $3, $4, $5, $6, $7)"
                ),
                vals![
                    c.code_hash,
                    c.grant_id,
                    c.redirect_uri,
                    c.code_challenge,
                    c.expires_at,
                    c.used_at,
                    c.redirect_uri_sent
                ],
            )
            .await?;
            s.commit().await
        })
    }

    fn grant<'a>(&'a self, id: &'a str) -> BoxFuture<'a, StoreResult<Option<GrantRecord>>> {
        Box::pin(self.get_opt(
            select!(grant_cols, "authz_grants WHERE id = $1"),
            vals![id],
            grant_from,
        ))
    }

    fn consume_code<'a>(
        &'a self,
        code_hash: &'a str,
        now: i64,
    ) -> BoxFuture<'a, StoreResult<CodeUse>> {
        Box::pin(async move {
            let mut s = self.db.session(true).await?;
            let sql = self.locking(locking!(select!(
                code_cols,
                "authz_codes WHERE code_hash = $1"
            )));
            let Some(mut code) = fetch_opt(&mut s, sql, vals![code_hash], code_from).await? else {
                return Ok(CodeUse::Unknown);
            };
            if code.used_at.is_some() {
                return Ok(CodeUse::Reused(code));
            }
            s.execute(
                "UPDATE authz_codes SET used_at = $2 WHERE code_hash = $1",
                vals![code_hash, now],
            )
            .await?;
            s.commit().await?;
            code.used_at = Some(now);
            Ok(CodeUse::Fresh(code))
        })
    }

    fn revoke_grant<'a>(&'a self, grant_id: &'a str, now: i64) -> BoxFuture<'a, StoreResult<bool>> {
        Box::pin(async move {
            let mut s = self.db.session(true).await?;
            let changed = revoke_grant_in(&mut s, grant_id, now).await?;
            s.commit().await?;
            Ok(changed)
        })
    }

    fn insert_refresh_token(&self, t: RefreshTokenRecord) -> BoxFuture<'_, StoreResult<()>> {
        Box::pin(async move {
            let mut s = self.db.session(false).await?;
            insert_refresh_in(&mut s, &t).await
        })
    }

    fn refresh_token<'a>(
        &'a self,
        token_hash: &'a str,
        now: i64,
    ) -> BoxFuture<'a, StoreResult<Option<(RefreshTokenRecord, GrantRecord)>>> {
        Box::pin(async move {
            let mut s = self.db.session(false).await?;
            let Some(token) = fetch_opt(
                &mut s,
                select!(
                    refresh_cols,
                    "authz_refresh_tokens WHERE token_hash = $1 AND expires_at > $2"
                ),
                vals![token_hash, now],
                refresh_from,
            )
            .await?
            else {
                return Ok(None);
            };
            let grant = fetch_opt(
                &mut s,
                select!(
                    grant_cols,
                    "authz_grants WHERE id = $1 AND revoked_at IS NULL"
                ),
                vals![&token.grant_id],
                grant_from,
            )
            .await?;
            Ok(grant.map(|grant| (token, grant)))
        })
    }

    fn rotate_refresh_token<'a>(
        &'a self,
        presented_hash: &'a str,
        mut successor: RefreshTokenRecord,
        now: i64,
        grace_floor: i64,
    ) -> BoxFuture<'a, StoreResult<RefreshRotation>> {
        Box::pin(async move {
            let mut s = self.db.session(true).await?;
            let sql = self.locking(locking!(select!(
                refresh_cols,
                "authz_refresh_tokens WHERE token_hash = $1"
            )));
            let Some(token) = fetch_opt(&mut s, sql, vals![presented_hash], refresh_from).await?
            else {
                return Ok(RefreshRotation::Invalid);
            };
            let Some(grant) = fetch_opt(
                &mut s,
                select!(grant_cols, "authz_grants WHERE id = $1"),
                vals![&token.grant_id],
                grant_from,
            )
            .await?
            else {
                return Ok(RefreshRotation::Invalid);
            };
            if grant.revoked_at.is_some() {
                return Ok(RefreshRotation::Invalid);
            }
            let grace_over = if token.state == RefreshTokenState::Used {
                let used_at = s
                    .query_opt(
                        "SELECT used_at FROM authz_refresh_tokens WHERE token_hash = $1",
                        vals![presented_hash],
                    )
                    .await?
                    .map(|r| r.opt_int(0))
                    .transpose()?
                    .flatten();
                used_at.is_none_or(|t| t <= grace_floor)
            } else {
                false
            };
            if token.state == RefreshTokenState::Superseded || grace_over {
                revoke_grant_in(&mut s, &grant.id, now).await?;
                s.commit().await?;
                return Ok(RefreshRotation::Reused { grant_id: grant.id });
            }
            if token.expires_at <= now {
                return Ok(RefreshRotation::Invalid);
            }
            if token.state == RefreshTokenState::Active {
                s.execute(
                    "UPDATE authz_refresh_tokens SET state = 'used', used_at = $2 WHERE token_hash = $1",
                    vals![presented_hash, now],
                )
                .await?;
                if let Some(parent) = &token.parent_hash {
                    // Its first use settles the race: the predecessor and the other
                    // successors of the predecessor are now superseded.
                    s.execute(
                        "UPDATE authz_refresh_tokens SET state = 'superseded' \
                         WHERE token_hash = $1 OR (parent_hash = $1 AND token_hash <> $2)",
                        vals![parent, presented_hash],
                    )
                    .await?;
                }
            }
            successor.grant_id = grant.id.clone();
            successor.parent_hash = Some(presented_hash.to_owned());
            successor.state = RefreshTokenState::Active;
            insert_refresh_in(&mut s, &successor).await?;
            s.commit().await?;
            Ok(RefreshRotation::Rotated(grant))
        })
    }

    fn record_access_token<'a>(
        &'a self,
        jti: &'a str,
        grant_id: &'a str,
        expires_at: i64,
    ) -> BoxFuture<'a, StoreResult<()>> {
        Box::pin(self.run(
            "INSERT INTO authz_access_tokens (jti, grant_id, expires_at) VALUES ($1, $2, $3) \
             ON CONFLICT (jti) DO NOTHING",
            vals![jti, grant_id, expires_at],
        ))
    }

    fn revoke_jti<'a>(&'a self, jti: &'a str, expires_at: i64) -> BoxFuture<'a, StoreResult<()>> {
        Box::pin(self.run(
            "INSERT INTO authz_revoked_jtis (jti, expires_at) VALUES ($1, $2) \
             ON CONFLICT (jti) DO NOTHING",
            vals![jti, expires_at],
        ))
    }

    fn jti_revoked<'a>(&'a self, jti: &'a str) -> BoxFuture<'a, StoreResult<bool>> {
        Box::pin(async move {
            let found = self
                .get_opt(
                    "SELECT jti FROM authz_revoked_jtis WHERE jti = $1",
                    vals![jti],
                    |_| Ok(()),
                )
                .await?;
            Ok(found.is_some())
        })
    }

    fn signing_keys(&self) -> BoxFuture<'_, StoreResult<Vec<SigningKeyRecord>>> {
        Box::pin(self.get_all(
            select!(key_cols, "authz_signing_keys ORDER BY created_at, kid"),
            vals![],
            key_from,
        ))
    }

    fn activate_signing_key(
        &self,
        k: SigningKeyRecord,
        publish_until_floor: i64,
    ) -> BoxFuture<'_, StoreResult<()>> {
        Box::pin(async move {
            let mut s = self.db.session(true).await?;
            s.execute(
                "UPDATE authz_signing_keys SET active = 0, publish_until = \
                 CASE WHEN max_token_exp > $1 THEN max_token_exp ELSE $1 END WHERE active = 1",
                vals![publish_until_floor],
            )
            .await?;
            s.execute(
                insert!(
                    "authz_signing_keys",
                    key_cols,
                    "VALUES ($1, $2, $3, $4, $5, 1, NULL, $6)"
                ),
                vals![
                    k.kid,
                    k.alg,
                    k.private_key,
                    k.public_jwk,
                    k.created_at,
                    k.max_token_exp
                ],
            )
            .await?;
            s.commit().await
        })
    }

    fn extend_key_token_exp<'a>(
        &'a self,
        kid: &'a str,
        exp: i64,
    ) -> BoxFuture<'a, StoreResult<()>> {
        Box::pin(self.run(
            "UPDATE authz_signing_keys SET max_token_exp = $2, publish_until = \
             CASE WHEN publish_until IS NOT NULL AND publish_until < $2 THEN $2 ELSE publish_until END \
             WHERE kid = $1 AND max_token_exp < $2",
            vals![kid, exp],
        ))
    }

    fn attempts<'a>(&'a self, key: &'a str) -> BoxFuture<'a, StoreResult<Option<AttemptCounter>>> {
        Box::pin(self.get_opt(
            "SELECT failures, window_start FROM authz_attempts WHERE key = $1",
            vals![key],
            attempts_from,
        ))
    }

    fn record_failure<'a>(
        &'a self,
        key: &'a str,
        now: i64,
        window_floor: i64,
    ) -> BoxFuture<'a, StoreResult<AttemptCounter>> {
        Box::pin(async move {
            self.get_opt(
                "INSERT INTO authz_attempts (key, failures, window_start) VALUES ($1, 1, $2) \
                 ON CONFLICT (key) DO UPDATE SET \
                   failures = CASE WHEN authz_attempts.window_start <= $3 THEN 1 \
                              ELSE authz_attempts.failures + 1 END, \
                   window_start = CASE WHEN authz_attempts.window_start <= $3 THEN $2 \
                              ELSE authz_attempts.window_start END \
                 RETURNING failures, window_start",
                vals![key, now, window_floor],
                attempts_from,
            )
            .await?
            .ok_or_else(|| StoreError::Unavailable("the failure counter was not stored".into()))
        })
    }

    fn clear_attempts<'a>(&'a self, key: &'a str) -> BoxFuture<'a, StoreResult<()>> {
        Box::pin(self.run("DELETE FROM authz_attempts WHERE key = $1", vals![key]))
    }

    fn sweep(
        &self,
        now: i64,
        unused_client_floor: i64,
        attempts_floor: i64,
    ) -> BoxFuture<'_, StoreResult<u64>> {
        Box::pin(async move {
            let mut s = self.db.session(true).await?;
            let mut n = 0;
            for sql in [
                "DELETE FROM authz_pending WHERE expires_at <= $1",
                "DELETE FROM authz_codes WHERE expires_at <= $1",
                "DELETE FROM authz_refresh_tokens WHERE expires_at <= $1",
                "DELETE FROM authz_access_tokens WHERE expires_at <= $1",
                "DELETE FROM authz_revoked_jtis WHERE expires_at <= $1",
                "DELETE FROM authz_signing_keys WHERE active = 0 AND publish_until IS NOT NULL \
                 AND publish_until <= $1",
            ] {
                n += s.execute(sql, vals![now]).await?;
            }
            n += s
                .execute(
                    "DELETE FROM authz_clients WHERE kind = 'dynamic' AND last_used_at IS NULL \
                     AND created_at <= $1",
                    vals![unused_client_floor],
                )
                .await?;
            n += s
                .execute(
                    "DELETE FROM authz_attempts WHERE window_start <= $1",
                    vals![attempts_floor],
                )
                .await?;
            n += s
                .execute(
                    "DELETE FROM authz_grants WHERE \
                     NOT EXISTS (SELECT 1 FROM authz_codes WHERE authz_codes.grant_id = authz_grants.id) \
                     AND NOT EXISTS (SELECT 1 FROM authz_refresh_tokens \
                                     WHERE authz_refresh_tokens.grant_id = authz_grants.id) \
                     AND NOT EXISTS (SELECT 1 FROM authz_access_tokens \
                                     WHERE authz_access_tokens.grant_id = authz_grants.id)",
                    vals![],
                )
                .await?;
            s.commit().await?;
            Ok(n)
        })
    }
}
