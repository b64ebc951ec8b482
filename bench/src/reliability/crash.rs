//! `kill -9` of an instance in the middle of sign-ins and refresh-token rotations, then a
//! restart on the same store, several rounds, on SQLite and on PostgreSQL.
//!
//! In each round, workers (each from its own loopback address) register OAuth clients,
//! sign the demo user in through the authorization server's pages (authorization
//! request, password, consent, code exchange), rotate the refresh tokens they hold and
//! start MCP sessions. What got a 2xx answer before the kill is *acknowledged* and must
//! survive: after the restart every acknowledged refresh token (the last one each family
//! received; a rotation in flight at the kill may have committed, and then the
//! acknowledged token is within its reuse grace) still rotates, every acknowledged
//! access token still opens a protected tool, every acknowledged MCP session still
//! answers. Between kill and restart the store is inspected for half-written records
//! (see [`crate::store_check`]).

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::json;

use crate::client::{source_ip, Conn};
use crate::oauth::{self, Refreshed};
use crate::showcase::Launch;
use crate::store_check::{self, Store};
use crate::{mcp, Section};

/// One signed-in family as the client knows it.
#[derive(Debug, Clone)]
struct Family {
    client_id: String,
    refresh: String,
    access: String,
}

/// What the workers had acknowledged.
#[derive(Default)]
struct Acked {
    families: Mutex<Vec<Family>>,
    sessions: Mutex<Vec<String>>,
    registrations: AtomicU64,
    sign_ins: AtomicU64,
    rotations: AtomicU64,
    /// Requests sent but not answered when the instance died.
    in_flight: AtomicU64,
    /// Failures while the instance was up (each one fails the part).
    errors: Mutex<Vec<String>>,
}

impl Acked {
    /// Notes a failed request: expected once the kill has begun, an error before.
    fn failed(&self, stop: &AtomicBool, what: &str, e: String) {
        if !stop.load(Ordering::SeqCst) {
            self.errors
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .push(format!("{what}: {e}"));
        }
    }
}

/// Settings of the crash part for one backend.
pub struct CrashConfig {
    /// The instance (same port and store every round).
    pub launch: Launch,
    /// The store, for inspection.
    pub store: Store,
    /// The demo user's password.
    pub password: String,
    /// Kill rounds.
    pub rounds: usize,
    /// Parallel workers.
    pub workers: usize,
    /// The kill comes at a random moment in this window after the workers start.
    pub kill_window: (Duration, Duration),
    /// First loopback source address number.
    pub first_source: usize,
    /// The section's title.
    pub title: String,
}

fn random_between(lo: Duration, hi: Duration) -> Duration {
    let mut b = [0u8; 8];
    ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut b).unwrap_or(());
    let r = u64::from_le_bytes(b) as f64 / u64::MAX as f64;
    lo + (hi.saturating_sub(lo)).mul_f64(r)
}

/// One worker: sign-ins, rotations and sessions until told to stop or the instance dies.
async fn worker(
    target: SocketAddr,
    source: usize,
    password: String,
    acked: Arc<Acked>,
    stop: Arc<AtomicBool>,
) {
    let mut conn = match Conn::open(source_ip(source), target).await {
        Ok(c) => c,
        Err(e) => return acked.failed(&stop, "connect", e),
    };
    let mut step = 0u64;
    while !stop.load(Ordering::Relaxed) {
        // Sign in: a new client, the pages, the code exchange.
        acked.in_flight.fetch_add(1, Ordering::Relaxed);
        let client_id = match oauth::register(&mut conn).await {
            Ok(c) => c,
            Err(e) => return acked.failed(&stop, "registration", e),
        };
        acked.in_flight.fetch_sub(1, Ordering::Relaxed);
        acked.registrations.fetch_add(1, Ordering::Relaxed);
        acked.in_flight.fetch_add(1, Ordering::Relaxed);
        let origin = format!("http://{target}");
        let t = match oauth::sign_in(&mut conn, &origin, &client_id, &password).await {
            Ok(t) => t,
            Err(e) => return acked.failed(&stop, "sign-in", e),
        };
        acked.in_flight.fetch_sub(1, Ordering::Relaxed);
        acked.sign_ins.fetch_add(1, Ordering::Relaxed);
        let index = {
            let mut f = acked.families.lock().unwrap_or_else(|p| p.into_inner());
            f.push(Family {
                client_id: client_id.clone(),
                refresh: t.refresh.clone(),
                access: t.access.clone(),
            });
            f.len() - 1
        };
        // A few rotations of this family, and an MCP session now and then.
        let mut refresh = t.refresh;
        for _ in 0..4 {
            if stop.load(Ordering::Relaxed) {
                return;
            }
            acked.in_flight.fetch_add(1, Ordering::Relaxed);
            match oauth::refresh(&mut conn, &client_id, &refresh).await {
                Ok(Refreshed::Ok(n)) => {
                    acked.in_flight.fetch_sub(1, Ordering::Relaxed);
                    acked.rotations.fetch_add(1, Ordering::Relaxed);
                    refresh = n.refresh.clone();
                    let mut f = acked.families.lock().unwrap_or_else(|p| p.into_inner());
                    f[index].refresh = n.refresh;
                    f[index].access = n.access;
                }
                Ok(Refreshed::Refused(r)) => return acked.failed(&stop, "refresh", r.brief()),
                Err(e) => return acked.failed(&stop, "refresh", e),
            }
            step += 1;
            if step % 3 == 0 {
                acked.in_flight.fetch_add(1, Ordering::Relaxed);
                let sid = match mcp::initialize(&mut conn, None).await {
                    Ok(sid) => sid,
                    Err(e) => return acked.failed(&stop, "initialize", e),
                };
                acked.in_flight.fetch_sub(1, Ordering::Relaxed);
                acked
                    .sessions
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .push(sid);
            }
        }
    }
}

