//! Frames → tracker: the whole packet path, with a small table so eviction runs too.
//! Input: records of [link-type selector u8][length u16 BE][bytes][time step u8].
#![no_main]

use libfuzzer_sys::fuzz_target;
use mailpulse::time::Timestamp;
use mailpulse::track::{Tracker, TrackerConfig};
use mailpulse::wire::{Frame, LinkType};

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

fuzz_target!(|data: &[u8]| {
    let mut tracker = Tracker::new(TrackerConfig {
        max_sessions: 8,
        ..TrackerConfig::default()
    });
    let mut out = Vec::new();
    let mut now = Timestamp::from_unix(1_700_000_000, 0);
    let mut rest = data;
    while let [lt, hi, lo, tail @ ..] = rest {
        let len = usize::from(u16::from_be_bytes([*hi, *lo])).min(tail.len());
        let (bytes, after) = tail.split_at(len);
        let frame = Frame {
            time: now,
            link_type: LINK_TYPES[usize::from(*lt) % LINK_TYPES.len()],
            data: bytes,
            original_len: bytes.len() as u32,
        };
        tracker.on_frame(&frame, &mut out);
        let (step, after) = after.split_first().map_or((0, after), |(s, a)| (*s, a));
        now = now.plus(std::time::Duration::from_millis(u64::from(step) * 100));
        if step > 200 {
            tracker.poll(now, &mut out);
        }
        rest = after;
        out.clear();
    }
    tracker.finish(now, &mut out);
    assert!(tracker.stats().sessions_open == 0);
});
