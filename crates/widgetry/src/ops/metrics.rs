//! The Prometheus recorder of the process and what feeds it besides the request layer:
//! store operations (latency and errors, through the [`Measured`] wrapper), the token
//! cache (hits and misses) and the open SSE streams and sessions (gauges).
//!
//! Metric names:
//!
//! | metric | type | labels |
//! |---|---|---|
//! | `widgetry_http_requests_total` | counter | `route`, `tool`, `status` |
//! | `widgetry_http_request_duration_seconds` | histogram | `route`, `tool`, `status` |
//! | `widgetry_auth_refusals_total` | counter | `reason` |
//! | `widgetry_token_cache_total` | counter | `result` (`hit`, `miss`) |
//! | `widgetry_store_operation_duration_seconds` | histogram | `store`, `op` |
//! | `widgetry_store_errors_total` | counter | `store`, `op` |
//! | `widgetry_sessions_open` | gauge | |
//! | `widgetry_sse_streams_open` | gauge | |

use std::future::Future;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use widgetry_store::{
    BoxFuture, KvEntry, KvStore, Namespace, SessionRecord, SessionStore, StoreResult,
};

/// Latency buckets (seconds): 100 µs to 10 s.
const BUCKETS: &[f64] = &[
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
    5.0, 10.0,
];

/// The process's Prometheus recorder, installed on first use (a process has one
/// global `metrics` recorder). `None` when another recorder was installed first.
pub fn recorder() -> Option<&'static PrometheusHandle> {
    static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let handle = PrometheusBuilder::new()
                .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), BUCKETS)
                .and_then(|b| b.install_recorder());
            match handle {
                Ok(h) => {
                    describe();
                    if let Ok(rt) = tokio::runtime::Handle::try_current() {
                        let h = h.clone();
                        // Histograms are summarized on upkeep; keep it regular.
                        rt.spawn(async move {
                            let mut tick = tokio::time::interval(Duration::from_secs(5));
                            loop {
                                tick.tick().await;
                                h.run_upkeep();
                            }
                        });
                    }
                    Some(h)
                }
                Err(e) => {
                    tracing::warn!(error = %e, "metrics: another recorder is installed; /metrics stays empty");
                    None
                }
            }
        })
        .as_ref()
}

fn describe() {
    metrics::describe_counter!("widgetry_http_requests_total", "HTTP requests answered");
    metrics::describe_histogram!(
        "widgetry_http_request_duration_seconds",
        metrics::Unit::Seconds,
        "Time to the response head"
    );
    metrics::describe_counter!(
        "widgetry_auth_refusals_total",
        "Requests refused for authentication or scope"
    );
    metrics::describe_counter!(
        "widgetry_token_cache_total",
        "Bearer tokens found in (hit) or missing from (miss) the verified-token cache"
    );
    metrics::describe_histogram!(
        "widgetry_store_operation_duration_seconds",
        metrics::Unit::Seconds,
        "Store operation latency"
    );
    metrics::describe_counter!(
        "widgetry_store_errors_total",
        "Store operations that failed"
    );
    metrics::describe_gauge!(
        "widgetry_sessions_open",
        "MCP sessions live on this instance"
    );
    metrics::describe_gauge!(
        "widgetry_sse_streams_open",
        "SSE streams open on this instance"
    );
}

/// Counts a bearer token looked up in the verified-token cache.
pub(crate) fn token_cache(hit: bool) {
    metrics::counter!("widgetry_token_cache_total", "result" => if hit { "hit" } else { "miss" })
        .increment(1);
}

/// Held by an open SSE stream: counts it in `widgetry_sse_streams_open` until dropped.
pub(crate) struct StreamGauge(());

impl StreamGauge {
    pub(crate) fn open() -> Self {
        metrics::gauge!("widgetry_sse_streams_open").increment(1.0);
        Self(())
    }
}

impl Drop for StreamGauge {
    fn drop(&mut self) {
        metrics::gauge!("widgetry_sse_streams_open").decrement(1.0);
    }
}

