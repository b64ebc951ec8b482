//! Outbound HTTP for the CLI: an `http(s)` URL type, one pooled hyper client (rustls
//! with the Web PKI roots; plain HTTP allowed for loopback development servers), whole
//! bodies read with a size cap, and a Server-Sent Events decoder over a streaming body.
//!
//! Redirects are never followed here: the MCP endpoint must answer itself, metadata
//! documents are fetched from exactly the URL the specs name, and the sign-in flow
//! looks at `Location` headers on purpose.

use std::fmt;
use std::time::Duration;

use bytes::Bytes;
use http::header::{HeaderMap, HeaderName, HeaderValue};
use http::{Method, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;

/// What can go wrong talking HTTP.
#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    /// The URL is not an absolute `http`/`https` URL we can use.
    #[error("invalid URL {url:?}: {reason}")]
    InvalidUrl {
        /// The URL as given.
        url: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// Connecting or sending failed.
    #[error("cannot reach {url}: {reason}")]
    Connect {
        /// The request URL.
        url: String,
        /// The transport error.
        reason: String,
    },
    /// No answer in time.
    #[error("{url} did not answer within {} s", .after.as_secs())]
    Timeout {
        /// The request URL.
        url: String,
        /// The time limit.
        after: Duration,
    },
    /// Reading the body failed.
    #[error("reading the answer of {url} failed: {reason}")]
    Body {
        /// The request URL.
        url: String,
        /// The transport error.
        reason: String,
    },
    /// The body (or one event of a stream) is larger than allowed.
    #[error("the answer of {url} is larger than {limit} bytes")]
    TooLarge {
        /// The request URL.
        url: String,
        /// The cap.
        limit: usize,
    },
    /// The TLS set-up failed (no usable crypto provider).
    #[error("cannot set up TLS: {0}")]
    Tls(String),
}

/// An absolute `http` or `https` URL: lower-case scheme and host, default port
/// dropped, no user info, fragment dropped. The path is kept as written (it may be
/// empty: `http://host:1` and `http://host:1/` stay distinct strings but have the
/// same [`HttpUrl::path_segments`]).
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct HttpUrl {
    https: bool,
    host: String,
    port: Option<u16>,
    path: String,
    query: Option<String>,
}

impl HttpUrl {
    /// Parses an absolute `http`/`https` URL.
    pub fn parse(input: &str) -> Result<Self, HttpError> {
        let bad = |reason| HttpError::InvalidUrl {
            url: input.to_string(),
            reason,
        };
        if input.chars().any(|c| c.is_ascii_control() || c == ' ') {
            return Err(bad("it contains spaces or control characters"));
        }
        let (https, rest) = if let Some(r) = strip_prefix_ci(input, "https://") {
            (true, r)
        } else if let Some(r) = strip_prefix_ci(input, "http://") {
            (false, r)
        } else {
            return Err(bad("only absolute http:// and https:// URLs are supported"));
        };
        let rest = rest.split('#').next().unwrap_or_default();
        let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
        let (authority, tail) = rest.split_at(authority_end);
        if authority.contains('@') {
            return Err(bad("user names and passwords in URLs are not supported"));
        }
        let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
            let close = v6
                .find(']')
                .ok_or_else(|| bad("unclosed '[' in the host"))?;
            let host = format!("[{}]", &v6[..close]);
            let after = &v6[close + 1..];
            match after.strip_prefix(':') {
                Some(p) => (host, Some(p)),
                None if after.is_empty() => (host, None),
                None => return Err(bad("unexpected text after the IPv6 host")),
            }
        } else {
            match authority.rsplit_once(':') {
                Some((h, p)) => (h.to_string(), Some(p)),
                None => (authority.to_string(), None),
            }
        };
        if host.is_empty() || host == "[]" {
            return Err(bad("the host is missing"));
        }
        let port = match port {
            None | Some("") => None,
            Some(p) => Some(
                p.parse::<u16>()
                    .map_err(|_| bad("the port is not a number from 0 to 65535"))?,
            ),
        };
        let default_port = if https { 443 } else { 80 };
        let (path, query) = match tail.split_once('?') {
            Some((p, q)) => (p.to_string(), Some(q.to_string())),
            None => (tail.to_string(), None),
        };
        Ok(Self {
            https,
            host: host.to_ascii_lowercase(),
            port: port.filter(|p| *p != default_port),
            path,
            query,
        })
    }

    /// `http` or `https`.
    pub fn scheme(&self) -> &'static str {
        if self.https {
            "https"
        } else {
            "http"
        }
    }

    /// `scheme://host[:port]`.
    pub fn origin(&self) -> String {
        match self.port {
            Some(p) => format!("{}://{}:{p}", self.scheme(), self.host),
            None => format!("{}://{}", self.scheme(), self.host),
        }
    }

    /// The host name (lower-case; IPv6 literals in brackets).
    pub fn host(&self) -> &str {
        &self.host
    }

    /// The explicit port (`None` for the scheme's default).
    pub fn port(&self) -> Option<u16> {
        self.port
    }

    /// The path without a trailing `/`: empty for the root.
    pub fn path_trimmed(&self) -> &str {
        self.path.trim_end_matches('/')
    }

    /// The non-empty path segments.
    pub fn path_segments(&self) -> Vec<&str> {
        self.path.split('/').filter(|s| !s.is_empty()).collect()
    }

    /// The decoded query parameters.
    pub fn query_pairs(&self) -> Vec<(String, String)> {
        self.query
            .as_deref()
            .map(|q| {
                form_urlencoded::parse(q.as_bytes())
                    .map(|(k, v)| (k.into_owned(), v.into_owned()))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// The same origin with another path (which must start with `/`) and no query.
    pub fn with_path(&self, path: &str) -> Self {
        Self {
            path: path.to_string(),
            query: None,
            ..self.clone()
        }
    }

    /// This URL with `pairs` appended to its query.
    pub fn with_query_pairs<'a>(
        &self,
        pairs: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> Self {
        let mut ser = form_urlencoded::Serializer::new(String::new());
        for (k, v) in pairs {
            ser.append_pair(k, v);
        }
        let added = ser.finish();
        let query = match self.query.as_deref() {
            Some(q) if !q.is_empty() => format!("{q}&{added}"),
            _ => added,
        };
        Self {
            query: Some(query),
            ..self.clone()
        }
    }

    /// Resolves `reference` (an absolute URL or an absolute path) against this URL.
    pub fn join(&self, reference: &str) -> Result<Self, HttpError> {
        if reference.starts_with('/') && !reference.starts_with("//") {
            let rest = reference.split('#').next().unwrap_or_default();
            return Self::parse(&format!("{}{rest}", self.origin()));
        }
        Self::parse(reference)
    }

    /// Whether scheme, host, port and path equal `other`'s (queries ignored).
    pub fn same_endpoint(&self, other: &Self) -> bool {
        self.https == other.https
            && self.host == other.host
            && self.port == other.port
            && self.path_trimmed() == other.path_trimmed()
    }

    /// Whether the host is a loopback name or address.
    pub fn is_loopback(&self) -> bool {
        matches!(self.host.as_str(), "localhost" | "[::1]") || self.host.starts_with("127.")
    }

    /// The URL as an [`http::Uri`].
    fn to_uri(&self) -> Result<http::Uri, HttpError> {
        let s = self.to_string();
        let path = if self.path.is_empty() {
            "/"
        } else {
            &self.path
        };
        let pq = match &self.query {
            Some(q) => format!("{path}?{q}"),
            None => path.to_string(),
        };
        let authority = match self.port {
            Some(p) => format!("{}:{p}", self.host),
            None => self.host.clone(),
        };
        http::Uri::builder()
            .scheme(self.scheme())
            .authority(authority)
            .path_and_query(pq)
            .build()
            .map_err(|_| HttpError::InvalidUrl {
                url: s,
                reason: "it is not a valid request target",
            })
    }
}

impl fmt::Display for HttpUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}{}", self.origin(), self.path)?;
        if let Some(q) = &self.query {
            write!(f, "?{q}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for HttpUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{self}")
    }
}

