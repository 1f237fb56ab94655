//! Live capture with FreeBSD BPF: one cloned /dev/bpf descriptor per interface.
//!
//! Setup order (bpf(4)): `BIOCSBLEN` (only allowed before an interface is
//! attached), `BIOCSTSTAMP`, `BIOCSETF` with the Ethernet mail/DNS program *before*
//! `BIOCSETIF`, so nothing is queued unfiltered, then `BIOCSETIF`, `BIOCGDLT`, and for DLT_NULL
//! interfaces (lo0, tun, ovpn, wg) `BIOCSETF` again with the DLT_NULL program (which also resets
//! the buffer); any other DLT is refused with its number in the error. Then `BIOCIMMEDIATE`.
//!
//! Timestamps: `BPF_T_NANOTIME` (wall clock, as Linux's `SO_TIMESTAMPNS`), so the records carry
//! `struct bpf_xhdr` with nanoseconds in `bt_frac`; the walker is told that format. A clock
//! step therefore shows in frame times, as it does on Linux.
//!
//! Reading: `read()` must ask for exactly the buffer size the kernel chose (`bpfread` returns
//! EINVAL otherwise); EWOULDBLOCK means nothing is ready; ENXIO means the interface is gone
//! and is returned as `ErrorKind::NotFound` (see `sys::interface_gone`).

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::sync::Mutex;

use super::with_context;
use crate::sys::bpf_program;
use crate::sys::bsd::bpf_buffer::{self, BPF_T_NANOTIME, BPF_T_NORMAL};
use crate::sys::bsd::bpf_null_program::{null_program, Insn};
use crate::sys::bsd::ioctl;
use crate::sys::syscall::syscall;
use crate::sys::{CaptureOptions, CaptureStats};
use crate::wire::{Frame, LinkType};

/// The cloning BPF device: every open gets a private descriptor.
const BPF_DEVICE: &[u8] = b"/dev/bpf\0";
/// Buffers read per `read` call once frames were found, so one busy interface cannot starve
/// the others; the descriptor stays readable and the poller calls again.
const MAX_BUFFERS_PER_READ: usize = 64;

/// Unattached /dev/bpf descriptors opened as root before the privilege drop, for captures
/// opened later (a LAN interface re-created, or added by a reload): /dev/bpf is root-only and
/// its permission is checked at `open()` only. Each later capture uses one up; BIOCLOCK keeps
/// a used one from being re-pointed, so they are not recycled.
static SPARES: Mutex<Vec<OwnedFd>> = Mutex::new(Vec::new());

/// Opens `count` spare BPF descriptors (see [`SPARES`]); call before dropping root.
pub fn reserve_for_reopen(count: usize) -> io::Result<()> {
    let mut spares = SPARES.lock().unwrap_or_else(|p| p.into_inner());
    while spares.len() < count {
        spares.push(open_bpf().map_err(|e| with_context(e, "opening /dev/bpf"))?);
    }
    Ok(())
}

