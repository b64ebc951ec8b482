//! [`Observe`]: the outermost layer of a served app. Each request gets a `tracing` span
//! (`request`: method, route, tool, caller subject, client address, status, latency) at
//! level DEBUG under the target `widgetry::request`, as tower-http's `TraceLayer` does by
//! default: `RUST_LOG=info,widgetry::request=debug` turns the spans (and a "request
//! finished" line each) on; off, they cost nothing (BENCHMARKS.md has both figures).
//! Every request is counted in the Prometheus metrics: requests and latency by route, tool and
//! status, and authentication refusals by reason (the `error` of the
//! `WWW-Authenticate` challenge, or `no_token`).
//!
//! The tool and the caller are learnt while the request runs, from below: the bearer
//! layer and the MCP endpoint write them into a task-local slot (`note_subject`,
//! `note_tool`) that this layer reads when the answer is ready. The slot is a plain
//! task-local (no allocation, no lock); outside an observed request the notes are
//! dropped.

use std::cell::RefCell;
use std::convert::Infallible;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Instant;

use axum::extract::Request;
use axum::response::Response;
use futures_util::future::BoxFuture;
use metrics::Label;
use tower_layer::Layer;
use tower_service::Service;
use tracing::Instrument;
use widgetry_authz::TrustedProxies;

/// What the layers below learnt about the request.
#[derive(Default)]
struct Notes {
    tool: Option<String>,
    subject: Option<String>,
}

tokio::task_local! {
    static NOTES: RefCell<Notes>;
}

/// Records the tool a `tools/call` names (a no-op outside an observed request).
pub(crate) fn note_tool(name: &str) {
    let _ = NOTES.try_with(|n| n.borrow_mut().tool = Some(name.to_owned()));
}

/// Records the signed-in caller (a no-op outside an observed request).
pub(crate) fn note_subject(subject: &str) {
    let _ = NOTES.try_with(|n| n.borrow_mut().subject = Some(subject.to_owned()));
}

/// The observing layer, the outermost layer of a served app: a `tracing` span per request
/// (`request`: method, route, tool, caller subject, client address, status, latency) at
/// level DEBUG under the target `widgetry::request` (`RUST_LOG=info,widgetry::request=debug`
/// turns them on), and the Prometheus counts and latencies by route, tool and status, with
/// authentication refusals by reason.
#[derive(Clone)]
pub struct Observe {
    proxies: Arc<TrustedProxies>,
}

impl Observe {
    /// A layer that resolves client addresses through `proxies`.
    pub fn new(proxies: TrustedProxies) -> Self {
        Self {
            proxies: Arc::new(proxies),
        }
    }
}

impl<S> Layer<S> for Observe {
    type Service = ObserveService<S>;
    fn layer(&self, inner: S) -> ObserveService<S> {
        ObserveService {
            proxies: self.proxies.clone(),
            inner,
        }
    }
}

/// [`Observe`] around an inner service.
#[derive(Clone)]
pub struct ObserveService<S> {
    proxies: Arc<TrustedProxies>,
    inner: S,
}

impl<S> Service<Request> for ObserveService<S>
where
    S: Service<Request, Response = Response, Error = Infallible> + Clone + Send + 'static,
    S::Future: Send + 'static,
{
    type Response = Response;
    type Error = Infallible;
    type Future = BoxFuture<'static, Result<Response, Infallible>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request) -> Self::Future {
        let start = Instant::now();
        let route = route_label(req.uri().path());
        let client = ClientIp(self.proxies.client_ip_of(req.headers(), req.extensions()));
        // Field values are only evaluated when the span is enabled.
        let span = tracing::debug_span!(
            target: "widgetry::request",
            "request",
            method = %req.method(),
            route,
            client = %client,
            tool = tracing::field::Empty,
            subject = tracing::field::Empty,
            status = tracing::field::Empty,
            latency_ms = tracing::field::Empty,
        );
        let future = self.inner.call(req);
        Box::pin(NOTES.scope(RefCell::new(Notes::default()), async move {
            let response = future.instrument(span.clone()).await;
            let Ok(response) = response;
            let notes = NOTES.with(|n| std::mem::take(&mut *n.borrow_mut()));
            finish(&span, route, start, &response, notes);
            Ok(response)
        }))
    }
}

