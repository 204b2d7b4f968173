//! Which IP addresses Warden's outbound calls must not reach unless the configuration
//! allows it: loopback, unspecified, private, shared (carrier-grade NAT), link-local,
//! benchmarking, documentation, reserved, multicast and broadcast ranges, and the IPv6
//! forms that carry such an IPv4 address inside (IPv4-mapped and -translated, NAT64,
//! 6to4, Teredo).
//!
//! A pure classification of an address. The server's `outbound` module applies it to
//! every address it connects to on the strength of configuration or policy (ticket
//! checks, webhooks, chat, SMTP, SIEM over HTTP); policy compilation applies it to the
//! literal host of a `ticket_check_url`.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Why an address counts as internal: the range it is in, and the IPv6 form that
/// carries it when it is an IPv4 address inside an IPv6 one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Internal {
    /// The range, e.g. `loopback (127.0.0.0/8)`.
    pub range: &'static str,
    /// The IPv6 form and the IPv4 address it carries, e.g. (`6to4`, 127.0.0.1).
    pub inside: Option<(&'static str, Ipv4Addr)>,
}

impl fmt::Display for Internal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.inside {
            None => write!(f, "in {}", self.range),
            Some((form, v4)) => write!(f, "the {form} form of {v4}, in {}", self.range),
        }
    }
}

/// IPv4 ranges refused: (network, prefix length, name). The first match names the range.
const V4: [(u32, u32, &str); 17] = [
    (0x0000_0000, 32, "unspecified (0.0.0.0)"),
    (0x0000_0000, 8, "\"this network\" (0.0.0.0/8)"),
    (0x0a00_0000, 8, "private (10.0.0.0/8)"),
    (
        0x6440_0000,
        10,
        "shared address space (100.64.0.0/10, carrier-grade NAT)",
    ),
    (0x7f00_0000, 8, "loopback (127.0.0.0/8)"),
    (0xa9fe_0000, 16, "link-local (169.254.0.0/16)"),
    (0xac10_0000, 12, "private (172.16.0.0/12)"),
    (0xc000_0000, 24, "IETF protocol assignments (192.0.0.0/24)"),
    (0xc000_0200, 24, "documentation (192.0.2.0/24)"),
    (0xc058_6300, 24, "6to4 relay anycast (192.88.99.0/24)"),
    (0xc0a8_0000, 16, "private (192.168.0.0/16)"),
    (0xc612_0000, 15, "benchmarking (198.18.0.0/15)"),
    (0xc633_6400, 24, "documentation (198.51.100.0/24)"),
    (0xcb00_7100, 24, "documentation (203.0.113.0/24)"),
    (0xe000_0000, 4, "multicast (224.0.0.0/4)"),
    (0xffff_ffff, 32, "broadcast (255.255.255.255)"),
    (0xf000_0000, 4, "reserved (240.0.0.0/4)"),
];

/// IPv6 ranges refused outright: (network, prefix length, name). The forms that carry an
/// IPv4 address are judged by that address instead (see [`internal_v6`]).
const V6: [(u128, u32, &str); 12] = [
    (0, 128, "unspecified (::)"),
    (1, 128, "loopback (::1)"),
    (0, 96, "IPv4-compatible (::/96, deprecated)"),
    (
        0x0064_ff9b_0001_u128 << 80,
        48,
        "local-use NAT64 (64:ff9b:1::/48)",
    ),
    (0x0100_u128 << 112, 64, "discard-only (100::/64)"),
    (0x2001_0002_u128 << 96, 48, "benchmarking (2001:2::/48)"),
    (0x2001_0db8_u128 << 96, 32, "documentation (2001:db8::/32)"),
    (0x3fff_u128 << 112, 20, "documentation (3fff::/20)"),
    (0xfc00_u128 << 112, 7, "unique local (fc00::/7)"),
    (0xfe80_u128 << 112, 10, "link-local (fe80::/10)"),
    (0xfec0_u128 << 112, 10, "site-local (fec0::/10, deprecated)"),
    (0xff00_u128 << 112, 8, "multicast (ff00::/8)"),
];

/// Whether `ip` is internal, and why; `None` for an address Warden may call without
/// `allow_internal`.
pub fn internal(ip: IpAddr) -> Option<Internal> {
    match ip {
        IpAddr::V4(v4) => internal_v4(v4).map(|range| Internal {
            range,
            inside: None,
        }),
        IpAddr::V6(v6) => internal_v6(v6),
    }
}

