//! The last known state of every interface, address and default route, and the changes a new
//! rtnetlink message makes to it. Pure: messages in, `LinkChange`s out.
//!
//! The kernel may send several messages for one change (a link coming up sends RTM_NEWLINK with
//! IFF_UP, then again with IFF_LOWER_UP; IPv6 re-sends RTM_NEWADDR when DAD finishes), or
//! coalesce several changes into one. So nothing is taken as an edge: each message is compared
//! with the stored state, and only real transitions are reported.
//!
//! Two kernel behaviours need help. When an interface is set administratively down, IPv4
//! routes through it are flushed without RTM_DELROUTE (IPv6 ones are announced): the table drops
//! IPv4 default routes through an interface that loses IFF_UP and reports their removal. When an
//! IPv4 address goes, the routes that depended on it are flushed silently too, and which ones is
//! the kernel's business: [`LinkTable::resync_default_routes`] compares a fresh dump's default
//! routes instead (the monitor calls it after every IPv4 address removal).

use std::collections::BTreeMap;
use std::net::IpAddr;

use super::netlink::{
    AddrMsg, LinkMsg, Message, NextHop, RouteMsg, AF_INET, IFF_LOOPBACK, IFF_LOWER_UP, IFF_UP,
    IF_OPER_UNKNOWN, IF_OPER_UP,
};
use crate::sys::{DefaultRoute, InterfaceInfo, LinkChange, LinkSnapshot};

/// One interface as last seen.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Interface {
    name: String,
    flags: u32,
    operstate: Option<u8>,
    addresses: Vec<(IpAddr, u8)>,
}

impl Interface {
    fn admin_up(&self) -> bool {
        self.flags & IFF_UP != 0
    }

    /// Up and with a carrier: IFF_UP and IFF_LOWER_UP, and an operstate that does not say
    /// otherwise (UNKNOWN is what drivers without carrier reporting, and loopback, give).
    fn link_up(&self) -> bool {
        self.admin_up()
            && self.flags & IFF_LOWER_UP != 0
            && matches!(
                self.operstate,
                None | Some(IF_OPER_UNKNOWN) | Some(IF_OPER_UP)
            )
    }
}

/// A default route's identity: same family, table entry and next hop.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct RouteKey {
    family: u8,
    priority: Option<u32>,
    hop: NextHop,
}

/// Interfaces by index, and the default routes.
#[derive(Clone, Debug, Default)]
pub struct LinkTable {
    interfaces: BTreeMap<u32, Interface>,
    default_routes: Vec<RouteKey>,
}

