//! The operations surface of a served app ([`App::serve_with`]), against real servers on
//! 127.0.0.1 with real SQLite stores: `/healthz`, `/readyz`, `/metrics` (requests by
//! route, tool and status with latency histograms, auth refusals by reason, store
//! latency, open sessions) and its refusal to requests relayed by a trusted proxy.

mod common;

use std::sync::Arc;

use bytes::Bytes;
use http_body_util::Full;
use serde_json::json;
use widgetry::ops::Settings;
use widgetry::{App, Auth, AuthConfig, NoInput, Reply, Tool};

/// Serves a two-tool app (one public, one needing sign-in) with `vars` as its settings.
async fn serve(vars: &[(&str, String)]) -> (common::TestServer, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("app.db").display().to_string();
    let mut all = vec![("WIDGETRY_DATABASE_URL", db)];
    all.extend(vars.iter().cloned());
    let settings =
        Settings::from_vars(|k| all.iter().find(|(n, _)| *n == k).map(|(_, v)| v.clone())).unwrap();
    let stores = settings.open_stores().await.unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let auth = AuthConfig::new("http://127.0.0.1:9", format!("http://{addr}/mcp")).unwrap();
    let app = App::builder("ops-test", "1.0.0")
        .http(widgetry::HttpConfig::default().session_store(stores.sessions.clone()))
        .settings(&settings)
        .auth(auth)
        .tool(
            Tool::new("hello", |_ctx, _: NoInput| async {
                Ok(Reply::new(()).text("hi"))
            })
            .auth(Auth::none()),
        )
        .tool(Tool::new("secret", |_ctx, _: NoInput| async {
            Ok(Reply::new(()).text("s"))
        }))
        .build()
        .unwrap();
    let state = app.router().1;
    let kv = stores.kv.clone();
    tokio::spawn(async move { app.serve_with(listener, &settings, Some(kv)).await });
    let server = common::TestServer {
        addr,
        client: hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
            .build_http(),
        state,
    };
    (server, dir)
}

async fn get(s: &common::TestServer, path: &str) -> (u16, String) {
    let r = s
        .send(
            s.request("GET", path)
                .body(Full::new(Bytes::new()))
                .unwrap(),
        )
        .await;
    (r.status, r.text())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_readiness_and_metrics_report_what_happened() {
    let (s, _dir) = serve(&[]).await;
    assert_eq!(get(&s, "/healthz").await, (200, "ok\n".into()));
    assert_eq!(get(&s, "/readyz").await, (200, "ready\n".into()));

    let sid = s.initialize().await;
    let call = |name: &str| json!({"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":name,"arguments":{}}});
    assert_eq!(s.post(Some(&sid), call("hello")).await.status, 200);
    assert_eq!(s.post(Some(&sid), call("hello")).await.status, 200);
    // An anonymous call of the protected tool: refused with a challenge (no token).
    let refused = s.post(Some(&sid), call("secret")).await;
    let bad_token = s
        .send(
            s.request("POST", "/mcp")
                .header("authorization", "Bearer not-a-jwt")
                .body(Full::new(Bytes::from(call("hello").to_string())))
                .unwrap(),
        )
        .await;
    assert_eq!(bad_token.status, 401, "{}", bad_token.text());

    let (status, text) = get(&s, "/metrics").await;
    assert_eq!(status, 200, "{text}");
    let mut wanted = vec![
        r#"widgetry_http_requests_total{route="/mcp",tool="hello",status="200"} 2"#.to_string(),
        r#"widgetry_http_requests_total{route="/readyz",tool="",status="200"}"#.into(),
        r#"widgetry_http_request_duration_seconds_count{route="/mcp",tool="hello",status="200"} 2"#
            .into(),
        r#"widgetry_auth_refusals_total{reason="invalid_token"}"#.into(),
        r#"widgetry_token_cache_total{result="miss"}"#.into(),
        r#"widgetry_store_operation_duration_seconds_count{store="sessions",op="put"}"#.into(),
        "widgetry_sessions_open ".into(),
    ];
    if refused.status == 401 {
        wanted.push(r#"widgetry_auth_refusals_total{reason="no_token"}"#.into());
    }
    for needle in wanted {
        assert!(text.contains(&needle), "no {needle:?} in\n{text}");
    }
    let _ = Arc::clone(&s.state);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_are_not_served_through_a_trusted_proxy_or_to_strangers() {
    // Loopback is the proxy here: everything reaching the app is relayed.
    let (s, _dir) = serve(&[("WIDGETRY_TRUSTED_PROXIES", "127.0.0.1".into())]).await;
    assert_eq!(get(&s, "/metrics").await.0, 404);
    assert_eq!(get(&s, "/healthz").await.0, 200);
    // Direct, but not in the allow list.
    let (s, _dir) = serve(&[("WIDGETRY_METRICS_ALLOW", "10.0.0.0/8".into())]).await;
    assert_eq!(get(&s, "/metrics").await.0, 404);
}

/// Reads a legacy SSE stream until its `endpoint` event; returns the `/messages` path.
async fn legacy_endpoint(body: &mut hyper::body::Incoming) -> String {
    use http_body_util::BodyExt;
    let mut seen = String::new();
    let read = async {
        while let Some(frame) = body.frame().await {
            if let Ok(data) = frame.unwrap().into_data() {
                seen.push_str(&String::from_utf8_lossy(&data));
            }
            if let Some(line) = seen.lines().find(|l| l.starts_with("data: /messages")) {
                return line["data: ".len()..].trim().to_string();
            }
        }
        panic!("the stream ended before its endpoint event: {seen:?}");
    };
    tokio::time::timeout(std::time::Duration::from_secs(5), read)
        .await
        .expect("no endpoint event within 5 s")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn legacy_messages_are_labelled_with_known_tool_names_only() {
    let (s, _dir) = serve(&[]).await;
    let resp = s
        .stream(
            s.request("GET", "/sse")
                .header("accept", "text/event-stream")
                .body(Full::new(Bytes::new()))
                .unwrap(),
        )
        .await;
    assert_eq!(resp.status(), 200);
    let mut body = resp.into_body();
    let endpoint = legacy_endpoint(&mut body).await;
    let post = |msg: serde_json::Value| {
        s.send(
            s.request("POST", &endpoint)
                .header("content-type", "application/json")
                .body(Full::new(Bytes::from(msg.to_string())))
                .unwrap(),
        )
    };
    let init = json!({"jsonrpc":"2.0","id":1,"method":"initialize","params":{
        "protocolVersion":"2024-11-05","capabilities":{},"clientInfo":{"name":"t","version":"1"}}});
    assert_eq!(post(init).await.status, 202);
    let call = |id: u32, name: &str| json!({"jsonrpc":"2.0","id":id,"method":"tools/call","params":{"name":name,"arguments":{}}});
    for id in 2..5 {
        assert_eq!(post(call(id, "hello")).await.status, 202);
    }
    // A name the server does not know must not become a label value (a client could
    // otherwise grow the metrics without bound).
    let unknown = post(call(9, "label-flood-7f3a")).await;
    assert!(unknown.status < 500, "{}", unknown.status);

    let (_, text) = get(&s, "/metrics").await;
    let needle = r#"widgetry_http_requests_total{route="/messages",tool="hello",status="202"} 3"#;
    assert!(text.contains(needle), "no {needle:?} in\n{text}");
    assert!(!text.contains("label-flood-7f3a"), "{text}");
    drop(body);
}
