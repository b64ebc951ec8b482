//! Mixed load: N clients, each on its own keep-alive connection from its own loopback
//! address, each with an MCP session opened with a signed-in user's access token, each
//! cycling through a public tool call (`show_list`), a protected one (`protected-widget`,
//! scopes `user read:data`) and a widget action (`POST /widget/actions/like_image` or
//! `unlike_image` with the widget token `show_gallery` handed out). Every answer is
//! checked and classified; latencies and a timeline are kept for the report.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use hyper::Method;
use serde_json::json;

use crate::client::{source_ip, Conn, Resp};
use crate::mcp;

/// What one answer was.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// The right answer.
    Ok,
    /// 503 with a JSON-RPC error naming the unavailable store (`/mcp`), or a widget
    /// action's error result saying the store is unavailable: what an outage must look
    /// like.
    StoreUnavailable,
    /// 404 for an MCP session the store no longer has (the client starts a new one).
    SessionGone,
    /// Anything else: a wrong answer, a timeout, a broken connection.
    Unclear,
}

/// The request kinds of the mix.
#[derive(Debug, Clone, Copy)]
enum Kind {
    Public,
    Protected,
    Action,
}

/// Settings of one load run.
#[derive(Debug, Clone)]
pub struct LoadConfig {
    /// The instance.
    pub target: SocketAddr,
    /// Concurrent clients.
    pub clients: usize,
    /// How long the load runs once every client is set up.
    pub duration: Duration,
    /// Access tokens the clients share round-robin (from real OAuth flows).
    pub access_tokens: Vec<String>,
    /// First loopback source address number (see [`source_ip`]).
    pub first_source: usize,
    /// Whether the clients expect outages (then a gone session is started again and
    /// errors are classified, not fatal).
    pub tolerate_outages: bool,
    /// Notified once every client is set up and the load begins.
    pub started: Option<Arc<tokio::sync::Notify>>,
}

/// One classified answer: when (ms since the load began), what, how long it took.
#[derive(Debug, Clone, Copy)]
pub struct Event {
    /// Milliseconds since the load began.
    pub at_ms: u64,
    /// The outcome.
    pub outcome: Outcome,
    /// The latency in µs.
    pub micros: u64,
    /// The request kind: 0 public, 1 protected, 2 widget action.
    pub kind: u8,
}

/// What a load run saw.
#[derive(Debug, Default)]
pub struct LoadReport {
    /// Every answer, in no particular order.
    pub events: Vec<Event>,
    /// The first few unclear answers, described.
    pub unclear: Vec<String>,
    /// The first few store-unavailable answers, described.
    pub store_errors: Vec<String>,
    /// How long the load ran.
    pub elapsed: Duration,
    /// Clients that could not be set up (each is an error).
    pub setup_failures: Vec<String>,
    /// Requests per kind: public, protected, action.
    pub per_kind: [u64; 3],
}

impl LoadReport {
    /// Answers with this outcome.
    pub fn count(&self, o: Outcome) -> usize {
        self.events.iter().filter(|e| e.outcome == o).count()
    }

    /// Latency quantile (nearest rank) over the good answers, in ms.
    pub fn quantile_ms(&self, q: f64) -> f64 {
        self.kind_quantile_ms(None, q)
    }

    /// Latency quantile over the good answers of one kind (0 public, 1 protected, 2
    /// widget action; `None`: all), in ms.
    pub fn kind_quantile_ms(&self, kind: Option<u8>, q: f64) -> f64 {
        let mut v: Vec<u64> = self
            .events
            .iter()
            .filter(|e| e.outcome == Outcome::Ok && kind.is_none_or(|k| e.kind == k))
            .map(|e| e.micros)
            .collect();
        if v.is_empty() {
            return f64::NAN;
        }
        v.sort_unstable();
        let rank = ((q * v.len() as f64).ceil() as usize).clamp(1, v.len());
        v[rank - 1] as f64 / 1000.0
    }

    /// Good answers per second.
    pub fn throughput(&self) -> f64 {
        self.count(Outcome::Ok) as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }
}

/// One client's state.
struct Client {
    conn: Conn,
    session: String,
    bearer: String,
    widget_token: String,
    origin: String,
}

fn store_named(text: &str) -> bool {
    let t = text.to_ascii_lowercase();
    ["postgres", "redis", "sqlite", "store", "database"]
        .iter()
        .any(|w| t.contains(w))
}

