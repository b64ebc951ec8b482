//! Text-only tools for clients without the MCP Apps extension, end to end over HTTP on
//! loopback: a client that declares `extensions["io.modelcontextprotocol/ui"]` (at
//! `initialize`, or on 2026-07-28 in each request's `_meta`) gets the tools with their
//! UI `_meta` and the app-only tools; any other client gets the tools without UI
//! metadata, no app-only tool, and a refusal when it calls one. ChatGPT (by client name
//! or `openai/*` request `_meta`) gets the UI form without declaring;
//! `UiClients::All` gives it to everyone. On stdio (a connection-bound session) the
//! connection's `initialize` decides the same way.

mod common;

use bytes::Bytes;
use http_body_util::Full;
use serde_json::{json, Value};
use widgetry::app::{App, NoInput, Tool, Visibility};
use widgetry::{HttpConfig, RequestContext, ToolError};
use widgetry::{ServerConfig, UiClients};

use common::TestServer;

const WIDGET: &str = "<!doctype html><html><body><div id=root></div></body></html>";

#[derive(serde::Serialize, schemars::JsonSchema)]
struct Out {
    ok: bool,
}

async fn ok(_ctx: RequestContext, _: NoInput) -> Result<Out, ToolError> {
    Ok(Out { ok: true })
}

/// An app with a widget tool, an app-only tool and a plain tool.
fn app(clients: UiClients, page_size: usize) -> App {
    App::builder("ui", "1.0.0")
        .widget_html("card", WIDGET)
        .tool(
            Tool::new("show", ok)
                .widget("card")
                .invoking("Showing…")
                .read_only(),
        )
        .tool(Tool::new("details", ok).visibility(Visibility::App))
        .tool(Tool::new("plain", ok))
        .extend(move |sb| {
            sb.config(ServerConfig {
                page_size,
                ..Default::default()
            })
        })
        .ui_clients(clients)
        .build()
        .unwrap()
}

async fn start(clients: UiClients, page_size: usize) -> TestServer {
    TestServer::start(
        app(clients, page_size).server().clone(),
        HttpConfig::default(),
    )
    .await
}

fn ui_caps() -> Value {
    json!({"extensions": {"io.modelcontextprotocol/ui": {"mimeTypes": ["text/html;profile=mcp-app"]}}})
}

fn rpc(id: i64, method: &str, params: Value) -> Value {
    json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params})
}

/// Every tool of every page, following `nextCursor`.
async fn list(s: &TestServer, sid: &str, meta: Option<Value>) -> Vec<Value> {
    let mut out = Vec::new();
    let mut cursor: Option<String> = None;
    for id in 1..20 {
        let mut params = json!({});
        if let Some(c) = &cursor {
            params["cursor"] = json!(c);
        }
        if let Some(m) = &meta {
            params["_meta"] = m.clone();
        }
        let r = s
            .post(Some(sid), rpc(id, "tools/list", params))
            .await
            .json();
        out.extend(r["result"]["tools"].as_array().unwrap().iter().cloned());
        match r["result"]["nextCursor"].as_str() {
            Some(c) => cursor = Some(c.to_string()),
            None => return out,
        }
    }
    panic!("tools/list never ended");
}

fn names(tools: &[Value]) -> Vec<&str> {
    tools.iter().map(|t| t["name"].as_str().unwrap()).collect()
}

fn tool<'a>(tools: &'a [Value], name: &str) -> &'a Value {
    tools.iter().find(|t| t["name"] == name).unwrap()
}

/// The `_meta` keys of a listed tool that are UI metadata.
fn ui_keys(t: &Value) -> Vec<String> {
    t["_meta"]
        .as_object()
        .map(|m| {
            m.keys()
                .filter(|k| *k == "ui" || k.starts_with("ui/") || k.starts_with("openai/"))
                .cloned()
                .collect()
        })
        .unwrap_or_default()
}

async fn call(s: &TestServer, sid: &str, name: &str, meta: Option<Value>) -> Value {
    let mut params = json!({"name": name, "arguments": {}});
    if let Some(m) = meta {
        params["_meta"] = m;
    }
    s.post(Some(sid), rpc(50, "tools/call", params))
        .await
        .json()
}

fn assert_full(tools: &[Value]) {
    assert_eq!(names(tools), ["show", "details", "plain"]);
    let show = tool(tools, "show");
    let uri = show["_meta"]["ui"]["resourceUri"].as_str().unwrap();
    assert!(uri.starts_with("ui://widget/card-"), "{show}");
    assert_eq!(show["_meta"]["openai/outputTemplate"], uri);
    assert_eq!(show["_meta"]["openai/toolInvocation/invoking"], "Showing…");
}

