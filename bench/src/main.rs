//! Widgetry load benchmark.
//!
//! ```text
//! cargo run --release -p widgetry-bench [-- --connections 32 --seconds 3 --rounds 4 --scenario all]
//! ```
//!
//! Starts, in this process, a bare axum baseline and the widgetry `echo` app (stateless
//! and with sessions) on a one-thread server runtime, and loads them from a one-thread
//! load-generator runtime over loopback keep-alive connections. Scenarios run
//! interleaved in rounds; the report gives the median of the rounds. See BENCHMARKS.md.
//!
//! `--wrk` runs each server in a child process (`widgetry-bench serve <server>`) pinned
//! to CPU 0 and loads it with Debian's `wrk` pinned to CPU 1 (see `wrk.rs`).

mod apps;
mod auth_apps;
mod child;
mod cpu;
mod load;
mod micro;
mod rounds;
mod wrk;

use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use hyper::{StatusCode, Uri};

use load::{BodyCheck, Expect, RunConfig, RunResult, Scenario, Setup};

const BASELINE: &str = "baseline";
const STATELESS: &str = "widgetry-stateless";
const SESSION: &str = "widgetry-session";
/// Widgetry, a protected tool called with the same valid RS256 token every time.
const PROTECTED: &str = "widgetry-protected";
/// Bare axum verifying the RS256 token on every call (not byte-compared: its own JSON).
const BASELINE_VERIFY: &str = "baseline-verify-per-call";
/// Widgetry's `POST /widget/actions/echo_action` with a widget token.
const ACTION: &str = "widgetry-action";

/// The body of the widget-action scenario.
const ACTION_BODY: &str = r#"{"text":"hello from the widgetry bench"}"#;

/// The `tools/call` body every scenario sends.
const CALL_BODY: &str = r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo","arguments":{"text":"hello from the widgetry bench"}}}"#;
/// What a correct answer must contain (checked on every response).
const EXPECTED_TEXT: &str = "hello from the widgetry bench";

struct Args {
    connections: usize,
    seconds: f64,
    warmup: f64,
    rounds: usize,
    scenario: String,
    max_other: f64,
    handler_cost: bool,
    wrk: bool,
    start_runs: usize,
}

const USAGE: &str = "\
usage: cargo run --release -p widgetry-bench -- [options]
       widgetry-bench serve <server> [--port P]   (one server, for the wrk mode)

  --connections N   concurrent keep-alive connections (default 32)
  --seconds S       measured seconds per scenario and round (default 2)
  --warmup S        warm-up seconds before each measurement (default 1)
  --rounds R        interleaved rounds; the report shows the median (default 6)
  --scenario LIST   all | public | session | a comma-separated list of
                    baseline, widgetry-stateless, widgetry-session (default all;
                    the baseline always runs, the ratios need it)
  --max-other PCT   a round during which other processes used more than PCT% of
                    a core is left out of the medians, as long as at least half
                    of the rounds remain (default 25)
  --handler-cost    instead of the load runs, measure the in-process CPU cost of
                    one tools/call through each router (no network, ~3 s)
  --wrk             wrk mode: each server in a child process pinned to CPU 0,
                    loaded by Debian's wrk (apt-get install wrk) pinned to CPU 1;
                    whole seconds only. Scenarios: all | public | session | 401 |
                    protected | action | stores, or names (baseline-public,
                    widgetry-public, widgetry-session, widgetry-session-redis,
                    widgetry-session-postgres, baseline-401,
                    widgetry-401, widgetry-protected, baseline-verify-per-call,
                    widgetry-action)
  --start-runs N    wrk mode: runs of start -> first protected 200 per server
                    (default 5; 0 skips them)";

