//! Streamable HTTP: one endpoint (`/mcp`) for POST (a message; answered as JSON, or as
//! an SSE stream when the handler sends notifications or requests first), GET (the
//! session's standalone SSE stream, resumable with `Last-Event-ID`) and DELETE (ends the
//! session).
//!
//! A request's answer is JSON unless the handler emits something before finishing; then
//! the response switches to SSE on the spot. The fast path therefore costs no more than
//! a plain JSON handler.

// Refusals are returned as the ready HTTP `Response`, built once per refused request;
// boxing them would only add an allocation to the error path.
#![allow(clippy::result_large_err)]

use std::convert::Infallible;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use bytes::Bytes;
use http::header::{self, HeaderMap, HeaderValue};
use http::StatusCode;
use http_body_util::{BodyExt, Limited};
use serde_json::value::RawValue;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::{handle_notification, HttpConfig, InitializeParams};
use crate::auth::{Caller, Gate};
use crate::protocol::jsonrpc::{self, code, Id, Message, RpcError};
use crate::protocol::{ProtocolVersion, DEFAULT_HTTP_VERSION};
use crate::server::context::{Env, Outbox};
use crate::server::session::{parse_event_id, sse_frame};
use crate::server::{
    encode_outcome, meta_protocol_version, Server, SessionManager, SessionRuntime,
};

/// Header carrying the session id.
pub const SESSION_HEADER: &str = "mcp-session-id";
/// Header carrying the protocol version.
pub const VERSION_HEADER: &str = "mcp-protocol-version";
/// 2026-07-28 routing header naming the method.
pub const METHOD_HEADER: &str = "mcp-method";
/// 2026-07-28 routing header naming the tool, prompt or resource.
pub const NAME_HEADER: &str = "mcp-name";

/// Shared state of the HTTP transports.
pub struct HttpState {
    pub(crate) server: Server,
    pub(crate) config: HttpConfig,
    pub(crate) sessions: SessionManager,
    pub(crate) legacy: super::sse::LegacySessions,
}

impl std::fmt::Debug for HttpState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpState")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl HttpState {
    /// The engine.
    pub fn server(&self) -> &Server {
        &self.server
    }
    /// The session manager.
    pub fn sessions(&self) -> &SessionManager {
        &self.sessions
    }

    /// Sends `notifications/resources/updated` to every session on this instance that
    /// subscribed to `uri`; returns how many were notified.
    pub fn notify_resource_updated(&self, uri: &str) -> usize {
        let msg = jsonrpc::encode_notification(
            "notifications/resources/updated",
            &serde_json::json!({ "uri": uri }),
        );
        self.sessions
            .live_sessions()
            .into_iter()
            .chain(self.legacy.all())
            .filter(|s| s.is_subscribed(uri))
            .filter(|s| s.send_standalone(&msg))
            .count()
    }
}

/// Builds the router for the MCP endpoints (Streamable HTTP and, when enabled, legacy
/// SSE), plus a background sweeper of expired sessions.
pub fn router(server: Server, config: HttpConfig) -> (Router, Arc<HttpState>) {
    let state = Arc::new(HttpState {
        sessions: SessionManager::new(config.session_store.clone(), config.session_ttl),
        server,
        legacy: Default::default(),
        config,
    });
    spawn_sweeper(&state);
    let mut r = Router::new().route(
        &state.config.path,
        get(get_stream).post(post_message).delete(delete_session),
    );
    if state.config.legacy_sse {
        r = r
            .route("/sse", get(super::sse::get_sse))
            .route("/messages", axum::routing::post(super::sse::post_messages));
    }
    (r.with_state(state.clone()), state)
}

fn spawn_sweeper(state: &Arc<HttpState>) {
    let weak = Arc::downgrade(state);
    let period = (state.config.session_ttl / 4).clamp(
        std::time::Duration::from_secs(1),
        std::time::Duration::from_secs(60),
    );
    if tokio::runtime::Handle::try_current().is_err() {
        return;
    }
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(period);
        tick.tick().await;
        loop {
            tick.tick().await;
            let Some(state) = weak.upgrade() else { return };
            if let Err(e) = state.sessions.sweep().await {
                tracing::warn!("session sweep failed: {e}");
            }
        }
    });
}

