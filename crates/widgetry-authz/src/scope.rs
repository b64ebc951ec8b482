//! Scope strings (RFC 6749 §3.3): space-separated scope tokens.

/// Whether `s` is a valid scope token: `%x21 / %x23-5B / %x5D-7E`, non-empty.
pub(crate) fn is_scope_token(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b == 0x21 || (0x23..=0x5B).contains(&b) || (0x5D..=0x7E).contains(&b))
}

/// Splits a `scope` parameter into distinct tokens, in order.
pub(crate) fn parse_scope(s: &str) -> Result<Vec<String>, String> {
    let mut out: Vec<String> = Vec::new();
    for token in s.split(' ').filter(|t| !t.is_empty()) {
        if !is_scope_token(token) {
            return Err(format!("{token:?} is not a valid scope"));
        }
        if !out.iter().any(|t| t == token) {
            out.push(token.to_owned());
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_dedupes() {
        assert_eq!(parse_scope("a  b a").unwrap(), vec!["a", "b"]);
        assert!(parse_scope("a \"b\"").is_err());
        assert!(parse_scope("").unwrap().is_empty());
    }
}
