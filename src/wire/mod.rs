//! Parsers for untrusted bytes: link layers, tunnels (PPPoE, MPLS, GRE, IP in IP), IPv4/IPv6,
//! TCP, UDP, DNS, TLS and mail lines.
//!
//! Contract: every parser takes a byte slice it does not own, checks every length before it
//! reads, never panics and never allocates in proportion to its input. Unknown values are kept.

use crate::time::Timestamp;

pub(crate) mod decode;
pub mod dns;
mod error;
pub mod ethernet;
mod gre;
pub mod imap;
pub mod ipv4;
pub mod ipv6;
pub mod line;
mod mpls;
pub mod pop3;
mod pppoe;
mod reader;
mod sll;
pub mod smtp;
pub mod tcp;
pub mod tls;
pub mod udp;

pub use decode::{decode, Decoded, TcpSegment, Transport};
pub use error::Error;

/// A capture's link type (pcap LINKTYPE_* values; BSD DLT_* values agree for these).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct LinkType(pub u32);

impl LinkType {
    /// BSD loopback/null: 4-byte host-order address family.
    pub const NULL: LinkType = LinkType(0);
    pub const ETHERNET: LinkType = LinkType(1);
    /// Raw IP (v4 or v6 by the version nibble).
    pub const RAW: LinkType = LinkType(101);
    /// OpenBSD loopback: 4-byte network-order address family.
    pub const LOOP: LinkType = LinkType(108);
    /// Linux cooked capture v1 (`tcpdump -i any`).
    pub const LINUX_SLL: LinkType = LinkType(113);
    pub const IPV4: LinkType = LinkType(228);
    pub const IPV6: LinkType = LinkType(229);
    /// Linux cooked capture v2.
    pub const LINUX_SLL2: LinkType = LinkType(276);
}

/// One captured frame as it comes from a capture file or a live capture.
#[derive(Clone, Copy, Debug)]
pub struct Frame<'a> {
    pub time: Timestamp,
    pub link_type: LinkType,
    /// The captured bytes (possibly fewer than `original_len`).
    pub data: &'a [u8],
    pub original_len: u32,
}
