//! The only module that knows an operating system, and the only one allowed `unsafe`.
//!
//! Each OS directory (`linux/`, `freebsd/`) provides the same items with the same signatures;
//! `fallback.rs` provides them for any other OS, returning `ErrorKind::Unsupported`. Nothing
//! outside `sys` names an OS. Required items:
//!
//! - `capture::Capture` — a live capture on one interface with the shared classic-BPF mail/DNS
//!   filter attached before it is bound:
//!   `Capture::open(interface: &str, options: &CaptureOptions) -> io::Result<Capture>`;
//!   `Capture: AsRawFd` (non-blocking, for the daemon's poller);
//!   `Capture::read(&mut self, on_frame: &mut dyn FnMut(Frame<'_>)) -> io::Result<usize>` hands
//!   every frame that is ready to `on_frame` and returns how many (0 when none is ready);
//!   `Capture::stats(&self) -> io::Result<CaptureStats>`.
//! - `link::LinkMonitor` — link, address and default-route changes:
//!   `LinkMonitor::open() -> io::Result<LinkMonitor>`; `LinkMonitor: AsRawFd` (non-blocking);
//!   `LinkMonitor::read(&mut self) -> io::Result<LinkRead>` returns the changes that are ready,
//!   or says a resync is needed (the kernel dropped messages);
//!   `LinkMonitor::snapshot(&mut self) -> io::Result<LinkSnapshot>` dumps the current state.
//! - `firewall::tcp_established_timeout() -> Option<FirewallTimeouts>` — how long the
//!   firewall keeps an idle established TCP state (pf or conntrack); `None` when unknown.
//! - `privs::drop_privileges(user: &str) -> io::Result<()>` and
//!   `privs::user_exists(user: &str) -> bool`.
//! - `paths::{DEFAULT_CONFIG, DEFAULT_SOCKET, DEFAULT_STATE_DIR}` — the one place that picks
//!   default paths by OS.
//!
//! Portable pieces (no OS knowledge) live here too: `dpinger` (gateway sockets) and the shared
//! BPF program.
#![allow(unsafe_code)]

use std::net::IpAddr;

use serde::Serialize;

pub use crate::diagnose::observation::LinkChange;

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

/// Kernel counters for one capture.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct CaptureStats {
    pub received: u64,
    pub dropped: u64,
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

/// Pure parsers for FreeBSD kernel formats (routing messages, BPF buffers, pfctl text),
/// compiled everywhere so they are tested everywhere.
pub mod bsd;

pub mod bpf_program;

#[cfg(target_os = "freebsd")]
mod freebsd;
#[cfg(target_os = "freebsd")]
pub use freebsd::{capture, firewall, link, privs};
