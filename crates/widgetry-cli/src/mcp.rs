//! The MCP client over Streamable HTTP, in two protocol styles ([`Protocol`]):
//!
//! - with a session: `initialize` (protocol 2025-11-25, falling back to older versions the
//!   server accepts), the `Mcp-Session-Id` and `MCP-Protocol-Version` headers,
//!   `notifications/initialized`, server-to-client requests on response streams;
//! - stateless 2026-07-28: `server/discover`, no session, every request's `_meta` naming
//!   the protocol version, client capabilities and client info, the `Mcp-Method` /
//!   `Mcp-Name` routing headers and `Mcp-Param-*` headers for tool arguments whose schema
//!   says `x-mcp-header`, and input-required results answered and retried.
//!
//! Both read answers as JSON or as an SSE stream, list tools across pages and call tools,
//! with OAuth handled by [`crate::oauth::Authorizer`] whenever the server challenges. The
//! client declares the MCP Apps extension unless told not to ([`ClientOptions::ui`]),
//! roots (the working directory) and form elicitation ([`ClientOptions::inputs`], else
//! the terminal).

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use serde_json::{json, Value};

use crate::http::{HttpClient, HttpError, HttpUrl, Request, Response};
use crate::oauth::{Attempts, AuthError, Authorizer, Challenge};

/// The version asked for first.
pub const LATEST_PROTOCOL_VERSION: &str = "2025-11-25";
/// Versions this client speaks, newest first.
pub const SUPPORTED_PROTOCOL_VERSIONS: [&str; 4] =
    ["2025-11-25", "2025-06-18", "2025-03-26", "2024-11-05"];
/// The stateless revision: no `initialize`, no session.
pub const STATELESS_PROTOCOL_VERSION: &str = "2026-07-28";
/// Largest JSON answer (tool results may carry images).
const MAX_ANSWER_BYTES: usize = 32 * 1024 * 1024;
/// Most input rounds one 2026-07-28 request may take.
const MAX_INPUT_ROUNDS: usize = 8;
/// The MCP Apps extension and the widget type this client declares.
const UI_EXTENSION: &str = "io.modelcontextprotocol/ui";
const MIME_MCP_APP: &str = "text/html;profile=mcp-app";

/// How the client speaks MCP.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Protocol {
    /// `initialize` and a session (2025-11-25, or older when the server needs it).
    #[default]
    Session,
    /// The stateless 2026-07-28 revision: `server/discover`, no session.
    Stateless,
}

impl Protocol {
    /// Parses a protocol version: `2026-07-28` is stateless, the handshake versions are
    /// [`Protocol::Session`].
    pub fn parse(version: &str) -> Option<Self> {
        match version.trim() {
            STATELESS_PROTOCOL_VERSION => Some(Self::Stateless),
            v if SUPPORTED_PROTOCOL_VERSIONS.contains(&v) => Some(Self::Session),
            _ => None,
        }
    }
}

/// What the client declares and how it answers a server's questions.
#[derive(Debug, Clone, Default)]
pub struct ClientOptions {
    /// The protocol style.
    pub protocol: Protocol,
    /// Declare the MCP Apps extension (see the tools as a widget host does: with their
    /// UI metadata and the app-only tools). `false`: as a client without UI.
    pub ui: bool,
    /// Answers to form elicitations, by the server's input key (2026-07-28) or message
    /// text: the form's `content`. Questions without one are asked on the terminal when
    /// there is one, else declined.
    pub inputs: serde_json::Map<String, Value>,
}

