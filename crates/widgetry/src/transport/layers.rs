//! The cross-cutting HTTP concerns of the MCP endpoints, as tower layers applied once to
//! their router (never called by hand from a handler):
//!
//! 1. [`guard`]: `Host`/`Origin` validation (DNS-rebinding protection) → 403;
//! 2. [`body_limit`]: a declared `Content-Length` over the limit → 413 at once, and a
//!    body that grows past it fails when read ([`read_body`]) → 413;
//! 3. [`bearer`]: the `Authorization` header verified into a [`Caller`] request
//!    extension, or refused (400 for two headers, 401 for a bad token, 401 for no token
//!    when every tool needs sign-in).

use std::net::SocketAddr;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::{ConnectInfo, Request, State};
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::Router;
use bytes::Bytes;
use http::StatusCode;
use http_body_util::{BodyExt, LengthLimitError, Limited};

use super::guard::Guard;
use super::response::{bad_request, refusal};
use crate::auth::AuthState;
use crate::identity::Caller;

/// Applies the three layers to `router`, guard outermost.
pub(crate) fn apply<S: Clone + Send + Sync + 'static>(
    router: Router<S>,
    guard: Guard,
    max_body_bytes: usize,
    auth: Option<Arc<AuthState>>,
) -> Router<S> {
    router
        .layer(middleware::from_fn_with_state(auth, bearer))
        .layer(middleware::from_fn_with_state(max_body_bytes, body_limit))
        .layer(middleware::from_fn_with_state(Arc::new(guard), self::guard))
}

/// Refuses requests whose `Host` or `Origin` the guard does not allow (403).
pub(crate) async fn guard(State(guard): State<Arc<Guard>>, req: Request, next: Next) -> Response {
    match guard.check(req.headers()) {
        Ok(()) => next.run(req).await,
        Err(e) => bad_request(StatusCode::FORBIDDEN, e.to_string()),
    }
}

fn too_large(limit: usize) -> Response {
    bad_request(
        StatusCode::PAYLOAD_TOO_LARGE,
        format!("request body too large: the limit is {limit} bytes (HttpConfig::max_body_bytes)"),
    )
}

/// Caps the request body at `limit` bytes (JSON-RPC errors).
pub(crate) async fn body_limit(State(limit): State<usize>, req: Request, next: Next) -> Response {
    limit_body(req, next, limit, too_large).await
}

/// The body limit with any error body: a declared `Content-Length` over `limit` is
/// answered `too_large(limit)` at once; the body is wrapped so it cannot grow past it.
pub(crate) async fn limit_body(
    req: Request,
    next: Next,
    limit: usize,
    too_large: impl Fn(usize) -> Response,
) -> Response {
    let declared = req
        .headers()
        .get(http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit as u64) {
        return too_large(limit);
    }
    next.run(req.map(|b| Body::new(Limited::new(b, limit))))
        .await
}

/// Reads a body behind [`body_limit`]: 413 when it outgrows the limit, 400 when it
/// cannot be read.
pub(crate) async fn read_body(body: Body, limit: usize) -> Result<Bytes, Response> {
    collect_limited(body, limit, too_large).await
}

/// Reads a body behind [`limit_body`]: `too_large(limit)` when it outgrew the limit,
/// 400 when it cannot be read.
pub(crate) async fn collect_limited(
    body: Body,
    limit: usize,
    too_large: impl Fn(usize) -> Response,
) -> Result<Bytes, Response> {
    match body.collect().await {
        Ok(c) => Ok(c.to_bytes()),
        Err(e) => {
            let mut source: Option<&(dyn std::error::Error + 'static)> = Some(&e);
            while let Some(s) = source {
                if s.is::<LengthLimitError>() {
                    return Err(too_large(limit));
                }
                source = s.source();
            }
            Err(bad_request(
                StatusCode::BAD_REQUEST,
                format!("could not read the request body: {e}"),
            ))
        }
    }
}

/// Verifies the bearer token into a [`Caller`] extension (anonymous without auth).
pub(crate) async fn bearer(
    State(auth): State<Option<Arc<AuthState>>>,
    mut req: Request,
    next: Next,
) -> Response {
    let caller = match &auth {
        None => Caller::Anonymous,
        Some(a) => match a.authenticate(req.headers()).await {
            Ok(c) => c,
            Err(r) => return refusal(r, None),
        },
    };
    req.extensions_mut().insert(caller);
    next.run(req).await
}

/// The caller the [`bearer`] layer established.
pub(crate) fn caller(ext: &http::Extensions) -> Caller {
    ext.get::<Caller>().cloned().unwrap_or_default()
}

/// The key of the per-client session limit: the caller's subject when signed in, else
/// the peer address (trusted proxies are not consulted yet), else one shared key.
pub(crate) fn client_key(caller: &Caller, ext: &http::Extensions) -> String {
    match (caller.subject(), ext.get::<ConnectInfo<SocketAddr>>()) {
        (Some(s), _) => format!("user:{s}"),
        (None, Some(ConnectInfo(addr))) => format!("addr:{}", addr.ip()),
        (None, None) => "anonymous".into(),
    }
}
