//! Turns routing messages into [`LinkChange`]s and [`LinkSnapshot`]s.
//!
//! Live RTM_IFINFO messages carry only an interface index (`rt_ifmsg` sends no sockaddrs), and
//! rapid flaps are coalesced by the kernel (route(4)), so every RTM_IFINFO is
//! treated as "compare with the cache" and only an edge is reported. The index → name table is
//! filled from the NET_RT_IFLIST dump, from RTA_IFP sockaddrs and from RTM_IFANNOUNCE; a
//! caller-supplied resolver (`if_indextoname` on FreeBSD) covers the rest. Memory is bounded:
//! at most one entry per possible `u16` index.

use std::collections::BTreeMap;

use super::route::{self, AddressMessage, Announcement, IfInfo, Message, RouteMessage, RouteOp};
use crate::sys::{DefaultRoute, InterfaceInfo, LinkChange, LinkSnapshot};

/// What the tracker remembers about one interface.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
struct Known {
    name: Option<String>,
    /// Last reported usability (`IFF_UP` and carrier); `None` before the first RTM_IFINFO.
    usable: Option<bool>,
}

/// The cache that turns messages into edges.
#[derive(Clone, Debug, Default)]
pub struct LinkTracker {
    interfaces: BTreeMap<u16, Known>,
}

impl LinkTracker {
    /// An empty tracker: the first RTM_IFINFO for each interface is reported as an edge.
    pub fn new() -> Self {
        Self::default()
    }

    /// Replaces the cache with the state in a NET_RT_IFLIST dump, so that later messages are
    /// compared against it. Returns the snapshot of interfaces (default routes are added by
    /// [`default_routes`]).
    pub fn reset_from_iflist(&mut self, iflist: &[u8]) -> Vec<InterfaceInfo> {
        self.interfaces.clear();
        let mut infos: BTreeMap<u16, InterfaceInfo> = BTreeMap::new();
        for message in route::messages(iflist).flatten() {
            match message {
                Message::IfInfo(info) => {
                    let name = info
                        .name
                        .clone()
                        .unwrap_or_else(|| fallback_name(info.index));
                    self.interfaces.insert(
                        info.index,
                        Known {
                            name: Some(name.clone()),
                            usable: Some(info.usable()),
                        },
                    );
                    infos.insert(
                        info.index,
                        InterfaceInfo {
                            name,
                            index: u32::from(info.index),
                            up: info.admin_up(),
                            running: info.carrier(),
                            loopback: info.flags & route::IFF_LOOPBACK != 0,
                            addresses: Vec::new(),
                        },
                    );
                }
                Message::Address(AddressMessage {
                    added: true,
                    index,
                    address: Some(address),
                    prefix_len,
                    ..
                }) => {
                    if let Some(info) = infos.get_mut(&index) {
                        let full = if address.is_ipv6() { 128 } else { 32 };
                        info.addresses.push((address, prefix_len.unwrap_or(full)));
                    }
                }
                _ => {}
            }
        }
        infos.into_values().collect()
    }

    /// The name the tracker knows for `index`, if any.
    pub fn name_of(&self, index: u16) -> Option<&str> {
        self.interfaces.get(&index)?.name.as_deref()
    }

    /// The changes one message means. `resolve` names an index the cache does not know.
    pub fn apply(
        &mut self,
        message: &Message,
        resolve: &dyn Fn(u16) -> Option<String>,
    ) -> Vec<LinkChange> {
        match message {
            Message::IfInfo(info) => self.on_ifinfo(info, resolve).into_iter().collect(),
            Message::Address(address) => self.on_address(address, resolve).into_iter().collect(),
            Message::Announce(announcement) => self.on_announce(announcement).into_iter().collect(),
            Message::Route(route) => self.on_route(route, resolve).into_iter().collect(),
            Message::Skipped { .. } => Vec::new(),
        }
    }

    fn name(
        &mut self,
        index: u16,
        hint: Option<&str>,
        resolve: &dyn Fn(u16) -> Option<String>,
    ) -> String {
        let entry = self.interfaces.entry(index).or_default();
        if let Some(hint) = hint {
            entry.name = Some(hint.to_owned());
        }
        if entry.name.is_none() {
            entry.name = resolve(index);
        }
        entry.name.clone().unwrap_or_else(|| fallback_name(index))
    }

