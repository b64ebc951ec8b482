//! The battery's HTTP/1.1 client: one keep-alive connection (hyper's client connection
//! over a tokio `TcpStream`) from a chosen loopback source address, so that many clients
//! can spread over `127.0.x.y` the way real users arrive from many addresses (an instance
//! admits 1,000 MCP sessions and a bounded number of OAuth records per client address).

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::SendRequest;
use hyper::header::{HeaderMap, HeaderName, HeaderValue, HOST};
use hyper::{Method, Request};
use hyper_util::rt::TokioIo;
use serde_json::Value;
use tokio::net::TcpSocket;

/// How long one request may take before it counts as failed.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(15);

/// The loopback source address number `n` (0, 1, …): `127.0.a.b` with `b` in 1..=250.
pub fn source_ip(n: usize) -> IpAddr {
    let a = (n / 250 + 1).min(255) as u8;
    let b = (n % 250 + 1) as u8;
    IpAddr::from([127, 0, a, b])
}

/// One answer, read whole.
#[derive(Debug, Clone)]
pub struct Resp {
    /// Its status code.
    pub status: u16,
    /// Its headers.
    pub headers: HeaderMap,
    /// Its body.
    pub body: Bytes,
}

impl Resp {
    /// A header as text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// The body as text (lossy).
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The body as JSON, or the JSON-RPC message of a `text/event-stream` answer.
    pub fn json(&self) -> Option<Value> {
        let sse = self
            .header("content-type")
            .is_some_and(|t| t.starts_with("text/event-stream"));
        if !sse {
            return serde_json::from_slice(&self.body).ok();
        }
        let text = self.text();
        text.lines()
            .filter_map(|l| l.strip_prefix("data:"))
            .map(str::trim)
            .find(|d| d.contains("\"jsonrpc\""))
            .and_then(|d| serde_json::from_str(d).ok())
    }

    /// A short description for error messages.
    pub fn brief(&self) -> String {
        let t = self.text();
        let cut: String = t.chars().take(300).collect();
        format!("{} {cut}", self.status)
    }
}

/// One keep-alive connection to `target` from `source`.
pub struct Conn {
    sender: SendRequest<Full<Bytes>>,
    host: HeaderValue,
}

impl Conn {
    /// Connects from `source` (port chosen by the kernel) to `target`.
    pub async fn open(source: IpAddr, target: SocketAddr) -> Result<Self, String> {
        let socket = TcpSocket::new_v4().map_err(|e| format!("socket: {e}"))?;
        socket
            .bind(SocketAddr::new(source, 0))
            .map_err(|e| format!("bind {source}: {e}"))?;
        let tcp = tokio::time::timeout(REQUEST_TIMEOUT, socket.connect(target))
            .await
            .map_err(|_| format!("connect {target}: timed out"))?
            .map_err(|e| format!("connect {target}: {e}"))?;
        tcp.set_nodelay(true).map_err(|e| format!("nodelay: {e}"))?;
        let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tcp))
            .await
            .map_err(|e| format!("HTTP handshake with {target}: {e}"))?;
        tokio::spawn(async move {
            let _ = conn.await;
        });
        let host = HeaderValue::from_str(&target.to_string()).map_err(|e| e.to_string())?;
        Ok(Self { sender, host })
    }

    /// Sends one request and reads the whole answer within [`REQUEST_TIMEOUT`].
    pub async fn send(
        &mut self,
        method: Method,
        path: &str,
        headers: &[(&str, &str)],
        body: Bytes,
    ) -> Result<Resp, String> {
        let fut = async {
            self.sender
                .ready()
                .await
                .map_err(|e| format!("connection closed: {e}"))?;
            let mut req = Request::new(Full::new(body));
            *req.method_mut() = method.clone();
            *req.uri_mut() = path.parse().map_err(|e| format!("path {path:?}: {e}"))?;
            let h = req.headers_mut();
            h.insert(HOST, self.host.clone());
            for (k, v) in headers {
                let name = HeaderName::from_bytes(k.as_bytes()).map_err(|e| e.to_string())?;
                let value = HeaderValue::from_str(v).map_err(|e| format!("header {k}: {e}"))?;
                h.append(name, value);
            }
            let resp = self
                .sender
                .send_request(req)
                .await
                .map_err(|e| format!("{method} {path}: {e}"))?;
            let (parts, body) = resp.into_parts();
            let body = body
                .collect()
                .await
                .map_err(|e| format!("{method} {path}: reading the answer: {e}"))?
                .to_bytes();
            Ok(Resp {
                status: parts.status.as_u16(),
                headers: parts.headers,
                body,
            })
        };
        tokio::time::timeout(REQUEST_TIMEOUT, fut)
            .await
            .map_err(|_| format!("{path}: no answer within {REQUEST_TIMEOUT:?}"))?
    }
}
