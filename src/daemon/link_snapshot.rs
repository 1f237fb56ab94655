//! The last known link picture, and the changes between two pictures.
//!
//! Kernels drop link messages when their queues overflow (Linux ENOBUFS; FreeBSD's routing
//! socket silently), so the daemon re-dumps the state on start, on overflow and periodically,
//! and reports only the differences: a lost or coalesced message never leaves a wrong picture.

use crate::observe::observation::LinkChange;
use crate::sys::{DefaultRoute, InterfaceInfo, LinkSnapshot};

/// Whether an interface counts as up: administratively up with carrier.
pub fn is_up(interface: &InterfaceInfo) -> bool {
    interface.up && interface.running
}

/// Brings `snapshot` up to date with one change the monitor reported, so the next dump is
/// compared with what was already said.
pub fn apply(snapshot: &mut LinkSnapshot, change: &LinkChange) {
    let find = |snapshot: &mut LinkSnapshot, name: &str| {
        snapshot.interfaces.iter_mut().position(|i| i.name == name)
    };
    match change {
        LinkChange::LinkUp { interface } | LinkChange::LinkDown { interface } => {
            let up = matches!(change, LinkChange::LinkUp { .. });
            match find(snapshot, interface) {
                Some(i) => {
                    snapshot.interfaces[i].up = up || snapshot.interfaces[i].up;
                    snapshot.interfaces[i].running = up;
                }
                None => snapshot.interfaces.push(InterfaceInfo {
                    name: interface.clone(),
                    index: 0,
                    up,
                    running: up,
                    loopback: false,
                    addresses: Vec::new(),
                }),
            }
        }
        LinkChange::AddressAdded { interface, address } => {
            if let Some(i) = find(snapshot, interface) {
                let addresses = &mut snapshot.interfaces[i].addresses;
                if !addresses.iter().any(|(a, _)| a == address) {
                    addresses.push((*address, if address.is_ipv4() { 32 } else { 128 }));
                }
            }
        }
        LinkChange::AddressRemoved { interface, address } => {
            if let Some(i) = find(snapshot, interface) {
                snapshot.interfaces[i]
                    .addresses
                    .retain(|(a, _)| a != address);
            }
        }
        LinkChange::DefaultRouteAdded { interface, gateway } => {
            let route = DefaultRoute {
                interface: interface.clone(),
                gateway: *gateway,
            };
            if !snapshot.default_routes.contains(&route) {
                snapshot.default_routes.push(route);
            }
        }
        LinkChange::DefaultRouteRemoved { interface, gateway } => {
            snapshot
                .default_routes
                .retain(|r| !(r.interface == *interface && r.gateway == *gateway));
        }
        LinkChange::InterfaceGone { interface } => {
            snapshot.interfaces.retain(|i| i.name != *interface);
            snapshot
                .default_routes
                .retain(|r| r.interface.as_ref() != Some(interface));
        }
    }
}

/// The changes that turn `old` into `new`, in a stable order: departures, link state,
/// addresses, then default routes.
pub fn diff(old: &LinkSnapshot, new: &LinkSnapshot) -> Vec<LinkChange> {
    let mut changes = Vec::new();
    for gone in old
        .interfaces
        .iter()
        .filter(|o| !new.interfaces.iter().any(|n| n.name == o.name))
    {
        changes.push(LinkChange::InterfaceGone {
            interface: gone.name.clone(),
        });
    }
    for now in &new.interfaces {
        let before = old.interfaces.iter().find(|o| o.name == now.name);
        let was_up = before.is_some_and(is_up);
        if is_up(now) != was_up {
            let interface = now.name.clone();
            changes.push(if is_up(now) {
                LinkChange::LinkUp { interface }
            } else {
                LinkChange::LinkDown { interface }
            });
        }
        let old_addresses = before.map(|b| b.addresses.as_slice()).unwrap_or_default();
        // Compared by address alone: a change message carries no prefix length, so `apply`
        // records a placeholder one, and a dump that gives the real length is no change (a
        // prefix length breaks no NAT mapping either).
        let has = |list: &[(std::net::IpAddr, u8)], address: &std::net::IpAddr| {
            list.iter().any(|(a, _)| a == address)
        };
        for (address, _) in old_addresses
            .iter()
            .filter(|(a, _)| !has(&now.addresses, a))
        {
            changes.push(LinkChange::AddressRemoved {
                interface: now.name.clone(),
                address: *address,
            });
        }
        for (address, _) in now.addresses.iter().filter(|(a, _)| !has(old_addresses, a)) {
            changes.push(LinkChange::AddressAdded {
                interface: now.name.clone(),
                address: *address,
            });
        }
    }
    for route in old
        .default_routes
        .iter()
        .filter(|r| !new.default_routes.contains(r))
    {
        changes.push(LinkChange::DefaultRouteRemoved {
            interface: route.interface.clone(),
            gateway: route.gateway,
        });
    }
    for route in new
        .default_routes
        .iter()
        .filter(|r| !old.default_routes.contains(r))
    {
        changes.push(LinkChange::DefaultRouteAdded {
            interface: route.interface.clone(),
            gateway: route.gateway,
        });
    }
    changes
}

