//! FreeBSD routing-socket messages (PF_ROUTE reads and the NET_RT_IFLIST / NET_RT_DUMP sysctls).
//!
//! A buffer holds one or more messages, each starting with `u_short msglen; u_char version;
//! u_char type` (route.h `struct rt_msghdr`, "to skip over non-understood messages"). The fixed
//! header depends on the type; the sockaddrs named by its `*_addrs` bitmask follow in RTAX order,
//! each padded to `SA_SIZE` (route.h `#define SA_SIZE`). Offsets are FreeBSD 14 LP64, from
//! route.h and if.h as checked against the headers by scripts/check-freebsd-abi
//!
//! The walker checks every length against `msglen` and `msglen` against the buffer; a message
//! of an unknown type or version is skipped by its `msglen`; a framing error ends the walk.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::{c_name, i32_at, u16_at, u8_at};

/// route.h `#define RTM_VERSION 5`.
pub const RTM_VERSION: u8 = 5;

// route.h message types ("(1) struct rt_msghdr", "(2) struct ifa_msghdr", ...).
pub const RTM_ADD: u8 = 0x1;
pub const RTM_DELETE: u8 = 0x2;
pub const RTM_CHANGE: u8 = 0x3;
pub const RTM_GET: u8 = 0x4;
pub const RTM_NEWADDR: u8 = 0xc;
pub const RTM_DELADDR: u8 = 0xd;
pub const RTM_IFINFO: u8 = 0xe;
pub const RTM_IFANNOUNCE: u8 = 0x11;

// route.h `rtm_addrs` bits, in RTAX order (RTAX_DST 0 … RTAX_BRD 7, RTAX_MAX 8).
pub const RTA_DST: i32 = 0x1;
pub const RTA_GATEWAY: i32 = 0x2;
pub const RTA_NETMASK: i32 = 0x4;
pub const RTA_IFP: i32 = 0x10;
pub const RTA_IFA: i32 = 0x20;
#[cfg(test)]
pub const RTA_BRD: i32 = 0x80;
const RTAX_MAX: usize = 8;

/// route.h `RTF_GATEWAY 0x2` ("destination is a gateway").
#[cfg(test)]
pub const RTF_GATEWAY: i32 = 0x2;

// if.h interface flags.
pub const IFF_UP: i32 = 0x1;
pub const IFF_LOOPBACK: i32 = 0x8;
/// `IFF_DRV_RUNNING`, reported in `ifm_flags` (= `if_flags | if_drv_flags`).
pub const IFF_RUNNING: i32 = 0x40;

// if.h link states.
pub const LINK_STATE_UNKNOWN: u8 = 0;
#[cfg(test)]
pub const LINK_STATE_DOWN: u8 = 1;
pub const LINK_STATE_UP: u8 = 2;

// if.h `IFAN_ARRIVAL 0`, `IFAN_DEPARTURE 1`.
const IFAN_ARRIVAL: u16 = 0;
const IFAN_DEPARTURE: u16 = 1;

// sys/socket.h address families (FreeBSD numbering: AF_INET6 is 28, not Linux's 10).
const AF_INET: u8 = 2;
const AF_LINK: u8 = 18;
const AF_INET6: u8 = 28;

/// `sizeof(long)` on LP64: the `SA_SIZE` rounding unit (route.h).
const LONG: usize = 8;

// Fixed header sizes (checked by scripts/check-freebsd-abi).
/// `struct rt_msghdr`: 40 bytes of fields plus `struct rt_metrics` (14 × u_long) at 40.
pub const RT_MSGHDR_LEN: usize = 152;
/// `struct if_msghdr`: 16 bytes plus the 152-byte `struct if_data` at 16.
pub const IF_MSGHDR_LEN: usize = 168;
/// `struct ifa_msghdr`.
pub const IFA_MSGHDR_LEN: usize = 20;
/// `struct if_announcemsghdr`.
pub const IF_ANNOUNCEMSGHDR_LEN: usize = 24;
/// `sizeof(struct if_data)` on FreeBSD 11 and later; `ifi_datalen` must say so.
pub const IF_DATA_LEN: u16 = 152;
/// `IFNAMSIZ`.
const IFNAMSIZ: usize = 16;

/// The smallest valid message: `msglen`, `version`, `type`.
const MSG_PREFIX_LEN: usize = 4;

/// `SA_SIZE(sa)` from route.h for `sizeof(long) == 8`: a zero-length sockaddr still takes 8.
pub const fn sa_size(sa_len: u8) -> usize {
    if sa_len == 0 {
        LONG
    } else {
        1 + ((sa_len as usize - 1) | (LONG - 1))
    }
}

