//! Streamable HTTP: one endpoint (`/mcp`) for POST (a message; answered as JSON, or as
//! an SSE stream when the handler sends notifications or requests first), GET (the
//! session's standalone SSE stream, resumable with `Last-Event-ID`) and DELETE (ends the
//! session).
//!
//! A request's answer is JSON unless the handler emits something before finishing; then
//! the response switches to SSE on the spot. The fast path therefore costs no more than
//! a plain JSON handler.

// Handlers return the ready HTTP `Response` of a refusal from their helpers; boxing it
// would only add an allocation to the error path.
#![allow(clippy::result_large_err)]

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use http::header::{self, HeaderMap, HeaderValue};
use http::StatusCode;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::headers::{METHOD_NAME, NAME_NAME, SESSION_NAME, VERSION_NAME};
use super::layers::{caller, client_key, read_body};
use super::messages::handle_notification;
use super::response::{self, bad_request, rpc_error};
use super::state::HttpState;
use crate::identity::Caller;
use crate::protocol::jsonrpc::{self, code, Id, Message, RpcError};
use crate::protocol::{ProtocolVersion, DEFAULT_HTTP_VERSION};
use crate::server::context::{Env, OutQueue, Outbox};
use crate::server::dispatch::{Authorized, Failure, Ready};
use crate::server::session::{parse_event_id, sse_frame, Access};
use crate::server::SessionRuntime;

fn header_str(h: &HeaderMap, name: impl header::AsHeaderName) -> Option<&str> {
    h.get(name).and_then(|v| v.to_str().ok())
}

/// Whether the Accept header admits `application/json` and `text/event-stream`, read in
/// one pass over its bytes (no header, or one that is not visible ASCII, admits
/// everything).
fn accepted(h: &HeaderMap) -> (bool, bool) {
    let Some(a) = h.get(header::ACCEPT).and_then(|v| v.to_str().ok()) else {
        return (true, true);
    };
    let (mut json, mut sse) = (false, false);
    for part in a.as_bytes().split(|&b| b == b',') {
        // A visible-ASCII value: `trim_ascii` trims what `str::trim` would.
        let t = part
            .split(|&b| b == b';')
            .next()
            .unwrap_or(b"")
            .trim_ascii();
        json = json || media_matches(t, b"application/json");
        sse = sse || media_matches(t, b"text/event-stream");
        if json && sse {
            break;
        }
    }
    (json, sse)
}

fn media_matches(t: &[u8], mime: &[u8]) -> bool {
    t == mime || t == b"*/*" || (t.ends_with(b"/*") && mime.starts_with(&t[..t.len() - 1]))
}

fn accepts(h: &HeaderMap, mime: &str) -> bool {
    match h.get(header::ACCEPT).and_then(|v| v.to_str().ok()) {
        None => true,
        Some(a) => a.split(',').any(|part| {
            let t = part.split(';').next().unwrap_or("").trim();
            media_matches(t.as_bytes(), mime.as_bytes())
        }),
    }
}

/// Resolves the session named by the request and admits `caller` to it; `required`
/// decides whether a missing header is an error (400). A session that does not exist
/// and one that belongs to another user get the same 404.
async fn resolve_session(
    state: &HttpState,
    headers: &HeaderMap,
    required: bool,
    caller: &Caller,
) -> Result<Option<Arc<SessionRuntime>>, Response> {
    let Some(id) = header_str(headers, &SESSION_NAME) else {
        if required {
            return Err(bad_request(
                StatusCode::BAD_REQUEST,
                "bad request: missing Mcp-Session-Id header; send initialize first and echo the session id it returns",
            ));
        }
        return Ok(None);
    };
    let session = match state.sessions.get(id).await {
        Ok(Some(s)) => s,
        Ok(None) => return Err(response::session_not_found()),
        Err(e) => return Err(response::store_unavailable(e)),
    };
    match session.access(caller) {
        Access::Allowed => Ok(Some(session)),
        Access::Claimed => {
            if session.is_persistent() {
                if let Err(e) = state.sessions.save(session.record()).await {
                    return Err(response::store_unavailable(e));
                }
            }
            Ok(Some(session))
        }
        Access::Denied => Err(response::session_not_found()),
    }
}

/// Renders a failure of the engine path: refusals with their status and challenge,
/// JSON-RPC errors as an ordinary JSON-RPC response.
fn failure(f: Failure, id: &Id) -> Response {
    match f {
        Failure::Refused(r) => response::refusal(r, Some(id)),
        Failure::Rpc(e) => response::json(jsonrpc::encode_error(Some(id), &e), None),
        Failure::BadRequest(e) => rpc_error(StatusCode::BAD_REQUEST, Some(id), e),
        Failure::NotFound(e) => rpc_error(StatusCode::NOT_FOUND, Some(id), e),
    }
}

