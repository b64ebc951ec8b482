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
use super::input::{self, InputRequired, InputRound, Step, MAX_INPUT_ROUNDS};
use super::request_state::Binding;
use super::session::{self, SessionRuntime};
use super::ui::{self, ClientView};
use super::{match_template, RequestContext, Server, ToolError};
use crate::auth::Verdict;
use crate::identity::{Auth, Caller, Refusal};
use crate::protocol::cache::CacheHint;
use crate::protocol::jsonrpc::{self, code, Id, Request, RpcError};
use crate::protocol::types::{CallToolResult, CompleteRequest, Completion, JsonObject};
use crate::protocol::{
    ProtocolVersion, META_CLIENT_CAPABILITIES, META_CLIENT_INFO, META_PROTOCOL_VERSION,
};

/// Why a request was not run: a JSON-RPC error, or a refusal the transport renders at
/// its own level (HTTP 401/403 with a challenge).
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Failure {
    /// Answer with this JSON-RPC error.
    Rpc(RpcError),
    /// Answer with this JSON-RPC error; the request itself is malformed for its protocol
    /// version (2026-07-28 `_meta`, headers, capabilities): HTTP 400.
    BadRequest(RpcError),
    /// Answer with this JSON-RPC error (`-32601`); the method does not exist in the
    /// request's protocol version (2026-07-28): HTTP 404.
    NotFound(RpcError),
    /// Refuse at the transport level.
    Refused(Refusal),
}

impl Failure {
    /// The JSON-RPC error, for transports without HTTP statuses (`None`: a refusal).
    pub(crate) fn into_rpc(self) -> Result<RpcError, Refusal> {
        match self {
            Failure::Rpc(e) | Failure::BadRequest(e) | Failure::NotFound(e) => Ok(e),
            Failure::Refused(r) => Err(r),
        }
    }
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
    /// Whether the request is a 2026-07-28 one (its client is described in its `_meta`).
    stateless: bool,
    op: Op,
    /// A 2026-07-28 retry's `inputResponses` and sealed `requestState`.
    retry: Option<Box<Retry>>,
}

/// What a 2026-07-28 retry of an input-required request brings back.
#[derive(Debug)]
struct Retry {
    responses: JsonObject,
    state: Option<String>,
}

#[derive(Debug)]
enum Op {
    /// A ready result (ping, a challenge result).
    Answer(Vec<u8>),
    /// A ready result that already carries its 2026-07-28 fields when it needs them
    /// (pre-serialized lists and discovery).
    Prebuilt(Vec<u8>),
    /// A `tools/list` page, picked in [`Server::authorize`] by what the client renders.
    ListTools(Option<String>),
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
            Op::Answer(mut bytes) => {
                Done::Complete(None).mark(&mut bytes, 0, stateless);
                Ready::Answer(bytes)
            }
            Op::Prebuilt(bytes) => Ready::Answer(bytes),
            _ => Ready::Run(self),
        }
    }
}

/// How a run ended, for the 2026-07-28 fields its result gets.
enum Done {
    /// A complete result, cacheable with this hint when it has one.
    Complete(Option<CacheHint>),
    /// An input-required result (already carries its `resultType`).
    InputRequired,
}

impl Done {
    /// Adds `resultType` (and the caching fields) to the result object that starts at
    /// `out[start]` (2026-07-28 only).
    fn mark(&self, out: &mut Vec<u8>, start: usize, stateless: bool) {
        let Done::Complete(cache) = self else { return };
        if !stateless || out.get(start) != Some(&b'{') {
            return;
        }
        let mut field = String::from(r#""resultType":"complete""#);
        if let Some(c) = cache {
            field.push(',');
            field.push_str(&c.fields());
        }
        if out.get(start + 1) != Some(&b'}') {
            field.push(',');
        }
        out.splice(start + 1..start + 1, field.bytes());
    }
}

/// What a run answered: the JSON-RPC response and whether it is an error the transport
/// reports as a bad request (HTTP 400: a capability the client did not declare).
pub(crate) struct Reply {
    /// The whole JSON-RPC response.
    pub body: Vec<u8>,
    /// Whether it is a request-level rejection (HTTP 400 on 2026-07-28).
    pub bad_request: bool,
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

