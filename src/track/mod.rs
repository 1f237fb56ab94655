//! Packets in, mail sessions and DNS lookups out. Bounded tables, no clock: time comes with
//! each frame, and `poll` is told the time.
//!
//! Timers (all measured from the capture's own timestamps):
//!
//! | situation | reported | as |
//! |---|---|---|
//! | RST, or FIN from both sides | on `poll`, [`LAST_ACK_WAIT`] after the last packet | `SessionEnded` (`rst`/`fin`) |
//! | client data unanswered for [`STALL_AFTER`], then each time the wait has doubled | up to [`STALL_SNAPSHOTS`] per stall | `SessionUpdate` |
//! | a SYN unanswered for [`STALL_AFTER`] | once | `SessionUpdate` |
//! | SYNs only, none answered, quiet for [`SYN_GIVE_UP`] | on `poll` | `SessionEnded` (`timeout`) |
//! | data unanswered for [`UNANSWERED_GIVE_UP`] | on `poll` | `SessionEnded` (`timeout`) |
//! | one FIN, then quiet for [`HALF_CLOSED_IDLE`] | on `poll` | `SessionEnded` (`fin`) |
//! | established and quiet for [`ESTABLISHED_IDLE`] | on `poll` | `SessionEnded` (`timeout`) |
//! | table full | the oldest unanswered attempt among the 32 oldest sessions, else the oldest session | `SessionEnded` (`open`), counted as evicted; an attempt whose SYNs got no answer is only counted |
//! | one client at its cap ([`TrackerConfig::max_sessions_per_client`]) | that client's oldest session | counted (`client_cap_evicted`); reported (`open`) only when its server had sent data |
//! | end of input (`finish`) | every open session | `SessionEnded` (`open`; `timeout` when only unanswered SYNs were seen, `fin` when one side had sent FIN) |
//!
//! Which of these timers applies is read off the session's lifecycle (`session::Lifecycle`).
//!
//! Memory: every byte buffered for a session (out-of-order data, a part-read TLS hello) is paid
//! from one byte budget ([`TrackerConfig::buffer_budget`]); a buffer the budget cannot pay for
//! is not kept (counted as `buffer_refused`), and the stream or hello it was for is no longer
//! followed. Tables are hashed with a per-process random key ([`flow::KeyedHasher`]).
//!
//! `ESTABLISHED_IDLE` is longer than an IMAP IDLE period (29 min, RFC 2177) so an idle session
//! that a firewall silently drops is still here when the client speaks again.

mod budget;
mod dns;
mod flow;
mod mail;
mod session;
mod stream;
mod tls;

use std::collections::{HashMap, VecDeque};
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use crate::observe::observation::{Observation, ObservationKind};
use crate::observe::record::{Close, Protocol, SessionRecord, Side, TlsMode, TrackerStats};
use crate::time::Timestamp;
use crate::wire::tcp::flags;
use crate::wire::{self, Frame, TcpSegment, Transport};
use flow::FlowKey;
use session::{Lifecycle, Session};

/// The tracker's keyed fast hasher, for other bounded tables keyed by what the wire brings.
pub use flow::KeyedBuildHasher;

/// Client data (or a SYN) unanswered this long makes a stall snapshot.
pub const STALL_AFTER: Duration = Duration::from_millis(1500);
/// Stall snapshots of one wait for data, at most: after 1.5, 3, 6, 12 and 24 s (the session
/// ends at [`UNANSWERED_GIVE_UP`]).
pub const STALL_SNAPSHOTS: u8 = 5;
/// A connection attempt whose SYNs got no answer is reported after this much quiet
/// (Linux retries SYNs after 1, 3, 7, 15 s: a client silent for 10 s has moved on).
pub const SYN_GIVE_UP: Duration = Duration::from_secs(10);
/// Data unanswered this long ends the session as timed out.
pub const UNANSWERED_GIVE_UP: Duration = Duration::from_secs(60);
/// A half-closed session quiet this long is reported as closed.
pub const HALF_CLOSED_IDLE: Duration = Duration::from_secs(30);
/// An established session quiet this long is reported as timed out.
pub const ESTABLISHED_IDLE: Duration = Duration::from_secs(2 * 3600);
/// After a RST or both FINs, how long to wait for the last packets (the final ACK, a RST
/// after FIN) before reporting the session.
pub const LAST_ACK_WAIT: Duration = Duration::from_millis(500);
/// Sessions looked at, oldest first, for an unanswered attempt to evict before them.
const EVICTION_SCAN: usize = 32;
/// Sessions one `poll` ends, and stalls it reports, at most (each); the rest stay due for the
/// next poll (a tenth of a second later, live). Bounds the records made at once when a
/// flood's fabricated sessions all time out together.
pub const MAX_POLL_BATCH: usize = 1024;
/// DNS over TCP/UDP port.
const DNS_PORT: u16 = 53;

