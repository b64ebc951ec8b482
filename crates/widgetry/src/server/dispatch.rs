//! The one request path of the engine, in three typed steps:
//! [`Server::parse`] reads a request's params once into typed values and looks its tool
//! (or prompt) up once; [`Server::authorize`] checks that tool's policy against the
//! caller, on the very values the handler will receive; [`Server::run`] accepts only
//! what `authorize` returned.
//!
//! Nothing before `parse` looks inside `params`, and nothing after it parses them
//! again, so no two parsers of one request can disagree about what it asks for.

use std::collections::HashMap;

use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::{json, Value};

use super::context::Env;
use super::session::{self, SessionRuntime};
use super::{match_template, RequestContext, Server, ToolError};
use crate::auth::Verdict;
use crate::identity::{Auth, Caller, Refusal};
use crate::protocol::jsonrpc::{self, code, Id, Request, RpcError};
use crate::protocol::types::{CallToolResult, CompleteRequest, Completion, JsonObject};
use crate::protocol::{ProtocolVersion, META_PROTOCOL_VERSION};

/// Why a request was not run: a JSON-RPC error, or a refusal the transport renders at
/// its own level (HTTP 401/403 with a challenge).
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Failure {
    /// Answer with this JSON-RPC error.
    Rpc(RpcError),
    /// Refuse at the transport level.
    Refused(Refusal),
}

impl From<RpcError> for Failure {
    fn from(e: RpcError) -> Self {
        Failure::Rpc(e)
    }
}

/// A request parsed into typed params, owning everything it needs (so it can outlive
/// the body it was decoded from). Not runnable until [`Server::authorize`] accepts it.
#[derive(Debug)]
pub(crate) struct Parsed {
    id: Option<Id>,
    meta: Option<JsonObject>,
    op: Op,
}

#[derive(Debug)]
enum Op {
    /// A ready result (lists, ping, discover, a challenge result).
    Answer(Vec<u8>),
    /// Run the tool at this index with these arguments (a JSON object).
    CallTool {
        index: usize,
        args: Box<RawValue>,
    },
    ReadResource(String),
    Subscribe(String),
    Unsubscribe(String),
    GetPrompt {
        index: usize,
        args: HashMap<String, String>,
    },
    /// Boxed: the largest params by far, and rare; every request's `Parsed` is moved
    /// several times on its way to the handler.
    Complete(Box<CompleteRequest>),
    SetLevel(u8),
}

/// A request whose caller passed its policy: the only thing [`Server::run`] accepts.
#[derive(Debug)]
pub(crate) struct Authorized(Parsed);

/// An authorized request split by whether it needs running.
pub(crate) enum Ready {
    /// The serialized result, already known.
    Answer(Vec<u8>),
    /// A handler to run.
    Run(Authorized),
}

impl Authorized {
    /// The answer, when it is ready (lists, ping, discover, a challenge result): no
    /// handler to call, nothing to send, no waiting. Otherwise the request back.
    pub(crate) fn ready(self, stateless: bool) -> Ready {
        match self.0.op {
            Op::Answer(bytes) => Ready::Answer(with_result_type(bytes, stateless)),
            _ => Ready::Run(self),
        }
    }
}

/// 2026-07-28 results carry `resultType`.
fn with_result_type(mut out: Vec<u8>, stateless: bool) -> Vec<u8> {
    insert_result_type(&mut out, 0, stateless);
    out
}

/// Adds `resultType` to the result object that starts at `out[start]` (2026-07-28).
fn insert_result_type(out: &mut Vec<u8>, start: usize, stateless: bool) {
    if stateless && out.get(start) == Some(&b'{') {
        let field: &[u8] = if out.get(start + 1) != Some(&b'}') {
            br#""resultType":"complete","#
        } else {
            br#""resultType":"complete""#
        };
        out.splice(start + 1..start + 1, field.iter().copied());
    }
}

impl Parsed {
    /// The request's `_meta`, parsed once.
    pub(crate) fn meta(&self) -> Option<&JsonObject> {
        self.meta.as_ref()
    }

