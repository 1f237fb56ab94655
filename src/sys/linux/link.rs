//! Link, address and default-route changes from rtnetlink (rtnetlink(7)).
//!
//! One socket subscribed to RTMGRP_LINK, IPV4_IFADDR, IPV6_IFADDR, IPV4_ROUTE and IPV6_ROUTE
//! carries the changes; each snapshot uses a separate short-lived socket for the RTM_GET* dumps,
//! so dump replies never interleave with notifications. Parsing is in `netlink` and the state
//! comparison in `link_table`, both pure; this file only does the socket work.

use std::io;
use std::mem;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

use super::link_table::LinkTable;
use super::netlink::{self, Message, NLMSG_OVERRUN, NLM_F_DUMP_INTR};
use crate::sys::syscall::syscall;
use crate::sys::{LinkRead, LinkSnapshot};

/// Multicast groups (rtnetlink.h `RTMGRP_*`).
const GROUPS: u32 = 0x1 /* LINK */ | 0x10 /* IPV4_IFADDR */ | 0x40 /* IPV4_ROUTE */
    | 0x100 /* IPV6_IFADDR */ | 0x400 /* IPV6_ROUTE */;
/// Receive buffer asked for, so bursts (many interfaces flapping) do not overflow.
const RCVBUF: i32 = 1 << 20;
/// One datagram: the kernel's dump messages stay below 32 KiB; notifications are smaller.
const DATAGRAM_MAX: usize = 64 << 10;
/// Datagrams handled per `read` at most; the fd stays readable for the rest.
const MAX_DATAGRAMS_PER_READ: usize = 256;
/// How long one dump may take before the snapshot gives up.
const DUMP_TIMEOUT_SECS: libc::time_t = 5;
/// Retries when the kernel marks a dump inconsistent (NLM_F_DUMP_INTR).
const DUMP_ATTEMPTS: usize = 5;

/// A non-blocking rtnetlink listener with the last known link state.
#[derive(Debug)]
pub struct LinkMonitor {
    fd: OwnedFd,
    table: LinkTable,
    buf: Vec<u8>,
}

impl LinkMonitor {
    /// Subscribes to the change groups, then takes a first snapshot as the baseline (in that
    /// order, so no change between the two is missed).
    pub fn open() -> io::Result<LinkMonitor> {
        let fd = netlink_socket(libc::SOCK_NONBLOCK)?;
        // SO_RCVBUFFORCE passes rmem_max when root; SO_RCVBUF is the capped fallback.
        set_int_option(&fd, libc::SO_RCVBUFFORCE, RCVBUF)
            .or_else(|_| set_int_option(&fd, libc::SO_RCVBUF, RCVBUF))?;
        bind(&fd, GROUPS)?;
        let mut monitor = LinkMonitor {
            fd,
            table: LinkTable::default(),
            buf: vec![0; DATAGRAM_MAX],
        };
        monitor.snapshot()?;
        Ok(monitor)
    }

    /// The changes that are ready, or `ResyncNeeded` when the kernel dropped messages
    /// (ENOBUFS) or a datagram did not fit; then call [`LinkMonitor::snapshot`].
    pub fn read(&mut self) -> io::Result<LinkRead> {
        let mut changes = Vec::new();
        for _ in 0..MAX_DATAGRAMS_PER_READ {
            let len = match receive(&self.fd, &mut self.buf, libc::MSG_DONTWAIT) {
                Ok(Some(len)) => len,
                Ok(None) => continue, // not from the kernel
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) if e.raw_os_error() == Some(libc::ENOBUFS) => {
                    return Ok(LinkRead::ResyncNeeded)
                }
                Err(e) => return Err(io::Error::new(e.kind(), format!("reading rtnetlink: {e}"))),
            };
            if len > self.buf.len() {
                return Ok(LinkRead::ResyncNeeded);
            }
            for (header, message) in netlink::parse(self.buf.get(..len).unwrap_or_default()) {
                if header.kind == NLMSG_OVERRUN {
                    return Ok(LinkRead::ResyncNeeded);
                }
                changes.extend(self.table.apply(&message, &index_to_name));
            }
        }
        if changes.iter().any(LinkTable::may_flush_routes) {
            match dump_all() {
                Ok(Some(dump)) => changes.extend(self.table.resync_default_routes(&dump)),
                // Interrupted by another change, or failed: the full resync sorts it out.
                Ok(None) | Err(_) => return Ok(LinkRead::ResyncNeeded),
            }
        }
        Ok(LinkRead::Changes(changes))
    }

    /// Dumps links, addresses and routes; the result becomes the baseline for `read`.
    pub fn snapshot(&mut self) -> io::Result<LinkSnapshot> {
        let mut last_error = None;
        for _ in 0..DUMP_ATTEMPTS {
            match dump_all() {
                Ok(Some(messages)) => {
                    self.table = LinkTable::from_dump(&messages);
                    return Ok(self.table.snapshot());
                }
                Ok(None) => last_error = Some("the kernel kept interrupting the dump"),
                Err(e) => return Err(io::Error::new(e.kind(), format!("rtnetlink dump: {e}"))),
            }
        }
        Err(io::Error::other(
            last_error.unwrap_or("rtnetlink dump failed"),
        ))
    }
}

