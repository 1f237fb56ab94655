//! Dropping root after the capture and link sockets are open (portable Unix code, shared by
//! every OS directory; each OS wraps it with its own hardening and says what it keeps).
//!
//! An open socket or device keeps working after the drop: permission is checked at
//! `socket()`/`open()` time, not per read.

use std::io;

use nix::unistd::{self, Gid, Uid, User};

/// True when `user` names an account in the password database.
pub fn user_exists(user: &str) -> bool {
    matches!(User::from_name(user), Ok(Some(_)))
}

/// The account named `user`; `NotFound` naming it when there is none.
pub fn lookup(user: &str) -> io::Result<User> {
    User::from_name(user)
        .map_err(|e| io::Error::other(format!("looking up user {user}: {e}")))?
        .ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::NotFound,
                format!("user {user} does not exist"),
            )
        })
}

/// Becomes `user` for good: supplementary groups reduced to the user's primary group, then the
/// group, then the user (real, effective and saved IDs). Verifies afterwards that root cannot be
/// regained. Running unprivileged already as that user is fine; as anyone else it is an error.
#[cfg_attr(target_os = "linux", allow(dead_code))]
pub fn drop_privileges(user: &str) -> io::Result<()> {
    let account = lookup(user)?;
    if !unistd::geteuid().is_root() {
        return check_already(user, &account);
    }
    switch_ids(user, &account)?;
    verify_dropped(user, account.uid, account.gid)
}

/// Not root: fine only when already running as `account`.
pub fn check_already(user: &str, account: &User) -> io::Result<()> {
    if unistd::geteuid() == account.uid && unistd::getuid() == account.uid {
        return Ok(());
    }
    Err(io::Error::new(
        io::ErrorKind::PermissionDenied,
        format!("cannot become user {user}: not running as root"),
    ))
}

/// setgroups, setgid, setuid, in that order (each needs the privilege the next one drops).
pub fn switch_ids(user: &str, account: &User) -> io::Result<()> {
    let context = |what: &str, e: nix::Error| {
        io::Error::new(
            io::Error::from(e).kind(),
            format!("{what} for user {user}: {e}"),
        )
    };
    unistd::setgroups(&[account.gid]).map_err(|e| context("setgroups", e))?;
    unistd::setgid(account.gid).map_err(|e| context("setgid", e))?;
    unistd::setuid(account.uid).map_err(|e| context("setuid", e))
}

/// After the switch every ID must be the user's and `setuid(0)` must fail; a target account
/// that is itself root (uid 0) is refused rather than "dropped" to.
pub fn verify_dropped(user: &str, uid: Uid, gid: Gid) -> io::Result<()> {
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

#[cfg(test)]
// fork(2): the drop changes the whole process, so it runs in a child.
#[allow(unsafe_code)]
mod tests {
    use super::*;

    #[test]
    fn root_exists_and_a_made_up_name_does_not() {
        assert!(user_exists("root"));
        assert!(!user_exists("mailpulse-no-such-user-7f3a"));
    }

    #[test]
    fn missing_user_is_named_in_the_error() {
        let err = drop_privileges("mailpulse-no-such-user-7f3a").expect_err("must fail");
        assert_eq!(err.kind(), io::ErrorKind::NotFound);
        assert!(err.to_string().contains("mailpulse-no-such-user-7f3a"));
    }

    /// Dropping for real in a forked child (the test process must stay root).
    #[test]
    fn drop_to_nobody_cannot_regain_root() {
        assert!(
            unistd::geteuid().is_root(),
            "this test needs root (run as root)"
        );
        assert!(user_exists("nobody"), "this test needs the account nobody");
        // setuid() changes the whole process, so the drop runs in a forked child that reports
        // through its exit status.
        match fork_and_wait() {
            ForkOutcome::Child => {
                let ok = drop_privileges("nobody").is_ok()
                    && unistd::setuid(Uid::from_raw(0)).is_err()
                    && !unistd::geteuid().is_root();
                std::process::exit(if ok { 0 } else { 1 });
            }
            ForkOutcome::Parent(status) => {
                assert_eq!(status, 0, "child could not drop or regained root")
            }
        }
    }

    enum ForkOutcome {
        Child,
        Parent(i32),
    }

    fn fork_and_wait() -> ForkOutcome {
        use nix::sys::wait::{waitpid, WaitStatus};
        use nix::unistd::{fork, ForkResult};
        // SAFETY: the child only looks up a user (glibc's fork resets the malloc locks, and the
        // lookup reads /etc/passwd), calls setgroups/setgid/setuid and exits without returning
        // to the test harness.
        match unsafe { fork() }.expect("fork") {
            ForkResult::Child => ForkOutcome::Child,
            ForkResult::Parent { child } => match waitpid(child, None).expect("waitpid") {
                WaitStatus::Exited(_, code) => ForkOutcome::Parent(code),
                other => panic!("child ended as {other:?}"),
            },
        }
    }
}