/// A `-32020` header mismatch (HTTP 400).
fn header_mismatch(id: Option<&Id>, message: String) -> Response {
    rpc_error(
        StatusCode::BAD_REQUEST,
        id,
        RpcError::new(code::HEADER_MISMATCH, message),
    )
}

/// The request's `MCP-Protocol-Version`: `None` when absent; an
/// `UnsupportedProtocolVersionError` (HTTP 400, with the supported versions and the
/// requested one) when the server does not speak it.
fn header_version(h: &HeaderMap, id: Option<&Id>) -> Result<Option<ProtocolVersion>, Response> {
    let Some(raw) = h.get(&VERSION_NAME) else {
        return Ok(None);
    };
    let v = raw.to_str().unwrap_or("").trim();
    ProtocolVersion::parse(v).map(Some).ok_or_else(|| {
        rpc_error(
            StatusCode::BAD_REQUEST,
            id,
            crate::protocol::unsupported_version_error(v),
        )
    })
}

/// Checks the request headers a POST must carry; returns whether the client accepts an
/// SSE answer.
fn check_post_headers(h: &HeaderMap) -> Result<bool, Response> {
    if let Some(ct) = h.get(header::CONTENT_TYPE) {
        let ct = ct.to_str().unwrap_or("");
        let ct_trim = ct.trim_start().as_bytes();
        if !(ct_trim.len() >= 16 && ct_trim[..16].eq_ignore_ascii_case(b"application/json")) {
            return Err(bad_request(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                format!("unsupported Content-Type {ct:?}: send application/json"),
            ));
        }
    }
    let (json, sse) = accepted(h);
    if !json && !sse {
        return Err(bad_request(
            StatusCode::NOT_ACCEPTABLE,
            "not acceptable: the Accept header must list application/json and text/event-stream",
        ));
    }
    Ok(sse)
}

