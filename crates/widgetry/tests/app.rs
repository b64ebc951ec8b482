//! The app layer over real HTTP: typed tools, widget resources for both host styles, the
//! debugging listing.

mod common;

use bytes::Bytes;
use common::TestServer;
use http_body_util::Full;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use widgetry::app::{App, AppError, NoInput, Reply, Tool, Visibility, Widget};
use widgetry::{RequestContext, ToolError};

#[derive(Deserialize, JsonSchema)]
struct Order {
    /// Items to order.
    items: Vec<Line>,
    note: Option<String>,
}

#[derive(Deserialize, JsonSchema)]
struct Line {
    sku: String,
    qty: u32,
}

#[derive(Serialize, JsonSchema)]
struct Receipt {
    total_qty: u32,
    note: String,
}

async fn place(ctx: RequestContext, o: Order) -> Result<Reply<Receipt>, ToolError> {
    if o.items.iter().any(|l| l.sku == "broken") {
        return Err(ToolError::msg("sku broken is out of stock"));
    }
    let total_qty = o.items.iter().map(|l| l.qty).sum();
    Ok(Reply::new(Receipt {
        total_qty,
        note: o.note.unwrap_or_default(),
    })
    .text(format!("ordered {total_qty}"))
    .meta("private/locale", json!(ctx.locale())))
}

async fn ping(_: RequestContext, _: NoInput) -> Result<Reply<()>, ToolError> {
    Ok(Reply::new(()).text("pong"))
}

fn widget_dir(body: &str) -> tempfile::TempDir {
    let d = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(d.path().join("cart")).unwrap();
    std::fs::write(
        d.path().join("cart/app.js"),
        "document.body.dataset.ready = '1';",
    )
    .unwrap();
    std::fs::write(
        d.path().join("cart/index.html"),
        format!("<!doctype html><html><head><title>cart</title></head><body>{body}<script src=\"app.js\"></script></body></html>"),
    )
    .unwrap();
    d
}

fn build(dir: &std::path::Path) -> Result<App, AppError> {
    App::builder("shop", "1.0.0")
        .widgets_dir(dir)
        .widget(
            Widget::new("cart")
                .description("The cart")
                .prefers_border(true)
                .connect_domain("https://api.shop.example")
                .domain("https://shop.example"),
        )
        .tool(
            Tool::new("place_order", place)
                .title("Place order")
                .description("Orders items")
                .destructive()
                .invoking("Placing your order…")
                .invoked("Order placed")
                .widget("cart"),
        )
        .tool(
            Tool::new("ping", ping)
                .visibility(Visibility::App)
                .read_only(),
        )
        .build()
}

async fn start(dir: &std::path::Path) -> (TestServer, String, App) {
    let app = build(dir).unwrap();
    let (router, state) = app.router();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let _ = axum::serve(listener, router).await;
    });
    let s = TestServer {
        addr,
        client: hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
            .build_http(),
        state,
    };
    let sid = s.initialize().await;
    (s, sid, app)
}

fn rpc(id: i64, method: &str, params: Value) -> Value {
    json!({"jsonrpc":"2.0","id":id,"method":method,"params":params})
}

