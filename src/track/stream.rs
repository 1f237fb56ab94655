//! One direction of a TCP connection: sequence tracking (retransmissions, holes) and bounded
//! in-order delivery of the first bytes to the protocol analyzers.
//!
//! Retransmission means "this sequence range was sent before": a segment at or below the
//! highest sequence seen counts, unless it fills a known hole (then it was reordered, not
//! resent). Delivery holds at most `MAX_OOO_SEGMENTS` out-of-order segments of at most
//! `MAX_OOO_BYTES` in all, charged to the tracker's byte budget ([`super::budget`]); a gap it
//! cannot bridge, or a budget that cannot pay for the bytes, stops delivery for good (`lost`).
//! Past the first [`HELLO_ZONE`] bytes (hellos, greeting and login) a stream may hold data only
//! while at most half the budget is spent, so under a flood the budget goes to the bytes the
//! verdicts need most.

use super::budget::Charge;

/// Out-of-order segments held for delivery.
const MAX_OOO_SEGMENTS: usize = 8;
/// Bytes held in out-of-order segments.
const MAX_OOO_BYTES: usize = 16 * 1024;
/// The first bytes of a direction, where the hellos, the greeting and the login are.
pub const HELLO_ZONE: u64 = 16 * 1024;
/// What holding one segment costs besides its bytes (its entry in the list).
const HELD_ENTRY: usize = std::mem::size_of::<(u32, Vec<u8>)>();
/// Holes remembered for telling reordering from retransmission.
const MAX_HOLES: usize = 4;

/// `a < b` in sequence space (RFC 9293 §3.4, modulo 2^32).
pub fn seq_lt(a: u32, b: u32) -> bool {
    (a.wrapping_sub(b) as i32) < 0
}

pub fn seq_le(a: u32, b: u32) -> bool {
    a == b || seq_lt(a, b)
}

/// Sequence state and delivery for one direction.
#[derive(Debug, Default)]
pub struct Stream {
    /// Next sequence number to deliver in order.
    next: Option<u32>,
    /// One past the highest sequence number seen.
    high: Option<u32>,
    holes: [(u32, u32); MAX_HOLES],
    hole_count: usize,
    ooo: Vec<(u32, Vec<u8>)>,
    ooo_bytes: usize,
    /// Delivery stopped: a gap could not be bridged, or the analyzers asked to stop.
    lost: bool,
    deliver: bool,
    /// Bytes delivered in order so far.
    delivered: u64,
    /// What `ooo` holds against the budget.
    charge: Charge,
}

/// What one segment was, for the counters.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Accepted {
    pub retransmit: bool,
}

impl Stream {
    /// A stream that delivers in-order bytes to the analyzers.
    pub fn delivering() -> Self {
        Self {
            deliver: true,
            ..Self::default()
        }
    }

    /// The SYN (or SYN-ACK) fixed the initial sequence number.
    pub fn on_syn(&mut self, seq: u32) {
        let first = seq.wrapping_add(1);
        if self.next.is_none() {
            self.next = Some(first);
        }
        if self.high.is_none() {
            self.high = Some(first);
        }
    }

    /// Stops delivery and frees the held segments (the analyzers have what they need).
    pub fn stop_delivery(&mut self) {
        self.deliver = false;
        self.free_held();
    }

    fn free_held(&mut self) {
        self.ooo = Vec::new();
        self.ooo_bytes = 0;
        self.charge.release();
    }

    /// One past the highest sequence number seen, once known.
    pub fn high(&self) -> Option<u32> {
        self.high
    }

    /// Every byte seen so far was delivered in order: no gap, nothing held, delivery on.
    pub fn all_delivered(&self) -> bool {
        self.deliver
            && !self.lost
            && self.hole_count == 0
            && self.ooo.is_empty()
            && self.next == self.high
    }

    /// Delivery stopped: a gap it could not bridge, a budget that could not pay, or the
    /// analyzers asked it to.
    pub fn is_lost(&self) -> bool {
        self.lost
    }

    /// Takes a segment's data; calls `deliver` with newly contiguous bytes, in order.
    pub fn accept(&mut self, seq: u32, data: &[u8], mut deliver: impl FnMut(&[u8])) -> Accepted {
        if data.is_empty() {
            return Accepted { retransmit: false };
        }
        let len = u32::try_from(data.len()).unwrap_or(u32::MAX);
        let end = seq.wrapping_add(len);
        let retransmit = self.track_sequence(seq, end);
        if self.deliver && !self.lost {
            self.deliver_in_order(seq, data, &mut deliver);
        }
        Accepted { retransmit }
    }

    fn track_sequence(&mut self, seq: u32, end: u32) -> bool {
        let Some(high) = self.high else {
            self.high = Some(end);
            return false;
        };
        if seq_le(high, seq) {
            if seq_lt(high, seq) {
                self.add_hole(high, seq);
            }
            self.high = Some(end);
            return false;
        }
        // Below the high-water mark: a hole fill, or a retransmission.
        let filled = self.fill_hole(seq, end);
        if seq_lt(high, end) {
            self.high = Some(end);
        }
        !filled
    }

    fn add_hole(&mut self, start: u32, end: u32) {
        if self.hole_count == MAX_HOLES {
            // Forget the oldest hole; a later fill of it will count as a retransmission.
            self.holes.rotate_left(1);
            self.hole_count -= 1;
        }
        self.holes[self.hole_count] = (start, end);
        self.hole_count += 1;
    }