/// Checks, after a restart, that everything acknowledged is there and usable; rotates
/// each family once (keeping the new token, so later rounds continue from it).
async fn verify(target: SocketAddr, source: usize, acked: &Acked) -> Vec<String> {
    let mut lost = Vec::new();
    let Ok(mut conn) = Conn::open(source_ip(source), target).await else {
        return vec!["cannot connect after the restart".into()];
    };
    let families = acked
        .families
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .clone();
    let mut updated = Vec::with_capacity(families.len());
    for f in families {
        // The access token: a protected call on a new session.
        let opened = mcp::initialize(&mut conn, Some(&f.access)).await;
        let call = match opened {
            Ok(sid) => {
                let body =
                    mcp::call_body("protected-widget", json!({"message": "after the crash"}));
                match mcp::post(&mut conn, Some(&sid), Some(&f.access), body).await {
                    Ok(r) => mcp::tool_result(&r).map(|_| ()),
                    Err(e) => Err(e),
                }
            }
            Err(e) => Err(e),
        };
        if let Err(e) = call {
            lost.push(format!("access token of client {}: {e}", f.client_id));
        }
        match oauth::refresh(&mut conn, &f.client_id, &f.refresh).await {
            Ok(Refreshed::Ok(n)) => updated.push(Family {
                client_id: f.client_id,
                refresh: n.refresh,
                access: n.access,
            }),
            Ok(Refreshed::Refused(r)) => lost.push(format!(
                "refresh token of client {}: {}",
                f.client_id,
                r.brief()
            )),
            Err(e) => lost.push(format!("refresh of client {}: {e}", f.client_id)),
        }
    }
    *acked.families.lock().unwrap_or_else(|p| p.into_inner()) = updated;
    let sessions = acked
        .sessions
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .clone();
    for sid in sessions {
        let body = bytes::Bytes::from_static(
            br#"{"jsonrpc":"2.0","id":3,"method":"tools/list","params":{}}"#,
        );
        match mcp::post(&mut conn, Some(&sid), None, body).await {
            Ok(r) if r.status == 200 => {}
            Ok(r) => lost.push(format!("MCP session {sid}: {}", r.brief())),
            Err(e) => lost.push(format!("MCP session {sid}: {e}")),
        }
    }
    lost
}

