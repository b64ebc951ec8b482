//! Scope sets and the MCP scope selection strategy (2025-11-25, "Scope Selection
//! Strategy" and "Step-Up Authorization Flow"): first the challenge's `scope`, else the
//! protected resource's `scopes_supported`, else no `scope` parameter at all; a step-up
//! asks for the union of what was asked before and what the new challenge names.

use std::fmt;

/// An ordered set of scope tokens (first-seen order, no duplicates).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ScopeSet(Vec<String>);

impl ScopeSet {
    /// Parses a space-separated `scope` value.
    pub fn parse(s: &str) -> Self {
        Self::from_iter(s.split_whitespace())
    }

    /// Whether there is no scope.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Whether `scope` is in the set.
    pub fn contains(&self, scope: &str) -> bool {
        self.0.iter().any(|s| s == scope)
    }

    /// Whether every scope of `other` is in this set.
    pub fn contains_all(&self, other: &ScopeSet) -> bool {
        other.0.iter().all(|s| self.contains(s))
    }

    /// This set plus the scopes of `other` not yet in it.
    pub fn union(&self, other: &ScopeSet) -> ScopeSet {
        let mut out = self.clone();
        out.extend(other.0.iter().cloned());
        out
    }

    /// Adds one scope.
    pub fn insert(&mut self, scope: &str) {
        if !scope.is_empty() && !self.contains(scope) {
            self.0.push(scope.to_string());
        }
    }

    /// The `scope` parameter value, or `None` when empty (the parameter is omitted).
    pub fn to_param(&self) -> Option<String> {
        (!self.is_empty()).then(|| self.to_string())
    }
}

impl<S: Into<String>> FromIterator<S> for ScopeSet {
    fn from_iter<I: IntoIterator<Item = S>>(iter: I) -> Self {
        let mut out = ScopeSet::default();
        out.extend(iter);
        out
    }
}

impl<S: Into<String>> Extend<S> for ScopeSet {
    fn extend<I: IntoIterator<Item = S>>(&mut self, iter: I) {
        for s in iter {
            let s: String = s.into();
            self.insert(s.trim());
        }
    }
}

impl serde::Serialize for ScopeSet {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_string())
    }
}

impl<'de> serde::Deserialize<'de> for ScopeSet {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Ok(Self::parse(&s))
    }
}

impl fmt::Display for ScopeSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0.join(" "))
    }
}

/// The `offline_access` scope (asks for a refresh token).
pub const OFFLINE_ACCESS: &str = "offline_access";

/// The scopes for a new authorization request.
///
/// `challenged`: the challenge's `scope`; `supported`: the protected resource's
/// `scopes_supported`; `previous`: what this client asked for before for the same
/// resource (kept so a new sign-in does not lose permissions); `extra`: what the user
/// asked for on the command line; `as_supported`: the authorization server's
/// `scopes_supported` (only consulted for `offline_access`, SEP-2207).
pub fn select(
    challenged: Option<&ScopeSet>,
    supported: Option<&ScopeSet>,
    previous: &ScopeSet,
    extra: &ScopeSet,
    as_supported: Option<&ScopeSet>,
) -> ScopeSet {
    let base = match challenged {
        Some(c) if !c.is_empty() => c.clone(),
        _ => supported.cloned().unwrap_or_default(),
    };
    let mut out = previous.union(&base).union(extra);
    if !out.is_empty() && as_supported.is_some_and(|s| s.contains(OFFLINE_ACCESS)) {
        out.insert(OFFLINE_ACCESS);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(s: &str) -> ScopeSet {
        ScopeSet::parse(s)
    }

    #[test]
    fn challenge_scope_wins_over_scopes_supported() {
        let got = select(
            Some(&set("mcp:basic")),
            Some(&set("a b c")),
            &set(""),
            &set(""),
            None,
        );
        assert_eq!(got, set("mcp:basic"));
    }

    #[test]
    fn scopes_supported_are_used_when_the_challenge_has_none() {
        let got = select(None, Some(&set("a b c")), &set(""), &set(""), None);
        assert_eq!(got, set("a b c"));
    }

    #[test]
    fn no_scope_at_all_omits_the_parameter() {
        assert_eq!(
            select(None, None, &set(""), &set(""), Some(&set("offline_access"))).to_param(),
            None
        );
    }

    #[test]
    fn step_up_keeps_previous_scopes_and_adds_offline_access_when_offered() {
        let got = select(
            Some(&set("b c")),
            None,
            &set("a b"),
            &set("x"),
            Some(&set("a offline_access")),
        );
        assert_eq!(got.to_string(), "a b c x offline_access");
    }
}
