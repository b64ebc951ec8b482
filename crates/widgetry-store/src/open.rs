//! Choosing backends from URLs: [`StoreLocation`], the [`open_session_store`] and
//! [`open_kv_store`] factories, and [`from_env`], which reads the two environment
//! variables an app is configured with.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::redact::redact;
use crate::{KvStore, MemoryKvStore, MemorySessionStore, SessionStore, StoreError, StoreResult};
#[cfg(feature = "postgres")]
use crate::{PostgresKvStore, PostgresSessionStore};
#[cfg(feature = "redis")]
use crate::{RedisKvStore, RedisSessionStore};
#[cfg(feature = "sqlite")]
use crate::{SqliteKvStore, SqliteSessionStore};

/// The variable naming the store of durable app data (users, likes, sign-in sessions).
pub const DATABASE_URL_ENV: &str = "WIDGETRY_DATABASE_URL";

/// The variable naming the store of MCP transport sessions (default: the database).
pub const SESSION_STORE_URL_ENV: &str = "WIDGETRY_SESSION_STORE_URL";

/// The SQLite file used inside the data directory when no URL is set.
pub const DEFAULT_DATABASE_FILE: &str = "widgetry.db";

/// A backend and where it lives, parsed from a store URL.
///
/// ```
/// use widgetry_store::StoreLocation;
/// assert_eq!(
///     StoreLocation::parse("sqlite:///var/lib/app/widgetry.db").unwrap(),
///     StoreLocation::Sqlite("/var/lib/app/widgetry.db".into())
/// );
/// assert_eq!(
///     StoreLocation::parse("data/widgetry.db").unwrap(),
///     StoreLocation::Sqlite("data/widgetry.db".into())
/// );
/// assert!(matches!(StoreLocation::parse("redis://127.0.0.1:6379"), Ok(StoreLocation::Redis(_))));
/// assert!(StoreLocation::parse("mysql://db/app").is_err());
/// ```
#[derive(Clone, PartialEq, Eq)]
pub enum StoreLocation {
    /// `memory:`: this process only, gone at exit.
    Memory,
    /// `sqlite:///abs/path`, `sqlite://rel/path`, `sqlite:path` or a plain path.
    Sqlite(PathBuf),
    /// `postgres://…` or `postgresql://…`, kept whole for the driver.
    Postgres(String),
    /// `redis://…`, `rediss://…` (TLS) or `redis+unix://…`, kept whole for the driver.
    Redis(String),
}

impl fmt::Debug for StoreLocation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// Shows the location with any password masked.
impl fmt::Display for StoreLocation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StoreLocation::Memory => f.write_str("memory:"),
            StoreLocation::Sqlite(p) => write!(f, "sqlite://{}", p.display()),
            StoreLocation::Postgres(u) | StoreLocation::Redis(u) => f.write_str(&redact(u)),
        }
    }
}

const EXPECTED: &str = "expected sqlite:///path/to/file.db (or a plain file path), \
                        postgres://user:password@host:5432/db, redis://host:6379 or memory:";

impl StoreLocation {
    /// Parses a store URL. A string without a `scheme:` prefix is a SQLite file path.
    pub fn parse(url: &str) -> StoreResult<Self> {
        let url = url.trim();
        if url.is_empty() {
            return Err(StoreError::InvalidConfig(format!(
                "empty store URL; {EXPECTED}"
            )));
        }
        let Some(scheme) = scheme(url) else {
            return Ok(StoreLocation::Sqlite(PathBuf::from(url)));
        };
        let rest = &url[scheme.len() + 1..];
        match scheme.to_ascii_lowercase().as_str() {
            "memory" if rest.is_empty() || rest == "//" => Ok(StoreLocation::Memory),
            "memory" => Err(StoreError::InvalidConfig(format!(
                "`{url}`: write just `memory:`"
            ))),
            "sqlite" | "sqlite3" => {
                let path = rest.strip_prefix("//").unwrap_or(rest);
                if path.is_empty() {
                    return Err(StoreError::InvalidConfig(format!(
                        "`{url}` names no file; write sqlite:///absolute/path.db or sqlite://relative/path.db"
                    )));
                }
                Ok(StoreLocation::Sqlite(PathBuf::from(path)))
            }
            "postgres" | "postgresql" => Ok(StoreLocation::Postgres(url.to_owned())),
            "redis" | "rediss" | "redis+unix" | "unix" => Ok(StoreLocation::Redis(url.to_owned())),
            other => Err(StoreError::InvalidConfig(format!(
                "unknown store URL scheme `{other}:` in `{}`; {EXPECTED}",
                redact(url)
            ))),
        }
    }

