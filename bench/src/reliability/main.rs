//! `widgetry-reliability`: the reliability battery (see RELIABILITY.md).
//!
//! ```text
//! widgetry-reliability --showcase target/release/showcase [--full] [--only mixed,shared,crash,jwks,outage]
//! ```
//!
//! Runs real showcase processes on 127.0.0.1 and puts them through, in order: a mixed
//! load of many concurrent clients ([`mixed`]) on SQLite, then the same with the
//! database on PostgreSQL and MCP sessions on Redis (`shared`); `kill -9` in the middle of sign-ins and
//! refresh rotations, then a restart, on SQLite and on PostgreSQL ([`crash`]); the
//! external issuer's JWKS unreachable while cached keys keep working ([`jwks`]);
//! PostgreSQL and Redis restarted under load ([`outage`]). PostgreSQL and Redis are the
//! battery's own ([`services`]), so restarting them disturbs nothing else. Without
//! `--full` every part is scaled down to run in about a minute (the default test run's
//! version); `--full` is what RELIABILITY.md records. Prints one Markdown table per part
//! and exits 1 when any check failed. `scripts/reliability.sh` builds and runs it.

mod client;
mod crash;
mod issuer;
mod jwks;
mod load;
mod mcp;
mod mixed;
mod oauth;
mod outage;
mod services;
mod showcase;
mod store_check;

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use showcase::{free_port, Launch};
use store_check::Store;

/// One part's figures and failures.
pub struct Section {
    title: String,
    lines: Vec<(String, String)>,
    /// What went wrong (empty: the part passed).
    pub failures: Vec<String>,
}

impl Section {
    /// An empty section.
    pub fn new(title: &str) -> Self {
        Self {
            title: title.to_string(),
            lines: Vec::new(),
            failures: Vec::new(),
        }
    }

    /// Adds a figure.
    pub fn line(&mut self, what: &str, value: String) {
        self.lines.push((what.to_string(), value));
    }

    /// Ends the section with a failure.
    pub fn fail(mut self, why: impl Into<String>) -> Self {
        self.failures.push(why.into());
        self
    }

    fn print(&self, took: Duration) {
        let verdict = if self.failures.is_empty() {
            "passed"
        } else {
            "FAILED"
        };
        println!(
            "\n### {} — {verdict} in {:.0} s\n",
            self.title,
            took.as_secs_f64()
        );
        println!("| what | result |\n|---|---|");
        for (k, v) in &self.lines {
            println!("| {k} | {v} |");
        }
        for f in &self.failures {
            println!("\nFAILED: {f}");
        }
    }
}

const USAGE: &str = "\
usage: widgetry-reliability --showcase PATH [--full] [--only LIST] [--keep-going]

  --showcase PATH  the showcase binary (release for the recorded figures)
  --full           the recorded battery (about 7 minutes); default: the short one (under 1 min)
  --only LIST      comma-separated parts: mixed, shared, crash, jwks, outage (default: all)
  --clients N      clients of the mixed load (default 1000 full, 100 short)
  --seconds S      seconds of the mixed load (default 60 full, 8 short)";

struct Args {
    showcase: PathBuf,
    full: bool,
    only: Vec<String>,
    clients: Option<usize>,
    seconds: Option<u64>,
}

fn parse_args() -> Result<Args, String> {
    let mut a = Args {
        showcase: PathBuf::new(),
        full: false,
        only: Vec::new(),
        clients: None,
        seconds: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().ok_or_else(|| format!("{flag} needs a value"));
        match flag.as_str() {
            "--showcase" => a.showcase = PathBuf::from(value()?),
            "--full" => a.full = true,
            "--only" => a.only = value()?.split(',').map(|s| s.trim().to_string()).collect(),
            "--clients" => {
                a.clients = Some(value()?.parse().map_err(|e| format!("--clients: {e}"))?)
            }
            "--seconds" => {
                a.seconds = Some(value()?.parse().map_err(|e| format!("--seconds: {e}"))?)
            }
            "-h" | "--help" => return Err(String::new()),
            other => return Err(format!("unknown argument {other:?}")),
        }
    }
    if a.showcase.as_os_str().is_empty() {
        return Err("--showcase is required".into());
    }
    if !a.showcase.is_file() {
        return Err(format!(
            "{} is not a file (build it: cargo build --release -p showcase)",
            a.showcase.display()
        ));
    }
    for p in &a.only {
        if !PARTS.contains(&p.as_str()) {
            return Err(format!("unknown part {p:?}"));
        }
    }
    Ok(a)
}

/// A temporary directory, removed on drop.
struct TempDir(PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) if e.is_empty() => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("widgetry-reliability: {e}\n\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("widgetry-reliability: tokio: {e}");
            return ExitCode::FAILURE;
        }
    };
    let failed = rt.block_on(run(args));
    if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

