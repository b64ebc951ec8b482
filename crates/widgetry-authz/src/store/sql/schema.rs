//! The schema: tables, the version this build reads, and upgrades from older versions.

use super::SqlStore;
use crate::store::backend::vals;
use crate::store::{StoreError, StoreResult};

const SCHEMA_VERSION: &str = "3";

/// Upgrades from earlier schema versions: `(from, statements)`, applied in order inside
/// the migration transaction.
const UPGRADES: &[(&str, &str)] = &[
    (
        "1",
        "ALTER TABLE authz_codes ADD COLUMN redirect_uri_sent BIGINT NOT NULL DEFAULT 0",
    ),
    // Failure windows became general counters (the new table is created by `SCHEMA`).
    ("2", "DROP TABLE IF EXISTS authz_attempts"),
];

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
CREATE TABLE IF NOT EXISTS authz_counters (
    key TEXT PRIMARY KEY,
    value BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);
";

impl SqlStore {
    /// Creates missing tables and upgrades an older schema, in one transaction.
    pub(super) async fn migrate(&self) -> StoreResult<()> {
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
}
