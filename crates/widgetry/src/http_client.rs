//! A small outbound HTTP(S) client for talking to authorization servers (metadata,
//! JWKS, introspection): bounded in time and size, HTTPS with the Web PKI roots, plain
//! HTTP allowed (issuers on loopback in development and tests).

use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;

/// Largest response body accepted.
pub const MAX_RESPONSE_BYTES: usize = 1024 * 1024;

/// The shared outbound client.
#[derive(Clone)]
pub struct HttpClient {
    inner: Client<hyper_rustls::HttpsConnector<HttpConnector>, Full<Bytes>>,
    timeout: Duration,
}

impl std::fmt::Debug for HttpClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpClient")
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

/// A response: status, headers and the whole body.
#[derive(Debug)]
pub struct HttpResponse {
    /// Status code.
    pub status: u16,
    /// Headers.
    pub headers: http::HeaderMap,
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
        }
    }

    /// Sends a request and reads the whole (size-capped) body.
    pub async fn send(&self, req: http::Request<Full<Bytes>>) -> Result<HttpResponse, String> {
        let uri = req.uri().to_string();
        let fut = async {
            let resp = self
                .inner
                .request(req)
                .await
                .map_err(|e| format!("request to {uri} failed: {e}"))?;
            let status = resp.status().as_u16();
            let headers = resp.headers().clone();
            let body = Limited::new(resp.into_body(), MAX_RESPONSE_BYTES)
                .collect()
                .await
                .map_err(|e| format!("reading the response of {uri} failed: {e}"))?
                .to_bytes();
            Ok(HttpResponse {
                status,
                headers,
                body,
            })
        };
        tokio::time::timeout(self.timeout, fut)
            .await
            .map_err(|_| format!("request to {uri} timed out after {:?}", self.timeout))?
    }

    /// GETs a JSON document (2xx required).
    pub async fn get_json(&self, url: &str) -> Result<serde_json::Value, String> {
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