/// A JSON-RPC error as an HTTP response.
pub(crate) fn rpc_error(status: StatusCode, id: Option<&Id>, error: RpcError) -> Response {
    let mut resp = Response::new(Body::from(jsonrpc::encode_error(id, &error)));
    *resp.status_mut() = status;
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    resp
}

fn json_response(body: Vec<u8>, session: Option<&str>) -> Response {
    let mut resp = Response::new(Body::from(body));
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    if let Some(id) = session.and_then(|s| HeaderValue::from_str(s).ok()) {
        h.insert(SESSION_HEADER, id);
    }
    resp
}

fn sse_response(rx: mpsc::UnboundedReceiver<Bytes>) -> Response {
    let stream = futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|b| (Ok::<_, Infallible>(b), rx))
    });
    let mut resp = Response::new(Body::from_stream(stream));
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/event-stream"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    h.insert("x-accel-buffering", HeaderValue::from_static("no"));
    resp
}

/// Sends SSE comments while the stream is open, so idle proxies keep it.
pub(crate) fn keep_alive(tx: mpsc::UnboundedSender<Bytes>, every: std::time::Duration) {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(every);
        tick.tick().await;
        loop {
            tick.tick().await;
            if tx.send(Bytes::from_static(b": keep-alive\n\n")).is_err() {
                return;
            }
        }
    });
}

pub(crate) fn guard(state: &HttpState, headers: &HeaderMap) -> Result<(), Response> {
    state.config.guard.check(headers).map_err(|e| {
        rpc_error(
            StatusCode::FORBIDDEN,
            None,
            RpcError::invalid_request(e.to_string()),
        )
    })
}

/// Reads a body up to the configured limit.
pub(crate) async fn read_body(state: &HttpState, body: Body) -> Result<Bytes, Response> {
    let limit = state.config.max_body_bytes;
    match Limited::new(body, limit).collect().await {
        Ok(c) => Ok(c.to_bytes()),
        Err(e) if e.is::<http_body_util::LengthLimitError>() => Err(rpc_error(
            StatusCode::PAYLOAD_TOO_LARGE,
            None,
            RpcError::invalid_request(format!(
                "request body too large: the limit is {limit} bytes (HttpConfig::max_body_bytes)"
            )),
        )),
        Err(e) => Err(rpc_error(
            StatusCode::BAD_REQUEST,
            None,
            RpcError::invalid_request(format!("could not read the request body: {e}")),
        )),
    }
}

fn header_str<'a>(h: &'a HeaderMap, name: &str) -> Option<&'a str> {
    h.get(name).and_then(|v| v.to_str().ok())
}

fn accepts(h: &HeaderMap, mime: &str) -> bool {
    match h.get(header::ACCEPT).and_then(|v| v.to_str().ok()) {
        None => true,
        Some(a) => a.split(',').any(|part| {
            let t = part.split(';').next().unwrap_or("").trim();
            t == mime || t == "*/*" || (t.ends_with("/*") && mime.starts_with(&t[..t.len() - 1]))
        }),
    }
}

fn store_unavailable(e: impl std::fmt::Display) -> Response {
    rpc_error(
        StatusCode::SERVICE_UNAVAILABLE,
        None,
        RpcError::new(code::SERVER_UNAVAILABLE, e.to_string()),
    )
}

/// Authenticates the request when auth is configured: puts the verified user into the
/// extensions and returns the caller; refuses invalid tokens (and, on a server whose
/// every tool is protected, missing ones) with 401.
pub(crate) async fn authenticate(
    state: &HttpState,
    headers: &HeaderMap,
    extensions: &mut http::Extensions,
    id: Option<&Id>,
) -> Result<Option<Caller>, Response> {
    let Some(auth) = &state.config.auth else {
        return Ok(None);
    };
    match auth.authenticate(headers).await {
        Ok(caller) => {
            if let Caller::User(u) = &caller {
                extensions.insert(u.clone());
            }
            Ok(Some(caller))
        }
        Err(refusal) => Err(refusal.into_response(id)),
    }
}

