//! Client address resolution behind reverse proxies: generated forwarding chains (any
//! number of hops, client-written prefixes, garbage, several header lines, IPv6, ports)
//! resolve to the client the first trusted proxy saw, and a request from an untrusted
//! peer keeps its own address whatever it claims. Then the same through a real server:
//! the per-address registration limit cannot be escaped by a spoofed `X-Forwarded-For`.

mod common;

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use axum::http::{HeaderMap, HeaderValue};
use common::*;
use widgetry_authz::{ForwardedHeader, TrustedProxies};

const TRUSTED: &str = "10.0.0.0/8, 192.168.0.0/16, fd00::/8, 127.0.0.1";

/// A small deterministic generator (xorshift64*), so a failure names its seed.
struct Gen(u64);

impl Gen {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
    /// An address outside every trusted network.
    fn untrusted(&mut self, proxies: &TrustedProxies) -> IpAddr {
        loop {
            let ip = if self.chance(70) {
                IpAddr::V4(Ipv4Addr::from(self.next() as u32))
            } else {
                IpAddr::V6(Ipv6Addr::from(
                    (u128::from(self.next()) << 64) | u128::from(self.next()),
                ))
            };
            if !proxies.contains(ip) && ip.to_canonical() == ip {
                return ip;
            }
        }
    }
    /// An address inside a trusted network.
    fn trusted(&mut self) -> IpAddr {
        match self.below(4) {
            0 => IpAddr::V4(Ipv4Addr::from(
                0x0a00_0000 | (self.next() as u32 & 0x00ff_ffff),
            )),
            1 => IpAddr::V4(Ipv4Addr::from(0xc0a8_0000 | (self.next() as u32 & 0xffff))),
            2 => IpAddr::V6(Ipv6Addr::from(
                (0xfd_u128 << 120) | (u128::from(self.next()) & 0xffff_ffff),
            )),
            _ => IpAddr::V4(Ipv4Addr::LOCALHOST),
        }
    }
    /// Something a client might write: an address (trusted or not), or garbage.
    fn anything(&mut self, proxies: &TrustedProxies) -> String {
        match self.below(6) {
            0 => self.trusted().to_string(),
            1 => self.untrusted(proxies).to_string(),
            2 => "unknown".into(),
            3 => "not an address".into(),
            4 => "999.1.1.1".into(),
            _ => String::new(),
        }
    }
    /// `ip` as some proxy writes it into `X-Forwarded-For`.
    fn xff_form(&mut self, ip: IpAddr) -> String {
        match (ip, self.below(3)) {
            (IpAddr::V4(v4), 1) => format!("{v4}:{}", self.below(65536)),
            (IpAddr::V6(v6), 1) => format!("[{v6}]:{}", self.below(65536)),
            (IpAddr::V6(v6), 2) => format!("[{v6}]"),
            (ip, _) => ip.to_string(),
        }
    }
    /// `ip` as a `for=` parameter of RFC 7239.
    fn forwarded_form(&mut self, ip: IpAddr) -> String {
        match ip {
            IpAddr::V4(v4) if self.chance(50) => format!("for={v4}"),
            IpAddr::V4(v4) => format!("for=\"{v4}:{}\"", self.below(65536)),
            IpAddr::V6(v6) => format!("For=\"[{v6}]:{}\"", self.below(65536)),
        }
    }
}

/// `entries` as one or more header lines of `name`, with varied spacing.
fn headers(g: &mut Gen, name: &'static str, entries: &[String]) -> HeaderMap {
    let mut h = HeaderMap::new();
    let mut line = String::new();
    for (i, e) in entries.iter().enumerate() {
        if !line.is_empty() {
            line.push_str(if g.chance(50) { ", " } else { "," });
        }
        line.push_str(e);
        if g.chance(20) && i + 1 < entries.len() {
            h.append(name, HeaderValue::from_str(&line).unwrap());
            line.clear();
        }
    }
    if !line.is_empty() || h.is_empty() {
        h.append(name, HeaderValue::from_str(&line).unwrap());
    }
    h
}

