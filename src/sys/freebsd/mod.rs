//! FreeBSD: BPF capture, routing-socket link monitor, pf timeouts, privilege drop.
//!
//! The byte formats are parsed by the pure code in `sys::bsd`, which is tested on every OS;
//! this directory only makes the syscalls. Layouts and ioctl numbers are FreeBSD 14 LP64.

// open(2), read(2) and the ioctls of a /dev/bpf descriptor.
#[allow(unsafe_code)]
pub mod capture;
// open(2) and the DIOCGETTIMEOUT ioctl on /dev/pf.
#[allow(unsafe_code)]
pub mod firewall;
// The routing socket, sysctl(3) for the interface dump, if_indextoname(3).
#[allow(unsafe_code)]
pub mod link;
// procctl(2), which nix does not wrap.
#[allow(unsafe_code)]
pub mod privs;

/// `io::Error` with `context` in front of the OS error, keeping its kind.
fn with_context(err: std::io::Error, context: impl std::fmt::Display) -> std::io::Error {
    std::io::Error::new(err.kind(), format!("{context}: {err}"))
}
