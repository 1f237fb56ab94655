//! Live capture with AF_PACKET: one raw packet socket per interface, the shared mail/DNS
//! filter attached before the socket is bound, nanosecond kernel timestamps.
//!
//! Setup order (packet(7)): the socket is created with protocol 0, so the kernel
//! hooks it to no traffic and nothing can be queued unfiltered; the filter is attached; then
//! `bind` with `ETH_P_ALL` and the interface index starts delivery. No drain is needed.
//!
//! Per frame `recvmsg` returns two control messages: `SCM_TIMESTAMPNS` (the realtime receive
//! time) and `PACKET_AUXDATA` (the original length, and a VLAN tag the NIC stripped, which is
//! put back into the bytes so the frame looks as it did on the wire, as libpcap does).
//!
//! Interface removal: the kernel sets `ENETDOWN` on the socket when its interface goes down or
//! is unregistered. `read` then checks whether the interface still exists under the same index:
//! if so (it was only brought down; the kernel re-hooks the socket when it comes up) the error
//! is consumed; if not, `read` returns `ErrorKind::NotFound` naming the interface.

use std::cell::Cell;
use std::io;
use std::mem;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

use crate::sys::bpf_program;
use crate::sys::syscall::syscall;
use crate::sys::{CaptureOptions, CaptureStats};
use crate::time::Timestamp;
use crate::wire::{Frame, LinkType};

/// `<linux/if_packet.h>`: socket options at `SOL_PACKET`.
const PACKET_STATISTICS: libc::c_int = 6;
const PACKET_AUXDATA: libc::c_int = 8;
/// `tpacket_auxdata.tp_status` bits.
const TP_STATUS_VLAN_VALID: u32 = 0x10;
const TP_STATUS_VLAN_TPID_VALID: u32 = 0x40;
/// 802.1Q, used when the kernel did not record the tag's TPID.
const ETH_P_8021Q: u16 = 0x8100;
/// Header types the Ethernet filter understands (loopback carries a zeroed Ethernet header).
const ARPHRD_ETHER: u16 = 1;
const ARPHRD_LOOPBACK: u16 = 772;
/// Room in front of the frame for a re-inserted VLAN tag.
const VLAN_HEADROOM: usize = 4;
/// Frames handed over per `read` call at most, so one busy interface cannot starve the other
/// tasks; the fd stays readable and the poller calls again.
const MAX_FRAMES_PER_READ: usize = 4096;

/// `struct tpacket_auxdata` (if_packet.h).
#[repr(C)]
#[derive(Clone, Copy, Default)]
struct TpacketAuxdata {
    tp_status: u32,
    tp_len: u32,
    tp_snaplen: u32,
    tp_mac: u16,
    tp_net: u16,
    tp_vlan_tci: u16,
    tp_vlan_tpid: u16,
}

/// `struct tpacket_stats` (if_packet.h).
#[repr(C)]
#[derive(Clone, Copy, Default)]
struct TpacketStats {
    tp_packets: u32,
    tp_drops: u32,
}

/// Nothing to reserve on Linux: the privilege drop keeps CAP_NET_RAW, so captures opened
/// later open their own packet socket (see `privs`).
pub fn reserve_for_reopen(_count: usize) -> io::Result<()> {
    Ok(())
}

/// A live capture on one interface (see the module doc).
#[derive(Debug)]
pub struct Capture {
    fd: OwnedFd,
    interface: String,
    ifindex: u32,
    /// `VLAN_HEADROOM` bytes, then room for one frame of the snap length.
    buf: Vec<u8>,
    /// `PACKET_STATISTICS` resets on every read, so the totals are kept here.
    totals: Cell<CaptureStats>,
}

