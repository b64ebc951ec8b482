//! MCP extensions (SEP-2133) end to end: what a server advertises with
//! `ServerBuilder::extension` appears in `capabilities.extensions` of the `initialize`
//! result and of `server/discover`; what a client declares reaches a tool through
//! `RequestContext::client_extension`, from `initialize` on a Streamable HTTP session and
//! on stdio, and from each request's own `_meta` client capabilities on 2026-07-28 —
//! never from another request or another session.

mod common;

use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use serde_json::{json, Value};
use widgetry::protocol::types::{CallToolResult, ToolDescriptor};
use widgetry::HttpConfig;
use widgetry::{Server, ToolError};

use common::TestServer;

const UI: &str = "io.modelcontextprotocol/ui";

/// Extension identifiers and settings of several shapes (nested, empty, arrays).
fn declared() -> Vec<(String, Value)> {
    vec![
        (
            UI.into(),
            json!({"mimeTypes": ["text/html;profile=mcp-app"]}),
        ),
        ("com.example/empty".into(), json!({})),
        (
            "org.example.sub-domain/x_y.z-2".into(),
            json!({"nested": {"a": [1, 2, {"b": null}]}, "flag": true}),
        ),
    ]
}

/// A server advertising the declared extensions, with a tool answering what the
/// client declared for the extension named in its arguments (`null` when undeclared).
fn app() -> Server {
    let mut b = Server::builder("ext", "1.0.0");
    for (name, settings) in declared() {
        b = b.extension(name, settings);
    }
    b.tool(ToolDescriptor::new("client_ext"), |ctx, args| async move {
        let name = args.get("name").and_then(Value::as_str).unwrap_or_default();
        let got = ctx.client_extension(name).cloned().unwrap_or(Value::Null);
        Ok::<_, ToolError>(CallToolResult::text(got.to_string()))
    })
    .build()
}

fn asked(name: &str, id: i64, meta: Option<Value>) -> Value {
    let mut params = json!({"name": "client_ext", "arguments": {"name": name}});
    if let Some(m) = meta {
        params["_meta"] = m;
    }
    json!({"jsonrpc": "2.0", "id": id, "method": "tools/call", "params": params})
}

fn answer(v: &Value) -> Value {
    let text = v["result"]["content"][0]["text"]
        .as_str()
        .unwrap_or_else(|| panic!("no text result: {v}"));
    serde_json::from_str(text).unwrap()
}

fn extensions_object() -> Value {
    Value::Object(declared().into_iter().collect())
}

