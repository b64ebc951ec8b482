//! Streamable HTTP, legacy SSE and stdio against a real server on 127.0.0.1.

mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use common::{read_events_until, Reply, TestServer};
#[cfg(feature = "legacy-sse")]
use http_body_util::BodyExt;
use http_body_util::Full;
use serde_json::{json, Value};
use widgetry::protocol::types::{CallToolResult, ToolDescriptor};
#[cfg(feature = "sqlite")]
use widgetry::store::SqliteSessionStore;
use widgetry::{HttpConfig, RequestContext, Server, ToolError};

struct Stopped(Arc<AtomicBool>);
impl Drop for Stopped {
    fn drop(&mut self) {
        self.0.store(true, Ordering::SeqCst);
    }
}

fn app(cancelled: Arc<AtomicBool>) -> Server {
    let mut b = Server::builder("test-app", "0.0.1")
        .tool(ToolDescriptor::new("echo"), |_ctx, args| async move {
            let text = args
                .get("text")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string();
            Ok::<_, ToolError>(CallToolResult::text(text))
        })
        .tool(ToolDescriptor::new("fail"), |_ctx, _| async move {
            Err::<CallToolResult, _>(ToolError::msg("it broke: disk on fire"))
        })
        .tool(
            ToolDescriptor::new("slow"),
            move |_ctx: RequestContext, _| {
                // The guard flips the flag when the handler stops running, finished or not.
                let guard = Stopped(cancelled.clone());
                async move {
                    let _guard = guard;
                    tokio::time::sleep(Duration::from_secs(5)).await;
                    Ok::<_, ToolError>(CallToolResult::text("finished"))
                }
            },
        )
        .tool(
            ToolDescriptor::new("talk"),
            |ctx: RequestContext, _| async move {
                ctx.progress(1.0, Some(2.0), Some("half way"));
                tokio::time::sleep(Duration::from_millis(300)).await;
                ctx.progress(2.0, Some(2.0), None);
                Ok::<_, ToolError>(CallToolResult::text("talked"))
            },
        )
        .tool(
            ToolDescriptor::new("ask"),
            |ctx: RequestContext, _| async move {
                let answer = ctx
                    .request_client(
                        "sampling/createMessage",
                        json!({"messages": [], "maxTokens": 5}),
                    )
                    .await
                    .map_err(|e| ToolError::msg(e.message))?;
                Ok::<_, ToolError>(CallToolResult::text(format!(
                    "client said {}",
                    answer["content"]["text"]
                )))
            },
        );
    for i in 0..5 {
        b = b.tool(ToolDescriptor::new(format!("extra_{i}")), |_, _| async {
            Ok::<_, ToolError>(CallToolResult::text("x"))
        });
    }
    b.config(widgetry::ServerConfig {
        page_size: 4,
        ..Default::default()
    })
    .build()
}

async fn start() -> TestServer {
    TestServer::start(app(Arc::default()), HttpConfig::default()).await
}

fn call(id: i64, name: &str, args: Value) -> Value {
    json!({"jsonrpc":"2.0","id":id,"method":"tools/call","params":{"name":name,"arguments":args}})
}

/// The `_meta` every 2026-07-28 request carries.
fn meta_2026() -> Value {
    json!({
        "io.modelcontextprotocol/protocolVersion": "2026-07-28",
        "io.modelcontextprotocol/clientCapabilities": {},
    })
}

/// `body` with the 2026-07-28 request `_meta` added to its params.
fn with_meta_2026(mut body: Value) -> Value {
    if body.get("params").is_none() {
        body["params"] = json!({});
    }
    body["params"]["_meta"] = meta_2026();
    body
}

