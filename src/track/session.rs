//! One TCP session to a mail port: timings, counters, close, and the protocol analyzers.

use std::net::SocketAddr;
use std::time::Duration;

use crate::observe::record::{
    AppDataShape, AuthOutcome, Close, Exchanges, Protocol, SessionRecord, Side, TlsMode,
};
use crate::time::Timestamp;
use crate::track::mail::{MailEvent, MailTrack};
use crate::track::stream::{seq_le, seq_lt, Stream};
use crate::track::tls::TlsTrack;
use crate::track::{STALL_AFTER, STALL_SNAPSHOTS};
use crate::wire::tcp::flags;
use crate::wire::TcpSegment;

/// Bytes per direction handed to the analyzers; after that only counters run (TLS record
/// headers are still walked for the application-data shape while delivery stays in order).
const ANALYZE_LIMIT: u64 = 16 * 1024;
/// Characters of a plaintext banner quoted in a record.
const MAX_BANNER_QUOTE: usize = 80;

/// A mail server's plaintext greeting (`* OK`, `+OK`, `220 `), not a TLS record (whose first
/// byte is a content type, 20-24).
fn plaintext_banner(payload: &[u8]) -> bool {
    [
        &b"* OK"[..],
        b"* BYE",
        b"+OK",
        b"-ERR",
        b"220",
        b"421",
        b"554",
    ]
    .iter()
    .any(|p| payload.starts_with(p))
}

/// The highest TLS version a ClientHello at the start of `payload` offers.
fn offered_max(payload: &[u8]) -> Option<crate::observe::record::TlsVersion> {
    use crate::wire::tls::{split_handshake, split_record, ClientHello};
    let (_, fragment, _) = split_record(payload).ok()?;
    let (kind, body, _) = split_handshake(fragment).ok()?;
    (kind == 1).then_some(())?;
    let hello = ClientHello::parse(body).ok()?;
    hello
        .max_offered_version()
        .map(crate::observe::record::TlsVersion)
}

/// A TLS handshake record header (content type 22, version 3.x).
fn tls_handshake_record(payload: &[u8]) -> bool {
    matches!(payload, [22, 3, ..])
}

/// A client reset this soon after its own FIN closes a connection the client dropped.
const FIN_THEN_RESET: Duration = Duration::from_secs(1);

/// Where a connection is in its life, as far as the tracker's timers are concerned.
/// [`Session::advance`] is the one place it moves; `poll`, `poll_due` and `finish` read
/// nothing else to decide when and how a session ends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Lifecycle {
    /// The client's SYNs, none answered: a connection attempt (a FIN beside them does not
    /// change that).
    SynSent,
    /// The server answered the SYN, or the session was picked up mid-stream; nobody has
    /// closed.
    Open,
    /// One side sent FIN, the other has not closed.
    HalfClosed,
    /// RST, or FIN both ways: only stragglers (the last ACK, a RST after FIN) are still to
    /// come. `how` is the first FIN or RST's (`Fin` or `Rst`).
    Closed { how: Close },
}

impl Lifecycle {
    /// The close the segments so far tell: `Open` until the connection is closed.
    fn close(self) -> Close {
        match self {
            Lifecycle::Closed { how } => how,
            _ => Close::Open,
        }
    }
}

/// What reads the session's bytes.
#[derive(Debug)]
enum Analyzer {
    Tls(Box<TlsTrack>),
    Mail(Box<MailTrack>),
}

