//! Client ID Metadata Documents (draft-ietf-oauth-client-id-metadata-document): a
//! `client_id` that is an HTTPS URL names a JSON document describing the client. This
//! module fetches it defensively — time limit, size limit, no redirects, and no private,
//! link-local or loopback targets (checked on the resolved addresses the connection
//! actually uses, so DNS cannot point a public name at an internal service) — validates
//! it, and caches it per `Cache-Control: max-age`, in a bounded map.

use std::collections::HashMap;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Empty, Limited};
use hyper_util::client::legacy::connect::dns::Name;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use serde_json::Value;

use crate::clients::validate_metadata;
use crate::special_addresses::is_forbidden;
use crate::store::{ClientKind, ClientRecord};
use crate::url::Url;
use crate::AuthzConfig;

/// Default cache time of a document without `max-age`.
const DEFAULT_MAX_AGE: Duration = Duration::from_secs(300);

/// A DNS resolver that refuses names resolving to any forbidden address.
#[derive(Clone)]
struct GuardedResolver {
    allow_loopback: bool,
}

impl tower_service::Service<Name> for GuardedResolver {
    type Response = std::vec::IntoIter<SocketAddr>;
    type Error = std::io::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Self::Error>> + Send>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, name: Name) -> Self::Future {
        let allow_loopback = self.allow_loopback;
        Box::pin(async move {
            let host = name.as_str().to_owned();
            let addrs: Vec<SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            if addrs.is_empty() {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::NotFound,
                    format!("{host} has no address"),
                ));
            }
            // The message names no address: it may reach whoever registered the name.
            if addrs.iter().any(|a| is_forbidden(a.ip(), allow_loopback)) {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::PermissionDenied,
                    format!("{host} resolves to a private or reserved address"),
                ));
            }
            Ok(addrs.into_iter())
        })
    }
}

type FetchClient =
    Client<hyper_rustls::HttpsConnector<HttpConnector<GuardedResolver>>, Empty<Bytes>>;

struct Cached {
    client: Arc<ClientRecord>,
    until: Instant,
}

/// Fetches, validates and caches metadata documents.
pub(crate) struct MetadataDocuments {
    http: FetchClient,
    allow_loopback: bool,
    timeout: Duration,
    max_bytes: usize,
    capacity: usize,
    max_age: Duration,
    scopes_supported: Vec<String>,
    cache: Mutex<HashMap<String, Cached>>,
    /// Recent failures by client id: the message, until when it is repeated instead of
    /// fetching again.
    failures: Mutex<HashMap<String, (String, Instant)>>,
    failure_ttl: Duration,
    /// Fetches in flight, all hosts together.
    in_flight: tokio::sync::Semaphore,
    /// Fetches per host in the current minute: (minute, count).
    per_host: Mutex<HashMap<String, (u64, u32)>>,
}

/// Fetches running at once, all hosts together; more are refused until one ends.
const FETCHES_IN_FLIGHT: usize = 8;
/// Fetches per host per minute (each new `client_id` on a host costs one).
const FETCHES_PER_HOST_PER_MINUTE: u32 = 30;

impl MetadataDocuments {
    pub(crate) fn new(config: &AuthzConfig) -> Result<Self, crate::AuthzError> {
        let mut http = HttpConnector::new_with_resolver(GuardedResolver {
            allow_loopback: config.allow_loopback_metadata_documents,
        });
        http.enforce_http(false);
        http.set_connect_timeout(Some(config.metadata_document_timeout));
        let builder = hyper_rustls::HttpsConnectorBuilder::new()
            .with_provider_and_webpki_roots(rustls::crypto::ring::default_provider())
            .map_err(|e| crate::AuthzError::Config(format!("TLS set-up failed: {e}")))?;
        let connector = if config.allow_loopback_metadata_documents {
            builder.https_or_http().enable_http1().wrap_connector(http)
        } else {
            builder.https_only().enable_http1().wrap_connector(http)
        };
        let client = Client::builder(TokioExecutor::new())
            .pool_max_idle_per_host(0)
            .build(connector);
        Ok(Self {
            http: client,
            allow_loopback: config.allow_loopback_metadata_documents,
            timeout: config.metadata_document_timeout,
            max_bytes: config.metadata_document_max_bytes,
            capacity: config.metadata_document_cache_entries.max(1),
            max_age: config.metadata_document_max_age,
            scopes_supported: config.scopes_supported.clone(),
            cache: Mutex::new(HashMap::new()),
            failures: Mutex::new(HashMap::new()),
            failure_ttl: config.metadata_document_failure_ttl,
            in_flight: tokio::sync::Semaphore::new(FETCHES_IN_FLIGHT),
            per_host: Mutex::new(HashMap::new()),
        })
    }

