//! DNS messages (RFC 1035): header, the question, and the addresses and TTLs of the answers.
//! Names are read with compression pointers (§4.1.4), each pointer required to point strictly
//! backwards so a loop cannot form, and written lower-case without the trailing dot into a fixed
//! buffer.

use std::fmt;
use std::hash::{Hash, Hasher};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::error::Error;
use super::reader::Reader;

mod field {
    use std::ops::Range;
    pub const ID: Range<usize> = 0..2;
    pub const FLAGS: Range<usize> = 2..4;
    pub const QDCOUNT: Range<usize> = 4..6;
    pub const ANCOUNT: Range<usize> = 6..8;
    pub const HEADER: usize = 12;
}

/// Record types this parser names.
pub mod rtype {
    pub const A: u16 = 1;
    pub const CNAME: u16 = 5;
    pub const AAAA: u16 = 28;
}

/// A name's presentation form is at most 253 characters (RFC 1035 §2.3.4: 255 octets wire).
const MAX_NAME: usize = 255;

/// A domain name, lower-case, dot-separated, without the trailing dot; stored inline.
/// Equality and hashing look at the used bytes only (the buffer past `len` is not part of
/// the name, and hashing all 255 bytes per message was a measurable share of replay time).
#[derive(Clone, Copy)]
pub struct DnsName {
    bytes: [u8; MAX_NAME],
    len: u8,
}

impl DnsName {
    /// The root name (empty).
    pub const fn root() -> Self {
        Self {
            bytes: [0; MAX_NAME],
            len: 0,
        }
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes[..usize::from(self.len)]
    }

    /// The name as text; bytes that are not printable are escaped as `\xNN` (`crate::text`).
    pub fn to_text(&self) -> String {
        crate::text::clean(self.as_bytes())
    }

    /// Appends a label (lower-cased), preceded by a dot unless it is the first.
    fn push_label(&mut self, label: &[u8]) -> Result<(), Error> {
        let start = usize::from(self.len);
        let dot = usize::from(start != 0);
        let end = start + dot + label.len();
        let slot = self
            .bytes
            .get_mut(start..end)
            .ok_or(Error::BadLength("DNS name"))?;
        let (sep, text) = slot.split_at_mut(dot);
        sep.fill(b'.');
        text.copy_from_slice(label);
        text.make_ascii_lowercase();
        self.len = u8::try_from(end).map_err(|_| Error::BadLength("DNS name"))?;
        Ok(())
    }
}

impl PartialEq for DnsName {
    fn eq(&self, other: &Self) -> bool {
        self.as_bytes() == other.as_bytes()
    }
}

impl Eq for DnsName {}

impl Hash for DnsName {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.as_bytes().hash(state);
    }
}

impl fmt::Debug for DnsName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DnsName({:?})", self.to_text())
    }
}

/// Reads the name at `offset` in `message`; returns it and the offset just past it (past
/// the first pointer, if any).
pub fn read_name(message: &[u8], offset: usize) -> Result<(DnsName, usize), Error> {
    let mut name = DnsName::root();
    let after = walk_name(message, offset, |label| name.push_label(label))?;
    Ok((name, after))
}

/// Checks the name at `offset` as `read_name` does (same errors, the same length bound) without
/// copying it; returns the offset just past it.
pub fn skip_name(message: &[u8], offset: usize) -> Result<usize, Error> {
    let mut len = 0usize;
    walk_name(message, offset, |label| {
        len += usize::from(len != 0) + label.len();
        if len > MAX_NAME {
            return Err(Error::BadLength("DNS name"));
        }
        Ok(())
    })
}