#[tokio::test]
async fn initialize_negotiates_version_and_issues_a_random_session_id() {
    let s = start().await;
    let r = s
        .post(None, json!({"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-03-26","capabilities":{},"clientInfo":{"name":"x","version":"1"}}}))
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["result"]["protocolVersion"], "2025-03-26");
    let a = r.header("mcp-session-id").unwrap().to_string();
    assert!(a.len() >= 32 && a.bytes().all(|b| (0x21..=0x7e).contains(&b)));
    let r = s
        .post(None, json!({"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"1999-01-01","capabilities":{}}}))
        .await;
    assert_eq!(r.json()["result"]["protocolVersion"], "2025-11-25");
    assert_ne!(
        r.header("mcp-session-id").unwrap(),
        a,
        "every session gets its own id"
    );
}

#[tokio::test]
async fn tool_call_answers_json_and_handler_errors_become_is_error() {
    let s = start().await;
    let sid = s.initialize().await;
    let r = s
        .post(Some(&sid), call(2, "echo", json!({"text":"hi"})))
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-type"), Some("application/json"));
    assert_eq!(r.json()["result"]["content"][0]["text"], "hi");
    let r = s.post(Some(&sid), call(3, "fail", json!({}))).await;
    let v = r.json();
    assert_eq!(v["result"]["isError"], true);
    assert_eq!(v["result"]["content"][0]["text"], "it broke: disk on fire");
    let r = s.post(Some(&sid), call(4, "nope", json!({}))).await;
    assert_eq!(r.json()["error"]["code"], -32602);
}

#[tokio::test]
async fn missing_session_is_400_unknown_is_404_and_delete_ends_it() {
    let s = start().await;
    let r = s.post(None, call(1, "echo", json!({}))).await;
    assert_eq!(r.status, 400);
    assert!(r.json()["error"]["message"]
        .as_str()
        .unwrap()
        .contains("Mcp-Session-Id"));
    let r = s
        .post(Some("not-a-session"), call(1, "echo", json!({})))
        .await;
    assert_eq!(r.status, 404);
    let sid = s.initialize().await;
    let del = s
        .send(
            s.request("DELETE", "/mcp")
                .header("mcp-session-id", &sid)
                .body(Full::new(Bytes::new()))
                .unwrap(),
        )
        .await;
    assert_eq!(del.status, 204);
    let r = s.post(Some(&sid), call(1, "echo", json!({}))).await;
    assert_eq!(r.status, 404, "a deleted session is gone");
}

#[tokio::test]
async fn malformed_and_oversized_bodies_get_clear_errors_and_the_server_keeps_serving() {
    let s = TestServer::start(
        app(Arc::default()),
        HttpConfig::default().max_body_bytes(1024),
    )
    .await;
    let sid = s.initialize().await;
    for (body, code) in [
        ("{\"jsonrpc\":\"2.0\",\"id\":1,", -32700),
        ("[]", -32600),
        ("{\"jsonrpc\":\"2.0\",\"id\":{},\"method\":\"x\"}", -32600),
        ("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"no/such\"}", -32601),
        ("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/call\",\"params\":{\"arguments\":{}}}", -32602),
    ] {
        let r = s
            .send(s.request("POST", "/mcp").header("mcp-session-id", &sid).body(Full::new(Bytes::from(body))).unwrap())
            .await;
        assert_eq!(r.json()["error"]["code"], code, "{body} → {}", r.text());
        assert!(!r.json()["error"]["message"].as_str().unwrap().is_empty());
    }
    let big = format!(
        "{{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\",\"params\":{{\"pad\":\"{}\"}}}}",
        "x".repeat(4096)
    );
    let r = s
        .send(
            s.request("POST", "/mcp")
                .header("mcp-session-id", &sid)
                .body(Full::new(Bytes::from(big)))
                .unwrap(),
        )
        .await;
    assert_eq!(r.status, 413);
    assert!(r.text().contains("1024 bytes"), "{}", r.text());
    let r = s
        .post(Some(&sid), call(9, "echo", json!({"text":"still here"})))
        .await;
    assert_eq!(r.json()["result"]["content"][0]["text"], "still here");
}

#[tokio::test]
async fn dns_rebinding_and_foreign_origins_are_refused() {
    let s = start().await;
    let req = |host: &str, origin: Option<&str>| {
        let mut b = s.request("POST", "/mcp").header("host", host);
        if let Some(o) = origin {
            b = b.header("origin", o);
        }
        b.body(Full::new(Bytes::from(
            r#"{"jsonrpc":"2.0","id":1,"method":"ping"}"#,
        )))
        .unwrap()
    };
    assert_eq!(s.send(req("evil.example.com", None)).await.status, 403);
    assert_eq!(
        s.send(req(&s.addr.to_string(), Some("https://evil.example.com")))
            .await
            .status,
        403
    );
    let ok = s
        .send(req(&s.addr.to_string(), Some("http://localhost:5173")))
        .await;
    assert_ne!(ok.status, 403);
    let allowed = TestServer::start(
        app(Arc::default()),
        HttpConfig::default().allow_host("app.example.com"),
    )
    .await;
    let r = allowed
        .send(
            allowed
                .request("POST", "/mcp")
                .header("host", "app.example.com")
                .header("mcp-protocol-version", "2026-07-28")
                .header("mcp-method", "server/discover")
                .body(Full::new(Bytes::from(
                    json!({"jsonrpc":"2.0","id":1,"method":"server/discover","params":{"_meta": meta_2026()}})
                        .to_string(),
                )))
                .unwrap(),
        )
        .await;
    assert_eq!(r.status, 200);
}

#[tokio::test]
async fn unsupported_protocol_version_header_is_400() {
    let s = start().await;
    let sid = s.initialize().await;
    let r = s
        .send(
            s.request("POST", "/mcp")
                .header("mcp-session-id", &sid)
                .header("mcp-protocol-version", "1999-01-01")
                .body(Full::new(Bytes::from(
                    call(1, "echo", json!({})).to_string(),
                )))
                .unwrap(),
        )
        .await;
    assert_eq!(r.status, 400);
    assert!(r.text().contains("1999-01-01"));
}

#[tokio::test]
async fn progress_switches_the_answer_to_sse_with_event_ids() {
    let s = start().await;
    let sid = s.initialize().await;
    let body = json!({"jsonrpc":"2.0","id":5,"method":"tools/call","params":{"name":"talk","arguments":{},"_meta":{"progressToken":"tok"}}});
    let r = s.post(Some(&sid), body).await;
    assert_eq!(r.header("content-type"), Some("text/event-stream"));
    let events = r.sse_messages();
    assert_eq!(events.len(), 3, "{}", r.text());
    assert_eq!(events[0].1["method"], "notifications/progress");
    assert_eq!(events[0].1["params"]["progressToken"], "tok");
    assert_eq!(events[2].1["result"]["content"][0]["text"], "talked");
    assert!(
        events.iter().all(|(id, _)| id.is_some()),
        "every event has an id"
    );
}

#[tokio::test]
async fn interrupted_stream_resumes_with_last_event_id() {
    let s = start().await;
    let sid = s.initialize().await;
    let body = json!({"jsonrpc":"2.0","id":6,"method":"tools/call","params":{"name":"talk","arguments":{},"_meta":{"progressToken":1}}});
    let resp = s
        .stream(
            s.request("POST", "/mcp")
                .header("mcp-session-id", &sid)
                .header("mcp-protocol-version", "2025-06-18")
                .body(Full::new(Bytes::from(body.to_string())))
                .unwrap(),
        )
        .await;
    let mut incoming = resp.into_body();
    let mut buf = String::new();
    let events = read_events_until(&mut incoming, &mut buf, |v| {
        v["method"] == "notifications/progress"
    })
    .await;
    let last_id = events[0].0.clone().expect("event id");
    drop(incoming); // the connection drops mid-call
    let resumed = s
        .stream(
            s.request("GET", "/mcp")
                .header("accept", "text/event-stream")
                .header("mcp-session-id", &sid)
                .header("last-event-id", &last_id)
                .body(Full::new(Bytes::new()))
                .unwrap(),
        )
        .await;
    assert_eq!(resumed.status(), 200);
    let mut body = resumed.into_body();
    let mut buf = String::new();
    let events = read_events_until(&mut body, &mut buf, |v| v["id"] == 6).await;
    let result = events
        .iter()
        .find(|(_, v)| v["id"] == 6)
        .expect("the result arrives on the resumed stream");
    assert_eq!(result.1["result"]["content"][0]["text"], "talked");
    assert!(
        events
            .iter()
            .all(|(id, _)| id.as_deref() != Some(last_id.as_str())),
        "no replay of seen events"
    );
}

#[tokio::test]
async fn cancelled_notification_stops_the_running_handler() {
    let flag = Arc::new(AtomicBool::new(false));
    let s = TestServer::start(app(flag.clone()), HttpConfig::default()).await;
    let sid = s.initialize().await;
    let call_fut = s.post(Some(&sid), call(77, "slow", json!({})));
    let cancel = async {
        tokio::time::sleep(Duration::from_millis(200)).await;
        s.post(Some(&sid), json!({"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":77,"reason":"user"}}))
            .await
    };
    let started = std::time::Instant::now();
    let (r, c): (Reply, Reply) = tokio::join!(call_fut, cancel);
    assert_eq!(c.status, 202);
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "the call ended early"
    );
    assert_eq!(r.json()["error"]["code"], -32800);
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert!(
        flag.load(Ordering::SeqCst),
        "the handler was stopped, not left running"
    );
}

