//! Addresses an outbound fetch on a client's behalf must never reach: the IANA
//! special-purpose registries for IPv4 and IPv6 (RFC 6890 and its updates, as of 2025),
//! plus the private and multicast ranges. One table per family, checked by prefix, so the
//! list reads like the registry it copies.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// IPv4 special-purpose and non-global ranges: (network, prefix length, name).
const V4: &[([u8; 4], u8, &str)] = &[
    ([0, 0, 0, 0], 8, "this network (RFC 791)"),
    ([10, 0, 0, 0], 8, "private use (RFC 1918)"),
    ([100, 64, 0, 0], 10, "shared address space (RFC 6598)"),
    ([127, 0, 0, 0], 8, "loopback (RFC 1122)"),
    ([169, 254, 0, 0], 16, "link local (RFC 3927)"),
    ([172, 16, 0, 0], 12, "private use (RFC 1918)"),
    ([192, 0, 0, 0], 24, "IETF protocol assignments (RFC 6890)"),
    ([192, 0, 2, 0], 24, "documentation TEST-NET-1 (RFC 5737)"),
    ([192, 31, 196, 0], 24, "AS112-v4 (RFC 7535)"),
    ([192, 52, 193, 0], 24, "AMT (RFC 7450)"),
    (
        [192, 88, 99, 0],
        24,
        "deprecated 6to4 relay anycast (RFC 7526)",
    ),
    ([192, 168, 0, 0], 16, "private use (RFC 1918)"),
    (
        [192, 175, 48, 0],
        24,
        "direct delegation AS112 service (RFC 7534)",
    ),
    ([198, 18, 0, 0], 15, "benchmarking (RFC 2544)"),
    ([198, 51, 100, 0], 24, "documentation TEST-NET-2 (RFC 5737)"),
    ([203, 0, 113, 0], 24, "documentation TEST-NET-3 (RFC 5737)"),
    ([224, 0, 0, 0], 4, "multicast (RFC 5771)"),
    (
        [240, 0, 0, 0],
        4,
        "reserved (RFC 1112), including broadcast",
    ),
];

/// IPv6 special-purpose and non-global ranges: (network, prefix length, name). The
/// IPv4-mapped range is not here: its addresses are judged by the IPv4 they carry.
const V6: &[([u16; 8], u8, &str)] = &[
    ([0, 0, 0, 0, 0, 0, 0, 0], 128, "unspecified (RFC 4291)"),
    ([0, 0, 0, 0, 0, 0, 0, 1], 128, "loopback (RFC 4291)"),
    (
        [0, 0, 0, 0, 0xffff, 0, 0, 0],
        96,
        "IPv4-translated (RFC 2765)",
    ),
    ([0, 0, 0, 0, 0, 0, 0, 0], 96, "IPv4-compatible (RFC 4291)"),
    ([0x64, 0xff9b, 0, 0, 0, 0, 0, 0], 96, "NAT64 (RFC 6052)"),
    (
        [0x64, 0xff9b, 1, 0, 0, 0, 0, 0],
        48,
        "local-use NAT64 (RFC 8215)",
    ),
    ([0x100, 0, 0, 0, 0, 0, 0, 0], 64, "discard-only (RFC 6666)"),
    (
        [0x2001, 0, 0, 0, 0, 0, 0, 0],
        23,
        "IETF protocol assignments, Teredo, ORCHID, benchmarking (RFC 2928)",
    ),
    (
        [0x2001, 0xdb8, 0, 0, 0, 0, 0, 0],
        32,
        "documentation (RFC 3849)",
    ),
    ([0x2002, 0, 0, 0, 0, 0, 0, 0], 16, "6to4 (RFC 3056)"),
    (
        [0x2620, 0x4f, 0x8000, 0, 0, 0, 0, 0],
        48,
        "AS112-v6 (RFC 7534)",
    ),
    (
        [0x3fff, 0, 0, 0, 0, 0, 0, 0],
        20,
        "documentation (RFC 9637)",
    ),
    (
        [0x5f00, 0, 0, 0, 0, 0, 0, 0],
        16,
        "segment routing SIDs (RFC 9602)",
    ),
    ([0xfc00, 0, 0, 0, 0, 0, 0, 0], 7, "unique local (RFC 4193)"),
    ([0xfe80, 0, 0, 0, 0, 0, 0, 0], 10, "link local (RFC 4291)"),
    (
        [0xfec0, 0, 0, 0, 0, 0, 0, 0],
        10,
        "deprecated site local (RFC 3879)",
    ),
    ([0xff00, 0, 0, 0, 0, 0, 0, 0], 8, "multicast (RFC 4291)"),
];

fn v4_in(ip: Ipv4Addr, net: [u8; 4], len: u8) -> bool {
    let mask = u32::MAX.checked_shl(32 - u32::from(len)).unwrap_or(0);
    u32::from(ip) & mask == u32::from(Ipv4Addr::from(net)) & mask
}

fn v6_in(ip: Ipv6Addr, net: [u16; 8], len: u8) -> bool {
    let mask = u128::MAX.checked_shl(128 - u32::from(len)).unwrap_or(0);
    u128::from(ip) & mask == u128::from(Ipv6Addr::from(net)) & mask
}

