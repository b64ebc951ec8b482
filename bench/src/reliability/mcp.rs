//! MCP over Streamable HTTP as a client does it: `initialize` then
//! `notifications/initialized` on a session, `tools/call`, and what counts as a good
//! answer to each.

use bytes::Bytes;
use hyper::Method;
use serde_json::{json, Value};

use crate::client::{Conn, Resp};

/// The protocol revision the battery speaks.
pub const PROTOCOL: &str = "2025-06-18";

/// The `initialize` request.
pub fn init_body() -> Bytes {
    Bytes::from(
        json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
            "protocolVersion": PROTOCOL, "capabilities": {},
            "clientInfo": {"name": "widgetry-reliability", "version": "0.1.0"}}})
        .to_string(),
    )
}

/// A `tools/call` request.
pub fn call_body(tool: &str, arguments: Value) -> Bytes {
    Bytes::from(
        json!({"jsonrpc": "2.0", "id": 2, "method": "tools/call",
               "params": {"name": tool, "arguments": arguments}})
        .to_string(),
    )
}

/// The headers of an MCP POST, with an optional session and bearer token.
pub fn headers<'a>(session: Option<&'a str>, bearer: Option<&'a str>) -> Vec<(&'a str, String)> {
    let mut h = vec![
        ("content-type", "application/json".to_string()),
        ("accept", "application/json, text/event-stream".to_string()),
        ("mcp-protocol-version", PROTOCOL.to_string()),
    ];
    if let Some(s) = session {
        h.push(("mcp-session-id", s.to_string()));
    }
    if let Some(b) = bearer {
        h.push(("authorization", format!("Bearer {b}")));
    }
    h
}

/// POSTs `body` to `/mcp`.
pub async fn post(
    conn: &mut Conn,
    session: Option<&str>,
    bearer: Option<&str>,
    body: Bytes,
) -> Result<Resp, String> {
    let h = headers(session, bearer);
    let h: Vec<(&str, &str)> = h.iter().map(|(k, v)| (*k, v.as_str())).collect();
    conn.send(Method::POST, "/mcp", &h, body).await
}

/// Starts a session (`initialize` + `notifications/initialized`); returns its id.
pub async fn initialize(conn: &mut Conn, bearer: Option<&str>) -> Result<String, String> {
    let r = post(conn, None, bearer, init_body()).await?;
    if r.status != 200 {
        return Err(format!("initialize: {}", r.brief()));
    }
    let sid = r
        .header("mcp-session-id")
        .ok_or("initialize gave no Mcp-Session-Id")?
        .to_string();
    let note = Bytes::from_static(br#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#);
    let n = post(conn, Some(&sid), bearer, note).await?;
    if n.status != 202 {
        return Err(format!("notifications/initialized: {}", n.brief()));
    }
    Ok(sid)
}

/// The `result` of a successful tool call; `Err` describes anything else.
pub fn tool_result(r: &Resp) -> Result<Value, String> {
    if r.status != 200 {
        return Err(format!("tools/call: {}", r.brief()));
    }
    let msg = r.json().ok_or_else(|| format!("not JSON: {}", r.brief()))?;
    let result = &msg["result"];
    if !result.is_object() || result["isError"] == true {
        return Err(format!("tools/call failed: {msg}"));
    }
    Ok(result.clone())
}