/// Limits of the tracker's tables.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TrackerConfig {
    /// Most sessions kept at once; the oldest is evicted (and counted) beyond it.
    pub max_sessions: usize,
    /// Most sessions kept at once for one client address: its oldest makes way, so one host
    /// cannot push every other client's sessions out of the table.
    pub max_sessions_per_client: usize,
    /// Bytes all sessions together may hold in reassembly and hello buffers.
    pub buffer_budget: usize,
}

/// `max_sessions_per_client` unless configured.
pub const DEFAULT_MAX_SESSIONS_PER_CLIENT: usize = 1024;
/// `buffer_budget`: 128 sessions' worth of both directions' full out-of-order allowance
/// (real sessions rarely hold any).
pub const DEFAULT_BUFFER_BUDGET: usize = 4 << 20;

impl Default for TrackerConfig {
    /// A session costs about 2.5 KB with its share of the tables (measured with
    /// bench/tools/gen_hostile.py): 16 384 sessions, the buffer budget and the engine stay
    /// under 64 MB whatever a LAN sends.
    fn default() -> Self {
        Self {
            max_sessions: 16_384,
            max_sessions_per_client: DEFAULT_MAX_SESSIONS_PER_CLIENT,
            buffer_budget: DEFAULT_BUFFER_BUDGET,
        }
    }
}

/// A session in the tracker's table, with what the table's scans need beside it.
struct Slot {
    /// The session's id (the eviction queue's entries name sessions by key and id).
    id: u64,
    /// The earliest capture time at which `poll` could have something to do for the session
    /// ([`poll_due`]); until then `poll` passes it by without reading it.
    due: Timestamp,
    /// Boxed: a session is several hundred bytes, and an inline table moves (and, while it
    /// grows, holds twice) all of them at every rehash.
    session: Box<Session>,
}

impl Slot {
    fn new(session: Box<Session>) -> Self {
        Self {
            id: session.record.id,
            due: poll_due(&session),
            session,
        }
    }
}

/// The passive session tracker.
pub struct Tracker {
    config: TrackerConfig,
    stats: TrackerStats,
    sessions: HashMap<FlowKey, Slot, KeyedBuildHasher>,
    /// Insertion order for oldest-first eviction: (key, session id). Stale entries are
    /// skipped lazily and the queue is compacted when it holds more than twice the live
    /// sessions (so the work is amortised and the queue stays proportional to the table).
    order: VecDeque<(FlowKey, u64)>,
    /// Sessions per client address, for the per-client cap.
    per_client: HashMap<IpAddr, usize, KeyedBuildHasher>,
    /// The sessions of clients at their cap, oldest first (stale entries skipped lazily):
    /// built from `order` when a client reaches its cap, dropped when it falls below half, so
    /// a LAN of many quiet clients costs one counter each.
    crowded: HashMap<IpAddr, VecDeque<(FlowKey, u64)>, KeyedBuildHasher>,
    budget: Arc<budget::Budget>,
    dns: dns::DnsTracker,
    next_id: u64,
}

impl Tracker {
    pub fn new(config: TrackerConfig) -> Self {
        Self {
            budget: budget::Budget::new(config.buffer_budget),
            config,
            stats: TrackerStats::default(),
            sessions: HashMap::default(),
            order: VecDeque::new(),
            per_client: HashMap::default(),
            crowded: HashMap::default(),
            dns: dns::DnsTracker::default(),
            next_id: 1,
        }
    }

