//! Process exit codes (sysexits(3)), as mailpulse(8) fixes them.

/// Success.
pub const OK: i32 = 0;
/// The command was used incorrectly (bad flag, bad argument).
pub const USAGE: i32 = 64;
/// An input file (capture, journal) does not exist or cannot be read.
pub const NOINPUT: i32 = 66;
/// The daemon is not running or cannot be reached.
pub const UNAVAILABLE: i32 = 69;
/// An internal error (a bug, or an answer that makes no sense).
pub const SOFTWARE: i32 = 70;
/// Permission denied (the control socket, a capture device).
pub const NOPERM: i32 = 77;
/// Configuration error.
pub const CONFIG: i32 = 78;
