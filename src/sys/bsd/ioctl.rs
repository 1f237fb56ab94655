//! FreeBSD ioctl request numbers, computed the way sys/ioccom.h computes them.
//!
//! ioccom.h: `_IOC(inout, group, num, len) = inout | ((len & IOCPARM_MASK) << 16) |
//! (group << 8) | num`, with `IOCPARM_MASK = (1 << 13) - 1`, `IOC_VOID 0x20000000`,
//! `IOC_OUT 0x40000000`, `IOC_IN 0x80000000`. Sizes are LP64. The tests check the results
//! against the numbers checked against FreeBSD's headers by scripts/check-freebsd-abi, and in the libc crate.

const IOCPARM_MASK: u64 = (1 << 13) - 1;
const IOC_VOID: u64 = 0x2000_0000;
const IOC_OUT: u64 = 0x4000_0000;
const IOC_IN: u64 = 0x8000_0000;

/// `_IOC(inout, group, num, len)`.
pub const fn ioc(inout: u64, group: u8, num: u8, len: usize) -> u64 {
    inout | (((len as u64) & IOCPARM_MASK) << 16) | ((group as u64) << 8) | num as u64
}

/// `_IO(g, n)`: no argument.
pub const fn io(group: u8, num: u8) -> u64 {
    ioc(IOC_VOID, group, num, 0)
}

/// `_IOR(g, n, t)`: the kernel writes `len` bytes.
pub const fn ior(group: u8, num: u8, len: usize) -> u64 {
    ioc(IOC_OUT, group, num, len)
}

/// `_IOW(g, n, t)`: the kernel reads `len` bytes.
pub const fn iow(group: u8, num: u8, len: usize) -> u64 {
    ioc(IOC_IN, group, num, len)
}

/// `_IOWR(g, n, t)`: both.
pub const fn iowr(group: u8, num: u8, len: usize) -> u64 {
    ioc(IOC_IN | IOC_OUT, group, num, len)
}

/// `sizeof(u_int)`.
const U_INT: usize = 4;
/// `sizeof(struct bpf_program)` on LP64: `u_int bf_len` + padding + a pointer.
const BPF_PROGRAM: usize = 16;
/// `sizeof(struct ifreq)`: `char ifr_name[16]` + a 16-byte union.
pub const IFREQ: usize = 32;
/// `sizeof(struct bpf_stat)`: two `u_int`.
const BPF_STAT: usize = 8;
/// `sizeof(struct bpf_version)`: two `u_short`.
#[cfg(test)]
const BPF_VERSION: usize = 4;

// bpf.h request numbers, group 'B'.
#[cfg(test)]
pub const BIOCGBLEN: u64 = ior(b'B', 102, U_INT);
pub const BIOCSBLEN: u64 = iowr(b'B', 102, U_INT);
pub const BIOCSETF: u64 = iow(b'B', 103, BPF_PROGRAM);
#[cfg(test)]
pub const BIOCFLUSH: u64 = io(b'B', 104);
#[cfg(test)]
pub const BIOCPROMISC: u64 = io(b'B', 105);
pub const BIOCGDLT: u64 = ior(b'B', 106, U_INT);
pub const BIOCSETIF: u64 = iow(b'B', 108, IFREQ);
pub const BIOCGSTATS: u64 = ior(b'B', 111, BPF_STAT);
pub const BIOCIMMEDIATE: u64 = iow(b'B', 112, U_INT);
#[cfg(test)]
pub const BIOCVERSION: u64 = ior(b'B', 113, BPF_VERSION);
#[cfg(test)]
pub const BIOCSDIRECTION: u64 = iow(b'B', 119, U_INT);
pub const BIOCLOCK: u64 = io(b'B', 122);
#[cfg(test)]
pub const BIOCSETFNR: u64 = iow(b'B', 130, BPF_PROGRAM);
#[cfg(test)]
pub const BIOCGTSTAMP: u64 = ior(b'B', 131, U_INT);
pub const BIOCSTSTAMP: u64 = iow(b'B', 132, U_INT);