    /// Opens the session store at this location.
    pub async fn open_session_store(&self) -> StoreResult<Arc<dyn SessionStore>> {
        Ok(match self {
            StoreLocation::Memory => Arc::new(MemorySessionStore::new()),
            #[cfg(feature = "sqlite")]
            StoreLocation::Sqlite(path) => {
                let path = path.clone();
                Arc::new(blocking(move || SqliteSessionStore::open(path)).await?)
            }
            #[cfg(feature = "postgres")]
            StoreLocation::Postgres(url) => Arc::new(PostgresSessionStore::connect(url).await?),
            #[cfg(feature = "redis")]
            StoreLocation::Redis(url) => Arc::new(RedisSessionStore::connect(url).await?),
            #[allow(unreachable_patterns)]
            other => return Err(other.not_compiled_in()),
        })
    }

    /// Opens the key-value store at this location.
    pub async fn open_kv_store(&self) -> StoreResult<Arc<dyn KvStore>> {
        Ok(match self {
            StoreLocation::Memory => Arc::new(MemoryKvStore::new()),
            #[cfg(feature = "sqlite")]
            StoreLocation::Sqlite(path) => {
                let path = path.clone();
                Arc::new(blocking(move || SqliteKvStore::open(path)).await?)
            }
            #[cfg(feature = "postgres")]
            StoreLocation::Postgres(url) => Arc::new(PostgresKvStore::connect(url).await?),
            #[cfg(feature = "redis")]
            StoreLocation::Redis(url) => Arc::new(RedisKvStore::connect(url).await?),
            #[allow(unreachable_patterns)]
            other => return Err(other.not_compiled_in()),
        })
    }

    /// The error for a location whose backend this build leaves out (its cargo feature
    /// is off).
    #[cfg_attr(
        all(feature = "sqlite", feature = "postgres", feature = "redis"),
        allow(dead_code)
    )]
    fn not_compiled_in(&self) -> StoreError {
        let (backend, feature) = match self {
            StoreLocation::Memory => ("the memory store", "none"),
            StoreLocation::Sqlite(_) => ("SQLite", "sqlite"),
            StoreLocation::Postgres(_) => ("PostgreSQL", "postgres"),
            StoreLocation::Redis(_) => ("Redis", "redis"),
        };
        StoreError::InvalidConfig(format!(
            "{self} needs {backend}, which this build leaves out: enable the `{feature}` cargo feature of widgetry (or widgetry-store)"
        ))
    }
}

/// The URL scheme, when `url` starts with one. A single letter is a Windows drive, and a
/// path separator before the colon makes it a path.
fn scheme(url: &str) -> Option<&str> {
    let colon = url.find(':')?;
    let scheme = &url[..colon];
    let mut chars = scheme.chars();
    let first = chars.next()?;
    let valid = first.is_ascii_alphabetic()
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'));
    (valid && scheme.len() > 1).then_some(scheme)
}

#[cfg(feature = "sqlite")]
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> StoreResult<T> + Send + 'static,
) -> StoreResult<T> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| StoreError::Unavailable(format!("store set-up task failed: {e}")))?
}

/// Opens the session store named by `url` (see [`StoreLocation::parse`]).
///
/// ```
/// # async fn demo() -> widgetry_store::StoreResult<()> {
/// let sessions = widgetry_store::open_session_store("memory:").await?;
/// assert!(sessions.get("nope").await?.is_none());
/// # Ok(()) }
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(demo()).unwrap();
/// ```
pub async fn open_session_store(url: &str) -> StoreResult<Arc<dyn SessionStore>> {
    StoreLocation::parse(url)?.open_session_store().await
}

/// Opens the key-value store named by `url` (see [`StoreLocation::parse`]).
pub async fn open_kv_store(url: &str) -> StoreResult<Arc<dyn KvStore>> {
    StoreLocation::parse(url)?.open_kv_store().await
}

/// Where an app keeps its data: durable app data in `database`, MCP transport sessions
/// in `sessions`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreConfig {
    /// From `WIDGETRY_DATABASE_URL`; default SQLite at `<data_dir>/widgetry.db`.
    pub database: StoreLocation,
    /// From `WIDGETRY_SESSION_STORE_URL`; default: the database.
    pub sessions: StoreLocation,
}

impl StoreConfig {
    /// Reads `WIDGETRY_DATABASE_URL` and `WIDGETRY_SESSION_STORE_URL` (an empty variable
    /// counts as unset).
    pub fn from_env(data_dir: impl AsRef<Path>) -> StoreResult<Self> {
        let var = |name| std::env::var(name).ok();
        Self::from_values(
            var(DATABASE_URL_ENV).as_deref(),
            var(SESSION_STORE_URL_ENV).as_deref(),
            data_dir,
        )
    }

