//! stdio: newline-delimited JSON-RPC on standard input and output, for local hosts that
//! launch the server as a subprocess. Nothing but MCP messages is written to stdout; logs
//! go to stderr.
//!
//! stdio carries no bearer token, so its caller is anonymous: on a server with auth,
//! tools that require sign-in refuse here exactly as they do for an anonymous HTTP
//! caller (a JSON-RPC error carrying the challenge, or the challenge result).

use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::sync::mpsc;

use super::messages::{accept, refusal_error, spawn_job};
use crate::identity::Caller;
use crate::protocol::jsonrpc;
use crate::protocol::ProtocolVersion;
use crate::server::context::Outbox;
use crate::server::dispatch::Failure;
use crate::server::{Server, SessionRuntime};

/// The longest line accepted on stdin (a larger message is answered with an error).
pub const MAX_LINE_BYTES: usize = super::config::DEFAULT_MAX_BODY_BYTES;

/// Serves `server` on the process's stdin/stdout until stdin closes.
pub async fn serve_stdio(server: Server) -> std::io::Result<()> {
    serve_io(server, tokio::io::stdin(), tokio::io::stdout()).await
}

/// Serves `server` over any reader/writer pair (one JSON-RPC message per line).
pub async fn serve_io<R, W>(server: Server, reader: R, mut writer: W) -> std::io::Result<()>
where
    R: AsyncRead + Unpin + Send + 'static,
    W: AsyncWrite + Unpin + Send + 'static,
{
    let session = SessionRuntime::ephemeral(ProtocolVersion::negotiate(""));
    let (tx, mut rx) = mpsc::unbounded_channel::<Vec<u8>>();
    let writer_task = tokio::spawn(async move {
        while let Some(mut m) = rx.recv().await {
            m.push(b'\n');
            writer.write_all(&m).await?;
            writer.flush().await?;
        }
        Ok::<_, std::io::Error>(())
    });
    let mut lines = BufReader::new(reader);
    let mut buf = Vec::new();
    loop {
        buf.clear();
        let n = (&mut lines)
            .take(MAX_LINE_BYTES as u64 + 1)
            .read_until(b'\n', &mut buf)
            .await?;
        if n == 0 {
            break;
        }
        if buf.len() > MAX_LINE_BYTES && buf.last() != Some(&b'\n') {
            // Skip the rest of the oversized line, then report it.
            let mut sink = Vec::new();
            lines.read_until(b'\n', &mut sink).await?;
            let err = jsonrpc::RpcError::invalid_request(format!(
                "message too large: the limit is {MAX_LINE_BYTES} bytes"
            ));
            let _ = tx.send(jsonrpc::encode_error(None, &err));
            continue;
        }
        let line = buf.trim_ascii();
        if line.is_empty() {
            continue;
        }
        let accepted = match jsonrpc::decode(line) {
            Ok(msg) => accept(&server, &session, msg, &Caller::Anonymous),
            Err(e) => Err((e.id, Failure::Rpc(e.error))),
        };
        match accepted {
            Ok(job) => spawn_job(
                server.clone(),
                session.clone(),
                job,
                Outbox::Channel(tx.clone()),
                Caller::Anonymous,
                http::Extensions::new(),
            ),
            Err((id, failure)) => {
                let err = failure.into_rpc().unwrap_or_else(refusal_error);
                let _ = tx.send(jsonrpc::encode_error(id.as_ref(), &err));
            }
        }
    }
    // Let in-flight requests finish writing before returning.
    drop(tx);
    drop(session);
    match writer_task.await {
        Ok(r) => r,
        Err(e) => Err(std::io::Error::other(e)),
    }
}