/// Walks the labels of the name at `offset`, following compression pointers; returns the
/// offset just past the name (past the first pointer, if any).
fn walk_name(
    message: &[u8],
    offset: usize,
    mut on_label: impl FnMut(&[u8]) -> Result<(), Error>,
) -> Result<usize, Error> {
    let mut pos = offset;
    let mut resume = None;
    // Pointers must go strictly backwards: this bounds the walk and rules out loops.
    let mut limit = offset;
    loop {
        let len = *message.get(pos).ok_or(Error::Truncated("DNS name"))?;
        match len & 0xc0 {
            0x00 if len == 0 => {
                return Ok(resume.unwrap_or(pos + 1));
            }
            0x00 => {
                let label = message
                    .get(pos + 1..pos + 1 + usize::from(len))
                    .ok_or(Error::Truncated("DNS label"))?;
                on_label(label)?;
                pos += 1 + usize::from(len);
            }
            0xc0 => {
                let low = *message
                    .get(pos + 1)
                    .ok_or(Error::Truncated("DNS pointer"))?;
                let target = usize::from(u16::from_be_bytes([len & 0x3f, low]));
                if target >= limit {
                    return Err(Error::Malformed("DNS compression pointer"));
                }
                resume.get_or_insert(pos + 2);
                limit = target;
                pos = target;
            }
            _ => return Err(Error::Unsupported("DNS extended label type")),
        }
    }
}

/// A zero-copy view of a DNS message.
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
        if self.buffer.as_ref().len() < field::HEADER {
            Err(Error::Truncated("DNS header"))
        } else {
            Ok(())
        }
    }

    fn u16_at(&self, range: std::ops::Range<usize>) -> u16 {
        let b = &self.buffer.as_ref()[range];
        u16::from_be_bytes([b[0], b[1]])
    }

    pub fn id(&self) -> u16 {
        self.u16_at(field::ID)
    }

    pub fn flags(&self) -> u16 {
        self.u16_at(field::FLAGS)
    }

    /// QR: a response, not a query.
    pub fn is_response(&self) -> bool {
        self.flags() & 0x8000 != 0
    }

    pub fn opcode(&self) -> u8 {
        ((self.flags() >> 11) & 0x0f) as u8
    }

    /// The four-bit RCODE (extended RCODEs live in EDNS, not followed here).
    pub fn rcode(&self) -> u8 {
        (self.flags() & 0x000f) as u8
    }

    pub fn question_count(&self) -> u16 {
        self.u16_at(field::QDCOUNT)
    }

    pub fn answer_count(&self) -> u16 {
        self.u16_at(field::ANCOUNT)
    }

    /// The first question (mail clients ask one at a time), and the offset after it.
    pub fn question(&self) -> Result<(Question, usize), Error> {
        if self.question_count() == 0 {
            return Err(Error::Malformed("DNS message without a question"));
        }
        let message = self.buffer.as_ref();
        let (name, after) = read_name(message, field::HEADER)?;
        let mut r = Reader::new(message.get(after..).unwrap_or(&[]), "DNS question");
        let qtype = r.u16()?;
        let qclass = r.u16()?;
        Ok((
            Question {
                name,
                qtype,
                qclass,
            },
            after + 4,
        ))
    }

    /// The answer section's records, after the first question, as addresses and TTLs, without
    /// copying any names. Further questions (never seen in practice) are refused.
    pub fn answer_addresses(&self) -> Result<AnswerAddresses<'_>, Error> {
        if self.question_count() > 1 {
            return Err(Error::Unsupported("DNS message with several questions"));
        }
        let message = self.buffer.as_ref();
        let offset = if self.question_count() == 1 {
            let after = skip_name(message, field::HEADER)?;
            let mut r = Reader::new(message.get(after..).unwrap_or(&[]), "DNS question");
            r.take(4)?;
            after + 4
        } else {
            field::HEADER
        };
        Ok(AnswerAddresses {
            message,
            offset,
            remaining: self.answer_count(),
        })
    }
}

/// Iterator over the answer section: each record's address (A, AAAA; `None` for any other
/// type) and TTL. Yields an error once and stops on malformed input.
#[derive(Clone, Debug)]
pub struct AnswerAddresses<'a> {
    message: &'a [u8],
    offset: usize,
    remaining: u16,
}

