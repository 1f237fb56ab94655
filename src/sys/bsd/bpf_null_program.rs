//! The mail/DNS capture filter for DLT_NULL interfaces (lo0, tun, ovpn, wg, gif).
//!
//! The shared program in `sys::bpf_program` expects Ethernet; on DLT_NULL the link header is a
//! 4-byte address family in host order (bpf(4), DLT_NULL), so the same
//! expression is compiled again for that link type. Generated with tcpdump 4.99.3 / libpcap
//! 1.10.3 on a little-endian host from an empty DLT_NULL capture file:
//!
//! ```text
//! tcpdump -r null.pcap -dd '(tcp and (port 993 or port 995 or port 143 or port 110 or
//!   port 587 or port 465 or port 25 or port 53)) or (udp and port 53)'
//! ```
//!
//! libpcap compares the family as `htonl(AF)` against a big-endian load of the first word,
//! which is right for a little-endian kernel (amd64, aarch64). It accepts IPv6 under each BSD's
//! AF_INET6 number (24, 28, 30). The readable listing is `tests/data/freebsd/null_filter.bpf.txt`.

/// One classic BPF instruction: `struct bpf_insn {u_short code; u_char jt; u_char jf;
/// bpf_u_int32 k}` (bpf.h), 8 bytes.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Insn {
    pub code: u16,
    pub jt: u8,
    pub jf: u8,
    pub k: u32,
}

impl Insn {
    /// An instruction from its four fields.
    pub const fn new(code: u16, jt: u8, jf: u8, k: u32) -> Self {
        Self { code, jt, jf, k }
    }
}

/// `BPF_RET | BPF_K`.
const BPF_RET_K: u16 = 0x06;

