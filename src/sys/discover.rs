//! Which interfaces are the WAN and which are the LAN, when the configuration names none.
//!
//! Pure: it reads a [`LinkSnapshot`] the link monitor took, so it is the same on every OS.

use std::net::IpAddr;

use super::LinkSnapshot;

/// The interfaces found, each list in snapshot order without repeats.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Discovered {
    /// Interfaces that carry a default route (IPv4 or IPv6).
    pub wan: Vec<String>,
    /// Up, non-WAN, non-loopback interfaces with a private address (RFC 1918 or a ULA).
    pub lan: Vec<String>,
}

/// Picks the WAN and LAN interfaces from a snapshot.
pub fn discover(snapshot: &LinkSnapshot) -> Discovered {
    let mut wan: Vec<String> = Vec::new();
    for name in snapshot
        .default_routes
        .iter()
        .filter_map(|r| r.interface.as_ref())
    {
        if !wan.contains(name) {
            wan.push(name.clone());
        }
    }
    let mut lan: Vec<String> = Vec::new();
    for iface in &snapshot.interfaces {
        let private = iface.addresses.iter().any(|(addr, _)| is_private(addr));
        if iface.up
            && !iface.loopback
            && private
            && !wan.contains(&iface.name)
            && !lan.contains(&iface.name)
        {
            lan.push(iface.name.clone());
        }
    }
    Discovered { wan, lan }
}

/// RFC 1918 (10/8, 172.16/12, 192.168/16) or an RFC 4193 locally assigned ULA (fd00::/8).
pub fn is_private(addr: &IpAddr) -> bool {
    match addr {
        IpAddr::V4(v4) => v4.is_private(),
        IpAddr::V6(v6) => v6.octets()[0] == 0xfd,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sys::{DefaultRoute, InterfaceInfo};

    fn iface(name: &str, up: bool, loopback: bool, addrs: &[&str]) -> InterfaceInfo {
        InterfaceInfo {
            name: name.to_string(),
            index: 0,
            up,
            running: up,
            loopback,
            addresses: addrs
                .iter()
                .map(|a| (a.parse().expect("address"), 24))
                .collect(),
        }
    }

    fn route(interface: Option<&str>, gateway: &str) -> DefaultRoute {
        DefaultRoute {
            interface: interface.map(str::to_string),
            gateway: gateway.parse().ok(),
        }
    }

    #[test]
    fn router_with_wan_lan_guest_and_loopback() {
        let snapshot = LinkSnapshot {
            interfaces: vec![
                iface("lo", true, true, &["127.0.0.1", "::1"]),
                // A WAN with a private address (behind a carrier modem) is still the WAN.
                iface("wan0", true, false, &["192.168.100.2", "2001:db8::2"]),
                iface("lan0", true, false, &["192.168.1.1", "fe80::1"]),
                iface("guest0", true, false, &["10.10.0.1"]),
                iface("v6lan", true, false, &["fd12:3456::1"]),
                iface("down0", false, false, &["172.16.0.1"]),
                iface("public0", true, false, &["198.51.100.1", "2001:db8:1::1"]),
                iface("linklocal", true, false, &["fe80::2", "169.254.1.1"]),
            ],
            default_routes: vec![
                route(Some("wan0"), "192.168.100.1"),
                route(Some("wan0"), "fe80::1"),
                route(None, "203.0.113.1"),
            ],
        };
        let found = discover(&snapshot);
        assert_eq!(found.wan, vec!["wan0"]);
        assert_eq!(found.lan, vec!["lan0", "guest0", "v6lan"]);
    }

    #[test]
    fn two_wans_and_no_routes() {
        let snapshot = LinkSnapshot {
            interfaces: vec![
                iface("a", true, false, &["10.0.0.1"]),
                iface("b", true, false, &[]),
            ],
            default_routes: vec![route(Some("b"), "0.0.0.0"), route(Some("a"), "10.0.0.254")],
        };
        let found = discover(&snapshot);
        assert_eq!(found.wan, vec!["b", "a"]);
        assert!(found.lan.is_empty());
        assert_eq!(discover(&LinkSnapshot::default()), Discovered::default());
    }

    #[test]
    fn private_ranges_follow_rfc_1918_and_4193() {
        for a in [
            "10.0.0.0",
            "10.255.255.255",
            "172.16.0.1",
            "172.31.255.255",
            "192.168.0.1",
        ] {
            assert!(is_private(&a.parse().expect("address")), "{a}");
        }
        for a in [
            "172.15.255.255",
            "172.32.0.0",
            "192.169.0.1",
            "100.64.0.1",
            "fc00::1",
            "fe80::1",
        ] {
            assert!(!is_private(&a.parse().expect("address")), "{a}");
        }
        assert!(is_private(&"fdff:ffff::1".parse().expect("address")));
    }
}
