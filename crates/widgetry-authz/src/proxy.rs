//! [`TrustedProxies`]: who the client is when requests arrive through reverse proxies.
//! The one place every rate limit, lockout and per-client limit of Widgetry (the
//! authorization server's sign-in and creation limits, the sign-in widget's endpoint,
//! the MCP endpoints' per-client session limit) takes the client address from.
//!
//! The forwarding headers are honoured only when the TCP peer is a trusted proxy. The
//! `X-Forwarded-For` list (or the `for=` parameters of RFC 7239 `Forwarded`, when the
//! proxies are configured to set that instead) is walked from the right — the entry the
//! nearest proxy appended — skipping entries that are themselves trusted proxies; the
//! first untrusted entry is the client. Entries left of it were written by the client
//! and are never read, so a client cannot choose its own address. An unreadable entry
//! stops the walk at the last trusted hop (a misconfigured proxy shares one address
//! rather than letting clients pick one).
//!
//! ```
//! use std::net::IpAddr;
//! use widgetry_authz::TrustedProxies;
//!
//! let proxies = TrustedProxies::parse("10.0.0.0/8, 127.0.0.1").unwrap();
//! let mut headers = axum::http::HeaderMap::new();
//! headers.insert("x-forwarded-for", "6.6.6.6, 203.0.113.7, 10.0.0.2".parse().unwrap());
//! // Through two trusted proxies: the client is the first untrusted entry from the right.
//! let peer: IpAddr = "127.0.0.1".parse().unwrap();
//! assert_eq!(proxies.client_ip(peer, &headers), "203.0.113.7".parse::<IpAddr>().unwrap());
//! // From anyone else the header is ignored.
//! let stranger: IpAddr = "198.51.100.1".parse().unwrap();
//! assert_eq!(proxies.client_ip(stranger, &headers), stranger);
//! ```

use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::str::FromStr;

use axum::extract::ConnectInfo;
use axum::http::{Extensions, HeaderMap, HeaderName};

static X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");
static X_FORWARDED_PROTO: HeaderName = HeaderName::from_static("x-forwarded-proto");
static X_FORWARDED_HOST: HeaderName = HeaderName::from_static("x-forwarded-host");
static FORWARDED: HeaderName = HeaderName::from_static("forwarded");

/// A bad trusted-proxy list: which entry, and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("trusted proxy {entry:?}: {reason} (expected an IP address or CIDR block such as 10.0.0.0/8 or fd00::/8)")]
pub struct ProxyListError {
    /// The entry as written.
    pub entry: String,
    /// What is wrong with it.
    pub reason: &'static str,
}

/// An IP network: an address and a prefix length (`10.0.0.0/8`, `::1/128`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IpNet {
    addr: IpAddr,
    prefix: u8,
}

impl IpNet {
    /// Whether `ip` is inside the network (IPv4-mapped IPv6 addresses count as IPv4).
    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.addr, ip.to_canonical()) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                mask(u32::from(net).into(), self.prefix, 32)
                    == mask(u32::from(ip).into(), self.prefix, 32)
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                mask(u128::from(net), self.prefix, 128) == mask(u128::from(ip), self.prefix, 128)
            }
            _ => false,
        }
    }
}

/// The top `prefix` bits of a `width`-bit number.
fn mask(bits: u128, prefix: u8, width: u8) -> u128 {
    if prefix == 0 {
        0
    } else {
        bits >> (width - prefix)
    }
}

impl FromStr for IpNet {
    type Err = ProxyListError;
    fn from_str(s: &str) -> Result<Self, ProxyListError> {
        let bad = |reason| ProxyListError {
            entry: s.to_string(),
            reason,
        };
        let (addr, prefix) = match s.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (s, None),
        };
        let addr = addr
            .parse::<IpAddr>()
            .map_err(|_| bad("not an IP address"))?
            .to_canonical();
        let width = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            None => width,
            Some(p) => p
                .parse::<u8>()
                .ok()
                .filter(|p| *p <= width)
                .ok_or_else(|| {
                    bad("the prefix length must be a number from 0 to 32 (IPv4) or 128 (IPv6)")
                })?,
        };
        Ok(Self { addr, prefix })
    }
}

impl fmt::Display for IpNet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

/// Which header the trusted proxies write the client chain into.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ForwardedHeader {
    /// `X-Forwarded-For`, with `X-Forwarded-Proto` and `X-Forwarded-Host` (nginx's
    /// `$proxy_add_x_forwarded_for`, most load balancers). The default.
    #[default]
    XForwardedFor,
    /// RFC 7239 `Forwarded` (`for=`, `proto=`, `host=`). Choose it only when every trusted
    /// proxy appends it: a proxy that passes a client's `Forwarded` header through
    /// untouched would let the client pick its address.
    Forwarded,
}

/// The scheme the client used, as a trusted proxy reported it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ForwardedProto {
    /// `http`
    Http,
    /// `https`
    Https,
}

/// Who sent a request, once the trusted proxies in front are looked through.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoteClient {
    /// The client's address.
    pub ip: IpAddr,
    /// The scheme the client used, when a trusted proxy said so.
    pub proto: Option<ForwardedProto>,
    /// The `Host` the client asked for, when a trusted proxy said so.
    pub host: Option<String>,
}

