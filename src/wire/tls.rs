//! TLS records (RFC 8446 §5.1, RFC 5246 §6.2) and the handshake messages a router sees in
//! clear: ClientHello (SNI, offered versions, ALPN), ServerHello (chosen version, with TLS 1.3
//! read from supported_versions), alerts before encryption and ChangeCipherSpec.

use super::error::Error;
use super::reader::Reader;

/// Record content types.
pub mod content_type {
    pub const CHANGE_CIPHER_SPEC: u8 = 20;
    pub const ALERT: u8 = 21;
    pub const HANDSHAKE: u8 = 22;
    pub const APPLICATION_DATA: u8 = 23;
    pub const HEARTBEAT: u8 = 24;
}

/// Handshake message types.
pub mod handshake_type {
    pub const CLIENT_HELLO: u8 = 1;
    pub const SERVER_HELLO: u8 = 2;
}

/// Extension numbers (IANA "TLS ExtensionType Values").
pub mod extension {
    pub const SERVER_NAME: u16 = 0;
    pub const ALPN: u16 = 16;
    pub const SUPPORTED_VERSIONS: u16 = 43;
}

/// Length of a record header.
pub const RECORD_HEADER_LEN: usize = 5;
/// Largest record body any version allows (2^14 plus TLS 1.2's 2048 bytes of expansion).
pub const MAX_RECORD_LEN: usize = 16_384 + 2_048;

/// ServerHello.random of a HelloRetryRequest (RFC 8446 §4.1.3): SHA-256("HelloRetryRequest").
const HELLO_RETRY_RANDOM: [u8; 32] = [
    0xcf, 0x21, 0xad, 0x74, 0xe5, 0x9a, 0x61, 0x11, 0xbe, 0x1d, 0x8c, 0x02, 0x1e, 0x65, 0xb8, 0x91,
    0xc2, 0xa2, 0x11, 0x16, 0x7a, 0xbb, 0x8c, 0x5e, 0x07, 0x9e, 0x09, 0xe2, 0xc8, 0xa8, 0x33, 0x9c,
];

/// A record header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RecordHeader {
    pub content_type: u8,
    pub version: u16,
    /// Body length.
    pub length: u16,
}

impl RecordHeader {
    /// Parses five header bytes. Fails with `Malformed` for content types or versions that
    /// cannot be TLS (so plaintext is not mistaken for records) and for oversized lengths.
    pub fn parse(bytes: &[u8]) -> Result<RecordHeader, Error> {
        let mut r = Reader::new(bytes, "TLS record header");
        let content_type = r.u8()?;
        let version = r.u16()?;
        let length = r.u16()?;
        if !(content_type::CHANGE_CIPHER_SPEC..=content_type::HEARTBEAT).contains(&content_type) {
            return Err(Error::Malformed("TLS content type"));
        }
        if version >> 8 != 0x03 {
            return Err(Error::Malformed("TLS record version"));
        }
        if usize::from(length) > MAX_RECORD_LEN {
            return Err(Error::BadLength("TLS record"));
        }
        Ok(RecordHeader {
            content_type,
            version,
            length,
        })
    }
}

/// Splits one complete record off the front of `buf`: `(header, body, rest)`. A record not
/// yet complete fails with `Truncated("TLS record")`.
pub fn split_record(buf: &[u8]) -> Result<(RecordHeader, &[u8], &[u8]), Error> {
    let header = RecordHeader::parse(buf)?;
    let end = RECORD_HEADER_LEN + usize::from(header.length);
    let body = buf
        .get(RECORD_HEADER_LEN..end)
        .ok_or(Error::Truncated("TLS record"))?;
    Ok((header, body, buf.get(end..).unwrap_or(&[])))
}

/// Splits one complete handshake message off `buf`: `(msg_type, body, rest)`.
pub fn split_handshake(buf: &[u8]) -> Result<(u8, &[u8], &[u8]), Error> {
    let mut r = Reader::new(buf, "TLS handshake message");
    let msg_type = r.u8()?;
    let len = r.u24()? as usize;
    let body = r.take(len)?;
    Ok((msg_type, body, r.rest()))
}

/// The total length (header included) of the handshake message at the front of `buf`, once
/// its four-byte header is there.
pub fn handshake_len(buf: &[u8]) -> Option<usize> {
    let mut r = Reader::new(buf, "TLS handshake header");
    r.u8().ok()?;
    r.u24().ok().map(|len| len as usize + 4)
}

/// GREASE values (RFC 8701) are placeholders, not versions.
fn is_grease(value: u16) -> bool {
    value & 0x0f0f == 0x0a0a
}

