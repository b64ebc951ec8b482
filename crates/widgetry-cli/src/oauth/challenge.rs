//! `WWW-Authenticate: Bearer …` challenges (RFC 6750 §3, RFC 9728 §5.1): the
//! parameters a resource server sends with a 401 or 403, and the same strings found
//! in a tool result's `_meta["mcp/www_authenticate"]`.

use std::collections::BTreeMap;

use super::scope::ScopeSet;

/// The Bearer challenge's parameters that drive the client.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Challenge {
    /// `error` (`invalid_token`, `insufficient_scope`, `invalid_request`).
    pub error: Option<String>,
    /// `error_description`.
    pub error_description: Option<String>,
    /// `scope`: what the operation needs.
    pub scope: Option<ScopeSet>,
    /// `resource_metadata`: where the protected-resource metadata lives.
    pub resource_metadata: Option<String>,
}

impl Challenge {
    /// Reads the first Bearer challenge out of one or more header values (each may
    /// hold several comma-separated challenges). No Bearer challenge gives the default.
    pub fn from_headers<'a>(values: impl IntoIterator<Item = &'a str>) -> Self {
        for value in values {
            for (scheme, params) in parse_challenges(value) {
                if scheme.eq_ignore_ascii_case("bearer") {
                    return Self::from_params(&params);
                }
            }
        }
        Self::default()
    }

    fn from_params(params: &BTreeMap<String, String>) -> Self {
        let get = |k: &str| params.get(k).filter(|v| !v.is_empty()).cloned();
        Self {
            error: get("error"),
            error_description: get("error_description"),
            scope: get("scope")
                .map(|s| ScopeSet::parse(&s))
                .filter(|s| !s.is_empty()),
            resource_metadata: get("resource_metadata"),
        }
    }

    /// Whether this is a step-up request (`error="insufficient_scope"`).
    pub fn is_insufficient_scope(&self) -> bool {
        self.error.as_deref() == Some("insufficient_scope")
    }

    /// `error: description` for messages.
    pub fn describe(&self) -> String {
        match (&self.error, &self.error_description) {
            (Some(e), Some(d)) => format!("{e}: {d}"),
            (Some(e), None) => e.clone(),
            (None, Some(d)) => d.clone(),
            (None, None) => "no details".into(),
        }
    }
}

/// Splits a header value into `(scheme, params)` challenges. Auth-params are
/// `name=token` or `name="quoted string"`; a bare token after a comma starts the
/// next challenge (token68 values are skipped).
fn parse_challenges(value: &str) -> Vec<(String, BTreeMap<String, String>)> {
    let mut out: Vec<(String, BTreeMap<String, String>)> = Vec::new();
    let mut chars = value.chars().peekable();
    loop {
        while matches!(chars.peek(), Some(c) if c.is_whitespace() || *c == ',') {
            chars.next();
        }
        if chars.peek().is_none() {
            break;
        }
        let mut token = String::new();
        while let Some(&c) = chars.peek() {
            if c.is_whitespace() || c == ',' || c == '=' {
                break;
            }
            token.push(c);
            chars.next();
        }
        while matches!(chars.peek(), Some(c) if c.is_whitespace()) {
            chars.next();
        }
        if chars.peek() == Some(&'=') {
            chars.next();
            // `=` directly after a token: a parameter of the current challenge, or
            // the tail of a token68 (`abc==`), which we skip.
            while matches!(chars.peek(), Some(c) if c.is_whitespace()) {
                chars.next();
            }
            let value = if chars.peek() == Some(&'"') {
                chars.next();
                let mut v = String::new();
                while let Some(c) = chars.next() {
                    match c {
                        '\\' => {
                            if let Some(n) = chars.next() {
                                v.push(n);
                            }
                        }
                        '"' => break,
                        _ => v.push(c),
                    }
                }
                v
            } else {
                let mut v = String::new();
                while let Some(&c) = chars.peek() {
                    if c == ',' {
                        break;
                    }
                    v.push(c);
                    chars.next();
                }
                v.trim().to_string()
            };
            if let Some((_, params)) = out.last_mut() {
                params.insert(token.to_ascii_lowercase(), value);
            }
        } else if !token.is_empty() {
            out.push((token, BTreeMap::new()));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_quoted_and_bare_parameters_of_the_bearer_challenge() {
        let c = Challenge::from_headers([
            r#"Basic realm="x", Bearer error="insufficient_scope", scope="a b", resource_metadata="http://h/.well-known/oauth-protected-resource/mcp", error_description="needs \"b\"""#,
        ]);
        assert!(c.is_insufficient_scope());
        assert_eq!(c.scope.unwrap().to_string(), "a b");
        assert_eq!(
            c.resource_metadata.as_deref(),
            Some("http://h/.well-known/oauth-protected-resource/mcp")
        );
        assert_eq!(c.error_description.as_deref(), Some(r#"needs "b""#));

        let bare = Challenge::from_headers(["Bearer error=invalid_token, scope=read"]);
        assert_eq!(bare.error.as_deref(), Some("invalid_token"));
        assert_eq!(bare.scope.unwrap().to_string(), "read");
    }

    #[test]
    fn missing_or_foreign_challenges_give_no_parameters() {
        assert_eq!(
            Challenge::from_headers(["Basic realm=\"x\""]),
            Challenge::default()
        );
        assert_eq!(
            Challenge::from_headers(Vec::<&str>::new()),
            Challenge::default()
        );
        assert_eq!(Challenge::from_headers(["Bearer"]), Challenge::default());
    }
}
