//! RFC 7662 token introspection, for opaque access tokens.

use base64::Engine as _;
use bytes::Bytes;
use http_body_util::Full;
use serde_json::{Map, Value};

use super::verifier::{now_secs, BoxFuture, Verifier};
use crate::http_client::HttpClient;
use crate::identity::{numeric_date, AuthError, User};

/// Verifies opaque tokens by asking the authorization server's introspection endpoint.
#[derive(Debug, Clone)]
pub struct IntrospectionVerifier {
    endpoint: String,
    client_id: String,
    client_secret: String,
    audience: String,
    issuer: Option<String>,
    client: HttpClient,
    /// Introspection calls in flight: a flood of unknown tokens waits here (and is refused
    /// after [`QUEUE_WAIT`]) instead of becoming a flood of outbound requests. Invalid
    /// tokens are also remembered for a few seconds by the caller's token cache.
    in_flight: std::sync::Arc<tokio::sync::Semaphore>,
}

/// Introspection calls in flight at most, per verifier.
pub const MAX_IN_FLIGHT: usize = 16;

/// Longest wait for an introspection slot before the token is reported unverifiable.
const QUEUE_WAIT: std::time::Duration = std::time::Duration::from_secs(2);

fn form_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(b as char)
            }
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

impl IntrospectionVerifier {
    /// Introspects at `endpoint`, authenticating as `client_id`/`client_secret`
    /// (client_secret_basic); active tokens must name `audience` in their `aud` (a token
    /// without `aud` is refused: it could be meant for any resource).
    pub fn new(
        endpoint: impl Into<String>,
        client_id: impl Into<String>,
        client_secret: impl Into<String>,
        audience: impl Into<String>,
    ) -> Self {
        Self {
            endpoint: endpoint.into(),
            client_id: client_id.into(),
            client_secret: client_secret.into(),
            audience: audience.into(),
            issuer: None,
            client: HttpClient::default(),
            in_flight: std::sync::Arc::new(tokio::sync::Semaphore::new(MAX_IN_FLIGHT)),
        }
    }

    /// Use this outbound client (e.g. one that allows plain HTTP on a private network).
    pub fn client(mut self, client: HttpClient) -> Self {
        self.client = client;
        self
    }

    /// Also require `iss` (when the response carries one) to equal `issuer`.
    pub fn issuer(mut self, issuer: impl Into<String>) -> Self {
        self.issuer = Some(issuer.into());
        self
    }

    async fn introspect(&self, token: &str) -> Result<User, AuthError> {
        let _slot = tokio::time::timeout(QUEUE_WAIT, self.in_flight.acquire())
            .await
            .ok()
            .and_then(Result::ok)
            .ok_or_else(|| {
                AuthError::Unavailable("too many tokens are being introspected; try again".into())
            })?;
        let basic = base64::engine::general_purpose::STANDARD.encode(format!(
            "{}:{}",
            form_escape(&self.client_id),
            form_escape(&self.client_secret)
        ));
        let body = format!("token={}&token_type_hint=access_token", form_escape(token));
        let req = http::Request::post(&self.endpoint)
            .header(
                http::header::CONTENT_TYPE,
                "application/x-www-form-urlencoded",
            )
            .header(http::header::ACCEPT, "application/json")
            .header(http::header::AUTHORIZATION, format!("Basic {basic}"))
            .body(Full::new(Bytes::from(body)))
            .map_err(|e| AuthError::Unavailable(format!("invalid introspection endpoint: {e}")))?;
        let resp = self
            .client
            .send(req)
            .await
            .map_err(AuthError::Unavailable)?;
        if resp.status != 200 {
            return Err(AuthError::Unavailable(format!(
                "the introspection endpoint answered HTTP {}",
                resp.status
            )));
        }
        let claims: Map<String, Value> = serde_json::from_slice(&resp.body).map_err(|e| {
            AuthError::Unavailable(format!("introspection answer is not a JSON object: {e}"))
        })?;
        if claims.get("active") != Some(&Value::Bool(true)) {
            return Err(AuthError::invalid("the token is not active"));
        }
        if let (Some(want), Some(got)) = (&self.issuer, claims.get("iss")) {
            if got.as_str() != Some(want) {
                return Err(AuthError::invalid("the token was issued by another issuer"));
            }
        }
        match claims.get("aud") {
            None | Some(Value::Null) => {
                return Err(AuthError::invalid(
                    "the token names no audience, so it is not meant for this resource",
                ))
            }
            Some(Value::String(a)) if *a == self.audience => {}
            Some(Value::Array(l)) if l.iter().any(|a| a.as_str() == Some(&self.audience)) => {}
            Some(_) => {
                return Err(AuthError::invalid(
                    "the token is not meant for this resource",
                ))
            }
        }
        let exp = numeric_date(&claims, "exp")?.map(|f| f as u64);
        if exp.is_some_and(|e| (e as f64) <= now_secs()) {
            return Err(AuthError::invalid("the token has expired"));
        }
        User::from_claims(claims, exp)
    }
}

impl Verifier for IntrospectionVerifier {
    fn verify<'a>(&'a self, token: &'a str) -> BoxFuture<'a, Result<User, AuthError>> {
        Box::pin(self.introspect(token))
    }
}
