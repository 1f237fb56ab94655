//! Capture files → frames → decoder: the whole of `mailpulse replay`'s reading, on any bytes.
//! Input: a capture file (pcap, pcapng, or either gzip-compressed). The first byte picks how
//! many bytes each read returns, so chunk boundaries fall everywhere.
#![no_main]

use std::io::Read;

use libfuzzer_sys::fuzz_target;
use mailpulse::capture_file;
use mailpulse::wire;

/// Hands out the file a few bytes at a time, as a slow pipe would.
struct Trickle<'a> {
    rest: &'a [u8],
    step: usize,
}

impl Read for Trickle<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = buf.len().min(self.step).min(self.rest.len());
        buf[..n].copy_from_slice(&self.rest[..n]);
        self.rest = &self.rest[n..];
        Ok(n)
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((step, file)) = data.split_first() else {
        return;
    };
    let source = Trickle {
        rest: file,
        step: usize::from(*step).max(1) * 7,
    };
    let mut frames = 0usize;
    let _ = capture_file::read(source, &mut |frame| {
        frames += 1;
        assert!(frame.data.len() <= capture_file::MAX_BLOCK);
        let _ = wire::decode(frame.link_type, frame.data);
    });
    // Every frame needs at least a record header's worth of input (or of inflated input).
    assert!(frames <= data.len().saturating_mul(1100));
});
