//! Capture files from untrusted sources: classic pcap (either byte order, microsecond,
//! nanosecond and the modified-record variant), pcapng (every section, per-interface link
//! types and timestamp units) and either of them gzip-compressed (told by its magic, not its
//! name). The file is streamed, never read whole.
//!
//! Tolerant where real writers differ from the letter of the formats (options without an
//! end-of-options marker, comments that are not UTF-8, unknown block types, a record longer
//! than the snapshot length), strict where a wrong guess would misread packets (lengths that
//! disagree with the bytes). Damage stops the reading with its offset; everything before it
//! has been delivered. No panics, and memory is bounded by `MAX_BLOCK` whatever the input.

mod chunks;
mod pcap;
mod pcapng;

use std::io::{self, Read};

use crate::wire::Frame;
use chunks::Chunks;
pub use chunks::MAX_BLOCK;

/// A gzip-compressed capture is not read past this many decompressed bytes (a small file
/// can expand without bound).
pub const MAX_DECOMPRESSED: u64 = 16 << 30;

const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];

/// Why a capture could not be read to its end.
#[derive(Debug)]
pub enum ReadError {
    /// The first bytes are not a capture header.
    NotACapture(String),
    Io(io::Error),
    /// The file is cut or damaged at `offset` (of the decompressed stream, for a compressed
    /// file); everything before it was read.
    Stopped {
        offset: u64,
        why: String,
    },
}

/// Reads a pcap or pcapng file, plain or gzip-compressed, calling `on_frame` for every packet.
pub fn read<R: Read>(source: R, on_frame: &mut dyn FnMut(&Frame<'_>)) -> Result<(), ReadError> {
    read_bounded(source, MAX_DECOMPRESSED, on_frame)
}

fn read_bounded<R: Read>(
    mut source: R,
    max_decompressed: u64,
    on_frame: &mut dyn FnMut(&Frame<'_>),
) -> Result<(), ReadError> {
    let mut head = [0u8; 2];
    let got = read_up_to(&mut source, &mut head).map_err(ReadError::Io)?;
    let prefix = io::Cursor::new(head).take(got as u64);
    if head[..got] == GZIP_MAGIC {
        let inflated = flate2::read::MultiGzDecoder::new(prefix.chain(source));
        let mut chunks = Chunks::new(inflated, max_decompressed, true);
        by_magic(&mut chunks, "gzip-compressed, ", on_frame)
    } else {
        let mut chunks = Chunks::new(prefix.chain(source), u64::MAX, false);
        by_magic(&mut chunks, "", on_frame)
    }
}

/// Fills `buf` unless the source ends first; how many bytes were read.
fn read_up_to<R: Read>(source: &mut R, buf: &mut [u8]) -> io::Result<usize> {
    let mut got = 0;
    while got < buf.len() {
        match source.read(&mut buf[got..]) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(got)
}

fn by_magic<R: Read>(
    chunks: &mut Chunks<R>,
    what: &str,
    on_frame: &mut dyn FnMut(&Frame<'_>),
) -> Result<(), ReadError> {
    match chunks.fill(4) {
        Ok(true) => {}
        Ok(false) => {
            return Err(ReadError::NotACapture(format!(
                "{what}the file is shorter than a capture header"
            )))
        }
        Err(ReadError::Stopped { why, .. }) => {
            return Err(ReadError::NotACapture(format!("{what}{why}")))
        }
        Err(e) => return Err(e),
    }
    let magic = [
        chunks.window()[0],
        chunks.window()[1],
        chunks.window()[2],
        chunks.window()[3],
    ];
    if pcap::is_magic(magic) {
        pcap::read(chunks, on_frame)
    } else if pcapng::is_magic(magic) {
        pcapng::read(chunks, on_frame)
    } else {
        Err(ReadError::NotACapture(format!(
            "{what}it starts with {:02x} {:02x} {:02x} {:02x}",
            magic[0], magic[1], magic[2], magic[3]
        )))
    }
}

/// Byte order of a pcap file or pcapng section.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Order {
    Little,
    Big,
}

impl Order {
    fn u16(self, b: [u8; 2]) -> u16 {
        match self {
            Order::Little => u16::from_le_bytes(b),
            Order::Big => u16::from_be_bytes(b),
        }
    }

    fn u32(self, b: [u8; 4]) -> u32 {
        match self {
            Order::Little => u32::from_le_bytes(b),
            Order::Big => u32::from_be_bytes(b),
        }
    }

    fn u32_at(self, bytes: &[u8], at: usize) -> Option<u32> {
        let b = bytes.get(at..at.checked_add(4)?)?;
        Some(self.u32([b[0], b[1], b[2], b[3]]))
    }

    fn u16_at(self, bytes: &[u8], at: usize) -> Option<u16> {
        let b = bytes.get(at..at.checked_add(2)?)?;
        Some(self.u16([b[0], b[1]]))
    }
}

#[cfg(test)]
mod tests;