impl AnswerAddresses<'_> {
    /// The next record's address (`None` for other types) and TTL.
    fn read_record(&mut self) -> Result<(Option<IpAddr>, u32), Error> {
        let after = skip_name(self.message, self.offset)?;
        let mut r = Reader::new(self.message.get(after..).unwrap_or(&[]), "DNS record");
        let rtype = r.u16()?;
        let _class = r.u16()?;
        let ttl = r.u32()?;
        let rdlength = usize::from(r.u16()?);
        let rdata_start = after + 10;
        let rdata = r.take(rdlength)?;
        let address = match (rtype, rdata.len()) {
            (rtype::A, 4) => Some(IpAddr::V4(Ipv4Addr::new(
                rdata[0], rdata[1], rdata[2], rdata[3],
            ))),
            (rtype::AAAA, 16) => {
                let mut a = [0u8; 16];
                a.copy_from_slice(rdata);
                Some(IpAddr::V6(Ipv6Addr::from(a)))
            }
            (rtype::A | rtype::AAAA, _) => return Err(Error::BadLength("DNS address record")),
            (rtype::CNAME, _) => {
                skip_name(self.message, rdata_start)?;
                None
            }
            _ => None,
        };
        self.offset = rdata_start + rdlength;
        Ok((address, ttl))
    }
}

impl Iterator for AnswerAddresses<'_> {
    type Item = Result<(Option<IpAddr>, u32), Error>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.remaining == 0 {
            return None;
        }
        self.remaining -= 1;
        let record = self.read_record();
        if record.is_err() {
            self.remaining = 0;
        }
        Some(record)
    }
}

/// The question of a message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Question {
    pub name: DnsName,
    pub qtype: u16,
    pub qclass: u16,
}

#[cfg(test)]
mod tests {
    use super::*;

    // A response for IMAP.Example.COM A: CNAME mail.example.com (compressed), then an A record
    // 192.0.2.25 for the CNAME target. Layout per RFC 1035 §4.1.
    static RESPONSE_BYTES: [u8; 78] = [
        0xbe, 0xef, 0x81, 0x80, 0x00, 0x01, 0x00, 0x02, 0x00, 0x00, 0x00, 0x00, // header
        0x04, b'I', b'M', b'A', b'P', 0x07, b'E', b'x', b'a', b'm', b'p', b'l', b'e', 0x03, b'C',
        b'O', b'M', 0x00, 0x00, 0x01, 0x00, 0x01, // question at 12
        0xc0, 0x0c, 0x00, 0x05, 0x00, 0x01, 0x00, 0x00, 0x0e, 0x10, 0x00, 0x07, 0x04, b'm', b'a',
        b'i', b'l', 0xc0, 0x11, // CNAME → mail + pointer to "Example.COM" at 17
        0x04, b'm', b'a', b'i', b'l', 0xc0, 0x11, 0x00, 0x01, 0x00, 0x01, 0x00, 0x00, 0x01, 0x2c,
        0x00, 0x04, 0xc0, 0x00, 0x02, 0x19, // A 192.0.2.25, TTL 300
        0x00, 0x00, 0x00, 0x00,
    ];

    #[test]
    fn test_parse() {
        let p = Packet::new_checked(&RESPONSE_BYTES[..]).unwrap();
        assert_eq!(p.id(), 0xbeef);
        assert!(p.is_response());
        assert_eq!(p.opcode(), 0);
        assert_eq!(p.rcode(), 0);
        let (q, _) = p.question().unwrap();
        assert_eq!(q.name.as_bytes(), b"imap.example.com");
        assert_eq!(q.qtype, rtype::A);
        let answers: Vec<_> = p.answer_addresses().unwrap().collect();
        assert_eq!(
            answers,
            vec![
                Ok((None, 3600)),
                Ok((Some(IpAddr::V4(Ipv4Addr::new(192, 0, 2, 25))), 300))
            ]
        );
    }

