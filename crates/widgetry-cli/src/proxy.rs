//! The local MCP proxy behind `widgetry host`: the host page in the browser speaks MCP
//! to `/mcp` on 127.0.0.1, and the proxy forwards each request to the target server with
//! the CLI's bearer token, so the target's CORS rules do not matter and the page never
//! holds a token.
//!
//! Sign-in is the CLI's OAuth client ([`crate::oauth::Authorizer`]): a 401, a 403
//! `insufficient_scope`, or a failed `tools/call` result carrying
//! `_meta["mcp/www_authenticate"]` makes the proxy sign in (browser or printed URL, as
//! `widgetry call` does) and retry, within the authorizer's retry limits; the page sees
//! only the answer after that, or a JSON-RPC error saying why sign-in failed. One
//! sign-in runs at a time; requests that were waiting for it retry with its token.
//! A `tools/call` answer is held back only until the server sends something other than
//! the result (a question for the user, progress, a log line): from then on the tool is
//! running — no challenge can come — and the answer streams to the page as it arrives,
//! so the page can answer the server's questions while the call waits.
//!
//! The proxy signs requests with the user's token, so it answers only its own page: the
//! `Host` must be its own loopback address (DNS rebinding) and an `Origin`, when sent,
//! its own origin; POST bodies must be JSON (no form posts from other sites).

use std::sync::Arc;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::{DefaultBodyLimit, State};
use axum::response::{IntoResponse, Response};
use axum::routing::on;
use axum::Router;
use http::{header, HeaderMap, HeaderName, HeaderValue, Method, StatusCode};
use serde_json::{json, Value};
use tokio::sync::Mutex;

use crate::http::{HttpClient, HttpError, HttpUrl, Request};
use crate::mcp::tool_challenge;
use crate::oauth::{Attempts, AuthError, Authorizer, Challenge};

/// Largest request the page may send.
const MAX_REQUEST_BYTES: usize = 4 * 1024 * 1024;
/// Largest `tools/call` answer read whole (to look for a sign-in request in it).
const MAX_TOOL_ANSWER_BYTES: usize = 32 * 1024 * 1024;
/// Request headers passed on to the target (and every `Mcp-Param-*` header, see
/// [`forwarded`]).
const FORWARDED_REQUEST: [&str; 7] = [
    "content-type",
    "accept",
    "mcp-session-id",
    "mcp-protocol-version",
    "last-event-id",
    // 2026-07-28 routing headers.
    "mcp-method",
    "mcp-name",
];

/// Whether a request header of the page goes on to the target.
fn forwarded(name: &HeaderName) -> bool {
    FORWARDED_REQUEST.contains(&name.as_str()) || name.as_str().starts_with("mcp-param-")
}
/// Tries of one request, whatever happens (the authorizer bounds sign-ins; this bounds
/// retries after another request's sign-in or a refresh changed the token).
const MAX_ROUNDS: usize = 6;
/// Response headers passed back to the page (never `www-authenticate`: the proxy signs
/// in, not the page).
const FORWARDED_RESPONSE: [&str; 3] = ["content-type", "mcp-session-id", "cache-control"];

/// Where the proxy forwards to, and who it answers.
pub struct Proxy {
    http: HttpClient,
    target: HttpUrl,
    auth: Mutex<Authorizer>,
    timeout: Duration,
    hosts: Vec<String>,
    origins: Vec<String>,
}

impl Proxy {
    /// A proxy to `target` signing with `auth`, answering pages served from
    /// `127.0.0.1:port` / `localhost:port`. `timeout` bounds the wait for each answer's
    /// headers (signing in is not counted).
    pub fn new(
        http: HttpClient,
        target: HttpUrl,
        auth: Authorizer,
        timeout: Duration,
        port: u16,
    ) -> Self {
        let hosts = vec![format!("127.0.0.1:{port}"), format!("localhost:{port}")];
        let origins = hosts.iter().map(|h| format!("http://{h}")).collect();
        Self {
            http,
            target,
            auth: Mutex::new(auth),
            timeout,
            hosts,
            origins,
        }
    }

