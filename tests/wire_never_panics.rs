//! Every parser takes arbitrary bytes without panicking, and the stateful pieces (line
//! framing, the tracker) stay bounded.

use mailpulse::time::Timestamp;
use mailpulse::track::{Tracker, TrackerConfig};
use mailpulse::wire::{
    self, dns, ethernet, imap, ipv4, ipv6, line::LineFramer, pop3, smtp, tcp, tls, udp, Frame,
    LinkType,
};
use proptest::prelude::*;

const LINK_TYPES: [LinkType; 8] = [
    LinkType::NULL,
    LinkType::ETHERNET,
    LinkType::RAW,
    LinkType::LOOP,
    LinkType::LINUX_SLL,
    LinkType::IPV4,
    LinkType::IPV6,
    LinkType::LINUX_SLL2,
];

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn link_and_ip_decoding_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..200), lt in 0usize..8) {
        let _ = wire::decode(LINK_TYPES[lt], &bytes);
        let _ = ethernet::untag(&bytes);
        if let Ok(p) = ipv4::Packet::new_checked(&bytes[..]) {
            let _ = (p.payload(), p.frag_offset(), p.src_addr());
        }
        if let Ok(p) = ipv6::Packet::new_checked(&bytes[..]) {
            let _ = p.upper_layer();
        }
        if let Ok(p) = udp::Packet::new_checked(&bytes[..]) {
            let _ = p.payload();
        }
    }

    #[test]
    fn tcp_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..80)) {
        if let Ok(p) = tcp::Packet::new_checked(&bytes[..]) {
            prop_assert!(p.header_len() >= 20);
            prop_assert_eq!(p.payload().len(), bytes.len() - p.header_len());
        }
    }

    #[test]
    fn dns_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
        if let Ok(p) = dns::Packet::new_checked(&bytes[..]) {
            let _ = p.question();
            if let Ok(answers) = p.answer_addresses() {
                prop_assert!(answers.count() <= usize::from(p.answer_count()));
            }
        }
        for offset in 0..bytes.len().min(16) {
            if let Ok((name, _)) = dns::read_name(&bytes, offset) {
                prop_assert!(name.as_bytes().len() <= 255);
            }
        }
    }

    #[test]
    fn tls_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
        let _ = tls::split_record(&bytes);
        let _ = tls::split_handshake(&bytes);
        if let Ok(hello) = tls::ClientHello::parse(&bytes) {
            let _ = hello.max_offered_version();
        }
        let _ = tls::ServerHello::parse(&bytes);
        let _ = tls::Alert::parse(&bytes);
    }

    #[test]
    fn mail_lines_never_panic_and_stay_bounded(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
        let mut framer = LineFramer::new(64);
        let mut longest = 0;
        for chunk in bytes.chunks(7) {
            framer.push(chunk, |l| {
                longest = longest.max(l.text.len());
                let _ = imap::Response::parse(l.text);
                let _ = imap::Command::parse(l.text);
                let _ = pop3::Response::parse(l.text);
                let _ = pop3::Command::parse(l.text);
                let _ = smtp::ReplyLine::parse(l.text);
                let _ = smtp::Command::parse(l.text);
            });
            prop_assert!(framer.pending() <= 64);
        }
        prop_assert!(longest <= 64);
    }

    #[test]
    fn the_tracker_takes_any_frames(
        frames in proptest::collection::vec((proptest::collection::vec(any::<u8>(), 0..120), 0usize..8), 0..40)
    ) {
        let mut tracker = Tracker::new(TrackerConfig { max_sessions: 4, ..TrackerConfig::default() });
        let mut out = Vec::new();
        for (i, (bytes, lt)) in frames.iter().enumerate() {
            let frame = Frame {
                time: Timestamp::from_unix(1_700_000_000 + i as i64, 0),
                link_type: LINK_TYPES[*lt],
                data: bytes,
                original_len: bytes.len() as u32,
            };
            tracker.on_frame(&frame, &mut out);
        }
        tracker.poll(Timestamp::from_unix(1_800_000_000, 0), &mut out);
        tracker.finish(Timestamp::from_unix(1_800_000_000, 0), &mut out);
        prop_assert!(tracker.stats().sessions_open <= 4);
        prop_assert_eq!(tracker.stats().packets, frames.len() as u64);
    }
}

