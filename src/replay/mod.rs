//! `mailpulse replay`: a capture file through the same tracker and engine as the daemon.
//!
//! The file (pcap or pcapng, plain or gzip-compressed) is streamed through
//! [`crate::capture_file`], never read whole (`input`). Frames go to the tracker, the
//! tracker's observations (in time order) to the engine, and the engine's events to the
//! output (`drive`, printed by `print`). A session the engine gives no view for is printed
//! from the tracker's record with verdict `unknown` ([`unjudged_view`]), so the output exists
//! whatever the engine decides.
//!
//! `--timeline` adds the daemon's recorded non-packet observations (`timeline.jsonl`: link
//! and route changes, WAN interfaces, probes, gateway samples) in time order with the
//! capture's, so the engine sees the same context it saw live.

mod drive;
mod input;
mod print;
mod unjudged;

use std::io::{self, BufWriter, Write};
use std::path::Path;

use drive::Replay;
use print::Printer;

pub use unjudged::unjudged_view;

/// sysexits: the input file is missing or unreadable.
const EX_NOINPUT: i32 = 66;
/// sysexits: the input is not in a format we read.
const EX_DATAERR: i32 = 65;
/// sysexits: something failed that should not have (writing the output).
const EX_SOFTWARE: i32 = 70;

/// Runs `mailpulse replay CAPTURE [--timeline TIMELINE] [--json]`; returns the exit code.
pub fn main(capture: &Path, timeline: Option<&Path>, json: bool) -> i32 {
    let stdout = io::stdout();
    let stderr = io::stderr();
    let mut out = BufWriter::with_capacity(64 * 1024, stdout.lock());
    let code = run(capture, timeline, json, &mut out, &mut stderr.lock());
    if out.flush().is_err() {
        return EX_SOFTWARE;
    }
    code
}

/// `main` with its output streams given (for tests).
pub fn run(
    capture: &Path,
    timeline: Option<&Path>,
    json: bool,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> i32 {
    // Diagnostics to `err` are best effort: a closed stderr must not change the exit code.
    // The daemon's non-packet observations (WAN, probes, gateways), merged in time order.
    let recorded = match timeline.map(|path| input::load_timeline(path, err)) {
        None => Vec::new(),
        Some(Ok(observations)) => observations,
        Some(Err(code)) => return code,
    };
    let file = match input::open_capture(capture, err) {
        Ok(file) => file,
        Err(code) => return code,
    };
    let mut printer = Printer::new(json, out);
    let mut replay = Replay::new(recorded);
    let read = input::read_frames(file, capture, err, &mut |frame| {
        replay.frame(frame, &mut printer)
    });
    if let Err(code) = read {
        return code;
    }
    replay.finish(&mut printer);
    if let Err(e) = printer.into_result() {
        let _ = writeln!(err, "mailpulse replay: cannot write the output: {e}");
        return EX_SOFTWARE;
    }
    if !json {
        input::print_counts(err, &replay.tracker_stats(), replay.dns_cut_off());
    }
    0
}