    /// The routes: `POST`, `GET` (the server's event stream) and `DELETE` on `path`.
    pub fn router(self: Arc<Self>, path: &str) -> Router {
        let methods = axum::routing::MethodFilter::POST
            .or(axum::routing::MethodFilter::GET)
            .or(axum::routing::MethodFilter::DELETE);
        Router::new()
            .route(path, on(methods, forward))
            .layer(DefaultBodyLimit::max(MAX_REQUEST_BYTES))
            .with_state(self)
    }

    /// Why a request may not use the proxy, if it may not.
    fn refuse(&self, method: &Method, headers: &HeaderMap) -> Option<Response> {
        let text = |name: HeaderName| headers.get(name).and_then(|v| v.to_str().ok());
        let host = text(header::HOST).unwrap_or("").to_ascii_lowercase();
        if !self.hosts.contains(&host) {
            return Some(plain(
                StatusCode::FORBIDDEN,
                &format!("forbidden: Host {host:?} is not this proxy (DNS-rebinding protection)"),
            ));
        }
        if let Some(origin) = text(header::ORIGIN) {
            if !self.origins.contains(&origin.to_ascii_lowercase()) {
                return Some(plain(
                    StatusCode::FORBIDDEN,
                    &format!("forbidden: Origin {origin:?} is not this proxy's page"),
                ));
            }
        }
        if method == Method::POST {
            let media = text(header::CONTENT_TYPE)
                .unwrap_or("")
                .split(';')
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase();
            if media != "application/json" {
                return Some(plain(
                    StatusCode::UNSUPPORTED_MEDIA_TYPE,
                    "MCP requests are application/json",
                ));
            }
        }
        None
    }

    /// The request to the target, with the token.
    fn outbound(
        &self,
        method: &Method,
        headers: &HeaderMap,
        body: &Bytes,
        token: Option<&str>,
    ) -> Request {
        let mut req = Request::new(method.clone(), &self.target, body.clone());
        for (name, value) in headers.iter().filter(|(n, _)| forwarded(n)) {
            if let Ok(v) = value.to_str() {
                req = req.header_value(name.clone(), v);
            }
        }
        if let Some(t) = token {
            req = req.header_value(header::AUTHORIZATION, &format!("Bearer {t}"));
        }
        req
    }
}

/// What the page sent, as far as the proxy cares.
struct Sent {
    /// The JSON-RPC id (for error answers).
    id: Value,
    /// Whether it is a `tools/call`, whose answer may ask for sign-in.
    tool_call: bool,
}

impl Sent {
    fn read(body: &Bytes) -> Self {
        let msg: Value = serde_json::from_slice(body).unwrap_or_default();
        Self {
            id: msg.get("id").cloned().unwrap_or(Value::Null),
            tool_call: msg.get("method").and_then(Value::as_str) == Some("tools/call"),
        }
    }
}

