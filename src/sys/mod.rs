//! The only module that knows an operating system, and the only one allowed `unsafe` (each
//! file that needs it says so at its `mod` line; everything else here forbids it).
//!
//! Each OS directory (`linux/`, `freebsd/`) provides the same items with the same signatures;
//! `fallback.rs` provides them for any other OS, returning `ErrorKind::Unsupported`. Nothing
//! outside `sys` names an OS. Required items:
//!
//! - `capture::Capture` — a live capture on one interface with the shared classic-BPF mail/DNS
//!   filter ([`bpf_program`]) attached before it is bound:
//!   `Capture::open(interface: &str, options: &CaptureOptions) -> io::Result<Capture>`;
//!   `Capture: AsRawFd` (non-blocking, for the daemon's poller);
//!   `Capture::read(&mut self, on_frame: &mut dyn FnMut(Frame<'_>)) -> io::Result<usize>` hands
//!   every frame that is ready to `on_frame` and returns how many (0 when none is ready);
//!   `Capture::stats(&self) -> io::Result<CaptureStats>` (totals since open).
//!   When the interface is removed, `read` fails with `ErrorKind::NotFound` (see
//!   [`interface_gone`]); drop the capture and open it again when the interface is back. An
//!   interface that is only brought down is not an error: the capture resumes when it comes up.
//!   An interface removed while it was down may give no error at all, so the daemon also acts
//!   on `LinkChange::InterfaceGone` from the link monitor.
//!   `capture::reserve_for_reopen(count: usize) -> io::Result<()>`, called as root before the
//!   privilege drop, makes sure `Capture::open` still works after it (FreeBSD: spare /dev/bpf
//!   descriptors; Linux: nothing, the drop keeps CAP_NET_RAW).
//! - `link::LinkMonitor` — link, address and default-route changes:
//!   `LinkMonitor::open() -> io::Result<LinkMonitor>` (subscribes, then takes a first snapshot
//!   as the baseline); `LinkMonitor: AsRawFd` (non-blocking);
//!   `LinkMonitor::read(&mut self) -> io::Result<LinkRead>` returns the changes that are ready,
//!   or says a resync is needed (the kernel dropped messages);
//!   `LinkMonitor::snapshot(&mut self) -> io::Result<LinkSnapshot>` dumps the current state and
//!   makes it the baseline that later `read`s compare against (changes are real transitions
//!   relative to the last known state, never repeats).
//! - `firewall::tcp_established_timeout() -> Option<FirewallTimeouts>` — how long the
//!   firewall keeps an idle established TCP state (pf or conntrack); `None` when unknown.
//!   `firewall::open_before_drop()`, called as root before the privilege drop, opens what
//!   reading it needs later (FreeBSD: /dev/pf read-only; Linux: nothing).
//! - `privs::drop_privileges(user: &str) -> io::Result<()>` (the portable ID switch in
//!   `unix_privs`, with each OS's hardening around it), `privs::harden() -> io::Result<()>`
//!   (no-new-privs and what else applies without a drop, for `user = ""`) and
//!   `privs::user_exists(user: &str) -> bool`.
//!
//! Portable pieces (no OS knowledge, compiled everywhere):
//!
//! - [`paths`]: `DEFAULT_CONFIG`, `DEFAULT_SOCKET`, `DEFAULT_STATE_DIR`, `DEFAULT_SYSLOG_SOCKET`
//!   — the one place outside the per-OS directories that picks values by OS.
//! - [`bpf_program`]: the shared classic BPF program, with the snap length patched in.
//! - [`discover`]: WAN and LAN interfaces from a [`LinkSnapshot`] when the config names none.
//! - [`dpinger`]: reads dpinger's gateway status sockets into `GatewaySample`s.
//! - [`clock`]: the wall clock and the local time zone (never read by the engine).

// tokio's `AsyncFd::register`, sound only for a descriptor that is never closed under it.
#[allow(unsafe_code)]
pub(crate) mod async_fd;
#[forbid(unsafe_code)]
mod bpf_program;
/// Pure parsers for FreeBSD kernel formats (routing messages, BPF buffers, pfctl text),
/// compiled everywhere so they are tested everywhere.
// Only FreeBSD calls these parsers; elsewhere they are compiled for their tests alone.
#[cfg_attr(not(target_os = "freebsd"), allow(dead_code))]
#[forbid(unsafe_code)]
mod bsd;
#[forbid(unsafe_code)]
pub(crate) mod clock;
#[forbid(unsafe_code)]
pub mod discover;
#[forbid(unsafe_code)]
pub(crate) mod dpinger;
#[forbid(unsafe_code)]
pub(crate) mod paths;
#[cfg(any(target_os = "linux", target_os = "freebsd"))]
mod syscall;
#[cfg(unix)]
mod unix_privs;

#[cfg(target_os = "linux")]
mod linux;
#[cfg(target_os = "linux")]
pub use linux::{capture, firewall, link, privs};

#[cfg(target_os = "freebsd")]
mod freebsd;
#[cfg(target_os = "freebsd")]
pub use freebsd::{capture, firewall, link, privs};

// Compiled in tests everywhere too, so its signatures keep matching the contract.
#[cfg(any(test, not(any(target_os = "linux", target_os = "freebsd"))))]
#[cfg_attr(test, allow(dead_code))]
#[forbid(unsafe_code)]
mod fallback;
#[cfg(not(any(target_os = "linux", target_os = "freebsd")))]
pub use fallback::{capture, firewall, link, privs};

use std::io;
use std::net::IpAddr;

use serde::{Deserialize, Serialize};

pub use crate::observe::observation::LinkChange;

/// What a capture is asked for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CaptureOptions {
    /// Bytes kept of each frame.
    pub snap_len: u32,
    /// Kernel buffer size in bytes.
    pub buffer_size: u32,
}

impl Default for CaptureOptions {
    fn default() -> Self {
        Self {
            snap_len: 2048,
            buffer_size: 4 << 20,
        }
    }
}

/// Kernel counters for one capture, totals since it was opened.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CaptureStats {
    /// Frames that passed the filter (on Linux this includes the dropped ones).
    pub received: u64,
    /// Frames that passed the filter but were lost because the buffer was full.
    pub dropped: u64,
}

/// True when a capture error means its interface no longer exists (Linux: the socket reported
/// `ENETDOWN` and the interface name no longer resolves; FreeBSD: BPF's `ENXIO`). Reopen the
/// capture once the interface is back.
pub fn interface_gone(err: &io::Error) -> bool {
    err.kind() == io::ErrorKind::NotFound
}

/// One interface as the kernel describes it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct InterfaceInfo {
    pub name: String,
    pub index: u32,
    /// Administratively up.
    pub up: bool,
    /// Carrier present / operationally up.
    pub running: bool,
    pub loopback: bool,
    /// Addresses with prefix length.
    pub addresses: Vec<(IpAddr, u8)>,
}

/// A default route (0.0.0.0/0 or ::/0).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct DefaultRoute {
    pub interface: Option<String>,
    pub gateway: Option<IpAddr>,
}

/// The link state as a whole, from a dump.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct LinkSnapshot {
    pub interfaces: Vec<InterfaceInfo>,
    pub default_routes: Vec<DefaultRoute>,
}

/// The result of reading the link monitor.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LinkRead {
    Changes(Vec<LinkChange>),
    /// Messages were lost (ENOBUFS, or a routing socket overflow): take a new snapshot.
    ResyncNeeded,
}