/// The mixed load on an instance `launched` (or the reason it could not be).
async fn mixed_part(
    title: &str,
    launched: Result<Launch, String>,
    password: &str,
    clients: usize,
    duration: Duration,
) -> Section {
    match launched {
        Ok(launch) => {
            mixed::run(mixed::MixedConfig {
                title: title.into(),
                launch,
                password: password.to_string(),
                clients,
                duration,
            })
            .await
        }
        Err(e) => Section::new(title).fail(e),
    }
}

/// The parts, in the order they run.
const PARTS: [&str; 5] = ["mixed", "shared", "crash", "jwks", "outage"];

fn wants(args: &Args, part: &str) -> bool {
    args.only.is_empty() || args.only.iter().any(|p| p == part)
}

/// Runs the selected parts; whether any failed.
async fn run(args: Args) -> bool {
    let tmp =
        TempDir(std::env::temp_dir().join(format!("widgetry-reliability-{}", std::process::id())));
    if let Err(e) = std::fs::create_dir_all(&tmp.0) {
        eprintln!("widgetry-reliability: {}: {e}", tmp.0.display());
        return true;
    }
    let password = format!("battery-{}", oauth::random_hex(8));
    let full = args.full;
    println!(
        "widgetry-reliability: {} battery against {} ({} cores, load average {})",
        if full { "full" } else { "short" },
        args.showcase.display(),
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1),
        std::fs::read_to_string("/proc/loadavg")
            .unwrap_or_default()
            .split_whitespace()
            .take(3)
            .collect::<Vec<_>>()
            .join(" "),
    );
    let launch = |name: &str, env: Vec<(&str, String)>| -> Result<Launch, String> {
        let dir = tmp.0.join(name);
        std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
        let mut env: Vec<(String, String)> =
            env.into_iter().map(|(k, v)| (k.to_string(), v)).collect();
        env.push((
            "WIDGETRY_DATA_DIR".into(),
            dir.join("data").display().to_string(),
        ));
        env.push(("WIDGETRY_DEMO_PASSWORD".into(), password.clone()));
        Ok(Launch {
            binary: args.showcase.clone(),
            port: free_port()?,
            env,
            log: dir.join("showcase.log"),
        })
    };
    let mut failed = false;
    let mut report = |s: Section, began: Instant| {
        s.print(began.elapsed());
        failed |= !s.failures.is_empty();
    };
    let needs_services = wants(&args, "shared") || wants(&args, "crash") || wants(&args, "outage");
    let pg = if needs_services {
        let t = tmp.0.clone();
        match tokio::task::spawn_blocking(move || services::Postgres::start(&t)).await {
            Ok(Ok(p)) => Some(Arc::new(p)),
            Ok(Err(e)) => {
                report(
                    Section::new("PostgreSQL of the battery").fail(e),
                    Instant::now(),
                );
                None
            }
            Err(e) => {
                report(
                    Section::new("PostgreSQL of the battery").fail(e.to_string()),
                    Instant::now(),
                );
                None
            }
        }
    } else {
        None
    };

    let clients = args.clients.unwrap_or(if full { 1000 } else { 100 });
    let seconds = Duration::from_secs(args.seconds.unwrap_or(if full { 60 } else { 8 }));
    if wants(&args, "mixed") {
        let began = Instant::now();
        let s = mixed_part(
            "mixed load (SQLite)",
            launch("mixed", vec![]),
            &password,
            clients,
            seconds,
        )
        .await;
        report(s, began);
    }

    if wants(&args, "shared") {
        // What several instances share: users, grants, keys and app data in PostgreSQL,
        // MCP sessions in Redis (each request reads its session through the cache).
        let began = Instant::now();
        let t = tmp.0.clone();
        let redis = tokio::task::spawn_blocking(move || services::Redis::start(&t))
            .await
            .map_err(|e| e.to_string())
            .and_then(|r| r);
        let started = match (&pg, redis) {
            (None, _) => Err("no PostgreSQL (see above)".to_string()),
            (_, Err(e)) => Err(e),
            (Some(pg), Ok(redis)) => pg
                .database("mixed")
                .and_then(|url| {
                    launch(
                        "mixed-shared",
                        vec![
                            ("WIDGETRY_DATABASE_URL", url),
                            ("WIDGETRY_SESSION_STORE_URL", redis.url()),
                        ],
                    )
                })
                .map(|l| (l, redis)),
        };
        let (launched, _redis) = match started {
            Ok((l, redis)) => (Ok(l), Some(redis)),
            Err(e) => (Err(e), None),
        };
        let title = "mixed load (PostgreSQL + Redis)";
        let s = mixed_part(title, launched, &password, clients, seconds).await;
        report(s, began);
    }

    if wants(&args, "crash") {
        let (rounds, workers, window) = if full {
            (
                5,
                16,
                (Duration::from_millis(1000), Duration::from_millis(4000)),
            )
        } else {
            (
                2,
                6,
                (Duration::from_millis(700), Duration::from_millis(1800)),
            )
        };
        let began = Instant::now();
        let s = match launch("crash-sqlite", vec![]) {
            Ok(l) => {
                let store = Store::Sqlite(widgetry_authz_path(&l));
                crash::run(crash::CrashConfig {
                    launch: l,
                    store,
                    password: password.clone(),
                    rounds,
                    workers,
                    kill_window: window,
                    first_source: 50_000,
                    title: "kill -9 during sign-ins and rotations (SQLite)".into(),
                })
                .await
            }
            Err(e) => Section::new("kill -9 (SQLite)").fail(e),
        };
        report(s, began);
        if let Some(pg) = &pg {
            let began = Instant::now();
            let s = match pg.database("crash").and_then(|url| {
                Ok((
                    launch("crash-pg", vec![("WIDGETRY_DATABASE_URL", url.clone())])?,
                    url,
                ))
            }) {
                Ok((l, url)) => {
                    crash::run(crash::CrashConfig {
                        launch: l,
                        store: Store::Postgres(url),
                        password: password.clone(),
                        rounds,
                        workers,
                        kill_window: window,
                        first_source: 55_000,
                        title: "kill -9 during sign-ins and rotations (PostgreSQL)".into(),
                    })
                    .await
                }
                Err(e) => Section::new("kill -9 (PostgreSQL)").fail(e),
            };
            report(s, began);
        }
    }

    if wants(&args, "jwks") {
        let began = Instant::now();
        let s = match launch("jwks", vec![]) {
            Ok(l) => {
                jwks::run(jwks::JwksConfig {
                    launch: l,
                    outage: Duration::from_secs(if full { 190 } else { 5 }),
                    refresh_secs: if full { 5 } else { 1 },
                    calls_per_sec: if full { 5 } else { 8 },
                })
                .await
            }
            Err(e) => Section::new("issuer's JWKS unreachable").fail(e),
        };
        report(s, began);
    }

    if wants(&args, "outage") {
        let (clients, down_after, down_for, after) = if full {
            (
                200,
                Duration::from_secs(10),
                Duration::from_secs(15),
                Duration::from_secs(20),
            )
        } else {
            (
                30,
                Duration::from_secs(2),
                Duration::from_secs(2),
                Duration::from_secs(4),
            )
        };
        if let Some(pg) = &pg {
            let began = Instant::now();
            let s = match pg
                .database("outage")
                .and_then(|url| launch("outage-pg", vec![("WIDGETRY_DATABASE_URL", url)]))
            {
                Ok(l) => {
                    outage::run(outage::OutageConfig {
                        title: "PostgreSQL restarted under load".into(),
                        launch: l,
                        password: password.clone(),
                        service: outage::Service::Postgres(pg.clone()),
                        clients,
                        down_after,
                        down_for,
                        after,
                        recovery_bound: Duration::from_secs(10),
                        first_source: 60_000,
                    })
                    .await
                }
                Err(e) => Section::new("PostgreSQL restarted under load").fail(e),
            };
            report(s, began);
        }
        let began = Instant::now();
        let t = tmp.0.clone();
        let s = match tokio::task::spawn_blocking(move || services::Redis::start(&t))
            .await
            .map_err(|e| e.to_string())
            .and_then(|r| r)
        {
            Ok(redis) => match launch(
                "outage-redis",
                vec![("WIDGETRY_SESSION_STORE_URL", redis.url())],
            ) {
                Ok(l) => {
                    outage::run(outage::OutageConfig {
                        title: "Redis (MCP sessions) restarted under load".into(),
                        launch: l,
                        password: password.clone(),
                        service: outage::Service::Redis(Arc::new(Mutex::new(redis))),
                        clients,
                        down_after,
                        down_for,
                        after,
                        recovery_bound: Duration::from_secs(10),
                        first_source: 62_000,
                    })
                    .await
                }
                Err(e) => Section::new("Redis restarted under load").fail(e),
            },
            Err(e) => Section::new("Redis restarted under load").fail(e),
        };
        report(s, began);
    }
    drop(pg);
    println!(
        "\nwidgetry-reliability: {}",
        if failed { "FAILED" } else { "all parts passed" }
    );
    failed
}

/// The embedded authorization server's SQLite file of an instance.
fn widgetry_authz_path(l: &Launch) -> PathBuf {
    let data = l
        .env
        .iter()
        .find(|(k, _)| k == "WIDGETRY_DATA_DIR")
        .map(|(_, v)| PathBuf::from(v))
        .unwrap_or_default();
    data.join("authz.sqlite3")
}
