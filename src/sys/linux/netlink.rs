//! rtnetlink message parser: bytes from a NETLINK_ROUTE socket → messages. Pure (no I/O).
//!
//! Layouts from the kernel's uapi headers: `nlmsghdr` (netlink.h: u32 len, u16 type, u16 flags,
//! u32 seq, u32 pid; 16 bytes), `ifinfomsg` (rtnetlink.h: u8 family, u8 pad, u16 type, i32
//! index, u32 flags, u32 change; 16 bytes), `ifaddrmsg` (if_addr.h: u8 family, u8 prefixlen,
//! u8 flags, u8 scope, u32 index; 8 bytes), `rtmsg` (rtnetlink.h: family, dst_len, src_len,
//! tos, table, protocol, scope, type, u32 flags; 12 bytes), `rtattr` (u16 len, u16 type, data,
//! padded to 4), `rtnexthop` (u16 len, u8 flags, u8 hops, i32 ifindex; then attributes).
//! Integers are in host byte order. Every length is checked against the bytes present; a
//! malformed message ends the walk of its buffer, an unknown type is kept as `Other`.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

pub const NLMSG_HDRLEN: usize = 16;
pub const NLMSG_ERROR: u16 = 2;
pub const NLMSG_DONE: u16 = 3;
pub const NLMSG_OVERRUN: u16 = 4;
pub const RTM_NEWLINK: u16 = 16;
pub const RTM_DELLINK: u16 = 17;
pub const RTM_GETLINK: u16 = 18;
pub const RTM_NEWADDR: u16 = 20;
pub const RTM_DELADDR: u16 = 21;
pub const RTM_GETADDR: u16 = 22;
pub const RTM_NEWROUTE: u16 = 24;
pub const RTM_DELROUTE: u16 = 25;
pub const RTM_GETROUTE: u16 = 26;
pub const NLM_F_REQUEST: u16 = 0x1;
pub const NLM_F_DUMP_INTR: u16 = 0x10;
pub const NLM_F_DUMP: u16 = 0x300;

const IFLA_IFNAME: u16 = 3;
const IFLA_OPERSTATE: u16 = 16;
const IFA_ADDRESS: u16 = 1;
const IFA_LOCAL: u16 = 2;
const RTA_OIF: u16 = 4;
const RTA_GATEWAY: u16 = 5;
const RTA_PRIORITY: u16 = 6;
const RTA_MULTIPATH: u16 = 9;
const RTA_TABLE: u16 = 15;
const RTA_VIA: u16 = 18;
/// Attribute type bits that are flags, not the type (NLA_F_NESTED | NLA_F_NET_BYTEORDER).
const NLA_TYPE_MASK: u16 = 0x3fff;

pub const AF_INET: u8 = 2;
pub const AF_INET6: u8 = 10;

/// Interface flags (if.h).
pub const IFF_UP: u32 = 0x1;
pub const IFF_LOOPBACK: u32 = 0x8;
pub const IFF_LOWER_UP: u32 = 0x10000;
/// RFC 2863 operstates (if.h `IF_OPER_*`).
pub const IF_OPER_UNKNOWN: u8 = 0;
pub const IF_OPER_UP: u8 = 6;
/// `rtm_table` of the main table, and `rtm_type` of an ordinary route.
pub const RT_TABLE_MAIN: u32 = 254;
pub const RTN_UNICAST: u8 = 1;

/// The fixed netlink header of one message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Header {
    pub kind: u16,
    pub flags: u16,
    pub seq: u32,
    pub pid: u32,
}

/// RTM_NEWLINK / RTM_DELLINK.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LinkMsg {
    pub deleted: bool,
    pub index: u32,
    pub flags: u32,
    pub name: Option<String>,
    pub operstate: Option<u8>,
}

/// RTM_NEWADDR / RTM_DELADDR.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AddrMsg {
    pub deleted: bool,
    pub index: u32,
    pub prefix_len: u8,
    /// `IFA_LOCAL` when present (on point-to-point links `IFA_ADDRESS` is the peer), else
    /// `IFA_ADDRESS`.
    pub address: Option<IpAddr>,
}