    /// The tool's input schema and the call's arguments, when the request is a tool
    /// call of a tool this (stateless) client can see (for the 2026-07-28 `Mcp-Param-*`
    /// header check). A client without the UI extension cannot see an app-only tool, so
    /// it cannot know its header parameters: the call is left to [`Server::authorize`],
    /// which refuses it naming the extension.
    pub(crate) fn tool_call<'s>(&'s self, server: &'s Server) -> Option<(&'s Value, &'s RawValue)> {
        match &self.op {
            Op::CallTool { index, args } => {
                let tool = &server.inner.tools[*index].descriptor;
                let hidden = ui::app_only(tool) && !server.renders_ui(self, None);
                (!hidden).then_some((&tool.input_schema, &**args))
            }
            _ => None,
        }
    }

    /// The registered name of the tool a `tools/call` runs (bounded: only names the
    /// server knows), for metrics and spans.
    pub(crate) fn tool<'s>(&'s self, server: &'s Server) -> Option<&'s str> {
        match &self.op {
            Op::CallTool { index, .. } => Some(&server.inner.tools[*index].descriptor.name),
            _ => None,
        }
    }

    /// What the request names (tool or prompt name, resource URI), for the
    /// 2026-07-28 `Mcp-Name` header check.
    pub(crate) fn name<'s>(&'s self, server: &'s Server) -> Option<&'s str> {
        match &self.op {
            Op::CallTool { .. } => self.tool(server),
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
    #[serde(rename = "inputResponses", default)]
    input_responses: Option<Value>,
    #[serde(rename = "requestState", default)]
    request_state: Option<String>,
}

/// A 2026-07-28 retry (`inputResponses`, `requestState`) of a request that may be
/// answered with an input-required result; older versions ignore the fields, which
/// they do not define.
fn retry(
    stateless: bool,
    input_responses: Option<Value>,
    request_state: Option<String>,
) -> Result<Option<Box<Retry>>, Failure> {
    if !stateless || (input_responses.is_none() && request_state.is_none()) {
        return Ok(None);
    }
    let responses = input::check_responses(input_responses)
        .map_err(|m| Failure::Rpc(RpcError::invalid_params(m)))?;
    Ok(Some(Box::new(Retry {
        responses,
        state: request_state,
    })))
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
    #[serde(rename = "inputResponses", default)]
    input_responses: Option<Value>,
    #[serde(rename = "requestState", default)]
    request_state: Option<String>,
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

/// A request's params, typed. On 2026-07-28 params that do not fit the method's schema
/// make the request malformed: HTTP 400.
fn params<'a, T: Deserialize<'a>>(req: &Request<'a>, stateless: bool) -> Result<T, Failure> {
    req.parse_params().map_err(|e| {
        if stateless {
            Failure::BadRequest(e)
        } else {
            Failure::Rpc(e)
        }
    })
}

/// Checks the `_meta` every 2026-07-28 request must carry: an object with
/// `io.modelcontextprotocol/protocolVersion` (a string) and
/// `io.modelcontextprotocol/clientCapabilities` (an object). `clientInfo` is optional.
fn check_request_meta(meta: Option<&JsonObject>) -> Result<(), Failure> {
    let bad = |m: String| Err(Failure::BadRequest(RpcError::invalid_params(m)));
    let Some(meta) = meta else {
        return bad(format!(
            "invalid params: 2026-07-28 requests must carry params._meta with {META_PROTOCOL_VERSION:?} and {META_CLIENT_CAPABILITIES:?}"
        ));
    };
    match meta.get(META_PROTOCOL_VERSION) {
        Some(Value::String(_)) => {}
        None => {
            return bad(format!(
                "invalid params: _meta lacks {META_PROTOCOL_VERSION:?}"
            ))
        }
        Some(v) => {
            return bad(format!(
                "invalid params: _meta {META_PROTOCOL_VERSION:?} must be a string, not {}",
                crate::protocol::json_type(v)
            ))
        }
    }
    match meta.get(META_CLIENT_CAPABILITIES) {
        Some(Value::Object(_)) => Ok(()),
        None => bad(format!(
            "invalid params: _meta lacks {META_CLIENT_CAPABILITIES:?}"
        )),
        Some(v) => bad(format!(
            "invalid params: _meta {META_CLIENT_CAPABILITIES:?} must be an object, not {}",
            crate::protocol::json_type(v)
        )),
    }
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
            Err(format!(
                "expected an object, got {}",
                crate::protocol::json_type(&v)
            ))
        }
    }
}

impl Server {
    /// Parses one request's params and looks up its tool or prompt (everything but
    /// `initialize` on older versions, which the transport handles because it creates
    /// the session). `version` is the request's protocol version: on 2026-07-28 the
    /// methods it removed are unknown (`-32601`, HTTP 404), and every request must carry
    /// the `_meta` fields it requires (`-32602`, HTTP 400).
    pub(crate) fn parse(
        &self,
        req: &Request<'_>,
        version: ProtocolVersion,
    ) -> Result<Parsed, Failure> {
        let stateless = version.is_stateless();
        let parsed = self.parse_op(req, stateless)?;
        if stateless {
            check_request_meta(parsed.meta.as_ref())?;
        }
        Ok(parsed)
    }

