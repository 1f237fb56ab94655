//! The classic BPF program every capture attaches: mail and DNS traffic only.
//!
//! Portable data: FreeBSD's `struct bpf_insn` and Linux's `struct sock_filter` have the same
//! layout (`u16 code, u8 jt, u8 jf, u32 k`), so the same array goes to `BIOCSETF` and to
//! `SO_ATTACH_FILTER`. The program only uses opcodes both kernels share (no Linux ancillary
//! loads), and at 104 instructions it is well under FreeBSD's limit of 512.
//!
//! Generated with tcpdump 4.99.3 / libpcap 1.10.3:
//!
//! ```text
//! tcpdump -y EN10MB -dd '(tcp and (port 993 or port 995 or port 143 or port 110 or port 587
//!   or port 465 or port 25 or port 53)) or (udp and port 53)
//!   or (vlan and ((tcp and (port 993 or port 995 or port 143 or port 110 or port 587
//!   or port 465 or port 25 or port 53)) or (udp and port 53)))'
//! ```
//!
//! (one line in the shell; wrapped here). It accepts Ethernet frames carrying IPv4 or IPv6 TCP
//! to or from the IMAP/POP3/SMTP ports and port 53, and UDP to or from port 53, untagged or with
//! one 802.1Q / 802.1ad tag. Like tcpdump it drops non-first IPv4 fragments and reads IPv6 ports
//! only when the first next-header is TCP or UDP (no extension-header walk). On Linux a VLAN tag
//! that the NIC stripped is not in the bytes the filter sees, so such frames match the untagged
//! half.
//!
//! The accept instruction returns tcpdump's default snap length (262144); [`program`] replaces
//! it with the configured one, since the return value of a classic BPF program is the number of
//! bytes to keep on both kernels.

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

    /// `ret #k` with a non-zero `k`: the accept instruction.
    fn is_accept(&self) -> bool {
        self.code == BPF_RET_K && self.k != 0
    }
}

/// `BPF_RET | BPF_K`.
const BPF_RET_K: u16 = 0x06;

/// Number of instructions in [`MAIL_DNS_PROGRAM`].
pub const PROGRAM_LEN: usize = 104;

