//! Ethernet II frames, with 802.1Q VLAN tags and 802.1ad (QinQ) stacks skipped.

use super::error::Error;

/// EtherType values this crate follows.
pub mod ethertype {
    pub const IPV4: u16 = 0x0800;
    pub const IPV6: u16 = 0x86dd;
    pub const VLAN: u16 = 0x8100;
    pub const QINQ: u16 = 0x88a8;
    /// Pre-standard QinQ tag some switches still emit.
    pub const QINQ_OLD: u16 = 0x9100;
    /// PPPoE session stage (RFC 2516); the discovery stage (0x8863) carries no IP.
    pub const PPPOE_SESSION: u16 = 0x8864;
    pub const MPLS_UNICAST: u16 = 0x8847;
    /// Transparent Ethernet bridging: a whole Ethernet frame, as GRE carries it.
    pub const TRANSPARENT_ETHERNET: u16 = 0x6558;
    pub const ERSPAN_II: u16 = 0x88be;
    pub const ERSPAN_III: u16 = 0x22eb;
}

/// Destination and source MAC (12 bytes, never read), then the EtherType.
mod field {
    use std::ops::Range;
    pub const ETHERTYPE: Range<usize> = 12..14;
    pub const PAYLOAD: usize = 14;
    /// A VLAN tag is TCI (2 bytes) then the inner EtherType (2 bytes).
    pub const TAG_LEN: usize = 4;
}

/// More stacked tags than any real network uses; bounds the loop on hostile input.
const MAX_TAGS: usize = 4;

/// A zero-copy view of an Ethernet II frame.
#[derive(Clone, Copy, Debug)]
pub struct Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Packet<T> {
    /// Wraps without checking; accessors may panic on a short buffer.
    pub fn new_unchecked(buffer: T) -> Self {
        Self { buffer }
    }

    /// Wraps after `check_len`.
    pub fn new_checked(buffer: T) -> Result<Self, Error> {
        let packet = Self::new_unchecked(buffer);
        packet.check_len()?;
        Ok(packet)
    }

    /// Ensures that no accessor will panic.
    pub fn check_len(&self) -> Result<(), Error> {
        if self.buffer.as_ref().len() < field::PAYLOAD {
            Err(Error::Truncated("Ethernet header"))
        } else {
            Ok(())
        }
    }

    /// The outer EtherType (a VLAN TPID when tagged).
    pub fn ethertype(&self) -> u16 {
        let b = &self.buffer.as_ref()[field::ETHERTYPE];
        u16::from_be_bytes([b[0], b[1]])
    }
}

impl<'a, T: AsRef<[u8]> + ?Sized> Packet<&'a T> {
    /// The bytes after the header, borrowed for the buffer's lifetime.
    pub fn payload(&self) -> &'a [u8] {
        &T::as_ref(self.buffer)[field::PAYLOAD..]
    }
}

/// The network-layer payload of a frame after any VLAN tags: `(ethertype, payload, vlan ids)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Untagged<'a> {
    pub ethertype: u16,
    pub payload: &'a [u8],
    /// The outermost VLAN id, if tagged.
    pub vlan: Option<u16>,
}

/// Strips the Ethernet header and any 802.1Q/802.1ad tags.
pub fn untag(frame: &[u8]) -> Result<Untagged<'_>, Error> {
    let packet = Packet::new_checked(frame)?;
    let mut ethertype = packet.ethertype();
    let mut payload = packet.payload();
    let mut vlan = None;
    for _ in 0..MAX_TAGS {
        if !matches!(
            ethertype,
            ethertype::VLAN | ethertype::QINQ | ethertype::QINQ_OLD
        ) {
            return Ok(Untagged {
                ethertype,
                payload,
                vlan,
            });
        }
        let (tag, rest) = payload
            .split_at_checked(field::TAG_LEN)
            .ok_or(Error::Truncated("VLAN tag"))?;
        let tci = u16::from_be_bytes([tag[0], tag[1]]);
        vlan.get_or_insert(tci & 0x0fff);
        ethertype = u16::from_be_bytes([tag[2], tag[3]]);
        payload = rest;
    }
    Err(Error::Unsupported("VLAN tags nested too deep"))
}

#[cfg(test)]
mod tests {
    use super::*;

    // A QinQ frame: S-tag 100 (0x88a8), C-tag 200 (0x8100), then IPv4 (IEEE 802.1ad layout).
    static QINQ_BYTES: [u8; 26] = [
        0x00, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88, 0x99, 0xaa, 0xbb, 0x88, 0xa8, 0x00,
        0x64, 0x81, 0x00, 0x00, 0xc8, 0x08, 0x00, 0x45, 0x00, 0x00, 0x14,
    ];

    #[test]
    fn test_deconstruct() {
        let packet = Packet::new_checked(&QINQ_BYTES[..]).unwrap();
        assert_eq!(packet.ethertype(), ethertype::QINQ);
    }

    #[test]
    fn qinq_tags_are_skipped_to_the_inner_ethertype() {
        let inner = untag(&QINQ_BYTES).unwrap();
        assert_eq!(inner.ethertype, ethertype::IPV4);
        assert_eq!(inner.vlan, Some(100));
        assert_eq!(inner.payload, &[0x45, 0x00, 0x00, 0x14]);
    }

    #[test]
    fn test_impossible_len() {
        assert_eq!(
            Packet::new_checked(&QINQ_BYTES[..13]).map(|_| ()),
            Err(Error::Truncated("Ethernet header"))
        );
        assert_eq!(untag(&QINQ_BYTES[..16]), Err(Error::Truncated("VLAN tag")));
    }
}