/// Runs the rounds.
pub async fn run(cfg: CrashConfig) -> Section {
    let mut s = Section::new(&cfg.title);
    let acked = Arc::new(Acked::default());
    let mut instance = match cfg.launch.start() {
        Ok(i) => i,
        Err(e) => return s.fail(e),
    };
    let target = instance.addr;
    let mut restarts = Vec::new();
    let mut kills_at = Vec::new();
    let mut inspections = Vec::new();
    for round in 0..cfg.rounds {
        let stop = Arc::new(AtomicBool::new(false));
        let mut set = tokio::task::JoinSet::new();
        for w in 0..cfg.workers {
            let source = cfg.first_source + round * cfg.workers + w;
            set.spawn(worker(
                target,
                source,
                cfg.password.clone(),
                acked.clone(),
                stop.clone(),
            ));
        }
        let wait = random_between(cfg.kill_window.0, cfg.kill_window.1);
        tokio::time::sleep(wait).await;
        kills_at.push(wait);
        stop.store(true, Ordering::SeqCst);
        instance.kill9();
        while set.join_next().await.is_some() {}
        for e in acked
            .errors
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .drain(..)
            .take(5)
        {
            s.failures
                .push(format!("round {}: failed before the kill: {e}", round + 1));
        }
        let store = cfg.store.clone();
        match tokio::task::spawn_blocking(move || store_check::inspect(&store)).await {
            Ok(Ok(i)) => {
                if i.half_written_grants + i.broken_families + i.orphan_tokens > 0 {
                    s.failures.push(format!(
                        "round {}: half-written records after the kill: {i:?}",
                        round + 1
                    ));
                }
                inspections.push(i);
            }
            Ok(Err(e)) => s
                .failures
                .push(format!("round {}: inspecting the store: {e}", round + 1)),
            Err(e) => s.failures.push(e.to_string()),
        }
        let begun = Instant::now();
        instance = match cfg.launch.start() {
            Ok(i) => i,
            Err(e) => return s.fail(format!("restart after kill {}: {e}", round + 1)),
        };
        restarts.push(begun.elapsed());
        let lost = verify(target, cfg.first_source + 10_000 + round, &acked).await;
        for l in lost.iter().take(5) {
            s.failures
                .push(format!("round {}: lost after the restart: {l}", round + 1));
        }
        if lost.len() > 5 {
            s.failures
                .push(format!("round {}: {} lost in all", round + 1, lost.len()));
        }
    }
    // The demo user still signs in (users are created at start, not over HTTP).
    if let Err(e) =
        oauth::client_and_tokens(source_ip(cfg.first_source + 20_000), target, &cfg.password).await
    {
        s.failures.push(format!(
            "the demo user cannot sign in after the rounds: {e}"
        ));
    }
    let ms = |d: &Duration| format!("{:.0}", d.as_secs_f64() * 1000.0);
    s.line(
        "rounds (kill -9, restart on the same store)",
        cfg.rounds.to_string(),
    );
    s.line("parallel workers", cfg.workers.to_string());
    s.line(
        "kill moments after the workers started (ms)",
        kills_at.iter().map(ms).collect::<Vec<_>>().join(", "),
    );
    s.line(
        "acknowledged client registrations",
        acked.registrations.load(Ordering::Relaxed).to_string(),
    );
    s.line(
        "acknowledged sign-ins (authorization code → tokens)",
        acked.sign_ins.load(Ordering::Relaxed).to_string(),
    );
    s.line(
        "acknowledged refresh rotations",
        acked.rotations.load(Ordering::Relaxed).to_string(),
    );
    s.line(
        "acknowledged MCP sessions",
        acked
            .sessions
            .lock()
            .map(|v| v.len())
            .unwrap_or(0)
            .to_string(),
    );
    s.line(
        "requests in flight at the kills (answer never received)",
        acked.in_flight.load(Ordering::Relaxed).to_string(),
    );
    s.line(
        "live refresh families in the store after each kill",
        inspections
            .iter()
            .map(|i| i.live_families.to_string())
            .collect::<Vec<_>>()
            .join(", "),
    );
    s.line(
        "families with two active tokens after a grace re-issue (settled at next use)",
        inspections
            .iter()
            .map(|i| i.forked_families.to_string())
            .collect::<Vec<_>>()
            .join(", "),
    );
    s.line(
        "half-written grants / families without an active token / orphan tokens",
        format!(
            "{} / {} / {}",
            inspections
                .iter()
                .map(|i| i.half_written_grants)
                .sum::<u64>(),
            inspections.iter().map(|i| i.broken_families).sum::<u64>(),
            inspections.iter().map(|i| i.orphan_tokens).sum::<u64>()
        ),
    );
    s.line(
        "restart → listening (ms)",
        restarts.iter().map(ms).collect::<Vec<_>>().join(", "),
    );
    s.line(
        "acknowledged records lost",
        if s.failures.iter().any(|f| f.contains("lost")) {
            "SOME (see failures)".into()
        } else {
            "0".into()
        },
    );
    drop(instance);
    s
}
