//! Link, address and default-route changes from the FreeBSD routing socket.
//!
//! `socket(PF_ROUTE, SOCK_RAW, 0)`: protocol 0 (AF_UNSPEC), because RTM_IFINFO and
//! RTM_IFANNOUNCE are dispatched with AF_UNSPEC and a socket opened for AF_INET never sees them
//! (route(4)). Each `recv` returns one message; the bytes go to the pure
//! parser in `sys::bsd::route` and the edge detector in `sys::bsd::link_tracker`. `snapshot`
//! reads the NET_RT_IFLIST and NET_RT_DUMP sysctls, parsed by the same code.
//!
//! **Lost messages.** FreeBSD drops routing messages silently when the socket buffer is full
//! (raw_usrreq.c: "should notify about lost packet"); ENOBUFS is handled but rarely seen. The
//! receive buffer is raised to [`RCVBUF`], and the daemon must call `snapshot()` periodically
//! (and after every `LinkRead::ResyncNeeded`) to catch up on whatever was lost.
//!
//! FIBs: messages for other FIBs are filtered by the kernel per socket (`SO_SETFIB`); this
//! monitor watches the process's FIB (normally 0), where OPNsense and pfSense keep the WAN.

use std::ffi::CStr;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

use super::with_context;
use crate::sys::bsd::link_tracker::{self, LinkTracker};
use crate::sys::bsd::route;
use crate::sys::syscall::syscall;
use crate::sys::{LinkRead, LinkSnapshot};

/// Receive buffer for the routing socket: room for bursts (a PPPoE reconnect sends dozens).
const RCVBUF: libc::c_int = 1 << 20;
/// Larger than any single routing message (`rtm_msglen` is a u16).
const MSG_BUF: usize = 1 << 16;
/// Messages handled per `read` call once some changes are found, so a storm cannot starve the
/// other tasks; the socket stays readable and the poller calls again.
const MAX_MESSAGES_PER_READ: usize = 1024;
/// A sysctl dump larger than this is refused rather than allocated.
const MAX_DUMP: usize = 64 << 20;

/// A non-blocking routing socket and the cache that turns its messages into edges.
#[derive(Debug)]
pub struct LinkMonitor {
    fd: OwnedFd,
    tracker: LinkTracker,
    buf: Vec<u8>,
}

impl LinkMonitor {
    /// Opens the routing socket and seeds the cache from a dump, so the first message is
    /// compared against the current state.
    pub fn open() -> io::Result<LinkMonitor> {
        // SAFETY: socket(2) with constant arguments; the result is checked by `syscall!`.
        let fd = syscall!(socket(
            libc::PF_ROUTE,
            libc::SOCK_RAW | libc::SOCK_CLOEXEC | libc::SOCK_NONBLOCK,
            0
        ))
        .map_err(|e| with_context(e, "opening the routing socket (PF_ROUTE)"))?;
        // SAFETY: `socket` just returned this descriptor and nothing else owns it.
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        let size = RCVBUF;
        // SAFETY: a valid socket, and a pointer to a live c_int with its exact size.
        let raised = syscall!(setsockopt(
            fd.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_RCVBUF,
            (&size as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t
        ));
        // A smaller buffer (kern.ipc.maxsockbuf) still works; the periodic resync covers it.
        let _ = raised;
        let mut monitor = LinkMonitor {
            fd,
            tracker: LinkTracker::new(),
            buf: vec![0; MSG_BUF],
        };
        monitor.snapshot()?;
        Ok(monitor)
    }

    /// The changes in every message that is ready (none when nothing is), or `ResyncNeeded`
    /// when the kernel reported lost messages.
    pub fn read(&mut self) -> io::Result<LinkRead> {
        let mut changes = Vec::new();
        let mut handled = 0usize;
        // The caller treats "no changes" as "drained" and waits for the next readiness edge,
        // so the cap applies only once there is something to return.
        while handled < MAX_MESSAGES_PER_READ || changes.is_empty() {
            handled += 1;
            // SAFETY: `buf` is a live, writable allocation of `buf.len()` bytes.
            let n = match syscall!(recv(
                self.fd.as_raw_fd(),
                self.buf.as_mut_ptr().cast(),
                self.buf.len(),
                0
            )) {
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) if e.raw_os_error() == Some(libc::ENOBUFS) => {
                    return Ok(LinkRead::ResyncNeeded)
                }
                Err(e) => return Err(with_context(e, "reading the routing socket")),
            };
            let len = usize::try_from(n).unwrap_or(0).min(self.buf.len());
            let bytes = self.buf.get(..len).unwrap_or_default();
            // A malformed message is skipped: it cannot describe a change we can trust.
            for message in route::messages(bytes).flatten() {
                changes.extend(self.tracker.apply(&message, &index_to_name));
            }
        }
        Ok(LinkRead::Changes(changes))
    }