impl Capture {
    /// Opens a capture on `interface` with the mail/DNS filter; non-blocking.
    pub fn open(interface: &str, options: &CaptureOptions) -> io::Result<Capture> {
        let ifindex = interface_index(interface)?;
        // SAFETY: socket(2) with constant arguments; the result is checked by `syscall!`.
        let raw = syscall!(socket(
            libc::AF_PACKET,
            libc::SOCK_RAW | libc::SOCK_CLOEXEC | libc::SOCK_NONBLOCK,
            0
        ))
        .map_err(|e| context(e, interface, "opening a packet socket"))?;
        // SAFETY: `raw` is a new descriptor that nothing else owns.
        let fd = unsafe { OwnedFd::from_raw_fd(raw) };

        let snap_len = options.snap_len.max(1);
        attach_filter(&fd, &bpf_program::program(snap_len))
            .map_err(|e| context(e, interface, "attaching the capture filter"))?;
        set_int_option(&fd, libc::SOL_SOCKET, libc::SO_TIMESTAMPNS, 1)
            .map_err(|e| context(e, interface, "enabling timestamps"))?;
        set_int_option(&fd, libc::SOL_PACKET, PACKET_AUXDATA, 1)
            .map_err(|e| context(e, interface, "enabling packet auxdata"))?;
        let buffer = i32::try_from(options.buffer_size).unwrap_or(i32::MAX);
        // SO_RCVBUFFORCE passes rmem_max when root; SO_RCVBUF is the capped fallback.
        set_int_option(&fd, libc::SOL_SOCKET, libc::SO_RCVBUFFORCE, buffer)
            .or_else(|_| set_int_option(&fd, libc::SOL_SOCKET, libc::SO_RCVBUF, buffer))
            .map_err(|e| context(e, interface, "setting the buffer size"))?;
        bind(&fd, ifindex).map_err(|e| context(e, interface, "binding to the interface"))?;

        let hatype = bound_hardware_type(&fd)?;
        if hatype != ARPHRD_ETHER && hatype != ARPHRD_LOOPBACK {
            return Err(io::Error::new(
                io::ErrorKind::Unsupported,
                format!(
                    "interface {interface} is not Ethernet (ARPHRD type {hatype}); \
                     the capture filter reads Ethernet frames"
                ),
            ));
        }
        let len = usize::try_from(snap_len).unwrap_or(usize::MAX).min(1 << 18);
        Ok(Capture {
            fd,
            interface: interface.to_string(),
            ifindex,
            buf: vec![0; VLAN_HEADROOM + len],
            totals: Cell::new(CaptureStats::default()),
        })
    }

    /// Hands every frame that is ready (up to 4096 per call) to `on_frame`; returns how many.
    pub fn read(&mut self, on_frame: &mut dyn FnMut(Frame<'_>)) -> io::Result<usize> {
        let mut count = 0;
        while count < MAX_FRAMES_PER_READ {
            match self.receive_one() {
                Ok(Some(received)) => {
                    count += 1;
                    let Some(data) = self.buf.get(received.start..received.end) else {
                        continue;
                    };
                    on_frame(Frame {
                        time: received.time,
                        link_type: LinkType::ETHERNET,
                        data,
                        original_len: received.original_len,
                    });
                }
                Ok(None) => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) if e.raw_os_error() == Some(libc::ENETDOWN) => {
                    if interface_index(&self.interface).ok() == Some(self.ifindex) {
                        continue; // only brought down: the kernel re-hooks us when it is up
                    }
                    return Err(io::Error::new(
                        io::ErrorKind::NotFound,
                        format!("capture interface {} is gone (ENETDOWN)", self.interface),
                    ));
                }
                Err(e) => return Err(context(e, &self.interface, "reading frames")),
            }
        }
        Ok(count)
    }

    /// Totals since the capture was opened.
    pub fn stats(&self) -> io::Result<CaptureStats> {
        let mut stats = TpacketStats::default();
        let mut len = mem::size_of::<TpacketStats>() as libc::socklen_t;
        // SAFETY: `stats` is a writable `struct tpacket_stats` and `len` holds its size.
        syscall!(getsockopt(
            self.fd.as_raw_fd(),
            libc::SOL_PACKET,
            PACKET_STATISTICS,
            (&mut stats as *mut TpacketStats).cast(),
            &mut len
        ))
        .map_err(|e| context(e, &self.interface, "reading capture statistics"))?;
        let mut totals = self.totals.get();
        totals.received += u64::from(stats.tp_packets);
        totals.dropped += u64::from(stats.tp_drops);
        self.totals.set(totals);
        Ok(totals)
    }