    /// The configuration for these variable values, without reading the environment.
    ///
    /// ```
    /// use widgetry_store::{StoreConfig, StoreLocation};
    /// let cfg = StoreConfig::from_values(None, Some("redis://cache:6379"), "/srv/app").unwrap();
    /// assert_eq!(cfg.database, StoreLocation::Sqlite("/srv/app/widgetry.db".into()));
    /// assert!(matches!(cfg.sessions, StoreLocation::Redis(_)));
    /// ```
    pub fn from_values(
        database_url: Option<&str>,
        session_store_url: Option<&str>,
        data_dir: impl AsRef<Path>,
    ) -> StoreResult<Self> {
        let parse = |name: &str, value: Option<&str>| {
            value
                .filter(|v| !v.trim().is_empty())
                .map(|v| {
                    StoreLocation::parse(v).map_err(|e| match e {
                        StoreError::InvalidConfig(m) => {
                            StoreError::InvalidConfig(format!("{name}: {m}"))
                        }
                        other => other,
                    })
                })
                .transpose()
        };
        let database = parse(DATABASE_URL_ENV, database_url)?.unwrap_or_else(|| {
            StoreLocation::Sqlite(data_dir.as_ref().join(DEFAULT_DATABASE_FILE))
        });
        let sessions =
            parse(SESSION_STORE_URL_ENV, session_store_url)?.unwrap_or_else(|| database.clone());
        Ok(Self { database, sessions })
    }

    /// Opens both stores.
    pub async fn open(&self) -> StoreResult<Stores> {
        Ok(Stores {
            sessions: self.sessions.open_session_store().await?,
            kv: self.database.open_kv_store().await?,
        })
    }
}

/// The stores of one app instance.
#[derive(Clone)]
pub struct Stores {
    /// MCP transport sessions.
    pub sessions: Arc<dyn SessionStore>,
    /// Durable app data.
    pub kv: Arc<dyn KvStore>,
}

impl fmt::Debug for Stores {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Stores").finish_non_exhaustive()
    }
}

/// Opens the stores named by `WIDGETRY_DATABASE_URL` and `WIDGETRY_SESSION_STORE_URL`,
/// defaulting to SQLite at `<data_dir>/widgetry.db` for both.
///
/// ```no_run
/// # async fn demo() -> widgetry_store::StoreResult<()> {
/// let stores = widgetry_store::from_env("/var/lib/myapp").await?;
/// # let _ = stores;
/// # Ok(()) }
/// ```
pub async fn from_env(data_dir: impl AsRef<Path>) -> StoreResult<Stores> {
    StoreConfig::from_env(data_dir)?.open().await
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A backend left out of the build: its URL still parses, and opening it fails with
    /// an error naming the cargo feature, without the URL's password. Run without the
    /// default features by scripts/features-check.sh (with them, every backend is in and
    /// only the memory store is checked here).
    #[tokio::test]
    async fn a_backend_left_out_fails_to_open_naming_its_feature() {
        let cases = [
            (
                "sqlite:///tmp/widgetry-left-out.db",
                "sqlite",
                cfg!(feature = "sqlite"),
            ),
            (
                "postgres://u:secret@127.0.0.1:1/db",
                "postgres",
                cfg!(feature = "postgres"),
            ),
            (
                "redis://u:secret@127.0.0.1:1/",
                "redis",
                cfg!(feature = "redis"),
            ),
        ];
        let mut checked = 0;
        for (url, feature, compiled) in cases {
            assert!(
                StoreLocation::parse(url).is_ok(),
                "{url} parses in every build"
            );
            if compiled {
                continue;
            }
            let session = open_session_store(url).await.err();
            let kv = open_kv_store(url).await.err();
            for err in [session, kv] {
                let e = err.expect("a backend left out does not open").to_string();
                assert!(e.contains(&format!("`{feature}` cargo feature")), "{e}");
                assert!(!e.contains("secret"), "the password shows: {e}");
                checked += 1;
            }
        }
        let left_out = [
            cfg!(feature = "sqlite"),
            cfg!(feature = "postgres"),
            cfg!(feature = "redis"),
        ];
        assert_eq!(checked, 2 * left_out.iter().filter(|on| !**on).count());
        assert!(open_kv_store("memory:").await.is_ok());
        assert!(open_session_store("memory:").await.is_ok());
    }
}
