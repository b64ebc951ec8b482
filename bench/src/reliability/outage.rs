//! A store restarted under load: the mixed load runs against an instance whose store is
//! the battery's own PostgreSQL (everything) or Redis (MCP sessions), the service is
//! stopped and started again in the middle, and every answer is classified. During the
//! outage only clear errors are allowed (503 with an error naming the store, or 404 for
//! an MCP session a Redis without persistence lost, after which the client starts a new
//! one); after it, the instance recovers without a restart.

use std::time::{Duration, Instant};

use crate::load::{self, LoadConfig, Outcome};
use crate::mixed::access_tokens;
use crate::showcase::Launch;
use crate::Section;

/// What to restart.
pub enum Service {
    /// The battery's PostgreSQL cluster.
    Postgres(std::sync::Arc<crate::services::Postgres>),
    /// The battery's Redis.
    Redis(std::sync::Arc<std::sync::Mutex<crate::services::Redis>>),
}

impl Service {
    fn down(&self) -> Result<(), String> {
        match self {
            Service::Postgres(p) => p.down(),
            Service::Redis(r) => r.lock().unwrap_or_else(|p| p.into_inner()).down(),
        }
    }
    fn up(&self) -> Result<(), String> {
        match self {
            Service::Postgres(p) => p.up(),
            Service::Redis(r) => r.lock().unwrap_or_else(|p| p.into_inner()).up(),
        }
    }
}

/// Settings of one outage.
pub struct OutageConfig {
    /// The section's title.
    pub title: String,
    /// The instance, configured on the service.
    pub launch: Launch,
    /// The demo user's password.
    pub password: String,
    /// The service.
    pub service: Service,
    /// Concurrent clients.
    pub clients: usize,
    /// The service goes down this long after the load starts …
    pub down_after: Duration,
    /// … stays down this long …
    pub down_for: Duration,
    /// … and the load goes on this long after it is back.
    pub after: Duration,
    /// Recovery must be complete this long after the service is back.
    pub recovery_bound: Duration,
    /// First loopback source address number.
    pub first_source: usize,
}

/// Runs the part.
pub async fn run(cfg: OutageConfig) -> Section {
    let mut s = Section::new(&cfg.title);
    let instance = match cfg.launch.start() {
        Ok(i) => i,
        Err(e) => return s.fail(e),
    };
    let tokens =
        match access_tokens(instance.addr, &cfg.password, 4, cfg.first_source + 5_000).await {
            Ok(t) => t,
            Err(e) => return s.fail(format!("signing in for the tokens: {e}")),
        };
    let duration = cfg.down_after + cfg.down_for + cfg.after;
    let started = std::sync::Arc::new(tokio::sync::Notify::new());
    let load = tokio::spawn(load::run(LoadConfig {
        target: instance.addr,
        clients: cfg.clients,
        duration,
        access_tokens: tokens,
        first_source: cfg.first_source,
        tolerate_outages: true,
        started: Some(started.clone()),
    }));
    // Times count from when every client is set up and the load runs.
    started.notified().await;
    let began = Instant::now();
    tokio::time::sleep(cfg.down_after).await;
    let service = std::sync::Arc::new(cfg.service);
    let svc = service.clone();
    let down_at = began.elapsed();
    let stopped = tokio::task::spawn_blocking(move || svc.down()).await;
    if let Ok(Err(e)) | Err(e) = stopped.map_err(|e| e.to_string()) {
        return s.fail(format!("stopping the service: {e}"));
    }
    tokio::time::sleep(cfg.down_for).await;
    let svc = service.clone();
    let started = tokio::task::spawn_blocking(move || svc.up()).await;
    let up_at = began.elapsed();
    if let Ok(Err(e)) | Err(e) = started.map_err(|e| e.to_string()) {
        return s.fail(format!("starting the service again: {e}"));
    }
    let report = match load.await {
        Ok(r) => r,
        Err(e) => return s.fail(e.to_string()),
    };
    let at = Duration::from_millis;
    let errs: Vec<_> = report
        .events
        .iter()
        .filter(|e| e.outcome != Outcome::Ok)
        .collect();
    let first_err = errs.iter().map(|e| at(e.at_ms)).min();
    let last_err = errs.iter().map(|e| at(e.at_ms)).max();
    let ok_after = report
        .events
        .iter()
        .filter(|e| e.outcome == Outcome::Ok && at(e.at_ms) > up_at)
        .count();
    let before_bad = errs
        .iter()
        .filter(|e| at(e.at_ms) + Duration::from_millis(500) < down_at)
        .count();
    let secs = |d: Duration| format!("{:.1} s", d.as_secs_f64());
    s.line("clients", cfg.clients.to_string());
    s.line(
        "service stop begun at / back at (since the load began)",
        format!("{} / {}", secs(down_at), secs(up_at)),
    );
    s.line(
        "answers: ok / 503 naming the store / 404 session gone / unclear",
        format!(
            "{} / {} / {} / {}",
            report.count(Outcome::Ok),
            report.count(Outcome::StoreUnavailable),
            report.count(Outcome::SessionGone),
            report.count(Outcome::Unclear)
        ),
    );
    s.line(
        "first / last error",
        format!(
            "{} / {}",
            first_err.map(secs).unwrap_or("-".into()),
            last_err.map(secs).unwrap_or("-".into())
        ),
    );
    s.line(
        "recovered (last error) after the service was back",
        last_err
            .map(|l| secs(l.saturating_sub(up_at)))
            .unwrap_or("-".into()),
    );
    s.line("good answers after it was back", ok_after.to_string());
    // One answer of each shape, as a client saw it.
    let mcp = report.store_errors.iter().find(|e| e.starts_with("503"));
    let action = report.store_errors.iter().find(|e| e.starts_with("200"));
    for (what, e) in [
        ("/mcp during the outage", mcp),
        ("a widget action during the outage", action),
    ] {
        if let Some(e) = e {
            let e: String = e.chars().take(150).collect();
            s.line(
                what,
                format!("`{}…`", e.replace('|', "\\|").replace('`', "'")),
            );
        }
    }
    for e in &report.setup_failures {
        s.failures.push(format!("setup: {e}"));
    }
    for e in &report.unclear {
        s.failures.push(format!("unclear answer: {e}"));
    }
    if before_bad > 0 {
        s.failures
            .push(format!("{before_bad} errors before the service went down"));
    }
    if ok_after == 0 {
        s.failures
            .push("no good answer after the service came back".into());
    }
    if let Some(l) = last_err {
        if l > up_at + cfg.recovery_bound {
            s.failures.push(format!(
                "errors went on {} after the service was back (bound {})",
                secs(l - up_at),
                secs(cfg.recovery_bound)
            ));
        }
    }
    drop(instance);
    s
}
