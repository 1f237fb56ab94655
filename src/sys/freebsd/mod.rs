//! FreeBSD: BPF capture, routing-socket link monitor, pf timeouts, privilege drop.
//!
//! The byte formats are parsed by the pure code in `sys::bsd`, which is tested on every OS;
//! this directory only makes the syscalls. Layouts and ioctl numbers are FreeBSD 14 LP64.

pub mod capture;
pub mod firewall;
pub mod link;
pub mod privs;

/// Calls a libc function and turns its `-1` into the thread's `errno` as `io::Error`. Every
/// syscall in this directory goes through it.
///
/// The arguments are evaluated first, each into its own binding, outside the `unsafe` block:
/// only the call itself is unsafe, so an argument expression cannot slip an unchecked unsafe
/// operation past the caller's `// SAFETY:` comment.
macro_rules! syscall {
    ($fn:ident ( $($arg:expr),* $(,)? )) => {
        syscall!(@bind $fn [] $($arg,)*)
    };
    // Each recursion binds one argument; macro hygiene keeps every `arg` binding distinct.
    (@bind $fn:ident [$($bound:ident)*] $head:expr, $($rest:expr,)*) => {{
        let arg = $head;
        syscall!(@bind $fn [$($bound)* arg] $($rest,)*)
    }};
    (@bind $fn:ident [$($bound:ident)*]) => {{
        // SAFETY: the caller's own `// SAFETY:` comment covers the arguments; the call itself
        // is a plain libc function.
        let res = unsafe { libc::$fn($($bound),*) };
        if res == -1 {
            Err(std::io::Error::last_os_error())
        } else {
            Ok(res)
        }
    }};
}
pub(crate) use syscall;

/// `io::Error` with `context` in front of the OS error, keeping its kind.
fn with_context(err: std::io::Error, context: impl std::fmt::Display) -> std::io::Error {
    std::io::Error::new(err.kind(), format!("{context}: {err}"))
}