    fn on_ifinfo(
        &mut self,
        info: &IfInfo,
        resolve: &dyn Fn(u16) -> Option<String>,
    ) -> Option<LinkChange> {
        let interface = self.name(info.index, info.name.as_deref(), resolve);
        let usable = info.usable();
        let entry = self.interfaces.entry(info.index).or_default();
        if entry.usable == Some(usable) {
            return None;
        }
        entry.usable = Some(usable);
        Some(if usable {
            LinkChange::LinkUp { interface }
        } else {
            LinkChange::LinkDown { interface }
        })
    }

    fn on_address(
        &mut self,
        message: &AddressMessage,
        resolve: &dyn Fn(u16) -> Option<String>,
    ) -> Option<LinkChange> {
        // Link-level (AF_LINK) addresses are not IP addresses: nothing to report.
        let address = message.address?;
        let interface = self.name(message.index, message.interface.as_deref(), resolve);
        Some(if message.added {
            LinkChange::AddressAdded { interface, address }
        } else {
            LinkChange::AddressRemoved { interface, address }
        })
    }

    fn on_announce(&mut self, announcement: &Announcement) -> Option<LinkChange> {
        if announcement.arrival {
            self.interfaces.insert(
                announcement.index,
                Known {
                    name: Some(announcement.name.clone()),
                    usable: None,
                },
            );
            return None;
        }
        if !announcement.departure {
            return None;
        }
        // After a departure the index may be reused: forget it. Use ifan_name, which
        // `if_indextoname` can no longer provide.
        self.interfaces.remove(&announcement.index);
        Some(LinkChange::InterfaceGone {
            interface: announcement.name.clone(),
        })
    }

    fn on_route(
        &mut self,
        route: &RouteMessage,
        resolve: &dyn Fn(u16) -> Option<String>,
    ) -> Option<LinkChange> {
        // A refused request from another process is echoed with rtm_errno set: nothing changed.
        if route.errno != 0 || !route.is_default() {
            return None;
        }
        let interface = match (&route.interface, route.index) {
            (Some(name), _) => Some(name.clone()),
            (None, 0) => None,
            (None, index) => Some(self.name(index, None, resolve)),
        };
        let gateway = route.gateway;
        match route.op {
            // RTM_CHANGE replaces the route: report the new one as added.
            RouteOp::Add | RouteOp::Change => {
                Some(LinkChange::DefaultRouteAdded { interface, gateway })
            }
            RouteOp::Delete => Some(LinkChange::DefaultRouteRemoved { interface, gateway }),
            RouteOp::Get => None,
        }
    }
}

/// The default routes in a NET_RT_DUMP buffer (RTM_GET messages), named with `tracker`.
pub fn default_routes(
    dump: &[u8],
    tracker: &LinkTracker,
    resolve: &dyn Fn(u16) -> Option<String>,
) -> Vec<DefaultRoute> {
    route::messages(dump)
        .flatten()
        .filter_map(|message| match message {
            Message::Route(route) if route.errno == 0 && route.is_default() => {
                let interface = route.interface.clone().or_else(|| {
                    (route.index != 0).then(|| {
                        tracker
                            .name_of(route.index)
                            .map(str::to_owned)
                            .or_else(|| resolve(route.index))
                            .unwrap_or_else(|| fallback_name(route.index))
                    })
                });
                Some(DefaultRoute {
                    interface,
                    gateway: route.gateway,
                })
            }
            _ => None,
        })
        .collect()
}

/// Builds a snapshot from the two sysctl dumps, and resets `tracker` to it.
pub fn snapshot(
    tracker: &mut LinkTracker,
    iflist: &[u8],
    route_dumps: &[&[u8]],
    resolve: &dyn Fn(u16) -> Option<String>,
) -> LinkSnapshot {
    let interfaces = tracker.reset_from_iflist(iflist);
    let default_routes = route_dumps
        .iter()
        .flat_map(|dump| default_routes(dump, tracker, resolve))
        .collect();
    LinkSnapshot {
        interfaces,
        default_routes,
    }
}

