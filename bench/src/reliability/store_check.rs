//! Reads the authorization server's tables straight from the store (the `sqlite3` and
//! `psql` command-line clients, while no instance runs) to find records a crash could
//! have left half-written.

use std::path::PathBuf;
use std::process::{Command, Stdio};

/// Which store an instance used.
#[derive(Debug, Clone)]
pub enum Store {
    /// `<data dir>/authz.sqlite3`.
    Sqlite(PathBuf),
    /// A PostgreSQL URL.
    Postgres(String),
}

/// Grants whose code was exchanged (the code is marked used) but which have no refresh
/// token although they allow refresh: the exchange committed one half and not the other.
const HALF_WRITTEN_GRANTS: &str = "SELECT count(*) FROM authz_grants g \
    WHERE g.revoked_at IS NULL AND g.refresh_allowed <> 0 \
    AND EXISTS (SELECT 1 FROM authz_codes c WHERE c.grant_id = g.id AND c.used_at IS NOT NULL) \
    AND NOT EXISTS (SELECT 1 FROM authz_refresh_tokens t WHERE t.grant_id = g.id)";

/// Live refresh-token families without an active token (a rotation that retired the
/// presented token without storing its successor).
const BROKEN_FAMILIES: &str = "SELECT count(*) FROM authz_grants g WHERE g.revoked_at IS NULL \
    AND EXISTS (SELECT 1 FROM authz_refresh_tokens t WHERE t.grant_id = g.id) \
    AND NOT EXISTS (SELECT 1 FROM authz_refresh_tokens t WHERE t.grant_id = g.id AND t.state = 'active')";

/// Live families with more than one active token: legitimate only after a used token
/// was presented again within its grace (the re-issued sibling and the first successor
/// both stay active until one of them is used, which supersedes the other).
const FORKED_FAMILIES: &str = "SELECT count(*) FROM (SELECT g.id, \
    (SELECT count(*) FROM authz_refresh_tokens t WHERE t.grant_id = g.id AND t.state = 'active') AS n \
    FROM authz_grants g WHERE g.revoked_at IS NULL) AS f WHERE n > 1";

/// Refresh tokens whose grant does not exist.
const ORPHAN_TOKENS: &str = "SELECT count(*) FROM authz_refresh_tokens t \
    WHERE NOT EXISTS (SELECT 1 FROM authz_grants g WHERE g.id = t.grant_id)";

/// Live grants (not revoked) with at least one refresh token.
const LIVE_FAMILIES: &str = "SELECT count(*) FROM authz_grants g WHERE g.revoked_at IS NULL \
    AND EXISTS (SELECT 1 FROM authz_refresh_tokens t WHERE t.grant_id = g.id)";

/// What the store holds after a crash.
#[derive(Debug, Clone, Copy, Default)]
pub struct Inspection {
    /// See [`HALF_WRITTEN_GRANTS`].
    pub half_written_grants: u64,
    /// See [`BROKEN_FAMILIES`].
    pub broken_families: u64,
    /// See [`FORKED_FAMILIES`].
    pub forked_families: u64,
    /// See [`ORPHAN_TOKENS`].
    pub orphan_tokens: u64,
    /// See [`LIVE_FAMILIES`].
    pub live_families: u64,
}

fn count(store: &Store, sql: &str) -> Result<u64, String> {
    let mut cmd = match store {
        Store::Sqlite(path) => {
            let mut c = Command::new("sqlite3");
            c.arg(path).arg(sql);
            c
        }
        Store::Postgres(url) => {
            let mut c = Command::new("psql");
            c.arg(url).args(["-At", "-v", "ON_ERROR_STOP=1", "-c", sql]);
            c
        }
    };
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("{cmd:?}: {e} (install sqlite3 / postgresql-client)"))?;
    let text = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() {
        return Err(format!("{sql}: {}", String::from_utf8_lossy(&out.stderr)));
    }
    text.trim()
        .parse()
        .map_err(|e| format!("{sql}: {text:?}: {e}"))
}

/// Inspects the store.
pub fn inspect(store: &Store) -> Result<Inspection, String> {
    Ok(Inspection {
        half_written_grants: count(store, HALF_WRITTEN_GRANTS)?,
        broken_families: count(store, BROKEN_FAMILIES)?,
        forked_families: count(store, FORKED_FAMILIES)?,
        orphan_tokens: count(store, ORPHAN_TOKENS)?,
        live_families: count(store, LIVE_FAMILIES)?,
    })
}
