//! pf's idle timeout for established TCP.
//!
//! Read with the `DIOCGETTIMEOUT` ioctl (pfvar.h; pf.h's `PFTM_*` indices) on a read-only
//! descriptor to /dev/pf opened as root before the privilege drop and kept: /dev/pf is
//! root-only, so after the drop neither a new open nor `pfctl -st` works. Without that
//! descriptor (pf not loaded at start, or the daemon never was root) `pfctl -st` is the
//! fallback, as root only. A missing pfctl, pf not loaded, a non-zero exit, a hang past
//! [`PFCTL_DEADLINE`] or output without `tcp.established` all mean "unknown": `None`.

use std::io::Read;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::thread;
use std::time::{Duration, Instant};

use crate::observe::observation::FirewallTimeouts;
use crate::sys::bsd::ioctl;
use crate::sys::bsd::pfctl::{self, PfTimeouts, TimeoutUnit};
use crate::sys::syscall::syscall;

/// The pf control device.
const PF_DEVICE: &[u8] = b"/dev/pf\0";
/// The descriptor kept from [`open_before_drop`]; `None` when pf could not be opened.
static PF: OnceLock<Option<OwnedFd>> = OnceLock::new();

/// `struct pfioc_tm` (pfvar.h).
#[repr(C)]
struct PfiocTm {
    timeout: libc::c_int,
    seconds: libc::c_int,
}

/// Opens /dev/pf read-only and keeps it for [`tcp_established_timeout`]; call as root before
/// the privilege drop. Not loaded or not allowed: later reads fall back to pfctl.
pub fn open_before_drop() {
    PF.get_or_init(|| {
        // SAFETY: a NUL-terminated path and plain flags.
        let fd = syscall!(open(
            PF_DEVICE.as_ptr().cast(),
            libc::O_RDONLY | libc::O_CLOEXEC
        ))
        .ok()?;
        // SAFETY: `open` just returned this descriptor and nothing else owns it.
        Some(unsafe { OwnedFd::from_raw_fd(fd) })
    });
}

/// One pf timeout by its `PFTM_*` index.
fn get_timeout(fd: &OwnedFd, index: i32) -> Option<u64> {
    let mut tm = PfiocTm {
        timeout: index,
        seconds: 0,
    };
    // SAFETY: DIOCGETTIMEOUT reads `timeout` and writes `seconds` of one struct pfioc_tm, which
    // `tm` is, and it outlives the call.
    syscall!(ioctl(
        fd.as_raw_fd(),
        ioctl::DIOCGETTIMEOUT as libc::c_ulong,
        &mut tm as *mut PfiocTm
    ))
    .ok()?;
    u64::try_from(tm.seconds).ok()
}

/// pf's `tcp.established` timeout, or `None` when it cannot be read.
pub fn tcp_established_timeout() -> Option<FirewallTimeouts> {
    if let Some(fd) = PF.get().and_then(Option::as_ref) {
        let mut timeouts = PfTimeouts::default();
        let established = get_timeout(fd, ioctl::PFTM_TCP_ESTABLISHED)?;
        timeouts.entries.push((
            "tcp.established".to_string(),
            established,
            TimeoutUnit::Seconds,
        ));
        for (name, index) in [
            ("adaptive.start", ioctl::PFTM_ADAPTIVE_START),
            ("adaptive.end", ioctl::PFTM_ADAPTIVE_END),
        ] {
            if let Some(states) = get_timeout(fd, index) {
                timeouts
                    .entries
                    .push((name.to_string(), states, TimeoutUnit::States));
            }
        }
        return describe(&timeouts, "pf timeout tcp.established");
    }
    let text = run_pfctl()?;
    describe(&pfctl::parse_timeouts(&text), "pfctl -st tcp.established")
}

fn describe(timeouts: &PfTimeouts, what: &str) -> Option<FirewallTimeouts> {
    let tcp_established = timeouts.tcp_established()?;
    let mut source = what.to_string();
    if let Some(level) = timeouts.optimization_hint() {
        source.push_str(&format!(" (as set optimization {level})"));
    }
    if timeouts.adaptive() {
        source.push_str(", shortened by adaptive timeouts when the state table fills");
    }
    Some(FirewallTimeouts {
        tcp_established,
        source,
    })
}

const PFCTL: &str = "/sbin/pfctl";
/// pfctl answers from one ioctl per timeout; anything slower is stuck.
const PFCTL_DEADLINE: Duration = Duration::from_secs(5);
/// `pfctl -st` prints about 25 short lines; more than this is not its output.
const MAX_OUTPUT: u64 = 64 * 1024;

/// Runs `pfctl -st` with a deadline; its standard output, or `None`.
fn run_pfctl() -> Option<String> {
    let mut child = Command::new(PFCTL)
        .arg("-st")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .ok()?;
    let started = Instant::now();
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if started.elapsed() < PFCTL_DEADLINE => {
                thread::sleep(Duration::from_millis(20))
            }
            _ => {
                // Our own child: kill and reap it so no zombie is left.
                let _ = child.kill();
                let _ = child.wait();
                return None;
            }
        }
    };
    if !status.success() {
        return None;
    }
    let mut text = String::new();
    child
        .stdout
        .take()?
        .take(MAX_OUTPUT)
        .read_to_string(&mut text)
        .ok()?;
    Some(text)
}