#[tokio::test]
async fn server_to_client_request_round_trips_over_the_response_stream() {
    let s = start().await;
    let sid = s.initialize().await;
    let resp = s
        .stream(
            s.request("POST", "/mcp")
                .header("mcp-session-id", &sid)
                .header("mcp-protocol-version", "2025-06-18")
                .body(Full::new(Bytes::from(
                    call(8, "ask", json!({})).to_string(),
                )))
                .unwrap(),
        )
        .await;
    let mut body = resp.into_body();
    let mut buf = String::new();
    let events = read_events_until(&mut body, &mut buf, |v| {
        v["method"] == "sampling/createMessage"
    })
    .await;
    let req = &events
        .iter()
        .find(|(_, v)| v["method"] == "sampling/createMessage")
        .unwrap()
        .1;
    let answer = json!({"jsonrpc":"2.0","id":req["id"],"result":{"role":"assistant","content":{"type":"text","text":"forty-two"},"model":"m"}});
    assert_eq!(s.post(Some(&sid), answer).await.status, 202);
    let events = read_events_until(&mut body, &mut buf, |v| v["id"] == 8).await;
    let result = &events.iter().find(|(_, v)| v["id"] == 8).unwrap().1;
    assert_eq!(
        result["result"]["content"][0]["text"],
        "client said \"forty-two\""
    );
}