/// One generated case: what the client wrote, the client, the proxies it went through
/// (the last is the TCP peer).
struct Chain {
    prefix: Vec<String>,
    client: IpAddr,
    hops: Vec<IpAddr>,
}

fn chain(g: &mut Gen, proxies: &TrustedProxies) -> Chain {
    let prefix = (0..g.below(4)).map(|_| g.anything(proxies)).collect();
    let client = g.untrusted(proxies);
    let hops = (0..1 + g.below(4)).map(|_| g.trusted()).collect();
    Chain {
        prefix,
        client,
        hops,
    }
}

#[test]
fn generated_chains_resolve_to_the_client_the_first_trusted_proxy_saw() {
    let xff = TrustedProxies::parse(TRUSTED).unwrap();
    let fwd = xff.clone().with_header(ForwardedHeader::Forwarded);
    for seed in 1..=4000u64 {
        let mut g = Gen(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1);
        let c = chain(&mut g, &xff);
        let peer = *c.hops.last().unwrap();
        // Each proxy appends the address it received the request from.
        let mut entries = c.prefix.clone();
        entries.push(g.xff_form(c.client));
        for hop in &c.hops[..c.hops.len() - 1] {
            entries.push(g.xff_form(*hop));
        }
        let h = headers(&mut g, "x-forwarded-for", &entries);
        assert_eq!(xff.client_ip(peer, &h), c.client, "seed {seed}: {h:?}");
        // The forwarding header of the other kind is not read.
        assert_eq!(fwd.client_ip(peer, &h), peer, "seed {seed}: {h:?}");

        let mut elements: Vec<String> = c.prefix.iter().map(|p| format!("for={p}")).collect();
        elements.push(format!(
            "{};proto=https;host=app.example",
            g.forwarded_form(c.client)
        ));
        for hop in &c.hops[..c.hops.len() - 1] {
            elements.push(format!("{};proto=http", g.forwarded_form(*hop)));
        }
        let h = headers(&mut g, "forwarded", &elements);
        let r = fwd.resolve(peer, &h);
        assert_eq!(r.ip, c.client, "seed {seed}: {h:?}");
        assert_eq!(
            r.proto,
            Some(widgetry_authz::ForwardedProto::Https),
            "seed {seed}"
        );
        assert_eq!(r.host.as_deref(), Some("app.example"), "seed {seed}");
    }
}

#[test]
fn an_untrusted_peer_keeps_its_address_whatever_it_claims() {
    let proxies = TrustedProxies::parse(TRUSTED).unwrap();
    for seed in 1..=2000u64 {
        let mut g = Gen(seed.wrapping_mul(0xd1b5_4a32_d192_ed03) | 1);
        let peer = g.untrusted(&proxies);
        let claims: Vec<String> = (0..1 + g.below(6)).map(|_| g.anything(&proxies)).collect();
        let mut h = headers(&mut g, "x-forwarded-for", &claims);
        for (name, value) in [
            ("forwarded", format!("for={}", g.trusted())),
            ("x-forwarded-proto", "https".to_string()),
            ("x-forwarded-host", "evil.example".to_string()),
        ] {
            h.append(name, HeaderValue::from_str(&value).unwrap());
        }
        for p in [
            proxies.clone(),
            proxies.clone().with_header(ForwardedHeader::Forwarded),
        ] {
            let r = p.resolve(peer, &h);
            assert_eq!(r.ip, peer, "seed {seed}: {h:?}");
            assert_eq!((r.proto, r.host), (None, None), "seed {seed}");
        }
    }
    // With no proxy configured, not even loopback is believed.
    let none = TrustedProxies::none();
    let mut h = HeaderMap::new();
    h.insert("x-forwarded-for", HeaderValue::from_static("203.0.113.9"));
    let lo = IpAddr::V4(Ipv4Addr::LOCALHOST);
    assert_eq!(none.client_ip(lo, &h), lo);
}

