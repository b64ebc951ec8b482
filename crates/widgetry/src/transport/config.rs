//! The settings of the HTTP transports.

use std::sync::Arc;
use std::time::Duration;

use widgetry_authz::TrustedProxies;
use widgetry_store::{MemorySessionStore, SessionStore};

use super::guard::Guard;
use crate::server::session::SessionLimits;

/// The default request body limit: 4 MiB.
pub const DEFAULT_MAX_BODY_BYTES: usize = 4 * 1024 * 1024;

/// Settings of the HTTP transports.
#[derive(Clone)]
pub struct HttpConfig {
    /// Path of the Streamable HTTP endpoint (default `/mcp`).
    pub path: String,
    /// Largest accepted request body; larger ones get HTTP 413 and a JSON-RPC error.
    pub max_body_bytes: usize,
    /// Accepted `Host`/`Origin` values besides loopback.
    pub guard: Guard,
    /// How long an unused session lives.
    pub session_ttl: Duration,
    /// When true, no sessions are created: every request stands alone (like 2026-07-28).
    pub stateless: bool,
    /// Where sessions are persisted.
    pub session_store: Arc<dyn SessionStore>,
    /// Serve the legacy HTTP+SSE transport at `/sse` and `/messages` (cargo feature
    /// `legacy-sse`, on by default).
    #[cfg(feature = "legacy-sse")]
    pub legacy_sse: bool,
    /// Interval of SSE keep-alive comments on long-lived streams.
    pub keep_alive: Duration,
    /// How many sessions (Streamable HTTP and legacy SSE) may be open on one instance,
    /// in total and per client.
    pub session_limits: SessionLimits,
    /// The reverse proxies whose `X-Forwarded-For` gives the client address of the
    /// per-client session limit (default none: the TCP peer is the client).
    pub trusted_proxies: TrustedProxies,
}

impl std::fmt::Debug for HttpConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut d = f.debug_struct("HttpConfig");
        d.field("path", &self.path)
            .field("max_body_bytes", &self.max_body_bytes)
            .field("guard", &self.guard)
            .field("session_ttl", &self.session_ttl)
            .field("stateless", &self.stateless);
        #[cfg(feature = "legacy-sse")]
        d.field("legacy_sse", &self.legacy_sse);
        d.field("trusted_proxies", &self.trusted_proxies)
            .finish_non_exhaustive()
    }
}

impl Default for HttpConfig {
    fn default() -> Self {
        let mut guard = Guard::loopback();
        for (var, allow) in [
            (
                "WIDGETRY_ALLOWED_HOSTS",
                Guard::allow_host as fn(&mut Guard, &str),
            ),
            ("WIDGETRY_ALLOWED_ORIGINS", Guard::allow_origin),
        ] {
            if let Ok(list) = std::env::var(var) {
                for item in list.split(',').map(str::trim).filter(|s| !s.is_empty()) {
                    allow(&mut guard, item);
                }
            }
        }
        Self {
            path: "/mcp".into(),
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
            guard,
            session_ttl: Duration::from_secs(30 * 60),
            stateless: false,
            session_store: Arc::new(MemorySessionStore::new()),
            #[cfg(feature = "legacy-sse")]
            legacy_sse: true,
            keep_alive: Duration::from_secs(20),
            session_limits: SessionLimits::default(),
            trusted_proxies: TrustedProxies::none(),
        }
    }
}

impl HttpConfig {
    /// Allows a `Host` besides loopback (`*` for any).
    pub fn allow_host(mut self, host: &str) -> Self {
        self.guard.allow_host(host);
        self
    }
    /// Allows an `Origin` besides loopback (`*` for any).
    pub fn allow_origin(mut self, origin: &str) -> Self {
        self.guard.allow_origin(origin);
        self
    }
    /// Sets the session store.
    pub fn session_store(mut self, store: Arc<dyn SessionStore>) -> Self {
        self.session_store = store;
        self
    }
    /// Serves every request without a session.
    pub fn stateless(mut self, yes: bool) -> Self {
        self.stateless = yes;
        self
    }
    /// Sets the request body limit.
    pub fn max_body_bytes(mut self, n: usize) -> Self {
        self.max_body_bytes = n;
        self
    }
    /// Sets the trusted reverse proxies.
    pub fn trusted_proxies(mut self, proxies: TrustedProxies) -> Self {
        self.trusted_proxies = proxies;
        self
    }
    /// Sets the session TTL.
    pub fn session_ttl(mut self, ttl: Duration) -> Self {
        self.session_ttl = ttl;
        self
    }
}