#[tokio::test]
async fn tools_list_paginates_with_opaque_cursors() {
    let s = start().await;
    let sid = s.initialize().await;
    let mut names = Vec::new();
    let mut cursor: Option<String> = None;
    for page in 0..10 {
        let params = match &cursor {
            Some(c) => json!({"cursor": c}),
            None => json!({}),
        };
        let r = s
            .post(
                Some(&sid),
                json!({"jsonrpc":"2.0","id":page,"method":"tools/list","params":params}),
            )
            .await
            .json();
        for t in r["result"]["tools"].as_array().unwrap() {
            names.push(t["name"].as_str().unwrap().to_string());
        }
        cursor = r["result"]["nextCursor"].as_str().map(String::from);
        if cursor.is_none() {
            break;
        }
    }
    assert_eq!(names.len(), 10);
    assert_eq!(names[0], "echo");
    let bad = s
        .post(
            Some(&sid),
            json!({"jsonrpc":"2.0","id":1,"method":"tools/list","params":{"cursor":"page-99"}}),
        )
        .await;
    assert_eq!(bad.json()["error"]["code"], -32602);
}

#[tokio::test]
async fn stateless_2026_requests_need_no_session_and_check_routing_headers() {
    let s = start().await;
    let req = |method_header: &str, body: Value| {
        s.request("POST", "/mcp")
            .header("mcp-protocol-version", "2026-07-28")
            .header("mcp-method", method_header)
            .header("mcp-name", "echo")
            .body(Full::new(Bytes::from(with_meta_2026(body).to_string())))
            .unwrap()
    };
    let r = s
        .send(req(
            "tools/call",
            call(1, "echo", json!({"text":"no session"})),
        ))
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["result"]["resultType"], "complete");
    assert_eq!(r.json()["result"]["content"][0]["text"], "no session");
    let r = s.send(req("tools/list", call(2, "echo", json!({})))).await;
    assert_eq!(r.status, 400);
    let d = s
        .send(
            s.request("POST", "/mcp")
                .header("mcp-protocol-version", "2026-07-28")
                .header("mcp-method", "server/discover")
                .body(Full::new(Bytes::from(
                    with_meta_2026(json!({"jsonrpc":"2.0","id":3,"method":"server/discover"}))
                        .to_string(),
                )))
                .unwrap(),
        )
        .await
        .json();
    assert!(d["result"]["supportedVersions"]
        .as_array()
        .unwrap()
        .contains(&json!("2026-07-28")));
}