/// A stand-in name for an index nothing could name, plain enough to show a user.
fn fallback_name(index: u16) -> String {
    format!("ifindex{index}")
}

#[cfg(test)]
mod tests {
    use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

    use super::*;
    use crate::sys::bsd::route::{
        IFF_LOOPBACK, IFF_RUNNING, IFF_UP, LINK_STATE_DOWN, LINK_STATE_UNKNOWN, LINK_STATE_UP,
        RTA_DST, RTA_GATEWAY, RTA_IFA, RTA_IFP, RTA_NETMASK, RTF_GATEWAY, RTM_ADD, RTM_CHANGE,
        RTM_DELADDR, RTM_DELETE, RTM_GET, RTM_NEWADDR,
    };
    use crate::sys::bsd::test_layout::*;

    fn no_resolver(_: u16) -> Option<String> {
        None
    }

    /// A NET_RT_IFLIST dump: lo0 (1) and igb0 (2, up, 198.51.100.7/24) as sysctl_iflist
    /// writes them: RTM_IFINFO with RTA_IFP, then one RTM_NEWADDR per address.
    fn iflist() -> Vec<u8> {
        let mut buf = if_msghdr(
            1,
            IFF_UP | IFF_LOOPBACK | IFF_RUNNING,
            LINK_STATE_UNKNOWN,
            RTA_IFP,
            &[sdl(1, "lo0")],
        );
        buf.extend(ifa_msghdr(
            RTM_NEWADDR,
            1,
            RTA_NETMASK | RTA_IFA,
            &[mask4(8), sin(Ipv4Addr::LOCALHOST)],
        ));
        buf.extend(if_msghdr(
            2,
            IFF_UP | IFF_RUNNING,
            LINK_STATE_UP,
            RTA_IFP,
            &[sdl(2, "igb0")],
        ));
        buf.extend(ifa_msghdr(
            RTM_NEWADDR,
            2,
            RTA_NETMASK | RTA_IFA,
            &[mask4(24), sin(Ipv4Addr::new(198, 51, 100, 7))],
        ));
        buf.extend(ifa_msghdr(
            RTM_NEWADDR,
            2,
            RTA_NETMASK | RTA_IFA,
            &[mask6(64), sin6("2001:db8::7".parse().unwrap())],
        ));
        buf
    }

    fn default_v4(rtm_type: u8, index: u16, gateway: Ipv4Addr) -> Vec<u8> {
        rt_msghdr(
            rtm_type,
            index,
            0x1 | RTF_GATEWAY | 0x40,
            RTA_DST | RTA_GATEWAY | RTA_NETMASK,
            0,
            &[sin(Ipv4Addr::UNSPECIFIED), sin(gateway), mask4(0)],
        )
    }

    fn changes(tracker: &mut LinkTracker, buf: &[u8]) -> Vec<LinkChange> {
        route::messages(buf)
            .flatten()
            .flat_map(|m| tracker.apply(&m, &no_resolver))
            .collect()
    }

    fn seeded() -> LinkTracker {
        let mut tracker = LinkTracker::new();
        tracker.reset_from_iflist(&iflist());
        tracker
    }

    #[test]
    fn snapshot_lists_interfaces_addresses_and_default_routes() {
        let mut tracker = LinkTracker::new();
        let dump = default_v4(RTM_GET, 2, Ipv4Addr::new(198, 51, 100, 1));
        let snap = snapshot(&mut tracker, &iflist(), &[&dump], &no_resolver);
        assert_eq!(snap.interfaces.len(), 2);
        let lo = &snap.interfaces[0];
        assert_eq!((lo.name.as_str(), lo.index, lo.loopback), ("lo0", 1, true));
        // lo0 reports UNKNOWN link state on a running driver: treated as carrier present.
        assert!(lo.up && lo.running);
        let igb = &snap.interfaces[1];
        assert_eq!(igb.name, "igb0");
        assert_eq!(
            igb.addresses,
            vec![
                (IpAddr::V4(Ipv4Addr::new(198, 51, 100, 7)), 24),
                ("2001:db8::7".parse().unwrap(), 64)
            ]
        );
        assert_eq!(
            snap.default_routes,
            vec![DefaultRoute {
                interface: Some("igb0".into()),
                gateway: Some(IpAddr::V4(Ipv4Addr::new(198, 51, 100, 1)))
            }]
        );
    }