/// Sets the open-sessions gauge.
pub(crate) fn sessions_open(n: usize) {
    metrics::gauge!("widgetry_sessions_open").set(n as f64);
}

/// A store whose operations are timed and whose failures are counted, labelled `store`.
pub struct Measured<S: ?Sized> {
    name: &'static str,
    inner: Arc<S>,
}

impl<S: ?Sized> Measured<S> {
    /// Wraps `inner`, naming it `name` in the metrics (e.g. `sessions`, `kv`).
    pub fn new(name: &'static str, inner: Arc<S>) -> Self {
        Self { name, inner }
    }
}

fn timed<'a, T: 'a>(
    store: &'static str,
    op: &'static str,
    fut: impl Future<Output = StoreResult<T>> + Send + 'a,
) -> BoxFuture<'a, StoreResult<T>> {
    Box::pin(async move {
        let start = Instant::now();
        let out = fut.await;
        metrics::histogram!("widgetry_store_operation_duration_seconds", "store" => store, "op" => op)
            .record(start.elapsed().as_secs_f64());
        if out.is_err() {
            metrics::counter!("widgetry_store_errors_total", "store" => store, "op" => op)
                .increment(1);
        }
        out
    })
}

impl SessionStore for Measured<dyn SessionStore> {
    fn put(&self, record: SessionRecord) -> BoxFuture<'_, StoreResult<()>> {
        timed(self.name, "put", self.inner.put(record))
    }
    fn get<'a>(&'a self, id: &'a str) -> BoxFuture<'a, StoreResult<Option<SessionRecord>>> {
        timed(self.name, "get", self.inner.get(id))
    }
    fn touch<'a>(&'a self, id: &'a str, expires_at_ms: u64) -> BoxFuture<'a, StoreResult<bool>> {
        timed(self.name, "touch", self.inner.touch(id, expires_at_ms))
    }
    fn delete<'a>(&'a self, id: &'a str) -> BoxFuture<'a, StoreResult<bool>> {
        timed(self.name, "delete", self.inner.delete(id))
    }
    fn sweep(&self) -> BoxFuture<'_, StoreResult<u64>> {
        timed(self.name, "sweep", self.inner.sweep())
    }
}

impl KvStore for Measured<dyn KvStore> {
    fn get<'a>(
        &'a self,
        ns: &'a Namespace,
        key: &'a str,
    ) -> BoxFuture<'a, StoreResult<Option<Vec<u8>>>> {
        timed(self.name, "get", self.inner.get(ns, key))
    }
    fn put<'a>(
        &'a self,
        ns: &'a Namespace,
        key: &'a str,
        value: &'a [u8],
        ttl: Option<Duration>,
    ) -> BoxFuture<'a, StoreResult<()>> {
        timed(self.name, "put", self.inner.put(ns, key, value, ttl))
    }
    fn delete<'a>(&'a self, ns: &'a Namespace, key: &'a str) -> BoxFuture<'a, StoreResult<bool>> {
        timed(self.name, "delete", self.inner.delete(ns, key))
    }
    fn incr<'a>(
        &'a self,
        ns: &'a Namespace,
        key: &'a str,
        by: i64,
        ttl: Option<Duration>,
    ) -> BoxFuture<'a, StoreResult<i64>> {
        timed(self.name, "incr", self.inner.incr(ns, key, by, ttl))
    }
    fn list<'a>(
        &'a self,
        ns: &'a Namespace,
        prefix: &'a str,
        limit: usize,
    ) -> BoxFuture<'a, StoreResult<Vec<KvEntry>>> {
        timed(self.name, "list", self.inner.list(ns, prefix, limit))
    }
    fn put_if_absent<'a>(
        &'a self,
        ns: &'a Namespace,
        key: &'a str,
        value: &'a [u8],
        ttl: Option<Duration>,
    ) -> BoxFuture<'a, StoreResult<bool>> {
        timed(
            self.name,
            "put_if_absent",
            self.inner.put_if_absent(ns, key, value, ttl),
        )
    }
    fn sweep(&self) -> BoxFuture<'_, StoreResult<u64>> {
        timed(self.name, "sweep", self.inner.sweep())
    }
}