/// The reverse proxies whose forwarding headers are believed (see
/// [`TrustedProxies::client_ip`] for how a chain is read). Empty (the default) believes
/// none: the TCP peer is the client.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrustedProxies {
    nets: Vec<IpNet>,
    header: ForwardedHeader,
}

/// The most forwarding entries looked at; a longer chain stops at the last trusted hop.
const MAX_HOPS: usize = 64;

impl TrustedProxies {
    /// Trusts no proxy.
    pub fn none() -> Self {
        Self::default()
    }

    /// A comma- or whitespace-separated list of addresses and CIDR blocks
    /// (`"10.0.0.0/8, 127.0.0.1, fd00::/8"`); empty trusts none.
    pub fn parse(list: &str) -> Result<Self, ProxyListError> {
        let nets = list
            .split(|c: char| c == ',' || c.is_whitespace())
            .filter(|s| !s.is_empty())
            .map(str::parse)
            .collect::<Result<_, _>>()?;
        Ok(Self {
            nets,
            header: ForwardedHeader::default(),
        })
    }

    /// Reads the chain from `header` instead of `X-Forwarded-For`.
    pub fn with_header(mut self, header: ForwardedHeader) -> Self {
        self.header = header;
        self
    }

    /// The trusted networks.
    pub fn networks(&self) -> &[IpNet] {
        &self.nets
    }

    /// Which header the chain is read from.
    pub fn header(&self) -> ForwardedHeader {
        self.header
    }

    /// Whether no proxy is trusted.
    pub fn is_empty(&self) -> bool {
        self.nets.is_empty()
    }

    /// Whether `ip` is a trusted proxy.
    pub fn contains(&self, ip: IpAddr) -> bool {
        self.nets.iter().any(|n| n.contains(ip))
    }

    /// The client's address for a request whose TCP peer is `peer`.
    pub fn client_ip(&self, peer: IpAddr, headers: &HeaderMap) -> IpAddr {
        self.resolve(peer, headers).ip
    }

    /// The client's address for a request served with
    /// `into_make_service_with_connect_info::<SocketAddr>()`; `None` without it.
    pub fn client_ip_of(&self, headers: &HeaderMap, extensions: &Extensions) -> Option<IpAddr> {
        extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|ConnectInfo(peer)| self.client_ip(peer.ip(), headers))
    }

    /// The client's address, scheme and host for a request whose TCP peer is `peer`.
    pub fn resolve(&self, peer: IpAddr, headers: &HeaderMap) -> RemoteClient {
        let peer = peer.to_canonical();
        let direct = RemoteClient {
            ip: peer,
            proto: None,
            host: None,
        };
        if !self.contains(peer) {
            return direct;
        }
        match self.header {
            ForwardedHeader::XForwardedFor => {
                let ip = self.walk(
                    peer,
                    list(headers, &X_FORWARDED_FOR)
                        .map(parse_node)
                        .collect::<Vec<_>>(),
                );
                RemoteClient {
                    ip,
                    proto: list(headers, &X_FORWARDED_PROTO)
                        .next_back()
                        .and_then(parse_proto),
                    host: list(headers, &X_FORWARDED_HOST)
                        .next_back()
                        .and_then(parse_host),
                }
            }
            ForwardedHeader::Forwarded => {
                let elements: Vec<Element<'_>> = headers
                    .get_all(&FORWARDED)
                    .iter()
                    .filter_map(|v| v.to_str().ok())
                    .flat_map(split_quoted(','))
                    .map(Element::parse)
                    .collect();
                let ip = self.walk(peer, elements.iter().map(|e| e.for_).collect());
                // The proxy that wrote the client's element saw the client's request.
                let e = elements.iter().rev().find(|e| e.for_ == Some(ip));
                RemoteClient {
                    ip,
                    proto: e.and_then(|e| e.proto).and_then(parse_proto),
                    host: e.and_then(|e| e.host).and_then(parse_host),
                }
            }
        }
    }

    /// Walks `chain` (left to right as sent) from the right, starting at the trusted
    /// `peer`: the first untrusted entry, or the last trusted hop when the chain ends,
    /// is unreadable or too long.
    fn walk(&self, peer: IpAddr, chain: Vec<Option<IpAddr>>) -> IpAddr {
        let mut last = peer;
        for entry in chain.into_iter().rev().take(MAX_HOPS) {
            let Some(ip) = entry else { return last };
            if !self.contains(ip) {
                return ip;
            }
            last = ip;
        }
        last
    }
}

impl FromStr for TrustedProxies {
    type Err = ProxyListError;
    fn from_str(s: &str) -> Result<Self, ProxyListError> {
        Self::parse(s)
    }
}

/// The comma-separated values of every `name` header, trimmed, in order.
fn list<'h>(
    headers: &'h HeaderMap,
    name: &HeaderName,
) -> impl DoubleEndedIterator<Item = &'h str> + 'h {
    headers
        .get_all(name)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
}