/// The live state of one session.
#[derive(Debug)]
pub struct Session {
    /// The record so far; its `close` is the lifecycle's, filled in by [`Session::snapshot`].
    pub record: SessionRecord,
    client: Stream,
    server: Stream,
    analyzer: Analyzer,
    syn_at: Option<Timestamp>,
    syn_ack_at: Option<Timestamp>,
    established_at: Option<Timestamp>,
    /// The client's last data since the server last sent data: a server's delay runs from
    /// the end of the request it answers (a body sent line by line, or a client pausing
    /// before it finishes a command, is the client's time, not the server's).
    awaiting_reply: Option<Timestamp>,
    /// Requests and replies after the TLS handshake, and when the client last sent one.
    exchanges: Exchanges,
    last_request_at: Option<Timestamp>,
    /// When the server last sent data.
    server_data_at: Option<Timestamp>,
    /// The highest acknowledgment the client sent (of the server's bytes).
    client_acked: Option<u32>,
    /// [`Self::server_data_missing`] when the client closed (`record.client_closed_at`): what
    /// the server sends after that is not waited for.
    missing_at_client_close: Option<Timestamp>,
    /// Client data the server has not acknowledged: since when, and up to which sequence.
    unacked: Option<(Timestamp, u32)>,
    /// The unacknowledged client data is the FIN alone (no payload waits with it).
    unacked_is_fin_only: bool,
    /// The sequence number the client's FIN took.
    client_fin_seq: Option<u32>,
    /// Each side has sent a FIN. Kept apart from the lifecycle: a FIN after a RST, or beside
    /// unanswered SYNs, still makes a later copy a retransmit and ends the client's requests.
    client_fin: bool,
    server_fin: bool,
    lifecycle: Lifecycle,
    pub last_packet: Timestamp,
    /// Stall snapshots sent for the current unanswered data (or SYN).
    pub stall_snapshots: u8,
    client_analyzed: u64,
    server_analyzed: u64,
}

impl Session {
    pub fn new(
        id: u64,
        client: SocketAddr,
        server: SocketAddr,
        protocol: Protocol,
        tls: TlsMode,
        now: Timestamp,
    ) -> Self {
        let analyzer = match tls {
            TlsMode::Implicit => Analyzer::Tls(Box::default()),
            _ => Analyzer::Mail(Box::new(MailTrack::new(protocol))),
        };
        Session {
            record: SessionRecord {
                id,
                client,
                server,
                protocol,
                tls,
                server_name: None,
                start: now,
                end: now,
                syns_from_client: 0,
                tcp_connect: None,
                tls_handshake: None,
                tls_version: None,
                tls_client_max: None,
                tls_alert: None,
                app: AppDataShape::default(),
                greeting: None,
                slowest_reply: None,
                last_reply_at: None,
                bytes_from_client: 0,
                bytes_from_server: 0,
                packets_from_client: 0,
                packets_from_server: 0,
                retransmits_from_client: 0,
                retransmits_from_server: 0,
                unanswered_since: None,
                idle_before_unanswered: None,
                longest_stall: None,
                closed_by: None,
                server_data_missing: None,
                client_closed_at: None,
                close: Close::Open,
                auth: AuthOutcome::Unknown,
                auth_reply: None,
                login_required: false,
                tls_mismatch: None,
                client_waiting_at_close: None,
                server_side_unseen: false,
            },
            client: Stream::delivering(),
            server: Stream::delivering(),
            analyzer,
            syn_at: None,
            syn_ack_at: None,
            established_at: None,
            awaiting_reply: None,
            exchanges: Exchanges::default(),
            last_request_at: None,
            server_data_at: None,
            client_acked: None,
            missing_at_client_close: None,
            unacked: None,
            unacked_is_fin_only: false,
            client_fin_seq: None,
            client_fin: false,
            server_fin: false,
            // Moved by the first segment, which always follows.
            lifecycle: Lifecycle::Open,
            last_packet: now,
            stall_snapshots: 0,
            client_analyzed: 0,
            server_analyzed: 0,
        }
    }