impl AsRawFd for LinkMonitor {
    fn as_raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }
}

/// Links, then addresses, then routes on a fresh blocking socket. `None` when a dump was
/// interrupted by a concurrent change (NLM_F_DUMP_INTR) and must be redone.
fn dump_all() -> io::Result<Option<Vec<Message>>> {
    let fd = netlink_socket(0)?;
    let timeout = libc::timeval {
        tv_sec: DUMP_TIMEOUT_SECS,
        tv_usec: 0,
    };
    // SAFETY: `timeout` is a live timeval and the length says so.
    syscall!(setsockopt(
        fd.as_raw_fd(),
        libc::SOL_SOCKET,
        libc::SO_RCVTIMEO,
        (&timeout as *const libc::timeval).cast(),
        mem::size_of::<libc::timeval>() as libc::socklen_t
    ))?;
    bind(&fd, 0)?;
    let mut buf = vec![0u8; DATAGRAM_MAX];
    let mut messages = Vec::new();
    let kinds = [
        netlink::RTM_GETLINK,
        netlink::RTM_GETADDR,
        netlink::RTM_GETROUTE,
    ];
    for (seq, kind) in (1u32..).zip(kinds) {
        let request = netlink::dump_request(kind, seq);
        // SAFETY: `request` is a live buffer of the given length; the kernel is the default
        // destination of an unconnected netlink socket.
        syscall!(send(
            fd.as_raw_fd(),
            request.as_ptr().cast(),
            request.len(),
            0
        ))?;
        'reply: loop {
            let len = match receive(&fd, &mut buf, 0) {
                Ok(Some(len)) if len <= buf.len() => len,
                Ok(Some(_)) => return Err(io::Error::other("a dump message did not fit")),
                Ok(None) => continue,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            for (header, message) in netlink::parse(buf.get(..len).unwrap_or_default()) {
                if header.seq != seq {
                    continue;
                }
                if header.flags & NLM_F_DUMP_INTR != 0 {
                    return Ok(None);
                }
                match message {
                    Message::Done => break 'reply,
                    Message::Error(0) => {}
                    Message::Error(errno) => return Err(io::Error::from_raw_os_error(-errno)),
                    other => messages.push(other),
                }
            }
        }
    }
    Ok(Some(messages))
}

fn netlink_socket(extra_flags: libc::c_int) -> io::Result<OwnedFd> {
    // SAFETY: socket(2) with constant arguments; the result is checked by `syscall!`.
    let raw = syscall!(socket(
        libc::AF_NETLINK,
        libc::SOCK_RAW | libc::SOCK_CLOEXEC | extra_flags,
        libc::NETLINK_ROUTE
    ))?;
    // SAFETY: `raw` is a new descriptor that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(raw) })
}

fn bind(fd: &OwnedFd, groups: u32) -> io::Result<()> {
    // SAFETY: sockaddr_nl is plain data; all-zero is valid (pid 0: the kernel assigns one).
    let mut addr: libc::sockaddr_nl = unsafe { mem::zeroed() };
    addr.nl_family = libc::AF_NETLINK as libc::sa_family_t;
    addr.nl_groups = groups;
    // SAFETY: `addr` is a complete sockaddr_nl and the length says so.
    syscall!(bind(
        fd.as_raw_fd(),
        (&addr as *const libc::sockaddr_nl).cast(),
        mem::size_of::<libc::sockaddr_nl>() as libc::socklen_t
    ))?;
    Ok(())
}

/// One datagram into `buf`. Returns its full length (which may exceed `buf` when it was
/// truncated, thanks to MSG_TRUNC), or `None` when it did not come from the kernel (pid 0).
fn receive(fd: &OwnedFd, buf: &mut [u8], flags: libc::c_int) -> io::Result<Option<usize>> {
    // SAFETY: sockaddr_nl is plain data; all-zero is valid.
    let mut from: libc::sockaddr_nl = unsafe { mem::zeroed() };
    let mut from_len = mem::size_of::<libc::sockaddr_nl>() as libc::socklen_t;
    // SAFETY: `buf` and `from` are writable for the lengths passed.
    let n = syscall!(recvfrom(
        fd.as_raw_fd(),
        buf.as_mut_ptr().cast(),
        buf.len(),
        flags | libc::MSG_TRUNC,
        (&mut from as *mut libc::sockaddr_nl).cast(),
        &mut from_len
    ))?;
    if from.nl_pid != 0 {
        return Ok(None);
    }
    Ok(Some(usize::try_from(n).unwrap_or(0)))
}

fn set_int_option(fd: &OwnedFd, name: libc::c_int, value: i32) -> io::Result<()> {
    // SAFETY: `value` is a live c_int and the length says so.
    syscall!(setsockopt(
        fd.as_raw_fd(),
        libc::SOL_SOCKET,
        name,
        (&value as *const i32).cast(),
        mem::size_of::<i32>() as libc::socklen_t
    ))?;
    Ok(())
}

fn index_to_name(index: u32) -> Option<String> {
    let name = nix::net::if_::if_indextoname(index).ok()?;
    Some(name.to_string_lossy().into_owned())
}
