//! Dropping root once /dev/bpf and the routing socket are open.
//!
//! Open descriptors keep working after the drop: BPF and PF_ROUTE check privilege at
//! `open()`/`socket()` time only. Reopening a capture after its interface comes back (BPF
//! returns ENXIO once the interface is gone) therefore needs a restart, or running as root.
//!
//! This is the same portable nix code as `sys::unix_privs` on the Linux side; once both are
//! merged this module can re-export that one.

use std::io;

use nix::unistd::{self, Gid, Uid, User};

/// True when `user` names an account in the password database.
pub fn user_exists(user: &str) -> bool {
    matches!(User::from_name(user), Ok(Some(_)))
}

/// Becomes `user` for good (groups, then gid, then uid) and checks root cannot be regained.
/// Already running as that user is fine; as anyone else without root it is an error.
pub fn drop_privileges(user: &str) -> io::Result<()> {
    let account = User::from_name(user)
        .map_err(|e| io::Error::other(format!("looking up user {user}: {e}")))?
        .ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::NotFound,
                format!("user {user} does not exist"),
            )
        })?;
    if !unistd::geteuid().is_root() {
        if unistd::geteuid() == account.uid && unistd::getuid() == account.uid {
            return Ok(());
        }
        return Err(io::Error::new(
            io::ErrorKind::PermissionDenied,
            format!("cannot become user {user}: not running as root"),
        ));
    }
    let context = |what: &str, e: nix::Error| {
        io::Error::new(
            io::Error::from(e).kind(),
            format!("{what} for user {user}: {e}"),
        )
    };
    unistd::setgroups(&[account.gid]).map_err(|e| context("setgroups", e))?;
    unistd::setgid(account.gid).map_err(|e| context("setgid", e))?;
    unistd::setuid(account.uid).map_err(|e| context("setuid", e))?;
    verify_dropped(user, account.uid, account.gid)
}

/// Every ID must now be the user's, the user must not be root, and `setuid(0)` must fail.
fn verify_dropped(user: &str, uid: Uid, gid: Gid) -> io::Result<()> {
    let ids_ok = unistd::getuid() == uid
        && unistd::geteuid() == uid
        && unistd::getgid() == gid
        && unistd::getegid() == gid;
    if uid.is_root() || !ids_ok || unistd::setuid(Uid::from_raw(0)).is_ok() {
        return Err(io::Error::new(
            io::ErrorKind::PermissionDenied,
            format!("dropping privileges to user {user} did not take: root is still reachable"),
        ));
    }
    Ok(())
}
