//! Privilege drop on Linux: the portable Unix ID switch (`unix_privs`), around it the Linux
//! hardening.
//!
//! What is kept, and why: CAP_NET_RAW alone, in the permitted and effective sets. An open
//! AF_PACKET socket keeps working without it (the check is at `socket()`), but a LAN interface
//! that is deleted and created again, or one added by a reload, needs a new socket. Keeping the
//! one capability is narrower than a root helper process, and unlike a fixed pool of
//! descriptors opened in advance it never runs out. Everything else goes: the bounding set is
//! emptied (nothing can be regained through exec), the ambient set is cleared, and
//! no-new-privs is set. conntrack's timeouts need nothing: /proc/sys/net/netfilter is
//! readable by every user.

use std::io;

use crate::sys::syscall::syscall;
use crate::sys::unix_privs;

pub use crate::sys::unix_privs::user_exists;

/// CAP_NET_RAW (linux/capability.h).
const CAP_NET_RAW: u32 = 13;
/// `_LINUX_CAPABILITY_VERSION_3`: two 32-bit words per set.
const CAPABILITY_VERSION_3: u32 = 0x2008_0522;
/// Highest capability number tried when emptying the bounding set; PR_CAPBSET_DROP answers
/// EINVAL past the kernel's last one (/proc/sys/kernel/cap_last_cap).
const CAP_TRY_LAST: libc::c_ulong = 63;

/// `struct __user_cap_header_struct`.
#[repr(C)]
struct CapHeader {
    version: u32,
    pid: libc::c_int,
}

/// `struct __user_cap_data_struct`.
#[repr(C)]
#[derive(Clone, Copy, Default)]
struct CapData {
    effective: u32,
    permitted: u32,
    inheritable: u32,
}

/// Becomes `user` for good, keeping CAP_NET_RAW only (see the module doc). As root: empties the
/// bounding set, switches the IDs with the capabilities kept across `setuid`, then narrows them
/// to CAP_NET_RAW. Already running as `user` (systemd's `User=` with ambient capabilities):
/// only the hardening. Verifies that root cannot be regained.
pub fn drop_privileges(user: &str) -> io::Result<()> {
    let account = unix_privs::lookup(user)?;
    if !nix::unistd::geteuid().is_root() {
        unix_privs::check_already(user, &account)?;
        return harden();
    }
    empty_bounding_set()?;
    prctl(libc::PR_SET_KEEPCAPS, 1, "PR_SET_KEEPCAPS")?;
    unix_privs::switch_ids(user, &account)?;
    prctl(libc::PR_SET_KEEPCAPS, 0, "PR_SET_KEEPCAPS")?;
    set_capabilities(1 << CAP_NET_RAW)?;
    harden()?;
    unix_privs::verify_dropped(user, account.uid, account.gid)
}

/// No-new-privs and an empty ambient set: what applies whether or not the IDs change. The
/// bounding set is left alone here: for a daemon kept as root on purpose (`user = ""`) it is
/// the owner's call, and under systemd the unit's `CapabilityBoundingSet` sets it.
pub fn harden() -> io::Result<()> {
    syscall_prctl(
        libc::PR_CAP_AMBIENT,
        libc::PR_CAP_AMBIENT_CLEAR_ALL as libc::c_ulong,
    )
    .map_err(|e| io::Error::new(e.kind(), format!("clearing the ambient capabilities: {e}")))?;
    prctl(libc::PR_SET_NO_NEW_PRIVS, 1, "PR_SET_NO_NEW_PRIVS")
}

fn empty_bounding_set() -> io::Result<()> {
    for cap in 0..=CAP_TRY_LAST {
        match syscall_prctl(libc::PR_CAPBSET_DROP, cap) {
            Ok(()) => {}
            Err(e) if e.raw_os_error() == Some(libc::EINVAL) => break,
            Err(e) => return Err(io::Error::new(e.kind(), format!("PR_CAPBSET_DROP: {e}"))),
        }
    }
    Ok(())
}

