//! The Streamable HTTP request and response headers of MCP.

/// Header carrying the session id.
pub const SESSION_HEADER: &str = "mcp-session-id";
/// Header carrying the protocol version.
pub const VERSION_HEADER: &str = "mcp-protocol-version";
/// 2026-07-28 routing header naming the method.
pub const METHOD_HEADER: &str = "mcp-method";
/// 2026-07-28 routing header naming the tool, prompt or resource.
pub const NAME_HEADER: &str = "mcp-name";

// The same names parsed once: a lookup by `HeaderName` skips parsing the name.
pub(crate) static SESSION_NAME: http::HeaderName = http::HeaderName::from_static(SESSION_HEADER);
pub(crate) static VERSION_NAME: http::HeaderName = http::HeaderName::from_static(VERSION_HEADER);
pub(crate) static METHOD_NAME: http::HeaderName = http::HeaderName::from_static(METHOD_HEADER);
pub(crate) static NAME_NAME: http::HeaderName = http::HeaderName::from_static(NAME_HEADER);