#[tokio::test]
async fn advertised_extensions_appear_in_initialize_and_discover_capabilities() {
    let s = TestServer::start(app(), HttpConfig::default()).await;
    let init = s
        .post(
            None,
            json!({"jsonrpc":"2.0","id":1,"method":"initialize","params":{
                "protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"t","version":"1"}}}),
        )
        .await;
    assert_eq!(init.status, 200, "{}", init.text());
    assert_eq!(
        init.json()["result"]["capabilities"]["extensions"],
        extensions_object()
    );
    let d = s
        .send(
            s.request("POST", "/mcp")
                .header("mcp-protocol-version", "2026-07-28")
                .header("mcp-method", "server/discover")
                .body(Full::new(Bytes::from(
                    json!({"jsonrpc":"2.0","id":2,"method":"server/discover","params":{"_meta":{
                        "io.modelcontextprotocol/protocolVersion":"2026-07-28",
                        "io.modelcontextprotocol/clientCapabilities":{}}}})
                    .to_string(),
                )))
                .unwrap(),
        )
        .await;
    assert_eq!(d.status, 200, "{}", d.text());
    assert_eq!(
        d.json()["result"]["capabilities"]["extensions"],
        extensions_object()
    );
}

#[tokio::test]
async fn a_server_without_extensions_advertises_no_extensions_key() {
    let server = Server::builder("plain", "1").build();
    assert!(server.capabilities().get("extensions").is_none());
}

#[tokio::test]
async fn a_session_client_extension_comes_from_its_initialize_only() {
    let s = TestServer::start(app(), HttpConfig::default()).await;
    let mut sessions = Vec::new();
    // Each session declares a different subset; none may see another's.
    for (i, (name, settings)) in declared().into_iter().enumerate() {
        let init = s
            .post(
                None,
                json!({"jsonrpc":"2.0","id":0,"method":"initialize","params":{
                    "protocolVersion":"2025-06-18",
                    "capabilities":{"extensions":{name.clone(): settings.clone()}},
                    "clientInfo":{"name":format!("c{i}"),"version":"1"}}}),
            )
            .await;
        assert_eq!(init.status, 200, "{}", init.text());
        sessions.push((init.header("mcp-session-id").unwrap().to_string(), name));
    }
    for (sid, own) in &sessions {
        for (name, settings) in declared() {
            // A request `_meta` claiming capabilities does not count on a session
            // version: capabilities were fixed at initialize.
            let meta = json!({"io.modelcontextprotocol/clientCapabilities":
                {"extensions": {name.clone(): {"forged": true}}}});
            let r = s.post(Some(sid), asked(&name, 1, Some(meta))).await;
            assert_eq!(r.status, 200, "{}", r.text());
            let expected = if &name == own { settings } else { Value::Null };
            assert_eq!(answer(&r.json()), expected, "session {sid} asked {name}");
        }
    }
}

#[tokio::test]
async fn a_2026_request_client_extension_comes_from_its_own_meta() {
    let s = TestServer::start(app(), HttpConfig::default()).await;
    for (i, (name, settings)) in declared().into_iter().enumerate() {
        for declare in [true, false] {
            let caps = if declare {
                json!({"extensions": {name.clone(): settings.clone()}})
            } else {
                json!({})
            };
            let meta = json!({
                "io.modelcontextprotocol/protocolVersion": "2026-07-28",
                "io.modelcontextprotocol/clientInfo": {"name": "t", "version": "1"},
                "io.modelcontextprotocol/clientCapabilities": caps,
            });
            let r = s
                .send(
                    s.request("POST", "/mcp")
                        .header("mcp-protocol-version", "2026-07-28")
                        .header("mcp-method", "tools/call")
                        .header("mcp-name", "client_ext")
                        .body(Full::new(Bytes::from(
                            asked(&name, i as i64, Some(meta)).to_string(),
                        )))
                        .unwrap(),
                )
                .await;
            assert_eq!(r.status, 200, "{}", r.text());
            let expected = if declare {
                settings.clone()
            } else {
                Value::Null
            };
            assert_eq!(answer(&r.json()), expected, "{name} declared={declare}");
        }
    }
}

#[tokio::test]
async fn a_stdio_client_extension_comes_from_its_initialize() {
    use tokio::io::{AsyncBufReadExt, AsyncWriteExt};
    let (client, server_io) = tokio::io::duplex(64 * 1024);
    let (sr, sw) = tokio::io::split(server_io);
    let task = tokio::spawn(widgetry::transport::serve_io(app(), sr, sw));
    let (cr, mut cw) = tokio::io::split(client);
    let init = json!({"jsonrpc":"2.0","id":0,"method":"initialize","params":{
        "protocolVersion":"2025-06-18","capabilities":{"extensions": extensions_object()}}});
    // A second initialize must not replace what the first declared.
    let again = json!({"jsonrpc":"2.0","id":1,"method":"initialize","params":{
        "protocolVersion":"2025-06-18","capabilities":{"extensions": {UI: {"other": 1}}}}});
    for m in [
        init,
        again,
        asked(UI, 2, None),
        asked("com.example/none", 3, None),
    ] {
        cw.write_all(format!("{m}\n").as_bytes()).await.unwrap();
    }
    let mut lines = tokio::io::BufReader::new(cr).lines();
    let mut got = Vec::new();
    while got.len() < 4 {
        let line = tokio::time::timeout(Duration::from_secs(5), lines.next_line())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        got.push(serde_json::from_str::<Value>(&line).unwrap());
    }
    let by_id = |id: i64| got.iter().find(|v| v["id"] == id).cloned().unwrap();
    assert_eq!(
        by_id(0)["result"]["capabilities"]["extensions"],
        extensions_object()
    );
    assert_eq!(answer(&by_id(2)), declared()[0].1);
    assert_eq!(answer(&by_id(3)), Value::Null);
    drop(cw);
    drop(lines);
    let _ = tokio::time::timeout(Duration::from_secs(5), task).await;
}

#[test]
fn extension_identifiers_follow_sep_2133() {
    use widgetry::protocol::is_extension_id;
    for ok in [
        "io.modelcontextprotocol/ui",
        "com.example/websocket-transport",
        "a/b",
        "a1.b-2/c_d.e",
    ] {
        assert!(is_extension_id(ok), "{ok}");
    }
    for bad in [
        "",
        "ui",
        "/ui",
        "com.example/",
        "com..example/x",
        "1com/x",
        "com-/x",
        "com/-x",
        "com/x-",
        "com/x y",
        "com/x/y",
        "-com/x",
        "com.ex_ample/x",
    ] {
        assert!(!is_extension_id(bad), "{bad}");
    }
}

#[test]
fn bad_extension_declarations_are_caught_at_start_up() {
    let attempts: [fn(); 3] = [
        || {
            let _ = Server::builder("s", "1").extension("ui", json!({}));
        },
        || {
            let _ = Server::builder("s", "1").extension(UI, json!([1]));
        },
        || {
            let _ = Server::builder("s", "1")
                .extension(UI, json!({}))
                .extension(UI, json!({}));
        },
    ];
    for (i, f) in attempts.into_iter().enumerate() {
        assert!(std::panic::catch_unwind(f).is_err(), "attempt {i} passed");
    }
}
