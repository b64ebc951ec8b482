//! The error type of the crate's API (the HTTP endpoints answer with OAuth error codes
//! instead; see [`crate::http`]).

use crate::store::StoreError;

/// What can go wrong using the authorization server's API.
#[derive(Debug, thiserror::Error)]
pub enum AuthzError {
    /// The configuration is unusable; the message says which setting and why.
    #[error("authorization server configuration: {0}")]
    Config(String),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A value passed to the API is invalid; the message says which and why.
    #[error("invalid input: {0}")]
    InvalidInput(String),
    /// A user with that username already exists.
    #[error("a user named {0:?} already exists; remove it first or pick another username")]
    UserExists(String),
    /// A client with that id already exists.
    #[error("a client with id {0:?} already exists; remove it first or pick another id")]
    ClientExists(String),
    /// The audience is not one of the configured resources.
    #[error("{0:?} is not a configured resource; add it to AuthzConfig::resources")]
    UnknownResource(String),
    /// A scope is not in `scopes_supported`.
    #[error("scope {0:?} is not supported; add it to AuthzConfig::scopes_supported")]
    UnknownScope(String),
    /// Too many password checks are running; try again in a moment.
    #[error("{0}")]
    Busy(String),
    /// Something that should not fail did (a bug or a corrupt store).
    #[error("internal error: {0}")]
    Internal(String),
}

/// An `error_description` as RFC 6749 §5.2 (and RFC 6750 §3) allows it: printable ASCII
/// without `"` and `\` (quotes become `'`, backslashes `/`, anything else `?`).
pub fn error_description(s: &str) -> String {
    s.chars()
        .map(|c| match c {
            '"' => '\'',
            '\\' => '/',
            ' '..='~' => c,
            _ => '?',
        })
        .collect()
}
