//! Transports: Streamable HTTP (`/mcp`), legacy HTTP+SSE (`/sse` + `/messages`) and
//! stdio. All of them decode JSON-RPC, resolve the session and hand each request to the
//! same engine path ([`Server`](crate::server::Server): parse → authorize → run); they
//! only render what it answers.

pub mod guard;
pub mod http;
pub(crate) mod layers;
mod listing;
pub(crate) mod response;
pub mod sse;
pub mod stdio;
pub(crate) mod well_known;

use std::sync::Arc;
use std::time::Duration;

use serde::Deserialize;
use tokio_util::sync::CancellationToken;
use widgetry_store::{MemorySessionStore, SessionStore};

use crate::identity::{Caller, Refusal};
use crate::protocol::jsonrpc::{self, Id, Message, RpcError};
use crate::server::context::{Env, Outbox};
use crate::server::session::SessionLimits;
use crate::server::{Authorized, Failure, Server, SessionRuntime};
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
    /// How many sessions (Streamable HTTP and legacy SSE) may be open on one instance,
    /// in total and per client.
    pub session_limits: SessionLimits,
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
            session_limits: SessionLimits::default(),
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
struct CancelledParams {
    #[serde(rename = "requestId")]
    request_id: Id,
}

/// Handles a notification the engine understands (cancellation); others are ignored.
/// The caller has already been admitted to `session`.
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

/// What a connection-bound session (legacy SSE, stdio) does with one message.
pub(crate) enum Job {
    /// Nothing more (a notification or a response, already applied).
    Done,
    /// Answer `initialize` with this result.
    Reply(Id, Vec<u8>),
    /// Run an authorized request.
    Run(Id, Authorized),
}

/// Parses and authorizes one decoded message for a connection-bound session whose
/// caller has already been admitted. Errors carry the id to answer with.
pub(crate) fn accept(
    server: &Server,
    session: &Arc<SessionRuntime>,
    msg: Message<'_>,
    caller: &Caller,
) -> Result<Job, (Option<Id>, Failure)> {
    match msg {
        Message::Notification(n) => {
            handle_notification(Some(session), &n);
            Ok(Job::Done)
        }
        Message::Response { id, outcome } => {
            session.resolve_pending(&id, outcome);
            Ok(Job::Done)
        }
        Message::Request(r) => {
            let id = r.id.clone().unwrap_or(Id::Num(0));
            let fail = |f: Failure| (Some(id.clone()), f);
            if r.method == "initialize" {
                let init = server.initialize(&r).map_err(|e| fail(Failure::Rpc(e)))?;
                return Ok(Job::Reply(id, init.result));
            }
            let parsed = server.parse(&r).map_err(fail)?;
            let authorized = server.authorize(parsed, caller, Some(session)).map_err(fail)?;
            Ok(Job::Run(id, authorized))
        }
    }
}

/// A refusal where there is no HTTP status to carry it (stdio, a legacy SSE stream):
/// a JSON-RPC error whose `data` holds the status and the challenge.
pub(crate) fn refusal_error(r: Refusal) -> RpcError {
    let data = serde_json::json!({
        "status": r.status.as_u16(),
        "www_authenticate": r.challenge,
    });
    RpcError::new(r.rpc_code(), r.message).with_data(data)
}

/// Runs an accepted job on a spawned task (so a slow tool never blocks the connection),
/// answering through `outbox`.
pub(crate) fn spawn_job(
    server: Server,
    session: Arc<SessionRuntime>,
    job: Job,
    outbox: Outbox,
    caller: Caller,
    extensions: ::http::Extensions,
) {
    let (id, request) = match job {
        Job::Done => return,
        Job::Reply(id, result) => {
            outbox.send(jsonrpc::encode_result(&id, &result));
            return;
        }
        Job::Run(id, request) => (id, request),
    };
    let cancel = CancellationToken::new();
    session.register_inflight(id.clone(), cancel.clone());
    tokio::spawn(async move {
        let env = Env {
            caller,
            session: Some(session.clone()),
            out: Some(outbox.clone()),
            version: session.version(),
            cancel: cancel.clone(),
            extensions,
            client_request_timeout: server.config().client_request_timeout,
        };
        let outcome = tokio::select! {
            r = server.run(request, env) => r,
            _ = cancel.cancelled() => {
                session.finish_inflight(&id);
                return;
            }
        };
        session.finish_inflight(&id);
        outbox.send(crate::server::encode_outcome(&id, &outcome));
    });
}
