//! JSON-RPC 2.0: our own message types, a decoder that never panics, and a fast encoder.
//!
//! Decoding borrows from the request body: the envelope is parsed once into raw slices
//! (`id`, `method`, `params`, `result`, `error`) and only the parts a method needs are
//! parsed further. Every malformed input maps to one of the standard error codes with a
//! message that says what to fix.

use std::fmt;
use std::sync::Arc;

use serde::de::{Deserializer, Error as _};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use serde_json::Value;

/// Standard JSON-RPC and MCP error codes.
pub mod code {
    /// Invalid JSON was received.
    pub const PARSE_ERROR: i64 = -32700;
    /// The JSON sent is not a valid request object.
    pub const INVALID_REQUEST: i64 = -32600;
    /// The method does not exist or is not available.
    pub const METHOD_NOT_FOUND: i64 = -32601;
    /// Invalid method parameters.
    pub const INVALID_PARAMS: i64 = -32602;
    /// Internal error.
    pub const INTERNAL_ERROR: i64 = -32603;
    /// MCP: the requested resource does not exist.
    pub const RESOURCE_NOT_FOUND: i64 = -32002;
    /// The request was cancelled before it completed.
    pub const REQUEST_CANCELLED: i64 = -32800;
    /// Server-defined: the server is not able to serve the request right now.
    pub const SERVER_UNAVAILABLE: i64 = -32000;
    /// MCP 2026-07-28: the HTTP headers do not match the body, or a required header is
    /// missing or malformed (HTTP 400).
    pub const HEADER_MISMATCH: i64 = -32020;
    /// MCP 2026-07-28: the request needs a client capability the client did not declare
    /// (HTTP 400); `data.requiredCapabilities` names it.
    pub const MISSING_REQUIRED_CLIENT_CAPABILITY: i64 = -32021;
    /// MCP 2026-07-28: the request's protocol version is not supported (HTTP 400);
    /// `data` holds `supported` and `requested`.
    pub const UNSUPPORTED_PROTOCOL_VERSION: i64 = -32022;
}

/// A JSON-RPC request id: a string or an integer (MCP forbids `null`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Id {
    /// Integer id.
    Num(i64),
    /// String id.
    Str(Arc<str>),
}

impl fmt::Display for Id {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Id::Num(n) => write!(f, "{n}"),
            Id::Str(s) => write!(f, "{s:?}"),
        }
    }
}

impl Serialize for Id {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Id::Num(n) => s.serialize_i64(*n),
            Id::Str(v) => s.serialize_str(v),
        }
    }
}

impl<'de> Deserialize<'de> for Id {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        match Value::deserialize(d)? {
            Value::String(s) => Ok(Id::Str(s.into())),
            Value::Number(n) => n
                .as_i64()
                .map(Id::Num)
                .ok_or_else(|| D::Error::custom("id must be an integer or a string")),
            _ => Err(D::Error::custom("id must be an integer or a string")),
        }
    }
}

impl Id {
    fn from_raw(raw: &RawValue) -> Option<Id> {
        let s = raw.get();
        match s.as_bytes().first()? {
            b'"' => serde_json::from_str::<String>(s)
                .ok()
                .map(|v| Id::Str(v.into())),
            b'-' | b'0'..=b'9' => s.parse::<i64>().ok().map(Id::Num),
            _ => None,
        }
    }

    /// Writes the id as JSON into `out`.
    pub fn write_json(&self, out: &mut Vec<u8>) {
        match self {
            // Integers serialize infallibly into a Vec, without a temporary string.
            Id::Num(n) => {
                let _ = serde_json::to_writer(&mut *out, n);
            }
            Id::Str(s) => {
                // Strings serialize infallibly into a Vec.
                let _ = serde_json::to_writer(&mut *out, &**s);
            }
        }
    }
}

/// A JSON-RPC error object, as sent to the peer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RpcError {
    /// One of the [`code`] constants or an application code.
    pub code: i64,
    /// A message a developer can act on.
    pub message: String,
    /// Optional structured detail.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data: Option<Value>,
}

impl fmt::Display for RpcError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.message, self.code)
    }
}

impl std::error::Error for RpcError {}

