//! Linux cooked capture headers (`tcpdump -i any`): SLL (16 bytes) and SLL2 (20 bytes).
//! Layouts: https://www.tcpdump.org/linktypes/LINKTYPE_LINUX_SLL.html and `_SLL2.html`.

use super::error::Error;

mod field {
    use std::ops::Range;
    /// SLL: packet type, ARPHRD, address length, 8 address bytes, then the protocol.
    pub const SLL_PROTOCOL: Range<usize> = 14..16;
    pub const SLL_PAYLOAD: usize = 16;
    /// SLL2: the protocol comes first (then the interface index, never read).
    pub const SLL2_PROTOCOL: Range<usize> = 0..2;
    pub const SLL2_PAYLOAD: usize = 20;
}

/// A zero-copy view of an SLL (v1) header.
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
        if self.buffer.as_ref().len() < field::SLL_PAYLOAD {
            Err(Error::Truncated("SLL header"))
        } else {
            Ok(())
        }
    }

    /// The EtherType of the payload.
    pub fn protocol(&self) -> u16 {
        let b = &self.buffer.as_ref()[field::SLL_PROTOCOL];
        u16::from_be_bytes([b[0], b[1]])
    }
}

impl<'a, T: AsRef<[u8]> + ?Sized> Packet<&'a T> {
    /// The bytes after the header, borrowed for the buffer's lifetime.
    pub fn payload(&self) -> &'a [u8] {
        &T::as_ref(self.buffer)[field::SLL_PAYLOAD..]
    }
}

/// A zero-copy view of an SLL2 header.
#[derive(Clone, Copy, Debug)]
pub struct Packet2<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Packet2<T> {
    pub fn new_unchecked(buffer: T) -> Self {
        Self { buffer }
    }

    pub fn new_checked(buffer: T) -> Result<Self, Error> {
        let packet = Self::new_unchecked(buffer);
        packet.check_len()?;
        Ok(packet)
    }

    pub fn check_len(&self) -> Result<(), Error> {
        if self.buffer.as_ref().len() < field::SLL2_PAYLOAD {
            Err(Error::Truncated("SLL2 header"))
        } else {
            Ok(())
        }
    }

    /// The EtherType of the payload.
    pub fn protocol(&self) -> u16 {
        let b = &self.buffer.as_ref()[field::SLL2_PROTOCOL];
        u16::from_be_bytes([b[0], b[1]])
    }
}

impl<'a, T: AsRef<[u8]> + ?Sized> Packet2<&'a T> {
    /// The bytes after the header, borrowed for the buffer's lifetime.
    pub fn payload(&self) -> &'a [u8] {
        &T::as_ref(self.buffer)[field::SLL2_PAYLOAD..]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Headers as tcpdump -i any writes them (outgoing IPv4 on interface 1, lo: ARPHRD 772).
    static SLL_BYTES: [u8; 18] = [
        0x00, 0x04, 0x03, 0x04, 0x00, 0x06, 0, 0, 0, 0, 0, 0, 0, 0, 0x08, 0x00, 0x45, 0x00,
    ];
    static SLL2_BYTES: [u8; 22] = [
        0x86, 0xdd, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x03, 0x04, 0x04, 0x06, 0, 0, 0, 0, 0, 0,
        0, 0, 0x60, 0x00,
    ];

    #[test]
    fn test_deconstruct() {
        let v1 = Packet::new_checked(&SLL_BYTES[..]).unwrap();
        assert_eq!(v1.protocol(), 0x0800);
        assert_eq!(v1.payload(), &[0x45, 0x00]);
        let v2 = Packet2::new_checked(&SLL2_BYTES[..]).unwrap();
        assert_eq!(v2.protocol(), 0x86dd);
        assert_eq!(v2.payload(), &[0x60, 0x00]);
    }

    #[test]
    fn test_impossible_len() {
        assert!(Packet::new_checked(&SLL_BYTES[..15]).is_err());
        assert!(Packet2::new_checked(&SLL2_BYTES[..19]).is_err());
    }
}