/// What a ClientHello says, borrowed from its bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ClientHello<'a> {
    pub legacy_version: u16,
    /// The host_name entry of server_name (RFC 6066 §3), raw.
    pub server_name: Option<&'a [u8]>,
    /// The body of supported_versions (RFC 8446 §4.2.1): u16 versions.
    pub supported_versions: Option<&'a [u8]>,
    pub cipher_suite_count: usize,
}

impl<'a> ClientHello<'a> {
    /// Parses a ClientHello body (after the handshake header).
    pub fn parse(body: &'a [u8]) -> Result<Self, Error> {
        let mut r = Reader::new(body, "ClientHello");
        let legacy_version = r.u16()?;
        r.skip(32)?;
        r.sub_u8()?;
        let suites = r.sub_u16()?;
        r.sub_u8()?;
        let mut hello = ClientHello {
            legacy_version,
            server_name: None,
            supported_versions: None,
            cipher_suite_count: suites.left() / 2,
        };
        // Extensions are optional before TLS 1.2 (RFC 5246 §7.4.1.2).
        if !r.any_left() {
            return Ok(hello);
        }
        let mut extensions = r.sub_u16()?;
        while extensions.any_left() {
            let kind = extensions.u16()?;
            let mut data = extensions.sub_u16()?;
            match kind {
                extension::SERVER_NAME => hello.server_name = host_name(&mut data)?,
                extension::SUPPORTED_VERSIONS => {
                    hello.supported_versions = Some(data.sub_u8()?.rest());
                }
                // Not kept, but a ProtocolNameList (RFC 7301) cut short refuses the hello.
                extension::ALPN => {
                    data.sub_u16()?;
                }
                _ => {}
            }
        }
        Ok(hello)
    }

    /// The versions offered: supported_versions when present, else the legacy version.
    /// GREASE values are skipped.
    pub fn offered_versions(&self) -> impl Iterator<Item = u16> + 'a {
        let (list, legacy): (&'a [u8], Option<u16>) = match self.supported_versions {
            Some(list) => (list, None),
            None => (&[], Some(self.legacy_version)),
        };
        list.chunks_exact(2)
            .map(|c| u16::from_be_bytes([c[0], c[1]]))
            .chain(legacy)
            .filter(|v| !is_grease(*v))
    }

    /// The highest version offered.
    pub fn max_offered_version(&self) -> Option<u16> {
        self.offered_versions().max()
    }
}

fn host_name<'a>(data: &mut Reader<'a>) -> Result<Option<&'a [u8]>, Error> {
    let mut list = data.sub_u16()?;
    while list.any_left() {
        let name_type = list.u8()?;
        let name = list.sub_u16()?.rest();
        if name_type == 0 {
            return Ok(Some(name));
        }
    }
    Ok(None)
}

/// What a ServerHello says.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ServerHello {
    pub legacy_version: u16,
    pub cipher_suite: u16,
    /// supported_versions' selected_version (TLS 1.3 and later).
    pub selected_version: Option<u16>,
    /// This is a HelloRetryRequest: the client will send a second ClientHello.
    pub hello_retry: bool,
}

impl ServerHello {
    pub fn parse(body: &[u8]) -> Result<Self, Error> {
        let mut r = Reader::new(body, "ServerHello");
        let legacy_version = r.u16()?;
        let random: [u8; 32] = r.take_array()?;
        r.sub_u8()?;
        let cipher_suite = r.u16()?;
        r.u8()?;
        let mut hello = ServerHello {
            legacy_version,
            cipher_suite,
            selected_version: None,
            hello_retry: random == HELLO_RETRY_RANDOM,
        };
        if !r.any_left() {
            return Ok(hello);
        }
        let mut extensions = r.sub_u16()?;
        while extensions.any_left() {
            let kind = extensions.u16()?;
            let mut data = extensions.sub_u16()?;
            if kind == extension::SUPPORTED_VERSIONS {
                hello.selected_version = Some(data.u16()?);
            }
        }
        Ok(hello)
    }

    /// The version the server chose.
    pub fn version(&self) -> u16 {
        self.selected_version.unwrap_or(self.legacy_version)
    }
}

/// An alert record's body in clear (RFC 8446 §6).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Alert {
    pub level: u8,
    pub description: u8,
}

impl Alert {
    /// Parses an unencrypted alert: exactly two bytes (anything longer is encrypted).
    pub fn parse(body: &[u8]) -> Result<Self, Error> {
        match body {
            [level, description] => Ok(Alert {
                level: *level,
                description: *description,
            }),
            _ => Err(Error::BadLength("TLS alert")),
        }
    }
}

#[cfg(test)]
mod tests;
