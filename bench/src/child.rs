//! `widgetry-bench serve <server> [--port P]`: one server in a process of its own, for
//! the wrk mode. It binds `127.0.0.1:P` (0: any free port), prints `port <n>` (and, for
//! the widget-action server, `widget-token <token>`), then `ready`, and serves on a
//! Tokio runtime with one worker thread until its standard input closes (the parent
//! benchmark holds the other end, so a server never outlives its benchmark).
//!
//! The store servers keep their MCP sessions in Redis (`WIDGETRY_BENCH_REDIS_URL`,
//! default `redis://127.0.0.1:6379/0`, keys under `widgetry-bench:`) or PostgreSQL
//! (`WIDGETRY_BENCH_POSTGRES_URL`, default `postgres://postgres@127.0.0.1:5432/test`,
//! schema `widgetry_bench`); the URLs may carry TLS and pool options.
//!
//! The RS256 public key comes from the environment (`WIDGETRY_BENCH_RSA_N`,
//! `WIDGETRY_BENCH_RSA_E`, base64url), the way a server is configured with its issuer's
//! keys; the parent signs the tokens with the matching private key.

use std::io::{Read, Write};
use std::process::ExitCode;
use std::sync::Arc;

use tokio::net::TcpListener;
use widgetry::HttpConfig;
use widgetry_store::{
    PostgresConfig, PostgresSessionStore, RedisConfig, RedisSessionStore, SessionStore,
};

use crate::{apps, auth_apps};

/// Server kinds a child can run (`baseline` … `widgetry-action`).
pub const KINDS: &[&str] = &[
    "baseline",
    "widgetry-stateless",
    "widgetry-session",
    "widgetry-session-redis",
    "widgetry-session-postgres",
    "widgetry-session-observed",
    "widgetry-protected",
    "baseline-verify-per-call",
    "widgetry-action",
];

pub const ENV_N: &str = "WIDGETRY_BENCH_RSA_N";
pub const ENV_E: &str = "WIDGETRY_BENCH_RSA_E";

pub fn main(args: &[String]) -> ExitCode {
    let mut kind = None;
    let mut port: u16 = 0;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--port" => match it.next().and_then(|p| p.parse().ok()) {
                Some(p) => port = p,
                None => {
                    eprintln!("bench serve: --port needs a port number");
                    return ExitCode::from(2);
                }
            },
            k if kind.is_none() && KINDS.contains(&k) => kind = Some(k.to_string()),
            other => {
                eprintln!(
                    "bench serve: unexpected argument {other:?}; usage: widgetry-bench serve <{}> [--port P]",
                    KINDS.join("|")
                );
                return ExitCode::from(2);
            }
        }
    }
    let Some(kind) = kind else {
        eprintln!("bench serve: which server? one of {}", KINDS.join(", "));
        return ExitCode::from(2);
    };
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .thread_name("bench-server")
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("bench serve: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match rt.block_on(serve(&kind, port)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("bench serve {kind}: {e}");
            ExitCode::FAILURE
        }
    }
}

fn rsa_from_env() -> Result<(serde_json::Value, jsonwebtoken::DecodingKey), String> {
    let n = std::env::var(ENV_N).map_err(|_| format!("{ENV_N} is not set"))?;
    let e = std::env::var(ENV_E).map_err(|_| format!("{ENV_E} is not set"))?;
    auth_apps::jwks_and_key(&n, &e)
}

pub const ENV_REDIS: &str = "WIDGETRY_BENCH_REDIS_URL";
pub const ENV_POSTGRES: &str = "WIDGETRY_BENCH_POSTGRES_URL";

/// The shared session store of a store server kind.
async fn session_store(kind: &str) -> Result<Arc<dyn SessionStore>, String> {
    let var = |name: &str, default: &str| std::env::var(name).unwrap_or_else(|_| default.into());
    let store: Arc<dyn SessionStore> = if kind.ends_with("redis") {
        let url = var(ENV_REDIS, "redis://127.0.0.1:6379/0");
        Arc::new(
            RedisSessionStore::with_config(RedisConfig::new(url).key_prefix("widgetry-bench:"))
                .await
                .map_err(|e| e.to_string())?,
        )
    } else {
        let url = var(ENV_POSTGRES, "postgres://postgres@127.0.0.1:5432/test");
        Arc::new(
            PostgresSessionStore::with_config(PostgresConfig::new(url).schema("widgetry_bench"))
                .await
                .map_err(|e| e.to_string())?,
        )
    };
    Ok(store)
}

async fn serve(kind: &str, port: u16) -> Result<(), String> {
    let listener = TcpListener::bind(("127.0.0.1", port))
        .await
        .map_err(|e| format!("bind 127.0.0.1:{port}: {e}"))?;
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    let mut widget_token = None;
    let router = match kind {
        "baseline" => apps::baseline_router(),
        "widgetry-stateless" => {
            widgetry::transport::router(apps::echo_server(), HttpConfig::default().stateless(true))
                .0
        }
        "widgetry-session" => {
            widgetry::transport::router(apps::echo_server(), HttpConfig::default()).0
        }
        "widgetry-session-redis" | "widgetry-session-postgres" => {
            let store = session_store(kind).await?;
            widgetry::transport::router(
                apps::echo_server(),
                HttpConfig::default().session_store(store),
            )
            .0
        }
        "widgetry-session-observed" => {
            // As `App::serve_with` serves: recorder, observing layer, and a subscriber
            // that records `info` spans (its output is discarded).
            // `WIDGETRY_BENCH_LOG` (default `info`) is its filter: `off` measures the
            // metrics alone.
            widgetry::ops::metrics_recorder();
            let filter = std::env::var("WIDGETRY_BENCH_LOG").unwrap_or_else(|_| "info".into());
            let _ = tracing_subscriber::fmt()
                .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
                .with_writer(std::io::sink)
                .try_init();
            widgetry::transport::router(apps::echo_server(), HttpConfig::default())
                .0
                .layer(widgetry::ops::Observe::new(Default::default()))
        }
        "widgetry-protected" => auth_apps::protected_router(rsa_from_env()?.0),
        "baseline-verify-per-call" => auth_apps::baseline_verify_router(rsa_from_env()?.1),
        "widgetry-action" => {
            let (r, t) = auth_apps::action_router_and_token(&format!("http://{addr}"));
            widget_token = Some(t);
            r
        }
        other => return Err(format!("unknown server {other:?}")),
    };
    {
        let mut out = std::io::stdout().lock();
        let mut msg = format!("port {}\n", addr.port());
        if let Some(t) = &widget_token {
            msg.push_str(&format!("widget-token {t}\n"));
        }
        msg.push_str("ready\n");
        out.write_all(msg.as_bytes())
            .and_then(|_| out.flush())
            .map_err(|e| format!("cannot report the port: {e}"))?;
    }
    // Exit when the parent goes away (it holds our stdin).
    std::thread::spawn(|| {
        let mut buf = [0u8; 64];
        let mut stdin = std::io::stdin();
        while matches!(stdin.read(&mut buf), Ok(n) if n > 0) {}
        std::process::exit(0);
    });
    apps::serve(listener, router).await;
    Ok(())
}