    /// The protocol version named in `_meta` (2026-07-28 stateless requests).
    pub(crate) fn meta_protocol_version(&self) -> Option<&str> {
        self.meta.as_ref()?.get(META_PROTOCOL_VERSION)?.as_str()
    }

    /// What the request names (tool or prompt name, resource URI), for the
    /// 2026-07-28 `Mcp-Name` header check.
    pub(crate) fn name<'s>(&'s self, server: &'s Server) -> Option<&'s str> {
        match &self.op {
            Op::CallTool { index, .. } => Some(&server.inner.tools[*index].descriptor.name),
            Op::GetPrompt { index, .. } => Some(&server.inner.prompts[*index].prompt.name),
            Op::ReadResource(uri) | Op::Subscribe(uri) | Op::Unsubscribe(uri) => Some(uri),
            _ => None,
        }
    }
}

#[derive(Deserialize)]
struct MetaOnly {
    #[serde(rename = "_meta", default)]
    meta: Option<JsonObject>,
}

#[derive(Deserialize)]
struct ListParams {
    #[serde(default)]
    cursor: Option<String>,
    #[serde(rename = "_meta", default)]
    meta: Option<JsonObject>,
}

#[derive(Deserialize)]
struct CallToolParams<'a> {
    #[serde(borrow)]
    name: std::borrow::Cow<'a, str>,
    #[serde(borrow, default)]
    arguments: Option<&'a RawValue>,
    #[serde(rename = "_meta", default)]
    meta: Option<JsonObject>,
}

#[derive(Deserialize)]
struct UriParams {
    uri: String,
    #[serde(rename = "_meta", default)]
    meta: Option<JsonObject>,
}

#[derive(Deserialize)]
struct GetPromptParams {
    name: String,
    #[serde(default)]
    arguments: Option<HashMap<String, Value>>,
    #[serde(rename = "_meta", default)]
    meta: Option<JsonObject>,
}

#[derive(Deserialize)]
struct SetLevelParams {
    level: String,
    #[serde(rename = "_meta", default)]
    meta: Option<JsonObject>,
}

#[derive(Deserialize)]
struct CompleteParams {
    #[serde(flatten)]
    request: CompleteRequest,
    #[serde(rename = "_meta", default)]
    meta: Option<JsonObject>,
}

/// Checks that raw arguments are a JSON object (absent/`null` → `{}`).
pub(crate) fn object_args(raw: Option<&RawValue>) -> Result<Box<RawValue>, String> {
    match raw.map(|r| r.get().trim_start()) {
        None | Some("null") => Ok(super::empty_args()),
        Some(t) if t.starts_with('{') => {
            Ok(raw.map(|r| r.to_owned()).unwrap_or_else(super::empty_args))
        }
        Some(t) => {
            let v: Value = serde_json::from_str(t).unwrap_or(Value::Null);
            Err(format!("expected an object, got {}", super::json_type(&v)))
        }
    }
}