    /// Takes one segment travelling from `side`.
    pub fn on_segment(&mut self, side: Side, seg: &TcpSegment<'_>, now: Timestamp) {
        let idle_before = now.saturating_since(self.last_packet);
        self.last_packet = now;
        self.record.end = self.record.end.max(now);
        let len = seg.payload.len() as u64;
        match side {
            Side::Client => {
                self.record.packets_from_client += 1;
                self.record.bytes_from_client += len;
            }
            Side::Server => {
                self.record.packets_from_server += 1;
                self.record.bytes_from_server += len;
            }
        }
        self.handshake(side, seg, now);
        if side == Side::Client && seg.has(flags::ACK) {
            match self.client_acked {
                Some(acked) if seq_le(seg.ack, acked) => {}
                _ => self.client_acked = Some(seg.ack),
            }
        }
        if side == Side::Server && seg.has(flags::ACK) {
            if let Some((since, high)) = self.unacked {
                if seq_le(high, seg.ack) || self.crossed_client_fin(seg, high) {
                    let waited = now.saturating_since(since);
                    // A FIN alone waiting is a goodbye, not a transfer.
                    let data = !self.unacked_is_fin_only;
                    if data && self.record.longest_stall.is_none_or(|(_, w)| waited > w) {
                        self.record.longest_stall = Some((since, waited));
                    }
                    self.unacked = None;
                    self.stall_snapshots = 0;
                }
            }
        }
        // Data in flight when a server resets is simply not acknowledged yet; data that had
        // waited a stall's length was not getting through, and a reset when the path returns
        // (the server had forgotten the connection) does not undo that silence.
        if side == Side::Server && seg.has(flags::RST) {
            let silent = self
                .unacked
                .is_some_and(|(since, _)| now.saturating_since(since) >= STALL_AFTER);
            if !silent {
                self.unacked = None;
            }
        }
        if side == Side::Client && seg.has(flags::RST) {
            self.client_reset_after_fin(now);
        }
        if !seg.payload.is_empty() {
            self.data(side, seg, now, idle_before);
        }
        if side == Side::Client && seg.has(flags::FIN) && !seg.has(flags::RST) {
            self.client_fin_sent(seg, now, idle_before);
        }
        if side == Side::Client && seg.has(flags::FIN | flags::RST) {
            self.client_closed(now);
        }
        self.advance(side, seg);
    }

    /// A server segment that acknowledges all the client's data but not its FIN, when only the
    /// FIN is outstanding: sent before the FIN arrived, it crossed it. The server is alive and
    /// the path carries its packets, which is all the FIN's wait is there to find out.
    fn crossed_client_fin(&self, seg: &TcpSegment<'_>, unacked_high: u32) -> bool {
        self.client_fin_seq
            .is_some_and(|fin| seg.ack == fin && unacked_high == fin.wrapping_add(1))
    }

    /// A client's FIN waits for the server's ACK like data does (it takes a sequence number).
    /// A goodbye the server never acknowledges, after a quiet gap, is the LAN-side sign of a
    /// firewall that forgot the session (LIVE-FINDINGS F7). Once the server has closed too,
    /// the FIN is the orderly end and waits for nothing.
    fn client_fin_sent(&mut self, seg: &TcpSegment<'_>, now: Timestamp, idle_before: Duration) {
        if self.server_fin {
            return;
        }
        let fin_end = seg
            .seq
            .wrapping_add(seg.payload.len() as u32)
            .wrapping_add(1);
        if self.client_fin && seg.payload.is_empty() {
            self.record.retransmits_from_client += 1;
        }
        self.client_fin_seq = Some(fin_end.wrapping_sub(1));
        match &mut self.unacked {
            Some((_, high)) => {
                if seq_le(*high, fin_end) {
                    *high = fin_end;
                }
            }
            None => {
                self.unacked = Some((now, fin_end));
                self.unacked_is_fin_only = seg.payload.is_empty();
                if seg.payload.is_empty() {
                    self.record.idle_before_unanswered = Some(idle_before);
                }
            }
        }
    }

    /// A client that resets right after its FIN, with nothing but the FIN unacknowledged,
    /// dropped the connection itself (unread data in its buffer): no ACK will come for the FIN,
    /// and none is missing. A reset long after the FIN is a client giving up on a silent path.
    fn client_reset_after_fin(&mut self, now: Timestamp) {
        if let (Some((since, high)), Some(fin)) = (self.unacked, self.client_fin_seq) {
            let only_fin = high == fin.wrapping_add(1) && self.unacked_is_fin_only;
            if only_fin && now.saturating_since(since) < FIN_THEN_RESET {
                self.unacked = None;
            }
        }
    }

    fn handshake(&mut self, side: Side, seg: &TcpSegment<'_>, now: Timestamp) {
        let syn = seg.has(flags::SYN);
        let ack = seg.has(flags::ACK);
        match (side, syn, ack) {
            (Side::Client, true, false) => {
                self.record.syns_from_client += 1;
                self.syn_at.get_or_insert(now);
                self.client.on_syn(seg.seq);
                if self.record.syns_from_client > 1 {
                    self.record.retransmits_from_client += 1;
                }
            }
            (Side::Server, true, true) => {
                if self.syn_ack_at.is_none() {
                    self.syn_ack_at = Some(now);
                    if let Some(syn) = self.syn_at {
                        self.record.tcp_connect = Some(now.saturating_since(syn));
                    }
                } else {
                    self.record.retransmits_from_server += 1;
                }
                self.server.on_syn(seg.seq);
            }
            (Side::Client, false, true)
                if self.established_at.is_none() && self.syn_ack_at.is_some() =>
            {
                self.established_at = Some(now);
            }
            _ => {}
        }
    }