    /// Feeds one frame; finished sessions and lookups are pushed to `out`.
    pub fn on_frame(&mut self, frame: &Frame<'_>, out: &mut Vec<Observation>) {
        self.stats.packets += 1;
        let packet = match wire::decode(frame.link_type, frame.data) {
            Ok(packet) => packet,
            Err(wire::Error::NotIp(_)) => {
                self.stats.not_ip += 1;
                return;
            }
            Err(_) => {
                self.stats.undecodable += 1;
                return;
            }
        };
        match packet.transport {
            Transport::Tcp(seg) => {
                if seg.src_port == DNS_PORT || seg.dst_port == DNS_PORT {
                    self.dns_over_tcp(packet.src, packet.dst, &seg, frame.time, out);
                } else {
                    self.on_tcp(packet.src, packet.dst, &seg, frame.time, out);
                }
            }
            Transport::Udp {
                src_port,
                dst_port,
                payload,
            } if src_port == DNS_PORT || dst_port == DNS_PORT => {
                let src = SocketAddr::new(packet.src, src_port);
                let dst = SocketAddr::new(packet.dst, dst_port);
                if let Some(lookup) = self.dns.on_message(src, dst, payload, frame.time) {
                    push(out, frame.time, ObservationKind::DnsLookup(lookup));
                }
            }
            _ => {}
        }
        self.stats.dns_pending = self.dns.pending_count() as u64;
        self.stats.dns_evicted = self.dns.evicted;
    }

    fn dns_over_tcp(
        &mut self,
        src: IpAddr,
        dst: IpAddr,
        seg: &TcpSegment<'_>,
        now: Timestamp,
        out: &mut Vec<Observation>,
    ) {
        // RFC 7766: each message has a two-byte length; only whole messages in one segment
        // are read (the usual case for queries and short answers).
        let mut rest = seg.payload;
        while let Some((len, body)) = rest.split_first_chunk::<2>() {
            let len = usize::from(u16::from_be_bytes(*len));
            let Some(message) = body.get(..len) else {
                return;
            };
            let src = SocketAddr::new(src, seg.src_port);
            let dst = SocketAddr::new(dst, seg.dst_port);
            if let Some(lookup) = self.dns.on_message(src, dst, message, now) {
                push(out, now, ObservationKind::DnsLookup(lookup));
            }
            rest = body.get(len..).unwrap_or(&[]);
        }
    }

    fn on_tcp(
        &mut self,
        src: IpAddr,
        dst: IpAddr,
        seg: &TcpSegment<'_>,
        now: Timestamp,
        out: &mut Vec<Observation>,
    ) {
        // Buffers created or freed while this segment is handled are paid from our budget.
        let _budget = budget::Scope::enter(&self.budget);
        let src_sock = SocketAddr::new(src, seg.src_port);
        let dst_sock = SocketAddr::new(dst, seg.dst_port);
        let key = FlowKey::from_sockets(src_sock, dst_sock);
        let is_syn = seg.has(flags::SYN) && !seg.has(flags::ACK);
        if let Some(slot) = self.sessions.get_mut(&key) {
            let session = &mut slot.session;
            // A new SYN on a closed connection's addresses is a new session (port reuse).
            let closed = matches!(session.lifecycle(), Lifecycle::Closed { .. });
            if !(closed && is_syn) {
                let side = if session.record.client == src_sock {
                    Side::Client
                } else {
                    Side::Server
                };
                session.on_segment(side, seg, now);
                slot.due = poll_due(session);
                return;
            }
            if let Some(old) = self.take(&key) {
                self.emit_ended(old.session.into_record(None), now, out);
            }
            self.stats.sessions_open = self.sessions.len() as u64;
        }
        // A new session: the SYN's sender is the client; without a SYN, the mail port is
        // the server's.
        let Some((client, server, protocol, tls)) = orient(src_sock, dst_sock, is_syn) else {
            return;
        };
        // A session needs a plausible start: a clean SYN (no FIN or RST beside it), or a
        // mid-stream pickup carrying data or a FIN and no SYN or RST. A lone RST, a lone ACK
        // or a crafted segment with contradictory flags (every flag set) starts nothing: live,
        // a spoofed reset would otherwise make a failed session out of nothing.
        let contradictory = seg.has(flags::RST) || (seg.has(flags::SYN) && seg.has(flags::FIN));
        let pickup = !seg.has(flags::SYN) && (!seg.payload.is_empty() || seg.has(flags::FIN));
        if contradictory || !(is_syn || pickup) {
            return;
        }
        self.make_room(client.ip(), now, out);
        let id = self.next_id;
        self.next_id += 1;
        let mut session = Box::new(Session::new(id, client, server, protocol, tls, now));
        let side = if client == src_sock {
            Side::Client
        } else {
            Side::Server
        };
        session.on_segment(side, seg, now);
        self.stats.sessions_total += 1;
        self.sessions.insert(key, Slot::new(session));
        self.index(key, id, client.ip());
        self.stats.sessions_open = self.sessions.len() as u64;
    }