/// The program exactly as tcpdump printed it (snap length 262144).
pub const MAIL_DNS_PROGRAM: [BpfInsn; PROGRAM_LEN] = [
    BpfInsn::new(0x28, 0, 0, 0x0000000c),
    BpfInsn::new(0x15, 0, 24, 0x00000800),
    BpfInsn::new(0x30, 0, 0, 0x00000017),
    BpfInsn::new(0x15, 0, 14, 0x00000006),
    BpfInsn::new(0x28, 0, 0, 0x00000014),
    BpfInsn::new(0x45, 97, 0, 0x00001fff),
    BpfInsn::new(0xb1, 0, 0, 0x0000000e),
    BpfInsn::new(0x48, 0, 0, 0x0000000e),
    BpfInsn::new(0x15, 93, 0, 0x000003e1),
    BpfInsn::new(0x15, 92, 0, 0x000003e3),
    BpfInsn::new(0x15, 91, 0, 0x0000008f),
    BpfInsn::new(0x15, 90, 0, 0x0000006e),
    BpfInsn::new(0x15, 89, 0, 0x0000024b),
    BpfInsn::new(0x15, 88, 0, 0x000001d1),
    BpfInsn::new(0x15, 87, 0, 0x00000019),
    BpfInsn::new(0x15, 86, 0, 0x00000035),
    BpfInsn::new(0x48, 0, 0, 0x00000010),
    BpfInsn::new(0x15, 84, 71, 0x000003e1),
    BpfInsn::new(0x15, 0, 84, 0x00000011),
    BpfInsn::new(0x28, 0, 0, 0x00000014),
    BpfInsn::new(0x45, 82, 0, 0x00001fff),
    BpfInsn::new(0xb1, 0, 0, 0x0000000e),
    BpfInsn::new(0x48, 0, 0, 0x0000000e),
    BpfInsn::new(0x15, 78, 0, 0x00000035),
    BpfInsn::new(0x48, 0, 0, 0x00000010),
    BpfInsn::new(0x15, 76, 77, 0x00000035),
    BpfInsn::new(0x15, 0, 19, 0x000086dd),
    BpfInsn::new(0x30, 0, 0, 0x00000014),
    BpfInsn::new(0x15, 0, 11, 0x00000006),
    BpfInsn::new(0x28, 0, 0, 0x00000036),
    BpfInsn::new(0x15, 71, 0, 0x000003e1),
    BpfInsn::new(0x15, 70, 0, 0x000003e3),
    BpfInsn::new(0x15, 69, 0, 0x0000008f),
    BpfInsn::new(0x15, 68, 0, 0x0000006e),
    BpfInsn::new(0x15, 67, 0, 0x0000024b),
    BpfInsn::new(0x15, 66, 0, 0x000001d1),
    BpfInsn::new(0x15, 65, 0, 0x00000019),
    BpfInsn::new(0x15, 64, 0, 0x00000035),
    BpfInsn::new(0x28, 0, 0, 0x00000038),
    BpfInsn::new(0x15, 62, 49, 0x000003e1),
    BpfInsn::new(0x15, 62, 0, 0x0000002c),
    BpfInsn::new(0x15, 0, 61, 0x00000011),
    BpfInsn::new(0x28, 0, 0, 0x00000036),
    BpfInsn::new(0x15, 58, 0, 0x00000035),
    BpfInsn::new(0x28, 0, 0, 0x00000038),
    BpfInsn::new(0x15, 56, 57, 0x00000035),
    BpfInsn::new(0x15, 2, 0, 0x00008100),
    BpfInsn::new(0x15, 1, 0, 0x000088a8),
    BpfInsn::new(0x15, 0, 54, 0x00009100),
    BpfInsn::new(0x28, 0, 0, 0x00000010),
    BpfInsn::new(0x15, 0, 24, 0x00000800),
    BpfInsn::new(0x30, 0, 0, 0x0000001b),
    BpfInsn::new(0x15, 0, 14, 0x00000006),
    BpfInsn::new(0x28, 0, 0, 0x00000018),
    BpfInsn::new(0x45, 48, 0, 0x00001fff),
    BpfInsn::new(0xb1, 0, 0, 0x00000012),
    BpfInsn::new(0x48, 0, 0, 0x00000012),
    BpfInsn::new(0x15, 44, 0, 0x000003e1),
    BpfInsn::new(0x15, 43, 0, 0x000003e3),
    BpfInsn::new(0x15, 42, 0, 0x0000008f),
    BpfInsn::new(0x15, 41, 0, 0x0000006e),
    BpfInsn::new(0x15, 40, 0, 0x0000024b),
    BpfInsn::new(0x15, 39, 0, 0x000001d1),
    BpfInsn::new(0x15, 38, 0, 0x00000019),
    BpfInsn::new(0x15, 37, 0, 0x00000035),
    BpfInsn::new(0x48, 0, 0, 0x00000014),
    BpfInsn::new(0x15, 35, 22, 0x000003e1),
    BpfInsn::new(0x15, 0, 35, 0x00000011),
    BpfInsn::new(0x28, 0, 0, 0x00000018),
    BpfInsn::new(0x45, 33, 0, 0x00001fff),
    BpfInsn::new(0xb1, 0, 0, 0x00000012),
    BpfInsn::new(0x48, 0, 0, 0x00000012),
    BpfInsn::new(0x15, 29, 0, 0x00000035),
    BpfInsn::new(0x48, 0, 0, 0x00000014),
    BpfInsn::new(0x15, 27, 28, 0x00000035),
    BpfInsn::new(0x15, 0, 27, 0x000086dd),
    BpfInsn::new(0x30, 0, 0, 0x00000018),
    BpfInsn::new(0x15, 0, 18, 0x00000006),
    BpfInsn::new(0x28, 0, 0, 0x0000003a),
    BpfInsn::new(0x15, 22, 0, 0x000003e1),
    BpfInsn::new(0x15, 21, 0, 0x000003e3),
    BpfInsn::new(0x15, 20, 0, 0x0000008f),
    BpfInsn::new(0x15, 19, 0, 0x0000006e),
    BpfInsn::new(0x15, 18, 0, 0x0000024b),
    BpfInsn::new(0x15, 17, 0, 0x000001d1),
    BpfInsn::new(0x15, 16, 0, 0x00000019),
    BpfInsn::new(0x15, 15, 0, 0x00000035),
    BpfInsn::new(0x28, 0, 0, 0x0000003c),
    BpfInsn::new(0x15, 13, 0, 0x000003e1),
    BpfInsn::new(0x15, 12, 0, 0x000003e3),
    BpfInsn::new(0x15, 11, 0, 0x0000008f),
    BpfInsn::new(0x15, 10, 0, 0x0000006e),
    BpfInsn::new(0x15, 9, 0, 0x0000024b),
    BpfInsn::new(0x15, 8, 0, 0x000001d1),
    BpfInsn::new(0x15, 7, 0, 0x00000019),
    BpfInsn::new(0x15, 6, 7, 0x00000035),
    BpfInsn::new(0x15, 6, 0, 0x0000002c),
    BpfInsn::new(0x15, 0, 5, 0x00000011),
    BpfInsn::new(0x28, 0, 0, 0x0000003a),
    BpfInsn::new(0x15, 2, 0, 0x00000035),
    BpfInsn::new(0x28, 0, 0, 0x0000003c),
    BpfInsn::new(0x15, 0, 1, 0x00000035),
    BpfInsn::new(0x06, 0, 0, 0x00040000),
    BpfInsn::new(0x06, 0, 0, 0x00000000),
];

