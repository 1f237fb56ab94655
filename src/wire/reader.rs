//! A cursor over untrusted bytes (in the manner of rustls' `codec::Reader`): every read is
//! checked and fails with `Error::Truncated` naming the structure being read.

use super::error::Error;

/// Reads big-endian fields from a byte slice, front to back.
#[derive(Clone, Debug)]
pub struct Reader<'a> {
    buf: &'a [u8],
    offset: usize,
    what: &'static str,
}

impl<'a> Reader<'a> {
    /// A reader over `buf`; errors name `what` (`"ClientHello"`).
    pub fn new(buf: &'a [u8], what: &'static str) -> Self {
        Self {
            buf,
            offset: 0,
            what,
        }
    }

    /// Takes the next `n` bytes.
    pub fn take(&mut self, n: usize) -> Result<&'a [u8], Error> {
        let end = self
            .offset
            .checked_add(n)
            .ok_or(Error::Truncated(self.what))?;
        let bytes = self
            .buf
            .get(self.offset..end)
            .ok_or(Error::Truncated(self.what))?;
        self.offset = end;
        Ok(bytes)
    }

    /// Takes the next `N` bytes as an array.
    pub fn take_array<const N: usize>(&mut self) -> Result<[u8; N], Error> {
        let bytes = self.take(N)?;
        let mut out = [0u8; N];
        out.copy_from_slice(bytes);
        Ok(out)
    }

    /// Skips `n` bytes.
    pub fn skip(&mut self, n: usize) -> Result<(), Error> {
        self.take(n).map(|_| ())
    }

    pub fn u8(&mut self) -> Result<u8, Error> {
        Ok(self.take_array::<1>()?[0])
    }

    pub fn u16(&mut self) -> Result<u16, Error> {
        Ok(u16::from_be_bytes(self.take_array()?))
    }

    /// A 24-bit length, as in TLS handshake headers.
    pub fn u24(&mut self) -> Result<u32, Error> {
        let [a, b, c] = self.take_array()?;
        Ok(u32::from_be_bytes([0, a, b, c]))
    }

    pub fn u32(&mut self) -> Result<u32, Error> {
        Ok(u32::from_be_bytes(self.take_array()?))
    }

    /// A sub-reader over the next `len` bytes (a length-prefixed vector's body).
    pub fn sub(&mut self, len: usize) -> Result<Reader<'a>, Error> {
        let what = self.what;
        Ok(Reader::new(self.take(len)?, what))
    }

    /// A sub-reader over a vector with a one-byte length prefix.
    pub fn sub_u8(&mut self) -> Result<Reader<'a>, Error> {
        let len = self.u8()?;
        self.sub(usize::from(len))
    }

    /// A sub-reader over a vector with a two-byte length prefix.
    pub fn sub_u16(&mut self) -> Result<Reader<'a>, Error> {
        let len = self.u16()?;
        self.sub(usize::from(len))
    }

    /// The bytes not read yet.
    pub fn rest(&self) -> &'a [u8] {
        self.buf.get(self.offset..).unwrap_or(&[])
    }

    /// How many bytes are left.
    pub fn left(&self) -> usize {
        self.buf.len().saturating_sub(self.offset)
    }

    pub fn any_left(&self) -> bool {
        self.left() > 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_fields_and_fails_past_the_end() {
        let mut r = Reader::new(&[0x01, 0x02, 0x03, 0x04, 0x05, 0x06], "test");
        assert_eq!(r.u8(), Ok(1));
        assert_eq!(r.u16(), Ok(0x0203));
        assert_eq!(r.u24(), Ok(0x040506));
        assert_eq!(r.u8(), Err(Error::Truncated("test")));
        assert!(!r.any_left());
    }

    #[test]
    fn sub_reader_is_bounded_by_its_length_prefix() {
        let mut r = Reader::new(&[0x02, 0xaa, 0xbb, 0xcc], "vec");
        let mut sub = r.sub_u8().unwrap();
        assert_eq!(sub.u16(), Ok(0xaabb));
        assert_eq!(sub.u8(), Err(Error::Truncated("vec")));
        assert_eq!(r.rest(), &[0xcc]);
        let mut bad = Reader::new(&[0x09, 0x01], "vec");
        assert_eq!(bad.sub_u8().map(|_| ()), Err(Error::Truncated("vec")));
    }
}