/// Why a buffer could not be walked further.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RouteParseError {
    /// Fewer than 4 bytes left, or `msglen` is smaller than 4.
    BadLength { offset: usize, msglen: u16 },
    /// `msglen` runs past the end of the buffer.
    Truncated {
        offset: usize,
        msglen: u16,
        available: usize,
    },
    /// The message is shorter than its type's fixed header.
    ShortHeader { offset: usize, msg_type: u8 },
    /// A sockaddr's `sa_len` runs past `msglen`.
    BadSockaddr { offset: usize, msg_type: u8 },
    /// `ifi_datalen` is not 152 (a pre-FreeBSD-11 layout, or garbage).
    BadIfData { offset: usize, datalen: u16 },
}

impl fmt::Display for RouteParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::BadLength { offset, msglen } => {
                write!(f, "routing message at byte {offset}: bad length {msglen}")
            }
            Self::Truncated {
                offset,
                msglen,
                available,
            } => write!(
                f,
                "routing message at byte {offset}: length {msglen} but only {available} bytes"
            ),
            Self::ShortHeader { offset, msg_type } => write!(
                f,
                "routing message type {msg_type} at byte {offset}: shorter than its header"
            ),
            Self::BadSockaddr { offset, msg_type } => write!(
                f,
                "routing message type {msg_type} at byte {offset}: sockaddr runs past the message"
            ),
            Self::BadIfData { offset, datalen } => write!(
                f,
                "routing message at byte {offset}: if_data length {datalen}, expected 152"
            ),
        }
    }
}

impl std::error::Error for RouteParseError {}

/// One sockaddr from a message, by family.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Sockaddr {
    V4(Ipv4Addr),
    V6(Ipv6Addr),
    /// `sockaddr_dl`: the interface index and name (empty when `sdl_nlen` is 0).
    Link {
        index: u16,
        name: String,
    },
    /// A zero-length sockaddr (`sa_len == 0`): all bytes zero, family unknown.
    Empty,
    /// Another family, or too short for its family; its raw bytes are kept (at most 255).
    Other {
        family: u8,
        bytes: Vec<u8>,
    },
}

impl Sockaddr {
    fn ip(&self) -> Option<IpAddr> {
        match self {
            Self::V4(a) => Some(IpAddr::V4(*a)),
            Self::V6(a) => Some(IpAddr::V6(*a)),
            _ => None,
        }
    }

    fn link_name(&self) -> Option<&str> {
        match self {
            Self::Link { name, .. } if !name.is_empty() => Some(name),
            _ => None,
        }
    }
}

/// The sockaddrs of one message, indexed by RTAX number.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Sockaddrs {
    slots: [Option<Sockaddr>; RTAX_MAX],
    /// Raw bytes of the netmask (`RTAX_NETMASK`), kept for prefix computation: a mask's family
    /// byte is often 0 and its `sa_len` short.
    netmask_raw: Option<Vec<u8>>,
}

impl Sockaddrs {
    /// The sockaddr for one `RTA_*` bit, if present.
    pub fn get(&self, rta_bit: i32) -> Option<&Sockaddr> {
        let index = rta_bit.trailing_zeros() as usize;
        self.slots.get(index)?.as_ref()
    }

    /// The prefix length of the netmask for an address of `family_is_v6`, treating bytes past a
    /// short `sa_len` as zero (route(4)). `None` without a netmask.
    pub fn prefix_len(&self, family_is_v6: bool) -> Option<u8> {
        let raw = self.netmask_raw.as_ref()?;
        // The address bytes start at 4 in sockaddr_in and at 8 in sockaddr_in6.
        let (start, width) = if family_is_v6 { (8, 16) } else { (4, 4) };
        let mut bits = 0u8;
        for i in 0..width {
            let byte = raw.get(start + i).copied().unwrap_or(0);
            bits = bits.saturating_add(byte.leading_ones() as u8);
            if byte != 0xff {
                break;
            }
        }
        Some(bits)
    }
}

/// RTM_IFINFO: an interface's flags and link state.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IfInfo {
    pub index: u16,
    /// `ifm_flags` (`if_flags | if_drv_flags`).
    pub flags: i32,
    /// `ifm_data.ifi_link_state`: `LINK_STATE_UNKNOWN/DOWN/UP`, other values kept.
    pub link_state: u8,
    /// The name from an `RTA_IFP` sockaddr_dl (sysctl dumps carry one; live messages do not).
    pub name: Option<String>,
}

impl IfInfo {
    /// Administratively up (`IFF_UP`).
    pub fn admin_up(&self) -> bool {
        self.flags & IFF_UP != 0
    }

