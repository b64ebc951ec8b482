//! The operations endpoints: `GET /healthz` (the process answers), `GET /readyz` (the
//! stores answer and the instance is not shutting down: route traffic here), and
//! `GET /metrics` (Prometheus text), the last only to direct callers in
//! [`Settings::metrics_allow`](super::Settings::metrics_allow) — never to requests relayed
//! by a trusted proxy, so it is not public behind the load balancer.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{ConnectInfo, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use widgetry_authz::TrustedProxies;
use widgetry_store::{KvStore, Namespace, SessionStore};

use crate::transport::HttpState;

static HEALTH: Namespace = Namespace::from_static("widgetry.health");

/// How long a readiness probe waits for each store.
const PROBE_TIMEOUT: Duration = Duration::from_secs(2);

/// What the operations endpoints look at.
#[derive(Clone)]
pub(crate) struct Ops {
    pub(crate) sessions: Arc<dyn SessionStore>,
    pub(crate) kv: Option<Arc<dyn KvStore>>,
    pub(crate) state: Arc<HttpState>,
    pub(crate) proxies: TrustedProxies,
    pub(crate) metrics_allow: TrustedProxies,
}

pub(crate) fn router(ops: Ops) -> Router {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .with_state(Arc::new(ops))
}

fn text(status: StatusCode, body: &'static str) -> Response {
    (
        status,
        [
            (header::CONTENT_TYPE, "text/plain; charset=utf-8"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        body,
    )
        .into_response()
}

async fn healthz() -> Response {
    text(StatusCode::OK, "ok\n")
}

async fn readyz(State(ops): State<Arc<Ops>>) -> Response {
    if super::shutdown::is_shutting_down() {
        return text(StatusCode::SERVICE_UNAVAILABLE, "shutting down\n");
    }
    let sessions = tokio::time::timeout(PROBE_TIMEOUT, ops.sessions.get("readyz-probe")).await;
    if !matches!(sessions, Ok(Ok(_))) {
        let detail =
            sessions.map_or_else(|_| "timed out".to_string(), |r| format!("{:?}", r.err()));
        tracing::warn!(%detail, "readiness: the session store does not answer");
        return text(
            StatusCode::SERVICE_UNAVAILABLE,
            "session store unreachable\n",
        );
    }
    if let Some(kv) = &ops.kv {
        let probe = tokio::time::timeout(PROBE_TIMEOUT, kv.get(&HEALTH, "probe")).await;
        if !matches!(probe, Ok(Ok(_))) {
            let detail =
                probe.map_or_else(|_| "timed out".to_string(), |r| format!("{:?}", r.err()));
            tracing::warn!(%detail, "readiness: the data store does not answer");
            return text(StatusCode::SERVICE_UNAVAILABLE, "data store unreachable\n");
        }
    }
    text(StatusCode::OK, "ready\n")
}

async fn metrics(State(ops): State<Arc<Ops>>, req: axum::extract::Request) -> Response {
    let peer = req.extensions().get::<ConnectInfo<SocketAddr>>();
    let allowed = peer.is_some_and(|ConnectInfo(p)| {
        let ip = p.ip().to_canonical();
        !ops.proxies.contains(ip) && ops.metrics_allow.contains(ip)
    });
    if !allowed {
        return text(StatusCode::NOT_FOUND, "not found\n");
    }
    let Some(handle) = super::metrics::recorder() else {
        return text(
            StatusCode::SERVICE_UNAVAILABLE,
            "metrics recorder not installed\n",
        );
    };
    super::metrics::sessions_open(ops.state.open_sessions().len());
    let mut r = handle.render().into_response();
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
    );
    r
}