    /// Checks the shape of a client identifier URL; returns the parsed URL.
    pub(crate) fn check_url(&self, client_id: &str) -> Result<Url, String> {
        let u = Url::parse(client_id).map_err(|e| format!("client_id URL: {e}"))?;
        let loopback_ok = self.allow_loopback && u.scheme == "http" && u.is_loopback_host();
        if u.scheme != "https" && !loopback_ok {
            return Err(if u.is_loopback_host() || u.scheme == "http" {
                "client_id URLs must use https (loopback http is accepted only with allow_loopback_metadata_documents)".into()
            } else {
                "client_id URLs must use https".into()
            });
        }
        if u.userinfo {
            return Err("client_id URLs must not contain user info".into());
        }
        if u.fragment.is_some() || u.query.is_some() {
            return Err("client_id URLs must not have a query or fragment".into());
        }
        if u.path.len() <= 1 {
            return Err(
                "client_id URLs must have a path (e.g. https://app.example/client.json)".into(),
            );
        }
        if u.has_dot_segments() {
            return Err("client_id URLs must not contain . or .. path segments".into());
        }
        if u.host == "localhost" && !self.allow_loopback {
            return Err("client_id URL points at localhost".into());
        }
        if let Some(ip) = u.host_ip() {
            if is_forbidden(ip, self.allow_loopback) {
                return Err("client_id URL points at a private or reserved address".into());
            }
        }
        Ok(u)
    }

    /// The client described by the document at `client_id`, from the cache or fetched.
    /// A failure is remembered for [`AuthzConfig::metadata_document_failure_ttl`], and
    /// fetches are limited in flight and per host; errors say what is wrong with the
    /// document or that it could not be fetched, never what the network answered.
    pub(crate) async fn resolve(&self, client_id: &str) -> Result<Arc<ClientRecord>, String> {
        if let Some(hit) = self.cached(client_id) {
            return Ok(hit);
        }
        if let Some(message) = self.recent_failure(client_id) {
            return Err(message);
        }
        let url = self.check_url(client_id)?;
        let Ok(_slot) = self.in_flight.try_acquire() else {
            return Err("too many metadata documents are being fetched; try again shortly".into());
        };
        if !self.host_allows_fetch(&url.host) {
            return Err(format!(
                "too many metadata documents were fetched from {} this minute; try again shortly",
                url.host
            ));
        }
        let outcome = match tokio::time::timeout(self.timeout, self.fetch(client_id)).await {
            Err(_) => Err(format!(
                "the document could not be fetched within {:?}",
                self.timeout
            )),
            Ok(Err(detail)) => {
                tracing::warn!(client_id, %detail, "fetching a client metadata document failed");
                Err(
                    "the document could not be fetched (it must be served over https from a \
                     public address, answer 200 with JSON, and not redirect)"
                        .into(),
                )
            }
            Ok(Ok((doc, max_age))) => self
                .validate(client_id, &doc)
                .map(|c| (Arc::new(c), max_age)),
        };
        match outcome {
            Ok((client, max_age)) => {
                if let Some(max_age) = max_age {
                    self.store(client_id, Arc::clone(&client), max_age);
                }
                Ok(client)
            }
            Err(message) => {
                self.remember_failure(client_id, &message);
                Err(message)
            }
        }
    }

    fn recent_failure(&self, client_id: &str) -> Option<String> {
        let failures = self.failures.lock().ok()?;
        failures
            .get(client_id)
            .filter(|(_, until)| *until > Instant::now())
            .map(|(m, _)| m.clone())
    }

    fn remember_failure(&self, client_id: &str, message: &str) {
        let Ok(mut failures) = self.failures.lock() else {
            return;
        };
        let now = Instant::now();
        if failures.len() >= self.capacity {
            failures.retain(|_, (_, until)| *until > now);
        }
        if failures.len() < self.capacity {
            failures.insert(
                client_id.to_owned(),
                (message.to_owned(), now + self.failure_ttl),
            );
        }
    }