    /// Carrier present: link state UP, or UNKNOWN on a running driver that does not report
    /// link state (the kernel's `RT_LINK_IS_UP` treats UNKNOWN as up).
    pub fn carrier(&self) -> bool {
        match self.link_state {
            LINK_STATE_UP => true,
            LINK_STATE_UNKNOWN => self.flags & IFF_RUNNING != 0,
            _ => false,
        }
    }

    /// Usable: administratively up and carrier present.
    pub fn usable(&self) -> bool {
        self.admin_up() && self.carrier()
    }
}

/// RTM_NEWADDR / RTM_DELADDR: an address on an interface.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AddressMessage {
    pub added: bool,
    pub index: u16,
    /// From the `RTA_IFP` sockaddr_dl, preferred over the index (no race with renames).
    pub interface: Option<String>,
    /// `RTA_IFA` when it is IPv4 or IPv6.
    pub address: Option<IpAddr>,
    pub prefix_len: Option<u8>,
}

/// RTM_IFANNOUNCE: an interface arrived or left.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Announcement {
    pub index: u16,
    pub name: String,
    pub arrival: bool,
    pub departure: bool,
    /// `ifan_what` as sent (unknown values kept).
    pub what: u16,
}

/// Which route operation a message reports.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RouteOp {
    Add,
    Delete,
    Change,
    /// RTM_GET: the form used by the NET_RT_DUMP sysctl.
    Get,
}

/// RTM_ADD/DELETE/CHANGE/GET: one route.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RouteMessage {
    pub op: RouteOp,
    /// `rtm_index`: the egress interface.
    pub index: u16,
    pub flags: i32,
    /// `rtm_errno`: non-zero when this echoes a request the kernel refused.
    pub errno: i32,
    pub destination: Option<IpAddr>,
    pub prefix_len: Option<u8>,
    pub gateway: Option<IpAddr>,
    /// The interface named by a link-level gateway or by `RTA_IFP`.
    pub interface: Option<String>,
}

impl RouteMessage {
    /// A default route: destination 0.0.0.0 or :: with a netmask of length 0. A host route
    /// carries no netmask, so `0.0.0.0` without one is not a default route. Interface routes
    /// without `RTF_GATEWAY` (`route add default -interface tun0`) count too.
    pub fn is_default(&self) -> bool {
        self.destination.is_some_and(|d| d.is_unspecified()) && self.prefix_len == Some(0)
    }

    /// Whether the route forwards through a gateway (`RTF_GATEWAY`); the link monitor does not
    /// ask, the tests check the flags with it.
    #[cfg(test)]
    pub fn via_gateway(&self) -> bool {
        self.flags & RTF_GATEWAY != 0
    }
}

/// One parsed routing message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Message {
    IfInfo(IfInfo),
    Address(AddressMessage),
    Announce(Announcement),
    Route(RouteMessage),
    /// A well-framed message this parser does not interpret (other type or version).
    Skipped {
        msg_type: u8,
        version: u8,
    },
}

/// Walks the messages in `buf`. Yields `Err` once on a framing error and then stops.
pub fn messages(buf: &[u8]) -> Messages<'_> {
    Messages {
        buf,
        offset: 0,
        done: false,
    }
}

/// Iterator over the messages in one buffer; see [`messages`].
pub struct Messages<'a> {
    buf: &'a [u8],
    offset: usize,
    done: bool,
}

impl Iterator for Messages<'_> {
    type Item = Result<Message, RouteParseError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done || self.offset >= self.buf.len() {
            return None;
        }
        let offset = self.offset;
        let rest = self.buf.get(offset..).unwrap_or_default();
        let msglen = u16_at(rest, 0).unwrap_or(0);
        if rest.len() < MSG_PREFIX_LEN || usize::from(msglen) < MSG_PREFIX_LEN {
            self.done = true;
            return Some(Err(RouteParseError::BadLength { offset, msglen }));
        }
        let Some(msg) = rest.get(..usize::from(msglen)) else {
            self.done = true;
            return Some(Err(RouteParseError::Truncated {
                offset,
                msglen,
                available: rest.len(),
            }));
        };
        self.offset = offset + usize::from(msglen);
        // A bad message body does not stop the walk: the framing is intact.
        Some(parse_message(msg, offset))
    }
}

/// Parses one message whose framing (`msg.len() == msglen >= 4`) is already checked.
fn parse_message(msg: &[u8], offset: usize) -> Result<Message, RouteParseError> {
    let version = u8_at(msg, 2).unwrap_or(0);
    let msg_type = u8_at(msg, 3).unwrap_or(0);
    if version != RTM_VERSION {
        return Ok(Message::Skipped { msg_type, version });
    }
    let short = RouteParseError::ShortHeader { offset, msg_type };
    match msg_type {
        RTM_ADD | RTM_DELETE | RTM_CHANGE | RTM_GET => {
            parse_route(msg, offset, msg_type).ok_or(short)?
        }
        RTM_NEWADDR | RTM_DELADDR => parse_address(msg, offset, msg_type).ok_or(short)?,
        RTM_IFINFO => parse_ifinfo(msg, offset).ok_or(short)?,
        RTM_IFANNOUNCE => parse_announce(msg).ok_or(short),
        _ => Ok(Message::Skipped { msg_type, version }),
    }
}