/// The per-tool check of a `tools/call`: `Ok(None)` to run it, `Ok(Some(result))` to
/// answer with a ready tool result, `Err` to refuse at the HTTP level.
pub(crate) fn gate_tool_call(
    state: &HttpState,
    caller: Option<&Caller>,
    req: &jsonrpc::Request<'_>,
) -> Result<Option<serde_json::Value>, Response> {
    let (Some(auth), Some(caller)) = (&state.config.auth, caller) else {
        return Ok(None);
    };
    if req.method != "tools/call" {
        return Ok(None);
    }
    #[derive(serde::Deserialize)]
    struct Named<'a> {
        #[serde(borrow)]
        name: std::borrow::Cow<'a, str>,
    }
    let Some(named) = req
        .params
        .and_then(|p| serde_json::from_str::<Named<'_>>(p.get()).ok())
    else {
        return Ok(None);
    };
    match auth.gate(&named.name, caller) {
        Gate::Allow => Ok(None),
        Gate::Result(v) => Ok(Some(v)),
        Gate::Refuse(r) => Err(r.into_response(req.id.as_ref())),
    }
}

/// Resolves the session named by the request; `required` decides whether a missing
/// header is an error (400).
async fn resolve_session(
    state: &HttpState,
    headers: &HeaderMap,
    required: bool,
) -> Result<Option<Arc<SessionRuntime>>, Response> {
    match header_str(headers, SESSION_HEADER) {
        None if required => Err(rpc_error(
            StatusCode::BAD_REQUEST,
            None,
            RpcError::invalid_request(
                "bad request: missing Mcp-Session-Id header; send initialize first and echo the session id it returns",
            ),
        )),
        None => Ok(None),
        Some(id) => match state.sessions.get(id).await {
            Ok(Some(s)) => Ok(Some(s)),
            Ok(None) => Err(rpc_error(
                StatusCode::NOT_FOUND,
                None,
                RpcError::invalid_request(
                    "session not found: it expired or was ended; send initialize to start a new one",
                ),
            )),
            Err(e) => Err(store_unavailable(e)),
        },
    }
}

