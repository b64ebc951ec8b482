//! Asking the user (or the client) for input in the middle of a request, on every
//! protocol version, with one handler shape.
//!
//! A handler that needs input returns [`InputRequired`] (for tools:
//! `Err(ToolError::InputRequired(..))`, for prompts: [`Step::Input`]) naming what it needs
//! — an elicitation form, a sampling request, the client's roots — and, optionally, a
//! state to get back. The engine then gets the answers and calls the handler again, with
//! the answers in [`RequestContext::input_response`](super::RequestContext::input_response)
//! and the state in [`RequestContext::input_state`](super::RequestContext::input_state):
//!
//! - on 2026-07-28 it answers the request with an `input_required` result (multi
//!   round-trip requests); the client asks the user and retries the request with
//!   `inputResponses` and the sealed `requestState` ([`super::request_state`]), which
//!   reaches the handler only after its integrity, expiry, caller and request binding
//!   were checked;
//! - on older versions, within a session, it sends the requests to the client itself
//!   (`elicitation/create`, `sampling/createMessage`, `roots/list` over the response
//!   stream), waits for the answers and calls the handler again at once.
//!
//! Either way the handler is called afresh each round: it keeps nothing in memory
//! between rounds and so works behind a load balancer without sticky sessions.

use serde_json::{json, Value};

use crate::protocol::types::JsonObject;

/// The requests an [`InputRequired`] may carry, with the client capability each needs.
pub const INPUT_METHODS: &[(&str, &str)] = &[
    ("elicitation/create", "elicitation"),
    ("sampling/createMessage", "sampling"),
    ("roots/list", "roots"),
];

/// The client capability a request to the client needs (`None`: not a request the server
/// may send).
pub fn capability_for(method: &str) -> Option<&'static str> {
    INPUT_METHODS
        .iter()
        .find(|(m, _)| *m == method)
        .map(|(_, c)| *c)
}

/// What a handler needs before it can finish: requests to the client, keyed by names the
/// handler chooses, and an optional state to get back with the answers.
///
/// ```
/// use serde_json::json;
/// use widgetry::{InputRequired, RequestContext, ToolError};
/// use widgetry::protocol::types::CallToolResult;
///
/// async fn greet(ctx: RequestContext) -> Result<CallToolResult, ToolError> {
///     let Some(answer) = ctx.input_response("user_name") else {
///         return Err(InputRequired::new()
///             .elicit(
///                 "user_name",
///                 "What is your name?",
///                 json!({"type": "object", "properties": {"name": {"type": "string"}},
///                        "required": ["name"]}),
///             )
///             .into());
///     };
///     let name = answer["content"]["name"].as_str().unwrap_or("stranger");
///     Ok(CallToolResult::text(format!("Hello, {name}!")))
/// }
/// ```
#[derive(Debug, Clone, Default, PartialEq)]
pub struct InputRequired {
    pub(crate) requests: JsonObject,
    pub(crate) state: Option<Value>,
}

impl InputRequired {
    /// Nothing asked yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Asks the user to fill a form (`elicitation/create`, form mode) described by
    /// `requested_schema` (a flat object schema of primitive properties). The answer is
    /// an `ElicitResult`: `{"action": "accept"|"decline"|"cancel", "content": {..}}`.
    pub fn elicit(self, key: impl Into<String>, message: &str, requested_schema: Value) -> Self {
        self.request(
            key,
            "elicitation/create",
            json!({"mode": "form", "message": message, "requestedSchema": requested_schema}),
        )
    }

    /// Asks the client's model for a completion (`sampling/createMessage` with these
    /// params: `messages`, `maxTokens`, …). The answer is a `CreateMessageResult`.
    pub fn sample(self, key: impl Into<String>, params: Value) -> Self {
        self.request(key, "sampling/createMessage", params)
    }

    /// Asks for the client's roots (`roots/list`). The answer is a `ListRootsResult`.
    pub fn list_roots(self, key: impl Into<String>) -> Self {
        self.request(key, "roots/list", json!({}))
    }

    /// Adds a request to the client: `method` is one of `elicitation/create`, `sampling/createMessage` and `roots/list`. A later request
    /// with the same key replaces the earlier one.
    ///
    /// # Panics
    /// When `method` is not a request a server may send the client (a programming
    /// error).
    pub fn request(mut self, key: impl Into<String>, method: &str, params: Value) -> Self {
        assert!(
            capability_for(method).is_some(),
            "{method:?} is not a request a server may send the client (use one of {:?})",
            INPUT_METHODS.iter().map(|(m, _)| *m).collect::<Vec<_>>()
        );
        self.requests
            .insert(key.into(), json!({"method": method, "params": params}));
        self
    }

    /// A state the handler gets back, unchanged, in the next round
    /// ([`RequestContext::input_state`](super::RequestContext::input_state)). On
    /// 2026-07-28 it travels through the client sealed (encrypted and authenticated),
    /// bound to the caller and to this request, and expires after
    /// [`ServerConfig::input_state_ttl`](super::ServerConfig::input_state_ttl).
    pub fn state(mut self, state: Value) -> Self {
        self.state = Some(state);
        self
    }

    /// The requests by key (`{"method": .., "params": ..}` each).
    pub fn requests(&self) -> &JsonObject {
        &self.requests
    }

    /// The client capabilities these requests need (e.g. `{"elicitation": {}}`).
    pub fn capabilities_needed(&self) -> JsonObject {
        self.requests
            .values()
            .filter_map(|r| r.get("method")?.as_str())
            .filter_map(capability_for)
            .map(|c| (c.to_string(), json!({})))
            .collect()
    }
}

/// What a prompt handler produced: the prompt, or a request for input first.
#[derive(Debug, Clone, PartialEq)]
pub enum Step<T> {
    /// The finished result.
    Done(T),
    /// Input is needed first (see [`InputRequired`]).
    Input(InputRequired),
}

/// The answers and state of the current round, handed to the handler.
#[derive(Debug, Clone, Default)]
pub(crate) struct InputRound {
    pub responses: JsonObject,
    pub state: Option<Value>,
}

/// The largest number of rounds the engine drives itself on older protocol versions
/// before giving up (a handler that never stops asking).
pub const MAX_INPUT_ROUNDS: usize = 16;

/// Checks a request's `inputResponses`: an object whose values are objects.
pub(crate) fn check_responses(v: Option<Value>) -> Result<JsonObject, String> {
    match v {
        None | Some(Value::Null) => Ok(JsonObject::new()),
        Some(Value::Object(m)) => {
            if let Some((k, v)) = m.iter().find(|(_, v)| !v.is_object()) {
                return Err(format!(
                    "inputResponses[{k:?}] must be an object (the client's result for that request), not {}",
                    crate::protocol::json_type(v)
                ));
            }
            Ok(m)
        }
        Some(other) => Err(format!(
            "inputResponses must be an object, not {}",
            crate::protocol::json_type(&other)
        )),
    }
}