/// The program exactly as tcpdump printed it (accept returns 262144 bytes).
pub const NULL_MAIL_DNS_PROGRAM: [Insn; 160] = [
    Insn::new(0x20, 0, 0, 0x00000000),
    Insn::new(0x15, 0, 31, 0x02000000),
    Insn::new(0x30, 0, 0, 0x0000000d),
    Insn::new(0x15, 0, 21, 0x00000006),
    Insn::new(0x28, 0, 0, 0x0000000a),
    Insn::new(0x45, 153, 0, 0x00001fff),
    Insn::new(0xb1, 0, 0, 0x00000004),
    Insn::new(0x48, 0, 0, 0x00000004),
    Insn::new(0x15, 149, 0, 0x000003e1),
    Insn::new(0x15, 148, 0, 0x000003e3),
    Insn::new(0x15, 147, 0, 0x0000008f),
    Insn::new(0x15, 146, 0, 0x0000006e),
    Insn::new(0x15, 145, 0, 0x0000024b),
    Insn::new(0x15, 144, 0, 0x000001d1),
    Insn::new(0x15, 143, 0, 0x00000019),
    Insn::new(0x15, 142, 0, 0x00000035),
    Insn::new(0x48, 0, 0, 0x00000006),
    Insn::new(0x15, 140, 0, 0x000003e1),
    Insn::new(0x15, 139, 0, 0x000003e3),
    Insn::new(0x15, 138, 0, 0x0000008f),
    Insn::new(0x15, 137, 0, 0x0000006e),
    Insn::new(0x15, 136, 0, 0x0000024b),
    Insn::new(0x15, 135, 0, 0x000001d1),
    Insn::new(0x15, 134, 0, 0x00000019),
    Insn::new(0x15, 133, 134, 0x00000035),
    Insn::new(0x15, 0, 133, 0x00000011),
    Insn::new(0x28, 0, 0, 0x0000000a),
    Insn::new(0x45, 131, 0, 0x00001fff),
    Insn::new(0xb1, 0, 0, 0x00000004),
    Insn::new(0x48, 0, 0, 0x00000004),
    Insn::new(0x15, 127, 0, 0x00000035),
    Insn::new(0x48, 0, 0, 0x00000006),
    Insn::new(0x15, 125, 126, 0x00000035),
    Insn::new(0x15, 2, 0, 0x1e000000),
    Insn::new(0x15, 1, 0, 0x18000000),
    Insn::new(0x15, 0, 123, 0x1c000000),
    Insn::new(0x30, 0, 0, 0x0000000a),
    Insn::new(0x15, 3, 0, 0x00000006),
    Insn::new(0x15, 0, 98, 0x0000002c),
    Insn::new(0x30, 0, 0, 0x0000002c),
    Insn::new(0x15, 0, 96, 0x00000006),
    Insn::new(0x20, 0, 0, 0x00000000),
    Insn::new(0x15, 2, 0, 0x1e000000),
    Insn::new(0x15, 1, 0, 0x18000000),
    Insn::new(0x15, 0, 114, 0x1c000000),
    Insn::new(0x30, 0, 0, 0x0000000a),
    Insn::new(0x15, 2, 0, 0x00000084),
    Insn::new(0x15, 1, 0, 0x00000006),
    Insn::new(0x15, 0, 4, 0x00000011),
    Insn::new(0x28, 0, 0, 0x0000002c),
    Insn::new(0x15, 107, 0, 0x000003e1),
    Insn::new(0x28, 0, 0, 0x0000002e),
    Insn::new(0x15, 105, 0, 0x000003e1),
    Insn::new(0x20, 0, 0, 0x00000000),
    Insn::new(0x15, 2, 0, 0x1e000000),
    Insn::new(0x15, 1, 0, 0x18000000),
    Insn::new(0x15, 0, 102, 0x1c000000),
    Insn::new(0x30, 0, 0, 0x0000000a),
    Insn::new(0x15, 2, 0, 0x00000084),
    Insn::new(0x15, 1, 0, 0x00000006),
    Insn::new(0x15, 0, 4, 0x00000011),
    Insn::new(0x28, 0, 0, 0x0000002c),
    Insn::new(0x15, 95, 0, 0x000003e3),
    Insn::new(0x28, 0, 0, 0x0000002e),
    Insn::new(0x15, 93, 0, 0x000003e3),
    Insn::new(0x20, 0, 0, 0x00000000),
    Insn::new(0x15, 2, 0, 0x1e000000),
    Insn::new(0x15, 1, 0, 0x18000000),
    Insn::new(0x15, 0, 90, 0x1c000000),
    Insn::new(0x30, 0, 0, 0x0000000a),
    Insn::new(0x15, 2, 0, 0x00000084),
    Insn::new(0x15, 1, 0, 0x00000006),
    Insn::new(0x15, 0, 4, 0x00000011),
    Insn::new(0x28, 0, 0, 0x0000002c),
    Insn::new(0x15, 83, 0, 0x0000008f),
    Insn::new(0x28, 0, 0, 0x0000002e),
    Insn::new(0x15, 81, 0, 0x0000008f),
    Insn::new(0x20, 0, 0, 0x00000000),
    Insn::new(0x15, 2, 0, 0x1e000000),
    Insn::new(0x15, 1, 0, 0x18000000),
    Insn::new(0x15, 0, 78, 0x1c000000),
    Insn::new(0x30, 0, 0, 0x0000000a),
    Insn::new(0x15, 2, 0, 0x00000084),
    Insn::new(0x15, 1, 0, 0x00000006),
    Insn::new(0x15, 0, 4, 0x00000011),
    Insn::new(0x28, 0, 0, 0x0000002c),
    Insn::new(0x15, 71, 0, 0x0000006e),
    Insn::new(0x28, 0, 0, 0x0000002e),
    Insn::new(0x15, 69, 0, 0x0000006e),
    Insn::new(0x20, 0, 0, 0x00000000),
    Insn::new(0x15, 2, 0, 0x1e000000),
    Insn::new(0x15, 1, 0, 0x18000000),
    Insn::new(0x15, 0, 66, 0x1c000000),
    Insn::new(0x30, 0, 0, 0x0000000a),
    Insn::new(0x15, 2, 0, 0x00000084),
    Insn::new(0x15, 1, 0, 0x00000006),
    Insn::new(0x15, 0, 4, 0x00000011),
    Insn::new(0x28, 0, 0, 0x0000002c),
    Insn::new(0x15, 59, 0, 0x0000024b),
    Insn::new(0x28, 0, 0, 0x0000002e),
    Insn::new(0x15, 57, 0, 0x0000024b),
    Insn::new(0x20, 0, 0, 0x00000000),
    Insn::new(0x15, 2, 0, 0x1e000000),
    Insn::new(0x15, 1, 0, 0x18000000),
    Insn::new(0x15, 0, 54, 0x1c000000),
    Insn::new(0x30, 0, 0, 0x0000000a),
    Insn::new(0x15, 2, 0, 0x00000084),
    Insn::new(0x15, 1, 0, 0x00000006),
    Insn::new(0x15, 0, 4, 0x00000011),
    Insn::new(0x28, 0, 0, 0x0000002c),
    Insn::new(0x15, 47, 0, 0x000001d1),
    Insn::new(0x28, 0, 0, 0x0000002e),
    Insn::new(0x15, 45, 0, 0x000001d1),
    Insn::new(0x20, 0, 0, 0x00000000),
    Insn::new(0x15, 2, 0, 0x1e000000),
    Insn::new(0x15, 1, 0, 0x18000000),
    Insn::new(0x15, 0, 42, 0x1c000000),
    Insn::new(0x30, 0, 0, 0x0000000a),
    Insn::new(0x15, 2, 0, 0x00000084),
    Insn::new(0x15, 1, 0, 0x00000006),
    Insn::new(0x15, 0, 4, 0x00000011),
    Insn::new(0x28, 0, 0, 0x0000002c),
    Insn::new(0x15, 35, 0, 0x00000019),
    Insn::new(0x28, 0, 0, 0x0000002e),
    Insn::new(0x15, 33, 0, 0x00000019),
    Insn::new(0x20, 0, 0, 0x00000000),
    Insn::new(0x15, 2, 0, 0x1e000000),
    Insn::new(0x15, 1, 0, 0x18000000),
    Insn::new(0x15, 0, 30, 0x1c000000),
    Insn::new(0x30, 0, 0, 0x0000000a),
    Insn::new(0x15, 2, 0, 0x00000084),
    Insn::new(0x15, 1, 0, 0x00000006),
    Insn::new(0x15, 0, 4, 0x00000011),
    Insn::new(0x28, 0, 0, 0x0000002c),
    Insn::new(0x15, 23, 0, 0x00000035),
    Insn::new(0x28, 0, 0, 0x0000002e),
    Insn::new(0x15, 21, 0, 0x00000035),
    Insn::new(0x20, 0, 0, 0x00000000),
    Insn::new(0x15, 2, 0, 0x1e000000),
    Insn::new(0x15, 1, 0, 0x18000000),
    Insn::new(0x15, 0, 18, 0x1c000000),
    Insn::new(0x30, 0, 0, 0x0000000a),
    Insn::new(0x15, 3, 0, 0x00000011),
    Insn::new(0x15, 0, 15, 0x0000002c),
    Insn::new(0x30, 0, 0, 0x0000002c),
    Insn::new(0x15, 0, 13, 0x00000011),
    Insn::new(0x20, 0, 0, 0x00000000),
    Insn::new(0x15, 2, 0, 0x1e000000),
    Insn::new(0x15, 1, 0, 0x18000000),
    Insn::new(0x15, 0, 9, 0x1c000000),
    Insn::new(0x30, 0, 0, 0x0000000a),
    Insn::new(0x15, 2, 0, 0x00000084),
    Insn::new(0x15, 1, 0, 0x00000006),
    Insn::new(0x15, 0, 5, 0x00000011),
    Insn::new(0x28, 0, 0, 0x0000002c),
    Insn::new(0x15, 2, 0, 0x00000035),
    Insn::new(0x28, 0, 0, 0x0000002e),
    Insn::new(0x15, 0, 1, 0x00000035),
    Insn::new(0x6, 0, 0, 0x00040000),
    Insn::new(0x6, 0, 0, 0x00000000),
];

