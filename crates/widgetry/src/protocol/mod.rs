//! The MCP wire protocol: JSON-RPC framing, protocol versions, and the MCP data types
//! (tools, content, resources, prompts) as our own serde types.

pub mod cache;
pub mod jsonrpc;
pub mod types;

/// The protocol versions this server speaks, oldest first.
pub const SUPPORTED_VERSIONS: &[&str] = &[
    "2024-11-05",
    "2025-03-26",
    "2025-06-18",
    "2025-11-25",
    "2026-07-28",
];

/// The newest version negotiated through `initialize` (2026-07-28 has no handshake).
pub const LATEST_HANDSHAKE_VERSION: &str = "2025-11-25";

/// The stateless revision: no `initialize`, no session, `server/discover`.
pub const STATELESS_VERSION: &str = "2026-07-28";

/// The version assumed when an HTTP request carries no `MCP-Protocol-Version` header.
pub const DEFAULT_HTTP_VERSION: &str = "2025-03-26";

/// `_meta` key carrying the protocol version in stateless requests.
pub const META_PROTOCOL_VERSION: &str = "io.modelcontextprotocol/protocolVersion";

/// `_meta` key carrying the client's `Implementation` in stateless requests (2026-07-28).
pub const META_CLIENT_INFO: &str = "io.modelcontextprotocol/clientInfo";

/// Result `_meta` key carrying the server's `Implementation` (2026-07-28).
pub const META_SERVER_INFO: &str = "io.modelcontextprotocol/serverInfo";

/// `_meta` key carrying a stateless request's log level (2026-07-28): without it the
/// server sends no `notifications/message` for the request.
pub const META_LOG_LEVEL: &str = "io.modelcontextprotocol/logLevel";

/// `_meta` key carrying the client's capabilities in stateless requests (2026-07-28).
pub const META_CLIENT_CAPABILITIES: &str = "io.modelcontextprotocol/clientCapabilities";

/// Whether `id` is a valid MCP extension identifier, `{vendor-prefix}/{extension-name}`
/// (SEP-2133: the `_meta` key rules with a mandatory prefix). The prefix is dot-separated
/// labels, each starting with a letter and ending with a letter or digit, with letters,
/// digits and hyphens inside; the name starts and ends with a letter or digit, with
/// letters, digits, `-`, `_` and `.` inside.
///
/// ```
/// use widgetry::protocol::is_extension_id;
/// assert!(is_extension_id("io.modelcontextprotocol/ui"));
/// assert!(is_extension_id("com.example/websocket-transport"));
/// assert!(!is_extension_id("ui"));
/// assert!(!is_extension_id("com.example/"));
/// assert!(!is_extension_id("1com.example/x"));
/// ```
pub fn is_extension_id(id: &str) -> bool {
    let Some((prefix, name)) = id.split_once('/') else {
        return false;
    };
    let label_ok = |l: &str| {
        let b = l.as_bytes();
        matches!(b.first(), Some(c) if c.is_ascii_alphabetic())
            && matches!(b.last(), Some(c) if c.is_ascii_alphanumeric())
            && b.iter().all(|c| c.is_ascii_alphanumeric() || *c == b'-')
    };
    let n = name.as_bytes();
    prefix.split('.').all(label_ok)
        && matches!(n.first(), Some(c) if c.is_ascii_alphanumeric())
        && matches!(n.last(), Some(c) if c.is_ascii_alphanumeric())
        && n.iter()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b'.'))
}

/// The `UnsupportedProtocolVersionError` (`-32022`) for a request naming `requested`:
/// `data` lists the versions this server supports and echoes the requested one.
pub(crate) fn unsupported_version_error(requested: &str) -> jsonrpc::RpcError {
    jsonrpc::RpcError::new(
        jsonrpc::code::UNSUPPORTED_PROTOCOL_VERSION,
        format!(
            "unsupported protocol version {requested:?}; supported: {}",
            SUPPORTED_VERSIONS.join(", ")
        ),
    )
    .with_data(serde_json::json!({"supported": SUPPORTED_VERSIONS, "requested": requested}))
}