/// `struct rt_msghdr`: `rtm_index u16@4`, `rtm_flags i32@8`, `rtm_addrs i32@12`,
/// `rtm_errno i32@24`; sockaddrs from 152.
fn parse_route(
    msg: &[u8],
    offset: usize,
    msg_type: u8,
) -> Option<Result<Message, RouteParseError>> {
    if msg.len() < RT_MSGHDR_LEN {
        return None;
    }
    let index = u16_at(msg, 4)?;
    let flags = i32_at(msg, 8)?;
    let addrs = i32_at(msg, 12)?;
    let errno = i32_at(msg, 24)?;
    let op = match msg_type {
        RTM_ADD => RouteOp::Add,
        RTM_DELETE => RouteOp::Delete,
        RTM_CHANGE => RouteOp::Change,
        _ => RouteOp::Get,
    };
    Some(
        walk_sockaddrs(msg, RT_MSGHDR_LEN, addrs, offset, msg_type).map(|sa| {
            let destination = sa.get(RTA_DST).and_then(Sockaddr::ip);
            let prefix_len = sa.prefix_len(matches!(destination, Some(IpAddr::V6(_))));
            let gateway_sa = sa.get(RTA_GATEWAY);
            let interface = gateway_sa
                .and_then(Sockaddr::link_name)
                .or_else(|| sa.get(RTA_IFP).and_then(Sockaddr::link_name))
                .map(str::to_owned);
            Message::Route(RouteMessage {
                op,
                index,
                flags,
                errno,
                destination,
                prefix_len,
                gateway: gateway_sa.and_then(Sockaddr::ip),
                interface,
            })
        }),
    )
}

/// `struct ifa_msghdr`: `ifam_addrs i32@4`, `ifam_index u16@12`; sockaddrs from 20.
fn parse_address(
    msg: &[u8],
    offset: usize,
    msg_type: u8,
) -> Option<Result<Message, RouteParseError>> {
    if msg.len() < IFA_MSGHDR_LEN {
        return None;
    }
    let addrs = i32_at(msg, 4)?;
    let index = u16_at(msg, 12)?;
    Some(
        walk_sockaddrs(msg, IFA_MSGHDR_LEN, addrs, offset, msg_type).map(|sa| {
            let address = sa.get(RTA_IFA).and_then(Sockaddr::ip);
            Message::Address(AddressMessage {
                added: msg_type == RTM_NEWADDR,
                index,
                interface: sa
                    .get(RTA_IFP)
                    .and_then(Sockaddr::link_name)
                    .map(str::to_owned),
                address,
                prefix_len: address.and_then(|a| sa.prefix_len(a.is_ipv6())),
            })
        }),
    )
}

/// `struct if_msghdr`: `ifm_addrs i32@4`, `ifm_flags i32@8`, `ifm_index u16@12`, `if_data` at
/// 16 with `ifi_link_state u8@4` and `ifi_datalen u16@6`; sockaddrs from 168.
fn parse_ifinfo(msg: &[u8], offset: usize) -> Option<Result<Message, RouteParseError>> {
    if msg.len() < IF_MSGHDR_LEN {
        return None;
    }
    let addrs = i32_at(msg, 4)?;
    let flags = i32_at(msg, 8)?;
    let index = u16_at(msg, 12)?;
    let link_state = u8_at(msg, 16 + 4)?;
    let datalen = u16_at(msg, 16 + 6)?;
    // if.c `if_data_copy` always sets 152; some userland readers also take 0 to mean 152.
    if datalen != IF_DATA_LEN && datalen != 0 {
        return Some(Err(RouteParseError::BadIfData { offset, datalen }));
    }
    Some(
        walk_sockaddrs(msg, IF_MSGHDR_LEN, addrs, offset, RTM_IFINFO).map(|sa| {
            Message::IfInfo(IfInfo {
                index,
                flags,
                link_state,
                name: sa
                    .get(RTA_IFP)
                    .and_then(Sockaddr::link_name)
                    .map(str::to_owned),
            })
        }),
    )
}