    fn parse_op(&self, req: &Request<'_>, stateless: bool) -> Result<Parsed, Failure> {
        let inner = &self.inner;
        let id = req.id.clone();
        let done = |meta: Option<JsonObject>, op: Op| {
            Ok(Parsed {
                id: id.clone(),
                meta,
                stateless,
                op,
                retry: None,
            })
        };
        match &*req.method {
            "tools/call" => {
                let p: CallToolParams<'_> = params(req, stateless)?;
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
                Ok(Parsed {
                    id,
                    meta: p.meta,
                    stateless,
                    op: Op::CallTool { index, args },
                    retry: retry(stateless, p.input_responses, p.request_state)?,
                })
            }
            "tools/list" => {
                let p: ListParams = params(req, stateless)?;
                done(p.meta, Op::ListTools(p.cursor))
            }
            "resources/list" => {
                self.list(req, stateless, inner.resource_pages.for_version(stateless))
            }
            "resources/templates/list" => {
                self.list(req, stateless, inner.template_pages.for_version(stateless))
            }
            "prompts/list" => self.list(req, stateless, inner.prompt_pages.for_version(stateless)),
            "server/discover" => {
                let m: MetaOnly = params(req, stateless)?;
                let body = if stateless {
                    &inner.discover_2026
                } else {
                    &inner.discover
                };
                done(m.meta, Op::Prebuilt(body.clone()))
            }
            "resources/read" => {
                let p: UriParams = params(req, stateless)?;
                done(p.meta, Op::ReadResource(p.uri))
            }
            "prompts/get" => {
                let p: GetPromptParams = params(req, stateless)?;
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
                Ok(Parsed {
                    id,
                    meta: p.meta,
                    stateless,
                    op: Op::GetPrompt { index, args },
                    retry: retry(stateless, p.input_responses, p.request_state)?,
                })
            }
            "completion/complete" => {
                let p: CompleteParams = params(req, stateless)?;
                done(p.meta, Op::Complete(Box::new(p.request)))
            }
            // Removed in 2026-07-28: no session, so no ping, no session log level, no
            // session subscriptions, no handshake.
            "ping"
            | "logging/setLevel"
            | "resources/subscribe"
            | "resources/unsubscribe"
            | "initialize"
                if stateless =>
            {
                Err(Failure::NotFound(RpcError::method_not_found(&req.method)))
            }
            "ping" => {
                let m: MetaOnly = params(req, stateless)?;
                done(m.meta, Op::Answer(b"{}".to_vec()))
            }
            "resources/subscribe" | "resources/unsubscribe" => {
                let p: UriParams = params(req, stateless)?;
                let op = if req.method == "resources/subscribe" {
                    Op::Subscribe(p.uri)
                } else {
                    Op::Unsubscribe(p.uri)
                };
                done(p.meta, op)
            }
            "logging/setLevel" => {
                let p: SetLevelParams = params(req, stateless)?;
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
            other if stateless => Err(Failure::NotFound(RpcError::method_not_found(other))),
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
            stateless: false,
            op: Op::CallTool { index, args },
            retry: None,
        })
    }