fn open_bpf() -> io::Result<OwnedFd> {
    // SAFETY: a NUL-terminated path and plain flags.
    let fd = syscall!(open(
        BPF_DEVICE.as_ptr().cast(),
        libc::O_RDONLY | libc::O_NONBLOCK | libc::O_CLOEXEC
    ))?;
    // SAFETY: `open` just returned this descriptor and nothing else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// A fresh BPF descriptor: opened now when allowed (root), else one of the spares.
fn open_device(interface: &str) -> io::Result<OwnedFd> {
    match open_bpf() {
        Ok(fd) => Ok(fd),
        Err(e) if matches!(e.raw_os_error(), Some(libc::EACCES) | Some(libc::EPERM)) => {
            let mut spares = SPARES.lock().unwrap_or_else(|p| p.into_inner());
            spares.pop().ok_or_else(|| {
                io::Error::new(
                    io::ErrorKind::PermissionDenied,
                    format!(
                        "BPF capture on {interface}: /dev/bpf is root-only and every descriptor \
                         opened before the privilege drop is in use; restart mailpulse to capture \
                         on {interface}"
                    ),
                )
            })
        }
        Err(e) => Err(with_context(
            e,
            format!("BPF capture on {interface}: opening /dev/bpf"),
        )),
    }
}

/// `struct bpf_program {u_int bf_len; struct bpf_insn *bf_insns}` (bpf.h), 16 bytes on LP64.
#[repr(C)]
struct BpfProgram {
    bf_len: libc::c_uint,
    bf_insns: *const Insn,
}

/// `struct bpf_stat {u_int bs_recv; u_int bs_drop}` (bpf.h).
#[repr(C)]
#[derive(Default)]
struct BpfStat {
    /// Packets seen before the filter: not what `CaptureStats::received` means, so unread.
    #[allow(dead_code)]
    bs_recv: libc::c_uint,
    bs_drop: libc::c_uint,
}

/// A live capture on one interface (see the module doc).
#[derive(Debug)]
pub struct Capture {
    fd: OwnedFd,
    interface: String,
    link_type: LinkType,
    /// Exactly the kernel's buffer size (`BIOCSBLEN`'s answer).
    buf: Vec<u8>,
    /// Frames handed to the caller: BPF counts only packets seen before the filter.
    delivered: u64,
    /// Records the walker could not frame (a kernel/parser mismatch if ever non-zero).
    malformed: u64,
}

impl Capture {
    /// Opens a capture on `interface` with the mail/DNS filter; non-blocking.
    pub fn open(interface: &str, options: &CaptureOptions) -> io::Result<Capture> {
        let ifreq = ioctl::ifreq_with_name(interface)
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
        let context = |what: &str| format!("BPF capture on {interface}: {what}");
        let fd = open_device(interface)?;
        let raw = fd.as_raw_fd();

        let mut buffer_size: libc::c_uint = options.buffer_size;
        // SAFETY: BIOCSBLEN reads and writes back one u_int.
        syscall!(ioctl(
            raw,
            ioctl::BIOCSBLEN as libc::c_ulong,
            &mut buffer_size
        ))
        .map_err(|e| with_context(e, context("BIOCSBLEN")))?;
        let mut tstamp: libc::c_uint = BPF_T_NANOTIME | BPF_T_NORMAL;
        // SAFETY: BIOCSTSTAMP reads one u_int.
        syscall!(ioctl(raw, ioctl::BIOCSTSTAMP as libc::c_ulong, &mut tstamp))
            .map_err(|e| with_context(e, context("BIOCSTSTAMP")))?;

        let ethernet: Vec<Insn> = bpf_program::program(options.snap_len)
            .iter()
            .map(|i| Insn::new(i.code, i.jt, i.jf, i.k))
            .collect();
        set_filter(raw, &ethernet).map_err(|e| with_context(e, context("BIOCSETF")))?;

        let mut ifreq = ifreq;
        // SAFETY: BIOCSETIF reads a 32-byte struct ifreq; only ifr_name is used.
        syscall!(ioctl(
            raw,
            ioctl::BIOCSETIF as libc::c_ulong,
            ifreq.as_mut_ptr()
        ))
        .map_err(|e| match e.raw_os_error() {
            Some(libc::ENXIO) => io::Error::new(
                io::ErrorKind::NotFound,
                format!("BPF capture: no interface {interface} (or it has no BPF)"),
            ),
            _ => with_context(e, context("BIOCSETIF")),
        })?;

        let mut dlt: libc::c_uint = 0;
        // SAFETY: BIOCGDLT writes one u_int.
        syscall!(ioctl(raw, ioctl::BIOCGDLT as libc::c_ulong, &mut dlt))
            .map_err(|e| with_context(e, context("BIOCGDLT")))?;
        let link_type = bpf_buffer::link_type_for_dlt(dlt)
            .map_err(|e| io::Error::new(io::ErrorKind::Unsupported, format!("{interface}: {e}")))?;
        if link_type == LinkType::NULL {
            set_filter(raw, &null_program(options.snap_len))
                .map_err(|e| with_context(e, context("BIOCSETF (DLT_NULL)")))?;
        }

        let mut on: libc::c_uint = 1;
        // SAFETY: BIOCIMMEDIATE reads one u_int.
        syscall!(ioctl(raw, ioctl::BIOCIMMEDIATE as libc::c_ulong, &mut on))
            .map_err(|e| with_context(e, context("BIOCIMMEDIATE")))?;
        // From here on the descriptor cannot be re-pointed or given another filter, even by
        // code running in this process (bpf(4), "BIOCLOCK").
        // SAFETY: BIOCLOCK takes no argument.
        syscall!(ioctl(raw, ioctl::BIOCLOCK as libc::c_ulong))
            .map_err(|e| with_context(e, context("BIOCLOCK")))?;

        Ok(Capture {
            fd,
            interface: interface.to_owned(),
            link_type,
            buf: vec![0; usize::try_from(buffer_size).unwrap_or(4096).max(32)],
            delivered: 0,
            malformed: 0,
        })
    }

    /// Hands every frame that is ready to `on_frame`; returns how many (0 when none is).
    pub fn read(&mut self, on_frame: &mut dyn FnMut(Frame<'_>)) -> io::Result<usize> {
        let mut frames = 0;
        let mut buffers = 0usize;
        // A return of 0 tells the caller the descriptor is drained, so the cap applies only
        // once some frames were handed over.
        while buffers < MAX_BUFFERS_PER_READ || frames == 0 {
            buffers += 1;
            // SAFETY: `buf` is writable for its whole length, which is the kernel's buffer
            // size as BIOCSBLEN returned it (bpfread requires exactly that).
            let n = match syscall!(read(
                self.fd.as_raw_fd(),
                self.buf.as_mut_ptr().cast(),
                self.buf.len()
            )) {
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) if e.raw_os_error() == Some(libc::ENXIO) => {
                    return Err(io::Error::new(
                        io::ErrorKind::NotFound,
                        format!("BPF capture: interface {} is gone", self.interface),
                    ))
                }
                Err(e) => {
                    return Err(with_context(
                        e,
                        format!("BPF capture on {}: read", self.interface),
                    ))
                }
            };
            if n == 0 {
                break;
            }
            let len = usize::try_from(n).unwrap_or(0).min(self.buf.len());
            let mut walk = bpf_buffer::records(self.buf.get(..len).unwrap_or_default());
            for record in walk.by_ref() {
                on_frame(Frame {
                    time: record.time,
                    link_type: self.link_type,
                    data: record.data,
                    original_len: record.datalen,
                });
                frames += 1;
            }
            if walk.error().is_some() {
                self.malformed += 1;
            }
        }
        self.delivered += frames as u64;
        Ok(frames)
    }

    /// Frames that passed the filter (delivered + dropped) and frames lost for buffer space.
    pub fn stats(&self) -> io::Result<CaptureStats> {
        let mut stat = BpfStat::default();
        // SAFETY: BIOCGSTATS writes one struct bpf_stat.
        syscall!(ioctl(
            self.fd.as_raw_fd(),
            ioctl::BIOCGSTATS as libc::c_ulong,
            &mut stat
        ))
        .map_err(|e| with_context(e, format!("BPF capture on {}: BIOCGSTATS", self.interface)))?;
        // bs_recv counts packets before the filter, so it is not used; bs_drop counts
        // filter-accepted packets that found no buffer space (bpf.c catchpacket).
        let dropped = u64::from(stat.bs_drop);
        Ok(CaptureStats {
            received: self.delivered.saturating_add(dropped),
            dropped,
        })
    }
}

impl AsRawFd for Capture {
    fn as_raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }
}

/// `BIOCSETF` with `insns` (resets the buffer and the counters).
fn set_filter(fd: RawFd, insns: &[Insn]) -> io::Result<()> {
    let program = BpfProgram {
        bf_len: libc::c_uint::try_from(insns.len()).unwrap_or(libc::c_uint::MAX),
        bf_insns: insns.as_ptr(),
    };
    // SAFETY: BIOCSETF reads a struct bpf_program whose pointer covers `bf_len` 8-byte
    // instructions; `insns` outlives the call and the kernel copies it.
    syscall!(ioctl(fd, ioctl::BIOCSETF as libc::c_ulong, &program)).map(|_| ())
}