fn strip_prefix_ci<'a>(s: &'a str, prefix: &str) -> Option<&'a str> {
    let head = s.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix)
        .then(|| &s[prefix.len()..])
}

/// One request to send.
#[derive(Debug)]
pub struct Request {
    method: Method,
    url: HttpUrl,
    headers: HeaderMap,
    body: Bytes,
}

impl Request {
    /// A `GET`.
    pub fn get(url: &HttpUrl) -> Self {
        Self::new(Method::GET, url, Bytes::new())
    }

    /// A `POST` with a body of the given content type.
    pub fn post(url: &HttpUrl, content_type: &'static str, body: impl Into<Bytes>) -> Self {
        Self::new(Method::POST, url, body.into()).header(http::header::CONTENT_TYPE, content_type)
    }

    /// A `DELETE`.
    pub fn delete(url: &HttpUrl) -> Self {
        Self::new(Method::DELETE, url, Bytes::new())
    }

    /// A request with any method.
    pub fn new(method: Method, url: &HttpUrl, body: Bytes) -> Self {
        Self {
            method,
            url: url.clone(),
            headers: HeaderMap::new(),
            body,
        }
    }

    /// Adds a header whose value is known to be valid.
    pub fn header(mut self, name: HeaderName, value: &'static str) -> Self {
        self.headers.append(name, HeaderValue::from_static(value));
        self
    }