/// RTM_NEWROUTE / RTM_DELROUTE.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RouteMsg {
    pub deleted: bool,
    pub family: u8,
    pub dst_len: u8,
    /// `RTA_TABLE` when present (tables above 255), else `rtm_table`.
    pub table: u32,
    pub route_type: u8,
    pub priority: Option<u32>,
    /// (output interface, gateway) per next hop; one entry unless the route is multipath.
    pub next_hops: Vec<NextHop>,
}

/// One next hop of a route.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct NextHop {
    pub oif: Option<u32>,
    pub gateway: Option<IpAddr>,
}

impl RouteMsg {
    /// 0.0.0.0/0 or ::/0 in the main table, an ordinary unicast route.
    pub fn is_default(&self) -> bool {
        self.dst_len == 0
            && self.table == RT_TABLE_MAIN
            && self.route_type == RTN_UNICAST
            && (self.family == AF_INET || self.family == AF_INET6)
    }
}

/// One parsed message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Message {
    Link(LinkMsg),
    Addr(AddrMsg),
    Route(RouteMsg),
    /// End of a dump.
    Done,
    /// An error or acknowledgement: the negative errno (0 = ack).
    Error(i32),
    /// A message type we do not use, or a body too short for its type.
    Other(u16),
}

/// Parses every message in one datagram. Stops at the first malformed header (a length below
/// the header size or past the end), keeping what came before it.
pub fn parse(buf: &[u8]) -> Vec<(Header, Message)> {
    let mut out = Vec::new();
    let mut rest = buf;
    while rest.len() >= NLMSG_HDRLEN {
        let (Some(len), Some(kind), Some(flags), Some(seq), Some(pid)) = (
            u32_at(rest, 0),
            u16_at(rest, 4),
            u16_at(rest, 6),
            u32_at(rest, 8),
            u32_at(rest, 12),
        ) else {
            break;
        };
        let len = len as usize;
        if len < NLMSG_HDRLEN || len > rest.len() {
            break;
        }
        let body = rest.get(NLMSG_HDRLEN..len).unwrap_or_default();
        let header = Header {
            kind,
            flags,
            seq,
            pid,
        };
        out.push((header, parse_body(kind, body)));
        rest = rest.get(align4(len)..).unwrap_or_default();
    }
    out
}

fn parse_body(kind: u16, body: &[u8]) -> Message {
    let parsed = match kind {
        NLMSG_DONE => Some(Message::Done),
        NLMSG_ERROR => i32_at(body, 0).map(Message::Error),
        RTM_NEWLINK | RTM_DELLINK => parse_link(kind == RTM_DELLINK, body).map(Message::Link),
        RTM_NEWADDR | RTM_DELADDR => parse_addr(kind == RTM_DELADDR, body).map(Message::Addr),
        RTM_NEWROUTE | RTM_DELROUTE => parse_route(kind == RTM_DELROUTE, body).map(Message::Route),
        _ => None,
    };
    parsed.unwrap_or(Message::Other(kind))
}

fn parse_link(deleted: bool, body: &[u8]) -> Option<LinkMsg> {
    let index = u32::try_from(i32_at(body, 4)?).ok()?;
    let mut msg = LinkMsg {
        deleted,
        index,
        flags: u32_at(body, 8)?,
        name: None,
        operstate: None,
    };
    for (kind, data) in attributes(body.get(16..)?) {
        match kind {
            IFLA_IFNAME => {
                let bytes = data.split(|b| *b == 0).next().unwrap_or_default();
                msg.name = Some(String::from_utf8_lossy(bytes).into_owned());
            }
            IFLA_OPERSTATE => msg.operstate = data.first().copied(),
            _ => {}
        }
    }
    Some(msg)
}

fn parse_addr(deleted: bool, body: &[u8]) -> Option<AddrMsg> {
    let family = *body.first()?;
    let (mut address, mut local) = (None, None);
    for (kind, data) in attributes(body.get(8..)?) {
        match kind {
            IFA_ADDRESS => address = ip_from(family, data),
            IFA_LOCAL => local = ip_from(family, data),
            _ => {}
        }
    }
    Some(AddrMsg {
        deleted,
        index: u32_at(body, 4)?,
        prefix_len: *body.get(1)?,
        address: local.or(address),
    })
}