#[tokio::test]
async fn tools_list_carries_schemas_annotations_and_both_hosts_meta() {
    let dir = widget_dir("v1");
    let (s, sid, app) = start(dir.path()).await;
    let tools = s
        .post(Some(&sid), rpc(1, "tools/list", json!({})))
        .await
        .json();
    let t = tools["result"]["tools"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == "place_order")
        .unwrap()
        .clone();
    assert_eq!(t["inputSchema"]["type"], "object");
    assert!(t["inputSchema"]["required"]
        .as_array()
        .unwrap()
        .contains(&json!("items")));
    assert_eq!(
        t["outputSchema"]["properties"]["total_qty"]["type"],
        "integer"
    );
    assert_eq!(t["annotations"]["destructiveHint"], true);
    let uri = app.widget_uris()[0].1.clone();
    assert!(uri.starts_with("ui://widget/cart-") && uri.ends_with(".html"));
    assert_eq!(t["_meta"]["ui"]["resourceUri"], uri);
    // One resource for every host: the alias and the legacy flat key name the same URI.
    assert_eq!(t["_meta"]["openai/outputTemplate"], uri);
    assert_eq!(t["_meta"]["ui/resourceUri"], uri);
    assert!(
        t["_meta"].get("openai/fileParams").is_none(),
        "no file input, no fileParams"
    );
    assert_eq!(t["_meta"]["ui"]["visibility"], json!(["model", "app"]));
    assert_eq!(t["_meta"]["openai/widgetAccessible"], true);
    assert_eq!(t["_meta"]["openai/visibility"], "public");
    assert_eq!(
        t["_meta"]["openai/toolInvocation/invoking"],
        "Placing your order…"
    );
    assert_eq!(t["_meta"]["openai/toolInvocation/invoked"], "Order placed");
    let p = tools["result"]["tools"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == "ping")
        .unwrap()
        .clone();
    assert_eq!(p["_meta"]["ui"]["visibility"], json!(["app"]));
    assert_eq!(p["_meta"]["openai/visibility"], "private");
    assert!(p.get("outputSchema").is_none(), "unit output has no schema");

    // The resource, and (for a host that cached an older descriptor) the skybridge name of
    // it, with the widget meta under both key sets.
    let sky = uri.replace(".html", ".skybridge.html");
    for (u, mime) in [
        (uri.as_str(), "text/html;profile=mcp-app"),
        (sky.as_str(), "text/html+skybridge"),
    ] {
        let r = s
            .post(Some(&sid), rpc(2, "resources/read", json!({"uri": u})))
            .await
            .json();
        let c = &r["result"]["contents"][0];
        assert_eq!(c["mimeType"], mime);
        let html = c["text"].as_str().unwrap();
        assert!(html.contains("data-widgetry-runtime"), "runtime injected");
        assert!(
            html.contains("document.body.dataset.ready"),
            "local script inlined"
        );
        assert_eq!(
            c["_meta"]["ui"]["csp"]["connectDomains"],
            json!(["https://api.shop.example"])
        );
        assert_eq!(
            c["_meta"]["openai/widgetCSP"]["connect_domains"],
            json!(["https://api.shop.example"])
        );
        // ChatGPT's origin goes to its own key only; without a public URL there is no
        // Claude form to compute, and a raw URL never lands in ui.domain.
        assert!(c["_meta"]["ui"].get("domain").is_none(), "{c}");
        assert_eq!(c["_meta"]["openai/widgetDomain"], "https://shop.example");
        assert_eq!(c["_meta"]["ui"]["prefersBorder"], true);
        assert_eq!(c["_meta"]["openai/widgetPrefersBorder"], true);
        assert_eq!(c["_meta"]["openai/widgetDescription"], "The cart");
    }
    let list = s
        .post(Some(&sid), rpc(3, "resources/list", json!({})))
        .await
        .json();
    let mimes: Vec<&str> = list["result"]["resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["mimeType"].as_str().unwrap())
        .collect();
    assert_eq!(mimes, ["text/html;profile=mcp-app"]);
    // An older version of the URI (cached by a host) still resolves.
    let old = s
        .post(
            Some(&sid),
            rpc(
                4,
                "resources/read",
                json!({"uri": "ui://widget/cart-000000000000.html"}),
            ),
        )
        .await
        .json();
    assert!(old["result"]["contents"][0]["text"]
        .as_str()
        .unwrap()
        .contains("v1"));
    let missing = s
        .post(
            Some(&sid),
            rpc(
                5,
                "resources/read",
                json!({"uri": "ui://widget/nope-000000000000.html"}),
            ),
        )
        .await
        .json();
    assert_eq!(missing["error"]["code"], -32002);
}

#[derive(Deserialize, JsonSchema)]
struct Upload {
    photo: widgetry::app::FileParam,
    backup: Option<widgetry::app::FileParam>,
    caption: String,
}

async fn upload(_: RequestContext, u: Upload) -> Result<Reply<()>, ToolError> {
    let backup = u.backup.map(|b| b.file_id).unwrap_or_default();
    Ok(Reply::new(()).text(format!("{} {}{backup}", u.photo.file_id, u.caption)))
}

#[tokio::test]
async fn claude_gets_its_domain_form_and_file_inputs_are_file_params() {
    let dir = widget_dir("v1");
    let app = App::builder("shop", "1.0.0")
        .public_url("https://shop.example")
        .widgets_dir(dir.path())
        .widget(Widget::new("cart").domain("https://shop.example"))
        .tool(Tool::new("upload", upload).widget("cart"))
        .build()
        .unwrap();
    let (router, state) = app.router();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let _ = axum::serve(listener, router).await;
    });
    let s = TestServer {
        addr,
        client: hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
            .build_http(),
        state,
    };
    let sid = s.initialize().await;
    let uri = app.widget_uris()[0].1.clone();
    let r = s
        .post(Some(&sid), rpc(1, "resources/read", json!({"uri": uri})))
        .await
        .json();
    let meta = &r["result"]["contents"][0]["_meta"];
    // sha256("https://shop.example/mcp")[..32 hex], computed with Python's hashlib.
    assert_eq!(
        meta["ui"]["domain"],
        "d3603cfafb478bfdcf74de21186c37c8.claudemcpcontent.com"
    );
    assert_eq!(
        widgetry::app::claude_domain("https://shop.example/mcp"),
        "d3603cfafb478bfdcf74de21186c37c8.claudemcpcontent.com"
    );
    assert_eq!(meta["openai/widgetDomain"], "https://shop.example");
    let tools = s
        .post(Some(&sid), rpc(2, "tools/list", json!({})))
        .await
        .json();
    let t = &tools["result"]["tools"][0];
    let mut files: Vec<String> =
        serde_json::from_value(t["_meta"]["openai/fileParams"].clone()).unwrap();
    files.sort();
    assert_eq!(files, ["backup", "photo"]);
    let call = json!({"name":"upload","arguments":{"photo":{"download_url":"https://f.example/1","file_id":"file-1"},"caption":"hi"}});
    let r = s.post(Some(&sid), rpc(3, "tools/call", call)).await.json();
    assert_eq!(r["result"]["content"][0]["text"], "file-1 hi");
}