    /// Adds a header built from data (skipped if the value is not a valid header value,
    /// which [`HeaderValue`] rejects for control characters).
    pub fn header_value(mut self, name: HeaderName, value: &str) -> Self {
        if let Ok(v) = HeaderValue::from_str(value) {
            self.headers.append(name, v);
        }
        self
    }
}

/// A response whose body has not been read yet.
#[derive(Debug)]
pub struct Response {
    /// Status code.
    pub status: StatusCode,
    /// Headers.
    pub headers: HeaderMap,
    body: Incoming,
    url: String,
}

impl Response {
    /// The first value of a header, if it is text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// Every value of a header that is text.
    pub fn header_all(&self, name: &str) -> Vec<&str> {
        self.headers
            .get_all(name)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .collect()
    }

    /// The media type, lower-cased, without parameters.
    pub fn media_type(&self) -> String {
        self.header("content-type")
            .unwrap_or_default()
            .split(';')
            .next()
            .unwrap_or_default()
            .trim()
            .to_ascii_lowercase()
    }

    /// Reads the whole body, failing beyond `limit` bytes.
    pub async fn bytes(self, limit: usize) -> Result<Bytes, HttpError> {
        let url = self.url;
        let mut body = self.body;
        let mut out = Vec::new();
        while let Some(frame) = body.frame().await {
            let frame = frame.map_err(|e| HttpError::Body {
                url: url.clone(),
                reason: e.to_string(),
            })?;
            if let Ok(data) = frame.into_data() {
                if out.len() + data.len() > limit {
                    return Err(HttpError::TooLarge { url, limit });
                }
                out.extend_from_slice(&data);
            }
        }
        Ok(out.into())
    }

    /// Reads up to `limit` bytes of the body as text, for error messages; never fails.
    pub async fn text_snippet(self, limit: usize) -> String {
        match self.bytes(64 * 1024).await {
            Ok(b) => {
                let s = String::from_utf8_lossy(&b);
                let s = s.trim();
                match s.char_indices().nth(limit) {
                    Some((i, _)) => format!("{}…", &s[..i]),
                    None => s.to_string(),
                }
            }
            Err(_) => String::new(),
        }
    }

    /// The URL it answers (for error messages).
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The body, unread, to stream on (the `widgetry host` proxy).
    pub fn into_body(self) -> Incoming {
        self.body
    }

    /// Decodes the body as a `text/event-stream`.
    pub fn into_events(self, limit: usize) -> SseStream {
        SseStream {
            body: self.body,
            url: self.url,
            decoder: SseDecoder::default(),
            ended: false,
            limit,
        }
    }
}

/// One Server-Sent Event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SseEvent {
    /// The `event:` field (`message` when absent).
    pub event: String,
    /// The `data:` lines joined with `\n`.
    pub data: String,
    /// The `id:` field.
    pub id: Option<String>,
}

/// The `text/event-stream` parser (WHATWG rules: `\n`, `\r\n` or `\r` line ends, `:`
/// comments, one optional space after the colon, events end at a blank line).
#[derive(Debug, Default)]
struct SseDecoder {
    buf: Vec<u8>,
    scanned: usize,
    skip_lf: bool,
    event: String,
    data: String,
    id: Option<String>,
}

impl SseDecoder {
    fn push(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
    }

    /// Ends the input: a last line without its terminator still counts; an event
    /// without the blank line that ends it is discarded (as browsers do).
    fn finish(&mut self) {
        if !self.buf.is_empty() {
            self.buf.push(b'\n');
        }
    }

    /// Bytes held (for the size cap).
    fn pending(&self) -> usize {
        self.buf.len() + self.data.len()
    }

    /// The next complete event in what was pushed so far.
    fn next_event(&mut self) -> Option<SseEvent> {
        while let Some(line) = self.take_line() {
            if let Some(event) = self.process_line(&line) {
                return Some(event);
            }
        }
        None
    }

    fn take_line(&mut self) -> Option<String> {
        if self.skip_lf && !self.buf.is_empty() {
            if self.buf[0] == b'\n' {
                self.buf.remove(0);
            }
            self.skip_lf = false;
        }
        // Resume the search where the last one stopped: a long line arriving in many
        // frames is scanned once, not once per frame.
        let Some(offset) = self.buf[self.scanned..]
            .iter()
            .position(|b| *b == b'\n' || *b == b'\r')
        else {
            self.scanned = self.buf.len();
            return None;
        };
        let end = self.scanned + offset;
        self.scanned = 0;
        let line = String::from_utf8_lossy(&self.buf[..end]).into_owned();
        if self.buf[end] == b'\r' {
            self.skip_lf = true;
        }
        self.buf.drain(..=end);
        Some(line)
    }

