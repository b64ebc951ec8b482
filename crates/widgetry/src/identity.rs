//! Who is calling, as plain data shared by the engine, the transports and the resource
//! server: the verified [`User`], the [`Caller`] of one request (anonymous, signed in, or
//! unverifiable right now), a tool's [`Auth`] policy, and a [`Refusal`] — the answer a
//! transport renders when a policy refuses a caller. Nothing here verifies a token or
//! builds an HTTP response.

use std::sync::Arc;

use http::StatusCode;
use serde_json::{json, Map, Value};

/// A tool's authentication policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Auth {
    /// Anyone may call it; a signed-in caller is still passed to the handler.
    None,
    /// Anyone may call it; signed-in callers get more. The scopes are advertised.
    Optional(Vec<String>),
    /// Only signed-in callers holding every scope.
    Required(Vec<String>),
}

/// Collects scope names.
pub(crate) fn scopes<I, S>(list: I) -> Vec<String>
where
    I: IntoIterator<Item = S>,
    S: Into<String>,
{
    list.into_iter().map(Into::into).collect()
}

impl Auth {
    /// Signed-in callers with all of `scopes` only.
    pub fn required<I: IntoIterator<Item = S>, S: Into<String>>(list: I) -> Self {
        Auth::Required(scopes(list))
    }
    /// Everyone; signed-in callers are recognised. `scopes` are advertised for sign-in.
    pub fn optional<I: IntoIterator<Item = S>, S: Into<String>>(list: I) -> Self {
        Auth::Optional(scopes(list))
    }
    /// Everyone.
    pub fn none() -> Self {
        Auth::None
    }
    /// The scopes named by the policy.
    pub fn scopes(&self) -> &[String] {
        match self {
            Auth::None => &[],
            Auth::Optional(s) | Auth::Required(s) => s,
        }
    }
    /// The Apps SDK `securitySchemes` value.
    pub fn security_schemes(&self) -> Value {
        match self {
            Auth::None => json!([{"type": "noauth"}]),
            Auth::Optional(s) => json!([{"type": "noauth"}, {"type": "oauth2", "scopes": s}]),
            Auth::Required(s) => json!([{"type": "oauth2", "scopes": s}]),
        }
    }
}

/// Why a token was not accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    /// The token is malformed, forged, expired or not meant for this resource.
    #[error("invalid token: {0}")]
    InvalidToken(String),
    /// The token cannot be checked right now (issuer keys not loaded, introspection down).
    #[error("authorization temporarily unavailable: {0}")]
    Unavailable(String),
}

impl AuthError {
    /// An [`AuthError::InvalidToken`].
    pub fn invalid(msg: impl Into<String>) -> Self {
        AuthError::InvalidToken(msg.into())
    }
}

/// A verified user, available to handlers through
/// [`RequestContext::user`](crate::RequestContext::user).
#[derive(Debug, Clone, PartialEq)]
pub struct User {
    /// The `sub` claim.
    pub subject: String,
    /// Granted scopes, from `scope` (space-separated) and/or `permissions` (Auth0).
    pub scopes: Vec<String>,
    /// The OAuth client the token was issued to (`client_id` or `azp`).
    pub client_id: Option<String>,
    /// Expiry, seconds since the Unix epoch.
    pub expires_at: Option<u64>,
    /// Every claim of the token.
    pub claims: Map<String, Value>,
}

impl User {
    /// Builds a user from verified claims, checking the types of `sub`, `scope`,
    /// `permissions`, `client_id` and `azp`.
    pub fn from_claims(
        claims: Map<String, Value>,
        expires_at: Option<u64>,
    ) -> Result<Self, AuthError> {
        let subject = match claims.get("sub") {
            Some(Value::String(s)) if !s.trim().is_empty() => s.clone(),
            Some(Value::String(_)) => return Err(AuthError::invalid("sub is empty")),
            Some(_) => return Err(AuthError::invalid("sub is not a string")),
            None => return Err(AuthError::invalid("the token has no sub claim")),
        };
        let mut scopes: Vec<String> = Vec::new();
        match claims.get("scope") {
            None => {}
            Some(Value::String(s)) => scopes.extend(s.split_whitespace().map(str::to_string)),
            Some(_) => return Err(AuthError::invalid("scope is not a space-separated string")),
        }
        match claims.get("permissions") {
            None => {}
            Some(Value::Array(list)) => {
                for p in list {
                    match p.as_str() {
                        Some(p) => scopes.push(p.to_string()),
                        None => {
                            return Err(AuthError::invalid(
                                "permissions contains a non-string value",
                            ))
                        }
                    }
                }
            }
            Some(_) => return Err(AuthError::invalid("permissions is not an array of strings")),
        }
        scopes.sort();
        scopes.dedup();
        let client_id = match claims.get("client_id").or_else(|| claims.get("azp")) {
            None => None,
            Some(Value::String(s)) => Some(s.clone()),
            Some(_) => return Err(AuthError::invalid("client_id is not a string")),
        };
        Ok(Self {
            subject,
            scopes,
            client_id,
            expires_at,
            claims,
        })
    }

