//! From a captured frame to addresses, ports and the transport payload, for every link type
//! in [`LinkType`]. No allocation: the result borrows the frame.

use std::net::IpAddr;

use super::error::Error;
use super::ethernet::{self, ethertype};
use super::pppoe::{self, ppp_protocol};
use super::{gre, ipv4, ipv6, mpls, sll, tcp, udp, LinkType};

/// IP protocol numbers.
pub mod ip_protocol {
    pub const TCP: u8 = 6;
    pub const UDP: u8 = 17;
    /// IPv4 inside IP (RFC 2003).
    pub const IPV4_IN_IP: u8 = 4;
    /// IPv6 inside IP (RFC 4213 §3.5).
    pub const IPV6_IN_IP: u8 = 41;
    pub const GRE: u8 = 47;
}

/// Tunnels inside tunnels beyond this are not followed (real networks nest two or three).
const MAX_ENCAPSULATION: u8 = 8;

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

/// Decodes a frame of the given link type, through any tunnels to the innermost IP packet.
pub fn decode(link_type: LinkType, data: &[u8]) -> Result<Decoded<'_>, Error> {
    match link_type {
        LinkType::ETHERNET => ethernet_frame(data, 0),
        LinkType::LINUX_SLL => {
            let p = sll::Packet::new_checked(data)?;
            by_ethertype(p.protocol(), p.payload(), 0)
        }
        LinkType::LINUX_SLL2 => {
            let p = sll::Packet2::new_checked(data)?;
            by_ethertype(p.protocol(), p.payload(), 0)
        }
        LinkType::RAW | LinkType::IPV4 | LinkType::IPV6 => by_version(data, 0),
        LinkType::NULL | LinkType::LOOP => {
            let (family, payload) = data
                .split_first_chunk::<4>()
                .ok_or(Error::Truncated("loopback header"))?;
            // NULL is in the capturing host's byte order, LOOP in network order: try both.
            let families = [u32::from_le_bytes(*family), u32::from_be_bytes(*family)];
            if families.contains(&AF_INET) {
                ip(4, payload, 0)
            } else if families.iter().any(|f| AF_INET6.contains(f)) {
                ip(6, payload, 0)
            } else {
                Err(Error::Unsupported("loopback address family"))
            }
        }
        _ => Err(Error::Unsupported("link type")),
    }
}

/// One encapsulation more (PPPoE, MPLS, GRE, IP in IP, Ethernet in a tunnel), or an error
/// past [`MAX_ENCAPSULATION`], so hostile nesting costs a bounded amount of work.
fn deeper(depth: u8) -> Result<u8, Error> {
    if depth < MAX_ENCAPSULATION {
        Ok(depth + 1)
    } else {
        Err(Error::Unsupported("encapsulation nested too deep"))
    }
}

fn ethernet_frame(data: &[u8], depth: u8) -> Result<Decoded<'_>, Error> {
    let inner = ethernet::untag(data)?;
    by_ethertype(inner.ethertype, inner.payload, depth)
}

fn by_ethertype(ethertype: u16, payload: &[u8], depth: u8) -> Result<Decoded<'_>, Error> {
    match ethertype {
        ethertype::IPV4 => ip(4, payload, depth),
        ethertype::IPV6 => ip(6, payload, depth),
        ethertype::PPPOE_SESSION => {
            let (protocol, inner) = pppoe::session(payload)?;
            by_ppp_protocol(protocol, inner, deeper(depth)?)
        }
        ethertype::MPLS_UNICAST => match mpls::pop(payload)? {
            mpls::Payload::Ipv4(inner) => ip(4, inner, deeper(depth)?),
            mpls::Payload::Ipv6(inner) => ip(6, inner, deeper(depth)?),
            mpls::Payload::Ethernet(inner) => ethernet_frame(inner, deeper(depth)?),
        },
        ethertype::TRANSPARENT_ETHERNET => ethernet_frame(payload, deeper(depth)?),
        gre::PROTOCOL_PPP => {
            let (protocol, inner) = pppoe::protocol(payload)?;
            by_ppp_protocol(protocol, inner, deeper(depth)?)
        }
        // ERSPAN mirrors whole frames inside GRE: IP may be in there, but it is not followed.
        ethertype::ERSPAN_II | ethertype::ERSPAN_III => Err(Error::Unsupported("ERSPAN")),
        _ => Err(Error::NotIp("ethertype")),
    }
}

