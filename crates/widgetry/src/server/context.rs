//! The per-request context handed to every handler: request `_meta`, cancellation,
//! progress and log notifications, requests to the client (sampling, elicitation), and
//! the HTTP request's extensions (where the auth layer puts the user).

use std::collections::VecDeque;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::task::{Poll, Waker};
use std::time::Duration;

use serde_json::{json, Value};
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;

use super::input::InputRound;
use super::session::SessionRuntime;
use crate::identity::{Caller, User};
use crate::protocol::jsonrpc::{self, Id, RpcError};
use crate::protocol::types::JsonObject;
use crate::protocol::{ProtocolVersion, META_CLIENT_CAPABILITIES, META_LOG_LEVEL};

/// Where a request's outgoing messages (notifications, server-to-client requests) go.
#[derive(Clone)]
pub(crate) enum Outbox {
    /// A channel drained by the transport (stdio's writer).
    Channel(mpsc::UnboundedSender<Vec<u8>>),
    /// A POST's own queue, drained by the transport (its JSON answer or SSE stream).
    Queue(Arc<OutQueue>),
    /// The session's standalone stream (GET stream, legacy SSE connection).
    Standalone(Arc<SessionRuntime>),
}

impl Outbox {
    pub(crate) fn send(&self, message: Vec<u8>) -> bool {
        match self {
            Outbox::Channel(tx) => tx.send(message).is_ok(),
            Outbox::Queue(q) => q.push(message),
            Outbox::Standalone(s) => s.send_standalone(&message),
        }
    }
}

/// The outgoing messages of one POST: one small allocation where a channel needs
/// several. Filled by the handler, drained by the transport through [`QueueReceiver`];
/// once the receiver is gone, sends fail as they would on a closed channel.
pub(crate) struct OutQueue {
    state: Mutex<QueueState>,
}

#[derive(Default)]
struct QueueState {
    items: VecDeque<Vec<u8>>,
    waker: Option<Waker>,
    closed: bool,
}

impl OutQueue {
    /// A queue and its (only) receiver.
    pub(crate) fn new() -> (Arc<OutQueue>, QueueReceiver) {
        let q = Arc::new(OutQueue {
            state: Mutex::new(QueueState::default()),
        });
        (q.clone(), QueueReceiver(q))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, QueueState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Queues a message; `false` once the receiver is gone.
    fn push(&self, message: Vec<u8>) -> bool {
        let waker = {
            let mut st = self.lock();
            if st.closed {
                return false;
            }
            st.items.push_back(message);
            st.waker.take()
        };
        if let Some(w) = waker {
            w.wake();
        }
        true
    }
}

/// The receiving end of an [`OutQueue`]; dropping it closes the queue.
pub(crate) struct QueueReceiver(Arc<OutQueue>);

impl QueueReceiver {
    /// A queued message, if any, without waiting.
    pub(crate) fn try_recv(&self) -> Option<Vec<u8>> {
        self.0.lock().items.pop_front()
    }

    /// The next message, waiting for it (forever when none ever comes: the caller waits
    /// for the handler alongside).
    pub(crate) fn recv(&self) -> impl Future<Output = Vec<u8>> + '_ {
        std::future::poll_fn(move |cx| {
            let mut st = self.0.lock();
            match st.items.pop_front() {
                Some(m) => Poll::Ready(m),
                None => {
                    if !st.waker.as_ref().is_some_and(|w| w.will_wake(cx.waker())) {
                        st.waker = Some(cx.waker().clone());
                    }
                    Poll::Pending
                }
            }
        })
    }
}

impl Drop for QueueReceiver {
    fn drop(&mut self) {
        let items = {
            let mut st = self.0.lock();
            st.closed = true;
            st.waker = None;
            std::mem::take(&mut st.items)
        };
        drop(items);
    }
}

