//! PPPoE session-stage frames (RFC 2516) and the PPP protocol field after them (RFC 1661).

use super::error::Error;

/// PPP protocol numbers this crate follows.
pub mod ppp_protocol {
    pub const IPV4: u16 = 0x0021;
    pub const IPV6: u16 = 0x0057;
}

/// Version 1, type 1, in the first byte of every PPPoE header.
const VERSION_TYPE: u8 = 0x11;
/// Session data carries code 0; the discovery stage's codes travel under another ethertype.
const SESSION_DATA: u8 = 0x00;
const HEADER_LEN: usize = 6;

/// The PPP protocol and its payload in a PPPoE session frame.
pub fn session(frame: &[u8]) -> Result<(u16, &[u8]), Error> {
    let (header, rest) = frame
        .split_at_checked(HEADER_LEN)
        .ok_or(Error::Truncated("PPPoE header"))?;
    if header[0] != VERSION_TYPE || header[1] != SESSION_DATA {
        return Err(Error::Malformed("PPPoE header"));
    }
    // The length covers the PPP protocol field and data; a capture may hold fewer bytes
    // (a snapshot length) or more (Ethernet padding): the shorter of the two is the PPP frame.
    let len = usize::from(u16::from_be_bytes([header[4], header[5]]));
    let ppp = &rest[..rest.len().min(len)];
    protocol(ppp)
}

/// Splits a PPP frame into its protocol and payload, with the HDLC address and control bytes
/// skipped if present and a compressed one-byte protocol field understood (RFC 1661 §6.5-6).
pub fn protocol(frame: &[u8]) -> Result<(u16, &[u8]), Error> {
    let frame = frame.strip_prefix(&[0xff, 0x03]).unwrap_or(frame);
    match frame {
        [first, rest @ ..] if first & 1 == 1 => Ok((u16::from(*first), rest)),
        [hi, lo, rest @ ..] => Ok((u16::from_be_bytes([*hi, *lo]), rest)),
        _ => Err(Error::Truncated("PPP protocol")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn session_data_gives_the_ppp_protocol_and_payload() {
        // Session 0x1234, length 4: protocol IPv4 and two bytes; one byte of padding after.
        let frame = [
            0x11, 0x00, 0x12, 0x34, 0x00, 0x04, 0x00, 0x21, 0x45, 0x00, 0xee,
        ];
        assert_eq!(session(&frame), Ok((ppp_protocol::IPV4, &[0x45, 0x00][..])));
    }

    #[test]
    fn discovery_codes_and_short_frames_are_errors() {
        assert_eq!(
            session(&[0x11, 0x09, 0, 0, 0, 0]),
            Err(Error::Malformed("PPPoE header"))
        );
        assert_eq!(
            session(&[0x11, 0x00]),
            Err(Error::Truncated("PPPoE header"))
        );
        assert_eq!(
            session(&[0x11, 0x00, 0, 1, 0, 1, 0x00]),
            Err(Error::Truncated("PPP protocol"))
        );
    }

    #[test]
    fn hdlc_bytes_and_compressed_protocols_are_understood() {
        assert_eq!(
            protocol(&[0xff, 0x03, 0x00, 0x57, 1]),
            Ok((0x0057, &[1][..]))
        );
        assert_eq!(protocol(&[0x21, 0x45]), Ok((0x0021, &[0x45][..])));
    }
}
