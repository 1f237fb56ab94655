//! `mailpulse replay`: a capture file through the same tracker and engine as the daemon.

use std::path::Path;

/// Runs `mailpulse replay CAPTURE [--timeline JOURNAL] [--json]`; returns the exit code.
pub fn main(capture: &Path, timeline: Option<&Path>, json: bool) -> i32 {
    let _ = (capture, timeline, json);
    70
}