    fn data(&mut self, side: Side, seg: &TcpSegment<'_>, now: Timestamp, idle_before: Duration) {
        self.note_tls_mismatch(side, seg.payload);
        let end = seg.seq.wrapping_add(seg.payload.len() as u32);
        match side {
            Side::Client => {
                self.awaiting_reply = Some(now);
                match &mut self.unacked {
                    Some((_, high)) => {
                        if seq_le(*high, end) {
                            *high = end;
                        }
                    }
                    None => {
                        self.unacked = Some((now, end));
                        self.unacked_is_fin_only = false;
                        self.record.idle_before_unanswered = Some(idle_before);
                    }
                }
            }
            Side::Server => {
                self.server_data_at = Some(now);
                if self.record.greeting.is_none() {
                    let since = self.established_at.or(self.syn_ack_at);
                    self.record.greeting = since.map(|t| now.saturating_since(t));
                }
                if let Some(asked) = self.awaiting_reply.take() {
                    let wait = now.saturating_since(asked);
                    if self.record.slowest_reply.is_none_or(|(w, _)| wait > w) {
                        self.record.slowest_reply = Some((wait, now));
                    }
                    self.record.last_reply_at = Some(now);
                }
            }
        }
        let (stream, analyzed) = match side {
            Side::Client => (&mut self.client, &mut self.client_analyzed),
            Side::Server => (&mut self.server, &mut self.server_analyzed),
        };
        let after_handshake = matches!(&self.analyzer, Analyzer::Tls(t) if t.done_at.is_some());
        let analyzer = &mut self.analyzer;
        let mut starttls = false;
        let accepted = stream.accept(seg.seq, seg.payload, |bytes| {
            *analyzed += bytes.len() as u64;
            match analyzer {
                Analyzer::Tls(tls) => tls.feed(side, now, bytes),
                Analyzer::Mail(mail) => {
                    if !starttls && mail.feed(side, bytes) == MailEvent::StartTls {
                        starttls = true;
                    }
                }
            }
        });
        if accepted.retransmit {
            match side {
                Side::Client => self.record.retransmits_from_client += 1,
                Side::Server => self.record.retransmits_from_server += 1,
            }
        } else if after_handshake {
            self.note_exchange(side, seg.payload.len(), now);
        }
        if starttls {
            self.start_tls();
        }
        self.maybe_stop_delivery(side);
    }

    /// The first bytes each side sends say which language it speaks: a plaintext banner where
    /// TLS was expected, or a TLS handshake where plaintext was.
    fn note_tls_mismatch(&mut self, side: Side, payload: &[u8]) {
        let first = match side {
            Side::Client => self.record.bytes_from_client == payload.len() as u64,
            Side::Server => self.record.bytes_from_server == payload.len() as u64,
        };
        if !first || self.record.tls_mismatch.is_some() {
            return;
        }
        match (side, self.record.tls) {
            (Side::Server, TlsMode::Implicit) if plaintext_banner(payload) => {
                let line = payload.split(|b| *b == b'\n').next().unwrap_or_default();
                let line = line.strip_suffix(b"\r").unwrap_or(line);
                let quoted: String = line
                    .iter()
                    .take(MAX_BANNER_QUOTE)
                    .map(|&b| {
                        if b.is_ascii_graphic() || b == b' ' {
                            b as char
                        } else {
                            '?'
                        }
                    })
                    .collect();
                self.record.tls_mismatch = Some(format!(
                    "the server answered the TLS ClientHello in plaintext: {}",
                    quoted.trim()
                ));
            }
            (Side::Client, TlsMode::None) if tls_handshake_record(payload) => {
                // What the client offered, read off its first record (a ClientHello split
                // over segments is not reassembled here: the mismatch is the point).
                self.record.tls_client_max = offered_max(payload);
                self.record.tls_mismatch = Some(
                    "the client opened TLS (a ClientHello) on a port where the server speaks plaintext first"
                        .into(),
                );
            }
            _ => {}
        }
    }