    /// On every cut and every single-byte change of a real response, the walk yields at most
    /// the header's answer count, and an error only as its last item.
    #[test]
    fn answer_addresses_stop_at_the_first_error() {
        fn check(bytes: &[u8], what: &str) {
            let Ok(p) = Packet::new_checked(bytes) else {
                return;
            };
            let Ok(records) = p.answer_addresses() else {
                return;
            };
            let walk: Vec<_> = records.collect();
            assert!(walk.len() <= usize::from(p.answer_count()), "{what}");
            if let Some(first_error) = walk.iter().position(Result::is_err) {
                assert_eq!(first_error, walk.len() - 1, "{what}");
            }
        }
        for cut in 0..=RESPONSE_BYTES.len() {
            check(&RESPONSE_BYTES[..cut], &format!("cut at {cut}"));
        }
        for at in 0..RESPONSE_BYTES.len() {
            for value in [0x00, 0x01, 0x05, 0x1c, 0x3f, 0x40, 0xc0, 0xc1, 0xff] {
                let mut bytes = RESPONSE_BYTES;
                bytes[at] = value;
                check(&bytes, &format!("byte {at} set to {value:#x}"));
            }
        }
    }

    /// A CNAME's target is checked like any name: a pointer loop in it stops the walk.
    #[test]
    fn a_bad_cname_target_stops_the_walk() {
        let mut bytes = RESPONSE_BYTES;
        // The CNAME's rdata ends in a pointer to "Example.COM" at 17; make it point at itself.
        bytes[51..53].copy_from_slice(&[0xc0, 51]);
        let p = Packet::new_checked(&bytes[..]).unwrap();
        let walk: Vec<_> = p.answer_addresses().unwrap().collect();
        assert_eq!(walk, vec![Err(Error::Malformed("DNS compression pointer"))]);
    }

    #[test]
    fn servfail_rcode_is_read() {
        let mut bytes = RESPONSE_BYTES;
        bytes[3] = 0x82; // RA + RCODE 2
        let p = Packet::new_checked(&bytes[..]).unwrap();
        assert_eq!(p.rcode(), 2);
    }

    #[test]
    fn names_are_lowered_and_compared_by_their_bytes() {
        // Four 63-byte labels: 255 bytes with the dots, the most the buffer holds.
        let mut wire = Vec::new();
        for c in [b'A', b'b', b'C', b'd'] {
            wire.push(63);
            wire.extend_from_slice(&[c; 63]);
        }
        wire.push(0);
        let (name, after) = read_name(&wire, 0).unwrap();
        assert_eq!(after, wire.len());
        assert_eq!(name.as_bytes().len(), 255);
        assert!(name.as_bytes().starts_with(&[b'a'; 63]));
        assert_eq!(name.as_bytes()[63], b'.');
        let short = read_name(b"\x04IMAP\x04Test\x00", 0).unwrap().0;
        let same = read_name(b"\x04imap\x04test\x00", 0).unwrap().0;
        assert_eq!(short, same);
        assert_ne!(short, name);
        use std::hash::BuildHasher;
        let state = std::collections::hash_map::RandomState::new();
        assert_eq!(state.hash_one(short), state.hash_one(same));
    }

    #[test]
    fn pointer_loops_are_refused() {
        // A name that is a pointer to itself, and two pointers pointing at each other.
        let self_loop = [0u8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xc0, 0x0c];
        assert_eq!(
            read_name(&self_loop, 12).map(|(n, _)| n),
            Err(Error::Malformed("DNS compression pointer"))
        );
        let forward = [0xc0u8, 0x02, 0xc0, 0x00];
        assert!(read_name(&forward, 0).is_err());
        assert!(read_name(&forward, 2).is_err());
    }

    #[test]
    fn test_impossible_len() {
        assert!(Packet::new_checked(&RESPONSE_BYTES[..11]).is_err());
        // The A record cut in its data.
        let p = Packet::new_checked(&RESPONSE_BYTES[..72]).unwrap();
        let results: Vec<_> = p.answer_addresses().unwrap().collect();
        assert!(results[0].is_ok());
        assert!(results[1].is_err());
        // A name longer than 255 bytes is refused, not grown.
        let mut long = vec![0u8; 12];
        for _ in 0..5 {
            long.push(63);
            long.extend_from_slice(&[b'a'; 63]);
        }
        long.push(0);
        assert_eq!(
            read_name(&long, 12).map(|(n, _)| n),
            Err(Error::BadLength("DNS name"))
        );
    }
}