async fn post_message(State(state): State<Arc<HttpState>>, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    if let Err(r) = guard(&state, &parts.headers) {
        return r;
    }
    if let Some(ct) = parts.headers.get(header::CONTENT_TYPE) {
        let ct = ct.to_str().unwrap_or("");
        let ct_trim = ct.trim_start().as_bytes();
        if !(ct_trim.len() >= 16 && ct_trim[..16].eq_ignore_ascii_case(b"application/json")) {
            return rpc_error(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                None,
                RpcError::invalid_request(format!(
                    "unsupported Content-Type {ct:?}: send application/json"
                )),
            );
        }
    }
    let accepts_json = accepts(&parts.headers, "application/json");
    let accepts_sse = accepts(&parts.headers, "text/event-stream");
    if !accepts_json && !accepts_sse {
        return rpc_error(
            StatusCode::NOT_ACCEPTABLE,
            None,
            RpcError::invalid_request(
                "not acceptable: the Accept header must list application/json and text/event-stream",
            ),
        );
    }
    let header_version = match header_str(&parts.headers, VERSION_HEADER) {
        None => None,
        Some(v) => match ProtocolVersion::parse(v) {
            Some(v) => Some(v),
            None => {
                return rpc_error(
                    StatusCode::BAD_REQUEST,
                    None,
                    RpcError::invalid_request(format!(
                        "unsupported MCP-Protocol-Version {v:?}; supported: {}",
                        crate::protocol::SUPPORTED_VERSIONS.join(", ")
                    )),
                )
            }
        },
    };
    let body = match read_body(&state, body).await {
        Ok(b) => b,
        Err(r) => return r,
    };
    let msg = match jsonrpc::decode(&body) {
        Ok(m) => m,
        Err(e) => return rpc_error(StatusCode::BAD_REQUEST, e.id.as_ref(), e.error),
    };
    let (mut parts, msg) = (parts, msg);
    let msg_id = match &msg {
        Message::Request(r) => r.id.clone(),
        _ => None,
    };
    let caller = match authenticate(
        &state,
        &parts.headers,
        &mut parts.extensions,
        msg_id.as_ref(),
    )
    .await
    {
        Ok(c) => c,
        Err(resp) => return resp,
    };
    match msg {
        Message::Request(r) if r.method == "initialize" => {
            initialize(&state, &parts.headers, r).await
        }
        Message::Request(r) => {
            let meta_version = if header_version.is_none_or(|v| v.is_stateless()) {
                meta_protocol_version(&r)
            } else {
                None
            };
            let version = match (header_version, meta_version.as_deref()) {
                (Some(v), _) => v,
                (None, Some(m)) => match ProtocolVersion::parse(m) {
                    Some(v) => v,
                    None => {
                        return rpc_error(
                            StatusCode::BAD_REQUEST,
                            r.id.as_ref(),
                            RpcError::invalid_request(format!(
                                "unsupported protocol version {m:?} in _meta"
                            )),
                        )
                    }
                },
                (None, None) => ProtocolVersion::parse(DEFAULT_HTTP_VERSION)
                    .unwrap_or_else(|| ProtocolVersion::negotiate(DEFAULT_HTTP_VERSION)),
            };
            if version.is_stateless() {
                if let Err(resp) = check_routing_headers(&parts.headers, &r) {
                    return resp;
                }
            }
            let stateless = state.config.stateless || version.is_stateless();
            let session = match resolve_session(&state, &parts.headers, !stateless).await {
                Ok(s) => s,
                Err(resp) => return resp,
            };
            let version = session
                .as_ref()
                .map(|s| s.version())
                .filter(|_| !version.is_stateless())
                .unwrap_or(version);
            match gate_tool_call(&state, caller.as_ref(), &r) {
                Ok(None) => {}
                Ok(Some(result)) => {
                    let id = r.id.clone().unwrap_or(Id::Num(0));
                    let bytes = serde_json::to_vec(&result).unwrap_or_default();
                    return json_response(jsonrpc::encode_result(&id, &bytes), None);
                }
                Err(resp) => return resp,
            }
            let is_set_level = r.method == "logging/setLevel";
            let id = r.id.clone().unwrap_or(Id::Num(0));
            let owned = OwnedRequest {
                id: id.clone(),
                method: r.method.to_string(),
                params: r.params.map(|p| p.to_owned()),
            };
            drop(r);
            let resp = run_request(
                &state,
                owned,
                session.clone(),
                version,
                accepts_sse,
                parts.extensions,
            )
            .await;
            if is_set_level {
                if let Some(s) = session.filter(|s| s.is_persistent()) {
                    if let Err(e) = state.sessions.save(s.record()).await {
                        return store_unavailable(e);
                    }
                }
            }
            resp
        }
        Message::Notification(n) => {
            let session = match resolve_session(&state, &parts.headers, false).await {
                Ok(s) => s,
                Err(resp) => return resp,
            };
            handle_notification(session.as_ref(), &n);
            StatusCode::ACCEPTED.into_response()
        }
        Message::Response { id, outcome } => {
            let session = match resolve_session(&state, &parts.headers, true).await {
                Ok(s) => s,
                Err(resp) => return resp,
            };
            if let Some(s) = session {
                s.resolve_pending(&id, outcome);
            }
            StatusCode::ACCEPTED.into_response()
        }
    }
}

/// 2026-07-28 routing headers must agree with the body when present.
fn check_routing_headers(h: &HeaderMap, r: &jsonrpc::Request<'_>) -> Result<(), Response> {
    let bad = |msg: String| {
        Err(rpc_error(
            StatusCode::BAD_REQUEST,
            r.id.as_ref(),
            RpcError::invalid_request(msg),
        ))
    };
    if let Some(m) = header_str(h, METHOD_HEADER) {
        if m != r.method {
            return bad(format!(
                "Mcp-Method header {m:?} does not match the body's method {:?}",
                r.method
            ));
        }
    }
    if let Some(name) = header_str(h, NAME_HEADER) {
        #[derive(serde::Deserialize)]
        struct Named {
            name: Option<String>,
            uri: Option<String>,
        }
        let body_name = r
            .params
            .and_then(|p| serde_json::from_str::<Named>(p.get()).ok())
            .and_then(|n| n.name.or(n.uri));
        if body_name.as_deref() != Some(name) {
            return bad(format!(
                "Mcp-Name header {name:?} does not match the body's name/uri {body_name:?}"
            ));
        }
    }
    Ok(())
}