    /// One `recvmsg`; `None` when nothing is ready.
    fn receive_one(&mut self) -> io::Result<Option<Received>> {
        // u64 array: cmsg headers need 8-byte alignment.
        let mut control = [0u64; 16];
        let Some(payload) = self.buf.get_mut(VLAN_HEADROOM..) else {
            return Ok(None);
        };
        let mut iov = libc::iovec {
            iov_base: payload.as_mut_ptr().cast(),
            iov_len: payload.len(),
        };
        // SAFETY: msghdr is plain data; all-zero is a valid empty value.
        let mut msg: libc::msghdr = unsafe { mem::zeroed() };
        msg.msg_iov = &mut iov;
        msg.msg_iovlen = 1;
        msg.msg_control = control.as_mut_ptr().cast();
        msg.msg_controllen = mem::size_of_val(&control);
        // SAFETY: `msg` points at `iov` (into `self.buf`) and `control`, both alive and
        // writable for the call, with their true lengths.
        let n = match syscall!(recvmsg(self.fd.as_raw_fd(), &mut msg, libc::MSG_DONTWAIT)) {
            Ok(n) => usize::try_from(n).unwrap_or(0),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(None),
            Err(e) => return Err(e),
        };
        let captured = n.min(payload.len());
        let (time, aux) = read_control(&msg);
        // Wall-clock now for the (unexpected) frame without a kernel timestamp.
        let time = time.unwrap_or_else(crate::sys::clock::now);
        let original_len = aux.map_or(n, |a| a.tp_len as usize);
        let original_len = u32::try_from(original_len).unwrap_or(u32::MAX);

        let mut start = VLAN_HEADROOM;
        let end = VLAN_HEADROOM + captured;
        if let Some(aux) = aux.filter(|a| a.tp_status & TP_STATUS_VLAN_VALID != 0) {
            // `captured >= 12` means `self.buf` holds at least VLAN_HEADROOM + 12 = 16 bytes, so
            // the fixed indexes below are in bounds.
            if captured >= 12 {
                // Move the two MAC addresses forward into the headroom and put the tag after
                // them: dst(6) src(6) TPID(2) TCI(2) ethertype...
                self.buf.copy_within(VLAN_HEADROOM..VLAN_HEADROOM + 12, 0);
                let tpid = if aux.tp_status & TP_STATUS_VLAN_TPID_VALID != 0 {
                    aux.tp_vlan_tpid
                } else {
                    ETH_P_8021Q
                };
                self.buf[12..14].copy_from_slice(&tpid.to_be_bytes());
                self.buf[14..16].copy_from_slice(&aux.tp_vlan_tci.to_be_bytes());
                start = 0;
                return Ok(Some(Received {
                    start,
                    end,
                    time,
                    original_len: original_len.saturating_add(4),
                }));
            }
        }
        Ok(Some(Received {
            start,
            end,
            time,
            original_len,
        }))
    }
}

impl AsRawFd for Capture {
    fn as_raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }
}

/// Where a received frame sits in the buffer, and what the kernel said about it.
struct Received {
    start: usize,
    end: usize,
    time: Timestamp,
    original_len: u32,
}

/// The timestamp and auxdata control messages of one `recvmsg`.
fn read_control(msg: &libc::msghdr) -> (Option<Timestamp>, Option<TpacketAuxdata>) {
    let (mut time, mut aux) = (None, None);
    // SAFETY: `msg` was filled by recvmsg; CMSG_FIRSTHDR/NXTHDR stay within msg_controllen
    // and return null at the end.
    let mut cmsg = unsafe { libc::CMSG_FIRSTHDR(msg) };
    while !cmsg.is_null() {
        // SAFETY: `cmsg` is non-null and points at a header inside the control buffer.
        let header = unsafe { &*cmsg };
        // SAFETY: CMSG_DATA points just past the header, inside the control buffer.
        let data = unsafe { libc::CMSG_DATA(cmsg) };
        let payload = header.cmsg_len as usize;
        // SAFETY: CMSG_LEN(0) is a constant computation.
        let data_len = payload.saturating_sub(unsafe { libc::CMSG_LEN(0) } as usize);
        match (header.cmsg_level, header.cmsg_type) {
            (libc::SOL_SOCKET, libc::SCM_TIMESTAMPNS)
                if data_len >= mem::size_of::<libc::timespec>() =>
            {
                // SAFETY: the kernel wrote a `struct timespec` there (length checked above);
                // read_unaligned because cmsg data need not be aligned for it.
                let ts: libc::timespec = unsafe { data.cast::<libc::timespec>().read_unaligned() };
                let nanos = u32::try_from(ts.tv_nsec).unwrap_or(0);
                time = Some(Timestamp::from_unix(ts.tv_sec, nanos));
            }
            (libc::SOL_PACKET, PACKET_AUXDATA) if data_len >= mem::size_of::<TpacketAuxdata>() => {
                // SAFETY: the kernel wrote a `struct tpacket_auxdata` there (length checked).
                aux = Some(unsafe { data.cast::<TpacketAuxdata>().read_unaligned() });
            }
            _ => {}
        }
        // SAFETY: as for CMSG_FIRSTHDR.
        cmsg = unsafe { libc::CMSG_NXTHDR(msg, cmsg) };
    }
    (time, aux)
}

