//! The file buffer the capture parsers read from: a window over the bytes read so far, moved
//! forward as units are parsed, refilled in chunks so memory stays flat on large captures.

use std::io::{self, Read};

use super::ReadError;

/// Bytes read from the source at a time.
const CHUNK: usize = 1 << 20;
/// A single pcap record or pcapng block larger than this is taken as corruption.
pub const MAX_BLOCK: usize = 16 << 20;

/// Chunked buffer: the parsers see `window()`, `consume` moves past parsed bytes. The buffer
/// is allocated once (and grown only for a unit larger than half of it, up to `MAX_BLOCK`).
pub struct Chunks<R: Read> {
    source: R,
    buf: Vec<u8>,
    start: usize,
    end: usize,
    /// Offset of `buf[0]` in the (decompressed) stream.
    base: u64,
    eof: bool,
    /// The stream is cut here (a decompressed size bound).
    limit: u64,
    /// Why the stream ended early (the bound, damaged compressed data), once it has: the
    /// bytes read before stay readable, and the reading then stops with this reason.
    cut: Option<String>,
    /// Bytes come from a decompressor: its errors mean damaged data, not a failing disk.
    compressed: bool,
}

impl<R: Read> Chunks<R> {
    pub fn new(source: R, limit: u64, compressed: bool) -> Self {
        Self {
            source,
            buf: vec![0; CHUNK],
            start: 0,
            end: 0,
            base: 0,
            eof: false,
            limit,
            cut: None,
            compressed,
        }
    }

    pub fn window(&self) -> &[u8] {
        &self.buf[self.start..self.end]
    }

    pub fn consume(&mut self, n: usize) {
        self.start = self.start.saturating_add(n).min(self.end);
    }

    /// Offset of the window's first byte in the stream.
    pub fn offset(&self) -> u64 {
        self.base + self.start as u64
    }

    /// Makes at least `n` bytes available in the window unless the stream ends first;
    /// false when it ended short.
    pub fn fill(&mut self, n: usize) -> Result<bool, ReadError> {
        while self.window().len() < n {
            if !self.refill()? {
                return Ok(false);
            }
        }
        Ok(true)
    }

    /// Reads more bytes; false at end of stream. Fails when one unit outgrows `MAX_BLOCK`.
    fn refill(&mut self) -> Result<bool, ReadError> {
        if self.eof {
            return Ok(false);
        }
        let pending = self.end - self.start;
        if pending >= MAX_BLOCK {
            return Err(self.stopped(&format!("a record longer than {} MB", MAX_BLOCK >> 20)));
        }
        self.buf.copy_within(self.start..self.end, 0);
        self.base += self.start as u64;
        self.start = 0;
        self.end = pending;
        if pending * 2 > self.buf.len() {
            // A unit larger than half the buffer: make room for it and a chunk more.
            self.buf.resize(pending + CHUNK, 0);
        }
        let old = self.end;
        while self.end < self.buf.len() {
            let room = self.limit.saturating_sub(self.base + self.end as u64);
            if room == 0 {
                self.cut = Some(format!(
                    "nothing read past {} MB of decompressed data",
                    self.limit >> 20
                ));
                self.eof = true;
                break;
            }
            let want = usize::try_from(room).unwrap_or(usize::MAX);
            let stop = self.buf.len().min(self.end.saturating_add(want));
            match self.source.read(&mut self.buf[self.end..stop]) {
                Ok(0) => {
                    self.eof = true;
                    break;
                }
                Ok(n) => self.end += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if self.compressed => {
                    self.cut = Some(format!("damaged compressed data: {e}"));
                    self.eof = true;
                    break;
                }
                Err(e) => return Err(ReadError::Io(e)),
            }
        }
        Ok(self.end > old)
    }

    /// The capture stops at the window's start, for the reason given (or for what ended
    /// the stream early, when something did).
    pub fn stopped(&self, why: &str) -> ReadError {
        ReadError::Stopped {
            offset: self.offset(),
            why: self.cut.as_deref().unwrap_or(why).to_string(),
        }
    }

    /// At the end of the stream: Ok when nothing is left over, else the capture was cut.
    pub fn finish(&self, cut: &str) -> Result<(), ReadError> {
        if self.window().is_empty() && self.cut.is_none() {
            Ok(())
        } else {
            Err(self.stopped(cut))
        }
    }
}