fn assert_text_only(tools: &[Value]) {
    assert_eq!(names(tools), ["show", "plain"]);
    for t in tools {
        assert!(ui_keys(t).is_empty(), "UI metadata left: {t}");
        assert_eq!(t["securitySchemes"][0]["type"], "noauth", "{t}");
        assert_eq!(t["_meta"]["securitySchemes"][0]["type"], "noauth", "{t}");
    }
    assert_eq!(tool(tools, "show")["annotations"]["readOnlyHint"], true);
}

fn assert_refused(r: &Value) {
    assert_eq!(r["error"]["code"], -32602, "{r}");
    let m = r["error"]["message"].as_str().unwrap();
    assert!(
        m.contains("\"details\"") && m.contains("io.modelcontextprotocol/ui"),
        "{m}"
    );
}

#[tokio::test]
async fn a_client_without_the_ui_extension_gets_text_only_tools_and_no_app_tools() {
    let s = start(UiClients::Declared, 100).await;
    let sid = s.initialize_as("python-sdk", json!({"sampling": {}})).await;
    assert_text_only(&list(&s, &sid, None).await);
    assert_refused(&call(&s, &sid, "details", None).await);
    let shown = call(&s, &sid, "show", None).await;
    assert_eq!(
        shown["result"]["structuredContent"],
        json!({"ok": true}),
        "{shown}"
    );
}

#[tokio::test]
async fn a_client_declaring_the_ui_extension_gets_widgets_and_app_tools() {
    let s = start(UiClients::Declared, 100).await;
    let sid = s.initialize_as("some-host", ui_caps()).await;
    assert_full(&list(&s, &sid, None).await);
    let r = call(&s, &sid, "details", None).await;
    assert_eq!(r["result"]["structuredContent"], json!({"ok": true}), "{r}");
}

#[tokio::test]
async fn declarations_that_do_not_name_our_mime_type_count_as_none() {
    let s = start(UiClients::Declared, 100).await;
    for caps in [
        json!({"extensions": {"io.modelcontextprotocol/ui": {"mimeTypes": ["text/uri-list"]}}}),
        json!({"extensions": {"io.modelcontextprotocol/ui": true}}),
        json!({"experimental": {"io.modelcontextprotocol/ui": {"mimeTypes": ["text/uri-list"]}}}),
        json!({"extensions": {"io.modelcontextprotocol/ui-other": {}}}),
    ] {
        let sid = s.initialize_as("host", caps.clone()).await;
        assert_text_only(&list(&s, &sid, None).await);
        assert_refused(&call(&s, &sid, "details", None).await);
    }
    // An empty declaration names no type: it is taken as the extension's default, under
    // `extensions` or (SDKs without that field) `experimental`.
    for key in ["extensions", "experimental"] {
        let sid = s
            .initialize_as("host", json!({key: {"io.modelcontextprotocol/ui": {}}}))
            .await;
        assert_full(&list(&s, &sid, None).await);
    }
}

#[tokio::test]
async fn chatgpt_gets_widgets_without_declaring_by_name_or_by_request_meta() {
    let s = start(UiClients::Declared, 100).await;
    let sid = s.initialize_as("openai-mcp", json!({})).await;
    assert_full(&list(&s, &sid, None).await);
    assert!(call(&s, &sid, "details", None).await["result"].is_object());

    let other = s.initialize_as("client", json!({})).await;
    let hints = json!({"openai/locale": "en-US", "openai/userAgent": "ChatGPT"});
    assert_full(&list(&s, &other, Some(hints.clone())).await);
    assert!(call(&s, &other, "details", Some(hints)).await["result"].is_object());
    // The hint is per request: without it the same session is text-only.
    assert_text_only(&list(&s, &other, None).await);
}

#[tokio::test]
async fn each_session_sees_what_its_own_client_declared_in_parallel() {
    let s = start(UiClients::Declared, 100).await;
    let ui = s.initialize_as("host", ui_caps()).await;
    let text = s.initialize_as("cli", json!({})).await;
    let (a, b, c, d) = tokio::join!(
        list(&s, &ui, None),
        list(&s, &text, None),
        list(&s, &ui, None),
        list(&s, &text, None),
    );
    assert_full(&a);
    assert_text_only(&b);
    assert_full(&c);
    assert_text_only(&d);
}

#[tokio::test]
async fn text_only_pages_have_their_own_cursors() {
    let s = start(UiClients::Declared, 1).await;
    let ui = s.initialize_as("host", ui_caps()).await;
    let text = s.initialize_as("cli", json!({})).await;
    assert_full(&list(&s, &ui, None).await);
    assert_text_only(&list(&s, &text, None).await);
    // The third page exists only for UI clients.
    let r = s
        .post(
            Some(&text),
            rpc(9, "tools/list", json!({"cursor": "page-2"})),
        )
        .await
        .json();
    assert_eq!(r["error"]["code"], -32602, "{r}");
    let r = s
        .post(Some(&ui), rpc(9, "tools/list", json!({"cursor": "page-2"})))
        .await
        .json();
    assert_eq!(r["result"]["tools"][0]["name"], "plain", "{r}");
}

