//! TCP headers (RFC 9293). The options are skipped, never parsed: the tracker needs none.

use super::error::Error;

mod field {
    use std::ops::Range;
    pub const SRC_PORT: Range<usize> = 0..2;
    pub const DST_PORT: Range<usize> = 2..4;
    pub const SEQ_NUM: Range<usize> = 4..8;
    pub const ACK_NUM: Range<usize> = 8..12;
    pub const DATA_OFF: usize = 12;
    pub const FLAGS: usize = 13;
    pub const WIN_SIZE: Range<usize> = 14..16;
    pub const MIN_HEADER: usize = 20;
}

/// TCP flag bits (the low byte of the flags field).
pub mod flags {
    pub const FIN: u8 = 0x01;
    pub const SYN: u8 = 0x02;
    pub const RST: u8 = 0x04;
    /// Only tests build segments with it; the tracker ignores it.
    #[cfg(test)]
    pub const PSH: u8 = 0x08;
    pub const ACK: u8 = 0x10;
}

/// A zero-copy view of a TCP segment.
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

    /// Ensures no accessor panics: the header (with options) fits in the buffer.
    pub fn check_len(&self) -> Result<(), Error> {
        let data = self.buffer.as_ref();
        if data.len() < field::MIN_HEADER {
            return Err(Error::Truncated("TCP header"));
        }
        let header_len = self.header_len();
        if header_len < field::MIN_HEADER {
            return Err(Error::BadLength("TCP data offset"));
        }
        if data.len() < header_len {
            return Err(Error::Truncated("TCP options"));
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

    pub fn seq_number(&self) -> u32 {
        let b = &self.buffer.as_ref()[field::SEQ_NUM];
        u32::from_be_bytes([b[0], b[1], b[2], b[3]])
    }

    pub fn ack_number(&self) -> u32 {
        let b = &self.buffer.as_ref()[field::ACK_NUM];
        u32::from_be_bytes([b[0], b[1], b[2], b[3]])
    }

    /// Header length in bytes (data offset × 4).
    pub fn header_len(&self) -> usize {
        usize::from(self.buffer.as_ref()[field::DATA_OFF] >> 4) * 4
    }

    /// The flag byte (see [`flags`]).
    pub fn flags(&self) -> u8 {
        self.buffer.as_ref()[field::FLAGS]
    }

    pub fn window_len(&self) -> u16 {
        let b = &self.buffer.as_ref()[field::WIN_SIZE];
        u16::from_be_bytes([b[0], b[1]])
    }
}

impl<'a, T: AsRef<[u8]> + ?Sized> Packet<&'a T> {
    /// The segment's data, borrowed for the buffer's lifetime.
    pub fn payload(&self) -> &'a [u8] {
        &T::as_ref(self.buffer)[self.header_len()..]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // A Linux SYN to port 993 with 20 bytes of options (MSS, SACK permitted, timestamps, NOP,
    // window scale), which the payload starts after.
    static SYN_BYTES: [u8; 40] = [
        0xa4, 0x10, 0x03, 0xe1, 0x5e, 0x2a, 0x11, 0x0c, 0x00, 0x00, 0x00, 0x00, 0xa0, 0x02, 0xff,
        0xd7, 0xfe, 0x30, 0x00, 0x00, 0x02, 0x04, 0xff, 0xd7, 0x04, 0x02, 0x08, 0x0a, 0x9c, 0x4e,
        0x2b, 0x13, 0x00, 0x00, 0x00, 0x00, 0x01, 0x03, 0x03, 0x07,
    ];

    #[test]
    fn test_deconstruct() {
        let p = Packet::new_checked(&SYN_BYTES[..]).unwrap();
        assert_eq!(p.src_port(), 42_000);
        assert_eq!(p.dst_port(), 993);
        assert_eq!(p.seq_number(), 0x5e2a_110c);
        assert_eq!(p.ack_number(), 0);
        assert_eq!(p.header_len(), 40);
        assert_eq!(p.flags(), flags::SYN);
        assert_eq!(p.window_len(), 65_495);
        assert!(p.payload().is_empty());
    }

    #[test]
    fn test_impossible_len() {
        assert!(Packet::new_checked(&SYN_BYTES[..39]).is_err());
        let mut bytes = SYN_BYTES;
        bytes[12] = 0x40; // data offset 16 < 20
        assert_eq!(
            Packet::new_checked(&bytes[..]).map(|_| ()),
            Err(Error::BadLength("TCP data offset"))
        );
    }
}