impl Server {
    /// Parses one request's params and looks up its tool or prompt (everything but
    /// `initialize`, which the transport handles because it creates the session).
    pub(crate) fn parse(&self, req: &Request<'_>) -> Result<Parsed, Failure> {
        let inner = &self.inner;
        let id = req.id.clone();
        let done = |meta: Option<JsonObject>, op: Op| {
            Ok(Parsed {
                id: id.clone(),
                meta,
                op,
            })
        };
        match &*req.method {
            "tools/call" => {
                let p: CallToolParams<'_> = req.parse_params()?;
                let Some(&index) = inner.tool_index.get(&*p.name) else {
                    return Err(
                        RpcError::invalid_params(format!("unknown tool: {:?}", p.name)).into(),
                    );
                };
                let args = object_args(p.arguments).map_err(|m| {
                    RpcError::invalid_params(format!(
                        "invalid arguments for tool {:?}: {m}",
                        p.name
                    ))
                })?;
                done(p.meta, Op::CallTool { index, args })
            }
            "tools/list" => self.list(req, &inner.tool_pages),
            "resources/list" => self.list(req, &inner.resource_pages),
            "resources/templates/list" => self.list(req, &inner.template_pages),
            "prompts/list" => self.list(req, &inner.prompt_pages),
            "ping" => {
                let m: MetaOnly = req.parse_params()?;
                done(m.meta, Op::Answer(b"{}".to_vec()))
            }
            "server/discover" => {
                let m: MetaOnly = req.parse_params()?;
                done(m.meta, Op::Answer(inner.discover.clone()))
            }
            "resources/read" => {
                let p: UriParams = req.parse_params()?;
                done(p.meta, Op::ReadResource(p.uri))
            }
            "resources/subscribe" | "resources/unsubscribe" => {
                let p: UriParams = req.parse_params()?;
                let op = if req.method == "resources/subscribe" {
                    Op::Subscribe(p.uri)
                } else {
                    Op::Unsubscribe(p.uri)
                };
                done(p.meta, op)
            }
            "prompts/get" => {
                let p: GetPromptParams = req.parse_params()?;
                let Some(index) = inner.prompts.iter().position(|e| e.prompt.name == p.name) else {
                    return Err(
                        RpcError::invalid_params(format!("unknown prompt: {:?}", p.name)).into(),
                    );
                };
                let mut args = HashMap::new();
                for (k, v) in p.arguments.unwrap_or_default() {
                    let s = match v {
                        Value::String(s) => s,
                        other => other.to_string(),
                    };
                    args.insert(k, s);
                }
                for a in &inner.prompts[index].prompt.arguments {
                    if a.required && !args.contains_key(&a.name) {
                        return Err(RpcError::invalid_params(format!(
                            "prompt {:?} needs argument {:?}",
                            p.name, a.name
                        ))
                        .into());
                    }
                }
                done(p.meta, Op::GetPrompt { index, args })
            }
            "completion/complete" => {
                let p: CompleteParams = req.parse_params()?;
                done(p.meta, Op::Complete(Box::new(p.request)))
            }
            "logging/setLevel" => {
                let p: SetLevelParams = req.parse_params()?;
                let idx = session::log_level_index(&p.level).ok_or_else(|| {
                    RpcError::invalid_params(format!(
                        "invalid log level {:?}: use one of {}",
                        p.level,
                        session::LOG_LEVELS.join(", ")
                    ))
                })?;
                done(p.meta, Op::SetLevel(idx))
            }
            "initialize" => Err(RpcError::invalid_request(
                "initialize must be the first request of a session",
            )
            .into()),
            other => Err(RpcError::method_not_found(other).into()),
        }
    }

    /// A call of the tool `name` with `args` (a JSON object) arriving outside JSON-RPC —
    /// an endpoint that is a tool under another URL, such as a widget action. The same
    /// lookup as `tools/call`; [`Self::authorize`] and [`Self::run`] follow as for it.
    pub(crate) fn parse_tool_call(
        &self,
        name: &str,
        args: Box<RawValue>,
    ) -> Result<Parsed, Failure> {
        let Some(&index) = self.inner.tool_index.get(name) else {
            return Err(RpcError::invalid_params(format!("unknown tool: {name:?}")).into());
        };
        Ok(Parsed {
            id: None,
            meta: None,
            op: Op::CallTool { index, args },
        })
    }

    /// The one policy check: a tool call runs only when the tool's policy admits
    /// `caller`; otherwise it is answered with a challenge result or refused. `session`
    /// is the request's session, if any (its client name picks the challenge's form).
    pub(crate) fn authorize(
        &self,
        parsed: Parsed,
        caller: &Caller,
        session: Option<&SessionRuntime>,
    ) -> Result<Authorized, Failure> {
        let Op::CallTool { index, .. } = &parsed.op else {
            return Ok(Authorized(parsed));
        };
        let tool = &self.inner.tools[*index];
        match self.check_tool(
            &tool.descriptor.name,
            &tool.policy,
            caller,
            parsed.meta(),
            session,
        )? {
            None => Ok(Authorized(parsed)),
            Some(answer) => Ok(Authorized(Parsed {
                op: Op::Answer(to_vec(&answer)?),
                ..parsed
            })),
        }
    }