fn parse_route(deleted: bool, body: &[u8]) -> Option<RouteMsg> {
    let family = *body.first()?;
    let mut msg = RouteMsg {
        deleted,
        family,
        dst_len: *body.get(1)?,
        table: u32::from(*body.get(4)?),
        route_type: *body.get(7)?,
        priority: None,
        next_hops: Vec::new(),
    };
    let mut single = NextHop {
        oif: None,
        gateway: None,
    };
    for (kind, data) in attributes(body.get(12..)?) {
        match kind {
            RTA_TABLE => msg.table = u32_at(data, 0).unwrap_or(msg.table),
            RTA_PRIORITY => msg.priority = u32_at(data, 0),
            RTA_OIF => single.oif = u32_at(data, 0),
            RTA_GATEWAY => single.gateway = ip_from(family, data),
            RTA_VIA => single.gateway = via(data),
            RTA_MULTIPATH => msg.next_hops = multipath(family, data),
            _ => {}
        }
    }
    if msg.next_hops.is_empty() {
        msg.next_hops.push(single);
    }
    Some(msg)
}

/// `RTA_MULTIPATH`: a run of `rtnexthop`s, each followed by its own attributes.
fn multipath(family: u8, mut data: &[u8]) -> Vec<NextHop> {
    let mut hops = Vec::new();
    while let (Some(len), Some(ifindex)) = (u16_at(data, 0), i32_at(data, 4)) {
        let len = usize::from(len);
        if len < 8 || len > data.len() {
            break;
        }
        let mut hop = NextHop {
            oif: u32::try_from(ifindex).ok().filter(|i| *i != 0),
            gateway: None,
        };
        for (kind, value) in attributes(data.get(8..len).unwrap_or_default()) {
            match kind {
                RTA_GATEWAY => hop.gateway = ip_from(family, value),
                RTA_VIA => hop.gateway = via(value),
                _ => {}
            }
        }
        hops.push(hop);
        data = data.get(align4(len)..).unwrap_or_default();
    }
    hops
}

/// `RTA_VIA`: `struct rtvia { u16 family; u8 addr[] }` (IPv4 routes via an IPv6 next hop).
fn via(data: &[u8]) -> Option<IpAddr> {
    let family = u16_at(data, 0)?;
    ip_from(u8::try_from(family).ok()?, data.get(2..)?)
}

/// The attributes in `buf` as (type, data). Stops at the first malformed one.
fn attributes(buf: &[u8]) -> impl Iterator<Item = (u16, &[u8])> {
    let mut rest = buf;
    std::iter::from_fn(move || {
        let len = usize::from(u16_at(rest, 0)?);
        let kind = u16_at(rest, 2)? & NLA_TYPE_MASK;
        if len < 4 || len > rest.len() {
            return None;
        }
        let data = rest.get(4..len)?;
        rest = rest.get(align4(len)..).unwrap_or_default();
        Some((kind, data))
    })
}

fn ip_from(family: u8, data: &[u8]) -> Option<IpAddr> {
    match family {
        AF_INET => {
            let octets: [u8; 4] = data.get(..4)?.try_into().ok()?;
            Some(IpAddr::V4(Ipv4Addr::from(octets)))
        }
        AF_INET6 => {
            let octets: [u8; 16] = data.get(..16)?.try_into().ok()?;
            Some(IpAddr::V6(Ipv6Addr::from(octets)))
        }
        _ => None,
    }
}

fn align4(len: usize) -> usize {
    len.saturating_add(3) & !3
}

fn u16_at(buf: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_ne_bytes(
        buf.get(at..at.checked_add(2)?)?.try_into().ok()?,
    ))
}

fn u32_at(buf: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_ne_bytes(
        buf.get(at..at.checked_add(4)?)?.try_into().ok()?,
    ))
}

fn i32_at(buf: &[u8], at: usize) -> Option<i32> {
    u32_at(buf, at).map(|v| v as i32)
}

/// A dump request: `nlmsghdr` + an all-zero 16-byte body (large enough for `ifinfomsg`; the
/// kernel reads the family from its first byte for every request type).
pub fn dump_request(kind: u16, seq: u32) -> [u8; 32] {
    let mut req = [0u8; 32];
    req[0..4].copy_from_slice(&32u32.to_ne_bytes());
    req[4..6].copy_from_slice(&kind.to_ne_bytes());
    req[6..8].copy_from_slice(&(NLM_F_REQUEST | NLM_F_DUMP).to_ne_bytes());
    req[8..12].copy_from_slice(&seq.to_ne_bytes());
    req
}

