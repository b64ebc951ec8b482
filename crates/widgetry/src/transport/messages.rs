//! What every transport does with one decoded message on a session bound to its
//! connection (legacy SSE, stdio): notifications and responses applied, `initialize`
//! answered, every other request parsed, authorized and run by the engine on a task of
//! its own. Also the notification handling Streamable HTTP shares.

use std::sync::Arc;

use serde::Deserialize;
use tokio_util::sync::CancellationToken;

use crate::identity::{Caller, Refusal};
use crate::protocol::jsonrpc::{self, Id, Message, RpcError};
use crate::protocol::ProtocolVersion;
use crate::server::context::{Env, Outbox};
use crate::server::dispatch::{Authorized, Failure};
use crate::server::{Server, SessionRuntime};

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
    /// Run an authorized request at this protocol version.
    Run(Id, Authorized, ProtocolVersion),
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
            // A 2026-07-28 request names its version in `_meta` (there is no handshake);
            // any other request runs at the session's version.
            let version = match crate::protocol::meta_version(r.params) {
                Ok(Some(v)) if v.is_stateless() => v,
                Ok(_) => session.version(),
                Err(e) => return Err(fail(Failure::BadRequest(e))),
            };
            if r.method == "initialize" && !version.is_stateless() {
                let init = server.initialize(&r).map_err(|e| fail(Failure::Rpc(e)))?;
                session.set_client(init.client_info, init.capabilities);
                return Ok(Job::Reply(id, init.result));
            }
            let parsed = server.parse(&r, version).map_err(fail)?;
            if let Some(tool) = parsed.tool(server) {
                crate::ops::observe::note_tool(tool);
            }
            let authorized = server
                .authorize(parsed, caller, Some(session))
                .map_err(fail)?;
            Ok(Job::Run(id, authorized, version))
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
    let (id, request, version) = match job {
        Job::Done => return,
        Job::Reply(id, result) => {
            outbox.send(jsonrpc::encode_result(&id, &result));
            return;
        }
        Job::Run(id, request, version) => (id, request, version),
    };
    let cancel = CancellationToken::new();
    session.register_inflight(id.clone(), cancel.clone());
    tokio::spawn(async move {
        let env = Env {
            caller,
            session: Some(session.clone()),
            out: Some(outbox.clone()),
            version,
            cancel: Some(cancel.clone()),
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
