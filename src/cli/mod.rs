//! The command line (DESIGN.md, "Command line").

/// Runs the command line; returns the process exit code (sysexits).
pub fn main() -> i32 {
    let _ = (
        crate::replay::main,
        crate::probe::cli_main,
        crate::daemon::main,
    );
    0
}
