//! Privilege drop on FreeBSD: the portable Unix ID switch (`sys::unix_privs`), then
//! no-new-privs (procctl(2) `PROC_NO_NEW_PRIVS_CTL`, FreeBSD 14 and later; older kernels say
//! EINVAL and are left as they are).
//!
//! What needs root later is opened before the drop and kept: spare /dev/bpf descriptors for
//! captures opened later (`capture::reserve_for_reopen`) and a read-only /dev/pf for pf's
//! timeouts (`firewall::open_before_drop`). BPF and PF_ROUTE check privilege at
//! `open()`/`socket()` time only. Capsicum is discussed in scripts/README-freebsd.md.

use std::io;

use crate::sys::syscall::syscall;
use crate::sys::unix_privs;

pub use crate::sys::unix_privs::user_exists;

/// Becomes `user` for good (see `unix_privs::drop_privileges`), then [`harden`]s.
pub fn drop_privileges(user: &str) -> io::Result<()> {
    unix_privs::drop_privileges(user)?;
    harden()
}

/// Sets no-new-privs: set-user-ID binaries run by this process gain nothing.
pub fn harden() -> io::Result<()> {
    let mut enable: libc::c_int = libc::PROC_NO_NEW_PRIVS_ENABLE;
    // SAFETY: procctl on this process (P_PID 0 = self) with a pointer to one int that outlives
    // the call.
    match syscall!(procctl(
        libc::P_PID,
        0,
        libc::PROC_NO_NEW_PRIVS_CTL,
        (&mut enable as *mut libc::c_int).cast()
    )) {
        Ok(_) => Ok(()),
        Err(e) if e.raw_os_error() == Some(libc::EINVAL) => Ok(()),
        Err(e) => Err(io::Error::new(
            e.kind(),
            format!("procctl(PROC_NO_NEW_PRIVS_CTL): {e}"),
        )),
    }
}
