//! Privilege drop on FreeBSD: the portable Unix code (`sys::unix_privs`).
//!
//! Open descriptors keep working after the drop: BPF and PF_ROUTE check privilege at
//! `open()`/`socket()` time only. Reopening a capture after its interface comes back (BPF
//! returns ENXIO once the interface is gone) therefore needs root, or a devfs rule that lets
//! the mailpulse user open /dev/bpf. Capsicum is discussed in scripts/README-freebsd.md.

pub use crate::sys::unix_privs::{drop_privileges, user_exists};
