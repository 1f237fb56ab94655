//! Linux: AF_PACKET capture, rtnetlink link monitor, conntrack timeout, privilege drop.

pub mod capture;
pub mod firewall;
pub mod link;
mod link_state;
mod netlink;
pub mod privs;

/// Calls a libc function and turns its `-1` into the thread's `errno` as `io::Error`. Every
/// syscall in this directory goes through it.
macro_rules! syscall {
    ($fn:ident ( $($arg:expr),* $(,)? )) => {{
        // SAFETY: the caller's own `// SAFETY:` comment covers the arguments; the call itself
        // is a plain libc function.
        #[allow(unused_unsafe)]
        let res = unsafe { libc::$fn($($arg),*) };
        if res == -1 {
            Err(std::io::Error::last_os_error())
        } else {
            Ok(res)
        }
    }};
}
pub(crate) use syscall;
