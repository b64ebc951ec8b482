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

/// The prefix of 2026-07-28 custom headers mirroring tool arguments (`x-mcp-header`).
pub const PARAM_HEADER_PREFIX: &str = "mcp-param-";

/// Why a 2026-07-28 request's headers were refused (answered `-32020`, HTTP 400).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct HeaderMismatch(pub String);

/// Reads a header value that may use the Base64 sentinel (`=?base64?…?=`): its text,
/// decoded. A value that is not visible ASCII (plus space and tab), a sentinel whose
/// content is not canonical Base64, or a decoded value that is not UTF-8 is refused.
pub(crate) fn decode_header_value(
    name: &str,
    raw: &http::HeaderValue,
) -> Result<String, HeaderMismatch> {
    use base64::Engine as _;
    let bytes = raw.as_bytes();
    if !bytes
        .iter()
        .all(|b| (0x20..=0x7e).contains(b) || *b == b'\t')
    {
        return Err(HeaderMismatch(format!(
            "Header mismatch: the {name} header contains characters outside visible ASCII; Base64-encode the value (=?base64?…?=)"
        )));
    }
    let text = std::str::from_utf8(bytes)
        .unwrap_or_default()
        .trim_matches([' ', '\t']);
    let Some(inner) = text
        .strip_prefix("=?base64?")
        .and_then(|t| t.strip_suffix("?="))
    else {
        return Ok(text.to_string());
    };
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(inner)
        .map_err(|e| {
            HeaderMismatch(format!(
                "Header mismatch: the {name} header is not valid Base64: {e}"
            ))
        })?;
    String::from_utf8(decoded).map_err(|_| {
        HeaderMismatch(format!(
            "Header mismatch: the {name} header's Base64 value is not UTF-8"
        ))
    })
}

/// A tool argument mirrored into an `Mcp-Param-{name}` header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ParamHeader {
    /// The header name (lower case).
    pub header: String,
    /// The chain of `properties` keys leading to the argument.
    pub path: Vec<String>,
}

/// The `x-mcp-header` annotations of a tool's input schema, reachable from the root
/// through `properties` only (annotations elsewhere are not valid and are ignored, as a
/// conforming client excludes such a tool).
pub(crate) fn param_headers(schema: &serde_json::Value) -> Vec<ParamHeader> {
    fn walk(schema: &serde_json::Value, path: &mut Vec<String>, out: &mut Vec<ParamHeader>) {
        let Some(props) = schema.get("properties").and_then(|p| p.as_object()) else {
            return;
        };
        for (key, sub) in props {
            path.push(key.clone());
            if let Some(name) = sub.get("x-mcp-header").and_then(|h| h.as_str()) {
                out.push(ParamHeader {
                    header: format!("{PARAM_HEADER_PREFIX}{}", name.to_ascii_lowercase()),
                    path: path.clone(),
                });
            }
            walk(sub, path, out);
            path.pop();
        }
    }
    let mut out = Vec::new();
    // Only tools that use the extension pay for the walk.
    if schema.to_string().contains("x-mcp-header") {
        walk(schema, &mut Vec::new(), &mut out);
    }
    out
}

/// The header form of an argument value: strings as is, integers in decimal, booleans
/// as `true`/`false` (`None` for other types, which cannot be mirrored).
fn header_form(v: &serde_json::Value) -> Option<String> {
    match v {
        serde_json::Value::String(s) => Some(s.clone()),
        serde_json::Value::Bool(b) => Some(b.to_string()),
        serde_json::Value::Number(n) => {
            if let Some(i) = n.as_i64() {
                Some(i.to_string())
            } else {
                n.as_f64()
                    .filter(|f| f.fract() == 0.0 && f.abs() < 9_007_199_254_740_992.0)
                    .map(|f| format!("{}", f as i64))
            }
        }
        _ => None,
    }
}