#[cfg(feature = "sqlite")]
#[tokio::test]
async fn a_second_instance_serves_a_session_created_by_the_first() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sessions.db");
    let cfg =
        || HttpConfig::default().session_store(Arc::new(SqliteSessionStore::open(&path).unwrap()));
    let a = TestServer::start(app(Arc::default()), cfg()).await;
    let b = TestServer::start(app(Arc::default()), cfg()).await;
    let sid = a.initialize().await;
    let r = b
        .post(Some(&sid), call(1, "echo", json!({"text":"from b"})))
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["result"]["content"][0]["text"], "from b");
    let del = b
        .send(
            b.request("DELETE", "/mcp")
                .header("mcp-session-id", &sid)
                .body(Full::new(Bytes::new()))
                .unwrap(),
        )
        .await;
    assert_eq!(del.status, 204);
    tokio::time::sleep(widgetry::transport::REVALIDATE_AFTER + Duration::from_millis(100)).await;
    assert_eq!(
        a.post(Some(&sid), call(2, "echo", json!({}))).await.status,
        404
    );
}

#[cfg(feature = "legacy-sse")]
#[tokio::test]
async fn legacy_sse_sends_endpoint_and_answers_on_the_stream() {
    let s = start().await;
    let resp = s
        .stream(
            http::Request::get(s.url("/sse"))
                .header("accept", "text/event-stream")
                .body(Full::new(Bytes::new()))
                .unwrap(),
        )
        .await;
    assert_eq!(resp.status(), 200);
    let mut body = resp.into_body();
    let mut buf = String::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while !buf.contains("\n\n") {
        let f = tokio::time::timeout_at(deadline, body.frame())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        buf.push_str(&String::from_utf8_lossy(f.data_ref().unwrap()));
    }
    assert!(
        buf.starts_with("event: endpoint\ndata: /messages?sessionId="),
        "{buf}"
    );
    let endpoint = buf
        .lines()
        .nth(1)
        .unwrap()
        .trim_start_matches("data: ")
        .to_string();
    buf.clear();
    let post = |v: Value| {
        s.send(
            s.request("POST", &endpoint)
                .body(Full::new(Bytes::from(v.to_string())))
                .unwrap(),
        )
    };
    let r = post(json!({"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2024-11-05","capabilities":{}}})).await;
    assert_eq!(r.status, 202);
    let ev = read_events_until(&mut body, &mut buf, |v| v["id"] == 1).await;
    assert_eq!(
        ev.last().unwrap().1["result"]["protocolVersion"],
        "2024-11-05"
    );
    assert_eq!(
        post(call(2, "echo", json!({"text":"legacy"}))).await.status,
        202
    );
    let ev = read_events_until(&mut body, &mut buf, |v| v["id"] == 2).await;
    assert_eq!(
        ev.iter().find(|(_, v)| v["id"] == 2).unwrap().1["result"]["content"][0]["text"],
        "legacy"
    );
    let r = s
        .send(
            s.request("POST", "/messages?sessionId=unknown")
                .body(Full::new(Bytes::from("{}")))
                .unwrap(),
        )
        .await;
    assert_eq!(r.status, 404);
}

#[tokio::test]
async fn stdio_answers_line_delimited_messages() {
    let (client, server_io) = tokio::io::duplex(64 * 1024);
    let (sr, sw) = tokio::io::split(server_io);
    let task = tokio::spawn(widgetry::transport::serve_io(app(Arc::default()), sr, sw));
    let (cr, mut cw) = tokio::io::split(client);
    use tokio::io::{AsyncBufReadExt, AsyncWriteExt};
    cw.write_all(b"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"initialize\",\"params\":{\"protocolVersion\":\"2025-06-18\",\"capabilities\":{}}}\n").await.unwrap();
    cw.write_all(b"not json\n").await.unwrap();
    cw.write_all(format!("{}\n", call(2, "echo", json!({"text":"over stdio"}))).as_bytes())
        .await
        .unwrap();
    let mut lines = tokio::io::BufReader::new(cr).lines();
    let mut got = Vec::new();
    while got.len() < 3 {
        let line = tokio::time::timeout(Duration::from_secs(5), lines.next_line())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        got.push(serde_json::from_str::<Value>(&line).unwrap());
    }
    let by_id = |id: Value| got.iter().find(|v| v["id"] == id).cloned().unwrap();
    assert_eq!(by_id(json!(1))["result"]["protocolVersion"], "2025-06-18");
    assert_eq!(
        by_id(json!(2))["result"]["content"][0]["text"],
        "over stdio"
    );
    assert_eq!(by_id(Value::Null)["error"]["code"], -32700);
    drop(cw);
    drop(lines);
    let _ = tokio::time::timeout(Duration::from_secs(5), task).await;
}