/// Everything a transport knows about a request before dispatch.
#[derive(Clone)]
pub(crate) struct Env {
    pub caller: Caller,
    pub session: Option<Arc<SessionRuntime>>,
    pub out: Option<Outbox>,
    pub version: ProtocolVersion,
    /// `None` for a request that cannot be cancelled: it shares [`never_cancelled`].
    pub cancel: Option<CancellationToken>,
    pub extensions: http::Extensions,
    pub client_request_timeout: Duration,
}

/// The token of the requests that cannot be cancelled: one, shared, never cancelled.
fn never_cancelled() -> &'static CancellationToken {
    static NEVER: std::sync::OnceLock<CancellationToken> = std::sync::OnceLock::new();
    NEVER.get_or_init(CancellationToken::new)
}

struct Inner {
    id: Option<Id>,
    meta: Option<JsonObject>,
    env: Env,
    input: Option<InputRound>,
}

/// The context of one request, cheap to clone.
#[derive(Clone)]
pub struct RequestContext {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for RequestContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RequestContext")
            .field("id", &self.inner.id)
            .field("meta", &self.inner.meta)
            .finish_non_exhaustive()
    }
}

impl RequestContext {
    pub(crate) fn new(id: Option<Id>, meta: Option<JsonObject>, env: Env) -> Self {
        Self::with_input(id, meta, env, None)
    }

    pub(crate) fn with_input(
        id: Option<Id>,
        meta: Option<JsonObject>,
        env: Env,
        input: Option<InputRound>,
    ) -> Self {
        Self {
            inner: Arc::new(Inner {
                id,
                meta,
                env,
                input,
            }),
        }
    }

    /// The same request in its next input round (older versions: the engine got the
    /// answers itself).
    pub(crate) fn next_round(&self, input: InputRound) -> Self {
        Self::with_input(
            self.inner.id.clone(),
            self.inner.meta.clone(),
            self.inner.env.clone(),
            Some(input),
        )
    }

    /// The client's answer to the request the handler asked for under `key` in an
    /// earlier round ([`InputRequired`](super::InputRequired)): an `ElicitResult`,
    /// `CreateMessageResult` or `ListRootsResult`. `None` in the first round, and when the
    /// client did not answer that request. Client-supplied: validate it like arguments.
    pub fn input_response(&self, key: &str) -> Option<&Value> {
        self.inner.input.as_ref()?.responses.get(key)
    }

    /// Every answer of this round, by key (empty in the first round).
    pub fn input_responses(&self) -> Option<&JsonObject> {
        self.inner.input.as_ref().map(|i| &i.responses)
    }

    /// The state the handler attached to its last [`InputRequired`](super::InputRequired),
    /// back unchanged. On 2026-07-28 the engine has verified it (sealed by this server,
    /// for this caller and this request, not expired) before the handler runs.
    pub fn input_state(&self) -> Option<&Value> {
        self.inner.input.as_ref()?.state.as_ref()
    }

    /// The capabilities the client declared: on 2026-07-28 in this request's `_meta`
    /// (`io.modelcontextprotocol/clientCapabilities`), on older versions at `initialize`.
    pub fn client_capabilities(&self) -> Option<&JsonObject> {
        if self.inner.env.version.is_stateless() {
            self.meta_value(META_CLIENT_CAPABILITIES)?.as_object()
        } else {
            Some(self.inner.env.session.as_ref()?.client_capabilities())
        }
    }

    /// Whether the client declared the capability `name` (`"elicitation"`,
    /// `"sampling"`, `"roots"`, …). Ask only for input the client can give.
    pub fn client_supports(&self, name: &str) -> bool {
        self.client_capabilities()
            .is_some_and(|c| c.get(name).is_some_and(|v| !v.is_null()))
    }

    /// A context detached from any transport (for tests and direct calls).
    pub fn detached() -> Self {
        Self::new(
            None,
            None,
            Env {
                caller: Caller::Anonymous,
                session: None,
                out: None,
                version: ProtocolVersion::negotiate(crate::protocol::LATEST_HANDSHAKE_VERSION),
                cancel: Some(CancellationToken::new()),
                extensions: http::Extensions::new(),
                client_request_timeout: Duration::from_secs(60),
            },
        )
    }

