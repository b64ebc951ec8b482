//! Test support: a real widgetry server on 127.0.0.1:0 and a small HTTP client.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use serde_json::Value;

pub type HttpClient = Client<hyper_util::client::legacy::connect::HttpConnector, Full<Bytes>>;

pub struct TestServer {
    pub addr: SocketAddr,
    pub client: HttpClient,
    pub state: std::sync::Arc<widgetry::transport::HttpState>,
}

impl TestServer {
    pub async fn start(server: widgetry::Server, config: widgetry::HttpConfig) -> Self {
        let (router, state) = widgetry::transport::router(server, config);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            let _ = axum::serve(listener, router).await;
        });
        Self {
            addr,
            client: Client::builder(TokioExecutor::new()).build_http(),
            state,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    pub fn request(&self, method: &str, path: &str) -> http::request::Builder {
        http::Request::builder()
            .method(method)
            .uri(self.url(path))
            .header("content-type", "application/json")
            .header("accept", "application/json, text/event-stream")
    }

    pub async fn send(&self, req: http::Request<Full<Bytes>>) -> Reply {
        let resp = tokio::time::timeout(Duration::from_secs(10), self.client.request(req))
            .await
            .expect("request timed out")
            .expect("request failed");
        Reply::read(resp).await
    }

    pub async fn stream(&self, req: http::Request<Full<Bytes>>) -> http::Response<Incoming> {
        tokio::time::timeout(Duration::from_secs(10), self.client.request(req))
            .await
            .expect("request timed out")
            .expect("request failed")
    }

    pub async fn post(&self, session: Option<&str>, body: Value) -> Reply {
        let mut b = self.request("POST", "/mcp");
        if let Some(s) = session {
            b = b
                .header("mcp-session-id", s)
                .header("mcp-protocol-version", "2025-06-18");
        }
        self.send(b.body(Full::new(Bytes::from(body.to_string()))).unwrap())
            .await
    }

    /// `server/discover` as a 2026-07-28 client sends it (no session).
    pub async fn discover_2026(&self) -> Reply {
        let body = serde_json::json!({"jsonrpc":"2.0","id":1,"method":"server/discover","params":{"_meta":{
            "io.modelcontextprotocol/protocolVersion":"2026-07-28",
            "io.modelcontextprotocol/clientCapabilities":{}}}});
        self.send(
            self.request("POST", "/mcp")
                .header("mcp-protocol-version", "2026-07-28")
                .header("mcp-method", "server/discover")
                .body(Full::new(Bytes::from(body.to_string())))
                .unwrap(),
        )
        .await
    }

    /// Opens a session as a widget host does: declaring the MCP Apps extension, so the
    /// tools come with their UI metadata and the app-only tools are there.
    pub async fn initialize(&self) -> String {
        self.initialize_as(
            "test",
            serde_json::json!({"extensions": {"io.modelcontextprotocol/ui": {
                "mimeTypes": ["text/html;profile=mcp-app"]}}}),
        )
        .await
    }

    /// Opens a session as the client `name` declaring `capabilities`.
    pub async fn initialize_as(&self, name: &str, capabilities: Value) -> String {
        let r = self
            .post(
                None,
                serde_json::json!({"jsonrpc":"2.0","id":0,"method":"initialize","params":{
                    "protocolVersion":"2025-06-18","capabilities":capabilities,"clientInfo":{"name":name,"version":"1"}}}),
            )
            .await;
        assert_eq!(r.status, 200, "initialize failed: {}", r.text());
        let sid = r
            .header("mcp-session-id")
            .expect("session id header")
            .to_string();
        let n = self
            .post(
                Some(&sid),
                serde_json::json!({"jsonrpc":"2.0","method":"notifications/initialized"}),
            )
            .await;
        assert_eq!(n.status, 202);
        sid
    }
}

pub struct Reply {
    pub status: u16,
    pub headers: http::HeaderMap,
    pub body: Bytes,
}

impl Reply {
    pub async fn read(resp: http::Response<Incoming>) -> Self {
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let body = tokio::time::timeout(Duration::from_secs(10), resp.into_body().collect())
            .await
            .expect("body timed out")
            .expect("body failed")
            .to_bytes();
        Self {
            status,
            headers,
            body,
        }
    }
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.text()))
    }
    /// The JSON-RPC messages of an SSE body.
    pub fn sse_messages(&self) -> Vec<(Option<String>, Value)> {
        parse_sse(&self.text())
    }
}

pub fn parse_sse(text: &str) -> Vec<(Option<String>, Value)> {
    let mut out = Vec::new();
    for block in text.split("\n\n") {
        let mut id = None;
        let mut data = String::new();
        for line in block.lines() {
            if let Some(v) = line.strip_prefix("id: ") {
                id = Some(v.to_string());
            } else if let Some(v) = line.strip_prefix("data: ") {
                data.push_str(v);
            }
        }
        if !data.trim().is_empty() {
            if let Ok(v) = serde_json::from_str(&data) {
                out.push((id, v));
            }
        }
    }
    out
}

/// Reads SSE events from a streaming body until `pred` matches one (or the timeout).
pub async fn read_events_until(
    body: &mut Incoming,
    buf: &mut String,
    mut pred: impl FnMut(&Value) -> bool,
) -> Vec<(Option<String>, Value)> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let events = parse_sse(buf);
        if events.iter().any(|(_, v)| pred(v)) {
            return events;
        }
        let frame = tokio::time::timeout_at(deadline, body.frame())
            .await
            .expect("timed out waiting for an SSE event");
        match frame {
            Some(Ok(f)) => {
                if let Some(d) = f.data_ref() {
                    buf.push_str(&String::from_utf8_lossy(d));
                }
            }
            _ => return parse_sse(buf),
        }
    }
}