    /// Counts a segment of application data towards the request or the reply it belongs to.
    fn note_exchange(&mut self, side: Side, len: usize, now: Timestamp) {
        match side {
            // After the server's FIN nothing can answer: what the client still sends is its
            // goodbye (a TLS 1.3 close_notify is an application-data record), not a request.
            Side::Client if self.server_fin => {}
            Side::Client => {
                self.exchanges.client_data(len);
                self.last_request_at = Some(now);
            }
            Side::Server => {
                if let Some(asked) = self.last_request_at {
                    self.exchanges.server_data(len, now.saturating_since(asked));
                }
            }
        }
    }

    fn start_tls(&mut self) {
        if let Analyzer::Mail(mail) = &mut self.analyzer {
            mail.forget_cleartext_refusal();
            self.record.auth = mail.auth;
            self.record.auth_reply = mail.auth_reply.clone();
            self.record.login_required = mail.login_required;
        }
        self.record.tls = TlsMode::Starttls;
        self.analyzer = Analyzer::Tls(Box::default());
    }

    /// Stops the bounded reassembly once the analyzers cannot use more bytes.
    fn maybe_stop_delivery(&mut self, side: Side) {
        let (stream, analyzed) = match side {
            Side::Client => (&mut self.client, self.client_analyzed),
            Side::Server => (&mut self.server, self.server_analyzed),
        };
        let stop = match &self.analyzer {
            // Record headers stay cheap to walk; stop only when the walk is lost.
            Analyzer::Tls(tls) => tls.is_broken(side),
            Analyzer::Mail(_) => analyzed >= ANALYZE_LIMIT,
        };
        if stop {
            stream.stop_delivery();
        }
    }

    /// The time of the server's last data if the client has not acknowledged all of it.
    fn server_data_missing(&self) -> Option<Timestamp> {
        match (self.client_acked, self.server.high()) {
            (Some(acked), Some(high)) if seq_lt(acked, high) => self.server_data_at,
            _ => None,
        }
    }

    /// The client's FIN or RST: what it was still waiting for is noted once, at its first.
    fn client_closed(&mut self, now: Timestamp) {
        if self.record.client_closed_at.is_none() {
            self.record.client_closed_at = Some(now);
            self.missing_at_client_close = self.server_data_missing();
            self.record.client_waiting_at_close = self.awaiting_reply;
        }
        // Whatever the server sends after this answers nobody: a slow login reply that
        // arrives after the client gave up is not a reply the client got (LIVE-FINDINGS F5).
        self.awaiting_reply = None;
    }

    /// Moves the lifecycle on after a segment (its SYN or SYN-ACK already noted by
    /// [`Self::handshake`]). The first FIN or RST names the close: a RST after an orderly FIN
    /// (a client dropping unread data on close) does not turn the close into a reset, and
    /// nothing reopens a closed connection.
    fn advance(&mut self, side: Side, seg: &TcpSegment<'_>) {
        let rst = seg.has(flags::RST);
        let fin = seg.has(flags::FIN) && !rst;
        if rst || fin {
            self.record.closed_by.get_or_insert(side);
        }
        if fin {
            match side {
                Side::Client => self.client_fin = true,
                Side::Server => self.server_fin = true,
            }
        }
        let any_fin = self.client_fin || self.server_fin;
        self.lifecycle = match self.lifecycle {
            closed @ Lifecycle::Closed { .. } => closed,
            _ if rst && any_fin => Lifecycle::Closed { how: Close::Fin },
            _ if rst => Lifecycle::Closed { how: Close::Rst },
            _ if self.client_fin && self.server_fin => Lifecycle::Closed { how: Close::Fin },
            _ if self.syn_unanswered() => Lifecycle::SynSent,
            _ if any_fin => Lifecycle::HalfClosed,
            _ => Lifecycle::Open,
        };
    }

    pub fn lifecycle(&self) -> Lifecycle {
        self.lifecycle
    }

