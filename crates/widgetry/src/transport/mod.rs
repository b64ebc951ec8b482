//! Transports: Streamable HTTP (`/mcp`), legacy HTTP+SSE (`/sse` + `/messages`) and
//! stdio. All of them decode JSON-RPC, resolve the session and hand requests to the same
//! [`Server`](crate::server::Server).

pub mod guard;
pub mod http;
pub mod sse;
pub mod stdio;

use std::sync::Arc;
use std::time::Duration;

use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::Value;
use tokio_util::sync::CancellationToken;
use widgetry_store::{MemorySessionStore, SessionStore};

use crate::protocol::jsonrpc::{self, Id, Message};
use crate::protocol::ProtocolVersion;
use crate::server::context::{Env, Outbox};
use crate::server::{Server, SessionRuntime};
pub use guard::Guard;

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
    /// Serve the legacy HTTP+SSE transport at `/sse` and `/messages`.
    pub legacy_sse: bool,
    /// Interval of SSE keep-alive comments on long-lived streams.
    pub keep_alive: Duration,
    /// The resource-server state when auth is configured (set by the app builder).
    pub auth: Option<Arc<crate::auth::AuthState>>,
}

impl std::fmt::Debug for HttpConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpConfig")
            .field("path", &self.path)
            .field("max_body_bytes", &self.max_body_bytes)
            .field("guard", &self.guard)
            .field("session_ttl", &self.session_ttl)
            .field("stateless", &self.stateless)
            .field("legacy_sse", &self.legacy_sse)
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
            legacy_sse: true,
            keep_alive: Duration::from_secs(20),
            auth: None,
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
    /// Sets the session TTL.
    pub fn session_ttl(mut self, ttl: Duration) -> Self {
        self.session_ttl = ttl;
        self
    }
}

#[derive(Deserialize)]
pub(crate) struct InitializeParams {
    #[serde(rename = "protocolVersion")]
    pub protocol_version: String,
    #[serde(default)]
    pub capabilities: Option<Value>,
    #[serde(rename = "clientInfo", default)]
    pub client_info: Option<Value>,
}

impl InitializeParams {
    pub(crate) fn client_json(&self) -> String {
        serde_json::json!({"clientInfo": self.client_info, "capabilities": self.capabilities})
            .to_string()
    }
}

#[derive(Deserialize)]
struct CancelledParams {
    #[serde(rename = "requestId")]
    request_id: Id,
}

/// Handles a notification the engine understands (cancellation); others are ignored.
pub(crate) fn handle_notification(
    session: Option<&Arc<SessionRuntime>>,
    req: &jsonrpc::Request<'_>,
) {
    if req.method == "notifications/cancelled" {
        if let (Some(s), Ok(p)) = (session, req.parse_params::<CancelledParams>()) {
            s.cancel(&p.request_id);
        }
    }
}

/// Runs one message on a connection-bound session (legacy SSE, stdio): requests are
/// answered through `reply`, notifications and responses are applied. The message is
/// processed on a spawned task so a slow tool never blocks the connection.
pub(crate) fn spawn_on_session(
    server: Server,
    session: Arc<SessionRuntime>,
    body: Vec<u8>,
    outbox: Outbox,
    extensions: ::http::Extensions,
) {
    let msg = match jsonrpc::decode(&body) {
        Ok(m) => m,
        Err(e) => {
            outbox.send(jsonrpc::encode_error(e.id.as_ref(), &e.error));
            return;
        }
    };
    match msg {
        Message::Notification(n) => handle_notification(Some(&session), &n),
        Message::Response { id, outcome } => {
            session.resolve_pending(&id, outcome);
        }
        Message::Request(r) => {
            let id = r.id.clone().unwrap_or(Id::Num(0));
            let method = r.method.to_string();
            let params: Option<Box<RawValue>> = r.params.map(|p| p.to_owned());
            let cancel = CancellationToken::new();
            session.register_inflight(id.clone(), cancel.clone());
            tokio::spawn(async move {
                let req = jsonrpc::Request {
                    id: Some(id.clone()),
                    method: method.as_str().into(),
                    params: params.as_deref(),
                };
                let outcome = if method == "initialize" {
                    req.parse_params::<InitializeParams>().map(|p| {
                        server.initialize_result(ProtocolVersion::negotiate(&p.protocol_version))
                    })
                } else {
                    let env = Env {
                        session: Some(session.clone()),
                        out: Some(outbox.clone()),
                        version: session.version(),
                        cancel: cancel.clone(),
                        extensions,
                        client_request_timeout: server.config().client_request_timeout,
                    };
                    tokio::select! {
                        r = server.dispatch(&req, env) => r,
                        _ = cancel.cancelled() => {
                            session.finish_inflight(&id);
                            return;
                        }
                    }
                };
                session.finish_inflight(&id);
                outbox.send(crate::server::encode_outcome(&id, &outcome));
            });
        }
    }
}
