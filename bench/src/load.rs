//! The load generator: N keep-alive HTTP/1.1 connections (hyper 1 client connections over
//! tokio `TcpStream`s with TCP_NODELAY), each sending one request, waiting for the
//! response, and sending the next, for a fixed time.
//!
//! A [`Scenario`] says what to send (URL, headers, body), what to do once per connection
//! before the load starts ([`Setup`]) and what a good answer looks like ([`Expect`]).
//! New scenarios (a protected call with a bearer token, a widget action) are new values
//! of these types; the driver does not change.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::SendRequest;
use hyper::header::{HeaderMap, HeaderName, HeaderValue, HOST};
use hyper::{Method, Request, StatusCode, Uri};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

use crate::cpu;

/// A request still unanswered this long after the end of a run counts as an error.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);

/// What each connection does before the load starts.
#[derive(Debug, Clone)]
pub enum Setup {
    /// Nothing: the scenario's request stands alone.
    None,
    /// Start an MCP session (Streamable HTTP, 2025-06-18 and older): POST `initialize`,
    /// keep the `mcp-session-id` it returns and send it on every request, then send
    /// `notifications/initialized`.
    McpSession,
}

/// What the body of a good answer must be.
#[derive(Debug, Clone)]
pub enum BodyCheck {
    /// Exactly these bytes.
    Exact(Bytes),
    /// Contains these bytes.
    Contains(Bytes),
}

/// What a good answer looks like.
#[derive(Debug, Clone)]
pub struct Expect {
    pub status: StatusCode,
    pub body: BodyCheck,
    /// Check the body of every n-th response (the status is checked on every one).
    pub check_body_every: u64,
}

/// One kind of request to put under load.
#[derive(Debug, Clone)]
pub struct Scenario {
    pub name: String,
    /// `http://127.0.0.1:<port>/<path>` (loopback only).
    pub url: Uri,
    /// Sent on every request (besides `Host`, which comes from the URL).
    pub headers: HeaderMap,
    pub body: Bytes,
    pub setup: Setup,
    pub expect: Expect,
}

impl Scenario {
    fn addr(&self) -> Result<SocketAddr, String> {
        let auth = self
            .url
            .authority()
            .ok_or_else(|| format!("{}: the URL has no host:port", self.name))?;
        let addr: SocketAddr = auth
            .as_str()
            .parse()
            .map_err(|e| format!("{}: {auth} is not an ip:port ({e})", self.name))?;
        if !addr.ip().is_loopback() {
            return Err(format!("{}: {addr} is not a loopback address", self.name));
        }
        Ok(addr)
    }

    fn path(&self) -> Uri {
        self.url
            .path_and_query()
            .map(|p| p.as_str())
            .unwrap_or("/")
            .parse()
            .unwrap_or_else(|_| Uri::from_static("/"))
    }
}