fn parse_args() -> Result<Args, String> {
    let mut a = Args {
        connections: 32,
        seconds: 2.0,
        warmup: 1.0,
        rounds: 6,
        scenario: "all".into(),
        max_other: 25.0,
        handler_cost: false,
        wrk: false,
        start_runs: 5,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        if flag == "-h" || flag == "--help" {
            return Err(String::new());
        }
        if flag == "--handler-cost" {
            a.handler_cost = true;
            continue;
        }
        if flag == "--wrk" {
            a.wrk = true;
            continue;
        }
        let (name, inline) = match flag.split_once('=') {
            Some((n, v)) => (n.to_string(), Some(v.to_string())),
            None => (flag.clone(), None),
        };
        let mut value = || {
            inline
                .clone()
                .or_else(|| it.next())
                .ok_or_else(|| format!("{name} needs a value"))
        };
        let bad = |v: &str| format!("invalid value {v:?} for {name}");
        match name.as_str() {
            "--connections" | "-c" => {
                let v = value()?;
                a.connections = v
                    .parse()
                    .ok()
                    .filter(|n| *n > 0 && *n <= 10_000)
                    .ok_or_else(|| bad(&v))?;
            }
            "--seconds" | "-s" => {
                let v = value()?;
                a.seconds = v
                    .parse()
                    .ok()
                    .filter(|s: &f64| *s > 0.0 && *s <= 600.0)
                    .ok_or_else(|| bad(&v))?;
            }
            "--warmup" => {
                let v = value()?;
                a.warmup = v
                    .parse()
                    .ok()
                    .filter(|s: &f64| *s >= 0.0 && *s <= 60.0)
                    .ok_or_else(|| bad(&v))?;
            }
            "--rounds" | "-r" => {
                let v = value()?;
                a.rounds = v
                    .parse()
                    .ok()
                    .filter(|n| *n > 0 && *n <= 100)
                    .ok_or_else(|| bad(&v))?;
            }
            "--scenario" => a.scenario = value()?,
            "--start-runs" => {
                let v = value()?;
                a.start_runs = v
                    .parse()
                    .ok()
                    .filter(|n| *n <= 1000)
                    .ok_or_else(|| bad(&v))?;
            }
            "--max-other" => {
                let v = value()?;
                a.max_other = v
                    .parse()
                    .ok()
                    .filter(|p: &f64| *p >= 0.0)
                    .ok_or_else(|| bad(&v))?;
            }
            _ => return Err(format!("unknown option {flag:?}")),
        }
    }
    Ok(a)
}

fn selected(spec: &str) -> Result<Vec<&'static str>, String> {
    let mut names = vec![BASELINE];
    for part in spec.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let add: &[&'static str] = match part {
            "all" => &[STATELESS, SESSION, PROTECTED, BASELINE_VERIFY, ACTION],
            "auth" | "protected" | PROTECTED => &[PROTECTED, BASELINE_VERIFY],
            "action" | ACTION => &[ACTION],
            "public" | "stateless" | STATELESS => &[STATELESS],
            "session" | SESSION => &[SESSION],
            "baseline" => &[],
            other => return Err(format!("unknown scenario {other:?}")),
        };
        for n in add {
            if !names.contains(n) {
                names.push(n);
            }
        }
    }
    Ok(names)
}

fn url(addr: std::net::SocketAddr) -> Uri {
    format!("http://{addr}{}", apps::MCP_PATH)
        .parse()
        .expect("a socket address makes a valid URI")
}