    /// Puts a new session in the age queues.
    fn index(&mut self, key: FlowKey, id: u64, client: IpAddr) {
        let sessions = &self.sessions;
        let live = |(k, id): &(FlowKey, u64)| sessions.get(k).is_some_and(|s| s.id == *id);
        self.order.push_back((key, id));
        // Compacted against the live table, not the table's bound: stale entries (ended
        // sessions) would otherwise pile up to twice `max_sessions` on a long capture whose
        // table stays small.
        if self.order.len() > 2 * sessions.len() + 64 {
            self.order.retain(live);
        }
        *self.per_client.entry(client).or_default() += 1;
        if let Some(queue) = self.crowded.get_mut(&client) {
            queue.push_back((key, id));
            if queue.len() > 2 * self.config.max_sessions_per_client + 8 {
                queue.retain(live);
            }
        }
    }

    /// Removes a session from the table and its client's count.
    fn take(&mut self, key: &FlowKey) -> Option<Slot> {
        let slot = self.sessions.remove(key)?;
        let client = slot.session.record.client.ip();
        if let Some(live) = self.per_client.get_mut(&client) {
            *live = live.saturating_sub(1);
            let live = *live;
            if live == 0 {
                self.per_client.remove(&client);
            }
            if live < self.config.max_sessions_per_client / 2 {
                self.crowded.remove(&client);
            }
        }
        Some(slot)
    }

    /// The age queue of a client at its cap, built from the global queue the first time.
    fn crowded_queue(&mut self, client: IpAddr) -> &mut VecDeque<(FlowKey, u64)> {
        let sessions = &self.sessions;
        let order = &self.order;
        self.crowded.entry(client).or_insert_with(|| {
            order
                .iter()
                .filter(|(k, id)| {
                    sessions
                        .get(k)
                        .is_some_and(|s| s.id == *id && s.session.record.client.ip() == client)
                })
                .copied()
                .collect()
        })
    }

    /// Makes room for one more session of `client`: its own oldest goes when it is at its
    /// cap, the table's oldest when the table is full.
    fn make_room(&mut self, client: IpAddr, now: Timestamp, out: &mut Vec<Observation>) {
        let cap = self.config.max_sessions_per_client.max(1);
        while self
            .per_client
            .get(&client)
            .is_some_and(|live| *live >= cap)
        {
            let Some((key, id)) = self.crowded_queue(client).pop_front() else {
                break;
            };
            if self.sessions.get(&key).is_none_or(|s| s.id != id) {
                continue; // stale: the session ended or was replaced
            }
            if let Some(Slot { session, .. }) = self.take(&key) {
                self.stats.client_cap_evicted += 1;
                // A flood's fabricated sessions are counted, not reported, like unanswered
                // attempts; one the server had talked in is a real session cut short.
                if session.record.bytes_from_server > 0 {
                    let record = session.into_record(Some(Close::Open));
                    self.emit_ended(record, now, out);
                }
            }
        }
        if self.sessions.len() >= self.config.max_sessions.max(1) {
            self.evict_oldest(now, out);
        }
    }