/// The standard headers of a Streamable HTTP POST.
pub fn mcp_headers(protocol_version: &'static str) -> HeaderMap {
    let mut h = HeaderMap::new();
    h.insert(
        hyper::header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    h.insert(
        hyper::header::ACCEPT,
        HeaderValue::from_static("application/json, text/event-stream"),
    );
    h.insert(
        HeaderName::from_static("mcp-protocol-version"),
        HeaderValue::from_static(protocol_version),
    );
    h
}

/// One open connection, ready to send the scenario's request.
pub struct Conn {
    sender: SendRequest<Full<Bytes>>,
    path: Uri,
    headers: HeaderMap,
}

impl Conn {
    /// Sends one request and reads the whole answer.
    pub async fn send(
        &mut self,
        headers: &HeaderMap,
        body: Bytes,
    ) -> Result<(StatusCode, HeaderMap, Bytes), String> {
        self.sender
            .ready()
            .await
            .map_err(|e| format!("connection closed: {e}"))?;
        let mut req = Request::new(Full::new(body));
        *req.method_mut() = Method::POST;
        *req.uri_mut() = self.path.clone();
        *req.headers_mut() = headers.clone();
        let resp = self
            .sender
            .send_request(req)
            .await
            .map_err(|e| format!("request failed: {e}"))?;
        let (parts, body) = resp.into_parts();
        let bytes = body
            .collect()
            .await
            .map_err(|e| format!("reading the response failed: {e}"))?
            .to_bytes();
        Ok((parts.status, parts.headers, bytes))
    }

    async fn send_scenario(
        &mut self,
        body: Bytes,
    ) -> Result<(StatusCode, HeaderMap, Bytes), String> {
        let headers = std::mem::take(&mut self.headers);
        let r = self.send(&headers, body).await;
        self.headers = headers;
        r
    }
}

/// Opens a connection and runs the scenario's setup on it.
pub async fn connect(s: &Scenario) -> Result<Conn, String> {
    let addr = s.addr()?;
    let tcp = TcpStream::connect(addr)
        .await
        .map_err(|e| format!("{}: connect {addr}: {e}", s.name))?;
    tcp.set_nodelay(true)
        .map_err(|e| format!("{}: TCP_NODELAY: {e}", s.name))?;
    let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tcp))
        .await
        .map_err(|e| format!("{}: HTTP handshake: {e}", s.name))?;
    tokio::spawn(async move {
        let _ = conn.await;
    });
    let mut headers = s.headers.clone();
    let host = HeaderValue::from_str(&addr.to_string()).map_err(|e| e.to_string())?;
    headers.insert(HOST, host);
    let mut c = Conn {
        sender,
        path: s.path(),
        headers,
    };
    match s.setup {
        Setup::None => {}
        Setup::McpSession => {
            let init = Bytes::from_static(
                br#"{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"widgetry-bench","version":"0.1.0"}}}"#,
            );
            let (status, h, body) = c.send_scenario(init).await?;
            if status != StatusCode::OK {
                return Err(format!(
                    "{}: initialize answered {status}: {}",
                    s.name,
                    String::from_utf8_lossy(&body)
                ));
            }
            let sid = h.get("mcp-session-id").cloned().ok_or_else(|| {
                format!("{}: initialize returned no mcp-session-id header", s.name)
            })?;
            c.headers
                .insert(HeaderName::from_static("mcp-session-id"), sid);
            let note =
                Bytes::from_static(br#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#);
            let (status, _, body) = c.send_scenario(note).await?;
            if status != StatusCode::ACCEPTED {
                return Err(format!(
                    "{}: notifications/initialized answered {status}: {}",
                    s.name,
                    String::from_utf8_lossy(&body)
                ));
            }
        }
    }
    Ok(c)
}

/// Sends the scenario's request once on a fresh connection and returns the answer (to
/// learn or cross-check the expected body before measuring).
pub async fn probe(s: &Scenario) -> Result<(StatusCode, Bytes), String> {
    let mut c = connect(s).await?;
    let (status, _, body) = c.send_scenario(s.body.clone()).await?;
    Ok((status, body))
}

/// Settings of one measured run.
#[derive(Debug, Clone, Copy)]
pub struct RunConfig {
    pub connections: usize,
    pub warmup: Duration,
    pub measure: Duration,
    /// Upper bound of requests per connection (a safety net; time normally ends a run).
    pub max_requests_per_conn: u64,
}

/// The outcome of one run.
#[derive(Debug, Clone, Default)]
pub struct RunResult {
    /// Responses completed inside the measurement window.
    pub completed: u64,
    pub seconds: f64,
    /// Sorted latencies (ns) of the responses completed inside the window.
    pub latencies_ns: Vec<u64>,
    pub errors: u64,
    pub first_error: Option<String>,
    pub cpu: cpu::Usage,
}

impl RunResult {
    pub fn rps(&self) -> f64 {
        self.completed as f64 / self.seconds
    }
    /// The q-quantile latency in µs (nearest rank).
    pub fn quantile_us(&self, q: f64) -> f64 {
        if self.latencies_ns.is_empty() {
            return f64::NAN;
        }
        let n = self.latencies_ns.len();
        let rank = ((q * n as f64).ceil() as usize).clamp(1, n);
        self.latencies_ns[rank - 1] as f64 / 1000.0
    }
    /// Server CPU time per request, in µs.
    pub fn server_cpu_us_per_req(&self) -> Option<f64> {
        let pct = self.cpu.server_pct?;
        Some(pct / 100.0 * self.seconds / self.completed.max(1) as f64 * 1e6)
    }
}

#[derive(Default)]
struct ConnResult {
    completed: u64,
    latencies_ns: Vec<u64>,
    errors: u64,
    first_error: Option<String>,
}