/// Classifies one answer of `kind`.
fn classify(kind: Kind, r: &Resp) -> (Outcome, Option<String>) {
    if r.status == 503 {
        let msg = r.json().map(|m| {
            let e = &m["error"];
            e["message"]
                .as_str()
                .or_else(|| e.as_str())
                .or_else(|| m["message"].as_str())
                .unwrap_or_default()
                .to_string()
        });
        return match msg {
            Some(m) if store_named(&m) => (Outcome::StoreUnavailable, Some(r.brief())),
            _ => (
                Outcome::Unclear,
                Some(format!("503 without a store named: {}", r.brief())),
            ),
        };
    }
    // A widget action answers like a tool: 200 with `isError` and the reason.
    if matches!(kind, Kind::Action) && r.status == 200 {
        if let Some(v) = r.json().filter(|v| v["isError"] == true) {
            let text = v["content"][0]["text"].as_str().unwrap_or_default();
            let outcome = if store_named(text) && text.contains("unavailable") {
                Outcome::StoreUnavailable
            } else {
                Outcome::Unclear
            };
            return (outcome, Some(r.brief()));
        }
    }
    if r.status == 404 && !matches!(kind, Kind::Action) {
        return (Outcome::SessionGone, Some(r.brief()));
    }
    let good = match kind {
        Kind::Public => mcp::tool_result(r).map(|_| ()),
        Kind::Protected => mcp::tool_result(r).and_then(|v| {
            v["structuredContent"]["has_read"]
                .as_bool()
                .filter(|b| *b)
                .map(|_| ())
                .ok_or_else(|| format!("protected-widget without read:data: {v}"))
        }),
        Kind::Action => {
            if r.status == 200 && r.json().is_some_and(|v| v.to_string().contains("sunrise")) {
                Ok(())
            } else {
                Err(format!("widget action: {}", r.brief()))
            }
        }
    };
    match good {
        Ok(()) => (Outcome::Ok, None),
        Err(e) => (Outcome::Unclear, Some(e)),
    }
}

impl Client {
    async fn open(cfg: &LoadConfig, n: usize) -> Result<Self, String> {
        let bearer = cfg.access_tokens[n % cfg.access_tokens.len()].clone();
        let mut conn = Conn::open(source_ip(cfg.first_source + n), cfg.target).await?;
        let session = mcp::initialize(&mut conn, Some(&bearer)).await?;
        let mut c = Client {
            conn,
            session,
            bearer,
            widget_token: String::new(),
            origin: format!("http://{}", cfg.target),
        };
        c.widget_token = c.fetch_widget_token().await?;
        Ok(c)
    }

    async fn fetch_widget_token(&mut self) -> Result<String, String> {
        let r = mcp::post(
            &mut self.conn,
            Some(&self.session),
            Some(&self.bearer),
            mcp::call_body("show_gallery", json!({})),
        )
        .await?;
        let v = mcp::tool_result(&r)?;
        v["_meta"]["widgetry/widgetToken"]["token"]
            .as_str()
            .map(str::to_string)
            .ok_or_else(|| format!("show_gallery gave no widget token: {v}"))
    }