async fn initialize(
    state: &Arc<HttpState>,
    headers: &HeaderMap,
    r: jsonrpc::Request<'_>,
) -> Response {
    let id = r.id.clone().unwrap_or(Id::Num(0));
    let params: InitializeParams = match r.parse_params() {
        Ok(p) => p,
        Err(e) => return rpc_error(StatusCode::BAD_REQUEST, Some(&id), e),
    };
    let _ = headers;
    let version = ProtocolVersion::negotiate(&params.protocol_version);
    let result = state.server.initialize_result(version);
    if state.config.stateless {
        return json_response(jsonrpc::encode_result(&id, &result), None);
    }
    match state.sessions.create(version, params.client_json()).await {
        Ok(s) => json_response(jsonrpc::encode_result(&id, &result), Some(s.id())),
        Err(e) => store_unavailable(e),
    }
}

/// A request detached from the body buffer, so its handler can outlive the POST.
struct OwnedRequest {
    id: Id,
    method: String,
    params: Option<Box<RawValue>>,
}

/// A token that is never cancelled, shared by requests that cannot be cancelled.
fn never_cancelled() -> CancellationToken {
    static NEVER: std::sync::OnceLock<CancellationToken> = std::sync::OnceLock::new();
    NEVER.get_or_init(CancellationToken::new).clone()
}

async fn run_request(
    state: &Arc<HttpState>,
    owned: OwnedRequest,
    session: Option<Arc<SessionRuntime>>,
    version: ProtocolVersion,
    accepts_sse: bool,
    extensions: http::Extensions,
) -> Response {
    let (tx, mut rx) = mpsc::unbounded_channel::<Vec<u8>>();
    // Only session requests can be cancelled (notifications/cancelled names a session's
    // request); stateless ones share a token that is never cancelled.
    let cancel = match &session {
        Some(_) => CancellationToken::new(),
        None => never_cancelled(),
    };
    let cancellable = session.is_some();
    let id = owned.id.clone();
    if let Some(s) = &session {
        s.register_inflight(id.clone(), cancel.clone());
    }
    let outbox = match (&session, accepts_sse) {
        (Some(s), false) => Outbox::Standalone(s.clone()),
        _ => Outbox::Channel(tx),
    };
    let env = Env {
        session: session.clone(),
        out: Some(outbox),
        version,
        cancel: cancel.clone(),
        extensions,
        client_request_timeout: state.server.config().client_request_timeout,
    };
    let server = state.server.clone();
    let mut fut = Box::pin(async move {
        let req = jsonrpc::Request {
            id: Some(owned.id.clone()),
            method: owned.method.as_str().into(),
            params: owned.params.as_deref(),
        };
        if !cancellable {
            return Some(server.dispatch(&req, env).await);
        }
        tokio::select! {
            r = server.dispatch(&req, env) => Some(r),
            _ = cancel.cancelled() => None,
        }
    });

    // Fast path: the handler finishes before emitting anything → one JSON response.
    let first = tokio::select! {
        biased;
        outcome = &mut fut => {
            if let Some(s) = &session { s.finish_inflight(&id); }
            let mut queued = Vec::new();
            while let Ok(m) = rx.try_recv() { queued.push(m); }
            let response = match outcome {
                Some(o) => encode_outcome(&id, &o),
                None => jsonrpc::encode_error(Some(&id), &RpcError::new(code::REQUEST_CANCELLED, "request cancelled")),
            };
            if queued.is_empty() || !accepts_sse {
                return json_response(response, None);
            }
            // Notifications raced the result: send them all as one SSE body.
            let mut body = Vec::new();
            for m in queued.iter().chain(std::iter::once(&response)) {
                body.extend_from_slice(&sse_frame(None, m));
            }
            let mut resp = sse_response_from_bytes(body);
            resp.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
            return resp;
        }
        Some(m) = rx.recv() => m,
    };

    // The handler is talking: switch to SSE and keep driving it on its own task.
    let (sse_tx, sse_rx) = mpsc::unbounded_channel::<Bytes>();
    let stream_id = session.as_ref().map(|s| {
        let sid = s.new_stream();
        s.attach_stream(sid, sse_tx.clone());
        sid
    });
    let sess = session.clone();
    tokio::spawn(async move {
        let mut seq = 0u64;
        let mut emit = |m: &[u8]| {
            seq += 1;
            match (&sess, stream_id) {
                (Some(s), Some(sid)) => {
                    s.send_event(sid, seq, m);
                }
                _ => {
                    let _ = sse_tx.send(sse_frame(None, m));
                }
            }
        };
        emit(&first);
        let outcome = loop {
            tokio::select! {
                biased;
                Some(m) = rx.recv() => emit(&m),
                outcome = &mut fut => break outcome,
            }
        };
        while let Ok(m) = rx.try_recv() {
            emit(&m);
        }
        if let Some(s) = &sess {
            s.finish_inflight(&id);
        }
        if let Some(o) = outcome {
            emit(&encode_outcome(&id, &o));
        }
        if let (Some(s), Some(sid)) = (&sess, stream_id) {
            s.detach_stream(sid);
        }
    });
    sse_response(sse_rx)
}

