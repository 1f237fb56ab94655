//! The tracker fed packet sequences: TCP segments of one client/server pair in both directions
//! (mail ports and DNS, any flags, sequence numbers near or far from the expected ones, any
//! payload), raw frames of every link type, and time jumps that trigger expiry. Checks: no
//! panic, the flow table stays within `max_sessions`, and `finish` leaves nothing open.
#![no_main]

use std::time::Duration;

use libfuzzer_sys::fuzz_target;
use mailpulse::time::Timestamp;
use mailpulse::track::{Tracker, TrackerConfig};
use mailpulse::wire::{Frame, LinkType};

const MAX_SESSIONS: usize = 4;
const PORTS: [u16; 4] = [993, 143, 110, 53];
const LINK_TYPES: [LinkType; 8] = [
    LinkType::ETHERNET,
    LinkType::NULL,
    LinkType::RAW,
    LinkType::LOOP,
    LinkType::LINUX_SLL,
    LinkType::IPV4,
    LinkType::IPV6,
    LinkType::LINUX_SLL2,
];

struct Cursor<'a>(&'a [u8]);

impl<'a> Cursor<'a> {
    fn byte(&mut self) -> Option<u8> {
        let (&b, rest) = self.0.split_first()?;
        self.0 = rest;
        Some(b)
    }
    fn take(&mut self, n: usize) -> &'a [u8] {
        let n = n.min(self.0.len());
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        head
    }
}

fn checksum_free_ipv4_tcp(
    from_client: bool,
    client_port: u16,
    port: u16,
    udp: bool,
    flags: u8,
    seq: u32,
    ack: u32,
    payload: &[u8],
) -> Vec<u8> {
    let (src, dst) = ([192, 168, 1, 10 + (client_port % 3) as u8], [198, 51, 100, 10]);
    let (src, dst, sport, dport) = if from_client {
        (src, dst, client_port, port)
    } else {
        (dst, src, port, client_port)
    };
    let l4_len = if udp { 8 } else { 20 } + payload.len();
    let mut p = Vec::with_capacity(14 + 20 + l4_len);
    p.extend_from_slice(&[2, 0, 0, 0, 0, 1, 2, 0, 0, 0, 0, 2, 0x08, 0x00]);
    let total = (20 + l4_len) as u16;
    p.extend_from_slice(&[0x45, 0, (total >> 8) as u8, total as u8, 0, 0, 0x40, 0, 64]);
    p.push(if udp { 17 } else { 6 });
    p.extend_from_slice(&[0, 0]);
    p.extend_from_slice(&src);
    p.extend_from_slice(&dst);
    p.extend_from_slice(&sport.to_be_bytes());
    p.extend_from_slice(&dport.to_be_bytes());
    if udp {
        p.extend_from_slice(&((8 + payload.len()) as u16).to_be_bytes());
        p.extend_from_slice(&[0, 0]);
    } else {
        p.extend_from_slice(&seq.to_be_bytes());
        p.extend_from_slice(&ack.to_be_bytes());
        p.extend_from_slice(&[0x50, flags, 0xff, 0xff, 0, 0, 0, 0]);
    }
    p.extend_from_slice(payload);
    p
}

fuzz_target!(|data: &[u8]| {
    let mut tracker = Tracker::new(TrackerConfig {
        max_sessions: MAX_SESSIONS,
        ..TrackerConfig::default()
    });
    let mut out = Vec::new();
    let mut now = Timestamp::from_unix(1_700_000_000, 0);
    // Next expected sequence number per direction (client, server).
    let mut next_seq = [1000u32, 50_000u32];
    let mut input = Cursor(data);
    while let Some(kind) = input.byte() {
        let (Some(flags), Some(delta), Some(seq_hint), Some(len)) =
            (input.byte(), input.byte(), input.byte(), input.byte())
        else {
            break;
        };
        now = match delta {
            255 => now.plus(Duration::from_secs(3 * 3600)),
            254 => now.plus(Duration::from_secs(65)),
            d => now.plus(Duration::from_millis(u64::from(d) * 20)),
        };
        let payload = input.take(usize::from(len));
        let bytes = if kind & 0x80 != 0 {
            payload.to_vec()
        } else {
            let from_client = kind & 1 == 0;
            let port = PORTS[usize::from((kind >> 1) & 3)];
            let udp = port == 53 && kind & 0x08 != 0;
            let client_port = 40_000 + u16::from((kind >> 4) & 7);
            let dir = usize::from(!from_client);
            // Mostly in order; sometimes a retransmission or a jump.
            let seq = match seq_hint {
                0..=191 => next_seq[dir],
                192..=223 => next_seq[dir].wrapping_sub(u32::from(seq_hint - 191) * 7),
                _ => next_seq[dir].wrapping_add(u32::from(seq_hint) << 20),
            };
            let ack = next_seq[1 - dir];
            let mut advance = payload.len() as u32;
            if flags & 0x03 != 0 {
                advance += 1; // SYN and FIN take a sequence number
            }
            next_seq[dir] = seq.wrapping_add(advance);
            checksum_free_ipv4_tcp(from_client, client_port, port, udp, flags, seq, ack, payload)
        };
        let link_type = if kind & 0x80 != 0 {
            LINK_TYPES[usize::from(flags & 7)]
        } else {
            LinkType::ETHERNET
        };
        let frame = Frame {
            time: now,
            link_type,
            data: &bytes,
            original_len: bytes.len() as u32,
        };
        tracker.on_frame(&frame, &mut out);
        if delta >= 250 {
            tracker.poll(now, &mut out);
        }
        let stats = tracker.stats();
        assert!(stats.sessions_open <= MAX_SESSIONS as u64, "{stats:?}");
        out.clear();
    }
    tracker.finish(now, &mut out);
    assert_eq!(tracker.stats().sessions_open, 0, "finish leaves nothing open");
});