    async fn request(&mut self, kind: Kind, step: u64) -> Result<Resp, String> {
        match kind {
            Kind::Public => {
                let body = mcp::call_body("show_list", json!({"only_open": step % 2 == 0}));
                mcp::post(
                    &mut self.conn,
                    Some(&self.session),
                    Some(&self.bearer),
                    body,
                )
                .await
            }
            Kind::Protected => {
                let body = mcp::call_body("protected-widget", json!({"message": "battery"}));
                mcp::post(
                    &mut self.conn,
                    Some(&self.session),
                    Some(&self.bearer),
                    body,
                )
                .await
            }
            Kind::Action => {
                let action = if step % 2 == 0 {
                    "like_image"
                } else {
                    "unlike_image"
                };
                let auth = format!("Bearer {}", self.widget_token);
                let h = [
                    ("content-type", "application/json"),
                    ("authorization", auth.as_str()),
                    ("origin", self.origin.as_str()),
                ];
                let body = Bytes::from_static(br#"{"image_id":"sunrise"}"#);
                self.conn
                    .send(Method::POST, &format!("/widget/actions/{action}"), &h, body)
                    .await
            }
        }
    }
}

/// Shared collection of what the clients saw.
#[derive(Default)]
struct Shared {
    report: std::sync::Mutex<LoadReport>,
}

const KEEP_DESCRIPTIONS: usize = 5;

/// Sets up every client, then runs the mix for `cfg.duration`; `cfg.started` is
/// notified once the load runs (the outage parts break things from there).
pub async fn run(cfg: LoadConfig) -> LoadReport {
    let cfg = Arc::new(cfg);
    let shared = Arc::new(Shared::default());
    // Set up in waves, so 1,000 initializes do not all queue at once.
    let mut clients = Vec::with_capacity(cfg.clients);
    for wave in (0..cfg.clients).collect::<Vec<_>>().chunks(100) {
        let mut set = tokio::task::JoinSet::new();
        for &n in wave {
            let cfg = cfg.clone();
            set.spawn(async move { (n, Client::open(&cfg, n).await) });
        }
        while let Some(j) = set.join_next().await {
            match j {
                Ok((_, Ok(c))) => clients.push(c),
                Ok((n, Err(e))) => shared
                    .report
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .setup_failures
                    .push(format!("client {n}: {e}")),
                Err(e) => shared
                    .report
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .setup_failures
                    .push(e.to_string()),
            }
        }
    }
    let begun = Instant::now();
    if let Some(n) = &cfg.started {
        n.notify_one();
    }
    let deadline = begun + cfg.duration;
    let mut set = tokio::task::JoinSet::new();
    for (i, mut c) in clients.into_iter().enumerate() {
        let cfg = cfg.clone();
        let shared = shared.clone();
        set.spawn(async move {
            let mut events = Vec::new();
            let mut unclear = Vec::new();
            let mut store_errors = Vec::new();
            let mut per_kind = [0u64; 3];
            let mut step = i as u64;
            while Instant::now() < deadline {
                let kind = [Kind::Public, Kind::Protected, Kind::Action][(step % 3) as usize];
                let sent = Instant::now();
                let (outcome, why) = match c.request(kind, step / 3).await {
                    Ok(r) => classify(kind, &r),
                    Err(e) => (Outcome::Unclear, Some(e)),
                };
                per_kind[(step % 3) as usize] += 1;
                events.push(Event {
                    at_ms: sent.duration_since(begun).as_millis() as u64,
                    outcome,
                    micros: sent.elapsed().as_micros() as u64,
                    kind: (step % 3) as u8,
                });
                step += 1;
                match outcome {
                    Outcome::Ok => {}
                    Outcome::StoreUnavailable if store_errors.len() < KEEP_DESCRIPTIONS => {
                        store_errors.extend(why)
                    }
                    Outcome::Unclear if unclear.len() < KEEP_DESCRIPTIONS => unclear.extend(why),
                    _ => {}
                }
                if outcome == Outcome::Ok {
                    continue;
                }
                if !cfg.tolerate_outages {
                    break;
                }
                // Outages: reconnect after a broken connection, start a new session when
                // the store lost this one; pace retries so an outage is not a busy loop.
                tokio::time::sleep(Duration::from_millis(100)).await;
                if outcome == Outcome::Unclear || outcome == Outcome::SessionGone {
                    if let Ok(conn) = Conn::open(source_ip(cfg.first_source + i), cfg.target).await
                    {
                        c.conn = conn;
                    }
                    if outcome == Outcome::SessionGone {
                        if let Ok(s) = mcp::initialize(&mut c.conn, Some(&c.bearer)).await {
                            c.session = s;
                        }
                    }
                }
            }
            let mut r = shared.report.lock().unwrap_or_else(|p| p.into_inner());
            r.events.extend(events);
            for (k, n) in per_kind.iter().enumerate() {
                r.per_kind[k] += n;
            }
            let room = KEEP_DESCRIPTIONS.saturating_sub(r.unclear.len());
            r.unclear.extend(unclear.into_iter().take(room));
            let room = (KEEP_DESCRIPTIONS * 10).saturating_sub(r.store_errors.len());
            r.store_errors.extend(store_errors.into_iter().take(room));
        });
    }
    while set.join_next().await.is_some() {}
    let elapsed = begun.elapsed();
    let mut report = std::mem::take(&mut *shared.report.lock().unwrap_or_else(|p| p.into_inner()));
    report.elapsed = elapsed;
    report
}
