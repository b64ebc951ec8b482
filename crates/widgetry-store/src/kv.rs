//! The generic app-data store: [`KvStore`], its [`Namespace`]s, and the rules every
//! backend shares (key limits, TTL arithmetic, counter encoding).

use std::borrow::Cow;
use std::fmt;
use std::time::Duration;

use crate::{now_ms, BoxFuture, StoreError, StoreResult};

/// The longest key (or list prefix) a [`KvStore`] accepts, in bytes.
pub const MAX_KEY_LEN: usize = 1024;

/// The longest namespace, in bytes.
const MAX_NAMESPACE_LEN: usize = 64;

/// Longest TTL honoured, in milliseconds (about 31,000 years); longer ones are clamped so
/// that `now + ttl` fits every backend's integer type.
const MAX_TTL_MS: u64 = 1_000_000_000_000_000;

/// One entry returned by [`KvStore::list`]: the key and its value.
pub type KvEntry = (String, Vec<u8>);

/// A namespace of a [`KvStore`]: one feature's keys (`likes`, `signin`, `ratelimit`), kept
/// apart from every other feature's.
///
/// 1 to 64 ASCII letters, digits, `_`, `-` or `.`. Declare the namespaces a feature uses
/// as `static`s (the store methods borrow them); an invalid literal is a compile error:
///
/// ```
/// use widgetry_store::Namespace;
/// static LIKES: Namespace = Namespace::from_static("likes");
/// assert_eq!(LIKES.as_str(), "likes");
/// assert!(Namespace::new("no spaces").is_err());
/// ```
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Namespace(Cow<'static, str>);

const fn valid_namespace(s: &str) -> bool {
    let b = s.as_bytes();
    if b.is_empty() || b.len() > MAX_NAMESPACE_LEN {
        return false;
    }
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        if !(c.is_ascii_alphanumeric() || c == b'_' || c == b'-' || c == b'.') {
            return false;
        }
        i += 1;
    }
    true
}

impl Namespace {
    /// A namespace from a literal, checked at compile time in a `static` or `const`.
    ///
    /// # Panics
    /// When `name` is not a valid namespace (in a `static`, that is a compile error).
    pub const fn from_static(name: &'static str) -> Self {
        assert!(
            valid_namespace(name),
            "a namespace is 1 to 64 ASCII letters, digits, '_', '-' or '.'"
        );
        Self(Cow::Borrowed(name))
    }

    /// A namespace from a runtime string.
    pub fn new(name: impl Into<String>) -> StoreResult<Self> {
        let name = name.into();
        if valid_namespace(&name) {
            Ok(Self(Cow::Owned(name)))
        } else {
            Err(StoreError::Invalid(format!(
                "namespace {name:?} is not 1 to {MAX_NAMESPACE_LEN} ASCII letters, digits, '_', '-' or '.'"
            )))
        }
    }

    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Namespace {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Namespace({:?})", self.as_str())
    }
}

