//! The cross-cutting HTTP concerns of the MCP endpoints, as one tower layer ([`Edge`])
//! applied once to their router (never called by hand from a handler). In order:
//!
//! 1. `Host`/`Origin` validation (DNS-rebinding protection) → 403;
//! 2. a declared `Content-Length` over the body limit → 413 at once; a body of unknown
//!    length is wrapped so it fails when read past the limit ([`read_body`]) → 413;
//! 3. the `Authorization` header verified into a [`Caller`] request extension (absent
//!    means anonymous), or refused: 400 for two headers, 401 for a bad token, 401 for no
//!    token when every tool needs sign-in.
//!
//! The common cases — no token, or a token in the verified-token cache — are decided
//! synchronously and cost no allocation; only a token seen for the first time waits
//! for its verifier.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use axum::body::Body;
use axum::extract::Request;
use axum::response::Response;
use bytes::Bytes;
use futures_util::future::BoxFuture;
use http::StatusCode;
use http_body_util::{BodyExt, LengthLimitError, Limited};
use pin_project_lite::pin_project;
use tower_layer::Layer;
use tower_service::Service;

use widgetry_authz::TrustedProxies;

use super::guard::Guard;
use super::response::{bad_request, refusal};
use crate::auth::{AuthState, Bearer};
use crate::identity::Caller;

/// The MCP endpoints' layer: guard, body limit and bearer check.
#[derive(Clone)]
pub(crate) struct Edge {
    guard: Arc<Guard>,
    limit: usize,
    auth: Option<Arc<AuthState>>,
}

impl Edge {
    pub(crate) fn new(guard: Guard, limit: usize, auth: Option<Arc<AuthState>>) -> Self {
        Self {
            guard: Arc::new(guard),
            limit,
            auth,
        }
    }

    /// Everything decided without waiting: `Err` is the answer; `Ok(Some(token))` a
    /// token to verify first.
    #[allow(clippy::result_large_err)] // the refusal is the ready response, built once
    fn check(&self, req: &mut Request) -> Result<Option<String>, Response> {
        if let Err(e) = self.guard.check(req.headers()) {
            return Err(bad_request(StatusCode::FORBIDDEN, e.to_string()));
        }
        if let Some(r) = limit_request(req, self.limit, too_large) {
            return Err(r);
        }
        let Some(auth) = &self.auth else {
            return Ok(None);
        };
        match auth.read_bearer(req.headers()) {
            Bearer::Done(Ok(caller)) => {
                if matches!(caller, Caller::User(_)) {
                    crate::ops::metrics::token_cache(true);
                }
                put_caller(req, caller);
                Ok(None)
            }
            Bearer::Done(Err(r)) => Err(refusal(r, None)),
            Bearer::Verify(token) => {
                crate::ops::metrics::token_cache(false);
                Ok(Some(token.to_owned()))
            }
        }
    }
}

fn put_caller(req: &mut Request, caller: Caller) {
    if let Some(subject) = caller.subject() {
        crate::ops::observe::note_subject(subject);
    }
    // Absence means anonymous: most requests then carry no extension map at all.
    if !matches!(caller, Caller::Anonymous) {
        req.extensions_mut().insert(caller);
    }
}

impl<S> Layer<S> for Edge {
    type Service = EdgeService<S>;
    fn layer(&self, inner: S) -> EdgeService<S> {
        EdgeService {
            edge: self.clone(),
            inner,
        }
    }
}

/// [`Edge`] around an inner service.
#[derive(Clone)]
pub(crate) struct EdgeService<S> {
    edge: Edge,
    inner: S,
}

impl<S> Service<Request> for EdgeService<S>
where
    S: Service<Request, Response = Response, Error = Infallible> + Clone + Send + 'static,
    S::Future: Send + 'static,
{
    type Response = Response;
    type Error = Infallible;
    type Future = EdgeFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: Request) -> Self::Future {
        match self.edge.check(&mut req) {
            Err(resp) => EdgeFuture::Ready {
                response: Some(resp),
            },
            Ok(None) => EdgeFuture::Inner {
                future: self.inner.call(req),
            },
            Ok(Some(token)) => {
                // A token seen for the first time: verify, then call a clone of the
                // inner service (this service has been used for this call).
                let auth = self.edge.auth.clone();
                let clone = self.inner.clone();
                let mut inner = std::mem::replace(&mut self.inner, clone);
                EdgeFuture::Verify {
                    future: Box::pin(async move {
                        let Some(auth) = auth else {
                            return inner.call(req).await;
                        };
                        match auth.verify_bearer(&token).await {
                            Ok(caller) => {
                                put_caller(&mut req, caller);
                                inner.call(req).await
                            }
                            Err(r) => Ok(refusal(r, None)),
                        }
                    }),
                }
            }
        }
    }
}

