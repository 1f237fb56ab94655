//! UDP headers (RFC 768).

use super::error::Error;

mod field {
    use std::ops::Range;
    pub const SRC_PORT: Range<usize> = 0..2;
    pub const DST_PORT: Range<usize> = 2..4;
    pub const LENGTH: Range<usize> = 4..6;
    pub const HEADER: usize = 8;
}

/// A zero-copy view of a UDP datagram.
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

    /// Ensures no accessor panics. A length field shorter than the header is an error; one
    /// beyond the buffer is allowed (snap length) and `payload` returns what was captured.
    pub fn check_len(&self) -> Result<(), Error> {
        if self.buffer.as_ref().len() < field::HEADER {
            return Err(Error::Truncated("UDP header"));
        }
        let len = usize::from(self.len());
        // Zero is legal for jumbograms over IPv6 (RFC 2675).
        if len != 0 && len < field::HEADER {
            return Err(Error::BadLength("UDP length"));
        }
        Ok(())
    }

    pub fn src_port(&self) -> u16 {
        let b = &self.buffer.as_ref()[field::SRC_PORT];
        u16::from_be_bytes([b[0], b[1]])
    }

    pub fn dst_port(&self) -> u16 {
        let b = &self.buffer.as_ref()[field::DST_PORT];
        u16::from_be_bytes([b[0], b[1]])
    }

    /// The length field (header plus payload).
    #[allow(clippy::len_without_is_empty)]
    pub fn len(&self) -> u16 {
        let b = &self.buffer.as_ref()[field::LENGTH];
        u16::from_be_bytes([b[0], b[1]])
    }
}

impl<'a, T: AsRef<[u8]> + ?Sized> Packet<&'a T> {
    /// The datagram's data as captured, borrowed for the buffer's lifetime.
    pub fn payload(&self) -> &'a [u8] {
        let data = T::as_ref(self.buffer);
        let len = usize::from(self.len());
        let end = if len == 0 {
            data.len()
        } else {
            len.min(data.len())
        };
        data.get(field::HEADER..end).unwrap_or(&[])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    static PACKET_BYTES: [u8; 12] = [
        0xd4, 0x31, 0x00, 0x35, 0x00, 0x0c, 0x00, 0x00, 0xaa, 0xbb, 0xcc, 0xdd,
    ];

    #[test]
    fn test_deconstruct() {
        let p = Packet::new_checked(&PACKET_BYTES[..]).unwrap();
        assert_eq!(p.src_port(), 54_321);
        assert_eq!(p.dst_port(), 53);
        assert_eq!(p.len(), 12);
        assert_eq!(p.payload(), &[0xaa, 0xbb, 0xcc, 0xdd]);
    }

    #[test]
    fn test_impossible_len() {
        assert!(Packet::new_checked(&PACKET_BYTES[..7]).is_err());
        let mut bytes = PACKET_BYTES;
        bytes[5] = 4;
        assert_eq!(
            Packet::new_checked(&bytes[..]).map(|_| ()),
            Err(Error::BadLength("UDP length"))
        );
    }
}
