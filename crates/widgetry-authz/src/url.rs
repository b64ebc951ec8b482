//! A strict parser for the absolute `http`/`https` URLs this crate deals in (issuer,
//! resources, redirect URIs, client identifier URLs). It accepts only printable ASCII and
//! splits a URL into its parts without normalizing anything, so exact string comparison
//! stays meaningful.

use std::net::IpAddr;

/// The parts of an absolute URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Url {
    /// Lower-cased scheme.
    pub scheme: String,
    /// Whether `user[:password]@` was present.
    pub userinfo: bool,
    /// Lower-cased host; IPv6 literals keep their brackets.
    pub host: String,
    /// Explicit port.
    pub port: Option<u16>,
    /// Path, "" or starting with `/`.
    pub path: String,
    /// Query without `?`.
    pub query: Option<String>,
    /// Fragment without `#`.
    pub fragment: Option<String>,
}

impl Url {
    pub(crate) fn parse(s: &str) -> Result<Url, String> {
        if s.len() > 2048 {
            return Err("longer than 2048 characters".into());
        }
        if !s.bytes().all(|b| b.is_ascii_graphic()) {
            return Err("must be printable ASCII without spaces".into());
        }
        let (scheme, rest) = s
            .split_once("://")
            .ok_or_else(|| "not an absolute URL (scheme://host/...)".to_owned())?;
        let mut chars = scheme.chars();
        let valid_scheme = chars.next().is_some_and(|c| c.is_ascii_alphabetic())
            && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'));
        if !valid_scheme {
            return Err("invalid scheme".into());
        }
        let (rest, fragment) = match rest.split_once('#') {
            Some((r, f)) => (r, Some(f.to_owned())),
            None => (rest, None),
        };
        let (rest, query) = match rest.split_once('?') {
            Some((r, q)) => (r, Some(q.to_owned())),
            None => (rest, None),
        };
        let (authority, path) = match rest.find('/') {
            Some(i) => (&rest[..i], rest[i..].to_owned()),
            None => (rest, String::new()),
        };
        let (userinfo, host_port) = match authority.rfind('@') {
            Some(i) => (true, &authority[i + 1..]),
            None => (false, authority),
        };
        let (host, port) = if let Some(v6) = host_port.strip_prefix('[') {
            let end = v6
                .find(']')
                .ok_or_else(|| "unclosed IPv6 literal".to_owned())?;
            let addr = &v6[..end];
            addr.parse::<std::net::Ipv6Addr>()
                .map_err(|_| "invalid IPv6 literal".to_owned())?;
            let after = &v6[end + 1..];
            let port = match after {
                "" => None,
                p => Some(
                    p.strip_prefix(':')
                        .ok_or_else(|| "invalid port".to_owned())?,
                ),
            };
            (format!("[{}]", addr.to_ascii_lowercase()), port)
        } else {
            match host_port.split_once(':') {
                Some((h, p)) => (h.to_ascii_lowercase(), Some(p)),
                None => (host_port.to_ascii_lowercase(), None),
            }
        };
        if host.is_empty() {
            return Err("no host".into());
        }
        if !host.starts_with('[')
            && !host
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_' | b'~'))
        {
            return Err("invalid host".into());
        }
        let port = match port {
            None => None,
            Some(p) if !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()) => Some(
                p.parse::<u16>()
                    .map_err(|_| "port out of range".to_owned())?,
            ),
            Some(_) => return Err("invalid port".into()),
        };
        Ok(Url {
            scheme: scheme.to_ascii_lowercase(),
            userinfo,
            host,
            port,
            path,
            query,
            fragment,
        })
    }

    /// The host as an IP address, when it is a literal.
    pub(crate) fn host_ip(&self) -> Option<IpAddr> {
        let h = self
            .host
            .strip_prefix('[')
            .and_then(|h| h.strip_suffix(']'))
            .unwrap_or(&self.host);
        h.parse().ok()
    }

    /// `localhost` or a loopback IP literal.
    pub(crate) fn is_loopback_host(&self) -> bool {
        self.host == "localhost" || self.host_ip().is_some_and(|ip| ip.is_loopback())
    }

    /// Whether the path has `.` or `..` segments.
    pub(crate) fn has_dot_segments(&self) -> bool {
        self.path.split('/').any(|seg| seg == "." || seg == "..")
    }
}

#[cfg(test)]
mod tests {
    use super::Url;

    #[test]
    fn parses_the_parts() {
        let u = Url::parse("HTTPS://Example.com:8443/a/b?x=1#frag").unwrap();
        assert_eq!(u.scheme, "https");
        assert_eq!(u.host, "example.com");
        assert_eq!(u.port, Some(8443));
        assert_eq!(u.path, "/a/b");
        assert_eq!(u.query.as_deref(), Some("x=1"));
        assert_eq!(u.fragment.as_deref(), Some("frag"));
        let u = Url::parse("http://[::1]:9/cb").unwrap();
        assert!(u.is_loopback_host());
        assert_eq!(u.host, "[::1]");
        assert!(Url::parse("http://user@127.0.0.1/").unwrap().userinfo);
    }

    #[test]
    fn refuses_malformed_urls() {
        for bad in [
            "example.com/cb",
            "https:///cb",
            "https://exa mple.com/",
            "https://example.com:99999/",
            "https://example.com:/",
            "https://[::1/",
            "https://ex\u{e9}mple.com/",
        ] {
            assert!(Url::parse(bad).is_err(), "{bad}");
        }
    }
}
