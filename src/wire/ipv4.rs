//! IPv4 headers (RFC 791), options skipped by IHL. Only a datagram's first fragment carries the
//! transport header, so later fragments are reported as such and never parsed as TCP/UDP.

use std::net::Ipv4Addr;

use super::error::Error;

mod field {
    use std::ops::Range;
    pub const VER_IHL: usize = 0;
    pub const LENGTH: Range<usize> = 2..4;
    pub const FLG_OFF: Range<usize> = 6..8;
    pub const PROTOCOL: usize = 9;
    pub const SRC_ADDR: Range<usize> = 12..16;
    pub const DST_ADDR: Range<usize> = 16..20;
    pub const MIN_HEADER: usize = 20;
}

/// A zero-copy view of an IPv4 header and its payload.
#[derive(Clone, Copy, Debug)]
pub struct Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Packet<T> {
    pub fn new_unchecked(buffer: T) -> Self {
        Self { buffer }
    }

    pub fn new_checked(buffer: T) -> Result<Self, Error> {
        let packet = Self::new_unchecked(buffer);
        packet.check_len()?;
        Ok(packet)
    }

    /// Ensures no accessor panics: version 4, IHL ≥ 5 and within the buffer, total length ≥
    /// IHL. A total length beyond the buffer is allowed (the capture's snap length cut it);
    /// `payload` then returns what was captured.
    pub fn check_len(&self) -> Result<(), Error> {
        let data = self.buffer.as_ref();
        if data.len() < field::MIN_HEADER {
            return Err(Error::Truncated("IPv4 header"));
        }
        if self.version() != 4 {
            return Err(Error::Malformed("IPv4 version"));
        }
        let header_len = self.header_len();
        if header_len < field::MIN_HEADER {
            return Err(Error::BadLength("IPv4 header length"));
        }
        if data.len() < header_len {
            return Err(Error::Truncated("IPv4 options"));
        }
        // Zero total length: TCP segmentation offload on the capturing host; use the buffer.
        let total = usize::from(self.total_len());
        if total != 0 && total < header_len {
            return Err(Error::BadLength("IPv4 total length"));
        }
        Ok(())
    }

    pub fn version(&self) -> u8 {
        self.buffer.as_ref()[field::VER_IHL] >> 4
    }

    /// Header length in bytes (IHL × 4).
    pub fn header_len(&self) -> usize {
        usize::from(self.buffer.as_ref()[field::VER_IHL] & 0x0f) * 4
    }

    pub fn total_len(&self) -> u16 {
        let b = &self.buffer.as_ref()[field::LENGTH];
        u16::from_be_bytes([b[0], b[1]])
    }

    /// Fragment offset in bytes.
    pub fn frag_offset(&self) -> u16 {
        let b = &self.buffer.as_ref()[field::FLG_OFF];
        (u16::from_be_bytes([b[0], b[1]]) & 0x1fff) << 3
    }

    /// The IP protocol number of the payload (6 = TCP, 17 = UDP).
    pub fn next_header(&self) -> u8 {
        self.buffer.as_ref()[field::PROTOCOL]
    }

    pub fn src_addr(&self) -> Ipv4Addr {
        let b = &self.buffer.as_ref()[field::SRC_ADDR];
        Ipv4Addr::new(b[0], b[1], b[2], b[3])
    }

    pub fn dst_addr(&self) -> Ipv4Addr {
        let b = &self.buffer.as_ref()[field::DST_ADDR];
        Ipv4Addr::new(b[0], b[1], b[2], b[3])
    }
}

impl<'a, T: AsRef<[u8]> + ?Sized> Packet<&'a T> {
    /// The payload as captured (bounded by both the total length and the buffer).
    pub fn payload(&self) -> &'a [u8] {
        let data = T::as_ref(self.buffer);
        let total = usize::from(self.total_len());
        let end = if total == 0 {
            data.len()
        } else {
            total.min(data.len())
        };
        data.get(self.header_len()..end).unwrap_or(&[])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // 192.0.2.1 → 198.51.100.7, TCP, IHL 6 (one 4-byte option: NOP NOP NOP EOL), 4 bytes data.
    static PACKET_BYTES: [u8; 28] = [
        0x46, 0x00, 0x00, 0x1c, 0x12, 0x34, 0x40, 0x00, 0x40, 0x06, 0x00, 0x00, 0xc0, 0x00, 0x02,
        0x01, 0xc6, 0x33, 0x64, 0x07, 0x01, 0x01, 0x01, 0x00, 0xde, 0xad, 0xbe, 0xef,
    ];

    #[test]
    fn test_deconstruct() {
        let p = Packet::new_checked(&PACKET_BYTES[..]).unwrap();
        assert_eq!(p.header_len(), 24);
        assert_eq!(p.total_len(), 28);
        assert_eq!(p.frag_offset(), 0);
        assert_eq!(p.next_header(), 6);
        assert_eq!(p.src_addr(), Ipv4Addr::new(192, 0, 2, 1));
        assert_eq!(p.dst_addr(), Ipv4Addr::new(198, 51, 100, 7));
        // The payload starts after the option.
        assert_eq!(p.payload(), &[0xde, 0xad, 0xbe, 0xef]);
    }

    #[test]
    fn later_fragment_offset_is_in_bytes() {
        let mut bytes = PACKET_BYTES;
        // MF clear, offset 185 units = 1480 bytes.
        bytes[6] = 0x00;
        bytes[7] = 0xb9;
        let p = Packet::new_checked(&bytes[..]).unwrap();
        assert_eq!(p.frag_offset(), 1480);
    }

    #[test]
    fn test_impossible_len() {
        let mut bytes = PACKET_BYTES;
        bytes[0] = 0x44; // IHL 4 → 16 bytes, less than the fixed header
        assert_eq!(
            Packet::new_checked(&bytes[..]).map(|_| ()),
            Err(Error::BadLength("IPv4 header length"))
        );
        assert!(Packet::new_checked(&PACKET_BYTES[..22]).is_err());
        // Snap length cut the payload: what was captured is returned.
        let p = Packet::new_checked(&PACKET_BYTES[..26]).unwrap();
        assert_eq!(p.payload(), &[0xde, 0xad]);
    }
}
