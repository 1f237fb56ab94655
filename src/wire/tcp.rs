//! TCP headers (RFC 9293) and options: MSS, window scale, SACK (RFC 2018), timestamps
//! (RFC 7323); unknown options are kept with their bytes.

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
    pub const PSH: u8 = 0x08;
    pub const ACK: u8 = 0x10;
    pub const URG: u8 = 0x20;
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

    pub fn syn(&self) -> bool {
        self.flags() & flags::SYN != 0
    }

    pub fn ack(&self) -> bool {
        self.flags() & flags::ACK != 0
    }

    pub fn fin(&self) -> bool {
        self.flags() & flags::FIN != 0
    }

    pub fn rst(&self) -> bool {
        self.flags() & flags::RST != 0
    }

    pub fn window_len(&self) -> u16 {
        let b = &self.buffer.as_ref()[field::WIN_SIZE];
        u16::from_be_bytes([b[0], b[1]])
    }

    /// The raw options bytes.
    pub fn options(&self) -> &[u8] {
        &self.buffer.as_ref()[field::MIN_HEADER..self.header_len()]
    }

    /// The options, parsed one by one.
    pub fn option_iter(&self) -> OptionIter<'_> {
        OptionIter {
            rest: self.options(),
        }
    }
}

impl<'a, T: AsRef<[u8]> + ?Sized> Packet<&'a T> {
    /// The segment's data, borrowed for the buffer's lifetime.
    pub fn payload(&self) -> &'a [u8] {
        &T::as_ref(self.buffer)[self.header_len()..]
    }
}

/// One TCP option.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TcpOption<'a> {
    EndOfList,
    NoOperation,
    MaxSegmentSize(u16),
    WindowScale(u8),
    SackPermitted,
    /// Up to four left/right edge pairs; the rest of the array is `None`.
    // It's possible for a remote to send 4 SACK blocks, but 3 is the most with timestamps.
    SackRange([Option<(u32, u32)>; 4]),
    Timestamps {
        tsval: u32,
        tsecr: u32,
    },
    Unknown {
        kind: u8,
        data: &'a [u8],
    },
}

impl<'a> TcpOption<'a> {
    /// Parses one option from the front of `buffer`; returns the rest and the option.
    pub fn parse(buffer: &'a [u8]) -> Result<(&'a [u8], TcpOption<'a>), Error> {
        let (&kind, rest) = buffer.split_first().ok_or(Error::Truncated("TCP option"))?;
        match kind {
            0 => return Ok((&[], TcpOption::EndOfList)),
            1 => return Ok((rest, TcpOption::NoOperation)),
            _ => {}
        }
        let (&len, _) = rest.split_first().ok_or(Error::Truncated("TCP option"))?;
        let len = usize::from(len);
        if len < 2 {
            return Err(Error::BadLength("TCP option"));
        }
        let data = buffer.get(2..len).ok_or(Error::Truncated("TCP option"))?;
        let rest = buffer.get(len..).unwrap_or(&[]);
        let option = match (kind, data.len()) {
            (2, 2) => TcpOption::MaxSegmentSize(u16::from_be_bytes([data[0], data[1]])),
            (3, 1) => TcpOption::WindowScale(data[0]),
            (4, 0) => TcpOption::SackPermitted,
            (5, n) if n % 8 == 0 && n <= 32 => {
                let mut ranges = [None; 4];
                for (slot, chunk) in ranges.iter_mut().zip(data.chunks_exact(8)) {
                    let left = u32::from_be_bytes([chunk[0], chunk[1], chunk[2], chunk[3]]);
                    let right = u32::from_be_bytes([chunk[4], chunk[5], chunk[6], chunk[7]]);
                    *slot = Some((left, right));
                }
                TcpOption::SackRange(ranges)
            }
            (8, 8) => TcpOption::Timestamps {
                tsval: u32::from_be_bytes([data[0], data[1], data[2], data[3]]),
                tsecr: u32::from_be_bytes([data[4], data[5], data[6], data[7]]),
            },
            (kind, _) => TcpOption::Unknown { kind, data },
        };
        Ok((rest, option))
    }
}

/// Iterates over options; stops at the end of the list or at the first malformed option
/// (which it yields as an error).
#[derive(Clone, Debug)]
pub struct OptionIter<'a> {
    rest: &'a [u8],
}

impl<'a> Iterator for OptionIter<'a> {
    type Item = Result<TcpOption<'a>, Error>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.rest.is_empty() {
            return None;
        }
        match TcpOption::parse(self.rest) {
            Ok((rest, option)) => {
                self.rest = rest;
                Some(Ok(option))
            }
            Err(e) => {
                self.rest = &[];
                Some(Err(e))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // A Linux SYN to port 993: MSS 65495, SACK permitted, timestamps, NOP, wscale 7.
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
        assert!(p.syn() && !p.ack() && !p.fin() && !p.rst());
        assert_eq!(p.window_len(), 65_495);
        assert!(p.payload().is_empty());
        let options: Vec<_> = p.option_iter().collect::<Result<_, _>>().unwrap();
        assert_eq!(
            options,
            vec![
                TcpOption::MaxSegmentSize(65_495),
                TcpOption::SackPermitted,
                TcpOption::Timestamps {
                    tsval: 0x9c4e_2b13,
                    tsecr: 0
                },
                TcpOption::NoOperation,
                TcpOption::WindowScale(7),
            ]
        );
    }

    #[test]
    fn sack_and_unknown_options_are_kept() {
        let sack = [5u8, 18, 0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0, 3, 0, 0, 0, 4];
        let (_, option) = TcpOption::parse(&sack).unwrap();
        assert_eq!(
            option,
            TcpOption::SackRange([Some((1, 2)), Some((3, 4)), None, None])
        );
        let fast_open = [34u8, 4, 0xab, 0xcd];
        let (rest, option) = TcpOption::parse(&fast_open).unwrap();
        assert!(rest.is_empty());
        assert_eq!(
            option,
            TcpOption::Unknown {
                kind: 34,
                data: &[0xab, 0xcd]
            }
        );
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
        assert_eq!(
            TcpOption::parse(&[2, 1]).map(|(_, o)| o),
            Err(Error::BadLength("TCP option"))
        );
        assert_eq!(
            TcpOption::parse(&[2, 4, 0]).map(|(_, o)| o),
            Err(Error::Truncated("TCP option"))
        );
    }
}
