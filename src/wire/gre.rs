//! GRE headers: version 0 (RFC 2784 with RFC 2890's key and sequence number) and version 1
//! (PPTP's enhanced GRE, RFC 2637 §4.1). The protocol type is an ethertype.

use super::error::Error;

mod flag {
    pub const CHECKSUM: u16 = 0x8000;
    /// RFC 1701 source routing: deprecated, and its variable-length fields are not followed.
    pub const ROUTING: u16 = 0x4000;
    pub const KEY: u16 = 0x2000;
    pub const SEQUENCE: u16 = 0x1000;
    /// Version 1 only: an acknowledgment number follows.
    pub const ACK: u16 = 0x0080;
    pub const VERSION: u16 = 0x0007;
}

/// PPP inside PPTP's GRE version 1.
pub const PROTOCOL_PPP: u16 = 0x880b;

/// The protocol type and the payload after the GRE header.
pub fn parse(packet: &[u8]) -> Result<(u16, &[u8]), Error> {
    let (fixed, rest) = packet
        .split_at_checked(4)
        .ok_or(Error::Truncated("GRE header"))?;
    let flags = u16::from_be_bytes([fixed[0], fixed[1]]);
    let protocol = u16::from_be_bytes([fixed[2], fixed[3]]);
    if flags & flag::ROUTING != 0 {
        return Err(Error::Unsupported("GRE source routing"));
    }
    let optional = [
        flag::CHECKSUM, // checksum and reserved
        flag::KEY,
        flag::SEQUENCE,
    ];
    let mut extra: usize = optional.iter().filter(|f| flags & **f != 0).count() * 4;
    match flags & flag::VERSION {
        0 => {}
        1 => {
            if flags & flag::ACK != 0 {
                extra += 4;
            }
        }
        _ => return Err(Error::Unsupported("GRE version")),
    }
    let payload = rest
        .get(extra..)
        .ok_or(Error::Truncated("GRE optional fields"))?;
    Ok((protocol, payload))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_keyed_and_sequenced_headers() {
        assert_eq!(parse(&[0, 0, 0x08, 0x00, 0x45]), Ok((0x0800, &[0x45][..])));
        // Key and sequence present: eight more bytes.
        let mut keyed = vec![0x30, 0x00, 0x86, 0xdd];
        keyed.extend_from_slice(&[1, 2, 3, 4, 0, 0, 0, 9, 0x60]);
        assert_eq!(parse(&keyed), Ok((0x86dd, &[0x60][..])));
        // Checksum, key and sequence: twelve.
        let mut all = vec![0xb0, 0x00, 0x65, 0x58];
        all.extend_from_slice(&[0; 12]);
        all.push(0xaa);
        assert_eq!(parse(&all), Ok((0x6558, &[0xaa][..])));
    }

    #[test]
    fn pptp_enhanced_gre_with_ack() {
        // Version 1, key, sequence and acknowledgment: twelve bytes after the fixed four.
        let mut pptp = vec![0x30, 0x81, 0x88, 0x0b];
        pptp.extend_from_slice(&[0; 12]);
        pptp.extend_from_slice(&[0xff, 0x03]);
        assert_eq!(parse(&pptp), Ok((PROTOCOL_PPP, &[0xff, 0x03][..])));
    }

    #[test]
    fn routing_other_versions_and_short_headers_are_errors() {
        assert_eq!(
            parse(&[0x40, 0, 8, 0, 0, 0, 0, 0]),
            Err(Error::Unsupported("GRE source routing"))
        );
        assert_eq!(parse(&[0, 2, 8, 0]), Err(Error::Unsupported("GRE version")));
        assert_eq!(parse(&[0, 0, 8]), Err(Error::Truncated("GRE header")));
        assert_eq!(
            parse(&[0x20, 0, 8, 0, 1, 2]),
            Err(Error::Truncated("GRE optional fields"))
        );
    }
}