fn prctl(option: libc::c_int, arg: libc::c_ulong, what: &str) -> io::Result<()> {
    syscall_prctl(option, arg).map_err(|e| io::Error::new(e.kind(), format!("{what}: {e}")))
}

fn syscall_prctl(option: libc::c_int, arg: libc::c_ulong) -> io::Result<()> {
    // SAFETY: prctl with integer arguments only; the unused ones are zero as the kernel wants.
    syscall!(prctl(
        option,
        arg,
        0 as libc::c_ulong,
        0 as libc::c_ulong,
        0 as libc::c_ulong
    ))
    .map(|_| ())
}

/// Sets the permitted and effective sets to `mask` (capabilities 0-31), inheritable empty.
fn set_capabilities(mask: u32) -> io::Result<()> {
    let mut header = CapHeader {
        version: CAPABILITY_VERSION_3,
        pid: 0,
    };
    let data = [
        CapData {
            effective: mask,
            permitted: mask,
            inheritable: 0,
        },
        CapData::default(),
    ];
    // SAFETY: capset(2) reads one header and, for version 3, two data structs, which `header`
    // and `data` are; both outlive the call.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_capset,
            &mut header as *mut CapHeader,
            data.as_ptr(),
        )
    };
    if rc == -1 {
        let e = io::Error::last_os_error();
        return Err(io::Error::new(e.kind(), format!("capset: {e}")));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use nix::unistd::{self, Uid};

    /// `CapEff`, `CapBnd`, `NoNewPrivs` of this process, as /proc shows them.
    fn proc_status(field: &str) -> String {
        let text = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
        text.lines()
            .find_map(|l| l.strip_prefix(&format!("{field}:")))
            .map(|v| v.trim().to_string())
            .unwrap_or_default()
    }

    /// In a forked child (the test process must stay root): after the drop only CAP_NET_RAW is
    /// effective, the bounding set is empty, no-new-privs is on, root is gone for good, and a
    /// packet socket can still be opened.
    #[test]
    fn drop_keeps_net_raw_only_and_hardens() {
        assert!(unistd::geteuid().is_root(), "this test needs root");
        assert!(user_exists("nobody"), "this test needs the account nobody");
        // SAFETY: the child only looks up a user, makes prctl/capset/setuid calls, reads /proc
        // and exits without returning to the test harness.
        match unsafe { unistd::fork() }.expect("fork") {
            unistd::ForkResult::Child => {
                let dropped = drop_privileges("nobody");
                let eff = proc_status("CapEff");
                let bnd = proc_status("CapBnd");
                let nnp = proc_status("NoNewPrivs");
                // SAFETY: socket(2) with constant arguments; the descriptor is closed at exit.
                let raw = unsafe { libc::socket(libc::AF_PACKET, libc::SOCK_RAW, 0) };
                let ok = dropped.is_ok()
                    && eff == "0000000000002000"
                    && bnd == "0000000000000000"
                    && nnp == "1"
                    && raw >= 0
                    && unistd::setuid(Uid::from_raw(0)).is_err();
                if !ok {
                    // Not eprintln!: the harness's capture of it does not survive the fork.
                    let _ = std::io::Write::write_all(
                        &mut std::io::stderr(),
                        format!("dropped {dropped:?} CapEff {eff} CapBnd {bnd} NoNewPrivs {nnp} packet socket {raw}\n").as_bytes(),
                    );
                }
                std::process::exit(if ok { 0 } else { 1 });
            }
            unistd::ForkResult::Parent { child } => {
                let status = nix::sys::wait::waitpid(child, None).expect("waitpid");
                assert_eq!(
                    status,
                    nix::sys::wait::WaitStatus::Exited(child, 0),
                    "the child's capabilities after the drop were not as expected"
                );
            }
        }
    }
}
