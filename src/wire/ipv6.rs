//! IPv6 headers (RFC 8200) and the walk over extension headers to the transport header.

use std::net::Ipv6Addr;

use super::error::Error;
use super::reader::Reader;

mod field {
    use std::ops::Range;
    pub const VER_TC_FLOW: usize = 0;
    pub const LENGTH: Range<usize> = 4..6;
    pub const NXT_HDR: usize = 6;
    pub const SRC_ADDR: Range<usize> = 8..24;
    pub const DST_ADDR: Range<usize> = 24..40;
    pub const PAYLOAD: usize = 40;
}

/// Extension header numbers (RFC 8200 §4; AH from RFC 4302).
pub mod next_header {
    pub const HOP_BY_HOP: u8 = 0;
    pub const ROUTING: u8 = 43;
    pub const FRAGMENT: u8 = 44;
    pub const AUTH: u8 = 51;
    pub const DEST_OPTS: u8 = 60;
}

/// More extension headers than any sane packet has; bounds the walk.
const MAX_EXTENSION_HEADERS: usize = 8;

/// A zero-copy view of an IPv6 header and its payload.
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

    pub fn check_len(&self) -> Result<(), Error> {
        let data = self.buffer.as_ref();
        if data.len() < field::PAYLOAD {
            return Err(Error::Truncated("IPv6 header"));
        }
        if data[field::VER_TC_FLOW] >> 4 != 6 {
            return Err(Error::Malformed("IPv6 version"));
        }
        Ok(())
    }

    pub fn payload_len(&self) -> u16 {
        let b = &self.buffer.as_ref()[field::LENGTH];
        u16::from_be_bytes([b[0], b[1]])
    }

    pub fn next_header(&self) -> u8 {
        self.buffer.as_ref()[field::NXT_HDR]
    }

    pub fn src_addr(&self) -> Ipv6Addr {
        let mut a = [0u8; 16];
        a.copy_from_slice(&self.buffer.as_ref()[field::SRC_ADDR]);
        Ipv6Addr::from(a)
    }

    pub fn dst_addr(&self) -> Ipv6Addr {
        let mut a = [0u8; 16];
        a.copy_from_slice(&self.buffer.as_ref()[field::DST_ADDR]);
        Ipv6Addr::from(a)
    }
}

impl<'a, T: AsRef<[u8]> + ?Sized> Packet<&'a T> {
    /// Everything after the fixed header, bounded by the payload length and the buffer
    /// (a zero payload length, as with jumbograms or offload, means "the buffer").
    pub fn payload(&self) -> &'a [u8] {
        let data = T::as_ref(self.buffer);
        let len = usize::from(self.payload_len());
        let end = if len == 0 {
            data.len()
        } else {
            (field::PAYLOAD + len).min(data.len())
        };
        data.get(field::PAYLOAD..end).unwrap_or(&[])
    }

    /// Skips extension headers to the upper-layer header.
    pub fn upper_layer(&self) -> Result<UpperLayer<'a>, Error> {
        skip_extension_headers(self.next_header(), self.payload())
    }
}

/// The upper-layer protocol and bytes after the extension headers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UpperLayer<'a> {
    pub protocol: u8,
    pub payload: &'a [u8],
    /// A Fragment header said this is not the first fragment: `payload` is not a header.
    pub later_fragment: bool,
    /// A Fragment header said more fragments follow.
    pub more_fragments: bool,
}

fn skip_extension_headers(mut protocol: u8, mut payload: &[u8]) -> Result<UpperLayer<'_>, Error> {
    let mut more_fragments = false;
    for _ in 0..MAX_EXTENSION_HEADERS {
        let mut r = Reader::new(payload, "IPv6 extension header");
        let len = match protocol {
            next_header::HOP_BY_HOP | next_header::ROUTING | next_header::DEST_OPTS => {
                let next = r.u8()?;
                let units = r.u8()?;
                protocol = next;
                (usize::from(units) + 1) * 8
            }
            next_header::FRAGMENT => {
                let next = r.u8()?;
                r.skip(1)?;
                let off_flags = r.u16()?;
                protocol = next;
                more_fragments = off_flags & 1 != 0;
                if off_flags >> 3 != 0 {
                    let rest = payload.get(8..).unwrap_or(&[]);
                    return Ok(UpperLayer {
                        protocol,
                        payload: rest,
                        later_fragment: true,
                        more_fragments,
                    });
                }
                8
            }
            next_header::AUTH => {
                let next = r.u8()?;
                let units = r.u8()?;
                protocol = next;
                (usize::from(units) + 2) * 4
            }
            _ => {
                return Ok(UpperLayer {
                    protocol,
                    payload,
                    later_fragment: false,
                    more_fragments,
                })
            }
        };
        payload = payload
            .get(len..)
            .ok_or(Error::Truncated("IPv6 extension header"))?;
    }
    Err(Error::Unsupported("IPv6 extension header chain too long"))
}

#[cfg(test)]
mod tests {
    use super::*;

    // 2001:db8::1 → 2001:db8::2, hop-by-hop (8 bytes: PadN) then TCP (2 bytes shown).
    static PACKET_BYTES: [u8; 50] = [
        0x60, 0x00, 0x00, 0x00, 0x00, 0x0a, 0x00, 0x40, 0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0,
        0, 0, 0, 0, 0, 0x01, 0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x02, 0x06,
        0x00, 0x01, 0x04, 0x00, 0x00, 0x00, 0x00, 0x01, 0xbb,
    ];

    #[test]
    fn test_deconstruct() {
        let p = Packet::new_checked(&PACKET_BYTES[..]).unwrap();
        assert_eq!(p.payload_len(), 10);
        assert_eq!(p.next_header(), 0);
        assert_eq!(p.src_addr(), "2001:db8::1".parse::<Ipv6Addr>().unwrap());
        assert_eq!(p.dst_addr(), "2001:db8::2".parse::<Ipv6Addr>().unwrap());
        let upper = p.upper_layer().unwrap();
        assert_eq!(upper.protocol, 6);
        assert_eq!(upper.payload, &[0x01, 0xbb]);
        assert!(!upper.later_fragment);
    }

    #[test]
    fn later_fragment_is_not_a_transport_header() {
        // Fragment header: next TCP, offset 1 (8 bytes), M=0.
        let frag = [6u8, 0, 0x00, 0x08, 0, 0, 0, 1, 0xaa, 0xbb];
        let upper = skip_extension_headers(next_header::FRAGMENT, &frag).unwrap();
        assert!(upper.later_fragment);
        assert_eq!(upper.protocol, 6);
        let first = [6u8, 0, 0x00, 0x01, 0, 0, 0, 1, 0xaa, 0xbb];
        let upper = skip_extension_headers(next_header::FRAGMENT, &first).unwrap();
        assert!(!upper.later_fragment);
        assert!(upper.more_fragments);
        assert_eq!(upper.payload, &[0xaa, 0xbb]);
    }

    #[test]
    fn test_impossible_len() {
        assert!(Packet::new_checked(&PACKET_BYTES[..39]).is_err());
        // Hop-by-hop claiming 16 bytes with only 10 present.
        let bad = [6u8, 1, 0, 0, 0, 0, 0, 0, 0, 0];
        assert_eq!(
            skip_extension_headers(next_header::HOP_BY_HOP, &bad),
            Err(Error::Truncated("IPv6 extension header"))
        );
        // A chain of hop-by-hop headers pointing at each other ends at the bound.
        let chain = [0u8; 8 * 9];
        assert!(skip_extension_headers(next_header::HOP_BY_HOP, &chain).is_err());
    }
}