    /// Makes room for one session. The victim is the oldest unanswered connection attempt
    /// among the oldest [`EVICTION_SCAN`] sessions, else the oldest session: under a SYN flood
    /// the table churns through the flood's attempts, and a real session keeps its place
    /// instead of being cut into pieces that each get a verdict.
    fn evict_oldest(&mut self, now: Timestamp, out: &mut Vec<Observation>) {
        let mut looked: Vec<(FlowKey, u64)> = Vec::with_capacity(EVICTION_SCAN);
        let mut victim = 0;
        while looked.len() < EVICTION_SCAN {
            let Some((key, id)) = self.order.pop_front() else {
                break;
            };
            let Some(slot) = self.sessions.get(&key).filter(|s| s.id == id) else {
                continue; // stale: the session ended or was replaced
            };
            let unanswered = slot.session.syn_unanswered();
            looked.push((key, id));
            if unanswered {
                victim = looked.len() - 1;
                break;
            }
        }
        if looked.is_empty() {
            return;
        }
        let (key, _) = looked.remove(victim);
        // The sessions passed over keep their age.
        for entry in looked.into_iter().rev() {
            self.order.push_front(entry);
        }
        if let Some(Slot { session, .. }) = self.take(&key) {
            self.stats.sessions_evicted += 1;
            // An attempt nobody answered, pushed out to make room, is most likely one of
            // a SYN flood's (spoofed sources never get an answer): counted, not reported,
            // so a flood cannot bury real verdicts and rotate them out of the journal.
            if !session.syn_unanswered() {
                let record = session.into_record(Some(Close::Open));
                self.emit_ended(record, now, out);
            }
        }
    }

    fn emit_ended(&self, mut record: SessionRecord, now: Timestamp, out: &mut Vec<Observation>) {
        self.name_from_dns(&mut record);
        let time = record.end.max(now);
        push(out, time, ObservationKind::SessionEnded(record));
    }

    fn name_from_dns(&self, record: &mut SessionRecord) {
        if record.server_name.is_none() {
            record.server_name = self
                .dns
                .name_for(record.client.ip(), record.server.ip(), record.start)
                .map(str::to_string);
        }
    }

    /// Expires idle sessions and lookups as of `now`, and reports stalling ones.
    pub fn poll(&mut self, now: Timestamp, out: &mut Vec<Observation>) {
        // What is due, decided without touching a session yet: a flood's sessions all time
        // out together, and their records (half a KiB each) are only made for one batch.
        let mut ending: Vec<(Timestamp, u64, FlowKey, Close)> = Vec::new();
        let mut stalled: Vec<(u64, FlowKey)> = Vec::new();
        for (key, slot) in self.sessions.iter_mut() {
            if now < slot.due {
                continue;
            }
            let session = &slot.session;
            let quiet = now.saturating_since(session.last_packet);
            let waiting = session.waiting_since().map(|t| now.saturating_since(t));
            let state = session.lifecycle();
            let (limit, close_when_quiet) = quiet_limit(state);
            // Data unanswered too long ends an open or half-closed session; an attempt has
            // its own limit, and a closed session ends soon anyway.
            let gave_up = matches!(state, Lifecycle::Open | Lifecycle::HalfClosed)
                && waiting.is_some_and(|w| w >= UNANSWERED_GIVE_UP);
            let close = if gave_up {
                Some(Close::Timeout)
            } else {
                (quiet >= limit).then_some(close_when_quiet)
            };
            if let Some(close) = close {
                ending.push((session.record.end, slot.id, *key, close));
            } else if waiting
                .zip(session.next_stall_snapshot())
                .is_some_and(|(w, next)| w >= next)
            {
                stalled.push((slot.id, *key));
            } else {
                slot.due = poll_due(&slot.session);
            }
        }
        // The oldest first, at most a batch of each; the rest stay due for the next poll.
        stalled.sort_unstable_by_key(|(id, _)| *id);
        stalled.truncate(MAX_POLL_BATCH);
        ending.sort_unstable_by_key(|(end, id, _, _)| (*end, *id));
        ending.truncate(MAX_POLL_BATCH);
        for (_, key) in stalled {
            if let Some(slot) = self.sessions.get_mut(&key) {
                slot.session.stall_snapshots += 1;
                let mut record = slot.session.snapshot(Some(Close::Open));
                slot.due = poll_due(&slot.session);
                self.name_from_dns(&mut record);
                push(out, now, ObservationKind::SessionUpdate(record));
            }
        }
        for (_, _, key, close) in ending {
            if let Some(slot) = self.take(&key) {
                let record = slot.session.into_record(Some(close));
                self.emit_ended(record, now, out);
            }
        }
        let mut lookups = Vec::new();
        self.dns.expire(now, &mut |l| lookups.push(l));
        for lookup in lookups {
            push(out, now, ObservationKind::DnsLookup(lookup));
        }
        self.stats.sessions_open = self.sessions.len() as u64;
        self.stats.dns_pending = self.dns.pending_count() as u64;
    }