fn interface_index(interface: &str) -> io::Result<u32> {
    nix::net::if_::if_nametoindex(interface).map_err(|e| {
        io::Error::new(
            io::ErrorKind::NotFound,
            format!("no interface named {interface}: {e}"),
        )
    })
}

fn attach_filter(fd: &OwnedFd, program: &[bpf_program::BpfInsn]) -> io::Result<()> {
    let filter: Vec<libc::sock_filter> = program
        .iter()
        .map(|i| libc::sock_filter {
            code: i.code,
            jt: i.jt,
            jf: i.jf,
            k: i.k,
        })
        .collect();
    let prog = libc::sock_fprog {
        len: u16::try_from(filter.len()).map_err(|_| io::Error::other("filter too long"))?,
        filter: filter.as_ptr().cast_mut(),
    };
    // SAFETY: `prog` points at `filter`, which lives until after the call; the kernel copies it.
    syscall!(setsockopt(
        fd.as_raw_fd(),
        libc::SOL_SOCKET,
        libc::SO_ATTACH_FILTER,
        (&prog as *const libc::sock_fprog).cast(),
        mem::size_of::<libc::sock_fprog>() as libc::socklen_t
    ))?;
    Ok(())
}

fn set_int_option(
    fd: &OwnedFd,
    level: libc::c_int,
    name: libc::c_int,
    value: i32,
) -> io::Result<()> {
    // SAFETY: `value` is a live c_int and the length says so.
    syscall!(setsockopt(
        fd.as_raw_fd(),
        level,
        name,
        (&value as *const i32).cast(),
        mem::size_of::<i32>() as libc::socklen_t
    ))?;
    Ok(())
}

fn bind(fd: &OwnedFd, ifindex: u32) -> io::Result<()> {
    // SAFETY: sockaddr_ll is plain data; all-zero is valid.
    let mut addr: libc::sockaddr_ll = unsafe { mem::zeroed() };
    addr.sll_family = libc::AF_PACKET as u16;
    addr.sll_protocol = (libc::ETH_P_ALL as u16).to_be();
    addr.sll_ifindex = i32::try_from(ifindex).map_err(|_| io::Error::other("ifindex too large"))?;
    // SAFETY: `addr` is a complete sockaddr_ll and the length says so.
    syscall!(bind(
        fd.as_raw_fd(),
        (&addr as *const libc::sockaddr_ll).cast(),
        mem::size_of::<libc::sockaddr_ll>() as libc::socklen_t
    ))?;
    Ok(())
}

/// The ARPHRD type of the interface the socket is bound to (the kernel fills `sll_hatype`).
fn bound_hardware_type(fd: &OwnedFd) -> io::Result<u16> {
    // SAFETY: sockaddr_ll is plain data; all-zero is valid.
    let mut addr: libc::sockaddr_ll = unsafe { mem::zeroed() };
    let mut len = mem::size_of::<libc::sockaddr_ll>() as libc::socklen_t;
    // SAFETY: `addr` is writable for `len` bytes.
    syscall!(getsockname(
        fd.as_raw_fd(),
        (&mut addr as *mut libc::sockaddr_ll).cast(),
        &mut len
    ))?;
    Ok(addr.sll_hatype)
}

fn context(err: io::Error, interface: &str, what: &str) -> io::Error {
    io::Error::new(err.kind(), format!("{what} on {interface}: {err}"))
}
