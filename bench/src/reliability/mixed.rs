//! Many concurrent clients for a fixed time against one instance (embedded authorization
//! server; SQLite, or PostgreSQL and Redis as several instances would share them), mixing
//! public calls, protected calls and widget actions, with access tokens from the real
//! OAuth flow: throughput, errors (0 allowed), latency quantiles and resident memory.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crate::client::source_ip;
use crate::load::{self, LoadConfig, Outcome};
use crate::oauth;
use crate::showcase::{rss_kib, Launch};
use crate::Section;

/// Settings of the mixed-load part.
pub struct MixedConfig {
    /// The part's title (names its stores).
    pub title: String,
    /// The instance.
    pub launch: Launch,
    /// The demo user's password.
    pub password: String,
    /// Concurrent clients.
    pub clients: usize,
    /// Load duration.
    pub duration: Duration,
}

/// Signs in `n` times (each a new client, from its own address); the access tokens.
pub async fn access_tokens(
    target: std::net::SocketAddr,
    password: &str,
    n: usize,
    first_source: usize,
) -> Result<Vec<String>, String> {
    let mut set = tokio::task::JoinSet::new();
    for i in 0..n {
        let password = password.to_string();
        set.spawn(async move {
            oauth::client_and_tokens(source_ip(first_source + i), target, &password).await
        });
    }
    let mut tokens = Vec::new();
    while let Some(r) = set.join_next().await {
        let (_, t) = r.map_err(|e| e.to_string())??;
        tokens.push(t.access);
    }
    Ok(tokens)
}

/// Runs the part.
pub async fn run(cfg: MixedConfig) -> Section {
    let mut s = Section::new(&cfg.title);
    let launched = std::time::Instant::now();
    let instance = match cfg.launch.start() {
        Ok(i) => i,
        Err(e) => return s.fail(e),
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    let fresh = instance.rss_kib().unwrap_or(0);
    let tokens = match access_tokens(instance.addr, &cfg.password, 8, 40_000).await {
        Ok(t) => t,
        Err(e) => return s.fail(format!("signing in for the tokens: {e}")),
    };
    tokio::time::sleep(Duration::from_millis(500)).await;
    let idle = instance.rss_kib().unwrap_or(0);
    let pid = instance.pid();
    let peak = Arc::new(AtomicU64::new(idle));
    let done = Arc::new(AtomicBool::new(false));
    let sampler = {
        let (peak, done) = (peak.clone(), done.clone());
        tokio::spawn(async move {
            while !done.load(Ordering::Relaxed) {
                if let Some(r) = rss_kib(pid) {
                    peak.fetch_max(r, Ordering::Relaxed);
                }
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
        })
    };
    let report = load::run(LoadConfig {
        target: instance.addr,
        clients: cfg.clients,
        duration: cfg.duration,
        access_tokens: tokens,
        first_source: 0,
        tolerate_outages: false,
        started: None,
    })
    .await;
    let load_began = launched.elapsed().saturating_sub(report.elapsed);
    done.store(true, Ordering::Relaxed);
    let _ = sampler.await;
    let after = instance.rss_kib().unwrap_or(0);
    let errors = report.events.len() - report.count(Outcome::Ok) + report.setup_failures.len();
    s.line(
        "clients (each its own connection, MCP session and loopback address)",
        cfg.clients.to_string(),
    );
    s.line("duration", format!("{:.0} s", report.elapsed.as_secs_f64()));
    s.line(
        "requests: public / protected / widget action",
        format!(
            "{} / {} / {}",
            report.per_kind[0], report.per_kind[1], report.per_kind[2]
        ),
    );
    s.line("throughput", format!("{:.0} req/s", report.throughput()));
    s.line("errors", errors.to_string());
    s.line(
        "latency p50 / p99 / max",
        format!(
            "{:.1} / {:.1} / {:.1} ms",
            report.quantile_ms(0.5),
            report.quantile_ms(0.99),
            report.quantile_ms(1.0)
        ),
    );
    for (kind, name) in [(0, "public"), (1, "protected"), (2, "widget action")] {
        s.line(
            &format!("{name}: p50 / p99 / max"),
            format!(
                "{:.1} / {:.1} / {:.1} ms",
                report.kind_quantile_ms(Some(kind), 0.5),
                report.kind_quantile_ms(Some(kind), 0.99),
                report.kind_quantile_ms(Some(kind), 1.0)
            ),
        );
    }
    s.line(
        "p99.9 / p99.99, all answers",
        format!(
            "{:.1} / {:.1} ms",
            report.quantile_ms(0.999),
            report.quantile_ms(0.9999)
        ),
    );
    // Where the tail is: answers over 1 s, by second of the run (a start-up herd, a
    // checkpoint, a pause of the generator itself…).
    let mut slow: Vec<(u64, u8)> = report
        .events
        .iter()
        .filter(|e| e.outcome == Outcome::Ok && e.micros > 1_000_000)
        .map(|e| (e.at_ms / 1000, e.kind))
        .collect();
    slow.sort_unstable();
    s.line(
        "the load began after the instance started",
        format!(
            "{:.1} s (sign-ins, then every client's connection and session)",
            load_began.as_secs_f64()
        ),
    );
    s.line(
        "answers over 1 s (second of the run: kind)",
        if slow.is_empty() {
            "none".to_string()
        } else {
            slow.iter()
                .take(12)
                .map(|(at, k)| format!("{at}: {}", ["public", "protected", "action"][*k as usize]))
                .collect::<Vec<_>>()
                .join(", ")
        },
    );
    s.line(
        "RSS fresh → after 8 sign-ins (argon2id) → peak under load → after",
        format!(
            "{} → {} → {} → {} KiB",
            fresh,
            idle,
            peak.load(Ordering::Relaxed),
            after
        ),
    );
    for e in report.setup_failures.iter().take(5) {
        s.failures.push(format!("setup: {e}"));
    }
    for e in report.unclear.iter().chain(&report.store_errors) {
        s.failures.push(e.clone());
    }
    if errors > 0 && s.failures.is_empty() {
        s.failures.push(format!("{errors} errors"));
    }
    if report.count(Outcome::Ok) == 0 {
        s.failures.push("no request succeeded".into());
    }
    s
}