#[tokio::test]
async fn typed_tool_returns_structured_content_text_and_widget_only_meta() {
    let dir = widget_dir("v1");
    let (s, sid, _) = start(dir.path()).await;
    let args = json!({"items":[{"sku":"a","qty":2},{"sku":"b","qty":3}],"note":"gift"});
    let params = json!({"name":"place_order","arguments":args,"_meta":{"openai/locale":"fr-FR"}});
    let r = s
        .post(Some(&sid), rpc(1, "tools/call", params))
        .await
        .json();
    assert_eq!(
        r["result"]["structuredContent"],
        json!({"total_qty":5,"note":"gift"})
    );
    assert_eq!(r["result"]["content"][0]["text"], "ordered 5");
    assert_eq!(r["result"]["_meta"]["private/locale"], "fr-FR");
    let r = s
        .post(
            Some(&sid),
            rpc(
                2,
                "tools/call",
                json!({"name":"place_order","arguments":{"items":[{"sku":"broken","qty":1}]}}),
            ),
        )
        .await
        .json();
    assert_eq!(r["result"]["isError"], true);
    assert_eq!(
        r["result"]["content"][0]["text"],
        "sku broken is out of stock"
    );
}

#[tokio::test]
async fn bad_input_gets_a_precise_invalid_params_naming_the_field() {
    let dir = widget_dir("v1");
    let (s, sid, _) = start(dir.path()).await;
    let cases = [
        (json!({"items":[{"sku":"a","qty":"two"}]}), "items[0].qty"),
        (json!({"items":[{"qty":1}]}), "sku"),
        (json!({}), "items"),
        (json!({"items":"nope"}), "items"),
    ];
    for (args, needle) in cases {
        let r = s
            .post(
                Some(&sid),
                rpc(
                    1,
                    "tools/call",
                    json!({"name":"place_order","arguments":args}),
                ),
            )
            .await
            .json();
        assert_eq!(r["error"]["code"], -32602, "{r}");
        let msg = r["error"]["message"].as_str().unwrap();
        assert!(
            msg.contains(needle) && msg.contains("place_order"),
            "{msg} should name {needle}"
        );
    }
}