    /// Interfaces, addresses and default routes as they are now; resets the edge cache.
    pub fn snapshot(&mut self) -> io::Result<LinkSnapshot> {
        let iflist = route_sysctl(libc::AF_UNSPEC, libc::NET_RT_IFLIST)
            .map_err(|e| with_context(e, "sysctl NET_RT_IFLIST"))?;
        let v4 = route_sysctl(libc::AF_INET, libc::NET_RT_DUMP)
            .map_err(|e| with_context(e, "sysctl NET_RT_DUMP (IPv4)"))?;
        // A kernel without INET6 answers EAFNOSUPPORT/ENOENT: no IPv6 routes, not an error.
        let v6 = route_sysctl(libc::AF_INET6, libc::NET_RT_DUMP).unwrap_or_default();
        Ok(link_tracker::snapshot(
            &mut self.tracker,
            &iflist,
            &[&v4, &v6],
            &index_to_name,
        ))
    }
}

impl AsRawFd for LinkMonitor {
    fn as_raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }
}

/// `sysctl {CTL_NET, PF_ROUTE, 0, family, what, 0}` (rtsock.c `sysctl_rtsock`): the size
/// query, then the read, retried while the table grows in between.
fn route_sysctl(family: libc::c_int, what: libc::c_int) -> io::Result<Vec<u8>> {
    let mib = [libc::CTL_NET, libc::PF_ROUTE, 0, family, what, 0];
    for _ in 0..8 {
        let mut size: libc::size_t = 0;
        // SAFETY: a 6-element MIB, a null old buffer to ask for the size, no new value.
        syscall!(sysctl(
            mib.as_ptr(),
            mib.len() as libc::c_uint,
            std::ptr::null_mut(),
            &mut size,
            std::ptr::null(),
            0
        ))?;
        // Headroom for entries added between the two calls.
        let want = size.saturating_add(size / 8).saturating_add(4096);
        if want > MAX_DUMP {
            return Err(io::Error::other(format!(
                "routing table dump of {size} bytes exceeds {MAX_DUMP}"
            )));
        }
        let mut buf = vec![0u8; want];
        let mut len: libc::size_t = buf.len();
        // SAFETY: `buf` is writable for `len` bytes; the kernel writes at most that and
        // stores the length it wrote in `len`.
        match syscall!(sysctl(
            mib.as_ptr(),
            mib.len() as libc::c_uint,
            buf.as_mut_ptr().cast(),
            &mut len,
            std::ptr::null(),
            0
        )) {
            Ok(_) => {
                buf.truncate(len.min(want));
                return Ok(buf);
            }
            Err(e) if e.raw_os_error() == Some(libc::ENOMEM) => continue,
            Err(e) => return Err(e),
        }
    }
    Err(io::Error::other(
        "routing table kept growing during the dump",
    ))
}

/// `if_indextoname(3)`: the name of an interface the cache does not know yet.
fn index_to_name(index: u16) -> Option<String> {
    let mut name = [0 as libc::c_char; libc::IF_NAMESIZE];
    // SAFETY: `name` has the IF_NAMESIZE bytes if_indextoname may write, NUL included.
    let ptr = unsafe { libc::if_indextoname(u32::from(index), name.as_mut_ptr()) };
    if ptr.is_null() {
        return None;
    }
    // SAFETY: on success the buffer holds a NUL-terminated name within IF_NAMESIZE bytes.
    let name = unsafe { CStr::from_ptr(name.as_ptr()) };
    Some(name.to_string_lossy().into_owned())
}