#[cfg(test)]
mod tests {
    use super::*;

    fn interface(name: &str, up: bool, addresses: &[&str]) -> InterfaceInfo {
        InterfaceInfo {
            name: name.into(),
            index: 1,
            up: true,
            running: up,
            loopback: false,
            addresses: addresses.iter().map(|a| (a.parse().unwrap(), 24)).collect(),
        }
    }

    fn route(interface: &str, gateway: &str) -> DefaultRoute {
        DefaultRoute {
            interface: Some(interface.into()),
            gateway: Some(gateway.parse().unwrap()),
        }
    }

    #[test]
    fn same_picture_means_no_changes() {
        let snap = LinkSnapshot {
            interfaces: vec![interface("wan0", true, &["203.0.113.2"])],
            default_routes: vec![route("wan0", "203.0.113.1")],
        };
        assert!(diff(&snap, &snap).is_empty());
    }

    #[test]
    fn a_lost_down_message_and_a_new_address_are_recovered_from_the_dump() {
        let old = LinkSnapshot {
            interfaces: vec![
                interface("wan0", true, &["203.0.113.2"]),
                interface("lan0", true, &["192.168.77.1"]),
            ],
            default_routes: vec![route("wan0", "203.0.113.1")],
        };
        let new = LinkSnapshot {
            interfaces: vec![interface("wan0", false, &["203.0.113.3"])],
            default_routes: vec![route("wan0", "203.0.113.254")],
        };
        let wan = || "wan0".to_string();
        assert_eq!(
            diff(&old, &new),
            vec![
                LinkChange::InterfaceGone {
                    interface: "lan0".into()
                },
                LinkChange::LinkDown { interface: wan() },
                LinkChange::AddressRemoved {
                    interface: wan(),
                    address: "203.0.113.2".parse().unwrap()
                },
                LinkChange::AddressAdded {
                    interface: wan(),
                    address: "203.0.113.3".parse().unwrap()
                },
                LinkChange::DefaultRouteRemoved {
                    interface: Some(wan()),
                    gateway: Some("203.0.113.1".parse().unwrap()),
                },
                LinkChange::DefaultRouteAdded {
                    interface: Some(wan()),
                    gateway: Some("203.0.113.254".parse().unwrap()),
                },
            ]
        );
    }

    #[test]
    fn changes_already_reported_are_not_reported_again_by_the_next_dump() {
        let mut known = LinkSnapshot {
            interfaces: vec![interface("wan0", true, &["203.0.113.2"])],
            default_routes: vec![route("wan0", "203.0.113.1")],
        };
        let reported = [
            LinkChange::LinkDown {
                interface: "wan0".into(),
            },
            LinkChange::DefaultRouteRemoved {
                interface: Some("wan0".into()),
                gateway: Some("203.0.113.1".parse().unwrap()),
            },
        ];
        for change in &reported {
            apply(&mut known, change);
        }
        let dump = LinkSnapshot {
            interfaces: vec![interface("wan0", false, &["203.0.113.2"])],
            default_routes: vec![],
        };
        assert!(diff(&known, &dump).is_empty(), "{:?}", diff(&known, &dump));
    }

    #[test]
    fn an_address_learned_from_a_message_is_not_changed_by_the_dump_giving_its_prefix() {
        // Seen in the lab: the link-local address re-added on link-up (and a new WAN address)
        // came back from the next periodic dump as "removed and added again", because the
        // message-built picture had /128 (/32) and the dump the real /64 (/24).
        let mut known = LinkSnapshot {
            interfaces: vec![interface("wan0", true, &["203.0.113.2"])],
            default_routes: vec![],
        };
        for address in ["fe80::4472:e0ff:fed9:68bb", "203.0.113.3"] {
            apply(
                &mut known,
                &LinkChange::AddressAdded {
                    interface: "wan0".into(),
                    address: address.parse().unwrap(),
                },
            );
        }
        let mut dump = known.clone();
        dump.interfaces[0].addresses = vec![
            ("203.0.113.2".parse().unwrap(), 24),
            ("fe80::4472:e0ff:fed9:68bb".parse().unwrap(), 64),
            ("203.0.113.3".parse().unwrap(), 24),
        ];
        assert!(diff(&known, &dump).is_empty(), "{:?}", diff(&known, &dump));
    }

    #[test]
    fn a_new_interface_that_is_up_is_reported_up_with_its_addresses() {
        let old = LinkSnapshot::default();
        let new = LinkSnapshot {
            interfaces: vec![interface("wan0", true, &["203.0.113.2"])],
            default_routes: vec![],
        };
        assert_eq!(
            diff(&old, &new),
            vec![
                LinkChange::LinkUp {
                    interface: "wan0".into()
                },
                LinkChange::AddressAdded {
                    interface: "wan0".into(),
                    address: "203.0.113.2".parse().unwrap()
                },
            ]
        );
    }
}