pin_project! {
    /// The future of [`EdgeService`]: a ready refusal, the inner call, or a
    /// verification followed by the inner call.
    #[project = EdgeProj]
    pub(crate) enum EdgeFuture<F> {
        Ready { response: Option<Response> },
        Inner { #[pin] future: F },
        Verify { future: BoxFuture<'static, Result<Response, Infallible>> },
    }
}

impl<F> EdgeFuture<F> {
    /// A ready answer.
    pub(crate) fn ready(response: Response) -> Self {
        EdgeFuture::Ready {
            response: Some(response),
        }
    }
    /// The inner service's answer.
    pub(crate) fn inner(future: F) -> Self {
        EdgeFuture::Inner { future }
    }
}

impl<F> Future for EdgeFuture<F>
where
    F: Future<Output = Result<Response, Infallible>>,
{
    type Output = Result<Response, Infallible>;
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project() {
            EdgeProj::Ready { response } => Poll::Ready(Ok(response.take().unwrap_or_default())),
            EdgeProj::Inner { future } => future.poll(cx),
            EdgeProj::Verify { future } => future.as_mut().poll(cx),
        }
    }
}

fn too_large(limit: usize) -> Response {
    bad_request(
        StatusCode::PAYLOAD_TOO_LARGE,
        format!("request body too large: the limit is {limit} bytes (HttpConfig::max_body_bytes)"),
    )
}

/// The body limit with any error body: a declared `Content-Length` over `limit` is
/// answered `too_large(limit)`; a body of unknown length is wrapped so it cannot grow
/// past it (hyper delivers exactly a declared length: nothing to wrap then).
pub(crate) fn limit_request(
    req: &mut Request,
    limit: usize,
    too_large: impl Fn(usize) -> Response,
) -> Option<Response> {
    let declared = req
        .headers()
        .get(http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    match declared {
        Some(n) if n > limit as u64 => Some(too_large(limit)),
        Some(_) => None,
        None => {
            let body = std::mem::take(req.body_mut());
            *req.body_mut() = Body::new(Limited::new(body, limit));
            None
        }
    }
}

/// Reads a body behind [`limit_request`]: 413 when it outgrows the limit, 400 when it
/// cannot be read.
pub(crate) async fn read_body(body: Body, limit: usize) -> Result<Bytes, Response> {
    collect_limited(body, limit, too_large).await
}

/// Reads a body behind [`limit_request`]: `too_large(limit)` when it outgrew the limit,
/// 400 when it cannot be read.
pub(crate) async fn collect_limited(
    body: Body,
    limit: usize,
    too_large: impl Fn(usize) -> Response,
) -> Result<Bytes, Response> {
    match collect(body).await {
        Ok(b) => Ok(b),
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

/// A body's data frames as one buffer (trailers are dropped). A body that arrives as one
/// frame — the usual case — is returned as is: no list of frames, no copy.
async fn collect(mut body: Body) -> Result<Bytes, axum::Error> {
    let mut first: Option<Bytes> = None;
    let mut rest: Option<bytes::BytesMut> = None;
    while let Some(frame) = body.frame().await {
        let Ok(data) = frame?.into_data() else {
            continue;
        };
        if let Some(buf) = &mut rest {
            buf.extend_from_slice(&data);
        } else if let Some(f) = first.take() {
            let mut buf = bytes::BytesMut::with_capacity(f.len() + data.len());
            buf.extend_from_slice(&f);
            buf.extend_from_slice(&data);
            rest = Some(buf);
        } else {
            first = Some(data);
        }
    }
    Ok(match (rest, first) {
        (Some(buf), _) => buf.freeze(),
        (None, Some(f)) => f,
        (None, None) => Bytes::new(),
    })
}

/// The caller the [`Edge`] layer established (anonymous when it put none).
pub(crate) fn caller(ext: &http::Extensions) -> Caller {
    ext.get::<Caller>().cloned().unwrap_or_default()
}

/// The key of the per-client session limit: the caller's subject when signed in, else
/// the client address (through `proxies`), else one shared key.
pub(crate) fn client_key(
    proxies: &TrustedProxies,
    caller: &Caller,
    req: &http::request::Parts,
) -> String {
    key_of(caller, proxies.client_ip_of(&req.headers, &req.extensions))
}

/// The client address behind trusted proxies, resolved by the transport for the request
/// context of a tool call (only when proxies are configured; otherwise the peer address
/// in `ConnectInfo` is the client).
#[derive(Debug, Clone, Copy)]
#[cfg_attr(not(feature = "signin"), allow(dead_code))]
pub(crate) struct ClientAddress(pub(crate) std::net::IpAddr);

/// `extensions` with the client address behind `proxies` recorded, when any are trusted.
pub(crate) fn with_client_address(
    proxies: &TrustedProxies,
    headers: &http::HeaderMap,
    mut extensions: http::Extensions,
) -> http::Extensions {
    if !proxies.is_empty() {
        if let Some(ip) = proxies.client_ip_of(headers, &extensions) {
            extensions.insert(ClientAddress(ip));
        }
    }
    extensions
}

#[cfg(feature = "signin")]
/// The client address inside a tool call, from its request context's extensions: the one
/// resolved behind trusted proxies, else the peer.
pub(crate) fn context_client_ip(extensions: &http::Extensions) -> Option<std::net::IpAddr> {
    extensions.get::<ClientAddress>().map(|a| a.0).or_else(|| {
        // No proxy trusted: the peer is the client.
        TrustedProxies::none().client_ip_of(&http::HeaderMap::new(), extensions)
    })
}

#[cfg(feature = "signin")]
/// [`client_key`] inside a tool call, from its request context's extensions.
pub(crate) fn client_key_of(caller: &Caller, extensions: &http::Extensions) -> String {
    key_of(caller, context_client_ip(extensions))
}

fn key_of(caller: &Caller, ip: Option<std::net::IpAddr>) -> String {
    match (caller.subject(), ip) {
        (Some(s), _) => format!("user:{s}"),
        (None, Some(ip)) => format!("addr:{ip}"),
        (None, None) => "anonymous".into(),
    }
}
