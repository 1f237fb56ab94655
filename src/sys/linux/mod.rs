//! Linux: AF_PACKET capture, rtnetlink link monitor, conntrack timeout, privilege drop.

pub mod capture;
pub mod firewall;
pub mod link;
mod link_state;
mod netlink;
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