#[cfg(test)]
/// pfvar.h `DIOCGETSTATESV2 _IOWR('D', 93, struct pfioc_states_v2)` (24 bytes on LP64).
pub const DIOCGETSTATESV2: u64 = iowr(b'D', 93, 24);
/// pfvar.h `struct pfioc_tm { int timeout; int seconds; }`: 8 bytes.
pub const PFIOC_TM: usize = 8;
/// pfvar.h `DIOCGETTIMEOUT _IOWR('D', 30, struct pfioc_tm)`; pf allows it on a read-only
/// descriptor (pf_ioctl.c's list of commands allowed without FWRITE).
pub const DIOCGETTIMEOUT: u64 = iowr(b'D', 30, PFIOC_TM);
/// pf.h `enum { PFTM_TCP_FIRST_PACKET = 0, PFTM_TCP_OPENING, PFTM_TCP_ESTABLISHED, ... }`.
pub const PFTM_TCP_ESTABLISHED: i32 = 2;
/// pf.h `PFTM_ADAPTIVE_START = 16`, `PFTM_ADAPTIVE_END = 17` (state counts, not seconds).
pub const PFTM_ADAPTIVE_START: i32 = 16;
pub const PFTM_ADAPTIVE_END: i32 = 17;

/// `IFNAMSIZ` (net/if.h).
const IFNAMSIZ: usize = 16;

/// A `struct ifreq` (32 bytes on LP64) with only `ifr_name` set, as `BIOCSETIF` reads it; an
/// error names an interface name that cannot fit (1–15 bytes, no NUL).
pub fn ifreq_with_name(interface: &str) -> Result<[u8; IFREQ], String> {
    let name = interface.as_bytes();
    if name.is_empty() || name.len() >= IFNAMSIZ || name.contains(&0) {
        return Err(format!(
            "interface name {interface:?} is not a FreeBSD interface name (1-15 bytes)"
        ));
    }
    let mut ifreq = [0u8; IFREQ];
    if let Some(dst) = ifreq.get_mut(..name.len()) {
        dst.copy_from_slice(name);
    }
    Ok(ifreq)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every value below is checked by scripts/check-freebsd-abi (LP64).
    #[test]
    fn matches_published_numbers() {
        assert_eq!(BIOCSBLEN, 0xc004_4266);
        assert_eq!(BIOCSTSTAMP, 0x8004_4284);
        assert_eq!(BIOCGTSTAMP, 0x4004_4283);
        assert_eq!(BIOCSETIF, 0x8020_426c);
        assert_eq!(BIOCGDLT, 0x4004_426a);
        assert_eq!(BIOCSETF, 0x8010_4267);
        assert_eq!(BIOCSETFNR, 0x8010_4282);
        assert_eq!(BIOCIMMEDIATE, 0x8004_4270);
        assert_eq!(BIOCSDIRECTION, 0x8004_4277);
        assert_eq!(BIOCPROMISC, 0x2000_4269);
        assert_eq!(BIOCLOCK, 0x2000_427a);
        assert_eq!(BIOCGSTATS, 0x4008_426f);
        assert_eq!(DIOCGETSTATESV2, 0xc018_445d);
        assert_eq!(DIOCGETTIMEOUT, 0xc008_441e);
    }

    /// Values from the libc crate's FreeBSD definitions (src/unix/bsd/mod.rs), which are
    /// generated from the C headers independently of this file.
    #[test]
    fn matches_libc_crate() {
        assert_eq!(BIOCGBLEN, 0x4004_4266);
        assert_eq!(BIOCFLUSH, 0x2000_4268);
        assert_eq!(BIOCVERSION, 0x4004_4271);
    }

    #[test]
    fn ifreq_holds_a_nul_terminated_name() {
        let ifreq = ifreq_with_name("igb0.10").unwrap();
        assert_eq!(&ifreq[..8], b"igb0.10\0");
        assert!(ifreq[8..].iter().all(|&b| b == 0));
        assert!(ifreq_with_name("a-very-long-name0")
            .unwrap_err()
            .contains("a-very-long-name0"));
        assert!(ifreq_with_name("").is_err());
        assert!(ifreq_with_name("em\u{0}0").is_err());
        // 15 bytes fit with the NUL; 16 do not.
        assert!(ifreq_with_name("abcdefghijklmno").is_ok());
        assert!(ifreq_with_name("abcdefghijklmnop").is_err());
    }
}
