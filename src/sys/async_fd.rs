//! Registers the kernel handles sys hands out with tokio's reactor.
//!
//! `AsyncFd::register` is unsafe because the reactor must never see a descriptor closed or
//! swapped under it. That holds for exactly the types below, which own their descriptor for
//! their whole life and never replace it, so the registration lives here, next to them.

use std::io;

use tokio::io::unix::AsyncFd;

use super::capture::Capture;
use super::link::LinkMonitor;

/// A capture, readable through tokio.
pub fn capture(capture: Capture) -> io::Result<AsyncFd<Capture>> {
    // SAFETY: a Capture owns its descriptor from open to drop and never replaces it.
    unsafe { AsyncFd::register(capture) }.map_err(io::Error::from)
}

/// A link monitor, readable through tokio.
pub fn link_monitor(monitor: LinkMonitor) -> io::Result<AsyncFd<LinkMonitor>> {
    // SAFETY: a LinkMonitor owns its descriptor from open to drop and never replaces it.
    unsafe { AsyncFd::register(monitor) }.map_err(io::Error::from)
}