/// Tunnel headers (PPPoE, MPLS, GRE, IP in IP) in front of random bytes, so the decoder's
/// encapsulation paths see hostile inner layers, not only a wrong ethertype.
fn tunnelled_frame() -> impl Strategy<Value = Vec<u8>> {
    let heads: Vec<Vec<u8>> = vec![
        // Ethernet + PPPoE session, PPP IPv4.
        [
            &[0u8; 12][..],
            &[0x88, 0x64, 0x11, 0x00, 0, 1, 0x05, 0xdc, 0x00, 0x21],
        ]
        .concat(),
        // Ethernet + MPLS, one label, bottom of stack.
        [&[0u8; 12][..], &[0x88, 0x47, 0x00, 0x01, 0x01, 0x40]].concat(),
        // Ethernet + MPLS whose payload is a control word and Ethernet again.
        [
            &[0u8; 12][..],
            &[0x88, 0x47, 0x00, 0x01, 0x01, 0x40, 0, 0, 0, 0],
        ]
        .concat(),
        // Ethernet + IPv4 (GRE) + keyed GRE header.
        [
            &[0u8; 12][..],
            &[0x08, 0x00, 0x45, 0, 0x05, 0xdc, 0, 0, 0, 0, 64, 47, 0, 0],
            &[10, 0, 0, 1, 10, 0, 0, 2, 0x20, 0x00],
        ]
        .concat(),
        // Ethernet + IPv4 (IP in IP).
        [
            &[0u8; 12][..],
            &[0x08, 0x00, 0x45, 0, 0x05, 0xdc, 0, 0, 0, 0, 64, 4, 0, 0],
            &[10, 0, 0, 1, 10, 0, 0, 2],
        ]
        .concat(),
    ];
    (
        proptest::sample::select(heads),
        proptest::collection::vec(any::<u8>(), 0..200),
    )
        .prop_map(|(head, tail)| [head, tail].concat())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn tunnels_never_panic(frame in tunnelled_frame()) {
        let _ = wire::decode(LinkType::ETHERNET, &frame);
    }

    /// Capture files with a valid file header (pcap or pcapng, plain or gzip) and random
    /// bytes after it: the reader stops or finishes, never panics, and every frame it gives
    /// is made of the input's bytes.
    #[test]
    fn capture_files_never_panic(
        kind in 0usize..3,
        body in proptest::collection::vec(any::<u8>(), 0..600),
        packed in any::<bool>(),
    ) {
        let head: Vec<u8> = match kind {
            0 => [&[0xd4, 0xc3, 0xb2, 0xa1, 2, 0, 4, 0][..], &[0; 8], &[0xff, 0xff, 0, 0, 1, 0, 0, 0]].concat(),
            1 => [&[0xa1, 0xb2, 0x3c, 0x4d, 0, 2, 0, 4][..], &[0; 8], &[0, 0, 0xff, 0xff, 0, 0, 0, 113]].concat(),
            _ => [&[0x0a, 0x0d, 0x0d, 0x0a, 28, 0, 0, 0, 0x4d, 0x3c, 0x2b, 0x1a, 1, 0, 0, 0][..],
                  &[0xff; 8], &[28, 0, 0, 0]].concat(),
        };
        let file = [head, body].concat();
        let file = if packed {
            let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
            std::io::Write::write_all(&mut enc, &file).unwrap();
            enc.finish().unwrap()
        } else {
            file
        };
        let mut bytes = 0usize;
        let _ = mailpulse::capture_file::read(&file[..], &mut |f| {
            bytes += f.data.len();
            let _ = wire::decode(f.link_type, f.data);
        });
        prop_assert!(bytes <= 600);
    }
}

/// Random bytes rarely reach the TCP path; this builds valid IPv4/TCP headers to mail ports
/// around random payloads and flags, so the session code sees hostile streams.
fn mail_segment() -> impl Strategy<Value = (u16, bool, u32, u8, Vec<u8>)> {
    (
        prop_oneof![
            Just(143u16),
            Just(993),
            Just(110),
            Just(995),
            Just(25),
            Just(465)
        ],
        any::<bool>(),
        any::<u32>(),
        any::<u8>(),
        proptest::collection::vec(any::<u8>(), 0..200),
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(500))]

    #[test]
    fn hostile_tcp_streams_to_mail_ports(segments in proptest::collection::vec(mail_segment(), 1..60)) {
        let mut tracker = Tracker::new(TrackerConfig { max_sessions: 8, ..TrackerConfig::default() });
        let mut out = Vec::new();
        for (i, (port, from_client, seq, flags, payload)) in segments.iter().enumerate() {
            let (src, dst, sport, dport) = if *from_client {
                ([10, 0, 0, 1], [10, 0, 0, 2], 40000u16, *port)
            } else {
                ([10, 0, 0, 2], [10, 0, 0, 1], *port, 40000u16)
            };
            let mut packet = vec![0x45, 0];
            packet.extend_from_slice(&((40 + payload.len()) as u16).to_be_bytes());
            packet.extend_from_slice(&[0, 0, 0, 0, 64, 6, 0, 0]);
            packet.extend_from_slice(&src);
            packet.extend_from_slice(&dst);
            packet.extend_from_slice(&sport.to_be_bytes());
            packet.extend_from_slice(&dport.to_be_bytes());
            packet.extend_from_slice(&seq.to_be_bytes());
            packet.extend_from_slice(&seq.wrapping_mul(7).to_be_bytes());
            packet.extend_from_slice(&[0x50, *flags, 0xff, 0xff, 0, 0, 0, 0]);
            packet.extend_from_slice(payload);
            let frame = Frame {
                time: Timestamp::from_unix(1_700_000_000, 0).plus(std::time::Duration::from_millis(i as u64 * 300)),
                link_type: LinkType::RAW,
                data: &packet,
                original_len: packet.len() as u32,
            };
            tracker.on_frame(&frame, &mut out);
            if i % 10 == 0 {
                tracker.poll(frame.time, &mut out);
            }
        }
        tracker.finish(Timestamp::from_unix(1_700_001_000, 0), &mut out);
        prop_assert_eq!(tracker.stats().sessions_open, 0);
    }
}