fn check(expect: &Expect, n: u64, status: StatusCode, body: &[u8]) -> Result<(), String> {
    if status != expect.status {
        return Err(format!(
            "status {status} (expected {}): {}",
            expect.status,
            String::from_utf8_lossy(&body[..body.len().min(300)])
        ));
    }
    if n % expect.check_body_every.max(1) == 0 {
        let ok = match &expect.body {
            BodyCheck::Exact(b) => body == &b[..],
            BodyCheck::Contains(b) => b.is_empty() || body.windows(b.len()).any(|w| w == &b[..]),
        };
        if !ok {
            return Err(format!(
                "unexpected body: {}",
                String::from_utf8_lossy(&body[..body.len().min(300)])
            ));
        }
    }
    Ok(())
}

async fn drive(
    mut conn: Conn,
    s: Arc<Scenario>,
    measure_from: Instant,
    until: Instant,
    max_requests: u64,
    capacity: usize,
) -> ConnResult {
    let mut r = ConnResult {
        latencies_ns: Vec::with_capacity(capacity),
        ..Default::default()
    };
    let mut sent = 0u64;
    loop {
        let start = Instant::now();
        if start >= until || sent >= max_requests {
            break;
        }
        sent += 1;
        // No per-request timer here (it would cost the load generator a timer entry per
        // request): `run` bounds the whole run instead.
        let outcome = conn.send_scenario(s.body.clone()).await;
        let done = Instant::now();
        let outcome = match outcome {
            Ok((status, _, body)) => check(&s.expect, sent, status, &body),
            Err(e) => Err(e),
        };
        match outcome {
            Ok(()) => {
                if done >= measure_from && done < until {
                    r.completed += 1;
                    r.latencies_ns
                        .push(done.duration_since(start).as_nanos() as u64);
                }
            }
            Err(e) => {
                r.errors += 1;
                r.first_error.get_or_insert(e);
                // The connection state is unknown after a failure: stop this one.
                break;
            }
        }
    }
    r
}

/// Runs one scenario: connects (and sets up) every connection, loads for warm-up +
/// measurement time, and measures only the second part. Call inside the load runtime.
pub async fn run(s: Arc<Scenario>, cfg: RunConfig) -> Result<RunResult, String> {
    let mut conns = Vec::with_capacity(cfg.connections);
    for _ in 0..cfg.connections {
        conns.push(connect(&s).await?);
    }
    let t0 = Instant::now();
    let measure_from = t0 + cfg.warmup;
    let until = measure_from + cfg.measure;
    // Room for ~200k req/s spread over the connections, without regrowth in the loop.
    let capacity = ((200_000.0 * cfg.measure.as_secs_f64()) as usize / cfg.connections.max(1))
        .min(cfg.max_requests_per_conn as usize);
    let tasks: Vec<_> = conns
        .into_iter()
        .map(|c| {
            tokio::spawn(drive(
                c,
                s.clone(),
                measure_from,
                until,
                cfg.max_requests_per_conn,
                capacity,
            ))
        })
        .collect();
    tokio::time::sleep_until(measure_from.into()).await;
    let before = cpu::Snapshot::now();
    tokio::time::sleep_until(until.into()).await;
    let after = cpu::Snapshot::now();

    let mut out = RunResult {
        seconds: until.duration_since(measure_from).as_secs_f64(),
        cpu: cpu::usage(&before, &after),
        ..Default::default()
    };
    // Every connection stops after its request in flight at `until`; one still busy
    // REQUEST_TIMEOUT later is stuck: count it as an error and stop it.
    let deadline = tokio::time::Instant::from(until + REQUEST_TIMEOUT);
    for t in tasks {
        let abort = t.abort_handle();
        let r = match tokio::time::timeout_at(deadline, t).await {
            Ok(r) => r.map_err(|e| format!("{}: a connection task failed: {e}", s.name))?,
            Err(_) => {
                abort.abort();
                ConnResult {
                    errors: 1,
                    first_error: Some(format!(
                        "a request got no answer within {REQUEST_TIMEOUT:?}"
                    )),
                    ..Default::default()
                }
            }
        };
        out.completed += r.completed;
        out.errors += r.errors;
        if out.first_error.is_none() {
            out.first_error = r.first_error;
        }
        out.latencies_ns.extend_from_slice(&r.latencies_ns);
    }
    out.latencies_ns.sort_unstable();
    Ok(out)
}