    fn check_tool(
        &self,
        tool: &str,
        policy: &Auth,
        caller: &Caller,
        meta: Option<&JsonObject>,
        session: Option<&SessionRuntime>,
    ) -> Result<Option<CallToolResult>, Failure> {
        if matches!(policy, Auth::None | Auth::Optional(_)) {
            return Ok(None);
        }
        let Some(auth) = &self.inner.auth else {
            // Fail closed: a protected tool on a server without a resource server.
            return Err(RpcError::internal(format!(
                "tool {tool:?} requires sign-in but this server has no auth configured"
            ))
            .into());
        };
        let result_form = auth.result_challenge(meta, session.and_then(|s| s.client_name()));
        match auth.check(tool, policy, caller, result_form) {
            Verdict::Allow => Ok(None),
            Verdict::Answer(r) => Ok(Some(r)),
            Verdict::Refuse(r) => Err(Failure::Refused(r)),
        }
    }

    fn list(&self, req: &Request<'_>, pages: &[Vec<u8>]) -> Result<Parsed, Failure> {
        let p: ListParams = req.parse_params()?;
        let idx = match &p.cursor {
            None => 0,
            Some(c) => super::decode_cursor(c, pages.len())?,
        };
        Ok(Parsed {
            id: req.id.clone(),
            meta: p.meta,
            op: Op::Answer(pages[idx].clone()),
        })
    }

    /// Runs an authorized request and returns the serialized `result`. 2026-07-28
    /// results carry `resultType`.
    pub(crate) async fn run(&self, request: Authorized, env: Env) -> Result<Vec<u8>, RpcError> {
        let stateless = env.version.is_stateless();
        let mut out = Vec::new();
        self.run_op(request.0, env, &mut out).await?;
        Ok(with_result_type(out, stateless))
    }

    /// Runs an authorized request and returns the whole JSON-RPC response to request
    /// `id`: the result serialized straight after the envelope, or the error.
    pub(crate) async fn respond(&self, id: &Id, request: Authorized, env: Env) -> Vec<u8> {
        let stateless = env.version.is_stateless();
        // Most responses fit: one allocation instead of a series of doublings.
        let mut out = Vec::with_capacity(512);
        jsonrpc::start_result(id, &mut out);
        let start = out.len();
        match self.run_op(request.0, env, &mut out).await {
            Ok(()) => {
                insert_result_type(&mut out, start, stateless);
                jsonrpc::end_result(&mut out);
                out
            }
            Err(e) => jsonrpc::encode_error(Some(id), &e),
        }
    }

    /// Runs the request, appending its serialized result to `out`.
    async fn run_op(&self, parsed: Parsed, env: Env, out: &mut Vec<u8>) -> Result<(), RpcError> {
        let inner = &self.inner;
        let Parsed { id, meta, op } = parsed;
        match op {
            Op::Answer(bytes) => {
                if out.is_empty() {
                    *out = bytes;
                } else {
                    out.extend_from_slice(&bytes);
                }
                Ok(())
            }
            Op::CallTool { index, args } => {
                let tool = &inner.tools[index];
                let ctx = RequestContext::new(id, meta, env);
                let result = match (tool.handler)(ctx, args).await {
                    Ok(r) => r,
                    Err(ToolError::InvalidParams(m)) => {
                        return Err(RpcError::invalid_params(format!(
                            "invalid arguments for tool {:?}: {m}",
                            tool.descriptor.name
                        )))
                    }
                    Err(ToolError::Failed(m)) => CallToolResult::error(m),
                    Err(ToolError::Result(r)) => *r,
                };
                write(out, &result)
            }
            Op::ReadResource(uri) => {
                let ctx = RequestContext::new(id, meta, env);
                if let Some(r) = inner.resources.iter().find(|r| r.resource.uri == uri) {
                    let contents = (r.read)(ctx, uri, HashMap::new()).await?;
                    return write(out, &json!({ "contents": contents }));
                }
                for t in &inner.templates {
                    if let Some(vars) = match_template(&t.template.uri_template, &uri) {
                        let contents = (t.read)(ctx, uri, vars).await?;
                        return write(out, &json!({ "contents": contents }));
                    }
                }
                Err(RpcError::new(
                    code::RESOURCE_NOT_FOUND,
                    format!("resource not found: {uri:?}"),
                )
                .with_data(json!({ "uri": uri })))
            }
            Op::Subscribe(uri) => {
                if let Some(s) = &env.session {
                    s.subscribe(&uri)?;
                }
                out.extend_from_slice(b"{}");
                Ok(())
            }
            Op::Unsubscribe(uri) => {
                if let Some(s) = &env.session {
                    s.unsubscribe(&uri);
                }
                out.extend_from_slice(b"{}");
                Ok(())
            }
            Op::GetPrompt { index, args } => {
                let ctx = RequestContext::new(id, meta, env);
                let result = (inner.prompts[index].handler)(ctx, args).await?;
                write(out, &result)
            }
            Op::Complete(request) => {
                let completion = match &inner.completion {
                    Some(h) => h(RequestContext::new(id, meta, env), *request).await?,
                    None => Completion::default(),
                };
                write(out, &json!({ "completion": completion }))
            }
            Op::SetLevel(idx) => {
                if let Some(s) = &env.session {
                    s.set_log_level(idx);
                }
                out.extend_from_slice(b"{}");
                Ok(())
            }
        }
    }
}