    /// Whether the caller holds `scope`.
    pub fn has_scope(&self, scope: &str) -> bool {
        self.scopes.iter().any(|s| s == scope)
    }

    /// Whether the caller holds every scope in `needed`.
    pub fn has_scopes(&self, needed: &[String]) -> bool {
        needed.iter().all(|s| self.has_scope(s))
    }

    /// A claim by name.
    pub fn claim(&self, name: &str) -> Option<&Value> {
        self.claims.get(name)
    }

    /// The `name` claim, if it is a string.
    pub fn name(&self) -> Option<&str> {
        self.claim("name").and_then(Value::as_str)
    }

    /// The `email` claim, if it is a string.
    pub fn email(&self) -> Option<&str> {
        self.claim("email").and_then(Value::as_str)
    }
}

/// The latest `exp`/`nbf`/`iat` accepted: 9999-12-31T23:59:59Z. Larger values (2^64,
/// 1e30, anything not representable as an `i64` of seconds) are not real dates and are
/// refused rather than read as "never expires".
pub const MAX_NUMERIC_DATE: f64 = 253_402_300_799.0;

/// Reads an RFC 7519 NumericDate claim: a finite, non-negative number of seconds no
/// later than [`MAX_NUMERIC_DATE`]. `Ok(None)` when the claim is absent.
pub fn numeric_date(claims: &Map<String, Value>, name: &str) -> Result<Option<f64>, AuthError> {
    match claims.get(name) {
        None => Ok(None),
        Some(Value::Number(n)) => match n.as_f64() {
            Some(f) if f.is_finite() && (0.0..=MAX_NUMERIC_DATE).contains(&f) => Ok(Some(f)),
            _ => Err(AuthError::invalid(format!(
                "{name} is not a date between 1970 and 9999"
            ))),
        },
        Some(_) => Err(AuthError::invalid(format!("{name} is not a number"))),
    }
}

/// Who sent one request, as the transport established it before dispatch.
#[derive(Debug, Clone, Default)]
pub enum Caller {
    /// No token (or a transport without tokens, such as stdio).
    #[default]
    Anonymous,
    /// A verified user.
    User(Arc<User>),
    /// A token was sent but cannot be checked right now (issuer keys not loaded,
    /// introspection endpoint down).
    Unverifiable(String),
}

impl Caller {
    /// The verified user, if any.
    pub fn user(&self) -> Option<&Arc<User>> {
        match self {
            Caller::User(u) => Some(u),
            _ => None,
        }
    }

    /// The verified user's subject, if any.
    pub fn subject(&self) -> Option<&str> {
        self.user().map(|u| u.subject.as_str())
    }
}

/// A refusal at the transport level: what to answer instead of running the request.
/// The transport renders it (an HTTP status with `WWW-Authenticate` and a JSON-RPC error
/// body on HTTP; a JSON-RPC error elsewhere).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// 400, 401, 403, 404 or 503.
    pub status: StatusCode,
    /// The `WWW-Authenticate` value, when the refusal is an auth challenge.
    pub challenge: Option<String>,
    /// What went wrong, for the developer reading the body.
    pub message: String,
}

impl Refusal {
    /// A refusal without a challenge.
    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        Self {
            status,
            challenge: None,
            message: message.into(),
        }
    }

    /// The JSON-RPC error code that carries this refusal in a body: `-32600` for a bad
    /// request, `-32001` (server-defined, "unauthorized") for auth refusals, `-32000`
    /// for an unavailable service.
    pub fn rpc_code(&self) -> i64 {
        match self.status.as_u16() {
            401 | 403 => -32001,
            503 => -32000,
            _ => -32600,
        }
    }
}