fn by_ppp_protocol(protocol: u16, payload: &[u8], depth: u8) -> Result<Decoded<'_>, Error> {
    match protocol {
        ppp_protocol::IPV4 => ip(4, payload, depth),
        ppp_protocol::IPV6 => ip(6, payload, depth),
        _ => Err(Error::NotIp("PPP protocol")),
    }
}

fn by_version(data: &[u8], depth: u8) -> Result<Decoded<'_>, Error> {
    let first = data.first().ok_or(Error::Truncated("IP header"))?;
    ip(first >> 4, data, depth)
}

fn ip(version: u8, data: &[u8], depth: u8) -> Result<Decoded<'_>, Error> {
    let (src, dst, protocol, payload, later_fragment) = match version {
        4 => {
            let p = ipv4::Packet::new_checked(data)?;
            let (src, dst) = (IpAddr::V4(p.src_addr()), IpAddr::V4(p.dst_addr()));
            (src, dst, p.next_header(), p.payload(), p.frag_offset() != 0)
        }
        6 => {
            let p = ipv6::Packet::new_checked(data)?;
            let (src, dst) = (IpAddr::V6(p.src_addr()), IpAddr::V6(p.dst_addr()));
            let upper = p.upper_layer()?;
            (
                src,
                dst,
                upper.protocol,
                upper.payload,
                upper.later_fragment,
            )
        }
        _ => return Err(Error::Malformed("IP version")),
    };
    if later_fragment {
        return Ok(Decoded {
            src,
            dst,
            transport: Transport::LaterFragment { protocol },
        });
    }
    // A tunnel: the session is the inner packet's.
    match protocol {
        ip_protocol::IPV4_IN_IP => return by_version_expecting(4, payload, deeper(depth)?),
        ip_protocol::IPV6_IN_IP => return by_version_expecting(6, payload, deeper(depth)?),
        ip_protocol::GRE => {
            let (ethertype, inner) = gre::parse(payload)?;
            return by_ethertype(ethertype, inner, deeper(depth)?);
        }
        _ => {}
    }
    Ok(Decoded {
        src,
        dst,
        transport: transport(protocol, payload)?,
    })
}