impl LinkTable {
    /// A table built from the messages of a dump (RTM_GETLINK, GETADDR, GETROUTE replies).
    pub fn from_dump<'a>(messages: impl IntoIterator<Item = &'a Message>) -> Self {
        let mut table = Self::default();
        for message in messages {
            let _ = table.apply(message, &|_| None);
        }
        table
    }

    /// Applies one message; returns the changes it makes. `name_of` resolves an interface
    /// index the table has not seen yet (a race with a message that came first).
    pub fn apply(
        &mut self,
        message: &Message,
        name_of: &dyn Fn(u32) -> Option<String>,
    ) -> Vec<LinkChange> {
        match message {
            Message::Link(link) => self.apply_link(link),
            Message::Addr(addr) => self.apply_addr(addr, name_of),
            Message::Route(route) if route.is_default() => self.apply_route(route, name_of),
            _ => Vec::new(),
        }
    }

    fn apply_link(&mut self, msg: &LinkMsg) -> Vec<LinkChange> {
        let mut changes = Vec::new();
        if msg.deleted {
            if let Some(gone) = self.interfaces.remove(&msg.index) {
                changes.extend(self.drop_routes(msg.index, None, &gone.name));
                changes.push(LinkChange::InterfaceGone {
                    interface: gone.name,
                });
            }
            return changes;
        }
        let name = msg
            .name
            .clone()
            .unwrap_or_else(|| format!("if{}", msg.index));
        match self.interfaces.get_mut(&msg.index) {
            Some(known) => {
                let (was_up, was_admin_up) = (known.link_up(), known.admin_up());
                known.name = name.clone();
                known.flags = msg.flags;
                // A message without IFLA_OPERSTATE says nothing about it: keep the old value.
                known.operstate = msg.operstate.or(known.operstate);
                let (is_up, is_admin_up) = (known.link_up(), known.admin_up());
                if was_admin_up && !is_admin_up {
                    changes.extend(self.drop_routes(msg.index, Some(AF_INET), &name));
                }
                if was_up != is_up {
                    changes.push(if is_up {
                        LinkChange::LinkUp { interface: name }
                    } else {
                        LinkChange::LinkDown { interface: name }
                    });
                }
            }
            None => {
                let iface = Interface {
                    name: name.clone(),
                    flags: msg.flags,
                    operstate: msg.operstate,
                    addresses: Vec::new(),
                };
                if iface.link_up() {
                    changes.push(LinkChange::LinkUp { interface: name });
                }
                self.interfaces.insert(msg.index, iface);
            }
        }
        changes
    }

    fn apply_addr(
        &mut self,
        msg: &AddrMsg,
        name_of: &dyn Fn(u32) -> Option<String>,
    ) -> Vec<LinkChange> {
        let Some(address) = msg.address else {
            return Vec::new();
        };
        let iface = self
            .interfaces
            .entry(msg.index)
            .or_insert_with(|| Interface {
                name: name_of(msg.index).unwrap_or_else(|| format!("if{}", msg.index)),
                flags: 0,
                operstate: None,
                addresses: Vec::new(),
            });
        let interface = iface.name.clone();
        let position = iface.addresses.iter().position(|(a, _)| *a == address);
        match (msg.deleted, position) {
            (false, None) => {
                iface.addresses.push((address, msg.prefix_len));
                vec![LinkChange::AddressAdded { interface, address }]
            }
            (false, Some(i)) => {
                iface.addresses[i].1 = msg.prefix_len;
                Vec::new()
            }
            (true, Some(i)) => {
                iface.addresses.remove(i);
                vec![LinkChange::AddressRemoved { interface, address }]
            }
            (true, None) => Vec::new(),
        }
    }

    fn apply_route(
        &mut self,
        msg: &RouteMsg,
        name_of: &dyn Fn(u32) -> Option<String>,
    ) -> Vec<LinkChange> {
        let mut changes = Vec::new();
        for hop in &msg.next_hops {
            let key = RouteKey {
                family: msg.family,
                priority: msg.priority,
                hop: *hop,
            };
            let interface = hop.oif.and_then(|i| self.name(i).or_else(|| name_of(i)));
            let gateway = hop.gateway;
            let position = self.default_routes.iter().position(|k| *k == key);
            match (msg.deleted, position) {
                (false, None) => {
                    self.default_routes.push(key);
                    changes.push(LinkChange::DefaultRouteAdded { interface, gateway });
                }
                (true, Some(i)) => {
                    self.default_routes.remove(i);
                    changes.push(LinkChange::DefaultRouteRemoved { interface, gateway });
                }
                _ => {}
            }
        }
        changes
    }

    /// Removes the default routes through `index` (of one family, or all) and reports them.
    fn drop_routes(&mut self, index: u32, family: Option<u8>, name: &str) -> Vec<LinkChange> {
        let mut changes = Vec::new();
        self.default_routes.retain(|key| {
            let through = key.hop.oif == Some(index) && family.is_none_or(|f| f == key.family);
            if through {
                changes.push(LinkChange::DefaultRouteRemoved {
                    interface: Some(name.to_string()),
                    gateway: key.hop.gateway,
                });
            }
            !through
        });
        changes
    }

    /// Whether `change` may have taken routes with it unannounced (an IPv4 address removed).
    pub fn may_flush_routes(change: &LinkChange) -> bool {
        matches!(
            change,
            LinkChange::AddressRemoved {
                address: IpAddr::V4(_),
                ..
            }
        )
    }

    /// Takes the default routes from a fresh dump, reporting those that went and came since the
    /// stored state. Interfaces and addresses are left to their notifications, which are still
    /// on their way and are compared with the stored state as usual.
    pub fn resync_default_routes<'a>(
        &mut self,
        dump: impl IntoIterator<Item = &'a Message>,
    ) -> Vec<LinkChange> {
        let fresh = LinkTable::from_dump(dump);
        let name = |index: Option<u32>| index.and_then(|i| self.name(i).or_else(|| fresh.name(i)));
        let gone = (self.default_routes.iter())
            .filter(|k| !fresh.default_routes.contains(k))
            .map(|k| LinkChange::DefaultRouteRemoved {
                interface: name(k.hop.oif),
                gateway: k.hop.gateway,
            });
        let came = (fresh.default_routes.iter())
            .filter(|k| !self.default_routes.contains(k))
            .map(|k| LinkChange::DefaultRouteAdded {
                interface: name(k.hop.oif),
                gateway: k.hop.gateway,
            });
        let changes = gone.chain(came).collect();
        self.default_routes = fresh.default_routes;
        changes
    }

    fn name(&self, index: u32) -> Option<String> {
        self.interfaces.get(&index).map(|i| i.name.clone())
    }

    /// The table as the contract's snapshot.
    pub fn snapshot(&self) -> LinkSnapshot {
        let interfaces = self
            .interfaces
            .iter()
            .map(|(index, i)| InterfaceInfo {
                name: i.name.clone(),
                index: *index,
                up: i.admin_up(),
                running: i.link_up(),
                loopback: i.flags & IFF_LOOPBACK != 0,
                addresses: i.addresses.clone(),
            })
            .collect();
        let default_routes = self
            .default_routes
            .iter()
            .map(|key| DefaultRoute {
                interface: key.hop.oif.and_then(|i| self.name(i)),
                gateway: key.hop.gateway,
            })
            .collect();
        LinkSnapshot {
            interfaces,
            default_routes,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sys::linux::netlink::{IF_OPER_UP, RTN_UNICAST, RT_TABLE_MAIN};

    const AF_INET6: u8 = 10;
    /// RFC 2863 lowerlayerdown, what a veth whose peer is down reports.
    const IF_OPER_LOWERLAYERDOWN: u8 = 3;
    const IF_OPER_DOWN: u8 = 2;

    fn link(index: u32, name: &str, flags: u32, operstate: Option<u8>) -> Message {
        Message::Link(LinkMsg {
            deleted: false,
            index,
            flags,
            name: Some(name.to_string()),
            operstate,
        })
    }

    fn addr(deleted: bool, index: u32, a: &str) -> Message {
        Message::Addr(AddrMsg {
            deleted,
            index,
            prefix_len: 24,
            address: Some(a.parse().unwrap()),
        })
    }

    fn route(deleted: bool, family: u8, oif: u32, gw: &str) -> Message {
        Message::Route(RouteMsg {
            deleted,
            family,
            dst_len: 0,
            table: RT_TABLE_MAIN,
            route_type: RTN_UNICAST,
            priority: None,
            next_hops: vec![NextHop {
                oif: Some(oif),
                gateway: gw.parse().ok(),
            }],
        })
    }

    const UP: u32 = IFF_UP | IFF_LOWER_UP;
    fn none(_: u32) -> Option<String> {
        None
    }

    fn table_with_eth0_up() -> LinkTable {
        LinkTable::from_dump(&[link(2, "eth0", UP, Some(IF_OPER_UP))])
    }

    #[test]
    fn repeated_and_partial_messages_give_one_transition() {
        let mut t = table_with_eth0_up();
        // Same state again (e.g. an MTU change): nothing.
        assert!(t
            .apply(&link(2, "eth0", UP, Some(IF_OPER_UP)), &none)
            .is_empty());
        // Carrier lost: LOWER_UP cleared, operstate DOWN.
        let down = t.apply(&link(2, "eth0", IFF_UP, Some(IF_OPER_DOWN)), &none);
        assert_eq!(
            down,
            vec![LinkChange::LinkDown {
                interface: "eth0".into()
            }]
        );
        assert!(t
            .apply(&link(2, "eth0", IFF_UP, Some(IF_OPER_DOWN)), &none)
            .is_empty());
        // Coming back in two messages as veth does: flags first, operstate later.
        assert!(t
            .apply(&link(2, "eth0", UP, Some(IF_OPER_LOWERLAYERDOWN)), &none)
            .is_empty());
        let up = t.apply(&link(2, "eth0", UP, Some(IF_OPER_UP)), &none);
        assert_eq!(
            up,
            vec![LinkChange::LinkUp {
                interface: "eth0".into()
            }]
        );
    }

    #[test]
    fn coalesced_flap_that_ends_where_it_began_reports_nothing() {
        let mut t = table_with_eth0_up();
        // The kernel coalesced down+up into one message showing the final state.
        assert!(t
            .apply(&link(2, "eth0", UP, Some(IF_OPER_UP)), &none)
            .is_empty());
    }

    #[test]
    fn message_without_operstate_keeps_the_last_one() {
        let mut t = table_with_eth0_up();
        assert!(t.apply(&link(2, "eth0", UP, None), &none).is_empty());
        let down = t.apply(&link(2, "eth0", 0, None), &none);
        assert_eq!(
            down,
            vec![LinkChange::LinkDown {
                interface: "eth0".into()
            }]
        );
    }

    #[test]
    fn addresses_are_reported_once_and_removed_once() {
        let mut t = table_with_eth0_up();
        let added = t.apply(&addr(false, 2, "192.0.2.10"), &none);
        let a = "192.0.2.10".parse().unwrap();
        assert_eq!(
            added,
            vec![LinkChange::AddressAdded {
                interface: "eth0".into(),
                address: a
            }]
        );
        // IPv6 DAD completion and lifetime refreshes re-send NEWADDR: no new change.
        assert!(t.apply(&addr(false, 2, "192.0.2.10"), &none).is_empty());
        let removed = t.apply(&addr(true, 2, "192.0.2.10"), &none);
        assert_eq!(
            removed,
            vec![LinkChange::AddressRemoved {
                interface: "eth0".into(),
                address: a
            }]
        );
        assert!(t.apply(&addr(true, 2, "192.0.2.10"), &none).is_empty());
        // An address on an index the table never saw uses the resolver.
        let named = t.apply(&addr(false, 9, "10.0.0.1"), &|i| Some(format!("new{i}")));
        assert!(
            matches!(&named[0], LinkChange::AddressAdded { interface, .. } if interface == "new9")
        );
    }

    #[test]
    fn default_routes_and_admin_down_flushes_ipv4_ones() {
        let mut t = table_with_eth0_up();
        let gw4: IpAddr = "192.0.2.1".parse().unwrap();
        let gw6: IpAddr = "fe80::1".parse().unwrap();
        assert_eq!(
            t.apply(&route(false, AF_INET, 2, "192.0.2.1"), &none),
            vec![LinkChange::DefaultRouteAdded {
                interface: Some("eth0".into()),
                gateway: Some(gw4)
            }]
        );
        assert!(t
            .apply(&route(false, AF_INET, 2, "192.0.2.1"), &none)
            .is_empty());
        assert_eq!(
            t.apply(&route(false, AF_INET6, 2, "fe80::1"), &none).len(),
            1
        );
        assert_eq!(t.snapshot().default_routes.len(), 2);
        // ip link set eth0 down: the kernel flushes the IPv4 route silently.
        let changes = t.apply(&link(2, "eth0", 0, Some(IF_OPER_DOWN)), &none);
        assert_eq!(
            changes,
            vec![
                LinkChange::DefaultRouteRemoved {
                    interface: Some("eth0".into()),
                    gateway: Some(gw4)
                },
                LinkChange::LinkDown {
                    interface: "eth0".into()
                },
            ]
        );
        // ...and announces the IPv6 one.
        assert_eq!(
            t.apply(&route(true, AF_INET6, 2, "fe80::1"), &none),
            vec![LinkChange::DefaultRouteRemoved {
                interface: Some("eth0".into()),
                gateway: Some(gw6)
            }]
        );
        assert!(t.snapshot().default_routes.is_empty());
    }

    /// `ip addr del` of the WAN address: the kernel drops the default route through it with
    /// no RTM_DELROUTE, and a later `ip route replace` to the same gateway would then look like
    /// nothing. The fresh dump after the removal reports the route gone, then the new one.
    #[test]
    fn routes_flushed_with_an_ipv4_address_are_found_by_the_resync() {
        let mut t = LinkTable::default();
        let none = |_: u32| None;
        t.apply(&link(2, "wan0", UP, Some(IF_OPER_UP)), &none);
        t.apply(&addr(false, 2, "203.0.113.2"), &none);
        t.apply(&route(false, AF_INET, 2, "203.0.113.1"), &none);
        t.apply(&route(false, AF_INET6, 2, "fe80::1"), &none);
        let removed = t.apply(&addr(true, 2, "203.0.113.2"), &none);
        assert!(removed.iter().any(LinkTable::may_flush_routes));
        assert!(!LinkTable::may_flush_routes(&LinkChange::AddressRemoved {
            interface: "wan0".into(),
            address: "fe80::1".parse().unwrap(),
        }));
        // What the kernel holds now: the interface, and only the IPv6 default route.
        let dump = [
            link(2, "wan0", UP, Some(IF_OPER_UP)),
            route(false, AF_INET6, 2, "fe80::1"),
        ];
        assert_eq!(
            t.resync_default_routes(&dump),
            vec![LinkChange::DefaultRouteRemoved {
                interface: Some("wan0".into()),
                gateway: Some("203.0.113.1".parse().unwrap()),
            }]
        );
        assert_eq!(t.resync_default_routes(&dump), vec![], "reported once");
        // The DHCP client puts the same route back: now that is news.
        assert_eq!(
            t.apply(&route(false, AF_INET, 2, "203.0.113.1"), &none),
            vec![LinkChange::DefaultRouteAdded {
                interface: Some("wan0".into()),
                gateway: Some("203.0.113.1".parse().unwrap()),
            }]
        );
        let dump = [
            link(2, "wan0", UP, Some(IF_OPER_UP)),
            route(false, AF_INET6, 2, "fe80::1"),
            route(false, AF_INET, 2, "203.0.113.254"),
        ];
        assert_eq!(
            t.resync_default_routes(&dump),
            vec![
                LinkChange::DefaultRouteRemoved {
                    interface: Some("wan0".into()),
                    gateway: Some("203.0.113.1".parse().unwrap()),
                },
                LinkChange::DefaultRouteAdded {
                    interface: Some("wan0".into()),
                    gateway: Some("203.0.113.254".parse().unwrap()),
                },
            ]
        );
    }

    #[test]
    fn deleted_interface_is_gone_with_its_routes() {
        let mut t = table_with_eth0_up();
        t.apply(&route(false, AF_INET6, 2, "fe80::1"), &none);
        let changes = t.apply(
            &Message::Link(LinkMsg {
                deleted: true,
                index: 2,
                flags: 0,
                name: None,
                operstate: None,
            }),
            &none,
        );
        assert_eq!(changes.len(), 2);
        assert_eq!(
            changes[1],
            LinkChange::InterfaceGone {
                interface: "eth0".into()
            }
        );
        assert!(t.snapshot().interfaces.is_empty());
    }

    #[test]
    fn snapshot_reports_flags() {
        let t = LinkTable::from_dump(&[
            link(
                1,
                "lo",
                IFF_UP | IFF_LOWER_UP | IFF_LOOPBACK,
                Some(IF_OPER_UNKNOWN),
            ),
            link(2, "eth0", IFF_UP, Some(IF_OPER_DOWN)),
            addr(false, 1, "127.0.0.1"),
        ]);
        let s = t.snapshot();
        assert_eq!(s.interfaces.len(), 2);
        let lo = &s.interfaces[0];
        assert!(lo.up && lo.running && lo.loopback);
        assert_eq!(lo.addresses, vec![("127.0.0.1".parse().unwrap(), 24)]);
        let eth = &s.interfaces[1];
        assert!(eth.up && !eth.running && !eth.loopback);
    }
}

/// Dumps captured from the real kernel (see testdata/README.md for how, and for the `ip`
/// output the expectations come from).
#[cfg(test)]
mod kernel_fixtures {
    use super::*;
    use crate::sys::linux::netlink;

    fn messages(hex: &str) -> Vec<Message> {
        let hex = hex.trim();
        let bytes: Vec<u8> = (0..hex.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).expect("hex fixture"))
            .collect();
        // The fixture concatenates datagrams; each ends on a 4-byte boundary, so one walk works.
        netlink::parse(&bytes).into_iter().map(|(_, m)| m).collect()
    }

    #[test]
    fn real_dump_gives_the_state_ip_showed() {
        let mut all = messages(include_str!("testdata/getlink_dump.hex"));
        assert_eq!(all.last(), Some(&Message::Done));
        assert_eq!(
            all.iter().filter(|m| matches!(m, Message::Link(_))).count(),
            3
        );
        all.extend(messages(include_str!("testdata/getaddr_dump.hex")));
        let routes = messages(include_str!("testdata/getroute_inet_dump.hex"));
        let route_count = routes
            .iter()
            .filter(|m| matches!(m, Message::Route(_)))
            .count();
        assert!(
            route_count >= 2,
            "the connected /24, local and broadcast routes and the default"
        );
        all.extend(routes);

        let snapshot = LinkTable::from_dump(&all).snapshot();
        let names: Vec<(&str, u32)> = snapshot
            .interfaces
            .iter()
            .map(|i| (i.name.as_str(), i.index))
            .collect();
        assert_eq!(names, vec![("lo", 1), ("mpfix1", 2), ("mpfix0", 3)]);
        let lo = &snapshot.interfaces[0];
        assert!(lo.loopback && !lo.up && !lo.running);
        let peer = &snapshot.interfaces[1];
        assert!(!peer.up && !peer.running && peer.addresses.is_empty());
        let wan = &snapshot.interfaces[2];
        assert!(wan.up && !wan.running, "UP but NO-CARRIER / LOWERLAYERDOWN");
        assert_eq!(
            wan.addresses,
            vec![
                ("192.0.2.10".parse().unwrap(), 24),
                ("2001:db8::10".parse().unwrap(), 64)
            ]
        );
        assert_eq!(
            snapshot.default_routes,
            vec![DefaultRoute {
                interface: Some("mpfix0".into()),
                gateway: Some("192.0.2.1".parse().unwrap()),
            }]
        );
    }
}
