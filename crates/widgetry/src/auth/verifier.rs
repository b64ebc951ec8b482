//! The [`Verifier`] interface every token format plugs into, and the clock the
//! verifiers share.

use std::future::Future;
use std::pin::Pin;
use std::time::{SystemTime, UNIX_EPOCH};

use crate::identity::{AuthError, User};

/// A boxed, sendable future.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

pub(crate) fn now_secs() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

/// Checks bearer tokens. Implement it to plug in any token format.
pub trait Verifier: Send + Sync + 'static {
    /// Verifies a token and returns its user, or says why it is refused.
    fn verify<'a>(&'a self, token: &'a str) -> BoxFuture<'a, Result<User, AuthError>>;
}

/// A [`Verifier`] from an async closure.
pub struct FnVerifier<F>(pub F);

impl<F, Fut> Verifier for FnVerifier<F>
where
    F: Fn(String) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<User, AuthError>> + Send + 'static,
{
    fn verify<'a>(&'a self, token: &'a str) -> BoxFuture<'a, Result<User, AuthError>> {
        Box::pin((self.0)(token.to_string()))
    }
}