/// `struct if_announcemsghdr`: `ifan_index u16@4`, `ifan_name[16]@6`, `ifan_what u16@22`.
fn parse_announce(msg: &[u8]) -> Option<Message> {
    if msg.len() < IF_ANNOUNCEMSGHDR_LEN {
        return None;
    }
    let what = u16_at(msg, 22)?;
    Some(Message::Announce(Announcement {
        index: u16_at(msg, 4)?,
        name: c_name(msg.get(6..6 + IFNAMSIZ)?),
        arrival: what == IFAN_ARRIVAL,
        departure: what == IFAN_DEPARTURE,
        what,
    }))
}

/// Reads the sockaddrs named by `addrs`, starting at `start`, each advancing by `SA_SIZE`.
fn walk_sockaddrs(
    msg: &[u8],
    start: usize,
    addrs: i32,
    offset: usize,
    msg_type: u8,
) -> Result<Sockaddrs, RouteParseError> {
    let bad = RouteParseError::BadSockaddr { offset, msg_type };
    let mut out = Sockaddrs::default();
    let mut p = start;
    for (rtax, slot) in out.slots.iter_mut().enumerate() {
        if addrs & (1 << rtax) == 0 {
            continue;
        }
        let sa_len = u8_at(msg, p).ok_or(bad)?;
        let raw = msg.get(p..p + usize::from(sa_len)).ok_or(bad)?;
        *slot = Some(parse_sockaddr(raw));
        if rtax == RTA_NETMASK.trailing_zeros() as usize {
            out.netmask_raw = Some(raw.to_vec());
        }
        // The padding of the last sockaddr may be cut off by msglen; that is harmless.
        p += sa_size(sa_len);
    }
    Ok(out)
}

/// if_dl.h `struct sockaddr_dl`: sdl_index u16@2, sdl_type@4, sdl_nlen@5, sdl_alen@6,
/// sdl_slen@7, sdl_data@8 (the name comes first and is not NUL-terminated).
fn parse_sockaddr_dl(raw: &[u8]) -> Option<Sockaddr> {
    let index = u16_at(raw, 2)?;
    let nlen = usize::from(u8_at(raw, 5)?);
    let name = raw.get(8..8 + nlen)?;
    Some(Sockaddr::Link {
        index,
        name: String::from_utf8_lossy(name).into_owned(),
    })
}

