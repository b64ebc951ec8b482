//! Client ID Metadata Documents (draft-ietf-oauth-client-id-metadata-document): a
//! `client_id` that is an HTTPS URL names a JSON document describing the client. This
//! module fetches it defensively — time limit, size limit, no redirects, and no private,
//! link-local or loopback targets (checked on the resolved addresses the connection
//! actually uses, so DNS cannot point a public name at an internal service) — validates
//! it, and caches it per `Cache-Control: max-age`, in a bounded map.

use std::collections::HashMap;
use std::future::Future;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
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
use crate::store::{ClientKind, ClientRecord};
use crate::url::Url;
use crate::AuthzConfig;

/// Default cache time of a document without `max-age`.
const DEFAULT_MAX_AGE: Duration = Duration::from_secs(300);

/// Whether an address is one a metadata fetch must never reach.
pub(crate) fn is_forbidden(ip: IpAddr, allow_loopback: bool) -> bool {
    match ip {
        IpAddr::V4(v4) => is_forbidden_v4(v4, allow_loopback),
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_forbidden_v4(v4, allow_loopback);
            }
            let s = v6.segments();
            if v6.is_loopback() {
                return !allow_loopback;
            }
            v6.is_unspecified()
                || v6.is_multicast()
                || (s[0] & 0xfe00) == 0xfc00 // unique local fc00::/7
                || (s[0] & 0xffc0) == 0xfe80 // link-local fe80::/10
                || (s[0] & 0xffc0) == 0xfec0 // site-local fec0::/10
                || (s[0] == 0x2001 && s[1] == 0x0db8) // documentation
                || (s[0] == 0x0064 && s[1] == 0xff9b) // NAT64: embeds an IPv4 address
                || s[0] == 0x2002 // 6to4: embeds an IPv4 address
                || (s[0] == 0 && s[1] == 0 && s[2] == 0 && s[3] == 0 && s[4] == 0 && s[5] == 0)
            // IPv4-compatible
        }
    }
}

fn is_forbidden_v4(ip: Ipv4Addr, allow_loopback: bool) -> bool {
    let o = ip.octets();
    if ip.is_loopback() {
        return !allow_loopback;
    }
    ip.is_unspecified()
        || o[0] == 0
        || ip.is_private()
        || ip.is_link_local()
        || ip.is_broadcast()
        || ip.is_multicast()
        || ip.is_documentation()
        || (o[0] == 100 && (o[1] & 0xc0) == 64) // shared address space 100.64/10
        || (o[0] == 192 && o[1] == 0 && o[2] == 0) // IETF protocol assignments
        || (o[0] == 198 && (o[1] & 0xfe) == 18) // benchmarking 198.18/15
        || o[0] >= 240 // reserved
}

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
            if let Some(bad) = addrs.iter().find(|a| is_forbidden(a.ip(), allow_loopback)) {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::PermissionDenied,
                    format!(
                        "{host} resolves to {}, a private or reserved address",
                        bad.ip()
                    ),
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
}

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
                return Err(format!(
                    "client_id URL points at {ip}, a private or reserved address"
                ));
            }
        }
        Ok(u)
    }

    /// The client described by the document at `client_id`, from the cache or fetched.
    pub(crate) async fn resolve(&self, client_id: &str) -> Result<Arc<ClientRecord>, String> {
        if let Some(hit) = self.cached(client_id) {
            return Ok(hit);
        }
        self.check_url(client_id)?;
        let (doc, max_age) = tokio::time::timeout(self.timeout, self.fetch(client_id))
            .await
            .map_err(|_| format!("fetching {client_id} took longer than {:?}", self.timeout))??;
        let client = Arc::new(self.validate(client_id, &doc)?);
        if let Some(max_age) = max_age {
            self.store(client_id, Arc::clone(&client), max_age);
        }
        Ok(client)
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

    #[test]
    fn private_and_reserved_addresses_are_forbidden() {
        for ip in [
            "10.0.0.1",
            "172.16.5.4",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "127.0.0.1",
            "::1",
            "fd00::1",
            "fe80::1",
            "::ffff:10.0.0.1",
            "::ffff:127.0.0.1",
            "224.0.0.1",
            "255.255.255.255",
            "64:ff9b::a00:1",
        ] {
            let ip: IpAddr = ip.parse().unwrap();
            assert!(is_forbidden(ip, false), "{ip}");
        }
        for ip in [
            "93.184.216.34",
            "2606:2800:220:1:248:1893:25c8:1946",
            "1.1.1.1",
        ] {
            let ip: IpAddr = ip.parse().unwrap();
            assert!(!is_forbidden(ip, false), "{ip}");
        }
        assert!(!is_forbidden("127.0.0.1".parse().unwrap(), true));
        assert!(is_forbidden("10.1.2.3".parse().unwrap(), true));
    }

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