/// The mail/DNS program with its accept value set to `snap_len` bytes (at least 1: a zero
/// return would drop every frame).
pub fn program(snap_len: u32) -> [BpfInsn; PROGRAM_LEN] {
    let mut insns = MAIL_DNS_PROGRAM;
    for insn in insns.iter_mut().filter(|insn| insn.is_accept()) {
        insn.k = snap_len.max(1);
    }
    insns
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A small classic-BPF interpreter, enough for the opcodes tcpdump emits here. Loads past
    /// the end of the packet end the program with 0 (drop), as both kernels do.
    fn run(prog: &[BpfInsn], pkt: &[u8]) -> u32 {
        let (mut a, mut x, mut pc) = (0u32, 0u32, 0usize);
        let load = |off: usize, size: usize| -> Option<u32> {
            let bytes = pkt.get(off..off.checked_add(size)?)?;
            Some(bytes.iter().fold(0u32, |acc, b| (acc << 8) | u32::from(*b)))
        };
        for _ in 0..=prog.len() {
            let insn = prog[pc];
            let k = insn.k as usize;
            pc += 1;
            let size = match insn.code & 0x18 {
                0x00 => 4,
                0x08 => 2,
                _ => 1,
            };
            match insn.code {
                // ld{,h,b} [k]
                0x20 | 0x28 | 0x30 => match load(k, size) {
                    Some(v) => a = v,
                    None => return 0,
                },
                // ld{,h,b} [x + k]
                0x40 | 0x48 | 0x50 => match load(x as usize + k, size) {
                    Some(v) => a = v,
                    None => return 0,
                },
                // ldxb 4*([k]&0xf)
                0xb1 => match load(k, 1) {
                    Some(v) => x = 4 * (v & 0xf),
                    None => return 0,
                },
                // jeq / jgt / jge / jset #k
                0x15 | 0x25 | 0x35 | 0x45 => {
                    let taken = match insn.code {
                        0x15 => a == insn.k,
                        0x25 => a > insn.k,
                        0x35 => a >= insn.k,
                        _ => a & insn.k != 0,
                    };
                    pc += usize::from(if taken { insn.jt } else { insn.jf });
                }
                0x06 => return insn.k,
                0x16 => return a,
                other => panic!("opcode {other:#x} not in the interpreter"),
            }
        }
        panic!("program did not return")
    }

    const MAC: [u8; 12] = [2, 0, 0, 0, 0, 1, 2, 0, 0, 0, 0, 2];

    fn ether(ethertype: u16, payload: &[u8]) -> Vec<u8> {
        let mut f = MAC.to_vec();
        f.extend_from_slice(&ethertype.to_be_bytes());
        f.extend_from_slice(payload);
        f
    }

    fn vlan(tpid: u16, vid: u16, ethertype: u16, payload: &[u8]) -> Vec<u8> {
        let mut f = MAC.to_vec();
        f.extend_from_slice(&tpid.to_be_bytes());
        f.extend_from_slice(&vid.to_be_bytes());
        f.extend_from_slice(&ethertype.to_be_bytes());
        f.extend_from_slice(payload);
        f
    }

    /// RFC 791 header with IHL `ihl` words (options zero-filled), protocol and fragment field.
    fn ipv4(ihl: u8, proto: u8, frag: u16, payload: &[u8]) -> Vec<u8> {
        let hlen = usize::from(ihl) * 4;
        let total = (hlen + payload.len()) as u16;
        let mut h = vec![0u8; hlen];
        h[0] = 0x40 | ihl;
        h[2..4].copy_from_slice(&total.to_be_bytes());
        h[6..8].copy_from_slice(&frag.to_be_bytes());
        h[8] = 64;
        h[9] = proto;
        h[12..16].copy_from_slice(&[192, 168, 1, 20]);
        h[16..20].copy_from_slice(&[203, 0, 113, 7]);
        h.extend_from_slice(payload);
        h
    }

    /// RFC 8200 fixed header.
    fn ipv6(next: u8, payload: &[u8]) -> Vec<u8> {
        let mut h = vec![0u8; 40];
        h[0] = 0x60;
        h[4..6].copy_from_slice(&(payload.len() as u16).to_be_bytes());
        h[6] = next;
        h[7] = 64;
        h[8] = 0xfd;
        h[24] = 0x20;
        h[25] = 0x01;
        h.extend_from_slice(payload);
        h
    }

    fn ports(sport: u16, dport: u16, len: usize) -> Vec<u8> {
        let mut h = vec![0u8; len];
        h[0..2].copy_from_slice(&sport.to_be_bytes());
        h[2..4].copy_from_slice(&dport.to_be_bytes());
        h
    }

    fn tcp(sport: u16, dport: u16) -> Vec<u8> {
        let mut h = ports(sport, dport, 20);
        h[12] = 5 << 4;
        h[13] = 0x02; // SYN
        h
    }

    fn udp(sport: u16, dport: u16) -> Vec<u8> {
        let mut h = ports(sport, dport, 8);
        h[4..6].copy_from_slice(&8u16.to_be_bytes());
        h
    }

    /// Frames with the verdict the filter expression (not the program) calls for.
    fn cases() -> Vec<(&'static str, Vec<u8>, bool)> {
        vec![
            (
                "imaps v4 to server",
                ether(0x0800, &ipv4(5, 6, 0x4000, &tcp(51514, 993))),
                true,
            ),
            (
                "imaps v4 from server",
                ether(0x0800, &ipv4(5, 6, 0, &tcp(993, 51514))),
                true,
            ),
            (
                "pop3s v4",
                ether(0x0800, &ipv4(5, 6, 0, &tcp(40000, 995))),
                true,
            ),
            (
                "imap v4",
                ether(0x0800, &ipv4(5, 6, 0, &tcp(40000, 143))),
                true,
            ),
            (
                "pop3 v4",
                ether(0x0800, &ipv4(5, 6, 0, &tcp(110, 40000))),
                true,
            ),
            (
                "submission v4",
                ether(0x0800, &ipv4(5, 6, 0, &tcp(40000, 587))),
                true,
            ),
            (
                "smtps v4",
                ether(0x0800, &ipv4(5, 6, 0, &tcp(40000, 465))),
                true,
            ),
            (
                "smtp v4",
                ether(0x0800, &ipv4(5, 6, 0, &tcp(40000, 25))),
                true,
            ),
            (
                "dns over tcp v4",
                ether(0x0800, &ipv4(5, 6, 0, &tcp(40000, 53))),
                true,
            ),
            (
                "imaps v4 with ip options",
                ether(0x0800, &ipv4(6, 6, 0, &tcp(40000, 993))),
                true,
            ),
            (
                "dns udp v4 query",
                ether(0x0800, &ipv4(5, 17, 0, &udp(40000, 53))),
                true,
            ),
            (
                "dns udp v4 answer",
                ether(0x0800, &ipv4(5, 17, 0, &udp(53, 40000))),
                true,
            ),
            ("imaps v6", ether(0x86dd, &ipv6(6, &tcp(40000, 993))), true),
            (
                "smtps v6 from server",
                ether(0x86dd, &ipv6(6, &tcp(465, 40000))),
                true,
            ),
            (
                "dns udp v6",
                ether(0x86dd, &ipv6(17, &udp(40000, 53))),
                true,
            ),
            (
                "vlan imaps v4",
                vlan(0x8100, 10, 0x0800, &ipv4(5, 6, 0, &tcp(40000, 993))),
                true,
            ),
            (
                "vlan dns udp v4",
                vlan(0x8100, 10, 0x0800, &ipv4(5, 17, 0, &udp(53, 40000))),
                true,
            ),
            (
                "vlan imaps v6",
                vlan(0x8100, 10, 0x86dd, &ipv6(6, &tcp(993, 40000))),
                true,
            ),
            (
                "qinq outer imaps v4",
                vlan(0x88a8, 10, 0x0800, &ipv4(5, 6, 0, &tcp(40000, 993))),
                true,
            ),
            (
                "https v4",
                ether(0x0800, &ipv4(5, 6, 0, &tcp(40000, 443))),
                false,
            ),
            (
                "http-alt v4",
                ether(0x0800, &ipv4(5, 6, 0, &tcp(40000, 8080))),
                false,
            ),
            (
                "udp 993 v4",
                ether(0x0800, &ipv4(5, 17, 0, &udp(40000, 993))),
                false,
            ),
            (
                "mdns udp v4",
                ether(0x0800, &ipv4(5, 17, 0, &udp(5353, 5353))),
                false,
            ),
            (
                "icmp v4",
                ether(0x0800, &ipv4(5, 1, 0, &[8, 0, 0, 0, 0, 0, 0, 0])),
                false,
            ),
            (
                "non-first fragment",
                ether(0x0800, &ipv4(5, 6, 0x00b9, &tcp(40000, 993))),
                false,
            ),
            ("https v6", ether(0x86dd, &ipv6(6, &tcp(40000, 443))), false),
            (
                "v6 fragment header",
                ether(0x86dd, &ipv6(44, &tcp(40000, 993))),
                false,
            ),
            ("arp", ether(0x0806, &[0u8; 28]), false),
            (
                "vlan https v4",
                vlan(0x8100, 10, 0x0800, &ipv4(5, 6, 0, &tcp(40000, 443))),
                false,
            ),
            (
                "truncated imaps v4",
                ether(0x0800, &ipv4(5, 6, 0, &[0x03])),
                false,
            ),
        ]
    }

    #[test]
    fn accepts_mail_and_dns_and_rejects_the_rest() {
        let prog = program(192);
        for (name, frame, wanted) in cases() {
            let verdict = run(&prog, &frame);
            if wanted {
                assert_eq!(
                    verdict, 192,
                    "{name} should be accepted with the snap length"
                );
            } else {
                assert_eq!(verdict, 0, "{name} should be dropped");
            }
        }
    }

    #[test]
    fn snap_length_is_patched_in_every_accept_and_nowhere_else() {
        let prog = program(300);
        let changed: Vec<usize> = (0..PROGRAM_LEN)
            .filter(|&i| prog[i] != MAIL_DNS_PROGRAM[i])
            .collect();
        assert_eq!(
            changed,
            vec![102],
            "tcpdump's listing has one accept, at 102"
        );
        assert_eq!(prog[102], BpfInsn::new(0x06, 0, 0, 300));
        assert_eq!(prog[103], BpfInsn::new(0x06, 0, 0, 0), "the drop stays 0");
        assert_eq!(
            program(0)[102].k,
            1,
            "snap length 0 must not turn accept into drop"
        );
    }

    #[test]
    fn every_jump_stays_inside_the_program() {
        for (i, insn) in MAIL_DNS_PROGRAM.iter().enumerate() {
            if insn.code & 0x07 == 0x05 {
                assert!(
                    i + 1 + usize::from(insn.jt.max(insn.jf)) < PROGRAM_LEN,
                    "insn {i}"
                );
            }
        }
        assert_eq!(
            std::mem::size_of::<BpfInsn>(),
            8,
            "struct bpf_insn is 8 bytes"
        );
    }

    /// Cross-check against libpcap itself: tcpdump reads the same frames from a pcap file with
    /// the filter expression and must select exactly the frames the table expects.
    #[test]
    fn tcpdump_selects_the_same_frames() {
        let cases = cases();
        let mut pcap = Vec::new();
        // pcap global header: magic, v2.4, thiszone, sigfigs, snaplen, LINKTYPE_ETHERNET.
        pcap.extend_from_slice(&0xa1b2_c3d4u32.to_le_bytes());
        pcap.extend_from_slice(&2u16.to_le_bytes());
        pcap.extend_from_slice(&4u16.to_le_bytes());
        for v in [0u32, 0, 65535, 1] {
            pcap.extend_from_slice(&v.to_le_bytes());
        }
        for (i, (_, frame, _)) in cases.iter().enumerate() {
            let len = frame.len() as u32;
            for v in [1_700_000_000u32 + i as u32, 0, len, len] {
                pcap.extend_from_slice(&v.to_le_bytes());
            }
            pcap.extend_from_slice(frame);
        }
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("cases.pcap");
        std::fs::write(&path, &pcap).expect("write pcap");
        let mail = "(tcp and (port 993 or port 995 or port 143 or port 110 or port 587 \
                    or port 465 or port 25 or port 53)) or (udp and port 53)";
        let expr = format!("{mail} or (vlan and ({mail}))");
        let out = std::process::Command::new("tcpdump")
            .args(["-nn", "-tt", "-r"])
            .arg(&path)
            .arg(&expr)
            .output()
            .expect("tcpdump is needed for this test (apt-get install tcpdump)");
        assert!(
            out.status.success(),
            "tcpdump failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let selected: Vec<usize> = String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter_map(|l| l.split('.').next()?.parse::<u64>().ok())
            .map(|secs| (secs - 1_700_000_000) as usize)
            .collect();
        let wanted: Vec<usize> = (0..cases.len()).filter(|&i| cases[i].2).collect();
        assert_eq!(
            selected, wanted,
            "tcpdump disagrees with the expected verdicts"
        );
    }
}
