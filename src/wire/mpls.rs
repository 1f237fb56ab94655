//! MPLS label stacks (RFC 3032) and what is under them.

use super::error::Error;

const ENTRY_LEN: usize = 4;
/// More labels than any real network stacks; bounds the loop on hostile input.
const MAX_LABELS: usize = 16;

/// What the bottom of the stack carries. MPLS does not say: the first nibble tells IPv4 and
/// IPv6 apart, and 0 is a pseudowire control word (RFC 4385) before an Ethernet frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Payload<'a> {
    Ipv4(&'a [u8]),
    Ipv6(&'a [u8]),
    Ethernet(&'a [u8]),
}

/// Pops the label stack of a unicast MPLS frame.
pub fn pop(frame: &[u8]) -> Result<Payload<'_>, Error> {
    let mut rest = frame;
    for _ in 0..MAX_LABELS {
        let (entry, after) = rest
            .split_at_checked(ENTRY_LEN)
            .ok_or(Error::Truncated("MPLS label"))?;
        rest = after;
        let bottom_of_stack = entry[2] & 0x01 != 0;
        if bottom_of_stack {
            return match rest.first().map(|b| b >> 4) {
                Some(4) => Ok(Payload::Ipv4(rest)),
                Some(6) => Ok(Payload::Ipv6(rest)),
                Some(0) => rest
                    .get(ENTRY_LEN..)
                    .map(Payload::Ethernet)
                    .ok_or(Error::Truncated("MPLS control word")),
                Some(_) => Err(Error::Unsupported("MPLS payload")),
                None => Err(Error::Truncated("MPLS payload")),
            };
        }
    }
    Err(Error::Unsupported("MPLS labels stacked too deep"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn two_labels_then_ipv4() {
        // Label 16 (not bottom), label 17 (bottom), then an IPv4 first byte.
        let frame = [0x00, 0x01, 0x00, 0x40, 0x00, 0x01, 0x11, 0x40, 0x45, 0x00];
        assert_eq!(pop(&frame), Ok(Payload::Ipv4(&[0x45, 0x00][..])));
    }

    #[test]
    fn control_word_then_ethernet_and_ipv6() {
        let frame = [0x00, 0x01, 0x01, 0x40, 0, 0, 0, 0, 0xaa];
        assert_eq!(pop(&frame), Ok(Payload::Ethernet(&[0xaa][..])));
        let frame = [0x00, 0x01, 0x01, 0x40, 0x60, 0x00];
        assert_eq!(pop(&frame), Ok(Payload::Ipv6(&[0x60, 0x00][..])));
    }

    #[test]
    fn endless_or_short_stacks_are_errors() {
        assert_eq!(
            pop(&[0u8; 4 * 20]),
            Err(Error::Unsupported("MPLS labels stacked too deep"))
        );
        assert_eq!(pop(&[0, 1, 1]), Err(Error::Truncated("MPLS label")));
        assert_eq!(pop(&[0, 1, 1, 0]), Err(Error::Truncated("MPLS payload")));
        assert_eq!(
            pop(&[0, 1, 1, 0, 0x90]),
            Err(Error::Unsupported("MPLS payload"))
        );
    }
}
