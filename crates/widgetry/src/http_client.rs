//! A small outbound HTTP(S) client for talking to authorization servers (metadata,
//! JWKS, introspection): bounded in time and size, HTTPS with the Web PKI roots. Plain
//! HTTP only to loopback hosts (issuers in development and tests) unless explicitly
//! allowed: a token-signing key or an introspection answer fetched in the clear can be
//! forged by anyone on the path.

use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;

use crate::transport::guard::is_loopback_host;

/// https, or plain HTTP to a loopback host.
fn secure_or_loopback(uri: &http::Uri) -> bool {
    match uri.scheme_str() {
        Some("https") => true,
        Some("http") => is_loopback_host(uri.host().unwrap_or("")),
        _ => false,
    }
}

/// Whether a client that does not allow plain HTTP may fetch from `url`: https, or plain
/// HTTP to a loopback host.
pub(crate) fn may_fetch(url: &str) -> bool {
    url.parse::<http::Uri>()
        .is_ok_and(|uri| secure_or_loopback(&uri))
}

/// Largest response body accepted.
pub(crate) const MAX_RESPONSE_BYTES: usize = 1024 * 1024;

/// The shared outbound client.
#[derive(Clone)]
pub struct HttpClient {
    inner: Client<hyper_rustls::HttpsConnector<HttpConnector>, Full<Bytes>>,
    timeout: Duration,
    plain_http: bool,
}

impl std::fmt::Debug for HttpClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpClient")
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

/// A response: status and the whole body.
#[derive(Debug)]
pub(crate) struct HttpResponse {
    /// Status code.
    pub status: u16,
    /// Body.
    pub body: Bytes,
}

impl Default for HttpClient {
    fn default() -> Self {
        Self::new(Duration::from_secs(5))
    }
}

impl HttpClient {
    /// A client whose every request must finish within `timeout`.
    pub fn new(timeout: Duration) -> Self {
        let connector = hyper_rustls::HttpsConnectorBuilder::new()
            .with_provider_and_webpki_roots(rustls::crypto::ring::default_provider())
            .map(|b| b.https_or_http().enable_http1().build())
            // The ring provider supports the default protocol versions; this cannot fail.
            .expect("rustls ring provider supports TLS 1.2 and 1.3");
        Self {
            inner: Client::builder(TokioExecutor::new()).build(connector),
            timeout,
            plain_http: false,
        }
    }

    /// Also sends plain-HTTP requests to hosts other than loopback (default: refused).
    /// Only for networks where nobody can read or alter the traffic.
    pub fn allow_plain_http(mut self, yes: bool) -> Self {
        self.plain_http = yes;
        self
    }

    /// Refuses a plain-HTTP URI to a host that is not loopback, unless allowed.
    fn check_scheme(&self, uri: &http::Uri) -> Result<(), String> {
        if uri.scheme_str() != Some("http") || self.plain_http || secure_or_loopback(uri) {
            Ok(())
        } else {
            Err(format!(
                "refusing plain-HTTP request to {}: use https (plain HTTP is allowed only to \
                 loopback, or when explicitly enabled with AUTH_ALLOW_PLAIN_HTTP=1)",
                uri.host().unwrap_or("")
            ))
        }
    }

    /// Sends a request and reads the whole (size-capped) body.
    pub(crate) async fn send(
        &self,
        req: http::Request<Full<Bytes>>,
    ) -> Result<HttpResponse, String> {
        self.check_scheme(req.uri())?;
        let uri = req.uri().to_string();
        let fut = async {
            let resp = self
                .inner
                .request(req)
                .await
                .map_err(|e| format!("request to {uri} failed: {e}"))?;
            let status = resp.status().as_u16();
            let body = Limited::new(resp.into_body(), MAX_RESPONSE_BYTES)
                .collect()
                .await
                .map_err(|e| format!("reading the response of {uri} failed: {e}"))?
                .to_bytes();
            Ok(HttpResponse { status, body })
        };
        tokio::time::timeout(self.timeout, fut)
            .await
            .map_err(|_| format!("request to {uri} timed out after {:?}", self.timeout))?
    }

    /// GETs a JSON document (2xx required).
    pub(crate) async fn get_json(&self, url: &str) -> Result<serde_json::Value, String> {
        let req = http::Request::get(url)
            .header(http::header::ACCEPT, "application/json")
            .body(Full::new(Bytes::new()))
            .map_err(|e| format!("invalid URL {url:?}: {e}"))?;
        let resp = self.send(req).await?;
        if !(200..300).contains(&resp.status) {
            return Err(format!("GET {url} answered HTTP {}", resp.status));
        }
        serde_json::from_slice(&resp.body)
            .map_err(|e| format!("GET {url}: the body is not JSON: {e}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_http_goes_only_to_loopback_unless_allowed() {
        let c = HttpClient::default();
        for ok in [
            "https://idp.example/jwks",
            "http://127.0.0.1:8080/jwks",
            "http://localhost/x",
            "http://[::1]:9/x",
            "http://127.8.9.10/x",
        ] {
            assert!(c.check_scheme(&ok.parse().unwrap()).is_ok(), "{ok}");
        }
        for bad in [
            "http://idp.example/jwks",
            "http://10.0.0.5/jwks",
            "http://localhost.evil.example/x",
            "http://[2001:db8::1]/x",
        ] {
            let e = c.check_scheme(&bad.parse().unwrap()).unwrap_err();
            assert!(e.contains("AUTH_ALLOW_PLAIN_HTTP"), "{bad}: {e}");
            assert!(c
                .clone()
                .allow_plain_http(true)
                .check_scheme(&bad.parse().unwrap())
                .is_ok());
        }
    }
}