/// Why forwarding failed.
#[derive(Debug, thiserror::Error)]
enum ForwardError {
    #[error(transparent)]
    Http(#[from] HttpError),
    #[error(transparent)]
    Auth(#[from] AuthError),
    #[error("the server still refuses after {MAX_ROUNDS} tries with fresh tokens; giving up")]
    TooManyRounds,
}

async fn forward(
    State(proxy): State<Arc<Proxy>>,
    method: Method,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Some(refused) = proxy.refuse(&method, &headers) {
        return refused;
    }
    let sent = Sent::read(&body);
    match forward_signed(&proxy, &method, &headers, &body, &sent).await {
        Ok(r) => r,
        Err(e) => {
            crate::output::error(&format!("widgetry host: {e}"));
            let answer = json!({
                "jsonrpc": "2.0",
                "id": sent.id,
                "error": {"code": -32603, "message": format!("widgetry host: {e}")},
            });
            (StatusCode::BAD_GATEWAY, axum::Json(answer)).into_response()
        }
    }
}

/// Sends the request with the current token, signing in and retrying when the target
/// asks for it.
async fn forward_signed(
    proxy: &Proxy,
    method: &Method,
    headers: &HeaderMap,
    body: &Bytes,
    sent: &Sent,
) -> Result<Response, ForwardError> {
    let mut attempts = Attempts::default();
    let mut tool_retried = false;
    for _ in 0..MAX_ROUNDS {
        let token = proxy.auth.lock().await.bearer().await?;
        let req = proxy.outbound(method, headers, body, token.as_deref());
        let resp = proxy.http.send(req, proxy.timeout).await?;
        let status = resp.status;
        let challenge = Challenge::from_headers(resp.header_all("www-authenticate"));
        let step_up = status == StatusCode::FORBIDDEN && challenge.is_insufficient_scope();
        if status == StatusCode::UNAUTHORIZED || step_up {
            drop(resp);
            let mut auth = proxy.auth.lock().await;
            // Another request signed in while this one waited: use that token.
            if auth.bearer().await? != token {
                continue;
            }
            if step_up {
                auth.on_insufficient_scope(&challenge, &mut attempts)
                    .await?;
            } else {
                auth.on_unauthorized(&challenge, token.is_some(), &mut attempts)
                    .await?;
            }
            continue;
        }
        if !(sent.tool_call && status.is_success()) {
            return Ok(streamed(resp));
        }
        let (parts, answer) = match read_tool_answer(resp, &sent.id).await? {
            ToolRead::Whole(parts, answer) => (parts, answer),
            ToolRead::Running(r) => return Ok(r),
        };
        if !tool_retried {
            if let Some(challenge) = answer.result.as_ref().and_then(tool_challenge) {
                tool_retried = true;
                let mut auth = proxy.auth.lock().await;
                if auth.bearer().await? == token {
                    auth.on_tool_challenge(&challenge, &mut attempts).await?;
                }
                continue;
            }
        }
        return Ok(respond(parts, Body::from(answer.raw)));
    }
    Err(ForwardError::TooManyRounds)
}

/// A `tools/call` answer read whole: its bytes as sent, and the result in it.
struct ToolAnswer {
    raw: Bytes,
    result: Option<Value>,
}

/// How a `tools/call` answer was read.
enum ToolRead {
    /// Whole: a JSON answer, or an event stream that carried the result before anything
    /// else (so a sign-in challenge in it can still be acted on).
    Whole((StatusCode, HeaderMap), ToolAnswer),
    /// The server sent a message of its own first — a question for the user
    /// (`elicitation/create`), progress, a log line: the tool is running and waits on the
    /// page, so what was read goes on at once and the rest streams as it arrives.
    Running(Response),
}

async fn read_tool_answer(resp: crate::http::Response, id: &Value) -> Result<ToolRead, HttpError> {
    let parts = (resp.status, resp.headers.clone());
    if resp.media_type() != "text/event-stream" {
        let raw = resp.bytes(MAX_TOOL_ANSWER_BYTES).await?;
        let result = serde_json::from_slice::<Value>(&raw)
            .ok()
            .and_then(|m| m.get("result").cloned());
        return Ok(ToolRead::Whole(parts, ToolAnswer { raw, result }));
    }
    let url = resp.url().to_string();
    let mut body = resp.into_body();
    let mut raw = Vec::new();
    // Bytes of `raw` already looked at: whole events, each parsed once.
    let mut scanned = 0;
    let mut answered = false;
    while let Some(frame) = http_body_util::BodyExt::frame(&mut body).await {
        let frame = frame.map_err(|e| HttpError::Body {
            url: url.clone(),
            reason: e.to_string(),
        })?;
        let Ok(data) = frame.into_data() else {
            continue;
        };
        if raw.len() + data.len() > MAX_TOOL_ANSWER_BYTES {
            return Err(HttpError::TooLarge {
                url,
                limit: MAX_TOOL_ANSWER_BYTES,
            });
        }
        raw.extend_from_slice(&data);
        if answered {
            continue;
        }
        let (events, end) = complete_events(&raw[scanned..]);
        scanned += end;
        let (own, other) = events.iter().fold((false, false), |(o, x), m| {
            let is_answer = m.get("id") == Some(id) && m.get("method").is_none();
            (o || is_answer, x || !is_answer)
        });
        if other && !own {
            let head = Bytes::from(raw);
            return Ok(ToolRead::Running(respond(
                parts,
                Body::new(Prefixed {
                    head: Some(head),
                    rest: body,
                }),
            )));
        }
        answered = own;
    }
    let result = sse_messages(&raw)
        .into_iter()
        .find(|m| m.get("id") == Some(id))
        .and_then(|m| m.get("result").cloned());
    Ok(ToolRead::Whole(
        parts,
        ToolAnswer {
            raw: raw.into(),
            result,
        },
    ))
}

/// The messages of the events at the start of `raw` that are complete (ended by a blank
/// line), and how many bytes they take.
fn complete_events(raw: &[u8]) -> (Vec<Value>, usize) {
    let lf = raw.windows(2).rposition(|w| w == b"\n\n").map(|i| i + 2);
    let crlf = raw
        .windows(4)
        .rposition(|w| w == b"\r\n\r\n")
        .map(|i| i + 4);
    let end = lf.max(crlf).unwrap_or(0);
    (sse_messages(&raw[..end]), end)
}

/// A body that starts with bytes already read and goes on with the rest of another.
struct Prefixed {
    head: Option<Bytes>,
    rest: hyper::body::Incoming,
}

impl hyper::body::Body for Prefixed {
    type Data = Bytes;
    type Error = hyper::Error;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<hyper::body::Frame<Bytes>, hyper::Error>>> {
        if let Some(head) = self.head.take() {
            return std::task::Poll::Ready(Some(Ok(hyper::body::Frame::data(head))));
        }
        std::pin::Pin::new(&mut self.rest).poll_frame(cx)
    }
}

/// The JSON messages in an event stream's `data:` fields (events split on blank lines).
fn sse_messages(raw: &[u8]) -> Vec<Value> {
    let text = String::from_utf8_lossy(raw).replace("\r\n", "\n");
    text.split("\n\n")
        .filter_map(|event| {
            let data: Vec<&str> = event
                .lines()
                .filter_map(|l| l.strip_prefix("data:"))
                .map(|d| d.strip_prefix(' ').unwrap_or(d))
                .collect();
            (!data.is_empty())
                .then(|| serde_json::from_str(&data.join("\n")).ok())
                .flatten()
        })
        .collect()
}

/// The target's answer, streamed on as it arrives (event streams included).
fn streamed(resp: crate::http::Response) -> Response {
    let parts = (resp.status, resp.headers.clone());
    respond(parts, Body::new(resp.into_body()))
}

fn respond((status, headers): (StatusCode, HeaderMap), body: Body) -> Response {
    let mut out = Response::new(body);
    *out.status_mut() = status;
    for name in FORWARDED_RESPONSE {
        for value in headers.get_all(name) {
            out.headers_mut()
                .append(HeaderName::from_static(name), value.clone());
        }
    }
    out.headers_mut()
        .entry(header::CACHE_CONTROL)
        .or_insert(HeaderValue::from_static("no-store"));
    out
}

fn plain(status: StatusCode, text: &str) -> Response {
    (status, text.to_string()).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_events_ended_by_a_blank_line_count() {
        let q = br#"data: {"jsonrpc":"2.0","id":"s1","method":"elicitation/create"}"#;
        let mut raw = b"id: 1-0\ndata: \n\n".to_vec();
        assert!(
            complete_events(&raw).0.is_empty(),
            "a priming event is no message"
        );
        raw.extend_from_slice(q);
        raw.extend_from_slice(b"\n");
        assert!(complete_events(&raw).0.is_empty(), "half an event");
        raw.extend_from_slice(b"\n");
        assert_eq!(complete_events(&raw).0.len(), 1);
        assert_eq!(complete_events(&raw).1, raw.len());
        let crlf = [&q[..], b"\r\n\r\n"].concat();
        assert_eq!(complete_events(&crlf).0[0]["method"], "elicitation/create");
    }

    #[test]
    fn event_stream_messages_are_read_across_events_and_line_ends() {
        let raw = b"event: message\r\ndata: {\"method\":\"notifications/message\"}\r\n\r\n: comment\n\nid: 7\ndata: {\"id\":1,\ndata: \"result\":{\"isError\":true}}\n\n";
        let msgs = sse_messages(raw);
        assert_eq!(msgs.len(), 2, "{msgs:?}");
        assert_eq!(msgs[1]["result"]["isError"], true);
    }

    #[test]
    fn a_tool_call_is_recognised_and_its_id_kept() {
        let s = Sent::read(&Bytes::from_static(
            br#"{"jsonrpc":"2.0","id":"a-1","method":"tools/call","params":{}}"#,
        ));
        assert!(s.tool_call);
        assert_eq!(s.id, "a-1");
        let s = Sent::read(&Bytes::from_static(b"not json"));
        assert!(!s.tool_call);
        assert_eq!(s.id, Value::Null);
    }
}
