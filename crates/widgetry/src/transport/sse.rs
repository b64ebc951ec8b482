//! The legacy HTTP+SSE transport (protocol 2024-11-05): `GET /sse` opens the stream and
//! sends an `endpoint` event naming `/messages?sessionId=…`; each `POST` there is
//! answered `202 Accepted` and its response arrives as an `event: message` on the stream.
//!
//! A legacy session lives as long as its stream: it is bound to one connection and one
//! instance, as the protocol requires.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::extract::{Query, Request, State};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use http::StatusCode;
use serde::Deserialize;
use tokio::sync::mpsc;

use super::http::{
    authenticate, gate_tool_call, guard, keep_alive, read_body, rpc_error, HttpState,
};
use super::spawn_on_session;
use crate::protocol::jsonrpc::RpcError;
use crate::protocol::ProtocolVersion;
use crate::server::context::Outbox;
use crate::server::SessionRuntime;

/// Open legacy sessions by id.
#[derive(Default)]
pub struct LegacySessions {
    map: Mutex<HashMap<String, Arc<SessionRuntime>>>,
}

impl LegacySessions {
    fn insert(&self, s: Arc<SessionRuntime>) {
        self.map
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(s.id().to_string(), s);
    }
    fn get(&self, id: &str) -> Option<Arc<SessionRuntime>> {
        self.map
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(id)
            .cloned()
    }
    fn remove(&self, id: &str) {
        self.map
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(id);
    }
    pub(crate) fn all(&self) -> Vec<Arc<SessionRuntime>> {
        self.map
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .values()
            .cloned()
            .collect()
    }
    /// How many legacy streams are open.
    pub fn len(&self) -> usize {
        self.map.lock().unwrap_or_else(|p| p.into_inner()).len()
    }
    /// Whether no legacy stream is open.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

pub(crate) async fn get_sse(State(state): State<Arc<HttpState>>, req: Request) -> Response {
    if let Err(r) = guard(&state, req.headers()) {
        return r;
    }
    if let Err(r) = authenticate(&state, req.headers(), &mut http::Extensions::new(), None).await {
        return r;
    }
    let session = SessionRuntime::ephemeral(
        ProtocolVersion::parse("2024-11-05").unwrap_or_else(|| ProtocolVersion::negotiate("")),
    );
    let (tx, rx) = mpsc::unbounded_channel::<Bytes>();
    let endpoint = format!(
        "event: endpoint\ndata: /messages?sessionId={}\n\n",
        session.id()
    );
    let _ = tx.send(Bytes::from(endpoint));
    session.attach_stream(0, tx.clone());
    state.legacy.insert(session.clone());

    // When the client goes away the channel closes; drop the session then.
    let st = state.clone();
    let watch = tx.clone();
    let id = session.id().to_string();
    tokio::spawn(async move {
        watch.closed().await;
        st.legacy.remove(&id);
    });
    keep_alive(tx, state.config.keep_alive);
    let stream = futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv()
            .await
            .map(|b| (Ok::<_, std::convert::Infallible>(b), rx))
    });
    let mut resp = Response::new(axum::body::Body::from_stream(stream));
    resp.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("text/event-stream"),
    );
    resp.headers_mut().insert(
        http::header::CACHE_CONTROL,
        http::HeaderValue::from_static("no-cache"),
    );
    resp
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
    if let Err(r) = guard(&state, req.headers()) {
        return r;
    }
    let Some(id) = q.session_id else {
        return rpc_error(
            StatusCode::BAD_REQUEST,
            None,
            RpcError::invalid_request(
                "missing sessionId query parameter; use the URL from the endpoint event",
            ),
        );
    };
    let Some(session) = state.legacy.get(&id) else {
        return rpc_error(
            StatusCode::NOT_FOUND,
            None,
            RpcError::invalid_request("session not found: open GET /sse again"),
        );
    };
    let (mut parts, body) = req.into_parts();
    let body = match read_body(&state, body).await {
        Ok(b) => b,
        Err(r) => return r,
    };
    let msg = match crate::protocol::jsonrpc::decode(&body) {
        Ok(m) => m,
        Err(e) => return rpc_error(StatusCode::BAD_REQUEST, e.id.as_ref(), e.error),
    };
    let caller = match authenticate(&state, &parts.headers, &mut parts.extensions, None).await {
        Ok(c) => c,
        Err(r) => return r,
    };
    if let crate::protocol::jsonrpc::Message::Request(r) = &msg {
        match gate_tool_call(&state, caller.as_ref(), r) {
            Ok(None) => {}
            Ok(Some(result)) => {
                let id = r.id.clone().unwrap_or(crate::protocol::jsonrpc::Id::Num(0));
                let bytes = serde_json::to_vec(&result).unwrap_or_default();
                session.send_standalone(&crate::protocol::jsonrpc::encode_result(&id, &bytes));
                return (StatusCode::ACCEPTED, "Accepted").into_response();
            }
            Err(resp) => return resp,
        }
    }
    drop(msg);
    spawn_on_session(
        state.server.clone(),
        session.clone(),
        body.to_vec(),
        Outbox::Standalone(session),
        parts.extensions,
    );
    (StatusCode::ACCEPTED, "Accepted").into_response()
}