/// An inner IP packet whose version the outer header announced.
fn by_version_expecting(version: u8, data: &[u8], depth: u8) -> Result<Decoded<'_>, Error> {
    match data.first() {
        Some(first) if first >> 4 == version => ip(version, data, depth),
        Some(_) => Err(Error::Malformed("tunnelled IP version")),
        None => Err(Error::Truncated("tunnelled IP header")),
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

    /// An IPv4 header (no options) around `inner` with the given protocol.
    fn ipv4_around(protocol: u8, inner: &[u8]) -> Vec<u8> {
        let total = (20 + inner.len()) as u16;
        let mut p = vec![0x45, 0x00];
        p.extend_from_slice(&total.to_be_bytes());
        p.extend_from_slice(&[0, 0, 0, 0, 64, protocol, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2]);
        p.extend_from_slice(inner);
        p
    }

    fn ethernet(ethertype: u16, payload: &[u8]) -> Vec<u8> {
        let mut f = vec![0x02; 12];
        f.extend_from_slice(&ethertype.to_be_bytes());
        f.extend_from_slice(payload);
        f
    }

    #[test]
    fn pppoe_sessions_carry_ip() {
        let mut pppoe = vec![0x11, 0x00, 0x00, 0x01];
        pppoe.extend_from_slice(&(IPV4_UDP.len() as u16 + 2).to_be_bytes());
        pppoe.extend_from_slice(&[0x00, 0x21]);
        pppoe.extend_from_slice(&IPV4_UDP);
        expect_udp(decode(LinkType::ETHERNET, &ethernet(0x8864, &pppoe)).unwrap());
        // PPP link control inside the session: not IP.
        let lcp = [0x11, 0x00, 0x00, 0x01, 0x00, 0x04, 0xc0, 0x21, 1, 1];
        assert_eq!(
            decode(LinkType::ETHERNET, &ethernet(0x8864, &lcp)),
            Err(Error::NotIp("PPP protocol"))
        );
    }

    #[test]
    fn mpls_label_stacks_are_popped() {
        let mut mpls = vec![0x00, 0x01, 0x00, 0x40, 0x00, 0x02, 0x01, 0x40];
        mpls.extend_from_slice(&IPV4_UDP);
        expect_udp(decode(LinkType::ETHERNET, &ethernet(0x8847, &mpls)).unwrap());
        // A pseudowire: control word, then a whole Ethernet frame.
        let mut pw = vec![0x00, 0x03, 0x01, 0x40, 0, 0, 0, 0];
        pw.extend_from_slice(&ethernet(0x0800, &IPV4_UDP));
        expect_udp(decode(LinkType::ETHERNET, &ethernet(0x8847, &pw)).unwrap());
    }

    #[test]
    fn gre_tunnels_carry_ipv4_ipv6_and_ethernet() {
        let mut gre = vec![0x30, 0x00, 0x08, 0x00, 0, 0, 0, 42, 0, 0, 0, 1];
        gre.extend_from_slice(&IPV4_UDP);
        expect_udp(decode(LinkType::RAW, &ipv4_around(47, &gre)).unwrap());
        let mut teb = vec![0x00, 0x00, 0x65, 0x58];
        teb.extend_from_slice(&ethernet(0x0800, &IPV4_UDP));
        expect_udp(decode(LinkType::RAW, &ipv4_around(47, &teb)).unwrap());
        // IPv6 (TCP) inside GRE.
        let mut v6 = vec![0x60, 0, 0, 0, 0, 20, 6, 64];
        v6.extend_from_slice(&[0x20, 0x01, 0x0d, 0xb8]);
        v6.extend_from_slice(&[0; 12]);
        v6.extend_from_slice(&[0x20, 0x01, 0x0d, 0xb8]);
        v6.extend_from_slice(&[0; 11]);
        v6.push(2);
        v6.extend_from_slice(&[0x9c, 0x40, 0x00, 0x8f, 0, 0, 0, 1, 0, 0, 0, 0, 0x50, 0x02]);
        v6.extend_from_slice(&[0xff, 0xff, 0, 0, 0, 0]);
        let mut gre6 = vec![0x00, 0x00, 0x86, 0xdd];
        gre6.extend_from_slice(&v6);
        let outer = ipv4_around(47, &gre6);
        let d = decode(LinkType::RAW, &outer).unwrap();
        assert!(d.src.is_ipv6());
        assert!(matches!(d.transport, Transport::Tcp(s) if s.dst_port == 143));
    }

    #[test]
    fn ip_in_ip_decodes_the_inner_packet() {
        expect_udp(decode(LinkType::RAW, &ipv4_around(4, &IPV4_UDP)).unwrap());
        assert_eq!(
            decode(LinkType::RAW, &ipv4_around(41, &IPV4_UDP)),
            Err(Error::Malformed("tunnelled IP version"))
        );
    }

    #[test]
    fn tunnels_nest_only_so_deep() {
        let mut packet = IPV4_UDP.to_vec();
        for _ in 0..MAX_ENCAPSULATION {
            packet = ipv4_around(4, &packet);
        }
        expect_udp(decode(LinkType::RAW, &packet).unwrap());
        let packet = ipv4_around(4, &packet);
        assert_eq!(
            decode(LinkType::RAW, &packet),
            Err(Error::Unsupported("encapsulation nested too deep"))
        );
    }

    #[test]
    fn frames_without_ip_are_not_ip_not_damage() {
        // ARP, LLDP, and an 802.3 length field (spanning tree's LLC frames).
        for ethertype in [0x0806, 0x88cc, 0x0026] {
            assert_eq!(
                decode(LinkType::ETHERNET, &ethernet(ethertype, &[0; 40])),
                Err(Error::NotIp("ethertype"))
            );
        }
        assert_eq!(
            decode(LinkType::ETHERNET, &ethernet(0x0800, &[0x45])),
            Err(Error::Truncated("IPv4 header"))
        );
    }
}