/// The special-purpose range `ip` is in, by name; `None` for a global address.
pub(crate) fn special_use(ip: IpAddr) -> Option<&'static str> {
    match ip {
        IpAddr::V4(v4) => V4
            .iter()
            .find(|(net, len, _)| v4_in(v4, *net, *len))
            .map(|(_, _, name)| *name),
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return special_use(IpAddr::V4(v4));
            }
            V6.iter()
                .find(|(net, len, _)| v6_in(v6, *net, *len))
                .map(|(_, _, name)| *name)
        }
    }
}

/// Whether `ip` is loopback (127/8, `::1`, or IPv4-mapped loopback).
pub(crate) fn is_loopback(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => v4.is_loopback(),
        IpAddr::V6(v6) => {
            v6.is_loopback() || v6.to_ipv4_mapped().is_some_and(|v4| v4.is_loopback())
        }
    }
}

/// Whether a fetch must never reach `ip`: any special-purpose address, except loopback
/// when `allow_loopback` (development set-ups).
pub(crate) fn is_forbidden(ip: IpAddr, allow_loopback: bool) -> bool {
    if allow_loopback && is_loopback(ip) {
        return false;
    }
    special_use(ip).is_some()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A deterministic stream of numbers (xorshift), for addresses spread over a range.
    fn numbers(seed: u64) -> impl Iterator<Item = u128> {
        let mut x = seed | 1;
        std::iter::repeat_with(move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (u128::from(x) << 64) | u128::from(x.rotate_left(29))
        })
    }

    #[test]
    fn every_address_of_every_listed_range_is_forbidden_in_every_form() {
        for (net, len, name) in V4 {
            let base = u32::from(Ipv4Addr::from(*net));
            let host_bits = 32 - u32::from(*len);
            for n in numbers(u64::from(base)).take(200) {
                let host = if host_bits == 0 {
                    0
                } else {
                    (n as u32) & (u32::MAX >> (32 - host_bits))
                };
                let ip = Ipv4Addr::from(base | host);
                assert_eq!(special_use(IpAddr::V4(ip)), Some(*name), "{ip}");
                assert!(is_forbidden(IpAddr::V4(ip), !ip.is_loopback()), "{ip}");
                // The same address inside IPv6: mapped, NAT64 and 6to4 forms.
                let mapped = ip.to_ipv6_mapped();
                assert!(is_forbidden(IpAddr::V6(mapped), false), "{mapped}");
                let o = ip.octets();
                let nat64 = Ipv6Addr::new(
                    0x64,
                    0xff9b,
                    0,
                    0,
                    0,
                    0,
                    u16::from_be_bytes([o[0], o[1]]),
                    u16::from_be_bytes([o[2], o[3]]),
                );
                assert!(is_forbidden(IpAddr::V6(nat64), false), "{nat64}");
                let six_to_four = Ipv6Addr::new(
                    0x2002,
                    u16::from_be_bytes([o[0], o[1]]),
                    u16::from_be_bytes([o[2], o[3]]),
                    0,
                    0,
                    0,
                    0,
                    1,
                );
                assert!(
                    is_forbidden(IpAddr::V6(six_to_four), false),
                    "{six_to_four}"
                );
            }
        }
        for (net, len, _) in V6 {
            let base = u128::from(Ipv6Addr::from(*net));
            let host_bits = 128 - u32::from(*len);
            for n in numbers(base as u64 ^ u64::from(*len)).take(200) {
                let host = if host_bits == 0 {
                    0
                } else {
                    n & (u128::MAX >> (128 - host_bits))
                };
                let ip = Ipv6Addr::from(base | host);
                assert!(is_forbidden(IpAddr::V6(ip), false), "{ip}");
            }
        }
    }

    #[test]
    fn global_addresses_are_allowed() {
        for ip in [
            "1.1.1.1",
            "8.8.8.8",
            "93.184.216.34",
            "192.0.1.1",
            "198.20.0.1",
            "223.255.255.255",
            "2606:4700:4700::1111",
            "2a00:1450:4001:80b::200e",
            "2001:4860:4860::8888",
            "::ffff:1.1.1.1",
        ] {
            let ip: IpAddr = ip.parse().unwrap();
            assert_eq!(special_use(ip), None, "{ip}");
            assert!(!is_forbidden(ip, false), "{ip}");
        }
    }

    #[test]
    fn loopback_is_allowed_only_when_asked_and_nothing_else_is() {
        for ip in ["127.0.0.1", "127.9.9.9", "::1", "::ffff:127.0.0.1"] {
            let ip: IpAddr = ip.parse().unwrap();
            assert!(is_forbidden(ip, false), "{ip}");
            assert!(!is_forbidden(ip, true), "{ip}");
        }
        for ip in ["10.1.2.3", "169.254.169.254", "fd00::1", "0.0.0.0", "::"] {
            assert!(is_forbidden(ip.parse().unwrap(), true), "{ip}");
        }
    }
}