    /// The JSON-RPC id of the request.
    pub fn request_id(&self) -> Option<&Id> {
        self.inner.id.as_ref()
    }

    /// The request's `_meta` object, if any.
    pub fn meta(&self) -> Option<&JsonObject> {
        self.inner.meta.as_ref()
    }

    /// One `_meta` value, e.g. `ctx.meta_value("openai/locale")`.
    pub fn meta_value(&self, key: &str) -> Option<&Value> {
        self.inner.meta.as_ref()?.get(key)
    }

    fn meta_str(&self, key: &str) -> Option<&str> {
        self.meta_value(key).and_then(Value::as_str)
    }

    /// ChatGPT's `openai/locale` hint (e.g. `en-US`). A hint, never authorization.
    pub fn locale(&self) -> Option<&str> {
        self.meta_str("openai/locale")
    }

    /// ChatGPT's `openai/userAgent` hint.
    pub fn user_agent(&self) -> Option<&str> {
        self.meta_str("openai/userAgent")
    }

    /// ChatGPT's `openai/userLocation` hint (city, region, country, timezone, …).
    pub fn user_location(&self) -> Option<&Value> {
        self.meta_value("openai/userLocation")
    }

    /// ChatGPT's `openai/subject` hint: an anonymized user id. Never use it for
    /// authorization; use the verified user instead.
    pub fn subject_hint(&self) -> Option<&str> {
        self.meta_str("openai/subject")
    }

    /// ChatGPT's `openai/session` hint: the conversation's id.
    pub fn openai_session(&self) -> Option<&str> {
        self.meta_str("openai/session")
    }

    /// The progress token the client asked progress for, if any.
    pub fn progress_token(&self) -> Option<&Value> {
        self.meta_value("progressToken")
    }

    /// The protocol version of the request.
    pub fn protocol_version(&self) -> ProtocolVersion {
        self.inner.env.version
    }

    /// What the client declared for the MCP extension `name` (an extension identifier
    /// such as `io.modelcontextprotocol/ui`): its settings object, or `None` when the
    /// client did not declare it. On 2026-07-28 requests this is read from the request's
    /// own `_meta["io.modelcontextprotocol/clientCapabilities"].extensions` (capabilities
    /// are declared per request there); on older versions from the `capabilities` the
    /// client sent at `initialize`. Self-declared by the client: use it to pick a
    /// response's form, never for authorization.
    ///
    /// ```
    /// # async fn tool(ctx: widgetry::RequestContext) {
    /// let renders_apps = ctx
    ///     .client_extension("io.modelcontextprotocol/ui")
    ///     .and_then(|s| s.get("mimeTypes"))
    ///     .and_then(|m| m.as_array())
    ///     .is_some_and(|m| m.iter().any(|t| t == "text/html;profile=mcp-app"));
    /// # let _ = renders_apps;
    /// # }
    /// ```
    pub fn client_extension(&self, name: &str) -> Option<&Value> {
        self.client_capabilities()?.get("extensions")?.get(name)
    }

    /// The session id, when the request belongs to a session.
    pub fn session_id(&self) -> Option<&str> {
        self.inner.env.session.as_ref().map(|s| s.id())
    }

    /// The HTTP request's extensions (empty on stdio), for values your own tower layers
    /// attach to requests.
    pub fn extensions(&self) -> &http::Extensions {
        &self.inner.env.extensions
    }

    /// Who called: anonymous, a verified user, or a token that could not be checked.
    pub fn caller(&self) -> &Caller {
        &self.inner.env.caller
    }

    /// The verified caller, when the request carried a valid token.
    pub fn user(&self) -> Option<&User> {
        self.inner.env.caller.user().map(|u| &**u)
    }