    fn process_line(&mut self, line: &str) -> Option<SseEvent> {
        if line.is_empty() {
            let event = std::mem::take(&mut self.event);
            let mut data = std::mem::take(&mut self.data);
            if data.is_empty() {
                return None;
            }
            data.pop(); // the trailing '\n'
            return Some(SseEvent {
                event: if event.is_empty() {
                    "message".into()
                } else {
                    event
                },
                data,
                id: self.id.clone(),
            });
        }
        if line.starts_with(':') {
            return None;
        }
        let (field, value) = match line.split_once(':') {
            Some((f, v)) => (f, v.strip_prefix(' ').unwrap_or(v)),
            None => (line, ""),
        };
        match field {
            "event" => self.event = value.to_string(),
            "data" => {
                self.data.push_str(value);
                self.data.push('\n');
            }
            "id" if !value.contains('\0') => self.id = Some(value.to_string()),
            _ => {}
        }
        None
    }
}

/// Events decoded from a streaming response body.
pub struct SseStream {
    body: Incoming,
    url: String,
    decoder: SseDecoder,
    ended: bool,
    limit: usize,
}

impl SseStream {
    /// The next event, or `None` when the stream ends.
    pub async fn next(&mut self) -> Result<Option<SseEvent>, HttpError> {
        loop {
            if let Some(event) = self.decoder.next_event() {
                return Ok(Some(event));
            }
            if self.ended {
                return Ok(None);
            }
            match self.body.frame().await {
                None => {
                    self.ended = true;
                    self.decoder.finish();
                }
                Some(Err(e)) => {
                    return Err(HttpError::Body {
                        url: self.url.clone(),
                        reason: e.to_string(),
                    })
                }
                Some(Ok(frame)) => {
                    if let Ok(data) = frame.into_data() {
                        self.decoder.push(&data);
                        if self.decoder.pending() > self.limit {
                            return Err(HttpError::TooLarge {
                                url: self.url.clone(),
                                limit: self.limit,
                            });
                        }
                    }
                }
            }
        }
    }
}

/// The pooled HTTP(S) client.
#[derive(Clone)]
pub struct HttpClient {
    inner: Client<hyper_rustls::HttpsConnector<HttpConnector>, Full<Bytes>>,
    verbose: bool,
}

impl HttpClient {
    /// A client; `verbose` logs every exchange to stderr.
    pub fn new(verbose: bool) -> Result<Self, HttpError> {
        let connector = hyper_rustls::HttpsConnectorBuilder::new()
            .with_provider_and_webpki_roots(rustls::crypto::ring::default_provider())
            .map_err(|e| HttpError::Tls(e.to_string()))?
            .https_or_http()
            .enable_http1()
            .build();
        Ok(Self {
            inner: Client::builder(TokioExecutor::new()).build(connector),
            verbose,
        })
    }

    /// Whether exchanges are logged.
    pub fn verbose(&self) -> bool {
        self.verbose
    }

    /// Sends a request; `timeout` bounds the time until the response headers arrive.
    pub async fn send(&self, req: Request, timeout: Duration) -> Result<Response, HttpError> {
        let url = req.url.to_string();
        let uri = req.url.to_uri()?;
        if self.verbose {
            eprintln!("> {} {url}", req.method);
            if !req.body.is_empty() && req.body.len() < 4096 {
                eprintln!("> {}", redact_body(&String::from_utf8_lossy(&req.body)));
            }
        }
        let mut builder = http::Request::builder().method(req.method).uri(uri);
        if let Some(h) = builder.headers_mut() {
            *h = req.headers;
            h.entry(http::header::USER_AGENT)
                .or_insert(HeaderValue::from_static(concat!(
                    "widgetry/",
                    env!("CARGO_PKG_VERSION")
                )));
        }
        let request = builder
            .body(Full::new(req.body))
            .map_err(|e| HttpError::Connect {
                url: url.clone(),
                reason: e.to_string(),
            })?;
        let resp = tokio::time::timeout(timeout, self.inner.request(request))
            .await
            .map_err(|_| HttpError::Timeout {
                url: url.clone(),
                after: timeout,
            })?
            .map_err(|e| HttpError::Connect {
                url: url.clone(),
                reason: error_chain(&e),
            })?;
        if self.verbose {
            eprintln!(
                "< {} {}",
                resp.status().as_u16(),
                resp.headers()
                    .get("content-type")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("")
            );
            for v in resp.headers().get_all("www-authenticate") {
                eprintln!("< www-authenticate: {}", v.to_str().unwrap_or("?"));
            }
        }
        let (parts, body) = resp.into_parts();
        Ok(Response {
            status: parts.status,
            headers: parts.headers,
            body,
            url,
        })
    }
}