fn sse_response_from_bytes(body: Vec<u8>) -> Response {
    let mut resp = Response::new(Body::from(body));
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/event-stream"),
    );
    resp
}

async fn get_stream(State(state): State<Arc<HttpState>>, headers: HeaderMap) -> Response {
    if let Err(r) = guard(&state, &headers) {
        return r;
    }
    if state.config.stateless {
        let mut r = rpc_error(
            StatusCode::METHOD_NOT_ALLOWED,
            None,
            RpcError::invalid_request(
                "this server is stateless: it has no GET stream; POST messages instead",
            ),
        );
        r.headers_mut()
            .insert(header::ALLOW, HeaderValue::from_static("POST"));
        return r;
    }
    if !accepts(&headers, "text/event-stream") {
        return rpc_error(
            StatusCode::NOT_ACCEPTABLE,
            None,
            RpcError::invalid_request("not acceptable: GET needs Accept: text/event-stream"),
        );
    }
    if let Err(r) = authenticate(&state, &headers, &mut http::Extensions::new(), None).await {
        return r;
    }
    let session = match resolve_session(&state, &headers, true).await {
        Ok(Some(s)) => s,
        Ok(None) => return unreachable_session(),
        Err(r) => return r,
    };
    let (tx, rx) = mpsc::unbounded_channel::<Bytes>();
    let resume = header_str(&headers, "last-event-id").and_then(parse_event_id);
    match resume {
        Some((stream, seq)) => {
            for frame in session.replay(stream, seq) {
                let _ = tx.send(frame);
            }
            if stream == 0 || session.has_stream(stream) {
                // Continue the interrupted stream on this connection.
                session.attach_stream(stream, tx.clone());
            } else {
                // The stream already completed: replay only, then close.
                drop(tx);
                return sse_response(rx);
            }
        }
        None => session.attach_stream(0, tx.clone()),
    }
    keep_alive(tx, state.config.keep_alive);
    sse_response(rx)
}

fn unreachable_session() -> Response {
    rpc_error(
        StatusCode::BAD_REQUEST,
        None,
        RpcError::invalid_request("missing Mcp-Session-Id header"),
    )
}

async fn delete_session(State(state): State<Arc<HttpState>>, headers: HeaderMap) -> Response {
    if let Err(r) = guard(&state, &headers) {
        return r;
    }
    if let Err(r) = authenticate(&state, &headers, &mut http::Extensions::new(), None).await {
        return r;
    }
    let Some(id) = header_str(&headers, SESSION_HEADER) else {
        return rpc_error(
            StatusCode::BAD_REQUEST,
            None,
            RpcError::invalid_request("bad request: DELETE needs the Mcp-Session-Id header"),
        );
    };
    match state.sessions.delete(id).await {
        Ok(true) => StatusCode::NO_CONTENT.into_response(),
        Ok(false) => rpc_error(
            StatusCode::NOT_FOUND,
            None,
            RpcError::invalid_request("session not found: it expired or was already ended"),
        ),
        Err(e) => store_unavailable(e),
    }
}