impl RpcError {
    /// An error with a code and message.
    pub fn new(code: i64, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
            data: None,
        }
    }
    /// `-32700`.
    pub fn parse(message: impl Into<String>) -> Self {
        Self::new(code::PARSE_ERROR, message)
    }
    /// `-32600`.
    pub fn invalid_request(message: impl Into<String>) -> Self {
        Self::new(code::INVALID_REQUEST, message)
    }
    /// `-32601`, naming the method.
    pub fn method_not_found(method: &str) -> Self {
        Self::new(
            code::METHOD_NOT_FOUND,
            format!("method not found: {method:?} is not a method this server implements"),
        )
    }
    /// `-32602`.
    pub fn invalid_params(message: impl Into<String>) -> Self {
        Self::new(code::INVALID_PARAMS, message)
    }
    /// `-32603`.
    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(code::INTERNAL_ERROR, message)
    }
    /// Attaches structured `data`.
    pub fn with_data(mut self, data: Value) -> Self {
        self.data = Some(data);
        self
    }
}

/// One decoded incoming message.
#[derive(Debug)]
pub enum Message<'a> {
    /// A request: it has an id and expects a response.
    Request(Request<'a>),
    /// A notification: no id, no response.
    Notification(Request<'a>),
    /// A response to a request this side sent.
    Response {
        /// The id of our request.
        id: Id,
        /// The result or the error.
        outcome: Result<Box<RawValue>, RpcError>,
    },
}

/// A request or notification, borrowing its `method` and `params` from the body.
#[derive(Debug)]
pub struct Request<'a> {
    /// The id (absent for notifications).
    pub id: Option<Id>,
    /// The method name.
    pub method: std::borrow::Cow<'a, str>,
    /// The raw `params`, if any.
    pub params: Option<&'a RawValue>,
}

impl<'a> Request<'a> {
    /// Parses `params` (or `{}` when absent) into `T`, mapping failures to `-32602`
    /// with serde's description of the offending field. Params that are not a JSON
    /// object are refused whatever `T` is (serde would read a struct from an array).
    pub fn parse_params<T: Deserialize<'a>>(&self) -> Result<T, RpcError> {
        parse_params(self.params, &self.method)
    }
}

/// Parses raw params (absent → `{}`) into `T`, failures becoming `-32602`. Only a JSON
/// object is accepted: MCP defines every method's params as one.
pub fn parse_params<'a, T: Deserialize<'a>>(
    params: Option<&'a RawValue>,
    method: &str,
) -> Result<T, RpcError> {
    let text = match params.map(|p| p.get()) {
        None | Some("null") => "{}",
        Some(t) => t,
    };
    if !text.starts_with('{') {
        return Err(RpcError::invalid_params(format!(
            "invalid params for {method}: params must be a JSON object"
        )));
    }
    serde_json::from_str(text)
        .map_err(|e| RpcError::invalid_params(format!("invalid params for {method}: {e}")))
}

/// A decode failure: the error to send and the id to send it with (when one was readable).
#[derive(Debug)]
pub struct DecodeError {
    /// The request id, when the envelope had a readable one.
    pub id: Option<Id>,
    /// The error to answer with.
    pub error: RpcError,
}

#[derive(Deserialize)]
struct Envelope<'a> {
    #[serde(borrow, default, deserialize_with = "raw_present")]
    jsonrpc: Option<&'a RawValue>,
    #[serde(borrow, default, deserialize_with = "raw_present")]
    id: Option<&'a RawValue>,
    #[serde(borrow, default, deserialize_with = "raw_present")]
    method: Option<&'a RawValue>,
    #[serde(borrow, default, deserialize_with = "raw_present")]
    params: Option<&'a RawValue>,
    #[serde(borrow, default, deserialize_with = "raw_present")]
    result: Option<&'a RawValue>,
    #[serde(borrow, default, deserialize_with = "raw_present")]
    error: Option<&'a RawValue>,
}

/// Keeps an explicit `null` as `Some("null")` so it can be told apart from absence.
fn raw_present<'de, D: Deserializer<'de>>(d: D) -> Result<Option<&'de RawValue>, D::Error> {
    <&'de RawValue>::deserialize(d).map(Some)
}