/// A node as proxies write it: `1.2.3.4`, `1.2.3.4:80`, `::1`, `[::1]`, `[::1]:80`.
/// `unknown`, obfuscated identifiers and garbage are `None`.
fn parse_node(s: &str) -> Option<IpAddr> {
    let s = s.trim().trim_matches('"');
    let ip = if let Some(rest) = s.strip_prefix('[') {
        let (inner, after) = rest.split_once(']')?;
        if !(after.is_empty() || port(after.strip_prefix(':')?)) {
            return None;
        }
        inner.parse::<std::net::Ipv6Addr>().ok().map(IpAddr::V6)?
    } else if let Ok(ip) = s.parse::<IpAddr>() {
        ip
    } else {
        let (a, p) = s.rsplit_once(':')?;
        if !port(p) {
            return None;
        }
        IpAddr::V4(a.parse().ok()?)
    };
    Some(ip.to_canonical())
}

fn port(p: &str) -> bool {
    p.parse::<u16>().is_ok()
}

fn parse_proto(s: &str) -> Option<ForwardedProto> {
    match s.trim().trim_matches('"') {
        p if p.eq_ignore_ascii_case("https") => Some(ForwardedProto::Https),
        p if p.eq_ignore_ascii_case("http") => Some(ForwardedProto::Http),
        _ => None,
    }
}

/// A host as it may appear in `Host`: a name or address and an optional port.
fn parse_host(s: &str) -> Option<String> {
    let s = s.trim().trim_matches('"');
    let ok = !s.is_empty()
        && s.len() <= 255
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-.:[]_".contains(&b));
    ok.then(|| s.to_ascii_lowercase())
}

/// One RFC 7239 forwarded-element: `for=…;proto=…;host=…`.
struct Element<'a> {
    for_: Option<IpAddr>,
    proto: Option<&'a str>,
    host: Option<&'a str>,
}

impl<'a> Element<'a> {
    fn parse(s: &'a str) -> Self {
        let mut e = Element {
            for_: None,
            proto: None,
            host: None,
        };
        for pair in split_quoted(';')(s) {
            let Some((k, v)) = pair.split_once('=') else {
                continue;
            };
            let v = v.trim().trim_matches('"');
            match k.trim() {
                k if k.eq_ignore_ascii_case("for") => e.for_ = parse_node(v),
                k if k.eq_ignore_ascii_case("proto") => e.proto = Some(v),
                k if k.eq_ignore_ascii_case("host") => e.host = Some(v),
                _ => {}
            }
        }
        e
    }
}

/// Splits on `sep` outside double quotes (a quoted value may contain `,` or `;`).
fn split_quoted(sep: char) -> impl Fn(&str) -> Vec<&str> {
    move |s: &str| {
        let mut parts = Vec::new();
        let (mut start, mut quoted, mut escaped) = (0, false, false);
        for (i, c) in s.char_indices() {
            match c {
                _ if escaped => escaped = false,
                '\\' if quoted => escaped = true,
                '"' => quoted = !quoted,
                c if c == sep && !quoted => {
                    parts.push(s[start..i].trim());
                    start = i + c.len_utf8();
                }
                _ => {}
            }
        }
        parts.push(s[start..].trim());
        parts
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nodes_in_every_written_form() {
        for (s, want) in [
            ("1.2.3.4", Some("1.2.3.4")),
            (" 1.2.3.4:8080 ", Some("1.2.3.4")),
            ("\"[2001:db8::1]:4711\"", Some("2001:db8::1")),
            ("[::1]", Some("::1")),
            ("::ffff:10.0.0.1", Some("10.0.0.1")),
            ("2001:db8::1", Some("2001:db8::1")),
            ("unknown", None),
            ("_hidden", None),
            ("1.2.3.4:99999", None),
            ("[::1]x", None),
            ("", None),
        ] {
            assert_eq!(parse_node(s), want.map(|w| w.parse().unwrap()), "{s:?}");
        }
    }

    #[test]
    fn networks_match_by_prefix() {
        let n: IpNet = "10.1.0.0/16".parse().unwrap();
        assert!(n.contains("10.1.255.3".parse().unwrap()));
        assert!(!n.contains("10.2.0.1".parse().unwrap()));
        assert!(n.contains("::ffff:10.1.0.9".parse().unwrap()));
        let all: IpNet = "0.0.0.0/0".parse().unwrap();
        assert!(all.contains("8.8.8.8".parse().unwrap()));
        assert!(!all.contains("::2".parse().unwrap()));
        let v6: IpNet = "fd00::/8".parse().unwrap();
        assert!(v6.contains("fd12::1".parse().unwrap()));
        assert!(!v6.contains("fe80::1".parse().unwrap()));
        assert!("10.0.0.0/33".parse::<IpNet>().is_err());
        assert!("10.0.0.0/x".parse::<IpNet>().is_err());
        assert!("example.com".parse::<IpNet>().is_err());
    }

    #[test]
    fn quoted_separators_do_not_split() {
        assert_eq!(
            split_quoted(',')(r#"for="a,b";proto=https, for=1.2.3.4"#),
            vec![r#"for="a,b";proto=https"#, "for=1.2.3.4"]
        );
    }
}
