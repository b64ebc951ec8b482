//! How the HTTP transports answer: JSON-RPC errors with an HTTP status, refusals with
//! their `WWW-Authenticate` challenge, JSON and SSE bodies. Every HTTP response the MCP
//! endpoints and their layers send is built here.

use std::convert::Infallible;

use axum::body::Body;
use axum::response::Response;
use bytes::Bytes;
use http::header::{self, HeaderValue};
use http::StatusCode;
use tokio::sync::mpsc;

use super::headers::SESSION_HEADER;
use crate::identity::Refusal;
use crate::protocol::jsonrpc::{self, code, Id, RpcError};
use crate::server::session::CreateError;

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

/// A `-32600` error with an HTTP status.
pub(crate) fn bad_request(status: StatusCode, message: impl Into<String>) -> Response {
    rpc_error(status, None, RpcError::invalid_request(message))
}

/// A refusal: its status, its challenge, and a JSON-RPC error body.
pub(crate) fn refusal(r: Refusal, id: Option<&Id>) -> Response {
    let err = RpcError::new(r.rpc_code(), r.message);
    let mut resp = rpc_error(r.status, id, err);
    if let Some(v) = r.challenge.and_then(|c| HeaderValue::from_str(&c).ok()) {
        resp.headers_mut().insert(header::WWW_AUTHENTICATE, v);
    }
    resp
}

/// 503 for a store that cannot be reached.
pub(crate) fn store_unavailable(e: impl std::fmt::Display) -> Response {
    rpc_error(
        StatusCode::SERVICE_UNAVAILABLE,
        None,
        RpcError::new(code::SERVER_UNAVAILABLE, e.to_string()),
    )
}

/// A session that could not be created: 503 when the store fails or the instance is
/// full, 429 when the client holds too many.
pub(crate) fn create_failed(id: Option<&Id>, e: CreateError) -> Response {
    let status = match e {
        CreateError::ClientFull(_) => StatusCode::TOO_MANY_REQUESTS,
        CreateError::Full(_) | CreateError::Store(_) => StatusCode::SERVICE_UNAVAILABLE,
    };
    rpc_error(
        status,
        id,
        RpcError::new(code::SERVER_UNAVAILABLE, e.to_string()),
    )
}

/// 404 for a session that does not exist, has ended, or is not the caller's (the same
/// answer, so a session id reveals nothing to anyone but its owner).
pub(crate) fn session_not_found() -> Response {
    bad_request(
        StatusCode::NOT_FOUND,
        "session not found: it expired, was ended, or belongs to another user; send initialize to start a new one",
    )
}

/// A JSON body, with the session header when one was created.
/// A JSON body with a status other than 200 (a JSON-RPC error the run produced).
pub(crate) fn json_status(status: StatusCode, body: Vec<u8>) -> Response {
    let mut r = json(body, None);
    *r.status_mut() = status;
    r
}

pub(crate) fn json(body: Vec<u8>, session: Option<&str>) -> Response {
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

/// An SSE body fed by a channel. It ends when the channel closes or the instance
/// shuts down ([`crate::ops::shutdown`]), and counts in `widgetry_sse_streams_open`
/// while open.
pub(crate) fn sse(rx: mpsc::UnboundedReceiver<Bytes>) -> Response {
    use futures_util::StreamExt as _;
    let open = crate::ops::metrics::StreamGauge::open();
    let stream = futures_util::stream::unfold((rx, open), |(mut rx, open)| async move {
        rx.recv()
            .await
            .map(|b| (Ok::<_, Infallible>(b), (rx, open)))
    })
    .take_until(crate::ops::shutdown::token().clone().cancelled_owned());
    sse_headers(Response::new(Body::from_stream(stream)))
}

/// An SSE body known in full.
pub(crate) fn sse_complete(body: Vec<u8>) -> Response {
    sse_headers(Response::new(Body::from(body)))
}

fn sse_headers(mut resp: Response) -> Response {
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
