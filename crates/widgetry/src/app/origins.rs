//! Endpoints that widgets call directly from their sandboxed origin (widget actions, the
//! sign-in endpoint): which origins may call them, and the one set of tower layers that
//! enforces it — a refusal (403) for any other origin, CORS (preflight included) for the
//! allowed ones, and a body limit.

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use std::convert::Infallible;
use std::task::{Context, Poll};

use axum::extract::Request;
use axum::response::Response;
use axum::Router;
use http::{HeaderName, HeaderValue, Method, StatusCode};
use serde_json::json;
use tower_http::cors::{AllowOrigin, CorsLayer};

use tower_layer::Layer;
use tower_service::Service;

use crate::transport::guard::{host_name, is_loopback_host};
use crate::transport::layers::{limit_request, EdgeFuture};

/// Origins allowed to call widget endpoints (CORS).
#[derive(Debug, Clone, Default)]
pub struct AllowedOrigins {
    /// Exact origins.
    pub exact: Vec<String>,
    /// Allow any loopback origin and the sandboxed-iframe `null` origin (development).
    pub dev: bool,
}

impl AllowedOrigins {
    /// Whether `origin` may call the endpoints.
    pub fn allows(&self, origin: &str) -> bool {
        let o = origin.trim_end_matches('/').to_ascii_lowercase();
        if self
            .exact
            .iter()
            .any(|e| e.trim_end_matches('/').eq_ignore_ascii_case(&o))
        {
            return true;
        }
        // ChatGPT renders widgets on sandbox subdomains of oaiusercontent.com.
        if let Some(host) = o.strip_prefix("https://") {
            let host = host_name(host);
            if host == "chatgpt.com" || host.ends_with(".oaiusercontent.com") {
                return true;
            }
        }
        if self.dev {
            if o == "null" {
                return true;
            }
            if let Some((_, authority)) = o.split_once("://") {
                return is_loopback_host(host_name(authority));
            }
        }
        false
    }
}

/// A JSON error body `{"error", "error_description"}` with a status.
pub(crate) fn json_error(status: StatusCode, code: &str, description: &str) -> Response {
    let mut r = Response::new(Body::from(
        json!({"error": code, "error_description": description}).to_string(),
    ));
    *r.status_mut() = status;
    r.headers_mut().insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    r
}

/// Who may call a widget endpoint, decided per request (the sign-in endpoint's list can
/// change after it is built).
pub(crate) type OriginCheck = Arc<dyn Fn(&str) -> bool + Send + Sync>;

/// Applies the widget-endpoint layers to `router`: requests from an origin `allowed`
/// refuses get 403 `origin_not_allowed`; allowed origins get CORS for POST with
/// `allow_headers`; bodies over `max_body` bytes get 413. Requests without `Origin`
/// (server to server, curl) pass.
pub(crate) fn widget_endpoint<S: Clone + Send + Sync + 'static>(
    router: Router<S>,
    allowed: OriginCheck,
    allow_headers: Vec<HeaderName>,
    max_body: usize,
) -> Router<S> {
    let cors_check = allowed.clone();
    let cors = CorsLayer::new()
        .allow_origin(AllowOrigin::predicate(move |origin: &HeaderValue, _| {
            origin.to_str().is_ok_and(|o| cors_check(o))
        }))
        .allow_methods([Method::POST, Method::OPTIONS])
        .allow_headers(allow_headers)
        .max_age(Duration::from_secs(600));
    router.layer(cors).layer(WidgetEdge { allowed, max_body })
}

/// Refuses other origins (403) and caps the body (413), in one layer that calls the
/// inner service directly.
#[derive(Clone)]
struct WidgetEdge {
    allowed: OriginCheck,
    max_body: usize,
}

impl<S> Layer<S> for WidgetEdge {
    type Service = WidgetEdgeService<S>;
    fn layer(&self, inner: S) -> WidgetEdgeService<S> {
        WidgetEdgeService {
            edge: self.clone(),
            inner,
        }
    }
}

#[derive(Clone)]
struct WidgetEdgeService<S> {
    edge: WidgetEdge,
    inner: S,
}

impl<S> Service<Request> for WidgetEdgeService<S>
where
    S: Service<Request, Response = Response, Error = Infallible>,
{
    type Response = Response;
    type Error = Infallible;
    type Future = EdgeFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: Request) -> Self::Future {
        let refused = match req.headers().get(http::header::ORIGIN).map(|o| o.to_str()) {
            Some(Ok(o)) if (self.edge.allowed)(o) => None,
            None => None,
            Some(o) => Some(json_error(
                StatusCode::FORBIDDEN,
                "origin_not_allowed",
                &format!(
                    "origin {} may not call this endpoint",
                    o.unwrap_or("(not ASCII)")
                ),
            )),
        };
        match refused.or_else(|| limit_request(&mut req, self.edge.max_body, too_large)) {
            Some(response) => EdgeFuture::ready(response),
            None => EdgeFuture::inner(self.inner.call(req)),
        }
    }
}

fn too_large(limit: usize) -> Response {
    json_error(
        StatusCode::PAYLOAD_TOO_LARGE,
        "invalid_request",
        &format!("the request body is larger than {limit} bytes"),
    )
}

/// Reads a body behind [`widget_endpoint`]: the limit's 413, or 400 when unreadable.
pub(crate) async fn read_body(body: Body, limit: usize) -> Result<bytes::Bytes, Response> {
    crate::transport::layers::collect_limited(body, limit, too_large).await
}