    /// End of input: every session still open is reported with `close: open`.
    pub fn finish(&mut self, now: Timestamp, out: &mut Vec<Observation>) {
        let mut open: Vec<SessionRecord> = self
            .sessions
            .drain()
            .map(|(_, slot)| {
                let close = end_of_input_close(slot.session.lifecycle());
                slot.session.into_record(Some(close))
            })
            .collect();
        self.order.clear();
        self.per_client.clear();
        self.crowded.clear();
        open.sort_unstable_by_key(|r| (r.start, r.id));
        for record in open {
            self.emit_ended(record, now, out);
        }
        let mut lookups = Vec::new();
        self.dns.flush(&mut |l| lookups.push(l));
        for lookup in lookups {
            push(out, now, ObservationKind::DnsLookup(lookup));
        }
        self.stats.sessions_open = 0;
        self.stats.dns_pending = 0;
    }

    pub fn stats(&self) -> TrackerStats {
        let mut stats = self.stats;
        stats.buffer_bytes = self.budget.used() as u64;
        stats.buffer_refused = self.budget.refused();
        stats
    }
}

/// The earliest capture time at which one of `poll`'s timers could fire for `s` if no packet
/// comes before then: the least of the thresholds `poll` compares in the session's state
/// (`quiet` counts from the last packet, `waiting` from the first unanswered data), so
/// skipping the session before it changes nothing.
fn poll_due(s: &Session) -> Timestamp {
    let (limit, _) = quiet_limit(s.lifecycle());
    let mut due = s.last_packet.plus(limit);
    if let Some(waiting) = s.waiting_since() {
        due = due.min(waiting.plus(UNANSWERED_GIVE_UP));
        if let Some(next) = s.next_stall_snapshot() {
            due = due.min(waiting.plus(next));
        }
    }
    due
}

/// How long a session may stay quiet in `state` before `poll` reports it ended, and the
/// close it is reported with then.
fn quiet_limit(state: Lifecycle) -> (Duration, Close) {
    match state {
        Lifecycle::Closed { how } => (LAST_ACK_WAIT, how),
        Lifecycle::SynSent => (SYN_GIVE_UP, Close::Timeout),
        Lifecycle::HalfClosed => (HALF_CLOSED_IDLE, Close::Fin),
        Lifecycle::Open => (ESTABLISHED_IDLE, Close::Timeout),
    }
}

/// The close a session in `state` is reported with when the input ends.
fn end_of_input_close(state: Lifecycle) -> Close {
    match state {
        Lifecycle::Closed { how } => how,
        // A connection that never got past unanswered SYNs is not open: it failed.
        Lifecycle::SynSent => Close::Timeout,
        // One whose side sent FIN was being closed: the first FIN names the close.
        Lifecycle::HalfClosed => Close::Fin,
        Lifecycle::Open => Close::Open,
    }
}

fn push(out: &mut Vec<Observation>, time: Timestamp, kind: ObservationKind) {
    out.push(Observation { time, kind });
}

/// Decides client and server for a new session, and whether it is mail at all.
fn orient(
    src: SocketAddr,
    dst: SocketAddr,
    is_syn: bool,
) -> Option<(SocketAddr, SocketAddr, Protocol, TlsMode)> {
    if is_syn {
        let (protocol, tls) = Protocol::from_port(dst.port())?;
        return Some((src, dst, protocol, tls));
    }
    match (
        Protocol::from_port(src.port()),
        Protocol::from_port(dst.port()),
    ) {
        (None, Some((p, t))) => Some((src, dst, p, t)),
        (Some((p, t)), None) => Some((dst, src, p, t)),
        // Both are mail ports (server to server): the lower port is the service.
        (Some(a), Some(b)) => {
            if dst.port() <= src.port() {
                Some((src, dst, b.0, b.1))
            } else {
                Some((dst, src, a.0, a.1))
            }
        }
        (None, None) => None,
    }
}

#[cfg(test)]
mod tests;