/// Decodes one JSON-RPC message from a body. Never panics; every failure is a
/// [`DecodeError`] carrying the right code.
pub fn decode(body: &[u8]) -> Result<Message<'_>, DecodeError> {
    let first = body.iter().find(|b| !b.is_ascii_whitespace()).copied();
    match first {
        None => {
            return Err(DecodeError {
                id: None,
                error: RpcError::invalid_request(
                    "invalid request: the body is empty; send one JSON-RPC 2.0 message",
                ),
            })
        }
        Some(b'[') => {
            // Distinguish a syntactically broken array from a batch.
            let error = match serde_json::from_slice::<&RawValue>(body) {
                Err(e) => RpcError::parse(format!("parse error: {e}")),
                Ok(_) => RpcError::invalid_request(
                    "invalid request: JSON-RPC batches are not supported (removed in MCP 2025-06-18); send one message per request",
                ),
            };
            return Err(DecodeError { id: None, error });
        }
        Some(b'{') => {}
        Some(_) => {
            let error = match serde_json::from_slice::<&RawValue>(body) {
                Err(e) => RpcError::parse(format!("parse error: {e}")),
                Ok(_) => RpcError::invalid_request(
                    "invalid request: a JSON-RPC message must be a JSON object",
                ),
            };
            return Err(DecodeError { id: None, error });
        }
    }
    let env: Envelope<'_> = match serde_json::from_slice(body) {
        Ok(env) => env,
        Err(e) if e.is_data() => {
            return Err(DecodeError {
                id: None,
                error: RpcError::invalid_request(format!("invalid request: {e}")),
            })
        }
        Err(e) => {
            return Err(DecodeError {
                id: None,
                error: RpcError::parse(format!("parse error: {e}")),
            })
        }
    };

    let id = match env.id {
        None => None,
        Some(raw) => match Id::from_raw(raw) {
            Some(id) => Some(id),
            None => {
                return Err(DecodeError {
                    id: None,
                    error: RpcError::invalid_request(format!(
                        "invalid request: \"id\" must be a string or an integer, got {}",
                        truncate(raw.get(), 40)
                    )),
                })
            }
        },
    };
    let fail = |msg: String| DecodeError {
        id: id.clone(),
        error: RpcError::invalid_request(msg),
    };
    match env.jsonrpc.map(|r| r.get()) {
        Some("\"2.0\"") => {}
        Some(other) => {
            return Err(fail(format!(
                "invalid request: \"jsonrpc\" must be \"2.0\", got {}",
                truncate(other, 40)
            )))
        }
        None => return Err(fail("invalid request: missing \"jsonrpc\": \"2.0\"".into())),
    }

    if let Some(method_raw) = env.method {
        let method: Result<std::borrow::Cow<'_, str>, serde_json::Error> =
            match plain_str(method_raw.get()) {
                // A string without escapes or control characters is its own text.
                Some(m) => Ok(std::borrow::Cow::Borrowed(m)),
                None => serde_json::from_str(method_raw.get()),
            };
        let method = match method {
            Ok(m) => m,
            Err(_) => {
                return Err(fail(format!(
                    "invalid request: \"method\" must be a string, got {}",
                    truncate(method_raw.get(), 40)
                )))
            }
        };
        if method.is_empty() {
            return Err(fail("invalid request: \"method\" is empty".into()));
        }
        if let Some(p) = env.params {
            // JSON-RPC also allows by-position (array) params, but MCP defines every
            // method's params as an object: anything else is refused before it can be
            // read two ways.
            if !p.get().starts_with('{') && p.get() != "null" {
                return Err(DecodeError {
                    id: id.clone(),
                    error: RpcError::invalid_params(format!(
                        "invalid params for {method}: \"params\" must be a JSON object, got {}",
                        truncate(p.get(), 40)
                    )),
                });
            }
        }
        let req = Request {
            id: id.clone(),
            method,
            params: env.params.filter(|p| p.get() != "null"),
        };
        return Ok(if id.is_some() {
            Message::Request(req)
        } else {
            Message::Notification(req)
        });
    }

    // No method: a response to one of our requests.
    let Some(id) = id.clone() else {
        return Err(fail(
            "invalid request: a message needs \"method\" (request/notification) or \"id\" with \"result\"/\"error\" (response)".into(),
        ));
    };
    let outcome = match (env.result, env.error) {
        (Some(r), None) => Ok(r.to_owned()),
        (None, Some(e)) => match serde_json::from_str::<RpcError>(e.get()) {
            Ok(err) => Err(err),
            Err(_) => return Err(fail("invalid response: malformed \"error\" object".into())),
        },
        _ => {
            return Err(fail(
                "invalid response: exactly one of \"result\" or \"error\" is required".into(),
            ))
        }
    };
    Ok(Message::Response { id, outcome })
}