/// The error and its sources, joined (hyper's top-level message alone is vague).
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let text = s.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        source = s.source();
    }
    out
}

/// Hides secrets in a logged form or JSON body.
fn redact_body(body: &str) -> String {
    const SECRET_KEYS: [&str; 5] = [
        "client_secret",
        "code_verifier",
        "refresh_token",
        "access_token",
        "code",
    ];
    if body.trim_start().starts_with('{') {
        return match serde_json::from_str::<serde_json::Value>(body) {
            Ok(serde_json::Value::Object(mut m)) => {
                for k in SECRET_KEYS {
                    if let Some(v) = m.get_mut(k) {
                        *v = serde_json::Value::String("…".into());
                    }
                }
                serde_json::Value::Object(m).to_string()
            }
            _ => body.to_string(),
        };
    }
    form_urlencoded::parse(body.as_bytes())
        .map(|(k, v)| {
            if SECRET_KEYS.contains(&k.as_ref()) {
                format!("{k}=…")
            } else {
                format!("{k}={v}")
            }
        })
        .collect::<Vec<_>>()
        .join("&")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_parsing_normalises_scheme_host_and_default_port() {
        let u = HttpUrl::parse("HTTPS://Example.COM:443/a/b?x=1#frag").unwrap();
        assert_eq!(u.to_string(), "https://example.com/a/b?x=1");
        assert_eq!(u.origin(), "https://example.com");
        assert_eq!(u.path_segments(), vec!["a", "b"]);
        let v6 = HttpUrl::parse("http://[::1]:8000/mcp").unwrap();
        assert_eq!(v6.origin(), "http://[::1]:8000");
        assert!(v6.is_loopback());
        assert!(HttpUrl::parse("ftp://x").is_err());
        assert!(HttpUrl::parse("http://user@x/").is_err());
        assert!(HttpUrl::parse("http://x:99999/").is_err());
    }

    #[test]
    fn join_resolves_absolute_paths_and_urls() {
        let base = HttpUrl::parse("http://127.0.0.1:9/mcp").unwrap();
        assert_eq!(
            base.join("/cb?code=1").unwrap().to_string(),
            "http://127.0.0.1:9/cb?code=1"
        );
        assert_eq!(
            base.join("https://a.example/x").unwrap().to_string(),
            "https://a.example/x"
        );
    }

    fn decode(chunks: &[&str]) -> Vec<SseEvent> {
        let mut d = SseDecoder::default();
        let mut out = Vec::new();
        for c in chunks {
            d.push(c.as_bytes());
            while let Some(e) = d.next_event() {
                out.push(e);
            }
        }
        d.finish();
        while let Some(e) = d.next_event() {
            out.push(e);
        }
        out
    }

    #[test]
    fn sse_events_survive_any_chunking_and_line_ending() {
        let stream = "id: 1\r\nevent: message\r\ndata: {\"a\":\r\ndata: 1}\r\n\r\n: comment\n\ndata:x\r\rdata: y\n\n";
        let whole = decode(&[stream]);
        assert_eq!(whole.len(), 3);
        assert_eq!(whole[0].data, "{\"a\":\n1}");
        assert_eq!(whole[0].id.as_deref(), Some("1"));
        assert_eq!((whole[1].data.as_str(), whole[2].data.as_str()), ("x", "y"));
        let bytes: Vec<String> = stream.chars().map(String::from).collect();
        let split: Vec<&str> = bytes.iter().map(String::as_str).collect();
        assert_eq!(decode(&split), whole);
    }

    #[test]
    fn an_unterminated_last_event_is_dropped() {
        assert!(decode(&["data: partial"]).is_empty());
        assert_eq!(decode(&["data: done\n"]).len(), 0);
        assert_eq!(decode(&["data: done\n\n"]).len(), 1);
    }

    #[test]
    fn redaction_hides_secrets_in_forms_and_json() {
        assert_eq!(
            redact_body("grant_type=x&code=abc&client_secret=s"),
            "grant_type=x&code=…&client_secret=…"
        );
        assert!(!redact_body(r#"{"access_token":"t","token_type":"Bearer"}"#).contains("\"t\""));
    }
}