fn to_vec<T: serde::Serialize>(v: &T) -> Result<Vec<u8>, RpcError> {
    // Most results fit: one allocation instead of a series of doublings.
    let mut out = Vec::with_capacity(512);
    write(&mut out, v)?;
    Ok(out)
}

/// Serializes `v` at the end of `out` (which gets 512 bytes when it has nothing yet).
fn write<T: serde::Serialize>(out: &mut Vec<u8>, v: &T) -> Result<(), RpcError> {
    if out.capacity() == 0 {
        out.reserve(512);
    }
    serde_json::to_writer(&mut *out, v)
        .map_err(|e| RpcError::internal(format!("cannot serialize result: {e}")))
}

/// Largest `clientInfo`, and largest `capabilities`, accepted at `initialize` (bytes of
/// JSON each): they are kept with the session for its whole life.
pub const MAX_CLIENT_INFO_BYTES: usize = 4 * 1024;

#[derive(Deserialize)]
struct InitializeParams<'a> {
    #[serde(rename = "protocolVersion")]
    protocol_version: std::borrow::Cow<'a, str>,
    #[serde(borrow, default)]
    capabilities: Option<&'a RawValue>,
    #[serde(rename = "clientInfo", borrow, default)]
    client_info: Option<&'a RawValue>,
}

/// A checked `initialize` request.
pub(crate) struct Initialize<'a> {
    /// The negotiated version.
    pub version: ProtocolVersion,
    /// `clientInfo` as JSON text (`null` when absent).
    pub client_info: &'a str,
    /// `capabilities` as JSON text (`null` when absent).
    pub capabilities: &'a str,
    /// The serialized `initialize` result.
    pub result: Vec<u8>,
}

impl Server {
    /// Parses and checks an `initialize` request: params an object, `clientInfo` and
    /// `capabilities` objects of at most [`MAX_CLIENT_INFO_BYTES`] each.
    pub(crate) fn initialize<'a>(&self, req: &Request<'a>) -> Result<Initialize<'a>, RpcError> {
        let p: InitializeParams<'a> = req.parse_params()?;
        let field = |name: &str, raw: Option<&'a RawValue>| -> Result<&'a str, RpcError> {
            let Some(raw) = raw else { return Ok("null") };
            let text = raw.get();
            if text == "null" {
                return Ok("null");
            }
            if !text.starts_with('{') {
                return Err(RpcError::invalid_params(format!(
                    "invalid params for initialize: {name} must be an object"
                )));
            }
            if text.len() > MAX_CLIENT_INFO_BYTES {
                return Err(RpcError::invalid_params(format!(
                    "invalid params for initialize: {name} is {} bytes; the limit is {MAX_CLIENT_INFO_BYTES}",
                    text.len()
                )));
            }
            Ok(text)
        };
        let client_info = field("clientInfo", p.client_info)?;
        let capabilities = field("capabilities", p.capabilities)?;
        let version = ProtocolVersion::negotiate(&p.protocol_version);
        Ok(Initialize {
            version,
            client_info,
            capabilities,
            result: self.initialize_result(version),
        })
    }
}