#[tokio::test]
async fn a_widget_change_changes_its_uri() {
    let dir = widget_dir("version one");
    let a = build(dir.path()).unwrap().widget_uris();
    std::fs::write(
        dir.path().join("cart/app.js"),
        "document.body.dataset.ready = '2';",
    )
    .unwrap();
    let b = build(dir.path()).unwrap().widget_uris();
    assert_ne!(a, b, "new content, new URI");
    let c = build(dir.path()).unwrap().widget_uris();
    assert_eq!(b, c, "same content, same URI");
}

#[tokio::test]
async fn misconfiguration_is_reported_at_build_with_every_problem() {
    let dir = widget_dir("x");
    let err = App::builder("shop", "1")
        .widgets_dir(dir.path())
        .widget(Widget::new("ghost"))
        .tool(
            Tool::new("a", ping)
                .invoking("x".repeat(65))
                .widget("missing"),
        )
        .tool(Tool::new("a", ping))
        .build()
        .unwrap_err()
        .to_string();
    for needle in [
        "\"ghost\" has settings but no folder",
        "65 characters; the limit is 64",
        "renders widget \"missing\"",
        "registered twice",
        "available: cart",
    ] {
        assert!(err.contains(needle), "{err} lacks {needle}");
    }
}

#[tokio::test]
async fn debug_listing_shows_every_tool_with_security_schemes_and_meta() {
    let dir = widget_dir("v1");
    let (s, _, _) = start(dir.path()).await;
    let r = s
        .send(
            http::Request::get(s.url("/mcp/tools"))
                .body(Full::new(Bytes::new()))
                .unwrap(),
        )
        .await;
    assert_eq!(r.status, 200);
    let v = r.json();
    let names: Vec<&str> = v["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["place_order", "ping"]);
    assert_eq!(v["tools"][0]["securitySchemes"][0]["type"], "noauth");
    assert!(v["tools"][0]["_meta"]["ui"]["resourceUri"]
        .as_str()
        .unwrap()
        .starts_with("ui://widget/cart-"));
}

/// An app with widgets advertises the MCP Apps extension in `initialize` and in
/// `server/discover` (2026-07-28); one without widgets does not.
#[tokio::test]
async fn the_ui_extension_is_advertised_in_initialize_and_discover() {
    let dir = widget_dir("v1");
    let (s, _, _) = start(dir.path()).await;
    let init = s
        .post(
            None,
            json!({"jsonrpc":"2.0","id":1,"method":"initialize","params":{
                "protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"t","version":"1"}}}),
        )
        .await;
    let want = json!({"mimeTypes": ["text/html;profile=mcp-app"]});
    assert_eq!(
        init.json()["result"]["capabilities"]["extensions"]["io.modelcontextprotocol/ui"],
        want
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
        d.json()["result"]["capabilities"]["extensions"]["io.modelcontextprotocol/ui"],
        want
    );
    let plain = App::builder("plain", "1")
        .tool(Tool::new("ping", ping))
        .build()
        .unwrap();
    assert!(plain.server().capabilities().get("extensions").is_none());
}

#[tokio::test]
async fn development_mode_is_off_unless_asked_for() {
    // Debug builds used to turn development mode on by themselves (host page served,
    // `Origin: null` accepted on widget endpoints). Now only WIDGETRY_DEV=1 does.
    let asked = std::env::var("WIDGETRY_DEV").is_ok_and(|v| v == "1");
    assert_eq!(widgetry::app::dev_requested(), asked);
    let forced = std::env::var("WIDGETRY_HOST_PAGE").is_ok_and(|v| v.trim() == "1");
    let dir = widget_dir("<p>cart</p>");
    let (s, _, _) = start(dir.path()).await;
    let page = s
        .send(
            s.request("GET", "/_widgetry/host")
                .body(Full::new(Bytes::new()))
                .unwrap(),
        )
        .await;
    let served = page.status == 200;
    assert_eq!(served, asked || forced, "host page served: {}", page.status);
}