    /// The client's SYNs got no answer. Unlike [`Lifecycle::SynSent`] this stays true after a
    /// RST: the session is still an attempt nobody answered.
    pub fn syn_unanswered(&self) -> bool {
        self.syn_at.is_some() && self.syn_ack_at.is_none()
    }

    /// How long the current wait must have lasted for the next stall snapshot, if another is
    /// due: [`STALL_AFTER`], then each time the wait has doubled, so a verdict given early is
    /// looked at again as the world around it changes (the WAN going down a moment after the
    /// data was sent). Unanswered SYNs get one: the attempt ends at `SYN_GIVE_UP` anyway.
    pub fn next_stall_snapshot(&self) -> Option<Duration> {
        let most = if self.syn_unanswered() {
            1
        } else {
            STALL_SNAPSHOTS
        };
        (self.stall_snapshots < most).then(|| STALL_AFTER * (1u32 << self.stall_snapshots))
    }

    /// Since when client data (or the SYN) waits for the server.
    pub fn waiting_since(&self) -> Option<Timestamp> {
        if self.syn_unanswered() {
            return self.syn_at;
        }
        self.unacked.map(|(t, _)| t)
    }

    /// One side sent FIN, the other has not.
    fn half_closed(&self) -> bool {
        self.client_fin != self.server_fin
    }

    /// The record as [`Session::snapshot`] gives it, for a session that ends here: the
    /// analyzers' strings (SNI, the login reply) are moved, not copied.
    pub fn into_record(mut self, close: Option<Close>) -> SessionRecord {
        let (sni, auth_reply) = match &mut self.analyzer {
            Analyzer::Tls(tls) => (tls.sni.take(), None),
            Analyzer::Mail(mail) => (None, mail.auth_reply.take()),
        };
        let mut record = self.snapshot(close);
        if sni.is_some() {
            record.server_name = sni;
        }
        if matches!(self.analyzer, Analyzer::Mail(_)) {
            record.auth_reply = auth_reply;
        }
        record
    }

    /// The record as of now, with `close` set by the caller's reason (an `Open` reason does
    /// not reopen a closed session).
    pub fn snapshot(&self, close: Option<Close>) -> SessionRecord {
        let mut record = self.record.clone();
        record.close = self.lifecycle.close();
        if let Some(close) = close {
            if record.close == Close::Open || close != Close::Open {
                record.close = close;
            }
        }
        if self.half_closed() && record.close == Close::Timeout {
            record.close = Close::Fin;
        }
        match &self.analyzer {
            Analyzer::Tls(tls) => {
                record.server_name = tls.sni.clone().or(record.server_name);
                record.tls_handshake = tls.handshake_time;
                record.tls_version = tls.version;
                record.tls_client_max = tls.client_max;
                record.tls_alert = tls.alert;
                record.app = AppDataShape {
                    client_records: tls.client_records,
                    server_records: tls.server_records,
                    client_bytes: tls.client_bytes,
                    server_bytes: tls.server_bytes,
                    handshake_done_at: tls.done_at,
                    server_stopped_mid_record: self.server_data_at.filter(|_| {
                        tls.record_incomplete(Side::Server) && self.server.all_delivered()
                    }),
                    exchanges: self.exchanges,
                    incomplete: self.client.is_lost()
                        || self.server.is_lost()
                        || tls.is_broken(Side::Client)
                        || tls.is_broken(Side::Server),
                };
            }
            Analyzer::Mail(mail) => {
                record.auth = mail.auth;
                record.auth_reply = mail.auth_reply.clone();
                record.login_required = mail.login_required;
            }
        }
        record.server_data_missing = if record.client_closed_at.is_some() {
            self.missing_at_client_close
        } else {
            self.server_data_missing()
        };
        // A client acknowledges only what it received: its ACKs with nothing seen from the
        // server mean the capture misses that direction, not that the server was silent.
        record.server_side_unseen = record.packets_from_server == 0
            && self.established_at.is_none()
            && self.client_acked.is_some();
        if record.server_side_unseen {
            record.unanswered_since = None;
            record.idle_before_unanswered = None;
        } else if let Some(since) = self.waiting_since() {
            record.unanswered_since = Some(since);
            if self.syn_unanswered() {
                record.idle_before_unanswered = None;
            }
        } else {
            record.idle_before_unanswered = None;
        }
        record
    }
}
