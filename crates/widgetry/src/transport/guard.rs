//! DNS-rebinding protection: `Host` and `Origin` validation for every MCP endpoint.
//!
//! Loopback hosts and origins are always allowed; anything else must be listed in the
//! configuration (`HttpConfig::allow_host` / `allow_origin`, or the
//! `WIDGETRY_ALLOWED_HOSTS` / `WIDGETRY_ALLOWED_ORIGINS` environment variables).

use http::HeaderMap;

/// Which `Host` and `Origin` values a server accepts besides loopback.
#[derive(Debug, Clone, Default)]
pub struct Guard {
    hosts: Vec<String>,
    origins: Vec<String>,
    any_host: bool,
    any_origin: bool,
}

/// Why a request was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum GuardError {
    /// The `Host` header names a host that is not allowed.
    Host(String),
    /// The `Origin` header names an origin that is not allowed.
    Origin(String),
}

impl std::fmt::Display for GuardError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            GuardError::Host(h) => write!(
                f,
                "forbidden: Host {h:?} is not allowed (DNS-rebinding protection); allow it with HttpConfig::allow_host or WIDGETRY_ALLOWED_HOSTS"
            ),
            GuardError::Origin(o) => write!(
                f,
                "forbidden: Origin {o:?} is not allowed; allow it with HttpConfig::allow_origin or WIDGETRY_ALLOWED_ORIGINS"
            ),
        }
    }
}

/// Whether a host name (no port) is a loopback name.
pub fn is_loopback_host(host: &str) -> bool {
    let h = host.trim_start_matches('[').trim_end_matches(']');
    // The common names first, without parsing an address.
    h == "127.0.0.1"
        || h.eq_ignore_ascii_case("localhost")
        || h.parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// Splits `host[:port]` (with `[v6]` support) and returns the host part.
pub fn host_name(authority: &str) -> &str {
    if let Some(rest) = authority.strip_prefix('[') {
        return rest.split(']').next().unwrap_or(rest);
    }
    match authority.rsplit_once(':') {
        Some((h, p)) if p.chars().all(|c| c.is_ascii_digit()) => h,
        _ => authority,
    }
}

impl Guard {
    /// Loopback only.
    pub fn loopback() -> Self {
        Self::default()
    }

    /// Allows a host (`example.com` or `example.com:8443`); `*` allows every host.
    pub fn allow_host(&mut self, host: &str) {
        if host == "*" {
            self.any_host = true;
        } else {
            self.hosts.push(host.to_ascii_lowercase());
        }
    }

    /// Allows an origin (`https://example.com`); `*` allows every origin.
    pub fn allow_origin(&mut self, origin: &str) {
        if origin == "*" {
            self.any_origin = true;
        } else {
            self.origins
                .push(origin.trim_end_matches('/').to_ascii_lowercase());
        }
    }

    /// Checks a request's headers.
    pub(crate) fn check(&self, headers: &HeaderMap) -> Result<(), GuardError> {
        if let Some(host) = headers.get(http::header::HOST) {
            let h = host.to_str().unwrap_or("");
            // Fast path without allocating: loopback hosts (any case) are always fine.
            if !self.any_host && !is_loopback_host(host_name(h)) {
                let h = h.to_ascii_lowercase();
                if !self.hosts.iter().any(|a| *a == h || a == host_name(&h)) {
                    return Err(GuardError::Host(h));
                }
            }
        }
        if let Some(origin) = headers.get(http::header::ORIGIN) {
            if !self.any_origin {
                let o = origin.to_str().unwrap_or("").to_ascii_lowercase();
                if !self.origin_allowed(&o) {
                    return Err(GuardError::Origin(o));
                }
            }
        }
        Ok(())
    }

    fn origin_allowed(&self, origin: &str) -> bool {
        if self.origins.iter().any(|a| a == origin) {
            return true;
        }
        let Some((scheme, authority)) = origin.split_once("://") else {
            return false;
        };
        matches!(scheme, "http" | "https") && is_loopback_host(host_name(authority))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(host: Option<&str>, origin: Option<&str>) -> HeaderMap {
        let mut h = HeaderMap::new();
        if let Some(v) = host {
            h.insert(http::header::HOST, v.parse().unwrap());
        }
        if let Some(v) = origin {
            h.insert(http::header::ORIGIN, v.parse().unwrap());
        }
        h
    }

    #[test]
    fn loopback_is_allowed_and_others_refused() {
        let g = Guard::loopback();
        assert!(g.check(&headers(Some("127.0.0.1:8000"), None)).is_ok());
        assert!(g
            .check(&headers(Some("localhost"), Some("http://localhost:3000")))
            .is_ok());
        assert!(g
            .check(&headers(Some("[::1]:80"), Some("http://[::1]:5173")))
            .is_ok());
        assert!(matches!(
            g.check(&headers(Some("evil.example.com"), None)),
            Err(GuardError::Host(_))
        ));
        assert!(matches!(
            g.check(&headers(
                Some("127.0.0.1"),
                Some("https://evil.example.com")
            )),
            Err(GuardError::Origin(_))
        ));
        assert!(g.check(&headers(Some("127.0.0.1"), Some("null"))).is_err());
        assert!(g.check(&headers(Some("localhost.evil.com"), None)).is_err());
    }

    #[test]
    fn configured_hosts_and_origins_are_allowed() {
        let mut g = Guard::loopback();
        g.allow_host("app.example.com");
        g.allow_origin("https://chatgpt.com/");
        assert!(g.check(&headers(Some("app.example.com:443"), None)).is_ok());
        assert!(g
            .check(&headers(
                Some("app.example.com"),
                Some("https://chatgpt.com")
            ))
            .is_ok());
        assert!(g.check(&headers(Some("other.example.com"), None)).is_err());
    }
}