/// Checks a tool call's `Mcp-Param-*` headers against its arguments: each annotated
/// argument present in the body must come with its header, equal after decoding
/// (integers compared as numbers); a header without its argument is refused too.
pub(crate) fn check_param_headers(
    h: &http::HeaderMap,
    params: &[ParamHeader],
    arguments: &serde_json::Value,
) -> Result<(), HeaderMismatch> {
    for p in params {
        let mut value = Some(arguments);
        for key in &p.path {
            value = value.and_then(|v| v.get(key));
        }
        let value = value.filter(|v| !v.is_null());
        let header = h.get(p.header.as_str());
        match (value, header) {
            (None, None) => {}
            (Some(_), None) => {
                return Err(HeaderMismatch(format!(
                    "Header mismatch: the argument {:?} is in the body but its {} header is missing",
                    p.path.join("."),
                    p.header
                )))
            }
            (None, Some(_)) => {
                return Err(HeaderMismatch(format!(
                    "Header mismatch: the {} header is present but the argument {:?} is not in the body",
                    p.header,
                    p.path.join(".")
                )))
            }
            (Some(v), Some(raw)) => {
                let got = decode_header_value(&p.header, raw)?;
                let want = header_form(v);
                let same = match (v, &want) {
                    (serde_json::Value::Number(n), _) => got
                        .parse::<f64>()
                        .ok()
                        .zip(n.as_f64())
                        .is_some_and(|(a, b)| a == b),
                    (_, Some(w)) => &got == w,
                    (_, None) => false,
                };
                if !same {
                    return Err(HeaderMismatch(format!(
                        "Header mismatch: the {} header value {got:?} does not match the body value {v}",
                        p.header
                    )));
                }
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn hv(s: &str) -> http::HeaderValue {
        http::HeaderValue::from_str(s).unwrap()
    }

    #[test]
    fn sentinel_values_decode_and_bad_ones_are_refused() {
        assert_eq!(
            decode_header_value("x", &hv("us-west1")).unwrap(),
            "us-west1"
        );
        assert_eq!(
            decode_header_value("x", &hv("=?base64?SGVsbG8sIOS4lueVjA==?=")).unwrap(),
            "Hello, 世界"
        );
        assert_eq!(
            decode_header_value("x", &hv("=?base64?PT9iYXNlNjQ/bGl0ZXJhbD89?=")).unwrap(),
            "=?base64?literal?="
        );
        for bad in ["=?base64?SGVsbG8?=", "=?base64?S*GVs?=", "=?base64?_w==?="] {
            assert!(decode_header_value("x", &hv(bad)).is_err(), "{bad}");
        }
        let non_ascii = http::HeaderValue::from_bytes("é".as_bytes()).unwrap();
        assert!(decode_header_value("x", &non_ascii).is_err());
    }

    #[test]
    fn annotations_are_found_only_through_properties() {
        let schema = json!({"type": "object", "properties": {
            "region": {"type": "string", "x-mcp-header": "Region"},
            "nested": {"type": "object", "properties": {"id": {"type": "integer", "x-mcp-header": "Id"}}},
            "list": {"type": "array", "items": {"type": "string", "x-mcp-header": "Nope"}},
        }});
        let found = param_headers(&schema);
        assert_eq!(found.len(), 2);
        assert!(found.contains(&ParamHeader {
            header: "mcp-param-region".into(),
            path: vec!["region".into()]
        }));
        assert!(found.contains(&ParamHeader {
            header: "mcp-param-id".into(),
            path: vec!["nested".into(), "id".into()]
        }));
    }

    #[test]
    fn param_headers_must_match_the_body() {
        let params = vec![
            ParamHeader {
                header: "mcp-param-region".into(),
                path: vec!["region".into()],
            },
            ParamHeader {
                header: "mcp-param-n".into(),
                path: vec!["n".into()],
            },
        ];
        let mut h = http::HeaderMap::new();
        h.insert("mcp-param-region", hv("us-west1"));
        h.insert("mcp-param-n", hv("42.0"));
        assert!(check_param_headers(&h, &params, &json!({"region": "us-west1", "n": 42})).is_ok());
        assert!(check_param_headers(&h, &params, &json!({"region": "eu", "n": 42})).is_err());
        assert!(check_param_headers(&h, &params, &json!({"region": "us-west1", "n": 43})).is_err());
        assert!(check_param_headers(&h, &params, &json!({"region": "us-west1"})).is_err());
        h.remove("mcp-param-n");
        assert!(check_param_headers(&h, &params, &json!({"region": "us-west1", "n": 1})).is_err());
        assert!(
            check_param_headers(&h, &params, &json!({"region": "us-west1", "n": null})).is_ok()
        );
    }
}