    /// A token cancelled when the client sends `notifications/cancelled` for this request
    /// or the session ends.
    pub fn cancellation(&self) -> &CancellationToken {
        self.inner
            .env
            .cancel
            .as_ref()
            .unwrap_or_else(|| never_cancelled())
    }

    /// Whether the request was cancelled.
    pub fn is_cancelled(&self) -> bool {
        self.cancellation().is_cancelled()
    }

    fn send(&self, message: Vec<u8>) -> bool {
        match &self.inner.env.out {
            Some(out) => out.send(message),
            None => false,
        }
    }

    /// Sends `notifications/progress` when the client asked for progress (no-op otherwise).
    pub fn progress(&self, progress: f64, total: Option<f64>, message: Option<&str>) -> bool {
        let Some(token) = self.progress_token() else {
            return false;
        };
        let mut params = json!({"progressToken": token, "progress": progress});
        if let Some(t) = total {
            params["total"] = json!(t);
        }
        if let Some(m) = message {
            params["message"] = json!(m);
        }
        self.send(jsonrpc::encode_notification(
            "notifications/progress",
            &params,
        ))
    }

    /// Sends a `notifications/message` log entry when `level` passes the client's level
    /// (on 2026-07-28 the request's `_meta` `io.modelcontextprotocol/logLevel`; without
    /// it nothing is sent).
    pub fn log(&self, level: &str, logger: Option<&str>, data: Value) -> bool {
        if self.inner.env.version.is_stateless() {
            let wanted = self
                .meta_str(META_LOG_LEVEL)
                .and_then(super::session::log_level_index);
            let given = super::session::log_level_index(level).unwrap_or(0);
            if wanted.is_none_or(|w| given < w) {
                return false;
            }
        } else if let Some(s) = &self.inner.env.session {
            if !s.log_enabled(level) {
                return false;
            }
        }
        let mut params = json!({"level": level, "data": data});
        if let Some(l) = logger {
            params["logger"] = json!(l);
        }
        self.send(jsonrpc::encode_notification(
            "notifications/message",
            &params,
        ))
    }

    /// Sends any notification to the client on this request's stream.
    pub fn notify(&self, method: &str, params: Value) -> bool {
        self.send(jsonrpc::encode_notification(method, &params))
    }

    /// Sends a request to the client (e.g. `sampling/createMessage`, `elicitation/create`)
    /// and waits for its answer, bounded by the server's client-request timeout and by
    /// this request's cancellation.
    pub async fn request_client(&self, method: &str, params: Value) -> Result<Value, RpcError> {
        if self.inner.env.version.is_stateless() {
            return Err(RpcError::internal(format!(
                "cannot send {method} to the client: protocol version {} has no server-to-client requests; return InputRequired instead",
                self.inner.env.version
            )));
        }
        let Some(session) = &self.inner.env.session else {
            return Err(RpcError::internal(format!(
                "cannot send {method} to the client: requests to the client need a session (not available on stateless requests; return InputRequired instead)"
            )));
        };
        let id = session.next_request_id();
        let (tx, rx) = oneshot::channel();
        session.add_pending(id.clone(), tx);
        if !self.send(jsonrpc::encode_request(&id, method, &params)) {
            session.drop_pending(&id);
            return Err(RpcError::internal(format!(
                "cannot send {method} to the client: the request's stream is closed"
            )));
        }
        let timeout = self.inner.env.client_request_timeout;
        let outcome = tokio::select! {
            r = rx => r.map_err(|_| RpcError::internal("the session ended before the client answered")),
            _ = tokio::time::sleep(timeout) => Err(RpcError::internal(format!("the client did not answer {method} within {timeout:?}"))),
            _ = self.cancellation().cancelled() => Err(RpcError::new(jsonrpc::code::REQUEST_CANCELLED, "request cancelled")),
        };
        session.drop_pending(&id);
        let raw = outcome??;
        serde_json::from_str(raw.get())
            .map_err(|e| RpcError::internal(format!("the client's answer is not JSON: {e}")))
    }
}