/// The protocol version a request names in its `_meta`
/// (`io.modelcontextprotocol/protocolVersion`, 2026-07-28 and later), read without
/// parsing the rest of `params`: `Ok(None)` when it names none, the
/// `UnsupportedProtocolVersionError` when it names one this server does not speak.
pub(crate) fn meta_version(
    params: Option<&serde_json::value::RawValue>,
) -> Result<Option<ProtocolVersion>, jsonrpc::RpcError> {
    let Some(raw) = params else { return Ok(None) };
    // Only requests that mention the key pay for the parse.
    if !raw.get().contains(META_PROTOCOL_VERSION) {
        return Ok(None);
    }
    #[derive(serde::Deserialize)]
    struct Params<'a> {
        #[serde(rename = "_meta", borrow, default)]
        meta: Option<Meta<'a>>,
    }
    #[derive(serde::Deserialize)]
    struct Meta<'a> {
        #[serde(rename = "io.modelcontextprotocol/protocolVersion", borrow, default)]
        version: Option<std::borrow::Cow<'a, str>>,
    }
    let Ok(p) = serde_json::from_str::<Params<'_>>(raw.get()) else {
        return Ok(None);
    };
    match p.meta.and_then(|m| m.version) {
        None => Ok(None),
        Some(v) => ProtocolVersion::parse(&v)
            .map(Some)
            .ok_or_else(|| unsupported_version_error(&v)),
    }
}

/// The JSON type name of a value, for error messages.
pub(crate) fn json_type(v: &serde_json::Value) -> &'static str {
    match v {
        serde_json::Value::Null => "null",
        serde_json::Value::Bool(_) => "a boolean",
        serde_json::Value::Number(_) => "a number",
        serde_json::Value::String(_) => "a string",
        serde_json::Value::Array(_) => "an array",
        serde_json::Value::Object(_) => "an object",
    }
}

/// A protocol version this server supports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ProtocolVersion(&'static str);

impl ProtocolVersion {
    /// Looks up a supported version by its date string.
    pub fn parse(s: &str) -> Option<Self> {
        SUPPORTED_VERSIONS
            .iter()
            .find(|v| **v == s)
            .map(|v| ProtocolVersion(v))
    }
    /// The date string.
    pub fn as_str(&self) -> &'static str {
        self.0
    }
    /// Whether this is the stateless revision (2026-07-28 or later).
    pub fn is_stateless(&self) -> bool {
        self.0 >= STATELESS_VERSION
    }
    /// Negotiates the version answered to an `initialize` asking for `requested`.
    pub fn negotiate(requested: &str) -> Self {
        match Self::parse(requested) {
            Some(v) if !v.is_stateless() => v,
            _ => ProtocolVersion(LATEST_HANDSHAKE_VERSION),
        }
    }
}

impl std::fmt::Display for ProtocolVersion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn negotiation_echoes_known_versions_and_falls_back_to_latest() {
        assert_eq!(
            ProtocolVersion::negotiate("2025-06-18").as_str(),
            "2025-06-18"
        );
        assert_eq!(
            ProtocolVersion::negotiate("2024-11-05").as_str(),
            "2024-11-05"
        );
        assert_eq!(
            ProtocolVersion::negotiate("1999-01-01").as_str(),
            LATEST_HANDSHAKE_VERSION
        );
        assert_eq!(
            ProtocolVersion::negotiate("2026-07-28").as_str(),
            LATEST_HANDSHAKE_VERSION
        );
        assert!(ProtocolVersion::parse("2026-07-28").unwrap().is_stateless());
        assert!(!ProtocolVersion::parse("2025-11-25").unwrap().is_stateless());
    }
}