/// Decodes one sockaddr (`raw.len() == sa_len`).
fn parse_sockaddr(raw: &[u8]) -> Sockaddr {
    let Some(&family) = raw.get(1) else {
        return if raw.is_empty() {
            Sockaddr::Empty
        } else {
            Sockaddr::Other {
                family: 0,
                bytes: raw.to_vec(),
            }
        };
    };
    let parsed = match family {
        // sockaddr_in: sin_len, sin_family, sin_port@2, sin_addr@4.
        AF_INET => super::bytes::<4>(raw, 4).map(|a| Sockaddr::V4(Ipv4Addr::from(a))),
        // sockaddr_in6: sin6_len, sin6_family, sin6_port@2, sin6_flowinfo@4, sin6_addr@8.
        AF_INET6 => super::bytes::<16>(raw, 8).map(|a| Sockaddr::V6(Ipv6Addr::from(a))),
        AF_LINK => parse_sockaddr_dl(raw),
        _ => None,
    };
    parsed.unwrap_or_else(|| Sockaddr::Other {
        family,
        bytes: raw.to_vec(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sys::bsd::test_layout::*;
    use proptest::prelude::*;

    const V4_GW: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 1);

    fn all(buf: &[u8]) -> Vec<Result<Message, RouteParseError>> {
        messages(buf).collect()
    }

    fn one(buf: &[u8]) -> Message {
        let mut parsed = all(buf);
        assert_eq!(parsed.len(), 1, "{parsed:?}");
        parsed.remove(0).expect("message parses")
    }

    /// route.h `SA_SIZE`: 1 + ((len - 1) | 7), and 8 for an empty sockaddr.
    #[test]
    fn sa_size_rounds_to_long() {
        assert_eq!(sa_size(0), 8);
        assert_eq!(sa_size(1), 8);
        assert_eq!(sa_size(8), 8);
        assert_eq!(sa_size(9), 16);
        assert_eq!(sa_size(16), 16);
        assert_eq!(sa_size(28), 32);
        assert_eq!(sa_size(54), 56);
        assert_eq!(sa_size(255), 256);
    }

    #[test]
    fn ifinfo_link_down_and_up() {
        let down = if_msghdr(3, IFF_UP | IFF_RUNNING, LINK_STATE_DOWN, 0, &[]);
        let Message::IfInfo(info) = one(&down) else {
            panic!("not ifinfo")
        };
        assert_eq!(info.index, 3);
        assert_eq!(info.link_state, LINK_STATE_DOWN);
        assert!(info.admin_up());
        assert!(!info.usable());
        assert_eq!(info.name, None);

        let up = if_msghdr(3, IFF_UP | IFF_RUNNING, LINK_STATE_UP, 0, &[]);
        let Message::IfInfo(info) = one(&up) else {
            panic!("not ifinfo")
        };
        assert!(info.usable());
    }

    #[test]
    fn ifinfo_admin_down_is_not_usable_even_with_carrier() {
        let msg = if_msghdr(3, 0, LINK_STATE_UP, 0, &[]);
        let Message::IfInfo(info) = one(&msg) else {
            panic!("not ifinfo")
        };
        assert!(!info.admin_up());
        assert!(info.carrier());
        assert!(!info.usable());
    }

    #[test]
    fn ifinfo_from_dump_carries_name() {
        let msg = if_msghdr(1, IFF_UP, LINK_STATE_UP, RTA_IFP, &[sdl(1, "igb0")]);
        let Message::IfInfo(info) = one(&msg) else {
            panic!("not ifinfo")
        };
        assert_eq!(info.name.as_deref(), Some("igb0"));
    }

    #[test]
    fn ifinfo_with_old_if_data_is_rejected() {
        let mut msg = if_msghdr(1, IFF_UP, LINK_STATE_UP, 0, &[]);
        // ifi_datalen (if_data@16 + 6) as a FreeBSD 10 kernel would not set it.
        msg[22..24].copy_from_slice(&96u16.to_ne_bytes());
        assert!(matches!(
            all(&msg)[0],
            Err(RouteParseError::BadIfData { datalen: 96, .. })
        ));
        // 0 is read as "the current size", as some userland readers do.
        msg[22..24].copy_from_slice(&0u16.to_ne_bytes());
        assert!(matches!(all(&msg)[0], Ok(Message::IfInfo(_))));
    }

    #[test]
    fn address_added_v4_with_interface_name() {
        let msg = ifa_msghdr(
            RTM_NEWADDR,
            2,
            RTA_NETMASK | RTA_IFP | RTA_IFA | RTA_BRD,
            &[
                mask4(24),
                sdl(2, "igb1"),
                sin(Ipv4Addr::new(198, 51, 100, 7)),
                sin(Ipv4Addr::new(198, 51, 100, 255)),
            ],
        );
        assert_eq!(
            one(&msg),
            Message::Address(AddressMessage {
                added: true,
                index: 2,
                interface: Some("igb1".into()),
                address: Some("198.51.100.7".parse().unwrap()),
                prefix_len: Some(24),
            })
        );
    }

    #[test]
    fn address_removed_v6() {
        let msg = ifa_msghdr(
            RTM_DELADDR,
            2,
            RTA_NETMASK | RTA_IFP | RTA_IFA,
            &[
                mask6(64),
                sdl(2, "igb1"),
                sin6("2001:db8:1::7".parse().unwrap()),
            ],
        );
        assert_eq!(
            one(&msg),
            Message::Address(AddressMessage {
                added: false,
                index: 2,
                interface: Some("igb1".into()),
                address: Some("2001:db8:1::7".parse().unwrap()),
                prefix_len: Some(64),
            })
        );
    }

    #[test]
    fn default_route_add_v4() {
        let msg = rt_msghdr(
            RTM_ADD,
            2,
            0x1 | RTF_GATEWAY | 0x40,
            RTA_DST | RTA_GATEWAY | RTA_NETMASK,
            0,
            &[sin(Ipv4Addr::UNSPECIFIED), sin(V4_GW), mask4(0)],
        );
        let Message::Route(route) = one(&msg) else {
            panic!("not a route")
        };
        assert_eq!(route.op, RouteOp::Add);
        assert_eq!(route.index, 2);
        assert!(route.is_default());
        assert!(route.via_gateway());
        assert_eq!(route.gateway, Some(IpAddr::V4(V4_GW)));
        assert_eq!(route.prefix_len, Some(0));
    }

    #[test]
    fn default_route_delete_v6() {
        let msg = rt_msghdr(
            RTM_DELETE,
            2,
            RTF_GATEWAY | 0x40,
            RTA_DST | RTA_GATEWAY | RTA_NETMASK,
            0,
            &[
                sin6(Ipv6Addr::UNSPECIFIED),
                sin6("fe80::1".parse().unwrap()),
                mask6(0),
            ],
        );
        let Message::Route(route) = one(&msg) else {
            panic!("not a route")
        };
        assert_eq!(route.op, RouteOp::Delete);
        assert!(route.is_default());
        assert_eq!(route.gateway, Some("fe80::1".parse().unwrap()));
    }

    #[test]
    fn network_and_host_routes_are_not_default() {
        let net = rt_msghdr(
            RTM_ADD,
            2,
            RTF_GATEWAY,
            RTA_DST | RTA_GATEWAY | RTA_NETMASK,
            0,
            &[sin(Ipv4Addr::new(10, 0, 0, 0)), sin(V4_GW), mask4(8)],
        );
        let Message::Route(route) = one(&net) else {
            panic!("not a route")
        };
        assert_eq!(route.prefix_len, Some(8));
        assert!(!route.is_default());

        // A host route carries no netmask: 0.0.0.0 alone is not a default route.
        let host = rt_msghdr(
            RTM_ADD,
            2,
            RTF_GATEWAY,
            RTA_DST | RTA_GATEWAY,
            0,
            &[sin(Ipv4Addr::UNSPECIFIED), sin(V4_GW)],
        );
        let Message::Route(route) = one(&host) else {
            panic!("not a route")
        };
        assert!(!route.is_default());
    }

    /// A zero-length netmask (sa_len 0) takes 8 bytes and means "all zero": the sockaddr after
    /// it (RTA_IFP) must still be found.
    #[test]
    fn zero_length_sockaddr_advances_by_eight() {
        let msg = rt_msghdr(
            RTM_ADD,
            5,
            RTF_GATEWAY,
            RTA_DST | RTA_GATEWAY | RTA_NETMASK | RTA_IFP,
            0,
            &[
                sin(Ipv4Addr::UNSPECIFIED),
                sin(V4_GW),
                Vec::new(),
                sdl(5, "pppoe0"),
            ],
        );
        let Message::Route(route) = one(&msg) else {
            panic!("not a route")
        };
        assert_eq!(route.prefix_len, Some(0));
        assert!(route.is_default());
        assert_eq!(route.interface.as_deref(), Some("pppoe0"));
    }

    /// Older kernels trim a netmask's sa_len after its last non-zero byte and leave the family
    /// 0: a /24 mask is 7 bytes (len, family, port, 255, 255, 255). The missing bytes are zero.
    #[test]
    fn short_netmask_without_family() {
        let short_mask = vec![7u8, 0, 0, 0, 255, 255, 255];
        let msg = rt_msghdr(
            RTM_ADD,
            2,
            RTF_GATEWAY,
            RTA_DST | RTA_GATEWAY | RTA_NETMASK,
            0,
            &[sin(Ipv4Addr::new(10, 1, 2, 0)), sin(V4_GW), short_mask],
        );
        let Message::Route(route) = one(&msg) else {
            panic!("not a route")
        };
        assert_eq!(route.prefix_len, Some(24));
        assert_eq!(route.gateway, Some(IpAddr::V4(V4_GW)));
    }

    /// A sockaddr too short for its family, or of another family, is kept raw, not misread.
    #[test]
    fn short_or_foreign_sockaddrs_are_kept_raw() {
        let short_v4 = vec![6u8, 2, 0, 0, 10, 0];
        let unix_like = vec![8u8, 1, b'/', b't', b'm', b'p', 0, 0];
        let msg = ifa_msghdr(
            RTM_NEWADDR,
            1,
            RTA_IFA | RTA_BRD,
            &[short_v4.clone(), unix_like],
        );
        let Message::Address(address) = one(&msg) else {
            panic!("not an address")
        };
        assert_eq!(address.address, None);
        assert_eq!(
            parse_sockaddr(&short_v4),
            Sockaddr::Other {
                family: 2,
                bytes: short_v4.clone()
            }
        );
    }

    #[test]
    fn interface_route_names_link_gateway() {
        // `route add default -interface tun0`: the gateway is the interface's sockaddr_dl.
        let msg = rt_msghdr(
            RTM_ADD,
            7,
            0x1,
            RTA_DST | RTA_GATEWAY | RTA_NETMASK,
            0,
            &[sin(Ipv4Addr::UNSPECIFIED), sdl(7, "tun0"), mask4(0)],
        );
        let Message::Route(route) = one(&msg) else {
            panic!("not a route")
        };
        assert!(route.is_default());
        assert!(!route.via_gateway());
        assert_eq!(route.gateway, None);
        assert_eq!(route.interface.as_deref(), Some("tun0"));
    }

    #[test]
    fn announce_departure_and_arrival() {
        let gone = one(&if_announcemsghdr(4, "ovpnc1", 1));
        let Message::Announce(a) = gone else {
            panic!("not announce")
        };
        assert_eq!((a.index, a.name.as_str(), a.departure), (4, "ovpnc1", true));
        let came = one(&if_announcemsghdr(9, "igb0.10", 0));
        let Message::Announce(a) = came else {
            panic!("not announce")
        };
        assert!(a.arrival);
        assert_eq!(a.name, "igb0.10");
    }

    #[test]
    fn several_messages_in_one_buffer() {
        let mut buf = if_msghdr(1, IFF_UP, LINK_STATE_DOWN, 0, &[]);
        buf.extend(if_announcemsghdr(4, "tun0", 1));
        buf.extend(ifa_msghdr(
            RTM_NEWADDR,
            1,
            RTA_IFA,
            &[sin(Ipv4Addr::new(203, 0, 113, 9))],
        ));
        let parsed = all(&buf);
        assert_eq!(parsed.len(), 3);
        assert!(matches!(parsed[0], Ok(Message::IfInfo(_))));
        assert!(matches!(parsed[1], Ok(Message::Announce(_))));
        assert!(matches!(parsed[2], Ok(Message::Address(_))));
    }

    #[test]
    fn unknown_type_and_version_are_skipped_by_msglen() {
        let mut other = if_announcemsghdr(1, "wlan0", 0);
        other[3] = 0x12; // RTM_IEEE80211, same header shape
        let mut old = if_msghdr(1, IFF_UP, LINK_STATE_UP, 0, &[]);
        old[2] = 4;
        let mut buf = other;
        buf.extend(old);
        buf.extend(if_announcemsghdr(2, "tun1", 1));
        let parsed = all(&buf);
        assert_eq!(
            parsed[0],
            Ok(Message::Skipped {
                msg_type: 0x12,
                version: 5
            })
        );
        assert_eq!(
            parsed[1],
            Ok(Message::Skipped {
                msg_type: 0xe,
                version: 4
            })
        );
        assert!(matches!(parsed[2], Ok(Message::Announce(_))));
    }

    #[test]
    fn truncated_message_stops_after_the_good_ones() {
        let mut buf = if_announcemsghdr(1, "igb0", 1);
        let second = if_msghdr(1, IFF_UP, LINK_STATE_UP, 0, &[]);
        buf.extend(&second[..100]);
        let parsed = all(&buf);
        assert_eq!(parsed.len(), 2);
        assert!(parsed[0].is_ok());
        assert_eq!(
            parsed[1],
            Err(RouteParseError::Truncated {
                offset: 24,
                msglen: 168,
                available: 100
            })
        );
    }

    #[test]
    fn msglen_larger_than_buffer() {
        let mut msg = if_announcemsghdr(1, "igb0", 1);
        msg[0..2].copy_from_slice(&4000u16.to_ne_bytes());
        assert!(matches!(
            all(&msg)[..],
            [Err(RouteParseError::Truncated { msglen: 4000, .. })]
        ));
    }

    #[test]
    fn msglen_shorter_than_header() {
        // A well-framed 8-byte RTM_IFINFO: shorter than if_msghdr.
        let msg = [8u8, 0, 5, 0xe, 1, 0, 0, 0];
        assert!(matches!(
            all(&msg)[..],
            [Err(RouteParseError::ShortHeader { msg_type: 0xe, .. })]
        ));
        assert!(matches!(
            all(&[2, 0, 5])[..],
            [Err(RouteParseError::BadLength { .. })]
        ));
        assert!(matches!(
            all(&[0, 0, 5, 1, 0, 0])[..],
            [Err(RouteParseError::BadLength { msglen: 0, .. })]
        ));
    }

    #[test]
    fn sockaddr_past_msglen_is_an_error_not_a_panic() {
        let mut msg = ifa_msghdr(RTM_NEWADDR, 1, RTA_IFA, &[sin(Ipv4Addr::LOCALHOST)]);
        msg[20] = 200; // sa_len claims 200 bytes inside a 36-byte message
        assert!(matches!(
            all(&msg)[..],
            [Err(RouteParseError::BadSockaddr { .. })]
        ));
    }

    #[test]
    fn garbage_does_not_panic() {
        let garbage: Vec<u8> = (0..=255u8).cycle().take(3000).collect();
        let _ = all(&garbage);
        let ones = vec![0xffu8; 700];
        let parsed = all(&ones);
        assert!(parsed.iter().any(Result::is_err));
    }

    proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(buf in proptest::collection::vec(any::<u8>(), 0..2048)) {
            for m in messages(&buf) {
                let _ = m;
            }
        }

        /// A real message followed by arbitrary bytes still yields the real message first.
        #[test]
        fn valid_prefix_survives_trailing_garbage(
            tail in proptest::collection::vec(any::<u8>(), 0..512),
            index in 1u16..512,
        ) {
            let mut buf = if_announcemsghdr(index, "em0", 1);
            buf.extend(tail);
            let first = messages(&buf).next();
            let is_departure = matches!(
                first,
                Some(Ok(Message::Announce(Announcement { departure: true, index: i, .. }))) if i == index
            );
            prop_assert!(is_departure);
        }
    }
}