    #[test]
    fn link_down_then_up_is_reported_once_each() {
        let mut tracker = seeded();
        let down = if_msghdr(2, IFF_UP | IFF_RUNNING, LINK_STATE_DOWN, 0, &[]);
        let up = if_msghdr(2, IFF_UP | IFF_RUNNING, LINK_STATE_UP, 0, &[]);
        assert_eq!(
            changes(&mut tracker, &down),
            vec![LinkChange::LinkDown {
                interface: "igb0".into()
            }]
        );
        // The kernel coalesces flaps: a repeated state is not a new edge.
        assert_eq!(changes(&mut tracker, &down), vec![]);
        assert_eq!(
            changes(&mut tracker, &up),
            vec![LinkChange::LinkUp {
                interface: "igb0".into()
            }]
        );
        // `ifconfig igb0 down` keeps carrier but clears IFF_UP.
        let admin_down = if_msghdr(2, IFF_RUNNING, LINK_STATE_UP, 0, &[]);
        assert_eq!(
            changes(&mut tracker, &admin_down),
            vec![LinkChange::LinkDown {
                interface: "igb0".into()
            }]
        );
    }

    #[test]
    fn unknown_index_uses_resolver_then_fallback() {
        let mut tracker = LinkTracker::new();
        let msg = if_msghdr(9, IFF_UP, LINK_STATE_DOWN, 0, &[]);
        let named: Vec<_> = route::messages(&msg)
            .flatten()
            .flat_map(|m| tracker.apply(&m, &|i| (i == 9).then(|| "ix0".to_string())))
            .collect();
        assert_eq!(
            named,
            vec![LinkChange::LinkDown {
                interface: "ix0".into()
            }]
        );
        let mut tracker = LinkTracker::new();
        assert_eq!(
            changes(&mut tracker, &msg),
            vec![LinkChange::LinkDown {
                interface: "ifindex9".into()
            }]
        );
    }

    #[test]
    fn addresses_added_and_removed() {
        let mut tracker = seeded();
        let mut buf = ifa_msghdr(
            RTM_NEWADDR,
            2,
            RTA_NETMASK | RTA_IFP | RTA_IFA,
            &[mask4(32), sdl(2, "igb0"), sin(Ipv4Addr::new(100, 64, 0, 2))],
        );
        buf.extend(ifa_msghdr(
            RTM_DELADDR,
            2,
            RTA_IFA,
            &[sin6("2001:db8::7".parse().unwrap())],
        ));
        assert_eq!(
            changes(&mut tracker, &buf),
            vec![
                LinkChange::AddressAdded {
                    interface: "igb0".into(),
                    address: IpAddr::V4(Ipv4Addr::new(100, 64, 0, 2))
                },
                LinkChange::AddressRemoved {
                    interface: "igb0".into(),
                    address: IpAddr::V6("2001:db8::7".parse::<Ipv6Addr>().unwrap())
                },
            ]
        );
    }

    #[test]
    fn default_route_add_change_delete() {
        let mut tracker = seeded();
        let gw1 = Ipv4Addr::new(198, 51, 100, 1);
        let gw2 = Ipv4Addr::new(198, 51, 100, 254);
        let mut buf = default_v4(RTM_ADD, 2, gw1);
        buf.extend(default_v4(RTM_CHANGE, 2, gw2));
        buf.extend(default_v4(RTM_DELETE, 2, gw2));
        let added = |gw: Ipv4Addr| LinkChange::DefaultRouteAdded {
            interface: Some("igb0".into()),
            gateway: Some(IpAddr::V4(gw)),
        };
        assert_eq!(
            changes(&mut tracker, &buf),
            vec![
                added(gw1),
                added(gw2),
                LinkChange::DefaultRouteRemoved {
                    interface: Some("igb0".into()),
                    gateway: Some(IpAddr::V4(gw2))
                }
            ]
        );
    }

