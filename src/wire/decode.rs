//! From a captured frame to addresses, ports and the transport payload, for every link type
//! in [`LinkType`]. No allocation: the result borrows the frame.

use std::net::IpAddr;

use super::error::Error;
use super::ethernet::{self, ethertype};
use super::{ipv4, ipv6, sll, tcp, udp, LinkType};

/// IP protocol numbers.
pub mod ip_protocol {
    pub const TCP: u8 = 6;
    pub const UDP: u8 = 17;
}

/// Address families a BSD null/loop header may carry for IPv6 (Linux, NetBSD/OpenBSD,
/// FreeBSD, Darwin: see LINKTYPE_NULL on tcpdump.org).
const AF_INET: u32 = 2;
const AF_INET6: [u32; 4] = [10, 24, 28, 30];

/// The TCP fields the tracker uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TcpSegment<'a> {
    pub src_port: u16,
    pub dst_port: u16,
    pub seq: u32,
    pub ack: u32,
    /// See [`tcp::flags`].
    pub flags: u8,
    pub window: u16,
    pub payload: &'a [u8],
}

impl TcpSegment<'_> {
    pub fn has(&self, flag: u8) -> bool {
        self.flags & flag != 0
    }
}

/// The transport layer of a packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Transport<'a> {
    Tcp(TcpSegment<'a>),
    Udp {
        src_port: u16,
        dst_port: u16,
        payload: &'a [u8],
    },
    /// A fragment after the first: its bytes are not a transport header.
    LaterFragment {
        protocol: u8,
    },
    /// Any other protocol.
    Other {
        protocol: u8,
    },
}

/// An IP packet reduced to what the tracker needs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Decoded<'a> {
    pub src: IpAddr,
    pub dst: IpAddr,
    pub transport: Transport<'a>,
}

/// Decodes a frame of the given link type.
pub fn decode(link_type: LinkType, data: &[u8]) -> Result<Decoded<'_>, Error> {
    match link_type {
        LinkType::ETHERNET => {
            let inner = ethernet::untag(data)?;
            by_ethertype(inner.ethertype, inner.payload)
        }
        LinkType::LINUX_SLL => {
            let p = sll::Packet::new_checked(data)?;
            by_ethertype(p.protocol(), p.payload())
        }
        LinkType::LINUX_SLL2 => {
            let p = sll::Packet2::new_checked(data)?;
            by_ethertype(p.protocol(), p.payload())
        }
        LinkType::RAW | LinkType::IPV4 | LinkType::IPV6 => by_version(data),
        LinkType::NULL | LinkType::LOOP => {
            let (family, payload) = data
                .split_first_chunk::<4>()
                .ok_or(Error::Truncated("loopback header"))?;
            // NULL is in the capturing host's byte order, LOOP in network order: try both.
            let families = [u32::from_le_bytes(*family), u32::from_be_bytes(*family)];
            if families.contains(&AF_INET) {
                ip(4, payload)
            } else if families.iter().any(|f| AF_INET6.contains(f)) {
                ip(6, payload)
            } else {
                Err(Error::Unsupported("loopback address family"))
            }
        }
        _ => Err(Error::Unsupported("link type")),
    }
}

fn by_ethertype(ethertype: u16, payload: &[u8]) -> Result<Decoded<'_>, Error> {
    match ethertype {
        ethertype::IPV4 => ip(4, payload),
        ethertype::IPV6 => ip(6, payload),
        _ => Err(Error::Unsupported("ethertype")),
    }
}

fn by_version(data: &[u8]) -> Result<Decoded<'_>, Error> {
    let first = data.first().ok_or(Error::Truncated("IP header"))?;
    ip(first >> 4, data)
}

fn ip(version: u8, data: &[u8]) -> Result<Decoded<'_>, Error> {
    match version {
        4 => {
            let p = ipv4::Packet::new_checked(data)?;
            let (src, dst) = (IpAddr::V4(p.src_addr()), IpAddr::V4(p.dst_addr()));
            let protocol = p.next_header();
            let transport = if p.frag_offset() != 0 {
                Transport::LaterFragment { protocol }
            } else {
                transport(protocol, p.payload())?
            };
            Ok(Decoded {
                src,
                dst,
                transport,
            })
        }
        6 => {
            let p = ipv6::Packet::new_checked(data)?;
            let (src, dst) = (IpAddr::V6(p.src_addr()), IpAddr::V6(p.dst_addr()));
            let upper = p.upper_layer()?;
            let transport = if upper.later_fragment {
                Transport::LaterFragment {
                    protocol: upper.protocol,
                }
            } else {
                transport(upper.protocol, upper.payload)?
            };
            Ok(Decoded {
                src,
                dst,
                transport,
            })
        }
        _ => Err(Error::Malformed("IP version")),
    }
}

