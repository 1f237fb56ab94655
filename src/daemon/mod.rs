//! The daemon: sources as tasks feeding the engine; reports and the control socket.

pub mod core;
pub mod evidence;
pub mod history;
pub mod link_state;

use std::path::Path;

/// Runs `mailpulse daemon [-c PATH] [--foreground]`; returns the exit code.
pub fn main(config: Option<&Path>, foreground: bool) -> i32 {
    let _ = (config, foreground);
    70
}