#[cfg(test)]
mod tests {
    use super::*;

    const NLM_F_MULTI: u16 = 0x2;
    const IFF_RUNNING: u32 = 0x40;

    /// Builds a netlink message by hand from the uapi layouts (host byte order).
    fn msg(kind: u16, flags: u16, body: &[u8]) -> Vec<u8> {
        let len = NLMSG_HDRLEN + body.len();
        let mut m = Vec::new();
        m.extend_from_slice(&(len as u32).to_ne_bytes());
        m.extend_from_slice(&kind.to_ne_bytes());
        m.extend_from_slice(&flags.to_ne_bytes());
        m.extend_from_slice(&7u32.to_ne_bytes());
        m.extend_from_slice(&0u32.to_ne_bytes());
        m.extend_from_slice(body);
        while m.len() % 4 != 0 {
            m.push(0);
        }
        m
    }

    fn attr(kind: u16, data: &[u8]) -> Vec<u8> {
        let mut a = Vec::new();
        a.extend_from_slice(&((4 + data.len()) as u16).to_ne_bytes());
        a.extend_from_slice(&kind.to_ne_bytes());
        a.extend_from_slice(data);
        while a.len() % 4 != 0 {
            a.push(0);
        }
        a
    }

    fn ifinfo(index: i32, flags: u32) -> Vec<u8> {
        let mut b = vec![0u8, 0];
        b.extend_from_slice(&1u16.to_ne_bytes()); // ARPHRD_ETHER
        b.extend_from_slice(&index.to_ne_bytes());
        b.extend_from_slice(&flags.to_ne_bytes());
        b.extend_from_slice(&0u32.to_ne_bytes());
        b
    }

    #[test]
    fn link_message_with_name_and_operstate() {
        let mut body = ifinfo(3, IFF_UP | IFF_RUNNING | IFF_LOWER_UP);
        body.extend(attr(IFLA_IFNAME, b"eth0\0"));
        body.extend(attr(13, &[0u8; 5])); // IFLA_QDISC-like attribute we skip, odd length
        body.extend(attr(IFLA_OPERSTATE, &[IF_OPER_UP]));
        let parsed = parse(&msg(RTM_NEWLINK, 0, &body));
        assert_eq!(parsed.len(), 1);
        assert_eq!(
            parsed[0].1,
            Message::Link(LinkMsg {
                deleted: false,
                index: 3,
                flags: IFF_UP | IFF_RUNNING | IFF_LOWER_UP,
                name: Some("eth0".into()),
                operstate: Some(IF_OPER_UP),
            })
        );
    }

    #[test]
    fn point_to_point_address_prefers_ifa_local() {
        let mut body = vec![AF_INET, 32, 0x80, 0];
        body.extend_from_slice(&9u32.to_ne_bytes());
        body.extend(attr(IFA_ADDRESS, &[203, 0, 113, 1])); // the PPPoE peer
        body.extend(attr(IFA_LOCAL, &[198, 51, 100, 7])); // ours
        let parsed = parse(&msg(RTM_DELADDR, 0, &body));
        assert_eq!(
            parsed[0].1,
            Message::Addr(AddrMsg {
                deleted: true,
                index: 9,
                prefix_len: 32,
                address: Some("198.51.100.7".parse().unwrap()),
            })
        );
    }