    /// Removes `[seq, end)` from the holes; true when it overlapped one.
    fn fill_hole(&mut self, seq: u32, end: u32) -> bool {
        let mut i = 0;
        let mut filled = false;
        while i < self.hole_count {
            let (hs, he) = self.holes[i];
            if seq_lt(seq, he) && seq_lt(hs, end) {
                filled = true;
                let left = seq_lt(hs, seq).then_some((hs, seq));
                let right = seq_lt(end, he).then_some((end, he));
                match (left, right) {
                    (Some(l), Some(r)) => {
                        self.holes[i] = l;
                        if self.hole_count < MAX_HOLES {
                            self.holes[self.hole_count] = r;
                            self.hole_count += 1;
                        }
                        i += 1;
                    }
                    (Some(h), None) | (None, Some(h)) => {
                        self.holes[i] = h;
                        i += 1;
                    }
                    (None, None) => {
                        self.holes.copy_within(i + 1..self.hole_count, i);
                        self.hole_count -= 1;
                    }
                }
            } else {
                i += 1;
            }
        }
        filled
    }

    fn deliver_in_order(&mut self, seq: u32, data: &[u8], deliver: &mut impl FnMut(&[u8])) {
        // A stream picked up mid-way (no SYN seen) starts at its first segment.
        let next = *self.next.get_or_insert(seq);
        let len = u32::try_from(data.len()).unwrap_or(u32::MAX);
        let end = seq.wrapping_add(len);
        if seq_le(end, next) {
            return; // all old
        }
        if seq_lt(next, seq) {
            self.hold(seq, data);
            return;
        }
        let skip = next.wrapping_sub(seq) as usize;
        if let Some(fresh) = data.get(skip..) {
            self.delivered += fresh.len() as u64;
            deliver(fresh);
        }
        self.next = Some(end);
        self.drain_held(deliver);
        if self.ooo.is_empty() {
            self.charge.release();
        }
    }

    fn hold(&mut self, seq: u32, data: &[u8]) {
        let cost = data.len() + HELD_ENTRY;
        let paid = self.ooo.len() < MAX_OOO_SEGMENTS
            && self.ooo_bytes + data.len() <= MAX_OOO_BYTES
            && if self.delivered < HELLO_ZONE {
                self.charge.try_add(cost)
            } else {
                self.charge.try_add_within_half(cost)
            };
        if !paid {
            self.lost = true;
            self.free_held();
            return;
        }
        self.ooo_bytes += data.len();
        self.ooo.push((seq, data.to_vec()));
    }

    fn drain_held(&mut self, deliver: &mut impl FnMut(&[u8])) {
        while let Some(next) = self.next {
            let Some(i) = self.ooo.iter().position(|(s, _)| seq_le(*s, next)) else {
                return;
            };
            let (seq, data) = self.ooo.swap_remove(i);
            self.ooo_bytes -= data.len();
            let len = u32::try_from(data.len()).unwrap_or(u32::MAX);
            let end = seq.wrapping_add(len);
            if seq_lt(next, end) {
                let skip = next.wrapping_sub(seq) as usize;
                if let Some(fresh) = data.get(skip..) {
                    self.delivered += fresh.len() as u64;
                    deliver(fresh);
                }
                self.next = Some(end);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn feed(s: &mut Stream, seq: u32, data: &[u8], out: &mut Vec<u8>) -> bool {
        s.accept(seq, data, |d| out.extend_from_slice(d)).retransmit
    }

    #[test]
    fn reordered_segments_are_delivered_in_order_and_not_counted() {
        let mut s = Stream::delivering();
        s.on_syn(999);
        let mut out = Vec::new();
        assert!(!feed(&mut s, 1000, b"abc", &mut out));
        assert!(!feed(&mut s, 1006, b"ghi", &mut out)); // gap 1003..1006
        assert_eq!(out, b"abc");
        assert!(!feed(&mut s, 1003, b"def", &mut out)); // fills the hole: reordering
        assert_eq!(out, b"abcdefghi");
    }

    #[test]
    fn resent_and_overlapping_ranges_count_as_retransmissions() {
        let mut s = Stream::delivering();
        s.on_syn(0);
        let mut out = Vec::new();
        feed(&mut s, 1, b"hello", &mut out);
        assert!(feed(&mut s, 1, b"hello", &mut out)); // same range again
        assert!(feed(&mut s, 3, b"llo wor", &mut out)); // overlaps, extends
        assert_eq!(out, b"hello wor");
        assert!(!feed(&mut s, 10, b"ld", &mut out));
        assert_eq!(out, b"hello world");
    }

    #[test]
    fn sequence_numbers_wrap() {
        let mut s = Stream::delivering();
        s.on_syn(u32::MAX - 2);
        let mut out = Vec::new();
        feed(&mut s, u32::MAX - 1, b"ab", &mut out);
        feed(&mut s, 0, b"cd", &mut out);
        assert!(feed(&mut s, u32::MAX - 1, b"abcd", &mut out));
        assert_eq!(out, b"abcd");
    }

    #[test]
    fn an_unbridgeable_gap_stops_delivery_without_growing() {
        let mut s = Stream::delivering();
        s.on_syn(0);
        let mut out = Vec::new();
        for i in 0..(MAX_OOO_SEGMENTS as u32 + 2) {
            feed(&mut s, 100 + i * 10, b"0123456789", &mut out);
        }
        assert!(s.is_lost());
        assert!(out.is_empty());
        feed(&mut s, 1, &[b'x'; 99], &mut out);
        assert!(out.is_empty());
    }
}