    /// The one policy check: a tool call runs only when the tool's policy admits
    /// `caller`; otherwise it is answered with a challenge result or refused. `session`
    /// is the request's session, if any (its client name picks the challenge's form).
    /// What the client renders is decided here too ([`super::ui`]): the `tools/list`
    /// page it sees, and whether it may call an app-only tool.
    pub(crate) fn authorize(
        &self,
        parsed: Parsed,
        caller: &Caller,
        session: Option<&SessionRuntime>,
    ) -> Result<Authorized, Failure> {
        let index = match &parsed.op {
            Op::CallTool { index, .. } => *index,
            Op::ListTools(cursor) => {
                let ui = self.renders_ui(&parsed, session);
                let pages = match &self.inner.text_tool_pages {
                    Some(text) if !ui => text,
                    _ => &self.inner.tool_pages,
                };
                let pages = pages.for_version(parsed.stateless);
                let idx = match cursor {
                    None => 0,
                    Some(c) => super::decode_cursor(c, pages.len())?,
                };
                return Ok(Authorized(Parsed {
                    op: Op::Prebuilt(pages[idx].clone()),
                    ..parsed
                }));
            }
            _ => return Ok(Authorized(parsed)),
        };
        let tool = &self.inner.tools[index];
        if ui::app_only(&tool.descriptor) && !self.renders_ui(&parsed, session) {
            return Err(RpcError::invalid_params(format!(
                "tool {:?} is for widgets only (_meta.ui.visibility [\"app\"]); this client did not declare the {} extension",
                tool.descriptor.name,
                ui::UI_EXTENSION
            ))
            .into());
        }
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

    /// Whether the request's client renders widgets: on 2026-07-28 by the capabilities
    /// and client info in its `_meta`, otherwise by what its session's client declared
    /// at `initialize`.
    fn renders_ui(&self, parsed: &Parsed, session: Option<&SessionRuntime>) -> bool {
        let meta = parsed.meta.as_ref();
        let view = if parsed.stateless {
            ClientView {
                capabilities: meta
                    .and_then(|m| m.get(META_CLIENT_CAPABILITIES))
                    .and_then(Value::as_object),
                name: meta
                    .and_then(|m| m.get(META_CLIENT_INFO))
                    .and_then(|i| i.get("name"))
                    .and_then(Value::as_str),
                meta,
            }
        } else {
            ClientView {
                capabilities: session.and_then(SessionRuntime::declared_capabilities),
                name: session.and_then(SessionRuntime::client_name),
                meta,
            }
        };
        view.renders_ui(self.inner.config.ui_clients)
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

    fn list(
        &self,
        req: &Request<'_>,
        stateless: bool,
        pages: &[Vec<u8>],
    ) -> Result<Parsed, Failure> {
        let p: ListParams = params(req, stateless)?;
        let idx = match &p.cursor {
            None => 0,
            Some(c) => super::decode_cursor(c, pages.len())?,
        };
        Ok(Parsed {
            id: req.id.clone(),
            meta: p.meta,
            stateless,
            op: Op::Prebuilt(pages[idx].clone()),
            retry: None,
        })
    }

    /// Runs an authorized request and returns the serialized `result`. 2026-07-28
    /// results carry `resultType` (and their caching fields).
    pub(crate) async fn run(&self, request: Authorized, env: Env) -> Result<Vec<u8>, RpcError> {
        let stateless = env.version.is_stateless();
        let mut out = Vec::new();
        let done = self.run_op(request.0, env, &mut out).await?;
        done.mark(&mut out, 0, stateless);
        Ok(out)
    }

    /// Runs an authorized request and returns the whole JSON-RPC response to request
    /// `id`: the result serialized straight after the envelope, or the error.
    pub(crate) async fn respond(&self, id: &Id, request: Authorized, env: Env) -> Reply {
        let stateless = env.version.is_stateless();
        // Most responses fit: one allocation instead of a series of doublings.
        let mut out = Vec::with_capacity(512);
        jsonrpc::start_result(id, &mut out);
        let start = out.len();
        match self.run_op(request.0, env, &mut out).await {
            Ok(done) => {
                done.mark(&mut out, start, stateless);
                jsonrpc::end_result(&mut out);
                Reply {
                    body: out,
                    bad_request: false,
                }
            }
            Err(e) => Reply {
                bad_request: stateless && e.code == code::MISSING_REQUIRED_CLIENT_CAPABILITY,
                body: jsonrpc::encode_error(Some(id), &e),
            },
        }
    }

    /// Runs the request, appending its serialized result to `out`.
    async fn run_op(&self, parsed: Parsed, env: Env, out: &mut Vec<u8>) -> Result<Done, RpcError> {
        let inner = &self.inner;
        let Parsed {
            id,
            meta,
            op,
            retry,
            ..
        } = parsed;
        match op {
            // Resolved into its page by `authorize`, the only way to an `Authorized`.
            Op::ListTools(_) => Err(RpcError::internal(
                "tools/list reached the handler without its page",
            )),
            Op::Answer(bytes) | Op::Prebuilt(bytes) => {
                if out.is_empty() {
                    *out = bytes;
                } else {
                    out.extend_from_slice(&bytes);
                }
                Ok(Done::Complete(None))
            }
            Op::CallTool { index, args } => {
                let tool = &inner.tools[index];
                let name = tool.descriptor.name.as_str();
                let round = self.open_retry(retry, &env, "tools/call", name, Some(&args))?;
                // A copy of the arguments for the rounds after an InputRequired, only where
                // there can be one (2026-07-28, or a session to ask the client through).
                let again =
                    (env.version.is_stateless() || env.session.is_some()).then(|| args.clone());
                let mut first = Some(args);
                let mut ctx = RequestContext::with_input(id, meta, env, round);
                let mut rounds = 0;
                let result = loop {
                    let args = match first.take() {
                        Some(a) => a,
                        None => again.clone().unwrap_or_else(super::empty_args),
                    };
                    match (tool.handler)(ctx.clone(), args).await {
                        Ok(r) => break r,
                        Err(ToolError::InvalidParams(m)) => {
                            return Err(RpcError::invalid_params(format!(
                                "invalid arguments for tool {name:?}: {m}"
                            )))
                        }
                        Err(ToolError::Failed(m)) => break CallToolResult::error(m),
                        Err(ToolError::Result(r)) => break *r,
                        Err(ToolError::InputRequired(ir)) => {
                            if ctx.protocol_version().is_stateless() {
                                let arguments = again.as_deref().map(arguments_value);
                                let at = Binding {
                                    principal: ctx.caller().subject(),
                                    method: "tools/call",
                                    name,
                                    arguments: arguments.as_ref(),
                                };
                                return self.input_required(out, &ctx, *ir, &at);
                            }
                            ctx = gather(&ctx, *ir, &mut rounds).await?;
                        }
                    }
                };
                write(out, &result)?;
                Ok(Done::Complete(None))
            }
            Op::ReadResource(uri) => {
                let ctx = RequestContext::new(id, meta, env);
                let stateless = ctx.protocol_version().is_stateless();
                if let Some(r) = inner.resources.iter().find(|r| r.resource.uri == uri) {
                    let contents = (r.read)(ctx, uri, HashMap::new()).await?;
                    write(out, &json!({ "contents": contents }))?;
                    return Ok(Done::Complete(Some(
                        r.cache.unwrap_or(inner.config.resource_cache),
                    )));
                }
                for t in &inner.templates {
                    if let Some(vars) = match_template(&t.template.uri_template, &uri) {
                        let contents = (t.read)(ctx, uri, vars).await?;
                        write(out, &json!({ "contents": contents }))?;
                        return Ok(Done::Complete(Some(
                            t.cache.unwrap_or(inner.config.resource_cache),
                        )));
                    }
                }
                // 2026-07-28 standardizes on -32602 (SEP-2164); earlier versions use -32002.
                let code = if stateless {
                    code::INVALID_PARAMS
                } else {
                    code::RESOURCE_NOT_FOUND
                };
                Err(RpcError::new(code, format!("resource not found: {uri:?}"))
                    .with_data(json!({ "uri": uri })))
            }
            Op::Subscribe(uri) => {
                if let Some(s) = &env.session {
                    s.subscribe(&uri)?;
                }
                out.extend_from_slice(b"{}");
                Ok(Done::Complete(None))
            }
            Op::Unsubscribe(uri) => {
                if let Some(s) = &env.session {
                    s.unsubscribe(&uri);
                }
                out.extend_from_slice(b"{}");
                Ok(Done::Complete(None))
            }
            Op::GetPrompt { index, args } => {
                let prompt = &inner.prompts[index];
                let name = prompt.prompt.name.as_str();
                let round = self.open_retry(retry, &env, "prompts/get", name, None)?;
                let mut ctx = RequestContext::with_input(id, meta, env, round);
                let mut rounds = 0;
                let result = loop {
                    match (prompt.handler)(ctx.clone(), args.clone()).await? {
                        Step::Done(r) => break r,
                        Step::Input(ir) => {
                            if ctx.protocol_version().is_stateless() {
                                let at = Binding {
                                    principal: ctx.caller().subject(),
                                    method: "prompts/get",
                                    name,
                                    arguments: Some(&json!(args)),
                                };
                                return self.input_required(out, &ctx, ir, &at);
                            }
                            ctx = gather(&ctx, ir, &mut rounds).await?;
                        }
                    }
                };
                write(out, &result)?;
                Ok(Done::Complete(None))
            }
            Op::Complete(request) => {
                let completion = match &inner.completion {
                    Some(h) => h(RequestContext::new(id, meta, env), *request).await?,
                    None => Completion::default(),
                };
                write(out, &json!({ "completion": completion }))?;
                Ok(Done::Complete(None))
            }
            Op::SetLevel(idx) => {
                if let Some(s) = &env.session {
                    s.set_log_level(idx);
                }
                out.extend_from_slice(b"{}");
                Ok(Done::Complete(None))
            }
        }
    }

    /// Opens a 2026-07-28 retry: its `requestState` must have been sealed by this server
    /// for this caller and this request and not have expired; anything else is refused
    /// (`-32602`) before the handler runs.
    fn open_retry(
        &self,
        retry: Option<Box<Retry>>,
        env: &Env,
        method: &str,
        name: &str,
        args: Option<&RawValue>,
    ) -> Result<Option<InputRound>, RpcError> {
        let Some(retry) = retry else { return Ok(None) };
        let Retry { responses, state } = *retry;
        let state = match state {
            None => None,
            Some(sealed) => {
                let arguments = args.map(arguments_value);
                let at = Binding {
                    principal: env.caller.subject(),
                    method,
                    name,
                    arguments: arguments.as_ref(),
                };
                let opened = self
                    .inner
                    .state_key
                    .open(&at, &sealed, widgetry_store::now_ms())
                    .map_err(|e| RpcError::invalid_params(e.to_string()))?;
                Some(opened)
            }
        };
        Ok(Some(InputRound { responses, state }))
    }

    /// Answers a 2026-07-28 request with an input-required result: the requests (only
    /// those the client declared it can answer: otherwise `-32021`) and the handler's
    /// state sealed for this caller and request.
    fn input_required(
        &self,
        out: &mut Vec<u8>,
        ctx: &RequestContext,
        ir: InputRequired,
        at: &Binding<'_>,
    ) -> Result<Done, RpcError> {
        check_capabilities(ctx, &ir)?;
        let mut result = JsonObject::new();
        result.insert("resultType".into(), json!("input_required"));
        if !ir.requests.is_empty() {
            result.insert("inputRequests".into(), Value::Object(ir.requests));
        }
        if let Some(state) = &ir.state {
            let sealed = self.inner.state_key.seal(
                at,
                state,
                self.inner.config.input_state_ttl,
                widgetry_store::now_ms(),
            );
            result.insert("requestState".into(), Value::String(sealed));
        }
        write(out, &result)?;
        Ok(Done::InputRequired)
    }
}

/// The arguments of a tool call as a value (they were checked to be a JSON object).
fn arguments_value(args: &RawValue) -> Value {
    serde_json::from_str(args.get()).unwrap_or(Value::Null)
}

/// Refuses an [`InputRequired`] that is empty or asks for what the client did not
/// declare it can answer (`-32021` with `data.requiredCapabilities`).
fn check_capabilities(ctx: &RequestContext, ir: &InputRequired) -> Result<(), RpcError> {
    if ir.requests.is_empty() && ir.state.is_none() {
        return Err(RpcError::internal(
            "the handler asked for input without naming any request or state",
        ));
    }
    let missing: JsonObject = ir
        .capabilities_needed()
        .into_iter()
        .filter(|(c, _)| !ctx.client_supports(c))
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    let names: Vec<&str> = missing.keys().map(String::as_str).collect();
    Err(RpcError::new(
        code::MISSING_REQUIRED_CLIENT_CAPABILITY,
        format!(
            "this request needs client capabilities the client did not declare: {}",
            names.join(", ")
        ),
    )
    .with_data(json!({ "requiredCapabilities": missing })))
}

/// Older versions: gets the answers to `ir`'s requests from the client over the
/// session (server-to-client requests) and returns the context of the next round.
async fn gather(
    ctx: &RequestContext,
    ir: InputRequired,
    rounds: &mut usize,
) -> Result<RequestContext, RpcError> {
    *rounds += 1;
    if *rounds > MAX_INPUT_ROUNDS {
        return Err(RpcError::internal(format!(
            "the handler asked for input more than {MAX_INPUT_ROUNDS} times"
        )));
    }
    if ctx.session_id().is_none() && !ir.requests.is_empty() {
        return Err(RpcError::internal(format!(
            "this request needs input from the client, which protocol version {} can only ask for within a session (this server or transport is stateless)",
            ctx.protocol_version()
        )));
    }
    check_capabilities(ctx, &ir)?;
    // Elicitation's `mode` arrived in 2025-11-25; earlier clients know only forms.
    let modeless = ctx.protocol_version().as_str() < "2025-11-25";
    let mut responses = JsonObject::new();
    for (key, request) in ir.requests {
        let method = request["method"].as_str().unwrap_or_default();
        let mut params = request.get("params").cloned().unwrap_or_else(|| json!({}));
        if modeless && params.get("mode").and_then(Value::as_str) == Some("form") {
            if let Some(p) = params.as_object_mut() {
                p.remove("mode");
            }
        }
        let answer = ctx.request_client(method, params).await?;
        responses.insert(key, answer);
    }
    Ok(ctx.next_round(InputRound {
        responses,
        state: ir.state,
    }))
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
