//! Process exit codes (sysexits(3)), as mailpulse(8) fixes them.

/// Success.
pub const OK: i32 = 0;
/// The command was used incorrectly (bad flag, bad argument).
pub const USAGE: i32 = 64;
/// An internal error (a bug, or an answer that makes no sense).
pub const SOFTWARE: i32 = 70;
/// Configuration error.
pub const CONFIG: i32 = 78;
