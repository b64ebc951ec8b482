//! The legacy HTTP+SSE transport (protocol 2024-11-05): `GET /sse` opens the stream and
//! sends an `endpoint` event naming `/messages?sessionId=…`; each `POST` there is
//! answered `202 Accepted` and its response arrives as an `event: message` on the stream.
//!
//! A legacy session lives as long as its stream: it is bound to one connection, one
//! instance, and the caller who opened it. Auth refusals of a POST are answered on the
//! POST itself (401/403 with the challenge), where clients look for them.

use std::sync::Arc;

use axum::extract::{Query, Request, State};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use http::StatusCode;
use serde::Deserialize;
use tokio::sync::mpsc;

use super::layers::{caller, client_key, read_body};
use super::messages::{accept, spawn_job};
use super::response::{self, bad_request, rpc_error};
use super::state::HttpState;
use crate::protocol::jsonrpc;
use crate::protocol::ProtocolVersion;
use crate::server::context::Outbox;
use crate::server::session::Access;
use crate::server::SessionRuntime;

pub(crate) async fn get_sse(State(state): State<Arc<HttpState>>, req: Request) -> Response {
    let (parts, _) = req.into_parts();
    let caller = caller(&parts.extensions);
    let creator = client_key(&state.config.trusted_proxies, &caller, &parts);
    let version =
        ProtocolVersion::parse("2024-11-05").unwrap_or_else(|| ProtocolVersion::negotiate(""));
    let session = SessionRuntime::ephemeral_for(version, &caller, &creator);
    if let Err(e) = state
        .legacy
        .insert(session.clone(), &state.config.session_limits)
    {
        return response::create_failed(None, e);
    }
    let (tx, rx) = mpsc::unbounded_channel::<Bytes>();
    let endpoint = format!(
        "event: endpoint\ndata: /messages?sessionId={}\n\n",
        session.id()
    );
    let _ = tx.send(Bytes::from(endpoint));
    session.attach_stream(0, tx.clone());

    // When the client goes away the channel closes; drop the session then.
    let st = state.clone();
    let watch = tx.clone();
    let id = session.id().to_string();
    tokio::spawn(async move {
        watch.closed().await;
        st.legacy.remove(&id);
    });
    response::keep_alive(tx, state.config.keep_alive);
    response::sse(rx)
}

#[derive(Deserialize)]
pub(crate) struct MessagesQuery {
    #[serde(rename = "sessionId")]
    session_id: Option<String>,
}

pub(crate) async fn post_messages(
    State(state): State<Arc<HttpState>>,
    Query(q): Query<MessagesQuery>,
    req: Request,
) -> Response {
    let Some(id) = q.session_id else {
        return bad_request(
            StatusCode::BAD_REQUEST,
            "missing sessionId query parameter; use the URL from the endpoint event",
        );
    };
    let caller = caller(req.extensions());
    let session = match state.legacy.get(&id) {
        Some(s) if s.access(&caller) != Access::Denied => s,
        _ => return response::session_not_found(),
    };
    let (parts, body) = req.into_parts();
    let body = match read_body(body, state.config.max_body_bytes).await {
        Ok(b) => b,
        Err(r) => return r,
    };
    let msg = match jsonrpc::decode(&body) {
        Ok(m) => m,
        Err(e) => return rpc_error(StatusCode::BAD_REQUEST, e.id.as_ref(), e.error),
    };
    match accept(&state.server, &session, msg, &caller) {
        Ok(job) => spawn_job(
            state.server.clone(),
            session.clone(),
            job,
            Outbox::Standalone(session),
            caller,
            parts.extensions,
        ),
        Err((id, f)) => match f.into_rpc() {
            Err(r) => return response::refusal(r, id.as_ref()),
            Ok(e) => {
                session.send_standalone(&jsonrpc::encode_error(id.as_ref(), &e));
            }
        },
    }
    (StatusCode::ACCEPTED, "Accepted").into_response()
}