    #[test]
    fn default_route_with_table_attribute_and_multipath() {
        // rtmsg: AF_INET6, dst_len 0, src_len 0, tos 0, table 252 (overridden), proto, scope,
        // RTN_UNICAST, flags.
        let mut body = vec![AF_INET6, 0, 0, 0, 252, 3, 0, RTN_UNICAST, 0, 0, 0, 0];
        body.extend(attr(RTA_TABLE, &254u32.to_ne_bytes()));
        body.extend(attr(RTA_PRIORITY, &1024u32.to_ne_bytes()));
        let gw1: [u8; 16] = "fe80::1".parse::<Ipv6Addr>().unwrap().octets();
        let mut hops = Vec::new();
        for (ifindex, gw) in [(2i32, gw1), (5, [0u8; 16])] {
            let gattr = attr(RTA_GATEWAY, &gw);
            hops.extend_from_slice(&((8 + gattr.len()) as u16).to_ne_bytes());
            hops.extend_from_slice(&[0, 0]);
            hops.extend_from_slice(&ifindex.to_ne_bytes());
            hops.extend(gattr);
        }
        body.extend(attr(RTA_MULTIPATH | 0x8000, &hops)); // NLA_F_NESTED set
        let parsed = parse(&msg(RTM_NEWROUTE, 0, &body));
        let Message::Route(route) = &parsed[0].1 else {
            panic!("not a route: {parsed:?}");
        };
        assert!(route.is_default());
        assert_eq!(route.priority, Some(1024));
        assert_eq!(route.next_hops.len(), 2);
        assert_eq!(route.next_hops[0].oif, Some(2));
        assert_eq!(route.next_hops[0].gateway, Some("fe80::1".parse().unwrap()));
        assert_eq!(route.next_hops[1].gateway, Some("::".parse().unwrap()));
    }

    #[test]
    fn non_default_and_other_tables_are_not_default() {
        let mut body = vec![AF_INET, 24, 0, 0, 254, 2, 253, RTN_UNICAST, 0, 0, 0, 0];
        body.extend(attr(RTA_OIF, &4u32.to_ne_bytes()));
        let Message::Route(r) = &parse(&msg(RTM_NEWROUTE, 0, &body))[0].1 else {
            panic!("route expected");
        };
        assert!(!r.is_default(), "a /24 is not a default route");
        let local = vec![AF_INET, 0, 0, 0, 255, 2, 0, RTN_UNICAST, 0, 0, 0, 0];
        let Message::Route(r) = &parse(&msg(RTM_NEWROUTE, 0, &local))[0].1 else {
            panic!("route expected");
        };
        assert!(!r.is_default(), "table 255 (local) is not the main table");
    }

    #[test]
    fn several_messages_done_error_and_unknown_types() {
        let mut buf = msg(RTM_NEWLINK, NLM_F_MULTI, &ifinfo(1, IFF_UP | IFF_LOOPBACK));
        buf.extend(msg(NLMSG_DONE, NLM_F_MULTI, &0i32.to_ne_bytes()));
        buf.extend(msg(NLMSG_ERROR, 0, &(-105i32).to_ne_bytes()));
        buf.extend(msg(99, 0, &[1, 2, 3]));
        let kinds: Vec<Message> = parse(&buf).into_iter().map(|(_, m)| m).collect();
        assert!(matches!(kinds[0], Message::Link(_)));
        assert_eq!(
            kinds[1..],
            [Message::Done, Message::Error(-105), Message::Other(99)]
        );
    }

    #[test]
    fn truncated_and_lying_lengths_do_not_panic() {
        let mut body = ifinfo(3, IFF_UP);
        body.extend(attr(IFLA_IFNAME, b"eth0\0"));
        let good = msg(RTM_NEWLINK, 0, &body);
        for cut in 0..good.len() {
            let _ = parse(&good[..cut]);
        }
        // nlmsg_len larger than the buffer, smaller than the header, and zero.
        for bogus in [1000u32, 8, 0] {
            let mut m = good.clone();
            m[0..4].copy_from_slice(&bogus.to_ne_bytes());
            assert!(parse(&m).is_empty(), "len {bogus}");
        }
        // An attribute whose length runs past the body is ignored, the header still parses.
        let mut bad_attr = ifinfo(3, IFF_UP);
        bad_attr.extend_from_slice(&200u16.to_ne_bytes());
        bad_attr.extend_from_slice(&IFLA_IFNAME.to_ne_bytes());
        let parsed = parse(&msg(RTM_NEWLINK, 0, &bad_attr));
        assert!(matches!(&parsed[0].1, Message::Link(l) if l.name.is_none()));
        // A body too short for ifinfomsg is kept as Other.
        assert_eq!(
            parse(&msg(RTM_NEWLINK, 0, &[0u8; 4]))[0].1,
            Message::Other(RTM_NEWLINK)
        );
    }

    proptest::proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..512)) {
            let _ = parse(&bytes);
        }
    }
}