fn finish(
    span: &tracing::Span,
    route: &'static str,
    start: Instant,
    response: &Response,
    notes: Notes,
) {
    let latency = start.elapsed();
    let status = response.status();
    let tool = notes.tool.unwrap_or_default();
    span.record("status", status.as_u16());
    span.record("latency_ms", latency.as_secs_f64() * 1000.0);
    if !tool.is_empty() {
        span.record("tool", tool.as_str());
    }
    if let Some(s) = &notes.subject {
        span.record("subject", s.as_str());
    }
    let labels = vec![
        Label::from_static_parts("route", route),
        Label::new("tool", tool),
        Label::from_static_parts("status", status_label(status.as_u16())),
    ];
    metrics::counter!("widgetry_http_requests_total", labels.clone()).increment(1);
    metrics::histogram!("widgetry_http_request_duration_seconds", labels)
        .record(latency.as_secs_f64());
    if let Some(reason) = refusal_reason(response) {
        metrics::counter!("widgetry_auth_refusals_total", "reason" => reason).increment(1);
    }
    tracing::debug!(target: "widgetry::request", parent: span, "request finished");
}

/// The route family of a path, from a fixed list (so clients cannot grow the label set).
fn route_label(path: &str) -> &'static str {
    let first = path.trim_start_matches('/').split('/').next().unwrap_or("");
    match first {
        "mcp" => "/mcp",
        "sse" => "/sse",
        "messages" => "/messages",
        "oauth" => "/oauth",
        ".well-known" => "/.well-known",
        "widget" => "/widget",
        "api" => "/api",
        "_widgetry" => "/_widgetry",
        "healthz" => "/healthz",
        "readyz" => "/readyz",
        "metrics" => "/metrics",
        _ => "other",
    }
}

/// The client address in a span (empty when unknown).
struct ClientIp(Option<std::net::IpAddr>);

impl std::fmt::Display for ClientIp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.0 {
            Some(ip) => ip.fmt(f),
            None => Ok(()),
        }
    }
}

/// A status code as a label without allocating.
fn status_label(code: u16) -> &'static str {
    match code {
        200 => "200",
        201 => "201",
        202 => "202",
        204 => "204",
        302 => "302",
        303 => "303",
        400 => "400",
        401 => "401",
        403 => "403",
        404 => "404",
        405 => "405",
        406 => "406",
        413 => "413",
        415 => "415",
        429 => "429",
        500 => "500",
        502 => "502",
        503 => "503",
        c if c < 300 => "2xx",
        c if c < 400 => "3xx",
        c if c < 500 => "4xx",
        _ => "5xx",
    }
}

/// Why an answer refused authentication: the challenge's `error`, or `no_token`.
fn refusal_reason(response: &Response) -> Option<&'static str> {
    let challenge = response.headers().get(http::header::WWW_AUTHENTICATE)?;
    let c = challenge.to_str().unwrap_or_default();
    Some(if c.contains("error=\"invalid_token\"") {
        "invalid_token"
    } else if c.contains("error=\"insufficient_scope\"") {
        "insufficient_scope"
    } else if c.contains("error=\"invalid_request\"") {
        "invalid_request"
    } else if c.contains("error=") {
        "other"
    } else {
        "no_token"
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusal_reasons_come_from_the_challenge() {
        let with = |c: &str| {
            let mut r = Response::new(axum::body::Body::empty());
            r.headers_mut()
                .insert(http::header::WWW_AUTHENTICATE, c.parse().unwrap());
            refusal_reason(&r)
        };
        assert_eq!(
            with(r#"Bearer error="invalid_token", resource_metadata="x""#),
            Some("invalid_token")
        );
        assert_eq!(
            with(r#"Bearer error="insufficient_scope", scope="a""#),
            Some("insufficient_scope")
        );
        assert_eq!(with(r#"Bearer resource_metadata="x""#), Some("no_token"));
        assert_eq!(
            refusal_reason(&Response::new(axum::body::Body::empty())),
            None
        );
    }
}