pub(crate) async fn post_message(State(state): State<Arc<HttpState>>, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    let accepts_sse = match check_post_headers(&parts.headers) {
        Ok(v) => v,
        Err(r) => return r,
    };
    let body = match read_body(body, state.config.max_body_bytes).await {
        Ok(b) => b,
        Err(r) => return r,
    };
    let msg = match jsonrpc::decode(&body) {
        Ok(m) => m,
        Err(e) => return rpc_error(StatusCode::BAD_REQUEST, e.id.as_ref(), e.error),
    };
    let caller = caller(&parts.extensions);
    match msg {
        Message::Request(r) => {
            let id = r.id.clone().unwrap_or(Id::Num(0));
            let header_version = match header_version(&parts.headers, Some(&id)) {
                Ok(v) => v,
                Err(resp) => return resp,
            };
            let stateless_request = header_version.is_some_and(|v| v.is_stateless());
            if r.method == "initialize" && !stateless_request {
                return initialize(&state, &parts, &caller, r).await;
            }
            let default = || {
                ProtocolVersion::parse(DEFAULT_HTTP_VERSION)
                    .unwrap_or_else(|| ProtocolVersion::negotiate(DEFAULT_HTTP_VERSION))
            };
            let version = header_version.unwrap_or_else(default);
            let parsed = match state.server.parse(&r, version) {
                Ok(p) => p,
                Err(f) => return failure(f, &id),
            };
            if let Some(tool) = parsed.tool(&state.server) {
                crate::ops::observe::note_tool(tool);
            }
            // The header must agree with the version the body's `_meta` names.
            if let Some(m) = parsed.meta_protocol_version() {
                if header_version.map(|v| v.as_str()) != Some(m) {
                    let msg = match header_version {
                        None => format!(
                            "Header mismatch: the MCP-Protocol-Version header is missing; it must equal _meta protocolVersion {m:?}"
                        ),
                        Some(h) => format!(
                            "Header mismatch: MCP-Protocol-Version header {:?} does not match _meta protocolVersion {m:?}",
                            h.as_str()
                        ),
                    };
                    return header_mismatch(Some(&id), msg);
                }
            }
            if version.is_stateless() {
                let name = parsed.name(&state.server);
                if let Err(m) = check_routing_headers(&parts.headers, &r.method, name) {
                    return header_mismatch(Some(&id), m.0);
                }
                if let Some((schema, args)) = parsed.tool_call(&state.server) {
                    let params = super::headers::param_headers(schema);
                    if !params.is_empty() {
                        let args: serde_json::Value =
                            serde_json::from_str(args.get()).unwrap_or_default();
                        if let Err(m) =
                            super::headers::check_param_headers(&parts.headers, &params, &args)
                        {
                            return header_mismatch(Some(&id), m.0);
                        }
                    }
                }
            }
            let is_set_level = r.method == "logging/setLevel";
            let stateless = state.config.stateless || version.is_stateless();
            let session = match resolve_session(&state, &parts.headers, !stateless, &caller).await {
                Ok(s) => s,
                Err(resp) => return resp,
            };
            let version = session
                .as_ref()
                .map(|s| s.version())
                .filter(|_| !version.is_stateless())
                .unwrap_or(version);
            let authorized = match state.server.authorize(parsed, &caller, session.as_deref()) {
                Ok(a) => a,
                Err(f) => return failure(f, &id),
            };
            let resp = run_request(
                &state,
                id,
                authorized,
                RequestEnv {
                    caller,
                    session: session.clone(),
                    version,
                    accepts_sse,
                    extensions: super::layers::with_client_address(
                        &state.config.trusted_proxies,
                        &parts.headers,
                        parts.extensions,
                    ),
                },
            )
            .await;
            if is_set_level {
                if let Some(s) = session.filter(|s| s.is_persistent()) {
                    if let Err(e) = state.sessions.save(s.record()).await {
                        return response::store_unavailable(e);
                    }
                }
            }
            resp
        }
        Message::Notification(n) => {
            if let Err(resp) = header_version(&parts.headers, None) {
                return resp;
            }
            let session = match resolve_session(&state, &parts.headers, false, &caller).await {
                Ok(s) => s,
                Err(resp) => return resp,
            };
            handle_notification(session.as_ref(), &n);
            StatusCode::ACCEPTED.into_response()
        }
        Message::Response { id, outcome } => {
            if let Err(resp) = header_version(&parts.headers, None) {
                return resp;
            }
            let session = match resolve_session(&state, &parts.headers, true, &caller).await {
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

/// The 2026-07-28 routing headers: `Mcp-Method` always, `Mcp-Name` for the requests
/// that name something (tool, prompt, resource URI); each must equal the body's value
/// (the name after Base64-sentinel decoding; method values compare case-sensitively).
fn check_routing_headers(
    h: &HeaderMap,
    method: &str,
    name: Option<&str>,
) -> Result<(), super::headers::HeaderMismatch> {
    use super::headers::{decode_header_value, HeaderMismatch};
    let Some(raw) = h.get(&METHOD_NAME) else {
        return Err(HeaderMismatch(format!(
            "Header mismatch: the Mcp-Method header is missing (it must be {method:?})"
        )));
    };
    let m = decode_header_value("Mcp-Method", raw)?;
    if m != method {
        return Err(HeaderMismatch(format!(
            "Header mismatch: Mcp-Method header value {m:?} does not match body value {method:?}"
        )));
    }
    let named = matches!(method, "tools/call" | "resources/read" | "prompts/get");
    match (h.get(&NAME_NAME), name) {
        (None, Some(n)) if named => Err(HeaderMismatch(format!(
            "Header mismatch: the Mcp-Name header is missing (it must be {n:?})"
        ))),
        (None, _) => Ok(()),
        (Some(raw), n) => {
            let got = decode_header_value("Mcp-Name", raw)?;
            if Some(got.as_str()) != n {
                return Err(HeaderMismatch(format!(
                    "Header mismatch: Mcp-Name header value {got:?} does not match body value {:?}",
                    n.unwrap_or("")
                )));
            }
            Ok(())
        }
    }
}

async fn initialize(
    state: &Arc<HttpState>,
    parts: &http::request::Parts,
    caller: &Caller,
    r: jsonrpc::Request<'_>,
) -> Response {
    let id = r.id.clone().unwrap_or(Id::Num(0));
    let init = match state.server.initialize(&r) {
        Ok(i) => i,
        Err(e) => return rpc_error(StatusCode::BAD_REQUEST, Some(&id), e),
    };
    if state.config.stateless {
        return response::json(jsonrpc::encode_result(&id, &init.result), None);
    }
    let creator = client_key(&state.config.trusted_proxies, caller, parts);
    match state
        .sessions
        .create(
            init.version,
            init.client_info,
            init.capabilities,
            caller,
            &creator,
        )
        .await
    {
        Ok(s) => response::json(jsonrpc::encode_result(&id, &init.result), Some(s.id())),
        Err(e) => response::create_failed(Some(&id), e),
    }
}

/// What the handler of one request runs with, besides the request itself.
struct RequestEnv {
    caller: Caller,
    session: Option<Arc<SessionRuntime>>,
    version: ProtocolVersion,
    accepts_sse: bool,
    extensions: http::Extensions,
}

async fn run_request(
    state: &Arc<HttpState>,
    id: Id,
    request: Authorized,
    renv: RequestEnv,
) -> Response {
    let RequestEnv {
        caller,
        session,
        version,
        accepts_sse,
        extensions,
    } = renv;
    // Nothing to run (lists, ping, a challenge): no channel, no cancellation, no task.
    let request = match request.ready(version.is_stateless()) {
        Ready::Answer(result) => return response::json(jsonrpc::encode_result(&id, &result), None),
        Ready::Run(request) => request,
    };
    let (queue, rx) = OutQueue::new();
    // Only session requests can be cancelled (notifications/cancelled names a session's
    // request); stateless ones share a token that is never cancelled (no token here).
    let cancel = session.as_ref().map(|s| {
        let token = CancellationToken::new();
        s.register_inflight(id.clone(), token.clone());
        token
    });
    let outbox = match (&session, accepts_sse) {
        (Some(s), false) => Outbox::Standalone(s.clone()),
        _ => Outbox::Queue(queue),
    };
    let env = Env {
        caller,
        session: session.clone(),
        out: Some(outbox),
        version,
        cancel: cancel.clone(),
        extensions,
        client_request_timeout: state.server.config().client_request_timeout,
    };
    let server = state.server.clone();
    let rid = id.clone();
    let mut fut = Box::pin(async move {
        let Some(cancel) = cancel else {
            return Some(server.respond(&rid, request, env).await);
        };
        tokio::select! {
            r = server.respond(&rid, request, env) => Some(r),
            _ = cancel.cancelled() => None,
        }
    });

    // Fast path: the handler finishes before emitting anything → one JSON response.
    let first = tokio::select! {
        biased;
        outcome = &mut fut => {
            if let Some(s) = &session { s.finish_inflight(&id); }
            let mut queued = Vec::new();
            while let Some(m) = rx.try_recv() { queued.push(m); }
            let answer = match outcome {
                Some(o) if o.bad_request && queued.is_empty() => {
                    return response::json_status(StatusCode::BAD_REQUEST, o.body);
                }
                Some(o) => o.body,
                None => jsonrpc::encode_error(Some(&id), &RpcError::new(code::REQUEST_CANCELLED, "request cancelled")),
            };
            if queued.is_empty() || !accepts_sse {
                return response::json(answer, None);
            }
            // Notifications raced the result: send them all as one SSE body.
            let mut body = Vec::new();
            for m in queued.iter().chain(std::iter::once(&answer)) {
                body.extend_from_slice(&sse_frame(None, m));
            }
            return response::sse_complete(body);
        }
        m = rx.recv() => m,
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
                m = rx.recv() => emit(&m),
                outcome = &mut fut => break outcome,
            }
        };
        while let Some(m) = rx.try_recv() {
            emit(&m);
        }
        if let Some(s) = &sess {
            s.finish_inflight(&id);
        }
        if let Some(o) = outcome {
            emit(&o.body);
        }
        if let (Some(s), Some(sid)) = (&sess, stream_id) {
            s.detach_stream(sid);
        }
    });
    response::sse(sse_rx)
}

pub(crate) async fn get_stream(State(state): State<Arc<HttpState>>, req: Request) -> Response {
    let headers = req.headers();
    if state.config.stateless {
        let mut r = bad_request(
            StatusCode::METHOD_NOT_ALLOWED,
            "this server is stateless: it has no GET stream; POST messages instead",
        );
        r.headers_mut()
            .insert(header::ALLOW, HeaderValue::from_static("POST"));
        return r;
    }
    if !accepts(headers, "text/event-stream") {
        return bad_request(
            StatusCode::NOT_ACCEPTABLE,
            "not acceptable: GET needs Accept: text/event-stream",
        );
    }
    let caller = caller(req.extensions());
    let session = match resolve_session(&state, headers, true, &caller).await {
        Ok(Some(s)) => s,
        Ok(None) => return response::session_not_found(),
        Err(r) => return r,
    };
    let (tx, rx) = mpsc::unbounded_channel::<Bytes>();
    let resume = header_str(headers, "last-event-id").and_then(parse_event_id);
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
                return response::sse(rx);
            }
        }
        None => session.attach_stream(0, tx.clone()),
    }
    response::keep_alive(tx, state.config.keep_alive);
    response::sse(rx)
}

pub(crate) async fn delete_session(State(state): State<Arc<HttpState>>, req: Request) -> Response {
    let caller = caller(req.extensions());
    let headers = req.headers();
    if header_str(headers, &SESSION_NAME).is_none() {
        return bad_request(
            StatusCode::BAD_REQUEST,
            "bad request: DELETE needs the Mcp-Session-Id header",
        );
    }
    let session = match resolve_session(&state, headers, true, &caller).await {
        Ok(Some(s)) => s,
        Ok(None) => return response::session_not_found(),
        Err(r) => return r,
    };
    match state.sessions.delete(session.id()).await {
        Ok(true) => StatusCode::NO_CONTENT.into_response(),
        Ok(false) => response::session_not_found(),
        Err(e) => response::store_unavailable(e),
    }
}