/// The name of the internal range `ip` is in.
fn internal_v4(ip: Ipv4Addr) -> Option<&'static str> {
    let bits = u32::from(ip);
    V4.iter()
        .find(|(net, len, _)| prefix_v4(bits, *len) == *net)
        .map(|(_, _, name)| *name)
}

fn prefix_v4(bits: u32, len: u32) -> u32 {
    match len {
        0 => 0,
        len => bits & (u32::MAX << (32 - len.min(32))),
    }
}

fn prefix_v6(bits: u128, len: u32) -> u128 {
    match len {
        0 => 0,
        len => bits & (u128::MAX << (128 - len.min(128))),
    }
}

/// The IPv4 address in the 32 bits of `bits` starting `from` bits after the top.
fn v4_at(bits: u128, from: u32) -> Ipv4Addr {
    // Truncation keeps exactly the 32 bits wanted.
    #[allow(clippy::cast_possible_truncation)]
    let word = (bits >> (96 - from)) as u32;
    Ipv4Addr::from(word)
}

fn internal_v6(ip: Ipv6Addr) -> Option<Internal> {
    let bits = u128::from(ip);
    // The forms that carry an IPv4 address, judged by it.
    let carriers: [(u128, u32, &'static str, u32); 4] = [
        // ::ffff:a.b.c.d
        (0xffff_u128 << 32, 96, "IPv4-mapped", 96),
        // ::ffff:0:a.b.c.d (SIIT)
        (0xffff_u128 << 48, 96, "IPv4-translated", 96),
        // 64:ff9b::a.b.c.d
        (0x0064_ff9b_u128 << 96, 96, "NAT64", 96),
        // 2002:AABB:CCDD::/48
        (0x2002_u128 << 112, 16, "6to4", 16),
    ];
    for (net, len, form, from) in carriers {
        if prefix_v6(bits, len) == net {
            let v4 = v4_at(bits, from);
            return internal_v4(v4).map(|range| Internal {
                range,
                inside: Some((form, v4)),
            });
        }
    }
    // Teredo, 2001::/32: the server's IPv4 address in bits 32-63, the client's
    // (inverted) in the last 32.
    if prefix_v6(bits, 32) == 0x2001_u128 << 112 {
        let server = v4_at(bits, 32);
        #[allow(clippy::cast_possible_truncation)] // the low 32 bits, on purpose
        let client = Ipv4Addr::from(!(bits as u32));
        return [server, client].into_iter().find_map(|v4| {
            internal_v4(v4).map(|range| Internal {
                range,
                inside: Some(("Teredo", v4)),
            })
        });
    }
    V6.iter()
        .find(|(net, len, _)| prefix_v6(bits, *len) == *net)
        .map(|(_, _, range)| Internal {
            range,
            inside: None,
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn why(ip: &str) -> Option<String> {
        internal(ip.parse().unwrap()).map(|i| i.to_string())
    }

    /// Every form the outbound guard must refuse, with the range it is reported in.
    #[test]
    fn internal_forms_are_refused_with_their_range() {
        let cases = [
            ("127.0.0.1", "in loopback (127.0.0.0/8)"),
            ("127.8.9.10", "in loopback (127.0.0.0/8)"),
            ("0.0.0.0", "in unspecified (0.0.0.0)"),
            ("0.1.2.3", "in \"this network\" (0.0.0.0/8)"),
            ("10.1.2.3", "in private (10.0.0.0/8)"),
            ("172.16.0.1", "in private (172.16.0.0/12)"),
            ("172.31.255.255", "in private (172.16.0.0/12)"),
            ("192.168.1.1", "in private (192.168.0.0/16)"),
            (
                "100.64.0.1",
                "in shared address space (100.64.0.0/10, carrier-grade NAT)",
            ),
            (
                "100.127.255.255",
                "in shared address space (100.64.0.0/10, carrier-grade NAT)",
            ),
            ("169.254.169.254", "in link-local (169.254.0.0/16)"),
            ("198.18.0.1", "in benchmarking (198.18.0.0/15)"),
            ("198.19.255.254", "in benchmarking (198.18.0.0/15)"),
            ("192.0.0.8", "in IETF protocol assignments (192.0.0.0/24)"),
            ("192.0.2.1", "in documentation (192.0.2.0/24)"),
            ("198.51.100.7", "in documentation (198.51.100.0/24)"),
            ("203.0.113.9", "in documentation (203.0.113.0/24)"),
            ("192.88.99.1", "in 6to4 relay anycast (192.88.99.0/24)"),
            ("224.0.0.1", "in multicast (224.0.0.0/4)"),
            ("239.255.255.250", "in multicast (224.0.0.0/4)"),
            ("240.0.0.1", "in reserved (240.0.0.0/4)"),
            ("255.255.255.255", "in broadcast (255.255.255.255)"),
            ("::", "in unspecified (::)"),
            ("::1", "in loopback (::1)"),
            ("::7f00:1", "in IPv4-compatible (::/96, deprecated)"),
            ("::8.8.8.8", "in IPv4-compatible (::/96, deprecated)"),
            (
                "::ffff:127.0.0.1",
                "the IPv4-mapped form of 127.0.0.1, in loopback (127.0.0.0/8)",
            ),
            (
                "::ffff:a9fe:a9fe",
                "the IPv4-mapped form of 169.254.169.254, in link-local (169.254.0.0/16)",
            ),
            (
                "::ffff:0:10.0.0.1",
                "the IPv4-translated form of 10.0.0.1, in private (10.0.0.0/8)",
            ),
            (
                "64:ff9b::a9fe:a9fe",
                "the NAT64 form of 169.254.169.254, in link-local (169.254.0.0/16)",
            ),
            (
                "64:ff9b::127.0.0.1",
                "the NAT64 form of 127.0.0.1, in loopback (127.0.0.0/8)",
            ),
            ("64:ff9b:1::8.8.8.8", "in local-use NAT64 (64:ff9b:1::/48)"),
            (
                "2002:7f00:1::",
                "the 6to4 form of 127.0.0.1, in loopback (127.0.0.0/8)",
            ),
            (
                "2002:a9fe:a9fe:1::1",
                "the 6to4 form of 169.254.169.254, in link-local (169.254.0.0/16)",
            ),
            (
                "2002:c612:1::",
                "the 6to4 form of 198.18.0.1, in benchmarking (198.18.0.0/15)",
            ),
            // Teredo: the server in bits 32-63 …
            (
                "2001:0:a00:1::1",
                "the Teredo form of 10.0.0.1, in private (10.0.0.0/8)",
            ),
            // … or the client, inverted, in the last 32 bits (!127.0.0.1 = 80ff:fffe).
            (
                "2001:0:808:808:0:0:80ff:fffe",
                "the Teredo form of 127.0.0.1, in loopback (127.0.0.0/8)",
            ),
            ("100::1", "in discard-only (100::/64)"),
            ("2001:2::1", "in benchmarking (2001:2::/48)"),
            ("2001:db8::1", "in documentation (2001:db8::/32)"),
            ("3fff::1", "in documentation (3fff::/20)"),
            ("fd00::1", "in unique local (fc00::/7)"),
            ("fc00::1", "in unique local (fc00::/7)"),
            ("fe80::1", "in link-local (fe80::/10)"),
            ("febf::1", "in link-local (fe80::/10)"),
            ("fec0::1", "in site-local (fec0::/10, deprecated)"),
            ("ff02::1", "in multicast (ff00::/8)"),
        ];
        for (ip, expected) in cases {
            assert_eq!(why(ip).as_deref(), Some(expected), "{ip}");
        }
    }

    #[test]
    fn public_addresses_and_their_ipv6_forms_pass() {
        for ip in [
            "8.8.8.8",
            "1.1.1.1",
            "93.184.215.14",
            "100.63.255.255",
            "100.128.0.0",
            "172.32.0.1",
            "198.17.255.255",
            "198.20.0.0",
            "223.255.255.255",
            "2606:4700:4700::1111",
            "2a00:1450:4001::200e",
            "::ffff:8.8.8.8",
            "64:ff9b::808:808",
            "2002:808:808::1",
            // Teredo with a public server and a public client (!8.8.4.4 = f7f7:fbfb).
            "2001:0:808:808:0:0:f7f7:fbfb",
        ] {
            assert_eq!(why(ip), None, "{ip}");
        }
    }
}