#[test]
fn an_unreadable_entry_stops_at_the_last_trusted_hop() {
    let proxies = TrustedProxies::parse(TRUSTED).unwrap();
    let peer: IpAddr = "10.0.0.1".parse().unwrap();
    for garbage in [
        "unknown",
        "",
        "1.2.3",
        "_obfuscated",
        "[::1",
        "1.2.3.4:http",
    ] {
        let mut h = HeaderMap::new();
        let v = format!("203.0.113.5, {garbage}, 192.168.1.1");
        h.insert("x-forwarded-for", HeaderValue::from_str(&v).unwrap());
        assert_eq!(
            proxies.client_ip(peer, &h),
            "192.168.1.1".parse::<IpAddr>().unwrap(),
            "{v:?}"
        );
    }
    // No header at all from a trusted proxy: the proxy is the client.
    assert_eq!(proxies.client_ip(peer, &HeaderMap::new()), peer);
    // A chain of trusted addresses only: the leftmost.
    let mut h = HeaderMap::new();
    h.insert(
        "x-forwarded-for",
        HeaderValue::from_static("192.168.0.7, 10.9.9.9"),
    );
    assert_eq!(
        proxies.client_ip(peer, &h),
        "192.168.0.7".parse::<IpAddr>().unwrap()
    );
    // An IPv4-mapped IPv6 peer (a dual-stack listener) is matched as IPv4.
    let mapped: IpAddr = "::ffff:10.0.0.1".parse().unwrap();
    h.insert("x-forwarded-for", HeaderValue::from_static("198.51.100.2"));
    assert_eq!(
        proxies.client_ip(mapped, &h),
        "198.51.100.2".parse::<IpAddr>().unwrap()
    );
}

#[test]
fn bad_proxy_lists_are_refused_with_the_entry_named() {
    for (list, entry) in [
        ("10.0.0.0/8, nginx", "nginx"),
        ("10.0.0.0/40", "10.0.0.0/40"),
        ("::1/129", "::1/129"),
        ("10.0.0.0/-1", "10.0.0.0/-1"),
    ] {
        let e = TrustedProxies::parse(list).unwrap_err();
        assert_eq!(e.entry, entry);
        assert!(e.to_string().contains(entry), "{e}");
    }
    assert!(TrustedProxies::parse(" ").unwrap().is_empty());
    assert_eq!(
        TrustedProxies::parse("10.0.0.0/8 ::1")
            .unwrap()
            .networks()
            .len(),
        2
    );
}

async fn register_from(ts: &TestServer, forwarded_for: &str) -> u16 {
    let body =
        serde_json::json!({ "redirect_uris": [LOOPBACK], "token_endpoint_auth_method": "none" });
    ts.http
        .request(
            "POST",
            &ts.url("/oauth/register"),
            &[
                ("content-type", "application/json"),
                ("x-forwarded-for", forwarded_for),
            ],
            body.to_string().into_bytes(),
        )
        .await
        .status
}

const LOOPBACK: &str = "http://127.0.0.1:9/callback";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_spoofed_forwarded_for_from_an_untrusted_peer_does_not_escape_the_address_limit() {
    let dir = tempfile::tempdir().unwrap();
    let ts = start_with(sqlite_store(&dir).await, |c| {
        c.registrations_per_address = 2;
        c.trusted_proxies = TrustedProxies::parse("10.0.0.0/8").unwrap();
    })
    .await;
    assert_eq!(register_from(&ts, "203.0.113.1").await, 201);
    assert_eq!(register_from(&ts, "203.0.113.2").await, 201);
    assert_eq!(register_from(&ts, "203.0.113.3").await, 429);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn behind_a_trusted_proxy_each_forwarded_client_has_its_own_limit() {
    let dir = tempfile::tempdir().unwrap();
    let ts = start_with(sqlite_store(&dir).await, |c| {
        c.registrations_per_address = 2;
        c.trusted_proxies = TrustedProxies::parse("127.0.0.1").unwrap();
    })
    .await;
    for client in ["203.0.113.1", "203.0.113.2", "203.0.113.3"] {
        assert_eq!(register_from(&ts, client).await, 201, "{client}");
    }
    // A client prefixing a fake hop is still itself: its third registration is refused.
    assert_eq!(register_from(&ts, "203.0.113.1").await, 201);
    assert_eq!(register_from(&ts, "198.51.100.1, 203.0.113.1").await, 429);
}