impl fmt::Display for Namespace {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A namespaced key-value store for app data, shared by every instance that points at
/// the same backend.
///
/// Semantics every backend follows:
/// - keys are UTF-8 strings of 1 to [`MAX_KEY_LEN`] bytes without NUL; values are bytes;
/// - a `ttl` of `None` keeps the value until it is deleted; `Some(ttl)` makes it vanish
///   `ttl` after the write. An expired value is never returned, counted or listed;
/// - [`incr`](KvStore::incr) keeps counters as decimal ASCII (`get` returns `b"42"`);
/// - [`list`](KvStore::list) orders keys by their bytes.
///
/// ```
/// # async fn demo() -> widgetry_store::StoreResult<()> {
/// use std::time::Duration;
/// use widgetry_store::{KvStore, MemoryKvStore, Namespace};
///
/// static LIKES: Namespace = Namespace::from_static("likes");
/// let kv = MemoryKvStore::new();
/// kv.put(&LIKES, "user-1:widget-9", b"1", None).await?;
/// let mine = kv.list(&LIKES, "user-1:", 100).await?;
/// assert_eq!(mine, vec![("user-1:widget-9".to_string(), b"1".to_vec())]);
///
/// static RATE: Namespace = Namespace::from_static("ratelimit");
/// let n = kv.incr(&RATE, "ip-10.0.0.1", 1, Some(Duration::from_secs(60))).await?;
/// assert_eq!(n, 1);
/// # Ok(()) }
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(demo()).unwrap();
/// ```
pub trait KvStore: Send + Sync + 'static {
    /// The live value at `key`.
    fn get<'a>(
        &'a self,
        ns: &'a Namespace,
        key: &'a str,
    ) -> BoxFuture<'a, StoreResult<Option<Vec<u8>>>>;

    /// Sets `key` to `value`, replacing any value and expiry it had.
    fn put<'a>(
        &'a self,
        ns: &'a Namespace,
        key: &'a str,
        value: &'a [u8],
        ttl: Option<Duration>,
    ) -> BoxFuture<'a, StoreResult<()>>;

    /// Removes `key`; returns `true` when a live value was removed.
    fn delete<'a>(&'a self, ns: &'a Namespace, key: &'a str) -> BoxFuture<'a, StoreResult<bool>>;

    /// Atomically adds `by` (which may be negative) to the counter at `key` and returns
    /// the new value.
    ///
    /// A missing or expired counter starts at 0 and takes `ttl`; a live counter keeps the
    /// expiry it was created with (a fixed window, as rate limits want). Fails with
    /// [`StoreError::Invalid`] when the value is not a decimal integer or would overflow.
    fn incr<'a>(
        &'a self,
        ns: &'a Namespace,
        key: &'a str,
        by: i64,
        ttl: Option<Duration>,
    ) -> BoxFuture<'a, StoreResult<i64>>;

    /// Up to `limit` live entries whose key starts with `prefix`, ordered by key.
    fn list<'a>(
        &'a self,
        ns: &'a Namespace,
        prefix: &'a str,
        limit: usize,
    ) -> BoxFuture<'a, StoreResult<Vec<KvEntry>>>;

    /// Atomically sets `key` to `value` unless it holds a live value; returns `true` when
    /// this call wrote it. Of several racing callers, exactly one wins.
    fn put_if_absent<'a>(
        &'a self,
        ns: &'a Namespace,
        key: &'a str,
        value: &'a [u8],
        ttl: Option<Duration>,
    ) -> BoxFuture<'a, StoreResult<bool>>;

    /// Removes expired entries; returns how many were removed.
    fn sweep(&self) -> BoxFuture<'_, StoreResult<u64>>;
}

/// Rejects keys the backends cannot all hold.
pub(crate) fn check_key(key: &str) -> StoreResult<()> {
    if key.is_empty() {
        return Err(StoreError::Invalid("a key cannot be empty".into()));
    }
    check_prefix(key)
}

/// Rejects list prefixes the backends cannot all hold (an empty prefix lists everything).
pub(crate) fn check_prefix(key: &str) -> StoreResult<()> {
    if key.len() > MAX_KEY_LEN {
        return Err(StoreError::Invalid(format!(
            "a key is at most {MAX_KEY_LEN} bytes; this one has {}",
            key.len()
        )));
    }
    if key.contains('\0') {
        return Err(StoreError::Invalid("a key cannot contain NUL".into()));
    }
    Ok(())
}

/// A TTL in whole milliseconds, clamped to what every backend can store.
pub(crate) fn ttl_ms(ttl: Duration) -> u64 {
    u64::try_from(ttl.as_millis())
        .unwrap_or(u64::MAX)
        .min(MAX_TTL_MS)
}

/// The absolute expiry of a value written now with `ttl`.
pub(crate) fn expiry(ttl: Option<Duration>) -> Option<u64> {
    ttl.map(|t| now_ms().saturating_add(ttl_ms(t)))
}

/// Reads a counter stored as decimal ASCII.
pub(crate) fn parse_counter(ns: &Namespace, key: &str, value: &[u8]) -> StoreResult<i64> {
    std::str::from_utf8(value)
        .ok()
        .and_then(|s| s.parse::<i64>().ok())
        .ok_or_else(|| not_a_counter(ns, key))
}

pub(crate) fn not_a_counter(ns: &Namespace, key: &str) -> StoreError {
    StoreError::Invalid(format!(
        "{ns}/{key} does not hold a counter (a decimal 64-bit integer)"
    ))
}

pub(crate) fn overflow(ns: &Namespace, key: &str, by: i64) -> StoreError {
    StoreError::Invalid(format!("adding {by} to the counter {ns}/{key} overflows"))
}