/// What can go wrong talking MCP.
#[derive(Debug, thiserror::Error)]
pub enum McpError {
    /// Transport.
    #[error(transparent)]
    Http(#[from] HttpError),
    /// Signing in.
    #[error(transparent)]
    Auth(#[from] AuthError),
    /// An HTTP status where an answer was expected.
    #[error("{method}: the server answered HTTP {status}{detail}")]
    Status {
        /// The JSON-RPC method.
        method: String,
        /// The status code.
        status: u16,
        /// `: <message>` from the body, or empty.
        detail: String,
    },
    /// A JSON-RPC error answer.
    #[error("{method} failed: {message} (JSON-RPC error {code})")]
    Rpc {
        /// The JSON-RPC method.
        method: String,
        /// The error code.
        code: i64,
        /// The error message.
        message: String,
    },
    /// An answer that does not follow the protocol.
    #[error("{method}: {reason}")]
    Protocol {
        /// The JSON-RPC method.
        method: String,
        /// What is wrong.
        reason: String,
    },
    /// No common protocol version.
    #[error("the server speaks MCP {0}; widgetry speaks {list}", list = SUPPORTED_PROTOCOL_VERSIONS.join(", "))]
    UnsupportedVersion(String),
    /// The answer did not come in time.
    #[error("{method}: no answer within {} s", .after.as_secs())]
    Timeout {
        /// The JSON-RPC method.
        method: String,
        /// The limit.
        after: Duration,
    },
    /// The session is gone (HTTP 404 with a session id); handled by re-initializing.
    #[error("the server no longer knows this session")]
    SessionExpired,
}

/// A connected MCP client (a session, or none on 2026-07-28).
pub struct McpClient {
    http: HttpClient,
    endpoint: HttpUrl,
    auth: Authorizer,
    timeout: Duration,
    options: ClientOptions,
    session_id: Option<String>,
    protocol_version: Option<String>,
    next_id: u64,
    initialize_result: Value,
    /// Input schemas by tool name, from the last `tools/list` (for `Mcp-Param-*`).
    schemas: HashMap<String, Value>,
}

impl McpClient {
    /// Connects: `initialize` then `notifications/initialized`, or on 2026-07-28
    /// `server/discover`. `timeout` bounds each request (signing in is not counted).
    pub async fn connect(
        http: HttpClient,
        endpoint: HttpUrl,
        auth: Authorizer,
        timeout: Duration,
        options: ClientOptions,
    ) -> Result<Self, McpError> {
        let mut client = Self {
            http,
            endpoint,
            auth,
            timeout,
            options,
            session_id: None,
            protocol_version: None,
            next_id: 0,
            initialize_result: Value::Null,
            schemas: HashMap::new(),
        };
        match client.options.protocol {
            Protocol::Session => client.initialize().await?,
            Protocol::Stateless => client.discover().await?,
        }
        Ok(client)
    }

    fn stateless(&self) -> bool {
        self.options.protocol == Protocol::Stateless
    }

    /// The capabilities this client declares.
    fn capabilities(&self) -> Value {
        let mut caps = json!({"roots": {}, "elicitation": {"form": {}}});
        if self.options.ui {
            caps["extensions"] = json!({UI_EXTENSION: {"mimeTypes": [MIME_MCP_APP]}});
        }
        caps
    }

    /// 2026-07-28: `server/discover`, which says whether the server speaks the revision.
    async fn discover(&mut self) -> Result<(), McpError> {
        self.protocol_version = Some(STATELESS_PROTOCOL_VERSION.into());
        let mut result = self.request_once("server/discover", None).await?;
        let versions = result.get("supportedVersions").and_then(Value::as_array);
        if !versions.is_some_and(|v| v.iter().any(|v| v == STATELESS_PROTOCOL_VERSION)) {
            let offered = versions
                .map(|v| {
                    v.iter()
                        .filter_map(Value::as_str)
                        .collect::<Vec<_>>()
                        .join(", ")
                })
                .unwrap_or_else(|| "(no supportedVersions)".into());
            return Err(McpError::UnsupportedVersion(format!(
                "{offered}, not {STATELESS_PROTOCOL_VERSION}"
            )));
        }
        // 2026-07-28 puts serverInfo in the result `_meta`; callers read it at the top.
        if result.get("serverInfo").is_none() {
            if let Some(info) = result.pointer("/_meta/io.modelcontextprotocol~1serverInfo") {
                result["serverInfo"] = info.clone();
            }
        }
        result["protocolVersion"] = json!(STATELESS_PROTOCOL_VERSION);
        self.initialize_result = result;
        Ok(())
    }

    /// The `initialize` (or `server/discover`) result (`serverInfo`, `capabilities`, …).
    pub fn initialize_result(&self) -> &Value {
        &self.initialize_result
    }

    /// The negotiated protocol version.
    pub fn protocol_version(&self) -> &str {
        self.protocol_version
            .as_deref()
            .unwrap_or(LATEST_PROTOCOL_VERSION)
    }

    async fn initialize(&mut self) -> Result<(), McpError> {
        self.session_id = None;
        self.protocol_version = None;
        let mut versions = SUPPORTED_PROTOCOL_VERSIONS.iter().take(3).peekable();
        loop {
            let Some(version) = versions.next() else {
                return Err(McpError::UnsupportedVersion(
                    "none of the versions offered".into(),
                ));
            };
            let params = json!({
                "protocolVersion": version,
                "capabilities": self.capabilities(),
                "clientInfo": client_info(),
            });
            let (id, body) = self.message("initialize", Some(params));
            let resp = self.post(&body, "initialize").await?;
            let session = resp.header("mcp-session-id").map(str::to_string);
            match self.read_answer(resp, id, "initialize").await {
                Ok(result) => {
                    let agreed = result
                        .get("protocolVersion")
                        .and_then(Value::as_str)
                        .unwrap_or_default()
                        .to_string();
                    if !SUPPORTED_PROTOCOL_VERSIONS.contains(&agreed.as_str()) {
                        return Err(McpError::UnsupportedVersion(if agreed.is_empty() {
                            "(no protocolVersion in its answer)".into()
                        } else {
                            agreed
                        }));
                    }
                    self.protocol_version = Some(agreed);
                    self.session_id = session;
                    self.initialize_result = result;
                    break;
                }
                // Servers that reject a version they do not know instead of offering
                // their own: try the next older one.
                Err(McpError::Status { status: 400, .. } | McpError::Rpc { code: -32602, .. })
                    if versions.peek().is_some() => {}
                Err(e) => return Err(e),
            }
        }
        self.notify("notifications/initialized", None).await
    }

    /// A JSON-RPC request; on 2026-07-28 its params carry the `_meta` every request must.
    fn message(&mut self, method: &str, params: Option<Value>) -> (u64, Value) {
        self.next_id += 1;
        let mut msg = json!({"jsonrpc": "2.0", "id": self.next_id, "method": method});
        let params = match (self.stateless(), params) {
            (false, p) => p,
            (true, p) => {
                let mut p = p.unwrap_or_else(|| json!({}));
                if !p["_meta"].is_object() {
                    p["_meta"] = json!({});
                }
                p["_meta"]["io.modelcontextprotocol/protocolVersion"] =
                    json!(STATELESS_PROTOCOL_VERSION);
                p["_meta"]["io.modelcontextprotocol/clientCapabilities"] = self.capabilities();
                p["_meta"]["io.modelcontextprotocol/clientInfo"] = client_info();
                Some(p)
            }
        };
        if let Some(p) = params {
            msg["params"] = p;
        }
        (self.next_id, msg)
    }

    /// Sends a request and returns its `result`. On 2026-07-28 an input-required result
    /// is answered and the request retried with the answers (and its `requestState`).
    pub async fn request(
        &mut self,
        method: &str,
        params: Option<Value>,
    ) -> Result<Value, McpError> {
        if self.stateless() {
            return self.request_with_input(method, params).await;
        }
        match self.request_once(method, params.clone()).await {
            Err(McpError::SessionExpired) => {
                eprintln!("widgetry: the server forgot the session; starting a new one");
                self.initialize().await?;
                self.request_once(method, params).await
            }
            other => other,
        }
    }

    /// 2026-07-28 multi round-trip requests: while the server answers `input_required`,
    /// answer its `inputRequests` and send the request again with `inputResponses` and
    /// the `requestState` it handed out.
    async fn request_with_input(
        &mut self,
        method: &str,
        params: Option<Value>,
    ) -> Result<Value, McpError> {
        let base = params.unwrap_or_else(|| json!({}));
        let mut params = base.clone();
        for _ in 0..MAX_INPUT_ROUNDS {
            let result = self.request_once(method, Some(params)).await?;
            if result.get("resultType").and_then(Value::as_str) != Some("input_required") {
                return Ok(result);
            }
            let mut responses = serde_json::Map::new();
            if let Some(asked) = result.get("inputRequests").and_then(Value::as_object) {
                for (key, request) in asked {
                    let m = request.get("method").and_then(Value::as_str).unwrap_or("");
                    let p = request.get("params").cloned().unwrap_or_default();
                    match self.answer_input(Some(key), m, &p) {
                        Ok(answer) => {
                            responses.insert(key.clone(), answer);
                        }
                        Err(e) => return Err(protocol(method, &e)),
                    }
                }
            }
            params = base.clone();
            params["inputResponses"] = Value::Object(responses);
            if let Some(state) = result.get("requestState") {
                params["requestState"] = state.clone();
            }
        }
        Err(protocol(
            method,
            &format!("the server asked for input more than {MAX_INPUT_ROUNDS} times"),
        ))
    }

    /// Answers a server's question (a 2026-07-28 input request under `key`, or a
    /// server-to-client request): roots are the working directory; a form elicitation is
    /// answered from [`ClientOptions::inputs`], else on the terminal, else declined.
    fn answer_input(
        &self,
        key: Option<&str>,
        method: &str,
        params: &Value,
    ) -> Result<Value, String> {
        match method {
            "roots/list" => {
                let roots = std::env::current_dir()
                    .ok()
                    .and_then(|d| d.to_str().map(str::to_string))
                    .map(|d| {
                        vec![json!({"uri": format!("file://{d}"), "name": "working directory"})]
                    })
                    .unwrap_or_default();
                Ok(json!({ "roots": roots }))
            }
            "elicitation/create" => {
                let message = params.get("message").and_then(Value::as_str).unwrap_or("");
                if params
                    .get("mode")
                    .and_then(Value::as_str)
                    .is_some_and(|m| m != "form")
                {
                    return Ok(json!({"action": "decline"}));
                }
                let given = key
                    .and_then(|k| self.options.inputs.get(k))
                    .or_else(|| self.options.inputs.get(message));
                if let Some(content) = given {
                    return Ok(json!({"action": "accept", "content": content}));
                }
                Ok(
                    crate::prompt::ask_form(message, params.get("requestedSchema"))
                        .map(|content| json!({"action": "accept", "content": content}))
                        .unwrap_or_else(|| json!({"action": "decline"})),
                )
            }
            other => Err(format!(
                "the widgetry command-line client does not support {other}"
            )),
        }
    }

    async fn request_once(
        &mut self,
        method: &str,
        params: Option<Value>,
    ) -> Result<Value, McpError> {
        let (id, body) = self.message(method, params);
        let resp = self.post(&body, method).await?;
        self.read_answer(resp, id, method).await
    }

    /// Sends a notification (the server answers 202).
    pub async fn notify(&mut self, method: &str, params: Option<Value>) -> Result<(), McpError> {
        let mut msg = json!({"jsonrpc": "2.0", "method": method});
        if let Some(p) = params {
            msg["params"] = p;
        }
        let resp = self.post(&msg, method).await?;
        let status = resp.status;
        if !status.is_success() {
            let detail = resp.text_snippet(200).await;
            eprintln!(
                "widgetry: warning: the server answered {method} with HTTP {}{}",
                status.as_u16(),
                if detail.is_empty() {
                    String::new()
                } else {
                    format!(": {detail}")
                }
            );
        }
        Ok(())
    }

    /// POSTs one JSON-RPC message, signing in (and retrying) when challenged.
    async fn post(&mut self, body: &Value, method: &str) -> Result<Response, McpError> {
        let text = body.to_string();
        let routing = if self.stateless() {
            routing_headers(body, &self.schemas)
        } else {
            Vec::new()
        };
        let mut attempts = Attempts::default();
        loop {
            let token = self.auth.bearer().await?;
            let mut req = Request::post(&self.endpoint, "application/json", text.clone())
                .header(http::header::ACCEPT, "application/json, text/event-stream");
            for (name, value) in &routing {
                req = req.header_value(name.clone(), value);
            }
            if let Some(sid) = &self.session_id {
                req = req.header_value(http::HeaderName::from_static("mcp-session-id"), sid);
            }
            if let Some(v) = &self.protocol_version {
                req = req.header_value(http::HeaderName::from_static("mcp-protocol-version"), v);
            }
            if let Some(t) = &token {
                req = req.header_value(http::header::AUTHORIZATION, &format!("Bearer {t}"));
            }
            let resp = self.http.send(req, self.timeout).await?;
            match resp.status.as_u16() {
                401 => {
                    let challenge = Challenge::from_headers(resp.header_all("www-authenticate"));
                    drop(resp);
                    if self.http.verbose() {
                        eprintln!(
                            "widgetry: {method} needs authorization ({})",
                            challenge.describe()
                        );
                    }
                    self.auth
                        .on_unauthorized(&challenge, token.is_some(), &mut attempts)
                        .await?;
                }
                403 => {
                    let challenge = Challenge::from_headers(resp.header_all("www-authenticate"));
                    if !challenge.is_insufficient_scope() {
                        return Ok(resp);
                    }
                    drop(resp);
                    self.auth
                        .on_insufficient_scope(&challenge, &mut attempts)
                        .await?;
                }
                404 if self.session_id.is_some() && method != "initialize" => {
                    return Err(McpError::SessionExpired)
                }
                _ => return Ok(resp),
            }
        }
    }

    /// Reads the answer to request `id` from a JSON body or an SSE stream.
    async fn read_answer(
        &mut self,
        resp: Response,
        id: u64,
        method: &str,
    ) -> Result<Value, McpError> {
        let status = resp.status;
        if status.as_u16() == 202 {
            return Err(protocol(
                method,
                "the server accepted the request (HTTP 202) but sent no answer",
            ));
        }
        if !status.is_success() {
            let body = resp.text_snippet(300).await;
            let message = serde_json::from_str::<Value>(&body)
                .ok()
                .and_then(|v| {
                    v.pointer("/error/message")
                        .or_else(|| v.get("error_description"))
                        .or_else(|| v.get("error"))
                        .and_then(Value::as_str)
                        .map(str::to_string)
                })
                .unwrap_or(body);
            return Err(McpError::Status {
                method: method.to_string(),
                status: status.as_u16(),
                detail: if message.is_empty() {
                    String::new()
                } else {
                    format!(": {message}")
                },
            });
        }
        let timeout = self.timeout;
        let media = resp.media_type();
        let read = async {
            match media.as_str() {
                "application/json" => {
                    let bytes = resp.bytes(MAX_ANSWER_BYTES).await?;
                    let v: Value = serde_json::from_slice(&bytes)
                        .map_err(|e| protocol(method, &format!("the answer is not JSON: {e}")))?;
                    let candidates = match v {
                        Value::Array(items) => items,
                        one => vec![one],
                    };
                    candidates
                        .into_iter()
                        .find(|m| is_answer_to(m, id))
                        .ok_or_else(|| protocol(method, "the JSON answer does not answer this request"))
                        .and_then(|m| result_of(m, method))
                }
                "text/event-stream" => {
                    let mut events = resp.into_events(MAX_ANSWER_BYTES);
                    while let Some(event) = events.next().await? {
                        if event.event != "message" {
                            continue;
                        }
                        let Ok(msg) = serde_json::from_str::<Value>(&event.data) else {
                            continue;
                        };
                        if is_answer_to(&msg, id) {
                            return result_of(msg, method);
                        }
                        self.on_server_message(&msg).await;
                    }
                    Err(protocol(method, "the server's event stream ended without an answer"))
                }
                other => Err(protocol(
                    method,
                    &format!("unexpected content type {other:?} (expected application/json or text/event-stream)"),
                )),
            }
        };
        tokio::time::timeout(timeout, read)
            .await
            .map_err(|_| McpError::Timeout {
                method: method.to_string(),
                after: timeout,
            })?
    }

    /// A notification or a server-to-client request seen on a response stream.
    async fn on_server_message(&mut self, msg: &Value) {
        let Some(method) = msg.get("method").and_then(Value::as_str) else {
            return;
        };
        match msg.get("id") {
            None => {
                if method == "notifications/message" && self.http.verbose() {
                    let p = msg.get("params").cloned().unwrap_or_default();
                    eprintln!(
                        "server log [{}]: {}",
                        p.get("level").and_then(Value::as_str).unwrap_or("info"),
                        p.get("data").map(Value::to_string).unwrap_or_default()
                    );
                }
            }
            Some(id) => {
                let params = msg.get("params").cloned().unwrap_or_default();
                let answer = match method {
                    "ping" => Ok(json!({})),
                    _ => self.answer_input(None, method, &params),
                };
                let answer = match answer {
                    Ok(result) => json!({"jsonrpc": "2.0", "id": id, "result": result}),
                    Err(message) => json!({"jsonrpc": "2.0", "id": id, "error": {
                        "code": -32601,
                        "message": message,
                    }}),
                };
                if let Err(e) = self.send_reply(&answer).await {
                    eprintln!(
                        "widgetry: warning: could not answer the server's {method} request: {e}"
                    );
                }
            }
        }
    }

    async fn send_reply(&mut self, answer: &Value) -> Result<(), McpError> {
        let token = self.auth.bearer().await?;
        let mut req = Request::post(&self.endpoint, "application/json", answer.to_string())
            .header(http::header::ACCEPT, "application/json, text/event-stream");
        if let Some(sid) = &self.session_id {
            req = req.header_value(http::HeaderName::from_static("mcp-session-id"), sid);
        }
        if let Some(v) = &self.protocol_version {
            req = req.header_value(http::HeaderName::from_static("mcp-protocol-version"), v);
        }
        if let Some(t) = &token {
            req = req.header_value(http::header::AUTHORIZATION, &format!("Bearer {t}"));
        }
        self.http.send(req, self.timeout).await?;
        Ok(())
    }

    /// Every tool, following `nextCursor` across pages.
    pub async fn list_tools(&mut self) -> Result<Vec<Value>, McpError> {
        let mut tools = Vec::new();
        let mut cursor: Option<String> = None;
        let mut seen = HashSet::new();
        loop {
            let params = cursor.as_ref().map(|c| json!({ "cursor": c }));
            let page = self.request("tools/list", params).await?;
            let Some(items) = page.get("tools").and_then(Value::as_array) else {
                return Err(protocol("tools/list", "the answer has no tools array"));
            };
            for t in items {
                if let (Some(name), Some(schema)) =
                    (t.get("name").and_then(Value::as_str), t.get("inputSchema"))
                {
                    self.schemas.insert(name.to_string(), schema.clone());
                }
            }
            tools.extend(items.iter().cloned());
            match page.get("nextCursor").and_then(Value::as_str) {
                Some(next) if !next.is_empty() => {
                    if !seen.insert(next.to_string()) || seen.len() > 10_000 {
                        return Err(protocol(
                            "tools/list",
                            "the server keeps sending the same page cursor",
                        ));
                    }
                    cursor = Some(next.to_string());
                }
                _ => return Ok(tools),
            }
        }
    }

    /// Calls a tool. A failed result carrying `_meta["mcp/www_authenticate"]` (the
    /// per-tool sign-in request ChatGPT honours) triggers a sign-in and one retry.
    pub async fn call_tool(&mut self, name: &str, arguments: &Value) -> Result<Value, McpError> {
        if self.stateless() && !self.schemas.contains_key(name) {
            // The tool's schema says which arguments go into Mcp-Param-* headers.
            self.list_tools().await?;
        }
        let params = json!({ "name": name, "arguments": arguments });
        let mut attempts = Attempts::default();
        let mut retried = false;
        loop {
            let result = self.request("tools/call", Some(params.clone())).await?;
            if !retried {
                if let Some(challenge) = tool_challenge(&result) {
                    retried = true;
                    eprintln!(
                        "widgetry: the tool {name} asks for sign-in ({})",
                        challenge.describe()
                    );
                    self.auth
                        .on_tool_challenge(&challenge, &mut attempts)
                        .await?;
                    continue;
                }
            }
            return Ok(result);
        }
    }

    /// Ends the session (DELETE), best effort, and hands back the authorizer with the
    /// tokens it holds (for `widgetry host`, whose proxy goes on signing requests).
    pub async fn close(mut self) -> Authorizer {
        let Some(sid) = self.session_id.take() else {
            return self.auth;
        };
        let token = self.auth.bearer().await.ok().flatten();
        let mut req = Request::delete(&self.endpoint)
            .header_value(http::HeaderName::from_static("mcp-session-id"), &sid);
        if let Some(v) = &self.protocol_version {
            req = req.header_value(http::HeaderName::from_static("mcp-protocol-version"), v);
        }
        if let Some(t) = &token {
            req = req.header_value(http::header::AUTHORIZATION, &format!("Bearer {t}"));
        }
        let _ = self.http.send(req, Duration::from_secs(5)).await;
        self.auth
    }
}

/// Who this client is, in `initialize` and in 2026-07-28 `_meta`.
fn client_info() -> Value {
    json!({
        "name": "widgetry",
        "title": "Widgetry CLI",
        "version": env!("CARGO_PKG_VERSION"),
    })
}

/// A 2026-07-28 header value: as is when it is visible ASCII (and not itself shaped like
/// the sentinel), else `=?base64?…?=` of its UTF-8.
pub fn header_value(value: &str) -> String {
    use base64::Engine as _;
    let plain = value.bytes().all(|b| (0x20..=0x7e).contains(&b))
        && value.trim() == value
        && !(value.starts_with("=?base64?") && value.ends_with("?="));
    if plain {
        value.to_string()
    } else {
        format!(
            "=?base64?{}?=",
            base64::engine::general_purpose::STANDARD.encode(value.as_bytes())
        )
    }
}

/// The `Mcp-Param-*` headers of a tool call: each argument whose property (reached
/// through `properties` from the schema root) carries `x-mcp-header` and is present
/// as a string, integer or boolean.
pub fn param_headers(schema: &Value, arguments: &Value) -> Vec<(String, String)> {
    fn walk(schema: &Value, args: Option<&Value>, out: &mut Vec<(String, String)>) {
        let Some(props) = schema.get("properties").and_then(Value::as_object) else {
            return;
        };
        for (key, sub) in props {
            let value = args.and_then(|a| a.get(key));
            if let (Some(name), Some(v)) = (sub.get("x-mcp-header").and_then(Value::as_str), value)
            {
                let text = match v {
                    Value::String(s) => Some(s.clone()),
                    Value::Bool(b) => Some(b.to_string()),
                    Value::Number(n) if n.is_i64() || n.is_u64() => Some(n.to_string()),
                    _ => None,
                };
                if let Some(t) = text {
                    out.push((
                        format!("mcp-param-{}", name.to_ascii_lowercase()),
                        header_value(&t),
                    ));
                }
            }
            walk(sub, value, out);
        }
    }
    let mut out = Vec::new();
    walk(schema, Some(arguments), &mut out);
    out
}

/// The 2026-07-28 headers of a request: `Mcp-Method`, `Mcp-Name` (tool or prompt name,
/// resource URI) and, for a tool call, its `Mcp-Param-*` headers.
fn routing_headers(
    body: &Value,
    schemas: &HashMap<String, Value>,
) -> Vec<(http::HeaderName, String)> {
    let Some(method) = body.get("method").and_then(Value::as_str) else {
        return Vec::new();
    };
    let mut out = vec![(
        http::HeaderName::from_static("mcp-method"),
        method.to_string(),
    )];
    let params = body.get("params");
    let name = match method {
        "tools/call" | "prompts/get" => params.and_then(|p| p.get("name")),
        "resources/read" => params.and_then(|p| p.get("uri")),
        _ => None,
    };
    if let Some(n) = name.and_then(Value::as_str) {
        out.push((http::HeaderName::from_static("mcp-name"), header_value(n)));
    }
    if method == "tools/call" {
        let schema = name.and_then(Value::as_str).and_then(|n| schemas.get(n));
        let args = params.and_then(|p| p.get("arguments"));
        if let (Some(schema), Some(args)) = (schema, args) {
            for (h, v) in param_headers(schema, args) {
                if let Ok(h) = http::HeaderName::from_bytes(h.as_bytes()) {
                    out.push((h, v));
                }
            }
        }
    }
    out
}

fn protocol(method: &str, reason: &str) -> McpError {
    McpError::Protocol {
        method: method.to_string(),
        reason: reason.to_string(),
    }
}

fn is_answer_to(msg: &Value, id: u64) -> bool {
    msg.get("id").and_then(Value::as_u64) == Some(id)
        && msg.get("method").is_none()
        && (msg.get("result").is_some() || msg.get("error").is_some())
}

fn result_of(msg: Value, method: &str) -> Result<Value, McpError> {
    if let Some(err) = msg.get("error") {
        return Err(McpError::Rpc {
            method: method.to_string(),
            code: err.get("code").and_then(Value::as_i64).unwrap_or(0),
            message: err
                .get("message")
                .and_then(Value::as_str)
                .unwrap_or("(no message)")
                .to_string(),
        });
    }
    msg.get("result")
        .cloned()
        .ok_or_else(|| protocol(method, "the answer has neither result nor error"))
}

/// The challenge in a failed tool result's `_meta["mcp/www_authenticate"]`.
/// The sign-in request a failed tool result carries in `_meta["mcp/www_authenticate"]`.
pub fn tool_challenge(result: &Value) -> Option<Challenge> {
    if result.get("isError").and_then(Value::as_bool) != Some(true) {
        return None;
    }
    let meta = result.get("_meta")?.get("mcp/www_authenticate")?;
    let values: Vec<&str> = match meta {
        Value::String(s) => vec![s.as_str()],
        Value::Array(items) => items.iter().filter_map(Value::as_str).collect(),
        _ => return None,
    };
    Some(Challenge::from_headers(values))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failed_tool_results_with_www_authenticate_meta_ask_for_sign_in() {
        let r = json!({
            "isError": true,
            "content": [{"type": "text", "text": "sign in"}],
            "_meta": {"mcp/www_authenticate": [
                "Bearer resource_metadata=\"http://h/.well-known/oauth-protected-resource/mcp\", error=\"insufficient_scope\", scope=\"a b\""
            ]}
        });
        let c = tool_challenge(&r).unwrap();
        assert!(c.is_insufficient_scope());
        assert_eq!(c.scope.unwrap().to_string(), "a b");
        assert!(tool_challenge(&json!({"isError": false, "_meta": r["_meta"].clone()})).is_none());
    }

    #[test]
    fn header_values_are_plain_ascii_or_the_base64_sentinel() {
        assert_eq!(header_value("us-west1"), "us-west1");
        assert_eq!(
            header_value("Hello, 世界"),
            "=?base64?SGVsbG8sIOS4lueVjA==?="
        );
        assert_eq!(
            header_value("=?base64?literal?="),
            "=?base64?PT9iYXNlNjQ/bGl0ZXJhbD89?="
        );
        assert_eq!(header_value(" padded"), "=?base64?IHBhZGRlZA==?=");
    }

    #[test]
    fn param_headers_follow_x_mcp_header_through_properties_only() {
        let schema = json!({"type": "object", "properties": {
            "region": {"type": "string", "x-mcp-header": "Region"},
            "n": {"type": "integer", "x-mcp-header": "N"},
            "f": {"type": "number", "x-mcp-header": "F"},
            "nested": {"type": "object", "properties": {"on": {"type": "boolean", "x-mcp-header": "On"}}},
            "list": {"type": "array", "items": {"type": "string", "x-mcp-header": "Nope"}},
        }});
        let args = json!({"region": "eu", "n": 3, "f": 1.5, "nested": {"on": true}, "list": ["x"]});
        let mut got = param_headers(&schema, &args);
        got.sort();
        assert_eq!(
            got,
            [
                ("mcp-param-n".to_string(), "3".to_string()),
                ("mcp-param-on".to_string(), "true".to_string()),
                ("mcp-param-region".to_string(), "eu".to_string()),
            ]
        );
        assert!(param_headers(&schema, &json!({})).is_empty());
    }

    #[test]
    fn answers_match_by_id_and_carry_result_or_error() {
        assert!(is_answer_to(
            &json!({"jsonrpc":"2.0","id":3,"result":{}}),
            3
        ));
        assert!(!is_answer_to(
            &json!({"jsonrpc":"2.0","id":3,"method":"ping"}),
            3
        ));
        assert!(matches!(
            result_of(
                json!({"id":1,"error":{"code":-32601,"message":"nope"}}),
                "x"
            ),
            Err(McpError::Rpc { code: -32601, .. })
        ));
    }
}
