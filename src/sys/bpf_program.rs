//! PLACEHOLDER for the shared classic BPF program, written on the Linux side of `sys`.
//!
//! This file exists only so the FreeBSD capture compiles on its own branch; the real module
//! (mail *and* DNS, VLAN-aware) replaces it when the branches are merged. It has the same API
//! (`BpfInsn`, `PROGRAM_LEN`, `MAIL_DNS_PROGRAM`, `program`) and holds the mail-only Ethernet
//! program of kernel-interfaces.md §4.1 (tcpdump 4.99.3 -dd, 35 instructions).

/// One classic BPF instruction (`struct bpf_insn` / `struct sock_filter`).
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BpfInsn {
    pub code: u16,
    pub jt: u8,
    pub jf: u8,
    pub k: u32,
}

impl BpfInsn {
    const fn new(code: u16, jt: u8, jf: u8, k: u32) -> Self {
        Self { code, jt, jf, k }
    }
}

/// Number of instructions in [`MAIL_DNS_PROGRAM`].
pub const PROGRAM_LEN: usize = 35;

/// The program as tcpdump printed it (snap length 262144).
pub const MAIL_DNS_PROGRAM: [BpfInsn; PROGRAM_LEN] = [
    BpfInsn::new(0x28, 0, 0, 0x0000000c),
    BpfInsn::new(0x15, 0, 14, 0x00000800),
    BpfInsn::new(0x30, 0, 0, 0x00000017),
    BpfInsn::new(0x15, 0, 30, 0x00000006),
    BpfInsn::new(0x28, 0, 0, 0x00000014),
    BpfInsn::new(0x45, 28, 0, 0x00001fff),
    BpfInsn::new(0xb1, 0, 0, 0x0000000e),
    BpfInsn::new(0x48, 0, 0, 0x0000000e),
    BpfInsn::new(0x15, 24, 0, 0x000003e1),
    BpfInsn::new(0x15, 23, 0, 0x000003e3),
    BpfInsn::new(0x15, 22, 0, 0x0000008f),
    BpfInsn::new(0x15, 21, 0, 0x0000006e),
    BpfInsn::new(0x15, 20, 0, 0x0000024b),
    BpfInsn::new(0x15, 19, 0, 0x000001d1),
    BpfInsn::new(0x48, 0, 0, 0x00000010),
    BpfInsn::new(0x15, 17, 12, 0x000003e1),
    BpfInsn::new(0x15, 0, 17, 0x000086dd),
    BpfInsn::new(0x30, 0, 0, 0x00000014),
    BpfInsn::new(0x15, 0, 15, 0x00000006),
    BpfInsn::new(0x28, 0, 0, 0x00000036),
    BpfInsn::new(0x15, 12, 0, 0x000003e1),
    BpfInsn::new(0x15, 11, 0, 0x000003e3),
    BpfInsn::new(0x15, 10, 0, 0x0000008f),
    BpfInsn::new(0x15, 9, 0, 0x0000006e),
    BpfInsn::new(0x15, 8, 0, 0x0000024b),
    BpfInsn::new(0x15, 7, 0, 0x000001d1),
    BpfInsn::new(0x28, 0, 0, 0x00000038),
    BpfInsn::new(0x15, 5, 0, 0x000003e1),
    BpfInsn::new(0x15, 4, 0, 0x000003e3),
    BpfInsn::new(0x15, 3, 0, 0x0000008f),
    BpfInsn::new(0x15, 2, 0, 0x0000006e),
    BpfInsn::new(0x15, 1, 0, 0x0000024b),
    BpfInsn::new(0x15, 0, 1, 0x000001d1),
    BpfInsn::new(0x6, 0, 0, 0x00040000),
    BpfInsn::new(0x6, 0, 0, 0x00000000),
];

/// The program with its accepting `ret` set to `snap_len` (at least 1).
pub fn program(snap_len: u32) -> [BpfInsn; PROGRAM_LEN] {
    let mut insns = MAIL_DNS_PROGRAM;
    for insn in insns.iter_mut().filter(|i| i.code == 0x06 && i.k != 0) {
        insn.k = snap_len.max(1);
    }
    insns
}