    /// Counts a fetch from `host`; whether it is within the per-minute limit.
    fn host_allows_fetch(&self, host: &str) -> bool {
        let Ok(mut hosts) = self.per_host.lock() else {
            return false;
        };
        let minute = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs() / 60);
        if hosts.len() >= self.capacity {
            hosts.retain(|_, (m, _)| *m == minute);
        }
        if hosts.len() >= self.capacity && !hosts.contains_key(host) {
            return false;
        }
        let entry = hosts.entry(host.to_owned()).or_insert((minute, 0));
        if entry.0 != minute {
            *entry = (minute, 0);
        }
        entry.1 += 1;
        entry.1 <= FETCHES_PER_HOST_PER_MINUTE
    }

    fn cached(&self, client_id: &str) -> Option<Arc<ClientRecord>> {
        let cache = self.cache.lock().ok()?;
        cache
            .get(client_id)
            .filter(|c| c.until > Instant::now())
            .map(|c| Arc::clone(&c.client))
    }

    fn store(&self, client_id: &str, client: Arc<ClientRecord>, max_age: Duration) {
        let Ok(mut cache) = self.cache.lock() else {
            return;
        };
        let now = Instant::now();
        if cache.len() >= self.capacity {
            cache.retain(|_, c| c.until > now);
        }
        if cache.len() >= self.capacity {
            if let Some(oldest) = cache
                .iter()
                .min_by_key(|(_, c)| c.until)
                .map(|(k, _)| k.clone())
            {
                cache.remove(&oldest);
            }
        }
        cache.insert(
            client_id.to_owned(),
            Cached {
                client,
                until: now + max_age.min(self.max_age),
            },
        );
    }

    /// GETs the document: the body and how long it may be cached (`None`: not at all).
    async fn fetch(&self, url: &str) -> Result<(Bytes, Option<Duration>), String> {
        let req = hyper::Request::get(url)
            .header(hyper::header::ACCEPT, "application/json")
            .header(hyper::header::USER_AGENT, "widgetry-authz")
            .body(Empty::<Bytes>::new())
            .map_err(|e| format!("cannot build a request for {url}: {e}"))?;
        let resp = self.http.request(req).await.map_err(|e| {
            let mut msg = format!("fetching {url} failed: {e}");
            let mut source = std::error::Error::source(&e);
            while let Some(s) = source {
                msg.push_str(&format!(": {s}"));
                source = s.source();
            }
            msg
        })?;
        if resp.status() != hyper::StatusCode::OK {
            return Err(format!(
                "fetching {url} answered {} (expected 200, redirects are not followed)",
                resp.status()
            ));
        }
        let max_age = cache_lifetime(resp.headers());
        let body = Limited::new(resp.into_body(), self.max_bytes)
            .collect()
            .await
            .map_err(|_| {
                format!(
                    "the document at {url} is larger than {} bytes or was cut off",
                    self.max_bytes
                )
            })?
            .to_bytes();
        Ok((body, max_age))
    }

    fn validate(&self, client_id: &str, body: &[u8]) -> Result<ClientRecord, String> {
        let value: Value = serde_json::from_slice(body)
            .map_err(|e| format!("the document at {client_id} is not JSON: {e}"))?;
        let Value::Object(m) = value else {
            return Err(format!("the document at {client_id} is not a JSON object"));
        };
        match m.get("client_id").and_then(Value::as_str) {
            Some(id) if id == client_id => {}
            Some(id) => {
                return Err(format!(
                    "the document's client_id {id:?} differs from its URL {client_id:?}"
                ))
            }
            None => return Err("the document has no client_id".into()),
        }
        if m.contains_key("client_secret") || m.contains_key("client_secret_expires_at") {
            return Err("a metadata document must not contain a client secret".into());
        }
        let md =
            validate_metadata(&m, &self.scopes_supported, "none").map_err(|e| e.description)?;
        if md.auth_method != "none" {
            return Err(format!(
                "token_endpoint_auth_method {:?} is not allowed in a metadata document; use none",
                md.auth_method
            ));
        }
        let host = Url::parse(client_id).map(|u| u.host).unwrap_or_default();
        Ok(ClientRecord {
            client_id: client_id.to_owned(),
            secret_hash: None,
            name: md.name.unwrap_or_else(|| host.clone()),
            redirect_uris: md.redirect_uris,
            grant_types: md.grant_types,
            auth_method: md.auth_method,
            scope: md.scope,
            client_uri: md.client_uri,
            kind: ClientKind::MetadataDocument,
            created_at: crate::now(),
            last_used_at: None,
        })
    }
}

/// How long a response may be cached per `Cache-Control` (`None` for no-store/no-cache).
fn cache_lifetime(headers: &hyper::HeaderMap) -> Option<Duration> {
    let mut max_age = None;
    for value in headers.get_all(hyper::header::CACHE_CONTROL) {
        let Ok(value) = value.to_str() else { continue };
        for directive in value.split(',') {
            let directive = directive.trim().to_ascii_lowercase();
            if directive == "no-store" || directive == "no-cache" {
                return None;
            }
            if let Some(secs) = directive.strip_prefix("max-age=") {
                max_age = secs
                    .trim_matches('"')
                    .parse::<u64>()
                    .ok()
                    .map(Duration::from_secs);
            }
        }
    }
    match max_age {
        Some(d) if d.is_zero() => None,
        Some(d) => Some(d),
        None => Some(DEFAULT_MAX_AGE),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn resolver_refuses_names_that_resolve_to_loopback() {
        use std::str::FromStr;
        use tower_service::Service as _;
        let name = Name::from_str("localhost").unwrap();
        let err = GuardedResolver {
            allow_loopback: false,
        }
        .call(name.clone())
        .await
        .unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::PermissionDenied);
        let said = err.to_string();
        assert!(
            !said.contains("127.0.0.1") && !said.contains("::1"),
            "the error names no address: {said}"
        );
        let ok = GuardedResolver {
            allow_loopback: true,
        }
        .call(name)
        .await
        .unwrap();
        assert!(ok.into_iter().all(|a| a.ip().is_loopback()));
    }

    #[test]
    fn cache_control_decides_the_lifetime() {
        let mut h = hyper::HeaderMap::new();
        assert_eq!(cache_lifetime(&h), Some(DEFAULT_MAX_AGE));
        h.insert(
            hyper::header::CACHE_CONTROL,
            "public, max-age=60".parse().unwrap(),
        );
        assert_eq!(cache_lifetime(&h), Some(Duration::from_secs(60)));
        h.insert(hyper::header::CACHE_CONTROL, "no-store".parse().unwrap());
        assert_eq!(cache_lifetime(&h), None);
    }
}