/// The text of a JSON string literal that has no escapes (nor control characters, which
/// JSON forbids unescaped), else `None`.
fn plain_str(raw: &str) -> Option<&str> {
    let inner = raw.strip_prefix('"')?.strip_suffix('"')?;
    inner
        .bytes()
        .all(|b| b != b'\\' && b >= 0x20)
        .then_some(inner)
}

fn truncate(s: &str, max: usize) -> String {
    if s.len() <= max {
        s.to_string()
    } else {
        let mut end = max;
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        format!("{}…", &s[..end])
    }
}

/// Encodes a success response around an already-serialized result.
pub fn encode_result(id: &Id, result: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(result.len() + 40);
    start_result(id, &mut out);
    out.extend_from_slice(result);
    end_result(&mut out);
    out
}

/// Writes the start of a success response into `out`: the result follows, then
/// [`end_result`].
pub(crate) fn start_result(id: &Id, out: &mut Vec<u8>) {
    out.extend_from_slice(br#"{"jsonrpc":"2.0","id":"#);
    id.write_json(out);
    out.extend_from_slice(br#","result":"#);
}

/// Closes a success response begun with [`start_result`].
pub(crate) fn end_result(out: &mut Vec<u8>) {
    out.push(b'}');
}

/// Encodes an error response (`id` is `null` when the request's id was unreadable).
pub fn encode_error(id: Option<&Id>, error: &RpcError) -> Vec<u8> {
    let mut out = Vec::with_capacity(96 + error.message.len());
    out.extend_from_slice(br#"{"jsonrpc":"2.0","id":"#);
    match id {
        Some(id) => id.write_json(&mut out),
        None => out.extend_from_slice(b"null"),
    }
    out.extend_from_slice(br#","error":"#);
    let _ = serde_json::to_writer(&mut out, error);
    out.push(b'}');
    out
}

/// Encodes a notification.
pub fn encode_notification(method: &str, params: &Value) -> Vec<u8> {
    let mut out = Vec::with_capacity(128);
    out.extend_from_slice(br#"{"jsonrpc":"2.0","method":"#);
    let _ = serde_json::to_writer(&mut out, method);
    out.extend_from_slice(br#","params":"#);
    let _ = serde_json::to_writer(&mut out, params);
    out.push(b'}');
    out
}

/// Encodes a request this side sends to the peer.
pub fn encode_request(id: &Id, method: &str, params: &Value) -> Vec<u8> {
    let mut out = Vec::with_capacity(128);
    out.extend_from_slice(br#"{"jsonrpc":"2.0","id":"#);
    id.write_json(&mut out);
    out.extend_from_slice(br#","method":"#);
    let _ = serde_json::to_writer(&mut out, method);
    out.extend_from_slice(br#","params":"#);
    let _ = serde_json::to_writer(&mut out, params);
    out.push(b'}');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err_code(body: &str) -> i64 {
        match decode(body.as_bytes()) {
            Err(e) => e.error.code,
            Ok(m) => panic!("expected an error for {body}, got {m:?}"),
        }
    }

    #[test]
    fn decodes_request_notification_and_response() {
        match decode(br#"{"jsonrpc":"2.0","id":7,"method":"tools/list","params":{}}"#).unwrap() {
            Message::Request(r) => {
                assert_eq!(r.id, Some(Id::Num(7)));
                assert_eq!(r.method, "tools/list");
            }
            m => panic!("{m:?}"),
        }
        assert!(matches!(
            decode(br#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#).unwrap(),
            Message::Notification(_)
        ));
        match decode(br#"{"jsonrpc":"2.0","id":"s-1","result":{"ok":true}}"#).unwrap() {
            Message::Response { id, outcome } => {
                assert_eq!(id, Id::Str("s-1".into()));
                assert_eq!(outcome.unwrap().get(), r#"{"ok":true}"#);
            }
            m => panic!("{m:?}"),
        }
    }

    #[test]
    fn malformed_input_maps_to_the_right_codes() {
        assert_eq!(err_code("{"), code::PARSE_ERROR);
        assert_eq!(err_code("{\"jsonrpc\":\"2.0\",}"), code::PARSE_ERROR);
        assert_eq!(err_code("not json"), code::PARSE_ERROR);
        assert_eq!(err_code("[1,"), code::PARSE_ERROR);
        assert_eq!(err_code(""), code::INVALID_REQUEST);
        assert_eq!(err_code("42"), code::INVALID_REQUEST);
        assert_eq!(err_code("[]"), code::INVALID_REQUEST);
        assert_eq!(err_code(r#"{"id":1,"method":"x"}"#), code::INVALID_REQUEST);
        assert_eq!(
            err_code(r#"{"jsonrpc":"1.0","id":1,"method":"x"}"#),
            code::INVALID_REQUEST
        );
        assert_eq!(
            err_code(r#"{"jsonrpc":"2.0","id":1,"method":5}"#),
            code::INVALID_REQUEST
        );
        assert_eq!(
            err_code(r#"{"jsonrpc":"2.0","id":null,"method":"x"}"#),
            code::INVALID_REQUEST
        );
        assert_eq!(
            err_code(r#"{"jsonrpc":"2.0","id":1.5,"method":"x"}"#),
            code::INVALID_REQUEST
        );
        // MCP params are objects: any other shape is -32602 before dispatch.
        for params in ["3", "[]", r#"["server_time",{}]"#, r#""x""#, "true"] {
            let body =
                format!(r#"{{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{params}}}"#);
            let e = decode(body.as_bytes()).unwrap_err();
            assert_eq!(e.error.code, code::INVALID_PARAMS, "{params}");
            assert_eq!(e.id, Some(Id::Num(1)), "{params}");
        }
        assert_eq!(
            err_code(r#"{"jsonrpc":"2.0","id":1,"method":"x","params":{},"params":[]}"#),
            code::INVALID_REQUEST
        );
        assert_eq!(
            err_code(r#"{"jsonrpc":"2.0","id":1}"#),
            code::INVALID_REQUEST
        );
        assert_eq!(
            err_code(r#"{"jsonrpc":"2.0","method":"a","method":"b"}"#),
            code::INVALID_REQUEST
        );
    }

    #[test]
    fn id_is_kept_for_errors_after_the_id_was_read() {
        let e = decode(br#"{"jsonrpc":"2.0","id":"abc","method":12}"#).unwrap_err();
        assert_eq!(e.id, Some(Id::Str("abc".into())));
        let out = String::from_utf8(encode_error(e.id.as_ref(), &e.error)).unwrap();
        let v: Value = serde_json::from_str(&out).unwrap();
        assert_eq!(v["id"], "abc");
        assert_eq!(v["error"]["code"], code::INVALID_REQUEST);
    }

    #[test]
    fn encoders_produce_valid_json() {
        let out = encode_result(&Id::Str("a\"b".into()), br#"{"x":1}"#);
        let v: Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(v["id"], "a\"b");
        assert_eq!(v["result"]["x"], 1);
        let n = encode_notification("notifications/progress", &serde_json::json!({"p":1}));
        let v: Value = serde_json::from_slice(&n).unwrap();
        assert_eq!(v["method"], "notifications/progress");
    }

    #[test]
    fn decoder_survives_arbitrary_bytes() {
        // A cheap deterministic fuzz: every prefix and byte flip of valid messages.
        let base = br#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"x","arguments":{"a":[1,2,{"b":"\u00e9"}]}}}"#;
        for end in 0..=base.len() {
            let _ = decode(&base[..end]);
        }
        for i in 0..base.len() {
            for flip in [0x01u8, 0x20, 0x80, 0xff] {
                let mut b = base.to_vec();
                b[i] ^= flip;
                let _ = decode(&b);
            }
        }
    }
}