#[tokio::test]
async fn the_all_setting_gives_every_client_the_ui_form() {
    let s = start(UiClients::All, 100).await;
    let sid = s.initialize_as("python-sdk", json!({})).await;
    assert_full(&list(&s, &sid, None).await);
    assert!(call(&s, &sid, "details", None).await["result"].is_object());
}

/// A 2026-07-28 request (no session) with `caps` as its client capabilities.
async fn stateless(s: &TestServer, method: &str, params: Value, caps: Value) -> Value {
    let mut params = params;
    params["_meta"] = json!({
        "io.modelcontextprotocol/protocolVersion": "2026-07-28",
        "io.modelcontextprotocol/clientCapabilities": caps,
        "io.modelcontextprotocol/clientInfo": {"name": "stateless-client", "version": "1"},
    });
    let mut b = s
        .request("POST", "/mcp")
        .header("mcp-protocol-version", "2026-07-28")
        .header("mcp-method", method);
    if let Some(n) = params.get("name").and_then(Value::as_str) {
        b = b.header("mcp-name", n);
    }
    let body = rpc(7, method, params).to_string();
    let r = s.send(b.body(Full::new(Bytes::from(body))).unwrap()).await;
    r.json()
}

#[tokio::test]
async fn stateless_requests_are_judged_by_their_own_client_capabilities() {
    let s = start(UiClients::Declared, 100).await;
    let full = stateless(&s, "tools/list", json!({}), ui_caps()).await;
    assert_eq!(full["result"]["resultType"], "complete", "{full}");
    assert_full(full["result"]["tools"].as_array().unwrap());
    let plain = stateless(&s, "tools/list", json!({}), json!({})).await;
    assert_text_only(plain["result"]["tools"].as_array().unwrap());

    let args = json!({"name": "details", "arguments": {}});
    assert_refused(&stateless(&s, "tools/call", args.clone(), json!({})).await);
    let r = stateless(&s, "tools/call", args, ui_caps()).await;
    assert_eq!(r["result"]["structuredContent"], json!({"ok": true}), "{r}");

    // The UI extension is advertised in server/discover.
    let d = s.discover_2026().await.json();
    assert_eq!(
        d["result"]["capabilities"]["extensions"]["io.modelcontextprotocol/ui"]["mimeTypes"],
        json!(["text/html;profile=mcp-app"])
    );
}

/// One stdio connection: `initialize` as `name` with `caps`, then `tools/list` and a call
/// of the app-only tool; the two answers.
async fn over_stdio(name: &str, caps: Value) -> (Value, Value) {
    use tokio::io::{AsyncBufReadExt, AsyncWriteExt};
    let (client, server_io) = tokio::io::duplex(64 * 1024);
    let (sr, sw) = tokio::io::split(server_io);
    let server = app(UiClients::Declared, 100).server().clone();
    let task = tokio::spawn(widgetry::transport::serve_io(server, sr, sw));
    let (cr, mut cw) = tokio::io::split(client);
    let messages = [
        json!({"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {
            "protocolVersion": "2025-06-18", "capabilities": caps,
            "clientInfo": {"name": name, "version": "1"}}}),
        json!({"jsonrpc": "2.0", "method": "notifications/initialized"}),
        rpc(1, "tools/list", json!({})),
        rpc(2, "tools/call", json!({"name": "details", "arguments": {}})),
    ];
    for m in messages {
        cw.write_all(format!("{m}\n").as_bytes()).await.unwrap();
    }
    let mut lines = tokio::io::BufReader::new(cr).lines();
    let mut got = Vec::new();
    while got.len() < 3 {
        let line = tokio::time::timeout(std::time::Duration::from_secs(5), lines.next_line())
            .await
            .expect("stdio answer in time")
            .unwrap()
            .expect("a line");
        got.push(serde_json::from_str::<Value>(&line).unwrap());
    }
    task.abort();
    let by_id = |id: i64| got.iter().find(|v| v["id"] == id).cloned().unwrap();
    (by_id(1), by_id(2))
}

#[tokio::test]
async fn a_stdio_connection_is_judged_by_its_initialize() {
    let (list, call) = over_stdio("cli", json!({})).await;
    assert_text_only(list["result"]["tools"].as_array().unwrap());
    assert_refused(&call);
    let (list, call) = over_stdio("host", ui_caps()).await;
    assert_full(list["result"]["tools"].as_array().unwrap());
    assert!(call["result"].is_object(), "{call}");
    // Named like ChatGPT: the name given at initialize is kept with the connection.
    let (list, call) = over_stdio("openai-mcp", json!({})).await;
    assert_full(list["result"]["tools"].as_array().unwrap());
    assert!(call["result"].is_object(), "{call}");
}
