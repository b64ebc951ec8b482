//! Caching hints of MCP 2026-07-28 (`ttlMs`, `cacheScope`): how long a client may keep a
//! `server/discover`, list or `resources/read` result, and whether a shared cache may
//! serve it to other users.

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// Who may cache a result (`cacheScope`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CacheScope {
    /// The result holds no user-specific data: any client, gateway or proxy may share it
    /// across users.
    Public,
    /// The result may be reused only within the same authorization context.
    Private,
}

/// A result's caching hint: freshness lifetime and scope.
///
/// ```
/// use std::time::Duration;
/// use widgetry::protocol::cache::{CacheHint, CacheScope};
///
/// let widget = CacheHint::public(Duration::from_secs(365 * 24 * 3600));
/// assert_eq!(widget.ttl_ms(), 31_536_000_000);
/// assert_eq!(CacheHint::NONE.scope, CacheScope::Private);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct CacheHint {
    /// How long the client may consider the result fresh (`ttlMs`; zero: stale at once).
    pub ttl: Duration,
    /// Who may share the cached result (`cacheScope`).
    pub scope: CacheScope,
}

impl CacheHint {
    /// Immediately stale and private: the safe hint for results that may change at any
    /// time or depend on the caller.
    pub const NONE: CacheHint = CacheHint {
        ttl: Duration::ZERO,
        scope: CacheScope::Private,
    };

    /// Fresh for `ttl`, shareable across users.
    pub const fn public(ttl: Duration) -> Self {
        Self {
            ttl,
            scope: CacheScope::Public,
        }
    }

    /// Fresh for `ttl`, only within the caller's authorization context.
    pub const fn private(ttl: Duration) -> Self {
        Self {
            ttl,
            scope: CacheScope::Private,
        }
    }

    /// `ttlMs` as sent (saturating at `u64::MAX` milliseconds).
    pub fn ttl_ms(&self) -> u64 {
        u64::try_from(self.ttl.as_millis()).unwrap_or(u64::MAX)
    }

    /// The JSON fields `"ttlMs":N,"cacheScope":"…"` (no braces), to splice into a result.
    pub(crate) fn fields(&self) -> String {
        let scope = match self.scope {
            CacheScope::Public => "public",
            CacheScope::Private => "private",
        };
        format!(r#""ttlMs":{},"cacheScope":"{scope}""#, self.ttl_ms())
    }
}
