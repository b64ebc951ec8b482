//! `--handler-cost`: the CPU cost of one `tools/call` through each router, called
//! in-process (no sockets, no HTTP parsing, no scheduler wake-ups). It isolates what the
//! framework adds on top of axum from the network and kernel costs that dominate the load
//! runs, and it is far less sensitive to noisy neighbours.

use std::time::Instant;

use axum::body::Body;
use axum::Router;
use bytes::Bytes;
use http_body_util::BodyExt;
use hyper::header::{HeaderName, HeaderValue, ACCEPT, CONTENT_TYPE, HOST};
use hyper::{Request, StatusCode};
use tower_service::Service;

use crate::apps;

fn request(body: &'static str, session: Option<&HeaderValue>) -> Request<Body> {
    request_as(body, session, None)
}

fn request_as(
    body: &'static str,
    session: Option<&HeaderValue>,
    authorization: Option<&HeaderValue>,
) -> Request<Body> {
    let mut req = Request::post(apps::MCP_PATH)
        .body(Body::from(Bytes::from_static(body.as_bytes())))
        .expect("a valid request");
    let h = req.headers_mut();
    h.insert(HOST, HeaderValue::from_static("127.0.0.1"));
    h.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    h.insert(
        ACCEPT,
        HeaderValue::from_static("application/json, text/event-stream"),
    );
    h.insert(
        HeaderName::from_static("mcp-protocol-version"),
        HeaderValue::from_static("2025-06-18"),
    );
    if let Some(s) = session {
        h.insert(HeaderName::from_static("mcp-session-id"), s.clone());
    }
    if let Some(a) = authorization {
        h.insert(hyper::header::AUTHORIZATION, a.clone());
    }
    req
}

async fn call(router: &mut Router, req: Request<Body>) -> (StatusCode, hyper::HeaderMap, Bytes) {
    let resp = match router.call(req).await {
        Ok(r) => r,
        Err(e) => match e {},
    };
    let (parts, body) = resp.into_parts();
    let body = body
        .collect()
        .await
        .map(|c| c.to_bytes())
        .unwrap_or_default();
    (parts.status, parts.headers, body)
}

/// ns per call: the median of `reps` timed batches of `n` calls.
async fn measure(
    router: &mut Router,
    body: &'static str,
    session: Option<&HeaderValue>,
    authorization: Option<&HeaderValue>,
    expected: &Bytes,
    n: u32,
    reps: usize,
) -> Result<f64, String> {
    let mut per_call = Vec::with_capacity(reps);
    for rep in 0..=reps {
        let t = Instant::now();
        for _ in 0..n {
            let (status, _, b) = call(router, request_as(body, session, authorization)).await;
            if status != StatusCode::OK || b != *expected {
                return Err(format!(
                    "unexpected answer {status}: {}",
                    String::from_utf8_lossy(&b)
                ));
            }
        }
        // The first batch warms caches and allocator; it is not counted.
        if rep > 0 {
            per_call.push(t.elapsed().as_nanos() as f64 / n as f64);
        }
    }
    per_call.sort_by(|a, b| a.total_cmp(b));
    Ok(per_call[per_call.len() / 2])
}

/// Measures and prints the in-process cost per call of each router.
pub async fn run(call_body: &'static str, expected: &Bytes) -> Result<(), String> {
    const N: u32 = 50_000;
    const REPS: usize = 5;
    let mut baseline = apps::baseline_router();
    let (mut stateless, _) = widgetry::transport::router(
        apps::echo_server(),
        widgetry::HttpConfig::default().stateless(true),
    );
    let (mut session, _) =
        widgetry::transport::router(apps::echo_server(), widgetry::HttpConfig::default());
    let init = r#"{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"widgetry-bench","version":"0.1.0"}}}"#;
    let (status, headers, body) = call(&mut session, request(init, None)).await;
    let sid = headers
        .get("mcp-session-id")
        .cloned()
        .ok_or_else(|| format!("initialize answered {status} without a session: {body:?}"))?;

    let (token, jwks, _) = crate::auth_apps::rs256_token_and_jwks();
    let mut protected = crate::auth_apps::protected_router(jwks);
    let bearer = HeaderValue::from_str(&format!("Bearer {token}")).map_err(|e| e.to_string())?;

    let b = measure(&mut baseline, call_body, None, None, expected, N, REPS).await?;
    let s = measure(&mut stateless, call_body, None, None, expected, N, REPS).await?;
    let w = measure(&mut session, call_body, Some(&sid), None, expected, N, REPS).await?;
    let p = measure(
        &mut protected,
        call_body,
        None,
        Some(&bearer),
        expected,
        N,
        REPS,
    )
    .await?;
    println!(
        "in-process cost of one tools/call through the router (no network; median of {REPS} x {N} calls):"
    );
    for (name, ns) in [
        (crate::BASELINE, b),
        (crate::STATELESS, s),
        (crate::SESSION, w),
        (crate::PROTECTED, p),
    ] {
        println!(
            "  {name:<20} {:>6.2} µs  (+{:.2} µs over the baseline)",
            ns / 1000.0,
            (ns - b) / 1000.0
        );
    }
    println!();
    Ok(())
}