    #[test]
    fn refused_route_request_changes_nothing() {
        let mut tracker = seeded();
        let refused = rt_msghdr(
            RTM_ADD,
            2,
            RTF_GATEWAY,
            RTA_DST | RTA_GATEWAY | RTA_NETMASK,
            17, // EEXIST, echoed to every routing socket
            &[
                sin(Ipv4Addr::UNSPECIFIED),
                sin(Ipv4Addr::new(198, 51, 100, 1)),
                mask4(0),
            ],
        );
        assert_eq!(changes(&mut tracker, &refused), vec![]);
    }

    #[test]
    fn departure_reports_gone_and_forgets_the_index() {
        let mut tracker = seeded();
        let gone = if_announcemsghdr(2, "igb0", 1);
        assert_eq!(
            changes(&mut tracker, &gone),
            vec![LinkChange::InterfaceGone {
                interface: "igb0".into()
            }]
        );
        assert_eq!(tracker.name_of(2), None);
        // The index is reused by a new interface, whose name comes from the arrival.
        let arrival = if_announcemsghdr(2, "tun0", 0);
        assert_eq!(changes(&mut tracker, &arrival), vec![]);
        let up = if_msghdr(2, IFF_UP | IFF_RUNNING, LINK_STATE_UP, 0, &[]);
        assert_eq!(
            changes(&mut tracker, &up),
            vec![LinkChange::LinkUp {
                interface: "tun0".into()
            }]
        );
    }

    /// Fixtures written by tests/data/freebsd/make_fixtures.py from the header layouts.
    const IFINFO_DOWN: &[u8] = include_bytes!("../../../tests/data/freebsd/ifinfo_igb0_down.bin");
    const NEWADDR_V4: &[u8] = include_bytes!("../../../tests/data/freebsd/newaddr_igb0_v4.bin");
    const BURST: &[u8] = include_bytes!("../../../tests/data/freebsd/burst.bin");

    #[test]
    fn fixture_link_down_and_address() {
        let mut tracker = seeded();
        assert_eq!(
            changes(&mut tracker, IFINFO_DOWN),
            vec![LinkChange::LinkDown {
                interface: "igb0".into()
            }]
        );
        assert_eq!(
            changes(&mut tracker, NEWADDR_V4),
            vec![LinkChange::AddressAdded {
                interface: "igb0".into(),
                address: IpAddr::V4(Ipv4Addr::new(198, 51, 100, 7))
            }]
        );
    }

    /// Seven messages in one buffer, in the order make_fixtures.py wrote them.
    #[test]
    fn fixture_burst() {
        let mut tracker = seeded();
        changes(&mut tracker, IFINFO_DOWN);
        let igb0 = || Some("igb0".to_string());
        assert_eq!(
            changes(&mut tracker, BURST),
            vec![
                LinkChange::DefaultRouteRemoved {
                    interface: igb0(),
                    gateway: Some(IpAddr::V4(Ipv4Addr::new(198, 51, 100, 1)))
                },
                LinkChange::LinkUp {
                    interface: "igb0".into()
                },
                LinkChange::AddressAdded {
                    interface: "igb0".into(),
                    address: "2001:db8:5::7".parse().unwrap()
                },
                LinkChange::DefaultRouteAdded {
                    interface: igb0(),
                    gateway: Some(IpAddr::V4(Ipv4Addr::new(198, 51, 100, 254)))
                },
                LinkChange::DefaultRouteAdded {
                    interface: igb0(),
                    gateway: Some("fe80::1".parse().unwrap())
                },
                LinkChange::AddressRemoved {
                    interface: "igb0".into(),
                    address: IpAddr::V4(Ipv4Addr::new(198, 51, 100, 7))
                },
                LinkChange::InterfaceGone {
                    interface: "tun0".into()
                },
            ]
        );
    }

    #[test]
    fn fixture_burst_cut_anywhere_never_panics_and_keeps_whole_messages() {
        for cut in 0..BURST.len() {
            let mut tracker = seeded();
            let got = changes(&mut tracker, &BURST[..cut]);
            assert!(got.len() <= 7, "cut at {cut}: {got:?}");
        }
    }

    proptest::proptest! {
        #[test]
        fn tracker_survives_arbitrary_bytes(
            buf in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..2048)
        ) {
            let mut tracker = seeded();
            let _ = changes(&mut tracker, &buf);
            let _ = snapshot(&mut tracker, &buf, &[&buf], &no_resolver);
        }
    }
}