fn transport(protocol: u8, payload: &[u8]) -> Result<Transport<'_>, Error> {
    match protocol {
        ip_protocol::TCP => {
            let p = tcp::Packet::new_checked(payload)?;
            Ok(Transport::Tcp(TcpSegment {
                src_port: p.src_port(),
                dst_port: p.dst_port(),
                seq: p.seq_number(),
                ack: p.ack_number(),
                flags: p.flags(),
                window: p.window_len(),
                payload: p.payload(),
            }))
        }
        ip_protocol::UDP => {
            let p = udp::Packet::new_checked(payload)?;
            Ok(Transport::Udp {
                src_port: p.src_port(),
                dst_port: p.dst_port(),
                payload: p.payload(),
            })
        }
        protocol => Ok(Transport::Other { protocol }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    // IPv4 192.0.2.1 → 192.0.2.2 UDP 5353 → 53, payload "hi".
    static IPV4_UDP: [u8; 30] = [
        0x45, 0x00, 0x00, 0x1e, 0x00, 0x01, 0x00, 0x00, 0x40, 0x11, 0x00, 0x00, 0xc0, 0x00, 0x02,
        0x01, 0xc0, 0x00, 0x02, 0x02, 0x14, 0xe9, 0x00, 0x35, 0x00, 0x0a, 0x00, 0x00, b'h', b'i',
    ];

    fn expect_udp(d: Decoded<'_>) {
        assert_eq!(d.src, IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1)));
        assert_eq!(
            d.transport,
            Transport::Udp {
                src_port: 5353,
                dst_port: 53,
                payload: b"hi"
            }
        );
    }

    #[test]
    fn every_link_type_reaches_the_same_packet() {
        expect_udp(decode(LinkType::RAW, &IPV4_UDP).unwrap());
        let mut eth = vec![0u8; 12];
        eth.extend_from_slice(&[0x81, 0x00, 0x00, 0x05, 0x08, 0x00]);
        eth.extend_from_slice(&IPV4_UDP);
        expect_udp(decode(LinkType::ETHERNET, &eth).unwrap());
        let mut null = vec![2u8, 0, 0, 0];
        null.extend_from_slice(&IPV4_UDP);
        expect_udp(decode(LinkType::NULL, &null).unwrap());
        let mut lo = vec![0u8, 0, 0, 2];
        lo.extend_from_slice(&IPV4_UDP);
        expect_udp(decode(LinkType::LOOP, &lo).unwrap());
        let mut sll = vec![0u8; 14];
        sll.extend_from_slice(&[0x08, 0x00]);
        sll.extend_from_slice(&IPV4_UDP);
        expect_udp(decode(LinkType::LINUX_SLL, &sll).unwrap());
        let mut sll2 = vec![0x08u8, 0x00];
        sll2.extend_from_slice(&[0u8; 18]);
        sll2.extend_from_slice(&IPV4_UDP);
        expect_udp(decode(LinkType::LINUX_SLL2, &sll2).unwrap());
    }

    #[test]
    fn later_fragments_are_not_parsed_as_ports() {
        let mut frag = IPV4_UDP;
        frag[6] = 0x00;
        frag[7] = 0x01; // offset 8 bytes
        let d = decode(LinkType::RAW, &frag).unwrap();
        assert_eq!(d.transport, Transport::LaterFragment { protocol: 17 });
    }

    #[test]
    fn unknown_link_and_family_are_errors_not_panics() {
        assert_eq!(
            decode(LinkType(147), &IPV4_UDP),
            Err(Error::Unsupported("link type"))
        );
        assert_eq!(
            decode(LinkType::NULL, &[7, 0, 0, 0, 0x45]),
            Err(Error::Unsupported("loopback address family"))
        );
        assert!(decode(LinkType::NULL, &[2, 0]).is_err());
    }
}