/// The DLT_NULL program with every accepting `ret` set to `snap_len` (at least 1).
pub fn null_program(snap_len: u32) -> Vec<Insn> {
    NULL_MAIL_DNS_PROGRAM
        .iter()
        .map(|insn| {
            let mut insn = *insn;
            if insn.code == BPF_RET_K && insn.k != 0 {
                insn.k = snap_len.max(1);
            }
            insn
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A minimal classic-BPF interpreter for the opcodes in this program (bpf.h encodings:
    /// ld/ldh/ldb [k] 0x20/0x28/0x30, ldh [x+k] 0x48, ldxb 4*([k]&0xf) 0xb1, jeq 0x15,
    /// jset 0x45, ret #k 0x06). Loads past the packet end return 0, as the kernel does.
    fn run(prog: &[Insn], pkt: &[u8]) -> u32 {
        let load = |off: usize, size: usize| -> Option<u32> {
            let bytes = pkt.get(off..off.checked_add(size)?)?;
            Some(bytes.iter().fold(0u32, |acc, b| (acc << 8) | u32::from(*b)))
        };
        let (mut a, mut x, mut pc) = (0u32, 0u32, 0usize);
        loop {
            let insn = prog[pc];
            let k = insn.k as usize;
            pc += 1;
            let loaded = match insn.code {
                0x20 => Some(load(k, 4)),
                0x28 => Some(load(k, 2)),
                0x30 => Some(load(k, 1)),
                0x48 => Some(load(x as usize + k, 2)),
                _ => None,
            };
            match (insn.code, loaded) {
                (_, Some(Some(v))) => a = v,
                (_, Some(None)) => return 0,
                (0xb1, _) => match load(k, 1) {
                    Some(v) => x = 4 * (v & 0xf),
                    None => return 0,
                },
                (0x15, _) => pc += usize::from(if a == insn.k { insn.jt } else { insn.jf }),
                (0x45, _) => pc += usize::from(if a & insn.k != 0 { insn.jt } else { insn.jf }),
                (0x06, _) => return insn.k,
                (code, _) => panic!("opcode {code:#x} not in this program"),
            }
        }
    }

    /// A DLT_NULL frame: the family as a little-endian u32 (FreeBSD amd64/aarch64), then IP.
    fn null_frame(af: u32, ip: &[u8]) -> Vec<u8> {
        let mut f = af.to_le_bytes().to_vec();
        f.extend_from_slice(ip);
        f
    }

    /// IPv4 header (RFC 791, IHL 5) + the first 4 bytes of a TCP/UDP header (ports).
    fn v4(proto: u8, sport: u16, dport: u16) -> Vec<u8> {
        let mut ip = vec![
            0x45, 0, 0, 40, 0, 0, 0x40, 0, 64, proto, 0, 0, 10, 0, 0, 2, 192, 0, 2, 7,
        ];
        ip.extend_from_slice(&sport.to_be_bytes());
        ip.extend_from_slice(&dport.to_be_bytes());
        ip.extend_from_slice(&[0; 16]);
        ip
    }

    /// IPv6 header (RFC 8200, next header at byte 6) + ports.
    fn v6(next: u8, sport: u16, dport: u16) -> Vec<u8> {
        let mut ip = vec![0x60, 0, 0, 0, 0, 20, next, 64];
        ip.extend_from_slice(&[0x20, 0x01, 0x0d, 0xb8].repeat(8));
        ip.extend_from_slice(&sport.to_be_bytes());
        ip.extend_from_slice(&dport.to_be_bytes());
        ip.extend_from_slice(&[0; 16]);
        ip
    }

    const AF_INET: u32 = 2;
    /// FreeBSD's AF_INET6.
    const AF_INET6: u32 = 28;

    #[test]
    fn accepts_mail_and_dns_on_dlt_null() {
        let prog = null_program(192);
        assert_eq!(run(&prog, &null_frame(AF_INET, &v4(6, 51514, 993))), 192);
        assert_eq!(run(&prog, &null_frame(AF_INET, &v4(6, 587, 40000))), 192);
        assert_eq!(run(&prog, &null_frame(AF_INET, &v4(17, 5353, 53))), 192);
        assert_eq!(run(&prog, &null_frame(AF_INET6, &v6(6, 50000, 465))), 192);
        assert_eq!(run(&prog, &null_frame(AF_INET6, &v6(17, 53, 50000))), 192);
    }

    #[test]
    fn drops_everything_else() {
        let prog = null_program(192);
        assert_eq!(run(&prog, &null_frame(AF_INET, &v4(6, 51514, 443))), 0);
        assert_eq!(run(&prog, &null_frame(AF_INET, &v4(17, 5000, 123))), 0);
        // UDP to a mail port is not mail.
        assert_eq!(run(&prog, &null_frame(AF_INET, &v4(17, 5000, 993))), 0);
        assert_eq!(run(&prog, &null_frame(AF_INET6, &v6(6, 50000, 80))), 0);
        // The family in network order is not what a little-endian kernel writes.
        assert_eq!(
            run(&prog, &null_frame(AF_INET.swap_bytes(), &v4(6, 1, 993))),
            0
        );
        assert_eq!(run(&prog, &[2, 0]), 0);
    }

    #[test]
    fn non_first_fragment_is_dropped() {
        let mut ip = v4(6, 51514, 993);
        ip[6] = 0x00;
        ip[7] = 0x10; // fragment offset 16
        assert_eq!(run(&null_program(192), &null_frame(AF_INET, &ip)), 0);
    }

    #[test]
    fn within_freebsd_limits() {
        // net.bpf.maxinsns defaults to 512 (bpf(4), sysctl net.bpf.maxinsns).
        assert!(NULL_MAIL_DNS_PROGRAM.len() <= 512);
        assert_eq!(std::mem::size_of::<Insn>(), 8);
        assert_eq!(null_program(0).last(), Some(&Insn::new(0x6, 0, 0, 0)));
        assert!(null_program(0).iter().any(|i| i.code == 0x6 && i.k == 1));
    }
}
