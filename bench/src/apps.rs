//! The servers under test: the widgetry `echo` app (stateless and with sessions) and a
//! bare axum handler that does the minimum the same request needs.

use std::io;
use std::net::SocketAddr;

use axum::body::Bytes;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::serve::ListenerExt;
use axum::Router;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use tokio::net::TcpListener;
use widgetry::protocol::types::{CallToolResult, Content, ToolDescriptor};
use widgetry::{HttpConfig, Server, ToolError};

/// Path of the MCP endpoint on every server (the baseline uses the same one).
pub const MCP_PATH: &str = "/mcp";

/// Where each server listens.
#[derive(Debug, Clone, Copy)]
pub struct Targets {
    pub baseline: SocketAddr,
    pub stateless: SocketAddr,
    pub session: SocketAddr,
    /// Widgetry, `echo` protected by an RS256 JWT (cached after the first check).
    pub protected: SocketAddr,
    /// Bare axum verifying the same JWT on every call.
    pub baseline_verify: SocketAddr,
    /// Widgetry's widget action endpoint.
    pub action: SocketAddr,
}

/// Credentials the authenticated scenarios send.
#[derive(Debug, Clone)]
pub struct Credentials {
    /// The RS256 access token.
    pub access_token: String,
    /// The widget token for `echo_action`.
    pub widget_token: String,
}

/// The widgetry app: one tool, `echo`, that returns its `text` argument as a text item
/// and as `structuredContent`.
pub fn echo_server() -> Server {
    let mut tool = ToolDescriptor::new("echo");
    tool.description = Some("Echoes the text back.".into());
    tool.input_schema = json!({
        "type": "object",
        "properties": {"text": {"type": "string"}},
        "required": ["text"],
    });
    tool.output_schema = Some(json!({
        "type": "object",
        "properties": {"text": {"type": "string"}},
        "required": ["text"],
    }));
    Server::builder("widgetry-bench", env!("CARGO_PKG_VERSION"))
        .tool(tool, |_ctx, mut args| async move {
            let text = match args.remove("text") {
                Some(Value::String(s)) => s,
                _ => return Err(ToolError::invalid_params("\"text\" must be a string")),
            };
            Ok(CallToolResult {
                content: vec![Content::text(text.clone())],
                structured_content: Some(json!({ "text": text })),
                ..Default::default()
            })
        })
        .build()
}

// ---- bare axum baseline -------------------------------------------------------------

#[derive(Deserialize)]
struct RpcRequest {
    jsonrpc: String,
    id: Value,
    method: String,
    params: CallParams,
}

#[derive(Deserialize)]
struct CallParams {
    name: String,
    arguments: EchoArgs,
}

#[derive(Deserialize)]
struct EchoArgs {
    text: String,
}

#[derive(Serialize)]
struct RpcResponse<'a> {
    jsonrpc: &'static str,
    id: &'a Value,
    result: EchoResult<'a>,
}

#[derive(Serialize)]
struct EchoResult<'a> {
    content: [TextContent<'a>; 1],
    #[serde(rename = "structuredContent")]
    structured_content: Echoed<'a>,
}

#[derive(Serialize)]
struct TextContent<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    text: &'a str,
}

#[derive(Serialize)]
struct Echoed<'a> {
    text: &'a str,
}

/// The baseline: parse the JSON-RPC body into a typed struct, answer the same bytes
/// widgetry answers. No protocol checks beyond the method and tool name.
async fn baseline(body: Bytes) -> Response {
    let req: RpcRequest = match serde_json::from_slice(&body) {
        Ok(r) => r,
        Err(e) => return (StatusCode::BAD_REQUEST, e.to_string()).into_response(),
    };
    if req.jsonrpc != "2.0" || req.method != "tools/call" || req.params.name != "echo" {
        return (StatusCode::BAD_REQUEST, "unexpected request").into_response();
    }
    let text = req.params.arguments.text.as_str();
    let resp = RpcResponse {
        jsonrpc: "2.0",
        id: &req.id,
        result: EchoResult {
            content: [TextContent { kind: "text", text }],
            structured_content: Echoed { text },
        },
    };
    match serde_json::to_vec(&resp) {
        Ok(out) => (
            [(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            )],
            out,
        )
            .into_response(),
        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response(),
    }
}

pub fn baseline_router() -> Router {
    Router::new().route(MCP_PATH, post(baseline))
}

// ---- serving ------------------------------------------------------------------------

/// Serves like `widgetry::serve` (TCP_NODELAY on every accepted socket) but without
/// installing signal handlers, so Ctrl-C still stops the benchmark.
pub async fn serve(listener: TcpListener, router: Router) {
    let listener = listener.tap_io(|tcp| {
        let _ = tcp.set_nodelay(true);
    });
    if let Err(e) = axum::serve(listener, router).await {
        eprintln!("bench: server stopped: {e}");
    }
}

async fn spawn_server(router: Router) -> io::Result<SocketAddr> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    tokio::spawn(serve(listener, router));
    Ok(addr)
}

/// Starts every server on the current runtime (call inside the server runtime).
pub async fn start() -> io::Result<(Targets, Credentials)> {
    let (stateless, _) =
        widgetry::transport::router(echo_server(), HttpConfig::default().stateless(true));
    let (session, _) = widgetry::transport::router(echo_server(), HttpConfig::default());
    let (access_token, jwks, key) = crate::auth_apps::rs256_token_and_jwks();
    let action_listener = TcpListener::bind("127.0.0.1:0").await?;
    let action = action_listener.local_addr()?;
    let (action_router, widget_token) =
        crate::auth_apps::action_router_and_token(&format!("http://{action}"));
    tokio::spawn(serve(action_listener, action_router));
    Ok((
        Targets {
            baseline: spawn_server(baseline_router()).await?,
            stateless: spawn_server(stateless).await?,
            session: spawn_server(session).await?,
            protected: spawn_server(crate::auth_apps::protected_router(jwks)).await?,
            baseline_verify: spawn_server(crate::auth_apps::baseline_verify_router(key)).await?,
            action,
        },
        Credentials {
            access_token,
            widget_token,
        },
    ))
}