fn scenarios(
    targets: &apps::Targets,
    creds: &apps::Credentials,
    names: &[&'static str],
) -> Vec<Scenario> {
    let expect = Expect {
        status: StatusCode::OK,
        body: BodyCheck::Contains(Bytes::from_static(EXPECTED_TEXT.as_bytes())),
        check_body_every: 1,
    };
    names
        .iter()
        .map(|&name| {
            let bearer = |t: &str| {
                let mut h = load::mcp_headers("2025-06-18");
                if let Ok(v) = hyper::header::HeaderValue::from_str(&format!("Bearer {t}")) {
                    h.insert(hyper::header::AUTHORIZATION, v);
                }
                h
            };
            let (addr, setup, headers) = match name {
                BASELINE => (
                    targets.baseline,
                    Setup::None,
                    load::mcp_headers("2025-06-18"),
                ),
                STATELESS => (
                    targets.stateless,
                    Setup::None,
                    load::mcp_headers("2025-06-18"),
                ),
                PROTECTED => (targets.protected, Setup::None, bearer(&creds.access_token)),
                BASELINE_VERIFY => (
                    targets.baseline_verify,
                    Setup::None,
                    bearer(&creds.access_token),
                ),
                ACTION => (targets.action, Setup::None, bearer(&creds.widget_token)),
                _ => (
                    targets.session,
                    Setup::McpSession,
                    load::mcp_headers("2025-06-18"),
                ),
            };
            let (url, body) = if name == ACTION {
                let u: Uri = format!("http://{}/widget/actions/echo_action", targets.action)
                    .parse()
                    .expect("a socket address makes a valid URI");
                (u, Bytes::from_static(ACTION_BODY.as_bytes()))
            } else {
                (url(addr), Bytes::from_static(CALL_BODY.as_bytes()))
            };
            Scenario {
                name: name.to_string(),
                url,
                headers,
                body,
                setup,
                expect: expect.clone(),
            }
        })
        .collect()
}

fn median(mut v: Vec<f64>) -> f64 {
    v.retain(|x| !x.is_nan());
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(|a, b| a.total_cmp(b));
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

fn opt(x: Option<f64>, digits: usize) -> String {
    match x {
        Some(v) if !v.is_nan() => format!("{v:.digits$}"),
        _ => "-".into(),
    }
}

struct Summary {
    name: String,
    rounds: Vec<RunResult>,
}

impl Summary {
    fn rps(&self) -> f64 {
        median(self.rounds.iter().map(|r| r.rps()).collect())
    }
    fn p50(&self) -> f64 {
        median(self.rounds.iter().map(|r| r.quantile_us(0.50)).collect())
    }
    fn p99(&self) -> f64 {
        median(self.rounds.iter().map(|r| r.quantile_us(0.99)).collect())
    }
    fn med(&self, f: impl Fn(&RunResult) -> Option<f64>) -> Option<f64> {
        let v: Vec<f64> = self.rounds.iter().filter_map(f).collect();
        (!v.is_empty()).then(|| median(v))
    }
}

fn main() -> ExitCode {
    let argv: Vec<String> = std::env::args().skip(1).collect();
    if argv.first().is_some_and(|a| a == "serve") {
        return child::main(&argv[1..]);
    }
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            if e.is_empty() {
                println!("{USAGE}");
                return ExitCode::SUCCESS;
            }
            eprintln!("bench: {e}\n\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    if args.wrk {
        if args.handler_cost {
            eprintln!("bench: --wrk and --handler-cost do not go together");
            return ExitCode::from(2);
        }
        return wrk::main(&args);
    }
    let names = match selected(&args.scenario) {
        Ok(n) => n,
        Err(e) => {
            eprintln!("bench: {e}\n\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    match run(&args, &names) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("bench: error: {e}");
            ExitCode::FAILURE
        }
    }
}

fn runtime(role: &'static str) -> Result<tokio::runtime::Runtime, String> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .thread_name(format!("bench-{role}"))
        .on_thread_start(move || cpu::register(role))
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the {role} runtime: {e}"))
}

fn run(args: &Args, names: &[&'static str]) -> Result<ExitCode, String> {
    let server_rt = runtime("server")?;
    let load_rt = runtime("load")?;
    // `block_on` runs on this (main) thread; the servers' tasks run on the server
    // runtime's single worker thread.
    let (targets, creds) = server_rt
        .block_on(apps::start())
        .map_err(|e| format!("cannot start the servers: {e}"))?;

    let scenarios: Vec<Arc<Scenario>> = scenarios(&targets, &creds, names)
        .into_iter()
        .map(Arc::new)
        .collect();

    // Probe every scenario once; widgetry must answer exactly the baseline's bytes, so
    // the comparison is like for like. From then on every answer must match exactly.
    let mut reference: Option<Bytes> = None;
    let mut checked = Vec::new();
    for s in &scenarios {
        let (status, body) = load_rt.block_on(async {
            let s = s.clone();
            tokio::spawn(async move { load::probe(&s).await })
                .await
                .map_err(|e| e.to_string())?
        })?;
        if status != StatusCode::OK {
            return Err(format!(
                "{}: probe answered {status}: {}",
                s.name,
                String::from_utf8_lossy(&body)
            ));
        }
        match &reference {
            // Different wire formats: checked for the echoed text only.
            _ if s.name == ACTION || s.name == BASELINE_VERIFY => {}
            None => reference = Some(body.clone()),
            Some(r) if *r != body => {
                return Err(format!(
                    "{} answers different bytes than the baseline:\n  baseline: {}\n  {}: {}",
                    s.name,
                    String::from_utf8_lossy(r),
                    s.name,
                    String::from_utf8_lossy(&body)
                ))
            }
            Some(_) => {}
        }
        let mut s2 = (**s).clone();
        if !body
            .windows(EXPECTED_TEXT.len())
            .any(|w| w == EXPECTED_TEXT.as_bytes())
        {
            return Err(format!(
                "{}: the answer lacks the echoed text: {}",
                s.name,
                String::from_utf8_lossy(&body)
            ));
        }
        s2.expect.body = BodyCheck::Exact(body);
        checked.push(Arc::new(s2));
    }
    let scenarios = checked;

    if args.handler_cost {
        let expected = reference.unwrap_or_default();
        server_rt.block_on(micro::run(CALL_BODY, &expected))?;
        return Ok(ExitCode::SUCCESS);
    }

    let cfg = RunConfig {
        connections: args.connections,
        warmup: Duration::from_secs_f64(args.warmup),
        measure: Duration::from_secs_f64(args.seconds),
        max_requests_per_conn: 50_000_000,
    };
    let total = (args.warmup + args.seconds) * (args.rounds * scenarios.len()) as f64;
    println!(
        "widgetry-bench: {} connections, {:.0} s warm-up + {} s measured per run, {} rounds of [{}] (~{:.0} s)",
        args.connections,
        args.warmup,
        args.seconds,
        args.rounds,
        names.join(", "),
        total
    );
    println!("server runtime: 1 worker thread; load generator runtime: 1 worker thread; loopback HTTP/1.1 keep-alive");
    println!(
        "request: POST {} {}\nanswer:  {}",
        apps::MCP_PATH,
        CALL_BODY,
        String::from_utf8_lossy(match &scenarios[0].expect.body {
            BodyCheck::Exact(b) | BodyCheck::Contains(b) => b,
        })
    );
    println!();

    let mut summaries: Vec<Summary> = scenarios
        .iter()
        .map(|s| Summary {
            name: s.name.clone(),
            rounds: Vec::new(),
        })
        .collect();
    for round in 1..=args.rounds {
        for (i, s) in scenarios.iter().enumerate() {
            let s = s.clone();
            let r = load_rt.block_on(async move {
                tokio::spawn(load::run(s, cfg))
                    .await
                    .map_err(|e| e.to_string())?
            })?;
            println!(
                "round {round} {:<20} {:>9.0} req/s  p50 {:>6.0} µs  p99 {:>6.0} µs  server cpu {:>4}%  load cpu {:>4}%  other {:>4}%",
                summaries[i].name,
                r.rps(),
                r.quantile_us(0.50),
                r.quantile_us(0.99),
                opt(r.cpu.server_pct, 0),
                opt(r.cpu.load_pct, 0),
                opt(r.cpu.other_pct, 0),
            );
            if r.errors > 0 || r.completed == 0 {
                eprintln!(
                    "bench: {}: {} errors, {} good responses; first error: {}",
                    summaries[i].name,
                    r.errors,
                    r.completed,
                    r.first_error
                        .as_deref()
                        .unwrap_or("none (no response completed)")
                );
                eprintln!("bench: aborting: a benchmark with errors measures nothing");
                return Ok(ExitCode::FAILURE);
            }
            summaries[i].rounds.push(r);
        }
    }

    let summaries = drop_disturbed_rounds(summaries, args.max_other);
    report(&summaries);
    Ok(ExitCode::SUCCESS)
}

/// Leaves out the rounds during which other processes used more than `max_other` % of
/// a core (see [`rounds::kept_rounds`]).
fn drop_disturbed_rounds(summaries: Vec<Summary>, max_other: f64) -> Vec<Summary> {
    let other: Vec<Vec<Option<f64>>> = summaries
        .iter()
        .map(|s| s.rounds.iter().map(|r| r.cpu.other_pct).collect())
        .collect();
    let Some(kept) = rounds::kept_rounds(&other, max_other) else {
        return summaries;
    };
    summaries
        .into_iter()
        .map(|s| Summary {
            name: s.name,
            rounds: rounds::keep(s.rounds, &kept),
        })
        .collect()
}

fn report(summaries: &[Summary]) {
    let base = summaries.iter().find(|s| s.name == BASELINE);
    let base_rps = base.map(|b| b.rps()).unwrap_or(f64::NAN);
    let base_p99 = base.map(|b| b.p99()).unwrap_or(f64::NAN);
    println!();
    println!(
        "median of {} rounds (server CPU/req: server thread CPU time per response):",
        summaries[0].rounds.len()
    );
    println!(
        "| {:<20} | {:>9} | {:>8} | {:>8} | {:>15} | {:>11} | {:>9} | {:>9} | {:>11} |",
        "scenario",
        "req/s",
        "p50 µs",
        "p99 µs",
        "server CPU/req",
        "server CPU",
        "load CPU",
        "other CPU",
        "vs baseline"
    );
    println!(
        "|{:-<22}|{:->11}|{:->10}|{:->10}|{:->17}|{:->13}|{:->11}|{:->11}|{:->13}|",
        "", ":", ":", ":", ":", ":", ":", ":", ":"
    );
    for s in summaries {
        println!(
            "| {:<20} | {:>9.0} | {:>8.0} | {:>8.0} | {:>12} µs | {:>10}% | {:>8}% | {:>8}% | {:>11.2} |",
            s.name,
            s.rps(),
            s.p50(),
            s.p99(),
            opt(s.med(|r| r.server_cpu_us_per_req()), 1),
            opt(s.med(|r| r.cpu.server_pct), 0),
            opt(s.med(|r| r.cpu.load_pct), 0),
            opt(s.med(|r| r.cpu.other_pct), 0),
            s.rps() / base_rps,
        );
    }
    println!();
    let ratio = |name: &str| {
        summaries
            .iter()
            .find(|s| s.name == name)
            .map(|s| s.rps() / base_rps)
    };
    let per_round = |name: &str| -> Vec<f64> {
        let (Some(b), Some(s)) = (base, summaries.iter().find(|s| s.name == name)) else {
            return Vec::new();
        };
        b.rounds
            .iter()
            .zip(&s.rounds)
            .map(|(b, s)| s.rps() / b.rps())
            .collect()
    };
    // Baseline CPU per request over the scenario's: what the throughput ratio would be
    // if both servers had a core to themselves (less sensitive to the neighbours).
    let cpu_ratio = |name: &str| -> Option<f64> {
        let s = summaries.iter().find(|s| s.name == name)?;
        Some(base?.med(|r| r.server_cpu_us_per_req())? / s.med(|r| r.server_cpu_us_per_req())?)
    };
    for (name, goal) in [
        (STATELESS, 0.8),
        (SESSION, 0.6),
        (PROTECTED, 0.7),
        (ACTION, 0.6),
    ] {
        if let Some(r) = ratio(name) {
            let p99 = summaries
                .iter()
                .find(|s| s.name == name)
                .map(|s| s.p99() / base_p99)
                .unwrap_or(f64::NAN);
            let rounds = per_round(name);
            println!(
                "{name} / baseline: {r:.2} (goal >= {goal:.1}: {}); per round: {} (median {:.2}); server CPU per request: {}; p99 {p99:.2}x baseline",
                if r >= goal { "met" } else { "NOT met" },
                rounds.iter().map(|x| format!("{x:.2}")).collect::<Vec<_>>().join(" "),
                median(rounds.clone()),
                opt(cpu_ratio(name), 2),
            );
        }
    }
    let warn_load = summaries.iter().any(|s| {
        matches!((s.med(|r| r.cpu.load_pct), s.med(|r| r.cpu.server_pct)), (Some(l), Some(sv)) if l >= 95.0 && sv < 90.0)
    });
    if warn_load {
        println!("warning: the load generator was saturated while the server was not: the figures understate the server");
    }
    if let Some(l) = base.and_then(|b| b.med(|r| r.cpu.load_pct)) {
        if l >= 92.0 {
            println!(
                "note: during the baseline the load generator used {l:.0}% of its core: both sides were saturated \
                 and batched their work (few wake-ups), a regime the slower servers never reach; \
                 the ratios are lower than in rounds where the baseline's client had slack (see BENCHMARKS.md)"
            );
        }
    }
    let busy = summaries
        .iter()
        .filter_map(|s| s.med(|r| r.cpu.other_pct))
        .fold(0.0, f64::max);
    if busy >= 10.0 {
        println!(
            "warning: other processes used {busy:.0}% of a core during the runs: figures are noisy"
        );
    }
    let fmt = |x: Option<f64>| x.map(|v| format!("{v:.3}")).unwrap_or_else(|| "n/a".into());
    println!(
        "bench: stateless_ratio={} session_ratio={} protected_ratio={} verify_per_call_ratio={} action_ratio={}",
        fmt(ratio(STATELESS)),
        fmt(ratio(SESSION)),
        fmt(ratio(PROTECTED)),
        fmt(ratio(BASELINE_VERIFY)),
        fmt(ratio(ACTION))
    );
}
