//! Reading replay's inputs: the daemon's timeline, the capture file (through
//! [`crate::capture_file`]), and what is said on stderr about them — read errors with their
//! sysexits code, and the closing counts of what the capture held.
//!
//! Diagnostics written here are best effort: a closed stderr must not change the exit code.

use std::fs::File;
use std::io::Write;
use std::path::Path;

use super::{EX_DATAERR, EX_NOINPUT};
use crate::capture_file::{read as read_capture, ReadError};
use crate::observe::observation::Observation;
use crate::observe::record::TrackerStats;
use crate::wire::Frame;

/// The recorded observations of the timeline at `path`, its warnings written to `err`; the
/// exit code when it cannot be read.
pub(super) fn load_timeline(path: &Path, err: &mut dyn Write) -> Result<Vec<Observation>, i32> {
    match crate::report::timeline::read(path) {
        Ok(loaded) => {
            for warning in &loaded.warnings {
                let _ = writeln!(err, "mailpulse replay: warning: {warning}");
            }
            Ok(loaded.observations)
        }
        Err(e) => {
            let _ = writeln!(err, "mailpulse replay: cannot read {}: {e}", path.display());
            Err(EX_NOINPUT)
        }
    }
}

/// The capture file, opened; the exit code when it cannot be.
pub(super) fn open_capture(capture: &Path, err: &mut dyn Write) -> Result<File, i32> {
    File::open(capture).map_err(|e| {
        let _ = writeln!(
            err,
            "mailpulse replay: cannot open {}: {e}",
            capture.display()
        );
        EX_NOINPUT
    })
}

/// Streams the frames of `file` (named `capture` in messages) to `on_frame`. A capture cut
/// short is a warning and what was read stands; one that is unreadable or not a capture at
/// all gives its exit code.
pub(super) fn read_frames(
    file: File,
    capture: &Path,
    err: &mut dyn Write,
    on_frame: &mut dyn FnMut(&Frame<'_>),
) -> Result<(), i32> {
    match read_capture(file, on_frame) {
        Ok(()) => Ok(()),
        Err(ReadError::NotACapture(why)) => {
            let _ = writeln!(
                err,
                "mailpulse replay: {} is not a pcap or pcapng capture ({why})",
                capture.display()
            );
            Err(EX_DATAERR)
        }
        Err(ReadError::Io(e)) => {
            let _ = writeln!(
                err,
                "mailpulse replay: cannot read {}: {e}",
                capture.display()
            );
            Err(EX_NOINPUT)
        }
        Err(ReadError::Stopped { offset, why }) => {
            let _ = writeln!(
                err,
                "mailpulse replay: warning: {} stops at byte {offset} ({why}); showing what was read",
                capture.display()
            );
            Ok(())
        }
    }
}

/// The closing summary of the text output: what the capture held, undecodable and non-IP
/// frames included, and the DNS queries its end cut off.
pub(super) fn print_counts(err: &mut dyn Write, stats: &TrackerStats, dns_cut_off: u64) {
    let _ = writeln!(
        err,
        "{} packets, {} mail sessions, {} undecodable frames, {} frames not IP",
        stats.packets, stats.sessions_total, stats.undecodable, stats.not_ip
    );
    if dns_cut_off > 0 {
        let _ = writeln!(
            err,
            "{dns_cut_off} DNS quer{} still waiting for an answer when the capture ended (not judged)",
            if dns_cut_off == 1 { "y was" } else { "ies were" }
        );
    }
}

/// The capture reader as replay uses it. (These exercise [`crate::capture_file`], whose own
/// tests cover the formats in depth.)
#[cfg(test)]
mod tests {
    use super::*;
    use crate::time::Timestamp;
    use crate::wire::LinkType;

    /// A classic pcap header (microseconds, Ethernet) and one 60-byte record.
    fn tiny_pcap() -> Vec<u8> {
        let mut f = Vec::new();
        f.extend_from_slice(&[0xd4, 0xc3, 0xb2, 0xa1, 2, 0, 4, 0]);
        f.extend_from_slice(&[0; 8]);
        f.extend_from_slice(&65_535u32.to_le_bytes());
        f.extend_from_slice(&1u32.to_le_bytes());
        f.extend_from_slice(&1_700_000_000u32.to_le_bytes());
        f.extend_from_slice(&250_000u32.to_le_bytes());
        f.extend_from_slice(&60u32.to_le_bytes());
        f.extend_from_slice(&60u32.to_le_bytes());
        f.extend_from_slice(&[0; 60]);
        f
    }

    #[test]
    fn pcap_frames_carry_time_and_link_type() {
        let mut frames = Vec::new();
        read_capture(&tiny_pcap()[..], &mut |f| {
            frames.push((f.time, f.link_type, f.data.len()))
        })
        .unwrap();
        assert_eq!(
            frames,
            vec![(
                Timestamp::from_unix(1_700_000_000, 250_000_000),
                LinkType::ETHERNET,
                60
            )]
        );
    }

    #[test]
    fn a_cut_capture_reports_the_offset() {
        let mut bytes = tiny_pcap();
        bytes.truncate(24 + 16 + 30);
        let mut n = 0;
        match read_capture(&bytes[..], &mut |_| n += 1) {
            Err(ReadError::Stopped { offset, .. }) => assert_eq!(offset, 24),
            other => panic!("expected Stopped, got {other:?}"),
        }
        assert_eq!(n, 0);
    }

    #[test]
    fn text_is_not_a_capture() {
        assert!(matches!(
            read_capture(&b"hello world\n"[..], &mut |_| {}),
            Err(ReadError::NotACapture(_))
        ));
        assert!(matches!(
            read_capture(&b"ab"[..], &mut |_| {}),
            Err(ReadError::NotACapture(_))
        ));
    }
}
